//! Reproducible test data from a seed: the same values on every machine, for the determinism
//! suite, the benchmarks and the tests.

/// SplitMix64: tiny, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 random bits.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Uniform values in [-1, 1).
pub fn uniform(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|_| rng.range(-1.0, 1.0)).collect()
}

/// A hostile mix: zeros, negatives, values near 1, large (up to 2^20) and tiny (down to 2^-40,
/// below the canonical minimum) magnitudes, and denormals. Canonicalized by the engine on use.
pub fn mixed(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| match rng.below(10) {
            0 => 0.0,
            1 => -rng.unit(),
            2 => rng.range(-1.0, 1.0) * (2.0f32).powi(20),
            3 => rng.range(-1.0, 1.0) * (2.0f32).powi(-36),
            4 => f32::from_bits(1 + rng.below(0x007f_ffff) as u32), // a denormal
            5 => rng.range(-1.0, 1.0) * (2.0f32).powi(-20),
            _ => rng.range(-4.0, 4.0),
        })
        .collect()
}
