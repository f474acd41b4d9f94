// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ExtensionBase} from "./ExtensionBase.sol";
import {GridToken} from "../tokens/GridToken.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {
    Account, Job, JobState, Provider, ProviderStatus, Record, Reputation, Requirements, Revealed, Trail
} from "../libraries/Types.sol";

/// @title Jobs, accounts, totals and parameters
/// @notice What clients and the invariants read: a job's slot and trail hash, an account, the agreed root, the accounting totals, and the deployment parameters.
abstract contract Views is ExtensionBase, IGridmintExtension {
    using SafeERC20 for IERC20;

    /// @inheritdoc IGridmintExtension
    function jobOf(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @inheritdoc IGridmintExtension
    function trailOf(uint256 jobId) external view returns (bytes32) {
        return _trails[jobId];
    }

    /// @inheritdoc IGridmintExtension
    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @inheritdoc IGridmintExtension
    function agreedRoot(uint256 jobId) external view returns (bytes32) {
        JobState state = _jobs[jobId].state;
        return state == JobState.Finalized || state == JobState.Resolved ? _trails[jobId] : bytes32(0);
    }

    /// @inheritdoc IGridmintExtension
    function commitmentOf(bytes32 resultRoot, uint64 workUnits, bytes32 salt, address provider)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(resultRoot, workUnits, salt, provider));
    }

    /// @inheritdoc IGridmintExtension
    function jobCount() external view returns (uint64) {
        return _jobCount;
    }

    /// @inheritdoc IGridmintExtension
    function totalEscrow() external view returns (uint96) {
        return _totalEscrow;
    }

    /// @inheritdoc IGridmintExtension
    function totalBalances() external view returns (uint96) {
        return _totalBalances;
    }

    /// @inheritdoc IGridmintExtension
    function feesCollectedThrough() external view returns (uint256) {
        return _feesCollectedThrough;
    }

    /// @inheritdoc IGridmintExtension
    function totalStake() external view returns (uint256) {
        return _totalStake;
    }

    /// @inheritdoc IGridmintExtension
    function totalStakeCredit() external view returns (uint256) {
        return _totalStakeCredit;
    }

    /// @inheritdoc IGridmintExtension
    function MAX_REPLICAS() external pure returns (uint256) {
        return _MAX_REPLICAS;
    }

    /// @inheritdoc IGridmintExtension
    function MAX_CLAIMANTS() external pure returns (uint256) {
        return _MAX_CLAIMANTS;
    }

    /// @inheritdoc IGridmintExtension
    function paymentToken() external view returns (IERC20) {
        return _paymentToken;
    }

    /// @inheritdoc IGridmintExtension
    function stakeToken() external view returns (GridToken) {
        return _stakeToken;
    }

    /// @inheritdoc IGridmintExtension
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IGridmintExtension
    function court() external view returns (address) {
        return _court;
    }

    /// @inheritdoc IGridmintExtension
    function minStakePerUnit() external view returns (uint256) {
        return _minStakePerUnit;
    }

    /// @inheritdoc IGridmintExtension
    function unstakeCooldown() external view returns (uint32) {
        return _unstakeCooldown;
    }

    /// @inheritdoc IGridmintExtension
    function payoutDelay() external view returns (uint32) {
        return _payoutDelay;
    }

    /// @inheritdoc IGridmintExtension
    function moveWindow() external view returns (uint32) {
        return _moveWindow;
    }

    /// @inheritdoc IGridmintExtension
    function levelsPerMove() external view returns (uint8) {
        return _levelsPerMove;
    }

    /// @inheritdoc IGridmintExtension
    function jurySize() external view returns (uint8) {
        return _jurySize;
    }

    /// @inheritdoc IGridmintExtension
    function jurorShareBps() external view returns (uint16) {
        return _jurorShareBps;
    }

    /// @inheritdoc IGridmintExtension
    function jurorSlashBps() external view returns (uint16) {
        return _jurorSlashBps;
    }

    /// @inheritdoc IGridmintExtension
    function verifiedMatching() external view returns (bool) {
        return _verifiedMatching;
    }

    /// @inheritdoc IGridmintExtension
    function feeBps() external view returns (uint16) {
        return _feeBps;
    }

    /// @inheritdoc IGridmintExtension
    function slashBps() external view returns (uint16) {
        return _slashBps;
    }

    /// @inheritdoc IGridmintExtension
    function buyerSlashShareBps() external view returns (uint16) {
        return _buyerSlashShareBps;
    }

    /// @inheritdoc IGridmintExtension
    function epochLength() external view returns (uint32) {
        return _epochLength;
    }

    /// @inheritdoc IGridmintExtension
    function genesis() external view returns (uint256) {
        return _genesis;
    }

    /// @inheritdoc IGridmintExtension
    function rebateBps() external view returns (uint16) {
        return _rebateBps;
    }

    /// @inheritdoc IGridmintExtension
    function minStepWindow() external view returns (uint32) {
        return _minStepWindow;
    }

    /// @inheritdoc IGridmintExtension
    function checkWindow() external view returns (uint32) {
        return _checkWindow;
    }

    /// @inheritdoc IGridmintExtension
    function challengeBondBps() external view returns (uint16) {
        return _challengeBondBps;
    }

    /// @inheritdoc IGridmintExtension
    function challengeBondOf(uint256 jobId, Trail calldata t) external view returns (uint256) {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        _verify(jobId, j, t);
        return _challengeBond(j, t);
    }
}
