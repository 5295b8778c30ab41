//! Plain-text model card for terminals: totals, inputs/outputs, where the compute goes.

use super::complexity::ModelCard;
use std::fmt::Write;

/// `25.6M`, `4.11G`, `812`.
pub fn si(x: u64) -> String {
    let f = x as f64;
    for (div, unit) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if f >= div {
            return format!("{:.3}{unit}", f / div).replace(".000", "");
        }
    }
    x.to_string()
}

/// `97.5 MB`, `512 B`.
pub fn bytes(x: u64) -> String {
    let f = x as f64;
    for (div, unit) in [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")] {
        if f >= div {
            return format!("{:.1} {unit}", f / div);
        }
    }
    format!("{x} B")
}

fn shape(s: &Option<Vec<serde_json::Value>>) -> String {
    match s {
        None => "?".into(),
        Some(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|d| match d {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// Render the card; `top` limits the per-layer table to the layers with the most MACs
/// (then FLOPs), 0 for all layers in graph order.
pub fn render(card: &ModelCard, top: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "producer      {}", if card.producer.is_empty() { "?" } else { &card.producer });
    let opsets: Vec<String> = card.opset.iter().map(|x| format!("{} {}", x.domain, x.version)).collect();
    let _ = writeln!(o, "ir / opset    {} / {}", card.ir_version, opsets.join(", "));
    let _ = writeln!(o, "size          {}", bytes(card.size_bytes));
    let _ = writeln!(
        o,
        "params        {} ({} unique, {} of weights)",
        si(card.params),
        si(card.unique_params),
        bytes(card.param_bytes)
    );
    let _ = writeln!(
        o,
        "MACs          {}   at batch {} ({} = {})",
        si(card.macs),
        card.batch,
        card.batch_symbol,
        card.batch
    );
    let _ = writeln!(o, "FLOPs         {}", si(card.flops));
    let _ = writeln!(
        o,
        "activations   {} in total, {} peak",
        bytes(card.activation_bytes),
        bytes(card.peak_activation_bytes)
    );
    let _ = writeln!(o, "layers        {} (depth {})", card.layer_count, card.depth);
    for (label, list) in [("input ", &card.inputs), ("output", &card.outputs)] {
        for v in list {
            let _ = writeln!(o, "{label}        {} {} {}", v.name, v.dtype.as_deref().unwrap_or("?"), shape(&v.shape));
        }
    }
    if !card.unknown_ops.is_empty() {
        let _ = writeln!(o, "unknown ops   {} (listed, counted as 0)", card.unknown_ops.join(", "));
    }
    let _ = writeln!(o, "\n{:<24} {:>6} {:>10} {:>10} {:>10} {:>7}", "op", "count", "params", "MACs", "FLOPs", "MACs%");
    for s in &card.by_op {
        let _ = writeln!(
            o,
            "{:<24} {:>6} {:>10} {:>10} {:>10} {:>6.1}%",
            s.op,
            s.count,
            si(s.params),
            si(s.macs),
            si(s.flops),
            100.0 * s.macs_share
        );
    }
    let mut idx: Vec<usize> = (0..card.layers.len()).collect();
    if top > 0 {
        idx.sort_by(|&a, &b| {
            let (la, lb) = (&card.layers[a], &card.layers[b]);
            lb.macs.cmp(&la.macs).then(lb.flops.cmp(&la.flops)).then(a.cmp(&b))
        });
        idx.truncate(top);
        let _ = writeln!(o, "\ntop {} layers by MACs", idx.len());
    } else {
        let _ = writeln!(o, "\nlayers");
    }
    let _ = writeln!(
        o,
        "{:<32} {:<18} {:<22} {:>9} {:>9} {:>9} {:>6}",
        "name", "op", "output", "params", "MACs", "act.", "MACs%"
    );
    for i in idx {
        let l = &card.layers[i];
        let mut name = l.name.clone();
        if name.chars().count() > 32 {
            name =
                format!("…{}", name.chars().rev().take(31).collect::<Vec<_>>().into_iter().rev().collect::<String>());
        }
        let op = if l.unknown { format!("{} (unknown)", l.op) } else { l.op.clone() };
        let _ = writeln!(
            o,
            "{:<32} {:<18} {:<22} {:>9} {:>9} {:>9} {:>5.1}%",
            name,
            op,
            shape(&l.output_shape),
            si(l.params),
            si(l.macs),
            bytes(l.activation_bytes),
            100.0 * l.macs_share
        );
    }
    for w in &card.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}
