//! The window: a header with the pages (Dashboard, Buy, Jobs, Hardware) and the pages
//! themselves. The market status and the job list are polled once a second for every page.

use std::time::Duration;

use gridmint_protocol::{
    ApiError, BackgroundSettings, ComputeDevice, EarningsHistory, EarningsPeriod, HardwareReport, HostInfo, JobStage,
    JobStatus, JobSummary, JobTimeline, MarketStatus, NetworkPhase, PackagePreview, PickKind, ProviderStanding,
};
use leptos::{prelude::*, task::spawn_local};

use crate::ipc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Dashboard,
    Buy,
    Jobs,
    Hardware,
    Wallet,
    Settings,
}

impl Page {
    const ALL: [Page; 6] = [Page::Dashboard, Page::Buy, Page::Jobs, Page::Hardware, Page::Wallet, Page::Settings];

    fn label(self) -> &'static str {
        match self {
            Page::Dashboard => "Dashboard",
            Page::Buy => "Buy compute",
            Page::Jobs => "Jobs",
            Page::Hardware => "Hardware",
            Page::Wallet => "Wallet",
            Page::Settings => "Settings",
        }
    }

    fn test_id(self) -> &'static str {
        match self {
            Page::Dashboard => "nav-dashboard",
            Page::Buy => "nav-buy",
            Page::Jobs => "nav-jobs",
            Page::Hardware => "nav-hardware",
            Page::Wallet => "nav-wallet",
            Page::Settings => "nav-settings",
        }
    }
}

/// What every page reads: refreshed once a second.
#[derive(Clone, Copy)]
struct Live {
    status: RwSignal<Option<Result<MarketStatus, ApiError>>>,
    jobs: RwSignal<Vec<JobSummary>>,
}

fn refresh(live: Live) {
    spawn_local(async move {
        live.status.set(Some(ipc::market_status().await));
        if let Ok(jobs) = ipc::list_jobs().await {
            live.jobs.set(jobs);
        }
    });
}

/// The first-run set-up until the owner starts earning, then the app's pages.
#[component]
pub fn App() -> impl IntoView {
    let onboarded = RwSignal::new(None::<Result<bool, ApiError>>);
    spawn_local(async move { onboarded.set(Some(ipc::app_settings().await.map(|s| s.onboarded))) });
    view! {
        {move || match onboarded.get() {
            None => view! { <p class="loading">"Starting…"</p> }.into_any(),
            Some(Err(error)) => view! { <main><ErrorBox error /></main> }.into_any(),
            Some(Ok(false)) => view! { <Onboarding done=move || onboarded.set(Some(Ok(true))) /> }.into_any(),
            Some(Ok(true)) => view! { <Pages /> }.into_any(),
        }}
    }
}

/// The header with the pages, and the page shown.
#[component]
fn Pages() -> impl IntoView {
    let page = RwSignal::new(Page::Dashboard);
    let live = Live { status: RwSignal::new(None), jobs: RwSignal::new(Vec::new()) };
    refresh(live);
    set_interval(move || refresh(live), Duration::from_secs(1));
    let dropped = RwSignal::new(None::<String>);
    ipc::on_file_drop(move |paths| {
        if let Some(first) = paths.into_iter().next() {
            dropped.set(Some(first));
            page.set(Page::Buy);
        }
    });
    view! {
        <header class="top">
            <Brand />
            <nav class="tabs">
                {Page::ALL.into_iter().map(|p| view! {
                    <button
                        class:active=move || page.get() == p
                        data-testid=p.test_id()
                        on:click=move |_| page.set(p)
                    >{p.label()}</button>
                }).collect_view()}
            </nav>
            <NetworkBadge live />
        </header>
        <main>
            {move || match page.get() {
                Page::Dashboard => view! { <Dashboard live /> }.into_any(),
                Page::Buy => view! { <Buy live page dropped /> }.into_any(),
                Page::Jobs => view! { <Jobs live /> }.into_any(),
                Page::Hardware => view! { <Hardware live /> }.into_any(),
                Page::Wallet => view! { <Wallet live /> }.into_any(),
                Page::Settings => view! { <Settings live /> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn NetworkBadge(live: Live) -> impl IntoView {
    let text = move || match live.status.get() {
        None => ("starting", "local network: starting…".to_owned()),
        Some(Err(e)) => ("failed", format!("local network: {}", e.message)),
        Some(Ok(s)) => match s.phase {
            NetworkPhase::Starting => ("starting", format!("{} network: starting…", s.network)),
            NetworkPhase::Ready => ("ready", format!("{} network", s.network)),
            NetworkPhase::Failed { .. } => ("failed", format!("{} network: failed", s.network)),
        },
    };
    view! {
        <div class="badge" data-testid="network-badge" data-phase=move || text().0>
            <span class="dot"></span>{move || text().1}
        </div>
    }
}

/// Runs `f` every `period` until the component that called this is gone.
fn every_while_shown(period: Duration, f: impl Fn() + 'static) {
    let handle = set_interval_with_handle(f, period).ok();
    on_cleanup(move || {
        if let Some(handle) = handle {
            handle.clear();
        }
    });
}

/// Imports the typed recovery words into the keyring; the field is cleared once they are in.
fn import_wallet(
    phrase: RwSignal<String>,
    status: RwSignal<Option<Result<gridmint_protocol::wallet::WalletStatus, ApiError>>>,
) {
    let words = phrase.get_untracked();
    spawn_local(async move {
        let result = ipc::import_wallet(words).await;
        if result.is_ok() {
            phrase.set(String::new());
        }
        status.set(Some(result));
    })
}

/// The header's logo and name.
#[component]
fn Brand() -> impl IntoView {
    view! {
        <div class="logo" aria-hidden="true">
            <span></span><span></span><span></span>
            <span></span><span></span><span></span>
            <span></span><span></span><span></span>
        </div>
        <div class="brand">"Gridmint"</div>
    }
}

/// The first run: a wallet, the hardware and its benchmark, limits, a price floor from the
/// market, then one click to register, stake and start earning. Every step has a default.
#[component]
fn Onboarding(done: impl Fn() + Copy + 'static) -> impl IntoView {
    let wallet = RwSignal::new(None::<Result<gridmint_protocol::wallet::WalletStatus, ApiError>>);
    spawn_local(async move { wallet.set(Some(ipc::wallet_status().await)) });
    let phrase = RwSignal::new(String::new());
    let import = move |_| import_wallet(phrase, wallet);

    let devices = LocalResource::new(|| ipc::hardware_report(false));
    let progress = RwSignal::new(gridmint_protocol::BenchmarkProgress { done: 0, total: 1, stage: "waiting".into() });
    let benchmark = RwSignal::new(None::<Result<gridmint_protocol::BenchmarkReport, ApiError>>);
    ipc::on_benchmark_progress(move |p| {
        // After the set-up is gone the signal is too: try_set drops the event.
        let _ = progress.try_set(p);
    });
    spawn_local(async move { benchmark.set(Some(ipc::run_benchmark(None).await)) });

    let form = BackgroundForm::new(&BackgroundSettings::default());
    let suggestion = RwSignal::new(None::<Result<gridmint_protocol::PriceSuggestion, ApiError>>);
    // The chain may still be starting: ask until it answers.
    let ask = move || {
        spawn_local(async move {
            let answer = ipc::suggest_price_floor().await;
            if let Ok(s) = &answer {
                form.floor.set(s.usd_per_unit.clone());
            }
            suggestion.set(Some(answer));
        })
    };
    ask();
    every_while_shown(Duration::from_secs(2), move || {
        if !matches!(suggestion.get_untracked(), Some(Ok(_))) {
            ask();
        }
    });

    let starting = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let start = move |_| match form.read() {
        Err(e) => error.set(Some(e)),
        Ok(settings) => {
            starting.set(true);
            error.set(None);
            spawn_local(async move {
                match ipc::start_earning(settings).await {
                    Ok(s) if s.onboarded => done(),
                    Ok(_) => error.set(Some(ApiError::new(
                        gridmint_protocol::ErrorCode::Internal,
                        "the set-up was stored but the network did not start earning",
                    ))),
                    Err(e) => error.set(Some(e)),
                }
                starting.set(false);
            });
        }
    };
    view! {
        <header class="top"><Brand /></header>
        <main class="onboarding" data-testid="onboarding">
            <h1>"Set up Gridmint"</h1>
            <p class="sub">"Everything below has a sensible default: “Start earning” is all it takes."</p>
            <section class="card" data-testid="onboarding-wallet">
                <div class="row-title">"1 · Wallet"</div>
                {move || match wallet.get() {
                    None => view! { <p class="loading">"Reading the keyring…"</p> }.into_any(),
                    Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
                    Some(Ok(w)) => match w.address {
                        Some(address) => view! {
                            <p>"Your wallet, kept in the OS keyring: " <span class="mono" data-testid="onboarding-address">{address}</span></p>
                        }.into_any(),
                        None => view! {
                            <p class="muted">"A new wallet is made in your OS keyring when you start (back up its words on the Wallet page). Or import one:"</p>
                            <div class="inline">
                                <input class="grow" data-testid="onboarding-phrase" placeholder="twelve or twenty-four recovery words"
                                    prop:value=move || phrase.get() on:input=move |ev| phrase.set(event_target_value(&ev)) />
                                <button data-testid="onboarding-import" on:click=import>"Import"</button>
                            </div>
                        }.into_any(),
                    },
                }}
            </section>
            <section class="card" data-testid="onboarding-hardware">
                <div class="row-title">"2 · Hardware"</div>
                <Transition fallback=|| view! { <p class="loading">"Looking for devices…"</p> }>
                    {move || devices.get().map(|r| match r {
                        Ok(report) => view! {
                            <ul class="plain">{report.devices.into_iter().map(|d| view! {
                                <li data-testid="onboarding-device">{d.name}</li>
                            }).collect_view()}</ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })}
                </Transition>
                <progress data-testid="benchmark-progress" max=move || progress.get().total value=move || progress.get().done></progress>
                {move || match benchmark.get() {
                    None => view! { <p class="muted small" data-testid="benchmark-stage">{move || format!("Benchmarking: {}", progress.get().stage)}</p> }.into_any(),
                    Some(Ok(b)) => view! {
                        <p data-testid="benchmark-result">{format!(
                            "{}: {:.1} GFLOP/s deterministic matrix multiply, {:.1} GB/s memory",
                            b.device, b.gemm_gflops_4096.unwrap_or(b.gemm_gflops_1024), b.bandwidth_gbs,
                        )}</p>
                    }.into_any(),
                    Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
                }}
            </section>
            <section class="card background" data-testid="onboarding-limits">
                <div class="row-title">"3 · When and how much"</div>
                <BackgroundFields form />
                {move || suggestion.get().map(|s| match s {
                    Ok(s) => view! { <p class="muted small" data-testid="price-suggestion">{format!("Suggested ${} per unit: {}.", s.usd_per_unit, s.basis)}</p> }.into_any(),
                    Err(e) => view! { <p class="muted small">{format!("No price suggestion yet ({}).", e.message)}</p> }.into_any(),
                })}
            </section>
            <section class="card">
                <div class="row-title">"4 · Register and stake"</div>
                <p class="muted">"Starting registers this machine on the network with its benchmark and stakes GRID (returned when you leave), then takes jobs."</p>
                <div class="actions">
                    <button data-testid="start-earning" disabled=move || starting.get() on:click=start>
                        {move || if starting.get() { "Starting…" } else { "Start earning" }}
                    </button>
                </div>
                {move || error.get().map(|error| view! { <div data-testid="onboarding-error"><ErrorBox error /></div> })}
            </section>
        </main>
    }
}

/// Earnings, stake and reputation of this machine, and what its agent is doing.
#[component]
fn Dashboard(live: Live) -> impl IntoView {
    // Kept here, not in the standing (which is drawn again on every status refresh).
    let withdrawal = RwSignal::new(None::<Result<gridmint_protocol::Withdrawal, ApiError>>);
    view! {
        <h1>"Dashboard"</h1>
        <p class="sub">"This machine earns by running verified jobs on the network."</p>
        {move || match live.status.get() {
            None => view! { <p class="loading">"Starting the local network…"</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
            Some(Ok(status)) => view! { <Standing status live withdrawal /> }.into_any(),
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

#[component]
fn Standing(
    status: MarketStatus,
    live: Live,
    withdrawal: RwSignal<Option<Result<gridmint_protocol::Withdrawal, ApiError>>>,
) -> impl IntoView {
    let MarketStatus { phase, network, rpc_url, market, provider } = status;
    let phase_line = match &phase {
        NetworkPhase::Starting => "Starting: chain, contracts, then this machine registers.".to_owned(),
        NetworkPhase::Ready => format!("Ready on the {network} network"),
        NetworkPhase::Failed { message } => format!("The {network} network could not start: {message}"),
    };
    let failed = matches!(phase, NetworkPhase::Failed { .. });
    view! {
        <section class="card" class:error=failed data-testid="network-phase">
            <div class="row-title">{phase_line}</div>
            {rpc_url.map(|url| view! { <div class="muted mono">{format!("RPC {url} · market {}", market.unwrap_or_default())}</div> })}
        </section>
        {provider.map(|p| {
            let reputation = format!("{:.1}%", p.reputation_bps as f64 / 100.0);
            let nothing_to_withdraw = p.withdrawable_usd.parse::<f64>().map_or(true, |v| v <= 0.0);
            view! {
                <section class="stats">
                    <div class="card stat">
                        <div class="label">"Earned, withdrawable"</div>
                        <div class="value" data-testid="earnings">{format!("${}", p.withdrawable_usd)}</div>
                    </div>
                    <div class="card stat">
                        <div class="label">"Payout address holds"</div>
                        <div class="value" data-testid="payout-balance">{format!("${}", p.payout_balance_usd)}</div>
                        <div class="muted mono small" title="where withdrawals go">{p.payout_address.clone()}</div>
                    </div>
                    <div class="card stat">
                        <div class="label">"Stake"</div>
                        <div class="value">{format!("{} GRID", p.stake_grid)}</div>
                    </div>
                    <div class="card stat">
                        <div class="label">"Reputation"</div>
                        <div class="value" data-testid="reputation">{reputation}</div>
                        <div class="muted small" data-testid="reputation-record">{format!(
                            "{} agreed · {} wrong · {} missed", p.jobs_agreed, p.jobs_slashed, p.jobs_missed
                        )}</div>
                    </div>
                    <div class="card stat">
                        <div class="label">"GPU now"</div>
                        <div class="value" data-testid="gpu-telemetry">{telemetry(p.gpu_busy_pct, p.gpu_temp_c)}</div>
                        <div class="muted small">{if p.gpu_busy_pct.is_none() && p.gpu_temp_c.is_none() {
                            "this device reports neither load nor temperature"
                        } else {
                            "utilisation · temperature"
                        }}</div>
                    </div>
                </section>
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
fn telemetry(busy: Option<u32>, temp: Option<f32>) -> String {
    let busy = busy.map_or("—".to_owned(), |b| format!("{b}%"));
    let temp = temp.map_or("—".to_owned(), |t| format!("{t:.0} °C"));
    format!("{busy} · {temp}")
}

/// Earnings over a day (by hour), a week or a month (by day), read from the chain's payments,
/// and the next 24 hours at the recent rate.
#[component]
fn EarningsChart(live: Live) -> impl IntoView {
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
                .map(|p| (p.withdrawable_usd.clone(), p.activity.clone()))
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
fn Bars(history: EarningsHistory) -> impl IntoView {
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
                    data-testid="earnings-bar" data-usd=b.usd.clone()>
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
                <strong>{match &history.market_median_usd_per_unit {
                    Some(median) => format!(
                        "{} job{}, median offer ${median} per unit",
                        history.market_jobs_24h,
                        if history.market_jobs_24h == 1 { "" } else { "s" }
                    ),
                    None => "no jobs posted".to_owned(),
                }}</strong>
            </div>
            <div title="in jobs this machine claimed that have not settled: paid if its result agrees">
                <span class="muted">"Pending: "</span>
                <strong data-testid="earnings-pending">{format!("${}", history.pending_usd)}</strong>
            </div>
        </div>
    }
}

/// "14:00" (hours of a day) or "Nov 26" (days), UTC.
fn utc_label(unix_s: u64, hourly: bool) -> String {
    if hourly {
        return format!("{:02}:00 UTC", unix_s / 3600 % 24);
    }
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (unix_s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {day}", MONTHS[(month - 1) as usize])
}

/// Pays the earned balance out to the payout address (the receipt shows on the dashboard).
#[component]
fn Withdraw(
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
fn RecentJobs(live: Live) -> impl IntoView {
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

/// Drop or pick a package, see what it is and what it costs, post it.
#[component]
fn Buy(live: Live, page: RwSignal<Page>, dropped: RwSignal<Option<String>>) -> impl IntoView {
    let path = RwSignal::new(String::new());
    let replicas = RwSignal::new(1u8);
    let price = RwSignal::new(1000u64);
    let memory = RwSignal::new(String::new());
    let regions = RwSignal::new(String::new());
    let results = RwSignal::new(String::new());
    let preview = RwSignal::new(None::<Result<PackagePreview, ApiError>>);
    let submitting = RwSignal::new(false);
    let submit_error = RwSignal::new(None::<ApiError>);
    let inspect = move || {
        let (p, r, c) = (path.get_untracked(), replicas.get_untracked(), price.get_untracked());
        spawn_local(async move { preview.set(Some(ipc::inspect_package(p, r, c).await)) });
    };
    // A drop on the window lands here.
    Effect::new(move |_| {
        if let Some(p) = dropped.get() {
            path.set(p);
            dropped.set(None);
            inspect();
        }
    });
    let submit = move |_| {
        let invalid = |message: String| ApiError::new(gridmint_protocol::ErrorCode::InvalidInput, message);
        let memory_mib = match memory.get_untracked().trim() {
            "" => Ok(0),
            m => m.parse::<u32>().map_err(|_| invalid(format!("minimum memory: {m:?} is not a whole number of MiB"))),
        };
        let region_codes = regions
            .get_untracked()
            .split([',', ' '])
            .filter(|r| !r.is_empty())
            .map(|r| r.parse::<u8>().map_err(|_| invalid(format!("regions: {r:?} is not a region code"))))
            .collect::<Result<Vec<u8>, ApiError>>();
        let (min_memory_mib, regions) = match (memory_mib, region_codes) {
            (Ok(m), Ok(r)) => (m, r),
            (Err(e), _) | (_, Err(e)) => return submit_error.set(Some(e)),
        };
        let results_dir = Some(results.get_untracked()).filter(|d| !d.trim().is_empty());
        let request = gridmint_protocol::SubmitJobRequest {
            path: path.get_untracked(),
            replicas: replicas.get_untracked(),
            price_per_unit: price.get_untracked(),
            min_memory_mib,
            regions,
            results_dir,
        };
        submitting.set(true);
        submit_error.set(None);
        spawn_local(async move {
            match ipc::submit_job(request).await {
                Ok(_) => {
                    refresh(live);
                    page.set(Page::Jobs);
                }
                Err(e) => submit_error.set(Some(e)),
            }
            submitting.set(false);
        });
    };
    // The desktop's file dialog: a package is checked at once; a results folder fills its field.
    let pick = move |kind: PickKind| {
        spawn_local(async move {
            match ipc::pick_path(kind).await {
                Ok(Some(p)) if kind == PickKind::ResultsFolder => results.set(p),
                Ok(Some(p)) => {
                    path.set(p);
                    inspect();
                }
                Ok(None) => {}
                Err(e) => submit_error.set(Some(e)),
            }
        })
    };
    let ready = move || matches!(live.status.get(), Some(Ok(MarketStatus { phase: NetworkPhase::Ready, .. })));
    // A package checked before the network was up is priced again once it is.
    Effect::new(move |_| {
        let unpriced = matches!(preview.get_untracked(), Some(Ok(PackagePreview { cost_usd: None, .. })));
        if ready() && unpriced {
            inspect();
        }
    });
    view! {
        <h1>"Buy compute"</h1>
        <p class="sub">"Drop a job folder or .zip (with a job.toml) on this window, or type its path."</p>
        <section class="card drop" data-testid="drop-zone">
            <label class="field wide">
                <span>"Package"</span>
                <input
                    type="text"
                    placeholder="/path/to/job-folder or job.zip"
                    data-testid="package-path"
                    prop:value=move || path.get()
                    on:input=move |ev| path.set(event_target_value(&ev))
                    on:change=move |_| inspect()
                />
            </label>
            <label class="field">
                <span>"Replicas"</span>
                <input
                    type="number" min="1" max="9" data-testid="replicas"
                    prop:value=move || replicas.get().to_string()
                    on:input=move |ev| replicas.set(event_target_value(&ev).parse().unwrap_or(1))
                />
            </label>
            <label class="field">
                <span>"Price per work unit (µUSD)"</span>
                <input
                    type="number" min="0" data-testid="price"
                    prop:value=move || price.get().to_string()
                    on:input=move |ev| price.set(event_target_value(&ev).parse().unwrap_or(0))
                />
            </label>
            <label class="field">
                <span>"Min GPU memory (MiB)"</span>
                <input type="number" min="0" data-testid="min-memory" placeholder="any"
                    prop:value=move || memory.get() on:input=move |ev| memory.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Regions (codes)"</span>
                <input type="text" data-testid="regions" placeholder="anywhere"
                    prop:value=move || regions.get() on:input=move |ev| regions.set(event_target_value(&ev)) />
            </label>
            <label class="field wide">
                <span>"Save results to"</span>
                <input type="text" data-testid="results-dir" placeholder="the app's results folder (a new folder per job)"
                    prop:value=move || results.get() on:input=move |ev| results.set(event_target_value(&ev)) />
            </label>
            <div class="actions">
                <button class="secondary" data-testid="inspect" on:click=move |_| inspect()>"Check"</button>
                " "
                <button class="secondary" data-testid="pick-folder" on:click=move |_| pick(PickKind::PackageFolder)>"Choose folder…"</button>
                " "
                <button class="secondary" data-testid="pick-zip" on:click=move |_| pick(PickKind::PackageZip)>"Choose .zip…"</button>
                " "
                <button class="secondary" data-testid="pick-results" on:click=move |_| pick(PickKind::ResultsFolder)>"Results folder…"</button>
            </div>
        </section>
        {move || preview.get().map(|result| match result {
            Err(error) => view! { <div data-testid="package-error"><ErrorBox error /></div> }.into_any(),
            Ok(pkg) => {
                let title = format!("{} job · {}", pkg.kind, pkg.model.clone().unwrap_or_default());
                let units = pkg.work_units.to_string();
                let cost = pkg.cost_usd.clone().map_or_else(|| "when the network is ready".to_owned(), |c| format!("${c}"));
                let files = pkg.files.iter().map(|(n, b)| format!("{n} ({b} B)")).collect::<Vec<_>>().join(", ");
                view! {
                <section class="card" data-testid="package-preview">
                    <div class="row-title">{title}</div>
                    <dl class="specs">
                        <Spec label="Work units" value=units />
                        <Spec label="Cost (escrow)" value=cost />
                        <Spec label="Files" value=files />
                    </dl>
                    <div class="actions">
                        <button
                            data-testid="submit"
                            disabled=move || submitting.get() || !ready()
                            on:click=submit
                        >{move || if ready() { "Submit job" } else { "Waiting for the network…" }}</button>
                    </div>
                    {move || submit_error.get().map(|error| view! { <div data-testid="submit-error"><ErrorBox error /></div> })}
                </section>
                }.into_any()
            }
        })}
    }
}

/// The node's wallet: its key only in the OS keyring; the recovery words only on a confirmed request.
#[component]
fn Wallet(live: Live) -> impl IntoView {
    let status = RwSignal::new(None::<Result<gridmint_protocol::wallet::WalletStatus, ApiError>>);
    let phrase = RwSignal::new(String::new());
    let confirmed = RwSignal::new(false);
    let words = RwSignal::new(None::<Result<String, ApiError>>);
    spawn_local(async move { status.set(Some(ipc::wallet_status().await)) });
    let create = move |_| spawn_local(async move { status.set(Some(ipc::create_wallet().await)) });
    let import = move |_| import_wallet(phrase, status);
    let export = move |_| {
        let c = confirmed.get_untracked();
        spawn_local(async move { words.set(Some(ipc::export_mnemonic(c).await.map(|w| w.words))) })
    };
    view! {
        <h1>"Wallet"</h1>
        <p class="sub">"This node's key lives only in the OS keyring. It signs on real networks; the local network uses its own test accounts."</p>
        <EarningAccount live />
        {move || match status.get() {
            None => view! { <p class="loading">"Reading the keyring…"</p> }.into_any(),
            Some(Err(error)) => view! { <div data-testid="wallet-error"><ErrorBox error /></div> }.into_any(),
            Some(Ok(s)) => match s.address {
                Some(address) => view! {
                    <section class="card">
                        <div class="label muted">"Address"</div>
                        <div class="mono big" data-testid="wallet-address">{address}</div>
                    </section>
                    <section class="card">
                        <div class="row-title">"Back up the recovery words"</div>
                        <label class="check">
                            <input type="checkbox" data-testid="export-confirm"
                                prop:checked=move || confirmed.get()
                                on:change=move |ev| confirmed.set(event_target_checked(&ev)) />
                            " I understand that anyone who sees these words controls this wallet's funds."
                        </label>
                        <div class="actions">
                            <button data-testid="export" disabled=move || !confirmed.get() on:click=export>"Show recovery words"</button>
                        </div>
                        {move || words.get().map(|w| match w {
                            Ok(w) => view! { <div class="words mono" data-testid="mnemonic">{w}</div> }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        })}
                    </section>
                }.into_any(),
                None => view! {
                    <section class="card">
                        <div class="row-title">"No wallet on this machine yet"</div>
                        <div class="actions">
                            <button data-testid="wallet-create" on:click=create>"Create a wallet"</button>
                        </div>
                    </section>
                    <section class="card">
                        <div class="row-title">"Or import one"</div>
                        <textarea data-testid="wallet-phrase" rows="3" placeholder="twelve or twenty-four recovery words"
                            prop:value=move || phrase.get()
                            on:input=move |ev| phrase.set(event_target_value(&ev))></textarea>
                        <div class="actions">
                            <button class="secondary" data-testid="wallet-import" on:click=import>"Import"</button>
                        </div>
                    </section>
                }.into_any(),
            },
        }}
    }
}

/// The account this machine earns with: its balances and where its withdrawals go. The form
/// is drawn once (what is typed survives the status refresh); the figures follow the status.
#[component]
fn EarningAccount(live: Live) -> impl IntoView {
    let standing = Memo::new(move |_| {
        live.status.with(|s| s.as_ref().and_then(|s| s.as_ref().ok()).and_then(|s| s.provider.clone()))
    });
    let next = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let busy = RwSignal::new(false);
    let change = move |_| {
        let address = next.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let result = ipc::change_payout(address).await;
            busy.set(false);
            if let Ok(status) = &result {
                live.status.set(Some(Ok(status.clone())));
                next.set(String::new());
            }
            outcome.set(Some(result.map(|_| ())));
        })
    };
    view! {
        {move || standing.get().map(|p: ProviderStanding| view! {
            <section class="card" data-testid="earning-account">
                <div class="row-title">"Earning account"</div>
                <div class="muted mono small">{p.address.clone()}</div>
                <dl class="specs">
                    <div><dt>"Earned, withdrawable"</dt><dd data-testid="wallet-withdrawable">{format!("${}", p.withdrawable_usd)}</dd></div>
                    <div><dt>"Stake (locked)"</dt><dd data-testid="wallet-stake">{format!("{} GRID", p.stake_grid)}</dd></div>
                    <div><dt>"Rewards to claim"</dt><dd data-testid="wallet-rewards">{format!("{} GRID", p.rewards_grid)}</dd></div>
                    <div><dt>"Payout address holds"</dt><dd data-testid="wallet-payout-balance">{format!("${}", p.payout_balance_usd)}</dd></div>
                </dl>
            </section>
        })}
        <section class="card" class:hidden=move || standing.with(Option::is_none)>
            <div class="row-title">"Payout address"</div>
            <div class="mono" data-testid="payout-address">{move || standing.get().map(|p| p.payout_address)}</div>
            {move || standing.get().and_then(|p| p.pending_payout).map(|pending| view! {
                <p class="muted" data-testid="pending-payout">{format!(
                    "Changing to {} from {} (the market holds a change for two days, so a stolen key cannot redirect earnings at once).",
                    pending.address, utc_label(pending.effective_at_unix_s, false),
                )}</p>
            })}
            <div class="inline">
                <input class="mono grow" data-testid="payout-input" placeholder="0x… new payout address"
                    prop:value=move || next.get() on:input=move |ev| next.set(event_target_value(&ev)) />
                <button data-testid="payout-change" disabled=move || busy.get() || next.get().trim().is_empty()
                    on:click=change>"Change"</button>
            </div>
            {move || outcome.get().map(|o| match o {
                Ok(()) => view! { <p class="ok" data-testid="payout-requested">"Requested."</p> }.into_any(),
                Err(error) => view! { <div data-testid="payout-error"><ErrorBox error /></div> }.into_any(),
            })}
        </section>
    }
}

/// Closing the window leaves Gridmint earning (in the tray, where the desktop has one); this
/// stops it for good, until the app or the login entry starts it again.
#[component]
fn QuitAgent() -> impl IntoView {
    let quit = move |_| {
        spawn_local(async move {
            let _ = ipc::quit_agent().await;
        });
    };
    view! {
        <section class="card">
            <h2>"Stop Gridmint"</h2>
            <p class="muted">"Closing this window keeps Gridmint earning in the background. This stops earning and the local network, and closes the app."</p>
            <button data-testid="quit-agent" on:click=quit>"Stop earning and quit"</button>
        </section>
    }
}

/// Where the app keeps its data, logs and models, and the network it is on.
#[component]
fn Settings(live: Live) -> impl IntoView {
    let settings = LocalResource::new(ipc::app_settings);
    view! {
        <h1>"Settings"</h1>
        <p class="sub">"The network and the folders this app uses."</p>
        <Transition fallback=|| view! { <p class="loading">"Reading settings…"</p> }>
            {move || settings.get().map(|result| match result {
                Err(error) => view! { <ErrorBox error /> }.into_any(),
                Ok(s) => {
                    let rpc = move || match live.status.get() {
                        Some(Ok(MarketStatus { rpc_url: Some(url), market, .. })) => {
                            format!("{url} · market {}", market.unwrap_or_default())
                        }
                        _ => "starting…".to_owned(),
                    };
                    let network = if s.network == "local" {
                        "local (embedded: a chain on this machine, started with the app)".to_owned()
                    } else {
                        format!("{} (yours, with your wallet's key)", s.network)
                    };
                    view! {
                        <section class="card">
                            <dl class="specs settings">
                                <Spec label="Network" value=network />
                                <div><dt>"Chain"</dt><dd class="mono">{rpc}</dd></div>
                                <div><dt>"Data folder"</dt><dd class="mono" data-testid="data-dir">{s.data_dir.clone()}</dd></div>
                                <div><dt>"Logs"</dt><dd class="mono">{s.logs_dir.clone()}</dd></div>
                                <div><dt>"Model cache"</dt><dd class="mono">{s.models_dir.clone()}</dd></div>
                                <div><dt>"Local chain binary"</dt><dd class="mono">{s.anvil.clone()}</dd></div>
                            </dl>
                        </section>
                        <NetworkChoice current=s.network_settings.clone() />
                        <DataFolder current=s.data_dir.clone() next=s.data_dir_next.clone() />
                        <Background current=s.background idle_error=s.idle_detection_error.clone() />
                        <QuitAgent />
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// Moving the data folder (jobs, results, the agent's records): done at the next start.
#[component]
fn DataFolder(current: String, next: Option<String>) -> impl IntoView {
    let to = RwSignal::new(String::new());
    let outcome = RwSignal::new(next.map(Ok::<String, ApiError>));
    let save = move |_| {
        let path = to.get_untracked();
        spawn_local(async move {
            let result = ipc::move_data_folder(path).await;
            outcome.set(Some(result.map(|s| s.data_dir_next.unwrap_or_default())));
        });
    };
    view! {
        <section class="card background">
            <div class="row-title">"Data folder"</div>
            <p class="muted small">{format!("Now: {current}. Jobs, results and this machine's records live here.")}</p>
            <div class="inline">
                <input class="mono grow" data-testid="data-dir-input" placeholder="/full/path/to/a/new/folder"
                    prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                <button data-testid="move-data" disabled=move || to.get().trim().is_empty() on:click=save>"Move"</button>
            </div>
            {move || outcome.get().map(|r| match r {
                Ok(next) => view! { <p class="ok" data-testid="data-move-pending">{format!("Moves to {next} at the next start.")}</p> }.into_any(),
                Err(error) => view! { <div data-testid="data-move-error"><ErrorBox error /></div> }.into_any(),
            })}
        </section>
    }
}

/// The network for the next start: the embedded one, or the owner's (RPC + deployment file).
#[component]
fn NetworkChoice(current: gridmint_protocol::NetworkSettings) -> impl IntoView {
    let custom = RwSignal::new(current.custom.is_some());
    let rpc = RwSignal::new(current.custom.as_ref().map(|c| c.rpc_url.clone()).unwrap_or_default());
    let file = RwSignal::new(current.custom.as_ref().map(|c| c.deployment_file.clone()).unwrap_or_default());
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let save = move |_| {
        let settings = gridmint_protocol::NetworkSettings {
            custom: custom.get_untracked().then(|| gridmint_protocol::CustomNetwork {
                rpc_url: rpc.get_untracked(),
                deployment_file: file.get_untracked(),
            }),
        };
        spawn_local(async move { outcome.set(Some(ipc::set_network(settings).await.map(|_| ()))) });
    };
    view! {
        <section class="card background">
            <div class="row-title">"Network (from the next start)"</div>
            <label class="check">
                <input type="radio" name="network" data-testid="network-local" prop:checked=move || !custom.get()
                    on:change=move |_| custom.set(false) />
                " Local: an embedded chain on this machine, for trying Gridmint out"
            </label>
            <label class="check">
                <input type="radio" name="network" data-testid="network-custom" prop:checked=move || custom.get()
                    on:change=move |_| custom.set(true) />
                " A network of mine, signing with my wallet:"
            </label>
            <div class="inline" class:hidden=move || !custom.get()>
                <input class="mono grow" data-testid="rpc-url" placeholder="https://rpc.example.org"
                    prop:value=move || rpc.get() on:input=move |ev| rpc.set(event_target_value(&ev)) />
                <input class="mono grow" data-testid="deployment-file" placeholder="/path/to/deployment.json"
                    prop:value=move || file.get() on:input=move |ev| file.set(event_target_value(&ev)) />
            </div>
            <div class="actions">
                <button data-testid="save-network" on:click=save>"Save"</button>
            </div>
            {move || outcome.get().map(|r| match r {
                Ok(()) => view! { <p class="ok" data-testid="network-saved">"Saved: joined at the next start."</p> }.into_any(),
                Err(error) => view! { <div data-testid="network-error"><ErrorBox error /></div> }.into_any(),
            })}
        </section>
    }
}

/// Start at login, and earning only while the owner is away (the GPU handed back on input).
/// The background settings as typed: the fields of the Settings page and of the first-run
/// set-up, read and checked when saved.
#[derive(Clone, Copy)]
struct BackgroundForm {
    login: RwSignal<bool>,
    idle: RwSignal<bool>,
    minutes: RwSignal<String>,
    from: RwSignal<String>,
    until: RwSignal<String>,
    ac: RwSignal<bool>,
    temp: RwSignal<String>,
    share: RwSignal<String>,
    others: RwSignal<bool>,
    /// USD per work unit, as typed.
    floor: RwSignal<String>,
    /// Chosen on the Hardware page; carried through.
    device: RwSignal<Option<u32>>,
}

impl BackgroundForm {
    fn new(current: &BackgroundSettings) -> Self {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            login: RwSignal::new(current.start_at_login),
            idle: RwSignal::new(current.earn_only_when_idle),
            minutes: RwSignal::new(current.idle_minutes.to_string()),
            from: RwSignal::new(opt(current.earn_from_hour.map(u32::from))),
            until: RwSignal::new(opt(current.earn_until_hour.map(u32::from))),
            ac: RwSignal::new(current.ac_power_only),
            temp: RwSignal::new(opt(current.max_gpu_temp_c)),
            share: RwSignal::new(current.gpu_memory_share_pct.to_string()),
            others: RwSignal::new(current.yield_to_other_programs),
            floor: RwSignal::new(usd_of_units(current.price_floor_per_unit)),
            device: RwSignal::new(current.earning_device),
        }
    }

    /// The settings, or what is wrong with a field (named).
    fn read(&self) -> Result<BackgroundSettings, ApiError> {
        // A blank field is "no limit"; anything else must be a whole number.
        let number = |name: &str, text: String| -> Result<Option<u32>, String> {
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u32>().map(Some).map_err(|_| format!("{name}: {text:?} is not a whole number"))
        };
        let read = || -> Result<BackgroundSettings, String> {
            let idle_minutes = number("idle minutes", self.minutes.get())?.ok_or("idle minutes: required")?;
            let hour = |name: &str, text: String| -> Result<Option<u8>, String> {
                number(name, text)?
                    .map(|h| u8::try_from(h).map_err(|_| format!("{name}: {h} is not an hour")))
                    .transpose()
            };
            let share = number("memory share", self.share.get())?.unwrap_or(100);
            Ok(BackgroundSettings {
                start_at_login: self.login.get(),
                earn_only_when_idle: self.idle.get(),
                idle_minutes,
                earn_from_hour: hour("from hour", self.from.get())?,
                earn_until_hour: hour("until hour", self.until.get())?,
                ac_power_only: self.ac.get(),
                max_gpu_temp_c: number("temperature limit", self.temp.get())?,
                gpu_memory_share_pct: u8::try_from(share)
                    .map_err(|_| format!("memory share: {share} % is too large"))?,
                yield_to_other_programs: self.others.get(),
                price_floor_per_unit: units_of_usd("price floor", &self.floor.get())?,
                earning_device: self.device.get(),
            })
        };
        read().map_err(|message| ApiError::new(gridmint_protocol::ErrorCode::InvalidInput, message))
    }
}

/// "0.001" for 1000 base units (10^-6 USD).
fn usd_of_units(units: u64) -> String {
    gridmint_protocol::market::format_units(u128::from(units), 6)
}

/// Base units (10^-6 USD) of a typed dollar amount: at most 6 decimals, no sign.
fn units_of_usd(name: &str, text: &str) -> Result<u64, String> {
    let text = text.trim().trim_start_matches('$');
    let bad = || format!("{name}: {text:?} is not an amount in dollars (like 0.001)");
    if text.is_empty() {
        return Ok(0);
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 6
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || (whole.is_empty() && frac.is_empty())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: u64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    whole.checked_mul(1_000_000).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
}

/// The fields of a [`BackgroundForm`].
#[component]
fn BackgroundFields(form: BackgroundForm) -> impl IntoView {
    view! {
        <Toggle testid="start-at-login" value=form.login>" Start Gridmint when I log in (to the tray)"</Toggle>
        <Toggle testid="earn-when-idle" value=form.idle>
            " Earn only while I'm away: start after "
            <NumberField testid="idle-minutes" value=form.minutes min=1 max=240 />
            " minutes without input; the GPU is handed back the moment I touch the keyboard or mouse"
        </Toggle>
        <div class="row-title limits">"Limits"</div>
        <label class="check">
            " Earn only from "
            <NumberField testid="earn-from" value=form.from min=0 max=23 placeholder="any" />
            ":00 until "
            <NumberField testid="earn-until" value=form.until min=0 max=23 placeholder="any" />
            ":00 (blank: any hour)"
        </label>
        <Toggle testid="ac-only" value=form.ac>" Only on AC power (stop on battery)"</Toggle>
        <Toggle testid="yield-to-others" value=form.others>
            " Give way when another program runs heavy work on the GPU (NVIDIA: seen through nvidia-smi)"
        </Toggle>
        <label class="check">
            " Stop while the GPU is at or above "
            <NumberField testid="max-temp" value=form.temp min=30 max=110 placeholder="none" />
            " °C"
        </label>
        <label class="check">
            " Let a job use at most "
            <NumberField testid="memory-share" value=form.share min=10 max=100 />
            " % of the GPU's memory"
        </label>
        <label class="check">
            " Take only jobs paying at least $"
            <input class="price" data-testid="price-floor" prop:value=move || form.floor.get()
                on:input=move |ev| form.floor.set(event_target_value(&ev)) />
            " per work unit (10⁹ operations)"
        </label>
    }
}

#[component]
fn Background(current: BackgroundSettings, idle_error: Option<String>) -> impl IntoView {
    let form = BackgroundForm::new(&current);
    let outcome: RwSignal<Option<Result<(), ApiError>>> = RwSignal::new(None);
    let save = move |_| match form.read() {
        Err(error) => outcome.set(Some(Err(error))),
        Ok(settings) => spawn_local(async move {
            outcome.set(Some(ipc::set_background(settings).await.map(|_| ())));
        }),
    };
    view! {
        <section class="card background">
            <div class="row-title">"Background"</div>
            <BackgroundFields form />
            <p class="muted small">"A new price floor applies from the next start."</p>
            {idle_error.map(|e| view! { <p class="sub" data-testid="idle-unavailable">{format!("Idle detection is unavailable here: {e}")}</p> })}
            <div class="actions">
                <button data-testid="save-background" on:click=save>"Save"</button>
            </div>
            {move || outcome.get().map(|r| match r {
                Ok(()) => view! { <p class="ok" data-testid="background-saved">"Saved and applied."</p> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </section>
    }
}

/// A labelled checkbox bound to `value`; the children are the label.
#[component]
fn Toggle(testid: &'static str, value: RwSignal<bool>, children: Children) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" data-testid=testid prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev)) />
            {children()}
        </label>
    }
}

/// A small whole-number field bound to `value` (as typed: checked when saved).
#[component]
fn NumberField(
    testid: &'static str,
    value: RwSignal<String>,
    min: u32,
    max: u32,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    view! {
        <input type="number" min=min max=max class="minutes" data-testid=testid placeholder=placeholder
            prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
    }
}

#[component]
fn Jobs(live: Live) -> impl IntoView {
    let open = RwSignal::new(None::<u64>);
    view! {
        <h1>"Jobs"</h1>
        <p class="sub">"Every job you posted from this machine, newest first. Pick one for its timeline."</p>
        {move || {
            let jobs = live.jobs.get();
            if jobs.is_empty() {
                view! { <p class="loading" data-testid="no-jobs">"No jobs yet: drop a package on the Buy page."</p> }.into_any()
            } else {
                view! { <JobTable jobs open /> }.into_any()
            }
        }}
        <JobDetail open live />
    }
}

/// The timeline of the job picked on the Jobs page: each replica's claim, commitment and reveal
/// on chain with its transaction, the settlement and the verification outcome. Read again every
/// two seconds while the job runs.
#[component]
fn JobDetail(open: RwSignal<Option<u64>>, live: Live) -> impl IntoView {
    let timeline = RwSignal::new(None::<Result<JobTimeline, ApiError>>);
    let load = move || {
        if let Some(id) = open.get_untracked() {
            spawn_local(async move {
                let read = ipc::job_timeline(id).await;
                if open.get_untracked() == Some(id) {
                    timeline.set(Some(read));
                }
            });
        }
    };
    Effect::new(move |_| {
        open.track();
        timeline.set(None);
        load();
    });
    let running = move || {
        open.get_untracked().is_some_and(|id| {
            live.jobs.with_untracked(|jobs| jobs.iter().any(|j| j.local_id == id && !j.status.is_final()))
        })
    };
    every_while_shown(Duration::from_secs(2), move || {
        if running() {
            load();
        }
    });
    view! {
        {move || open.get().map(|id| view! {
            <section class="card" data-testid="job-timeline">
                <div class="chart-head">
                    <div class="row-title">{format!("Job {id}: timeline")}</div>
                    <button class="link" data-testid="timeline-close" on:click=move |_| open.set(None)>"Close"</button>
                </div>
                {move || match timeline.get() {
                    None => view! { <p class="loading">"Reading the job's events…"</p> }.into_any(),
                    Some(Err(error)) => view! { <ErrorBox error /> }.into_any(),
                    Some(Ok(t)) => view! { <Timeline timeline=t /> }.into_any(),
                }}
                <OpenResults id live />
            </section>
        })}
    }
}

/// Opens a verified job's result folder in the file manager.
#[component]
fn OpenResults(id: u64, live: Live) -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let saved =
        move || live.jobs.with(|jobs| jobs.iter().find(|j| j.local_id == id).and_then(|j| j.result_dir.clone()));
    let open = move |_| spawn_local(async move { outcome.set(Some(ipc::open_results(id).await)) });
    view! {
        {move || saved().map(|dir| view! {
            <div class="inline">
                <span class="mono small grow">{dir}</span>
                <button data-testid="open-results" on:click=open>"Open results"</button>
            </div>
        })}
        {move || outcome.get().map(|r| match r {
            Ok(()) => view! { <p class="ok" data-testid="results-opened">"Opened in your file manager."</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
    }
}

#[component]
fn Timeline(timeline: JobTimeline) -> impl IntoView {
    let start = timeline.events.first().map_or(0, |e| e.at_unix_s);
    let short = |s: &str| if s.len() > 14 { format!("{}…{}", &s[..8], &s[s.len() - 4..]) } else { s.to_owned() };
    view! {
        {timeline.verification.map(|v| view! { <p class="verification" data-testid="job-verification">{v}</p> })}
        {timeline.job_id.is_none().then(|| view! { <p class="muted">"Not on chain yet: publishing the data and posting."</p> })}
        <table class="jobs timeline">
            <thead><tr><th>"Time"</th><th>"Step"</th><th>"Replica"</th><th>"Provider"</th><th>"Detail"</th><th>"Transaction"</th></tr></thead>
            <tbody>
                {timeline.events.into_iter().map(|e| view! {
                    <tr data-testid="timeline-row">
                        <td>{format!("+{} s", e.at_unix_s.saturating_sub(start))}</td>
                        <td data-testid="timeline-step">{e.step}</td>
                        <td>{e.replica.map(|r| format!("#{r}")).unwrap_or_default()}</td>
                        <td class="mono small" title=e.provider.clone().unwrap_or_default()>{e.provider.as_deref().map(short).unwrap_or_default()}</td>
                        <td class="small">{e.detail.unwrap_or_default()}</td>
                        <td class="mono small" title=e.transaction.clone() data-testid="timeline-tx">{short(&e.transaction)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// upload → matching → running → verifying, the current one marked.
#[component]
fn Stages(stage: JobStage) -> impl IntoView {
    view! {
        <div class="stages" data-testid="job-stage" data-stage=stage.label()>
            {JobStage::ALL.into_iter().filter(|s| *s != JobStage::Done).map(|s| view! {
                <span class:done=s < stage class:now=s == stage>{s.label()}</span>
            }).collect_view()}
        </div>
    }
}

#[component]
fn JobTable(jobs: Vec<JobSummary>, #[prop(optional)] open: Option<RwSignal<Option<u64>>>) -> impl IntoView {
    view! {
        <table class="jobs card">
            <thead><tr><th>"#"</th><th>"Status"</th><th>"Package"</th><th>"Units"</th><th>"Time"</th><th>"Result"</th>
                {open.map(|_| view! { <th></th> })}</tr></thead>
            <tbody>
                {jobs.into_iter().map(|j| {
                    let class = match j.status {
                        JobStatus::Verified => "pill",
                        JobStatus::Failed | JobStatus::Disputed => "pill bad",
                        _ => "pill neutral",
                    };
                    let name = j.package.rsplit('/').next().unwrap_or(&j.package).to_owned();
                    let result = j.result_dir.clone().or(j.detail.clone()).unwrap_or_default();
                    view! {
                        <tr data-testid="job-row">
                            <td>{j.job_id.clone().unwrap_or_else(|| format!("local {}", j.local_id))}</td>
                            <td>
                                <span class=class data-testid="job-status">{j.status.label()}</span>
                                {(!j.status.is_final()).then(|| view! { <Stages stage=j.stage /> })}
                            </td>
                            <td title=j.package.clone()>{name}</td>
                            <td>{j.work_units}</td>
                            <td>{format!("{:.0} s", j.elapsed_s)}</td>
                            <td class="mono small" data-testid="job-result">{result}</td>
                            {open.map(|open| {
                                let id = j.local_id;
                                view! { <td><button class="link" data-testid="job-details"
                                    on:click=move |_| open.set(Some(id))>"Timeline"</button></td> }
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The compute devices this machine offers the network.
#[component]
fn Hardware(live: Live) -> impl IntoView {
    let report = LocalResource::new(|| ipc::hardware_report(false));
    // The stored settings: which device earns (the rest is carried through a change).
    let settings = RwSignal::new(None::<BackgroundSettings>);
    spawn_local(async move {
        if let Ok(s) = ipc::app_settings().await {
            settings.set(Some(s.background));
        }
    });
    let earning_now = move || {
        live.status.with(|s| {
            s.as_ref().and_then(|s| s.as_ref().ok()).and_then(|s| s.provider.as_ref()).map(|p| p.device.clone())
        })
    };
    // One benchmark at a time: its progress events carry no device.
    let progress = RwSignal::new(None::<gridmint_protocol::BenchmarkProgress>);
    ipc::on_benchmark_progress(move |p| {
        // The listener outlives the page (Tauri keeps it): once the page is gone, nothing to set.
        let _ = progress.try_set(Some(p));
    });
    let bench = HardwareBench { progress, running: RwSignal::new(None) };
    view! {
        <h1>"Hardware"</h1>
        <p class="sub">"The compute devices Gridmint found through Vulkan on this machine. One earns at a time; its limits (memory share, hours, idle only) are on the Settings page."</p>
        <p class="muted" data-testid="earning-device">{move || earning_now().map_or_else(
            || "No device earns yet.".to_owned(),
            |d| format!("Earning now with {d}."),
        )}</p>
        <Transition fallback=|| view! { <p class="loading" data-testid="devices-loading">"Looking for devices…"</p> }>
            {move || report.get().map(|result| match result {
                Ok(report) => view! { <Report report settings bench /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

/// The benchmark running on the Hardware page, if one is.
#[derive(Clone, Copy)]
struct HardwareBench {
    progress: RwSignal<Option<gridmint_protocol::BenchmarkProgress>>,
    /// The device index it runs on.
    running: RwSignal<Option<u32>>,
}

#[component]
fn Report(
    report: HardwareReport,
    settings: RwSignal<Option<BackgroundSettings>>,
    bench: HardwareBench,
) -> impl IntoView {
    let HardwareReport { host, devices } = report;
    view! {
        <section class="devices" data-testid="device-list">
            {devices.into_iter().map(|device| view! { <Device device settings bench /> }).collect_view()}
        </section>
        <HostLine host />
    }
}

#[component]
fn Device(
    device: ComputeDevice,
    settings: RwSignal<Option<BackgroundSettings>>,
    bench: HardwareBench,
) -> impl IntoView {
    let index = device.index;
    let result = RwSignal::new(None::<Result<gridmint_protocol::BenchmarkReport, ApiError>>);
    let run = move |_| {
        bench.running.set(Some(index));
        bench.progress.set(None);
        spawn_local(async move {
            // The page may be gone by the time it ends (try_set: then nothing to show).
            let _ = result.try_set(Some(ipc::run_benchmark(Some(index)).await));
            let _ = bench.running.try_set(None);
        });
    };
    let chosen = move || settings.with(|s| s.as_ref().and_then(|s| s.earning_device)) == Some(index);
    let saved = RwSignal::new(None::<Result<(), ApiError>>);
    let choose = move |_| {
        let Some(current) = settings.get_untracked() else { return };
        let next = BackgroundSettings { earning_device: Some(index), ..current };
        spawn_local(async move {
            let stored = ipc::set_background(next).await;
            if let Ok(s) = &stored {
                settings.set(Some(s.background));
            }
            saved.set(Some(stored.map(|_| ())));
        });
    };
    let driver = match &device.driver_name {
        Some(name) => format!("{name} {}", device.driver_version),
        None => device.driver_version.clone(),
    };
    let subgroup = device.subgroup_size.map_or_else(|| "—".to_owned(), |s| s.to_string());
    view! {
        <article class="card device" data-testid="device-row">
            <div class="name" data-testid="device-name">{device.name.clone()}</div>
            <div><span class="pill">{device.kind.label()}</span></div>
            <dl class="specs">
                <Spec label="Vendor" value=device.vendor.clone() />
                <Spec label="Driver" value=driver />
                <Spec label="Vulkan" value=device.api_version.clone() />
                <Spec label="Device memory" value=gib(device.device_local_memory_bytes) />
                <Spec label="Subgroup size" value=subgroup />
                <Spec label="Shared memory" value=format!("{} KiB", device.max_shared_memory_bytes / 1024) />
            </dl>
            <label class="check">
                <input type="radio" name="earning-device" data-testid="earn-with" prop:checked=chosen on:change=choose />
                " Earn with this device (from the next start)"
            </label>
            {move || saved.get().map(|r| match r {
                Ok(()) => view! { <p class="ok" data-testid="earn-with-saved">"Saved: this device earns from the next start."</p> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
            <div class="actions">
                <button class="secondary" data-testid="device-benchmark" disabled=move || bench.running.get().is_some() on:click=run>"Benchmark"</button>
            </div>
            {move || (bench.running.get() == Some(index)).then(|| view! {
                <progress data-testid="device-benchmark-progress"
                    max=move || bench.progress.get().map_or(1, |p| p.total)
                    value=move || bench.progress.get().map_or(0, |p| p.done)></progress>
                <p class="muted small">{move || bench.progress.get().map(|p| p.stage).unwrap_or_default()}</p>
            })}
            {move || result.get().map(|r| match r {
                Ok(b) => view! {
                    <p data-testid="device-benchmark-result">{format!(
                        "{:.1} GFLOP/s deterministic matrix multiply (1024³), {:.1} GB/s memory, score {}",
                        b.gemm_gflops_1024, b.bandwidth_gbs, b.score,
                    )}</p>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </article>
    }
}

#[component]
fn Spec(label: &'static str, value: String) -> impl IntoView {
    view! { <div><dt>{label}</dt><dd>{value}</dd></div> }
}

#[component]
fn HostLine(host: HostInfo) -> impl IntoView {
    let cores = match host.physical_cores {
        Some(p) => format!("{p} cores, {} threads", host.logical_cores),
        None => format!("{} threads", host.logical_cores),
    };
    view! {
        <p class="host" data-testid="host">
            {format!("Host: {} · {cores} · {} RAM · {}", host.cpu_model, gib(host.memory_bytes), host.os)}
        </p>
    }
}

#[component]
fn ErrorBox(error: ApiError) -> impl IntoView {
    let code = format!("{:?}", error.code);
    view! {
        <div class="error" data-testid="error" role="alert">
            <code>{code}</code>": "{error.message}
        </div>
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_amounts_parse_to_base_units_exactly_or_name_the_field() {
        assert_eq!(units_of_usd("price floor", "0.001"), Ok(1000));
        assert_eq!(units_of_usd("price floor", "$2.5"), Ok(2_500_000));
        assert_eq!(units_of_usd("price floor", " 7 "), Ok(7_000_000));
        assert_eq!(units_of_usd("price floor", ".000001"), Ok(1));
        assert_eq!(units_of_usd("price floor", ""), Ok(0), "blank: no floor");
        for bad in ["0.0000001", "-1", "1e3", "abc", ".", "1.2.3", "99999999999999999999"] {
            let err = units_of_usd("price floor", bad).expect_err(bad);
            assert!(err.starts_with("price floor:"), "names the field: {err}");
        }
        for units in [0, 1, 1000, 2_500_000, 123_456_789] {
            assert_eq!(units_of_usd("x", &usd_of_units(units)), Ok(units), "round trip of {units}");
        }
    }

    #[test]
    fn chart_labels_are_utc_hours_and_civil_dates() {
        assert_eq!(utc_label(0, false), "Jan 1");
        assert_eq!(utc_label(0, true), "00:00 UTC");
        // 2026-11-26 07:00 UTC.
        assert_eq!(utc_label(1_795_676_400, true), "07:00 UTC");
        assert_eq!(utc_label(1_795_676_400, false), "Nov 26");
        // 2024-02-29 (a leap day).
        assert_eq!(utc_label(1_709_164_800, false), "Feb 29");
    }

    #[test]
    fn telemetry_shows_dashes_for_what_is_not_reported() {
        assert_eq!(telemetry(Some(87), Some(64.4)), "87% · 64 °C");
        assert_eq!(telemetry(None, None), "— · —");
    }
}
