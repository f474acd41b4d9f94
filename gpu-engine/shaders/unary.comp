#version 450
// y = f(x) elementwise, f chosen by a specialization constant, from detmath.glsl.
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0u; // 0 exp, 1 tanh, 2 gelu, 3 recip, 4 rsqrt, 5 relu, 6 gelu (tanh), 7 silu

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Len { uint n; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= p.n) return;
    float v = x[i];
    float r;
    if (OP == 0u) r = det_exp(v);
    else if (OP == 1u) r = det_tanh(v);
    else if (OP == 2u) r = det_gelu(v);
    else if (OP == 3u) r = det_recip(v);
    else if (OP == 4u) r = det_rsqrt(v);
    else if (OP == 6u) r = det_gelu_tanh(v);
    else if (OP == 7u) r = det_silu(v);
    else r = v > 0.0 ? v : 0.0;
    y[i] = canon(r);
}
