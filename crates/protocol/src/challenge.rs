//! The terms of a device challenge (issue #23): how much of its declared memory a provider
//! fills, how long it has, and how many rows a checker re-runs. The engine computes the
//! challenge (`gpu_engine::workloads::challenge`); these numbers are the market's.

/// Share of the declared memory a challenge fills, in percent: the rest is the driver's and the
/// walk's working buffers. A provider declares the memory it offers to jobs, not more.
pub const FILL_PERCENT: u64 = 90;

/// Rows a checker re-runs, each at a sampled step. A prover that wrote a share `f` of its
/// (step, row) pairs wrong passes with probability `(1 - f)^SAMPLES`: 0.64% at `f` = 0.1, under
/// 10^-5 at `f` = 0.25.
pub const SAMPLES: usize = 48;

/// The deadline's slack over the time the declared rate needs, as a ratio: a device may run
/// this much slower than it declared (a busy host, clocks) and still answer.
pub const SLACK_NUM: u64 = 3;
pub const SLACK_DEN: u64 = 2;

/// Seconds added to every deadline for the chain and the host: reading the seed, allocating,
/// hashing the matrices, sending the answer.
pub const LATENCY_S: u64 = 120;

/// Host throughput a deadline counts on for hashing every matrix once (bytes per second): the
/// fill and the walk each hash their bytes on the CPU as they go (BLAKE3, one core). On a fast
/// GPU this term, not the GEMMs, sets the deadline (see `deadline_s`'s test).
pub const HASH_BYTES_PER_S: u64 = 1 << 30;

/// The class a provider's check is computed in: the fused class when it registered it (a device
/// that fuses proves both, for the unfused class is every conformant device's), else unfused.
pub fn class_for(registered: u8) -> crate::ReproClass {
    if crate::ReproClass::Fused.is_in(registered) { crate::ReproClass::Fused } else { crate::ReproClass::Unfused }
}

/// The bytes a provider that declared `memory_mib` fills.
pub fn fill_bytes(memory_mib: u32) -> u64 {
    u64::from(memory_mib) * (1 << 20) * FILL_PERCENT / 100
}

/// Seconds a provider that declared `gflops` has to answer a challenge of `flops` that hashes
/// `hashed_bytes`: the slack times what the declared rate and the hashing need, plus the latency.
pub fn deadline_s(flops: u64, hashed_bytes: u64, gflops: u32) -> u64 {
    let compute = flops.div_ceil(u64::from(gflops.max(1)) * 1_000_000_000);
    let hashing = hashed_bytes.div_ceil(HASH_BYTES_PER_S);
    (compute + hashing).saturating_mul(SLACK_NUM).div_ceil(SLACK_DEN).saturating_add(LATENCY_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_h100_fills_72_gib_and_has_minutes_not_hours() {
        assert_eq!(fill_bytes(81_920), 81_920 * (1 << 20) * 9 / 10);
        // 1,152 blocks of 4096² (`ChallengeSpec::for_fill`) and as many walk steps: 2,303 GEMMs
        // of 137 GFLOP and the walk's additions; 2,304 matrices of 64 MiB hashed.
        let (m, blocks) = (4096u64, 1152u64);
        assert_eq!(fill_bytes(81_920) / (4 * m * m), blocks);
        let flops = (2 * blocks - 1) * 2 * m * m * m + blocks * 8 * m * m;
        let hashed = 2 * blocks * 4 * m * m;
        // 13 s of GEMMs at the declared rate and 144 s of hashing, times 1.5, plus 120 s: the
        // contract's `deviceCheckDeadline(81920, 24907)` (DeviceChecks.t.sol) says the same.
        assert_eq!(deadline_s(flops, hashed, 24_907), 356);
        // 1 GiB declared at 50 GFLOP/s: 3,686 blocks of 256² (the bench's shape on llvmpipe).
        let (m, blocks) = (256u64, 3686u64);
        assert_eq!(fill_bytes(1024) / (4 * m * m), blocks);
        let flops = (2 * blocks - 1) * 2 * m * m * m + blocks * 8 * m * m;
        assert_eq!(deadline_s(flops, 2 * blocks * 4 * m * m, 50), 131);
        assert_eq!(deadline_s(flops, 0, 0), deadline_s(flops, 0, 1), "a zero rate is read as 1");
        assert!(deadline_s(u64::MAX, u64::MAX, 1) > 10u64.pow(10), "no overflow at the extremes");
    }
}
