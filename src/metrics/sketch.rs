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
//!
//! Rows are binned a batch at a time ([`SketchSet`]): one cell per score at random in
//! megabytes of cells cost two dependent cache misses a score (the index, then the weights),
//! so a batch is stable-sorted by (label, bin) and walked against an index kept in the same
//! order, and cells are met in order. The result is bit-for-bit the row-at-a-time one: new
//! cells are numbered in order of their first row, the rows of a cell are added in arrival
//! order (the same float sums), and a batch that would pass the cell cap is cut after the row
//! that passes it, so the grid coarsens at the same row. Rows all at hand (a score store
//! switched to sketches: the switch at the budget, and every later chunk of a file before
//! its merge) go in far bigger batches ([`SketchSet::extend`]). A merge is a batch of the other
//! sketch's cells; coarsening walks the index, in which the cells that become one are
//! neighbours.

use super::sort::{self, Item};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
/// Most rows a [`SketchSet`] holds before binning them, and most bytes they may take (at
/// most a 32nd of the sketches' own bytes).
pub const BATCH_ROWS: usize = 1 << 14;
const BATCH_BYTES: usize = 4 << 20;
/// Most rows of a [`SketchSet::extend`] block, and most bytes it may take (at most an 8th of
/// the sketches' own bytes): rows at hand are binned in far bigger sorted batches than
/// streamed ones, so a batch meets most of the cells and the index walk, the index merge and
/// the per-batch tables cost little per row.
const BLOCK_ROWS: usize = 1 << 18;
const BLOCK_BYTES: usize = 16 << 20;
/// A run of a batch whose cell is not in the sketch yet.
const NEW: u32 = u32::MAX;

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
    /// (label << 32 | bin, cell) of every cell, ascending; rebuilt from `cells` when missing
    /// (after deserialising).
    #[serde(skip)]
    index: Vec<(u64, u32)>,
}

/// Cells in (label, bin) order: the order of a sorted batch.
#[inline]
fn cell_key(bin: u32, label: u32) -> u64 {
    u64::from(label) << 32 | u64::from(bin)
}

/// A key `shift` bits coarser in its bin.
#[inline]
fn coarser(key: u64, shift: u32) -> u64 {
    key & !0xFFFF_FFFF | u64::from((key as u32) >> shift)
}

/// The first position at or after `from` whose key is at least `key` (`index` ascending):
/// a galloping search, as a sorted batch moves forward through the index.
#[inline]
fn seek(index: &[(u64, u32)], from: usize, key: u64) -> usize {
    let rest = &index[from.min(index.len())..];
    // a batch of many rows mostly finds its next key a step or two on
    for (i, e) in rest.iter().take(4).enumerate() {
        if e.0 >= key {
            return from + i;
        }
    }
    let mut bound = 1;
    while bound <= rest.len() && rest[bound - 1].0 < key {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = bound.min(rest.len());
    from + lo + rest[lo..hi].partition_point(|e| e.0 < key)
}

/// The first item of the `nth` (from 0) new cell of `runs`, in arrival order.
fn nth_first(sorted: &[Item], runs: &[Run], nth: usize) -> u32 {
    let range = sorted.iter().map(|it| it.payload).max().map_or(0, |m| m as usize + 1);
    let mut first = vec![false; range];
    for r in runs.iter().filter(|r| r.fresh) {
        first[sorted[r.start as usize].payload as usize] = true;
    }
    let at = first.iter().enumerate().filter(|(_, &f)| f).nth(nth).map_or(range, |(i, _)| i);
    at as u32
}

/// Equal keys of a sorted batch (`start..end`) and their cell ([`NEW`] if none yet).
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u32,
    end: u32,
    cell: u32,
    fresh: bool,
}

/// A sorted batch's buffers, reused between batches.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    sorted: Vec<Item>,
    spare: Vec<Item>,
}

/// The sketches of a layout's score columns (each row has one cell in every sketch), fed a
/// batch of rows at a time. Rows wait here until [`BATCH_ROWS`] (or [`BATCH_BYTES`]) of
/// them are held, then each sketch bins them as one sorted batch. The waiting rows are part
/// of the state: they are serialised with it, and the sketches are only reachable through
/// [`SketchSet::get`] (a flushed copy when rows wait) or [`SketchSet::get_mut`] (flushes
/// first), so no reader can miss them; [`SketchSet::flush`] saves the copy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SketchSet {
    sketches: Vec<ScoreSketch>,
    replicates: usize,
    /// Most rows waiting (0: the default).
    batch: usize,
    /// Most rows of an [`SketchSet::extend`] block (0: `batch`).
    #[serde(default)]
    block: usize,
    /// Per waiting row: its weight, its `replicates` replicate weights, and its
    /// [`ScoreSketch::row_key`] in each sketch.
    weights: Vec<f64>,
    rep: Vec<f64>,
    keys: Vec<u64>,
    #[serde(skip)]
    scratch: Scratch,
}

impl SketchSet {
    /// `count` sketches keeping `replicates` replicate weights, of about `bytes` each;
    /// `batch`: most rows binned at once (0: [`BATCH_ROWS`], fewer when rows are wide or
    /// the sketches small).
    pub fn new(count: usize, replicates: usize, bytes: usize, batch: usize) -> Self {
        let row_bytes = 8 * (1 + replicates + count);
        let most = BATCH_BYTES.min(bytes.saturating_mul(count) / 32);
        // a block row: its weight, replicate weights and keys, and the sorted batch's three
        // copies
        let block_bytes = 8 * (1 + replicates + count) + 48;
        let block_most = BLOCK_BYTES.min(bytes.saturating_mul(count) / 8);
        let (batch, block) = match batch {
            0 => ((most / row_bytes).clamp(64, BATCH_ROWS), (block_most / block_bytes).clamp(64, BLOCK_ROWS)),
            b => (b, b),
        };
        SketchSet {
            sketches: (0..count).map(|_| ScoreSketch::new(replicates, bytes)).collect(),
            replicates,
            batch,
            block,
            ..Self::default()
        }
    }

    /// Rows `0..rows` all at hand (a score store switched to sketches): those `keep` keeps,
    /// with `cell(row, c)` their score and label id in sketch `c`, `weight(row)` their
    /// weight and `rep(row, weight, out)` their replicate weights. Binned a block of rows at
    /// a time, one sketch after another, with none of [`Self::push`]'s staging: the same
    /// sketches as pushing the rows in order (any batches give the same result).
    pub fn extend(
        &mut self,
        rows: usize,
        keep: &dyn Fn(usize) -> bool,
        cell: &dyn Fn(usize, usize) -> (f64, u32),
        weight: &dyn Fn(usize) -> f64,
        rep: &mut dyn FnMut(usize, f64, &mut [f64]),
    ) {
        self.flush();
        let block = if self.block == 0 { self.batch } else { self.block }.max(1);
        let r = self.replicates;
        let count = self.sketches.len();
        let (mut ids, mut weights, mut reps, mut keys, mut items) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + block);
            ids.clear();
            ids.extend((start..end).filter(|&i| keep(i)));
            let n = ids.len();
            weights.clear();
            weights.extend(ids.iter().map(|&i| weight(i)));
            reps.clear();
            reps.resize(n * r, 0.0);
            if r > 0 {
                for (j, &i) in ids.iter().enumerate() {
                    rep(i, weights[j], &mut reps[j * r..(j + 1) * r]);
                }
            }
            // every sketch's keys in one pass over the rows (a row's cells are neighbours
            // where they are stored), sketch by sketch
            keys.clear();
            keys.resize(n * count, 0);
            for (j, &i) in ids.iter().enumerate() {
                for c in 0..count {
                    let (score, label) = cell(i, c);
                    keys[c * n + j] = ScoreSketch::row_key(score, label);
                }
            }
            for (c, sketch) in self.sketches.iter_mut().enumerate() {
                items.clear();
                items.extend(
                    keys[c * n..(c + 1) * n].iter().enumerate().map(|(j, &key)| Item { key, payload: j as u32 }),
                );
                sketch.add_rows(&items, &weights, &reps, &mut self.scratch);
            }
            start = end;
        }
    }

    /// No sketches (the scores are still stored).
    pub fn is_empty(&self) -> bool {
        self.sketches.is_empty()
    }

    /// One row: `cell(c)` is its score and label id in sketch `c`, `rep` its weight in each
    /// replicate (missing ones count as 0, extra ones are ignored).
    #[inline]
    pub fn push(&mut self, cell: &dyn Fn(usize) -> (f64, u32), weight: f64, rep: &[f64]) {
        for c in 0..self.sketches.len() {
            let (score, label) = cell(c);
            self.keys.push(ScoreSketch::row_key(score, label));
        }
        self.weights.push(weight);
        let r = self.replicates;
        let have = rep.len().min(r);
        self.rep.extend_from_slice(&rep[..have]);
        self.rep.resize(self.rep.len() + r - have, 0.0);
        if self.weights.len() >= self.batch.max(1) {
            self.flush();
        }
    }

    /// Bin the waiting rows.
    pub fn flush(&mut self) {
        let rows = self.weights.len();
        if rows == 0 {
            return;
        }
        let count = self.sketches.len();
        let mut items = Vec::with_capacity(rows);
        for (c, sketch) in self.sketches.iter_mut().enumerate() {
            items.clear();
            items.extend((0..rows).map(|r| Item { key: self.keys[r * count + c], payload: r as u32 }));
            sketch.add_rows(&items, &self.weights, &self.rep, &mut self.scratch);
        }
        self.weights.clear();
        self.rep.clear();
        self.keys.clear();
    }

    /// The sketches with every row in (a flushed copy while rows wait).
    pub fn get(&self) -> Cow<'_, [ScoreSketch]> {
        if self.weights.is_empty() {
            Cow::Borrowed(&self.sketches)
        } else {
            let mut copy = self.clone();
            copy.flush();
            Cow::Owned(copy.sketches)
        }
    }

    /// The sketches, every waiting row binned first.
    pub fn get_mut(&mut self) -> &mut [ScoreSketch] {
        self.flush();
        &mut self.sketches
    }

    /// The sketches, every waiting row binned.
    pub fn into_vec(mut self) -> Vec<ScoreSketch> {
        self.flush();
        self.sketches
    }

    /// Bytes held, waiting rows included.
    pub fn bytes(&self) -> usize {
        self.sketches.iter().map(ScoreSketch::bytes).sum::<usize>()
            + (self.weights.capacity() + self.rep.capacity() + self.keys.capacity()) * 8
            + (self.scratch.sorted.capacity() + self.scratch.spare.capacity()) * 16
    }
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

    /// The index, rebuilt if it does not hold every cell (a new or deserialised sketch).
    fn ensure_index(&mut self) {
        if self.index.len() != self.cells.len() {
            let mut items: Vec<Item> = self
                .cells
                .iter()
                .enumerate()
                .map(|(i, &(b, l))| Item { key: cell_key(b, l), payload: i as u32 })
                .collect();
            sort::sort_items(&mut items, &mut Vec::new());
            self.index = items.iter().map(|it| (it.key, it.payload)).collect();
        }
    }

    /// Rows binned in arrival order: `items` hold each row's (label << 32 | finest-grid
    /// bin) and its row number in `weights` (ascending), `rep` its replicate weights
    /// (`width - 1` a row). The same cells, weights and grid as adding the rows one at a
    /// time.
    pub fn add_rows(&mut self, items: &[Item], weights: &[f64], rep: &[f64], scratch: &mut Scratch) {
        self.rows += items.len() as u64;
        let r = self.width - 1;
        if r == 0 && weights.iter().all(|&w| w == 1.0) {
            // the same sums without a load of each row's weight at random
            self.absorb(items, 0, true, scratch, &mut |_, w, count| {
                w[0] += 1.0;
                *count += 1;
            });
            return;
        }
        self.absorb(items, 0, true, scratch, &mut |row, w, count| {
            let row = row as usize;
            w[0] += weights[row];
            for (a, x) in w[1..].iter_mut().zip(&rep[row * r..(row + 1) * r]) {
                *a += x;
            }
            *count += 1;
        });
    }

    /// Add `items` (keys on the grid `grid` bits coarser than the finest, payloads
    /// ascending in arrival order) as one pass in arrival order would: `add(payload, cell
    /// weights, cell rows)` is called for each item, a cell's items in arrival order, and
    /// new cells are numbered in order of their first item. With `capped`, the grid
    /// coarsens after the item that passes the cap, as row-at-a-time adding does.
    fn absorb<F>(&mut self, items: &[Item], grid: u32, capped: bool, scratch: &mut Scratch, add: &mut F)
    where
        F: FnMut(u32, &mut [f64], &mut u64),
    {
        let mut rest = items;
        while !rest.is_empty() {
            let shift = self.coarse.saturating_sub(grid);
            let sorted = &mut scratch.sorted;
            sorted.clear();
            sorted.extend(rest.iter().map(|it| Item { key: coarser(it.key, shift), payload: it.payload }));
            sort::sort_items_stable(sorted, &mut scratch.spare);
            self.ensure_index();
            let mut runs = self.resolve(sorted);
            let new = runs.iter().filter(|r| r.fresh).count();
            if capped && self.coarse < MAX_COARSE && self.cells.len() + new > self.cap {
                // one at a time, the row that makes cap + 1 cells is the last on this grid
                let nth = self.cap.saturating_sub(self.cells.len());
                let last = nth_first(sorted, &runs, nth);
                sorted.retain(|it| it.payload <= last);
                let mut runs = self.resolve(sorted);
                let sorted = std::mem::take(&mut scratch.sorted);
                self.apply(&sorted, &mut runs, add);
                scratch.sorted = sorted;
                self.fit();
                rest = &rest[rest.partition_point(|it| it.payload <= last)..];
                continue;
            }
            let sorted = std::mem::take(&mut scratch.sorted);
            self.apply(&sorted, &mut runs, add);
            scratch.sorted = sorted;
            break;
        }
    }

    /// The runs of equal keys in `sorted` and their cells, found by walking the index
    /// forward.
    fn resolve(&self, sorted: &[Item]) -> Vec<Run> {
        let mut runs = Vec::new();
        let (mut at, mut s) = (0, 0);
        while s < sorted.len() {
            let key = sorted[s].key;
            let mut e = s + 1;
            while e < sorted.len() && sorted[e].key == key {
                e += 1;
            }
            at = seek(&self.index, at, key);
            let cell = match self.index.get(at) {
                Some(&(k, i)) if k == key => i,
                _ => NEW,
            };
            runs.push(Run { start: s as u32, end: e as u32, cell, fresh: cell == NEW });
            s = e;
        }
        runs
    }

    /// Create the new cells of `runs` (numbered in order of their first item), then add
    /// every run's items to its cell.
    fn apply<F>(&mut self, sorted: &[Item], runs: &mut [Run], add: &mut F)
    where
        F: FnMut(u32, &mut [f64], &mut u64),
    {
        let mut fresh: Vec<(u32, u32)> = (0..runs.len() as u32)
            .filter(|&r| runs[r as usize].fresh)
            .map(|r| (sorted[runs[r as usize].start as usize].payload, r))
            .collect();
        if !fresh.is_empty() {
            // in order of their first item, by a table of payloads
            let range = sorted.iter().map(|it| it.payload).max().map_or(0, |m| m as usize + 1);
            let mut by_first = vec![NEW; range];
            for &(first, r) in &fresh {
                by_first[first as usize] = r;
            }
            fresh.clear();
            fresh.extend(by_first.iter().filter(|&&r| r != NEW).map(|&r| (0, r)));
            for &(_, r) in &fresh {
                let run = &mut runs[r as usize];
                let key = sorted[run.start as usize].key;
                run.cell = self.cells.len() as u32;
                self.cells.push((key as u32, (key >> 32) as u32));
            }
            self.weights.resize(self.cells.len() * self.width, 0.0);
            self.counts.resize(self.cells.len(), 0);
            let added: Vec<(u64, u32)> =
                runs.iter().filter(|r| r.fresh).map(|r| (sorted[r.start as usize].key, r.cell)).collect();
            self.insert_index(&added);
        }
        let w = self.width;
        for run in runs.iter() {
            let i = run.cell as usize;
            let (cell, count) = (&mut self.weights[i * w..(i + 1) * w], &mut self.counts[i]);
            for it in &sorted[run.start as usize..run.end as usize] {
                add(it.payload, cell, count);
            }
        }
    }

    /// Merge `added` (ascending, keys not in the index) into the index.
    fn insert_index(&mut self, added: &[(u64, u32)]) {
        let old = self.index.len();
        self.index.resize(old + added.len(), (0, 0));
        let (mut i, mut j) = (old, added.len());
        while j > 0 {
            let k = i + j - 1;
            if i > 0 && self.index[i - 1].0 > added[j - 1].0 {
                self.index[k] = self.index[i - 1];
                i -= 1;
            } else {
                self.index[k] = added[j - 1];
                j -= 1;
            }
        }
    }

    /// Coarsen until the cells fit the cap.
    fn fit(&mut self) {
        while self.cells.len() > self.cap && self.coarse < MAX_COARSE {
            self.regrid(self.coarse + 1);
        }
    }

    /// Move to the grid `coarse` bits coarser than the finest (at least the current one):
    /// the old cells, in order, into the new grid's. The index is in (label, bin) order, so
    /// the old cells that become one new cell are neighbours in it: one walk, no sort.
    fn regrid(&mut self, coarse: u32) {
        if coarse <= self.coarse {
            return;
        }
        let shift = coarse - self.coarse;
        self.ensure_index();
        let old = std::mem::take(self);
        *self = ScoreSketch { width: old.width, cap: old.cap, coarse, rows: old.rows, ..Self::default() };
        // old cells in index order, then each new cell's old cells in their own order
        let mut members: Vec<u32> = old.index.iter().map(|&(_, i)| i).collect();
        let mut groups: Vec<(u64, u32, u32)> = Vec::new();
        let mut s = 0;
        while s < members.len() {
            let key = coarser(old.index[s].0, shift);
            let mut e = s + 1;
            while e < members.len() && coarser(old.index[e].0, shift) == key {
                e += 1;
            }
            // a handful of cells: insertion sort
            for i in s + 1..e {
                let mut j = i;
                while j > s && members[j - 1] > members[j] {
                    members.swap(j - 1, j);
                    j -= 1;
                }
            }
            groups.push((key, s as u32, e as u32));
            s = e;
        }
        // new cells numbered in order of their first old cell
        let mut by_first = vec![NEW; old.cells.len()];
        for (g, &(_, s, _)) in groups.iter().enumerate() {
            by_first[members[s as usize] as usize] = g as u32;
        }
        let mut cell_of = vec![0u32; groups.len()];
        for &g in by_first.iter().filter(|&&g| g != NEW) {
            let key = groups[g as usize].0;
            cell_of[g as usize] = self.cells.len() as u32;
            self.cells.push((key as u32, (key >> 32) as u32));
        }
        let w = old.width;
        self.weights = vec![0.0; self.cells.len() * w];
        self.counts = vec![0; self.cells.len()];
        self.index = groups.iter().zip(&cell_of).map(|(&(key, _, _), &c)| (key, c)).collect();
        for (&(_, s, e), &j) in groups.iter().zip(&cell_of) {
            let j = j as usize;
            for &i in &members[s as usize..e as usize] {
                let i = i as usize;
                for (a, x) in self.weights[j * w..(j + 1) * w].iter_mut().zip(&old.weights[i * w..(i + 1) * w]) {
                    *a += x;
                }
                self.counts[j] += old.counts[i];
            }
        }
    }

    /// Add `other`, whose label id `i` is our `map[i]`. Replicates are added only when both
    /// keep the same number (replicates drawn differently cannot be combined).
    pub fn merge(&mut self, other: &ScoreSketch, map: &[u32]) {
        let scratch = &mut Scratch::default();
        let coarse = self.coarse.max(other.coarse);
        self.regrid(coarse);
        let take = if other.width == self.width { self.width } else { 1 };
        let items: Vec<Item> = other
            .cells
            .iter()
            .enumerate()
            .map(|(i, &(b, l))| Item { key: cell_key(b, map.get(l as usize).copied().unwrap_or(l)), payload: i as u32 })
            .collect();
        let ow = other.width;
        self.absorb(&items, other.coarse, false, scratch, &mut |i, cell, count| {
            let i = i as usize;
            for (a, x) in cell[..take].iter_mut().zip(&other.weights[i * ow..]) {
                *a += x;
            }
            *count += other.counts[i];
        });
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

    /// The finest-grid key of a score in cell `label` (for [`Self::add_rows`]).
    #[inline]
    pub fn row_key(score: f64, label: u32) -> u64 {
        cell_key(Self::bin(score), label)
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
    use std::collections::HashMap;

    /// The sketch as it was before batches: one row at a time through a hash index (the
    /// reference the batched sketch must equal bit for bit).
    #[derive(Debug, Clone)]
    struct OneAtATime {
        width: usize,
        cap: usize,
        coarse: u32,
        cells: Vec<(u32, u32)>,
        weights: Vec<f64>,
        counts: Vec<u64>,
        rows: u64,
        index: HashMap<(u32, u32), u32>,
    }

    impl OneAtATime {
        fn new(replicates: usize, bytes: usize) -> Self {
            let s = ScoreSketch::new(replicates, bytes);
            OneAtATime {
                width: s.width,
                cap: s.cap,
                coarse: 0,
                cells: Vec::new(),
                weights: Vec::new(),
                counts: Vec::new(),
                rows: 0,
                index: HashMap::new(),
            }
        }

        fn slot(&mut self, key: (u32, u32)) -> usize {
            let next = self.cells.len() as u32;
            let i = *self.index.entry(key).or_insert(next);
            if i == next {
                self.cells.push(key);
                self.weights.resize(self.weights.len() + self.width, 0.0);
                self.counts.push(0);
            }
            i as usize
        }

        fn add(&mut self, score: f64, label: u32, weight: f64, rep: &[f64]) {
            let i = self.slot((ScoreSketch::bin_at(score, self.coarse), label));
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

        fn fit(&mut self) {
            while self.cells.len() > self.cap && self.coarse < MAX_COARSE {
                self.regrid(self.coarse + 1);
            }
        }

        fn regrid(&mut self, coarse: u32) {
            let shift = coarse.saturating_sub(self.coarse);
            if shift == 0 {
                return;
            }
            let old = self.clone();
            *self = OneAtATime { coarse, rows: old.rows, ..OneAtATime::new(old.width - 1, 0) };
            self.cap = old.cap;
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

        fn merge(&mut self, other: &OneAtATime, map: &[u32]) {
            let coarse = self.coarse.max(other.coarse);
            self.regrid(coarse);
            let shift = coarse - other.coarse;
            let take = if other.width == self.width { self.width } else { 1 };
            for (i, &(b, l)) in other.cells.iter().enumerate() {
                let l = map.get(l as usize).copied().unwrap_or(l);
                let j = self.slot((b >> shift, l));
                for (a, x) in self.weights[j * self.width..j * self.width + take]
                    .iter_mut()
                    .zip(&other.weights[i * other.width..])
                {
                    *a += x;
                }
                self.counts[j] += other.counts[i];
            }
            self.rows += other.rows;
            self.fit();
        }

        /// Whether `s` holds the same cells in the same order, the same weights (bits),
        /// counts, rows and grid.
        fn same(&self, s: &ScoreSketch) -> bool {
            let bits = |w: &[f64]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            self.coarse == s.coarse
                && self.cells == s.cells
                && bits(&self.weights) == bits(&s.weights)
                && self.counts == s.counts
                && self.rows == s.rows
        }
    }

    /// A row: its (score, label) in each of three sketches, weight and replicate weights.
    type Row = (Vec<(f64, u32)>, f64, Vec<f64>);

    /// A row stream: scores over many exponents, a few tied values, negatives and NaN;
    /// labels `0..labels`; fractional weights (so the order of additions shows in the sums)
    /// and Poisson-like replicate counts.
    fn rows(n: usize, labels: u32, replicates: usize, seed: u64) -> Vec<Row> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| {
                let cells = (0..3)
                    .map(|_| {
                        let r = next();
                        let score = match r % 9 {
                            0 => f64::from((r >> 8) as u32 % 5) * 0.25,
                            1 => -((r >> 8) as f64 / 2f64.powi(64)) * 7.0,
                            2 if r % 27 == 2 => f64::NAN,
                            _ => ((r >> 11) as f64 / 2f64.powi(53)).powi(1 + (r >> 4) as i32 % 6),
                        };
                        (score, (next() % u64::from(labels)) as u32)
                    })
                    .collect();
                let weight = 0.1 * (1 + next() % 13) as f64;
                let rep = (0..replicates).map(|_| weight * (next() % 4) as f64).collect();
                (cells, weight, rep)
            })
            .collect()
    }

    /// Batches of any size bin rows as one row at a time does: the same cells in the same
    /// order, the same float sums, the grid coarsened at the same row (caps crossed inside
    /// batches); and merges of such sketches (with a label map, across grids, with and
    /// without matching replicates) equal the one-at-a-time merges.
    #[test]
    fn batches_and_merges_equal_one_row_at_a_time() {
        for (replicates, bytes, labels) in [(0, 1, 3), (0, 40_000, 2), (4, 1, 5), (4, 3_000, 3), (0, 1 << 20, 4)] {
            let feed = |data: &[Row], batch: usize| {
                let mut set = SketchSet::new(3, replicates, bytes, batch);
                let mut reference: Vec<OneAtATime> = (0..3).map(|_| OneAtATime::new(replicates, bytes)).collect();
                for (cells, weight, rep) in data {
                    set.push(&|c| cells[c], *weight, rep);
                    for (c, r) in reference.iter_mut().enumerate() {
                        r.add(cells[c].0, cells[c].1, *weight, rep);
                    }
                }
                (set, reference)
            };
            let a = rows(5000, labels, replicates, 1 + bytes as u64);
            let b = rows(3000, labels + 1, replicates, 2 + bytes as u64);
            for batch in [1, 2, 5, 64, 1000, 0] {
                let (mut set, mut reference) = feed(&a, batch);
                let got = set.get().into_owned();
                for (c, r) in reference.iter().enumerate() {
                    assert!(r.same(&got[c]), "{replicates} reps, {bytes} B, batch {batch}: sketch {c}");
                }
                // the same rows at hand, some left out, in blocks
                let keep = |i: usize| i % 7 != 3;
                let mut ext = SketchSet::new(3, replicates, bytes, batch);
                ext.extend(a.len(), &keep, &|i, c| a[i].0[c], &|i| a[i].1, &mut |i, _, out| {
                    out.copy_from_slice(&a[i].2)
                });
                let kept: Vec<Row> = a.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, r)| r.clone()).collect();
                let (_, kept_ref) = feed(&kept, 1);
                for (c, r) in kept_ref.iter().enumerate() {
                    assert!(r.same(&ext.get()[c]), "{replicates} reps, {bytes} B, block {batch}: extended {c}");
                }
                let (theirs, their_ref) = feed(&b, batch);
                let map: Vec<u32> = (0..=labels).rev().collect();
                let theirs = theirs.into_vec();
                for (c, s) in set.get_mut().iter_mut().enumerate() {
                    s.merge(&theirs[c], &map);
                    reference[c].merge(&their_ref[c], &map);
                    assert!(reference[c].same(s), "{replicates} reps, {bytes} B, batch {batch}: merged {c}");
                }
                if replicates > 0 {
                    // replicates drawn differently: only the point weights are added
                    let (other, other_ref) = {
                        let mut set = SketchSet::new(1, 1, bytes, batch);
                        let mut r = OneAtATime::new(1, bytes);
                        for (cells, weight, rep) in &b {
                            set.push(&|_| cells[0], *weight, &rep[..1]);
                            r.add(cells[0].0, cells[0].1, *weight, &rep[..1]);
                        }
                        (set.into_vec(), r)
                    };
                    let s = &mut set.get_mut()[0];
                    s.merge(&other[0], &[]);
                    reference[0].merge(&other_ref, &[]);
                    assert!(reference[0].same(s), "{replicates} reps, {bytes} B, batch {batch}: merged other width");
                }
            }
        }
    }

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
