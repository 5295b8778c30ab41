//! Score-based metrics: ROC-AUC, average precision, log loss, Brier score, calibration and
//! the curves, with their bootstrap replicates.
//!
//! Per-row sums (log loss, Brier, top-k, calibration bins) stream: the accumulator adds each
//! row to the point sums and to every bootstrap replicate's sums as it arrives. Exact ranking
//! metrics need every score, so the accumulator keeps them compactly: a label id per row and
//! the scores as f32 while every score is exactly an f32 (model outputs are), f64 otherwise;
//! weights only once one is not 1. `finish` sorts each curve's scores once (radix sort,
//! [`super::sort`]) and walks them once, updating the point estimate and all bootstrap
//! replicates together, the replicate weights regenerated from the rows' keys. Curves follow
//! sklearn's `roc_curve` and `precision_recall_curve`: one point per distinct threshold.

use super::ci::{draw_blocks, DrawTable, KeyLookup, Poisson, RowKeys};
use super::class_row;
use super::sketch::{self, Groups, ScoreSketch, SketchSet};
use super::sort::{self, Item, POSITIVE};
use super::threshold::ThresholdExplorer;
use super::{num, MetricMap};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// No score column for this row's truth (a label outside the probability headers).
pub const NO_COLUMN: u32 = u32::MAX;

/// The stored scores: f32 while that is exact, then f64.
#[derive(Debug, Clone)]
pub(super) enum Store {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A store crosses between the page's workers (postcard) as its scores' little-endian bytes
/// in one piece: as a sequence, each float went through the format on its own and the
/// decoded vector grew by doubling (~8% of a helper worker's and of the merging worker's
/// profile on the 1 GB bench file).
impl Serialize for Store {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = match self {
            Store::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Store::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        let (index, name) = match self {
            Store::F32(_) => (0, "F32"),
            Store::F64(_) => (1, "F64"),
        };
        s.serialize_newtype_variant("Store", index, name, &LeBytes(&bytes))
    }
}

struct LeBytes<'a>(&'a [u8]);

impl Serialize for LeBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        enum Width {
            F32,
            F64,
        }
        /// Floats from their little-endian bytes.
        struct Floats<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromLe> serde::de::Visitor<'de> for Floats<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "the little-endian bytes of {}-byte floats", T::SIZE)
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Vec<T>, E> {
                if !b.len().is_multiple_of(T::SIZE) {
                    return Err(E::invalid_length(b.len(), &self));
                }
                Ok(b.chunks_exact(T::SIZE).map(T::from_le).collect())
            }
        }
        impl<'de, T: FromLe> serde::de::DeserializeSeed<'de> for Floats<T> {
            type Value = Vec<T>;
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
                d.deserialize_bytes(self)
            }
        }
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Store;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("stored scores")
            }
            fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Store, A::Error> {
                use serde::de::VariantAccess;
                let (width, v) = data.variant::<Width>()?;
                Ok(match width {
                    Width::F32 => Store::F32(v.newtype_variant_seed(Floats(std::marker::PhantomData))?),
                    Width::F64 => Store::F64(v.newtype_variant_seed(Floats(std::marker::PhantomData))?),
                })
            }
        }
        d.deserialize_enum("Store", &["F32", "F64"], Either)
    }
}

/// A float from its little-endian bytes (exactly `SIZE` of them).
trait FromLe: Sized {
    const SIZE: usize;
    fn from_le(b: &[u8]) -> Self;
}

impl FromLe for f32 {
    const SIZE: usize = 4;
    fn from_le(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl FromLe for f64 {
    const SIZE: usize = 8;
    fn from_le(b: &[u8]) -> f64 {
        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::F32(Vec::new())
    }
}

impl Store {
    #[inline]
    pub(super) fn push(&mut self, v: f64) {
        match self {
            Store::F32(s) => {
                let f = v as f32;
                if f64::from(f) == v || v.is_nan() {
                    s.push(f);
                } else {
                    // the same room as before (a size hint's reservation carries over)
                    let mut wide = Vec::with_capacity(s.capacity().max(s.len() + 1));
                    wide.extend(s.iter().map(|&x| f64::from(x)));
                    wide.push(v);
                    *self = Store::F64(wide);
                }
            }
            Store::F64(s) => s.push(v),
        }
    }

    /// Push `row[..k]` (missing values as NaN): one exactness test over the row and one
    /// append, instead of a test and a capacity check per score.
    #[inline]
    pub(super) fn push_row(&mut self, row: &[f64], k: usize) {
        match (&mut *self, row.get(..k)) {
            (Store::F32(s), Some(row)) if row.iter().all(|&v| f64::from(v as f32) == v || v.is_nan()) => {
                s.extend(row.iter().map(|&v| v as f32));
                return;
            }
            (Store::F64(s), Some(row)) => {
                s.extend_from_slice(row);
                return;
            }
            _ => {}
        }
        for i in 0..k {
            self.push(row.get(i).copied().unwrap_or(f64::NAN));
        }
    }

    /// [`Self::push_row`] of scores that will only be binned: narrowed to f32 (see
    /// [`ScoreAccumulator::bins_only`]); a store already f64 stays so.
    #[inline]
    pub(super) fn push_row_f32(&mut self, row: &[f64], k: usize) {
        match (&mut *self, row.get(..k)) {
            (Store::F32(s), Some(row)) => s.extend(row.iter().map(|&v| v as f32)),
            (Store::F32(s), None) => s.extend((0..k).map(|i| row.get(i).copied().unwrap_or(f64::NAN) as f32)),
            (Store::F64(_), _) => self.push_row(row, k),
        }
    }

    /// Append `other`'s scores (whole slices where the widths allow).
    pub(super) fn extend(&mut self, other: &Store) {
        match (&mut *self, other) {
            (Store::F32(a), Store::F32(b)) => a.extend_from_slice(b),
            (Store::F64(a), Store::F64(b)) => a.extend_from_slice(b),
            (Store::F64(a), Store::F32(b)) => a.extend(b.iter().map(|&x| f64::from(x))),
            (Store::F32(_), Store::F64(b)) => {
                for &v in b {
                    self.push(v);
                }
            }
        }
    }

    /// Room for `total` scores in all.
    pub(super) fn reserve_total(&mut self, total: usize) {
        match self {
            Store::F32(s) => s.reserve(total.saturating_sub(s.len())),
            Store::F64(s) => s.reserve(total.saturating_sub(s.len())),
        }
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> f64 {
        match self {
            Store::F32(s) => s.get(i).map_or(f64::NAN, |&x| f64::from(x)),
            Store::F64(s) => s.get(i).copied().unwrap_or(f64::NAN),
        }
    }

    /// The sketch keys ([`ScoreSketch::row_key`]) of rows `ids` of `k` scores each, in
    /// columns `cols` (all `0..k`, or a lane's: [`SketchWork`]), column `c`'s in
    /// `out[(c - cols.start) * ids.len()..]`: one pass over the rows, the layout matched once
    /// (and a row's label once, where every column has the row's).
    pub(super) fn row_keys(
        &self,
        ids: &[usize],
        k: usize,
        cols: std::ops::Range<usize>,
        labels: Labels,
        out: &mut [u64],
    ) {
        fn fill<T: Copy + Binned>(
            s: &[T],
            nan: T,
            ids: &[usize],
            k: usize,
            cols: std::ops::Range<usize>,
            labels: Labels,
            out: &mut [u64],
        ) {
            let n = ids.len();
            for (j, &i) in ids.iter().enumerate() {
                let label = match labels {
                    Labels::Rows(t) => t.get(i).copied().unwrap_or(u32::MAX),
                    Labels::Cells(f) => {
                        for (o, c) in cols.clone().enumerate() {
                            out[o * n + j] = s.get(i * k + c).copied().unwrap_or(nan).row_key(f(i, c));
                        }
                        continue;
                    }
                };
                match s.get(i * k..(i + 1) * k).and_then(|row| row.get(cols.clone())) {
                    Some(row) => {
                        for (o, &x) in row.iter().enumerate() {
                            out[o * n + j] = x.row_key(label);
                        }
                    }
                    None => {
                        for (o, c) in cols.clone().enumerate() {
                            out[o * n + j] = s.get(i * k + c).copied().unwrap_or(nan).row_key(label);
                        }
                    }
                }
            }
        }
        match self {
            Store::F32(s) => fill(s, f32::NAN, ids, k, cols, labels, out),
            Store::F64(s) => fill(s, f64::NAN, ids, k, cols, labels, out),
        }
    }

    #[inline]
    pub(super) fn key(&self, i: usize) -> u64 {
        match self {
            Store::F32(s) => sort::desc_key_f32(s.get(i).copied().unwrap_or(f32::NAN)),
            Store::F64(s) => sort::desc_key_f64(s.get(i).copied().unwrap_or(f64::NAN)),
        }
    }

    /// The keys ([`Self::key`]) of column `col` of rows of `k` scores, in row order: one
    /// strided pass, the layout matched once.
    pub(super) fn column_keys(&self, k: usize, col: usize) -> Vec<u64> {
        match self {
            Store::F32(s) => s.iter().skip(col).step_by(k.max(1)).map(|&x| sort::desc_key_f32(x)).collect(),
            Store::F64(s) => s.iter().skip(col).step_by(k.max(1)).map(|&x| sort::desc_key_f64(x)).collect(),
        }
    }

    pub(super) fn decoder(&self) -> fn(u64) -> f64 {
        match self {
            Store::F32(_) => sort::f32_of_key,
            Store::F64(_) => sort::f64_of_key,
        }
    }

    pub(super) fn bytes(&self) -> usize {
        match self {
            Store::F32(s) => s.len() * 4,
            Store::F64(s) => s.len() * 8,
        }
    }
}

/// A stored score's [`ScoreSketch::row_key`].
trait Binned {
    fn row_key(self, label: u32) -> u64;
}

impl Binned for f64 {
    #[inline]
    fn row_key(self, label: u32) -> u64 {
        ScoreSketch::row_key(self, label)
    }
}

impl Binned for f32 {
    /// Without the round trip through f64 (an f32 widened and narrowed is itself).
    #[inline]
    fn row_key(self, label: u32) -> u64 {
        ScoreSketch::row_key_f32(self, label)
    }
}

/// The label ids of stored rows' cells in their sketches: one per row (every column's), or
/// `f(row, column)`.
#[derive(Clone, Copy)]
pub(super) enum Labels<'a> {
    Rows(&'a [u32]),
    Cells(&'a dyn Fn(usize, usize) -> u32),
}

/// Streamed sums per truth label (binary) or for all rows (per-class scores).
const BIN_FIELDS: usize = 5 + 2 * CALIBRATION_BINS;
const MC_FIELDS: usize = MC_ROW + MC_BIN * CALIBRATION_BINS;
/// Per-class sums of each block (point, then each replicate): weight, log loss, Brier and
/// top-k hits; then per calibration bin: weight, confidence and hits. Laid out as every
/// block's row fields, then each bin's fields for every block, so a row's adds (its fields
/// and its bin's, in each of the blocks) fall in two runs of memory, not one line per block.
const MC_ROW: usize = 3 + TOP_K.len();
const MC_BIN: usize = 3;

/// Where per-class sums keep block `r`'s row field `f`.
fn mc_row(r: usize, f: usize) -> usize {
    r * MC_ROW + f
}

/// Where per-class sums of `blocks` blocks keep block `r`'s field `f` of calibration bin `b`.
fn mc_bin(blocks: usize, b: usize, r: usize, f: usize) -> usize {
    blocks * MC_ROW + (b * blocks + r) * MC_BIN + f
}

/// Scores for one of two layouts: a single positive-class score per row (`k == 1`) or one
/// probability per class per row (`k == columns.len()`, columns fixed up front).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreAccumulator {
    k: usize,
    /// Per-class layout: the column names (a repeated name gets " (column N)").
    columns: Vec<String>,
    /// Column indices by class rank (sklearn's sorted class order) and the reverse.
    by_rank: Vec<usize>,
    rank: Vec<usize>,
    /// The columns are in class-rank order (`by_rank` is the identity): a row's scores are
    /// scanned in place, not gathered.
    #[serde(default)]
    in_order: bool,
    /// Binary: the truth's label id; per-class: the truth's column or NO_COLUMN.
    truth: Vec<u32>,
    scores: Store,
    weights: Option<Vec<f64>>,
    /// Bootstrap replicates streamed into `sums` (0: none).
    replicates: usize,
    /// Binary: [label][replicate 0 = point, 1..][field]; per-class: [replicate][field].
    sums: Vec<f64>,
    /// Every score of the rows in the sums lies in [0, 1].
    in_unit: bool,
    /// Most scores stored for the exact ranking metrics; past it they go to `sketches`.
    #[serde(default)]
    budget: Budget,
    /// Past the budget: one sketch (binary, by label id) or one per column (per-class, by
    /// the truth's column); empty while the scores are stored.
    #[serde(default)]
    sketches: SketchSet,
    /// Past the budget in a merge whose sketching other threads do (`sketches` then holds
    /// none of the rows until [`Self::complete`]).
    #[serde(skip)]
    deferred: Option<Deferred>,
    /// The rows go into an accumulator that bins its scores: store them as f32, all a bin
    /// needs ([`Self::bins_only`]).
    #[serde(skip)]
    bins_only: bool,
}

/// Scores stored for exact ROC-AUC / AP before the binned sketch takes over (f32 score and
/// a label id each: 512 MiB).
pub const DEFAULT_SCORE_BUDGET: usize = 1 << 26;
/// Memory of one accumulator's sketches together: their grid coarsens past it.
pub const DEFAULT_SKETCH_BYTES: usize = 1 << 27;
/// Memory of the exact walks' bootstrap draw table ([`DrawTable`], half a byte a row and
/// replicate): 200 replicates of 1.3 M rows in one block.
pub const DEFAULT_DRAW_BYTES: usize = 1 << 27;

/// Most scores stored for the exact ranking metrics, and most bytes of the sketches that take
/// over past them (0: [`DEFAULT_SCORE_BUDGET`], [`DEFAULT_SKETCH_BYTES`]); rows binned per
/// sorted batch (0: [`sketch::BATCH_ROWS`] or fewer, see [`SketchSet::new`]; the result does
/// not depend on it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub scores: usize,
    pub sketch_bytes: usize,
    #[serde(default)]
    pub batch_rows: usize,
    /// Most bytes of the bootstrap draw table the exact walks share (0:
    /// [`DEFAULT_DRAW_BYTES`]); more replicates than fit are walked in blocks.
    #[serde(default)]
    pub draw_bytes: usize,
}

impl Budget {
    pub fn scores(&self) -> usize {
        nonzero(self.scores, DEFAULT_SCORE_BUDGET)
    }

    pub fn draw_bytes(&self) -> usize {
        nonzero(self.draw_bytes, DEFAULT_DRAW_BYTES)
    }

    /// `count` empty sketches sharing the sketch bytes.
    pub(super) fn sketch_set(&self, count: usize, replicates: usize) -> SketchSet {
        let bytes = nonzero(self.sketch_bytes, DEFAULT_SKETCH_BYTES) / count.max(1);
        SketchSet::new(count, replicates, bytes, self.batch_rows)
    }

    /// `count` sketches filled with `rows` stored rows (those `keep` keeps), each with its
    /// replicate weights regenerated from its key; `scores` holds `count` scores a row,
    /// `label(row, c)` is sketch `c`'s label id of that row. Binned in big sorted blocks
    /// ([`SketchSet::extend`]), so a switch to the sketch (the whole store at once) costs
    /// about a sort of the stored scores.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sketch_rows(
        &self,
        count: usize,
        rows: usize,
        replicates: usize,
        weights: Option<&[f64]>,
        keys: &KeyLookup,
        poisson: Poisson,
        keep: &dyn Fn(usize) -> bool,
        scores: &Store,
        labels: Labels,
    ) -> SketchSet {
        let mut set = self.sketch_set(count, replicates);
        let cells = |ids: &[usize], out: &mut [u64]| scores.row_keys(ids, count, 0..count, labels, out);
        set.extend(rows, keep, &cells, weights, &mut |i, out| poisson.draws(keys.key(i), out));
        set
    }
}

/// Where a merge finds the bootstrap keys of both sides' stored rows, to sketch them.
pub struct MergeKeys<'a> {
    pub mine: &'a RowKeys,
    pub theirs: &'a RowKeys,
    pub poisson: Poisson,
}

/// An accumulator that stores scores until its budget, then sketches them.
pub(super) trait Sketching {
    fn sketch_set(&self) -> &SketchSet;
    /// The stored rows (their keys: `keys`) as sketches.
    fn sketch_stored(&self, keys: &KeyLookup, poisson: Poisson) -> SketchSet;
    /// Drop the stored rows and keep `sketches` instead (from now on every row goes there).
    fn keep(&mut self, sketches: SketchSet);

    fn sketched(&self) -> bool {
        !self.sketch_set().is_empty()
    }

    /// Move the stored rows into sketches.
    fn switch_to_sketch(&mut self, keys: &KeyLookup, poisson: Poisson) {
        let sk = self.sketch_stored(keys, poisson);
        self.keep(sk);
    }
}

impl MergeKeys<'_> {
    /// Both sides of a merge as sketches: `mine` switched in place, `other`'s sketches as
    /// they are or made from its stored rows.
    pub(super) fn both_sketched<'o, T: Sketching>(&self, mine: &mut T, other: &'o T) -> Cow<'o, [ScoreSketch]> {
        if !mine.sketched() {
            mine.switch_to_sketch(&self.mine.lookup(), self.poisson);
        }
        if other.sketched() {
            other.sketch_set().get()
        } else {
            Cow::Owned(other.sketch_stored(&self.theirs.lookup(), self.poisson).into_vec())
        }
    }
}

/// Sketching any thread may do: a merge past the score budget hands the stored rows it
/// would bin straight into its sketches here instead ([`ScoreAccumulator::merge_owned`]),
/// and [`ScoreAccumulator::complete`] takes the sketches back.
///
/// The sketches are cut into lanes (a few columns' sketches each; one for a binary task);
/// each lane bins every batch of rows (the store at the switch, then each later chunk) in
/// file order, with the very calls the merging thread would make ([`SketchSet::extend`]
/// per batch), so every sketch is the one binning on one thread gives, bit for bit; the
/// lanes run on whichever threads are free, one thread in a lane at a time. The merge
/// hands rows over only where it would bin them straight (its `bin_straight`: same budgets,
/// replicates and columns, whole weights) and the sketches stay whole to the end of the
/// batch (what `bin_straight` checks at the next chunk); anything else takes the sketches
/// back first.
#[derive(Default)]
pub struct SketchWork {
    threads: usize,
    state: std::sync::Mutex<WorkState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct WorkState {
    /// The batches in file order (`None` once every lane binned it).
    batches: Vec<Option<std::sync::Arc<StoredRows>>>,
    lanes: Vec<Lane>,
    busy: usize,
    closed: bool,
}

/// Some columns' sketches (`None` while a thread bins into them) and the next batch for them.
struct Lane {
    set: Option<SketchSet>,
    cols: std::ops::Range<usize>,
    next: usize,
}

/// Stored rows handed over for sketching: binary labels already mapped to the merge's ids.
struct StoredRows {
    k: usize,
    truth: Vec<u32>,
    scores: Store,
    weights: Option<Vec<f64>>,
    keys: KeyLookup,
    poisson: Poisson,
}

impl std::fmt::Debug for SketchWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SketchWork")
    }
}

impl StoredRows {
    /// Bin the rows into `set`, the sketches of columns `cols` (as `Budget::sketch_rows`
    /// and `bin_straight` do for all columns).
    fn bin(&self, set: &mut SketchSet, cols: std::ops::Range<usize>) {
        let (k, truth) = (self.k, &self.truth);
        let keep = |i: usize| k == 1 || (truth[i] as usize) < k;
        let cells =
            |ids: &[usize], out: &mut [u64]| self.scores.row_keys(ids, k, cols.clone(), Labels::Rows(truth), out);
        let (keys, poisson) = (&self.keys, self.poisson);
        set.extend(truth.len(), &keep, &cells, self.weights.as_deref(), &mut |i, out| poisson.draws(keys.key(i), out));
    }
}

impl SketchWork {
    /// Work shared by `threads` threads.
    pub fn new(threads: usize) -> Self {
        SketchWork { threads, ..Self::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorkState> {
        // a thread that panicked mid-batch leaves its lane out (see `Running`); the panic
        // itself reaches the caller (scoped threads)
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start lanes over `set`'s sketches (none must be running).
    fn start(&self, set: SketchSet, replicates: usize) {
        // a lane a thread: each lane reads the rows again (twice as many balanced no better
        // on the 1 GB bench, +0.3 CPU-s). With intervals each lane would make the rows' draws
        // again, and even one lane cost 15 -> 20 CPU-s on the 1 GB bench with 200 replicates
        // (not understood yet): `defer` keeps those merges on the merging thread.
        let parts = set.split(if replicates > 0 { 1 } else { self.threads.max(1) });
        let mut st = self.lock();
        st.batches.clear();
        st.lanes.clear();
        let mut at = 0;
        for part in parts {
            let n = part.len();
            st.lanes.push(Lane { set: Some(part), cols: at..at + n, next: 0 });
            at += n;
        }
    }

    fn push(&self, rows: StoredRows) {
        self.lock().batches.push(Some(std::sync::Arc::new(rows)));
        self.changed.notify_all();
    }

    /// Bin one batch into one lane on this thread; false when no lane has one waiting.
    pub fn run_one(&self) -> bool {
        let (l, b, mut set, rows, cols) = {
            let mut st = self.lock();
            let waiting = st.batches.len();
            // the lane furthest behind, so batches are freed soon
            let Some(l) = (0..st.lanes.len())
                .filter(|&l| st.lanes[l].set.is_some() && st.lanes[l].next < waiting)
                .min_by_key(|&l| st.lanes[l].next)
            else {
                return false;
            };
            let b = st.lanes[l].next;
            let (Some(rows), Some(set)) = (st.batches[b].clone(), st.lanes[l].set.take()) else { return false };
            st.busy += 1;
            (l, b, set, rows, st.lanes[l].cols.clone())
        };
        let running = Running(self);
        rows.bin(&mut set, cols);
        std::mem::forget(running);
        drop(rows);
        let mut st = self.lock();
        st.lanes[l].set = Some(set);
        st.lanes[l].next = b + 1;
        if st.lanes.iter().all(|lane| lane.next > b) {
            st.batches[b] = None;
        }
        st.busy -= 1;
        drop(st);
        self.changed.notify_all();
        true
    }

    /// Wait up to `wait` for a batch; false once [`Self::close`]d with none waiting.
    pub fn wait(&self, wait: std::time::Duration) -> bool {
        let waiting = |st: &WorkState| st.lanes.iter().any(|l| l.next < st.batches.len());
        let st = self.lock();
        if waiting(&st) {
            return true;
        }
        if st.closed {
            return false;
        }
        let (st, _) = self.changed.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner());
        !st.closed || waiting(&st)
    }

    /// No more batches will come: threads waiting in [`Self::wait`] may stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Bin what waits here, wait for the lanes other threads are binning, and take the
    /// sketches back.
    fn collect(&self) -> SketchSet {
        while self.run_one() {}
        let mut st = self.lock();
        while st.busy > 0 {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.batches.clear();
        let lanes = std::mem::take(&mut st.lanes);
        SketchSet::join(lanes.into_iter().filter_map(|l| l.set).collect())
    }
}

/// A lane being binned: if the binning panics, the lane is counted out (its set is lost,
/// and the panic reaches the caller through the scoped threads), so that a merge waiting in
/// `SketchWork::collect` does not wait for it forever.
struct Running<'a>(&'a SketchWork);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().busy -= 1;
        self.0.changed.notify_all();
    }
}

/// A merged accumulator whose sketching is in a [`SketchWork`], and the magnitude of the
/// (kept) rows' weights handed over so far.
#[derive(Debug, Clone)]
struct Deferred {
    work: std::sync::Arc<SketchWork>,
    mass: f64,
}

/// What the sketch did, for the report: rows binned, bins, and each binned metric's bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SketchInfo {
    pub budget: usize,
    pub rows: u64,
    pub bins: usize,
    /// Metric key -> the largest distance between the reported value and the exact one.
    pub error_bound: super::MetricMap,
}

impl SketchInfo {
    /// `sketches`: one per column, each holding every binned row.
    pub(super) fn new(budget: usize, sketches: &[ScoreSketch], error_bound: MetricMap) -> Self {
        SketchInfo {
            budget,
            rows: sketches.first().map_or(0, ScoreSketch::rows),
            bins: sketches.iter().map(ScoreSketch::cells).sum(),
            error_bound,
        }
    }
}

/// Add one row to `blocks` blocks of sums, `stride` apart (the point estimate's first, then
/// each replicate's): `v` to each block's first `N` fields, times the row's weight in the
/// block (`weight`, and in replicate `b` `weight × draws[b]`; a missing draw counts 0). A
/// replicate without the row (weight 0 there) gains +0.0, which leaves a sum as it is (sums
/// start at +0.0 and so are never -0.0): the sums of skipping it, without a branch on random
/// draws. The row's products for each possible draw (0..=12) are made once, so a replicate's
/// adds are loads and adds.
///
/// The point's adds are inlined over a fixed-size array, so `v` stays in registers: a loop
/// over a slice of unknown length read it back from the stack as pairs of values stored one
/// at a time, a store-forwarding stall (a fifth of `sum_per_class`'s samples).
#[inline(always)]
fn add_row<const N: usize>(sums: &mut [f64], stride: usize, blocks: usize, weight: f64, draws: &[u8], v: &[f64; N]) {
    match sums.first_chunk_mut::<N>() {
        Some(point) => {
            for (a, b) in point.iter_mut().zip(v) {
                *a += weight * b;
            }
        }
        None => {
            for (a, b) in sums.iter_mut().zip(v) {
                *a += weight * b;
            }
        }
    }
    if blocks >= 2 {
        add_replicates(sums, stride, blocks, weight, draws, v);
    }
}

/// [`add_row`]'s replicate blocks (`blocks >= 2`).
fn add_replicates<const N: usize>(
    sums: &mut [f64],
    stride: usize,
    blocks: usize,
    weight: f64,
    draws: &[u8],
    v: &[f64; N],
) {
    let mut table = [[0.0; N]; 13];
    for (d, products) in table.iter_mut().enumerate().skip(1) {
        let x = weight * f64::from(d as u8);
        if x != 0.0 {
            for (t, b) in products.iter_mut().zip(v) {
                *t = x * b;
            }
        }
    }
    let end = (blocks - 1) * stride + N;
    if sums.len() < end || draws.len() + 1 < blocks {
        // a short caller (never the accumulators): block by block, missing ones skipped
        for r in 1..blocks {
            let products = &table[usize::from(draws.get(r - 1).copied().unwrap_or(0)).min(12)];
            if let Some(block) = sums.get_mut(r * stride..r * stride + N) {
                for (a, b) in block.iter_mut().zip(products) {
                    *a += b;
                }
            }
        }
        return;
    }
    for (block, &d) in sums[stride..end].chunks_mut(stride).zip(draws) {
        let products = &table[usize::from(d).min(12)];
        for (a, b) in block[..N].iter_mut().zip(products) {
            *a += b;
        }
    }
}

/// `v`, or `default` when `v` is 0 (an unset option).
pub(super) fn nonzero(v: usize, default: usize) -> usize {
    if v == 0 {
        default
    } else {
        v
    }
}

impl Sketching for ScoreAccumulator {
    fn sketch_set(&self) -> &SketchSet {
        &self.sketches
    }

    fn sketched(&self) -> bool {
        !self.sketches.is_empty() || self.deferred.is_some()
    }

    /// One sketch (binary) or one per column, each row with its replicate weights
    /// regenerated from its key (`keys`: the stored rows' keys).
    fn sketch_stored(&self, keys: &KeyLookup, poisson: Poisson) -> SketchSet {
        let k = self.k;
        let truth = &self.truth;
        // per-class: rows whose truth has no column are left out, as in the exact walks
        let keep = |i: usize| k == 1 || (truth[i] as usize) < k;
        let count = if k == 1 { 1 } else { k };
        let weights = self.weights.as_deref();
        self.budget.sketch_rows(
            count,
            truth.len(),
            self.replicates,
            weights,
            keys,
            poisson,
            &keep,
            &self.scores,
            Labels::Rows(truth),
        )
    }

    fn keep(&mut self, sketches: SketchSet) {
        self.truth = Vec::new();
        self.scores = Store::default();
        self.weights = None;
        self.sketches = sketches;
    }
}

impl ScoreAccumulator {
    /// One score per row for the positive class of a binary task.
    pub fn binary() -> Self {
        ScoreAccumulator { k: 1, in_unit: true, ..Self::default() }
    }

    /// One probability per class per row, columns in `classes` order.
    pub fn per_class(classes: &[String]) -> Self {
        let mut columns: Vec<String> = Vec::new();
        for (i, c) in classes.iter().enumerate() {
            // a repeated class name still needs a column of its own
            let name = if columns.contains(c) { format!("{c} (column {})", i + 1) } else { c.clone() };
            columns.push(name);
        }
        let mut sorted = columns.clone();
        super::labels::sort(&mut sorted);
        let by_rank: Vec<usize> = sorted.iter().map(|s| columns.iter().position(|c| c == s).unwrap_or(0)).collect();
        let mut rank = vec![0; columns.len()];
        for (r, &c) in by_rank.iter().enumerate() {
            rank[c] = r;
        }
        let (k, in_order) = (columns.len(), by_rank.iter().enumerate().all(|(r, &c)| r == c));
        ScoreAccumulator {
            k,
            columns,
            by_rank,
            rank,
            in_order,
            in_unit: true,
            sums: vec![0.0; MC_FIELDS],
            ..Self::default()
        }
    }

    /// Stream `replicates` bootstrap replicates (call before the first row).
    pub fn with_replicates(mut self, replicates: usize) -> Self {
        self.replicates = replicates;
        if self.k != 1 {
            self.sums = vec![0.0; (replicates + 1) * MC_FIELDS];
        }
        self
    }

    pub fn width(&self) -> usize {
        self.k
    }

    /// Store at most `budget.scores` scores (a row has one per column) for the exact
    /// metrics; past that, bin them. Call before the first row.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    fn budget(&self) -> usize {
        self.budget.scores()
    }

    /// This accumulator's rows will only be binned (it will be merged into one that bins its
    /// scores): store each score as f32 from now on. A bin is cut from the score's f32 bit
    /// pattern ([`ScoreSketch::row_key`] of an f64 is [`ScoreSketch::row_key_f32`] of it
    /// narrowed), so the sketches, and the report, are the same; the store takes half the
    /// memory and a chunk crossing between workers half the bytes. Call before the first row
    /// (rows stored before it keep their width).
    pub fn bins_only(&mut self) {
        self.bins_only = true;
    }

    /// More scores are stored than the budget allows: time for [`Self::switch_to_sketch`].
    pub fn over_budget(&self) -> bool {
        !self.sketched() && self.truth.len() * self.k > self.budget()
    }

    /// The column holding class `name`'s probability (per-class layout), or NO_COLUMN.
    pub fn column_of(&self, name: &str) -> u32 {
        if self.k == 1 {
            return NO_COLUMN;
        }
        self.columns.iter().position(|c| c == name).map_or(NO_COLUMN, |c| c as u32)
    }

    pub fn rows(&self) -> usize {
        self.truth.len()
    }

    /// Room for `rows` rows in all, once (a hint: the stored scores then never grow by
    /// doubling, each doubling a copy), never past the budget: more rows than that switch
    /// to the sketch, which drops the store.
    pub fn reserve(&mut self, rows: usize) {
        if self.sketched() {
            return;
        }
        let rows = rows.min(self.budget() / self.k.max(1));
        self.truth.reserve(rows.saturating_sub(self.truth.len()));
        self.scores.reserve_total(rows * self.k);
        if let Some(w) = &mut self.weights {
            w.reserve(rows.saturating_sub(w.len()));
        }
    }

    /// Bytes held for the exact ranking metrics.
    pub fn stored_bytes(&self) -> usize {
        self.truth.len() * 4 + self.scores.bytes() + self.weights.as_ref().map_or(0, |w| w.len() * 8)
    }

    /// Bytes held by the sketches (0 while the scores are stored).
    pub fn sketch_bytes(&self) -> usize {
        self.sketches.bytes()
    }

    /// Bin the rows waiting for the sketches (see [`SketchSet`]), and take in the sketching
    /// other threads did ([`Self::complete`]).
    pub fn flush(&mut self) {
        self.complete();
        self.sketches.flush();
    }

    /// One row. `truth`: the label id (binary) or column (per-class, NO_COLUMN when none);
    /// `scores` should hold `k` values (missing ones count as NaN, extra ones are ignored,
    /// so a bad caller gets bad numbers, never a panic); `rep`: the row's weight in each
    /// bootstrap replicate (empty without intervals).
    pub fn update(&mut self, truth: u32, scores: &[f64], weight: f64, draws: &[u8]) {
        let rep = &draws[..draws.len().min(self.replicates)];
        if self.sketched() {
            // (a merged accumulator takes no rows; if one did, its rows go after the others)
            self.complete();
            let score = |c: usize| scores.get(c).copied().unwrap_or(f64::NAN);
            if self.k == 1 || (truth as usize) < self.k {
                self.sketches.push(&|c| (score(c), truth), weight, rep);
            }
            if self.k == 1 {
                self.sum_binary(truth as usize, score(0), weight, rep);
            } else if (truth as usize) < self.k {
                self.sum_per_class(truth as usize, scores, weight, rep);
            }
            return;
        }
        let row = self.truth.len();
        self.truth.push(truth);
        if self.bins_only {
            self.scores.push_row_f32(scores, self.k);
        } else {
            self.scores.push_row(scores, self.k);
        }
        if weight != 1.0 && self.weights.is_none() {
            self.weights = Some(vec![1.0; row]);
        }
        if let Some(w) = &mut self.weights {
            w.push(weight);
        }
        if self.k == 1 {
            self.sum_binary(truth as usize, scores.first().copied().unwrap_or(f64::NAN), weight, rep);
        } else if (truth as usize) < self.k {
            self.sum_per_class(truth as usize, scores, weight, rep);
        }
    }

    fn sum_binary(&mut self, label: usize, p: f64, weight: f64, draws: &[u8]) {
        let block = (self.replicates + 1) * BIN_FIELDS;
        if self.sums.len() < (label + 1) * block {
            self.sums.resize((label + 1) * block, 0.0);
        }
        let unit = (0.0..=1.0).contains(&p);
        self.in_unit &= unit;
        let v = [1.0, -clip_prob(p).ln(), -clip_prob(1.0 - p).ln(), (p - 1.0).powi(2), p * p];
        let bin = calibration_bin(p);
        let blocks = self.replicates + 1;
        let sums = &mut self.sums[label * block..(label + 1) * block];
        add_row(sums, BIN_FIELDS, blocks, weight, draws, &v);
        if unit {
            add_row(&mut sums[5 + 2 * bin..], BIN_FIELDS, blocks, weight, draws, &[1.0, p]);
        }
    }

    /// A row's streamed sums from its scores (missing ones count as NaN, as stored).
    fn sum_per_class(&mut self, t: usize, scores: &[f64], weight: f64, draws: &[u8]) {
        let s = |c: usize| scores.get(c).copied().unwrap_or(f64::NAN);
        let st = s(t);
        let t_rank = self.rank[t];
        let scan = match scores.get(..self.by_rank.len()) {
            Some(row) if self.in_order => {
                let (pairs, tail) = class_row::in_order(row);
                class_row::scan(pairs, tail, t_rank, st)
            }
            _ => {
                let (pairs, tail) = class_row::gathered(&self.by_rank, s);
                class_row::scan(pairs, tail, t_rank, st)
            }
        };
        self.in_unit &= scan.unit;
        let conf = scan.conf;
        let mut v = [0.0; MC_ROW];
        v[0] = 1.0;
        v[1] = -clip_prob(st).ln();
        v[2] = scan.brier;
        let hits = class_row::below(scan.above as f64, &TOP_K_BOUNDS);
        v[3..].copy_from_slice(&hits);
        let bin = calibration_bin(conf);
        let calib = scan.unit && (0.0..=1.0).contains(&conf);
        let blocks = self.sums.len() / MC_FIELDS;
        add_row(&mut self.sums, MC_ROW, blocks, weight, draws, &v);
        if calib {
            add_row(
                &mut self.sums[mc_bin(blocks, bin, 0, 0)..],
                MC_BIN,
                blocks,
                weight,
                draws,
                &[1.0, conf, scan.correct],
            );
        }
    }

    /// Bin `other`'s stored rows straight into our sketches (switching to them first), if
    /// that gives the very sketches that sketching them on their own and merging would, and
    /// say whether it did. It does when both keep the same replicates (their draws made
    /// from the row keys, as sketching them on their own makes them), both budgets (so caps)
    /// are the same, the columns match, and every weight is a whole number, ours summed per
    /// cell and theirs (times 12, the largest draw, with replicates), of at most 2^51: then
    /// every float sum is exact, so the order rows are
    /// added in cannot change a cell's weight, and one pass and a merge end at the same grid
    /// (the finest at which all rows' cells fit) with the cells in the same arrival order.
    /// It saves the per-chunk sketch and its merge for each chunk read past the budget.
    /// What [`Self::bin_straight`] and [`Self::defer`] ask of the two sides: the same
    /// replicates and budgets, matching columns, and `total` (the magnitude of `other`'s
    /// weights, all whole) small enough that every replicate weight stays exact.
    fn straight_fits(&self, other: &Self, same_columns: bool, total: f64) -> bool {
        // a replicate weight is the row's weight times a draw of at most 12
        let most = if self.replicates > 0 { sketch::WHOLE_MAX / 12.0 } else { sketch::WHOLE_MAX };
        (self.k == 1 || same_columns)
            && self.replicates == other.replicates
            && self.budget == other.budget
            && total <= most
    }

    fn bin_straight(&mut self, other: &Self, label_map: &[u32], same_columns: bool, keys: &MergeKeys) -> bool {
        let total = other.weights.as_deref().map_or(Some(0.0), |w| {
            w.iter().all(|&x| sketch::is_whole(x)).then(|| w.iter().map(|x| x.abs()).sum::<f64>())
        });
        if !total.is_some_and(|t| self.straight_fits(other, same_columns, t)) {
            return false;
        }
        if !self.sketched() {
            self.switch_to_sketch(&keys.mine.lookup(), keys.poisson);
        }
        if !self.sketches.whole() {
            return false;
        }
        let (k, truth) = (self.k, &other.truth);
        let keep = |i: usize| k == 1 || (truth[i] as usize) < k;
        let mapped: Vec<u32> = match k {
            1 => truth.iter().map(|&t| label_map.get(t as usize).copied().unwrap_or(t)).collect(),
            _ => Vec::new(),
        };
        let labels = Labels::Rows(if k == 1 { &mapped } else { truth });
        let cells = |ids: &[usize], out: &mut [u64]| other.scores.row_keys(ids, k, 0..k, labels, out);
        let (theirs, poisson) = (keys.theirs.lookup(), keys.poisson);
        self.sketches.extend(truth.len(), &keep, &cells, other.weights.as_deref(), &mut |i, out| {
            poisson.draws(theirs.key(i), out)
        });
        true
    }

    /// Append `other`'s rows. Binary truth ids go through `label_map` (other's label id ->
    /// ours); per-class columns are matched by class name, so chunks read with differently
    /// ordered headers still merge, and a class we have no column for is dropped.
    pub fn merge(&mut self, other: &Self, label_map: &[u32], keys: &MergeKeys) {
        self.complete();
        self.in_unit &= other.in_unit;
        let k = self.k;
        let from = self.columns_from(other);
        let to: Vec<u32> =
            (0..other.k).map(|j| from.iter().position(|f| *f == Some(j)).map_or(NO_COLUMN, |c| c as u32)).collect();
        self.merge_sums(other, label_map);
        if self.sketched() || other.sketched() || (self.truth.len() + other.truth.len()) * k > self.budget() {
            let same_columns = other.k == k && from.iter().enumerate().all(|(c, f)| *f == Some(c));
            if !other.sketched() && self.bin_straight(other, label_map, same_columns, keys) {
                return;
            }
            let theirs = keys.both_sketched(self, other);
            let sketches = self.sketches.get_mut();
            if k == 1 {
                sketches[0].merge(&theirs[0], label_map);
            } else {
                for (j, sk) in theirs.iter().enumerate() {
                    if let Some(mine) = to.get(j).and_then(|&c| sketches.get_mut(c as usize)) {
                        mine.merge(sk, &to);
                    }
                }
            }
            return;
        }
        let rows = self.rows();
        if other.weights.is_some() && self.weights.is_none() {
            self.weights = Some(vec![1.0; rows]);
        }
        match (&mut self.weights, &other.weights) {
            (Some(a), Some(b)) => a.extend_from_slice(b),
            (Some(a), None) => a.extend(std::iter::repeat_n(1.0, other.rows())),
            _ => {}
        }
        if k == 1 {
            self.truth.extend(other.truth.iter().map(|&t| label_map.get(t as usize).copied().unwrap_or(t)));
            self.scores.extend(&other.scores);
            return;
        }
        if other.k == k && from.iter().enumerate().all(|(c, f)| *f == Some(c)) {
            // the same columns in the same order: the rows append as they are
            self.scores.extend(&other.scores);
        } else {
            for r in 0..other.rows() {
                for f in &from {
                    self.scores.push(f.map_or(f64::NAN, |i| other.scores.get(r * other.k + i)));
                }
            }
        }
        self.truth.extend(other.truth.iter().map(|&t| to.get(t as usize).copied().unwrap_or(NO_COLUMN)));
    }

    /// Per-class: our column `c` is `other`'s column `from[c]` (None: it has none).
    fn columns_from(&self, other: &Self) -> Vec<Option<usize>> {
        (0..self.k).map(|c| other.columns.iter().position(|o| *o == self.columns[c]).filter(|&i| i < other.k)).collect()
    }

    /// The magnitude of the stored rows' weights, all and kept ones (per-class: those whose
    /// truth has a column), when every weight is whole.
    fn whole_mass(&self) -> Option<(f64, f64)> {
        let keep = |i: usize| self.k == 1 || (self.truth[i] as usize) < self.k;
        match &self.weights {
            None => {
                let kept = (0..self.truth.len()).filter(|&i| keep(i)).count();
                Some((self.truth.len() as f64, kept as f64))
            }
            Some(w) if w.iter().all(|&x| sketch::is_whole(x)) => {
                let all = w.iter().map(|x| x.abs()).sum();
                let kept = w.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, x)| x.abs()).sum();
                Some((all, kept))
            }
            Some(_) => None,
        }
    }

    /// [`Self::merge`], `other` taken: when the merge would bin `other`'s stored rows (and at
    /// the switch, ours) straight into whole sketches, they go to `work` as jobs any thread
    /// may run instead (see [`SketchWork`]); [`Self::complete`] takes the sketches in.
    pub fn merge_owned(
        &mut self,
        mut other: Self,
        label_map: &[u32],
        keys: &MergeKeys,
        work: Option<&std::sync::Arc<SketchWork>>,
    ) {
        if let Some(work) = work {
            if self.defer(&mut other, label_map, keys, work) {
                return;
            }
        }
        self.merge(&other, label_map, keys);
    }

    /// Hand the rows to `work` if [`Self::merge`] would bin them straight into sketches that
    /// stay whole to the end of `other`; say whether it did (then the merge is done).
    fn defer(
        &mut self,
        other: &mut Self,
        label_map: &[u32],
        keys: &MergeKeys,
        work: &std::sync::Arc<SketchWork>,
    ) -> bool {
        let k = self.k;
        let switching = self.deferred.is_none();
        // with intervals the lanes cost more than they saved (see `SketchWork::start`)
        if self.replicates > 0
            || other.sketched()
            || (switching && (self.sketched() || (self.truth.len() + other.truth.len()) * k <= self.budget()))
        {
            return false;
        }
        let same_columns = other.k == k && self.columns_from(other).iter().enumerate().all(|(c, f)| *f == Some(c));
        let Some((total, theirs)) = other.whole_mass() else { return false };
        let mass = match &self.deferred {
            Some(d) => d.mass,
            None => match self.whole_mass() {
                Some((_, mine)) => mine,
                None => return false,
            },
        };
        // bin_straight's limits, and the sketch stays whole while 255 times its mass is at
        // most WHOLE_MAX
        if !self.straight_fits(other, same_columns, total) || (mass + theirs) * 255.0 > sketch::WHOLE_MAX {
            return false;
        }
        self.in_unit &= other.in_unit;
        self.merge_sums(other, label_map);
        let poisson = keys.poisson;
        let mut deferred = match self.deferred.take() {
            Some(d) => d,
            None => {
                // the switch: our stored rows first, into sketches the lanes hold till complete
                let mine = StoredRows {
                    k,
                    truth: std::mem::take(&mut self.truth),
                    scores: std::mem::take(&mut self.scores),
                    weights: self.weights.take(),
                    keys: keys.mine.lookup(),
                    poisson,
                };
                work.start(self.budget.sketch_set(if k == 1 { 1 } else { k }, self.replicates), self.replicates);
                work.push(mine);
                self.keep(SketchSet::default());
                Deferred { work: work.clone(), mass }
            }
        };
        let truth = match k {
            1 => other.truth.iter().map(|&t| label_map.get(t as usize).copied().unwrap_or(t)).collect(),
            _ => std::mem::take(&mut other.truth),
        };
        deferred.work.push(StoredRows {
            k,
            truth,
            scores: std::mem::take(&mut other.scores),
            weights: other.weights.take(),
            keys: keys.theirs.lookup(),
            poisson,
        });
        deferred.mass += theirs;
        self.deferred = Some(deferred);
        true
    }

    /// Take in the sketches of the rows a merge handed to other threads ([`Self::merge_owned`]):
    /// run the jobs still queued here, wait for the running ones, and union the sets.
    pub fn complete(&mut self) {
        if let Some(d) = self.deferred.take() {
            self.sketches = d.work.collect();
        }
    }

    /// Add `other`'s streamed sums (binary: per label through `label_map`).
    fn merge_sums(&mut self, other: &Self, label_map: &[u32]) {
        if self.k != 1 {
            if other.sums.len() == self.sums.len() {
                for (a, b) in self.sums.iter_mut().zip(&other.sums) {
                    *a += b;
                }
                return;
            }
            // replicates drawn differently cannot be added: then only the point sums
            let (mine, theirs) = (self.sums.len() / MC_FIELDS, other.sums.len() / MC_FIELDS);
            let point = (0..MC_ROW).map(|f| (mc_row(0, f), mc_row(0, f))).chain(
                (0..CALIBRATION_BINS * MC_BIN)
                    .map(|i| (mc_bin(mine, i / MC_BIN, 0, i % MC_BIN), mc_bin(theirs, i / MC_BIN, 0, i % MC_BIN))),
            );
            for (a, b) in point {
                if let (Some(a), Some(b)) = (self.sums.get_mut(a), other.sums.get(b)) {
                    *a += b;
                }
            }
            return;
        }
        let block = (self.replicates + 1) * BIN_FIELDS;
        let other_block = (other.replicates + 1) * BIN_FIELDS;
        // replicates drawn differently cannot be added: then only the point sums
        let len = if other.replicates == self.replicates { block } else { BIN_FIELDS };
        for (l, sums) in other.sums.chunks_exact(other_block).enumerate() {
            let to = label_map.get(l).copied().unwrap_or(l as u32) as usize;
            if self.sums.len() < (to + 1) * block {
                self.sums.resize((to + 1) * block, 0.0);
            }
            for (a, b) in self.sums[to * block..to * block + len].iter_mut().zip(sums) {
                *a += b;
            }
        }
    }

    /// The score metrics for the point estimate and for each bootstrap replicate.
    /// `names`: label names by id; `classes`: the task's sorted class list (for `k == 1`
    /// the positive class is `classes[1]`); `keys`/`poisson`: the rows' bootstrap keys and
    /// draws (the same the streaming sums used); `full`: also curves, explorer, DeLong;
    /// `threads`: most threads the per-class walks run on (natively; the result is the same).
    pub fn finish(
        &self,
        names: &[String],
        classes: &[String],
        keys: &KeyLookup,
        poisson: Poisson,
        full: bool,
        threads: usize,
    ) -> ScoreReport {
        let walk = WalkRows {
            rows: self.truth.len(),
            replicates: self.replicates,
            poisson,
            keys,
            weights: self.weights.as_deref(),
            store: &self.scores,
            budget: self.budget,
            per_row: self.k,
        };
        match (self.sketched(), self.k == 1) {
            (true, true) => self.finish_sketch(names, classes, full),
            (true, false) => self.finish_multiclass_sketch(full),
            (false, true) => self.finish_binary(names, classes, &walk, full),
            (false, false) if self.counted() => self.multiclass_thinned(self.multiclass_counted(full, threads)),
            (false, false) => self.finish_multiclass(&walk, full, threads),
        }
    }

    /// The positive class's label id, and per replicate (positive, negative) weight.
    fn binary_totals(&self, names: &[String], classes: &[String]) -> (u32, Vec<(f64, f64)>) {
        let reps = self.replicates + 1;
        let pos = 1.min(classes.len().saturating_sub(1));
        let positive = classes.get(pos).filter(|_| classes.len() > 1);
        let pos_id = positive.and_then(|p| names.iter().position(|n| n == p)).map_or(NO_COLUMN, |i| i as u32);
        let block = reps * BIN_FIELDS;
        let labels = self.sums.len() / block.max(1);
        let mut totals = vec![(0.0, 0.0); reps];
        for (r, t) in totals.iter_mut().enumerate() {
            for l in 0..labels {
                let w = self.sums[l * block + r * BIN_FIELDS];
                if l as u32 == pos_id {
                    t.0 += w;
                } else {
                    t.1 += w;
                }
            }
        }
        (pos_id, totals)
    }

    fn finish_binary(&self, names: &[String], classes: &[String], walk: &WalkRows, full: bool) -> ScoreReport {
        let (pos_id, totals) = self.binary_totals(names, classes);
        let n = self.truth.len();
        let truth = &self.truth;
        let results = walk.in_blocks(|setup, first| {
            let mut w = Walk::new(setup, Some(&totals), full && first, full && first && self.weights.is_none());
            sort::for_each_sorted(
                n,
                |i| self.scores.key(i),
                |i| i as u32 | if truth[i] == pos_id { POSITIVE } else { 0 },
                |items| w.feed(items),
            );
            w.finish()
        });
        self.binary_report(names, classes, results, &totals, full)
    }

    /// Past the budget: the ranking metrics of the point estimate and of every replicate
    /// from the bins, with the point's error bounds.
    fn finish_sketch(&self, names: &[String], classes: &[String], full: bool) -> ScoreReport {
        let (pos_id, _) = self.binary_totals(names, classes);
        let sketches = self.sketches.get();
        let groups = sketches[0].groups(&|l| Some(l == pos_id));
        let totals: Vec<(f64, f64)> = (0..groups.width).map(|r| groups.totals(r)).collect();
        let results = walk_groups(&groups, true, full);
        let mut report = self.binary_report(names, classes, results, &totals, full);
        let b = sketch::bounds(&groups.point(), MAX_FPR);
        let mut error_bound = MetricMap::new();
        error_bound.insert(RANKING_KEYS[0].into(), num(b.roc_auc));
        error_bound.insert(partial_key(), num(b.partial_roc_auc));
        error_bound.insert(RANKING_KEYS[1].into(), num(b.average_precision));
        report.sketch = Some(SketchInfo::new(self.budget(), &sketches, error_bound));
        report
    }

    fn binary_report(
        &self,
        names: &[String],
        classes: &[String],
        results: WalkResult,
        totals: &[(f64, f64)],
        full: bool,
    ) -> ScoreReport {
        let reps = self.replicates + 1;
        let pos = 1.min(classes.len().saturating_sub(1));
        let block = reps * BIN_FIELDS;
        let labels = self.sums.len() / block.max(1);
        let (pos_id, _) = self.binary_totals(names, classes);
        let field = |l: usize, r: usize, f: usize| self.sums[l * block + r * BIN_FIELDS + f];
        let probabilistic = self.in_unit && classes.len() == 2;
        let mut out = Vec::with_capacity(reps);
        let mut calibration = None;
        for (r, res) in results.states.iter().enumerate() {
            let mut m = MetricMap::new();
            m.insert(RANKING_KEYS[0].into(), num(res.auc()));
            m.insert(partial_key(), num(res.partial_auc(totals[r])));
            m.insert(RANKING_KEYS[1].into(), num(res.average_precision()));
            if probabilistic {
                let (mut ll, mut br, mut wsum) = (0.0, 0.0, 0.0);
                let (mut wt, mut sp, mut sy) =
                    (vec![0.0; CALIBRATION_BINS], vec![0.0; CALIBRATION_BINS], vec![0.0; CALIBRATION_BINS]);
                for l in 0..labels {
                    let is_pos = l as u32 == pos_id;
                    wsum += field(l, r, 0);
                    ll += field(l, r, if is_pos { 1 } else { 2 });
                    br += field(l, r, if is_pos { 3 } else { 4 });
                    for b in 0..CALIBRATION_BINS {
                        wt[b] += field(l, r, 5 + 2 * b);
                        sp[b] += field(l, r, 6 + 2 * b);
                        if is_pos {
                            sy[b] += field(l, r, 5 + 2 * b);
                        }
                    }
                }
                m.insert("log_loss".into(), num(ll / wsum));
                m.insert("brier_score_loss".into(), num(br / wsum));
                let cal = Calibration::from_sums("positive-class probability", &wt, &sp, &sy);
                m.extend(cal.metrics());
                if r == 0 {
                    calibration = Some(cal);
                }
            }
            out.push(m);
        }
        let metrics = out.remove(0);
        let mut report = ScoreReport {
            metrics,
            replicates: out,
            curves: Vec::new(),
            calibration,
            delong: None,
            explorer: None,
            sketch: None,
        };
        if full {
            report.delong = results.delong;
            if let Some(curve) = results.curve {
                report.explorer = (classes.len() == 2).then(|| ThresholdExplorer::from_curve(&curve));
                let s = &results.states[0];
                let name = classes.get(pos).cloned().unwrap_or_default();
                report.curves.push(curve.into_named(name, s.auc(), s.average_precision()));
            }
        }
        report
    }

    /// One probability column per class: one-vs-rest and one-vs-one ranking metrics, log
    /// loss, Brier score, top-k accuracy and top-label calibration.
    fn finish_multiclass(&self, walk: &WalkRows, full: bool, threads: usize) -> ScoreReport {
        let k = self.k;
        // rows grouped by their truth's class rank (rows without a column are left out)
        let mut starts = vec![0usize; k + 1];
        for &t in &self.truth {
            if (t as usize) < k {
                starts[self.rank[t as usize] + 1] += 1;
            }
        }
        for c in 0..k {
            starts[c + 1] += starts[c];
        }
        let mut grouped = vec![0u32; starts[k]];
        let mut next = starts.clone();
        for (r, &t) in self.truth.iter().enumerate() {
            if (t as usize) < k {
                let c = self.rank[t as usize];
                grouped[next[c]] = r as u32;
                next[c] += 1;
            }
        }
        drop(next);
        let truth_rank = |row: usize| self.truth.get(row).and_then(|&t| self.rank.get(t as usize)).copied();
        let score_key = |row: usize, cls: usize| self.scores.key(row * k + self.by_rank[cls]);

        // per class: one result per replicate. The same walk also feeds one-vs-one (Hand &
        // Till, as sklearn's multi_class="ovo"): class `cls`'s descending order restricted to
        // the rows of `cls` and another class is exactly the order a sort of that pair's rows
        // gives (the radix sort is stable and the rows are grouped by class), so the pairs
        // reuse it instead of sorting 2 x pairs more times. `pairs[cls][o]`: that walk.
        let class_walks = |walk: &WalkSetup, full: bool, cls: usize| -> ClassWalks {
            let mut w = Walk::new(walk, None, full, false);
            let mut pair_walks: Vec<Walk> = (0..k).map(|_| Walk::new(walk, None, false, false).auc_only()).collect();
            let mut bufs: Vec<Vec<Item>> = vec![Vec::new(); k];
            // the class's keys gathered once (a row's scores are k apart): the sort reads
            // each key twice, and reading them in place missed the cache both times
            let keys: Vec<u64> = grouped.iter().map(|&row| score_key(row as usize, cls)).collect();
            sort::for_each_sorted(
                grouped.len(),
                |i| keys[i],
                |i| {
                    let row = grouped[i];
                    row | if truth_rank(row as usize) == Some(cls) { POSITIVE } else { 0 }
                },
                |items| {
                    w.feed(items);
                    route_pairs(items, cls, &truth_rank, &mut pair_walks, &mut bufs);
                },
            );
            let pairs = pair_walks.into_iter().enumerate().map(|(o, pw)| (o != cls).then(|| pw.finish())).collect();
            (w.finish(), pairs)
        };
        // micro: every (row, class) cell is one binary decision.
        let micro_walk = |walk: &WalkSetup| {
            let mut w = Walk::new(walk, None, false, false);
            sort::for_each_sorted(
                grouped.len() * k,
                |i| score_key(grouped[i / k] as usize, i % k),
                |i| {
                    let row = grouped[i / k];
                    row | if truth_rank(row as usize) == Some(i % k) { POSITIVE } else { 0 }
                },
                |items| w.feed(items),
            );
            w.finish()
        };
        // job 0 is the micro walk (the longest, so it starts first), job 1 + c class c's
        let jobs = walk.in_blocks(|walk, first| {
            in_parallel(k + 1, threads, |j| match j {
                0 => (micro_walk(walk), Vec::new()),
                _ => class_walks(walk, full && first, j - 1),
            })
        });
        self.multiclass_walked(jobs)
    }

    /// The multiclass report from the walks' results: job 0's the micro walk's, job `1 + c`
    /// class `c`'s one-vs-rest walk's and its one-vs-one pairs' (`None` at `c`).
    fn multiclass_walked(&self, jobs: Vec<ClassWalks>) -> ScoreReport {
        // (the curve is thinned here: a class's whole curve is three floats per distinct
        // score)
        let jobs = jobs.into_iter().enumerate().map(|(j, (res, pairs))| self.thinned(j, res, pairs)).collect();
        self.multiclass_thinned(jobs)
    }

    /// Job `j`'s walk (`j > 0`: class `j - 1`'s) with its curve thinned to a [`NamedCurve`].
    fn thinned(&self, j: usize, mut res: WalkResult, pairs: Vec<Option<WalkResult>>) -> ThinnedWalks {
        let curve = res.curve.take().zip(j.checked_sub(1)).map(|(curve, cls)| {
            let s = &res.states[0];
            curve.into_named(self.columns[self.by_rank[cls]].clone(), s.auc(), s.average_precision())
        });
        (res, pairs, curve)
    }

    /// [`Self::multiclass_walked`] with the curves thinned.
    fn multiclass_thinned(&self, mut jobs: Vec<ThinnedWalks>) -> ScoreReport {
        let k = self.k;
        let (micro, _, _) = jobs.remove(0);
        let mut curves = Vec::new();
        let mut ovr: Vec<WalkResult> = Vec::with_capacity(k);
        let mut pairs: Vec<Vec<Option<WalkResult>>> = Vec::with_capacity(k);
        for (res, pair_results, curve) in jobs {
            curves.extend(curve);
            ovr.push(res);
            pairs.push(pair_results);
        }
        let pairs: Vec<(WalkResult, WalkResult)> =
            pairs_of(k).filter_map(|(a, b)| pairs[a][b].take().zip(pairs[b][a].take())).collect();
        self.multiclass_report(&ovr, &pairs, &micro, curves)
    }

    /// Whether [`Self::multiclass_counted`] gives the multiclass walks.
    fn counted(&self) -> bool {
        self.replicates == 0 && self.weights.is_none() && self.truth.len() <= COUNTED_ROWS
    }

    /// [`Self::finish_multiclass`]'s walks where every row weighs 1 and no replicate is
    /// wanted: the same results, bit for bit, from counts. A walk's sums are then counts of
    /// rows, so the order of tied rows cannot change them: rows are sorted as they are stored
    /// (no grouping by class, no row indices), each item carrying its truth's class rank, and
    /// one pass over a class's order counts every one-vs-one pair of it in integers (twice a
    /// pair's area: a negative's positives above it, doubled, plus its tie group's; exact,
    /// as the walks' f64 sums are below [`COUNTED_ROWS`]) where the rows were routed to a
    /// walk per pair. The pairs' results hold the AUC's sums alone (their AP is 0, as the
    /// replicates' of `auc_only` walks).
    fn multiclass_counted(&self, full: bool, threads: usize) -> Vec<ThinnedWalks> {
        let k = self.k;
        let n = self.truth.len();
        // each row's truth's class rank, k for a truth without a column (left out)
        let ranks: Vec<u32> =
            self.truth.iter().map(|&t| self.rank.get(t as usize).map_or(k as u32, |&r| r as u32)).collect();
        let decode = self.scores.decoder();
        let class_walk = |cls: usize| -> ClassWalks {
            let keys = self.scores.column_keys(k, self.by_rank[cls]);
            let mut walk = CountedClass::new(k, cls, full, decode);
            sort::for_each_sorted(n.min(keys.len()), |i| keys[i], |i| ranks[i], |items| walk.feed(items));
            walk.finish()
        };
        // micro: every (row, column) cell, 1 where the column is the truth's, 2 where the row
        // is left out
        let micro_walk = || {
            let mut cells = vec![0u8; n * k];
            for (row, &t) in cells.chunks_exact_mut(k.max(1)).zip(&self.truth) {
                match row.get_mut(t as usize) {
                    Some(c) => *c = 1,
                    None => row.fill(2),
                }
            }
            let mut walk = CountedClass::new(2, 1, false, decode);
            let cells = cells.as_slice();
            sort::for_each_sorted(
                cells.len(),
                |i| self.scores.key(i),
                |i| u32::from(cells[i]),
                |items| walk.feed(items),
            );
            walk.finish().0
        };
        // each class's curve thinned in its job: not all k whole curves held at once
        in_parallel(k + 1, threads, |j| match j {
            0 => (micro_walk(), Vec::new(), None),
            _ => {
                let (res, pairs) = class_walk(j - 1);
                self.thinned(j, res, pairs)
            }
        })
    }

    /// Past the budget: the same metrics from each column's bins, with their error bounds.
    /// Column `c`'s sketch holds every row by its truth's column, so its bins give class
    /// `c`'s one-vs-rest curve, each one-vs-one pair's (the rows of two classes), and, all
    /// columns summed, the micro curve.
    fn finish_multiclass_sketch(&self, full: bool) -> ScoreReport {
        let k = self.k;
        let col = |cls: usize| self.by_rank[cls];
        let sketches = self.sketches.get();
        let groups = |cls: usize, role: &dyn Fn(u32) -> Option<bool>| sketches[col(cls)].groups(role);
        let ovr_groups: Vec<Groups> =
            (0..k).map(|cls| groups(cls, &|l| ((l as usize) < k).then_some(l as usize == col(cls)))).collect();
        let mut curves = Vec::new();
        let mut ovr = Vec::with_capacity(k);
        for (cls, g) in ovr_groups.iter().enumerate() {
            let mut res = walk_groups(g, false, full);
            if let Some(curve) = res.curve.take() {
                let s = &res.states[0];
                curves.push(curve.into_named(self.columns[col(cls)].clone(), s.auc(), s.average_precision()));
            }
            ovr.push(res);
        }
        let micro_groups = Groups::sum(&ovr_groups);
        let micro = walk_groups(&micro_groups, false, false);
        let (mut pairs, mut pair_bounds) = (Vec::new(), Vec::new());
        for (a, b) in pairs_of(k) {
            let pair = |x: usize, y: usize| {
                groups(x, &|l| match l as usize {
                    c if c == col(x) => Some(true),
                    c if c == col(y) => Some(false),
                    _ => None,
                })
            };
            let (ab, ba) = (pair(a, b), pair(b, a));
            pair_bounds.push((bounds_of(&ab).roc_auc + bounds_of(&ba).roc_auc) / 2.0);
            pairs.push((walk_groups(&ab, false, false), walk_groups(&ba, false, false)));
        }
        let mut report = self.multiclass_report(&ovr, &pairs, &micro, curves);
        let point = RankingParts::of(&ovr, &micro, Some(&pairs), 0);
        let ovr_bounds: Vec<sketch::Bounds> = ovr_groups.iter().map(bounds_of).collect();
        let micro_bounds = bounds_of(&micro_groups);
        let bounds = RankingParts {
            auc: ovr_bounds.iter().map(|b| b.roc_auc).collect(),
            ap: ovr_bounds.iter().map(|b| b.average_precision).collect(),
            support: point.support,
            micro: (micro_bounds.roc_auc, micro_bounds.average_precision),
            pairs: point.pairs.map(|(_, w)| (pair_bounds, w)),
        };
        report.sketch = Some(SketchInfo::new(self.budget(), &sketches, bounds.metrics()));
        report
    }

    /// The multiclass report from the walks: one-vs-rest per class (rank order), one-vs-one
    /// per pair (`pairs_of` order) and micro, plus the streamed sums.
    fn multiclass_report(
        &self,
        ovr: &[WalkResult],
        pairs: &Vec<(WalkResult, WalkResult)>,
        micro: &WalkResult,
        curves: Vec<NamedCurve>,
    ) -> ScoreReport {
        let k = self.k;
        let reps = self.replicates + 1;
        let blocks = self.sums.len() / MC_FIELDS;
        let mut out = Vec::with_capacity(reps);
        let mut calibration = None;
        for r in 0..reps {
            let mut metrics = RankingParts::of(ovr, micro, Some(pairs), r).metrics();
            let s = |f: usize| self.sums.get(mc_row(r, f)).copied().unwrap_or(0.0);
            let wsum = s(0);
            metrics.insert("log_loss".into(), num(s(1) / wsum));
            metrics.insert("brier_score_loss".into(), num(s(2) / wsum));
            for (i, &kk) in TOP_K.iter().enumerate() {
                if kk < k {
                    metrics.insert(format!("top_k_accuracy_score@k={kk}"), num(s(3 + i) / wsum));
                }
            }
            if self.in_unit {
                let bins = |f: usize| {
                    (0..CALIBRATION_BINS)
                        .map(|b| self.sums.get(mc_bin(blocks, b, r, f)).copied().unwrap_or(0.0))
                        .collect::<Vec<f64>>()
                };
                let cal = Calibration::from_sums("top-label confidence", &bins(0), &bins(1), &bins(2));
                metrics.extend(cal.metrics());
                if r == 0 {
                    calibration = Some(cal);
                }
            }
            out.push(metrics);
        }
        let metrics = out.remove(0);
        ScoreReport { metrics, replicates: out, curves, calibration, delong: None, explorer: None, sketch: None }
    }
}

/// `job(0)`, `job(1)`, ... `job(n - 1)` in that order, run on up to `threads` threads natively
/// (each takes the next job not yet taken, so the longest should come first); in wasm, and
/// for `threads` <= 1, one after the other here.
fn in_parallel<T: Send>(n: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    #[cfg(not(target_arch = "wasm32"))]
    if threads.min(n) > 1 {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return done;
                }
                done.push((i, job(i)));
            }
        };
        let mut done = std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads.min(n)).map(|_| scope.spawn(work)).collect();
            let mut done = work();
            for other in others {
                match other.join() {
                    Ok(theirs) => done.extend(theirs),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            done
        });
        done.sort_unstable_by_key(|d| d.0);
        return done.into_iter().map(|d| d.1).collect();
    }
    #[cfg(target_arch = "wasm32")]
    let _ = threads;
    (0..n).map(job).collect()
}

/// One class's walk and its one-vs-one pairs' (`None` at the class).
type ClassWalks = (WalkResult, Vec<Option<WalkResult>>);

/// [`ClassWalks`] with the class's curve thinned.
type ThinnedWalks = (WalkResult, Vec<Option<WalkResult>>, Option<NamedCurve>);

/// Most rows whose walks [`ScoreAccumulator::multiclass_counted`] counts: with unit weights
/// a walk's every f64 sum (twice an area: at most 2·n² here) is a whole number below 2^53,
/// exact in any order, as the integer counts are.
const COUNTED_ROWS: usize = 1 << 26;

/// A descending walk over unit-weight items whose payload is the row's class rank (below
/// `k`; others left out), for class `cls`: its point estimate (and curve), exactly as
/// [`Walk`] gives it, and each other class `o`'s one-vs-one pair (rows of `cls` positive,
/// rows of `o` negative) in integer counts.
struct CountedClass {
    k: usize,
    cls: usize,
    point: RocState,
    curve: Option<BinaryCurve>,
    decode: fn(u64) -> f64,
    /// The open tie group: its key, its first item's rank and its items; past one item,
    /// its count per rank in `counts` (the first's included).
    group: Option<u64>,
    first: usize,
    len: u64,
    counts: Vec<u64>,
    /// Positives of the closed groups, and per rank its negatives and twice its pair's area.
    tp: u64,
    fp: Vec<u64>,
    area2: Vec<u64>,
}

impl CountedClass {
    fn new(k: usize, cls: usize, record: bool, decode: fn(u64) -> f64) -> Self {
        CountedClass {
            k,
            cls,
            point: RocState::default(),
            curve: record.then(BinaryCurve::default),
            decode,
            group: None,
            first: 0,
            len: 0,
            counts: vec![0; k],
            tp: 0,
            fp: vec![0; k],
            area2: vec![0; k],
        }
    }

    /// The next items, in ascending key order (a tie group may go over several calls).
    fn feed(&mut self, items: &[Item]) {
        for it in items {
            let t = it.payload as usize;
            if t >= self.k {
                continue;
            }
            if self.group == Some(it.key) {
                if self.len == 1 {
                    self.counts[self.first] += 1;
                }
                self.counts[t] += 1;
                self.len += 1;
            } else {
                self.close();
                (self.group, self.first, self.len) = (Some(it.key), t, 1);
            }
        }
    }

    /// The end of a tie group: [`Walk::close_point`]'s numbers, and the pairs' counts.
    #[inline]
    fn close(&mut self) {
        let Some(key) = self.group.take() else { return };
        let cls = self.cls;
        let (dtp, dfp) = if self.len == 1 {
            if self.first == cls {
                (1, 0)
            } else {
                self.area2[self.first] += 2 * self.tp;
                self.fp[self.first] += 1;
                (0, 1)
            }
        } else {
            let dtp = std::mem::take(&mut self.counts[cls]);
            let mut dfp = 0;
            for (o, c) in self.counts.iter_mut().enumerate() {
                if o != cls && *c > 0 {
                    self.area2[o] += *c * (2 * self.tp + dtp);
                    self.fp[o] += *c;
                    dfp += *c;
                    *c = 0;
                }
            }
            (dtp, dfp)
        };
        self.tp += dtp;
        self.point.apply(dtp as f64, dfp as f64, None);
        if let Some(c) = &mut self.curve {
            c.push((self.decode)(key), &self.point);
        }
    }

    fn finish(mut self) -> ClassWalks {
        self.close();
        let pair = |o: usize| RocState {
            tp: self.tp as f64,
            fp: self.fp[o] as f64,
            area: self.area2[o] as f64 / 2.0,
            ..RocState::default()
        };
        let pairs = (0..self.k)
            .map(|o| (o != self.cls).then(|| WalkResult { states: vec![pair(o)], curve: None, delong: None }))
            .collect();
        (WalkResult { states: vec![self.point], curve: self.curve, delong: None }, pairs)
    }
}

/// The class pairs (a, b), a < b, of one-vs-one.
fn pairs_of(k: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).flat_map(move |a| (a + 1..k).map(move |b| (a, b)))
}

/// The error bounds of the metrics binned in `g`.
pub(super) fn bounds_of(g: &Groups) -> sketch::Bounds {
    sketch::bounds(&g.point(), MAX_FPR)
}

/// A walk over binned groups (descending), point estimate and replicates together; `partial`:
/// also the partial AUC (each replicate against its own totals); `record`: the point's curve.
pub(super) fn walk_groups(g: &Groups, partial: bool, record: bool) -> WalkResult {
    let w = g.width;
    let totals: Vec<(f64, f64)> = (0..w).map(|r| g.totals(r)).collect();
    let mut states = vec![RocState::default(); w];
    let mut curve = record.then(BinaryCurve::default);
    for i in 0..g.len() {
        for (r, st) in states.iter_mut().enumerate() {
            st.apply(g.pos[i * w + r], g.neg[i * w + r], partial.then_some(totals[r]));
        }
        if let Some(c) = &mut curve {
            if g.pos[i * w] != 0.0 || g.neg[i * w] != 0.0 {
                c.push(g.threshold(i), &states[0]);
            }
        }
    }
    WalkResult { states, curve, delong: None }
}

/// What the averaged ranking metrics of one replicate are made of: per class (one-vs-rest,
/// multilabel: per label) ROC-AUC, AP and support, the micro ROC-AUC and AP, and per
/// one-vs-one pair the mean of its two AUCs and its weight (multiclass only). The error
/// bounds of sketched metrics go through the same averages: each average is over fixed
/// weights (the exact supports), so the average of values within their bounds is within the
/// average of the bounds.
pub(super) struct RankingParts {
    pub(super) auc: Vec<f64>,
    pub(super) ap: Vec<f64>,
    pub(super) support: Vec<f64>,
    pub(super) micro: (f64, f64),
    pub(super) pairs: Option<(Vec<f64>, Vec<f64>)>,
}

impl RankingParts {
    /// Replicate `r`'s parts from the walks.
    pub(super) fn of(
        per_class: &[WalkResult],
        micro: &WalkResult,
        pairs: Option<&Vec<(WalkResult, WalkResult)>>,
        r: usize,
    ) -> Self {
        RankingParts {
            auc: per_class.iter().map(|o| o.states[r].auc()).collect(),
            ap: per_class.iter().map(|o| o.states[r].average_precision()).collect(),
            support: per_class.iter().map(|o| o.states[r].tp).collect(),
            micro: (micro.states[r].auc(), micro.states[r].average_precision()),
            // one-vs-one: for each pair, the mean of the two AUCs on the rows of those two
            // classes, weighted by the pair's rows
            pairs: pairs.map(|p| {
                p.iter()
                    .map(|(x, y)| ((x.states[r].auc() + y.states[r].auc()) / 2.0, x.states[r].tp + y.states[r].tp))
                    .unzip()
            }),
        }
    }

    pub(super) fn metrics(&self) -> MetricMap {
        let mut m = MetricMap::new();
        m.insert("roc_auc_score@macro".into(), num(mean(&self.auc)));
        m.insert("roc_auc_score@weighted".into(), num(weighted(&self.auc, &self.support)));
        m.insert("roc_auc_score@micro".into(), num(self.micro.0));
        m.insert("average_precision_score@macro".into(), num(mean(&self.ap)));
        m.insert("average_precision_score@weighted".into(), num(weighted(&self.ap, &self.support)));
        m.insert("average_precision_score@micro".into(), num(self.micro.1));
        if let Some((auc, weight)) = &self.pairs {
            let total: f64 = self.support.iter().sum();
            let prevalence: Vec<f64> = weight.iter().map(|w| w / total).collect();
            m.insert("roc_auc_score@ovo".into(), num(mean(auc)));
            m.insert("roc_auc_score@ovo,weighted".into(), num(weighted(auc, &prevalence)));
        }
        m
    }
}

pub(super) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub(super) fn weighted(v: &[f64], by: &[f64]) -> f64 {
    let tot: f64 = by.iter().sum();
    v.iter().zip(by).map(|(a, s)| a * s).sum::<f64>() / tot
}

/// What every walk over one accumulator's rows shares in one block of replicates.
pub(super) struct WalkSetup<'a> {
    pub(super) weights: Option<&'a [f64]>,
    pub(super) decode: fn(u64) -> f64,
    /// The stored rows' draws in the block's replicates.
    pub(super) draws: DrawTable,
    /// Every replicate's sums are whole numbers below 2^52 in every walk: unit weights, and
    /// at most 2^26 items counted in any replicate of a walk. Then the order a walk adds its
    /// products in cannot change a sum ([`RepStates::add_negative`] adds runs at once).
    pub(super) whole: bool,
}

/// Where the exact walks over one accumulator's stored rows find what they share.
pub(super) struct WalkRows<'a> {
    pub(super) rows: usize,
    pub(super) replicates: usize,
    pub(super) poisson: Poisson,
    pub(super) keys: &'a KeyLookup,
    pub(super) weights: Option<&'a [f64]>,
    pub(super) store: &'a Store,
    pub(super) budget: Budget,
    /// Most items a row gives one walk (the micro walk: one per column).
    pub(super) per_row: usize,
}

impl WalkRows<'_> {
    /// `walks` once per block of replicates ([`draw_blocks`]: each block's draw table within
    /// the budget's bytes, usually one block), each later block's replicates appended to the
    /// first's results. `walks`' flag says whether this is the first block: the only one to
    /// record curves and DeLong (the point estimate is the same in every block).
    pub(super) fn in_blocks<T: Blocks>(&self, mut walks: impl FnMut(&WalkSetup, bool) -> T) -> T {
        let mut run = |(first, count): (usize, usize), is_first: bool| {
            let draws = DrawTable::new(self.poisson, self.keys, self.rows, first, count);
            let whole = self.weights.is_none() && draws.most().saturating_mul(self.per_row as u64) <= 1 << 26;
            walks(&WalkSetup { weights: self.weights, decode: self.store.decoder(), draws, whole }, is_first)
        };
        let mut blocks = draw_blocks(self.rows, self.replicates, self.budget.draw_bytes()).into_iter();
        let mut out = run(blocks.next().unwrap_or((0, 0)), true);
        for block in blocks {
            out.append(run(block, false));
        }
        out
    }
}

/// Walk results of a later block of replicates appended to the earlier blocks'.
pub(super) trait Blocks {
    fn append(&mut self, later: Self);
}

impl Blocks for WalkResult {
    fn append(&mut self, later: Self) {
        // the later block's point estimate is this one's again
        self.states.extend(later.states.into_iter().skip(1));
    }
}

impl<T: Blocks> Blocks for Vec<T> {
    fn append(&mut self, later: Self) {
        for (a, b) in self.iter_mut().zip(later) {
            a.append(b);
        }
    }
}

impl<T: Blocks> Blocks for Option<T> {
    fn append(&mut self, later: Self) {
        if let (Some(a), Some(b)) = (self, later) {
            a.append(b);
        }
    }
}

impl<A: Blocks, B: Blocks> Blocks for (A, B) {
    fn append(&mut self, later: Self) {
        self.0.append(later.0);
        self.1.append(later.1);
    }
}

/// One replicate's running ROC/PR sums over a descending walk.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RocState {
    pub(super) tp: f64,
    pub(super) fp: f64,
    /// Σ Δfp·(tp_before + tp_after)/2: the ROC area in weight units.
    area: f64,
    /// Σ Δtp·precision: average precision times the positives.
    ap: f64,
    /// Area up to MAX_FPR in rate units, and whether the bound was passed.
    partial: f64,
    partial_done: bool,
}

impl RocState {
    /// One distinct threshold's group of rows; `pn`: this replicate's (positives,
    /// negatives) when the partial AUC is wanted.
    #[inline]
    fn apply(&mut self, dtp: f64, dfp: f64, pn: Option<(f64, f64)>) {
        if dtp == 0.0 && dfp == 0.0 {
            return;
        }
        let (tp1, fp1) = (self.tp + dtp, self.fp + dfp);
        self.area += dfp * (self.tp + tp1) / 2.0;
        if dtp != 0.0 {
            self.ap += dtp * (tp1 / (tp1 + fp1));
        }
        if let (Some((p, n)), false) = (pn, self.partial_done) {
            let (x0, y0, x1, y1) = (self.fp / n, self.tp / p, fp1 / n, tp1 / p);
            if x1 > MAX_FPR {
                let y = y0 + (y1 - y0) * (MAX_FPR - x0) / (x1 - x0);
                self.partial += (MAX_FPR - x0) * (y + y0) / 2.0;
                self.partial_done = true;
            } else {
                self.partial += (x1 - x0) * (y1 + y0) / 2.0;
            }
        }
        self.tp = tp1;
        self.fp = fp1;
    }

    /// Trapezoidal area under (fpr, tpr); NaN when one class is absent.
    pub(super) fn auc(&self) -> f64 {
        if self.tp <= 0.0 || self.fp <= 0.0 {
            return f64::NAN;
        }
        self.area / (self.tp * self.fp)
    }

    /// Step-wise AP, as sklearn; NaN without positives (sklearn warns and returns -0.0).
    pub(super) fn average_precision(&self) -> f64 {
        if self.tp <= 0.0 {
            return f64::NAN;
        }
        self.ap / self.tp
    }

    /// sklearn's `roc_auc_score(max_fpr=...)`: the area up to `max_fpr` (the curve
    /// interpolated linearly at the bound), McClish-standardised to [0.5, 1].
    fn partial_auc(&self, (p, n): (f64, f64)) -> f64 {
        if p <= 0.0 || n <= 0.0 {
            return f64::NAN;
        }
        let min_area = 0.5 * MAX_FPR * MAX_FPR;
        0.5 * (1.0 + (self.partial - min_area) / (MAX_FPR - min_area))
    }
}

/// DeLong's placement sums over the walk (unit weights): Σv and Σv² of each positive's
/// share of negatives below it and each negative's share of positives above it.
#[derive(Debug, Default)]
struct DeLongSums {
    pos: (f64, f64),
    neg: (f64, f64),
}

/// One block's replicate states, an array per field: a row's update of every replicate is
/// a loop that vectorises (f64x2 in wasm's simd128), where a `RocState` per replicate
/// scattered each field over the states.
#[derive(Debug, Default)]
struct RepStates {
    tp: Vec<f64>,
    fp: Vec<f64>,
    area: Vec<f64>,
    ap: Vec<f64>,
    partial: Vec<f64>,
    done: Vec<bool>,
    /// Whether the replicates' average precision is wanted (a division per replicate and
    /// positive row; the one-vs-one pairs use only the AUC).
    with_ap: bool,
    /// Each replicate's positives and negatives, when the partial AUC is wanted (else empty).
    positives: Vec<f64>,
    negatives: Vec<f64>,
    /// Whole sums ([`WalkSetup::whole`]) and no partial AUC: negative rows wait in
    /// `pending` (each replicate's count of them since the last positive, `pending_rows` rows)
    /// and count at once, as integer adds 8 to a 128-bit lane where each was two f64 adds and
    /// a product.
    whole: bool,
    pending: Vec<u16>,
    pending_rows: usize,
}

/// Most negative rows that wait in [`RepStates::pending`] (12 draws each fit a u16).
const PENDING_ROWS: usize = (u16::MAX / 12) as usize;

impl RepStates {
    /// `count` replicates; `totals`: each one's (positives, negatives) for the partial AUC;
    /// `whole`: [`WalkSetup::whole`].
    fn new(count: usize, totals: Option<&[(f64, f64)]>, whole: bool) -> Self {
        let zeros = || vec![0.0; count];
        let (positives, negatives) = totals
            .map_or((Vec::new(), Vec::new()), |t| (0..count).map(|r| t.get(r).copied().unwrap_or((0.0, 0.0))).unzip());
        RepStates {
            tp: zeros(),
            fp: zeros(),
            area: zeros(),
            ap: zeros(),
            partial: zeros(),
            done: vec![false; count],
            with_ap: true,
            whole: whole && positives.is_empty(),
            positives,
            negatives,
            pending: vec![0; count],
            pending_rows: 0,
        }
    }

    fn totals(&self, r: usize) -> Option<(f64, f64)> {
        self.positives.get(r).zip(self.negatives.get(r)).map(|(&p, &n)| (p, n))
    }

    fn get(&self, r: usize) -> RocState {
        RocState {
            tp: self.tp[r],
            fp: self.fp[r],
            area: self.area[r],
            ap: self.ap[r],
            partial: self.partial[r],
            partial_done: self.done[r],
        }
    }

    /// A group of tied rows, `dtp`/`dfp` per replicate: [`RocState::apply`] each, the same
    /// numbers (as a loop that vectorises where no partial AUC is wanted: a replicate the
    /// group misses gains +0.0 in each sum, which leaves it as it is).
    fn apply(&mut self, dtp: &[f64], dfp: &[f64]) {
        self.settle();
        let n = self.tp.len().min(dtp.len()).min(dfp.len());
        if self.positives.is_empty() {
            let (tp, fp, area, ap) = (&mut self.tp[..n], &mut self.fp[..n], &mut self.area[..n], &mut self.ap[..n]);
            let (dtp, dfp) = (&dtp[..n], &dfp[..n]);
            for r in 0..n {
                let (tp1, fp1) = (tp[r] + dtp[r], fp[r] + dfp[r]);
                area[r] += dfp[r] * (tp[r] + tp1) / 2.0;
                if self.with_ap {
                    let gain = dtp[r] * (tp1 / (tp1 + fp1));
                    ap[r] += if dtp[r] != 0.0 { gain } else { 0.0 };
                }
                (tp[r], fp[r]) = (tp1, fp1);
            }
            return;
        }
        for (r, (&p, &n)) in dtp.iter().zip(dfp).enumerate().take(self.tp.len()) {
            let mut s = self.get(r);
            s.apply(p, n, self.totals(r));
            (self.tp[r], self.fp[r], self.area[r], self.ap[r]) = (s.tp, s.fp, s.area, s.ap);
            (self.partial[r], self.done[r]) = (s.partial, s.partial_done);
        }
    }

    /// A lone positive row of weight `w`, drawn `draws[r]` times in replicate `r`:
    /// [`RocState::apply`] with `dfp = 0` in each, the same numbers.
    #[inline]
    fn add_positive(&mut self, w: f64, draws: &[u8]) {
        self.settle();
        let n = self.tp.len().min(draws.len());
        if !self.with_ap {
            for (tp, &d) in self.tp[..n].iter_mut().zip(&draws[..n]) {
                *tp += w * f64::from(d);
            }
            return;
        }
        let (tp, fp, ap) = (&mut self.tp[..n], &self.fp[..n], &mut self.ap[..n]);
        for (((tp, &fp), ap), &d) in tp.iter_mut().zip(fp).zip(ap.iter_mut()).zip(&draws[..n]) {
            let x = w * f64::from(d);
            let tp1 = *tp + x;
            // x = 0 adds 0 (the max only guards 0/0 before any row counted)
            *ap += x * (tp1 / (tp1 + fp).max(f64::MIN_POSITIVE));
            *tp = tp1;
        }
    }

    /// A lone negative row: [`RocState::apply`] with `dtp = 0` in each replicate, the same
    /// numbers (a replicate past the partial AUC's bound adds +0.0 to it: no change, as the
    /// sum is never -0.0).
    #[inline]
    fn add_negative(&mut self, w: f64, draws: &[u8]) {
        let n = self.tp.len().min(draws.len());
        if self.whole {
            for (c, &d) in self.pending[..n].iter_mut().zip(&draws[..n]) {
                *c += u16::from(d);
            }
            self.pending_rows += 1;
            if self.pending_rows == PENDING_ROWS {
                self.settle();
            }
            return;
        }
        let (tp, fp, area, draws) = (&self.tp[..n], &mut self.fp[..n], &mut self.area[..n], &draws[..n]);
        if self.positives.len() < n || self.negatives.len() < n {
            for (((&tp, fp), area), &d) in tp.iter().zip(fp.iter_mut()).zip(area.iter_mut()).zip(draws) {
                let x = w * f64::from(d);
                *area += x * tp;
                *fp += x;
            }
            return;
        }
        let (partial, done) = (&mut self.partial[..n], &mut self.done[..n]);
        let (positives, negatives) = (&self.positives[..n], &self.negatives[..n]);
        for r in 0..n {
            let x = w * f64::from(draws[r]);
            let (p, q) = (positives[r], negatives[r]);
            let fp1 = fp[r] + x;
            area[r] += x * tp[r];
            let (x0, x1, y) = (fp[r] / q, fp1 / q, tp[r] / p);
            let past = x1 > MAX_FPR;
            let add = if past { (MAX_FPR - x0) * y } else { (x1 - x0) * y };
            partial[r] += if done[r] { 0.0 } else { add };
            done[r] |= past;
            fp[r] = fp1;
        }
    }

    /// Count the waiting negative rows: each added `x × tp` to the area and `x` to the
    /// negatives, whole numbers below 2^52 whose sum is exact in any order, so adding each
    /// replicate's count `c` at once (`c × tp`, `c`) gives the same sums, bit for bit.
    fn settle(&mut self) {
        if self.pending_rows == 0 {
            return;
        }
        let n = self.tp.len().min(self.pending.len());
        let (tp, fp, area, pending) = (&self.tp[..n], &mut self.fp[..n], &mut self.area[..n], &mut self.pending[..n]);
        for (((&tp, fp), area), c) in tp.iter().zip(fp.iter_mut()).zip(area.iter_mut()).zip(pending.iter_mut()) {
            let x = f64::from(*c);
            *area += x * tp;
            *fp += x;
            *c = 0;
        }
        self.pending_rows = 0;
    }
}

/// A descending walk over one curve's items, point estimate and a block of replicates
/// together.
pub(super) struct Walk<'a> {
    setup: &'a WalkSetup<'a>,
    /// The point estimate's (positives, negatives), for the partial AUC and DeLong.
    totals: Option<(f64, f64)>,
    point: RocState,
    reps: RepStates,
    /// The open group's sums: the point's, then each replicate's.
    dtp: Vec<f64>,
    dfp: Vec<f64>,
    /// The current row's draws in the block's replicates, and a batch's rows' packed.
    draws: Vec<u8>,
    gathered: Vec<u8>,
    group: Option<u64>,
    curve: Option<BinaryCurve>,
    delong: Option<DeLongSums>,
}

pub(super) struct WalkResult {
    pub(super) states: Vec<RocState>,
    pub(super) curve: Option<BinaryCurve>,
    delong: Option<f64>,
}

impl<'a> Walk<'a> {
    /// `totals`: (positives, negatives) of the point estimate and of every replicate (not
    /// just the block's), when the partial AUC is wanted.
    pub(super) fn new(setup: &'a WalkSetup<'a>, totals: Option<&[(f64, f64)]>, record: bool, delong: bool) -> Self {
        let (first, count) = (setup.draws.first(), setup.draws.count());
        Walk {
            setup,
            totals: totals.and_then(|t| t.first().copied()),
            point: RocState::default(),
            reps: RepStates::new(count, totals.map(|t| t.get(1 + first..).unwrap_or(&[])), setup.whole),
            dtp: vec![0.0; count + 1],
            dfp: vec![0.0; count + 1],
            draws: vec![0; count],
            gathered: Vec::new(),
            group: None,
            curve: record.then(BinaryCurve::default),
            delong: delong.then(DeLongSums::default),
        }
    }

    /// The next items of the walk, in ascending key order; a run of equal keys may go over
    /// several calls.
    /// Without the replicates' average precision (their `ap` stays 0): only their AUC is
    /// read.
    pub(super) fn auc_only(mut self) -> Self {
        self.reps.with_ap = false;
        self
    }

    pub(super) fn feed(&mut self, items: &[Item]) {
        /// Rows whose draws are gathered at once ([`DrawTable::gather`]).
        const GATHER: usize = 128;
        let s = self.setup;
        let row_of = |it: &Item| (it.payload & !POSITIVE) as usize;
        for (i, it) in items.iter().enumerate() {
            if i % GATHER == 0 {
                let next = items.get(i..).unwrap_or(&[]).iter().take(GATHER);
                s.draws.gather(next.map(row_of), &mut self.gathered);
            }
            if self.group.is_some_and(|g| g != it.key) {
                self.close();
            }
            let row = row_of(it);
            let w = s.weights.map_or(1.0, |ws| ws.get(row).copied().unwrap_or(0.0));
            let positive = it.payload & POSITIVE != 0;
            s.draws.unpack(&self.gathered, i % GATHER, &mut self.draws);
            // the last item of a batch opens a group: the next batch may continue its run
            let alone = self.group.is_none() && items.get(i + 1).is_some_and(|n| n.key != it.key);
            if alone {
                // a score no other row has (the common case): the replicates take the row
                // directly, with no group sums (the same numbers as a group of one)
                if positive {
                    self.reps.add_positive(w, &self.draws);
                } else {
                    self.reps.add_negative(w, &self.draws);
                }
                self.group = Some(it.key);
                let d = if positive { &mut self.dtp } else { &mut self.dfp };
                d[0] += w;
                self.close_point();
                continue;
            }
            self.group = Some(it.key);
            let d = if positive { &mut self.dtp } else { &mut self.dfp };
            d[0] += w;
            for (a, &k) in d[1..].iter_mut().zip(&self.draws) {
                *a += w * f64::from(k);
            }
        }
    }

    /// The end of a group of tied scores.
    fn close(&mut self) {
        if self.group.is_none() {
            return;
        }
        self.reps.apply(&self.dtp[1..], &self.dfp[1..]);
        self.dtp[1..].iter_mut().for_each(|x| *x = 0.0);
        self.dfp[1..].iter_mut().for_each(|x| *x = 0.0);
        self.close_point();
    }

    /// The end of a group for the point estimate (and the recorded curve, DeLong).
    fn close_point(&mut self) {
        let Some(key) = self.group.take() else { return };
        let before = self.point;
        self.point.apply(self.dtp[0], self.dfp[0], self.totals);
        if let (Some(d), Some((p, n))) = (&mut self.delong, self.totals) {
            let (pos_here, neg_here) = (self.dtp[0], self.dfp[0]);
            let neg_below = n - before.fp - neg_here;
            let v10 = (neg_below + 0.5 * neg_here) / n;
            let v01 = (before.tp + 0.5 * pos_here) / p;
            d.pos.0 += pos_here * v10;
            d.pos.1 += pos_here * v10 * v10;
            d.neg.0 += neg_here * v01;
            d.neg.1 += neg_here * v01 * v01;
        }
        if let Some(c) = &mut self.curve {
            c.push((self.setup.decode)(key), &self.point);
        }
        self.dtp[0] = 0.0;
        self.dfp[0] = 0.0;
    }

    pub(super) fn finish(mut self) -> WalkResult {
        self.close();
        self.reps.settle();
        let delong = self.delong.as_ref().and_then(|d| {
            let (p, n) = (self.point.tp, self.point.fp);
            if p < 2.0 || n < 2.0 {
                return None;
            }
            let var = |(s, q): (f64, f64), m: f64| (q - s * s / m) / (m - 1.0);
            Some(var(d.pos, p) / p + var(d.neg, n) / n)
        });
        let mut states = Vec::with_capacity(self.reps.tp.len() + 1);
        states.push(self.point);
        states.extend((0..self.reps.tp.len()).map(|r| self.reps.get(r)));
        WalkResult { states, curve: self.curve, delong }
    }
}

/// Route one sorted batch of class `cls`'s items to its one-vs-one walks: a row of class
/// `cls` (positive) goes to every pair, a row of class `o` to pair `o`. Buffers are fed at
/// tie-group boundaries only, as [`Walk::feed`] needs whole groups.
fn route_pairs(
    items: &[Item],
    cls: usize,
    truth_rank: &dyn Fn(usize) -> Option<usize>,
    walks: &mut [Walk<'_>],
    bufs: &mut [Vec<Item>],
) {
    const FLUSH: usize = 1 << 16;
    let flush = |walks: &mut [Walk<'_>], bufs: &mut [Vec<Item>]| {
        for (w, b) in walks.iter_mut().zip(bufs.iter_mut()) {
            if !b.is_empty() {
                w.feed(b);
                b.clear();
            }
        }
    };
    let mut pending = 0;
    for (i, it) in items.iter().enumerate() {
        if pending >= FLUSH && items[i - 1].key != it.key {
            flush(walks, bufs);
            pending = 0;
        }
        match truth_rank((it.payload & !POSITIVE) as usize) {
            Some(t) if t == cls => {
                for (o, b) in bufs.iter_mut().enumerate() {
                    if o != cls {
                        b.push(*it);
                    }
                }
                pending += bufs.len() - 1;
            }
            Some(t) if t < bufs.len() => {
                bufs[t].push(*it);
                pending += 1;
            }
            _ => {}
        }
    }
    flush(walks, bufs);
}

/// The false-positive-rate bound of the reported partial ROC-AUC.
pub const MAX_FPR: f64 = 0.1;
/// The binary ranking metrics (besides the partial AUC, [`partial_key`]).
const RANKING_KEYS: [&str; 2] = ["roc_auc_score", "average_precision_score"];

fn partial_key() -> String {
    format!("roc_auc_score@max_fpr={MAX_FPR}")
}
/// The k values of `top_k_accuracy_score@k=N` (each reported when k < classes).
pub const TOP_K: [usize; 3] = [2, 3, 5];
/// Most points kept per curve (evenly thinned; the metrics use all of them).
pub const CURVE_POINTS: usize = 400;

/// Probabilities are clipped to [eps, 1 - eps] (float64 eps) before the log, as sklearn.
fn clip_prob(p: f64) -> f64 {
    p.clamp(f64::EPSILON, 1.0 - f64::EPSILON)
}

/// The calibration bins' inner edges (`i / CALIBRATION_BINS`, i = 1..), then +inf (below no
/// confidence), which pairs an odd count of edges for [`class_row::count_below`] (an even count
/// leaves it out).
const EDGES: [f64; CALIBRATION_BINS] = {
    let step = 1.0 / CALIBRATION_BINS as f64;
    let mut e = [f64::INFINITY; CALIBRATION_BINS];
    let mut i = 1;
    while i < CALIBRATION_BINS {
        e[i - 1] = i as f64 * step;
        i += 1;
    }
    e
};

/// [`TOP_K`] as floats: a row's top-k flags are lane compares ([`class_row::below`]).
const TOP_K_BOUNDS: [f64; TOP_K.len()] = {
    let mut b = [0.0; TOP_K.len()];
    let mut i = 0;
    while i < TOP_K.len() {
        b[i] = TOP_K[i] as f64;
        i += 1;
    }
    b
};

/// The reliability-diagram bin of a confidence (sklearn `calibration_curve`'s uniform edges,
/// `np.searchsorted(inner_edges, p, side="left")`).
fn calibration_bin(p: f64) -> usize {
    // the edges ascend, so the edges below `p` are the first ones: counted without a branch
    class_row::count_below(&EDGES, p)
}

/// A reliability diagram: predictions binned by confidence into equal-width bins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// What the confidence is: the positive-class probability (binary) or the top-label
    /// probability against "the arg-max was right" (multiclass).
    pub kind: String,
    pub bins: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    /// Total sample weight in the bin (the row count when unweighted).
    pub weight: f64,
    pub mean_predicted: f64,
    pub fraction_positive: f64,
}

/// Equal-width bins of the reliability diagram (sklearn `calibration_curve`'s default
/// strategy; its bin edges and its rule that an edge value falls in the lower bin).
pub const CALIBRATION_BINS: usize = 10;

impl Calibration {
    /// From per-bin sums: total weight, weighted confidence, weighted outcome.
    pub fn from_sums(kind: &str, weight: &[f64], predicted: &[f64], positive: &[f64]) -> Self {
        let nb = CALIBRATION_BINS;
        let step = 1.0 / nb as f64;
        let edges: Vec<f64> = (0..=nb).map(|i| if i == nb { 1.0 } else { i as f64 * step }).collect();
        let bins = (0..nb)
            .map(|b| CalibrationBin {
                lower: edges[b],
                upper: edges[b + 1],
                weight: weight[b],
                mean_predicted: predicted[b] / weight[b],
                fraction_positive: positive[b] / weight[b],
            })
            .collect();
        Calibration { kind: kind.into(), bins }
    }

    /// ECE (bin-weight-averaged |accuracy - confidence|) and MCE (the largest gap).
    pub fn metrics(&self) -> MetricMap {
        let total: f64 = self.bins.iter().map(|b| b.weight).sum();
        let (mut ece, mut mce) = (0.0, f64::NAN);
        for b in self.bins.iter().filter(|b| b.weight > 0.0) {
            let gap = (b.fraction_positive - b.mean_predicted).abs();
            ece += b.weight / total * gap;
            mce = if mce.is_nan() { gap } else { mce.max(gap) };
        }
        let mut m = MetricMap::new();
        m.insert("expected_calibration_error".into(), num(if total > 0.0 { ece } else { f64::NAN }));
        m.insert("maximum_calibration_error".into(), num(mce));
        m
    }
}

pub struct ScoreReport {
    pub metrics: MetricMap,
    /// The scalar metrics of each bootstrap replicate.
    pub replicates: Vec<MetricMap>,
    pub curves: Vec<NamedCurve>,
    pub calibration: Option<Calibration>,
    /// DeLong's variance of the binary ROC-AUC (unweighted data only).
    pub delong: Option<f64>,
    /// Metrics at any threshold of the binary score.
    pub explorer: Option<ThresholdExplorer>,
    /// Set when the ranking metrics came from the binned sketch.
    pub sketch: Option<SketchInfo>,
}

/// ROC and precision-recall points for one class against the rest. Non-finite values (the
/// first threshold is +inf, rates are NaN when a class is absent) are `null` in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCurve {
    pub class: String,
    #[serde(deserialize_with = "nullable_f64s")]
    pub fpr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub tpr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub precision: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub recall: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub thresholds: Vec<f64>,
    pub auc: Option<f64>,
    pub average_precision: Option<f64>,
    /// The detection error tradeoff curve (sklearn's `det_curve`, thinned like the others);
    /// absent when a class is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub det: Option<DetCurve>,
}

/// sklearn's `det_curve(drop_intermediate=False)`: false positive and false negative rates
/// from the first threshold with no false positives to the first with no false negatives,
/// thresholds ascending (the first may be +inf, as `null`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetCurve {
    #[serde(deserialize_with = "nullable_f64s")]
    pub fpr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub fnr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub thresholds: Vec<f64>,
}

fn nullable_f64s<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// Cumulative weighted true/false positives at each distinct threshold, descending.
#[derive(Default)]
pub(crate) struct BinaryCurve {
    pub(crate) thresholds: Vec<f64>,
    pub(crate) tps: Vec<f64>,
    pub(crate) fps: Vec<f64>,
}

impl BinaryCurve {
    /// The next (descending) threshold, with the walk's totals once its tie group is in.
    fn push(&mut self, threshold: f64, at: &RocState) {
        self.thresholds.push(threshold);
        self.tps.push(at.tp);
        self.fps.push(at.fp);
    }

    /// The ROC and PR points, at most CURVE_POINTS of each (evenly spread, first and last
    /// kept), computed only where kept.
    pub(super) fn into_named(self, class: String, auc: f64, ap: f64) -> NamedCurve {
        let m = self.thresholds.len();
        let (p, n) = (self.tps.last().copied().unwrap_or(0.0), self.fps.last().copied().unwrap_or(0.0));
        let pick = |len: usize| -> Vec<usize> {
            if len <= CURVE_POINTS {
                (0..len).collect()
            } else {
                (0..CURVE_POINTS).map(|i| i * (len - 1) / (CURVE_POINTS - 1)).collect()
            }
        };
        // ROC points: (0, 0) at +inf, then one per threshold
        let (mut fpr, mut tpr, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
        for j in pick(m + 1) {
            if j == 0 {
                fpr.push(0.0);
                tpr.push(0.0);
                thresholds.push(f64::INFINITY);
            } else {
                let i = j - 1;
                fpr.push(if n > 0.0 { self.fps[i] / n } else { f64::NAN });
                tpr.push(if p > 0.0 { self.tps[i] / p } else { f64::NAN });
                thresholds.push(self.thresholds[i]);
            }
        }
        let (mut precision, mut recall) = (Vec::new(), Vec::new());
        for i in pick(m) {
            let pp = self.tps[i] + self.fps[i];
            precision.push(if pp > 0.0 { self.tps[i] / pp } else { 1.0 });
            recall.push(if p > 0.0 { self.tps[i] / p } else { 0.0 });
        }
        let det = self.det(&pick);
        NamedCurve {
            class,
            fpr,
            tpr,
            precision,
            recall,
            thresholds,
            auc: Some(auc).filter(|v| v.is_finite()),
            average_precision: Some(ap).filter(|v| v.is_finite()),
            det,
        }
    }

    /// The DET curve's points (at most those `pick` keeps).
    fn det(&self, pick: &dyn Fn(usize) -> Vec<usize>) -> Option<DetCurve> {
        let (p, n) = (self.tps.last().copied().unwrap_or(0.0), self.fps.last().copied().unwrap_or(0.0));
        if p <= 0.0 || n <= 0.0 {
            return None;
        }
        // index j over [+inf, thresholds...]: (tp, fp) = (0, 0) at j = 0; a threshold whose
        // rows all weigh zero is no point (sklearn drops zero-weight rows first)
        let at = |j: usize| {
            if j == 0 {
                (0.0, 0.0, f64::INFINITY)
            } else {
                (self.tps[j - 1], self.fps[j - 1], self.thresholds[j - 1])
            }
        };
        let points: Vec<usize> = (0..=self.thresholds.len())
            .filter(|&j| j == 0 || (at(j).0, at(j).1) != (at(j - 1).0, at(j - 1).1))
            .collect();
        // the last point whose fp is still the first one's (0), and the first with tp == p
        let first = points.iter().take_while(|&&j| at(j).1 <= 0.0).count().saturating_sub(1);
        let last = points.iter().position(|&j| at(j).0 >= p).unwrap_or(points.len() - 1);
        let span: Vec<usize> = points[first..=last].iter().rev().copied().collect();
        let (mut fpr, mut fnr, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
        for i in pick(span.len()) {
            let (tp, fp, t) = at(span[i]);
            fpr.push(fp / n);
            fnr.push((p - tp) / p);
            thresholds.push(t);
        }
        Some(DetCurve { fpr, fnr, thresholds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The branch-free count of edges below a confidence is the first edge at or above it.
    #[test]
    fn calibration_bins_are_searchsorted_left() {
        let step = 1.0 / CALIBRATION_BINS as f64;
        let edges: Vec<f64> = (1..CALIBRATION_BINS).map(|i| i as f64 * step).collect();
        let near = edges.iter().flat_map(|&e| [e, e.next_down(), e.next_up()]);
        let spread = (0..=2000).map(|i| f64::from(i) / 1000.0 - 0.5);
        for p in near.chain(spread).chain([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0]) {
            assert_eq!(calibration_bin(p), edges.iter().take_while(|&&e| e < p).count(), "{p}");
        }
    }

    /// A walk fed in pieces that split runs of tied scores anywhere gives the same numbers,
    /// bit for bit, as one piece: the sort may hand over a long run in several batches.
    #[test]
    fn walk_carries_tie_groups_across_batches() {
        let keys = KeyLookup::Offset(7);
        let weights: Vec<f64> = (0..40).map(|i| 0.5 + (i % 3) as f64).collect();
        for weights in [None, Some(&weights[..])] {
            let draws = DrawTable::new(Poisson::new(11), &keys, 40, 0, 4);
            let setup = WalkSetup { weights, decode: sort::f32_of_key, draws, whole: weights.is_none() };
            let items: Vec<Item> = (0..40u32)
                .map(|i| Item {
                    key: sort::desc_key_f32(
                        [0.9, 0.7, 0.7, 0.4, 0.1][(i as usize * 7 / 40).min(4)] - (i / 30) as f32 * 0.01,
                    ),
                    payload: i | if i % 3 == 0 { POSITIVE } else { 0 },
                })
                .collect();
            let totals = vec![(14.0, 26.0); 5];
            let run = |cuts: &[usize]| {
                let mut w = Walk::new(&setup, Some(&totals), true, weights.is_none());
                let mut at = 0;
                for &c in cuts.iter().chain([&items.len()]) {
                    w.feed(&items[at..c]);
                    at = c;
                }
                let r = w.finish();
                let states: Vec<[u64; 6]> =
                    r.states.iter().map(|s| [s.tp, s.fp, s.area, s.ap, s.partial, s.auc()].map(f64::to_bits)).collect();
                let c = r.curve.expect("recorded");
                (states, c.thresholds, c.tps, c.fps, r.delong.map(f64::to_bits))
            };
            let whole = run(&[]);
            assert!(whole.1.len() > 3, "distinct thresholds: {:?}", whole.1);
            for cut in 1..items.len() {
                assert_eq!(run(&[cut]), whole, "cut at {cut}");
            }
            assert_eq!(run(&(1..items.len()).collect::<Vec<_>>()), whole, "one item per batch");
        }
    }

    /// With unit weights and no partial AUC, negative rows' counts wait and add at once
    /// ([`RepStates::settle`]): the same sums, bit for bit, as adding each row's products.
    #[test]
    fn waiting_negatives_count_as_each_row_did() {
        let keys = KeyLookup::Offset(3);
        let items: Vec<Item> = (0..3000u32)
            .map(|i| Item {
                // runs of ties every 7th score, positives now and then
                key: sort::desc_key_f32(1.0 - (if i % 10 < 3 { i - i % 10 } else { i }) as f32 / 3000.0),
                payload: i | if i % 11 == 0 || i % 13 == 0 { POSITIVE } else { 0 },
            })
            .collect();
        let states = |whole: bool, ap: bool| {
            let draws = DrawTable::new(Poisson::new(5), &keys, 3000, 0, 33);
            let setup = WalkSetup { weights: None, decode: sort::f32_of_key, draws, whole };
            let mut w = Walk::new(&setup, None, false, false);
            if !ap {
                w = w.auc_only();
            }
            for batch in items.chunks(500) {
                w.feed(batch);
            }
            let r = w.finish();
            r.states.iter().map(|s| [s.tp, s.fp, s.area, s.ap].map(f64::to_bits)).collect::<Vec<_>>()
        };
        for ap in [true, false] {
            assert_eq!(states(true, ap), states(false, ap), "average precision {ap}");
        }
    }

    /// The counted multiclass walks give the general walks' report, bit for bit: ties within
    /// and across classes, tie runs longer than a sort batch, rows without a column, f32 and
    /// f64 scores, with and without curves, on one thread and two.
    #[test]
    fn counted_multiclass_walks_match_the_walks() {
        let classes: Vec<String> = ["b", "a", "d", "c"].map(String::from).to_vec();
        let k = classes.len();
        for (rows, steps, wide) in [(3000, 7.0, false), (3000, 1e6, true), (40_000, 60.0, true), (150_000, 2.0, false)]
        {
            let mut acc = ScoreAccumulator::per_class(&classes);
            for i in 0..rows {
                let u = |j: usize| {
                    let x = ((i * 8 + j) as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    ((x ^ x >> 29).wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut scores: Vec<f64> = (0..k).map(|j| (u(j) * steps).round() / steps).collect();
                if wide && i % 3 == 0 {
                    scores[i % k] += 1e-12;
                }
                let truth = if i % 9 == 4 { NO_COLUMN } else { (i * 7 % k) as u32 };
                acc.update(truth, &scores, 1.0, &[]);
            }
            assert!(acc.counted() && !acc.sketched());
            let keys = KeyLookup::Offset(0);
            let walk = WalkRows {
                rows,
                replicates: 0,
                poisson: Poisson::new(1),
                keys: &keys,
                weights: None,
                store: &acc.scores,
                budget: acc.budget,
                per_row: k,
            };
            for (full, threads) in [(true, 1), (false, 1), (true, 2)] {
                let want = acc.finish_multiclass(&walk, full, threads);
                let got = acc.multiclass_thinned(acc.multiclass_counted(full, threads));
                let json = |r: &ScoreReport| serde_json::to_string(&(&r.metrics, &r.curves)).expect("json");
                assert_eq!(json(&got), json(&want), "{rows} rows, {steps} steps, full {full}");
            }
        }
    }
}
