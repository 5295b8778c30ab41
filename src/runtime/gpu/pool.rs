//! MaxPool and AveragePool over NCHW (1-D as H = 1); global pools live in `reduce`.

use super::conv::Window;
use super::device::{GpuTensor, Recorder};
use crate::error::{Error, Result};

const SOURCE: &str = include_str!("pool.wgsl");

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
    let wv = win.words();
    let words = [
        (n * c) as u32,
        h as u32,
        w as u32,
        oh as u32,
        ow as u32,
        wv[0],
        wv[1],
        wv[2],
        wv[3],
        wv[4],
        wv[5],
        wv[6],
        wv[7],
        kind_code,
        win.pads[2] as u32,
        win.pads[3] as u32,
    ];
    let pipe = gpu.pipeline("pool", SOURCE, &[], "main")?;
    rec.dispatch(&pipe, &words, &[&x.buf, &out.buf], super::elementwise::groups(out.len(), 256))?;
    Ok(out)
}
