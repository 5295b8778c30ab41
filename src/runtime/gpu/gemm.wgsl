// Matrix products: C[b] = act(alpha * A[b] x B[b] + beta * bias), A row-major [M,K] with rows
// `lda` apart, B row-major [K,N], C row-major [M,N]. Two kernels share the parameters and the
// epilogue: the register-tiled GEMM (default) and, with GEMV, the matrix-vector product for
// M = 1. The bias is addressed through strides, so one epilogue serves Gemm's C (row, column,
// scalar or full), MatMul+Add and conv's per-output-channel bias. With `accumulate`, C's
// previous value is added: a product split along K (a B over the binding limit) runs as
// several dispatches, the epilogue (bias, activation) on the last only.

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_bstride: u32, b_off: u32, b_bstride: u32,
    c_off: u32, c_bstride: u32, bias_off: u32, bias_bstride: u32,
    bias_rs: u32, bias_cs: u32, has_bias: u32, act: u32,
    alpha: f32, beta: f32, act_p0: f32, act_p1: f32,
    lda: u32, accumulate: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// The epilogue of the product `acc` at C (batch, row, col), whose value so far is `prev`.
fn epilogue(acc: f32, prev: f32, batch: u32, row: u32, col: u32) -> f32 {
    var v = p.alpha * acc;
    if (p.accumulate != 0u) { v += prev; }
    if (p.has_bias != 0u) {
        v += p.beta * bias[p.bias_off + batch * p.bias_bstride + row * p.bias_rs + col * p.bias_cs];
    }
    return activate(v, p.act, p.act_p0, p.act_p1);
}

//#if GEMV
// M = 1 (a batch of one row, the common inference case): the tiled GEMM would spend 63 of its
// 64 rows on padding. Each invocation owns one column (four with VEC4) and walks K; the row of
// A is staged 256 values at a time in workgroup memory, and B is read row-major, so
// neighbouring invocations read neighbouring columns.
@group(0) @binding(1) var<storage, read> a: array<f32>;
//#if VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#endif
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> As: array<f32, 256>;

fn finish(batch: u32, col: u32, acc: f32) {
    let ci = p.c_off + batch * p.c_bstride + col;
    c[ci] = epilogue(acc, c[ci], batch, 0u, col);
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
//#else
// A 16x16 workgroup computes a 64x64 tile of C through 64x16 / 16x64 tiles of A and B staged
// in workgroup memory; each invocation owns a 4x4 block held in registers. With VEC4 (K, N,
// lda and every offset multiples of 4) A, B and C are read and written as vec4.
//#if VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
//#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
//#endif

// [k][m/4] and [k][n/4]: the inner loop reads one vec4 of each per k.
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

fn load_a(base: u32, row: u32, k: u32) -> vec4<f32> {
    if (row >= p.m) { return vec4<f32>(0.0); }
//#if VEC4
    if (k >= p.k) { return vec4<f32>(0.0); }
    return a[(base + row * p.lda + k) / 4u];
//#else
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        if (k + i < p.k) { v[i] = a[base + row * p.lda + k + i]; }
    }
    return v;
//#endif
}

fn load_b(base: u32, k: u32, col: u32) -> vec4<f32> {
    if (k >= p.k) { return vec4<f32>(0.0); }
//#if VEC4
    if (col >= p.n) { return vec4<f32>(0.0); }
    return b[(base + k * p.n + col) / 4u];
//#else
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        if (col + i < p.n) { v[i] = b[base + k * p.n + col + i]; }
    }
    return v;
//#endif
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let batch = wg.z;
    let m0 = wg.y * 64u;
    let n0 = wg.x * 64u;
    let a_base = p.a_off + batch * p.a_bstride;
    let b_base = p.b_off + batch * p.b_bstride;
    let c_base = p.c_off + batch * p.c_bstride;

    // Which slice of the A / B tiles this invocation stages.
    let ar = tid / 4u;
    let ak = (tid % 4u) * 4u;
    let bk = tid / 16u;
    let bn = (tid % 16u) * 4u;

    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

    let tiles = (p.k + 15u) / 16u;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * 16u;
        let av = load_a(a_base, m0 + ar, k0 + ak);
        for (var i = 0u; i < 4u; i++) {
            As[(ak + i) * 16u + ar / 4u][ar % 4u] = av[i];
        }
        Bs[bk * 16u + bn / 4u] = load_b(b_base, k0 + bk, n0 + bn);
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            let x = As[kk * 16u + lid.y];
            let y = Bs[kk * 16u + lid.x];
            acc[0] += x.x * y;
            acc[1] += x.y * y;
            acc[2] += x.z * y;
            acc[3] += x.w * y;
        }
        workgroupBarrier();
    }

    let col0 = n0 + lid.x * 4u;
    if (col0 >= p.n) { return; }
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + lid.y * 4u + i;
        if (row >= p.m) { break; }
        let ci = c_base + row * p.n + col0;
//#if VEC4
        var prev = vec4<f32>(0.0);
        if (p.accumulate != 0u) { prev = c[ci / 4u]; }
        var v = acc[i];
        for (var j = 0u; j < 4u; j++) {
            v[j] = epilogue(v[j], prev[j], batch, row, col0 + j);
        }
        c[ci / 4u] = v;
//#else
        for (var j = 0u; j < 4u; j++) {
            if (col0 + j < p.n) {
                var prev = 0.0;
                if (p.accumulate != 0u) { prev = c[ci + j]; }
                c[ci + j] = epilogue(acc[i][j], prev, batch, row, col0 + j);
            }
        }
//#endif
    }
}
//#endif
