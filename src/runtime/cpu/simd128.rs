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
