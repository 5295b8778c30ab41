//! aarch64 NEON microkernel: an 8x8 tile in sixteen q-register accumulators (of 32), with
//! fused multiply-add by lane so one load of A feeds four rows. NEON is part of the aarch64
//! baseline, so no run-time detection is needed.

use super::Microkernel;
use std::arch::aarch64::*;

pub const KERNEL: Microkernel =
    Microkernel { name: "neon", mr: 8, nr: 8, func: kernel, row: super::gemm::row_generic::<8> };

/// # Safety
/// `a` holds `kc*8` floats, `b` `kc*8`, `c` an 8x8 tile with row stride `ldc`.
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut acc = [[vdupq_n_f32(0.0); 2]; 8];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = vld1q_f32(b);
        let b1 = vld1q_f32(b.add(4));
        let a0 = vld1q_f32(a);
        let a1 = vld1q_f32(a.add(4));
        acc[0][0] = vfmaq_laneq_f32::<0>(acc[0][0], b0, a0);
        acc[0][1] = vfmaq_laneq_f32::<0>(acc[0][1], b1, a0);
        acc[1][0] = vfmaq_laneq_f32::<1>(acc[1][0], b0, a0);
        acc[1][1] = vfmaq_laneq_f32::<1>(acc[1][1], b1, a0);
        acc[2][0] = vfmaq_laneq_f32::<2>(acc[2][0], b0, a0);
        acc[2][1] = vfmaq_laneq_f32::<2>(acc[2][1], b1, a0);
        acc[3][0] = vfmaq_laneq_f32::<3>(acc[3][0], b0, a0);
        acc[3][1] = vfmaq_laneq_f32::<3>(acc[3][1], b1, a0);
        acc[4][0] = vfmaq_laneq_f32::<0>(acc[4][0], b0, a1);
        acc[4][1] = vfmaq_laneq_f32::<0>(acc[4][1], b1, a1);
        acc[5][0] = vfmaq_laneq_f32::<1>(acc[5][0], b0, a1);
        acc[5][1] = vfmaq_laneq_f32::<1>(acc[5][1], b1, a1);
        acc[6][0] = vfmaq_laneq_f32::<2>(acc[6][0], b0, a1);
        acc[6][1] = vfmaq_laneq_f32::<2>(acc[6][1], b1, a1);
        acc[7][0] = vfmaq_laneq_f32::<3>(acc[7][0], b0, a1);
        acc[7][1] = vfmaq_laneq_f32::<3>(acc[7][1], b1, a1);
        a = a.add(8);
        b = b.add(8);
    }
    for (r, row) in acc.iter().enumerate() {
        let p = c.add(r * ldc);
        let q = p.add(4);
        if accumulate {
            vst1q_f32(p, vaddq_f32(vld1q_f32(p), row[0]));
            vst1q_f32(q, vaddq_f32(vld1q_f32(q), row[1]));
        } else {
            vst1q_f32(p, row[0]);
            vst1q_f32(q, row[1]);
        }
    }
}
