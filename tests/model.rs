//! Model loading, shape inference and complexity, checked against the onnx package.

use bytes::Bytes;
use prost::Message;
use std::path::PathBuf;
use webeval::model::onnx as pb;
use webeval::model::{DataType, LoadOptions, Model, TensorData};

/// The onnx wheel's directory, or `None` (with a printed skip) when python/onnx is missing.
/// Asked once per test binary: importing onnx takes a second.
fn onnx_dir() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        std::process::Command::new("python3")
            .args(["-c", "import onnx,os;print(os.path.dirname(onnx.__file__))"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    });
    if dir.is_none() {
        println!("skipped: onnx wheel not found");
    }
    dir.clone()
}

fn light_models() -> Vec<PathBuf> {
    let Some(dir) = onnx_dir() else { return Vec::new() };
    let light = dir.join("backend/test/data/light");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&light)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "onnx")).collect()
        })
        .unwrap_or_default();
    v.sort();
    assert!(!v.is_empty(), "no light models under {}", light.display());
    v
}

/// One case of tests/fixtures/model/expected.json (written by make_models.py).
#[derive(serde::Deserialize)]
struct Case {
    model: String,
    batch: u64,
    params: u64,
    macs: u64,
    layer_macs: std::collections::HashMap<String, u64>,
    shapes: std::collections::HashMap<String, Vec<u64>>,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(name)
}

/// Inspect the case's model at its batch size and compare params, MACs (total and per
/// layer) and the output shapes onnxruntime produced.
fn check(case: &Case) {
    let path = match case.model.strip_prefix("onnx:") {
        Some(rel) => match onnx_dir() {
            Some(d) => d.join("backend/test/data").join(rel),
            None => return,
        },
        None => fixture(&case.model),
    };
    let opts = webeval::model::ShapeOptions { batch: case.batch, ..Default::default() };
    let card = webeval::model::inspect_path(&path, &opts).unwrap_or_else(|e| panic!("{}: {e}", case.model));
    let what = format!("{} at batch {}", case.model, case.batch);
    assert_eq!(card.params, case.params, "{what}: params");
    assert_eq!(card.macs, case.macs, "{what}: total MACs");
    assert!(card.unknown_ops.is_empty(), "{what}: unknown ops {:?}", card.unknown_ops);
    for (name, &macs) in &case.layer_macs {
        let layer = card.layers.iter().find(|l| &l.name == name).unwrap_or_else(|| panic!("{what}: no layer {name}"));
        assert_eq!(layer.macs, macs, "{what}: MACs of {name}");
    }
    // Every value's shape, as onnxruntime produced it, must match what inference says.
    let mut checked = 0;
    let model = Model::from_path(&path, LoadOptions { allow_missing_external: true }).unwrap();
    let nodes = model.inlined_nodes().unwrap_or_else(|| model.graph.nodes.clone());
    for l in &card.layers {
        let node = nodes.iter().find(|n| n.display_name() == l.name).unwrap();
        if let Some(want) = node.outputs.first().and_then(|o| case.shapes.get(o)) {
            assert_eq!(l.output_shape_at_batch.as_ref(), Some(want), "{what}: shape of {}", l.name);
            checked += 1;
        }
    }
    assert!(checked > 0, "{what}: no shapes compared");
}

#[test]
fn counts_match_onnx_and_independent_formulas() {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 20);
    for c in &cases {
        check(c);
    }
}

#[test]
fn batch_dimension_stays_symbolic() {
    let card = webeval::model::inspect_path(&fixture("cnn.onnx"), &Default::default()).unwrap();
    let fc = card.layers.iter().find(|l| l.name == "fc").unwrap();
    assert_eq!(fc.output_shape, Some(vec![serde_json::json!("N"), serde_json::json!(10)]));
    let conv = card.layers.iter().find(|l| l.name == "conv1").unwrap();
    assert_eq!(serde_json::to_value(&conv.output_shape).unwrap(), serde_json::json!(["N", 8, 32, 32]));
    // The Shape -> Gather -> Concat -> Reshape chain was folded, not counted as layers' weights.
    assert_eq!(card.inputs[0].shape, Some(vec![serde_json::json!("N"), 3.into(), 32.into(), 32.into()]));
    let lstm = webeval::model::inspect_path(&fixture("lstm.onnx"), &Default::default()).unwrap();
    assert_eq!(lstm.batch_symbol, "batch");
    assert_eq!(serde_json::to_value(&lstm.layers[0].output_shape).unwrap(), serde_json::json!([7, 2, "batch", 16]));
}

#[test]
fn loads_light_models() {
    for p in light_models() {
        let m = Model::from_path(&p, Default::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(!m.graph.nodes.is_empty());
        assert_eq!(m.graph.topological_order().unwrap().len(), m.graph.nodes.len());
    }
}

fn tiny_model(init: pb::TensorProto, opset: i64) -> Vec<u8> {
    let graph = pb::GraphProto {
        name: "g".into(),
        node: vec![pb::NodeProto {
            op_type: "Relu".into(),
            name: "relu".into(),
            input: vec![init.name.clone()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        initializer: vec![init],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn float_tensor(name: &str, dims: Vec<i64>, raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto { name: name.into(), dims, data_type: 1, raw_data: raw.into(), ..Default::default() }
}

/// Loading `bytes` must fail with a message containing every one of `needles`.
fn check_error(bytes: Vec<u8>, needles: &[&str]) {
    let err = Model::from_bytes("m.onnx", bytes).expect_err("expected an error").to_string();
    for n in needles {
        assert!(err.contains(n), "error {err:?} lacks {n:?}");
    }
}

#[test]
fn decodes_typed_and_raw_tensors() {
    let raw: Vec<u8> = [1.5f32, -2.0, 3.25].iter().flat_map(|x| x.to_le_bytes()).collect();
    let m = Model::from_bytes("m.onnx", tiny_model(float_tensor("w", vec![3], raw), 17)).unwrap();
    let w = m.graph.initializer("w").unwrap();
    assert_eq!(w.dtype, DataType::Float);
    assert_eq!(w.dims, vec![3]);
    assert_eq!(w.as_f32(), Some(&[1.5f32, -2.0, 3.25][..]));
    assert_eq!(m.opset(""), Some(17));

    let t = pb::TensorProto {
        name: "i".into(),
        dims: vec![2],
        data_type: 7,
        int64_data: vec![4, -5],
        ..Default::default()
    };
    let m = Model::from_bytes("m.onnx", tiny_model(t, 17)).unwrap();
    assert_eq!(m.graph.initializer("i").unwrap().data, TensorData::I64(vec![4, -5]));

    // float16 in int32_data widens to f32 but keeps its dtype.
    let t = pb::TensorProto {
        name: "h".into(),
        dims: vec![2],
        data_type: 10,
        int32_data: vec![0x3c00, 0xc000],
        ..Default::default()
    };
    let m = Model::from_bytes("m.onnx", tiny_model(t, 17)).unwrap();
    let h = m.graph.initializer("h").unwrap();
    assert_eq!((h.dtype, h.to_f32_vec()), (DataType::Float16, Some(vec![1.0, -2.0])));
}

#[test]
fn external_data_is_resolved_and_checked() {
    let mut t = float_tensor("w", vec![2], Vec::new());
    t.data_location = pb::data_location::EXTERNAL;
    let kv = |k: &str, v: &str| pb::StringStringEntryProto { key: k.into(), value: v.into() };
    t.external_data = vec![kv("location", "w.bin"), kv("offset", "4"), kv("length", "8")];
    let bytes = tiny_model(t, 17);
    let blob: Vec<u8> = [0f32, 7.0, 8.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let resolver = |loc: &str| (loc == "w.bin").then(|| Bytes::from(blob.clone()));
    let m = Model::from_bytes_with("m.onnx", bytes.clone(), &resolver, LoadOptions::default()).unwrap();
    assert_eq!(m.graph.initializer("w").unwrap().as_f32(), Some(&[7.0f32, 8.0][..]));
    assert_eq!(m.size_bytes, bytes.len() as u64 + 12);

    check_error(bytes.clone(), &["'w'", "w.bin", "not supplied"]);
    let lenient = LoadOptions { allow_missing_external: true };
    let m = Model::from_bytes_with("m.onnx", bytes.clone(), &|_| None, lenient).unwrap();
    assert_eq!(m.graph.initializer("w").unwrap().data, TensorData::Missing);
    let short = |_: &str| Some(Bytes::from(vec![0u8; 6]));
    let err = Model::from_bytes_with("m.onnx", bytes, &short, LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn bad_models_give_clear_errors() {
    check_error(b"hello, world\n".to_vec(), &["m.onnx", "not an ONNX model", "text file"]);
    check_error(Vec::new(), &["empty"]);
    check_error(b"PK\x03\x04rest".to_vec(), &["zip", "torch.onnx.export"]);
    let good = tiny_model(float_tensor("w", vec![4], vec![0; 16]), 17);
    check_error(good[..good.len() - 7].to_vec(), &["truncated"]);
    check_error(tiny_model(float_tensor("w", vec![4], vec![0; 16]), 99), &["opset 99", "ai.onnx"]);
    // A tensor declaring 2^40 floats with no data: refused before any allocation.
    check_error(tiny_model(float_tensor("huge", vec![1 << 20, 1 << 20], Vec::new()), 17), &["'huge'", "4.4 TB", "0 B"]);
    check_error(tiny_model(float_tensor("ovf", vec![i64::MAX, 4], Vec::new()), 17), &["'ovf'", "more elements"]);
    check_error(tiny_model(float_tensor("neg", vec![-1], Vec::new()), 17), &["'neg'", "negative"]);
    check_error(tiny_model(float_tensor("mis", vec![3], vec![0; 8]), 17), &["'mis'", "12 B", "8 B"]);
    // Random bytes that are not protobuf at all.
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80).collect();
    check_error(noise, &["m.onnx"]);
}

#[test]
fn resnet50_matches_published_figures() {
    let Some(dir) = onnx_dir() else { return };
    let p = dir.join("backend/test/data/light/light_resnet50.onnx");
    let card = webeval::model::inspect_path(&p, &Default::default()).unwrap();
    // Published: 25.6M parameters (25.56M learnable + BatchNorm running statistics, which
    // ONNX stores as initializers), 4.1 GMACs at 224x224.
    assert!((25.5e6..25.7e6).contains(&(card.params as f64)), "params {}", card.params);
    assert!((4.05e9..4.15e9).contains(&(card.macs as f64)), "macs {}", card.macs);
    assert!(card.unknown_ops.is_empty(), "{:?}", card.unknown_ops);
    let last = card.layers.last().unwrap();
    assert_eq!((last.op.as_str(), last.output_shape_at_batch.clone()), ("Softmax", Some(vec![1, 1000])));
}

/// Corrupted files must give an error or a card, never a panic (a panic aborts the page).
#[test]
fn mutated_models_never_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["mlp.onnx", "cnn.onnx", "lstm.onnx", "autoencoder.onnx", "sk_mlp.onnx", "sk_logreg.onnx"] {
        let original = std::fs::read(fixture(name)).unwrap();
        for round in 0..150 {
            let mut bytes = original.clone();
            match round % 3 {
                // Flip a few bytes.
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() % bytes.len() as u64) as usize;
                        bytes[i] ^= 1 << (next() % 8);
                    }
                }
                // Set a byte to an extreme value (varint lengths, dims).
                1 => {
                    let i = (next() % bytes.len() as u64) as usize;
                    bytes[i] = [0x00, 0x7f, 0x80, 0xff][(next() % 4) as usize];
                }
                // Truncate.
                _ => bytes.truncate((next() % bytes.len() as u64) as usize),
            }
            for batch in [1, 1 << 40, u64::MAX] {
                let opts = webeval::model::ShapeOptions { batch, ..Default::default() };
                if let Ok(card) = webeval::model::inspect_bytes(name, bytes.clone(), &|_| None, &opts) {
                    let _ = card.to_json().unwrap();
                    let _ = webeval::model::text::render(&card, 10);
                }
            }
        }
    }
}

fn relu(name: &str, input: &str, output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: "Relu".into(),
        name: name.into(),
        input: vec![input.into()],
        output: vec![output.into()],
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 { Value::DimParam("N".into()) } else { Value::DimValue(d) }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn unknown_ops_are_listed_not_fatal_and_copies_count_once() {
    let f32s = |name: &str, v: &[f32]| {
        float_tensor(name, vec![v.len() as i64], v.iter().flat_map(|x| x.to_le_bytes()).collect())
    };
    let graph = pb::GraphProto {
        name: "g".into(),
        node: vec![
            relu("r1", "x", "a"),
            pb::NodeProto {
                op_type: "FancyAttention".into(),
                domain: "com.example".into(),
                name: "custom".into(),
                input: vec!["a".into(), "w1".into()],
                output: vec!["b".into()],
                ..Default::default()
            },
            pb::NodeProto {
                op_type: "Add".into(),
                name: "add".into(),
                input: vec!["b".into(), "w2".into()],
                output: vec!["c".into()],
                ..Default::default()
            },
            pb::NodeProto {
                op_type: "Mul".into(),
                name: "mul".into(),
                input: vec!["c".into(), "w3".into()],
                output: vec!["y".into()],
                ..Default::default()
            },
        ],
        // w1 and w2 are byte-identical copies; w3 differs.
        initializer: vec![f32s("w1", &[1.0, 2.0, 3.0]), f32s("w2", &[1.0, 2.0, 3.0]), f32s("w3", &[1.0, 2.0, 4.0])],
        input: vec![value_info("x", &[-1, 3])],
        output: vec![value_info("y", &[-1, 3])],
        // The file declares the custom op's output shape: downstream layers still get counted.
        value_info: vec![value_info("b", &[-1, 3])],
        ..Default::default()
    };
    let bytes = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![
            pb::OperatorSetIdProto { domain: String::new(), version: 17 },
            pb::OperatorSetIdProto { domain: "com.example".into(), version: 1 },
        ],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec();
    let opts = webeval::model::ShapeOptions { batch: 4, ..Default::default() };
    let card = webeval::model::inspect_bytes("m.onnx", bytes, &|_| None, &opts).unwrap();
    assert_eq!((card.params, card.unique_params), (9, 6));
    assert_eq!(card.unknown_ops, vec!["com.example::FancyAttention".to_string()]);
    let custom = &card.layers[1];
    assert!(custom.unknown && custom.macs == 0 && custom.params == 3);
    assert_eq!(custom.output_shape_at_batch, Some(vec![4, 3]));
    // Add and Mul after the unknown op: one FLOP per element each, 4 x 3 elements.
    assert_eq!(card.layers[2].flops, 12);
    assert_eq!(card.layers[3].flops, 12);
    assert_eq!(card.flops, 12 + 12 + 12);
    assert_eq!((card.layer_count, card.depth), (4, 4));

    // The JSON contract other tools rely on.
    let v: serde_json::Value = serde_json::from_str(&card.to_json().unwrap()).unwrap();
    for key in [
        "params",
        "macs",
        "flops",
        "layers",
        "unique_params",
        "activation_bytes",
        "size_bytes",
        "opset",
        "by_op",
        "by_dtype",
        "depth",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["name", "op", "params", "macs", "output_shape"] {
        assert!(v["layers"][0].get(key).is_some(), "layer lacks {key}");
    }
    assert_eq!(v["layers"][3]["output_shape"], serde_json::json!(["N", 3]));
    let text = webeval::model::text::render(&card, 0);
    assert!(text.contains("FancyAttention (unknown)"), "{text}");
}
