//! ONNX bytes -> [`Model`]: decoding, validation and tensor-data extraction.
//!
//! This is the one place that knows the protobuf's storage rules (raw_data vs typed fields vs
//! external files, which ints live in `int32_data`, sparse initializers). Every size a file
//! *declares* is checked against the bytes it actually *holds* before anything is allocated,
//! so a hostile or truncated file costs at most its own size.

use super::ir::*;
use super::onnx;
use crate::{Error, Result};
use bytes::Bytes;
use prost::Message;

/// Highest opset per domain that webeval knows (onnx 1.23: ai.onnx 28, ai.onnx.ml 5).
pub const MAX_OPSET_ONNX: i64 = 28;
pub const MAX_OPSET_ML: i64 = 5;
/// A sparse tensor is densified on load; refuse to do so beyond this size.
pub const MAX_DENSIFIED_BYTES: u64 = 1 << 30;

/// How strict the loader is.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept tensors whose external data file was not supplied (their data becomes
    /// [`TensorData::Missing`]). Inspection only needs shapes; an executor needs values.
    pub allow_missing_external: bool,
}

/// Supplies an external-data file by the `location` a tensor names (relative path).
pub type ExternalResolver<'a> = dyn Fn(&str) -> Option<Bytes> + 'a;

struct Ctx<'a> {
    file: &'a str,
    external: &'a ExternalResolver<'a>,
    opts: LoadOptions,
    /// External files already fetched, so a 100-tensor model reads its weight file once.
    cache: std::cell::RefCell<std::collections::HashMap<String, Option<Bytes>>>,
    external_bytes: std::cell::Cell<u64>,
}

impl Model {
    /// Load a self-contained model (no external data files).
    pub fn from_bytes(file_name: &str, bytes: impl Into<Bytes>) -> Result<Model> {
        load(file_name, bytes.into(), &|_| None, LoadOptions::default())
    }

    /// Load a model whose tensors may live in external files, fetched through `external`.
    pub fn from_bytes_with(
        file_name: &str,
        bytes: impl Into<Bytes>,
        external: &ExternalResolver<'_>,
        opts: LoadOptions,
    ) -> Result<Model> {
        load(file_name, bytes.into(), external, opts)
    }

    /// Load from a path; external data files are looked up next to the model.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path, opts: LoadOptions) -> Result<Model> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Io { file: file.clone(), message: e.to_string() })?;
        let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let resolver = move |loc: &str| -> Option<Bytes> {
            let rel = std::path::Path::new(loc);
            if !safe_relative(loc) {
                return None;
            }
            std::fs::read(dir.join(rel)).ok().map(Bytes::from)
        };
        load(&file, Bytes::from(bytes), &resolver, opts)
    }
}

/// External locations must stay beside the model: no absolute paths, no `..`.
pub fn safe_relative(loc: &str) -> bool {
    let p = std::path::Path::new(loc);
    !loc.is_empty()
        && !loc.starts_with('/')
        && !loc.starts_with('\\')
        && !loc.contains(':')
        && p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const EXPORT: &str = "export it to ONNX first (torch.onnx.export, tf2onnx, skl2onnx)";
    if bytes.is_empty() {
        return Some(("the file is empty", "check that the download or copy finished"));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(("it is a zip archive, e.g. a PyTorch .pt/.pth checkpoint or a Keras .keras file", EXPORT));
    }
    if bytes.starts_with(b"\x89HDF") {
        return Some(("it is an HDF5 file, e.g. a Keras .h5 model", EXPORT));
    }
    if bytes.len() >= 8 && &bytes[4..8] == b"TFL3" {
        return Some(("it is a TensorFlow Lite flatbuffer", EXPORT));
    }
    if bytes.starts_with(b"\x80\x02") || bytes.starts_with(b"\x80\x04") || bytes.starts_with(b"\x80\x05") {
        return Some(("it is a Python pickle, e.g. a PyTorch or scikit-learn model", EXPORT));
    }
    let head = &bytes[..bytes.len().min(64)];
    let text = head.iter().all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if text {
        let s = String::from_utf8_lossy(head);
        let t = s.trim_start();
        if t.starts_with("ir_version") || t.starts_with('<') {
            return Some((
                "it is ONNX text format, not the binary protobuf",
                "convert it with onnx.save(onnx.parser.parse_model(text), 'model.onnx') or onnx.save(model) from Python",
            ));
        }
        return Some(("it is a text file", "expected a binary .onnx file"));
    }
    None
}

fn load(file: &str, bytes: Bytes, external: &ExternalResolver<'_>, opts: LoadOptions) -> Result<Model> {
    if let Some((reason, hint)) = sniff(&bytes) {
        return Err(Error::NotOnnx { file: file.to_string(), reason: reason.to_string(), hint: hint.to_string() });
    }
    let size = bytes.len() as u64;
    let proto = onnx::ModelProto::decode(bytes).map_err(|e| Error::NotOnnx {
        file: file.to_string(),
        reason: format!("the protobuf does not decode: {e}"),
        hint: "the file is truncated or not an ONNX model; compare its size with the original and copy it again"
            .to_string(),
    })?;
    let Some(graph) = proto.graph else {
        return Err(Error::NotOnnx {
            file: file.to_string(),
            reason: "it decodes as protobuf but has no graph".to_string(),
            hint: "expected a ModelProto as written by onnx.save; a bare TensorProto or GraphProto is not a model"
                .to_string(),
        });
    };
    if proto.ir_version <= 0 {
        return Err(Error::NotOnnx {
            file: file.to_string(),
            reason: "it has no ir_version".to_string(),
            hint: "expected a ModelProto as written by onnx.save".to_string(),
        });
    }
    let mut opset_imports = Vec::new();
    for o in &proto.opset_import {
        let domain = if o.domain == "ai.onnx" { String::new() } else { o.domain.clone() };
        let max = match domain.as_str() {
            "" => Some(MAX_OPSET_ONNX),
            "ai.onnx.ml" => Some(MAX_OPSET_ML),
            _ => None,
        };
        if let Some(max) = max {
            if o.version < 1 || o.version > max {
                return Err(Error::UnsupportedOpset {
                    file: file.to_string(),
                    domain: if domain.is_empty() { "ai.onnx".into() } else { domain },
                    version: o.version,
                    max,
                });
            }
        }
        opset_imports.push(OpsetImport { domain, version: o.version });
    }
    let ctx = Ctx { file, external, opts, cache: Default::default(), external_bytes: std::cell::Cell::new(0) };
    let graph = convert_graph(&ctx, graph)?;
    let functions = proto
        .functions
        .into_iter()
        .map(|f| {
            Ok(Function {
                name: f.name,
                domain: f.domain,
                inputs: f.input,
                outputs: f.output,
                attributes: f.attribute,
                nodes: f.node.into_iter().map(|n| convert_node(&ctx, n)).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Model {
        ir_version: proto.ir_version,
        opset_imports,
        producer_name: proto.producer_name,
        producer_version: proto.producer_version,
        domain: proto.domain,
        model_version: proto.model_version,
        doc_string: proto.doc_string,
        metadata: proto.metadata_props.into_iter().map(|e| (e.key, e.value)).collect(),
        graph,
        functions,
        size_bytes: size + ctx.external_bytes.get(),
    })
}

fn convert_graph(ctx: &Ctx<'_>, g: onnx::GraphProto) -> Result<Graph> {
    let mut initializers = std::collections::HashMap::new();
    let mut initializer_order = Vec::new();
    for t in g.initializer {
        let t = convert_tensor(ctx, t)?;
        initializer_order.push(t.name.clone());
        initializers.insert(t.name.clone(), t);
    }
    for s in g.sparse_initializer {
        let t = convert_sparse(ctx, s)?;
        initializer_order.push(t.name.clone());
        initializers.insert(t.name.clone(), t);
    }
    Ok(Graph {
        name: g.name,
        nodes: g.node.into_iter().map(|n| convert_node(ctx, n)).collect::<Result<_>>()?,
        initializers,
        initializer_order,
        inputs: g.input.into_iter().map(convert_value_info).collect(),
        outputs: g.output.into_iter().map(convert_value_info).collect(),
        value_info: g.value_info.into_iter().map(convert_value_info).collect(),
    })
}

fn convert_node(ctx: &Ctx<'_>, n: onnx::NodeProto) -> Result<Node> {
    let name = n.name;
    let mut attributes = Vec::with_capacity(n.attribute.len());
    for a in n.attribute {
        let aname = a.name.clone();
        let value = convert_attr(ctx, a).map_err(|e| match e {
            Error::ModelInvalid { file, message } => Error::ModelInvalid {
                file,
                message: format!("node '{name}' ({}), attribute '{aname}': {message}", n.op_type),
            },
            other => other,
        })?;
        attributes.push(Attribute { name: aname, value });
    }
    let domain = if n.domain == "ai.onnx" { String::new() } else { n.domain };
    Ok(Node { name, op_type: n.op_type, domain, inputs: n.input, outputs: n.output, attributes })
}

fn lossy(s: Vec<u8>) -> String {
    String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn convert_attr(ctx: &Ctx<'_>, a: onnx::AttributeProto) -> Result<AttrValue> {
    use onnx::attribute_type as t;
    if !a.ref_attr_name.is_empty() {
        return Ok(AttrValue::Ref(a.ref_attr_name));
    }
    let mut ty = a.r#type;
    if ty == t::UNDEFINED {
        // Very old files omit the type; infer it from the field that is set.
        ty = if a.t.is_some() {
            t::TENSOR
        } else if a.g.is_some() {
            t::GRAPH
        } else if !a.floats.is_empty() {
            t::FLOATS
        } else if !a.ints.is_empty() {
            t::INTS
        } else if !a.strings.is_empty() {
            t::STRINGS
        } else if !a.s.is_empty() {
            t::STRING
        } else if a.f != 0.0 {
            t::FLOAT
        } else {
            t::INT
        };
    }
    let missing = |what: &str| Error::ModelInvalid {
        file: ctx.file.to_string(),
        message: format!("declared as {what} but holds no value"),
    };
    Ok(match ty {
        t::FLOAT => AttrValue::Float(a.f),
        t::INT => AttrValue::Int(a.i),
        t::STRING => AttrValue::String(lossy(a.s)),
        t::TENSOR => AttrValue::Tensor(convert_tensor(ctx, a.t.ok_or_else(|| missing("a tensor"))?)?),
        t::GRAPH => AttrValue::Graph(convert_graph(ctx, a.g.ok_or_else(|| missing("a graph"))?)?),
        t::FLOATS => AttrValue::Floats(a.floats),
        t::INTS => AttrValue::Ints(a.ints),
        t::STRINGS => AttrValue::Strings(a.strings.into_iter().map(lossy).collect()),
        t::TENSORS => AttrValue::Tensors(a.tensors.into_iter().map(|x| convert_tensor(ctx, x)).collect::<Result<_>>()?),
        t::GRAPHS => AttrValue::Graphs(a.graphs.into_iter().map(|g| convert_graph(ctx, g)).collect::<Result<_>>()?),
        t::SPARSE_TENSOR => {
            AttrValue::SparseTensor(convert_sparse(ctx, a.sparse_tensor.ok_or_else(|| missing("a sparse tensor"))?)?)
        }
        t::SPARSE_TENSORS => {
            // Rare; densify the first only if someone needs it. Listed as a type for now.
            AttrValue::Tensors(a.sparse_tensors.into_iter().map(|s| convert_sparse(ctx, s)).collect::<Result<_>>()?)
        }
        t::TYPE_PROTO => AttrValue::Type(a.tp.map(convert_type).unwrap_or(ValueType::Unknown)),
        t::TYPE_PROTOS => AttrValue::Type(ValueType::Unknown),
        other => {
            return Err(Error::ModelInvalid {
                file: ctx.file.to_string(),
                message: format!("attribute type code {other} is not a known ONNX attribute type"),
            })
        }
    })
}

fn convert_value_info(v: onnx::ValueInfoProto) -> ValueInfo {
    ValueInfo { name: v.name, ty: v.r#type.map(convert_type).unwrap_or(ValueType::Unknown) }
}

fn convert_shape(s: Option<onnx::TensorShapeProto>) -> Option<Vec<Dim>> {
    use onnx::tensor_shape_proto::dimension::Value;
    s.map(|s| {
        s.dim
            .into_iter()
            .map(|d| match d.value {
                Some(Value::DimValue(v)) if v >= 0 => Dim::Known(v as u64),
                Some(Value::DimParam(p)) if !p.is_empty() => Dim::Symbol(p),
                _ => Dim::Unknown,
            })
            .collect()
    })
}

fn convert_type(t: onnx::TypeProto) -> ValueType {
    use onnx::type_proto::Value;
    let boxed = |t: Option<Box<onnx::TypeProto>>| Box::new(t.map(|t| convert_type(*t)).unwrap_or(ValueType::Unknown));
    match t.value {
        Some(Value::TensorType(tt)) => {
            ValueType::Tensor { dtype: DataType::from_code(tt.elem_type), shape: convert_shape(tt.shape) }
        }
        Some(Value::SparseTensorType(tt)) => {
            ValueType::SparseTensor { dtype: DataType::from_code(tt.elem_type), shape: convert_shape(tt.shape) }
        }
        Some(Value::SequenceType(s)) => ValueType::Sequence(boxed(s.elem_type)),
        Some(Value::MapType(m)) => ValueType::Map { key: DataType::from_code(m.key_type), value: boxed(m.value_type) },
        Some(Value::OptionalType(o)) => ValueType::Optional(boxed(o.elem_type)),
        Some(Value::OpaqueType(_)) | None => ValueType::Unknown,
    }
}

fn tensor_name(t: &onnx::TensorProto) -> String {
    if t.name.is_empty() {
        "<unnamed>".to_string()
    } else {
        t.name.clone()
    }
}

/// Validated dims and element count of a tensor.
fn checked_dims(ctx: &Ctx<'_>, name: &str, dims: &[i64]) -> Result<(Vec<usize>, u64)> {
    let bad = |message: String| Error::BadTensor { file: ctx.file.to_string(), tensor: name.to_string(), message };
    let mut n: u64 = 1;
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        if d < 0 {
            return Err(bad(format!("dimension {d} in {dims:?} is negative")));
        }
        n = n
            .checked_mul(d as u64)
            .ok_or_else(|| bad(format!("dims {dims:?} declare more elements than any memory can hold")))?;
        out.push(usize::try_from(d).map_err(|_| bad(format!("dimension {d} does not fit this platform")))?);
    }
    usize::try_from(n)
        .map_err(|_| bad(format!("dims {dims:?} declare {n} elements, more than this platform can address")))?;
    Ok((out, n))
}

fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut x = b as f64;
    let mut i = 0;
    while x >= 1000.0 && i < U.len() - 1 {
        x /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", U[i])
    }
}

fn convert_tensor(ctx: &Ctx<'_>, t: onnx::TensorProto) -> Result<Tensor> {
    let name = tensor_name(&t);
    let bad = |message: String| Error::BadTensor { file: ctx.file.to_string(), tensor: name.clone(), message };
    let dtype = DataType::from_code(t.data_type).ok_or_else(|| {
        bad(format!("data type code {} is not a known ONNX type (expected 1..=26, e.g. 1 = float32)", t.data_type))
    })?;
    let (dims, numel) = checked_dims(ctx, &name, &t.dims)?;
    let want_bytes = dtype.bytes_for(numel);

    let data = if t.data_location == onnx::data_location::EXTERNAL {
        match external_slice(ctx, &name, &t.external_data, want_bytes, dtype)? {
            Some(raw) => decode_raw(dtype, numel, &raw),
            None => TensorData::Missing,
        }
    } else if !t.raw_data.is_empty() || (numel > 0 && dtype != DataType::String && typed_len(&t, dtype) == 0) {
        if dtype == DataType::String {
            return Err(bad("string tensors cannot use raw_data".into()));
        }
        if t.raw_data.len() as u64 != want_bytes {
            return Err(bad(format!(
                "dims {:?} of {dtype} declare {numel} elements ({}) but the file stores {}; the file is corrupt or was cut short",
                t.dims,
                human_bytes(want_bytes),
                human_bytes(t.raw_data.len() as u64)
            )));
        }
        decode_raw(dtype, numel, &t.raw_data)
    } else {
        let have = typed_len(&t, dtype);
        let expect = typed_expected(dtype, numel);
        if have != expect {
            return Err(bad(format!(
                "dims {:?} declare {numel} elements of {dtype} but the file stores {have} values",
                t.dims
            )));
        }
        decode_typed(t, dtype)
    };
    Ok(Tensor { name, dtype, dims, data })
}

/// How many entries of its typed field a tensor of `numel` elements must have.
fn typed_expected(dtype: DataType, numel: u64) -> u64 {
    use DataType::*;
    match dtype {
        Complex64 | Complex128 => numel * 2,
        Uint4 | Int4 | Float4E2M1 => numel.div_ceil(2),
        Uint2 | Int2 => numel.div_ceil(4),
        _ => numel,
    }
}

fn typed_len(t: &onnx::TensorProto, dtype: DataType) -> u64 {
    use DataType::*;
    (match dtype {
        Float | Complex64 => t.float_data.len(),
        Double | Complex128 => t.double_data.len(),
        Int64 => t.int64_data.len(),
        Uint32 | Uint64 => t.uint64_data.len(),
        String => t.string_data.len(),
        _ => t.int32_data.len(),
    }) as u64
}

fn decode_typed(t: onnx::TensorProto, dtype: DataType) -> TensorData {
    use DataType::*;
    match dtype {
        Float => TensorData::F32(t.float_data),
        Double => TensorData::F64(t.double_data),
        Int64 => TensorData::I64(t.int64_data),
        Uint64 => TensorData::U64(t.uint64_data),
        Uint32 => TensorData::I64(t.uint64_data.into_iter().map(|x| x as i64).collect()),
        String => TensorData::Strings(t.string_data),
        Int32 | Int16 | Uint16 => TensorData::I32(t.int32_data),
        Uint8 => TensorData::U8(t.int32_data.into_iter().map(|x| x as u8).collect()),
        Int8 => TensorData::I8(t.int32_data.into_iter().map(|x| x as i8).collect()),
        Bool => TensorData::Bool(t.int32_data.into_iter().map(|x| x != 0).collect()),
        Float16 => TensorData::F32(t.int32_data.into_iter().map(|x| half::f16::from_bits(x as u16).to_f32()).collect()),
        Bfloat16 => {
            TensorData::F32(t.int32_data.into_iter().map(|x| half::bf16::from_bits(x as u16).to_f32()).collect())
        }
        Complex64 => TensorData::Raw(t.float_data.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Complex128 => TensorData::Raw(t.double_data.iter().flat_map(|x| x.to_le_bytes()).collect()),
        // float8 (one value per int32) and packed 4/2-bit ints (one byte per int32).
        _ => TensorData::Raw(t.int32_data.into_iter().map(|x| x as u8).collect()),
    }
}

/// Little-endian fixed-width bytes -> typed values. `raw.len()` was checked by the caller.
fn decode_raw(dtype: DataType, numel: u64, raw: &[u8]) -> TensorData {
    use DataType::*;
    fn chunks<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        raw.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    let _ = numel;
    match dtype {
        Float => TensorData::F32(chunks(raw, f32::from_le_bytes)),
        Double => TensorData::F64(chunks(raw, f64::from_le_bytes)),
        Int64 => TensorData::I64(chunks(raw, i64::from_le_bytes)),
        Uint64 => TensorData::U64(chunks(raw, u64::from_le_bytes)),
        Uint32 => TensorData::I64(chunks(raw, |b| u32::from_le_bytes(b) as i64)),
        Int32 => TensorData::I32(chunks(raw, i32::from_le_bytes)),
        Int16 => TensorData::I32(chunks(raw, |b| i16::from_le_bytes(b) as i32)),
        Uint16 => TensorData::I32(chunks(raw, |b| u16::from_le_bytes(b) as i32)),
        Uint8 => TensorData::U8(raw.to_vec()),
        Int8 => TensorData::I8(raw.iter().map(|&b| b as i8).collect()),
        Bool => TensorData::Bool(raw.iter().map(|&b| b != 0).collect()),
        Float16 => TensorData::F32(chunks(raw, |b| half::f16::from_le_bytes(b).to_f32())),
        Bfloat16 => TensorData::F32(chunks(raw, |b| half::bf16::from_le_bytes(b).to_f32())),
        _ => TensorData::Raw(raw.to_vec()),
    }
}

fn external_slice(
    ctx: &Ctx<'_>,
    name: &str,
    entries: &[onnx::StringStringEntryProto],
    want_bytes: u64,
    dtype: DataType,
) -> Result<Option<Bytes>> {
    let get = |k: &str| entries.iter().find(|e| e.key == k).map(|e| e.value.as_str());
    let location = get("location").unwrap_or("").to_string();
    let err = |message: String| Error::ExternalData {
        file: ctx.file.to_string(),
        tensor: name.to_string(),
        location: location.clone(),
        message,
    };
    if location.is_empty() {
        return Err(Error::BadTensor {
            file: ctx.file.to_string(),
            tensor: name.to_string(),
            message: "is marked as external data but names no location".into(),
        });
    }
    if !safe_relative(&location) {
        return Err(err("is not a plain relative path (absolute paths and '..' are refused)".into()));
    }
    let parse = |k: &str| -> Result<Option<u64>> {
        match get(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| err(format!("has a non-numeric {k} '{v}'"))),
        }
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?;
    if dtype == DataType::String {
        return Err(err("holds strings, which ONNX cannot store externally".into()));
    }
    let data = {
        let mut cache = ctx.cache.borrow_mut();
        let entry = cache.entry(location.clone()).or_insert_with(|| {
            let d = (ctx.external)(&location);
            if let Some(d) = &d {
                ctx.external_bytes.set(ctx.external_bytes.get() + d.len() as u64);
            }
            d
        });
        entry.clone()
    };
    let Some(data) = data else {
        if ctx.opts.allow_missing_external {
            return Ok(None);
        }
        return Err(err("was not supplied".into()));
    };
    let len = length.unwrap_or_else(|| (data.len() as u64).saturating_sub(offset));
    if len != want_bytes {
        return Err(err(format!(
            "gives {} for a tensor that needs {} by its dims",
            human_bytes(len),
            human_bytes(want_bytes)
        )));
    }
    let end = offset.checked_add(len).filter(|&e| e <= data.len() as u64).ok_or_else(|| {
        err(format!(
            "is {} long but the tensor reads bytes {offset}..{}; the file is truncated or belongs to another model",
            human_bytes(data.len() as u64),
            offset.saturating_add(len)
        ))
    })?;
    Ok(Some(data.slice(offset as usize..end as usize)))
}

fn convert_sparse(ctx: &Ctx<'_>, s: onnx::SparseTensorProto) -> Result<Tensor> {
    let values = s.values.ok_or_else(|| Error::BadTensor {
        file: ctx.file.to_string(),
        tensor: "<sparse>".into(),
        message: "sparse tensor has no values".into(),
    })?;
    let name = tensor_name(&values);
    let bad = |message: String| Error::BadTensor { file: ctx.file.to_string(), tensor: name.clone(), message };
    let values = convert_tensor(ctx, values)?;
    let (dims, numel) = checked_dims(ctx, &name, &s.dims)?;
    let dense_bytes = values.dtype.bytes_for(numel);
    if dense_bytes > MAX_DENSIFIED_BYTES {
        return Err(bad(format!(
            "sparse tensor of dims {:?} would need {} dense; webeval densifies at most {}",
            s.dims,
            human_bytes(dense_bytes),
            human_bytes(MAX_DENSIFIED_BYTES)
        )));
    }
    let indices = match s.indices {
        Some(i) => convert_tensor(ctx, i)?.to_i64_vec().ok_or_else(|| bad("sparse indices are not integers".into()))?,
        None => Vec::new(),
    };
    let nnz = values.numel();
    let rank = dims.len();
    // Indices are either [NNZ] linear positions or [NNZ, rank] coordinates.
    let linear: Vec<u64> = if indices.len() == nnz {
        indices.iter().map(|&i| i as u64).collect()
    } else if rank > 0 && indices.len() == nnz * rank {
        indices
            .chunks_exact(rank)
            .map(|c| {
                c.iter().zip(&dims).fold(0u64, |acc, (&i, &d)| acc.saturating_mul(d as u64).saturating_add(i as u64))
            })
            .collect()
    } else {
        return Err(bad(format!("{} sparse indices do not fit {nnz} values of rank {rank}", indices.len())));
    };
    if linear.iter().any(|&i| i >= numel) {
        return Err(bad(format!("a sparse index is outside dims {:?}", s.dims)));
    }
    let n = numel as usize;
    macro_rules! scatter {
        ($v:expr, $zero:expr, $variant:ident) => {{
            let mut out = vec![$zero; n];
            for (&i, x) in linear.iter().zip($v.iter()) {
                out[i as usize] = x.clone();
            }
            TensorData::$variant(out)
        }};
    }
    let data = match &values.data {
        TensorData::F32(v) => scatter!(v, 0.0f32, F32),
        TensorData::F64(v) => scatter!(v, 0.0f64, F64),
        TensorData::I32(v) => scatter!(v, 0i32, I32),
        TensorData::I64(v) => scatter!(v, 0i64, I64),
        TensorData::U64(v) => scatter!(v, 0u64, U64),
        TensorData::U8(v) => scatter!(v, 0u8, U8),
        TensorData::I8(v) => scatter!(v, 0i8, I8),
        TensorData::Bool(v) => scatter!(v, false, Bool),
        TensorData::Missing => TensorData::Missing,
        _ => return Err(bad(format!("sparse tensors of {} are not supported", values.dtype))),
    };
    Ok(Tensor { name, dtype: values.dtype, dims, data })
}

/// Decode one serialized `TensorProto` (the `input_N.pb` / `output_N.pb` files of ONNX's
/// backend test cases, or tensors saved with `onnx.numpy_helper`). External data is refused.
pub fn tensor_from_bytes(name: &str, bytes: &[u8]) -> Result<Tensor> {
    let proto = onnx::TensorProto::decode(bytes).map_err(|e| Error::BadTensor {
        file: name.to_string(),
        tensor: name.to_string(),
        message: format!("not a serialized TensorProto: {e}"),
    })?;
    let ctx = Ctx {
        file: name,
        external: &|_| None,
        opts: LoadOptions::default(),
        cache: Default::default(),
        external_bytes: std::cell::Cell::new(0),
    };
    convert_tensor(&ctx, proto)
}
