//! wasm32 simd128 microkernel: a 4x8 tile in eight v128 accumulators. simd128 has no fused
//! multiply-add, so each step is a splat, a multiply and an add per accumulator; eight
//! accumulators keep engines with 16 vector registers (V8 on x86/ARM) from spilling.

use super::Microkernel;
use core::arch::wasm32::*;

pub const KERNEL: Microkernel = Microkernel { name: "simd128", mr: 4, nr: 8, func: kernel };

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
            row[0] = f32x4_add(row[0], f32x4_mul(av, b0));
            row[1] = f32x4_add(row[1], f32x4_mul(av, b1));
        }
        a = a.add(4);
        b = b.add(8);
    }
    for (r, row) in acc.iter().enumerate() {
        let p = c.add(r * ldc) as *mut v128;
        let q = c.add(r * ldc + 4) as *mut v128;
        if accumulate {
            v128_store(p, f32x4_add(v128_load(p), row[0]));
            v128_store(q, f32x4_add(v128_load(q), row[1]));
        } else {
            v128_store(p, row[0]);
            v128_store(q, row[1]);
        }
    }
}

/// Flops per iteration of [`peak_loop`]: 12 chains x 4 lanes x (1 mul + 1 add).
pub const PEAK_FLOPS_PER_ITER: f64 = 12.0 * 4.0 * 2.0;

/// Twelve independent `acc = acc * x + y` chains: enough in flight to saturate the vector
/// units through the multiply and add latencies, few enough to stay in registers.
pub fn peak_loop(iters: usize) -> f32 {
    let x = f32x4_splat(0.999_999);
    let y = f32x4_splat(1e-7);
    let mut acc = [f32x4_splat(1.0); 12];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = f32x4_splat(1.0 + i as f32 * 1e-3);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = f32x4_add(f32x4_mul(*a, x), y);
        }
    }
    let mut s = f32x4_splat(0.0);
    for a in acc {
        s = f32x4_add(s, a);
    }
    f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s)
}
