// One Jacobi step of the heat equation on a 64 x 64 grid: each inner cell becomes the mean of
// its four neighbours, ((n + s) + (w + e)) * 0.25; the border is kept.
@group(0) @binding(0) var<storage, read> grid: array<f32>;
@group(0) @binding(1) var<storage, read_write> next: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let n = 64u;
    let c = id.x;
    let r = id.y;
    if (c >= n || r >= n) {
        return;
    }
    let at = r * n + c;
    if (c == 0u || r == 0u || c == n - 1u || r == n - 1u) {
        next[at] = grid[at];
        return;
    }
    next[at] = ((grid[at - n] + grid[at + n]) + (grid[at - 1u] + grid[at + 1u])) * 0.25;
}
