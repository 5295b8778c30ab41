//! Reading predictions in every format: the cases in tests/fixtures/data/cases.json (made
//! by make_fixtures.py with scikit-learn's numbers) and a bounded-memory streaming check.

use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use webeval::data::mapping::{self, Role};
use webeval::data::{ColumnSpec, NonFinite};
use webeval::metrics::Task;
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

fn turn() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A folder of this process's own under the temp dir, removed when dropped: also when an
/// assertion fails (the files written into it are megabytes).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("webeval-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data").join(name)
}

fn open(name: &str) -> std::fs::File {
    std::fs::File::open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn evaluate(files: &[String], labels: Option<&str>, spec: &ColumnSpec) -> webeval::Result<Report> {
    let mut progress = |_: u64, _: u64| true;
    let file = &files[0];
    let options = report::Options::default();
    let opened = webeval::data::open_file(file, open(file))?;
    match labels {
        None => report::evaluate_opened(file, opened, spec, &options, &mut progress),
        Some(l) => {
            let labels = webeval::data::open_file(l, open(l))?;
            report::evaluate_with_labels_opened((file, opened), (l, labels), spec, &options, &mut progress)
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// One case: the report (task, n, metrics within 1e-9, notes) or the error's message parts.
fn check(case: &Value) -> Option<BTreeMap<String, Value>> {
    let files: Vec<String> = serde_json::from_value(case["files"].clone()).expect("files");
    let labels = case["labels"].as_str();
    let opt = |k: &str| case["options"][k].as_str().map(str::to_string);
    let list = |k: &str| -> Vec<String> { serde_json::from_value(case["options"][k].clone()).unwrap_or_default() };
    let spec = ColumnSpec {
        non_finite: match case["options"]["non_finite"].as_str() {
            Some(s) => NonFinite::parse(s).expect("policy"),
            None => NonFinite::Reject,
        },
        id: opt("id"),
        label: opt("label"),
        pred: opt("pred"),
        score: opt("score"),
        weight: opt("weight"),
        task: opt("task").map(|t| Task::parse(&t).expect("task")),
        probs: list("probs"),
        indicators: list("indicators"),
        pred_indicators: list("pred_indicators"),
        exact: case["options"]["exact"].as_bool().unwrap_or(false),
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
    let _turn = turn();
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

/// The column-mapping panel's view of a file's first bytes: each column's role (and class),
/// and the reasons given to ask the user (substrings), or detection's error.
fn check_mapping(file: &str, spec: &ColumnSpec, roles: &[(&str, Option<Role>, Option<&str>)], problems: &[&str]) {
    let bytes = std::fs::read(fixture(file)).expect("fixture");
    // Only the head is handed over, cut mid-row, as the page does with its first slice.
    let head = &bytes[..bytes.len().min(300)];
    let got = mapping::detect(file, head, spec).unwrap_or_else(|e| panic!("{file}: {e}"));
    let seen: Vec<_> = got.columns.iter().map(|c| (c.name.as_str(), c.role, c.class.as_deref())).collect();
    assert_eq!(seen, roles, "{file}: roles");
    let said: Vec<&String> = got.problems.iter().chain(&got.error).collect();
    assert_eq!(said.len(), problems.len(), "{file}: problems {said:?}, expected {problems:?}");
    for (s, p) in said.iter().zip(problems) {
        assert!(s.contains(p), "{file}: {s:?} lacks {p:?}");
    }
    assert!(got.columns.iter().all(|c| !c.sample.is_empty() && c.sample.len() <= 5), "{file}: samples");
}

#[test]
fn column_mapping_detection() {
    let _turn = turn();
    use Role::*;
    let auto = ColumnSpec::default();
    let w = Some(Weight);
    check_mapping(
        "multi.csv",
        &auto,
        &[
            ("y_true", Some(Label), None),
            ("prob_0", Some(Prob), Some("0")),
            ("prob_1", Some(Prob), Some("1")),
            ("prob_2", Some(Prob), Some("2")),
            ("weight", w, None),
        ],
        &[],
    );
    let extra = [
        ("y_true", Some(Label), None),
        ("score", None, None),
        ("prob_0", Some(Prob), Some("0")),
        ("prob_1", Some(Prob), Some("1")),
        ("prob_2", Some(Prob), Some("2")),
        ("weight", w, None),
    ];
    check_mapping(
        "multi_extra.csv",
        &auto,
        &extra,
        &["per-class columns (prob_0, prob_1, prob_2) were taken as the scores, so 'score' is left out"],
    );
    let renamed = [
        ("animal", None, None),
        ("ant", None, None),
        ("bee", None, None),
        ("cow", None, None),
        ("importance", None, None),
    ];
    check_mapping(
        "multi_renamed.csv",
        &auto,
        &renamed,
        &["no true-label column found among [animal, ant, bee, cow, importance]"],
    );
    let by_hand = ColumnSpec {
        label: Some("animal".into()),
        probs: vec!["ant".into(), "bee".into(), "cow".into()],
        weight: Some("importance".into()),
        exact: true,
        ..ColumnSpec::default()
    };
    let mapped = [
        ("animal", Some(Label), None),
        ("ant", Some(Prob), Some("ant")),
        ("bee", Some(Prob), Some("bee")),
        ("cow", Some(Prob), Some("cow")),
        ("importance", w, None),
    ];
    check_mapping("multi_renamed.csv", &by_hand, &mapped, &[]);
    check_mapping(
        "two_truths.csv",
        &auto,
        &[("label", Some(Label), None), ("y_true", None, None), ("y_pred", Some(Pred), None)],
        &["2 columns could be the true label (label, y_true); 'label' was taken"],
    );
    check_mapping(
        "ml_indicators.csv",
        &auto,
        &[
            ("label_a", Some(TruthIndicator), Some("a")),
            ("label_b", Some(TruthIndicator), Some("b")),
            ("pred_a", Some(PredIndicator), Some("a")),
            ("pred_b", Some(PredIndicator), Some("b")),
        ],
        &[],
    );
    check_mapping(
        "nothing.csv",
        &auto,
        &[("y_true", Some(Label), None), ("notes", None, None)],
        &["no column was recognised as a prediction"],
    );
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
    let _turn = turn();
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

/// The page's Parquet module hands rows to the main module as CSV text: read back by the
/// delimited-text reader, that text gives every fixture's header, cells and line numbers
/// exactly as the Parquet reader does (so the page's report is the CLI's).
#[test]
fn parquet_csv_text_reads_back_as_the_same_records() {
    use webeval::data::parquet::ParquetRows;
    use webeval::data::{Record, Rows};
    let _turn = turn();
    let dir = fixture("");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let name = entry.expect("entry").file_name().into_string().expect("utf-8");
        if !name.ends_with(".parquet") || name.starts_with("err_") {
            continue;
        }
        let mut direct = ParquetRows::new(&name, open(&name)).expect("opens");
        let mut text = Vec::new();
        let mut via = ParquetRows::new(&name, open(&name)).expect("opens");
        // small pieces, so text crosses row groups and pieces
        loop {
            let before = text.len();
            via.write_csv(&mut text, before + 100).expect("text");
            if text.len() == before {
                break;
            }
        }
        let mut csv = webeval::data::open(&name, text.as_slice(), None).expect("csv").rows;
        assert_eq!(direct.header(), csv.header(), "{name}");
        let (mut a, mut b) = (Record::default(), Record::default());
        let mut rows = 0;
        loop {
            let (la, lb) = (direct.next_bytes(&mut a).expect("parquet"), csv.next_bytes(&mut b).expect("csv"));
            assert_eq!(la, lb, "{name}: line numbers");
            if la.is_none() {
                break;
            }
            assert_eq!(a.to_strings(), b.to_strings(), "{name}, line {la:?}");
            rows += 1;
        }
        assert!(rows > 0, "{name}");
        checked += 1;
    }
    assert!(checked >= 8, "{checked} Parquet fixtures");
}

/// Writes a Parquet file of `rows` rows in row groups of 10,000 (labels, predictions, weights
/// with nulls, and an id column no role reads) with the parquet crate's writer.
fn write_parquet(path: &std::path::Path, rows: i64) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = "message m { required int64 y_true; required int64 y_pred; optional double weight; required binary id (STRING); }";
    let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(schema).expect("schema"));
    let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
    let file = std::fs::File::create(path).expect("create");
    let mut w = SerializedFileWriter::new(file, schema, std::sync::Arc::new(props)).expect("writer");
    for start in (0..rows).step_by(10_000) {
        let r: Vec<i64> = (start..rows.min(start + 10_000)).collect();
        let mut group = w.next_row_group().expect("row group");
        let mut i = 0;
        while let Some(mut col) = group.next_column().expect("column") {
            match i {
                0 => col.typed::<Int64Type>().write_batch(&r.iter().map(|r| r % 3).collect::<Vec<_>>(), None, None),
                1 => col.typed::<Int64Type>().write_batch(
                    &r.iter().map(|r| r * 7 / 5 % 3).collect::<Vec<_>>(),
                    None,
                    None,
                ),
                2 => {
                    // every 10th weight is null (the row is then skipped under --non-finite skip)
                    let defs: Vec<i16> = r.iter().map(|r| i16::from(r % 10 != 0)).collect();
                    let w: Vec<f64> =
                        r.iter().filter(|r| *r % 10 != 0).map(|r| (r % 97) as f64 / 97.0 + 0.25).collect();
                    col.typed::<DoubleType>().write_batch(&w, Some(&defs), None)
                }
                _ => {
                    let ids: Vec<ByteArray> =
                        r.iter().map(|r| ByteArray::from(format!("row-{r:020}").as_str())).collect();
                    col.typed::<ByteArrayType>().write_batch(&ids, None, None)
                }
            }
            .expect("write");
            col.close().expect("close column");
            i += 1;
        }
        group.close().expect("close row group");
    }
    w.close().expect("close file");
}

#[test]
fn parquet_memory_is_bounded_by_a_row_group() {
    let _turn = turn();
    let tmp = TempDir::new("parquet");
    let dir = &tmp.0;
    let spec = ColumnSpec { non_finite: NonFinite::Skip, ..ColumnSpec::default() };
    let run = |rows: i64| {
        let path = dir.join(format!("big{rows}.parquet"));
        write_parquet(&path, rows);
        let size = std::fs::metadata(&path).expect("size").len();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let mut bytes = 0;
        let mut progress = |b: u64, _: u64| {
            bytes = b;
            true
        };
        let opened = webeval::data::open_path(path.to_str().expect("utf-8 path")).expect("open");
        let r = report::evaluate_opened("big.parquet", opened, &spec, &report::Options::default(), &mut progress)
            .expect("report");
        assert_eq!(r.n, rows as u64 - (rows as u64).div_ceil(10), "rows with a null weight are skipped");
        assert_eq!(bytes, size, "progress reaches the file size");
        (PEAK.load(Ordering::Relaxed).saturating_sub(base), size)
    };
    let (small_peak, small_size) = run(20_000);
    let (big_peak, big_size) = run(1_000_000);
    drop(tmp);
    assert!(big_size > 40 * small_size, "{big_size} vs {small_size} bytes");
    // 50x the row groups may not take more than 1.5x (+1 MiB slack) the memory.
    assert!(
        big_peak < small_peak * 3 / 2 + (1 << 20),
        "peak heap {big_peak} B for {big_size} B of Parquet vs {small_peak} B for {small_size} B"
    );
}

#[cfg(feature = "images")]
mod images {
    use image::{ImageFormat, Rgb, RgbImage};
    use std::io::{Cursor, Write};
    use webeval::data::images::{ImageFolder, ImageSpec, Resize, TensorLayout, ZipImages};

    fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    /// 2x2: red, green / blue, white.
    fn quad() -> Vec<u8> {
        let px = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        encode(&RgbImage::from_fn(2, 2, |x, y| Rgb(px[(y * 2 + x) as usize])), ImageFormat::Png)
    }

    fn spec(layout: TensorLayout, channels: usize, mean: f32, std: f32) -> ImageSpec {
        ImageSpec {
            width: 2,
            height: 2,
            channels,
            layout,
            resize: Resize::Stretch,
            mean: vec![mean; channels],
            std: vec![std; channels],
        }
    }

    fn check(bytes: &[u8], spec: &ImageSpec, expected: &[f32], tolerance: f32) {
        let mut out = Vec::new();
        webeval::data::images::decode_into("t.png", bytes, spec, &mut out).expect("decode");
        assert_eq!(out.len(), expected.len(), "{spec:?}");
        for (i, (g, w)) in out.iter().zip(expected).enumerate() {
            assert!((g - w).abs() <= tolerance, "{spec:?} element {i}: {g} != {w}\n{out:?}");
        }
    }

    #[test]
    fn layouts_channels_and_normalisation() {
        let _turn = super::turn();
        let q = quad();
        #[rustfmt::skip]
        check(&q, &spec(TensorLayout::Nchw, 3, 0.0, 1.0), &[
            1., 0., 0., 1.,   0., 1., 0., 1.,   0., 0., 1., 1.], 0.0);
        #[rustfmt::skip]
        check(&q, &spec(TensorLayout::Nhwc, 3, 0.0, 1.0), &[
            1., 0., 0.,  0., 1., 0.,  0., 0., 1.,  1., 1., 1.], 0.0);
        check(
            &q,
            &spec(TensorLayout::Nchw, 3, 0.5, 0.5),
            &[1., -1., -1., 1., -1., 1., -1., 1., -1., -1., 1., 1.],
            1e-6,
        );
        // Grey: ITU-R 601 luma as the image crate computes it, in 8 bits.
        let luma = |r: f32, g: f32, b: f32| ((r * 2126. + g * 7152. + b * 722.) / 10000.).round() / 255.;
        check(
            &q,
            &spec(TensorLayout::Nchw, 1, 0.0, 1.0),
            &[luma(255., 0., 0.), luma(0., 255., 0.), luma(0., 0., 255.), 1.0],
            1.0 / 255.,
        );
        // JPEG is lossy: a flat colour survives within a few levels.
        let flat = encode(&RgbImage::from_pixel(16, 16, Rgb([200, 100, 50])), ImageFormat::Jpeg);
        let s = ImageSpec { width: 4, height: 4, ..spec(TensorLayout::Nhwc, 3, 0.0, 1.0) };
        let want: Vec<f32> = (0..16).flat_map(|_| [200. / 255., 100. / 255., 50. / 255.]).collect();
        check(&flat, &s, &want, 3.0 / 255.);
    }

    #[test]
    fn shorter_side_then_centre_crop() {
        let _turn = super::turn();
        // 8x4, columns 0-3 red, 4-7 blue: resizing the shorter side to 4 keeps it; the centre
        // 4x4 crop is columns 2-5.
        let img = RgbImage::from_fn(8, 4, |x, _| Rgb(if x < 4 { [255, 0, 0] } else { [0, 0, 255] }));
        let s = ImageSpec {
            width: 4,
            height: 4,
            resize: Resize::ShorterThenCenterCrop { shorter: 4 },
            ..spec(TensorLayout::Nchw, 3, 0.0, 1.0)
        };
        let row_r = [1., 1., 0., 0.];
        let want: Vec<f32> = [row_r, [0.; 4], [0., 0., 1., 1.]].iter().flat_map(|r| r.repeat(4)).collect();
        check(&encode(&img, ImageFormat::Png), &s, &want, 0.0);
        // Downscaling a flat image keeps it flat and gives the requested shape.
        let big = RgbImage::from_pixel(300, 200, Rgb([51, 102, 153]));
        let s = ImageSpec { width: 8, height: 8, resize: Resize::ShorterThenCenterCrop { shorter: 10 }, ..s };
        let want: Vec<f32> = [0.2f32, 0.4, 0.6].iter().flat_map(|v| [*v; 64]).collect();
        check(&encode(&big, ImageFormat::Png), &s, &want, 1e-6);
    }

    #[test]
    fn image_folder_from_a_zip_in_batches() {
        let _turn = super::turn();
        let red = encode(&RgbImage::from_pixel(3, 3, Rgb([255, 0, 0])), ImageFormat::Png);
        let blue = encode(&RgbImage::from_pixel(5, 4, Rgb([0, 0, 255])), ImageFormat::Jpeg);
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in [
            ("data/dog/b.JPG", &blue),
            ("data/cat/a.png", &red),
            ("data/dog/c.png", &red),
            ("data/.DS_Store", &red),
            ("__MACOSX/data/cat/._a.png", &red),
            ("readme.txt", &red),
        ] {
            zip.start_file(name, opts).expect("start");
            zip.write_all(bytes).expect("write");
        }
        let bytes = zip.finish().expect("finish").into_inner();
        let mut source = ZipImages::new("ds.zip", Cursor::new(bytes)).expect("zip");
        let folder = source.folder().expect("folder");
        assert_eq!(folder.classes(), ["cat", "dog"]);
        assert_eq!(folder.len(), 3);
        assert_eq!(folder.ignored.len(), 3);
        let s = ImageSpec { width: 2, height: 2, ..spec(TensorLayout::Nchw, 3, 0.0, 1.0) };
        let batches: Vec<_> = folder.batches(&mut source, &s, 2).collect::<Result<_, _>>().expect("batches");
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].shape, [2, 3, 2, 2]);
        assert_eq!(batches[0].labels, [0, 1]);
        assert_eq!(batches[0].paths, ["data/cat/a.png", "data/dog/b.JPG"]);
        assert_eq!(batches[1].shape, [1, 3, 2, 2]);
        assert_eq!(batches[1].labels, [1]);
        // cat/a.png is red: channel 0 ones, channels 1-2 zeros; dog/b.JPG mostly blue.
        assert_eq!(&batches[0].data[..12], &[1., 1., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0.]);
        assert!(batches[0].data[12 + 8..].iter().all(|v| *v > 0.95), "{:?}", &batches[0].data[12..]);
    }

    #[test]
    fn image_errors_name_the_file() {
        let _turn = super::turn();
        let folder =
            ImageFolder::from_paths("drop", ["cat/a.png".to_string(), "dog/b.png".to_string()]).expect("index");
        let mut source = |path: &str| -> webeval::Result<Vec<u8>> {
            Ok(if path == "dog/b.png" { b"\x89PNG not really".to_vec() } else { quad() })
        };
        let s = spec(TensorLayout::Nchw, 3, 0.0, 1.0);
        assert!(folder.batch(&mut source, &s, 0..1).is_ok());
        let e = folder.batch(&mut source, &s, 0..2).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("drop/dog/b.png") && e.contains("expected a PNG or JPEG"), "{e}");
        let e = ImageFolder::from_paths("x.zip", ["a.png".to_string(), "notes.txt".to_string()])
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("expected class_name/image.png"));
        let bad = ImageSpec { mean: vec![0.5], ..s.clone() };
        let e = folder.batch(&mut source, &bad, 0..1).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("one per channel"), "{e}");
    }

    /// A model whose input is an image batch, run on an ImageFolder zip: the pixels, the
    /// folder-to-output numbering and the report match onnxruntime + scikit-learn
    /// (make_images.py).
    #[test]
    fn model_on_an_image_zip_matches_onnxruntime() {
        let _turn = super::turn();
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(super::fixture("digits_images.json")).expect("goldens"))
                .expect("json");
        let model_bytes = std::fs::read(super::fixture("digits_image_model.onnx")).expect("model");
        let model = webeval::model::Model::from_bytes("digits_image_model.onnx", model_bytes).expect("loads");
        let zip = std::fs::read(super::fixture("digits_images.zip")).expect("zip");
        let opts = webeval::runtime::infer::ImageOptions::default();
        let spec = webeval::runtime::infer::image_spec(&model, &opts).expect("spec");
        assert_eq!((spec.width, spec.height, spec.channels, spec.layout), (8, 8, 1, TensorLayout::Nchw));
        assert_eq!((spec.resize, spec.mean.clone(), spec.std.clone()), (Resize::Stretch, vec![0.0], vec![1.0]));
        let ds = webeval::runtime::infer::read_dataset_for(&model, "digits_images.zip", zip.as_slice(), None, &opts)
            .expect("dataset");
        assert_eq!(ds.rows as u64, want["n"].as_u64().expect("n"));
        let session = webeval::runtime::Session::new(&model).expect("compiles");
        let mut clock = || 0.0;
        let (report, preds, _) =
            webeval::runtime::infer::evaluate(&model, &session, &ds, 32, &mut clock).expect("runs");
        let classes: Vec<String> = serde_json::from_value(want["classes"].clone()).expect("classes");
        assert_eq!(preds.classes, classes);
        for (r, row) in want["probabilities_first_rows"].as_array().expect("rows").iter().enumerate() {
            for (c, p) in row.as_array().expect("row").iter().enumerate() {
                let (got, p) = (f64::from(preds.probs[r * classes.len() + c]), p.as_f64().expect("p"));
                assert!((got - p).abs() < 1e-6, "row {r} class {c}: {got} vs onnxruntime {p}");
            }
        }
        assert_eq!(report.n, ds.rows as u64);
        assert_eq!(report.class_names(), classes);
        for (key, value) in want["metrics"].as_object().expect("metrics") {
            let got = report.metrics.get(key).and_then(serde_json::Value::as_f64);
            let value = value.as_f64().expect("number");
            assert!(
                got.is_some_and(|g| (g - value).abs() <= 1e-6 * value.abs().max(1e-3)),
                "{key}: {got:?} vs {value}"
            );
        }
        // A table-input model is refused with the shape it has.
        let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/demo/digits_mlp.onnx");
        let table =
            webeval::model::Model::from_bytes("digits_mlp.onnx", std::fs::read(demo).expect("demo")).expect("m");
        let e = webeval::runtime::infer::image_spec(&table, &opts).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("not an image batch"), "{e}");
    }
}

/// A 4-class CSV with probabilities and weights; row `r` is replaced by `bad`'s line for
/// it, and ends with a `note` column when `note` gives one (then CRLF line ends and a blank
/// line every 97 rows).
fn four_classes(rows: usize, bad: &[(usize, &str)], note: &dyn Fn(usize) -> Option<String>) -> String {
    let classes = ["cat", "dog", "eel", "fox"];
    let crlf = note(0).is_some();
    let mut text = String::from("label,prob_cat,prob_dog,prob_eel,prob_fox,weight");
    text.push_str(if crlf { ",note\r\n" } else { "\n" });
    for r in 0..rows {
        if let Some((_, line)) = bad.iter().find(|(at, _)| *at == r) {
            text.push_str(line);
            continue;
        }
        let y = classes[(r * 7 + r / 3) % 4];
        let raw: Vec<f64> = (0..4).map(|c| ((r * 31 + c * 17) % 101) as f64 + 1.0).collect();
        let sum: f64 = raw.iter().sum();
        let probs: Vec<String> = raw.iter().map(|v| format!("{}", v / sum)).collect();
        text.push_str(&format!("{y},{},{}", probs.join(","), (r % 5) as f64 * 0.5));
        match note(r) {
            Some(n) => text.push_str(&format!(",{n}\r\n{}", if r % 97 == 0 { "\r\n" } else { "" })),
            None => text.push('\n'),
        }
    }
    text
}

/// Natively rows can be read on one thread and fed on another: the report, and the first
/// error, are those of the single-thread path (which is what wasm runs).
#[test]
fn pipelined_reading_gives_the_single_thread_report_and_errors() {
    let _turn = turn();
    let csv = |bad: &[(usize, &str)]| four_classes(30_000, bad, &|_| None);
    let run = |text: &str, pipelined: bool| {
        let spec = ColumnSpec { non_finite: NonFinite::Skip, ..ColumnSpec::default() };
        let options = report::Options {
            ci: Some(webeval::metrics::ci::CiOptions { level: 0.9, replicates: 5, seed: 3 }),
            pipelined,
            ..report::Options::default()
        };
        let mut progress = |_: u64, _: u64| true;
        match report::evaluate_with("p.csv", text.as_bytes(), &spec, &options, &mut progress) {
            Ok(r) => serde_json::to_string(&r).expect("json"),
            Err(e) => format!("error: {e}"),
        }
    };
    let skipped = csv(&[(10_000, "dog,nan,0.2,0.3,0.5,1\n"), (20_000, "cat,0.1,0.2,0.3,inf,1\n")]);
    let one = run(&skipped, false);
    assert!(one.contains("skipped 2 rows"), "{}", &one[..one.len().min(300)]);
    assert_eq!(run(&skipped, true), one);
    // a feed error (row 15000) before a reader error (row 25000): the feed error, both ways
    let bad = csv(&[(15_000, "cat,0.1,x,0.3,0.6,1\n"), (25_000, "cat,0.1\n")]);
    let one = run(&bad, false);
    assert!(one.starts_with("error: ") && one.contains("line 15002") && one.contains("'x'"), "{one}");
    assert_eq!(run(&bad, true), one);
    let ragged = csv(&[(25_000, "cat,0.1\n")]);
    let one = run(&ragged, false);
    assert!(one.starts_with("error: ") && one.contains("25002"), "{one}");
    assert_eq!(run(&ragged, true), one);
}

/// Generated files for the chunking test: each case's text. Rows past the plan's
/// 1000-row sample, so most chunks are read by the other threads; quoted fields with
/// newlines (long enough to hold a chunk boundary), CRLF and blank lines; errors late in
/// the file.
fn chunking_cases() -> Vec<(&'static str, ColumnSpec, String)> {
    let note = |r: usize| match r % 7 {
        0 => format!("\"a note\nover {} lines, \"\"quoted\"\"\n{}\"", r % 5 + 2, "x".repeat(r % 300)),
        3 => "\"a,b\"".to_string(),
        _ => "plain".to_string(),
    };
    let multi = |bad: &[(usize, &str)]| four_classes(4000, bad, &|r| Some(note(r)));
    let skip = ColumnSpec { non_finite: NonFinite::Skip, ..ColumnSpec::default() };
    let mut binary = String::from("y_true,y_score,note\n");
    let mut regression = String::from("y_true,y_pred\n");
    let mut labels_only = String::from("y_true,y_pred\n");
    let mut multilabel = String::from("label_a,label_b,label_c,pred_a,pred_b,pred_c\n");
    for r in 0..5000usize {
        let s = ((r * 7919) % 1000) as f64 / 1000.0;
        binary.push_str(&format!("{},{s},{}\n", usize::from((r * 13) % 10 < 4 + (s * 4.0) as usize), note(r)));
        regression.push_str(&format!("{},{}\n", (r % 89) as f64 * 0.37, ((r * 17) % 83) as f64 * 0.41));
        // labels seen only late in the file, and more than fit the per-cell lists past row 4000
        let t = if r < 3000 { format!("c{}", r % 3) } else { format!("late{}", r % 60) };
        let p = if r % 4 == 0 { format!("c{}", (r / 4) % 3) } else { t.clone() };
        labels_only.push_str(&format!("{t},{p}\n"));
        let bits: Vec<String> =
            (0..6).map(|j| ((r >> j) & 1 ^ usize::from(j >= 3 && r % 5 == 0)).to_string()).collect();
        multilabel.push_str(&format!("{}\n", bits.join(",")));
    }
    let mut cells = labels_only.clone();
    cells.truncate(labels_only.find("\nlate").map_or(labels_only.len(), |i| i + 1));
    vec![
        (
            "multi.csv",
            skip.clone(),
            multi(&[(1500, "dog,nan,0.2,0.3,0.5,1,x\r\n"), (3500, "cat,0.1,0.2,0.3,inf,1,y\r\n")]),
        ),
        ("binary.csv", ColumnSpec::default(), binary),
        ("regression.csv", ColumnSpec::default(), regression),
        ("labels.csv", ColumnSpec::default(), labels_only),
        ("cells.csv", ColumnSpec::default(), cells),
        ("multilabel.csv", ColumnSpec { task: Some(Task::Multilabel), ..ColumnSpec::default() }, multilabel),
        ("not_numeric.csv", skip.clone(), multi(&[(2500, "cat,0.1,x,0.3,0.6,1,z\r\n"), (3000, "cat,0.1\r\n")])),
        ("ragged.csv", skip.clone(), multi(&[(3000, "cat,0.1,0.2,\"0.3\n\",0.4\r\n")])),
        ("non_finite.csv", ColumnSpec::default(), multi(&[(2200, "dog,0.2,0.2,0.3,NaN,1,x\r\n")])),
    ]
}

/// The canonical chunks: one thread (the wasm path, `evaluate_with`) and 2 or 3 threads
/// (`evaluate_path`) give byte-identical JSON, or the same error, at every chunk size, with
/// or without a size hint (right, too small or too large); and chunked reading keeps what
/// one unchunked pass gives: the rows, lines and errors exactly, the metrics to rounding.
#[test]
fn chunked_reading_gives_the_same_report_on_any_number_of_threads() {
    let _turn = turn();
    let tmp = TempDir::new("chunks");
    let dir = &tmp.0;
    let ci = Some(webeval::metrics::ci::CiOptions { level: 0.9, replicates: 7, seed: 11 });
    let json = |r: webeval::Result<Report>| match r {
        Ok(r) => serde_json::to_string(&r).expect("json"),
        Err(e) => format!("error: {e}"),
    };
    for (name, spec, text) in chunking_cases() {
        let path = dir.join(name);
        std::fs::write(&path, &text).expect("write");
        let path = path.to_string_lossy().to_string();
        let size = text.len() as u64;
        let options = |chunk_bytes: Option<u64>, threads: usize| report::Options {
            ci,
            chunk_bytes,
            threads,
            size_hint: Some(size),
            ..report::Options::default()
        };
        let mut progress = |_: u64, _: u64| true;
        let whole = json(report::evaluate_with(&path, text.as_bytes(), &spec, &options(None, 1), &mut progress));
        for chunk_bytes in [211, 4096] {
            let one = json(report::evaluate_with(
                &path,
                text.as_bytes(),
                &spec,
                &options(Some(chunk_bytes), 1),
                &mut progress,
            ));
            for size_hint in [None, Some(1), Some(size / 3), Some(size * 10)] {
                let hinted = report::Options { size_hint, ..options(Some(chunk_bytes), 1) };
                let other = json(report::evaluate_with(&path, text.as_bytes(), &spec, &hinted, &mut progress));
                assert!(
                    other == one,
                    "{name}, {chunk_bytes}-byte chunks, size hint {size_hint:?}:\n{other:.600}\nvs {size}:\n{one:.600}"
                );
            }
            for threads in [1, 2, 3] {
                let many =
                    json(report::evaluate_path(&path, &spec, &options(Some(chunk_bytes), threads), &mut progress));
                assert!(
                    many == one,
                    "{name}, {chunk_bytes}-byte chunks, {threads} threads:\n{many:.600}\nvs one:\n{one:.600}"
                );
            }
            if whole.starts_with("error: ") {
                assert_eq!(one, whole, "{name}: chunked errors are the one-pass errors");
                continue;
            }
            let (a, b): (Value, Value) =
                (serde_json::from_str(&one).expect("json"), serde_json::from_str(&whole).expect("json"));
            for key in ["n", "classes", "notes", "per_class"] {
                if key == "per_class" {
                    let counts = |v: &Value| {
                        v[key].as_array().map(|a| a.iter().map(|c| c["support"].clone()).collect::<Vec<_>>())
                    };
                    assert_eq!(counts(&a), counts(&b), "{name}: support");
                } else {
                    assert_eq!(a[key], b[key], "{name}: {key}");
                }
            }
            for key in ["worst", "cells"] {
                assert_eq!(a["examples"][key], b["examples"][key], "{name}: examples.{key}");
            }
            assert_eq!(a["examples"]["sample"]["of"], b["examples"]["sample"]["of"], "{name}");
            let metrics = a["metrics"].as_object().expect("metrics");
            assert!(!metrics.is_empty(), "{name}");
            for (k, v) in metrics {
                let (x, y) = (&v["value"], &b["metrics"][k]["value"]);
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => assert!(close(x, y), "{name}: {k} {x} vs {y}"),
                    _ => assert_eq!(x, y, "{name}: {k}"),
                }
            }
        }
        match name {
            "multi.csv" => assert!(whole.contains("skipped 2 rows"), "{whole:.300}"),
            "not_numeric.csv" => assert!(whole.contains("'x'"), "{whole}"),
            "ragged.csv" | "non_finite.csv" => assert!(whole.starts_with("error: "), "{whole}"),
            _ => assert!(!whole.starts_with("error: "), "{name}: {whole:.300}"),
        }
    }
    // past the score budget (binned scores, merged per chunk) too: in the sample's chunk,
    // or at a later chunk: the merge hands the sketching to the other
    // threads where the sketches stay whole (no weights, whole weights: lanes of columns
    // binning each chunk in file order) and keeps it where not (fractional weights); with
    // and without intervals, with a grid that coarsens (small sketches) or not; quoted
    // newlines at guessed chunk starts
    let quoted = |r: usize| match r % 7 {
        0 => format!("\"a note\nover lines {}\"", "y".repeat(r % 250)),
        _ => "plain".to_string(),
    };
    let per_class = |weight: &dyn Fn(usize) -> String| {
        let mut text = String::from("label,prob_cat,prob_dog,prob_eel,weight,note\n");
        for r in 0..5000usize {
            let raw: Vec<f64> = (0..3).map(|c| ((r * 31 + c * 17) % 101) as f64 + 1.0).collect();
            let sum: f64 = raw.iter().sum();
            let probs: Vec<String> = raw.iter().map(|v| format!("{}", v / sum)).collect();
            let y = ["cat", "dog", "eel"][(r * 7 + r / 3) % 3];
            text.push_str(&format!("{y},{},{},{}\n", probs.join(","), weight(r), quoted(r)));
        }
        text
    };
    let binary = |weight: &dyn Fn(usize) -> String| {
        let mut text = String::from("y_true,y_score,weight,note\n");
        for r in 0..5000usize {
            let s = ((r * 7919) % 1000) as f64 / 1000.0;
            let y = usize::from((r * 13) % 10 < 4 + (s * 4.0) as usize);
            text.push_str(&format!("{y},{s},{},{}\n", weight(r), quoted(r)));
        }
        text
    };
    let (unit, whole, fraction) =
        (|_: usize| "1".to_string(), |r: usize| (r % 3).to_string(), |r: usize| format!("{}", (r % 4) as f64 * 0.75));
    let case = |name: &str| chunking_cases().into_iter().find(|c| c.0 == name).map(|c| c.2).unwrap_or_default();
    let multi = case("multi.csv");
    let later = [
        ("binary.csv", case("binary.csv"), 300),
        ("multi.csv", multi.clone(), 300),
        ("later_unit.csv", per_class(&unit), 7500),
        ("later_whole.csv", per_class(&whole), 7500),
        ("later_fraction.csv", multi, 10_000),
        ("later_binary_unit.csv", binary(&unit), 2500),
        ("later_binary_whole.csv", binary(&whole), 2500),
        ("later_binary_fraction.csv", binary(&fraction), 2500),
    ];
    for (name, text, budget) in later {
        let path = dir.join(name);
        std::fs::write(&path, &text).expect("write");
        let path = path.to_string_lossy().to_string();
        let spec = ColumnSpec { non_finite: NonFinite::Skip, ..ColumnSpec::default() };
        for (ci, sketch_bytes) in [(ci, None), (None, None), (ci, Some(3000)), (None, Some(3000))] {
            let options = |threads| report::Options {
                ci,
                chunk_bytes: Some(4096),
                threads,
                score_budget: Some(budget),
                sketch_bytes,
                ..report::Options::default()
            };
            let mut progress = |_: u64, _: u64| true;
            let one = json(report::evaluate_with(&path, text.as_bytes(), &spec, &options(1), &mut progress));
            assert!(one.contains("\"sketch\""), "{name}: {one:.300}");
            // with the file's size as a hint, its scores are binned from the first chunk on
            // (the early switch): the same report
            let hinted = |threads| report::Options { size_hint: Some(text.len() as u64), ..options(threads) };
            let early = json(report::evaluate_with(&path, text.as_bytes(), &spec, &hinted(1), &mut progress));
            assert!(early == one, "{name}, {ci:?}, {sketch_bytes:?}, early switch:\n{early:.600}\nvs\n{one:.600}");
            for threads in [2, 3] {
                let many = json(report::evaluate_path(&path, &spec, &options(threads), &mut progress));
                assert!(
                    many == one,
                    "{name}, {ci:?}, {sketch_bytes:?}, {threads} threads:\n{many:.600}\nvs\n{one:.600}"
                );
                let many = json(report::evaluate_path(&path, &spec, &hinted(threads), &mut progress));
                assert!(many == one, "{name}, {ci:?}, {sketch_bytes:?}, {threads} threads, early switch:\n{many:.600}");
            }
        }
    }
    // a size hint that overstates the rows: binned from the first chunk on though the rows
    // stay under the budget; one pass says so, `evaluate_path` reads the file again without
    // the hint (the exact report)
    for (name, text, budget) in
        [("under_binary.csv", binary(&unit), 6000), ("under_multi.csv", per_class(&unit), 16_000)]
    {
        let path = dir.join(name);
        std::fs::write(&path, &text).expect("write");
        let path = path.to_string_lossy().to_string();
        let spec = ColumnSpec::default();
        let options = |threads, size_hint| report::Options {
            chunk_bytes: Some(4096),
            threads,
            score_budget: Some(budget),
            size_hint,
            ..report::Options::default()
        };
        let mut progress = |_: u64, _: u64| true;
        let exact = json(report::evaluate_with(&path, text.as_bytes(), &spec, &options(1, None), &mut progress));
        assert!(!exact.contains("\"sketch\"") && !exact.starts_with("error: "), "{name}: {exact:.300}");
        let big = Some(text.len() as u64 * 10);
        let once = report::evaluate_with(&path, text.as_bytes(), &spec, &options(1, big), &mut progress);
        assert!(matches!(once, Err(webeval::Error::Misprojected { .. })), "{name}: {:.300}", json(once));
        for threads in [1, 2] {
            let again = json(report::evaluate_path(&path, &spec, &options(threads, big), &mut progress));
            assert!(again == exact, "{name}, {threads} threads, a size hint too large:\n{again:.600}");
        }
    }
    // a labels file: its rows are matched one by one, so it is read as one chunk
    let labels = |chunk_bytes| {
        let mut progress = |_: u64, _: u64| true;
        let options = report::Options { ci, chunk_bytes, ..report::Options::default() };
        let (p, l) = ("multi_probs.npy", "multi_labels.csv");
        json(report::evaluate_with_labels_with(
            (p, open(p)),
            (l, open(l)),
            &ColumnSpec::default(),
            &options,
            &mut progress,
        ))
    };
    assert_eq!(labels(Some(50)), labels(None));
    // gzip and other formats are read by one thread, as one chunk, whatever `threads` says
    // (the report's per-class ranking walks use the threads: the same JSON)
    for file in ["multi.csv.gz", "multi.jsonl", "multi.json"] {
        let path = fixture(file).to_string_lossy().to_string();
        let mut progress = |_: u64, _: u64| true;
        let one = json(report::evaluate_with(
            &path,
            open(file),
            &ColumnSpec::default(),
            &report::Options::default(),
            &mut progress,
        ));
        let options = report::Options { chunk_bytes: Some(50), threads: 3, ..report::Options::default() };
        let many = json(report::evaluate_path(&path, &ColumnSpec::default(), &options, &mut progress));
        assert!(!one.starts_with("error: ") && many == one, "{file}: {many:.300}");
    }
    // cancelling stops every thread: the progress callback's `false` comes back as Cancelled
    let (name, spec, _) = &chunking_cases()[1];
    let path = dir.join(name).to_string_lossy().to_string();
    let options = report::Options { chunk_bytes: Some(211), threads: 3, ..report::Options::default() };
    let mut calls = 0;
    let mut cancel = |_: u64, _: u64| {
        calls += 1;
        calls < 3
    };
    let got = report::evaluate_path(&path, spec, &options, &mut cancel);
    assert!(matches!(got, Err(webeval::Error::Cancelled)), "{:?}", got.map(|r| r.n));
}

/// The page's multi-worker split (`report::split::Part`, one per Web Worker): chunks read by
/// another worker's `Part` cross as bytes and are offered out of order; the merge re-reads
/// chunks whose guessed start was inside quotes or that failed where they were read. The
/// report is byte-identical to one reader's (and an error the same error), in every case of
/// the chunking test, past the score budget too.
#[test]
fn chunk_states_crossing_as_bytes_merge_to_the_one_reader_report() {
    let _turn = turn();
    use webeval::report::split::{ChunkRead, Part, Source};
    struct Mem(Vec<u8>);
    impl Source for Mem {
        fn open_at(&self, at: u64) -> webeval::Result<Box<dyn std::io::Read + '_>> {
            Ok(Box::new(&self.0[(at as usize).min(self.0.len())..]))
        }
    }
    let ci = Some(webeval::metrics::ci::CiOptions { level: 0.9, replicates: 7, seed: 11 });
    let json = |r: webeval::Result<Report>| match r {
        Ok(r) => serde_json::to_string(&r).expect("json"),
        Err(e) => format!("error: {e}"),
    };
    let (mut checked, mut binned) = (0, 0);
    for (name, spec, text) in chunking_cases() {
        for (chunk_bytes, score_budget) in [(211, None), (4096, None), (4096, Some(300))] {
            let options =
                report::Options { ci, chunk_bytes: Some(chunk_bytes), score_budget, ..report::Options::default() };
            let mut progress = |_: u64, _: u64| true;
            let one = json(report::evaluate_with(name, text.as_bytes(), &spec, &options, &mut progress));
            let src = Mem(text.clone().into_bytes());
            let size = text.len() as u64;
            let mut split = || -> webeval::Result<Report> {
                let open = || Part::open(name, std::io::Cursor::new(text.clone().into_bytes()), size, &spec, &options);
                let (mut main, helper) = (open()?.expect("splittable"), open()?.expect("splittable"));
                let (first, count) = (main.splitter().first, main.splitter().count);
                let mut tick = |_: u64| true;
                // the helper's chunks arrive before the start is read, last first; every
                // third chunk is read by the merging part itself
                let mut own = Vec::new();
                for k in (first..count).rev() {
                    if k % 3 == 0 {
                        own.push(k);
                        continue;
                    }
                    let bytes = helper.splitter().read_chunk(&src, k, None, &mut tick).encode()?;
                    main.offer(ChunkRead::decode(&bytes)?);
                }
                main.read_start(&mut progress)?;
                for k in own {
                    let got = main.splitter().read_chunk(&src, k, None, &mut tick);
                    main.offer(got);
                }
                assert!(main.advance(&src, &mut tick)?, "{name}: every chunk merged");
                main.finish()
            };
            let many = json(split());
            assert!(many == one, "{name}, {chunk_bytes}-byte chunks, split:\n{many:.600}\nvs one:\n{one:.600}");
            // as the page goes: chunks merged as they come, and once the merge bins the
            // scores the helper is told to keep f32 scores only (`Part::bins_only`)
            let mut in_order = || -> webeval::Result<(Report, bool)> {
                let open = || Part::open(name, std::io::Cursor::new(text.clone().into_bytes()), size, &spec, &options);
                let (mut main, helper) = (open()?.expect("splittable"), open()?.expect("splittable"));
                let (first, count) = (main.splitter().first, main.splitter().count);
                let mut tick = |_: u64| true;
                main.read_start(&mut progress)?;
                let mut told = false;
                for k in first..count {
                    if main.bins() && !told {
                        helper.bins_only();
                        told = true;
                    }
                    if k % 3 == 0 {
                        let got = main.splitter().read_chunk(&src, k, None, &mut tick);
                        main.offer(got);
                    } else {
                        let bytes = helper.splitter().read_chunk(&src, k, None, &mut tick).encode()?;
                        main.offer(ChunkRead::decode(&bytes)?);
                    }
                    main.advance(&src, &mut tick)?;
                }
                Ok((main.finish()?, told))
            };
            let (ordered, told) = match in_order() {
                Ok((r, told)) => (json(Ok(r)), told),
                Err(e) => (json(Err(e)), false),
            };
            assert!(
                ordered == one,
                "{name}, {chunk_bytes}-byte chunks, in order:\n{ordered:.600}\nvs one:\n{one:.600}"
            );
            binned += usize::from(told);
            checked += 1;
        }
    }
    assert_eq!(checked, 27);
    assert!(binned > 0, "no case told the helper to bin only");
    // a damaged state is an error, not a panic
    let err = webeval::report::split::ChunkRead::decode(&[7, 1, 2]).err().expect("an error");
    assert!(err.to_string().contains("damaged"), "{err}");
}
