//! `gridmint demo`: the whole market on this machine. Starts the local network, three provider
//! nodes as separate processes (one of them corrupts its results, a test-only flag), five
//! jury-only providers (some lying, with the test-only `--lying-jurors`) and a buyer that submits
//! an embedding job (or the package given with `--job`) with k = 3. The job must be verified,
//! the buyer's result must match a local run, the honest providers must be paid and the corrupt
//! ones slashed, a lying juror too.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, U256};
use anyhow::Context;
use gridmint_node::{
    Node, Paths,
    buyer::{self, SubmitOptions},
    devnet::{self, DevnetOptions},
    net::{self, Network},
};
use gridmint_runner as runner;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The anvil binary (`make setup` installs one under contracts/node_modules).
    #[arg(long, env = "GRIDMINT_ANVIL", default_value = "anvil")]
    anvil: PathBuf,
    /// Sentences in the demo's embedding job.
    #[arg(long, default_value_t = 100)]
    sentences: usize,
    /// A job package (a folder with its `job.toml`) to submit instead of the embedding job.
    #[arg(long, value_name = "DIR", conflicts_with = "sentences")]
    job: Option<PathBuf>,
    /// Seconds the providers have to claim the job (each claim is a transaction in a 1-second block).
    #[arg(long, default_value_t = 10)]
    claim_window: u64,
    /// How many providers corrupt their results (the last ones). With 2 the corrupt majority
    /// agrees on a wrong result: the buyer's spot check must catch it and challenge.
    #[arg(long, default_value_t = 1)]
    corrupt: u32,
    /// Test only: the corrupt providers compute a training or fine-tuning job right before this
    /// step (0 = the first epoch or segment) and wrongly from it on.
    #[arg(long, hide = true, value_name = "STEP")]
    corrupt_from_step: Option<usize>,
    /// Test only: how many of the jury-only providers vote against the step's truth (the first
    /// ones). While the honest jurors are the majority, the court outvotes and slashes them.
    #[arg(long, default_value_t = 0, hide = true)]
    lying_jurors: u32,
    /// Test only: the buyer refuses the job's data to its court's jurors (what a buyer colluding
    /// with a challenging replica would do); the jurors must get it from the job's replicas.
    #[arg(long, hide = true)]
    withholding_buyer: bool,
    /// Test only: the corrupt providers' processes are killed once the court game's first
    /// bisection round is on chain: a party that stops answering mid-bisection loses the game on
    /// its next deadline, and is slashed.
    #[arg(long, hide = true)]
    colluders_quit_mid_game: bool,
    /// The providers commit and reveal on chain themselves instead of handing the buyer their
    /// commitments: the buyer then checks the result and settles or challenges from the chain.
    #[arg(long)]
    no_relay: bool,
    /// Sentences or prompts the buyer re-executes before letting the providers' agreement settle
    /// the job (a training, fine-tuning or kernel job: above 0, one step drawn at random); 0: none.
    #[arg(long, default_value_t = 4)]
    spot_check: usize,
    /// Where the demo's folders go (chain profile, provider homes, logs, result); emptied first.
    /// Default: `<data>/demo`.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ProviderLine {
    address: String,
    corrupt: bool,
    /// Payment-token base units credited (withdrawable).
    earned: String,
    /// Stake lost to slashing, in protocol-token base units.
    slashed: String,
    /// Reputation score in basis points.
    reputation: u64,
}

#[derive(Debug, Serialize)]
struct JurorLine {
    address: String,
    /// Started to vote against the step's truth (`--lying-jurors`).
    lied: bool,
    /// Seats it held and revealed a vote for (each seat is drawn by stake on its own: a member
    /// may hold several, or none).
    seats: usize,
    /// Stake it gained as a juror of the majority, and lost as one against it or absent
    /// (protocol-token base units).
    gained: String,
    lost: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    job_verified: bool,
    /// `finalized` (settled by agreement, or by the court after a challenge), `refunded`, or
    /// `disputed` (a game still under way).
    job_state: String,
    /// What the court did, if the job was disputed: games, bisection rounds, the step judged, the
    /// jurors' votes, each game's verdict (true: the defending claim stood).
    dispute: Option<gridmint_node::net::CourtRecord>,
    /// Who could rule a dispute by fiat: nobody (the court has no arbiter).
    arbiter: Option<String>,
    result_matches_local_run: bool,
    job_id: String,
    agreed_root: String,
    providers: Vec<ProviderLine>,
    /// The jury-only providers (started when a dispute is expected).
    jurors: Vec<JurorLine>,
    /// From the buyer starting `submit` (package check, estimate, publish, post) to the verified
    /// result on disk.
    submit_to_verified_s: f64,
    /// The same job run once locally by the buyer on this machine (the compute alone).
    local_run_s: f64,
    /// The honest providers' time from claim to settlement not spent fetching and computing, as a
    /// share of that time (their mean).
    overhead_share: Option<f64>,
    elapsed_s: f64,
    folder: String,
}

const PROVIDERS: u32 = 3;
/// Jury-only providers started when a provider corrupts its results (a dispute is expected).
const JURORS: u32 = 5;
const BUYER_ACCOUNT: u32 = 4;

fn demo_sentences(n: usize) -> String {
    let subjects = ["The provider", "A buyer", "The market", "Every replica", "A verifier", "The network", "Our GPU"];
    let verbs = ["computes", "verifies", "settles", "embeds", "hashes", "checks", "pays for"];
    let objects =
        ["a sentence", "the same bits", "one dispatch", "the result root", "fair work", "the escrow", "a shard"];
    (0..n)
        .map(|i| format!("{} {} {} ({i}).", subjects[i % 7], verbs[(i / 7) % 7], objects[(i / 49 + i) % 7]))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// How a demo provider behaves.
#[derive(Debug, Clone, Copy, Default)]
struct Role {
    /// Corrupts its results (test only), from this step on.
    corrupt: Option<usize>,
    /// Hands the buyer its commitment (else commits and reveals on chain itself).
    relay: bool,
    /// Serves on juries only.
    juror: bool,
    /// As a juror, votes against the step's truth (test only).
    lie: bool,
}

fn spawn_provider(dir: &Path, profile: &Path, models: &Path, account: u32, role: Role) -> anyhow::Result<Child> {
    let Role { corrupt, relay, juror, lie } = role;
    let exe = std::env::current_exe().context("locating the gridmint binary")?;
    let home = dir.join(format!("provider-{account}"));
    std::fs::create_dir_all(&home)?;
    let log = std::fs::File::create(dir.join(format!("provider-{account}.log")))?;
    let report = std::fs::File::create(dir.join(format!("provider-{account}.json")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--home")
        .arg(&home)
        .arg("--models")
        .arg(models)
        .args(["--json", "provider", "start", "--network"])
        .arg(profile)
        .args(["--dev-account", &account.to_string()])
        .stdin(Stdio::null())
        .stdout(report)
        .stderr(log);
    if juror {
        // Serves on juries only, until the demo ends.
        cmd.arg("--jury-only");
    } else {
        cmd.args(["--exit-after-jobs", "1"]);
    }
    if let Some(step) = corrupt {
        cmd.args(["--corrupt-from-step", &step.to_string()]);
    }
    if lie {
        cmd.arg("--lie-as-juror");
    }
    if !relay {
        cmd.arg("--no-relay");
    }
    Ok(cmd.spawn()?)
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// With `quit`: kills `colluders` once the job's court game has its first bisection round on
/// chain (they stop answering mid-bisection). Returns at once without `quit`, and once the job
/// left the court or was never disputed.
async fn quit_mid_game(net: &Network, job_id: U256, colluders: &mut [Child], quit: bool) -> anyhow::Result<()> {
    if !quit {
        return Ok(());
    }
    loop {
        if net.court_record(job_id).await?.rounds >= 1 {
            for child in colluders.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            eprintln!("the colluding providers stopped mid-bisection (test)");
            return Ok(());
        }
        if !net.market.slot(job_id).await?.job_state()?.unsettled() {
            anyhow::bail!("job {job_id} ended before its court game had a bisection round");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn run(node: &Node, args: DemoArgs, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let corrupt = args.corrupt.min(PROVIDERS);
    if let Some(job) = &args.job {
        // A package that would be refused is refused before the network starts.
        runner::Package::open(job).with_context(|| format!("the job package {}", job.display()))?;
    }
    // A corrupt result is disputed: staked providers that are no party judge the step the game
    // comes down to (jury-only providers on the next accounts).
    let jurors = if corrupt > 0 { JURORS } else { 0 };
    let dir = args.dir.clone().unwrap_or_else(|| node.paths().data.join("demo"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let models = node.paths().models.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let summary = runtime.block_on(async {
        let chain_paths = Paths::under(&dir.join("chain"));
        // The devnet starts on this (the main) thread's runtime: anvil may die with it.
        let options = DevnetOptions {
            anvil: args.anvil.clone(),
            port: None,
            block_time: Some(1),
            accounts: 4 + jurors as usize,
            stop_with_thread: true,
            launcher: None,
            confirmations: 0,
            // Jobs that ask for memory, compute or the fused class take verified providers only
            // (the demo's jobs ask for none: its providers run no device check).
            verified_matching: true,
        };
        let devnet = devnet::start(&chain_paths, options).await?;
        let profile = devnet.profile_path.clone();
        eprintln!("local network {} (market {})", devnet.profile.rpc_url, devnet.profile.deployment.market);

        let mut children = Children(Vec::new());
        for account in 1..=PROVIDERS {
            let corrupt = (account > PROVIDERS - corrupt).then(|| args.corrupt_from_step.unwrap_or(0));
            let role = Role { corrupt, relay: !args.no_relay, ..Role::default() };
            children.0.push(spawn_provider(&dir, &profile, &models, account, role)?);
        }
        let mut juror_children = Children(Vec::new());
        for account in BUYER_ACCOUNT + 1..=BUYER_ACCOUNT + jurors {
            let lie = account <= BUYER_ACCOUNT + args.lying_jurors;
            let role = Role { relay: true, juror: true, lie, ..Role::default() };
            juror_children.0.push(spawn_provider(&dir, &profile, &models, account, role)?);
        }
        let mut buyer_net = Network::connect(&profile, net::dev_account(BUYER_ACCOUNT)?)?;
        if args.withholding_buyer {
            buyer_net = buyer_net.withholding_from_jurors();
        }
        let addresses: Vec<Address> =
            (1..=PROVIDERS).map(|a| net::dev_account(a).map(|s| s.address())).collect::<Result<_, _>>()?;
        let juror_addresses: Vec<Address> = (BUYER_ACCOUNT + 1..=BUYER_ACCOUNT + jurors)
            .map(|a| net::dev_account(a).map(|s| s.address()))
            .collect::<Result<_, _>>()?;
        // Wait for the registrations (each benchmarks its device first).
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut stakes = vec![U256::ZERO; addresses.len()];
        loop {
            for (i, a) in addresses.iter().enumerate() {
                stakes[i] = buyer_net.standing(*a).await?.1;
            }
            // The jurors are in once they entered the jury pool (after registering).
            let mut jurors_in = true;
            for a in &juror_addresses {
                jurors_in &= buyer_net.market.jury_since(*a).await? != 0;
            }
            if stakes.iter().all(|s| !s.is_zero()) && jurors_in {
                break;
            }
            for child in children.0.iter_mut().chain(juror_children.0.iter_mut()) {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!("a provider exited early ({status}); see the logs in {}", dir.display());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "providers did not register in 180 s; logs in {}",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if args.lying_jurors > 0 {
            // Every seat is drawn by stake on its own: liars holding 40% of the pool's stake (two
            // of five alike) would win a five-seat majority in a third of the draws. Here the
            // honest jurors add stake until they hold 99% of it, so what the demo shows is the
            // protocol's rule (the majority of seats decides, the liars lose stake), not a
            // draw's luck.
            for account in BUYER_ACCOUNT + 1 + args.lying_jurors..=BUYER_ACCOUNT + jurors {
                let juror = Network::connect(&profile, net::dev_account(account)?)?;
                let more = juror.standing(juror.address()).await?.1 * U256::from(150u64);
                juror.market.approve_stake(juror.address(), more).await?;
                juror.market.add_stake(more).await?;
            }
        }
        let mut juror_stakes = Vec::with_capacity(juror_addresses.len());
        for a in &juror_addresses {
            juror_stakes.push(buyer_net.standing(*a).await?.1);
        }
        let package = match &args.job {
            Some(job) => job.clone(),
            None => {
                let package = dir.join("job");
                std::fs::create_dir_all(&package)?;
                std::fs::write(
                    package.join("job.toml"),
                    "kind = \"embed\"\nmodel = \"all-MiniLM-L6-v2\"\ninput = \"sentences.txt\"\n",
                )?;
                std::fs::write(package.join("sentences.txt"), demo_sentences(args.sentences))?;
                package
            }
        };
        let kind = runner::Package::open(&package)?.manifest.kind;
        eprintln!("3 providers ({jurors} more on juries) registered; submitting a {} job with k = 3", kind.as_str());
        let buyer_paths = Paths::under(&dir.join("buyer")).with_models(models.clone());
        let options = SubmitOptions {
            replicas: 3,
            claim_window_s: args.claim_window,
            spot_check_rows: args.spot_check,
            ..SubmitOptions::default()
        };
        let submitted = Instant::now();
        let posted = buyer::submit(&buyer_paths, &buyer_net, &package, &options).await?;
        eprintln!("job {} posted ({} work units); waiting for the market", posted.job_id, posted.work_units);
        let result_dir = dir.join("result");
        let waited = buyer::wait_and_fetch(&buyer_net, posted.job_id, Some(&result_dir), options.poll);
        let colluders = (PROVIDERS - corrupt) as usize..PROVIDERS as usize;
        let quitting =
            quit_mid_game(&buyer_net, posted.job_id, &mut children.0[colluders], args.colluders_quit_mid_game);
        let (outcome, quit) = tokio::join!(waited, quitting);
        let outcome = outcome?;
        quit?;
        let submit_to_verified_s = submitted.elapsed().as_secs_f64();
        buyer_net.close_peer().await;
        let claimants = buyer_net.market.slot(posted.job_id).await?.claimants;
        anyhow::ensure!(
            claimants == 3,
            "only {claimants} of 3 providers claimed within the {} s claim window (see the logs in {})",
            args.claim_window,
            dir.display()
        );

        // The buyer's own check: run the same package here and compare roots.
        let gpu = node.open_gpu(None)?;
        let local_started = Instant::now();
        let local = runner::run(
            &buyer_paths,
            &gpu,
            &package,
            &dir.join("local-run"),
            runner::Package::open(&package)?.manifest.reproducibility,
            &mut |_| {},
        )?;
        let local_run_s = local_started.elapsed().as_secs_f64();
        let matches = format!("0x{}", local.result_root) == outcome.agreed_root.to_string();

        for child in &mut children.0 {
            let wait_until = Instant::now() + Duration::from_secs(60);
            while child.try_wait()?.is_none() && Instant::now() < wait_until {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let mut shares = Vec::new();
        for account in 1..PROVIDERS {
            let text = std::fs::read_to_string(dir.join(format!("provider-{account}.json"))).unwrap_or_default();
            if let Ok(report) = serde_json::from_str::<serde_json::Value>(text.trim()) {
                for job in report["jobs"].as_array().into_iter().flatten() {
                    if let (Some(total), Some(compute)) = (job["totalS"].as_f64(), job["computeS"].as_f64())
                        && total > 0.0
                    {
                        shares.push((total - compute) / total);
                    }
                }
            }
        }
        let overhead_share = (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64);
        let mut providers = Vec::new();
        for (i, a) in addresses.iter().enumerate() {
            let (earned, stake, score) = buyer_net.standing(*a).await?;
            providers.push(ProviderLine {
                address: a.to_string(),
                corrupt: i as u32 + 1 > PROVIDERS - corrupt,
                earned: earned.to_string(),
                slashed: stakes[i].saturating_sub(stake).to_string(),
                reputation: score.to::<u64>(),
            });
        }
        let votes = buyer_net.revealed_votes(posted.job_id).await?;
        let mut juror_lines = Vec::new();
        for (i, a) in juror_addresses.iter().enumerate() {
            let stake = buyer_net.standing(*a).await?.1;
            juror_lines.push(JurorLine {
                address: a.to_string(),
                lied: (i as u32) < args.lying_jurors,
                seats: votes.iter().filter(|(juror, _)| juror == a).count(),
                gained: stake.saturating_sub(juror_stakes[i]).to_string(),
                lost: juror_stakes[i].saturating_sub(stake).to_string(),
            });
        }
        let court = buyer_net.court_record(posted.job_id).await?;
        drop(devnet);
        anyhow::Ok(Summary {
            job_verified: outcome.verified,
            job_state: outcome.state.name().to_owned(),
            dispute: (court.games > 0).then_some(court),
            arbiter: None,
            result_matches_local_run: matches,
            job_id: posted.job_id.to_string(),
            agreed_root: outcome.agreed_root.to_string(),
            providers,
            jurors: juror_lines,
            submit_to_verified_s,
            local_run_s,
            overhead_share,
            elapsed_s: started.elapsed().as_secs_f64(),
            folder: dir.display().to_string(),
        })
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "job {} verified: {}   matches a local run: {}",
            summary.job_id, summary.job_verified, summary.result_matches_local_run
        );
        println!("agreed result root {}", summary.agreed_root);
        for p in &summary.providers {
            println!(
                "  {} {:<8} earned {:>10}  slashed {:>22}  reputation {:>5} bps",
                p.address,
                if p.corrupt { "corrupt" } else { "honest" },
                p.earned,
                p.slashed,
                p.reputation
            );
        }
        println!(
            "submit to verified {:.1} s (the same job alone here: {:.1} s); demo {:.1} s; logs and files in {}",
            summary.submit_to_verified_s, summary.local_run_s, summary.elapsed_s, summary.folder
        );
    }
    anyhow::ensure!(summary.job_verified && summary.result_matches_local_run, "the demo job was not verified");
    if corrupt * 2 > PROVIDERS {
        // A corrupt majority: the buyer's spot check or the outvoted honest replica challenges
        // its agreement, the court plays it out, the colluders lose and the honest result is paid.
        anyhow::ensure!(summary.dispute.is_some(), "the corrupt majority's result was not challenged");
        for p in &summary.providers {
            let slashed = p.slashed != "0";
            anyhow::ensure!(
                slashed == p.corrupt,
                "provider {} (corrupt: {}) slashed: {}",
                p.address,
                p.corrupt,
                p.slashed
            );
        }
        // A lying juror votes with the minority in every seat it holds: it loses stake if it held
        // one (the honest jurors hold 99% of the stake: it seldom does); an honest one never does.
        for j in &summary.jurors {
            let lost = j.lost != "0";
            anyhow::ensure!(
                lost == (j.lied && j.seats > 0),
                "juror {} (lied: {}, seats: {}) lost {} of its stake",
                j.address,
                j.lied,
                j.seats,
                j.lost
            );
        }
    }
    Ok(())
}
