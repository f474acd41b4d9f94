//! The buyer's part in its disputed job's court game (`contracts/src/court/Court.sol`; a
//! replica's part is `provider::court`). When the buyer challenged, it steers the bisection to
//! the step its spot check found wrong (an embed job's step is one sentence: the row it
//! contradicted); when one claim is left, it accepts it if its own run agrees, challenges it if
//! its run contradicts it; and it moves the game on past any deadline.

use alloy::primitives::{B256, U256};
use gridmint_chain::{ChainError, court::Phase};

use crate::{NodeError, net::Network};

/// `Dispute.challenger` when the buyer challenges.
const BUYER: u8 = 255;

/// One look at the game of disputed job `job_id`, as its buyer.
pub async fn play_as_buyer(net: &Network, job_id: U256) -> Result<(), NodeError> {
    let g = net.market.dispute(job_id).await?;
    let phase = Phase::from_u8(g.phase);
    let now = net.now().await?;
    let deadline: u64 = g.deadline.to();
    if phase != Phase::Checking && advance_if_due(net, job_id, &g, now).await? {
        return Ok(());
    }
    match phase {
        Phase::None => Ok(()),
        Phase::Checking => {
            let trail = net.market.trail(job_id).await?;
            let Some(left) = trail.reveals.iter().find(|r| (g.eliminated >> r.index.to::<u32>()) & 1 == 0) else {
                return Ok(());
            };
            let root = left.resultRoot;
            match crate::spot::verdict(net, job_id, root).await? {
                Some(true) => {
                    tracing::info!(job = %job_id, %root, "court: the claim left agrees with this node's run; accepting it");
                    quietly(job_id, "advanceDispute", net.market.advance_dispute(job_id).await.map(drop))
                }
                Some(false) if !g.buyerLost => {
                    tracing::warn!(job = %job_id, %root, "court: the claim left contradicts this node's run; challenging it");
                    quietly(
                        job_id,
                        "challengeSurvivor",
                        net.market.challenge_survivor(net.address(), job_id).await.map(drop),
                    )
                }
                _ if now > deadline => {
                    quietly(job_id, "advanceDispute", net.market.advance_dispute(job_id).await.map(drop))
                }
                _ => Ok(()),
            }
        }
        Phase::Bisect if g.challenger == BUYER && g.challengerTurn && now <= deadline => {
            let Some(split) = net.market.last_split(job_id).await? else { return Ok(()) };
            if split.depth != g.depth || split.position != g.position {
                return Ok(()); // the event of the current node is not indexed yet
            }
            let step = contradicted_step(net, job_id, &g).await?;
            let per = split.parts.len().trailing_zeros() as usize;
            let below = usize::from(g.depth) - per;
            let index = (step >> below) & (split.parts.len() - 1);
            tracing::info!(job = %job_id, step, index, "court: steering towards the step this node's run contradicted");
            quietly(
                job_id,
                "pickPart",
                net.market.pick_part(job_id, index, split.parts, split.partFlops).await.map(drop),
            )
        }
        _ => Ok(()),
    }
}

/// Moves the game on when its deadline passed (anyone may): the side that had to move loses,
/// the revealed votes decide one window after the commit deadline (at the deadline once every
/// seat revealed), a jury nobody sat on leaves the defender standing, the claim left is settled.
/// True when it was due.
pub(crate) async fn advance_if_due(
    net: &Network,
    job_id: U256,
    g: &gridmint_chain::bindings::Gridmint::Dispute,
    now: u64,
) -> Result<bool, NodeError> {
    let deadline: u64 = g.deadline.to();
    let due = match Phase::from_u8(g.phase) {
        Phase::None => false,
        Phase::JuryVote => verdict_due(g, net.market.court_params().await?.move_window, now),
        _ => now > deadline,
    };
    if due {
        quietly(job_id, "advanceDispute", net.market.advance_dispute(job_id).await.map(drop))?;
    }
    Ok(due)
}

/// Whether a jury's verdict may be taken at `now` (a game's, or a device check's): one move window
/// after the commit deadline, or at the deadline once every seat revealed (or nobody sat).
pub(crate) fn verdict_due(g: &gridmint_chain::bindings::Gridmint::Dispute, move_window: u32, now: u64) -> bool {
    let deadline: u64 = g.deadline.to();
    let all_revealed = g.jury.revealedSeats == g.jury.takenSeats;
    now > deadline + u64::from(move_window) || (now > deadline && all_revealed)
}

/// The step the buyer's spot check contradicted in the defending claim's result (an embed job:
/// the row; a chained run: its first step that differs), 0 when it has none (no readable result).
async fn contradicted_step(
    net: &Network,
    job_id: U256,
    g: &gridmint_chain::bindings::Gridmint::Dispute,
) -> Result<usize, NodeError> {
    let trail = net.market.trail(job_id).await?;
    let Some(defending) = trail.reveals.iter().find(|r| r.index == U256::from(g.defender)) else { return Ok(0) };
    let root: B256 = defending.resultRoot;
    Ok(match net.peer()?.spot_outcome(job_id, root, std::time::Duration::from_secs(1)).await {
        Some(Ok(gridmint_peer::SpotOutcome::Differs { row })) => row,
        _ => 0,
    })
}

/// A move someone else made first reverts: not an error of this node.
pub(crate) fn quietly(job_id: U256, call: &str, sent: Result<(), ChainError>) -> Result<(), NodeError> {
    match sent {
        Err(e) if e.revert_reason().is_some() => {
            tracing::debug!(job = %job_id, call, error = %e, "court move not taken");
            Ok(())
        }
        other => other.map_err(NodeError::from),
    }
}
