//! The deterministic kernel library: one struct per compute pipeline.
//!
//! Each pipeline is built once per device and reused; `run` records one dispatch, submits it and
//! waits within the dispatch timeout; `record` adds it to a caller's command buffer instead, so a
//! whole model step is one submission.

pub mod backward;
pub mod copy;
pub mod elementwise;
pub mod fma_probe;
pub mod gemm;
pub mod rows;
pub mod train;

pub use copy::Copy;
pub use gemm::Gemm;

use std::sync::Arc;

use vulkano::{
    buffer::{
        BufferContents, Subbuffer,
        view::{BufferView, BufferViewCreateInfo},
    },
    descriptor_set::{DescriptorSet, WriteDescriptorSet},
    format::Format,
    pipeline::{ComputePipeline, Pipeline, PipelineBindPoint},
};

use crate::{EngineError, Gpu, Recorder};

/// Workgroup counts for `len` items in groups of `group`.
pub(crate) fn groups(len: u64, group: u64) -> u32 {
    len.div_ceil(group) as u32
}

pub(crate) fn check_len(kernel: &'static str, what: &str, got: u64, want: u64) -> Result<(), EngineError> {
    if got != want {
        return Err(EngineError::Shape { kernel, message: format!("{what} has {got} elements, expected {want}") });
    }
    Ok(())
}

pub(crate) fn check_u32(kernel: &'static str, what: &str, v: usize) -> Result<u32, EngineError> {
    if v == 0 {
        return Err(EngineError::Shape { kernel, message: format!("{what} must be at least 1") });
    }
    u32::try_from(v)
        .map_err(|_| EngineError::Shape { kernel, message: format!("{what} = {v} does not fit in 32 bits") })
}

/// Records one dispatch of `pipeline` into `builder`: each buffer at its binding, then the push
/// constants (if any), then `groups`.
///
/// # Safety
/// The kernel must keep every buffer access in bounds for these buffers, push constants and
/// group counts.
pub(crate) unsafe fn record<Pc: BufferContents>(
    gpu: &Gpu,
    builder: &mut Recorder,
    pipeline: &Arc<ComputePipeline>,
    buffers: impl IntoIterator<Item = (u32, Subbuffer<[u8]>)>,
    push: Option<Pc>,
    groups: [u32; 3],
) -> Result<(), EngineError> {
    let writes = buffers.into_iter().map(|(binding, b)| WriteDescriptorSet::buffer(binding, b));
    // SAFETY: upheld by the caller.
    unsafe { record_writes(gpu, builder, pipeline, writes, push, groups) }
}

/// Like [`record`], with any descriptor writes (texel buffer views as well as buffers).
///
/// # Safety
/// As for [`record`].
pub(crate) unsafe fn record_writes<Pc: BufferContents>(
    gpu: &Gpu,
    builder: &mut Recorder,
    pipeline: &Arc<ComputePipeline>,
    writes: impl IntoIterator<Item = WriteDescriptorSet>,
    push: Option<Pc>,
    groups: [u32; 3],
) -> Result<(), EngineError> {
    let layout = pipeline.layout();
    let set = DescriptorSet::new(gpu.descriptors.clone(), layout.set_layouts()[0].clone(), writes, [])
        .map_err(|e| EngineError::vulkan("binding kernel buffers", e))?;
    builder
        .bind_pipeline_compute(pipeline.clone())
        .and_then(|b| b.bind_descriptor_sets(PipelineBindPoint::Compute, layout.clone(), 0, set))
        .map_err(|e| EngineError::vulkan("recording a kernel", e))?;
    if let Some(push) = push {
        builder.push_constants(layout.clone(), 0, push).map_err(|e| EngineError::vulkan("recording a kernel", e))?;
    }
    // SAFETY: upheld by the caller.
    unsafe { builder.dispatch(groups) }.map_err(|e| EngineError::vulkan("recording a dispatch", e))?;
    Ok(())
}

/// A view of `buf` as RGBA 32-bit float texels (four floats each), for kernels that fetch 16 bytes
/// at a time; [`Gpu::texels_fit`] says whether `buf` can be viewed so.
pub(crate) fn texel_view(buf: &Subbuffer<[f32]>) -> Result<Arc<BufferView>, EngineError> {
    BufferView::new(
        buf.as_bytes().clone(),
        BufferViewCreateInfo { format: Format::R32G32B32A32_SFLOAT, ..Default::default() },
    )
    .map_err(|e| EngineError::vulkan("viewing a buffer as texels", e))
}

/// Records one dispatch of a library kernel: `buffers` at bindings 0.., then `push`, then `groups`.
pub(crate) fn record_library<Pc: BufferContents>(
    gpu: &Gpu,
    builder: &mut Recorder,
    pipeline: &Arc<ComputePipeline>,
    buffers: &[&Subbuffer<[u8]>],
    push: Pc,
    groups: [u32; 3],
) -> Result<(), EngineError> {
    let bound = buffers.iter().enumerate().map(|(i, b)| (i as u32, (*b).clone()));
    // SAFETY: every library kernel bounds-checks its indices against the pushed shape, and its
    // caller checks the buffer lengths against that shape.
    unsafe { record(gpu, builder, pipeline, bound, Some(push), groups) }
}

/// Binds `buffers` to bindings 0.., pushes `push`, dispatches `groups` and waits.
pub(crate) fn dispatch<Pc: BufferContents>(
    gpu: &Gpu,
    kernel: &'static str,
    pipeline: &Arc<ComputePipeline>,
    buffers: &[&Subbuffer<[u8]>],
    push: Pc,
    groups: [u32; 3],
) -> Result<(), EngineError> {
    let mut builder = gpu.recorder()?;
    record_library(gpu, &mut builder, pipeline, buffers, push, groups)?;
    gpu.submit(kernel, builder)
}

/// Runs `record` in a command buffer of its own and waits for it.
pub(crate) fn run_alone(
    gpu: &Gpu,
    kernel: &'static str,
    record: impl FnOnce(&mut Recorder) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut builder = gpu.recorder()?;
    record(&mut builder)?;
    gpu.submit(kernel, builder)
}

/// Workgroup counts for `n` invocations in groups of `per_group`, spilling into y past the
/// 65,535 groups that every device allows in x.
pub(crate) fn linear_groups(n: u32, per_group: u32) -> [u32; 3] {
    let groups = n.div_ceil(per_group);
    if groups <= 65_535 { [groups, 1, 1] } else { [65_535, groups.div_ceil(65_535), 1] }
}

/// Binds buffers at explicit bindings (no push constants), dispatches and waits.
pub(crate) fn dispatch_bound(
    gpu: &Gpu,
    kernel: &'static str,
    pipeline: &Arc<ComputePipeline>,
    buffers: &[(u32, Subbuffer<[u8]>)],
    groups: [u32; 3],
) -> Result<(), EngineError> {
    let mut builder = gpu.recorder()?;
    // SAFETY: external kernels are written by naga with bounds checks on every buffer access,
    // and their buffers were checked against the declared lengths.
    unsafe { record(gpu, &mut builder, pipeline, buffers.iter().cloned(), None::<u32>, groups) }?;
    gpu.submit(kernel, builder)
}
