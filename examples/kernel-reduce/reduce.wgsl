// The sum of each 1024 values of x, with a fixed tree: each invocation adds its 4 values in
// order, then the workgroup halves its 256 partial sums 8 times. The barriers are in the kernel's
// straight line (the verifiable tier refuses a barrier in a loop), so the tree is written out.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> totals: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let i = lid.x;
    let base = wid.x * 1024u + i * 4u;
    part[i] = ((x[base] + x[base + 1u]) + x[base + 2u]) + x[base + 3u];
    workgroupBarrier();
    if (i < 128u) { part[i] = part[i] + part[i + 128u]; }
    workgroupBarrier();
    if (i < 64u) { part[i] = part[i] + part[i + 64u]; }
    workgroupBarrier();
    if (i < 32u) { part[i] = part[i] + part[i + 32u]; }
    workgroupBarrier();
    if (i < 16u) { part[i] = part[i] + part[i + 16u]; }
    workgroupBarrier();
    if (i < 8u) { part[i] = part[i] + part[i + 8u]; }
    workgroupBarrier();
    if (i < 4u) { part[i] = part[i] + part[i + 4u]; }
    workgroupBarrier();
    if (i < 2u) { part[i] = part[i] + part[i + 2u]; }
    workgroupBarrier();
    if (i == 0u) { totals[wid.x] = part[0] + part[1]; }
}
