//! A node's connection to a network: the profile (RPC, deployment), a signer, the market client,
//! the chain clock and the job events.

use std::path::{Path, PathBuf};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
    sol_types::SolEvent,
};
use gridmint_chain::{Market, bindings::Gridmint};

use crate::{NodeError, devnet::NetworkProfile, peer::Peer};

/// anvil's public test mnemonic: its accounts are the local network's test accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The signer of anvil's test account `index` (0 deploys; the devnet funds 1..). Only for the local
/// network: these keys are public.
pub fn dev_account(index: u32) -> Result<PrivateKeySigner, NodeError> {
    MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .map_err(|e| NodeError::Profile { path: PathBuf::from("(dev account)"), message: e.to_string() })
}

/// Work units on chain are GFLOP-sized: the runner's work units (one per floating-point operation,
/// see `gpu_engine::work`) rounded up to whole 10^9, so prices per unit stay in whole token base units.
pub const FLOPS_PER_CHAIN_UNIT: u64 = 1_000_000_000;

/// The on-chain work units of a job that the runner metered at `flops`.
pub fn chain_work_units(flops: u64) -> u64 {
    flops.div_ceil(FLOPS_PER_CHAIN_UNIT).max(1)
}

/// A connected node.
#[derive(Debug, Clone)]
pub struct Network {
    pub profile: NetworkProfile,
    pub profile_path: PathBuf,
    pub signer: PrivateKeySigner,
    pub market: Market<DynProvider>,
    /// The node's peer-to-peer endpoint, once [`Network::start_peer`] bound it.
    peer: std::sync::Arc<tokio::sync::OnceCell<Peer>>,
}

fn chain_error(call: &'static str) -> impl FnOnce(alloy::transports::TransportError) -> NodeError {
    move |e| NodeError::Chain(gridmint_chain::ChainError::Receipt { call, message: e.to_string() })
}

impl Network {
    pub fn connect(profile_path: &Path, signer: PrivateKeySigner) -> Result<Self, NodeError> {
        let profile = NetworkProfile::load(profile_path)?;
        let url = profile.rpc_url.parse().map_err(|e| NodeError::Profile {
            path: profile_path.to_owned(),
            message: format!("rpc_url `{}`: {e}", profile.rpc_url),
        })?;
        // Nonces from the node each time: a node sends one transaction at a time and some are
        // refused at estimation (NotSelected, a lost race), which must not leave a gap the way a
        // locally reserved nonce would (every later transaction would wait forever).
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(signer.clone())
            .connect_http(url)
            .erased();
        let market = Market::new(provider, profile.deployment);
        Ok(Self { peer: Default::default(), profile, profile_path: profile_path.to_owned(), signer, market })
    }

    /// Binds this node's peer-to-peer endpoint (once; later calls return the same one), with its
    /// blob store under `data` (the node's data folder).
    pub async fn start_peer(&self, data: &Path) -> Result<&Peer, NodeError> {
        self.peer.get_or_try_init(|| Peer::start(self, data)).await
    }

    /// Closes the endpoint (if it was started), telling connected peers.
    pub async fn close_peer(&self) {
        if let Some(peer) = self.peer.get() {
            peer.shutdown().await;
        }
    }

    /// The endpoint [`Network::start_peer`] bound.
    pub fn peer(&self) -> Result<&Peer, NodeError> {
        self.peer
            .get()
            .ok_or_else(|| NodeError::Exchange { message: "this node's peer endpoint is not started".into() })
    }

    /// The same connection without the endpoint (what the endpoint's own handlers hold).
    pub(crate) fn without_peer(&self) -> Self {
        Self { peer: Default::default(), ..self.clone() }
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The latest block's timestamp: the clock every deadline is measured by.
    pub async fn now(&self) -> Result<u64, NodeError> {
        let block = self
            .market
            .contract()
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(chain_error("latest block"))?;
        Ok(block.map_or(0, |b| b.header.timestamp))
    }

    pub async fn block_number(&self) -> Result<u64, NodeError> {
        self.market.contract().provider().get_block_number().await.map_err(chain_error("block number"))
    }

    /// `JobPosted` events in blocks `from..=to`.
    pub async fn posted_jobs(&self, from: u64, to: u64) -> Result<Vec<Gridmint::JobPosted>, NodeError> {
        self.posted(None, from, to).await
    }

    /// The `JobPosted` event of one job (`jobId` is an indexed topic: the node filters, not us).
    pub async fn posted_job(&self, job_id: U256) -> Result<Option<Gridmint::JobPosted>, NodeError> {
        let head = self.block_number().await?;
        Ok(self.posted(Some(job_id), self.profile.deployment.start_block, head).await?.into_iter().next())
    }

    async fn posted(&self, job: Option<U256>, from: u64, to: u64) -> Result<Vec<Gridmint::JobPosted>, NodeError> {
        let mut filter = Filter::new()
            .address(self.profile.deployment.market)
            .event_signature(Gridmint::JobPosted::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        if let Some(job) = job {
            filter = filter.topic1(alloy::primitives::B256::from(job));
        }
        let logs = self.market.contract().provider().get_logs(&filter).await.map_err(chain_error("get_logs"))?;
        logs.iter()
            .map(|log| {
                log.log_decode::<Gridmint::JobPosted>().map(|l| l.inner.data).map_err(|e| {
                    NodeError::Chain(gridmint_chain::ChainError::Receipt {
                        call: "decode JobPosted",
                        message: e.to_string(),
                    })
                })
            })
            .collect()
    }

    /// Where an account's withdrawals go, and that address's payment-token balance.
    pub async fn payout(&self, who: Address) -> Result<(Address, u128), NodeError> {
        let c = self.market.contract();
        let to = c
            .payoutOf(who)
            .call()
            .await
            .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("payoutOf", e)))?;
        let usd = gridmint_chain::bindings::MockStablecoin::new(self.profile.deployment.payment_token, c.provider());
        let balance = usd
            .balanceOf(to)
            .call()
            .await
            .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("balanceOf", e)))?;
        Ok((to, balance.saturating_to()))
    }

    /// The payment-token balance an account can withdraw, its stake, and its reputation score (bps).
    pub async fn standing(&self, who: Address) -> Result<(u128, U256, U256), NodeError> {
        let c = self.market.contract();
        let account = self.market.account(who).await?;
        let provider = c
            .providerOf(who)
            .call()
            .await
            .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("providerOf", e)))?;
        let score = c
            .reputationScore(who)
            .call()
            .await
            .map_err(|e| NodeError::Chain(gridmint_chain::ChainError::from_contract("reputationScore", e)))?;
        Ok((account.balance, U256::from(provider.stake), score))
    }
}
