//! Proves at start-up whether a device's `fma()` is truly fused (`shaders/fma_probe.comp`).

use crate::{EngineError, Gpu, shaders};

/// Test vectors where one rounding and two roundings differ.
pub fn vectors() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut z = Vec::new();
    for i in 1..=64u32 {
        // (1 + i*2^-12)^2 = 1 + i*2^-11 + i^2*2^-24: the last term is lost when the product rounds.
        let v = 1.0 + i as f32 * (2.0f32).powi(-12);
        x.push(v);
        y.push(v);
        z.push(-(v * v));
    }
    (x, y, z)
}

/// Runs the probe and compares with Rust's fused `mul_add`. A device whose results match an
/// unfused multiply-add (llvmpipe) or match neither reports `false`.
pub fn device_fma_is_fused(gpu: &Gpu) -> Result<bool, EngineError> {
    let (x, y, z) = vectors();
    let n = x.len() as u32;
    let pipeline = gpu.pipeline(shaders::FMA_PROBE, &[])?;
    let (bx, by, bz) = (gpu.upload(&x)?, gpu.upload(&y)?, gpu.upload(&z)?);
    let out = gpu.output::<f32>(u64::from(n))?;
    let groups = [n.div_ceil(64), 1, 1];
    super::dispatch(
        gpu,
        "fma_probe",
        &pipeline,
        &[bx.as_bytes(), by.as_bytes(), bz.as_bytes(), out.as_bytes()],
        n,
        groups,
    )?;
    let got = gpu.download(&out)?;
    let fused = x.iter().zip(&y).zip(&z).map(|((x, y), z)| x.mul_add(*y, *z));
    Ok(got.iter().zip(fused).all(|(g, f)| g.to_bits() == f.to_bits()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_separate_the_two_classes() {
        let (x, y, z) = super::vectors();
        let differing =
            (0..x.len()).filter(|&i| x[i].mul_add(y[i], z[i]).to_bits() != (x[i] * y[i] + z[i]).to_bits()).count();
        assert!(differing >= 32, "only {differing} of {} vectors tell fused from unfused", x.len());
    }
}
