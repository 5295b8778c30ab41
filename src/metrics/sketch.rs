//! Ranking metrics in bounded memory: past a budget of stored scores, scores are binned on a
//! fixed grid and ROC-AUC / average precision come from the bins, each with a proven bound on
//! its distance from the exact value.
//!
//! The grid is the score's f32 bit pattern cut to its sign, exponent and top
//! [`MANTISSA_BITS`] mantissa bits: bins are monotone in the score, their width is relative
//! (2^-15 of the score, whatever its range: probabilities, logits, margins) and the same for
//! every chunk, so two sketches merge by adding weights bin by bin. A cell is one (bin, label)
//! pair and holds the point weight and, with intervals, each bootstrap replicate's weight
//! (the row's Poisson draws, added as it streams), so the replicates' metrics come from the
//! same bins. A sketch holds at most `cap` cells: past it the grid drops one more mantissa
//! bit (two neighbouring bins become one) until it fits. Coarsening a sketch of some rows
//! gives the sketch those rows would have had at the coarser grid, and cells only grow with
//! rows, so one pass ends at the finest grid that fits all rows; two merged sketches reach
//! the same grid and the same weights: merge(a, b) is one pass over both.
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
//!
//! An average of such metrics (macro, weighted by exact supports, one-vs-one) is within the
//! same average of their bounds.

use super::sort;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Mantissa bits kept in a bin on the finest grid: bins are 2^-15 of the score wide
/// (relative).
pub const MANTISSA_BITS: u32 = 15;
/// Bits of a descending f32 key ([`sort::desc_key_f32`]) dropped to get a finest-grid bin.
const SHIFT: u32 = 32 + 23 - MANTISSA_BITS;
/// The coarsest grid: one bin per sign.
const MAX_COARSE: u32 = 23;
/// Bytes of a cell besides its weights: its key, row count and index entry.
const CELL_BYTES: usize = 40;
/// The fewest cells any sketch may hold, whatever its byte budget.
const MIN_CELLS: usize = 64;

/// Weighted rows (point and each replicate) and row counts per (bin, label id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreSketch {
    /// Weights per cell: the point estimate, then each bootstrap replicate.
    width: usize,
    /// Most cells held; past it the grid coarsens.
    cap: usize,
    /// Mantissa bits dropped beyond the finest grid.
    coarse: u32,
    cells: Vec<(u32, u32)>,
    /// `width` weights per cell.
    weights: Vec<f64>,
    counts: Vec<u64>,
    rows: u64,
    /// Cell by (bin, label); rebuilt from `cells` when missing (after deserialising).
    #[serde(skip)]
    index: HashMap<(u32, u32), u32, foldhash::fast::FixedState>,
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
    /// A sketch keeping `replicates` bootstrap weights per cell beside the point weight, in
    /// about `bytes` of memory (at least [`MIN_CELLS`] cells).
    pub fn new(replicates: usize, bytes: usize) -> Self {
        let width = replicates + 1;
        let cap = (bytes / (8 * width + CELL_BYTES)).max(MIN_CELLS);
        ScoreSketch { width, cap, ..Self::default() }
    }

    /// The bin of a score on the grid `coarse` bits coarser than the finest; ascending bins
    /// are descending scores.
    fn bin_at(score: f64, coarse: u32) -> u32 {
        (sort::desc_key_f32(score as f32) >> (SHIFT + coarse)) as u32
    }

    /// The bin of a score on the finest grid.
    pub fn bin(score: f64) -> u32 {
        Self::bin_at(score, 0)
    }

    /// The lowest f32 score in `bin` of the grid `coarse` bits coarser than the finest
    /// (every row of the bin scores at least this).
    pub fn threshold(bin: u32, coarse: u32) -> f64 {
        sort::f32_of_key(((u64::from(bin) + 1) << (SHIFT + coarse)) - (1 << 32))
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, &c) in self.cells.iter().enumerate() {
            self.index.insert(c, i as u32);
        }
    }

    /// The cell of `key`, created empty if new.
    fn slot(&mut self, key: (u32, u32)) -> usize {
        if self.index.len() != self.cells.len() {
            self.reindex();
        }
        let next = self.cells.len() as u32;
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.cells.push(key);
            self.weights.resize(self.weights.len() + self.width, 0.0);
            self.counts.push(0);
        }
        i as usize
    }

    /// One row: its score, label id, weight and its weight in each replicate (`rep`, at
    /// most `width - 1` used; missing ones count as 0).
    pub fn add(&mut self, score: f64, label: u32, weight: f64, rep: &[f64]) {
        let i = self.slot((Self::bin_at(score, self.coarse), label));
        let w = &mut self.weights[i * self.width..(i + 1) * self.width];
        w[0] += weight;
        for (a, &x) in w[1..].iter_mut().zip(rep) {
            *a += x;
        }
        self.counts[i] += 1;
        self.rows += 1;
        if self.cells.len() > self.cap {
            self.fit();
        }
    }

    /// Coarsen until the cells fit the cap.
    fn fit(&mut self) {
        while self.cells.len() > self.cap && self.coarse < MAX_COARSE {
            self.regrid(self.coarse + 1);
        }
    }

    /// Move to the grid `coarse` bits coarser than the finest (at least the current one).
    fn regrid(&mut self, coarse: u32) {
        let shift = coarse.saturating_sub(self.coarse);
        if shift == 0 {
            return;
        }
        let old = std::mem::take(self);
        *self = ScoreSketch { width: old.width, cap: old.cap, coarse, rows: old.rows, ..Self::default() };
        for (i, &(b, l)) in old.cells.iter().enumerate() {
            let j = self.slot((b >> shift, l));
            for (a, x) in self.weights[j * old.width..(j + 1) * old.width]
                .iter_mut()
                .zip(&old.weights[i * old.width..(i + 1) * old.width])
            {
                *a += x;
            }
            self.counts[j] += old.counts[i];
        }
    }

    /// Add `other`, whose label id `i` is our `map[i]`. Replicates are added only when both
    /// keep the same number (replicates drawn differently cannot be combined).
    pub fn merge(&mut self, other: &ScoreSketch, map: &[u32]) {
        let coarse = self.coarse.max(other.coarse);
        self.regrid(coarse);
        let shift = coarse - other.coarse;
        let take = if other.width == self.width { self.width } else { 1 };
        for (i, &(b, l)) in other.cells.iter().enumerate() {
            let l = map.get(l as usize).copied().unwrap_or(l);
            let j = self.slot((b >> shift, l));
            for (a, x) in
                self.weights[j * self.width..j * self.width + take].iter_mut().zip(&other.weights[i * other.width..])
            {
                *a += x;
            }
            self.counts[j] += other.counts[i];
        }
        self.rows += other.rows;
        self.fit();
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// (bin, label) cells held.
    pub fn cells(&self) -> usize {
        self.cells.len()
    }

    /// Mantissa bits the grid dropped beyond the finest (0 while the cap was never reached).
    pub fn coarse(&self) -> u32 {
        self.coarse
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.cells.capacity() * 8
            + self.weights.capacity() * 8
            + self.counts.capacity() * 8
            + self.index.capacity() * 16
    }

    /// The bins in descending score order; `role(label id)` says whether a label's rows are
    /// positive (`Some(true)`), negative or left out (`None`).
    pub fn groups(&self, role: &dyn Fn(u32) -> Option<bool>) -> Groups {
        let w = self.width;
        let entries = self.cells.iter().enumerate().filter_map(|(i, &(b, l))| {
            role(l).map(|positive| (b, positive, &self.weights[i * w..(i + 1) * w], self.counts[i]))
        });
        Groups::collect(self.coarse, w, entries.collect())
    }
}

/// Binned positive and negative weights (point and replicates) in descending score order.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    coarse: u32,
    /// Weights per bin: point, then replicates.
    pub width: usize,
    bins: Vec<u32>,
    pub rows: Vec<u64>,
    /// `width` per bin.
    pub pos: Vec<f64>,
    pub neg: Vec<f64>,
}

impl Groups {
    /// Bins from (bin, positive, weights, rows) entries in any order: one sort by bin (a
    /// bin adds its entries in the order given), then one pass.
    fn collect(coarse: u32, width: usize, entries: Vec<(u32, bool, &[f64], u64)>) -> Groups {
        // the metrics' radix sort, on (bin, entry) keys
        let mut order: Vec<sort::Item> = (0..entries.len() as u32)
            .map(|i| sort::Item { key: u64::from(entries[i as usize].0) << 32 | u64::from(i), payload: i })
            .collect();
        sort::sort_items(&mut order, &mut Vec::new());
        let mut g = Groups { coarse, width, ..Groups::default() };
        for (b, positive, weights, rows) in order.iter().map(|it| entries[it.payload as usize]) {
            if g.bins.last() != Some(&b) {
                g.bins.push(b);
                g.rows.push(0);
                g.pos.resize(g.pos.len() + width, 0.0);
                g.neg.resize(g.neg.len() + width, 0.0);
            }
            let j = g.bins.len() - 1;
            let to = if positive { &mut g.pos } else { &mut g.neg };
            for (a, x) in to[j * width..(j + 1) * width].iter_mut().zip(weights) {
                *a += x;
            }
            g.rows[j] += rows;
        }
        g
    }

    pub fn len(&self) -> usize {
        self.bins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// The lowest score of bin `i`.
    pub fn threshold(&self, i: usize) -> f64 {
        ScoreSketch::threshold(self.bins[i], self.coarse)
    }

    /// Replicate `r`'s (positive, negative) weight (0: the point estimate).
    pub fn totals(&self, r: usize) -> (f64, f64) {
        let w = self.width;
        let sum = |v: &[f64]| v.iter().skip(r).step_by(w).sum::<f64>();
        (sum(&self.pos), sum(&self.neg))
    }

    /// The point estimate's bins.
    pub fn point(&self) -> Vec<Group> {
        let w = self.width;
        (0..self.len())
            .map(|i| Group {
                threshold: self.threshold(i),
                pos: self.pos[i * w],
                neg: self.neg[i * w],
                rows: self.rows[i],
            })
            .collect()
    }

    /// Several curves' bins as one curve (micro averaging: every cell one decision), on the
    /// coarsest of their grids.
    pub fn sum(parts: &[Groups]) -> Groups {
        let coarse = parts.iter().map(|p| p.coarse).max().unwrap_or(0);
        let width = parts.iter().map(|p| p.width).min().unwrap_or(1);
        let mut entries = Vec::new();
        for p in parts {
            let shift = coarse - p.coarse;
            for i in 0..p.len() {
                let at = i * p.width..i * p.width + width;
                entries.push((p.bins[i] >> shift, true, &p.pos[at.clone()], p.rows[i]));
                entries.push((p.bins[i] >> shift, false, &p.neg[at], 0));
            }
        }
        Groups::collect(coarse, width, entries)
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
                ScoreSketch::threshold(b, 0) <= s + 1e-7 * s.abs()
                    && ScoreSketch::bin(ScoreSketch::threshold(b, 0)) == b,
                "{s}"
            );
        }
    }
}
