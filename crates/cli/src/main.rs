//! `gridmint`: the headless node. Every command is a thin call into `gridmint-node`.

mod bench;
mod demo;
mod devnet;
mod gpus;
mod market;
mod run;
mod wallet;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use gridmint_node::{Node, NodeError, Paths};

#[derive(Debug, Parser)]
#[command(name = "gridmint", version, about = "Gridmint: an open marketplace for verifiable GPU compute")]
struct Cli {
    /// Keep config, data, cache and logs under this folder instead of the platform's directories.
    #[arg(long, global = true, env = "GRIDMINT_HOME")]
    home: Option<PathBuf>,
    /// Where model folders are found by name (default: the platform cache's `models`, also under --home).
    #[arg(long, global = true, env = "GRIDMINT_MODELS")]
    models: Option<PathBuf>,
    /// Print machine-readable JSON on stdout (errors as {"code", "message"}).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the compute devices Vulkan finds, and the host.
    Gpus,
    /// Start the local network: anvil, the contracts, funded test accounts.
    Devnet(devnet::DevnetArgs),
    /// The node's wallet, kept only in the OS keyring.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Serve jobs as a provider on a network.
    #[command(subcommand)]
    Provider(market::ProviderCommand),
    /// Buy compute: post a job package to a network.
    #[command(subcommand)]
    Job(market::JobCommand),
    /// This node's earnings, stake and reputation; `--withdraw` pays the balance out.
    Earnings(market::EarningsArgs),
    /// The regions a provider registers in and a buyer may allow, with what each covers.
    Regions,
    /// Network files: trust a market that is not this app's build.
    #[command(subcommand)]
    Network(market::NetworkCommand),
    /// The whole market on this machine: local chain, three providers (one corrupt), a buyer.
    Demo(demo::DemoArgs),
    /// Run a job package (folder or .zip with job.toml) on this machine, with no network.
    Run(run::RunArgs),
    /// Benchmark a device: deterministic GEMM, bandwidth, score, and a same-run reference.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = match &cli.home {
        Some(home) => {
            let machine = Paths::discover().map(|p| p.models);
            let models = cli.models.clone().or(machine).unwrap_or_else(|| home.join("cache").join("models"));
            Paths::under(home).with_models(models)
        }
        None => match Paths::discover() {
            Some(p) => p,
            None => {
                eprintln!("error: could not find a home directory; pass --home <dir> or set GRIDMINT_HOME");
                return ExitCode::FAILURE;
            }
        },
    };
    let paths = match &cli.models {
        Some(models) => paths.with_models(models.clone()),
        None => paths,
    };
    // The data folder the owner chose in the app (moved there first if a move waits).
    let (paths, move_error) = gridmint_node::paths::resolve_data(paths);
    if let Some(e) = move_error {
        eprintln!("warning: the data folder did not move ({e}); using {}", paths.data.display());
    }
    if let Err(e) = gridmint_node::paths::secure_folders(&paths) {
        eprintln!("warning: the app's folders are not restricted to their owner ({e})");
    }
    let _log_guard = gridmint_node::logging::init(&paths.logs, "gridmint.log", "warn")
        .map_err(|e| eprintln!("warning: logging to {} is off: {e}", paths.logs.display()))
        .ok();
    let node = Node::new(paths);
    let result = match cli.command {
        Command::Gpus => gpus::run(&node, cli.json),
        Command::Bench(args) => bench::run(&node, args, cli.json),
        Command::Wallet(command) => wallet::run(&node, command, cli.json),
        Command::Devnet(args) => devnet::run(&node, args, cli.json),
        Command::Run(args) => run::run(&node, args, cli.json),
        Command::Provider(command) => market::provider(&node, command, cli.json),
        Command::Job(command) => market::job(&node, command, cli.json),
        Command::Demo(args) => demo::run(&node, args, cli.json),
        Command::Earnings(args) => market::earnings(&node, args, cli.json),
        Command::Network(command) => market::network(command, cli.json),
        Command::Regions => {
            market::regions(cli.json);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err, cli.json);
            ExitCode::FAILURE
        }
    }
}

/// A failure whose JSON the command already printed (its result object says what went wrong):
/// exit non-zero without a second JSON object on stdout.
#[derive(Debug)]
pub struct AlreadyReported(pub String);

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AlreadyReported {}

/// Prints an error for people on stderr, and as `{code, message}` on stdout with `--json`.
fn report(err: &anyhow::Error, json: bool) {
    tracing::debug!(error = ?err, "command failed");
    eprintln!("error: {err:#}");
    if json && err.downcast_ref::<AlreadyReported>().is_none() {
        let api = match err.downcast_ref::<NodeError>() {
            Some(e) => e.to_api(),
            None => gridmint_protocol::ApiError::new(gridmint_protocol::ErrorCode::Internal, format!("{err:#}")),
        };
        println!("{}", serde_json::to_string(&api).unwrap_or_default());
    }
}
