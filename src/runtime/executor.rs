//! The executor: compiles a graph once (nodes in topological order, each bound to a kernel
//! of some backend, constants converted and weights pre-packed), plans when each value dies,
//! and then runs batches through it, recycling the buffers of dead values.
//!
//! Backends sit behind [`Backend`]: the executor asks each one, in order of preference,
//! to compile a node; the CPU backend accepts every op of the supported set and so is always
//! the last resort. A GPU backend only has to implement the ops it is good at.

use super::tensor::{Data, Tensor};
use crate::error::{Error, Result};
use crate::model::{Graph, Model, Node, TensorData};
use std::collections::HashMap;

/// Free float buffers, reused by kernels for their outputs.
#[derive(Default)]
pub struct BufferPool {
    free: Vec<Vec<f32>>,
    /// Buffers handed out that came from the pool (for tests and reports).
    pub reused: u64,
    pub allocated: u64,
}

impl BufferPool {
    /// A zero-filled buffer of `len` floats, recycled when one is big enough.
    pub fn zeros(&mut self, len: usize) -> Vec<f32> {
        let mut v = self.take(len);
        v.resize(len, 0.0);
        v
    }

    /// An empty buffer with capacity for `len` floats (fill it with `extend`/`push`).
    pub fn take(&mut self, len: usize) -> Vec<f32> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                self.reused += 1;
                let mut v = self.free.swap_remove(i);
                v.clear();
                v
            }
            None => {
                self.allocated += 1;
                Vec::with_capacity(len)
            }
        }
    }

    /// Give a dead tensor's storage back.
    pub fn give(&mut self, t: Tensor) {
        if let Data::F32(v) = t.data {
            if v.capacity() > 0 && self.free.len() < 64 {
                self.free.push(v);
            }
        }
    }
}

/// A node bound to a backend, ready to run.
pub trait Kernel: Send + Sync {
    /// `inputs[i]` is `None` for an omitted optional input. Returns the node's outputs in
    /// order (trailing optional outputs may be left out).
    fn run(&self, inputs: &[Option<&Tensor>], pool: &mut BufferPool) -> Result<Vec<Tensor>>;
    /// For a kernel whose one output is input 0 under a new shape (Reshape, Flatten, ...):
    /// that shape. When the step is input 0's last reader, the executor moves the buffer
    /// instead of running the kernel (which would copy it).
    fn view_shape(&self, _inputs: &[Option<&Tensor>]) -> Option<Result<Vec<usize>>> {
        None
    }
}

/// What a backend may look at while compiling a node.
pub struct CompileCtx<'a> {
    pub graph: &'a Graph,
    /// Opset of the node's domain.
    pub opset: i64,
    constants: &'a HashMap<String, Tensor>,
    /// Nodes the kernel must apply to its output itself, in order (a Conv's Relu and
    /// MaxPool, a Gemm's Relu, each the only reader of the value before it); the executor
    /// drops them. Only
    /// set for backends that say [`Backend::fuses_epilogue`].
    pub epilogue: Vec<Node>,
}

impl<'a> CompileCtx<'a> {
    /// A context over `constants` (for backends that compile nodes outside a [`Session`]).
    pub fn new(graph: &'a Graph, opset: i64, constants: &'a HashMap<String, Tensor>) -> CompileCtx<'a> {
        CompileCtx { graph, opset, constants, epilogue: Vec::new() }
    }

    /// The value of input `i` if it is known at load time (an initializer or Constant output).
    pub fn constant(&self, node: &Node, i: usize) -> Option<&Tensor> {
        node.input(i).and_then(|n| self.constants.get(n))
    }
}

/// Something that can run ops: the CPU kernels, or a GPU.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// A kernel for `node`, `Ok(None)` if this backend does not implement the op, or an
    /// error if the op is implemented but the node's attributes are invalid.
    fn compile(&self, node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>>;
    /// Whether this backend's Conv and Gemm honour [`CompileCtx::epilogue`].
    fn fuses_epilogue(&self) -> bool {
        false
    }
}

/// Conv nodes followed by a Relu and/or a MaxPool, and Gemm nodes followed by a Relu, each
/// the only reader of the value before it (which is no graph output): node index -> those
/// nodes' indices in order. The kernel applies them per image / on its output while it is in
/// cache, instead of each being a pass over the whole batch's activations through memory.
fn epilogues(graph: &Graph) -> HashMap<usize, Vec<usize>> {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for x in n.inputs.iter().filter(|x| !x.is_empty()) {
            readers.entry(x.as_str()).or_default().push(i);
        }
    }
    let plain = |n: &Node, op: &str| n.op_type == op && (n.domain.is_empty() || n.domain == "ai.onnx");
    let single_output = |n: &Node| !n.outputs.is_empty() && n.outputs[1..].iter().all(String::is_empty);
    let mut fused = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let allowed: &[&str] = match n.op_type.as_str() {
            _ if !plain(n, &n.op_type) => continue,
            "Conv" => &["Relu", "MaxPool"],
            "Gemm" => &["Relu"],
            _ => continue,
        };
        let (mut chain, mut cur) = (Vec::new(), n);
        while chain.len() < 2 && single_output(cur) && !graph.outputs.iter().any(|o| o.name == cur.outputs[0]) {
            let Some([r]) = readers.get(cur.outputs[0].as_str()).map(Vec::as_slice) else { break };
            let next = &graph.nodes[*r];
            let fits = allowed.iter().any(|op| plain(next, op))
                && next.inputs.len() == 1
                && single_output(next)
                && !chain.iter().any(|&c: &usize| graph.nodes[c].op_type == next.op_type);
            if !fits {
                break;
            }
            chain.push(*r);
            cur = next;
        }
        if !chain.is_empty() {
            fused.insert(i, chain);
        }
    }
    fused
}

struct Step {
    node: usize,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    kernel: Box<dyn Kernel>,
    backend: &'static str,
    /// Values whose last reader is this step: released afterwards.
    release: Vec<usize>,
}

/// (node, op, milliseconds) of every step, in execution order ([`Session::profile`]).
pub type StepTimes = Vec<(String, String, f64)>;

/// A compiled model.
pub struct Session {
    nodes: Vec<Node>,
    steps: Vec<Step>,
    /// Value slots: constants are filled at load, the rest per run.
    constants: Vec<Option<Tensor>>,
    inputs: Vec<(String, usize)>,
    outputs: Vec<(String, usize)>,
    pool: std::sync::Mutex<BufferPool>,
    /// Class labels declared by a scikit-learn classifier node, if any.
    pub class_labels: Option<Vec<String>>,
}

/// Convert an IR constant to a runtime tensor.
pub fn from_ir(t: &crate::model::Tensor) -> Result<Tensor> {
    let shape = t.dims.clone();
    let data = match &t.data {
        TensorData::F32(v) => Data::F32(v.clone()),
        TensorData::F64(v) => Data::F32(v.iter().map(|&x| x as f32).collect()),
        TensorData::Bool(v) => Data::Bool(v.clone()),
        TensorData::Strings(v) => Data::Str(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
        TensorData::I64(v) => Data::I64(v.clone()),
        TensorData::Raw(_) | TensorData::Missing => {
            return Err(Error::Runtime(format!(
                "tensor '{}' has type {} which the runtime cannot compute with",
                t.name, t.dtype
            )))
        }
        _ => match t.to_i64_vec() {
            Some(v) => Data::I64(v),
            None => return Err(Error::Runtime(format!("tensor '{}': unsupported type {}", t.name, t.dtype))),
        },
    };
    Ok(Tensor { shape, data })
}

impl Session {
    /// Compile `model` with the CPU backend only.
    pub fn new(model: &Model) -> Result<Session> {
        Session::with_backends(model, &[&super::cpu::ops::CpuBackend])
    }

    /// Compile `model`, giving each node to the first backend that implements it.
    pub fn with_backends(model: &Model, backends: &[&dyn Backend]) -> Result<Session> {
        let graph = &model.graph;
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut constants: Vec<Option<Tensor>> = Vec::new();
        let mut const_map: HashMap<String, Tensor> = HashMap::new();
        let slot = |name: &str, slot_of: &mut HashMap<String, usize>, constants: &mut Vec<Option<Tensor>>| {
            *slot_of.entry(name.to_string()).or_insert_with(|| {
                constants.push(None);
                constants.len() - 1
            })
        };
        for (name, t) in &graph.initializers {
            let t = from_ir(t)?;
            let s = slot(name, &mut slot_of, &mut constants);
            const_map.insert(name.clone(), t.clone());
            constants[s] = Some(t);
        }
        let inputs: Vec<(String, usize)> =
            graph.runtime_inputs().map(|v| (v.name.clone(), slot(&v.name, &mut slot_of, &mut constants))).collect();
        let order = graph.topological_order()?;
        let mut steps = Vec::new();
        let mut class_labels = None;
        let fusions = if backends.iter().all(|b| b.fuses_epilogue()) { epilogues(graph) } else { HashMap::new() };
        let fused_away: std::collections::HashSet<usize> = fusions.values().flatten().copied().collect();
        for &ni in &order {
            if fused_away.contains(&ni) {
                continue;
            }
            let fused_node;
            let node = match fusions.get(&ni).and_then(|c| c.last()) {
                Some(&last) => {
                    let mut n = graph.nodes[ni].clone();
                    n.outputs = graph.nodes[last].outputs[..1].to_vec();
                    fused_node = n;
                    &fused_node
                }
                None => &graph.nodes[ni],
            };
            let opset = model.opset(&node.domain).unwrap_or(if node.domain.is_empty() { 21 } else { 3 });
            // Constants are folded at load time.
            if node.op_type == "Constant" && node.domain.is_empty() {
                let t = super::cpu::ops::constant_value(node)?;
                if let Some(o) = node.outputs.first() {
                    let s = slot(o, &mut slot_of, &mut constants);
                    const_map.insert(o.clone(), t.clone());
                    constants[s] = Some(t);
                }
                continue;
            }
            if class_labels.is_none() {
                class_labels = super::cpu::ml::class_labels(node);
            }
            let epilogue = fusions.get(&ni).map_or(Vec::new(), |c| c.iter().map(|&j| graph.nodes[j].clone()).collect());
            let ctx = CompileCtx { graph, opset, constants: &const_map, epilogue };
            let mut compiled = None;
            for b in backends {
                if let Some(k) = b.compile(node, &ctx).map_err(|e| node_error(node, e))? {
                    compiled = Some((k, b.name()));
                    break;
                }
            }
            let (kernel, backend) = compiled.ok_or_else(|| Error::Node {
                node: node.display_name(),
                op: op_name(node),
                message: format!(
                    "operator not supported by webeval's runtime (supported: {}); re-export the model without it or open an issue",
                    super::cpu::ops::SUPPORTED.join(", ")
                ),
            })?;
            let ins =
                node.inputs.iter().map(|n| (!n.is_empty()).then(|| slot(n, &mut slot_of, &mut constants))).collect();
            let outs =
                node.outputs.iter().map(|n| (!n.is_empty()).then(|| slot(n, &mut slot_of, &mut constants))).collect();
            steps.push(Step { node: ni, inputs: ins, outputs: outs, kernel, backend, release: Vec::new() });
        }
        let mut outputs = Vec::new();
        for o in &graph.outputs {
            let s = *slot_of.get(&o.name).ok_or_else(|| {
                Error::Runtime(format!("graph output '{}' is not produced by any node or initializer", o.name))
            })?;
            outputs.push((o.name.clone(), s));
        }
        // Memory plan: a value is released after its last reader, unless it is a constant or
        // a graph output.
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (si, st) in steps.iter().enumerate() {
            for s in st.inputs.iter().flatten().chain(st.outputs.iter().flatten()) {
                last_use.insert(*s, si);
            }
        }
        for (s, si) in last_use {
            let keep = constants[s].is_some() || outputs.iter().any(|(_, o)| *o == s);
            if !keep {
                steps[si].release.push(s);
            }
        }
        Ok(Session {
            nodes: graph.nodes.clone(),
            steps,
            constants,
            inputs,
            outputs,
            pool: std::sync::Mutex::new(BufferPool::default()),
            class_labels,
        })
    }

    /// Names of the inputs a caller must feed.
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|(n, _)| n.clone()).collect()
    }
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Which backend runs each node, in execution order: (node, op, backend).
    pub fn placement(&self) -> Vec<(String, String, &'static str)> {
        self.steps
            .iter()
            .map(|s| (self.nodes[s.node].display_name(), self.nodes[s.node].op_type.clone(), s.backend))
            .collect()
    }

    /// Run the model on named inputs; returns the graph outputs in declared order.
    pub fn run(&self, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        self.run_timed(feeds, None)
    }

    /// [`Session::run`], timing every step with `clock` (any monotonic clock in milliseconds:
    /// `Instant` natively, `performance.now()` in a page): the outputs and (node, op, ms) per
    /// step in execution order. This is how a model's time is split between its ops.
    pub fn profile(
        &self,
        feeds: Vec<(String, Tensor)>,
        clock: &mut dyn FnMut() -> f64,
    ) -> Result<(Vec<(String, Tensor)>, StepTimes)> {
        let mut times = Vec::with_capacity(self.steps.len());
        let outs = self.run_timed(feeds, Some((clock, &mut times)))?;
        let steps = self
            .steps
            .iter()
            .zip(times)
            .map(|(s, ms)| (self.nodes[s.node].display_name(), self.nodes[s.node].op_type.clone(), ms))
            .collect();
        Ok((outs, steps))
    }

    fn run_timed(
        &self,
        feeds: Vec<(String, Tensor)>,
        mut timer: Option<(&mut dyn FnMut() -> f64, &mut Vec<f64>)>,
    ) -> Result<Vec<(String, Tensor)>> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.constants.len()];
        for (name, t) in feeds {
            let s = self.inputs.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).ok_or_else(|| {
                Error::Runtime(format!(
                    "the model has no input '{name}'; its inputs are [{}]",
                    self.input_names().join(", ")
                ))
            })?;
            values[s] = Some(t);
        }
        for (name, s) in &self.inputs {
            if values[*s].is_none() {
                return Err(Error::Runtime(format!("input '{name}' was not given")));
            }
        }
        let mut pool =
            self.pool.lock().map_err(|_| Error::Runtime("the runtime was poisoned by an earlier failure".into()))?;
        for st in &self.steps {
            let node = &self.nodes[st.node];
            let start = timer.as_mut().map(|(clock, _)| clock());
            let outs = {
                let ins: Vec<Option<&Tensor>> = st
                    .inputs
                    .iter()
                    .map(|s| s.and_then(|s| values[s].as_ref().or(self.constants[s].as_ref())))
                    .collect();
                if let Some(missing) = st.inputs.iter().zip(&ins).position(|(s, t)| s.is_some() && t.is_none()) {
                    return Err(node_error(
                        node,
                        Error::Runtime(format!(
                            "input '{}' has no value (not produced by any earlier node)",
                            node.inputs[missing]
                        )),
                    ));
                }
                // Input 0 dies here and is not a constant: a reshape can take its buffer.
                let dying =
                    st.inputs.first().copied().flatten().filter(|s| st.release.contains(s) && values[*s].is_some());
                match dying.and_then(|s| Some((s, st.kernel.view_shape(&ins)?))) {
                    Some((s, shape)) => {
                        let shape = shape.map_err(|e| node_error(node, e))?;
                        let t = values[s].take().ok_or_else(|| Error::Runtime("view input vanished".into()))?;
                        vec![t.reshaped(shape).map_err(|e| node_error(node, e))?]
                    }
                    None => st.kernel.run(&ins, &mut pool).map_err(|e| node_error(node, e))?,
                }
            };
            for (o, t) in st.outputs.iter().zip(outs) {
                if let Some(o) = o {
                    values[*o] = Some(t);
                }
            }
            for &s in &st.release {
                if let Some(t) = values[s].take() {
                    pool.give(t);
                }
            }
            if let (Some((clock, times)), Some(start)) = (timer.as_mut(), start) {
                times.push(clock() - start);
            }
        }
        self.outputs
            .iter()
            .map(|(name, s)| {
                let t = values[*s].take().or_else(|| self.constants[*s].clone());
                t.map(|t| (name.clone(), t)).ok_or_else(|| Error::Runtime(format!("output '{name}' was not computed")))
            })
            .collect()
    }

    /// (buffers reused, buffers allocated) so far: how well the memory plan recycles.
    pub fn pool_stats(&self) -> (u64, u64) {
        self.pool.lock().map(|p| (p.reused, p.allocated)).unwrap_or((0, 0))
    }
}

fn op_name(node: &Node) -> String {
    if node.domain.is_empty() || node.domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{}:{}", node.domain, node.op_type)
    }
}

/// Attach the node to an error that does not name one yet.
fn node_error(node: &Node, e: Error) -> Error {
    match e {
        Error::Node { .. } => e,
        Error::Runtime(message) | Error::InvalidArgument(message) => {
            Error::Node { node: node.display_name(), op: op_name(node), message }
        }
        Error::ModelInvalid { message, .. } => Error::Node { node: node.display_name(), op: op_name(node), message },
        other => other,
    }
}
