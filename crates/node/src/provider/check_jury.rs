//! Jury duty for device checks: when a provider answers its check (`DeviceCheckAnswered`), the
//! members of the jury pool draw the check's jury as they draw a disputed step's (`juryTicketsOf`
//! under the check's case id, the provider its one party; see `jury`). A member that could take a
//! seat fetches the rows the answer block's hash samples from the provider's endpoint, checks
//! them on the CPU against the root on chain ([`gridmint_runner::challenge::check`]: a row of a
//! GEMM each, in the check's class) and commits `checkPassDigest(root)` when every row holds, a
//! digest of the fault otherwise; a provider that has not served its rows when half a move window
//! is left before the commit deadline gets a vote against (it must make its case). It reveals
//! after the commit deadline and, when the provider has not closed the check a while after the
//! reveals are over, closes it.
//!
//! A member also opens the next check of every verified provider once it is due
//! ([`open_due_rechecks`]: at the time the last pass drew, 0.5 to 1.5 days on, or half a day
//! after a void verdict), so a verified figure is challenged again without its provider asking;
//! each member waits a delay of its own first, and a losing opening (refused at the estimate, or
//! mined and reverted) is no error. It closes a check left unanswered past its deadline.

use alloy::primitives::keccak256;
use alloy::sol_types::SolValue;
use gridmint_chain::{
    bindings::Gridmint,
    court::{CourtParams, Phase},
    device_check::check_case,
};
use gridmint_runner::challenge::Openings;

use super::*;

/// The longest one round waits for a provider's rows before half the vote's window is gone.
const FETCH_PER_ROUND: u64 = 60;
/// The least time the rows are given once it is.
const MIN_FETCH_S: u64 = 10;

/// A check this node may judge.
#[derive(Debug, Clone)]
pub(super) struct CheckDuty {
    answered: Gridmint::DeviceCheckAnswered,
    /// Its vote, once decided.
    vote: Option<B256>,
    /// The seats it committed its vote for.
    seats: std::collections::BTreeSet<u64>,
    /// Whether the seats were looked up on chain since this node started (a seat taken before a
    /// restart, or whose receipt was lost, is found and revealed).
    seats_looked_up: bool,
}

/// The checks this node judges, by provider.
pub(super) type CheckDuties = std::collections::BTreeMap<Address, CheckDuty>;

/// Other providers' device checks as the chain's events schedule them (read from the deployment's
/// first block at start, then as they come): when a verified provider's next check may be opened,
/// and the deadlines of open ones, so one left unanswered is closed.
#[derive(Debug, Default)]
pub(super) struct Rechecks {
    due: std::collections::BTreeMap<Address, u64>,
    open: std::collections::BTreeMap<Address, u64>,
    cursor: u64,
}

/// How long after a re-check is due a member may wait before it opens it, at most: each waits
/// its own share (from its address and the provider's), so the members of a pool do not all send
/// the same opening in one block, of which all but the first would revert and pay for it.
const RECHECK_STAGGER_S: u64 = 30;

/// A move every member may send, as one of them sent it: true when it landed; false when another
/// member's landed first (refused at the estimate, or mined and reverted: no error); an RPC
/// failure is the caller's to retry.
fn raced<T>(provider: Address, call: &str, sent: Result<T, ChainError>) -> Result<bool, NodeError> {
    match sent {
        Ok(_) => Ok(true),
        Err(e @ (ChainError::Reverted { .. } | ChainError::Failed { .. })) => {
            tracing::debug!(%provider, call, error = %e, "device check: another member's move landed first");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// This member's own share of [`RECHECK_STAGGER_S`] for `provider`'s check (from both addresses).
fn member_delay(provider: Address, me: Address) -> u64 {
    let h = keccak256((provider, me).abi_encode());
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % RECHECK_STAGGER_S
}

/// Opens every verified provider's device check that is due, and closes every check left
/// unanswered past its deadline (this node's own aside: it answers its checks and closes its own).
/// An opening the chain refuses as not due yet is tried again; one refused otherwise (another
/// member opened it first, or the provider is no longer verified) is dropped until the next
/// pass or void verdict; an RPC failure is retried next round.
pub(super) async fn open_due_rechecks(net: &Network, rechecks: &mut Rechecks) -> Result<(), NodeError> {
    use gridmint_chain::device_check::CheckEvent;
    let me = net.address();
    let head = net.block_number().await?;
    let from = if rechecks.cursor == 0 { net.profile.deployment.start_block } else { rechecks.cursor };
    if head >= from {
        for (provider, event) in net.market.check_schedule(from).await? {
            if provider == me {
                continue;
            }
            rechecks.due.remove(&provider);
            rechecks.open.remove(&provider);
            match event {
                CheckEvent::Due(at) => rechecks.due.insert(provider, at),
                CheckEvent::Opened { deadline } => rechecks.open.insert(provider, deadline),
                CheckEvent::Failed => None,
            };
        }
        rechecks.cursor = head + 1;
    }
    let now = net.now().await?;
    let stagger = |provider: &Address| member_delay(*provider, me);
    let due: Vec<Address> = rechecks.due.iter().filter(|(p, at)| now >= **at + stagger(p)).map(|(p, _)| *p).collect();
    for provider in due {
        let verified = net.registration(provider).await?.status == gridmint_chain::device_check::STATUS_VERIFIED;
        if !verified || net.market.device_check(provider).await?.seedBlock != 0 {
            rechecks.due.remove(&provider);
            continue;
        }
        match net.market.open_device_check(provider).await {
            Err(e) if matches!(e.revert_reason(), Some(GridmintErrors::DeviceCheckNotDue(_))) => continue,
            sent => {
                if raced(provider, "openDeviceCheck", sent)? {
                    tracing::info!(%provider, "device check: a verified provider's next check was due; opened");
                }
            }
        }
        rechecks.due.remove(&provider);
    }
    // A check its provider left unanswered past the deadline: closed, so it is unverified (a
    // provider that ignores its re-checks does not stay verified).
    let overdue: Vec<Address> = rechecks.open.iter().filter(|(p, d)| now > **d + stagger(p)).map(|(p, _)| *p).collect();
    for provider in overdue {
        let check = net.market.device_check(provider).await?;
        if check.seedBlock != 0
            && check.root.is_zero()
            && raced(provider, "closeDeviceCheck", net.market.close_device_check(provider).await)?
        {
            tracing::warn!(%provider, "device check: left unanswered; closed (the provider is unverified)");
        }
        rechecks.open.remove(&provider);
    }
    Ok(())
}

/// One round: checks answered since `cursor`, then a look at each.
pub(super) async fn round(
    net: &Network,
    duties: &mut CheckDuties,
    cursor: &mut u64,
    lie: bool,
) -> Result<(), NodeError> {
    let head = net.block_number().await?;
    if *cursor == 0 {
        *cursor = head.saturating_sub(2_000);
    }
    if head >= *cursor {
        for answered in net.market.device_checks_answered(*cursor, head).await? {
            if answered.provider != net.address() {
                let duty = CheckDuty { answered, vote: None, seats: Default::default(), seats_looked_up: false };
                duties.insert(duty.answered.provider, duty);
            }
        }
        *cursor = head + 1;
    }
    let court = net.market.court_params().await?;
    let mut done = Vec::new();
    for (provider, duty) in duties.iter_mut() {
        match serve(net, court, duty, lie).await {
            Ok(true) => done.push(*provider),
            Ok(false) => {}
            Err(e) => tracing::warn!(%provider, error = %e, "device check jury: retrying"),
        }
    }
    for provider in done {
        duties.remove(&provider);
    }
    Ok(())
}

/// One look at a check; true once this node's part is over.
async fn serve(net: &Network, court: CourtParams, duty: &mut CheckDuty, lie: bool) -> Result<bool, NodeError> {
    let provider = duty.answered.provider;
    let case = check_case(provider);
    let g = net.market.dispute(case).await?;
    // Another check of the same provider (or none) now: this one is over.
    if Phase::from_u8(g.phase) != Phase::JuryVote || net.market.device_check(provider).await?.root != duty.answered.root
    {
        return Ok(true);
    }
    let me = net.address();
    let now = net.now().await?;
    let deadline: u64 = g.deadline.to();
    let salt = keccak256(
        (B256::from(net.signer.to_bytes()), case, duty.answered.root, "gridmint.check vote salt").abi_encode(),
    );
    if !duty.seats_looked_up {
        for (seat, juror) in net.market.jurors(case).await?.iter().enumerate() {
            if *juror == me {
                duty.seats.insert(seat as u64);
            }
        }
        duty.seats_looked_up = true;
    }
    if now <= deadline {
        let seed_block = u64::from(g.jury.seedBlock);
        if net.block_number().await? <= seed_block {
            return Ok(false);
        }
        let (mine, eligible) = net.market.jury_tickets(case, me).await?;
        if !eligible {
            return Ok(true);
        }
        let better = super::jury::ranks(net, case, &mine, &[provider]).await?;
        let second_half = now + u64::from(court.move_window) / 2 >= deadline;
        let seats = net.market.jury(case).await?;
        let wanted: Vec<u64> = seats
            .iter()
            .zip(&mine)
            .enumerate()
            .filter(|(s, (held, ticket))| {
                !duty.seats.contains(&(*s as u64))
                    && (held.juror == Address::ZERO || **ticket < held.ticket)
                    && (better.get(*s) == Some(&0) || second_half)
            })
            .map(|(s, _)| s as u64)
            .collect();
        let could = seats.iter().zip(&mine).any(|(held, t)| held.juror == Address::ZERO || *t < held.ticket);
        if wanted.is_empty() {
            return Ok(!could && duty.seats.is_empty());
        }
        let Some(vote) = my_vote(net, court, duty, now, deadline, lie).await? else { return Ok(false) };
        let digest = net.market.vote_digest(case, vote, salt, me).await?;
        duty.seats_looked_up = false; // should a receipt be lost, the seat is found on chain
        for seat in wanted {
            match net.market.commit_vote(case, seat, digest, vec![provider]).await {
                Ok(mined) if mined.value => {
                    tracing::info!(%provider, seat, "device check jury: seat taken, vote committed");
                    duty.seats.insert(seat);
                }
                Ok(_) => return Ok(false), // reseeded: come again
                Err(gridmint_chain::ChainError::Reverted { reason, .. })
                    if matches!(*reason, GridmintErrors::TicketTooLow(_) | GridmintErrors::NotEligible(_)) =>
                {
                    tracing::info!(%provider, seat, "device check jury: a better ticket holds this seat");
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(false);
    }
    if duty.seats.is_empty() {
        return Ok(true);
    }
    let jurors = net.market.jurors(case).await?;
    // A seat found after a restart: the vote again (the check is deterministic, so it is the one
    // committed; the salt is derived from this node's key, the case and the root).
    let vote = match duty.vote {
        Some(vote) => vote,
        None => match my_vote(net, court, duty, deadline, deadline, lie).await? {
            Some(vote) => vote,
            None => return Ok(false),
        },
    };
    for seat in duty.seats.clone() {
        if jurors.get(seat as usize) != Some(&me) {
            duty.seats.remove(&seat);
            continue;
        }
        if (g.jury.revealedSeats >> seat) & 1 == 0 {
            net.market.reveal_vote(case, seat, vote, salt).await?;
            tracing::info!(%provider, seat, passes = (vote == g.node), "device check jury: vote revealed");
        }
    }
    // The verdict: anyone closes the check. The provider does at once; a juror only once it is
    // still open a while later (its own share of the stagger on top), so the jurors' closes do not
    // all land beside the provider's and revert, paying gas. A close that lost anyway is no error.
    let later = now.saturating_sub(RECHECK_STAGGER_S + member_delay(provider, me));
    if crate::court::verdict_due(&g, court.move_window, later) {
        crate::court::quietly(case, "closeDeviceCheck", net.market.close_device_check(provider).await.map(drop))?;
        return Ok(true);
    }
    Ok(false)
}

/// This node's vote: the pass digest when every sampled row holds, a fault's digest otherwise;
/// `None` while the provider's rows have not arrived and half the window is left.
async fn my_vote(
    net: &Network,
    court: CourtParams,
    duty: &mut CheckDuty,
    now: u64,
    deadline: u64,
    lie: bool,
) -> Result<Option<B256>, NodeError> {
    if let Some(v) = duty.vote {
        return Ok(Some(v));
    }
    let Gridmint::DeviceCheckAnswered { provider, root, answerBlock: answer_block, .. } = duty.answered.clone();
    let pass = net.market.check_pass_digest(root).await?;
    // Bounded, so a provider that serves slowly cannot hold this node's other duties: until half
    // the window is gone, at most a minute per round; past it, what is left of the window.
    let budget = if now + u64::from(court.move_window) / 2 < deadline {
        FETCH_PER_ROUND.min((deadline - now) / 2)
    } else {
        deadline.saturating_sub(now).max(MIN_FETCH_S)
    };
    let fetched =
        tokio::time::timeout(std::time::Duration::from_secs(budget), rows_hold(net, provider, root, answer_block.to()))
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::DataWithheld {
                    job: format!("device check of {provider}"),
                    message: format!("the rows did not arrive within {budget} s"),
                })
            });
    let fault = match fetched {
        Ok(()) => None,
        Err(NodeError::DataWithheld { message, .. }) => {
            if now + u64::from(court.move_window) / 2 < deadline {
                tracing::debug!(%provider, reason = %message, "device check jury: no rows from the provider yet");
                return Ok(None);
            }
            Some(format!("the provider did not serve its rows: {message}"))
        }
        Err(NodeError::Exchange { message }) => Some(message),
        Err(e) => return Err(e),
    };
    let mut vote = match &fault {
        None => pass,
        Some(why) => {
            tracing::warn!(%provider, why, "device check jury: the answer does not hold");
            keccak256(format!("gridmint.device-check.fail {why}").as_bytes())
        }
    };
    if lie {
        vote = if vote == pass { keccak256(b"gridmint: a lying juror") } else { pass };
        tracing::warn!(%provider, "device check jury: voting against the rows' truth (test only)");
    }
    duty.vote = Some(vote);
    Ok(Some(vote))
}

/// Fetches the provider's openings and checks them: `Ok` when every sampled row holds;
/// [`NodeError::DataWithheld`] when none came; [`NodeError::Exchange`] naming the fault.
async fn rows_hold(net: &Network, provider: Address, root: B256, answer_block: u64) -> Result<(), NodeError> {
    let check = net.market.device_check(provider).await?;
    let registered = net.registration(provider).await?;
    let challenge = super::device_check::terms_of(net, u64::from(check.seedBlock), &registered).await?;
    let sample_seed = net.market.block_hash(answer_block).await?;
    let peers = net.market.announced_peers(&[provider], net.profile.deployment.start_block).await?;
    let withheld = |message: String| NodeError::DataWithheld { job: format!("device check of {provider}"), message };
    let endpoint = peers.get(&provider).copied().ok_or_else(|| withheld("no endpoint announced".to_owned()))?;
    let bytes = net.peer()?.fetch_openings(provider, endpoint, root).await.map_err(|e| withheld(e.to_string()))?;
    let openings: Openings = serde_json::from_slice(&bytes)
        .map_err(|e| NodeError::Exchange { message: format!("the provider's openings do not parse: {e}") })?;
    tokio::task::spawn_blocking(move || gridmint_runner::challenge::check(&challenge, root.0, sample_seed.0, &openings))
        .await
        .map_err(|e| NodeError::Worker { message: format!("the device check's check stopped: {e}") })?
        .map_err(|e| NodeError::Exchange { message: e.to_string() })
}
