//! Jury duty: the provider agent judges other jobs' court games (`contracts/src/court`). When a
//! game comes down to one step (`LeafOpened`) of a job this node is no party to, it claims duty;
//! after the claim window anyone draws the jury (this node too, from the `JuryDutyClaimed`
//! events); if seated, it fetches the job's data from the buyer (seated jurors get it), re-runs
//! that one step here (an embed job's step is one sentence through the encoder) and commits its
//! answer, `keccak256(abi.encode(outHash, flops, steps))`, then reveals it after the commit
//! deadline. A juror of the majority is paid in stake from the losers; one that does not vote is
//! slashed lightly, so a seated juror always votes.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolEvent, SolValue},
};
use gridmint_chain::{ChainError, bindings::Gridmint, court::Phase};
use gridmint_peer::exchange;
use gridmint_protocol::JobKind;
use gridmint_runner as runner;

use super::*;

/// A game this node claimed duty in.
#[derive(Debug, Clone)]
pub(super) struct Duty {
    /// The block of the game's `LeafOpened`: its claims are in the logs from there.
    from_block: u64,
    leaf: Gridmint::LeafOpened,
    /// Seat, answer and salt once committed.
    committed: Option<(u64, B256, B256)>,
    revealed: bool,
}

/// The games this node judges, by job.
pub(super) type Duties = BTreeMap<U256, Duty>;

/// One round of jury duty: claims new games, draws juries, votes. `cursor` is the next block to
/// look for `LeafOpened` in.
pub(super) async fn round(ctx: &JuryContext<'_>, duties: &mut Duties, cursor: &mut u64) -> Result<(), NodeError> {
    let net = ctx.net;
    let head = net.block_number().await?;
    if *cursor == 0 {
        *cursor = head; // games from now on
    }
    if head >= *cursor {
        let filter = Filter::new()
            .address(net.profile.deployment.market)
            .event_signature(Gridmint::LeafOpened::SIGNATURE_HASH)
            .from_block(*cursor)
            .to_block(head);
        for log in net.market.contract().provider().get_logs(&filter).await.map_err(|e| logs_error(&e))? {
            let Ok(leaf) = log.log_decode::<Gridmint::LeafOpened>() else { continue };
            let leaf = leaf.inner.data;
            if claim(net, &leaf).await? {
                let from_block = log.block_number.unwrap_or(head);
                duties.insert(leaf.jobId, Duty { from_block, leaf, committed: None, revealed: false });
            }
        }
        *cursor = head + 1;
    }
    let mut done = Vec::new();
    for (job_id, duty) in duties.iter_mut() {
        match serve(ctx, *job_id, duty).await {
            Ok(true) => done.push(*job_id),
            Ok(false) => {}
            Err(e) => tracing::warn!(job = %job_id, error = %e, "jury duty: retrying"),
        }
    }
    for job_id in done {
        duties.remove(&job_id);
    }
    Ok(())
}

/// What jury duty needs of the provider.
pub(super) struct JuryContext<'a> {
    pub net: &'a Network,
    pub paths: &'a Paths,
    pub gpu: &'a std::sync::Arc<Compute>,
    pub work_dir: &'a std::path::Path,
}

fn logs_error(e: &impl std::fmt::Display) -> NodeError {
    NodeError::Chain(ChainError::Receipt { call: "get_logs", message: e.to_string() })
}

/// Claims duty in the game of `leaf` unless this node is a party (the buyer or a claimant of
/// the job). True when it claimed.
async fn claim(net: &Network, leaf: &Gridmint::LeafOpened) -> Result<bool, NodeError> {
    let me = net.address();
    let job = net.market.slot(leaf.jobId).await?;
    if job.buyer == me || net.market.trail(leaf.jobId).await?.claimants.contains(&me) {
        return Ok(false);
    }
    match net.market.contract().claimJuryDuty(leaf.jobId).send().await {
        Ok(pending) => match pending.get_receipt().await {
            Ok(r) if r.status() => {
                tracing::info!(job = %leaf.jobId, step = leaf.step, "jury duty claimed");
                Ok(true)
            }
            _ => Ok(false),
        },
        Err(e) => {
            tracing::debug!(job = %leaf.jobId, error = %e, "jury duty not claimed");
            Ok(false)
        }
    }
}

/// One look at a game this node claimed duty in; true once its part is over.
async fn serve(ctx: &JuryContext<'_>, job_id: U256, duty: &mut Duty) -> Result<bool, NodeError> {
    let net = ctx.net;
    let g = net.market.dispute(job_id).await?;
    let now = net.now().await?;
    let deadline: u64 = g.deadline.to();
    match Phase::from_u8(g.phase) {
        Phase::JuryClaims if now > deadline => {
            draw(net, job_id, duty.from_block).await?;
            Ok(false)
        }
        Phase::JuryClaims => Ok(false),
        Phase::JuryVote => {
            let Some(seat) = seat_of(net, job_id).await? else { return Ok(true) };
            if duty.committed.is_none() && now <= deadline {
                let answer = answer(ctx, job_id, &duty.leaf).await?;
                let salt = B256::from(rand::random::<[u8; 32]>());
                let digest = net
                    .market
                    .contract()
                    .voteDigest(job_id, U256::from(seat), answer, salt, net.address())
                    .call()
                    .await
                    .map_err(|e| NodeError::Chain(ChainError::from_contract("voteDigest", e)))?;
                let sent = net.market.contract().commitVote(job_id, U256::from(seat), digest).send().await;
                let receipt = sent.map_err(|e| NodeError::Chain(ChainError::from_contract("commitVote", e)))?;
                receipt.get_receipt().await.map_err(|e| {
                    NodeError::Chain(ChainError::Receipt { call: "commitVote", message: e.to_string() })
                })?;
                tracing::info!(job = %job_id, seat, step = duty.leaf.step, "jury vote committed");
                duty.committed = Some((seat, answer, salt));
            } else if let Some((seat, answer, salt)) = duty.committed
                && !duty.revealed
                && now > deadline
            {
                let call = net.market.contract().revealVote(job_id, U256::from(seat), answer, salt);
                let sent =
                    call.send().await.map_err(|e| NodeError::Chain(ChainError::from_contract("revealVote", e)))?;
                sent.get_receipt().await.map_err(|e| {
                    NodeError::Chain(ChainError::Receipt { call: "revealVote", message: e.to_string() })
                })?;
                tracing::info!(job = %job_id, seat, agrees = (answer == g.node), "jury vote revealed");
                duty.revealed = true;
            }
            if duty.revealed {
                // The verdict: anyone moves the game on once the reveal window passed.
                crate::court::advance_if_due(net, job_id, &g, now).await?;
            }
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// The seat this node holds in the job's jury, if any.
async fn seat_of(net: &Network, job_id: U256) -> Result<Option<u64>, NodeError> {
    Ok(net.market.jurors(job_id).await?.iter().position(|j| *j == net.address()).map(|s| s as u64))
}

/// Draws the jury from the game's claims (its `JuryDutyClaimed` events since `from_block`).
async fn draw(net: &Network, job_id: U256, from_block: u64) -> Result<(), NodeError> {
    let head = net.block_number().await?;
    let filter = Filter::new()
        .address(net.profile.deployment.market)
        .event_signature(Gridmint::JuryDutyClaimed::SIGNATURE_HASH)
        .topic1(B256::from(job_id))
        .from_block(from_block)
        .to_block(head);
    let logs = net.market.contract().provider().get_logs(&filter).await.map_err(|e| logs_error(&e))?;
    let (mut claims, mut weights): (Vec<Address>, Vec<u128>) = (Vec::new(), Vec::new());
    for log in logs {
        let Ok(c) = log.log_decode::<Gridmint::JuryDutyClaimed>() else { continue };
        claims.push(c.inner.data.juror);
        weights.push(c.inner.data.weight);
    }
    let trail = net.market.trail(job_id).await?;
    let call = net.market.contract().drawJury(job_id, claims, weights, trail);
    let sent = match call.gas(3_000_000).send().await {
        Ok(pending) => pending.get_receipt().await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::debug!(job = %job_id, error = %e, "jury not drawn (someone drew it first)");
    }
    Ok(())
}

/// This node's answer for the step of `leaf`: it re-runs the step from the job's package and
/// hashes (output, flops, the job's step count). A step whose input the defender committed
/// wrongly, or a job kind this node cannot re-run one step of, is answered with a hash that is
/// no one's.
async fn answer(ctx: &JuryContext<'_>, job_id: U256, leaf: &Gridmint::LeafOpened) -> Result<B256, NodeError> {
    let net = ctx.net;
    let none = keccak256(b"gridmint: this juror could not check the step");
    let posted = compute::find_posted(net, job_id).await?;
    let (bundle, _) = net.peer()?.fetch_job_data(&posted).await?;
    let dir = ctx.work_dir.join(format!("jury-{job_id}-{}", leaf.step));
    let _ = std::fs::remove_dir_all(&dir);
    let files = exchange::unbundle(&bundle)?;
    exchange::write_all(&dir.join("job"), &files)?;
    let package = runner::Package::open(&dir.join("job"))?;
    if package.manifest.kind != JobKind::Embed {
        tracing::warn!(job = %job_id, "jury duty: one step of a {} job is not re-run here yet", package.manifest.kind.as_str());
        return Ok(none);
    }
    let input = package.required("input", &package.manifest.input)?.to_owned();
    let text = String::from_utf8(package.read("input", &input, runner::embed::MAX_INPUT_BYTES)?).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let steps = lines.len() as u32;
    let step = leaf.step as usize;
    let Some(sentence) = lines.get(step) else {
        // Past the job's last step: no output, no flops.
        return Ok(keccak256((B256::ZERO, 0u64, steps).abi_encode()));
    };
    let mut entries: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(name, _)| *name != input).collect();
    entries.push((input, format!("{sentence}\n").into_bytes()));
    let one = dir.join("step");
    exchange::write_all(&one, &entries)?;
    let out = dir.join("out");
    let (paths, gpu) = (ctx.paths.clone(), ctx.gpu.clone());
    let report = tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
        match &*gpu {
            Compute::Here(slot) => runner::run_in_slot(&paths, slot, &one, &out, 100, None, &mut |_| {}).map(drop)?,
            Compute::Worker { worker, device } => worker.run(*device, &one, &out, 100, None, &mut |_| {}).map(drop)?,
        }
        Ok(())
    })
    .await
    .map_err(|e| NodeError::Worker { message: format!("job {job_id}: the jury's run stopped: {e}") })?;
    report?;
    let trace = runner::trace::Trace::decode(
        &std::fs::read(dir.join("out").join(runner::trace::TRACE_FILE)).map_err(|e| NodeError::Io {
            what: "reading",
            path: dir.join("out"),
            source: e,
        })?,
    )
    .map_err(|e| NodeError::Exchange { message: format!("jury duty: the step's trace: {e}") })?;
    let _ = std::fs::remove_dir_all(&dir);
    let Some(mine) = trace.steps.first() else { return Ok(none) };
    // The defender's input must be the package's: this sentence's tokens, from no earlier step.
    if leaf.prev != 0 || leaf.inHash != B256::from(mine.input) {
        tracing::warn!(job = %job_id, step, "jury duty: the defender's step does not start from the package's sentence");
        return Ok(none);
    }
    Ok(keccak256((B256::from(mine.output), mine.flops, steps).abi_encode()))
}
