//! Scores in descending order for the ranking metrics, in linear time.
//!
//! Every ROC/PR curve is a walk over rows by descending score. Scores map to `u64` keys whose
//! ascending order is the scores' descending order, so radix sorts (digits that are the same
//! in every key are skipped) do the ordering in linear time. Big inputs (the micro-averaged
//! curve has rows x classes items) are scattered once into buckets of their top 16 key bits,
//! 8 bytes an item for f32 scores; each bucket is then sorted on its own and handed over in key
//! order ([`for_each_sorted`]).
//!
//! This is the entry point a GPU sort can replace: [`sort_items`] takes and returns plain
//! (key, payload) pairs.

use std::ops::Range;

/// One thing to rank: its key (see [`desc_key_f64`]) and a caller-defined payload (a row
/// index, with the positive-class flag in bit 31).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Item {
    pub key: u64,
    pub payload: u32,
}

/// Flag bit in [`Item::payload`] for a positive row.
pub const POSITIVE: u32 = 1 << 31;

/// Most items sorted in one piece: a bucket with more is split on its next 16 key bits first
/// (the sort's scratch holds at most this many items).
pub const BATCH_ITEMS: usize = 1 << 22;

/// Most bytes of items scattered into buckets per scan of the keys (more items take more scans).
const PASS_BYTES: usize = 1 << 28;

/// Most items handed to the caller per call.
const CHUNK_ITEMS: usize = 1 << 16;

/// Below this many items everything is sorted in one piece (no bucket pass).
const ONE_PIECE: usize = 1 << 16;

/// Key bits a bucket pass looks at.
const BUCKET_BITS: u32 = 16;

/// A key whose ascending order is the descending order of `s` (`-0.0` equals `0.0`, as
/// scikit-learn's tie grouping has it).
#[inline]
pub fn desc_key_f64(s: f64) -> u64 {
    let b = (s + 0.0).to_bits();
    let asc = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    !asc
}

/// [`desc_key_f64`] for an f32 score: the f32's own bits in the high half, so the low four
/// radix digits are constant and skipped.
#[inline]
pub fn desc_key_f32(s: f32) -> u64 {
    let b = (s + 0.0).to_bits();
    let asc = if b >> 31 == 1 { !b } else { b | (1 << 31) };
    u64::from(!asc) << 32
}

/// The f64 score a [`desc_key_f64`] key came from.
pub fn f64_of_key(key: u64) -> f64 {
    let asc = !key;
    f64::from_bits(if asc >> 63 == 1 { asc & !(1 << 63) } else { !asc })
}

/// The f32 score (as f64) a [`desc_key_f32`] key came from.
pub fn f32_of_key(key: u64) -> f64 {
    let asc = !((key >> 32) as u32);
    f64::from(f32::from_bits(if asc >> 31 == 1 { asc & !(1 << 31) } else { !asc }))
}

/// Sort by key, ascending (LSD radix, 8-bit digits, constant digits skipped; at most
/// `u32::MAX` items). `scratch` is reused between calls.
pub fn sort_items(items: &mut [Item], scratch: &mut Vec<Item>) {
    if items.len() < 256 {
        items.sort_unstable_by_key(|i| i.key);
        return;
    }
    radix(items, scratch, 0..8);
}

/// Sort by key, ascending, items with equal keys kept in their given order (LSD radix, 8-bit
/// digits, constant digits skipped; at most `u32::MAX` items). `scratch` is reused between
/// calls.
pub fn sort_items_stable(items: &mut [Item], scratch: &mut Vec<Item>) {
    radix(items, scratch, 0..8);
}

/// Sort plain `u64`s by their bits `lo..64` (`lo < 64`), equal ones kept in their given
/// order: a packed `key << lo | index` item sorts by key with its index alone below, 8 bytes
/// an item. 11-bit digits (a key of up to 22 varying bits takes two passes); at most
/// `u32::MAX` items.
pub fn sort_u64_above(items: &mut [u64], scratch: &mut Vec<u64>, lo: u32) {
    lsd::<u64, 11>(items, scratch, lo..64);
}

/// Stable LSD radix sort of `items` on key bytes `digits` (the others are equal in every
/// item); `scratch` is reused between calls.
fn radix<T: Packed>(items: &mut [T], scratch: &mut Vec<T>, digits: Range<usize>) {
    lsd::<T, 8>(items, scratch, 8 * digits.start as u32..8 * digits.end as u32);
}

/// Stable LSD radix sort of `items` by key bits `bits` (those above are equal in every item,
/// those below are left in their given order), `DIGIT` bits a pass, digits that are the same
/// in every item skipped; at most `u32::MAX` items.
fn lsd<T: Keyed, const DIGIT: u32>(items: &mut [T], scratch: &mut Vec<T>, bits: Range<u32>) {
    let radix = 1usize << DIGIT;
    let n = items.len();
    let lo = bits.start;
    if bits.is_empty() {
        return;
    }
    if n <= 64 {
        // cheaper than the histograms for a handful of items
        insertion(items, lo);
        return;
    }
    // the digits that vary: one cheap pass, then histograms of those alone
    let first = items[0].key();
    let varying = items.iter().fold(0, |a, it| a | (it.key() ^ first));
    let (mut shifts, mut m) = ([0u32; 8], 0);
    for sh in bits.step_by(DIGIT as usize) {
        if (varying >> sh) & (radix as u64 - 1) != 0 {
            shifts[m] = sh;
            m += 1;
        }
    }
    let shifts = &shifts[..m];
    let mut hist = vec![0u32; m * radix];
    for it in items.iter() {
        let k = it.key();
        for (d, &sh) in shifts.iter().enumerate() {
            hist[d * radix + ((k >> sh) as usize & (radix - 1))] += 1;
        }
    }
    if scratch.len() < n {
        scratch.resize(n, T::default());
    }
    let scratch = &mut scratch[..n];
    let mut in_scratch = false;
    for (d, &sh) in shifts.iter().enumerate() {
        let next = &mut hist[d * radix..(d + 1) * radix];
        let mut sum = 0;
        for c in next.iter_mut() {
            (*c, sum) = (sum, sum + *c);
        }
        let (src, dst): (&[T], &mut [T]) = if in_scratch { (&*scratch, &mut *items) } else { (&*items, &mut *scratch) };
        for it in src {
            let b = (it.key() >> sh) as usize & (radix - 1);
            dst[next[b] as usize] = *it;
            next[b] += 1;
        }
        in_scratch = !in_scratch;
    }
    if in_scratch {
        items.copy_from_slice(scratch);
    }
}

/// Stable insertion sort of `items` by key bits `lo..` (those below left in their given
/// order): cheaper than a radix pass's histograms for a handful of items.
fn insertion<T: Keyed>(items: &mut [T], lo: u32) {
    for i in 1..items.len() {
        let it = items[i];
        let mut j = i;
        while j > 0 && items[j - 1].key() >> lo > it.key() >> lo {
            items[j] = items[j - 1];
            j -= 1;
        }
        items[j] = it;
    }
}

/// Past this many key bits left to sort, a bucket is sorted most significant digit first
/// ([`msd`]) rather than by [`lsd`]'s pass per byte: an f64 score's bucket has 48 bits left
/// (six passes), where one digit of about log2(items) bits leaves runs of an item or two.
const MSD_BITS: usize = 24;

/// Runs of at most this many items are insertion-sorted.
const INSERTION: usize = 24;

/// Stable sort of `items` by key bits `bits` (those above are equal in every item, those
/// below left in their given order), most significant digit first: the varying bits' top
/// digit of about log2(items) bits is counted and scattered (stably, through `scratch`,
/// at least as long as `items`), then each run of one digit is sorted the same way on the
/// bits below, and runs of a few items by insertion.
fn msd<T: Keyed>(items: &mut [T], scratch: &mut [T], bits: Range<u32>) {
    let n = items.len();
    if bits.is_empty() || n < 2 {
        return;
    }
    let below = |x: u64| if bits.end >= 64 { x } else { x & ((1u64 << bits.end) - 1) };
    let lo = bits.start;
    if n <= INSERTION {
        // (the bits above `bits` are the same in every item: they do not reorder them)
        insertion(items, lo);
        return;
    }
    let first = items[0].key();
    let varying = below(items.iter().fold(0, |a, it| a | (it.key() ^ first))) >> lo << lo;
    if varying == 0 {
        return;
    }
    let hi = 64 - varying.leading_zeros();
    let width = (usize::BITS - n.leading_zeros()).clamp(4, 16).min(hi - lo);
    let sh = hi - width;
    let mask = (1usize << width) - 1;
    let mut starts = vec![0u32; mask + 2];
    for it in items.iter() {
        starts[((it.key() >> sh) as usize & mask) + 1] += 1;
    }
    for d in 0..=mask {
        starts[d + 1] += starts[d];
    }
    let mut next = starts.clone();
    let scratch = &mut scratch[..n];
    for it in items.iter() {
        let d = (it.key() >> sh) as usize & mask;
        scratch[next[d] as usize] = *it;
        next[d] += 1;
    }
    items.copy_from_slice(scratch);
    for w in starts.windows(2) {
        let run = w[0] as usize..w[1] as usize;
        if run.len() > 1 {
            msd(&mut items[run.clone()], &mut scratch[run], lo..sh);
        }
    }
}

/// Call `f` on all `n` items in ascending key order (equal keys in ascending index order), in
/// one or more consecutive batches of at most 2^16 items. A batch may end inside a run of equal
/// keys, so a consumer carries an open tie group into the next batch.
pub fn for_each_sorted(n: usize, key: impl Fn(usize) -> u64, payload: impl Fn(usize) -> u32, f: impl FnMut(&[Item])) {
    for_each_sorted_in(n, BATCH_ITEMS, PASS_BYTES, key, payload, f);
}

/// [`for_each_sorted`] with `limit` items sorted in one piece at most.
///
/// Past [`ONE_PIECE`] items: one scan counts the items per value of the top 16 key bits, a
/// second writes every item, in index order, into its bucket (a stable counting scatter), then
/// each bucket in key order is LSD-sorted on its remaining varying key bytes and handed over.
/// A bucket past `limit` items is split again on its next 16 key bits first. Items are 8 bytes
/// (the key's high half and the payload) when every key's low half is zero, as for f32 scores,
/// else 16. The scatter holds at most `pass_bytes` of items (whole buckets): more items take
/// one more scan of the keys per `pass_bytes` (10^8 f32 items with 256 MiB: 3 scans), where
/// key-range batches of 4 M items took one scan per batch (25).
fn for_each_sorted_in(
    n: usize,
    limit: usize,
    pass_bytes: usize,
    key: impl Fn(usize) -> u64,
    payload: impl Fn(usize) -> u32,
    mut f: impl FnMut(&[Item]),
) {
    if n <= limit.min(ONE_PIECE) {
        let mut items: Vec<Item> = (0..n).map(|i| Item { key: key(i), payload: payload(i) }).collect();
        sort_items(&mut items, &mut Vec::new());
        f(&items);
        return;
    }
    let shift = 64 - BUCKET_BITS;
    let (starts, low) = histogram(n, &key, shift);
    let lowest = low.trailing_zeros() as usize / 8;
    if lowest >= 4 {
        sort_packed::<Key32>(limit, pass_bytes, lowest, key, payload, &starts, f);
    } else {
        sort_packed::<Item>(limit, pass_bytes, lowest, key, payload, &starts, f);
    }
}

/// The bucket passes of [`for_each_sorted_in`] with items stored as `T` (`starts`: the
/// top-16-bit bucket bounds of all the items).
fn sort_packed<T: Packed>(
    limit: usize,
    pass_bytes: usize,
    lowest: usize,
    key: impl Fn(usize) -> u64,
    payload: impl Fn(usize) -> u32,
    starts: &[usize],
    mut f: impl FnMut(&[Item]),
) {
    let limit = limit.max(1);
    let e: Emitter<'_, T, _> =
        Emitter { f: &mut f, limit, chunk: limit.min(CHUNK_ITEMS), lowest, out: Vec::new(), scratch: Vec::new() };
    let n = starts[starts.len() - 1];
    e.passes(n, |i| T::pack(key(i), payload(i)), &key, starts, pass_bytes);
}

/// Something [`lsd`] sorts: its key.
trait Keyed: Copy + Default {
    fn key(&self) -> u64;
}

impl Keyed for u64 {
    #[inline]
    fn key(&self) -> u64 {
        *self
    }
}

/// A sort item as the bucket pass stores it.
trait Packed: Keyed {
    fn pack(key: u64, payload: u32) -> Self;
    fn item(&self) -> Item;
}

impl Keyed for Item {
    #[inline]
    fn key(&self) -> u64 {
        self.key
    }
}

impl Packed for Item {
    #[inline]
    fn pack(key: u64, payload: u32) -> Self {
        Item { key, payload }
    }
    #[inline]
    fn item(&self) -> Item {
        *self
    }
}

/// An item whose key's low half is zero (an f32 score's key): 8 bytes instead of 16.
#[derive(Debug, Clone, Copy, Default)]
struct Key32 {
    high: u32,
    payload: u32,
}

impl Keyed for Key32 {
    #[inline]
    fn key(&self) -> u64 {
        u64::from(self.high) << 32
    }
}

impl Packed for Key32 {
    #[inline]
    fn pack(key: u64, payload: u32) -> Self {
        Key32 { high: (key >> 32) as u32, payload }
    }
    #[inline]
    fn item(&self) -> Item {
        Item { key: self.key(), payload: self.payload }
    }
}

/// Bucket starts (one more than the buckets) of the `n` keys `key(0..n)` by key bits
/// `shift..shift + 16`, and all keys ORed together.
fn histogram(n: usize, key: impl Fn(usize) -> u64, shift: u32) -> (Vec<usize>, u64) {
    let mut starts = vec![0usize; (1 << BUCKET_BITS) + 1];
    let mut low = 0;
    for i in 0..n {
        let k = key(i);
        low |= k;
        starts[((k >> shift) as usize & ((1 << BUCKET_BITS) - 1)) + 1] += 1;
    }
    for b in 0..1 << BUCKET_BITS {
        starts[b + 1] += starts[b];
    }
    (starts, low)
}

/// The items among `item(0..n)` whose key bits `shift..shift + 16` fall in `buckets`, grouped
/// by those bits (bounds from [`histogram`]), each group in index order.
fn scatter<T: Packed>(
    n: usize,
    item: impl Fn(usize) -> T,
    key: impl Fn(usize) -> u64,
    shift: u32,
    starts: &[usize],
    buckets: Range<usize>,
) -> Vec<T> {
    let base = starts[buckets.start];
    let mut next: Vec<usize> = starts[buckets.clone()].iter().map(|s| s - base).collect();
    let mut out = vec![T::default(); starts[buckets.end] - base];
    for i in 0..n {
        let b = (key(i) >> shift) as usize & ((1 << BUCKET_BITS) - 1);
        if buckets.contains(&b) {
            let at = &mut next[b - buckets.start];
            out[*at] = item(i);
            *at += 1;
        }
    }
    out
}

/// Sorts buckets of items and hands them to the caller in key order, in chunks.
struct Emitter<'a, T, F> {
    f: &'a mut F,
    limit: usize,
    /// Most items per hand-over.
    chunk: usize,
    /// The lowest key byte that is not zero in every key (f32 keys: 4).
    lowest: usize,
    /// Sorted items not yet handed over.
    out: Vec<Item>,
    scratch: Vec<T>,
}

impl<T: Packed, F: FnMut(&[Item])> Emitter<'_, T, F> {
    /// All `n` items by their top-16-bit buckets (bounds in `starts`), in key order: the
    /// buckets go in passes of at most `pass_bytes` of items (or one bucket), each pass one
    /// scan of all keys.
    fn passes(
        mut self,
        n: usize,
        item: impl Fn(usize) -> T,
        key: impl Fn(usize) -> u64,
        starts: &[usize],
        pass_bytes: usize,
    ) {
        let per_pass = (pass_bytes / std::mem::size_of::<T>()).max(1);
        let mut lo = 0;
        while lo < 1 << BUCKET_BITS {
            let mut hi = lo + 1;
            while hi < 1 << BUCKET_BITS && starts[hi + 1] - starts[lo] <= per_pass {
                hi += 1;
            }
            if starts[hi] > starts[lo] {
                let mut items = scatter(n, &item, &key, 64 - BUCKET_BITS, starts, lo..hi);
                let local: Vec<usize> = starts[lo..=hi].iter().map(|s| s - starts[lo]).collect();
                self.each(&mut items, &local, BUCKET_BITS);
            }
            lo = hi;
        }
        self.flush();
    }

    fn each(&mut self, items: &mut [T], starts: &[usize], fixed: u32) {
        for w in starts.windows(2) {
            if w[0] < w[1] {
                self.bucket(&mut items[w[0]..w[1]], fixed);
            }
        }
    }

    fn bucket(&mut self, items: &mut [T], fixed: u32) {
        let top = (64 - fixed) as usize / 8;
        if items.len() <= self.limit || top <= self.lowest {
            // past the limit here every key is the same: the run goes over in pieces
            let bits = 8 * self.lowest.min(top) as u32..8 * top as u32;
            for piece in items.chunks_mut(self.limit) {
                if bits.len() > MSD_BITS {
                    if self.scratch.len() < piece.len() {
                        self.scratch.resize(piece.len(), T::default());
                    }
                    msd(piece, &mut self.scratch, bits.clone());
                } else {
                    radix(piece, &mut self.scratch, self.lowest.min(top)..top);
                }
                self.push(piece);
            }
            return;
        }
        let shift = 64 - fixed - BUCKET_BITS;
        let (starts, _) = histogram(items.len(), |j| items[j].key(), shift);
        let mut split = scatter(items.len(), |j| items[j], |j| items[j].key(), shift, &starts, 0..1 << BUCKET_BITS);
        self.each(&mut split, &starts, fixed + BUCKET_BITS);
    }

    fn push(&mut self, sorted: &[T]) {
        if !self.out.is_empty() && self.out.len() + sorted.len() > self.chunk {
            self.flush();
        }
        for part in sorted.chunks(self.chunk) {
            self.out.extend(part.iter().map(Packed::item));
            if self.out.len() >= self.chunk {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            (self.f)(&self.out);
            self.out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_scores_descending_and_round_trip() {
        let s = [3.5, -1.0, 0.0, -0.0, 1e-300, f64::INFINITY, -2.5e10, 0.25];
        let mut by_key: Vec<f64> = s.to_vec();
        by_key.sort_by_key(|&x| desc_key_f64(x));
        for w in by_key.windows(2) {
            assert!(w[0] >= w[1], "{by_key:?}");
        }
        for &x in &s {
            assert_eq!(f64_of_key(desc_key_f64(x)), x + 0.0);
            let f = x as f32;
            assert_eq!(f32_of_key(desc_key_f32(f)), f64::from(f + 0.0));
        }
        assert_eq!(desc_key_f64(0.0), desc_key_f64(-0.0));
    }

    /// Every path (one piece, buckets, buckets split again, runs of one key in pieces, f32
    /// and f64 keys) hands over exactly what a stable comparison sort gives, payloads too.
    #[test]
    fn buckets_match_a_stable_comparison_sort() {
        let f32_ties = |i: usize| desc_key_f32(((i * 7919) % 1013) as f32 / 1013.0 - 0.3);
        let f64_wide =
            |i: usize| desc_key_f64(((i * 2_654_435_761) % 1_000_003) as f64 * 10f64.powi((i % 9) as i32 - 4) - 3e4);
        // every key in one top-16-bit bucket: that bucket is split on the next bits
        let narrow = |i: usize| desc_key_f32(0.5 + ((i * 40_503) % 4099) as f32 * 2f32.powi(-22));
        let one_key = |_: usize| desc_key_f32(0.25);
        let cases: [(&str, &dyn Fn(usize) -> u64); 4] =
            [("f32 ties", &f32_ties), ("f64 wide", &f64_wide), ("narrow", &narrow), ("one key", &one_key)];
        for (name, key) in cases {
            let sizes = [
                (5000, BATCH_ITEMS, PASS_BYTES),
                (5000, 300, PASS_BYTES),
                (5000, 7, 1000),
                (70_000, BATCH_ITEMS, PASS_BYTES),
            ];
            for (n, limit, pass_bytes) in sizes.into_iter().chain([(70_000, 1000, 100_000), (70_000, 1 << 20, 1)]) {
                let payload = |i: usize| (i as u32).wrapping_mul(2_654_435_761) >> 1;
                let mut want: Vec<Item> = (0..n).map(|i| Item { key: key(i), payload: payload(i) }).collect();
                want.sort_by_key(|it| it.key);
                let (mut got, mut batches) = (Vec::new(), 0);
                for_each_sorted_in(n, limit, pass_bytes, key, payload, |b| {
                    batches += 1;
                    assert!(b.len() <= limit.min(CHUNK_ITEMS), "{name}: batch of {}", b.len());
                    got.extend_from_slice(b);
                });
                assert!(got == want, "{name}: n {n}, limit {limit}, pass bytes {pass_bytes}");
                assert!(limit >= n || batches > 1, "{name}: n {n}, limit {limit}: {batches} batch");
            }
        }
        let mut items: Vec<Item> = (0..5000).map(|i| Item { key: f64_wide(i), payload: i as u32 }).collect();
        let mut want = items.clone();
        want.sort_by_key(|it| it.key);
        sort_items(&mut items, &mut Vec::new());
        assert_eq!(items, want);
    }

    /// [`msd`] against a stable sort by the key bits sorted on: spread, clustered, tied and
    /// narrow keys, f32-like keys (low half zero), bit ranges not starting at 0.
    #[test]
    fn msd_sorts_stably_by_its_bits() {
        let mix = |i: u64| {
            let x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (x ^ x >> 31).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        };
        let cases: [(&str, &dyn Fn(u64) -> u64); 5] = [
            ("spread", &|i| mix(i)),
            ("clustered", &|i| mix(i % 37) & !0xFFFF | mix(i) & 0xFF),
            ("tied", &|i| mix(i % 5)),
            ("narrow", &|i| 0x3FE0_0000_0000_0000 | mix(i) >> 40),
            ("f32", &|i| mix(i) >> 36 << 32),
        ];
        for (name, key) in cases {
            for n in [0, 1, 2, 23, 24, 25, 300, 5000, 70_000] {
                for bits in [0..64, 8..48, 32..64, 16..40] {
                    let items: Vec<Item> = (0..n).map(|i| Item { key: key(i), payload: i as u32 }).collect();
                    let field = |k: u64| {
                        let k = if bits.end >= 64 { k } else { k & ((1 << bits.end) - 1) };
                        k >> bits.start
                    };
                    let mut want = items.clone();
                    want.sort_by_key(|it| field(it.key));
                    // the bits above the range are equal in every item as the callers have them
                    let mut got: Vec<Item> = items.clone();
                    got.sort_by_key(|it| if bits.end >= 64 { 0 } else { it.key >> bits.end });
                    let above = |it: &Item| if bits.end >= 64 { 0 } else { it.key >> bits.end };
                    let mut at = 0;
                    while at < got.len() {
                        let end = at + got[at..].iter().take_while(|it| above(it) == above(&got[at])).count();
                        msd(&mut got[at..end], &mut vec![Item::default(); end - at], bits.clone());
                        at = end;
                    }
                    want.sort_by_key(|it| above(it));
                    assert!(got == want, "{name}: {n} items, bits {bits:?}");
                }
            }
        }
    }

    /// `sort_u64_above(items, lo)` against a stable sort by `x >> lo`.
    fn check_above(items: &[u64], lo: u32) {
        let mut want = items.to_vec();
        want.sort_by_key(|x| x >> lo);
        let mut got = items.to_vec();
        sort_u64_above(&mut got, &mut Vec::new(), lo);
        assert!(got == want, "{} items above bit {lo}", items.len());
    }

    #[test]
    fn u64s_sort_by_their_high_bits_stably() {
        let mixed = |n: u64, bits: u32| -> Vec<u64> {
            (0..n).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) << 20 | (n - i)).collect()
        };
        for (n, bits) in [(0, 8), (1, 8), (64, 30), (65, 30), (3000, 11), (3000, 22), (3000, 33), (20_000, 44)] {
            let items = mixed(n, bits);
            for lo in [0, 20, 25, 63] {
                check_above(&items, lo);
            }
        }
        check_above(&[7 << 40; 500], 40);
    }
}
