#version 450
// Embedding gather: out[t, :] = table[ids[t], :]. The engine checks every id against the table
// before dispatch; robust buffer access covers the rest.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Table { float table[]; };
layout(set = 0, binding = 1) readonly buffer Ids { uint ids[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint tokens; uint dim; } s;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= s.tokens * s.dim) return;
    uint t = i / s.dim;
    uint d = i % s.dim;
    o[i] = table[ids[t] * s.dim + d];
}
