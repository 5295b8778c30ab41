//! The wasm boundary, run in wasm by wasm-bindgen-test (Node): bad input must come back as a
//! JsError carrying our message, never a trap that would kill the page's engine. (Plots need
//! a DOM, so they are checked by the browser tests in tests/e2e.)
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;
use webeval::web::evaluate_predictions;

fn check(csv: &str, expect: Result<&str, &str>) {
    match (evaluate_predictions("t.csv", csv.as_bytes(), JsValue::UNDEFINED, None), expect) {
        (Ok(json), Ok(needle)) => {
            assert!(json.contains(needle), "{json}");
        }
        (Err(e), Err(needle)) => {
            let err = JsValue::from(e);
            let msg = js_sys::Reflect::get(&err, &JsValue::from_str("message")).ok().and_then(|m| m.as_string());
            let msg = msg.unwrap_or_default();
            assert!(msg.contains(needle), "'{needle}' not in '{msg}'");
        }
        (Ok(json), Err(needle)) => panic!("expected error '{needle}', got {json}"),
        (Err(_), Ok(needle)) => panic!("expected a report containing '{needle}'"),
    }
}

#[wasm_bindgen_test]
fn reports_and_errors_cross_the_boundary() {
    check("y_true,y_pred\n1,1\n0,1\n", Ok("\"accuracy_score\":0.5"));
    check("y_true,score\n1,0.9\n0,0.2\n1,0.4\n", Ok("\"roc_auc_score\":1.0"));
    check("y_true,y_pred\n1.5,1.0\n2.5,2.0\n", Ok("\"task\":\"regression\""));
    check("", Err("empty"));
    check("y_true,y_pred\n1,1\n0,0,0\n", Err("line 3"));
    check("y_true,score\n1,abc\n", Err("not a number"));
    check("a,b\n1,2\n", Err("no true-label column"));
}
