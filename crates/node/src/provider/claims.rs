//! Which posted jobs this node claims: the market's new postings, read from a cursor, each
//! weighed against the owner's price floor, pause, hold, capacity and memory share, the device's
//! class, the market's eligibility, the time this node keeps a job's files, and the device's queue
//! at its measured pace; then the job's card, read from its buyer, says whether the job can run
//! here (its model at hand, room for its data). A claim it then cannot honour (the package fails
//! here, the data never comes) is left unslashed once drawn (`closing::leave_when_selected`).

use std::{collections::BTreeMap, time::Duration};

use alloy::primitives::U256;
use gridmint_chain::{ChainError, bindings::Gridmint};

use gridmint_protocol::{Region, ReproClass};

use super::{ProviderOptions, Task, decline};
use crate::{NodeError, Paths, net::Network, pace::Pace, store::Store};

/// Seconds a provider keeps between its queue's estimated end and a job's commit deadline when it
/// decides to claim: the commitment's relay or transaction after the result.
pub(super) const CLAIM_MARGIN_S: u64 = 30;

/// Room left between a job's reveal deadline and the end of the time a node keeps its files
/// (the buyer's check window, and the delivery after it).
const KEEP_MARGIN_S: u64 = 3 * 86_400;

/// What this node's device takes: its pace on jobs, and the reproducibility classes it computes
/// (the registered classes the device also proves now: a registration from before classes were
/// checked, or a device changed since, claims only what it can run).
#[derive(Debug, Clone, Copy)]
pub(super) struct DeviceTerms<'a> {
    pub pace: &'a Pace,
    pub classes: u8,
    /// The device memory registered (offered to the market), in MiB.
    pub memory_mib: u32,
}

/// The owner's jobs at a time, shared with whoever changes it while the agent runs (the app's
/// settings); read at each claim.
#[derive(Debug, Clone)]
pub struct Capacity(std::sync::Arc<std::sync::atomic::AtomicU8>);

impl Capacity {
    /// `jobs` at a time, within 1..=64.
    pub fn new(jobs: u8) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU8::new(jobs.clamp(1, 64))))
    }

    pub fn get(&self) -> usize {
        usize::from(self.0.load(std::sync::atomic::Ordering::Relaxed).max(1))
    }

    /// `jobs` at a time, within 1..=64 (what the settings admit).
    pub fn set(&self, jobs: u8) {
        self.0.store(jobs.clamp(1, 64), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Self::new(super::DEFAULT_CAPACITY)
    }
}

/// Reads new `JobPosted` events from `cursor` up to the newest block with the network's
/// confirmations on top, screens each ([`screen`]: the owner's terms, the device, the market's
/// eligibility) and starts reading the card of each job left (`cards`, beside the agent's loop:
/// see [`CardReads`]); a job this node claimed already (before a crash) is taken back at once.
/// Returns the next cursor.
#[allow(clippy::too_many_arguments)]
pub(super) async fn scan(
    paths: &Paths,
    net: &Network,
    store: &Store,
    key: &str,
    cursor: u64,
    tasks: &mut BTreeMap<U256, Task>,
    options: &ProviderOptions,
    device: DeviceTerms<'_>,
    cards: &mut CardReads,
) -> Result<u64, NodeError> {
    let head = net.block_number().await?;
    let Some(head) = head.checked_sub(net.profile.confirmations) else { return Ok(cursor) };
    if head < cursor {
        return Ok(cursor);
    }
    // The chain's clock once per scan: every posting of it is weighed at the same time.
    let now = net.now().await?;
    for posted in net.posted_jobs(cursor, head).await? {
        if tasks.contains_key(&posted.jobId) || cards.asked.contains_key(&posted.jobId) {
            continue;
        }
        match screen(net, &posted, now, options, tasks, device).await? {
            Some(Some(index)) => hold(store, key, tasks, &posted, index, 0),
            Some(None) => cards.start(paths, net, posted, cursor, now),
            None => {}
        }
    }
    // What is stored stays at the first block of a job still being read or claimed: after a
    // crash between a claim and its task being stored, the job is screened again and found
    // claimed (else the node, drawn, would never commit and be slashed).
    store.set_cursor(key, cards.pending_from().unwrap_or(head + 1).min(head + 1))?;
    Ok(head + 1)
}

/// Claims the jobs whose cards were read and say they can run here, each against the device's
/// queue and the store's room as the claims before it left them (and the claim window still open).
pub(super) async fn claim_ready(
    net: &Network,
    store: &Store,
    key: &str,
    tasks: &mut BTreeMap<U256, Task>,
    options: &ProviderOptions,
    device: DeviceTerms<'_>,
    cards: &mut CardReads,
) -> Result<(), NodeError> {
    if cards.reads.is_empty() {
        return Ok(());
    }
    // The chain's clock and the store's room first (listing the store is a blocking thread's
    // work): if either fails, the verdicts wait for the next round.
    let now = net.now().await?;
    let local = net.peer()?.local().clone();
    let room = tokio::task::spawn_blocking(move || local.room())
        .await
        .map_err(|e| NodeError::Exchange { message: format!("reading the store's room stopped: {e}") })??;
    let mut read = Vec::new();
    while let Some(done) = cards.reads.try_join_next() {
        match done {
            Ok(verdict) => read.push(verdict),
            // A read that stopped leaves no verdict: that job is not claimed blind.
            Err(e) => tracing::warn!(error = %e, "reading a job's card stopped"),
        }
    }
    let paused = options.paused.as_ref().is_some_and(|p| p.load(std::sync::atomic::Ordering::Relaxed));
    let held = options.held.as_ref().and_then(|h| h.lock().unwrap_or_else(|p| p.into_inner()).clone());
    for (posted, verdict) in read {
        cards.done(posted.jobId);
        let data_bytes = match verdict {
            Verdict::Runs { data_bytes } => data_bytes,
            Verdict::Unready(why) => {
                decline(options, posted.jobId, why);
                continue;
            }
        };
        let why = if now >= posted.claimDeadline.to::<u64>() {
            Some("its claim window closed while its card was read".to_owned())
        } else if paused {
            Some("earning is paused".to_owned())
        } else if let Some(reason) = &held {
            Some(format!("held: {reason}"))
        } else {
            over_capacity(tasks.values(), options.capacity.get())
                .or_else(|| too_late(now, posted.commitDeadline.to(), posted.maxWorkUnits, tasks.values(), device.pace))
                .or_else(|| no_room(data_bytes, tasks.values(), room))
        };
        if let Some(why) = why {
            decline(options, posted.jobId, why);
            continue;
        }
        match net.market.claim(posted.jobId).await {
            Ok(claimed) => hold(store, key, tasks, &posted, claimed.value, data_bytes),
            Err(e) => decline(options, posted.jobId, format!("the market refused the claim: {e}")),
        }
    }
    Ok(())
}

/// Takes `posted` on as claimant `index`: held, and stored (a store that fails is logged: the
/// task is held in memory all the same, and the stored cursor keeps the job to be screened again
/// after a restart, where it is found claimed).
fn hold(
    store: &Store,
    key: &str,
    tasks: &mut BTreeMap<U256, Task>,
    posted: &Gridmint::JobPosted,
    index: U256,
    data_bytes: u64,
) {
    tracing::info!(job = %posted.jobId, %index, "claimed");
    let task = Task {
        data_bytes,
        ..Task::claimed(index, posted.claimDeadline.to(), posted.commitDeadline.to(), posted.maxWorkUnits)
    };
    if let Err(e) = store.insert_task(key, &posted.jobId.to_string(), &task.index.to_string(), task.claim_deadline) {
        tracing::error!(job = %posted.jobId, error = %e, "the claimed job could not be stored; held in memory");
    }
    tasks.insert(posted.jobId, task);
}

/// The furthest a job's claim deadline may be for this node to claim it: a claim holds a place in
/// the device's queue until the draw, and a buyer could otherwise fill every provider's capacity
/// for weeks with jobs it never lets run.
const MAX_CLAIM_AHEAD_S: u64 = 3_600;

/// Cards read from their buyers at once.
const CARDS_AT_ONCE: usize = 16;

/// What a job's card said of it here.
#[derive(Debug)]
pub(super) enum Verdict {
    /// It can run here; its data is `data_bytes` (the buyer's word).
    Runs { data_bytes: u64 },
    /// Why it cannot.
    Unready(String),
}

/// The cards being read, beside the agent's loop: [`CARDS_AT_ONCE`] at a time, each within the
/// time left before its job's claim window closes (at least a second) and the endpoint's own
/// bound. A buyer whose endpoint does not answer holds up its own job's read only: the loop goes
/// on committing, revealing and claiming what was read.
#[derive(Debug)]
pub(super) struct CardReads {
    reads: tokio::task::JoinSet<(Gridmint::JobPosted, Verdict)>,
    at_once: std::sync::Arc<tokio::sync::Semaphore>,
    /// The jobs whose card was asked for, with their claim deadlines (forgotten after them).
    asked: BTreeMap<U256, u64>,
    /// The jobs read or being claimed, with the first block of the scan that found them.
    pending: BTreeMap<U256, u64>,
}

impl Default for CardReads {
    fn default() -> Self {
        Self {
            reads: tokio::task::JoinSet::new(),
            at_once: std::sync::Arc::new(tokio::sync::Semaphore::new(CARDS_AT_ONCE)),
            asked: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }
}

impl CardReads {
    /// The first block of a scan whose job is still read or claimed, if any.
    fn pending_from(&self) -> Option<u64> {
        self.pending.values().min().copied()
    }

    /// The job's verdict was acted on (claimed, or declined).
    fn done(&mut self, job_id: U256) {
        self.pending.remove(&job_id);
    }

    /// Starts reading the card of `posted`, found by a scan from block `from` at chain time `now`.
    fn start(&mut self, paths: &Paths, net: &Network, posted: Gridmint::JobPosted, from: u64, now: u64) {
        let claim_deadline: u64 = posted.claimDeadline.to();
        self.asked.retain(|_, deadline| *deadline > now);
        // A read that stopped leaves no verdict: its job stops holding the stored cursor back
        // once its claim window closed (a restart then finds a claim by the closed window's rule).
        let asked = &self.asked;
        self.pending.retain(|job, _| asked.contains_key(job));
        self.asked.insert(posted.jobId, claim_deadline);
        self.pending.insert(posted.jobId, from);
        let within = Duration::from_secs(claim_deadline.saturating_sub(now).max(1));
        let (paths, net, at_once) = (paths.clone(), net.clone(), self.at_once.clone());
        self.reads.spawn(async move {
            let verdict = match tokio::time::timeout(within, async {
                let _turn = at_once.acquire_owned().await;
                unready(&paths, &net, &posted).await
            })
            .await
            {
                Ok(verdict) => verdict,
                Err(_) => Verdict::Unready(format!(
                    "its buyer did not answer for its card in the {} s before its claim window closes",
                    within.as_secs()
                )),
            };
            (posted, verdict)
        });
    }
}

/// Whether this node may take a newly posted job, before its card is read (issue #23 point 2):
/// its price, the owner's pause and limits (the memory share among them), the device's capacity
/// and class, the market's eligibility, and time: the device's queue (`tasks`) and this job, at
/// the device's pace, must finish [`CLAIM_MARGIN_S`] before the job's commit deadline (a job this
/// node cannot finish in time is left to providers that can, or, unclaimed, back to its buyer to
/// post again). `Some(None)`: a candidate; `Some(Some(index))`: one this node claimed already,
/// as claimant `index`; `None`: declined (noted with why) or not a choice.
async fn screen(
    net: &Network,
    posted: &Gridmint::JobPosted,
    now: u64,
    options: &ProviderOptions,
    tasks: &BTreeMap<U256, Task>,
    device: DeviceTerms<'_>,
) -> Result<Option<Option<U256>>, NodeError> {
    let pace = device.pace;
    let price: u128 = posted.pricePerUnit.saturating_to();
    let claim_deadline: u64 = posted.claimDeadline.to();
    let commit_deadline: u64 = posted.commitDeadline.to();
    // A job whose claim window closed (one seen late, after a restart) is not a choice, unless
    // this node claimed it before a crash that came before the claim was stored: then it is held
    // (to be computed, or left unslashed), never forgotten.
    if now >= claim_deadline {
        // Only a job still in progress can need this node (a slot read; the claimants are a log query).
        if !net.market.slot(posted.jobId).await?.job_state()?.in_progress() {
            return Ok(None);
        }
        let mine = net.market.trail(posted.jobId).await?.claimants.iter().position(|a| *a == net.address());
        return Ok(mine.map(|index| Some(U256::from(index))));
    }
    // A claim holds a place in the device's queue (and stake) until the draw: not for long.
    if claim_deadline - now > MAX_CLAIM_AHEAD_S {
        let why = format!(
            "its replicas are drawn in {} min; this node claims jobs drawn within {} min",
            (claim_deadline - now) / 60,
            MAX_CLAIM_AHEAD_S / 60
        );
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    // A job must end well within the time this node keeps a job's files (its sealed result is
    // delivered until the job settles): a buyer could post deadlines months away.
    if let Some(why) = outlives_its_files(now, u64::try_from(posted.revealDeadline).unwrap_or(u64::MAX)) {
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    if let Some(why) = over_capacity(tasks.values(), options.capacity.get()) {
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    if let Some(why) = too_late(now, commit_deadline, posted.maxWorkUnits, tasks.values(), pace) {
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    let shown = |v: u128| gridmint_protocol::Price(u64::try_from(v).unwrap_or(u64::MAX)).to_string();
    if price < options.price_floor {
        let why = format!("offers {}, below your floor of {}", shown(price), shown(options.price_floor));
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    if !options.claim_jobs {
        return Ok(None);
    }
    if options.paused.as_ref().is_some_and(|p| p.load(std::sync::atomic::Ordering::Relaxed)) {
        decline(options, posted.jobId, "earning is paused".into());
        return Ok(None);
    }
    if let Some(reason) = options.held.as_ref().and_then(|h| h.lock().unwrap_or_else(|p| p.into_inner()).clone()) {
        decline(options, posted.jobId, format!("held: {reason}"));
        return Ok(None);
    }
    // The class first, from what this device proves (the market checks only the registration).
    if let Some(why) = class_refusal(posted.requirements.workloadClass, device.classes) {
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    let share = options.memory_share.as_ref().map_or(100, |s| s.load(std::sync::atomic::Ordering::Relaxed));
    if let Some(why) = over_memory_share(posted.requirements.minMemoryMiB, device.memory_mib, share) {
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    let eligible = net
        .market
        .contract()
        .isEligible(net.address(), posted.requirements.clone())
        .call()
        .await
        .map_err(|e| NodeError::Chain(ChainError::from_contract("isEligible", e)))?;
    if !eligible {
        let me = net.registration(net.address()).await?;
        // Whether this network counts verified figures only (a read, on a job declined anyway).
        let verified_only = net.market.contract().verifiedMatching().call().await.unwrap_or(false);
        let why = why_unfit(&me, &posted.requirements, verified_only);
        decline(options, posted.jobId, why);
        return Ok(None);
    }
    // Claimed by this node before a crash that came before the claim was stored: a second
    // claim would only lock stake (the market never selects a repeat), so find the first (and
    // hold it: a replica that finds it cannot run the job leaves it, unslashed).
    let earlier = net.market.trail(posted.jobId).await?.claimants.iter().position(|a| *a == net.address());
    Ok(Some(earlier.map(U256::from)))
}

/// Whether this node can run the job `posted` now, from the job's card (its buyer's endpoint
/// answers for it): a card that does not come, or whose manifest is not the job's, is a job this
/// node cannot know it can run; a manifest that names another class than the posting's would
/// give results in a class nobody agreed to; what the job needs on this node must be here (an
/// embed job's model: in the package or in the model cache). The card's data size is checked
/// against the store's room at the claim, with the data of the other jobs held.
/// Pause between reads of a card its buyer did not answer.
const CARD_RETRY: Duration = Duration::from_secs(2);
/// How long a card is asked for again.
const CARD_ASKING: Duration = Duration::from_secs(60);

async fn unready(paths: &Paths, net: &Network, posted: &Gridmint::JobPosted) -> Verdict {
    let peer = match net.peer() {
        Ok(peer) => peer,
        Err(e) => return Verdict::Unready(format!("this node's endpoint is not up to read the job's card: {e}")),
    };
    // A buyer restarting (or briefly unreachable) is asked again, for at most CARD_ASKING (and
    // the caller's timeout, the claim window's end): one that never answers holds a slot of the
    // 16 card reads no longer than that.
    let until = std::time::Instant::now() + CARD_ASKING;
    let card = loop {
        match peer.fetch_job_card(posted).await {
            Ok(card) => break card,
            Err(e) if std::time::Instant::now() >= until => {
                return Verdict::Unready(format!("its card could not be read: {e}"));
            }
            Err(e) => {
                tracing::info!(job = %posted.jobId, error = %e, "its card could not be read yet; asking again");
                tokio::time::sleep(CARD_RETRY).await;
            }
        }
    };
    let (paths, job, bytes) = (paths.clone(), format!("job {}", posted.jobId), card.bytes);
    // The model cache is on disk: a blocking thread's work.
    let checked = tokio::task::spawn_blocking(move || gridmint_runner::check_card(&paths, &job, &card)).await;
    let manifest = match checked {
        Ok(Ok(manifest)) => manifest,
        Ok(Err(e)) => return Verdict::Unready(format!("it cannot run here: {e}")),
        Err(e) => return Verdict::Unready(format!("checking its card stopped: {e}")),
    };
    if manifest.reproducibility.code() != posted.requirements.workloadClass {
        let posted_class = ReproClass::from_code(posted.requirements.workloadClass)
            .map_or_else(|| format!("class {}", posted.requirements.workloadClass), |c| c.to_string());
        return Verdict::Unready(format!(
            "its manifest names the {} class and its posting {posted_class}: the buyer's two words disagree",
            manifest.reproducibility
        ));
    }
    Verdict::Runs { data_bytes: bytes }
}

/// Why `data_bytes` more would not fit the `room` this node's store had at the start of the
/// round, with the data of the jobs `queue` holds still to arrive; `None` when it fits.
pub(super) fn no_room<'a>(data_bytes: u64, queue: impl Iterator<Item = &'a Task>, room: u64) -> Option<String> {
    let coming: u64 = queue.filter(|t| t.waiting_for_device() && t.computing.is_none()).map(|t| t.data_bytes).sum();
    let left = room.saturating_sub(coming);
    (data_bytes > left).then(|| {
        format!(
            "its data ({} MiB) would not fit the {} MiB this node's store has left for the jobs it holds",
            data_bytes.div_ceil(1 << 20),
            left >> 20
        )
    })
}

/// Why a node holding `queue` may not take one more job with room for `capacity` at a time
/// (claimed and not yet computed, the running one among them), or `None` when it may.
pub(super) fn over_capacity<'a>(queue: impl Iterator<Item = &'a Task>, capacity: usize) -> Option<String> {
    let held = queue.filter(|t| t.waiting_for_device()).count();
    (held >= capacity)
        .then(|| format!("holds {held} job(s) still to compute, its capacity (the owner's jobs at a time: {capacity})"))
}

/// Why a job that needs `needs_mib` of device memory is not for a device offering `offered_mib`
/// of which the owner lets jobs use `share_pct` percent, or `None` when it fits.
pub(super) fn over_memory_share(needs_mib: u32, offered_mib: u32, share_pct: u8) -> Option<String> {
    let share_pct = share_pct.min(100);
    let allowed = u64::from(offered_mib) * u64::from(share_pct.min(100)) / 100;
    (u64::from(needs_mib) > allowed).then(|| {
        format!(
            "needs {needs_mib} MiB of GPU memory; your limit lets jobs use {allowed} MiB ({share_pct} % of the {offered_mib} MiB this device offers)"
        )
    })
}

use gridmint_chain::device_check::STATUS_VERIFIED as VERIFIED;

/// Why a provider registered as `me` may not claim a job with requirements `req`, in the order
/// the owner can act on: the device's memory and score, the job's class, the region, and else its
/// standing (stake, status).
/// `verified_only`: the market's `verifiedMatching`.
pub(super) fn why_unfit(me: &Gridmint::Provider, req: &Gridmint::Requirements, verified_only: bool) -> String {
    let region = Region::from_code(me.region).unwrap_or_default();
    if req.minMemoryMiB > me.memoryMiB {
        format!("needs {} MiB of GPU memory; this device registered {} MiB", req.minMemoryMiB, me.memoryMiB)
    } else if req.minComputeUnits > me.computeUnits {
        format!("needs a compute score of {}; this device has {}", req.minComputeUnits, me.computeUnits)
    } else if let Some(why) = class_refusal(req.workloadClass, me.classes) {
        why
    } else if !region.allowed_by(req.regionMask) {
        let open: Vec<&str> = Region::all().filter(|r| r.allowed_by(req.regionMask)).map(Region::name).collect();
        format!("is open to {} only; this machine is in {region}", open.join(", "))
    } else if verified_only
        && me.status != VERIFIED
        && (req.minMemoryMiB != 0 || req.minComputeUnits != 0 || req.workloadClass != 0)
    {
        // The market's `verifiedMatching`: what a job asks for counts only once a check proved it.
        "asks for memory, compute or a class that this network counts only once a device check proved it; \
         this device is not verified (start the provider with --device-check)"
            .to_owned()
    } else {
        "this machine may not claim it now (its stake or its standing)".to_owned()
    }
}

/// Why a job in class `code` is not for a device computing the classes of mask `classes`, or
/// `None` when it is.
fn class_refusal(code: u8, classes: u8) -> Option<String> {
    if ReproClass::from_code(code).is_some_and(|c| c.is_in(classes)) {
        return None;
    }
    let theirs = ReproClass::from_code(code).map_or_else(|| format!("class {code}"), |c| format!("the {c} class"));
    let mine: Vec<&str> = ReproClass::ALL.into_iter().filter(|c| c.is_in(classes)).map(ReproClass::as_str).collect();
    Some(format!("is computed in {theirs}; this device computes {}", mine.join(" and ")))
}

/// Why a job revealed at `reveal_deadline` (chain time `now`) would outlive the time this node
/// keeps a job's files ([`gridmint_peer::exchange::RETENTION`], less [`KEEP_MARGIN_S`]).
pub(super) fn outlives_its_files(now: u64, reveal_deadline: u64) -> Option<String> {
    let keeps = gridmint_peer::exchange::RETENTION.as_secs().saturating_sub(KEEP_MARGIN_S);
    (reveal_deadline.saturating_sub(now) > keeps)
        .then(|| format!("its reveal deadline is more than {} days away", keeps / 86_400))
}

/// Why a job of `work_units` due at `commit_deadline` cannot be finished in time behind `queue`
/// at `pace` (chain time `now`), or `None` when it can.
pub(super) fn too_late<'a>(
    now: u64,
    commit_deadline: u64,
    work_units: u64,
    queue: impl Iterator<Item = &'a Task>,
    pace: &Pace,
) -> Option<String> {
    let (queued, ahead) = queue
        .filter(|t| t.waiting_for_device())
        .fold((Duration::ZERO, 0usize), |(d, n), t| (d + t.remaining(pace), n + 1));
    let this = pace.estimate(work_units);
    let done_at = now.saturating_add((queued + this).as_secs()).saturating_add(CLAIM_MARGIN_S);
    (done_at > commit_deadline).then(|| {
        format!(
            "busy: {ahead} job(s) ahead ({} s) and this one ({} s) would end {} s after its commit deadline",
            queued.as_secs(),
            this.as_secs(),
            done_at - commit_deadline
        )
    })
}

#[cfg(test)]
mod tests {
    use gridmint_chain::bindings::Gridmint;
    use gridmint_protocol::{Region, ReproClass};

    use super::{no_room, over_capacity, over_memory_share, why_unfit};

    fn provider(classes: u8, region: &str) -> Gridmint::Provider {
        Gridmint::Provider {
            stake: Default::default(),
            computeUnits: 100,
            memoryMiB: 8_192,
            region: region.parse::<Region>().expect("region").code(),
            classes,
            status: 1,
            activeJobs: 0,
            lastJobOrUnstakeAt: 0,
            agreed: Default::default(),
            slashes: 0,
        }
    }

    fn job(class: u8, regions: &str) -> Gridmint::Requirements {
        let regions = gridmint_protocol::matching::parse_regions(regions).expect("regions");
        Gridmint::Requirements {
            minMemoryMiB: 0,
            minComputeUnits: 0,
            regionMask: Region::mask(&regions),
            workloadClass: class,
        }
    }

    /// Issue #23 points 4 and 5: the owner reads why a job was not claimed in the market's own
    /// terms: the class the job is computed in against the ones the device proved, the regions
    /// the job is open to against the machine's.
    #[test]
    fn a_declined_job_names_the_class_or_the_region_that_kept_this_machine_out() {
        let unfused = ReproClass::mask([ReproClass::Unfused]);
        let why = why_unfit(&provider(unfused, "eu-west"), &job(ReproClass::Fused.code(), ""), false);
        assert_eq!(why, "is computed in the fused class; this device computes unfused");
        let why = why_unfit(&provider(unfused, "eu-west"), &job(7, ""), false);
        assert_eq!(why, "is computed in class 7; this device computes unfused");
        let why =
            why_unfit(&provider(ReproClass::mask(ReproClass::ALL), "us-east"), &job(1, "eu-west,eu-central"), false);
        assert_eq!(why, "is open to eu-west, eu-central only; this machine is in us-east");
        let why = why_unfit(&provider(unfused, "unspecified"), &job(0, "uk"), false);
        assert_eq!(why, "is open to uk only; this machine is in unspecified");
        let mut small = provider(unfused, "uk");
        small.memoryMiB = 1_024;
        let mut needs = job(0, "");
        needs.minMemoryMiB = 4_096;
        assert_eq!(why_unfit(&small, &needs, true), "needs 4096 MiB of GPU memory; this device registered 1024 MiB");
        // It has the memory, but the network counts only verified figures.
        needs.minMemoryMiB = 512;
        assert!(why_unfit(&small, &needs, true).contains("this device is not verified"));
        assert!(
            why_unfit(&small, &needs, false).contains("its stake or its standing"),
            "a network of declared figures"
        );
        small.status = super::VERIFIED;
        assert!(why_unfit(&small, &needs, true).contains("its stake or its standing"));
    }

    /// Issue #23 point 2: the owner's capacity counts the jobs still to compute (the running one
    /// among them), not those computed or drawn out; the memory share caps what a job may ask.
    #[test]
    fn a_device_takes_jobs_up_to_its_capacity_and_within_the_owners_memory_share() {
        let held =
            |n: usize| (0..n).map(|_| crate::provider::Task::claimed(Default::default(), 0, 0, 1)).collect::<Vec<_>>();
        assert_eq!(over_capacity(held(3).iter(), 4), None);
        let full = over_capacity(held(4).iter(), 4).expect("full");
        assert!(full.contains("holds 4 job(s)") && full.contains("4"), "{full}");
        let mut done = held(4);
        done[0].result = Some(Default::default());
        done[1].selected = Some(false);
        assert_eq!(over_capacity(done.iter(), 3), None, "a computed job and one drawn out hold no place");

        assert_eq!(over_memory_share(4_096, 8_192, 50), None);
        let why = over_memory_share(4_097, 8_192, 50).expect("over the share");
        assert_eq!(
            why,
            "needs 4097 MiB of GPU memory; your limit lets jobs use 4096 MiB (50 % of the 8192 MiB this device offers)"
        );
        assert_eq!(over_memory_share(0, 0, 10), None, "a job that asks for no memory");
        assert_eq!(over_memory_share(u32::MAX, u32::MAX, 100), None, "no overflow");
        let why = over_memory_share(101, 100, 150).expect("a share over 100 % counts as 100 %");
        assert!(why.contains("100 MiB (100 %"), "{why}");
    }

    /// The store keeps room for the data of the jobs held and still to fetch: two claims that
    /// each fit alone do not both pass when together they would not.
    #[test]
    fn room_is_kept_for_the_data_of_the_jobs_held_until_it_arrives() {
        const MIB: u64 = 1 << 20;
        let mut held: Vec<_> = (0..3).map(|_| crate::provider::Task::claimed(Default::default(), 0, 0, 1)).collect();
        held[0].data_bytes = 600 * MIB;
        held[1].data_bytes = 300 * MIB;
        held[1].result = Some(Default::default()); // computed: its data came
        held[2].data_bytes = 100 * MIB;
        held[2].selected = Some(false); // drawn out: it never comes
        assert_eq!(no_room(424 * MIB, held.iter(), 1024 * MIB), None);
        let why = no_room(425 * MIB, held.iter(), 1024 * MIB).expect("over the room left");
        assert!(why.contains("(425 MiB)") && why.contains("the 424 MiB"), "{why}");
    }
}
