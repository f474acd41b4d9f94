//! A node's connection to a network: the profile (RPC, deployment), a signer, the market client,
//! the chain clock and the job events.

pub use gridmint_chain::code::MarketCode;
use std::path::{Path, PathBuf};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
    sol_types::SolEvent,
};
use gridmint_chain::{Market, bindings::Gridmint};

use gridmint_peer::Peer;

use crate::{NodeError, devnet::NetworkProfile};

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

/// The on-chain work units of a job that the runner metered at `flops` floating-point operations
/// (see [`gridmint_protocol::WorkUnits`]: GFLOPs rounded up; prices are per work unit, see
/// [`gridmint_protocol::Price`]).
pub fn chain_work_units(flops: u64) -> u64 {
    gridmint_protocol::WorkUnits::from_flops(flops).get()
}

/// A job id the market gave, as the app's wire type. The market counts jobs in 64 bits
/// (`jobCount`), so every id it gives fits.
pub fn job_id(id: U256) -> gridmint_protocol::JobId {
    gridmint_protocol::JobId::new(id.saturating_to())
}

/// The market's form of a job id.
pub fn chain_job_id(id: gridmint_protocol::JobId) -> U256 {
    U256::from(id.get())
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
    /// Blocks per `eth_getLogs` request: public RPC nodes refuse wider ranges.
    log_window: u64,
    /// Postings already found: a job's `JobPosted` never changes, so it is searched for once.
    posted: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<U256, Gridmint::JobPosted>>>,
    /// Test only: as a buyer, refuses the job's data to its court's jurors ([`Network::withholding_from_jurors`]).
    withhold_from_jurors: bool,
}

/// Blocks per `eth_getLogs` request unless [`Network::with_log_window`] says otherwise (what
/// public RPC providers commonly accept).
pub const LOG_WINDOW: u64 = 10_000;

fn contract_error(call: &'static str) -> impl FnOnce(alloy::contract::Error) -> NodeError {
    move |e| NodeError::Chain(gridmint_chain::ChainError::from_contract(call, e))
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
        Ok(Self {
            peer: Default::default(),
            profile,
            profile_path: profile_path.to_owned(),
            signer,
            market,
            log_window: LOG_WINDOW,
            posted: Default::default(),
            withhold_from_jurors: false,
        })
    }

    /// Draws the job's replicas (`selectReplicas`), unless someone already did: the buyer and
    /// every claimant send it once the claim window closes, and all but the first find the job
    /// running (`WrongState`), which is not an error here.
    pub async fn draw_replicas(&self, job_id: U256) -> Result<(), NodeError> {
        match self.market.select_replicas(job_id).await {
            Ok(_) => tracing::info!(job = %job_id, "replicas selected"),
            Err(gridmint_chain::ChainError::Reverted { reason, .. })
                if matches!(*reason, Gridmint::GridmintErrors::WrongState(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// What runs at this network's market address: this app's build of the contracts or not.
    pub async fn market_code(&self) -> Result<MarketCode, NodeError> {
        Ok(gridmint_chain::code::market_code(self.market.contract().provider(), self.profile.deployment.market).await?)
    }

    /// Refuses a network whose market is not this app's build of the contracts, unless the owner
    /// trusted its code's fingerprint (`NetworkProfile::trusted_market_code`): the wallet approves
    /// payments and stake to whatever address a network file names.
    pub async fn check_market_code(&self) -> Result<(), NodeError> {
        let market = self.profile.deployment.market;
        match self.market_code().await? {
            MarketCode::Known => Ok(()),
            MarketCode::Unknown { fingerprint } if self.profile.trusted_market_code == Some(fingerprint) => {
                tracing::warn!(network = %self.profile.name, %market, %fingerprint, "a market of unknown code, trusted by the owner");
                Ok(())
            }
            MarketCode::Unknown { fingerprint } => Err(NodeError::UntrustedMarket {
                network: self.profile.name.clone(),
                market,
                fingerprint,
                profile: self.profile_path.clone(),
            }),
        }
    }

    /// The same connection, asking for logs `blocks` at a time.
    pub fn with_log_window(self, blocks: u64) -> Self {
        Self { log_window: blocks.max(1), ..self }
    }

    /// Test only: the same connection, whose endpoint refuses a job's data to the jurors of its
    /// court games (what a buyer that colludes with a challenging replica would do); the jurors
    /// must get it from the job's replicas.
    pub fn withholding_from_jurors(self) -> Self {
        Self { withhold_from_jurors: true, ..self }
    }

    /// Announces this node's endpoint on chain (`PeerAnnounced`) unless its last announcement
    /// names it already, so a court's jurors can fetch a disputed job's data from this node as
    /// one of its replicas. The endpoint must be started; the account registered.
    pub async fn announce_peer(&self) -> Result<(), NodeError> {
        let peer = B256::from(*self.peer()?.id().as_bytes());
        let me = self.address();
        let announced = self.market.announced_peers(&[me], self.profile.deployment.start_block).await?;
        if announced.get(&me) != Some(&peer) {
            self.market.announce_peer(peer).await?;
            tracing::info!(endpoint = %peer, "announced this node's endpoint");
        }
        Ok(())
    }

    /// The logs `filter` matches in blocks `from..=to` (`to`: the head when `None`), asked for
    /// in windows of `log_window` blocks.
    async fn logs(&self, filter: Filter, from: u64, to: Option<u64>) -> Result<Vec<alloy::rpc::types::Log>, NodeError> {
        let to = match to {
            Some(to) => to,
            None => self.block_number().await?,
        };
        let provider = self.market.contract().provider();
        let mut logs = Vec::new();
        let mut start = from;
        while start <= to {
            let end = start.saturating_add(self.log_window - 1).min(to);
            let window = filter.clone().from_block(start).to_block(end);
            logs.extend(provider.get_logs(&window).await.map_err(chain_error("get_logs"))?);
            start = end + 1;
        }
        Ok(logs)
    }

    /// The chain time of a log's block (from the log when the node includes it).
    async fn log_time(&self, log: &alloy::rpc::types::Log) -> Result<u64, NodeError> {
        Ok(match (log.block_timestamp, log.block_number) {
            (Some(at), _) => at,
            (None, Some(number)) => self
                .market
                .contract()
                .provider()
                .get_block_by_number(number.into())
                .await
                .map_err(chain_error("block of a log"))?
                .map_or(0, |b| b.header.timestamp),
            (None, None) => 0,
        })
    }

    /// Binds this node's peer-to-peer endpoint (once; later calls return the same one), with its
    /// blob store under `data` (the node's data folder).
    /// On a network whose RPC is on this machine (the embedded local network) the endpoint binds
    /// to loopback and finds its peers in an address book beside the network profile.
    pub async fn start_peer(&self, data: &Path) -> Result<&Peer, NodeError> {
        let book =
            is_local(&self.profile.rpc_url).then(|| self.profile_path.parent().unwrap_or(Path::new(".")).join("peers"));
        let start = || async { Peer::start(self.without_peer(), data, book).await.map_err(NodeError::from) };
        self.peer.get_or_try_init(start).await
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
    fn without_peer(&self) -> Self {
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
    /// Found once per job and kept; a job that does not exist (its slot is empty) is answered
    /// without a log query.
    pub async fn posted_job(&self, job_id: U256) -> Result<Option<Gridmint::JobPosted>, NodeError> {
        if let Some(known) = self.posted.lock().unwrap_or_else(|p| p.into_inner()).get(&job_id) {
            return Ok(Some(known.clone()));
        }
        if self.market.slot(job_id).await?.buyer == Address::ZERO {
            return Ok(None);
        }
        let head = self.block_number().await?;
        let found = self.posted(Some(job_id), self.profile.deployment.start_block, head).await?.into_iter().next();
        if let Some(posted) = &found {
            self.posted.lock().unwrap_or_else(|p| p.into_inner()).insert(job_id, posted.clone());
        }
        Ok(found)
    }

    async fn posted(&self, job: Option<U256>, from: u64, to: u64) -> Result<Vec<Gridmint::JobPosted>, NodeError> {
        let mut filter =
            Filter::new().address(self.profile.deployment.market).event_signature(Gridmint::JobPosted::SIGNATURE_HASH);
        if let Some(job) = job {
            filter = filter.topic1(alloy::primitives::B256::from(job));
        }
        let logs = self.logs(filter, from, Some(to)).await?;
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
        let to = c.payoutOf(who).call().await.map_err(contract_error("payoutOf"))?;
        let usd = gridmint_chain::bindings::IERC20::new(self.profile.deployment.payment_token, c.provider());
        let balance = usd.balanceOf(to).call().await.map_err(contract_error("balanceOf"))?;
        Ok((to, balance.saturating_to()))
    }

    /// Decoded events `E` of the market in the deployment's blocks, filtered by `topics`
    /// (position 1..=3 of the indexed ones), each with its block's timestamp.
    async fn events<E: SolEvent>(
        &self,
        topics: &[(usize, Vec<alloy::primitives::B256>)],
    ) -> Result<Vec<(E, u64)>, NodeError> {
        let mut filter = Filter::new().address(self.profile.deployment.market).event_signature(E::SIGNATURE_HASH);
        for (position, values) in topics {
            filter.topics[*position] = values.clone().into();
        }
        let logs = self.logs(filter, self.profile.deployment.start_block, None).await?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            let at = self.log_time(&log).await?;
            let event = log.log_decode::<E>().map(|l| l.inner.data).map_err(|e| {
                NodeError::Chain(gridmint_chain::ChainError::Receipt {
                    call: "decode an event",
                    message: e.to_string(),
                })
            })?;
            out.push((event, at));
        }
        Ok(out)
    }

    /// Every payment the market made to `provider` for a job: when (chain time) and how much
    /// (payment-token base units).
    pub async fn payments_to(&self, provider: Address) -> Result<Vec<crate::earnings::Payment>, NodeError> {
        let revealed = self.events::<Gridmint::ResultRevealed>(&[(2, vec![provider.into_word()])]).await?;
        if revealed.is_empty() {
            return Ok(Vec::new());
        }
        let index_of: std::collections::HashMap<U256, (U256, u64)> =
            revealed.iter().map(|(r, _)| (r.jobId, (r.index, r.workUnits))).collect();
        let jobs: Vec<alloy::primitives::B256> = index_of.keys().map(|id| (*id).into()).collect();
        let finalized = self.events::<Gridmint::JobFinalized>(&[(1, jobs)]).await?;
        Ok(finalized
            .into_iter()
            .filter_map(|(f, at)| {
                let (index, units) = index_of.get(&f.jobId)?;
                let index = index.saturating_to::<u32>();
                let paid_here = index < 32 && (f.paidMask >> index) & 1 == 1;
                let share = f.paid.checked_div(U256::from(f.paidMask.count_ones()))?;
                paid_here.then(|| crate::earnings::Payment { at, amount: share.saturating_to(), units: *units })
            })
            .collect())
    }

    /// Every event of one job, oldest first, as the app's timeline shows them.
    pub async fn job_events(&self, job_id: U256) -> Result<Vec<gridmint_protocol::JobEvent>, NodeError> {
        use Gridmint::{
            GameDecided, GameStarted, JobClaimed, JobDisputed, JobFinalized, JobPosted, JobRefunded, LeafOpened,
            NodeSplit, ProviderSlashed, ReplicasSelected, ResultCommitted, ResultRevealed, SteererReplaced,
            VoteRevealed,
        };
        let signatures = vec![
            JobPosted::SIGNATURE_HASH,
            JobClaimed::SIGNATURE_HASH,
            ReplicasSelected::SIGNATURE_HASH,
            ResultCommitted::SIGNATURE_HASH,
            ResultRevealed::SIGNATURE_HASH,
            JobFinalized::SIGNATURE_HASH,
            JobRefunded::SIGNATURE_HASH,
            JobDisputed::SIGNATURE_HASH,
            GameStarted::SIGNATURE_HASH,
            NodeSplit::SIGNATURE_HASH,
            LeafOpened::SIGNATURE_HASH,
            SteererReplaced::SIGNATURE_HASH,
            VoteRevealed::SIGNATURE_HASH,
            GameDecided::SIGNATURE_HASH,
            ProviderSlashed::SIGNATURE_HASH,
        ];
        let filter = Filter::new()
            .address(self.profile.deployment.market)
            .event_signature(signatures)
            .topic1(alloy::primitives::B256::from(job_id));
        let logs = self.logs(filter, self.profile.deployment.start_block, None).await?;
        let usd = |v: U256| gridmint_protocol::Usd::from_base_units(v.saturating_to()).to_string();
        let mut claimants: Vec<Address> = Vec::new();
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            let at = self.log_time(&log).await?;
            let transaction = log.transaction_hash.map(|h| h.to_string()).unwrap_or_default();
            let decode_error = |e: alloy::sol_types::Error| {
                NodeError::Chain(gridmint_chain::ChainError::Receipt {
                    call: "decode a job event",
                    message: e.to_string(),
                })
            };
            let event = |step: &str, replica: Option<U256>, who: Option<Address>, detail: Option<String>| {
                gridmint_protocol::JobEvent {
                    at_unix_s: at,
                    step: step.to_owned(),
                    replica: replica.map(|r| r.saturating_to()),
                    provider: who.map(|a| a.to_string()),
                    detail,
                    transaction: transaction.clone(),
                }
            };
            let index_of = |who: Address| claimants.iter().position(|c| *c == who).map(U256::from);
            let e = match log.topic0() {
                Some(&JobPosted::SIGNATURE_HASH) => {
                    let p = log.log_decode::<JobPosted>().map_err(decode_error)?.inner.data;
                    event("posted", None, None, Some(format!("{} replicas, escrow ${}", p.replicas, usd(p.escrow))))
                }
                Some(&JobClaimed::SIGNATURE_HASH) => {
                    let c = log.log_decode::<JobClaimed>().map_err(decode_error)?.inner.data;
                    claimants.push(c.provider);
                    event("claimed", Some(c.index), Some(c.provider), None)
                }
                Some(&ReplicasSelected::SIGNATURE_HASH) => {
                    let s = log.log_decode::<ReplicasSelected>().map_err(decode_error)?.inner.data;
                    let chosen: Vec<String> =
                        (0..32).filter(|i| (s.selectedMask >> i) & 1 == 1).map(|i| format!("#{i}")).collect();
                    event("selected", None, None, Some(format!("replicas {}", chosen.join(", "))))
                }
                Some(&ResultCommitted::SIGNATURE_HASH) => {
                    let c = log.log_decode::<ResultCommitted>().map_err(decode_error)?.inner.data;
                    event("committed", Some(c.index), Some(c.provider), None)
                }
                Some(&ResultRevealed::SIGNATURE_HASH) => {
                    let r = log.log_decode::<ResultRevealed>().map_err(decode_error)?.inner.data;
                    event("revealed", Some(r.index), Some(r.provider), Some(format!("root {}", r.resultRoot)))
                }
                Some(&JobFinalized::SIGNATURE_HASH) => {
                    let f = log.log_decode::<JobFinalized>().map_err(decode_error)?.inner.data;
                    event(
                        "finalized",
                        None,
                        None,
                        Some(format!(
                            "{} replica(s) paid ${}, fee ${}, refund ${}",
                            f.paidMask.count_ones(),
                            usd(f.paid),
                            usd(f.fee),
                            usd(f.refund)
                        )),
                    )
                }
                Some(&JobRefunded::SIGNATURE_HASH) => {
                    let r = log.log_decode::<JobRefunded>().map_err(decode_error)?.inner.data;
                    event("refunded", None, None, Some(format!("${} back to the buyer", usd(r.refund))))
                }
                Some(&JobDisputed::SIGNATURE_HASH) => event("disputed", None, None, None),
                Some(&GameStarted::SIGNATURE_HASH) => {
                    let g = log.log_decode::<GameStarted>().map_err(decode_error)?.inner.data;
                    let against =
                        if g.challenger == 255 { "the buyer".to_owned() } else { format!("replica {}", g.challenger) };
                    event(
                        "court game",
                        Some(g.defender),
                        None,
                        Some(format!("replica {}'s claim defends against {against}", g.defender)),
                    )
                }
                Some(&NodeSplit::SIGNATURE_HASH) => {
                    let n = log.log_decode::<NodeSplit>().map_err(decode_error)?.inner.data;
                    event(
                        "bisection round",
                        None,
                        None,
                        Some(format!("{} levels above the steps, {} parts", n.depth, n.parts.len())),
                    )
                }
                Some(&LeafOpened::SIGNATURE_HASH) => {
                    let l = log.log_decode::<LeafOpened>().map_err(decode_error)?.inner.data;
                    event("step in dispute", None, None, Some(format!("step {}: a jury re-runs it", l.step)))
                }
                Some(&SteererReplaced::SIGNATURE_HASH) => {
                    let r = log.log_decode::<SteererReplaced>().map_err(decode_error)?.inner.data;
                    event("steering handed over", None, Some(r.to), Some(format!("{} missed its pick", r.from)))
                }
                Some(&VoteRevealed::SIGNATURE_HASH) => {
                    let v = log.log_decode::<VoteRevealed>().map_err(decode_error)?.inner.data;
                    let how = if v.agrees { "with the defender" } else { "against the defender" };
                    event("juror voted", None, Some(v.juror), Some(format!("seat {}: {how}", v.seat)))
                }
                Some(&GameDecided::SIGNATURE_HASH) => {
                    let d = log.log_decode::<GameDecided>().map_err(decode_error)?.inner.data;
                    let verdict = if d.defenderWon { "the defending claim stands" } else { "the defending claim lost" };
                    event(
                        "game decided",
                        None,
                        None,
                        Some(format!("{verdict} (jury {} for, {} against)", d.votesFor, d.votesAgainst)),
                    )
                }
                Some(&ProviderSlashed::SIGNATURE_HASH) => {
                    let s = log.log_decode::<ProviderSlashed>().map_err(decode_error)?.inner.data;
                    let why = if s.missedDeadline { "missed a deadline" } else { "revealed a wrong result" };
                    let grid = gridmint_protocol::Grid::from_base_units(s.amount.saturating_to()).to_string();
                    event("slashed", index_of(s.provider), Some(s.provider), Some(format!("{grid} GRID: {why}")))
                }
                _ => continue,
            };
            events.push(e);
        }
        Ok(events)
    }

    /// What the court did with job `job_id`, from its events: the games played, the rounds of
    /// bisection (splits), the step the last game came down to, the jurors' revealed votes, and
    /// each game's verdict (true: the defending claim stood).
    pub async fn court_record(&self, job_id: U256) -> Result<CourtRecord, NodeError> {
        use Gridmint::{GameDecided, LeafOpened, NodeSplit, VoteRevealed};
        let job = vec![alloy::primitives::B256::from(job_id)];
        let verdicts: Vec<bool> =
            self.events::<GameDecided>(&[(1, job.clone())]).await?.into_iter().map(|(d, _)| d.defenderWon).collect();
        let rounds = self.events::<NodeSplit>(&[(1, job.clone())]).await?.len();
        let step = self.events::<LeafOpened>(&[(1, job.clone())]).await?.last().map(|(l, _)| l.step);
        let jury_votes = self.events::<VoteRevealed>(&[(1, job)]).await?.len();
        Ok(CourtRecord { games: verdicts.len(), rounds, step, jury_votes, verdicts })
    }

    /// The jurors' revealed votes in the job's court games: (juror, whether it agreed with the
    /// defender), one per seat revealed.
    pub async fn revealed_votes(&self, job_id: U256) -> Result<Vec<(Address, bool)>, NodeError> {
        let job = vec![alloy::primitives::B256::from(job_id)];
        let votes = self.events::<Gridmint::VoteRevealed>(&[(1, job)]).await?;
        Ok(votes.into_iter().map(|(v, _)| (v.juror, v.agrees)).collect())
    }

    /// What `provider` may still earn from jobs it claimed that have not settled: the job's price
    /// times the work units it revealed (before a reveal: the job's maximum), unless the
    /// selection left it out. Payment-token base units.
    pub async fn pending_for(&self, provider: Address) -> Result<u128, NodeError> {
        use Gridmint::{JobClaimed, JobFinalized, JobPosted, JobRefunded, ReplicasSelected, ResultRevealed};
        let claimed = self.events::<JobClaimed>(&[(2, vec![provider.into_word()])]).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let jobs: Vec<alloy::primitives::B256> = claimed.iter().map(|(c, _)| c.jobId.into()).collect();
        let mut settled = std::collections::HashSet::new();
        for (f, _) in self.events::<JobFinalized>(&[(1, jobs.clone())]).await? {
            settled.insert(f.jobId);
        }
        for (r, _) in self.events::<JobRefunded>(&[(1, jobs.clone())]).await? {
            settled.insert(r.jobId);
        }
        let open: Vec<&JobClaimed> = claimed.iter().map(|(c, _)| c).filter(|c| !settled.contains(&c.jobId)).collect();
        if open.is_empty() {
            return Ok(0);
        }
        let ids: Vec<alloy::primitives::B256> = open.iter().map(|c| c.jobId.into()).collect();
        let posted: std::collections::HashMap<U256, JobPosted> =
            self.events::<JobPosted>(&[(1, ids.clone())]).await?.into_iter().map(|(p, _)| (p.jobId, p)).collect();
        let selected: std::collections::HashMap<U256, u32> = self
            .events::<ReplicasSelected>(&[(1, ids.clone())])
            .await?
            .into_iter()
            .map(|(s, _)| (s.jobId, s.selectedMask))
            .collect();
        let revealed: std::collections::HashMap<U256, u64> = self
            .events::<ResultRevealed>(&[(1, ids), (2, vec![provider.into_word()])])
            .await?
            .into_iter()
            .map(|(r, _)| (r.jobId, r.workUnits))
            .collect();
        Ok(open
            .iter()
            .filter(|c| {
                selected
                    .get(&c.jobId)
                    .is_none_or(|mask| c.index < U256::from(32) && (mask >> c.index.to::<u32>()) & 1 == 1)
            })
            .filter_map(|c| {
                let job = posted.get(&c.jobId)?;
                let units = revealed.get(&c.jobId).copied().unwrap_or(job.maxWorkUnits);
                let price = gridmint_protocol::Price(job.pricePerUnit.saturating_to());
                Some(price.pay_for(units).base_units())
            })
            .sum())
    }

    /// What `provider` registered (a zeroed record when it has not).
    pub async fn registration(&self, provider: Address) -> Result<Gridmint::Provider, NodeError> {
        self.market.contract().providerOf(provider).call().await.map_err(contract_error("providerOf"))
    }

    /// The jobs posted in the 24 hours before `now` (chain time) and their median offer.
    pub async fn offers_24h(&self, now: u64) -> Result<(usize, Option<gridmint_protocol::Price>), NodeError> {
        let mut offers: Vec<u64> = self
            .posted_since(now.saturating_sub(86_400))
            .await?
            .iter()
            .map(|p| p.pricePerUnit.saturating_to())
            .collect();
        offers.sort_unstable();
        Ok((offers.len(), offers.get(offers.len() / 2).map(|&p| gridmint_protocol::Price(p))))
    }

    /// The jobs posted at or after `since` (chain time).
    pub async fn posted_since(&self, since: u64) -> Result<Vec<Gridmint::JobPosted>, NodeError> {
        let posted = self.events::<Gridmint::JobPosted>(&[]).await?;
        Ok(posted.into_iter().filter(|(_, at)| *at >= since).map(|(p, _)| p).collect())
    }

    /// When `provider` registered (chain time), if it did.
    /// Every provider that registered on this market, in the order they first did.
    pub async fn provider_addresses(&self) -> Result<Vec<Address>, NodeError> {
        let mut seen = std::collections::BTreeSet::new();
        let registered = self.events::<Gridmint::ProviderRegistered>(&[]).await?;
        Ok(registered.into_iter().map(|(e, _)| e.provider).filter(|p| seen.insert(*p)).collect())
    }

    pub async fn registered_at(&self, provider: Address) -> Result<Option<u64>, NodeError> {
        let registered = self.events::<Gridmint::ProviderRegistered>(&[(1, vec![provider.into_word()])]).await?;
        Ok(registered.first().map(|(_, at)| *at))
    }

    /// A payout address `provider` asked for and when it takes effect, if one waits.
    pub async fn pending_payout(&self, provider: Address) -> Result<Option<(Address, u64)>, NodeError> {
        let c = self.market.contract();
        let next = c.pendingPayout(provider).call().await.map_err(contract_error("pendingPayout"))?;
        if next.is_zero() {
            return Ok(None);
        }
        let at = c.pendingPayoutAt(provider).call().await.map_err(contract_error("pendingPayoutAt"))?;
        Ok(Some((next, at.saturating_to())))
    }

    /// The payment-token balance an account can withdraw, its stake, and its reputation score (bps).
    pub async fn standing(&self, who: Address) -> Result<(u128, U256, U256), NodeError> {
        let c = self.market.contract();
        let account = self.market.account(who).await?;
        let provider = c.providerOf(who).call().await.map_err(contract_error("providerOf"))?;
        let score = c.reputationScore(who).call().await.map_err(contract_error("reputationScore"))?;
        Ok((account.balance, U256::from(provider.stake), score))
    }
}

/// True when the network's RPC is on this machine: the embedded local network.
fn is_local(rpc_url: &str) -> bool {
    let host = rpc_url.split("://").nth(1).unwrap_or(rpc_url);
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

/// The endpoint's view of the chain: this connection's wallet and market, a job's posting,
/// claimants and replicas.
impl gridmint_peer::Ledger for Network {
    fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    fn domain(&self) -> gridmint_peer::Domain {
        gridmint_peer::Domain { chain_id: self.profile.deployment.chain_id, market: self.profile.deployment.market }
    }

    async fn job_slot(&self, job_id: U256) -> Result<(Address, u32), gridmint_peer::PeerError> {
        let slot = self.market.slot(job_id).await?;
        Ok((slot.buyer, slot.selected))
    }

    async fn posted_job(&self, job_id: U256) -> Result<Option<Gridmint::JobPosted>, gridmint_peer::PeerError> {
        Network::posted_job(self, job_id).await.map_err(|e| gridmint_peer::PeerError::Ledger { message: e.to_string() })
    }

    async fn claimants(&self, job_id: U256) -> Result<Vec<Address>, gridmint_peer::PeerError> {
        Ok(self.market.trail(job_id).await?.claimants)
    }

    async fn may_claim(&self, job_id: U256, who: Address) -> Result<bool, gridmint_peer::PeerError> {
        // Claims are open: the job is posted and its claim window has not closed.
        let slot = self.market.slot(job_id).await?;
        let open = slot.job_state().is_ok_and(|s| s == gridmint_chain::JobState::Open);
        let now = self.now().await.map_err(|e| gridmint_peer::PeerError::Ledger { message: e.to_string() })?;
        if !open || now >= slot.claimDeadline.to::<u64>() {
            return Ok(false);
        }
        let Some(posted) = gridmint_peer::Ledger::posted_job(self, job_id).await? else { return Ok(false) };
        self.market
            .contract()
            .isEligible(who, posted.requirements)
            .call()
            .await
            .map_err(|e| gridmint_peer::PeerError::Ledger { message: format!("isEligible: {e}") })
    }

    async fn may_judge(&self, job_id: U256, who: Address) -> Result<bool, gridmint_peer::PeerError> {
        if self.withhold_from_jurors {
            tracing::warn!(job = %job_id, juror = %who, "withholding the job's data from a juror (test only)");
            return Ok(false);
        }
        let seats = self.market.jury(job_id).await?;
        if seats.iter().any(|seat| seat.juror == who) {
            return Ok(true);
        }
        // A pool member that could take a seat now (a free one, or one its ticket for it beats):
        // it needs the data before it commits. The claimants are parties; the contract's
        // eligibility covers the rest.
        // Votes are committed until the game's deadline: after it, no new juror needs the data.
        let deadline: u64 = self.market.dispute(job_id).await?.deadline.to();
        if self.now().await.map_err(|e| gridmint_peer::PeerError::Ledger { message: e.to_string() })? > deadline {
            return Ok(false);
        }
        let (tickets, eligible) = self.market.jury_tickets(job_id, who).await?;
        if !eligible || self.market.trail(job_id).await?.claimants.contains(&who) {
            return Ok(false);
        }
        Ok(seats.iter().zip(tickets).any(|(seat, ticket)| seat.juror == Address::ZERO || ticket < seat.ticket))
    }
}

/// What the court did with a job ([`Network::court_record`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CourtRecord {
    pub games: usize,
    pub rounds: usize,
    pub step: Option<u32>,
    pub jury_votes: usize,
    /// Per game: whether the defending claim stood.
    pub verdicts: Vec<bool>,
}
