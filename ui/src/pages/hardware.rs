//! The hardware page: the compute devices found through Vulkan, a benchmark per device, and
//! which one earns.

use gridmint_protocol::{ApiError, BackgroundSettings, ComputeDevice, HardwareReport, HostInfo};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    components::{ErrorBox, Spec},
    format::gib,
    ipc,
    live::Live,
};

/// The compute devices this machine offers the network.
#[component]
pub fn Hardware(live: Live) -> impl IntoView {
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
pub struct HardwareBench {
    progress: RwSignal<Option<gridmint_protocol::BenchmarkProgress>>,
    /// The device index it runs on.
    running: RwSignal<Option<u32>>,
}

#[component]
pub fn Report(
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
pub fn Device(
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
pub fn HostLine(host: HostInfo) -> impl IntoView {
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
