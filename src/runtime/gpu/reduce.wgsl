// Row kernels over [outer, n, inner]: a "row" is one (outer, inner) pair, its n values `inner`
// apart; one workgroup of 64 per row, combining through a workgroup tree. `x_off` / `y_off`
// place the rows within the bindings: a tensor over the binding limit is done a range of
// whole [n, inner] blocks at a time (reduce.rs).
// - `main`: reductions of the middle axis (ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2,
//   ArgMax/ArgMin, global pooling), one output value per row; arg* keep the first index on
//   ties, as ONNX's default select_last_index = 0 asks.
// - `softmax`: Softmax (op 0) / LogSoftmax (op 1) along the row: max, then the sum of
//   exp(x - max), then the write, so rows of any length stay numerically stable.

struct Params { n: u32, inner: u32, rows: u32, op: u32, x_off: u32, y_off: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> val: array<f32, 64>;
var<workgroup> idx: array<u32, 64>;

// (row, index of its first value). Every invocation reaches the barriers: out-of-range rows
// (row >= p.rows) read the last row and write nothing.
fn row_of(wg: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    let row = wg.y * nwg.x + wg.x;
    let r = min(row, p.rows - 1u);
    return vec2<u32>(row, p.x_off + (r / p.inner) * p.n * p.inner + r % p.inner);
}

fn init(op: u32) -> f32 {
    switch op {
        case 2u, 8u: { return -3.4028234e38; }
        case 3u, 9u: { return 3.4028234e38; }
        case 4u: { return 1.0; }
        default: { return 0.0; }
    }
}

// 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 sum of squares, 6 L1, 7 L2, 8 argmax, 9 argmin
fn combine(op: u32, acc: f32, v: f32) -> f32 {
    switch op {
        case 2u: { return max(acc, v); }
        case 3u: { return min(acc, v); }
        case 4u: { return acc * v; }
        case 5u, 7u: { return acc + v * v; }
        case 6u: { return acc + abs(v); }
        default: { return acc + v; }
    }
}

// Merges (v, i) into (acc, ai) for arg ops: strictly better wins, ties keep the lower index.
fn better(op: u32, v: f32, i: u32, acc: f32, ai: u32) -> bool {
    if (op == 8u) { return v > acc || (v == acc && i < ai); }
    return v < acc || (v == acc && i < ai);
}

// Folds val[0..64] (and idx, for arg ops) into val[0]: partial results combine by max, min,
// product or sum whatever made them (squares, absolute values).
fn tree(lid: u32, op: u32) {
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let v = val[lid + s];
            if (op >= 8u) {
                if (better(op, v, idx[lid + s], val[lid], idx[lid])) {
                    val[lid] = v;
                    idx[lid] = idx[lid + s];
                }
            } else if (op == 2u || op == 3u || op == 4u) {
                val[lid] = combine(op, val[lid], v);
            } else {
                val[lid] = val[lid] + v;
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let rb = row_of(wg, nwg);
    let arg = p.op >= 8u;
    var acc = init(p.op);
    var ai = 0xffffffffu;
    for (var j = lid; j < p.n; j += 64u) {
        let v = x[rb.y + j * p.inner];
        if (arg) {
            if (better(p.op, v, j, acc, ai)) { acc = v; ai = j; }
        } else {
            acc = combine(p.op, acc, v);
        }
    }
    val[lid] = acc;
    idx[lid] = ai;
    tree(lid, p.op);
    if (rb.x >= p.rows || lid != 0u) { return; }
    var out = val[0];
    if (p.op == 1u) { out = out / f32(p.n); }
    if (p.op == 7u) { out = sqrt(out); }
    if (arg) { out = f32(idx[0]); }
    y[p.y_off + rb.x] = out;
}

@compute @workgroup_size(64, 1, 1)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let rb = row_of(wg, nwg);
    let base = rb.y;
    var m = -3.4028234e38;
    for (var j = lid; j < p.n; j += 64u) { m = max(m, x[base + j * p.inner]); }
    val[lid] = m;
    tree(lid, 2u);
    let mx = val[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = lid; j < p.n; j += 64u) { sum += exp(x[base + j * p.inner] - mx); }
    val[lid] = sum;
    tree(lid, 0u);
    let total = val[0];
    if (rb.x >= p.rows) { return; }
    let lt = log(total);
    for (var j = lid; j < p.n; j += 64u) {
        let i = base + j * p.inner;
        let o = i - p.x_off + p.y_off;
        if (p.op != 0u) {
            y[o] = x[i] - mx - lt;
        } else {
            y[o] = exp(x[i] - mx) / total;
        }
    }
}
