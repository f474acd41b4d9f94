//! The market client: one method per contract call, generic over the alloy provider (HTTP, a
//! wallet filler stack, a test provider), with reverts decoded into the market's custom errors.

use std::time::Duration;

use alloy::{
    network::Ethereum,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{PendingTransactionBuilder, Provider},
    rpc::types::{Filter, TransactionReceipt},
    signers::{Signer, local::PrivateKeySigner},
    sol_types::{SolEvent, SolValue},
};

use crate::{
    ChainError, Deployment,
    bindings::{
        Gridmint::{self, GridmintErrors, GridmintInstance},
        GridmintDeploy, GridmintStorage, IERC20, MockStablecoin,
        court::GridmintCourtDeploy,
    },
};

/// How often a call that carries a job's trail is tried: another transaction on the same job
/// (a co-replica's commit or reveal) can land between reading the trail and mining the call.
const TRAIL_ATTEMPTS: usize = 6;

/// A job as the market knows it: its storage slot, and what its trail (rebuilt from the job's
/// events) says of its terms, commitments and reveals.
#[derive(Debug, Clone)]
pub struct JobView {
    pub buyer: Address,
    pub state: crate::JobState,
    pub replicas: u8,
    pub claimants: u8,
    /// Bit i set: claimant i is one of the replicas (0 until selection).
    pub selected: u32,
    pub claim_deadline: u64,
    pub trail: Gridmint::Trail,
}

impl JobView {
    pub fn commit_deadline(&self) -> u64 {
        self.trail.terms.commitDeadline.to()
    }

    pub fn reveal_deadline(&self) -> u64 {
        self.trail.terms.revealDeadline.to()
    }

    /// Commitments made so far.
    pub fn committed(&self) -> usize {
        self.trail.commits.len()
    }

    /// Reveals made so far.
    pub fn revealed(&self) -> usize {
        self.trail.reveals.len()
    }
}

/// The commitment a provider submits: `keccak256(abi.encode(root, workUnits, salt, provider))`,
/// exactly what the contract's `reveal` recomputes.
pub fn commitment(result_root: B256, work_units: u64, salt: B256, provider: Address) -> B256 {
    keccak256((result_root, work_units, salt, provider).abi_encode())
}

/// What a provider signs so that someone else may submit its commitment (`commitSigned`):
/// `keccak256(abi.encode("gridmint.commit", chainId, market, jobId, index, commitment))`, exactly
/// the contract's `commitDigest`.
pub fn commit_digest(chain_id: u64, market: Address, job_id: U256, index: U256, commitment: B256) -> B256 {
    keccak256(
        ("gridmint.commit".to_owned(), U256::from(chain_id), market, job_id, index, commitment).abi_encode_params(),
    )
}

/// A commitment signed by its provider (EIP-191 over [`commit_digest`]), ready for `commitSigned`.
pub async fn sign_commit(
    signer: &PrivateKeySigner,
    chain_id: u64,
    market: Address,
    job_id: U256,
    index: U256,
    commitment: B256,
) -> Result<Gridmint::SignedCommit, ChainError> {
    let digest = commit_digest(chain_id, market, job_id, index, commitment);
    let signature = signer
        .sign_message(digest.as_slice())
        .await
        .map_err(|e| ChainError::Receipt { call: "sign commitment", message: e.to_string() })?;
    Ok(Gridmint::SignedCommit { index, commitment, signature: Bytes::from(signature.as_bytes().to_vec()) })
}

/// A handle on a deployed market, acting as the provider's default sender.
#[derive(Debug, Clone)]
pub struct Market<P> {
    contract: GridmintInstance<P>,
    deployment: Deployment,
    /// Blocks per `eth_getLogs` request: public RPC nodes refuse wider ranges.
    log_window: u64,
    /// The block each job was posted in, once a trail found it: later trails start there.
    posted_in: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<U256, u64>>>,
    /// The court's parameters (immutables of the deployment), once read.
    court: std::sync::Arc<std::sync::OnceLock<CourtParams>>,
}

/// What the court fixed at deployment that its clients read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CourtParams {
    /// Levels of the trace tree one move descends.
    pub levels_per_move: u8,
    /// Jurors a game seats at most.
    pub jury_size: u8,
    /// Seconds each phase of a game lasts.
    pub move_window: u32,
}

/// Blocks per `eth_getLogs` request unless [`Market::with_log_window`] says otherwise.
pub const LOG_WINDOW: u64 = 10_000;

/// What a mined transaction left: its receipt (gas, hash) and, where the call returns one, a value.
#[derive(Debug, Clone)]
pub struct Mined<T> {
    pub value: T,
    pub receipt: TransactionReceipt,
}

impl<P: Provider + Clone> Market<P> {
    pub fn new(provider: P, deployment: Deployment) -> Self {
        Self::at(Gridmint::new(deployment.market, provider), deployment)
    }

    fn at(contract: GridmintInstance<P>, deployment: Deployment) -> Self {
        Self { contract, deployment, log_window: LOG_WINDOW, posted_in: Default::default(), court: Default::default() }
    }

    /// The same market, asking for logs `blocks` at a time.
    pub fn with_log_window(self, blocks: u64) -> Self {
        Self { log_window: blocks.max(1), ..self }
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    pub(crate) fn court_cache(&self) -> &std::sync::OnceLock<CourtParams> {
        &self.court
    }

    pub fn contract(&self) -> &GridmintInstance<P> {
        &self.contract
    }

    /// Deploys a mock stablecoin, the dispute court and the market with `config` (its payment
    /// token is replaced by the mock, its genesis is the latest block's time), from the
    /// provider's default sender.
    pub async fn deploy(provider: P, mut config: GridmintStorage::Config) -> Result<Self, ChainError> {
        let start_block = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::Receipt { call: "get_block_number", message: e.to_string() })?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::Receipt { call: "get_chain_id", message: e.to_string() })?;
        let usd = MockStablecoin::deploy(provider.clone())
            .await
            .map_err(|e| ChainError::from_contract("deploy MockStablecoin", e))?;
        config.paymentToken = *usd.address();
        let now = provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::Receipt { call: "get_block", message: e.to_string() })?
            .map(|b| b.header.timestamp)
            .unwrap_or_default();
        config.genesis = U256::from(now);
        config.court = Address::ZERO;
        // The court's constructor takes the market's `Config` (one ABI encoding for both).
        let code = [GridmintCourtDeploy::BYTECODE.as_ref(), &alloy::sol_types::SolValue::abi_encode(&config)].concat();
        let deploy = alloy::network::TransactionBuilder::with_deploy_code(
            alloy::rpc::types::TransactionRequest::default(),
            code,
        );
        let receipt =
            Self::mined("deploy GridmintCourt", provider.send_transaction(deploy).await.map_err(|e| e.into())).await?;
        config.court = receipt
            .contract_address
            .ok_or(ChainError::Failed { call: "deploy GridmintCourt", tx: receipt.transaction_hash })?;
        let deployed = GridmintDeploy::deploy(provider.clone(), config)
            .await
            .map_err(|e| ChainError::from_contract("deploy Gridmint", e))?;
        let market = Gridmint::new(*deployed.address(), provider.clone());
        let stake_token = market.stakeToken().call().await.map_err(|e| ChainError::from_contract("stakeToken", e))?;
        let deployment =
            Deployment { chain_id, start_block, market: *market.address(), payment_token: *usd.address(), stake_token };
        Ok(Self::at(market, deployment))
    }

    /// The same market, sending from another provider (another wallet).
    pub fn with_provider<Q: Provider + Clone>(&self, provider: Q) -> Market<Q> {
        Market::new(provider, self.deployment).with_log_window(self.log_window)
    }

    async fn mined(
        call: &'static str,
        sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
    ) -> Result<TransactionReceipt, ChainError> {
        let pending = sent.map_err(|e| ChainError::from_contract(call, e))?;
        let receipt = pending.get_receipt().await.map_err(|e| ChainError::Receipt { call, message: e.to_string() })?;
        if !receipt.status() {
            return Err(ChainError::Failed { call, tx: receipt.transaction_hash });
        }
        Ok(receipt)
    }

    /// Estimates, pads the gas limit and sends: gas used depends on state (how many claimed
    /// before, whose commit closes the claims, who settles), and another transaction in the same
    /// block can change it after the estimate. An unpadded limit runs out of gas in that race.
    pub(crate) async fn send<D: alloy::contract::CallDecoder>(
        call: &'static str,
        builder: alloy::contract::CallBuilder<&P, D>,
    ) -> Result<TransactionReceipt, ChainError> {
        let estimate = builder.estimate_gas().await.map_err(|e| ChainError::from_contract(call, e))?;
        Self::mined(call, builder.gas(estimate + estimate / 2 + 50_000).send().await).await
    }

    fn event<E: SolEvent>(call: &'static str, receipt: &TransactionReceipt) -> Result<E, ChainError> {
        receipt.decoded_log::<E>().map(|log| log.data).ok_or(ChainError::MissingEvent { call, event: E::SIGNATURE })
    }

    /// Approves the market to pull the sender's payment and stake tokens without limit. For tests
    /// and benchmarks only: the node approves what each call needs ([`Market::approve_payment`],
    /// [`Market::approve_stake`]), so a market that is not what it claims can take no more.
    /// `owner` is the sender's address.
    pub async fn approve_all(&self, owner: Address) -> Result<(), ChainError> {
        self.approve_exactly(self.deployment.payment_token, "approve payment token", owner, U256::MAX).await?;
        self.approve_exactly(self.deployment.stake_token, "approve stake token", owner, U256::MAX).await
    }

    /// Lets the market pull `amount` of the payment token from `owner` (the sender): the escrow
    /// of the job about to be posted, and not a unit more. Posting uses it up.
    pub async fn approve_payment(&self, owner: Address, amount: U256) -> Result<(), ChainError> {
        self.approve_exactly(self.deployment.payment_token, "approve payment token", owner, amount).await
    }

    /// Lets the market pull `amount` of the stake token from `owner` (the stake being added).
    pub async fn approve_stake(&self, owner: Address, amount: U256) -> Result<(), ChainError> {
        self.approve_exactly(self.deployment.stake_token, "approve stake token", owner, amount).await
    }

    /// The payment token the market may still pull from `owner`.
    pub async fn payment_allowance(&self, owner: Address) -> Result<U256, ChainError> {
        let usd = IERC20::new(self.deployment.payment_token, self.contract.provider().clone());
        usd.allowance(owner, self.deployment.market).call().await.map_err(|e| ChainError::from_contract("allowance", e))
    }

    /// Sets the market's allowance on `token` to `amount` unless it already is: a transaction, so
    /// a block of waiting. A nonzero allowance is set to zero first (tokens such as USDT refuse
    /// to change one nonzero allowance into another).
    async fn approve_exactly(
        &self,
        token: Address,
        call: &'static str,
        owner: Address,
        amount: U256,
    ) -> Result<(), ChainError> {
        let token = IERC20::new(token, self.contract.provider().clone());
        let allowance = token
            .allowance(owner, self.deployment.market)
            .call()
            .await
            .map_err(|e| ChainError::from_contract("allowance", e))?;
        if allowance == amount {
            return Ok(());
        }
        if !allowance.is_zero() && !amount.is_zero() {
            Self::send(call, token.approve(self.deployment.market, U256::ZERO)).await?;
        }
        Self::send(call, token.approve(self.deployment.market, amount)).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn register(
        &self,
        device_model_hash: B256,
        memory_mib: u32,
        compute_units: u32,
        region: u16,
        classes: u8,
        stake: U256,
        payout: Address,
    ) -> Result<Mined<()>, ChainError> {
        if stake.bit_len() > 96 {
            return Err(ChainError::InvalidInput { what: "stake", message: format!("{stake} exceeds 2^96 - 1") });
        }
        let stake = alloy::primitives::Uint::<96, 2>::from(stake.to::<u128>());
        let call = self.contract.register(device_model_hash, memory_mib, compute_units, region, classes, stake, payout);
        let receipt = Self::send("register", call).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Adds `amount` to this provider's stake (approve it first: `approve_stake`). A jury pool
    /// member's new weight counts from the next block on.
    pub async fn add_stake(&self, amount: U256) -> Result<Mined<()>, ChainError> {
        if amount.bit_len() > 96 {
            return Err(ChainError::InvalidInput { what: "stake", message: format!("{amount} exceeds 2^96 - 1") });
        }
        let call = self.contract.addStake(alloy::primitives::Uint::<96, 2>::from(amount.to::<u128>()));
        Ok(Mined { value: (), receipt: Self::send("addStake", call).await? })
    }

    /// Posts a job; returns its id.
    pub async fn post_job(&self, params: Gridmint::JobParams) -> Result<Mined<U256>, ChainError> {
        let receipt = Self::send("postJob", self.contract.postJob(params)).await?;
        let posted: Gridmint::JobPosted = Self::event("postJob", &receipt)?;
        Ok(Mined { value: posted.jobId, receipt })
    }

    /// Claims a job; returns the claimant index.
    pub async fn claim(&self, job_id: U256) -> Result<Mined<U256>, ChainError> {
        let receipt = Self::send("claim", self.contract.claim(job_id)).await?;
        let claimed: Gridmint::JobClaimed = Self::event("claim", &receipt)?;
        Ok(Mined { value: claimed.index, receipt })
    }

    /// Closes the claim window and selects the replicas (anyone, after the claim deadline).
    pub async fn select_replicas(&self, job_id: U256) -> Result<Mined<()>, ChainError> {
        let receipt = self.with_trail("selectReplicas", job_id, |t| self.contract.selectReplicas(job_id, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    pub async fn commit(&self, job_id: U256, index: U256, commitment: B256) -> Result<Mined<()>, ChainError> {
        let receipt = self.with_trail("commit", job_id, |t| self.contract.commit(job_id, index, commitment, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    pub async fn reveal(
        &self,
        job_id: U256,
        index: U256,
        result_root: B256,
        work_units: u64,
        salt: B256,
    ) -> Result<Mined<()>, ChainError> {
        let receipt = self
            .with_trail("reveal", job_id, |t| self.contract.reveal(job_id, index, result_root, work_units, salt, t))
            .await?;
        Ok(Mined { value: (), receipt })
    }

    /// Submits several providers' signed commitments in one transaction.
    pub async fn commit_signed(
        &self,
        job_id: U256,
        commits: Vec<Gridmint::SignedCommit>,
    ) -> Result<Mined<()>, ChainError> {
        let receipt =
            self.with_trail("commitSigned", job_id, |t| self.contract.commitSigned(job_id, t, commits.clone())).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Reveals several replicas in one transaction. The reveal that completes the job settles it
    /// when the buyer sends it (the buyer accepts); anyone else's waits for the buyer's check.
    pub async fn reveal_batch(&self, job_id: U256, reveals: Vec<Gridmint::Reveal>) -> Result<Mined<()>, ChainError> {
        let receipt =
            self.with_trail("revealBatch", job_id, |t| self.contract.revealBatch(job_id, t, reveals.clone())).await?;
        Ok(Mined { value: (), receipt })
    }

    /// The buyer's challenge: reveals the remaining replicas (none when the chain has them all)
    /// and puts the job in the court instead of settling it (the buyer's own re-execution
    /// disagrees with the majority, or nothing it can check was delivered). Approves the market's
    /// challenge bond from `owner` (the sender) first, exactly that amount.
    pub async fn challenge(
        &self,
        owner: Address,
        job_id: U256,
        reveals: Vec<Gridmint::Reveal>,
    ) -> Result<Mined<()>, ChainError> {
        self.approve_bond(owner, job_id).await?;
        let receipt =
            self.with_trail("challenge", job_id, |t| self.contract.challenge(job_id, t, reveals.clone())).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Approves the market's challenge bond for `job_id` from `owner` (the sender), exactly that.
    pub(crate) async fn approve_bond(&self, owner: Address, job_id: U256) -> Result<(), ChainError> {
        let trail = self.trail(job_id).await?;
        let bond = self
            .contract
            .challengeBondOf(job_id, trail)
            .call()
            .await
            .map_err(|e| ChainError::from_contract("challengeBondOf", e))?;
        self.approve_payment(owner, bond).await
    }

    /// A selected replica that cannot run its job (data missing or not matching its root, model
    /// missing, device failed) leaves it before committing, without a slash.
    pub async fn leave_job(&self, job_id: U256, index: U256) -> Result<Mined<()>, ChainError> {
        let receipt = self.with_trail("leaveJob", job_id, |t| self.contract.leaveJob(job_id, index, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    pub async fn finalize(&self, job_id: U256) -> Result<Mined<()>, ChainError> {
        let receipt = self.with_trail("finalize", job_id, |t| self.contract.finalize(job_id, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Sends a call that carries the job's trail, rebuilt from the job's events. When another
    /// transaction on the job lands first (the trail is stale: `TrailMismatch`, or the mined
    /// call failed), rebuilds the trail and tries again.
    pub(crate) async fn with_trail<'a, D, F>(
        &'a self,
        call: &'static str,
        job_id: U256,
        build: F,
    ) -> Result<TransactionReceipt, ChainError>
    where
        D: alloy::contract::CallDecoder,
        F: Fn(Gridmint::Trail) -> alloy::contract::CallBuilder<&'a P, D>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let trail = self.trail(job_id).await?;
            match Self::send(call, build(trail)).await {
                Err(e) if attempt < TRAIL_ATTEMPTS && Self::stale_trail(&e) => {
                    tracing::debug!(%job_id, call, attempt, error = %e, "the job moved on: rebuilding its trail");
                    tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
                }
                other => return other,
            }
        }
    }

    fn stale_trail(e: &ChainError) -> bool {
        matches!(e, ChainError::Failed { .. }) || matches!(e.revert_reason(), Some(GridmintErrors::TrailMismatch(_)))
    }

    /// The market's logs matching `filter` from block `from(head)` to the head, in order, asked
    /// for `log_window` blocks at a time (public RPC nodes refuse wider ranges).
    pub(crate) async fn logs_since(
        &self,
        filter: &Filter,
        from: impl FnOnce(u64) -> u64,
        what: &'static str,
    ) -> Result<Vec<alloy::rpc::types::Log>, ChainError> {
        let provider = self.contract.provider();
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::Receipt { call: "get_block_number", message: format!("{what}: {e}") })?;
        let mut logs = Vec::new();
        let mut start = from(head);
        while start <= head {
            let end = start.saturating_add(self.log_window - 1).min(head);
            let window = filter.clone().from_block(start).to_block(end);
            let found = provider
                .get_logs(&window)
                .await
                .map_err(|e| ChainError::Receipt { call: "get_logs", message: format!("{what}: {e}") })?;
            logs.extend(found);
            start = end + 1;
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        Ok(logs)
    }

    /// The job's trail: its terms (from `JobPosted`), claimants, commitments and reveals in the
    /// order of their events, which is the order the market hashed them.
    pub async fn trail(&self, job_id: U256) -> Result<Gridmint::Trail, ChainError> {
        let filter = Filter::new()
            .address(self.deployment.market)
            .event_signature(vec![
                Gridmint::JobPosted::SIGNATURE_HASH,
                Gridmint::JobClaimed::SIGNATURE_HASH,
                Gridmint::ResultCommitted::SIGNATURE_HASH,
                Gridmint::ResultRevealed::SIGNATURE_HASH,
            ])
            .topic1(B256::from(job_id));
        let known = self.posted_in.lock().unwrap_or_else(|p| p.into_inner()).get(&job_id).copied();
        let from = known.unwrap_or(self.deployment.start_block);
        let logs = self.logs_since(&filter, |_| from, "trail").await?;
        if known.is_none()
            && let Some(block) = logs.first().and_then(|l| l.block_number)
        {
            // The first event of a job is its posting: nothing of it lies before.
            self.posted_in.lock().unwrap_or_else(|p| p.into_inner()).insert(job_id, block);
        }
        let decode = |e: alloy::sol_types::Error| ChainError::Receipt { call: "decode trail", message: e.to_string() };
        let mut trail = Gridmint::Trail {
            terms: Gridmint::Terms {
                requirements: Gridmint::Requirements {
                    minMemoryMiB: 0,
                    minComputeUnits: 0,
                    regionMask: 0,
                    workloadClass: 0,
                },
                pricePerUnit: Default::default(),
                maxWorkUnits: 0,
                commitDeadline: Default::default(),
                revealDeadline: Default::default(),
            },
            claimants: Vec::new(),
            weights: Vec::new(),
            commits: Vec::new(),
            reveals: Vec::new(),
        };
        let mut posted = false;
        for log in &logs {
            match log.topic0() {
                Some(&Gridmint::JobPosted::SIGNATURE_HASH) => {
                    let p = log.log_decode::<Gridmint::JobPosted>().map_err(decode)?.inner.data;
                    trail.terms = Gridmint::Terms {
                        requirements: p.requirements,
                        pricePerUnit: p.pricePerUnit,
                        maxWorkUnits: p.maxWorkUnits,
                        commitDeadline: p.commitDeadline,
                        revealDeadline: p.revealDeadline,
                    };
                    posted = true;
                }
                Some(&Gridmint::JobClaimed::SIGNATURE_HASH) => {
                    let c = log.log_decode::<Gridmint::JobClaimed>().map_err(decode)?.inner.data;
                    trail.claimants.push(c.provider);
                    trail.weights.push(c.weight);
                }
                Some(&Gridmint::ResultCommitted::SIGNATURE_HASH) => {
                    let c = log.log_decode::<Gridmint::ResultCommitted>().map_err(decode)?.inner.data;
                    trail.commits.push(Gridmint::Committed { index: c.index, commitment: c.commitment });
                }
                Some(&Gridmint::ResultRevealed::SIGNATURE_HASH) => {
                    let r = log.log_decode::<Gridmint::ResultRevealed>().map_err(decode)?.inner.data;
                    trail.reveals.push(Gridmint::Revealed {
                        index: r.index,
                        resultRoot: r.resultRoot,
                        workUnits: r.workUnits,
                    });
                }
                _ => {}
            }
        }
        if !posted && !logs.is_empty() {
            return Err(ChainError::Receipt {
                call: "trail",
                message: format!("job {job_id} has events but no JobPosted"),
            });
        }
        Ok(trail)
    }

    /// Seconds after a job's reveal deadline during which only its buyer may settle it (and may
    /// still challenge); anyone may settle after.
    pub async fn check_window(&self) -> Result<u64, ChainError> {
        let window =
            self.contract.checkWindow().call().await.map_err(|e| ChainError::from_contract("checkWindow", e))?;
        Ok(u64::from(window))
    }

    /// Withdraws the sender's payment-token balance to its payout address.
    pub async fn withdraw(&self) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("withdraw", self.contract.withdraw()).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Sends this provider's rewards (its share of the fee rebate of the finished epochs it was
    /// paid in) to its payout address; `None` when there was none to claim.
    pub async fn claim_rewards(&self) -> Result<Option<Mined<U256>>, ChainError> {
        match Self::send("claimRewards", self.contract.claimRewards()).await {
            Ok(receipt) => {
                let claimed: Gridmint::RewardsClaimed = Self::event("claimRewards", &receipt)?;
                Ok(Some(Mined { value: claimed.amount, receipt }))
            }
            Err(e) if matches!(e.revert_reason(), Some(GridmintErrors::NothingToWithdraw(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks for a new payout address (a registered provider only); it takes effect after the
    /// market's payout delay, when anyone applies it.
    pub async fn request_payout_change(&self, payout: Address) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("requestPayoutChange", self.contract.requestPayoutChange(payout)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Announces where this node takes peer-to-peer requests (`peer`: its endpoint id); a
    /// registered provider only. A court's jurors fetch a disputed job's data from its replicas
    /// there.
    pub async fn announce_peer(&self, peer: B256) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("announcePeer", self.contract.announcePeer(peer)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Declares the region this provider's machine is in (`register` took the first).
    pub async fn set_region(&self, region: u16) -> Result<Mined<()>, ChainError> {
        let receipt = Self::send("setRegion", self.contract.setRegion(region)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// The endpoint each of `providers` announced last since `from_block` (none: absent).
    pub async fn announced_peers(
        &self,
        providers: &[Address],
        from_block: u64,
    ) -> Result<std::collections::BTreeMap<Address, B256>, ChainError> {
        let mut peers = std::collections::BTreeMap::new();
        if providers.is_empty() {
            return Ok(peers);
        }
        let filter = Filter::new()
            .address(self.deployment.market)
            .event_signature(Gridmint::PeerAnnounced::SIGNATURE_HASH)
            .topic1(providers.iter().map(|a| a.into_word()).collect::<Vec<B256>>());
        for log in self.logs_since(&filter, |_| from_block, "announced peers").await? {
            if let Ok(a) = log.log_decode::<Gridmint::PeerAnnounced>() {
                // In block order: a later announcement replaces an earlier one.
                peers.insert(a.inner.data.provider, a.inner.data.peer);
            }
        }
        Ok(peers)
    }

    /// The job's storage slot alone (state, claimants, selection, claim deadline): one call,
    /// for loops that poll a job. A job that does not exist has state 0.
    pub async fn slot(&self, job_id: U256) -> Result<Gridmint::Job, ChainError> {
        self.contract.jobOf(job_id).call().await.map_err(|e| ChainError::from_contract("jobOf", e))
    }

    /// The job's slot and its trail (a log query besides the call). A job that does not exist
    /// has state 0 and an empty trail.
    pub async fn job(&self, job_id: U256) -> Result<JobView, ChainError> {
        let slot = self.slot(job_id).await?;
        let trail = self.trail(job_id).await?;
        Ok(JobView {
            buyer: slot.buyer,
            state: slot.job_state()?,
            replicas: slot.replicas,
            claimants: slot.claimants,
            selected: slot.selected,
            claim_deadline: slot.claimDeadline.to(),
            trail,
        })
    }

    pub async fn agreed_root(&self, job_id: U256) -> Result<B256, ChainError> {
        self.contract.agreedRoot(job_id).call().await.map_err(|e| ChainError::from_contract("agreedRoot", e))
    }

    pub async fn account(&self, who: Address) -> Result<Gridmint::Account, ChainError> {
        self.contract.accountOf(who).call().await.map_err(|e| ChainError::from_contract("accountOf", e))
    }

    pub async fn reputation(&self, who: Address) -> Result<Gridmint::Reputation, ChainError> {
        self.contract.reputationOf(who).call().await.map_err(|e| ChainError::from_contract("reputationOf", e))
    }
}
