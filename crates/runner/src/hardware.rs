//! The machine's hardware as the network sees it.

use gpu_engine::{DeviceInfo, DeviceType, Vulkan};
use gridmint_protocol::{ComputeDevice, DeviceKind, HardwareReport, HostInfo};

use crate::RunnerError;

/// Enumerates the compute devices and describes the host.
pub fn report() -> Result<HardwareReport, RunnerError> {
    let devices = Vulkan::load()?.devices()?.into_iter().map(to_wire).collect();
    Ok(HardwareReport { host: host(), devices })
}

/// The host's CPU, cores and memory.
pub fn host() -> HostInfo {
    let mut sys = sysinfo::System::new();
    sys.refresh_cpu_all();
    sys.refresh_memory();
    let cpu_model = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_owned())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    HostInfo {
        cpu_model,
        physical_cores: sysinfo::System::physical_core_count().map(|n| n as u32),
        logical_cores: sys.cpus().len() as u32,
        memory_bytes: sys.total_memory(),
        os: sysinfo::System::long_os_version().unwrap_or_else(|| std::env::consts::OS.to_owned()),
    }
}

fn to_wire(d: DeviceInfo) -> ComputeDevice {
    ComputeDevice {
        index: d.index,
        name: d.name,
        vendor: d.vendor,
        vendor_id: d.vendor_id,
        device_id: d.device_id,
        kind: match d.device_type {
            DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu,
            DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu,
            DeviceType::VirtualGpu => DeviceKind::VirtualGpu,
            DeviceType::Cpu => DeviceKind::Cpu,
            DeviceType::Other => DeviceKind::Other,
        },
        driver_name: d.driver_name,
        driver_version: d.driver_version,
        api_version: d.api_version,
        device_local_memory_bytes: d.device_local_memory_bytes,
        subgroup_size: d.subgroup_size,
        max_shared_memory_bytes: d.max_shared_memory_bytes,
    }
}
