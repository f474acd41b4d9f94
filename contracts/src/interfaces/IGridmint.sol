// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {GridToken} from "../tokens/GridToken.sol";
import {
    Account,
    DeviceCheck,
    Dispute,
    DisputePhase,
    Job,
    JobParams,
    JobState,
    JurySeat,
    Provider,
    Reputation,
    Requirements,
    Reveal,
    SignedCommit,
    Trail
} from "../libraries/Types.sol";

/// @notice Every state transition of the protocol.
interface IGridmintEvents {
    event ProviderRegistered(
        address indexed provider,
        bytes32 deviceModelHash,
        uint32 memoryMiB,
        uint32 computeUnits,
        uint16 region,
        uint8 classes,
        uint256 stake
    );
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event UnstakeRequested(address indexed provider, uint256 unstakeAt);
    event StakeWithdrawn(address indexed provider, uint256 amount);
    event PayoutChangeRequested(address indexed provider, address payout, uint256 effectiveAt);
    event PayoutChanged(address indexed provider, address payout);
    /// @notice Where a provider's node takes peer-to-peer requests (an iroh endpoint id, derived
    /// from its wallet key): a court's jurors fetch a disputed job's data from its replicas there.
    event PeerAnnounced(address indexed provider, bytes32 peer);
    /// @notice A registered provider declared another region (its owner moved the machine, or
    /// corrected the setting).
    event RegionChanged(address indexed provider, uint16 region);
    /// @notice A device check opened: the hash of block `seedBlock` seeds the challenge, answered by
    /// `deadline`, for the figures the provider declared.
    event DeviceCheckOpened(
        address indexed provider,
        uint256 seedBlock,
        uint256 deadline,
        uint32 memoryMiB,
        uint32 computeUnits,
        uint8 classes
    );
    /// @notice The provider answered its check with `root`; the hash of block `answerBlock` seeds
    /// the sampled rows and the draw of the jury (case `caseId` in the jury's calls), which votes
    /// by `juryDeadline`.
    event DeviceCheckAnswered(
        address indexed provider, uint256 caseId, bytes32 root, uint256 answerBlock, uint256 juryDeadline
    );
    /// @notice The jury found the sampled rows right: the provider is verified; its next check is
    /// due at `nextDueAt`.
    event DeviceCheckPassed(address indexed provider, uint256 nextDueAt);
    /// @notice No answer by the deadline (`answered` false: the provider is unverified, a miss
    /// counted), or more than half the jury found a sampled row wrong (slashed too,
    /// `ProviderSlashed` under the case id).
    event DeviceCheckFailed(address indexed provider, bool answered);
    /// @notice No side had more than half the seats: nothing changes but the next due time.
    event DeviceCheckVoid(address indexed provider);

    event JobPosted(
        uint256 indexed jobId,
        address indexed buyer,
        bytes32 specHash,
        bytes32 dataRoot,
        bytes32 dataPeer,
        Requirements requirements,
        uint8 replicas,
        uint96 pricePerUnit,
        uint64 maxWorkUnits,
        uint40 claimDeadline,
        uint40 commitDeadline,
        uint40 revealDeadline,
        uint256 escrow
    );
    /// @notice `weight` is the claim's weight in the draw of the replicas, fixed now (see `claim`).
    event JobClaimed(uint256 indexed jobId, address indexed provider, uint256 index, uint128 weight);
    event ReplicasSelected(uint256 indexed jobId, uint32 selectedMask, uint256 seed);
    /// @notice A selected replica's provider left the job before committing (see `leaveJob`).
    event ReplicaLeft(uint256 indexed jobId, address indexed provider, uint256 index);
    event ResultCommitted(uint256 indexed jobId, address indexed provider, uint256 index, bytes32 commitment);
    event ResultRevealed(uint256 indexed jobId, address indexed provider, uint256 index, bytes32 resultRoot, uint64 workUnits);
    event ProviderSlashed(uint256 indexed jobId, address indexed provider, uint256 amount, bool missedDeadline);
    /// @notice Bit i of `paidMask`: claimant i was paid `paid / popcount(paidMask)` (price × workUnits).
    event JobFinalized(
        uint256 indexed jobId,
        bytes32 resultRoot,
        uint64 workUnits,
        uint32 paidMask,
        uint256 paid,
        uint256 fee,
        uint256 refund
    );
    /// @notice A challenge (or replicas without a majority) put the job in the court. `challenger`
    /// is the challenging replica's claimant index, 255 for the buyer, 254 when the replicas had
    /// no majority; `bond` what the challenger put up.
    event JobDisputed(uint256 indexed jobId, uint8 challenger, uint256 bond);
    /// @notice The challenge bond went back to the challenger, or was `forfeited` to the jurors
    /// of the majority and the replicas of the claim it challenged, which won.
    event ChallengeBondReleased(uint256 indexed jobId, bool forfeited, uint256 amount);
    /// @notice A game of the court: claimant `defender`'s claim (root, work units) against
    /// `challenger` (claimant index, or 255: the buyer). The defender opens its trace by `deadline`.
    event GameStarted(
        uint256 indexed jobId, uint256 defender, uint8 challenger, bytes32 resultRoot, uint64 workUnits, uint40 deadline
    );
    event TraceOpened(uint256 indexed jobId, bytes32 traceRoot, uint64 flops, uint32 steps, uint40 deadline);
    /// @notice The defender split the node at (`depth`, `position`) into its parts
    /// `levelsPerMove` levels down (hashes and flops); the challenger picks one.
    event NodeSplit(
        uint256 indexed jobId, uint8 depth, uint32 position, bytes32[] parts, uint64[] partFlops, uint40 deadline
    );
    /// @notice The challenger disputes the node at (`depth`, `position`): the defender splits it
    /// next, or at depth 0 opens the step.
    event PartPicked(uint256 indexed jobId, uint8 depth, uint32 position, uint40 deadline);
    /// @notice The step in dispute, as the defender's trace has it. Members of the jury pool that
    /// are not parties re-run it and commit their votes until `deadline`, then reveal them for
    /// one move window; the hash of this block seeds the draw.
    event LeafOpened(
        uint256 indexed jobId, uint32 step, uint64 flops, uint32 prev, bytes32 inHash, bytes32 outHash, uint40 deadline
    );
    /// @notice A provider joined the jury pool (or refreshed its entry), with `stake` as its weight.
    event JuryPoolJoined(address indexed provider, uint96 stake);
    event JuryPoolLeft(address indexed provider);
    /// @notice Nobody took a seat within 256 blocks of the leaf: `seedBlock` seeds the draw now.
    event JuryReseeded(uint256 indexed jobId, uint256 seedBlock);
    /// @notice `juror` took `seat` with its ticket for that seat and committed its vote.
    event VoteCommitted(uint256 indexed jobId, uint256 seat, address indexed juror, uint64 ticket);
    /// @notice A better ticket took `seat` from `juror` (released, not slashed).
    event JurorUnseated(uint256 indexed jobId, uint256 seat, address indexed juror);
    /// @notice `output` is the juror's answer for the step (`voteDigest`); `agrees`: it is the defender's.
    event VoteRevealed(uint256 indexed jobId, uint256 seat, address indexed juror, bytes32 output, bool agrees);
    event JurorSlashed(uint256 indexed jobId, address indexed juror, uint256 amount, bool missed);
    event GameDecided(uint256 indexed jobId, bool defenderWon, uint8 votesFor, uint8 votesAgainst);
    /// @notice The challenging replica `from` let its pick's deadline pass: `to`, a later
    /// replica of the same claim, steers for it until `deadline` (`from`'s miss is counted).
    event SteererReplaced(uint256 indexed jobId, address indexed from, address indexed to, uint40 deadline);
    /// @notice One claim is left that the buyer has not contested: it may challenge it until
    /// `deadline` (`challengeSurvivor`), then anyone settles it (`advanceDispute`).
    event SurvivorChecking(uint256 indexed jobId, uint40 deadline);
    event JobRefunded(uint256 indexed jobId, uint256 refund);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event FeesCollected(address indexed treasury, uint256 fromEpoch, uint256 toEpoch, uint256 amount);
    event StakeTokenWithdrawn(address indexed account, uint256 amount);

    event RewardsSettled(address indexed provider, uint256 indexed epoch, uint256 amount);
    /// @notice A claimant whose registration did not meet the job's requirements was slashed at
    /// the draw: it took a claim slot it could not use.
    event UnfitClaimSlashed(uint256 indexed jobId, address indexed provider, uint256 amount);
    event RewardsClaimed(address indexed provider, address indexed to, uint256 amount);
}

/// @notice Every way a call to the market fails.
interface IGridmintErrors {
    // Registry
    error AlreadyRegistered(address provider);
    error NotRegistered(address provider);
    error StakeTooLow(uint256 stake, uint256 required);
    error InvalidHardware();
    error InvalidRegion(uint16 region);
    error InvalidPeer();
    error NotUnstaking(address provider);
    error CooldownActive(uint256 until);
    error HasActiveJobs(uint256 count);
    error DeviceCheckOpen(address provider);
    error DeviceCheckNotDue(address provider, uint256 dueAt);
    error NoDeviceCheck(address provider);
    error DeviceCheckNotSeeded(address provider);
    error NoPendingPayout(address provider);
    error PayoutNotYetEffective(uint256 effectiveAt);
    error ZeroAddress();
    error ZeroAmount();

    // Market
    error InvalidReplicas(uint256 replicas);
    error ZeroPrice();
    error ZeroWorkUnits();
    error BadDeadlines();
    /// A commit or reveal window shorter than the market's minimum for the job's replicas.
    error WindowTooShort(uint256 window, uint256 minimum);
    /// A provider claims jobs in the order of their ids, each at most once.
    error ClaimOutOfOrder(uint256 jobId, uint256 lastClaimed);
    error UnknownJob(uint256 jobId);
    error WrongState(uint256 jobId, JobState state);
    error ClaimWindowClosed(uint256 jobId);
    error ClaimWindowOpen(uint256 jobId);
    error TooManyClaimants(uint256 jobId);
    error NotEligible(uint256 jobId, address provider);
    error NotSelected(uint256 jobId, uint256 index);
    error NotYourReplica(uint256 jobId, uint256 index);
    error AlreadyCommitted(uint256 jobId, uint256 index);
    error CommitWindowClosed(uint256 jobId);
    error RevealNotOpen(uint256 jobId);
    error RevealWindowClosed(uint256 jobId);
    error NotCommitted(uint256 jobId, uint256 index);
    error CommitmentMismatch(uint256 jobId, uint256 index);
    error BadCommitSignature(uint256 jobId, uint256 index);
    error NotFinalizable(uint256 jobId);
    /// The trail passed does not hash to the job's trail: rebuild it from the job's events.
    error TrailMismatch(uint256 jobId);
    error NotBuyer(uint256 jobId, address caller);
    /// Only the buyer, or a selected replica whose revealed claim is not the majority's, challenges.
    error CannotChallenge(uint256 jobId, address caller);
    error WrongPhase(uint256 jobId, DisputePhase phase);
    /// The move's deadline passed: the game is moved on by `advanceDispute`.
    error MoveTooLate(uint256 jobId);
    error NotYourMove(uint256 jobId);
    /// What was opened does not hash to what the defender committed.
    error TraceMismatch(uint256 jobId);
    /// The parties passed are not the job's buyer and claimants.
    error JuryMismatch(uint256 jobId);
    /// The draw's seed is the hash of the leaf's block (or a reseed's): commit from the next block on.
    error JuryNotSeeded(uint256 jobId);
    /// The seat is held by a better (lower) ticket for it (`held`).
    error TicketTooLow(uint256 jobId, uint64 ticket, uint64 held);
    error NotJuror(uint256 jobId, uint256 seat);
    error VoteMismatch(uint256 jobId, uint256 seat);
    error ChallengeIncomplete(uint256 jobId);
    error ChallengeWindowClosed(uint256 jobId);
    error DisputeOpen(uint256 jobId);
    error NothingToWithdraw();

    // Admin
    error NotGovernor(address caller);
    error InvalidParameter(string name);
    /// A cold-path call made at the extension's own address instead of the market's.
    error OnlyThroughMarket(address market);

    // Raised inside the OpenZeppelin libraries the market uses (declared here so that clients
    // decode them too): a token transfer that failed, a commitment signature that does not parse.
    error SafeERC20FailedOperation(address token);
    error ECDSAInvalidSignature();
    error ECDSAInvalidSignatureLength(uint256 length);
    error ECDSAInvalidSignatureS(bytes32 s);
}

/// @title The market's hot path
/// @notice What a job's life calls: post, claim, select, commit, reveal, challenge, finalize, and
/// withdrawing earnings. Implemented by `Gridmint` itself, so none of it pays for a delegation.
interface IGridmintMarket {
    /// @notice Escrow a job needs: payment for k replicas at the maximum work, plus the fee. A
    /// price is in millionths of a payment-token base unit per work unit (10^9 operations); a
    /// replica's pay is rounded up to a whole base unit.
    function escrowFor(uint96 pricePerUnit, uint64 maxWorkUnits, uint8 replicas)
        external
        view
        returns (uint256 payment, uint256 fee);

    /// @notice Posts a job and escrows its payment for `replicas` providers plus the fee. The
    /// commit and reveal windows are each at least `minStepWindow × (replicas + 1)` seconds: time
    /// for every replica's transaction, so a buyer cannot post deadlines honest replicas must miss.
    /// @return jobId the new job's id (ids start at 1).
    function postJob(JobParams calldata p) external returns (uint256 jobId);

    /// @notice Claims a place among the candidates of an open job: any active, fully staked
    /// provider may claim, once per job (claims go in job-id order); whether it meets the job's
    /// requirements is checked when the replicas are selected, where a claim that does not fit
    /// is never selected and is slashed (see `UnfitClaimSlashed`): check `isEligible` first. The claim's weight in the
    /// draw is fixed now, from the provider's registration: `claimWeightOf` (stake added later
    /// does not weigh). After the claim window, k of the eligible claimants are
    /// drawn with the randomness of the block that selects them, which no claimant knows when it
    /// claims.
    /// @return index the claimant index, used in commit and reveal.
    function claim(uint256 jobId) external returns (uint256 index);

    /// @notice Closes the claim window: selects the k replicas among the eligible claimants (all
    /// of them if no more claimed) and starts the job, or refunds it if none is eligible; slashes
    /// the claimants whose registration does not meet the job's requirements. Anyone
    /// may call it once the claim deadline has passed; the first commit does it too. Claimants
    /// call it before committing, so that a claimant who is not selected learns it from the job
    /// without a reverted commit undoing the selection.
    function selectReplicas(uint256 jobId, Trail calldata t) external;

    /// @notice Commits `keccak256(abi.encode(resultRoot, workUnits, salt, provider))` for the
    /// caller's replica. The first commit after the claim window selects the replicas.
    function commit(uint256 jobId, uint256 index, bytes32 commitment, Trail calldata t) external;

    /// @notice Commits for several replicas in one transaction, each signed by its provider:
    /// providers exchange signed commitments off chain and any one of them (or the buyer) submits
    /// them together. A signature binds the chain, this market, the job and the replica.
    function commitSigned(uint256 jobId, Trail calldata t, SignedCommit[] calldata commits) external;

    /// @notice What a provider signs to have its commitment submitted by someone else.
    function commitDigest(uint256 jobId, uint256 index, bytes32 commitment) external view returns (bytes32);

    /// @notice Reveals a committed result. Anyone may reveal, since the commitment binds the
    /// provider; open once every selected replica committed or the commit deadline passed, so
    /// nobody can copy a revealed root into a late commitment. A work-unit count over the job's
    /// maximum counts as the maximum. The reveal that completes the job settles it when the buyer
    /// sends it (the buyer accepts); otherwise the buyer checks and then settles with `finalize`
    /// or challenges, and anyone may settle after the check window (see `finalize`).
    function reveal(uint256 jobId, uint256 index, bytes32 resultRoot, uint64 workUnits, bytes32 salt, Trail calldata t)
        external;

    /// @notice Reveals several replicas in one transaction (see `reveal`).
    function revealBatch(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external;

    /// @notice A challenge: reveals the remaining replicas like `revealBatch` (or none, when the
    /// chain has them all: a challenge needs nothing the providers keep), but the job goes to the
    /// court (`IGridmintCourt`) instead of settling by majority. The buyer challenges when its own
    /// re-execution of a sample disagrees with what the replicas agree on (or no replica delivered
    /// a result it can check); a selected replica whose revealed claim is not the majority's
    /// challenges the majority. Once every selected replica revealed or the reveal deadline
    /// passed with at least one reveal, and until the check window ends. Pulls a bond of
    /// `challengeBondBps` of the job's escrow: returned if the challenged claim loses its game,
    /// forfeited to the majority of the jury and the claim's replicas if it wins.
    function challenge(uint256 jobId, Trail calldata t, Reveal[] calldata reveals) external;

    /// @notice Moves a job on once its deadlines allow: refunds a job nobody (eligible) claimed;
    /// settles a running job (pays the majority of the selected replicas, slashes dissenters and
    /// no-shows, refunds unused escrow) or opens a dispute when there is no majority. The buyer may
    /// settle once every selected replica revealed or the reveal deadline passed; anyone else
    /// once the buyer's check window after the reveal deadline is over.
    function finalize(uint256 jobId, Trail calldata t) external;

    /// @notice Sends the caller's payment-token balance to its payout address.
    function withdraw() external;

    /// @notice The contract that serves every call not on the hot path (`IGridmintExtension`),
    /// run in the market's own storage.
    function extension() external view returns (address);
}

/// @title The market's cold paths
/// @notice The provider registry and stake, dispute resolution, fees and rewards, and every
/// view. Implemented by `GridmintExtension`; called at the market's address, which delegates
/// them there.
interface IGridmintExtension {
    // --- Registry and stake -----------------------------------------------------------------

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
    ) external;

    /// @notice Adds stake (also after a slash, to become eligible again).
    function addStake(uint96 amount) external;

    /// @notice Starts the cool-down: no new claims; slashing still applies until withdrawal.
    function requestUnstake() external;

    /// @notice Withdraws the whole stake once the cool-down is over and no claimed job is open.
    function withdrawStake() external;

    /// @notice Asks for a new payout address; it takes effect after `payoutDelay`.
    function requestPayoutChange(address payout) external;

    /// @notice Applies a requested payout address after its delay. Anyone may call it.
    function applyPayoutChange(address provider) external;

    /// @notice A registered provider tells where its node takes peer-to-peer requests (the last
    /// announcement counts). Nothing is stored: clients read the event.
    function announcePeer(bytes32 peer) external;

    /// @notice A registered provider declares the region its machine is in (0..31; 0: not said),
    /// as `register` took it. Claims already made are checked against the new region when their
    /// job's replicas are drawn, so it is refused while the provider holds claims (`HasActiveJobs`).
    function setRegion(uint16 region) external;

    function providerOf(address provider) external view returns (Provider memory);
    function payoutOf(address account) external view returns (address);
    function reputationOf(address provider) external view returns (Reputation memory);

    /// @notice Reputation in basis points: agreements over all graded outcomes, where a slash
    /// weighs four, a missed deadline two and a job left one. 0 without history.
    function reputationScore(address provider) external view returns (uint256);

    /// @notice What a claim by `provider` would weigh now in the draw of a job's replicas:
    /// `min(stake, 4 × minStakePerUnit × computeUnits) × (8 + min(agreed, 8)) / (8 + 4 × slashes)`
    /// (`ReplicaDraw.claimWeight`). The market fixes it when the provider claims (`JobClaimed`).
    function claimWeightOf(address provider) external view returns (uint128);

    /// @notice Whether `provider` may claim a job with these requirements now (and not be slashed
    /// for the claim at the draw).
    function isEligible(address provider, Requirements memory req) external view returns (bool);

    function deviceModelOf(address provider) external view returns (bytes32);
    function pendingPayout(address provider) external view returns (address);
    function pendingPayoutAt(address provider) external view returns (uint256);

    // --- Replicas ---------------------------------------------------------------------------

    /// @notice A selected replica that cannot run the job (its data never arrived or does not
    /// match the root, the model is missing, the device failed) leaves it before committing,
    /// without a slash: a missed deadline proves nothing about honesty. The job goes on with the
    /// other replicas (the majority is counted among those still selected), or is refunded when
    /// none is left. Counted in the provider's reputation (`left`).
    function leaveJob(uint256 jobId, uint256 index, Trail calldata t) external;

    // --- Fees and rewards -------------------------------------------------------------------

    /// @notice Sends the protocol fees of up to `epochs` finished epochs, oldest first, to the
    /// treasury, less each epoch's rebate (its reward pool). Anyone may call it.
    function collectFees(uint256 epochs) external;

    /// @notice The treasury's share of the fees paid and not yet sent to it (the current epoch's
    /// included).
    function uncollectedFees() external view returns (uint256 amount);

    /// @notice Sends the caller's protocol-token credit from slashes.
    function withdrawStakeCredit() external;

    /// @notice Settles the caller's share of finished epochs' reward pools and sends its rewards
    /// (payment token) to its payout address.
    function claimRewards() external;

    function currentEpoch() external view returns (uint256);

    /// @notice The rewards of `epoch`: `rebateBps` of its fees, shared by the providers paid in it
    /// in proportion to their pay (so each gets rebateBps × feeBps of its own pay, and a fee paid
    /// to oneself never comes back whole).
    function rewardPool(uint256 epoch) external view returns (uint256);

    /// @notice Payment providers earned in `epoch` (the basis of its rewards).
    function epochPaid(uint256 epoch) external view returns (uint256);

    /// @notice Protocol fees paid in `epoch` (its reward pool is `rebateBps` of them).
    function epochFees(uint256 epoch) external view returns (uint256);

    /// @notice Payment token settled as rewards per epoch (≤ its reward pool).
    function epochRewards(uint256 epoch) external view returns (uint256);

    /// @notice Protocol-token credit from slashes (buyers, treasury), withdrawable.
    function stakeCredit(address account) external view returns (uint256);

    // --- Jobs and accounts ------------------------------------------------------------------

    function jobOf(uint256 jobId) external view returns (Job memory);

    /// @notice The job's trail hash while it runs (see `Trail`); the paid result root after.
    function trailOf(uint256 jobId) external view returns (bytes32);

    function accountOf(address account) external view returns (Account memory);

    /// @notice The result root a settled job paid for (zero for a job not settled by agreement).
    function agreedRoot(uint256 jobId) external view returns (bytes32);

    /// @notice The commitment a provider submits, for off-chain use.
    function commitmentOf(bytes32 resultRoot, uint64 workUnits, bytes32 salt, address provider)
        external
        pure
        returns (bytes32);

    /// @notice Jobs posted so far.
    function jobCount() external view returns (uint64);

    /// @notice Payment token held for open jobs.
    function totalEscrow() external view returns (uint96);

    /// @notice Payment token owed: account balances and uncollected fees.
    function totalBalances() external view returns (uint96);

    /// @notice Epochs [0, feesCollectedThrough) have had their protocol fees sent to the treasury.
    function feesCollectedThrough() external view returns (uint256);

    /// @notice Protocol token staked.
    function totalStake() external view returns (uint256);

    /// @notice Protocol token owed from slashes.
    function totalStakeCredit() external view returns (uint256);

    // --- Parameters (fixed at deployment) ---------------------------------------------------

    function MAX_REPLICAS() external view returns (uint256);
    function MAX_CLAIMANTS() external view returns (uint256);
    function paymentToken() external view returns (IERC20);
    function stakeToken() external view returns (GridToken);
    function treasury() external view returns (address);
    /// @notice The dispute court the extension delegates to (`IGridmintCourt`).
    function court() external view returns (address);
    function minStakePerUnit() external view returns (uint256);
    function unstakeCooldown() external view returns (uint32);
    function payoutDelay() external view returns (uint32);
    function moveWindow() external view returns (uint32);
    function levelsPerMove() external view returns (uint8);
    function jurySize() external view returns (uint8);
    function jurorShareBps() external view returns (uint16);
    function jurorSlashBps() external view returns (uint16);
    /// @notice Whether a job that asks for memory, compute or the fused class fits only verified
    /// providers (`IGridmintCourt.openDeviceCheck`).
    function verifiedMatching() external view returns (bool);
    function feeBps() external view returns (uint16);
    function slashBps() external view returns (uint16);
    function buyerSlashShareBps() external view returns (uint16);
    function epochLength() external view returns (uint32);
    function genesis() external view returns (uint256);
    function rebateBps() external view returns (uint16);
    function minStepWindow() external view returns (uint32);
    function checkWindow() external view returns (uint32);
    function challengeBondBps() external view returns (uint16);
    /// @notice The bond a challenge of `jobId` pulls from the buyer.
    function challengeBondOf(uint256 jobId, Trail calldata t) external view returns (uint256);
}

/// @title The dispute court
/// @notice Games between a claim and its challenger, decided by bisection to one step and a jury
/// that re-runs it (see `Court`). Implemented by `GridmintCourt`; called at the market's address,
/// which delegates them there (through the extension). Every move has a deadline (`moveWindow`);
/// past it, `advanceDispute` moves the game on and the side that had to move loses.
interface IGridmintCourt {
    /// @notice Opens a device check of `provider` (see `DeviceChecks`): the provider itself, at any
    /// time none is open; anyone else, once a verified provider's next check is due
    /// (`DeviceCheckNotDue`). The provider must answer (`answerDeviceCheck`) within
    /// `deviceCheckDeadline` of its figures, or lose its verification; its stake stays until the
    /// check ends.
    function openDeviceCheck(address provider) external;

    /// @notice The provider answers its open check with the Merkle root of its challenge's
    /// matrices (`gpu_engine::workloads::challenge`), after the opening block and by the deadline;
    /// a jury is then drawn to re-run sampled rows (`commitVote` and `revealVote` with the case id
    /// of `DeviceCheckAnswered`, parties `[provider]`, output `checkPassDigest(root)` when every
    /// sampled row holds); `closeDeviceCheck` ends it.
    function answerDeviceCheck(bytes32 root) external;

    /// @notice What a juror reveals when every sampled row of the answer `root` holds.
    function checkPassDigest(bytes32 root) external pure returns (bytes32);

    function deviceCheckOf(address provider) external view returns (DeviceCheck memory);

    /// @notice Seconds a provider declaring `memoryMiB` and `computeUnits` (GFLOP/s) has to answer.
    function deviceCheckDeadline(uint32 memoryMiB, uint32 computeUnits) external pure returns (uint256);

    /// @notice Ends a device check: after its deadline when unanswered (the provider is left
    /// unverified and a miss counted, no stake taken), else after the jury's reveals. More than half
    /// the seats voting that the sampled rows hold verify the provider (its next check due at a
    /// random time 0.5 to 1.5 days on); more than half voting that they do not slash it (the
    /// coherent jurors take `jurorShareBps`) and leave it unverified; otherwise the check is void
    /// (due again in half a day). Jurors against the verdict, or that did not reveal, are lightly
    /// slashed. Anyone may call it.
    function closeDeviceCheck(address provider) external;

    /// @notice The defender opens its committed root: `keccak256(abi.encode(traceRoot, flops,
    /// steps))`, with work units that are those flops (`WorkUnits::from_flops`), or fewer when
    /// capped at the job's maximum. Anyone holding the trace may send it.
    function openTrace(uint256 jobId, bytes32 traceRoot, uint64 flops, uint32 steps) external;

    /// @notice The defender splits the disputed node into its parts `levelsPerMove` levels down
    /// (fewer at the bottom of the tree): 2^levels hashes and their flops, left to right.
    function splitNode(uint256 jobId, bytes32[] calldata parts, uint64[] calldata partFlops) external;

    /// @notice The challenger (the buyer, or its replica that challenged) picks the part it
    /// disputes, passing back the parts of the defender's split (from its `NodeSplit` event: they
    /// are not stored).
    function pickPart(uint256 jobId, uint256 index, bytes32[] calldata parts, uint64[] calldata partFlops) external;

    /// @notice The defender opens the step in dispute: its leaf's preimage (all zero past the trace's end).
    function openLeaf(uint256 jobId, uint32 prev, bytes32 inHash, bytes32 outHash) external;

    /// @notice A registered, active provider enters the jury pool with its stake as its weight
    /// (again: refreshes its entry). It judges only steps opened in later blocks; adding stake
    /// refreshes the entry the same way. A member is never obliged to judge: it takes a seat by
    /// committing a vote.
    function joinJuryPool() external;

    function leaveJuryPool() external;

    /// @notice A member of the jury pool that is not a party (`parties`: the job's buyer, then its
    /// claimants in claim order) takes `seat` (below `jurySize`) with its ticket for that seat and
    /// commits `voteDigest(jobId, output, salt, juror)`, until the vote deadline: a free seat, or
    /// one whose holder's ticket is worse (the holder is released). Every seat is a race of its
    /// own, so a member may hold several (one vote each). Its stake stays locked until the game
    /// ends. False, taking no seat, when the draw was reseeded instead (nobody voted within 256
    /// blocks of the leaf).
    function commitVote(uint256 jobId, uint256 seat, bytes32 commitment, address[] calldata parties)
        external
        returns (bool seated);

    /// @notice What a juror commits to: its answer for the step,
    /// `keccak256(abi.encode(outHash, uint64 flops, uint32 steps))` of the output it computed, the
    /// step's flops from the shapes and the job's step count (all zero but `steps` past the last
    /// step). It also checks the defender's input before it runs the step: the package's for a
    /// step with `prev` 0, else the output of leaf `prev - 1` of the defender's tree, which the
    /// defender serves with its Merkle path; an input it cannot get or check is answered with any
    /// other hash.
    function voteDigest(uint256 jobId, bytes32 output, bytes32 salt, address juror) external pure returns (bytes32);

    /// @notice After the vote deadline, within one move window: the juror reveals its vote.
    function revealVote(uint256 jobId, uint256 seat, bytes32 output, bytes32 salt) external;

    /// @notice The buyer challenges the one claim left (`SurvivorChecking`), with a bond.
    function challengeSurvivor(uint256 jobId, Trail calldata t) external;

    /// @notice Moves the game on once its deadline passed: the side that had to move loses (a
    /// challenging replica that missed its pick hands the steering to the next replica of its
    /// claim first, in claim order; its claim loses when none is left); the
    /// jury's revealed votes decide (a tie leaves the defender standing); the claim left is
    /// settled (the buyer may settle it at once). Anyone may call it.
    function advanceDispute(uint256 jobId, Trail calldata t) external;

    function disputeOf(uint256 jobId) external view returns (Dispute memory);
    /// @notice The job's jury seats (`jurySize` of them; a free one's juror is zero), each with its
    /// holder's ticket for it.
    function juryOf(uint256 jobId) external view returns (JurySeat[] memory seats);
    /// @notice `juror`'s ticket for each seat of the job's current draw (lower is better) and
    /// whether it may take a seat (a pool member since before the seed's block, in standing, not
    /// the buyer; the claimants, and the vote's deadline, are checked by `commitVote`). Zeros and
    /// false outside a vote,
    /// before the seed's block has passed, and once its hash is gone with nobody seated (the
    /// next commitment reseeds).
    function juryTicketsOf(uint256 jobId, address juror)
        external
        view
        returns (uint64[] memory tickets, bool eligible);
    /// @notice The block `provider` joined the jury pool in (or last refreshed its entry); 0: not in it.
    function jurySinceOf(address provider) external view returns (uint256);
    /// @notice `keccak256(abi.encode(config))` of the config the court was built from.
    function configHash() external view returns (bytes32);
}

/// @title Gridmint
/// @notice The whole market at one address: the hot path (`IGridmintMarket`), the cold paths it
/// delegates (`IGridmintExtension`), the court they delegate in turn (`IGridmintCourt`), and every
/// event and error. Clients bind this interface.
interface IGridmint is IGridmintEvents, IGridmintErrors, IGridmintMarket, IGridmintExtension, IGridmintCourt {}
