//! The CPU twin of every kernel: plain Rust loops in the kernels' op order. Tests hold the GPU to
//! these bit for bit; a buyer or a referee re-executes with them.

use crate::numeric::{ReproClass, canonicalize};

/// `C[M,N] = A[M,K] * B[K,N]`, row-major, each element summed in increasing k from +0.
pub fn gemm(class: ReproClass, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    assert_eq!(a.len(), m * k, "A must be M x K");
    assert_eq!(b.len(), k * n, "B must be K x N");
    let mut c = vec![0.0f32; m * n];
    // Row-by-row over k keeps each element's sum in increasing k while streaming B rows.
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for kk in 0..k {
            let aik = a[i * k + kk];
            let brow = &b[kk * n..(kk + 1) * n];
            for (acc, &bkj) in row.iter_mut().zip(brow) {
                *acc = class.mul_add(aik, bkj, *acc);
            }
        }
        for v in row.iter_mut() {
            *v = canonicalize(*v);
        }
    }
    c
}
