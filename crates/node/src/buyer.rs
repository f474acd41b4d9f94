//! The buyer client: checks a package, estimates its cost, publishes its data, posts it with
//! escrow, waits for the market to settle it, fetches the agreed result, checks it against the
//! on-chain root, and can re-execute it locally.

use std::{path::Path, time::Duration};

use alloy::primitives::{B256, U256, Uint, keccak256};
use gridmint_chain::{JobState, bindings::Gridmint};

use gridmint_runner as runner;

use gridmint_peer::exchange;

use crate::{NodeError, Paths, net::Network};

/// The largest file a package may hold, and the largest package: bigger data should be sharded
/// or fetched by providers from its source.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
pub const MAX_PACKAGE_BYTES: u64 = gridmint_peer::endpoint::MAX_DATA_BYTES;

/// How to post a job.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub replicas: u8,
    /// Price units per on-chain work unit (10^9 floating-point operations): millionths of a
    /// payment-token base unit ([`gridmint_protocol::Price`]).
    pub price_per_unit: u128,
    pub claim_window_s: u64,
    /// Seconds after the claim window for the commitments; `None`: from the job's work and the
    /// eligible providers' measured speed ([`commit_window`]).
    pub commit_window_s: Option<u64>,
    pub reveal_window_s: u64,
    /// Requirements a provider must meet: device memory, and the regions it may be in (bit r:
    /// region r; 0: anywhere).
    pub min_memory_mib: u32,
    pub region_mask: u32,
    pub poll: Duration,
    /// Rows of the agreed result this node re-executes before letting agreement settle the job
    /// (see [`crate::spot`]); 0 turns the spot check off.
    pub spot_check_rows: usize,
    /// Where the spot check runs: a device worker process, or (`None`) this process.
    pub spot_check_worker: Option<gridmint_runner::worker::DeviceWorker>,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        Self {
            replicas: 3,
            price_per_unit: u128::from(gridmint_protocol::Price::H100_REFERENCE.get()),
            claim_window_s: 10,
            commit_window_s: None,
            reveal_window_s: 120,
            min_memory_mib: 0,
            region_mask: 0,
            poll: Duration::from_millis(500),
            spot_check_rows: 4,
            spot_check_worker: None,
        }
    }
}

/// A posted job.
#[derive(Debug, Clone)]
pub struct Posted {
    pub job_id: U256,
    /// On-chain work units (see [`crate::net::chain_work_units`]).
    pub work_units: u64,
    pub escrow: U256,
    pub data_root: B256,
}

/// How a job ended for the buyer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub job_id: U256,
    pub state: JobState,
    pub agreed_root: B256,
    /// The fetched result's files hash to the agreed root.
    pub verified: bool,
}

/// A package that opened, whose files are within the limits and whose work was estimated: what
/// [`post_checked`] posts.
#[derive(Debug)]
pub struct CheckedPackage {
    package: runner::Package,
    files: Vec<(String, std::path::PathBuf)>,
    work_units: u64,
}

/// Validates the package, publishes its data and posts it. Nothing is posted (and no funds move)
/// unless the package opens, every file it names reads, and its work can be estimated.
pub async fn submit(
    paths: &Paths,
    net: &Network,
    package_path: &Path,
    options: &SubmitOptions,
) -> Result<Posted, NodeError> {
    post_checked(paths, net, check_package(paths, package_path)?, options).await
}

/// Everything [`submit`] checks before it touches the network: the package opens, its files are
/// within the limits, and its work can be estimated (the model loads, the inputs parse).
pub fn check_package(paths: &Paths, package_path: &Path) -> Result<CheckedPackage, NodeError> {
    let package = runner::Package::open(package_path)?;
    let files = exchange::files(&package.root)?;
    let mut total = 0u64;
    for (name, path) in &files {
        let bytes = std::fs::metadata(path)
            .map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?
            .len();
        total += bytes;
        let too_big =
            |message: String| NodeError::Job(runner::JobError::Package { path: package_path.to_owned(), message });
        if bytes > MAX_FILE_BYTES {
            return Err(too_big(format!(
                "`{name}` is {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit for one file"
            )));
        }
        if total > MAX_PACKAGE_BYTES {
            return Err(too_big(format!("the files add up to more than the {MAX_PACKAGE_BYTES}-byte limit")));
        }
    }
    let work_units = crate::net::chain_work_units(runner::estimate(paths, &package)?);
    Ok(CheckedPackage { package, files, work_units })
}

/// Publishes a checked package's data and posts it (see [`submit`]).
pub async fn post_checked(
    paths: &Paths,
    net: &Network,
    checked: CheckedPackage,
    options: &SubmitOptions,
) -> Result<Posted, NodeError> {
    let CheckedPackage { package, files, work_units } = checked;
    let mut entries = Vec::new();
    for (name, path) in files {
        let bytes =
            std::fs::read(&path).map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?;
        entries.push((name, bytes));
    }
    let bundle = exchange::bundle(&entries)?;
    // What providers read before they claim: the manifest exactly as its spec hash is taken.
    let manifest = String::from_utf8(package.manifest_bytes.clone()).map_err(|_| {
        NodeError::Job(runner::JobError::Package {
            path: package.source.clone(),
            message: "job.toml is not UTF-8".into(),
        })
    })?;
    let card = gridmint_protocol::JobCard::new(manifest, entries.iter().map(|(n, b)| (n.as_str(), b.len() as u64)));
    // Providers fetch the data from this node's endpoint: it must be up before the job is posted.
    let peer = start_buyer_peer(paths, net, options.spot_check_rows, options.spot_check_worker.clone()).await?;
    let data = peer.local().put(&bundle)?;
    peer.publish_card(B256::from(*data.as_bytes()), &card)?;
    let requirements = Gridmint::Requirements {
        minMemoryMiB: options.min_memory_mib,
        minComputeUnits: 0,
        regionMask: options.region_mask,
        // The class the manifest names: only providers registered in it claim the job.
        workloadClass: package.manifest.reproducibility.code(),
    };
    let commit_window_s = match options.commit_window_s {
        Some(window) => window,
        None => commit_window(net, work_units, &requirements, options.replicas).await?,
    };
    let escrow = net
        .market
        .contract()
        .escrowFor(Uint::<96, 2>::from(options.price_per_unit), work_units, options.replicas)
        .call()
        .await
        .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("escrowFor", e)))?;
    // Approved before the deadlines are set: its round trip must not use up the claim window.
    net.market.approve_payment(net.address(), escrow.payment + escrow.fee).await?;
    // The deadlines count from the chain's latest block; on a loaded machine or chain the post can
    // be mined after a short claim window has already closed (the market refuses it: BadDeadlines).
    // Then the deadlines are set again from the new latest block and the job posted again.
    let mut attempt = 1;
    let posted = loop {
        let now = net.now().await?;
        let claim = now + options.claim_window_s;
        let commit = claim + commit_window_s;
        let reveal = commit + options.reveal_window_s;
        let params = Gridmint::JobParams {
            specHash: keccak256(&package.manifest_bytes),
            dataRoot: B256::from(*data.as_bytes()),
            dataPeer: B256::from(*peer.id().as_bytes()),
            requirements: requirements.clone(),
            replicas: options.replicas,
            pricePerUnit: Uint::<96, 2>::from(options.price_per_unit),
            maxWorkUnits: work_units,
            claimDeadline: Uint::<40, 1>::from(claim),
            commitDeadline: Uint::<40, 1>::from(commit),
            revealDeadline: Uint::<40, 1>::from(reveal),
        };
        let error = match net.market.post_job(params).await {
            Ok(posted) => break posted,
            Err(e) => e,
        };
        // The post's own error is the one returned, even if reading the chain's time fails too.
        let closed = claim_window_closed(&error) && net.now().await.is_ok_and(|t| t >= claim);
        if !closed || attempt == POST_ATTEMPTS {
            return Err(error.into());
        }
        tracing::warn!(attempt, error = %error, "the claim window closed before the post was mined; posting again");
        attempt += 1;
    };
    tracing::info!(job = %posted.value, work_units, "posted");
    Ok(Posted {
        job_id: posted.value,
        work_units,
        escrow: escrow.payment + escrow.fee,
        data_root: B256::from(*data.as_bytes()),
    })
}

/// How many times a job is posted when its claim window closed before the post was mined.
const POST_ATTEMPTS: u32 = 3;

/// Whether a failed post is the market refusing deadlines already past: mined and reverted, or
/// refused at estimation with `BadDeadlines`.
fn claim_window_closed(e: &gridmint_chain::ChainError) -> bool {
    matches!(e, gridmint_chain::ChainError::Failed { .. })
        || matches!(e.revert_reason(), Some(Gridmint::GridmintErrors::BadDeadlines(_)))
}

/// The commit window for a job of `work_units` on this network: long enough for the
/// `replicas`-th fastest provider eligible under `requirements`, at its registered (measured)
/// compute units, to finish with [`crate::pace::DEADLINE_SAFETY`] to spare
/// ([`crate::pace::commit_window_s`]). With no eligible provider registered yet, the shortest window.
pub async fn commit_window(
    net: &Network,
    work_units: u64,
    requirements: &Gridmint::Requirements,
    replicas: u8,
) -> Result<u64, NodeError> {
    let c = net.market.contract();
    let mut units = Vec::new();
    for provider in net.provider_addresses().await? {
        let eligible = c
            .isEligible(provider, requirements.clone())
            .call()
            .await
            .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("isEligible", e)))?;
        if eligible {
            let record = c
                .providerOf(provider)
                .call()
                .await
                .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("providerOf", e)))?;
            units.push(record.computeUnits);
        }
    }
    let window = match crate::pace::reference_units(units, replicas) {
        Some(reference) => crate::pace::commit_window_s(work_units, reference),
        None => {
            tracing::warn!("no provider eligible for this job is registered yet: the shortest commit window");
            crate::pace::MIN_COMMIT_WINDOW_S
        }
    };
    tracing::info!(work_units, window, "commit window");
    Ok(window)
}

/// Starts this node's endpoint as a buyer's: it serves job data, takes results and relayed
/// commitments, and (with `spot_check_rows` > 0) spot-checks delivered results on this machine.
pub async fn start_buyer_peer<'a>(
    paths: &Paths,
    net: &'a Network,
    spot_check_rows: usize,
    worker: Option<gridmint_runner::worker::DeviceWorker>,
) -> Result<&'a gridmint_peer::Peer, NodeError> {
    let peer = net.start_peer(&paths.data).await?;
    if spot_check_rows > 0 {
        peer.enable_spot_checks(crate::spot::SpotCheck {
            paths: paths.clone(),
            rows: spot_check_rows,
            device: None,
            worker,
        });
    }
    Ok(peer)
}

/// Splits an embedding or generation package into packages of at most `items_per_shard`
/// sentences or prompts each, under `dir` (`shard-000`, …), in input order. Each shard is a whole
/// package: the manifest and every other file, with its slice of the input (a prompt with its
/// index written in, so that its sampled tokens are the ones it has in the whole job). A package
/// that fits in one shard is returned as is.
pub fn shard(package_path: &Path, dir: &Path, items_per_shard: usize) -> Result<Vec<std::path::PathBuf>, NodeError> {
    let package = runner::Package::open(package_path)?;
    let bad = |message: String| NodeError::Job(runner::JobError::Package { path: package_path.to_owned(), message });
    let kind = package.manifest.kind;
    if !matches!(kind, gridmint_protocol::JobKind::Embed | gridmint_protocol::JobKind::Generate) {
        return Err(bad("only embed and generate jobs shard (a training run is one model)".to_owned()));
    }
    if items_per_shard == 0 {
        return Err(bad("a shard needs at least one sentence or prompt".to_owned()));
    }
    let input = package.required("input", &package.manifest.input)?.to_owned();
    let text = String::from_utf8(package.read("input", &input, gridmint_runner::embed::MAX_INPUT_BYTES)?)
        .map_err(|_| bad(format!("`{input}` is not UTF-8")))?;
    let lines: Vec<String> = if kind == gridmint_protocol::JobKind::Generate {
        runner::prompts::indexed_lines(&input, &text)?
    } else {
        text.lines().map(str::to_owned).collect()
    };
    if lines.len() <= items_per_shard {
        return Ok(vec![package_path.to_owned()]);
    }
    let others: Vec<(String, std::path::PathBuf)> =
        exchange::files(&package.root)?.into_iter().filter(|(name, _)| *name != input).collect();
    let mut shards = Vec::new();
    for (i, chunk) in lines.chunks(items_per_shard).enumerate() {
        let shard_dir = dir.join(format!("shard-{i:03}"));
        let mut entries = Vec::new();
        for (name, path) in &others {
            let bytes =
                std::fs::read(path).map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?;
            entries.push((name.clone(), bytes));
        }
        entries.push((input.clone(), (chunk.join("\n") + "\n").into_bytes()));
        exchange::write_all(&shard_dir, &entries)?;
        shards.push(shard_dir);
    }
    Ok(shards)
}

/// How often a shard is posted before the buyer gives up on it: a shard that no provider could
/// take in time (nobody claimed it, or every replica missed its deadline: the market refunded it)
/// is posted again, with deadlines sized anew.
pub const SHARD_ATTEMPTS: usize = 3;

/// What happens to the shards of a job, as [`run_shards`] goes.
#[derive(Debug, Clone)]
pub enum ShardEvent {
    Posted {
        shard: usize,
        attempt: usize,
        posted: Posted,
    },
    Ended {
        shard: usize,
        outcome: Outcome,
    },
    /// Refunded without a result: posted again.
    Reposting {
        shard: usize,
        attempt: usize,
    },
}

/// How each shard ended: its last job's outcome, in shard order.
#[derive(Debug, Clone)]
pub struct Sharded {
    pub outcomes: Vec<Outcome>,
    /// Every job posted, in the order posted (re-posts included).
    pub job_ids: Vec<U256>,
}

impl Sharded {
    pub fn verified(&self) -> bool {
        self.outcomes.iter().all(|o| o.verified)
    }
}

/// Posts every shard package in `shards` as its own job, then follows them all at once: each
/// verified result goes to `dirs[i]`; a shard the market refunded without a result is posted again
/// (up to [`SHARD_ATTEMPTS`] times). `events` hears each step.
pub async fn run_shards(
    paths: &Paths,
    net: &Network,
    shards: &[std::path::PathBuf],
    dirs: &[std::path::PathBuf],
    options: &SubmitOptions,
    events: &mut dyn FnMut(ShardEvent),
) -> Result<Sharded, NodeError> {
    assert_eq!(shards.len(), dirs.len(), "one result folder per shard");
    let mut job_ids = Vec::new();
    let mut waiting = tokio::task::JoinSet::new();
    let follow = |waiting: &mut tokio::task::JoinSet<_>, shard: usize, attempt: usize, job_id: U256| {
        let (net, dir, poll) = (net.clone(), dirs[shard].clone(), options.poll);
        waiting.spawn(async move { (shard, attempt, wait_and_fetch(&net, job_id, Some(&dir), poll).await) });
    };
    for (shard, package) in shards.iter().enumerate() {
        let posted = submit(paths, net, package, options).await?;
        job_ids.push(posted.job_id);
        follow(&mut waiting, shard, 1, posted.job_id);
        events(ShardEvent::Posted { shard, attempt: 1, posted });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; shards.len()];
    while let Some(joined) = waiting.join_next().await {
        let (shard, attempt, outcome) =
            joined.map_err(|e| NodeError::Market { message: format!("following a shard's job stopped: {e}") })?;
        let outcome = outcome?;
        events(ShardEvent::Ended { shard, outcome: outcome.clone() });
        let refunded = outcome.state == JobState::Refunded && outcome.agreed_root == B256::ZERO;
        if !outcome.verified && refunded && attempt < SHARD_ATTEMPTS {
            events(ShardEvent::Reposting { shard, attempt: attempt + 1 });
            let posted = submit(paths, net, &shards[shard], options).await?;
            job_ids.push(posted.job_id);
            follow(&mut waiting, shard, attempt + 1, posted.job_id);
            events(ShardEvent::Posted { shard, attempt: attempt + 1, posted });
            continue;
        }
        outcomes[shard] = Some(outcome);
    }
    Ok(Sharded { outcomes: outcomes.into_iter().map(|o| o.expect("every shard ended")).collect(), job_ids })
}

/// Puts the verified completions of a generate job's shards (each `completions.jsonl`) back
/// into one `out/completions.jsonl`, in shard order; returns the completions.
pub fn join_completions(shard_dirs: &[std::path::PathBuf], out: &Path) -> Result<usize, NodeError> {
    let file = runner::generate::COMPLETIONS_FILE;
    let mut all = Vec::new();
    for dir in shard_dirs {
        let path = dir.join(file);
        let bytes =
            std::fs::read(&path).map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return Err(NodeError::Exchange {
                message: format!("{}: the last line has no line ending", path.display()),
            });
        }
        all.extend_from_slice(&bytes);
    }
    let lines = all.iter().filter(|b| **b == b'\n').count();
    std::fs::create_dir_all(out).map_err(|e| NodeError::Io { what: "creating", path: out.to_owned(), source: e })?;
    let path = out.join(file);
    std::fs::write(&path, all).map_err(|e| NodeError::Io { what: "writing", path, source: e })?;
    Ok(lines)
}

/// Joins the shards' `embeddings.npy` (each under `shard_dirs[i]`) into one, rows in shard order.
pub fn join_embeddings(shard_dirs: &[std::path::PathBuf], out: &Path) -> Result<(usize, usize), NodeError> {
    let mut all = Vec::new();
    let mut width = None;
    let mut rows = 0;
    for dir in shard_dirs {
        let path = dir.join("embeddings.npy");
        let bytes =
            std::fs::read(&path).map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?;
        let (values, r, c) = runner::npy::read_f32_matrix(&bytes)
            .map_err(|message| NodeError::Exchange { message: format!("{}: {message}", path.display()) })?;
        if *width.get_or_insert(c) != c {
            return Err(NodeError::Exchange {
                message: format!("{} has {c} columns, the first shard {width:?}", path.display()),
            });
        }
        rows += r;
        all.extend(values);
    }
    let cols = width.unwrap_or(0);
    let path = out.join("embeddings.npy");
    std::fs::create_dir_all(out).map_err(|e| NodeError::Io { what: "creating", path: out.to_owned(), source: e })?;
    std::fs::write(&path, runner::npy::f32_matrix(&all, rows, cols)).map_err(|e| NodeError::Io {
        what: "writing",
        path,
        source: e,
    })?;
    Ok((rows, cols))
}

/// This node's jobs on the network that have not ended (Open, Running, Disputed), from the chain's
/// `JobPosted` events: the chain is the record, so a buyer restarted after any crash finds every
/// job it posted.
pub async fn unfinished_jobs(net: &Network) -> Result<Vec<U256>, NodeError> {
    let head = net.block_number().await?;
    let mut open = Vec::new();
    for posted in net.posted_jobs(net.profile.deployment.start_block, head).await? {
        if posted.buyer != net.address() {
            continue;
        }
        if net.market.slot(posted.jobId).await?.job_state()?.unsettled() {
            open.push(posted.jobId);
        }
    }
    Ok(open)
}

/// The key the node state files this network's records under.
pub fn state_key(net: &Network) -> String {
    format!("{}:{}", net.profile.deployment.market, net.address())
}

/// Waits until the job leaves Open/Running (moving it on with `finalize` once its deadlines pass),
/// then takes the agreed result its providers delivered, checks it and writes its files to `out`.
/// The node's endpoint must be up ([`Network::start_peer`]): it serves the job's data to the
/// claimants and receives the results.
pub async fn wait_and_fetch(
    net: &Network,
    job_id: U256,
    out: Option<&Path>,
    poll: Duration,
) -> Result<Outcome, NodeError> {
    // The RPC may fail for a while: keep waiting, every call is a read or an idempotent finalize.
    let mut reveal_deadline = None;
    loop {
        match poll_once(net, job_id, &mut reveal_deadline).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => tracing::warn!(job = %job_id, error = %e, "cannot read the job; retrying"),
        }
        // The next look comes after `poll`, or as soon as a provider hands over a commitment.
        match net.peer() {
            Ok(peer) => peer.relay_arrival(poll).await,
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
    let job = net.market.slot(job_id).await?;
    let agreed_root = net.market.agreed_root(job_id).await?;
    let mut verified = false;
    // The result arrives from the providers once the job settled: only then is the job over for
    // this node's endpoint (nothing more served or taken for it).
    let bundle = if agreed_root != B256::ZERO { delivered(net, job_id, agreed_root, poll).await } else { Ok(None) };
    if let Ok(peer) = net.peer() {
        peer.forget_job(job_id).await;
    }
    if let Some(bundle) = bundle? {
        let entries = exchange::unbundle(&bundle)?;
        verified = agreed_root != B256::from(exchange::unbound_root())
            && B256::from(exchange::result_root(&entries)) == agreed_root;
        if let (true, Some(out)) = (verified, out) {
            exchange::write_all(out, &entries)?;
        }
    }
    Ok(Outcome { job_id, state: job.job_state()?, agreed_root, verified })
}

/// How long a settled job's result may take to arrive from its providers (each delivers it once
/// its commitment is relayed or on chain, and retries while this node is unreachable).
const RESULT_WAIT: Duration = Duration::from_secs(120);

/// The agreed result, once a provider delivered it to this node's endpoint.
async fn delivered(net: &Network, job_id: U256, root: B256, poll: Duration) -> Result<Option<Vec<u8>>, NodeError> {
    let peer = net.peer()?;
    let started = std::time::Instant::now();
    loop {
        if let Some(bundle) = peer.local().resolve(&format!("results/{root:x}"))? {
            return Ok(Some(bundle));
        }
        if started.elapsed() > RESULT_WAIT {
            tracing::warn!(job = %job_id, %root, "no provider delivered the agreed result");
            return Ok(None);
        }
        tokio::time::sleep(poll).await;
    }
}

/// One look at the job's slot: true once it left Open and Running. Moves it on with `finalize`
/// when its deadlines have passed (nobody claimed it, or nobody revealed). Reveals on chain are
/// checked before the buyer accepts them (see [`check_then_settle`]). The reveal deadline (a
/// term, fixed at posting) is read from the job's trail once, into `reveal_deadline`.
async fn poll_once(net: &Network, job_id: U256, reveal_deadline: &mut Option<u64>) -> Result<bool, NodeError> {
    let job = net.market.slot(job_id).await?;
    let state = job.job_state()?;
    if state == JobState::Disputed {
        // The buyer plays its part in the court until the job ends (see `court`).
        crate::court::play_as_buyer(net, job_id).await?;
        return Ok(net.market.slot(job_id).await?.job_state()? != JobState::Disputed);
    }
    if !state.in_progress() {
        return Ok(true);
    }
    let deadline = match *reveal_deadline {
        Some(d) => d,
        None => *reveal_deadline.insert(net.market.job(job_id).await?.reveal_deadline()),
    };
    let now = net.now().await?;
    let claim_deadline: u64 = job.claimDeadline.to();
    if state == JobState::Open && (now > deadline || (job.claimants == 0 && now > claim_deadline)) {
        net.market.finalize(job_id).await?;
    } else if state == JobState::Open && job.claimants > 0 && now > claim_deadline {
        // Select the replicas as soon as the claim window closes, while they compute, so the
        // selection is not on the way of their commitments.
        net.draw_replicas(job_id).await?;
    } else if state == JobState::Running {
        // Done once the job ended; a challenge puts it in the court, which the buyer then plays.
        if submit_relayed(net, job_id, job.selected).await? {
            return Ok(!net.market.slot(job_id).await?.job_state()?.unsettled());
        }
        if check_then_settle(net, job_id, job.selected, now, deadline).await? {
            return Ok(!net.market.slot(job_id).await?.job_state()?.unsettled());
        }
    }
    Ok(false)
}

/// The root more than half of `replicas` revealed, if any (the market's rule, by root).
fn majority_root(roots: &[B256], replicas: usize) -> Option<B256> {
    roots.iter().find(|r| roots.iter().filter(|x| x == r).count() * 2 > replicas).copied()
}

/// The replicas revealed on chain themselves (or the reveal deadline passed): the market waits
/// for the buyer's check before it settles. Accepts (`finalize`) a result its spot check agrees
/// with, challenges one it contradicts or that no replica delivered by half the check window,
/// from the chain alone. True once it acted.
async fn check_then_settle(
    net: &Network,
    job_id: U256,
    selected: u32,
    now: u64,
    reveal_deadline: u64,
) -> Result<bool, NodeError> {
    let view = net.market.job(job_id).await?;
    let replicas = selected.count_ones() as usize;
    if view.revealed() < replicas && now <= reveal_deadline {
        return Ok(false);
    }
    let roots: Vec<B256> = view.trail.reveals.iter().map(|r| r.resultRoot).collect();
    let majority = majority_root(&roots, replicas);
    // Nothing revealed (the no-shows are slashed, the escrow refunded) or no majority (the market
    // opens a dispute itself): nothing to check.
    // Reveals that disagree wait out the check window (a dissenting replica may challenge the
    // majority until then): the market refuses an earlier `finalize`.
    let claims: Vec<(B256, u64)> = view.trail.reveals.iter().map(|r| (r.resultRoot, r.workUnits)).collect();
    let unanimous = claims.windows(2).all(|w| w[0] == w[1]);
    let Some(root) = majority else {
        if !unanimous && now <= reveal_deadline + net.market.check_window().await? {
            return Ok(false);
        }
        net.market.finalize(job_id).await?;
        return Ok(true);
    };
    let accept = match crate::spot::verdict(net, job_id, root).await? {
        Some(accept) => accept,
        None => {
            if now <= reveal_deadline + net.market.check_window().await? / 2 {
                return Ok(false);
            }
            tracing::warn!(job = %job_id, %root, "no replica delivered a result this node could check");
            false
        }
    };
    if accept {
        if !unanimous && now <= reveal_deadline + net.market.check_window().await? {
            return Ok(false);
        }
        net.market.finalize(job_id).await?;
        tracing::info!(job = %job_id, %root, "result accepted");
    } else {
        challenge(net, job_id, root, Vec::new()).await?;
    }
    Ok(true)
}

/// Challenges the result `root` the replicas agree on (with `reveals` still to put on chain). A
/// replica outvoted by that majority may have challenged it first: the job is in the court
/// then, which this node plays all the same.
async fn challenge(net: &Network, job_id: U256, root: B256, reveals: Vec<Gridmint::Reveal>) -> Result<(), NodeError> {
    match net.market.challenge(net.address(), job_id, reveals).await {
        Ok(_) => tracing::warn!(job = %job_id, %root, "challenged"),
        Err(e) if matches!(e.revert_reason(), Some(Gridmint::GridmintErrors::WrongState(_))) => {
            tracing::warn!(job = %job_id, %root, "a replica challenged this result first");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Submits the commitments the selected replicas' providers handed over, all in one
/// transaction once every one missing on chain is here, then their reveals the same way once
/// this node's spot check agrees with them (the buyer's last reveal settles the job; a result
/// its check contradicts is challenged instead). True once it submitted the reveals.
async fn submit_relayed(net: &Network, job_id: U256, selected: u32) -> Result<bool, NodeError> {
    let Ok(peer) = net.peer() else { return Ok(false) };
    let relayed = peer.relayed(job_id);
    if relayed.is_empty() {
        return Ok(false);
    }
    let selected: Vec<U256> = (0..32u32).filter(|i| (selected >> i) & 1 == 1).map(U256::from).collect();
    let view = net.market.job(job_id).await?;
    let on_chain = |indices: &mut dyn Iterator<Item = U256>| indices.collect::<std::collections::BTreeSet<U256>>();
    let committed = on_chain(&mut view.trail.commits.iter().map(|c| c.index));
    let missing: Vec<&U256> = selected.iter().filter(|i| !committed.contains(i)).collect();
    let view = if missing.is_empty() {
        view
    } else {
        if !missing.iter().all(|i| relayed.contains_key(i)) {
            return Ok(false);
        }
        let commits = missing.iter().map(|i| relayed[i].signed.clone()).collect();
        net.market.commit_signed(job_id, commits).await?;
        tracing::info!(job = %job_id, replicas = missing.len(), "submitted the replicas' commitments");
        // Every selected replica is committed now: the reveals may follow at once.
        net.market.job(job_id).await?
    };
    let revealed = on_chain(&mut view.trail.reveals.iter().map(|r| r.index));
    let pending: Vec<&U256> = selected.iter().filter(|i| !revealed.contains(i)).collect();
    if !pending.is_empty() && pending.iter().all(|i| relayed.contains_key(i)) {
        let reveals: Vec<Gridmint::Reveal> = pending.iter().map(|i| relayed[i].reveal.clone()).collect();
        let roots: Vec<B256> =
            view.trail.reveals.iter().map(|r| r.resultRoot).chain(reveals.iter().map(|r| r.resultRoot)).collect();
        if let Some(root) = majority_root(&roots, selected.len()) {
            match crate::spot::verdict(net, job_id, root).await? {
                Some(false) => {
                    challenge(net, job_id, root, reveals).await?;
                    return Ok(true);
                }
                Some(true) => {}
                // Not delivered, still running, or the check could not run: look again on the
                // next round (the providers reveal themselves if this takes too long, and the
                // job then waits for this node's check on chain).
                None => return Ok(false),
            }
        }
        net.market.reveal_batch(job_id, reveals).await?;
        tracing::info!(job = %job_id, replicas = pending.len(), "submitted the replicas' reveals");
        return Ok(true);
    }
    Ok(false)
}
