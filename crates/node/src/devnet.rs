//! The embedded local network: anvil on a free port, the contracts deployed from their compiled
//! artifacts, test accounts funded with test dollars and stake, and a network profile written to
//! `<config>/networks/local.json` for every node on this machine to read.

use std::path::{Path, PathBuf};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use gridmint_chain::{
    Deployment, Market,
    bindings::{GridToken, MockStablecoin},
    deployment::local_config,
};
use serde::{Deserialize, Serialize};

use crate::{NodeError, Paths};

/// How to reach a network: what every node of it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfile {
    pub name: String,
    pub rpc_url: String,
    pub deployment: Deployment,
    /// Accounts funded with test dollars and stake (the devnet's only).
    pub funded_accounts: Vec<Address>,
    /// Blocks a job's posting must be under before a provider acts on it: a reorg shallower than
    /// this cannot take back a job the provider claimed. 0 on the devnet (anvil does not reorg
    /// by itself).
    #[serde(default)]
    pub confirmations: u64,
    /// The fingerprint of a market's code the owner chose to trust although it is not this app's
    /// build (`gridmint network trust`); `None`: only this app's build is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_market_code: Option<alloy::primitives::B256>,
}

impl NetworkProfile {
    pub fn path(paths: &Paths, name: &str) -> PathBuf {
        paths.config.join("networks").join(format!("{name}.json"))
    }

    /// Reads a network file (one that may have come from anyone: at most 1 MiB, or refused).
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let bytes = gridmint_runner::package::read_within(path, 1 << 20).map_err(|source| NodeError::Io {
            what: "reading",
            path: path.into(),
            source,
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| NodeError::Profile { path: path.into(), message: format!("not UTF-8: {e}") })?;
        serde_json::from_str(&text).map_err(|e| NodeError::Profile { path: path.into(), message: e.to_string() })
    }

    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        let io = |source| NodeError::Io { what: "writing", path: path.into(), source };
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| NodeError::Profile { path: path.into(), message: e.to_string() })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// How to start the devnet.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    pub port: Option<u16>,
    /// Seconds per block; `None` mines each transaction at once.
    pub block_time: Option<u64>,
    /// How many of anvil's accounts (after the deployer) to fund.
    pub accounts: usize,
    /// Have the kernel kill anvil when the thread that starts it ends, even if this process is
    /// killed outright (Linux `setpriv --pdeathsig`, where util-linux has it). Only for a caller
    /// whose starting thread lives as long as the network: the main thread, or a dedicated one.
    pub stop_with_thread: bool,
    /// A program that starts anvil on the caller's behalf: run with anvil's arguments and
    /// [`ANVIL_LAUNCHER_ENV`] naming the anvil binary, it runs it and ends it when it ends itself.
    /// The desktop agent on Windows (no console window for anvil, anvil in a job object that
    /// ends with the agent); `None` starts anvil directly.
    pub launcher: Option<PathBuf>,
    /// Written into the profile (see [`NetworkProfile::confirmations`]).
    pub confirmations: u64,
    /// Jobs that ask for memory, compute or the fused class fit only providers a device check
    /// verified (the market's `verifiedMatching`): for a network with a jury pool to judge the
    /// checks; a one-machine network without one matches on the declared figures.
    pub verified_matching: bool,
}

/// The environment variable that names the anvil binary to a [`DevnetOptions::launcher`].
pub const ANVIL_LAUNCHER_ENV: &str = "GRIDMINT_ANVIL_LAUNCH";

/// A launcher that execs anvil with the parent-death signal set, so that a killed node leaves no
/// anvil behind; `None` where `setpriv` is missing (anvil then outlives a SIGKILL of the node), or
/// off Linux (where `setpriv` would be some other program).
#[cfg(not(target_os = "linux"))]
fn guarded_anvil(_paths: &Paths, _anvil: &Path) -> Option<PathBuf> {
    None
}

/// See the other platforms' `guarded_anvil`.
#[cfg(target_os = "linux")]
fn guarded_anvil(paths: &Paths, anvil: &Path) -> Option<PathBuf> {
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().map(Path::new).find(|p| p.is_file())?;
    let script = paths.data.join("anvil-guard.sh");
    let quoted = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let text = format!("#!/bin/sh\nexec {} --pdeathsig KILL -- {} \"$@\"\n", quoted(setpriv), quoted(anvil));
    std::fs::create_dir_all(&paths.data).ok()?;
    std::fs::write(&script, text).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).ok()?;
    }
    Some(script)
}

/// A running devnet; anvil stops when this is dropped.
#[derive(Debug)]
pub struct Devnet {
    _anvil: AnvilInstance,
    pub profile: NetworkProfile,
    pub profile_path: PathBuf,
}

/// Test dollars (6 decimals) and stake (18 decimals) each funded account gets.
pub const FUNDED_USD: u64 = 1_000_000 * 1_000_000;
pub const FUNDED_GRID: u128 = 10_000 * 10u128.pow(18);

/// Starts anvil, deploys, funds, writes the profile.
pub async fn start(paths: &Paths, options: DevnetOptions) -> Result<Devnet, NodeError> {
    // Keep the last 256 states in memory and none on disk: anvil otherwise dumps old states under
    // ~/.foundry/anvil/tmp, which grows without bound on a long-running local network. (Keeping
    // none breaks reads racing a new block: "block height is 7 but requested was 6".)
    let anvil = match &options.launcher {
        Some(launcher) => Anvil::at(launcher).env(ANVIL_LAUNCHER_ENV, &options.anvil),
        None if options.stop_with_thread && options.anvil.is_file() => {
            Anvil::at(guarded_anvil(paths, &options.anvil).unwrap_or_else(|| options.anvil.clone()))
        }
        None => Anvil::at(&options.anvil),
    };
    let mut anvil = anvil.args(["--prune-history", "256"]);
    if let Some(port) = options.port {
        anvil = anvil.port(port);
    }
    if let Some(seconds) = options.block_time.filter(|s| *s > 0) {
        anvil = anvil.block_time(seconds);
    }
    let anvil =
        anvil.try_spawn().map_err(|e| NodeError::Anvil { binary: options.anvil.clone(), message: e.to_string() })?;
    let deployer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let deployer_address = deployer.address();
    let provider = ProviderBuilder::new().wallet(deployer).connect_http(anvil.endpoint_url()).erased();
    let market = Market::deploy(provider.clone(), local_config(deployer_address, options.verified_matching)).await?;
    let deployment = *market.deployment();
    let usd = MockStablecoin::new(deployment.payment_token, provider.clone());
    let grid = GridToken::new(deployment.stake_token, provider.clone());
    let chain = |call: &'static str| {
        move |e: alloy::contract::Error| NodeError::Chain(gridmint_chain::ChainError::from_contract(call, e))
    };
    let funded: Vec<Address> =
        anvil.addresses().iter().skip(1).take(options.accounts.min(anvil.addresses().len() - 1)).copied().collect();
    let mut pending = Vec::new();
    for account in &funded {
        pending.push(usd.mint(*account, U256::from(FUNDED_USD)).send().await.map_err(chain("mint"))?);
        pending.push(grid.transfer(*account, U256::from(FUNDED_GRID)).send().await.map_err(chain("transfer"))?);
    }
    for tx in pending {
        tx.get_receipt().await.map_err(|e| {
            NodeError::Chain(gridmint_chain::ChainError::Receipt { call: "funding", message: e.to_string() })
        })?;
    }
    let profile = NetworkProfile {
        name: "local".into(),
        rpc_url: anvil.endpoint(),
        deployment,
        funded_accounts: funded,
        confirmations: options.confirmations,
        trusted_market_code: None,
    };
    let profile_path = NetworkProfile::path(paths, "local");
    profile.save(&profile_path)?;
    tracing::info!(rpc = %profile.rpc_url, market = %deployment.market, "devnet running");
    Ok(Devnet { _anvil: anvil, profile, profile_path })
}
