//! Command adapters: a few lines each, over the node API. Blocking node calls (device enumeration,
//! chain reads) run on the blocking pool, never on the async runtime's threads.

use gridmint_node::{
    NodeError,
    wallet::{ExportConfirmation, WalletError},
};
use gridmint_protocol::{
    ApiError, AppSettings, AppSettingsRequest, BenchmarkProgress, BenchmarkReport, ChangePayoutRequest,
    EarningsHistory, EarningsHistoryRequest, ErrorCode, HardwareReport, HardwareReportRequest, InspectPackageRequest,
    JobSummary, JobTimeline, JobTimelineRequest, ListJobsRequest, MarketStatus, MarketStatusRequest, PackagePreview,
    PriceSuggestion, RunBenchmarkRequest, SetBackgroundRequest, SetEarningRequest, SetNetworkRequest,
    StartEarningRequest, SubmitJobRequest, SuggestPriceFloorRequest, WithdrawEarningsRequest, Withdrawal,
    wallet::{
        CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus,
        WalletStatusRequest,
    },
};
use tauri::State;

use crate::AppState;

async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("{what} stopped: {e}")))?
}

#[tauri::command]
pub(crate) async fn hardware_report(
    state: State<'_, AppState>,
    request: HardwareReportRequest,
) -> Result<HardwareReport, ApiError> {
    if !request.refresh
        && let Some(report) = state.hardware.lock().map_err(poisoned)?.clone()
    {
        return Ok(report);
    }
    let node = state.node.clone();
    // Enumeration loads the Vulkan driver.
    let report = blocking("device enumeration", move || node.hardware_report().map_err(|e| e.to_api())).await?;
    *state.hardware.lock().map_err(poisoned)? = Some(report.clone());
    Ok(report)
}

#[tauri::command]
pub(crate) async fn market_status(
    state: State<'_, AppState>,
    request: MarketStatusRequest,
) -> Result<MarketStatus, ApiError> {
    let MarketStatusRequest {} = request;
    read_status(&state).await
}

#[tauri::command]
pub(crate) async fn inspect_package(
    state: State<'_, AppState>,
    request: InspectPackageRequest,
) -> Result<PackagePreview, ApiError> {
    let market = state.market.clone();
    blocking("checking the package", move || market.inspect(&request).map_err(|e| e.to_api())).await
}

#[tauri::command]
pub(crate) async fn submit_job(state: State<'_, AppState>, request: SubmitJobRequest) -> Result<JobSummary, ApiError> {
    let market = state.market.clone();
    blocking("submitting the job", move || market.submit(&request).map_err(|e| e.to_api())).await
}

#[tauri::command]
pub(crate) async fn list_jobs(
    state: State<'_, AppState>,
    request: ListJobsRequest,
) -> Result<Vec<JobSummary>, ApiError> {
    let ListJobsRequest {} = request;
    Ok(state.market.jobs())
}

#[tauri::command]
pub(crate) async fn set_earning(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: SetEarningRequest,
) -> Result<MarketStatus, ApiError> {
    state.market.set_paused(request.paused);
    crate::sync_tray(&app, request.paused);
    read_status(&state).await
}

#[tauri::command]
pub(crate) async fn withdraw_earnings(
    state: State<'_, AppState>,
    request: WithdrawEarningsRequest,
) -> Result<Withdrawal, ApiError> {
    let WithdrawEarningsRequest {} = request;
    let market = state.market.clone();
    blocking("withdrawing", move || market.withdraw().map_err(|e| e.to_api())).await
}

#[tauri::command]
pub(crate) async fn earnings_history(
    state: State<'_, AppState>,
    request: EarningsHistoryRequest,
) -> Result<EarningsHistory, ApiError> {
    let market = state.market.clone();
    blocking("reading the earnings", move || market.earnings(request.period).map_err(|e| e.to_api())).await
}

#[tauri::command]
pub(crate) async fn change_payout(
    state: State<'_, AppState>,
    request: ChangePayoutRequest,
) -> Result<MarketStatus, ApiError> {
    let market = state.market.clone();
    blocking("changing the payout address", move || market.change_payout(&request.address).map_err(|e| e.to_api()))
        .await?;
    read_status(&state).await
}

/// The desktop's own file dialog, for a package or a results folder.
#[tauri::command]
pub(crate) async fn pick_path(
    app: tauri::AppHandle,
    request: gridmint_protocol::PickPathRequest,
) -> Result<gridmint_protocol::PickedPath, ApiError> {
    use gridmint_protocol::PickKind;
    use tauri_plugin_dialog::DialogExt as _;
    blocking("the file dialog", move || {
        let dialog = app.dialog().file();
        let picked = match request.kind {
            PickKind::PackageFolder => dialog.set_title("Choose a job folder").blocking_pick_folder(),
            PickKind::PackageZip => {
                dialog.set_title("Choose a job .zip").add_filter("Job package", &["zip"]).blocking_pick_file()
            }
            PickKind::ResultsFolder => dialog.set_title("Where should the results go?").blocking_pick_folder(),
        };
        let path = picked
            .map(|p| p.into_path())
            .transpose()
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the dialog returned no local path: {e}")))?;
        Ok(gridmint_protocol::PickedPath { path: path.map(|p| p.display().to_string()) })
    })
    .await
}

#[tauri::command]
pub(crate) async fn job_timeline(
    state: State<'_, AppState>,
    request: JobTimelineRequest,
) -> Result<JobTimeline, ApiError> {
    let market = state.market.clone();
    blocking("reading the job's events", move || market.timeline(request.local_id).map_err(|e| e.to_api())).await
}

/// Opens a job's result folder with the desktop's opener (`xdg-open`, `open`, `explorer`;
/// GRIDMINT_OPENER overrides it). Only folders the app saved results to are opened.
#[tauri::command]
pub(crate) async fn open_results(state: State<'_, AppState>, request: JobTimelineRequest) -> Result<(), ApiError> {
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
    std::process::Command::new(&opener).arg(&dir).spawn().map(drop).map_err(|e| {
        ApiError::new(ErrorCode::Internal, format!("could not open {} with {}: {e}", dir.display(), opener.display()))
    })
}

#[tauri::command]
pub(crate) async fn suggest_price_floor(
    state: State<'_, AppState>,
    request: SuggestPriceFloorRequest,
) -> Result<PriceSuggestion, ApiError> {
    let SuggestPriceFloorRequest {} = request;
    let market = state.market.clone();
    blocking("reading the market's prices", move || market.suggest_price_floor().map_err(|e| e.to_api())).await
}

/// Benchmarks a device, sending `BENCHMARK_PROGRESS` events on the way.
#[tauri::command]
pub(crate) async fn run_benchmark(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: RunBenchmarkRequest,
) -> Result<BenchmarkReport, ApiError> {
    use tauri::Emitter as _;
    let node = state.node.clone();
    blocking("benchmarking", move || {
        let mut progress = |p: BenchmarkProgress| {
            if let Err(e) = app.emit(gridmint_protocol::events::BENCHMARK_PROGRESS, p) {
                tracing::warn!(error = %e, "benchmark progress not sent");
            }
        };
        node.benchmark_with_progress(request.device, 3, &mut progress).map_err(|e| e.to_api())
    })
    .await
}

/// The end of the first-run set-up: a wallet in the keyring (made if there is none), the
/// settings stored and applied, and the network told to register this machine and earn.
#[tauri::command]
pub(crate) async fn start_earning(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: StartEarningRequest,
) -> Result<AppSettings, ApiError> {
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
    if let Err(e) = state.background.apply(&app, &state.market, request.settings) {
        // Earning goes on without what failed (say, idle detection); the Settings page says why.
        tracing::warn!(error = %e.message, "background settings only partly applied");
    }
    state.market.start_earning(request.settings.price_floor_per_unit);
    tracing::info!(price_floor = request.settings.price_floor_per_unit, "set-up finished: earning");
    Ok(settings_of(&state))
}

#[tauri::command]
pub(crate) async fn app_settings(
    state: State<'_, AppState>,
    request: AppSettingsRequest,
) -> Result<AppSettings, ApiError> {
    let AppSettingsRequest {} = request;
    Ok(settings_of(&state))
}

/// Checks and stores the network for the next start.
#[tauri::command]
pub(crate) async fn set_network(
    state: State<'_, AppState>,
    request: SetNetworkRequest,
) -> Result<AppSettings, ApiError> {
    gridmint_node::settings::store_network(state.node.paths(), &request.settings).map_err(|e| e.to_api())?;
    Ok(settings_of(&state))
}

/// Checks the new data folder and keeps it for the next start (nothing has the data open then).
#[tauri::command]
pub(crate) async fn move_data_folder(
    state: State<'_, AppState>,
    request: gridmint_protocol::MoveDataFolderRequest,
) -> Result<AppSettings, ApiError> {
    let to = std::path::PathBuf::from(request.path.trim());
    gridmint_node::paths::request_data_move(state.node.paths(), &to).map_err(|e| e.to_api())?;
    Ok(settings_of(&state))
}

fn settings_of(state: &AppState) -> AppSettings {
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
#[tauri::command]
pub(crate) async fn set_background(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: SetBackgroundRequest,
) -> Result<AppSettings, ApiError> {
    gridmint_node::settings::store(state.node.paths(), &request.settings).map_err(|e| e.to_api())?;
    state.background.apply(&app, &state.market, request.settings)?;
    Ok(settings_of(&state))
}

/// The market status, read from the chain on the blocking pool.
async fn read_status(state: &AppState) -> Result<MarketStatus, ApiError> {
    let market = state.market.clone();
    blocking("reading the market", move || Ok(market.status())).await
}

fn with_address(address: impl std::fmt::Display) -> WalletStatus {
    WalletStatus { address: Some(address.to_string()) }
}

fn wallet_error(e: WalletError) -> ApiError {
    NodeError::Wallet(e).to_api()
}

#[tauri::command]
pub(crate) async fn wallet_status(
    state: State<'_, AppState>,
    request: WalletStatusRequest,
) -> Result<WalletStatus, ApiError> {
    let WalletStatusRequest {} = request;
    let wallet = state.node.wallet();
    blocking("reading the keyring", move || match wallet.address() {
        Ok(address) => Ok(with_address(address)),
        Err(WalletError::NoWallet { .. }) => Ok(WalletStatus { address: None }),
        Err(e) => Err(wallet_error(e)),
    })
    .await
}

#[tauri::command]
pub(crate) async fn create_wallet(
    state: State<'_, AppState>,
    request: CreateWalletRequest,
) -> Result<WalletStatus, ApiError> {
    let CreateWalletRequest {} = request;
    let wallet = state.node.wallet();
    blocking("writing the keyring", move || wallet.create().map(with_address).map_err(wallet_error)).await
}

#[tauri::command]
pub(crate) async fn import_wallet(
    state: State<'_, AppState>,
    request: ImportWalletRequest,
) -> Result<WalletStatus, ApiError> {
    let wallet = state.node.wallet();
    blocking("writing the keyring", move || wallet.import(&request.phrase).map(with_address).map_err(wallet_error))
        .await
}

/// The recovery words, only on a confirmed request (the one way key material reaches the UI).
#[tauri::command]
pub(crate) async fn export_mnemonic(
    state: State<'_, AppState>,
    request: ExportMnemonicRequest,
) -> Result<RecoveryWords, ApiError> {
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
