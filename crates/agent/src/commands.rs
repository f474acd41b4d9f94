//! Command adapters: a few lines each, over the node API, one per command of
//! `gridmint_protocol::for_each_command!` and named as it is, and [`handler`], which routes a
//! window's call (the command's name, its request as the UI sent it) to them. Blocking node calls
//! (device enumeration, chain reads) run on the blocking pool, never on the runtime's threads.

use std::sync::Arc;

use gridmint_node::{
    NodeError,
    wallet::{ExportConfirmation, WalletError},
};
use gridmint_protocol::{
    ApiError, AppSettings, AppSettingsRequest, BenchmarkProgress, BenchmarkReport, ChangePayoutRequest, Command,
    EarningsHistory, EarningsHistoryRequest, ErrorCode, HardwareReport, HardwareReportRequest, InspectPackageRequest,
    JobSummary, JobTimeline, JobTimelineRequest, ListJobsRequest, MarketStatus, MarketStatusRequest, PackagePreview,
    PickPathRequest, PickedPath, PriceSuggestion, QuitAgentRequest, ResultView, RunBenchmarkRequest,
    SetBackgroundRequest, SetEarningRequest, SetNetworkRequest, StartEarningRequest, SubmitJobRequest,
    SuggestPriceFloorRequest, WithdrawEarningsRequest, Withdrawal, commands,
    wallet::{
        CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus,
        WalletStatusRequest,
    },
};
use serde_json::Value;

use crate::Agent;

type State<'a> = &'a Arc<Agent>;

/// Routes a window's calls to the adapters below.
pub(crate) fn handler(agent: Arc<Agent>) -> gridmint_node::control::Handler {
    Arc::new(move |command, args| {
        let agent = agent.clone();
        Box::pin(async move { dispatch(&agent, &command, &args).await })
    })
}

/// The request of command `C`: the `request` field of its arguments.
fn request<C: Command>(args: &Value) -> Result<C::Request, ApiError> {
    let value = args.get("request").cloned().unwrap_or(Value::Null);
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(ErrorCode::InvalidInput, format!("{}: the request does not fit: {e}", C::NAME)))
}

/// The answer of command `C`, as the wire carries it.
fn reply<C: Command>(result: Result<C::Response, ApiError>) -> Result<Value, ApiError> {
    serde_json::to_value(result?)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the answer to {} could not be written: {e}", C::NAME)))
}

/// Routes every command of `gridmint_protocol::for_each_command!` to the adapter of its name
/// below, its request and answer typed by the declaration: a command without an adapter, or with
/// one of other types, does not compile.
macro_rules! route {
    ($( $(#[$doc:meta])* $marker:ident = $name:ident : $request:ty => $response:ty; )*) => {
        async fn dispatch(agent: &Arc<Agent>, command: &str, args: &Value) -> Result<Value, ApiError> {
            $(
                if command == <commands::$marker as Command>::NAME {
                    return reply::<commands::$marker>($name(agent, request::<commands::$marker>(args)?).await);
                }
            )*
            Err(ApiError::new(ErrorCode::InvalidInput, format!("the agent has no command {command:?}")))
        }
    };
}
gridmint_protocol::for_each_command!(route);

async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("{what} stopped: {e}")))?
}

async fn hardware_report(state: State<'_>, request: HardwareReportRequest) -> Result<HardwareReport, ApiError> {
    if !request.refresh
        && let Some(report) = state.hardware.lock().map_err(poisoned)?.clone()
    {
        return Ok(report);
    }
    let worker = state.worker.clone();
    // Enumeration loads the Vulkan driver: in a worker, not here.
    let report =
        blocking("device enumeration", move || worker.hardware().map_err(|e| NodeError::from(e).to_api())).await?;
    *state.hardware.lock().map_err(poisoned)? = Some(report.clone());
    Ok(report)
}

async fn quit_agent(state: State<'_>, request: QuitAgentRequest) -> Result<(), ApiError> {
    let QuitAgentRequest {} = request;
    tracing::info!("quit from a window");
    state.quit.notify_one();
    Ok(())
}

/// The file dialog is the window's own command: a window that passes it on is answered so.
async fn pick_path(_: State<'_>, request: PickPathRequest) -> Result<PickedPath, ApiError> {
    let PickPathRequest { kind } = request;
    Err(ApiError::new(
        ErrorCode::InvalidInput,
        format!("pick_path ({kind:?}) is the window's file dialog, not the agent's"),
    ))
}

async fn market_status(state: State<'_>, request: MarketStatusRequest) -> Result<MarketStatus, ApiError> {
    let MarketStatusRequest {} = request;
    read_status(state).await
}

async fn inspect_package(state: State<'_>, request: InspectPackageRequest) -> Result<PackagePreview, ApiError> {
    let market = state.market.clone();
    blocking("checking the package", move || market.inspect(&request).map_err(|e| e.to_api())).await
}

async fn submit_job(state: State<'_>, request: SubmitJobRequest) -> Result<JobSummary, ApiError> {
    let market = state.market.clone();
    blocking("submitting the job", move || market.submit(&request).map_err(|e| e.to_api())).await
}

async fn list_jobs(state: State<'_>, request: ListJobsRequest) -> Result<Vec<JobSummary>, ApiError> {
    let ListJobsRequest {} = request;
    Ok(state.market.jobs())
}

async fn set_earning(state: State<'_>, request: SetEarningRequest) -> Result<MarketStatus, ApiError> {
    state.market.set_paused(request.paused);
    state.tray.refresh(&state.market);
    read_status(state).await
}

async fn withdraw_earnings(state: State<'_>, request: WithdrawEarningsRequest) -> Result<Withdrawal, ApiError> {
    let WithdrawEarningsRequest {} = request;
    let market = state.market.clone();
    blocking("withdrawing", move || market.withdraw().map_err(|e| e.to_api())).await
}

async fn earnings_history(state: State<'_>, request: EarningsHistoryRequest) -> Result<EarningsHistory, ApiError> {
    let market = state.market.clone();
    blocking("reading the earnings", move || market.earnings(request.period).map_err(|e| e.to_api())).await
}

async fn change_payout(state: State<'_>, request: ChangePayoutRequest) -> Result<MarketStatus, ApiError> {
    let market = state.market.clone();
    blocking("changing the payout address", move || market.change_payout(&request.address).map_err(|e| e.to_api()))
        .await?;
    read_status(state).await
}

async fn job_timeline(state: State<'_>, request: JobTimelineRequest) -> Result<JobTimeline, ApiError> {
    let market = state.market.clone();
    blocking("reading the job's events", move || market.timeline(request.local_id).map_err(|e| e.to_api())).await
}

/// Opens a job's result folder with the desktop's opener (`xdg-open`, `open`, `explorer`;
/// GRIDMINT_OPENER overrides it). Only folders the app saved results to are opened.
async fn open_results(state: State<'_>, request: JobTimelineRequest) -> Result<(), ApiError> {
    let dir = state.market.result_dir(request.local_id).map_err(|e| e.to_api())?;
    let opener = std::env::var_os("GRIDMINT_OPENER").map(std::path::PathBuf::from).unwrap_or_else(|| {
        if cfg!(target_os = "macos") {
            "open".into()
        } else if cfg!(windows) {
            "explorer".into()
        } else {
            "xdg-open".into()
        }
    });
    gridmint_agent::owner_program(&opener).arg(&dir).spawn().map(drop).map_err(|e| {
        ApiError::new(ErrorCode::Internal, format!("could not open {} with {}: {e}", dir.display(), opener.display()))
    })
}

async fn read_result(state: State<'_>, request: JobTimelineRequest) -> Result<ResultView, ApiError> {
    let market = state.market.clone();
    blocking("reading the result", move || market.read_result(request.local_id).map_err(|e| e.to_api())).await
}

async fn suggest_price_floor(state: State<'_>, request: SuggestPriceFloorRequest) -> Result<PriceSuggestion, ApiError> {
    let SuggestPriceFloorRequest {} = request;
    let market = state.market.clone();
    blocking("reading the market's prices", move || market.suggest_price_floor().map_err(|e| e.to_api())).await
}

/// Benchmarks a device, sending `BENCHMARK_PROGRESS` events on the way.
async fn run_benchmark(state: State<'_>, request: RunBenchmarkRequest) -> Result<BenchmarkReport, ApiError> {
    let worker = state.worker.clone();
    let agent = state.clone();
    blocking("benchmarking", move || {
        let mut progress = |p: BenchmarkProgress| agent.emit(gridmint_protocol::events::BENCHMARK_PROGRESS, p);
        worker.benchmark(request.device, 3, &mut progress).map_err(|e| NodeError::from(e).to_api())
    })
    .await
}

/// The end of the first-run set-up: a wallet in the keyring (made if there is none), the
/// settings stored and applied, and the network told to register this machine and earn.
async fn start_earning(state: State<'_>, request: StartEarningRequest) -> Result<AppSettings, ApiError> {
    let wallet = state.node.wallet();
    let made = blocking("writing the keyring", move || match wallet.address() {
        Ok(_) => Ok(()),
        Err(WalletError::NoWallet { .. }) => wallet.create().map(|_| ()).map_err(wallet_error),
        Err(e) => Err(wallet_error(e)),
    })
    .await;
    // The local network earns with its own test account: a desktop without a keyring (no
    // Secret Service) still earns there; the Wallet page says what is wrong.
    if let Err(e) = made {
        tracing::warn!(error = %e.message, "no wallet made in the keyring");
    }
    gridmint_node::settings::store(state.node.paths(), &request.settings).map_err(|e| e.to_api())?;
    if let Err(e) = state.background.apply(state, request.settings) {
        // Earning goes on without what failed (say, idle detection); the Settings page says why.
        tracing::warn!(error = %e.message, "background settings only partly applied");
    }
    state.market.start_earning(request.settings.price_floor_per_unit);
    tracing::info!(price_floor = request.settings.price_floor_per_unit, "set-up finished: earning");
    Ok(settings_of(state))
}

async fn app_settings(state: State<'_>, request: AppSettingsRequest) -> Result<AppSettings, ApiError> {
    let AppSettingsRequest {} = request;
    Ok(settings_of(state))
}

/// Checks and stores the network for the next start.
async fn set_network(state: State<'_>, request: SetNetworkRequest) -> Result<AppSettings, ApiError> {
    gridmint_node::settings::store_network(state.node.paths(), &request.settings).map_err(|e| e.to_api())?;
    Ok(settings_of(state))
}

/// Trusts the market code the status called untrusted, if the window confirmed exactly that
/// fingerprint; joined at the next start.
async fn trust_market(
    state: State<'_>,
    request: gridmint_protocol::TrustMarketRequest,
) -> Result<AppSettings, ApiError> {
    let confirmed = gridmint_node::settings::fingerprint(&request.fingerprint).map_err(|e| e.to_api())?;
    match state.market.untrusted_market() {
        Some((_, seen)) if seen == confirmed => {}
        Some((market, seen)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("the market {market} has code {seen}, not {confirmed}: nothing was trusted"),
            ));
        }
        None => {
            return Err(ApiError::new(ErrorCode::InvalidInput, "no untrusted market to trust: nothing was changed"));
        }
    }
    gridmint_node::settings::trust_market(state.node.paths(), confirmed).map_err(|e| e.to_api())?;
    Ok(settings_of(state))
}

/// Checks the new data folder and keeps it for the next start (nothing has the data open then).
async fn move_data_folder(
    state: State<'_>,
    request: gridmint_protocol::MoveDataFolderRequest,
) -> Result<AppSettings, ApiError> {
    let to = std::path::PathBuf::from(request.path.trim());
    gridmint_node::paths::request_data_move(state.node.paths(), &to).map_err(|e| e.to_api())?;
    Ok(settings_of(state))
}

fn settings_of(state: &Agent) -> AppSettings {
    let paths = state.node.paths();
    let network_settings = gridmint_node::settings::load_network(paths).unwrap_or_default();
    AppSettings {
        network: state.market.network_name().into(),
        network_settings,
        data_dir_next: gridmint_node::paths::pending_data_move(paths).map(|p| p.display().to_string()),
        data_dir: paths.data.display().to_string(),
        logs_dir: paths.logs.display().to_string(),
        models_dir: paths.models.display().to_string(),
        anvil: state.anvil.display().to_string(),
        background: *state.background.settings.lock().unwrap_or_else(|p| p.into_inner()),
        idle_detection_error: state.background.idle_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        onboarded: !state.market.awaits_owner(),
    }
}

/// Stores the background settings, then applies them (login entry, idle mode).
async fn set_background(state: State<'_>, request: SetBackgroundRequest) -> Result<AppSettings, ApiError> {
    gridmint_node::settings::store(state.node.paths(), &request.settings).map_err(|e| e.to_api())?;
    state.background.apply(state, request.settings)?;
    Ok(settings_of(state))
}

/// The market status, read from the chain on the blocking pool.
async fn read_status(state: &Agent) -> Result<MarketStatus, ApiError> {
    let market = state.market.clone();
    blocking("reading the market", move || Ok(market.status())).await
}

fn with_address(address: impl std::fmt::Display) -> WalletStatus {
    WalletStatus { address: Some(address.to_string()) }
}

fn wallet_error(e: WalletError) -> ApiError {
    NodeError::Wallet(e).to_api()
}

async fn wallet_status(state: State<'_>, request: WalletStatusRequest) -> Result<WalletStatus, ApiError> {
    let WalletStatusRequest {} = request;
    let wallet = state.node.wallet();
    blocking("reading the keyring", move || match wallet.address() {
        Ok(address) => Ok(with_address(address)),
        Err(WalletError::NoWallet { .. }) => Ok(WalletStatus { address: None }),
        Err(e) => Err(wallet_error(e)),
    })
    .await
}

async fn create_wallet(state: State<'_>, request: CreateWalletRequest) -> Result<WalletStatus, ApiError> {
    let CreateWalletRequest {} = request;
    let wallet = state.node.wallet();
    blocking("writing the keyring", move || wallet.create().map(with_address).map_err(wallet_error)).await
}

async fn import_wallet(state: State<'_>, request: ImportWalletRequest) -> Result<WalletStatus, ApiError> {
    let wallet = state.node.wallet();
    blocking("writing the keyring", move || wallet.import(&request.phrase).map(with_address).map_err(wallet_error))
        .await
}

/// The recovery words, only on a confirmed request (the one way key material reaches the UI).
async fn export_mnemonic(state: State<'_>, request: ExportMnemonicRequest) -> Result<RecoveryWords, ApiError> {
    let confirmation = if request.confirmed { ExportConfirmation::Confirmed } else { ExportConfirmation::NotConfirmed };
    let wallet = state.node.wallet();
    blocking("reading the keyring", move || {
        wallet.export_mnemonic(confirmation).map(|w| RecoveryWords { words: w.to_string() }).map_err(wallet_error)
    })
    .await
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> ApiError {
    ApiError::new(ErrorCode::Internal, "the app's state lock was poisoned by an earlier failure")
}
