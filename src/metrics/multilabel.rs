//! Multilabel (indicator) metrics, as scikit-learn computes them for a `multilabel-indicator`
//! `y_true`: one 0/1 column per label, predictions as 0/1 columns, scores as one column per
//! label.
//!
//! Everything label-based is a sum, so it streams and merges like the confusion matrix: per
//! label the weighted true positives, false positives and false negatives (true negatives are
//! the rest), and per row the sample-averaged quantities (`average="samples"`: each row's
//! precision, recall, F-beta and Jaccard, or the weight of rows where they hit
//! `zero_division`). The per-row ranking metrics (coverage error, label ranking average
//! precision, ranking loss, and each row's ROC-AUC and AP for `average="samples"`) only need
//! the row's own scores, so they stream too. Only the per-label and micro ROC-AUC / AP need
//! every score; they are kept as in the single-label case and walked once per label at
//! `finish`, the bootstrap replicates alongside. Past the score budget each label's scores
//! go to a binned sketch instead ([`super::sketch`]), as in the single-label case.
//!
//! Label order is the file's column order, as scikit-learn's indicator columns are.

use super::ci::{KeyLookup, Poisson};
use super::classification::{count_json, ClassStats, BETAS};
use super::ranking::{
    bounds_of, mean, walk_groups, weighted, Budget, Labels, MergeKeys, NamedCurve, RankingParts, SketchInfo, Sketching,
    Store, Walk, WalkResult, WalkRows,
};
use super::sketch::{self, Groups, SketchSet};
use super::sort::{self, POSITIVE};
use super::{num, MetricMap};
use serde::{Deserialize, Serialize};

/// Per-row sums, after the 3 per-label counts (tp, fp, fn) of every label.
const W: usize = 0;
const SUBSET: usize = 1;
const HAMMING: usize = 2;
/// (value sum, weight of rows where the value is `zero_division`) pairs, in this order:
/// precision, recall, F1, F-beta for each of BETAS, Jaccard.
const PAIRS: usize = 3;
const N_PAIRS: usize = 4 + BETAS.len();
const COVERAGE: usize = PAIRS + 2 * N_PAIRS;
const LRAP: usize = COVERAGE + 1;
const RANKING_LOSS: usize = COVERAGE + 2;
/// Each row's ROC-AUC and AP over its labels, and the count of rows where it is undefined.
const ROW_AUC: usize = COVERAGE + 3;
const ROW_AUC_UNDEFINED: usize = COVERAGE + 4;
const ROW_AP: usize = COVERAGE + 5;
const ROW_AP_UNDEFINED: usize = COVERAGE + 6;
const ROW_FIELDS: usize = COVERAGE + 7;

/// The label-set accumulator: streamed sums for the point estimate and each bootstrap
/// replicate, plus the scores for the exact per-label ranking metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MultilabelAccumulator {
    labels: Vec<String>,
    scored: bool,
    replicates: usize,
    /// [replicate 0 = point, 1..][3 * labels + ROW_FIELDS].
    sums: Vec<f64>,
    /// The point estimate's true negatives per label, summed rather than derived as
    /// total - tp - fp - fn, which leaves rounding noise (even a negative count) where it is 0.
    tn: Vec<f64>,
    rows: u64,
    weighted: bool,
    /// Truth bits, `words` u64 per row (only with scores).
    truth: Vec<u64>,
    scores: Store,
    weights: Option<Vec<f64>>,
    /// Most scores stored; past it they go to `sketches`.
    #[serde(default)]
    budget: Budget,
    /// Past the budget: one sketch per label, by truth (0/1); empty while scores are stored.
    #[serde(default)]
    sketches: SketchSet,
    /// Per-row scratch: label order by descending score, and the row's label cells.
    #[serde(skip)]
    order: Vec<usize>,
    #[serde(skip)]
    cells: Vec<usize>,
    /// The rows will only be binned: scores stored as f32 (see
    /// [`crate::metrics::ranking::ScoreAccumulator::bins_only`]).
    #[serde(skip)]
    bins_only: bool,
}

/// What [`MultilabelAccumulator::finish`] produces.
pub struct MultilabelReport {
    pub metrics: MetricMap,
    /// The scalar metrics of each bootstrap replicate.
    pub replicates: Vec<MetricMap>,
    /// The classification report, one row per label in column order.
    pub per_label: Vec<ClassStats>,
    /// Per-label ROC and PR curves (with scores).
    pub curves: Vec<NamedCurve>,
    /// Set when the ranking metrics came from the binned sketches.
    pub sketch: Option<SketchInfo>,
}

/// `num / den`, or `zero` when the denominator is zero (scikit-learn's `zero_division`).
fn ratio(num: f64, den: f64, zero: f64) -> f64 {
    if den == 0.0 {
        zero
    } else {
        num / den
    }
}

impl Sketching for MultilabelAccumulator {
    fn sketch_set(&self) -> &SketchSet {
        &self.sketches
    }

    /// One sketch per label, by truth (0/1), each row with its replicate weights
    /// regenerated from its key.
    fn sketch_stored(&self, keys: &KeyLookup, poisson: Poisson) -> SketchSet {
        let k = self.k();
        let label = |i: usize, l: usize| u32::from(self.bit(i, l));
        let weights = self.weights.as_deref();
        let rows = self.stored_rows();
        self.budget.sketch_rows(
            k,
            rows,
            self.replicates,
            weights,
            keys,
            poisson,
            &|_| true,
            &self.scores,
            Labels::Cells(&label),
        )
    }

    fn keep(&mut self, sketches: SketchSet) {
        self.truth = Vec::new();
        self.scores = Store::default();
        self.weights = None;
        self.sketches = sketches;
    }
}

impl MultilabelAccumulator {
    /// `labels` in column order; `scored`: a score column per label is fed with each row.
    pub fn new(labels: &[String], scored: bool, replicates: usize) -> Self {
        let mut a = MultilabelAccumulator { labels: labels.to_vec(), scored, replicates, ..Self::default() };
        a.sums = vec![0.0; (replicates + 1) * a.block()];
        a.tn = vec![0.0; labels.len()];
        a
    }

    /// Store at most `budget.scores` scores (one per label per row); past that, bin them.
    /// Call before the first row.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// More scores are stored than the budget allows: time for [`Self::switch_to_sketch`].
    pub fn over_budget(&self) -> bool {
        self.scored && !self.sketched() && self.stored_rows() * self.k() > self.budget.scores()
    }

    /// Scores a row holds (0 without scores).
    pub fn width(&self) -> usize {
        if self.scored {
            self.k()
        } else {
            0
        }
    }

    /// Rows whose scores are stored.
    fn stored_rows(&self) -> usize {
        self.truth.len() / self.words().max(1)
    }

    /// Bytes of the stored scores, truth bits and weights.
    pub fn stored_bytes(&self) -> usize {
        self.truth.len() * 8 + self.scores.bytes() + self.weights.as_ref().map_or(0, |w| w.len() * 8)
    }

    /// Bytes held by the sketches (0 while the scores are stored).
    pub fn sketch_bytes(&self) -> usize {
        self.sketches.bytes()
    }

    /// Store scores as f32 from now on: the rows will only be binned (see
    /// [`crate::metrics::ranking::ScoreAccumulator::bins_only`]).
    pub fn bins_only(&mut self) {
        self.bins_only = true;
    }

    /// Bin the rows waiting for the sketches (see [`SketchSet`]).
    pub fn flush(&mut self) {
        self.sketches.flush();
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    fn k(&self) -> usize {
        self.labels.len()
    }

    fn block(&self) -> usize {
        3 * self.k() + ROW_FIELDS
    }

    fn words(&self) -> usize {
        self.k().div_ceil(64)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn unit_weights(&self) -> bool {
        !self.weighted
    }

    /// One row: `truth` and `pred` hold one value per label (non-zero = the label is set),
    /// `scores` one score per label when scored (missing values count as NaN, never a
    /// panic); `draws`: the row's multiplicity in each bootstrap replicate (its weight there:
    /// `weight` times that).
    pub fn update(&mut self, truth: &[f64], pred: &[f64], scores: &[f64], weight: f64, draws: &[u8]) {
        let k = self.k();
        let is = |v: &[f64], l: usize| v.get(l).is_some_and(|&x| x != 0.0);
        let mut v = [0.0; ROW_FIELDS];
        let (mut tp, mut n_true, mut n_pred) = (0.0, 0.0, 0.0);
        self.cells.clear();
        for l in 0..k {
            let (t, p) = (is(truth, l), is(pred, l));
            n_true += f64::from(u8::from(t));
            n_pred += f64::from(u8::from(p));
            tp += f64::from(u8::from(t && p));
            match (t, p) {
                (true, true) => self.cells.push(3 * l),
                (false, true) => self.cells.push(3 * l + 1),
                (true, false) => self.cells.push(3 * l + 2),
                (false, false) => {
                    if let Some(tn) = self.tn.get_mut(l) {
                        *tn += weight;
                    }
                }
            }
        }
        let differ = n_true + n_pred - 2.0 * tp;
        v[W] = 1.0;
        v[SUBSET] = f64::from(u8::from(differ == 0.0));
        v[HAMMING] = differ;
        let mut pair = |i: usize, num: f64, den: f64| {
            if den == 0.0 {
                v[PAIRS + 2 * i + 1] = 1.0;
            } else {
                v[PAIRS + 2 * i] = num / den;
            }
        };
        pair(0, tp, n_pred);
        pair(1, tp, n_true);
        for (i, beta) in std::iter::once(1.0).chain(BETAS).enumerate() {
            let b2 = beta * beta;
            pair(2 + i, (1.0 + b2) * tp, b2 * n_true + n_pred);
        }
        pair(N_PAIRS - 1, tp, n_true + n_pred - tp);
        if self.scored {
            self.rank_row(truth, scores, &mut v);
        }

        let block = self.block();
        for (r, sums) in self.sums.chunks_exact_mut(block).enumerate() {
            let x = if r == 0 { weight } else { draws.get(r - 1).map_or(0.0, |&d| weight * f64::from(d)) };
            if x == 0.0 && r > 0 {
                continue;
            }
            for &c in &self.cells {
                sums[c] += x;
            }
            let row = &mut sums[3 * k..];
            for (f, (a, b)) in row.iter_mut().zip(&v).enumerate() {
                // a row whose own ranking metric is undefined counts whatever its weight
                let undefined = f == ROW_AUC_UNDEFINED || f == ROW_AP_UNDEFINED;
                *a += if undefined && r == 0 { *b } else { x * b };
            }
        }

        if self.scored && self.sketched() {
            let rep = &draws[..draws.len().min(self.replicates)];
            self.sketches.push(&|l| (scores.get(l).copied().unwrap_or(f64::NAN), u32::from(is(truth, l))), weight, rep);
        } else if self.scored {
            let words = self.words();
            let at = self.truth.len();
            self.truth.resize(at + words, 0);
            for l in (0..k).filter(|&l| is(truth, l)) {
                self.truth[at + l / 64] |= 1 << (l % 64);
            }
            if self.bins_only {
                self.scores.push_row_f32(scores, k);
            } else {
                for l in 0..k {
                    self.scores.push(scores.get(l).copied().unwrap_or(f64::NAN));
                }
            }
            let row = self.rows as usize;
            if weight != 1.0 && self.weights.is_none() {
                self.weights = Some(vec![1.0; row]);
            }
            if let Some(w) = &mut self.weights {
                w.push(weight);
            }
        }
        self.weighted |= weight != 1.0;
        self.rows += 1;
    }

    /// The row's ranking metrics from its labels sorted by descending score, tied scores
    /// taken as one group (sklearn's "max" ranks): coverage error, label ranking average
    /// precision, ranking loss, and the row's ROC-AUC and AP.
    fn rank_row(&mut self, truth: &[f64], scores: &[f64], v: &mut [f64; ROW_FIELDS]) {
        let k = self.k();
        let s = |l: usize| scores.get(l).copied().unwrap_or(f64::NAN);
        let t = |l: usize| truth.get(l).is_some_and(|&x| x != 0.0);
        self.order.clear();
        self.order.extend(0..k);
        self.order.sort_unstable_by(|&a, &b| s(b).total_cmp(&s(a)));
        let n_pos = (0..k).filter(|&l| t(l)).count() as f64;
        let n_neg = k as f64 - n_pos;
        // cumulative positives / all labels above and including the current group
        let (mut tp, mut seen) = (0.0, 0.0);
        let (mut precision_sum, mut greater, mut ties, mut coverage) = (0.0, 0.0, 0.0, 0.0);
        let mut i = 0;
        while i < k {
            let score = s(self.order[i]);
            let (mut dtp, mut dfp) = (0.0, 0.0);
            while i < k && s(self.order[i]).total_cmp(&score).is_eq() {
                if t(self.order[i]) {
                    dtp += 1.0;
                } else {
                    dfp += 1.0;
                }
                i += 1;
            }
            greater += dfp * tp;
            ties += dtp * dfp;
            tp += dtp;
            seen += dtp + dfp;
            if dtp > 0.0 {
                precision_sum += dtp * tp / seen;
                coverage = seen;
            }
        }
        v[COVERAGE] = coverage;
        let pairs = n_pos * n_neg;
        if pairs == 0.0 {
            v[LRAP] = 1.0;
            v[RANKING_LOSS] = 0.0;
            v[ROW_AUC_UNDEFINED] = 1.0;
        } else {
            v[LRAP] = precision_sum / n_pos;
            // pairs (positive, negative) with the negative scored at least as high
            v[RANKING_LOSS] = (pairs - greater) / pairs;
            v[ROW_AUC] = (greater + 0.5 * ties) / pairs;
        }
        if n_pos == 0.0 {
            v[ROW_AP_UNDEFINED] = 1.0;
        } else {
            v[ROW_AP] = precision_sum / n_pos;
        }
    }

    /// Add `other` (chunks of the same file: labels matched by name; a label we do not
    /// have is dropped, one other lacks counts as never set and unscored; `keys`: both
    /// sides' row keys, to sketch stored rows when the merged scores pass the budget).
    pub fn merge(&mut self, other: &Self, keys: &MergeKeys) {
        let k = self.k();
        let to: Vec<Option<usize>> = other.labels.iter().map(|n| self.labels.iter().position(|m| m == n)).collect();
        let block = self.block();
        let other_block = other.block();
        let blocks = if other.replicates == self.replicates { self.replicates + 1 } else { 1 };
        for r in 0..blocks {
            let (mine, theirs) = (&mut self.sums[r * block..(r + 1) * block], &other.sums[r * other_block..]);
            for (j, t) in to.iter().enumerate() {
                if let Some(l) = t {
                    for f in 0..3 {
                        mine[3 * l + f] += theirs[3 * j + f];
                    }
                }
            }
            for f in 0..ROW_FIELDS {
                mine[3 * k + f] += theirs[3 * other.k() + f];
            }
        }
        for (j, t) in to.iter().enumerate() {
            if let (Some(l), Some(x)) = (t, other.tn.get(j)) {
                self.tn[*l] += x;
            }
        }
        let sketching = self.sketched()
            || other.sketched()
            || (self.stored_rows() + other.stored_rows()) * self.k() > self.budget.scores();
        if self.scored && other.scored && sketching {
            let theirs = keys.both_sketched(self, other);
            let sketches = self.sketches.get_mut();
            for (j, sk) in theirs.iter().enumerate() {
                if let Some(mine) = to[j].and_then(|l| sketches.get_mut(l)) {
                    mine.merge(sk, &[]);
                }
            }
        } else if self.scored && other.scored {
            let rows = self.rows as usize;
            if other.weights.is_some() && self.weights.is_none() {
                self.weights = Some(vec![1.0; rows]);
            }
            match (&mut self.weights, &other.weights) {
                (Some(a), Some(b)) => a.extend_from_slice(b),
                (Some(a), None) => a.extend(std::iter::repeat_n(1.0, other.rows as usize)),
                _ => {}
            }
            let from: Vec<Option<usize>> = (0..k).map(|l| to.iter().position(|t| *t == Some(l))).collect();
            let (words, other_words) = (self.words(), other.words());
            for r in 0..other.rows as usize {
                let at = self.truth.len();
                self.truth.resize(at + words, 0);
                for (l, f) in from.iter().enumerate() {
                    let j = match f {
                        Some(j) => *j,
                        None => {
                            self.scores.push(f64::NAN);
                            continue;
                        }
                    };
                    if other.truth[r * other_words + j / 64] >> (j % 64) & 1 == 1 {
                        self.truth[at + l / 64] |= 1 << (l % 64);
                    }
                    self.scores.push(other.scores.get(r * other.k() + j));
                }
            }
        }
        self.rows += other.rows;
        self.weighted |= other.weighted;
    }

    fn bit(&self, row: usize, l: usize) -> bool {
        self.truth.get(row * self.words() + l / 64).is_some_and(|w| w >> (l % 64) & 1 == 1)
    }

    /// The metrics of the point estimate and each replicate, the per-label report and (with
    /// `full`) the per-label curves. `keys`/`poisson`: the rows' bootstrap keys and draws.
    pub fn finish(&self, keys: &KeyLookup, poisson: Poisson, full: bool) -> MultilabelReport {
        let block = self.block();
        let mut out: Vec<MetricMap> = self
            .sums
            .chunks_exact(block)
            .enumerate()
            .map(|(r, b)| self.label_metrics(b, (r == 0).then_some(&self.tn[..])))
            .collect();
        let (mut curves, mut sketch) = (Vec::new(), None);
        if self.scored {
            (curves, sketch) = self.score_metrics(keys, poisson, full, &mut out);
        }
        let k = self.k();
        let point = &self.sums[..block];
        let per_label = (0..k)
            .map(|l| {
                let (tp, fp, fneg) = (point[3 * l], point[3 * l + 1], point[3 * l + 2]);
                ClassStats::from_counts(tp, fp, fneg, self.tn[l])
            })
            .collect();
        let metrics = out.remove(0);
        MultilabelReport { metrics, replicates: out, per_label, curves, sketch }
    }

    /// The label-based metrics from one replicate's sums (`tn`: summed true negatives, for
    /// the point estimate; replicates derive theirs).
    fn label_metrics(&self, b: &[f64], tn: Option<&[f64]>) -> MetricMap {
        let k = self.k();
        let row = &b[3 * k..];
        let total = row[W];
        let mut m = MetricMap::new();
        let accuracy = ratio(row[SUBSET], total, f64::NAN);
        m.insert("accuracy_score".into(), num(accuracy));
        m.insert("zero_one_loss".into(), num(1.0 - accuracy));
        m.insert("hamming_loss".into(), num(ratio(row[HAMMING], total * k as f64, f64::NAN)));

        let counts: Vec<(f64, f64, f64)> = (0..k).map(|l| (b[3 * l], b[3 * l + 1], b[3 * l + 2])).collect();
        let pooled = counts.iter().fold((0.0, 0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
        let support: Vec<f64> = counts.iter().map(|c| c.0 + c.2).collect();
        // (key, key suffix, field pair, score from (tp, fp, fn) with zero_division z)
        type Score = Box<dyn Fn((f64, f64, f64), f64) -> f64>;
        let mut families: Vec<(&str, String, usize, Score)> = vec![
            ("precision_score", String::new(), 0, Box::new(|(tp, fp, _), z| ratio(tp, tp + fp, z))),
            ("recall_score", String::new(), 1, Box::new(|(tp, _, fneg), z| ratio(tp, tp + fneg, z))),
            ("f1_score", String::new(), 2, Box::new(|(tp, fp, fneg), z| ratio(2.0 * tp, 2.0 * tp + fp + fneg, z))),
        ];
        for (i, beta) in BETAS.iter().copied().enumerate() {
            let b2 = beta * beta;
            families.push((
                "fbeta_score",
                format!(",beta={beta}"),
                3 + i,
                Box::new(move |(tp, fp, fneg), z| ratio((1.0 + b2) * tp, (1.0 + b2) * tp + b2 * fneg + fp, z)),
            ));
        }
        families.push((
            "jaccard_score",
            String::new(),
            N_PAIRS - 1,
            Box::new(|(tp, fp, fneg), z| ratio(tp, tp + fp + fneg, z)),
        ));
        for (key, suffix, pair, f) in &families {
            // zero_division=1 besides the default (0) for the families that take it
            let zs: &[f64] = if suffix.is_empty() { &[0.0, 1.0] } else { &[0.0] };
            for &z in zs {
                let zs = if z == 0.0 { String::new() } else { ",zero_division=1".to_string() };
                let per: Vec<f64> = counts.iter().map(|&c| f(c, z)).collect();
                let macro_avg = mean(&per);
                let sup: f64 = support.iter().sum();
                let weighted_avg = if sup == 0.0 { 0.0 } else { weighted(&per, &support) };
                let samples = ratio(row[PAIRS + 2 * pair] + z * row[PAIRS + 2 * pair + 1], total, f64::NAN);
                for (avg, v) in
                    [("macro", macro_avg), ("weighted", weighted_avg), ("micro", f(pooled, z)), ("samples", samples)]
                {
                    m.insert(format!("{key}@{avg}{suffix}{zs}"), num(v));
                }
            }
        }
        let mcm = counts
            .iter()
            .enumerate()
            .map(|(l, &(tp, fp, fneg))| {
                let tn = tn.and_then(|t| t.get(l).copied()).unwrap_or(total - tp - fp - fneg);
                serde_json::json!([[count_json(tn), count_json(fp)], [count_json(fneg), count_json(tp)]])
            })
            .collect();
        m.insert("multilabel_confusion_matrix".into(), serde_json::Value::Array(mcm));
        if self.scored {
            let rate = |f: usize| ratio(row[f], total, f64::NAN);
            m.insert("coverage_error".into(), num(rate(COVERAGE)));
            m.insert("label_ranking_average_precision_score".into(), num(rate(LRAP)));
            m.insert("label_ranking_loss".into(), num(rate(RANKING_LOSS)));
            let samples = |f: usize, undefined: usize| if row[undefined] > 0.0 { f64::NAN } else { rate(f) };
            m.insert("roc_auc_score@samples".into(), num(samples(ROW_AUC, ROW_AUC_UNDEFINED)));
            m.insert("average_precision_score@samples".into(), num(samples(ROW_AP, ROW_AP_UNDEFINED)));
        }
        m
    }

    /// Per-label and micro ROC-AUC / AP for every replicate (into `out`), the curves, and
    /// (past the budget) what the sketches did.
    fn score_metrics(
        &self,
        keys: &KeyLookup,
        poisson: Poisson,
        full: bool,
        out: &mut [MetricMap],
    ) -> (Vec<NamedCurve>, Option<SketchInfo>) {
        let k = self.k();
        let mut curves = Vec::new();
        let mut per_label: Vec<WalkResult> = Vec::with_capacity(k);
        let mut record = |l: usize, mut res: WalkResult| {
            if let Some(curve) = res.curve.take() {
                let s = &res.states[0];
                curves.push(curve.into_named(self.labels[l].clone(), s.auc(), s.average_precision()));
            }
            per_label.push(res);
        };
        let sketches = self.sketches.get();
        let (micro, bounds) = if self.sketched() {
            let groups: Vec<Groups> = sketches.iter().map(|s| s.groups(&|t| Some(t == 1))).collect();
            for (l, g) in groups.iter().enumerate() {
                record(l, walk_groups(g, false, full));
            }
            let micro_groups = Groups::sum(&groups);
            let label_bounds: Vec<sketch::Bounds> = groups.iter().map(bounds_of).collect();
            let micro_bounds = bounds_of(&micro_groups);
            let bounds = (label_bounds, micro_bounds);
            (walk_groups(&micro_groups, false, false), Some(bounds))
        } else {
            let n = self.rows as usize;
            let walk = WalkRows {
                rows: n,
                replicates: self.replicates,
                poisson,
                keys,
                weights: self.weights.as_deref(),
                store: &self.scores,
                budget: self.budget,
                per_row: k,
            };
            let flag = |row: usize, l: usize| row as u32 | if self.bit(row, l) { POSITIVE } else { 0 };
            let (labels, micro) = walk.in_blocks(|walk, first| {
                let labels: Vec<WalkResult> = (0..k)
                    .map(|l| {
                        let mut w = Walk::new(walk, None, full && first, false);
                        sort::for_each_sorted(n, |i| self.scores.key(i * k + l), |i| flag(i, l), |items| w.feed(items));
                        w.finish()
                    })
                    .collect();
                let mut w = Walk::new(walk, None, false, false);
                sort::for_each_sorted(n * k, |i| self.scores.key(i), |i| flag(i / k, i % k), |items| w.feed(items));
                (labels, w.finish())
            });
            for (l, res) in labels.into_iter().enumerate() {
                record(l, res);
            }
            (micro, None)
        };
        for (r, m) in out.iter_mut().enumerate() {
            m.extend(RankingParts::of(&per_label, &micro, None, r).metrics());
        }
        let sketch = bounds.map(|(labels, micro)| {
            let parts = RankingParts {
                auc: labels.iter().map(|b| b.roc_auc).collect(),
                ap: labels.iter().map(|b| b.average_precision).collect(),
                support: per_label.iter().map(|o| o.states[0].tp).collect(),
                micro: (micro.roc_auc, micro.average_precision),
                pairs: None,
            };
            SketchInfo::new(self.budget.scores(), &sketches, parts.metrics())
        });
        (curves, sketch)
    }
}
