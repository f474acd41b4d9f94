//! How long a job takes on a device: the estimate that a provider claims by (it never holds
//! more claimed work than it can finish before the deadlines), that a buyer sets deadlines by
//! (they follow from the work and the providers' measured speed, not from fixed seconds), and by
//! which a juror decides whether its re-run ends before the vote ([`Pace::compute`], without a
//! job's overhead).
//!
//! The model is `scale × (JOB_OVERHEAD_S + work / (gflops × WORK_EFFICIENCY))`:
//! - `gflops` is the device's measured deterministic GEMM rate, the compute units it registered
//!   with (see [`gridmint_runner::worker::DeviceFacts`]);
//! - `work` is the job's on-chain work units (10^9 floating-point operations, see
//!   [`crate::net::chain_work_units`]);
//! - `scale` is what this provider learned from the jobs it ran (1 before the first): a machine
//!   that is busy with other work, or slower than its benchmark, sees its jobs take longer than
//!   predicted and claims less from then on.
//!
//! A buyer knows no provider's `scale`; it sizes windows with [`DEADLINE_SAFETY`] on top.

use std::time::Duration;

/// Seconds a job costs besides its arithmetic: fetching the data from the buyer, loading the model,
/// building the pipelines (cached after the first run), sealing the result.
pub const JOB_OVERHEAD_S: f64 = 20.0;

/// The share of its GEMM rate a device sustains on a whole job (tokenizing, attention, small
/// matrices, reading back). Measured: all-MiniLM-L6-v2 on llvmpipe embeds at about half the GEMM
/// rate (bench/RESULTS.md); a quarter leaves room for other kinds.
pub const WORK_EFFICIENCY: f64 = 0.25;

/// How much longer than a device's estimate a buyer's commit window is.
pub const DEADLINE_SAFETY: f64 = 3.0;

/// The shortest commit window a buyer posts: chain latency, relays and a few polls.
pub const MIN_COMMIT_WINDOW_S: u64 = 120;

/// The longest: a job that needs more is split (shards) rather than held for days.
pub const MAX_COMMIT_WINDOW_S: u64 = 7 * 24 * 3600;

/// The bounds of a learned scale: no observation makes a provider think itself 10× faster than
/// its model, or more than 50× slower.
const SCALE_MIN: f64 = 0.1;
const SCALE_MAX: f64 = 50.0;

/// Weight of the newest observation in the learned scale.
const LEARNING_RATE: f64 = 0.5;

/// A device's pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    gflops: f64,
    scale: f64,
}

impl Pace {
    /// The model's pace for a device of `units` compute units (GEMM GFLOP/s), before it ran a job.
    pub fn for_units(units: u32) -> Self {
        Self { gflops: f64::from(units.max(1)), scale: 1.0 }
    }

    /// The same, with a scale learned earlier (see [`Pace::scale`]).
    pub fn with_scale(self, scale: f64) -> Self {
        Self { scale: if scale.is_finite() { scale.clamp(SCALE_MIN, SCALE_MAX) } else { 1.0 }, ..self }
    }

    /// What this device learned: measured time over the model's.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn model_s(&self, work_units: u64) -> f64 {
        JOB_OVERHEAD_S + work_units as f64 / (self.gflops * WORK_EFFICIENCY)
    }

    /// How long a job of `work_units` takes here, from fetching its data to a result.
    pub fn estimate(&self, work_units: u64) -> Duration {
        Duration::from_secs_f64((self.scale * self.model_s(work_units)).min(MAX_COMMIT_WINDOW_S as f64))
    }

    /// How long the arithmetic of `work_units` takes here, without a job's overhead (a juror's
    /// re-run of part of a job whose data it already has).
    pub fn compute(&self, work_units: u64) -> Duration {
        let s = self.scale * work_units as f64 / (self.gflops * WORK_EFFICIENCY);
        Duration::from_secs_f64(if s.is_finite() { s.min(MAX_COMMIT_WINDOW_S as f64) } else { 0.0 })
    }

    /// Learns from a job of `work_units` that took `took`.
    pub fn observe(&mut self, work_units: u64, took: Duration) {
        let ratio = took.as_secs_f64() / self.model_s(work_units);
        if ratio.is_finite() {
            let learned = (1.0 - LEARNING_RATE) * self.scale + LEARNING_RATE * ratio;
            self.scale = learned.clamp(SCALE_MIN, SCALE_MAX);
        }
    }
}

/// The commit window (seconds after the claim deadline) a buyer posts for `work_units` when the
/// replicas it needs are no faster than `units`: [`DEADLINE_SAFETY`] times the model's estimate,
/// within [`MIN_COMMIT_WINDOW_S`] and [`MAX_COMMIT_WINDOW_S`].
pub fn commit_window_s(work_units: u64, units: u32) -> u64 {
    let estimate = Pace::for_units(units).estimate(work_units).as_secs_f64();
    ((DEADLINE_SAFETY * estimate).ceil() as u64).clamp(MIN_COMMIT_WINDOW_S, MAX_COMMIT_WINDOW_S)
}

/// The compute units a buyer sizes its windows by: of the eligible providers' `units`, the
/// `replicas`-th fastest (so that enough of them can finish in time; slower ones decline by their
/// own estimate), or the slowest when fewer are eligible. `None` when none is.
pub fn reference_units(mut units: Vec<u32>, replicas: u8) -> Option<u32> {
    units.sort_unstable_by(|a, b| b.cmp(a));
    let k = usize::from(replicas.max(1));
    units.get(k - 1).or(units.last()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_takes_longer_on_a_slower_device_and_with_more_work() {
        let fast = Pace::for_units(10_000);
        let slow = Pace::for_units(50);
        assert!(slow.estimate(1_000) > fast.estimate(1_000));
        assert!(slow.estimate(10_000) > slow.estimate(1_000));
        // 1,000 GFLOP on 50 GFLOP/s at a quarter of it: 80 s, plus the overhead.
        assert_eq!(slow.estimate(1_000).as_secs(), 100);
        // A juror's re-run: the arithmetic alone, at the learned scale.
        assert_eq!(slow.compute(1_000).as_secs(), 80);
        assert_eq!(slow.with_scale(2.0).compute(1_000).as_secs(), 160);
        assert_eq!(slow.compute(0), Duration::ZERO, "a tiny step fits any vote");
    }

    #[test]
    fn a_loaded_machine_learns_it_is_slower_and_recovers() {
        let mut pace = Pace::for_units(60);
        let model = pace.estimate(3).as_secs_f64();
        for _ in 0..6 {
            pace.observe(3, Duration::from_secs_f64(model * 4.0));
        }
        assert!((pace.scale() - 4.0).abs() < 0.1, "{}", pace.scale());
        assert!(pace.estimate(3) > Duration::from_secs_f64(model * 3.9));
        for _ in 0..8 {
            pace.observe(3, Duration::from_secs_f64(model));
        }
        assert!((pace.scale() - 1.0).abs() < 0.05, "{}", pace.scale());
    }

    #[test]
    fn the_learned_scale_stays_bounded_whatever_is_observed() {
        let mut pace = Pace::for_units(1);
        pace.observe(1, Duration::ZERO);
        pace.observe(1, Duration::ZERO);
        pace.observe(1, Duration::ZERO);
        pace.observe(1, Duration::ZERO);
        pace.observe(1, Duration::ZERO);
        assert!(pace.scale() >= SCALE_MIN);
        pace.observe(1, Duration::from_secs(u64::MAX / 4));
        pace.observe(1, Duration::from_secs(u64::MAX / 4));
        pace.observe(1, Duration::from_secs(u64::MAX / 4));
        pace.observe(1, Duration::from_secs(u64::MAX / 4));
        assert!(pace.scale() <= SCALE_MAX);
        assert_eq!(Pace::for_units(1).with_scale(f64::NAN).scale(), 1.0);
        assert!(pace.estimate(u64::MAX).as_secs() <= MAX_COMMIT_WINDOW_S);
    }

    #[test]
    fn commit_windows_follow_the_work_and_the_speed() {
        assert_eq!(commit_window_s(3, 60), MIN_COMMIT_WINDOW_S, "small work: the floor");
        // 100,000 GFLOP on 50 GFLOP/s: 8,000 s of arithmetic, ×3.
        assert_eq!(commit_window_s(100_000, 50), 3 * (8_000 + 20));
        assert!(commit_window_s(100_000, 5_000) < commit_window_s(100_000, 50));
        assert_eq!(commit_window_s(u64::MAX, 1), MAX_COMMIT_WINDOW_S);
    }

    #[test]
    fn the_reference_is_the_kth_fastest_eligible_provider() {
        assert_eq!(reference_units(vec![10, 500, 60, 90], 1), Some(500));
        assert_eq!(reference_units(vec![10, 500, 60, 90], 3), Some(60));
        assert_eq!(reference_units(vec![10, 500], 3), Some(10), "fewer than k: the slowest");
        assert_eq!(reference_units(vec![], 3), None);
    }
}
