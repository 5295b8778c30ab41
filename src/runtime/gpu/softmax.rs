//! Softmax and LogSoftmax along one axis (opset >= 13), or over the flattened trailing axes
//! (opset < 13's `axis` meaning). The kernel is reduce.wgsl's `softmax`: a row reduction (max,
//! then sum) followed by the write.

use super::device::{GpuTensor, Recorder};
use crate::error::{Error, Result};

/// Normalises a possibly negative ONNX axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(Error::InvalidArgument(format!("axis {axis} is out of range for a tensor of rank {rank}")));
    }
    Ok(a as usize)
}

/// `flatten_tail`: treat axes `axis..` as one (opset < 13 semantics).
pub fn softmax(rec: &mut Recorder<'_>, x: &GpuTensor, axis: i64, log: bool, flatten_tail: bool) -> Result<GpuTensor> {
    let ax = norm_axis(axis, x.shape.len())?;
    let outer: usize = x.shape[..ax].iter().product();
    let (n, inner) = if flatten_tail || x.shape.is_empty() {
        (x.shape[ax.min(x.shape.len())..].iter().product(), 1)
    } else {
        (x.shape[ax], x.shape[ax + 1..].iter().product())
    };
    let gpu = rec.gpu();
    let out = gpu.empty(&x.shape)?;
    if x.is_empty() {
        return Ok(out);
    }
    super::reduce::rows_kernel(rec, "softmax", x, &out, [n, inner, outer * inner], u32::from(log), n * inner)?;
    Ok(out)
}
