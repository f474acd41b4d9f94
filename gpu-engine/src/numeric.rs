//! The numeric contract of the verifiable tier.
//!
//! # Reproducibility classes
//! `+ - *` are correctly rounded on every conformant Vulkan driver; what differs between drivers
//! is whether a multiply-add is fused. [`ReproClass::Unfused`] marks every float op
//! NoContraction (GLSL `precise`): llvmpipe, NVIDIA and a plain Rust loop agree bit for bit.
//! [`ReproClass::Fused`] uses `fma()`: only devices whose fma really is fused reproduce it, and
//! they match Rust's `f32::mul_add`. A device proves which it supports at start-up
//! ([`crate::Gpu::supports`]); a job pins the class it needs.
//!
//! # The canonical domain
//! Drivers disagree on denormals (the H100 flushes them, llvmpipe keeps them) and neither lets us
//! choose. Instead of flushing after every op, every kernel stores only canonical values (see
//! [`canonicalize`]): +-0, |x| >= 2^-37, +-inf, or one quiet NaN. A canonical finite nonzero value
//! is a multiple of ulp(2^-37) = 2^-60, so an exact product of two of them is a multiple of 2^-120,
//! and every sum of such products, rounded or not, stays a multiple of 2^-120 (rounding lands
//! either on the exact value or on a coarser power-of-two grid). A nonzero multiple of 2^-120 is
//! far above the smallest normal, 2^-126: inside a kernel, no `+ - *` and no fused multiply-add of
//! canonical values can ever produce a denormal, on any device. The price is that inputs with
//! 0 < |x| < 2^-37 (about 7.3e-12) are read as zero, which no fp32 workload notices.

/// How multiply-adds round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReproClass {
    /// Multiply, round, add, round. Every conformant Vulkan driver.
    Unfused,
    /// One rounding per multiply-add (`fma`). Devices whose fma is truly fused.
    Fused,
}

impl ReproClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ReproClass::Unfused => "unfused",
            ReproClass::Fused => "fused",
        }
    }

    /// `acc + x * y` in this class.
    #[inline(always)]
    pub fn mul_add(self, x: f32, y: f32, acc: f32) -> f32 {
        match self {
            ReproClass::Unfused => acc + x * y,
            ReproClass::Fused => x.mul_add(y, acc),
        }
    }
}

impl std::str::FromStr for ReproClass {
    type Err = UnknownClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unfused" => Ok(ReproClass::Unfused),
            "fused" => Ok(ReproClass::Fused),
            other => Err(UnknownClass(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown reproducibility class {0:?}: expected \"unfused\" or \"fused\"")]
pub struct UnknownClass(pub String);

/// Bits of 2^-37, the smallest canonical magnitude.
pub const CANON_MIN_BITS: u32 = 0x2d00_0000;
/// The one NaN the verifiable tier stores.
pub const CANON_NAN_BITS: u32 = 0x7fc0_0000;

/// Maps a value into the canonical domain, exactly as `canon()` in `shaders/canon.glsl` does.
#[inline(always)]
pub fn canonicalize(x: f32) -> f32 {
    let mag = x.to_bits() & 0x7fff_ffff;
    if mag > 0x7f80_0000 {
        f32::from_bits(CANON_NAN_BITS)
    } else if mag < CANON_MIN_BITS {
        0.0
    } else {
        x
    }
}

/// Canonicalizes a buffer in place: what the engine does to every input before upload.
pub fn canonicalize_all(values: &mut [f32]) {
    for v in values {
        *v = canonicalize(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_values_and_denormals_become_positive_zero() {
        for x in [f32::MIN_POSITIVE, -f32::MIN_POSITIVE / 4.0, 1e-12, -1e-12, -0.0] {
            assert_eq!(canonicalize(x).to_bits(), 0, "{x:e} must canonicalize to +0");
        }
        let smallest = f32::from_bits(CANON_MIN_BITS);
        assert_eq!(canonicalize(smallest), smallest, "2^-37 itself is canonical");
        assert_eq!(canonicalize(-smallest), -smallest);
    }

    #[test]
    fn every_nan_becomes_the_canonical_nan() {
        for bits in [0x7fc0_0001, 0xffc0_0000, 0x7f80_0001, 0xffff_ffff] {
            assert_eq!(canonicalize(f32::from_bits(bits)).to_bits(), CANON_NAN_BITS);
        }
        assert_eq!(canonicalize(f32::INFINITY), f32::INFINITY, "infinities are kept");
    }

    #[test]
    fn products_of_canonical_values_never_underflow() {
        // The smallest canonical magnitudes, multiplied and cancelled, stay normal or zero.
        let s = f32::from_bits(CANON_MIN_BITS);
        let t = f32::from_bits(CANON_MIN_BITS + 1);
        let p = s * t;
        assert!(p.is_normal(), "{p:e}");
        let r = t.mul_add(t, -(t * t));
        assert!(r == 0.0 || r.is_normal(), "fused rounding error {r:e} must not be denormal");
    }
}
