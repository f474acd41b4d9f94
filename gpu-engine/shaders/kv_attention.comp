#version 450
// Causal multi-head attention of a decoder's new rows over its key-value cache: one invocation
// per (new row r, head h). Row r is sequence slot meta[2r] at position meta[2r + 1] = P; its query
// is in QKV (rows [q | k | v], width W + 2KW, W = heads * DIM, KW = kv_heads * DIM); the keys and
// values of positions 0..=P are in the cache (rows [k | v] of width 2KW, CAP rows per slot); query
// head h reads key-value head h / (heads / kv_heads) (grouped-query attention; GPT-2 has as many
// key-value heads as query heads). With p increasing:
//   s_p = canon(canon(sum_d q_d k_pd, increasing d) * scale);  m = max_p s_p
//   e_p = canon(exp(s_p - m));  z = sum_p e_p;  a_d = sum_p e_p v_pd;  out_d = canon(a_d * recip(z))
// the order of attention.comp, so a row's bits are the same in a prefill and in a decode step and
// do not depend on the other rows of its dispatch. A row outside the cache is written as +0.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool FUSED = false;
layout(constant_id = 1) const uint DIM = 32u;

layout(set = 0, binding = 0) readonly buffer QKV { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Rows { uint meta[]; };
layout(set = 0, binding = 2) readonly buffer Cache { float cache[]; };
layout(set = 0, binding = 3) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint rows; uint heads; uint kv_heads; uint slots; uint cap; float scale; } s;

float mul_add(float a, float b, float acc) {
    if (FUSED) return fma(a, b, acc);
    precise float p = a * b;
    precise float r = acc + p;
    return r;
}

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (id >= s.rows * s.heads) return;
    uint h = id % s.heads;
    uint r = id / s.heads;
    uint width = s.heads * DIM;
    uint kv_width = s.kv_heads * DIM;
    uint w2 = 2u * kv_width;
    uint kv_h = h / (s.heads / s.kv_heads);
    uint out_base = r * width + h * DIM;
    uint slot = meta[2u * r];
    uint pos = meta[2u * r + 1u];
    if (slot >= s.slots || pos >= s.cap) {
        [[unroll]] for (uint d = 0u; d < DIM; d++) o[out_base + d] = 0.0;
        return;
    }
    float q[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) q[d] = qkv[r * (width + w2) + h * DIM + d];
    uint first = slot * s.cap;

    float m = 0.0;
    for (uint p = 0u; p <= pos; p++) {
        uint k_base = (first + p) * w2 + kv_h * DIM;
        float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = mul_add(q[d], cache[k_base + d], acc);
        precise float scaled = canon(acc) * s.scale;
        float sp = canon(scaled);
        m = p == 0u ? sp : max(m, sp);
    }

    precise float z = 0.0;
    float a[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) a[d] = 0.0;
    for (uint p = 0u; p <= pos; p++) {
        uint k_base = (first + p) * w2 + kv_h * DIM;
        uint v_base = k_base + kv_width;
        float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = mul_add(q[d], cache[k_base + d], acc);
        precise float scaled = canon(acc) * s.scale;
        precise float diff = canon(scaled) - m;
        float e = canon(det_exp(diff));
        z = z + e;
        [[unroll]] for (uint d = 0u; d < DIM; d++) a[d] = mul_add(e, cache[v_base + d], a[d]);
    }
    float inv = det_recip(z);
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        precise float r = canon(a[d]) * inv;
        o[out_base + d] = canon(r);
    }
}
