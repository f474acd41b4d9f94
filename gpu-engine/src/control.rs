//! Pause, resume and cancel at dispatch boundaries, with progress: the owner of a run holds a
//! [`Control`], the engine checks it between dispatches. A dispatch in flight is never
//! interrupted, so the device is handed back within one dispatch's time.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{EngineError, commitment::Hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    Cancelled,
}

#[derive(Debug)]
struct Shared {
    state: RunState,
    /// A dispatch of this run is on the device.
    busy: bool,
    /// When the device was last handed back (the end of the last dispatch).
    idle_since: Instant,
    /// Pauses are ignored: the run must finish before a deadline (see [`Control::pin`]).
    pinned: bool,
    /// When the dispatch on the device started.
    busy_since: Instant,
    /// How long each dispatch held the device, the latest [`HELD_KEPT`].
    held: std::collections::VecDeque<Duration>,
}

/// How many dispatch durations a [`Control`] keeps.
const HELD_KEPT: usize = 100_000;

/// A handle shared between the run and whoever steers it (the idle detector, the UI).
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<(Mutex<Shared>, Condvar)>,
}

impl Default for Control {
    fn default() -> Self {
        let shared = Shared {
            state: RunState::Running,
            busy: false,
            idle_since: Instant::now(),
            pinned: false,
            busy_since: Instant::now(),
            held: std::collections::VecDeque::new(),
        };
        Self { inner: Arc::new((Mutex::new(shared), Condvar::new())) }
    }
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, state: RunState) {
        let mut s = self.lock();
        if s.state != RunState::Cancelled && !(s.pinned && state == RunState::Paused) {
            s.state = state;
        }
        self.inner.1.notify_all();
    }

    /// While pinned the run keeps going and pauses are ignored (a paused run resumes): what a
    /// provider does when a yielded task would otherwise miss its deadline. Unpinning leaves the
    /// run as it is; the next pause holds again.
    pub fn pin(&self, pinned: bool) {
        let mut s = self.lock();
        s.pinned = pinned;
        if pinned && s.state == RunState::Paused {
            s.state = RunState::Running;
        }
        self.inner.1.notify_all();
    }

    /// Stops at the next dispatch boundary until [`Control::resume`] or [`Control::cancel`].
    /// Whether the run is held against pauses.
    pub fn is_pinned(&self) -> bool {
        self.lock().pinned
    }

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
        self.lock().state
    }

    /// Waits until no dispatch of this run is on the device (at once if none is), at most
    /// `timeout`; returns when the device was handed back, or `None` on a timeout. After
    /// [`Control::pause`] this is the moment the owner has the GPU again.
    pub fn wait_idle(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while s.busy {
            let left = deadline.checked_duration_since(Instant::now())?;
            s = self.inner.1.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Some(s.idle_since)
    }

    /// Blocks while paused; `Err` once cancelled. Otherwise marks a dispatch as started.
    pub(crate) fn checkpoint(&self, step: usize) -> Result<(), EngineError> {
        let mut s = self.lock();
        while s.state == RunState::Paused {
            s = self.inner.1.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.state == RunState::Cancelled {
            return Err(EngineError::Cancelled { completed_dispatches: step });
        }
        s.busy = true;
        s.busy_since = Instant::now();
        Ok(())
    }

    /// How long each dispatch run under this control held the device, oldest first (the latest
    /// 100,000): what bounds the time to hand the device back.
    pub fn dispatch_times(&self) -> Vec<Duration> {
        self.lock().held.iter().copied().collect()
    }

    /// Marks the dispatch that [`Control::checkpoint`] started as finished.
    pub(crate) fn finished(&self) {
        let mut s = self.lock();
        s.busy = false;
        s.idle_since = Instant::now();
        let held = s.idle_since - s.busy_since;
        if s.held.len() == HELD_KEPT {
            s.held.pop_front();
        }
        s.held.push_back(held);
        self.inner.1.notify_all();
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
    let mut hashes = Vec::with_capacity(total.min(1 << 12));
    for i in 0..total {
        control.checkpoint(i)?;
        let result = step(i);
        control.finished();
        hashes.push(result?);
        on_progress(Progress { done: i + 1, total });
    }
    Ok(hashes)
}
