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
// build.rs compiles this file once per combination of GEMM_FUSED, GEMM_BK, GEMM_STAGES and
// GEMM_VEC (-D defines), so each SPIR-V module holds only its own code path. With the four as
// specialization constants instead, NVIDIA's driver (580.159) built slow fused kernels as soon as
// the module held more than one path: adding a padding constant (H200) and the VEC constant (H100)
// each took every wide layout's fused rate from 32 to 6-14 TFLOP/s (bench/RESULTS.md).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
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
const uint LOADS = BK / 2u; // floats of A (and of B) each invocation stages per slice: 128 * BK / 256
const uint SLICE = BK * 32u; // vec4s per staged slice of A (and of B)

// As[base + kk * 32 + q] holds rows 4q .. 4q+3 of the tile at depth kk; Bs likewise holds columns.
shared vec4 As[GEMM_STAGES * SLICE];
shared vec4 Bs[GEMM_STAGES * SLICE];

#if GEMM_VEC
const uint VLOADS = BK / 8u; // vec4s of A (and of B) each invocation stages per slice
vec4 pa4[VLOADS];
vec4 pb4[VLOADS];
#else
float pa[LOADS];
float pb[LOADS];
#endif

// Fetches slice k0 into registers: A[row0 + idx / BK][k0 + idx % BK] for idx = tid + 256 l
// (consecutive invocations read consecutive k), B[k0 + idx / 128][col0 + idx % 128]; zeros outside.
void fetch(uint tid, uint row0, uint col0, uint k0) {
#if GEMM_VEC
    {
        // A: v = tid + 256 l covers 128 rows x BK/4 quads: row v % 128, quad v / 128.
        // B: BK rows x 32 quads: row v / 32, quad v % 32. K and N are multiples of 4, so a quad
        // is wholly inside or wholly outside.
        [[unroll]] for (uint l = 0u; l < VLOADS; l++) {
            uint v = tid + l * 256u;
            uint gr = row0 + v % 128u;
            uint gk = k0 + 4u * (v / 128u);
            pa4[l] = (gr < s.M && gk < s.K) ? a4[(gr * s.K + gk) / 4u] : vec4(0.0);
            uint gk2 = k0 + v / 32u;
            uint gc = col0 + 4u * (v % 32u);
            pb4[l] = (gk2 < s.K && gc < s.N) ? b4[(gk2 * s.N + gc) / 4u] : vec4(0.0);
        }
    }
#else
    [[unroll]] for (uint l = 0u; l < LOADS; l++) {
        uint idx = tid + l * 256u;
        uint gr = row0 + idx / BK;
        uint gk = k0 + idx % BK;
        pa[l] = (gr < s.M && gk < s.K) ? a[gr * s.K + gk] : 0.0;
        uint gk2 = k0 + idx / BN;
        uint gc = col0 + idx % BN;
        pb[l] = (gk2 < s.K && gc < s.N) ? b[gk2 * s.N + gc] : 0.0;
    }
#endif
}

void stage(uint tid, uint base) {
#if GEMM_VEC
    [[unroll]] for (uint l = 0u; l < VLOADS; l++) {
        uint v = tid + l * 256u;
        uint r = v % 128u;
        uint q = v / 128u;
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            As[base + (4u * q + i) * 32u + r / 4u][r % 4u] = pa4[l][i];
        Bs[base + (v / 32u) * 32u + v % 32u] = pb4[l];
    }
#else
    [[unroll]] for (uint l = 0u; l < LOADS; l++) {
        uint idx = tid + l * 256u;
        uint r = idx / BK;
        uint kk = idx % BK;
        As[base + kk * 32u + r / 4u][r % 4u] = pa[l];
        uint kb = idx / BN;
        uint cc = idx % BN;
        Bs[base + kb * 32u + cc / 4u][cc % 4u] = pb[l];
    }
#endif
}

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

    precise float acc[8][8];
    [[unroll]] for (uint i = 0u; i < 8u; i++)
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            acc[i][j] = 0.0;

    fetch(tid, row0, col0, 0u);
    stage(tid, 0u);
    barrier();
    uint base = 0u;
    for (uint k0 = 0u; k0 < s.K; k0 += BK) {
        uint k1 = k0 + BK;
        if (k1 < s.K) fetch(tid, row0, col0, k1); // in flight while this slice is multiplied
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            vec4 a0 = As[base + kk * 32u + ty];
            vec4 a1 = As[base + kk * 32u + 16u + ty];
            vec4 b0 = Bs[base + kk * 32u + tx];
            vec4 b1 = Bs[base + kk * 32u + 16u + tx];
            float av[8] = float[8](a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w);
            float bv[8] = float[8](b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w);
            [[unroll]] for (uint i = 0u; i < 8u; i++) {
                [[unroll]] for (uint j = 0u; j < 8u; j++) {
#if GEMM_FUSED
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
#else
                    precise float p = av[i] * bv[j];
                    acc[i][j] = acc[i][j] + p;
#endif
                }
            }
        }
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

    [[unroll]] for (uint i = 0u; i < 8u; i++) {
        uint gr = row0 + (i < 4u ? 4u * ty + i : 64u + 4u * ty + (i - 4u));
        if (gr >= s.M) continue;
#if GEMM_VEC
        [[unroll]] for (uint h = 0u; h < 2u; h++) {
            uint gc = col0 + 64u * h + 4u * tx;
            if (gc < s.N) {
                uint j = 4u * h;
                c4[(gr * s.N + gc) / 4u] =
                    vec4(canon(acc[i][j]), canon(acc[i][j + 1u]), canon(acc[i][j + 2u]), canon(acc[i][j + 3u]));
            }
        }
#else
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            uint gc = col0 + (j < 4u ? 4u * tx + j : 64u + 4u * tx + (j - 4u));
            if (gc < s.N) c[gr * s.N + gc] = canon(acc[i][j]);
        }
#endif
    }
}
