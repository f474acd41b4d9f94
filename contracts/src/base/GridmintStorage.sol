// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {GridToken} from "../tokens/GridToken.sol";
import {IGridmintErrors, IGridmintEvents} from "../interfaces/IGridmint.sol";
import {Account, Dispute, EpochTotals, Job, Provider, Record} from "../libraries/Types.sol";

/// @title GridmintStorage
/// @notice The market's parameters and state, shared by the two contracts that run at its
/// address: `Gridmint` (the hot path) and `GridmintExtension` (the cold paths, delegated to).
/// Both inherit this and nothing else with state, so their storage layouts are one; both are
/// constructed from the same `Config` in one transaction, so their immutables agree.
abstract contract GridmintStorage is IGridmintEvents, IGridmintErrors {
    /// @notice Deployment parameters.
    struct Config {
        IERC20 paymentToken;
        address treasury;
        address arbiter;
        address initialStakeHolder; // receives the protocol token's initial supply
        uint256 initialStakeSupply;
        uint256 minStakePerUnit; // protocol token per compute unit claimed
        uint32 unstakeCooldown; // seconds
        uint32 payoutDelay; // seconds before a new payout address takes effect
        uint32 disputeWindow; // seconds the arbiter has to resolve a dispute
        uint16 feeBps; // protocol fee on paid work
        uint16 slashBps; // share of stake slashed per offence
        uint16 buyerSlashShareBps; // share of a dissenter's slash that goes to the job's buyer (none
        // of a missed deadline's: a buyer can cause that, so it must not profit from it)
        uint32 epochLength; // seconds
        uint16 rebateBps; // share of each epoch's fees returned as rewards to the providers paid in it,
        // in proportion to their pay; below 100%, so a fee paid to oneself never comes back whole
        uint32 minStepWindow; // seconds the chain needs to take one transaction with margin: a job's
        // commit and reveal windows are each at least (replicas + 1) of these
        uint32 checkWindow; // seconds after the reveal deadline the buyer keeps to check and challenge
        uint16 challengeBondBps; // the buyer's bond to challenge, in basis points of the job's escrow
    }

    uint256 internal constant BPS = 10_000;
    uint256 internal constant _MAX_REPLICAS = 15;
    uint256 internal constant _MAX_CLAIMANTS = 32;

    IERC20 internal immutable _paymentToken;
    GridToken internal immutable _stakeToken;
    address internal immutable _treasury;
    address internal immutable _arbiter;
    uint256 internal immutable _minStakePerUnit;
    uint32 internal immutable _unstakeCooldown;
    uint32 internal immutable _payoutDelay;
    uint32 internal immutable _disputeWindow;
    uint16 internal immutable _feeBps;
    uint16 internal immutable _slashBps;
    uint16 internal immutable _buyerSlashShareBps;
    uint32 internal immutable _epochLength;
    uint256 internal immutable _genesis;
    uint16 internal immutable _rebateBps;
    uint32 internal immutable _minStepWindow;
    uint32 internal immutable _checkWindow;
    uint16 internal immutable _challengeBondBps;

    mapping(address => Provider) internal _providers;
    mapping(address => bytes32) internal _deviceModelOf;
    mapping(address => Account) internal _accounts;
    mapping(address => Record) internal _records;
    mapping(address => address) internal _payout;
    mapping(address => address) internal _pendingPayout;
    mapping(address => uint256) internal _pendingPayoutAt;
    /// @dev Protocol-token credit from slashes (buyers, treasury), withdrawable.
    mapping(address => uint256) internal _stakeCredit;

    /// @dev Jobs posted so far, and the payment-token totals the invariants check against the
    /// token balance: one slot, written once by a post and once by a settlement. Posting keeps
    /// escrow + balances within 96 bits, so a settlement (which moves escrow into balances)
    /// cannot overflow.
    uint64 internal _jobCount;
    uint96 internal _totalEscrow; // payment token held for open jobs
    uint96 internal _totalBalances; // payment token owed: account balances and uncollected fees
    /// @dev Epochs [0, _feesCollectedThrough) have had their protocol fees sent to the treasury.
    /// Fees stay in their epoch's totals until then: a settlement writes no treasury balance.
    uint256 internal _feesCollectedThrough;

    mapping(uint256 => Job) internal _jobs;
    /// @dev A job's trail hash while it runs; once it settles by agreement or by the arbiter, the
    /// result root it paid for.
    mapping(uint256 => bytes32) internal _trails;
    mapping(uint256 => Dispute) internal _disputes;

    /// @dev Payment and fees per epoch, the basis of rewards.
    mapping(uint256 => EpochTotals) internal _epochTotals;
    /// @dev Payment token settled as rewards per epoch (≤ its reward pool).
    mapping(uint256 => uint256) internal _epochRewards;

    /// @dev Accounting totals (what the invariants check against token balances).
    uint256 internal _totalStake; // protocol token staked
    uint256 internal _totalStakeCredit; // protocol token owed from slashes

    constructor(Config memory c, GridToken stakeToken_, uint256 genesis_) {
        if (address(c.paymentToken) == address(0) || c.treasury == address(0) || c.arbiter == address(0)) {
            revert ZeroAddress();
        }
        if (c.feeBps > 2_000) revert InvalidParameter("feeBps");
        if (c.slashBps == 0 || c.slashBps > BPS) revert InvalidParameter("slashBps");
        if (c.buyerSlashShareBps > BPS) revert InvalidParameter("buyerSlashShareBps");
        if (c.epochLength == 0) revert InvalidParameter("epochs");
        // Rewards come out of the fees, below 100% of them: wash trading cannot pay.
        if (c.rebateBps >= BPS) revert InvalidParameter("rebateBps");
        if (c.minStepWindow == 0) revert InvalidParameter("minStepWindow");
        // The buyer needs at least a step after the reveal deadline to challenge late reveals.
        if (c.checkWindow < c.minStepWindow) revert InvalidParameter("checkWindow");
        if (c.challengeBondBps == 0 || c.challengeBondBps > BPS) revert InvalidParameter("challengeBondBps");
        _paymentToken = c.paymentToken;
        _stakeToken = stakeToken_;
        _treasury = c.treasury;
        _arbiter = c.arbiter;
        _minStakePerUnit = c.minStakePerUnit;
        _unstakeCooldown = c.unstakeCooldown;
        _payoutDelay = c.payoutDelay;
        _disputeWindow = c.disputeWindow;
        _feeBps = c.feeBps;
        _slashBps = c.slashBps;
        _buyerSlashShareBps = c.buyerSlashShareBps;
        _epochLength = c.epochLength;
        _genesis = genesis_;
        _rebateBps = c.rebateBps;
        _minStepWindow = c.minStepWindow;
        _checkWindow = c.checkWindow;
        _challengeBondBps = c.challengeBondBps;
    }
}
