#version 450
// One AdamW step, in place, elementwise and unfused on every device, in PyTorch's order of
// operations (its arithmetic differs: b1 * m + c1 * g for lerp, a product by 1 / sqrt(bc2)):
//   w  = canon(w * decay)                                decay = 1 - lr * weight_decay
//   gs = g * 2^24 (exact)                                the moments are of the scaled gradient
//   m  = canon(canon(b1 * m) + canon(c1 * gs))           c1 = 1 - b1
//   v  = canon(canon(b2 * v) + canon(c2 * canon(gs * gs)))   c2 = 1 - b2
//   den = canon(canon(sqrt(v)) * inv_bc2) + eps_s        sqrt(v) = canon(v * rsqrt(v)), +0 at +0
//   w  = canon(w - canon(canon(step * m) * recip(canon(den))))  step = lr / (1 - b1^t)
// (no step where v is infinite or NaN: the decayed w is kept)
// The scalars are the host's (f64, rounded to f32 once); eps_s = eps * 2^24. Scaling leaves the
// update as it is and keeps v out of the canonical domain's floor (2^-37): a gradient of 1e-6
// squares to 1e-12, which would be flushed to zero and make the step 100 times too large.
#extension GL_GOOGLE_include_directive : require
#include "canon.glsl"
#include "detmath.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) buffer W { float w[]; };
layout(set = 0, binding = 1) buffer M { float m[]; };
layout(set = 0, binding = 2) buffer V { float v[]; };
layout(set = 0, binding = 3) readonly buffer G { float g[]; };
layout(push_constant) uniform Step {
    uint len;
    float decay;
    float b1;
    float c1;
    float b2;
    float c2;
    float inv_bc2;
    float eps_s;
    float step;
} p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i >= p.len) return;
    precise float decayed = w[i] * p.decay;
    float wi = canon(decayed);
    precise float gs_raw = g[i] * 16777216.0;
    float gs = canon(gs_raw);
    precise float m1 = p.b1 * m[i];
    precise float m2 = p.c1 * gs;
    precise float mn = canon(m1) + canon(m2);
    float mi = canon(mn);
    precise float sq = gs * gs;
    precise float v1 = p.b2 * v[i];
    precise float v2 = p.c2 * canon(sq);
    precise float vn = canon(v1) + canon(v2);
    float vi = canon(vn);
    m[i] = mi;
    v[i] = vi;
    // An infinite v (a gradient past 2^40, or a NaN's) takes no step: m / sqrt(inf) is 0, and
    // rsqrt and recip are defined on finite positive values only.
    if ((floatBitsToUint(vi) & 0x7fffffffu) >= 0x7f800000u) {
        w[i] = wi;
        return;
    }
    float root = 0.0;
    if (vi > 0.0) {
        precise float r = vi * det_rsqrt(vi);
        root = canon(r);
    }
    precise float scaled_root = root * p.inv_bc2;
    precise float den = canon(scaled_root) + p.eps_s;
    precise float num = p.step * mi;
    precise float upd = canon(num) * det_recip(canon(den));
    precise float nw = wi - canon(upd);
    w[i] = canon(nw);
}
