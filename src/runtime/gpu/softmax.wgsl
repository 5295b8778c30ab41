// Softmax / LogSoftmax along one axis. The tensor is seen as [outer, n, inner]; one workgroup
// of 64 owns one (outer, inner) row: max, then sum of exp(x - max), then the write, each a
// workgroup tree reduction, so rows of any length stay numerically stable.

struct Params { n: u32, inner: u32, rows: u32, log: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    // Every invocation reaches the barriers; out-of-range rows just compute nothing useful.
    let valid = row < p.rows;
    let r = min(row, p.rows - 1u);
    let base = (r / p.inner) * p.n * p.inner + r % p.inner;

    var m = -3.4028234e38;
    for (var j = lid; j < p.n; j += 64u) { m = max(m, x[base + j * p.inner]); }
    red[lid] = m;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var j = lid; j < p.n; j += 64u) { sum += exp(x[base + j * p.inner] - mx); }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let total = red[0];
    if (!valid) { return; }
    let lt = log(total);
    for (var j = lid; j < p.n; j += 64u) {
        let idx = base + j * p.inner;
        if (p.log != 0u) {
            y[idx] = x[idx] - mx - lt;
        } else {
            y[idx] = exp(x[idx] - mx) / total;
        }
    }
}
