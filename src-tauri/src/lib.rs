//! The desktop shell: start-up, command adapters, logging. Every command takes one request struct
//! from `gridmint-protocol`, calls `gridmint-node`, and returns `Result<Response, ApiError>`.

mod commands;

use std::sync::Mutex;

use gridmint_node::{Node, Paths};
use gridmint_protocol::HardwareReport;

/// What the commands share.
pub(crate) struct AppState {
    pub(crate) node: Node,
    /// The hardware report, enumerated once and refreshed on request.
    pub(crate) hardware: Mutex<Option<HardwareReport>>,
}

/// Resolves the paths (GRIDMINT_HOME, else the platform's), starts logging, runs the app.
pub fn run() {
    let paths = match std::env::var_os("GRIDMINT_HOME") {
        Some(home) => Paths::under(std::path::Path::new(&home)),
        None => Paths::discover().unwrap_or_else(|| Paths::under(&std::env::temp_dir().join("gridmint"))),
    };
    let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint-app.log", "info")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    tracing::info!(data = %paths.data.display(), "starting Gridmint");
    let state = AppState { node: Node::new(paths), hardware: Mutex::new(None) };
    let result = tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![commands::hardware_report])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
