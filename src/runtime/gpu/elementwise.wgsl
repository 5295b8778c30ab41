// Elementwise kernels over strided views: one invocation per output element walks the output
// coordinates and reads each input through its own strides, so broadcasting (stride 0),
// Transpose and Expand are the same kernel as Relu or Add. Rank <= 8. A dispatch may cover
// output elements `start..start + n` only (a tensor over the binding limit, elementwise.rs):
// it walks from `start`, and `a_off` / `b_off` / `out_off` place that walk in its bindings.

struct Params {
    shape: array<vec4<u32>, 2>,
    sa: array<vec4<u32>, 2>,
    sb: array<vec4<u32>, 2>,
    n: u32, rank: u32, op: u32, out_off: u32,
    p0: f32, p1: f32, a_off: u32, b_off: u32,
    start: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

fn linear_id(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + lid;
}

fn binop(x: f32, y: f32, op: u32) -> f32 {
    switch op {
        case 0u: { return x + y; }
        case 1u: { return x - y; }
        case 2u: { return x * y; }
        case 3u: { return x / y; }
        case 4u: { return pow(x, y); }
        case 5u: { return max(x, y); }
        case 6u: { return min(x, y); }
        case 7u: { return select(x * y, x, x >= 0.0); }
        default: { return x; }
    }
}

// Where output element i reads a and b: its coordinates walked through each input's strides.
fn offsets(i: u32) -> vec2<u32> {
    var rem = i;
    var o = vec2<u32>(p.a_off, p.b_off);
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let du = u32(d);
        let size = p.shape[du / 4u][du % 4u];
        let coord = rem % size;
        rem = rem / size;
        o += coord * vec2<u32>(p.sa[du / 4u][du % 4u], p.sb[du / 4u][du % 4u]);
    }
    return o;
}

@compute @workgroup_size(256, 1, 1)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wg, nwg, lid);
    if (i >= p.n) { return; }
    out[p.out_off + i] = activate(a[offsets(p.start + i).x], p.op, p.p0, p.p1);
}

@compute @workgroup_size(256, 1, 1)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wg, nwg, lid);
    if (i >= p.n) { return; }
    let o = offsets(p.start + i);
    out[p.out_off + i] = binop(a[o.x], b[o.y], p.op);
}
