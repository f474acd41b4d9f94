//! Subnormals flushed after every float operation of a verifiable kernel, so that no device's
//! handling of them reaches a result. Drivers disagree on denormals (the H100 flushes them to a
//! signed zero, llvmpipe keeps them; neither lets a shader choose, `shaderDenormFlushToZeroFloat32`
//! and `shaderDenormPreserveFloat32` both false), and a buyer's kernel can make one mid-dispatch
//! from canonical inputs (`a * b * c * d` with every factor 2^-37 is 2^-148); two later
//! multiplies by 2^100 then give 2^52 on one device and 0 on the other.
//!
//! The pass works on the SPIR-V naga writes, before NoContraction is added: the result of every
//! float add, subtract, multiply (scalar, vector, vector by scalar), fused multiply-add and
//! float made from an integer's bits gets a fresh id, and its old id becomes the flushed value:
//!
//! ```text
//! r = (bitcast<u32>(r) & 0x7f800000) == 0 ? +0.0 : r
//! ```
//!
//! The test is on the bits (integer operations), so a device that flushes and one that keeps
//! subnormals both take the zero; every zero becomes +0, whatever sign the device gave a flushed
//! one (Vulkan promises none without `SignedZeroInfNanPreserve`, and the canonical domain makes
//! -0 +0 anyway). Every later use of the value reads the flushed one, so no subnormal ever enters
//! an operation, and whether a device also flushes inputs no longer matters. Negation, `abs`,
//! `floor`, `ceil`, `trunc` and integer-to-float conversion make no subnormal from a value that
//! is not one, and the kernel's buffers and constants hold none (the runner canonicalizes its
//! buffers by their declared type, one variable a binding; a subnormal literal is refused,
//! `super::check_determinism`). The price is four operations per float operation.

/// SPIR-V opcodes the pass reads or writes.
mod op {
    pub const EXT_INST_IMPORT: u32 = 11;
    pub const EXT_INST: u32 = 12;
    pub const TYPE_BOOL: u32 = 20;
    pub const TYPE_INT: u32 = 21;
    pub const TYPE_FLOAT: u32 = 22;
    pub const TYPE_VECTOR: u32 = 23;
    pub const CONSTANT: u32 = 43;
    pub const CONSTANT_COMPOSITE: u32 = 44;
    pub const FUNCTION: u32 = 54;
    pub const BITCAST: u32 = 124;
    pub const F_ADD: u32 = 129;
    pub const F_SUB: u32 = 131;
    pub const F_MUL: u32 = 133;
    pub const VECTOR_TIMES_SCALAR: u32 = 142;
    pub const SELECT: u32 = 169;
    pub const I_EQUAL: u32 = 170;
    pub const BITWISE_AND: u32 = 199;
}

use crate::EngineError;

/// GLSL.std.450's `Fma`.
const GLSL_FMA: u32 = 50;
const EXPONENT_BITS: u32 = 0x7f80_0000;

fn instruction(opcode: u32, operands: &[u32]) -> Vec<u32> {
    let mut words = Vec::with_capacity(operands.len() + 1);
    words.push(((operands.len() as u32 + 1) << 16) | opcode);
    words.extend_from_slice(operands);
    words
}

/// The ids of the types and constants one width (1: scalar, 2 to 4: vector) needs.
#[derive(Debug, Clone, Copy)]
struct Lanes {
    uint: u32,
    boolean: u32,
    exponent: u32,
    zero: u32,
    /// +0.0 in the width's float type.
    float_zero: u32,
}

fn malformed(why: &str) -> EngineError {
    super::rejected(format!("flushing subnormals: the SPIR-V written for it {why}"))
}

/// `words` (a SPIR-V module naga wrote) with every float operation's result flushed of
/// subnormals; as it was when it makes no float. A module the pass cannot read is refused, not
/// passed on unflushed.
pub fn flush_subnormals(words: Vec<u32>) -> Result<Vec<u32>, EngineError> {
    if words.len() < 5 {
        return Err(malformed("has no header"));
    }
    // (start, length, opcode) of every instruction.
    let mut instructions = Vec::new();
    let mut i = 5;
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        if count == 0 || i + count > words.len() {
            return Err(malformed(&format!("has a malformed instruction at word {i}")));
        }
        instructions.push((i, count, words[i] & 0xffff));
        i += count;
    }
    let operands = |&(start, count, _): &(usize, usize, u32)| &words[start + 1..start + count];
    let mut float = None;
    let mut glsl = None;
    let (mut uint, mut boolean) = (None, None);
    // Vector type id -> (component type, lanes).
    let mut vectors: Vec<(u32, u32, u32)> = Vec::new();
    for ins in &instructions {
        let o = operands(ins);
        match ins.2 {
            op::TYPE_FLOAT if o.len() >= 2 && o[1] == 32 => float = Some(o[0]),
            op::TYPE_INT if o.len() >= 3 && o[1] == 32 && o[2] == 0 => uint = Some(o[0]),
            op::TYPE_BOOL if !o.is_empty() => boolean = Some(o[0]),
            op::TYPE_VECTOR if o.len() >= 3 => vectors.push((o[0], o[1], o[2])),
            op::EXT_INST_IMPORT if o.len() >= 2 => {
                let name: Vec<u8> = o[1..].iter().flat_map(|w| w.to_le_bytes()).take_while(|b| *b != 0).collect();
                if name == b"GLSL.std.450" {
                    glsl = Some(o[0]);
                }
            }
            _ => {}
        }
    }
    // No 32-bit float type: no float to flush.
    let Some(float) = float else { return Ok(words) };
    let lanes_of = |ty: u32| -> Option<u32> {
        if ty == float {
            return Some(1);
        }
        vectors.iter().find(|(id, component, _)| *id == ty && *component == float).map(|v| v.2)
    };
    // The float operations: (instruction index, result type, lanes).
    let mut targets = Vec::new();
    let mut functions_at = None;
    for (n, ins) in instructions.iter().enumerate() {
        let o = operands(ins);
        if ins.2 == op::FUNCTION && functions_at.is_none() {
            functions_at = Some(n);
        }
        // A float made from an integer's bits (`bitcast<f32>(1u)`) is flushed too: it could be a
        // subnormal that a device flushing its inputs reads as zero.
        let arithmetic = matches!(ins.2, op::F_ADD | op::F_SUB | op::F_MUL | op::VECTOR_TIMES_SCALAR | op::BITCAST);
        let fma = ins.2 == op::EXT_INST && o.len() >= 4 && Some(o[2]) == glsl && o[3] == GLSL_FMA;
        if (arithmetic || fma)
            && o.len() >= 2
            && let Some(lanes) = lanes_of(o[0])
        {
            targets.push((n, o[0], lanes));
        }
    }
    let Some(functions_at) = functions_at else { return Err(malformed("has no function")) };
    if targets.is_empty() {
        return Ok(words);
    }
    let mut bound = words[3];
    let mut fresh = || {
        bound += 1;
        bound - 1
    };
    let mut declarations = Vec::new();
    let uint = uint.unwrap_or_else(|| {
        let id = fresh();
        declarations.extend(instruction(op::TYPE_INT, &[id, 32, 0]));
        id
    });
    let boolean = boolean.unwrap_or_else(|| {
        let id = fresh();
        declarations.extend(instruction(op::TYPE_BOOL, &[id]));
        id
    });
    let mut constant = |declarations: &mut Vec<u32>, ty: u32, value: u32| {
        let id = fresh();
        declarations.extend(instruction(op::CONSTANT, &[ty, id, value]));
        id
    };
    let scalar = Lanes {
        uint,
        boolean,
        exponent: constant(&mut declarations, uint, EXPONENT_BITS),
        zero: constant(&mut declarations, uint, 0),
        float_zero: constant(&mut declarations, float, 0),
    };
    let mut widths: Vec<(u32, Lanes)> = vec![(1, scalar)];
    for &(_, result_type, lanes) in &targets {
        if widths.iter().any(|(n, _)| *n == lanes) {
            continue;
        }
        let mut vector_of = |declarations: &mut Vec<u32>, component: u32| {
            if let Some(v) = vectors.iter().find(|v| v.1 == component && v.2 == lanes) {
                return v.0;
            }
            let id = fresh();
            declarations.extend(instruction(op::TYPE_VECTOR, &[id, component, lanes]));
            vectors.push((id, component, lanes));
            id
        };
        let uint_n = vector_of(&mut declarations, uint);
        let bool_n = vector_of(&mut declarations, boolean);
        let mut splat = |declarations: &mut Vec<u32>, ty: u32, of: u32| {
            let id = fresh();
            let mut parts = vec![ty, id];
            parts.extend(std::iter::repeat_n(of, lanes as usize));
            declarations.extend(instruction(op::CONSTANT_COMPOSITE, &parts));
            id
        };
        let lanes_ids = Lanes {
            uint: uint_n,
            boolean: bool_n,
            exponent: splat(&mut declarations, uint_n, scalar.exponent),
            zero: splat(&mut declarations, uint_n, scalar.zero),
            // The float vector type of this width is the operation's own (one id a width).
            float_zero: splat(&mut declarations, result_type, scalar.float_zero),
        };
        widths.push((lanes, lanes_ids));
    }
    let mut out = Vec::with_capacity(words.len() + declarations.len() + targets.len() * 32);
    out.extend_from_slice(&words[..instructions[functions_at].0]);
    out.extend_from_slice(&declarations);
    let mut next_target = targets.iter().peekable();
    for (n, ins) in instructions.iter().enumerate().skip(functions_at) {
        let (start, count, _) = *ins;
        let Some(&(_, result_type, lanes)) = next_target.next_if(|t| t.0 == n) else {
            out.extend_from_slice(&words[start..start + count]);
            continue;
        };
        let l = widths.iter().find(|(w, _)| *w == lanes).expect("every width declared").1;
        let result = words[start + 2];
        let raw = fresh();
        let mut op = words[start..start + count].to_vec();
        op[2] = raw;
        out.extend_from_slice(&op);
        let (bits, exponent, zero_exponent) = (fresh(), fresh(), fresh());
        out.extend(instruction(op::BITCAST, &[l.uint, bits, raw]));
        out.extend(instruction(op::BITWISE_AND, &[l.uint, exponent, bits, l.exponent]));
        out.extend(instruction(op::I_EQUAL, &[l.boolean, zero_exponent, exponent, l.zero]));
        out.extend(instruction(op::SELECT, &[result_type, result, zero_exponent, l.float_zero, raw]));
    }
    out[3] = bound;
    Ok(out)
}
