//! Portable 4x8 microkernel: plain arrays the compiler keeps in registers (and, natively,
//! vectorises with whatever baseline SIMD the target has).

use super::Microkernel;

pub const KERNEL: Microkernel =
    Microkernel { name: "scalar", mr: 4, nr: 8, func: kernel, row: super::gemm::row_generic::<8> };

const MR: usize = 4;
const NR: usize = 8;

/// # Safety
/// `a` must hold `kc*MR` floats, `b` `kc*NR`, and `c` a `MR x NR` tile with row stride `ldc`.
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool) {
    let a = std::slice::from_raw_parts(a, kc * MR);
    let b = std::slice::from_raw_parts(b, kc * NR);
    let mut acc = [[0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] += ap[r] * bp[j];
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let out = std::slice::from_raw_parts_mut(c.add(r * ldc), NR);
        for j in 0..NR {
            out[j] = if accumulate { out[j] + row[j] } else { row[j] };
        }
    }
}
