// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ExtensionBase} from "./ExtensionBase.sol";
import {JuryTicket} from "../libraries/JuryTicket.sol";
import {Dispute, DisputePhase, JurySeat, Provider, Record} from "../libraries/Types.sol";

/// @title Jury
/// @notice The jury's side of a dispute: the jury pool, taking a seat with a committed vote,
/// revealing it, and the court's views. The court (`GridmintCourt`) decides; these calls touch
/// no money, so they live here, where there is room.
/// @dev Each seat is a race of its own (`JuryTicket`), among the pool's members, seeded by the
/// game's seed (the hash of the block its leaf was opened in, or a reseed's). A member's ticket
/// for seat `s` is `E / stake` with `E = -ln(u)`, `u` uniform from the hash of the seed, `s` and
/// its address: `E` is exponential, so the member with the lowest ticket for a seat is one drawn
/// with probability proportional to stake, and every seat is such a draw, independent of the
/// others (with replacement: a member may hold several seats, one vote each). Splitting a stake
/// over many addresses changes nothing, for any seat (the least of exponentials of rates `w_i` is
/// one of rate `Σ w_i`): a member's expected share of the seats is its share of the stake that
/// comes. Only members that joined (or last added stake) before the seed's block take part, so
/// nobody who knows the seed can enter the race or raise its weight in it. A member takes a seat
/// by committing a vote for it: a free seat, or one held by a worse ticket for that seat (the
/// holder is released). Who does not come is not waited for; a flood of members with little
/// stake holds a seat only with a ticket that beats those of the others that come for it.
abstract contract Jury is ExtensionBase {
    /// @notice See `IGridmintCourt`.
    function joinJuryPool() external viaMarket {
        Provider storage p = _providers[msg.sender];
        if (!_active(p.status)) revert NotRegistered(msg.sender);
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
    function commitVote(uint256 jobId, uint256 seat, bytes32 commitment, address[] calldata parties)
        external
        viaMarket
        returns (bool seated)
    {
        Dispute storage g = _move(jobId, DisputePhase.JuryVote);
        if (commitment == bytes32(0)) revert VoteMismatch(jobId, seat);
        if (seat >= _jurySize) revert NotJuror(jobId, seat);
        uint256 seed = g.jury.seed;
        if (seed == 0) {
            uint256 seedBlock = g.jury.seedBlock;
            if (block.number <= seedBlock) revert JuryNotSeeded(jobId);
            seed = uint256(blockhash(seedBlock));
            if (seed == 0) {
                // Nobody took a seat within 256 blocks of the leaf: the next block seeds the draw.
                g.jury.seedBlock = uint32(block.number);
                emit JuryReseeded(jobId, block.number);
                return false;
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
        uint64 ticket = JuryTicket.draw(seed, seat, juror, p.stake);
        JurySeat storage held = _jurors[jobId][seat];
        address holder = held.juror;
        if (holder == address(0)) {
            g.jury.takenSeats |= uint16(1 << seat);
        } else {
            if (holder == juror) revert VoteMismatch(jobId, seat);
            if (ticket >= held.ticket) revert TicketTooLow(jobId, ticket, held.ticket);
            _providers[holder].activeJobs -= 1;
            emit JurorUnseated(jobId, seat, holder);
        }
        held.juror = juror;
        held.ticket = ticket;
        _votes[jobId][seat] = commitment;
        // Its stake stays until the game ends: a juror cannot vote and leave before the verdict.
        p.activeJobs += 1;
        emit VoteCommitted(jobId, seat, juror, ticket);
        return true;
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
        if (seat >= _jurySize || _jurors[jobId][seat].juror != msg.sender) revert NotJuror(jobId, seat);
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
    function juryTicketsOf(uint256 jobId, address juror) external view returns (uint64[] memory tickets, bool eligible) {
        tickets = new uint64[](_jurySize);
        Dispute storage g = _disputes[jobId];
        if (g.phase != DisputePhase.JuryVote) return (tickets, false);
        uint256 seed = g.jury.seed;
        if (seed == 0 && block.number > g.jury.seedBlock) seed = uint64(uint256(blockhash(g.jury.seedBlock))) | 1;
        if (seed == 0 || seed == 1) return (tickets, false);
        Provider memory p = _providers[juror];
        uint256 since = _records[juror].jurySince;
        // A device check's party is its provider (the case id carries its address), a job's its buyer
        // (its claimants are parties too: `commitVote` refuses them by the parties it is given).
        address party = jobId & _CHECK_CASE != 0 ? address(uint160(jobId)) : _jobs[jobId].buyer;
        eligible = juror != party && _inStanding(p) && since != 0 && since < g.jury.seedBlock;
        for (uint256 s; s < tickets.length; ++s) {
            tickets[s] = JuryTicket.draw(seed, s, juror, p.stake);
        }
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
    function juryOf(uint256 jobId) external view returns (JurySeat[] memory seats) {
        seats = new JurySeat[](_jurySize);
        for (uint256 s; s < seats.length; ++s) {
            seats[s] = _jurors[jobId][s];
        }
    }
}
