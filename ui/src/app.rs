//! The window: header and the hardware view.

use gridmint_protocol::{ApiError, ComputeDevice, HardwareReport, HostInfo};
use leptos::prelude::*;

use crate::ipc;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <header class="top">
            <div class="logo" aria-hidden="true">
                <span></span><span></span><span></span>
                <span></span><span></span><span></span>
                <span></span><span></span><span></span>
            </div>
            <div class="brand">"Gridmint"</div>
        </header>
        <main>
            <Hardware />
        </main>
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
