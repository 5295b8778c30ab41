//! Label-based classification metrics, all derived from one weighted confusion matrix.
//!
//! The accumulator only counts, so it streams and merges; every metric is a function of the
//! finished matrix. Conventions follow scikit-learn's defaults: labels are the sorted union of
//! truth and prediction, `zero_division="warn"` yields 0.0, and binary scores are for the
//! positive (greater) class.

use super::labels::LabelIndex;
use super::{num, MetricMap};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfusionAccumulator {
    labels: LabelIndex,
    /// counts[t][p], weighted, indexed by interned label.
    counts: Vec<Vec<f64>>,
    rows: u64,
}

impl ConfusionAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start with a known class set (e.g. from probability column headers).
    pub fn with_classes(classes: &[String]) -> Self {
        let mut acc = Self { labels: LabelIndex::with_labels(classes), ..Self::default() };
        acc.grow();
        acc
    }

    pub fn update(&mut self, truth: &str, pred: &str, weight: f64) {
        let t = self.labels.intern(truth) as usize;
        let p = self.labels.intern(pred) as usize;
        self.grow();
        self.counts[t][p] += weight;
        self.rows += 1;
    }

    pub fn merge(&mut self, other: &Self) {
        let map = self.labels.absorb(&other.labels);
        self.grow();
        for (t, row) in other.counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                self.counts[map[t] as usize][map[p] as usize] += c;
            }
        }
        self.rows += other.rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn grow(&mut self) {
        let k = self.labels.len();
        if self.counts.len() < k {
            for row in &mut self.counts {
                row.resize(k, 0.0);
            }
            self.counts.resize(k, vec![0.0; k]);
        }
    }

    /// The matrix in sklearn's label order.
    pub fn finish(&self) -> ConfusionMatrix {
        let (classes, remap) = self.labels.sorted();
        let k = classes.len();
        let mut counts = vec![vec![0.0; k]; k];
        for (t, row) in self.counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                counts[remap[t]][remap[p]] += c;
            }
        }
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

/// sklearn computes F1 from counts, 2tp / (pred + support), 0 when both are zero.
fn f1(c: &ClassCounts) -> f64 {
    div0(2.0 * c.tp, c.pred + c.support)
}

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

    /// Per-class precision, recall, F1 and support, in class order.
    pub fn per_class(&self) -> Vec<[f64; 4]> {
        self.class_counts().iter().map(|c| [div0(c.tp, c.pred), div0(c.tp, c.support), f1(c), c.support]).collect()
    }

    /// All label-based metrics. `positive` is the index of the positive class for the
    /// binary (no `@`) precision/recall/F1 keys, present only for binary tasks.
    pub fn metrics(&self, positive: Option<usize>) -> MetricMap {
        let mut m = MetricMap::new();
        let total = self.total();
        let k = self.classes.len();
        let cc = self.class_counts();
        let correct: f64 = cc.iter().map(|c| c.tp).sum();
        m.insert("accuracy_score".into(), num(div0(correct, total)));

        // balanced accuracy: mean recall over classes present in the truth.
        let recalls: Vec<f64> = cc.iter().filter(|c| c.support > 0.0).map(|c| c.tp / c.support).collect();
        let bal = if recalls.is_empty() { f64::NAN } else { recalls.iter().sum::<f64>() / recalls.len() as f64 };
        m.insert("balanced_accuracy_score".into(), num(bal));

        let per = self.per_class();
        if let Some(pos) = positive {
            let [p, r, f, _] = per.get(pos).copied().unwrap_or([0.0; 4]);
            m.insert("precision_score".into(), num(p));
            m.insert("recall_score".into(), num(r));
            m.insert("f1_score".into(), num(f));
        }
        let support_total: f64 = cc.iter().map(|c| c.support).sum();
        for (name, col) in [("precision_score", 0), ("recall_score", 1), ("f1_score", 2)] {
            let macro_avg = if k == 0 { f64::NAN } else { per.iter().map(|v| v[col]).sum::<f64>() / k as f64 };
            let weighted = div0(per.iter().map(|v| v[col] * v[3]).sum::<f64>(), support_total);
            m.insert(format!("{name}@macro"), num(macro_avg));
            m.insert(format!("{name}@weighted"), num(weighted));
        }
        // micro: pooled counts (over all labels, single-label so micro P = R = F1 = accuracy).
        let pred_total: f64 = cc.iter().map(|c| c.pred).sum();
        let micro_p = div0(correct, pred_total);
        let micro_r = div0(correct, support_total);
        m.insert("precision_score@micro".into(), num(micro_p));
        m.insert("recall_score@micro".into(), num(micro_r));
        m.insert("f1_score@micro".into(), num(div0(2.0 * correct, pred_total + support_total)));

        m.insert("matthews_corrcoef".into(), num(self.mcc()));
        m.insert("cohen_kappa_score".into(), num(self.kappa()));
        m.insert(
            "confusion_matrix".into(),
            serde_json::Value::Array(
                self.counts.iter().map(|row| row.iter().map(|&c| count_json(c)).collect()).collect(),
            ),
        );
        m
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

    /// Cohen's kappa, unweighted.
    fn kappa(&self) -> f64 {
        let cc = self.class_counts();
        let s = self.total();
        if s == 0.0 {
            return f64::NAN;
        }
        let po: f64 = cc.iter().map(|x| x.tp).sum::<f64>() / s;
        let pe: f64 = cc.iter().map(|x| x.pred * x.support).sum::<f64>() / (s * s);
        if pe == 1.0 {
            f64::NAN
        } else {
            (po - pe) / (1.0 - pe)
        }
    }
}

/// Counts are integers unless weights made them fractional; print them as such.
fn count_json(c: f64) -> serde_json::Value {
    if c.fract() == 0.0 && c.abs() < 9e15 {
        serde_json::Value::from(c as i64)
    } else {
        serde_json::Value::from(c)
    }
}
