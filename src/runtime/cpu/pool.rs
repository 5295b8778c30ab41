//! Max and average pooling over the same lifted 3-D geometry as convolution.

use super::conv::Geometry;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PoolKind {
    Max,
    /// Average; `true` counts padded positions in the divisor (`count_include_pad`).
    Avg(bool),
    /// Lp norm with exponent p.
    Lp(f32),
}

/// Pool `planes` planes of `g.input` values each into `g.output` values each.
/// `pad_end` is the after-padding: with `count_include_pad` the window is clipped to the
/// padded extent, as ONNX's reference does.
pub fn pool(x: &[f32], planes: usize, g: &Geometry, pad_end: [usize; 3], kind: PoolKind, y: &mut [f32]) {
    let (isz, osz) = (g.input_size(), g.output_size());
    if kind == PoolKind::Max && g.pad == [0; 3] && g.dilation == [1; 3] && g.kernel[0] == 1 && g.stride[0] == 1 {
        if let Some(()) = max_pool_2d_inside(x, planes, g, y) {
            return;
        }
    }
    let [id, ih, iw] = g.input;
    let [od, oh, ow] = g.output;
    for p in 0..planes {
        let xp = &x[p * isz..(p + 1) * isz];
        let yp = &mut y[p * osz..(p + 1) * osz];
        for z in 0..od {
            for yy in 0..oh {
                for xx in 0..ow {
                    let start = [
                        (z * g.stride[0]) as isize - g.pad[0] as isize,
                        (yy * g.stride[1]) as isize - g.pad[1] as isize,
                        (xx * g.stride[2]) as isize - g.pad[2] as isize,
                    ];
                    let mut max = f32::NEG_INFINITY;
                    let (mut sum, mut count, mut padded_count) = (0f32, 0usize, 0usize);
                    for a in 0..g.kernel[0] {
                        let zi = start[0] + (a * g.dilation[0]) as isize;
                        for b in 0..g.kernel[1] {
                            let yi = start[1] + (b * g.dilation[1]) as isize;
                            for e in 0..g.kernel[2] {
                                let xi = start[2] + (e * g.dilation[2]) as isize;
                                let inside_padded = zi < (id + pad_end[0]) as isize
                                    && yi < (ih + pad_end[1]) as isize
                                    && xi < (iw + pad_end[2]) as isize;
                                if inside_padded {
                                    padded_count += 1;
                                }
                                if zi < 0
                                    || yi < 0
                                    || xi < 0
                                    || zi >= id as isize
                                    || yi >= ih as isize
                                    || xi >= iw as isize
                                {
                                    continue;
                                }
                                let v = xp[(zi as usize * ih + yi as usize) * iw + xi as usize];
                                match kind {
                                    PoolKind::Max => max = max.max(v),
                                    PoolKind::Avg(_) => sum += v,
                                    PoolKind::Lp(p) => sum += v.abs().powf(p),
                                }
                                count += 1;
                            }
                        }
                    }
                    yp[(z * oh + yy) * ow + xx] = match kind {
                        PoolKind::Max => max,
                        PoolKind::Avg(true) => sum / padded_count.max(1) as f32,
                        PoolKind::Avg(false) => sum / count.max(1) as f32,
                        PoolKind::Lp(p) => sum.powf(1.0 / p),
                    };
                }
            }
        }
    }
}

/// Max pooling of unpadded, undilated 2-D windows (the CNN case), without the general path's
/// per-tap bounds checks; `None` (nothing written) when some window leaves the input.
fn max_pool_2d_inside(x: &[f32], planes: usize, g: &Geometry, y: &mut [f32]) -> Option<()> {
    let [id, ih, iw] = g.input;
    let [od, oh, ow] = g.output;
    let ([_, kh, kw], [_, sh, sw]) = (g.kernel, g.stride);
    if od != id || oh == 0 || ow == 0 || (oh - 1) * sh + kh > ih || (ow - 1) * sw + kw > iw {
        return None;
    }
    let (isz, osz) = (g.input_size(), g.output_size());
    for (xp, yp) in x.chunks_exact(ih * iw).zip(y.chunks_exact_mut(oh * ow)).take(planes * od) {
        for (yy, yrow) in yp.chunks_exact_mut(ow).enumerate() {
            let base = yy * sh * iw;
            if (kh, kw, sw) == (2, 2, 2) {
                // The common 2x2 / stride 2 window: pairs of two rows, which vectorises.
                let (r0, r1) = (&xp[base..][..2 * ow], &xp[base + iw..][..2 * ow]);
                for ((out, a), b) in yrow.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                    *out = pmax(pmax(a[0], a[1]), pmax(b[0], b[1]));
                }
                continue;
            }
            for (xx, out) in yrow.iter_mut().enumerate() {
                let mut m = f32::NEG_INFINITY;
                for b in 0..kh {
                    let row = &xp[base + b * iw + xx * sw..][..kw];
                    for &v in row {
                        m = pmax(m, v);
                    }
                }
                *out = m;
            }
        }
    }
    debug_assert!(x.len() >= planes * isz && y.len() >= planes * osz);
    Some(())
}

/// `max` as one compare and select (x86 `maxss`, wasm `f32x4.pmax` once vectorised), where
/// `f32::max`'s NaN rules cost several instructions per element; a NaN input is skipped
/// unless it comes first, which ONNX leaves unspecified.
#[inline(always)]
fn pmax(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}
