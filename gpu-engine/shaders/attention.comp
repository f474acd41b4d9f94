#version 450
// Multi-head self-attention over a batch of padded sequences: one invocation per
// (sequence b, head h, query token i). QKV holds rows [q | k | v] of width 3W, W = HEADS * DIM.
// For a real query (i < len[b]), with j over the real keys (j < len[b]) in increasing order:
//   s_j = canon(canon(sum_d q_d k_jd, increasing d) * scale);  m = max_j s_j
//   e_j = canon(exp(s_j - m));  z = sum_j e_j;  a_d = sum_j e_j v_jd;  out_d = canon(a_d * recip(z))
// Padding keys never enter a sum, so no row depends on how much padding its batch has; a padding
// query row is written as +0. Multiply-adds follow the class (FUSED) like the GEMM.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool FUSED = false;
layout(constant_id = 1) const uint DIM = 32u;

layout(set = 0, binding = 0) readonly buffer QKV { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Lens { uint lens[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint batch; uint seq; uint heads; float scale; } s;

float mul_add(float a, float b, float acc) {
    if (FUSED) return fma(a, b, acc);
    precise float p = a * b;
    precise float r = acc + p;
    return r;
}

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (id >= s.batch * s.heads * s.seq) return;
    uint i = id % s.seq;
    uint h = (id / s.seq) % s.heads;
    uint b = id / (s.seq * s.heads);
    uint width = s.heads * DIM;
    uint stride = 3u * width;
    uint row = b * s.seq + i;
    uint out_base = row * width + h * DIM;
    uint len = lens[b];
    if (i >= len) {
        [[unroll]] for (uint d = 0u; d < DIM; d++) o[out_base + d] = 0.0;
        return;
    }
    float q[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) q[d] = qkv[row * stride + h * DIM + d];
    uint first = b * s.seq;

    float m = 0.0;
    for (uint j = 0u; j < len; j++) {
        uint k_base = (first + j) * stride + width + h * DIM;
        float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = mul_add(q[d], qkv[k_base + d], acc);
        precise float scaled = canon(acc) * s.scale;
        float sj = canon(scaled);
        m = j == 0u ? sj : max(m, sj);
    }

    precise float z = 0.0;
    float a[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) a[d] = 0.0;
    for (uint j = 0u; j < len; j++) {
        uint k_base = (first + j) * stride + width + h * DIM;
        uint v_base = k_base + width;
        float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = mul_add(q[d], qkv[k_base + d], acc);
        precise float scaled = canon(acc) * s.scale;
        precise float diff = canon(scaled) - m;
        float e = canon(det_exp(diff));
        z = z + e;
        [[unroll]] for (uint d = 0u; d < DIM; d++) a[d] = mul_add(e, qkv[v_base + d], a[d]);
    }
    float inv = det_recip(z);
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        precise float r = canon(a[d]) * inv;
        o[out_base + d] = canon(r);
    }
}
