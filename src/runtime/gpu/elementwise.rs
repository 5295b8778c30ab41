//! Elementwise and layout kernels: activations, broadcasting binary ops, Transpose, Expand.
//!
//! Everything is one strided-view kernel (see elementwise.wgsl), so layout ops cost no
//! extra WGSL and broadcasting follows numpy rules exactly like the CPU path.

use super::device::{GpuTensor, Recorder};
use crate::error::{Error, Result};

pub(crate) const ACTIVATION_WGSL: &str = include_str!("activation.wgsl");
const SOURCE: &str = include_str!("elementwise.wgsl");
const MAX_RANK: usize = 8;

/// An activation, also usable as the fused epilogue of GEMM and conv.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    Clip {
        min: f32,
        max: f32,
    },
    /// Exact (erf) GELU.
    Gelu,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    Softplus,
    Elu {
        alpha: f32,
    },
    Exp,
    Log,
    Sqrt,
    Neg,
    Abs,
    Reciprocal,
    Floor,
    Ceil,
    Sin,
    Cos,
    Erf,
    HardSwish,
    Silu,
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Sign,
    Round,
    Square,
}

impl Act {
    /// (kind, p0, p1) as activation.wgsl numbers them.
    pub(crate) fn code(self) -> (u32, f32, f32) {
        use Act::*;
        match self {
            Identity => (0, 0.0, 0.0),
            Relu => (1, 0.0, 0.0),
            LeakyRelu { alpha } => (2, alpha, 0.0),
            Sigmoid => (3, 0.0, 0.0),
            Tanh => (4, 0.0, 0.0),
            Clip { min, max } => (5, min, max),
            Gelu => (6, 0.0, 0.0),
            HardSigmoid { alpha, beta } => (7, alpha, beta),
            Softplus => (8, 0.0, 0.0),
            Elu { alpha } => (9, alpha, 0.0),
            Exp => (10, 0.0, 0.0),
            Log => (11, 0.0, 0.0),
            Sqrt => (12, 0.0, 0.0),
            Neg => (13, 0.0, 0.0),
            Abs => (14, 0.0, 0.0),
            Reciprocal => (15, 0.0, 0.0),
            Floor => (16, 0.0, 0.0),
            Ceil => (17, 0.0, 0.0),
            Sin => (18, 0.0, 0.0),
            Cos => (19, 0.0, 0.0),
            Erf => (20, 0.0, 0.0),
            HardSwish => (21, 0.0, 0.0),
            Silu => (22, 0.0, 0.0),
            Selu { alpha, gamma } => (23, alpha, gamma),
            Sign => (24, 0.0, 0.0),
            Round => (25, 0.0, 0.0),
            Square => (26, 0.0, 0.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    /// PRelu: x if x >= 0 else x * slope.
    PRelu,
}

/// The source of a kernel family with the shared activation functions prepended.
pub(crate) fn with_activation(src: &str) -> String {
    format!("{ACTIVATION_WGSL}\n{src}")
}

/// Row-major strides of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// numpy broadcasting of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "shapes {a:?} and {b:?} cannot be broadcast together (axis {i}: {da} vs {db})"
                )))
            }
        };
    }
    Ok(out)
}

/// Strides that read `shape` (right-aligned) as if it had `out` shape: 0 on broadcast axes.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = contiguous_strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len()).map(|i| if i < lead || shape[i - lead] == 1 { 0 } else { s[i - lead] }).collect()
}

fn pack(v: &[usize]) -> [u32; MAX_RANK] {
    let mut out = [0u32; MAX_RANK];
    for (o, x) in out.iter_mut().zip(v) {
        *o = *x as u32;
    }
    out
}

fn params(out: &[usize], sa: &[usize], sb: &[usize], op: u32, p0: f32, p1: f32, a_off: usize) -> Result<Vec<u32>> {
    if out.len() > MAX_RANK {
        return Err(Error::InvalidArgument(format!(
            "GPU elementwise kernels handle tensors of rank <= {MAX_RANK}, got shape {out:?}"
        )));
    }
    let n: usize = out.iter().product();
    let mut w = Vec::with_capacity(32);
    w.extend(pack(out));
    w.extend(pack(sa));
    w.extend(pack(sb));
    w.extend([n as u32, out.len() as u32, op, 0, p0.to_bits(), p1.to_bits(), a_off as u32, 0]);
    Ok(w)
}

pub(crate) fn groups(n: usize, per_group: usize) -> [u32; 3] {
    [n.div_ceil(per_group) as u32, 1, 1]
}

/// Reads `x` through (`shape`, `strides`, `offset`) into a new contiguous tensor, applying `act`.
pub fn strided(
    rec: &mut Recorder<'_>,
    x: &GpuTensor,
    shape: &[usize],
    strides: &[usize],
    offset: usize,
    act: Act,
) -> Result<GpuTensor> {
    let gpu = rec.gpu();
    let out = gpu.empty(shape)?;
    let (op, p0, p1) = act.code();
    let w = params(shape, strides, &[], op, p0, p1, offset)?;
    let pipe = gpu.pipeline("elementwise", &with_activation(SOURCE), &[], "unary")?;
    rec.dispatch(&pipe, &w, &[&x.buf, &out.buf], groups(out.len(), 256))?;
    Ok(out)
}

/// An activation applied to every element.
pub fn unary(rec: &mut Recorder<'_>, x: &GpuTensor, act: Act) -> Result<GpuTensor> {
    strided(rec, x, &x.shape, &contiguous_strides(&x.shape), 0, act)
}

/// ONNX Transpose.
pub fn transpose(rec: &mut Recorder<'_>, x: &GpuTensor, perm: &[usize]) -> Result<GpuTensor> {
    let mut seen = vec![false; x.shape.len()];
    if perm.len() != x.shape.len() || perm.iter().any(|&p| p >= seen.len() || std::mem::replace(&mut seen[p], true)) {
        return Err(Error::InvalidArgument(format!(
            "perm {perm:?} is not a permutation of the axes of shape {:?}",
            x.shape
        )));
    }
    let s = contiguous_strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    strided(rec, x, &shape, &strides, 0, Act::Identity)
}

/// ONNX Expand (numpy broadcast of `x` to `shape`).
pub fn expand(rec: &mut Recorder<'_>, x: &GpuTensor, shape: &[usize]) -> Result<GpuTensor> {
    let out = broadcast_shape(&x.shape, shape)?;
    strided(rec, x, &out, &broadcast_strides(&x.shape, &out), 0, Act::Identity)
}

/// A broadcasting binary op (Add, Mul, ...).
pub fn binary(rec: &mut Recorder<'_>, a: &GpuTensor, b: &GpuTensor, op: BinOp) -> Result<GpuTensor> {
    let gpu = rec.gpu();
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let out = gpu.empty(&shape)?;
    let w = params(
        &shape,
        &broadcast_strides(&a.shape, &shape),
        &broadcast_strides(&b.shape, &shape),
        op as u32,
        0.0,
        0.0,
        0,
    )?;
    let pipe = gpu.pipeline("elementwise", &with_activation(SOURCE), &[], "binary")?;
    rec.dispatch(&pipe, &w, &[&a.buf, &out.buf, &b.buf], groups(out.len(), 256))?;
    Ok(out)
}
