//! Throughput probes for the benchmark: how many GFLOPS the GEMM reaches, and the peak the
//! same instruction mix (a vector multiply and a vector add on plain simd128, a fused
//! multiply-add in the relaxed-SIMD build) can reach on this machine, so the GEMM's efficiency can be reported as a fraction of a measured peak
//! rather than of a datasheet number the wasm engine never sees.
//!
//! The clock is passed in (milliseconds) so the wasm build can use `performance.now()`.

use super::gemm::{sgemm, MatRef, Operand};

/// GFLOPS of `C = A·B` (`m x k` times `k x n`, operands packed on every call as for
/// activations) over `reps` calls after one warm-up.
pub fn gemm_gflops(m: usize, n: usize, k: usize, reps: usize, clock: &mut dyn FnMut() -> f64) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 / 13.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 / 7.0 - 0.5).collect();
    let mut c = vec![0f32; m * n];
    let kernel = super::best();
    let once = |c: &mut [f32]| {
        sgemm(
            kernel,
            m,
            n,
            k,
            1.0,
            Operand::Strided(MatRef::row_major(&a, k)),
            Operand::Strided(MatRef::row_major(&b, n)),
            c,
            n,
            false,
        )
    };
    once(&mut c);
    let reps = reps.max(1);
    let t = clock();
    for _ in 0..reps {
        once(&mut c);
    }
    let ms = (clock() - t).max(1e-6);
    std::hint::black_box(&c);
    2.0 * (m * n * k * reps) as f64 / (ms * 1e-3) / 1e9
}

/// Peak GFLOPS of independent `acc = acc * x + y` vector chains (one multiply and one add per
/// lane and step, the microkernel's instruction mix), or `None` where this build has no probe.
pub fn peak_gflops(iters: usize, clock: &mut dyn FnMut() -> f64) -> Option<f64> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // Many short calls: engines compile wasm with a baseline tier first and swap in the
        // optimised code between calls (no on-stack replacement), so one long call measured
        // the baseline tier (the GEMM, called often, came out above that "peak").
        const CHUNK: usize = 50_000;
        for _ in 0..200 {
            std::hint::black_box(super::simd128::peak_loop(1_000));
        }
        let calls = iters.div_ceil(CHUNK).max(1);
        let t = clock();
        for _ in 0..calls {
            std::hint::black_box(super::simd128::peak_loop(CHUNK));
        }
        let ms = (clock() - t).max(1e-6);
        Some(super::simd128::PEAK_FLOPS_PER_ITER * (calls * CHUNK) as f64 / (ms * 1e-3) / 1e9)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let _ = (iters, clock);
        None
    }
}
