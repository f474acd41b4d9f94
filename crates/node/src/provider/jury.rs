//! Jury duty: the provider agent judges other jobs' court games (`contracts/src/court`). It
//! enters the jury pool when it starts; when a game comes down to one step (`LeafOpened`) of a job
//! this node is no party to, it looks up its tickets in that game's draw (`juryTicketsOf`: one
//! race of stake-weighted tickets per seat, seeded by the leaf's block) and its rank for each
//! seat among the pool. It comes at once for every seat its ticket is the best for; for a seat
//! where it is further down, it comes in the second half of the commit window while the seat is
//! free or held by a worse ticket (a backup for members that do not come); it stays home once it
//! could take no seat. A member may hold several seats (one vote each): each seat is a draw by
//! stake of its own, so splitting a stake over many addresses wins no more seats. Coming means
//! fetching the job's data from the buyer or, when the buyer does not serve it, from the job's
//! replicas, all at once (the first that checks against the data root; a challenging buyer whose
//! data nobody serves past half the window gets a vote for the defender, so its own pool
//! addresses cannot hold the seats alone), re-running that one step here ([`crate::judge`]: an
//! embed job's sentence, a training run through the disputed epoch; it does not come for a job in
//! a class it does not compute, or for a re-run its pace says cannot end before the vote) and
//! committing the answer, `keccak256(abi.encode(outHash, flops, steps))`, for each seat it
//! takes; then revealing them after the commit deadline. A
//! juror of the majority is paid in stake from the losers; a seated juror that does not reveal
//! is slashed lightly, so a seated juror always reveals.

use std::collections::BTreeMap;

use gridmint_protocol::ReproClass;

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolEvent, SolValue},
};
use gridmint_chain::{
    ChainError,
    bindings::Gridmint,
    court::{CourtParams, Phase},
};
use gridmint_peer::exchange;
use gridmint_runner as runner;

use super::*;

/// A game this node may judge.
#[derive(Debug, Clone)]
pub(super) struct Duty {
    leaf: Gridmint::LeafOpened,
    /// The job's buyer and claimants (parties, never jurors), as `commitVote` takes them.
    parties: Vec<Address>,
    /// This node's rank for each seat among the pool's eligible tickets for it (0: the best),
    /// once looked up, and the seed's block it was looked up for.
    ranks: Option<(u64, Vec<usize>)>,
    /// Its answer for the step, once computed.
    answer: Option<B256>,
    /// The seats it committed a vote for, each with the answer committed (unknown for a seat
    /// found on chain after a restart: this node's answer, computed again).
    seats: BTreeMap<u64, Option<B256>>,
    /// Whether the seats were searched for this node's address since its last commitment was
    /// sent (a seat whose receipt was lost, or held before a restart, is found once).
    seats_looked_up: bool,
}

/// The games this node judges, by job.
pub(super) type Duties = BTreeMap<U256, Duty>;

/// `Dispute.challenger` when the buyer challenges.
const BUYER_CHALLENGES: u8 = 255;

/// How far back a starting node looks for games at one step (a vote lasts two move windows).
const GAMES_LOOKBACK_BLOCKS: u64 = 5_000;

/// Enters the jury pool unless this account is in it already.
pub(super) async fn join_pool(net: &Network) -> Result<(), NodeError> {
    if net.market.jury_since(net.address()).await? == 0 {
        net.market.join_jury_pool().await?;
        tracing::info!("entered the jury pool");
    }
    Ok(())
}

/// One round of jury duty: new games, then a look at each. `cursor` is the next block to look
/// for `LeafOpened` in.
pub(super) async fn round(ctx: &JuryContext<'_>, duties: &mut Duties, cursor: &mut u64) -> Result<(), NodeError> {
    let net = ctx.net;
    let court = net.market.court_params().await?;
    let head = net.block_number().await?;
    if *cursor == 0 {
        // Games whose step was opened lately too: a node restarted during a vote still reveals.
        *cursor = head.saturating_sub(GAMES_LOOKBACK_BLOCKS);
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
            let me = net.address();
            // The parties as the court keeps them: the buyer, then the claimants.
            let mut parties = vec![net.market.slot(leaf.jobId).await?.buyer];
            parties.extend(net.market.trail(leaf.jobId).await?.claimants);
            if parties.contains(&me) {
                continue;
            }
            let duty =
                Duty { leaf, parties, ranks: None, answer: None, seats: Default::default(), seats_looked_up: false };
            duties.insert(duty.leaf.jobId, duty);
        }
        *cursor = head + 1;
    }
    let mut done = Vec::new();
    for (job_id, duty) in duties.iter_mut() {
        match serve(ctx, court, *job_id, duty).await {
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
    /// The reproducibility classes this node registered (bit mask): it judges jobs in them only.
    pub classes: u8,
    /// Test only: vote for the side the step proves wrong.
    pub lie: bool,
    /// This device's pace: a juror does not start a re-run it cannot finish before the vote.
    pub pace: crate::pace::Pace,
}

fn logs_error(e: &impl std::fmt::Display) -> NodeError {
    NodeError::Chain(ChainError::Receipt { call: "get_logs", message: e.to_string() })
}

/// Whether this node comes to the game now, and for which seats.
#[derive(Debug, PartialEq, Eq)]
enum Coming {
    /// For these seats (none yet, but maybe later when `later`).
    Seats {
        now: Vec<u64>,
        later: bool,
    },
    /// The seed's block hash is gone and nobody voted: a commitment (of anything) reseeds the draw.
    Reseed,
    Later,
    Never,
}

/// Its rank for each seat among the eligible members of the pool (who are no party), by ticket.
pub(super) async fn ranks(
    net: &Network,
    job_id: U256,
    mine: &[u64],
    parties: &[Address],
) -> Result<Vec<usize>, NodeError> {
    let me = net.address();
    let mut better = vec![0; mine.len()];
    for member in net.market.jury_pool(net.profile.deployment.start_block).await? {
        if member == me || parties.contains(&member) {
            continue;
        }
        let (tickets, eligible) = net.market.jury_tickets(job_id, member).await?;
        if !eligible {
            continue;
        }
        for (seat, (theirs, ours)) in tickets.iter().zip(mine).enumerate() {
            if theirs < ours {
                better[seat] += 1;
            }
        }
    }
    Ok(better)
}

/// The seats to come for: at once those its ticket is the best for; in the second half of the
/// commit window those it could still take (free, or held by a worse ticket for it); never once
/// it could take none.
async fn coming(
    net: &Network,
    court: CourtParams,
    job_id: U256,
    duty: &mut Duty,
    g: &Gridmint::Dispute,
    now: u64,
) -> Result<Coming, NodeError> {
    // The draw's seed is the hash of `seedBlock` (the leaf's, or a later one after a reseed):
    // readable from the next block, for 256 blocks, then kept by the first vote.
    let seed_block = u64::from(g.jury.seedBlock);
    let head = net.block_number().await?;
    if head <= seed_block {
        return Ok(Coming::Later);
    }
    if g.jury.seed == 0 && head > seed_block + 256 {
        // Nobody voted while the seed was readable: a commitment reseeds the draw (it takes no
        // seat then) and this node comes again from the next block.
        return Ok(Coming::Reseed);
    }
    let (mine, eligible) = net.market.jury_tickets(job_id, net.address()).await?;
    if !eligible {
        return Ok(Coming::Never);
    }
    let ranks = match &duty.ranks {
        Some((seeded, r)) if *seeded == seed_block => r.clone(),
        _ => {
            let r = ranks(net, job_id, &mine, &duty.parties).await?;
            duty.ranks = Some((seed_block, r.clone()));
            r
        }
    };
    let second_half = now + u64::from(court.move_window) / 2 >= g.deadline.to::<u64>();
    let seats = net.market.jury(job_id).await?;
    let (mut now_seats, mut later) = (Vec::new(), false);
    for (seat, (held, ticket)) in seats.iter().zip(&mine).enumerate() {
        let seat = seat as u64;
        if duty.seats.contains_key(&seat) {
            continue;
        }
        let takeable = held.juror == Address::ZERO || *ticket < held.ticket;
        if takeable && (ranks.get(seat as usize) == Some(&0) || second_half) {
            now_seats.push(seat);
        } else if takeable {
            later = true;
        }
    }
    if now_seats.is_empty() && !later && duty.seats.is_empty() {
        return Ok(Coming::Never);
    }
    Ok(Coming::Seats { now: now_seats, later })
}

/// One look at a game this node may judge; true once its part is over.
async fn serve(ctx: &JuryContext<'_>, court: CourtParams, job_id: U256, duty: &mut Duty) -> Result<bool, NodeError> {
    let net = ctx.net;
    let g = net.market.dispute(job_id).await?;
    let now = net.now().await?;
    let deadline: u64 = g.deadline.to();
    if Phase::from_u8(g.phase) != Phase::JuryVote {
        return Ok(true);
    }
    let me = net.address();
    // The salt is derived from this node's key and the game (not the draw's seed, which a
    // reseed changes), so a seat taken by a commitment whose receipt this node never saw (or
    // before a restart) can still be revealed.
    let game = U256::from(g.defender) << 40 | U256::from(g.challenger) << 32 | U256::from(g.position);
    let salt = keccak256((B256::from(net.signer.to_bytes()), job_id, game, "gridmint.vote salt").abi_encode());
    if !duty.seats_looked_up {
        for (seat, juror) in net.market.jurors(job_id).await?.iter().enumerate() {
            if *juror == me {
                duty.seats.entry(seat as u64).or_insert(None);
            }
        }
        duty.seats_looked_up = true;
    }
    if now <= deadline {
        let wanted = match coming(net, court, job_id, duty, &g, now).await? {
            Coming::Never => {
                tracing::info!(job = %job_id, "jury duty: this node cannot take a seat in this game");
                return Ok(true);
            }
            Coming::Later => return Ok(false),
            Coming::Reseed => {
                // A vote of "could not check", revealable: should another node have reseeded
                // first and this commitment take a seat after all, it is still revealed.
                let unchecked = crate::judge::unchecked();
                let digest = net.market.vote_digest(job_id, unchecked, salt, me).await?;
                duty.seats_looked_up = false; // if its receipt is lost, the seat is looked for
                if net.market.commit_vote(job_id, 0, digest, duty.parties.clone()).await?.value {
                    duty.seats.insert(0, Some(unchecked));
                } else {
                    tracing::info!(job = %job_id, "the jury's seed had expired: reseeded");
                    duty.ranks = None;
                }
                return Ok(false);
            }
            Coming::Seats { now: wanted, .. } => wanted,
        };
        if wanted.is_empty() {
            return Ok(false);
        }
        let Some(answer) = my_answer(ctx, court, job_id, duty, &g, now).await? else {
            return Ok(duty.seats.is_empty()); // it cannot judge this step: it takes no seat
        };
        let digest = net.market.vote_digest(job_id, answer, salt, me).await?;
        for seat in wanted {
            duty.seats_looked_up = false; // if its receipt is lost, the seat is looked for
            match net.market.commit_vote(job_id, seat, digest, duty.parties.clone()).await {
                Ok(mined) if mined.value => {
                    tracing::info!(job = %job_id, seat, step = duty.leaf.step, "jury seat taken, vote committed");
                    duty.seats.insert(seat, Some(answer));
                }
                Ok(_) => {
                    tracing::info!(job = %job_id, "the jury's draw was reseeded; coming again");
                    duty.ranks = None;
                    return Ok(false);
                }
                // A better ticket came for this seat first: the others are still worth taking.
                Err(ChainError::Reverted { reason, .. })
                    if matches!(*reason, GridmintErrors::TicketTooLow(_) | GridmintErrors::NotEligible(_)) =>
                {
                    tracing::info!(job = %job_id, seat, "a better ticket holds this seat");
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(false);
    }
    if duty.seats.is_empty() {
        return Ok(true);
    }
    let jurors = net.market.jurors(job_id).await?;
    for (seat, committed) in duty.seats.clone() {
        if jurors.get(seat as usize) != Some(&me) {
            tracing::info!(job = %job_id, seat, "a better ticket took this seat; released");
            duty.seats.remove(&seat);
            continue;
        }
        if (g.jury.revealedSeats >> seat) & 1 == 0 {
            let answer = match committed {
                Some(answer) => answer,
                // A seat found after a restart: the answer again (a node that cannot judge the
                // step never took one; should it, its seat goes unrevealed).
                None => match my_answer(ctx, court, job_id, duty, &g, now).await? {
                    Some(answer) => answer,
                    None => continue,
                },
            };
            net.market.reveal_vote(job_id, seat, answer, salt).await?;
            tracing::info!(job = %job_id, seat, agrees = (answer == g.node), "jury vote revealed");
        }
    }
    if duty.seats.is_empty() {
        return Ok(true);
    }
    // The verdict: anyone moves the game on once the reveals are in or their window passed.
    crate::court::advance_if_due(net, job_id, &g, now).await?;
    Ok(false)
}

/// This node's vote for the game's step, computed once (see [`answer`]).
async fn my_answer(
    ctx: &JuryContext<'_>,
    court: CourtParams,
    job_id: U256,
    duty: &mut Duty,
    g: &Gridmint::Dispute,
    now: u64,
) -> Result<Option<B256>, NodeError> {
    if let Some(a) = duty.answer {
        return Ok(Some(a));
    }
    let mut a = match answer(ctx, job_id, &duty.leaf, &duty.parties[1..], g.deadline.to::<u64>().saturating_sub(now))
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(None),
        // The buyer serves the job's data, and so does every replica (a buyer that withholds it
        // cannot leave the jurors unable to check a replica's step). When none does and the
        // buyer challenged, the buyer cannot make its case (a party that cannot supply the data
        // it must serve loses): once half the vote's window is gone without the data, this juror
        // votes for the defender. It comes anyway, so a buyer's own pool addresses cannot hold
        // the seats by being the only ones with data.
        Err(NodeError::DataWithheld { message, .. }) if g.challenger == BUYER_CHALLENGES => {
            if now + u64::from(court.move_window) / 2 < g.deadline.to::<u64>() {
                return Err(NodeError::DataWithheld { job: job_id.to_string(), message });
            }
            tracing::warn!(job = %job_id, reason = %message, "the challenging buyer withholds the job's data: voting for the defender");
            g.node
        }
        Err(e) => return Err(e),
    };
    if ctx.lie {
        // The other side: the defender's answer when it is wrong, any other when right.
        a = if a == g.node { keccak256(b"gridmint: a lying juror") } else { g.node };
        tracing::warn!(job = %job_id, "jury duty: voting against the step's truth (test only)");
    }
    duty.answer = Some(a);
    Ok(Some(a))
}

/// This node's answer for the step of `leaf` ([`crate::judge`]): it fetches the job's package,
/// re-runs the step on its device (a chained run: the job through it) and hashes (output, flops,
/// the job's step count); `None` for a job in a class it does not compute or a re-run it cannot
/// finish before the vote's deadline (it then takes no seat). `claimants`: the job's, in claim
/// order; `left`: seconds left to vote.
async fn answer(
    ctx: &JuryContext<'_>,
    job_id: U256,
    leaf: &Gridmint::LeafOpened,
    claimants: &[Address],
    left: u64,
) -> Result<Option<B256>, NodeError> {
    let net = ctx.net;
    let started = std::time::Instant::now();
    let posted = compute::find_posted(net, job_id).await?;
    let class = match ReproClass::from_code(posted.requirements.workloadClass) {
        Some(class) if class.is_in(ctx.classes) => class,
        _ => {
            let class = posted.requirements.workloadClass;
            tracing::info!(job = %job_id, class, "jury duty: the job is in a class this device does not compute; not coming");
            return Ok(None);
        }
    };
    let budget = (left / 2).max(MIN_FETCH_S.min(left));
    let bundle = job_data(net, &posted, claimants, std::time::Duration::from_secs(budget)).await?;
    let dir = ctx.work_dir.join(format!("jury-{job_id}-{}", leaf.step));
    let _ = std::fs::remove_dir_all(&dir);
    let files = exchange::unbundle(&bundle)?;
    exchange::write_all(&dir.join("job"), &files)?;
    let run = match crate::judge::step_run(&dir.join("job"), files, leaf.step, leaf.prev, leaf.inHash)? {
        crate::judge::Judged::Run(run) => run,
        crate::judge::Judged::Answer(answer) => return Ok(Some(answer)),
    };
    // A chained run's step is re-run through it, up to the whole job: a run that cannot end
    // before the vote's deadline is not started (it would take no seat, and hold this node's loop).
    let (run_steps, steps) = run.share();
    let work = posted.maxWorkUnits.saturating_mul(run_steps) / steps;
    let needs = ctx.pace.compute(work);
    let remaining = std::time::Duration::from_secs(left).saturating_sub(started.elapsed());
    if needs > remaining {
        tracing::warn!(
            job = %job_id,
            step = leaf.step,
            needs_s = needs.as_secs(),
            remaining_s = remaining.as_secs(),
            "jury duty: the step's re-run (the job through it) cannot end before the vote's deadline; not coming"
        );
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(None);
    }
    let one = dir.join("step");
    exchange::write_all(&one, &run.files)?;
    let out = dir.join("out");
    let (paths, gpu) = (ctx.paths.clone(), ctx.gpu.clone());
    let how = runner::SlotRun { class, memory_share_pct: 100, control: None };
    let report = tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
        match &*gpu {
            Compute::Here(slot) => runner::run_in_slot(&paths, slot, &one, &out, &how, &mut |_| {}).map(drop)?,
            Compute::Worker { worker, device } => worker.run(*device, &one, &out, &how, &mut |_| {}).map(drop)?,
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
    Ok(Some(run.answer(&trace)))
}

/// How long a juror waits for the buyer alone before it asks the job's replicas too.
const HEDGE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The least time a juror gives the job's data to arrive (if that much is left to vote).
const MIN_FETCH_S: u64 = 30;

/// The job's data for a juror, the first copy that checks against the job's data root: from the
/// buyer, and from every drawn replica at once once the buyer has not delivered within
/// [`HEDGE_AFTER`] (or refused: each replica fetched the data to compute, and serves it to the
/// jurors). All of it within `budget`, so a source that serves slowly (a buyer that withholds by
/// trickling, a colluding replica) cannot hold the juror past its vote. Aborts the rest once one
/// arrives. [`NodeError::DataWithheld`] when none did, saying why for each.
async fn job_data(
    net: &Network,
    posted: &Gridmint::JobPosted,
    claimants: &[Address],
    budget: std::time::Duration,
) -> Result<Vec<u8>, NodeError> {
    let job_id = posted.jobId;
    let until = tokio::time::Instant::now() + budget;
    let peer = net.peer()?.clone();
    let mut sources = tokio::task::JoinSet::new();
    {
        let (peer, posted) = (peer.clone(), posted.clone());
        sources.spawn(async move {
            peer.fetch_job_data(&posted).await.map(|(data, _)| data).map_err(|e| format!("the buyer: {e}"))
        });
    }
    let mut why = Vec::new();
    // The buyer alone first (no copy sealed on the replicas for nothing), until it answers, fails
    // or is slow.
    match tokio::time::timeout_at(until.min(tokio::time::Instant::now() + HEDGE_AFTER), sources.join_next()).await {
        Ok(Some(Ok(Ok(data)))) => return Ok(data),
        Ok(Some(Ok(Err(e)))) => why.push(e),
        Ok(Some(Err(e))) => why.push(format!("the buyer: {e}")),
        Ok(None) | Err(_) => {}
    }
    tracing::warn!(job = %job_id, "jury duty: no data from the buyer yet; asking the replicas");
    let selected = net.market.slot(job_id).await?.selected;
    let replicas: Vec<Address> =
        claimants.iter().copied().enumerate().filter(|(i, _)| (selected >> i) & 1 == 1).map(|(_, c)| c).collect();
    let peers = net.market.announced_peers(&replicas, net.profile.deployment.start_block).await?;
    for replica in replicas {
        let Some(endpoint) = peers.get(&replica).copied() else {
            why.push(format!("replica {replica} announced no endpoint"));
            continue;
        };
        let (peer, posted) = (peer.clone(), posted.clone());
        sources.spawn(async move {
            match peer.fetch_job_data_from_replica(&posted, replica, endpoint).await {
                Ok(data) => {
                    tracing::info!(job = %posted.jobId, %replica, "jury duty: the job's data came from a replica");
                    Ok(data)
                }
                Err(e) => Err(format!("replica {replica}: {e}")),
            }
        });
    }
    loop {
        match tokio::time::timeout_at(until, sources.join_next()).await {
            Ok(Some(Ok(Ok(data)))) => {
                sources.abort_all();
                return Ok(data);
            }
            Ok(Some(Ok(Err(e)))) => why.push(e),
            Ok(Some(Err(e))) => why.push(e.to_string()),
            Ok(None) => break,
            Err(_) => {
                sources.abort_all();
                why.push(format!("nothing arrived within {} s", budget.as_secs()));
                break;
            }
        }
    }
    Err(NodeError::DataWithheld { job: job_id.to_string(), message: why.join("; ") })
}
