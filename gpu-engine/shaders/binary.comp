#version 450
// out = a (op) b elementwise; with ROW_BROADCAST, b is one row of length n added to every row.
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0u; // 0 add, 1 multiply, 2 subtract, 3 a where b > 0, 4 a * gelu'(b)
layout(constant_id = 1) const bool ROW_BROADCAST = false;

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint len; uint n; } s;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= s.len) return;
    float bv = ROW_BROADCAST ? b[i % s.n] : b[i];
    precise float r;
    if (OP == 0u) r = a[i] + bv;
    else if (OP == 1u) r = a[i] * bv;
    else if (OP == 2u) r = a[i] - bv;
    else if (OP == 3u) r = bv > 0.0 ? a[i] : 0.0;
    else r = a[i] * canon(det_gelu_grad(bv));
    o[i] = canon(r);
}
