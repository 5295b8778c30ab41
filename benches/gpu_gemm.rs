//! GEMM throughput of the WGSL kernels across sizes (`cargo bench --bench gpu_gemm`).
//!
//! Each size is recorded `reps` times into one submission and timed to a one-value readback
//! (`gemm::gflops`, the probe the page's bench calls too), so the figure is kernel
//! throughput, not upload/readback. Every size runs with the 64-wide tile, the 128 x 128 tile,
//! the 16-wide tile and the choice by size, side by side, so the choice can be checked on the
//! adapter at hand (`--sizes 64x64x64,256x10x512` runs only those M x N x K).
//! `--json FILE` also writes the rows with the adapter and the load average around the run
//! (benches/results.json's `gpu_gemm`, shown by `node benches/run.mjs --markdown`). On lavapipe (software Vulkan) the numbers measure
//! LLVM-compiled CPU code, not a GPU.

mod common;

use std::time::Instant;

use webeval::runtime::engine::block_on;
use webeval::runtime::gpu::gemm::{self, Tiles};
use webeval::runtime::gpu::Gpu;

/// GFLOPS with `tiles` forced: about half a second of work, at least one product, at most 50.
fn measure(g: &Gpu, tiles: Tiles, (m, n, k): (usize, usize, usize)) -> Result<(usize, f64), String> {
    g.force_gemm_tiles(tiles);
    let clock = Instant::now();
    let mut ms = || clock.elapsed().as_secs_f64() * 1e3;
    let once = block_on(gemm::gflops(g, m, n, k, 1, &mut ms)).map_err(|e| e.to_string())?;
    let reps = ((0.5 / (2.0 * (m * n * k) as f64 / (once * 1e9))) as usize).clamp(1, 50);
    let gf = block_on(gemm::gflops(g, m, n, k, reps, &mut ms)).map_err(|e| e.to_string())?;
    Ok((reps, gf))
}

/// The 1-minute load average (Linux), so a figure from a shared machine carries its load.
fn load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn main() {
    let Some(g) = common::device() else { return };
    let (started, load_at_start) = (unix_seconds(), load());
    let json_out = std::env::args().skip_while(|a| a != "--json").nth(1);
    // `--sizes MxNxK,...`: only those sizes (else the list below).
    let only: Option<Vec<(usize, usize, usize)>> = std::env::args().skip_while(|a| a != "--sizes").nth(1).map(|s| {
        s.split(',')
            .filter_map(|d| {
                let v: Vec<usize> = d.split('x').filter_map(|x| x.parse().ok()).collect();
                (v.len() == 3).then(|| (v[0], v[1], v[2]))
            })
            .collect()
    });
    println!(
        "{:>6} {:>6} {:>6} {:>12} {:>12} {:>12} {:>12}",
        "M", "N", "K", "64-wide", "128x128", "16-wide", "by size"
    );
    let sizes: &[(usize, usize, usize)] = &[
        (64, 64, 64),
        (128, 128, 128),
        (256, 256, 256),
        (512, 512, 512),
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        (4096, 4096, 4096),
        // M = 1 runs the matrix-vector kernel; M = 2 the tiled GEMM, for comparison.
        (1, 1024, 1024),
        (2, 1024, 1024),
        (1, 4096, 1024),
        (1, 10, 784),
        (64, 4096, 1024),
        (256, 4096, 1024),
        // The bench MLP's two big layers at batch 256, and M between the tile heights.
        (256, 512, 784),
        (256, 512, 512),
        (48, 1024, 512),
        (96, 1024, 512),
        (3136, 64, 576),
        (196, 256, 2304),
        (127, 129, 131),
        // N <= 16: the MLP's output layer at batch 256, and the 16-wide tile's own sizes.
        (256, 10, 512),
        (1024, 16, 1024),
    ];
    let sizes = only.as_deref().unwrap_or(sizes);
    let mut rows = Vec::new();
    for &(m, n, k) in sizes {
        // Software adapters take minutes at the biggest size; skip what one product would.
        if g.summary().device_type == "Cpu" && m * n * k > 1 << 31 {
            continue;
        }
        let r: Vec<_> = [Tiles::Small, Tiles::Big, Tiles::Narrow, Tiles::BySize]
            .iter()
            .map(|&t| measure(&g, t, (m, n, k)))
            .collect();
        let cell = |r: &Result<(usize, f64), String>| match r {
            Ok((_, gf)) => format!("{gf:.2}"),
            Err(e) => format!("failed: {e}"),
        };
        println!(
            "{m:>6} {n:>6} {k:>6} {:>12} {:>12} {:>12} {:>12}",
            cell(&r[0]),
            cell(&r[1]),
            cell(&r[2]),
            cell(&r[3])
        );
        let gf = |r: &Result<(usize, f64), String>| r.as_ref().ok().map(|x| x.1);
        rows.push(serde_json::json!({ "m": m, "n": n, "k": k, "gflops_64": gf(&r[0]), "gflops_128": gf(&r[1]),
            "gflops_16": gf(&r[2]), "gflops_by_size": gf(&r[3]) }));
    }
    g.force_gemm_tiles(Tiles::BySize);
    if let Some(path) = json_out {
        let doc = serde_json::json!({ "adapter": g.summary(), "started_unix_s": started,
            "finished_unix_s": unix_seconds(), "load_average_1m_at_start": load_at_start,
            "load_average_1m_at_end": load(), "rows": rows });
        if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
            eprintln!("could not write {path}: {e}");
        }
    }
}
