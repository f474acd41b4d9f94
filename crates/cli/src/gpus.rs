//! `gridmint gpus`

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use gridmint_node::Node;
use gridmint_protocol::HardwareReport;

pub fn run(node: &Node, json: bool) -> anyhow::Result<()> {
    let report = node.hardware_report()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn render(report: &HardwareReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "#",
        "device",
        "vendor",
        "type",
        "driver",
        "Vulkan",
        "memory",
        "subgroup",
        "shared mem",
    ]);
    for d in &report.devices {
        let driver = match &d.driver_name {
            Some(name) => format!("{name} {}", d.driver_version),
            None => d.driver_version.clone(),
        };
        table.add_row([
            d.index.to_string(),
            d.name.clone(),
            d.vendor.clone(),
            d.kind.label().to_owned(),
            driver,
            d.api_version.clone(),
            gib(d.device_local_memory_bytes),
            d.subgroup_size.map_or("-".to_owned(), |s| s.to_string()),
            format!("{} KiB", d.max_shared_memory_bytes / 1024),
        ]);
    }
    let h = &report.host;
    let cores = match h.physical_cores {
        Some(p) => format!("{p} cores / {} threads", h.logical_cores),
        None => format!("{} threads", h.logical_cores),
    };
    format!("{table}\nhost: {} ({cores}), {} RAM, {}\n", h.cpu_model, gib(h.memory_bytes), h.os)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
