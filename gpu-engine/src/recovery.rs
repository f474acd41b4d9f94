//! Keeping a device usable: when the driver reports the device lost, the device is opened again
//! and the work runs once more from the start (work in the verifiable tier is a pure function of
//! its inputs, so a rerun gives the same bits). A dispatch that overran its time bound is another
//! matter: its work may still run and Vulkan cannot take it back, so the device is left hung
//! ([`crate::Gpu::is_hung`]), the work fails, and no second device is opened on the same GPU behind
//! it; the process's end tears it down (the desktop agent runs each job in a worker process).

use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

use crate::{DeviceChoice, EngineError, Gpu, GpuOptions, Vulkan};

/// An opened device that is reopened after a loss.
#[derive(Debug)]
pub struct DeviceSlot {
    vulkan: Vulkan,
    choice: DeviceChoice,
    options: GpuOptions,
    gpu: Mutex<Arc<Gpu>>,
    reopened: AtomicU64,
}

/// Whether an error leaves the device in a state that only reopening it clears.
pub fn needs_reopen(error: &EngineError) -> bool {
    matches!(error, EngineError::DeviceLost { .. })
}

impl DeviceSlot {
    pub fn open(vulkan: &Vulkan, choice: DeviceChoice, options: GpuOptions) -> Result<Self, EngineError> {
        let gpu = Gpu::open(vulkan, choice, options.clone())?;
        Ok(Self {
            vulkan: vulkan.clone(),
            choice,
            options,
            gpu: Mutex::new(Arc::new(gpu)),
            reopened: AtomicU64::new(0),
        })
    }

    fn current(&self) -> MutexGuard<'_, Arc<Gpu>> {
        self.gpu.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The device as it is now.
    pub fn gpu(&self) -> Arc<Gpu> {
        self.current().clone()
    }

    /// How many times the device was opened again.
    pub fn reopened(&self) -> u64 {
        self.reopened.load(Ordering::Relaxed)
    }

    /// Opens the device again, replacing the current one (work still holding the old one keeps
    /// it alive until it finishes); never behind a hung one (its work may still run).
    pub fn reopen(&self) -> Result<Arc<Gpu>, EngineError> {
        self.gpu().refuse_if_hung()?;
        let fresh = Arc::new(Gpu::open(&self.vulkan, self.choice, self.options.clone())?);
        *self.current() = fresh.clone();
        self.reopened.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(device = %fresh.info().name, "reopened the compute device");
        Ok(fresh)
    }

    /// Whether the device overran a dispatch's bound: it takes no more work in this process.
    pub fn is_hung(&self) -> bool {
        self.current().is_hung()
    }

    /// Runs `work` on the device. If it fails because the device was lost, the device is
    /// reopened and `work` runs once more on the new one; a second failure is returned as it is.
    /// On a hung device `work` does not run ([`EngineError::Hung`]).
    pub fn run<T>(&self, work: impl FnMut(&Gpu) -> Result<T, EngineError>) -> Result<T, EngineError> {
        self.run_or_reopen(work, needs_reopen)
    }

    /// [`DeviceSlot::run`] for work with its own error type: `device_failed` says which of its
    /// errors call for reopening the device (an engine error for which [`needs_reopen`] holds).
    pub fn run_or_reopen<T, E: From<EngineError> + std::fmt::Display>(
        &self,
        mut work: impl FnMut(&Gpu) -> Result<T, E>,
        device_failed: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let gpu = self.gpu();
        gpu.refuse_if_hung()?;
        match work(&gpu) {
            Err(e) if device_failed(&e) => {
                tracing::warn!(error = %e, "the device failed; reopening it and running the work again");
                drop(gpu);
                let fresh = self.reopen()?;
                work(&fresh)
            }
            other => other,
        }
    }
}
