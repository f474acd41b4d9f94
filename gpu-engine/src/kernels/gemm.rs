//! Deterministic tiled GEMM (`shaders/gemm.comp`).

use std::sync::Arc;

use vulkano::{
    buffer::Subbuffer,
    command_buffer::{AutoCommandBufferBuilder, PrimaryAutoCommandBuffer},
    descriptor_set::{DescriptorSet, WriteDescriptorSet},
    pipeline::{ComputePipeline, Pipeline, PipelineBindPoint},
    shader::SpecializationConstant,
};

use super::{check_len, check_u32, groups};
use crate::{EngineError, Gpu, ReproClass, shaders};

const KERNEL: &str = "gemm";
const TILE: u64 = 64;

/// `C[M,N] = A[M,K] * B[K,N]` in a fixed reproducibility class.
#[derive(Debug)]
pub struct Gemm {
    pipeline: Arc<ComputePipeline>,
    class: ReproClass,
}

/// The shape of one GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl Gemm {
    pub fn new(gpu: &Gpu, class: ReproClass) -> Result<Self, EngineError> {
        if !gpu.supports(class) {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("{} does not reproduce the {} class", gpu.info().name, class.as_str()),
            });
        }
        let fused = class == ReproClass::Fused;
        let pipeline = gpu.pipeline(shaders::GEMM, &[(0, SpecializationConstant::Bool(fused))])?;
        Ok(Self { pipeline, class })
    }

    pub fn class(&self) -> ReproClass {
        self.class
    }

    /// Records the dispatch into `builder`.
    pub fn record(
        &self,
        gpu: &Gpu,
        builder: &mut AutoCommandBufferBuilder<PrimaryAutoCommandBuffer>,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        c: &Subbuffer<[f32]>,
        shape: GemmShape,
    ) -> Result<(), EngineError> {
        let (m, n, k) = (check_u32(KERNEL, "M", shape.m)?, check_u32(KERNEL, "N", shape.n)?, check_u32(KERNEL, "K", shape.k)?);
        check_len(KERNEL, "A", a.len(), u64::from(m) * u64::from(k))?;
        check_len(KERNEL, "B", b.len(), u64::from(k) * u64::from(n))?;
        check_len(KERNEL, "C", c.len(), u64::from(m) * u64::from(n))?;
        let layout = self.pipeline.layout();
        let set = DescriptorSet::new(
            gpu.descriptors.clone(),
            layout.set_layouts()[0].clone(),
            [
                WriteDescriptorSet::buffer(0, a.clone()),
                WriteDescriptorSet::buffer(1, b.clone()),
                WriteDescriptorSet::buffer(2, c.clone()),
            ],
            [],
        )
        .map_err(|e| EngineError::vulkan("binding GEMM buffers", e))?;
        builder
            .bind_pipeline_compute(self.pipeline.clone())
            .and_then(|b| b.bind_descriptor_sets(PipelineBindPoint::Compute, layout.clone(), 0, set))
            .and_then(|b| b.push_constants(layout.clone(), 0, [m, n, k]))
            .map_err(|e| EngineError::vulkan("recording GEMM", e))?;
        let counts = [groups(u64::from(n), TILE), groups(u64::from(m), TILE), 1];
        // SAFETY: the shader bounds-checks every load and store against M, N, K, and the buffer
        // lengths were checked against the shape above.
        unsafe { builder.dispatch(counts) }.map_err(|e| EngineError::vulkan("recording GEMM dispatch", e))?;
        Ok(())
    }

    /// Runs one GEMM and waits for it.
    pub fn run(
        &self,
        gpu: &Gpu,
        a: &Subbuffer<[f32]>,
        b: &Subbuffer<[f32]>,
        c: &Subbuffer<[f32]>,
        shape: GemmShape,
    ) -> Result<(), EngineError> {
        let mut builder = gpu.recorder()?;
        self.record(gpu, &mut builder, a, b, c, shape)?;
        gpu.submit(KERNEL, builder)
    }
}
