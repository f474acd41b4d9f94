//! A replica's part in its disputed job's court game (`contracts/src/court/Court.sol`): it defends
//! the claim it revealed from the trace it kept (opens the trace, splits the disputed node, opens
//! the step), steers when its own claim is the challenger (picks the first part where the
//! defender's tree and its own differ), and moves the game on once a deadline passed. An honest
//! replica that did not answer would lose its game and be slashed, so this runs on every poll of
//! a disputed job until the job ends.

use std::path::Path;

use alloy::primitives::{B256, U256};
use gridmint_chain::court::Phase;

use crate::court::quietly;
use gridmint_runner::trace::{Node, Trace, claim_root};

use super::*;

/// The claim file beside a job's files: the trace file's bytes.
const CLAIM_FILE: &str = "claim.bin";

/// Keeps what a result's root commits to (the trace that binds its files) in the job's folder.
pub(super) fn keep_claim(dir: &Path, trace: &Trace) -> Result<(), NodeError> {
    let path = dir.join(CLAIM_FILE);
    std::fs::write(&path, trace.encode()).map_err(|e| NodeError::Io { what: "writing", path, source: e })
}

/// The kept claim of job `job_id`, if it is the one that hashes to `root`.
fn load_claim(work_dir: &Path, job_id: U256, root: B256) -> Option<Trace> {
    let bytes = std::fs::read(work_dir.join(format!("job-{job_id}")).join(CLAIM_FILE)).ok()?;
    let trace = Trace::decode(&bytes).ok()?;
    (B256::from(claim_root(&trace)) == root).then_some(trace)
}

/// A replica whose reveal is on chain (its own, or the buyer's batch) plays its claim's game
/// until the job ends; true (the task is over) when it has no part in it.
pub(super) async fn take_part(
    net: &Network,
    work_dir: &Path,
    job_id: U256,
    task: &mut Task,
) -> Result<bool, NodeError> {
    let Some((root, _, _)) = task.result else { return Ok(true) };
    if !task.revealed {
        if !net.market.trail(job_id).await?.reveals.iter().any(|r| r.index == task.index) {
            return Ok(true);
        }
        task.revealed = true;
    }
    play(net, work_dir, job_id, root).await?;
    Ok(false)
}

/// One look at the game of disputed job `job_id`, in which this replica revealed `root`.
async fn play(net: &Network, work_dir: &Path, job_id: U256, root: B256) -> Result<(), NodeError> {
    let g = net.market.dispute(job_id).await?;
    let phase = Phase::from_u8(g.phase);
    if phase == Phase::None {
        return Ok(());
    }
    if crate::court::advance_if_due(net, job_id, &g, net.now().await?).await? {
        return Ok(());
    }
    let trail = net.market.trail(job_id).await?;
    let revealed = |index: u8| trail.reveals.iter().find(|r| r.index == U256::from(index)).map(|r| r.resultRoot);
    let defending = revealed(g.defender) == Some(root);
    let challenging = g.steerer == net.address() && g.challenger != 255 && revealed(g.challenger) == Some(root);
    let moves = match phase {
        Phase::Trace | Phase::Leaf => defending,
        Phase::Bisect => {
            if g.challengerTurn {
                challenging
            } else {
                defending
            }
        }
        _ => false,
    };
    if !moves {
        return Ok(());
    }
    // Only now the kept claim is read (its trace decoded): on this replica's own move.
    let Some(trace) = load_claim(work_dir, job_id, root) else {
        tracing::warn!(job = %job_id, "in the court, but the trace behind this replica's root is not here");
        return Ok(());
    };
    let depth = usize::from(g.depth);
    let position = g.position as usize;
    match phase {
        Phase::Trace if defending => {
            let (flops, steps) = (trace.flops(), trace.steps.len() as u32);
            let call = net.market.open_trace(job_id, B256::from(trace.root()), flops, steps);
            tracing::info!(job = %job_id, steps, "court: opening the trace this replica committed");
            quietly(job_id, "openTrace", call.await.map(drop))
        }
        Phase::Bisect if defending && !g.challengerTurn => {
            let levels = trace.levels();
            let per = usize::from(net.market.levels_per_move().await?).min(depth);
            let (parts, flops) = parts_of(&levels, depth - per, position << per, 1 << per);
            tracing::info!(job = %job_id, depth, position, "court: splitting the disputed node");
            quietly(job_id, "splitNode", net.market.split_node(job_id, parts, flops).await.map(drop))
        }
        Phase::Bisect if challenging && g.challengerTurn => {
            let Some(split) = net.market.last_split(job_id).await? else { return Ok(()) };
            if usize::from(split.depth) != depth || split.position as usize != position {
                return Ok(()); // the event of the current node is not indexed yet
            }
            let levels = trace.levels();
            let per = split.parts.len().trailing_zeros() as usize;
            let (mine, my_flops) = parts_of(&levels, depth - per, position << per, split.parts.len());
            // The first part where the defender's tree and this replica's differ: every step to
            // its left is the same in both.
            let index =
                (0..mine.len()).find(|&i| mine[i] != split.parts[i] || my_flops[i] != split.partFlops[i]).unwrap_or(0);
            tracing::info!(job = %job_id, depth, index, "court: picking the part the defender got wrong");
            quietly(
                job_id,
                "pickPart",
                net.market.pick_part(job_id, index, split.parts, split.partFlops).await.map(drop),
            )
        }
        Phase::Leaf if defending => {
            let step = trace.steps.get(position).copied();
            let (prev, input, output) = step.map_or((0, [0; 32], [0; 32]), |s| (s.prev, s.input, s.output));
            tracing::info!(job = %job_id, step = position, "court: opening the step in dispute");
            let call = net.market.open_leaf(job_id, prev, B256::from(input), B256::from(output));
            quietly(job_id, "openLeaf", call.await.map(drop))
        }
        _ => Ok(()),
    }
}

/// `n` nodes of tree level `level` from `first`: hashes and flops.
fn parts_of(levels: &[Vec<Node>], level: usize, first: usize, n: usize) -> (Vec<B256>, Vec<u64>) {
    levels[level][first..first + n].iter().map(|(hash, flops)| (B256::from(*hash), *flops)).unzip()
}
