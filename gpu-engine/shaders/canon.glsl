// The canonical domain of the verifiable tier (see gpu-engine/src/numeric.rs for the proof sketch).
//
// Every value stored by a kernel is canonical: +-0, a finite float with |x| >= 2^-37, +-inf, or the
// one quiet NaN 0x7fc00000. Inside that domain, products and sums of canonical values are integer
// multiples of 2^-120, so no `+ - *` can produce a denormal: the H100's flush-to-zero and
// llvmpipe's gradual underflow never get a chance to disagree. All tests are on bits, which every
// driver computes exactly.
const uint CANON_MIN_BITS = 0x2d000000u; // 2^-37
const uint CANON_NAN_BITS = 0x7fc00000u;

float canon(float x) {
    uint u = floatBitsToUint(x);
    uint mag = u & 0x7fffffffu;
    if (mag > 0x7f800000u) return uintBitsToFloat(CANON_NAN_BITS);
    if (mag < CANON_MIN_BITS) return 0.0;
    return x;
}
