#version 450
// A decoder's new keys and values into its cache. New row r belongs to sequence slot meta[2r] at
// position meta[2r + 1]; QKV holds rows [q | k | v] of width QW + 2 KW (QW the queries' width, KW
// the keys' and the values': fewer key-value heads than query heads is grouped-query attention).
// For c < 2 KW:
//   cache[(slot * cap + position) * 2KW + c] = qkv[r * (QW + 2KW) + QW + c]   (k | v of that position)
// A row whose slot or position is outside the cache writes nothing (the engine refuses such rows
// before dispatch). No arithmetic on floats: the values are copied.
layout(local_size_x = 256) in;

layout(set = 0, binding = 0) readonly buffer QKV { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Rows { uint meta[]; };
layout(set = 0, binding = 2) buffer Cache { float cache[]; };
layout(push_constant) uniform Shape { uint rows; uint q_width; uint kv_width; uint slots; uint cap; } s;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    uint w2 = 2u * s.kv_width;
    if (i >= s.rows * w2) return;
    uint r = i / w2;
    uint c = i % w2;
    uint slot = meta[2u * r];
    uint pos = meta[2u * r + 1u];
    if (slot >= s.slots || pos >= s.cap) return;
    cache[(slot * s.cap + pos) * w2 + c] = qkv[r * (s.q_width + w2) + s.q_width + c];
}
