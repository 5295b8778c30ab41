//! wasm32 simd128 microkernel: a 4x8 tile in eight v128 accumulators, plus a single-row
//! product over four strips at once.
//!
//! Plain simd128 has no fused multiply-add, so each step is a multiply and an add. The build
//! with `+relaxed-simd` (the second wasm the page loads where the engine validates it; see
//! ARCHITECTURE.md) uses `f32x4.relaxed_madd`, which engines lower to one FMA instruction:
//! twice the arithmetic per cycle. Eight accumulators keep engines with 16 vector registers
//! (V8 on x86/ARM) from spilling.

use super::Microkernel;
use core::arch::wasm32::*;

pub const KERNEL: Microkernel = Microkernel { name: NAME, mr: 4, nr: 8, func: kernel, row };

#[cfg(target_feature = "relaxed-simd")]
const NAME: &str = "simd128+relaxed";
#[cfg(not(target_feature = "relaxed-simd"))]
const NAME: &str = "simd128";

/// `a * b + c` (fused or not: relaxed-simd leaves that to the engine).
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

/// # Safety
/// `a` holds `kc*4` floats, `b` `kc*8`, `c` a 4x8 tile with row stride `ldc`.
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut acc = [[f32x4_splat(0.0); 2]; 4];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = v128_load(b as *const v128);
        let b1 = v128_load(b.add(4) as *const v128);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = f32x4_splat(*a.add(r));
            row[0] = madd(av, b0, row[0]);
            row[1] = madd(av, b1, row[1]);
        }
        a = a.add(4);
        b = b.add(8);
    }
    for (r, row) in acc.iter().enumerate() {
        store(c.add(r * ldc), row, accumulate);
    }
}

/// Write (or add) `vals` to the floats at `p`.
#[inline(always)]
unsafe fn store(p: *mut f32, vals: &[v128], accumulate: bool) {
    for (i, v) in vals.iter().enumerate() {
        let q = p.add(4 * i) as *mut v128;
        v128_store(q, if accumulate { f32x4_add(v128_load(q), *v) } else { *v });
    }
}

/// [`super::RowFn`]: four 8-column strips per pass (eight accumulators, one splat of A feeds
/// them all), then the remaining strips one at a time.
///
/// # Safety
/// `a[p * astride]` for p < kc, `strips` strips of `kc*8` floats at `b`, `strips*8` at `out`.
unsafe fn row(kc: usize, a: *const f32, astride: usize, b: *const f32, strips: usize, out: *mut f32, accumulate: bool) {
    let mut s = 0;
    while s + 4 <= strips {
        let bs = b.add(s * 8 * kc);
        let mut acc = [f32x4_splat(0.0); 8];
        for p in 0..kc {
            let av = f32x4_splat(*a.add(p * astride));
            for q in 0..4 {
                let bp = bs.add(q * 8 * kc + p * 8);
                acc[2 * q] = madd(av, v128_load(bp as *const v128), acc[2 * q]);
                acc[2 * q + 1] = madd(av, v128_load(bp.add(4) as *const v128), acc[2 * q + 1]);
            }
        }
        store(out.add(s * 8), &acc, accumulate);
        s += 4;
    }
    while s < strips {
        // Two depth steps in separate accumulators, so consecutive steps do not wait on each other.
        let bs = b.add(s * 8 * kc);
        let mut acc = [f32x4_splat(0.0); 4];
        let mut p = 0;
        while p + 2 <= kc {
            let (a0, a1) = (f32x4_splat(*a.add(p * astride)), f32x4_splat(*a.add((p + 1) * astride)));
            let bp = bs.add(p * 8);
            acc[0] = madd(a0, v128_load(bp as *const v128), acc[0]);
            acc[1] = madd(a0, v128_load(bp.add(4) as *const v128), acc[1]);
            acc[2] = madd(a1, v128_load(bp.add(8) as *const v128), acc[2]);
            acc[3] = madd(a1, v128_load(bp.add(12) as *const v128), acc[3]);
            p += 2;
        }
        if p < kc {
            let a0 = f32x4_splat(*a.add(p * astride));
            let bp = bs.add(p * 8);
            acc[0] = madd(a0, v128_load(bp as *const v128), acc[0]);
            acc[1] = madd(a0, v128_load(bp.add(4) as *const v128), acc[1]);
        }
        store(out.add(s * 8), &[f32x4_add(acc[0], acc[2]), f32x4_add(acc[1], acc[3])], accumulate);
        s += 1;
    }
}

/// Flops per iteration of [`peak_loop`]: 12 chains x 4 lanes x (1 mul + 1 add).
pub const PEAK_FLOPS_PER_ITER: f64 = 12.0 * 4.0 * 2.0;

/// Twelve independent `acc = acc * x + y` chains (fused in the relaxed-simd build, as the
/// microkernel is): enough in flight to saturate the vector units through the latencies, few
/// enough to stay in registers.
pub fn peak_loop(iters: usize) -> f32 {
    let x = f32x4_splat(0.999_999);
    let y = f32x4_splat(1e-7);
    let mut acc = [f32x4_splat(1.0); 12];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = f32x4_splat(1.0 + i as f32 * 1e-3);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = madd(*a, x, y);
        }
    }
    let mut s = f32x4_splat(0.0);
    for a in acc {
        s = f32x4_add(s, a);
    }
    f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s)
}
