//! How a provider's task ends other than by settlement: leaving a job this node cannot run,
//! challenging a majority that outvoted this replica, and settling a job whose buyer never
//! checked it.

use alloy::primitives::{B256, U256};
use gridmint_chain::{
    ChainError, JobState,
    bindings::Gridmint::{self, GridmintErrors},
};

use super::Task;
use crate::{NodeError, net::Network};

/// A job this node cannot run: once the replicas are drawn, a selected replica that has not
/// committed leaves the job (no slash: the market cannot tell a job that cannot run from a lazy
/// replica, so the replica says so); one not drawn is done. True when the task is over.
pub(super) async fn leave_when_selected(
    net: &Network,
    job_id: U256,
    task: &Task,
    state: JobState,
    why: &str,
) -> Result<bool, NodeError> {
    match (state, task.selected) {
        (JobState::Open, _) => Ok(false), // the draw is still to come
        (JobState::Running, Some(true)) if !task.committed => {
            match net.market.leave_job(job_id, task.index).await {
                Ok(_) => tracing::warn!(job = %job_id, reason = why, "left the job: it cannot run here"),
                Err(e) => {
                    tracing::warn!(job = %job_id, error = %e, "could not leave the job; trying again");
                    return Ok(false);
                }
            }
            Ok(true)
        }
        _ => Ok(true),
    }
}

/// After this replica's reveal the buyer checks the result and settles the job; if the buyer
/// went quiet, the replica settles it itself once the buyer's check window is over (the market
/// refuses it before). True when the task is over.
pub(super) async fn settle_if_buyer_quiet(
    net: &Network,
    job_id: U256,
    task: &mut Task,
    now: u64,
) -> Result<bool, NodeError> {
    let settle_after = match task.settle_after {
        Some(at) => at,
        None => {
            let view = net.market.job(job_id).await?;
            *task.settle_after.insert(view.reveal_deadline() + net.market.check_window().await?)
        }
    };
    if now <= settle_after {
        return Ok(false);
    }
    match net.market.finalize(job_id).await {
        Ok(_) => tracing::info!(job = %job_id, "settled the job its buyer left unchecked"),
        Err(ChainError::Reverted { reason, .. }) if matches!(*reason, GridmintErrors::WrongState(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(false)
}

/// A replica outvoted: once every selected replica revealed (or the reveal window closed), a
/// replica whose claim is not the strict majority's challenges that majority (a bond in payment
/// tokens from its wallet, not its market balance: a wallet without them cannot challenge, and
/// the error says so on every try) while the buyer's check window is open. Without it the market would settle
/// the majority and slash this replica: a buyer's sybils agreeing on a wrong result would take
/// an honest replica's stake. The court then plays it out, this replica steering (see
/// `court::take_part`). With no strict majority the market opens the game itself at `finalize`.
/// True when it challenged now.
pub(super) async fn challenge_if_outvoted(
    net: &Network,
    job_id: U256,
    task: &mut Task,
    now: u64,
) -> Result<bool, NodeError> {
    if task.dissent_checked {
        return Ok(false);
    }
    let view = net.market.job(job_id).await?;
    let replicas = view.selected.count_ones() as usize;
    if view.revealed() < replicas && now <= view.reveal_deadline() {
        return Ok(false);
    }
    let reveals = &view.trail.reveals;
    let claim = |r: &Gridmint::Revealed| (r.resultRoot, r.workUnits);
    let Some(mine) = reveals.iter().find(|r| r.index == task.index).map(claim) else {
        task.dissent_checked = true;
        return Ok(false);
    };
    let votes = |c: (B256, u64)| reveals.iter().filter(|r| claim(r) == c).count();
    let majority = reveals.iter().map(claim).find(|c| votes(*c) * 2 > replicas);
    let too_late = now > view.reveal_deadline() + net.market.check_window().await?;
    if majority.is_none_or(|m| m == mine) || too_late {
        task.dissent_checked = true;
        return Ok(false);
    }
    match net.market.challenge(net.address(), job_id, Vec::new()).await {
        Ok(_) => {
            tracing::warn!(job = %job_id, "outvoted by a majority whose result this node's contradicts: challenged")
        }
        // Someone challenged first (the buyer, another replica of this claim): the court has it.
        Err(ChainError::Reverted { reason, .. }) if matches!(*reason, GridmintErrors::WrongState(_)) => {}
        Err(e) => return Err(e.into()),
    }
    task.dissent_checked = true;
    Ok(true)
}
