//! Lanes of a merge's sketching binned by workers that share no memory (the page's helper
//! workers). Past the score budget a merge hands its sketching to a [`SketchWork`]: the
//! sketches cut into lanes of columns, each lane binning every batch of rows (the store at the
//! switch, then each later chunk) in file order with the very `SketchSet::extend` call one
//! worker would make, so the lanes joined back are bit for bit the sketches one worker makes.
//! Natively threads share the lanes; in the page the merging worker bins the first and each
//! helper one more ([`SketchWork::remote`]). A helper gets its lane's empty sketches and then
//! every batch's rows, only its lane's columns, as bytes ([`Outbox`], in pieces of at most
//! [`PIECE_BYTES`], so that neither side holds a second copy of a big batch), bins each batch
//! once it is whole ([`LaneBins`]) and sends its sketches back for the join.
//!
//! A piece is `[u32 LE: header length][postcard header][truth: u32 LE a row][scores: f32 or
//! f64 LE, the lane's columns of each row][weights: f64 LE a row, if any]`; floats cross as
//! their bits. Lanes are remote only without replicates (`SketchWork::start` keeps one local
//! lane with them), so the rows' bootstrap keys need not cross.

use super::ranking::{Export, Labels, SketchWork, Store};
use super::sketch::SketchSet;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most bytes of one piece's rows (a 16 MiB chunk's rows take one or two).
pub const PIECE_BYTES: usize = 16 << 20;

/// A piece's header: rows `from..from + count` of batch `batch` (`rows` rows, `k` scores a
/// row of which the lane holds `width`), and with the lane's first piece its empty sketches.
#[derive(Serialize, Deserialize)]
struct Head {
    lane: u32,
    batch: u64,
    rows: u64,
    from: u64,
    count: u64,
    k: u32,
    width: u32,
    wide: bool,
    weighted: bool,
    set: Option<SketchSet>,
}

/// A remote lane's sketches as they come back.
#[derive(Serialize, Deserialize)]
struct Back {
    lane: u32,
    batches: u64,
    set: SketchSet,
}

fn damaged(what: &str) -> Error {
    Error::Runtime(format!("a lane's {what} is damaged"))
}

/// The merging side: the batches being sent, a remote lane each.
#[derive(Default)]
pub struct Outbox {
    sending: Vec<Option<(Export, usize)>>,
}

impl Outbox {
    /// The next piece for remote lane `lane` of `work`, if one waits: at most `most` bytes of
    /// rows (0: [`PIECE_BYTES`]; at least one row).
    pub fn next(&mut self, work: &SketchWork, lane: usize, most: usize) -> Option<Vec<u8>> {
        if self.sending.len() <= lane {
            self.sending.resize_with(lane + 1, || None);
        }
        if self.sending[lane].is_none() {
            self.sending[lane] = work.export(lane).map(|e| (e, 0));
        }
        let (export, at) = self.sending[lane].as_mut()?;
        let rows = &export.rows;
        let (n, k, width) = (rows.truth.len(), rows.k, export.cols.len());
        let wide = matches!(rows.scores, Store::F64(_));
        let weighted = rows.weights.is_some();
        let row_bytes = 4 + width * if wide { 8 } else { 4 } + if weighted { 8 } else { 0 };
        let from = *at;
        let most = if most == 0 { PIECE_BYTES } else { most };
        let count = (n - from).min((most / row_bytes).max(1));
        let head = Head {
            lane: lane as u32,
            batch: export.batch as u64,
            rows: n as u64,
            from: from as u64,
            count: count as u64,
            k: k as u32,
            width: width as u32,
            wide,
            weighted,
            set: export.set.take(),
        };
        let head = postcard::to_allocvec(&head).unwrap_or_default();
        let mut out = vec![0u8; 4 + head.len() + count * row_bytes];
        let (len, body) = out.split_at_mut(4);
        len.copy_from_slice(&(head.len() as u32).to_le_bytes());
        let (head_out, body) = body.split_at_mut(head.len());
        head_out.copy_from_slice(&head);
        let span = from..from + count;
        let (truth, body) = body.split_at_mut(count * 4);
        put(truth, &rows.truth[span.clone()], u32::to_le_bytes);
        let cols = export.cols.clone();
        let body = match &rows.scores {
            Store::F32(s) => put_rows(body, s, k, cols, span.clone(), f32::to_le_bytes),
            Store::F64(s) => put_rows(body, s, k, cols, span.clone(), f64::to_le_bytes),
        };
        if let Some(w) = &rows.weights {
            put(body, &w[span], f64::to_le_bytes);
        }
        *at += count;
        if *at >= n {
            self.sending[lane] = None;
        }
        Some(out)
    }

    /// Whether remote lane `lane` is in the middle of a batch.
    pub fn busy(&self, lane: usize) -> bool {
        self.sending.get(lane).is_some_and(Option::is_some)
    }

    /// Take remote lane `lane`'s sketches back (a [`LaneBins::finish`]'s bytes); every
    /// batch must have been sent.
    pub fn take_back(&self, work: &SketchWork, bytes: &[u8]) -> Result<()> {
        let back: Back = postcard::from_bytes(bytes).map_err(|_| damaged("sketches"))?;
        let lane = back.lane as usize;
        if self.busy(lane) {
            return Err(Error::Runtime(format!("lane {lane} came back in the middle of a batch")));
        }
        work.import(lane, back.set, back.batches as usize).map_err(Error::Runtime)
    }
}

/// A helper's lane: its sketches, the batches binned, and the batch being received.
pub struct LaneBins {
    lane: u32,
    set: SketchSet,
    batches: u64,
    filling: Option<Filling>,
}

/// A batch's rows as its pieces arrive (the lane's columns only: `width` a row).
struct Filling {
    rows: usize,
    k: usize,
    width: usize,
    truth: Vec<u32>,
    scores: Store,
    weights: Option<Vec<f64>>,
}

/// `n` little-endian values of `N` bytes from the front of `bytes`.
fn take<'a, const N: usize>(bytes: &mut &'a [u8], n: usize) -> Result<std::slice::ChunksExact<'a, u8>> {
    let len = n.checked_mul(N).filter(|&len| len <= bytes.len()).ok_or_else(|| damaged("rows"))?;
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(head.chunks_exact(N))
}

impl LaneBins {
    /// Take one piece ([`Outbox::next`]'s bytes): `lane` is what the helper holds (`None`
    /// before its first piece); a batch is binned once its last piece is in.
    pub fn take(lane: &mut Option<LaneBins>, bytes: &[u8]) -> Result<()> {
        let len = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let head_bytes = len.and_then(|len| bytes.get(4..4 + len)).ok_or_else(|| damaged("rows"))?;
        let head: Head = postcard::from_bytes(head_bytes).map_err(|_| damaged("rows"))?;
        let mut data = &bytes[4 + head_bytes.len()..];
        if let Some(set) = head.set {
            if lane.is_some() || head.batch != 0 || head.from != 0 {
                return Err(damaged("sketches"));
            }
            *lane = Some(LaneBins { lane: head.lane, set, batches: 0, filling: None });
        }
        let Some(me) = lane.as_mut() else { return Err(damaged("sketches")) };
        let (rows, count, width) = (head.rows as usize, head.count as usize, head.width as usize);
        if head.lane != me.lane || head.batch != me.batches || width != me.set.len() {
            return Err(Error::Runtime(format!("lane {}: batch {} came out of order", me.lane, head.batch)));
        }
        let f = me.filling.get_or_insert_with(|| Filling {
            rows,
            k: head.k as usize,
            width,
            truth: Vec::with_capacity(rows),
            scores: if head.wide {
                Store::F64(Vec::with_capacity(rows * width))
            } else {
                Store::F32(Vec::with_capacity(rows * width))
            },
            weights: head.weighted.then(|| Vec::with_capacity(rows)),
        });
        if f.rows != rows || f.truth.len() != head.from as usize || f.truth.len() + count > rows {
            return Err(Error::Runtime(format!("lane {}: batch {}'s rows came out of order", me.lane, head.batch)));
        }
        f.truth.extend(take::<4>(&mut data, count)?.map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        let values = count.checked_mul(width).ok_or_else(|| damaged("rows"))?;
        match (&mut f.scores, head.wide) {
            (Store::F32(s), false) => {
                s.extend(take::<4>(&mut data, values)?.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
            (Store::F64(s), true) => s.extend(take::<8>(&mut data, values)?.map(f64_le)),
            _ => return Err(damaged("rows")),
        }
        match &mut f.weights {
            Some(w) if head.weighted => w.extend(take::<8>(&mut data, count)?.map(f64_le)),
            None if !head.weighted => {}
            _ => return Err(damaged("rows")),
        }
        if !data.is_empty() {
            return Err(damaged("rows"));
        }
        if f.truth.len() == rows {
            if let Some(f) = me.filling.take() {
                f.bin(&mut me.set);
            }
            me.batches += 1;
        }
        Ok(())
    }

    /// The lane's sketches for the merging side ([`Outbox::take_back`]), every batch binned.
    pub fn finish(self) -> Result<Vec<u8>> {
        if self.filling.is_some() {
            return Err(Error::Runtime(format!("lane {}: a batch is not whole", self.lane)));
        }
        let back = Back { lane: self.lane, batches: self.batches, set: self.set };
        postcard::to_allocvec(&back).map_err(|e| Error::Runtime(format!("encoding lane {}: {e}", back.lane)))
    }
}

/// `values` into `out` as little-endian bytes.
fn put<T: Copy, const N: usize>(out: &mut [u8], values: &[T], le: fn(T) -> [u8; N]) {
    for (o, &v) in out.chunks_exact_mut(N).zip(values) {
        o.copy_from_slice(&le(v));
    }
}

/// Columns `cols` of rows `rows` (`k` values a row) into the front of `out`; the rest of it back.
fn put_rows<'a, T: Copy, const N: usize>(
    out: &'a mut [u8],
    values: &[T],
    k: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    le: fn(T) -> [u8; N],
) -> &'a mut [u8] {
    let width = cols.len();
    let (head, rest) = out.split_at_mut(rows.len() * width * N);
    for (o, r) in head.chunks_exact_mut(width * N).zip(rows) {
        put(o, &values[r * k + cols.start..r * k + cols.end], le);
    }
    rest
}

fn f64_le(b: &[u8]) -> f64 {
    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl Filling {
    /// The call the merging side's `SketchWork` makes for this lane (`StoredRows::bin`):
    /// the lane's columns of each row give the keys its columns of the whole row give.
    fn bin(self, set: &mut SketchSet) {
        let (k, width, truth) = (self.k, self.width, &self.truth);
        let keep = |i: usize| k == 1 || (truth[i] as usize) < k;
        let cells =
            |ids: &[usize], out: &mut [u64]| self.scores.row_keys(ids, width, 0..width, Labels::Rows(truth), out);
        // no replicates in a remote lane: no draws are asked for
        set.extend(truth.len(), &keep, &cells, self.weights.as_deref(), &mut |_, out| out.fill(0));
    }
}
