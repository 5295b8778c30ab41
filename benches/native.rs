//! Native side of `npm run bench` (benches/run.mjs runs it, one process per case so the peak
//! RSS is the case's own). Prints one JSON line.
//!
//! - `native metrics ROWS CLASSES CI_REPLICATES`: the full report of
//!   `webeval::report::evaluate_arrays` on benches/gen.py's predictions, already in memory;
//! - `native ingest FILE [THREADS|pipelined] [CI_REPLICATES]`: `webeval eval FILE`'s work
//!   (`report::evaluate_path`, streamed from disk by THREADS threads, default one per CPU, as
//!   the CLI does; `pipelined`: read on one thread, feed on another), with 95% bootstrap
//!   intervals of CI_REPLICATES replicates when given (the page's default is 200);
//! - `native gen-csv FILE ROWS`: write the ingest benchmark's CSV (label + 10 probabilities);
//! - `native infer MODEL INPUT BATCH DIM...`: median time of `runtime::Session::run`, and its
//!   mean CPU time;
//! - `native inspect MODEL [RUNS]`: `webeval inspect MODEL --format json`'s work (read from disk,
//!   external data from the model's folder, the card as JSON), median of RUNS (default 3).
//! - `native profile MODEL INPUT BATCH DIM...`: where that time goes, per op (`Session::profile`).
//! - `native gemm M N K [REPS]`: GFLOPS of the packed GEMM alone (`runtime::cpu::probe`), best of
//!   five timings (REPS calls each; default: about 2 GFLOP), with the CPU seconds used.

use std::time::Instant;
use webeval::metrics::ci::CiOptions;
use webeval::report::{evaluate_arrays, Options};

fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

fn uniform(i: usize, j: usize) -> f64 {
    let x = (i as u64 * 16 + j as u64 + 0x9e37_79b9) as u32;
    f64::from(hash32(x)) / 4_294_967_296.0
}

/// The same numbers as benches/gen.py and benches/data.mjs.
fn generate(rows: usize, classes: usize) -> (Vec<u32>, Vec<f32>, usize) {
    generate_from(0, rows, classes)
}

/// Rows `start..start + rows` of [`generate`].
fn generate_from(start: usize, rows: usize, classes: usize) -> (Vec<u32>, Vec<f32>, usize) {
    let mut truth = Vec::with_capacity(rows);
    if classes == 2 {
        let mut scores = Vec::with_capacity(rows);
        for i in start..start + rows {
            let y = uniform(i, 0) < 0.4;
            let u = uniform(i, 1);
            truth.push(u32::from(y));
            scores.push((if y { 0.3 + 0.7 * u } else { 0.7 * u }) as f32);
        }
        return (truth, scores, 1);
    }
    let k = classes;
    let mut scores = Vec::with_capacity(rows * k);
    let mut p = vec![0.0f64; k];
    for i in start..start + rows {
        let y = (uniform(i, 0) * k as f64).floor() as usize;
        truth.push(y as u32);
        let mut s = 0.0;
        for (j, pj) in p.iter_mut().enumerate() {
            *pj = uniform(i, 1 + j) + if j == y { 0.6 } else { 0.0 };
            s += *pj;
        }
        scores.extend(p.iter().map(|v| (v / s) as f32));
    }
    (truth, scores, k)
}

/// Peak resident set size in bytes (Linux; 0 elsewhere).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user + system, all threads) this process has used, from /proc (10 ms ticks):
/// beside wall time, a figure that the machine's other load does not inflate as much.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // fields after the command name in parentheses: utime and stime are the 12th and 13th
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("ingest") => {
            ingest(args.get(1).map_or("", String::as_str), args.get(2).map_or("", String::as_str), arg(3, 0))
        }
        Some("infer") => infer(&args[1..]),
        Some("inspect") => inspect(args.get(1).map_or("", String::as_str), arg(2, 3)),
        Some("profile") => profile(&args[1..]),
        Some("gemm") => gemm(arg(1, 256), arg(2, 512), arg(3, 784), arg(4, 0)),
        Some("gen-csv") => gen_csv(args.get(1).map_or("", String::as_str), arg(2, 1_000_000)),
        _ => metrics(arg(1, 100_000), arg(2, 2), arg(3, 0)),
    }
}

fn ingest(path: &str, mode: &str, replicates: usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let bytes = file.metadata().map_or(0, |m| m.len());
    let t = Instant::now();
    let spec = webeval::data::ColumnSpec::default();
    // The last progress call comes once every row is parsed and fed: reading ends there,
    // the report (sorts, curves) follows.
    let (mut read, mut read_cpu) = (0.0, 0.0);
    let cpu0 = cpu_seconds();
    let mut progress = |_: u64, _: u64| {
        read = t.elapsed().as_secs_f64();
        read_cpu = cpu_seconds() - cpu0;
        true
    };
    let pipelined = mode == "pipelined";
    let threads = mode.parse().unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let ci = (replicates > 0).then(|| CiOptions { replicates, ..CiOptions::default() });
    // the file's length as a size hint, as `webeval eval FILE` passes it
    let options = Options {
        pipelined,
        threads: if pipelined { 1 } else { threads },
        ci,
        size_hint: Some(bytes),
        ..Options::default()
    };
    let report = if pipelined {
        let reader = std::io::BufReader::with_capacity(1 << 20, file);
        webeval::report::evaluate_with(path, reader, &spec, &options, &mut progress)
    } else {
        drop(file);
        webeval::report::evaluate_path(path, &spec, &options, &mut progress)
    }
    .unwrap_or_else(|e| fail(&e.to_string()));
    let seconds = t.elapsed().as_secs_f64();
    let accuracy = report.metrics.get("accuracy_score").cloned();
    // FNV-1a of the report's JSON: two builds gave the same report when these match
    let json = serde_json::to_string(&report).unwrap_or_default();
    let fnv = json.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    if let Ok(out) = std::env::var("WEBEVAL_BENCH_REPORT") {
        // the report itself, to see where two reports differ
        std::fs::write(&out, &json).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    }
    let out = serde_json::json!({ "report_fnv": format!("{fnv:016x}"), "report_bytes": json.len(), "seconds": seconds, "read_seconds": read, "read_cpu_seconds": read_cpu, "bytes": bytes, "rows": report.n, "threads": options.threads,
        "ci_replicates": replicates, "peak_rss_bytes": peak_rss(), "accuracy": accuracy });
    println!("{out}");
}

fn gen_csv(path: &str, rows: usize) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let header: Vec<String> = (0..10).map(|c| format!("prob_{c}")).collect();
    let mut ok = writeln!(w, "label,{}", header.join(",")).is_ok();
    let chunk = 100_000;
    let mut line = String::new();
    for start in (0..rows).step_by(chunk) {
        let (truth, scores, k) = generate_from(start, chunk.min(rows - start), 10);
        for (t, s) in truth.iter().zip(scores.chunks_exact(k)) {
            use std::fmt::Write as _;
            line.clear();
            let _ = write!(line, "{t}");
            for v in s {
                let _ = write!(line, ",{v}");
            }
            line.push('\n');
            ok &= w.write_all(line.as_bytes()).is_ok();
        }
    }
    if !(ok && w.flush().is_ok()) {
        fail(&format!("{path}: write failed"));
    }
}

/// The session, input name, shape and input of an `infer`/`profile` case (the same input as
/// benches/ort_infer.py).
fn infer_case(args: &[String]) -> (webeval::runtime::Session, String, Vec<usize>, Vec<f32>) {
    let (path, name) = (args.first().cloned().unwrap_or_default(), args.get(1).cloned().unwrap_or_default());
    let shape: Vec<usize> = args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let model = webeval::model::Model::from_bytes(&path, bytes).unwrap_or_else(|e| fail(&e.to_string()));
    let session = webeval::runtime::Session::new(&model).unwrap_or_else(|e| fail(&e.to_string()));
    let n: usize = shape.iter().product();
    let x: Vec<f32> = (0..n).map(|i| (i % 17) as f32 / 17.0).collect();
    (session, name, shape, x)
}

/// Per-op milliseconds summed over about a second of runs, divided by the run count.
fn profile(args: &[String]) {
    use webeval::runtime::Tensor;
    let (session, name, shape, x) = infer_case(args);
    let origin = Instant::now();
    let mut clock = || origin.elapsed().as_secs_f64() * 1e3;
    let (mut total, mut runs, start) = (Vec::<(String, String, f64)>::new(), 0usize, Instant::now());
    while start.elapsed().as_secs_f64() < 1.0 || runs < 5 {
        let feeds = vec![(name.clone(), Tensor::f32(shape.clone(), x.clone()))];
        let (_, steps) = session.profile(feeds, &mut clock).unwrap_or_else(|e| fail(&e.to_string()));
        if total.is_empty() {
            total = steps;
        } else {
            for (t, s) in total.iter_mut().zip(steps) {
                t.2 += s.2;
            }
        }
        runs += 1;
    }
    let ops: Vec<_> = total
        .iter()
        .map(|(node, op, ms)| serde_json::json!({ "node": node, "op": op, "ms": ms / runs as f64 }))
        .collect();
    println!("{}", serde_json::json!({ "runs": runs, "ops": ops }));
}

/// Same input and timing rule as benches/ort_infer.py.
fn infer(args: &[String]) {
    use webeval::runtime::Tensor;
    let (session, name, shape, x) = infer_case(args);
    let run = || {
        let feeds = vec![(name.clone(), Tensor::f32(shape.clone(), x.clone()))];
        let t = Instant::now();
        session.run(feeds).unwrap_or_else(|e| fail(&e.to_string()));
        t.elapsed().as_secs_f64()
    };
    for _ in 0..3 {
        run();
    }
    let (mut times, start, cpu) = (Vec::new(), Instant::now(), cpu_seconds());
    while (start.elapsed().as_secs_f64() < 1.0 || times.len() < 5) && times.len() < 100_000 {
        times.push(run());
    }
    // CPU seconds per run (mean): on the shared machine, wall time mostly measures the load.
    // /proc counts 10 ms ticks: under 20 of them, no figure.
    let cpu_total = cpu_seconds() - cpu;
    let cpu_s = (cpu_total >= 0.2).then(|| cpu_total / times.len() as f64);
    times.sort_by(f64::total_cmp);
    let kernel = webeval::runtime::cpu::best().name;
    println!(
        "{}",
        serde_json::json!({ "median_s": times[times.len() / 2], "runs": times.len(), "cpu_s_per_run": cpu_s, "kernel": kernel })
    );
}

fn gemm(m: usize, n: usize, k: usize, reps: usize) {
    let reps = if reps > 0 { reps } else { (2e9 / (2.0 * (m * n * k) as f64)).ceil() as usize };
    let origin = Instant::now();
    let mut clock = || origin.elapsed().as_secs_f64() * 1e3;
    let cpu = cpu_seconds();
    let best = (0..5).map(|_| webeval::runtime::cpu::probe::gemm_gflops(m, n, k, reps, &mut clock)).fold(0.0, f64::max);
    let kernel = webeval::runtime::cpu::best().name;
    println!(
        "{}",
        serde_json::json!({ "m": m, "n": n, "k": k, "reps": reps, "gflops": best, "kernel": kernel,
            "gflops_per_cpu_second": 2.0 * (m * n * k * 5 * (reps + 1)) as f64 / 1e9 / (cpu_seconds() - cpu).max(0.01),
            "cpu_seconds": cpu_seconds() - cpu, "wall_seconds": origin.elapsed().as_secs_f64() })
    );
}

fn inspect(path: &str, runs: usize) {
    let opts = webeval::model::ShapeOptions::default();
    let mut times = Vec::new();
    let mut card = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let c =
            webeval::model::inspect_path(std::path::Path::new(path), &opts).unwrap_or_else(|e| fail(&e.to_string()));
        let json = c.to_json().unwrap_or_else(|e| fail(&e.to_string()));
        times.push(t.elapsed().as_secs_f64());
        card = Some((c, json.len()));
    }
    times.sort_by(f64::total_cmp);
    let (c, json_bytes) = card.unwrap_or_else(|| fail("no run"));
    println!(
        "{}",
        serde_json::json!({ "median_s": times[times.len() / 2], "runs": times, "params": c.params, "macs": c.macs,
            "size_bytes": c.size_bytes, "card_json_bytes": json_bytes, "peak_rss_bytes": peak_rss() })
    );
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

fn metrics(rows: usize, classes: usize, replicates: usize) {
    let (truth, scores, width) = generate(rows, classes);
    let rss_data = peak_rss();
    let options = Options {
        ci: (replicates > 0).then(|| CiOptions { replicates, ..CiOptions::default() }),
        ..Options::default()
    };
    let t = Instant::now();
    let report = evaluate_arrays(&truth, &scores, width, &options).unwrap_or_else(|e| fail(&e.to_string()));
    let json = serde_json::to_string(&report).unwrap_or_default();
    let seconds = t.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "rows": rows, "classes": classes, "ci_replicates": replicates, "seconds": seconds,
        "peak_rss_bytes": peak_rss(), "rss_after_data_bytes": rss_data, "report_bytes": json.len(),
        "metrics": report.metrics,
    });
    println!("{out}");
}
