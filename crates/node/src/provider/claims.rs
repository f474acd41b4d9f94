//! Which posted jobs this node claims: the market's new postings, read from a cursor, each
//! weighed against the owner's price floor, pause and hold, the market's eligibility, the time
//! this node keeps a job's files, and the device's queue at its measured pace.

use std::{collections::BTreeMap, time::Duration};

use alloy::primitives::U256;
use gridmint_chain::{ChainError, bindings::Gridmint};

use gridmint_protocol::{Region, ReproClass};

use super::{ProviderOptions, Task, decline};
use crate::{NodeError, net::Network, pace::Pace, store::Store};

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
}

/// Reads new `JobPosted` events from `cursor` up to the newest block with the network's
/// confirmations on top, and claims what fits; returns the next cursor.
pub(super) async fn scan(
    net: &Network,
    store: &Store,
    key: &str,
    cursor: u64,
    tasks: &mut BTreeMap<U256, Task>,
    options: &ProviderOptions,
    device: DeviceTerms<'_>,
) -> Result<u64, NodeError> {
    let head = net.block_number().await?;
    let Some(head) = head.checked_sub(net.profile.confirmations) else { return Ok(cursor) };
    if head < cursor {
        return Ok(cursor);
    }
    for posted in net.posted_jobs(cursor, head).await? {
        if tasks.contains_key(&posted.jobId) {
            continue;
        }
        if let Some(task) = consider(net, &posted, options, tasks, device).await? {
            store.insert_task(key, &posted.jobId.to_string(), &task.index.to_string(), task.claim_deadline)?;
            tasks.insert(posted.jobId, task);
        }
    }
    store.set_cursor(key, head + 1)?;
    Ok(head + 1)
}

/// Claims a newly posted job if it fits this node: its price, the owner's pause and limits, the
/// market's eligibility, and time: the device's queue (`tasks`) and this job, at `pace`, must
/// finish [`CLAIM_MARGIN_S`] before the job's commit deadline. A job this node cannot finish in
/// time is left to providers that can (or, unclaimed, back to its buyer to post again).
async fn consider(
    net: &Network,
    posted: &Gridmint::JobPosted,
    options: &ProviderOptions,
    tasks: &BTreeMap<U256, Task>,
    device: DeviceTerms<'_>,
) -> Result<Option<Task>, NodeError> {
    let pace = device.pace;
    let price: u128 = posted.pricePerUnit.saturating_to();
    let claim_deadline: u64 = posted.claimDeadline.to();
    let commit_deadline: u64 = posted.commitDeadline.to();
    // A job whose claim window closed (one seen late, after a restart) is not a choice.
    let now = net.now().await?;
    if now >= claim_deadline {
        return Ok(None);
    }
    // A job must end well within the time this node keeps a job's files (its sealed result is
    // delivered until the job settles): a buyer could post deadlines months away.
    if let Some(why) = outlives_its_files(now, u64::try_from(posted.revealDeadline).unwrap_or(u64::MAX)) {
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
    // claim would only lock stake (the market never selects a repeat), so find the first.
    let earlier = net.market.trail(posted.jobId).await?.claimants.iter().position(|a| *a == net.address());
    let index = match earlier {
        Some(position) => U256::from(position),
        None => match net.market.claim(posted.jobId).await {
            Ok(claimed) => claimed.value,
            Err(e) => {
                tracing::warn!(job = %posted.jobId, error = %e, "claim refused");
                return Ok(None);
            }
        },
    };
    tracing::info!(job = %posted.jobId, %index, "claimed");
    Ok(Some(Task::claimed(index, claim_deadline, commit_deadline, posted.maxWorkUnits)))
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

    use super::why_unfit;

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
}
