//! The desktop shell: start-up, command adapters, logging. Every command takes one request struct
//! from `gridmint-protocol`, calls `gridmint-node`, and returns `Result<Response, ApiError>`.

mod commands;

use std::{path::PathBuf, sync::Mutex};

use gridmint_node::{
    Node, Paths,
    local::{LocalMarket, LocalMarketOptions},
};
use gridmint_protocol::HardwareReport;

/// What the commands share.
pub(crate) struct AppState {
    pub(crate) node: Node,
    /// The hardware report, enumerated once and refreshed on request.
    pub(crate) hardware: Mutex<Option<HardwareReport>>,
    /// The embedded local network the app runs on.
    pub(crate) market: LocalMarket,
}

/// The anvil binary: GRIDMINT_ANVIL, else `anvil` on PATH, else the one `make setup` installs in
/// this checkout (a development build).
fn anvil() -> PathBuf {
    if let Some(path) = std::env::var_os("GRIDMINT_ANVIL") {
        return PathBuf::from(path);
    }
    let on_path =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("anvil")).find(|a| a.is_file()));
    on_path.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    })
}

/// Resolves the paths (GRIDMINT_HOME, else the platform's; models from GRIDMINT_MODELS, else the
/// machine's model cache), starts logging and the local network, runs the app.
pub fn run() {
    let machine = Paths::discover();
    let mut paths = match std::env::var_os("GRIDMINT_HOME") {
        Some(home) => {
            let paths = Paths::under(std::path::Path::new(&home));
            match &machine {
                Some(m) => paths.with_models(m.models.clone()),
                None => paths,
            }
        }
        None => machine.unwrap_or_else(|| Paths::under(&std::env::temp_dir().join("gridmint"))),
    };
    if let Some(models) = std::env::var_os("GRIDMINT_MODELS") {
        paths = paths.with_models(PathBuf::from(models));
    }
    let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint-app.log", "info")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    tracing::info!(data = %paths.data.display(), "starting Gridmint");
    let market =
        LocalMarket::start(paths.clone(), LocalMarketOptions { anvil: anvil(), block_time_s: 1, claim_window_s: 6 });
    let state = AppState { node: Node::new(paths), hardware: Mutex::new(None), market: market.clone() };
    let app = tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::hardware_report,
            commands::market_status,
            commands::inspect_package,
            commands::submit_job,
            commands::list_jobs,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                // The chain is a child process: stop it before the process exits.
                market.shutdown();
            }
        }),
        Err(e) => {
            market.shutdown();
            tracing::error!(error = %e, "the app could not start");
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
