//! Pause, resume and cancel at dispatch boundaries, with progress: the owner of a run holds a
//! [`Control`], the engine checks it between dispatches. A dispatch in flight is never
//! interrupted, so the device is handed back within one dispatch's time.

use std::sync::{Arc, Condvar, Mutex};

use crate::{EngineError, commitment::Hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    Cancelled,
}

/// A handle shared between the run and whoever steers it (the idle detector, the UI).
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<(Mutex<RunState>, Condvar)>,
}

impl Default for Control {
    fn default() -> Self {
        Self { inner: Arc::new((Mutex::new(RunState::Running), Condvar::new())) }
    }
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&self, state: RunState) {
        let (lock, changed) = &*self.inner;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        if *s != RunState::Cancelled {
            *s = state;
        }
        changed.notify_all();
    }

    /// Stops at the next dispatch boundary until [`Control::resume`] or [`Control::cancel`].
    pub fn pause(&self) {
        self.set(RunState::Paused);
    }

    pub fn resume(&self) {
        self.set(RunState::Running);
    }

    /// Ends the run at the next dispatch boundary. Final: a cancelled run does not resume.
    pub fn cancel(&self) {
        self.set(RunState::Cancelled);
    }

    pub fn state(&self) -> RunState {
        *self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks while paused; `Err` once cancelled.
    fn checkpoint(&self, step: usize) -> Result<(), EngineError> {
        let (lock, changed) = &*self.inner;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *s == RunState::Paused {
            s = changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if *s == RunState::Cancelled {
            return Err(EngineError::Cancelled { completed_dispatches: step });
        }
        Ok(())
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Runs `total` dispatch steps in order. Before each step it honours `control`; after each it
/// reports progress. Each step returns the hash of its output: the result is the sequence of
/// dispatch hashes, whose Merkle root ([`crate::commitment::root`]) is the execution commitment.
pub fn run_steps(
    total: usize,
    control: &Control,
    mut on_progress: impl FnMut(Progress),
    mut step: impl FnMut(usize) -> Result<Hash, EngineError>,
) -> Result<Vec<Hash>, EngineError> {
    let mut hashes = Vec::with_capacity(total);
    for i in 0..total {
        control.checkpoint(i)?;
        hashes.push(step(i)?);
        on_progress(Progress { done: i + 1, total });
    }
    Ok(hashes)
}
