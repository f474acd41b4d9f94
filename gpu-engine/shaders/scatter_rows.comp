#version 450
// Row sums gathered by index lists (an embedding table's gradient): one invocation per (target t,
// column j):  out[dest[t], j] = canon(sum_e x[src[e], j]) for e from start[t] to start[t + 1] - 1,
// in increasing e. The host builds the lists (the rows of each token id, in increasing order);
// rows of `out` no list names are left as they are (the caller zeroes them first).
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Start { uint start[]; };
layout(set = 0, binding = 2) readonly buffer Src { uint src[]; };
layout(set = 0, binding = 3) readonly buffer Dest { uint dest[]; };
layout(set = 0, binding = 4) buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint targets; uint n; uint rows; uint out_rows; } s;

void main() {
    uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (id >= s.targets * s.n) return;
    uint t = id / s.n;
    uint j = id % s.n;
    uint to = dest[t];
    if (to >= s.out_rows) return;
    precise float acc = 0.0;
    for (uint e = start[t]; e < start[t + 1u]; e++) {
        uint r = src[e];
        if (r < s.rows) acc = acc + x[r * s.n + j];
    }
    o[to * s.n + j] = canon(acc);
}
