//! Gridmint's desktop agent: the process that earns. It runs the network (the embedded local
//! chain, or the owner's), the provider, the tray icon and the login entry, and answers the app's
//! windows over the control socket (`gridmint_home::control`). It holds no webview: a window is a
//! process of its own (`gridmint-app`), started from the tray or the desktop and gone when closed,
//! so what stays in the tray is only what earns.
//!
//! On Windows it is a GUI-subsystem program: started at login or by the window, it opens no
//! console.
//!
//! Module map:
//! - `commands`: one function per UI command, over the node API, and the table that routes a
//!   window's call to it.
//! - `background`: the login entry, earning only while the owner is away, notifications.
//! - `tray`: the StatusNotifierItem icon and its menu.
//! - `tray_icon`: the icon's states, drawn from the app icon.
//! - `stop_window` (Windows): the hidden window through which Windows asks the agent to stop.
//! - `windows_process` (Windows): children without console windows that end with the agent.
#![cfg_attr(windows, windows_subsystem = "windows")]

mod background;
mod commands;
#[cfg(windows)]
mod stop_window;
mod tray;
mod tray_icon;
#[cfg(windows)]
mod windows_process;

use std::{path::PathBuf, process::ExitCode, sync::Mutex};

use gridmint_agent::local::{LocalMarket, LocalMarketOptions, NetworkChoice};
use gridmint_node::{
    Node, Paths,
    control::{self, Message},
};
use gridmint_protocol::HardwareReport;
use gridmint_runner::worker::DeviceWorker;
use tokio::sync::broadcast;

/// What the commands, the tray and the background share.
#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) node: Node,
    /// The hardware report, enumerated once and refreshed on request.
    pub(crate) hardware: Mutex<Option<HardwareReport>>,
    pub(crate) market: LocalMarket,
    /// Where device work runs: this executable as a worker process, so the agent never loads
    /// the Vulkan driver (it would keep its pages for good).
    pub(crate) worker: DeviceWorker,
    pub(crate) anvil: PathBuf,
    /// Start at login and earning only while idle.
    pub(crate) background: background::Background,
    /// To every window: events, and "quit".
    pub(crate) pushes: broadcast::Sender<Message>,
    pub(crate) tray: tray::TrayLink,
    /// Resolves when the agent should quit (the tray's Quit).
    pub(crate) quit: tokio::sync::Notify,
}

impl Agent {
    /// Sends a UI event to every window.
    pub(crate) fn emit(&self, name: &str, payload: impl serde::Serialize) {
        match serde_json::to_value(payload) {
            // No window open is fine: nobody is watching.
            Ok(payload) => drop(self.pushes.send(Message::Event { name: name.to_owned(), payload })),
            Err(e) => tracing::warn!(error = %e, event = name, "event not sent"),
        }
    }
}

/// How often the agent looks for a change of the status or the jobs to push.
const PUSH_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Pushes the market status and the job list to the windows whenever they change: computed here
/// once per [`PUSH_PERIOD`] while a window is open (the chain is read again only after a new
/// block), never once per window, and not at all with no window open.
async fn push_changes(agent: std::sync::Arc<Agent>) {
    let mut last: Option<(gridmint_protocol::MarketStatus, Vec<gridmint_protocol::JobSummary>)> = None;
    let mut tick = tokio::time::interval(PUSH_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if agent.pushes.receiver_count() == 0 {
            last = None; // the next window gets everything again
            continue;
        }
        let market = agent.market.clone();
        let Ok((status, jobs)) = tokio::task::spawn_blocking(move || (market.status(), market.jobs())).await else {
            continue;
        };
        let (old_status, old_jobs) = match &last {
            Some((status, jobs)) => (Some(status), Some(jobs)),
            None => (None, None),
        };
        if old_status != Some(&status) {
            agent.emit(gridmint_protocol::events::MARKET_STATUS, &status);
        }
        if old_jobs != Some(&jobs) {
            agent.emit(gridmint_protocol::events::JOBS, &jobs);
        }
        last = Some((status, jobs));
    }
}

/// The anvil binary: GRIDMINT_ANVIL, else the one installed beside the agent (`gridmint-anvil`,
/// a sidecar in the packages), else `anvil` on PATH, else the one `make setup` installs in this
/// checkout (a development build).
fn anvil() -> PathBuf {
    if let Some(path) = std::env::var_os("GRIDMINT_ANVIL") {
        return PathBuf::from(path);
    }
    if let Some(beside) = beside_me("gridmint-anvil") {
        return beside;
    }
    let name = format!("anvil{}", std::env::consts::EXE_SUFFIX);
    let on_path =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(&name)).find(|a| a.is_file()));
    on_path.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    })
}

/// The program `name` (`name.exe` on Windows) in the folder of this executable, if it is there.
pub(crate) fn beside_me(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))).filter(|p| p.is_file())
}

/// The network stored for this start: the local one, or the owner's with the key from the
/// keyring (without one, the network says how to get one).
fn network_choice(paths: &Paths) -> NetworkChoice {
    let stored = gridmint_node::settings::load_network(paths).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "network settings unreadable: the local network");
        Default::default()
    });
    let Some(custom) = stored.custom else { return NetworkChoice::Local };
    let trusted_market_code = match custom.trusted_market_code.as_deref().map(gridmint_node::settings::fingerprint) {
        None => None,
        Some(Ok(code)) => Some(code),
        Some(Err(e)) => return NetworkChoice::Unavailable(e.to_string()),
    };
    match gridmint_node::wallet::Wallet::for_paths(paths).signer() {
        Ok(signer) => NetworkChoice::Custom {
            rpc_url: custom.rpc_url,
            deployment: PathBuf::from(custom.deployment_file),
            signer: Box::new(signer),
            trusted_market_code,
        },
        Err(e) => NetworkChoice::Unavailable(format!(
            "the custom network signs with your wallet, and there is none ({e}): create or import one on the Wallet page, then restart"
        )),
    }
}

/// The argument that makes this executable a device worker (`gridmint_runner::worker`).
const DEVICE_WORKER: &str = "--device-worker";

fn main() -> ExitCode {
    // This executable as anvil's launcher (the local network's, on Windows): nothing else.
    #[cfg(windows)]
    if let Some(anvil) = std::env::var_os(gridmint_node::devnet::ANVIL_LAUNCHER_ENV) {
        return windows_process::launch_anvil(anvil);
    }
    let paths = Paths::from_env();
    if std::env::args().any(|a| a == DEVICE_WORKER) {
        // One request on stdin, the answer on stdout; its log to stderr and its own file. The
        // data folder is the agent's to move, never a worker's.
        let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint-worker.log", "warn").ok();
        return if gridmint_runner::worker::serve_stdio(&paths) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    // The data folder the owner chose (moved there first if a move waits): before anything
    // opens it.
    let (paths, move_error) = gridmint_node::paths::resolve_data(paths);
    // A folder that cannot be narrowed (a file system without permissions) is said, not fatal.
    let secured = gridmint_node::paths::secure_folders(&paths);
    let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint-agent.log", "info")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    if let Some(e) = move_error {
        tracing::error!(error = %e, data = %paths.data.display(), "the data folder did not move; it stays where it was");
    }
    if let Err(e) = secured {
        tracing::warn!(error = %e, "the app's folders are not restricted to their owner");
    }
    #[cfg(windows)]
    {
        // Its children (the device workers, anvil's launcher) end with it, however it ends.
        if let Err(e) = windows_process::end_children_with_me() {
            tracing::warn!(error = %e, "the agent's children may outlive it (no job object)");
        }
        // Stop requests from the start: taskkill, the installer, logoff, shutdown.
        if let Err(e) = stop_window::open() {
            tracing::warn!(error = %e, "no stop window: logoff and the installer will end the agent outright");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the agent's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(run(paths));
    #[cfg(windows)]
    stop_window::stopped();
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the agent stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves when the system asks the agent to stop: SIGTERM on Unix; on Windows a message to its
/// hidden window (`stop_window`: taskkill, logoff, shutdown) or, when it runs in one, its
/// console's close.
fn terminated() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(async move {
            terminate.recv().await;
        })
    }
    #[cfg(windows)]
    {
        let mut close = tokio::signal::windows::ctrl_close()?;
        Ok(async move {
            tokio::select! {
                _ = close.recv() => {}
                () = stop_window::requested() => {}
            }
        })
    }
}

async fn run(paths: Paths) -> anyhow::Result<()> {
    let socket = control::socket_path(&paths);
    // First: one agent per home. A second start (the login entry while one runs) ends here.
    let listener = match control::bind(&socket).await {
        Ok(listener) => listener,
        Err(control::ControlError::AlreadyRunning { path }) => {
            tracing::info!(socket = %path.display(), "an agent already runs for this home");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(data = %paths.data.display(), socket = %socket.display(), "starting the Gridmint agent");
    let anvil = anvil();
    // No stored settings: a first run, set up by the owner before this machine registers. An
    // unreadable file is not a first run: the defaults, and earning goes on.
    let (settings, stored) = gridmint_node::settings::load(&paths).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "background settings unreadable: using the defaults");
        (Default::default(), true)
    });
    let worker = DeviceWorker::new(std::env::current_exe()?, vec![DEVICE_WORKER.to_owned()]);
    let market = LocalMarket::start(
        paths.clone(),
        LocalMarketOptions {
            anvil: anvil.clone(),
            // On Windows this executable starts anvil (without a console window, in a job).
            anvil_launcher: if cfg!(windows) { Some(std::env::current_exe()?) } else { None },
            block_time_s: 1,
            claim_window_s: 6,
            price_floor: stored.then_some(settings.price_floor_per_unit),
            device: settings.earning_device,
            network: network_choice(&paths),
            worker: worker.clone(),
        },
    );
    let (pushes, _) = broadcast::channel(64);
    let agent = std::sync::Arc::new(Agent {
        node: Node::new(paths),
        hardware: Mutex::new(None),
        market: market.clone(),
        worker,
        anvil,
        background: background::Background::default(),
        pushes: pushes.clone(),
        tray: tray::TrayLink::default(),
        quit: tokio::sync::Notify::new(),
    });
    // Without a tray host (no StatusNotifierWatcher on the desktop) the agent still earns; the
    // app's window is then the way in.
    tray::spawn(&agent).await;
    // A first run applies nothing (no login entry) until the owner finishes the set-up.
    if stored && let Err(e) = agent.background.apply(&agent, settings) {
        tracing::warn!(error = %e.message, "background settings only partly applied");
    }
    // Only the app's own window (and this executable) may call the agent: not every program of
    // the owner (see `control::Admit`).
    let admit = control::Admit::app_beside(&std::env::current_exe()?);
    let server = tokio::spawn(control::serve(listener, commands::handler(agent.clone()), pushes.clone(), admit));
    let pusher = tokio::spawn(push_changes(agent.clone()));

    tokio::select! {
        _ = agent.quit.notified() => tracing::info!("asked to quit (the tray or a window)"),
        _ = terminated()? => tracing::info!("asked to stop (SIGTERM; on Windows taskkill, logoff or shutdown)"),
        _ = tokio::signal::ctrl_c() => tracing::info!("asked to stop (Ctrl-C)"),
    }
    // The windows close with the agent; then the chain (a child process) stops before we exit.
    let _ = pushes.send(Message::Quit);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    server.abort();
    pusher.abort();
    #[cfg(unix)]
    let _ = std::fs::remove_file(&socket);
    tokio::task::spawn_blocking(move || market.shutdown()).await?;
    tracing::info!("the agent stopped");
    Ok(())
}
