//! The report as plain text for terminals and CI logs.

use super::Report;
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {} task, {} rows", r.source.file, r.task.name(), r.n);
    let classes = r.class_names();
    if !classes.is_empty() {
        let _ = writeln!(s, "classes: {}", classes.join(", "));
    }
    for note in &r.notes {
        let _ = writeln!(s, "note: {note}");
    }
    let _ = writeln!(s);
    let width = r.metrics.keys().map(String::len).max().unwrap_or(10);
    for (k, v) in &r.metrics {
        if k == "confusion_matrix" {
            continue;
        }
        if !(v.is_number() || v.is_null() || v.get("value").is_some()) {
            continue; // matrices
        }
        let value = v.get("value").unwrap_or(v);
        let mut shown = match value.as_f64() {
            Some(x) => format!("{x:.6}"),
            None => "undefined".to_string(),
        };
        if let (Some(lo), Some(hi)) =
            (v.get("ci_low").and_then(|x| x.as_f64()), v.get("ci_high").and_then(|x| x.as_f64()))
        {
            shown.push_str(&format!("  [{lo:.6}, {hi:.6}]"));
        }
        let _ = writeln!(s, "  {k:<width$}  {shown}");
    }
    if let Some(serde_json::Value::Array(rows)) = r.metrics.get("confusion_matrix") {
        let _ = writeln!(s, "\nconfusion matrix (rows = true, columns = predicted):");
        for (i, row) in rows.iter().enumerate() {
            let cells: Vec<String> =
                row.as_array().map(|a| a.iter().map(|v| format!("{v:>8}")).collect()).unwrap_or_default();
            let _ = writeln!(s, "  {:>10} {}", classes.get(i).map(String::as_str).unwrap_or(""), cells.join(""));
        }
    }
    if !r.per_class.is_empty() {
        let _ = writeln!(
            s,
            "\n  {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>10}",
            "class", "precision", "recall", "f1", "support", "specificity", "npv"
        );
        for c in &r.per_class {
            let st = &c.stats;
            let _ = writeln!(
                s,
                "  {:>10} {:>10.4} {:>10.4} {:>10.4} {:>10} {:>11.4} {:>10.4}",
                c.class, st.precision, st.recall, st.f1, st.support, st.specificity, st.npv
            );
        }
    }
    s
}
