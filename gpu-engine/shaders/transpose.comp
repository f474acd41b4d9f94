#version 450
// out[j, i] = x[i, j] for a rows x cols matrix.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Shape { uint rows; uint cols; } s;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= s.rows * s.cols) return;
    uint r = i / s.cols;
    uint c = i % s.cols;
    o[c * s.rows + r] = x[i];
}
