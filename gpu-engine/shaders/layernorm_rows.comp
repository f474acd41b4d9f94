#version 450
// Row layer norm: one invocation per row, sums in increasing column order.
//   mean = (sum_j x_j) / n;  var = (sum_j (x_j - mean)^2) / n;  y_j = (x_j - mean) * rsqrt(var + eps) * g_j + b_j
// ("/ n" is a multiplication by det_recip(n)). With RMS (Llama's RMSNorm) the mean is 0 and there
// is no bias: y_j = (x_j * rsqrt(sum_j x_j^2 / n + eps)) * g_j (the bias buffer is not read).
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool RMS = false;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer G { float g[]; };
layout(set = 0, binding = 2) readonly buffer B { float bias[]; };
layout(set = 0, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Shape { uint rows; uint n; float eps; } s;

void main() {
    uint row = gl_GlobalInvocationID.x;
    if (row >= s.rows) return;
    uint base = row * s.n;
    float inv_n = det_recip(float(s.n));
    precise float sum = 0.0;
    if (!RMS) for (uint j = 0u; j < s.n; j++) sum = sum + x[base + j];
    // mean, var and (x - mean) * inv are canonicalized: then every product below is of canonical
    // values and cannot underflow (see numeric.rs).
    precise float mean_raw = sum * inv_n;
    float mean = RMS ? 0.0 : canon(mean_raw);
    precise float sq = 0.0;
    for (uint j = 0u; j < s.n; j++) {
        precise float d = x[base + j] - mean;
        sq = sq + d * d;
    }
    precise float var_raw = sq * inv_n;
    precise float var_eps = canon(var_raw) + s.eps;
    float inv = det_rsqrt(var_eps);
    for (uint j = 0u; j < s.n; j++) {
        precise float d = x[base + j] - mean;
        precise float t_raw = d * inv;
        float t = canon(t_raw);
        if (RMS) {
            precise float v = t * g[j];
            y[base + j] = canon(v);
        } else {
            precise float v = t * g[j] + bias[j];
            y[base + j] = canon(v);
        }
    }
}
