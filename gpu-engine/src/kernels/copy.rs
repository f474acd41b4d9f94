//! `dst = src` over vec4s (`shaders/copy.comp`): measures memory bandwidth.

use std::sync::Arc;

use vulkano::{buffer::Subbuffer, pipeline::ComputePipeline};

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
        if !src.len().is_multiple_of(4) {
            return Err(EngineError::Shape {
                kernel: KERNEL,
                message: format!("{} floats is not a multiple of 4", src.len()),
            });
        }
        let n = u32::try_from(src.len() / 4)
            .map_err(|_| EngineError::Shape { kernel: KERNEL, message: "too long".to_owned() })?;
        super::dispatch(gpu, KERNEL, &self.pipeline, &[src.as_bytes(), dst.as_bytes()], n, super::linear_groups(n, 256))
    }
}
