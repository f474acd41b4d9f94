//! The desktop shell: start-up, command adapters, logging. Every command takes one request struct
//! from `gridmint-protocol`, calls `gridmint-node`, and returns `Result<Response, ApiError>`.

mod background;
mod commands;
mod tray_icon;

use std::{path::PathBuf, sync::Mutex};

use gridmint_node::{
    Node, Paths,
    local::{LocalMarket, LocalMarketOptions},
};
use gridmint_protocol::HardwareReport;
use tauri::{
    AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder,
    menu::{Menu, MenuItem},
    tray::TrayIconBuilder,
};

/// What the commands share.
pub(crate) struct AppState {
    pub(crate) node: Node,
    /// The hardware report, enumerated once and refreshed on request.
    pub(crate) hardware: Mutex<Option<HardwareReport>>,
    /// The embedded local network the app runs on.
    pub(crate) market: LocalMarket,
    pub(crate) anvil: PathBuf,
    /// Start at login and earning only while idle.
    pub(crate) background: background::Background,
}

/// The anvil binary: GRIDMINT_ANVIL, else the one installed beside the app (`gridmint-anvil`,
/// a sidecar in the packages), else `anvil` on PATH, else the one `make setup` installs in this
/// checkout (a development build).
fn anvil() -> PathBuf {
    if let Some(path) = std::env::var_os("GRIDMINT_ANVIL") {
        return PathBuf::from(path);
    }
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("gridmint-anvil")));
    if let Some(beside) = beside.filter(|p| p.is_file()) {
        return beside;
    }
    let on_path =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("anvil")).find(|a| a.is_file()));
    on_path.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    })
}

/// The network stored for this start: the local one, or the owner's with the key from the
/// keyring (without one, the network says how to get one).
fn network_choice(paths: &Paths) -> gridmint_node::local::NetworkChoice {
    use gridmint_node::local::NetworkChoice;
    let stored = gridmint_node::settings::load_network(paths).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "network settings unreadable: the local network");
        Default::default()
    });
    let Some(custom) = stored.custom else { return NetworkChoice::Local };
    match gridmint_node::wallet::Wallet::for_paths(paths).signer() {
        Ok(signer) => {
            NetworkChoice::Custom { rpc_url: custom.rpc_url, deployment: PathBuf::from(custom.deployment_file), signer }
        }
        Err(e) => NetworkChoice::Unavailable(format!(
            "the custom network signs with your wallet, and there is none ({e}): create or import one on the Wallet page, then restart"
        )),
    }
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
    // The data folder the owner chose (moved there first if a move waits): before anything
    // opens it.
    let (paths, move_error) = gridmint_node::paths::resolve_data(paths);
    let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint-app.log", "info")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    if let Some(e) = move_error {
        tracing::error!(error = %e, data = %paths.data.display(), "the data folder did not move; it stays where it was");
    }
    tracing::info!(data = %paths.data.display(), "starting Gridmint");
    let anvil = anvil();
    // No stored settings: a first run, set up by the owner before this machine registers. An
    // unreadable file is not a first run: the defaults, and earning goes on.
    let (settings, stored) = gridmint_node::settings::load(&paths).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "background settings unreadable: using the defaults");
        (Default::default(), true)
    });
    let network = network_choice(&paths);
    let market = LocalMarket::start(
        paths.clone(),
        LocalMarketOptions {
            anvil: anvil.clone(),
            block_time_s: 1,
            claim_window_s: 6,
            price_floor: stored.then_some(settings.price_floor_per_unit),
            device: settings.earning_device,
            network,
        },
    );
    let state = AppState {
        node: Node::new(paths),
        hardware: Mutex::new(None),
        market: market.clone(),
        anvil,
        background: background::Background::default(),
    };
    let minimized = std::env::args().any(|a| a == background::MINIMIZED);
    let app = tauri::Builder::default()
        // First: a second launch only brings this instance's window forward.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Err(e) = show_window(app) {
                tracing::error!(error = %e, "could not open the window");
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![background::MINIMIZED]),
        ))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .setup(move |app| {
            // Without a tray host (no StatusNotifier on the desktop) the app still runs; the
            // window is then the only way in.
            if let Err(e) = tray(app.handle()) {
                tracing::warn!(error = %e, "no tray icon");
            }
            let state = app.state::<AppState>();
            // A first run applies nothing (no login entry) until the owner finishes the set-up.
            if stored && let Err(e) = state.background.apply(app.handle(), &state.market, settings) {
                tracing::warn!(error = %e.message, "background settings only partly applied");
            }
            // Started at login: to the tray, without a window.
            if minimized && let Some(window) = app.get_webview_window("main") {
                let _ = window.close();
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::hardware_report,
            commands::market_status,
            commands::inspect_package,
            commands::submit_job,
            commands::list_jobs,
            commands::set_earning,
            commands::withdraw_earnings,
            commands::earnings_history,
            commands::change_payout,
            commands::job_timeline,
            commands::pick_path,
            commands::open_results,
            commands::suggest_price_floor,
            commands::run_benchmark,
            commands::start_earning,
            commands::set_network,
            commands::move_data_folder,
            commands::app_settings,
            commands::set_background,
            commands::wallet_status,
            commands::create_wallet,
            commands::import_wallet,
            commands::export_mnemonic,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(move |_, event| match event {
            // The last window closed: keep earning in the tray (the webview is gone with the
            // window, and its memory with it). Quit from the tray menu exits.
            RunEvent::ExitRequested { code: None, api, .. } => {
                tracing::info!("window closed; earning on in the tray");
                api.prevent_exit();
            }
            // The chain is a child process: stop it before the process exits.
            RunEvent::Exit => market.shutdown(),
            _ => {}
        }),
        Err(e) => {
            market.shutdown();
            tracing::error!(error = %e, "the app could not start");
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// The tray's pause/resume item, kept to relabel it.
struct PauseItem(MenuItem<tauri::Wry>);

/// Relabels the tray for the earning state (from the menu or the window).
pub(crate) fn sync_tray(app: &AppHandle, paused: bool) {
    if let Some(item) = app.try_state::<PauseItem>() {
        let _ = item.0.set_text(if paused { "Resume earning" } else { "Pause earning" });
    }
    if paused {
        set_tray_state(app, tray_icon::TrayState::Paused, "Gridmint: paused");
    } else {
        set_tray_state(app, tray_icon::TrayState::Earning, "Gridmint: earning");
    }
}

/// Shows `state` in the tray: its icon (drawn from the app icon) and `text` as the tooltip.
pub(crate) fn set_tray_state(app: &AppHandle, state: tray_icon::TrayState, text: &str) {
    let Some(tray) = app.tray_by_id("gridmint") else { return };
    let _ = tray.set_tooltip(Some(text));
    if let Some(icon) = app.default_window_icon() {
        let rgba = tray_icon::variant(icon.rgba(), icon.width(), icon.height(), state);
        let _ = tray.set_icon(Some(tauri::image::Image::new_owned(rgba, icon.width(), icon.height())));
    }
}

/// The tray icon and its menu: open the window (made again if it was closed), pause or resume
/// earning, quit.
fn tray(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Gridmint", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause earning", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Gridmint", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pause, &quit])?;
    app.manage(PauseItem(pause));
    let mut builder =
        TrayIconBuilder::with_id("gridmint").tooltip("Gridmint: earning").menu(&menu).on_menu_event(|app, event| {
            match event.id.as_ref() {
                "open" => {
                    if let Err(e) = show_window(app) {
                        tracing::error!(error = %e, "could not open the window");
                    }
                }
                "pause" => {
                    let market = &app.state::<AppState>().market;
                    let paused = !market.is_paused();
                    market.set_paused(paused);
                    sync_tray(app, paused);
                }
                "quit" => app.exit(0),
                _ => {}
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// Shows the main window, making it again after it was closed to the tray.
fn show_window(app: &AppHandle) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window("main") {
        window.show()?;
        return window.set_focus();
    }
    WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
        .title("Gridmint")
        .inner_size(1100.0, 760.0)
        .min_inner_size(720.0, 480.0)
        .build()?;
    Ok(())
}
