//! Invariances every metric must respect (after scikit-learn's metrics/tests/test_common.py)
//! and property tests of the accumulators: permutation, label relabeling, sample weights
//! (ones == none, integer == repetition, zero == removal, scaling), averaging consistency,
//! merge(a, b) == one pass, ROC-AUC == the pairwise count, and reproducible intervals.

use proptest::prelude::*;
use serde_json::Value;
use webeval::data::ColumnSpec;
use webeval::metrics::ci::{CiOptions, Method};
use webeval::metrics::{Evaluation, Finished, MetricMap, Task};
use webeval::report::evaluate_csv;

/// One generated row: truth, prediction, scores (one per class or one positive score),
/// weight. Regression rows use `y`/`p`, multilabel rows `yt`/`yp` (0/1 per label).
#[derive(Debug, Clone)]
struct Row {
    truth: String,
    pred: String,
    scores: Vec<f64>,
    y: f64,
    p: f64,
    w: f64,
    yt: Vec<f64>,
    yp: Vec<f64>,
}

/// A small seeded generator, so the fixtures are the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n - 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Binary,
    Multiclass,
    Regression,
    Multilabel,
}

const CLASSES: [&str; 3] = ["0", "1", "2"];

fn rows(kind: Kind, n: usize, seed: u64) -> Vec<Row> {
    let mut g = Lcg(seed);
    (0..n)
        .map(|_| {
            let k = if kind == Kind::Multiclass { 3 } else { 2 };
            let t = g.below(k);
            let mut probs: Vec<f64> = (0..k).map(|c| g.next() + if c == t { 0.8 } else { 0.0 }).collect();
            let sum: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= sum);
            let pred = if g.next() < 0.7 { t } else { g.below(k) };
            let scores = if kind == Kind::Binary { vec![probs[1]] } else { probs };
            let y = 5.0 + 3.0 * g.next();
            // multilabel: four labels, scores in tenths (ties), predictions mostly right
            let yt: Vec<f64> = (0..4).map(|_| f64::from(u8::from(g.next() < 0.45))).collect();
            let ml_scores: Vec<f64> = yt.iter().map(|t| ((g.next() + 0.5 * t) * 10.0 / 1.5).floor() / 10.0).collect();
            let yp: Vec<f64> = ml_scores.iter().map(|&s| f64::from(u8::from((s > 0.5) != (g.next() < 0.1)))).collect();
            let scores = if kind == Kind::Multilabel { ml_scores } else { scores };
            Row {
                truth: CLASSES[t].into(),
                pred: CLASSES[pred].into(),
                scores,
                y,
                p: y + g.next() - 0.5,
                w: 1.0 + (g.next() * 3.0).floor(),
                yt,
                yp,
            }
        })
        .collect()
}

fn evaluation(kind: Kind) -> Evaluation {
    match kind {
        Kind::Binary => Evaluation::new(Task::Binary, Vec::new(), 1),
        Kind::Multiclass => Evaluation::new(Task::Multiclass, CLASSES.iter().map(|c| c.to_string()).collect(), 3),
        Kind::Regression => Evaluation::new(Task::Regression, Vec::new(), 0),
        Kind::Multilabel => Evaluation::new(Task::Multilabel, ["a", "b", "c", "d"].map(String::from).to_vec(), 4),
    }
}

fn feed(eval: &mut Evaluation, rows: &[Row], weight: impl Fn(&Row) -> f64) {
    for r in rows {
        if eval.task == Task::Regression {
            eval.update_regression(r.y, r.p, weight(r));
        } else if eval.task == Task::Multilabel {
            eval.update_multilabel(&r.yt, &r.yp, &r.scores, weight(r));
        } else {
            eval.update_classification(&r.truth, &r.pred, &r.scores, weight(r));
        }
    }
}

fn metrics(kind: Kind, rows: &[Row], weight: impl Fn(&Row) -> f64) -> MetricMap {
    let mut e = evaluation(kind);
    feed(&mut e, rows, weight);
    e.finish().metrics
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300) || (a - b).abs() < 1e-14
}

fn same_value(a: &Value, b: &Value, tol: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => close(x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0), tol),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b, tol)),
        _ => a == b,
    }
}

/// Every key of `a` equals `b`'s (skipping `skip` prefixes); returns the differences.
fn diff(a: &MetricMap, b: &MetricMap, skip: &[&str], tol: f64) -> Vec<String> {
    let mut bad = Vec::new();
    for (k, va) in a {
        if skip.iter().any(|s| k.starts_with(s)) {
            continue;
        }
        match b.get(k) {
            Some(vb) if same_value(va, vb, tol) => {}
            other => bad.push(format!("{k}: {va} vs {other:?}")),
        }
    }
    if a.len() != b.len() {
        bad.push(format!("{} keys vs {}", a.len(), b.len()));
    }
    bad
}

const KINDS: [Kind; 4] = [Kind::Binary, Kind::Multiclass, Kind::Regression, Kind::Multilabel];

fn check(what: &str, kind: Kind, a: &MetricMap, b: &MetricMap, skip: &[&str]) {
    let bad = diff(a, b, skip, 1e-9);
    assert!(bad.is_empty(), "{what} ({kind:?}):\n{}", bad.join("\n"));
}

#[test]
fn permutation_does_not_change_metrics() {
    for kind in KINDS {
        let data = rows(kind, 300, 1);
        let mut shuffled = data.clone();
        let mut g = Lcg(99);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, g.below(i + 1));
        }
        check("permutation", kind, &metrics(kind, &data, |r| r.w), &metrics(kind, &shuffled, |r| r.w), &[]);
    }
}

/// Through the public pipeline: a weight column of ones changes nothing (this is where
/// "no weights" and "unit weights" could take different code paths, e.g. the median).
#[test]
fn unit_weight_column_equals_none() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/cases");
    for case in [
        "binary_score",
        "multiclass_3_pred",
        "regression_signed",
        "regression_even_median",
        "labels_strings",
        "multilabel_3",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{case}.csv"))).expect("case file");
        let with_ones: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| if i == 0 { format!("{l},weight\n") } else { format!("{l},1\n") })
            .collect();
        let spec = ColumnSpec::default();
        let eval = |t: &str| evaluate_csv(case, t.as_bytes(), &spec, &mut |_, _| true).expect("evaluates").metrics;
        let (a, b) = (eval(&text), eval(&with_ones));
        let bad = diff(&a, &b, &[], 1e-12);
        assert!(bad.is_empty(), "{case}:\n{}", bad.join("\n"));
    }
}

#[test]
fn scaling_weights_is_free() {
    for kind in KINDS {
        let data = rows(kind, 200, 2);
        // scaling every weight: counts scale, rates do not
        let scaled = metrics(kind, &data, |r| r.w * 3.75);
        check(
            "scaling",
            kind,
            &metrics(kind, &data, |r| r.w),
            &scaled,
            &["confusion_matrix", "multilabel_confusion_matrix"],
        );
    }
}

#[test]
fn integer_weights_equal_repetition() {
    for kind in KINDS {
        let data = rows(kind, 200, 3);
        let repeated: Vec<Row> = data.iter().flat_map(|r| std::iter::repeat_n(r.clone(), r.w as usize)).collect();
        check("repetition", kind, &metrics(kind, &data, |r| r.w), &metrics(kind, &repeated, |_| 1.0), &[]);
    }
}

#[test]
fn zero_weight_equals_removal() {
    for kind in KINDS {
        let data = rows(kind, 300, 4);
        let zero = |r: &Row| if r.w == 3.0 { 0.0 } else { r.w };
        let kept: Vec<Row> = data.iter().filter(|r| r.w != 3.0).cloned().collect();
        // max_error ignores weights in scikit-learn too
        check("zero weight", kind, &metrics(kind, &data, zero), &metrics(kind, &kept, |r| r.w), &["max_error"]);
    }
}

#[test]
fn relabeling_classes_keeps_order_free_metrics() {
    // "0","1","2" -> "zeta","alpha","mid": the sorted order changes, so matrices permute and
    // ordinal kappas change, but nothing else may.
    let rename = |c: &str| match c {
        "0" => "zeta",
        "1" => "alpha",
        _ => "mid",
    };
    let data = rows(Kind::Multiclass, 300, 5);
    let renamed: Vec<Row> = data
        .iter()
        .map(|r| Row { truth: rename(&r.truth).into(), pred: rename(&r.pred).into(), ..r.clone() })
        .collect();
    let a = metrics(Kind::Multiclass, &data, |r| r.w);
    let mut e = Evaluation::new(Task::Multiclass, CLASSES.iter().map(|c| rename(c).to_string()).collect(), 3);
    feed(&mut e, &renamed, |r| r.w);
    let b = e.finish().metrics;
    check("relabel", Kind::Multiclass, &a, &b, &["confusion_matrix", "cohen_kappa_score@"]);
}

#[test]
fn averages_are_consistent() {
    let data = rows(Kind::Multiclass, 300, 6);
    let mut e = evaluation(Kind::Multiclass);
    feed(&mut e, &data, |r| r.w);
    let f = e.finish();
    let get = |k: &str| f.metrics[k].as_f64().unwrap_or(f64::NAN);
    // single-label: micro precision = recall = F = accuracy
    for k in ["precision_score@micro", "recall_score@micro", "f1_score@micro", "fbeta_score@micro,beta=2"] {
        assert!(close(get(k), get("accuracy_score"), 1e-12), "{k}");
    }
    let macro_f1: f64 = f.per_class.iter().map(|c| c.f1).sum::<f64>() / f.per_class.len() as f64;
    assert!(close(macro_f1, get("f1_score@macro"), 1e-12));
    let support: f64 = f.per_class.iter().map(|c| c.support).sum();
    let weighted_recall: f64 = f.per_class.iter().map(|c| c.recall * c.support).sum::<f64>() / support;
    assert!(close(weighted_recall, get("recall_score@weighted"), 1e-12));
    // weighted recall is accuracy
    assert!(close(weighted_recall, get("accuracy_score"), 1e-12));
}

#[test]
fn intervals_are_reproducible_and_merge_like_one_pass() {
    for kind in KINDS {
        let data = rows(kind, 120, 7);
        let ci = CiOptions { level: 0.9, replicates: 40, seed: 11 };
        let one = {
            let mut e = evaluation(kind).with_ci(ci);
            feed(&mut e, &data, |r| r.w);
            e.finish()
        };
        let again = {
            let mut e = evaluation(kind).with_ci(ci);
            feed(&mut e, &data, |r| r.w);
            e.finish()
        };
        assert_eq!(one.intervals, again.intervals, "{kind:?}: same seed, same intervals");
        let merged = {
            let (a, b) = data.split_at(50);
            let mut e1 = evaluation(kind).with_ci(ci);
            feed(&mut e1, a, |r| r.w);
            // the second chunk numbers its rows from where the first ended, so its
            // bootstrap draws are those of the one pass
            let mut e2 = evaluation(kind).with_ci(ci).with_first_row(a.len() as u64);
            feed(&mut e2, b, |r| r.w);
            e1.merge(&e2);
            e1.finish()
        };
        assert_eq!(one.intervals.keys().collect::<Vec<_>>(), merged.intervals.keys().collect::<Vec<_>>());
        for (k, i) in &one.intervals {
            let m = merged.intervals[k];
            assert!(close(i.low, m.low, 1e-9) && close(i.high, m.high, 1e-9), "{kind:?} {k}: {i:?} vs {m:?}");
            let v = one.metrics[k].as_f64().unwrap_or(f64::NAN);
            assert!(i.low <= i.high, "{kind:?} {k}: {i:?}");
            // a percentile interval need not contain the estimate, but for these smooth
            // metrics on 120 rows it always should
            if !k.starts_with("max_error") {
                assert!(i.low - 1e-9 <= v && v <= i.high + 1e-9, "{kind:?} {k}: {v} outside {i:?}");
            }
        }
        assert!(one.intervals.len() >= 10, "{kind:?}: only {} intervals", one.intervals.len());
    }
}

/// ROC-AUC by definition: the weighted share of (positive, negative) pairs ranked right,
/// ties counting half.
fn brute_auc(scores: &[f64], y: &[bool], w: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..scores.len() {
        for j in 0..scores.len() {
            if y[i] && !y[j] {
                let ww = w[i] * w[j];
                den += ww;
                num += ww
                    * if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
            }
        }
    }
    num / den
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn auc_equals_pairwise_count(
        rows in prop::collection::vec((0u8..12, any::<bool>(), 1u8..4), 2..60)
    ) {
        let scores: Vec<f64> = rows.iter().map(|r| f64::from(r.0) / 11.0).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.1).collect();
        let w: Vec<f64> = rows.iter().map(|r| f64::from(r.2)).collect();
        prop_assume!(y.iter().any(|&b| b) && y.iter().any(|&b| !b));
        let mut e = Evaluation::new(Task::Binary, Vec::new(), 1);
        for i in 0..scores.len() {
            let t = if y[i] { "1" } else { "0" };
            e.update_classification(t, t, &[scores[i]], w[i]);
        }
        let auc = e.finish().metrics["roc_auc_score"].as_f64().unwrap_or(f64::NAN);
        let want = brute_auc(&scores, &y, &w);
        prop_assert!((auc - want).abs() < 1e-12, "{} vs {}", auc, want);
    }

    #[test]
    fn merge_equals_one_pass(seed in any::<u64>(), cuts in prop::collection::vec(0usize..80, 0..4), kind in 0usize..4) {
        let kind = KINDS[kind];
        let data = rows(kind, 80, seed);
        let one = metrics(kind, &data, |r| r.w);
        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut merged = evaluation(kind);
        for win in cuts.windows(2) {
            let mut part = evaluation(kind);
            feed(&mut part, &data[win[0]..win[1]], |r| r.w);
            merged.merge(&part);
        }
        let bad = diff(&one, &merged.finish().metrics, &[], 1e-9);
        prop_assert!(bad.is_empty(), "{:?}", bad);
    }
}

/// Chunks read with differently ordered probability headers merge by class name.
#[test]
fn merge_matches_columns_by_class_name() {
    let data = rows(Kind::Multiclass, 90, 8);
    let one = metrics(Kind::Multiclass, &data, |r| r.w);
    let order = [2usize, 0, 1];
    let mut a = evaluation(Kind::Multiclass);
    feed(&mut a, &data[..40], |r| r.w);
    let mut b = Evaluation::new(Task::Multiclass, order.iter().map(|&i| CLASSES[i].to_string()).collect(), 3);
    for r in &data[40..] {
        let scores: Vec<f64> = order.iter().map(|&i| r.scores[i]).collect();
        b.update_classification(&r.truth, &r.pred, &scores, r.w);
    }
    a.merge(&b);
    check("header order", Kind::Multiclass, &one, &a.finish().metrics, &[]);
}

/// Misuse of the API gives odd numbers, never a panic (a panic kills the page's worker).
#[test]
fn api_misuse_does_not_panic() {
    let mut e = Evaluation::new(Task::Multiclass, vec!["b".into(), "c".into(), "c".into()], 3).with_ci(CiOptions {
        level: 0.9,
        replicates: 5,
        seed: 1,
    });
    e.update_classification("a", "b", &[0.2, 0.8], 1.0); // truth without a column, short scores
    e.update_classification("b", "b", &[0.7, 0.2, 0.1, 0.5], 1.0); // long scores
    e.update_classification("c", "a", &[0.1, 0.6, 0.3], 0.0);
    let f = e.finish();
    assert_eq!(f.n, 3);
    let mut other = Evaluation::new(Task::Multiclass, vec!["z".into(), "b".into()], 2);
    other.update_classification("z", "z", &[0.9, 0.1], 2.0);
    e.merge(&other);
    let _ = e.finish();
    let mut r = Evaluation::new(Task::Regression, Vec::new(), 0);
    r.update_regression(1.0, 2.0, 0.0);
    let m = r.finish().metrics;
    assert!(m["mean_squared_error"].is_null() && m["median_absolute_error"].is_null());
}

/// Past the score budget the binary ranking metrics come from binned scores: each value lies
/// within its reported error bound of the exact one, the bounds are small for continuous
/// scores, tied scores (one bin each) give the exact values, and sketches of chunks merge into
/// the one-pass sketch.
#[test]
fn score_sketch_stays_within_its_bounds() {
    let mut g = Lcg(21);
    let n = 20_000;
    let rows: Vec<(bool, f64, f64)> = (0..n)
        .map(|i| {
            let y = g.next() < 0.3;
            let s = (g.next() + if y { 0.4 } else { 0.0 }) / 1.4;
            (y, s, if i % 3 == 0 { 2.0 } else { 1.0 })
        })
        .collect();
    let keys = ["roc_auc_score", "average_precision_score", "roc_auc_score@max_fpr=0.1"];
    for ties in [false, true] {
        let score = |s: f64| if ties { (s * 100.0).round() / 100.0 } else { s };
        let run = |budget: Option<usize>, parts: usize| {
            let mut merged: Option<Evaluation> = None;
            for chunk in rows.chunks(n / parts) {
                let mut e = Evaluation::new(Task::Binary, Vec::new(), 1);
                if let Some(b) = budget {
                    e = e.with_score_budget(b);
                }
                for &(y, s, w) in chunk {
                    let t = if y { "1" } else { "0" };
                    e.update_classification(t, t, &[score(s)], w);
                }
                match &mut merged {
                    None => merged = Some(e),
                    Some(m) => m.merge(&e),
                }
            }
            merged.expect("rows").finish()
        };
        let exact = run(None, 1);
        assert!(exact.sketch.is_none());
        let one = run(Some(1000), 1);
        let chunks = run(Some(1000), 4);
        let info = one.sketch.clone().expect("past the budget");
        assert_eq!(info.rows, n as u64);
        for key in keys {
            let get = |m: &MetricMap| m[key].as_f64().unwrap_or(f64::NAN);
            let (e, s, bound) = (get(&exact.metrics), get(&one.metrics), get(&info.error_bound));
            assert!((e - s).abs() <= bound + 1e-12, "ties={ties} {key}: exact {e}, sketch {s}, bound {bound}");
            if ties {
                assert!((e - s).abs() < 1e-12, "{key}: tie groups are bins, so the values are exact: {e} vs {s}");
            } else {
                assert!(bound < 1e-4, "{key}: bound {bound} is loose for continuous scores");
            }
            assert!(
                close(s, get(&chunks.metrics), 1e-12),
                "{key}: merged sketches {} vs one pass {s}",
                get(&chunks.metrics)
            );
        }
    }
}

/// Continuous scores for one score layout: a binary positive-class score, 4 class
/// probabilities, or 3 multilabel scores; weights 1, 2 or 3.
fn scored_rows(kind: Kind, n: usize, seed: u64) -> Vec<Row> {
    let mut g = Lcg(seed);
    (0..n)
        .map(|_| {
            let k = match kind {
                Kind::Multiclass => 4,
                Kind::Multilabel => 3,
                _ => 2,
            };
            let t = g.below(k);
            let mut probs: Vec<f64> = (0..k).map(|c| g.next() + if c == t { 0.6 } else { 0.0 }).collect();
            let sum: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= sum);
            let yt: Vec<f64> = (0..k).map(|_| f64::from(u8::from(g.next() < 0.4))).collect();
            let scores = match kind {
                Kind::Binary => vec![probs[1]],
                Kind::Multilabel => yt.iter().map(|t| (g.next() + 0.5 * t) / 1.5).collect(),
                _ => probs,
            };
            let yp = scores.iter().map(|&s| f64::from(u8::from(s > 0.5))).collect();
            Row {
                truth: t.to_string(),
                pred: t.to_string(),
                scores,
                y: 0.0,
                p: 0.0,
                w: 1.0 + (g.next() * 3.0).floor(),
                yt,
                yp,
            }
        })
        .collect()
}

fn scored_evaluation(kind: Kind) -> Evaluation {
    let names = |k: usize| (0..k).map(|c| c.to_string()).collect::<Vec<_>>();
    match kind {
        Kind::Multiclass => Evaluation::new(Task::Multiclass, names(4), 4),
        Kind::Multilabel => Evaluation::new(Task::Multilabel, names(3), 3),
        _ => Evaluation::new(Task::Binary, Vec::new(), 1),
    }
}

const SCORED: [Kind; 3] = [Kind::Binary, Kind::Multiclass, Kind::Multilabel];

/// One evaluation of `data` in `parts` chunks (merged, each chunk numbering its rows from
/// where the previous one ended), past `budget` scores into sketches of `sketch_bytes`; with
/// `rounded`, a chunk begun once the merged scores are binned stores its scores as f32s
/// (`Evaluation::bins_only`, as the report's chunked reading does).
fn sketched(
    kind: Kind,
    data: &[Row],
    budget: Option<usize>,
    sketch_bytes: usize,
    ci: Option<CiOptions>,
    parts: usize,
    rounded: bool,
) -> Finished {
    let mut merged: Option<Evaluation> = None;
    let mut first = 0;
    for chunk in data.chunks(data.len().div_ceil(parts)) {
        let mut e = scored_evaluation(kind);
        if let Some(ci) = ci {
            e = e.with_ci(ci);
        }
        if let Some(b) = budget {
            e = e.with_score_budget(b).with_sketch_bytes(sketch_bytes);
        }
        let mut e = e.with_first_row(first);
        if rounded && merged.as_ref().is_some_and(Evaluation::bins) {
            e.bins_only();
        }
        first += chunk.len() as u64;
        feed(&mut e, chunk, |r| r.w);
        match &mut merged {
            None => merged = Some(e),
            Some(m) => m.merge(&e),
        }
    }
    merged.expect("rows").finish()
}

/// Past the score budget every score layout (binary, multiclass one-vs-rest / one-vs-one /
/// micro, multilabel per label / micro) bins its scores: each ranking metric is within its
/// reported bound of the exact one, on the finest grid and on a coarsened one; the other
/// metrics do not move; and sketches of chunks merge into the one-pass sketch, intervals
/// included.
#[test]
fn every_score_layout_sketches_within_its_bounds_and_merges() {
    let ci = CiOptions { level: 0.9, replicates: 8, seed: 3 };
    for kind in SCORED {
        let data = scored_rows(kind, 12_000, 5);
        let exact = sketched(kind, &data, None, 0, Some(ci), 1, false);
        assert!(exact.sketch.is_none());
        // 0: the default memory (the finest grid); 256 KiB: a coarser grid
        for bytes in [0, 256 << 10] {
            let one = sketched(kind, &data, Some(1000), bytes, Some(ci), 1, false);
            let info = one.sketch.clone().expect("past the budget");
            assert_eq!(info.rows, data.len() as u64, "{kind:?}");
            let ranking: Vec<&String> = exact
                .metrics
                .keys()
                .filter(|k| {
                    (k.starts_with("roc_auc_score") || k.starts_with("average_precision_score"))
                        && !k.ends_with("@samples")
                })
                .collect();
            assert!(ranking.len() >= if kind == Kind::Binary { 3 } else { 6 }, "{kind:?}: {ranking:?}");
            let mut widest = 0.0f64;
            for key in ranking {
                let get = |m: &MetricMap| m[key].as_f64().unwrap_or(f64::NAN);
                let (e, s) = (get(&exact.metrics), get(&one.metrics));
                let bound = info.error_bound.get(key).and_then(Value::as_f64).expect("a bound per ranking metric");
                assert!((e - s).abs() <= bound + 1e-12, "{kind:?} {bytes} {key}: exact {e}, sketch {s}, bound {bound}");
                widest = widest.max(bound);
            }
            if bytes == 0 {
                assert!(widest < 1e-4, "{kind:?}: a bound of {widest} is loose for continuous scores");
            } else {
                assert!(widest > 1e-4 && widest < 0.05, "{kind:?}: the coarse grid's widest bound is {widest}");
                assert!(info.bins <= (256 << 10) / 72, "{kind:?}: {} cells in 256 KiB", info.bins);
            }
            let streamed: Vec<&String> = exact.metrics.keys().filter(|k| !info.error_bound.contains_key(*k)).collect();
            for key in streamed {
                assert!(
                    same_value(&exact.metrics[key], &one.metrics[key], 1e-12),
                    "{kind:?} {key}: {} vs {} (not binned)",
                    exact.metrics[key],
                    one.metrics[key]
                );
            }
            let chunks = sketched(kind, &data, Some(1000), bytes, Some(ci), 5, false);
            let bad = diff(&one.metrics, &chunks.metrics, &[], 1e-9);
            assert!(bad.is_empty(), "{kind:?} {bytes}: merged sketches vs one pass:\n{}", bad.join("\n"));
            // chunks that keep their scores as f32s once the merged ones are binned: the
            // same sketch keys, so the same report, bit for bit (with intervals and whole
            // weights here; without both, through the sketches' count tables)
            for (ci, unit) in [(Some(ci), false), (None, true)] {
                let data: Vec<Row> =
                    data.iter().map(|r| Row { w: if unit { 1.0 } else { r.w }, ..r.clone() }).collect();
                let want = sketched(kind, &data, Some(1000), bytes, ci, 5, false);
                let got = sketched(kind, &data, Some(1000), bytes, ci, 5, true);
                let json = |f: &Finished| serde_json::to_string(&(&f.metrics, &f.sketch)).expect("json");
                assert_eq!(json(&got), json(&want), "{kind:?} {bytes} ci {}: chunks with f32 scores", ci.is_some());
            }
            let merged_info = chunks.sketch.expect("merged sketch");
            assert_eq!((merged_info.rows, merged_info.bins), (info.rows, info.bins), "{kind:?} {bytes}");
            assert!(diff(&info.error_bound, &merged_info.error_bound, &[], 1e-9).is_empty(), "{kind:?} bounds");
            assert_eq!(one.intervals.keys().collect::<Vec<_>>(), chunks.intervals.keys().collect::<Vec<_>>());
            for (k, i) in &one.intervals {
                let m = chunks.intervals[k];
                assert!(close(i.low, m.low, 1e-9) && close(i.high, m.high, 1e-9), "{kind:?} {k}: {i:?} vs {m:?}");
            }
        }
    }
}

/// The sketches' memory does not grow with the rows: past the budget, 8x the rows hold at
/// most the configured bytes (the grid coarsens instead), while the exact store would grow
/// 8x.
#[test]
fn sketch_memory_does_not_grow_with_rows() {
    let ci = CiOptions { level: 0.95, replicates: 20, seed: 1 };
    let limit = 256 << 10;
    for kind in SCORED {
        let data = scored_rows(kind, 160_000, 9);
        let mut e = scored_evaluation(kind).with_ci(ci).with_score_budget(1000).with_sketch_bytes(limit);
        let mut sizes = Vec::new();
        for chunk in data.chunks(20_000) {
            feed(&mut e, chunk, |r| r.w);
            sizes.push(e.sketch_bytes());
        }
        // vectors and the index grow by doubling: at most twice what the cells need, and
        // the buffers of a block of rows at hand (kept from chunk to chunk) at most an 8th
        for &s in &sizes {
            assert!(s > 0 && s <= 2 * limit + limit / 8, "{kind:?}: {s} bytes against a limit of {limit}: {sizes:?}");
        }
        let f = e.finish();
        let info = f.sketch.expect("past the budget");
        assert_eq!(info.rows, data.len() as u64);
        let last = sizes.last().copied().unwrap_or(0);
        assert!(last <= sizes[0], "{kind:?}: {sizes:?} bytes after each 20,000 rows grew");
    }
}

/// Sketched metrics get the exact path's percentile bootstrap: the same seed gives the same
/// intervals, another seed other ones; each covers the exact value, lies within a hair of
/// the exact path's bootstrap interval (the same Poisson draws, binned), and narrows as the
/// rows grow.
#[test]
fn sketched_intervals_are_seeded_cover_the_exact_value_and_shrink() {
    let ci = CiOptions { level: 0.95, replicates: 60, seed: 17 };
    for kind in SCORED {
        let width = |n: usize| {
            let data = scored_rows(kind, n, 23);
            let sk = sketched(kind, &data, Some(100), 0, Some(ci), 1, false);
            let info = sk.sketch.clone().expect("past the budget");
            let keys: Vec<String> = info.error_bound.keys().cloned().collect();
            let mut widths = Vec::new();
            for key in &keys {
                let Some(i) = sk.intervals.get(key) else { panic!("{kind:?} {n}: no interval for {key}") };
                assert_eq!(i.method, Method::Bootstrap, "{kind:?} {key}");
                widths.push(i.high - i.low);
            }
            (sk, keys, widths)
        };
        let (sk, keys, small) = width(3000);
        let data = scored_rows(kind, 3000, 23);
        assert_eq!(
            sketched(kind, &data, Some(100), 0, Some(ci), 1, false).intervals,
            sk.intervals,
            "{kind:?}: same seed"
        );
        let other = sketched(kind, &data, Some(100), 0, Some(CiOptions { seed: 18, ..ci }), 1, false);
        assert!(keys.iter().any(|k| other.intervals[k] != sk.intervals[k]), "{kind:?}: another seed");
        let exact = sketched(kind, &data, None, 0, Some(ci), 1, false);
        for key in &keys {
            let (i, v) = (sk.intervals[key], exact.metrics[key].as_f64().expect("defined"));
            assert!(i.low <= v && v <= i.high, "{kind:?} {key}: the exact {v} outside {i:?}");
            if let Some(e) = exact.intervals.get(key).filter(|e| e.method == Method::Bootstrap) {
                // each replicate's binned value is within that replicate's bound (of the
                // point's size) of its exact value, and so are the percentiles
                let bound = sk.sketch.as_ref().and_then(|s| s.error_bound[key].as_f64()).unwrap_or(0.0);
                assert!(
                    (e.low - i.low).abs() <= 4.0 * bound + 1e-12 && (e.high - i.high).abs() <= 4.0 * bound + 1e-12,
                    "{kind:?} {key}: sketched {i:?} vs exact {e:?}"
                );
            }
        }
        let (_, _, large) = width(48_000);
        for ((key, s), l) in keys.iter().zip(&small).zip(&large) {
            // 16x the rows: about a quarter of the width
            assert!(*l < 0.5 * s, "{kind:?} {key}: width {s} at 3,000 rows, {l} at 48,000");
        }
    }
}

/// Past the budget the sketches hold rows back for their next sorted batch; those rows are
/// part of the state. An evaluation finished, merged, or sent as bytes (postcard, as chunk
/// states cross between workers) while rows still wait gives exactly what it gives with
/// them binned first.
#[test]
fn rows_waiting_for_a_sketch_batch_are_never_lost() {
    let ci = CiOptions { level: 0.9, replicates: 8, seed: 3 };
    for kind in SCORED {
        let data = scored_rows(kind, 6_000, 9);
        let half = data.len() / 2;
        let part = |rows: &[Row], first: u64| {
            let e = scored_evaluation(kind).with_ci(ci).with_score_budget(1000).with_sketch_batch(700);
            let mut e = e.with_first_row(first);
            feed(&mut e, rows, |r| r.w);
            e
        };
        let (a, b) = (part(&data[..half], 0), part(&data[half..], half as u64));
        let flushed = |e: &Evaluation| {
            let mut e = e.clone();
            e.flush();
            e
        };
        let view = |e: &Evaluation| {
            let f = e.finish();
            assert!(f.sketch.is_some(), "{kind:?}: past the budget");
            serde_json::to_string(&(&f.metrics, &f.intervals, &f.sketch)).expect("json")
        };
        // rows wait in both halves (3000 rows less the stored ones, in batches of 700)
        assert!(a.sketch_bytes() > 0 && format!("{a:?}") != format!("{:?}", flushed(&a)), "{kind:?}");
        assert_eq!(view(&a), view(&flushed(&a)), "{kind:?}: finished with rows waiting");
        let mut want = flushed(&a);
        want.merge(&flushed(&b));
        let want = view(&want);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(view(&merged), want, "{kind:?}: merged with rows waiting on both sides");
        let bytes = postcard::to_allocvec(&b).expect("encode");
        let crossed: Evaluation = postcard::from_bytes(&bytes).expect("decode");
        let mut merged = a.clone();
        merged.merge(&crossed);
        assert_eq!(view(&merged), want, "{kind:?}: merged after crossing as bytes");
    }
}

/// The exact walks' bootstrap draws, held in blocks of replicates when the draw table's
/// memory is short, give the very report of one block: point estimates, curves, DeLong and
/// every replicate's value, bit for bit, weighted or not, in every score layout.
#[test]
fn draw_blocks_do_not_change_the_report() {
    let ci = CiOptions { level: 0.9, replicates: 40, seed: 7 };
    for kind in SCORED {
        let data = scored_rows(kind, 600, 13);
        for weighted in [false, true] {
            let report = |bytes: usize| {
                let mut e = scored_evaluation(kind).with_ci(ci).with_draw_bytes(bytes);
                feed(&mut e, &data, |r| if weighted { r.w } else { 1.0 });
                let f = e.finish();
                assert_eq!(f.score_replicates.len(), 40, "{kind:?}");
                // Debug prints each float's shortest round-trip form: equal text, equal bits
                format!("{f:?}")
            };
            let one = report(0);
            // 600 rows: 3,000 bytes hold 10 replicates a block, 1 byte one
            for bytes in [3000, 1] {
                assert!(one == report(bytes), "{kind:?} weighted {weighted}: {bytes} bytes of draws");
            }
        }
    }
}
