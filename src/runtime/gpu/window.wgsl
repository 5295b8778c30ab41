// Sliding windows over NCHW planes (1-D as H = 1): im2col for convolution and Max/Average
// pooling share the window geometry. Both read `x` from `x_off` and write `out` from `out_off`
// (element offsets within the bindings), so a caller may bind a range of planes at a time.

struct Params {
    planes: u32, h: u32, w: u32, oh: u32,
    ow: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, pt: u32, pl: u32, dh: u32,
    dw: u32, x_off: u32, out_off: u32, kind: u32,
    pb: u32, pr: u32, pad0: u32, pad1: u32, // pb/pr: bottom/right padding
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn linear_id(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// im2col: out[(c * kh + ki) * kw + kj, oy * ow + ox] = x[c, iy, ix] (0 in the padding), so a
// convolution becomes weights [Cout, C*kh*kw] x cols, a GEMM whose epilogue adds the bias and
// the fused activation. Groups are contiguous row blocks of cols.
@compute @workgroup_size(256, 1, 1)
fn im2col(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wg, nwg, lid);
    let hw = p.oh * p.ow;
    if (i >= p.planes * p.kh * p.kw * hw) { return; }
    let row = i / hw;
    let col = i % hw;
    let kj = row % p.kw;
    let ki = (row / p.kw) % p.kh;
    let ch = row / (p.kw * p.kh);
    let iy = i32((col / p.ow) * p.sh + ki * p.dh) - i32(p.pt);
    let ix = i32((col % p.ow) * p.sw + kj * p.dw) - i32(p.pl);
    var v = 0.0;
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        v = x[p.x_off + (ch * p.h + u32(iy)) * p.w + u32(ix)];
    }
    out[p.out_off + i] = v;
}

// Pooling, one invocation per output value (kind 0: max, 1: average, 2: average with
// count_include_pad); padding cells are skipped for max and for average unless count_include_pad.
@compute @workgroup_size(256, 1, 1)
fn pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wg, nwg, lid);
    if (i >= p.planes * p.oh * p.ow) { return; }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    let base = p.x_off + plane * p.h * p.w;
    var acc = select(0.0, -3.4028234e38, p.kind == 0u);
    var count = 0u;
    for (var ki = 0u; ki < p.kh; ki++) {
        let iy = i32(oy * p.sh + ki * p.dh) - i32(p.pt);
        for (var kj = 0u; kj < p.kw; kj++) {
            let ix = i32(ox * p.sw + kj * p.dw) - i32(p.pl);
            if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { continue; }
            let v = x[base + u32(iy) * p.w + u32(ix)];
            if (p.kind == 0u) { acc = max(acc, v); } else { acc += v; }
            count += 1u;
        }
    }
    if (p.kind == 1u) {
        acc = acc / f32(max(count, 1u));
    } else if (p.kind == 2u) {
        // count_include_pad: the window clipped to the padded input, as ONNX defines it.
        let y0 = i32(oy * p.sh) - i32(p.pt);
        let x0 = i32(ox * p.sw) - i32(p.pl);
        let y1 = min(y0 + i32((p.kh - 1u) * p.dh + 1u), i32(p.h + p.pb));
        let x1 = min(x0 + i32((p.kw - 1u) * p.dw + 1u), i32(p.w + p.pr));
        let cells = ((y1 - y0 + i32(p.dh) - 1) / i32(p.dh)) * ((x1 - x0 + i32(p.dw) - 1) / i32(p.dw));
        acc = acc / f32(max(cells, 1));
    }
    out[p.out_off + i] = acc;
}
