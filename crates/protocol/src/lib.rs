//! Wire types: what crosses the IPC boundary between the Tauri shell and the UI, and what the CLI
//! prints with `--json`.
//!
//! This crate compiles to `wasm32-unknown-unknown` (the UI depends on it) and so depends on nothing
//! but serde. Token amounts travel as decimal strings, never as floats ([`units`]).

pub mod bench;
pub mod challenge;
pub mod error;
pub mod hardware;
pub mod job;
pub mod market;
pub mod matching;
pub mod units;
pub mod wallet;

pub use bench::{BenchmarkReport, DeterminismCase, GemmLayoutRate};
pub use error::{ApiError, ErrorCode};
pub use hardware::{ComputeDevice, DeviceKind, HardwareReport, HostInfo};
pub use job::{CompletionView, JobCard, JobKind, JobManifest, ResultView, RunReport};
pub use market::QuitAgentRequest;
pub use market::{
    AppSettings, AppSettingsRequest, BackgroundSettings, BenchmarkProgress, ChangePayoutRequest, CurrentTask,
    CustomNetwork, EarningsBucket, EarningsHistory, EarningsHistoryRequest, EarningsPeriod, InspectPackageRequest,
    JobEvent, JobStage, JobStatus, JobSummary, JobTimeline, JobTimelineRequest, ListJobsRequest, MarketStatus,
    MarketStatusRequest, MoveDataFolderRequest, NetEarnings, NetworkPhase, NetworkSettings, PackagePreview,
    PendingPayout, PriceSuggestion, ProviderStanding, RunBenchmarkRequest, SetBackgroundRequest, SetEarningRequest,
    SetNetworkRequest, StartEarningRequest, SubmitJobRequest, SuggestPriceFloorRequest, TrustMarketRequest,
    WithdrawEarningsRequest, Withdrawal,
};
pub use market::{ChainStanding, DeclinedJob, PickKind, PickPathRequest, PickedPath};
pub use matching::{Region, ReproClass};
pub use units::{Grid, JobId, Price, Usd, WorkUnits};
pub use wallet::{
    CreateWalletRequest, ExportMnemonicRequest, ImportWalletRequest, RecoveryWords, WalletStatus, WalletStatusRequest,
};

/// A desktop command: its name on the wire, what it takes and what it answers. Each is declared
/// once, in [`for_each_command!`]; the UI calls it as `ipc::call::<commands::X>` and the agent
/// routes it to its handler of the same name, both from that declaration (a handler missing or of
/// the wrong type does not compile).
pub trait Command {
    /// The name a window sends (snake case, the handler's name).
    const NAME: &'static str;
    type Request: serde::Serialize + serde::de::DeserializeOwned;
    type Response: serde::Serialize + serde::de::DeserializeOwned;
}

/// The desktop's commands, one line each: `Marker = handler_name: Request => Response;`. Calls
/// `$callback!` with the list, so that every table of commands (the markers below, the agent's
/// dispatch) is made from this one declaration.
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            /// The compute devices and the host; cached at start unless `refresh`.
            HardwareReport = hardware_report: $crate::HardwareReportRequest => $crate::HardwareReport;
            /// The network's phase and this machine's standing on it.
            MarketStatus = market_status: $crate::MarketStatusRequest => $crate::MarketStatus;
            /// What a package is and what it would cost.
            InspectPackage = inspect_package: $crate::InspectPackageRequest => $crate::PackagePreview;
            /// Posts a job; posting continues in the background.
            SubmitJob = submit_job: $crate::SubmitJobRequest => $crate::JobSummary;
            /// The jobs posted from this machine, newest first.
            ListJobs = list_jobs: $crate::ListJobsRequest => Vec<$crate::JobSummary>;
            /// Pauses or resumes earning.
            SetEarning = set_earning: $crate::SetEarningRequest => $crate::MarketStatus;
            /// Pays this machine's earned balance out to its payout address.
            WithdrawEarnings = withdraw_earnings: $crate::WithdrawEarningsRequest => $crate::Withdrawal;
            /// Earnings over a day, a week or a month.
            EarningsHistory = earnings_history: $crate::EarningsHistoryRequest => $crate::EarningsHistory;
            /// Asks for a new payout address (pending for the market's delay).
            ChangePayout = change_payout: $crate::ChangePayoutRequest => $crate::MarketStatus;
            /// The desktop's file dialog: the window's own command, never the agent's.
            PickPath = pick_path: $crate::PickPathRequest => $crate::PickedPath;
            /// A job's events on chain.
            JobTimeline = job_timeline: $crate::JobTimelineRequest => $crate::JobTimeline;
            /// Opens a job's result folder in the desktop's file manager.
            OpenResults = open_results: $crate::JobTimelineRequest => ();
            /// A verified job's result, read for people: completions as text, an array's shape.
            ReadResult = read_result: $crate::JobTimelineRequest => $crate::ResultView;
            /// A price floor from the market's recent jobs.
            SuggestPriceFloor = suggest_price_floor: $crate::SuggestPriceFloorRequest => $crate::PriceSuggestion;
            /// Benchmarks a device, with `events::BENCHMARK_PROGRESS` on the way.
            RunBenchmark = run_benchmark: $crate::RunBenchmarkRequest => $crate::BenchmarkReport;
            /// Stores and applies the first-run settings; this machine registers and stakes.
            StartEarning = start_earning: $crate::StartEarningRequest => $crate::AppSettings;
            /// Checks a new data folder; it moves at the next start.
            MoveDataFolder = move_data_folder: $crate::MoveDataFolderRequest => $crate::AppSettings;
            /// Checks and stores the network joined at the next start.
            SetNetwork = set_network: $crate::SetNetworkRequest => $crate::AppSettings;
            /// Trusts the owner's network's market code that the status called untrusted (its
            /// fingerprint, confirmed in the window); joined at the next start.
            TrustMarket = trust_market: $crate::TrustMarketRequest => $crate::AppSettings;
            /// The app's settings and folders.
            AppSettings = app_settings: $crate::AppSettingsRequest => $crate::AppSettings;
            /// Stores and applies the background settings (autostart entry, idle mode).
            SetBackground = set_background: $crate::SetBackgroundRequest => $crate::AppSettings;
            /// Stops earning and the local network and exits; every window closes with it.
            QuitAgent = quit_agent: $crate::QuitAgentRequest => ();
            /// Whether this machine has a wallet, and its address.
            WalletStatus = wallet_status: $crate::WalletStatusRequest => $crate::WalletStatus;
            /// Makes a wallet in the OS keyring.
            CreateWallet = create_wallet: $crate::CreateWalletRequest => $crate::WalletStatus;
            /// Imports recovery words into the OS keyring.
            ImportWallet = import_wallet: $crate::ImportWalletRequest => $crate::WalletStatus;
            /// The recovery words, refused unless `confirmed`.
            ExportMnemonic = export_mnemonic: $crate::ExportMnemonicRequest => $crate::RecoveryWords;
        }
    };
}

/// One marker type per desktop command (see [`Command`]), and [`commands::ALL`], their names.
pub mod commands {
    macro_rules! declare {
        ($( $(#[$doc:meta])* $marker:ident = $name:ident : $request:ty => $response:ty; )*) => {
            $(
                $(#[$doc])*
                #[derive(Debug)]
                pub enum $marker {}

                impl $crate::Command for $marker {
                    const NAME: &'static str = stringify!($name);
                    type Request = $request;
                    type Response = $response;
                }
            )*

            /// Every command's name, in the order declared.
            pub const ALL: &[&str] = &[$(stringify!($name)),*];
        };
    }
    crate::for_each_command!(declare);
}

/// Names of the events the shell sends the UI.
pub mod events {
    /// `BenchmarkProgress`, while a [`commands::RunBenchmark`] runs.
    pub const BENCHMARK_PROGRESS: &str = "benchmark-progress";
    /// `MarketStatus`, each time it changes (the agent pushes it; windows do not poll).
    pub const MARKET_STATUS: &str = "market-status";
    /// `Vec<JobSummary>`, the app's jobs newest first, each time the list changes.
    pub const JOBS: &str = "jobs";
}

/// Request of [`commands::HardwareReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareReportRequest {
    /// Enumerate the devices again instead of returning the report cached at start-up.
    #[serde(default)]
    pub refresh: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_one_snake_case_name() {
        let mut names = commands::ALL.to_vec();
        assert_eq!(names.len(), 26);
        assert!(
            names.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
            "{names:?}"
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), commands::ALL.len(), "a name is declared twice");
        assert_eq!(<commands::MarketStatus as Command>::NAME, "market_status");
        assert_eq!(<commands::PickPath as Command>::NAME, "pick_path");
    }
}
