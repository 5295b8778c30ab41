//! GEMM throughput of the WGSL kernel across sizes (`cargo bench --bench gpu_gemm`).
//!
//! Each size is recorded `reps` times into one command buffer and timed from submit to
//! completion, so the figure is kernel throughput, not upload/readback. On lavapipe
//! (software Vulkan) the numbers measure LLVM-compiled CPU code, not a GPU.

use std::time::Instant;

use webeval::runtime::gpu::{self, Act, Gpu};

fn main() {
    let g = match Gpu::new_blocking() {
        Ok(g) => g,
        Err(e) => {
            println!("skipped: no adapter ({e})");
            return;
        }
    };
    let s = g.summary();
    println!("adapter: {} ({}, {}, {})", s.name, s.backend, s.device_type, s.driver);
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
    for &(m, n, k) in sizes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let (ta, tb) = match (g.upload(&a, &[m, k]), g.upload(&b, &[k, n])) {
            (Ok(ta), Ok(tb)) => (ta, tb),
            (Err(e), _) | (_, Err(e)) => {
                println!("{m:>6} {n:>6} {k:>6} skipped: {e}");
                continue;
            }
        };
        let run = |reps: usize| -> f64 {
            let mut rec = g.recorder();
            for _ in 0..reps {
                if let Err(e) = gpu::matmul(&mut rec, &ta, &tb, None, Act::Identity) {
                    panic!("{m}x{n}x{k}: {e}");
                }
            }
            let t = Instant::now();
            if let Err(e) = g.finish_blocking(rec) {
                panic!("{m}x{n}x{k}: {e}");
            }
            t.elapsed().as_secs_f64()
        };
        run(1); // compile the pipeline and warm up
        let once = run(1).max(1e-6);
        let reps = ((0.5 / once) as usize).clamp(1, 50);
        let t = run(reps);
        let flops = 2.0 * (m * n * k) as f64 * reps as f64;
        println!("{m:>6} {n:>6} {k:>6} {reps:>5} {:>10.3} {:>9.2}", t / reps as f64 * 1e3, flops / t / 1e9);
    }
}
