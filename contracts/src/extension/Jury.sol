// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ExtensionBase} from "./ExtensionBase.sol";
import {Dispute, DisputePhase, Job, JobState, Provider, Record} from "../libraries/Types.sol";

/// @title Jury
/// @notice The jury's side of a dispute: claiming duty, committing and revealing votes, and the
/// court's views. The court (`GridmintCourt`) draws the jury and decides; these calls touch no
/// money, so they live here, where there is room.
abstract contract Jury is ExtensionBase {
    /// @notice See `IGridmintCourt`.
    function claimJuryDuty(uint256 jobId) external viaMarket returns (uint256 index) {
        Dispute storage g = _move(jobId, DisputePhase.JuryClaims);
        index = g.jury.claims;
        if (index >= _MAX_JURY_CLAIMS) revert TooManyClaimants(jobId);
        Provider storage p = _providers[msg.sender];
        // The buyer is refused here; the job's claimants may claim but are never drawn (`drawJury`).
        if (!_inStanding(p) || msg.sender == _jobs[jobId].buyer) revert NotEligible(jobId, msg.sender);
        // One claim per provider and game (the game's claim deadline tells games apart): one
        // address cannot fill the claim slots.
        Record storage rec = _records[msg.sender];
        uint32 mark = uint32(uint256(keccak256(abi.encode(jobId, g.deadline))));
        if (rec.juryMark == mark) revert NotEligible(jobId, msg.sender);
        rec.juryMark = mark;
        // Its stake stays until the game ends: a juror cannot vote and leave before the verdict.
        p.activeJobs += 1;
        uint128 weight = p.stake;
        g.jury.claimsHash = keccak256(abi.encode(g.jury.claimsHash, msg.sender, weight));
        g.jury.claims = uint8(index + 1);
        emit JuryDutyClaimed(jobId, msg.sender, index, weight);
    }

    /// @notice See `IGridmintCourt`.
    function commitVote(uint256 jobId, uint256 seat, bytes32 commitment) external viaMarket {
        Dispute storage g = _move(jobId, DisputePhase.JuryVote);
        if (seat >= g.jury.seats || _jurors[jobId][seat] != msg.sender) revert NotJuror(jobId, seat);
        if (_votes[jobId][seat] != bytes32(0) || commitment == bytes32(0)) revert VoteMismatch(jobId, seat);
        _votes[jobId][seat] = commitment;
        emit VoteCommitted(jobId, seat, msg.sender);
    }

    /// @notice See `IGridmintCourt`.
    function voteDigest(uint256 jobId, uint256 seat, bytes32 output, bytes32 salt, address juror)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode("gridmint.vote", jobId, seat, output, salt, juror));
    }

    /// @notice See `IGridmintCourt`.
    function revealVote(uint256 jobId, uint256 seat, bytes32 output, bytes32 salt) external viaMarket {
        Dispute storage g = _disputes[jobId];
        if (g.phase != DisputePhase.JuryVote) revert WrongPhase(jobId, g.phase);
        // Votes are revealed after the commit deadline, within one move window more.
        if (block.timestamp <= g.deadline) revert DisputeOpen(jobId);
        if (block.timestamp > uint256(g.deadline) + _moveWindow) revert MoveTooLate(jobId);
        if (seat >= g.jury.seats || _jurors[jobId][seat] != msg.sender) revert NotJuror(jobId, seat);
        bytes32 committed = _votes[jobId][seat];
        if (
            committed == bytes32(0) || (g.jury.revealedSeats >> seat) & 1 == 1
                || voteDigest(jobId, seat, output, salt, msg.sender) != committed
        ) revert VoteMismatch(jobId, seat);
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
    function disputeOf(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    /// @notice See `IGridmintCourt`.
    function jurorOf(uint256 jobId, uint256 seat) external view returns (address) {
        return _jurors[jobId][seat];
    }
}
