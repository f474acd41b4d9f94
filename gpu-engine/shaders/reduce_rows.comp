#version 450
// Row sums with a fixed tree: one workgroup of 256 invocations per row. Invocation t first sums
// columns t, t + 256, t + 512, ... in increasing order; then a binary tree over the 256 partial
// sums (stride 128, 64, ..., 1) in shared memory. The order depends on n alone: not on the
// device's subgroup size (no subgroup operations), nor on scheduling (barriers between levels).
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint rows; uint n; } s;

shared float partial[256];

void main() {
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t = gl_LocalInvocationID.x;
    bool live = row < s.rows;
    precise float acc = 0.0;
    if (live) {
        for (uint j = t; j < s.n; j += 256u) acc = acc + x[row * s.n + j];
    }
    partial[t] = acc;
    barrier();
    for (uint stride = 128u; stride > 0u; stride >>= 1) {
        if (t < stride) {
            precise float sum = partial[t] + partial[t + stride];
            partial[t] = sum;
        }
        barrier();
    }
    if (live && t == 0u) o[row] = canon(partial[0]);
}
