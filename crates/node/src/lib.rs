//! The Gridmint node: the one API that the desktop agent (`crates/agent`) and the CLI (`gridmint`)
//! both call. Wire types from `gridmint-protocol` are produced at this edge; the engine's and the
//! chain's own types stay inside.
//!
//! Nothing below this crate looks up directories or the clock by itself: [`Paths`] is resolved once
//! by the binary and passed in.

pub mod buyer;
pub mod chain;
pub mod court;
pub mod devnet;
pub mod earnings;
pub mod electricity;
pub mod error;
pub mod judge;
pub mod net;
pub mod pace;
pub mod provider;
pub mod settings;
pub mod spot;
pub mod store;
pub mod wallet;

pub use error::NodeError;
pub use gridmint_chain::JobState;
use gridmint_runner::{self as runner, bench, hardware};
// The app's folders, logging and the control socket live in `gridmint-home` (the window links
// that crate alone); re-exported so the node's callers keep one import path.
pub use gridmint_home::control;
pub use gridmint_home::{Paths, logging, paths};

use std::path::Path;

use gridmint_protocol::{BenchmarkReport, DeterminismCase, HardwareReport, RunReport};

/// A node on this machine. Cheap to create; each call opens what it needs.
#[derive(Debug, Clone)]
pub struct Node {
    paths: Paths,
}

impl Node {
    pub fn new(paths: Paths) -> Self {
        Self { paths }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The compute devices Vulkan finds and the host they sit in.
    pub fn hardware_report(&self) -> Result<HardwareReport, NodeError> {
        Ok(hardware::report()?)
    }

    /// Benchmarks a device (the best one unless `device` names one).
    pub fn benchmark(&self, device: Option<u32>, reps: usize) -> Result<BenchmarkReport, NodeError> {
        Ok(bench::run(&self.paths, device, reps)?)
    }

    /// [`Node::benchmark`], telling `progress` how far it is before each step.
    pub fn benchmark_with_progress(
        &self,
        device: Option<u32>,
        reps: usize,
        progress: &mut dyn FnMut(gridmint_protocol::BenchmarkProgress),
    ) -> Result<BenchmarkReport, NodeError> {
        Ok(bench::run_with_progress(&self.paths, device, reps, progress)?)
    }

    /// Opens a device (the best one unless `device` names one) with this node's pipeline cache.
    pub fn open_gpu(&self, device: Option<u32>) -> Result<gpu_engine::Gpu, NodeError> {
        Ok(bench::open(&self.paths, device)?)
    }

    /// Opens a device (as [`Node::open_gpu`]) that is reopened, and its work repeated, when the
    /// driver loses it: what the provider agent serves with.
    pub fn open_device_slot(&self, device: Option<u32>) -> Result<gpu_engine::DeviceSlot, NodeError> {
        Ok(bench::open_slot(&self.paths, device)?)
    }

    /// Runs a job package locally (no network) on a device (the best one unless `device` names
    /// one), in the reproducibility class its manifest names, and writes its outputs to `out`:
    /// the code path a provider runs assigned work with.
    pub fn run_job(
        &self,
        package: &Path,
        out: &Path,
        device: Option<u32>,
        progress: runner::ProgressFn,
    ) -> Result<RunReport, NodeError> {
        let class = runner::Package::open(package)?.manifest.reproducibility;
        let gpu = bench::open(&self.paths, device)?;
        let report = runner::run(&self.paths, &gpu, package, out, class, progress)?;
        let _ = gpu.save_pipeline_cache();
        Ok(report)
    }

    /// This node's wallet (its key only in the OS keyring).
    pub fn wallet(&self) -> wallet::Wallet {
        wallet::Wallet::for_paths(&self.paths)
    }

    /// Runs the determinism suite: one BLAKE3 per fixed-seed case, the same on every device.
    pub fn determinism_suite(&self, device: Option<u32>) -> Result<Vec<DeterminismCase>, NodeError> {
        Ok(bench::determinism(&self.paths, device)?)
    }
}
