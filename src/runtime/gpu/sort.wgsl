// Bitonic sort of f32 keys, ascending, in place; the length is a power of two >= 512 (pad with
// +inf). Steps whose partner is at least 512 away are one dispatch each (global_step); the rest
// of each stage runs inside 512-value blocks in workgroup memory (local_steps), so a sort of
// 2^24 values is 136 dispatches instead of 300.

struct Params { n: u32, k: u32, j: u32, pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;

var<workgroup> s: array<f32, 512>;

@compute @workgroup_size(256, 1, 1)
fn global_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n / 2u) { return; }
    let l = 2u * p.j * (i / p.j) + i % p.j;
    let r = l + p.j;
    let up = (l & p.k) == 0u;
    let a = v[l];
    let b = v[r];
    if ((a > b) == up) {
        v[l] = b;
        v[r] = a;
    }
}

// Stage k's steps j = min(k/2, 256) .. 1 in one 512-value block; k = 0 means every stage
// k = 2 .. 512 (the first pass).
@compute @workgroup_size(256, 1, 1)
fn local_steps(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let base = (wg.y * nwg.x + wg.x) * 512u;
    if (base >= p.n) { return; }
    s[lid] = v[base + lid];
    s[lid + 256u] = v[base + lid + 256u];
    workgroupBarrier();
    var k_lo = p.k;
    var k_hi = p.k;
    if (p.k == 0u) {
        k_lo = 2u;
        k_hi = 512u;
    }
    for (var k = k_lo; k <= k_hi; k = k * 2u) {
        for (var j = min(k / 2u, 256u); j > 0u; j = j / 2u) {
            let l = 2u * j * (lid / j) + lid % j;
            let r = l + j;
            let up = ((base + l) & k) == 0u;
            let a = s[l];
            let b = s[r];
            if ((a > b) == up) {
                s[l] = b;
                s[r] = a;
            }
            workgroupBarrier();
        }
    }
    v[base + lid] = s[lid];
    v[base + lid + 256u] = s[lid + 256u];
}
