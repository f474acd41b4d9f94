//! The buyer's page: drop or pick a package, see what it is and costs, post it.

use gridmint_protocol::{ApiError, MarketStatus, NetworkPhase, PackagePreview, PickKind};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{ErrorBox, Spec},
    ipc,
    live::{Live, refresh},
    pages::Page,
};

/// Drop or pick a package, see what it is and what it costs, post it.
#[component]
pub fn Buy(live: Live, page: RwSignal<Page>, dropped: RwSignal<Option<String>>) -> impl IntoView {
    let path = RwSignal::new(String::new());
    let replicas = RwSignal::new(1u8);
    let price = RwSignal::new(gridmint_protocol::Price::H100_REFERENCE.get());
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
        // Names (eu-west) or codes (4), comma- or space-separated.
        let region_codes = regions
            .get_untracked()
            .split([',', ' '])
            .filter(|r| !r.is_empty())
            .map(|r| match r.parse::<u8>() {
                Ok(code) => Ok(code),
                Err(_) => r
                    .parse::<gridmint_protocol::Region>()
                    .map(|r| r.code())
                    .map_err(|e| invalid(format!("regions: {e}"))),
            })
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
                <span>"Price (µ$ per PFLOP; 27,800: an H100 at $2.49 an hour)"</span>
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
                <span>"Regions (eu-west, us-east…)"</span>
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
                let cost = pkg.cost_usd.map_or_else(|| "when the network is ready".to_owned(), |c| format!("${c}"));
                let files = pkg.files.iter().map(|(n, b)| format!("{n} ({b} B)")).collect::<Vec<_>>().join(", ");
                let facts = pkg
                    .facts
                    .iter()
                    .map(|(label, value)| view! { <Spec label=label.clone() value=value.clone() /> })
                    .collect::<Vec<_>>();
                view! {
                <section class="card" data-testid="package-preview">
                    <div class="row-title">{title}</div>
                    <dl class="specs" data-testid="package-facts">
                        {facts}
                        <Spec label="Work units" value=units />
                        <Spec label="Cost (escrow)" value=cost />
                        <Spec label="Price as device time" value=format!("${} per H100 hour", pkg.usd_per_h100_hour) />
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
