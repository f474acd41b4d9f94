//! Work units: what a kernel costs, computed from its shapes alone so that every device meters a
//! job the same way. One work unit is one floating-point operation of the kernel's definition
//! (a multiply-add counts two); the deterministic functions count the operations of their
//! `detmath` implementation, rounded to these constants.

/// `exp` in detmath: range reduction (4) + degree-6 polynomial (12) + scaling (1).
pub const EXP: u64 = 17;
/// `recip` / `rsqrt`: three Newton steps.
pub const RECIP: u64 = 6;
pub const RSQRT: u64 = 9;
/// `tanh` = exp + recip + 3.
pub const TANH: u64 = EXP + RECIP + 3;
/// GELU = erf (recip + exp + 12) + 4.
pub const GELU: u64 = EXP + RECIP + 16;
/// GELU (tanh) = tanh + 8.
pub const GELU_TANH: u64 = TANH + 8;
/// SiLU = exp + recip + 2.
pub const SILU: u64 = EXP + RECIP + 2;

/// A GEMM of shape M x K by K x N.
pub fn gemm(m: u64, n: u64, k: u64) -> u64 {
    2 * m * n * k
}

/// One binary elementwise op over `len` values.
pub fn binary(len: u64) -> u64 {
    len
}

/// A unary function over `len` values, `per_value` from the constants above.
pub fn unary(len: u64, per_value: u64) -> u64 {
    len * per_value
}

/// Softmax of `rows` rows of `n`: max (1), subtract + exp + add (EXP + 2), scale (1), per value,
/// plus one reciprocal per row.
pub fn softmax_rows(rows: u64, n: u64) -> u64 {
    rows * (n * (EXP + 4) + RECIP)
}

/// RMS norm of `rows` rows of `n`: square + add (2), normalize and scale (2), per value, plus a
/// reciprocal square root per row.
pub fn rmsnorm_rows(rows: u64, n: u64) -> u64 {
    rows * (4 * n + RSQRT + 2)
}

/// Rotary position embedding of `rows` rows of `heads` heads of `dim`: 6 operations per pair.
pub fn rope(rows: u64, heads: u64, dim: u64) -> u64 {
    rows * heads * (dim / 2) * 6
}

/// Layer norm of `rows` rows of `n`: sum (1), centre + square + add (3), normalize, scale and
/// shift (4), per value, plus a reciprocal square root per row.
pub fn layernorm_rows(rows: u64, n: u64) -> u64 {
    rows * (n * 8 + RSQRT)
}

/// Gather and transpose move data and compute nothing: one unit per value moved.
pub fn moved(values: u64) -> u64 {
    values
}

/// Row sums: one add per value.
pub fn sum_rows(rows: u64, n: u64) -> u64 {
    rows * n
}

#[cfg(test)]
mod tests {
    #[test]
    fn work_depends_only_on_shapes() {
        assert_eq!(super::gemm(1024, 1024, 1024), 2 * 1024u64.pow(3));
        assert_eq!(super::softmax_rows(2, 3), 2 * (3 * 21 + 6));
        assert_eq!(super::layernorm_rows(1, 384), 384 * 8 + 9);
    }
}
