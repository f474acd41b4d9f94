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
/// Open --(claim deadline, no claimant)--> Refunded
/// Disputed --(arbiter)--> Resolved;  Disputed --(dispute deadline)--> Refunded
enum JobState {
    None,
    Open,
    Running,
    Disputed,
    Finalized,
    Refunded,
    Resolved
}

/// @notice Lifecycle of one claim on a job.
enum ReplicaStatus {
    None,
    Claimed, // claimed; selected or not is in the job's selection mask
    Committed,
    Revealed
}

/// @notice A provider's node, one storage slot.
struct Provider {
    uint120 stake; // protocol token, 18 decimals
    uint32 computeUnits; // benchmark score in standardized compute units
    uint32 memoryMiB; // device-local memory
    uint16 region; // region code, 0..31
    uint8 classes; // bitmask of workload classes it runs
    ProviderStatus status;
    uint8 activeJobs; // jobs claimed and not yet settled: stake cannot leave while > 0
    uint32 unstakeAt; // end of the cool-down
}

/// @notice A provider's money and record, one slot each.
struct Account {
    uint128 balance; // payment token, withdrawable to the payout address
    uint96 epochPaid; // payment earned in `epoch`, the basis of rewards
    uint32 epoch;
}

struct Reputation {
    uint32 completed; // jobs finished and paid
    uint32 agreed; // times it was in the agreeing majority
    uint32 slashed; // times it was slashed for a dissenting result
    uint32 missed; // deadlines missed while selected
    uint128 rewards; // protocol-token rewards settled and not yet claimed
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
    Requirements requirements;
    uint8 replicas; // k
    uint96 pricePerUnit; // payment-token base units per work unit
    uint64 maxWorkUnits;
    uint40 claimDeadline;
    uint40 commitDeadline;
    uint40 revealDeadline;
}

/// @notice A job, three slots. The spec hash and data root live in the `JobPosted` event only:
/// nothing on chain reads them, and each would cost a storage slot per job.
struct Job {
    // slot 0
    address buyer;
    uint40 claimDeadline;
    uint40 commitDeadline;
    uint8 replicas;
    JobState state;
    // slot 1
    uint96 pricePerUnit;
    uint64 maxWorkUnits;
    uint40 revealDeadline;
    uint8 claimants;
    uint8 committed;
    uint8 revealed;
    uint32 selected; // bit i set: claimant i is one of the k replicas (0 until selection)
    // slot 2
    Requirements requirements;
    uint16 feeBps; // protocol fee in force when posted
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

/// @notice One claim on a job, one slot.
struct Replica {
    address provider;
    ReplicaStatus status;
    uint64 workUnits; // as revealed
}
