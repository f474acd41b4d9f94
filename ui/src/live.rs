//! What every page reads: the market status and the job list, read once and then as the agent
//! pushes them (`ipc::on_market_status`, `ipc::on_jobs`), and timers that end with the component
//! that started them.

use std::time::Duration;

use gridmint_protocol::{ApiError, JobSummary, MarketStatus};
use leptos::{prelude::*, task::spawn_local};

use crate::ipc;

/// What every page reads: kept current by the agent's pushes.
#[derive(Clone, Copy)]
pub struct Live {
    pub status: RwSignal<Option<Result<MarketStatus, ApiError>>>,
    pub jobs: RwSignal<Vec<JobSummary>>,
}

/// Reads both now (at start, and right after an action of the owner's).
pub fn refresh(live: Live) {
    spawn_local(async move {
        live.status.set(Some(ipc::market_status().await));
        if let Ok(jobs) = ipc::list_jobs().await {
            live.jobs.set(jobs);
        }
    });
}

/// Runs `f` every `period` until the component that called this is gone.
pub fn every_while_shown(period: Duration, f: impl Fn() + 'static) {
    let handle = set_interval_with_handle(f, period).ok();
    on_cleanup(move || {
        if let Some(handle) = handle {
            handle.clear();
        }
    });
}
