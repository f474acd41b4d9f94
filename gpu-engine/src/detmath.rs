//! The CPU twin of `shaders/detmath.glsl`: the same operations in the same order, so that the
//! GPU and the CPU agree bit for bit. Rust never fuses `a * b + c`, like `precise` GLSL.
//! The literals are written exactly as in the GLSL source, not as `std::f32::consts`.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

#[inline]
fn bits(x: f32) -> u32 {
    x.to_bits()
}

#[inline]
fn from(u: u32) -> f32 {
    f32::from_bits(u)
}

pub fn exp(x: f32) -> f32 {
    // NaN in, the canonical NaN out (as the GLSL, where converting NaN to an integer is undefined).
    if bits(x) & 0x7fff_ffff > 0x7f80_0000 {
        return from(0x7fc0_0000);
    }
    if x > 88.0 {
        return f32::INFINITY;
    }
    if x < -87.0 {
        return 0.0;
    }
    let t = x * 1.442_695_04;
    let n = (t + 0.5).floor();
    let r1 = x - n * 0.693_145_752;
    let r = r1 - n * 1.428_606_77e-6;
    let mut p = 1.0f32 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let e = n as i32;
    // p * 2^e stays normal: no denormal for a device to flush.
    if e < -100 {
        return 0.0;
    }
    p * from(((e + 127) as u32) << 23)
}

pub fn recip(x: f32) -> f32 {
    let u = bits(x);
    let sign = u & 0x8000_0000;
    let ax = from(u & 0x7fff_ffff);
    let mut y = from(0x7ef3_11c3u32.wrapping_sub(u & 0x7fff_ffff));
    for _ in 0..3 {
        let e = 2.0 - ax * y;
        y *= e;
    }
    from(bits(y) | sign)
}

pub fn rsqrt(x: f32) -> f32 {
    let mut y = from(0x5f37_5a86u32.wrapping_sub(bits(x) >> 1));
    let h = 0.5 * x;
    for _ in 0..3 {
        let e = 1.5 - h * y * y;
        y *= e;
    }
    y
}

pub fn tanh(x: f32) -> f32 {
    if x > 9.0 {
        return 1.0;
    }
    if x < -9.0 {
        return -1.0;
    }
    let e = exp(2.0 * x);
    let num = e - 1.0;
    let den = e + 1.0;
    num * recip(den)
}

pub fn erf(x: f32) -> f32 {
    let ax = x.abs();
    let t = recip(1.0 + 0.327_591_1 * ax);
    let mut p = 1.061_405_429f32;
    p = p * t - 1.453_152_027;
    p = p * t + 1.421_413_741;
    p = p * t - 0.284_496_736;
    p = p * t + 0.254_829_592;
    p *= t;
    let y = 1.0 - p * exp(-(ax * ax));
    if x < 0.0 { -y } else { y }
}

pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * 0.707_106_781))
}

/// GELU as GPT-2 computes it (PyTorch's `gelu(approximate="tanh")`):
/// `x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2`.
pub fn gelu_tanh(x: f32) -> f32 {
    let inner = x + 0.044_715 * x * x * x;
    0.5 * x * (1.0 + tanh(0.797_884_561 * inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        ((a as f64) - b).abs() / b.abs().max(1e-30)
    }

    #[test]
    fn exp_is_accurate_across_its_range() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            if x > -69.0 {
                assert!(rel(exp(x), want) < 3e-6, "exp({x}) = {} vs {want}", exp(x));
            } else {
                assert!(exp(x) == 0.0 || exp(x).is_normal(), "exp({x}) must never be denormal");
            }
            x += 0.173;
        }
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(-100.0), 0.0);
    }

    #[test]
    fn recip_and_rsqrt_are_accurate() {
        for x in [1e-10f32, 3.7e-5, 0.1, 1.0, 1.5, 7.0, 1234.5, 6.5e10, -2.5, -1e-8] {
            assert!(rel(recip(x), 1.0 / x as f64) < 3e-7, "recip({x}) = {}", recip(x));
            if x > 0.0 {
                assert!(rel(rsqrt(x), 1.0 / (x as f64).sqrt()) < 3e-7, "rsqrt({x}) = {}", rsqrt(x));
            }
        }
    }

    #[test]
    fn tanh_erf_gelu_are_accurate() {
        let mut x = -6.0f32;
        while x < 6.0 {
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 2e-6, "tanh({x})");
            let gelu_ref = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / 2f64.sqrt()));
            assert!(
                (gelu(x) as f64 - gelu_ref).abs() < 2e-6 * (1.0 + x.abs() as f64),
                "gelu({x}) = {} vs {gelu_ref}",
                gelu(x)
            );
            let xd = x as f64;
            let tanh_ref =
                0.5 * xd * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!(
                (gelu_tanh(x) as f64 - tanh_ref).abs() < 2e-6 * (1.0 + x.abs() as f64),
                "gelu_tanh({x}) = {} vs {tanh_ref}",
                gelu_tanh(x)
            );
            x += 0.0317;
        }
    }

    /// erf by its series/continued fraction in f64, as a reference only.
    fn libm_erf(x: f64) -> f64 {
        // Abramowitz & Stegun 7.1.28-quality is not enough for a reference: integrate instead.
        let n = 20_000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(i as f64 * h);
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }
}
