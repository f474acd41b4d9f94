#version 450
// attention.comp with QKV read through a texel buffer, four floats per fetch: the same sums in the
// same order (see attention.comp for the definition). Needs DIM to be a multiple of 4.
//
// For CPU drivers: llvmpipe loads a storage buffer lane by lane in a branching loop, one float
// each, but fetches a 16-byte texel for 8 lanes in one branch-free gather. Every key costs
// DIM / 4 fetches per pass here instead of DIM loads.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool FUSED = false;
layout(constant_id = 1) const uint DIM = 32u;

layout(set = 0, binding = 0) uniform samplerBuffer qkv; // rows [q | k | v], 3 * HEADS * DIM / 4 texels each
layout(set = 0, binding = 1) readonly buffer Lens { uint lens[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint batch; uint seq; uint heads; float scale; } s;

const uint D4 = DIM / 4u;

float mul_add(float a, float b, float acc) {
    if (FUSED) return fma(a, b, acc);
    precise float p = a * b;
    precise float r = acc + p;
    return r;
}

// sum_d q_d k_d in increasing d, k read from texel `at` on.
float dot_key(vec4 q[D4], int at) {
    float acc = 0.0;
    [[unroll]] for (uint t = 0u; t < D4; t++) {
        vec4 k = texelFetch(qkv, at + int(t));
        [[unroll]] for (uint e = 0u; e < 4u; e++) acc = mul_add(q[t][e], k[e], acc);
    }
    return acc;
}

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (id >= s.batch * s.heads * s.seq) return;
    uint i = id % s.seq;
    uint h = (id / s.seq) % s.heads;
    uint b = id / (s.seq * s.heads);
    uint width = s.heads * DIM;
    uint w4 = width / 4u;
    uint stride4 = 3u * w4;
    uint row = b * s.seq + i;
    uint out_base = row * width + h * DIM;
    uint len = lens[b];
    if (i >= len) {
        [[unroll]] for (uint d = 0u; d < DIM; d++) o[out_base + d] = 0.0;
        return;
    }
    vec4 q[D4];
    [[unroll]] for (uint t = 0u; t < D4; t++) q[t] = texelFetch(qkv, int(row * stride4 + h * D4 + t));
    uint first = b * s.seq;

    float m = 0.0;
    for (uint j = 0u; j < len; j++) {
        int k_at = int((first + j) * stride4 + w4 + h * D4);
        precise float scaled = canon(dot_key(q, k_at)) * s.scale;
        float sj = canon(scaled);
        m = j == 0u ? sj : max(m, sj);
    }

    precise float z = 0.0;
    float a[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) a[d] = 0.0;
    for (uint j = 0u; j < len; j++) {
        int k_at = int((first + j) * stride4 + w4 + h * D4);
        precise float scaled = canon(dot_key(q, k_at)) * s.scale;
        precise float diff = canon(scaled) - m;
        float e = canon(det_exp(diff));
        z = z + e;
        [[unroll]] for (uint t = 0u; t < D4; t++) {
            vec4 v = texelFetch(qkv, k_at + int(w4 + t));
            [[unroll]] for (uint c = 0u; c < 4u; c++) a[4u * t + c] = mul_add(e, v[c], a[4u * t + c]);
        }
    }
    float inv = det_recip(z);
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        precise float r = canon(a[d]) * inv;
        o[out_base + d] = canon(r);
    }
}
