//! The court's moves (`IGridmintCourt`), for the clients that play a disputed job's game: the
//! defender opening its trace, splitting nodes and opening the step; the challenger picking
//! parts; anyone moving the game on past a deadline; and the jury's: entering the jury pool,
//! reading tickets (one per seat) and the pool's members, committing (which takes a seat) and
//! revealing votes.

use alloy::{
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};

pub use crate::market::CourtParams;
use crate::{ChainError, Market, bindings::Gridmint, market::Mined};

/// Where a dispute's game stands (`DisputePhase` in Types.sol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    None,
    Trace,
    Bisect,
    Leaf,
    JuryVote,
    Checking,
}

impl Phase {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Trace,
            2 => Self::Bisect,
            3 => Self::Leaf,
            4 => Self::JuryVote,
            5 => Self::Checking,
            _ => Self::None,
        }
    }
}

/// How far back to look for the defender's last split: it happened within one move window.
const SPLIT_LOOKBACK_BLOCKS: u64 = 10_000;

impl<P: Provider + Clone> Market<P> {
    /// The job's game as the court has it.
    pub async fn dispute(&self, job_id: U256) -> Result<Gridmint::Dispute, ChainError> {
        self.contract().disputeOf(job_id).call().await.map_err(|e| ChainError::from_contract("disputeOf", e))
    }

    /// The job's jury seats (`jurySize` of them): each holder (zero: a free seat) with its
    /// ticket for the seat.
    pub async fn jury(&self, job_id: U256) -> Result<Vec<Gridmint::JurySeat>, ChainError> {
        self.contract().juryOf(job_id).call().await.map_err(|e| ChainError::from_contract("juryOf", e))
    }

    /// Who holds each seat of the job's current jury (zero: a free seat); a member may hold
    /// several.
    pub async fn jurors(&self, job_id: U256) -> Result<Vec<alloy::primitives::Address>, ChainError> {
        Ok(self.jury(job_id).await?.into_iter().map(|seat| seat.juror).collect())
    }

    /// Enters the jury pool (or refreshes this account's entry): it may judge steps opened from
    /// the next block on.
    pub async fn join_jury_pool(&self) -> Result<Mined<()>, ChainError> {
        Ok(Mined { value: (), receipt: Self::send("joinJuryPool", self.contract().joinJuryPool()).await? })
    }

    /// The block `provider` entered the jury pool in; 0 when it is not in it.
    pub async fn jury_since(&self, provider: alloy::primitives::Address) -> Result<u64, ChainError> {
        let since = self.contract().jurySinceOf(provider).call().await;
        since.map(|b| b.saturating_to()).map_err(|e| ChainError::from_contract("jurySinceOf", e))
    }

    /// `juror`'s ticket for each seat of the job's current draw (lower is better) and whether it
    /// may take a seat (claimants aside).
    pub async fn jury_tickets(
        &self,
        job_id: U256,
        juror: alloy::primitives::Address,
    ) -> Result<(Vec<u64>, bool), ChainError> {
        let r = self.contract().juryTicketsOf(job_id, juror).call().await;
        let r = r.map_err(|e| ChainError::from_contract("juryTicketsOf", e))?;
        Ok((r.tickets, r.eligible))
    }

    /// Takes `seat` of the job's jury with `commitment` (`voteDigest`): true once seated, false
    /// when the draw was reseeded instead (nobody voted within 256 blocks of the leaf).
    pub async fn commit_vote(
        &self,
        job_id: U256,
        seat: u64,
        commitment: B256,
        parties: Vec<alloy::primitives::Address>,
    ) -> Result<Mined<bool>, ChainError> {
        let call = self.contract().commitVote(job_id, U256::from(seat), commitment, parties);
        let receipt = Self::send("commitVote", call).await?;
        let seated = receipt.decoded_log::<Gridmint::VoteCommitted>().is_some();
        Ok(Mined { value: seated, receipt })
    }

    pub async fn reveal_vote(
        &self,
        job_id: U256,
        seat: u64,
        output: B256,
        salt: B256,
    ) -> Result<Mined<()>, ChainError> {
        let call = self.contract().revealVote(job_id, U256::from(seat), output, salt);
        Ok(Mined { value: (), receipt: Self::send("revealVote", call).await? })
    }

    /// The digest a juror commits (`voteDigest`).
    pub async fn vote_digest(
        &self,
        job_id: U256,
        output: B256,
        salt: B256,
        juror: alloy::primitives::Address,
    ) -> Result<B256, ChainError> {
        let call = self.contract().voteDigest(job_id, output, salt, juror);
        call.call().await.map_err(|e| ChainError::from_contract("voteDigest", e))
    }

    /// The accounts that entered the jury pool since `from_block` (some may have left since:
    /// `jury_tickets` tells).
    pub async fn jury_pool(&self, from_block: u64) -> Result<Vec<alloy::primitives::Address>, ChainError> {
        let filter =
            Filter::new().address(self.deployment().market).event_signature(Gridmint::JuryPoolJoined::SIGNATURE_HASH);
        let logs = self.logs_since(&filter, |_| from_block, "jury pool").await?;
        let mut pool: Vec<alloy::primitives::Address> = Vec::new();
        for log in logs {
            if let Ok(j) = log.log_decode::<Gridmint::JuryPoolJoined>()
                && !pool.contains(&j.inner.data.provider)
            {
                pool.push(j.inner.data.provider);
            }
        }
        Ok(pool)
    }

    /// The court's parameters, read once: they are immutables of the deployment.
    pub async fn court_params(&self) -> Result<CourtParams, ChainError> {
        if let Some(params) = self.court_cache().get() {
            return Ok(*params);
        }
        let c = self.contract();
        let params = CourtParams {
            levels_per_move: c
                .levelsPerMove()
                .call()
                .await
                .map_err(|e| ChainError::from_contract("levelsPerMove", e))?,
            jury_size: c.jurySize().call().await.map_err(|e| ChainError::from_contract("jurySize", e))?,
            move_window: c.moveWindow().call().await.map_err(|e| ChainError::from_contract("moveWindow", e))?,
        };
        Ok(*self.court_cache().get_or_init(|| params))
    }

    /// Levels of the trace tree one move descends.
    pub async fn levels_per_move(&self) -> Result<u8, ChainError> {
        Ok(self.court_params().await?.levels_per_move)
    }

    pub async fn open_trace(
        &self,
        job_id: U256,
        trace_root: B256,
        flops: u64,
        steps: u32,
    ) -> Result<Mined<()>, ChainError> {
        let call = self.contract().openTrace(job_id, trace_root, flops, steps);
        Ok(Mined { value: (), receipt: Self::send("openTrace", call).await? })
    }

    pub async fn split_node(&self, job_id: U256, parts: Vec<B256>, flops: Vec<u64>) -> Result<Mined<()>, ChainError> {
        Ok(Mined {
            value: (),
            receipt: Self::send("splitNode", self.contract().splitNode(job_id, parts, flops)).await?,
        })
    }

    pub async fn pick_part(
        &self,
        job_id: U256,
        index: usize,
        parts: Vec<B256>,
        flops: Vec<u64>,
    ) -> Result<Mined<()>, ChainError> {
        let call = self.contract().pickPart(job_id, U256::from(index), parts, flops);
        Ok(Mined { value: (), receipt: Self::send("pickPart", call).await? })
    }

    pub async fn open_leaf(&self, job_id: U256, prev: u32, input: B256, output: B256) -> Result<Mined<()>, ChainError> {
        let call = self.contract().openLeaf(job_id, prev, input, output);
        Ok(Mined { value: (), receipt: Self::send("openLeaf", call).await? })
    }

    /// The buyer challenges the one claim left (`SurvivorChecking`), approving its bond from
    /// `owner` (the sender) first, exactly that amount.
    pub async fn challenge_survivor(
        &self,
        owner: alloy::primitives::Address,
        job_id: U256,
    ) -> Result<Mined<()>, ChainError> {
        self.approve_bond(owner, job_id).await?;
        let receipt =
            self.with_trail("challengeSurvivor", job_id, |t| self.contract().challengeSurvivor(job_id, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// Moves the game on once its deadline passed (or, for the buyer, accepts the claim left).
    pub async fn advance_dispute(&self, job_id: U256) -> Result<Mined<()>, ChainError> {
        let receipt = self.with_trail("advanceDispute", job_id, |t| self.contract().advanceDispute(job_id, t)).await?;
        Ok(Mined { value: (), receipt })
    }

    /// The defender's last split of the job's disputed node (its `NodeSplit` event: the court
    /// does not store the parts): the node's depth and position, the parts and their flops.
    pub async fn last_split(&self, job_id: U256) -> Result<Option<Gridmint::NodeSplit>, ChainError> {
        let filter = Filter::new()
            .address(self.deployment().market)
            .event_signature(Gridmint::NodeSplit::SIGNATURE_HASH)
            .topic1(B256::from(job_id));
        let logs = self.logs_since(&filter, |head| head.saturating_sub(SPLIT_LOOKBACK_BLOCKS), "last split").await?;
        let Some(last) = logs.last() else { return Ok(None) };
        let split = last
            .log_decode::<Gridmint::NodeSplit>()
            .map_err(|e| ChainError::Receipt { call: "decode NodeSplit", message: e.to_string() })?
            .inner
            .data;
        Ok(Some(split))
    }
}
