//! The numbers of a delimited record, parsed 16 bytes at a time with SIMD, two fields a step.
//!
//! A predictions file's numbers nearly all have one shape, `[-+]W.F` with a few digits, and a
//! scalar parser pays a branch on their lengths (which vary row to row) and ~100 instructions
//! a number. Here one 16-byte load ending at the field's end, one shuffle that drops the dot
//! (a table row per dot position), a mask of the field's lanes, a digit check and two
//! multiply-adds give the field's four 4-digit groups; two fields' groups are then joined in
//! one register (a multiply-add, a 32x32-bit multiply) into two integers below 10^15, made
//! doubles exactly by the 2^52 exponent trick and divided by their powers of ten at once:
//! Clinger's exact fast path (both operands exact below 2^53, so each quotient is correctly
//! rounded: bit for bit what fast-float2 and std give; a minus sign divides by -10^f, which
//! rounds the same). Anything else (integers, exponents, more than 15 digits, text, spaces)
//! is left to the scalar parser ([`super::columns::parse_f64`]).
//!
//! The loads read bytes before the field: a [`super::Record`] from a delimited line keeps
//! [`super::PAD`] bytes of room on both sides (and says so: `padded`), so its fields need no
//! bounds check each. x86-64 uses SSSE3 (`pshufb`, `pmaddubsw`) when the CPU has it (found at
//! run time: the release baseline is SSE2); wasm32 uses simd128 when built with it (the
//! page's build is); elsewhere the scalar parser does all.

use super::columns::parse_f64;

/// The divisors: `10^f`, then `-10^f` (index `f + 16` for a minus sign).
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
const DIVISORS: [f64; 32] = {
    let mut t = [0.0; 32];
    let mut p = 1.0;
    let mut f = 0;
    while f < 16 {
        t[f] = p;
        t[f + 16] = -p;
        p *= 10.0;
        f += 1;
    }
    t
};

/// `SHUFFLE[p]`: the 16-byte window with the dot at lane `p` removed, the lanes before it
/// moved up one (lane 0 becomes zero: index 0x80 reads as 0 in `pshufb` and `swizzle`).
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
const SHUFFLE: [[u8; 16]; 16] = {
    let mut t = [[0u8; 16]; 16];
    let mut p = 0;
    while p < 16 {
        let mut j = 0;
        while j < 16 {
            t[p][j] = if j == 0 {
                0x80
            } else if j <= p {
                (j - 1) as u8
            } else {
                j as u8
            };
            j += 1;
        }
        p += 1;
    }
    t
};

/// 16 bytes loaded from `HIGH[n - 1..]`: all ones in lanes `17 - n..` (a field of `n` bytes
/// with its dot, once the shuffle has dropped the dot), zero below.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
const HIGH: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 16;
    while i < 32 {
        t[i] = 0xFF;
        i += 1;
    }
    t
};

/// Field `(a, b)` as sign and unsigned length `n` (2..=16) when it may be the shape. Needs
/// `a` inside the bytes at `p`.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
unsafe fn frame(p: *const u8, a: usize, b: usize) -> Option<(bool, usize)> {
    // SAFETY: the caller's
    let first = unsafe { *p.add(a) };
    let neg = first == b'-';
    let n = b.wrapping_sub(a + usize::from(neg | (first == b'+')));
    if n.wrapping_sub(2) > 14 {
        return None;
    }
    Some((neg, n))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    pub type Groups = __m128i;

    /// One field's four 4-digit groups (most significant first) and its divisor's index in
    /// `DIVISORS`, or `None` when it is not the shape (see the module doc).
    ///
    /// # Safety
    /// SSSE3; `p` readable from `b - 16` to `b`, and at `a` (`a <= b`, or `a` readable).
    #[target_feature(enable = "ssse3")]
    #[inline]
    pub unsafe fn groups(p: *const u8, a: usize, b: usize) -> Option<(Groups, usize)> {
        // SAFETY: the caller's
        let (neg, n) = unsafe { super::frame(p, a, b) }?;
        // SAFETY: the caller's; the tables are 16 bytes a row, `HIGH` 32 from `n - 1 <= 15`
        unsafe {
            let v = _mm_loadu_si128(p.add(b - 16).cast());
            // the field's lanes are 16 - n.., the bytes before it are another field's
            let dots = (_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8))) as u32) >> (16 - n);
            if dots == 0 {
                return None;
            }
            // the dot's lane (below 16: `& 15` only spares a bounds check)
            let at = 16 - n + dots.trailing_zeros() as usize;
            let table = _mm_loadu_si128(super::SHUFFLE[at & 15].as_ptr().cast());
            let keep = _mm_loadu_si128(super::HIGH.as_ptr().add(n - 1).cast());
            let d = _mm_and_si128(_mm_sub_epi8(_mm_shuffle_epi8(v, table), _mm_set1_epi8(b'0' as i8)), keep);
            let over = _mm_subs_epu8(d, _mm_set1_epi8(9));
            if _mm_movemask_epi8(_mm_cmpeq_epi8(over, _mm_setzero_si128())) != 0xFFFF {
                return None;
            }
            let pairs = _mm_maddubs_epi16(d, _mm_set1_epi16(0x010A));
            Some((_mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064)), 15 - at + 16 * usize::from(neg)))
        }
    }

    /// Two fields' numbers from their groups and divisors, written to `out[0]` and `out[1]`.
    ///
    /// # Safety
    /// SSSE3; `out` writable for two `f64`s; `i`, `j` below 32.
    #[target_feature(enable = "ssse3")]
    #[inline]
    pub unsafe fn two(x: Groups, i: usize, y: Groups, j: usize, out: *mut f64) {
        // groups <= 9999: as i16, then [x0 x1 + x2 x3 | y0 y1 + y2 y3] by 10^4, in 32 bits
        let halves = _mm_madd_epi16(_mm_packs_epi32(x, y), _mm_set1_epi32(0x0001_2710));
        // each 64-bit lane: its low half times 10^8 plus its high half (< 10^15 < 2^52)
        let m = _mm_add_epi64(_mm_mul_epu32(halves, _mm_set1_epi64x(100_000_000)), _mm_srli_epi64(halves, 32));
        let magic = _mm_set1_pd(4_503_599_627_370_496.0);
        let m = _mm_sub_pd(_mm_or_pd(_mm_castsi128_pd(m), magic), magic);
        // SAFETY: the caller's
        unsafe {
            let d = _mm_set_pd(*super::DIVISORS.get_unchecked(j), *super::DIVISORS.get_unchecked(i));
            _mm_storeu_pd(out, _mm_div_pd(m, d));
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    pub type Groups = v128;

    /// One field's four 4-digit groups and its divisor's index (see `x86::groups`).
    ///
    /// # Safety
    /// `p` readable from `b - 16` to `b`, and at `a`.
    #[inline(always)]
    pub unsafe fn groups(p: *const u8, a: usize, b: usize) -> Option<(Groups, usize)> {
        // SAFETY: the caller's
        let (neg, n) = unsafe { super::frame(p, a, b) }?;
        // SAFETY: the caller's; the tables are 16 bytes a row, `HIGH` 32 from `n - 1 <= 15`
        let (v, keep) = unsafe { (v128_load(p.add(b - 16).cast()), v128_load(super::HIGH.as_ptr().add(n - 1).cast())) };
        let dots = u32::from(u8x16_bitmask(u8x16_eq(v, u8x16_splat(b'.')))) >> (16 - n);
        if dots == 0 {
            return None;
        }
        // the dot's lane (below 16: `& 15` only spares a bounds check)
        let at = 16 - n + dots.trailing_zeros() as usize;
        // SAFETY: a row is 16 bytes
        let table = unsafe { v128_load(super::SHUFFLE[at & 15].as_ptr().cast()) };
        let d = v128_and(u8x16_sub(u8x16_swizzle(v, table), u8x16_splat(b'0')), keep);
        if v128_any_true(u8x16_sub_sat(d, u8x16_splat(9))) {
            return None;
        }
        let tens = i16x8(10, 1, 10, 1, 10, 1, 10, 1);
        let low = i32x4_dot_i16x8(u16x8_extend_low_u8x16(d), tens);
        let high = i32x4_dot_i16x8(u16x8_extend_high_u8x16(d), tens);
        let pairs = i16x8_narrow_i32x4(low, high);
        let groups = i32x4_dot_i16x8(pairs, i16x8(100, 1, 100, 1, 100, 1, 100, 1));
        Some((groups, 15 - at + 16 * usize::from(neg)))
    }

    /// Two fields' numbers from their groups and divisors (see `x86::two`).
    ///
    /// # Safety
    /// `out` writable for two `f64`s; `i`, `j` below 32.
    #[inline(always)]
    pub unsafe fn two(x: Groups, i: usize, y: Groups, j: usize, out: *mut f64) {
        let halves = i32x4_dot_i16x8(i16x8_narrow_i32x4(x, y), i16x8(10_000, 1, 10_000, 1, 10_000, 1, 10_000, 1));
        // [x high, y high] times 10^8 plus [x low, y low], in 64 bits
        let high = i32x4_shuffle::<0, 2, 0, 2>(halves, halves);
        let low = i32x4_shuffle::<1, 3, 1, 3>(halves, halves);
        let m = i64x2_add(u64x2_extmul_low_u32x4(high, u32x4_splat(100_000_000)), u64x2_extend_low_u32x4(low));
        let magic = f64x2_splat(4_503_599_627_370_496.0);
        let m = f64x2_sub(v128_or(m, magic), magic);
        // SAFETY: the caller's
        unsafe {
            let d = f64x2(*super::DIVISORS.get_unchecked(i), *super::DIVISORS.get_unchecked(j));
            v128_store(out.cast(), f64x2_div(m, d));
        }
    }
}

#[cfg(target_arch = "x86_64")]
use x86 as lanes;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use wasm as lanes;

/// One field by SIMD, bounds checked; `None` when it is not the shape.
///
/// # Safety
/// On x86-64 the CPU has SSSE3.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "ssse3"))]
#[inline]
pub(super) unsafe fn decimal(bytes: &[u8], (a, b): (usize, usize)) -> Option<f64> {
    if b < 16 || b > bytes.len() || a >= b {
        return None;
    }
    // SAFETY: checked above (and the caller's)
    let (g, i) = unsafe { lanes::groups(bytes.as_ptr(), a, b) }?;
    let mut out = [0.0; 2];
    // SAFETY: two f64s; `i` < 32 (and the caller's)
    unsafe { lanes::two(g, i, g, i, out.as_mut_ptr()) };
    Some(out[0])
}

/// The finite numbers of fields `cols` of a padded record appended to `out`, two a step
/// (see the module doc); false when one is not a finite number.
///
/// # Safety
/// Every span `(a, b)` has `16 <= a <= b <= bytes.len() - 16` (a padded record's), and on
/// x86-64 the CPU has SSSE3.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "ssse3"))]
#[inline]
unsafe fn padded_fields(bytes: &[u8], spans: &[(usize, usize)], cols: &[usize], out: &mut Vec<f64>) -> bool {
    use lanes::{groups, two};
    let p = bytes.as_ptr();
    out.reserve(cols.len() + 1);
    let base = out.len();
    // SAFETY: `out` has room for `cols.len() + 1` more; written below `base + k + 2`
    let dst = unsafe { out.as_mut_ptr().add(base) };
    let mut k = 0;
    let mut pairs = cols.chunks_exact(2);
    for pair in &mut pairs {
        let (Some(&x), Some(&y)) = (spans.get(pair[0]), spans.get(pair[1])) else { return false };
        // SAFETY: padded spans (the caller's)
        let (gx, gy) = unsafe { (groups(p, x.0, x.1), groups(p, y.0, y.1)) };
        match (gx, gy) {
            // SAFETY: `k + 2 <= cols.len()`; the indices are below 32
            (Some((gx, i)), Some((gy, j))) => unsafe { two(gx, i, gy, j, dst.add(k)) },
            // SAFETY: `k + 2 <= cols.len()`, and the reserve has one more
            (gx, gy) => unsafe {
                if !one(bytes, x, gx, dst.add(k)) || !one(bytes, y, gy, dst.add(k + 1)) {
                    return false;
                }
            },
        }
        k += 2;
    }
    if let [c] = pairs.remainder() {
        let Some(&x) = spans.get(*c) else { return false };
        // SAFETY: a padded span; `k + 1 <= cols.len()`, and the reserve has one more
        if unsafe { !one(bytes, x, groups(p, x.0, x.1), dst.add(k)) } {
            return false;
        }
        k += 1;
    }
    // SAFETY: `k` values written from `base`, within the reserve
    unsafe { out.set_len(base + k) };
    true
}

/// One field of [`padded_fields`]'s into `dst` (its pair's partner was not the shape, or it is the
/// last of an odd count): from its groups, else the scalar parser; false when no number.
///
/// # Safety
/// `dst` writable for two `f64`s; on x86-64 the CPU has SSSE3.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "ssse3"))]
#[inline]
unsafe fn one(bytes: &[u8], span: (usize, usize), g: Option<(lanes::Groups, usize)>, dst: *mut f64) -> bool {
    match g {
        // SAFETY: the caller's; the index is below 32
        Some((g, i)) => unsafe { lanes::two(g, i, g, i, dst) },
        None => match scalar(bytes, span) {
            // SAFETY: the caller's
            Some(v) => unsafe { dst.write(v) },
            None => return false,
        },
    }
    true
}

/// The scalar parse of a trimmed field, when it is a finite number.
#[inline]
fn scalar(bytes: &[u8], (a, b): (usize, usize)) -> Option<f64> {
    parse_f64(bytes.get(a..b)?.trim_ascii()).filter(|v| v.is_finite())
}

/// Field `span` of `bytes` (a record's bytes, with room around a delimited line's fields) as
/// a number, trimmed; `None` when it is none (NaN and infinities are numbers here).
#[inline]
pub fn field(bytes: &[u8], span: (usize, usize)) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU has SSSE3
        if let Some(v) = unsafe { decimal(bytes, span) } {
            return Some(v);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    // SAFETY: nothing to hold on wasm32
    if let Some(v) = unsafe { decimal(bytes, span) } {
        return Some(v);
    }
    let (a, b) = span;
    parse_f64(bytes.get(a..b)?.trim_ascii())
}

/// The finite numbers of fields `cols` pushed onto `out`; false (with `out` partly filled)
/// when one is not a finite number, for the caller to find which and say why. `padded`: the
/// record keeps [`super::PAD`] bytes of room around its fields (every span within).
#[inline]
pub fn fields(bytes: &[u8], spans: &[(usize, usize)], padded: bool, cols: &[usize], out: &mut Vec<f64>) -> bool {
    #[cfg(target_arch = "x86_64")]
    if padded && std::is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU has SSSE3; the record's spans are padded
        return unsafe { padded_fields(bytes, spans, cols, out) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if padded {
        // SAFETY: the record's spans are padded
        return unsafe { padded_fields(bytes, spans, cols, out) };
    }
    let _ = padded;
    // (a record without the room: each field bounds checked, by SIMD where it has it)
    for &c in cols {
        match field(bytes, spans.get(c).copied().unwrap_or((0, 0))).filter(|v| v.is_finite()) {
            Some(v) => out.push(v),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    /// A record's numbers at once ([`super::fields`]) are each
    /// field's own ([`super::field`]); a field that is no number stops it with false.
    #[test]
    fn fields_match_one_at_a_time() {
        let mut rng = crate::metrics::ci::SplitMix64::new(3);
        let mut record = super::super::Record::default();
        let mut out = Vec::new();
        for case in 0..20_000 {
            let n = 1 + (rng.next_u64() % 12) as usize;
            let cells: Vec<String> = (0..n)
                .map(|_| {
                    let r = rng.next_u64();
                    match r % 8 {
                        0 => format!("{}", r % 1000),
                        1 => format!("-{}.{}", r % 100, (r >> 20) % 100_000),
                        2 => format!("{:e}", (r >> 11) as f64 / 3.0),
                        _ => format!("0.{}", (r >> 8) % 10u64.pow(1 + (r >> 40) as u32 % 15)),
                    }
                })
                .collect();
            let mut line = cells.join(",");
            let bad = case % 10 == 0;
            if bad {
                line.push_str(",x");
            }
            record.set_line(line.as_bytes(), b',');
            let cols: Vec<usize> = (0..record.len()).collect();
            out.clear();
            let all = record.numbers_into(&cols, &mut out);
            assert_eq!(all, !bad, "{line}");
            let want: Vec<u64> = (0..n).map(|i| record.number(i).map_or(0, f64::to_bits)).collect();
            let got: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
            if all {
                assert_eq!(got, want, "{line}");
            }
        }
    }
}
