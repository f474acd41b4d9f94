//! `kind = "kernel"`: the buyer's own compute kernel (WGSL or SPIR-V), run in the verifiable tier
//! under the engine's rules for buyer kernels (`gpu_engine::external`), over buffers whose initial
//! contents come from `.npy` files in the package (or zeros), dispatched `dispatches` times; the
//! buffers named `output` are written as `.npy` files, and `buffers.json` records every buffer's
//! BLAKE3 after the last dispatch.
//!
//! Each dispatch is a step of the trace: its input the hash of every buffer before it
//! ([`state_hash`]), its output the hash after it; a later dispatch's input is the one before's
//! output. The result's files are bound to the last step ([`crate::binding`]). Float32 buffers are
//! brought into the engine's canonical domain before the first dispatch and after each (so what
//! a driver flushes or makes of a NaN does not reach the state or the outputs).
//!
//! What this does not make the same on every device, and the buyer's kernel must not do: a data
//! race (two invocations writing one element, or one reading what another writes in the same
//! dispatch). The engine refuses what it can see (atomics, min/max/clamp and sign of floats, a
//! float's bits or conversion to an integer, matrix products, shifts by a runtime amount,
//! transcendentals, float division, subnormal constants, two variables at one binding) and
//! flushes a subnormal made in the middle of a dispatch's arithmetic to +0 on every device
//! (`gpu_engine::external::flush_subnormals`); races it cannot see.

use gpu_engine::{
    Gpu, ReproClass,
    external::{self, BufferSpec, Element, ExternalKernel, KernelSource, KernelSpec, Tier},
};
use gridmint_protocol::job::KernelSettings;
use serde::{Deserialize, Serialize};

use crate::{
    JobError, Package, Progress, ProgressFn,
    npy::{self, Array, Dtype},
    output::{Staging, Traced},
    trace,
};

/// The record of every buffer after the last dispatch, among the outputs.
pub const BUFFERS_FILE: &str = "buffers.json";
/// The most a .npy file's header may take (its length is a 16-bit field).
const NPY_HEADER_MAX: u64 = 10 + (1 << 16);
/// The most dispatches a job may run, and the loop budget when the manifest gives none.
pub const MAX_DISPATCHES: u32 = 1024;
pub const DEFAULT_LOOP_BUDGET: u32 = 1 << 16;
/// The most bytes all of a job's buffers may hold together (its outputs are a result a buyer takes).
pub const MAX_STATE_BYTES: u64 = 768 << 20;

/// One buffer's line in `buffers.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferRecord {
    pub binding: u32,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// BLAKE3 of the buffer's bytes (its words, little-endian), hex.
    pub blake3: String,
    /// The `.npy` it was written to, if it is an output.
    pub output: Option<String>,
}

/// The hash of the buffers' state: every buffer's record (binding, type, shape, output name and
/// BLAKE3), in binding order. The record's every field counts: a result that names other outputs,
/// or none, or writes one as another type or shape, is another state.
pub fn state_hash(records: &[BufferRecord]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"gridmint kernel state v2");
    h.update(&(records.len() as u64).to_le_bytes());
    for r in records {
        h.update(&r.binding.to_le_bytes());
        h.update(r.dtype.descr().as_bytes());
        h.update(&(r.shape.len() as u64).to_le_bytes());
        for d in &r.shape {
            h.update(&(*d as u64).to_le_bytes());
        }
        let output = r.output.as_deref().unwrap_or("");
        h.update(&(output.len() as u64).to_le_bytes());
        h.update(output.as_bytes());
        h.update(r.blake3.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Maps a float32 buffer's values into the engine's canonical domain (subnormals and values
/// below 2^-37 to zero, every NaN to one), as every kernel of the engine stores its values: the
/// state between dispatches and the outputs do not carry what drivers flush or make differently.
/// Integer buffers are left as they are. Returns whether any word changed.
fn canonicalize(array: &mut Array) -> bool {
    if array.dtype != Dtype::F32 {
        return false;
    }
    let mut changed = false;
    for w in &mut array.words {
        let c = gpu_engine::numeric::canonicalize(f32::from_bits(*w)).to_bits();
        changed |= c != *w;
        *w = c;
    }
    changed
}

/// The records of the buffers as they are.
fn records(buffers: &[Buffer]) -> Vec<BufferRecord> {
    buffers
        .iter()
        .map(|b| BufferRecord {
            binding: b.binding,
            dtype: b.array.dtype,
            shape: b.array.shape.clone(),
            blake3: words_hash(&b.array.words).to_hex().to_string(),
            output: b.output.clone(),
        })
        .collect()
}

/// BLAKE3 of words as little-endian bytes.
pub fn words_hash(words: &[u32]) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    for w in words {
        h.update(&w.to_le_bytes());
    }
    h.finalize()
}

/// A buffer as the job declares it, with its initial contents.
#[derive(Debug)]
struct Buffer {
    binding: u32,
    array: Array,
    output: Option<String>,
}

/// A kernel job read and checked (the kernel compiled and validated), ready for the device.
struct Prepared {
    source: KernelSource,
    spec: KernelSpec,
    buffers: Vec<Buffer>,
    dispatches: u32,
    /// Work units of one dispatch: its bound, and the state's way back and hashing.
    dispatch_units: u64,
}

fn setting(package: &Package, message: String) -> JobError {
    JobError::Package { path: package.source.clone(), message: format!("job.toml: [kernel] {message}") }
}

fn parse_dtype(package: &Package, name: &str) -> Result<Dtype, JobError> {
    match name {
        "f32" => Ok(Dtype::F32),
        "u32" => Ok(Dtype::U32),
        "i32" => Ok(Dtype::I32),
        other => Err(setting(package, format!("dtype {other:?} is not \"f32\", \"u32\" or \"i32\""))),
    }
}

/// An output's name: a `.npy` file name of letters, digits, `.`, `-` and `_`; not a name another
/// kind's result is known by (`embeddings.npy`), nor one a system reserves (`CON`, `NUL`, ...).
fn check_output_name(package: &Package, name: &str) -> Result<(), JobError> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !plain || !name.ends_with(".npy") || name.starts_with('.') || name.len() > 128 {
        return Err(setting(package, format!("output {name:?} must be a .npy file name (letters, digits, . - _)")));
    }
    let stem = name.split('.').next().unwrap_or_default().to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved || name.eq_ignore_ascii_case(crate::embed::EMBEDDINGS_FILE) {
        return Err(setting(
            package,
            format!("output {name:?} is a name reserved by a system or another kind's result"),
        ));
    }
    Ok(())
}

fn prepare(package: &Package, class: ReproClass) -> Result<Prepared, JobError> {
    let settings: &KernelSettings = package
        .manifest
        .kernel
        .as_ref()
        .ok_or_else(|| setting(package, "a [kernel] table is required for kind = \"kernel\"".into()))?;
    let dispatches = settings.dispatches.unwrap_or(1);
    if !(1..=MAX_DISPATCHES).contains(&dispatches) {
        return Err(setting(package, format!("dispatches {dispatches} is outside 1..={MAX_DISPATCHES}")));
    }
    let bytes = package.read("shader", &settings.shader, external::MAX_SOURCE_BYTES as u64)?;
    let source = if settings.shader.ends_with(".wgsl") {
        KernelSource::Wgsl(
            String::from_utf8(bytes).map_err(|_| JobError::input(&settings.shader, "is not UTF-8 WGSL"))?,
        )
    } else if settings.shader.ends_with(".spv") {
        KernelSource::Spirv(bytes)
    } else {
        return Err(setting(package, format!("shader {:?} must be a .wgsl or .spv file", settings.shader)));
    };
    // The inputs' sizes first: nothing is read of a job whose buffers could not fit.
    let mut input_bytes = 0u64;
    for input in settings.buffers.iter().filter_map(|b| b.input.as_deref()) {
        let path = package.file("input", input)?;
        let len = std::fs::metadata(&path).map_err(JobError::io("reading", &path))?.len();
        input_bytes = input_bytes.saturating_add(len.saturating_sub(NPY_HEADER_MAX));
    }
    if input_bytes > MAX_STATE_BYTES {
        return Err(setting(package, format!("the inputs hold {input_bytes} bytes; at most {MAX_STATE_BYTES}")));
    }
    let mut buffers = Vec::with_capacity(settings.buffers.len());
    let mut state_bytes = 0u64;
    for b in &settings.buffers {
        if buffers.iter().any(|o: &Buffer| o.binding == b.binding) {
            return Err(setting(package, format!("binding {} is declared twice", b.binding)));
        }
        let mut array = match (&b.input, b.len) {
            (Some(input), None) => {
                let bytes = package.read("input", input, MAX_STATE_BYTES + NPY_HEADER_MAX)?;
                let array = npy::read_array(&bytes).map_err(|e| JobError::input(input, e.to_string()))?;
                if let Some(d) = &b.dtype
                    && parse_dtype(package, d)? != array.dtype
                {
                    return Err(setting(package, format!("binding {}: dtype {d:?} is not {input}'s", b.binding)));
                }
                array
            }
            (None, Some(len)) => {
                let dtype = parse_dtype(package, b.dtype.as_deref().unwrap_or("f32"))?;
                let len = usize::try_from(len).ok().filter(|l| (*l as u64).saturating_mul(4) <= MAX_STATE_BYTES);
                let len =
                    len.ok_or_else(|| setting(package, format!("binding {}: len is over the limit", b.binding)))?;
                Array { dtype, shape: vec![len], words: vec![0; len] }
            }
            _ => return Err(setting(package, format!("binding {}: give exactly one of `input` and `len`", b.binding))),
        };
        state_bytes = state_bytes.saturating_add(array.words.len() as u64 * 4);
        if let Some(shape) = &b.shape {
            let product = shape.iter().try_fold(1u64, |p, d| p.checked_mul(*d));
            if shape.is_empty() || shape.len() > npy::MAX_DIMS || product != Some(array.words.len() as u64) {
                return Err(setting(
                    package,
                    format!("binding {}: shape {shape:?} does not hold its {} values", b.binding, array.words.len()),
                ));
            }
            array.shape = shape.iter().map(|d| *d as usize).collect();
        }
        if let Some(name) = &b.output {
            check_output_name(package, name)?;
            // Twice but for case is twice on a file system that ignores case.
            if buffers.iter().any(|o: &Buffer| o.output.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))) {
                return Err(setting(package, format!("output {name:?} is named twice")));
            }
        }
        if state_bytes > MAX_STATE_BYTES {
            return Err(setting(package, format!("the buffers hold over {MAX_STATE_BYTES} bytes")));
        }
        buffers.push(Buffer { binding: b.binding, array, output: b.output.clone() });
    }
    if state_bytes > MAX_STATE_BYTES {
        return Err(setting(package, format!("the buffers hold {state_bytes} bytes; at most {MAX_STATE_BYTES}")));
    }
    buffers.sort_by_key(|b| b.binding);
    let spec = KernelSpec {
        entry_point: settings.entry_point.clone().unwrap_or_else(|| "main".into()),
        buffers: buffers.iter().map(|b| BufferSpec { binding: b.binding, len: b.array.words.len() as u64 }).collect(),
        workgroups: settings.workgroups,
        tier: Tier::Verifiable(class),
        loop_budget: settings.loop_budget.unwrap_or(DEFAULT_LOOP_BUDGET),
    };
    // The whole check before any device: the kernel's interface, determinism rules and bound.
    let compiled =
        external::compile_bounded(&source, &spec).map_err(|e| JobError::input(&settings.shader, e.to_string()))?;
    // A buffer's type is the kernel's: canonicalization goes by it, so a manifest's float32 over
    // an integer array (or the reverse) would change the kernel's values between dispatches.
    for b in &buffers {
        let declared = compiled.elements.iter().find(|(binding, _)| *binding == b.binding).and_then(|(_, e)| *e);
        let want = match b.array.dtype {
            Dtype::F32 => Element::F32,
            Dtype::U32 => Element::U32,
            Dtype::I32 => Element::I32,
        };
        match declared {
            Some(e) if e == want => {}
            Some(e) => {
                return Err(setting(
                    package,
                    format!("binding {} holds {:?} values; the kernel reads it as {e:?}", b.binding, b.array.dtype),
                ));
            }
            None => {
                return Err(setting(
                    package,
                    format!("binding {}: the kernel's buffer must be an array of f32, u32 or i32 values", b.binding),
                ));
            }
        }
    }
    // And per dispatch: the state's way back, its canonicalization and hashing, a few operations
    // per byte. The first dispatch runs twice (a race's check): its step counts both.
    let dispatch_units = compiled.work_bound.saturating_add(state_bytes.saturating_mul(4));
    Ok(Prepared { source, spec, buffers, dispatches, dispatch_units })
}

/// What a kernel job is: its work units (the bound of every dispatch) and what a buyer reads.
pub fn describe(package: &Package) -> Result<crate::Description, JobError> {
    let class = crate::engine_class(package.manifest.reproducibility);
    let p = prepare(package, class)?;
    let buffers: Vec<String> = p
        .buffers
        .iter()
        .map(|b| {
            let out = b.output.as_deref().map(|o| format!(" → {o}")).unwrap_or_default();
            format!("{}: {:?} {:?}{out}", b.binding, b.array.dtype, b.array.shape).to_lowercase()
        })
        .collect();
    let shader = package.manifest.kernel.as_ref().map(|k| k.shader.clone()).unwrap_or_default();
    let facts = vec![
        ("Kernel".to_owned(), format!("{shader}, entry point {}", p.spec.entry_point)),
        (
            "Dispatch".to_owned(),
            format!("{:?} workgroups, loop budget {}, {} time(s)", p.spec.workgroups, p.spec.loop_budget, p.dispatches),
        ),
        ("Buffers".to_owned(), buffers.join("; ")),
    ];
    let work_units = p.dispatch_units.saturating_mul(u64::from(p.dispatches) + 1);
    Ok(crate::Description { work_units, facts })
}

/// Runs a kernel job: returns the dispatches and the trace (one step per dispatch).
pub fn run(
    gpu: &Gpu,
    class: ReproClass,
    package: &Package,
    staging: &mut Staging,
    progress: ProgressFn,
) -> Result<(u64, Traced), JobError> {
    let Prepared { source, spec, mut buffers, dispatches, dispatch_units } = prepare(package, class)?;
    let total = u64::from(dispatches);
    progress(&Progress { stage: "dispatching".to_owned(), done: 0, total });
    let kernel = ExternalKernel::new(gpu, &source, spec)?;
    for b in &mut buffers {
        canonicalize(&mut b.array);
    }
    let mut device = buffers
        .iter()
        .map(|b| Ok(gpu.upload(&b.array.words)?.reinterpret::<[f32]>()))
        .collect::<Result<Vec<_>, JobError>>()?;
    let initial: Vec<Vec<u32>> = buffers.iter().map(|b| b.array.words.clone()).collect();
    let device_count = buffers.len();
    let mut input = state_hash(&records(&buffers));
    let mut steps = Vec::with_capacity(dispatches as usize);
    let mut hashing = 0.0;
    for d in 0..dispatches {
        kernel.run(gpu, &device)?;
        let started = std::time::Instant::now();
        for (b, buf) in buffers.iter_mut().zip(device.iter_mut()) {
            b.array.words = gpu.download(&buf.clone().reinterpret::<[u32]>())?;
            // The next dispatch starts from the canonical state, as every device has it.
            if canonicalize(&mut b.array) && d + 1 < dispatches {
                *buf = gpu.upload(&b.array.words)?.reinterpret::<[f32]>();
            }
        }
        let output = state_hash(&records(&buffers));
        hashing += started.elapsed().as_secs_f64();
        // The first dispatch's step counts its second run too (a step's flops do not depend on
        // how many dispatches follow: a juror's re-run up to a step counts the same).
        let flops = if d == 0 { dispatch_units.saturating_mul(2) } else { dispatch_units };
        steps.push(trace::Step { flops, prev: d, input, output });
        input = output;
        progress(&Progress { stage: "dispatching".to_owned(), done: u64::from(d) + 1, total });
    }
    // The first dispatch again, from the same state: a kernel whose results vary from run to
    // run (a data race) is refused here, unslashed, before its replicas disagree in the court.
    // The dispatches' buffers are in `buffers` on the host: the device holds one set at a time.
    debug_assert_eq!(device.len(), device_count);
    drop(device);
    let again = initial
        .iter()
        .map(|words| Ok(gpu.upload(words)?.reinterpret::<[f32]>()))
        .collect::<Result<Vec<_>, JobError>>()?;
    kernel.run(gpu, &again)?;
    let mut rerun: Vec<Buffer> = Vec::with_capacity(buffers.len());
    for (b, buf) in buffers.iter().zip(&again) {
        let mut array = Array { words: gpu.download(&buf.clone().reinterpret::<[u32]>())?, ..b.array.clone() };
        canonicalize(&mut array);
        rerun.push(Buffer { binding: b.binding, array, output: b.output.clone() });
    }
    if steps.first().map(|s| s.output) != Some(state_hash(&records(&rerun))) {
        let shader = package.manifest.kernel.as_ref().map(|k| k.shader.clone()).unwrap_or_default();
        return Err(JobError::input(
            &shader,
            "its first dispatch gave other results when run again from the same buffers on this device: \
             a data race (two invocations writing one element, or one reading what another writes)",
        ));
    }
    for b in &buffers {
        if let Some(name) = &b.output {
            staging.write(name, &npy::write_array(&b.array))?;
        }
    }
    let json = serde_json::to_vec_pretty(&records(&buffers))
        .map_err(|e| JobError::Output { path: BUFFERS_FILE.into(), message: e.to_string() })?;
    staging.write(BUFFERS_FILE, &json)?;
    Ok((total, Traced { trace: trace::Trace { steps }, seconds: hashing }))
}
