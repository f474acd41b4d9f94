//! Wire types: what crosses the IPC boundary between the Tauri shell and the UI, and what the CLI
//! prints with `--json`.
//!
//! This crate compiles to `wasm32-unknown-unknown` (the UI depends on it) and so depends on nothing
//! but serde. Token amounts travel as decimal strings, never as floats.

pub mod bench;
pub mod error;
pub mod hardware;
pub mod job;
pub mod market;
pub mod wallet;

pub use bench::{BenchmarkReport, DeterminismCase, GemmLayoutRate};
pub use error::{ApiError, ErrorCode};
pub use hardware::{ComputeDevice, DeviceKind, HardwareReport, HostInfo};
pub use job::{JobKind, JobManifest, RunReport};
pub use market::QuitAgentRequest;
pub use market::{
    AppSettings, AppSettingsRequest, BackgroundSettings, BenchmarkProgress, ChangePayoutRequest, CurrentTask,
    CustomNetwork, EarningsBucket, EarningsHistory, EarningsHistoryRequest, EarningsPeriod, InspectPackageRequest,
    JobEvent, JobStage, JobStatus, JobSummary, JobTimeline, JobTimelineRequest, ListJobsRequest, MarketStatus,
    MarketStatusRequest, MoveDataFolderRequest, NetworkPhase, NetworkSettings, PackagePreview, PendingPayout,
    PriceSuggestion, ProviderStanding, RunBenchmarkRequest, SetBackgroundRequest, SetEarningRequest, SetNetworkRequest,
    StartEarningRequest, SubmitJobRequest, SuggestPriceFloorRequest, WithdrawEarningsRequest, Withdrawal,
};
pub use market::{DeclinedJob, PickKind, PickPathRequest, PickedPath};
pub use wallet::{
    CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus, WalletStatusRequest,
};

/// Names of the commands the desktop shell exposes to the UI. One request struct per command.
pub mod commands {
    /// `HardwareReportRequest` -> `HardwareReport`.
    pub const HARDWARE_REPORT: &str = "hardware_report";
    /// `MarketStatusRequest` -> `MarketStatus`.
    pub const MARKET_STATUS: &str = "market_status";
    /// `InspectPackageRequest` -> `PackagePreview`.
    pub const INSPECT_PACKAGE: &str = "inspect_package";
    /// `SubmitJobRequest` -> `JobSummary` (posting continues in the background).
    pub const SUBMIT_JOB: &str = "submit_job";
    /// `ListJobsRequest` -> `Vec<JobSummary>`, newest first.
    pub const LIST_JOBS: &str = "list_jobs";
    /// `SetEarningRequest` -> `MarketStatus`.
    pub const SET_EARNING: &str = "set_earning";
    /// `WithdrawEarningsRequest` -> `Withdrawal` (this machine's earned balance, paid out).
    pub const WITHDRAW_EARNINGS: &str = "withdraw_earnings";
    /// `EarningsHistoryRequest` -> `EarningsHistory`.
    pub const EARNINGS_HISTORY: &str = "earnings_history";
    /// `ChangePayoutRequest` -> `MarketStatus` (the change is pending for the market's delay).
    pub const CHANGE_PAYOUT: &str = "change_payout";
    /// `PickPathRequest` -> `PickedPath` (the desktop's file dialog).
    pub const PICK_PATH: &str = "pick_path";
    /// `JobTimelineRequest` -> `JobTimeline`.
    pub const JOB_TIMELINE: &str = "job_timeline";
    /// `JobTimelineRequest` -> `()`: opens the job's result folder in the desktop's file manager.
    pub const OPEN_RESULTS: &str = "open_results";
    /// `SuggestPriceFloorRequest` -> `PriceSuggestion`.
    pub const SUGGEST_PRICE_FLOOR: &str = "suggest_price_floor";
    /// `RunBenchmarkRequest` -> `BenchmarkReport`, with `events::BENCHMARK_PROGRESS` on the way.
    pub const RUN_BENCHMARK: &str = "run_benchmark";
    /// `StartEarningRequest` -> `AppSettings` (stored, applied; this machine registers and stakes).
    pub const START_EARNING: &str = "start_earning";
    /// `MoveDataFolderRequest` -> `AppSettings` (checked; the folder moves at the next start).
    pub const MOVE_DATA_FOLDER: &str = "move_data_folder";
    /// `SetNetworkRequest` -> `AppSettings` (checked and stored; joined at the next start).
    pub const SET_NETWORK: &str = "set_network";
    /// `AppSettingsRequest` -> `AppSettings`.
    pub const APP_SETTINGS: &str = "app_settings";
    /// `SetBackgroundRequest` -> `AppSettings` (applied at once: autostart entry, idle mode).
    pub const SET_BACKGROUND: &str = "set_background";
    /// `QuitAgentRequest` -> `()`: the agent stops earning, stops the local network and exits;
    /// every window closes with it (the window's way out where there is no tray).
    pub const QUIT_AGENT: &str = "quit_agent";
    /// `WalletStatusRequest` -> `WalletStatus`.
    pub const WALLET_STATUS: &str = "wallet_status";
    /// `CreateWalletRequest` -> `WalletStatus`.
    pub const CREATE_WALLET: &str = "create_wallet";
    /// `ImportWalletRequest` -> `WalletStatus`.
    pub const IMPORT_WALLET: &str = "import_wallet";
    /// `ExportMnemonicRequest` -> `RecoveryWords` (refused unless `confirmed`).
    pub const EXPORT_MNEMONIC: &str = "export_mnemonic";
}

/// Names of the events the shell sends the UI.
pub mod events {
    /// `BenchmarkProgress`, while a `RUN_BENCHMARK` runs.
    pub const BENCHMARK_PROGRESS: &str = "benchmark-progress";
}

/// Request of [`commands::HARDWARE_REPORT`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareReportRequest {
    /// Enumerate the devices again instead of returning the report cached at start-up.
    #[serde(default)]
    pub refresh: bool,
}
