//! The JavaScript boundary: the only module that knows about wasm-bindgen.
//!
//! Every export returns `Result<_, JsError>` so bad input becomes a rejected promise with
//! our message, never a trap that would kill the worker's engine.

use crate::data::ColumnSpec;
use crate::metrics::Task;
use crate::report;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Options the page passes; all optional. Mirrors the CLI flags.
#[derive(serde::Deserialize, Default)]
struct EvalOptions {
    label: Option<String>,
    pred: Option<String>,
    score: Option<String>,
    weight: Option<String>,
    task: Option<String>,
}

/// Evaluate a predictions file given as bytes. Returns `{report, plots}` as a JS object.
/// `progress(bytes, rows)` is called now and then; returning `false` cancels.
#[wasm_bindgen(js_name = evaluatePredictions)]
pub fn evaluate_predictions(
    file_name: &str,
    bytes: &[u8],
    options: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<JsValue, JsError> {
    let opts: EvalOptions = if options.is_undefined() || options.is_null() {
        EvalOptions::default()
    } else {
        serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))?
    };
    let task = match opts.task.as_deref() {
        None | Some("") | Some("auto") => None,
        Some(t) => Some(Task::parse(t).ok_or_else(|| JsError::new(&format!("unknown task '{t}'")))?),
    };
    let spec = ColumnSpec { label: opts.label, pred: opts.pred, score: opts.score, weight: opts.weight, task };
    let mut on_progress = |done: u64, rows: u64| match &progress {
        Some(f) => f
            .call2(&JsValue::NULL, &JsValue::from_f64(done as f64), &JsValue::from_f64(rows as f64))
            .map(|v| v.as_bool() != Some(false))
            .unwrap_or(true),
        None => true,
    };
    let report = report::evaluate_csv(file_name, bytes, &spec, &mut on_progress).map_err(js_err)?;
    let plots = report::plots::all(&report).map_err(js_err)?;
    let out = serde_json::json!({ "report": report, "plots": plots });
    // JSON text keeps nulls and nested arrays exactly as in the CLI contract.
    Ok(JsValue::from_str(&serde_json::to_string(&out).map_err(|e| JsError::new(&e.to_string()))?))
}

/// The crate version, shown in the page footer.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
