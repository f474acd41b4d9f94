#version 450
// Deterministic GEMM for CPU Vulkan drivers, reading A and B through texel buffers four floats at a
// time: the same sums as gemm.comp, in the same order (each C element accumulated in increasing k
// from +0). Needs K and N to be multiples of 4 (the host falls back to gemm_stream.comp otherwise).
//
// Why texel buffers: llvmpipe loads a storage buffer lane by lane in a branching loop (about 120
// instructions for 8 lanes, one float each), but fetches texels with one branch-free gather of
// 16 bytes per lane. A lane owns TN = 4 * CV columns (CV runs of 4 adjacent columns, 256 apart)
// of TM rows; per 4 k steps it fetches TM texels of A (4 consecutive k of a row) and 4 * CV of B.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const bool FUSED = false;
layout(constant_id = 1) const uint CV = 2u; // runs of 4 columns per lane (the host picks 2 or 1 to fit N)
// What each element gets as it is stored: 0 nothing, 1 + bias[j], 2 + bias[j] then GELU. The same
// ops as binary.comp (row broadcast) and unary.comp (GELU) after a plain GEMM, so the same bits.
layout(constant_id = 2) const uint EPILOGUE = 0u;

layout(set = 0, binding = 0) uniform samplerBuffer matA; // A[M][K] as M * K / 4 texels
layout(set = 0, binding = 1) uniform samplerBuffer matB; // B[K][N] as K * N / 4 texels
layout(set = 0, binding = 2) writeonly buffer MatC { float cout[]; };
layout(set = 0, binding = 3) uniform samplerBuffer biasRow; // N / 4 texels (bound, unread, without EPILOGUE)
layout(push_constant) uniform Shape { uint M; uint N; uint K; } s;

const uint TM = 32u; // rows per workgroup

void main() {
    uint n4 = s.N / 4u, k4 = s.K / 4u;
    uint c0 = gl_WorkGroupID.x * 64u * CV + gl_LocalInvocationID.x; // this lane's first run of 4 columns
    uint i0 = gl_WorkGroupID.y * TM;
    // Rows past M and runs past N compute a copy of the last one and store nothing.
    int arow[TM];
    [[unroll]] for (uint r = 0u; r < TM; r++) arow[r] = int(min(i0 + r, s.M - 1u) * k4);
    int bcol[CV];
    [[unroll]] for (uint g = 0u; g < CV; g++) bcol[g] = int(min(c0 + 64u * g, n4 - 1u));
    precise vec4 acc[TM][CV];
    [[unroll]] for (uint r = 0u; r < TM; r++) {
        [[unroll]] for (uint g = 0u; g < CV; g++) acc[r][g] = vec4(0.0);
    }
    for (uint kb = 0u; kb < k4; kb++) {
        vec4 av[TM];
        [[unroll]] for (uint r = 0u; r < TM; r++) av[r] = texelFetch(matA, arow[r] + int(kb));
        vec4 bv[4][CV];
        [[unroll]] for (uint kk = 0u; kk < 4u; kk++) {
            int brow = int((4u * kb + kk) * n4);
            [[unroll]] for (uint g = 0u; g < CV; g++) bv[kk][g] = texelFetch(matB, brow + bcol[g]);
        }
        // Each accumulator takes its 4 k steps in a row (k still increasing), so a CPU driver
        // loads and stores it once per 4 multiply-adds.
        [[unroll]] for (uint r = 0u; r < TM; r++) {
            [[unroll]] for (uint g = 0u; g < CV; g++) {
                precise vec4 t = acc[r][g];
                [[unroll]] for (uint kk = 0u; kk < 4u; kk++) {
                    if (FUSED) {
                        t = fma(vec4(av[r][kk]), bv[kk][g], t);
                    } else {
                        precise vec4 p = av[r][kk] * bv[kk][g];
                        t = t + p;
                    }
                }
                acc[r][g] = t;
            }
        }
    }
    [[unroll]] for (uint g = 0u; g < CV; g++) {
        uint c = c0 + 64u * g;
        vec4 bias = EPILOGUE != 0u ? texelFetch(biasRow, bcol[g]) : vec4(0.0);
        [[unroll]] for (uint r = 0u; r < TM; r++) {
            if (c < n4 && i0 + r < s.M) {
                uint at = (i0 + r) * s.N + 4u * c;
                [[unroll]] for (uint e = 0u; e < 4u; e++) {
                    float v = canon(acc[r][g][e]);
                    if (EPILOGUE != 0u) {
                        precise float biased = v + bias[e];
                        v = canon(biased);
                    }
                    if (EPILOGUE == 2u) v = canon(det_gelu(v));
                    cout[at + e] = v;
                }
            }
        }
    }
}
