//! Gridmint's compute engine on Vulkan (vulkano 0.35).
//!
//! The engine finds devices ([`Vulkan::devices`]), opens one ([`Gpu::open`]), and runs the
//! verifiable kernel library on it: each kernel is one pipeline struct in [`kernels`], with its
//! GLSL in `gpu-engine/shaders/` and a bit-exact CPU twin in [`reference`].
//!
//! What makes results verifiable is in [`numeric`]: every float op is NoContraction, reduction
//! orders are fixed by the shapes, values live in a canonical domain where no op can produce a
//! denormal, and each device proves at start-up which multiply-add class it computes.
//!
//! The engine knows nothing of jobs, prices or wallets.

pub mod attention;
pub mod bench;
pub mod commitment;
pub mod context;
pub mod control;
pub mod detmath;
pub mod device;
pub mod error;
pub mod external;
pub mod kernels;
pub mod numeric;
pub mod recovery;
pub mod reference;
pub mod seeded;
mod shaders;
pub mod work;
pub mod workloads;

pub use context::{DeviceChoice, GemmLayoutChoice, Gpu, GpuOptions, Recorder};
pub use device::{DeviceInfo, DeviceType, Vulkan};
pub use error::EngineError;
pub use numeric::ReproClass;
pub use recovery::DeviceSlot;
