//! Background earning: the login entry (it starts this agent, with no window) and earning only
//! while the owner is away, applied from the owner's settings at start and whenever they change.

use std::sync::{Arc, Mutex};

use gridmint_protocol::{ApiError, BackgroundSettings, ErrorCode};
use gridmint_runner::idle::{YieldEvent, YieldEvents};

use crate::{Agent, tray_icon::TrayState};

/// The login entry's name (`~/.config/autostart/Gridmint.desktop` on Linux).
const LOGIN_ENTRY: &str = "Gridmint";

#[derive(Debug, Default)]
pub(crate) struct Background {
    pub(crate) settings: Mutex<BackgroundSettings>,
    /// Why earning only while idle is unavailable here, when it is.
    pub(crate) idle_error: Mutex<Option<String>>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

/// The login entry: this executable, started with no arguments (no window), for this account
/// only. On Windows a `Run` value of the current user's (never the machine's, which an agent
/// started elevated would otherwise write, starting it for every account) with the path quoted
/// (Program Files has a space); the installer writes the same value (installers/windows).
fn login_entry() -> Result<auto_launch::AutoLaunch, ApiError> {
    let exe = std::env::current_exe().map_err(|e| internal("autostart: finding this program", e))?;
    let exe = exe.to_str().ok_or_else(|| internal("autostart", format!("{} is not UTF-8", exe.display())))?;
    let path = if cfg!(windows) { format!("\"{exe}\"") } else { exe.to_owned() };
    auto_launch::AutoLaunchBuilder::new()
        .set_app_name(LOGIN_ENTRY)
        .set_app_path(&path)
        .set_args(&[] as &[&str])
        .set_windows_enable_mode(auto_launch::WindowsEnableMode::CurrentUser)
        .build()
        .map_err(|e| internal("autostart", e))
}

impl Background {
    /// Applies `settings`: the login entry added or removed, idle mode on or off. The settings
    /// are kept even when a part fails (the error says which).
    pub(crate) fn apply(&self, agent: &Arc<Agent>, settings: BackgroundSettings) -> Result<(), ApiError> {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        let entry = login_entry()?;
        let enabled = entry.is_enabled().map_err(|e| internal("autostart", e))?;
        if settings.start_at_login && !enabled {
            entry.enable().map_err(|e| internal("autostart: adding the login entry", e))?;
        } else if !settings.start_at_login && enabled {
            entry.disable().map_err(|e| internal("autostart: removing the login entry", e))?;
        }
        let events: YieldEvents = {
            let agent = Arc::downgrade(agent);
            Box::new(move |event| {
                if let Some(agent) = agent.upgrade() {
                    on_event(&agent, event);
                }
            })
        };
        // The idle detector (if any) says again what holds the work.
        agent.tray.hold(None);
        let applied = agent.market.set_background(&settings, events);
        agent.tray.refresh(&agent.market);
        *self.idle_error.lock().unwrap_or_else(|p| p.into_inner()) = applied.as_ref().err().map(|e| e.to_string());
        applied.map_err(|e| ApiError::new(ErrorCode::Internal, format!("earning only while idle: {e}")))
    }
}

fn on_event(agent: &Agent, event: YieldEvent) {
    match event {
        YieldEvent::Notice { starts_in } => {
            let body = format!(
                "Your GPU starts earning in {} s. Move the mouse or press a key to keep it.",
                starts_in.as_secs().max(1)
            );
            // Over D-Bus, blocking: off the caller's thread.
            std::thread::spawn(move || {
                if let Err(e) = notify_rust::Notification::new().summary("Gridmint").body(&body).show() {
                    tracing::warn!(error = %e, "notification not shown");
                }
            });
        }
        YieldEvent::Started => agent.tray.hold(None),
        YieldEvent::Yielded { .. } => {
            agent.tray.hold(Some((TrayState::Waiting, "Gridmint: waiting until you're away".into())))
        }
        YieldEvent::SourceFailed => {
            agent.tray.hold(Some((TrayState::Error, "Gridmint: idle detection failed; paused".into())))
        }
        YieldEvent::Held { reason } => {
            agent.tray.hold(Some((TrayState::Waiting, format!("Gridmint: held ({reason})"))))
        }
    }
    agent.tray.refresh(&agent.market);
}
