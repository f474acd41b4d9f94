//! Command adapters: a few lines each, over the node API. Blocking node calls (device enumeration,
//! chain reads) run on the blocking pool, never on the async runtime's threads.

use gridmint_node::{
    NodeError,
    wallet::{ExportConfirmation, WalletError},
};
use gridmint_protocol::{
    ApiError, AppSettings, AppSettingsRequest, ErrorCode, HardwareReport, HardwareReportRequest, InspectPackageRequest,
    JobSummary, ListJobsRequest, MarketStatus, MarketStatusRequest, PackagePreview, SetBackgroundRequest,
    SetEarningRequest, SubmitJobRequest, WithdrawEarningsRequest, Withdrawal,
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
pub(crate) async fn app_settings(
    state: State<'_, AppState>,
    request: AppSettingsRequest,
) -> Result<AppSettings, ApiError> {
    let AppSettingsRequest {} = request;
    Ok(settings_of(&state))
}

fn settings_of(state: &AppState) -> AppSettings {
    let paths = state.node.paths();
    AppSettings {
        network: "local".into(),
        data_dir: paths.data.display().to_string(),
        logs_dir: paths.logs.display().to_string(),
        models_dir: paths.models.display().to_string(),
        anvil: state.anvil.display().to_string(),
        background: *state.background.settings.lock().unwrap_or_else(|p| p.into_inner()),
        idle_detection_error: state.background.idle_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
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
