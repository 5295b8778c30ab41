//! GEMM throughput of the WGSL kernel across sizes (`cargo bench --bench gpu_gemm`).
//!
//! Each size is recorded `reps` times into one submission and timed to a one-value readback
//! (`gemm::gflops`, the probe the page's bench calls too), so the figure is kernel
//! throughput, not upload/readback. On lavapipe
//! (software Vulkan) the numbers measure LLVM-compiled CPU code, not a GPU.

mod common;

use std::time::Instant;

use webeval::runtime::engine::block_on;
use webeval::runtime::gpu::gemm;

fn main() {
    let Some(g) = common::device() else { return };
    println!("{:>6} {:>6} {:>6} {:>5} {:>10} {:>9}", "M", "N", "K", "reps", "ms/gemm", "GFLOPS");
    let sizes: &[(usize, usize, usize)] = &[
        (64, 64, 64),
        (128, 128, 128),
        (256, 256, 256),
        (512, 512, 512),
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        // M = 1 runs the matrix-vector kernel; M = 2 the tiled GEMM, for comparison.
        (1, 1024, 1024),
        (2, 1024, 1024),
        (1, 4096, 1024),
        (1, 10, 784),
        (64, 4096, 1024),
        (3136, 64, 576),
        (196, 256, 2304),
        (127, 129, 131),
    ];
    let clock = Instant::now();
    let mut ms = || clock.elapsed().as_secs_f64() * 1e3;
    for &(m, n, k) in sizes {
        // About half a second of work per size, at least one product, at most 50.
        let once = match block_on(gemm::gflops(&g, m, n, k, 1, &mut ms)) {
            Ok(gf) => 2.0 * (m * n * k) as f64 / (gf * 1e9),
            Err(e) => {
                println!("{m:>6} {n:>6} {k:>6} skipped: {e}");
                continue;
            }
        };
        let reps = ((0.5 / once) as usize).clamp(1, 50);
        match block_on(gemm::gflops(&g, m, n, k, reps, &mut ms)) {
            Ok(gf) => {
                let per = 2.0 * (m * n * k) as f64 / (gf * 1e9);
                println!("{m:>6} {n:>6} {k:>6} {reps:>5} {:>10.3} {gf:>9.2}", per * 1e3);
            }
            Err(e) => println!("{m:>6} {n:>6} {k:>6} failed: {e}"),
        }
    }
}
