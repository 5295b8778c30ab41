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
        let shown = match v.as_f64() {
            Some(x) => format!("{x:.6}"),
            None => "undefined".to_string(),
        };
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
        let _ = writeln!(s, "\n  {:>10} {:>10} {:>10} {:>10} {:>10}", "class", "precision", "recall", "f1", "support");
        for c in &r.per_class {
            let _ = writeln!(
                s,
                "  {:>10} {:>10.4} {:>10.4} {:>10.4} {:>10}",
                c.class, c.precision, c.recall, c.f1, c.support
            );
        }
    }
    s
}
