// Matrix-vector product for M = 1 (a batch of one row, the common inference case): the tiled
// GEMM would spend 63 of its 64 rows on padding. y[b, n] = act(alpha * sum_k a[b, k] B[b][k, n]
// + beta * bias). Each invocation owns one column (four with VEC4) and walks K; the row of A is
// staged 256 values at a time in workgroup memory, and B is read row-major, so neighbouring
// invocations read neighbouring columns. Same Params and bias layout as gemm.wgsl.

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bstride: u32, b_off: u32, b_bstride: u32,
    c_off: u32, c_bstride: u32, bias_off: u32, bias_bstride: u32,
    bias_rs: u32, bias_cs: u32, has_bias: u32, act: u32,
    alpha: f32, beta: f32, act_p0: f32, act_p1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
//#if VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#endif
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

var<workgroup> As: array<f32, 256>;

fn finish(batch: u32, col: u32, acc: f32) {
    var v = p.alpha * acc;
    if (p.has_bias != 0u) {
        v += p.beta * bias[p.bias_off + batch * p.bias_bstride + col * p.bias_cs];
    }
    c[p.c_off + batch * p.c_bstride + col] = activate(v, p.act, p.act_p0, p.act_p1);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let batch = wg.z;
    let a_base = p.a_off + batch * p.a_bstride;
    let b_base = p.b_off + batch * p.b_bstride;
//#if VEC4
    let col = (wg.x * 256u + lid) * 4u;
    var acc = vec4<f32>(0.0);
//#else
    let col = wg.x * 256u + lid;
    var acc = 0.0;
//#endif
    for (var k0 = 0u; k0 < p.k; k0 += 256u) {
        if (k0 + lid < p.k) {
            As[lid] = a[a_base + k0 + lid];
        }
        workgroupBarrier();
        if (col < p.n) {
            let kend = min(256u, p.k - k0);
            for (var j = 0u; j < kend; j++) {
//#if VEC4
                acc += As[j] * b[(b_base + (k0 + j) * p.n + col) / 4u];
//#else
                acc += As[j] * b[b_base + (k0 + j) * p.n + col];
//#endif
            }
        }
        workgroupBarrier();
    }
    if (col < p.n) {
//#if VEC4
        for (var i = 0u; i < 4u; i++) {
            finish(batch, col + i, acc[i]);
        }
//#else
        finish(batch, col, acc);
//#endif
    }
}
