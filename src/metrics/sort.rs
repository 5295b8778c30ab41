//! Scores in descending order for the ranking metrics, in bounded memory.
//!
//! Every ROC/PR curve is a walk over rows by descending score. Scores map to `u64` keys whose
//! ascending order is the scores' descending order, so a least-significant-digit radix sort
//! (digits that are the same in every key are skipped: f32 scores cost four passes) does the
//! ordering in linear time. Past [`BATCH_ITEMS`] items (the micro-averaged curve has rows x
//! classes of them), items are gathered in key-range batches from a histogram of the top 16
//! key bits, so the extra memory stays bounded while the walk still sees one global order.
//!
//! This is the entry point a GPU sort can replace: [`sort_items`] takes and returns plain
//! (key, payload) pairs.

/// One thing to rank: its key (see [`desc_key_f64`]) and a caller-defined payload (a row
/// index, with the positive-class flag in bit 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub key: u64,
    pub payload: u32,
}

/// Flag bit in [`Item::payload`] for a positive row.
pub const POSITIVE: u32 = 1 << 31;

/// Most items sorted in one piece (64 MiB of items plus as much scratch).
pub const BATCH_ITEMS: usize = 1 << 22;

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

/// Sort by key, ascending (LSD radix, 8-bit digits, constant digits skipped). `scratch` is
/// reused between calls.
pub fn sort_items(items: &mut Vec<Item>, scratch: &mut Vec<Item>) {
    let n = items.len();
    if n < 256 {
        items.sort_unstable_by_key(|i| i.key);
        return;
    }
    let mut hist = vec![[0usize; 256]; 8];
    for it in items.iter() {
        for (d, h) in hist.iter_mut().enumerate() {
            h[((it.key >> (8 * d)) & 0xFF) as usize] += 1;
        }
    }
    scratch.clear();
    scratch.resize(n, Item { key: 0, payload: 0 });
    for (d, h) in hist.iter().enumerate() {
        if h.contains(&n) {
            continue;
        }
        let mut offsets = [0usize; 256];
        let mut sum = 0;
        for (o, &c) in offsets.iter_mut().zip(h.iter()) {
            *o = sum;
            sum += c;
        }
        for it in items.iter() {
            let digit = ((it.key >> (8 * d)) & 0xFF) as usize;
            scratch[offsets[digit]] = *it;
            offsets[digit] += 1;
        }
        std::mem::swap(items, scratch);
    }
}

/// Call `f` on all `n` items in ascending key order, in one or more consecutive batches
/// (items with equal keys are always in the same batch).
pub fn for_each_sorted(n: usize, key: impl Fn(usize) -> u64, payload: impl Fn(usize) -> u32, f: impl FnMut(&[Item])) {
    for_each_sorted_in(n, BATCH_ITEMS, key, payload, f);
}

fn for_each_sorted_in(
    n: usize,
    limit: usize,
    key: impl Fn(usize) -> u64,
    payload: impl Fn(usize) -> u32,
    mut f: impl FnMut(&[Item]),
) {
    let (mut items, mut scratch) = (Vec::new(), Vec::new());
    if n <= limit {
        items.extend((0..n).map(|i| Item { key: key(i), payload: payload(i) }));
        sort_items(&mut items, &mut scratch);
        f(&items);
        return;
    }
    let bucket = |k: u64| (k >> 48) as usize;
    let mut hist = vec![0usize; 1 << 16];
    for i in 0..n {
        hist[bucket(key(i))] += 1;
    }
    let mut lo = 0;
    while lo < hist.len() {
        let (mut hi, mut count) = (lo, 0);
        while hi < hist.len() && (count == 0 || count + hist[hi] <= limit) {
            count += hist[hi];
            hi += 1;
        }
        if count > 0 {
            items.clear();
            for i in 0..n {
                let k = key(i);
                if (lo..hi).contains(&bucket(k)) {
                    items.push(Item { key: k, payload: payload(i) });
                }
            }
            sort_items(&mut items, &mut scratch);
            f(&items);
        }
        lo = hi;
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

    #[test]
    fn radix_and_batches_match_a_comparison_sort() {
        let n = 5000;
        let score = |i: usize| ((i * 7919) % 1013) as f32 / 1013.0 - 0.3;
        let mut want: Vec<u64> = (0..n).map(|i| desc_key_f32(score(i))).collect();
        want.sort_unstable();
        let mut got = Vec::new();
        for limit in [BATCH_ITEMS, 300] {
            got.clear();
            let mut batches = 0;
            for_each_sorted_in(
                n,
                limit,
                |i| desc_key_f32(score(i)),
                |i| i as u32,
                |b| {
                    batches += 1;
                    got.extend(b.iter().map(|it| it.key))
                },
            );
            assert_eq!(got, want);
            assert!(limit > n || batches > 1);
        }
        let mut items: Vec<Item> =
            (0..n).map(|i| Item { key: desc_key_f64(f64::from(score(i))), payload: 0 }).collect();
        sort_items(&mut items, &mut Vec::new());
        assert!(items.windows(2).all(|w| w[0].key <= w[1].key));
    }
}
