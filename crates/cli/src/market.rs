//! `gridmint provider start`, `gridmint job submit`: the market from the command line.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use gridmint_node::{
    Node,
    buyer::{self, SubmitOptions},
    net::{self, Network},
    provider::{self, ProviderOptions},
    store::Store,
    wallet::Wallet,
};
use gridmint_protocol::Region;

/// Which network and which key.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkArgs {
    /// The network profile (`gridmint devnet` writes `<config>/networks/local.json`).
    #[arg(long)]
    pub network: Option<PathBuf>,
    /// Sign with anvil's public test account N instead of the keyring wallet (local network only).
    #[arg(long)]
    pub dev_account: Option<u32>,
}

impl NetworkArgs {
    /// For reading the chain only: no key is needed, a throwaway one fills the signer slot.
    pub fn connect_reader(&self, node: &Node) -> anyhow::Result<Network> {
        if self.dev_account.is_some() {
            return self.connect(node);
        }
        let profile =
            self.network.clone().unwrap_or_else(|| gridmint_node::devnet::NetworkProfile::path(node.paths(), "local"));
        Ok(Network::connect(&profile, alloy::signers::local::PrivateKeySigner::random())?)
    }

    pub fn connect(&self, node: &Node) -> anyhow::Result<Network> {
        let profile =
            self.network.clone().unwrap_or_else(|| gridmint_node::devnet::NetworkProfile::path(node.paths(), "local"));
        let signer = match self.dev_account {
            Some(index) => net::dev_account(index)?,
            None => Wallet::for_paths(node.paths()).signer().context("the node's wallet (`gridmint wallet new`)")?,
        };
        let net = Network::connect(&profile, signer)?;
        anyhow::ensure!(
            self.dev_account.is_none() || net.profile.name == "local",
            "--dev-account is only for the local network, not `{}`",
            net.profile.name
        );
        // Before anything is approved or staked: the market must be a known Gridmint build.
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(net.check_market_code())?;
        Ok(net)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Trust a network whose market is not this app's build of the contracts: its code's
    /// fingerprint (printed when the network was refused) is recorded in the network file.
    Trust(TrustArgs),
}

#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// The network file (a profile written by `gridmint devnet` or by hand).
    #[arg(long)]
    network: PathBuf,
    /// The fingerprint the refusal printed: only this exact code is trusted.
    #[arg(long)]
    fingerprint: alloy::primitives::B256,
}

/// `gridmint network trust`: checks that the fingerprint is the code the network's market runs
/// now, then records it in the network file.
pub fn network(command: NetworkCommand, json: bool) -> anyhow::Result<()> {
    let NetworkCommand::Trust(args) = command;
    let net = Network::connect(&args.network, alloy::signers::local::PrivateKeySigner::random())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(net.market_code())? {
        gridmint_node::net::MarketCode::Known => {
            anyhow::bail!("the market of {} is this app's own build: there is nothing to trust", args.network.display())
        }
        gridmint_node::net::MarketCode::Unknown { fingerprint } => anyhow::ensure!(
            fingerprint == args.fingerprint,
            "the market of {} runs code with fingerprint {fingerprint}, not {}: nothing was recorded",
            args.network.display(),
            args.fingerprint
        ),
    }
    let mut profile = net.profile.clone();
    profile.trusted_market_code = Some(args.fingerprint);
    profile.save(&args.network)?;
    if json {
        println!("{}", serde_json::json!({ "network": args.network, "trusted_market_code": args.fingerprint }));
    } else {
        println!("{}: the market's code {} is trusted", args.network.display(), args.fingerprint);
    }
    Ok(())
}

/// `gridmint regions`: every region's name and code and what it covers.
pub fn regions(json: bool) {
    if json {
        let list: Vec<_> = Region::all()
            .map(|r| serde_json::json!({ "name": r.name(), "code": r.code(), "covers": r.covers() }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    for r in Region::all() {
        println!("{:<20} {:>2}  {}", r.name(), r.code(), r.covers());
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ProviderCommand {
    /// Register (if needed) and serve jobs until stopped.
    Start(StartArgs),
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// Lowest accepted price, in micro-dollars per PFLOP (price units per work unit: millionths
    /// of a payment-token base unit per 10^9 operations). 27,800 pays an H100 $2.49 an hour.
    #[arg(long, default_value_t = 1)]
    price_floor: u128,
    /// Device index from `gridmint gpus` (default: the best).
    #[arg(long)]
    gpu: Option<u32>,
    /// Where this machine is, by name (`eu-west`, `us-east`, ...; `gridmint regions` lists
    /// them), registered with the market: jobs open to some regions only are matched against
    /// it. Unspecified: only jobs open to anywhere.
    /// [default: the one registered; unspecified at the first registration]
    #[arg(long)]
    region: Option<Region>,
    /// Stop after this many jobs settle.
    #[arg(long)]
    exit_after_jobs: Option<usize>,
    /// Test only: corrupt every result (the market must slash this provider), and refuse the
    /// job's data to the court's jurors (a colluder does not help them check it).
    #[arg(long, hide = true)]
    corrupt_results: bool,
    /// Test only: as --corrupt-results, but a training or fine-tuning run is right before this
    /// step (0 = the first epoch or segment) and wrong from it on.
    #[arg(long, hide = true, value_name = "STEP")]
    corrupt_from_step: Option<usize>,
    /// Commit and reveal on chain, never handing the buyer the commitment (test only: the path
    /// of a buyer that does not answer).
    #[arg(long, hide = true)]
    no_relay: bool,
    /// Test only: as a juror, vote for the side the step proves wrong (the court must outvote
    /// and slash this provider).
    #[arg(long, hide = true)]
    lie_as_juror: bool,
    /// Claim no jobs: only serve on juries of other jobs' court games.
    #[arg(long)]
    jury_only: bool,
    /// Have this device's registered memory and compute checked by the network (a device check:
    /// a challenge computed on the device, judged by a jury); a provider that passes is verified.
    #[arg(long)]
    device_check: bool,
    /// The device memory offered to the market, in MiB (registered as such; a device check
    /// fills 90% of it). The whole device's when left out.
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u32>,
    /// Jobs this device holds at a time (claimed and not yet computed; it computes one at a
    /// time): a job over it is declined.
    #[arg(long, value_name = "JOBS", default_value_t = provider::DEFAULT_CAPACITY,
          value_parser = clap::value_parser!(u8).range(1..=64))]
    capacity: u8,
}

pub fn provider(node: &Node, command: ProviderCommand, json: bool) -> anyhow::Result<()> {
    let ProviderCommand::Start(args) = command;
    let mut net = args.network.connect(node)?;
    let corrupt_results = args.corrupt_from_step.or(args.corrupt_results.then_some(0));
    if corrupt_results.is_some() {
        // A colluder does not help the jury check it either: it refuses the job's data to jurors.
        net = net.withholding_from_jurors();
    }
    let gpu = std::sync::Arc::new(provider::Compute::Here(node.open_device_slot(args.gpu)?));
    let options = ProviderOptions {
        current_task: None,
        declined: None,
        price_floor: args.price_floor,
        region: args.region,
        exit_after_jobs: args.exit_after_jobs,
        corrupt_results,
        lie_as_juror: args.lie_as_juror,
        jury_duty: true,
        claim_jobs: !args.jury_only,
        relay_commitments: !args.no_relay,
        poll: Duration::from_millis(500),
        paused: None,
        control: None,
        deadline_margin: Duration::from_secs(30),
        held: None,
        memory_share: None,
        device_check: args.device_check,
        memory_mib: args.memory_mib,
        capacity: provider::Capacity::new(args.capacity),
    };
    eprintln!("provider {} on {} serving {}", net.address(), gpu.device_name()?, net.profile.rpc_url);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(provider::serve(node.paths(), &net, &gpu, &options))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("provider {}: {} jobs settled", report.address, report.jobs_settled);
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Post a job package to the market, wait for the verified result.
    Submit(SubmitArgs),
    /// A job's state on chain: replicas, commitments, reveals, deadlines, the agreed result.
    Status(StatusArgs),
    /// Wait for this node's unfinished jobs (or one) and fetch their verified results: what a
    /// restarted buyer runs.
    Wait(WaitArgs),
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// One job; default: every unfinished job this node posted.
    job_id: Option<u64>,
    #[command(flatten)]
    network: NetworkArgs,
    /// Where the result goes (default: where `job submit --out` said, else `<data>/results/job-<id>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// As `job submit --spot-check`.
    #[arg(long, default_value_t = 4)]
    spot_check: usize,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The job id `job submit` printed.
    job_id: u64,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, clap::Args)]
pub struct EarningsArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// Send the withdrawable balance and the rewards (the fee rebate) to the payout address.
    #[arg(long)]
    withdraw: bool,
    /// The device's power draw while computing, watts [default: the rated power of the device
    /// `--gpu` names, else of the first GPU `gridmint gpus` lists (a CPU device if none)].
    #[arg(long)]
    watts: Option<u32>,
    /// The device index from `gridmint gpus` whose rated power stands in for `--watts`.
    #[arg(long)]
    gpu: Option<u32>,
    /// What a kWh costs you, dollars [default: the average of `--region`].
    #[arg(long)]
    tariff: Option<gridmint_protocol::Usd>,
    /// Where this machine is, for the default tariff.
    #[arg(long, default_value = "unspecified")]
    region: Region,
    /// The price to show an hour of work at, micro-dollars per PFLOP [default: the median offer
    /// of the jobs posted in the last 24 hours, else the app's default offer].
    #[arg(long)]
    price: Option<u64>,
}

/// `gridmint earnings`: what this node earned, staked and is owed, and its reputation.
pub fn earnings(node: &Node, args: EarningsArgs, json: bool) -> anyhow::Result<()> {
    let net = args.network.connect(node)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let me = net.address();
        let account = net.market.account(me).await?;
        let rep = net.market.reputation(me).await?;
        let (_, stake, score) = net.standing(me).await?;
        let mut withdrawn = 0u128;
        let mut rewards_claimed = 0u128;
        if args.withdraw {
            rewards_claimed = net.market.claim_rewards().await?.map_or(0, |m| m.value.saturating_to());
            if account.balance > 0 {
                net.market.withdraw().await?;
                withdrawn = account.balance;
            }
        }
        // Net of electricity: the paid work's device time at the draw and the tariff, and an
        // hour of work at a price.
        let payments = net.payments_to(me).await?;
        let units = net.registration(me).await?.computeUnits;
        anyhow::ensure!(
            args.tariff.is_none_or(|t| t.base_units() <= 5_000_000),
            "--tariff: ${} per kWh is over $5",
            args.tariff.unwrap_or_default()
        );
        let devices = node.hardware_report()?.devices;
        let device = match args.gpu {
            Some(index) => Some(
                devices
                    .iter()
                    .find(|d| d.index == index)
                    .cloned()
                    .with_context(|| format!("--gpu {index}: no such device (gridmint gpus lists them)"))?,
            ),
            None => devices
                .iter()
                .find(|d| d.kind != gridmint_protocol::DeviceKind::Cpu)
                .or(devices.first())
                .cloned(),
        };
        let (name, kind) =
            device.map_or(("unknown".to_owned(), gridmint_protocol::DeviceKind::Other), |d| (d.name, d.kind));
        let power = gridmint_node::electricity::Electricity::new(&name, kind, args.watts, args.tariff, args.region);
        let paid: u128 = payments.iter().map(|p| p.amount).sum();
        let paid_units: u64 = payments.iter().map(|p| p.units).sum();
        let electricity = power.for_work(paid_units, units);
        let price = match args.price {
            Some(p) => gridmint_protocol::Price(p),
            None => net.offers_24h(net.now().await?).await?.1.unwrap_or(gridmint_protocol::Price::H100_REFERENCE),
        };
        let hour = (units > 0).then(|| power.hour_at(price, units));
        let value = serde_json::json!({
            "address": me.to_string(),
            "paidJobs": payments.len(),
            "paid": paid.to_string(),
            "electricity": electricity.base_units().to_string(),
            "netHour": hour,
            "withdrawable": (account.balance - withdrawn).to_string(),
            "withdrawn": withdrawn.to_string(),
            "stake": stake.to_string(),
            "rewards": rep.rewards.to_string(),
            "rewardsClaimed": rewards_claimed.to_string(),
            "reputation": {
                "score": score.to::<u64>(),
                "completed": rep.completed,
                "agreed": rep.agreed,
                "slashed": rep.slashed,
                "missed": rep.missed,
            },
        });
        if json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("account       {me}");
            println!("withdrawable  {} gUSD base units (withdrawn now: {withdrawn})", account.balance - withdrawn);
            println!("stake         {stake} GRID base units");
            println!("rewards       {} gUSD base units (the fee rebate, to claim)", rep.rewards);
            println!(
                "reputation    {} bps ({} completed, {} agreed, {} slashed, {} missed)",
                score, rep.completed, rep.agreed, rep.slashed, rep.missed
            );
            let usd = gridmint_protocol::Usd::from_base_units;
            let net_paid = paid.checked_sub(electricity.base_units());
            println!(
                "paid          ${} for {} jobs; electricity for that work ${}; net {}",
                usd(paid),
                payments.len(),
                electricity,
                net_paid
                    .map_or_else(|| format!("-${}", usd(electricity.base_units() - paid)), |n| format!("${}", usd(n)))
            );
            match &hour {
                Some(hour) => {
                    println!(
                        "an hour       ${} at {} on {} GFLOP/s, less ${} of electricity ({} W {}, ${}/kWh: {}): {}${} net",
                        hour.gross_usd_per_hour,
                        hour.price,
                        hour.gflops,
                        hour.electricity_usd_per_hour,
                        hour.power_w,
                        if hour.power_measured { "given" } else { "rated" },
                        hour.usd_per_kwh,
                        hour.tariff_basis,
                        if hour.loses_money { "-" } else { "" },
                        hour.net_usd_per_hour
                    );
                    println!("break-even    below {} an hour of work costs more than it pays", hour.break_even);
                }
                None => println!("an hour       not known: this machine has registered no device rate"),
            }
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// A folder or .zip holding job.toml.
    package: PathBuf,
    #[command(flatten)]
    network: NetworkArgs,
    /// Providers that compute it independently (the majority's result is paid).
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// Price in micro-dollars per PFLOP (price units per work unit: millionths of a
    /// payment-token base unit per 10^9 operations) [default: 27,800, what an H100 rents for
    /// an hour ($2.49) over its deterministic GEMM rate].
    #[arg(long, default_value_t = u128::from(gridmint_protocol::Price::H100_REFERENCE.get()))]
    price: u128,
    /// The regions its providers may be in, comma-separated names (`eu-west,eu-central`;
    /// `gridmint regions` lists them) [default: anywhere].
    #[arg(long, value_delimiter = ',')]
    regions: Vec<Region>,
    /// Providers need at least this much device memory, MiB.
    #[arg(long, default_value_t = 0)]
    min_memory: u32,
    /// Seconds providers have to claim it.
    #[arg(long, default_value_t = 10)]
    claim_window: u64,
    /// Seconds after the claim window for the commitments [default: from the job's work and the
    /// measured speed of the providers that may take it].
    #[arg(long)]
    commit_window: Option<u64>,
    /// Seconds after the commit window for the reveals.
    #[arg(long, default_value_t = 120)]
    reveal_window: u64,
    /// Split an embedding job into shards of at most this many sentences; each shard is its own
    /// market job (matched, run, verified and settled independently), results joined in order.
    #[arg(long, conflicts_with = "chain")]
    shard_size: Option<usize>,
    /// Run a finetune job as a chain of market jobs, one segment each, one after the other: each
    /// link resumes from the one before's verified weights and optimizer state, is verified and
    /// paid on its own, and is posted again if its providers drop out. Run again with the same
    /// `--out`, a stopped chain goes on from its last verified link.
    #[arg(long)]
    chain: bool,
    /// Where the verified result goes (requires waiting).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Wait for the result.
    #[arg(long)]
    wait: bool,
    /// Sentences or prompts of the agreed result re-executed on this machine before the job may
    /// settle (a training, fine-tuning or kernel job: any number above 0 re-runs it through one
    /// step drawn at random); a mismatch challenges the result instead; 0 turns the check off.
    #[arg(long, default_value_t = 4)]
    spot_check: usize,
}

pub fn job(node: &Node, command: JobCommand, json: bool) -> anyhow::Result<()> {
    let args = match command {
        JobCommand::Submit(args) => args,
        JobCommand::Status(args) => return status(node, args, json),
        JobCommand::Wait(args) => return wait(node, args, json),
    };
    // The package first: a bad one is refused before anything reaches the network.
    let split = args.shard_size.is_some() || args.chain;
    let checked = (!split).then(|| buyer::check_package(node.paths(), &args.package)).transpose()?;
    if args.chain {
        gridmint_node::chain::links(&args.package)?;
        buyer::check_package(node.paths(), &args.package)?;
    }
    let net = args.network.connect(node)?;
    let options = SubmitOptions {
        replicas: args.replicas,
        price_per_unit: args.price,
        claim_window_s: args.claim_window,
        commit_window_s: args.commit_window,
        reveal_window_s: args.reveal_window,
        spot_check_rows: args.spot_check,
        region_mask: gridmint_protocol::matching::job_region_mask(
            &args.regions.iter().map(|r| r.code()).collect::<Vec<_>>(),
        )
        .map_err(|e| anyhow::anyhow!("--regions: {e}"))?,
        min_memory_mib: args.min_memory,
        ..SubmitOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Some(size) = args.shard_size {
        return runtime.block_on(submit_sharded(node, &net, &args, &options, size, json));
    }
    if args.chain {
        return runtime.block_on(submit_chained(node, &net, &args, &options, json));
    }
    let checked = checked.context("a package checked above")?;
    runtime.block_on(async {
        let posted = buyer::post_checked(node.paths(), &net, checked, &options).await?;
        let out_dir = args.out.clone().unwrap_or_else(|| default_out(node, posted.job_id));
        Store::open(&node.paths().data.join("node.sqlite3"))?.insert_buyer_job(
            &buyer::state_key(&net),
            &posted.job_id.to_string(),
            &out_dir.to_string_lossy(),
        )?;
        eprintln!("posted job {} ({} work units, escrow {})", posted.job_id, posted.work_units, posted.escrow);
        if !(args.wait || args.out.is_some()) {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "jobId": posted.job_id.to_string(), "workUnits": posted.work_units })
                );
            }
            return Ok(());
        }
        let outcome = buyer::wait_and_fetch(&net, posted.job_id, Some(&out_dir), options.poll).await?;
        net.close_peer().await;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "jobId": posted.job_id.to_string(),
                    "state": u8::from(outcome.state),
                    "stateName": outcome.state.name(),
                    "agreedRoot": outcome.agreed_root.to_string(),
                    "verified": outcome.verified,
                })
            );
        } else {
            println!(
                "job {}: state {}, verified {}, root {}",
                posted.job_id, outcome.state, outcome.verified, outcome.agreed_root
            );
        }
        if !outcome.verified {
            let message = format!("job {} ended without a verified result (state {})", posted.job_id, outcome.state);
            return Err(crate::AlreadyReported(message).into());
        }
        Ok(())
    })
}

fn status(node: &Node, args: StatusArgs, json: bool) -> anyhow::Result<()> {
    let net = args.network.connect_reader(node)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let id = alloy::primitives::U256::from(args.job_id);
        let job = net.market.job(id).await?;
        anyhow::ensure!(job.state != gridmint_node::JobState::None, "there is no job {} on this network", args.job_id);
        let root = net.market.agreed_root(id).await?;
        let value = serde_json::json!({
            "jobId": args.job_id,
            "state": job.state.name(),
            "buyer": job.buyer.to_string(),
            "replicas": job.replicas,
            "claimants": job.claimants,
            "selected": job.selected.count_ones(),
            "committed": job.committed(),
            "revealed": job.revealed(),
            "claimDeadline": job.claim_deadline,
            "commitDeadline": job.commit_deadline(),
            "revealDeadline": job.reveal_deadline(),
            "agreedRoot": (!root.is_zero()).then(|| root.to_string()),
        });
        if json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!(
                "job {}: {} — {} of {} replicas claimed, {} committed, {} revealed",
                args.job_id,
                job.state.name(),
                job.claimants,
                job.replicas,
                job.committed(),
                job.revealed()
            );
            if !root.is_zero() {
                println!("agreed result root {root}");
            }
        }
        Ok(())
    })
}

fn default_out(node: &Node, job_id: alloy::primitives::U256) -> PathBuf {
    node.paths().data.join("results").join(format!("job-{job_id}"))
}

fn wait(node: &Node, args: WaitArgs, json: bool) -> anyhow::Result<()> {
    let net = args.network.connect(node)?;
    let store = Store::open(&node.paths().data.join("node.sqlite3"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // The claimants fetch the jobs' data from this node and deliver the results to it.
        buyer::start_buyer_peer(node.paths(), &net, args.spot_check, None).await?;
        let jobs = match args.job_id {
            Some(id) => vec![alloy::primitives::U256::from(id)],
            None => buyer::unfinished_jobs(&net).await?,
        };
        let mut results = Vec::new();
        for job_id in jobs {
            let stored = store.buyer_job_out(&buyer::state_key(&net), &job_id.to_string())?.map(PathBuf::from);
            let out = args.out.clone().or(stored).unwrap_or_else(|| default_out(node, job_id));
            eprintln!("waiting for job {job_id} (result to {})", out.display());
            let outcome =
                buyer::wait_and_fetch(&net, job_id, Some(&out), std::time::Duration::from_millis(500)).await?;
            results.push(serde_json::json!({
                "jobId": job_id.to_string(),
                "state": outcome.state.name(),
                "verified": outcome.verified,
                "agreedRoot": outcome.agreed_root.to_string(),
                "out": out.display().to_string(),
            }));
        }
        net.close_peer().await;
        if json {
            println!("{}", serde_json::to_string_pretty(&results)?);
        } else {
            for r in &results {
                println!("job {}: {}, verified {}, result in {}", r["jobId"], r["state"], r["verified"], r["out"]);
            }
        }
        if results.iter().any(|r| r["verified"] != true) {
            return Err(crate::AlreadyReported("a job ended without a verified result".to_owned()).into());
        }
        Ok(())
    })
}

/// `job submit --chain`: a finetune job as a chain of market jobs, one segment each.
async fn submit_chained(
    node: &Node,
    net: &Network,
    args: &SubmitArgs,
    options: &SubmitOptions,
    json: bool,
) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new().prefix("chain-").tempdir()?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let results = node.paths().data.join("results");
            std::fs::create_dir_all(&results)?;
            tempfile::Builder::new().prefix("chain-").tempdir_in(&results)?.keep()
        }
    };
    std::fs::create_dir_all(&out)?;
    eprintln!("the chain's links and result go to {} (run again with --out there to go on)", out.display());
    let chained =
        gridmint_node::chain::run_chain(node.paths(), net, &args.package, scratch.path(), &out, options, &mut |e| {
            match e.event {
                buyer::ShardEvent::Posted { attempt, posted, .. } => {
                    let again = if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                    eprintln!(
                        "link {}/{}: posted job {} ({} work units){again}",
                        e.link + 1,
                        e.links,
                        posted.job_id,
                        posted.work_units
                    );
                }
                buyer::ShardEvent::Ended { outcome, .. } => eprintln!(
                    "link {}/{}: job {} {}",
                    e.link + 1,
                    e.links,
                    outcome.job_id,
                    if outcome.verified {
                        format!("verified{}", segment_losses(&gridmint_node::chain::link_dir(&out, e.link)))
                    } else {
                        format!("NOT verified (state {})", outcome.state)
                    }
                ),
                buyer::ShardEvent::Reposting { attempt, .. } => eprintln!(
                    "link {}/{}: refunded without a result; posting it again from the same state (attempt {attempt})",
                    e.link + 1,
                    e.links
                ),
            }
        })
        .await;
    net.close_peer().await;
    let chained = chained?;
    let verified = chained.verified();
    let value = serde_json::json!({
        "jobIds": chained.job_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        "links": chained.total,
        "verified": verified,
        "trainedBy": chained.links.iter().map(|l| l.trained_by.clone()).collect::<Vec<_>>(),
        "out": out.display().to_string(),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for link in &chained.links {
            let by = if link.trained_by.is_empty() { "(not recorded)".to_owned() } else { link.trained_by.join(", ") };
            println!("link {}: job {}, trained by {by}", link.link, link.job_id);
        }
        println!("{} links, verified {verified}: the fine-tuned model in {}", chained.total, out.display());
    }
    if !verified {
        return Err(crate::AlreadyReported("a link of the chain ended without a verified result".to_owned()).into());
    }
    Ok(())
}

/// A verified link's losses as the buyer reads its progress: `; loss 0.693 to 0.612 over 5
/// steps` from the link's `metrics.json`, or nothing when it does not read.
fn segment_losses(link: &std::path::Path) -> String {
    let Ok(bytes) = std::fs::read(link.join("metrics.json")) else { return String::new() };
    let Ok(metrics) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return String::new() };
    let losses: Vec<f64> = metrics["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["losses"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_f64))
        .collect();
    match (losses.first(), losses.last()) {
        (Some(first), Some(last)) => format!("; loss {first:.4} to {last:.4} over {} steps", losses.len()),
        _ => String::new(),
    }
}

/// `job submit --shard-size`: one market job per shard, results joined in input order.
async fn submit_sharded(
    node: &Node,
    net: &Network,
    args: &SubmitArgs,
    options: &SubmitOptions,
    size: usize,
    json: bool,
) -> anyhow::Result<()> {
    let shards_dir = tempfile::Builder::new().prefix("shards-").tempdir()?;
    let shards = buyer::shard(&args.package, shards_dir.path(), size)?;
    let n = shards.len();
    // Without --out the result is named after the first shard's job, known only once it is posted:
    // the shards' results gather in a folder beside it first, then it is renamed.
    let results = node.paths().data.join("results");
    let gather = match &args.out {
        Some(out) => out.clone(),
        None => {
            std::fs::create_dir_all(&results)?;
            tempfile::Builder::new().prefix("sharded-").tempdir_in(&results)?.keep()
        }
    };
    let dirs: Vec<PathBuf> = (0..n).map(|i| gather.join("shards").join(format!("shard-{i:03}"))).collect();
    let mut first_job = None;
    let sharded = buyer::run_shards(node.paths(), net, &shards, &dirs, options, &mut |event| match event {
        buyer::ShardEvent::Posted { shard, attempt, posted } => {
            first_job.get_or_insert(posted.job_id);
            let again = if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            eprintln!(
                "shard {}/{n}: posted job {} ({} work units){again}",
                shard + 1,
                posted.job_id,
                posted.work_units
            );
        }
        buyer::ShardEvent::Ended { shard, outcome } => eprintln!(
            "shard {}/{n}: job {} {}",
            shard + 1,
            outcome.job_id,
            if outcome.verified { "verified".to_owned() } else { format!("NOT verified (state {})", outcome.state) }
        ),
        buyer::ShardEvent::Reposting { shard, attempt } => {
            eprintln!("shard {}/{n}: refunded without a result; posting it again (attempt {attempt})", shard + 1)
        }
    })
    .await;
    net.close_peer().await;
    let sharded = sharded?;
    let out = match (&args.out, first_job) {
        (Some(out), _) => out.clone(),
        (None, Some(first)) => {
            let out = default_out(node, first);
            std::fs::rename(&gather, &out)
                .with_context(|| format!("moving {} to {}", gather.display(), out.display()))?;
            out
        }
        (None, None) => gather,
    };
    let shard_outs: Vec<PathBuf> = (0..n).map(|i| out.join("shards").join(format!("shard-{i:03}"))).collect();
    let verified = sharded.verified();
    let posted = &sharded.job_ids;
    let generate = gridmint_runner::Package::open(&args.package)?.manifest.kind == gridmint_protocol::JobKind::Generate;
    let (rows, cols) = match (verified, generate) {
        (false, _) => (0, 0),
        (true, true) => (buyer::join_completions(&shard_outs, &out)?, 0),
        (true, false) => buyer::join_embeddings(&shard_outs, &out)?,
    };
    let value = serde_json::json!({
        "jobIds": posted.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        "shards": n,
        "reposted": posted.len() - n,
        "verified": verified,
        "rows": rows,
        "columns": cols,
        "out": out.display().to_string(),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if generate {
        println!("{n} shards, verified {verified}: {rows} completions in {}", out.join("completions.jsonl").display());
    } else {
        println!("{n} shards, verified {verified}: {rows} x {cols} embeddings in {}", out.display());
    }
    if !verified {
        return Err(crate::AlreadyReported("a shard ended without a verified result".to_owned()).into());
    }
    Ok(())
}
