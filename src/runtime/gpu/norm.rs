//! BatchNormalization (inference) and LayerNormalization.
//!
//! BatchNorm's four parameter vectors are constants in every exported model, so they are
//! folded on the host into one scale and shift per channel and the GPU does one FMA per value.

use super::device::{GpuTensor, Recorder, View};
use super::softmax::norm_axis;
use crate::error::{Error, Result};

const SOURCE: &str = super::device::wgsl!("norm.wgsl");

/// (scale, shift) with y = x * scale + shift equal to BatchNormalization's output.
pub fn fold_batch_norm(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = gamma.len();
    if beta.len() != c || mean.len() != c || var.len() != c {
        return Err(Error::InvalidArgument(format!(
            "BatchNormalization: scale, B, mean and var must have the same length, got {}, {}, {}, {}",
            c,
            beta.len(),
            mean.len(),
            var.len()
        )));
    }
    let scale: Vec<f32> = (0..c).map(|i| gamma[i] / (var[i] + eps).sqrt()).collect();
    let shift: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
    Ok((scale, shift))
}

/// y = x * scale[c] + shift[c] over the channel axis 1 of [N, C, ...].
pub fn channel_affine(
    rec: &mut Recorder<'_>,
    x: &GpuTensor,
    scale: &GpuTensor,
    shift: &GpuTensor,
) -> Result<GpuTensor> {
    let c = if x.shape.len() >= 2 { x.shape[1] } else { 1 };
    if scale.len() != c || shift.len() != c {
        return Err(Error::InvalidArgument(format!(
            "BatchNormalization: input {:?} has {c} channels but the parameters have {} and {}",
            x.shape,
            scale.len(),
            shift.len()
        )));
    }
    let inner: usize = x.shape.iter().skip(2).product();
    let gpu = rec.gpu();
    let out = gpu.empty(&x.shape)?;
    let pipe = gpu.pipeline("norm", SOURCE, &[], "channel_affine")?;
    let (sv, hv) = (View::whole(&scale.buf), View::whole(&shift.buf));
    // Over the binding limit, ranges of elements; the kernel finds the channel from the
    // range's start.
    let per = gpu.split_count("BatchNormalization input", 1, x.len())?;
    let align = gpu.summary().binding_align_bytes;
    for i0 in (0..x.len()).step_by(per) {
        let len = per.min(x.len() - i0);
        let (xv, ov) = (View::range(&x.buf, i0, len), View::range(&out.buf, i0, len));
        let words = [len as u32, inner as u32, c as u32, 0, 0, i0 as u32, xv.rel(align) as u32, ov.rel(align) as u32];
        rec.dispatch_views(&pipe, &words, &[xv, ov, sv, hv], super::elementwise::groups(len, 256))?;
    }
    Ok(out)
}

/// LayerNormalization over axes `axis..`; `scale`/`bias` hold one value per normalised element.
pub fn layer_norm(
    rec: &mut Recorder<'_>,
    x: &GpuTensor,
    axis: i64,
    scale: &GpuTensor,
    bias: &GpuTensor,
    eps: f32,
) -> Result<GpuTensor> {
    let ax = norm_axis(axis, x.shape.len())?;
    let n: usize = x.shape[ax..].iter().product();
    if scale.len() != n || bias.len() != n {
        return Err(Error::InvalidArgument(format!(
            "LayerNormalization: input {:?} normalises {n} values per row but Scale has {} and B {}",
            x.shape,
            scale.len(),
            bias.len()
        )));
    }
    let rows = x.len() / n.max(1);
    let gpu = rec.gpu();
    let out = gpu.empty(&x.shape)?;
    if rows == 0 {
        return Ok(out);
    }
    let pipe = gpu.pipeline("norm", SOURCE, &[], "layer_norm")?;
    let (sv, bv) = (View::whole(&scale.buf), View::whole(&bias.buf));
    // Over the binding limit, a range of whole rows at a time.
    let per = gpu.split_count(&format!("one LayerNormalization row of {n} values"), n, rows)?;
    let align = gpu.summary().binding_align_bytes;
    for r0 in (0..rows).step_by(per) {
        let nr = per.min(rows - r0);
        let (xv, ov) = (View::range(&x.buf, r0 * n, nr * n), View::range(&out.buf, r0 * n, nr * n));
        let words = [n as u32, 1, 1, nr as u32, eps.to_bits(), 0, xv.rel(align) as u32, ov.rel(align) as u32];
        rec.dispatch_views(&pipe, &words, &[xv, ov, sv, bv], [nr as u32, 1, 1])?;
    }
    Ok(out)
}
