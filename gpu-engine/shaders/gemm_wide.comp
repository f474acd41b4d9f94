#version 450
// Deterministic GEMM for discrete GPUs: the same sums as gemm.comp, in the same order (every
// element of C accumulated in one invocation, in increasing k, from +0), so the same bits.
//
// Layout: 256 invocations own a 128x128 tile of C, 8x8 each, split as rows {4*ty .. 4*ty+3,
// 64+4*ty .. 64+4*ty+3} and the same for columns with tx: the shared-memory reads of a k step are
// four 16-byte loads per invocation, conflict-free, for 64 multiply-adds. A and B are staged in
// shared memory BK deep, and the next slice is fetched into registers
// while the current one is multiplied, so global-memory latency overlaps the arithmetic; with
// STAGES = 2 slices alternate between two shared buffers and each costs one barrier, not two.
//
// VEC (K and N multiples of 4, buffers 16-byte aligned) reads A and B 16 bytes at a time: a slice
// of A is one vec4 (4 consecutive k of one row) per invocation per 8 deep, written to shared
// memory transposed by 32 consecutive rows per warp (no bank conflicts), a slice of B one vec4 of
// 4 consecutive columns; each warp computes a 32x64 block of the tile (4x8 invocations), so its
// shared-memory reads of a k step touch 64 + 128 contiguous bytes; C is stored 16 bytes at a time.
// Only where the loads come from and which invocation owns which element change, not the sums.
//
// Registers only, no arrays: the 64 accumulators are 16 vec4 (row i, columns 0-3 and 4-7 of the
// invocation's eight), the prefetched slice is vec4s, and every loop over them (the k steps of a
// slice included) is written out by a macro. glslc runs at -O0 (build.rs), so an array here would
// reach the driver as an array indexed by a loop counter, and whether it lands in registers would
// depend on the driver unrolling the loop. NVIDIA's (580.159) did in one build and not in the next:
// with arrays, the fused class ran at 32 TFLOP/s on an H200 and at 6-14 on an H100 after unrelated
// changes to the module, and tiled64's unfused class at 19 and then 5; without, 37.8 fused on the
// H100 (bench/RESULTS.md). A test checks every GPU GEMM module for arrays in registers.
//
// build.rs compiles this file once per combination of GEMM_FUSED, GEMM_BK, GEMM_STAGES and
// GEMM_VEC (-D defines, `#if`), so each SPIR-V module holds only its own code path.
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;
#ifndef GEMM_FUSED
#define GEMM_FUSED 0 // 1: fma(), the fused class
#endif
#ifndef GEMM_BK
#define GEMM_BK 8 // depth of a staged slice: 8 or 16
#endif
#ifndef GEMM_STAGES
#define GEMM_STAGES 1 // 2: slices alternate between two buffers, one barrier each
#endif
#ifndef GEMM_VEC
#define GEMM_VEC 0 // 1: 16-byte loads and stores (see above)
#endif
const uint BK = GEMM_BK;

#if GEMM_VEC
layout(set = 0, binding = 0) readonly buffer MatA4 { vec4 a4[]; };
layout(set = 0, binding = 1) readonly buffer MatB4 { vec4 b4[]; };
layout(set = 0, binding = 2) writeonly buffer MatC4 { vec4 c4[]; };
#else
layout(set = 0, binding = 0) readonly buffer MatA { float a[]; };
layout(set = 0, binding = 1) readonly buffer MatB { float b[]; };
layout(set = 0, binding = 2) writeonly buffer MatC { float c[]; };
#endif
layout(push_constant) uniform Shape { uint M; uint N; uint K; } s;

const uint BM = 128u;
const uint BN = 128u;
const uint SLICE = BK * 32u; // vec4s per staged slice of A (and of B)

// As[base + kk * 32 + q] holds rows 4q .. 4q+3 of the tile at depth kk; Bs likewise holds columns.
shared vec4 As[GEMM_STAGES * SLICE];
shared vec4 Bs[GEMM_STAGES * SLICE];

// The next slice, in flight in registers: 128 * BK floats of A (and of B) over 256 invocations is
// BK / 2 floats each, one vec4 per 8 deep.
vec4 pa0, pb0;
#if GEMM_BK == 16
vec4 pa1, pb1;
#endif

#if GEMM_VEC
// A: v = tid + 256 l covers 128 rows x BK/4 quads: row v % 128, quad v / 128. B: BK rows x 32
// quads: row v / 32, quad v % 32. K and N are multiples of 4, so a quad is wholly inside or outside.
vec4 load_a(uint v, uint row0, uint k0) {
    uint gr = row0 + v % 128u;
    uint gk = k0 + 4u * (v / 128u);
    return (gr < s.M && gk < s.K) ? a4[(gr * s.K + gk) / 4u] : vec4(0.0);
}
vec4 load_b(uint v, uint col0, uint k0) {
    uint gk = k0 + v / 32u;
    uint gc = col0 + 4u * (v % 32u);
    return (gk < s.K && gc < s.N) ? b4[(gk * s.N + gc) / 4u] : vec4(0.0);
}
void put(uint v, uint base, vec4 qa, vec4 qb) {
    uint r = v % 128u;
    uint at = base + 4u * (v / 128u) * 32u + r / 4u;
    As[at][r % 4u] = qa.x;
    As[at + 32u][r % 4u] = qa.y;
    As[at + 64u][r % 4u] = qa.z;
    As[at + 96u][r % 4u] = qa.w;
    Bs[base + (v / 32u) * 32u + v % 32u] = qb;
}
void fetch(uint tid, uint row0, uint col0, uint k0) {
    pa0 = load_a(tid, row0, k0);
    pb0 = load_b(tid, col0, k0);
#if GEMM_BK == 16
    pa1 = load_a(tid + 256u, row0, k0);
    pb1 = load_b(tid + 256u, col0, k0);
#endif
}
void stage(uint tid, uint base) {
    put(tid, base, pa0, pb0);
#if GEMM_BK == 16
    put(tid + 256u, base, pa1, pb1);
#endif
}
#else
// Float idx = tid + 256 l: A[row0 + idx / BK][k0 + idx % BK] (consecutive invocations read
// consecutive k), B[k0 + idx / 128][col0 + idx % 128]; zeros outside.
float load_a(uint idx, uint row0, uint k0) {
    uint gr = row0 + idx / BK;
    uint gk = k0 + idx % BK;
    return (gr < s.M && gk < s.K) ? a[gr * s.K + gk] : 0.0;
}
float load_b(uint idx, uint col0, uint k0) {
    uint gk = k0 + idx / BN;
    uint gc = col0 + idx % BN;
    return (gk < s.K && gc < s.N) ? b[gk * s.N + gc] : 0.0;
}
void put(uint idx, uint base, float xa, float xb) {
    uint r = idx / BK;
    As[base + (idx % BK) * 32u + r / 4u][r % 4u] = xa;
    uint cc = idx % BN;
    Bs[base + (idx / BN) * 32u + cc / 4u][cc % 4u] = xb;
}
vec4 load_a4(uint idx, uint row0, uint k0) {
    return vec4(load_a(idx, row0, k0), load_a(idx + 256u, row0, k0), load_a(idx + 512u, row0, k0),
                load_a(idx + 768u, row0, k0));
}
vec4 load_b4(uint idx, uint col0, uint k0) {
    return vec4(load_b(idx, col0, k0), load_b(idx + 256u, col0, k0), load_b(idx + 512u, col0, k0),
                load_b(idx + 768u, col0, k0));
}
void put4(uint idx, uint base, vec4 qa, vec4 qb) {
    put(idx, base, qa.x, qb.x);
    put(idx + 256u, base, qa.y, qb.y);
    put(idx + 512u, base, qa.z, qb.z);
    put(idx + 768u, base, qa.w, qb.w);
}
void fetch(uint tid, uint row0, uint col0, uint k0) {
    pa0 = load_a4(tid, row0, k0);
    pb0 = load_b4(tid, col0, k0);
#if GEMM_BK == 16
    pa1 = load_a4(tid + 1024u, row0, k0);
    pb1 = load_b4(tid + 1024u, col0, k0);
#endif
}
void stage(uint tid, uint base) {
    put4(tid, base, pa0, pb0);
#if GEMM_BK == 16
    put4(tid + 1024u, base, pa1, pb1);
#endif
}
#endif

// One k step of accumulator row `i` (columns 0-3 in c<i>0, 4-7 in c<i>1): element by element
// acc + a * b, as one fused op or as a multiply then an add, each correctly rounded.
#if GEMM_FUSED
#define MAC(acc, x, q) acc = fma(vec4(x), q, acc)
#else
#define MAC(acc, x, q) { precise vec4 p = vec4(x) * q; acc = acc + p; }
#endif
#define ROW(i, x) MAC(c##i##0, x, b0); MAC(c##i##1, x, b1)
// Depth kk of the staged slice: rows 4ty.. and 64+4ty.. of A, columns 4tx.. and 64+4tx.. of B.
#define STEP(kk) { \
        vec4 a0 = As[base + (kk) * 32u + ty]; \
        vec4 a1 = As[base + (kk) * 32u + 16u + ty]; \
        vec4 b0 = Bs[base + (kk) * 32u + tx]; \
        vec4 b1 = Bs[base + (kk) * 32u + 16u + tx]; \
        ROW(0, a0.x); ROW(1, a0.y); ROW(2, a0.z); ROW(3, a0.w); \
        ROW(4, a1.x); ROW(5, a1.y); ROW(6, a1.z); ROW(7, a1.w); \
    }

#if GEMM_VEC
#define STORE(row, h0, h1) { \
    uint gr = (row); \
    if (gr < s.M) { \
        uint gc = col0 + 4u * tx; \
        if (gc < s.N) c4[(gr * s.N + gc) / 4u] = vec4(canon(h0.x), canon(h0.y), canon(h0.z), canon(h0.w)); \
        if (gc + 64u < s.N) c4[(gr * s.N + gc + 64u) / 4u] = vec4(canon(h1.x), canon(h1.y), canon(h1.z), canon(h1.w)); \
    } }
#else
#define STORE1(gr, gc, x) if ((gc) < s.N) c[(gr) * s.N + (gc)] = canon(x)
#define STORE(row, h0, h1) { \
    uint gr = (row); \
    if (gr < s.M) { \
        uint gc = col0 + 4u * tx; \
        STORE1(gr, gc, h0.x); STORE1(gr, gc + 1u, h0.y); STORE1(gr, gc + 2u, h0.z); STORE1(gr, gc + 3u, h0.w); \
        STORE1(gr, gc + 64u, h1.x); STORE1(gr, gc + 65u, h1.y); STORE1(gr, gc + 66u, h1.z); STORE1(gr, gc + 67u, h1.w); \
    } }
#endif

void main() {
    uint tid = gl_LocalInvocationID.x;
    // Without VEC a warp owns two rows of invocations (2x16); with it a 4x8 block.
#if GEMM_VEC
    uint warp = tid / 32u;
    uint lane = tid % 32u;
    uint tx = 8u * (warp % 2u) + lane % 8u;
    uint ty = 4u * (warp / 2u) + lane / 8u;
#else
    uint tx = tid % 16u;
    uint ty = tid / 16u;
#endif
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    precise vec4 c00 = vec4(0.0), c01 = vec4(0.0), c10 = vec4(0.0), c11 = vec4(0.0);
    precise vec4 c20 = vec4(0.0), c21 = vec4(0.0), c30 = vec4(0.0), c31 = vec4(0.0);
    precise vec4 c40 = vec4(0.0), c41 = vec4(0.0), c50 = vec4(0.0), c51 = vec4(0.0);
    precise vec4 c60 = vec4(0.0), c61 = vec4(0.0), c70 = vec4(0.0), c71 = vec4(0.0);

    fetch(tid, row0, col0, 0u);
    stage(tid, 0u);
    barrier();
    uint base = 0u;
    for (uint k0 = 0u; k0 < s.K; k0 += BK) {
        uint k1 = k0 + BK;
        if (k1 < s.K) fetch(tid, row0, col0, k1); // in flight while this slice is multiplied
        STEP(0u) STEP(1u) STEP(2u) STEP(3u) STEP(4u) STEP(5u) STEP(6u) STEP(7u)
#if GEMM_BK == 16
        STEP(8u) STEP(9u) STEP(10u) STEP(11u) STEP(12u) STEP(13u) STEP(14u) STEP(15u)
#endif
#if GEMM_STAGES == 2
        // The other buffer was last read before the previous barrier: fill it, then one barrier.
        if (k1 < s.K) stage(tid, SLICE - base);
        barrier();
        base = SLICE - base;
#else
        barrier();
        if (k1 < s.K) stage(tid, 0u);
        barrier();
#endif
    }

    uint r0 = row0 + 4u * ty;
    STORE(r0, c00, c01) STORE(r0 + 1u, c10, c11) STORE(r0 + 2u, c20, c21) STORE(r0 + 3u, c30, c31)
    uint r4 = row0 + 64u + 4u * ty;
    STORE(r4, c40, c41) STORE(r4 + 1u, c50, c51) STORE(r4 + 2u, c60, c61) STORE(r4 + 3u, c70, c71)
}
