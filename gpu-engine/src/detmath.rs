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

/// The derivative of [`gelu`]'s function, `(1 + erf(x / sqrt 2)) / 2 + x exp(-x^2 / 2) / sqrt(2 pi)`,
/// for the backward pass (`det_gelu_grad` in detmath.glsl).
pub fn gelu_grad(x: f32) -> f32 {
    use crate::numeric::canonicalize as c;
    let cdf = 0.5 * (1.0 + erf(c(x * 0.707_106_781)));
    let half_x2 = c(x * x) * -0.5;
    let pdf = exp(c(half_x2)) * 0.398_942_280;
    c(cdf) + c(x * c(pdf))
}

/// GELU as GPT-2 computes it (PyTorch's `gelu(approximate="tanh")`):
/// `x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2`.
pub fn gelu_tanh(x: f32) -> f32 {
    let inner = x + 0.044_715 * x * x * x;
    0.5 * x * (1.0 + tanh(0.797_884_561 * inner))
}

/// SiLU (Llama's MLP): `x / (1 + exp(-x))` as `x * recip(1 + exp(-x))`; +0 below -80 (under the
/// canonical range, where `exp(-x)` would overflow `recip`'s domain).
pub fn silu(x: f32) -> f32 {
    if x < -80.0 {
        return 0.0;
    }
    x * recip(1.0 + exp(-x))
}

// f64 functions for tables computed once on the host (a model's rotary embedding): the same
// bits on every machine, from IEEE additions, multiplications and divisions only (the platform's
// libm differs between systems). Accurate to a few units in the last place of f64, far below the
// f32 the tables are rounded to.

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

/// `2^n` for `n` in the normal range.
fn pow2_64(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// `e^x` for `|x| <= 700`.
pub fn exp64(x: f64) -> f64 {
    assert!(x.abs() <= 700.0, "exp64 is for |x| <= 700, not {x}");
    let n = (x * (1.0 / LN2_HI)).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor to degree 16: |r| <= 0.35, the first term left out is below 1e-20.
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..=16 {
        term = term * r / k as f64;
        sum += term;
    }
    sum * pow2_64(n as i64)
}

/// The natural logarithm of a positive normal `x`.
pub fn ln64(x: f64) -> f64 {
    assert!(x.is_normal() && x > 0.0, "ln64 is for positive normal numbers, not {x}");
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172: the series to s^41.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut power = s;
    let mut sum = 0.0;
    for k in 0..21 {
        sum += power / (2 * k + 1) as f64;
        power *= s2;
    }
    let e = e as f64;
    (e * LN2_HI + 2.0 * sum) + e * LN2_LO
}

/// `x^y` for a positive normal `x`, as `e^(y ln x)`.
pub fn pow64(x: f64, y: f64) -> f64 {
    exp64(y * ln64(x))
}

/// `(sin a, cos a)` for `|a| <= 2^20`.
pub fn sin_cos64(a: f64) -> (f64, f64) {
    assert!(a.abs() <= (1u64 << 20) as f64, "sin_cos64 is for |a| <= 2^20, not {a}");
    // pi/2 in three parts of 33 bits (fdlibm's): k * part is exact for |k| < 2^20.
    const PIO2_1: f64 = 1.570_796_326_734_125_614_17;
    const PIO2_2: f64 = 6.077_100_506_303_965_976_60e-11;
    const PIO2_3: f64 = 2.022_266_248_711_166_455_80e-21;
    const PIO2_3T: f64 = 8.478_427_660_368_899_569_97e-32;
    let k = (a * std::f64::consts::FRAC_2_PI).round();
    let r = ((a - k * PIO2_1) - k * PIO2_2) - k * PIO2_3 - k * PIO2_3T;
    // Taylor to degree 21 on |r| <= pi/4 + a little: the first term left out is below 1e-21.
    let r2 = r * r;
    let (mut s_term, mut s) = (r, r);
    let (mut c_term, mut c) = (1.0, 1.0);
    for k in 1..=10 {
        let k = k as f64;
        s_term = -s_term * r2 / ((2.0 * k) * (2.0 * k + 1.0));
        s += s_term;
        c_term = -c_term * r2 / ((2.0 * k - 1.0) * (2.0 * k));
        c += c_term;
    }
    match (k as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_f64_table_functions_agree_with_the_platforms() {
        for &x in &[1e-300, 1e-5, 0.5, 1.0, 1.5, 2.0, 10.0, 10_000.0, 500_000.0, 1e300] {
            assert!((ln64(x) - x.ln()).abs() <= 2e-15 * x.ln().abs().max(1.0), "ln {x}: {} vs {}", ln64(x), x.ln());
        }
        for &x in &[-700.0, -20.0, -1.0, -1e-9, 0.0, 0.3, 1.0, 13.8, 100.0, 700.0] {
            assert!(((exp64(x) - x.exp()) / x.exp()).abs() <= 2e-15, "exp {x}: {} vs {}", exp64(x), x.exp());
        }
        for &(x, y) in &[(10_000.0f64, 0.125f64), (500_000.0, 0.984375), (1e6, 0.5), (2.0, -3.0)] {
            assert!(((pow64(x, y) - x.powf(y)) / x.powf(y)).abs() <= 1e-14, "pow {x} {y}");
        }
        let mut a = 0.0f64;
        while a < 200_000.0 {
            let (s, c) = sin_cos64(a);
            assert!((s - a.sin()).abs() <= 1e-14 && (c - a.cos()).abs() <= 1e-14, "sin_cos {a}: {s} {c}");
            a = a * 1.37 + 0.113;
        }
        assert_eq!(sin_cos64(0.0), (0.0, 1.0));
    }

    #[test]
    fn silu_is_accurate_and_finite_across_its_range() {
        let mut x = -100.0f32;
        while x < 100.0 {
            let want = x as f64 / (1.0 + (-(x as f64)).exp());
            let got = silu(x);
            assert!(got.is_finite(), "silu({x})");
            assert!((got as f64 - want).abs() <= 1e-5 * want.abs().max(1e-6), "silu({x}) = {got} vs {want}");
            x += 0.37;
        }
        assert!(silu(f32::NAN).is_nan());
    }

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
