// im2col for one image: cols[(c * kh + ki) * kw + kj, oy * ow + ox] = x[c, iy, ix] (0 in the
// padding), so a convolution becomes weights [Cout, C*kh*kw] x cols, a GEMM whose epilogue adds
// the bias and the fused activation. Groups are contiguous row blocks of cols.

struct Params {
    c: u32, h: u32, w: u32, oh: u32,
    ow: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, pt: u32, pl: u32, dh: u32,
    dw: u32, x_off: u32, total: u32, pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.total) { return; }
    let hw = p.oh * p.ow;
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
    cols[i] = v;
}
