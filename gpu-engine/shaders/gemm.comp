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
const uint TM = 4; // rows per invocation: ty + 16 * i
const uint TN = 4; // columns per invocation: tx + 16 * j

shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    uint tx = gl_LocalInvocationID.x;
    uint ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    precise float acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; i++)
        [[unroll]] for (uint j = 0u; j < TN; j++)
            acc[i][j] = 0.0;

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
            float av[TM];
            float bv[TN];
            [[unroll]] for (uint i = 0u; i < TM; i++) av[i] = As[kk][ty + 16u * i];
            [[unroll]] for (uint j = 0u; j < TN; j++) bv[j] = Bs[kk][tx + 16u * j];
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                [[unroll]] for (uint j = 0u; j < TN; j++) {
                    if (FUSED) {
                        acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                    } else {
                        precise float p = av[i] * bv[j];
                        acc[i][j] = acc[i][j] + p;
                    }
                }
            }
        }
        barrier();
    }

    [[unroll]] for (uint i = 0u; i < TM; i++) {
        uint gr = row0 + ty + 16u * i;
        if (gr >= s.M) continue;
        [[unroll]] for (uint j = 0u; j < TN; j++) {
            uint gc = col0 + tx + 16u * j;
            if (gc < s.N) c[gr * s.N + gc] = canon(acc[i][j]);
        }
    }
}
