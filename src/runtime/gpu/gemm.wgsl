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

// Four consecutive columns of one row of C through the epilogue, skipping those past N or M
// (the 128 x 128 and the narrow tiles; `c` is each kernel's binding 3).
fn store4(c_base: u32, batch: u32, row: u32, col: u32, acc: vec4<f32>) {
    if (row >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        if (col + j < p.n) {
            let ci = c_base + row * p.n + col + j;
            var prev = 0.0;
            if (p.accumulate != 0u) { prev = c[ci]; }
            c[ci] = epilogue(acc[j], prev, batch, row, col + j);
        }
    }
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
//#if BIG
// Big products (many 128 x 128 tiles of C): a 16 x 16 workgroup computes a 128 x 128 tile
// through 16-deep tiles of A and B in workgroup memory (16 KiB, WebGPU's guaranteed minimum).
// Each invocation owns 8 x 8 values of C, rows ty*4.. and 64+ty*4.., columns tx*4.. and
// 64+tx*4.., so per k it reads four vec4s of workgroup memory for 64 multiply-adds (the
// 64-row kernel below reads five values for 16), and neighbouring invocations read
// neighbouring vec4s. The next tile's global reads are issued before the current tile's
// arithmetic and held in registers, hiding memory latency behind it. Operands are read as
// vec4 (K, N, lda and every offset multiples of 4); rows, columns and K past the end read 0.
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// [k][m/4] and [k][n/4], 16 k of each.
var<workgroup> As: array<vec4<f32>, 512>;
var<workgroup> Bs: array<vec4<f32>, 512>;

fn load_a(base: u32, row: u32, k: u32) -> vec4<f32> {
    if (row >= p.m || k >= p.k) { return vec4<f32>(0.0); }
    return a[(base + row * p.lda + k) / 4u];
}

fn load_b(base: u32, k: u32, col: u32) -> vec4<f32> {
    if (k >= p.k || col >= p.n) { return vec4<f32>(0.0); }
    return b[(base + k * p.n + col) / 4u];
}

// A's vec4 along k for `row` lands transposed: four k rows of As, one component each.
fn stage_a(row: u32, kq: u32, v: vec4<f32>) {
    let i = kq * 128u + row / 4u;
    let comp = row % 4u;
    As[i][comp] = v.x;
    As[i + 32u][comp] = v.y;
    As[i + 64u][comp] = v.z;
    As[i + 96u][comp] = v.w;
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let batch = wg.z;
    let m0 = wg.y * 128u;
    let n0 = wg.x * 128u;
    let a_base = p.a_off + batch * p.a_bstride;
    let b_base = p.b_off + batch * p.b_bstride;
    let c_base = p.c_off + batch * p.c_bstride;
    let tx = lid.x;
    let ty = lid.y;

    // What this invocation stages per tile: A rows ar and ar+64 at k offset akq*4; B k rows
    // bk and bk+8 at column vec4 bc.
    let ar = tid / 4u;
    let akq = tid % 4u;
    let bk = tid / 32u;
    let bc = tid % 32u;

    // Named accumulators, not an array (software adapters keep indexed arrays in memory):
    // cRH is row R of the invocation's eight, column half H.
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
    var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
    var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
    var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);

    var pa0 = load_a(a_base, m0 + ar, akq * 4u);
    var pa1 = load_a(a_base, m0 + ar + 64u, akq * 4u);
    var pb0 = load_b(b_base, bk, n0 + bc * 4u);
    var pb1 = load_b(b_base, bk + 8u, n0 + bc * 4u);
    let tiles = (p.k + 15u) / 16u;
    for (var t = 0u; t < tiles; t++) {
        stage_a(ar, akq, pa0);
        stage_a(ar + 64u, akq, pa1);
        Bs[bk * 32u + bc] = pb0;
        Bs[(bk + 8u) * 32u + bc] = pb1;
        workgroupBarrier();
        let k1 = (t + 1u) * 16u;
        if (k1 < p.k) {
            pa0 = load_a(a_base, m0 + ar, k1 + akq * 4u);
            pa1 = load_a(a_base, m0 + ar + 64u, k1 + akq * 4u);
            pb0 = load_b(b_base, k1 + bk, n0 + bc * 4u);
            pb1 = load_b(b_base, k1 + bk + 8u, n0 + bc * 4u);
        }
        for (var kk = 0u; kk < 16u; kk++) {
            let x0 = As[kk * 32u + ty];
            let x1 = As[kk * 32u + 16u + ty];
            let y0 = Bs[kk * 32u + tx];
            let y1 = Bs[kk * 32u + 16u + tx];
            c00 += x0.x * y0; c01 += x0.x * y1;
            c10 += x0.y * y0; c11 += x0.y * y1;
            c20 += x0.z * y0; c21 += x0.z * y1;
            c30 += x0.w * y0; c31 += x0.w * y1;
            c40 += x1.x * y0; c41 += x1.x * y1;
            c50 += x1.y * y0; c51 += x1.y * y1;
            c60 += x1.z * y0; c61 += x1.z * y1;
            c70 += x1.w * y0; c71 += x1.w * y1;
        }
        workgroupBarrier();
    }

    let r0 = m0 + ty * 4u;
    let r1 = m0 + 64u + ty * 4u;
    let q0 = n0 + tx * 4u;
    let q1 = n0 + 64u + tx * 4u;
    store4(c_base, batch, r0, q0, c00); store4(c_base, batch, r0, q1, c01);
    store4(c_base, batch, r0 + 1u, q0, c10); store4(c_base, batch, r0 + 1u, q1, c11);
    store4(c_base, batch, r0 + 2u, q0, c20); store4(c_base, batch, r0 + 2u, q1, c21);
    store4(c_base, batch, r0 + 3u, q0, c30); store4(c_base, batch, r0 + 3u, q1, c31);
    store4(c_base, batch, r1, q0, c40); store4(c_base, batch, r1, q1, c41);
    store4(c_base, batch, r1 + 1u, q0, c50); store4(c_base, batch, r1 + 1u, q1, c51);
    store4(c_base, batch, r1 + 2u, q0, c60); store4(c_base, batch, r1 + 2u, q1, c61);
    store4(c_base, batch, r1 + 3u, q0, c70); store4(c_base, batch, r1 + 3u, q1, c71);
}
//#else
// A 16 x TM/4 workgroup computes a TM x 64 tile of C through TM x 16 / 16 x 64 tiles of A and
// B staged in workgroup memory; each invocation owns 4 rows x 4 columns held in registers, the
// columns 16 apart (x, x+16, x+32, x+48), so neighbouring invocations read and write
// neighbouring floats of B's tile and of C (one vector access for a SIMD group, on a GPU or a
// software adapter, rather than a gather). TM is 64,
// or 32 / 16 (TM32 / TM16) when M is that small (a conv's output channels), so no invocation
// works on padding rows. The last K tile stops at K (a 3x3 conv on one channel has K = 9).
// With VEC4 (K, N, lda and every offset multiples of 4) A and B are read as vec4. With
// NARROW the same kernel computes a TM x 16 tile with a 4 x TM/4 workgroup (below).
//#if VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#endif
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

//#if TM16
const TM: u32 = 16u;
//#else
//#if TM32
const TM: u32 = 32u;
//#else
const TM: u32 = 64u;
//#endif
//#endif
// vec4s of A per k.
const TMV: u32 = TM / 4u;

// [k][m/4]: per k the inner loop reads one vec4 of As (four rows).
var<workgroup> As: array<vec4<f32>, 256>;

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

// A's vec4 along k at (`row`, `k`) of the tile lands transposed: four k rows of As, one
// component each.
fn stage_a(row: u32, k: u32, v: vec4<f32>) {
    let i = k * TMV + row / 4u;
    let comp = row % 4u;
    As[i][comp] = v.x;
    As[i + TMV][comp] = v.y;
    As[i + 2u * TMV][comp] = v.z;
    As[i + 3u * TMV][comp] = v.w;
}

//#if NARROW
// N <= 16 (a classifier's output layer), where the 64-wide tile is mostly padding columns: a
// TM x 16 tile, each invocation owning 4 rows x 4 consecutive columns, reading per k one vec4
// of As (its rows) and one of Bs (its columns) for 16 multiply-adds.
const TN: u32 = 16u;
const WX: u32 = 4u;
// [k][n/4], 16 k.
var<workgroup> Bs: array<vec4<f32>, 64>;
//#else
// The 64-wide tile: columns 16 apart per invocation.
const TN: u32 = 64u;
const WX: u32 = 16u;
// [k][n]: per k the inner loop reads four floats of Bs.
var<workgroup> Bs: array<f32, 1024>;

// Writes one row of an invocation's block (columns col, col+16, col+32, col+48) through the
// epilogue; columns past N and rows past M are skipped.
fn store(c_base: u32, batch: u32, row: u32, col: u32, acc: vec4<f32>) {
    if (row >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        let cj = col + j * 16u;
        if (cj < p.n) {
            let ci = c_base + row * p.n + cj;
            var prev = 0.0;
            if (p.accumulate != 0u) { prev = c[ci]; }
            c[ci] = epilogue(acc[j], prev, batch, row, cj);
        }
    }
}
//#endif
// Invocations per workgroup: WX across the tile's columns, TM / 4 down its rows.
const WG: u32 = WX * TMV;

@compute @workgroup_size(WX, TMV, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let batch = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    let a_base = p.a_off + batch * p.a_bstride;
    let b_base = p.b_off + batch * p.b_bstride;
    let c_base = p.c_off + batch * p.c_bstride;

    // Four named accumulators, not an array: an indexed private array can end up in memory
    // (software adapters keep it there), and every multiply-add would load and store it.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    let tiles = (p.k + 15u) / 16u;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * 16u;
        // A's tile, TM rows of four vec4s along K: one per invocation in the 64-wide tile,
        // four in the narrow one.
        for (var l = tid; l < TM * 4u; l += WG) {
            let ar = l / 4u;
            let ak = (l % 4u) * 4u;
            stage_a(ar, ak, load_a(a_base, m0 + ar, k0 + ak));
        }
//#if NARROW
        for (var l = tid; l < 64u; l += WG) {
            Bs[l] = load_b(b_base, k0 + l / 4u, n0 + (l % 4u) * 4u);
        }
//#else
        for (var l = tid; l < 256u; l += WG) {
            let bv = load_b(b_base, k0 + l / 16u, n0 + (l % 16u) * 4u);
            let bi = l * 4u;
            Bs[bi] = bv.x;
            Bs[bi + 1u] = bv.y;
            Bs[bi + 2u] = bv.z;
            Bs[bi + 3u] = bv.w;
        }
//#endif
        workgroupBarrier();
        let kend = min(16u, p.k - k0);
        for (var kk = 0u; kk < kend; kk++) {
            let x = As[kk * TMV + lid.y];
//#if NARROW
            let y = Bs[kk * 4u + lid.x];
//#else
            let bk = kk * 64u + lid.x;
            let y = vec4<f32>(Bs[bk], Bs[bk + 16u], Bs[bk + 32u], Bs[bk + 48u]);
//#endif
            acc0 += x.x * y;
            acc1 += x.y * y;
            acc2 += x.z * y;
            acc3 += x.w * y;
        }
        workgroupBarrier();
    }

    let row0 = m0 + lid.y * 4u;
//#if NARROW
    let col = n0 + lid.x * 4u;
    store4(c_base, batch, row0, col, acc0);
    store4(c_base, batch, row0 + 1u, col, acc1);
    store4(c_base, batch, row0 + 2u, col, acc2);
    store4(c_base, batch, row0 + 3u, col, acc3);
//#else
    let col0 = n0 + lid.x;
    if (col0 >= p.n) { return; }
    store(c_base, batch, row0, col0, acc0);
    store(c_base, batch, row0 + 1u, col0, acc1);
    store(c_base, batch, row0 + 2u, col0, acc2);
    store(c_base, batch, row0 + 3u, col0, acc3);
//#endif
}
//#endif
//#endif
