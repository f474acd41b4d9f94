//! The provider's page: earnings, stake, reputation, what the agent is doing, a withdrawal.

use gridmint_protocol::{ApiError, MarketStatus, NetworkPhase};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    chart::EarningsChart,
    components::{ErrorBox, job_table::JobTable},
    ipc,
    live::{Live, refresh},
};

/// Earnings, stake and reputation of this machine, and what its agent is doing.
#[component]
pub fn Dashboard(live: Live) -> impl IntoView {
    // Kept here, not in the standing (which is drawn again on every status refresh).
    let withdrawal = RwSignal::new(None::<Result<gridmint_protocol::Withdrawal, ApiError>>);
    let trust = Trust { understood: RwSignal::new(false), outcome: RwSignal::new(None) };
    view! {
        <h1>"Dashboard"</h1>
        <p class="sub">"This machine earns by running verified jobs on the network."</p>
        {move || match live.status.get() {
            None => view! { <p class="loading">"Starting the local network…"</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
            Some(Ok(status)) => view! { <Standing status live withdrawal trust /> }.into_any(),
        }}
        {move || withdrawal.get().map(|o| match o {
            Ok(w) => view! {
                <section class="card" data-testid="withdraw-receipt">
                    {format!("Sent ${} to {} (transaction {})", w.amount_usd, w.to, w.transaction)}
                </section>
            }.into_any(),
            Err(error) => view! { <div data-testid="withdraw-error"><ErrorBox error /></div> }.into_any(),
        })}
        <EarningsChart live />
        <RecentJobs live />
    }
}

/// The owner's confirmation that a market of unknown code may be joined (kept across status
/// refreshes, which draw the standing again).
#[derive(Clone, Copy)]
pub struct Trust {
    understood: RwSignal<bool>,
    outcome: RwSignal<Option<Result<(), ApiError>>>,
}

/// A network whose market is not this app's build of the contracts: what it means, and trusting
/// exactly that code once the owner says it knows who deployed it.
#[component]
fn UntrustedMarket(market: String, fingerprint: String, trust: Trust) -> impl IntoView {
    let Trust { understood, outcome } = trust;
    let confirm = {
        let fingerprint = fingerprint.clone();
        move |_| {
            let fingerprint = fingerprint.clone();
            spawn_local(async move { outcome.set(Some(ipc::trust_market(fingerprint).await.map(|_| ()))) });
        }
    };
    view! {
        <section class="card error" data-testid="untrusted-market">
            <div class="row-title">"This network's market is not Gridmint's contracts"</div>
            <p>{format!(
                "The market at {market} runs code this app does not know (fingerprint {fingerprint}). \
                 Nothing was approved or staked. It would hold your stake and your payments: join it \
                 only if you know who deployed it and trust that code."
            )}</p>
            <label>
                <input type="checkbox" data-testid="trust-understood" prop:checked=move || understood.get()
                    on:change=move |ev| understood.set(event_target_checked(&ev)) />
                " I know who deployed this market and I trust its code"
            </label>
            <button data-testid="trust-market" disabled=move || !understood.get() on:click=confirm>
                "Trust this market"
            </button>
            {move || outcome.get().map(|o| match o {
                Ok(()) => view! { <p class="ok" data-testid="market-trusted">"Trusted: restart Gridmint to join the network."</p> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </section>
    }
}

#[component]
pub fn Standing(
    status: MarketStatus,
    live: Live,
    withdrawal: RwSignal<Option<Result<gridmint_protocol::Withdrawal, ApiError>>>,
    trust: Trust,
) -> impl IntoView {
    let MarketStatus { phase, network, rpc_url, market, provider } = status;
    let phase_line = match &phase {
        NetworkPhase::Starting => "Starting: chain, contracts, then this machine registers.".to_owned(),
        NetworkPhase::Ready => format!("Ready on the {network} network"),
        NetworkPhase::Failed { message } => format!("The {network} network could not start: {message}"),
        NetworkPhase::Untrusted { .. } => format!("The {network} network was not joined: its market is not trusted"),
    };
    let failed = matches!(phase, NetworkPhase::Failed { .. } | NetworkPhase::Untrusted { .. });
    let untrusted = match phase {
        NetworkPhase::Untrusted { market, fingerprint } => Some(view! { <UntrustedMarket market fingerprint trust /> }),
        _ => None,
    };
    view! {
        <section class="card" class:error=failed data-testid="network-phase">
            <div class="row-title">{phase_line}</div>
            {rpc_url.map(|url| view! { <div class="muted mono">{format!("RPC {url} · market {}", market.unwrap_or_default())}</div> })}
        </section>
        {untrusted}
        {provider.map(|p| {
            let nothing_to_withdraw = p.chain.as_ref().map_or(true, |c| c.withdrawable.base_units() == 0);
            let telemetry_card = view! {
                <div class="card stat">
                    <div class="label">"GPU now"</div>
                    <div class="value" data-testid="gpu-telemetry">{telemetry(p.gpu_busy_pct, p.gpu_temp_c)}</div>
                    <div class="muted small">{if p.gpu_busy_pct.is_none() && p.gpu_temp_c.is_none() {
                        "this device reports neither load nor temperature"
                    } else {
                        "utilisation · temperature"
                    }}</div>
                </div>
            };
            let stats = match p.chain.clone() {
                Ok(c) => view! {
                    <section class="stats">
                        <div class="card stat">
                            <div class="label">"Earned, withdrawable"</div>
                            <div class="value" data-testid="earnings">{format!("${}", c.withdrawable)}</div>
                        </div>
                        <div class="card stat">
                            <div class="label">"Payout address holds"</div>
                            <div class="value" data-testid="payout-balance">{format!("${}", c.payout_balance)}</div>
                            <div class="muted mono small" title="where withdrawals go">{c.payout_address.clone()}</div>
                        </div>
                        <div class="card stat">
                            <div class="label">"Stake"</div>
                            <div class="value">{format!("{} GRID", c.stake)}</div>
                        </div>
                        <div class="card stat">
                            <div class="label">"Reputation"</div>
                            <div class="value" data-testid="reputation">{format!("{:.1}%", c.reputation_bps as f64 / 100.0)}</div>
                            <div class="muted small" data-testid="reputation-record">{format!(
                                "{} agreed · {} wrong · {} missed", c.jobs_agreed, c.jobs_slashed, c.jobs_missed
                            )}</div>
                        </div>
                        {telemetry_card}
                        {p.net_hour.clone().map(|h| view! { <NetHour hour=h /> })}
                    </section>
                }
                .into_any(),
                // Not a placeholder amount: the error, as it is.
                Err(error) => view! {
                    <section class="card" data-testid="chain-error">
                        <div class="row-title">"This machine's record on the chain cannot be read"</div>
                        <ErrorBox error />
                    </section>
                    <section class="stats">{telemetry_card}</section>
                }
                .into_any(),
            };
            view! {
                {stats}
                <section class="card agent">
                    <div>
                        <div class="row-title">{p.device.clone()}</div>
                        <div class="muted" data-testid="activity">{p.activity.clone()}</div>
                        // The status is drawn again every second: a plain list, not a widget
                        // with state of its own.
                        {(!p.declined_jobs.is_empty()).then(|| view! {
                            <ul class="plain declined">{p.declined_jobs.iter().take(3).map(|d| view! {
                                <li class="small" data-testid="declined-job">{format!("Not taken: job {}, {}", d.job_id, d.reason)}</li>
                            }).collect_view()}</ul>
                        })}
                        {p.current_task.clone().map(|t| view! {
                            <div class="task" data-testid="current-task">
                                <span>{if t.total > 0 {
                                    format!("Job {}: {} {}/{}", t.job_id, t.stage, t.done, t.total)
                                } else {
                                    format!("Job {}: {}", t.job_id, t.stage)
                                }}</span>
                                <progress max=t.total.max(1) value=t.done.min(t.total)></progress>
                            </div>
                        })}
                        <div class="muted mono">{p.address.clone()}</div>
                    </div>
                    <div class="actions">
                        <Withdraw disabled=nothing_to_withdraw live withdrawal />
                        <button
                            class="secondary"
                            data-testid="pause-toggle"
                            on:click=move |_| {
                                let paused = !p.paused;
                                spawn_local(async move {
                                    let _ = ipc::set_earning(paused).await;
                                });
                            }
                        >{if p.paused { "Resume earning" } else { "Pause earning" }}</button>
                    </div>
                </section>
            }
        })}
    }
}

/// "87% · 64 °C", a dash for what the platform does not report.
pub fn telemetry(busy: Option<u32>, temp: Option<f32>) -> String {
    let busy = busy.map_or("—".to_owned(), |b| format!("{b}%"));
    let temp = temp.map_or("—".to_owned(), |t| format!("{t:.0} °C"));
    format!("{busy} · {temp}")
}

/// Pays the earned balance out to the payout address (the receipt shows on the dashboard).
#[component]
pub fn Withdraw(
    disabled: bool,
    live: Live,
    withdrawal: RwSignal<Option<Result<gridmint_protocol::Withdrawal, ApiError>>>,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let withdraw = move |_| {
        busy.set(true);
        spawn_local(async move {
            withdrawal.set(Some(ipc::withdraw_earnings().await));
            busy.set(false);
            refresh(live);
        })
    };
    view! {
        <button data-testid="withdraw" disabled=move || disabled || busy.get() on:click=withdraw>"Withdraw"</button>
    }
}

#[component]
pub fn RecentJobs(live: Live) -> impl IntoView {
    view! {
        {move || {
            let jobs = live.jobs.get();
            (!jobs.is_empty()).then(|| view! {
                <h2>"Your jobs"</h2>
                <JobTable jobs=jobs.into_iter().take(5).collect() />
            })
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_shows_dashes_for_what_is_not_reported() {
        assert_eq!(telemetry(Some(87), Some(64.4)), "87% · 64 °C");
        assert_eq!(telemetry(None, None), "— · —");
    }
}

/// An hour of this machine's work net of electricity (issue #23 point 7): gross at the price,
/// the electricity, what is left, and the price below which the hour loses money.
#[component]
fn NetHour(hour: gridmint_protocol::NetEarnings) -> impl IntoView {
    let power = format!(
        "{} W {} at ${}/kWh ({})",
        hour.power_w,
        if hour.power_measured { "measured" } else { "rated" },
        hour.usd_per_kwh,
        hour.tariff_basis
    );
    let net = if hour.loses_money {
        format!("−${} an hour", hour.net_usd_per_hour)
    } else {
        format!("${} an hour", hour.net_usd_per_hour)
    };
    view! {
        <div class="card stat" class:error=hour.loses_money>
            <div class="label">"An hour of work, net of electricity"</div>
            <div class="value" data-testid="net-hour">{net}</div>
            <div class="muted small" data-testid="net-hour-detail">{format!(
                "${} at {} on {} GFLOP/s, less ${} of electricity: {power}",
                hour.gross_usd_per_hour, hour.price, hour.gflops, hour.electricity_usd_per_hour
            )}</div>
            <div class="muted small" data-testid="break-even">{format!("Below {} an hour costs more than it pays", hour.break_even)}</div>
        </div>
    }
}
