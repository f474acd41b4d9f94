// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {GridToken} from "./tokens/GridToken.sol";
import "./libraries/Errors.sol";
import {Events} from "./libraries/Events.sol";
import {
    Account,
    Committed,
    EpochTotals,
    Job,
    JobParams,
    JobState,
    Provider,
    ProviderStatus,
    Record,
    Reputation,
    Requirements,
    Reveal,
    Revealed,
    SignedCommit,
    Terms,
    Trail
} from "./libraries/Types.sol";

/// @title Gridmint
/// @notice The settlement layer of the Gridmint compute market: a provider registry with stake,
/// a job market with escrow and commit-reveal redundant verification, slashing, reputation, and
/// protocol-token rewards capped by the fees real demand pays.
/// @dev One contract so that the hot path (claim, commit, reveal, finalize) never pays for an
/// external call. A job is one storage slot plus its trail hash; its terms, claimants,
/// commitments and reveals travel in calldata as a `Trail` checked against that hash (see
/// Types.sol), so a job with k replicas writes two new slots in its whole life. Every state has a deadline after which anyone can move it on; every payout is
/// pull-based. See test/invariant/README.md for the invariants and allowed transitions.
contract Gridmint {
    using SafeERC20 for IERC20;

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
        uint16 buyerSlashShareBps; // share of a slash that goes to the job's buyer
        uint32 epochLength; // seconds
        uint256 initialEpochCap; // protocol-token emission cap of epoch 0
        uint32 halvingEpochs; // the schedule cap halves every this many epochs
        uint256 rewardPerFee; // protocol-token base units emitted per payment-token unit of fee
    }

    uint256 internal constant BPS = 10_000;
    uint256 public constant MAX_REPLICAS = 15;
    uint256 public constant MAX_CLAIMANTS = 32;

    IERC20 public immutable paymentToken;
    GridToken public immutable stakeToken;
    address public immutable treasury;
    address public immutable arbiter;
    uint256 public immutable minStakePerUnit;
    uint32 public immutable unstakeCooldown;
    uint32 public immutable payoutDelay;
    uint32 public immutable disputeWindow;
    uint16 public immutable feeBps;
    uint16 public immutable slashBps;
    uint16 public immutable buyerSlashShareBps;
    uint32 public immutable epochLength;
    uint256 public immutable genesis;
    uint256 public immutable initialEpochCap;
    uint32 public immutable halvingEpochs;
    uint256 public immutable rewardPerFee;

    mapping(address => Provider) internal _providers;
    mapping(address => bytes32) public deviceModelOf;
    mapping(address => Account) internal _accounts;
    mapping(address => Record) internal _records;
    mapping(address => address) internal _payout;
    mapping(address => address) public pendingPayout;
    mapping(address => uint256) public pendingPayoutAt;
    /// @notice Protocol-token credit from slashes (buyers, treasury), withdrawable.
    mapping(address => uint256) public stakeCredit;

    /// @notice Jobs posted so far, and the payment-token totals the invariants check against the
    /// token balance: one slot, written once by a post and once by a settlement. Posting keeps
    /// escrow + balances within 96 bits, so a settlement (which moves escrow into balances)
    /// cannot overflow.
    uint64 public jobCount;
    uint96 public totalEscrow; // payment token held for open jobs
    uint96 public totalBalances; // payment token owed: account balances and uncollected fees
    /// @notice Epochs [0, feesCollectedThrough) have had their protocol fees sent to the treasury.
    /// Fees stay in their epoch's totals until then: a settlement writes no treasury balance.
    uint256 public feesCollectedThrough;

    mapping(uint256 => Job) internal _jobs;
    /// @dev A job's trail hash while it runs; once it settles by agreement or by the arbiter, the
    /// result root it paid for.
    mapping(uint256 => bytes32) internal _trails;
    mapping(uint256 => uint40) public disputeDeadline;

    /// @notice Payment and fees per epoch, the basis of rewards.
    mapping(uint256 => EpochTotals) internal _epochTotals;
    /// @notice Protocol tokens settled as rewards per epoch (≤ emissionCap).
    mapping(uint256 => uint256) public epochRewards;

    /// @notice Accounting totals (what the invariants check against token balances).
    uint256 public totalStake; // protocol token staked
    uint256 public totalStakeCredit; // protocol token owed from slashes

    constructor(Config memory c) {
        if (address(c.paymentToken) == address(0) || c.treasury == address(0) || c.arbiter == address(0)) {
            revert ZeroAddress();
        }
        if (c.feeBps > 2_000) revert InvalidParameter("feeBps");
        if (c.slashBps == 0 || c.slashBps > BPS) revert InvalidParameter("slashBps");
        if (c.buyerSlashShareBps > BPS) revert InvalidParameter("buyerSlashShareBps");
        if (c.epochLength == 0 || c.halvingEpochs == 0) revert InvalidParameter("epochs");
        paymentToken = c.paymentToken;
        stakeToken = new GridToken(c.initialStakeHolder, c.initialStakeSupply);
        treasury = c.treasury;
        arbiter = c.arbiter;
        minStakePerUnit = c.minStakePerUnit;
        unstakeCooldown = c.unstakeCooldown;
        payoutDelay = c.payoutDelay;
        disputeWindow = c.disputeWindow;
        feeBps = c.feeBps;
        slashBps = c.slashBps;
        buyerSlashShareBps = c.buyerSlashShareBps;
        epochLength = c.epochLength;
        genesis = block.timestamp;
        initialEpochCap = c.initialEpochCap;
        halvingEpochs = c.halvingEpochs;
        rewardPerFee = c.rewardPerFee;
    }

    // ============================================================================================
    // Provider registry
    // ============================================================================================

    /// @notice Registers the caller's node with a hardware record and a stake of at least
    /// `minStakePerUnit` per compute unit claimed. Pulls `stake` protocol tokens.
    /// @param classes bitmask of the workload classes the node runs.
    /// @param payout where earnings go (the caller if zero).
    function register(
        bytes32 deviceModelHash,
        uint32 memoryMiB,
        uint32 computeUnits,
        uint16 region,
        uint8 classes,
        uint96 stake,
        address payout
    ) external {
        if (_providers[msg.sender].status != ProviderStatus.None) revert AlreadyRegistered(msg.sender);
        if (deviceModelHash == bytes32(0) || memoryMiB == 0 || computeUnits == 0 || classes == 0) {
            revert InvalidHardware();
        }
        if (region > 31) revert InvalidRegion(region);
        uint256 required = minStakePerUnit * computeUnits;
        if (stake < required || stake == 0) revert StakeTooLow(stake, required);
        _providers[msg.sender] = Provider({
            stake: stake,
            computeUnits: computeUnits,
            memoryMiB: memoryMiB,
            region: uint8(region),
            classes: classes,
            status: ProviderStatus.Active,
            activeJobs: 0,
            unstakeAt: 0,
            agreed: _providers[msg.sender].agreed // a returning provider keeps its record
        });
        deviceModelOf[msg.sender] = deviceModelHash;
        _payout[msg.sender] = payout == address(0) ? msg.sender : payout;
        totalStake += stake;
        emit Events.ProviderRegistered(msg.sender, deviceModelHash, memoryMiB, computeUnits, region, classes, stake);
        IERC20(address(stakeToken)).safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Adds stake (also after a slash, to become eligible again).
    function addStake(uint96 amount) external {
        Provider storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Active) revert NotRegistered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        p.stake += amount;
        totalStake += amount;
        emit Events.StakeAdded(msg.sender, amount, p.stake);
        IERC20(address(stakeToken)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Starts the cool-down: no new claims; slashing still applies until withdrawal.
    function requestUnstake() external {
        Provider storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Active) revert NotRegistered(msg.sender);
        p.status = ProviderStatus.Unstaking;
        p.unstakeAt = uint32(block.timestamp + unstakeCooldown);
        emit Events.UnstakeRequested(msg.sender, p.unstakeAt);
    }

    /// @notice Withdraws the whole stake once the cool-down is over and no claimed job is open.
    function withdrawStake() external {
        Provider memory p = _providers[msg.sender];
        if (p.status != ProviderStatus.Unstaking) revert NotUnstaking(msg.sender);
        if (block.timestamp < p.unstakeAt) revert CooldownActive(p.unstakeAt);
        if (p.activeJobs != 0) revert HasActiveJobs(p.activeJobs);
        _providers[msg.sender] = Provider({
            stake: 0,
            computeUnits: 0,
            memoryMiB: 0,
            region: 0,
            classes: 0,
            status: ProviderStatus.None,
            activeJobs: 0,
            unstakeAt: 0,
            agreed: p.agreed
        });
        totalStake -= p.stake;
        emit Events.StakeWithdrawn(msg.sender, p.stake);
        if (p.stake != 0) IERC20(address(stakeToken)).safeTransfer(msg.sender, p.stake);
    }

    /// @notice Asks for a new payout address; it takes effect after `payoutDelay`.
    function requestPayoutChange(address payout) external {
        if (_providers[msg.sender].status == ProviderStatus.None) revert NotRegistered(msg.sender);
        if (payout == address(0)) revert ZeroAddress();
        pendingPayout[msg.sender] = payout;
        pendingPayoutAt[msg.sender] = block.timestamp + payoutDelay;
        emit Events.PayoutChangeRequested(msg.sender, payout, block.timestamp + payoutDelay);
    }

    /// @notice Applies a requested payout address after its delay. Anyone may call it.
    function applyPayoutChange(address provider) external {
        address next = pendingPayout[provider];
        if (next == address(0)) revert NoPendingPayout(provider);
        uint256 effectiveAt = pendingPayoutAt[provider];
        if (block.timestamp < effectiveAt) revert PayoutNotYetEffective(effectiveAt);
        _payout[provider] = next;
        delete pendingPayout[provider];
        delete pendingPayoutAt[provider];
        emit Events.PayoutChanged(provider, next);
    }

    function providerOf(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    function payoutOf(address account) public view returns (address) {
        address p = _payout[account];
        return p == address(0) ? account : p;
    }

    function reputationOf(address provider) public view returns (Reputation memory) {
        Record memory r = _records[provider];
        uint32 agreed = _providers[provider].agreed;
        return Reputation({completed: agreed, agreed: agreed, slashed: r.slashed, missed: r.missed, rewards: r.rewards});
    }

    /// @notice Reputation in basis points: agreements over all graded outcomes, where a slash
    /// weighs four and a missed deadline two. 0 without history.
    function reputationScore(address provider) public view returns (uint256) {
        Reputation memory r = reputationOf(provider);
        uint256 graded = uint256(r.agreed) + 4 * uint256(r.slashed) + 2 * uint256(r.missed);
        return graded == 0 ? 0 : (uint256(r.agreed) * BPS) / graded;
    }

    /// @notice Whether `provider` may claim a job with these requirements now.
    function isEligible(address provider, Requirements memory req) public view returns (bool) {
        Provider memory p = _providers[provider];
        return p.status == ProviderStatus.Active && p.stake >= minStakePerUnit * p.computeUnits
            && p.memoryMiB >= req.minMemoryMiB && p.computeUnits >= req.minComputeUnits
            && (req.regionMask == 0 || (req.regionMask >> p.region) & 1 == 1)
            && (p.classes >> req.workloadClass) & 1 == 1;
    }

    // ============================================================================================
    // Job market
    // ============================================================================================

    /// @notice Escrow a job needs: payment for k replicas at the maximum work, plus the fee.
    function escrowFor(uint96 pricePerUnit, uint64 maxWorkUnits, uint8 replicas)
        public
        view
        returns (uint256 payment, uint256 fee)
    {
        payment = uint256(pricePerUnit) * maxWorkUnits * replicas;
        fee = (payment * feeBps) / BPS;
    }

    /// @notice Posts a job and escrows its payment for `replicas` providers plus the fee.
    /// @return jobId the new job's id (ids start at 1).
    function postJob(JobParams calldata p) external returns (uint256 jobId) {
        if (p.replicas == 0 || p.replicas > MAX_REPLICAS) revert InvalidReplicas(p.replicas);
        if (p.pricePerUnit == 0) revert ZeroPrice();
        if (p.maxWorkUnits == 0) revert ZeroWorkUnits();
        if (p.requirements.workloadClass > 7) revert InvalidParameter("workloadClass");
        if (
            p.claimDeadline <= block.timestamp || p.commitDeadline <= p.claimDeadline
                || p.revealDeadline <= p.commitDeadline
        ) revert BadDeadlines();
        (uint256 payment, uint256 fee) = escrowFor(p.pricePerUnit, p.maxWorkUnits, p.replicas);
        uint256 escrow = payment + fee;
        if (escrow + totalEscrow + totalBalances > type(uint96).max) revert InvalidParameter("escrow");
        jobId = ++jobCount;
        _jobs[jobId] = Job({
            buyer: msg.sender,
            claimDeadline: p.claimDeadline,
            replicas: p.replicas,
            state: JobState.Open,
            claimants: 0,
            selected: 0
        });
        _trails[jobId] = keccak256(
            abi.encode(
                jobId,
                Terms({
                    requirements: p.requirements,
                    pricePerUnit: p.pricePerUnit,
                    maxWorkUnits: p.maxWorkUnits,
                    commitDeadline: p.commitDeadline,
                    revealDeadline: p.revealDeadline
                })
            )
        );
        totalEscrow += uint96(escrow);
        emit Events.JobPosted(
            jobId,
            msg.sender,
            p.specHash,
            p.dataRoot,
            p.dataPeer,
            p.requirements,
            p.replicas,
            p.pricePerUnit,
            p.maxWorkUnits,
            p.claimDeadline,
            p.commitDeadline,
            p.revealDeadline,
            escrow
        );
        paymentToken.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @notice Claims a place among the candidates of an open job: any active, fully staked
    /// provider may claim; whether it meets the job's requirements is checked when the replicas
    /// are selected, so an unfit or repeated claim is never selected and only locks the
    /// claimant's stake until the job ends. After the claim window, k of the eligible claimants
    /// are chosen at random, weighted by stake.
    /// @return index the claimant index, used in commit and reveal.
    function claim(uint256 jobId) external returns (uint256 index) {
        Job storage j = _jobs[jobId];
        JobState state = j.state;
        if (state == JobState.None) revert UnknownJob(jobId);
        if (state != JobState.Open) revert WrongState(jobId, state);
        if (block.timestamp > j.claimDeadline) revert ClaimWindowClosed(jobId);
        index = j.claimants;
        if (index >= MAX_CLAIMANTS) revert TooManyClaimants(jobId);
        Provider storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Active || p.stake < minStakePerUnit * p.computeUnits) {
            revert NotEligible(jobId, msg.sender);
        }
        p.activeJobs += 1;
        j.claimants = uint8(index + 1);
        _trails[jobId] = keccak256(abi.encode(_trails[jobId], msg.sender));
        emit Events.JobClaimed(jobId, msg.sender, index);
    }

    /// @notice Closes the claim window: selects the k replicas among the eligible claimants (all
    /// of them if no more claimed) and starts the job, or refunds it if none is eligible. Anyone
    /// may call it once the claim deadline has passed; the first commit does it too. Claimants
    /// call it before committing, so that a claimant who is not selected learns it from the job
    /// without a reverted commit undoing the selection.
    function selectReplicas(uint256 jobId, Trail calldata t) external {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Open) revert WrongState(jobId, j.state);
        if (block.timestamp <= j.claimDeadline) revert ClaimWindowOpen(jobId);
        if (j.claimants == 0) revert NotFinalizable(jobId);
        _verify(jobId, j, t);
        _closeClaims(jobId, j, t);
    }

    /// @notice Commits `keccak256(abi.encode(resultRoot, workUnits, salt, provider))` for the
    /// caller's replica. The first commit after the claim window selects the replicas.
    function commit(uint256 jobId, uint256 index, bytes32 commitment, Trail calldata t) external {
        (Job storage j, bytes32 h) = _openCommits(jobId, t);
        uint256 mask = _committedMask(t);
        (h,) = _commit(jobId, j, t, h, mask, index, msg.sender, commitment);
        _trails[jobId] = h;
    }

    /// @notice Commits for several replicas in one transaction, each signed by its provider:
    /// providers exchange signed commitments off chain and any one of them (or the buyer) submits
    /// them together. A signature binds the chain, this market, the job and the replica.
    function commitSigned(uint256 jobId, Trail calldata t, SignedCommit[] calldata commits) external {
        (Job storage j, bytes32 h) = _openCommits(jobId, t);
        uint256 mask = _committedMask(t);
        for (uint256 n; n < commits.length; ++n) {
            SignedCommit calldata c = commits[n];
            if (c.index >= t.claimants.length) revert NotSelected(jobId, c.index);
            address signer = ECDSA.recover(
                MessageHashUtils.toEthSignedMessageHash(commitDigest(jobId, c.index, c.commitment)), c.signature
            );
            if (signer != t.claimants[c.index]) revert BadCommitSignature(jobId, c.index);
            (h, mask) = _commit(jobId, j, t, h, mask, c.index, signer, c.commitment);
        }
        _trails[jobId] = h;
    }

    /// @notice What a provider signs to have its commitment submitted by someone else.
    function commitDigest(uint256 jobId, uint256 index, bytes32 commitment) public view returns (bytes32) {
        return keccak256(abi.encode("gridmint.commit", block.chainid, address(this), jobId, index, commitment));
    }

    /// @notice Reveals a committed result. Anyone may reveal, since the commitment binds the
    /// provider; open once every selected replica committed or the commit deadline passed, so
    /// nobody can copy a revealed root into a late commitment. The reveal that completes the job
    /// also settles it.
    function reveal(uint256 jobId, uint256 index, bytes32 resultRoot, uint64 workUnits, bytes32 salt, Trail calldata t)
        external
    {
        Reveal[] memory one = new Reveal[](1);
        one[0] = Reveal({index: index, resultRoot: resultRoot, workUnits: workUnits, salt: salt});
        _revealAll(jobId, t, one, false);
    }

    /// @notice Reveals several replicas in one transaction (see `reveal`).
    function revealBatch(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external {
        _revealAll(jobId, t, reveals, false);
    }

    /// @notice The buyer's challenge: reveals the remaining replicas like `revealBatch`, but the
    /// job goes to the arbiter instead of settling by majority. A buyer challenges when its own
    /// re-execution of a sample of the result disagrees with what the replicas agree on (a
    /// colluding or commonly wrong majority); the arbiter re-executes the disputed dispatch and
    /// `resolveDispute` pays the replicas that revealed the correct root and slashes the rest.
    /// Only the job's buyer; the batch must complete the reveals.
    function challenge(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external {
        if (msg.sender != _jobs[jobId].buyer) revert NotBuyer(jobId, msg.sender);
        _revealAll(jobId, t, reveals, true);
    }

    /// @notice Moves a job on once its deadlines allow: refunds a job nobody (eligible) claimed;
    /// settles a job whose replicas all revealed or whose reveal deadline passed (pays the
    /// agreeing majority, slashes dissenters and no-shows, refunds unused escrow) or opens a
    /// dispute when there is no majority. Anyone may call it.
    function finalize(uint256 jobId, Trail calldata t) external {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        bytes32 h;
        if (j.state == JobState.Open) {
            if (block.timestamp <= j.claimDeadline) revert NotFinalizable(jobId);
            h = _verify(jobId, j, t);
            if (j.claimants == 0) {
                _refundAll(jobId, j, t);
                return;
            }
            _closeClaims(jobId, j, t);
            if (j.state != JobState.Running) return; // nobody eligible: refunded
        } else {
            if (j.state != JobState.Running) revert WrongState(jobId, j.state);
            h = _verify(jobId, j, t);
        }
        if (t.reveals.length < _popcount(j.selected) && block.timestamp <= t.terms.revealDeadline) {
            revert NotFinalizable(jobId);
        }
        _decide(jobId, j, t, t.reveals, h);
    }

    /// @notice The arbiter settles a dispute by naming the correct result root (found by
    /// re-executing the disputed dispatch). Replicas that revealed it are paid; the rest slashed.
    function resolveDispute(uint256 jobId, bytes32 resultRoot, Trail calldata t) external {
        if (msg.sender != arbiter) revert NotArbiter(msg.sender);
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
        emit Events.DisputeResolved(jobId, resultRoot);
        _settle(jobId, j, t, reveals, resultRoot, workUnits);
        j.state = JobState.Resolved;
    }

    /// @notice A dispute the arbiter did not resolve in time: the buyer is refunded in full and
    /// no-shows are slashed. Anyone may call it.
    function expireDispute(uint256 jobId, Trail calldata t) external {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        if (block.timestamp <= disputeDeadline[jobId]) revert DisputeOpen(jobId);
        _verify(jobId, j, t);
        _slashNoShows(jobId, j, t, t.reveals);
        _refundAll(jobId, j, t);
    }

    /// @notice Sends the caller's payment-token balance to its payout address.
    function withdraw() external {
        Account storage a = _accounts[msg.sender];
        uint256 amount = a.balance;
        if (amount == 0) revert NothingToWithdraw();
        a.balance = 0;
        totalBalances -= uint96(amount);
        address to = payoutOf(msg.sender);
        emit Events.Withdrawn(msg.sender, to, amount);
        paymentToken.safeTransfer(to, amount);
    }

    /// @notice Sends the protocol fees of up to `epochs` finished epochs, oldest first, to the
    /// treasury. Anyone may call it.
    function collectFees(uint256 epochs) external {
        uint256 from = feesCollectedThrough;
        uint256 to = currentEpoch();
        if (from + epochs < to) to = from + epochs;
        if (to <= from) revert NothingToWithdraw();
        uint256 amount;
        for (uint256 e = from; e < to; ++e) {
            amount += _epochTotals[e].fees;
        }
        feesCollectedThrough = to;
        totalBalances -= uint96(amount);
        emit Events.FeesCollected(treasury, from, to, amount);
        if (amount != 0) paymentToken.safeTransfer(treasury, amount);
    }

    /// @notice Protocol fees paid and not yet sent to the treasury (the current epoch's included).
    function uncollectedFees() public view returns (uint256 amount) {
        for (uint256 e = feesCollectedThrough; e <= currentEpoch(); ++e) {
            amount += _epochTotals[e].fees;
        }
    }

    /// @notice Sends the caller's protocol-token credit from slashes.
    function withdrawStakeCredit() external {
        uint256 amount = stakeCredit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        stakeCredit[msg.sender] = 0;
        totalStakeCredit -= amount;
        emit Events.StakeTokenWithdrawn(msg.sender, amount);
        IERC20(address(stakeToken)).safeTransfer(msg.sender, amount);
    }

    function jobOf(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @notice The job's trail hash while it runs (see `Trail`); the paid result root after.
    function trailOf(uint256 jobId) external view returns (bytes32) {
        return _trails[jobId];
    }

    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @notice The result root a settled job paid for (zero for a job not settled by agreement).
    function agreedRoot(uint256 jobId) external view returns (bytes32) {
        JobState state = _jobs[jobId].state;
        return state == JobState.Finalized || state == JobState.Resolved ? _trails[jobId] : bytes32(0);
    }

    /// @notice Payment providers earned in `epoch` (the basis of its rewards).
    function epochPaid(uint256 epoch) public view returns (uint256) {
        return _epochTotals[epoch].paid;
    }

    /// @notice Protocol fees paid in `epoch` (the demand that bounds its emission).
    function epochFees(uint256 epoch) public view returns (uint256) {
        return _epochTotals[epoch].fees;
    }

    /// @notice The commitment a provider submits, for off-chain use.
    function commitmentOf(bytes32 resultRoot, uint64 workUnits, bytes32 salt, address provider)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(resultRoot, workUnits, salt, provider));
    }

    // ============================================================================================
    // Rewards
    // ============================================================================================

    function currentEpoch() public view returns (uint256) {
        return (block.timestamp - genesis) / epochLength;
    }

    /// @notice The schedule's cap for `epoch`: halves every `halvingEpochs`.
    function scheduleCap(uint256 epoch) public view returns (uint256) {
        uint256 halvings = epoch / halvingEpochs;
        return halvings >= 256 ? 0 : initialEpochCap >> halvings;
    }

    /// @notice Emission of an epoch: min(schedule cap, rewardPerFee × fees paid in it).
    function emissionCap(uint256 epoch) public view returns (uint256) {
        uint256 byDemand = epochFees(epoch) * rewardPerFee;
        uint256 cap = scheduleCap(epoch);
        return byDemand < cap ? byDemand : cap;
    }

    /// @notice Settles the caller's share of finished epochs and mints its rewards to its
    /// payout address.
    function claimRewards() external {
        Account storage a = _accounts[msg.sender];
        _settleRewards(msg.sender, a);
        Record storage rec = _records[msg.sender];
        uint256 amount = rec.rewards;
        if (amount == 0) revert NothingToWithdraw();
        rec.rewards = 0;
        address to = payoutOf(msg.sender);
        emit Events.RewardsClaimed(msg.sender, to, amount);
        stakeToken.mint(to, amount);
    }

    // ============================================================================================
    // Internals
    // ============================================================================================

    /// @dev Checks `t` against the job's trail hash and returns the hash.
    function _verify(uint256 jobId, Job storage j, Trail calldata t) internal view returns (bytes32 h) {
        if (t.claimants.length != j.claimants) revert TrailMismatch(jobId);
        h = keccak256(abi.encode(jobId, t.terms));
        for (uint256 i; i < t.claimants.length; ++i) {
            h = keccak256(abi.encode(h, t.claimants[i]));
        }
        for (uint256 i; i < t.commits.length; ++i) {
            h = keccak256(abi.encode(h, t.commits[i].index, t.commits[i].commitment));
        }
        for (uint256 i; i < t.reveals.length; ++i) {
            Revealed calldata r = t.reveals[i];
            h = keccak256(abi.encode(h, r.index, r.resultRoot, r.workUnits));
        }
        if (h != _trails[jobId]) revert TrailMismatch(jobId);
    }

    /// @dev After the claim window: select k eligible claimants (all of them if no more), weighted
    /// by stake with the block's randomness, and start the job; refund it if none is eligible.
    /// A provider's second claim on a job weighs nothing.
    function _closeClaims(uint256 jobId, Job storage j, Trail calldata t) internal {
        if (j.state != JobState.Open || block.timestamp <= j.claimDeadline) return;
        uint256 n = t.claimants.length;
        if (n == 0) return; // finalize refunds it
        uint256 k = j.replicas;
        uint256[] memory weights = new uint256[](n);
        uint256 total;
        uint256 eligible;
        uint32 mask;
        for (uint256 i; i < n; ++i) {
            address a = t.claimants[i];
            bool repeated;
            for (uint256 m; m < i; ++m) {
                if (t.claimants[m] == a) repeated = true;
            }
            if (repeated || !isEligible(a, t.terms.requirements)) continue;
            weights[i] = uint256(_providers[a].stake) + 1;
            total += weights[i];
            eligible += 1;
            mask |= uint32(1 << i);
        }
        uint256 seed;
        if (eligible > k) {
            mask = 0;
            seed = uint256(keccak256(abi.encode(block.prevrandao, jobId)));
            for (uint256 picked; picked < k; ++picked) {
                uint256 x = uint256(keccak256(abi.encode(seed, picked))) % total;
                for (uint256 i; i < n; ++i) {
                    if ((mask >> i) & 1 == 1 || weights[i] == 0) continue;
                    if (x < weights[i]) {
                        mask |= uint32(1 << i);
                        total -= weights[i];
                        break;
                    }
                    x -= weights[i];
                }
            }
        }
        j.selected = mask;
        emit Events.ReplicasSelected(jobId, mask, seed);
        if (mask == 0) {
            _refundAll(jobId, j, t);
        } else {
            j.state = JobState.Running;
        }
    }

    /// @dev The job, checked to accept commits now (selecting the replicas first if due), and
    /// its trail hash.
    function _openCommits(uint256 jobId, Trail calldata t) internal returns (Job storage j, bytes32 h) {
        j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state == JobState.Open && block.timestamp > j.claimDeadline) {
            h = _verify(jobId, j, t);
            _closeClaims(jobId, j, t);
        }
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        if (block.timestamp > t.terms.commitDeadline) revert CommitWindowClosed(jobId);
        if (h == bytes32(0)) h = _verify(jobId, j, t);
    }

    function _committedMask(Trail calldata t) internal pure returns (uint256 mask) {
        for (uint256 i; i < t.commits.length; ++i) {
            mask |= 1 << t.commits[i].index;
        }
    }

    function _commit(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        bytes32 h,
        uint256 mask,
        uint256 index,
        address provider,
        bytes32 commitment
    ) internal returns (bytes32, uint256) {
        if (index >= 32 || (j.selected >> index) & 1 == 0) revert NotSelected(jobId, index);
        if (t.claimants[index] != provider) revert NotYourReplica(jobId, index);
        if ((mask >> index) & 1 == 1) revert AlreadyCommitted(jobId, index);
        emit Events.ResultCommitted(jobId, provider, index, commitment);
        return (keccak256(abi.encode(h, index, commitment)), mask | (1 << index));
    }

    /// @dev Reveals `batch` on top of the trail's reveals; settles the job when every selected
    /// replica has revealed, or else stores the longer trail.
    function _revealAll(uint256 jobId, Trail calldata t, Reveal[] memory batch, bool challenged) internal {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        bytes32 h = _verify(jobId, j, t);
        uint256 selectedCount = _popcount(j.selected);
        if (t.commits.length < selectedCount && block.timestamp <= t.terms.commitDeadline) revert RevealNotOpen(jobId);
        if (block.timestamp > t.terms.revealDeadline) revert RevealWindowClosed(jobId);
        uint256 before = t.reveals.length;
        Revealed[] memory all = new Revealed[](before + batch.length);
        uint256 revealedMask;
        for (uint256 i; i < before; ++i) {
            all[i] = t.reveals[i];
            revealedMask |= 1 << all[i].index;
        }
        for (uint256 n; n < batch.length; ++n) {
            Reveal memory r = batch[n];
            if (r.index >= 32 || (revealedMask >> r.index) & 1 == 1) revert NotCommitted(jobId, r.index);
            bytes32 commitment = _commitmentOf(t, r.index);
            if (commitment == bytes32(0)) revert NotCommitted(jobId, r.index);
            address provider = t.claimants[r.index];
            if (keccak256(abi.encode(r.resultRoot, r.workUnits, r.salt, provider)) != commitment) {
                revert CommitmentMismatch(jobId, r.index);
            }
            if (r.workUnits > t.terms.maxWorkUnits) revert WorkUnitsOverMax(r.workUnits, t.terms.maxWorkUnits);
            revealedMask |= 1 << r.index;
            all[before + n] = Revealed({index: r.index, resultRoot: r.resultRoot, workUnits: r.workUnits});
            h = keccak256(abi.encode(h, r.index, r.resultRoot, r.workUnits));
            emit Events.ResultRevealed(jobId, provider, r.index, r.resultRoot, r.workUnits);
        }
        if (challenged) {
            if (all.length != selectedCount) revert ChallengeIncomplete(jobId);
            _openDispute(jobId, j, h);
        } else if (all.length == selectedCount) {
            _decide(jobId, j, t, all, h);
        } else {
            _trails[jobId] = h;
        }
    }

    /// @dev Hands the job to the arbiter; `h` is the trail hash with every reveal.
    function _openDispute(uint256 jobId, Job storage j, bytes32 h) internal {
        j.state = JobState.Disputed;
        uint40 deadline = uint40(block.timestamp + disputeWindow);
        disputeDeadline[jobId] = deadline;
        _trails[jobId] = h;
        emit Events.JobDisputed(jobId, deadline);
    }

    function _commitmentOf(Trail calldata t, uint256 index) internal pure returns (bytes32) {
        for (uint256 i; i < t.commits.length; ++i) {
            if (t.commits[i].index == index) return t.commits[i].commitment;
        }
        return bytes32(0);
    }

    /// @dev Pays the majority, or refunds when nobody revealed, or opens a dispute. `reveals`
    /// are every reveal of the job and `h` the trail hash with them, kept by a dispute.
    function _decide(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory reveals, bytes32 h) internal {
        (bytes32 root, uint64 workUnits, uint256 votes) = _majority(reveals);
        if (votes * 2 > j.replicas) {
            _settle(jobId, j, t, reveals, root, workUnits);
        } else if (reveals.length == 0) {
            _slashNoShows(jobId, j, t, reveals); // nobody revealed: every selected replica missed
            _refundAll(jobId, j, t);
        } else {
            _openDispute(jobId, j, h);
        }
    }

    /// @dev The (root, workUnits) pair revealed by most replicas, and its count.
    function _majority(Revealed[] memory reveals)
        internal
        pure
        returns (bytes32 bestRoot, uint64 bestUnits, uint256 bestVotes)
    {
        for (uint256 i; i < reveals.length; ++i) {
            uint256 votes = 1;
            for (uint256 m = i + 1; m < reveals.length; ++m) {
                if (reveals[m].resultRoot == reveals[i].resultRoot && reveals[m].workUnits == reveals[i].workUnits) {
                    ++votes;
                }
            }
            if (votes > bestVotes) (bestRoot, bestUnits, bestVotes) = (reveals[i].resultRoot, reveals[i].workUnits, votes);
        }
    }

    /// @dev Pays every selected replica that revealed (root, workUnits), slashes every other
    /// selected replica, releases every claimant, charges the fee on what was paid, refunds the
    /// rest of the escrow and keeps the root as the job's result.
    function _settle(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        bytes32 root,
        uint64 workUnits
    ) internal {
        uint256 epoch = currentEpoch();
        (uint256 paid, uint32 paidMask) = _payClaimants(jobId, j, t, reveals, root, workUnits, epoch);
        uint256 escrow = _escrowOf(j, t);
        uint256 fee = (paid * feeBps) / BPS;
        uint256 refund = escrow - paid - fee;
        totalEscrow -= uint96(escrow);
        totalBalances += uint96(escrow);
        if (refund != 0) _accounts[j.buyer].balance += uint128(refund);
        EpochTotals storage totals = _epochTotals[epoch];
        totals.paid += uint128(paid);
        totals.fees += uint128(fee);
        j.state = JobState.Finalized;
        _trails[jobId] = root;
        emit Events.JobFinalized(jobId, root, workUnits, paidMask, paid, fee, refund);
    }

    /// @dev Releases every claimant, pays the selected ones that revealed (root, workUnits) and
    /// slashes the other selected ones; returns what was paid and to which claimants.
    function _payClaimants(
        uint256 jobId,
        Job storage j,
        Trail calldata t,
        Revealed[] memory reveals,
        bytes32 root,
        uint64 workUnits,
        uint256 epoch
    ) internal returns (uint256 paid, uint32 paidMask) {
        uint256 agreeing;
        uint256 revealed;
        for (uint256 i; i < reveals.length; ++i) {
            revealed |= 1 << reveals[i].index;
            if (reveals[i].resultRoot == root && reveals[i].workUnits == workUnits) agreeing |= 1 << reveals[i].index;
        }
        uint256 pay = uint256(t.terms.pricePerUnit) * workUnits;
        uint256 selected = j.selected;
        for (uint256 i; i < t.claimants.length; ++i) {
            address a = t.claimants[i];
            Provider storage p = _providers[a];
            p.activeJobs -= 1;
            if ((selected >> i) & 1 == 0) continue;
            if ((agreeing >> i) & 1 == 1) {
                p.agreed += 1;
                paid += pay;
                paidMask |= uint32(1 << i);
                _creditWork(a, pay, epoch);
            } else {
                _slash(jobId, j.buyer, a, (revealed >> i) & 1 == 0);
            }
        }
    }

    function _escrowOf(Job storage j, Trail calldata t) internal view returns (uint256) {
        (uint256 payment, uint256 fee) = escrowFor(t.terms.pricePerUnit, t.terms.maxWorkUnits, j.replicas);
        return payment + fee;
    }

    /// @dev Refunds the whole escrow and releases every claimant.
    function _refundAll(uint256 jobId, Job storage j, Trail calldata t) internal {
        for (uint256 i; i < t.claimants.length; ++i) {
            _providers[t.claimants[i]].activeJobs -= 1;
        }
        uint256 refund = _escrowOf(j, t);
        totalEscrow -= uint96(refund);
        totalBalances += uint96(refund);
        _accounts[j.buyer].balance += uint128(refund);
        j.state = JobState.Refunded;
        emit Events.JobRefunded(jobId, refund);
    }

    /// @dev Slashes every selected replica that did not reveal: it missed a deadline.
    function _slashNoShows(uint256 jobId, Job storage j, Trail calldata t, Revealed[] memory reveals) internal {
        uint256 revealed;
        for (uint256 i; i < reveals.length; ++i) {
            revealed |= 1 << reveals[i].index;
        }
        uint256 selected = j.selected;
        for (uint256 i; selected >> i != 0; ++i) {
            if ((selected >> i) & 1 == 1 && (revealed >> i) & 1 == 0) _slash(jobId, j.buyer, t.claimants[i], true);
        }
    }

    function _slash(uint256 jobId, address buyer, address provider, bool missed) internal {
        Provider storage p = _providers[provider];
        uint256 amount = (uint256(p.stake) * slashBps) / BPS;
        Record storage rec = _records[provider];
        if (missed) rec.missed += 1;
        else rec.slashed += 1;
        if (amount == 0) return;
        p.stake -= uint96(amount);
        totalStake -= amount;
        totalStakeCredit += amount;
        uint256 toBuyer = (amount * buyerSlashShareBps) / BPS;
        stakeCredit[buyer] += toBuyer;
        stakeCredit[treasury] += amount - toBuyer;
        emit Events.ProviderSlashed(jobId, provider, amount, missed);
    }

    /// @dev Credits payment and the epoch's work of a provider, settling finished epochs first.
    function _creditWork(address provider, uint256 pay, uint256 epoch) internal {
        Account storage a = _accounts[provider];
        if (a.epoch != epoch) {
            _settleRewards(provider, a);
            a.epoch = uint32(epoch);
        }
        a.balance += uint128(pay);
        a.epochPaid += uint96(pay);
    }

    /// @dev Moves a provider's share of its last finished epoch's emission into its rewards.
    function _settleRewards(address provider, Account storage a) internal {
        uint256 epoch = a.epoch;
        uint256 mine = a.epochPaid;
        if (mine == 0 || epoch >= currentEpoch()) return;
        uint256 reward = (mine * emissionCap(epoch)) / epochPaid(epoch);
        a.epochPaid = 0;
        if (reward == 0) return;
        _records[provider].rewards += uint128(reward);
        epochRewards[epoch] += reward;
        emit Events.RewardsSettled(provider, epoch, reward);
    }

    function _popcount(uint32 x) internal pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) ++c;
    }
}
