//! Elementwise and layout kernels: activations, broadcasting binary ops, Transpose, Expand.
//!
//! Everything is one strided-view kernel (see elementwise.wgsl), so layout ops cost no
//! extra WGSL and broadcasting follows numpy rules exactly like the CPU path. A tensor over
//! the adapter's binding limit is done in parts (`parts`): runs along one axis whose output
//! and reads each fit one binding, so it stays on the GPU.

use super::device::{GpuTensor, Recorder, View};
use crate::error::{Error, Result};

pub(crate) const ACTIVATION_WGSL: &str = super::device::wgsl!("activation.wgsl");
const SOURCE: &str = super::device::wgsl!("elementwise.wgsl");
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

/// The uniform words of one dispatch: the output `shape`, each input's strides, and where
/// the dispatch starts (`start`, an output element index) and sits in its bindings.
struct Words<'a> {
    shape: &'a [usize],
    sa: &'a [usize],
    sb: &'a [usize],
    op: u32,
    p0: f32,
    p1: f32,
}

impl Words<'_> {
    fn pack(&self, len: usize, start: usize, [a_off, b_off, out_off]: [u32; 3]) -> Result<Vec<u32>> {
        if self.shape.len() > MAX_RANK {
            return Err(Error::InvalidArgument(format!(
                "GPU elementwise kernels handle tensors of rank <= {MAX_RANK}, got shape {:?}",
                self.shape
            )));
        }
        let mut w = Vec::with_capacity(36);
        w.extend(pack(self.shape));
        w.extend(pack(self.sa));
        w.extend(pack(self.sb));
        w.extend([len as u32, self.shape.len() as u32, self.op, out_off]);
        w.extend([self.p0.to_bits(), self.p1.to_bits(), a_off, b_off, start as u32, 0, 0, 0]);
        Ok(w)
    }
}

/// One dispatch of a split strided kernel: output elements `start..start + len`, and the
/// range (first element, length) each input is read in.
#[derive(Debug, PartialEq)]
pub(crate) struct Part {
    pub start: usize,
    pub len: usize,
    pub reads: Vec<(usize, usize)>,
}

/// At most this many dispatches for one split op; past it the node runs on the CPU.
const MAX_PARTS: usize = 1 << 16;

/// Splits the row-major output of `shape`, whose element at coordinates c reads input j at
/// `offset_j + Σ c[d] * strides_j[d]`, into parts whose output and reads each span at most
/// `room` elements. A part is a run of indices along one axis with every later axis whole:
/// the outermost such axis whose blocks fit, so a tensor that fits is one part, and a
/// batched one is split along its batch. Strides are never negative, so a part's reads run
/// from its first element's offset to its last's.
pub(crate) fn parts(shape: &[usize], inputs: &[(&[usize], usize)], room: usize) -> Result<Vec<Part>> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(vec![]);
    }
    let r = shape.len();
    // inner[k]: elements of axes k..; span[j][k]: elements input j spans over axes k..
    let mut inner = vec![1; r + 1];
    let mut span = vec![vec![1; r + 1]; inputs.len()];
    for k in (0..r).rev() {
        inner[k] = inner[k + 1] * shape[k];
        for (sp, (st, _)) in span.iter_mut().zip(inputs) {
            sp[k] = sp[k + 1] + (shape[k] - 1) * st[k];
        }
    }
    let fits = |k: usize| inner[k] <= room && span.iter().all(|sp| sp[k] <= room);
    let k = (0..=r).find(|&k| fits(k)).unwrap_or(r);
    if k == 0 {
        let reads = inputs.iter().zip(&span).map(|((_, off), sp)| (*off, sp[0])).collect();
        return Ok(vec![Part { start: 0, len: n, reads }]);
    }
    // Runs along axis a = k - 1 of `per` indices, every axis after it whole.
    let a = k - 1;
    let mut per = shape[a].min(room / inner[k]).max(1);
    for ((st, _), sp) in inputs.iter().zip(&span) {
        if st[a] > 0 && sp[k] <= room {
            per = per.min((room - sp[k]) / st[a] + 1);
        }
    }
    let prefixes: usize = shape[..a].iter().product();
    let count = prefixes.saturating_mul(shape[a].div_ceil(per));
    if count > MAX_PARTS {
        return Err(Error::GpuLimit {
            tensor: format!("a strided view of shape {shape:?} ({count} binding-sized parts)"),
            bytes: n as u64 * 4,
            limit: room as u64 * 4,
        });
    }
    let mut out = Vec::with_capacity(count);
    for p in 0..prefixes {
        // The offset of the prefix's first element in each input.
        let mut base: Vec<usize> = inputs.iter().map(|(_, off)| *off).collect();
        let mut rem = p;
        for d in (0..a).rev() {
            let c = rem % shape[d];
            rem /= shape[d];
            for (b, (st, _)) in base.iter_mut().zip(inputs) {
                *b += c * st[d];
            }
        }
        for j0 in (0..shape[a]).step_by(per) {
            let c = per.min(shape[a] - j0);
            let reads = base
                .iter()
                .zip(inputs)
                .zip(&span)
                .map(|((b, (st, _)), sp)| (b + j0 * st[a], (c - 1) * st[a] + sp[k]))
                .collect();
            out.push(Part { start: (p * shape[a] + j0) * inner[k], len: c * inner[k], reads });
        }
    }
    Ok(out)
}

/// Records `entry` of elementwise.wgsl (output `out`, inputs `ins` with their strides and
/// offsets) in binding-sized parts (see [`parts`]).
fn record_split(
    rec: &mut Recorder<'_>,
    entry: &str,
    words: &Words<'_>,
    out: &GpuTensor,
    ins: &[(&GpuTensor, usize)],
) -> Result<()> {
    let gpu = rec.gpu();
    let pipe = gpu.pipeline_with("elementwise", &|| with_activation(SOURCE), &[], entry)?;
    let strides = [words.sa, words.sb];
    let inputs: Vec<(&[usize], usize)> = ins.iter().zip(strides).map(|((_, off), st)| (st, *off)).collect();
    let align = gpu.summary().binding_align_bytes;
    for part in parts(words.shape, &inputs, gpu.view_elems())? {
        let ov = View::range(&out.buf, part.start, part.len);
        let mut views = vec![View::range(&ins[0].0.buf, part.reads[0].0, part.reads[0].1), ov];
        let mut offs = [0u32; 3];
        for (j, ((t, off), &(lo, len))) in ins.iter().zip(&part.reads).enumerate() {
            let v = View::range(&t.buf, lo, len);
            // The kernel adds its walk from `start` to this: wrapping u32 arithmetic lands on
            // the element's place in the binding (offset - lo + the binding's remainder).
            offs[j] = (*off as u32).wrapping_sub(lo as u32).wrapping_add(v.rel(align) as u32);
            if j == 1 {
                views.push(v);
            }
        }
        offs[2] = ov.rel(align) as u32;
        let w = words.pack(part.len, part.start, offs)?;
        rec.dispatch_views(&pipe, &w, &views, groups(part.len, 256))?;
    }
    Ok(())
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
    let out = rec.gpu().empty(shape)?;
    let (op, p0, p1) = act.code();
    let words = Words { shape, sa: strides, sb: &[], op, p0, p1 };
    record_split(rec, "unary", &words, &out, &[(x, offset)])?;
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
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let out = rec.gpu().empty(&shape)?;
    let (sa, sb) = (broadcast_strides(&a.shape, &shape), broadcast_strides(&b.shape, &shape));
    let words = Words { shape: &shape, sa: &sa, sb: &sb, op: op as u32, p0: 0.0, p1: 0.0 };
    record_split(rec, "binary", &words, &out, &[(a, 0), (b, 0)])?;
    Ok(out)
}
