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
    EpochTotals,
    Job,
    JobParams,
    JobState,
    Provider,
    ProviderStatus,
    Replica,
    ReplicaStatus,
    Reputation,
    Requirements,
    Reveal,
    SignedCommit
} from "./libraries/Types.sol";

/// @title Gridmint
/// @notice The settlement layer of the Gridmint compute market: a provider registry with stake,
/// a job market with escrow and commit-reveal redundant verification, slashing, reputation, and
/// protocol-token rewards capped by the fees real demand pays.
/// @dev One contract so that the hot path (claim, commit, reveal, finalize) never pays for an
/// external call. Every state has a deadline after which anyone can move it on; every payout is
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
    mapping(address => Reputation) internal _reputations;
    mapping(address => address) internal _payout;
    mapping(address => address) public pendingPayout;
    mapping(address => uint256) public pendingPayoutAt;
    /// @notice Protocol-token credit from slashes (buyers, treasury), withdrawable.
    mapping(address => uint256) public stakeCredit;

    uint256 public jobCount;
    mapping(uint256 => Job) internal _jobs;
    mapping(uint256 => mapping(uint256 => Replica)) internal _replicas;
    /// @dev A replica's commitment until it reveals, then its result root.
    mapping(uint256 => mapping(uint256 => bytes32)) internal _results;
    mapping(uint256 => bytes32) internal _resolvedRoot; // set by the arbiter only
    mapping(uint256 => uint40) public disputeDeadline;

    /// @notice Payment and fees per epoch, the basis of rewards.
    mapping(uint256 => EpochTotals) internal _epochTotals;
    /// @notice Protocol tokens settled as rewards per epoch (≤ emissionCap).
    mapping(uint256 => uint256) public epochRewards;

    /// @notice Accounting totals (what the invariants check against token balances).
    uint256 public totalEscrow; // payment token held for open jobs
    uint256 public totalBalances; // payment token owed to accounts
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
        uint120 stake,
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
            region: region,
            classes: classes,
            status: ProviderStatus.Active,
            activeJobs: 0,
            unstakeAt: 0
        });
        deviceModelOf[msg.sender] = deviceModelHash;
        _payout[msg.sender] = payout == address(0) ? msg.sender : payout;
        totalStake += stake;
        emit Events.ProviderRegistered(msg.sender, deviceModelHash, memoryMiB, computeUnits, region, classes, stake);
        IERC20(address(stakeToken)).safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Adds stake (also after a slash, to become eligible again).
    function addStake(uint120 amount) external {
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
        delete _providers[msg.sender];
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

    function reputationOf(address provider) external view returns (Reputation memory) {
        return _reputations[provider];
    }

    /// @notice Reputation in basis points: agreements over all graded outcomes, where a slash
    /// weighs four and a missed deadline two. 0 without history.
    function reputationScore(address provider) public view returns (uint256) {
        Reputation memory r = _reputations[provider];
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
        if (payment + fee > type(uint96).max) revert InvalidParameter("escrow");
        jobId = ++jobCount;
        Job storage j = _jobs[jobId];
        j.buyer = msg.sender;
        j.claimDeadline = p.claimDeadline;
        j.commitDeadline = p.commitDeadline;
        j.replicas = p.replicas;
        j.state = JobState.Open;
        j.pricePerUnit = p.pricePerUnit;
        j.maxWorkUnits = p.maxWorkUnits;
        j.revealDeadline = p.revealDeadline;
        j.requirements = p.requirements;
        j.feeBps = feeBps;
        totalEscrow += payment + fee;
        emit Events.JobPosted(
            jobId,
            msg.sender,
            p.specHash,
            p.dataRoot,
            p.requirements,
            p.replicas,
            p.pricePerUnit,
            p.maxWorkUnits,
            p.claimDeadline,
            p.commitDeadline,
            p.revealDeadline,
            payment + fee
        );
        paymentToken.safeTransferFrom(msg.sender, address(this), payment + fee);
    }

    /// @notice Claims a place among the candidates of an open job. After the claim window, k of
    /// the claimants are chosen at random, weighted by stake.
    /// @return index the claimant index, used in commit and reveal.
    function claim(uint256 jobId) external returns (uint256 index) {
        Job storage j = _jobs[jobId];
        JobState state = j.state;
        if (state == JobState.None) revert UnknownJob(jobId);
        if (state != JobState.Open) revert WrongState(jobId, state);
        if (block.timestamp > j.claimDeadline) revert ClaimWindowClosed(jobId);
        index = j.claimants;
        if (index >= MAX_CLAIMANTS) revert TooManyClaimants(jobId);
        if (!isEligible(msg.sender, j.requirements)) revert NotEligible(jobId, msg.sender);
        for (uint256 i; i < index; ++i) {
            if (_replicas[jobId][i].provider == msg.sender) revert AlreadyClaimed(jobId, msg.sender);
        }
        _replicas[jobId][index] = Replica({provider: msg.sender, status: ReplicaStatus.Claimed, workUnits: 0});
        j.claimants = uint8(index + 1);
        _providers[msg.sender].activeJobs += 1;
        emit Events.JobClaimed(jobId, msg.sender, index);
    }

    /// @notice Closes the claim window: selects the k replicas (all claimants if no more claimed)
    /// and starts the job. Anyone may call it once the claim deadline has passed; the first commit
    /// does it too. Claimants call it before committing, so that a claimant who is not selected
    /// learns it from the job without a reverted commit undoing the selection.
    function selectReplicas(uint256 jobId) external {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Open) revert WrongState(jobId, j.state);
        if (block.timestamp <= j.claimDeadline) revert ClaimWindowOpen(jobId);
        if (j.claimants == 0) revert NotFinalizable(jobId);
        _closeClaims(jobId, j);
    }

    /// @notice Commits `keccak256(abi.encode(resultRoot, workUnits, salt, provider))` for the
    /// caller's replica. The first commit after the claim window selects the replicas.
    function commit(uint256 jobId, uint256 index, bytes32 commitment) external {
        Job storage j = _openCommits(jobId);
        _commit(jobId, j, index, msg.sender, commitment);
    }

    /// @notice Commits for several replicas in one transaction, each signed by its provider:
    /// providers exchange signed commitments off chain and any one of them (or the buyer) submits
    /// them together. A signature binds the chain, this market, the job and the replica.
    function commitSigned(uint256 jobId, SignedCommit[] calldata commits) external {
        Job storage j = _openCommits(jobId);
        for (uint256 n; n < commits.length; ++n) {
            SignedCommit calldata c = commits[n];
            address signer = ECDSA.recover(
                MessageHashUtils.toEthSignedMessageHash(commitDigest(jobId, c.index, c.commitment)), c.signature
            );
            if (signer != _replicas[jobId][c.index].provider) revert BadCommitSignature(jobId, c.index);
            _commit(jobId, j, c.index, signer, c.commitment);
        }
    }

    /// @notice What a provider signs to have its commitment submitted by someone else.
    function commitDigest(uint256 jobId, uint256 index, bytes32 commitment) public view returns (bytes32) {
        return keccak256(abi.encode("gridmint.commit", block.chainid, address(this), jobId, index, commitment));
    }

    /// @notice Reveals a committed result. Anyone may reveal, since the commitment binds the
    /// provider; open once every selected replica committed or the commit deadline passed, so
    /// nobody can copy a revealed root into a late commitment. The reveal that completes the job
    /// also settles it.
    function reveal(uint256 jobId, uint256 index, bytes32 resultRoot, uint64 workUnits, bytes32 salt) external {
        Job storage j = _openReveals(jobId);
        _reveal(jobId, j, index, resultRoot, workUnits, salt);
        _settleIfComplete(jobId, j);
    }

    /// @notice Reveals several replicas in one transaction (see `reveal`).
    function revealBatch(uint256 jobId, Reveal[] calldata reveals) external {
        Job storage j = _openReveals(jobId);
        for (uint256 n; n < reveals.length; ++n) {
            Reveal calldata r = reveals[n];
            _reveal(jobId, j, r.index, r.resultRoot, r.workUnits, r.salt);
        }
        _settleIfComplete(jobId, j);
    }

    /// @notice Moves a job on once its deadlines allow: refunds a job nobody claimed; settles a
    /// job whose replicas all revealed or whose reveal deadline passed (pays the agreeing
    /// majority, slashes dissenters and no-shows, refunds unused escrow) or opens a dispute when
    /// there is no majority. Anyone may call it.
    function finalize(uint256 jobId) external {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.None) revert UnknownJob(jobId);
        if (j.state == JobState.Open) {
            if (block.timestamp <= j.claimDeadline) revert NotFinalizable(jobId);
            if (j.claimants == 0) {
                _refundAll(jobId, j);
                return;
            }
            _closeClaims(jobId, j);
        }
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        uint256 selectedCount = _popcount(j.selected);
        if (j.revealed < selectedCount && block.timestamp <= j.revealDeadline) revert NotFinalizable(jobId);

        _decide(jobId, j);
    }

    /// @notice The arbiter settles a dispute by naming the correct result root (found by
    /// re-executing the disputed dispatch). Replicas that revealed it are paid; the rest slashed.
    function resolveDispute(uint256 jobId, bytes32 resultRoot) external {
        if (msg.sender != arbiter) revert NotArbiter(msg.sender);
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        uint64 workUnits;
        uint256 selected = j.selected;
        for (uint256 i; selected >> i != 0; ++i) {
            if ((selected >> i) & 1 == 1 && _results[jobId][i] == resultRoot) {
                Replica memory r = _replicas[jobId][i];
                if (r.status == ReplicaStatus.Revealed) {
                    workUnits = r.workUnits;
                    break;
                }
            }
        }
        emit Events.DisputeResolved(jobId, resultRoot);
        _resolvedRoot[jobId] = resultRoot;
        _settle(jobId, j, resultRoot, workUnits);
        j.state = JobState.Resolved;
    }

    /// @notice A dispute the arbiter did not resolve in time: the buyer is refunded in full and
    /// no-shows are slashed. Anyone may call it.
    function expireDispute(uint256 jobId) external {
        Job storage j = _jobs[jobId];
        if (j.state != JobState.Disputed) revert WrongState(jobId, j.state);
        if (block.timestamp <= disputeDeadline[jobId]) revert DisputeOpen(jobId);
        _slashNoShows(jobId, j);
        _refundAll(jobId, j);
    }

    /// @notice Sends the caller's payment-token balance to its payout address.
    function withdraw() external {
        Account storage a = _accounts[msg.sender];
        uint256 amount = a.balance;
        if (amount == 0) revert NothingToWithdraw();
        a.balance = 0;
        totalBalances -= amount;
        address to = payoutOf(msg.sender);
        emit Events.Withdrawn(msg.sender, to, amount);
        paymentToken.safeTransfer(to, amount);
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

    function replicaOf(uint256 jobId, uint256 index) external view returns (Replica memory r, bytes32 result) {
        return (_replicas[jobId][index], _results[jobId][index]);
    }

    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @notice The commitment a provider submits, for off-chain use.
    /// @notice The result root a settled job paid for (zero for a job not settled by agreement).
    function agreedRoot(uint256 jobId) external view returns (bytes32 root) {
        Job storage j = _jobs[jobId];
        if (j.state == JobState.Resolved) return _resolvedRoot[jobId];
        if (j.state == JobState.Finalized) (root,,) = _majority(jobId, j.selected);
    }

    /// @notice Payment providers earned in `epoch` (the basis of its rewards).
    function epochPaid(uint256 epoch) public view returns (uint256) {
        return _epochTotals[epoch].paid;
    }

    /// @notice Protocol fees paid in `epoch` (the demand that bounds its emission).
    function epochFees(uint256 epoch) public view returns (uint256) {
        return _epochTotals[epoch].fees;
    }

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
        Reputation storage rep = _reputations[msg.sender];
        uint256 amount = rep.rewards;
        if (amount == 0) revert NothingToWithdraw();
        rep.rewards = 0;
        address to = payoutOf(msg.sender);
        emit Events.RewardsClaimed(msg.sender, to, amount);
        stakeToken.mint(to, amount);
    }

    // ============================================================================================
    // Internals
    // ============================================================================================

    /// @dev After the claim window: select k claimants (all if no more claimed), weighted by
    /// stake with the block's randomness, and start the job.
    function _closeClaims(uint256 jobId, Job storage j) internal {
        if (j.state != JobState.Open || block.timestamp <= j.claimDeadline) return;
        uint256 n = j.claimants;
        if (n == 0) return; // finalize refunds it
        uint256 k = j.replicas;
        uint32 mask;
        uint256 seed;
        if (n <= k) {
            mask = uint32((1 << n) - 1);
        } else {
            seed = uint256(keccak256(abi.encode(block.prevrandao, jobId)));
            uint256[] memory weights = new uint256[](n);
            uint256 total;
            for (uint256 i; i < n; ++i) {
                weights[i] = _providers[_replicas[jobId][i].provider].stake + 1;
                total += weights[i];
            }
            for (uint256 picked; picked < k; ++picked) {
                uint256 x = uint256(keccak256(abi.encode(seed, picked))) % total;
                for (uint256 i; i < n; ++i) {
                    if ((mask >> i) & 1 == 1) continue;
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
        j.state = JobState.Running;
        emit Events.ReplicasSelected(jobId, mask, seed);
    }

    /// @dev The job, checked to accept commits now (selecting the replicas first if due).
    function _openCommits(uint256 jobId) internal returns (Job storage j) {
        j = _jobs[jobId];
        _closeClaims(jobId, j);
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        if (block.timestamp > j.commitDeadline) revert CommitWindowClosed(jobId);
    }

    function _commit(uint256 jobId, Job storage j, uint256 index, address provider, bytes32 commitment) internal {
        if ((j.selected >> index) & 1 == 0) revert NotSelected(jobId, index);
        Replica storage r = _replicas[jobId][index];
        if (r.provider != provider) revert NotYourReplica(jobId, index);
        if (r.status != ReplicaStatus.Claimed) revert AlreadyCommitted(jobId, index);
        r.status = ReplicaStatus.Committed;
        _results[jobId][index] = commitment;
        j.committed += 1;
        emit Events.ResultCommitted(jobId, provider, index, commitment);
    }

    /// @dev The job, checked to accept reveals now.
    function _openReveals(uint256 jobId) internal view returns (Job storage j) {
        j = _jobs[jobId];
        if (j.state != JobState.Running) revert WrongState(jobId, j.state);
        if (j.committed < _popcount(j.selected) && block.timestamp <= j.commitDeadline) revert RevealNotOpen(jobId);
        if (block.timestamp > j.revealDeadline) revert RevealWindowClosed(jobId);
    }

    function _reveal(uint256 jobId, Job storage j, uint256 index, bytes32 resultRoot, uint64 workUnits, bytes32 salt)
        internal
    {
        Replica storage r = _replicas[jobId][index];
        if (r.status != ReplicaStatus.Committed) revert NotCommitted(jobId, index);
        address provider = r.provider;
        if (keccak256(abi.encode(resultRoot, workUnits, salt, provider)) != _results[jobId][index]) {
            revert CommitmentMismatch(jobId, index);
        }
        if (workUnits > j.maxWorkUnits) revert WorkUnitsOverMax(workUnits, j.maxWorkUnits);
        r.status = ReplicaStatus.Revealed;
        r.workUnits = workUnits;
        _results[jobId][index] = resultRoot;
        j.revealed += 1;
        emit Events.ResultRevealed(jobId, provider, index, resultRoot, workUnits);
    }

    /// @dev Settles a job as soon as every selected replica has revealed.
    function _settleIfComplete(uint256 jobId, Job storage j) internal {
        if (j.revealed == _popcount(j.selected)) _decide(jobId, j);
    }

    /// @dev Pays the majority, or refunds when nobody revealed, or opens a dispute.
    function _decide(uint256 jobId, Job storage j) internal {
        (bytes32 root, uint64 workUnits, uint256 votes) = _majority(jobId, j.selected);
        if (votes * 2 > j.replicas) {
            _settle(jobId, j, root, workUnits);
        } else if (j.revealed == 0) {
            _slashNoShows(jobId, j); // nobody revealed: every selected replica missed
            _refundAll(jobId, j);
        } else {
            j.state = JobState.Disputed;
            uint40 deadline = uint40(block.timestamp + disputeWindow);
            disputeDeadline[jobId] = deadline;
            emit Events.JobDisputed(jobId, deadline);
        }
    }

    /// @dev The (root, workUnits) pair revealed by most selected replicas, and its count.
    function _majority(uint256 jobId, uint256 selected)
        internal
        view
        returns (bytes32 bestRoot, uint64 bestUnits, uint256 bestVotes)
    {
        for (uint256 i; selected >> i != 0; ++i) {
            if ((selected >> i) & 1 == 0) continue;
            Replica memory r = _replicas[jobId][i];
            if (r.status != ReplicaStatus.Revealed) continue;
            bytes32 root = _results[jobId][i];
            uint256 votes = 1;
            for (uint256 m = i + 1; selected >> m != 0; ++m) {
                if ((selected >> m) & 1 == 0) continue;
                Replica memory o = _replicas[jobId][m];
                if (o.status == ReplicaStatus.Revealed && o.workUnits == r.workUnits && _results[jobId][m] == root) {
                    ++votes;
                }
            }
            if (votes > bestVotes) (bestRoot, bestUnits, bestVotes) = (root, r.workUnits, votes);
        }
    }

    /// @dev Pays every selected replica that revealed (root, workUnits), slashes every other
    /// selected replica, charges the fee on what was paid and refunds the rest of the escrow.
    function _settle(uint256 jobId, Job storage j, bytes32 root, uint64 workUnits) internal {
        uint256 pay = uint256(j.pricePerUnit) * workUnits;
        uint256 epoch = currentEpoch();
        uint256 paid;
        uint256 selected = j.selected;
        uint256 n = j.claimants;
        for (uint256 i; i < n; ++i) {
            Replica memory r = _replicas[jobId][i];
            _providers[r.provider].activeJobs -= 1;
            if ((selected >> i) & 1 == 0) continue;
            if (r.status == ReplicaStatus.Revealed && r.workUnits == workUnits && _results[jobId][i] == root) {
                paid += pay;
                _creditWork(r.provider, pay, epoch);
                Reputation storage rep = _reputations[r.provider];
                rep.completed += 1;
                rep.agreed += 1;
                emit Events.ReplicaPaid(jobId, r.provider, pay);
            } else {
                _slash(jobId, j.buyer, r.provider, r.status != ReplicaStatus.Revealed);
            }
        }
        (uint256 escrowPayment, uint256 escrowFee) = _escrowOf(j);
        uint256 fee = (paid * j.feeBps) / BPS;
        uint256 refund = escrowPayment + escrowFee - paid - fee;
        totalEscrow -= escrowPayment + escrowFee;
        totalBalances += escrowPayment + escrowFee;
        _accounts[treasury].balance += uint128(fee);
        if (refund != 0) _accounts[j.buyer].balance += uint128(refund);
        EpochTotals storage totals = _epochTotals[epoch];
        totals.paid += uint128(paid);
        totals.fees += uint128(fee);
        j.state = JobState.Finalized;
        emit Events.JobFinalized(jobId, root, workUnits, paid, fee, refund);
    }

    function _escrowOf(Job storage j) internal view returns (uint256 payment, uint256 fee) {
        payment = uint256(j.pricePerUnit) * j.maxWorkUnits * j.replicas;
        fee = (payment * j.feeBps) / BPS;
    }

    /// @dev Refunds the whole escrow and releases every claimant.
    function _refundAll(uint256 jobId, Job storage j) internal {
        uint256 n = j.claimants;
        for (uint256 i; i < n; ++i) {
            _providers[_replicas[jobId][i].provider].activeJobs -= 1;
        }
        (uint256 payment, uint256 fee) = _escrowOf(j);
        uint256 refund = payment + fee;
        totalEscrow -= refund;
        totalBalances += refund;
        _accounts[j.buyer].balance += uint128(refund);
        j.state = JobState.Refunded;
        emit Events.JobRefunded(jobId, refund);
    }

    /// @dev Slashes every selected replica that did not reveal: it missed a deadline.
    function _slashNoShows(uint256 jobId, Job storage j) internal {
        uint256 selected = j.selected;
        for (uint256 i; selected >> i != 0; ++i) {
            if ((selected >> i) & 1 == 0) continue;
            Replica memory r = _replicas[jobId][i];
            if (r.status != ReplicaStatus.Revealed) _slash(jobId, j.buyer, r.provider, true);
        }
    }

    function _slash(uint256 jobId, address buyer, address provider, bool missed) internal {
        Provider storage p = _providers[provider];
        uint256 amount = (uint256(p.stake) * slashBps) / BPS;
        Reputation storage rep = _reputations[provider];
        if (missed) rep.missed += 1;
        else rep.slashed += 1;
        if (amount == 0) return;
        p.stake -= uint120(amount);
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
        _reputations[provider].rewards += uint128(reward);
        epochRewards[epoch] += reward;
        emit Events.RewardsSettled(provider, epoch, reward);
    }

    function _popcount(uint32 x) internal pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) ++c;
    }
}
