//! The desktop window: a thin Tauri shell over the agent. The agent (`gridmint-agent`, see
//! crates/agent) earns, runs the network and owns the tray; this process is only the window, so
//! closing it ends it and frees everything the webview holds. Every command the page invokes goes
//! to the agent over the control socket, as the page sent it (`{code, message}` errors
//! included); the agent's events come back as Tauri events. Only the file dialog is the window's.

mod agent;
mod commands;

use gridmint_home::{Paths, control::Message};
use gridmint_protocol::Command as _;
use tauri::{Emitter as _, Manager, ipc::InvokeBody};

/// The argument older login entries start the app with: start the agent, open no window.
const MINIMIZED: &str = "--minimized";

/// Resolves the paths (GRIDMINT_HOME, else the platform's), starts logging, makes sure the agent
/// runs, and opens the window.
pub fn run() {
    let paths = Paths::from_env();
    let _log_guard = gridmint_home::logging::init(&paths.logs, "gridmint-app.log", "info")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    if std::env::args().any(|a| a == MINIMIZED) {
        // Earning needs only the agent.
        if let Err(e) = tauri::async_runtime::block_on(agent::connect_or_start(&paths)) {
            tracing::error!(error = %e.message, "the agent could not start");
            eprintln!("error: {}", e.message);
            std::process::exit(1);
        }
        return;
    }
    tracing::info!("opening the Gridmint window");
    // Every call but the dialog's goes to the agent.
    let local: fn(tauri::ipc::Invoke) -> bool = tauri::generate_handler![commands::pick_path];
    let app = tauri::Builder::default()
        // First: a second launch only brings this window forward.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_dialog::init())
        .manage(agent::AgentConnection::new(paths))
        .setup(|app| {
            // Connect (starting the agent if it is not running) while the page loads.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = handle.state::<agent::AgentConnection>().link(&handle).await {
                    tracing::error!(error = %e.message, "the agent could not start");
                }
            });
            Ok(())
        })
        .invoke_handler(move |invoke| {
            if invoke.message.command() == gridmint_protocol::commands::PickPath::NAME {
                return local(invoke);
            }
            let command = invoke.message.command().to_owned();
            let args = match invoke.message.payload() {
                InvokeBody::Json(args) => args.clone(),
                InvokeBody::Raw(_) => serde_json::Value::Null,
            };
            let app = invoke.message.webview().app_handle().clone();
            invoke.resolver.respond_async(async move {
                let connection = app.state::<agent::AgentConnection>();
                let answer = match connection.link(&app).await {
                    Ok(link) => link.call(&command, args).await,
                    Err(e) => Err(e),
                };
                answer.map_err(|e| tauri::ipc::InvokeError(serde_json::to_value(e).unwrap_or_default()))
            });
            true
        })
        .build(tauri::generate_context!());
    match app {
        // The window closed: this process ends; the agent earns on in the tray.
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            tracing::error!(error = %e, "the window could not open");
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Passes the agent's pushes to the page until the agent goes.
pub(crate) fn forward(app: tauri::AppHandle, mut pushes: tokio::sync::mpsc::UnboundedReceiver<Message>) {
    tauri::async_runtime::spawn(async move {
        while let Some(message) = pushes.recv().await {
            match message {
                Message::Event { name, payload } => {
                    if let Err(e) = app.emit(&name, payload) {
                        tracing::warn!(error = %e, event = %name, "event not passed to the page");
                    }
                }
                Message::Quit => {
                    tracing::info!("the agent quits: closing the window");
                    app.exit(0);
                }
                Message::Reply { .. } => {}
            }
        }
    });
}
