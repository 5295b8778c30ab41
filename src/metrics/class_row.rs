//! One per-class row's scan for the streamed sums ([`super::ranking`]): its Brier sum, how many
//! classes rank above the true one (top-k), the first arg-max and its confidence, and whether
//! every score lies in [0, 1]; two classes at a time in 128-bit lanes (SSE2 natively, x86-64's
//! baseline; simd128 in the page's wasm; plain pairs elsewhere).
//!
//! Why: one class at a time, the loop spent ~35 instructions a class, with a branch on the
//! true class's position (random, so mispredicted about once a row). Lane-wise compares and
//! selects give the same bits: the Brier terms are made lane-wise but added one at a time in
//! class-rank order, as before; the other results are counts and selects.

#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::*;

    pub type V = __m128d;
    pub type M = __m128d;
    /// Counts of set lanes: each lane's count minus its mask (-1 where set).
    pub type C = __m128i;

    /// Inlined wrappers of SSE2 intrinsics, which x86-64's baseline has.
    macro_rules! sse2 {
        ($($(#[$doc:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $body:expr;)*) => {$(
            $(#[$doc])*
            #[inline(always)]
            pub fn $name($($a: $t),*) -> $r {
                // SAFETY: SSE2 is part of x86-64's baseline
                unsafe { $body }
            }
        )*};
    }

    sse2! {
        fn splat(x: f64) -> V = _mm_set1_pd(x);
        fn pair(a: f64, b: f64) -> V = _mm_set_pd(b, a);
        fn add(a: V, b: V) -> V = _mm_add_pd(a, b);
        fn sub(a: V, b: V) -> V = _mm_sub_pd(a, b);
        fn mul(a: V, b: V) -> V = _mm_mul_pd(a, b);
        fn gt(a: V, b: V) -> M = _mm_cmpgt_pd(a, b);
        fn ge(a: V, b: V) -> M = _mm_cmpge_pd(a, b);
        fn le(a: V, b: V) -> M = _mm_cmple_pd(a, b);
        fn eq(a: V, b: V) -> M = _mm_cmpeq_pd(a, b);
        fn and(a: M, b: M) -> M = _mm_and_pd(a, b);
        fn or(a: M, b: M) -> M = _mm_or_pd(a, b);
        /// All lanes set.
        fn all() -> M = _mm_castsi128_pd(_mm_set1_epi64x(-1));
        /// The first lane set.
        fn first() -> M = _mm_castsi128_pd(_mm_set_epi64x(0, -1));
        fn not(m: M) -> M = _mm_xor_pd(m, all());
        /// `v` where `m` is set, else +0.0 (`v` = 1.0: the mask as a 0/1 count).
        fn masked(m: M, v: V) -> V = _mm_and_pd(m, v);
        fn select(m: M, a: V, b: V) -> V = _mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, b));
        /// Lane `i`'s flag as bit `i`.
        fn bits(m: M) -> i32 = _mm_movemask_pd(m);
        fn lanes(v: V) -> [f64; 2] = [_mm_cvtsd_f64(v), _mm_cvtsd_f64(_mm_unpackhi_pd(v, v))];
        /// The lanes swapped.
        fn swap(v: V) -> V = _mm_shuffle_pd::<1>(v, v);
        /// `a > b ? a : b` lane-wise (`b` when either is NaN or both are zeros).
        fn max(a: V, b: V) -> V = _mm_max_pd(a, b);
        fn zeros() -> C = _mm_setzero_si128();
        fn count(c: C, m: M) -> C = _mm_sub_epi64(c, _mm_castpd_si128(m));
        fn total(c: C) -> u64 = (_mm_cvtsi128_si64(c) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(c, c))) as u64;
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    pub type V = v128;
    pub type M = v128;

    #[inline(always)]
    pub fn splat(x: f64) -> V {
        f64x2_splat(x)
    }
    #[inline(always)]
    pub fn pair(a: f64, b: f64) -> V {
        f64x2(a, b)
    }
    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        f64x2_add(a, b)
    }
    #[inline(always)]
    pub fn sub(a: V, b: V) -> V {
        f64x2_sub(a, b)
    }
    #[inline(always)]
    pub fn mul(a: V, b: V) -> V {
        f64x2_mul(a, b)
    }
    #[inline(always)]
    pub fn gt(a: V, b: V) -> M {
        f64x2_gt(a, b)
    }
    #[inline(always)]
    pub fn ge(a: V, b: V) -> M {
        f64x2_ge(a, b)
    }
    #[inline(always)]
    pub fn le(a: V, b: V) -> M {
        f64x2_le(a, b)
    }
    #[inline(always)]
    pub fn eq(a: V, b: V) -> M {
        f64x2_eq(a, b)
    }
    #[inline(always)]
    pub fn and(a: M, b: M) -> M {
        v128_and(a, b)
    }
    #[inline(always)]
    pub fn or(a: M, b: M) -> M {
        v128_or(a, b)
    }
    #[inline(always)]
    pub fn all() -> M {
        i64x2_splat(-1)
    }
    #[inline(always)]
    pub fn first() -> M {
        i64x2(-1, 0)
    }
    #[inline(always)]
    pub fn not(m: M) -> M {
        v128_not(m)
    }
    #[inline(always)]
    pub fn masked(m: M, v: V) -> V {
        v128_and(m, v)
    }
    #[inline(always)]
    pub fn select(m: M, a: V, b: V) -> V {
        v128_bitselect(a, b, m)
    }
    #[inline(always)]
    pub fn bits(m: M) -> i32 {
        i32::from(i64x2_bitmask(m))
    }
    #[inline(always)]
    pub fn lanes(v: V) -> [f64; 2] {
        [f64x2_extract_lane::<0>(v), f64x2_extract_lane::<1>(v)]
    }
    #[inline(always)]
    pub fn swap(v: V) -> V {
        i64x2_shuffle::<1, 0>(v, v)
    }
    #[inline(always)]
    pub fn max(a: V, b: V) -> V {
        // pmax(b, a) = b < a ? a : b
        f64x2_pmax(b, a)
    }
    pub type C = v128;
    #[inline(always)]
    pub fn zeros() -> C {
        i64x2_splat(0)
    }
    #[inline(always)]
    pub fn count(c: C, m: M) -> C {
        i64x2_sub(c, m)
    }
    #[inline(always)]
    pub fn total(c: C) -> u64 {
        (i64x2_extract_lane::<0>(c) + i64x2_extract_lane::<1>(c)) as u64
    }
}

#[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
mod lanes {
    pub type V = [f64; 2];
    pub type M = [bool; 2];

    fn map(a: V, b: V, f: impl Fn(f64, f64) -> f64) -> V {
        [f(a[0], b[0]), f(a[1], b[1])]
    }
    fn test(a: V, b: V, f: impl Fn(f64, f64) -> bool) -> M {
        [f(a[0], b[0]), f(a[1], b[1])]
    }
    pub fn splat(x: f64) -> V {
        [x, x]
    }
    pub fn pair(a: f64, b: f64) -> V {
        [a, b]
    }
    pub fn add(a: V, b: V) -> V {
        map(a, b, |x, y| x + y)
    }
    pub fn sub(a: V, b: V) -> V {
        map(a, b, |x, y| x - y)
    }
    pub fn mul(a: V, b: V) -> V {
        map(a, b, |x, y| x * y)
    }
    pub fn gt(a: V, b: V) -> M {
        test(a, b, |x, y| x > y)
    }
    pub fn ge(a: V, b: V) -> M {
        test(a, b, |x, y| x >= y)
    }
    pub fn le(a: V, b: V) -> M {
        test(a, b, |x, y| x <= y)
    }
    pub fn eq(a: V, b: V) -> M {
        test(a, b, |x, y| x == y)
    }
    pub fn and(a: M, b: M) -> M {
        [a[0] & b[0], a[1] & b[1]]
    }
    pub fn or(a: M, b: M) -> M {
        [a[0] | b[0], a[1] | b[1]]
    }
    pub fn all() -> M {
        [true, true]
    }
    pub fn first() -> M {
        [true, false]
    }
    pub fn not(m: M) -> M {
        [!m[0], !m[1]]
    }
    pub fn masked(m: M, v: V) -> V {
        select(m, v, [0.0, 0.0])
    }
    pub fn select(m: M, a: V, b: V) -> V {
        [if m[0] { a[0] } else { b[0] }, if m[1] { a[1] } else { b[1] }]
    }
    pub fn bits(m: M) -> i32 {
        i32::from(m[0]) | i32::from(m[1]) << 1
    }
    pub fn lanes(v: V) -> [f64; 2] {
        v
    }
    pub fn swap(v: V) -> V {
        [v[1], v[0]]
    }
    pub fn max(a: V, b: V) -> V {
        map(a, b, |x, y| if x > y { x } else { y })
    }
    pub type C = [u64; 2];
    pub fn zeros() -> C {
        [0, 0]
    }
    pub fn count(c: C, m: M) -> C {
        [c[0] + u64::from(m[0]), c[1] + u64::from(m[1])]
    }
    pub fn total(c: C) -> u64 {
        c[0] + c[1]
    }
}

use lanes::*;

/// What a row's scores give its per-class sums (see [`scan`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RowScan {
    /// Σ (score - [class is the truth])², in class-rank order.
    pub brier: f64,
    /// Classes ranked above the true one (sklearn's tie rule: a tied class of a greater rank
    /// ranks above).
    pub above: usize,
    /// Every score lies in [0, 1].
    pub unit: bool,
    /// The first arg-max's score (-inf when no score is above it).
    pub conf: f64,
    /// 1.0 when the first arg-max (rank 0 when no score is above -inf) is the true class,
    /// else 0.0.
    pub correct: f64,
}

/// A row's scan: `pairs` its scores two at a time in class-rank order, then `tail` (the last
/// one of an odd count); `t_rank` the true class's rank and `st` its score.
#[inline(always)]
pub(super) fn scan(pairs: impl Iterator<Item = V>, tail: Option<f64>, t_rank: usize, st: f64) -> RowScan {
    let (stv, tv, one, two) = (splat(st), splat(t_rank as f64), splat(1.0), splat(2.0));
    let (mut rv, mut unit, mut brier, mut above) = (pair(0.0, 1.0), all(), 0.0, zeros());
    let (mut conf, mut best) = (splat(f64::NEG_INFINITY), splat(0.0));
    // `valid`: the lanes that hold a score (the tail's second does not)
    let mut step = |sc: V, valid: M, both: bool| {
        unit = and(unit, or(and(ge(sc, splat(0.0)), le(sc, one)), not(valid)));
        let d = sub(sc, masked(eq(rv, tv), one));
        let [a, b] = lanes(mul(d, d));
        brier += a;
        if both {
            brier += b;
        }
        above = count(above, and(or(gt(sc, stv), and(eq(sc, stv), gt(rv, tv))), valid));
        let top = and(gt(sc, conf), valid);
        // the first greater score: `top`'s select, as `max` keeps `conf` on NaN and ties
        conf = if both { max(sc, conf) } else { select(top, sc, conf) };
        best = select(top, rv, best);
        rv = add(rv, two);
    };
    for sc in pairs {
        step(sc, all(), true);
    }
    if let Some(sc) = tail {
        step(pair(sc, 0.0), first(), false);
    }
    // each lane holds the first arg-max of its ranks (never NaN): lane 0 takes the other's
    // when it is greater, or equal at an earlier rank
    let (cs, bs) = (swap(conf), swap(best));
    let other = or(gt(cs, conf), and(eq(cs, conf), gt(best, bs)));
    let (conf, best) = (select(other, cs, conf), select(other, bs, best));
    RowScan {
        brier,
        above: total(above) as usize,
        unit: bits(unit) == 3,
        conf: lanes(conf)[0],
        correct: lanes(masked(eq(best, tv), one))[0],
    }
}

/// 1.0 where `x` is below a bound, else 0.0 (lane compares: a select between 1.0 and 0.0
/// compiles to a branch).
#[inline(always)]
pub(super) fn below<const N: usize>(x: f64, bounds: &[f64; N]) -> [f64; N] {
    let (xv, one) = (splat(x), splat(1.0));
    let mut out = [0.0; N];
    for (o, b) in out.chunks_mut(2).zip(bounds.chunks(2)) {
        let flags = lanes(masked(gt(pair(b[0], b.get(1).copied().unwrap_or(f64::NEG_INFINITY)), xv), one));
        o.copy_from_slice(&flags[..o.len()]);
    }
    out
}

/// How many of `edges` lie below `p`, two at a time (a last odd one is not looked at).
#[inline(always)]
pub(super) fn count_below(edges: &[f64], p: f64) -> usize {
    let pv = splat(p);
    total(edges.chunks_exact(2).fold(zeros(), |c, e| count(c, gt(pv, pair(e[0], e[1]))))) as usize
}

/// Scores `row` (class-rank order) two at a time, and the last of an odd count.
#[inline(always)]
pub(super) fn in_order(row: &[f64]) -> (impl Iterator<Item = V> + '_, Option<f64>) {
    let pairs = row.chunks_exact(2);
    let tail = pairs.remainder().first().copied();
    (pairs.map(|p| pair(p[0], p[1])), tail)
}

/// Scores `s(c)` of the columns `by_rank` (class-rank order) two at a time, and the last of an
/// odd count.
#[inline(always)]
pub(super) fn gathered<'a>(
    by_rank: &'a [usize],
    s: impl Fn(usize) -> f64 + Copy + 'a,
) -> (impl Iterator<Item = V> + 'a, Option<f64>) {
    let pairs = by_rank.chunks_exact(2);
    let tail = pairs.remainder().first().map(|&c| s(c));
    (pairs.map(move |p| pair(s(p[0]), s(p[1]))), tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-class-at-a-time loop the scan replaces.
    fn reference(row: &[f64], t_rank: usize) -> RowScan {
        let st = row[t_rank];
        let (mut brier, mut above, mut unit, mut best, mut conf) = (0.0, 0, true, 0, f64::NEG_INFINITY);
        for (r, &sc) in row.iter().enumerate() {
            unit &= (0.0..=1.0).contains(&sc);
            brier += (sc - f64::from(u8::from(r == t_rank))).powi(2);
            above += usize::from((sc > st) | ((sc == st) & (r > t_rank)));
            if sc > conf {
                (best, conf) = (r, sc);
            }
        }
        RowScan { brier, above, unit, conf, correct: f64::from(u8::from(best == t_rank)) }
    }

    #[test]
    fn scan_matches_the_class_loop_bit_for_bit() {
        let specials = [0.0, -0.0, 1.0, 0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.25, 1.5, 0.1, 0.2];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..200_000 {
            let k = 1 + (next() % 13) as usize;
            let row: Vec<f64> = (0..k)
                .map(|_| {
                    let r = next();
                    match (r % 4, case % 3) {
                        (0, _) | (_, 0) => specials[(r >> 8) as usize % specials.len()],
                        _ => (r >> 11) as f64 / (1u64 << 53) as f64,
                    }
                })
                .collect();
            let t_rank = (next() % k as u64) as usize;
            let want = reference(&row, t_rank);
            let (pairs, tail) = in_order(&row);
            let got = scan(pairs, tail, t_rank, row[t_rank]);
            let ids: Vec<usize> = (0..k).collect();
            let (pairs, tail) = gathered(&ids, |c| row[c]);
            let via = scan(pairs, tail, t_rank, row[t_rank]);
            for g in [got, via] {
                assert_eq!(g.brier.to_bits(), want.brier.to_bits(), "{row:?} {t_rank}");
                assert_eq!(g.conf.to_bits(), want.conf.to_bits(), "{row:?} {t_rank}");
                assert_eq!(g.correct.to_bits(), want.correct.to_bits(), "{row:?} {t_rank}");
                assert_eq!((g.above, g.unit), (want.above, want.unit), "{row:?} {t_rank}");
            }
        }
    }
}
