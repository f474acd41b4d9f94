// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ExtensionBase} from "./ExtensionBase.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {
    Account, Job, JobState, Provider, ProviderStatus, Record, Reputation, Requirements, Revealed, Trail
} from "../libraries/Types.sol";

/// @title Fees and rewards
/// @notice Protocol fees sent to the treasury epoch by epoch (less the rebate), slash credits
/// withdrawn, and rewards: `rebateBps` of each epoch's fees, paid back in the payment token to the
/// providers paid in it, in proportion to their pay.
abstract contract Rewards is ExtensionBase, IGridmintExtension {
    using SafeERC20 for IERC20;

    /// @inheritdoc IGridmintExtension
    function collectFees(uint256 epochs) external viaMarket {
        uint256 from = _feesCollectedThrough;
        uint256 to = _currentEpoch();
        if (from + epochs < to) to = from + epochs;
        if (to <= from) revert NothingToWithdraw();
        uint256 amount;
        for (uint256 e = from; e < to; ++e) {
            amount += _treasuryShare(e);
        }
        _feesCollectedThrough = to;
        _totalBalances -= uint96(amount);
        emit FeesCollected(_treasury, from, to, amount);
        if (amount != 0) _paymentToken.safeTransfer(_treasury, amount);
    }

    /// @inheritdoc IGridmintExtension
    function uncollectedFees() external view returns (uint256 amount) {
        for (uint256 e = _feesCollectedThrough; e <= _currentEpoch(); ++e) {
            amount += _treasuryShare(e);
        }
    }

    /// @dev The treasury's part of `epoch`'s fees: the rest (the reward pool) stays for the
    /// providers' rewards (`claimRewards`).
    function _treasuryShare(uint256 epoch) internal view returns (uint256) {
        uint256 fees = _epochTotals[epoch].fees;
        return fees - (fees * _rebateBps) / BPS;
    }

    /// @inheritdoc IGridmintExtension
    function withdrawStakeCredit() external viaMarket {
        uint256 amount = _stakeCredit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _stakeCredit[msg.sender] = 0;
        _totalStakeCredit -= amount;
        emit StakeTokenWithdrawn(msg.sender, amount);
        IERC20(address(_stakeToken)).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IGridmintExtension
    function claimRewards() external viaMarket {
        Account storage a = _accounts[msg.sender];
        _settleRewards(msg.sender, a);
        Record storage rec = _records[msg.sender];
        uint256 amount = rec.rewards;
        if (amount == 0) revert NothingToWithdraw();
        rec.rewards = 0;
        address to = _payoutOf(msg.sender);
        _totalBalances -= uint96(amount);
        emit RewardsClaimed(msg.sender, to, amount);
        _paymentToken.safeTransfer(to, amount);
    }

    /// @inheritdoc IGridmintExtension
    function currentEpoch() external view returns (uint256) {
        return _currentEpoch();
    }

    /// @inheritdoc IGridmintExtension
    function rewardPool(uint256 epoch) external view returns (uint256) {
        return _rewardPool(epoch);
    }

    /// @inheritdoc IGridmintExtension
    function epochPaid(uint256 epoch) external view returns (uint256) {
        return _epochTotals[epoch].paid;
    }

    /// @inheritdoc IGridmintExtension
    function epochFees(uint256 epoch) external view returns (uint256) {
        return _epochTotals[epoch].fees;
    }

    /// @inheritdoc IGridmintExtension
    function epochRewards(uint256 epoch) external view returns (uint256) {
        return _epochRewards[epoch];
    }

    /// @inheritdoc IGridmintExtension
    function stakeCredit(address account) external view returns (uint256) {
        return _stakeCredit[account];
    }
}
