// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ExtensionBase} from "./ExtensionBase.sol";
import {JuryTicket} from "../libraries/JuryTicket.sol";
import {Dispute, DisputePhase, JurySeat, Provider, ProviderStatus, Record} from "../libraries/Types.sol";

/// @title Jury
/// @notice The jury's side of a dispute: the jury pool, taking a seat with a committed vote,
/// revealing it, and the court's views. The court (`GridmintCourt`) decides; these calls touch
/// no money, so they live here, where there is room.
/// @dev The draw is a race of tickets (`JuryTicket`), one per pool member and game. A member's ticket is
/// `E / stake` with `E = -ln(u)`, `u` uniform from the hash of the game's seed (the hash of the
/// block its leaf was opened in, or a reseed's) and the member's address: `E` is exponential, so
/// the member with the lowest ticket is one drawn with probability proportional to stake, the
/// `jurySize` lowest a draw without replacement, and splitting a stake over many addresses does
/// not change how often they win the first seat (the least of exponentials of rates `w_i` is one
/// of rate `Σ w_i`); an address holds one seat, so a split stake can win more of the later ones.
/// Only members that joined (or last added stake) before the seed's block take part, so nobody
/// who knows the seed can enter the race or raise its weight in it. Seats go to members that
/// commit a vote: while the jury is not full any eligible member takes a seat; once it is, a
/// better ticket takes the worst seat. Who does not come is not waited for; a flood of members
/// with little stake holds seats only with tickets that beat those of the others that come.
abstract contract Jury is ExtensionBase {
    /// @notice See `IGridmintCourt`.
    function joinJuryPool() external viaMarket {
        Provider storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Active) revert NotRegistered(msg.sender);
        _records[msg.sender].jurySince = uint32(block.number);
        emit JuryPoolJoined(msg.sender, p.stake);
    }

    /// @notice See `IGridmintCourt`.
    function leaveJuryPool() external viaMarket {
        Record storage r = _records[msg.sender];
        if (r.jurySince == 0) revert NotRegistered(msg.sender);
        r.jurySince = 0;
        emit JuryPoolLeft(msg.sender);
    }

    /// @notice See `IGridmintCourt`.
    function commitVote(uint256 jobId, bytes32 commitment, address[] calldata parties)
        external
        viaMarket
        returns (uint256 seat)
    {
        Dispute storage g = _move(jobId, DisputePhase.JuryVote);
        if (commitment == bytes32(0)) revert VoteMismatch(jobId, 0);
        uint256 seed = g.jury.seed;
        if (seed == 0) {
            uint256 seedBlock = g.jury.seedBlock;
            if (block.number <= seedBlock) revert JuryNotSeeded(jobId);
            seed = uint256(blockhash(seedBlock));
            if (seed == 0) {
                // Nobody took a seat within 256 blocks of the leaf: the next block seeds the draw.
                g.jury.seedBlock = uint32(block.number);
                emit JuryReseeded(jobId, block.number);
                return type(uint256).max;
            }
            seed = uint64(seed) | 1;
            g.jury.seed = uint64(seed);
        }
        address juror = msg.sender;
        if (uint80(uint256(keccak256(abi.encode(parties)))) != g.jury.parties) revert JuryMismatch(jobId);
        for (uint256 i; i < parties.length; ++i) {
            if (parties[i] == juror) revert NotEligible(jobId, juror);
        }
        Provider storage p = _providers[juror];
        uint256 since = _records[juror].jurySince;
        if (!_inStanding(p) || since == 0 || since >= g.jury.seedBlock) revert NotEligible(jobId, juror);
        uint64 ticket = JuryTicket.draw(seed, juror, p.stake);
        uint256 seats = g.jury.seats;
        uint24 bloom = g.jury.seatedBloom;
        uint24 mine = _bloomBits(juror);
        // The seats are read only to find a repeated juror (its bits are set) or the worst seat
        // of a full jury.
        bool full = seats >= _jurySize;
        if (full || bloom & mine == mine) {
            uint256 worst;
            uint64 worstTicket;
            for (uint256 s; s < seats; ++s) {
                JurySeat memory taken = _jurors[jobId][s];
                if (taken.juror == juror) revert VoteMismatch(jobId, s);
                if (taken.ticket > worstTicket) (worst, worstTicket) = (s, taken.ticket);
            }
            if (full) {
                if (ticket >= worstTicket) revert TicketTooLow(jobId, ticket, worstTicket);
                seat = worst;
                address out = _jurors[jobId][seat].juror;
                _providers[out].activeJobs -= 1;
                emit JurorUnseated(jobId, seat, out);
            }
        }
        if (!full) {
            seat = seats;
            g.jury.seats = uint8(seats + 1);
        }
        g.jury.seatedBloom = bloom | mine;
        _jurors[jobId][seat] = JurySeat({juror: juror, ticket: ticket});
        _votes[jobId][seat] = commitment;
        // Its stake stays until the game ends: a juror cannot vote and leave before the verdict.
        p.activeJobs += 1;
        emit VoteCommitted(jobId, seat, juror, ticket);
    }

    /// @dev Three of the 24 bits of `JuryState.seatedBloom`, from the juror's address.
    function _bloomBits(address juror) internal pure returns (uint24) {
        uint256 h = uint160(juror);
        return uint24((1 << (h % 24)) | (1 << ((h >> 8) % 24)) | (1 << ((h >> 16) % 24)));
    }

    /// @notice See `IGridmintCourt`.
    function voteDigest(uint256 jobId, bytes32 output, bytes32 salt, address juror) public pure returns (bytes32) {
        return keccak256(abi.encode("gridmint.vote", jobId, output, salt, juror));
    }

    /// @notice See `IGridmintCourt`.
    function revealVote(uint256 jobId, uint256 seat, bytes32 output, bytes32 salt) external viaMarket {
        Dispute storage g = _disputes[jobId];
        if (g.phase != DisputePhase.JuryVote) revert WrongPhase(jobId, g.phase);
        // Votes are revealed after the commit deadline, within one move window more.
        if (block.timestamp <= g.deadline) revert DisputeOpen(jobId);
        if (block.timestamp > uint256(g.deadline) + _moveWindow) revert MoveTooLate(jobId);
        if (seat >= g.jury.seats || _jurors[jobId][seat].juror != msg.sender) revert NotJuror(jobId, seat);
        bytes32 committed = _votes[jobId][seat];
        if (committed == bytes32(0) || voteDigest(jobId, output, salt, msg.sender) != committed) {
            revert VoteMismatch(jobId, seat);
        }
        delete _votes[jobId][seat]; // revealed: the commitment is spent
        bool agrees = output == g.node;
        g.jury.revealedSeats |= uint16(1 << seat);
        if (agrees) {
            g.jury.votedFor |= uint16(1 << seat);
            g.jury.votesFor += 1;
        } else {
            g.jury.votesAgainst += 1;
        }
        emit VoteRevealed(jobId, seat, msg.sender, output, agrees);
    }

    /// @notice See `IGridmintCourt`.
    function juryTicketOf(uint256 jobId, address juror) external view returns (uint64 ticket, bool eligible) {
        Dispute storage g = _disputes[jobId];
        if (g.phase != DisputePhase.JuryVote) return (0, false);
        uint256 seed = g.jury.seed;
        if (seed == 0 && block.number > g.jury.seedBlock) seed = uint64(uint256(blockhash(g.jury.seedBlock))) | 1;
        if (seed == 0 || seed == 1) return (0, false);
        Provider memory p = _providers[juror];
        uint256 since = _records[juror].jurySince;
        eligible = juror != _jobs[jobId].buyer && _inStanding(p) && since != 0 && since < g.jury.seedBlock;
        ticket = JuryTicket.draw(seed, juror, p.stake);
    }

    /// @notice See `IGridmintCourt`.
    function jurySinceOf(address provider) external view returns (uint256) {
        return _records[provider].jurySince;
    }

    /// @notice See `IGridmintCourt`.
    function disputeOf(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    /// @notice See `IGridmintCourt`.
    function jurorOf(uint256 jobId, uint256 seat) external view returns (address) {
        return _jurors[jobId][seat].juror;
    }
}
