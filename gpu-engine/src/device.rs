//! Finding compute devices.

use std::sync::{Arc, Mutex};

use vulkano::{
    VulkanLibrary,
    device::{
        QueueFlags,
        physical::{PhysicalDevice, PhysicalDeviceType},
    },
    instance::{Instance, InstanceCreateFlags, InstanceCreateInfo},
    memory::MemoryHeapFlags,
};

use crate::EngineError;

/// A loaded Vulkan library and instance: the entry point of the engine.
#[derive(Debug, Clone)]
pub struct Vulkan {
    pub(crate) instance: Arc<Instance>,
}

impl Vulkan {
    /// The process's Vulkan instance, created by the first call (which loads the Vulkan loader)
    /// and kept until the process exits; a call after a failed one tries again.
    ///
    /// One instance for the process's life, never destroyed: the loader unloads the driver when
    /// the last instance is destroyed, and NVIDIA's (580.159, H100) still had threads running its
    /// code. Two engine tests that opened and dropped devices dozens of times died with SIGSEGV at
    /// an instruction address in an unmapped page; a provider reopening its device after a loss
    /// would do the same.
    pub fn load() -> Result<Self, EngineError> {
        static INSTANCE: Mutex<Option<Arc<Instance>>> = Mutex::new(None);
        let mut kept = INSTANCE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(instance) = kept.as_ref() {
            return Ok(Self { instance: instance.clone() });
        }
        let library = VulkanLibrary::new().map_err(|e| EngineError::NoLoader(e.to_string()))?;
        let instance = Instance::new(
            library,
            InstanceCreateInfo {
                flags: InstanceCreateFlags::ENUMERATE_PORTABILITY,
                application_name: Some("gridmint".into()),
                ..Default::default()
            },
        )
        .map_err(|e| match e {
            // The loader answers this when it found no driver (ICD) at all.
            vulkano::Validated::Error(vulkano::VulkanError::IncompatibleDriver) => EngineError::NoDevice,
            other => EngineError::vulkan("creating the Vulkan instance", other),
        })?;
        *kept = Some(instance.clone());
        Ok(Self { instance })
    }

    pub(crate) fn physical_devices(&self) -> Result<Vec<Arc<PhysicalDevice>>, EngineError> {
        let devices: Vec<_> = self
            .instance
            .enumerate_physical_devices()
            .map_err(|e| EngineError::vulkan("enumerating physical devices", e))?
            .collect();
        if devices.is_empty() {
            return Err(EngineError::NoDevice);
        }
        Ok(devices)
    }

    /// Every device the loader reports that can run compute work, in enumeration order.
    /// Fails with [`EngineError::NoDevice`] when there is none.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, EngineError> {
        let infos: Vec<_> = self
            .physical_devices()?
            .iter()
            .enumerate()
            .filter(|(_, p)| has_compute_queue(p))
            .map(|(i, p)| DeviceInfo::from_physical(i as u32, p))
            .collect();
        if infos.is_empty() {
            return Err(EngineError::NoDevice);
        }
        Ok(infos)
    }
}

pub(crate) fn has_compute_queue(p: &PhysicalDevice) -> bool {
    p.queue_family_properties().iter().any(|q| q.queue_flags.intersects(QueueFlags::COMPUTE))
}

/// The kind of device, in the engine's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceType {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    Cpu,
    Other,
}

impl From<PhysicalDeviceType> for DeviceType {
    fn from(t: PhysicalDeviceType) -> Self {
        match t {
            PhysicalDeviceType::DiscreteGpu => DeviceType::DiscreteGpu,
            PhysicalDeviceType::IntegratedGpu => DeviceType::IntegratedGpu,
            PhysicalDeviceType::VirtualGpu => DeviceType::VirtualGpu,
            PhysicalDeviceType::Cpu => DeviceType::Cpu,
            _ => DeviceType::Other,
        }
    }
}

/// What a device is and what it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub index: u32,
    pub name: String,
    pub vendor: String,
    pub vendor_id: u32,
    pub device_id: u32,
    pub device_type: DeviceType,
    pub driver_name: Option<String>,
    pub driver_version: String,
    pub api_version: String,
    pub device_local_memory_bytes: u64,
    pub subgroup_size: Option<u32>,
    pub max_shared_memory_bytes: u32,
}

impl DeviceInfo {
    pub(crate) fn from_physical(index: u32, p: &PhysicalDevice) -> Self {
        let props = p.properties();
        let device_local_memory_bytes = p
            .memory_properties()
            .memory_heaps
            .iter()
            .filter(|h| h.flags.intersects(MemoryHeapFlags::DEVICE_LOCAL))
            .map(|h| h.size)
            .sum();
        let api = props.api_version;
        Self {
            index,
            name: props.device_name.clone(),
            vendor: vendor_name(props.vendor_id).to_owned(),
            vendor_id: props.vendor_id,
            device_id: props.device_id,
            device_type: props.device_type.into(),
            driver_name: props.driver_name.clone(),
            driver_version: driver_version(props.vendor_id, props.driver_version, props.driver_info.as_deref()),
            api_version: format!("{}.{}.{}", api.major, api.minor, api.patch),
            device_local_memory_bytes,
            subgroup_size: props.subgroup_size,
            max_shared_memory_bytes: props.max_compute_shared_memory_size,
        }
    }
}

/// PCI vendor ids (and Khronos ids for vendors without one) to names.
pub fn vendor_name(vendor_id: u32) -> &'static str {
    match vendor_id {
        0x10de => "NVIDIA",
        0x1002 | 0x1022 => "AMD",
        0x8086 => "Intel",
        0x13b5 => "ARM",
        0x5143 => "Qualcomm",
        0x106b => "Apple",
        0x1010 => "Imagination",
        0x10005 => "Mesa",
        0x10006 => "PoCL",
        _ => "unknown",
    }
}

/// Decodes `driverVersion`, whose packing is vendor specific, and appends the driver's own info
/// string (Mesa puts its version there).
pub fn driver_version(vendor_id: u32, raw: u32, info: Option<&str>) -> String {
    let decoded = match vendor_id {
        // NVIDIA: 10 bits major, 8 minor, 8 secondary, 6 tertiary.
        0x10de => format!("{}.{}.{}.{}", raw >> 22, (raw >> 14) & 0xff, (raw >> 6) & 0xff, raw & 0x3f),
        // Intel on Windows: 18 bits major, 14 minor.
        0x8086 if cfg!(windows) => format!("{}.{}", raw >> 14, raw & 0x3fff),
        // Everyone else follows VK_MAKE_API_VERSION.
        _ => format!("{}.{}.{}", raw >> 22, (raw >> 12) & 0x3ff, raw & 0xfff),
    };
    match info {
        Some(info) if !info.is_empty() => format!("{decoded} ({info})"),
        _ => decoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every load shares the one instance (see [`Vulkan::load`]), so dropping what a load gave
    /// never unloads the driver.
    #[test]
    fn every_load_shares_the_process_instance() {
        let Ok(first) = Vulkan::load() else {
            assert!(std::env::var_os("GRIDMINT_REQUIRE_VULKAN").is_none(), "no Vulkan loader");
            return;
        };
        let weak = Arc::downgrade(&first.instance);
        drop(first);
        let again = Vulkan::load().expect("a second load");
        assert!(weak.upgrade().is_some_and(|kept| Arc::ptr_eq(&kept, &again.instance)), "the instance was kept");
    }

    #[test]
    fn nvidia_driver_versions_use_nvidia_packing() {
        // 580.159.04 as the H100 machine's driver reports it.
        let raw = (580 << 22) | (159 << 14) | (4 << 6);
        assert_eq!(driver_version(0x10de, raw, None), "580.159.4.0");
    }

    #[test]
    fn mesa_driver_versions_carry_the_info_string() {
        let raw = (22 << 22) | (3 << 12) | 6;
        assert_eq!(driver_version(0x10005, raw, Some("Mesa 22.3.6")), "22.3.6 (Mesa 22.3.6)");
    }
}
