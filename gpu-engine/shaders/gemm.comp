#version 450
// Deterministic tiled GEMM: C[M,N] = A[M,K] * B[K,N], row-major fp32.
//
// Every element of C is accumulated in one invocation, in increasing k, starting from +0:
//   unfused class: acc = acc + A[i,k] * B[k,j]   (both ops NoContraction)
//   fused class:   acc = fma(A[i,k], B[k,j], acc)
// so the result depends on neither the tile sizes nor the device. K is padded with zeros to the
// tile depth; 0 * 0 = +0 and acc + 0 = acc, so the padding is exact.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;
layout(constant_id = 0) const bool FUSED = false;

layout(set = 0, binding = 0) readonly buffer MatA { float a[]; };
layout(set = 0, binding = 1) readonly buffer MatB { float b[]; };
layout(set = 0, binding = 2) writeonly buffer MatC { float c[]; };
layout(push_constant) uniform Shape { uint M; uint N; uint K; } s;

const uint BM = 64;
const uint BN = 64;
const uint BK = 16;
// Each invocation owns rows ty + 16 i and columns tx + 16 j of the tile, i, j < 4.

shared float As[BK][BM];
shared float Bs[BK][BN];

// Row gr of C from column gc on, every 16th column: the four elements one invocation owns.
void store(uint gr, uint gc, vec4 v) {
    if (gr >= s.M) return;
    if (gc < s.N) c[gr * s.N + gc] = canon(v.x);
    if (gc + 16u < s.N) c[gr * s.N + gc + 16u] = canon(v.y);
    if (gc + 32u < s.N) c[gr * s.N + gc + 32u] = canon(v.z);
    if (gc + 48u < s.N) c[gr * s.N + gc + 48u] = canon(v.w);
}

void main() {
    uint tx = gl_LocalInvocationID.x;
    uint ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    // Row i of the invocation's 4x4 block is one vec4 (columns tx, tx+16, tx+32, tx+48): registers
    // only, no arrays, whether or not the driver unrolls the loops (see shaders/gemm_wide.comp).
    precise vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);

    for (uint k0 = 0u; k0 < s.K; k0 += BK) {
        for (uint l = 0u; l < (BM * BK) / 256u; l++) {
            uint idx = tid + l * 256u;
            uint r = idx / BK;
            uint kk = idx % BK;
            uint gr = row0 + r;
            uint gk = k0 + kk;
            As[kk][r] = (gr < s.M && gk < s.K) ? a[gr * s.K + gk] : 0.0;
        }
        for (uint l = 0u; l < (BK * BN) / 256u; l++) {
            uint idx = tid + l * 256u;
            uint kk = idx / BN;
            uint cc = idx % BN;
            uint gk = k0 + kk;
            uint gc = col0 + cc;
            Bs[kk][cc] = (gk < s.K && gc < s.N) ? b[gk * s.N + gc] : 0.0;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            vec4 bv = vec4(Bs[kk][tx], Bs[kk][tx + 16u], Bs[kk][tx + 32u], Bs[kk][tx + 48u]);
            float a0 = As[kk][ty], a1 = As[kk][ty + 16u], a2 = As[kk][ty + 32u], a3 = As[kk][ty + 48u];
            if (FUSED) {
                acc0 = fma(vec4(a0), bv, acc0);
                acc1 = fma(vec4(a1), bv, acc1);
                acc2 = fma(vec4(a2), bv, acc2);
                acc3 = fma(vec4(a3), bv, acc3);
            } else {
                precise vec4 p0 = vec4(a0) * bv;
                precise vec4 p1 = vec4(a1) * bv;
                precise vec4 p2 = vec4(a2) * bv;
                precise vec4 p3 = vec4(a3) * bv;
                acc0 = acc0 + p0;
                acc1 = acc1 + p1;
                acc2 = acc2 + p2;
                acc3 = acc3 + p3;
            }
        }
        barrier();
    }

    store(row0 + ty, col0 + tx, acc0);
    store(row0 + ty + 16u, col0 + tx, acc1);
    store(row0 + ty + 32u, col0 + tx, acc2);
    store(row0 + ty + 48u, col0 + tx, acc3);
}
