//! The X server's idle time (MIT-SCREEN-SAVER), and real input through XTEST.

use std::time::Duration;

use x11rb::{
    connection::Connection,
    protocol::{screensaver::ConnectionExt as _, xproto::ConnectionExt as _, xtest::ConnectionExt as _},
    rust_connection::RustConnection,
};

use super::InputIdle;
use crate::RunnerError;

fn x11_error(what: &'static str) -> impl Fn(String) -> RunnerError {
    move |message| RunnerError::IdleDetection { message: format!("X11 {what}: {message}") }
}

/// The X server's idle time (MIT-SCREEN-SAVER), on the display named by `DISPLAY`.
pub struct X11Idle {
    conn: RustConnection,
    root: u32,
}

impl std::fmt::Debug for X11Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Idle").field("root", &self.root).finish_non_exhaustive()
    }
}

impl X11Idle {
    /// Connects to `display` (or `DISPLAY`); fails clearly without an X server or without
    /// the screensaver extension (Wayland sessions without Xwayland, headless machines).
    pub fn connect(display: Option<&str>) -> Result<Self, RunnerError> {
        let (conn, screen) =
            x11rb::connect(display).map_err(|e| x11_error("connecting to the X server")(e.to_string()))?;
        let root = conn.setup().roots[screen].root;
        conn.screensaver_query_version(1, 1)
            .map_err(|e| x11_error("screensaver extension")(e.to_string()))?
            .reply()
            .map_err(|e| x11_error("screensaver extension")(e.to_string()))?;
        Ok(Self { conn, root })
    }

    /// Sends one pointer motion through XTEST, as a user moving the mouse: the X server
    /// resets its idle time exactly as for real input.
    pub fn simulate_input(&self, x: i16, y: i16) -> Result<(), RunnerError> {
        const MOTION_NOTIFY: u8 = 6;
        self.conn
            .xtest_fake_input(MOTION_NOTIFY, 0, x11rb::CURRENT_TIME, self.root, x, y, 0)
            .map_err(|e| x11_error("XTEST input")(e.to_string()))?;
        // A round trip: the event has reached the server when this returns.
        self.conn
            .get_input_focus()
            .map_err(|e| x11_error("XTEST input")(e.to_string()))?
            .reply()
            .map_err(|e| x11_error("XTEST input")(e.to_string()))?;
        Ok(())
    }
}

impl InputIdle for X11Idle {
    fn idle_for(&mut self) -> Result<Duration, RunnerError> {
        let info = self
            .conn
            .screensaver_query_info(self.root)
            .map_err(|e| x11_error("query")(e.to_string()))?
            .reply()
            .map_err(|e| x11_error("query")(e.to_string()))?;
        Ok(Duration::from_millis(u64::from(info.ms_since_user_input)))
    }
}
