//! What a machine can offer: its compute devices and its host.

use serde::{Deserialize, Serialize};

/// The kind of a Vulkan physical device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    /// A CPU implementation of Vulkan, such as llvmpipe.
    Cpu,
    Other,
}

impl DeviceKind {
    /// Short human label, as shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            DeviceKind::DiscreteGpu => "discrete",
            DeviceKind::IntegratedGpu => "integrated",
            DeviceKind::VirtualGpu => "virtual",
            DeviceKind::Cpu => "cpu",
            DeviceKind::Other => "other",
        }
    }
}

/// One compute device found through Vulkan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeDevice {
    /// Position in the Vulkan enumeration; what `--gpu N` refers to.
    pub index: u32,
    pub name: String,
    pub vendor: String,
    pub vendor_id: u32,
    pub device_id: u32,
    pub kind: DeviceKind,
    /// Driver name as the driver reports it (`llvmpipe`, `NVIDIA`), if it does.
    pub driver_name: Option<String>,
    /// Decoded driver version, with the driver's own info string where one exists.
    pub driver_version: String,
    /// Vulkan API version, `major.minor.patch`.
    pub api_version: String,
    /// Sum of the device-local memory heaps.
    pub device_local_memory_bytes: u64,
    /// Default subgroup size, if the driver reports one (Vulkan 1.1+).
    pub subgroup_size: Option<u32>,
    /// `maxComputeSharedMemorySize`.
    pub max_shared_memory_bytes: u32,
}

/// The host the devices sit in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    pub cpu_model: String,
    pub physical_cores: Option<u32>,
    pub logical_cores: u32,
    pub memory_bytes: u64,
    pub os: String,
}

/// Everything `gridmint gpus` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareReport {
    pub host: HostInfo,
    pub devices: Vec<ComputeDevice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kind_uses_snake_case_on_the_wire() {
        let json = serde_json::to_string(&DeviceKind::DiscreteGpu).expect("serialize");
        assert_eq!(json, "\"discrete_gpu\"", "the UI matches on these strings");
    }

    #[test]
    fn api_error_is_code_and_message() {
        let err = crate::ApiError::new(crate::ErrorCode::NoVulkan, "install mesa-vulkan-drivers");
        let json = serde_json::to_value(&err).expect("serialize");
        assert_eq!(json, serde_json::json!({"code": "no_vulkan", "message": "install mesa-vulkan-drivers"}));
    }
}
