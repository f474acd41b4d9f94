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
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, U256, Uint},
    signers::local::PrivateKeySigner,
};
use gridmint_protocol::{
    ChainStanding, EarningsHistory, EarningsPeriod, Grid, InspectPackageRequest, JobStage, JobStatus, JobSummary,
    JobTimeline, MarketStatus, NetworkPhase, PackagePreview, PendingPayout, Price, PriceSuggestion, ProviderStanding,
    SubmitJobRequest, Usd, Withdrawal,
};

use gridmint_node::{
    JobState, NodeError, Paths,
    buyer::{self, SubmitOptions},
    devnet::{self, DevnetOptions, NetworkProfile},
    net::{self, Network},
    provider::{self, ProviderOptions},
    store::{AppJob, Store},
};
use gridmint_peer::exchange;
use gridmint_runner as runner;

const PROVIDER_ACCOUNT: u32 = 1;
const BUYER_ACCOUNT: u32 = 2;
/// Providers on the local network: this machine.
pub const LOCAL_PROVIDERS: u8 = 1;
/// What the app offers per work unit unless the buyer says otherwise: the reference H100's
/// rental price ([`gridmint_protocol::Price::H100_REFERENCE`], $0.0278 per PFLOP), the price a
/// new provider is suggested when the market has no jobs to learn from.
pub const DEFAULT_PRICE_PER_UNIT: u64 = gridmint_protocol::Price::H100_REFERENCE.get();

/// How to start the local network.
#[derive(Debug, Clone)]
pub struct LocalMarketOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// The program that starts anvil on the agent's behalf (see `DevnetOptions::launcher`).
    pub anvil_launcher: Option<PathBuf>,
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
    /// Where the device work runs (registration's benchmark, jobs, spot checks): worker
    /// processes, so the agent never loads the Vulkan driver itself.
    pub worker: gridmint_runner::worker::DeviceWorker,
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
    /// `trusted_market_code`: the fingerprint of a market code the owner trusted although it is
    /// not this app's build (see [`gridmint_node::Network::check_market_code`]).
    Custom {
        rpc_url: String,
        deployment: PathBuf,
        signer: Box<PrivateKeySigner>,
        trusted_market_code: Option<alloy::primitives::B256>,
    },
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
    /// The chain this start's jobs are posted on: the devnet's (new at every start) or the
    /// owner's network (its chain and market, the same across starts).
    network_key: String,
    /// Set by [`LocalMarket::shutdown`]: a job that fails from here on failed because the
    /// network stopped, and keeps the state it had.
    stopping: std::sync::atomic::AtomicBool,
    /// The one connection the status is read through (a runtime and the buyer's RPC client,
    /// made once for the ready network), and what it last read: the chain part of the status
    /// changes only with a new block, so it is read again only then.
    reader: Mutex<Option<Reader>>,
    chain_read: Mutex<Option<(u64, Result<ChainStanding, gridmint_protocol::ApiError>)>>,
    /// The GPU's temperature, load and power, read at most every [`SENSOR_PERIOD`] (nvidia-smi
    /// is a process start).
    sensed: Mutex<Option<Sensed>>,
    /// The device's power draw read while it computed a job, watts (`None`: never read: its
    /// rated power stands in).
    computing_power_w: Mutex<Option<u32>>,
    /// What a kWh costs the owner (the background settings); `None`: the region's average.
    tariff: Mutex<Option<Usd>>,
    /// The region the owner set, read once at start (it applies from a start on; `None`: the
    /// settings could not be read, the region registered stays).
    region: Option<gridmint_protocol::Region>,
    /// Where the app's jobs are kept (`<data>/node.sqlite3`); `None` if it could not be opened
    /// (then the jobs live in memory only, and the log says why).
    store: Option<Mutex<Store>>,
    /// Earning paused: the agent takes no new jobs.
    paused: Arc<std::sync::atomic::AtomicBool>,
    /// Steers the running job's device work: an idle detector yields the GPU through it.
    gpu_control: gpu_engine::control::Control,
    /// Earning only while the owner is away, within the owner's limits: steers `gpu_control`.
    yielder: Mutex<Option<gridmint_runner::idle::Yielder>>,
    /// Why one of the owner's limits holds the work now, if one does.
    held: Arc<Mutex<Option<String>>>,
    /// The share of device memory a job may use, in percent.
    memory_share: Arc<std::sync::atomic::AtomicU8>,
    /// The owner's jobs at a time (Settings).
    capacity: gridmint_node::provider::Capacity,
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
    Ready {
        profile_path: PathBuf,
        market: Address,
        rpc_url: String,
        provider: Address,
        device: String,
    },
    Failed(String),
    /// The owner's network names a market whose code is not this app's build: nothing was
    /// approved or staked; the window offers to trust exactly that code.
    Untrusted {
        market: Address,
        fingerprint: alloy::primitives::B256,
    },
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
        job_id: gridmint_protocol::JobId,
    },
}

/// One of the app's jobs, as the Jobs page lists it and the node store keeps it.
#[derive(Debug, Clone)]
struct Job {
    summary: JobSummary,
    /// The chain it was posted on ([`Inner::network_key`]).
    network: String,
    /// Unix time in milliseconds.
    submitted_ms: u64,
    ended_ms: Option<u64>,
    /// Where the verified result goes (the buyer's choice, or `<data>/results/job-<id>`).
    results_to: Option<String>,
}

impl Job {
    fn stored(&self) -> AppJob {
        AppJob {
            summary: self.summary.clone(),
            network: self.network.clone(),
            submitted_ms: self.submitted_ms,
            ended_ms: self.ended_ms,
            results_to: self.results_to.clone(),
        }
    }
}

/// How often the GPU's sensors are read for the status.
const SENSOR_PERIOD: Duration = Duration::from_secs(5);

/// When the sensors were read, and the temperature (°C) and load (%) they gave.
type Sensed = (Instant, Option<f32>, Option<u32>, Option<f32>);

/// The status's connection to the ready network.
#[derive(Debug)]
struct Reader {
    profile: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
    net: Network,
}

/// The reader's runtime may be dropped on an async thread (the agent's, when the last handle on
/// the market goes): shut it down without blocking there.
impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Wall-clock time in Unix milliseconds (what the app's job records keep across restarts).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What a job that had not ended when the app stopped says after the next start.
const INTERRUPTED_LOCAL: &str = "interrupted: the app stopped before this job ended, and the local network starts afresh each time (its test money went with it); submit it again";
const INTERRUPTED_POSTING: &str = "interrupted: the app stopped while posting this job; if the post landed, the market refunds it once its claim window closes";

/// Marks a job the app stopped under as failed, saying why (posted or not).
fn mark_interrupted(s: &mut JobSummary) {
    s.detail = Some(if s.job_id.is_none() { INTERRUPTED_POSTING } else { INTERRUPTED_LOCAL }.to_owned());
    s.status = JobStatus::Failed;
    s.stage = JobStage::Done;
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
            NetworkChoice::Custom { signer, .. } => Ok((**signer).clone()),
            _ => net::dev_account(PROVIDER_ACCOUNT),
        }
    }

    /// The key this app's jobs are posted with: the devnet's buyer account, or the owner's.
    fn buyer_key(&self) -> Result<PrivateKeySigner, NodeError> {
        match &self.options.network {
            NetworkChoice::Custom { signer, .. } => Ok((**signer).clone()),
            _ => net::dev_account(BUYER_ACCOUNT),
        }
    }

    /// A runtime of its own and the buyer's connection: what each blocking chain call here
    /// runs on.
    fn buyer(&self, profile_path: &Path) -> Result<(tokio::runtime::Runtime, Network), NodeError> {
        Ok((runtime()?, Network::connect(profile_path, self.buyer_key()?)?))
    }
}

fn usd(amount: U256) -> Usd {
    Usd::from_base_units(amount.saturating_to::<u128>())
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
        let network_key = match &options.network {
            NetworkChoice::Local => format!("local devnet started {}", now_ms()),
            NetworkChoice::Custom { deployment, .. } => match gridmint_chain::Deployment::load(deployment) {
                Ok(d) => format!("chain {} market {}", d.chain_id, d.market),
                Err(_) => format!("deployment {}", deployment.display()),
            },
            NetworkChoice::Unavailable(_) => "unavailable".to_owned(),
        };
        let store = match Store::open(&paths.data.join("node.sqlite3")) {
            Ok(store) => Some(store),
            Err(e) => {
                tracing::error!(error = %e, "the app's jobs will not be kept across restarts");
                None
            }
        };
        let jobs = store.as_ref().map(|s| restore_jobs(s, &network_key)).unwrap_or_default();
        let region = match gridmint_node::settings::load_network(&paths) {
            Ok(settings) => Some(settings.region),
            Err(e) => {
                tracing::warn!(error = %e, "the network settings cannot be read: the registered region stays");
                None
            }
        };
        let inner = Arc::new(Inner {
            paths,
            root,
            phase: Mutex::new(Phase::Starting),
            activity: Mutex::new("starting the local network".into()),
            jobs: Mutex::new(jobs),
            network_key,
            stopping: Default::default(),
            reader: Mutex::new(None),
            chain_read: Mutex::new(None),
            sensed: Mutex::new(None),
            computing_power_w: Mutex::new(None),
            region,
            tariff: Mutex::new(None),
            store: store.map(Mutex::new),
            paused: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            gpu_control: gpu_engine::control::Control::new(),
            yielder: Mutex::new(None),
            held: Arc::new(Mutex::new(None)),
            memory_share: Arc::new(std::sync::atomic::AtomicU8::new(100)),
            capacity: gridmint_node::provider::Capacity::default(),
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
    /// memory share caps each job, and the jobs at a time what is claimed. `events` hears each
    /// change. Fails (and earns as without idle mode) where idle detection is unavailable (no X
    /// server or no screensaver extension; a Wayland compositor without an idle protocol, not
    /// GNOME's): [`gridmint_runner::idle::desktop`] says what it tried.
    pub fn set_background(
        &self,
        settings: &gridmint_protocol::BackgroundSettings,
        events: gridmint_runner::idle::YieldEvents,
    ) -> Result<(), NodeError> {
        use gridmint_runner::idle::{AlwaysAway, Gate, IdlePolicy, InputIdle, Yielder};
        *lock(&self.inner.tariff) = settings.electricity_usd_per_kwh;
        self.inner
            .memory_share
            .store(settings.gpu_memory_share_pct.clamp(10, 100), std::sync::atomic::Ordering::Relaxed);
        self.inner.capacity.set(settings.jobs_at_once);
        let mut yielder = lock(&self.inner.yielder);
        // A yielder that stops leaves the GPU paused.
        *yielder = None;
        *lock(&self.inner.held) = None;
        let control = self.inner.gpu_control.clone();
        // Other programs' GPU work is only known through nvidia-smi: no gate for it without one.
        let nvidia = settings.yield_to_other_programs
            && crate::console_program("nvidia-smi").arg("-L").output().is_ok_and(|o| o.status.success());
        let limits = (settings.earn_from_hour.is_some() && settings.earn_until_hour.is_some())
            || settings.ac_power_only
            || settings.max_gpu_temp_c.is_some()
            || nvidia;
        if !settings.earn_only_when_idle && !limits {
            control.resume();
            return Ok(());
        }
        let (source, policy): (Box<dyn InputIdle>, IdlePolicy) = if settings.earn_only_when_idle {
            match gridmint_runner::idle::desktop() {
                Ok(source) => (
                    source,
                    IdlePolicy {
                        start_after: Duration::from_secs(u64::from(settings.idle_minutes) * 60),
                        ..IdlePolicy::default()
                    },
                ),
                Err(e) => {
                    control.resume();
                    return Err(e.into());
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
    /// `price_floor` (price units per work unit: micro-dollars per PFLOP, see
    /// [`gridmint_protocol::Price`]). Once it serves, a new floor
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
            Ok::<_, NodeError>(posted.iter().map(|p| p.pricePerUnit.saturating_to::<u64>()).collect::<Vec<u64>>())
        })?;
        prices.sort_unstable();
        let (price, basis) = match prices.len() {
            0 => (DEFAULT_PRICE_PER_UNIT, "no jobs on this network yet: the app's default offer".to_owned()),
            n => (prices[n / 2], format!("the median offer of the {n} jobs posted on this network")),
        };
        Ok(PriceSuggestion { price_per_unit: price, usd_per_pflop: Price(price).usd_per_pflop(), basis })
    }

    /// The control over the running job's device work.
    pub fn gpu_control(&self) -> gpu_engine::control::Control {
        self.inner.gpu_control.clone()
    }

    /// What this machine is doing now, read without the chain (the tray polls it).
    pub fn activity(&self) -> Activity {
        match &*lock(&self.inner.phase) {
            Phase::Failed(message) => Activity::Failed(message.clone()),
            Phase::Untrusted { market, .. } => {
                Activity::Failed(format!("the market {market} is not this app's build: trust it in the window"))
            }
            Phase::Starting if self.awaits_owner() => Activity::AwaitingSetUp,
            Phase::Starting => Activity::Starting,
            Phase::Ready { .. } => match &*lock(&self.inner.current_task) {
                Some(task) => Activity::Computing { job_id: task.job_id },
                None => Activity::Serving,
            },
        }
    }

    /// The market and code fingerprint the owner's network was refused for, if it was.
    pub fn untrusted_market(&self) -> Option<(Address, alloy::primitives::B256)> {
        match &*lock(&self.inner.phase) {
            Phase::Untrusted { market, fingerprint } => Some((*market, *fingerprint)),
            _ => None,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the provider agent and the chain, and waits (up to 10 s) for anvil to exit.
    /// Jobs still running stay as they are on the owner's network (the next start takes them
    /// up); on the devnet, whose chain goes with it, they are marked interrupted.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        if matches!(self.inner.options.network, NetworkChoice::Local) {
            let unfinished: Vec<u64> = lock(&self.inner.jobs)
                .iter()
                .filter(|j| !j.summary.status.is_final())
                .map(|j| j.summary.local_id)
                .collect();
            for local_id in unfinished {
                self.inner.update(local_id, mark_interrupted);
            }
        }
        self.stopper.stop();
        *lock(&self.inner.phase) = Phase::Failed("the local network was shut down".into());
        lock(&self.inner.reader).take();
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
            Phase::Untrusted { market, fingerprint } => {
                status.phase =
                    NetworkPhase::Untrusted { market: market.to_string(), fingerprint: fingerprint.to_string() }
            }
            Phase::Ready { profile_path, market, rpc_url, provider, device } => {
                status.phase = NetworkPhase::Ready;
                status.rpc_url = Some(rpc_url);
                status.market = Some(market.to_string());
                let chain = self.inner.chain_standing(&profile_path, provider);
                let current_task = lock(&self.inner.current_task).clone();
                let declined_jobs = lock(&self.inner.declined).clone();
                let (gpu_temp_c, gpu_busy_pct, power_w) = self.inner.sensors();
                // The draw the work costs: the highest reading while a job computes (not while it
                // fetches its data or loads).
                let computing =
                    current_task.as_ref().is_some_and(|t| !t.stage.starts_with("fetching") && t.stage != "loading");
                if let (true, Some(watts)) = (computing, power_w) {
                    let mut peak = lock(&self.inner.computing_power_w);
                    *peak = Some(peak.unwrap_or(0).max(watts.round() as u32));
                }
                let net_hour = self.inner.net_hour(&device, &chain);
                status.provider = Some(ProviderStanding {
                    address: provider.to_string(),
                    device,
                    activity,
                    paused,
                    gpu_temp_c,
                    gpu_busy_pct,
                    net_hour,
                    current_task,
                    declined_jobs,
                    chain,
                });
            }
        }
        status
    }
}

impl Inner {
    fn set_activity(&self, what: impl Into<String>) {
        *lock(&self.activity) = what.into();
    }

    /// The device's electricity: its draw while computing (read during a job, else its rated
    /// power) at the owner's tariff (else the average of the region the owner set).
    pub(super) fn electricity(&self, device: &str) -> gridmint_node::electricity::Electricity {
        use gridmint_node::electricity::{Electricity, kind_from_name};
        let region = self.region.unwrap_or_default();
        let watts = *lock(&self.computing_power_w);
        Electricity::new(device, kind_from_name(device), watts, *lock(&self.tariff), region)
    }

    /// An hour of this machine's work net of electricity, at the owner's price floor (else the
    /// app's default offer), once the chain has its device's rate.
    fn net_hour(
        &self,
        device: &str,
        chain: &Result<ChainStanding, gridmint_protocol::ApiError>,
    ) -> Option<gridmint_protocol::NetEarnings> {
        let gflops = chain.as_ref().ok().map(|c| c.compute_units).filter(|u| *u > 0)?;
        let floor = (*self.owner.borrow()).filter(|f| *f > 0);
        let price = gridmint_protocol::Price(floor.unwrap_or(DEFAULT_PRICE_PER_UNIT));
        Some(self.electricity(device).hour_at(price, gflops))
    }

    /// The hottest GPU's temperature, its load and the highest power draw, read at most every
    /// [`SENSOR_PERIOD`].
    fn sensors(&self) -> (Option<f32>, Option<u32>, Option<f32>) {
        let mut sensed = lock(&self.sensed);
        match *sensed {
            Some((at, temp, busy, power)) if at.elapsed() < SENSOR_PERIOD => (temp, busy, power),
            _ => {
                let sensors = crate::limits::Sensors::default();
                let (temp, busy, power) = (sensors.gpu_temp_c(), sensors.gpu_busy_pct(), sensors.gpu_power_w());
                *sensed = Some((Instant::now(), temp, busy, power));
                (temp, busy, power)
            }
        }
    }

    /// Changes one of the app's jobs and keeps its new state in the store (only if it changed:
    /// the stage is read every second while a job runs).
    fn update(&self, local_id: u64, change: impl FnOnce(&mut JobSummary)) {
        let stored = {
            let mut jobs = lock(&self.jobs);
            let Some(job) = jobs.iter_mut().find(|j| j.summary.local_id == local_id) else { return };
            let before = job.summary.clone();
            change(&mut job.summary);
            if job.summary == before {
                return;
            }
            if job.summary.status.is_final() && job.ended_ms.is_none() {
                job.ended_ms = Some(now_ms());
            }
            job.stored()
        };
        self.keep(&stored);
    }

    /// Where a posted job's verified result goes (kept, so a job taken up after a restart writes
    /// it there too).
    fn set_results_to(&self, local_id: u64, results: &Path) {
        let stored = {
            let mut jobs = lock(&self.jobs);
            let Some(job) = jobs.iter_mut().find(|j| j.summary.local_id == local_id) else { return };
            job.results_to = Some(results.display().to_string());
            job.stored()
        };
        self.keep(&stored);
    }

    /// Writes a job to the store (a failure is logged: the job goes on in memory).
    fn keep(&self, job: &AppJob) {
        if let Some(store) = &self.store
            && let Err(e) = lock(store).save_app_job(job)
        {
            tracing::error!(job = job.summary.local_id, error = %e, "could not keep the job's state");
        }
    }
}

/// The app's jobs from the store. One that had not ended is taken up again if it was posted on
/// this start's network (it is followed once the network is ready, [`Inner::resume_jobs`]);
/// otherwise it is marked failed, saying why, and kept so.
fn restore_jobs(store: &Store, network_key: &str) -> Vec<Job> {
    let stored = match store.app_jobs() {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!(error = %e, "the app's earlier jobs could not be read");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    for AppJob { summary, network, submitted_ms, ended_ms, results_to } in stored {
        let mut job = Job { summary, network, submitted_ms, ended_ms, results_to };
        let resumable = job.network == network_key && job.summary.job_id.is_some();
        if !job.summary.status.is_final() && !resumable {
            mark_interrupted(&mut job.summary);
            job.ended_ms = Some(now_ms());
            if let Err(e) = store.save_app_job(&job.stored()) {
                tracing::error!(job = job.summary.local_id, error = %e, "could not keep the job's state");
            }
        }
        jobs.push(job);
    }
    jobs
}

mod buying;
mod earning;
mod serving;
