//! Device checks, the provider's side (`contracts/src/court/DeviceChecks.sol`): a provider
//! that is not verified opens its own check (when it holds no job, once per start, and once more
//! after each pass: a verified provider whose re-check fails or goes unanswered asks again once;
//! a void or failed check it opened itself waits for the next start); it answers every open
//! check on its device (the challenge seeded by the opening block's hash, for the memory it
//! registered), as soon as the seed is known; once the answer's block draws the jury's samples
//! it opens them ([`gridmint_runner::challenge::open`]: the challenge computed again, the sampled
//! rows kept) and serves them to the jurors on its endpoint; and it closes its check when the
//! jury is done.
//! A device that cannot answer (it registered more memory than it has, say) lets the deadline
//! pass: the check then leaves it unverified.
//!
//! The jurors' side is `check_jury`.

use gridmint_chain::device_check::{STATUS_ACTIVE, STATUS_VERIFIED};
use gridmint_runner::challenge::{ChallengeTerms, Openings};
use tokio::task::JoinHandle;

use super::*;

/// Device work in the background: a check's answer, or its openings.
type Running<T> = JoinHandle<Result<T, NodeError>>;

/// Where this node's own check stands between rounds.
#[derive(Debug, Default)]
pub(super) struct OwnCheck {
    /// A check was opened by this process and none has passed since (a void or failed check it
    /// opened is not retried until the next start, so a device that cannot answer does not
    /// recompute in a loop).
    opened: bool,
    /// The answer being computed, for the check seeded at this block.
    answering: Option<(u64, Running<[u8; 32]>)>,
    /// The check (by its seed block) this device could not answer: not tried again.
    gave_up: Option<u64>,
    /// An answer computed whose transaction has not landed yet (by its check's seed block): sent
    /// again, never computed again.
    computed: Option<(u64, B256)>,
    /// The openings being computed, for this root.
    opening: Option<(B256, Running<Openings>)>,
    /// The root whose openings this node keeps (served to the jurors).
    kept: Option<B256>,
}

/// The challenge of the check opened in block `seed_block` for a provider registered as `me`.
pub(super) async fn terms_of(
    net: &Network,
    seed_block: u64,
    me: &Gridmint::Provider,
) -> Result<ChallengeTerms, NodeError> {
    let seed = net.market.block_hash(seed_block).await?;
    Ok(ChallengeTerms {
        seed: seed.0,
        memory_mib: me.memoryMiB,
        class: gridmint_protocol::challenge::class_for(me.classes),
    })
}

impl Compute {
    /// Answers a device check's challenge on this device.
    pub(super) fn answer_challenge(&self, challenge: &ChallengeTerms) -> Result<[u8; 32], NodeError> {
        match self {
            Compute::Here(slot) => Ok(gridmint_runner::challenge::answer(&slot.gpu(), challenge)?),
            Compute::Worker { worker, device } => Ok(worker.answer_challenge(*device, challenge)?),
        }
    }

    /// Opens the rows a device check's jury samples, on this device.
    pub(super) fn open_challenge(
        &self,
        challenge: &ChallengeTerms,
        sample_seed: [u8; 32],
    ) -> Result<Openings, NodeError> {
        match self {
            Compute::Here(slot) => Ok(gridmint_runner::challenge::open(&slot.gpu(), challenge, sample_seed)?),
            Compute::Worker { worker, device } => Ok(worker.open_challenge(*device, challenge, sample_seed)?),
        }
    }
}

/// One round of this node's own device check. `idle`: the node holds no job, so a check it opens
/// does not compete with one for the device (a check opened by others is answered regardless).
pub(super) async fn round(
    net: &Network,
    gpu: &std::sync::Arc<Compute>,
    own: &mut OwnCheck,
    idle: bool,
) -> Result<(), NodeError> {
    let me = net.address();
    let check = net.market.device_check(me).await?;
    let seed_block = u64::from(check.seedBlock);
    if seed_block == 0 {
        if own.opened && net.registration(me).await?.status == STATUS_VERIFIED {
            // Passed since it asked: should a later check (a re-check others open) fail or go
            // unanswered, it may ask for one again, once per pass (a device that cannot answer
            // does not loop).
            own.opened = false;
        }
        // Active and not verified: it asks for its check, once per start and per pass.
        if !own.opened && idle && net.registration(me).await?.status == STATUS_ACTIVE {
            own.opened = true;
            net.market.open_device_check(me).await?;
            tracing::info!("device check opened: the device proves the memory and compute it registered");
        }
        return Ok(());
    }
    let now = net.now().await?;
    let head = net.block_number().await?;
    if check.root == B256::ZERO {
        if now > check.deadline.to::<u64>() {
            // Not answered in time (the device could not, or this node was down): it ends
            // unverified; anyone may close it, and this node does.
            net.market.close_device_check(me).await?;
            tracing::warn!("device check: no answer in time; this node is not verified");
            return Ok(());
        }
        if head <= seed_block {
            return Ok(()); // the seed is the opening block's hash: known from the next block
        }
        match own.answering.take() {
            Some((seeded, handle)) if seeded == seed_block && handle.is_finished() => {
                match handle.await.unwrap_or_else(|e| Err(NodeError::Exchange { message: e.to_string() })) {
                    // Kept until its transaction lands: a failed send is sent again next round.
                    Ok(root) => own.computed = Some((seed_block, B256::from(root))),
                    // Nothing to retry: the device cannot hold the fill, or failed computing it.
                    Err(e) => {
                        tracing::error!(error = %e, "device check: this device cannot answer");
                        own.gave_up = Some(seed_block);
                    }
                }
            }
            Some(running) => own.answering = Some(running),
            None if own.gave_up == Some(seed_block) || own.computed.is_some_and(|(s, _)| s == seed_block) => {}
            None => {
                let registered = net.registration(me).await?;
                let challenge = terms_of(net, seed_block, &registered).await?;
                let gpu = gpu.clone();
                tracing::info!(memory_mib = challenge.memory_mib, class = ?challenge.class, "device check: answering");
                own.answering =
                    Some((seed_block, tokio::task::spawn_blocking(move || gpu.answer_challenge(&challenge))));
            }
        }
        if let Some((_, root)) = own.computed.filter(|(seeded, _)| *seeded == seed_block) {
            net.market.answer_device_check(root).await?;
            own.computed = None;
            tracing::info!(%root, "device check answered");
        }
        return Ok(());
    }
    // Answered: the jurors sample rows by the answer block's hash; open them and keep them.
    let answer_block = u64::from(check.answerBlock);
    if own.kept != Some(check.root) && head > answer_block {
        match own.opening.take() {
            Some((root, handle)) if root == check.root && handle.is_finished() => {
                match handle.await.unwrap_or_else(|e| Err(NodeError::Exchange { message: e.to_string() })) {
                    Ok(openings) if B256::from(openings.root) == root => {
                        let bytes = serde_json::to_vec(&openings)
                            .map_err(|e| NodeError::Exchange { message: format!("the openings: {e}") })?;
                        net.peer()?.keep_openings(root, &bytes)?;
                        own.kept = Some(root);
                        tracing::info!(%root, bytes = bytes.len(), "device check: the sampled rows are served to the jury");
                    }
                    Ok(other) => tracing::error!(
                        answered = %root, again = %B256::from(other.root),
                        "device check: the device computed another answer the second time"
                    ),
                    Err(e) => tracing::error!(error = %e, "device check: cannot open the answer"),
                }
            }
            Some(running) => own.opening = Some(running),
            None => {
                let registered = net.registration(me).await?;
                let challenge = terms_of(net, seed_block, &registered).await?;
                let sample_seed = net.market.block_hash(answer_block).await?;
                let gpu = gpu.clone();
                own.opening = Some((
                    check.root,
                    tokio::task::spawn_blocking(move || gpu.open_challenge(&challenge, sample_seed.0)),
                ));
            }
        }
    }
    // The verdict, once the jury's reveals are in or their window has passed.
    let case = gridmint_chain::device_check::check_case(me);
    let g = net.market.dispute(case).await?;
    if crate::court::verdict_due(&g, net.market.court_params().await?.move_window, now) {
        // A juror may have closed it first: its revert is no error.
        crate::court::quietly(case, "closeDeviceCheck", net.market.close_device_check(me).await.map(drop))?;
        let after = net.registration(me).await?;
        tracing::info!(
            verified = after.status == STATUS_VERIFIED,
            votes_for = g.jury.votesFor,
            votes_against = g.jury.votesAgainst,
            "device check closed"
        );
    }
    Ok(())
}
