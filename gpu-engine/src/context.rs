//! An opened device: logical device, queue, allocators, pipeline cache, limits.

use std::{path::PathBuf, sync::Arc, time::Duration};

use vulkano::{
    Validated, VulkanError,
    buffer::{Buffer, BufferContents, BufferCreateInfo, BufferUsage, Subbuffer},
    command_buffer::{
        AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfo, PrimaryAutoCommandBuffer,
        allocator::StandardCommandBufferAllocator,
    },
    descriptor_set::allocator::StandardDescriptorSetAllocator,
    device::{Device, DeviceCreateInfo, DeviceFeatures, Queue, QueueCreateInfo, QueueFlags},
    memory::allocator::{AllocationCreateInfo, MemoryTypeFilter, StandardMemoryAllocator},
    pipeline::{
        ComputePipeline, PipelineLayout, PipelineShaderStageCreateInfo,
        cache::{PipelineCache, PipelineCacheCreateInfo},
        compute::ComputePipelineCreateInfo,
        layout::PipelineDescriptorSetLayoutCreateInfo,
    },
    shader::{ShaderModule, ShaderModuleCreateInfo, SpecializationConstant},
    sync::{self, GpuFuture},
};

use crate::{
    DeviceInfo, EngineError, ReproClass, Vulkan,
    device::{DeviceType, has_compute_queue},
    shaders,
};

/// A command buffer being recorded: one or more kernel dispatches submitted together.
pub type Recorder = AutoCommandBufferBuilder<PrimaryAutoCommandBuffer>;

/// Which device to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// Discrete GPU, then integrated, then virtual, then a CPU driver.
    #[default]
    Best,
    /// The device at this enumeration index (`gridmint gpus` shows them).
    Index(u32),
}

/// Limits and places the caller decides.
#[derive(Debug, Clone)]
pub struct GpuOptions {
    /// A dispatch (one command buffer) that takes longer is abandoned with [`EngineError::Timeout`].
    pub dispatch_timeout: Duration,
    /// The most device memory a job may use, in bytes; `None` means the device's own size.
    pub memory_limit_bytes: Option<u64>,
    /// Where the driver's pipeline cache is kept between runs; `None` keeps it in memory only.
    pub pipeline_cache_dir: Option<PathBuf>,
    /// Whether kernel buffers live in device-only memory, filled and read back through host
    /// staging buffers. `None` decides by device type: yes for discrete and virtual GPUs, whose
    /// host-visible memory is either system RAM across the bus or a slow mapped window; no for CPU
    /// drivers and integrated GPUs, where all memory is the host's.
    pub staged_memory: Option<bool>,
    /// GEMM layouts measured fastest on particular devices and drivers (what a benchmark found);
    /// the opened device takes those that name it, for their class, instead of its default. Every
    /// layout gives the same bits, so this changes speed only.
    pub gemm_layouts: Vec<GemmLayoutChoice>,
}

/// The GEMM layout to run in one class on one device and driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemmLayoutChoice {
    /// [`DeviceInfo::name`].
    pub device: String,
    /// [`DeviceInfo::driver_version`]: a new driver compiles kernels anew, so it is measured anew.
    pub driver: String,
    pub class: ReproClass,
    pub layout: crate::kernels::gemm::GemmVariant,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            dispatch_timeout: Duration::from_secs(60),
            memory_limit_bytes: None,
            pipeline_cache_dir: None,
            staged_memory: None,
            gemm_layouts: Vec::new(),
        }
    }
}

/// An opened compute device.
#[derive(Debug)]
pub struct Gpu {
    info: DeviceInfo,
    pub(crate) device: Arc<Device>,
    pub(crate) queue: Arc<Queue>,
    pub(crate) memory: Arc<StandardMemoryAllocator>,
    pub(crate) descriptors: Arc<StandardDescriptorSetAllocator>,
    pub(crate) commands: Arc<StandardCommandBufferAllocator>,
    pipeline_cache: Arc<PipelineCache>,
    options: GpuOptions,
    fused_fma: bool,
    staged: bool,
    /// Steers every submission: the owner's pause or cancel takes effect between them.
    control: std::sync::RwLock<Option<crate::control::Control>>,
    /// Submissions so far (a cancellation reports how many completed).
    submissions: std::sync::atomic::AtomicUsize,
    /// The owner's cap on device memory for jobs, in bytes (0: none), under the option's limit.
    memory_cap: std::sync::atomic::AtomicU64,
    /// Set when a submission overran the dispatch timeout: its work may still be running and
    /// cannot be taken back, so nothing more is submitted (see [`EngineError::Hung`]).
    hung: std::sync::atomic::AtomicBool,
}

impl Gpu {
    /// Opens a device and probes its reproducibility classes.
    pub fn open(vulkan: &Vulkan, choice: DeviceChoice, options: GpuOptions) -> Result<Self, EngineError> {
        let physicals = vulkan.physical_devices()?;
        let (index, physical) = match choice {
            DeviceChoice::Index(i) => {
                let p =
                    physicals.get(i as usize).ok_or(EngineError::UnknownDevice { index: i, count: physicals.len() })?;
                (i, p.clone())
            }
            DeviceChoice::Best => physicals
                .iter()
                .enumerate()
                .filter(|(_, p)| has_compute_queue(p))
                .min_by_key(|(_, p)| DeviceType::from(p.properties().device_type))
                .map(|(i, p)| (i as u32, p.clone()))
                .ok_or(EngineError::NoDevice)?,
        };
        let info = DeviceInfo::from_physical(index, &physical);
        let queue_family_index = physical
            .queue_family_properties()
            .iter()
            .position(|q| q.queue_flags.intersects(QueueFlags::COMPUTE))
            .ok_or_else(|| EngineError::NoComputeQueue { device: info.name.clone() })?
            as u32;
        let (device, mut queues) = Device::new(
            physical,
            DeviceCreateInfo {
                queue_create_infos: vec![QueueCreateInfo { queue_family_index, ..Default::default() }],
                // Out-of-bounds reads return zero or in-bounds data instead of faulting: buyer kernels
                // run with it on.
                enabled_features: DeviceFeatures { robust_buffer_access: true, ..DeviceFeatures::empty() },
                ..Default::default()
            },
        )
        .map_err(|e| EngineError::vulkan("creating the logical device", e))?;
        let queue = queues.next().ok_or_else(|| EngineError::NoComputeQueue { device: info.name.clone() })?;

        let initial_data = options
            .pipeline_cache_dir
            .as_ref()
            .and_then(|dir| std::fs::read(dir.join(cache_file_name(&info))).ok())
            .unwrap_or_default();
        // SAFETY: the driver checks the cache header (vendor, device, driver UUID) and ignores
        // data that is not its own; we only ever write back what the same driver produced.
        let pipeline_cache = unsafe {
            PipelineCache::new(device.clone(), PipelineCacheCreateInfo { initial_data, ..Default::default() })
        }
        .or_else(|_| unsafe { PipelineCache::new(device.clone(), PipelineCacheCreateInfo::default()) })
        .map_err(|e| EngineError::vulkan("creating the pipeline cache", e))?;

        let staged = options.staged_memory.unwrap_or(matches!(
            info.device_type,
            DeviceType::DiscreteGpu | DeviceType::VirtualGpu | DeviceType::Other
        ));
        let mut gpu = Self {
            memory: Arc::new(StandardMemoryAllocator::new_default(device.clone())),
            descriptors: Arc::new(StandardDescriptorSetAllocator::new(device.clone(), Default::default())),
            commands: Arc::new(StandardCommandBufferAllocator::new(device.clone(), Default::default())),
            info,
            device,
            queue,
            pipeline_cache,
            staged,
            options,
            fused_fma: false,
            control: std::sync::RwLock::new(None),
            submissions: std::sync::atomic::AtomicUsize::new(0),
            memory_cap: std::sync::atomic::AtomicU64::new(0),
            hung: std::sync::atomic::AtomicBool::new(false),
        };
        // The start-up probe is bounded by at least 10 s, not by the (possibly tight) bound set
        // for jobs' dispatches: a CPU driver shares its cores with whatever else runs.
        let job_timeout = gpu.options.dispatch_timeout;
        gpu.options.dispatch_timeout = job_timeout.max(Duration::from_secs(10));
        let probed = crate::kernels::fma_probe::device_fma_is_fused(&gpu);
        gpu.options.dispatch_timeout = job_timeout;
        gpu.fused_fma = probed?;
        tracing::info!(device = %gpu.info.name, fused = gpu.fused_fma, "opened compute device");
        Ok(gpu)
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn options(&self) -> &GpuOptions {
        &self.options
    }

    /// Whether this device reproduces `class` bit for bit.
    pub fn supports(&self, class: ReproClass) -> bool {
        match class {
            ReproClass::Unfused => true,
            ReproClass::Fused => self.fused_fma,
        }
    }

    /// Whether `buf` can be viewed as RGBA 32-bit float texels (16 bytes each): its start is on the
    /// device's texel buffer alignment and its texel count within the device's limit.
    pub fn texels_fit(&self, buf: &Subbuffer<[f32]>) -> bool {
        let props = self.device.physical_device().properties();
        let align = props.min_texel_buffer_offset_alignment.as_devicesize().max(16);
        buf.offset().is_multiple_of(align)
            && buf.len().is_multiple_of(4)
            && buf.len() / 4 <= u64::from(props.max_texel_buffer_elements)
    }

    /// The classes this device reproduces, unfused first.
    pub fn classes(&self) -> Vec<ReproClass> {
        [ReproClass::Unfused, ReproClass::Fused].into_iter().filter(|c| self.supports(*c)).collect()
    }

    /// Fails up front when `what` would need more device memory than the user allows.
    pub fn check_memory(&self, what: &str, needed_bytes: u64) -> Result<(), EngineError> {
        let mut limit_bytes = self.options.memory_limit_bytes.unwrap_or(self.info.device_local_memory_bytes);
        let cap = self.memory_cap.load(std::sync::atomic::Ordering::Relaxed);
        if cap != 0 {
            limit_bytes = limit_bytes.min(cap);
        }
        if needed_bytes > limit_bytes {
            return Err(EngineError::OverMemoryLimit {
                what: what.to_owned(),
                needed_bytes,
                limit_bytes,
                device: self.info.name.clone(),
            });
        }
        Ok(())
    }

    /// Writes the driver's pipeline cache to the cache directory, if one was given.
    pub fn save_pipeline_cache(&self) -> std::io::Result<()> {
        let Some(dir) = &self.options.pipeline_cache_dir else { return Ok(()) };
        let data = self.pipeline_cache.get_data().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(cache_file_name(&self.info));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, data)?;
        std::fs::rename(tmp, path)
    }

    /// The GEMM layout this device runs in `class`: the one [`GpuOptions::gemm_layouts`] names for
    /// this device and driver, else [`GemmVariant::for_device`](crate::kernels::gemm::GemmVariant::for_device).
    pub fn gemm_layout(&self, class: ReproClass) -> crate::kernels::gemm::GemmVariant {
        self.options
            .gemm_layouts
            .iter()
            .find(|c| c.class == class && c.device == self.info.name && c.driver == self.info.driver_version)
            .map_or_else(|| crate::kernels::gemm::GemmVariant::for_device(self, class), |c| c.layout)
    }

    /// Whether kernel buffers are device-only and staged through host buffers ([`GpuOptions`]).
    pub fn staged_memory(&self) -> bool {
        self.staged
    }

    /// A storage buffer holding `data`: written in place on a host-memory device, or copied from a
    /// host staging buffer into device-only memory on a staged one.
    pub fn upload<T: BufferContents + Copy>(&self, data: &[T]) -> Result<Subbuffer<[T]>, EngineError> {
        let filled = |usage, memory_type_filter, what| {
            Buffer::from_iter(
                self.memory.clone(),
                BufferCreateInfo { usage, ..Default::default() },
                AllocationCreateInfo { memory_type_filter, ..Default::default() },
                data.iter().copied(),
            )
            .map_err(|e| EngineError::vulkan(what, e))
        };
        if !self.staged {
            let host_visible = MemoryTypeFilter::PREFER_DEVICE | MemoryTypeFilter::HOST_RANDOM_ACCESS;
            return filled(Self::KERNEL_USAGE, host_visible, "allocating a storage buffer");
        }
        let staging = filled(
            BufferUsage::TRANSFER_SRC,
            MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_SEQUENTIAL_WRITE,
            "allocating a staging buffer",
        )?;
        let target = self.output::<T>(data.len() as u64)?;
        let mut builder = self.recorder()?;
        builder
            .copy_buffer(CopyBufferInfo::buffers(staging, target.clone()))
            .map_err(|e| EngineError::vulkan("recording an upload", e))?;
        self.submit("upload", builder)?;
        Ok(target)
    }

    /// Kernel buffers are storage buffers, and uniform texel buffers too so that a kernel may
    /// fetch 16 bytes at a time where that is faster (the GEMM on CPU drivers).
    const KERNEL_USAGE: BufferUsage = BufferUsage::STORAGE_BUFFER
        .union(BufferUsage::UNIFORM_TEXEL_BUFFER)
        .union(BufferUsage::TRANSFER_SRC)
        .union(BufferUsage::TRANSFER_DST);

    /// An uninitialised storage buffer of `len` elements for kernel output.
    pub fn output<T: BufferContents>(&self, len: u64) -> Result<Subbuffer<[T]>, EngineError> {
        let memory_type_filter = if self.staged {
            MemoryTypeFilter::PREFER_DEVICE
        } else {
            MemoryTypeFilter::PREFER_DEVICE | MemoryTypeFilter::HOST_RANDOM_ACCESS
        };
        Buffer::new_slice(
            self.memory.clone(),
            BufferCreateInfo { usage: Self::KERNEL_USAGE, ..Default::default() },
            AllocationCreateInfo { memory_type_filter, ..Default::default() },
            len.max(1),
        )
        .map_err(|e| EngineError::vulkan("allocating an output buffer", e))
    }

    /// Reads a buffer back to the host (through a staging buffer on a staged device).
    pub fn download<T: BufferContents + Copy>(&self, buf: &Subbuffer<[T]>) -> Result<Vec<T>, EngineError> {
        if !self.staged {
            let guard = buf.read().map_err(|e| EngineError::vulkan("reading a buffer back", e))?;
            return Ok(guard.to_vec());
        }
        let staging = Buffer::new_slice::<T>(
            self.memory.clone(),
            BufferCreateInfo { usage: BufferUsage::TRANSFER_DST, ..Default::default() },
            AllocationCreateInfo {
                memory_type_filter: MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_RANDOM_ACCESS,
                ..Default::default()
            },
            buf.len(),
        )
        .map_err(|e| EngineError::vulkan("allocating a staging buffer", e))?;
        let mut builder = self.recorder()?;
        builder
            .copy_buffer(CopyBufferInfo::buffers(buf.clone(), staging.clone()))
            .map_err(|e| EngineError::vulkan("recording a read-back", e))?;
        self.submit("download", builder)?;
        let guard = staging.read().map_err(|e| EngineError::vulkan("reading a buffer back", e))?;
        Ok(guard.to_vec())
    }

    /// A one-time command buffer on this device's compute queue: kernels' `record` methods add
    /// dispatches to it (vulkano inserts the barriers between them), [`Gpu::submit`] runs it.
    pub fn recorder(&self) -> Result<Recorder, EngineError> {
        AutoCommandBufferBuilder::primary(
            self.commands.clone(),
            self.queue.queue_family_index(),
            CommandBufferUsage::OneTimeSubmit,
        )
        .map_err(|e| EngineError::vulkan("allocating a command buffer", e))
    }

    /// Submits recorded work and waits for it, bounded by the dispatch timeout; `kernel` names the
    /// work in errors.
    /// Puts every later submission under `control` (or none): each waits while it is paused and
    /// fails with [`EngineError::Cancelled`] once it is cancelled, so a workload yields at its
    /// submission boundaries without knowing it. [`crate::control::Control::wait_idle`] then
    /// tells when the device is handed back.
    pub fn set_control(&self, control: Option<crate::control::Control>) {
        *self.control.write().unwrap_or_else(|p| p.into_inner()) = control;
    }

    /// Caps the device memory a job may use (the owner's share), below the open-time limit;
    /// `None` lifts the cap. [`Gpu::check_memory`] refuses bigger jobs up front.
    pub fn set_memory_cap(&self, bytes: Option<u64>) {
        self.memory_cap.store(bytes.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a [`crate::control::Control`] steers this device's submissions.
    pub fn is_steered(&self) -> bool {
        self.control.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub fn submit(&self, kernel: &'static str, builder: Recorder) -> Result<(), EngineError> {
        let control = self.control.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(control) = control else { return self.submit_now(kernel, builder) };
        control.checkpoint(self.submissions.load(std::sync::atomic::Ordering::Relaxed))?;
        let result = self.submit_now(kernel, builder);
        control.finished();
        self.submissions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Whether a submission overran its bound: the device then takes no more work in this
    /// process (the hung work is torn down with the process: the desktop agent runs every job in
    /// a worker process of its own, which exits after the job).
    pub fn is_hung(&self) -> bool {
        self.hung.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`EngineError::Hung`] if the device is hung ([`Gpu::is_hung`]).
    pub fn refuse_if_hung(&self) -> Result<(), EngineError> {
        if self.is_hung() {
            return Err(EngineError::Hung { device: self.info.name.clone(), timeout: self.options.dispatch_timeout });
        }
        Ok(())
    }

    fn submit_now(&self, kernel: &'static str, builder: Recorder) -> Result<(), EngineError> {
        self.refuse_if_hung()?;
        let commands = builder.build().map_err(|e| EngineError::vulkan("finishing a command buffer", e))?;
        let future = sync::now(self.device.clone())
            .then_execute(self.queue.clone(), commands)
            .map_err(|e| EngineError::vulkan("submitting work", e))?
            .then_signal_fence_and_flush()
            .map_err(|e| map_run_error(kernel, e, self.options.dispatch_timeout))?;
        // Not `future.wait(Some(timeout))`: in vulkano 0.35 a wait that times out drops the
        // command buffer's future while the work runs, which submits the one-time command buffer
        // again and panics (measured). Poll the fence instead, and on a timeout or a lost device
        // leak the future. A lost device is reopened (`recovery::DeviceSlot`); an overrun marks
        // this one hung: Vulkan cannot take back submitted work, and opening a second device on
        // the same GPU behind it would only queue more work behind a kernel that may never end.
        let timeout = self.options.dispatch_timeout;
        let started = std::time::Instant::now();
        let mut pause = Duration::from_micros(10);
        loop {
            match future.is_signaled() {
                Ok(true) => return Ok(()),
                Ok(false) if started.elapsed() < timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_micros(500));
                }
                Ok(false) => {
                    std::mem::forget(future);
                    self.hung.store(true, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(device = %self.info.name, kernel, ?timeout, "a dispatch overran its bound; the device takes no more work in this process");
                    return Err(EngineError::Timeout { kernel, timeout });
                }
                Err(e) => {
                    std::mem::forget(future);
                    return Err(map_run_error(kernel, Validated::Error(e), timeout));
                }
            }
        }
    }

    /// Builds a compute pipeline from the library's SPIR-V with specialization constants.
    pub(crate) fn pipeline(
        &self,
        spirv_bytes: &[u8],
        constants: &[(u32, SpecializationConstant)],
    ) -> Result<Arc<ComputePipeline>, EngineError> {
        // SAFETY: the kernel library is compiled from our own GLSL by glslc at build time.
        unsafe { self.pipeline_unchecked(&shaders::words(spirv_bytes), "main", constants) }
    }

    /// Builds a compute pipeline from SPIR-V that [`crate::external::compile`] produced.
    pub(crate) fn pipeline_from_words(
        &self,
        words: &[u32],
        entry_point: &str,
    ) -> Result<Arc<ComputePipeline>, EngineError> {
        // SAFETY: `words` was written by naga from a module that passed naga's validator and the
        // engine's interface and determinism rules, with bounds checks forced on every access.
        unsafe { self.pipeline_unchecked(words, entry_point, &[]) }
    }

    /// # Safety
    /// `words` must be valid SPIR-V whose memory accesses stay in bounds.
    unsafe fn pipeline_unchecked(
        &self,
        words: &[u32],
        entry_point: &str,
        constants: &[(u32, SpecializationConstant)],
    ) -> Result<Arc<ComputePipeline>, EngineError> {
        // SAFETY: upheld by the caller.
        let module = unsafe { ShaderModule::new(self.device.clone(), ShaderModuleCreateInfo::new(words)) }
            .map_err(|e| EngineError::vulkan("creating a shader module", e))?;
        let entry = module
            .specialize(constants.iter().copied().collect())
            .map_err(|e| EngineError::vulkan("specializing a shader", e))?
            .entry_point(entry_point)
            .ok_or_else(|| EngineError::vulkan("finding the shader entry point", format!("no `{entry_point}`")))?;
        let stage = PipelineShaderStageCreateInfo::new(entry);
        let layout = PipelineLayout::new(
            self.device.clone(),
            PipelineDescriptorSetLayoutCreateInfo::from_stages([&stage])
                .into_pipeline_layout_create_info(self.device.clone())
                .map_err(|e| EngineError::vulkan("deriving a pipeline layout", e.error))?,
        )
        .map_err(|e| EngineError::vulkan("creating a pipeline layout", e))?;
        ComputePipeline::new(
            self.device.clone(),
            Some(self.pipeline_cache.clone()),
            ComputePipelineCreateInfo::stage_layout(stage, layout),
        )
        .map_err(|e| EngineError::vulkan("creating a compute pipeline", e))
    }
}

fn cache_file_name(info: &DeviceInfo) -> String {
    format!("pipelines-{:04x}-{:04x}.bin", info.vendor_id, info.device_id)
}

fn map_run_error(kernel: &'static str, err: Validated<VulkanError>, timeout: Duration) -> EngineError {
    match err {
        Validated::Error(VulkanError::DeviceLost) => EngineError::DeviceLost { kernel },
        Validated::Error(VulkanError::Timeout) => EngineError::Timeout { kernel, timeout },
        other => EngineError::vulkan("running a kernel", other),
    }
}
