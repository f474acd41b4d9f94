// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice Lifecycle of a provider in the registry.
enum ProviderStatus {
    None, // never registered, or fully withdrawn
    Active, // may claim jobs
    Unstaking // cooling down: claims no new jobs, can still be slashed
}

/// @notice Lifecycle of a job. Terminal states: Finalized, Refunded, Resolved.
/// Open --(claim deadline, claimants)--> Running --(all revealed | reveal deadline)--> Finalized | Disputed
/// Open --(claim deadline, no eligible claimant)--> Refunded
/// Disputed --(arbiter)--> Resolved;  Disputed --(dispute deadline)--> Finalized (the challenged
/// majority stands, or without one every revealer is paid its lowest reported work)
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
    uint32 agreed; // times it was in the agreeing majority (and paid); kept after unstaking
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
    uint32 slashed; // times it was slashed for a dissenting result or a claim that did not fit
    uint32 missed; // deadlines missed while selected
    uint128 rewards; // rewards (the fee rebate, payment token) settled and not yet claimed
    uint32 left; // jobs it left as a selected replica before committing (see `leaveJob`)
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
    uint96 pricePerUnit; // payment-token base units per work unit
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

/// @notice A job in dispute, one slot.
struct Dispute {
    uint40 deadline; // after it, anyone may end the dispute (see `expireDispute`)
    uint96 bond; // payment token the buyer put up to challenge; 0 when the replicas disagreed
    bool challenged; // opened by the buyer's challenge (else: the replicas had no majority)
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
