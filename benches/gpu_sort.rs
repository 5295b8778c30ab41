//! The metric engine's big sort (scores for AUC / threshold curves) on the GPU vs the CPU
//! (`cargo bench --bench gpu_sort`): decides whether metrics sort on the GPU.
//!
//! CPU: `metrics::sort::for_each_sorted`, the path every ROC/PR walk takes (keys built from the
//! f32 scores, row + positive flag as payload, sorted as `metrics::sort` does it), and std's `sort_unstable_by` on the bare keys for reference. GPU: the bitonic sort of the
//! bare f32 keys, with the upload and the readback the metrics would pay. It sorts keys only:
//! the metrics need the payloads too, which a GPU key-value sort would move as well, so its time
//! here is a lower bound on what the GPU would cost.

mod common;

use std::time::Instant;

use webeval::metrics::sort::{desc_key_f32, for_each_sorted, POSITIVE};
use webeval::runtime::gpu::sort::sort_padded;

fn main() {
    let Some(g) = common::device() else { return };
    println!(
        "{:>10} {:>16} {:>12} {:>14} {:>12} {:>10}",
        "n", "metrics sort ms", "std sort ms", "gpu total ms", "gpu sort ms", "gpu/cpu"
    );
    for n in [1_000_000usize, 10_000_000] {
        // Seeded scores in [0, 1), as a classifier's, and labels.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let keys: Vec<f32> = (0..n).map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32).collect();
        let positive: Vec<bool> = (0..n).map(|_| next() & 1 == 1).collect();

        // The metric engine's sort, as ranking.rs calls it (best of 3).
        let mut metrics_ms = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            let mut seen = 0usize;
            for_each_sorted(
                n,
                |i| desc_key_f32(keys[i]),
                |i| i as u32 | if positive[i] { POSITIVE } else { 0 },
                |items| seen += items.len(),
            );
            assert_eq!(seen, n);
            metrics_ms = metrics_ms.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let mut cpu = keys.clone();
        let t = Instant::now();
        cpu.sort_unstable_by(f32::total_cmp);
        let std_ms = t.elapsed().as_secs_f64() * 1e3;

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
        println!(
            "{n:>10} {metrics_ms:>16.1} {std_ms:>12.1} {total_ms:>14.1} {sort_ms:>12.1} {:>9.2}x",
            total_ms / metrics_ms
        );
    }
}
