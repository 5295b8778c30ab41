//! x86_64 AVX-512 microkernel: an 8x32 tile in sixteen zmm accumulators (of 32), and the
//! single-row product over four 32-column strips. Chosen over AVX2 where the CPU has AVX-512F
//! (detected at run time, once): twice the lanes per FMA, as onnxruntime's MLAS uses there.

use super::Microkernel;
use std::arch::x86_64::*;

pub const KERNEL: Microkernel = Microkernel { name: "avx512", mr: 8, nr: 32, func: kernel, row };

/// # Safety
/// Only called when the CPU has AVX-512F (see `cpu::kernels`); `a` holds `kc*8` floats, `b`
/// `kc*32`, `c` an 8x32 tile with row stride `ldc`.
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    inner(kc, a, b, c, ldc, accumulate)
}

#[target_feature(enable = "avx512f")]
unsafe fn inner(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut acc = [[_mm512_setzero_ps(); 2]; 8];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = _mm512_loadu_ps(b);
        let b1 = _mm512_loadu_ps(b.add(16));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*a.add(r));
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
        }
        a = a.add(8);
        b = b.add(32);
    }
    for (r, row) in acc.iter().enumerate() {
        store(c.add(r * ldc), row, accumulate);
    }
}

/// Write (or add) `vals` to the floats at `p`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store(p: *mut f32, vals: &[__m512], accumulate: bool) {
    for (i, v) in vals.iter().enumerate() {
        let q = p.add(16 * i);
        _mm512_storeu_ps(q, if accumulate { _mm512_add_ps(_mm512_loadu_ps(q), *v) } else { *v });
    }
}

/// [`super::RowFn`] for 32-column strips: four strips per pass in eight accumulators, then the
/// rest one at a time.
///
/// # Safety
/// Only called when the CPU has AVX-512F; `a[p * astride]` for p < kc, `strips` strips of
/// `kc*32` floats at `b`, `strips*32` floats at `out`.
unsafe fn row(kc: usize, a: *const f32, astride: usize, b: *const f32, strips: usize, out: *mut f32, accumulate: bool) {
    row_inner(kc, a, astride, b, strips, out, accumulate)
}

#[target_feature(enable = "avx512f")]
unsafe fn row_inner(
    kc: usize,
    a: *const f32,
    astride: usize,
    b: *const f32,
    strips: usize,
    out: *mut f32,
    accumulate: bool,
) {
    let mut s = 0;
    while s + 4 <= strips {
        let bs = b.add(s * 32 * kc);
        let mut acc = [_mm512_setzero_ps(); 8];
        for p in 0..kc {
            let av = _mm512_set1_ps(*a.add(p * astride));
            for q in 0..4 {
                let bp = bs.add(q * 32 * kc + p * 32);
                acc[2 * q] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp), acc[2 * q]);
                acc[2 * q + 1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bp.add(16)), acc[2 * q + 1]);
            }
        }
        store(out.add(s * 32), &acc, accumulate);
        s += 4;
    }
    while s < strips {
        let bs = b.add(s * 32 * kc);
        let mut acc = [_mm512_setzero_ps(); 2];
        for p in 0..kc {
            let av = _mm512_set1_ps(*a.add(p * astride));
            acc[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bs.add(p * 32)), acc[0]);
            acc[1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bs.add(p * 32 + 16)), acc[1]);
        }
        store(out.add(s * 32), &acc, accumulate);
        s += 1;
    }
}
