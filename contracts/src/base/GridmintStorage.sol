// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {GridToken} from "../tokens/GridToken.sol";
import {IGridmintErrors, IGridmintEvents} from "../interfaces/IGridmint.sol";
import {Account, DeviceCheck, Dispute, EpochTotals, Job, JurySeat, Provider, Record} from "../libraries/Types.sol";

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
        address court; // the dispute court (`GridmintCourt`), deployed first from this config with
        // `court` zero; the market checks it was (see `Gridmint`'s constructor)
        uint256 genesis; // start of epoch 0 (a timestamp, not in the future)
        address initialStakeHolder; // receives the protocol token's initial supply
        uint256 initialStakeSupply;
        uint256 minStakePerUnit; // protocol token per compute unit claimed
        uint32 unstakeCooldown; // seconds
        uint32 payoutDelay; // seconds before a new payout address takes effect
        uint32 moveWindow; // seconds each move of a dispute's game may take (a bisection round, the
        // leaf, the jury's commitments, its reveals); past it the side that had to move loses, or anyone moves it on
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
        uint16 challengeBondBps; // the bond to challenge (buyer or dissenting replica), in basis points of the job's escrow
        uint8 levelsPerMove; // levels of a trace tree one move of a dispute descends (1: bisection;
        // 3: the node's 8 parts three levels down, a third of the rounds)
        uint8 jurySize; // jurors that re-run a disputed step (odd; fewer when fewer take a seat)
        uint16 jurorShareBps; // share of a game's loss (the loser's slash or bond) paid to the jurors
        // who voted with the majority
        uint16 jurorSlashBps; // share of its stake a seated juror loses for not revealing or voting
        // against the majority
        bool verifiedMatching; // a job that asks for memory, compute or the fused class fits only
        // providers a device check verified (a network with a jury pool to judge the checks; a
        // one-machine local network has none and matches on the declared figures)
    }

    uint256 internal constant BPS = 10_000;
    uint256 internal constant _MAX_REPLICAS = 15;
    uint256 internal constant _MAX_CLAIMANTS = 32;
    uint256 internal constant _MAX_SEATS = 15; // jury seats per game
    uint8 internal constant _BUYER = 255; // `Dispute.challenger` when the buyer challenges
    uint8 internal constant _NEXT = 254; // start a game against the next claim left
    uint256 internal constant _MAX_TRACE_STEPS = 1 << 24;
    /// @dev A device check's jury sits in `_disputes` under the provider's address with this bit
    /// set: job ids are below 2^64, so the two never meet.
    uint256 internal constant _CHECK_CASE = 1 << 255;
    /// @dev A verified provider is checked again at a random time 0.5 to 1.5 of this after its pass.
    uint256 internal constant _CHECK_INTERVAL = 1 days;

    IERC20 internal immutable _paymentToken;
    GridToken internal immutable _stakeToken;
    address internal immutable _treasury;
    address internal immutable _court;
    uint256 internal immutable _minStakePerUnit;
    uint32 internal immutable _unstakeCooldown;
    uint32 internal immutable _payoutDelay;
    uint32 internal immutable _moveWindow;
    uint16 internal immutable _feeBps;
    uint16 internal immutable _slashBps;
    uint16 internal immutable _buyerSlashShareBps;
    uint32 internal immutable _epochLength;
    uint256 internal immutable _genesis;
    uint16 internal immutable _rebateBps;
    uint32 internal immutable _minStepWindow;
    uint32 internal immutable _checkWindow;
    uint16 internal immutable _challengeBondBps;
    uint8 internal immutable _levelsPerMove;
    uint8 internal immutable _jurySize;
    uint16 internal immutable _jurorShareBps;
    uint16 internal immutable _jurorSlashBps;
    bool internal immutable _verifiedMatching;

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
    /// @dev A job's trail hash while it runs; once it settles by agreement or by the court, the
    /// result root it paid for.
    mapping(uint256 => bytes32) internal _trails;
    mapping(uint256 => Dispute) internal _disputes;
    /// @dev A disputed job's jury: seat => the juror and its ticket, and seat => its committed vote.
    mapping(uint256 => mapping(uint256 => JurySeat)) internal _jurors;
    mapping(uint256 => mapping(uint256 => bytes32)) internal _votes;

    /// @dev Payment and fees per epoch, the basis of rewards.
    mapping(uint256 => EpochTotals) internal _epochTotals;
    /// @dev Payment token settled as rewards per epoch (≤ its reward pool).
    mapping(uint256 => uint256) internal _epochRewards;

    /// @dev Accounting totals (what the invariants check against token balances).
    uint256 internal _totalStake; // protocol token staked
    uint256 internal _totalStakeCredit; // protocol token owed from slashes

    /// @dev Each provider's device check.
    mapping(address => DeviceCheck) internal _deviceChecks;

    constructor(Config memory c, GridToken stakeToken_) {
        if (address(c.paymentToken) == address(0) || c.treasury == address(0)) revert ZeroAddress();
        if (c.genesis == 0 || c.genesis > block.timestamp) revert InvalidParameter("genesis");
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
        if (c.moveWindow < c.minStepWindow) revert InvalidParameter("moveWindow");
        if (c.levelsPerMove == 0 || c.levelsPerMove > 4) revert InvalidParameter("levelsPerMove");
        if (c.jurySize == 0 || c.jurySize > _MAX_SEATS || c.jurySize % 2 == 0) revert InvalidParameter("jurySize");
        if (c.jurorShareBps > BPS) revert InvalidParameter("jurorShareBps");
        if (c.jurorSlashBps > BPS) revert InvalidParameter("jurorSlashBps");
        _paymentToken = c.paymentToken;
        _stakeToken = stakeToken_;
        _treasury = c.treasury;
        _court = c.court;
        _minStakePerUnit = c.minStakePerUnit;
        _unstakeCooldown = c.unstakeCooldown;
        _payoutDelay = c.payoutDelay;
        _moveWindow = c.moveWindow;
        _feeBps = c.feeBps;
        _slashBps = c.slashBps;
        _buyerSlashShareBps = c.buyerSlashShareBps;
        _epochLength = c.epochLength;
        _genesis = c.genesis;
        _rebateBps = c.rebateBps;
        _minStepWindow = c.minStepWindow;
        _checkWindow = c.checkWindow;
        _challengeBondBps = c.challengeBondBps;
        _levelsPerMove = c.levelsPerMove;
        _jurySize = c.jurySize;
        _jurorShareBps = c.jurorShareBps;
        _jurorSlashBps = c.jurorSlashBps;
        _verifiedMatching = c.verifiedMatching;
    }

    /// @dev Runs the call in `target`'s code, in this storage, and returns or reverts with its
    /// answer: how the market reaches its extension and the extension the court. Calldata and
    /// the answer go past the free memory pointer (scratch the compiler leaves alone), not at
    /// offset 0: the block is then memory-safe as annotated, so the IR optimizer may keep
    /// `target` in memory without the copy overwriting it.
    function _delegate(address target) internal {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), target, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }
}
