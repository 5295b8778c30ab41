//! Paired significance for two predictions files scored on the same rows: is B really better
//! than A, or is the difference noise? Overlapping per-file intervals are not a test; a
//! paired test uses that both models saw the same rows. Every headline metric gets a paired
//! bootstrap (the same resampled rows for both files); the binary ROC-AUC also gets DeLong's
//! test for two correlated AUCs (DeLong, DeLong & Clarke-Pearson 1988).

use crate::error::{Error, Result};
use crate::metrics::ci::{normal_quantile, SplitMix64};
use crate::metrics::Task;
use crate::report::rows::LocalLabels;
use serde::Serialize;
use std::collections::HashMap;

/// Replicates of the paired bootstrap for files up to BUDGET / 1000 rows; fewer beyond that,
/// so the test stays within about BUDGET row visits.
const REPLICATES: usize = 1000;
const BUDGET: usize = 200_000_000;
const MIN_REPLICATES: usize = 200;
pub const SEED: u64 = 20_240_601;
pub const LEVEL: f64 = 0.95;

/// What one file said about each row, kept (compactly) only when two files are compared.
#[derive(Debug, Clone)]
pub struct PairedLog {
    task: Task,
    classes: Vec<String>,
    /// Binary: the positive-class score per row. Multiclass with probabilities: the
    /// probability of the true class. Empty when the file has no scores.
    score: Vec<f64>,
    probability: bool,
    /// Labels in first-seen order; `truth` and `pred` hold these local ids.
    labels: LocalLabels,
    /// Per local label id: its index in `classes`, if any.
    class_of: Vec<Option<usize>>,
    truth: Vec<u32>,
    pred: Vec<u32>,
    values: Vec<[f64; 2]>,
    /// Multilabel: per row and label (in `classes` order), bit 0 = truth, bit 1 = prediction.
    bits: Vec<u8>,
    weighted: bool,
}

impl PairedLog {
    /// `classes`, `score_width` and `threshold` as the file's plan has them.
    pub fn new(task: Task, classes: &[String], score_width: usize, threshold: f64) -> PairedLog {
        PairedLog {
            task,
            classes: classes.to_vec(),
            score: Vec::new(),
            probability: score_width >= 2 || threshold == 0.5,
            labels: LocalLabels::default(),
            class_of: Vec::new(),
            truth: Vec::new(),
            pred: Vec::new(),
            values: Vec::new(),
            bits: Vec::new(),
            weighted: false,
        }
    }

    /// A label the evaluation interned as `id`.
    pub fn register(&mut self, id: u32, name: &str) {
        if self.labels.register(id, name) {
            self.class_of.push(self.classes.iter().position(|c| c == name));
        }
    }

    /// One row by the evaluation's label ids.
    pub fn classification(&mut self, truth: u32, pred: u32, scores: &[f64], weight: f64) {
        self.weighted |= weight != 1.0;
        let t = self.labels.local(truth);
        self.truth.push(t);
        self.pred.push(self.labels.local(pred));
        match scores.len() {
            0 => {}
            1 => self.score.push(scores[0]),
            _ => {
                let i = self.class_of[t as usize];
                self.score.push(i.and_then(|i| scores.get(i).copied()).unwrap_or(f64::NAN));
            }
        }
    }

    pub fn regression(&mut self, truth: f64, pred: f64, weight: f64) {
        self.weighted |= weight != 1.0;
        self.values.push([truth, pred]);
    }

    /// One multilabel row: per label (the plan's order) truth and prediction, 0/1.
    pub fn multilabel(&mut self, truth: &[f64], pred: &[f64], weight: f64) {
        self.weighted |= weight != 1.0;
        self.bits.extend(truth.iter().zip(pred).map(|(&t, &p)| u8::from(t != 0.0) | (u8::from(p != 0.0) << 1)));
    }

    /// Append the rows of `other`, the next chunk of the same file; `id` gives a label's id
    /// in this log's evaluation.
    pub fn merge(&mut self, other: PairedLog, id: &mut dyn FnMut(&str) -> u32) {
        let map = self.labels.adopt(&other.labels, id, &self.classes, &mut self.class_of);
        self.truth.extend(other.truth.iter().map(|&t| map[t as usize]));
        self.pred.extend(other.pred.iter().map(|&p| map[p as usize]));
        self.score.extend(other.score);
        self.values.extend(other.values);
        self.bits.extend(other.bits);
        self.weighted |= other.weighted;
    }

    fn len(&self) -> usize {
        match self.task {
            Task::Regression => self.values.len(),
            Task::Multilabel => self.bits.len() / self.classes.len().max(1),
            _ => self.truth.len(),
        }
    }
}

/// One metric compared: `diff` is B − A.
#[derive(Debug, Clone, Serialize)]
pub struct PairedMetric {
    pub key: String,
    pub a: f64,
    pub b: f64,
    pub diff: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub method: &'static str,
    /// p < 0.05.
    pub significant: bool,
}

/// The report's `paired` section.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub n: usize,
    pub replicates: usize,
    pub seed: u64,
    pub level: f64,
    pub metrics: Vec<PairedMetric>,
    pub notes: Vec<String>,
}

/// Compare the two logs. `positive`: the report's positive class (binary F1). An error says
/// why the files cannot be paired (different rows or tasks).
pub fn test(a: &PairedLog, b: &PairedLog, positive: Option<&str>) -> Result<Paired> {
    let why = |m: String| Err(Error::InvalidArgument(m));
    if a.task != b.task {
        return why(format!("the files are different tasks ({} and {})", a.task.name(), b.task.name()));
    }
    let n = a.len();
    if n != b.len() {
        return why(format!(
            "the files have different numbers of rows ({n} and {}); a paired test needs the same rows in the same order",
            b.len()
        ));
    }
    if n < 2 {
        return why("a paired test needs at least two rows".into());
    }
    let mut notes = vec!["rows matched by position; both files have the same true label in every row".to_string()];
    if a.weighted || b.weighted {
        notes.push("sample weights are ignored by the paired test".into());
    }
    let replicates = (BUDGET / (n * a.classes.len().max(1))).clamp(MIN_REPLICATES, REPLICATES);
    let metrics = if a.task == Task::Multilabel {
        multilabel(a, b, replicates)?
    } else if a.task == Task::Regression {
        if let Some(i) = (0..n).find(|&i| !same_number(a.values[i][0], b.values[i][0])) {
            return why(format!(
                "row {i} has different true values ({} and {}): the files are not on the same rows",
                a.values[i][0], b.values[i][0]
            ));
        }
        regression(a, b, replicates)
    } else {
        if let Some(i) = (0..n).find(|&i| a.labels.names[a.truth[i] as usize] != b.labels.names[b.truth[i] as usize]) {
            return why(format!(
                "row {i} has different true labels ('{}' and '{}'): the files are not on the same rows",
                a.labels.names[a.truth[i] as usize], b.labels.names[b.truth[i] as usize]
            ));
        }
        classification(a, b, positive, replicates)
    };
    Ok(Paired { n, replicates, seed: SEED, level: LEVEL, metrics, notes })
}

/// How many times each of `n` rows is drawn in replicate `r` (the same draw for A and B).
fn multiplicities(n: usize, seed: u64, r: usize) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed ^ (r as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.below(n)] += 1;
    }
    counts
}

fn same_number(x: f64, y: f64) -> bool {
    x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

/// A metric of one file under bootstrap row multiplicities (all ones = the point value).
type Metric<'a> = Box<dyn Fn(&[u32]) -> f64 + 'a>;

fn bootstrap(key: &str, n: usize, replicates: usize, fa: &Metric, fb: &Metric) -> PairedMetric {
    let ones = vec![1u32; n];
    let (a, b) = (fa(&ones), fb(&ones));
    let mut diffs = Vec::with_capacity(replicates);
    for r in 0..replicates {
        let w = multiplicities(n, SEED, r);
        let d = fb(&w) - fa(&w);
        if d.is_finite() {
            diffs.push(d);
        }
    }
    diffs.sort_by(f64::total_cmp);
    let m = diffs.len();
    let (ci_low, ci_high, p_value) = if m * 2 >= replicates && m > 0 {
        let alpha = (1.0 - LEVEL) / 2.0 * 100.0;
        let below = diffs.iter().filter(|&&d| d <= 0.0).count();
        let above = diffs.iter().filter(|&&d| d >= 0.0).count();
        // two-sided: how often the resampled difference falls on either side of zero
        let p = (2.0 * (below.min(above) + 1) as f64 / (m + 1) as f64).min(1.0);
        (
            Some(crate::metrics::ci::percentile_sorted(&diffs, alpha)),
            Some(crate::metrics::ci::percentile_sorted(&diffs, 100.0 - alpha)),
            Some(p),
        )
    } else {
        (None, None, None)
    };
    PairedMetric {
        key: key.to_string(),
        a,
        b,
        diff: b - a,
        ci_low,
        ci_high,
        p_value,
        method: "paired bootstrap",
        significant: p_value.is_some_and(|p| p < 0.05),
    }
}

fn classification(a: &PairedLog, b: &PairedLog, positive: Option<&str>, replicates: usize) -> Vec<PairedMetric> {
    let n = a.truth.len();
    // Class ids in A's numbering, for both files (B's labels mapped through their names).
    let mut names = a.labels.names.clone();
    let mut ids: HashMap<String, u32> = names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
    let mut map_b = Vec::with_capacity(b.labels.names.len());
    for name in &b.labels.names {
        let next = names.len() as u32;
        map_b.push(*ids.entry(name.clone()).or_insert_with(|| {
            names.push(name.clone());
            next
        }));
    }
    let truth = &a.truth;
    let pred_b: Vec<u32> = b.pred.iter().map(|&p| map_b[p as usize]).collect();
    let k = names.len();
    let binary = a.task == Task::Binary;
    let positive = positive.and_then(|p| ids.get(p).copied());

    let accuracy = |pred: &[u32]| -> Metric {
        let pred = pred.to_vec();
        Box::new(move |w: &[u32]| {
            let (mut hit, mut all) = (0u64, 0u64);
            for i in 0..n {
                all += u64::from(w[i]);
                if pred[i] == truth[i] {
                    hit += u64::from(w[i]);
                }
            }
            hit as f64 / all as f64
        })
    };
    let f1 = |pred: &[u32]| -> Metric {
        let pred = pred.to_vec();
        Box::new(move |w: &[u32]| {
            let (mut tp, mut fp, mut fneg) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
            for i in 0..n {
                let (t, p, c) = (truth[i] as usize, pred[i] as usize, u64::from(w[i]));
                if t == p {
                    tp[t] += c;
                } else {
                    fp[p] += c;
                    fneg[t] += c;
                }
            }
            let f = |c: usize| f1(&[tp[c], fp[c], fneg[c]]);
            match (binary, positive) {
                (true, Some(p)) => f(p as usize),
                _ => {
                    // macro over the classes present in this sample's truth or predictions
                    let present: Vec<usize> = (0..k).filter(|&c| tp[c] + fp[c] + fneg[c] > 0).collect();
                    present.iter().map(|&c| f(c)).sum::<f64>() / present.len().max(1) as f64
                }
            }
        })
    };
    let mut out = vec![bootstrap("accuracy_score", n, replicates, &accuracy(&a.pred), &accuracy(&pred_b))];
    let f1_key = if binary && positive.is_some() { "f1_score" } else { "f1_score@macro" };
    out.push(bootstrap(f1_key, n, replicates, &f1(&a.pred), &f1(&pred_b)));

    let scored = a.score.len() == n && b.score.len() == n;
    if binary && scored {
        if let Some(p) = positive {
            let y: Vec<bool> = truth.iter().map(|&t| t == p).collect();
            let auc = |s: &[f64]| -> Metric {
                let order = sorted_order(s);
                let (s, y) = (s.to_vec(), y.clone());
                Box::new(move |w: &[u32]| weighted_auc(&s, &y, &order, w))
            };
            let mut m = bootstrap("roc_auc_score", n, replicates, &auc(&a.score), &auc(&b.score));
            if let Some((z_var, _)) = delong_paired(&a.score, &b.score, &y) {
                let se = z_var.sqrt();
                let z = if se > 0.0 { m.diff / se } else { f64::NAN };
                let half = normal_quantile(0.5 + LEVEL / 2.0) * se;
                m.ci_low = Some(m.diff - half);
                m.ci_high = Some(m.diff + half);
                m.p_value = Some(if z.is_finite() {
                    2.0 * normal_sf(z.abs())
                } else if m.diff == 0.0 {
                    1.0
                } else {
                    0.0
                });
                m.method = "DeLong";
                m.significant = m.p_value.is_some_and(|p| p < 0.05);
            }
            out.push(m);
        }
    }
    if scored && a.probability && b.probability {
        let ll = |s: &[f64]| -> Metric {
            // per-row loss, −ln p(true class)
            let loss: Vec<f64> = if binary {
                s.iter()
                    .zip(truth)
                    .map(|(&v, &t)| {
                        let p = if Some(t) == positive { v } else { 1.0 - v };
                        -p.clamp(1e-15, 1.0).ln()
                    })
                    .collect()
            } else {
                s.iter().map(|&p| -p.clamp(1e-15, 1.0).ln()).collect()
            };
            Box::new(move |w: &[u32]| weighted_mean(&loss, w))
        };
        if !binary || positive.is_some() {
            out.push(bootstrap("log_loss", n, replicates, &ll(&a.score), &ll(&b.score)));
        }
    }
    out
}

/// Multilabel: subset accuracy, Hamming loss and micro/macro F1 (scikit-learn's definitions,
/// every label counted in the macro mean, F1 = 0 where a label has no positives at all).
fn multilabel(a: &PairedLog, b: &PairedLog, replicates: usize) -> Result<Vec<PairedMetric>> {
    let k = a.classes.len();
    let n = a.bits.len() / k.max(1);
    // B's labels in A's order; the label sets must be the same.
    let order: Option<Vec<usize>> = a.classes.iter().map(|c| b.classes.iter().position(|d| d == c)).collect();
    let order = match order {
        Some(o) if b.classes.len() == k => o,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "the files have different labels ([{}] and [{}])",
                a.classes.join(", "),
                b.classes.join(", ")
            )))
        }
    };
    let b_bits: Vec<u8> = (0..n).flat_map(|i| order.iter().map(move |&j| b.bits[i * k + j])).collect();
    if let Some(cell) = (0..n * k).find(|&c| (a.bits[c] ^ b_bits[c]) & 1 != 0) {
        return Err(Error::InvalidArgument(format!(
            "row {} has a different truth for label '{}': the files are not on the same rows",
            cell / k,
            a.classes[cell % k]
        )));
    }
    let measures: [(&str, Measure); 4] = [
        ("accuracy_score", |t| t.exact as f64 / t.rows as f64),
        ("hamming_loss", |t| t.wrong as f64 / (t.rows * t.per.len() as u64) as f64),
        ("f1_score@micro", |t| f1(&t.per.iter().fold([0; 3], |s, c| [s[0] + c[0], s[1] + c[1], s[2] + c[2]]))),
        ("f1_score@macro", |t| t.per.iter().map(f1).sum::<f64>() / t.per.len() as f64),
    ];
    let metric = |bits: &[u8], measure: Measure| -> Metric {
        let bits = bits.to_vec();
        Box::new(move |w: &[u32]| measure(&Tally::new(&bits, k, w)))
    };
    Ok(measures
        .iter()
        .map(|&(key, m)| bootstrap(key, n, replicates, &metric(&a.bits, m), &metric(&b_bits, m)))
        .collect())
}

/// A multilabel metric from its counts.
type Measure = fn(&Tally) -> f64;

/// Multilabel counts under bootstrap row multiplicities `w`.
struct Tally {
    /// Per label: true positives, false positives, false negatives.
    per: Vec<[u64; 3]>,
    /// Rows with every label right; label cells wrong; rows.
    exact: u64,
    wrong: u64,
    rows: u64,
}

impl Tally {
    fn new(bits: &[u8], k: usize, w: &[u32]) -> Tally {
        let mut t = Tally { per: vec![[0; 3]; k], exact: 0, wrong: 0, rows: 0 };
        for (row, &m) in bits.chunks_exact(k).zip(w) {
            let m = u64::from(m);
            let mut all_right = true;
            for (c, &cell) in t.per.iter_mut().zip(row) {
                // bit 0 truth, bit 1 prediction
                match cell {
                    3 => c[0] += m, // true positive
                    2 => c[1] += m, // false positive
                    1 => c[2] += m, // false negative
                    _ => {}
                }
                all_right &= cell == 0 || cell == 3;
                t.wrong += m * u64::from(cell == 1 || cell == 2);
            }
            t.exact += m * u64::from(all_right);
            t.rows += m;
        }
        t
    }
}

/// F1 from (TP, FP, FN); 0 where there is nothing positive (scikit-learn's zero_division=0).
fn f1(c: &[u64; 3]) -> f64 {
    if c[0] + c[1] + c[2] == 0 {
        0.0
    } else {
        2.0 * c[0] as f64 / (2 * c[0] + c[1] + c[2]) as f64
    }
}

fn weighted_mean(v: &[f64], w: &[u32]) -> f64 {
    let (mut s, mut c) = (0.0, 0u64);
    for (x, &k) in v.iter().zip(w) {
        if k > 0 {
            s += x * f64::from(k);
            c += u64::from(k);
        }
    }
    s / c as f64
}

fn regression(a: &PairedLog, b: &PairedLog, replicates: usize) -> Vec<PairedMetric> {
    let n = a.values.len();
    let per_row =
        |log: &PairedLog, f: fn(f64) -> f64| -> Vec<f64> { log.values.iter().map(|v| f(v[0] - v[1])).collect() };
    let mean_of = |v: Vec<f64>| -> Metric { Box::new(move |w: &[u32]| weighted_mean(&v, w)) };
    let sq = |e: f64| e * e;
    let r2 = |log: &PairedLog| -> Metric {
        let v = log.values.clone();
        Box::new(move |w: &[u32]| {
            let (mut c, mut sy, mut syy, mut sse) = (0.0, 0.0, 0.0, 0.0);
            for (x, &k) in v.iter().zip(w) {
                let k = f64::from(k);
                c += k;
                sy += k * x[0];
                syy += k * x[0] * x[0];
                sse += k * (x[0] - x[1]) * (x[0] - x[1]);
            }
            let sst = syy - sy * sy / c;
            if sst > 0.0 {
                1.0 - sse / sst
            } else {
                f64::NAN
            }
        })
    };
    vec![
        bootstrap("mean_squared_error", n, replicates, &mean_of(per_row(a, sq)), &mean_of(per_row(b, sq))),
        bootstrap("mean_absolute_error", n, replicates, &mean_of(per_row(a, f64::abs)), &mean_of(per_row(b, f64::abs))),
        bootstrap("r2_score", n, replicates, &r2(a), &r2(b)),
    ]
}

/// Row indices by ascending score (NaN last).
fn sorted_order(s: &[f64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..s.len() as u32).collect();
    order.sort_unstable_by(|&i, &j| s[i as usize].total_cmp(&s[j as usize]));
    order
}

/// ROC-AUC with integer row weights in one pass over the pre-sorted rows (ties count half).
fn weighted_auc(s: &[f64], y: &[bool], order: &[u32], w: &[u32]) -> f64 {
    let (mut neg_below, mut num, mut pos_all) = (0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let v = s[order[i] as usize];
        let (mut pos, mut neg) = (0.0, 0.0);
        while i < order.len() && s[order[i] as usize].total_cmp(&v).is_eq() {
            let r = order[i] as usize;
            let c = f64::from(w[r]);
            if y[r] {
                pos += c;
            } else {
                neg += c;
            }
            i += 1;
        }
        num += pos * (neg_below + 0.5 * neg);
        neg_below += neg;
        pos_all += pos;
    }
    if pos_all == 0.0 || neg_below == 0.0 {
        f64::NAN
    } else {
        num / (pos_all * neg_below)
    }
}

/// Midranks (1-based, ties averaged) of `v`.
fn midranks(v: &[f64]) -> Vec<f64> {
    let order = sorted_order(v);
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1] as usize].total_cmp(&v[order[i] as usize]).is_eq() {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o as usize] = r;
        }
        i = j + 1;
    }
    ranks
}

/// DeLong's variance of AUC(B) − AUC(A) on the same rows, and the two AUCs' covariance.
/// Uses the structural components computed from midranks (Sun & Xu 2014).
fn delong_paired(sa: &[f64], sb: &[f64], y: &[bool]) -> Option<(f64, f64)> {
    let m = y.iter().filter(|&&p| p).count();
    let nn = y.len() - m;
    if m < 2 || nn < 2 {
        return None;
    }
    // per model: V10 (one per positive) and V01 (one per negative)
    let parts = |s: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let pos: Vec<f64> = s.iter().zip(y).filter(|(_, &p)| p).map(|(v, _)| *v).collect();
        let neg: Vec<f64> = s.iter().zip(y).filter(|(_, &p)| !p).map(|(v, _)| *v).collect();
        let all = midranks(s);
        let (rp, rn) = (midranks(&pos), midranks(&neg));
        let (all_pos, all_neg): (Vec<f64>, Vec<f64>) = {
            let mut ap = Vec::with_capacity(m);
            let mut an = Vec::with_capacity(nn);
            for (r, &p) in all.iter().zip(y) {
                if p {
                    ap.push(*r);
                } else {
                    an.push(*r);
                }
            }
            (ap, an)
        };
        let v10 = all_pos.iter().zip(&rp).map(|(a, r)| (a - r) / nn as f64).collect();
        let v01 = all_neg.iter().zip(&rn).map(|(a, r)| 1.0 - (a - r) / m as f64).collect();
        (v10, v01)
    };
    let (a10, a01) = parts(sa);
    let (b10, b01) = parts(sb);
    let cov = |x: &[f64], z: &[f64]| -> f64 {
        let k = x.len() as f64;
        let (mx, mz) = (x.iter().sum::<f64>() / k, z.iter().sum::<f64>() / k);
        x.iter().zip(z).map(|(a, b)| (a - mx) * (b - mz)).sum::<f64>() / (k - 1.0)
    };
    let var = |x10: &[f64], x01: &[f64], z10: &[f64], z01: &[f64]| cov(x10, z10) / m as f64 + cov(x01, z01) / nn as f64;
    let vaa = var(&a10, &a01, &a10, &a01);
    let vbb = var(&b10, &b01, &b10, &b01);
    let vab = var(&a10, &a01, &b10, &b01);
    let v = vaa + vbb - 2.0 * vab;
    v.is_finite().then_some((v.max(0.0), vab))
}

/// Upper tail of the standard normal, 1 − Φ(z), from erfc (Numerical Recipes' Chebyshev
/// fit, relative error below 1.2e-7: ample for a p-value).
fn normal_sf(z: f64) -> f64 {
    0.5 * crate::metrics::ci::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail() {
        assert!((normal_sf(1.959_963_984_540_054) - 0.025).abs() < 1e-7);
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn weighted_auc_matches_the_pairs_count() {
        let s = [0.1, 0.4, 0.35, 0.8, 0.4];
        let y = [false, false, true, true, true];
        let order = sorted_order(&s);
        // pairs: pos {0.35, 0.8, 0.4} vs neg {0.1, 0.4}: 0.35>0.1 (1), 0.8 (2), 0.4>0.1 + tie (1.5) = 4.5/6
        assert!((weighted_auc(&s, &y, &order, &[1; 5]) - 0.75).abs() < 1e-12);
        // doubling a row counts it twice
        let w = [2, 1, 1, 1, 1];
        assert!((weighted_auc(&s, &y, &order, &w) - 7.5 / 9.0).abs() < 1e-12);
    }
}
