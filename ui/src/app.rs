//! The window: a header with the pages (Dashboard, Buy, Jobs, Hardware) and the pages
//! themselves. The market status and the job list are polled once a second for every page.

use std::time::Duration;

use gridmint_protocol::{
    ApiError, BackgroundSettings, ComputeDevice, HardwareReport, HostInfo, JobStatus, JobSummary, MarketStatus,
    NetworkPhase, PackagePreview,
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

#[component]
pub fn App() -> impl IntoView {
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
            <div class="logo" aria-hidden="true">
                <span></span><span></span><span></span>
                <span></span><span></span><span></span>
                <span></span><span></span><span></span>
            </div>
            <div class="brand">"Gridmint"</div>
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
                Page::Hardware => view! { <Hardware /> }.into_any(),
                Page::Wallet => view! { <Wallet /> }.into_any(),
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
            NetworkPhase::Starting => ("starting", "local network: starting…".to_owned()),
            NetworkPhase::Ready => ("ready", "local network".to_owned()),
            NetworkPhase::Failed { .. } => ("failed", "local network: failed".to_owned()),
        },
    };
    view! {
        <div class="badge" data-testid="network-badge" data-phase=move || text().0>
            <span class="dot"></span>{move || text().1}
        </div>
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
                    </div>
                </section>
                <section class="card agent">
                    <div>
                        <div class="row-title">{p.device.clone()}</div>
                        <div class="muted" data-testid="activity">{p.activity.clone()}</div>
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
        submitting.set(true);
        submit_error.set(None);
        let (p, r, c) = (path.get_untracked(), replicas.get_untracked(), price.get_untracked());
        spawn_local(async move {
            match ipc::submit_job(p, r, c).await {
                Ok(_) => {
                    refresh(live);
                    page.set(Page::Jobs);
                }
                Err(e) => submit_error.set(Some(e)),
            }
            submitting.set(false);
        });
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
            <div class="actions">
                <button class="secondary" data-testid="inspect" on:click=move |_| inspect()>"Check"</button>
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
fn Wallet() -> impl IntoView {
    let status = RwSignal::new(None::<Result<gridmint_protocol::wallet::WalletStatus, ApiError>>);
    let phrase = RwSignal::new(String::new());
    let confirmed = RwSignal::new(false);
    let words = RwSignal::new(None::<Result<String, ApiError>>);
    spawn_local(async move { status.set(Some(ipc::wallet_status().await)) });
    let create = move |_| spawn_local(async move { status.set(Some(ipc::create_wallet().await)) });
    let import = move |_| {
        let p = phrase.get_untracked();
        spawn_local(async move {
            let result = ipc::import_wallet(p).await;
            if result.is_ok() {
                phrase.set(String::new());
            }
            status.set(Some(result));
        })
    };
    let export = move |_| {
        let c = confirmed.get_untracked();
        spawn_local(async move { words.set(Some(ipc::export_mnemonic(c).await.map(|w| w.words))) })
    };
    view! {
        <h1>"Wallet"</h1>
        <p class="sub">"This node's key lives only in the OS keyring. It signs on real networks; the local network uses its own test accounts."</p>
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
                    let network = format!("{} (embedded: a chain on this machine, started with the app)", s.network);
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
                        <Background current=s.background idle_error=s.idle_detection_error.clone() />
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// Start at login, and earning only while the owner is away (the GPU handed back on input).
#[component]
fn Background(current: BackgroundSettings, idle_error: Option<String>) -> impl IntoView {
    let login = RwSignal::new(current.start_at_login);
    let idle = RwSignal::new(current.earn_only_when_idle);
    let minutes = RwSignal::new(current.idle_minutes.to_string());
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let from = RwSignal::new(opt(current.earn_from_hour.map(u32::from)));
    let until = RwSignal::new(opt(current.earn_until_hour.map(u32::from)));
    let ac = RwSignal::new(current.ac_power_only);
    let temp = RwSignal::new(opt(current.max_gpu_temp_c));
    let share = RwSignal::new(current.gpu_memory_share_pct.to_string());
    let others = RwSignal::new(current.yield_to_other_programs);
    let outcome: RwSignal<Option<Result<(), ApiError>>> = RwSignal::new(None);
    let save = move |_| {
        let invalid = |message: String| {
            outcome.set(Some(Err(ApiError::new(gridmint_protocol::ErrorCode::InvalidInput, message))));
        };
        // A blank field is "no limit"; anything else must be a whole number.
        let number = |name: &str, text: String| -> Result<Option<u32>, String> {
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u32>().map(Some).map_err(|_| format!("{name}: {text:?} is not a whole number"))
        };
        let read = (|| -> Result<BackgroundSettings, String> {
            let idle_minutes = number("idle minutes", minutes.get())?.ok_or("idle minutes: required")?;
            let hour = |name: &str, text: String| -> Result<Option<u8>, String> {
                number(name, text)?
                    .map(|h| u8::try_from(h).map_err(|_| format!("{name}: {h} is not an hour")))
                    .transpose()
            };
            let share = number("memory share", share.get())?.unwrap_or(100);
            Ok(BackgroundSettings {
                start_at_login: login.get(),
                earn_only_when_idle: idle.get(),
                idle_minutes,
                earn_from_hour: hour("from hour", from.get())?,
                earn_until_hour: hour("until hour", until.get())?,
                ac_power_only: ac.get(),
                max_gpu_temp_c: number("temperature limit", temp.get())?,
                gpu_memory_share_pct: u8::try_from(share)
                    .map_err(|_| format!("memory share: {share} % is too large"))?,
                yield_to_other_programs: others.get(),
            })
        })();
        let settings = match read {
            Ok(s) => s,
            Err(message) => return invalid(message),
        };
        spawn_local(async move {
            outcome.set(Some(ipc::set_background(settings).await.map(|_| ())));
        });
    };
    view! {
        <section class="card background">
            <div class="row-title">"Background"</div>
            <Toggle testid="start-at-login" value=login>" Start Gridmint when I log in (to the tray)"</Toggle>
            <Toggle testid="earn-when-idle" value=idle>
                " Earn only while I'm away: start after "
                <NumberField testid="idle-minutes" value=minutes min=1 max=240 />
                " minutes without input; the GPU is handed back the moment I touch the keyboard or mouse"
            </Toggle>
            <div class="row-title limits">"Limits"</div>
            <label class="check">
                " Earn only from "
                <NumberField testid="earn-from" value=from min=0 max=23 placeholder="any" />
                ":00 until "
                <NumberField testid="earn-until" value=until min=0 max=23 placeholder="any" />
                ":00 (blank: any hour)"
            </label>
            <Toggle testid="ac-only" value=ac>" Only on AC power (stop on battery)"</Toggle>
            <Toggle testid="yield-to-others" value=others>
                " Give way when another program runs heavy work on the GPU (NVIDIA: seen through nvidia-smi)"
            </Toggle>
            <label class="check">
                " Stop while the GPU is at or above "
                <NumberField testid="max-temp" value=temp min=30 max=110 placeholder="none" />
                " °C"
            </label>
            <label class="check">
                " Let a job use at most "
                <NumberField testid="memory-share" value=share min=10 max=100 />
                " % of the GPU's memory"
            </label>
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
    view! {
        <h1>"Jobs"</h1>
        <p class="sub">"Every job you posted from this machine, newest first."</p>
        {move || {
            let jobs = live.jobs.get();
            if jobs.is_empty() {
                view! { <p class="loading" data-testid="no-jobs">"No jobs yet: drop a package on the Buy page."</p> }.into_any()
            } else {
                view! { <JobTable jobs /> }.into_any()
            }
        }}
    }
}

#[component]
fn JobTable(jobs: Vec<JobSummary>) -> impl IntoView {
    view! {
        <table class="jobs card">
            <thead><tr><th>"#"</th><th>"Status"</th><th>"Package"</th><th>"Units"</th><th>"Time"</th><th>"Result"</th></tr></thead>
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
                            <td><span class=class data-testid="job-status">{j.status.label()}</span></td>
                            <td title=j.package.clone()>{name}</td>
                            <td>{j.work_units}</td>
                            <td>{format!("{:.0} s", j.elapsed_s)}</td>
                            <td class="mono small" data-testid="job-result">{result}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The compute devices this machine offers the network.
#[component]
fn Hardware() -> impl IntoView {
    let report = LocalResource::new(|| ipc::hardware_report(false));
    view! {
        <h1>"Hardware"</h1>
        <p class="sub">"The compute devices Gridmint found through Vulkan on this machine."</p>
        <Transition fallback=|| view! { <p class="loading" data-testid="devices-loading">"Looking for devices…"</p> }>
            {move || report.get().map(|result| match result {
                Ok(report) => view! { <Report report /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Report(report: HardwareReport) -> impl IntoView {
    let HardwareReport { host, devices } = report;
    view! {
        <section class="devices" data-testid="device-list">
            {devices.into_iter().map(|device| view! { <Device device /> }).collect_view()}
        </section>
        <HostLine host />
    }
}

#[component]
fn Device(device: ComputeDevice) -> impl IntoView {
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
