//! Confidence intervals: a seeded percentile bootstrap for every scalar metric, and the
//! analytic intervals where they exist (Wilson for proportions, DeLong for ROC-AUC).
//!
//! The bootstrap is a Poisson bootstrap: in replicate `b`, row `r` counts `Poisson(1)` times
//! (its weight is multiplied by that draw). Unlike drawing `n` rows with replacement, this
//! needs no second pass and no knowledge of `n`: every accumulator adds each row's replicate
//! weights as the row streams by, and merging two accumulators adds their replicate sums.
//! For large `n` the two resampling schemes give the same intervals (the multinomial counts
//! of the classic bootstrap are asymptotically independent Poisson(1) draws). The draw for
//! (row, replicate) is a pure function of the seed and the row's key (its global row
//! number), so the same file, options and seed give the same interval on every platform,
//! and a score pass at `finish` regenerates the very weights the streaming pass used.

use serde::{Deserialize, Serialize};

/// What the user asked for (CLI `--ci 0.95`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CiOptions {
    /// Two-sided coverage, in (0, 1).
    pub level: f64,
    /// Bootstrap replicates.
    pub replicates: usize,
    pub seed: u64,
}

impl Default for CiOptions {
    fn default() -> Self {
        CiOptions { level: 0.95, replicates: 200, seed: 0x5EED }
    }
}

impl CiOptions {
    pub fn level(level: f64) -> Self {
        CiOptions { level, ..Self::default() }
    }
}

/// One interval and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Bootstrap,
    Wilson,
    DeLong,
}

/// SplitMix64: tiny, fast, and the same sequence everywhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; the bias is below 2^-40 for any n we see).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// SplitMix64's output function: a bijective 64-bit mix.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// `P(X <= k)` of Poisson(1) in units of 2^-32, k = 0..12 (the tail past 12 is below 2^-32).
const POISSON1_CDF: [u32; 12] = poisson1_cdf();

const fn poisson1_cdf() -> [u32; 12] {
    let mut out = [0u32; 12];
    let mut term = 0.367_879_441_171_442_33; // e^-1
    let mut cdf = 0.0;
    let mut k = 0;
    while k < 12 {
        cdf += term;
        out[k] = (cdf * 4_294_967_296.0) as u32;
        term /= (k + 1) as f64;
        k += 1;
    }
    out
}

/// Poisson(1) by inversion of a uniform 32-bit draw (exact to 2^-32 in every probability):
/// the number of CDF steps at or below `u`. The definition; [`inverse`] gives the same number
/// by a table built from it ([`inverse_table`], hence `const`).
#[inline]
const fn poisson1(u: u32) -> u8 {
    let (mut n, mut k) = (0u8, 0);
    while k < POISSON1_CDF.len() {
        n += (u >= POISSON1_CDF[k]) as u8;
        k += 1;
    }
    n
}

/// Bits of a uniform below [`INVERSE`]'s index: 4,096 buckets of 2^20 values.
const BUCKET_BITS: u32 = 20;
/// An [`INVERSE`] entry whose bucket holds a CDF step: its uniforms take [`poisson1`].
const STEP: u8 = 0x80;

/// The inversion by the uniform's top 12 bits: the draw every uniform of that bucket gives,
/// or [`STEP`] for the 7 buckets (of 4,096) a CDF step falls inside (one each for steps 0 to
/// 5, the top bucket for steps 6 to 11).
static INVERSE: [u8; 1 << (32 - BUCKET_BITS)] = inverse_table();

const fn inverse_table() -> [u8; 1 << (32 - BUCKET_BITS)] {
    let mut out = [0u8; 1 << (32 - BUCKET_BITS)];
    let mut i = 0;
    while i < out.len() {
        let low = (i as u32) << BUCKET_BITS;
        let high = low | ((1 << BUCKET_BITS) - 1);
        let (at_low, at_high) = (poisson1(low), poisson1(high));
        // the draw is monotone in `u`: equal at a bucket's ends, it is equal throughout
        out[i] = if at_low == at_high { at_low } else { STEP };
        i += 1;
    }
    out
}

/// [`poisson1`] by one load of [`INVERSE`] (about 1 draw in 585 takes the twelve compares).
#[inline]
fn inverse(u: u32) -> u8 {
    match INVERSE[(u >> BUCKET_BITS) as usize] {
        STEP => poisson1(u),
        d => d,
    }
}

/// Draws made per batch of [`batch_draws`].
const DRAW_BATCH: usize = 64;

/// Draws `batch * DRAW_BATCH..` of the row whose hash base is `base` into `out` (at most
/// [`DRAW_BATCH`]): scalar 64-bit hashes (SSE2 and simd128 have no 64-bit multiply; the
/// vector version emulating it was half the time) and a table load per draw (where the
/// vectorised twelve compares were the other half).
#[inline]
fn batch_draws(base: u64, batch: usize, out: &mut [u8]) {
    let first = (batch * DRAW_BATCH / 2) as u64 + 1;
    let mut x = base.wrapping_add(first.wrapping_mul(GOLDEN));
    let mut pairs = out.chunks_exact_mut(2);
    for two in &mut pairs {
        let h = mix64(x);
        x = x.wrapping_add(GOLDEN);
        two[0] = inverse(h as u32);
        two[1] = inverse((h >> 32) as u32);
    }
    if let [last] = pairs.into_remainder() {
        *last = inverse(mix64(x) as u32);
    }
}

/// The Poisson bootstrap's replicate multiplicities, a pure function of (seed, row key,
/// replicate): two replicates per 64-bit hash. A row's weight in replicate `b` is its weight
/// times `draws[b]` (0..=12): accumulators keep the small integer draws and multiply as they
/// add, so a row's replicates cost a byte each wherever they wait.
#[derive(Debug, Clone, Copy)]
pub struct Poisson {
    seed: u64,
}

impl Poisson {
    pub fn new(seed: u64) -> Self {
        Poisson { seed: mix64(seed ^ 0x0B00_7578_AB5E_ED00) }
    }

    #[inline]
    fn row_base(&self, key: u64) -> u64 {
        mix64(self.seed.wrapping_add(key.wrapping_mul(GOLDEN)))
    }

    /// `out[b]` = row `key`'s multiplicity in replicate b, for every replicate.
    #[inline]
    pub fn draws(&self, key: u64, out: &mut [u8]) {
        let base = self.row_base(key);
        for (batch, chunk) in out.chunks_mut(DRAW_BATCH).enumerate() {
            batch_draws(base, batch, chunk);
        }
    }

    /// `out[b] = weight × (row `key`'s multiplicity in replicate b)` for every replicate.
    #[inline]
    pub fn fill(&self, key: u64, weight: f64, out: &mut [f64]) {
        let base = self.row_base(key);
        let mut d = [0u8; DRAW_BATCH];
        for (batch, chunk) in out.chunks_mut(DRAW_BATCH).enumerate() {
            let d = &mut d[..chunk.len()];
            batch_draws(base, batch, d);
            for (o, &k) in chunk.iter_mut().zip(d.iter()) {
                *o = weight * f64::from(k);
            }
        }
    }

    /// Row `key`'s multiplicity in replicate `b` alone (the same number `draws` gives).
    #[inline]
    pub fn draw(&self, key: u64, b: usize) -> u32 {
        let h = mix64(self.row_base(key).wrapping_add((b as u64 / 2 + 1).wrapping_mul(GOLDEN)));
        u32::from(inverse(if b.is_multiple_of(2) { h as u32 } else { (h >> 32) as u32 }))
    }
}

/// Every stored row's draws for one block of replicates, made once: the walks over an
/// accumulator's rows pass each row many times (a 10-class report about 38: its class walks,
/// the one-vs-one pair walks routed from them and the micro walk), and hashing a row's draws
/// afresh each time was most of an interval's cost. Two draws a byte (a draw is 0..=12): byte
/// `j` of a row holds the block's replicate `j` in its low nibble and `half + j` in its high
/// one, so unpacking is two straight loops.
#[derive(Debug, Clone, Default)]
pub struct DrawTable {
    first: usize,
    count: usize,
    half: usize,
    bytes: Vec<u8>,
    /// The largest sum of all rows' draws in one replicate.
    most: u64,
}

impl DrawTable {
    /// Rows `0..rows` (their keys from `keys`), replicates `first..first + count`.
    pub fn new(poisson: Poisson, keys: &KeyLookup, rows: usize, first: usize, count: usize) -> Self {
        let half = count.div_ceil(2);
        if half == 0 {
            return DrawTable::default();
        }
        let mut bytes = vec![0u8; rows * half];
        // an odd count's last high nibble stays 0
        let mut all = vec![0u8; first + 2 * half];
        let mut sums = vec![0u64; count];
        for (row, packed) in bytes.chunks_exact_mut(half).enumerate() {
            poisson.draws(keys.key(row), &mut all[..first + count]);
            for (s, &d) in sums.iter_mut().zip(&all[first..]) {
                *s += u64::from(d);
            }
            let (low, high) = all[first..].split_at(half);
            for ((p, &l), &h) in packed.iter_mut().zip(low).zip(high) {
                *p = l | h << 4;
            }
        }
        let most = sums.into_iter().max().unwrap_or(0);
        DrawTable { first, count, half, bytes, most }
    }

    /// The block's first replicate (0-based: the report's replicate `first + 1`).
    pub fn first(&self) -> usize {
        self.first
    }

    /// Replicates in the block.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The largest sum of all rows' draws in one of the block's replicates: a row of weight
    /// 1 counts at most that often in any replicate.
    pub fn most(&self) -> u64 {
        self.most
    }

    /// The packed draws of `rows`, one after another, into `out`: a walk's random reads of
    /// the table for a batch of rows in one short loop, where the CPU keeps many in flight,
    /// instead of one at each step of the walk, which waited for its cache miss (62% of the
    /// walks' time). A row past the table gets zeros: it counts in no replicate.
    pub fn gather(&self, rows: impl Iterator<Item = usize>, out: &mut Vec<u8>) {
        out.clear();
        for row in rows {
            match self.bytes.get(row * self.half..(row + 1) * self.half) {
                Some(packed) => out.extend_from_slice(packed),
                None => out.resize(out.len() + self.half, 0),
            }
        }
    }

    /// The `i`-th gathered row's draws in the block's replicates into `out[..count]`.
    #[inline]
    pub fn unpack(&self, gathered: &[u8], i: usize, out: &mut [u8]) {
        let len = self.count.min(out.len());
        let out = &mut out[..len];
        let packed = gathered.get(i * self.half..(i + 1) * self.half).unwrap_or(&[]);
        let (low, high) = out.split_at_mut(self.half.min(out.len()));
        for (o, &p) in low.iter_mut().zip(packed) {
            *o = p & 15;
        }
        for (o, &p) in high.iter_mut().zip(packed) {
            *o = p >> 4;
        }
    }
}

/// The blocks of replicates, `(first, count)`, whose draw tables of `rows` rows each hold at
/// most `bytes` (at least one replicate a block; one block `(0, 0)` without replicates).
/// Every walk passes all rows once per block, so the blocks are as few as the bytes allow
/// and of equal size.
pub fn draw_blocks(rows: usize, replicates: usize, bytes: usize) -> Vec<(usize, usize)> {
    if replicates == 0 {
        return vec![(0, 0)];
    }
    let per_block = (bytes / rows.max(1)).saturating_mul(2).clamp(1, replicates);
    let blocks = replicates.div_ceil(per_block);
    let size = replicates.div_ceil(blocks);
    (0..replicates).step_by(size).map(|first| (first, size.min(replicates - first))).collect()
}

/// The bootstrap key of each stored row: runs of consecutive keys, so a merged accumulator
/// knows which draws its rows had in the chunks they came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowKeys {
    /// (first row, its key) of each run.
    runs: Vec<(u64, u64)>,
    rows: u64,
}

impl RowKeys {
    pub fn push(&mut self, key: u64) {
        match self.runs.last() {
            Some(&(r, k)) if k.wrapping_add(self.rows - r) == key => {}
            _ => self.runs.push((self.rows, key)),
        }
        self.rows += 1;
    }

    pub fn merge(&mut self, other: &RowKeys) {
        for (i, &(r, k)) in other.runs.iter().enumerate() {
            let end = other.runs.get(i + 1).map_or(other.rows, |x| x.0);
            let start = self.rows;
            self.push(k);
            self.rows = start + (end - r);
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// A fast row -> key lookup.
    pub fn lookup(&self) -> KeyLookup {
        match self.runs.as_slice() {
            [] => KeyLookup::Offset(0),
            [(r, k)] => KeyLookup::Offset(k.wrapping_sub(*r)),
            runs => KeyLookup::Runs(runs.to_vec()),
        }
    }
}

pub enum KeyLookup {
    Offset(u64),
    /// (first row, its key) of each run of consecutive keys (a merge of chunks: a few
    /// dozen runs, searched rather than expanded to a key per row).
    Runs(Vec<(u64, u64)>),
}

impl KeyLookup {
    #[inline]
    pub fn key(&self, row: usize) -> u64 {
        match self {
            KeyLookup::Offset(o) => o.wrapping_add(row as u64),
            KeyLookup::Runs(runs) => {
                let row = row as u64;
                let i = runs.partition_point(|&(r, _)| r <= row).saturating_sub(1);
                runs.get(i).map_or(row, |&(r, k)| k.wrapping_add(row - r))
            }
        }
    }
}

/// `np.percentile` (linear interpolation) of sorted values at `q` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Percentile interval of the replicate values; `None` when fewer than half the replicates
/// gave a value (the metric is too often undefined to say anything).
pub fn percentile_interval(values: &mut Vec<f64>, replicates: usize, level: f64) -> Option<Interval> {
    values.retain(|v| v.is_finite());
    if values.is_empty() || values.len() * 2 < replicates {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0 * 100.0;
    Some(Interval {
        low: percentile_sorted(values, alpha),
        high: percentile_sorted(values, 100.0 - alpha),
        method: Method::Bootstrap,
    })
}

/// Wilson score interval for `successes` out of `n`.
pub fn wilson(successes: f64, n: f64, level: f64) -> Option<Interval> {
    if n <= 0.0 {
        return None;
    }
    let z = normal_quantile(0.5 + level / 2.0);
    let p = successes / n;
    let z2 = z * z;
    let den = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / den;
    Some(Interval { low: (center - half).max(0.0), high: (center + half).min(1.0), method: Method::Wilson })
}

/// Normal interval around an AUC with DeLong's variance, clipped to [0, 1].
pub fn delong(auc: f64, variance: f64, level: f64) -> Option<Interval> {
    if !auc.is_finite() || !variance.is_finite() || variance < 0.0 {
        return None;
    }
    let half = normal_quantile(0.5 + level / 2.0) * variance.sqrt();
    Some(Interval { low: (auc - half).max(0.0), high: (auc + half).min(1.0), method: Method::DeLong })
}

/// The complementary error function, Numerical Recipes' Chebyshev fit (relative error below
/// 1.2e-7 everywhere): enough for p-values and for ONNX's Erf at float32.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal quantile: Acklam's rational approximation (relative error below 1.2e-9,
/// far finer than any interval needs).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_known_values() {
        for (p, z) in
            [(0.975, 1.959_963_984_540_054), (0.995, 2.575_829_303_548_901), (0.5, 0.0), (0.9, 1.281_551_565_544_600_5)]
        {
            assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}: {}", normal_quantile(p));
        }
    }

    #[test]
    fn poisson_draws_have_mean_and_variance_one() {
        let p = Poisson::new(7);
        let mut out = vec![0.0; 8];
        let (mut s, mut s2, mut n) = (0.0, 0.0, 0.0);
        for key in 0..20_000u64 {
            p.fill(key, 1.0, &mut out);
            for (b, &x) in out.iter().enumerate() {
                assert_eq!(x, f64::from(p.draw(key, b)));
                s += x;
                s2 += x * x;
                n += 1.0;
            }
        }
        let mean = s / n;
        let var = s2 / n - mean * mean;
        assert!((mean - 1.0).abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
    }

    /// The draws as they were first defined (one hash per pair of replicates, twelve
    /// compares per draw): batching and vectorising must not change a single one.
    #[test]
    fn draws_equal_the_first_definition() {
        let p = Poisson::new(0x5EED);
        for len in [1, 2, 3, 63, 64, 65, 127, 200, 201] {
            for key in (0..300u64).chain([u64::MAX, 1 << 32, 7 << 32]) {
                let base = p.row_base(key);
                let want: Vec<u8> = (0..len)
                    .map(|b| {
                        let h = mix64(base.wrapping_add((b as u64 / 2 + 1).wrapping_mul(GOLDEN)));
                        let u = if b % 2 == 0 { h as u32 } else { (h >> 32) as u32 };
                        POISSON1_CDF.iter().filter(|&&t| u >= t).count() as u8
                    })
                    .collect();
                let mut got = vec![0u8; len];
                p.draws(key, &mut got);
                assert_eq!(got, want, "{len} draws of row {key}");
                let mut w = vec![0.0; len];
                p.fill(key, 0.5, &mut w);
                assert!(w.iter().zip(&want).all(|(&x, &d)| x == 0.5 * f64::from(d)), "fill of row {key}");
            }
        }
        // the tail of the inversion: every step of the CDF, and either side of it
        for (k, &t) in POISSON1_CDF.iter().enumerate() {
            assert_eq!((poisson1(t - 1), poisson1(t)), (k as u8, k as u8 + 1));
            assert_eq!((inverse(t - 1), inverse(t)), (k as u8, k as u8 + 1));
        }
        assert_eq!(poisson1(u32::MAX), 12);
        // the table: both ends of every bucket (the draw is monotone, so a bucket equal at
        // its ends is equal throughout, and one with a step inside takes the compares)
        let mut steps = 0;
        for (i, &d) in INVERSE.iter().enumerate() {
            let low = (i as u32) << BUCKET_BITS;
            let high = low | ((1 << BUCKET_BITS) - 1);
            assert_eq!((inverse(low), inverse(high)), (poisson1(low), poisson1(high)), "bucket {i}");
            steps += usize::from(d == STEP);
        }
        assert_eq!(steps, 7, "the buckets a step falls inside");
    }

    /// A draw table unpacks to the draws themselves, in any block; blocks cover every
    /// replicate once within their bytes.
    #[test]
    fn draw_tables_hold_the_draws() {
        let p = Poisson::new(0x5EED);
        let keys = KeyLookup::Runs(vec![(0, 5), (40, 1 << 40)]);
        for (first, count) in [(0, 200), (0, 1), (3, 7), (64, 65), (199, 1)] {
            let table = DrawTable::new(p, &keys, 90, first, count);
            let mut all = vec![0u8; first + count];
            let mut got = vec![0u8; count];
            let most = (first..first + count)
                .map(|b| (0..90).map(|row| u64::from(p.draw(keys.key(row), b))).sum::<u64>())
                .max()
                .unwrap_or(0);
            assert_eq!(table.most(), most, "block {first}+{count}");
            let mut gathered = Vec::new();
            let rows = [3, 0, 89, 40, 90, 39];
            table.gather(rows.into_iter(), &mut gathered);
            for (i, row) in rows.into_iter().enumerate() {
                p.draws(keys.key(row), &mut all);
                table.unpack(&gathered, i, &mut got);
                if row < 90 {
                    assert_eq!(got, all[first..], "row {row}, block {first}+{count}");
                } else {
                    assert!(got.iter().all(|&d| d == 0), "a row past the table counts nowhere");
                }
            }
        }
        for (rows, reps, bytes) in [(1000, 200, 1 << 20), (1000, 200, 30_000), (1000, 7, 1), (0, 5, 0)] {
            let blocks = draw_blocks(rows, reps, bytes);
            let mut next = 0;
            for &(first, count) in &blocks {
                assert_eq!(first, next, "{blocks:?}");
                assert!(
                    count >= 1 && (rows * count.div_ceil(2) <= bytes || count == 1),
                    "{rows} {reps} {bytes}: {blocks:?}"
                );
                next += count;
            }
            assert_eq!(next, reps, "{blocks:?}");
        }
        assert_eq!(draw_blocks(10, 0, 0), vec![(0, 0)], "no replicates: one pass");
        assert_eq!(draw_blocks(1000, 200, 1 << 20), vec![(0, 200)]);
        assert_eq!(draw_blocks(1000, 200, 30_000), vec![(0, 50), (50, 50), (100, 50), (150, 50)]);
    }

    #[test]
    fn row_keys_survive_merges() {
        let (mut a, mut b) = (RowKeys::default(), RowKeys::default());
        for k in 0..3 {
            a.push(k);
        }
        for k in 10..12 {
            b.push(k);
        }
        a.merge(&b);
        let l = a.lookup();
        assert_eq!((0..5).map(|r| l.key(r)).collect::<Vec<_>>(), vec![0, 1, 2, 10, 11]);
    }

    #[test]
    fn wilson_matches_reference() {
        // the Wilson formula evaluated in Python with statistics.NormalDist
        let i = wilson(8.0, 10.0, 0.95).expect("interval");
        assert!((i.low - 0.490_162_471_536_641_8).abs() < 1e-9, "{}", i.low);
        assert!((i.high - 0.943_317_848_545_624_7).abs() < 1e-9, "{}", i.high);
    }
}
