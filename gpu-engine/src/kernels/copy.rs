//! `dst = src` over vec4s (`shaders/copy.comp`): measures memory bandwidth.

use std::sync::Arc;

use vulkano::{
    buffer::Subbuffer,
    descriptor_set::{DescriptorSet, WriteDescriptorSet},
    pipeline::{ComputePipeline, Pipeline, PipelineBindPoint},
};

use super::check_len;
use crate::{EngineError, Gpu, shaders};

const KERNEL: &str = "copy";

#[derive(Debug)]
pub struct Copy {
    pipeline: Arc<ComputePipeline>,
}

impl Copy {
    pub fn new(gpu: &Gpu) -> Result<Self, EngineError> {
        Ok(Self { pipeline: gpu.pipeline(shaders::COPY, &[])? })
    }

    /// Copies `src` into `dst` (equal lengths, a multiple of 4 floats).
    pub fn run(&self, gpu: &Gpu, src: &Subbuffer<[f32]>, dst: &Subbuffer<[f32]>) -> Result<(), EngineError> {
        check_len(KERNEL, "dst", dst.len(), src.len())?;
        if src.len() % 4 != 0 {
            return Err(EngineError::Shape { kernel: KERNEL, message: format!("{} floats is not a multiple of 4", src.len()) });
        }
        let n = u32::try_from(src.len() / 4)
            .map_err(|_| EngineError::Shape { kernel: KERNEL, message: "too long".to_owned() })?;
        let layout = self.pipeline.layout();
        let set = DescriptorSet::new(
            gpu.descriptors.clone(),
            layout.set_layouts()[0].clone(),
            [WriteDescriptorSet::buffer(0, src.clone()), WriteDescriptorSet::buffer(1, dst.clone())],
            [],
        )
        .map_err(|e| EngineError::vulkan("binding copy buffers", e))?;
        let mut builder = gpu.recorder()?;
        builder
            .bind_pipeline_compute(self.pipeline.clone())
            .and_then(|b| b.bind_descriptor_sets(PipelineBindPoint::Compute, layout.clone(), 0, set))
            .and_then(|b| b.push_constants(layout.clone(), 0, n))
            .map_err(|e| EngineError::vulkan("recording copy", e))?;
        let groups = n.div_ceil(256);
        let (x, y) = if groups <= 65_535 { (groups, 1) } else { (65_535, groups.div_ceil(65_535)) };
        // SAFETY: the shader bounds-checks its index against n, the vec4 length of both buffers.
        unsafe { builder.dispatch([x, y, 1]) }.map_err(|e| EngineError::vulkan("recording copy dispatch", e))?;
        gpu.submit(KERNEL, builder)
    }
}
