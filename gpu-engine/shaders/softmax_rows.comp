#version 450
// Row softmax: one invocation per row, every reduction in increasing column order.
//   m = max_j x_j;  e_j = exp(x_j - m);  s = sum_j e_j (in j order);  y_j = e_j * (1 / s)
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Shape { uint rows; uint n; } s;

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= s.rows) return;
    uint base = row * s.n;
    float m = x[base];
    for (uint j = 1u; j < s.n; j++) m = max(m, x[base + j]);
    precise float sum = 0.0;
    for (uint j = 0u; j < s.n; j++) {
        precise float d = x[base + j] - m;
        float e = det_exp(d);
        y[base + j] = e;
        sum = sum + e;
    }
    float inv = det_recip(sum);
    for (uint j = 0u; j < s.n; j++) {
        precise float v = y[base + j] * inv;
        y[base + j] = canon(v);
    }
}
