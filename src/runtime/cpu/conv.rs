//! Convolution as im2col + GEMM, and transposed convolution as GEMM + col2im.
//!
//! 1-D and 2-D problems are lifted to 3-D with unit leading axes, so one set of loops
//! serves every rank ONNX models use. A 1x1 stride-1 unpadded convolution skips im2col:
//! the input already is the column matrix.

use super::gemm::{self, MatRef, Operand, Packed};
use super::Microkernel;

/// Spatial geometry of a convolution or pooling window, lifted to 3-D.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// Padding before each axis (after-padding only affects the output size).
    pub pad: [usize; 3],
    pub output: [usize; 3],
}

impl Geometry {
    pub fn kernel_size(&self) -> usize {
        self.kernel.iter().product()
    }
    pub fn output_size(&self) -> usize {
        self.output.iter().product()
    }
    pub fn input_size(&self) -> usize {
        self.input.iter().product()
    }
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1, 1] && self.stride == [1, 1, 1] && self.pad == [0, 0, 0]
    }
}

/// Lift per-axis values of a 1-3 axis problem to 3 axes, filling leading axes with `fill`.
pub fn lift(v: &[usize], fill: usize) -> [usize; 3] {
    let mut out = [fill; 3];
    let off = 3 - v.len();
    out[off..].copy_from_slice(v);
    out
}

/// Fill `col` (`cin * kernel_size` rows x `output_size` columns) from one image `x`
/// (`cin` channels of `input_size` values).
pub fn im2col(x: &[f32], cin: usize, g: &Geometry, col: &mut Vec<f32>) {
    let [id, ih, iw] = g.input;
    let [kd, kh, kw] = g.kernel;
    let [od, oh, ow] = g.output;
    let p = g.output_size();
    col.clear();
    col.resize(cin * g.kernel_size() * p, 0.0);
    let mut row = 0;
    for c in 0..cin {
        let xc = &x[c * g.input_size()..(c + 1) * g.input_size()];
        for a in 0..kd {
            for b in 0..kh {
                for e in 0..kw {
                    let out = &mut col[row * p..(row + 1) * p];
                    row += 1;
                    for z in 0..od {
                        let zi = (z * g.stride[0] + a * g.dilation[0]) as isize - g.pad[0] as isize;
                        if zi < 0 || zi >= id as isize {
                            continue;
                        }
                        for y in 0..oh {
                            let yi = (y * g.stride[1] + b * g.dilation[1]) as isize - g.pad[1] as isize;
                            if yi < 0 || yi >= ih as isize {
                                continue;
                            }
                            let src = &xc[(zi as usize * ih + yi as usize) * iw..][..iw];
                            let dst = &mut out[(z * oh + y) * ow..][..ow];
                            let x0 = e as isize * g.dilation[2] as isize - g.pad[2] as isize;
                            let s = g.stride[2] as isize;
                            if s == 1 {
                                // Unit stride: the in-bounds part of the row is one copy (the
                                // padded ends stay zero).
                                let lo = (-x0).clamp(0, ow as isize) as usize;
                                let hi = (iw as isize - x0).clamp(lo as isize, ow as isize) as usize;
                                if hi > lo {
                                    let from = (x0 + lo as isize) as usize;
                                    dst[lo..hi].copy_from_slice(&src[from..from + (hi - lo)]);
                                }
                                continue;
                            }
                            for (xo, d) in dst.iter_mut().enumerate() {
                                let xi = x0 + xo as isize * s;
                                if xi >= 0 && xi < iw as isize {
                                    *d = src[xi as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Scatter-add a column matrix (`c * kernel_size` rows x `input_size` columns, where
/// `input` is the *transposed* conv's input grid) into an image of `output` spatial size.
pub fn col2im(col: &[f32], c: usize, g: &Geometry, out: &mut [f32]) {
    let [id, ih, iw] = g.input;
    let [kd, kh, kw] = g.kernel;
    let [od, oh, ow] = g.output;
    let p = g.input_size();
    let osz = g.output_size();
    let mut row = 0;
    for ch in 0..c {
        let oc = &mut out[ch * osz..(ch + 1) * osz];
        for a in 0..kd {
            for b in 0..kh {
                for e in 0..kw {
                    let src = &col[row * p..(row + 1) * p];
                    row += 1;
                    for z in 0..id {
                        let zo = (z * g.stride[0] + a * g.dilation[0]) as isize - g.pad[0] as isize;
                        if zo < 0 || zo >= od as isize {
                            continue;
                        }
                        for y in 0..ih {
                            let yo = (y * g.stride[1] + b * g.dilation[1]) as isize - g.pad[1] as isize;
                            if yo < 0 || yo >= oh as isize {
                                continue;
                            }
                            for x in 0..iw {
                                let xo = (x * g.stride[2] + e * g.dilation[2]) as isize - g.pad[2] as isize;
                                if xo >= 0 && xo < ow as isize {
                                    oc[(zo as usize * oh + yo as usize) * ow + xo as usize] +=
                                        src[(z * ih + y) * iw + x];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Weights of one convolution, per group, as GEMM left operands (`cout/groups` rows x
/// `cin/groups * kernel_size` columns), packed once.
pub struct ConvWeights {
    pub groups: usize,
    pub packed: Vec<Packed>,
}

impl ConvWeights {
    pub fn pack(kernel: &Microkernel, w: &[f32], cout: usize, groups: usize, k: usize) -> ConvWeights {
        let cg = cout / groups;
        let packed = (0..groups)
            .map(|gi| gemm::pack_left(kernel, MatRef::row_major(&w[gi * cg * k..(gi + 1) * cg * k], k), cg, k))
            .collect();
        ConvWeights { groups, packed }
    }
}

/// Forward convolution of one image `x` (`cin x input`) into `y` (`cout x output`), plus
/// the per-channel `bias`, then `max(0, .)` when `relu` (a Conv whose reader is a Relu, fused
/// at load time): bias and activation touch the image while it is still in cache.
#[allow(clippy::too_many_arguments)]
pub fn conv_image(
    kernel: &Microkernel,
    x: &[f32],
    cin: usize,
    cout: usize,
    g: &Geometry,
    w: &ConvWeights,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    col: &mut Vec<f32>,
) {
    let groups = w.groups;
    let (cig, cog) = (cin / groups, cout / groups);
    let (isz, osz, k) = (g.input_size(), g.output_size(), cig * g.kernel_size());
    for (ch, plane) in y.chunks_exact_mut(osz.max(1)).enumerate().take(cout) {
        plane.fill(bias.and_then(|bv| bv.get(ch)).copied().unwrap_or(0.0));
    }
    for gi in 0..groups {
        let xs = &x[gi * cig * isz..][..cig * isz];
        let ys = &mut y[gi * cog * osz..][..cog * osz];
        let bmat = if g.is_pointwise() {
            MatRef::row_major(xs, isz)
        } else {
            im2col(xs, cig, g, col);
            MatRef::row_major(col, osz)
        };
        gemm::sgemm(kernel, cog, osz, k, 1.0, Operand::Packed(&w.packed[gi]), Operand::Strided(bmat), ys, osz, true);
    }
    if relu {
        super::nn::relu_in_place(&mut y[..cout * osz]);
    }
}

/// Transposed convolution. `w` is ONNX's `cin x cout/groups x kernel`; `g.input` is the
/// input grid and `g.output` the (already computed) output grid. `y` is pre-filled with
/// the bias and accumulated into.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose(
    kernel: &Microkernel,
    x: &[f32],
    n: usize,
    cin: usize,
    cout: usize,
    groups: usize,
    g: &Geometry,
    w: &[f32],
    y: &mut [f32],
    col: &mut Vec<f32>,
) {
    let (cig, cog) = (cin / groups, cout / groups);
    let (isz, osz, ks) = (g.input_size(), g.output_size(), g.kernel_size());
    let rows = cog * ks;
    for b in 0..n {
        for gi in 0..groups {
            let xs = &x[(b * cin + gi * cig) * isz..][..cig * isz];
            let wg = &w[gi * cig * rows..][..cig * rows];
            col.clear();
            col.resize(rows * isz, 0.0);
            gemm::sgemm(
                kernel,
                rows,
                isz,
                cig,
                1.0,
                Operand::Strided(MatRef::transposed(wg, rows)),
                Operand::Strided(MatRef::row_major(xs, isz)),
                col,
                isz,
                false,
            );
            let ys = &mut y[(b * cout + gi * cog) * osz..][..cog * osz];
            col2im(col, cog, g, ys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_matches_a_direct_loop() {
        // 1 image, 2 channels 5x5, 3 filters 3x3, stride 2, pad 1.
        let x: Vec<f32> = (0..50).map(|i| i as f32 * 0.1).collect();
        let w: Vec<f32> = (0..54).map(|i| (i % 7) as f32 - 3.0).collect();
        let g = Geometry {
            input: [1, 5, 5],
            kernel: [1, 3, 3],
            stride: [1, 2, 2],
            dilation: [1; 3],
            pad: [0, 1, 1],
            output: [1, 3, 3],
        };
        let k = super::super::best();
        let cw = ConvWeights::pack(k, &w, 3, 1, 18);
        let mut y = vec![0.0; 27];
        conv_image(k, &x, 2, 3, &g, &cw, None, false, &mut y, &mut Vec::new());
        for o in 0..3 {
            for i in 0..3 {
                for j in 0..3 {
                    let mut s = 0.0;
                    for c in 0..2 {
                        for a in 0..3 {
                            for b in 0..3 {
                                let (yi, xi) = ((i * 2 + a) as isize - 1, (j * 2 + b) as isize - 1);
                                if (0..5).contains(&yi) && (0..5).contains(&xi) {
                                    s += x[c * 25 + yi as usize * 5 + xi as usize] * w[((o * 2 + c) * 3 + a) * 3 + b];
                                }
                            }
                        }
                    }
                    assert!((y[o * 9 + i * 3 + j] - s).abs() < 1e-4);
                }
            }
        }
    }
}
