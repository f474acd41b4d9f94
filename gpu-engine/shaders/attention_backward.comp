#version 450
// The backward pass of multi-head self-attention (attention.comp's layout: rows [q | k | v] of
// width 3W, W = HEADS * DIM), in two passes chosen by PASS, unfused on every device.
//
// PASS 0, one invocation per (sequence b, head h, query i < len[b]), j over the real keys in
// increasing order, sums over d in increasing order:
//   s_j = canon(canon(sum_d q_d k_jd) * scale);  m = the first s_j, then any greater;  e_j = canon(exp(s_j - m))
//   p_j = canon(e_j * recip(canon(sum_j e_j)));  dp_j = canon(sum_d dctx_d v_jd)
//   t = canon(sum_j canon(p_j * dp_j));  ds_j = canon(canon(p_j * (dp_j - t)) * scale)
// into P and DS ([b, h, j, i], SEQ x SEQ per head, the query fastest; entries of padding rows or
// keys not written).
// PASS 1, one invocation per (b, h, token r), each of its DIM columns d over the real tokens in
// increasing order:
//   dq_rd = sum_j ds_rj k_jd;  dk_rd = sum_i ds_ir q_id;  dv_rd = sum_i p_ir dctx_id
// written canonical into DQKV's [q | k | v] columns; a padding token's are +0.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint PASS = 0u;
// The head width (the push constant's `dim` must equal it): pass 0 keeps its query row and its
// context gradient row in registers, read once instead of once per key.
layout(constant_id = 1) const uint DIM = 32u;

layout(set = 0, binding = 0) readonly buffer QKV { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Lens { uint lens[]; };
layout(set = 0, binding = 2) readonly buffer DCtx { float dctx[]; };
layout(set = 0, binding = 3) buffer P { float pr[]; };
layout(set = 0, binding = 4) buffer DS { float ds[]; };
layout(set = 0, binding = 5) writeonly buffer DQKV { float dqkv[]; };
layout(push_constant) uniform Shape { uint batch; uint seq; uint heads; uint dim; float scale; } s;

void scores(uint b, uint h, uint i, uint len) {
    uint width = s.heads * s.dim;
    uint stride = 3u * width;
    uint first = b * s.seq;
    uint qrow = (first + i) * stride + h * s.dim;
    // Column i of the head's [key j][query i] block: neighbouring invocations, neighbouring words.
    uint at = (b * s.heads + h) * s.seq * s.seq + i;
    uint row = (first + i) * width + h * s.dim;
    float q[DIM];
    float dc[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        q[d] = qkv[qrow + d];
        dc[d] = dctx[row + d];
    }
    float m = 0.0;
    for (uint j = 0u; j < len; j++) {
        uint k_base = (first + j) * stride + width + h * s.dim;
        precise float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = acc + q[d] * qkv[k_base + d];
        precise float scaled = canon(acc) * s.scale;
        float sj = canon(scaled);
        pr[at + j * s.seq] = sj;
        if (j == 0u || sj > m) m = sj; // not max(): its NaN case is the driver's
    }
    precise float z = 0.0;
    for (uint j = 0u; j < len; j++) {
        precise float shifted = pr[at + j * s.seq] - m;
        float e = canon(det_exp(shifted));
        pr[at + j * s.seq] = e;
        z = z + e;
    }
    float rz = det_recip(canon(z));
    precise float t = 0.0;
    for (uint j = 0u; j < len; j++) {
        precise float p_raw = pr[at + j * s.seq] * rz;
        float pj = canon(p_raw);
        pr[at + j * s.seq] = pj;
        uint v_base = (first + j) * stride + 2u * width + h * s.dim;
        precise float acc = 0.0;
        [[unroll]] for (uint d = 0u; d < DIM; d++) acc = acc + dc[d] * qkv[v_base + d];
        float dpj = canon(acc);
        ds[at + j * s.seq] = dpj;
        precise float pd = pj * dpj;
        t = t + canon(pd);
    }
    float tc = canon(t);
    for (uint j = 0u; j < len; j++) {
        precise float diff = ds[at + j * s.seq] - tc;
        precise float g = pr[at + j * s.seq] * diff;
        precise float scaled = canon(g) * s.scale;
        ds[at + j * s.seq] = canon(scaled);
    }
}

void grads(uint b, uint h, uint r, uint len) {
    uint width = s.heads * s.dim;
    uint stride = 3u * width;
    uint first = b * s.seq;
    uint out_base = (first + r) * stride + h * s.dim;
    if (r >= len) {
        [[unroll]] for (uint d = 0u; d < DIM; d++) {
            dqkv[out_base + d] = 0.0;
            dqkv[out_base + width + d] = 0.0;
            dqkv[out_base + 2u * width + d] = 0.0;
        }
        return;
    }
    uint head = (b * s.heads + h) * s.seq;
    float dq[DIM];
    float dk[DIM];
    float dv[DIM];
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        dq[d] = 0.0;
        dk[d] = 0.0;
        dv[d] = 0.0;
    }
    for (uint j = 0u; j < len; j++) {
        float dsj = ds[(head + j) * s.seq + r];
        uint krow = (first + j) * stride + width + h * s.dim;
        [[unroll]] for (uint d = 0u; d < DIM; d++) {
            precise float acc = dq[d] + dsj * qkv[krow + d];
            dq[d] = acc;
        }
    }
    for (uint i = 0u; i < len; i++) {
        float dsi = ds[(head + r) * s.seq + i];
        float pi = pr[(head + r) * s.seq + i];
        uint qrow = (first + i) * stride + h * s.dim;
        uint crow = (first + i) * width + h * s.dim;
        [[unroll]] for (uint d = 0u; d < DIM; d++) {
            precise float k_acc = dk[d] + dsi * qkv[qrow + d];
            precise float v_acc = dv[d] + pi * dctx[crow + d];
            dk[d] = k_acc;
            dv[d] = v_acc;
        }
    }
    [[unroll]] for (uint d = 0u; d < DIM; d++) {
        dqkv[out_base + d] = canon(dq[d]);
        dqkv[out_base + width + d] = canon(dk[d]);
        dqkv[out_base + 2u * width + d] = canon(dv[d]);
    }
}

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (PASS == 0u) {
        if (id >= s.batch * s.heads * s.seq) return;
        uint i = id % s.seq;
        uint h = (id / s.seq) % s.heads;
        uint b = id / (s.seq * s.heads);
        uint len = lens[b];
        if (i < len) scores(b, h, i, len);
    } else {
        if (id >= s.batch * s.heads * s.seq) return;
        uint r = id % s.seq;
        uint h = (id / s.seq) % s.heads;
        uint b = id / (s.seq * s.heads);
        grads(b, h, r, lens[b]);
    }
}
