//! Background earning: the autostart entry and earning only while the owner is away, applied
//! from the owner's settings at start and whenever they change.

use std::sync::Mutex;

use gridmint_node::{
    idle::{YieldEvent, YieldEvents},
    local::LocalMarket,
};
use gridmint_protocol::{ApiError, BackgroundSettings, ErrorCode};
use tauri::AppHandle;

use crate::tray_icon::TrayState;
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_notification::NotificationExt as _;

/// The argument the autostart entry launches the app with: start in the tray, no window.
pub(crate) const MINIMIZED: &str = "--minimized";

#[derive(Debug, Default)]
pub(crate) struct Background {
    pub(crate) settings: Mutex<BackgroundSettings>,
    /// Why earning only while idle is unavailable here, when it is.
    pub(crate) idle_error: Mutex<Option<String>>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

impl Background {
    /// Applies `settings`: the login entry added or removed, idle mode on or off. The settings
    /// are kept even when a part fails (the error says which).
    pub(crate) fn apply(
        &self,
        app: &AppHandle,
        market: &LocalMarket,
        settings: BackgroundSettings,
    ) -> Result<(), ApiError> {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        let autostart = app.autolaunch();
        let enabled = autostart.is_enabled().map_err(|e| internal("autostart", e))?;
        if settings.start_at_login && !enabled {
            autostart.enable().map_err(|e| internal("autostart: adding the login entry", e))?;
        } else if !settings.start_at_login && enabled {
            autostart.disable().map_err(|e| internal("autostart: removing the login entry", e))?;
        }
        let events: YieldEvents = {
            let app = app.clone();
            Box::new(move |event| on_event(&app, event))
        };
        let applied = market.set_background(&settings, events);
        *self.idle_error.lock().unwrap_or_else(|p| p.into_inner()) = applied.as_ref().err().map(|e| e.to_string());
        applied.map_err(|e| ApiError::new(ErrorCode::Internal, format!("earning only while idle: {e}")))
    }
}

fn on_event(app: &AppHandle, event: YieldEvent) {
    match event {
        YieldEvent::Notice { starts_in } => {
            let body = format!(
                "Your GPU starts earning in {} s. Move the mouse or press a key to keep it.",
                starts_in.as_secs().max(1)
            );
            if let Err(e) = app.notification().builder().title("Gridmint").body(body).show() {
                tracing::warn!(error = %e, "notification not shown");
            }
        }
        YieldEvent::Started => crate::set_tray_state(app, TrayState::Earning, "Gridmint: earning while you're away"),
        YieldEvent::Yielded { .. } => {
            crate::set_tray_state(app, TrayState::Waiting, "Gridmint: waiting until you're away")
        }
        YieldEvent::SourceFailed => {
            crate::set_tray_state(app, TrayState::Error, "Gridmint: idle detection failed; paused")
        }
        YieldEvent::Held { reason } => {
            crate::set_tray_state(app, TrayState::Waiting, &format!("Gridmint: held ({reason})"))
        }
    }
}
