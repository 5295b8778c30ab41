//! Reductions (ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2, ArgMax/ArgMin) and global pooling.
//!
//! The kernel reduces the middle axis of [outer, n, inner]; reduced axes that are not one
//! contiguous block are first transposed to the end.

use super::device::{GpuTensor, Recorder, View};
use super::elementwise;
use super::softmax::norm_axis;
use crate::error::Result;

const SOURCE: &str = super::device::wgsl!("reduce.wgsl");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    SumSquare,
    L1,
    L2,
    /// Index of the first maximum, as f32.
    ArgMax,
    ArgMin,
}

/// Reduces `axes` (empty = all, as ONNX's default). Arg ops take exactly one axis.
pub fn reduce(rec: &mut Recorder<'_>, x: &GpuTensor, axes: &[i64], op: ReduceOp, keepdims: bool) -> Result<GpuTensor> {
    let rank = x.shape.len();
    let mut ax: Vec<usize> = if axes.is_empty() {
        (0..rank).collect()
    } else {
        axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_>>()?
    };
    ax.sort_unstable();
    ax.dedup();
    let mut kept_shape: Vec<usize> = x.shape.clone();
    for &a in &ax {
        kept_shape[a] = 1;
    }
    let out_shape: Vec<usize> =
        if keepdims { kept_shape.clone() } else { (0..rank).filter(|i| !ax.contains(i)).map(|i| x.shape[i]).collect() };
    let contiguous = ax.windows(2).all(|w| w[1] == w[0] + 1);
    let (src, outer, n, inner) = if contiguous && !ax.is_empty() {
        let (first, last) = (ax[0], ax[ax.len() - 1]);
        (
            x.clone(),
            x.shape[..first].iter().product::<usize>(),
            x.shape[first..=last].iter().product::<usize>(),
            x.shape[last + 1..].iter().product::<usize>(),
        )
    } else {
        let mut perm: Vec<usize> = (0..rank).filter(|i| !ax.contains(i)).collect();
        perm.extend(&ax);
        let t = elementwise::transpose(rec, x, &perm)?;
        let n: usize = ax.iter().map(|&a| x.shape[a]).product();
        (t, x.len() / n.max(1), n, 1)
    };
    let gpu = rec.gpu();
    let out = gpu.empty(&out_shape)?;
    let rows = outer * inner;
    if rows == 0 {
        return Ok(out);
    }
    rows_kernel(rec, "main", &src, &out, [n, inner, rows], op as u32, inner)?;
    Ok(out)
}

/// Records reduce.wgsl's `entry` over the `rows` rows of `n` values `inner` apart in `x`;
/// `out_block` is what one [n, inner] block of `x` writes (n * inner for softmax, inner for
/// a reduction). Over the binding limit, the rows are done a range of whole blocks at a time;
/// a single block over the limit is refused with `GpuLimit` (its node runs on the CPU).
pub(crate) fn rows_kernel(
    rec: &mut Recorder<'_>,
    entry: &str,
    x: &GpuTensor,
    out: &GpuTensor,
    [n, inner, rows]: [usize; 3],
    op: u32,
    out_block: usize,
) -> Result<()> {
    let gpu = rec.gpu();
    let pipe = gpu.pipeline("reduce", SOURCE, &[], entry)?;
    let block = n * inner;
    let blocks = rows / inner.max(1);
    let per = gpu.split_count(&format!("{entry} over blocks of {n}x{inner}"), block.max(out_block), blocks)?;
    let align = gpu.summary().binding_align_bytes;
    for b0 in (0..blocks).step_by(per) {
        let nb = per.min(blocks - b0);
        let xv = View::range(&x.buf, b0 * block, nb * block);
        let ov = View::range(&out.buf, b0 * out_block, nb * out_block);
        let w = [n as u32, inner as u32, (nb * inner) as u32, op, xv.rel(align) as u32, ov.rel(align) as u32, 0, 0];
        rec.dispatch_views(&pipe, &w, &[xv, ov], [(nb * inner) as u32, 1, 1])?;
    }
    Ok(())
}

/// GlobalAveragePool / GlobalMaxPool over NC(spatial...) -> NC1..1.
pub fn global_pool(rec: &mut Recorder<'_>, x: &GpuTensor, max: bool) -> Result<GpuTensor> {
    let axes: Vec<i64> = (2..x.shape.len() as i64).collect();
    let op = if max { ReduceOp::Max } else { ReduceOp::Mean };
    reduce(rec, x, &axes, op, true)
}
