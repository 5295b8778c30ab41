//! CPU kernels: the reference backend and the oracle the GPU backend is tested against.
//!
//! The GEMM microkernel is the only place with instruction-set specific code: `simd128`
//! on wasm32 (the crate is built with `+simd128`; the page's second build adds relaxed-SIMD
//! FMA), AVX-512 or AVX2+FMA on x86_64 when the CPU has it (detected at run time, once), NEON
//! on aarch64, and a portable scalar tile elsewhere.
//! Everything else is written so the compiler can vectorise it on its own.

pub mod conv;
pub mod fastmath;
pub mod gemm;
pub mod ml;
pub mod nn;
pub mod ops;
pub mod pool;
pub mod probe;
pub mod rnn;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Largest MR*NR tile of any kernel (AVX-512: 8x32).
pub const MAX_TILE: usize = 256;

/// `c[MR x NR] (+)= a_strip · b_strip` over `kc` steps; `a` holds MR values per step,
/// `b` holds NR values per step; `c` has row stride `ldc`.
pub type KernelFn = unsafe fn(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, accumulate: bool);

/// `out[s * NR + j] (+)= Σ_p a[p * astride] · strip_s[p * NR + j]` for `strips` consecutive packed
/// NR-column strips of `kc` depth steps each (the single-row product: batch-1 layers and
/// recurrent steps, where an MR-row tile would spend MR-1 rows on padding).
pub type RowFn =
    unsafe fn(kc: usize, a: *const f32, astride: usize, b: *const f32, strips: usize, out: *mut f32, accumulate: bool);

#[derive(Clone, Copy, Debug)]
pub struct Microkernel {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub func: KernelFn,
    pub row: RowFn,
}

/// Every kernel this build and CPU can run, best first.
#[allow(clippy::vec_init_then_push)]
pub fn kernels() -> Vec<Microkernel> {
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        v.push(avx512::KERNEL);
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        v.push(avx2::KERNEL);
    }
    #[cfg(target_arch = "aarch64")]
    v.push(neon::KERNEL);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(simd128::KERNEL);
    v.push(scalar::KERNEL);
    v
}

/// The kernel used by default (chosen once).
pub fn best() -> &'static Microkernel {
    static BEST: std::sync::OnceLock<Microkernel> = std::sync::OnceLock::new();
    BEST.get_or_init(|| kernels()[0])
}
