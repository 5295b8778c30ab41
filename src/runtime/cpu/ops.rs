//! The CPU backend: one kernel per ONNX op of the supported set, compiled from a node.
//!
//! Compilation does the per-node work once (attribute parsing and validation, weight
//! packing), so `run` only computes. Elementwise and data-movement ops live here; the
//! arithmetic-heavy ones in [`super::nn`], recurrent ones in [`super::rnn`] and the
//! scikit-learn (`ai.onnx.ml`) ones in [`super::ml`].

use super::{ml, nn, rnn};
use crate::error::{Error, Result};
use crate::model::Node;
use crate::runtime::executor::{Backend, BufferPool, CompileCtx, Kernel};
use crate::runtime::tensor::{broadcast_shapes, broadcast_strides, norm_axis, numel, strides, Data, Tensor};

/// Every op the CPU backend runs (standard domain unless prefixed).
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "GRU",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LpPool",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mish",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Round",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
    "Xor",
    "ai.onnx.ml:ArrayFeatureExtractor",
    "ai.onnx.ml:Binarizer",
    "ai.onnx.ml:LinearClassifier",
    "ai.onnx.ml:LinearRegressor",
    "ai.onnx.ml:Normalizer",
    "ai.onnx.ml:Scaler",
    "ai.onnx.ml:TreeEnsembleClassifier",
    "ai.onnx.ml:TreeEnsembleRegressor",
];

/// A kernel made of a closure.
pub struct FnKernel<F>(pub F);

impl<F> Kernel for FnKernel<F>
where
    F: Fn(&[Option<&Tensor>], &mut BufferPool) -> Result<Vec<Tensor>> + Send + Sync,
{
    fn run(&self, inputs: &[Option<&Tensor>], pool: &mut BufferPool) -> Result<Vec<Tensor>> {
        (self.0)(inputs, pool)
    }
}

/// A kernel that only gives input 0 a new shape (Reshape, Flatten, Squeeze, Unsqueeze): the
/// closure computes that shape. The executor moves input 0's buffer into the output when this
/// node is its last reader ([`Kernel::view_shape`]); otherwise `run` copies it.
pub struct ViewKernel<F>(pub F);

impl<F> Kernel for ViewKernel<F>
where
    F: Fn(&[Option<&Tensor>]) -> Result<Vec<usize>> + Send + Sync,
{
    fn run(&self, inputs: &[Option<&Tensor>], _: &mut BufferPool) -> Result<Vec<Tensor>> {
        Ok(vec![input(inputs, 0)?.clone().reshaped((self.0)(inputs)?)?])
    }
    fn view_shape(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<usize>>> {
        Some((self.0)(inputs))
    }
}

fn view_kernel<F>(f: F) -> Option<Box<dyn Kernel>>
where
    F: Fn(&[Option<&Tensor>]) -> Result<Vec<usize>> + Send + Sync + 'static,
{
    Some(Box::new(ViewKernel(f)))
}

pub fn kernel<F>(f: F) -> Option<Box<dyn Kernel>>
where
    F: Fn(&[Option<&Tensor>], &mut BufferPool) -> Result<Vec<Tensor>> + Send + Sync + 'static,
{
    Some(Box::new(FnKernel(f)))
}

/// Required input `i`.
pub fn input<'a>(ins: &[Option<&'a Tensor>], i: usize) -> Result<&'a Tensor> {
    ins.get(i).copied().flatten().ok_or_else(|| Error::Runtime(format!("input {i} is required but missing")))
}

/// Required float input `i`.
pub fn input_f32<'a>(ins: &[Option<&'a Tensor>], i: usize) -> Result<(&'a Tensor, &'a [f32])> {
    let t = input(ins, i)?;
    Ok((t, t.as_f32(&format!("input {i}"))?))
}

pub fn bad(msg: impl Into<String>) -> Error {
    Error::Runtime(msg.into())
}

pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn fuses_epilogue(&self) -> bool {
        true
    }

    fn compile(&self, node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
        if node.domain == "ai.onnx.ml" {
            return ml::compile(node);
        }
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Ok(None);
        }
        if let Some(k) = nn::compile(node, ctx)? {
            return Ok(Some(k));
        }
        if let Some(k) = rnn::compile(node, ctx)? {
            return Ok(Some(k));
        }
        if let Some(f) = unary_fn(node)? {
            let int_op: Option<fn(i64) -> i64> = match node.op_type.as_str() {
                "Neg" => Some(|x: i64| x.wrapping_neg()),
                "Abs" => Some(|x: i64| x.wrapping_abs()),
                "Sign" => Some(i64::signum),
                "Relu" => Some(|x: i64| x.max(0)),
                "Floor" | "Ceil" | "Round" => Some(|x| x),
                _ => None,
            };
            let relu = node.op_type == "Relu";
            return Ok(kernel(move |ins, pool| {
                if let (Some(g), Data::I64(v)) = (int_op, &input(ins, 0)?.data) {
                    return Ok(vec![Tensor::i64(input(ins, 0)?.shape.clone(), v.iter().map(|&x| g(x)).collect())]);
                }
                let (t, x) = input_f32(ins, 0)?;
                let mut out = pool.take(x.len());
                if relu {
                    // Inline so it vectorises (the boxed closure is one call per element).
                    out.extend_from_slice(x);
                    super::nn::relu_in_place(&mut out);
                } else {
                    out.extend(x.iter().map(|&v| f(v)));
                }
                Ok(vec![Tensor::f32(t.shape.clone(), out)])
            }));
        }
        let op = node.op_type.as_str();
        Ok(match op {
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "PRelu" => binary_arith(op),
            "Max" | "Min" | "Sum" | "Mean" => variadic(op),
            "Equal" | "Greater" | "Less" | "GreaterOrEqual" | "LessOrEqual" => compare(op),
            "And" | "Or" | "Xor" => logical(op),
            "Not" => kernel(|ins, _| match &input(ins, 0)?.data {
                Data::Bool(v) => Ok(vec![Tensor::bool(
                    ins[0].map(|t| t.shape.clone()).unwrap_or_default(),
                    v.iter().map(|b| !b).collect(),
                )]),
                _ => Err(bad("Not expects a bool tensor")),
            }),
            "Where" => kernel(where_op),
            "Clip" => clip(node, ctx.opset)?,
            "Dropout"
                if node.input(2).is_some()
                    && ctx.constant(node, 2).is_none_or(|t| t.to_i64_vec().iter().any(|&v| v != 0)) =>
            {
                return Err(bad("Dropout in training mode is not supported (export the model in eval mode)"))
            }
            "Identity" | "Dropout" => kernel(|ins, _| {
                let t = input(ins, 0)?.clone();
                let mask = Tensor::bool(t.shape.clone(), vec![true; t.len()]);
                Ok(vec![t, mask])
            }),
            "Cast" => {
                let to = node.attr_int("to", 1)?;
                if !matches!(to, 1..=13 | 16) {
                    return Err(bad(format!("Cast to ONNX type {to} is not supported")));
                }
                kernel(move |ins, _| Ok(vec![cast(input(ins, 0)?, to)?]))
            }
            "Shape" => {
                let (start, end) = (
                    node.attr_int("start", 0)?,
                    node.attr("end").is_some().then(|| node.attr_int("end", 0)).transpose()?,
                );
                kernel(move |ins, _| {
                    let s = &input(ins, 0)?.shape;
                    let r = s.len() as i64;
                    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                    let (a, b) = (clampi(start), clampi(end.unwrap_or(r)));
                    let dims: Vec<i64> = s[a..b.max(a)].iter().map(|&d| d as i64).collect();
                    Ok(vec![Tensor::i64(vec![dims.len()], dims)])
                })
            }
            "Size" => kernel(|ins, _| Ok(vec![Tensor::i64(vec![], vec![input(ins, 0)?.len() as i64])])),
            "ConstantOfShape" => {
                let value = match node.attr_tensor("value")? {
                    Some(t) => crate::runtime::executor::from_ir(t)?,
                    None => Tensor::scalar_f32(0.0),
                };
                kernel(move |ins, _| {
                    let shape: Vec<usize> = input(ins, 0)?.to_i64_vec().iter().map(|&d| d.max(0) as usize).collect();
                    let n = numel(&shape);
                    let idx = vec![0usize; n];
                    Ok(vec![value.gather_flat(shape, &idx)])
                })
            }
            "Reshape" => {
                let allowzero = node.attr_int("allowzero", 0)? != 0;
                view_kernel(move |ins| {
                    let t = input(ins, 0)?;
                    let spec = input(ins, 1)?.to_i64_vec();
                    reshape_dims(&t.shape, &spec, allowzero)
                })
            }
            "Flatten" => {
                let axis = node.attr_int("axis", 1)?;
                view_kernel(move |ins| {
                    let t = input(ins, 0)?;
                    let a = if axis < 0 { axis + t.rank() as i64 } else { axis };
                    if a < 0 || a > t.rank() as i64 {
                        return Err(bad(format!("Flatten axis {axis} out of range for rank {}", t.rank())));
                    }
                    let a = a as usize;
                    Ok(vec![numel(&t.shape[..a]), numel(&t.shape[a..])])
                })
            }
            "Squeeze" | "Unsqueeze" => {
                let attr_axes = node.attr_ints("axes")?.map(<[i64]>::to_vec);
                let squeeze = op == "Squeeze";
                view_kernel(move |ins| {
                    let t = input(ins, 0)?;
                    let axes = match ins.get(1).copied().flatten() {
                        Some(a) => Some(a.to_i64_vec()),
                        None => attr_axes.clone(),
                    };
                    if squeeze {
                        squeeze_shape(&t.shape, axes)
                    } else {
                        unsqueeze_shape(&t.shape, &axes.unwrap_or_default())
                    }
                })
            }
            "Transpose" => {
                let perm = node.attr_ints("perm")?.map(<[i64]>::to_vec);
                kernel(move |ins, _| {
                    let t = input(ins, 0)?;
                    let r = t.rank();
                    let perm: Vec<usize> = match &perm {
                        Some(p) => p.iter().map(|&a| norm_axis(a, r, "Transpose")).collect::<Result<_>>()?,
                        None => (0..r).rev().collect(),
                    };
                    Ok(vec![transpose(t, &perm)?])
                })
            }
            "Concat" => {
                let axis = node.attr_int("axis", 0)?;
                kernel(move |ins, _| {
                    let parts: Vec<&Tensor> = ins.iter().flatten().copied().collect();
                    Ok(vec![concat(&parts, axis)?])
                })
            }
            "Split" => split(node, ctx.opset)?,
            "Slice" => slice(node, ctx.opset)?,
            "Gather" => {
                let axis = node.attr_int("axis", 0)?;
                kernel(move |ins, _| {
                    let (t, idx) = (input(ins, 0)?, input(ins, 1)?);
                    Ok(vec![gather(t, idx, axis)?])
                })
            }
            "Expand" => kernel(|ins, _| {
                let t = input(ins, 0)?;
                let spec: Vec<usize> = input(ins, 1)?.to_i64_vec().iter().map(|&d| d.max(0) as usize).collect();
                let shape = broadcast_shapes(&t.shape, &spec)
                    .ok_or_else(|| bad(format!("cannot expand {:?} to {:?}", t.shape, spec)))?;
                Ok(vec![broadcast_to(t, &shape)])
            }),
            "Tile" => kernel(|ins, _| {
                let t = input(ins, 0)?;
                let reps = input(ins, 1)?.to_i64_vec();
                if reps.len() != t.rank() {
                    return Err(bad("Tile: repeats must have one entry per axis"));
                }
                let shape: Vec<usize> = t.shape.iter().zip(&reps).map(|(&d, &r)| d * r.max(0) as usize).collect();
                let st = strides(&t.shape);
                let idx = map_indices(&shape, |i, d, _| (i % t.shape[d]) * st[d]);
                Ok(vec![t.gather_flat(shape, &idx)])
            }),
            "Range" => kernel(|ins, _| {
                let (s, l, d) = (input(ins, 0)?, input(ins, 1)?, input(ins, 2)?);
                if let (Data::I64(a), Data::I64(b), Data::I64(c)) = (&s.data, &l.data, &d.data) {
                    let (a, b, c) = (a[0], b[0], c[0]);
                    let n = if c == 0 { 0 } else { ((b - a) as f64 / c as f64).ceil().max(0.0) as usize };
                    return Ok(vec![Tensor::i64(vec![n], (0..n).map(|i| a + i as i64 * c).collect())]);
                }
                let (a, b, c) = (s.to_f32_vec()[0], l.to_f32_vec()[0], d.to_f32_vec()[0]);
                let n = if c == 0.0 { 0 } else { ((b - a) / c).ceil().max(0.0) as usize };
                Ok(vec![Tensor::f32(vec![n], (0..n).map(|i| a + i as f32 * c).collect())])
            }),
            "Pad" => pad(node, ctx.opset)?,
            _ => None,
        })
    }
}

/// The value of a `Constant` node.
pub fn constant_value(node: &Node) -> Result<Tensor> {
    if let Some(t) = node.attr_tensor("value")? {
        return crate::runtime::executor::from_ir(t);
    }
    if let Some(AttrLike::F(v)) = float_attr(node, "value_float")? {
        return Ok(Tensor::scalar_f32(v));
    }
    if let Some(v) = node.attr_floats("value_floats")? {
        return Ok(Tensor::f32(vec![v.len()], v.to_vec()));
    }
    if node.attr("value_int").is_some() {
        return Ok(Tensor::i64(vec![], vec![node.attr_int("value_int", 0)?]));
    }
    if let Some(v) = node.attr_ints("value_ints")? {
        return Ok(Tensor::i64(vec![v.len()], v.to_vec()));
    }
    if node.attr("value_string").is_some() {
        return Ok(Tensor::strings(vec![], vec![node.attr_string("value_string", "")?]));
    }
    if let Some(v) = node.attr_strings("value_strings")? {
        return Ok(Tensor::strings(vec![v.len()], v.to_vec()));
    }
    Err(bad("Constant node has no value attribute"))
}

enum AttrLike {
    F(f32),
}

fn float_attr(node: &Node, name: &str) -> Result<Option<AttrLike>> {
    Ok(if node.attr(name).is_some() { Some(AttrLike::F(node.attr_float(name, 0.0)?)) } else { None })
}

type Unary = Box<dyn Fn(f32) -> f32 + Send + Sync>;

fn erf(x: f32) -> f32 {
    // Abramowitz-Stegun 7.1.26 is too coarse for ONNX tolerances; erfc's Chebyshev fit in f64 is not.
    (1.0 - crate::metrics::ci::erfc(x as f64)) as f32
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

pub fn activation(name: &str, alpha: Option<f32>, beta: Option<f32>) -> Option<Unary> {
    Some(match name.to_ascii_lowercase().as_str() {
        "relu" => Box::new(|x: f32| x.max(0.0)),
        "sigmoid" => Box::new(sigmoid),
        "tanh" => Box::new(f32::tanh),
        "leakyrelu" => {
            let a = alpha.unwrap_or(0.01);
            Box::new(move |x| if x >= 0.0 { x } else { a * x })
        }
        "hardsigmoid" => {
            let (a, b) = (alpha.unwrap_or(0.2), beta.unwrap_or(0.5));
            Box::new(move |x| (a * x + b).clamp(0.0, 1.0))
        }
        "elu" => {
            let a = alpha.unwrap_or(1.0);
            Box::new(move |x| if x >= 0.0 { x } else { a * (x.exp() - 1.0) })
        }
        "softsign" => Box::new(|x| x / (1.0 + x.abs())),
        "softplus" => Box::new(|x: f32| if x > 20.0 { x } else { x.exp().ln_1p() }),
        "affine" => {
            let (a, b) = (alpha.unwrap_or(1.0), beta.unwrap_or(0.0));
            Box::new(move |x| a * x + b)
        }
        "scaledtanh" => {
            let (a, b) = (alpha.unwrap_or(1.0), beta.unwrap_or(1.0));
            Box::new(move |x| a * (b * x).tanh())
        }
        "thresholdedrelu" => {
            let a = alpha.unwrap_or(1.0);
            Box::new(move |x| if x > a { x } else { 0.0 })
        }
        _ => return None,
    })
}

fn unary_fn(node: &Node) -> Result<Option<Unary>> {
    let alpha = |d: f32| node.attr_float("alpha", d);
    Ok(Some(match node.op_type.as_str() {
        "Relu" => Box::new(|x: f32| x.max(0.0)),
        "Sigmoid" => Box::new(sigmoid),
        "Tanh" => Box::new(f32::tanh),
        "LeakyRelu" => activation("leakyrelu", Some(alpha(0.01)?), None).expect("known"),
        "Elu" => activation("elu", Some(alpha(1.0)?), None).expect("known"),
        "HardSigmoid" => {
            activation("hardsigmoid", Some(alpha(0.2)?), Some(node.attr_float("beta", 0.5)?)).expect("known")
        }
        "HardSwish" => Box::new(|x: f32| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
        "Selu" => {
            let (a, g) = (alpha(1.673_263_2)?, node.attr_float("gamma", 1.050_701)?);
            Box::new(move |x: f32| g * if x > 0.0 { x } else { a * (x.exp() - 1.0) })
        }
        "Softplus" => Box::new(|x: f32| if x > 20.0 { x } else { x.exp().ln_1p() }),
        "Softsign" => Box::new(|x: f32| x / (1.0 + x.abs())),
        "Mish" => Box::new(|x: f32| x * (if x > 20.0 { x } else { x.exp().ln_1p() }).tanh()),
        "Gelu" => {
            if node.attr_string("approximate", "none")? == "tanh" {
                Box::new(|x: f32| {
                    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044_715 * x * x * x)).tanh())
                })
            } else {
                Box::new(|x: f32| 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)))
            }
        }
        "Erf" => Box::new(erf),
        "Exp" => Box::new(f32::exp),
        "Log" => Box::new(f32::ln),
        "Sqrt" => Box::new(f32::sqrt),
        "Abs" => Box::new(f32::abs),
        "Neg" => Box::new(|x: f32| -x),
        "Reciprocal" => Box::new(|x: f32| 1.0 / x),
        "Floor" => Box::new(f32::floor),
        "Ceil" => Box::new(f32::ceil),
        "Round" => Box::new(f32::round_ties_even),
        "Sign" => Box::new(|x: f32| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }),
        "Sin" => Box::new(f32::sin),
        "Cos" => Box::new(f32::cos),
        _ => return Ok(None),
    }))
}

/// Apply `f` elementwise with numpy broadcasting.
pub fn broadcast_apply<T: Copy, R>(
    a: &[T],
    ash: &[usize],
    b: &[T],
    bsh: &[usize],
    f: impl Fn(T, T) -> R,
) -> Result<(Vec<usize>, Vec<R>)> {
    if ash == bsh {
        return Ok((ash.to_vec(), a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()));
    }
    let shape = broadcast_shapes(ash, bsh)
        .ok_or_else(|| bad(format!("shapes {ash:?} and {bsh:?} cannot be broadcast together")))?;
    let n = numel(&shape);
    if b.len() == 1 {
        let y = b[0];
        if a.len() == n {
            return Ok((shape, a.iter().map(|&x| f(x, y)).collect()));
        }
    }
    if a.len() == 1 && b.len() == n {
        let x = a[0];
        return Ok((shape, b.iter().map(|&y| f(x, y)).collect()));
    }
    let (sa, sb) = (broadcast_strides(ash, &shape), broadcast_strides(bsh, &shape));
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok((shape, out));
    }
    let r = shape.len();
    let inner = shape[r - 1];
    let (ia, ib) = (sa[r - 1], sb[r - 1]);
    let mut idx = vec![0usize; r];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        for j in 0..inner {
            out.push(f(a[oa + j * ia], b[ob + j * ib]));
        }
        // advance the odometer over the outer axes
        let mut d = r - 1;
        loop {
            if d == 0 {
                return Ok((shape, out));
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

fn arith_f32(op: &str) -> fn(f32, f32) -> f32 {
    match op {
        "Add" | "Sum" | "Mean" => |a, b| a + b,
        "Sub" => |a, b| a - b,
        "Mul" => |a, b| a * b,
        "Div" => |a, b| a / b,
        "Pow" => f32::powf,
        "Max" => f32::max,
        "Min" => f32::min,
        _ => |a, b| if a < 0.0 { a * b } else { a }, // PRelu
    }
}

fn arith_i64(op: &str) -> fn(i64, i64) -> i64 {
    match op {
        "Add" | "Sum" | "Mean" => i64::wrapping_add,
        "Sub" => i64::wrapping_sub,
        "Mul" => i64::wrapping_mul,
        "Div" => |a, b| if b == 0 { 0 } else { a.wrapping_div(b) },
        "Pow" => |a, b| a.wrapping_pow(b.clamp(0, u32::MAX as i64) as u32),
        "Max" => i64::max,
        _ => i64::min,
    }
}

fn arith(op: &str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    match (&a.data, &b.data) {
        (Data::I64(x), Data::I64(y)) => {
            let (s, v) = broadcast_apply(x, &a.shape, y, &b.shape, arith_i64(op))?;
            Ok(Tensor::i64(s, v))
        }
        (Data::F32(x), Data::F32(y)) => {
            let (s, v) = broadcast_apply(x, &a.shape, y, &b.shape, arith_f32(op))?;
            Ok(Tensor::f32(s, v))
        }
        _ => {
            let (x, y) = (a.to_f32_vec(), b.to_f32_vec());
            let (s, v) = broadcast_apply(&x, &a.shape, &y, &b.shape, arith_f32(op))?;
            Ok(Tensor::f32(s, v))
        }
    }
}

fn binary_arith(op: &str) -> Option<Box<dyn Kernel>> {
    let op = op.to_string();
    kernel(move |ins, pool| {
        let (a, b) = (input(ins, 0)?, input(ins, 1)?);
        // The hot case (bias add, residual add) reuses a pooled buffer.
        if let (Data::F32(x), Data::F32(y)) = (&a.data, &b.data) {
            if a.shape == b.shape {
                let f = arith_f32(&op);
                let mut out = pool.take(x.len());
                out.extend(x.iter().zip(y).map(|(&p, &q)| f(p, q)));
                return Ok(vec![Tensor::f32(a.shape.clone(), out)]);
            }
        }
        if op == "PRelu"
            && broadcast_shapes(&a.shape, &b.shape).is_none()
            && b.rank() == 1
            && a.rank() >= 2
            && a.shape[1] == b.len()
        {
            // Opset < 7 slopes are per channel.
            let mut shape = vec![b.len()];
            shape.extend(std::iter::repeat_n(1, a.rank() - 2));
            return Ok(vec![arith(&op, a, &b.clone().reshaped(shape)?)?]);
        }
        Ok(vec![arith(&op, a, b)?])
    })
}

fn variadic(op: &str) -> Option<Box<dyn Kernel>> {
    let op = op.to_string();
    kernel(move |ins, _| {
        let parts: Vec<&Tensor> = ins.iter().flatten().copied().collect();
        let first = parts.first().ok_or_else(|| bad("needs at least one input"))?;
        let mut acc = (*first).clone();
        for p in &parts[1..] {
            acc = arith(&op, &acc, p)?;
        }
        if op == "Mean" {
            let n = parts.len() as f32;
            if let Data::F32(v) = &mut acc.data {
                v.iter_mut().for_each(|x| *x /= n);
            }
        }
        Ok(vec![acc])
    })
}

fn compare(op: &str) -> Option<Box<dyn Kernel>> {
    let op = op.to_string();
    kernel(move |ins, _| {
        let (a, b) = (input(ins, 0)?, input(ins, 1)?);
        let f: fn(f64, f64) -> bool = match op.as_str() {
            "Equal" => |x, y| x == y,
            "Greater" => |x, y| x > y,
            "Less" => |x, y| x < y,
            "GreaterOrEqual" => |x, y| x >= y,
            _ => |x, y| x <= y,
        };
        if let (Data::Str(x), Data::Str(y)) = (&a.data, &b.data) {
            let (s, v) = broadcast_apply(
                &(0..x.len()).collect::<Vec<_>>(),
                &a.shape,
                &(0..y.len()).collect::<Vec<_>>(),
                &b.shape,
                |i, j| x[i] == y[j],
            )?;
            return Ok(vec![Tensor::bool(s, v)]);
        }
        let to64 = |t: &Tensor| -> Vec<f64> {
            match &t.data {
                Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
                _ => t.to_f32_vec().iter().map(|&x| x as f64).collect(),
            }
        };
        let (s, v) = broadcast_apply(&to64(a), &a.shape, &to64(b), &b.shape, f)?;
        Ok(vec![Tensor::bool(s, v)])
    })
}

fn logical(op: &str) -> Option<Box<dyn Kernel>> {
    let f: fn(bool, bool) -> bool = match op {
        "And" => |a, b| a && b,
        "Or" => |a, b| a || b,
        _ => |a, b| a != b,
    };
    kernel(move |ins, _| {
        let (a, b) = (input(ins, 0)?, input(ins, 1)?);
        match (&a.data, &b.data) {
            (Data::Bool(x), Data::Bool(y)) => {
                let (s, v) = broadcast_apply(x, &a.shape, y, &b.shape, f)?;
                Ok(vec![Tensor::bool(s, v)])
            }
            _ => Err(bad("logical ops expect bool tensors")),
        }
    })
}

fn where_op(ins: &[Option<&Tensor>], _: &mut BufferPool) -> Result<Vec<Tensor>> {
    let (c, x, y) = (input(ins, 0)?, input(ins, 1)?, input(ins, 2)?);
    let Data::Bool(cond) = &c.data else { return Err(bad("Where: condition must be bool")) };
    let shape = broadcast_shapes(&c.shape, &x.shape)
        .and_then(|s| broadcast_shapes(&s, &y.shape))
        .ok_or_else(|| bad("Where: shapes cannot be broadcast"))?;
    let (sc, sx, sy) =
        (broadcast_strides(&c.shape, &shape), broadcast_strides(&x.shape, &shape), broadcast_strides(&y.shape, &shape));
    let ix = map_indices(&shape, |i, d, _| i * sx[d]);
    let iy = map_indices(&shape, |i, d, _| i * sy[d]);
    let ic = map_indices(&shape, |i, d, _| i * sc[d]);
    let xs = x.gather_flat(shape.clone(), &ix);
    let ys = y.gather_flat(shape.clone(), &iy);
    let pick: Vec<bool> = ic.iter().map(|&i| cond[i]).collect();
    let data = match (xs.data, ys.data) {
        (Data::F32(a), Data::F32(b)) => {
            Data::F32(pick.iter().zip(a.into_iter().zip(b)).map(|(&p, (a, b))| if p { a } else { b }).collect())
        }
        (Data::I64(a), Data::I64(b)) => {
            Data::I64(pick.iter().zip(a.into_iter().zip(b)).map(|(&p, (a, b))| if p { a } else { b }).collect())
        }
        (Data::Bool(a), Data::Bool(b)) => {
            Data::Bool(pick.iter().zip(a.into_iter().zip(b)).map(|(&p, (a, b))| if p { a } else { b }).collect())
        }
        (Data::Str(a), Data::Str(b)) => {
            Data::Str(pick.iter().zip(a.into_iter().zip(b)).map(|(&p, (a, b))| if p { a } else { b }).collect())
        }
        _ => return Err(bad("Where: X and Y must have the same type")),
    };
    Ok(vec![Tensor { shape, data }])
}

fn clip(node: &Node, opset: i64) -> Result<Option<Box<dyn Kernel>>> {
    let (amin, amax) = if opset < 11 {
        (node.attr_float("min", f32::NEG_INFINITY)?, node.attr_float("max", f32::INFINITY)?)
    } else {
        (f32::NEG_INFINITY, f32::INFINITY)
    };
    Ok(kernel(move |ins, _| {
        let t = input(ins, 0)?;
        let bound = |i: usize, d: f32| {
            ins.get(i).copied().flatten().map(|b| b.to_f32_vec().first().copied().unwrap_or(d)).unwrap_or(d)
        };
        let (lo, hi) = (bound(1, amin), bound(2, amax));
        Ok(vec![match &t.data {
            Data::I64(v) => {
                let (l, h) = (
                    ins.get(1).copied().flatten().map(|b| b.to_i64_vec()[0]),
                    ins.get(2).copied().flatten().map(|b| b.to_i64_vec()[0]),
                );
                Tensor::i64(
                    t.shape.clone(),
                    v.iter().map(|&x| x.max(l.unwrap_or(i64::MIN)).min(h.unwrap_or(i64::MAX))).collect(),
                )
            }
            _ => Tensor::f32(t.shape.clone(), t.to_f32_vec().iter().map(|&x| x.max(lo).min(hi)).collect()),
        }])
    }))
}

pub fn cast(t: &Tensor, to: i64) -> Result<Tensor> {
    let shape = t.shape.clone();
    Ok(match to {
        1 | 11 => Tensor::f32(shape, t.to_f32_vec()),
        10 => Tensor::f32(shape, t.to_f32_vec().iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()),
        16 => Tensor::f32(shape, t.to_f32_vec().iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect()),
        2 | 3 | 4 | 5 | 6 | 7 | 12 | 13 => {
            let v: Vec<i64> = match &t.data {
                Data::F32(v) => v.iter().map(|&x| if x.is_nan() { 0 } else { x as i64 }).collect(),
                _ => t.to_i64_vec(),
            };
            Tensor::i64(shape, v)
        }
        9 => Tensor::bool(
            shape,
            match &t.data {
                Data::F32(v) => v.iter().map(|&x| x != 0.0).collect(),
                Data::Str(v) => v.iter().map(|s| s != "0" && !s.is_empty() && s != "false").collect(),
                _ => t.to_i64_vec().iter().map(|&x| x != 0).collect(),
            },
        ),
        8 => Tensor::strings(
            shape,
            match &t.data {
                Data::F32(v) => v.iter().map(|x| x.to_string()).collect(),
                Data::I64(v) => v.iter().map(|x| x.to_string()).collect(),
                Data::Bool(v) => v.iter().map(|x| x.to_string()).collect(),
                Data::Str(v) => v.clone(),
            },
        ),
        _ => return Err(bad(format!("Cast to ONNX type {to} is not supported"))),
    })
}

fn reshape_dims(input: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(bad("Reshape: more than one -1 in the target shape"));
                }
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| bad("Reshape: 0 refers to a missing input axis"))?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(bad(format!("Reshape: invalid dimension {d}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        let total = numel(input);
        if known == 0 || !total.is_multiple_of(known) {
            return Err(bad(format!("Reshape: cannot reshape {input:?} to {spec:?}")));
        }
        out[i] = total / known;
    }
    Ok(out)
}

fn squeeze_shape(shape: &[usize], axes: Option<Vec<i64>>) -> Result<Vec<usize>> {
    match axes {
        None => Ok(shape.iter().copied().filter(|&d| d != 1).collect()),
        Some(axes) => {
            let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, shape.len(), "Squeeze")).collect::<Result<_>>()?;
            if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
                return Err(bad(format!("Squeeze: axis {a} has size {}, not 1", shape[a])));
            }
            Ok(shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect())
        }
    }
}

fn unsqueeze_shape(shape: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    let r = shape.len() + axes.len();
    let mut axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, r, "Unsqueeze")).collect::<Result<_>>()?;
    axes.sort_unstable();
    let mut out = Vec::with_capacity(r);
    let mut it = shape.iter();
    for i in 0..r {
        if axes.contains(&i) {
            out.push(1);
        } else {
            out.push(*it.next().ok_or_else(|| bad("Unsqueeze: repeated axes"))?);
        }
    }
    Ok(out)
}

/// Flat source index for every element of `shape`, built from a per-axis contribution
/// `f(index along axis, axis, shape)` summed over axes.
pub fn map_indices(shape: &[usize], f: impl Fn(usize, usize, &[usize]) -> usize) -> Vec<usize> {
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let r = shape.len();
    if r == 0 {
        out.push(0);
        return out;
    }
    let tables: Vec<Vec<usize>> = (0..r).map(|d| (0..shape[d]).map(|i| f(i, d, shape)).collect()).collect();
    // The outer axes' offset changes once per row of the last axis; the row itself is a
    // plain loop over the last table (this runs per element of every Transpose/broadcast).
    let (outer, last) = (&tables[..r - 1], &tables[r - 1]);
    let mut idx = vec![0usize; r - 1];
    for _ in 0..n / shape[r - 1] {
        let base: usize = idx.iter().zip(outer).map(|(&i, t)| t[i]).sum();
        out.extend(last.iter().map(|&o| base + o));
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

pub fn transpose(t: &Tensor, perm: &[usize]) -> Result<Tensor> {
    if perm.len() != t.rank() {
        return Err(bad(format!("Transpose: perm {perm:?} does not match rank {}", t.rank())));
    }
    let st = strides(&t.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| t.shape[p]).collect();
    let idx = map_indices(&shape, |i, d, _| i * st[perm[d]]);
    Ok(t.gather_flat(shape, &idx))
}

pub fn broadcast_to(t: &Tensor, shape: &[usize]) -> Tensor {
    let st = broadcast_strides(&t.shape, shape);
    let idx = map_indices(shape, |i, d, _| i * st[d]);
    t.gather_flat(shape.to_vec(), &idx)
}

pub fn concat(parts: &[&Tensor], axis: i64) -> Result<Tensor> {
    let first = parts.first().ok_or_else(|| bad("Concat needs at least one input"))?;
    let a = norm_axis(axis, first.rank(), "Concat")?;
    let mut shape = first.shape.clone();
    shape[a] = 0;
    for p in parts {
        if p.rank() != first.rank() || p.shape.iter().enumerate().any(|(i, &d)| i != a && d != first.shape[i]) {
            return Err(bad(format!("Concat: shapes {:?} and {:?} differ outside axis {a}", first.shape, p.shape)));
        }
        shape[a] += p.shape[a];
    }
    let outer = numel(&shape[..a]);
    // Interleave: for each outer index, each part's contiguous chunk.
    let mut ordered: Vec<Tensor> = Vec::new();
    let mut views = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk = numel(&p.shape[a..]);
            let idx: Vec<usize> = (o * chunk..(o + 1) * chunk).collect();
            views.push(p.gather_flat(vec![chunk], &idx));
        }
    }
    ordered.extend(views);
    let refs: Vec<&Tensor> = ordered.iter().collect();
    if refs.is_empty() {
        return Ok(first.gather_flat(shape, &[]));
    }
    Tensor::concat_flat(&refs, shape)
}

fn gather(t: &Tensor, idx: &Tensor, axis: i64) -> Result<Tensor> {
    let a = norm_axis(axis, t.rank(), "Gather")?;
    let dim = t.shape[a] as i64;
    let ids: Vec<usize> = idx
        .to_i64_vec()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim } else { i };
            if j < 0 || j >= dim {
                Err(bad(format!("Gather: index {i} is out of range for axis {a} of size {dim}")))
            } else {
                Ok(j as usize)
            }
        })
        .collect::<Result<_>>()?;
    let outer = numel(&t.shape[..a]);
    let inner = numel(&t.shape[a + 1..]);
    let mut shape = t.shape[..a].to_vec();
    shape.extend_from_slice(&idx.shape);
    shape.extend_from_slice(&t.shape[a + 1..]);
    let mut flat = Vec::with_capacity(numel(&shape));
    for o in 0..outer {
        for &j in &ids {
            let base = (o * t.shape[a] + j) * inner;
            flat.extend(base..base + inner);
        }
    }
    Ok(t.gather_flat(shape, &flat))
}

fn split(node: &Node, opset: i64) -> Result<Option<Box<dyn Kernel>>> {
    let axis = node.attr_int("axis", 0)?;
    let attr_split = node.attr_ints("split")?.map(<[i64]>::to_vec);
    let n_out = node.outputs.len();
    let num_outputs = node.attr_int("num_outputs", n_out as i64)? as usize;
    let _ = opset;
    Ok(kernel(move |ins, _| {
        let t = input(ins, 0)?;
        let a = norm_axis(axis, t.rank(), "Split")?;
        let dim = t.shape[a];
        let sizes: Vec<usize> =
            match ins.get(1).copied().flatten().map(|s| s.to_i64_vec()).or_else(|| attr_split.clone()) {
                Some(s) => s.iter().map(|&v| v.max(0) as usize).collect(),
                None => {
                    let k = num_outputs.max(1);
                    let chunk = dim.div_ceil(k);
                    (0..k).map(|i| chunk.min(dim.saturating_sub(i * chunk))).collect()
                }
            };
        if sizes.iter().sum::<usize>() != dim {
            return Err(bad(format!("Split: sizes {sizes:?} do not add up to axis size {dim}")));
        }
        let st = strides(&t.shape);
        let mut start = 0;
        let mut outs = Vec::new();
        for s in sizes {
            let mut shape = t.shape.clone();
            shape[a] = s;
            let idx = map_indices(&shape, |i, d, _| if d == a { (i + start) * st[d] } else { i * st[d] });
            outs.push(t.gather_flat(shape, &idx));
            start += s;
        }
        Ok(outs)
    }))
}

fn slice(node: &Node, opset: i64) -> Result<Option<Box<dyn Kernel>>> {
    let attrs = if opset < 10 {
        Some((
            node.attr_ints("starts")?.map(<[i64]>::to_vec).unwrap_or_default(),
            node.attr_ints("ends")?.map(<[i64]>::to_vec).unwrap_or_default(),
            node.attr_ints("axes")?.map(<[i64]>::to_vec),
        ))
    } else {
        None
    };
    Ok(kernel(move |ins, _| {
        let t = input(ins, 0)?;
        let opt = |i: usize| ins.get(i).copied().flatten().map(|x| x.to_i64_vec());
        let (starts, ends, axes, steps) = match &attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => (input(ins, 1)?.to_i64_vec(), input(ins, 2)?.to_i64_vec(), opt(3), opt(4)),
        };
        let r = t.rank();
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&x| norm_axis(x, r, "Slice")).collect::<Result<_>>()?,
            None => (0..starts.len()).collect(),
        };
        let mut begin = vec![0i64; r];
        let mut step = vec![1i64; r];
        let mut shape = t.shape.clone();
        for (k, &ax) in axes.iter().enumerate() {
            let dim = t.shape[ax] as i64;
            let st = steps.as_ref().and_then(|s| s.get(k).copied()).unwrap_or(1);
            if st == 0 {
                return Err(bad("Slice: step 0"));
            }
            let norm = |v: i64| if v < 0 { v + dim } else { v };
            let (mut s, mut e) = (norm(*starts.get(k).unwrap_or(&0)), norm(*ends.get(k).unwrap_or(&i64::MAX)));
            if st > 0 {
                s = s.clamp(0, dim);
                e = e.clamp(0, dim);
            } else {
                s = s.clamp(0, dim - 1);
                e = e.clamp(-1, dim - 1);
            }
            let n = if st > 0 { (e - s + st - 1).div_euclid(st) } else { (s - e + (-st) - 1).div_euclid(-st) };
            shape[ax] = n.max(0) as usize;
            begin[ax] = s;
            step[ax] = st;
        }
        let strd = strides(&t.shape);
        let idx = map_indices(&shape, |i, d, _| ((begin[d] + i as i64 * step[d]) as usize) * strd[d]);
        Ok(vec![t.gather_flat(shape, &idx)])
    }))
}

fn pad(node: &Node, opset: i64) -> Result<Option<Box<dyn Kernel>>> {
    let mode = node.attr_string("mode", "constant")?;
    let attr_pads = node.attr_ints("pads")?.map(<[i64]>::to_vec);
    let attr_value = node.attr_float("value", 0.0)?;
    let legacy = opset < 11;
    Ok(kernel(move |ins, _| {
        let t = input(ins, 0)?;
        let r = t.rank();
        let (pads, value) = if legacy {
            (attr_pads.clone().unwrap_or_default(), attr_value)
        } else {
            let v =
                ins.get(2).copied().flatten().map(|v| v.to_f32_vec().first().copied().unwrap_or(0.0)).unwrap_or(0.0);
            (input(ins, 1)?.to_i64_vec(), v)
        };
        let axes: Vec<usize> = match ins.get(3).copied().flatten() {
            Some(a) if !legacy => a.to_i64_vec().iter().map(|&x| norm_axis(x, r, "Pad")).collect::<Result<_>>()?,
            _ => (0..r).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(bad(format!("Pad: expected {} pad values, got {}", 2 * axes.len(), pads.len())));
        }
        let mut before = vec![0i64; r];
        let mut after = vec![0i64; r];
        for (k, &a) in axes.iter().enumerate() {
            before[a] = pads[k];
            after[a] = pads[k + axes.len()];
        }
        let shape: Vec<usize> = (0..r).map(|d| (t.shape[d] as i64 + before[d] + after[d]).max(0) as usize).collect();
        let st = strides(&t.shape);
        // Source coordinate per axis, or None for a padded position in constant mode.
        let src = |i: usize, d: usize| -> Option<usize> {
            let n = t.shape[d] as i64;
            let x = i as i64 - before[d];
            if (0..n).contains(&x) {
                return Some(x as usize);
            }
            match mode.as_str() {
                "edge" => Some(x.clamp(0, n - 1) as usize),
                "reflect" if n > 1 => {
                    let period = 2 * (n - 1);
                    let m = x.rem_euclid(period);
                    Some((if m < n { m } else { period - m }) as usize)
                }
                "reflect" => Some(0),
                "wrap" => Some(x.rem_euclid(n) as usize),
                _ => None,
            }
        };
        let n = numel(&shape);
        let x = t.to_f32_vec();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; r];
        for _ in 0..n {
            let mut off = 0;
            let mut inside = true;
            for d in 0..r {
                match src(idx[d], d) {
                    Some(s) => off += s * st[d],
                    None => inside = false,
                }
            }
            out.push(if inside { x[off] } else { value });
            for d in (0..r).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(vec![match t.data {
            Data::I64(_) => Tensor::i64(shape, out.iter().map(|&v| v as i64).collect()),
            _ => Tensor::f32(shape, out),
        }])
    }))
}
