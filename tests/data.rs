//! Reading predictions in every format: the cases in tests/fixtures/data/cases.json (made
//! by make_fixtures.py with scikit-learn's numbers) and a bounded-memory streaming check.

use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use webeval::data::{ColumnSpec, NonFinite};
use webeval::report::{self, Report};

/// Counts live and peak heap bytes so the streaming test can bound memory.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let live = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The allocator counts every thread: tests in this binary take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data").join(name)
}

fn open(name: &str) -> std::fs::File {
    std::fs::File::open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn evaluate(files: &[String], labels: Option<&str>, spec: &ColumnSpec) -> webeval::Result<Report> {
    let mut progress = |_: u64, _: u64| true;
    let file = &files[0];
    match labels {
        None => report::evaluate(file, open(file), spec, &mut progress),
        Some(l) => report::evaluate_with_labels((file, open(file)), (l, open(l)), spec, &mut progress),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// One case: the report (task, n, metrics within 1e-9, notes) or the error's message parts.
fn check(case: &Value) -> Option<BTreeMap<String, Value>> {
    let files: Vec<String> = serde_json::from_value(case["files"].clone()).expect("files");
    let labels = case["labels"].as_str();
    let spec = ColumnSpec {
        non_finite: match case["options"]["non_finite"].as_str() {
            Some(s) => NonFinite::parse(s).expect("policy"),
            None => NonFinite::Reject,
        },
        ..ColumnSpec::default()
    };
    let expect = &case["expect"];
    let what = format!("{files:?} labels={labels:?} {}", case["options"]);
    let result = evaluate(&files, labels, &spec);
    if let Some(parts) = expect["error"].as_array() {
        let msg = match result {
            Err(e) => e.to_string(),
            Ok(r) => panic!("{what}: expected an error, got a report with n={}", r.n),
        };
        for p in parts {
            let p = p.as_str().expect("string");
            assert!(msg.contains(p), "{what}: error {msg:?} lacks {p:?}");
        }
        return None;
    }
    let report = result.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.task.name(), expect["task"], "{what}");
    assert_eq!(Some(report.n), expect["n"].as_u64(), "{what}");
    for (key, want) in expect["metrics"].as_object().expect("metrics") {
        let got = report.metrics.get(key).and_then(Value::as_f64);
        let want = want.as_f64().expect("number");
        assert!(got.is_some_and(|g| close(g, want)), "{what}: {key} = {got:?}, scikit-learn says {want}");
    }
    for note in expect["notes"].as_array().into_iter().flatten() {
        let note = note.as_str().expect("string");
        assert!(report.notes.iter().any(|n| n.contains(note)), "{what}: notes {:?} lack {note:?}", report.notes);
    }
    Some(report.metrics)
}

#[test]
fn every_format_and_error_case() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::fs::read_to_string(fixture("cases.json")).expect("cases.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert!(cases.len() >= 30);
    // Same predictions in another container: the whole metric map must agree, not just the
    // metrics scikit-learn was asked for.
    let mut by_expect: BTreeMap<String, (String, BTreeMap<String, Value>)> = BTreeMap::new();
    for case in &cases {
        let Some(metrics) = check(case) else { continue };
        let key = case["expect"].to_string();
        let name = case["files"][0].to_string();
        match by_expect.get(&key) {
            None => {
                by_expect.insert(key, (name, metrics));
            }
            Some((first, want)) => {
                assert_eq!(want.keys().collect::<Vec<_>>(), metrics.keys().collect::<Vec<_>>(), "{name} vs {first}");
                for (k, v) in want {
                    let same = match (v.as_f64(), metrics[k].as_f64()) {
                        (Some(a), Some(b)) => close(a, b),
                        _ => *v == metrics[k],
                    };
                    assert!(same, "{name} vs {first}: {k} {} != {v}", metrics[k]);
                }
            }
        }
    }
}

/// Generates a CSV of `rows` rows on the fly, never holding it.
struct Generated {
    rows: u64,
    row: u64,
    line: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() {
            self.line.clear();
            if self.row == 0 {
                self.line.extend_from_slice(b"y_true,y_pred,weight\n");
            } else if self.row > self.rows {
                return Ok(0);
            } else {
                let r = self.row;
                let (y, p, w) = (r % 3, (r * 7 / 5) % 3, (r % 97) as f64 / 97.0 + 0.25);
                self.line.extend_from_slice(format!("{y},{p},{w}\n").as_bytes());
            }
            self.row += 1;
            self.pos = 0;
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn streaming_memory_does_not_grow_with_the_file() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Labels and weights only: exact AUC and medians keep every score by design (the
    // metrics' business); this checks the readers and the rest of the pipeline.
    let run = |rows: u64| {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let src = Generated { rows, row: 0, line: Vec::new(), pos: 0 };
        let mut bytes = 0;
        let mut progress = |b: u64, _: u64| {
            bytes = b;
            true
        };
        let r = report::evaluate("big.csv", src, &ColumnSpec::default(), &mut progress).expect("report");
        assert_eq!(r.n, rows);
        (PEAK.load(Ordering::Relaxed).saturating_sub(base), bytes)
    };
    let (small_peak, small_bytes) = run(20_000);
    let (big_peak, big_bytes) = run(1_000_000);
    assert!(big_bytes > 40 * small_bytes && big_bytes > 15_000_000, "{big_bytes} bytes read");
    // 50x the data may not take more than 1.5x (+1 MiB slack) the memory.
    assert!(
        big_peak < small_peak * 3 / 2 + (1 << 20),
        "peak heap {big_peak} B for {big_bytes} B of CSV vs {small_peak} B for {small_bytes} B"
    );
}
