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
//! megabytes of cells cost two dependent cache misses a score, so a batch is stable-sorted
//! by (bin, label) (8-byte items: the key, less the batch's lowest bin, above the row's place
//! in the batch; 11-bit radix digits, two passes for most batches) and walked
//! against the cells, which are kept in the same order: cells are met in order and added to
//! in place, and new ones are inserted in one backward pass. The result is bit-for-bit the
//! row-at-a-time one: each cell keeps its place in arrival order (the order of its first
//! row, that is the cell numbers of one-at-a-time adding, which order the float sums of a
//! bin's cells), the rows of a cell are added in arrival order (the same float sums; a run
//! of unit weights onto a whole-number sum adds its count at once, which is exact), and a
//! batch that would pass the cell cap is cut after the row that passes it, so the grid
//! coarsens at the same row. Rows all at hand (a score store switched to sketches: the
//! switch at the budget, and every later chunk of a file before its merge) go in far bigger
//! batches ([`SketchSet::extend`]). A merge is a batch of the other sketch's cells in its
//! arrival order; coarsening regroups each range of cells that share a coarser bin.
//!
//! While every weight is a whole number (and 255 times their sum fits [`WHOLE_MAX`]) every
//! cell sum is exact in any order, so a run of unit-weight rows adds its replicate draws up
//! as integers first and each replicate weight once (a sketch keeps that flag through
//! merges; the first fractional weight turns it off). Without replicates, such a sketch's
//! cells do not depend on the order of its rows at all (a count, a weight and a least first
//! row each), and its grid is the finest at which the cells of all its rows fit, so unit
//! rows at hand are counted through a table of (bin, label) pairs over a window of bins on
//! the sketch's grid (a byte an entry, 254 rows at a time carried out to a list; at most a
//! few entries a cell of the cap): one load a row, no sort. A row whose entry has no cell
//! makes a new cell there (its first row listed); only rows outside the window wait. The
//! finish merges the old cells, the new ones and the waiting rows' cells in key order (one
//! pass, nothing inserted), then coarsens until they fit; rows that pass the cap finish the
//! table and start one on the coarser grid ([`ScoreSketch::found_start`]). A set keeps
//! each sketch's table from call to call (a call per chunk past the budget) while the
//! sketch's cells are those it was left matching (an epoch that changes with the cells'
//! keys says so).
//!
//! Rows at hand going into empty sketches that stay whole (the switch at the budget) are
//! binned once, on the grid one pass over them ends at ([`SketchSet::pregrid`]): by the
//! above, that is the finest grid at which all their (bin, label) cells fit the cap, and a
//! whole sketch's cells (counts, exact sums, least first rows) are the same whichever grids
//! its rows went through on the way. One more pass over the rows' keys counts their cells
//! on every grid (a bitmap of finest cells), instead of sorted batches of rows into cells
//! on grids the cap then leaves. Unit rows without replicates are then counted on that grid
//! in a table of every (bin, label) pair between the rows' lowest and highest bins, a byte a
//! count ([`Tally`]), and the cells are read out of it in key order: no sorted batches, no
//! cells inserted.

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
/// Bytes of a cell besides its weights: its key, first row and row count (and the
/// sorted batches' share).
const CELL_BYTES: usize = 40;
/// The fewest cells any sketch may hold, whatever its byte budget.
const MIN_CELLS: usize = 64;
/// Most rows a [`SketchSet`] holds before binning them, and most bytes they may take (at
/// most a 32nd of the sketches' own bytes).
pub const BATCH_ROWS: usize = 1 << 14;
const BATCH_BYTES: usize = 4 << 20;
/// Most rows of a [`SketchSet::extend`] block, and most bytes it may take (at most an 8th of
/// the sketches' own bytes): rows at hand are binned in far bigger sorted batches than
/// streamed ones, so a batch meets most of the cells and the walk over the cells, their
/// insertion and the per-batch tables cost little per row.
const BLOCK_ROWS: usize = 1 << 18;
const BLOCK_BYTES: usize = 16 << 20;

/// Rows of a run whose replicate draws are gathered at once before they are added.
const STAGE_ROWS: usize = 32;
/// Most rows of a run whose draws (bytes) are summed in a `u16` before they are added to a
/// whole sketch's cell.
const RUN_SUM_ROWS: usize = 256;

/// Most a whole-number weight sum may be for [`SketchSet::whole`]: two such sums add
/// exactly (below 2^53).
pub const WHOLE_MAX: f64 = (1u64 << 51) as f64;

/// `x` is a whole number of at most [`WHOLE_MAX`] in size.
pub fn is_whole(x: f64) -> bool {
    x.abs() <= WHOLE_MAX && x == (x as i64) as f64
}

/// [`ScoreSketch::found_start`] counts rows through its bin table when the sketch holds at
/// least this many cells and the rows are at least a quarter as many as the cells (the
/// table's build costs a pass over the cells); most entries its table has (a byte each).
const FOUND_MIN_CELLS: usize = 64;
const FOUND_CELLS_PER_ROW: usize = 4;
const FOUND_TABLE_MOST: usize = 1 << 21;
/// Most entries [`ScoreSketch::found_start`]'s table has per cell of the cap (new cells
/// come in its window too, on a grid finer than the rows' last).
const FOUND_PER_CAP: usize = 4;
/// [`SketchSet::extend`] finishes a table once the rows outside its window are an eighth
/// as many as the cells (the finish costs a pass over the cells and the window).
const FOUND_MISSES: usize = 8;

/// A run of `run.len()` unit-weight rows into a cell of no replicates: `n` added at once
/// where the cell's weight is a whole number (then adding 1 `n` times is exact too).
fn add_units(_: usize, _: &[u64], run: std::ops::Range<usize>, _: u64, w: &mut [f64], count: &mut u64) {
    let n = run.len() as u64;
    if w[0].abs() < (1u64 << 52) as f64 && w[0] == (w[0] as i64) as f64 {
        w[0] += n as f64;
    } else {
        for _ in 0..n {
            w[0] += 1.0;
        }
    }
    *count += n;
}

/// Weighted rows (point and each replicate) and row counts per (bin, label id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreSketch {
    /// Weights per cell: the point estimate, then each bootstrap replicate.
    width: usize,
    /// Most cells held; past it the grid coarsens.
    cap: usize,
    /// Mantissa bits dropped beyond the finest grid.
    coarse: u32,
    /// Each cell's `bin << 32 | label`, ascending.
    keys: Vec<u64>,
    /// Each cell's place in arrival order: ordered as the cells' first rows are (distinct,
    /// all below `rows`). The cells' numbers one at a time (see [`Self::arrival`]).
    firsts: Vec<u64>,
    /// `width` weights per cell.
    weights: Vec<f64>,
    counts: Vec<u64>,
    rows: u64,
    /// Every weight added was a whole number and 255 times their magnitudes' sum (`mass`)
    /// is at most [`WHOLE_MAX`]: every cell weight (point or replicate, a row's weight times
    /// a draw byte) is a whole number that float sums hold exactly, whatever their order.
    #[serde(default)]
    whole: bool,
    #[serde(default)]
    mass: f64,
    /// Changes (to a value no other sketch state had, see [`next_epoch`]) whenever the cells'
    /// keys do: a [`Found`] table built for these keys stays valid while it is the same
    /// (0: not known).
    #[serde(skip)]
    epoch: u64,
}

/// A value no sketch's [`ScoreSketch::epoch`] had before (never 0).
fn next_epoch() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static EPOCH: AtomicU64 = AtomicU64::new(1);
    EPOCH.fetch_add(1, Ordering::Relaxed)
}

/// Cells in (bin, label) order: the order of a sorted batch.
#[inline]
fn cell_key(bin: u32, label: u32) -> u64 {
    u64::from(bin) << 32 | u64::from(label)
}

#[inline]
fn bin_of(key: u64) -> u32 {
    (key >> 32) as u32
}

#[inline]
fn label_of(key: u64) -> u32 {
    key as u32
}

/// How a sorted batch packs an item into 8 bytes: its cell key, less the batch's lowest bin
/// and with its label in as few bits as the batch's labels need (so the radix sort has few
/// varying digits), above the item's place `j` in the batch: `((bin - lo) << label_bits |
/// label) << bits | j`, in cell key order.
#[derive(Debug, Clone, Copy)]
struct Packing {
    bits: u32,
    label_bits: u32,
    lo: u32,
    shift: u32,
}

impl Packing {
    #[inline]
    fn pack(&self, key: u64, j: usize) -> u64 {
        let bin = u64::from((bin_of(key) >> self.shift) - self.lo);
        (bin << self.label_bits | u64::from(label_of(key))) << self.bits | j as u64
    }

    /// The cell key of a packed item.
    #[inline]
    fn key(&self, item: u64) -> u64 {
        let c = item >> self.bits;
        cell_key((c >> self.label_bits) as u32 + self.lo, (c & ((1 << self.label_bits) - 1)) as u32)
    }

    /// The mask of an item's place in the batch.
    fn mask(&self) -> u64 {
        (1 << self.bits) - 1
    }
}

/// The first position at or after `from` whose key is at least `key` (`keys` ascending):
/// a galloping search, as a sorted batch moves forward through the cells.
#[inline]
fn seek(keys: &[u64], from: usize, key: u64) -> usize {
    let rest = &keys[from.min(keys.len())..];
    // a batch of many rows mostly finds its next key a step or two on
    for (i, &k) in rest.iter().take(4).enumerate() {
        if k >= key {
            return from + i;
        }
    }
    let mut bound = 1;
    while bound <= rest.len() && rest[bound - 1] < key {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = bound.min(rest.len());
    from + lo + rest[lo..hi].partition_point(|&k| k < key)
}

/// Equal keys of a sorted batch (`start..end`) and their cell: its position, or where a new
/// cell goes.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u32,
    end: u32,
    at: u32,
    new: bool,
}

/// Rows' replicate draws copied in sorted order, [`STAGE_ROWS`] at a time (see
/// [`ScoreSketch::add_rows`]).
#[derive(Default)]
struct Stage {
    draws: Vec<u8>,
    /// The sorted batch (its `from`) and the items `start..end` of it held.
    from: usize,
    start: usize,
    end: usize,
}

impl Stage {
    /// The draws of item `p` of the sorted batch of rows `from..` (`r` a row), copying it
    /// and the next items' first if they are not held yet.
    #[inline]
    fn row(&mut self, from: usize, sorted: &[u64], p: usize, mask: u64, draws: &[u8], r: usize) -> &[u8] {
        if from != self.from || p < self.start || p >= self.end {
            self.from = from;
            self.start = p;
            self.end = sorted.len().min(p + STAGE_ROWS);
            self.draws.clear();
            for &it in &sorted[self.start..self.end] {
                let row = from + (it & mask) as usize;
                self.draws.extend_from_slice(&draws[row * r..(row + 1) * r]);
            }
        }
        let i = p - self.start;
        &self.draws[i * r..(i + 1) * r]
    }
}

/// A sorted batch's buffers, reused between batches.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    sorted: Vec<u64>,
    spare: Vec<u64>,
    keys: Vec<u64>,
    runs: Vec<Run>,
    found: Found,
    /// [`ScoreSketch::found_finish`]'s kept rows sorted, and their cells.
    items: Vec<Item>,
    spare_items: Vec<Item>,
    groups: Vec<(u64, u64, u64)>,
    /// [`ScoreSketch::found_finish`]'s new cells (key, rows, first row), in key order.
    adds: Vec<(u64, u64, u64)>,
}

/// Rows being counted into a whole sketch's cells through a table of their (bin, label)
/// pairs (see [`ScoreSketch::found_start`]): rows per cell so far (`NO_CELL` where there is
/// none; a row there makes a new cell), the new cells' entries and first rows, and the rows
/// outside the window (cell keys and places in arrival order), which wait for the finish
/// to be sorted into cells. A count is a byte, [`FOUND_CARRY`] rows at a time
/// carried out of it to a list of entries, so the table the rows hit is half the bytes of a
/// `u16` one (a row's table load missing the cache was two thirds of the counting loop).
#[derive(Debug, Clone, Default)]
struct Found {
    on: bool,
    /// The table's first bin and labels per bin (labels `0..labels` have a place).
    lo: u32,
    labels: u32,
    table: Vec<u8>,
    /// An entry each time [`FOUND_CARRY`] rows were carried out of its byte.
    carries: Vec<u32>,
    /// The cells new in the window: each `entry << 32 | its first row - base`.
    news: Vec<u64>,
    base: u64,
    miss_keys: Vec<u64>,
    miss_firsts: Vec<u64>,
    /// The sketch's [`ScoreSketch::epoch`] while the table is 0 at each of its cells in
    /// the window and [`NO_CELL`] elsewhere (0: not known), and its cells when the table
    /// was built: a later start reuses it, not rebuilt, until the cells have doubled.
    epoch: u64,
    built: usize,
}

/// [`SketchSet::extend`]'s buffers and the sketches' [`Found`] tables, kept from call to
/// call (a call per chunk read past the budget: fresh tables of up to 4 MiB a sketch cost
/// their page faults and a pass over the cells each time). A table still counting rows holds
/// part of the sets' state (see [`SketchSet::extend`]): a clone keeps those, not the rest.
#[derive(Debug, Default)]
struct Kept {
    found: Vec<Found>,
    ids: Vec<usize>,
    weights: Vec<f64>,
    draws: Vec<u8>,
    keys: Vec<u64>,
}

impl Clone for Kept {
    /// Only the tables still counting rows (they are part of the state).
    fn clone(&self) -> Self {
        let found = self.found.iter().map(|f| if f.on { f.clone() } else { Found::default() }).collect();
        Kept { found, ..Kept::default() }
    }
}

impl Kept {
    fn bytes(&self) -> usize {
        self.found
            .iter()
            .map(|f| {
                f.table.capacity()
                    + f.carries.capacity() * 4
                    + (f.miss_keys.capacity() + f.miss_firsts.capacity() + f.news.capacity()) * 8
            })
            .sum::<usize>()
            + (self.ids.capacity() + self.weights.capacity() + self.keys.capacity()) * 8
            + self.draws.capacity()
    }
}

/// A [`Found`] table entry with no cell; one below it is the most rows an entry counts
/// before they are carried.
const NO_CELL: u8 = u8::MAX;
/// Rows a [`Found`] count byte carries at a time.
const FOUND_CARRY: u8 = NO_CELL - 1;

/// Bins (finest grid) a [`CellMap`] page covers, and most labels it maps.
const MAP_PAGE_BITS: u32 = 15;
const MAP_LABELS: usize = 64;
/// A [`CellMap`] page not made yet.
const NO_PAGE: u32 = u32::MAX;

/// Which finest-grid cells rows fall in, to count the cells of every coarser grid
/// ([`SketchSet::pregrid`]): a bit per (bin, label), in pages of 2^15 bins made as rows
/// reach them (scores in a few exponents touch a few dozen of a label's 512 pages).
#[derive(Debug, Default)]
struct CellMap {
    /// Each (label, page)'s first word in `words` (`label << 9 | page`; [`NO_PAGE`]: none).
    pages: Vec<u32>,
    words: Vec<u64>,
    /// A label past [`MAP_LABELS`] was met: not mapped.
    full: bool,
}

impl CellMap {
    const WORDS: usize = 1 << (MAP_PAGE_BITS - 6);
    const PAGES: usize = 1 << (64 - SHIFT - MAP_PAGE_BITS);

    /// Note the cells of `keys` (finest-grid [`ScoreSketch::row_key`]s).
    fn add(&mut self, keys: &[u64]) {
        if self.full {
            return;
        }
        for &key in keys {
            let (bin, label) = (bin_of(key) as usize, label_of(key) as usize);
            if label >= MAP_LABELS {
                self.full = true;
                return;
            }
            let at = label * Self::PAGES + (bin >> MAP_PAGE_BITS);
            if at >= self.pages.len() {
                self.pages.resize((label + 1) * Self::PAGES, NO_PAGE);
            }
            let mut page = self.pages[at];
            if page == NO_PAGE {
                page = self.words.len() as u32;
                self.pages[at] = page;
                self.words.resize(self.words.len() + Self::WORDS, 0);
            }
            let b = bin & ((1 << MAP_PAGE_BITS) - 1);
            if let Some(w) = self.words.get_mut(page as usize + (b >> 6)) {
                *w |= 1 << (b & 63);
            }
        }
    }

    /// The lowest and highest finest-grid bins holding a bit (`None`: none).
    fn bounds(&self) -> Option<(u32, u32)> {
        let (mut lo, mut hi) = (u32::MAX, 0);
        for pages in self.pages.chunks(Self::PAGES) {
            for (p, &page) in pages.iter().enumerate().filter(|&(_, &page)| page != NO_PAGE) {
                let words = &self.words[page as usize..page as usize + Self::WORDS];
                let bin = |i: usize, bit: u32| ((p * Self::WORDS + i) * 64) as u32 + bit;
                if let Some(i) = words.iter().position(|&w| w != 0) {
                    lo = lo.min(bin(i, words[i].trailing_zeros()));
                }
                if let Some(i) = words.iter().rposition(|&w| w != 0) {
                    hi = hi.max(bin(i, 63 - words[i].leading_zeros()));
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// Cells on the grid `coarse` bits coarser than the finest: per label, the runs of
    /// `2^coarse` bins holding a bit.
    fn cells(&self, coarse: u32) -> usize {
        // a bit at every 2^coarse-th place of a word (below 64 bins a run)
        let every = if coarse < 6 { u64::MAX / ((1u128 << (1 << coarse)) - 1) as u64 } else { 1 };
        let mut n = 0;
        for (l, pages) in self.pages.chunks(Self::PAGES).enumerate() {
            let mut last = usize::MAX;
            for (p, &page) in pages.iter().enumerate().filter(|&(_, &page)| page != NO_PAGE) {
                let words = &self.words[page as usize..page as usize + Self::WORDS];
                for (i, &w) in words.iter().enumerate().filter(|&(_, &w)| w != 0) {
                    if coarse < 6 {
                        // each run's bits folded onto its first
                        let mut y = w;
                        for k in 0..coarse {
                            y |= y >> (1 << k);
                        }
                        n += (y & every).count_ones() as usize;
                    } else {
                        let run = ((l * Self::PAGES + p) * Self::WORDS + i) >> (coarse - 6);
                        n += usize::from(run != last);
                        last = run;
                    }
                }
            }
        }
        n
    }
}

/// Unit rows at hand counted into an empty sketch that stays whole, on the grid
/// [`SketchSet::pregrid`] found (so no cell is ever dropped): a table over every (bin,
/// label) pair of the rows' bins, of the rows per cell and the first of them (from the
/// start of the call). The sketch's cells come out of it in key order at the end
/// ([`ScoreSketch::take_tally`]): no sorted batches, no cells inserted. The counts are a
/// byte each (1 + the rows past the last [`TALLY_CARRY`] carried, 0 for none), so the table
/// the rows hit stays in cache (a `u32` a cell was twice the cost a row).
#[derive(Debug)]
struct Tally {
    /// The lowest bin and the labels per bin (all the rows' labels are below).
    lo: u32,
    labels: usize,
    counts: Vec<u8>,
    /// Per entry: the rows carried out of its byte, and its first row.
    carried: Vec<u32>,
    firsts: Vec<u32>,
    cells: usize,
}

/// Rows a [`Tally`] count byte carries at a time.
const TALLY_CARRY: u8 = u8::MAX - 1;

impl Tally {
    /// The tally of the rows `map` holds on the grid `coarse` bits coarser than the finest;
    /// `None` when its table would be more than [`TALLY_PER_CELL`] entries a cell.
    fn new(map: &CellMap, coarse: u32) -> Option<Tally> {
        let (lo, hi) = map.bounds()?;
        let (lo, hi) = (lo >> coarse, hi >> coarse);
        let labels = map.pages.len() / CellMap::PAGES;
        let cells = map.cells(coarse);
        let entries = (hi - lo) as usize * labels + labels;
        if labels == 0 || entries > (TALLY_PER_CELL * cells).max(1 << 16) {
            return None;
        }
        Some(Tally { lo, labels, counts: vec![0; entries], carried: vec![0; entries], firsts: vec![0; entries], cells })
    }

    /// Rows counted at entry `at`.
    fn rows(&self, at: usize) -> u32 {
        self.counts[at].saturating_sub(1) as u32 + self.carried[at]
    }

    /// Count rows (finest-grid [`ScoreSketch::row_key`]s) on the grid `coarse` bits coarser
    /// than the finest; row `j` is row `base + j` of the call.
    fn count(&mut self, keys: &[u64], coarse: u32, base: usize) {
        let (lo, labels) = (self.lo, self.labels);
        for (j, &key) in keys.iter().enumerate() {
            let at = ((bin_of(key) >> coarse).wrapping_sub(lo)) as usize * labels + label_of(key) as usize;
            let Some(c) = self.counts.get_mut(at) else { continue };
            if *c == 0 || *c == u8::MAX {
                if *c == 0 {
                    self.firsts[at] = (base + j) as u32;
                } else {
                    self.carried[at] += u32::from(TALLY_CARRY);
                }
                *c = 1;
            }
            *c += 1;
        }
    }
}

/// Most entries a [`Tally`] table may have per cell of the rows (the bins between theirs
/// that hold none cost an entry each).
const TALLY_PER_CELL: usize = 4;

/// Labels below this are regridded through a slot each ([`ScoreSketch::regrid_whole`]).
const REGRID_LABELS: u32 = 64;
/// Labels below this have their role in [`ScoreSketch::groups`] asked once.
const ROLE_LABELS: u32 = 1 << 12;

/// The sketches of a layout's score columns (each row has one cell in every sketch), fed a
/// batch of rows at a time. Rows wait here until [`BATCH_ROWS`] (or [`BATCH_BYTES`]) of
/// them are held, then each sketch bins them as one sorted batch. The waiting rows are part
/// of the state: they are serialised with it, and the sketches are only reachable through
/// [`SketchSet::get`] (a flushed copy when rows wait) or [`SketchSet::get_mut`] (flushes
/// first), so no reader can miss them; [`SketchSet::flush`] saves the copy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SketchSet {
    sketches: Vec<ScoreSketch>,
    replicates: usize,
    /// Most rows waiting (0: the default).
    batch: usize,
    /// Most rows of an [`SketchSet::extend`] block (0: `batch`).
    #[serde(default)]
    block: usize,
    /// Per waiting row: its weight, its `replicates` replicate draws (its weight in
    /// replicate `b` is its weight times `draws[b]`), and its [`ScoreSketch::row_key`] in
    /// each sketch.
    weights: Vec<f64>,
    draws: Vec<u8>,
    keys: Vec<u64>,
    #[serde(skip)]
    scratch: Scratch,
    #[serde(skip)]
    kept: Kept,
}

impl SketchSet {
    /// `count` sketches keeping `replicates` replicate weights, of about `bytes` each;
    /// `batch`: most rows binned at once (0: [`BATCH_ROWS`], fewer when rows are wide or
    /// the sketches small).
    pub fn new(count: usize, replicates: usize, bytes: usize, batch: usize) -> Self {
        let row_bytes = 8 * (1 + count) + replicates;
        let most = BATCH_BYTES.min(bytes.saturating_mul(count) / 32);
        // a block row: its weight, replicate draws and keys, and the sorted batch's two
        // copies
        let block_bytes = 8 * (1 + count) + replicates + 16;
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

    /// Rows `0..rows` all at hand (a score store switched to sketches): those `keep` keeps;
    /// `keys(ids, out)` writes the [`ScoreSketch::row_key`] of rows `ids` in sketch `c` to
    /// `out[c * ids.len()..]`, every one of them (one call per block, not one per score;
    /// `out` holds an earlier block's keys, not zeros); `weights` their
    /// weights (`None`: all 1) and `draws(row, out)` their replicate draws. Binned a
    /// block of rows at a time, one sketch after another, with none of [`Self::push`]'s
    /// staging: the same sketches as pushing the rows in order (any batches give the same
    /// result).
    pub fn extend(
        &mut self,
        rows: usize,
        keep: &dyn Fn(usize) -> bool,
        keys: &dyn Fn(&[usize], &mut [u64]),
        weights: Option<&[f64]>,
        draws: &mut dyn FnMut(usize, &mut [u8]),
    ) {
        let r = self.replicates;
        // unit rows into whole sketches without replicates: counted through each sketch's
        // bin table from block to block (and from call to call), the rows without a cell
        // binned together now and then
        let counted = r == 0 && weights.is_none();
        if !self.weights.is_empty() || !counted {
            self.flush();
        }
        let block = if self.block == 0 { self.batch } else { self.block }.max(1);
        let count = self.sketches.len();
        let mut kept = std::mem::take(&mut self.kept);
        let Kept { found, ids, weights: ws, draws: reps, keys: all } = &mut kept;
        if counted {
            found.resize_with(count, Found::default);
            // a sketch counting from an earlier call goes on only while these rows keep it
            // whole
            for (sketch, f) in self.sketches.iter_mut().zip(found.iter_mut()) {
                if f.on && !sketch.countable(rows) {
                    sketch.found_finish(f, &mut self.scratch);
                }
            }
        }
        let found = if counted { &mut found[..] } else { &mut [] };
        let mut tallies = self.pregrid(rows, keep, keys, weights, block, ids, all);
        let (mut start, mut kept_rows) = (0, 0);
        while start < rows {
            let end = rows.min(start + block);
            let n = block_keys(start..end, keep, keys, count, ids, all);
            kept_rows += n;
            // without weights or replicates, rows add as counts (no weights at all)
            ws.clear();
            if weights.is_some() || r > 0 {
                ws.extend(ids.iter().map(|&i| weights.map_or(1.0, |w| w.get(i).copied().unwrap_or(1.0))));
            }
            reps.clear();
            reps.resize(n * r, 0);
            if r > 0 {
                for (j, &i) in ids.iter().enumerate() {
                    draws(i, &mut reps[j * r..(j + 1) * r]);
                }
            }
            for (c, sketch) in self.sketches.iter_mut().enumerate() {
                let keys = &all[c * n..(c + 1) * n];
                if let Some(Some(tally)) = tallies.get_mut(c) {
                    tally.count(keys, sketch.coarse, kept_rows - n);
                    continue;
                }
                if let Some(f) = found.get_mut(c) {
                    if !f.on && sketch.countable(rows - start) && n * FOUND_CELLS_PER_ROW >= sketch.keys.len() {
                        sketch.found_start(f, sketch.rows);
                    }
                    if f.on {
                        let base = sketch.rows;
                        sketch.rows += n as u64;
                        sketch.add_mass(n as f64, true);
                        sketch.found_rows(f, keys, base, &mut self.scratch);
                        if f.miss_keys.len() * FOUND_MISSES >= sketch.keys.len() {
                            sketch.found_finish(f, &mut self.scratch);
                        }
                        continue;
                    }
                }
                sketch.add_rows(keys, ws, reps, &mut self.scratch);
            }
            start = end;
        }
        for (sketch, tally) in self.sketches.iter_mut().zip(&tallies) {
            if let Some(tally) = tally {
                sketch.take_tally(tally, kept_rows);
            }
        }
        tallies.clear();
        // the counts and the rows without a cell wait for the next call (a chunk past the
        // budget is a call, and each finish walks all the cells and moves them to insert the
        // new ones) until there are enough of those rows, or the sketches are read
        self.kept = kept;
    }

    /// Some sketch's counted rows wait in its table (see [`Self::extend`]).
    fn counting(&self) -> bool {
        self.kept.found.iter().any(|f| f.on)
    }

    /// Add the counted rows waiting in the sketches' tables to their cells.
    fn settle(&mut self) {
        for (sketch, f) in self.sketches.iter_mut().zip(self.kept.found.iter_mut()) {
            if f.on {
                sketch.found_finish(f, &mut self.scratch);
            }
        }
    }

    /// Before rows at hand go into empty sketches that stay whole to the end (the switch at
    /// the budget): each sketch moves first to the grid one pass over them ends at, the
    /// finest at which all their cells fit its cap (a [`CellMap`] of the rows' finest cells,
    /// from one more pass over their keys), so they are binned once on it, with no sorted
    /// batches on grids the cap then leaves. Whole sums do not depend on the order or grid
    /// they are added on, so the sketch is the one binning them on the way would give.
    /// Unit rows without replicates are then counted on that grid through a [`Tally`] a
    /// sketch (`None` where its table would be too big): returned, one per sketch (empty
    /// when the sketches were left as they were).
    #[allow(clippy::too_many_arguments)]
    fn pregrid(
        &mut self,
        rows: usize,
        keep: &dyn Fn(usize) -> bool,
        keys: &dyn Fn(&[usize], &mut [u64]),
        weights: Option<&[f64]>,
        block: usize,
        ids: &mut Vec<usize>,
        all: &mut Vec<u64>,
    ) -> Vec<Option<Tally>> {
        let count = self.sketches.len();
        let empty = |s: &ScoreSketch| s.keys.is_empty() && s.rows == 0 && s.whole && s.coarse < MAX_COARSE;
        // fewer rows than a cap never coarsen it
        if count == 0 || !self.sketches.iter().all(empty) || self.sketches.iter().all(|s| rows <= s.cap) {
            return Vec::new();
        }
        // the sketches stay whole: every kept weight whole, 255 times their sum (at most
        // the rows for unit weights) within WHOLE_MAX
        let mut mass = rows as f64;
        if let Some(w) = weights {
            mass = 0.0;
            for x in (0..rows).filter(|&i| keep(i)).map(|i| w.get(i).copied().unwrap_or(1.0)) {
                if !is_whole(x) {
                    return Vec::new();
                }
                mass += x.abs();
            }
        }
        if self.sketches.iter().any(|s| (s.mass + mass) * 255.0 > WHOLE_MAX) {
            return Vec::new();
        }
        let mut maps: Vec<CellMap> = (0..count).map(|_| CellMap::default()).collect();
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + block);
            let n = block_keys(start..end, keep, keys, count, ids, all);
            for (c, map) in maps.iter_mut().enumerate() {
                map.add(&all[c * n..(c + 1) * n]);
            }
            start = end;
        }
        let counted = weights.is_none() && self.replicates == 0 && u32::try_from(rows).is_ok();
        let mut tallies = Vec::with_capacity(count);
        for (sketch, map) in self.sketches.iter_mut().zip(&maps) {
            let mut tally = None;
            if !map.full {
                let grid = (sketch.coarse..MAX_COARSE).find(|&g| map.cells(g) <= sketch.cap).unwrap_or(MAX_COARSE);
                sketch.regrid(grid);
                if counted {
                    tally = Tally::new(map, grid);
                }
            }
            tallies.push(tally);
        }
        tallies
    }

    /// Every cell's weights (point and replicates) and every waiting row's weights are
    /// whole numbers of at most [`WHOLE_MAX`]: adding whole weights that sum to at most as
    /// much again is exact, whatever the order. The sketches' flags say so for their cells
    /// (a sketch's `whole`: no scan of every cell at each chunk's merge).
    pub fn whole(&self) -> bool {
        self.sketches.iter().all(|s| s.whole)
            && self.weights.iter().all(|&x| is_whole(x))
            // a replicate weight is the row's weight times a draw of at most 12
            && (self.draws.is_empty() || self.weights.iter().all(|w| is_whole(w * 12.0)))
    }

    /// No sketches (the scores are still stored).
    pub fn is_empty(&self) -> bool {
        self.sketches.is_empty()
    }

    /// One row: `cell(c)` is its score and label id in sketch `c`, `draws` its multiplicity
    /// in each replicate (missing ones count as 0, extra ones are ignored).
    #[inline]
    pub fn push(&mut self, cell: &dyn Fn(usize) -> (f64, u32), weight: f64, draws: &[u8]) {
        for c in 0..self.sketches.len() {
            let (score, label) = cell(c);
            self.keys.push(ScoreSketch::row_key(score, label));
        }
        self.weights.push(weight);
        let r = self.replicates;
        let have = draws.len().min(r);
        self.draws.extend_from_slice(&draws[..have]);
        self.draws.resize(self.draws.len() + r - have, 0);
        if self.weights.len() >= self.batch.max(1) {
            self.flush();
        }
    }

    /// Bin the waiting rows.
    pub fn flush(&mut self) {
        self.settle();
        let rows = self.weights.len();
        if rows == 0 {
            return;
        }
        let count = self.sketches.len();
        let mut keys = std::mem::take(&mut self.scratch.keys);
        for (c, sketch) in self.sketches.iter_mut().enumerate() {
            keys.clear();
            keys.extend(self.keys.iter().skip(c).step_by(count));
            sketch.add_rows(&keys, &self.weights, &self.draws, &mut self.scratch);
        }
        self.scratch.keys = keys;
        self.weights.clear();
        self.draws.clear();
        self.keys.clear();
    }

    /// The sketches with every row in (a flushed copy while rows wait).
    pub fn get(&self) -> Cow<'_, [ScoreSketch]> {
        if self.weights.is_empty() && !self.counting() {
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
            + (self.weights.capacity() + self.keys.capacity()) * 8
            + self.draws.capacity()
            + (self.scratch.sorted.capacity() + self.scratch.spare.capacity() + self.scratch.keys.capacity()) * 8
            + self.scratch.runs.capacity() * std::mem::size_of::<Run>()
            + self.kept.bytes()
    }
}

/// [`SketchSet`]'s serialised fields (the same names, order and encoding as its derived
/// `Deserialize` reads).
#[derive(Serialize)]
#[serde(rename = "SketchSet")]
struct SetFields<'a> {
    sketches: &'a [ScoreSketch],
    replicates: usize,
    batch: usize,
    block: usize,
    weights: &'a [f64],
    draws: &'a [u8],
    keys: &'a [u64],
}

impl Serialize for SketchSet {
    /// Counted rows still in the sketches' tables are added first (to a copy).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.counting() {
            let mut settled = self.clone();
            settled.settle();
            return settled.serialize(serializer);
        }
        SetFields {
            sketches: &self.sketches,
            replicates: self.replicates,
            batch: self.batch,
            block: self.block,
            weights: &self.weights,
            draws: &self.draws,
            keys: &self.keys,
        }
        .serialize(serializer)
    }
}

/// The rows of `block` that `keep` keeps into `ids`, and their keys in each of `count`
/// sketches into `all` (see [`SketchSet::extend`]); returns how many.
fn block_keys(
    block: std::ops::Range<usize>,
    keep: &dyn Fn(usize) -> bool,
    keys: &dyn Fn(&[usize], &mut [u64]),
    count: usize,
    ids: &mut Vec<usize>,
    all: &mut Vec<u64>,
) -> usize {
    ids.clear();
    ids.extend(block.filter(|&i| keep(i)));
    // `keys` writes every key: the buffer is not zeroed first (a memset of 8 bytes a row
    // and sketch, ~2% of the 1 GB read)
    let need = ids.len() * count;
    if all.len() < need {
        all.resize(need, 0);
    }
    keys(ids, &mut all[..need]);
    ids.len()
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
        ScoreSketch { width, cap, whole: true, ..Self::default() }
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

    /// The cells in arrival order (the order of their first rows): the cell numbers of
    /// one-at-a-time adding, which fix the order of float sums across cells.
    fn arrival(&self) -> Vec<u32> {
        let mut items: Vec<Item> =
            self.firsts.iter().enumerate().map(|(i, &f)| Item { key: f, payload: i as u32 }).collect();
        sort::sort_items(&mut items, &mut Vec::new());
        items.iter().map(|it| it.payload).collect()
    }

    /// Rows binned in arrival order: `keys` hold each row's [`Self::row_key`], `weights`
    /// its weight (empty: every weight 1) and `draws` its replicate draws (`width - 1` a
    /// row; its weight in replicate `b` is its weight times `draws[b]`). The same cells,
    /// weights and grid as adding the rows one at a time.
    pub fn add_rows(&mut self, keys: &[u64], weights: &[f64], draws: &[u8], scratch: &mut Scratch) {
        let base = self.rows;
        self.rows += keys.len() as u64;
        let r = self.width - 1;
        let first = |j: usize| base + j as u64;
        let unit = weights.iter().all(|&w| w == 1.0);
        let mass = if unit { keys.len() as f64 } else { weights.iter().map(|w| w.abs()).sum() };
        self.add_mass(mass, unit || weights.iter().all(|&w| is_whole(w)));
        if r > 0 && unit && self.whole {
            // exact sums: a run's draws add up as integers first (at most 12 a row), then
            // each replicate adds them once, the sum rows added one by one would reach. The
            // rows' draws are copied in sorted order a stage at a time across runs (runs are
            // a few rows long): short independent copies keep many cache misses in flight,
            // where each row's sum waited for its own.
            let mut sums = vec![0u16; r];
            let mut stage = Stage::default();
            self.absorb(keys, 0, true, scratch, &first, &mut |from, sorted, run, mask, w, count| {
                for part in run.clone().step_by(RUN_SUM_ROWS) {
                    let part = part..run.end.min(part + RUN_SUM_ROWS);
                    sums.fill(0);
                    for p in part.clone() {
                        for (s, &d) in sums.iter_mut().zip(stage.row(from, sorted, p, mask, draws, r)) {
                            *s += u16::from(d);
                        }
                    }
                    w[0] += part.len() as f64;
                    for (a, &s) in w[1..].iter_mut().zip(&sums) {
                        *a += f64::from(s);
                    }
                }
                *count += run.len() as u64;
            });
            return;
        }
        if r == 0 && unit {
            if self.countable(0) && keys.len().saturating_mul(FOUND_CELLS_PER_ROW) >= self.keys.len() {
                // every sum exact: rows of cells we have are counted in any order first
                let mut found = std::mem::take(&mut scratch.found);
                self.found_start(&mut found, base);
                self.found_rows(&mut found, keys, base, scratch);
                self.found_finish(&mut found, scratch);
                scratch.found = found;
                return;
            }
            self.absorb(keys, 0, true, scratch, &first, &mut add_units);
            return;
        }
        // a run's rows are scattered through the batch: their weights and draws are copied
        // together first (independent loads, many misses in flight), then added from there
        // (a row's adds are too long for the CPU to reach the next row's loads by itself)
        let (mut staged, mut staged_weights) = (Vec::with_capacity(STAGE_ROWS * r), Vec::with_capacity(STAGE_ROWS));
        self.absorb(keys, 0, true, scratch, &first, &mut |from, sorted, run, mask, w, count| {
            let run = &sorted[run];
            for part in run.chunks(STAGE_ROWS) {
                staged.clear();
                staged_weights.clear();
                for &it in part {
                    let row = from + (it & mask) as usize;
                    staged_weights.push(weights[row]);
                    staged.extend_from_slice(&draws[row * r..(row + 1) * r]);
                }
                for (j, &weight) in staged_weights.iter().enumerate() {
                    w[0] += weight;
                    for (a, &d) in w[1..].iter_mut().zip(&staged[j * r..(j + 1) * r]) {
                        *a += weight * f64::from(d);
                    }
                }
            }
            *count += run.len() as u64;
        });
    }

    /// Take in `rows` unit rows counted by `t` into this empty sketch (see [`Tally`]): each
    /// cell's count, its weight (the same whole number) and its least first row.
    fn take_tally(&mut self, t: &Tally, rows: usize) {
        let base = self.rows;
        self.keys.reserve(t.cells);
        self.firsts.reserve(t.cells);
        self.counts.reserve(t.cells);
        self.weights.reserve(t.cells);
        for (i, &f) in t.firsts.iter().enumerate().filter(|&(i, _)| t.counts[i] > 0) {
            let c = t.rows(i);
            self.keys.push(cell_key(t.lo + (i / t.labels) as u32, (i % t.labels) as u32));
            self.firsts.push(base + u64::from(f));
            self.counts.push(u64::from(c));
            // no replicates: one weight a cell
            self.weights.push(f64::from(c));
        }
        self.rows += rows as u64;
        self.add_mass(rows as f64, true);
        self.epoch = next_epoch();
    }

    /// Start counting unit-weight rows (row `base` on in arrival order) into this sketch,
    /// whole and without replicates (so every sum is exact and the cells do not depend on the
    /// order rows come in: a cell's count, its weight and its first row, the least) through a
    /// table of (bin, label) entries over a window of bins on its grid: [`Self::found_count`]
    /// counts each row whose entry is in the window (one table load a row, no sort), into its
    /// cell or into a cell new there (its first row kept), and keeps the others;
    /// [`Self::found_finish`] merges the old cells, the new ones and the kept rows' cells in
    /// key order (one pass, nothing inserted), then coarsens until they fit the cap. The
    /// same cells, weights and grid as [`Self::absorb`] of all rows: the grid is the finest
    /// at which all the rows' cells fit, whatever grids they were counted on. The cells must
    /// not change in between.
    fn found_start(&mut self, f: &mut Found, base: u64) {
        f.miss_keys.clear();
        f.miss_firsts.clear();
        f.carries.clear();
        f.on = true;
        f.news.clear();
        f.base = base;
        if f.epoch != 0 && f.epoch == self.epoch && self.keys.len() <= 2 * f.built {
            // the cells are those the table was left matching (by `found_finish`)
            return;
        }
        // labels up to the cells' largest below 32 have a place in each bin
        let labels = self.keys.iter().map(|&k| label_of(k)).filter(|&l| l < 32).max().map_or(1, |l| l + 1);
        let (lo, span) = self.table_window(labels as usize);
        f.table.clear();
        f.table.resize(span * labels as usize, NO_CELL);
        for &key in &self.keys {
            let at = bin_of(key).wrapping_sub(lo) as usize;
            if at < span && label_of(key) < labels {
                if let Some(h) = f.table.get_mut(at * labels as usize + label_of(key) as usize) {
                    *h = 0;
                }
            }
        }
        if self.epoch == 0 {
            self.epoch = next_epoch();
        }
        (f.lo, f.labels, f.epoch, f.built) = (lo, labels, self.epoch, self.keys.len());
    }

    /// Count rows (their [`Self::row_key`]s; row `j` is `base + j` in arrival order) into
    /// `f` (started on this sketch); past the cap (the cells and the new ones), the table is
    /// finished and started again on the grid the cells then fit, so the cells never pass
    /// the cap by more than the kept rows' cells.
    fn found_rows(&mut self, f: &mut Found, keys: &[u64], base: u64, scratch: &mut Scratch) {
        let mut done = 0;
        loop {
            done += self.found_count(f, &keys[done..], base + done as u64);
            if done == keys.len() {
                return;
            }
            self.found_finish(f, scratch);
            self.found_start(f, base + done as u64);
        }
    }

    /// Count rows as [`Self::found_rows`] says, up to the one whose new cell passes the cap
    /// (while the grid can coarsen): returns how many were counted.
    fn found_count(&self, f: &mut Found, keys: &[u64], base: u64) -> usize {
        let (shift, lo, labels) = (self.coarse, f.lo, f.labels);
        let span = f.table.len() / labels as usize;
        let room = if self.coarse < MAX_COARSE { self.cap.saturating_sub(self.keys.len()) } else { usize::MAX };
        // row j's place after the start: rel + j
        let rel = base.wrapping_sub(f.base);
        for (j, &key) in keys.iter().enumerate() {
            let (at, label) = (((bin_of(key) >> shift).wrapping_sub(lo)) as usize, label_of(key));
            if at < span && label < labels {
                let e = at * labels as usize + label as usize;
                if let Some(h) = f.table.get_mut(e) {
                    if *h < FOUND_CARRY {
                        *h += 1;
                        continue;
                    }
                    if let Ok(e32) = u32::try_from(e) {
                        if *h == FOUND_CARRY {
                            f.carries.push(e32);
                            *h = 1;
                            continue;
                        }
                        // no cell yet: a new one, this its first row
                        if let Ok(at) = u32::try_from(rel + j as u64) {
                            f.news.push(u64::from(e32) << 32 | u64::from(at));
                            *h = 1;
                            if f.news.len() > room {
                                return j + 1;
                            }
                            continue;
                        }
                    }
                }
            }
            f.miss_keys.push(key);
            f.miss_firsts.push(base + j as u64);
        }
        keys.len()
    }

    /// Add `f`'s counts, new cells and kept rows (see [`Self::found_start`]): the old cells
    /// in place first (a forward pass: each in the window reads and clears its table entry,
    /// so no walk of the whole table and no branch a cell on old or new), then the new cells
    /// (the table's, in entry order, and the kept rows' without an old cell, merged) moved
    /// in from the top, the old cells between them as blocks; then the grid coarsened until
    /// the cells fit the cap.
    fn found_finish(&mut self, f: &mut Found, scratch: &mut Scratch) {
        f.on = false;
        let (lo, labels, coarse) = (f.lo, f.labels as usize, self.coarse);
        // the kept rows' cells on this grid, in key order (rows, least first row)
        let items = &mut scratch.items;
        items.clear();
        items.extend(
            f.miss_keys
                .iter()
                .enumerate()
                .map(|(m, &key)| Item { key: cell_key(bin_of(key) >> coarse, label_of(key)), payload: m as u32 }),
        );
        sort::sort_items(items, &mut scratch.spare_items);
        let groups = &mut scratch.groups;
        groups.clear();
        for it in items.iter() {
            let first = f.miss_firsts[it.payload as usize];
            match groups.last_mut() {
                Some(g) if g.0 == it.key => {
                    g.1 += 1;
                    g.2 = g.2.min(first);
                }
                _ => groups.push((it.key, 1, first)),
            }
        }
        // the new cells' entries in key order (the first rows rise with them); the carries
        // too
        sort::sort_u64_above(&mut f.news, &mut scratch.spare, 32);
        f.carries.sort_unstable();
        let (table, carries) = (&mut f.table, &f.carries);
        let span = table.len() / labels;
        // entry `e`'s rows: its byte (left 0) and its carries (`c` moves up through them)
        let mut take = |e: usize, c: &mut usize| {
            let mut rows = table.get_mut(e).map_or(0, |h| u64::from(std::mem::replace(h, 0)));
            while *c < carries.len() && (carries[*c] as usize) < e {
                *c += 1;
            }
            while *c < carries.len() && carries[*c] as usize == e {
                rows += u64::from(FOUND_CARRY);
                *c += 1;
            }
            rows
        };
        // the old cells (every one in the window holds an entry, not NO_CELL) and the kept
        // rows' cells among them (taken: their rows set 0). Whole sums below 2^51: adding
        // the rows at once is adding 1 that many times, and a cell without rows keeps its
        // weight's bits (no +0.0 onto a -0.0); an old cell's first row came before any
        // counted one.
        let n = self.keys.len();
        let (mut c, mut g) = (0, 0);
        for i in 0..n {
            let key = self.keys[i];
            let (at, label) = (bin_of(key).wrapping_sub(lo) as usize, label_of(key) as usize);
            let mut rows = if at < span && label < labels { take(at * labels + label, &mut c) } else { 0 };
            while g < groups.len() && groups[g].0 < key {
                g += 1;
            }
            if g < groups.len() && groups[g].0 == key {
                rows += std::mem::take(&mut groups[g].1);
                g += 1;
            }
            self.counts[i] += rows;
            let w = self.weights[i];
            self.weights[i] = if rows > 0 { w + rows as f64 } else { w };
        }
        // the new cells in key order: the table's (entry `e` is bin `lo + e / labels`, label
        // `e % labels`) merged with the kept rows' left
        let adds = &mut scratch.adds;
        adds.clear();
        let (mut c, mut g) = (0, 0);
        for &x in &f.news {
            let e = (x >> 32) as usize;
            let rows = take(e, &mut c);
            let key = cell_key(lo + (e / labels) as u32, (e % labels) as u32);
            while g < groups.len() && groups[g].0 < key {
                if groups[g].1 > 0 {
                    adds.push(groups[g]);
                }
                g += 1;
            }
            adds.push((key, rows, f.base + (x & u64::from(u32::MAX))));
        }
        adds.extend(groups[g..].iter().filter(|x| x.1 > 0));
        // from the top: each new cell at its place, the old cells above it moved up as a block
        self.set_cells(n + adds.len());
        let mut i = n;
        for (k, &(key, rows, first)) in adds.iter().enumerate().rev() {
            let below = Self::below(&self.keys[..i], key);
            self.move_cells(below..i, below + k + 1);
            i = below;
            (self.keys[i + k], self.firsts[i + k], self.counts[i + k]) = (key, first, rows);
            self.weights[i + k] = rows as f64;
        }
        // a kept row's new cell inside the window (its entry is 0 from now on)
        let table = &mut f.table;
        for &(key, _, _) in groups.iter() {
            let at = bin_of(key).wrapping_sub(lo) as usize;
            if at < span && (label_of(key) as usize) < labels {
                table[at * labels + label_of(key) as usize] = 0;
            }
        }
        if !adds.is_empty() {
            self.epoch = next_epoch();
        }
        // every cell in the window is 0 in the table again: it matches the cells (until
        // they are regridded)
        f.epoch = self.epoch;
        self.fit();
        // a block of mostly new cells (the first ones) leaves no big buffers behind
        let keep = self.keys.len() / FOUND_MISSES;
        for v in [&mut f.miss_keys, &mut f.miss_firsts, &mut f.news] {
            v.clear();
            v.shrink_to(keep);
        }
        f.carries.clear();
    }

    /// The cells cut or grown to `n` (new ones zero, to be written).
    fn set_cells(&mut self, n: usize) {
        self.keys.resize(n, 0);
        self.firsts.resize(n, 0);
        self.counts.resize(n, 0);
        self.weights.resize(n * self.width, 0.0);
    }

    /// Cells `from` moved to start at cell `to` (the ranges may overlap); an empty range
    /// moves nothing (new cells next to each other: the first batch's are all new).
    #[inline]
    fn move_cells(&mut self, from: std::ops::Range<usize>, to: usize) {
        if from.is_empty() {
            return;
        }
        let w = self.width;
        self.keys.copy_within(from.clone(), to);
        self.firsts.copy_within(from.clone(), to);
        self.counts.copy_within(from.clone(), to);
        self.weights.copy_within(from.start * w..from.end * w, to * w);
    }

    /// How many of the ascending `keys` are below `key` (none is `key`), searched from the
    /// top in doubling steps (a finish's next new cell is most often near the last).
    fn below(keys: &[u64], key: u64) -> usize {
        let (mut top, mut step) = (keys.len(), 1);
        while top > 0 && keys[top - 1] > key {
            let next = top.saturating_sub(step);
            if keys[next] < key {
                return next + 1 + keys[next + 1..top - 1].partition_point(|&k| k < key);
            }
            (top, step) = (next, step * 2);
        }
        top
    }
    /// Whether `rows` more unit rows can be counted through a bin table ([`Self::found_start`]):
    /// the sketch is whole and stays so, and has enough cells for the table to pay.
    fn countable(&self, rows: usize) -> bool {
        self.whole
            && self.width == 1
            && self.keys.len() >= FOUND_MIN_CELLS
            && (self.mass + rows as f64) * 255.0 <= WHOLE_MAX
    }

    /// The bins [`Self::found_start`]'s table covers, `labels` entries each: up to
    /// [`FOUND_PER_CAP`] entries a cell of the cap (at least 4,096, at most
    /// [`FOUND_TABLE_MOST`]): all the cells' bins and as many more around them if they fit,
    /// else the window of that many holding the most rows. Returns (its lowest bin, its
    /// length).
    fn table_window(&self, labels: usize) -> (u32, usize) {
        let n = self.keys.len();
        let most = ((FOUND_PER_CAP * self.cap).max(n).clamp(4096, FOUND_TABLE_MOST) / labels).max(1);
        let (lo, hi) = (bin_of(self.keys[0]), bin_of(self.keys[n - 1]));
        if ((hi - lo) as usize) < most {
            // new cells come around the old ones (the finest bins' range is below 2^24)
            let below = (lo as usize).min((most - 1 - (hi - lo) as usize) / 2) as u32;
            return (lo - below, most);
        }
        let (mut best, mut held, mut rows, mut e) = (lo, 0, 0, 0);
        for s in 0..n {
            let start = bin_of(self.keys[s]);
            while e < n && ((bin_of(self.keys[e]) - start) as usize) < most {
                rows += self.counts[e];
                e += 1;
            }
            if rows > held {
                (best, held) = (start, rows);
            }
            rows -= self.counts[s];
        }
        (best, most)
    }

    /// Add the items `keys` (cell keys on the grid `grid` bits coarser than the finest, in
    /// arrival order) as one pass in arrival order would: `add(from, sorted, run, mask, cell
    /// weights, cell rows)` is called for each run of items of one cell, `sorted[run]` (the
    /// whole sorted batch is given, so a caller can look ahead), packed as `key << bits | j`
    /// (`mask` keeps `j`: the item is `keys[from + j]`) in arrival order, and a new cell's
    /// place in arrival order is `first` of its first item. With `capped`, the grid coarsens
    /// after the item that passes the cap, as row-at-a-time adding does.
    fn absorb<F>(
        &mut self,
        keys: &[u64],
        grid: u32,
        capped: bool,
        scratch: &mut Scratch,
        first: &dyn Fn(usize) -> u64,
        add: &mut F,
    ) where
        F: FnMut(usize, &[u64], std::ops::Range<usize>, u64, &mut [f64], &mut u64),
    {
        let mut from = 0;
        while from < keys.len() {
            let shift = self.coarse.saturating_sub(grid);
            let rest = &keys[from..];
            let (mut lo, mut hi, mut labels) = (u32::MAX, 0, 0);
            for &k in rest {
                lo = lo.min(bin_of(k));
                hi = hi.max(bin_of(k));
                labels |= label_of(k);
            }
            let (lo, hi) = (lo >> shift, hi >> shift);
            let label_bits = 32 - labels.leading_zeros();
            // 8-byte items (see `Packing`); keys too wide for that take smaller batches (at
            // least 256 items)
            let room = (64 - (32 - (hi - lo).leading_zeros()) - label_bits).min(24);
            let rest = &rest[..rest.len().min(1 << room)];
            let bits = usize::BITS - (rest.len() - 1).leading_zeros();
            let pack = Packing { bits, label_bits, lo, shift };
            let mask = pack.mask();
            let sorted = &mut scratch.sorted;
            sorted.clear();
            sorted.extend(rest.iter().enumerate().map(|(j, &k)| pack.pack(k, j)));
            sort::sort_u64_above(sorted, &mut scratch.spare, bits);
            let runs = &mut scratch.runs;
            let fresh = self.resolve(sorted, &pack, runs);
            let mut done = rest.len();
            let cut = capped && self.coarse < MAX_COARSE && self.keys.len() + fresh > self.cap;
            if cut {
                // one at a time, the item that makes cap + 1 cells is the last on this grid
                let nth = self.cap.saturating_sub(self.keys.len());
                let mut heads: Vec<u64> =
                    runs.iter().filter(|r| r.new).map(|r| sorted[r.start as usize] & mask).collect();
                sort::sort_u64_above(&mut heads, &mut Vec::new(), 0);
                let last = heads[nth];
                sorted.retain(|&it| it & mask <= last);
                self.resolve(sorted, &pack, runs);
                done = last as usize + 1;
            }
            self.insert(sorted, runs, &pack, &|j| first(from + j));
            let w = self.width;
            for run in runs.iter() {
                let q = run.at as usize;
                let (cell, count) = (&mut self.weights[q * w..(q + 1) * w], &mut self.counts[q]);
                add(from, sorted, run.start as usize..run.end as usize, mask, cell, count);
            }
            if cut {
                self.fit();
            }
            from += done;
        }
    }

    /// The runs of equal keys in `sorted` (packed by `pack`) and their cells into `runs`,
    /// found by walking the cells forward; returns how many runs have no cell yet.
    fn resolve(&self, sorted: &[u64], pack: &Packing, runs: &mut Vec<Run>) -> usize {
        runs.clear();
        let (mut at, mut s, mut fresh) = (0, 0, 0);
        while s < sorted.len() {
            let packed = sorted[s] >> pack.bits;
            let mut e = s + 1;
            while e < sorted.len() && sorted[e] >> pack.bits == packed {
                e += 1;
            }
            let key = pack.key(sorted[s]);
            at = seek(&self.keys, at, key);
            let new = self.keys.get(at) != Some(&key);
            fresh += usize::from(new);
            runs.push(Run { start: s as u32, end: e as u32, at: at as u32, new });
            s = e;
        }
        fresh
    }

    /// Insert the new cells of `runs` where they belong in key order (each placed in
    /// arrival order by `first` of its first item), and set every run's cell to where its
    /// cell is now.
    fn insert(&mut self, sorted: &[u64], runs: &mut [Run], pack: &Packing, first: &dyn Fn(usize) -> u64) {
        let fresh = runs.iter().filter(|r| r.new).count();
        if fresh == 0 {
            return;
        }
        self.epoch = next_epoch();
        // one backward pass moves each old cell up by the new cells before it
        let (w, old) = (self.width, self.keys.len());
        self.set_cells(old + fresh);
        let (mut i, mut j) = (old, fresh);
        for run in runs.iter().rev().filter(|r| r.new) {
            let p = run.at as usize;
            self.move_cells(p..i, p + j);
            j -= 1;
            let (q, head) = (p + j, sorted[run.start as usize]);
            self.keys[q] = pack.key(head);
            self.firsts[q] = first((head & pack.mask()) as usize);
            self.counts[q] = 0;
            self.weights[q * w..(q + 1) * w].fill(0.0);
            i = p;
        }
        let mut seen = 0;
        for run in runs.iter_mut() {
            run.at += seen;
            seen += u32::from(run.new);
        }
    }

    /// Note rows (or another sketch's) of total weight magnitude `mass`, all of whole
    /// weights when `whole`: the sketch stays whole while 255 times its mass (the largest
    /// draw a byte holds; Poisson draws stop at 12) is at most [`WHOLE_MAX`].
    fn add_mass(&mut self, mass: f64, whole: bool) {
        self.mass += mass;
        self.whole &= whole && self.mass * 255.0 <= WHOLE_MAX;
    }

    /// Coarsen until the cells fit the cap.
    fn fit(&mut self) {
        while self.keys.len() > self.cap && self.coarse < MAX_COARSE {
            self.regrid(self.coarse + 1);
        }
    }

    /// Move to the grid `coarse` bits coarser than the finest (at least the current one).
    /// Cells are in (bin, label) order, so the old cells of one new bin are neighbours: each
    /// such range in arrival order, then stably by label, gives each new cell's old cells
    /// together in arrival order, summed as one-at-a-time regridding adds them, the new cell
    /// first where the first of them was (a whole sketch's sums are exact in any order: by
    /// label alone). Written back in place, range by range.
    fn regrid(&mut self, coarse: u32) {
        if coarse <= self.coarse {
            return;
        }
        let (shift, w, n) = (coarse - self.coarse, self.width, self.keys.len());
        if self.whole && self.keys.iter().all(|&k| label_of(k) < REGRID_LABELS) {
            self.regrid_whole(shift);
            self.coarse = coarse;
            self.epoch = next_epoch();
            return;
        }
        let (mut order, mut spare, mut out, mut sums) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut g, mut s) = (0, 0);
        while s < n {
            let bin = bin_of(self.keys[s]) >> shift;
            let mut e = s + 1;
            while e < n && bin_of(self.keys[e]) >> shift == bin {
                e += 1;
            }
            order.clear();
            if self.whole {
                // exact sums in any order: by label alone, each new cell's first the least
                order.extend((s..e).map(|i| Item { key: u64::from(label_of(self.keys[i])), payload: i as u32 }));
            } else {
                order.extend((s..e).map(|i| Item { key: self.firsts[i], payload: i as u32 }));
                sort::sort_items(&mut order, &mut spare);
                for it in order.iter_mut() {
                    it.key = u64::from(label_of(self.keys[it.payload as usize]));
                }
            }
            sort::sort_items_stable(&mut order, &mut spare);
            out.clear();
            sums.clear();
            for it in &order {
                let i = it.payload as usize;
                let key = cell_key(bin, it.key as u32);
                if out.last().map(|o: &(u64, u64, u64)| o.0) != Some(key) {
                    out.push((key, self.firsts[i], 0));
                    sums.resize(sums.len() + w, 0.0);
                }
                let j = out.len() - 1;
                out[j].1 = out[j].1.min(self.firsts[i]);
                out[j].2 += self.counts[i];
                for (a, x) in sums[j * w..].iter_mut().zip(&self.weights[i * w..(i + 1) * w]) {
                    *a += x;
                }
            }
            // the range is read: its new cells go back where it began
            for (j, &(key, first, count)) in out.iter().enumerate() {
                (self.keys[g], self.firsts[g], self.counts[g]) = (key, first, count);
                self.weights[g * w..(g + 1) * w].copy_from_slice(&sums[j * w..(j + 1) * w]);
                g += 1;
            }
            s = e;
        }
        self.set_cells(g);
        self.coarse = coarse;
        self.epoch = next_epoch();
    }

    /// [`Self::regrid`] `shift` bits coarser of a whole sketch whose labels are all below
    /// [`REGRID_LABELS`]: each range of cells that share a new bin is summed per label into
    /// a slot each (no sort: the cells of a label meet in key order, as the stable sort by
    /// label gives them) and written back in label order where the range began.
    fn regrid_whole(&mut self, shift: u32) {
        const L: usize = REGRID_LABELS as usize;
        let (w, n) = (self.width, self.keys.len());
        let (mut firsts, mut counts, mut sums) = ([u64::MAX; L], [0u64; L], vec![0.0; L * w]);
        let (mut g, mut s) = (0, 0);
        while s < n {
            let bin = bin_of(self.keys[s]) >> shift;
            let mut seen = 0u64;
            while s < n && bin_of(self.keys[s]) >> shift == bin {
                let l = label_of(self.keys[s]) as usize;
                seen |= 1 << l;
                firsts[l] = firsts[l].min(self.firsts[s]);
                counts[l] += self.counts[s];
                if w == 1 {
                    sums[l] += self.weights[s];
                } else {
                    for (a, x) in sums[l * w..(l + 1) * w].iter_mut().zip(&self.weights[s * w..(s + 1) * w]) {
                        *a += x;
                    }
                }
                s += 1;
            }
            // the range is read: its new cells go back where it began
            while seen != 0 {
                let l = seen.trailing_zeros() as usize;
                seen &= seen - 1;
                (self.keys[g], self.firsts[g], self.counts[g]) = (cell_key(bin, l as u32), firsts[l], counts[l]);
                self.weights[g * w..(g + 1) * w].copy_from_slice(&sums[l * w..(l + 1) * w]);
                (firsts[l], counts[l]) = (u64::MAX, 0);
                sums[l * w..(l + 1) * w].fill(0.0);
                g += 1;
            }
        }
        self.set_cells(g);
    }

    /// Add `other`, whose label id `i` is our `map[i]`. Replicates are added only when both
    /// keep the same number (replicates drawn differently cannot be combined).
    pub fn merge(&mut self, other: &ScoreSketch, map: &[u32]) {
        let scratch = &mut Scratch::default();
        let coarse = self.coarse.max(other.coarse);
        self.regrid(coarse);
        let take = if other.width == self.width { self.width } else { 1 };
        self.add_mass(other.mass, other.whole);
        // other's cells in its arrival order, as one pass over its rows met them
        let order = other.arrival();
        let keys: Vec<u64> = order
            .iter()
            .map(|&i| {
                let key = other.keys[i as usize];
                let label = label_of(key);
                cell_key(bin_of(key), map.get(label as usize).copied().unwrap_or(label))
            })
            .collect();
        let (ow, base) = (other.width, self.rows);
        let first = |j: usize| base + other.firsts[order[j] as usize];
        self.absorb(&keys, other.coarse, false, scratch, &first, &mut |from, sorted, run, mask, cell, count| {
            let run = &sorted[run];
            for &it in run {
                let i = order[from + (it & mask) as usize] as usize;
                for (a, x) in cell[..take].iter_mut().zip(&other.weights[i * ow..]) {
                    *a += x;
                }
                *count += other.counts[i];
            }
        });
        self.rows += other.rows;
        self.fit();
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// (bin, label) cells held.
    pub fn cells(&self) -> usize {
        self.keys.len()
    }

    /// Mantissa bits the grid dropped beyond the finest (0 while the cap was never reached).
    pub fn coarse(&self) -> u32 {
        self.coarse
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.keys.capacity() + self.firsts.capacity() + self.weights.capacity() + self.counts.capacity()) * 8
    }

    /// The finest-grid key of a score in cell `label` (for [`Self::add_rows`]).
    #[inline]
    pub fn row_key(score: f64, label: u32) -> u64 {
        cell_key(Self::bin(score), label)
    }

    /// [`Self::row_key`] of an f32 score (the key of the score widened to f64).
    #[inline]
    pub fn row_key_f32(score: f32, label: u32) -> u64 {
        cell_key((sort::desc_key_f32(score) >> SHIFT) as u32, label)
    }

    /// The bins in descending score order; `role(label id)` says whether a label's rows are
    /// positive (`Some(true)`), negative or left out (`None`). Cells are in bin order, and a
    /// bin adds its cells' weights in arrival order.
    pub fn groups(&self, role: &dyn Fn(u32) -> Option<bool>) -> Groups {
        let w = self.width;
        let mut g = Groups { coarse: self.coarse, width: w, ..Groups::default() };
        // each label's role asked once (label ids are few), not once a cell
        let mut roles: Vec<Option<bool>> = Vec::new();
        let (mut members, mut s) = (Vec::new(), 0);
        while s < self.keys.len() {
            let bin = bin_of(self.keys[s]);
            let mut e = s + 1;
            while e < self.keys.len() && bin_of(self.keys[e]) == bin {
                e += 1;
            }
            members.clear();
            for i in s..e {
                let l = label_of(self.keys[i]);
                if l as usize >= roles.len() && l < ROLE_LABELS {
                    roles.extend((roles.len() as u32..=l).map(role));
                }
                if let Some(positive) = roles.get(l as usize).copied().unwrap_or_else(|| role(l)) {
                    members.push((self.firsts[i], i, positive));
                }
            }
            s = e;
            if members.is_empty() {
                continue;
            }
            // a bin's few cells: insertion sort (std's sorts cost kilobytes of wasm); a whole
            // sketch's sums are exact in any order
            for i in (1..members.len()).filter(|_| !self.whole) {
                let mut j = i;
                while j > 0 && members[j - 1].0 > members[j].0 {
                    members.swap(j - 1, j);
                    j -= 1;
                }
            }
            g.bins.push(bin);
            g.rows.push(members.iter().map(|&(_, i, _)| self.counts[i]).sum());
            g.pos.resize(g.pos.len() + w, 0.0);
            g.neg.resize(g.neg.len() + w, 0.0);
            let j = g.bins.len() - 1;
            for &(_, i, positive) in &members {
                let to = if positive { &mut g.pos } else { &mut g.neg };
                for (a, x) in to[j * w..(j + 1) * w].iter_mut().zip(&self.weights[i * w..(i + 1) * w]) {
                    *a += x;
                }
            }
        }
        g
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

/// The sketches cut into lanes that threads bin into apart (`ranking::SketchWork`): a
/// sketch's cells depend only on its own rows, in order, so the lanes joined back are the
/// set that binned everything itself.
impl SketchSet {
    /// The sketches held.
    pub fn len(&self) -> usize {
        self.sketches.len()
    }

    /// At most `parts` sets of neighbouring sketches, in order, each binning as this one
    /// does (the same batch and block sizes); waiting rows are binned first.
    pub fn split(mut self, parts: usize) -> Vec<SketchSet> {
        self.flush();
        let n = self.sketches.len();
        let parts = parts.clamp(1, n.max(1));
        let mut sketches = std::mem::take(&mut self.sketches).into_iter();
        (0..parts)
            .map(|p| SketchSet {
                sketches: sketches.by_ref().take((p + 1) * n / parts - p * n / parts).collect(),
                replicates: self.replicates,
                batch: self.batch,
                block: self.block,
                ..Self::default()
            })
            .collect()
    }

    /// The sets [`Self::split`] made, back in one.
    pub fn join(parts: Vec<SketchSet>) -> SketchSet {
        let mut parts = parts.into_iter();
        let mut set = parts.next().unwrap_or_default();
        set.flush();
        for mut part in parts {
            part.flush();
            set.sketches.append(&mut part.sketches);
        }
        set
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

        /// `draws`: the row's multiplicity in each replicate, its weight there `weight`
        /// times that (the replicate weights as they were first defined).
        fn add(&mut self, score: f64, label: u32, weight: f64, draws: &[u8]) {
            let rep: Vec<f64> = draws.iter().map(|&d| weight * f64::from(d)).collect();
            let i = self.slot((ScoreSketch::bin_at(score, self.coarse), label));
            let w = &mut self.weights[i * self.width..(i + 1) * self.width];
            w[0] += weight;
            for (a, &x) in w[1..].iter_mut().zip(&rep) {
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
            let bits = self.weights.iter().map(|x| x.to_bits()).collect();
            (self.coarse, self.cells.clone(), bits, self.counts.clone(), self.rows) == numbered(s)
        }
    }

    type Numbered = (u32, Vec<(u32, u32)>, Vec<u64>, Vec<u64>, u64);

    /// A sketch's grid, cells, weights (bits), counts and rows, the cells in arrival order
    /// (numbered as one at a time numbers them).
    fn numbered(s: &ScoreSketch) -> Numbered {
        let order: Vec<usize> = s.arrival().iter().map(|&i| i as usize).collect();
        let cells = order.iter().map(|&i| (bin_of(s.keys[i]), label_of(s.keys[i]))).collect();
        let weights =
            order.iter().flat_map(|&i| &s.weights[i * s.width..(i + 1) * s.width]).map(|x| x.to_bits()).collect();
        (s.coarse, cells, weights, order.iter().map(|&i| s.counts[i]).collect(), s.rows)
    }

    /// The next of a xorshift stream.
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// A row: its (score, label) in each of three sketches, weight and replicate draws.
    type Row = (Vec<(f64, u32)>, f64, Vec<u8>);

    /// How a test stream's rows are weighted.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Weights {
        /// Fractional: the order of additions shows in the sums.
        Fraction,
        /// Every weight 1 (added by the run, not row by row).
        Unit,
        /// Whole numbers 1 to 4.
        Whole,
        /// The first 2^52 - 8.5, then 0, then 1 from the middle on: runs of unit rows onto a
        /// fractional cell whose sum crosses 2^52.
        Mixed,
    }

    /// A row stream: scores over many exponents, a few tied values, negatives and NaN;
    /// labels `base..base + labels` (a base past 2^16 leaves the sorted batches less room);
    /// weights as `weights` says and Poisson-like replicate counts.
    fn rows(n: usize, labels: u32, base: u32, weights: Weights, replicates: usize, seed: u64) -> Vec<Row> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|i| {
                let cells = (0..3)
                    .map(|_| {
                        let r = next();
                        let score = match r % 9 {
                            0 => f64::from((r >> 8) as u32 % 5) * 0.25,
                            1 => -((r >> 8) as f64 / 2f64.powi(64)) * 7.0,
                            2 if r % 27 == 2 => f64::NAN,
                            _ => ((r >> 11) as f64 / 2f64.powi(53)).powi(1 + (r >> 4) as i32 % 6),
                        };
                        (score, base + (next() % u64::from(labels)) as u32)
                    })
                    .collect();
                let weight = match weights {
                    Weights::Unit => 1.0,
                    Weights::Whole => (1 + next() % 4) as f64,
                    // a sum that rounds differently when its 1s are added at once
                    Weights::Mixed if i == 0 => 2f64.powi(52) - 8.5,
                    Weights::Mixed => f64::from(u8::from(i >= n / 2)),
                    _ => 0.1 * (1 + next() % 13) as f64,
                };
                let rep = (0..replicates).map(|_| (next() % 4) as u8).collect();
                (cells, weight, rep)
            })
            .collect()
    }

    /// Batches of any size bin rows as one row at a time does: the same cells in the same
    /// order, the same float sums, the grid coarsened at the same row (caps crossed inside
    /// batches); and merges of such sketches (with a label map, across grids, with and
    /// without matching replicates) equal the one-at-a-time merges. Cases: (replicates,
    /// sketch bytes, labels, first label id, weights).
    #[test]
    fn batches_and_merges_equal_one_row_at_a_time() {
        use Weights::*;
        for case in [
            (0, 1, 3, 0, Fraction),
            (0, 40_000, 2, 0, Fraction),
            (4, 1, 5, 0, Fraction),
            (4, 3_000, 3, 0, Fraction),
            (0, 1 << 20, 4, 0, Fraction),
            (0, 40_000, 3, 0, Unit),
            (0, 1, 2, 0, Unit),
            (0, 1 << 20, 4, 0, Unit),
            (0, 40_000, 3, 0, Whole),
            (4, 3_000, 3, 0, Whole),
            (4, 40_000, 3, 0, Unit),
            (4, 1, 4, 0, Unit),
            (0, 40_000, 3, 0, Mixed),
            (0, 1, 4, 0, Mixed),
            (0, 40_000, 3, 1 << 20, Unit),
            (0, 3_000, 3, u32::MAX - 9, Fraction),
        ] {
            check(case);
        }
    }

    /// One case of [`batches_and_merges_equal_one_row_at_a_time`].
    fn check((replicates, bytes, labels, base, weights): (usize, usize, u32, u32, Weights)) {
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
        let a = rows(5000, labels, base, weights, replicates, 1 + bytes as u64);
        let b = rows(3000, labels + 1, base, weights, replicates, 2 + bytes as u64);
        for batch in [1, 2, 5, 64, 1000, 0] {
            let (mut set, mut reference) = feed(&a, batch);
            let got = set.get().into_owned();
            for (c, r) in reference.iter().enumerate() {
                // whole weights take the exact sums' shortcuts (unit ones the run sums)
                assert_eq!(got[c].whole, matches!(weights, Weights::Unit | Weights::Whole));
                assert!(
                    r.same(&got[c]),
                    "{replicates} reps, {bytes} B, {weights:?}, labels from {base}, batch {batch}: sketch {c}"
                );
            }
            // the same rows at hand, some left out, in blocks
            let keep = |i: usize| i % 7 != 3;
            let mut ext = SketchSet::new(3, replicates, bytes, batch);
            let all: Vec<f64> = a.iter().map(|r| r.1).collect();
            // unit weights: no weights at all
            let given = (weights != Weights::Unit).then_some(&all[..]);
            let keys = |ids: &[usize], out: &mut [u64]| {
                for (j, &i) in ids.iter().enumerate() {
                    for (c, &(score, label)) in a[i].0.iter().enumerate() {
                        out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                    }
                }
            };
            ext.extend(a.len(), &keep, &keys, given, &mut |i, out| out.copy_from_slice(&a[i].2));
            let kept: Vec<Row> = a.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, r)| r.clone()).collect();
            let (_, kept_ref) = feed(&kept, 1);
            for (c, r) in kept_ref.iter().enumerate() {
                assert!(
                    r.same(&ext.get()[c]),
                    "{replicates} reps, {bytes} B, {weights:?}, labels from {base}, block {batch}: extended {c}"
                );
            }
            let (theirs, their_ref) = feed(&b, batch);
            let map: Vec<u32> = (0..=labels).rev().collect();
            let theirs = theirs.into_vec();
            for (c, s) in set.get_mut().iter_mut().enumerate() {
                s.merge(&theirs[c], &map);
                reference[c].merge(&their_ref[c], &map);
                assert!(
                    reference[c].same(s),
                    "{replicates} reps, {bytes} B, {weights:?}, labels from {base}, batch {batch}: merged {c}"
                );
            }
            if matches!(weights, Weights::Unit | Weights::Whole) {
                // whole weights: the other rows binned straight into ours give the sketches
                // their own sketches merged give
                let mut straight = SketchSet::new(3, replicates, bytes, batch);
                for (data, map) in [(&a, &[][..]), (&b, &map[..])] {
                    let keys = |ids: &[usize], out: &mut [u64]| {
                        for (j, &i) in ids.iter().enumerate() {
                            for (c, &(score, l)) in data[i].0.iter().enumerate() {
                                let label = map.get(l as usize).copied().unwrap_or(l);
                                out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                            }
                        }
                    };
                    let all: Vec<f64> = data.iter().map(|r| r.1).collect();
                    straight.extend(data.len(), &|_| true, &keys, Some(&all), &mut |i, out| {
                        out.copy_from_slice(&data[i].2)
                    });
                }
                assert!(straight.whole());
                for (c, s) in set.get().iter().enumerate() {
                    assert!(
                        numbered(&straight.get()[c]) == numbered(s),
                        "{bytes} B, {weights:?}, labels from {base}, batch {batch}: straight {c}"
                    );
                }
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
                assert!(
                    reference[0].same(s),
                    "{replicates} reps, {bytes} B, {weights:?}, labels from {base}, batch {batch}: merged other width"
                );
            }
        }
    }

    /// Rows at hand into empty whole sketches, binned once on the grid found first
    /// ([`SketchSet::pregrid`]), give the very sketches (grid, cells and their order, first
    /// rows, weight and mass bits, counts, rows) that streaming them through batches on every
    /// grid on the way gives, and one row at a time's: caps from none to many coarsenings,
    /// unit and whole weights, with and without replicates, rows left out.
    #[test]
    fn rows_at_hand_binned_on_their_final_grid_equal_streamed_ones() {
        use Weights::*;
        let raw = |s: &ScoreSketch| {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (
                s.coarse,
                s.keys.clone(),
                s.firsts.clone(),
                bits(&s.weights),
                s.counts.clone(),
                s.rows,
                s.whole,
                s.mass.to_bits(),
            )
        };
        let mut grids = Vec::new();
        for replicates in [0, 3] {
            for weights in [Unit, Whole] {
                for (i, cells) in [64, 200, 1_000, 3_000, 12_000, 40_000].into_iter().enumerate() {
                    let bytes = cells * (8 * (replicates + 1) + CELL_BYTES);
                    let data = rows(20_000, 2 + i as u32 % 3, 0, weights, replicates, 7 + i as u64);
                    let keep = |i: usize| i % 7 != 3;
                    let kept: Vec<&Row> = data.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, r)| r).collect();
                    let mut streamed = SketchSet::new(3, replicates, bytes, 0);
                    let mut reference: Vec<OneAtATime> = (0..3).map(|_| OneAtATime::new(replicates, bytes)).collect();
                    for (cells, weight, rep) in &kept {
                        streamed.push(&|c| cells[c], *weight, rep);
                        for (c, r) in reference.iter_mut().enumerate() {
                            r.add(cells[c].0, cells[c].1, *weight, rep);
                        }
                    }
                    let all: Vec<f64> = data.iter().map(|r| r.1).collect();
                    let keys = |ids: &[usize], out: &mut [u64]| {
                        for (j, &i) in ids.iter().enumerate() {
                            for (c, &(score, label)) in data[i].0.iter().enumerate() {
                                out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                            }
                        }
                    };
                    let given = (weights == Whole).then_some(&all[..]);
                    let mut ext = SketchSet::new(3, replicates, bytes, 0);
                    ext.extend(data.len(), &keep, &keys, given, &mut |i, out| out.copy_from_slice(&data[i].2));
                    let (got, want) = (ext.get(), streamed.get());
                    for c in 0..3 {
                        let case = format!("{replicates} reps, {weights:?}, cap {cells}: sketch {c}");
                        assert!(raw(&got[c]) == raw(&want[c]), "{case}");
                        assert!(reference[c].same(&got[c]), "{case}");
                        assert!(got[c].whole, "{case}");
                        grids.push(got[c].coarse);
                    }
                }
            }
        }
        // the caps reach from the finest grid to many coarsenings
        assert!(grids.contains(&0) && grids.iter().any(|&g| g >= 5), "{grids:?}");
    }

    /// The cells a [`CellMap`] counts on each grid are those of the rows' keys shifted.
    #[test]
    fn cell_map_counts_the_cells_of_every_grid() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let keys: Vec<u64> = (0..50_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let score = if i % 3 == 0 { (x >> 11) as f64 / 2f64.powi(53) } else { f64::from_bits(x) };
                ScoreSketch::row_key(score, (x >> 3) as u32 % 5)
            })
            .collect();
        let mut map = CellMap::default();
        map.add(&keys);
        for coarse in 0..=MAX_COARSE {
            let mut cells: Vec<u64> = keys.iter().map(|&k| cell_key(bin_of(k) >> coarse, label_of(k))).collect();
            cells.sort_unstable();
            cells.dedup();
            assert_eq!(map.cells(coarse), cells.len(), "grid {coarse}");
        }
        map.add(&[ScoreSketch::row_key(0.5, MAP_LABELS as u32)]);
        assert!(map.full);
    }

    /// Unit rows at hand into empty sketches past their cap, counted on their final grid
    /// through a [`Tally`] (cells of thousands of rows, carried out of their count byte many
    /// times), or binned as before where the bins are too spread for its table, equal one
    /// row at a time.
    #[test]
    fn tallied_rows_equal_one_row_at_a_time() {
        let n = 60_000;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let cells: Vec<[(f64, u32); 2]> = (0..n)
            .map(|i| {
                let x = xorshift(&mut x);
                let label = (x >> 5) as u32 % 3;
                // sketch 0: most rows in a few bins, the rest over [0, 1); sketch 1: two
                // clusters a hundred binades apart (a table of many entries for its cells)
                let dense = if i % 4 == 0 { (x >> 11) as f64 / 2f64.powi(53) } else { 0.25 + (i % 5) as f64 * 1e-3 };
                let far = if x >> 63 == 1 { 2f64.powi(-100) } else { 0.5 };
                let spread = far * (1.0 + (x >> 40) as f64 / 2f64.powi(27));
                [(dense, label), (spread, label)]
            })
            .collect();
        for bytes in [8 << 10, 64 << 10] {
            let keep = |i: usize| i % 11 != 5;
            let keys = |ids: &[usize], out: &mut [u64]| {
                for (j, &i) in ids.iter().enumerate() {
                    for (c, &(score, label)) in cells[i].iter().enumerate() {
                        out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                    }
                }
            };
            let mut set = SketchSet::new(2, 0, bytes, 0);
            let tallies = set.clone().pregrid(n, &keep, &keys, None, 1 << 12, &mut Vec::new(), &mut Vec::new());
            assert!(tallies[0].is_some() && tallies[1].is_none(), "{bytes} B");
            set.extend(n, &keep, &keys, None, &mut |_, _| {});
            let mut reference: Vec<OneAtATime> = (0..2).map(|_| OneAtATime::new(0, bytes)).collect();
            for row in (0..n).filter(|&i| keep(i)) {
                for (c, r) in reference.iter_mut().enumerate() {
                    r.add(cells[row][c].0, cells[row][c].1, 1.0, &[]);
                }
            }
            let got = set.get();
            for (c, r) in reference.iter().enumerate() {
                assert!(r.same(&got[c]), "{bytes} B: sketch {c}");
                assert!(got[c].coarse > 0, "{bytes} B: sketch {c} never coarsened");
            }
            assert!(got[0].counts.iter().any(|&c| c > 10 * u64::from(TALLY_CARRY)), "{bytes} B");
        }
    }

    /// Unit rows at hand counted through the bin table: a cell past what a table entry's
    /// byte counts (its rows carried out of it, many times) still equals one row at a time,
    /// also one whose first row came while counting (inside the table's window).
    #[test]
    fn counted_rows_past_a_table_entry_equal_one_row_at_a_time() {
        let n = 160_000;
        // scores 1e-4 apart (about 3 bins): the table covers them all, the late cell between
        let cell = |i: usize| match i {
            _ if i >= 20_000 && i.is_multiple_of(2) => (0.504_85, 1),
            _ => (0.5 + (i % 97) as f64 * 1e-4, (i % 3) as u32),
        };
        let mut set = SketchSet::new(1, 0, 1 << 20, 0);
        let keys = |ids: &[usize], out: &mut [u64]| {
            for (j, &i) in ids.iter().enumerate() {
                let (score, label) = cell(i);
                out[j] = ScoreSketch::row_key(score, label);
            }
        };
        set.extend(n, &|_| true, &keys, None, &mut |_, _| {});
        let mut reference = OneAtATime::new(0, 1 << 20);
        for i in 0..n {
            let (score, label) = cell(i);
            reference.add(score, label, 1.0, &[]);
        }
        assert!(reference.same(&set.get()[0]));
        assert!(set.get()[0].counts.iter().any(|&c| c > 4 * u64::from(NO_CELL)));
    }

    /// Unit rows at hand in many calls (one per chunk, as past the budget), with a streamed
    /// row or a merge between some: the bin tables kept from call to call (marked with each
    /// call's new cells, rebuilt when the cells changed otherwise), and the counted rows
    /// left in them from call to call (read through a copy, a clone or an encoding), give
    /// one row at a time's sketches.
    #[test]
    fn counted_calls_with_kept_tables_equal_one_row_at_a_time() {
        let mut counting = 0;
        for bytes in [4 << 10, 64 << 10, 1 << 20] {
            let data = rows(40_000, 4, 0, Weights::Unit, 0, 7 + bytes as u64);
            let other = rows(3_000, 5, 0, Weights::Unit, 0, 9);
            let (theirs, their_ref) = {
                let mut set = SketchSet::new(1, 0, bytes, 0);
                let mut r = OneAtATime::new(0, bytes);
                for (cells, _, _) in &other {
                    set.push(&|_| cells[0], 1.0, &[]);
                    r.add(cells[0].0, cells[0].1, 1.0, &[]);
                }
                (set.into_vec(), r)
            };
            let mut set = SketchSet::new(3, 0, bytes, 0);
            let mut reference: Vec<OneAtATime> = (0..3).map(|_| OneAtATime::new(0, bytes)).collect();
            let (mut at, mut reused) = (0, 0);
            for (call, size) in [500, 3000, 7000, 2000, 9000, 1, 8000, 10499].into_iter().enumerate() {
                let part = &data[at..at + size];
                at += size;
                let keys = |ids: &[usize], out: &mut [u64]| {
                    for (j, &i) in ids.iter().enumerate() {
                        for (c, &(score, label)) in part[i].0.iter().enumerate() {
                            out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                        }
                    }
                };
                set.extend(part.len(), &|_| true, &keys, None, &mut |_, _| {});
                for (cells, _, _) in part {
                    for (c, r) in reference.iter_mut().enumerate() {
                        r.add(cells[c].0, cells[c].1, 1.0, &[]);
                    }
                }
                reused += set
                    .kept
                    .found
                    .iter()
                    .zip(&set.sketches)
                    .filter(|(f, s)| f.epoch != 0 && f.epoch == s.epoch)
                    .count();
                // counted rows wait in the tables between calls: a clone and the encoded
                // set hold them too
                counting += usize::from(set.counting());
                let encoded = postcard::to_allocvec(&set).unwrap();
                let decoded: SketchSet = postcard::from_bytes(&encoded).unwrap();
                for copy in [set.clone(), decoded] {
                    for (c, r) in reference.iter().enumerate() {
                        assert!(r.same(&copy.get()[c]), "{bytes} B, call {call}: copy of sketch {c}");
                    }
                }
                match call % 3 {
                    1 => {
                        let cells = &other[call].0;
                        set.push(&|c| cells[c], 1.0, &[]);
                        for (c, r) in reference.iter_mut().enumerate() {
                            r.add(cells[c].0, cells[c].1, 1.0, &[]);
                        }
                    }
                    2 => {
                        set.get_mut()[0].merge(&theirs[0], &[]);
                        reference[0].merge(&their_ref, &[]);
                    }
                    _ => {}
                }
                for (c, r) in reference.iter().enumerate() {
                    assert!(r.same(&set.get()[c]), "{bytes} B, call {call}: sketch {c}");
                }
            }
            assert!(reused > 0, "{bytes} B: no table kept");
        }
        assert!(counting > 0, "no counted rows left waiting between calls");
    }

    /// Unit rows at hand in calls past the cap, counted through the bin tables: rows whose
    /// entry is in the window but holds no cell make new cells there (sketch 1's values
    /// spread slowly, and both sketches' first grid is far too fine), rows outside it wait
    /// for the finish (sketch 0's far cluster), the cells pass the cap in the middle of a
    /// call (the table finished, the grid coarsened, a new table started) and a hot cell's
    /// count byte carries many times: one row at a time's sketches, bit for bit.
    #[test]
    fn counted_rows_with_new_cells_folds_and_misses_equal_one_row_at_a_time() {
        let n = 60_000;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let cells: Vec<[(f64, u32); 2]> = (0..n)
            .map(|i| {
                let x = xorshift(&mut x);
                let u = (x >> 11) as f64 / 2f64.powi(53);
                let label = (x >> 3) as u32 % 3;
                // sketch 0: two binades of values, a hot cell, a cluster 100 binades down
                let spread = match i % 50 {
                    0 => 2f64.powi(-100) * (1.0 + u),
                    _ if i % 7 == 0 => 0.5,
                    _ => 0.25 + 0.75 * u,
                };
                // sketch 1: values that spread slowly (new cells between and around the
                // old ones)
                let slow = 0.5 + ((i * 7919) % (1 + i / 64)) as f64 * 1e-5;
                [(spread, label), (slow, label)]
            })
            .collect();
        let (mut new_cells, mut waiting, mut folded) = (0, 0, 0);
        for bytes in [16 << 10, 64 << 10, 1 << 20] {
            let mut set = SketchSet::new(2, 0, bytes, 0);
            let mut reference: Vec<OneAtATime> = (0..2).map(|_| OneAtATime::new(0, bytes)).collect();
            let mut at = 0;
            for size in [700, 2_000, 9_000, 13, 20_000, 3_287, 25_000] {
                let part = &cells[at..at + size];
                at += size;
                let keys = |ids: &[usize], out: &mut [u64]| {
                    for (j, &i) in ids.iter().enumerate() {
                        for (c, &(score, label)) in part[i].iter().enumerate() {
                            out[c * ids.len() + j] = ScoreSketch::row_key(score, label);
                        }
                    }
                };
                let coarse: Vec<u32> = set.sketches.iter().map(|s| s.coarse).collect();
                set.extend(size, &|_| true, &keys, None, &mut |_, _| {});
                for (c, f) in set.kept.found.iter().enumerate() {
                    new_cells += usize::from(f.on && !f.news.is_empty());
                    waiting += usize::from(f.on && c == 0 && !f.miss_keys.is_empty());
                    folded += usize::from(f.on && set.sketches[c].coarse > coarse[c] && coarse[c] > 0);
                }
                for row in part {
                    for (c, r) in reference.iter_mut().enumerate() {
                        r.add(row[c].0, row[c].1, 1.0, &[]);
                    }
                }
                for (c, r) in reference.iter().enumerate() {
                    assert!(r.same(&set.get()[c]), "{bytes} B, {at} rows: sketch {c}");
                }
            }
            assert!(set.get()[0].counts.iter().any(|&c| c > 4 * u64::from(FOUND_CARRY)), "{bytes} B");
        }
        assert!(new_cells > 0 && waiting > 0 && folded > 0, "{new_cells} {waiting} {folded}");
    }

    #[test]
    fn f32_keys_are_the_widened_scores_keys() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let special =
            [0.0, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, 1e-45, -1e-45, f32::MAX, f32::INFINITY, f32::NEG_INFINITY];
        let nans = [f32::NAN, -f32::NAN, f32::from_bits(0x7fc0_1234), f32::from_bits(0xffc0_0001)];
        let random = (0..100_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f32::from_bits(x as u32)
        });
        for s in special.into_iter().chain(nans).chain(random) {
            let label = s.to_bits() % 7;
            assert_eq!(ScoreSketch::row_key_f32(s, label), ScoreSketch::row_key(f64::from(s), label), "{s:e}");
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
