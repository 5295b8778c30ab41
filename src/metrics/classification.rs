//! Label-based classification metrics, all derived from one weighted confusion matrix.
//!
//! The accumulator only counts, so it streams and merges; every metric is a function of the
//! finished matrix. Conventions follow scikit-learn's defaults: labels are the sorted union of
//! truth and prediction, `zero_division="warn"` yields 0.0, and binary scores are for the
//! positive (greater) class.

use super::{num, MetricMap};
use serde::{Deserialize, Serialize};

/// Weighted counts by (truth, prediction) label id; the label names live with the caller
/// (`Evaluation`), which hands in ids. With intervals, each cell also sums every bootstrap
/// replicate's weights (allocated when the cell is first hit, so memory grows with the
/// confusions that occur, not with classes squared).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfusionAccumulator {
    /// counts[t][p], weighted, indexed by label id.
    counts: Vec<Vec<f64>>,
    /// reps[t][p][b]: replicate b's weight in the cell (empty until hit).
    reps: Vec<Vec<Vec<f64>>>,
    replicates: usize,
    rows: u64,
    /// Some row had a weight other than 1 (the analytic intervals assume unit weights).
    weighted: bool,
}

impl ConfusionAccumulator {
    pub fn new(replicates: usize) -> Self {
        ConfusionAccumulator { replicates, ..Self::default() }
    }

    /// One row; `draws`: its multiplicity in each replicate (its weight there: `weight`
    /// times that).
    #[inline]
    pub fn update(&mut self, t: u32, p: u32, weight: f64, draws: &[u8]) {
        let (t, p) = (t as usize, p as usize);
        if t.max(p) >= self.counts.len() {
            self.grow(t.max(p) + 1);
        }
        self.counts[t][p] += weight;
        self.weighted |= weight != 1.0;
        if self.replicates > 0 {
            let cell = &mut self.reps[t][p];
            if cell.is_empty() {
                cell.resize(self.replicates, 0.0);
            }
            for (c, &d) in cell.iter_mut().zip(draws) {
                *c += weight * f64::from(d);
            }
        }
        self.rows += 1;
    }

    /// Add `other`, whose label id `i` is our `map[i]`.
    pub fn merge(&mut self, other: &Self, map: &[u32]) {
        let to = |i: usize| map.get(i).map_or(i, |&m| m as usize);
        self.grow(other.counts.len().max(map.iter().map(|&m| m as usize + 1).max().unwrap_or(0)));
        for (t, row) in other.counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                self.counts[to(t)][to(p)] += c;
            }
        }
        if self.replicates == other.replicates && self.replicates > 0 {
            for (t, row) in other.reps.iter().enumerate() {
                for (p, cell) in row.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
                    let mine = &mut self.reps[to(t)][to(p)];
                    if mine.is_empty() {
                        mine.resize(self.replicates, 0.0);
                    }
                    for (a, b) in mine.iter_mut().zip(cell) {
                        *a += b;
                    }
                }
            }
        }
        self.rows += other.rows;
        self.weighted |= other.weighted;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn unit_weights(&self) -> bool {
        !self.weighted
    }

    fn grow(&mut self, k: usize) {
        if self.counts.len() < k {
            for row in &mut self.counts {
                row.resize(k, 0.0);
            }
            self.counts.resize(k, vec![0.0; k]);
            if self.replicates > 0 {
                for row in &mut self.reps {
                    row.resize(k, Vec::new());
                }
                self.reps.resize(k, vec![Vec::new(); k]);
            }
        }
    }

    /// The matrix in sklearn's label order; `names` are the label names by id (every
    /// named label is a class, as declared or seen).
    pub fn finish(&self, names: &[String]) -> ConfusionMatrix {
        let keep = vec![true; names.len()];
        ConfusionMatrix::from_indexed(names, &keep, |t, p| self.cell(t, p))
    }

    fn cell(&self, t: usize, p: usize) -> f64 {
        self.counts.get(t).and_then(|r| r.get(p)).copied().unwrap_or(0.0)
    }

    /// Bootstrap replicate `b`'s matrix. Its classes are those the replicate drew (or
    /// `declared`), as scikit-learn would see them in the resample.
    pub fn replicate(&self, b: usize, names: &[String], declared: &[bool]) -> ConfusionMatrix {
        let cell =
            |t: usize, p: usize| self.reps.get(t).and_then(|r| r.get(p)).and_then(|c| c.get(b)).copied().unwrap_or(0.0);
        let l = names.len();
        let mut keep: Vec<bool> = (0..l).map(|i| declared.get(i).copied().unwrap_or(false)).collect();
        for t in 0..l {
            for p in 0..l {
                if cell(t, p) > 0.0 {
                    keep[t] = true;
                    keep[p] = true;
                }
            }
        }
        ConfusionMatrix::from_indexed(names, &keep, cell)
    }
}

impl ConfusionMatrix {
    /// From counts by label id (`cell(t, p)`), keeping only the labels marked in `keep`, in
    /// sklearn's order.
    pub fn from_indexed(names: &[String], keep: &[bool], cell: impl Fn(usize, usize) -> f64) -> ConfusionMatrix {
        let mut classes: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.get(*i).copied().unwrap_or(false))
            .map(|(_, n)| n.clone())
            .collect();
        super::labels::sort(&mut classes);
        let ids: Vec<usize> = classes.iter().filter_map(|c| names.iter().position(|n| n == c)).collect();
        let counts = ids.iter().map(|&t| ids.iter().map(|&p| cell(t, p)).collect()).collect();
        ConfusionMatrix { classes, counts }
    }
}

/// A finished confusion matrix: `counts[true][pred]` in `classes` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<f64>>,
}

/// Per-class counts the precision/recall family is built from.
#[derive(Debug, Clone, Copy, Default)]
struct ClassCounts {
    tp: f64,
    pred: f64,
    support: f64,
}

fn div0(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// NaN (reported as `null`) where the denominator is zero: for rates scikit-learn has no
/// `zero_division` convention for.
fn div_nan(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        f64::NAN
    } else {
        num / den
    }
}

/// sklearn's F-beta from counts: (1+β²)tp / (β²·support + pred), 0 when both are zero.
fn fbeta(c: &ClassCounts, beta: f64) -> f64 {
    let b2 = beta * beta;
    div0((1.0 + b2) * c.tp, b2 * c.support + c.pred)
}

fn jaccard(c: &ClassCounts) -> f64 {
    div0(c.tp, c.pred + c.support - c.tp)
}

/// One row of the classification report: scikit-learn's columns plus the one-vs-rest rates
/// a confusion matrix gives for free.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: f64,
    /// TN / (TN + FP); NaN (null) when there are no negatives.
    pub specificity: f64,
    /// Negative predictive value TN / (TN + FN).
    pub npv: f64,
    /// False positive rate FP / (FP + TN).
    pub fpr: f64,
    /// False negative rate FN / (FN + TP).
    pub fnr: f64,
    pub jaccard: f64,
}

impl ClassStats {
    /// One class's row from its one-vs-rest counts (weighted true/false positives and
    /// negatives); also a multilabel label's row, from its 2x2 matrix.
    pub fn from_counts(tp: f64, fp: f64, fneg: f64, tn: f64) -> ClassStats {
        let c = ClassCounts { tp, pred: tp + fp, support: tp + fneg };
        ClassStats {
            precision: div0(tp, c.pred),
            recall: div0(tp, c.support),
            f1: fbeta(&c, 1.0),
            support: c.support,
            specificity: div_nan(tn, tn + fp),
            npv: div_nan(tn, tn + fneg),
            fpr: div_nan(fp, fp + tn),
            fnr: div_nan(fneg, fneg + tp),
            jaccard: jaccard(&c),
        }
    }
}

/// A per-class score from its counts.
type CountsMetric = fn(&ClassCounts) -> f64;

/// The averages scikit-learn offers for the precision/recall/F family.
const AVERAGES: [&str; 3] = ["macro", "weighted", "micro"];
/// F-beta values reported besides F1.
pub const BETAS: [f64; 2] = [0.5, 2.0];

impl ConfusionMatrix {
    pub fn total(&self) -> f64 {
        self.counts.iter().flatten().sum()
    }

    fn class_counts(&self) -> Vec<ClassCounts> {
        let k = self.classes.len();
        (0..k)
            .map(|i| ClassCounts {
                tp: self.counts[i][i],
                pred: (0..k).map(|t| self.counts[t][i]).sum(),
                support: self.counts[i].iter().sum(),
            })
            .collect()
    }

    /// The classification report, one row per class in class order.
    pub fn per_class(&self) -> Vec<ClassStats> {
        let total = self.total();
        self.class_counts()
            .iter()
            .map(|c| {
                let (fp, fneg) = (c.pred - c.tp, c.support - c.tp);
                ClassStats::from_counts(c.tp, fp, fneg, total - c.tp - fp - fneg)
            })
            .collect()
    }

    /// One per-class score averaged the scikit-learn ways; `pooled` is the micro value.
    fn averaged(m: &mut MetricMap, key: &str, suffix: &str, per: &[f64], cc: &[ClassCounts], pooled: f64) {
        let k = per.len();
        let support: f64 = cc.iter().map(|c| c.support).sum();
        let macro_avg = if k == 0 { f64::NAN } else { per.iter().sum::<f64>() / k as f64 };
        let weighted = div0(per.iter().zip(cc).map(|(v, c)| v * c.support).sum::<f64>(), support);
        for (avg, v) in AVERAGES.iter().zip([macro_avg, weighted, pooled]) {
            m.insert(format!("{key}@{avg}{suffix}"), num(v));
        }
    }

    /// All label-based metrics. `positive` is the index of the positive class for the
    /// binary (no `@`) precision/recall/F keys, present only for binary tasks.
    pub fn metrics(&self, positive: Option<usize>) -> MetricMap {
        let mut m = MetricMap::new();
        let total = self.total();
        let cc = self.class_counts();
        let correct: f64 = cc.iter().map(|c| c.tp).sum();
        let accuracy = div_nan(correct, total);
        m.insert("accuracy_score".into(), num(accuracy));
        m.insert("zero_one_loss".into(), num(1.0 - accuracy));
        // single-label: the fraction of wrong labels is the fraction of wrong rows.
        m.insert("hamming_loss".into(), num(1.0 - accuracy));

        // balanced accuracy: mean recall over classes present in the truth.
        let recalls: Vec<f64> = cc.iter().filter(|c| c.support > 0.0).map(|c| c.tp / c.support).collect();
        let bal = if recalls.is_empty() { f64::NAN } else { recalls.iter().sum::<f64>() / recalls.len() as f64 };
        m.insert("balanced_accuracy_score".into(), num(bal));
        let chance = 1.0 / recalls.len() as f64;
        m.insert("balanced_accuracy_score@adjusted".into(), num((bal - chance) / (1.0 - chance)));

        // pooled counts: single-label, so micro precision = recall = F = accuracy.
        let pooled = ClassCounts {
            tp: correct,
            pred: cc.iter().map(|c| c.pred).sum(),
            support: cc.iter().map(|c| c.support).sum(),
        };
        let per = self.per_class();
        let positive = positive.and_then(|p| cc.get(p).map(|c| (p, c)));
        let families: [(&str, CountsMetric); 4] = [
            ("precision_score", |c| div0(c.tp, c.pred)),
            ("recall_score", |c| div0(c.tp, c.support)),
            ("f1_score", |c| fbeta(c, 1.0)),
            ("jaccard_score", jaccard),
        ];
        for (key, f) in families {
            if let Some((_, c)) = positive {
                m.insert(key.into(), num(f(c)));
            }
            let values: Vec<f64> = cc.iter().map(f).collect();
            Self::averaged(&mut m, key, "", &values, &cc, f(&pooled));
        }
        for beta in BETAS {
            if let Some((_, c)) = positive {
                m.insert(format!("fbeta_score@beta={beta}"), num(fbeta(c, beta)));
            }
            let values: Vec<f64> = cc.iter().map(|c| fbeta(c, beta)).collect();
            Self::averaged(&mut m, "fbeta_score", &format!(",beta={beta}"), &values, &cc, fbeta(&pooled, beta));
        }
        debug_assert_eq!(per.len(), cc.len());

        m.insert("matthews_corrcoef".into(), num(self.mcc()));
        m.insert("cohen_kappa_score".into(), num(self.kappa(Kappa::None)));
        m.insert("cohen_kappa_score@linear".into(), num(self.kappa(Kappa::Linear)));
        m.insert("cohen_kappa_score@quadratic".into(), num(self.kappa(Kappa::Quadratic)));
        m.insert("confusion_matrix".into(), matrix_json(&self.counts, count_json));
        for (mode, norm) in [("true", Normalize::True), ("pred", Normalize::Pred), ("all", Normalize::All)] {
            m.insert(format!("confusion_matrix@normalize={mode}"), matrix_json(&self.normalized(norm), num));
        }
        m
    }

    /// `confusion_matrix(normalize=...)`: rows, columns or the whole matrix sum to one;
    /// an empty row/column stays zero, as scikit-learn's `nan_to_num` leaves it.
    pub fn normalized(&self, how: Normalize) -> Vec<Vec<f64>> {
        let k = self.classes.len();
        let total = self.total();
        let col_sums: Vec<f64> = (0..k).map(|j| (0..k).map(|i| self.counts[i][j]).sum()).collect();
        self.counts
            .iter()
            .map(|row| {
                let row_sum: f64 = row.iter().sum();
                row.iter()
                    .enumerate()
                    .map(|(j, &c)| match how {
                        Normalize::True => div0(c, row_sum),
                        Normalize::Pred => div0(c, col_sums[j]),
                        Normalize::All => div0(c, total),
                    })
                    .collect()
            })
            .collect()
    }

    /// Matthews correlation coefficient, multiclass form (Gorodkin), as sklearn.
    fn mcc(&self) -> f64 {
        let cc = self.class_counts();
        let s = self.total();
        let c: f64 = cc.iter().map(|x| x.tp).sum();
        let pk: f64 = cc.iter().map(|x| x.pred * x.support).sum();
        let pp: f64 = cc.iter().map(|x| x.pred * x.pred).sum();
        let tt: f64 = cc.iter().map(|x| x.support * x.support).sum();
        let cov_ytyp = c * s - pk;
        let cov_ypyp = s * s - pp;
        let cov_ytyt = s * s - tt;
        if cov_ypyp * cov_ytyt == 0.0 {
            0.0
        } else {
            cov_ytyp / (cov_ytyt * cov_ypyp).sqrt()
        }
    }

    /// Cohen's kappa as sklearn computes it: 1 - Σ w·observed / Σ w·expected, with the
    /// disagreement weights of `how` over class positions in sorted order.
    fn kappa(&self, how: Kappa) -> f64 {
        let k = self.classes.len();
        let cc = self.class_counts();
        let s = self.total();
        if s == 0.0 {
            return f64::NAN;
        }
        let (mut observed, mut expected) = (0.0, 0.0);
        for i in 0..k {
            for j in 0..k {
                let d = i.abs_diff(j) as f64;
                let w = match how {
                    Kappa::None => f64::from(u8::from(i != j)),
                    Kappa::Linear => d,
                    Kappa::Quadratic => d * d,
                };
                observed += w * self.counts[i][j];
                // sklearn: outer(column sums, row sums) / total
                expected += w * (cc[i].pred * cc[j].support / s);
            }
        }
        if expected == 0.0 {
            f64::NAN
        } else {
            1.0 - observed / expected
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kappa {
    None,
    Linear,
    Quadratic,
}

/// `confusion_matrix`'s `normalize` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    True,
    Pred,
    All,
}

fn matrix_json(rows: &[Vec<f64>], cell: fn(f64) -> serde_json::Value) -> serde_json::Value {
    serde_json::Value::Array(rows.iter().map(|row| row.iter().map(|&c| cell(c)).collect()).collect())
}

/// Counts are integers unless weights made them fractional; print them as such.
pub(super) fn count_json(c: f64) -> serde_json::Value {
    if c.fract() == 0.0 && c.abs() < 9e15 {
        serde_json::Value::from(c as i64)
    } else {
        serde_json::Value::from(c)
    }
}
