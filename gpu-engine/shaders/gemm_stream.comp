#version 450
// Deterministic GEMM for CPU Vulkan drivers (llvmpipe): the same sums as gemm.comp, in the same
// order (each C element accumulated in increasing k from +0), without shared memory or barriers.
//
// A CPU driver runs invocations as SIMD lanes and loads per lane. Here a lane owns TN columns
// (64 apart) of TM rows, so each k step costs TM + TN loads for TM * TN multiply-adds, and the A
// loads are uniform across the lanes of a workgroup.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const bool FUSED = false;
layout(constant_id = 1) const uint TN = 8u; // columns per lane: j0 + 64 * q (the host picks 8, 6 or 4 to fit N)

layout(set = 0, binding = 0) readonly buffer MatA { float a[]; };
layout(set = 0, binding = 1) readonly buffer MatB { float b[]; };
layout(set = 0, binding = 2) writeonly buffer MatC { float cout[]; };
layout(push_constant) uniform Shape { uint M; uint N; uint K; } s;

const uint TM = 32; // rows per workgroup

void main() {
    uint j0 = gl_WorkGroupID.x * 64u * TN + gl_LocalInvocationID.x;
    uint i0 = gl_WorkGroupID.y * TM;
    uint rows = min(TM, s.M - i0);
    // Lanes past N compute a copy of the last column and store nothing.
    uint jj[TN];
    [[unroll]] for (uint q = 0u; q < TN; q++) jj[q] = min(j0 + 64u * q, s.N - 1u);
    precise float acc[TM][TN];
    [[unroll]] for (uint r = 0u; r < TM; r++) {
        [[unroll]] for (uint q = 0u; q < TN; q++) acc[r][q] = 0.0;
    }
    for (uint k = 0u; k < s.K; k++) {
        float bv[TN];
        [[unroll]] for (uint q = 0u; q < TN; q++) bv[q] = b[k * s.N + jj[q]];
        [[unroll]] for (uint r = 0u; r < TM; r++) {
            float av = r < rows ? a[(i0 + r) * s.K + k] : 0.0;
            [[unroll]] for (uint q = 0u; q < TN; q++) {
                if (FUSED) {
                    acc[r][q] = fma(av, bv[q], acc[r][q]);
                } else {
                    precise float p = av * bv[q];
                    acc[r][q] = acc[r][q] + p;
                }
            }
        }
    }
    [[unroll]] for (uint q = 0u; q < TN; q++) {
        uint j = j0 + 64u * q;
        [[unroll]] for (uint r = 0u; r < TM; r++) {
            if (j < s.N && r < rows) cout[(i0 + r) * s.N + j] = canon(acc[r][q]);
        }
    }
}
