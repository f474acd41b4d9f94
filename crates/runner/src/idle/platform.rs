//! Where this desktop's idle time comes from, one source per platform (chosen at compile time)
//! and, on Linux, per session (chosen at run time):
//!
//! - Linux, Wayland session (`WAYLAND_DISPLAY`): the compositor's idle notifications
//!   ([`super::WaylandIdle`]), else GNOME's Mutter over D-Bus (`org.gnome.Mutter.IdleMonitor`).
//!   Never Xwayland's screensaver extension: it sees only X clients' input, so the owner typing
//!   in a Wayland window would look away and work would start under their hands.
//! - Linux, X11 session: the X server's screensaver extension ([`super::X11Idle`]).
//! - Windows: `GetLastInputInfo` (the session's last keyboard or mouse input).
//! - macOS: `CGEventSourceSecondsSinceLastEventType` for any input event.

use super::InputIdle;
use crate::RunnerError;

/// The idle source of the desktop this process runs in; the error says what was tried and why
/// each failed.
pub fn desktop() -> Result<Box<dyn InputIdle>, RunnerError> {
    imp::desktop()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use super::{InputIdle, RunnerError};
    use crate::idle::{WaylandIdle, X11Idle};

    pub fn desktop() -> Result<Box<dyn InputIdle>, RunnerError> {
        // A Wayland session, also where WAYLAND_DISPLAY was not passed on (a systemd unit, an
        // early autostart): never Xwayland's idle time there.
        let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
            || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland");
        if wayland {
            let wayland = match WaylandIdle::connect() {
                Ok(source) => {
                    tracing::info!(protocol = source.protocol(), "idle time from the Wayland compositor");
                    return Ok(Box::new(source));
                }
                Err(e) => e,
            };
            let mutter = match MutterIdle::connect() {
                Ok(source) => {
                    tracing::info!("idle time from GNOME's Mutter (D-Bus)");
                    return Ok(Box::new(source));
                }
                Err(e) => e,
            };
            return Err(RunnerError::IdleDetection {
                message: format!("this Wayland session gives no idle time: {wayland}; {mutter}"),
            });
        }
        X11Idle::connect(None).map(|source| Box::new(source) as Box<dyn InputIdle>)
    }

    /// GNOME's compositor's idle time: `GetIdletime` of `org.gnome.Mutter.IdleMonitor` on the
    /// session bus (what GNOME's own screen lock reads). Asked at most every [`MUTTER_EVERY`]
    /// (between two answers the idle time grows with the clock, or input resets it: a yield is
    /// seen within that); an answer that does not come counts as the owner being present, and
    /// only [`MUTTER_TRIES`] in a row are a failure (gnome-shell stalls while the GPU is busy).
    pub struct MutterIdle {
        conn: dbus::blocking::Connection,
        last: Option<(Duration, std::time::Instant)>,
        failed: u32,
    }

    const MUTTER_EVERY: Duration = Duration::from_millis(250);
    const MUTTER_TRIES: u32 = 10;

    const MUTTER: &str = "org.gnome.Mutter.IdleMonitor";
    const CORE: &str = "/org/gnome/Mutter/IdleMonitor/Core";

    fn mutter_error(what: &str, e: impl std::fmt::Display) -> RunnerError {
        RunnerError::IdleDetection { message: format!("GNOME Mutter {what}: {e}") }
    }

    impl MutterIdle {
        pub fn connect() -> Result<Self, RunnerError> {
            let conn = dbus::blocking::Connection::new_session().map_err(|e| mutter_error("session bus", e))?;
            let source = Self { conn, last: None, failed: 0 };
            source.ask()?;
            Ok(source)
        }

        fn ask(&self) -> Result<Duration, RunnerError> {
            let proxy = self.conn.with_proxy(MUTTER, CORE, Duration::from_secs(2));
            let (ms,): (u64,) =
                proxy.method_call(MUTTER, "GetIdletime", ()).map_err(|e| mutter_error("GetIdletime", e))?;
            Ok(Duration::from_millis(ms))
        }
    }

    impl InputIdle for MutterIdle {
        fn idle_for(&mut self) -> Result<Duration, RunnerError> {
            if let Some((idle, at)) = self.last
                && at.elapsed() < MUTTER_EVERY
            {
                return Ok(idle + at.elapsed());
            }
            match self.ask() {
                Ok(idle) => {
                    self.failed = 0;
                    self.last = Some((idle, std::time::Instant::now()));
                    Ok(idle)
                }
                Err(e) if self.failed + 1 < MUTTER_TRIES => {
                    self.failed += 1;
                    tracing::warn!(error = %e, "no idle time from Mutter: the owner counts as present");
                    self.last = None;
                    Ok(Duration::ZERO)
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::time::Duration;

    use windows_sys::Win32::{
        System::SystemInformation::GetTickCount,
        UI::Input::KeyboardAndMouse::{GetLastInputInfo, LASTINPUTINFO},
    };

    use super::{InputIdle, RunnerError};

    pub fn desktop() -> Result<Box<dyn InputIdle>, RunnerError> {
        let mut source = LastInput;
        source.idle_for()?;
        Ok(Box::new(source))
    }

    /// The time since the session's last keyboard or mouse input (`GetLastInputInfo`).
    struct LastInput;

    impl InputIdle for LastInput {
        fn idle_for(&mut self) -> Result<Duration, RunnerError> {
            let mut info = LASTINPUTINFO { cbSize: size_of::<LASTINPUTINFO>() as u32, dwTime: 0 };
            // SAFETY: `info` is a valid LASTINPUTINFO with its size set, as the call requires.
            if unsafe { GetLastInputInfo(&mut info) } == 0 {
                return Err(RunnerError::IdleDetection {
                    message: format!("GetLastInputInfo failed: {}", std::io::Error::last_os_error()),
                });
            }
            // Both are milliseconds since boot in 32 bits: they wrap every 49.7 days together.
            // SAFETY: no arguments, no preconditions.
            let now = unsafe { GetTickCount() };
            Ok(Duration::from_millis(u64::from(now.wrapping_sub(info.dwTime))))
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use std::time::Duration;

    use super::{InputIdle, RunnerError};

    #[link(name = "CoreGraphics", kind = "framework")]
    unsafe extern "C" {
        fn CGEventSourceSecondsSinceLastEventType(state: i32, event_type: u32) -> f64;
    }

    /// `kCGEventSourceStateCombinedSessionState`: input from every source of the session.
    const COMBINED_SESSION: i32 = 0;
    /// `kCGAnyInputEventType`.
    const ANY_INPUT: u32 = u32::MAX;

    pub fn desktop() -> Result<Box<dyn InputIdle>, RunnerError> {
        Ok(Box::new(SinceLastEvent))
    }

    struct SinceLastEvent;

    impl InputIdle for SinceLastEvent {
        fn idle_for(&mut self) -> Result<Duration, RunnerError> {
            // SAFETY: plain values in, a plain value out.
            let seconds = unsafe { CGEventSourceSecondsSinceLastEventType(COMBINED_SESSION, ANY_INPUT) };
            Duration::try_from_secs_f64(seconds).map_err(|e| RunnerError::IdleDetection {
                message: format!("CGEventSourceSecondsSinceLastEventType gave {seconds}: {e}"),
            })
        }
    }
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod imp {
    use super::{InputIdle, RunnerError};

    pub fn desktop() -> Result<Box<dyn InputIdle>, RunnerError> {
        Err(RunnerError::IdleDetection { message: format!("no idle detection on {}", std::env::consts::OS) })
    }
}
