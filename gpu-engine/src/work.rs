//! Work units: what a kernel costs, computed from its shapes alone so that every device meters a
//! job the same way. One work unit is one floating-point operation (a multiply-add counts two).

/// Work of a GEMM of shape M x K by K x N.
pub fn gemm(m: u64, n: u64, k: u64) -> u64 {
    2 * m * n * k
}
