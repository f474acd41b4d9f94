//! The desktop agent's library against real parts: the app's embedded local network (anvil,
//! the contracts, this machine as provider, MiniLM) and a network of the owner's. Needs anvil
//! (GRIDMINT_REQUIRE_CHAIN=1 makes its absence a failure) and the model cache.
//!
//! Module map:
//! - `local`: a bad package is refused before anything is posted, a good one is verified and
//!   pays the provider unless paused.
//! - `custom_network`: the app on the owner's RPC and deployment file.
//!
//! Device work runs as the agent runs it: this crate's binary with `--device-worker`.

fn device_worker() -> gridmint_runner::worker::DeviceWorker {
    gridmint_runner::worker::DeviceWorker::new(
        env!("CARGO_BIN_EXE_gridmint-agent").into(),
        vec!["--device-worker".into()],
    )
}

mod local {
    use std::{
        path::PathBuf,
        time::{Duration, Instant},
    };

    use gridmint_agent::local::{LocalMarket, LocalMarketOptions};
    use gridmint_node::Paths;
    use gridmint_protocol::{
        EarningsPeriod, ErrorCode, InspectPackageRequest, JobStage, JobStatus, NetworkPhase, SubmitJobRequest,
    };

    /// The bundled anvil, or a skip (a failure under GRIDMINT_REQUIRE_CHAIN=1).
    pub(super) fn anvil() -> Option<PathBuf> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        if p.is_file() {
            return Some(p);
        }
        assert!(std::env::var("GRIDMINT_REQUIRE_CHAIN").as_deref() != Ok("1"), "GRIDMINT_REQUIRE_CHAIN=1 but no anvil");
        eprintln!("SKIPPED: no anvil");
        None
    }

    #[test]
    fn a_dropped_package_is_checked_posted_verified_and_pays_the_provider_unless_paused() {
        let Some(anvil) = anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch dir");
        let mut paths = Paths::under(scratch.path());
        if let Some(real) = Paths::discover() {
            paths = paths.with_models(real.models);
        }
        if !paths.model("all-MiniLM-L6-v2").join("model.safetensors").is_file() {
            assert!(std::env::var("GRIDMINT_REQUIRE_REFERENCE").as_deref() != Ok("1"), "no MiniLM (make setup)");
            eprintln!("SKIPPED: no MiniLM");
            return;
        }
        let options = || LocalMarketOptions {
            anvil: anvil.clone(),
            anvil_launcher: None,
            block_time_s: 1,
            claim_window_s: 6,
            price_floor: Some(0),
            device: None,
            network: Default::default(),
            worker: super::device_worker(),
        };
        // The owner declared where the machine is (Settings → Network): it registers there.
        let eu_west =
            gridmint_protocol::NetworkSettings { region: "eu-west".parse().expect("region"), ..Default::default() };
        gridmint_node::settings::store_network(&paths, &eu_west).expect("network settings");
        let market = LocalMarket::start(paths.clone(), options());

        // A bad package is refused at once, naming the problem, before the network is even needed.
        let bad = scratch.path().join("bad");
        std::fs::create_dir_all(&bad).expect("bad package dir");
        std::fs::write(
            bad.join("job.toml"),
            "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"missing.txt\"\n",
        )
        .expect("write job.toml");
        let request = InspectPackageRequest { path: bad.display().to_string(), replicas: 1, price_per_unit: 1 };
        let err = market.inspect(&request).expect_err("a package naming a missing file is refused");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
        assert!(err.to_string().contains("missing.txt"), "the error names the file: {err}");

        let deadline = Instant::now() + Duration::from_secs(240);
        let standing = loop {
            let status = market.status();
            match status.phase {
                NetworkPhase::Ready => break status.provider.expect("a ready network reports the provider"),
                NetworkPhase::Failed { message } => panic!("the local network failed: {message}"),
                NetworkPhase::Untrusted { market, .. } => {
                    panic!("the local network's own market {market} was untrusted")
                }
                NetworkPhase::Starting => {
                    assert!(Instant::now() < deadline, "the local network was not ready in 240 s");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        let on_chain = standing.chain.clone().expect("the chain's record reads");
        assert!(on_chain.registered, "this machine registered and staked: {standing:?}");
        let earned_before = on_chain.withdrawable;

        let good = scratch.path().join("good");
        std::fs::create_dir_all(&good).expect("package dir");
        std::fs::write(good.join("job.toml"), "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"s.txt\"\n")
            .expect("write job.toml");
        std::fs::write(good.join("s.txt"), "The market verifies results.\nGPUs earn by the hour.\n").expect("input");
        let preview = market
            .inspect(&InspectPackageRequest { path: good.display().to_string(), replicas: 1, price_per_unit: 1000 })
            .expect("a good package previews");
        assert_eq!(preview.kind, "embed");
        assert!(preview.work_units.get() >= 1 && preview.cost_usd.is_some(), "{preview:?}");

        let too_many = SubmitJobRequest {
            path: good.display().to_string(),
            replicas: 3,
            price_per_unit: 1000,
            ..Default::default()
        };
        let err = market.submit(&too_many).expect_err("3 replicas on a 1-provider network are refused");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput);
        assert!(market.jobs().is_empty(), "a refused job is not listed");

        let stages = std::cell::RefCell::new(Vec::new());
        // The most the provider's pending earnings showed while a job ran.
        let pending_seen = std::cell::Cell::new(0u128);
        // What the dashboard showed of the agent's current task while a job ran.
        let tasks_seen = std::cell::RefCell::new(Vec::new());
        let settle = |local_id: u64| {
            let deadline = Instant::now() + Duration::from_secs(240);
            stages.borrow_mut().clear();
            loop {
                let job = market.jobs().into_iter().find(|j| j.local_id == local_id).expect("the job is listed");
                if stages.borrow().last() != Some(&job.stage) {
                    stages.borrow_mut().push(job.stage);
                }
                if let Some(task) = market.status().provider.and_then(|p| p.current_task) {
                    tasks_seen.borrow_mut().push(task);
                }
                if matches!(job.stage, JobStage::Running | JobStage::Verifying) {
                    let pending = market.earnings(EarningsPeriod::Day).map(|e| e.pending_usd.base_units());
                    pending_seen.set(pending_seen.get().max(pending.unwrap_or(0)));
                }
                if job.status.is_final() {
                    break job;
                }
                assert!(Instant::now() < deadline, "the job did not settle in 240 s: {job:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        };
        let request = SubmitJobRequest {
            path: good.display().to_string(),
            replicas: 1,
            price_per_unit: 1000,
            ..Default::default()
        };
        // Requirements and the results folder are checked before anything is posted.
        for (bad, says) in [
            (SubmitJobRequest { regions: vec![40], ..request.clone() }, "\"40\" is not a region code"),
            (SubmitJobRequest { regions: vec![0], ..request.clone() }, "\"unspecified\" is not a place"),
            (SubmitJobRequest { results_dir: Some("relative/dir".into()), ..request.clone() }, "full path"),
            (SubmitJobRequest { results_dir: Some(good.display().to_string()), ..request.clone() }, "is not empty"),
        ] {
            let err = market.submit(&bad).expect_err(says);
            assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
            assert!(err.to_string().contains(says), "{says}: {err}");
        }
        assert!(market.jobs().is_empty(), "a refused job is not listed");

        // Paused, the machine takes no job: nobody claims it and the escrow comes back.
        market.set_paused(true);
        assert!(market.status().provider.expect("provider").activity.starts_with("paused"));
        let unclaimed = settle(market.submit(&request).expect("submits").local_id);
        assert_eq!(unclaimed.status, JobStatus::Refunded, "{unclaimed:?}");
        // The owner sees why: the agent noted the job it did not take.
        let declined = market.status().provider.expect("provider").declined_jobs;
        let first = declined.first().expect("the paused job is noted");
        assert_eq!((Some(first.job_id), first.reason.as_str()), (unclaimed.job_id, "earning is paused"));

        market.set_paused(false);
        // This machine (eu-west, 2 GiB on llvmpipe) meets the requirements; the result goes
        // where the buyer chose.
        let chosen = scratch.path().join("chosen results");
        let submitted = market
            .submit(&SubmitJobRequest {
                min_memory_mib: 1024,
                regions: vec![4, 3],
                results_dir: Some(chosen.display().to_string()),
                ..request.clone()
            })
            .expect("submits");
        assert_eq!(submitted.status, JobStatus::Posting);
        let job = settle(submitted.local_id);
        assert_eq!(job.status, JobStatus::Verified, "{job:?}");
        let seen = stages.borrow().clone();
        assert_eq!(seen.last(), Some(&JobStage::Done), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "the stages only move forward: {seen:?}");
        assert!(seen.contains(&JobStage::Running) && seen.contains(&JobStage::Verifying), "{seen:?}");
        assert!(pending_seen.get() > 0, "the claimed job showed as pending earnings while it ran");
        let tasks = tasks_seen.borrow();
        let job_id = job.job_id.expect("posted");
        assert!(tasks.iter().any(|t| t.job_id == job_id), "the agent's task showed on the status: {tasks:?}");
        assert!(
            market.status().provider.expect("provider").current_task.is_none(),
            "no task once the result is computed"
        );
        let result = PathBuf::from(job.result_dir.expect("a verified job has its result saved"));
        assert_eq!(result, chosen, "saved where the buyer chose");
        assert!(result.join("embeddings.npy").is_file(), "the result holds the embeddings");

        // Earnings are credited when the job settles; the status reads them from the chain.
        let earned_after = market.status().provider.expect("provider").chain.expect("the chain's record").withdrawable;
        assert!(earned_after > earned_before, "the provider earned: {earned_before} -> {earned_after}");

        // The job's timeline: every step on chain, in order, with its transaction.
        let timeline = market.timeline(job.local_id).expect("the timeline reads");
        let steps: Vec<&str> = timeline.events.iter().map(|e| e.step.as_str()).collect();
        assert_eq!(steps, ["posted", "claimed", "selected", "committed", "revealed", "finalized"], "{timeline:?}");
        assert!(timeline.events.iter().all(|e| e.transaction.len() == 66), "each step names its transaction");
        assert!(timeline.events.windows(2).all(|w| w[0].at_unix_s <= w[1].at_unix_s), "oldest first");
        let revealed = &timeline.events[4];
        assert_eq!((revealed.replica, revealed.provider.as_deref()), (Some(0), Some(standing.address.as_str())));
        assert!(timeline.verification.as_deref().is_some_and(|v| v.starts_with("verified")), "{timeline:?}");
        let err = market.timeline(99).expect_err("no job 99");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");

        // The earnings chart reads the same payment from the chain's events: in the day's last
        // hour, the week's last day; the refunded job paid nothing.
        let day = market.earnings(EarningsPeriod::Day).expect("the earnings history reads");
        assert_eq!(day.buckets.len(), 24);
        let paid = day.total_usd.base_units();
        assert_eq!(paid, earned_after.base_units() - earned_before.base_units(), "chart vs balance change");
        assert_eq!(day.buckets[23].usd, day.total_usd, "paid within this hour: {day:?}");
        assert!(day.predicted_24h_usd.base_units() > 0, "{day:?}");
        assert_eq!(day.pending_usd.to_string(), "0.00", "nothing claimed is unsettled: {day:?}");
        // Demand: both jobs were posted today, each offering $0.001 per PFLOP.
        assert_eq!(
            (day.market_jobs_24h, day.market_median_usd_per_pflop.map(|u| u.to_string()).as_deref()),
            (2, Some("0.001"))
        );
        let standing = market.status().provider.expect("provider");
        let record = standing.chain.clone().expect("the chain's record");
        assert_eq!((record.jobs_agreed, record.jobs_slashed, record.jobs_missed), (1, 0, 0), "{record:?}");
        // An hour of this machine's work net of electricity (issue #23 point 7): at the default
        // offer (no floor), on the rate it registered, at the region's default tariff.
        let hour = standing.net_hour.expect("an hour net of electricity once registered");
        assert!(record.compute_units > 0 && hour.gflops == record.compute_units, "{hour:?}");
        assert_eq!(hour.price, gridmint_protocol::Price::H100_REFERENCE);
        assert_eq!(hour.gross_usd_per_hour, hour.price.per_hour(f64::from(hour.gflops)));
        assert_eq!(hour.usd_per_kwh.to_string(), "0.33", "eu-west: the EU household average");
        assert_eq!(
            hour.break_even,
            gridmint_protocol::Price::for_hourly(hour.electricity_usd_per_hour, f64::from(hour.gflops))
        );
        // The day's paid work, at that draw: the chart's electricity.
        assert!(day.electricity_usd.is_some(), "{day:?}");
        let month = market.earnings(EarningsPeriod::Month).expect("the earnings history reads");
        assert_eq!((month.buckets.len(), month.total_usd), (30, day.total_usd));

        // A payout address change: a typo is refused naming the input; a good one waits out the
        // market's delay, and withdrawals still go to the current address meanwhile.
        let err = market.change_payout("0x12345").expect_err("not an address");
        assert_eq!(err.to_api().code, ErrorCode::InvalidInput, "{err}");
        assert!(err.to_string().contains("0x12345"), "{err}");
        let next = "0x00000000000000000000000000000000000000aA";
        market.change_payout(next).expect("a payout change is requested");
        let standing = market.status().provider.expect("provider");
        let on_chain = standing.chain.clone().expect("the chain's record");
        let pending = on_chain.pending_payout.expect("the change is pending");
        assert!(pending.address.eq_ignore_ascii_case(next), "{pending:?}");
        assert!(pending.effective_at_unix_s > day.now_unix_s + 86_400, "a delay of days: {pending:?}");
        assert_eq!(on_chain.payout_address, standing.address, "the current payout address is unchanged");

        // A job still running when the app stops is not forgotten.
        let unfinished = market.submit(&request).expect("submits").local_id;

        // Shutting down stops anvil: nothing is left listening on the chain's port.
        let rpc = market.status().rpc_url.expect("a ready network has an RPC URL");
        let port: u16 = rpc.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("a port");
        let before = market.jobs();
        market.shutdown();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "anvil still listens on {port}");

        // After a restart the Jobs page lists every job as it ended; the one the stop cut off
        // says why, and the devnet's jobs (its chain is gone) have no events on the new chain.
        let again = LocalMarket::start(paths, options());
        let after = again.jobs();
        assert_eq!(after.len(), 3, "{after:?}");
        let by_id = |id: u64| after.iter().find(|j| j.local_id == id).expect("listed").clone();
        let verified = by_id(job.local_id);
        assert_eq!(
            (verified.status, verified.job_id, verified.result_dir.as_deref()),
            (JobStatus::Verified, Some(job_id), Some(chosen.to_str().expect("utf-8"))),
            "{verified:?}"
        );
        let was = before.iter().find(|j| j.local_id == job.local_id).expect("listed before");
        assert_eq!((verified.detail.as_ref(), verified.elapsed_s), (was.detail.as_ref(), was.elapsed_s), "unchanged");
        assert_eq!(by_id(unclaimed.local_id).status, JobStatus::Refunded);
        let cut = by_id(unfinished);
        assert_eq!(cut.status, JobStatus::Failed, "{cut:?}");
        assert!(cut.detail.as_deref().is_some_and(|d| d.starts_with("interrupted")), "{cut:?}");
        let old = again.timeline(job.local_id).expect("an earlier job's timeline reads");
        assert!(old.events.is_empty(), "no events of the old chain read from the new one: {old:?}");
        assert!(old.verification.as_deref().is_some_and(|v| v.starts_with("verified")), "{old:?}");
        again.shutdown();
    }
}

mod custom_network {
    use std::time::{Duration, Instant};

    use gridmint_agent::local::{LocalMarket, LocalMarketOptions, NetworkChoice};
    use gridmint_node::{Paths, devnet, net};
    use gridmint_protocol::NetworkPhase;

    /// The app on a network of the owner's: its RPC and deployment file, the owner's key
    /// registering this machine; a deployment file that does not read fails with its path.
    #[test]
    fn the_app_runs_on_a_custom_network_with_the_owners_key() {
        let Some(anvil) = super::local::anvil() else { return };
        let scratch = tempfile::tempdir().expect("scratch");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let options = devnet::DevnetOptions {
            anvil: anvil.clone(),
            port: None,
            block_time: Some(1),
            accounts: 3,
            stop_with_thread: false,
            launcher: None,
            confirmations: 0,
            verified_matching: false,
        };
        let chain = rt.block_on(devnet::start(&Paths::under(&scratch.path().join("chain")), options)).expect("devnet");
        let deployment = scratch.path().join("deployment.json");
        chain.profile.deployment.save(&deployment).expect("save the deployment");
        let owner = net::dev_account(2).expect("a funded key");
        let start_trusting = |deployment: std::path::PathBuf, home: &str, trusted: Option<alloy::primitives::B256>| {
            LocalMarket::start(
                Paths::under(&scratch.path().join(home)),
                LocalMarketOptions {
                    anvil: anvil.clone(),
                    anvil_launcher: None,
                    block_time_s: 1,
                    claim_window_s: 6,
                    price_floor: Some(0),
                    device: None,
                    network: NetworkChoice::Custom {
                        rpc_url: chain.profile.rpc_url.clone(),
                        deployment,
                        signer: Box::new(owner.clone()),
                        trusted_market_code: trusted,
                    },
                    worker: super::device_worker(),
                },
            )
        };
        let start = |deployment: std::path::PathBuf, home: &str| start_trusting(deployment, home, None);
        let wait = |market: &LocalMarket| {
            let deadline = Instant::now() + Duration::from_secs(240);
            loop {
                let status = market.status();
                if !matches!(status.phase, NetworkPhase::Starting) {
                    break status;
                }
                assert!(Instant::now() < deadline, "not ready in 240 s: {status:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        };

        let broken = scratch.path().join("missing-deployment.json");
        let failed = wait(&start(broken.clone(), "broken"));
        match failed.phase {
            NetworkPhase::Failed { message } => {
                assert!(message.contains("missing-deployment.json"), "the error names the file: {message}")
            }
            other => panic!("a missing deployment file must fail the network: {other:?}"),
        }

        // A deployment file naming some other contract as the market (here: the payment
        // token): refused before anything is approved or staked, and the window is told the
        // code's fingerprint to offer trusting it. Trusted, exactly that code gets past the check
        // (and then fails, a token being no market; but not as untrusted).
        let mut forged = chain.profile.deployment;
        forged.market = chain.profile.deployment.payment_token;
        let forged_file = scratch.path().join("forged-deployment.json");
        forged.save(&forged_file).expect("save");
        let refused = start(forged_file.clone(), "forged");
        let status = wait(&refused);
        let NetworkPhase::Untrusted { market, fingerprint } = status.phase else {
            panic!("a market of unknown code must be untrusted: {status:?}")
        };
        assert_eq!(market, forged.market.to_string());
        assert_eq!(refused.untrusted_market().map(|(_, f)| f.to_string()), Some(fingerprint.clone()));
        refused.shutdown();
        let trusted = start_trusting(forged_file, "forged-trusted", Some(fingerprint.parse().expect("fingerprint")));
        let status = wait(&trusted);
        assert!(
            !matches!(status.phase, NetworkPhase::Untrusted { .. } | NetworkPhase::Ready),
            "trusted, the code check passes (a token still cannot register anyone): {status:?}"
        );
        trusted.shutdown();

        let market = start(deployment, "home");
        let status = wait(&market);
        assert_eq!(status.phase, NetworkPhase::Ready, "{status:?}");
        assert_eq!(status.network, "custom");
        assert_eq!(status.rpc_url.as_deref(), Some(chain.profile.rpc_url.as_str()));
        let standing = status.provider.expect("the provider's standing");
        assert!(
            standing.chain.as_ref().is_ok_and(|c| c.registered),
            "registered and staked on the owner's network: {standing:?}"
        );
        assert_eq!(standing.address, owner.address().to_string(), "with the owner's key");
        // Not the local network's one provider: the market's own limit on replicas.
        let request = gridmint_protocol::SubmitJobRequest {
            path: "/nonexistent".into(),
            replicas: 16,
            price_per_unit: 1000,
            ..Default::default()
        };
        let err = market.submit(&request).expect_err("16 replicas");
        assert!(err.to_string().contains("1 to 15"), "{err}");
        market.shutdown();
        drop(chain);
    }
}
