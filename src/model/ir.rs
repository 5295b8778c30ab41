//! The graph IR: an ONNX model with the protobuf noise removed.
//!
//! Everything downstream (shape inference, complexity, the CPU/GPU executor) works on these
//! types, never on the prost messages, so the rules about where ONNX keeps a tensor's bytes
//! (raw_data vs typed fields vs an external file) live in one place: `load.rs`. Initializer
//! data is decoded once into typed vectors; attributes are looked up by name with typed
//! getters that return `crate::Error` naming the node, so kernels never unwrap.

use crate::{Error, Result};
use std::collections::HashMap;

/// ONNX `TensorProto.DataType`, with the numeric codes of onnx.proto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    Float,
    Uint8,
    Int8,
    Uint16,
    Int16,
    Int32,
    Int64,
    String,
    Bool,
    Float16,
    Double,
    Uint32,
    Uint64,
    Complex64,
    Complex128,
    Bfloat16,
    Float8E4M3FN,
    Float8E4M3FNUZ,
    Float8E5M2,
    Float8E5M2FNUZ,
    Uint4,
    Int4,
    Float4E2M1,
    Float8E8M0,
    Uint2,
    Int2,
}

impl DataType {
    /// The type for an ONNX code; `None` for 0 (undefined) and codes newer than we know.
    pub fn from_code(code: i32) -> Option<DataType> {
        use DataType::*;
        Some(match code {
            1 => Float,
            2 => Uint8,
            3 => Int8,
            4 => Uint16,
            5 => Int16,
            6 => Int32,
            7 => Int64,
            8 => String,
            9 => Bool,
            10 => Float16,
            11 => Double,
            12 => Uint32,
            13 => Uint64,
            14 => Complex64,
            15 => Complex128,
            16 => Bfloat16,
            17 => Float8E4M3FN,
            18 => Float8E4M3FNUZ,
            19 => Float8E5M2,
            20 => Float8E5M2FNUZ,
            21 => Uint4,
            22 => Int4,
            23 => Float4E2M1,
            24 => Float8E8M0,
            25 => Uint2,
            26 => Int2,
            _ => return None,
        })
    }

    /// Lower-case name as numpy / onnx print it (`float32`, `int64`, ...).
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            Float => "float32",
            Uint8 => "uint8",
            Int8 => "int8",
            Uint16 => "uint16",
            Int16 => "int16",
            Int32 => "int32",
            Int64 => "int64",
            String => "string",
            Bool => "bool",
            Float16 => "float16",
            Double => "float64",
            Uint32 => "uint32",
            Uint64 => "uint64",
            Complex64 => "complex64",
            Complex128 => "complex128",
            Bfloat16 => "bfloat16",
            Float8E4M3FN => "float8e4m3fn",
            Float8E4M3FNUZ => "float8e4m3fnuz",
            Float8E5M2 => "float8e5m2",
            Float8E5M2FNUZ => "float8e5m2fnuz",
            Uint4 => "uint4",
            Int4 => "int4",
            Float4E2M1 => "float4e2m1",
            Float8E8M0 => "float8e8m0",
            Uint2 => "uint2",
            Int2 => "int2",
        }
    }

    /// Storage size in bits of one element (strings: 0, their size is data-dependent).
    pub fn bits(self) -> u64 {
        use DataType::*;
        match self {
            String => 0,
            Bool | Uint8 | Int8 | Float8E4M3FN | Float8E4M3FNUZ | Float8E5M2 | Float8E5M2FNUZ | Float8E8M0 => 8,
            Uint16 | Int16 | Float16 | Bfloat16 => 16,
            Float | Int32 | Uint32 => 32,
            Double | Int64 | Uint64 | Complex64 => 64,
            Complex128 => 128,
            Uint4 | Int4 | Float4E2M1 => 4,
            Uint2 | Int2 => 2,
        }
    }

    /// Bytes needed for `n` elements (sub-byte types round up, as ONNX packs them).
    pub fn bytes_for(self, n: u64) -> u64 {
        (n.saturating_mul(self.bits())).div_ceil(8)
    }

    pub fn is_float(self) -> bool {
        use DataType::*;
        matches!(
            self,
            Float
                | Double
                | Float16
                | Bfloat16
                | Float8E4M3FN
                | Float8E4M3FNUZ
                | Float8E5M2
                | Float8E5M2FNUZ
                | Float4E2M1
                | Float8E8M0
        )
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decoded tensor contents. Narrow float types (float16, bfloat16) are widened to `F32` on
/// load, and narrow integers (int16, uint16) to `I32`, uint32 to `I64`, so an executor needs
/// few cases; [`Tensor::dtype`] always keeps the type the file stored.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    Bool(Vec<bool>),
    Strings(Vec<Vec<u8>>),
    /// Types we carry but do not decode (complex, float8, 4-bit and 2-bit ints): the bytes as
    /// stored, little-endian.
    Raw(Vec<u8>),
    /// The data lives in an external file that was not supplied. Only produced when loading
    /// with [`super::LoadOptions::allow_missing_external`] (inspection needs shapes, not values).
    Missing,
}

/// A constant tensor: an initializer, a `Constant` node's value or a tensor attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DataType,
    pub dims: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    /// Number of elements (product of dims; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// Bytes the tensor occupies in the file's encoding (element size x count).
    pub fn size_bytes(&self) -> u64 {
        self.dtype.bytes_for(self.numel() as u64)
    }

    /// The values, if stored as f32 (float, float16, bfloat16).
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The values, if stored as i64 (int64, uint32).
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Any numeric or bool tensor converted to f32 (precision loss for large integers and
    /// doubles is the caller's choice). `None` for strings, raw and missing data.
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        Some(match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::U64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
            TensorData::Strings(_) | TensorData::Raw(_) | TensorData::Missing => return None,
        })
    }

    /// Integer and bool tensors as i64 (shape arguments, indices, axes). `None` for floats,
    /// strings, raw and missing data, and for uint64 values above `i64::MAX`.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I64(v) => v.clone(),
            TensorData::U64(v) => v.iter().map(|&x| i64::try_from(x).ok()).collect::<Option<Vec<_>>>()?,
            TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(u64),
    /// A named free dimension (`dim_param`), e.g. `batch_size`.
    Symbol(String),
    /// Neither value nor name given.
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Known(v) => write!(f, "{v}"),
            Dim::Symbol(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// The declared type of a graph input, output or intermediate value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// `shape` is `None` when the file gives no shape at all (rank unknown).
    Tensor {
        dtype: Option<DataType>,
        shape: Option<Vec<Dim>>,
    },
    SparseTensor {
        dtype: Option<DataType>,
        shape: Option<Vec<Dim>>,
    },
    Sequence(Box<ValueType>),
    Map {
        key: Option<DataType>,
        value: Box<ValueType>,
    },
    Optional(Box<ValueType>),
    /// No type given, or an opaque type.
    Unknown,
}

impl ValueType {
    pub fn tensor_dtype(&self) -> Option<DataType> {
        match self {
            ValueType::Tensor { dtype, .. } | ValueType::SparseTensor { dtype, .. } => *dtype,
            _ => None,
        }
    }
    pub fn tensor_shape(&self) -> Option<&[Dim]> {
        match self {
            ValueType::Tensor { shape, .. } | ValueType::SparseTensor { shape, .. } => shape.as_deref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueType::Tensor { dtype, shape } | ValueType::SparseTensor { dtype, shape } => {
                if matches!(self, ValueType::SparseTensor { .. }) {
                    f.write_str("sparse ")?;
                }
                match dtype {
                    Some(d) => write!(f, "{d}")?,
                    None => f.write_str("?")?,
                }
                match shape {
                    Some(s) => {
                        let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
                        write!(f, "[{}]", dims.join(", "))
                    }
                    None => f.write_str("[...]"),
                }
            }
            ValueType::Sequence(t) => write!(f, "seq({t})"),
            ValueType::Map { key, value } => {
                write!(f, "map({}, {value})", key.map(|k| k.name()).unwrap_or("?"))
            }
            ValueType::Optional(t) => write!(f, "optional({t})"),
            ValueType::Unknown => f.write_str("?"),
        }
    }
}

/// A named, typed value: graph input/output or a `value_info` annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub ty: ValueType,
}

/// An attribute value. `String`s are bytes in ONNX; they are decoded as UTF-8 (lossily).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(Tensor),
    Graph(Graph),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Graph>),
    /// A sparse tensor attribute, densified.
    SparseTensor(Tensor),
    Type(ValueType),
    /// Inside a function body: refers to the caller's attribute of this name.
    Ref(String),
}

impl AttrValue {
    fn kind(&self) -> &'static str {
        match self {
            AttrValue::Float(_) => "float",
            AttrValue::Int(_) => "int",
            AttrValue::String(_) => "string",
            AttrValue::Tensor(_) => "tensor",
            AttrValue::Graph(_) => "graph",
            AttrValue::Floats(_) => "floats",
            AttrValue::Ints(_) => "ints",
            AttrValue::Strings(_) => "strings",
            AttrValue::Tensors(_) => "tensors",
            AttrValue::Graphs(_) => "graphs",
            AttrValue::SparseTensor(_) => "sparse tensor",
            AttrValue::Type(_) => "type",
            AttrValue::Ref(_) => "reference",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
}

/// One operator application. Input names may be `""` for an omitted optional input.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    /// `""` for the default ONNX domain (`ai.onnx`), else e.g. `ai.onnx.ml`, `com.microsoft`.
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl Node {
    /// A name to show the user: the node name, or `op_type(first output)` when unnamed.
    pub fn display_name(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else {
            format!("{}({})", self.op_type, self.outputs.first().map(String::as_str).unwrap_or(""))
        }
    }

    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// The `i`-th input name, `None` when absent or omitted (`""`).
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn wrong_kind(&self, name: &str, want: &str, got: &AttrValue) -> Error {
        Error::ModelInvalid {
            file: String::new(),
            message: format!(
                "node '{}' ({}): attribute '{name}' is a {} but {want} was expected",
                self.display_name(),
                self.op_type,
                got.kind()
            ),
        }
    }

    /// Int attribute, `default` when absent; an error when present with another type.
    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(v) => Err(self.wrong_kind(name, "an int", v)),
        }
    }

    pub fn attr_float(&self, name: &str, default: f32) -> Result<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(AttrValue::Int(v)) => Ok(*v as f32),
            Some(v) => Err(self.wrong_kind(name, "a float", v)),
        }
    }

    pub fn attr_string(&self, name: &str, default: &str) -> Result<String> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(v)) => Ok(v.clone()),
            Some(v) => Err(self.wrong_kind(name, "a string", v)),
        }
    }

    /// Ints attribute; `None` when absent.
    pub fn attr_ints(&self, name: &str) -> Result<Option<&[i64]>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(v) => Err(self.wrong_kind(name, "a list of ints", v)),
        }
    }

    pub fn attr_floats(&self, name: &str) -> Result<Option<&[f32]>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v)),
            Some(v) => Err(self.wrong_kind(name, "a list of floats", v)),
        }
    }

    pub fn attr_strings(&self, name: &str) -> Result<Option<&[String]>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Strings(v)) => Ok(Some(v)),
            Some(v) => Err(self.wrong_kind(name, "a list of strings", v)),
        }
    }

    pub fn attr_tensor(&self, name: &str) -> Result<Option<&Tensor>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) | Some(AttrValue::SparseTensor(t)) => Ok(Some(t)),
            Some(v) => Err(self.wrong_kind(name, "a tensor", v)),
        }
    }

    pub fn attr_graph(&self, name: &str) -> Result<Option<&Graph>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Graph(g)) => Ok(Some(g)),
            Some(v) => Err(self.wrong_kind(name, "a graph", v)),
        }
    }

    /// Subgraphs held in attributes (If branches, Loop/Scan bodies).
    pub fn subgraphs(&self) -> impl Iterator<Item = &Graph> {
        self.attributes.iter().flat_map(|a| match &a.value {
            AttrValue::Graph(g) => std::slice::from_ref(g),
            AttrValue::Graphs(gs) => gs.as_slice(),
            _ => &[],
        })
    }
}

/// A computation graph. `nodes` keep the file's order, which ONNX requires to be topological;
/// use [`Graph::topological_order`] if a file might not respect that.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    /// Initializers by name (sparse initializers are densified into this map too).
    pub initializers: HashMap<String, Tensor>,
    /// Initializer names in file order (for stable listings).
    pub initializer_order: Vec<String>,
    /// Declared inputs. Older exporters also list initializers here; see
    /// [`Graph::runtime_inputs`] for the ones a caller must feed.
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Optional type/shape annotations of intermediate values.
    pub value_info: Vec<ValueInfo>,
}

impl Graph {
    /// The inputs that are not initializers: what a caller has to provide.
    pub fn runtime_inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.inputs.iter().filter(|v| !self.initializers.contains_key(&v.name))
    }

    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.get(name)
    }

    /// Initializers in file order.
    pub fn initializers_in_order(&self) -> impl Iterator<Item = &Tensor> {
        self.initializer_order.iter().filter_map(|n| self.initializers.get(n))
    }

    /// Node indices in an order where every node comes after the producers of its inputs.
    /// Names not produced inside the graph (inputs, initializers, outer-scope values of a
    /// subgraph) count as available. Errors on a cycle.
    pub fn topological_order(&self) -> Result<Vec<usize>> {
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), i);
            }
        }
        let mut indegree = vec![0usize; self.nodes.len()];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let outer: Vec<String> = n.subgraphs().flat_map(outer_names).collect();
            let mut deps: Vec<usize> = n
                .inputs
                .iter()
                .chain(outer.iter())
                .filter_map(|x| producer.get(x.as_str()).copied())
                .filter(|&p| p != i)
                .collect();
            deps.sort_unstable();
            deps.dedup();
            indegree[i] = deps.len();
            for p in deps {
                users[p].push(i);
            }
        }
        // Stable: among ready nodes, the earliest in file order first.
        let mut ready: std::collections::BTreeSet<usize> =
            (0..self.nodes.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &u in &users[i] {
                indegree[u] -= 1;
                if indegree[u] == 0 {
                    ready.insert(u);
                }
            }
        }
        if order.len() != self.nodes.len() {
            let stuck = (0..self.nodes.len()).find(|&i| indegree[i] > 0).map(|i| self.nodes[i].display_name());
            return Err(Error::ModelInvalid {
                file: String::new(),
                message: format!(
                    "the graph has a cycle (node '{}' depends on its own output); ONNX graphs must be acyclic",
                    stuck.unwrap_or_default()
                ),
            });
        }
        Ok(order)
    }
}

/// Names a subgraph reads from its enclosing scope (inputs of its nodes not defined inside).
fn outer_names(g: &Graph) -> Vec<String> {
    let mut defined: std::collections::HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    defined.extend(g.initializers.keys().map(String::as_str));
    for n in &g.nodes {
        defined.extend(n.outputs.iter().map(String::as_str));
    }
    let mut out = Vec::new();
    for n in &g.nodes {
        for i in &n.inputs {
            if !i.is_empty() && !defined.contains(i.as_str()) {
                out.push(i.clone());
            }
        }
        for sg in n.subgraphs() {
            out.extend(outer_names(sg).into_iter().filter(|x| !defined.contains(x.as_str())));
        }
    }
    out
}

/// An operator set the model imports: `("", 17)` is standard ONNX opset 17.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsetImport {
    pub domain: String,
    pub version: i64,
}

/// A model-local function (custom op defined by a body of standard ops).
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<String>,
    pub nodes: Vec<Node>,
}

/// A loaded ONNX model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    pub opset_imports: Vec<OpsetImport>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc_string: String,
    pub metadata: Vec<(String, String)>,
    pub graph: Graph,
    pub functions: Vec<Function>,
    /// Bytes of the model file plus the external data files it used.
    pub size_bytes: u64,
}

impl Model {
    /// The opset version imported for `domain` (`""` or `"ai.onnx"` for standard ONNX).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let want = if domain == "ai.onnx" { "" } else { domain };
        self.opset_imports
            .iter()
            .find(|o| o.domain == want || (want.is_empty() && o.domain == "ai.onnx"))
            .map(|o| o.version)
    }

    pub fn function(&self, domain: &str, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name && f.domain == domain)
    }

    /// The main graph's nodes with calls to model-local functions replaced by the functions'
    /// bodies (recursively, up to 8 levels). Inner values are renamed `call/name`, and
    /// attribute references take the caller's values. `None` when no node calls a function,
    /// so callers can keep borrowing `self.graph.nodes`.
    pub fn inlined_nodes(&self) -> Option<Vec<Node>> {
        if self.functions.is_empty() || !self.graph.nodes.iter().any(|n| self.function(&n.domain, &n.op_type).is_some())
        {
            return None;
        }
        let mut out = Vec::new();
        for (i, n) in self.graph.nodes.iter().enumerate() {
            self.inline_into(n, &format!("{}#{i}", n.display_name()), 0, &mut out);
        }
        Some(out)
    }

    fn inline_into(&self, n: &Node, prefix: &str, depth: usize, out: &mut Vec<Node>) {
        let Some(f) = self.function(&n.domain, &n.op_type).filter(|_| depth < 8) else {
            out.push(n.clone());
            return;
        };
        let mut map: HashMap<&str, String> = HashMap::new();
        for (k, name) in f.inputs.iter().enumerate() {
            map.insert(name, n.inputs.get(k).cloned().unwrap_or_default());
        }
        for (k, name) in f.outputs.iter().enumerate() {
            map.insert(name, n.outputs.get(k).cloned().unwrap_or_default());
        }
        let rename = |x: &String| -> String {
            if x.is_empty() {
                String::new()
            } else {
                map.get(x.as_str()).cloned().unwrap_or_else(|| format!("{prefix}/{x}"))
            }
        };
        for (j, b) in f.nodes.iter().enumerate() {
            let attributes = b
                .attributes
                .iter()
                .filter_map(|a| match &a.value {
                    AttrValue::Ref(r) => n
                        .attributes
                        .iter()
                        .find(|c| &c.name == r)
                        .map(|c| Attribute { name: a.name.clone(), value: c.value.clone() }),
                    _ => Some(a.clone()),
                })
                .collect();
            let inner = Node {
                name: format!(
                    "{}/{}",
                    n.display_name(),
                    if b.name.is_empty() { format!("{}{j}", b.op_type) } else { b.name.clone() }
                ),
                op_type: b.op_type.clone(),
                domain: b.domain.clone(),
                inputs: b.inputs.iter().map(rename).collect(),
                outputs: b.outputs.iter().map(rename).collect(),
                attributes,
            };
            self.inline_into(&inner, &format!("{prefix}/{j}"), depth + 1, out);
        }
    }
}
