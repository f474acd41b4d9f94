//! SPIR-V of the kernel library, compiled from `gpu-engine/shaders/*.comp` by build.rs.

macro_rules! spirv {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".spv"))
    };
}

pub(crate) const GEMM: &[u8] = spirv!("gemm");
pub(crate) const FMA_PROBE: &[u8] = spirv!("fma_probe");
pub(crate) const COPY: &[u8] = spirv!("copy");
pub(crate) const GEMM_STREAM: &[u8] = spirv!("gemm_stream");
pub(crate) const GEMM_TEXEL: &[u8] = spirv!("gemm_texel");

macro_rules! wide {
    ($($suffix:literal),* $(,)?) => {
        [$(($suffix, include_bytes!(concat!(env!("OUT_DIR"), "/gemm_wide-", $suffix, ".spv")) as &[u8])),*]
    };
}

/// The wide GEMM's modules, one per combination build.rs compiles: `u`/`f` (class), slice depth,
/// `s` and stage count, `v` for 16-byte loads.
const GEMM_WIDE: [(&str, &[u8]); 16] = wide!(
    "u8s1", "u8s1v", "u8s2", "u8s2v", "u16s1", "u16s1v", "u16s2", "u16s2v", "f8s1", "f8s1v", "f8s2", "f8s2v", "f16s1",
    "f16s1v", "f16s2", "f16s2v",
);

/// The wide GEMM's module for a class, slice depth (8 or 16), stage count (1 or 2) and load width.
pub(crate) fn gemm_wide(fused: bool, depth: u32, stages: u32, vector: bool) -> Option<&'static [u8]> {
    let key = format!("{}{depth}s{stages}{}", if fused { "f" } else { "u" }, if vector { "v" } else { "" });
    GEMM_WIDE.iter().find(|(k, _)| *k == key).map(|(_, spirv)| *spirv)
}

/// SPIR-V bytes to words (SPIR-V is a stream of little-endian u32).
pub(crate) fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub(crate) const UNARY: &[u8] = spirv!("unary");
pub(crate) const SOFTMAX_ROWS: &[u8] = spirv!("softmax_rows");
pub(crate) const LAYERNORM_ROWS: &[u8] = spirv!("layernorm_rows");
pub(crate) const BINARY: &[u8] = spirv!("binary");
pub(crate) const GATHER: &[u8] = spirv!("gather");
pub(crate) const TRANSPOSE: &[u8] = spirv!("transpose");
pub(crate) const REDUCE_ROWS: &[u8] = spirv!("reduce_rows");
pub(crate) const ATTENTION: &[u8] = spirv!("attention");
pub(crate) const ATTENTION_TEXEL: &[u8] = spirv!("attention_texel");
pub(crate) const SGD_MOMENTUM: &[u8] = spirv!("sgd_momentum");
pub(crate) const KV_APPEND: &[u8] = spirv!("kv_append");
pub(crate) const KV_ATTENTION: &[u8] = spirv!("kv_attention");
pub(crate) const ROPE: &[u8] = spirv!("rope");
pub(crate) const ADAMW: &[u8] = spirv!("adamw");
pub(crate) const LAYERNORM_BACKWARD: &[u8] = spirv!("layernorm_backward");
pub(crate) const ATTENTION_BACKWARD: &[u8] = spirv!("attention_backward");
pub(crate) const SCATTER_ROWS: &[u8] = spirv!("scatter_rows");

#[cfg(test)]
mod tests {
    //! What the determinism of the verifiable tier rests on, checked in the SPIR-V that ships
    //! (not the GLSL): every float add, subtract, multiply and divide carries NoContraction, and
    //! `Fma` appears exactly as often as `fma(` is written in the kernel's source.

    use std::collections::HashSet;

    const OP_EXT_INST: u32 = 12;
    const OP_DECORATE: u32 = 71;
    const NO_CONTRACTION: u32 = 42;
    const GLSL_FMA: u32 = 50;
    /// OpFAdd, OpFSub, OpFMul, OpFDiv, OpFRem, OpFMod, OpVectorTimesScalar, OpMatrixTimesScalar,
    /// OpVectorTimesMatrix, OpMatrixTimesVector, OpMatrixTimesMatrix, OpDot.
    const FLOAT_ARITHMETIC: [u32; 12] = [129, 131, 133, 136, 140, 141, 142, 143, 144, 145, 146, 148];

    const OP_TYPE_ARRAY: u32 = 28;
    const OP_TYPE_POINTER: u32 = 32;
    const OP_VARIABLE: u32 = 59;
    /// Storage classes of an invocation's own variables: Private (6) and Function (7).
    const REGISTER_STORAGE: [u32; 2] = [6, 7];

    struct Census {
        float_ops: usize,
        contractible: Vec<u32>,
        fma: usize,
        /// Variables of an invocation's own (Private or Function) that are arrays.
        register_arrays: usize,
    }

    fn census(bytes: &[u8]) -> Census {
        let words = super::words(bytes);
        assert_eq!(words[0], 0x0723_0203, "SPIR-V magic");
        let mut decorated = HashSet::new();
        let mut arithmetic = Vec::new();
        let mut fma = 0;
        let (mut arrays, mut array_pointers, mut register_arrays) = (HashSet::new(), HashSet::new(), 0);
        let mut at = 5;
        while at < words.len() {
            let (count, opcode) = ((words[at] >> 16) as usize, words[at] & 0xffff);
            assert!(count > 0 && at + count <= words.len(), "malformed instruction at word {at}");
            let operands = &words[at + 1..at + count];
            if opcode == OP_DECORATE && operands[1] == NO_CONTRACTION {
                decorated.insert(operands[0]);
            } else if FLOAT_ARITHMETIC.contains(&opcode) {
                arithmetic.push(operands[1]);
            } else if opcode == OP_EXT_INST && operands[3] == GLSL_FMA {
                fma += 1;
            } else if opcode == OP_TYPE_ARRAY {
                arrays.insert(operands[0]);
            } else if opcode == OP_TYPE_POINTER
                && REGISTER_STORAGE.contains(&operands[1])
                && arrays.contains(&operands[2])
            {
                array_pointers.insert(operands[0]);
            } else if opcode == OP_VARIABLE && array_pointers.contains(&operands[0]) {
                register_arrays += 1;
            }
            at += count;
        }
        Census {
            float_ops: arithmetic.len(),
            contractible: arithmetic.into_iter().filter(|id| !decorated.contains(id)).collect(),
            fma,
            register_arrays,
        }
    }

    /// `fma(` call sites in GLSL source, comments left out.
    fn written_fmas(source: &str) -> usize {
        source.lines().map(|l| l.split("//").next().unwrap_or("")).map(|l| l.matches("fma(").count()).sum()
    }

    macro_rules! kernels {
        ($($name:literal),* $(,)?) => {
            [$(($name, &spirv!($name)[..], include_str!(concat!("../shaders/", $name, ".comp")))),*]
        };
    }

    #[test]
    fn every_float_op_is_precise_and_fma_appears_only_where_written() {
        let all = kernels!(
            "adamw",
            "attention",
            "attention_backward",
            "attention_texel",
            "binary",
            "copy",
            "fma_probe",
            "gather",
            "gemm",
            "gemm_stream",
            "gemm_texel",
            "kv_append",
            "kv_attention",
            "layernorm_backward",
            "layernorm_rows",
            "reduce_rows",
            "rope",
            "scatter_rows",
            "sgd_momentum",
            "softmax_rows",
            "transpose",
            "unary",
        );
        let mut float_ops = 0;
        for (name, spirv, source) in all {
            let c = census(spirv);
            assert!(c.contractible.is_empty(), "{name}: float ops without NoContraction: ids {:?}", c.contractible);
            let written = written_fmas(source);
            assert_eq!(c.fma, written, "{name}: {} Fma in SPIR-V, {written} fma( in the source", c.fma);
            float_ops += c.float_ops;
        }
        assert!(float_ops > 100, "the census found the kernels' arithmetic ({float_ops} ops)");
    }

    /// The wide GEMM's modules: no contractible float op in any, `Fma` only in the fused class's,
    /// one per accumulator vec4 per k step of a slice (the source writes one `fma(`, in the macro
    /// that every step expands), none in the unfused class's.
    #[test]
    fn every_wide_gemm_module_is_precise_and_only_the_fused_ones_fma() {
        let written = written_fmas(include_str!("../shaders/gemm_wide.comp"));
        assert_eq!(written, 1, "gemm_wide.comp writes one fma(");
        for (name, spirv) in super::GEMM_WIDE {
            let c = census(spirv);
            assert!(c.contractible.is_empty(), "gemm_wide-{name}: float ops without NoContraction");
            let depth: usize = name[1..].split('s').next().and_then(|d| d.parse().ok()).expect("depth in the name");
            let want = if name.starts_with('f') { 16 * depth } else { 0 };
            assert_eq!(c.fma, want, "gemm_wide-{name}: {} Fma in SPIR-V", c.fma);
            assert!(c.float_ops >= 32 * depth || want > 0, "gemm_wide-{name}: the census found its arithmetic");
        }
        assert!(super::gemm_wide(true, 16, 2, true).is_some() && super::gemm_wide(false, 12, 1, false).is_none());
    }

    /// The GEMM kernels for GPUs keep their accumulators and prefetched slices in scalars and
    /// vectors, never in arrays: glslc runs at -O0, so an array reaches the driver as memory indexed
    /// by a loop counter, and whether it becomes registers is the driver's unrolling decision
    /// (NVIDIA's went both ways between builds, at 3-4x the time; shaders/gemm_wide.comp).
    #[test]
    fn gpu_gemm_kernels_keep_no_arrays_in_registers() {
        let modules = super::GEMM_WIDE.iter().map(|(name, spirv)| (format!("gemm_wide-{name}"), *spirv));
        for (name, spirv) in modules.chain([("gemm".to_owned(), super::GEMM)]) {
            let c = census(spirv);
            assert_eq!(c.register_arrays, 0, "{name}: {} arrays in Private or Function storage", c.register_arrays);
        }
        // The census sees them where they are: the texel GEMM for llvmpipe keeps its block in arrays.
        assert!(census(super::GEMM_TEXEL).register_arrays > 0, "the census finds register arrays");
    }

    #[test]
    fn every_kernel_file_is_in_the_census() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let files = std::fs::read_dir(dir).expect("shaders/").filter_map(|e| e.ok()).count();
        // 23 kernels and canon.glsl, detmath.glsl.
        assert_eq!(files, 25, "a kernel was added or removed: update the census list above");
    }
}
