//! The buyer's side of the local network: packages checked and priced, jobs submitted and
//! followed to a verified result, and the list the app shows.

use super::*;

impl LocalMarket {
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
        let description = runner::describe(&self.inner.paths, &package)?;
        let work_units = net::chain_work_units(description.work_units);
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
            facts: description.facts,
            files,
            work_units: gridmint_protocol::WorkUnits(work_units),
            cost_usd,
            usd_per_h100_hour: gridmint_protocol::Price(request.price_per_unit)
                .per_hour(gridmint_protocol::Price::H100_GFLOPS),
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
        let region_mask = gridmint_protocol::matching::job_region_mask(&request.regions)
            .map_err(|e| NodeError::InvalidRequest { message: format!("regions: {e}") })?;
        let results_dir =
            request.results_dir.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(results_folder).transpose()?;
        let preview = self.inspect(&InspectPackageRequest {
            path: request.path.clone(),
            replicas: request.replicas,
            price_per_unit: request.price_per_unit,
        })?;
        let stored = {
            let mut jobs = lock(&self.inner.jobs);
            let summary = JobSummary {
                local_id: jobs.iter().map(|j| j.summary.local_id).max().unwrap_or(0) + 1,
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
            let job = Job {
                summary,
                network: self.inner.network_key.clone(),
                submitted_ms: now_ms(),
                ended_ms: None,
                results_to: None,
            };
            jobs.push(job.clone());
            job.stored()
        };
        self.inner.keep(&stored);
        let summary = stored.summary;
        let inner = self.inner.clone();
        let local_id = summary.local_id;
        let options = SubmitOptions {
            replicas: request.replicas,
            price_per_unit: u128::from(request.price_per_unit),
            claim_window_s: self.inner.options.claim_window_s,
            min_memory_mib: request.min_memory_mib,
            region_mask,
            spot_check_worker: Some(self.inner.options.worker.clone()),
            ..SubmitOptions::default()
        };
        let package = PathBuf::from(&preview.path);
        let spawned = std::thread::Builder::new().name(format!("job-{local_id}")).spawn(move || {
            if let Err(e) = inner.follow(local_id, &profile_path, &package, &options, results_dir) {
                inner.job_failed(local_id, &e);
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
        let (summary, here) = lock(&self.inner.jobs)
            .iter()
            .find(|j| j.summary.local_id == local_id)
            .map(|j| (j.summary.clone(), j.network == self.inner.network_key))
            .ok_or_else(|| NodeError::InvalidRequest { message: format!("job {local_id}: no such job in this app") })?;
        let verification = match summary.status {
            JobStatus::Verified => Some(format!(
                "verified: the replicas agreed, the fetched result hashes to the {}, and the spot check re-ran a sample here with the same bits",
                summary.detail.as_deref().unwrap_or("agreed root")
            )),
            JobStatus::Disputed => {
                Some("disputed: the replicas or this machine's spot check disagreed; the court plays it out (bisection to one step, a jury re-runs it)".into())
            }
            JobStatus::Refunded => Some("refunded: too few providers claimed it in time".into()),
            JobStatus::Failed => summary.detail.clone().map(|d| format!("failed: {d}")),
            JobStatus::Posting | JobStatus::Running => None,
        };
        // A job of an earlier start's devnet (or of another network) has no events on this chain.
        let events = match &summary.job_id {
            Some(id) if here => {
                let (rt, net) = self.inner.buyer(&self.ready_profile()?)?;
                rt.block_on(net.job_events(net::chain_job_id(*id)))?
            }
            _ => Vec::new(),
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

    /// A saved result, read for people.
    pub fn read_result(&self, local_id: u64) -> Result<gridmint_protocol::ResultView, NodeError> {
        Ok(runner::readback::read(&self.result_dir(local_id)?)?)
    }

    /// The buyer's jobs, newest first.
    pub fn jobs(&self) -> Vec<JobSummary> {
        let now = now_ms();
        lock(&self.inner.jobs)
            .iter()
            .rev()
            .map(|job| {
                let mut s = job.summary.clone();
                s.elapsed_s = job.ended_ms.unwrap_or(now).saturating_sub(job.submitted_ms) as f64 / 1e3;
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
    fn follow(
        &self,
        local_id: u64,
        profile_path: &Path,
        package: &Path,
        options: &SubmitOptions,
        results_dir: Option<PathBuf>,
    ) -> Result<(), NodeError> {
        let (rt, net) = self.buyer(profile_path)?;
        let buyer_paths = self.buyer_paths();
        rt.block_on(async {
            let posted = buyer::submit(&buyer_paths, &net, package, options).await?;
            let results =
                results_dir.unwrap_or_else(|| self.paths.data.join("results").join(format!("job-{}", posted.job_id)));
            self.update(local_id, |s| {
                s.job_id = Some(net::job_id(posted.job_id));
                s.status = JobStatus::Running;
                s.stage = JobStage::Matching;
            });
            self.set_results_to(local_id, &results);
            self.follow_posted(local_id, &net, posted.job_id, &results, options.poll).await
        })
    }

    /// A job's thread ended in `e`: the job failed, unless the network is stopping (then it keeps
    /// its state, and the next start takes it up or says it was interrupted).
    fn job_failed(&self, local_id: u64, e: &NodeError) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(job = local_id, error = %e, "job stopped with the network");
            return;
        }
        tracing::warn!(job = local_id, error = %e, "job failed");
        self.update(local_id, |s| {
            s.status = JobStatus::Failed;
            s.detail = Some(e.to_string());
        });
    }

    /// The buyer's paths on this network: its blob store (the packages it serves) and state.
    fn buyer_paths(&self) -> Paths {
        Paths::under(&self.root.join("buyer")).with_models(self.paths.models.clone())
    }

    /// Takes up the jobs of this network that had not ended when the app stopped: the buyer's
    /// endpoint serves their data again (it is in the buyer's blob store) and each is followed
    /// to its end on a thread of its own.
    pub(super) fn resume_jobs(self: &Arc<Self>, profile_path: &Path) {
        let open: Vec<(u64, gridmint_protocol::JobId, Option<String>)> = lock(&self.jobs)
            .iter()
            .filter(|j| !j.summary.status.is_final() && j.network == self.network_key)
            .filter_map(|j| Some((j.summary.local_id, j.summary.job_id?, j.results_to.clone())))
            .collect();
        for (local_id, job_id, results) in open {
            let (inner, profile_path) = (self.clone(), profile_path.to_owned());
            tracing::info!(job = local_id, %job_id, "taking up a job the app had not finished");
            let spawned = std::thread::Builder::new().name(format!("job-{local_id}")).spawn(move || {
                let resumed = (|| {
                    let job_id = net::chain_job_id(job_id);
                    let results = results
                        .map(PathBuf::from)
                        .unwrap_or_else(|| inner.paths.data.join("results").join(format!("job-{job_id}")));
                    let (rt, net) = inner.buyer(&profile_path)?;
                    let options = SubmitOptions {
                        spot_check_worker: Some(inner.options.worker.clone()),
                        ..SubmitOptions::default()
                    };
                    rt.block_on(async {
                        buyer::start_buyer_peer(
                            &inner.buyer_paths(),
                            &net,
                            options.spot_check_rows,
                            options.spot_check_worker.clone(),
                        )
                        .await?;
                        inner.follow_posted(local_id, &net, job_id, &results, options.poll).await
                    })
                })();
                if let Err(e) = resumed {
                    inner.job_failed(local_id, &e);
                }
            });
            if let Err(e) = spawned {
                tracing::error!(job = local_id, error = %e, "could not start the job's thread");
            }
        }
    }

    /// Follows a posted job to its end: its stage from the job's slot on chain while the buyer
    /// waits, then the outcome, with the verified result written to `results`.
    async fn follow_posted(
        &self,
        local_id: u64,
        net: &Network,
        job_id: U256,
        results: &Path,
        poll: Duration,
    ) -> Result<(), NodeError> {
        // The stage follows the job's slot on chain while the buyer waits for the result.
        let fetch = buyer::wait_and_fetch(net, job_id, Some(results), poll);
        tokio::pin!(fetch);
        let outcome = loop {
            tokio::select! {
                outcome = &mut fetch => break outcome?,
                _ = tokio::time::sleep(STAGE_POLL) => {
                    if let Ok(slot) = net.market.slot(job_id).await {
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
    }
}
