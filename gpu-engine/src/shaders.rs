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
pub(crate) const GEMM_WIDE: &[u8] = spirv!("gemm_wide");

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

    struct Census {
        float_ops: usize,
        contractible: Vec<u32>,
        fma: usize,
    }

    fn census(bytes: &[u8]) -> Census {
        let words = super::words(bytes);
        assert_eq!(words[0], 0x0723_0203, "SPIR-V magic");
        let mut decorated = HashSet::new();
        let mut arithmetic = Vec::new();
        let mut fma = 0;
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
            }
            at += count;
        }
        Census {
            float_ops: arithmetic.len(),
            contractible: arithmetic.into_iter().filter(|id| !decorated.contains(id)).collect(),
            fma,
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
            "attention",
            "attention_texel",
            "binary",
            "copy",
            "fma_probe",
            "gather",
            "gemm",
            "gemm_stream",
            "gemm_texel",
            "gemm_wide",
            "layernorm_rows",
            "reduce_rows",
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

    #[test]
    fn every_kernel_file_is_in_the_census() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let files = std::fs::read_dir(dir).expect("shaders/").filter_map(|e| e.ok()).count();
        // 16 kernels and canon.glsl, detmath.glsl.
        assert_eq!(files, 18, "a kernel was added or removed: update the census list above");
    }
}
