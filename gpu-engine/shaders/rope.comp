#version 450
// Rotary position embedding (Llama's), in place on a decoder's new rows of QKV: rows of
// [q (HEADS heads) | k (KV_HEADS heads) | v], each head DIM wide. Row r is at position
// meta[2r + 1]; the table holds, per position p and pair i < DIM/2, cos then sin of p * inv_freq_i
// (computed once on the host, the same bits everywhere). For each q and k head and each pair:
//   x1 = x[i], x2 = x[i + DIM/2]:  x[i] = x1 * cos - x2 * sin;  x[i + DIM/2] = x2 * cos + x1 * sin
// (transformers' `q * cos + rotate_half(q) * sin`, each product rounded, then the sum). One
// invocation per (row, head, pair); v is not touched. A row outside the table is left as it is
// (the engine refuses such rows before dispatch).
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer QKV { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Rows { uint meta[]; };
layout(set = 0, binding = 2) readonly buffer Table { float table[]; };
layout(push_constant) uniform Shape { uint rows; uint heads; uint kv_heads; uint dim; uint positions; } s;

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    uint half_dim = s.dim / 2u;
    uint rotated = s.heads + s.kv_heads;
    if (id >= s.rows * rotated * half_dim) return;
    uint i = id % half_dim;
    uint h = (id / half_dim) % rotated;
    uint r = id / (half_dim * rotated);
    uint pos = meta[2u * r + 1u];
    if (pos >= s.positions) return;
    uint stride = (s.heads + 2u * s.kv_heads) * s.dim;
    uint base = r * stride + h * s.dim;
    float c = table[(pos * half_dim + i) * 2u];
    float sn = table[(pos * half_dim + i) * 2u + 1u];
    float x1 = qkv[base + i];
    float x2 = qkv[base + i + half_dim];
    precise float a = x1 * c;
    precise float b = x2 * sn;
    precise float lo = a - b;
    precise float d = x2 * c;
    precise float e = x1 * sn;
    precise float hi = d + e;
    qkv[base + i] = canon(lo);
    qkv[base + i + half_dim] = canon(hi);
}
