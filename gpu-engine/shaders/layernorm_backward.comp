#version 450
// The backward pass of the row layer norm (layernorm_rows.comp), one invocation per row. From the
// norm's input x, its gain g and the gradient dy of its output, with mean, var and inv as the
// forward pass computes them and x^_j = canon((x_j - mean) * inv):
//   gy_j = canon(dy_j * g_j);  a = canon((sum_j gy_j) / n);  c = canon((sum_j canon(gy_j * x^_j)) / n)
//   dx_j = canon(inv * (gy_j - a - canon(x^_j * c)))
// and x^_j * dy_j, canonical, whose column sums are the gain's gradient (the bias's are dy's).
// Sums in increasing column order; "/ n" is a multiplication by det_recip(n).
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer G { float g[]; };
layout(set = 0, binding = 2) readonly buffer DY { float dy[]; };
layout(set = 0, binding = 3) writeonly buffer DX { float dx[]; };
layout(set = 0, binding = 4) writeonly buffer XDY { float xdy[]; };
layout(push_constant) uniform Shape { uint rows; uint n; float eps; } s;

float xhat(uint at, float mean, float inv) {
    precise float d = x[at] - mean;
    precise float t = d * inv;
    return canon(t);
}

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= s.rows) return;
    uint base = row * s.n;
    float inv_n = det_recip(float(s.n));
    precise float sum = 0.0;
    for (uint j = 0u; j < s.n; j++) sum = sum + x[base + j];
    precise float mean_raw = sum * inv_n;
    float mean = canon(mean_raw);
    precise float sq = 0.0;
    for (uint j = 0u; j < s.n; j++) {
        precise float d = x[base + j] - mean;
        sq = sq + d * d;
    }
    precise float var_raw = sq * inv_n;
    precise float var_eps = canon(var_raw) + s.eps;
    float inv = det_rsqrt(var_eps);

    precise float sum_gy = 0.0;
    precise float sum_gyx = 0.0;
    for (uint j = 0u; j < s.n; j++) {
        precise float gy_raw = dy[base + j] * g[j];
        float gy = canon(gy_raw);
        precise float gyx = gy * xhat(base + j, mean, inv);
        sum_gy = sum_gy + gy;
        sum_gyx = sum_gyx + canon(gyx);
    }
    precise float a_raw = sum_gy * inv_n;
    precise float c_raw = sum_gyx * inv_n;
    float a = canon(a_raw);
    float c = canon(c_raw);
    for (uint j = 0u; j < s.n; j++) {
        float xh = xhat(base + j, mean, inv);
        precise float gy_raw = dy[base + j] * g[j];
        precise float xc = xh * c;
        precise float inner = canon(gy_raw) - a - canon(xc);
        precise float d = inv * inner;
        dx[base + j] = canon(d);
        precise float xd = xh * dy[base + j];
        xdy[base + j] = canon(xd);
    }
}
