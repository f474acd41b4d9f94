//! Kernels brought from outside the library: WGSL or SPIR-V with declared buffers and dispatch
//! size. Nothing reaches the driver before naga has parsed and validated it and the rules below
//! hold; the SPIR-V the driver sees is the one naga writes, with bounds checks forced on every
//! access and, in the verifiable tier, NoContraction on every float add, subtract and multiply,
//! and the subnormals of every float add, subtract, multiply, fma and float made from bits
//! flushed to +0 on every device ([`flush_subnormals`]).
//!
//! Rules: one compute entry point of the declared name; only storage buffers, in group 0, at
//! exactly the declared bindings (at most [`MAX_BINDINGS`], each at most [`MAX_BUFFER_BYTES`]);
//! no capabilities beyond core (so no float atomics, no subgroup operations, no float64);
//! workgroups of at most 1024 invocations and at most [`MAX_WORKGROUPS`] of them; a storage type
//! no larger than its buffer. In the verifiable tier also: no built-in transcendental or other
//! driver-defined function (exp, tanh, inverseSqrt, dot, …), no min, max, clamp or sign of floats
//! (a NaN's is the driver's), no float division or remainder, no reading a float's bits or
//! converting it to an integer, no atomics, no matrix products, no shift by a runtime amount, no
//! barrier in a loop, no subnormal constant, and `fma` only in the fused class. In both tiers, one
//! variable a binding. What it cannot
//! see and a verifiable kernel must not do: race (two invocations writing one element, or one
//! reading what another writes).
//!
//! Running time: every loop runs under the declared `loop_budget` (iterations per invocation,
//! shared by all its loops; see [`budget`]), and invocations × budget is at most
//! [`MAX_DISPATCH_LOOP_ITERATIONS`], so no kernel runs forever; the dispatch timeout bounds the
//! wall clock besides, and a device that overruns it takes no more work ([`crate::Gpu::is_hung`]).

mod budget;
mod flush;

pub use flush::flush_subnormals;

use std::sync::Arc;

use naga::{
    AddressSpace, BinaryOperator, Expression, MathFunction, ScalarKind, ShaderStage,
    valid::{Capabilities, ModuleInfo, ValidationFlags, Validator},
};
use vulkano::{buffer::Subbuffer, pipeline::ComputePipeline};

use crate::{EngineError, Gpu, ReproClass};

pub const MAX_BINDINGS: usize = 8;
pub const MAX_BUFFER_BYTES: u64 = 1 << 30;
pub const MAX_WORKGROUPS: u64 = 1 << 24;
/// The most a kernel's source (WGSL text or SPIR-V) may hold.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// The most loop iterations a dispatch may declare: invocations × `loop_budget`.
pub const MAX_DISPATCH_LOOP_ITERATIONS: u64 = 1 << 40;

/// The kernel's code.
#[derive(Debug, Clone)]
pub enum KernelSource {
    Wgsl(String),
    Spirv(Vec<u8>),
}

/// Whether results must reproduce bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Verifiable(ReproClass),
    /// Anything valid; results are not compared across devices.
    Open,
}

/// One storage buffer of 32-bit values (f32, u32 or i32, as the kernel declares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSpec {
    pub binding: u32,
    pub len: u64,
}

/// What the kernel declares about itself.
#[derive(Debug, Clone)]
pub struct KernelSpec {
    pub entry_point: String,
    pub buffers: Vec<BufferSpec>,
    pub workgroups: [u32; 3],
    pub tier: Tier,
    /// Loop iterations each invocation may run, all its loops together (at least 1); a loop
    /// that would pass it breaks. The same on every device, so results still compare.
    pub loop_budget: u32,
}

fn rejected(reason: impl Into<String>) -> EngineError {
    EngineError::KernelRejected { reason: reason.into() }
}

/// A kernel as the engine runs it: its SPIR-V words, and the most work one dispatch can do
/// (every invocation running the entry point's statements and expressions, calls written out and
/// composites counted by their scalars, once, and with loops once more per iteration its loop
/// budget allows): the work a buyer pays for, known before it runs.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub words: Vec<u32>,
    pub work_bound: u64,
    /// Each declared binding's element type as the kernel declares its buffer (`None`: not an
    /// array of one 32-bit scalar type, such as a struct).
    pub elements: Vec<(u32, Option<Element>)>,
}

/// A buffer's element type as a kernel reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    F32,
    U32,
    I32,
}

/// The element type of a storage variable's type: an array (or a value) of one 32-bit scalar
/// type, or vectors of it.
fn element(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Option<Element> {
    use naga::TypeInner;
    let scalar = match &module.types[ty].inner {
        TypeInner::Array { base, .. } => return element(module, *base),
        TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } => *s,
        _ => return None,
    };
    match (scalar.kind, scalar.width) {
        (ScalarKind::Float, 4) => Some(Element::F32),
        (ScalarKind::Uint, 4) => Some(Element::U32),
        (ScalarKind::Sint, 4) => Some(Element::I32),
        _ => None,
    }
}

/// Parses, validates and rewrites a kernel to the SPIR-V words the engine will run.
pub fn compile(source: &KernelSource, spec: &KernelSpec) -> Result<Vec<u32>, EngineError> {
    Ok(compile_bounded(source, spec)?.words)
}

/// [`compile`], with the dispatch's work bound.
pub fn compile_bounded(source: &KernelSource, spec: &KernelSpec) -> Result<Compiled, EngineError> {
    let size = match source {
        KernelSource::Wgsl(text) => text.len(),
        KernelSource::Spirv(bytes) => bytes.len(),
    };
    if size > MAX_SOURCE_BYTES {
        return Err(rejected(format!("its source holds {size} bytes; at most {MAX_SOURCE_BYTES}")));
    }
    let module = match source {
        KernelSource::Wgsl(text) => {
            naga::front::wgsl::parse_str(text).map_err(|e| rejected(format!("WGSL: {}", e.emit_to_string(text))))?
        }
        KernelSource::Spirv(bytes) => naga::front::spv::parse_u8_slice(bytes, &naga::front::spv::Options::default())
            .map_err(|e| rejected(format!("SPIR-V: {e}")))?,
    };
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module).map_err(|e| {
        let text = match source {
            KernelSource::Wgsl(t) => e.emit_to_string(t),
            KernelSource::Spirv(_) => e.as_inner().to_string(),
        };
        rejected(format!("validation: {text}"))
    })?;
    let (invocations, elements) = check_interface(&module, spec)?;
    if let Tier::Verifiable(class) = spec.tier {
        check_determinism(&module, &info, class)?;
    }
    let statements = budget::check_shape(&module, matches!(spec.tier, Tier::Verifiable(_)), &spec.entry_point)?;
    let mut module = module;
    let loops = budget::bound_loops(&mut module, spec.loop_budget);
    // A kernel without loops runs its statements once; with loops, at most once more per
    // iteration its budget allows.
    let passes = if loops == 0 { 1 } else { u64::from(spec.loop_budget).saturating_add(1) };
    let work_bound = invocations.saturating_mul(statements.max(1)).saturating_mul(passes);
    // Validated again as rewritten (uniformity was checked on the kernel as written: a budget
    // spent unevenly within a workgroup is what the dispatch timeout is there for).
    let info = Validator::new(ValidationFlags::all() - ValidationFlags::CONTROL_FLOW_UNIFORMITY, Capabilities::empty())
        .validate(&module)
        .map_err(|e| rejected(format!("bounding its {loops} loops: {}", e.as_inner())))?;
    let mut options = naga::back::spv::Options::default();
    options.bounds_check_policies.index = naga::proc::BoundsCheckPolicy::Restrict;
    options.bounds_check_policies.buffer = naga::proc::BoundsCheckPolicy::Restrict;
    let pipeline =
        naga::back::spv::PipelineOptions { shader_stage: ShaderStage::Compute, entry_point: spec.entry_point.clone() };
    let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline))
        .map_err(|e| rejected(format!("writing SPIR-V: {e}")))?;
    let words = match spec.tier {
        // Subnormals flushed first: NoContraction then marks the float operations themselves.
        Tier::Verifiable(_) => no_contraction(flush_subnormals(words)?),
        Tier::Open => words,
    };
    Ok(Compiled { words, work_bound, elements })
}

/// Checks the kernel's interface against its spec; returns the dispatch's invocations and each
/// binding's element type.
#[allow(clippy::type_complexity)]
fn check_interface(
    module: &naga::Module,
    spec: &KernelSpec,
) -> Result<(u64, Vec<(u32, Option<Element>)>), EngineError> {
    let entry = module
        .entry_points
        .iter()
        .find(|e| e.name == spec.entry_point)
        .ok_or_else(|| rejected(format!("no entry point named {:?}", spec.entry_point)))?;
    if entry.stage != ShaderStage::Compute {
        return Err(rejected(format!("entry point {:?} is not a compute shader", spec.entry_point)));
    }
    let invocations: u64 = entry.workgroup_size.iter().map(|&s| u64::from(s)).product();
    if invocations == 0 || invocations > 1024 {
        return Err(rejected(format!(
            "workgroup size {:?} has {invocations} invocations; 1 to 1024 allowed",
            entry.workgroup_size
        )));
    }
    if spec.buffers.is_empty() || spec.buffers.len() > MAX_BINDINGS {
        return Err(rejected(format!("{} buffers declared; 1 to {MAX_BINDINGS} allowed", spec.buffers.len())));
    }
    for b in &spec.buffers {
        // Checked: a length near u64::MAX would wrap `len * 4` to a small number in a release build.
        if b.len == 0 || b.len.checked_mul(4).is_none_or(|bytes| bytes > MAX_BUFFER_BYTES) {
            return Err(rejected(format!(
                "buffer {} has {} values; 1 to {} allowed",
                b.binding,
                b.len,
                MAX_BUFFER_BYTES / 4
            )));
        }
    }
    let groups: u64 = spec.workgroups.iter().map(|&g| u64::from(g)).product();
    if spec.workgroups.iter().any(|&g| g == 0 || g > 65_535) || groups > MAX_WORKGROUPS {
        return Err(rejected(format!(
            "dispatch {:?}: each count 1 to 65535, at most {MAX_WORKGROUPS} workgroups",
            spec.workgroups
        )));
    }
    let total = groups * invocations;
    if spec.loop_budget == 0 || total.saturating_mul(u64::from(spec.loop_budget)) > MAX_DISPATCH_LOOP_ITERATIONS {
        return Err(rejected(format!(
            "a loop budget of {} per invocation over {total} invocations; 1 to {} allowed (at most \
             {MAX_DISPATCH_LOOP_ITERATIONS} iterations a dispatch)",
            spec.loop_budget,
            (MAX_DISPATCH_LOOP_ITERATIONS / total).min(u64::from(u32::MAX))
        )));
    }
    let (mut bound, mut elements) = (Vec::new(), Vec::new());
    for (_, var) in module.global_variables.iter() {
        let name = var.name.as_deref().unwrap_or("(unnamed)");
        match var.space {
            AddressSpace::Storage { .. } => {
                let rb =
                    var.binding.as_ref().ok_or_else(|| rejected(format!("storage buffer {name} has no binding")))?;
                let Some(declared) = spec.buffers.iter().find(|b| b.binding == rb.binding).filter(|_| rb.group == 0)
                else {
                    return Err(rejected(format!(
                        "{name} is at @group({}) @binding({}), which was not declared",
                        rb.group, rb.binding
                    )));
                };
                // One variable a binding (used or not: naga checks only the entry point's). Two at
                // one binding would let a kernel declare its buffer as u32 and read it as f32, so
                // that the runner, which canonicalizes a buffer by its declared type, leaves its
                // subnormals and NaN payloads for the kernel to read.
                if bound.contains(&rb.binding) {
                    return Err(rejected(format!(
                        "{name} is a second variable at @group(0) @binding({}); one a binding",
                        rb.binding
                    )));
                }
                // A type larger than its buffer would index past the buffer's end, where what a
                // read returns and where a write lands is the driver's choice.
                let fixed = fixed_bytes(module, var.ty);
                if fixed > declared.len.saturating_mul(4) {
                    return Err(rejected(format!(
                        "{name}'s type holds {fixed} bytes; its buffer (binding {}) holds {}",
                        rb.binding,
                        declared.len.saturating_mul(4)
                    )));
                }
                bound.push(rb.binding);
                elements.push((rb.binding, element(module, var.ty)));
            }
            AddressSpace::Private | AddressSpace::WorkGroup => {}
            other => {
                return Err(rejected(format!(
                    "{name} is in the {other:?} address space; only storage buffers are allowed"
                )));
            }
        }
    }
    for b in &spec.buffers {
        if !bound.contains(&b.binding) {
            return Err(rejected(format!("binding {} was declared but the kernel does not use it", b.binding)));
        }
    }
    Ok((total, elements))
}

/// The bytes a storage variable's type needs before any runtime-sized array it ends with.
fn fixed_bytes(module: &naga::Module, ty: naga::Handle<naga::Type>) -> u64 {
    use naga::{ArraySize, TypeInner};
    match &module.types[ty].inner {
        TypeInner::Array { size: ArraySize::Dynamic, .. } => 0,
        TypeInner::Array { size: ArraySize::Constant(n), stride, .. } => u64::from(n.get()) * u64::from(*stride),
        TypeInner::Struct { members, span } => match members.last() {
            Some(last)
                if fixed_bytes(module, last.ty) == 0
                    && matches!(module.types[last.ty].inner, TypeInner::Array { .. }) =>
            {
                u64::from(last.offset)
            }
            _ => u64::from(*span),
        },
        inner => u64::from(inner.size(module.to_ctx())),
    }
}

fn check_determinism(module: &naga::Module, info: &ModuleInfo, class: ReproClass) -> Result<(), EngineError> {
    // min, max, clamp and sign of a NaN are the driver's choice (GLSL's FMin, FMax, FClamp and
    // FSign): allowed on integers only.
    let allowed = |f: MathFunction, float: bool| match f {
        MathFunction::Abs | MathFunction::Floor | MathFunction::Ceil | MathFunction::Trunc => true,
        MathFunction::Min | MathFunction::Max | MathFunction::Clamp | MathFunction::Sign => !float,
        MathFunction::Fma => class == ReproClass::Fused,
        _ => false,
    };
    fn is_constant(function: &naga::Function, e: naga::Handle<Expression>) -> bool {
        match &function.expressions[e] {
            Expression::Literal(_) | Expression::Constant(_) | Expression::ZeroValue(_) => true,
            // A vector of constants (`v << 2u` shifts each lane by a splat of 2).
            Expression::Splat { value, .. } => is_constant(function, *value),
            Expression::Compose { components, .. } => components.iter().all(|c| is_constant(function, *c)),
            _ => false,
        }
    }
    let subnormal = |v: f32| {
        rejected(format!(
            "it has the subnormal constant {v:e}, which some devices read as zero; use 0 or a normal number \
             (at least 1.1754944e-38)"
        ))
    };
    for (_, expr) in module.global_expressions.iter() {
        if let Expression::Literal(naga::Literal::F32(v)) = expr
            && v.is_subnormal()
        {
            return Err(subnormal(*v));
        }
    }
    let functions = module.functions.iter().map(|(h, f)| (f, &info[h]));
    let entries = module.entry_points.iter().enumerate().map(|(i, e)| (&e.function, info.get_entry_point(i)));
    for (function, finfo) in functions.chain(entries) {
        let fname = function.name.as_deref().unwrap_or("entry point");
        let kind = |e: naga::Handle<Expression>| finfo[e].ty.inner_with(&module.types).scalar_kind();
        for (handle, expr) in function.expressions.iter() {
            match expr {
                Expression::Math { fun, arg, .. } if !allowed(*fun, kind(*arg) == Some(ScalarKind::Float)) => {
                    return Err(rejected(format!(
                        "{fname} uses {fun:?}, which drivers compute differently; the verifiable tier allows \
                         abs, floor, ceil, trunc (min, max, clamp, sign on integers; fma in the fused class)"
                    )));
                }
                // A float's bits (a NaN's payload is the driver's) or a float out of an integer's
                // range converted: the driver's choice.
                Expression::As { expr, kind: to, convert }
                    if kind(*expr) == Some(ScalarKind::Float)
                        && (convert.is_none() || matches!(to, ScalarKind::Sint | ScalarKind::Uint)) =>
                {
                    return Err(rejected(format!(
                        "{fname} converts a float to an integer or reads its bits, which drivers answer \
                         differently for NaN and out-of-range values"
                    )));
                }
                // Devices that flush read a subnormal constant as zero; the others do not.
                Expression::Literal(naga::Literal::F32(v)) if v.is_subnormal() => return Err(subnormal(*v)),
                Expression::AtomicResult { .. } => {
                    return Err(rejected(format!(
                        "{fname} uses an atomic, whose results depend on the order invocations run in"
                    )));
                }
                Expression::Binary { op: BinaryOperator::Multiply, left, right }
                    if [left, right]
                        .iter()
                        .any(|e| matches!(finfo[**e].ty.inner_with(&module.types), naga::TypeInner::Matrix { .. })) =>
                {
                    return Err(rejected(format!(
                        "{fname} multiplies by a matrix, whose sums drivers order differently; write the sums out"
                    )));
                }
                Expression::Binary {
                    op: op @ (BinaryOperator::ShiftLeft | BinaryOperator::ShiftRight), right, ..
                } if !is_constant(function, *right) => {
                    return Err(rejected(format!(
                        "{fname} shifts by an amount known only when it runs ({op:?}): drivers differ past 31; \
                         shift by a constant"
                    )));
                }
                Expression::Binary { op: op @ (BinaryOperator::Divide | BinaryOperator::Modulo), .. } => {
                    let kind = finfo[handle].ty.inner_with(&module.types).scalar_kind();
                    if kind == Some(ScalarKind::Float) {
                        return Err(rejected(format!(
                            "{fname} uses float {op:?}, which drivers round differently; multiply by a reciprocal \
                             computed with + - * instead"
                        )));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Decorates the result of every float add, subtract, multiply (scalar, vector, matrix) and
/// negate with NoContraction, so that no driver fuses them.
pub fn no_contraction(words: Vec<u32>) -> Vec<u32> {
    const FLOAT_ARITH: &[u32] = &[127, 129, 131, 133, 142, 143, 144, 145, 146, 147];
    const OP_DECORATE: u32 = 71;
    const NO_CONTRACTION: u32 = 42;
    let is_type_or_later = |op: u32| (19..=39).contains(&op) || (41..=52).contains(&op) || op == 54 || op == 59;
    let mut ids = Vec::new();
    let mut insert_at = None;
    let mut i = 5;
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        let op = words[i] & 0xffff;
        if count == 0 {
            break;
        }
        if insert_at.is_none() && is_type_or_later(op) {
            insert_at = Some(i);
        }
        if FLOAT_ARITH.contains(&op) && count >= 4 {
            ids.push(words[i + 2]);
        }
        i += count;
    }
    let Some(at) = insert_at else { return words };
    let mut out = Vec::with_capacity(words.len() + 3 * ids.len());
    out.extend_from_slice(&words[..at]);
    for id in ids {
        out.extend_from_slice(&[(3 << 16) | OP_DECORATE, id, NO_CONTRACTION]);
    }
    out.extend_from_slice(&words[at..]);
    out
}

/// A validated external kernel, ready to dispatch on one device.
#[derive(Debug)]
pub struct ExternalKernel {
    pipeline: Arc<ComputePipeline>,
    spec: KernelSpec,
    work_bound: u64,
}

impl ExternalKernel {
    pub fn new(gpu: &Gpu, source: &KernelSource, spec: KernelSpec) -> Result<Self, EngineError> {
        if let Tier::Verifiable(class) = spec.tier
            && !gpu.supports(class)
        {
            return Err(rejected(format!("{} does not reproduce the {} class", gpu.info().name, class.as_str())));
        }
        let bytes = spec.buffers.iter().fold(0u64, |sum, b| sum.saturating_add(b.len.saturating_mul(4)));
        gpu.check_memory("the kernel's buffers", bytes)?;
        let compiled = compile_bounded(source, &spec)?;
        let pipeline = gpu.pipeline_from_words(&compiled.words, &spec.entry_point)?;
        Ok(Self { pipeline, spec, work_bound: compiled.work_bound })
    }

    /// The most statements one dispatch runs ([`Compiled::work_bound`]).
    pub fn work_bound(&self) -> u64 {
        self.work_bound
    }

    /// Dispatches once over `buffers`, given in the order of the declared bindings.
    pub fn run(&self, gpu: &Gpu, buffers: &[Subbuffer<[f32]>]) -> Result<(), EngineError> {
        if buffers.len() != self.spec.buffers.len() {
            return Err(rejected(format!("{} buffers given, {} declared", buffers.len(), self.spec.buffers.len())));
        }
        for (b, declared) in buffers.iter().zip(&self.spec.buffers) {
            if b.len() != declared.len {
                return Err(rejected(format!(
                    "buffer {} has {} values, {} declared",
                    declared.binding,
                    b.len(),
                    declared.len
                )));
            }
        }
        let bindings: Vec<_> =
            self.spec.buffers.iter().map(|b| b.binding).zip(buffers.iter().map(|b| b.as_bytes().clone())).collect();
        super::kernels::dispatch_bound(gpu, "external kernel", &self.pipeline, &bindings, self.spec.workgroups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Vulkan device, or `None` (a skip) unless GRIDMINT_REQUIRE_VULKAN=1.
    fn device() -> Option<Gpu> {
        let opened = crate::Vulkan::load()
            .and_then(|vk| Gpu::open(&vk, crate::DeviceChoice::Best, crate::GpuOptions::default()));
        match opened {
            Ok(gpu) => Some(gpu),
            Err(e) if std::env::var("GRIDMINT_REQUIRE_VULKAN").as_deref() != Ok("1") => {
                eprintln!("SKIPPED: no Vulkan device ({e})");
                None
            }
            Err(e) => panic!("GRIDMINT_REQUIRE_VULKAN=1 but: {e}"),
        }
    }

    /// The kernel `source` (bindings 0 and 1, `n` values each, one workgroup of 64 per 64 values)
    /// compiled as the verifiable tier with the flush pass or without it, run once on `x` and
    /// `y`: the time of the dispatch (the second of two) and `y` after it.
    fn run_once(gpu: &Gpu, source: &str, x: &[f32], y: &[f32], flush: bool) -> (std::time::Duration, Vec<f32>) {
        let n = x.len() as u64;
        let spec = KernelSpec {
            entry_point: "main".into(),
            buffers: vec![BufferSpec { binding: 0, len: n }, BufferSpec { binding: 1, len: n }],
            workgroups: [n.div_ceil(64) as u32, 1, 1],
            tier: Tier::Open,
            loop_budget: 1 << 12,
        };
        let written = compile_bounded(&KernelSource::Wgsl(source.into()), &spec).expect("compiles").words;
        let words = no_contraction(if flush { flush_subnormals(written).expect("flushed") } else { written });
        let pipeline = gpu.pipeline_from_words(&words, "main").expect("pipeline");
        let mut took = std::time::Duration::ZERO;
        let mut out = Vec::new();
        for _ in 0..2 {
            let (bx, by) = (gpu.upload(x).expect("x"), gpu.upload(y).expect("y"));
            let bindings = [(0, bx.as_bytes().clone()), (1, by.as_bytes().clone())];
            let started = std::time::Instant::now();
            crate::kernels::dispatch_bound(gpu, "test kernel", &pipeline, &bindings, spec.workgroups).expect("runs");
            took = started.elapsed();
            out = gpu.download(&by).expect("read");
        }
        (took, out)
    }

    /// The flush's cost on an arithmetic-bound kernel (2,048 multiply-adds per value over 65,536
    /// values): `cargo test --release -p gpu-engine --lib -- --ignored flush_cost --nocapture`.
    #[test]
    #[ignore = "a measurement: run it by name"]
    fn flush_cost() {
        const MADS: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    var acc = y[i];
    let a = x[i];
    for (var k = 0u; k < 2048u; k = k + 1u) {
        acc = acc * a + 0.25;
    }
    y[i] = acc;
}
"#;
        let Some(gpu) = device() else { return };
        let n = 1usize << 16;
        let x: Vec<f32> = (0..n).map(|i| 0.5 + (i % 97) as f32 / 200.0).collect();
        let y = vec![1.0f32; n];
        let (plain, a) = run_once(&gpu, MADS, &x, &y, false);
        let (flushed, b) = run_once(&gpu, MADS, &x, &y, true);
        assert_eq!(a, b, "no subnormal here: the same values");
        let ops = 2.0 * 2048.0 * n as f64;
        println!(
            "{}: without the flush {:.1} ms ({:.2} GFLOP/s), with it {:.1} ms ({:.2} GFLOP/s): {:.2}x the time",
            gpu.info().name,
            plain.as_secs_f64() * 1e3,
            ops / plain.as_secs_f64() / 1e9,
            flushed.as_secs_f64() * 1e3,
            ops / flushed.as_secs_f64() / 1e9,
            flushed.as_secs_f64() / plain.as_secs_f64()
        );
    }

    /// What `flush_subnormals` is for, on this machine's device: the kernel of the engine test
    /// `a_subnormal_made_mid_dispatch_is_flushed_to_zero_on_every_device` compiled as
    /// the verifiable tier but without the pass keeps (on llvmpipe) the subnormal its chain of
    /// products makes, and gives 2^-148 × 2^120 = 2^-28 where a flushing device gives 0; with the
    /// pass, 0 here too. Skips without a Vulkan device (GRIDMINT_REQUIRE_VULKAN=1 fails instead).
    #[test]
    fn without_the_pass_llvmpipe_keeps_a_subnormal_that_a_flushing_device_would_not() {
        const CHAIN: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < arrayLength(&x)) {
        let a = x[i];
        y[i] = a * a * a * a * y[i];
    }
}
"#;
        let Some(gpu) = device() else { return };
        let n = 64usize;
        let (x, y) = (vec![2f32.powi(-37); n], vec![2f32.powi(120); n]);
        let unflushed = run_once(&gpu, CHAIN, &x, &y, false).1[0];
        let flushed = run_once(&gpu, CHAIN, &x, &y, true).1[0];
        eprintln!("{}: {unflushed:e} without the pass, {flushed:e} with it", gpu.info().name);
        assert_eq!(flushed.to_bits(), 0, "flushed to +0");
        // The smallest subnormal from an integer's bits (known only when it runs), times 2^100.
        let bits = CHAIN.replace("a * a * a * a * y[i]", "bitcast<f32>(i / 1000000u + 1u) * 1.2676506e30");
        let from_bits = (run_once(&gpu, &bits, &x, &y, false).1[0], run_once(&gpu, &bits, &x, &y, true).1[0]);
        eprintln!("{}: {:e} without the pass, {:e} with it", gpu.info().name, from_bits.0, from_bits.1);
        assert_eq!(from_bits.1.to_bits(), 0, "flushed to +0");
        if gpu.info().name.contains("llvmpipe") {
            assert_eq!(unflushed, 2f32.powi(-28), "llvmpipe keeps the subnormal 2^-148");
            assert_eq!(from_bits.0, 2f32.powi(-49), "and 2^-149 made from bits");
        }
    }
}
