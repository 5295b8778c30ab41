// Normalisation. `channel_affine`: y = x * scale[c] + shift[c] with c the channel of a
// [N, C, inner] tensor — BatchNormalization at inference after folding mean/var/eps/gamma/beta
// into scale and shift on the host. `layer_norm`: per row of n contiguous values, mean and
// variance by workgroup reduction, then y = (x - mean) / sqrt(var + eps) * scale[j] + shift[j].

// `start`: the element index of the first value bound (a tensor over the binding limit is
// done a range at a time); `x_off` / `y_off`: where that value sits within the bindings.
struct Params { n: u32, inner: u32, channels: u32, rows: u32, eps: f32, start: u32, x_off: u32, y_off: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;

var<workgroup> s1: array<f32, 64>;
var<workgroup> s2: array<f32, 64>;

@compute @workgroup_size(256, 1, 1)
fn channel_affine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let c = ((p.start + i) / p.inner) % p.channels;
    y[p.y_off + i] = x[p.x_off + i] * scale[c] + shift[c];
}

@compute @workgroup_size(64, 1, 1)
fn layer_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let valid = row < p.rows;
    let base = min(row, p.rows - 1u) * p.n;
    let xb = p.x_off + base;
    let yb = p.y_off + base;
    // Two passes (mean, then centred squares) rather than E[x^2] - E[x]^2, which cancels badly.
    var a = 0.0;
    for (var j = lid; j < p.n; j += 64u) { a += x[xb + j]; }
    s1[lid] = a;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) { s1[lid] += s1[lid + s]; }
        workgroupBarrier();
    }
    let mean = s1[0] / f32(p.n);
    var b = 0.0;
    for (var j = lid; j < p.n; j += 64u) {
        let d = x[xb + j] - mean;
        b += d * d;
    }
    s2[lid] = b;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) { s2[lid] += s2[lid + s]; }
        workgroupBarrier();
    }
    if (!valid) { return; }
    let inv = 1.0 / sqrt(s2[0] / f32(p.n) + p.eps);
    for (var j = lid; j < p.n; j += 64u) {
        y[yb + j] = (x[xb + j] - mean) * inv * scale[j] + shift[j];
    }
}
