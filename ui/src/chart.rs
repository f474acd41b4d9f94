//! The earnings chart: bars per hour or day from the chain's payments, the period's total,
//! the next 24 hours at the recent rate, and the market's demand. Drawn as SVG.

use gridmint_protocol::{ApiError, EarningsHistory, EarningsPeriod};
use leptos::{prelude::*, task::spawn_local};

use crate::{components::ErrorBox, format::utc_label, ipc, live::Live};

/// Earnings over a day (by hour), a week or a month (by day), read from the chain's payments,
/// and the next 24 hours at the recent rate.
#[component]
pub fn EarningsChart(live: Live) -> impl IntoView {
    let period = RwSignal::new(EarningsPeriod::Day);
    let history = RwSignal::new(None::<Result<EarningsHistory, ApiError>>);
    let load = move || {
        let p = period.get_untracked();
        spawn_local(async move {
            let read = ipc::earnings_history(p).await;
            // A slow answer for a period no longer shown is dropped.
            if period.get_untracked() == p {
                history.set(Some(read));
            }
        });
    };
    // The balance changes when a job pays (or on a withdrawal), the activity when the agent
    // takes a job (pending earnings): a memo, so the once-a-second status refresh alone does
    // not read the chain's logs again.
    let earned = Memo::new(move |_| {
        live.status.with(|s| {
            s.as_ref()
                .and_then(|s| s.as_ref().ok())
                .and_then(|s| s.provider.as_ref())
                .map(|p| (p.chain.as_ref().ok().map(|c| c.withdrawable), p.activity.clone()))
        })
    });
    Effect::new(move |_| {
        period.track();
        earned.track();
        load();
    });
    view! {
        <section class="card chart" data-testid="earnings-chart">
            <div class="chart-head">
                <div class="row-title">"Earnings"</div>
                <div class="segmented">
                    {EarningsPeriod::ALL.into_iter().map(|p| view! {
                        <button class:active=move || period.get() == p
                            data-testid=format!("earnings-period-{}", p.label())
                            on:click=move |_| period.set(p)>{p.label()}</button>
                    }).collect_view()}
                </div>
            </div>
            {move || match history.get() {
                None => view! { <p class="loading">"Reading payments from the chain…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
                Some(Ok(h)) => view! { <Bars history=h /> }.into_any(),
            }}
        </section>
    }
}

#[component]
pub fn Bars(history: EarningsHistory) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 140.0;
    let n = history.buckets.len().max(1) as f64;
    let top = history.buckets.iter().map(|b| b.micro_usd).max().unwrap_or(0).max(1) as f64;
    let slot = W / n;
    let hourly = history.period == EarningsPeriod::Day;
    let bars = history
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let h = if b.micro_usd == 0 { 1.0 } else { (b.micro_usd as f64 / top * (H - 4.0)).max(3.0) };
            let when = utc_label(b.start_unix_s, hourly);
            view! {
                <rect class:empty=b.micro_usd == 0 x=i as f64 * slot + 2.0 y=H - h width=slot - 4.0 height=h
                    data-testid="earnings-bar" data-usd=b.usd.to_string()>
                    <title>{format!("{when}: ${}", b.usd)}</title>
                </rect>
            }
        })
        .collect_view();
    let first = history.buckets.first().map(|b| utc_label(b.start_unix_s, hourly)).unwrap_or_default();
    view! {
        <svg class="bars" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img"
            aria-label=format!("earnings per {}", if hourly { "hour" } else { "day" })>{bars}</svg>
        <div class="axis muted small"><span>{first}</span><span>"now"</span></div>
        <div class="chart-foot">
            <div>
                <span class="muted">{match history.period {
                    EarningsPeriod::Day => "Last 24 hours: ",
                    EarningsPeriod::Week => "Last 7 days: ",
                    EarningsPeriod::Month => "Last 30 days: ",
                }}</span>
                <strong data-testid="earnings-period-total" data-period=history.period.label()>{format!("${}", history.total_usd)}</strong>
            </div>
            <div title=history.basis.clone()>
                <span class="muted">"Next 24 h, predicted: "</span>
                <strong data-testid="predicted-24h">{format!("${}", history.predicted_24h_usd)}</strong>
                <span class="muted small">{format!(" ({})", history.basis)}</span>
            </div>
            <div data-testid="market-demand">
                <span class="muted">"Market, last 24 h: "</span>
                <strong>{match &history.market_median_usd_per_pflop {
                    Some(median) => format!(
                        "{} job{}, median offer ${median} per PFLOP",
                        history.market_jobs_24h,
                        if history.market_jobs_24h == 1 { "" } else { "s" }
                    ),
                    None => "no jobs posted".to_owned(),
                }}</strong>
            </div>
            {history.electricity_usd.map(|e| {
                let (total, cost) = (history.total_usd.base_units(), e.base_units());
                let net = match total.checked_sub(cost) {
                    Some(n) => format!("${}", gridmint_protocol::Usd::from_base_units(n)),
                    None => format!("−${}", gridmint_protocol::Usd::from_base_units(cost - total)),
                };
                view! {
                    <div title="the device time of the paid work, at its power draw and your tariff">
                        <span class="muted">"Electricity for it: "</span>
                        <strong data-testid="earnings-electricity">{format!("${e}")}</strong>
                        <span class="muted">" · net: "</span>
                        <strong data-testid="earnings-net">{net}</strong>
                    </div>
                }
            })}
            <div title="in jobs this machine claimed that have not settled: paid if its result agrees">
                <span class="muted">"Pending: "</span>
                <strong data-testid="earnings-pending">{format!("${}", history.pending_usd)}</strong>
            </div>
        </div>
    }
}
