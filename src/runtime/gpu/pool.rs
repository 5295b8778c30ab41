//! MaxPool and AveragePool over NCHW (1-D as H = 1); global pools live in `reduce`. The kernel
//! is window.wgsl's `pool`, recorded by planes as conv's im2col is.

use super::conv::{window_planes, Window};
use super::device::{GpuTensor, Recorder};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average { count_include_pad: bool },
}

pub fn pool2d(
    rec: &mut Recorder<'_>,
    x: &GpuTensor,
    kind: PoolKind,
    win: &Window,
    ceil_mode: bool,
) -> Result<GpuTensor> {
    if x.shape.len() != 4 {
        return Err(Error::InvalidArgument(format!("pooling expects NCHW input, got {:?}", x.shape)));
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (oh, ow) = (win.out_size(0, h, ceil_mode)?, win.out_size(1, w, ceil_mode)?);
    let gpu = rec.gpu();
    let out = gpu.empty(&[n, c, oh, ow])?;
    let kind_code = match kind {
        PoolKind::Max => 0,
        PoolKind::Average { count_include_pad: false } => 1,
        PoolKind::Average { count_include_pad: true } => 2,
    };
    window_planes(rec, "pool", win, [h, w, oh, ow], (&x.buf, 0), (&out.buf, 0), n * c, oh * ow, kind_code)?;
    Ok(out)
}
