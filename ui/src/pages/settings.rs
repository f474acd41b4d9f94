//! The settings page: network, folders, background limits, and stopping the agent.

use gridmint_protocol::{ApiError, BackgroundSettings, MarketStatus};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{
        ErrorBox, Spec,
        background::{BackgroundFields, BackgroundForm},
    },
    ipc,
    live::Live,
};

/// Where the app keeps its data, logs and models, and the network it is on.
#[component]
pub fn Settings(live: Live) -> impl IntoView {
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
pub fn DataFolder(current: String, next: Option<String>) -> impl IntoView {
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
pub fn NetworkChoice(current: gridmint_protocol::NetworkSettings) -> impl IntoView {
    let custom = RwSignal::new(current.custom.is_some());
    let rpc = RwSignal::new(current.custom.as_ref().map(|c| c.rpc_url.clone()).unwrap_or_default());
    let file = RwSignal::new(current.custom.as_ref().map(|c| c.deployment_file.clone()).unwrap_or_default());
    // A market code trusted earlier stays trusted only for the same deployment file.
    let trusted =
        current.custom.as_ref().and_then(|c| c.trusted_market_code.clone().map(|t| (c.deployment_file.clone(), t)));
    let region = RwSignal::new(current.region);
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let save = move |_| {
        let deployment_file = file.get_untracked();
        let trusted_market_code = trusted.as_ref().filter(|(f, _)| *f == deployment_file).map(|(_, code)| code.clone());
        let settings = gridmint_protocol::NetworkSettings {
            custom: custom.get_untracked().then(|| gridmint_protocol::CustomNetwork {
                rpc_url: rpc.get_untracked(),
                deployment_file,
                trusted_market_code,
            }),
            region: region.get_untracked(),
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
            <label class="field">
                "Where this machine is: "
                <select data-testid="region"
                    on:change=move |ev| {
                        if let Some(r) = event_target_value(&ev).parse::<u8>().ok().and_then(gridmint_protocol::Region::from_code) {
                            region.set(r);
                        }
                    }>
                    {gridmint_protocol::Region::all().map(|r| view! {
                        <option value=r.code().to_string() prop:selected=move || region.get() == r>
                            {format!("{}: {}", r.name(), r.covers())}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <p class="muted small">"Jobs open to some regions only go to machines declared in them; unspecified takes jobs open to anywhere."</p>
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

#[component]
pub fn Background(current: BackgroundSettings, idle_error: Option<String>) -> impl IntoView {
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

/// Closing the window leaves Gridmint earning (in the tray, where the desktop has one); this
/// stops it for good, until the app or the login entry starts it again.
#[component]
pub fn QuitAgent() -> impl IntoView {
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
