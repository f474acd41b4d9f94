//! A claimed job's device work and delivery: the run (on this process's device or in a worker,
//! under a guard that cancels it at the commit deadline) and the sealed result handed to the buyer.

use super::*;

/// Pause between delivery attempts to a buyer that could not be reached.
pub(super) const DELIVERY_RETRY: Duration = Duration::from_secs(5);

/// Moves a committed task's delivery on: starts it (in the background), or takes its outcome; a
/// failed one is started again after [`DELIVERY_RETRY`].
pub(super) async fn deliver_once(net: &Network, job_id: U256, task: &mut Task) {
    let (Some((root, ..)), true, false) = (task.result, task.committed || task.relayed_at.is_some(), task.delivered)
    else {
        return;
    };
    match task.delivery.take() {
        Some(handle) if handle.is_finished() => {
            match handle.await.unwrap_or_else(|e| Err(NodeError::Exchange { message: e.to_string() })) {
                Ok(()) => {
                    tracing::info!(job = %job_id, "result delivered to the buyer");
                    task.delivered = true;
                }
                Err(e) => {
                    tracing::warn!(job = %job_id, error = %e, "cannot deliver the result yet");
                    task.retry_delivery_at = Some(Instant::now() + DELIVERY_RETRY);
                }
            }
        }
        Some(running) => task.delivery = Some(running),
        None if task.retry_delivery_at.is_none_or(|at| Instant::now() >= at) => {
            let net = net.clone();
            task.delivery = Some(tokio::spawn(async move { deliver(&net, job_id, root).await }));
        }
        None => {}
    }
}

/// Offers the sealed result of `job_id` to its buyer.
pub(super) async fn deliver(net: &Network, job_id: U256, root: B256) -> Result<(), NodeError> {
    let peer = net.peer()?;
    let sealed = peer.local().resolve(&sealed_name(job_id, root))?.ok_or_else(|| NodeError::Exchange {
        message: format!("job {job_id}: the sealed result is not on this node"),
    })?;
    let posted = find_posted(net, job_id).await?;
    Ok(peer.deliver_result(&posted, root, &sealed).await?)
}

pub(super) fn sealed_name(job_id: U256, root: B256) -> String {
    format!("sealed/{job_id}/{root:x}")
}

/// Fetches the job data from the buyer, runs it (on a blocking thread: the agent's loop goes on),
/// keeps the outputs sealed to the buyer (offered after the reveal), and returns (result root,
/// salt, on-chain work units) with the seconds it took. Data that arrives with less than
/// `needs_s` left before the commit deadline is not computed (a `DataUnavailable`: the replica
/// leaves the job rather than commit late).
#[allow(clippy::too_many_arguments)]
pub(super) async fn compute(
    paths: Paths,
    net: Network,
    gpu: std::sync::Arc<Compute>,
    work_dir: std::path::PathBuf,
    job_id: U256,
    needs_s: u64,
    options: ProviderOptions,
) -> Result<Computed, NodeError> {
    let started = Instant::now();
    post_task(&options, Some(current(job_id, "fetching the data", 0, 0)));
    let computed = compute_posted(paths, &net, gpu, &work_dir, job_id, needs_s, &options).await;
    post_task(&options, None);
    computed.map(|c| (c, started.elapsed().as_secs_f64()))
}

pub(super) fn current(job_id: U256, stage: &str, done: u64, total: u64) -> gridmint_protocol::CurrentTask {
    gridmint_protocol::CurrentTask { job_id: crate::net::job_id(job_id), stage: stage.to_owned(), done, total }
}

pub(super) async fn compute_posted(
    paths: Paths,
    net: &Network,
    gpu: std::sync::Arc<Compute>,
    work_dir: &std::path::Path,
    job_id: U256,
    needs_s: u64,
    options: &ProviderOptions,
) -> Result<(B256, B256, u64), NodeError> {
    let posted = find_posted(net, job_id).await?;
    // The class the job was posted in (the claim checked this device computes it), before any
    // data moves: a code this node does not know is the posting's fault.
    let class = ReproClass::from_code(posted.requirements.workloadClass).ok_or_else(|| {
        NodeError::Job(runner::JobError::Input {
            file: format!("job {job_id}'s posting"),
            message: format!("reproducibility class {} is not one this node knows", posted.requirements.workloadClass),
        })
    })?;
    // The fetch may take what the run leaves of the time before the commit deadline, no more: a
    // buyer that takes the request and never answers must not run the replica past the point
    // where it can still leave the job unslashed.
    let commit_deadline = u64::try_from(posted.commitDeadline).unwrap_or(u64::MAX);
    let unavailable = |message: String| NodeError::DataUnavailable { job: job_id.to_string(), message };
    let budget = commit_deadline.saturating_sub(net.now().await?).saturating_sub(needs_s);
    let fetched = tokio::time::timeout(Duration::from_secs(budget), net.peer()?.fetch_job_data(&posted)).await;
    let (bundle, buyer_key) = match fetched {
        Ok(Ok(data)) => data,
        Ok(Err(e)) => return Err(unavailable(e.to_string())),
        Err(_) => return Err(unavailable(format!("not fetched within the {budget} s the job's deadline leaves"))),
    };
    let left = commit_deadline.saturating_sub(net.now().await?);
    if left < needs_s {
        return Err(unavailable(format!(
            "it came with {left} s left before the commit deadline; computing it needs about {needs_s} s"
        )));
    }
    // A replica serves the job's data to the jurors of its court games.
    net.peer()?.computed_job(job_id);
    post_task(options, Some(current(job_id, "loading", 0, 0)));
    let dir = work_dir.join(format!("job-{job_id}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| NodeError::Io { what: "creating", path: dir.clone(), source: e })?;
    let package = dir.join("package.zip");
    std::fs::write(&package, &bundle).map_err(|e| NodeError::Io {
        what: "writing",
        path: package.clone(),
        source: e,
    })?;
    let out = dir.join("out");
    let guard = match &options.control {
        Some(control) => {
            let commit_deadline: u64 = posted.commitDeadline.to();
            let left = commit_deadline.saturating_sub(net.now().await?);
            let pin_in = Duration::from_secs(left).saturating_sub(options.deadline_margin);
            Some(DeadlineGuard::start(control.clone(), pin_in, job_id))
        }
        None => None,
    };
    // In this process or a worker, the same runner: a lost device is reopened and the job run
    // again (`runner::run_in_slot`).
    let share = options.memory_share.as_ref().map_or(100, |s| s.load(std::sync::atomic::Ordering::Relaxed));
    let how = runner::SlotRun { class, memory_share_pct: share, control: options.control.clone() };
    let run_options = options.clone();
    let (run_package, run_out) = (package.clone(), out.clone());
    let work_units = tokio::task::spawn_blocking(move || {
        let options = run_options;
        let mut progress = |p: &runner::Progress| post_task(&options, Some(current(job_id, &p.stage, p.done, p.total)));
        match &*gpu {
            Compute::Here(slot) => runner::run_in_slot(&paths, slot, &run_package, &run_out, &how, &mut progress)
                .map(|report| report.work_units)
                .map_err(NodeError::from),
            Compute::Worker { worker, device } => {
                worker.run(*device, &run_package, &run_out, &how, &mut progress).map_err(NodeError::from)
            }
        }
    })
    .await
    .map_err(|e| NodeError::Worker { message: format!("job {job_id}: the run stopped: {e}") })?;
    drop(guard);
    let work_units = work_units?;
    let mut entries = Vec::new();
    for (name, path) in exchange::files(&out)? {
        if name == runner::output::REPORT_FILE {
            continue;
        }
        let bytes =
            std::fs::read(&path).map_err(|e| NodeError::Io { what: "reading", path: path.clone(), source: e })?;
        entries.push((name, bytes));
    }
    if let Some(first) = options.corrupt_results {
        // Test only: a wrong answer everywhere (every embedding value, or every checkpoint from
        // step `first`), bound to a trace made from the wrong files as a cheater who knows the
        // rules makes it, so the market, a buyer's spot check and the court must catch it.
        gridmint_runner::binding::consistent_lie_from(&mut entries, first)
            .map_err(|e| NodeError::Exchange { message: format!("job {job_id}: corrupting the result: {e}") })?;
    }
    // The files checked against their trace once: a run whose files its trace does not make (a
    // runner's fault) is not committed, since it would lose the job's game.
    let trace = exchange::bound_trace(&entries).map_err(|why| NodeError::Exchange {
        message: format!("job {job_id}: the result is not bound to its trace: {why}"),
    })?;
    let root = B256::from(runner::trace::claim_root(&trace));
    // What the root commits to, kept beside the job's files: the court may ask for it.
    court::keep_claim(&dir, &trace)?;
    let mut salt = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut salt);
    net.peer()?.keep_sealed(&sealed_name(job_id, root), &buyer_key, &exchange::bundle(&entries)?)?;
    tracing::info!(job = %job_id, root = %root, work_units, "computed");
    Ok((root, B256::from(salt), crate::net::chain_work_units(work_units)))
}

/// Pins a job's control (its yields are then ignored) once `pin_in` has passed, until dropped.
pub(super) struct DeadlineGuard {
    control: gpu_engine::control::Control,
    done: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DeadlineGuard {
    pub(super) fn start(control: gpu_engine::control::Control, pin_in: Duration, job_id: U256) -> Self {
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let pinned = control.clone();
        let thread = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(pin_in) {
                tracing::warn!(job = %job_id, "near its commit deadline: this job runs on, yields paused");
                pinned.pin(true);
            }
        });
        Self { control, done, thread: Some(thread) }
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        let _ = self.done.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.control.pin(false);
    }
}

pub(super) async fn find_posted(net: &Network, job_id: U256) -> Result<Gridmint::JobPosted, NodeError> {
    net.posted_job(job_id).await?.ok_or_else(|| market_error(format!("job {job_id} has no JobPosted event")))
}

/// Removes the folders of jobs this node no longer holds (it stopped before their end was
/// handled): a job's folder lives exactly as long as its task.
pub(super) fn sweep_ended_jobs(work_dir: &std::path::Path, tasks: &BTreeMap<U256, Task>) {
    let Ok(entries) = std::fs::read_dir(work_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix("job-")) else { continue };
        if id.parse::<U256>().is_ok_and(|id| !tasks.contains_key(&id)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
