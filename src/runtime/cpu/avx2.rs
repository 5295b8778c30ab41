//! x86_64 AVX2+FMA microkernel: a 6x16 tile in twelve ymm accumulators, the classic shape
//! that leaves registers for two B vectors and one broadcast of A.

use super::Microkernel;
use std::arch::x86_64::*;

pub const KERNEL: Microkernel = Microkernel { name: "avx2", mr: 6, nr: 16, func: kernel, row };

/// # Safety
/// Only called when the CPU has AVX2 and FMA (see `cpu::kernels`); `a` holds `kc*6`
/// floats, `b` `kc*16`, `c` a 6x16 tile with row stride `ldc`.
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    inner(kc, a, b, c, ldc, accumulate)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn inner(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut acc = [[_mm256_setzero_ps(); 2]; 6];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm256_broadcast_ss(&*a.add(r));
            row[0] = _mm256_fmadd_ps(av, b0, row[0]);
            row[1] = _mm256_fmadd_ps(av, b1, row[1]);
        }
        a = a.add(6);
        b = b.add(16);
    }
    for (r, row) in acc.iter().enumerate() {
        let p = c.add(r * ldc);
        if accumulate {
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), row[0]));
            _mm256_storeu_ps(p.add(8), _mm256_add_ps(_mm256_loadu_ps(p.add(8)), row[1]));
        } else {
            _mm256_storeu_ps(p, row[0]);
            _mm256_storeu_ps(p.add(8), row[1]);
        }
    }
}

/// [`super::RowFn`] for 16-column strips: four strips per pass in eight accumulators, then the
/// rest one at a time.
///
/// # Safety
/// Only called when the CPU has AVX2 and FMA; `a[p * astride]` for p < kc, `strips` strips of
/// `kc*16` floats at `b`, `strips*16` floats at `out`.
unsafe fn row(kc: usize, a: *const f32, astride: usize, b: *const f32, strips: usize, out: *mut f32, accumulate: bool) {
    row_inner(kc, a, astride, b, strips, out, accumulate)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn row_inner(
    kc: usize,
    a: *const f32,
    astride: usize,
    b: *const f32,
    strips: usize,
    out: *mut f32,
    accumulate: bool,
) {
    let store = |p: *mut f32, vals: &[__m256]| {
        for (i, v) in vals.iter().enumerate() {
            let q = p.add(8 * i);
            _mm256_storeu_ps(q, if accumulate { _mm256_add_ps(_mm256_loadu_ps(q), *v) } else { *v });
        }
    };
    let mut s = 0;
    while s + 4 <= strips {
        let bs = b.add(s * 16 * kc);
        let mut acc = [_mm256_setzero_ps(); 8];
        for p in 0..kc {
            let av = _mm256_broadcast_ss(&*a.add(p * astride));
            for q in 0..4 {
                let bp = bs.add(q * 16 * kc + p * 16);
                acc[2 * q] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp), acc[2 * q]);
                acc[2 * q + 1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp.add(8)), acc[2 * q + 1]);
            }
        }
        store(out.add(s * 16), &acc);
        s += 4;
    }
    while s < strips {
        let bs = b.add(s * 16 * kc);
        let mut acc = [_mm256_setzero_ps(); 2];
        for p in 0..kc {
            let av = _mm256_broadcast_ss(&*a.add(p * astride));
            acc[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bs.add(p * 16)), acc[0]);
            acc[1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bs.add(p * 16 + 8)), acc[1]);
        }
        store(out.add(s * 16), &acc);
        s += 1;
    }
}
