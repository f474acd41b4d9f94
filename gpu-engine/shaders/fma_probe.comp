#version 450
// Start-up probe of a device's reproducibility class: fma(x, y, z) on vectors where a fused and
// an unfused multiply-add round differently. The engine compares the bits with Rust's
// `f32::mul_add` (fused) and with `x * y + z` (unfused).
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Y { float y[]; };
layout(set = 0, binding = 2) readonly buffer Z { float z[]; };
layout(set = 0, binding = 3) writeonly buffer R { float r[]; };
layout(push_constant) uniform Len { uint n; } p;

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < p.n) r[i] = fma(x[i], y[i], z[i]);
}
