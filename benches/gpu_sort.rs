//! The metric engine's big sort (scores for AUC / threshold curves) on the GPU vs the CPU
//! (`cargo bench --bench gpu_sort`): decides whether metrics sort on the GPU. GPU times
//! include the upload and the readback, as the metrics would pay them.

use std::time::Instant;

use webeval::runtime::gpu::{sort::sort_padded, Gpu};

fn main() {
    let g = match Gpu::new_blocking() {
        Ok(g) => g,
        Err(e) => {
            println!("skipped: no adapter ({e})");
            return;
        }
    };
    let s = g.summary();
    println!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
    println!("{:>10} {:>12} {:>14} {:>12}", "n", "cpu ms", "gpu total ms", "gpu sort ms");
    for n in [1_000_000usize, 10_000_000] {
        // Seeded scores in [0, 1), as a classifier's.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let keys: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let mut cpu = keys.clone();
        let t = Instant::now();
        cpu.sort_unstable_by(f32::total_cmp);
        let cpu_ms = t.elapsed().as_secs_f64() * 1e3;

        let padded_len = n.next_power_of_two().max(512);
        let mut padded = keys.clone();
        padded.resize(padded_len, f32::INFINITY);
        let run = || -> (f64, f64, Vec<f32>) {
            let t = Instant::now();
            let x = g.upload(&padded, &[padded_len]).expect("upload");
            let mut rec = g.recorder();
            sort_padded(&mut rec, &x).expect("sort");
            g.finish_blocking(rec).expect("sort runs");
            let sort_ms = t.elapsed().as_secs_f64() * 1e3;
            let out = g.read_blocking(g.recorder(), &[&x]).expect("readback").remove(0);
            (t.elapsed().as_secs_f64() * 1e3, sort_ms, out)
        };
        run(); // compile the pipelines
        let (total_ms, sort_ms, out) = run();
        assert_eq!(&out[..n], &cpu[..], "GPU sort differs from the CPU's at n = {n}");
        println!("{n:>10} {cpu_ms:>12.1} {total_ms:>14.1} {sort_ms:>12.1}");
    }
}
