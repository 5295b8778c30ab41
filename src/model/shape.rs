//! Shape inference at a chosen batch size, with the batch kept symbolic for display.
//!
//! Rather than a symbolic-algebra engine, inference runs on concrete numbers: free
//! dimensions are bound (the leading free dimension of each input to the batch size, others
//! from the caller's bindings, else 1) and shapes are propagated node by node, folding the
//! small integer tensors that exporters use to compute shapes (`Shape -> Gather -> Concat ->
//! Reshape`). Running twice, at batch B and B+1, tells which dimensions scale with the batch:
//! every dim is then `a*N + c` (see [`SymDim`]), which covers what exporters produce. An op we
//! cannot infer leaves its outputs unknown (falling back to shapes declared in the file) and
//! never fails the model.

use super::ir::{DataType, Dim, Graph, Model, Node, TensorData};
use std::collections::HashMap;

/// Integer tensors up to this many elements are folded (shape arithmetic); bigger ones are not.
const FOLD_LIMIT: u64 = 4096;
/// Batch sizes are clamped to 1..=2^31 so that dimension arithmetic cannot overflow.
pub const MAX_BATCH: u64 = 1 << 31;

/// What the caller chooses: batch size, values of named free dims, explicit input shapes.
#[derive(Debug, Clone)]
pub struct ShapeOptions {
    pub batch: u64,
    /// Values for named free dimensions (`dim_param`), e.g. `sequence=128`.
    pub dims: HashMap<String, u64>,
    /// Full shapes for named inputs; they override the declared ones.
    pub input_shapes: HashMap<String, Vec<u64>>,
}

impl Default for ShapeOptions {
    fn default() -> Self {
        ShapeOptions { batch: 1, dims: HashMap::new(), input_shapes: HashMap::new() }
    }
}

impl ShapeOptions {
    /// Add a `NAME=VALUE` free-dimension binding (CLI `--dim`, page option).
    pub fn add_dim(&mut self, spec: &str) -> crate::Result<()> {
        let bad = || {
            crate::Error::InvalidArgument(format!(
                "dimension binding '{spec}' should look like NAME=VALUE, e.g. sequence=128"
            ))
        };
        let (name, value) = spec.split_once('=').ok_or_else(bad)?;
        let value: u64 = value.trim().parse().map_err(|_| bad())?;
        self.dims.insert(name.trim().to_string(), value);
        Ok(())
    }

    /// Add a `NAME=1x3x224x224` input shape (CLI `--input-shape`, page option).
    pub fn add_input_shape(&mut self, spec: &str) -> crate::Result<()> {
        let bad = || crate::Error::InvalidArgument(format!("input shape '{spec}' should look like NAME=1x3x224x224"));
        let (name, shape) = spec.rsplit_once('=').ok_or_else(bad)?;
        let dims = shape
            .split(['x', ',', '*'])
            .map(|d| d.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        self.input_shapes.insert(name.trim().to_string(), dims);
        Ok(())
    }
}

/// Type and concrete shape of one value; `dims: None` when inference could not tell.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueShape {
    pub dtype: Option<DataType>,
    pub dims: Option<Vec<u64>>,
}

impl ValueShape {
    fn new(dtype: Option<DataType>, dims: Vec<u64>) -> Self {
        ValueShape { dtype, dims: Some(dims) }
    }
    pub fn numel(&self) -> Option<u64> {
        self.dims.as_ref().map(|d| d.iter().fold(1u64, |a, &b| a.saturating_mul(b)))
    }
    /// Bytes at this shape; `None` when the shape or dtype is unknown.
    pub fn bytes(&self) -> Option<u64> {
        Some(self.dtype?.bytes_for(self.numel()?))
    }
}

/// A dimension as a function of the batch size N: `a*N + c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymDim {
    pub a: i64,
    pub c: i64,
}

impl SymDim {
    pub fn at(&self, n: u64) -> i64 {
        self.a.saturating_mul(n as i64).saturating_add(self.c)
    }
    /// `224`, `N`, `2N`, `N+1`, `3N-2`.
    pub fn render(&self, sym: &str) -> String {
        let n = match self.a {
            0 => return self.c.to_string(),
            1 => sym.to_string(),
            a => format!("{a}{sym}"),
        };
        match self.c {
            0 => n,
            c if c > 0 => format!("{n}+{c}"),
            c => format!("{n}{c}"),
        }
    }
    /// As JSON: a number when it does not depend on N, else the rendered string.
    pub fn to_json(&self, sym: &str) -> serde_json::Value {
        if self.a == 0 {
            serde_json::Value::from(self.c)
        } else {
            serde_json::Value::from(self.render(sym))
        }
    }
}

/// The outcome of inference over the main graph.
#[derive(Debug, Clone)]
pub struct Shapes {
    /// Concrete shapes at `batch`.
    pub values: HashMap<String, ValueShape>,
    /// Shapes with the batch dependence made explicit (only for values known at both runs).
    pub symbolic: HashMap<String, Vec<SymDim>>,
    /// Name used for the batch symbol in rendered shapes (the input's `dim_param` or `N`).
    pub batch_symbol: String,
    pub batch: u64,
    /// Values produced by `Constant` and foldable `ConstantOfShape` nodes: weights, not
    /// activations.
    pub constants: std::collections::HashSet<String>,
    /// Free dims that had no binding and were set to 1.
    pub defaulted_dims: Vec<String>,
    /// Nodes whose outputs stayed unknown, with the reason.
    pub unresolved: Vec<(String, String)>,
}

/// Infer shapes of every value of `model.graph`.
pub fn infer(model: &Model, opts: &ShapeOptions) -> Shapes {
    let batch = opts.batch.clamp(1, MAX_BATCH);
    let first = run(model, opts, batch);
    let batch_dependent = first.batch_used;
    let mut symbolic = HashMap::new();
    if batch_dependent {
        let second = run(model, opts, batch + 1);
        for (name, v) in &first.values {
            if let (Some(d1), Some(Some(d2))) = (&v.dims, second.values.get(name).map(|s| s.dims.clone())) {
                if d1.len() == d2.len() {
                    let sd = d1
                        .iter()
                        .zip(&d2)
                        .map(|(&x, &y)| {
                            let a = (y as i64).saturating_sub(x as i64);
                            SymDim { a, c: (x as i64).saturating_sub(a.saturating_mul(batch as i64)) }
                        })
                        .collect();
                    symbolic.insert(name.clone(), sd);
                }
            }
        }
    } else {
        for (name, v) in &first.values {
            if let Some(d) = &v.dims {
                symbolic.insert(name.clone(), d.iter().map(|&x| SymDim { a: 0, c: x as i64 }).collect());
            }
        }
    }
    Shapes {
        values: first.values,
        symbolic,
        batch_symbol: first.batch_symbol,
        batch,
        constants: first.constants,
        defaulted_dims: first.defaulted,
        unresolved: first.unresolved,
    }
}

/// A small folded integer tensor.
#[derive(Debug, Clone)]
struct IConst {
    dims: Vec<u64>,
    vals: Vec<i64>,
}

struct Run {
    values: HashMap<String, ValueShape>,
    consts: HashMap<String, IConst>,
    constants: std::collections::HashSet<String>,
    batch_used: bool,
    batch_symbol: String,
    defaulted: Vec<String>,
    unresolved: Vec<(String, String)>,
}

fn run(model: &Model, opts: &ShapeOptions, batch: u64) -> Run {
    let g = &model.graph;
    let mut r = Run {
        values: HashMap::new(),
        consts: HashMap::new(),
        constants: Default::default(),
        batch_used: false,
        batch_symbol: String::new(),
        defaulted: Vec::new(),
        unresolved: Vec::new(),
    };
    for t in g.initializers.values() {
        let dims: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
        if let Some(c) = fold_tensor(&t.data, &dims) {
            r.consts.insert(t.name.clone(), c);
        }
        r.values.insert(t.name.clone(), ValueShape::new(Some(t.dtype), dims));
    }
    for inp in g.runtime_inputs() {
        let dtype = inp.ty.tensor_dtype();
        if let Some(s) = opts.input_shapes.get(&inp.name) {
            r.values.insert(inp.name.clone(), ValueShape::new(dtype, s.clone()));
            continue;
        }
        let Some(shape) = inp.ty.tensor_shape() else {
            r.values.insert(inp.name.clone(), ValueShape { dtype, dims: None });
            continue;
        };
        let mut dims = Vec::with_capacity(shape.len());
        // The batch is the first free dimension of each input (axis 0 usually; axis 1 for
        // sequence-first RNN inputs), plus any later dim with the same name.
        let first_free = shape.iter().position(|d| !matches!(d, Dim::Known(_)));
        for (axis, d) in shape.iter().enumerate() {
            let same_symbol = matches!(d, Dim::Symbol(s) if *s == r.batch_symbol);
            dims.push(match d {
                Dim::Known(v) => *v,
                Dim::Symbol(s) if opts.dims.contains_key(s) => opts.dims[s],
                Dim::Symbol(_) | Dim::Unknown if Some(axis) == first_free || same_symbol => {
                    r.batch_used = true;
                    if r.batch_symbol.is_empty() {
                        if let Dim::Symbol(s) = d {
                            r.batch_symbol = s.clone();
                        }
                    }
                    batch
                }
                other => {
                    let name = match other {
                        Dim::Symbol(s) => s.clone(),
                        _ => format!("{}[{axis}]", inp.name),
                    };
                    if !r.defaulted.contains(&name) {
                        r.defaulted.push(name);
                    }
                    1
                }
            });
        }
        r.values.insert(inp.name.clone(), ValueShape::new(dtype, dims));
    }
    if r.batch_symbol.is_empty() {
        r.batch_symbol = "N".into();
    }
    // Shapes the file declares for intermediate values and outputs: a fallback for ops we
    // cannot infer. Their free dims are bound the same way.
    let mut declared: HashMap<&str, ValueShape> = HashMap::new();
    for v in g.value_info.iter().chain(&g.outputs) {
        if let Some(shape) = v.ty.tensor_shape() {
            let dims: Option<Vec<u64>> = shape
                .iter()
                .map(|d| match d {
                    Dim::Known(x) => Some(*x),
                    Dim::Symbol(s) if opts.dims.contains_key(s) => Some(opts.dims[s]),
                    Dim::Symbol(s) if *s == r.batch_symbol => Some(batch),
                    _ => None,
                })
                .collect();
            declared.insert(&v.name, ValueShape { dtype: v.ty.tensor_dtype(), dims });
        } else if let Some(dt) = v.ty.tensor_dtype() {
            declared.insert(&v.name, ValueShape { dtype: Some(dt), dims: None });
        }
    }

    let order = g.topological_order().unwrap_or_else(|_| (0..g.nodes.len()).collect());
    for i in order {
        let node = &g.nodes[i];
        let outs = match infer_node(&mut r, model, g, node) {
            Ok(o) => o,
            Err(reason) => {
                r.unresolved.push((node.display_name(), reason));
                Vec::new()
            }
        };
        for (k, name) in node.outputs.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let mut v = outs.get(k).cloned().unwrap_or_default();
            if let Some(d) = declared.get(name.as_str()) {
                if v.dims.is_none() {
                    v.dims = d.dims.clone();
                }
                if v.dtype.is_none() {
                    v.dtype = d.dtype;
                }
            }
            r.values.insert(name.clone(), v);
        }
    }
    r
}

fn fold_tensor(data: &TensorData, dims: &[u64]) -> Option<IConst> {
    let n: u64 = dims.iter().product();
    if n > FOLD_LIMIT {
        return None;
    }
    let vals = match data {
        TensorData::I64(v) => v.clone(),
        TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| x as i64).collect(),
        // Float constants feed shape math in some exports (e.g. Resize scales).
        TensorData::F32(v) if v.iter().all(|x| x.fract() == 0.0 && x.abs() < 1e15) => {
            v.iter().map(|&x| x as i64).collect()
        }
        _ => return None,
    };
    Some(IConst { dims: dims.to_vec(), vals })
}

type Infer = Result<Vec<ValueShape>, String>;

fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank.max(1) {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

fn broadcast(shapes: &[&[u64]]) -> Result<Vec<u64>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)] // the ONNX formula's own parameters
fn conv_out(input: u64, k: u64, s: u64, d: u64, pb: u64, pe: u64, auto_pad: &str, ceil: bool) -> Result<u64, String> {
    let s = s.max(1);
    let eff = d.saturating_mul(k.saturating_sub(1)).saturating_add(1);
    Ok(match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => input.div_ceil(s),
        "VALID" => {
            if input < eff {
                return Err(format!("kernel extent {eff} exceeds input {input}"));
            }
            (input - eff) / s + 1
        }
        _ => {
            let padded = input.saturating_add(pb).saturating_add(pe);
            if padded < eff {
                return Err(format!("kernel extent {eff} exceeds padded input {padded}"));
            }
            let span = padded - eff;
            let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
            // ONNX/PyTorch: with ceil_mode the last window must start inside the input.
            if ceil && (o - 1).saturating_mul(s) >= input.saturating_add(pb) {
                o -= 1;
            }
            o
        }
    })
}

impl Run {
    fn dims(&self, n: &Node, i: usize) -> Result<Vec<u64>, String> {
        let name = n.input(i).ok_or_else(|| format!("input {i} is missing"))?;
        self.values.get(name).and_then(|v| v.dims.clone()).ok_or_else(|| format!("shape of input '{name}' is unknown"))
    }
    fn dtype(&self, n: &Node, i: usize) -> Option<DataType> {
        n.input(i).and_then(|x| self.values.get(x)).and_then(|v| v.dtype)
    }
    fn iconst(&self, n: &Node, i: usize) -> Option<&IConst> {
        n.input(i).and_then(|x| self.consts.get(x))
    }
    /// Ints from input `i` if present (newer opsets), else from attribute `attr`.
    fn ints_arg(&self, n: &Node, i: usize, attr: &str) -> Result<Option<Vec<i64>>, String> {
        if n.input(i).is_some() {
            return self
                .iconst(n, i)
                .map(|c| Some(c.vals.clone()))
                .ok_or_else(|| format!("input {i} ('{attr}') is computed at run time"));
        }
        Ok(n.attr_ints(attr).map_err(|e| e.to_string())?.map(|v| v.to_vec()))
    }
}

fn attr_ints(n: &Node, name: &str) -> Result<Option<Vec<i64>>, String> {
    n.attr_ints(name).map(|o| o.map(|v| v.to_vec())).map_err(|e| e.to_string())
}
fn attr_int(n: &Node, name: &str, default: i64) -> Result<i64, String> {
    n.attr_int(name, default).map_err(|e| e.to_string())
}
fn attr_str(n: &Node, name: &str, default: &str) -> Result<String, String> {
    n.attr_string(name, default).map_err(|e| e.to_string())
}

const UNARY_SAME: &[&str] = &[
    "Relu",
    "Sigmoid",
    "Tanh",
    "Exp",
    "Log",
    "Sqrt",
    "Abs",
    "Neg",
    "Erf",
    "LeakyRelu",
    "Elu",
    "Selu",
    "HardSigmoid",
    "HardSwish",
    "Softplus",
    "Softsign",
    "Clip",
    "Identity",
    "Floor",
    "Ceil",
    "Round",
    "Reciprocal",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
    "Gelu",
    "Mish",
    "Sign",
    "ThresholdedRelu",
    "Celu",
    "Shrink",
    "LRN",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Softmax",
    "LogSoftmax",
    "Hardmax",
    "CumSum",
    "LpNormalization",
    "MeanVarianceNormalization",
    "Not",
    "BitwiseNot",
    "Trilu",
    "ScatterND",
    "ScatterElements",
    "Scatter",
    "Swish",
    "RMSNormalization",
    "ReverseSequence",
    "Normalizer",
    "Scaler",
    "Binarizer",
    "Imputer",
    "Dropout",
    "Bernoulli",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "IsNaN",
    "IsInf",
    "CastLike",
];
const BROADCAST: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Sum",
    "Mean",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Where",
    "Mod",
    "BitShift",
    "PRelu",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
];
const TO_BOOL: &[&str] =
    &["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf"];

/// Ops whose shape rule is implemented (used to mark layers as known).
/// onnxruntime's contrib ops (`com.microsoft`) that optimised transformer exports use most.
pub const MS_OPS: &[&str] = &[
    "FusedMatMul",
    "Gelu",
    "FastGelu",
    "BiasGelu",
    "QuickGelu",
    "BiasAdd",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "LayerNormalization",
    "SimplifiedLayerNormalization",
    "Attention",
    "MultiHeadAttention",
];

/// Shapes for the [`MS_OPS`] subset of com.microsoft ops.
fn infer_ms(r: &mut Run, n: &Node) -> Infer {
    let dt0 = r.dtype(n, 0);
    let x = r.dims(n, 0)?;
    match n.op_type.as_str() {
        "FusedMatMul" => {
            let mut a = x;
            let mut b = r.dims(n, 1)?;
            let swap = |v: &mut Vec<u64>| {
                let k = v.len();
                if k >= 2 {
                    v.swap(k - 1, k - 2);
                }
            };
            if attr_int(n, "transA", 0)? != 0 {
                swap(&mut a);
            }
            if attr_int(n, "transB", 0)? != 0 {
                swap(&mut b);
            }
            Ok(vec![ValueShape::new(dt0, matmul_shape(&a, &b)?)])
        }
        "Attention" => {
            // input [B, S, hidden], weights [hidden, 3 * hidden] (or qkv_hidden_sizes).
            let w = r.dims(n, 1)?;
            let v_hidden = match attr_ints(n, "qkv_hidden_sizes")? {
                Some(q) if q.len() == 3 => q[2].max(0) as u64,
                _ => w.last().copied().unwrap_or(0) / 3,
            };
            if x.len() != 3 {
                return Err("Attention expects a 3-D input".into());
            }
            Ok(vec![ValueShape::new(dt0, vec![x[0], x[1], v_hidden])])
        }
        "MultiHeadAttention" => {
            let v = r.dims(n, 2).ok();
            if x.len() != 3 {
                return Err("MultiHeadAttention expects a 3-D query".into());
            }
            let hidden = v.filter(|v| v.len() == 3).map(|v| v[2]).unwrap_or(x[2]);
            Ok(vec![ValueShape::new(dt0, vec![x[0], x[1], hidden])])
        }
        op if MS_OPS.contains(&op) => Ok(vec![ValueShape::new(dt0, x)]),
        op => Err(format!("op com.microsoft::{op} has no shape rule")),
    }
}

pub fn is_known_op(n: &Node) -> bool {
    let op = n.op_type.as_str();
    if n.domain == "com.microsoft" {
        return MS_OPS.contains(&op);
    }
    UNARY_SAME.contains(&op)
        || BROADCAST.contains(&op)
        || matches!(
            op,
            "Conv"
                | "ConvTranspose"
                | "ConvInteger"
                | "QLinearConv"
                | "MaxPool"
                | "AveragePool"
                | "LpPool"
                | "GlobalAveragePool"
                | "GlobalMaxPool"
                | "GlobalLpPool"
                | "Gemm"
                | "MatMul"
                | "MatMulInteger"
                | "QLinearMatMul"
                | "Flatten"
                | "Reshape"
                | "Transpose"
                | "Squeeze"
                | "Unsqueeze"
                | "Concat"
                | "Split"
                | "Slice"
                | "Gather"
                | "GatherElements"
                | "Pad"
                | "Shape"
                | "Size"
                | "Constant"
                | "ConstantOfShape"
                | "Expand"
                | "Tile"
                | "ArgMax"
                | "ArgMin"
                | "TopK"
                | "Resize"
                | "Upsample"
                | "DepthToSpace"
                | "SpaceToDepth"
                | "Range"
                | "LSTM"
                | "GRU"
                | "RNN"
                | "Cast"
                | "OneHot"
                | "Einsum"
                | "LinearClassifier"
                | "LinearRegressor"
                | "TreeEnsembleClassifier"
                | "TreeEnsembleRegressor"
                | "TreeEnsemble"
                | "SVMClassifier"
                | "SVMRegressor"
                | "ZipMap"
                | "ArrayFeatureExtractor"
                | "LabelEncoder"
                | "FeatureVectorizer"
        )
        || op.starts_with("Reduce")
}

fn infer_node(r: &mut Run, model: &Model, g: &Graph, n: &Node) -> Infer {
    let _ = (model, g);
    let op = n.op_type.as_str();
    let dt0 = r.dtype(n, 0);
    let fold_out = |r: &mut Run, c: IConst, dtype: Option<DataType>| -> Infer {
        let v = ValueShape::new(dtype, c.dims.clone());
        if let Some(o) = n.outputs.first() {
            r.consts.insert(o.clone(), c);
        }
        Ok(vec![v])
    };
    if n.domain == "com.microsoft" {
        return infer_ms(r, n);
    }
    if !n.domain.is_empty() && n.domain != "ai.onnx.ml" {
        return Err(format!("op {}::{op} is not a standard ONNX op", n.domain));
    }
    if op == "Constant" {
        if let Some(o) = n.outputs.first() {
            r.constants.insert(o.clone());
        }
        if let Ok(Some(t)) = n.attr_tensor("value") {
            let dims: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
            if let Some(c) = fold_tensor(&t.data, &dims) {
                return fold_out(r, c, Some(t.dtype));
            }
            return Ok(vec![ValueShape::new(Some(t.dtype), dims)]);
        }
        for (attr, dt, scalar) in [
            ("value_int", DataType::Int64, true),
            ("value_float", DataType::Float, true),
            ("value_ints", DataType::Int64, false),
            ("value_floats", DataType::Float, false),
        ] {
            match n.attr(attr) {
                Some(super::ir::AttrValue::Int(v)) => {
                    return fold_out(r, IConst { dims: vec![], vals: vec![*v] }, Some(dt))
                }
                Some(super::ir::AttrValue::Ints(v)) => {
                    return fold_out(r, IConst { dims: vec![v.len() as u64], vals: v.clone() }, Some(dt))
                }
                Some(super::ir::AttrValue::Floats(v)) => {
                    return Ok(vec![ValueShape::new(Some(dt), vec![v.len() as u64])])
                }
                Some(_) => return Ok(vec![ValueShape::new(Some(dt), if scalar { vec![] } else { vec![1] })]),
                None => {}
            }
        }
        return Err("Constant without a supported value attribute".into());
    }
    if op == "ConstantOfShape" {
        let shape = r.iconst(n, 0).ok_or("its shape is computed at run time")?.vals.clone();
        if shape.iter().any(|&d| d < 0) {
            return Err(format!("negative shape {shape:?}"));
        }
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let value = n.attr_tensor("value").ok().flatten();
        let dtype = value.map(|t| t.dtype).unwrap_or(DataType::Float);
        // A constant shape makes the output a constant too: a weight (the "light" models
        // store all their weights this way).
        if let Some(o) = n.outputs.first() {
            r.constants.insert(o.clone());
        }
        let numel: u64 = dims.iter().fold(1u64, |a, &b| a.saturating_mul(b));
        if numel <= FOLD_LIMIT {
            if let Some(v) = value.and_then(|t| t.to_i64_vec()).and_then(|v| v.first().copied()) {
                return fold_out(r, IConst { dims: dims.clone(), vals: vec![v; numel as usize] }, Some(dtype));
            }
        }
        return Ok(vec![ValueShape::new(Some(dtype), dims)]);
    }
    if UNARY_SAME.contains(&op) {
        let d = r.dims(n, 0)?;
        let dtype = if TO_BOOL.contains(&op) {
            Some(DataType::Bool)
        } else if op == "QuantizeLinear" || op == "DynamicQuantizeLinear" {
            r.dtype(n, 2).or(Some(DataType::Uint8))
        } else if op == "DequantizeLinear" {
            Some(DataType::Float)
        } else if op == "CastLike" {
            r.dtype(n, 1)
        } else {
            dt0
        };
        let mut outs = vec![ValueShape::new(dtype, d.clone())];
        if op == "Dropout" {
            outs.push(ValueShape::new(Some(DataType::Bool), d.clone()));
        }
        if op == "Identity" {
            if let Some(c) = r.iconst(n, 0).cloned() {
                return fold_out(r, c, dtype);
            }
        }
        return Ok(outs);
    }
    if BROADCAST.contains(&op) {
        let all: Vec<Vec<u64>> =
            (0..n.inputs.len()).filter(|&i| n.input(i).is_some()).map(|i| r.dims(n, i)).collect::<Result<_, _>>()?;
        let refs: Vec<&[u64]> = all.iter().map(|v| v.as_slice()).collect();
        let out = broadcast(&refs)?;
        let dtype = if TO_BOOL.contains(&op) {
            Some(DataType::Bool)
        } else if op == "Where" {
            r.dtype(n, 1)
        } else {
            dt0
        };
        // Fold integer arithmetic on shapes (Shape(x)[0] * 2 and the like).
        if matches!(op, "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Equal" | "Where") {
            let cs: Option<Vec<&IConst>> = (0..n.inputs.len()).map(|i| r.iconst(n, i)).collect();
            if let Some(cs) = cs {
                let numel: u64 = out.iter().product();
                if numel <= FOLD_LIMIT && cs.iter().all(|c| c.vals.len() == 1 || c.dims == out) {
                    let at = |c: &IConst, i: usize| if c.vals.len() == 1 { c.vals[0] } else { c.vals[i] };
                    let vals: Option<Vec<i64>> = (0..numel as usize)
                        .map(|i| {
                            let a = at(cs[0], i);
                            let b = at(cs[1], i);
                            match op {
                                "Add" => a.checked_add(b),
                                "Sub" => a.checked_sub(b),
                                "Mul" => a.checked_mul(b),
                                "Div" => a.checked_div(b),
                                "Max" => Some(a.max(b)),
                                "Min" => Some(a.min(b)),
                                "Equal" => Some((a == b) as i64),
                                _ => Some(if a != 0 { b } else { at(cs.get(2)?, i) }),
                            }
                        })
                        .collect();
                    if let Some(vals) = vals {
                        return fold_out(r, IConst { dims: out, vals }, dtype);
                    }
                }
            }
        }
        return Ok(vec![ValueShape::new(dtype, out)]);
    }
    match op {
        "Conv" | "ConvInteger" | "QLinearConv" | "MaxPool" | "AveragePool" | "LpPool" => {
            let (xi, wi) = if op == "QLinearConv" { (0, 3) } else { (0, 1) };
            let x = r.dims(n, xi)?;
            if x.len() < 3 {
                return Err(format!("input rank {} < 3", x.len()));
            }
            let sp = x.len() - 2;
            let is_conv = op.contains("Conv");
            let w = if is_conv { Some(r.dims(n, wi)?) } else { None };
            let kernel: Vec<u64> = match attr_ints(n, "kernel_shape")? {
                Some(k) => k.iter().map(|&v| v.max(0) as u64).collect(),
                None => match &w {
                    Some(w) if w.len() == x.len() => w[2..].to_vec(),
                    _ => return Err("no kernel_shape".into()),
                },
            };
            if kernel.len() != sp {
                return Err(format!("kernel {kernel:?} does not match {sp} spatial dims"));
            }
            let strides = attr_ints(n, "strides")?.unwrap_or_else(|| vec![1; sp]);
            let dil = attr_ints(n, "dilations")?.unwrap_or_else(|| vec![1; sp]);
            let pads = attr_ints(n, "pads")?.unwrap_or_else(|| vec![0; 2 * sp]);
            let auto_pad = attr_str(n, "auto_pad", "NOTSET")?;
            let ceil = attr_int(n, "ceil_mode", 0)? != 0;
            if strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
                return Err("strides/dilations/pads do not match the kernel rank".into());
            }
            let cout = match &w {
                Some(w) => *w.first().ok_or("weight has rank 0")?,
                None => x[1],
            };
            let mut out = vec![x[0], cout];
            for i in 0..sp {
                let u = |v: i64| v.max(0) as u64;
                out.push(conv_out(
                    x[2 + i],
                    kernel[i],
                    u(strides[i]),
                    u(dil[i]),
                    u(pads[i]),
                    u(pads[sp + i]),
                    &auto_pad,
                    ceil,
                )?);
            }
            let dtype = match op {
                "ConvInteger" => Some(DataType::Int32),
                "QLinearConv" => r.dtype(n, 7),
                _ => dt0,
            };
            let mut outs = vec![ValueShape::new(dtype, out.clone())];
            if op == "MaxPool" {
                outs.push(ValueShape::new(Some(DataType::Int64), out));
            }
            Ok(outs)
        }
        "ConvTranspose" => {
            let x = r.dims(n, 0)?;
            let w = r.dims(n, 1)?;
            if x.len() < 3 || w.len() != x.len() {
                return Err("ConvTranspose needs matching input and weight ranks >= 3".into());
            }
            let sp = x.len() - 2;
            let group = attr_int(n, "group", 1)?.max(1) as u64;
            let kernel: Vec<u64> = attr_ints(n, "kernel_shape")?
                .map(|k| k.iter().map(|&v| v.max(0) as u64).collect())
                .unwrap_or_else(|| w[2..].to_vec());
            let strides = attr_ints(n, "strides")?.unwrap_or_else(|| vec![1; sp]);
            let dil = attr_ints(n, "dilations")?.unwrap_or_else(|| vec![1; sp]);
            let pads = attr_ints(n, "pads")?.unwrap_or_else(|| vec![0; 2 * sp]);
            let opad = attr_ints(n, "output_padding")?.unwrap_or_else(|| vec![0; sp]);
            let auto_pad = attr_str(n, "auto_pad", "NOTSET")?;
            if kernel.len() != sp || strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp || opad.len() != sp
            {
                return Err("attribute lengths do not match the spatial rank".into());
            }
            let mut out = vec![x[0], w[1].saturating_mul(group)];
            if let Some(os) = attr_ints(n, "output_shape")? {
                out.extend(os.iter().rev().take(sp).rev().map(|&v| v.max(0) as u64));
            } else {
                for i in 0..sp {
                    let o = if auto_pad.starts_with("SAME") {
                        x[2 + i].saturating_mul(strides[i].max(1) as u64)
                    } else {
                        let full = (strides[i].max(1) as u64)
                            .saturating_mul(x[2 + i].saturating_sub(1))
                            .saturating_add(opad[i].max(0) as u64)
                            .saturating_add(kernel[i].saturating_sub(1).saturating_mul(dil[i].max(1) as u64))
                            .saturating_add(1);
                        full.checked_sub(pads[i].saturating_add(pads[sp + i]).max(0) as u64)
                            .ok_or("padding exceeds the output")?
                    };
                    out.push(o);
                }
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let x = r.dims(n, 0)?;
            let mut out = x.clone();
            for d in out.iter_mut().skip(2) {
                *d = 1;
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Gemm" => {
            let a = r.dims(n, 0)?;
            let b = r.dims(n, 1)?;
            if a.len() != 2 || b.len() != 2 {
                return Err("Gemm needs 2-D inputs".into());
            }
            let m = if attr_int(n, "transA", 0)? != 0 { a[1] } else { a[0] };
            let nn = if attr_int(n, "transB", 0)? != 0 { b[0] } else { b[1] };
            Ok(vec![ValueShape::new(dt0, vec![m, nn])])
        }
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let (ai, bi) = if op == "QLinearMatMul" { (0, 3) } else { (0, 1) };
            let a = r.dims(n, ai)?;
            let b = r.dims(n, bi)?;
            let out = matmul_shape(&a, &b)?;
            let dtype = match op {
                "MatMulInteger" => Some(DataType::Int32),
                "QLinearMatMul" => r.dtype(n, 7),
                _ => dt0,
            };
            Ok(vec![ValueShape::new(dtype, out)])
        }
        "Flatten" => {
            let x = r.dims(n, 0)?;
            let axis = attr_int(n, "axis", 1)?;
            let a = if axis < 0 { axis + x.len() as i64 } else { axis };
            if a < 0 || a as usize > x.len() {
                return Err(format!("axis {axis} out of range"));
            }
            let (l, rr) = x.split_at(a as usize);
            Ok(vec![ValueShape::new(dt0, vec![l.iter().product(), rr.iter().product()])])
        }
        "Reshape" => {
            let x = r.dims(n, 0)?;
            let shape = r.ints_arg(n, 1, "shape")?.ok_or("no shape")?;
            let allow_zero = attr_int(n, "allowzero", 0)? != 0;
            let out = reshape(&x, &shape, allow_zero)?;
            if let Some(c) = r.iconst(n, 0).cloned() {
                return fold_out(r, IConst { dims: out, vals: c.vals }, dt0);
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Transpose" => {
            let x = r.dims(n, 0)?;
            let perm = attr_ints(n, "perm")?.unwrap_or_else(|| (0..x.len() as i64).rev().collect());
            if perm.len() != x.len() {
                return Err(format!("perm {perm:?} does not match rank {}", x.len()));
            }
            let out = perm.iter().map(|&p| norm_axis(p, x.len()).map(|a| x[a])).collect::<Result<_, _>>()?;
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Squeeze" => {
            let x = r.dims(n, 0)?;
            let axes = r.ints_arg(n, 1, "axes")?;
            let out: Vec<u64> = match axes {
                Some(ax) => {
                    let ax: Vec<usize> = ax.iter().map(|&a| norm_axis(a, x.len())).collect::<Result<_, _>>()?;
                    x.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, &d)| d).collect()
                }
                None => x.iter().copied().filter(|&d| d != 1).collect(),
            };
            if let Some(c) = r.iconst(n, 0).cloned() {
                return fold_out(r, IConst { dims: out, vals: c.vals }, dt0);
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Unsqueeze" => {
            let x = r.dims(n, 0)?;
            let axes = r.ints_arg(n, 1, "axes")?.ok_or("no axes")?;
            let rank = x.len() + axes.len();
            let mut ax: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?;
            ax.sort_unstable();
            let mut out = x.clone();
            for a in ax {
                if a > out.len() {
                    return Err("bad axes".into());
                }
                out.insert(a, 1);
            }
            if let Some(c) = r.iconst(n, 0).cloned() {
                return fold_out(r, IConst { dims: out, vals: c.vals }, dt0);
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Concat" => {
            let ins: Vec<Vec<u64>> = (0..n.inputs.len())
                .filter(|&i| n.input(i).is_some())
                .map(|i| r.dims(n, i))
                .collect::<Result<_, _>>()?;
            let first = ins.first().ok_or("no inputs")?;
            let axis = norm_axis(attr_int(n, "axis", 0)?, first.len())?;
            let mut out = first.clone();
            out[axis] = ins.iter().map(|s| s.get(axis).copied().unwrap_or(0)).sum();
            let cs: Option<Vec<&IConst>> =
                (0..n.inputs.len()).filter(|&i| n.input(i).is_some()).map(|i| r.iconst(n, i)).collect();
            if let Some(cs) = cs {
                if out.len() == 1 {
                    let vals = cs.iter().flat_map(|c| c.vals.iter().copied()).collect();
                    return fold_out(r, IConst { dims: out, vals }, dt0);
                }
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Split" => {
            let x = r.dims(n, 0)?;
            let axis = norm_axis(attr_int(n, "axis", 0)?, x.len())?;
            let k = n.outputs.len() as u64;
            let parts: Vec<u64> = match r.ints_arg(n, 1, "split")? {
                Some(s) => s.iter().map(|&v| v.max(0) as u64).collect(),
                None => {
                    let total = x[axis];
                    let chunk = total.div_ceil(k.max(1));
                    (0..k).map(|i| chunk.min(total.saturating_sub(i * chunk))).collect()
                }
            };
            Ok(parts
                .iter()
                .map(|&p| {
                    let mut o = x.clone();
                    o[axis] = p;
                    ValueShape::new(dt0, o)
                })
                .collect())
        }
        "Slice" => {
            let x = r.dims(n, 0)?;
            let starts = r.ints_arg(n, 1, "starts")?.ok_or("no starts")?;
            let ends = r.ints_arg(n, 2, "ends")?.ok_or("no ends")?;
            let axes = r.ints_arg(n, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
            let steps = r.ints_arg(n, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
            let mut out = x.clone();
            let mut ranges: Vec<(i64, i64, i64)> = x.iter().map(|&d| (0, d as i64, 1)).collect();
            for (j, &a) in axes.iter().enumerate() {
                let a = norm_axis(a, x.len())?;
                let d = x[a] as i64;
                let step = *steps.get(j).ok_or("steps too short")?;
                if step == 0 {
                    return Err("step 0".into());
                }
                let clamp = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
                let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
                let (s, e) =
                    (fix(*starts.get(j).ok_or("starts too short")?), fix(*ends.get(j).ok_or("ends too short")?));
                let (s, e) =
                    if step > 0 { (clamp(s, 0, d), clamp(e, 0, d)) } else { (clamp(s, 0, d - 1), clamp(e, -1, d - 1)) };
                let len = if step > 0 {
                    ((e - s).max(0) as u64).div_ceil(step as u64)
                } else {
                    ((s - e).max(0) as u64).div_ceil(step.unsigned_abs())
                };
                out[a] = len;
                ranges[a] = (s, e, step);
            }
            if let Some(c) = r.iconst(n, 0).cloned() {
                if x.len() == 1 {
                    let (s, _, step) = ranges[0];
                    let vals = (0..out[0] as i64)
                        .filter_map(|i| c.vals.get(s.checked_add(i.checked_mul(step)?)? as usize).copied())
                        .collect();
                    return fold_out(r, IConst { dims: out, vals }, dt0);
                }
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Gather" | "GatherElements" => {
            let x = r.dims(n, 0)?;
            let idx = r.dims(n, 1)?;
            if op == "GatherElements" {
                return Ok(vec![ValueShape::new(dt0, idx)]);
            }
            let axis = norm_axis(attr_int(n, "axis", 0)?, x.len())?;
            let mut out = x[..axis].to_vec();
            out.extend(&idx);
            out.extend(&x[axis + 1..]);
            if let (Some(c), Some(ic)) = (r.iconst(n, 0).cloned(), r.iconst(n, 1).cloned()) {
                if x.len() == 1 {
                    let d = x[0] as i64;
                    let vals: Option<Vec<i64>> = ic
                        .vals
                        .iter()
                        .map(|&i| c.vals.get((if i < 0 { i + d } else { i }) as usize).copied())
                        .collect();
                    if let Some(vals) = vals {
                        return fold_out(r, IConst { dims: out, vals }, dt0);
                    }
                }
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Pad" => {
            let x = r.dims(n, 0)?;
            let pads = r.ints_arg(n, 1, "pads")?.or(attr_ints(n, "paddings")?).ok_or("no pads")?;
            let axes = r.ints_arg(n, 3, "_axes")?;
            let mut out = x.clone();
            let axes: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&v| norm_axis(v, x.len())).collect::<Result<_, _>>()?,
                None => (0..x.len()).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
            }
            for (j, &a) in axes.iter().enumerate() {
                let v = (out[a] as i64).saturating_add(pads[j]).saturating_add(pads[j + axes.len()]);
                out[a] = v.max(0) as u64;
            }
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Shape" => {
            let x = r.dims(n, 0)?;
            let rank = x.len() as i64;
            let fix = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let s = fix(attr_int(n, "start", 0)?);
            let e = fix(attr_int(n, "end", rank)?);
            let vals: Vec<i64> = x[s..e.max(s)].iter().map(|&d| d as i64).collect();
            fold_out(r, IConst { dims: vec![vals.len() as u64], vals }, Some(DataType::Int64))
        }
        "Size" => {
            let x = r.dims(n, 0)?;
            fold_out(r, IConst { dims: vec![], vals: vec![x.iter().product::<u64>() as i64] }, Some(DataType::Int64))
        }
        "Cast" => {
            let x = r.dims(n, 0)?;
            let to = DataType::from_code(attr_int(n, "to", 0)? as i32);
            if let Some(c) = r.iconst(n, 0).cloned() {
                return fold_out(r, c, to);
            }
            Ok(vec![ValueShape::new(to, x)])
        }
        "Expand" => {
            let x = r.dims(n, 0)?;
            let s: Vec<u64> = r.ints_arg(n, 1, "shape")?.ok_or("no shape")?.iter().map(|&v| v.max(0) as u64).collect();
            Ok(vec![ValueShape::new(dt0, broadcast(&[&x, &s])?)])
        }
        "Tile" => {
            let x = r.dims(n, 0)?;
            let reps = r.ints_arg(n, 1, "repeats")?.ok_or("no repeats")?;
            if reps.len() != x.len() {
                return Err("repeats length differs from rank".into());
            }
            Ok(vec![ValueShape::new(
                dt0,
                x.iter().zip(&reps).map(|(&d, &k)| d.saturating_mul(k.max(0) as u64)).collect(),
            )])
        }
        "ArgMax" | "ArgMin" => {
            let x = r.dims(n, 0)?;
            let axis = norm_axis(attr_int(n, "axis", 0)?, x.len())?;
            let mut out = x.clone();
            if attr_int(n, "keepdims", 1)? != 0 {
                out[axis] = 1;
            } else {
                out.remove(axis);
            }
            Ok(vec![ValueShape::new(Some(DataType::Int64), out)])
        }
        "TopK" => {
            let x = r.dims(n, 0)?;
            let k = match r.ints_arg(n, 1, "_k")? {
                Some(v) => *v.first().ok_or("empty K")?,
                None => attr_int(n, "k", 0)?,
            };
            let axis = norm_axis(attr_int(n, "axis", -1)?, x.len())?;
            let mut out = x.clone();
            out[axis] = k.max(0) as u64;
            Ok(vec![ValueShape::new(dt0, out.clone()), ValueShape::new(Some(DataType::Int64), out)])
        }
        "Resize" | "Upsample" => {
            let x = r.dims(n, 0)?;
            // Resize(X, roi, scales, sizes) since opset 11; (X, scales) in 10 and Upsample 9;
            // Upsample 7 has a `scales` attribute.
            let sizes = if op == "Resize" && n.input(3).is_some() { r.ints_arg(n, 3, "_sizes")? } else { None };
            if let Some(s) = sizes {
                let axes = attr_ints(n, "axes")?;
                let mut out = x.clone();
                match axes {
                    Some(ax) => {
                        for (j, &a) in ax.iter().enumerate() {
                            out[norm_axis(a, x.len())?] = s.get(j).copied().unwrap_or(1).max(0) as u64;
                        }
                    }
                    None => out = s.iter().map(|&v| v.max(0) as u64).collect(),
                }
                return Ok(vec![ValueShape::new(dt0, out)]);
            }
            let scale_input = if op == "Resize" && n.inputs.len() >= 3 { 2 } else { 1 };
            let scales: Vec<f64> = if let Some(name) = n.input(scale_input) {
                let t = g
                    .initializer(name)
                    .or_else(|| constant_tensor(g, name))
                    .ok_or("scales are computed at run time")?;
                t.to_f32_vec().ok_or("scales are not numeric")?.iter().map(|&v| v as f64).collect()
            } else {
                n.attr_floats("scales")
                    .map_err(|e| e.to_string())?
                    .ok_or("no scales")?
                    .iter()
                    .map(|&v| v as f64)
                    .collect()
            };
            if scales.len() != x.len() {
                return Err("scales length differs from rank".into());
            }
            Ok(vec![ValueShape::new(
                dt0,
                x.iter().zip(&scales).map(|(&d, &s)| (d as f64 * s).floor() as u64).collect(),
            )])
        }
        "DepthToSpace" | "SpaceToDepth" => {
            let x = r.dims(n, 0)?;
            let b = attr_int(n, "blocksize", 1)?.max(1) as u64;
            if x.len() != 4 {
                return Err("expects 4-D input".into());
            }
            let out = if op == "DepthToSpace" {
                vec![x[0], x[1] / b.saturating_mul(b), x[2].saturating_mul(b), x[3].saturating_mul(b)]
            } else {
                vec![x[0], x[1].saturating_mul(b).saturating_mul(b), x[2] / b, x[3] / b]
            };
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "Range" => {
            let get = |i: usize| r.iconst(n, i).and_then(|c| c.vals.first().copied());
            let (s, l, d) =
                (get(0).ok_or("start unknown")?, get(1).ok_or("limit unknown")?, get(2).ok_or("delta unknown")?);
            if d == 0 {
                return Err("delta 0".into());
            }
            let len = ((l as f64 - s as f64) / d as f64).ceil().max(0.0) as u64;
            if len <= FOLD_LIMIT {
                let vals = (0..len as i64).map(|i| s.saturating_add(i.saturating_mul(d))).collect();
                return fold_out(r, IConst { dims: vec![len], vals }, dt0);
            }
            Ok(vec![ValueShape::new(dt0, vec![len])])
        }
        "OneHot" => {
            let idx = r.dims(n, 0)?;
            let depth = r.iconst(n, 1).and_then(|c| c.vals.first().copied()).ok_or("depth is computed at run time")?;
            let mut out = idx.clone();
            let axis = attr_int(n, "axis", -1)?;
            let a = if axis < 0 { axis + idx.len() as i64 + 1 } else { axis };
            out.insert(a.clamp(0, idx.len() as i64) as usize, depth.max(0) as u64);
            Ok(vec![ValueShape::new(r.dtype(n, 2), out)])
        }
        "LSTM" | "GRU" | "RNN" => {
            let x = r.dims(n, 0)?;
            if x.len() != 3 {
                return Err("expects a 3-D input".into());
            }
            let h = attr_int(n, "hidden_size", 0)?.max(0) as u64;
            let h = if h == 0 { r.dims(n, 2)?.get(2).copied().unwrap_or(0) } else { h };
            let dirs = if attr_str(n, "direction", "forward")? == "bidirectional" { 2 } else { 1 };
            let batch_first = attr_int(n, "layout", 0)? != 0;
            let (seq, b) = if batch_first { (x[1], x[0]) } else { (x[0], x[1]) };
            let (y, yh) = if batch_first {
                (vec![b, seq, dirs, h], vec![b, dirs, h])
            } else {
                (vec![seq, dirs, b, h], vec![dirs, b, h])
            };
            Ok(vec![ValueShape::new(dt0, y), ValueShape::new(dt0, yh.clone()), ValueShape::new(dt0, yh)])
        }
        "Einsum" => {
            let eq = attr_str(n, "equation", "")?;
            let ins: Vec<Vec<u64>> = (0..n.inputs.len()).map(|i| r.dims(n, i)).collect::<Result<_, _>>()?;
            Ok(vec![ValueShape::new(dt0, einsum_shape(&eq, &ins)?)])
        }
        op if op.starts_with("Reduce") => {
            let x = r.dims(n, 0)?;
            let axes = r.ints_arg(n, 1, "axes")?;
            let keep = attr_int(n, "keepdims", 1)? != 0;
            let axes: Vec<usize> = match axes {
                Some(a) if !a.is_empty() => a.iter().map(|&v| norm_axis(v, x.len())).collect::<Result<_, _>>()?,
                _ if attr_int(n, "noop_with_empty_axes", 0)? != 0 => return Ok(vec![ValueShape::new(dt0, x)]),
                _ => (0..x.len()).collect(),
            };
            let out = x
                .iter()
                .enumerate()
                .filter_map(|(i, &d)| if axes.contains(&i) { keep.then_some(1) } else { Some(d) })
                .collect();
            Ok(vec![ValueShape::new(dt0, out)])
        }
        // ---- ai.onnx.ml (scikit-learn through skl2onnx) ------------------------------------
        "LinearClassifier" | "TreeEnsembleClassifier" | "SVMClassifier" => {
            let x = r.dims(n, 0)?;
            let nrows = x.first().copied().unwrap_or(1);
            let (classes, label_type) = ml_classes(n)?;
            let c = if op == "LinearClassifier" && classes == 2 && ml_coef_rows(n, x.last().copied()) == Some(1) {
                // Binary linear models emit one score column per class anyway (2).
                2
            } else {
                classes
            };
            Ok(vec![
                ValueShape::new(Some(label_type), vec![nrows]),
                ValueShape::new(Some(DataType::Float), vec![nrows, c]),
            ])
        }
        "LinearRegressor" | "TreeEnsembleRegressor" | "SVMRegressor" | "TreeEnsemble" => {
            let x = r.dims(n, 0)?;
            let targets = attr_int(n, "targets", attr_int(n, "n_targets", 1)?)?.max(1) as u64;
            Ok(vec![ValueShape::new(Some(DataType::Float), vec![x.first().copied().unwrap_or(1), targets])])
        }
        "ArrayFeatureExtractor" => {
            let x = r.dims(n, 0)?;
            let idx = r.dims(n, 1)?;
            // onnxruntime: a 1-D input gives [1, k]; otherwise the last axis becomes k.
            let mut out = if x.len() <= 1 { vec![1] } else { x[..x.len() - 1].to_vec() };
            out.push(idx.iter().product());
            Ok(vec![ValueShape::new(dt0, out)])
        }
        "LabelEncoder" => Ok(vec![ValueShape::new(None, r.dims(n, 0)?)]),
        "FeatureVectorizer" => {
            let mut rows = 1;
            let mut cols = 0;
            for i in 0..n.inputs.len() {
                let d = r.dims(n, i)?;
                rows = d.first().copied().unwrap_or(1);
                cols += d.get(1).copied().unwrap_or(1);
            }
            Ok(vec![ValueShape::new(Some(DataType::Float), vec![rows, cols])])
        }
        "ZipMap" => Ok(vec![ValueShape::default()]),
        _ => Err(format!("no shape rule for {op}")),
    }
}

fn constant_tensor<'g>(g: &'g Graph, name: &str) -> Option<&'g super::ir::Tensor> {
    g.nodes
        .iter()
        .find(|n| n.op_type == "Constant" && n.outputs.first().is_some_and(|o| o == name))
        .and_then(|n| n.attr_tensor("value").ok().flatten())
}

fn ml_classes(n: &Node) -> Result<(u64, DataType), String> {
    if let Some(v) = attr_ints(n, "classlabels_ints")? {
        return Ok((v.len() as u64, DataType::Int64));
    }
    if let Some(v) = n.attr_strings("classlabels_strings").map_err(|e| e.to_string())? {
        return Ok((v.len() as u64, DataType::String));
    }
    Err("no class labels".into())
}

fn ml_coef_rows(n: &Node, features: Option<u64>) -> Option<u64> {
    let coef = n.attr_floats("coefficients").ok()??.len() as u64;
    Some(coef / features.filter(|&f| f > 0)?)
}

fn matmul_shape(a: &[u64], b: &[u64]) -> Result<Vec<u64>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let a2: Vec<u64> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<u64> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k1) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, nn) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k1 != k2 {
        return Err(format!("MatMul inner dims differ: {a:?} x {b:?}"));
    }
    let mut out = broadcast(&[&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(nn);
    }
    Ok(out)
}

fn reshape(x: &[u64], shape: &[i64], allow_zero: bool) -> Result<Vec<u64>, String> {
    let total: u64 = x.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*x.get(i).ok_or("0 in shape beyond the input rank")?),
            s if s >= 0 => out.push(s as u64),
            _ => return Err(format!("invalid shape {shape:?}")),
        }
    }
    if let Some(i) = infer_at {
        let known: u64 = out.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &d)| d).product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {x:?} to {shape:?}"));
        }
        out[i] = total / known;
    } else if out.iter().product::<u64>() != total {
        return Err(format!("cannot reshape {x:?} ({total} elements) to {shape:?}"));
    }
    Ok(out)
}

/// Output shape of an einsum equation (explicit `->` form, or implicit: sorted unique labels).
fn einsum_shape(eq: &str, ins: &[Vec<u64>]) -> Result<Vec<u64>, String> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    if eq.contains("...") {
        return Err("einsum with ellipsis".into());
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ins.len() {
        return Err("einsum operand count differs".into());
    }
    let mut size: HashMap<char, u64> = HashMap::new();
    let mut count: HashMap<char, usize> = HashMap::new();
    for (t, s) in terms.iter().zip(ins) {
        if t.chars().count() != s.len() {
            return Err(format!("einsum term '{t}' does not match rank {}", s.len()));
        }
        for (c, &d) in t.chars().zip(s) {
            let e = size.entry(c).or_insert(d);
            if *e == 1 {
                *e = d;
            }
            *count.entry(c).or_insert(0) += 1;
        }
    }
    let out_labels: Vec<char> = match rhs {
        Some(r) => r.chars().collect(),
        None => {
            let mut v: Vec<char> = count.iter().filter(|(_, &k)| k == 1).map(|(&c, _)| c).collect();
            v.sort_unstable();
            v
        }
    };
    out_labels.iter().map(|c| size.get(c).copied().ok_or_else(|| format!("label {c} not in inputs"))).collect()
}

/// Product of all label sizes of an einsum (the MAC count of a naive contraction).
pub fn einsum_macs(eq: &str, ins: &[Vec<u64>]) -> Option<u64> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let lhs = eq.split("->").next()?;
    let mut size: HashMap<char, u64> = HashMap::new();
    for (t, s) in lhs.split(',').zip(ins) {
        for (c, &d) in t.chars().zip(s) {
            let e = size.entry(c).or_insert(d);
            *e = (*e).max(d);
        }
    }
    Some(size.values().fold(1u64, |a, &b| a.saturating_mul(b)))
}
