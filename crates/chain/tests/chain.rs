//! The chain crate against a real anvil, through the generated bindings.
//!
//! Needs anvil (`make setup` installs it under contracts/node_modules) and the compiled
//! contracts. Skips without anvil unless GRIDMINT_REQUIRE_CHAIN=1 (set by `make test`).
//!
//! Module map:
//! - `support`: anvil, wallets, a deployed market.
//! - `lifecycle`: one full job with k = 3 driven through the bindings, and its receipt gas.
//! - `reverts`: custom errors decoded into typed values.

mod support {
    use std::path::PathBuf;

    use alloy::{
        node_bindings::{Anvil, AnvilInstance},
        primitives::{Address, U256, keccak256},
        providers::ext::AnvilApi,
        providers::{DynProvider, Provider, ProviderBuilder},
        signers::local::PrivateKeySigner,
    };
    use gridmint_chain::{
        Market,
        bindings::{GridToken, MockStablecoin},
    };

    pub fn anvil_binary() -> Option<PathBuf> {
        let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        if bundled.is_file() {
            return Some(bundled);
        }
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("anvil")).find(|p| p.is_file()))
    }

    pub struct Chain {
        pub anvil: AnvilInstance,
        pub market: Market<DynProvider>,
    }

    impl Chain {
        pub fn wallet(&self, i: usize) -> (Address, Market<DynProvider>) {
            let signer: PrivateKeySigner = self.anvil.keys()[i].clone().into();
            let address = signer.address();
            let provider = ProviderBuilder::new().wallet(signer).connect_http(self.anvil.endpoint_url()).erased();
            (address, self.market.with_provider(provider))
        }

        /// Providers 1..=n, each given 1,000 GRID and registered with all of it as stake.
        pub async fn providers(&self, n: usize) -> Vec<(Address, Market<DynProvider>)> {
            let deployment = *self.market.deployment();
            let (_, deployer) = self.wallet(0);
            let stake = U256::from(10).pow(U256::from(21));
            let grid = GridToken::new(deployment.stake_token, deployer.contract().provider().clone());
            let mut providers = Vec::new();
            for i in 1..=n {
                let (address, market) = self.wallet(i);
                grid.transfer(address, stake).send().await.expect("send").get_receipt().await.expect("fund GRID");
                market.approve_stake(address, stake).await.expect("approve");
                market
                    .register(keccak256("llvmpipe"), 2048, 100, 3, 0xff, stake, Address::ZERO)
                    .await
                    .expect("register");
                providers.push((address, market));
            }
            providers
        }

        /// Account 4, given a billion test-dollar base units.
        pub async fn buyer(
            &self,
        ) -> (Address, Market<DynProvider>, MockStablecoin::MockStablecoinInstance<DynProvider>) {
            let (address, buyer) = self.wallet(4);
            let usd = MockStablecoin::new(self.market.deployment().payment_token, buyer.contract().provider().clone());
            usd.mint(address, U256::from(1_000_000_000u64))
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("mint");
            (address, buyer, usd)
        }

        pub async fn advance(&self, seconds: u64) {
            let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
            provider.anvil_increase_time(seconds).await.expect("increase time");
            provider.anvil_mine(Some(1), None).await.expect("mine");
        }

        pub async fn now(&self) -> u64 {
            let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
            let block = provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .expect("block")
                .expect("latest");
            block.header.timestamp
        }
    }

    /// A job of `replicas` posted at chain time `now`: claims for 30 s, commits by 300 s, reveals
    /// by 600 s, 1,000 base units per work unit up to 10,000, open to every provider.
    pub fn job(now: u64, replicas: u8) -> gridmint_chain::bindings::Gridmint::JobParams {
        use alloy::primitives::Uint;
        gridmint_chain::bindings::Gridmint::JobParams {
            specHash: keccak256("job.toml"),
            dataRoot: keccak256("sentences.txt"),
            dataPeer: keccak256("endpoint"),
            requirements: gridmint_chain::bindings::Gridmint::Requirements {
                minMemoryMiB: 0,
                minComputeUnits: 0,
                regionMask: 0,
                workloadClass: 0,
            },
            replicas,
            // 1,000 payment-token base units per work unit (prices are in millionths of one).
            pricePerUnit: Uint::<96, 2>::from(1_000_000_000u64),
            maxWorkUnits: 10_000,
            claimDeadline: Uint::<40, 1>::from(now + 30),
            commitDeadline: Uint::<40, 1>::from(now + 300),
            revealDeadline: Uint::<40, 1>::from(now + 600),
        }
    }

    pub async fn chain() -> Option<Chain> {
        let Some(binary) = anvil_binary() else {
            assert!(
                std::env::var("GRIDMINT_REQUIRE_CHAIN").as_deref() != Ok("1"),
                "GRIDMINT_REQUIRE_CHAIN=1 but no anvil; run `make setup`"
            );
            eprintln!("SKIPPED: no anvil");
            return None;
        };
        let anvil = Anvil::at(binary).try_spawn().expect("anvil starts");
        let deployer: PrivateKeySigner = anvil.keys()[0].clone().into();
        let deployer_address = deployer.address();
        let provider = ProviderBuilder::new().wallet(deployer).connect_http(anvil.endpoint_url()).erased();
        // Declared figures matched: these tests' providers pass no device check (the node's
        // `device_checks` test checks a network that matches verified ones).
        let config = gridmint_chain::deployment::local_config(deployer_address, false);
        let market = Market::deploy(provider, config).await.expect("the market deploys");
        Some(Chain { anvil, market })
    }
}

mod lifecycle {
    use alloy::primitives::{B256, U256, keccak256};
    use gridmint_chain::{
        bindings::{Gridmint, MockStablecoin},
        commitment,
    };

    use super::support::chain;

    #[tokio::test]
    async fn one_job_with_three_replicas_settles_through_the_bindings() {
        let Some(chain) = chain().await else { return };
        let deployment = *chain.market.deployment();
        // Three providers get stake and register; a buyer gets test dollars.
        let providers = chain.providers(3).await;
        let (buyer_address, buyer, _) = chain.buyer().await;
        buyer.approve_all(buyer_address).await.expect("approve");

        let now = chain.now().await;
        let mut params = super::support::job(now, 3);
        params.requirements =
            Gridmint::Requirements { minMemoryMiB: 1024, minComputeUnits: 10, regionMask: 0, workloadClass: 1 };
        let mut gas = 0u64;
        let posted = buyer.post_job(params.clone()).await.expect("post");
        gas += posted.receipt.gas_used;
        let job_id = posted.value;
        let mut indices = Vec::new();
        for (_, market) in &providers {
            let claimed = market.claim(job_id).await.expect("claim");
            gas += claimed.receipt.gas_used;
            indices.push(claimed.value);
        }
        chain.advance(31).await;

        let root = B256::repeat_byte(0xab);
        let work_units = 7_000u64;
        // The three providers commit at the same moment, then reveal at the same moment: each
        // call carries the job's trail, so all but the first find it stale and rebuild it.
        let commit = |i: usize| {
            let (address, market) = &providers[i];
            let index = indices[i];
            async move {
                let salt = keccak256(address.as_slice());
                let c = commitment(root, work_units, salt, *address);
                let on_chain = market
                    .contract()
                    .commitmentOf(root, work_units, salt, *address)
                    .call()
                    .await
                    .expect("commitmentOf");
                assert_eq!(c, on_chain, "the Rust commitment is the contract's");
                market.commit(job_id, index, c).await.expect("concurrent commit").receipt.gas_used
            }
        };
        let (a, b, c) = tokio::join!(commit(0), commit(1), commit(2));
        gas += a + b + c;
        let trail = buyer.trail(job_id).await.expect("trail");
        // A block at a time (public RPC nodes cap the range), and again from the cached posting
        // block: the same trail.
        let narrow = buyer.clone().with_log_window(1);
        for _ in 0..2 {
            let windowed = narrow.trail(job_id).await.expect("trail in 1-block windows");
            use alloy::sol_types::SolValue as _;
            assert_eq!(windowed.abi_encode(), trail.abi_encode(), "the same trail, window by window");
        }
        assert_eq!(trail.claimants, providers.iter().map(|(a, _)| *a).collect::<Vec<_>>(), "claimants in order");
        assert_eq!(trail.commits.len(), 3, "every commitment in the rebuilt trail");
        // The Rust mirror of the trail hash (gridmint_chain::trail) is the market's.
        let kept = buyer.contract().trailOf(job_id).call().await.expect("trailOf");
        assert_eq!(gridmint_chain::trail::hash(job_id, &trail), kept, "the rebuilt trail hashes to trailOf");
        let mut stale = trail.clone();
        stale.commits.pop();
        assert_ne!(gridmint_chain::trail::hash(job_id, &stale), kept, "a trail missing a commitment does not");
        let reveal = |i: usize| {
            let (address, market) = &providers[i];
            let index = indices[i];
            async move {
                let salt = keccak256(address.as_slice());
                market.reveal(job_id, index, root, work_units, salt).await.expect("concurrent reveal").receipt.gas_used
            }
        };
        let (a, b, c) = tokio::join!(reveal(0), reveal(1), reveal(2));
        gas += a + b + c;
        // The providers' own reveals wait for the buyer's check: the buyer accepts the result.
        assert_eq!(buyer.job(job_id).await.expect("job").state, gridmint_chain::JobState::Running, "not settled yet");
        gas += buyer.finalize(job_id).await.expect("the buyer accepts").receipt.gas_used;
        eprintln!(
            "receipt gas of the whole k=3 lifecycle, one transaction per step (first job on a fresh chain): {gas}"
        );

        let job = buyer.job(job_id).await.expect("job");
        assert_eq!(job.state, gridmint_chain::JobState::Finalized, "Finalized by the buyer");
        assert_eq!(buyer.agreed_root(job_id).await.expect("root"), root, "the agreed root is on chain");
        let (first, first_market) = &providers[0];
        let account = buyer.account(*first).await.expect("account");
        assert_eq!(account.balance, 1_000u128 * 7_000, "paid for the reported work");
        assert_eq!(buyer.reputation(*first).await.expect("reputation").agreed, 1, "reputation grows");
        first_market.withdraw().await.expect("withdraw");

        // The batched path: commitments signed off chain and carried by the buyer in one
        // transaction, every reveal in another (the buyer's: it accepts), which settles the job.
        let now = chain.now().await;
        let mut second = params.clone();
        second.claimDeadline = alloy::primitives::Uint::<40, 1>::from(now + 30);
        second.commitDeadline = alloy::primitives::Uint::<40, 1>::from(now + 300);
        second.revealDeadline = alloy::primitives::Uint::<40, 1>::from(now + 600);
        let job_id = buyer.post_job(second).await.expect("post").value;
        for (_, market) in &providers {
            market.claim(job_id).await.expect("claim");
        }
        chain.advance(31).await;
        let chain_id = chain.anvil.chain_id();
        let mut commits = Vec::new();
        let mut reveals = Vec::new();
        for (i, (address, _)) in providers.iter().enumerate() {
            let signer: alloy::signers::local::PrivateKeySigner = chain.anvil.keys()[i + 1].clone().into();
            let salt = keccak256(address.as_slice());
            let c = commitment(root, work_units, salt, *address);
            let index = U256::from(i);
            let digest = gridmint_chain::commit_digest(chain_id, deployment.market, job_id, index, c);
            let on_chain = buyer.contract().commitDigest(job_id, index, c).call().await.expect("commitDigest");
            assert_eq!(digest, on_chain, "the Rust digest is the contract's");
            commits.push(
                gridmint_chain::sign_commit(&signer, chain_id, deployment.market, job_id, index, c)
                    .await
                    .expect("sign"),
            );
            reveals.push(Gridmint::Reveal { index, resultRoot: root, workUnits: work_units, salt });
        }
        buyer.commit_signed(job_id, commits).await.expect("signed commits");
        buyer.reveal_batch(job_id, reveals).await.expect("batched reveals");
        assert_eq!(
            buyer.job(job_id).await.expect("job").state,
            gridmint_chain::JobState::Finalized,
            "Finalized in two transactions"
        );
        assert_eq!(buyer.agreed_root(job_id).await.expect("root"), root);
        let usd_view = MockStablecoin::new(deployment.payment_token, first_market.contract().provider().clone());
        assert_eq!(
            usd_view.balanceOf(*first).call().await.expect("balance"),
            U256::from(7_000_000u64),
            "earnings arrive"
        );

        // Rewards: half of each finished epoch's fees, back to the providers paid in it, in
        // proportion to their pay; once claimed, there is nothing more.
        assert!(first_market.claim_rewards().await.expect("claim").is_none(), "the epoch is not over");
        chain.advance(86_400).await;
        let claimed = first_market.claim_rewards().await.expect("claim").expect("rewards after the epoch");
        // Both jobs paid 7,000,000 per provider (a third of the epoch's pay): fees 2.5%, half back.
        let fees = U256::from(3u64 * 2 * 7_000_000 * 250 / 10_000);
        assert_eq!(claimed.value, fees / U256::from(2u64) / U256::from(3u64), "a third of half the fees");
        assert_eq!(
            usd_view.balanceOf(*first).call().await.expect("balance"),
            U256::from(7_000_000u64) + claimed.value,
            "rewards arrive in the payment token"
        );
        assert!(first_market.claim_rewards().await.expect("claim").is_none(), "claimed once");
    }
}

mod attacks {
    use alloy::primitives::{B256, U256, keccak256};
    use gridmint_chain::commitment;

    use super::support::chain;

    /// Through the bindings: a selected replica that cannot run its job leaves it without a
    /// slash; the other reveals on chain itself, which does not settle the job before the buyer
    /// checks; the buyer challenges from the chain alone, approving exactly the bond.
    #[tokio::test]
    async fn attack_colluders_who_reveal_themselves_meet_a_bonded_challenge_from_the_chain_alone() {
        let Some(chain) = chain().await else { return };
        let providers = chain.providers(2).await;
        let (buyer_address, buyer, usd) = chain.buyer().await;
        let now = chain.now().await;
        let params = super::support::job(now, 2);
        let escrow =
            buyer.contract().escrowFor(params.pricePerUnit, params.maxWorkUnits, 2).call().await.expect("escrow");
        buyer.approve_payment(buyer_address, escrow.payment + escrow.fee).await.expect("approve escrow");
        let job_id = buyer.post_job(params).await.expect("post").value;
        for (_, market) in &providers {
            market.claim(job_id).await.expect("claim");
        }
        chain.advance(31).await;
        buyer.select_replicas(job_id).await.expect("select");
        let (leaver, leaver_market) = &providers[1];
        let stake_before = buyer.contract().providerOf(*leaver).call().await.expect("provider").stake;
        leaver_market.leave_job(job_id, U256::from(1)).await.expect("the replica that cannot run leaves");
        assert_eq!(buyer.slot(job_id).await.expect("slot").selected, 1, "one replica left");

        let (address, market) = &providers[0];
        let (root, units, salt) = (B256::repeat_byte(0xbd), 7_000u64, keccak256(address.as_slice()));
        market.commit(job_id, U256::ZERO, commitment(root, units, salt, *address)).await.expect("commit");
        market.reveal(job_id, U256::ZERO, root, units, salt).await.expect("reveal");
        assert_eq!(
            buyer.job(job_id).await.expect("job").state,
            gridmint_chain::JobState::Running,
            "a provider's own last reveal waits for the buyer's check"
        );
        let usd_before = usd.balanceOf(buyer_address).call().await.expect("balance");
        buyer.challenge(buyer_address, job_id, Vec::new()).await.expect("a challenge from the chain alone");
        assert_eq!(buyer.job(job_id).await.expect("job").state, gridmint_chain::JobState::Disputed, "disputed");
        let bond = usd_before - usd.balanceOf(buyer_address).call().await.expect("balance");
        assert_eq!(bond, (escrow.payment + escrow.fee) * U256::from(1_000) / U256::from(10_000), "10% of the escrow");
        assert_eq!(buyer.payment_allowance(buyer_address).await.expect("allowance"), U256::ZERO, "exactly the bond");
        let dispute = buyer.contract().disputeOf(job_id).call().await.expect("dispute");
        assert_eq!(dispute.challenger, 255, "the buyer challenges (a game of the court, no arbiter)");
        assert_eq!(dispute.steerer, buyer_address, "and steers the bisection");
        assert_eq!(U256::from(dispute.bond), bond, "the bond is held");
        let after = buyer.contract().providerOf(*leaver).call().await.expect("provider").stake;
        assert_eq!(after, stake_before, "leaving cost no stake");
        assert_eq!(buyer.reputation(*leaver).await.expect("reputation").left, 1, "leaving is on the record");
    }
}

mod reverts {
    use alloy::primitives::{B256, U256};
    use gridmint_chain::bindings::Gridmint::{self, GridmintErrors};

    use super::support::chain;

    #[tokio::test]
    async fn custom_errors_decode_into_typed_values() {
        let Some(chain) = chain().await else { return };
        let (_, buyer) = chain.wallet(4);
        let now = chain.now().await;
        let params = Gridmint::JobParams {
            specHash: B256::ZERO,
            dataRoot: B256::ZERO,
            dataPeer: B256::ZERO,
            requirements: Gridmint::Requirements {
                minMemoryMiB: 0,
                minComputeUnits: 0,
                regionMask: 0,
                workloadClass: 0,
            },
            replicas: 0,
            pricePerUnit: alloy::primitives::Uint::<96, 2>::from(1u64),
            maxWorkUnits: 1,
            claimDeadline: alloy::primitives::Uint::<40, 1>::from(now + 30),
            commitDeadline: alloy::primitives::Uint::<40, 1>::from(now + 60),
            revealDeadline: alloy::primitives::Uint::<40, 1>::from(now + 90),
        };
        let err = buyer.post_job(params).await.expect_err("k = 0 is refused");
        match err.revert_reason() {
            Some(GridmintErrors::InvalidReplicas(e)) => assert_eq!(e.replicas, U256::ZERO),
            other => panic!("expected InvalidReplicas, got {other:?} ({err})"),
        }
        let err = buyer.finalize(U256::from(99)).await.expect_err("unknown job");
        assert!(matches!(err.revert_reason(), Some(GridmintErrors::UnknownJob(_))), "{err}");
        assert!(err.to_string().contains("UnknownJob"), "the message names the error: {err}");
    }
}
