//! Ranking metrics in bounded memory: past a budget of stored scores, scores are binned on a
//! fixed grid and ROC-AUC / average precision come from the bins, each with a proven bound on
//! its distance from the exact value.
//!
//! The grid is the score's f32 bit pattern cut to its sign, exponent and top
//! [`MANTISSA_BITS`] mantissa bits: bins are monotone in the score, their width is relative
//! (2^-15 of the score, whatever its range: probabilities, logits, margins) and the same for
//! every chunk, so two sketches merge by adding weights bin by bin.
//!
//! The binned metrics treat each bin as one group of tied scores (scikit-learn's tie rule).
//! Only pairs of rows inside one bin can be ordered differently from the exact scores, so:
//! - ROC-AUC: the exact value is within `0.5 * Σ_b pos_b * neg_b / (P * N)` of the binned one
//!   (a bin's within-bin pairs count between 0 and all of them, binned: half);
//! - average precision: every positive row in bin `b`, with `TP_b`/`FP_b` the weight above
//!   the bin, has its exact precision between `TP_b / (TP_b + FP_b + neg_b)` and
//!   `(TP_b + pos_b) / (TP_b + pos_b + FP_b)`, which brackets the exact AP; the bound is the
//!   larger distance from the binned AP to either end;
//! - partial ROC-AUC: the area up to `max_fpr` moves by at most half of each bin's rectangle
//!   below the bound and all of the rectangle that straddles it.

use super::sort;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Mantissa bits kept in a bin: bins are 2^-15 of the score wide (relative).
pub const MANTISSA_BITS: u32 = 15;
/// Bits of a descending f32 key ([`sort::desc_key_f32`]) dropped to get a bin.
const SHIFT: u32 = 32 + 23 - MANTISSA_BITS;

/// Weighted rows and row counts per (bin, label id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreSketch {
    bins: HashMap<(u32, u32), (f64, u64)>,
    rows: u64,
}

/// One bin in descending score order: its lowest score, positive / negative weight and rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub threshold: f64,
    pub pos: f64,
    pub neg: f64,
    /// A bin of one row has no order inside it: its metrics are exact.
    pub rows: u64,
}

/// The largest distance between each binned metric and its exact value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub roc_auc: f64,
    pub average_precision: f64,
    pub partial_roc_auc: f64,
}

impl ScoreSketch {
    /// The bin of a score; ascending bins are descending scores.
    #[inline]
    pub fn bin(score: f64) -> u32 {
        (sort::desc_key_f32(score as f32) >> SHIFT) as u32
    }

    /// The lowest f32 score in `bin` (every row of the bin scores at least this).
    pub fn threshold(bin: u32) -> f64 {
        sort::f32_of_key(((u64::from(bin) + 1) << SHIFT) - (1 << 32))
    }

    #[inline]
    pub fn add(&mut self, score: f64, label: u32, weight: f64) {
        let cell = self.bins.entry((Self::bin(score), label)).or_insert((0.0, 0));
        cell.0 += weight;
        cell.1 += 1;
        self.rows += 1;
    }

    /// Add `other`, whose label id `i` is our `map[i]`.
    pub fn merge(&mut self, other: &ScoreSketch, map: &[u32]) {
        for (&(b, l), &(w, n)) in &other.bins {
            let l = map.get(l as usize).copied().unwrap_or(l);
            let cell = self.bins.entry((b, l)).or_insert((0.0, 0));
            cell.0 += w;
            cell.1 += n;
        }
        self.rows += other.rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    pub fn bytes(&self) -> usize {
        // a hash map entry: key, value and about as much overhead
        self.bins.capacity() * 32
    }

    /// The bins in descending score order, positives by `positive(label id)`.
    pub fn groups(&self, positive: impl Fn(u32) -> bool) -> Vec<Group> {
        let mut by_bin: HashMap<u32, Group> = HashMap::new();
        for (&(b, l), &(w, n)) in &self.bins {
            let g = by_bin.entry(b).or_insert(Group { threshold: Self::threshold(b), pos: 0.0, neg: 0.0, rows: 0 });
            if positive(l) {
                g.pos += w;
            } else {
                g.neg += w;
            }
            g.rows += n;
        }
        let mut out: Vec<(u32, Group)> = by_bin.into_iter().collect();
        out.sort_unstable_by_key(|x| x.0);
        out.into_iter().map(|(_, g)| g).collect()
    }
}

/// The error bounds of the metrics computed from `groups` (descending), for a partial AUC
/// up to `max_fpr`. NaN where the metric itself is undefined.
pub fn bounds(groups: &[Group], max_fpr: f64) -> Bounds {
    let p: f64 = groups.iter().map(|g| g.pos).sum();
    let n: f64 = groups.iter().map(|g| g.neg).sum();
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut within, mut tied, mut lo, mut hi, mut partial) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for g in groups {
        let rect = g.pos * g.neg;
        within += rect;
        if g.pos > 0.0 {
            let here = g.pos * (tp + g.pos) / (tp + g.pos + fp + g.neg);
            tied += here;
            if g.rows <= 1 {
                // one row: its precision is exactly the binned one
                lo += here;
                hi += here;
            } else {
                let above = tp + fp + g.neg;
                lo += g.pos * if above > 0.0 { tp / above } else { 1.0 };
                hi += g.pos * (tp + g.pos) / (tp + g.pos + fp);
            }
        }
        if fp < max_fpr * n {
            // a bin wholly under the bound moves the area by at most half its rectangle, the
            // one straddling it by at most all of it
            partial += if fp + g.neg <= max_fpr * n { 0.5 * rect } else { rect };
        }
        tp += g.pos;
        fp += g.neg;
    }
    let defined = p > 0.0 && n > 0.0;
    let min_area = 0.5 * max_fpr * max_fpr;
    Bounds {
        roc_auc: if defined { 0.5 * within / (p * n) } else { f64::NAN },
        average_precision: if p > 0.0 { (tied - lo).max(hi - tied) / p } else { f64::NAN },
        // McClish: 0.5 * (1 + (area - min) / (max_fpr - min)), the area in rate units
        partial_roc_auc: if defined { 0.5 * partial / (p * n) / (max_fpr - min_area) } else { f64::NAN },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_monotone_and_thresholds_inside() {
        let mut last = 0;
        for i in 0..2000 {
            let s = 1.0 - f64::from(i) / 1999.0 * 1.5; // descending, through zero into negatives
            let b = ScoreSketch::bin(s);
            assert!(b >= last, "{s}");
            last = b;
            assert!(
                ScoreSketch::threshold(b) <= s + 1e-7 * s.abs() && ScoreSketch::bin(ScoreSketch::threshold(b)) == b,
                "{s}"
            );
        }
    }
}
