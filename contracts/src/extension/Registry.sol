// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ExtensionBase} from "./ExtensionBase.sol";
import {IGridmintExtension} from "../interfaces/IGridmint.sol";
import {
    Account, Job, JobState, Provider, ProviderStatus, Record, Reputation, Requirements, Revealed, Trail
} from "../libraries/Types.sol";

/// @title The provider registry and stake
/// @notice Registering a node with its hardware record and stake, adding and withdrawing stake, the payout address and its delay, and what the registry tells of a provider.
abstract contract Registry is ExtensionBase, IGridmintExtension {
    using SafeERC20 for IERC20;

    /// @inheritdoc IGridmintExtension
    function register(
        bytes32 deviceModelHash,
        uint32 memoryMiB,
        uint32 computeUnits,
        uint16 region,
        uint8 classes,
        uint96 stake,
        address payout
    ) external viaMarket {
        if (_providers[msg.sender].status != ProviderStatus.None) revert AlreadyRegistered(msg.sender);
        if (deviceModelHash == bytes32(0) || memoryMiB == 0 || computeUnits == 0 || classes == 0) {
            revert InvalidHardware();
        }
        if (region > 31) revert InvalidRegion(region);
        uint256 required = _minStakePerUnit * computeUnits;
        Provider memory before = _providers[msg.sender];
        if (stake < required || stake == 0) revert StakeTooLow(stake, required);
        _providers[msg.sender] = Provider({
            stake: stake,
            computeUnits: computeUnits,
            memoryMiB: memoryMiB,
            region: uint8(region),
            classes: classes,
            status: ProviderStatus.Active,
            activeJobs: 0,
            lastJobOrUnstakeAt: 0,
            agreed: before.agreed, // a returning provider keeps its record
            slashes: before.slashes
        });
        // A returning provider is not in the jury pool: its old entry must not carry a new stake.
        if (_records[msg.sender].jurySince != 0) _records[msg.sender].jurySince = 0;
        _deviceModelOf[msg.sender] = deviceModelHash;
        _payout[msg.sender] = payout == address(0) ? msg.sender : payout;
        _totalStake += stake;
        emit ProviderRegistered(msg.sender, deviceModelHash, memoryMiB, computeUnits, region, classes, stake);
        IERC20(address(_stakeToken)).safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @inheritdoc IGridmintExtension
    function addStake(uint96 amount) external viaMarket {
        Provider storage p = _providers[msg.sender];
        if (!_active(p.status)) revert NotRegistered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        p.stake += amount;
        _totalStake += amount;
        // A member's new weight counts from the next block on, like a new member's: stake added
        // after a draw's seed is known must not enter that draw.
        Record storage r = _records[msg.sender];
        if (r.jurySince != 0) r.jurySince = uint32(block.number);
        emit StakeAdded(msg.sender, amount, p.stake);
        IERC20(address(_stakeToken)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IGridmintExtension
    function announcePeer(bytes32 peer) external viaMarket {
        if (_providers[msg.sender].status == ProviderStatus.None) revert NotRegistered(msg.sender);
        if (peer == bytes32(0)) revert InvalidPeer();
        emit PeerAnnounced(msg.sender, peer);
    }

    /// @inheritdoc IGridmintExtension
    function setRegion(uint16 region) external viaMarket {
        Provider storage p = _providers[msg.sender];
        if (p.status == ProviderStatus.None) revert NotRegistered(msg.sender);
        if (region > 31) revert InvalidRegion(region);
        // Claims are checked against the region when their job's replicas are drawn: moving
        // under open claims would have them slashed as unfit.
        if (p.activeJobs != 0) revert HasActiveJobs(p.activeJobs);
        p.region = uint8(region);
        emit RegionChanged(msg.sender, region);
    }

    /// @inheritdoc IGridmintExtension
    function requestUnstake() external viaMarket {
        Provider storage p = _providers[msg.sender];
        if (!_active(p.status)) revert NotRegistered(msg.sender);
        p.status = ProviderStatus.Unstaking;
        p.lastJobOrUnstakeAt = uint32(block.timestamp + _unstakeCooldown);
        emit UnstakeRequested(msg.sender, p.lastJobOrUnstakeAt);
    }

    /// @inheritdoc IGridmintExtension
    function withdrawStake() external viaMarket {
        Provider memory p = _providers[msg.sender];
        if (p.status != ProviderStatus.Unstaking) revert NotUnstaking(msg.sender);
        if (block.timestamp < p.lastJobOrUnstakeAt) revert CooldownActive(p.lastJobOrUnstakeAt);
        if (p.activeJobs != 0) revert HasActiveJobs(p.activeJobs);
        _providers[msg.sender] = Provider({
            stake: 0,
            computeUnits: 0,
            memoryMiB: 0,
            region: 0,
            classes: 0,
            status: ProviderStatus.None,
            activeJobs: 0,
            lastJobOrUnstakeAt: 0,
            agreed: p.agreed,
            slashes: p.slashes
        });
        _totalStake -= p.stake;
        emit StakeWithdrawn(msg.sender, p.stake);
        if (p.stake != 0) IERC20(address(_stakeToken)).safeTransfer(msg.sender, p.stake);
    }

    /// @inheritdoc IGridmintExtension
    function requestPayoutChange(address payout) external viaMarket {
        if (_providers[msg.sender].status == ProviderStatus.None) revert NotRegistered(msg.sender);
        if (payout == address(0)) revert ZeroAddress();
        _pendingPayout[msg.sender] = payout;
        _pendingPayoutAt[msg.sender] = block.timestamp + _payoutDelay;
        emit PayoutChangeRequested(msg.sender, payout, block.timestamp + _payoutDelay);
    }

    /// @inheritdoc IGridmintExtension
    function applyPayoutChange(address provider) external viaMarket {
        address next = _pendingPayout[provider];
        if (next == address(0)) revert NoPendingPayout(provider);
        uint256 effectiveAt = _pendingPayoutAt[provider];
        if (block.timestamp < effectiveAt) revert PayoutNotYetEffective(effectiveAt);
        _payout[provider] = next;
        delete _pendingPayout[provider];
        delete _pendingPayoutAt[provider];
        emit PayoutChanged(provider, next);
    }

    /// @inheritdoc IGridmintExtension
    function providerOf(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @inheritdoc IGridmintExtension
    function payoutOf(address account) external view returns (address) {
        return _payoutOf(account);
    }

    /// @inheritdoc IGridmintExtension
    function reputationOf(address provider) public view returns (Reputation memory) {
        Record memory r = _records[provider];
        uint32 agreed = _providers[provider].agreed;
        return Reputation({
            completed: agreed, agreed: agreed, slashed: r.slashed, missed: r.missed, rewards: r.rewards, left: r.left
        });
    }

    /// @inheritdoc IGridmintExtension
    function reputationScore(address provider) public view returns (uint256) {
        Reputation memory r = reputationOf(provider);
        uint256 graded = uint256(r.agreed) + 4 * uint256(r.slashed) + 2 * uint256(r.missed) + uint256(r.left);
        return graded == 0 ? 0 : (uint256(r.agreed) * BPS) / graded;
    }

    /// @inheritdoc IGridmintExtension
    function claimWeightOf(address provider) external view returns (uint128) {
        return _claimWeight(_providers[provider]);
    }

    /// @inheritdoc IGridmintExtension
    function isEligible(address provider, Requirements memory req) external view returns (bool) {
        return _isEligible(provider, req);
    }

    /// @inheritdoc IGridmintExtension
    function deviceModelOf(address provider) external view returns (bytes32) {
        return _deviceModelOf[provider];
    }

    /// @inheritdoc IGridmintExtension
    function pendingPayout(address provider) external view returns (address) {
        return _pendingPayout[provider];
    }

    /// @inheritdoc IGridmintExtension
    function pendingPayoutAt(address provider) external view returns (uint256) {
        return _pendingPayoutAt[provider];
    }
}
