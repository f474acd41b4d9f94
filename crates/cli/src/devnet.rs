//! `gridmint devnet`: the embedded local network, until Ctrl-C.

use std::path::PathBuf;

use gridmint_node::{
    Node,
    devnet::{self, DevnetOptions},
};

#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Port for the RPC endpoint (a free one by default).
    #[arg(long)]
    port: Option<u16>,
    /// Seconds per block; 0 mines every transaction at once.
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// How many test accounts to fund.
    #[arg(long, default_value_t = 5)]
    accounts: usize,
    /// The anvil binary (`make setup` installs one under contracts/node_modules).
    #[arg(long, env = "GRIDMINT_ANVIL", default_value = "anvil")]
    anvil: PathBuf,
    /// Blocks a job's posting must be under before providers act on it (written to the profile).
    #[arg(long, default_value_t = 0)]
    confirmations: u64,
    /// Jobs that ask for memory, compute or the fused class go only to providers whose device
    /// check passed (start jury-only providers and providers with `--device-check` too).
    #[arg(long)]
    verified_matching: bool,
}

pub fn run(node: &Node, args: DevnetArgs, json: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let options = DevnetOptions {
            anvil: args.anvil,
            port: args.port,
            block_time: Some(args.block_time),
            accounts: args.accounts,
            // Started from the main thread, which lives as long as the devnet.
            stop_with_thread: true,
            launcher: None,
            confirmations: args.confirmations,
            verified_matching: args.verified_matching,
        };
        let devnet = devnet::start(node.paths(), options).await?;
        let p = &devnet.profile;
        if json {
            println!("{}", serde_json::to_string(p)?);
        } else {
            println!("local network   {}", p.rpc_url);
            println!("chain id        {}", p.deployment.chain_id);
            println!("market          {}", p.deployment.market);
            println!("payment token   {} (gUSD)", p.deployment.payment_token);
            println!("stake token     {} (GRID)", p.deployment.stake_token);
            println!("funded          {} accounts", p.funded_accounts.len());
            println!("profile         {}", devnet.profile_path.display());
        }
        eprintln!("devnet running; Ctrl-C stops it");
        tokio::signal::ctrl_c().await?;
        eprintln!("stopping the devnet");
        Ok(())
    })
}
