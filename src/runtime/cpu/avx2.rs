//! x86_64 AVX2+FMA microkernel: a 6x16 tile in twelve ymm accumulators, the classic shape
//! that leaves registers for two B vectors and one broadcast of A.

use super::Microkernel;
use std::arch::x86_64::*;

pub const KERNEL: Microkernel = Microkernel { name: "avx2", mr: 6, nr: 16, func: kernel };

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
