// Deterministic math from + - * and exact bit operations only (determinism.md: built-in exp,
// tanh, inversesqrt and division differ between drivers). Every float op is precise; the Rust
// twin is gpu-engine/src/detmath.rs, op for op. Results are not correctly rounded, but they are
// the same bits on every device. Inputs are canonical (see canon.glsl).

float det_exp(float x) {
    // NaN in, the canonical NaN out (int(NaN) below is undefined in GLSL: drivers differ).
    if ((floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u) return uintBitsToFloat(0x7fc00000u);
    if (x > 88.0) return uintBitsToFloat(0x7f800000u);
    if (x < -87.0) return 0.0;
    precise float t = x * 1.44269504;       // x / ln 2
    precise float n = floor(t + 0.5);       // nearest integer, exact
    precise float r1 = x - n * 0.693145752; // Cody-Waite: ln 2 split in a short high part
    precise float r = r1 - n * 1.42860677e-6; // and the rest
    precise float p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int e = int(n);
    if (e < -100) return 0.0; // p * 2^e stays normal: no denormal for a device to flush
    precise float scaled = p * uintBitsToFloat(uint(e + 127) << 23);
    return scaled;
}

// 1 / x for finite nonzero x: an integer first guess and three Newton steps.
float det_recip(float x) {
    uint u = floatBitsToUint(x);
    uint sign = u & 0x80000000u;
    precise float ax = uintBitsToFloat(u & 0x7fffffffu);
    precise float y = uintBitsToFloat(0x7ef311c3u - (u & 0x7fffffffu));
    for (int i = 0; i < 3; i++) {
        precise float e = 2.0 - ax * y;
        y = y * e;
    }
    return uintBitsToFloat(floatBitsToUint(y) | sign);
}

// 1 / sqrt(x) for finite x > 0.
float det_rsqrt(float x) {
    precise float y = uintBitsToFloat(0x5f375a86u - (floatBitsToUint(x) >> 1));
    precise float h = 0.5 * x;
    for (int i = 0; i < 3; i++) {
        precise float e = 1.5 - h * y * y;
        y = y * e;
    }
    return y;
}

float det_tanh(float x) {
    if (x > 9.0) return 1.0;
    if (x < -9.0) return -1.0;
    precise float e = det_exp(2.0 * x);
    precise float num = e - 1.0;
    precise float den = e + 1.0;
    precise float t = num * det_recip(den);
    return t;
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd extension.
float det_erf(float x) {
    precise float ax = abs(x);
    precise float t = det_recip(1.0 + 0.3275911 * ax);
    precise float p = 1.061405429;
    p = p * t - 1.453152027;
    p = p * t + 1.421413741;
    p = p * t - 0.284496736;
    p = p * t + 0.254829592;
    p = p * t;
    precise float y = 1.0 - p * det_exp(-(ax * ax));
    return x < 0.0 ? -y : y;
}

// GELU as GPT-2 computes it: x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2.
float det_gelu_tanh(float x) {
    precise float c = 0.044715 * x * x * x;
    precise float inner = x + c;
    precise float g = 0.5 * x * (1.0 + det_tanh(0.797884561 * inner));
    return g;
}

// SiLU (Llama's MLP): x / (1 + exp(-x)) as x * recip(1 + exp(-x)); below -80 the result is under
// the canonical range and is +0 (exp(-x) would overflow recip's domain).
float det_silu(float x) {
    if (x < -80.0) return 0.0;
    precise float d = 1.0 + det_exp(-x);
    precise float r = x * det_recip(d);
    return r;
}

// GELU as BERT computes it: x * (1 + erf(x / sqrt 2)) / 2.
float det_gelu(float x) {
    precise float g = 0.5 * x * (1.0 + det_erf(x * 0.707106781));
    return g;
}

// The derivative of det_gelu's function, for the backward pass:
//   (1 + erf(x / sqrt 2)) / 2 + x * exp(-x^2 / 2) / sqrt(2 pi)
// with every product's inputs canonical.
float det_gelu_grad(float x) {
    precise float u = x * 0.707106781;
    precise float cdf = 0.5 * (1.0 + det_erf(canon(u)));
    precise float x2 = x * x;
    precise float half_x2 = canon(x2) * -0.5;
    precise float pdf = det_exp(canon(half_x2)) * 0.398942280;
    precise float xp = x * canon(pdf);
    precise float d = canon(cdf) + canon(xp);
    return d;
}
