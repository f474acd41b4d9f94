use std::time::Duration;

/// Everything the engine can fail with. Messages say what happened and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Vulkan loader on this machine ({0}); install one: `apt-get install libvulkan1 mesa-vulkan-drivers` \
         (mesa-vulkan-drivers brings llvmpipe, a CPU driver) or your GPU vendor's driver"
    )]
    NoLoader(String),
    #[error(
        "the Vulkan loader found no device; install a driver: `apt-get install mesa-vulkan-drivers` for the \
         llvmpipe CPU driver, or your GPU vendor's driver (check VK_DRIVER_FILES / VK_ICD_FILENAMES if set)"
    )]
    NoDevice,
    #[error("no compute device with index {index}; this machine has {count} (see `gridmint gpus`)")]
    UnknownDevice { index: u32, count: usize },
    #[error("device {device} has no queue family that supports compute")]
    NoComputeQueue { device: String },
    #[error(
        "{what} needs {needed_bytes} bytes of device memory, over the limit of {limit_bytes} bytes set for {device}"
    )]
    OverMemoryLimit { what: String, needed_bytes: u64, limit_bytes: u64, device: String },
    #[error("dispatch of {kernel} did not finish within {timeout:?}")]
    Timeout { kernel: &'static str, timeout: Duration },
    #[error("{device} did not finish a dispatch within {timeout:?} and takes no more work until this program restarts")]
    Hung { device: String, timeout: Duration },
    #[error("the device was lost while running {kernel}; the engine recreates it on the next open")]
    DeviceLost { kernel: &'static str },
    #[error("kernel rejected: {reason}")]
    KernelRejected { reason: String },
    #[error("the run was cancelled after {completed_dispatches} dispatches")]
    Cancelled { completed_dispatches: usize },
    #[error("invalid shape for {kernel}: {message}")]
    Shape { kernel: &'static str, message: String },
    #[error("model weights: tensor `{tensor}`: {message}")]
    Weights { tensor: String, message: String },
    #[error("Vulkan error while {context}: {message}")]
    Vulkan { context: &'static str, message: String },
}

impl EngineError {
    /// Wraps any vulkano error with what the engine was doing.
    pub(crate) fn vulkan(context: &'static str, err: impl std::fmt::Display) -> Self {
        EngineError::Vulkan { context, message: err.to_string() }
    }
}
