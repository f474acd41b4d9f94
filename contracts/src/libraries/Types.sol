// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice Lifecycle of a provider in the registry.
enum ProviderStatus {
    None, // never registered, or fully withdrawn
    Unstaking, // cooling down: claims no new jobs, can still be slashed
    Active, // may claim jobs
    Verified // Active, and its declared memory, compute and classes passed a device check (its
    // last one: a failed re-check makes it Active again); Active and Verified last, so that one
    // comparison tells both (`Settlement._active`)
}

/// @notice A provider's device check (`IGridmintCourt.openDeviceCheck`): a challenge seeded by
/// the hash of the block it was opened in, answered with a Merkle root by a deadline derived
/// from the declared figures, then judged by a jury that re-runs sampled rows. Two slots.
struct DeviceCheck {
    uint32 seedBlock; // the block the challenge was opened in (0: none open)
    uint40 deadline; // the answer is due by this time
    uint40 dueAt; // a verified provider's next check may be opened by anyone from this time on
    uint32 answerBlock; // the block the answer landed in: its hash draws the rows the jury samples
    bytes32 root; // the answer (0: not answered yet); the jury's case is `_CHECK_CASE | provider`
}

/// @notice Lifecycle of a job. Terminal states: Finalized, Refunded, Resolved.
/// Open --(claim deadline, claimants)--> Running --(all revealed | reveal deadline)--> Finalized | Disputed
/// Open --(claim deadline, no eligible claimant)--> Refunded
/// Disputed --(games: bisection to one step, a jury re-runs it)--> Finalized (the claim that
/// survives is paid) | Refunded (no claim survives)
/// `Resolved` is no longer reached (an arbiter settled disputes before the court); kept so the
/// numbering clients decode stays the same.
enum JobState {
    None,
    Open,
    Running,
    Disputed,
    Finalized,
    Refunded,
    Resolved
}

/// @notice A provider's node and its count of agreements, one storage slot.
struct Provider {
    uint96 stake; // protocol token, 18 decimals
    uint32 computeUnits; // benchmark score in standardized compute units
    uint32 memoryMiB; // device-local memory
    uint8 region; // region code, 0..31
    uint8 classes; // bitmask of workload classes it runs
    ProviderStatus status;
    uint8 activeJobs; // claims on jobs not yet ended: stake cannot leave while > 0
    /// Active: the last job it claimed (claims go in job order, so a provider claims a job at
    /// most once); Unstaking: the end of its cool-down. One field, since a provider is never both.
    uint32 lastJobOrUnstakeAt;
    uint24 agreed; // times it was in the agreeing majority (and paid), up to 2^24 - 1; kept after unstaking
    uint8 slashes; // times it was slashed (not for a miss), up to 255: lowers its claim weight; kept
}

/// @notice A provider's money, one slot.
struct Account {
    uint128 balance; // payment token, withdrawable to the payout address
    uint96 epochPaid; // payment earned in `epoch`, the basis of rewards
    uint32 epoch;
}

/// @notice A provider's offences and unclaimed rewards, one slot: written by slashes and reward
/// settlements only, never on the paid path of a job.
struct Record {
    uint32 slashed; // times it was slashed for a dissenting result, a claim that did not fit, a
    // claim that lost a court game, or a jury vote against the majority
    uint32 missed; // deadlines missed while selected, and jury seats not revealed
    uint128 rewards; // rewards (the fee rebate, payment token) settled and not yet claimed
    uint32 left; // jobs it left as a selected replica before committing (see `leaveJob`)
    uint32 jurySince; // in the jury pool since this block (0: not in it); it judges only steps
    // opened after this block (see `IGridmintCourt.commitVote`)
}

/// @notice A provider's reputation as `reputationOf` reports it.
struct Reputation {
    uint32 completed; // jobs finished and paid
    uint32 agreed; // times it was in the agreeing majority
    uint32 slashed;
    uint32 missed;
    uint128 rewards;
    uint32 left;
}

/// @notice What a job asks of a provider.
struct Requirements {
    uint32 minMemoryMiB;
    uint32 minComputeUnits;
    uint32 regionMask; // bit r set: region r allowed; 0 = anywhere
    uint8 workloadClass; // 0..7
}

/// @notice Parameters of a posted job.
struct JobParams {
    bytes32 specHash; // hash of the job manifest
    bytes32 dataRoot; // content address of the job data (BLAKE3 root)
    bytes32 dataPeer; // the buyer's peer-to-peer endpoint (an iroh endpoint id): where providers fetch the data
    Requirements requirements;
    uint8 replicas; // k
    uint96 pricePerUnit; // millionths of a payment-token base unit per work unit (`Settlement.PRICE_SCALE`)
    uint64 maxWorkUnits;
    uint40 claimDeadline;
    uint40 commitDeadline;
    uint40 revealDeadline;
}

/// @notice What a posted job fixes beyond its storage slot. Not stored: it travels in calldata
/// inside a `Trail`, bound by the job's trail hash (the `JobPosted` event carries it).
struct Terms {
    Requirements requirements;
    uint96 pricePerUnit;
    uint64 maxWorkUnits;
    uint40 commitDeadline;
    uint40 revealDeadline;
}

/// @notice A job, one slot. The rest of what the market must know of a job (its terms, who
/// claimed it, the commitments, the reveals) comes in calldata as a `Trail`, checked against the
/// job's trail hash; the spec hash and data root live in the `JobPosted` event only.
struct Job {
    address buyer;
    uint40 claimDeadline;
    uint8 replicas; // k
    JobState state;
    uint8 claimants;
    uint32 selected; // bit i set: claimant i is one of the k replicas (0 until selection)
}

/// @notice Where a dispute's current game stands (see `GridmintCourt`).
enum DisputePhase {
    None,
    Trace, // the defender opens its committed root: trace root, flops, steps
    Bisect, // descending the defender's trace tree: it splits the node, the challenger picks a half
    Leaf, // at one step: the defender opens the leaf (the step's input and output hashes)
    JuryVote, // members of the jury pool that are not parties re-run the step and commit (the
    // best tickets hold the seats), then reveal, its output hash
    Checking // one claim survives: its buyer may still challenge it, else anyone settles it
}

/// @notice A disputed job's game: one claim (root, work units) defends against a challenger (a
/// replica with another claim, or the buyer). Three slots and the jury's one; every phase has a deadline
/// after which anyone moves it on (`advanceDispute`).
struct Dispute {
    uint40 deadline; // the current phase ends; then the side that had to move loses
    uint96 bond; // payment token the challenger (the buyer or a dissenting replica) put up
    DisputePhase phase;
    uint8 defender; // claimant index of a replica whose claim defends
    uint8 challenger; // claimant index of a replica whose claim challenges, or 255: the buyer
    uint8 depth; // levels of the trace tree below the current node (0: a leaf, one step)
    uint32 position; // the current node's index in its level; at a leaf, the step
    uint32 eliminated; // claimants whose claim lost a game (already slashed)
    bool buyerLost; // the buyer challenged and lost: it cannot challenge again in this dispute
    bool challengerTurn; // Bisect: the defender has split the node, the challenger picks a half
    bool capped; // the defender's work units were capped at the job's maximum when revealed
    bytes32 node; // the defender's value at the current node: its result root (Trace), a tree node
    // (Bisect, Leaf), then its answer for the step (JuryVote):
    // keccak256(abi.encode(outHash, flops, steps)), what each juror computes for itself
    address steerer; // who moves for the challenger: the buyer, or the challenging replica
    uint64 nodeFlops; // floating-point operations under the current node (the tree sums them);
    // before the trace is opened, the work units the defender reported
    uint32 steps; // steps in the defender's trace
    JuryState jury; // the current game's jury
}

/// @notice A game's jury: who holds the seats, how they voted, the draw's randomness and who may
/// not judge. One slot.
struct JuryState {
    uint16 takenSeats; // bit s: seat s is held
    uint8 votesFor; // seats whose juror revealed the defender's output hash
    uint8 votesAgainst; // seats whose juror revealed another
    uint16 revealedSeats; // bit s: seat s revealed
    uint16 votedFor; // bit s: seat s revealed the defender's output hash
    uint32 seedBlock; // the block the leaf was opened in (or a reseed's): its hash is the draw's
    // seed, and only pool members that joined before it take part
    uint64 seed; // that hash (64 bits), kept at the first vote: a block hash is readable for 256
    // blocks only
    uint80 parties; // the first 80 bits of keccak256(abi.encode([buyer, claimants...])): the
    // job's parties, who never judge it (a second preimage of 80 bits is out of reach)
}

/// @notice A juror's seat: who holds it, and its ticket for that seat (`Jury`: the lower, the
/// better; a better ticket for the seat takes it).
struct JurySeat {
    address juror;
    uint64 ticket;
}

/// @notice A commitment in a job's trail.
struct Committed {
    uint256 index; // the claimant index
    bytes32 commitment;
}

/// @notice A reveal in a job's trail.
struct Revealed {
    uint256 index;
    bytes32 resultRoot;
    uint64 workUnits;
}

/// @notice A job's history, passed as calldata and checked against the job's trail hash:
/// `keccak256(abi.encode(jobId, terms))`, then one link per claimant `(hash, address, weight)`, per
/// commitment `(hash, index, commitment)` and per reveal `(hash, index, root, workUnits)`, in the
/// order of the `JobClaimed`, `ResultCommitted` and `ResultRevealed` events. Anyone rebuilds it
/// from the job's events; none of it costs storage.
struct Trail {
    Terms terms;
    address[] claimants; // in claim order: a claimant's index is its position
    uint128[] weights; // claimant i's selection weight, fixed when it claimed (see `Gridmint.claim`)
    Committed[] commits;
    Revealed[] reveals;
}

/// @notice A commitment signed by the replica's provider, so that one transaction can carry the
/// commitments of every replica (see `Gridmint.commitSigned`).
struct SignedCommit {
    uint256 index;
    bytes32 commitment;
    bytes signature; // the provider's EIP-191 signature of `Gridmint.commitDigest(jobId, index, commitment)`
}

/// @notice A reveal: anyone may submit it, since the commitment binds the provider's address.
struct Reveal {
    uint256 index;
    bytes32 resultRoot;
    uint64 workUnits;
    bytes32 salt;
}

/// @notice What one epoch's settled jobs paid providers and the protocol, one slot.
struct EpochTotals {
    uint128 paid;
    uint128 fees;
}
