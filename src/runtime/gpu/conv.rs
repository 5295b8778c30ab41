//! Conv (1-D and 2-D, groups, dilations, padding) as im2col + the tiled GEMM.
//!
//! im2col costs memory (C*kh*kw x OH*OW per image) but reuses the one well-tuned kernel and
//! its fused bias/activation epilogue; 1x1 stride-1 convolutions skip it and read the input
//! directly. The images of a batch are done in blocks as large as one binding allows (the
//! whole batch when it fits): one im2col dispatch for the block, then one GEMM batched over
//! its images, so a batch of 256 is a few dispatches, not 512. Over the binding limit,
//! im2col runs a range of channels at a time and the GEMM splits itself (gemm.rs).

use super::device::{GpuTensor, Recorder, View};
use super::elementwise::Act;
use super::gemm::{self, BiasLayout, Epilogue, GemmCall};
use crate::error::{Error, Result};

pub(crate) const SOURCE: &str = super::device::wgsl!("window.wgsl");

/// 2-D convolution / pooling geometry. Pads are [top, left, bottom, right] as ONNX orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
}

impl Window {
    pub fn new(kernel: [usize; 2]) -> Self {
        Window { kernel, strides: [1, 1], pads: [0; 4], dilations: [1, 1] }
    }

    /// Output extent along axis `i` (0 = H, 1 = W) for input extent `size`.
    pub fn out_size(&self, i: usize, size: usize, ceil: bool) -> Result<usize> {
        let span = (self.kernel[i].max(1) - 1) * self.dilations[i] + 1;
        let padded = size + self.pads[i] + self.pads[i + 2];
        let s = self.strides[i].max(1);
        if padded < span {
            return Err(Error::InvalidArgument(format!(
                "window of extent {span} does not fit input extent {size} padded to {padded}"
            )));
        }
        let mut out = if ceil { (padded - span).div_ceil(s) + 1 } else { (padded - span) / s + 1 };
        // ceil_mode: the last window must start inside the input or the leading padding.
        if ceil && (out - 1) * s >= size + self.pads[i] {
            out -= 1;
        }
        Ok(out)
    }
}

/// Records window.wgsl's `entry` (im2col or pool) over `planes` planes of `h` x `w` values read
/// from element `x_start` of `x`, writing `out_per` values a plane from element `out_start` of
/// `out`; `oh` x `ow` is the output grid, `kind` the pooling kind. As many planes as the
/// binding limit allows are bound per dispatch, so a large activation is split by planes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn window_planes(
    rec: &mut Recorder<'_>,
    entry: &str,
    win: &Window,
    [h, w, oh, ow]: [usize; 4],
    (x, x_start): (&wgpu::Buffer, usize),
    (out, out_start): (&wgpu::Buffer, usize),
    planes: usize,
    out_per: usize,
    kind: u32,
) -> Result<()> {
    let gpu = rec.gpu();
    let room = gpu.view_elems();
    let in_per = h * w;
    let chunk = (room / in_per.max(1)).min(room / out_per.max(1));
    if chunk == 0 {
        return Err(Error::GpuLimit {
            tensor: format!("one {h}x{w} plane of a {entry} input with {out_per} outputs"),
            bytes: (in_per.max(out_per) * 4) as u64,
            limit: gpu.summary().max_binding_bytes,
        });
    }
    let align = gpu.summary().binding_align_bytes;
    let pipe = gpu.pipeline("window", SOURCE, &[], entry)?;
    let u = |v: usize| v as u32;
    for p0 in (0..planes).step_by(chunk) {
        let n = chunk.min(planes - p0);
        let xv = View::range(x, x_start + p0 * in_per, n * in_per);
        let ov = View::range(out, out_start + p0 * out_per, n * out_per);
        let words = [
            u(n),
            u(h),
            u(w),
            u(oh),
            u(ow),
            u(win.kernel[0]),
            u(win.kernel[1]),
            u(win.strides[0]),
            u(win.strides[1]),
            u(win.pads[0]),
            u(win.pads[1]),
            u(win.dilations[0]),
            u(win.dilations[1]),
            u(xv.rel(align)),
            u(ov.rel(align)),
            kind,
            u(win.pads[2]),
            u(win.pads[3]),
            0,
            0,
        ];
        rec.dispatch_views(&pipe, &words, &[xv, ov], super::elementwise::groups(n * out_per, 256))?;
    }
    Ok(())
}

/// ONNX Conv on NCHW (NCL is passed as NC1L): `w` is [Cout, C/group, kh, kw], `bias` [Cout].
pub fn conv2d(
    rec: &mut Recorder<'_>,
    x: &GpuTensor,
    w: &GpuTensor,
    bias: Option<&GpuTensor>,
    win: &Window,
    group: usize,
    act: Act,
) -> Result<GpuTensor> {
    let bad = |why: String| Error::InvalidArgument(format!("Conv: input {:?}, weights {:?}: {why}", x.shape, w.shape));
    if x.shape.len() != 4 || w.shape.len() != 4 {
        return Err(bad("expected 4-D NCHW input and weights".into()));
    }
    let (nb, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let group = group.max(1);
    if c != cg * group || cout % group != 0 {
        return Err(bad(format!("channels do not match group {group}")));
    }
    if [kh, kw] != win.kernel {
        return Err(bad(format!("kernel_shape {:?} differs from the weights", win.kernel)));
    }
    if let Some(b) = bias {
        if b.len() != cout {
            return Err(bad(format!("bias has {} values, expected {cout}", b.len())));
        }
    }
    let (oh, ow) = (win.out_size(0, h, false)?, win.out_size(1, wd, false)?);
    let gpu = rec.gpu();
    let out = gpu.empty(&[nb, cout, oh, ow])?;
    let hw = oh * ow;
    let kg = cg * kh * kw;
    let cog = cout / group;
    let direct = kh == 1 && kw == 1 && win.strides == [1, 1] && win.pads == [0; 4];
    // Images per im2col block: as many as one binding holds (the whole batch when it fits),
    // so the block's columns feed one batched GEMM.
    let per_image = c * kh * kw * hw;
    let block = if direct { nb } else { (gpu.view_elems() / per_image.max(1)).min(nb).max(1) };
    let cols = if direct { None } else { Some(gpu.empty(&[block * per_image])?) };
    let ep = Epilogue {
        bias: bias.map(|b| (&b.buf, BiasLayout { off: 0, bstride: cog, rs: 1, cs: 0 })),
        alpha: 1.0,
        beta: 1.0,
        act,
    };
    // The image step of B: the columns of one image, or its input when the conv is 1x1.
    let b_image = if direct { c * h * wd } else { per_image };
    for i0 in (0..nb).step_by(block.max(1)) {
        let imgs = block.min(nb - i0);
        let (bbuf, b_off) = match &cols {
            Some(cols) => {
                // Image i's channels are planes i*C.., and its columns start at plane i*C's
                // output, so one im2col over imgs*C planes lays out the block's columns.
                let geom = [h, wd, oh, ow];
                let x_off = i0 * c * h * wd;
                window_planes(rec, "im2col", win, geom, (&x.buf, x_off), (&cols.buf, 0), imgs * c, kh * kw * hw, 0)?;
                (&cols.buf, 0)
            }
            None => (&x.buf, i0 * c * h * wd),
        };
        let c_off = i0 * cout * hw;
        // One batched GEMM over the images of the block per group (the usual group = 1), or,
        // when there are more groups than images (depthwise), over the groups per image.
        let by_image = group <= imgs;
        let (loops, batch) = if by_image { (group, imgs) } else { (imgs, group) };
        for l in 0..loops {
            let (g, img) = if by_image { (l, 0) } else { (0, l) };
            let call = GemmCall {
                m: cog,
                n: hw,
                k: kg,
                batch,
                a_off: g * cog * kg,
                a_bstride: if by_image { 0 } else { cog * kg },
                b_off: b_off + img * b_image + g * kg * hw,
                b_bstride: if by_image { b_image } else { kg * hw },
                c_off: c_off + img * cout * hw + g * cog * hw,
                c_bstride: if by_image { cout * hw } else { cog * hw },
            };
            let bstride = if by_image { 0 } else { cog };
            let bias = ep.bias.map(|(buf, l)| (buf, BiasLayout { off: g * cog, bstride, ..l }));
            gemm::record(rec, &w.buf, bbuf, &out.buf, call, &Epilogue { bias, ..ep })?;
        }
    }
    Ok(out)
}
