//! The one place the UI crosses into the shell: `window.__TAURI__.core.invoke`, through
//! [`call`], typed by the protocol crate's command table (a command's request and response). Errors arrive as `{code, message}`.

use gridmint_protocol::{
    ApiError, Command, ErrorCode, HardwareReport, HardwareReportRequest, InspectPackageRequest, JobSummary,
    ListJobsRequest, MarketStatus, MarketStatusRequest, PackagePreview, SetEarningRequest, SubmitJobRequest,
    WithdrawEarningsRequest, Withdrawal, commands,
    wallet::{
        CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus,
        WalletStatusRequest,
    },
};
use serde::Serialize;
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

/// Calls command `C` (declared in `gridmint_protocol::for_each_command!`) with its request; the
/// answer is its response type, or the `{code, message}` it failed with.
pub async fn call<C: Command>(request: &C::Request) -> Result<C::Response, ApiError> {
    let cmd = C::NAME;
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
    call::<commands::HardwareReport>(&HardwareReportRequest { refresh }).await
}

pub async fn market_status() -> Result<MarketStatus, ApiError> {
    call::<commands::MarketStatus>(&MarketStatusRequest {}).await
}

pub async fn inspect_package(path: String, replicas: u8, price_per_unit: u64) -> Result<PackagePreview, ApiError> {
    call::<commands::InspectPackage>(&InspectPackageRequest { path, replicas, price_per_unit }).await
}

pub async fn submit_job(request: SubmitJobRequest) -> Result<JobSummary, ApiError> {
    call::<commands::SubmitJob>(&request).await
}

pub async fn set_earning(paused: bool) -> Result<MarketStatus, ApiError> {
    call::<commands::SetEarning>(&SetEarningRequest { paused }).await
}

pub async fn withdraw_earnings() -> Result<Withdrawal, ApiError> {
    call::<commands::WithdrawEarnings>(&WithdrawEarningsRequest {}).await
}

pub async fn earnings_history(
    period: gridmint_protocol::EarningsPeriod,
) -> Result<gridmint_protocol::EarningsHistory, ApiError> {
    call::<commands::EarningsHistory>(&gridmint_protocol::EarningsHistoryRequest { period }).await
}

pub async fn change_payout(address: String) -> Result<MarketStatus, ApiError> {
    call::<commands::ChangePayout>(&gridmint_protocol::ChangePayoutRequest { address }).await
}

/// Stops earning and quits: the agent (and every window with it).
pub async fn quit_agent() -> Result<(), ApiError> {
    call::<commands::QuitAgent>(&gridmint_protocol::QuitAgentRequest {}).await
}

pub async fn app_settings() -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::AppSettings>(&gridmint_protocol::AppSettingsRequest {}).await
}

pub async fn set_background(
    settings: gridmint_protocol::BackgroundSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::SetBackground>(&gridmint_protocol::SetBackgroundRequest { settings }).await
}

pub async fn wallet_status() -> Result<WalletStatus, ApiError> {
    call::<commands::WalletStatus>(&WalletStatusRequest {}).await
}

pub async fn create_wallet() -> Result<WalletStatus, ApiError> {
    call::<commands::CreateWallet>(&CreateWalletRequest {}).await
}

pub async fn import_wallet(phrase: String) -> Result<WalletStatus, ApiError> {
    call::<commands::ImportWallet>(&ImportWalletRequest { phrase }).await
}

pub async fn export_mnemonic(confirmed: bool) -> Result<RecoveryWords, ApiError> {
    call::<commands::ExportMnemonic>(&ExportMnemonicRequest { confirmed }).await
}

pub async fn list_jobs() -> Result<Vec<JobSummary>, ApiError> {
    call::<commands::ListJobs>(&ListJobsRequest {}).await
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

/// Calls `f` with the payload of each `name` event the shell passes on from the agent.
fn on_event<T: serde::de::DeserializeOwned + 'static>(name: &str, mut f: impl FnMut(T) + 'static) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload = js_sys::Reflect::get(&event, &JsValue::from_str("payload")).ok();
        if let Some(value) = payload.and_then(|p| serde_wasm_bindgen::from_value(p).ok()) {
            f(value);
        }
    });
    if tauri_listen(name, &closure).is_ok() {
        closure.forget();
    }
}

/// Calls `f` with the market status each time the agent pushes a change.
pub fn on_market_status(f: impl FnMut(gridmint_protocol::MarketStatus) + 'static) {
    on_event(gridmint_protocol::events::MARKET_STATUS, f);
}

/// Calls `f` with the app's jobs each time the agent pushes a change.
pub fn on_jobs(f: impl FnMut(Vec<gridmint_protocol::JobSummary>) + 'static) {
    on_event(gridmint_protocol::events::JOBS, f);
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
    call::<commands::JobTimeline>(&gridmint_protocol::JobTimelineRequest { local_id }).await
}

pub async fn set_network(
    settings: gridmint_protocol::NetworkSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::SetNetwork>(&gridmint_protocol::SetNetworkRequest { settings }).await
}

pub async fn trust_market(fingerprint: String) -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::TrustMarket>(&gridmint_protocol::TrustMarketRequest { fingerprint }).await
}

pub async fn open_results(local_id: u64) -> Result<(), ApiError> {
    call::<commands::OpenResults>(&gridmint_protocol::JobTimelineRequest { local_id }).await
}

pub async fn read_result(local_id: u64) -> Result<gridmint_protocol::ResultView, ApiError> {
    call::<commands::ReadResult>(&gridmint_protocol::JobTimelineRequest { local_id }).await
}

pub async fn move_data_folder(path: String) -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::MoveDataFolder>(&gridmint_protocol::MoveDataFolderRequest { path }).await
}

/// The desktop's file dialog; `None` when cancelled.
pub async fn pick_path(kind: gridmint_protocol::PickKind) -> Result<Option<String>, ApiError> {
    let picked: gridmint_protocol::PickedPath =
        call::<commands::PickPath>(&gridmint_protocol::PickPathRequest { kind }).await?;
    Ok(picked.path)
}

pub async fn run_benchmark(device: Option<u32>) -> Result<gridmint_protocol::BenchmarkReport, ApiError> {
    call::<commands::RunBenchmark>(&gridmint_protocol::RunBenchmarkRequest { device }).await
}

pub async fn suggest_price_floor() -> Result<gridmint_protocol::PriceSuggestion, ApiError> {
    call::<commands::SuggestPriceFloor>(&gridmint_protocol::SuggestPriceFloorRequest {}).await
}

pub async fn start_earning(
    settings: gridmint_protocol::BackgroundSettings,
) -> Result<gridmint_protocol::AppSettings, ApiError> {
    call::<commands::StartEarning>(&gridmint_protocol::StartEarningRequest { settings }).await
}
