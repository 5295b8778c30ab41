//! The numbers of a delimited record, parsed 16 bytes at a time with SIMD.
//!
//! A predictions file's numbers nearly all have one shape, `[-+]W.F` with a few digits, and a
//! scalar parser pays a branch on their lengths (which vary row to row) and ~100 instructions
//! a number. Here one 16-byte load ending at the field's end, one shuffle that drops the dot
//! (a table row per dot position), a digit check and two multiply-adds give the 16-digit
//! integer; the number is then that integer over a power of ten, the one exact division of
//! Clinger's fast path (both operands exact below 2^53, so the quotient is correctly rounded:
//! bit for bit what fast-float2 and std give). Anything else (integers, exponents, more than
//! 15 digits, text, spaces) is left to the scalar parser ([`super::columns::parse_f64`]).
//!
//! The loads read bytes around the field: a [`super::Record`] from a delimited line keeps
//! [`super::PAD`] bytes of room on both sides. x86-64 uses SSSE3 (`pshufb`, `pmaddubsw`)
//! when the CPU has it (found at run time: the release baseline is SSE2); wasm32 uses
//! simd128 when built with it (the page's build is); elsewhere the scalar parser does all.

use super::columns::parse_f64;

/// Exact powers of ten, for the division.
const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// `SHUFFLE[p]`: the 16-byte window with the dot at lane `p` removed, the lanes before it
/// moved up one (lane 0 becomes zero: index 0x80 reads as 0 in `pshufb` and `swizzle`).
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

/// What the vector part gives for field `(a, b)` of `bytes`: the sign, the unsigned length
/// `n` (2..=16) and the lanes, or `None` when the field cannot be the shape (too long or
/// short, or no room around it).
#[inline(always)]
fn frame(bytes: &[u8], (a, b): (usize, usize)) -> Option<(bool, usize)> {
    if b < 16 || b > bytes.len() || a >= b {
        return None;
    }
    let first = bytes[a];
    let neg = first == b'-';
    let s = a + usize::from(neg | (first == b'+'));
    let n = b - s;
    if !(2..=16).contains(&n) {
        return None;
    }
    Some((neg, n))
}

/// The number from the four 4-digit groups (most significant first) and the fraction's
/// length `f`, when the integer is at most 2^53.
#[inline(always)]
fn finish(q: [u32; 4], f: usize, neg: bool) -> Option<f64> {
    let high = u64::from(q[0]) * 10_000 + u64::from(q[1]);
    let low = u64::from(q[2]) * 10_000 + u64::from(q[3]);
    let m = high * 100_000_000 + low;
    if m > 1 << 53 {
        return None;
    }
    let v = m as f64 / POW10[f];
    Some(if neg { -v } else { v })
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use std::arch::x86_64::*;

    /// One field by SSSE3 (see the module doc).
    #[target_feature(enable = "ssse3")]
    #[inline]
    pub unsafe fn decimal(bytes: &[u8], span: (usize, usize)) -> Option<f64> {
        let (neg, n) = super::frame(bytes, span)?;
        let b = span.1;
        // SAFETY: `frame` checked 16 <= b <= bytes.len()
        let v = unsafe { _mm_loadu_si128(bytes.as_ptr().add(b - 16).cast()) };
        // the field's lanes are 16 - n.., the bytes before it are another field's
        let junk = (1u32 << (16 - n)) - 1;
        let dots = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8))) as u32 & !junk;
        if dots == 0 {
            return None;
        }
        let p = dots.trailing_zeros() as usize;
        // SAFETY: a table row is 16 bytes
        let table = unsafe { _mm_loadu_si128(super::SHUFFLE[p].as_ptr().cast()) };
        let d = _mm_sub_epi8(_mm_shuffle_epi8(v, table), _mm_set1_epi8(b'0' as i8));
        let nine = _mm_set1_epi8(9);
        let ok = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) as u32;
        // after the shuffle the digits are lanes 17 - n..
        if (ok | (junk << 1 | 1)) & 0xFFFF != 0xFFFF {
            return None;
        }
        let lanes = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let d = _mm_and_si128(d, _mm_cmpgt_epi8(lanes, _mm_set1_epi8((16 - n) as i8)));
        let pairs = _mm_maddubs_epi16(d, _mm_set1_epi16(0x010A));
        let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let lo = _mm_cvtsi128_si64(quads) as u64;
        let hi = _mm_cvtsi128_si64(_mm_srli_si128(quads, 8)) as u64;
        let q = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
        super::finish(q, 15 - p, neg)
    }

    /// [`super::fields`] with [`decimal`] inlined.
    #[target_feature(enable = "ssse3")]
    pub unsafe fn fields(bytes: &[u8], spans: &[(usize, usize)], cols: &[usize], out: &mut Vec<f64>) -> bool {
        for &c in cols {
            let span = spans.get(c).copied().unwrap_or((0, 0));
            // SAFETY: this function runs only where SSSE3 is present
            let v = match unsafe { decimal(bytes, span) } {
                Some(v) => v,
                None => match super::scalar(bytes, span) {
                    Some(v) => v,
                    None => return false,
                },
            };
            out.push(v);
        }
        true
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    /// One field by simd128 (see the module doc).
    #[inline]
    pub fn decimal(bytes: &[u8], span: (usize, usize)) -> Option<f64> {
        let (neg, n) = super::frame(bytes, span)?;
        let b = span.1;
        let mut window = [0u8; 16];
        window.copy_from_slice(&bytes[b - 16..b]);
        let v = u8x16_from(window);
        let junk = (1u32 << (16 - n)) - 1;
        let dots = u32::from(u8x16_bitmask(u8x16_eq(v, u8x16_splat(b'.')))) & !junk;
        if dots == 0 {
            return None;
        }
        let p = dots.trailing_zeros() as usize;
        let table = u8x16_from(super::SHUFFLE[p]);
        let d = u8x16_sub(u8x16_swizzle(v, table), u8x16_splat(b'0'));
        let ok = u32::from(u8x16_bitmask(u8x16_le(d, u8x16_splat(9))));
        if (ok | (junk << 1 | 1)) & 0xFFFF != 0xFFFF {
            return None;
        }
        let lanes = u8x16_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        let d = v128_and(d, u8x16_gt(lanes, u8x16_splat((16 - n) as u8)));
        let tens = i16x8(10, 1, 10, 1, 10, 1, 10, 1);
        let low = i32x4_dot_i16x8(u16x8_extend_low_u8x16(d), tens);
        let high = i32x4_dot_i16x8(u16x8_extend_high_u8x16(d), tens);
        let pairs = i16x8_narrow_i32x4(low, high);
        let quads = i32x4_dot_i16x8(pairs, i16x8(100, 1, 100, 1, 100, 1, 100, 1));
        let q = [
            i32x4_extract_lane::<0>(quads) as u32,
            i32x4_extract_lane::<1>(quads) as u32,
            i32x4_extract_lane::<2>(quads) as u32,
            i32x4_extract_lane::<3>(quads) as u32,
        ];
        super::finish(q, 15 - p, neg)
    }

    /// 16 bytes as a vector.
    #[inline(always)]
    fn u8x16_from(b: [u8; 16]) -> v128 {
        // SAFETY: `[u8; 16]` and `v128` have the same size, and any bits are a `v128`
        unsafe { core::mem::transmute::<[u8; 16], v128>(b) }
    }
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
        if let Some(v) = unsafe { x86::decimal(bytes, span) } {
            return Some(v);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Some(v) = wasm::decimal(bytes, span) {
        return Some(v);
    }
    let (a, b) = span;
    parse_f64(bytes.get(a..b)?.trim_ascii())
}

/// The finite numbers of fields `cols` pushed onto `out`; false (with `out` partly filled)
/// when one is not a finite number, for the caller to find which and say why.
#[inline]
pub fn fields(bytes: &[u8], spans: &[(usize, usize)], cols: &[usize], out: &mut Vec<f64>) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU has SSSE3
        return unsafe { x86::fields(bytes, spans, cols, out) };
    }
    for &c in cols {
        let span = spans.get(c).copied().unwrap_or((0, 0));
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Some(v) = wasm::decimal(bytes, span) {
            out.push(v);
            continue;
        }
        match scalar(bytes, span) {
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
