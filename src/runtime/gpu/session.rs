//! A whole ONNX graph on the GPU, and the choice between GPU and CPU.
//!
//! Why a session of its own rather than one GPU kernel per executor node: a per-node kernel
//! would upload and read back around every op, which costs more than the op. Here weights
//! are uploaded once at compile time, a batch is one upload, every node is recorded into one
//! command stream, and only the graph outputs come back. Shape arithmetic (Shape, Gather,
//! Concat, Unsqueeze on shape vectors, as PyTorch's flatten exports) runs on the host at
//! record time, so it costs no dispatch. A graph with any node this module cannot run is
//! refused at compile time with the node named, and [`select`] then picks the CPU.

use std::collections::HashMap;

use super::conv::Window;
use super::device::{Gpu, GpuTensor};
use super::elementwise::{Act, BinOp};
use super::pool::PoolKind;
use super::reduce::ReduceOp;
use crate::error::{Error, Result};
use crate::model::{Model, Node};

/// A value during recording: float tensors live on the GPU, small integer vectors
/// (shapes, axes, indices) on the host.
#[derive(Clone, Debug)]
enum Value {
    Gpu(GpuTensor),
    Ints(Vec<usize>, Vec<i64>),
}

#[derive(Debug, Clone)]
enum Op {
    MatMul,
    Gemm { trans_a: bool, trans_b: bool, alpha: f32, beta: f32 },
    Conv { win: Window, group: usize },
    Act(Act),
    Binary(BinOp),
    Softmax { axis: i64, log: bool, flatten: bool },
    Reduce { axes: Vec<i64>, op: ReduceOp, keepdims: bool },
    Pool { kind: PoolKind, win: Window, ceil: bool },
    GlobalPool { max: bool },
    BatchNorm { scale: GpuTensor, shift: GpuTensor },
    LayerNorm { axis: i64, eps: f32 },
    Transpose { perm: Option<Vec<usize>> },
    Reshape { allowzero: bool },
    Flatten { axis: i64 },
    Squeeze { axes: Option<Vec<i64>> },
    Unsqueeze { axes: Option<Vec<i64>> },
    Shape,
    Gather { axis: i64 },
    Concat { axis: i64 },
    Identity,
}

struct Step {
    node: String,
    op: Op,
    inputs: Vec<Option<String>>,
    output: String,
}

/// One graph output: (name, shape, values).
pub type Output = (String, Vec<usize>, Vec<f32>);

/// A graph compiled for one GPU device.
pub struct GpuSession {
    gpu: Gpu,
    steps: Vec<Step>,
    constants: HashMap<String, Value>,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// Which device to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePref {
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// The outcome of [`select`]: which device runs the model and why (for the report).
pub struct Selection {
    pub session: Option<GpuSession>,
    /// "gpu" or "cpu".
    pub device: &'static str,
    pub reason: String,
}

/// GPU when an adapter exists and every node is covered, else CPU; `pref` forces either.
/// Forcing the GPU on a model it cannot run is an error naming the node.
pub async fn select(pref: DevicePref, model: &Model) -> Result<Selection> {
    if pref == DevicePref::Cpu {
        return Ok(Selection { session: None, device: "cpu", reason: "CPU forced by the user".into() });
    }
    let attempt = match Gpu::new().await {
        Ok(gpu) => GpuSession::compile(gpu, model),
        Err(e) => Err(e),
    };
    match attempt {
        Ok(s) => {
            let a = s.gpu.summary();
            let reason = format!(
                "GPU {} ({}, {}): all {} nodes have GPU kernels{}",
                a.name,
                a.backend,
                a.device_type,
                s.steps.len(),
                if pref == DevicePref::Gpu { " (GPU forced by the user)" } else { "" }
            );
            Ok(Selection { session: Some(s), device: "gpu", reason })
        }
        Err(e) if pref == DevicePref::Gpu => Err(e),
        Err(e) => Ok(Selection { session: None, device: "cpu", reason: format!("CPU: {e}") }),
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn select_blocking(pref: DevicePref, model: &Model) -> Result<Selection> {
    pollster::block_on(select(pref, model))
}

fn unsupported(node: &Node, why: impl Into<String>) -> Error {
    Error::GpuUnsupported { node: node.display_name(), op: node.op_type.clone(), why: why.into() }
}

fn ints(v: &[i64]) -> Vec<usize> {
    v.iter().map(|&x| x.max(0) as usize).collect()
}

impl GpuSession {
    /// Compiles `model` for `gpu`, uploading its float initializers once.
    pub fn compile(gpu: Gpu, model: &Model) -> Result<GpuSession> {
        let graph = &model.graph;
        let mut constants: HashMap<String, Value> = HashMap::new();
        let mut host_consts: HashMap<String, crate::model::Tensor> = HashMap::new();
        for (name, t) in &graph.initializers {
            host_consts.insert(name.clone(), t.clone());
        }
        let mut steps = Vec::new();
        for ni in graph.topological_order()? {
            let node = &graph.nodes[ni];
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(unsupported(node, format!("domain '{}' runs on the CPU only", node.domain)));
            }
            let opset = model.opset("").unwrap_or(21);
            if node.op_type == "Constant" {
                let t =
                    node.attr_tensor("value")?.ok_or_else(|| unsupported(node, "only the 'value' form of Constant"))?;
                if let Some(o) = node.outputs.first() {
                    host_consts.insert(o.clone(), t.clone());
                }
                continue;
            }
            let konst = |i: usize| node.input(i).and_then(|n| host_consts.get(n));
            let const_ints = |i: usize| konst(i).and_then(|t| t.to_i64_vec());
            let const_f32 = |i: usize| konst(i).and_then(|t| t.to_f32_vec());
            let act = |a: Act| Ok::<Op, Error>(Op::Act(a));
            let op = match node.op_type.as_str() {
                "MatMul" => Op::MatMul,
                "Gemm" => Op::Gemm {
                    trans_a: node.attr_int("transA", 0)? != 0,
                    trans_b: node.attr_int("transB", 0)? != 0,
                    alpha: node.attr_float("alpha", 1.0)?,
                    beta: node.attr_float("beta", 1.0)?,
                },
                "Conv" => {
                    let w = konst(1).ok_or_else(|| unsupported(node, "weights must be an initializer"))?;
                    if w.dims.len() != 4 && w.dims.len() != 3 {
                        return Err(unsupported(node, "only 1-D and 2-D convolutions"));
                    }
                    if node.attr_string("auto_pad", "NOTSET")? != "NOTSET" {
                        return Err(unsupported(node, "auto_pad"));
                    }
                    let k = &w.dims[2..];
                    Op::Conv { win: window(node, k)?, group: node.attr_int("group", 1)?.max(1) as usize }
                }
                "Relu" => act(Act::Relu)?,
                "LeakyRelu" => act(Act::LeakyRelu { alpha: node.attr_float("alpha", 0.01)? })?,
                "Sigmoid" => act(Act::Sigmoid)?,
                "Tanh" => act(Act::Tanh)?,
                "Gelu" if node.attr_string("approximate", "none")? == "none" => act(Act::Gelu)?,
                "HardSigmoid" => act(Act::HardSigmoid {
                    alpha: node.attr_float("alpha", 0.2)?,
                    beta: node.attr_float("beta", 0.5)?,
                })?,
                "HardSwish" => act(Act::HardSwish)?,
                "Softplus" => act(Act::Softplus)?,
                "Elu" => act(Act::Elu { alpha: node.attr_float("alpha", 1.0)? })?,
                "Selu" => act(Act::Selu {
                    alpha: node.attr_float("alpha", 1.673_263_2)?,
                    gamma: node.attr_float("gamma", 1.050_701)?,
                })?,
                "Clip" => {
                    let (lo, hi) = if opset < 11 {
                        (node.attr_float("min", f32::MIN)?, node.attr_float("max", f32::MAX)?)
                    } else {
                        let bound = |i: usize, d: f32| match node.input(i) {
                            None => Ok(d),
                            Some(_) => const_f32(i)
                                .and_then(|v| v.first().copied())
                                .ok_or_else(|| unsupported(node, "min/max must be constants")),
                        };
                        (bound(1, f32::MIN)?, bound(2, f32::MAX)?)
                    };
                    Op::Act(Act::Clip { min: lo, max: hi })
                }
                "Exp" => act(Act::Exp)?,
                "Log" => act(Act::Log)?,
                "Sqrt" => act(Act::Sqrt)?,
                "Neg" => act(Act::Neg)?,
                "Abs" => act(Act::Abs)?,
                "Reciprocal" => act(Act::Reciprocal)?,
                "Floor" => act(Act::Floor)?,
                "Ceil" => act(Act::Ceil)?,
                "Sin" => act(Act::Sin)?,
                "Cos" => act(Act::Cos)?,
                "Erf" => act(Act::Erf)?,
                "Sign" => act(Act::Sign)?,
                "Round" => act(Act::Round)?,
                "Identity" | "Dropout" => Op::Identity,
                "Add" => Op::Binary(BinOp::Add),
                "Sub" => Op::Binary(BinOp::Sub),
                "Mul" => Op::Binary(BinOp::Mul),
                "Div" => Op::Binary(BinOp::Div),
                "Pow" => Op::Binary(BinOp::Pow),
                "Max" if node.inputs.len() == 2 => Op::Binary(BinOp::Max),
                "Min" if node.inputs.len() == 2 => Op::Binary(BinOp::Min),
                "PRelu" => Op::Binary(BinOp::PRelu),
                "Softmax" | "LogSoftmax" => Op::Softmax {
                    axis: node.attr_int("axis", if opset < 13 { 1 } else { -1 })?,
                    log: node.op_type == "LogSoftmax",
                    flatten: opset < 13,
                },
                "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceSumSquare"
                | "ReduceL1" | "ReduceL2" => {
                    let op = match node.op_type.as_str() {
                        "ReduceSum" => ReduceOp::Sum,
                        "ReduceMean" => ReduceOp::Mean,
                        "ReduceMax" => ReduceOp::Max,
                        "ReduceMin" => ReduceOp::Min,
                        "ReduceProd" => ReduceOp::Prod,
                        "ReduceSumSquare" => ReduceOp::SumSquare,
                        "ReduceL1" => ReduceOp::L1,
                        _ => ReduceOp::L2,
                    };
                    let axes = match node.attr_ints("axes")? {
                        Some(a) => a.to_vec(),
                        None if node.input(1).is_some() => {
                            const_ints(1).ok_or_else(|| unsupported(node, "axes must be a constant"))?
                        }
                        None => Vec::new(),
                    };
                    if axes.is_empty() && node.attr_int("noop_with_empty_axes", 0)? != 0 {
                        Op::Identity
                    } else {
                        Op::Reduce { axes, op, keepdims: node.attr_int("keepdims", 1)? != 0 }
                    }
                }
                "ArgMax" | "ArgMin" => {
                    if node.attr_int("select_last_index", 0)? != 0 {
                        return Err(unsupported(node, "select_last_index = 1"));
                    }
                    // The output is int64 in ONNX; it is produced as f32 indices here.
                    Op::Reduce {
                        axes: vec![node.attr_int("axis", 0)?],
                        op: if node.op_type == "ArgMax" { ReduceOp::ArgMax } else { ReduceOp::ArgMin },
                        keepdims: node.attr_int("keepdims", 1)? != 0,
                    }
                }
                "MaxPool" | "AveragePool" => {
                    if node.outputs.len() > 1 && node.outputs[1..].iter().any(|o| !o.is_empty()) {
                        return Err(unsupported(node, "the Indices output"));
                    }
                    if node.attr_string("auto_pad", "NOTSET")? != "NOTSET" {
                        return Err(unsupported(node, "auto_pad"));
                    }
                    let k = ints(node.attr_ints("kernel_shape")?.unwrap_or(&[]));
                    if k.is_empty() || k.len() > 2 {
                        return Err(unsupported(node, "only 1-D and 2-D pooling"));
                    }
                    let kind = if node.op_type == "MaxPool" {
                        PoolKind::Max
                    } else {
                        PoolKind::Average { count_include_pad: node.attr_int("count_include_pad", 0)? != 0 }
                    };
                    Op::Pool { kind, win: window(node, &k)?, ceil: node.attr_int("ceil_mode", 0)? != 0 }
                }
                "GlobalAveragePool" => Op::GlobalPool { max: false },
                "GlobalMaxPool" => Op::GlobalPool { max: true },
                "BatchNormalization" => {
                    let p: Option<Vec<Vec<f32>>> = (1..5).map(const_f32).collect();
                    let p = p.ok_or_else(|| unsupported(node, "scale, B, mean and var must be initializers"))?;
                    if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                        return Err(unsupported(node, "training-mode outputs"));
                    }
                    let eps = node.attr_float("epsilon", 1e-5)?;
                    let (scale, shift) = super::norm::fold_batch_norm(&p[0], &p[1], &p[2], &p[3], eps)?;
                    Op::BatchNorm {
                        scale: gpu.upload(&scale, &[scale.len()])?,
                        shift: gpu.upload(&shift, &[shift.len()])?,
                    }
                }
                "LayerNormalization" => {
                    if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                        return Err(unsupported(node, "the Mean / InvStdDev outputs"));
                    }
                    if node.input(2).is_none() {
                        return Err(unsupported(node, "a missing B input"));
                    }
                    Op::LayerNorm { axis: node.attr_int("axis", -1)?, eps: node.attr_float("epsilon", 1e-5)? }
                }
                "Transpose" => Op::Transpose { perm: node.attr_ints("perm")?.map(ints) },
                "Reshape" => Op::Reshape { allowzero: node.attr_int("allowzero", 0)? != 0 },
                "Flatten" => Op::Flatten { axis: node.attr_int("axis", 1)? },
                "Squeeze" | "Unsqueeze" => {
                    let axes = match node.attr_ints("axes")? {
                        Some(a) => Some(a.to_vec()),
                        None if node.input(1).is_some() => {
                            Some(const_ints(1).ok_or_else(|| unsupported(node, "axes must be a constant"))?)
                        }
                        None => None,
                    };
                    if node.op_type == "Squeeze" {
                        Op::Squeeze { axes }
                    } else {
                        Op::Unsqueeze { axes: Some(axes.ok_or_else(|| unsupported(node, "Unsqueeze without axes"))?) }
                    }
                }
                "Shape" if node.attr("start").is_none() && node.attr("end").is_none() => Op::Shape,
                "Gather" => Op::Gather { axis: node.attr_int("axis", 0)? },
                "Concat" => Op::Concat { axis: node.attr_int("axis", 0)? },
                "Cast" => {
                    // Casts between float and int64 of host shape vectors, or float to float.
                    let to = node.attr_int("to", 1)?;
                    if to != 1 && to != 7 {
                        return Err(unsupported(node, format!("Cast to type code {to}")));
                    }
                    Op::Identity
                }
                other => return Err(unsupported(node, format!("no GPU kernel for {other} yet"))),
            };
            let output = node.outputs.first().cloned().unwrap_or_default();
            let inputs = node.inputs.iter().map(|n| (!n.is_empty()).then(|| n.clone())).collect();
            steps.push(Step { node: node.display_name(), op, inputs, output });
        }
        // Upload the float constants the steps read; integer ones stay on the host.
        for st in &steps {
            for name in st.inputs.iter().flatten() {
                if constants.contains_key(name) {
                    continue;
                }
                if let Some(t) = host_consts.get(name) {
                    let v = match (&t.data, t.to_i64_vec()) {
                        (crate::model::TensorData::F32(_) | crate::model::TensorData::F64(_), _) | (_, None) => {
                            let f = t.to_f32_vec().ok_or_else(|| Error::GpuUnsupported {
                                node: st.node.clone(),
                                op: "constant".into(),
                                why: format!("initializer '{name}' of type {} has no GPU form", t.dtype),
                            })?;
                            Value::Gpu(gpu.upload(&f, &t.dims)?)
                        }
                        (_, Some(i)) => Value::Ints(t.dims.clone(), i),
                    };
                    constants.insert(name.clone(), v);
                }
            }
        }
        let outputs = graph.outputs.iter().map(|o| o.name.clone()).collect();
        let inputs = graph.runtime_inputs().map(|v| v.name.clone()).collect();
        Ok(GpuSession { gpu, steps, constants, inputs, outputs })
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Runs one batch: `feeds` are (name, shape, values); returns (name, shape, values) for each
    /// graph output. One upload per input, one submission, one readback.
    pub async fn run(&self, feeds: &[(&str, &[usize], &[f32])]) -> Result<Vec<Output>> {
        let gpu = &self.gpu;
        let mut values: HashMap<&str, Value> = HashMap::new();
        for &(name, shape, data) in feeds {
            if !self.inputs.iter().any(|n| n == name) {
                return Err(Error::InvalidArgument(format!(
                    "the model has no input '{name}'; its inputs are [{}]",
                    self.inputs.join(", ")
                )));
            }
            values.insert(name, Value::Gpu(gpu.upload(data, shape)?));
        }
        let mut rec = gpu.recorder();
        for st in &self.steps {
            let mut ins: Vec<Option<Value>> = Vec::with_capacity(st.inputs.len());
            for n in &st.inputs {
                ins.push(match n {
                    None => None,
                    Some(n) => {
                        Some(values.get(n.as_str()).or_else(|| self.constants.get(n)).cloned().ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "node '{}': input '{n}' has no value (was it fed?)",
                                st.node
                            ))
                        })?)
                    }
                });
            }
            let out = record(&mut rec, &st.op, &ins).map_err(|e| match e {
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("node '{}': {m}", st.node)),
                other => other,
            })?;
            values.insert(st.output.as_str(), out);
        }
        let mut outs = Vec::new();
        for name in &self.outputs {
            let v = values.get(name.as_str()).or_else(|| self.constants.get(name)).cloned();
            outs.push(v.ok_or_else(|| Error::InvalidArgument(format!("graph output '{name}' was not computed")))?);
        }
        let on_gpu: Vec<&GpuTensor> = outs
            .iter()
            .filter_map(|v| match v {
                Value::Gpu(t) => Some(t),
                Value::Ints(..) => None,
            })
            .collect();
        let mut read = gpu.read_many(rec, &on_gpu).await?.into_iter();
        let mut result = Vec::new();
        for (name, v) in self.outputs.iter().zip(&outs) {
            let (shape, data) = match v {
                Value::Gpu(t) => (t.shape.clone(), read.next().unwrap_or_default()),
                Value::Ints(s, d) => (s.clone(), d.iter().map(|&x| x as f32).collect()),
            };
            result.push((name.clone(), shape, data));
        }
        Ok(result)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_blocking(&self, feeds: &[(&str, &[usize], &[f32])]) -> Result<Vec<Output>> {
        pollster::block_on(self.run(feeds))
    }
}

/// Window attributes of Conv / pooling; 1-D windows become 2-D with height 1.
fn window(node: &Node, kernel: &[usize]) -> Result<Window> {
    let d = kernel.len();
    let get = |name: &str, default: usize, len: usize| -> Result<Vec<usize>> {
        Ok(match node.attr_ints(name)? {
            Some(v) if v.len() == len => ints(v),
            Some(_) => return Err(unsupported(node, format!("'{name}' does not match the kernel rank"))),
            None => vec![default; len],
        })
    };
    let (s, p, dl) = (get("strides", 1, d)?, get("pads", 0, 2 * d)?, get("dilations", 1, d)?);
    Ok(if d == 1 {
        Window { kernel: [1, kernel[0]], strides: [1, s[0]], pads: [0, p[0], 0, p[1]], dilations: [1, dl[0]] }
    } else {
        Window {
            kernel: [kernel[0], kernel[1]],
            strides: [s[0], s[1]],
            pads: [p[0], p[1], p[2], p[3]],
            dilations: [dl[0], dl[1]],
        }
    })
}

fn gpu_in(ins: &[Option<Value>], i: usize) -> Result<&GpuTensor> {
    match ins.get(i) {
        Some(Some(Value::Gpu(t))) => Ok(t),
        Some(Some(Value::Ints(..))) => {
            Err(Error::InvalidArgument(format!("input {i} is an integer tensor; expected floats")))
        }
        _ => Err(Error::InvalidArgument(format!("input {i} is missing"))),
    }
}

fn shape_of(v: &Value) -> &[usize] {
    match v {
        Value::Gpu(t) => &t.shape,
        Value::Ints(s, _) => s,
    }
}

fn int_in(ins: &[Option<Value>], i: usize) -> Result<Vec<i64>> {
    match ins.get(i) {
        Some(Some(Value::Ints(_, v))) => Ok(v.clone()),
        _ => Err(Error::InvalidArgument(format!("input {i} must be a known integer tensor"))),
    }
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    super::softmax::norm_axis(axis, rank)
}

/// Applies a pure shape change to a value wherever it lives.
fn with_shape(v: &Value, shape: Vec<usize>) -> Result<Value> {
    Ok(match v {
        Value::Gpu(t) => Value::Gpu(t.reshaped(&shape)?),
        Value::Ints(_, d) => Value::Ints(shape, d.clone()),
    })
}

fn record(rec: &mut super::device::Recorder<'_>, op: &Op, ins: &[Option<Value>]) -> Result<Value> {
    use super::{conv, elementwise as ew, gemm, norm, pool, reduce, softmax};
    let first =
        ins.first().and_then(|v| v.as_ref()).ok_or_else(|| Error::InvalidArgument("input 0 is missing".into()))?;
    Ok(match op {
        Op::MatMul => Value::Gpu(gemm::matmul(rec, gpu_in(ins, 0)?, gpu_in(ins, 1)?, None, Act::Identity)?),
        Op::Gemm { trans_a, trans_b, alpha, beta } => {
            let c = match ins.get(2) {
                Some(Some(_)) => Some(gpu_in(ins, 2)?),
                _ => None,
            };
            Value::Gpu(gemm::gemm(
                rec,
                gpu_in(ins, 0)?,
                gpu_in(ins, 1)?,
                c,
                *trans_a,
                *trans_b,
                *alpha,
                *beta,
                Act::Identity,
            )?)
        }
        Op::Conv { win, group } => {
            let (x, w) = (gpu_in(ins, 0)?, gpu_in(ins, 1)?);
            let b = match ins.get(2) {
                Some(Some(_)) => Some(gpu_in(ins, 2)?),
                _ => None,
            };
            if x.shape.len() == 3 {
                let x4 = x.reshaped(&[x.shape[0], x.shape[1], 1, x.shape[2]])?;
                let w4 = w.reshaped(&[w.shape[0], w.shape[1], 1, w.shape[2]])?;
                let y = conv::conv2d(rec, &x4, &w4, b, win, *group, Act::Identity)?;
                let s = [y.shape[0], y.shape[1], y.shape[3]];
                Value::Gpu(y.reshaped(&s)?)
            } else {
                Value::Gpu(conv::conv2d(rec, x, w, b, win, *group, Act::Identity)?)
            }
        }
        Op::Act(a) => Value::Gpu(ew::unary(rec, gpu_in(ins, 0)?, *a)?),
        Op::Binary(b) => match (first, ins.get(1).and_then(|v| v.as_ref())) {
            // Integer shape arithmetic stays on the host.
            (Value::Ints(sa, va), Some(Value::Ints(sb, vb))) if sa.iter().product::<usize>() == va.len() => {
                let shape = ew::broadcast_shape(sa, sb)?;
                if va.len() != vb.len() && va.len() != 1 && vb.len() != 1 {
                    return Err(Error::InvalidArgument("integer broadcasting beyond scalars".into()));
                }
                let n = va.len().max(vb.len());
                let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                let f = |x: i64, y: i64| match b {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div if y != 0 => x / y,
                    BinOp::Max => x.max(y),
                    BinOp::Min => x.min(y),
                    _ => 0,
                };
                Value::Ints(shape, (0..n).map(|i| f(at(va, i), at(vb, i))).collect())
            }
            _ => Value::Gpu(ew::binary(rec, gpu_in(ins, 0)?, gpu_in(ins, 1)?, *b)?),
        },
        Op::Softmax { axis, log, flatten } => {
            Value::Gpu(softmax::softmax(rec, gpu_in(ins, 0)?, *axis, *log, *flatten)?)
        }
        Op::Reduce { axes, op, keepdims } => Value::Gpu(reduce::reduce(rec, gpu_in(ins, 0)?, axes, *op, *keepdims)?),
        Op::Pool { kind, win, ceil } => {
            let x = gpu_in(ins, 0)?;
            if x.shape.len() == 3 {
                let x4 = x.reshaped(&[x.shape[0], x.shape[1], 1, x.shape[2]])?;
                let y = pool::pool2d(rec, &x4, *kind, win, *ceil)?;
                let s = [y.shape[0], y.shape[1], y.shape[3]];
                Value::Gpu(y.reshaped(&s)?)
            } else {
                Value::Gpu(pool::pool2d(rec, x, *kind, win, *ceil)?)
            }
        }
        Op::GlobalPool { max } => Value::Gpu(reduce::global_pool(rec, gpu_in(ins, 0)?, *max)?),
        Op::BatchNorm { scale, shift } => Value::Gpu(norm::channel_affine(rec, gpu_in(ins, 0)?, scale, shift)?),
        Op::LayerNorm { axis, eps } => {
            Value::Gpu(norm::layer_norm(rec, gpu_in(ins, 0)?, *axis, gpu_in(ins, 1)?, gpu_in(ins, 2)?, *eps)?)
        }
        Op::Transpose { perm } => {
            let x = gpu_in(ins, 0)?;
            let p: Vec<usize> = perm.clone().unwrap_or_else(|| (0..x.shape.len()).rev().collect());
            Value::Gpu(ew::transpose(rec, x, &p)?)
        }
        Op::Reshape { allowzero } => {
            let want = int_in(ins, 1)?;
            let src = shape_of(first);
            let total: usize = src.iter().product();
            let mut shape: Vec<usize> = Vec::with_capacity(want.len());
            let mut infer = None;
            for (i, &d) in want.iter().enumerate() {
                match d {
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        shape.push(1);
                    }
                    0 if !allowzero => shape.push(*src.get(i).ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "Reshape: 0 at axis {i} copies a dimension the input {src:?} lacks"
                        ))
                    })?),
                    d if d >= 0 => shape.push(d as usize),
                    _ => return Err(Error::InvalidArgument(format!("Reshape: invalid target shape {want:?}"))),
                }
            }
            if let Some(i) = infer {
                let known: usize = shape.iter().product();
                if known == 0 || total % known != 0 {
                    return Err(Error::InvalidArgument(format!("Reshape: cannot reshape {src:?} to {want:?}")));
                }
                shape[i] = total / known;
            }
            with_shape(first, shape)?
        }
        Op::Flatten { axis } => {
            let s = shape_of(first);
            let a = if *axis < 0 { (*axis + s.len() as i64).max(0) as usize } else { (*axis as usize).min(s.len()) };
            let outer: usize = s[..a].iter().product();
            let inner: usize = s[a..].iter().product();
            with_shape(first, vec![outer, inner])?
        }
        Op::Squeeze { axes } => {
            let s = shape_of(first);
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&x| norm_axis(x, s.len())).collect::<Result<_>>()?,
                None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
            };
            let shape = (0..s.len()).filter(|i| !drop.contains(i)).map(|i| s[i]).collect();
            with_shape(first, shape)?
        }
        Op::Unsqueeze { axes } => {
            let s = shape_of(first);
            let a = axes.as_deref().unwrap_or(&[]);
            let r = s.len() + a.len();
            let add: Vec<usize> = a.iter().map(|&x| norm_axis(x, r)).collect::<Result<_>>()?;
            let mut it = s.iter();
            let shape = (0..r).map(|i| if add.contains(&i) { 1 } else { it.next().copied().unwrap_or(1) }).collect();
            with_shape(first, shape)?
        }
        Op::Shape => {
            let s = shape_of(first);
            Value::Ints(vec![s.len()], s.iter().map(|&d| d as i64).collect())
        }
        Op::Gather { axis } => {
            let (Value::Ints(s, data), idx) = (first, int_in(ins, 1)?) else {
                return Err(Error::InvalidArgument("Gather on float tensors has no GPU kernel".into()));
            };
            if s.len() != 1 || *axis != 0 {
                return Err(Error::InvalidArgument("Gather on the GPU path handles 1-D shape vectors only".into()));
            }
            let idx_shape = match ins.get(1) {
                Some(Some(v)) => shape_of(v).to_vec(),
                _ => vec![],
            };
            let n = data.len() as i64;
            let picked: Result<Vec<i64>> = idx
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + n } else { i };
                    data.get(j as usize)
                        .copied()
                        .ok_or_else(|| Error::InvalidArgument(format!("Gather index {i} out of range")))
                })
                .collect();
            Value::Ints(idx_shape, picked?)
        }
        Op::Concat { axis } => {
            let mut out = Vec::new();
            for (i, v) in ins.iter().enumerate() {
                match v {
                    Some(Value::Ints(s, d)) if s.len() <= 1 => out.extend_from_slice(d),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "Concat input {i}: only 1-D integer vectors on the GPU path"
                        )))
                    }
                }
            }
            let _ = axis;
            Value::Ints(vec![out.len()], out)
        }
        Op::Identity => first.clone(),
    })
}
