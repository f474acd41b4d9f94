//! Idle detection and the GPU yield: work starts after the owner has left the machine alone for a
//! while (with a notice a few seconds before), and the moment they touch it again the run is
//! paused at its next dispatch boundary ([`gpu_engine::control::Control`]), so the GPU is theirs
//! within one dispatch.
//!
//! Where the input comes from is an [`InputIdle`], the desktop's chosen by [`desktop`]: on X11
//! the X server's screensaver extension (the time since the last key press or pointer motion of
//! any client, which is what screensavers use), read with x11rb; on Wayland the compositor's idle
//! notifications ([`WaylandIdle`]) or GNOME Mutter's idle monitor; `GetLastInputInfo` on Windows
//! and CoreGraphics on macOS (`platform`). [`X11Idle::simulate_input`] sends a real input event
//! through XTEST, as a user (or xdotool) would: the yield benchmark's "user touches the mouse".

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use gpu_engine::control::Control;

use crate::RunnerError;

/// How long the owner has not touched the machine.
pub trait InputIdle: Send {
    fn idle_for(&mut self) -> Result<Duration, RunnerError>;
}

/// When work may run.
#[derive(Debug, Clone, Copy)]
pub struct IdlePolicy {
    /// Idle time before work starts (the market-lessons default: 10 minutes).
    pub start_after: Duration,
    /// How long before the start the owner is told (5 seconds).
    pub notice: Duration,
    /// How often the idle time is read.
    pub poll: Duration,
}

impl Default for IdlePolicy {
    fn default() -> Self {
        Self { start_after: Duration::from_secs(600), notice: Duration::from_secs(5), poll: Duration::from_millis(25) }
    }
}

/// What the yielder did, for the tray, notifications and the log.
#[derive(Debug, Clone, PartialEq)]
pub enum YieldEvent {
    /// Work starts in this long unless the owner comes back.
    Notice { starts_in: Duration },
    /// The owner has been away long enough: the run resumed.
    Started,
    /// The owner came back: the run was paused at `at` (it stops at the next dispatch boundary).
    Yielded { at: Instant },
    /// The idle source failed; the run stays paused.
    SourceFailed,
    /// One of the owner's limits holds the work (outside the hours, on battery, too hot).
    Held { reason: String },
}

/// Says why work must not run now (the owner's limits), or `None`.
pub type Gate = Box<dyn FnMut() -> Option<String> + Send>;

/// An owner who is always away: with a gate only, work runs whenever the limits allow.
#[derive(Debug, Clone, Copy)]
pub struct AlwaysAway;

impl InputIdle for AlwaysAway {
    fn idle_for(&mut self) -> Result<Duration, RunnerError> {
        Ok(Duration::from_secs(u64::from(u32::MAX)))
    }
}

/// Hears a [`Yielder`]'s events.
pub type YieldEvents = Box<dyn Fn(YieldEvent) + Send>;

/// The thread that steers a run's [`Control`] by the owner's presence. Starts paused: a run
/// under a yielder only works while the owner is away. Stops (leaving the run paused) on drop.
#[derive(Debug)]
pub struct Yielder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Yielder {
    pub fn spawn(
        source: Box<dyn InputIdle>,
        control: Control,
        policy: IdlePolicy,
        on_event: impl Fn(YieldEvent) + Send + 'static,
    ) -> Self {
        Self::spawn_gated(source, control, policy, None, on_event)
    }

    /// As [`Yielder::spawn`], and work also waits while `gate` gives a reason (read once a
    /// second): a run in progress is paused at its next boundary.
    pub fn spawn_gated(
        mut source: Box<dyn InputIdle>,
        control: Control,
        policy: IdlePolicy,
        mut gate: Option<Gate>,
        on_event: impl Fn(YieldEvent) + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        control.pause();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gridmint-yield".into())
                .spawn(move || {
                    let mut working = false;
                    let mut noticed = false;
                    let mut last = Duration::ZERO;
                    let mut held: Option<String> = None;
                    let mut gate_read: Option<Instant> = None;
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(gate) = gate.as_mut()
                            && gate_read.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                        {
                            gate_read = Some(Instant::now());
                            let reason = gate();
                            if reason != held {
                                held = reason.clone();
                                if let Some(reason) = reason {
                                    if working {
                                        control.pause();
                                        working = false;
                                        noticed = false;
                                    }
                                    on_event(YieldEvent::Held { reason });
                                }
                            }
                        }
                        let idle = match source.idle_for() {
                            Ok(idle) => idle,
                            Err(e) => {
                                tracing::warn!(error = %e, "idle detection failed: keeping the GPU paused");
                                control.pause();
                                on_event(YieldEvent::SourceFailed);
                                return;
                            }
                        };
                        // Input resets the idle time: it is now shorter than when last read.
                        let touched = idle < last;
                        last = idle;
                        if working && touched {
                            control.pause();
                            working = false;
                            noticed = false;
                            on_event(YieldEvent::Yielded { at: Instant::now() });
                        } else if !working && held.is_none() {
                            if touched {
                                noticed = false;
                            }
                            if !noticed
                                && !policy.notice.is_zero()
                                && idle.saturating_add(policy.notice) >= policy.start_after
                            {
                                noticed = true;
                                on_event(YieldEvent::Notice { starts_in: policy.start_after.saturating_sub(idle) });
                            }
                            if idle >= policy.start_after {
                                control.resume();
                                working = true;
                                on_event(YieldEvent::Started);
                            }
                        }
                        std::thread::sleep(policy.poll);
                    }
                    control.pause();
                })
                .expect("spawning the yield thread")
        };
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for Yielder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

mod platform;
#[cfg(target_os = "linux")]
mod wayland;
#[cfg(target_os = "linux")]
mod x11;

pub use platform::desktop;
#[cfg(target_os = "linux")]
pub use wayland::WaylandIdle;
#[cfg(target_os = "linux")]
pub use x11::X11Idle;

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, mpsc};

    use gpu_engine::control::RunState;

    use super::*;

    /// An idle clock the test moves by hand.
    struct Scripted(Arc<Mutex<Duration>>);

    impl InputIdle for Scripted {
        fn idle_for(&mut self) -> Result<Duration, RunnerError> {
            Ok(*self.0.lock().expect("clock"))
        }
    }

    #[test]
    fn starts_after_the_idle_time_with_a_notice_and_yields_on_input() {
        let clock = Arc::new(Mutex::new(Duration::ZERO));
        let control = Control::new();
        let (tx, rx) = mpsc::channel();
        let policy = IdlePolicy {
            start_after: Duration::from_secs(600),
            notice: Duration::from_secs(5),
            poll: Duration::from_millis(2),
        };
        let _yielder = Yielder::spawn(Box::new(Scripted(clock.clone())), control.clone(), policy, move |e| {
            let _ = tx.send(e);
        });
        assert_eq!(control.state(), RunState::Paused, "nothing runs while the owner is here");
        *clock.lock().expect("clock") = Duration::from_secs(596);
        let wait = Duration::from_secs(5);
        assert_eq!(rx.recv_timeout(wait).expect("an event"), YieldEvent::Notice { starts_in: Duration::from_secs(4) });
        assert_eq!(control.state(), RunState::Paused, "a notice, not yet the start");
        *clock.lock().expect("clock") = Duration::from_secs(600);
        assert_eq!(rx.recv_timeout(wait).expect("an event"), YieldEvent::Started);
        assert_eq!(control.state(), RunState::Running);
        *clock.lock().expect("clock") = Duration::from_millis(3); // the owner moves the mouse
        assert!(matches!(rx.recv_timeout(wait).expect("an event"), YieldEvent::Yielded { .. }));
        assert_eq!(control.state(), RunState::Paused, "the run yields");
    }

    #[test]
    fn a_limit_holds_the_work_and_releases_it() {
        let reason = Arc::new(Mutex::new(Some("on battery".to_owned())));
        let control = Control::new();
        let (tx, rx) = mpsc::channel();
        let policy = IdlePolicy { start_after: Duration::ZERO, notice: Duration::ZERO, poll: Duration::from_millis(2) };
        let gate: Gate = {
            let reason = reason.clone();
            Box::new(move || reason.lock().expect("reason").clone())
        };
        let _yielder = Yielder::spawn_gated(Box::new(AlwaysAway), control.clone(), policy, Some(gate), move |e| {
            let _ = tx.send(e);
        });
        let wait = Duration::from_secs(5);
        assert_eq!(rx.recv_timeout(wait).expect("an event"), YieldEvent::Held { reason: "on battery".into() });
        assert_eq!(control.state(), RunState::Paused, "held");
        *reason.lock().expect("reason") = None; // plugged in
        assert_eq!(rx.recv_timeout(wait).expect("an event"), YieldEvent::Started, "read within a second");
        assert_eq!(control.state(), RunState::Running);
        *reason.lock().expect("reason") = Some("GPU at 91 °C (limit 85 °C)".into());
        let held = rx.recv_timeout(wait).expect("an event");
        assert!(matches!(held, YieldEvent::Held { ref reason } if reason.contains("91")), "{held:?}");
        assert_eq!(control.state(), RunState::Paused, "a running job is paused");
    }
}
