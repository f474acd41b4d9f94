// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ExtensionBase} from "./ExtensionBase.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {Job, JobState, Trail} from "../libraries/Types.sol";

/// @title A replica's way out
/// @notice A selected replica that finds it cannot run its job leaves it before committing,
/// without being slashed as a cheater.
abstract contract Replicas is ExtensionBase, IGridmintExtension {
    /// @inheritdoc IGridmintExtension
    function leaveJob(uint256 jobId, uint256 index, Trail calldata t) external viaMarket {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        _verify(jobId, j, t);
        if (index >= t.claimants.length || (j.selected >> index) & 1 == 0) revert NotSelected(jobId, index);
        if (t.claimants[index] != msg.sender) revert NotYourReplica(jobId, index);
        if (block.timestamp > t.terms.commitDeadline) revert CommitWindowClosed(jobId);
        if (_commitmentOf(t, index) != bytes32(0)) revert AlreadyCommitted(jobId, index);
        j.selected &= ~uint32(1 << index);
        _records[msg.sender].left += 1;
        emit ReplicaLeft(jobId, msg.sender, index);
        if (j.selected == 0) _refundAll(jobId, j, t);
    }
}
