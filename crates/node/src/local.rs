//! The embedded local network the desktop app runs on by default: a devnet (anvil with the
//! contracts deployed), this machine as a provider (the agent in-process, on the best device), and
//! a buyer whose jobs the app lists.
//!
//! The chain, the agent and every job run on threads of their own with current-thread runtimes;
//! the methods here are blocking and short (a few RPC reads at most), for the shell to call from
//! `spawn_blocking`. On the local network the accounts are the devnet's funded ones: the provider
//! is account 1, the buyer account 2 (the OS-keyring wallet is for real networks).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256, Uint},
    signers::local::PrivateKeySigner,
};
use gridmint_protocol::{
    EarningsHistory, EarningsPeriod, InspectPackageRequest, JobStage, JobStatus, JobSummary, JobTimeline, MarketStatus,
    NetworkPhase, PackagePreview, PendingPayout, PriceSuggestion, ProviderStanding, SubmitJobRequest, Withdrawal,
    market::format_units,
};

use crate::{
    JobState, NodeError, Paths,
    buyer::{self, SubmitOptions},
    devnet::{self, DevnetOptions, NetworkProfile},
    exchange,
    net::{self, Network},
    provider::{self, ProviderOptions},
    runner,
};

const PROVIDER_ACCOUNT: u32 = 1;
const BUYER_ACCOUNT: u32 = 2;
/// Providers on the local network: this machine.
pub const LOCAL_PROVIDERS: u8 = 1;
/// What the app offers per work unit unless the buyer says otherwise (10^-6 USD): the price a
/// new provider is suggested when the market has no jobs to learn from.
pub const DEFAULT_PRICE_PER_UNIT: u64 = 1000;

/// How to start the local network.
#[derive(Debug, Clone)]
pub struct LocalMarketOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// Seconds per block.
    pub block_time_s: u64,
    /// Seconds providers have to claim a posted job.
    pub claim_window_s: u64,
    /// This machine's price floor, `None` on a first run: the chain starts, but the machine
    /// registers and stakes only when the owner finishes the set-up ([`LocalMarket::start_earning`]).
    pub price_floor: Option<u64>,
    /// The device that earns; `None`: the fastest.
    pub device: Option<u32>,
    /// The embedded devnet, or a network of the owner's.
    pub network: NetworkChoice,
    /// Run the device work (registration's benchmark, jobs, spot checks) in worker processes
    /// (the desktop agent, which then never loads the driver); `None`: in this process.
    pub worker: Option<crate::worker::DeviceWorker>,
}

/// Which network the app runs on.
#[derive(Debug, Clone, Default)]
pub enum NetworkChoice {
    /// The embedded devnet (anvil, the contracts, the devnet's funded test accounts), made
    /// afresh at each start.
    #[default]
    Local,
    /// A network of the owner's: its RPC, its deployment file, and the owner's key (from the OS
    /// keyring) as both provider and buyer. This machine's state persists across starts.
    Custom { rpc_url: String, deployment: PathBuf, signer: PrivateKeySigner },
    /// A network that cannot start, and why (for example: a custom network without a wallet).
    Unavailable(String),
}

impl NetworkChoice {
    /// "local" or "custom", as the app shows it.
    pub fn name(&self) -> &'static str {
        match self {
            NetworkChoice::Local => "local",
            NetworkChoice::Custom { .. } | NetworkChoice::Unavailable(_) => "custom",
        }
    }
}

/// A running local network; cheap to clone. The chain (anvil) stops on [`LocalMarket::shutdown`]
/// or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct LocalMarket {
    inner: Arc<Inner>,
    stopper: Arc<Stopper>,
}

/// Stops the network thread and waits for anvil to go: a process left behind would keep its
/// port and its state on disk.
#[derive(Debug)]
struct Stopper {
    stop: tokio::sync::watch::Sender<bool>,
    stopped: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Stopper {
    fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(stopped) = lock(&self.stopped).take() {
            // The thread drops the devnet (killing anvil) and then signals, or is already gone.
            let _ = stopped.recv_timeout(Duration::from_secs(10));
        }
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
struct Inner {
    paths: Paths,
    /// `<data>/local-network`: the chain profile, the shared blob folder, the agent's and the
    /// buyer's state. Emptied at start (the chain itself lives in anvil's memory).
    root: PathBuf,
    options: LocalMarketOptions,
    phase: Mutex<Phase>,
    activity: Mutex<String>,
    jobs: Mutex<Vec<Job>>,
    /// Earning paused: the agent takes no new jobs.
    paused: Arc<std::sync::atomic::AtomicBool>,
    /// Steers the running job's device work: an idle detector yields the GPU through it.
    gpu_control: gpu_engine::control::Control,
    /// Earning only while the owner is away, within the owner's limits: steers `gpu_control`.
    yielder: Mutex<Option<crate::idle::Yielder>>,
    /// Why one of the owner's limits holds the work now, if one does.
    held: Arc<Mutex<Option<String>>>,
    /// The share of device memory a job may use, in percent.
    memory_share: Arc<std::sync::atomic::AtomicU8>,
    /// The price floor once the owner said to start earning: the agent registers then.
    owner: tokio::sync::watch::Sender<Option<u64>>,
    /// The chain's profile once it is up (before this machine registers).
    chain: Mutex<Option<PathBuf>>,
    /// The job the agent computes now, with its progress.
    current_task: Arc<Mutex<Option<gridmint_protocol::CurrentTask>>>,
    /// The latest jobs the agent did not take, and why.
    declined: Arc<Mutex<Vec<gridmint_protocol::DeclinedJob>>>,
}

#[derive(Debug, Clone)]
enum Phase {
    Starting,
    Ready { profile_path: PathBuf, market: Address, rpc_url: String, provider: Address, device: String },
    Failed(String),
}

/// What the machine is doing ([`LocalMarket::activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    Starting,
    /// The network could not start, or stopped.
    Failed(String),
    /// Waiting for the owner to finish the set-up before it registers.
    AwaitingSetUp,
    /// Registered and waiting for jobs.
    Serving,
    Computing {
        job_id: String,
    },
}

#[derive(Debug, Clone)]
struct Job {
    summary: JobSummary,
    started: Instant,
    ended: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn runtime() -> Result<tokio::runtime::Runtime, NodeError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| NodeError::Io {
        what: "starting an async runtime for",
        path: PathBuf::from("the local network"),
        source,
    })
}

impl Inner {
    /// The key this machine earns with: the devnet's provider account, or the owner's.
    fn provider_key(&self) -> Result<PrivateKeySigner, NodeError> {
        match &self.options.network {
            NetworkChoice::Custom { signer, .. } => Ok(signer.clone()),
            _ => net::dev_account(PROVIDER_ACCOUNT),
        }
    }

    /// The key this app's jobs are posted with: the devnet's buyer account, or the owner's.
    fn buyer_key(&self) -> Result<PrivateKeySigner, NodeError> {
        match &self.options.network {
            NetworkChoice::Custom { signer, .. } => Ok(signer.clone()),
            _ => net::dev_account(BUYER_ACCOUNT),
        }
    }

    /// A runtime of its own and the buyer's connection: what each blocking chain call here
    /// runs on.
    fn buyer(&self, profile_path: &Path) -> Result<(tokio::runtime::Runtime, Network), NodeError> {
        Ok((runtime()?, Network::connect(profile_path, self.buyer_key()?)?))
    }
}

fn usd(amount: U256) -> String {
    format_units(amount.saturating_to::<u128>(), 6)
}

impl LocalMarket {
    /// Starts the chain, deploys, registers this machine and serves, on a thread of its own.
    /// Returns at once; [`LocalMarket::status`] says when it is ready.
    pub fn start(paths: Paths, options: LocalMarketOptions) -> Self {
        // The devnet's folder is emptied at each start (its chain lives in anvil's memory); a
        // custom network's is kept (the agent's record of its jobs).
        let root = paths.data.join(match options.network {
            NetworkChoice::Local => "local-network",
            _ => "custom-network",
        });
        let inner = Arc::new(Inner {
            paths,
            root,
            phase: Mutex::new(Phase::Starting),
            activity: Mutex::new("starting the local network".into()),
            jobs: Mutex::new(Vec::new()),
            paused: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            gpu_control: gpu_engine::control::Control::new(),
            yielder: Mutex::new(None),
            held: Arc::new(Mutex::new(None)),
            memory_share: Arc::new(std::sync::atomic::AtomicU8::new(100)),
            owner: tokio::sync::watch::Sender::new(options.price_floor),
            chain: Mutex::new(None),
            current_task: Arc::new(Mutex::new(None)),
            declined: Arc::new(Mutex::new(Vec::new())),
            options,
        });
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        let runner = inner.clone();
        let spawned = std::thread::Builder::new().name("local-network".into()).spawn(move || {
            runner.run(stop_rx);
            let _ = stopped_tx.send(());
        });
        if let Err(e) = spawned {
            *lock(&inner.phase) = Phase::Failed(format!("could not start the network thread: {e}"));
        }
        Self { inner, stopper: Arc::new(Stopper { stop, stopped: Mutex::new(Some(stopped)) }) }
    }

    /// Pauses earning (no new jobs; running ones finish) or resumes it.
    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(paused, "earning paused or resumed");
    }

    /// Applies the owner's background settings to the work of this machine: with "earn only
    /// while away", jobs' device work waits until the desktop has had no input for
    /// `idle_minutes` and is paused at the next submission boundary on input; with limits
    /// (hours, AC power, GPU temperature) it waits, and no job is claimed, while one holds; the
    /// memory share caps each job. `events` hears each change. Fails (and earns as without idle
    /// mode) where idle detection is unavailable: no X server, no screensaver extension.
    pub fn set_background(
        &self,
        settings: &gridmint_protocol::BackgroundSettings,
        events: crate::idle::YieldEvents,
    ) -> Result<(), NodeError> {
        use crate::idle::{AlwaysAway, Gate, IdlePolicy, InputIdle, Yielder};
        self.inner
            .memory_share
            .store(settings.gpu_memory_share_pct.clamp(10, 100), std::sync::atomic::Ordering::Relaxed);
        let mut yielder = lock(&self.inner.yielder);
        // A yielder that stops leaves the GPU paused.
        *yielder = None;
        *lock(&self.inner.held) = None;
        let control = self.inner.gpu_control.clone();
        // Other programs' GPU work is only known through nvidia-smi: no gate for it without one.
        let nvidia = settings.yield_to_other_programs
            && std::process::Command::new("nvidia-smi").arg("-L").output().is_ok_and(|o| o.status.success());
        let limits = (settings.earn_from_hour.is_some() && settings.earn_until_hour.is_some())
            || settings.ac_power_only
            || settings.max_gpu_temp_c.is_some()
            || nvidia;
        if !settings.earn_only_when_idle && !limits {
            control.resume();
            return Ok(());
        }
        let (source, policy): (Box<dyn InputIdle>, IdlePolicy) = if settings.earn_only_when_idle {
            #[cfg(target_os = "linux")]
            let source = crate::idle::X11Idle::connect(None);
            #[cfg(not(target_os = "linux"))]
            let source: Result<crate::idle::X11Idle, NodeError> =
                Err(NodeError::IdleDetection { message: "not on this platform yet".into() });
            match source {
                Ok(source) => (
                    Box::new(source),
                    IdlePolicy {
                        start_after: Duration::from_secs(u64::from(settings.idle_minutes) * 60),
                        ..IdlePolicy::default()
                    },
                ),
                Err(e) => {
                    control.resume();
                    return Err(e);
                }
            }
        } else {
            (
                Box::new(AlwaysAway),
                IdlePolicy { start_after: Duration::ZERO, notice: Duration::ZERO, poll: Duration::from_millis(250) },
            )
        };
        let gate: Option<Gate> = limits.then(|| {
            let (settings, held, sensors) = (*settings, self.inner.held.clone(), crate::limits::Sensors::default());
            let gate: Gate = Box::new(move || {
                let reason = crate::limits::blocked(&settings, sensors.read_for(&settings));
                *lock(&held) = reason.clone();
                reason
            });
            gate
        });
        *yielder = Some(Yielder::spawn_gated(source, control, policy, gate, events));
        tracing::info!(idle = settings.earn_only_when_idle, limits, "background settings applied");
        Ok(())
    }

    /// "local" or "custom".
    pub fn network_name(&self) -> &'static str {
        self.inner.options.network.name()
    }

    /// Whether the network waits for the owner to finish the set-up before this machine
    /// registers.
    pub fn awaits_owner(&self) -> bool {
        self.inner.owner.borrow().is_none()
    }

    /// The end of the set-up: this machine registers, stakes and serves jobs paying at least
    /// `price_floor` (payment-token base units per work unit). Once it serves, a new floor
    /// applies from the next start.
    pub fn start_earning(&self, price_floor: u64) {
        self.inner.owner.send_if_modified(|floor| {
            let first = floor.is_none();
            if first {
                *floor = Some(price_floor);
            }
            first
        });
    }

    /// A price floor from what the market's jobs pay: the median offer of the jobs posted so
    /// far; without any, the app's default buy price.
    pub fn suggest_price_floor(&self) -> Result<PriceSuggestion, NodeError> {
        let Some(profile_path) = lock(&self.inner.chain).clone() else {
            return Err(NodeError::NetworkUnavailable { message: "the local chain is still starting".into() });
        };
        let (rt, net) = self.inner.buyer(&profile_path)?;
        let mut prices = rt.block_on(async {
            let head = net.block_number().await?;
            let posted = net.posted_jobs(net.profile.deployment.start_block, head).await?;
            Ok::<_, NodeError>(posted.iter().map(|p| p.pricePerUnit.to::<u64>()).collect::<Vec<u64>>())
        })?;
        prices.sort_unstable();
        let (price, basis) = match prices.len() {
            0 => (DEFAULT_PRICE_PER_UNIT, "no jobs on this network yet: the app's default offer".to_owned()),
            n => (prices[n / 2], format!("the median offer of the {n} jobs posted on this network")),
        };
        Ok(PriceSuggestion { price_per_unit: price, usd_per_unit: format_units(u128::from(price), 6), basis })
    }

    /// The control over the running job's device work.
    pub fn gpu_control(&self) -> gpu_engine::control::Control {
        self.inner.gpu_control.clone()
    }

    /// What this machine is doing now, read without the chain (the tray polls it).
    pub fn activity(&self) -> Activity {
        match &*lock(&self.inner.phase) {
            Phase::Failed(message) => Activity::Failed(message.clone()),
            Phase::Starting if self.awaits_owner() => Activity::AwaitingSetUp,
            Phase::Starting => Activity::Starting,
            Phase::Ready { .. } => match &*lock(&self.inner.current_task) {
                Some(task) => Activity::Computing { job_id: task.job_id.clone() },
                None => Activity::Serving,
            },
        }
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the provider agent and the chain, and waits (up to 10 s) for anvil to exit.
    pub fn shutdown(&self) {
        self.stopper.stop();
        *lock(&self.inner.phase) = Phase::Failed("the local network was shut down".into());
    }

    /// The network's phase and, once it is ready, this machine's standing read from the chain.
    pub fn status(&self) -> MarketStatus {
        let phase = lock(&self.inner.phase).clone();
        let paused = self.is_paused();
        let activity =
            if paused { "paused: taking no new jobs".to_owned() } else { lock(&self.inner.activity).clone() };
        let mut status = MarketStatus {
            phase: NetworkPhase::Starting,
            network: self.inner.options.network.name().into(),
            rpc_url: None,
            market: None,
            provider: None,
        };
        match phase {
            Phase::Starting => {}
            Phase::Failed(message) => status.phase = NetworkPhase::Failed { message },
            Phase::Ready { profile_path, market, rpc_url, provider, device } => {
                status.phase = NetworkPhase::Ready;
                status.rpc_url = Some(rpc_url);
                status.market = Some(market.to_string());
                let standing = self.inner.buyer(&profile_path).and_then(|(rt, net)| {
                    rt.block_on(async {
                        let standing = net.standing(provider).await?;
                        let payout = net.payout(provider).await?;
                        let pending = net.pending_payout(provider).await?;
                        let record = net.market.reputation(provider).await?;
                        Ok((standing, payout, pending, record))
                    })
                });
                let current_task = lock(&self.inner.current_task).clone();
                let declined_jobs = lock(&self.inner.declined).clone();
                let sensors = crate::limits::Sensors::default();
                let (gpu_temp_c, gpu_busy_pct) = (sensors.gpu_temp_c(), sensors.gpu_busy_pct());
                status.provider = Some(match standing {
                    Ok(((withdrawable, stake, score), (payout, payout_balance), pending, record)) => ProviderStanding {
                        payout_address: payout.to_string(),
                        payout_balance_usd: format_units(payout_balance, 6),
                        pending_payout: pending.map(|(address, at)| PendingPayout {
                            address: address.to_string(),
                            effective_at_unix_s: at,
                        }),
                        rewards_grid: format_units(record.rewards, 18),
                        jobs_agreed: record.agreed,
                        jobs_slashed: record.slashed,
                        jobs_missed: record.missed,
                        address: provider.to_string(),
                        device,
                        registered: !stake.is_zero(),
                        withdrawable_usd: format_units(withdrawable, 6),
                        stake_grid: format_units(stake.saturating_to::<u128>(), 18),
                        reputation_bps: score.saturating_to::<u64>(),
                        activity,
                        paused,
                        gpu_temp_c,
                        gpu_busy_pct,
                        current_task: current_task.clone(),
                        declined_jobs: declined_jobs.clone(),
                    },
                    Err(e) => ProviderStanding {
                        payout_address: String::new(),
                        payout_balance_usd: "—".into(),
                        pending_payout: None,
                        rewards_grid: "—".into(),
                        jobs_agreed: 0,
                        jobs_slashed: 0,
                        jobs_missed: 0,
                        address: provider.to_string(),
                        device,
                        registered: false,
                        withdrawable_usd: "—".into(),
                        stake_grid: "—".into(),
                        reputation_bps: 0,
                        activity: format!("cannot read the chain: {e}"),
                        paused,
                        gpu_temp_c,
                        gpu_busy_pct,
                        current_task: current_task.clone(),
                        declined_jobs: declined_jobs.clone(),
                    },
                });
            }
        }
        status
    }

    /// The connection profile of the ready network, or why there is none.
    fn ready_profile(&self) -> Result<PathBuf, NodeError> {
        match &*lock(&self.inner.phase) {
            Phase::Ready { profile_path, .. } => Ok(profile_path.clone()),
            _ => Err(NodeError::NetworkUnavailable { message: "the local network is not ready".into() }),
        }
    }

    /// This machine's earnings over `period`, read from the chain's payment events.
    pub fn earnings(&self, period: EarningsPeriod) -> Result<EarningsHistory, NodeError> {
        let profile_path = self.ready_profile()?;
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            let now = net.now().await?;
            let since = net.registered_at(net.address()).await?.unwrap_or(now);
            let payments = net.payments_to(net.address()).await?;
            let pending = net.pending_for(net.address()).await?;
            let mut offers: Vec<u128> = net
                .posted_since(now.saturating_sub(86_400))
                .await?
                .iter()
                .map(|p| p.pricePerUnit.to::<u128>())
                .collect();
            offers.sort_unstable();
            Ok(EarningsHistory {
                pending_usd: format_units(pending, 6),
                market_jobs_24h: offers.len() as u32,
                market_median_usd_per_unit: offers.get(offers.len() / 2).map(|&p| format_units(p, 6)),
                ..crate::earnings::history(period, now, since, &payments)
            })
        })
    }

    /// Asks the market to send this machine's withdrawals to `address` from now on: the change
    /// waits out the market's payout delay (a stolen key cannot redirect earnings at once).
    pub fn change_payout(&self, address: &str) -> Result<(), NodeError> {
        let to: Address = address.trim().parse().map_err(|e| NodeError::InvalidRequest {
            message: format!("payout address `{}`: {e} (expected 0x and 40 hex digits)", address.trim()),
        })?;
        if to.is_zero() {
            return Err(NodeError::InvalidRequest { message: "payout address: the zero address burns funds".into() });
        }
        let profile_path = self.ready_profile()?;
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            let mined = net.market.request_payout_change(to).await?;
            tracing::info!(%to, tx = %mined.receipt.transaction_hash, "payout address change requested");
            Ok(())
        })
    }

    /// Pays this machine's earned balance out to its payout address.
    pub fn withdraw(&self) -> Result<Withdrawal, NodeError> {
        let profile_path = match &*lock(&self.inner.phase) {
            Phase::Ready { profile_path, .. } => profile_path.clone(),
            _ => return Err(NodeError::NetworkUnavailable { message: "the local network is not ready".into() }),
        };
        let rt = runtime()?;
        let net = Network::connect(&profile_path, self.inner.provider_key()?)?;
        rt.block_on(async {
            let (amount, ..) = net.standing(net.address()).await?;
            if amount == 0 {
                return Err(NodeError::InvalidRequest { message: "nothing to withdraw yet".into() });
            }
            let (to, _) = net.payout(net.address()).await?;
            let mined = net.market.withdraw().await?;
            tracing::info!(amount, %to, "withdrew earnings");
            Ok(Withdrawal {
                amount_usd: format_units(amount, 6),
                to: to.to_string(),
                transaction: mined.receipt.transaction_hash.to_string(),
            })
        })
    }

    /// Opens a package and prices it, as submitting would, without posting anything.
    pub fn inspect(&self, request: &InspectPackageRequest) -> Result<PackagePreview, NodeError> {
        let path = package_path(&request.path)?;
        let package = runner::Package::open(&path)?;
        let mut files = Vec::new();
        for (name, file) in exchange::files(&package.root)? {
            let bytes = std::fs::metadata(&file)
                .map_err(|source| NodeError::Io { what: "reading", path: file.clone(), source })?
                .len();
            files.push((name, bytes));
        }
        let work_units = net::chain_work_units(runner::estimate(&self.inner.paths, &package)?);
        let cost_usd = match lock(&self.inner.phase).clone() {
            Phase::Ready { profile_path, .. } if request.replicas > 0 => {
                let (rt, net) = self.inner.buyer(&profile_path)?;
                let escrow = rt.block_on(async {
                    net.market
                        .contract()
                        .escrowFor(Uint::<96, 2>::from(request.price_per_unit), work_units, request.replicas)
                        .call()
                        .await
                        .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("escrowFor", e)))
                })?;
                Some(usd(escrow.payment + escrow.fee))
            }
            _ => None,
        };
        Ok(PackagePreview {
            path: path.display().to_string(),
            kind: package.manifest.kind.as_str().to_owned(),
            model: package.manifest.model.clone(),
            files,
            work_units,
            cost_usd,
        })
    }

    /// Checks the package and posts it in the background: the returned summary is `posting`, and
    /// [`LocalMarket::jobs`] follows it to its end. A package that does not open, or a network
    /// that is not ready, is an error here and nothing is posted.
    pub fn submit(&self, request: &SubmitJobRequest) -> Result<JobSummary, NodeError> {
        let Phase::Ready { profile_path, .. } = lock(&self.inner.phase).clone() else {
            return Err(NodeError::NetworkUnavailable {
                message: "the local network is still starting (or failed to); see the dashboard".into(),
            });
        };
        // The market takes 1 to MAX_REPLICAS (15); the local network has one provider.
        let most = match self.inner.options.network {
            NetworkChoice::Local => LOCAL_PROVIDERS,
            _ => 15,
        };
        if request.replicas == 0 || request.replicas > most {
            if most > LOCAL_PROVIDERS {
                return Err(NodeError::InvalidRequest {
                    message: format!("replicas: 1 to {most}, not {}", request.replicas),
                });
            }
            return Err(NodeError::InvalidRequest {
                message: format!(
                    "replicas: the local network has {LOCAL_PROVIDERS} provider (this machine), so a job can ask for 1 to {LOCAL_PROVIDERS}, not {}",
                    request.replicas
                ),
            });
        }
        let mut region_mask = 0u32;
        for &r in &request.regions {
            if r > 31 {
                return Err(NodeError::InvalidRequest {
                    message: format!("regions: {r} is not a region code (0 to 31)"),
                });
            }
            region_mask |= 1 << r;
        }
        let results_dir =
            request.results_dir.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(results_folder).transpose()?;
        let preview = self.inspect(&InspectPackageRequest {
            path: request.path.clone(),
            replicas: request.replicas,
            price_per_unit: request.price_per_unit,
        })?;
        let summary = {
            let mut jobs = lock(&self.inner.jobs);
            let summary = JobSummary {
                local_id: jobs.len() as u64 + 1,
                job_id: None,
                package: preview.path.clone(),
                status: JobStatus::Posting,
                detail: None,
                work_units: preview.work_units,
                replicas: request.replicas,
                result_dir: None,
                elapsed_s: 0.0,
                stage: JobStage::Uploading,
            };
            jobs.push(Job { summary: summary.clone(), started: Instant::now(), ended: None });
            summary
        };
        let inner = self.inner.clone();
        let local_id = summary.local_id;
        let options = SubmitOptions {
            replicas: request.replicas,
            price_per_unit: u128::from(request.price_per_unit),
            claim_window_s: self.inner.options.claim_window_s,
            min_memory_mib: request.min_memory_mib,
            region_mask,
            spot_check_worker: self.inner.options.worker.clone(),
            ..SubmitOptions::default()
        };
        let package = PathBuf::from(&preview.path);
        let spawned = std::thread::Builder::new().name(format!("job-{local_id}")).spawn(move || {
            let result = inner.follow(local_id, &profile_path, &package, &options, results_dir);
            if let Err(e) = result {
                tracing::warn!(job = local_id, error = %e, "job failed");
                inner.update(local_id, |s| {
                    s.status = JobStatus::Failed;
                    s.detail = Some(e.to_string());
                });
            }
        });
        if let Err(e) = spawned {
            self.inner.update(local_id, |s| {
                s.status = JobStatus::Failed;
                s.detail = Some(format!("could not start the job's thread: {e}"));
            });
        }
        Ok(summary)
    }

    /// One of the buyer's jobs step by step: the chain's events for it (posted, each replica's
    /// claim, commitment and reveal, settlement) with their transactions, and the verification
    /// outcome.
    pub fn timeline(&self, local_id: u64) -> Result<JobTimeline, NodeError> {
        let summary = lock(&self.inner.jobs)
            .iter()
            .find(|j| j.summary.local_id == local_id)
            .map(|j| j.summary.clone())
            .ok_or_else(|| NodeError::InvalidRequest { message: format!("job {local_id}: no such job in this app") })?;
        let verification = match summary.status {
            JobStatus::Verified => Some(format!(
                "verified: the replicas agreed, the fetched result hashes to the {}, and the spot check re-ran a sample here with the same bits",
                summary.detail.as_deref().unwrap_or("agreed root")
            )),
            JobStatus::Disputed => {
                Some("disputed: the replicas or this machine's spot check disagreed; the arbiter settles".into())
            }
            JobStatus::Refunded => Some("refunded: too few providers claimed it in time".into()),
            JobStatus::Failed => summary.detail.clone().map(|d| format!("failed: {d}")),
            JobStatus::Posting | JobStatus::Running => None,
        };
        let events = match &summary.job_id {
            Some(id) => {
                let job_id: U256 = id.parse().map_err(|e| NodeError::InvalidRequest {
                    message: format!("job {local_id}: its id `{id}` is not a number ({e})"),
                })?;
                let (rt, net) = self.inner.buyer(&self.ready_profile()?)?;
                rt.block_on(net.job_events(job_id))?
            }
            None => Vec::new(),
        };
        Ok(JobTimeline { local_id, job_id: summary.job_id, events, verification })
    }

    /// Where a verified job's result was saved.
    pub fn result_dir(&self, local_id: u64) -> Result<PathBuf, NodeError> {
        let jobs = lock(&self.inner.jobs);
        let job = jobs
            .iter()
            .find(|j| j.summary.local_id == local_id)
            .ok_or_else(|| NodeError::InvalidRequest { message: format!("job {local_id}: no such job in this app") })?;
        job.summary.result_dir.as_ref().map(PathBuf::from).ok_or_else(|| NodeError::InvalidRequest {
            message: format!("job {local_id} has no result yet ({})", job.summary.status.label()),
        })
    }

    /// The buyer's jobs, newest first.
    pub fn jobs(&self) -> Vec<JobSummary> {
        let now = Instant::now();
        lock(&self.inner.jobs)
            .iter()
            .rev()
            .map(|job| {
                let mut s = job.summary.clone();
                s.elapsed_s = job.ended.unwrap_or(now).duration_since(job.started).as_secs_f64();
                s
            })
            .collect()
    }
}

/// How often a running job's stage is read from the chain.
const STAGE_POLL: Duration = Duration::from_secs(1);

/// A folder the buyer chose for a result: absolute, and new or empty (nothing is overwritten).
fn results_folder(raw: &str) -> Result<PathBuf, NodeError> {
    let dir = PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw));
    let bad =
        |why: &str| Err(NodeError::InvalidRequest { message: format!("results folder {}: {why}", dir.display()) });
    if !dir.is_absolute() {
        return bad("give a full path (from /)");
    }
    match std::fs::read_dir(&dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => bad("is not empty; choose a new or empty folder"),
        Ok(true) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => bad("is a file"),
        Err(e) => bad(&format!("cannot be read ({e})")),
    }
}

/// A dropped path may come as a `file://` URL.
fn package_path(raw: &str) -> Result<PathBuf, NodeError> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("file://").unwrap_or(raw);
    if raw.is_empty() {
        return Err(NodeError::InvalidRequest {
            message: "no package: drop a folder or .zip, or type its path".into(),
        });
    }
    Ok(PathBuf::from(raw))
}

impl Inner {
    fn set_activity(&self, what: impl Into<String>) {
        *lock(&self.activity) = what.into();
    }

    fn update(&self, local_id: u64, change: impl FnOnce(&mut JobSummary)) {
        if let Some(job) = lock(&self.jobs).iter_mut().find(|j| j.summary.local_id == local_id) {
            change(&mut job.summary);
            if job.summary.status.is_final() && job.ended.is_none() {
                job.ended = Some(Instant::now());
            }
        }
    }

    fn run(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let result = runtime().and_then(|rt| rt.block_on(self.clone().serve(stop)));
        if let Err(e) = result {
            tracing::error!(error = %e, "the local network stopped");
            let mut phase = lock(&self.phase);
            match *phase {
                Phase::Ready { .. } => self.set_activity(format!("stopped: {e}")),
                _ => *phase = Phase::Failed(e.to_string()),
            }
        }
    }

    async fn serve(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), NodeError> {
        let (rpc_url, deployment) = match &self.options.network {
            NetworkChoice::Local => return self.serve_devnet(stop).await,
            NetworkChoice::Unavailable(why) => {
                return Err(NodeError::NetworkUnavailable { message: why.clone() });
            }
            NetworkChoice::Custom { rpc_url, deployment, .. } => (rpc_url.clone(), deployment.clone()),
        };
        let profile = NetworkProfile {
            name: "custom".into(),
            rpc_url,
            deployment: gridmint_chain::Deployment::load(&deployment)?,
            funded_accounts: Vec::new(),
            // A real chain may reorg: act on postings a block deep.
            confirmations: 1,
        };
        let profile_path = self.root.join("profile.json");
        std::fs::create_dir_all(&self.root).map_err(|source| NodeError::Io {
            what: "creating",
            path: self.root.clone(),
            source,
        })?;
        let json = serde_json::to_vec_pretty(&profile)
            .map_err(|e| NodeError::Profile { path: profile_path.clone(), message: e.to_string() })?;
        std::fs::write(&profile_path, json).map_err(|source| NodeError::Io {
            what: "writing",
            path: profile_path.clone(),
            source,
        })?;
        *lock(&self.chain) = Some(profile_path.clone());
        tokio::select! {
            served = self.clone().provide(&profile_path, &profile) => served,
            _ = stop.wait_for(|stopped| *stopped) => Ok(()),
        }
    }

    async fn serve_devnet(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), NodeError> {
        if self.root.exists() {
            std::fs::remove_dir_all(&self.root).map_err(|source| NodeError::Io {
                what: "emptying",
                path: self.root.clone(),
                source,
            })?;
        }
        let chain_paths = Paths::under(&self.root.join("chain"));
        let devnet = devnet::start(
            &chain_paths,
            DevnetOptions {
                anvil: self.options.anvil.clone(),
                port: None,
                block_time: Some(self.options.block_time_s),
                accounts: 3,
                // This thread lives until shutdown: a killed app takes anvil with it.
                stop_with_thread: true,
                confirmations: 0,
            },
        );
        let devnet = tokio::select! {
            devnet = devnet => devnet?,
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        *lock(&self.chain) = Some(devnet.profile_path.clone());
        let served = tokio::select! {
            served = self.clone().provide(&devnet.profile_path, &devnet.profile) => served,
            _ = stop.wait_for(|stopped| *stopped) => Ok(()),
        };
        drop(devnet);
        tracing::info!("local network stopped");
        served
    }

    /// Registers this machine and serves jobs; returns only on an error the agent cannot retry.
    async fn provide(self: Arc<Self>, profile_path: &Path, profile: &NetworkProfile) -> Result<(), NodeError> {
        self.set_activity("opening the compute device");
        let gpu = Arc::new(match &self.options.worker {
            Some(worker) => provider::Compute::Worker { worker: worker.clone(), device: self.options.device },
            None => provider::Compute::Here(crate::bench::open_slot(&self.paths, self.options.device)?),
        });
        let net = Network::connect(profile_path, self.provider_key()?)?;
        let mut owner = self.owner.subscribe();
        if owner.borrow().is_none() {
            self.set_activity("waiting for you to finish the set-up");
        }
        let price_floor = owner
            .wait_for(Option::is_some)
            .await
            .map(|floor| floor.unwrap_or(0))
            .map_err(|_| NodeError::NetworkUnavailable { message: "the app stopped during the set-up".into() })?;
        let options = ProviderOptions {
            price_floor: u128::from(price_floor),
            region: 0,
            exit_after_jobs: None,
            corrupt_results: false,
            poll: Duration::from_millis(500),
            paused: Some(self.paused.clone()),
            control: Some(self.gpu_control.clone()),
            deadline_margin: Duration::from_secs(20),
            held: Some(self.held.clone()),
            memory_share: Some(self.memory_share.clone()),
            current_task: Some(self.current_task.clone()),
            declined: Some(self.declined.clone()),
        };
        self.set_activity("registering: benchmarking the device and staking");
        // The device's name from the registration's measurement, else (registered before) asked for.
        let device = match provider::ensure_registered(&net, &gpu, &options).await? {
            Some(facts) => facts.name,
            None => gpu.device_name()?,
        };
        *lock(&self.phase) = Phase::Ready {
            profile_path: profile_path.to_owned(),
            market: profile.deployment.market,
            rpc_url: profile.rpc_url.clone(),
            provider: net.address(),
            device,
        };
        self.set_activity("serving: waiting for jobs");
        tracing::info!(market = %profile.deployment.market, network = self.options.network.name(), "network ready");
        let provider_paths = Paths::under(&self.root.join("provider")).with_models(self.paths.models.clone());
        if let Err(e) = provider::serve(&provider_paths, &net, &gpu, &options).await {
            // Keep the chain up for the buyer's side; say what stopped.
            tracing::error!(error = %e, "the provider agent stopped");
            self.set_activity(format!("stopped: {e}"));
        }
        std::future::pending::<()>().await;
        Ok(())
    }

    fn follow(
        &self,
        local_id: u64,
        profile_path: &Path,
        package: &Path,
        options: &SubmitOptions,
        results_dir: Option<PathBuf>,
    ) -> Result<(), NodeError> {
        let (rt, net) = self.buyer(profile_path)?;
        let buyer_paths = Paths::under(&self.root.join("buyer")).with_models(self.paths.models.clone());
        rt.block_on(async {
            let posted = buyer::submit(&buyer_paths, &net, package, options).await?;
            let results =
                results_dir.unwrap_or_else(|| self.paths.data.join("results").join(format!("job-{}", posted.job_id)));
            self.update(local_id, |s| {
                s.job_id = Some(posted.job_id.to_string());
                s.status = JobStatus::Running;
                s.stage = JobStage::Matching;
            });
            // The stage follows the job's slot on chain while the buyer waits for the result.
            let fetch = buyer::wait_and_fetch(&net, posted.job_id, Some(&results), options.poll);
            tokio::pin!(fetch);
            let outcome = loop {
                tokio::select! {
                    outcome = &mut fetch => break outcome?,
                    _ = tokio::time::sleep(STAGE_POLL) => {
                        if let Ok(slot) = net.market.slot(posted.job_id).await {
                            let stage = match slot.job_state() {
                                Ok(JobState::Open) if slot.claimants == 0 => JobStage::Matching,
                                Ok(JobState::Open) => JobStage::Running,
                                _ => JobStage::Verifying,
                            };
                            self.update(local_id, |s| s.stage = stage);
                        }
                    }
                }
            };
            net.close_peer().await;
            self.update(local_id, |s| {
                s.stage = JobStage::Done;
                s.detail = Some(format!("agreed root {}", outcome.agreed_root));
                s.status = match outcome.state {
                    state if state.settled_with_result() && outcome.verified => {
                        s.result_dir = Some(results.display().to_string());
                        JobStatus::Verified
                    }
                    JobState::Refunded => JobStatus::Refunded,
                    JobState::Disputed => JobStatus::Disputed,
                    state => {
                        s.detail = Some(format!(
                            "ended in state {state} without a result that hashes to the agreed root {}",
                            outcome.agreed_root
                        ));
                        JobStatus::Failed
                    }
                };
            });
            Ok(())
        })
    }
}
