//! A market on a real anvil and its accounts, for the benchmark examples (`gas_bench`, and
//! `dispute_bench` in gridmint-node, which includes this file).

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use gridmint_chain::{Market, bindings::GridToken};

pub struct Net {
    pub url: alloy::transports::http::reqwest::Url,
    pub keys: Vec<PrivateKeySigner>,
    pub chain_id: u64,
    pub market: Market<DynProvider>,
}

impl Net {
    /// Deploys the market with `config` on `anvil` (from its first account).
    pub async fn deploy(
        anvil: &AnvilInstance,
        config: gridmint_chain::bindings::GridmintStorage::Config,
    ) -> anyhow::Result<Self> {
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
        let deployer = ProviderBuilder::new().wallet(keys[0].clone()).connect_http(anvil.endpoint_url()).erased();
        let market = Market::deploy(deployer, config).await?;
        Ok(Self { url: anvil.endpoint_url(), keys, chain_id: anvil.chain_id(), market })
    }

    /// Gives accounts `accounts` the protocol token and registers each as a provider with it.
    pub async fn register(&self, accounts: std::ops::RangeInclusive<usize>) -> anyhow::Result<()> {
        let admin = self.as_wallet(0);
        let grid = GridToken::new(self.market.deployment().stake_token, admin.contract().provider().clone());
        let stake = U256::from(10).pow(U256::from(21));
        for i in accounts {
            let address = self.keys[i].address();
            let sent = grid.transfer(address, stake).send().await?.get_receipt().await?;
            anyhow::ensure!(sent.status(), "the stake transfer to account {i} reverted");
            let provider = self.as_wallet(i);
            provider.approve_all(address).await?;
            provider.register(keccak256("llvmpipe"), 2048, 100, 3, 0xff, stake, Address::ZERO).await?;
        }
        Ok(())
    }

    /// The market, sending from account `i`.
    pub fn as_wallet(&self, i: usize) -> Market<DynProvider> {
        let provider = ProviderBuilder::new().wallet(self.keys[i].clone()).connect_http(self.url.clone()).erased();
        self.market.with_provider(provider)
    }

    /// Moves the chain's clock on and mines a block.
    pub async fn advance(&self, seconds: u64) -> anyhow::Result<()> {
        let provider = ProviderBuilder::new().connect_http(self.url.clone());
        provider.anvil_increase_time(seconds).await?;
        provider.anvil_mine(Some(1), None).await?;
        Ok(())
    }

    /// The latest block's time.
    pub async fn now(&self) -> anyhow::Result<u64> {
        let provider = ProviderBuilder::new().connect_http(self.url.clone());
        let block = provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await?;
        Ok(block.ok_or_else(|| anyhow::anyhow!("no latest block"))?.header.timestamp)
    }
}
