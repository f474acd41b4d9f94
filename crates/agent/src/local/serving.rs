//! The local network's own thread: the devnet started (or the owner's network joined), and
//! this machine registered and serving as a provider.

use super::*;

impl Inner {
    pub(super) fn run(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let result = runtime().and_then(|rt| rt.block_on(self.clone().serve(stop)));
        if let Err(e) = result {
            tracing::error!(error = %e, "the local network stopped");
            let mut phase = lock(&self.phase);
            match (&*phase, e) {
                (Phase::Ready { .. }, e) => self.set_activity(format!("stopped: {e}")),
                (_, NodeError::UntrustedMarket { market, fingerprint, .. }) => {
                    *phase = Phase::Untrusted { market, fingerprint };
                }
                (_, e) => *phase = Phase::Failed(e.to_string()),
            }
        }
    }

    async fn serve(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), NodeError> {
        let (rpc_url, deployment, trusted_market_code) = match &self.options.network {
            NetworkChoice::Local => return self.serve_devnet(stop).await,
            NetworkChoice::Unavailable(why) => {
                return Err(NodeError::NetworkUnavailable { message: why.clone() });
            }
            NetworkChoice::Custom { rpc_url, deployment, trusted_market_code, .. } => {
                (rpc_url.clone(), deployment.clone(), *trusted_market_code)
            }
        };
        let profile = NetworkProfile {
            name: "custom".into(),
            rpc_url,
            deployment: gridmint_chain::Deployment::load(&deployment)?,
            funded_accounts: Vec::new(),
            // A real chain may reorg: act on postings a block deep.
            confirmations: 1,
            trusted_market_code,
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
                launcher: self.options.anvil_launcher.clone(),
                confirmations: 0,
                // The one machine of the embedded network has no jury pool to verify device checks.
                verified_matching: false,
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
        let gpu =
            Arc::new(provider::Compute::Worker { worker: self.options.worker.clone(), device: self.options.device });
        let net = Network::connect(profile_path, self.provider_key()?)?;
        // Nothing is staked or approved to a market that is not this app's build.
        net.check_market_code().await?;
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
            // The owner's setting (Settings → Network); registered, or changed, at this start.
            region: self.region,
            exit_after_jobs: None,
            corrupt_results: None,
            lie_as_juror: false,
            jury_duty: true,
            claim_jobs: true,
            relay_commitments: true,
            poll: Duration::from_millis(500),
            paused: Some(self.paused.clone()),
            control: Some(self.gpu_control.clone()),
            deadline_margin: Duration::from_secs(20),
            held: Some(self.held.clone()),
            memory_share: Some(self.memory_share.clone()),
            current_task: Some(self.current_task.clone()),
            declined: Some(self.declined.clone()),
            // Not yet in the app: its embedded network has no jury to judge a check (issue #23).
            device_check: false,
            memory_mib: None,
            capacity: self.capacity.clone(),
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
        self.resume_jobs(profile_path);
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
}
