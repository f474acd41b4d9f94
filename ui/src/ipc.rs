//! The one place the UI crosses into the shell: `window.__TAURI__.core.invoke`, with the
//! protocol crate's request and response types. Errors arrive as `{code, message}`.

use gridmint_protocol::{
    ApiError, ErrorCode, HardwareReport, HardwareReportRequest, InspectPackageRequest, JobSummary, ListJobsRequest,
    MarketStatus, MarketStatusRequest, PackagePreview, SetEarningRequest, SubmitJobRequest, WithdrawEarningsRequest,
    Withdrawal, commands,
    wallet::{
        CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus,
        WalletStatusRequest,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

#[derive(Serialize)]
struct Args<'a, T> {
    request: &'a T,
}

async fn invoke<Req: Serialize, Resp: DeserializeOwned>(cmd: &str, request: &Req) -> Result<Resp, ApiError> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    let args = Args { request }
        .serialize(&serializer)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("could not encode the {cmd} request: {e}")))?;
    match tauri_invoke(cmd, args).await {
        Ok(value) => serde_wasm_bindgen::from_value(value)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("unexpected {cmd} response: {e}"))),
        Err(value) => Err(serde_wasm_bindgen::from_value::<ApiError>(value.clone()).unwrap_or_else(|_| {
            let text = value.as_string().unwrap_or_else(|| format!("{value:?}"));
            ApiError::new(ErrorCode::Internal, format!("{cmd} failed: {text}"))
        })),
    }
}

pub async fn hardware_report(refresh: bool) -> Result<HardwareReport, ApiError> {
    invoke(commands::HARDWARE_REPORT, &HardwareReportRequest { refresh }).await
}

pub async fn market_status() -> Result<MarketStatus, ApiError> {
    invoke(commands::MARKET_STATUS, &MarketStatusRequest {}).await
}

pub async fn inspect_package(path: String, replicas: u8, price_per_unit: u64) -> Result<PackagePreview, ApiError> {
    invoke(commands::INSPECT_PACKAGE, &InspectPackageRequest { path, replicas, price_per_unit }).await
}

pub async fn submit_job(request: SubmitJobRequest) -> Result<JobSummary, ApiError> {
    invoke(commands::SUBMIT_JOB, &request).await
}

pub async fn set_earning(paused: bool) -> Result<MarketStatus, ApiError> {
    invoke(commands::SET_EARNING, &SetEarningRequest { paused }).await
}

pub async fn withdraw_earnings() -> Result<Withdrawal, ApiError> {
    invoke(commands::WITHDRAW_EARNINGS, &WithdrawEarningsRequest {}).await
}

pub async fn earnings_history(
    period: gridmint_protocol::EarningsPeriod,
) -> Result<gridmint_protocol::EarningsHistory, ApiError> {
    invoke(commands::EARNINGS_HISTORY, &gridmint_protocol::EarningsHistoryRequest { period }).await
}

pub async fn change_payout(address: String) -> Result<MarketStatus, ApiError> {
    invoke(commands::CHANGE_PAYOUT, &gridmint_protocol::ChangePayoutRequest { address }).await
}

/// Stops earning and quits: the agent (and every window with it).
pub async fn quit_agent() -> Result<(), ApiError> {
    invoke(commands::QUIT_AGENT, &gridmint_protocol::QuitAgentRequest {}).await
}

pub async fn app_settings() -> Result<gridmint_protocol::AppSettings, ApiError> {
    invoke(commands::APP_SETTINGS, &gridmint_protocol::AppSettingsRequest {}).await
}

pub async fn set_background(
    settings: gridmint_protocol::BackgroundSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    invoke(commands::SET_BACKGROUND, &gridmint_protocol::SetBackgroundRequest { settings }).await
}

pub async fn wallet_status() -> Result<WalletStatus, ApiError> {
    invoke(commands::WALLET_STATUS, &WalletStatusRequest {}).await
}

pub async fn create_wallet() -> Result<WalletStatus, ApiError> {
    invoke(commands::CREATE_WALLET, &CreateWalletRequest {}).await
}

pub async fn import_wallet(phrase: String) -> Result<WalletStatus, ApiError> {
    invoke(commands::IMPORT_WALLET, &ImportWalletRequest { phrase }).await
}

pub async fn export_mnemonic(confirmed: bool) -> Result<RecoveryWords, ApiError> {
    invoke(commands::EXPORT_MNEMONIC, &ExportMnemonicRequest { confirmed }).await
}

pub async fn list_jobs() -> Result<Vec<JobSummary>, ApiError> {
    invoke(commands::LIST_JOBS, &ListJobsRequest {}).await
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    fn tauri_listen(event: &str, handler: &Closure<dyn FnMut(JsValue)>) -> Result<js_sys::Promise, JsValue>;
}

#[derive(serde::Deserialize)]
struct DragDrop {
    paths: Vec<String>,
}

/// Calls `f` with the paths of files or folders dropped on the window (Tauri's drag-drop event:
/// the webview itself never sees their paths).
pub fn on_file_drop(mut f: impl FnMut(Vec<String>) + 'static) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload = js_sys::Reflect::get(&event, &JsValue::from_str("payload")).ok();
        if let Some(drop) = payload.and_then(|p| serde_wasm_bindgen::from_value::<DragDrop>(p).ok()) {
            f(drop.paths);
        }
    });
    if tauri_listen("tauri://drag-drop", &closure).is_ok() {
        closure.forget();
    }
}

/// Calls `f` with each `BenchmarkProgress` the shell sends while a benchmark runs.
pub fn on_benchmark_progress(mut f: impl FnMut(gridmint_protocol::BenchmarkProgress) + 'static) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload = js_sys::Reflect::get(&event, &JsValue::from_str("payload")).ok();
        if let Some(progress) = payload.and_then(|p| serde_wasm_bindgen::from_value(p).ok()) {
            f(progress);
        }
    });
    if tauri_listen(gridmint_protocol::events::BENCHMARK_PROGRESS, &closure).is_ok() {
        closure.forget();
    }
}

pub async fn job_timeline(local_id: u64) -> Result<gridmint_protocol::JobTimeline, ApiError> {
    invoke(commands::JOB_TIMELINE, &gridmint_protocol::JobTimelineRequest { local_id }).await
}

pub async fn set_network(
    settings: gridmint_protocol::NetworkSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    invoke(commands::SET_NETWORK, &gridmint_protocol::SetNetworkRequest { settings }).await
}

pub async fn open_results(local_id: u64) -> Result<(), ApiError> {
    invoke(commands::OPEN_RESULTS, &gridmint_protocol::JobTimelineRequest { local_id }).await
}

pub async fn move_data_folder(path: String) -> Result<gridmint_protocol::AppSettings, ApiError> {
    invoke(commands::MOVE_DATA_FOLDER, &gridmint_protocol::MoveDataFolderRequest { path }).await
}

/// The desktop's file dialog; `None` when cancelled.
pub async fn pick_path(kind: gridmint_protocol::PickKind) -> Result<Option<String>, ApiError> {
    let picked: gridmint_protocol::PickedPath =
        invoke(commands::PICK_PATH, &gridmint_protocol::PickPathRequest { kind }).await?;
    Ok(picked.path)
}

pub async fn run_benchmark(device: Option<u32>) -> Result<gridmint_protocol::BenchmarkReport, ApiError> {
    invoke(commands::RUN_BENCHMARK, &gridmint_protocol::RunBenchmarkRequest { device }).await
}

pub async fn suggest_price_floor() -> Result<gridmint_protocol::PriceSuggestion, ApiError> {
    invoke(commands::SUGGEST_PRICE_FLOOR, &gridmint_protocol::SuggestPriceFloorRequest {}).await
}

pub async fn start_earning(
    settings: gridmint_protocol::BackgroundSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    invoke(commands::START_EARNING, &gridmint_protocol::StartEarningRequest { settings }).await
}
