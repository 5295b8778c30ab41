//! The model card: parameters, MACs, FLOPs and activation memory, in total and per layer.
//!
//! Counting conventions differ between tools (onnx-tool, thop, fvcore, torchinfo), so the
//! rules are written down once in docs/counting-rules.md and implemented here in one table
//! ([`op_cost`]). In short: a MAC is one multiply-accumulate of a Conv/Gemm/MatMul/RNN;
//! FLOPs = 2 x MACs + every other arithmetic op (bias adds, activations, normalisation,
//! pooling), one per element unless the rule says otherwise. Ops without a rule still appear
//! as layers, marked unknown, and count zero.

use super::ir::{AttrValue, DataType, Graph, Model, Node, Tensor, TensorData};
use super::shape::{self, ShapeOptions, Shapes, ValueShape};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One row of the per-layer table.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    pub name: String,
    pub op: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Elements of the constant inputs (weights) this layer reads; shared weights count in
    /// every layer that uses them.
    pub params: u64,
    pub macs: u64,
    pub flops: u64,
    /// Shape of the first output; the batch dimension is a string like `"N"` when free.
    pub output_shape: Option<Vec<serde_json::Value>>,
    /// Shape of the first output at the chosen batch size.
    pub output_shape_at_batch: Option<Vec<u64>>,
    pub output_dtype: Option<String>,
    /// Bytes of all outputs at the chosen batch size.
    pub activation_bytes: u64,
    /// This layer's share of the total MACs and FLOPs (0..1).
    pub macs_share: f64,
    pub flops_share: f64,
    /// The op has no counting rule: listed, counted as zero.
    pub unknown: bool,
    /// Why counts are missing or approximate, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    pub op: String,
    pub count: u64,
    pub params: u64,
    pub macs: u64,
    pub flops: u64,
    pub macs_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DtypeSummary {
    pub dtype: String,
    pub tensors: u64,
    pub params: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IoInfo {
    pub name: String,
    pub dtype: Option<String>,
    /// Declared shape; free dims as strings (`"batch_size"`, `"?"`).
    pub shape: Option<Vec<serde_json::Value>>,
    /// Shape at the chosen batch size, as inferred.
    pub shape_at_batch: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Opset {
    pub domain: String,
    pub version: i64,
}

/// Everything `webeval inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCard {
    /// Elements of every constant tensor stored in the model (see counting rules).
    pub params: u64,
    /// `params` with byte-identical tensors counted once (weight sharing by copy).
    pub unique_params: u64,
    pub macs: u64,
    pub flops: u64,
    /// Batch size the counts are for.
    pub batch: u64,
    pub batch_symbol: String,
    /// Sum of all layer outputs at `batch`, as if nothing were freed.
    pub activation_bytes: u64,
    /// Most activation bytes alive at once when layers run in order and each output is
    /// freed after its last use (inputs included).
    pub peak_activation_bytes: u64,
    /// Bytes of the stored parameters in their own dtypes.
    pub param_bytes: u64,
    /// Bytes of the model file plus external data files.
    pub size_bytes: u64,
    pub ir_version: i64,
    pub opset: Vec<Opset>,
    pub producer: String,
    pub graph_name: String,
    pub inputs: Vec<IoInfo>,
    pub outputs: Vec<IoInfo>,
    pub layer_count: u64,
    /// Longest chain of layers from an input to an output.
    pub depth: u64,
    pub layers: Vec<Layer>,
    pub by_op: Vec<OpSummary>,
    pub by_dtype: Vec<DtypeSummary>,
    /// Op types without a counting rule (their layers count zero).
    pub unknown_ops: Vec<String>,
    pub warnings: Vec<String>,
}

impl ModelCard {
    pub fn to_json(&self) -> crate::Result<String> {
        Ok(serde_json::to_string(self)?)
    }
}

/// Build the card for `model` at the batch size and dims in `opts`.
pub fn analyze(model: &Model, opts: &ShapeOptions) -> ModelCard {
    if let Some(nodes) = model.inlined_nodes() {
        // Model-local functions: count their bodies. (`inspect_*` inline in place, no copy.)
        let mut m = model.clone();
        m.graph.nodes = nodes;
        return analyze_inlined(&m, opts);
    }
    analyze_inlined(model, opts)
}

pub(crate) fn analyze_inlined(model: &Model, opts: &ShapeOptions) -> ModelCard {
    let g = &model.graph;
    let shapes = shape::infer(model, opts);
    let mut warnings = Vec::new();
    let missing = g.initializers.values().filter(|t| matches!(t.data, TensorData::Missing)).count();
    if missing > 0 {
        warnings.push(format!(
            "{missing} tensors keep their data in external files that were not supplied; counts are complete, values unavailable"
        ));
    }
    for d in &shapes.defaulted_dims {
        warnings.push(format!("free dimension '{d}' was set to 1; choose a value with --dim {d}=N"));
    }

    // ---- stored constants -----------------------------------------------------------------
    let mut consumers: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in &g.nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            consumers.entry(i.as_str()).or_default().push(n);
        }
    }
    let folded = |n: &Node| n.outputs.first().is_some_and(|o| shapes.constants.contains(o));
    // Shape tensors that only describe a generated weight are not parameters themselves.
    let shape_only = |name: &str| {
        consumers
            .get(name)
            .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.op_type == "ConstantOfShape" && folded(c)))
    };
    let mut stored = Stored::default();
    collect_graph_constants(g, &shape_only, &mut stored, true);
    for n in g.nodes.iter().filter(|n| folded(n)) {
        if let Some(o) = n.outputs.first() {
            if let Some(v) = shapes.values.get(o) {
                let numel = v.numel().unwrap_or(0);
                let dtype = v.dtype.unwrap_or(DataType::Float);
                let tensor = if n.op_type == "Constant" { n.attr_tensor("value").ok().flatten() } else { None };
                stored.add(dtype, numel, tensor);
            }
        }
    }
    for n in &g.nodes {
        if n.domain == "ai.onnx.ml" {
            let k = ml_attr_params(n);
            if k > 0 {
                stored.add(DataType::Float, k, None);
            }
        }
    }

    // ---- layers ---------------------------------------------------------------------------
    let order = g.topological_order().unwrap_or_else(|_| (0..g.nodes.len()).collect());
    let is_const = |name: &str| g.initializers.contains_key(name) || shapes.constants.contains(name);
    let sym = shapes.batch_symbol.clone();
    let mut layers = Vec::new();
    let mut layer_of_value: HashMap<&str, usize> = HashMap::new();
    let mut depth_of: Vec<u64> = Vec::new();
    let mut unknown_ops: Vec<String> = Vec::new();
    for &i in &order {
        let n = &g.nodes[i];
        if folded(n) {
            continue;
        }
        let ins: Vec<Option<&ValueShape>> =
            n.inputs.iter().map(|x| if x.is_empty() { None } else { shapes.values.get(x) }).collect();
        let outs: Vec<Option<&ValueShape>> = n.outputs.iter().map(|x| shapes.values.get(x)).collect();
        let mut params: u64 = n
            .inputs
            .iter()
            .filter(|x| !x.is_empty() && is_const(x))
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|x| shapes.values.get(x.as_str()).and_then(|v| v.numel()).unwrap_or(0))
            .fold(0u64, u64::saturating_add);
        if n.domain == "ai.onnx.ml" {
            params += ml_attr_params(n);
        }
        let cost = op_cost(n, &ins, &outs, &shapes);
        let (macs, flops, unknown, note) = match cost {
            Cost::Counted { macs, flops } => (macs, flops, false, None),
            Cost::NoShape(why) => (0, 0, false, Some(format!("not counted: {why}"))),
            Cost::Unknown => {
                let op = if n.domain.is_empty() { n.op_type.clone() } else { format!("{}::{}", n.domain, n.op_type) };
                if !unknown_ops.contains(&op) {
                    unknown_ops.push(op);
                }
                (0, 0, true, Some("no counting rule for this op; counted as 0".to_string()))
            }
        };
        let first = n.outputs.first().and_then(|o| shapes.values.get(o));
        let activation_bytes: u64 = n
            .outputs
            .iter()
            .filter_map(|o| shapes.values.get(o).and_then(|v| v.bytes()))
            .fold(0u64, u64::saturating_add);
        let d = n
            .inputs
            .iter()
            .chain(n.subgraphs().flat_map(|sg| sg.nodes.iter().flat_map(|x| x.inputs.iter())))
            .filter_map(|x| layer_of_value.get(x.as_str()).map(|&l| depth_of[l]))
            .max()
            .unwrap_or(0)
            + 1;
        let idx = layers.len();
        for o in &n.outputs {
            layer_of_value.insert(o.as_str(), idx);
        }
        depth_of.push(d);
        let mut note = note;
        if n.subgraphs().next().is_some() {
            note = Some("control flow: the body's compute is not counted".into());
        }
        layers.push(Layer {
            name: n.display_name(),
            op: n.op_type.clone(),
            domain: n.domain.clone(),
            params,
            macs,
            flops,
            output_shape: n
                .outputs
                .first()
                .and_then(|o| shapes.symbolic.get(o))
                .map(|s| s.iter().map(|d| d.to_json(&sym)).collect()),
            output_shape_at_batch: first.and_then(|v| v.dims.clone()),
            output_dtype: first.and_then(|v| v.dtype).map(|d| d.name().to_string()),
            activation_bytes,
            macs_share: 0.0,
            flops_share: 0.0,
            unknown,
            note,
        });
    }
    let macs = sat_sum(layers.iter().map(|l| l.macs));
    let flops = sat_sum(layers.iter().map(|l| l.flops));
    for l in &mut layers {
        l.macs_share = share(l.macs, macs);
        l.flops_share = share(l.flops, flops);
    }
    let mut by_op: BTreeMap<String, OpSummary> = BTreeMap::new();
    for l in &layers {
        let e = by_op.entry(l.op.clone()).or_insert_with(|| OpSummary {
            op: l.op.clone(),
            count: 0,
            params: 0,
            macs: 0,
            flops: 0,
            macs_share: 0.0,
        });
        e.count += 1;
        e.params = e.params.saturating_add(l.params);
        e.macs = e.macs.saturating_add(l.macs);
        e.flops = e.flops.saturating_add(l.flops);
    }
    let mut by_op: Vec<OpSummary> = by_op.into_values().collect();
    for o in &mut by_op {
        o.macs_share = share(o.macs, macs);
    }
    by_op.sort_by(|a, b| b.macs.cmp(&a.macs).then(b.flops.cmp(&a.flops)).then(a.op.cmp(&b.op)));

    for (name, why) in &shapes.unresolved {
        warnings.push(format!("shape of '{name}' unknown: {why}"));
    }
    let peak = peak_activation(g, &order, &shapes, &folded);
    let io = |v: &super::ir::ValueInfo| IoInfo {
        name: v.name.clone(),
        dtype: v.ty.tensor_dtype().map(|d| d.name().to_string()),
        shape: v.ty.tensor_shape().map(|s| {
            s.iter()
                .map(|d| match d {
                    super::ir::Dim::Known(k) => serde_json::Value::from(*k),
                    other => serde_json::Value::from(other.to_string()),
                })
                .collect()
        }),
        shape_at_batch: shapes.values.get(&v.name).and_then(|s| s.dims.clone()),
    };
    ModelCard {
        params: stored.params,
        unique_params: stored.unique_params(),
        macs,
        flops,
        batch: shapes.batch,
        batch_symbol: sym,
        activation_bytes: sat_sum(layers.iter().map(|l| l.activation_bytes)),
        peak_activation_bytes: peak,
        param_bytes: sat_sum(stored.by_dtype.values().map(|d| d.bytes)),
        size_bytes: model.size_bytes,
        ir_version: model.ir_version,
        opset: model
            .opset_imports
            .iter()
            .map(|o| Opset {
                domain: if o.domain.is_empty() { "ai.onnx".into() } else { o.domain.clone() },
                version: o.version,
            })
            .collect(),
        producer: format!("{} {}", model.producer_name, model.producer_version).trim().to_string(),
        graph_name: g.name.clone(),
        inputs: g.runtime_inputs().map(io).collect(),
        outputs: g.outputs.iter().map(io).collect(),
        layer_count: layers.len() as u64,
        depth: depth_of.iter().copied().max().unwrap_or(0),
        layers,
        by_op,
        by_dtype: stored.by_dtype.into_values().collect(),
        unknown_ops,
        warnings,
    }
}

fn twice(macs: u64) -> u64 {
    macs.saturating_mul(2)
}

fn sat_sum(it: impl Iterator<Item = u64>) -> u64 {
    it.fold(0u64, |a, b| a.saturating_add(b))
}

fn share(x: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        x as f64 / total as f64
    }
}

#[derive(Default)]
struct Stored<'a> {
    params: u64,
    /// Elements of tensors that cannot be compared (generated or missing): always unique.
    unique_uncomparable: u64,
    /// Tensors grouped by dtype and dims: only tensors in one group can be identical.
    groups: HashMap<(DataType, &'a [usize]), Vec<&'a Tensor>>,
    by_dtype: BTreeMap<DataType, DtypeSummary>,
}

impl<'a> Stored<'a> {
    /// `tensor`: the values, for de-duplication; `None` counts as unique.
    fn add(&mut self, dtype: DataType, numel: u64, tensor: Option<&'a Tensor>) {
        self.params = self.params.saturating_add(numel);
        match tensor.filter(|t| !matches!(t.data, TensorData::Missing)) {
            Some(t) => self.groups.entry((t.dtype, t.dims.as_slice())).or_default().push(t),
            None => self.unique_uncomparable = self.unique_uncomparable.saturating_add(numel),
        }
        let e = self.by_dtype.entry(dtype).or_insert_with(|| DtypeSummary {
            dtype: dtype.name().to_string(),
            tensors: 0,
            params: 0,
            bytes: 0,
        });
        e.tensors += 1;
        e.params = e.params.saturating_add(numel);
        e.bytes = e.bytes.saturating_add(dtype.bytes_for(numel));
    }
}

impl Stored<'_> {
    /// Parameters with identical tensors counted once. Only tensors of the same dtype and
    /// dims are compared, and a comparison stops at the first differing value, so this stays
    /// cheap on a 100 MB model (no hashing of every weight).
    fn unique_params(&self) -> u64 {
        let mut total = self.unique_uncomparable;
        for group in self.groups.values() {
            let mut kept: Vec<&Tensor> = Vec::new();
            for t in group {
                if !kept.iter().any(|k| same_values(&k.data, &t.data)) {
                    total = total.saturating_add(t.numel() as u64);
                    kept.push(t);
                }
            }
        }
        total
    }
}

/// Bitwise equality (so NaN == NaN and 0.0 != -0.0: identical storage).
fn same_values(a: &TensorData, b: &TensorData) -> bool {
    match (a, b) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (TensorData::F64(x), TensorData::F64(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (TensorData::Missing, _) | (_, TensorData::Missing) => false,
        _ => a == b,
    }
}

/// Initializers of a graph and (recursively) of its subgraphs, plus Constant nodes inside
/// subgraphs (the main graph's Constant nodes are handled with the shape results).
fn collect_graph_constants<'a>(g: &'a Graph, shape_only: &dyn Fn(&str) -> bool, out: &mut Stored<'a>, top: bool) {
    for t in g.initializers_in_order() {
        if top && shape_only(&t.name) {
            continue;
        }
        out.add(t.dtype, t.numel() as u64, Some(t));
    }
    for n in &g.nodes {
        if !top && n.op_type == "Constant" {
            if let Ok(Some(t)) = n.attr_tensor("value") {
                out.add(t.dtype, t.numel() as u64, Some(t));
            }
        }
        for sg in n.subgraphs() {
            collect_graph_constants(sg, &|_| false, out, false);
        }
    }
}

/// Learned numbers that ai.onnx.ml ops keep in attributes (coefficients, thresholds, leaf
/// values): the elements of their float attributes and float tensor attributes.
pub fn ml_attr_params(n: &Node) -> u64 {
    n.attributes
        .iter()
        .map(|a| match &a.value {
            AttrValue::Floats(v) => v.len() as u64,
            AttrValue::Tensor(t) if t.dtype.is_float() => t.numel() as u64,
            _ => 0,
        })
        .sum()
}

enum Cost {
    Counted {
        macs: u64,
        flops: u64,
    },
    /// A known op whose shapes could not be inferred.
    NoShape(String),
    Unknown,
}

fn numel(v: Option<&ValueShape>) -> Option<u64> {
    v.and_then(|v| v.numel())
}
fn dims(v: Option<&ValueShape>) -> Option<&[u64]> {
    v.and_then(|v| v.dims.as_deref())
}
fn prod(d: &[u64]) -> u64 {
    d.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

/// Elementwise FLOPs per output element for ops that are pure per-element arithmetic.
fn elementwise_flops(op: &str) -> Option<u64> {
    Some(match op {
        // Data movement and casts: no arithmetic.
        "Identity"
        | "Dropout"
        | "Cast"
        | "CastLike"
        | "Reshape"
        | "Flatten"
        | "Squeeze"
        | "Unsqueeze"
        | "Transpose"
        | "Concat"
        | "Split"
        | "Slice"
        | "Gather"
        | "GatherElements"
        | "GatherND"
        | "Pad"
        | "Shape"
        | "Size"
        | "Expand"
        | "Tile"
        | "DepthToSpace"
        | "SpaceToDepth"
        | "Range"
        | "OneHot"
        | "ScatterND"
        | "ScatterElements"
        | "Scatter"
        | "Trilu"
        | "ReverseSequence"
        | "ZipMap"
        | "ArrayFeatureExtractor"
        | "LabelEncoder"
        | "FeatureVectorizer"
        | "Constant"
        | "ConstantOfShape"
        | "NonZero"
        | "Compress"
        | "Unique"
        | "Bernoulli" => 0,
        // One arithmetic op per element (transcendentals included, see the counting rules).
        "Relu"
        | "Sigmoid"
        | "Tanh"
        | "Exp"
        | "Log"
        | "Sqrt"
        | "Abs"
        | "Neg"
        | "Erf"
        | "LeakyRelu"
        | "Elu"
        | "Selu"
        | "HardSigmoid"
        | "HardSwish"
        | "Softplus"
        | "Softsign"
        | "Clip"
        | "Floor"
        | "Ceil"
        | "Round"
        | "Reciprocal"
        | "Sin"
        | "Cos"
        | "Tan"
        | "Asin"
        | "Acos"
        | "Atan"
        | "Sinh"
        | "Cosh"
        | "Asinh"
        | "Acosh"
        | "Atanh"
        | "Gelu"
        | "Mish"
        | "Sign"
        | "ThresholdedRelu"
        | "Celu"
        | "Shrink"
        | "Not"
        | "BitwiseNot"
        | "IsNaN"
        | "IsInf"
        | "Swish"
        | "CumSum"
        | "Hardmax"
        | "Binarizer"
        | "Imputer"
        | "QuantizeLinear"
        | "DequantizeLinear"
        | "DynamicQuantizeLinear"
        | "Where"
        | "PRelu"
        | "Mod"
        | "BitShift"
        | "Pow" => 1,
        "Softmax" | "LogSoftmax" | "LpNormalization" | "Normalizer" => 3,
        "BatchNormalization" | "Scaler" => 2,
        "RMSNormalization" => 4,
        "LayerNormalization" | "InstanceNormalization" | "GroupNormalization" | "MeanVarianceNormalization" => 7,
        _ => return None,
    })
}

fn op_cost(n: &Node, ins: &[Option<&ValueShape>], outs: &[Option<&ValueShape>], shapes: &Shapes) -> Cost {
    let _ = shapes;
    let op = n.op_type.as_str();
    let out0 = outs.first().copied().flatten();
    let need = |x: Option<u64>, what: &str| x.ok_or_else(|| format!("shape of {what} unknown"));
    let counted = |macs: u64, flops: u64| Cost::Counted { macs, flops };
    if n.domain == "com.microsoft" && shape::MS_OPS.contains(&op) {
        return ms_cost(n, ins, out0).unwrap_or_else(Cost::NoShape);
    }
    if !n.domain.is_empty() && n.domain != "ai.onnx.ml" {
        return Cost::Unknown;
    }
    let r: Result<Cost, String> = (|| {
        Ok(match op {
            "Conv" | "ConvInteger" | "QLinearConv" => {
                let wi = if op == "QLinearConv" { 3 } else { 1 };
                let out = need(numel(out0), "output")?;
                let w = dims(ins.get(wi).copied().flatten()).ok_or("shape of weight unknown")?;
                let per = prod(w.get(1..).unwrap_or(&[]));
                let macs = out.saturating_mul(per);
                let bias_i = if op == "QLinearConv" { 8 } else { 2 };
                let bias = if op != "ConvInteger" && n.input(bias_i).is_some() { out } else { 0 };
                counted(macs, twice(macs).saturating_add(bias))
            }
            "ConvTranspose" => {
                let x = need(numel(ins.first().copied().flatten()), "input")?;
                let w = dims(ins.get(1).copied().flatten()).ok_or("shape of weight unknown")?;
                let per = prod(w.get(1..).unwrap_or(&[]));
                let macs = x.saturating_mul(per);
                let bias = if n.input(2).is_some() { need(numel(out0), "output")? } else { 0 };
                counted(macs, twice(macs).saturating_add(bias))
            }
            "Gemm" => {
                let a = dims(ins.first().copied().flatten()).ok_or("shape of A unknown")?;
                let out = need(numel(out0), "output")?;
                let k =
                    if n.attr_int("transA", 0).unwrap_or(0) != 0 { a.first() } else { a.get(1) }.copied().unwrap_or(1);
                let macs = out.saturating_mul(k);
                let bias = if n.input(2).is_some() { out } else { 0 };
                counted(macs, twice(macs).saturating_add(bias))
            }
            "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
                let a = dims(ins.first().copied().flatten()).ok_or("shape of A unknown")?;
                let out = need(numel(out0), "output")?;
                let macs = out.saturating_mul(*a.last().unwrap_or(&1));
                counted(macs, twice(macs))
            }
            "Einsum" => {
                let eq = n.attr_string("equation", "").unwrap_or_default();
                let all: Vec<Vec<u64>> = ins
                    .iter()
                    .map(|v| dims(*v).map(|d| d.to_vec()))
                    .collect::<Option<_>>()
                    .ok_or("input shapes unknown")?;
                let macs = shape::einsum_macs(&eq, &all).ok_or("bad equation")?;
                counted(macs, twice(macs))
            }
            "LSTM" | "GRU" | "RNN" => {
                let x = dims(ins.first().copied().flatten()).ok_or("shape of X unknown")?;
                let w = dims(ins.get(1).copied().flatten()).ok_or("shape of W unknown")?;
                if x.len() != 3 || w.len() != 3 {
                    return Err("X and W must be 3-D".into());
                }
                // seq x batch, in either layout.
                let steps = x[0].saturating_mul(x[1]);
                let (dirs, gh, input) = (w[0], w[1], w[2]);
                let gates: u64 = match op {
                    "LSTM" => 4,
                    "GRU" => 3,
                    _ => 1,
                };
                let h = gh / gates;
                let per_step = gates
                    .saturating_mul(h)
                    .saturating_mul(input.saturating_add(h))
                    .saturating_add(if op == "LSTM" && n.input(7).is_some() { h.saturating_mul(3) } else { 0 });
                let runs = dirs.saturating_mul(steps);
                let macs = runs.saturating_mul(per_step);
                let bias = if n.input(3).is_some() { h.saturating_mul(2 * gates) } else { 0 };
                let elementwise = match op {
                    "LSTM" => h.saturating_mul(9),
                    "GRU" => h.saturating_mul(8),
                    _ => h,
                };
                counted(macs, twice(macs).saturating_add(runs.saturating_mul(bias.saturating_add(elementwise))))
            }
            "MaxPool" | "AveragePool" | "LpPool" => {
                let out = need(numel(out0), "output")?;
                let k: u64 = prod(
                    &n.attr_ints("kernel_shape")
                        .ok()
                        .flatten()
                        .unwrap_or(&[])
                        .iter()
                        .map(|&v| v.max(0) as u64)
                        .collect::<Vec<_>>(),
                );
                let extra = if op == "MaxPool" { 0 } else { out };
                counted(0, out.saturating_mul(k).saturating_add(extra))
            }
            "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
                let x = need(numel(ins.first().copied().flatten()), "input")?;
                let extra = if op == "GlobalMaxPool" { 0 } else { need(numel(out0), "output")? };
                counted(0, x.saturating_add(extra))
            }
            "LRN" => {
                let out = need(numel(out0), "output")?;
                let size = n.attr_int("size", 1).unwrap_or(1).max(1) as u64;
                counted(0, out.saturating_mul(2 * size + 3))
            }
            "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Sum" | "Mean" | "Equal" | "Less" | "Greater"
            | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" => {
                let out = need(numel(out0), "output")?;
                let k = n.inputs.iter().filter(|i| !i.is_empty()).count().max(2) as u64 - 1;
                let extra = if op == "Mean" { out } else { 0 };
                counted(0, out.saturating_mul(k).saturating_add(extra))
            }
            op if op.starts_with("Reduce") || op == "ArgMax" || op == "ArgMin" || op == "TopK" => {
                let x = need(numel(ins.first().copied().flatten()), "input")?;
                let extra = match op {
                    "ReduceMean" | "ReduceL2" | "ReduceLogSumExp" | "ReduceLogSum" => need(numel(out0), "output")?,
                    _ => 0,
                };
                let per =
                    if matches!(op, "ReduceSumSquare" | "ReduceL2" | "ReduceL1" | "ReduceLogSumExp") { 2 } else { 1 };
                counted(0, x.saturating_mul(per).saturating_add(extra))
            }
            "Resize" | "Upsample" => {
                let out = need(numel(out0), "output")?;
                let x = dims(ins.first().copied().flatten()).ok_or("shape of input unknown")?;
                let o = dims(out0).ok_or("shape of output unknown")?;
                let scaled = x.iter().zip(o).filter(|(a, b)| a != b).count() as u32;
                let mode = n.attr_string("mode", "nearest").unwrap_or_default();
                let per = match mode.as_str() {
                    "linear" | "bilinear" | "trilinear" => 3 * (2u64.pow(scaled) - 1),
                    "cubic" => 2 * 4u64.pow(scaled),
                    _ => 0,
                };
                counted(0, out.saturating_mul(per))
            }
            "LinearClassifier" | "LinearRegressor" => {
                let x = dims(ins.first().copied().flatten()).ok_or("shape of input unknown")?;
                let rows = x.first().copied().unwrap_or(1);
                let coef = n.attr_floats("coefficients").ok().flatten().map(|c| c.len()).unwrap_or(0) as u64;
                let icpt = n.attr_floats("intercepts").ok().flatten().map(|c| c.len()).unwrap_or(0) as u64;
                let macs = rows.saturating_mul(coef);
                counted(macs, twice(macs).saturating_add(rows.saturating_mul(icpt)))
            }
            "SVMClassifier" | "SVMRegressor" => {
                let x = dims(ins.first().copied().flatten()).ok_or("shape of input unknown")?;
                let rows = x.first().copied().unwrap_or(1);
                let sv = n.attr_floats("support_vectors").ok().flatten().map(|c| c.len()).unwrap_or(0) as u64;
                let coef = n.attr_floats("coefficients").ok().flatten().map(|c| c.len()).unwrap_or(0) as u64;
                let macs = rows.saturating_mul(if sv > 0 { sv + coef } else { coef });
                counted(macs, twice(macs))
            }
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                let x = dims(ins.first().copied().flatten()).ok_or("shape of input unknown")?;
                let rows = x.first().copied().unwrap_or(1);
                counted(0, rows.saturating_mul(tree_depth_sum(n)))
            }
            _ => match elementwise_flops(op) {
                Some(per) => {
                    let out = if per == 0 { 0 } else { need(numel(out0), "output")? };
                    counted(0, out.saturating_mul(per))
                }
                None if shape::is_known_op(n) => counted(0, 0),
                None => Cost::Unknown,
            },
        })
    })();
    r.unwrap_or_else(Cost::NoShape)
}

/// com.microsoft contrib ops, with the same conventions as their standard counterparts.
fn ms_cost(n: &Node, ins: &[Option<&ValueShape>], out0: Option<&ValueShape>) -> Result<Cost, String> {
    let out = numel(out0).ok_or("shape of output unknown")?;
    let x = dims(ins.first().copied().flatten()).ok_or("shape of input unknown")?;
    let has = |i: usize| n.input(i).is_some();
    if matches!(n.op_type.as_str(), "Attention" | "MultiHeadAttention") && x.len() != 3 {
        return Err("attention input must be 3-D".into());
    }
    let (macs, other) = match n.op_type.as_str() {
        "FusedMatMul" => {
            let k = if n.attr_int("transA", 0).unwrap_or(0) != 0 {
                x.len().checked_sub(2).map(|i| x[i])
            } else {
                x.last().copied()
            };
            let macs = out.saturating_mul(k.unwrap_or(1));
            (macs, 0)
        }
        "Attention" => {
            // QKV projection + two batched products per head (scores, context) + softmax.
            let w = dims(ins.get(1).copied().flatten()).ok_or("shape of weights unknown")?;
            let (b, s_len, hidden) = (x[0], x[1], x[2]);
            let qkv = w.last().copied().unwrap_or(0);
            let bs = b.saturating_mul(s_len);
            let v_hidden = out / bs.max(1);
            let proj = bs.saturating_mul(hidden).saturating_mul(qkv);
            let heads_work = b.saturating_mul(s_len).saturating_mul(s_len).saturating_mul(v_hidden);
            let heads = n.attr_int("num_heads", 1).unwrap_or(1).max(1) as u64;
            let softmax = 3u64.saturating_mul(b).saturating_mul(heads).saturating_mul(s_len).saturating_mul(s_len);
            (
                proj.saturating_add(heads_work.saturating_mul(2)),
                softmax.saturating_add(if has(2) { bs.saturating_mul(qkv) } else { 0 }),
            )
        }
        "MultiHeadAttention" => {
            let k = dims(ins.get(1).copied().flatten()).ok_or("shape of key unknown")?;
            let kv_len = if k.len() == 3 { k[1] } else { k.get(2).copied().unwrap_or(1) };
            let (b, s_len, d) = (x[0], x[1], x[2]);
            let heads = n.attr_int("num_heads", 1).unwrap_or(1).max(1) as u64;
            let macs = 2u64.saturating_mul(b).saturating_mul(s_len).saturating_mul(kv_len).saturating_mul(d);
            (macs, 3u64.saturating_mul(b).saturating_mul(heads).saturating_mul(s_len).saturating_mul(kv_len))
        }
        "Gelu" | "FastGelu" | "QuickGelu" => (0, out.saturating_mul(1 + has(1) as u64)),
        "BiasGelu" => (0, out.saturating_mul(2)),
        "BiasAdd" => (0, out.saturating_mul(2)),
        "SkipLayerNormalization" => (0, out.saturating_mul(8 + has(4) as u64)),
        "SkipSimplifiedLayerNormalization" => (0, out.saturating_mul(5 + has(3) as u64)),
        "LayerNormalization" => (0, out.saturating_mul(7)),
        _ => (0, out.saturating_mul(4)), // SimplifiedLayerNormalization (RMS)
    };
    Ok(Cost::Counted { macs, flops: twice(macs).saturating_add(other) })
}

/// Sum over trees of the longest root-to-leaf path: the comparisons one sample costs at most.
fn tree_depth_sum(n: &Node) -> u64 {
    let ints = |k: &str| n.attr_ints(k).ok().flatten().unwrap_or(&[]).to_vec();
    let (tree, node, t, f) =
        (ints("nodes_treeids"), ints("nodes_nodeids"), ints("nodes_truenodeids"), ints("nodes_falsenodeids"));
    let modes = n.attr_strings("nodes_modes").ok().flatten().unwrap_or(&[]).to_vec();
    if tree.len() != node.len() || t.len() != node.len() || f.len() != node.len() || modes.len() != node.len() {
        return 0;
    }
    let mut children: HashMap<(i64, i64), (i64, i64, bool)> = HashMap::new();
    let mut roots: Vec<i64> = Vec::new();
    for i in 0..node.len() {
        children.insert((tree[i], node[i]), (t[i], f[i], modes[i] != "LEAF"));
        if !roots.contains(&tree[i]) {
            roots.push(tree[i]);
        }
    }
    let mut total = 0u64;
    for &tr in &roots {
        let root = (0..node.len()).find(|&i| tree[i] == tr).map(|i| node[i]).unwrap_or(0);
        // Iterative DFS with a visit bound, so a malformed (cyclic) tree cannot hang us.
        let mut stack = vec![(root, 0u64)];
        let mut best = 0;
        let mut visits = 0usize;
        while let Some((id, d)) = stack.pop() {
            visits += 1;
            if visits > 4 * node.len() + 4 {
                break;
            }
            match children.get(&(tr, id)) {
                Some(&(a, b, true)) => {
                    stack.push((a, d + 1));
                    stack.push((b, d + 1));
                }
                _ => best = best.max(d),
            }
        }
        total += best;
    }
    total
}

/// Peak bytes of live activations, executing in `order` and freeing each value after its last
/// consumer. Graph inputs are live from the start; graph outputs stay live to the end.
fn peak_activation(g: &Graph, order: &[usize], shapes: &Shapes, folded: &dyn Fn(&Node) -> bool) -> u64 {
    let bytes = |name: &str| shapes.values.get(name).and_then(|v| v.bytes()).unwrap_or(0);
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (pos, &i) in order.iter().enumerate() {
        for x in &g.nodes[i].inputs {
            last_use.insert(x.as_str(), pos);
        }
    }
    let outputs: HashSet<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut live = sat_sum(g.runtime_inputs().map(|v| bytes(&v.name)));
    let mut peak = live;
    let mut frees: HashMap<usize, Vec<&str>> = HashMap::new();
    for (name, &pos) in &last_use {
        if !outputs.contains(name) && !g.initializers.contains_key(*name) && !shapes.constants.contains(*name) {
            frees.entry(pos).or_default().push(name);
        }
    }
    for (pos, &i) in order.iter().enumerate() {
        let n = &g.nodes[i];
        if folded(n) {
            continue;
        }
        for o in &n.outputs {
            live = live.saturating_add(bytes(o));
        }
        peak = peak.max(live);
        for name in frees.get(&pos).into_iter().flatten() {
            live = live.saturating_sub(bytes(name));
        }
        // Outputs nobody reads are dropped right away (unless they are graph outputs).
        for o in &n.outputs {
            if !last_use.contains_key(o.as_str()) && !outputs.contains(o.as_str()) {
                live = live.saturating_sub(bytes(o));
            }
        }
    }
    peak
}
