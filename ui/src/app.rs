//! The window's frame: the first-run set-up, or the pages in a header and the page shown.

use gridmint_protocol::{ApiError, NetworkPhase};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{Brand, ErrorBox},
    ipc,
    live::{Live, refresh},
    pages::{Buy, Dashboard, Hardware, Jobs, Onboarding, Page, Settings, Wallet},
};

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
pub fn Pages() -> impl IntoView {
    let page = RwSignal::new(Page::Dashboard);
    let live = Live { status: RwSignal::new(None), jobs: RwSignal::new(Vec::new()) };
    // Read once; from then on the agent pushes every change (no polling).
    refresh(live);
    ipc::on_market_status(move |status| live.status.set(Some(Ok(status))));
    ipc::on_jobs(move |jobs| live.jobs.set(jobs));
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
pub fn NetworkBadge(live: Live) -> impl IntoView {
    let text = move || match live.status.get() {
        None => ("starting", "local network: starting…".to_owned()),
        Some(Err(e)) => ("failed", format!("local network: {}", e.message)),
        Some(Ok(s)) => match s.phase {
            NetworkPhase::Starting => ("starting", format!("{} network: starting…", s.network)),
            NetworkPhase::Ready => ("ready", format!("{} network", s.network)),
            NetworkPhase::Failed { .. } => ("failed", format!("{} network: failed", s.network)),
            NetworkPhase::Untrusted { .. } => ("failed", format!("{} network: market not trusted", s.network)),
        },
    };
    view! {
        <div class="badge" data-testid="network-badge" data-phase=move || text().0>
            <span class="dot"></span>{move || text().1}
        </div>
    }
}
