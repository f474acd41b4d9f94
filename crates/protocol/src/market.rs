//! What the app shows of the market: the network it is on, this machine's standing as a provider,
//! a job package before it is posted, and the buyer's jobs. Token amounts travel as decimal
//! strings in whole units (payment token: USD with 6 decimals; stake token: GRID with 18), so no
//! precision is lost in JavaScript.

use serde::{Deserialize, Serialize};

/// Request of [`crate::commands::MARKET_STATUS`].
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
    pub registered: bool,
    /// Earned and withdrawable, USD.
    pub withdrawable_usd: String,
    /// Stake locked in the registry, GRID.
    pub stake_grid: String,
    /// Reputation score in basis points (10,000 = perfect).
    pub reputation_bps: u64,
    /// What the agent is doing now, in words.
    pub activity: String,
    /// Earning is paused: no new jobs are taken.
    #[serde(default)]
    pub paused: bool,
    /// Where withdrawals go (the payout address), and what it holds of the payment token, USD.
    #[serde(default)]
    pub payout_address: String,
    #[serde(default)]
    pub payout_balance_usd: String,
}

/// Request of [`crate::commands::WITHDRAW_EARNINGS`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawEarningsRequest {}

/// A withdrawal that went through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawal {
    /// Paid out, USD.
    pub amount_usd: String,
    /// The payout address it went to.
    pub to: String,
    /// The transaction's hash.
    pub transaction: String,
}

/// Request of [`crate::commands::SET_EARNING`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetEarningRequest {
    /// true: take no new jobs (those running finish); false: take jobs again.
    pub paused: bool,
}

/// Request of [`crate::commands::APP_SETTINGS`].
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
        }
    }
}

/// Request of [`crate::commands::SET_BACKGROUND`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBackgroundRequest {
    pub settings: BackgroundSettings,
}

/// Request of [`crate::commands::INSPECT_PACKAGE`]: a folder or .zip with a job.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectPackageRequest {
    pub path: String,
    /// Replicas and price to estimate the cost with.
    pub replicas: u8,
    pub price_per_unit: u64,
}

/// A package as it would be posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackagePreview {
    pub path: String,
    /// "embed" or "train".
    pub kind: String,
    pub model: Option<String>,
    /// The files that would be published, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// On-chain work units (10^9 floating-point operations, rounded up).
    pub work_units: u64,
    /// Escrow the buyer pays when posting (price x units x replicas, plus the market fee), USD.
    pub cost_usd: Option<String>,
}

/// Request of [`crate::commands::SUBMIT_JOB`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitJobRequest {
    pub path: String,
    pub replicas: u8,
    /// Payment-token base units (10^-6 USD) per work unit.
    pub price_per_unit: u64,
}

/// Request of [`crate::commands::LIST_JOBS`].
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
    pub job_id: Option<String>,
    pub package: String,
    pub status: JobStatus,
    /// The error, for a failed job; the agreed root, for a settled one.
    pub detail: Option<String>,
    pub work_units: u64,
    pub replicas: u8,
    /// Where the verified result was saved.
    pub result_dir: Option<String>,
    /// Seconds from submit to now (running) or to the end (final).
    pub elapsed_s: f64,
}

/// Formats `amount` base units of a token with `decimals` decimals, trimming trailing zeros but
/// keeping at least two places (`1234500` with 6 → "1.2345", `0` → "0.00").
pub fn format_units(amount: u128, decimals: u32) -> String {
    let scale = 10u128.pow(decimals);
    let whole = amount / scale;
    let mut frac = format!("{:0width$}", amount % scale, width = decimals as usize);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    if decimals == 0 { whole.to_string() } else { format!("{whole}.{frac}") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_format_without_losing_digits() {
        assert_eq!(super::format_units(0, 6), "0.00");
        assert_eq!(super::format_units(1_234_500, 6), "1.2345");
        assert_eq!(super::format_units(5, 6), "0.000005");
        assert_eq!(super::format_units(10_000 * 10u128.pow(18), 18), "10000.00");
        assert_eq!(super::format_units(7, 0), "7");
    }
}
