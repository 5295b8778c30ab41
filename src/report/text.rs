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
            let cells: Vec<String> = row
                .as_array()
                .map(|a| a.iter().map(|v| format!(" {:>9}", count(v.as_f64()))).collect())
                .unwrap_or_default();
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
                c.class,
                st.precision,
                st.recall,
                st.f1,
                count(Some(st.support)),
                st.specificity,
                st.npv
            );
        }
    }
    if let Some(t) = &r.thresholds {
        let _ = writeln!(s, "\nthresholds (score >= t is positive):");
        for (name, m) in [("best F1", t.best_f1), ("Youden's J", t.youden)] {
            if let Some(m) = m {
                let _ = writeln!(
                    s,
                    "  {name:<11} t = {:<10.6} precision {:.4}  recall {:.4}  f1 {:.4}  specificity {:.4}",
                    m.threshold, m.precision, m.recall, m.f1, m.specificity
                );
            }
        }
    }
    if let Some(c) = &r.calibration {
        let _ = writeln!(s, "\nreliability ({}):", c.kind);
        for b in c.bins.iter().filter(|b| b.weight > 0.0) {
            let _ = writeln!(
                s,
                "  [{:.1}, {:.1}]  n {:>9}  predicted {:.4}  observed {:.4}",
                b.lower,
                b.upper,
                count(Some(b.weight)),
                b.mean_predicted,
                b.fraction_positive
            );
        }
    }
    s
}

/// A (weighted) count: whole numbers as integers, fractional weights to three decimals.
fn count(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.3}"),
        None => "-".into(),
    }
}
