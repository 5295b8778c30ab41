//! The runtime against ONNX's own backend test cases and against onnxruntime.
//!
//! Cases come in ONNX's backend-test layout (`model.onnx` + `test_data_set_N/{input,output}_N.pb`):
//! the node cases are generated from the installed onnx wheel (cached under `target/`), the
//! pytorch-converted / pytorch-operator / simple ones are read from the wheel, and our own
//! models (tests/fixtures/runtime/models, made by make_models.py) carry onnxruntime's outputs.
//! Tolerances are the ONNX backend runner's: |got - want| <= 1e-7 + 1e-3 * |want|.

use std::path::{Path, PathBuf};
use std::process::Command;
use webeval::model::{tensor_from_bytes, Model};
use webeval::runtime::{Data, Session, Tensor};

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-7;

enum Outcome {
    Pass,
    Fail(String),
    Unsupported(String),
}

fn load_pb(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let t = tensor_from_bytes(&path.display().to_string(), &bytes).map_err(|e| e.to_string())?;
    webeval::runtime::executor::from_ir(&t).map_err(|e| e.to_string())
}

fn compare(name: &str, got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.shape != want.shape && !(got.len() == want.len() && got.len() <= 1) {
        return Err(format!("{name}: shape {:?}, expected {:?}", got.shape, want.shape));
    }
    match (&got.data, &want.data) {
        (Data::I64(a), Data::I64(b)) if a != b => Err(format!("{name}: int values differ")),
        (Data::Bool(a), Data::Bool(b)) if a != b => Err(format!("{name}: bool values differ")),
        (Data::Str(a), Data::Str(b)) if a != b => Err(format!("{name}: strings differ")),
        (Data::F32(_), _) | (_, Data::F32(_)) => {
            let (a, b) = (got.to_f32_vec(), want.to_f32_vec());
            for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
                let (x, y) = (x as f64, y as f64);
                let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= ATOL + RTOL * y.abs();
                if !ok {
                    return Err(format!("{name}[{i}]: {x} vs expected {y}"));
                }
            }
            Ok(())
        }
        (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            Err(format!("{name}: type {} vs expected {}", got.dtype(), want.dtype()))
        }
        _ => Ok(()),
    }
}

/// Where a case runs: the CPU executor against the case's goldens, or additionally the GPU
/// session (every node with a GPU kernel on the GPU, the rest on the CPU) against the CPU
/// executor, the oracle, with the same tolerances.
#[derive(Clone, Copy)]
enum Device<'a> {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu(&'a webeval::runtime::gpu::Gpu),
    #[cfg(not(feature = "gpu"))]
    #[allow(dead_code)]
    Never(std::marker::PhantomData<&'a ()>),
}

/// Run one case directory; the single check every runtime test goes through.
fn check(dir: &Path) -> Outcome {
    check_on(dir, Device::Cpu)
}

fn check_on(dir: &Path, device: Device) -> Outcome {
    let model = match std::fs::read(dir.join("model.onnx"))
        .map_err(|e| e.to_string())
        .and_then(|b| Model::from_bytes("model.onnx", b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => return Outcome::Unsupported(format!("model does not load: {e}")),
    };
    let session = match Session::new(&model) {
        Ok(s) => s,
        Err(e) => return Outcome::Unsupported(e.to_string()),
    };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    sets.sort();
    if sets.is_empty() {
        return Outcome::Unsupported("no test data".into());
    }
    #[cfg(feature = "gpu")]
    let gpu_session = match device {
        Device::Gpu(g) => match webeval::runtime::gpu::GpuSession::compile(g.clone(), &model) {
            Ok(s) => Some(s),
            Err(e) => return Outcome::Fail(format!("GPU session: {e}")),
        },
        Device::Cpu => None,
    };
    #[cfg(not(feature = "gpu"))]
    let _ = device;
    let inputs: Vec<String> = session.input_names();
    for set in sets {
        let mut feeds = Vec::new();
        for (j, name) in inputs.iter().enumerate() {
            let p = set.join(format!("input_{j}.pb"));
            if !p.exists() {
                return Outcome::Unsupported(format!("input {j} is not a tensor"));
            }
            match load_pb(&p) {
                Ok(t) => feeds.push((name.clone(), t)),
                Err(e) => return Outcome::Unsupported(format!("input {j}: {e}")),
            }
        }
        #[cfg(feature = "gpu")]
        let gpu_outs = match &gpu_session {
            Some(g) => match g.run_tensors_blocking(feeds.clone()) {
                Ok(o) => Some(o),
                Err(e) => return Outcome::Fail(format!("GPU: {e}")),
            },
            None => None,
        };
        let outs = match session.run(feeds) {
            Ok(o) => o,
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        #[cfg(feature = "gpu")]
        if let Some(gpu_outs) = gpu_outs {
            if gpu_outs.len() != outs.len() {
                return Outcome::Fail(format!("GPU gave {} outputs, the CPU {}", gpu_outs.len(), outs.len()));
            }
            for ((name, got), (_, cpu)) in gpu_outs.iter().zip(&outs) {
                if let Err(e) = compare(name, got, cpu) {
                    return Outcome::Fail(format!("GPU vs CPU: {e}"));
                }
            }
        }
        for (j, (name, got)) in outs.iter().enumerate() {
            let p = set.join(format!("output_{j}.pb"));
            if !p.exists() {
                continue;
            }
            let want = match load_pb(&p) {
                Ok(t) => t,
                Err(e) => return Outcome::Unsupported(format!("output {j}: {e}")),
            };
            if let Err(e) = compare(name, got, &want) {
                return Outcome::Fail(e);
            }
        }
    }
    Outcome::Pass
}

fn python() -> Option<String> {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(&py).args(["-c", "import onnx"]).output().ok().filter(|o| o.status.success()).map(|_| py)
}

fn onnx_data_dir(py: &str) -> Option<PathBuf> {
    let out = Command::new(py)
        .args(["-c", "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data'))"])
        .output()
        .ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Generated node cases, cached under target/ (about 50 MB, 45 s to generate once).
fn node_dir(py: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::var("WEBEVAL_ONNX_NODE_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/onnx-backend-tests"));
    if !out.join("node/.complete").exists() {
        let status =
            Command::new(py).arg(root.join("tests/fixtures/runtime/gen_node_tests.py")).arg(&out).status().ok()?;
        if !status.success() {
            return None;
        }
    }
    Some(out.join("node"))
}

fn cases_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.join("model.onnx").exists()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Node cases that load (their ops are supported) but are known not to match yet, with why.
const KNOWN_FAILURES: &[&str] = &[
    // bool reduction over an empty set: the runtime reduces bools as floats (-inf, not false).
    "test_reduce_max_empty_set_bool",
];

/// The ONNX backend suites: (name, case directories).
fn suites(py: &str) -> Vec<(String, Vec<PathBuf>)> {
    let mut suites: Vec<(String, Vec<PathBuf>)> = Vec::new();
    if let Some(d) = node_dir(py) {
        suites.push(("node".into(), cases_in(&d)));
    }
    if let Some(d) = onnx_data_dir(py) {
        for s in ["simple", "pytorch-operator", "pytorch-converted"] {
            suites.push((s.into(), cases_in(&d.join(s))));
        }
    }
    suites
}

#[test]
fn onnx_backend_conformance() {
    let Some(py) = python() else {
        eprintln!(
            "SKIPPED onnx_backend_conformance: python3 with the onnx package is not available (pip install onnx)"
        );
        return;
    };
    let suites = suites(&py);
    let mut doc = String::from(
        "# ONNX backend conformance\n\nGenerated by `cargo test --test runtime` (tests/runtime.rs) from the ONNX backend test cases of the \
         installed onnx wheel, with the ONNX runner's tolerances (rtol 1e-3, atol 1e-7). *unsupported* means the model \
         uses an operator, data type or input kind the runtime does not implement (it is refused at load time, naming the node).\n\n",
    );
    let mut failures = Vec::new();
    let mut summary = String::from("| suite | cases | passed | failed | unsupported |\n|---|---|---|---|---|\n");
    let mut detail = String::new();
    for (suite, cases) in &suites {
        let (mut pass, mut fail, mut unsup) = (0, 0, 0);
        detail.push_str(&format!("\n## {suite}\n\n| case | result |\n|---|---|\n"));
        for c in cases {
            let name = c.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let (cell, kind) = match check(c) {
                Outcome::Pass => {
                    pass += 1;
                    ("passed".to_string(), 0)
                }
                Outcome::Fail(e) => {
                    fail += 1;
                    if !KNOWN_FAILURES.contains(&name.as_str()) {
                        failures.push(format!("{suite}/{name}: {e}"));
                    }
                    (format!("FAILED: {}", e.replace('|', "/").replace('\n', " ")), 1)
                }
                Outcome::Unsupported(e) => {
                    unsup += 1;
                    let short: String = e.split("(supported:").next().unwrap_or(&e).chars().take(160).collect();
                    (format!("unsupported: {}", short.replace('|', "/").replace('\n', " ")), 2)
                }
            };
            let _ = kind;
            detail.push_str(&format!("| {name} | {cell} |\n"));
        }
        summary.push_str(&format!("| {suite} | {} | {pass} | {fail} | {unsup} |\n", cases.len()));
    }
    doc.push_str(&summary);
    doc.push_str(&detail);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/onnx-conformance.md");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(doc.as_str()) {
        std::fs::write(&path, &doc).expect("write docs/onnx-conformance.md");
    }
    eprintln!("{summary}");
    assert!(failures.is_empty(), "{} ONNX cases with supported ops failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn models_match_onnxruntime() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime/models");
    let cases = cases_in(&dir);
    assert!(!cases.is_empty(), "no fixture models in {}", dir.display());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| match check(c) {
            Outcome::Pass => None,
            Outcome::Fail(e) | Outcome::Unsupported(e) => Some(format!("{}: {e}", c.display())),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} models differ from onnxruntime:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn unsupported_op_is_named_at_load_time() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime/unsupported.onnx");
    let model = Model::from_bytes("unsupported.onnx", std::fs::read(dir).expect("fixture")).expect("loads");
    let err = Session::new(&model).err().expect("must be refused").to_string();
    assert!(err.contains("node 'weird_node'") && err.contains("Einsum") && err.contains("not supported"), "{err}");
}

#[test]
fn demo_model_evaluates_like_scikit_learn() {
    // make_models.py prints scikit-learn's accuracy on the same 450 held-out digits: 0.9778 (440/450).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/demo");
    let model = Model::from_bytes("digits_mlp.onnx", std::fs::read(root.join("digits_mlp.onnx")).expect("demo model"))
        .expect("loads");
    let session = Session::new(&model).expect("compiles");
    let data = std::fs::read(root.join("digits_data.csv")).expect("demo data");
    let ds = webeval::runtime::infer::read_dataset("digits_data.csv", data.as_slice(), Some("label")).expect("dataset");
    assert_eq!((ds.rows, ds.names.len()), (450, 64));
    let mut t = 0.0;
    let mut clock = || {
        t += 1.0;
        t
    };
    let (report, preds, speed) =
        webeval::runtime::infer::evaluate(&model, &session, &ds, 100, &mut clock).expect("runs");
    assert_eq!(report.n, 450);
    assert_eq!(preds.classes.len(), 10);
    let acc = report.metrics["accuracy_score"].as_f64().expect("accuracy");
    assert!((acc - 440.0 / 450.0).abs() < 1e-12, "accuracy {acc}");
    assert_eq!((speed.batches, speed.rows, speed.latency_ms_p50, speed.latency_ms_p99), (5, 450, 1.0, 1.0));
}

/// Every ONNX backend case and fixture model the CPU passes, again through the GPU session
/// (lavapipe natively; CI installs it), compared with the CPU executor within the same
/// tolerances. Nodes without a GPU kernel run on the CPU inside the session, so a case only
/// exercises the GPU through the nodes it has kernels for: the summary counts those.
#[cfg(feature = "gpu")]
#[test]
fn gpu_matches_cpu_on_every_case() {
    let gpu = match webeval::runtime::gpu::Gpu::new_blocking() {
        Ok(g) => g,
        Err(e) => {
            println!("skipped: no adapter ({e})");
            return;
        }
    };
    let mut suites = python().map(|py| suites(&py)).unwrap_or_default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    suites.push(("models".into(), cases_in(&root.join("tests/fixtures/runtime/models"))));
    let mut failures = Vec::new();
    let mut summary = format!(
        "GPU ({}) vs CPU\n| suite | CPU passes | GPU matches | with GPU nodes |\n|---|---|---|---|\n",
        gpu.summary().name
    );
    for (suite, cases) in &suites {
        let (mut cpu_ok, mut gpu_ok, mut on_gpu) = (0, 0, 0);
        for c in cases {
            let name = c.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if KNOWN_FAILURES.contains(&name.as_str()) || !matches!(check(c), Outcome::Pass) {
                continue;
            }
            cpu_ok += 1;
            match check_on(c, Device::Gpu(&gpu)) {
                Outcome::Pass => gpu_ok += 1,
                Outcome::Fail(e) | Outcome::Unsupported(e) => failures.push(format!("{suite}/{name}: {e}")),
            }
            let model = std::fs::read(c.join("model.onnx")).ok().and_then(|b| Model::from_bytes("model.onnx", b).ok());
            let gpu_nodes = model
                .and_then(|m| webeval::runtime::gpu::GpuSession::compile(gpu.clone(), &m).ok())
                .map(|s| s.placement().iter().filter(|p| p.2 == "gpu").count())
                .unwrap_or(0);
            if gpu_nodes > 0 {
                on_gpu += 1;
            }
        }
        summary.push_str(&format!("| {suite} | {cpu_ok} | {gpu_ok} | {on_gpu} |\n"));
    }
    println!("{summary}");
    assert!(failures.is_empty(), "{} cases differ between GPU and CPU:\n{}", failures.len(), failures.join("\n"));
}
