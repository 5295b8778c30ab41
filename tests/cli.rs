//! The CLI contract of DESIGN.md: `webeval eval FILE --format json` prints one JSON object
//! whose metric values match scikit-learn (goldens made by tests/fixtures/e2e/make_demo.py),
//! and bad input exits non-zero with a message naming file, line and column.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn webeval(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_webeval")).args(args).current_dir(root()).output().expect("run webeval");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Numbers within 1e-9 relative (or 1e-12 absolute near zero); nested arrays element-wise.
fn assert_close(key: &str, got: &Value, want: &Value) {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{key}: length");
            for (g, w) in g.iter().zip(w) {
                assert_close(key, g, w);
            }
        }
        (Value::Null, Value::Null) => {}
        _ => {
            let (g, w) = (got.as_f64(), want.as_f64());
            let (Some(g), Some(w)) = (g, w) else { panic!("{key}: got {got}, want {want}") };
            assert!((g - w).abs() <= 1e-9 * w.abs().max(1e-3), "{key}: got {g}, want {w}");
        }
    }
}

fn check(file: &str, expected: &Value) {
    let path = format!("www/demo/{file}");
    let (code, stdout, stderr) = webeval(&["eval", &path, "--format", "json"]);
    assert_eq!(code, 0, "{file}: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["task"], expected["task"], "{file}: task");
    assert_eq!(report["n"], expected["n"], "{file}: n");
    assert!(report["classes"].is_array(), "{file}: classes");
    for (key, want) in expected["metrics"].as_object().expect("metrics") {
        let got = report["metrics"].get(key).unwrap_or_else(|| panic!("{file}: metric {key} missing"));
        assert_close(&format!("{file} {key}"), got, want);
    }
}

#[test]
fn eval_json_matches_sklearn() {
    let goldens: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/e2e/goldens.json")).unwrap())
            .unwrap();
    let cases = goldens.as_object().unwrap();
    assert!(cases.len() >= 3);
    for (file, expected) in cases {
        check(file, expected);
    }
}

fn check_error(file: &str, needles: &[&str]) {
    let path = format!("tests/fixtures/e2e/bad/{file}");
    let (code, stdout, stderr) = webeval(&["eval", &path, "--format", "json"]);
    assert_eq!(code, 2, "{file}: exit code; stdout {stdout}");
    assert!(stdout.is_empty(), "{file}: no report on error");
    for n in needles {
        assert!(stderr.contains(n), "{file}: '{n}' not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{file}: {stderr}");
}

#[test]
fn bad_input_gives_specific_errors() {
    check_error("ragged.csv", &["ragged.csv, line 3", "3 fields but the header has 2"]);
    check_error("empty.csv", &["empty.csv", "is empty"]);
    check_error("not_numeric.csv", &["line 3", "column 'score'", "'abc' is not a number"]);
    check_error("no_label.csv", &["no true-label column", "--label"]);
    check_error("class_mismatch.csv", &["line 3", "label 'd' has no probability column"]);
    check_error("does_not_exist.csv", &["cannot read"]);
}

#[test]
fn explicit_columns_and_task_flags() {
    let (code, stdout, stderr) =
        webeval(&["eval", "www/demo/breast_cancer.csv", "--label", "y_true", "--pred", "y_pred", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["columns"]["pred"], "y_pred");
    let (code, _, stderr) = webeval(&["eval", "www/demo/breast_cancer.csv", "--label", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("column 'nope' was asked for"), "{stderr}");
    // --threads: any number gives the same report (tests/data.rs checks files of many chunks)
    let threads = |n: &str| webeval(&["eval", "www/demo/breast_cancer.csv", "--threads", n, "--format", "json"]);
    let (one, three) = (threads("1"), threads("3"));
    assert_eq!(one.0, 0, "{}", one.2);
    assert_eq!(one.1, three.1);
    let (code, stdout, _) = webeval(&["eval", "www/demo/diabetes.csv", "--format", "text"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("regression task, 133 rows"), "{stdout}");
    // Per-class score columns under any names, in class order (the page's mapping panel does the same).
    let renamed = "tests/fixtures/data/multi_renamed.csv";
    let args =
        ["eval", renamed, "--label", "animal", "--probs", "ant,bee,cow", "--weight", "importance", "--format", "json"];
    let (code, stdout, stderr) = webeval(&args);
    assert_eq!(code, 0, "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/data/cases.json")).unwrap()).unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["files"][0] == renamed.rsplit('/').next().unwrap() && c["options"]["probs"].is_array())
        .unwrap();
    assert_eq!(r["classes"], serde_json::json!(["ant", "bee", "cow"]));
    for (key, want) in case["expect"]["metrics"].as_object().unwrap() {
        assert_close(key, &r["metrics"][key], want);
    }
}

#[test]
fn model_eval_reports_the_device() {
    // The same demo model on each device: same accuracy, and the report says where it ran.
    for device in ["cpu", "auto", "gpu"] {
        let (code, out, err) = webeval(&[
            "eval",
            "--model",
            "www/demo/digits_mlp.onnx",
            "--data",
            "www/demo/digits_data.csv",
            "--label",
            "label",
            "--device",
            device,
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{device}: {err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        let acc = v["metrics"]["accuracy_score"].as_f64().expect("accuracy");
        assert!((acc - 440.0 / 450.0).abs() < 1e-12, "{device}: accuracy {acc}");
        let ran = v["speed"]["device"]["device"].as_str().expect("speed.device.device");
        let reason = v["speed"]["device"]["reason"].as_str().expect("speed.device.reason");
        assert_eq!(v["speed"]["backend"].as_str(), Some(ran));
        match device {
            "cpu" => assert_eq!((ran, reason), ("cpu", "CPU chosen by the user")),
            "gpu" if reason.contains("no usable GPU adapter") => println!("skipped: no adapter ({reason})"),
            "gpu" => assert_eq!(ran, "gpu", "{reason}"),
            _ => assert!(!reason.is_empty()),
        }
    }
    let (code, _, err) = webeval(&["run", "www/demo/digits_mlp.onnx", "www/demo/digits_data.csv", "--device", "tpu"]);
    assert_ne!(code, 0);
    assert!(err.contains("auto") && err.contains("gpu"), "{err}");
}

/// A Parquet file by path gives the report of the same data as CSV (only the source differs),
/// and a nested column chosen as the score is refused by name and type.
#[test]
fn eval_reads_parquet_like_csv() {
    let data = "tests/fixtures/data";
    let json = |file: &str| {
        let (code, out, err) = webeval(&["eval", &format!("{data}/{file}"), "--format", "json"]);
        assert_eq!(code, 0, "{file}: {err}");
        let mut v: Value = serde_json::from_str(&out).expect("json");
        let source = v.as_object_mut().expect("object").remove("source").expect("source");
        (v, source)
    };
    let (csv, _) = json("multi.csv");
    let (parquet, source) = json("multi_gzip_plain.parquet");
    assert_eq!(parquet, csv);
    assert_eq!(source["format"], "parquet");
    let (code, _, err) = webeval(&["eval", &format!("{data}/err_nested.parquet")]);
    assert_ne!(code, 0);
    assert!(err.contains("err_nested.parquet, column 'prob': is a list (nested) column"), "{err}");
}

/// A reader that stops early (`webeval eval … | head`) closes the pipe: the CLI exits 0 without
/// a panic message.
#[test]
fn closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_webeval"))
        .args(["eval", "www/demo/breast_cancer.csv", "--format", "json", "--ci", "0.95"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run webeval");
    drop(child.stdout.take()); // closed before the report (200 bootstrap replicates) is written
    let out = child.wait_with_output().expect("wait for webeval");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
