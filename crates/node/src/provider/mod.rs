//! The provider agent: registers this machine, watches the market for jobs it fits, claims them,
//! fetches the job data, runs it through the same runner as `gridmint run`, commits and reveals
//! the result root, and publishes the result for the buyer.
//!
//! One job computes at a time per device, in the background: the agent goes on watching the
//! market, claiming, relaying and delivering while it runs. The device's queue is run earliest
//! commit deadline first (jobs it is known to be selected for before jobs still being drawn), and
//! the agent claims a job only if its queue, at its own measured pace ([`crate::pace`]), finishes
//! that job before the job's commit deadline.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, U256, keccak256};
use gpu_engine::DeviceSlot;
use gridmint_chain::{
    ChainError, JobState,
    bindings::Gridmint::{self, GridmintErrors},
    commitment,
};
use gridmint_protocol::{Region, ReproClass};
use rand::RngCore;

use gridmint_runner as runner;

use gridmint_peer::exchange;

use crate::{NodeError, Paths, net::Network, pace::Pace, store::Store};
pub use claims::Capacity;

/// How the agent behaves.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// The lowest price it accepts, in price units per work unit ([`gridmint_protocol::Price`]).
    pub price_floor: u128,
    /// The region it registers in (what the owner declares: see [`Region`]); `None` keeps the
    /// one registered (a new registration declares none).
    pub region: Option<Region>,
    /// Stop after this many jobs settle (for demos and tests); run until stopped otherwise.
    pub exit_after_jobs: Option<usize>,
    /// Test only: a wrong result bound to a trace made from it (every embedding value, or every
    /// checkpoint's last byte, changed: `runner::binding::consistent_lie`), to exercise slashing;
    /// `Some(step)`: a training or fine-tuning run right before that step and wrong from it on
    /// (`consistent_lie_from`: a cheater that computed the first epochs and skipped the rest).
    pub corrupt_results: Option<usize>,
    /// Test only: as a juror, vote for the side the step proves wrong (to be outvoted, slashed).
    pub lie_as_juror: bool,
    /// Hand the commitment and reveal to the buyer, who submits every replica's in two
    /// transactions (else: commit and reveal on chain itself, as when the buyer does not answer;
    /// the buyer then checks before it settles or challenges from the chain alone).
    pub relay_commitments: bool,
    /// How often to poll the chain.
    pub poll: Duration,
    /// While set, the agent claims no new jobs (the ones it holds run to the end, so no job is
    /// abandoned and no stake is lost): the owner wants the machine back.
    pub paused: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Steers the running job's device work (an idle detector's [`gridmint_runner::idle::Yielder`]
    /// pauses it at the next submission when the owner comes back). A yielded job is resumed
    /// (the control pinned) once only `deadline_margin` is left before its commit deadline,
    /// so it is not lost.
    pub control: Option<gpu_engine::control::Control>,
    pub deadline_margin: Duration,
    /// While it holds a reason (one of the owner's limits), the agent claims no new jobs.
    pub held: Option<std::sync::Arc<std::sync::Mutex<Option<String>>>>,
    /// The share of device memory a job may use, in percent (100 without it).
    pub memory_share: Option<std::sync::Arc<std::sync::atomic::AtomicU8>>,
    /// Where the agent notes the jobs it did not take and why (the latest [`DECLINED_KEPT`]).
    pub declined: Option<std::sync::Arc<std::sync::Mutex<Vec<gridmint_protocol::DeclinedJob>>>>,
    /// Where the agent posts the job it is computing and its progress (a dashboard reads it).
    pub current_task: Option<std::sync::Arc<std::sync::Mutex<Option<gridmint_protocol::CurrentTask>>>>,
    /// Serve on juries of other jobs' court games (see `jury`): paid from the losers' stake.
    pub jury_duty: bool,
    /// Claim jobs (a provider that only serves on juries does not).
    pub claim_jobs: bool,
    /// Have the device's registered figures checked (see `device_check`): open this node's own
    /// check while it is not verified, answer every check opened on it.
    pub device_check: bool,
    /// How many jobs this device holds at a time: claimed and not yet computed, the running one
    /// among them (it computes one at a time). A job over it is declined, whatever its deadline.
    pub capacity: Capacity,
    /// The device memory it offers the market, in MiB (registered as such, and what a device
    /// check fills 90% of); `None`: the whole device's.
    pub memory_mib: Option<u32>,
}

/// Jobs a device holds at a time unless its owner says otherwise ([`ProviderOptions::capacity`]).
pub const DEFAULT_CAPACITY: u8 = gridmint_protocol::market::DEFAULT_JOBS_AT_ONCE;

/// Jobs not taken that the agent keeps for the owner to see.
pub const DECLINED_KEPT: usize = 10;

/// Notes a job not taken, newest first, in `options`' list if it has one.
fn decline(options: &ProviderOptions, job_id: U256, reason: String) {
    tracing::info!(job = %job_id, %reason, "not taking the job");
    if let Some(list) = &options.declined {
        let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
        list.insert(0, gridmint_protocol::DeclinedJob { job_id: crate::net::job_id(job_id), reason });
        list.truncate(DECLINED_KEPT);
    }
}

/// Posts the job being computed (or none) on the board of `options`, if it has one.
fn post_task(options: &ProviderOptions, task: Option<gridmint_protocol::CurrentTask>) {
    if let Some(board) = &options.current_task {
        *board.lock().unwrap_or_else(|p| p.into_inner()) = task;
    }
}

/// Where the agent's device work runs.
#[derive(Debug)]
pub enum Compute {
    /// In this process: the device opened once and reopened after a loss (the CLI).
    Here(DeviceSlot),
    /// In a worker process per job, benchmark or lookup (the desktop agent, which then never
    /// loads the driver itself; see [`gridmint_runner::worker`]).
    Worker { worker: gridmint_runner::worker::DeviceWorker, device: Option<u32> },
}

impl Compute {
    /// What the device offers the market (a short GEMM benchmark).
    fn facts(&self) -> Result<gridmint_runner::worker::DeviceFacts, NodeError> {
        match self {
            Compute::Here(slot) => Ok(gridmint_runner::worker::DeviceFacts::measure(&slot.gpu())?),
            Compute::Worker { worker, device } => Ok(worker.facts(*device)?),
        }
    }

    /// The reproducibility classes the device proves now (the fused probe; in a worker, its
    /// short benchmark).
    fn classes(&self) -> Result<Vec<ReproClass>, NodeError> {
        match self {
            Compute::Here(slot) => Ok(runner::device_classes(&slot.gpu())),
            Compute::Worker { worker, device } => Ok(worker.facts(*device)?.classes),
        }
    }

    /// The device's name.
    pub fn device_name(&self) -> Result<String, NodeError> {
        match self {
            Compute::Here(slot) => Ok(slot.gpu().info().name.clone()),
            Compute::Worker { worker, device } => Ok(worker.device_name(*device)?),
        }
    }
}

/// A job the agent took on, and how far it got.
#[derive(Debug)]
struct Task {
    index: U256,
    claimed_at: Instant,
    compute_s: f64,
    claim_deadline: u64,
    /// The job's terms that the device's queue is planned by (from its `JobPosted` event; a task
    /// resumed while the chain cannot be read has `u64::MAX` and 0 until it can).
    commit_deadline: u64,
    max_work_units: u64,
    /// Whether this node's claim was drawn (`None` until the market selected the replicas).
    selected: Option<bool>,
    /// The computation under way, and when it started.
    computing: Option<tokio::task::JoinHandle<Result<Computed, NodeError>>>,
    started_at: Option<Instant>,
    /// (result root, salt, on-chain work units) once computed; stored before the commit.
    result: Option<(B256, B256, u64)>,
    committed: bool,
    revealed: bool,
    /// The buyer has the result (not stored: a resumed task offers it again, and the buyer
    /// answers at once if it has it).
    delivered: bool,
    /// When the buyer took this replica's signed commitment and reveal (it submits them with the
    /// other replicas'), and whether handing them over failed (the agent then commits itself).
    relayed_at: Option<Instant>,
    relay_failed: bool,
    /// When every selected replica was first seen committed (a relayed reveal is waited for
    /// [`RELAY_GRACE`] from then).
    all_committed_at: Option<Instant>,
    /// The delivery under way (it runs beside the agent's loop: a buyer that cannot be reached
    /// must not hold up other jobs), and when to try again after a failed one.
    delivery: Option<tokio::task::JoinHandle<Result<(), NodeError>>>,
    retry_delivery_at: Option<Instant>,
    /// When the job was first seen settled: delivery (from the commit on) is retried for
    /// [`DELIVERY_WINDOW`] after.
    settled_at: Option<Instant>,
    /// Why the job cannot run here (its package failed on this node): the replica leaves the
    /// job once selected instead of missing its deadline.
    cannot_run: Option<String>,
    /// The job's data, in bytes, as its card said (0 when not known: a task resumed): room is
    /// kept for it in the store until it arrives.
    data_bytes: u64,
    /// When to ask for the job's data again after its buyer did not give it (the device computes
    /// other jobs meanwhile).
    retry_data_at: Option<Instant>,
    /// When anyone may settle the job after the buyer's check (reveal deadline + check window),
    /// read once a reveal is on chain: a replica whose buyer went quiet settles it then.
    settle_after: Option<u64>,
    /// Whether this replica looked, once every reveal was in (or the reveal window closed), for a
    /// majority its own result contradicts (it challenges one: [`closing::challenge_if_outvoted`]).
    dissent_checked: bool,
}

impl Task {
    /// A task just claimed (or taken over from the node state, which then fills in how far it got).
    fn claimed(index: U256, claim_deadline: u64, commit_deadline: u64, max_work_units: u64) -> Self {
        Self {
            index,
            claimed_at: Instant::now(),
            compute_s: 0.0,
            claim_deadline,
            commit_deadline,
            max_work_units,
            selected: None,
            computing: None,
            started_at: None,
            result: None,
            committed: false,
            revealed: false,
            delivered: false,
            relayed_at: None,
            relay_failed: false,
            all_committed_at: None,
            delivery: None,
            cannot_run: None,
            data_bytes: 0,
            retry_data_at: None,
            settle_after: None,
            dissent_checked: false,
            retry_delivery_at: None,
            settled_at: None,
        }
    }

    /// Still to be computed (and not known to be passed over).
    fn waiting_for_device(&self) -> bool {
        self.result.is_none() && self.selected != Some(false)
    }

    /// Why this task, not started, can no longer be computed before its commit deadline (chain
    /// time `now`) even if it started now: its fetch and computation at `pace` and
    /// [`claims::CLAIM_MARGIN_S`] would end after it. `None` while it can.
    fn no_time_left(&self, now: u64, pace: &Pace) -> Option<String> {
        let needs = self.needs_s(pace);
        let left = self.commit_deadline.saturating_sub(now);
        (left < needs).then(|| {
            format!("{left} s left before its commit deadline; fetching and computing it needs about {needs} s")
        })
    }

    /// Seconds this task needs before its commit deadline, from the start of its fetch: its run
    /// at `pace` (whose estimate counts the fetch: the pace learns from runs timed from it) and
    /// [`claims::CLAIM_MARGIN_S`].
    fn needs_s(&self, pace: &Pace) -> u64 {
        pace.estimate(self.max_work_units).as_secs().saturating_add(claims::CLAIM_MARGIN_S)
    }

    /// How much device time this task still needs, at `pace`.
    fn remaining(&self, pace: &Pace) -> Duration {
        if !self.waiting_for_device() {
            return Duration::ZERO;
        }
        let estimate = pace.estimate(self.max_work_units);
        match self.started_at {
            // Running: what is left of the estimate, never less than a tenth of it (it may overrun).
            Some(at) => estimate.saturating_sub(at.elapsed()).max(estimate / 10),
            None => estimate,
        }
    }
}

/// How long a replica waits before asking again for data its buyer did not give.
const DATA_RETRY: Duration = Duration::from_secs(15);

/// A finished computation: (result root, salt, on-chain work units) and its seconds.
type Computed = ((B256, B256, u64), f64);

/// The task the device computes next when it is free: of those waiting, the ones known to be
/// selected before those still being drawn, each by earliest commit deadline.
fn next_for_device(tasks: &BTreeMap<U256, Task>) -> Option<U256> {
    if tasks.values().any(|t| t.computing.is_some()) {
        return None;
    }
    tasks
        .iter()
        .filter(|(_, t)| t.waiting_for_device() && t.retry_data_at.is_none_or(|at| Instant::now() >= at))
        .min_by_key(|(_, t)| (t.selected != Some(true), t.commit_deadline))
        .map(|(id, _)| *id)
}

/// How long a provider waits for the buyer to submit a relayed commitment (or reveal) before it
/// submits its own; never past [`RELAY_MARGIN_S`] before the deadline.
const RELAY_GRACE: Duration = Duration::from_secs(10);
const RELAY_MARGIN_S: u64 = 30;

/// How long after settlement a provider keeps offering its result to a buyer it cannot reach.
const DELIVERY_WINDOW: Duration = Duration::from_secs(600);

/// One job as the provider lived it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTiming {
    pub job_id: String,
    /// From the claim to seeing the job settled.
    pub total_s: f64,
    /// Fetching the data and running it (the runner), the part that is the work itself.
    pub compute_s: f64,
}

/// What `serve` did, for the caller's summary.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderReport {
    pub address: Address,
    pub jobs_settled: usize,
    /// Tasks taken over from the node state at start (left by a stopped or killed run).
    pub resumed: usize,
    pub jobs: Vec<JobTiming>,
}

fn market_error(message: impl Into<String>) -> NodeError {
    NodeError::Market { message: message.into() }
}

/// Registers the machine if it is not yet: hardware from the engine, compute units from a short
/// deterministic GEMM benchmark, stake = the market's minimum for those units. Returns what it
/// measured when it registered now (`None`: registered before).
pub async fn ensure_registered(
    net: &Network,
    gpu: &Compute,
    options: &ProviderOptions,
) -> Result<Option<gridmint_runner::worker::DeviceFacts>, NodeError> {
    let c = net.market.contract();
    let me = net.address();
    let record =
        c.providerOf(me).call().await.map_err(|e| NodeError::Chain(ChainError::from_contract("providerOf", e)))?;
    if record.status != 0 {
        // The owner's region setting wins over the one registered (it moved the machine, or
        // corrected it). The market refuses a move under open claims: then it waits for the
        // next start, and the node serves in the region registered.
        if let Some(region) = options.region.filter(|r| r.code() != record.region) {
            match net.market.set_region(region.code().into()).await {
                Ok(_) => tracing::info!(from = record.region, to = %region, "region changed"),
                Err(e) => tracing::warn!(error = %e, to = %region, "the region stays as registered for now"),
            }
        }
        return Ok(None);
    }
    let facts = gpu.facts()?;
    let units = facts.units;
    let per_unit = c
        .minStakePerUnit()
        .call()
        .await
        .map_err(|e| NodeError::Chain(ChainError::from_contract("minStakePerUnit", e)))?;
    let stake = per_unit * U256::from(units);
    let device_mib = (facts.memory_bytes / (1 << 20)).clamp(1, u64::from(u32::MAX)) as u32;
    let memory_mib = options.memory_mib.map_or(device_mib, |offered| offered.clamp(1, device_mib));
    net.market.approve_stake(net.address(), stake).await?;
    let model = keccak256(facts.name.as_bytes());
    // The classes the device proved: only jobs in them are claimed (and judged) by this node.
    let classes = ReproClass::mask(facts.classes.iter().copied());
    let region = options.region.unwrap_or_default();
    net.market.register(model, memory_mib, units, region.code().into(), classes, stake, Address::ZERO).await?;
    tracing::info!(%me, units, memory_mib, classes = ?facts.classes, %region, "registered");
    Ok(Some(facts))
}

/// Runs the agent until `exit_after_jobs` jobs have settled (or forever).
pub async fn serve(
    paths: &Paths,
    net: &Network,
    gpu: &std::sync::Arc<Compute>,
    options: &ProviderOptions,
) -> Result<ProviderReport, NodeError> {
    let measured = ensure_registered(net, gpu, options).await?;
    if options.jury_duty {
        jury::join_pool(net).await?;
    }
    let peer = net.start_peer(&paths.data).await?;
    // Jurors of a court game fetch the job's data from its replicas too: they find them by this
    // announcement (tried again each round until it lands).
    let mut announced = false;
    let me = net.address();
    let mut report = ProviderReport { address: me, ..ProviderReport::default() };
    let store = Store::open(&paths.data.join("node.sqlite3"))?;
    let key = format!("{}:{}", net.profile.deployment.market, me);
    let registered = net.registration(me).await?;
    // The classes registered that the device proves now (a registration from before classes
    // were checked holds every bit; a device may have changed since).
    let proven = match measured {
        Some(facts) => facts.classes,
        None => gpu.classes()?,
    };
    let (units, classes) = (registered.computeUnits, registered.classes & ReproClass::mask(proven));
    let mut pace = Pace::for_units(units).with_scale(store.pace_scale(&key)?.unwrap_or(1.0));
    let mut cursor = store.cursor(&key)?.unwrap_or(net.profile.deployment.start_block);
    let mut tasks = resume(&store, &key)?;
    report.resumed = tasks.len();
    if !tasks.is_empty() {
        tracing::info!(tasks = tasks.len(), "resuming tasks from the node state");
    }
    for (job_id, task) in &tasks {
        if task.result.is_some() {
            peer.computed_job(*job_id);
        }
    }
    let work_dir = paths.data.join("provider");
    compute::sweep_ended_jobs(&work_dir, &tasks);
    let mut backoff = options.poll;
    let (mut duties, mut jury_cursor) = (jury::Duties::new(), 0u64);
    let mut own_check = device_check::OwnCheck::default();
    let (mut check_duties, mut check_cursor) = (check_jury::CheckDuties::new(), 0u64);
    let mut rechecks = check_jury::Rechecks::default();
    let mut cards = claims::CardReads::default();
    loop {
        // A device that overran a dispatch takes no more work in this process: stop here (the
        // tasks are stored and resume at the next start) rather than claim jobs it cannot run.
        if let Compute::Here(slot) = &**gpu {
            slot.gpu().refuse_if_hung()?;
        }
        // A failed scan (the RPC is down, say) is retried with backoff; the cursor only moves
        // past blocks whose events were all handled.
        let device = claims::DeviceTerms { pace: &pace, classes, memory_mib: registered.memoryMiB };
        match claims::scan(paths, net, &store, &key, cursor, &mut tasks, options, device, &mut cards).await {
            Ok(next) => {
                cursor = next;
                backoff = options.poll;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot read the chain; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        }
        if let Err(e) = claims::claim_ready(net, &store, &key, &mut tasks, options, device, &mut cards).await {
            tracing::warn!(error = %e, "claiming the jobs whose cards were read: retrying");
        }
        // Resumed tasks learn their terms once the chain answers.
        for (job_id, task) in tasks.iter_mut().filter(|(_, t)| t.commit_deadline == u64::MAX) {
            if let Ok(Some(posted)) = net.posted_job(*job_id).await {
                task.commit_deadline = posted.commitDeadline.to();
                task.max_work_units = posted.maxWorkUnits;
            }
        }
        let now = match net.now().await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the chain clock; retrying");
                tokio::time::sleep(options.poll).await;
                continue;
            }
        };
        let mut finished = Vec::new();
        let next = next_for_device(&tasks);
        for (job_id, task) in tasks.iter_mut() {
            let ctx = StepContext { net, paths, gpu, store: &store, key: &key, work_dir: &work_dir, options };
            match step(&ctx, *job_id, task, now, next == Some(*job_id), &mut pace).await {
                Ok(done) => {
                    if done {
                        finished.push(*job_id);
                    }
                }
                // A job whose package cannot run here will never run here: give it up (the
                // market refunds or reassigns it). Anything else (RPC, data not there yet) is
                // tried again on the next round.
                Err(NodeError::Job(e)) => {
                    tracing::error!(job = %job_id, error = %e, "the job cannot run here; leaving it once selected");
                    task.cannot_run = Some(e.to_string());
                }
                // Data the buyer does not serve is asked for again while the job can still be
                // computed in time after it; then the replica leaves (a missed deadline would be
                // slashed, and the buyer could cause it).
                Err(e @ NodeError::DataUnavailable { .. }) => match task.no_time_left(now, &pace) {
                    Some(why) => {
                        tracing::error!(job = %job_id, error = %e, %why, "no data in time; leaving the job");
                        task.cannot_run = Some(format!("{e} ({why})"));
                    }
                    None => {
                        // Asked again later: meanwhile the device computes the jobs behind it.
                        tracing::warn!(job = %job_id, error = %e, "no data yet; asking again");
                        task.retry_data_at = Some(Instant::now() + DATA_RETRY);
                    }
                },
                Err(e) => tracing::warn!(job = %job_id, error = %e, "task step failed; retrying"),
            }
        }
        if !announced {
            match net.announce_peer().await {
                Ok(()) => announced = true,
                Err(e) => tracing::warn!(error = %e, "could not announce this node's endpoint; retrying"),
            }
        }
        // Its own device check once its endpoint is announced (the jurors fetch its rows there).
        if options.device_check
            && announced
            && let Err(e) = device_check::round(net, gpu, &mut own_check, tasks.is_empty()).await
        {
            tracing::warn!(error = %e, "device check: retrying");
        }
        if options.jury_duty {
            if let Err(e) = check_jury::open_due_rechecks(net, &mut rechecks).await {
                tracing::warn!(error = %e, "device checks due: retrying");
            }
            if let Err(e) = check_jury::round(net, &mut check_duties, &mut check_cursor, options.lie_as_juror).await {
                tracing::warn!(error = %e, "device check jury: retrying");
            }
            let ctx =
                jury::JuryContext { net, paths, gpu, work_dir: &work_dir, classes, lie: options.lie_as_juror, pace };
            if let Err(e) = jury::round(&ctx, &mut duties, &mut jury_cursor).await {
                tracing::warn!(error = %e, "jury duty: retrying");
            }
        }
        for job_id in finished {
            store.remove_task(&key, &job_id.to_string())?;
            // The job ended (its court games too): its files and its kept claim go.
            let _ = std::fs::remove_dir_all(work_dir.join(format!("job-{job_id}")));
            if let Ok(peer) = net.peer() {
                peer.forget_job(job_id).await;
            }
            if let Some(task) = tasks.remove(&job_id) {
                if let Some(running) = task.computing {
                    running.abort();
                }
                report.jobs.push(JobTiming {
                    job_id: job_id.to_string(),
                    total_s: task.claimed_at.elapsed().as_secs_f64(),
                    compute_s: task.compute_s,
                });
            }
            report.jobs_settled += 1;
            if options.exit_after_jobs.is_some_and(|n| report.jobs_settled >= n) {
                net.close_peer().await;
                return Ok(report);
            }
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// What every step of a task reads.
struct StepContext<'a> {
    net: &'a Network,
    paths: &'a Paths,
    gpu: &'a std::sync::Arc<Compute>,
    store: &'a Store,
    key: &'a str,
    work_dir: &'a std::path::Path,
    options: &'a ProviderOptions,
}

/// The tasks a previous run of this node left (it was stopped or killed mid-job).
fn resume(store: &Store, key: &str) -> Result<BTreeMap<U256, Task>, NodeError> {
    let bad = |what: &str, v: &str| NodeError::Store { message: format!("stored {what} `{v}` is not valid") };
    let mut tasks = BTreeMap::new();
    for t in store.tasks(key)? {
        let job_id: U256 = t.job_id.parse().map_err(|_| bad("job id", &t.job_id))?;
        let index: U256 = t.replica.parse().map_err(|_| bad("replica", &t.replica))?;
        let result = match t.result {
            Some((root, salt, units)) => Some((
                root.parse::<B256>().map_err(|_| bad("result root", &root))?,
                salt.parse::<B256>().map_err(|_| bad("salt", &salt))?,
                units,
            )),
            None => None,
        };
        tasks.insert(
            job_id,
            Task {
                compute_s: t.compute_s,
                result,
                committed: t.committed,
                revealed: t.revealed,
                ..Task::claimed(index, t.claim_deadline, u64::MAX, 0)
            },
        );
    }
    Ok(tasks)
}

/// Moves one task on; true when the job is settled (or lost) and the task is done. `device_free`:
/// the device is free and this task is the one it computes next.
async fn step(
    ctx: &StepContext<'_>,
    job_id: U256,
    task: &mut Task,
    mut now: u64,
    device_free: bool,
    pace: &mut Pace,
) -> Result<bool, NodeError> {
    let StepContext { net, store, key, .. } = *ctx;
    // The slot on every poll; the trail (a log query) only when a reveal is being decided.
    let job = net.market.slot(job_id).await?;
    let state = job.job_state()?;
    deliver_once(net, job_id, task).await;
    if state == JobState::Disputed {
        return court::take_part(net, ctx.work_dir, job_id, task).await;
    }
    if !state.in_progress() {
        let settled_at = *task.settled_at.get_or_insert_with(Instant::now);
        if task.committed && !task.delivered && settled_at.elapsed() < DELIVERY_WINDOW {
            return Ok(false);
        }
        if task.revealed {
            tracing::info!(job = %job_id, %state, delivered = task.delivered, "settled");
        }
        return Ok(true);
    }
    if state == JobState::Running {
        let index: u32 = task.index.to();
        task.selected = Some((job.selected >> index) & 1 == 1);
    }
    if let Some(why) = task.cannot_run.clone() {
        return leave_when_selected(net, job_id, task, state, &why).await;
    }
    if task.result.is_none() {
        if task.selected == Some(false) {
            // Drawn out before its turn on the device (or while it ran: the run is dropped).
            tracing::info!(job = %job_id, "not selected");
            return Ok(true);
        }
        // A drawn job the queue (or data that does not come) delayed past the time it needs is
        // left now, unslashed, whoever has the device: committed late it would be slashed.
        if task.computing.is_none()
            && task.selected == Some(true)
            && let Some(why) = task.no_time_left(now, pace)
        {
            tracing::error!(job = %job_id, %why, "no time left to compute the job; leaving it");
            task.cannot_run = Some(why.clone());
            return leave_when_selected(net, job_id, task, state, &why).await;
        }
        match task.computing.take() {
            Some(running) if running.is_finished() => {
                task.started_at = None;
                let ((root, salt, units), seconds) = running.await.map_err(|e| NodeError::Worker {
                    message: format!("job {job_id}: the computation stopped: {e}"),
                })??;
                task.compute_s = seconds;
                // Stored before anything goes on chain: a restarted node must reveal this very root and salt.
                store.set_result(key, &job_id.to_string(), &root.to_string(), &salt.to_string(), units, seconds)?;
                task.result = Some((root, salt, units));
                pace.observe(units, Duration::from_secs_f64(seconds));
                store.set_pace_scale(key, pace.scale())?;
                tracing::info!(job = %job_id, seconds, scale = pace.scale(), "pace learned");
                now = net.now().await?;
            }
            Some(running) => {
                task.computing = Some(running);
                return Ok(false);
            }
            None if device_free => {
                // The buyer's data goes to the drawn replicas only: wait for the draw, and run it
                // once the claim window has closed if nobody did yet.
                if task.selected != Some(true) {
                    if state == JobState::Open && now > task.claim_deadline {
                        net.draw_replicas(job_id).await?;
                    }
                    return Ok(false);
                }
                task.started_at = Some(Instant::now());
                let needs_s = task.needs_s(pace);
                task.computing = Some(tokio::spawn(compute(
                    ctx.paths.clone(),
                    net.clone(),
                    ctx.gpu.clone(),
                    ctx.work_dir.to_owned(),
                    job_id,
                    needs_s,
                    ctx.options.clone(),
                )));
                return Ok(false);
            }
            None => return Ok(false),
        }
    }
    let (root, salt, work_units) = task.result.expect("computed above");
    if !task.committed && now > task.claim_deadline {
        // Select first (a no-op revert if someone already did), then commit only if chosen: a
        // refused commit would undo the selection and re-roll it for everyone.
        let mut job = job;
        if state == JobState::Open {
            net.draw_replicas(job_id).await?;
            job = net.market.slot(job_id).await?;
        }
        let index: u32 = task.index.to();
        if (job.selected >> index) & 1 == 0 {
            tracing::info!(job = %job_id, "not selected");
            return Ok(true);
        }
        // Hand the commitment and its reveal to the buyer, who submits every replica's together.
        if ctx.options.relay_commitments && task.relayed_at.is_none() && !task.relay_failed {
            let posted = find_posted(net, job_id).await?;
            match net.peer()?.relay_commit(&posted, task.index, root, work_units, salt).await {
                Ok(()) => {
                    tracing::info!(job = %job_id, "commitment handed to the buyer");
                    task.relayed_at = Some(Instant::now());
                    deliver_once(net, job_id, task).await;
                    return Ok(false);
                }
                Err(e) => {
                    tracing::warn!(job = %job_id, error = %e, "the buyer did not take the commitment; committing");
                    task.relay_failed = true;
                }
            }
        }
        if let Some(at) = task.relayed_at {
            let view = net.market.job(job_id).await?;
            if view.trail.commits.iter().any(|c| c.index == task.index) {
                task.committed = true;
                tracing::info!(job = %job_id, "committed (by the buyer)");
                store.mark(key, &job_id.to_string(), true, false)?;
                return Ok(false);
            }
            if at.elapsed() < RELAY_GRACE && view.commit_deadline().saturating_sub(now) > RELAY_MARGIN_S {
                return Ok(false);
            }
            tracing::warn!(job = %job_id, "the buyer did not submit the commitment in time; committing");
        }
        let c = commitment(root, work_units, salt, net.address());
        match net.market.commit(job_id, task.index, c).await {
            Ok(_) => {}
            Err(ChainError::Reverted { reason, .. }) if matches!(*reason, GridmintErrors::NotSelected(_)) => {
                tracing::info!(job = %job_id, "not selected");
                return Ok(true);
            }
            // Committed already (by this node before a restart): carry on to the reveal.
            Err(ChainError::Reverted { reason, .. }) if matches!(*reason, GridmintErrors::AlreadyCommitted(_)) => {}
            Err(e) => return Err(e.into()),
        }
        task.committed = true;
        tracing::info!(job = %job_id, "committed");
        store.mark(key, &job_id.to_string(), true, false)?;
        // The result goes to the buyer now, off the settlement's critical path: it is sealed to
        // the buyer (no other provider can copy it), and the buyer files it under its root until
        // the market agrees on one.
        deliver_once(net, job_id, task).await;
        return Ok(false);
    }
    if !task.committed {
        return Ok(false);
    }
    if task.revealed {
        if closing::challenge_if_outvoted(net, job_id, task, now).await? {
            return Ok(false);
        }
        return settle_if_buyer_quiet(net, job_id, task, now).await;
    }
    let selected = job.selected.count_ones() as usize;
    let view = net.market.job(job_id).await?;
    if view.trail.reveals.iter().any(|r| r.index == task.index) {
        task.revealed = true;
        tracing::info!(job = %job_id, "revealed (by the buyer)");
        store.mark(key, &job_id.to_string(), true, true)?;
        return Ok(false);
    }
    if view.committed() >= selected || now > view.commit_deadline() {
        if task.relayed_at.is_some() {
            let since = *task.all_committed_at.get_or_insert_with(Instant::now);
            if since.elapsed() < RELAY_GRACE && view.reveal_deadline().saturating_sub(now) > RELAY_MARGIN_S {
                return Ok(false);
            }
        }
        match net.market.reveal(job_id, task.index, root, work_units, salt).await {
            Ok(_) => {}
            Err(ChainError::Reverted { reason, .. }) if matches!(*reason, GridmintErrors::NotCommitted(_)) => {}
            Err(e) => return Err(e.into()),
        }
        task.revealed = true;
        tracing::info!(job = %job_id, "revealed");
        store.mark(key, &job_id.to_string(), true, true)?;
    }
    Ok(false)
}

mod check_jury;
mod claims;
mod closing;
mod compute;
mod court;
mod device_check;
mod jury;

use closing::{leave_when_selected, settle_if_buyer_quiet};
use compute::{compute, deliver_once, find_posted};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy::primitives::U256;
    use gpu_engine::control::{Control, RunState};

    use super::{
        BTreeMap, Pace, Task,
        claims::{CLAIM_MARGIN_S, outlives_its_files, too_late},
        compute::DeadlineGuard,
        next_for_device,
    };

    /// A buyer posts deadlines months away: the provider's store would forget the job's sealed
    /// result (30 days) before the job ends and the provider could not deliver it. Declined.
    #[test]
    fn attack_a_job_that_would_outlive_its_files_is_declined() {
        let now = 1_700_000_000;
        assert!(outlives_its_files(now, now + 14 * 86_400).is_none(), "two weeks is fine");
        let why = outlives_its_files(now, now + 60 * 86_400).expect("declined");
        assert!(why.contains("more than 27 days away"), "{why}");
        assert!(outlives_its_files(now, u64::MAX).is_some());
    }

    fn task(commit_deadline: u64, work_units: u64) -> Task {
        Task::claimed(U256::ZERO, 0, commit_deadline, work_units)
    }

    /// A provider keeps a job's files (and the claim the court may ask it to defend) while it
    /// holds the job, and no longer: folders of jobs it no longer holds go at start, whatever
    /// else is in its folder stays.
    #[test]
    fn the_folders_of_jobs_no_longer_held_are_swept() {
        let dir = tempfile::tempdir().expect("tmp");
        for name in ["job-1", "job-2", "job-x", "jury-3-0"] {
            std::fs::create_dir_all(dir.path().join(name).join("out")).expect("mkdir");
        }
        let tasks = BTreeMap::from([(U256::from(1), task(0, 1))]);
        super::compute::sweep_ended_jobs(dir.path(), &tasks);
        assert!(dir.path().join("job-1").is_dir(), "a job held keeps its folder");
        assert!(!dir.path().join("job-2").exists(), "an ended job's folder is gone");
        assert!(dir.path().join("job-x").is_dir() && dir.path().join("jury-3-0").is_dir(), "nothing else is touched");
    }

    #[test]
    fn a_busy_provider_claims_only_what_it_can_finish_before_the_deadline() {
        // 20 s of overhead + 1 GFLOP at 10 GFLOP/s × 0.25 = 20.4 s a job at scale 1.
        let pace = Pace::for_units(10);
        let one = pace.estimate(1).as_secs();
        let deadline = 1_000 + 3 * one + CLAIM_MARGIN_S + 1;
        let mut queue = vec![task(deadline, 1), task(deadline, 1)];
        assert_eq!(too_late(1_000, deadline, 1, queue.iter(), &pace), None, "two ahead and this one fit");
        queue.push(task(deadline, 1));
        let why = too_late(1_000, deadline, 1, queue.iter(), &pace).expect("a fourth does not fit");
        assert!(why.starts_with("busy: 3 job(s) ahead"), "{why}");
        // Computed or passed-over tasks take no device time.
        queue[0].result = Some(Default::default());
        queue[1].selected = Some(false);
        assert_eq!(too_late(1_000, deadline, 1, queue.iter(), &pace), None);
        // A loaded machine learned it is four times slower: now even one job is too much.
        let mut loaded = pace;
        for _ in 0..8 {
            loaded.observe(1, pace.estimate(1) * 4);
        }
        assert!(too_late(1_000, 1_000 + 2 * one + CLAIM_MARGIN_S, 1, std::iter::empty(), &loaded).is_some());
    }

    /// Issue #23 point 2: a claim that cannot be honoured is left, not committed late (slashed).
    /// A drawn job not started needs its run at the device's pace (which counts the fetch) and the
    /// margin before its commit deadline; it is left only once even starting now would miss it.
    #[test]
    fn a_job_is_left_once_its_run_no_longer_fits_before_its_deadline() {
        let pace = Pace::for_units(10);
        let one = pace.estimate(1).as_secs();
        let job = task(1_000 + one + CLAIM_MARGIN_S, 1);
        assert_eq!(job.no_time_left(1_000, &pace), None, "it just fits");
        let why = job.no_time_left(1_001, &pace).expect("a second later it does not");
        assert!(why.contains(&format!("{} s left", one + CLAIM_MARGIN_S - 1)), "{why}");
        assert!(job.no_time_left(u64::MAX, &pace).is_some(), "no overflow past the deadline");
        let unknown = task(u64::MAX, 1);
        assert_eq!(unknown.no_time_left(1_000, &pace), None, "a resumed task whose deadline is not read yet");
    }

    #[test]
    fn the_device_runs_selected_work_first_then_the_earliest_deadline() {
        let mut tasks = BTreeMap::new();
        tasks.insert(U256::from(1), task(500, 1));
        tasks.insert(U256::from(2), task(300, 1));
        tasks.insert(U256::from(3), task(400, 1));
        assert_eq!(next_for_device(&tasks), Some(U256::from(2)), "earliest commit deadline");
        tasks.get_mut(&U256::from(3)).expect("3").selected = Some(true);
        assert_eq!(next_for_device(&tasks), Some(U256::from(3)), "known to be selected first");
        tasks.get_mut(&U256::from(3)).expect("3").selected = Some(false);
        assert_eq!(next_for_device(&tasks), Some(U256::from(2)), "passed over: never run");
    }

    #[tokio::test]
    async fn the_device_computes_one_job_at_a_time() {
        let mut tasks = BTreeMap::new();
        tasks.insert(U256::from(1), task(500, 1));
        tasks.insert(U256::from(2), task(300, 1));
        tasks.get_mut(&U256::from(1)).expect("1").computing = Some(tokio::spawn(std::future::pending()));
        assert_eq!(next_for_device(&tasks), None, "job 1 holds the device");
    }

    #[test]
    fn a_yielded_job_is_pinned_when_its_deadline_nears_and_released_after() {
        let control = Control::new();
        control.pause(); // the owner is at the machine
        let guard = DeadlineGuard::start(control.clone(), Duration::from_millis(50), U256::from(7));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(control.state(), RunState::Running, "pinned: the job runs on to meet its deadline");
        control.pause();
        assert_eq!(control.state(), RunState::Running, "and the owner's input no longer pauses it");
        drop(guard);
        control.pause();
        assert_eq!(control.state(), RunState::Paused, "after the job, pauses hold again");
        let early = DeadlineGuard::start(control.clone(), Duration::from_secs(60), U256::from(8));
        drop(early); // the job ended long before its deadline: nothing was pinned
        assert_eq!(control.state(), RunState::Paused);
    }
}
