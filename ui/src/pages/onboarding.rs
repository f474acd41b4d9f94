//! The first run: wallet, hardware and its benchmark, limits and price, then "Start earning".

use std::time::Duration;

use gridmint_protocol::{ApiError, BackgroundSettings};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{
        Brand, ErrorBox,
        background::{BackgroundFields, BackgroundForm},
    },
    ipc,
    live::every_while_shown,
    pages::wallet::import_wallet,
};

/// The first run: a wallet, the hardware and its benchmark, limits, a price floor from the
/// market, then one click to register, stake and start earning. Every step has a default.
#[component]
pub fn Onboarding(done: impl Fn() + Copy + 'static) -> impl IntoView {
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
                form.floor.set(s.usd_per_pflop.to_string());
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
                    // What an hour of this device's work pays at it, once its benchmark is in.
                    Ok(s) => view! { <p class="muted small" data-testid="price-suggestion">{move || match benchmark.get() {
                        Some(Ok(b)) => format!(
                            "Suggested ${} per PFLOP: {}; this device ({} GFLOP/s) earns ${} an hour of work at it.",
                            s.usd_per_pflop,
                            s.basis,
                            b.score,
                            gridmint_protocol::Price(s.price_per_unit).per_hour(f64::from(b.score))
                        ),
                        _ => format!("Suggested ${} per PFLOP: {}.", s.usd_per_pflop, s.basis),
                    }}</p> }.into_any(),
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
