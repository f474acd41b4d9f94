#version 450
// One step of SGD with momentum, in place, elementwise and unfused on every device:
//   v = canon(mu * v + g);  w = canon(w - lr * v)
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) buffer W { float w[]; };
layout(set = 0, binding = 1) buffer V { float v[]; };
layout(set = 0, binding = 2) readonly buffer G { float g[]; };
layout(push_constant) uniform Step { uint len; float lr; float mu; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= p.len) return;
    precise float mv = p.mu * v[i];
    precise float nv = mv + g[i];
    float vi = canon(nv);
    v[i] = vi;
    precise float step = p.lr * vi;
    precise float nw = w[i] - step;
    w[i] = canon(nw);
}
