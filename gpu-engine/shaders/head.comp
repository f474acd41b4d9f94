#version 450
// Moves one attention head between a [T, H*d] matrix and a contiguous [T, d] one.
//   INSERT = false: out[t, k] = x[t, h*d + k]      INSERT = true: out[t, h*d + k] = x[t, k]
layout(local_size_x = 256) in;
layout(constant_id = 0) const bool INSERT = false;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint tokens; uint heads; uint dim; uint head; } s;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= s.tokens * s.dim) return;
    uint t = i / s.dim;
    uint k = i % s.dim;
    uint wide = t * s.heads * s.dim + s.head * s.dim + k;
    if (INSERT) o[wide] = x[i];
    else o[i] = x[wide];
}
