//! What the app shows of the market: the network it is on, this machine's standing as a provider,
//! a job package before it is posted, and the buyer's jobs. Job ids, work units and token amounts
//! are the types of [`crate::units`] (ids and amounts travel as decimal strings, so no precision is
//! lost in JavaScript).

use serde::{Deserialize, Serialize};

use crate::{ApiError, Grid, JobId, Usd, WorkUnits};

/// Request of [`crate::commands::MarketStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketStatusRequest {}

/// Where the app's network is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum NetworkPhase {
    /// The embedded local network is starting (chain, contracts, this machine's registration).
    Starting,
    Ready,
    Failed {
        message: String,
    },
    /// The owner's network names a market whose code is not this app's build of the contracts:
    /// nothing was approved or staked. The owner may trust exactly that code
    /// ([`crate::commands::TrustMarket`]) and restart.
    Untrusted {
        market: String,
        /// The code's fingerprint (0x-hex), what trusting it records.
        fingerprint: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketStatus {
    pub phase: NetworkPhase,
    /// "local" for the embedded network.
    pub network: String,
    pub rpc_url: Option<String>,
    pub market: Option<String>,
    pub provider: Option<ProviderStanding>,
}

/// This machine as a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStanding {
    pub address: String,
    pub device: String,
    /// What the agent is doing now, in words.
    pub activity: String,
    /// Earning is paused: no new jobs are taken.
    #[serde(default)]
    pub paused: bool,
    /// The job the agent is computing now, and how far it is.
    #[serde(default)]
    pub current_task: Option<CurrentTask>,
    /// The latest jobs this machine saw and did not take, newest first, each with why.
    #[serde(default)]
    pub declined_jobs: Vec<DeclinedJob>,
    /// The hottest GPU's temperature, °C, and its utilisation, %, where the platform reports them
    /// (hwmon, nvidia-smi); `None` elsewhere (a CPU device such as llvmpipe).
    #[serde(default)]
    pub gpu_temp_c: Option<f32>,
    #[serde(default)]
    pub gpu_busy_pct: Option<u32>,
    /// An hour of this machine's work net of electricity, at the owner's price floor (else the
    /// app's default offer); `None` until it has registered its device's rate.
    #[serde(default)]
    pub net_hour: Option<NetEarnings>,
    /// What the chain says of this machine, or why it could not be read.
    pub chain: Result<ChainStanding, ApiError>,
}

/// An hour of a device's work net of electricity (issue #23 point 7): its power draw while
/// computing times the owner's tariff, against what its deterministic GEMM rate earns at a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetEarnings {
    /// Watts while computing: a reading (hwmon, nvidia-smi), else the device's rated power.
    pub power_w: u32,
    pub power_measured: bool,
    /// Dollars per kWh, and where that comes from (the owner's tariff, or a regional average).
    pub usd_per_kwh: Usd,
    pub tariff_basis: String,
    /// The device's rate, GFLOP/s (its registered compute units).
    pub gflops: u32,
    /// The price the hour is worked at.
    pub price: crate::Price,
    pub gross_usd_per_hour: Usd,
    pub electricity_usd_per_hour: Usd,
    /// Gross less electricity; how much the hour loses when `loses_money`.
    pub net_usd_per_hour: Usd,
    pub loses_money: bool,
    /// Below this price an hour of work costs more in electricity than it pays.
    pub break_even: crate::Price,
}

/// This machine's record on the chain: its money, stake and reputation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStanding {
    pub registered: bool,
    /// Earned and withdrawable.
    pub withdrawable: Usd,
    /// Stake locked in the registry.
    pub stake: Grid,
    /// Reputation score in basis points (10,000 = perfect).
    pub reputation_bps: u64,
    /// Where withdrawals go (the payout address), and what it holds of the payment token.
    pub payout_address: String,
    pub payout_balance: Usd,
    /// A payout address asked for and when it takes effect (Unix seconds, chain time).
    pub pending_payout: Option<PendingPayout>,
    /// Rewards settled to this provider and not yet claimed: its share of the fee rebate of the
    /// epochs it was paid in, in the payment token.
    pub rewards: Usd,
    /// The record behind the reputation score: jobs in the agreeing majority, slashed for a
    /// wrong result, slashed for a missed deadline.
    pub jobs_agreed: u32,
    pub jobs_slashed: u32,
    pub jobs_missed: u32,
    /// The compute units it registered: its device's deterministic GEMM rate, GFLOP/s.
    #[serde(default)]
    pub compute_units: u32,
}

/// A job a provider saw and did not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclinedJob {
    pub job_id: JobId,
    /// Why, in words: below the price floor, paused, held by a limit, requirements not met.
    pub reason: String,
}

/// The job a provider is computing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentTask {
    pub job_id: JobId,
    /// "fetching the data", "loading the model", "embedding", "epoch 3/10", ...
    pub stage: String,
    /// Steps of `stage` done, of `total` (0 of 0: no count for this stage).
    pub done: u64,
    pub total: u64,
}

/// A payout address change waiting out the market's delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPayout {
    pub address: String,
    pub effective_at_unix_s: u64,
}

/// Request of [`crate::commands::ChangePayout`]: where this machine's withdrawals should go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePayoutRequest {
    /// A 0x-prefixed, 20-byte address.
    pub address: String,
}

/// Request of [`crate::commands::EarningsHistory`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsHistoryRequest {
    pub period: EarningsPeriod,
}

/// The span an earnings chart covers: a day in hours, a week or a month in days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EarningsPeriod {
    #[default]
    Day,
    Week,
    Month,
}

impl EarningsPeriod {
    pub const ALL: [EarningsPeriod; 3] = [EarningsPeriod::Day, EarningsPeriod::Week, EarningsPeriod::Month];

    pub fn label(self) -> &'static str {
        match self {
            EarningsPeriod::Day => "day",
            EarningsPeriod::Week => "week",
            EarningsPeriod::Month => "month",
        }
    }
}

/// This machine's earnings over a period, from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsHistory {
    pub period: EarningsPeriod,
    /// Oldest first; the last holds now.
    pub buckets: Vec<EarningsBucket>,
    /// Earned in the period.
    pub total_usd: Usd,
    /// In jobs this machine claimed that have not settled yet, at most (USD): paid if its
    /// result agrees.
    #[serde(default)]
    pub pending_usd: Usd,
    /// What the next 24 hours would pay at the recent rate, USD.
    pub predicted_24h_usd: Usd,
    /// Demand: jobs posted on the market in the last 24 hours, and their median offer per work
    /// unit (USD), if any.
    #[serde(default)]
    pub market_jobs_24h: u32,
    #[serde(default)]
    pub market_median_usd_per_pflop: Option<Usd>,
    /// The electricity the period's paid work used (its device time at the power draw and the
    /// owner's tariff), where the device's rate is known; net is `total_usd` less it.
    #[serde(default)]
    pub electricity_usd: Option<Usd>,
    /// How the prediction was made, in words.
    pub basis: String,
    /// The chain's clock when this was read.
    pub now_unix_s: u64,
}

/// Earnings of one hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsBucket {
    /// Start of the hour or day (UTC), Unix seconds.
    pub start_unix_s: u64,
    pub usd: Usd,
    /// The same in 10^-6 USD, for drawing.
    pub micro_usd: u64,
}

/// Request of [`crate::commands::WithdrawEarnings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawEarningsRequest {}

/// A withdrawal that went through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawal {
    /// Paid out.
    pub amount_usd: Usd,
    /// The payout address it went to.
    pub to: String,
    /// The transaction's hash.
    pub transaction: String,
}

/// Request of [`crate::commands::SetEarning`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetEarningRequest {
    /// true: take no new jobs (those running finish); false: take jobs again.
    pub paused: bool,
}

/// Request of [`crate::commands::QuitAgent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuitAgentRequest {}

/// Request of [`crate::commands::AppSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSettingsRequest {}

/// Where the app keeps things and which network it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSettings {
    /// "local": the embedded network.
    pub network: String,
    pub data_dir: String,
    pub logs_dir: String,
    pub models_dir: String,
    /// The anvil binary the local network runs.
    pub anvil: String,
    pub background: BackgroundSettings,
    /// Why earning only while idle cannot work on this desktop (no X server, no screensaver
    /// extension); `None` when it can.
    pub idle_detection_error: Option<String>,
    /// The owner finished the first-run set-up (wallet, hardware, limits, price): the app shows
    /// its pages; `false` shows the set-up.
    #[serde(default)]
    pub onboarded: bool,
    /// Where the data folder moves at the next start, if the owner asked.
    #[serde(default)]
    pub data_dir_next: Option<String>,
    /// The network stored for the next start (the one running is `network`).
    #[serde(default)]
    pub network_settings: NetworkSettings,
}

/// The network the app joins at its next start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSettings {
    /// `None`: the embedded local network.
    #[serde(default)]
    pub custom: Option<CustomNetwork>,
    /// Where this machine is, as its owner declares it: registered with the market (and
    /// changed there at the next start), matched against the regions a job allows.
    #[serde(default)]
    pub region: crate::Region,
}

/// A network of the owner's: where its chain answers and where its contracts are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomNetwork {
    /// http(s) or ws(s) URL of an RPC node.
    pub rpc_url: String,
    /// A deployment file (JSON: chainId, startBlock, market, paymentToken, stakeToken).
    pub deployment_file: String,
    /// The fingerprint (0x-hex) of a market code the owner trusted although it is not this
    /// app's build of the contracts; `None`: only this app's build is joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_market_code: Option<String>,
}

/// Request of [`crate::commands::TrustMarket`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustMarketRequest {
    /// The fingerprint the window showed (from [`NetworkPhase::Untrusted`]): only that code is
    /// trusted.
    pub fingerprint: String,
}

/// Request of [`crate::commands::MoveDataFolder`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveDataFolderRequest {
    /// A full path to a new or empty folder.
    pub path: String,
}

/// Request of [`crate::commands::SetNetwork`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetNetworkRequest {
    pub settings: NetworkSettings,
}

/// Request of [`crate::commands::SuggestPriceFloor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestPriceFloorRequest {}

/// A price floor the market suggests for this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceSuggestion {
    /// Price units per work unit ([`crate::Price`]: millionths of a payment-token base unit).
    pub price_per_unit: u64,
    /// The same in dollars per PFLOP (10^15 operations), as the owner types a floor.
    pub usd_per_pflop: Usd,
    /// Where it comes from, in words.
    pub basis: String,
}

/// Request of [`crate::commands::RunBenchmark`]; progress arrives as
/// [`crate::events::BENCHMARK_PROGRESS`] events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunBenchmarkRequest {
    /// The device's index; `None`: the best.
    #[serde(default)]
    pub device: Option<u32>,
}

/// How far a benchmark is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchmarkProgress {
    /// Steps finished, of `total`.
    pub done: u32,
    pub total: u32,
    /// The step running now, in words.
    pub stage: String,
}

/// Request of [`crate::commands::StartEarning`]: the end of the first-run set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartEarningRequest {
    /// Limits and the price floor, stored and applied.
    pub settings: BackgroundSettings,
}

/// How the app earns in the background: at login, and only while the owner is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundSettings {
    /// Start (to the tray) when the owner logs in.
    pub start_at_login: bool,
    /// Run jobs only after `idle_minutes` without keyboard or mouse input, and hand the GPU back
    /// at the next dispatch boundary on input.
    pub earn_only_when_idle: bool,
    /// 1..=240.
    pub idle_minutes: u32,
    /// Earn only from this local hour (0..=23) until `earn_until_hour` (the window may cross
    /// midnight); both `None`: any hour.
    #[serde(default)]
    pub earn_from_hour: Option<u8>,
    #[serde(default)]
    pub earn_until_hour: Option<u8>,
    /// Stop on battery.
    #[serde(default)]
    pub ac_power_only: bool,
    /// Stop while the hottest GPU is at or above this, in °C.
    #[serde(default)]
    pub max_gpu_temp_c: Option<u32>,
    /// The share of the GPU's memory a job may use, 10..=100 %.
    #[serde(default = "full_share")]
    pub gpu_memory_share_pct: u8,
    /// Hold while another program runs compute work on the GPU (where the driver reports it).
    #[serde(default = "yes")]
    pub yield_to_other_programs: bool,
    /// The lowest price this machine works for, in price units per work unit ([`crate::Price`]:
    /// micro-dollars per PFLOP); jobs offering less are left to others. Applied when the agent
    /// starts.
    #[serde(default)]
    pub price_floor_per_unit: u64,
    /// What a kWh costs the owner, dollars; `None`: the average of the machine's region.
    #[serde(default)]
    pub electricity_usd_per_kwh: Option<Usd>,
    /// The device that earns (its index in the hardware report); `None`: the fastest. Applied
    /// when the agent starts.
    #[serde(default)]
    pub earning_device: Option<u32>,
    /// How many jobs the device holds at a time, 1..=64: claimed and still to compute (it
    /// computes one at a time); a job over it is left to others.
    #[serde(default = "jobs_at_once")]
    pub jobs_at_once: u8,
}

/// [`BackgroundSettings::jobs_at_once`] unless the owner says otherwise.
pub const DEFAULT_JOBS_AT_ONCE: u8 = 4;

fn jobs_at_once() -> u8 {
    DEFAULT_JOBS_AT_ONCE
}

fn yes() -> bool {
    true
}

fn full_share() -> u8 {
    100
}

impl Default for BackgroundSettings {
    fn default() -> Self {
        Self {
            start_at_login: true,
            earn_only_when_idle: false,
            idle_minutes: 10,
            earn_from_hour: None,
            earn_until_hour: None,
            ac_power_only: false,
            max_gpu_temp_c: None,
            gpu_memory_share_pct: 100,
            yield_to_other_programs: true,
            price_floor_per_unit: 0,
            electricity_usd_per_kwh: None,
            earning_device: None,
            jobs_at_once: DEFAULT_JOBS_AT_ONCE,
        }
    }
}

/// Request of [`crate::commands::SetBackground`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBackgroundRequest {
    pub settings: BackgroundSettings,
}

/// Request of [`crate::commands::InspectPackage`]: a folder or .zip with a job.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectPackageRequest {
    pub path: String,
    /// Replicas and price to estimate the cost with (price units per work unit, [`crate::Price`]).
    pub replicas: u8,
    pub price_per_unit: u64,
}

/// A package as it would be posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagePreview {
    pub path: String,
    /// "embed", "train" or "generate".
    pub kind: String,
    pub model: Option<String>,
    /// What the job is, as its kind describes it (label, value): the model's architecture and
    /// size, the sentences, prompts or samples, the tokens to generate.
    #[serde(default)]
    pub facts: Vec<(String, String)>,
    /// The files that would be published, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// On-chain work units (10^9 floating-point operations, rounded up).
    pub work_units: WorkUnits,
    /// Escrow the buyer pays when posting (price x units x replicas, plus the market fee).
    pub cost_usd: Option<Usd>,
    /// The price as an hour of the reference device's time: what an hour of an H100's
    /// deterministic GEMM (24,907 GFLOP/s) would cost at it ([`crate::Price::per_hour`]).
    #[serde(default)]
    pub usd_per_h100_hour: Usd,
}

/// Request of [`crate::commands::SubmitJob`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitJobRequest {
    pub path: String,
    pub replicas: u8,
    /// Price units per work unit ([`crate::Price`]: micro-dollars per PFLOP).
    pub price_per_unit: u64,
    /// Providers need at least this much device memory, MiB (0: any).
    #[serde(default)]
    pub min_memory_mib: u32,
    /// The regions providers may be in (codes 0..=31); empty: anywhere.
    #[serde(default)]
    pub regions: Vec<u8>,
    /// Where the verified result goes: an absolute path to an empty or new folder; `None`: the
    /// app's results folder.
    #[serde(default)]
    pub results_dir: Option<String>,
}

/// How far a running job is, for the buyer's progress line (in order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobStage {
    /// Sealing and publishing the data, posting the job.
    #[default]
    Uploading,
    /// Posted; waiting for providers to claim it.
    Matching,
    /// Claimed; the providers compute.
    Running,
    /// Replicas selected: commitments, reveals, fetching the result and the spot check.
    Verifying,
    /// Ended (see the status).
    Done,
}

impl JobStage {
    pub const ALL: [JobStage; 5] =
        [JobStage::Uploading, JobStage::Matching, JobStage::Running, JobStage::Verifying, JobStage::Done];

    pub fn label(self) -> &'static str {
        match self {
            JobStage::Uploading => "upload",
            JobStage::Matching => "matching",
            JobStage::Running => "running",
            JobStage::Verifying => "verifying",
            JobStage::Done => "done",
        }
    }
}

/// Request of [`crate::commands::ListJobs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListJobsRequest {}

/// Where a buyer's job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    /// Publishing the data and posting the job.
    Posting,
    /// Posted; providers claim, compute, commit and reveal.
    Running,
    /// The replicas agreed and the fetched result hashes to the agreed root.
    Verified,
    /// Nobody (or too few) claimed in time; the escrow came back.
    Refunded,
    /// The replicas disagreed; settled by the dispute rules.
    Disputed,
    Failed,
}

impl JobStatus {
    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Posting => "posting",
            JobStatus::Running => "running",
            JobStatus::Verified => "verified",
            JobStatus::Refunded => "refunded",
            JobStatus::Disputed => "disputed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Posting | JobStatus::Running)
    }
}

/// One of the buyer's jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    /// This app's number for the job (1, 2, ...), stable before the chain assigns an id.
    pub local_id: u64,
    /// The market's job id, once posted.
    pub job_id: Option<JobId>,
    pub package: String,
    pub status: JobStatus,
    /// The error, for a failed job; the agreed root, for a settled one.
    pub detail: Option<String>,
    pub work_units: WorkUnits,
    pub replicas: u8,
    /// Where the verified result was saved.
    pub result_dir: Option<String>,
    /// Seconds from submit to now (running) or to the end (final).
    pub elapsed_s: f64,
    #[serde(default)]
    pub stage: JobStage,
}

/// Request of [`crate::commands::PickPath`]: the desktop's own file dialog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PickPathRequest {
    pub kind: PickKind,
}

/// What the dialog picks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PickKind {
    /// A job package folder.
    #[default]
    PackageFolder,
    /// A job package .zip.
    PackageZip,
    /// A folder for a job's results.
    ResultsFolder,
}

/// The path picked; `None` when the dialog was cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PickedPath {
    pub path: Option<String>,
}

/// Request of [`crate::commands::JobTimeline`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTimelineRequest {
    /// The app's number for the job ([`JobSummary::local_id`]).
    pub local_id: u64,
}

/// What happened to a job, from the chain's events and the buyer's own checks, oldest first.
/// A job is one shard (one package, run whole): its replicas are the rows of its progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTimeline {
    pub local_id: u64,
    pub job_id: Option<JobId>,
    pub events: Vec<JobEvent>,
    /// The verification outcome in words, once there is one.
    pub verification: Option<String>,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    /// Chain time, Unix seconds.
    pub at_unix_s: u64,
    /// "posted", "claimed", "selected", "committed", "revealed", "finalized", "refunded",
    /// "disputed", "resolved", "slashed".
    pub step: String,
    /// The claimant index of the replica it concerns, if one.
    pub replica: Option<u32>,
    /// That replica's provider.
    pub provider: Option<String>,
    /// Details in words (the revealed root, what was paid).
    pub detail: Option<String>,
    /// The transaction it happened in.
    pub transaction: String,
}
