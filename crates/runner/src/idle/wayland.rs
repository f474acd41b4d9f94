//! The owner's presence on a Wayland desktop, from the compositor: it alone sees every client's
//! input (Xwayland's screensaver extension sees only X clients'). Two protocols say the same:
//! `ext-idle-notify-v1` (the standard one: wlroots 0.17+, KWin 5.27+, COSMIC) and KDE's older
//! `org_kde_kwin_idle` (wlroots before 0.17, so Debian 12's sway 1.7, and KWin). Either gives a
//! notification that fires once the seat has had no input for a timeout and another on the next
//! input; the idle time is the timeout plus the time since the first. The compositor also holds
//! the idle time back while a client inhibits idling (a video playing full screen): the owner is
//! watching, and work waits.
//!
//! GNOME's compositor (Mutter) offers neither: [`super::platform`] asks it over D-Bus instead.

use std::{
    os::unix::net::UnixStream,
    path::Path,
    time::{Duration, Instant},
};

use wayland_client::{
    Connection, Dispatch, EventQueue, QueueHandle,
    backend::WaylandError,
    globals::{GlobalListContents, registry_queue_init},
    protocol::{wl_registry::WlRegistry, wl_seat::WlSeat},
};
use wayland_protocols::ext::idle_notify::v1::client::{
    ext_idle_notification_v1::{self, ExtIdleNotificationV1},
    ext_idle_notifier_v1::ExtIdleNotifierV1,
};
use wayland_protocols_plasma::idle::client::{
    org_kde_kwin_idle::OrgKdeKwinIdle,
    org_kde_kwin_idle_timeout::{self, OrgKdeKwinIdleTimeout},
};

use super::InputIdle;
use crate::RunnerError;

/// How long without input before the compositor says the seat is idle: the resolution of the
/// idle time below it (it reads zero until then), far below any idle time work waits for.
pub const NOTIFY_AFTER: Duration = Duration::from_secs(1);

fn wayland_error(what: &str, message: impl std::fmt::Display) -> RunnerError {
    RunnerError::IdleDetection { message: format!("Wayland {what}: {message}") }
}

/// What the compositor said last.
#[derive(Debug, Default)]
struct Presence {
    /// When the seat went idle (the notification's timeout after the last input); `None` while
    /// the owner is at the machine.
    idle_since: Option<Instant>,
}

impl Presence {
    fn idled(&mut self) {
        self.idle_since.get_or_insert_with(Instant::now);
    }

    fn resumed(&mut self) {
        self.idle_since = None;
    }
}

/// The notification this source holds (dropped with it: the compositor forgets it).
#[derive(Debug)]
enum Notification {
    Standard(ExtIdleNotificationV1),
    Kde(OrgKdeKwinIdleTimeout),
}

/// The seat's idle time from a Wayland compositor.
pub struct WaylandIdle {
    conn: Connection,
    queue: EventQueue<Presence>,
    presence: Presence,
    notification: Notification,
}

impl std::fmt::Debug for WaylandIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaylandIdle").field("protocol", &self.protocol()).finish_non_exhaustive()
    }
}

impl WaylandIdle {
    /// Connects to the compositor of `WAYLAND_DISPLAY`; fails clearly where there is none or it
    /// offers neither idle protocol (GNOME).
    pub fn connect() -> Result<Self, RunnerError> {
        Self::on(Connection::connect_to_env().map_err(|e| wayland_error("connecting to the compositor", e))?)
    }

    /// Connects to the compositor listening on `socket` (`$XDG_RUNTIME_DIR/wayland-1`).
    pub fn connect_to(socket: &Path) -> Result<Self, RunnerError> {
        let stream = UnixStream::connect(socket)
            .map_err(|e| wayland_error(&format!("connecting to {}", socket.display()), e))?;
        Self::on(Connection::from_socket(stream).map_err(|e| wayland_error("connecting to the compositor", e))?)
    }

    fn on(conn: Connection) -> Result<Self, RunnerError> {
        let (globals, mut queue) =
            registry_queue_init::<Presence>(&conn).map_err(|e| wayland_error("reading the globals", e))?;
        let qh = queue.handle();
        let seat: WlSeat = globals.bind(&qh, 1..=1, ()).map_err(|e| wayland_error("the compositor has no seat", e))?;
        let timeout = u32::try_from(NOTIFY_AFTER.as_millis()).unwrap_or(u32::MAX);
        let notification = if let Ok(notifier) = globals.bind::<ExtIdleNotifierV1, _, _>(&qh, 1..=1, ()) {
            Notification::Standard(notifier.get_idle_notification(timeout, &seat, &qh, ()))
        } else if let Ok(kde) = globals.bind::<OrgKdeKwinIdle, _, _>(&qh, 1..=1, ()) {
            Notification::Kde(kde.get_idle_timeout(&seat, timeout, &qh, ()))
        } else {
            return Err(wayland_error(
                "idle time",
                "the compositor offers neither ext-idle-notify-v1 nor org_kde_kwin_idle",
            ));
        };
        let mut presence = Presence::default();
        // The compositor has the notification when this returns.
        queue.roundtrip(&mut presence).map_err(|e| wayland_error("registering the idle notification", e))?;
        Ok(Self { conn, queue, presence, notification })
    }

    /// Which protocol the compositor answers on: `ext-idle-notify-v1` or `org_kde_kwin_idle`.
    pub fn protocol(&self) -> &'static str {
        match self.notification {
            Notification::Standard(_) => "ext-idle-notify-v1",
            Notification::Kde(_) => "org_kde_kwin_idle",
        }
    }

    /// Reads what the compositor sent since the last call, without waiting.
    fn read(&mut self) -> Result<(), RunnerError> {
        self.conn.flush().map_err(|e| wayland_error("writing to the compositor", e))?;
        if let Some(guard) = self.queue.prepare_read() {
            match guard.read() {
                Ok(_) => {}
                Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(wayland_error("reading from the compositor", e)),
            }
        }
        self.queue.dispatch_pending(&mut self.presence).map_err(|e| wayland_error("the compositor's events", e))?;
        Ok(())
    }
}

impl InputIdle for WaylandIdle {
    fn idle_for(&mut self) -> Result<Duration, RunnerError> {
        self.read()?;
        Ok(self.presence.idle_since.map_or(Duration::ZERO, |since| NOTIFY_AFTER + since.elapsed()))
    }
}

impl Drop for WaylandIdle {
    fn drop(&mut self) {
        match &self.notification {
            Notification::Standard(n) => n.destroy(),
            Notification::Kde(n) => n.release(),
        }
        let _ = self.conn.flush();
    }
}

/// Objects whose events say nothing about presence (the registry after start, the seat's
/// capabilities, the managers).
macro_rules! no_presence_events {
    ($($proxy:ty, $data:ty);*) => {$(
        impl Dispatch<$proxy, $data> for Presence {
            fn event(
                _: &mut Self,
                _: &$proxy,
                _: <$proxy as wayland_client::Proxy>::Event,
                _: &$data,
                _: &Connection,
                _: &QueueHandle<Self>,
            ) {
            }
        }
    )*};
}

no_presence_events!(WlRegistry, GlobalListContents; WlSeat, (); ExtIdleNotifierV1, (); OrgKdeKwinIdle, ());

impl Dispatch<ExtIdleNotificationV1, ()> for Presence {
    fn event(
        presence: &mut Self,
        _: &ExtIdleNotificationV1,
        event: ext_idle_notification_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            ext_idle_notification_v1::Event::Idled => presence.idled(),
            ext_idle_notification_v1::Event::Resumed => presence.resumed(),
            _ => {}
        }
    }
}

impl Dispatch<OrgKdeKwinIdleTimeout, ()> for Presence {
    fn event(
        presence: &mut Self,
        _: &OrgKdeKwinIdleTimeout,
        event: org_kde_kwin_idle_timeout::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            org_kde_kwin_idle_timeout::Event::Idle => presence.idled(),
            org_kde_kwin_idle_timeout::Event::Resumed => presence.resumed(),
            _ => {}
        }
    }
}
