// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ExtensionBase} from "./ExtensionBase.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {
    Account, Job, JobState, Provider, ProviderStatus, Record, Reputation, Requirements, Revealed, Trail
} from "../libraries/Types.sol";

/// @title Dispute resolution
/// @notice The arbiter settles a disputed job, or anyone refunds one the arbiter left past its deadline.
abstract contract Disputes is ExtensionBase, IGridmintExtension {
    using SafeERC20 for IERC20;

    /// @inheritdoc IGridmintExtension
    function resolveDispute(uint256 jobId, bytes32 resultRoot, Trail calldata t) external viaMarket {
        if (msg.sender != _arbiter) revert NotArbiter(msg.sender);
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        _verify(jobId, j, t);
        Revealed[] memory reveals = t.reveals;
        uint64 workUnits;
        for (uint256 i; i < reveals.length; ++i) {
            if (reveals[i].resultRoot == resultRoot) {
                workUnits = reveals[i].workUnits;
                break;
            }
        }
        emit DisputeResolved(jobId, resultRoot);
        _settle(jobId, j, t, reveals, resultRoot, workUnits);
        j.state = JobState.Resolved;
    }

    /// @inheritdoc IGridmintExtension
    function expireDispute(uint256 jobId, Trail calldata t) external viaMarket {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        if (block.timestamp <= _disputeDeadline[jobId]) revert DisputeOpen(jobId);
        _verify(jobId, j, t);
        _slashNoShows(jobId, j, t, t.reveals);
        _refundAll(jobId, j, t);
    }

    /// @inheritdoc IGridmintExtension
    function disputeDeadline(uint256 jobId) external view returns (uint40) {
        return _disputeDeadline[jobId];
    }
}
