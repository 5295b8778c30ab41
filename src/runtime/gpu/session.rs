//! A whole ONNX graph on the GPU, with the CPU for what the GPU cannot do, and the choice
//! between GPU and CPU.
//!
//! Why a session of its own rather than one GPU kernel per executor node: the executor's
//! [`Kernel`] is synchronous and takes host tensors, so a GPU kernel there would upload and
//! read back around every op (and could not run at all in a browser, where a readback is a
//! promise). Here weights are uploaded once at compile time, a batch is one upload, GPU nodes
//! are recorded into one command stream, and only what the CPU or the caller needs comes
//! back. Nodes without a GPU kernel (or that a run finds it cannot do: an attribute, a dtype,
//! a tensor over the adapter's limits) run through the executor's CPU [`Backend`] on host
//! copies, and the session keeps a note of each for the report. Shape arithmetic (Shape,
//! Gather, Concat, Unsqueeze on shape vectors, as PyTorch's flatten exports) runs on the host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::conv::Window;
use super::device::{Gpu, GpuTensor, Recorder};
use super::elementwise::{Act, BinOp};
use super::pool::PoolKind;
use super::reduce::ReduceOp;
use crate::error::{Error, Result};
use crate::model::{Graph, Model, Node};
use crate::runtime::executor::{from_ir, Backend, BufferPool, CompileCtx, Kernel};
use crate::runtime::tensor::{Data, Tensor};

pub use crate::runtime::engine::DevicePref;

/// A value during a run: float tensors live on the GPU (`Idx`: integer indices that a GPU
/// kernel wrote as floats, int64 for ONNX), small integer vectors (shapes, axes, indices)
/// and whatever the CPU produced on the host.
#[derive(Clone, Debug)]
enum Value {
    Gpu(GpuTensor),
    Idx(GpuTensor),
    Ints(Vec<usize>, Vec<i64>),
    Host(Tensor),
}

#[derive(Debug, Clone)]
enum Op {
    /// `act`: an activation fused into the product's epilogue (see `fuse_activations`).
    MatMul {
        act: Act,
    },
    Gemm {
        trans_a: bool,
        trans_b: bool,
        alpha: f32,
        beta: f32,
        /// A constant B transposed once at load time (then `trans_b` is false).
        b_t: Option<GpuTensor>,
        act: Act,
    },
    Conv {
        win: Window,
        group: usize,
        act: Act,
    },
    Act(Act),
    /// An activation whose producer applies it in its epilogue when that producer ran on the
    /// GPU (the value passes through); after a CPU fallback of the producer, applied here.
    Applied(Act),
    Binary(BinOp),
    Softmax {
        axis: i64,
        log: bool,
        flatten: bool,
    },
    Reduce {
        axes: Vec<i64>,
        op: ReduceOp,
        keepdims: bool,
    },
    Pool {
        kind: PoolKind,
        win: Window,
        ceil: bool,
    },
    GlobalPool {
        max: bool,
    },
    BatchNorm {
        scale: GpuTensor,
        shift: GpuTensor,
    },
    LayerNorm {
        axis: i64,
        eps: f32,
    },
    Transpose {
        perm: Option<Vec<usize>>,
    },
    Reshape {
        allowzero: bool,
    },
    Flatten {
        axis: i64,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Shape,
    Gather {
        axis: i64,
    },
    Concat {
        axis: i64,
    },
    /// Cast to float (`to_float`) or to int64.
    Cast {
        to_float: bool,
    },
    Identity,
}

/// Where a node runs.
enum Place {
    Gpu(Op),
    Cpu(Arc<dyn Kernel>),
}

struct Step {
    /// Index of the node in the graph.
    node: usize,
    name: String,
    place: Place,
    inputs: Vec<Option<String>>,
    outputs: Vec<Option<String>>,
}

/// One graph output: (name, shape, values).
pub type Output = (String, Vec<usize>, Vec<f32>);

/// A graph compiled for one GPU device (and the CPU, for the nodes the GPU leaves).
pub struct GpuSession {
    gpu: Gpu,
    graph: Graph,
    opsets: Vec<i64>,
    steps: Vec<Step>,
    /// Constants in the form the steps that read them want (GPU, host ints, host tensors).
    constants: HashMap<String, Value>,
    /// Every constant on the host, for CPU kernels compiled when a run falls back.
    host: HashMap<String, Tensor>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// CPU kernels for GPU steps a run had to give to the CPU, by step index.
    fallbacks: Mutex<HashMap<usize, Arc<dyn Kernel>>>,
    notes: Mutex<Vec<String>>,
    pool: Mutex<BufferPool>,
    pub class_labels: Option<Vec<String>>,
}

/// The outcome of [`select`]: which device runs the model and why (for the report).
pub struct Selection {
    pub session: Option<GpuSession>,
    /// "gpu" or "cpu".
    pub device: &'static str,
    pub reason: String,
}

/// GPU when an adapter exists and every node has a GPU kernel, else CPU; `pref` forces
/// either. A forced GPU runs the nodes it has no kernel for on the CPU (see
/// [`GpuSession::notes`]); only a missing adapter is an error then.
pub async fn select(pref: DevicePref, model: &Model) -> Result<Selection> {
    if pref == DevicePref::Cpu {
        return Ok(Selection { session: None, device: "cpu", reason: "CPU chosen by the user".into() });
    }
    let gpu = match Gpu::new().await {
        Ok(g) => g,
        Err(e) if pref == DevicePref::Gpu => return Err(e),
        Err(e) => return Ok(Selection { session: None, device: "cpu", reason: format!("CPU: {e}") }),
    };
    if pref == DevicePref::Auto && gpu.summary().device_type == "Cpu" {
        let a = gpu.summary();
        return Ok(Selection {
            session: None,
            device: "cpu",
            reason: format!(
                "CPU: the only GPU adapter is {} ({}), a software renderer slower than the CPU runtime; choose the GPU to use it anyway",
                a.name, a.backend
            ),
        });
    }
    let s = GpuSession::compile(gpu, model)?;
    let a = s.gpu.summary();
    let on_cpu = s.cpu_steps();
    if on_cpu.is_empty() || pref == DevicePref::Gpu {
        let forced = if pref == DevicePref::Gpu { " (GPU chosen by the user)" } else { "" };
        let cover = if on_cpu.is_empty() {
            format!("all {} nodes have GPU kernels", s.steps.len())
        } else {
            format!(
                "{} of {} nodes have GPU kernels, the rest run on the CPU",
                s.steps.len() - on_cpu.len(),
                s.steps.len()
            )
        };
        let reason = format!("GPU {} ({}, {}): {cover}{forced}", a.name, a.backend, a.device_type);
        return Ok(Selection { session: Some(s), device: "gpu", reason });
    }
    let first = &on_cpu[0];
    let reason = format!(
        "CPU: {} of {} nodes have no GPU kernel on {} (first: {first}); choose the GPU to run the rest there",
        on_cpu.len(),
        s.steps.len(),
        a.name
    );
    Ok(Selection { session: None, device: "cpu", reason })
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

fn opset_of(model: &Model, node: &Node) -> i64 {
    model.opset(&node.domain).unwrap_or(if node.domain.is_empty() { 21 } else { 3 })
}

/// The GPU form of `node`, or why it has none.
fn gpu_op(gpu: &Gpu, node: &Node, opset: i64, host: &HashMap<String, Tensor>) -> Result<Op> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(unsupported(node, format!("domain '{}' runs on the CPU only", node.domain)));
    }
    let konst = |i: usize| node.input(i).and_then(|n| host.get(n));
    let const_ints = |i: usize| konst(i).and_then(|t| t.as_i64("").ok()).map(|v| v.to_vec());
    let const_f32 = |i: usize| konst(i).and_then(|t| t.as_f32("").ok()).map(|v| v.to_vec());
    let act = |a: Act| Ok::<Op, Error>(Op::Act(a));
    let op = match node.op_type.as_str() {
        "MatMul" => Op::MatMul { act: Act::Identity },
        "Gemm" => {
            let trans_b = node.attr_int("transB", 0)? != 0;
            // PyTorch's Linear exports B as [N, K] with transB: transpose the weights once here
            // rather than on every run.
            let b_t = match konst(1) {
                Some(t) if trans_b && t.shape.len() == 2 => match &t.data {
                    Data::F32(v) => {
                        let (n, k) = (t.shape[0], t.shape[1]);
                        let mut tr = vec![0.0f32; v.len()];
                        for r in 0..n {
                            for c in 0..k {
                                tr[c * n + r] = v[r * k + c];
                            }
                        }
                        Some(gpu.upload(&tr, &[k, n])?)
                    }
                    _ => None,
                },
                _ => None,
            };
            Op::Gemm {
                trans_a: node.attr_int("transA", 0)? != 0,
                trans_b: trans_b && b_t.is_none(),
                alpha: node.attr_float("alpha", 1.0)?,
                beta: node.attr_float("beta", 1.0)?,
                b_t,
                act: Act::Identity,
            }
        }
        "Conv" => {
            let w = konst(1).ok_or_else(|| unsupported(node, "weights must be an initializer"))?;
            if w.shape.len() != 4 && w.shape.len() != 3 {
                return Err(unsupported(node, "only 1-D and 2-D convolutions"));
            }
            if node.attr_string("auto_pad", "NOTSET")? != "NOTSET" {
                return Err(unsupported(node, "auto_pad"));
            }
            let k = &w.shape[2..];
            Op::Conv { win: window(node, k)?, group: node.attr_int("group", 1)?.max(1) as usize, act: Act::Identity }
        }
        "Relu" => act(Act::Relu)?,
        "LeakyRelu" => act(Act::LeakyRelu { alpha: node.attr_float("alpha", 0.01)? })?,
        "Sigmoid" => act(Act::Sigmoid)?,
        "Tanh" => act(Act::Tanh)?,
        "Gelu" if node.attr_string("approximate", "none")? == "none" => act(Act::Gelu)?,
        "HardSigmoid" => {
            act(Act::HardSigmoid { alpha: node.attr_float("alpha", 0.2)?, beta: node.attr_float("beta", 0.5)? })?
        }
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
        "Identity" => Op::Identity,
        "Dropout" if node.outputs.iter().skip(1).all(|o| o.is_empty()) => Op::Identity,
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
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceSumSquare" | "ReduceL1"
        | "ReduceL2" => {
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
            Op::BatchNorm { scale: gpu.upload(&scale, &[scale.len()])?, shift: gpu.upload(&shift, &[shift.len()])? }
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
        "Cast" => match node.attr_int("to", 1)? {
            1 => Op::Cast { to_float: true },
            7 => Op::Cast { to_float: false },
            to => return Err(unsupported(node, format!("Cast to type code {to}"))),
        },
        other => return Err(unsupported(node, format!("no GPU kernel for {other} yet"))),
    };
    Ok(op)
}

/// A CPU kernel for `node` through the executor's backend, with its constant inputs in view.
fn cpu_kernel(node: &Node, graph: &Graph, opset: i64, host: &HashMap<String, Tensor>) -> Result<Arc<dyn Kernel>> {
    let ctx = CompileCtx::new(graph, opset, host);
    match crate::runtime::cpu::ops::CpuBackend.compile(node, &ctx)? {
        Some(k) => Ok(Arc::from(k)),
        None => Err(Error::Node {
            node: node.display_name(),
            op: node.op_type.clone(),
            message: "operator supported neither on the GPU nor by the CPU runtime".into(),
        }),
    }
}

impl GpuSession {
    /// Compiles `model` for `gpu`: each node gets a GPU kernel if it has one, else a CPU one.
    /// Float constants the GPU reads are uploaded once.
    pub fn compile(gpu: Gpu, model: &Model) -> Result<GpuSession> {
        let graph = &model.graph;
        let mut host: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in &graph.initializers {
            host.insert(name.clone(), from_ir(t)?);
        }
        let mut steps = Vec::new();
        let mut opsets = vec![21; graph.nodes.len()];
        let mut notes = Vec::new();
        let mut class_labels = None;
        for ni in graph.topological_order()? {
            let node = &graph.nodes[ni];
            let opset = opset_of(model, node);
            opsets[ni] = opset;
            if node.op_type == "Constant" && node.domain.is_empty() {
                let t = crate::runtime::cpu::ops::constant_value(node)?;
                if let Some(o) = node.outputs.first() {
                    host.insert(o.clone(), t);
                }
                continue;
            }
            if class_labels.is_none() {
                class_labels = crate::runtime::cpu::ml::class_labels(node);
            }
            let place = match gpu_op(&gpu, node, opset, &host) {
                Ok(op) => Place::Gpu(op),
                Err(e @ (Error::GpuDeviceLost(_) | Error::Gpu(_))) => return Err(e),
                Err(why) => {
                    let k = cpu_kernel(node, graph, opset, &host)?;
                    notes.push(cpu_note(&why));
                    Place::Cpu(k)
                }
            };
            let names = |v: &[String]| v.iter().map(|n| (!n.is_empty()).then(|| n.clone())).collect();
            steps.push(Step {
                node: ni,
                name: node.display_name(),
                place,
                inputs: names(&node.inputs),
                outputs: names(&node.outputs),
            });
        }
        fuse_activations(&mut steps, &graph.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>());
        // Constants in the form their readers want: floats the GPU reads are uploaded,
        // integers stay on the host, the rest stays a host tensor.
        let mut constants: HashMap<String, Value> = HashMap::new();
        for st in &steps {
            let on_gpu = matches!(st.place, Place::Gpu(_));
            // A Gemm's pre-transposed B replaces the original on the GPU.
            let skip = match &st.place {
                Place::Gpu(Op::Gemm { b_t: Some(_), .. }) => st.inputs.get(1).cloned().flatten(),
                _ => None,
            };
            for name in st.inputs.iter().flatten() {
                if Some(name) == skip.as_ref() && !constants.contains_key(name) {
                    continue;
                }
                let Some(t) = host.get(name) else { continue };
                let v = match &t.data {
                    Data::I64(v) => Value::Ints(t.shape.clone(), v.clone()),
                    Data::F32(v) if on_gpu => Value::Gpu(gpu.upload(v, &t.shape)?),
                    _ => Value::Host(t.clone()),
                };
                match (constants.get(name), &v) {
                    // A float constant read by both sides is kept on the GPU; CPU steps read
                    // the host copy in `host`.
                    (Some(Value::Gpu(_)), _) => {}
                    _ => {
                        constants.insert(name.clone(), v);
                    }
                }
            }
        }
        let outputs = graph.outputs.iter().map(|o| o.name.clone()).collect();
        let inputs = graph.runtime_inputs().map(|v| v.name.clone()).collect();
        Ok(GpuSession {
            gpu,
            graph: graph.clone(),
            opsets,
            steps,
            constants,
            host,
            inputs,
            outputs,
            fallbacks: Mutex::new(HashMap::new()),
            notes: Mutex::new(notes),
            pool: Mutex::new(BufferPool::default()),
            class_labels,
        })
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

    /// Where each node runs, in execution order: (node, op, "gpu" | "cpu"), as compiled
    /// (a run may still give a GPU node to the CPU; see [`GpuSession::notes`]).
    pub fn placement(&self) -> Vec<(String, String, &'static str)> {
        self.steps
            .iter()
            .map(|s| {
                let dev = if matches!(s.place, Place::Gpu(_)) { "gpu" } else { "cpu" };
                (s.name.clone(), self.graph.nodes[s.node].op_type.clone(), dev)
            })
            .collect()
    }

    /// "node (op)" of every node compiled for the CPU.
    pub fn cpu_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| matches!(s.place, Place::Cpu(_)))
            .map(|s| format!("'{}' ({})", s.name, self.graph.nodes[s.node].op_type))
            .collect()
    }

    /// What ran on the CPU instead of the GPU, and why (one line per node, for the report).
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn note(&self, line: String) {
        if let Ok(mut n) = self.notes.lock() {
            if !n.contains(&line) {
                n.push(line);
            }
        }
    }

    /// Runs one batch of host tensors; returns the graph outputs in declared order, typed
    /// as the CPU executor would return them (ArgMax gives int64).
    pub async fn run_tensors(&self, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        let gpu = &self.gpu;
        let mut values: HashMap<&str, Value> = HashMap::new();
        for (name, t) in feeds {
            let Some(n) = self.inputs.iter().find(|n| **n == name) else {
                return Err(Error::InvalidArgument(format!(
                    "the model has no input '{name}'; its inputs are [{}]",
                    self.inputs.join(", ")
                )));
            };
            let v = match t.data {
                Data::F32(ref d) => Value::Gpu(gpu.upload(d, &t.shape)?),
                Data::I64(d) => Value::Ints(t.shape, d),
                _ => Value::Host(t),
            };
            values.insert(n.as_str(), v);
        }
        for n in &self.inputs {
            if !values.contains_key(n.as_str()) {
                return Err(Error::InvalidArgument(format!("input '{n}' was not given")));
            }
        }
        let mut rec = Some(gpu.recorder());
        // Values whose consumer's activation their producer's epilogue already applied.
        let mut fused: Vec<&str> = Vec::new();
        for (si, st) in self.steps.iter().enumerate() {
            let mut ins: Vec<Option<Value>> = Vec::with_capacity(st.inputs.len());
            for n in &st.inputs {
                ins.push(match n {
                    None => None,
                    Some(n) => Some(
                        values
                            .get(n.as_str())
                            .or_else(|| self.constants.get(n))
                            .cloned()
                            .or_else(|| self.host.get(n).map(|t| Value::Host(t.clone())))
                            .ok_or_else(|| {
                                Error::InvalidArgument(format!(
                                    "node '{}': input '{n}' has no value (was it fed?)",
                                    st.name
                                ))
                            })?,
                    ),
                });
            }
            let gpu_result = match &st.place {
                Place::Gpu(Op::Applied(_)) if st.inputs[0].as_deref().is_some_and(|n| fused.contains(&n)) => {
                    ins[0].clone()
                }
                Place::Gpu(op) => {
                    let r = rec.get_or_insert_with(|| gpu.recorder());
                    match record(r, op, &ins) {
                        Ok(v) => {
                            if op.fused_act().is_some() {
                                fused.extend(st.outputs.first().and_then(|o| o.as_deref()));
                            }
                            Some(v)
                        }
                        Err(e @ (Error::GpuDeviceLost(_) | Error::Gpu(_))) => return Err(e),
                        Err(why) => {
                            self.note(cpu_note(&why_for(&st.name, &self.graph.nodes[st.node].op_type, why)));
                            None
                        }
                    }
                }
                Place::Cpu(_) => None,
            };
            let outs: Vec<Value> = match gpu_result {
                Some(v) => vec![v],
                None => {
                    let kernel = match &st.place {
                        Place::Cpu(k) => k.clone(),
                        Place::Gpu(_) => self.fallback(si)?,
                    };
                    // The CPU needs host copies: everything recorded so far is submitted and
                    // the GPU inputs come back in one readback.
                    let host_ins = self.to_host(&mut rec, &ins, &st.inputs).await?;
                    let refs: Vec<Option<&Tensor>> = host_ins.iter().map(|t| t.as_ref()).collect();
                    let out = {
                        let mut pool = self
                            .pool
                            .lock()
                            .map_err(|_| Error::Runtime("the runtime was poisoned by an earlier failure".into()))?;
                        kernel.run(&refs, &mut pool).map_err(|e| node_error(&self.graph.nodes[st.node], e))?
                    };
                    out.into_iter()
                        .map(|t| match t.data {
                            Data::I64(d) => Value::Ints(t.shape, d),
                            _ => Value::Host(t),
                        })
                        .collect()
                }
            };
            for (o, v) in st.outputs.iter().zip(outs) {
                if let Some(o) = o {
                    values.insert(o.as_str(), v);
                }
            }
        }
        let mut outs = Vec::new();
        for name in &self.outputs {
            let v = values
                .get(name.as_str())
                .or_else(|| self.constants.get(name))
                .cloned()
                .or_else(|| self.host.get(name).map(|t| Value::Host(t.clone())));
            outs.push(Some(
                v.ok_or_else(|| Error::InvalidArgument(format!("graph output '{name}' was not computed")))?,
            ));
        }
        let names: Vec<Option<String>> = self.outputs.iter().cloned().map(Some).collect();
        let host = self.to_host(&mut rec, &outs, &names).await?;
        Ok(self
            .outputs
            .iter()
            .cloned()
            .zip(host.into_iter().map(|t| t.unwrap_or_else(|| Tensor::f32(vec![0], vec![]))))
            .collect())
    }

    /// Host copies of `vals`, reading every GPU-resident one back in one submission.
    async fn to_host(
        &self,
        rec: &mut Option<Recorder<'_>>,
        vals: &[Option<Value>],
        names: &[Option<String>],
    ) -> Result<Vec<Option<Tensor>>> {
        // Constants the GPU reads have a host copy: no readback for those.
        let host_copy: Vec<Option<&Tensor>> = names.iter().map(|n| n.as_ref().and_then(|n| self.host.get(n))).collect();
        let on_gpu: Vec<&GpuTensor> = vals
            .iter()
            .zip(&host_copy)
            .filter_map(|(v, h)| match v {
                Some(Value::Gpu(t) | Value::Idx(t)) if h.is_none() => Some(t),
                _ => None,
            })
            .collect();
        let mut read = if on_gpu.is_empty() {
            Vec::new().into_iter()
        } else {
            let r = rec.take().unwrap_or_else(|| self.gpu.recorder());
            self.gpu.read_many(r, &on_gpu).await?.into_iter()
        };
        let mut out = Vec::with_capacity(vals.len());
        for (v, h) in vals.iter().zip(host_copy) {
            out.push(match v {
                None => None,
                Some(Value::Gpu(_) | Value::Idx(_)) if h.is_some() => h.cloned(),
                Some(Value::Gpu(t)) => {
                    Some(Tensor { shape: t.shape.clone(), data: Data::F32(read.next().unwrap_or_default()) })
                }
                Some(Value::Idx(t)) => Some(Tensor {
                    shape: t.shape.clone(),
                    data: Data::I64(read.next().unwrap_or_default().into_iter().map(|x| x as i64).collect()),
                }),
                Some(Value::Ints(s, d)) => Some(Tensor { shape: s.clone(), data: Data::I64(d.clone()) }),
                // A constant uploaded for the GPU but read here: its host copy.
                Some(Value::Host(t)) => Some(t.clone()),
            });
        }
        Ok(out)
    }

    /// The CPU kernel for a GPU step a run could not record (compiled once).
    fn fallback(&self, si: usize) -> Result<Arc<dyn Kernel>> {
        let mut cache = self.fallbacks.lock().map_err(|_| Error::Runtime("fallback cache poisoned".into()))?;
        if let Some(k) = cache.get(&si) {
            return Ok(k.clone());
        }
        let st = &self.steps[si];
        let k = cpu_kernel(&self.graph.nodes[st.node], &self.graph, self.opsets[st.node], &self.host)?;
        cache.insert(si, k.clone());
        Ok(k)
    }

    /// Runs one batch of f32 inputs: `feeds` are (name, shape, values); returns (name, shape,
    /// values) for each graph output (integer outputs as floats).
    pub async fn run(&self, feeds: &[(&str, &[usize], &[f32])]) -> Result<Vec<Output>> {
        let feeds = feeds
            .iter()
            .map(|&(n, s, d)| {
                if s.iter().product::<usize>() != d.len() {
                    return Err(Error::InvalidArgument(format!(
                        "input '{n}': shape {s:?} needs {} values but {} were given",
                        s.iter().product::<usize>(),
                        d.len()
                    )));
                }
                Ok((n.to_string(), Tensor { shape: s.to_vec(), data: Data::F32(d.to_vec()) }))
            })
            .collect::<Result<_>>()?;
        let outs = self.run_tensors(feeds).await?;
        Ok(outs.into_iter().map(|(n, t)| (n, t.shape.clone(), t.to_f32_vec())).collect())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_blocking(&self, feeds: &[(&str, &[usize], &[f32])]) -> Result<Vec<Output>> {
        pollster::block_on(self.run(feeds))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_tensors_blocking(&self, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        pollster::block_on(self.run_tensors(feeds))
    }
}

impl Op {
    /// The activation fused into this product's epilogue, if any.
    fn fused_act(&self) -> Option<Act> {
        match self {
            Op::MatMul { act } | Op::Gemm { act, .. } | Op::Conv { act, .. } if *act != Act::Identity => Some(*act),
            _ => None,
        }
    }
}

/// Fuses an activation into the epilogue of the MatMul / Gemm / Conv that feeds it, when that
/// product's output is read by the activation alone (and is not a graph output): Conv + Relu
/// becomes one dispatch that writes the activated value, not two passes over the tensor. The
/// activation's step stays as `Op::Applied`, a pass-through that applies the activation only
/// if the producer ran on the CPU after all.
fn fuse_activations(steps: &mut [Step], graph_outputs: &[&str]) {
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for st in steps.iter() {
        for n in st.inputs.iter().flatten() {
            *readers.entry(n.as_str()).or_default() += 1;
        }
    }
    let mut pairs = Vec::new();
    for (i, st) in steps.iter().enumerate() {
        let Place::Gpu(Op::MatMul { .. } | Op::Gemm { .. } | Op::Conv { .. }) = &st.place else { continue };
        let [Some(out)] = st.outputs.as_slice() else { continue };
        if readers.get(out.as_str()) != Some(&1) || graph_outputs.contains(&out.as_str()) {
            continue;
        }
        let reader = steps.iter().enumerate().skip(i + 1).find(|(_, s)| s.inputs.iter().flatten().any(|n| n == out));
        if let Some((j, Step { place: Place::Gpu(Op::Act(a)), inputs, .. })) = reader {
            if inputs.len() == 1 {
                pairs.push((i, j, *a));
            }
        }
    }
    for (i, j, a) in pairs {
        if let Place::Gpu(Op::MatMul { act } | Op::Gemm { act, .. } | Op::Conv { act, .. }) = &mut steps[i].place {
            *act = a;
        }
        steps[j].place = Place::Gpu(Op::Applied(a));
    }
}

/// The report's line for a node given to the CPU.
fn cpu_note(why: &Error) -> String {
    match why {
        Error::GpuUnsupported { node, op, why } => format!("node '{node}' ({op}) ran on the CPU: {why}"),
        other => format!("{other}"),
    }
}

fn why_for(node: &str, op: &str, e: Error) -> Error {
    match e {
        Error::GpuUnsupported { .. } => e,
        Error::GpuLimit { tensor, bytes, limit } => Error::GpuUnsupported {
            node: node.into(),
            op: op.into(),
            why: format!("tensor '{tensor}' needs {bytes} bytes, over this GPU's {limit}-byte buffer limit"),
        },
        other => Error::GpuUnsupported { node: node.into(), op: op.into(), why: other.to_string() },
    }
}

fn node_error(node: &Node, e: Error) -> Error {
    match e {
        Error::Runtime(message) | Error::InvalidArgument(message) => {
            Error::Node { node: node.display_name(), op: node.op_type.clone(), message }
        }
        other => other,
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

/// Input `i` as a GPU tensor, uploading host floats (and integers, as floats) when needed.
fn gpu_in(gpu: &Gpu, ins: &[Option<Value>], i: usize) -> Result<GpuTensor> {
    match ins.get(i) {
        Some(Some(Value::Gpu(t) | Value::Idx(t))) => Ok(t.clone()),
        Some(Some(Value::Ints(s, d))) => gpu.upload(&d.iter().map(|&x| x as f32).collect::<Vec<_>>(), s),
        Some(Some(Value::Host(t))) => match &t.data {
            Data::F32(d) => gpu.upload(d, &t.shape),
            _ => Err(Error::InvalidArgument(format!("input {i} is a {} tensor; the GPU takes floats", t.dtype()))),
        },
        _ => Err(Error::InvalidArgument(format!("input {i} is missing"))),
    }
}

fn shape_of(v: &Value) -> &[usize] {
    match v {
        Value::Gpu(t) | Value::Idx(t) => &t.shape,
        Value::Ints(s, _) => s,
        Value::Host(t) => &t.shape,
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
        Value::Idx(t) => Value::Idx(t.reshaped(&shape)?),
        Value::Ints(_, d) => Value::Ints(shape, d.clone()),
        Value::Host(t) => Value::Host(t.clone().reshaped(shape)?),
    })
}

/// Most buffer copies one Gather / Concat may record; beyond, the node runs on the CPU.
const MAX_COPIES: usize = 4096;

/// Gather of rows of a GPU tensor by host indices: one buffer copy per (outer, index).
fn gather(rec: &mut Recorder<'_>, data: &GpuTensor, idx: &[i64], idx_shape: &[usize], axis: i64) -> Result<GpuTensor> {
    let s = &data.shape;
    let a = norm_axis(axis, s.len())?;
    let (outer, dim, inner) = (s[..a].iter().product::<usize>(), s[a], s[a + 1..].iter().product::<usize>());
    if outer * idx.len() > MAX_COPIES {
        return Err(Error::InvalidArgument(format!(
            "Gather of {} rows is over the GPU copy path's {MAX_COPIES}",
            outer * idx.len()
        )));
    }
    let mut shape = s[..a].to_vec();
    shape.extend_from_slice(idx_shape);
    shape.extend_from_slice(&s[a + 1..]);
    let out = rec.gpu().empty(&shape)?;
    for o in 0..outer {
        for (j, &i) in idx.iter().enumerate() {
            let r = if i < 0 { i + dim as i64 } else { i };
            if r < 0 || r as usize >= dim {
                return Err(Error::InvalidArgument(format!(
                    "Gather index {i} is out of range for axis {a} of size {dim}"
                )));
            }
            rec.copy(&data.buf, (o * dim + r as usize) * inner, &out.buf, (o * idx.len() + j) * inner, inner)?;
        }
    }
    Ok(out)
}

/// Concat of GPU tensors: one buffer copy per (part, outer index).
fn concat(rec: &mut Recorder<'_>, parts: &[GpuTensor], axis: i64) -> Result<GpuTensor> {
    let first = parts.first().ok_or_else(|| Error::InvalidArgument("Concat of nothing".into()))?;
    let rank = first.shape.len();
    let a = norm_axis(axis, rank)?;
    let mut shape = first.shape.clone();
    shape[a] = 0;
    for p in parts {
        if p.shape.len() != rank || (0..rank).any(|d| d != a && p.shape[d] != first.shape[d]) {
            return Err(Error::InvalidArgument(format!(
                "Concat: shape {:?} does not match {:?}",
                p.shape, first.shape
            )));
        }
        shape[a] += p.shape[a];
    }
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    if outer * parts.len() > MAX_COPIES {
        return Err(Error::InvalidArgument(format!(
            "Concat of {} blocks is over the GPU copy path's {MAX_COPIES}",
            outer * parts.len()
        )));
    }
    let out = rec.gpu().empty(&shape)?;
    let mut at = 0;
    for p in parts {
        let block = p.shape[a] * inner;
        for o in 0..outer {
            rec.copy(&p.buf, o * block, &out.buf, (o * shape[a]) * inner + at, block)?;
        }
        at += block;
    }
    Ok(out)
}

fn record(rec: &mut Recorder<'_>, op: &Op, ins: &[Option<Value>]) -> Result<Value> {
    use super::{conv, elementwise as ew, gemm, norm, pool, reduce, softmax};
    let g = rec.gpu();
    let first =
        ins.first().and_then(|v| v.as_ref()).ok_or_else(|| Error::InvalidArgument("input 0 is missing".into()))?;
    Ok(match op {
        Op::MatMul { act } => Value::Gpu(gemm::matmul(rec, &gpu_in(g, ins, 0)?, &gpu_in(g, ins, 1)?, None, *act)?),
        Op::Gemm { trans_a, trans_b, alpha, beta, b_t, act } => {
            let c = match ins.get(2) {
                Some(Some(_)) => Some(gpu_in(g, ins, 2)?),
                _ => None,
            };
            let b = match b_t {
                Some(t) => t.clone(),
                None => gpu_in(g, ins, 1)?,
            };
            Value::Gpu(gemm::gemm(rec, &gpu_in(g, ins, 0)?, &b, c.as_ref(), *trans_a, *trans_b, *alpha, *beta, *act)?)
        }
        Op::Conv { win, group, act } => {
            let (x, w) = (&gpu_in(g, ins, 0)?, &gpu_in(g, ins, 1)?);
            let b = match ins.get(2) {
                Some(Some(_)) => Some(gpu_in(g, ins, 2)?),
                _ => None,
            };
            if x.shape.len() == 3 {
                let x4 = x.reshaped(&[x.shape[0], x.shape[1], 1, x.shape[2]])?;
                let w4 = w.reshaped(&[w.shape[0], w.shape[1], 1, w.shape[2]])?;
                let y = conv::conv2d(rec, &x4, &w4, b.as_ref(), win, *group, *act)?;
                let s = [y.shape[0], y.shape[1], y.shape[3]];
                Value::Gpu(y.reshaped(&s)?)
            } else {
                Value::Gpu(conv::conv2d(rec, x, w, b.as_ref(), win, *group, *act)?)
            }
        }
        Op::Act(a) | Op::Applied(a) => Value::Gpu(ew::unary(rec, &gpu_in(g, ins, 0)?, *a)?),
        Op::Binary(b) => match (first, ins.get(1).and_then(|v| v.as_ref())) {
            // Integer shape arithmetic stays on the host.
            (Value::Ints(sa, va), Some(Value::Ints(sb, vb)))
                if sa.iter().product::<usize>() == va.len() && sb.iter().product::<usize>() == vb.len() =>
            {
                let shape = ew::broadcast_shape(sa, sb)?;
                if sa != sb && va.len() != 1 && vb.len() != 1 {
                    return Err(Error::InvalidArgument("integer broadcasting beyond scalars".into()));
                }
                let n = va.len().max(vb.len());
                let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                let f = |x: i64, y: i64| match b {
                    BinOp::Add => x.checked_add(y),
                    BinOp::Sub => x.checked_sub(y),
                    BinOp::Mul => x.checked_mul(y),
                    BinOp::Div => x.checked_div(y),
                    BinOp::Max => Some(x.max(y)),
                    BinOp::Min => Some(x.min(y)),
                    _ => None,
                };
                let out: Option<Vec<i64>> = (0..n).map(|i| f(at(va, i), at(vb, i))).collect();
                // Anything else (Pow, division by zero, overflow) is the CPU's to answer.
                Value::Ints(
                    shape,
                    out.ok_or_else(|| Error::InvalidArgument("integer arithmetic runs on the CPU".into()))?,
                )
            }
            _ => Value::Gpu(ew::binary(rec, &gpu_in(g, ins, 0)?, &gpu_in(g, ins, 1)?, *b)?),
        },
        Op::Softmax { axis, log, flatten } => {
            Value::Gpu(softmax::softmax(rec, &gpu_in(g, ins, 0)?, *axis, *log, *flatten)?)
        }
        Op::Reduce { axes, op, keepdims } => {
            let y = reduce::reduce(rec, &gpu_in(g, ins, 0)?, axes, *op, *keepdims)?;
            match op {
                ReduceOp::ArgMax | ReduceOp::ArgMin => Value::Idx(y),
                _ => Value::Gpu(y),
            }
        }
        Op::Pool { kind, win, ceil } => {
            let x = &gpu_in(g, ins, 0)?;
            if x.shape.len() == 3 {
                let x4 = x.reshaped(&[x.shape[0], x.shape[1], 1, x.shape[2]])?;
                let y = pool::pool2d(rec, &x4, *kind, win, *ceil)?;
                let s = [y.shape[0], y.shape[1], y.shape[3]];
                Value::Gpu(y.reshaped(&s)?)
            } else {
                Value::Gpu(pool::pool2d(rec, x, *kind, win, *ceil)?)
            }
        }
        Op::GlobalPool { max } => Value::Gpu(reduce::global_pool(rec, &gpu_in(g, ins, 0)?, *max)?),
        Op::BatchNorm { scale, shift } => Value::Gpu(norm::channel_affine(rec, &gpu_in(g, ins, 0)?, scale, shift)?),
        Op::LayerNorm { axis, eps } => Value::Gpu(norm::layer_norm(
            rec,
            &gpu_in(g, ins, 0)?,
            *axis,
            &gpu_in(g, ins, 1)?,
            &gpu_in(g, ins, 2)?,
            *eps,
        )?),
        Op::Transpose { perm } => {
            let x = &gpu_in(g, ins, 0)?;
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
                if known == 0 || !total.is_multiple_of(known) {
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
        Op::Gather { axis } => match first {
            Value::Ints(s, data) if s.len() == 1 && *axis == 0 => {
                let idx_shape = match ins.get(1) {
                    Some(Some(v)) => shape_of(v).to_vec(),
                    _ => vec![],
                };
                let n = data.len() as i64;
                let picked: Result<Vec<i64>> = int_in(ins, 1)?
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
            _ => {
                let idx_shape = ins.get(1).and_then(|v| v.as_ref()).map(|v| shape_of(v).to_vec()).unwrap_or_default();
                let y = gather(rec, &gpu_in(g, ins, 0)?, &int_in(ins, 1)?, &idx_shape, *axis)?;
                match first {
                    Value::Idx(_) => Value::Idx(y),
                    _ => Value::Gpu(y),
                }
            }
        },
        Op::Concat { axis } => {
            let all_ints = ins.iter().all(|v| matches!(v, Some(Value::Ints(s, _)) if s.len() <= 1));
            if all_ints {
                let mut out = Vec::new();
                for v in ins.iter().flatten() {
                    if let Value::Ints(_, d) = v {
                        out.extend_from_slice(d);
                    }
                }
                Value::Ints(vec![out.len()], out)
            } else {
                let parts: Vec<GpuTensor> =
                    (0..ins.len()).filter(|&i| ins[i].is_some()).map(|i| gpu_in(g, ins, i)).collect::<Result<_>>()?;
                Value::Gpu(concat(rec, &parts, *axis)?)
            }
        }
        Op::Cast { to_float: true } => match first {
            Value::Idx(t) | Value::Gpu(t) => Value::Gpu(t.clone()),
            Value::Ints(s, d) => {
                Value::Host(Tensor { shape: s.clone(), data: Data::F32(d.iter().map(|&x| x as f32).collect()) })
            }
            Value::Host(_) => return Err(Error::InvalidArgument("a Cast of a host tensor runs on the CPU".into())),
        },
        Op::Cast { to_float: false } => match first {
            Value::Idx(_) | Value::Ints(..) => first.clone(),
            _ => return Err(Error::InvalidArgument("a Cast to int64 of floats runs on the CPU".into())),
        },
        Op::Identity => first.clone(),
    })
}
