//! The JavaScript boundary: the only module that knows about wasm-bindgen.
//!
//! Every export returns `Result<_, JsError>` so bad input becomes a rejected promise with
//! our message, never a trap that would kill the worker's engine.

use crate::data::{ChunkReader, ColumnSpec, Inbox, NonFinite};
use crate::metrics::ci::CiOptions;
use crate::metrics::threshold::ThresholdExplorer;
use crate::metrics::Task;
use crate::report;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Options the page passes; all optional. Mirrors the CLI flags.
#[derive(serde::Deserialize, Default)]
struct EvalOptions {
    label: Option<String>,
    pred: Option<String>,
    score: Option<String>,
    weight: Option<String>,
    task: Option<String>,
    /// "reject" (default) or "skip" rows with missing/NaN/infinite numbers.
    #[serde(alias = "nonFinite")]
    non_finite: Option<String>,
    /// With a separate labels file: the id column both files share (else rows match in order).
    id: Option<String>,
    /// Per-class score columns and multilabel indicator columns, by name (see ColumnSpec).
    #[serde(default)]
    probs: Vec<String>,
    #[serde(default)]
    indicators: Vec<String>,
    #[serde(default, alias = "predIndicators")]
    pred_indicators: Vec<String>,
    /// The page's column mapping: take exactly the named columns, detect nothing.
    #[serde(default)]
    exact: bool,
    /// Confidence level (e.g. 0.95); absent means no intervals.
    ci: Option<f64>,
    #[serde(alias = "ciReplicates")]
    ci_replicates: Option<usize>,
    #[serde(alias = "ciSeed")]
    ci_seed: Option<u64>,
    /// The file's size in bytes (`File.size`): the stored scores reserve their room once.
    #[serde(alias = "sizeHint")]
    size_hint: Option<u64>,
    /// The canonical chunk size in bytes (default 16 MiB): tests make it small, so that a
    /// small file is read in several parts ([`SplitRead`]); every reader of one file must be
    /// given the same.
    #[serde(alias = "chunkBytes")]
    chunk_bytes: Option<u64>,
    /// Most scores stored for the exact ranking metrics before they are sketched (default:
    /// the CLI's): tests make it small, so that a small file passes it.
    #[serde(alias = "scoreBudget")]
    score_budget: Option<usize>,
}

impl EvalOptions {
    fn parse(options: JsValue) -> Result<(ColumnSpec, report::Options), JsError> {
        let opts: EvalOptions = if options.is_undefined() || options.is_null() {
            EvalOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))?
        };
        let task = match opts.task.as_deref() {
            None | Some("") | Some("auto") => None,
            Some(t) => Some(Task::parse(t).ok_or_else(|| JsError::new(&format!("unknown task '{t}'")))?),
        };
        let non_finite = match opts.non_finite.as_deref() {
            None | Some("") => NonFinite::Reject,
            Some(s) => NonFinite::parse(s)
                .ok_or_else(|| JsError::new(&format!("unknown nonFinite '{s}'; expected 'reject' or 'skip'")))?,
        };
        let defaults = CiOptions::default();
        let eval = report::Options {
            ci: opts.ci.map(|level| CiOptions {
                level,
                replicates: opts.ci_replicates.unwrap_or(defaults.replicates),
                seed: opts.ci_seed.unwrap_or(defaults.seed),
            }),
            size_hint: opts.size_hint,
            chunk_bytes: opts.chunk_bytes,
            score_budget: opts.score_budget,
            ..report::Options::default()
        };
        let spec = ColumnSpec {
            label: opts.label,
            pred: opts.pred,
            score: opts.score,
            weight: opts.weight,
            task,
            non_finite,
            id: opts.id,
            probs: opts.probs,
            indicators: opts.indicators,
            pred_indicators: opts.pred_indicators,
            exact: opts.exact,
        };
        Ok((spec, eval))
    }
}

/// Wrap the page's `progress(bytes, rows)` callback; returning `false` from it cancels.
fn progress_fn(progress: &Option<js_sys::Function>) -> impl FnMut(u64, u64) -> bool + '_ {
    move |done: u64, rows: u64| match progress {
        Some(f) => f
            .call2(&JsValue::NULL, &JsValue::from_f64(done as f64), &JsValue::from_f64(rows as f64))
            .map(|v| v.as_bool() != Some(false))
            .unwrap_or(true),
        None => true,
    }
}

/// The report as JSON text: keeps nulls and nested arrays exactly as in the CLI contract.
fn report_json(report: &report::Report) -> Result<String, JsError> {
    serde_json::to_string(report).map_err(|e| JsError::new(&e.to_string()))
}

/// The columns of a predictions file as detected from its first bytes (`head`: the header
/// and a few rows), for the page's column-mapping panel; JSON of [`data::mapping::Detected`].
#[wasm_bindgen(js_name = detectColumns)]
pub fn detect_columns(file_name: &str, head: &[u8], options: JsValue) -> Result<String, JsError> {
    let (spec, _) = EvalOptions::parse(options)?;
    let detected = crate::data::mapping::detect(file_name, head, &spec)?;
    serde_json::to_string(&detected).map_err(|e| JsError::new(&e.to_string()))
}

/// Draw the report's plots from its JSON; returns JSON `[{id, title, svg}]`.
///
/// Call this on the page's main thread, not in a worker: in the browser plotters measures
/// text with the DOM, which workers lack. Drawing a few SVGs is light work.
#[wasm_bindgen(js_name = renderPlots)]
pub fn render_plots(report_json: &str) -> Result<String, JsError> {
    let data = report::plots::PlotData::from_json(report_json).map_err(js_err)?;
    let plots = report::plots::all(&data).map_err(js_err)?;
    serde_json::to_string(&plots).map_err(|e| JsError::new(&e.to_string()))
}

/// Evaluate a predictions file given as bytes (any supported format, detected from the
/// name and content). Returns the report as JSON text; draw its plots with `renderPlots`.
/// `progress(bytes, rows)` is called now and then; returning `false` cancels.
#[wasm_bindgen(js_name = evaluatePredictions)]
pub fn evaluate_predictions(
    file_name: &str,
    bytes: &[u8],
    options: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<String, JsError> {
    let (spec, eval_options) = EvalOptions::parse(options)?;
    let mut on_progress = progress_fn(&progress);
    let report = report::evaluate_with(file_name, bytes, &spec, &eval_options, &mut on_progress).map_err(js_err)?;
    report_json(&report)
}

/// Evaluate a predictions file without holding it in memory: `read(at)` is called for the
/// file's bytes from offset `at` on (any amount) and returns a `Uint8Array` (empty, `null` or
/// `undefined` at the end). In a worker: `const r = new FileReaderSync();
/// read = (at) => new Uint8Array(r.readAsArrayBuffer(file.slice(at, at + (4 << 20))))`.
/// `progress(bytes, rows)` as for `evaluatePredictions`; bytes are compressed bytes for `.gz`.
/// [`StreamEvaluation`] also takes the bytes pushed as the browser reads them.
#[wasm_bindgen(js_name = evaluateStream)]
pub fn evaluate_stream(
    file_name: &str,
    read: js_sys::Function,
    options: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<String, JsError> {
    StreamEvaluation::new(file_name, read, options, progress)?.complete()
}

/// Unread bytes a [`StreamEvaluation`] keeps back between pushes, so that the rows it reads
/// seldom run past what has come (past it, `read(at)` brings the bytes at once).
const HELD: usize = 1 << 20;

/// A predictions file evaluated as its bytes are pushed, in order, from `File.stream()`: the
/// browser reads the file ahead while the core works on what came, where `evaluateStream`'s
/// reads and work take turns. `read(at)` as for `evaluateStream`: it brings bytes that are
/// needed before they are pushed (a row longer than what is held), and the pushed copies of
/// them are dropped. `push(bytes)` for each piece, then `finish()` for the report's JSON
/// text, and `free()` at the end, an error's too. `progress(bytes, rows)` as for
/// `evaluateStream`.
#[wasm_bindgen]
pub struct StreamEvaluation {
    file: String,
    inbox: Rc<RefCell<Inbox>>,
    progress: Option<js_sys::Function>,
    /// Until the first rows are read: the source and what to read it with.
    pending: Option<(JsReader, ColumnSpec, report::Options)>,
    read: Option<report::Sequential<'static>>,
}

#[wasm_bindgen]
impl StreamEvaluation {
    #[wasm_bindgen(constructor)]
    pub fn new(
        file_name: &str,
        read: js_sys::Function,
        options: JsValue,
        progress: Option<js_sys::Function>,
    ) -> Result<StreamEvaluation, JsError> {
        let (spec, eval_options) = EvalOptions::parse(options)?;
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let reader = js_reader_into(read, inbox.clone());
        Ok(StreamEvaluation {
            file: file_name.to_string(),
            inbox,
            progress,
            pending: Some((reader, spec, eval_options)),
            read: None,
        })
    }

    /// The file's next bytes: the rows they complete are read, but for the last `HELD` bytes.
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<(), JsError> {
        self.inbox.borrow_mut().push(bytes);
        self.work(false).map_err(js_err)
    }

    /// After the last push: the rest, and the report as JSON text.
    pub fn finish(&mut self) -> Result<String, JsError> {
        self.inbox.borrow_mut().end();
        self.complete_in_place()
    }
}

impl StreamEvaluation {
    fn complete(mut self) -> Result<String, JsError> {
        self.complete_in_place()
    }

    fn complete_in_place(&mut self) -> Result<String, JsError> {
        self.work(true).map_err(js_err)?;
        let read = self.read.take().ok_or_else(|| self.stopped()).map_err(js_err)?;
        let (report, _) = read.finish(&mut progress_fn(&self.progress)).map_err(js_err)?;
        report_json(&report)
    }

    /// Read what is held (to the end, pulling, with `to_end`); after an error the evaluation
    /// holds nothing, so that later calls say so instead of reading on past it.
    fn work(&mut self, to_end: bool) -> crate::Result<()> {
        let done = self.read_held(to_end);
        if done.is_err() {
            (self.pending, self.read) = (None, None);
        }
        done
    }

    /// [`StreamEvaluation::work`]; opens the source on the first call with enough bytes.
    fn read_held(&mut self, to_end: bool) -> crate::Result<()> {
        let inbox = self.inbox.clone();
        let pause = move || !to_end && inbox.borrow().short_of(HELD);
        if self.read.is_none() {
            if pause() {
                return Ok(());
            }
            let (reader, spec, options) = self.pending.take().ok_or_else(|| self.stopped())?;
            let opened = crate::data::open(&self.file, reader, None)?;
            self.read = Some(report::Sequential::open(&self.file, opened, &spec, &options)?);
        }
        let Some(read) = &mut self.read else { return Err(self.stopped()) };
        read.feed(&pause, &mut progress_fn(&self.progress))?;
        Ok(())
    }

    /// A call after an error (or after `finish`): the evaluation holds nothing more.
    fn stopped(&self) -> crate::Error {
        crate::Error::Runtime(format!("{}: this evaluation has stopped (an earlier error, or finished)", self.file))
    }
}

/// Compare two predictions files, each read with `readA()` / `readB()` as in
/// `evaluateStream`. Returns JSON text `{"a": report, "b": report, "paired": {...}}`:
/// `paired` holds, for each headline metric, B − A with its interval and p-value (paired
/// bootstrap; DeLong for the binary ROC-AUC) when both files score the same rows, else
/// `paired_note` says why not.
#[wasm_bindgen(js_name = compareStreams)]
pub fn compare_streams(
    name_a: &str,
    read_a: js_sys::Function,
    name_b: &str,
    read_b: js_sys::Function,
    options: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<String, JsError> {
    let (spec, eval_options) = EvalOptions::parse(options)?;
    let mut on_progress = progress_fn(&progress);
    let a = js_reader(read_a);
    let b = js_reader(read_b);
    let out = report::compare((name_a, a), (name_b, b), &spec, &eval_options, &mut on_progress).map_err(js_err)?;
    serde_json::to_string(&out).map_err(|e| JsError::new(&e.to_string()))
}

/// Predictions and true labels in two files (e.g. `probs.npy` and `labels.csv`), matched
/// by row or, with `options.id`, joined on that column; both stream through `read()` callbacks
/// as in `evaluateStream` (a joined labels file is held in memory, the predictions are not).
/// `progress(bytes, rows)` counts the predictions file's bytes.
#[wasm_bindgen(js_name = evaluateWithLabels)]
pub fn evaluate_with_labels(
    file_name: &str,
    read: js_sys::Function,
    labels_name: &str,
    read_labels: js_sys::Function,
    options: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<String, JsError> {
    let (spec, eval_options) = EvalOptions::parse(options)?;
    let mut on_progress = progress_fn(&progress);
    let preds = js_reader(read);
    let labels = js_reader(read_labels);
    let report = report::evaluate_with_labels_with(
        (file_name, preds),
        (labels_name, labels),
        &spec,
        &eval_options,
        &mut on_progress,
    )
    .map_err(js_err)?;
    report_json(&report)
}

/// A `Read` over the page's `read(at)` callback. One concrete type for every entry point, so
/// that what is generic over the source (format detection, the gzip decoder) is compiled once.
type JsReader = ChunkReader<Box<dyn FnMut(u64) -> std::io::Result<Option<Vec<u8>>>>>;

fn js_reader(read: js_sys::Function) -> JsReader {
    js_reader_into(read, Rc::default())
}

/// [`js_reader`] reading what is pushed into `inbox` first.
fn js_reader_into(read: js_sys::Function, inbox: Rc<RefCell<Inbox>>) -> JsReader {
    ChunkReader::new(Box::new(move |at| js_chunk(&read, at)), inbox)
}

fn js_chunk(read: &js_sys::Function, at: u64) -> std::io::Result<Option<Vec<u8>>> {
    Ok(js_array(read, at)?.map(|a| a.to_vec()))
}

/// `read(at)`'s answer: the bytes from `at` on, or `None` at the end.
fn js_array(read: &js_sys::Function, at: u64) -> std::io::Result<Option<js_sys::Uint8Array>> {
    let v = read
        .call1(&JsValue::NULL, &JsValue::from_f64(at as f64))
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    // `new Uint8Array(v)` of a Uint8Array copies it in JS first: use the page's array as it is
    Ok(Some(match v.dyn_into::<js_sys::Uint8Array>() {
        Ok(a) => a,
        Err(v) => js_sys::Uint8Array::new(&v),
    }))
}

/// The file as `read(at)` gives it, from any offset: each `open_at` is a [`JsRange`].
struct JsSource {
    read: js_sys::Function,
}

impl report::split::Source for JsSource {
    fn open_at(&self, at: u64) -> crate::Result<Box<dyn std::io::Read + '_>> {
        Ok(Box::new(JsRange { read: &self.read, at, array: None, used: 0 }))
    }
}

/// The file from `at` on, for a chunk's `Records`: each answer of `read(at)` (a view of the
/// chunk's fetched bytes) is copied straight into the buffer the parser reads from. A
/// [`JsReader`] would copy it into a `Vec` first and then out of it: a second copy of every
/// byte (~1 GB for a 1 GB file).
struct JsRange<'a> {
    read: &'a js_sys::Function,
    /// Where the next answer starts.
    at: u64,
    /// The last answer, and how much of it was read.
    array: Option<js_sys::Uint8Array>,
    used: u32,
}

impl std::io::Read for JsRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(array) = &self.array {
                let left = array.length() - self.used;
                if left > 0 {
                    let n = left.min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
                    array.subarray(self.used, self.used + n).copy_to(&mut buf[..n as usize]);
                    self.used += n;
                    return Ok(n as usize);
                }
            }
            match js_array(self.read, self.at)? {
                Some(array) if array.length() > 0 => {
                    self.at += u64::from(array.length());
                    self.array = Some(array);
                    self.used = 0;
                }
                _ => {
                    self.array = None;
                    return Ok(0);
                }
            }
        }
    }
}

/// A file's part, or `None` when it is not read in parts (not plain delimited text of two
/// chunks or more: read it with [`StreamEvaluation`]). Small files are told apart by their
/// size before any byte is read.
fn open_part(
    file_name: &str,
    read: &js_sys::Function,
    options: JsValue,
    size: f64,
) -> Result<Option<(report::split::Part, u64)>, JsError> {
    let (spec, options) = EvalOptions::parse(options)?;
    let size = size as u64;
    let chunk_bytes = options.chunk_bytes.unwrap_or(crate::data::CHUNK_BYTES).max(1);
    if size < 2 * chunk_bytes {
        return Ok(None);
    }
    if size.div_ceil(chunk_bytes) > u64::from(u32::MAX) {
        return Err(JsError::new(&format!("{file_name}: chunkBytes {chunk_bytes} makes too many chunks")));
    }
    let part = report::split::Part::open(file_name, js_reader(read.clone()), size, &spec, &options).map_err(js_err)?;
    Ok(part.map(|p| (p, chunk_bytes)))
}

/// One big delimited file read by several Web Workers that share no memory (`www/split.js`),
/// one worker's side. Every worker opens the file from its start with the same name, `read(at)`
/// (as for `evaluateStream`), options and size, and rebuilds the plan from its head. Helpers
/// (`www/reader.js`) read the chunks they are given with `chunkState`; the merging worker takes
/// those bytes with `offer` and merges in file order, so the report is byte for byte the one
/// `StreamEvaluation` gives with the same options. The merging worker's calls: `readStart`,
/// then any of `offer` / `readChunk` (a chunk read here), each followed by `advance` until it
/// says every chunk is in, then `finish`.
#[wasm_bindgen]
pub struct SplitRead {
    part: report::split::Part,
    src: JsSource,
    chunk_bytes: u64,
}

#[wasm_bindgen]
impl SplitRead {
    /// The file (`size` bytes, `File.size`) opened to be read in parts, or undefined when it is
    /// gzip, not delimited text, or under two chunks.
    pub fn open(
        file_name: &str,
        read: js_sys::Function,
        options: JsValue,
        size: f64,
    ) -> Result<Option<SplitRead>, JsError> {
        let part = open_part(file_name, &read, options, size)?;
        Ok(part.map(|(part, chunk_bytes)| SplitRead { part, src: JsSource { read }, chunk_bytes }))
    }

    /// The chunk size: chunk `k` starts at the first line start at or after `k * chunkBytes`
    /// (for fetching its bytes ahead).
    #[wasm_bindgen(getter, js_name = chunkBytes)]
    pub fn chunk_bytes(&self) -> f64 {
        self.chunk_bytes as f64
    }

    /// The first chunk the helpers may read (those before it are read by `readStart`).
    #[wasm_bindgen(getter)]
    pub fn first(&self) -> u32 {
        self.part.splitter().first as u32
    }

    /// How many chunks the file has.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> u32 {
        self.part.splitter().count as u32
    }

    /// Merging: read the file's start, the header, the sample and the rest of the sample's
    /// chunks. `progress(bytes, rows)` as for `evaluateStream`.
    #[wasm_bindgen(js_name = readStart)]
    pub fn read_start(&mut self, progress: Option<js_sys::Function>) -> Result<(), JsError> {
        self.part.read_start(&mut progress_fn(&progress)).map_err(js_err)
    }

    /// Helping: chunk `k`, read from its guessed start, as bytes for the merging worker's
    /// `offer` (transfer their buffer), written into `spare` (a buffer the merging worker sent
    /// back after an `offer`) where they fit, else into a new array with 1/16 to spare, so that
    /// the next chunks' fit: a fresh array's pages fault in one by one (4 KiB, zeroed by the
    /// kernel), ~12 MB a chunk. A chunk with a bad row comes without its error: the merge
    /// re-reads it in turn and reports the error then.
    #[wasm_bindgen(js_name = chunkState)]
    pub fn chunk_state(&self, k: u32, spare: Option<js_sys::Uint8Array>) -> Result<js_sys::Uint8Array, JsError> {
        let k = self.chunk(k)?;
        let bytes = self.part.splitter().read_chunk(&self.src, k, None, &mut |_| true).encode().map_err(js_err)?;
        let n = u32::try_from(bytes.len()).map_err(|_| JsError::new(&format!("chunk {k}: state over 4 GB")))?;
        let out = match spare {
            Some(s) if s.length() >= n => s,
            _ => js_sys::Uint8Array::new_with_length(n.saturating_add(n / 16)),
        }
        .subarray(0, n);
        out.copy_from(&bytes);
        Ok(out)
    }

    /// Merging: a chunk another worker read (`chunkState`'s bytes).
    pub fn offer(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let got = report::split::ChunkRead::decode(bytes).map_err(js_err)?;
        self.chunk(u32::try_from(got.index).unwrap_or(u32::MAX))?;
        self.part.offer(got);
        Ok(())
    }

    /// Merging: read chunk `k` here (when no other worker has it and the merge would wait).
    #[wasm_bindgen(js_name = readChunk)]
    pub fn read_chunk(&mut self, k: u32) -> Result<(), JsError> {
        let k = self.chunk(k)?;
        let got = self.part.splitter().read_chunk(&self.src, k, None, &mut |_| true);
        self.part.offer(got);
        Ok(())
    }

    /// Merging: merge the chunks that are next in file order; true once every chunk is in. A
    /// row's error comes out here, with its file line, when its chunk's turn comes.
    pub fn advance(&mut self) -> Result<bool, JsError> {
        self.part.advance(&self.src, &mut |_| true).map_err(js_err)
    }

    /// Rows merged so far.
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> f64 {
        self.part.rows() as f64
    }

    /// Merging: whether the merge bins the scores (and always will from now on): then tell
    /// the helpers `binsOnly`.
    #[wasm_bindgen(getter)]
    pub fn bins(&self) -> bool {
        self.part.bins()
    }

    /// Helping: the merging worker's merge bins the scores (its `bins`), so the chunks read
    /// here from now on keep their scores as f32, all a bin needs: the same report, half the
    /// bytes to encode, send and decode.
    #[wasm_bindgen(js_name = binsOnly)]
    pub fn bins_only(&self) {
        self.part.bins_only();
    }

    /// The report as JSON text, once `advance` said every chunk is in.
    pub fn finish(self) -> Result<String, JsError> {
        report_json(&self.part.finish().map_err(js_err)?)
    }
}

impl SplitRead {
    /// Chunk `k` of the file, or why there is none.
    fn chunk(&self, k: u32) -> Result<u64, JsError> {
        let count = self.part.splitter().count;
        if u64::from(k) >= count {
            return Err(JsError::new(&format!("no chunk {k}: the file has {count}")));
        }
        Ok(u64::from(k))
    }
}

/// Evaluate predictions already in memory (e.g. a model's outputs): `truth` holds class
/// indices, `scores` a row-major `rows × width` matrix (`width` 1: binary positive-class
/// probability; otherwise one probability per class). `options` as for
/// `evaluatePredictions` (only `ci`, `ciReplicates`, `ciSeed` apply). Returns JSON text.
#[wasm_bindgen(js_name = evaluateArrays)]
pub fn evaluate_arrays(truth: &[u32], scores: &[f32], width: usize, options: JsValue) -> Result<String, JsError> {
    let (_, eval_options) = EvalOptions::parse(options)?;
    let report = report::evaluate_arrays(truth, scores, width, &eval_options).map_err(js_err)?;
    serde_json::to_string(&report).map_err(|e| JsError::new(&e.to_string()))
}

/// Metrics at one threshold of a binary score, for the page's slider: `table` is the
/// report's `thresholds.table` (JSON text); rows with score >= `threshold` count as
/// positive. Returns the metrics as JSON text.
#[wasm_bindgen(js_name = metricsAtThreshold)]
pub fn metrics_at_threshold(table: &str, threshold: f64) -> Result<String, JsError> {
    let explorer: ThresholdExplorer =
        serde_json::from_str(table).map_err(|e| JsError::new(&format!("bad threshold table: {e}")))?;
    if explorer.tp.len() != explorer.thresholds.len() || explorer.fp.len() != explorer.thresholds.len() {
        return Err(JsError::new("bad threshold table: thresholds, tp and fp must have the same length"));
    }
    serde_json::to_string(&explorer.at(threshold)).map_err(|e| JsError::new(&e.to_string()))
}

/// The crate version, shown in the page footer.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Options for `inspectModel`; all optional. Mirrors `webeval inspect`.
#[derive(serde::Deserialize, Default)]
struct InspectOptions {
    /// File name shown in error messages.
    file_name: Option<String>,
    batch: Option<u64>,
    /// Named free dimensions, e.g. `{"sequence": 128}`.
    #[serde(default)]
    dims: std::collections::HashMap<String, u64>,
    /// Input shapes, e.g. `{"input": [1, 3, 224, 224]}`.
    #[serde(default)]
    input_shapes: std::collections::HashMap<String, Vec<u64>>,
}

/// External-data files dropped with a model: `external` is an object (or `Map`) from file name
/// to `Uint8Array`/`ArrayBuffer`; a tensor's `location` is looked up as written, then by its
/// base name (the page only knows dropped files by name).
fn external_resolver(external: &JsValue) -> impl Fn(&str) -> Option<bytes::Bytes> + '_ {
    move |location: &str| {
        if external.is_undefined() || external.is_null() {
            return None;
        }
        let map = external.dyn_ref::<js_sys::Map>();
        let base = location.rsplit(['/', '\\']).next().unwrap_or(location);
        [location, base].iter().find_map(|k| {
            let key = JsValue::from_str(k);
            let v = match map {
                Some(m) => m.get(&key),
                None => js_sys::Reflect::get(external, &key).ok()?,
            };
            if v.is_undefined() || v.is_null() {
                return None;
            }
            Some(bytes::Bytes::from(js_sys::Uint8Array::new(&v).to_vec()))
        })
    }
}

/// Inspect an ONNX model given as bytes: returns the model card as a JSON string (the same
/// object as `webeval inspect --format json`). `external` is an optional object mapping file
/// names to `Uint8Array`s: external-data files dropped together with the model.
#[wasm_bindgen(js_name = inspectModel)]
pub fn inspect_model(bytes: Vec<u8>, options: JsValue, external: JsValue) -> Result<String, JsError> {
    let opts: InspectOptions = if options.is_undefined() || options.is_null() {
        InspectOptions::default()
    } else {
        serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))?
    };
    let shape_opts = crate::model::ShapeOptions {
        batch: opts.batch.unwrap_or(1).max(1),
        dims: opts.dims,
        input_shapes: opts.input_shapes,
    };
    let resolver = external_resolver(&external);
    let name = opts.file_name.unwrap_or_else(|| "model.onnx".to_string());
    let card = crate::model::inspect_bytes(&name, bytes, &resolver, &shape_opts).map_err(js_err)?;
    card.to_json().map_err(js_err)
}

/// Options of `runModel`; all optional.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RunOptions {
    /// True-label column of the dataset (default: label/y_true/target/...).
    label: Option<String>,
    /// Dataset file name (for format detection and messages).
    data_name: Option<String>,
    /// Model file name (for messages).
    model_name: Option<String>,
    /// Rows per inference batch (default 64).
    batch_size: Option<usize>,
    /// "auto" (default), "cpu" or "gpu" (WebGPU); `runModelOn` only, `runModel` is the CPU.
    device: Option<String>,
    /// For an ImageFolder `.zip` dataset: size, layout, normalisation (defaults from the
    /// model's input shape; see `runtime::infer::ImageOptions`).
    image: Option<crate::runtime::infer::ImageOptions>,
}

/// Milliseconds from `performance.now()` (workers and windows both have it).
fn now_ms() -> f64 {
    let perf = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance")).ok();
    perf.and_then(|p| {
        let now = js_sys::Reflect::get(&p, &JsValue::from_str("now")).ok()?;
        let f: js_sys::Function = now.dyn_into().ok()?;
        f.call0(&p).ok()?.as_f64()
    })
    .unwrap_or_else(js_sys::Date::now)
}

fn run_options(options: JsValue) -> Result<RunOptions, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(RunOptions::default());
    }
    serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))
}

/// The model and dataset of a run. An ImageFolder `.zip` is decoded by the page's image
/// module, through the page's `images(specJson) -> {data: Float32Array, labels: Uint32Array,
/// classes: string[]}` over the same zip (this module has no image decoders: see `web_images`).
fn run_inputs(
    model_bytes: Vec<u8>,
    data_bytes: &[u8],
    opts: &RunOptions,
    external: &JsValue,
    images: Option<&js_sys::Function>,
) -> Result<(crate::model::Model, crate::runtime::infer::Dataset), JsError> {
    // Running needs every weight: a missing external-data file is an error naming it.
    let strict = crate::model::LoadOptions { allow_missing_external: false };
    let name = opts.model_name.as_deref().unwrap_or("model.onnx");
    let model = crate::model::Model::from_bytes_with(name, model_bytes, &external_resolver(external), strict)
        .map_err(js_err)?;
    let name = opts.data_name.clone().unwrap_or_else(|| "data.csv".into());
    let image_opts = opts.image.clone().unwrap_or_default();
    if !crate::runtime::infer::is_image_zip(&name) {
        let ds = crate::runtime::infer::read_dataset_for(&model, &name, data_bytes, opts.label.as_deref(), &image_opts)
            .map_err(js_err)?;
        return Ok((model, ds));
    }
    let decode = images.ok_or_else(|| {
        JsError::new(&format!("{name}: a zip of images needs the page's image module (runModel's `images` argument)"))
    })?;
    let spec = crate::runtime::infer::image_spec(&model, &image_opts).map_err(js_err)?;
    let spec_json = serde_json::to_string(&spec).map_err(|e| JsError::new(&e.to_string()))?;
    // the image module's errors (a file that is no PNG/JPEG, ...) pass through as they are
    let thrown = |e: JsValue| match e.dyn_ref::<js_sys::Error>() {
        Some(err) => JsError::new(&String::from(err.message())),
        None => JsError::new(&format!("{name}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))),
    };
    let got = decode.call1(&JsValue::NULL, &JsValue::from_str(&spec_json)).map_err(thrown)?;
    let field = |key: &str| js_sys::Reflect::get(&got, &JsValue::from_str(key)).map_err(thrown);
    let features = js_sys::Float32Array::new(&field("data")?).to_vec();
    let labels: Vec<usize> =
        js_sys::Uint32Array::new(&field("labels")?).to_vec().into_iter().map(|i| i as usize).collect();
    let classes: Vec<String> = serde_wasm_bindgen::from_value(field("classes")?)
        .map_err(|e| JsError::new(&format!("{name}: the image module's classes: {e}")))?;
    let ds = crate::runtime::infer::image_dataset(&name, &spec, classes, &labels, features).map_err(js_err)?;
    Ok((model, ds))
}

fn run_json(
    out: crate::Result<(
        Option<crate::report::Report>,
        crate::runtime::infer::Predictions,
        crate::runtime::infer::Speed,
    )>,
) -> Result<String, JsError> {
    let (report, preds, speed) = out.map_err(js_err)?;
    let v = match report {
        Some(report) => serde_json::json!({ "predictions": preds, "speed": speed, "report": report }),
        None => serde_json::json!({ "predictions": preds, "speed": speed }),
    };
    serde_json::to_string(&v).map_err(|e| JsError::new(&e.to_string()))
}

/// Run an ONNX model on a dataset on the CPU. Returns JSON text:
/// `{"predictions": {classes, labels, probs, values, notes}, "speed": {latency_ms_p50, ...,
///   device: {device, reason, adapter, notes}}, "report": <the evaluation report, when the
/// dataset has labels>}`; draw the report's plots with `renderPlots(JSON.stringify(result.report))`
/// on the main thread. `external`: the model's external-data files, as for `inspectModel`;
/// `images`: the image module's decoder, needed only when the dataset is a zip of images.
#[wasm_bindgen(js_name = runModel)]
pub fn run_model(
    model_bytes: Vec<u8>,
    data_bytes: &[u8],
    options: JsValue,
    external: JsValue,
    images: Option<js_sys::Function>,
) -> Result<String, JsError> {
    let opts = run_options(options)?;
    let (model, ds) = run_inputs(model_bytes, data_bytes, &opts, &external, images.as_ref())?;
    let session = crate::runtime::Session::new(&model).map_err(js_err)?;
    let batch = opts.batch_size.unwrap_or(64);
    let mut clock = now_ms;
    run_json(if ds.labels.is_some() {
        crate::runtime::infer::evaluate(&model, &session, &ds, batch, &mut clock).map(|(r, p, s)| (Some(r), p, s))
    } else {
        crate::runtime::infer::predict(&model, &session, &ds, batch, &mut clock).map(|(p, s)| (None, p, s))
    })
}

/// Whether `navigator.gpu` exists here (window or worker); wgpu panics without it.
fn has_webgpu() -> bool {
    let nav = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok();
    nav.filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("gpu")).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

/// [`run_model`] on the device `options.device` picks ("auto": WebGPU when the browser has
/// an adapter that is not a software fallback and it has a kernel for every node; "gpu":
/// WebGPU, nodes without a GPU kernel on the CPU; "cpu"). Resolves to the same JSON, whose
/// `speed.device` says where it ran and why.
#[wasm_bindgen(js_name = runModelOn)]
pub async fn run_model_on(
    model_bytes: Vec<u8>,
    data_bytes: Vec<u8>,
    options: JsValue,
    external: JsValue,
    images: Option<js_sys::Function>,
) -> Result<String, JsError> {
    let opts = run_options(options)?;
    let pref: crate::runtime::DevicePref = opts.device.as_deref().unwrap_or("auto").parse().map_err(js_err)?;
    let (model, ds) = run_inputs(model_bytes, &data_bytes, &opts, &external, images.as_ref())?;
    let engine = if pref != crate::runtime::DevicePref::Cpu && !has_webgpu() {
        crate::runtime::Engine::cpu(&model, "CPU: this browser has no WebGPU (navigator.gpu is missing)")
    } else {
        crate::runtime::Engine::new(&model, pref).await
    }
    .map_err(js_err)?;
    let batch = opts.batch_size.unwrap_or(64);
    let mut clock = now_ms;
    run_json(if ds.labels.is_some() {
        crate::runtime::infer::evaluate_on(&model, &engine, &ds, batch, &mut clock)
            .await
            .map(|(r, p, s)| (Some(r), p, s))
    } else {
        crate::runtime::infer::predict_on(&model, &engine, &ds, batch, &mut clock).await.map(|(p, s)| (None, p, s))
    })
}

/// A compiled model kept across calls (the benchmark, and callers that batch themselves):
/// float32 input in, the first float32 output out, both flat.
#[wasm_bindgen]
pub struct ModelSession {
    session: crate::runtime::Session,
    input: String,
}

#[wasm_bindgen]
impl ModelSession {
    /// Compile an ONNX model for the CPU runtime.
    #[wasm_bindgen(constructor)]
    pub fn new(model_bytes: Vec<u8>) -> Result<ModelSession, JsError> {
        let model = crate::model::Model::from_bytes("model.onnx", model_bytes).map_err(js_err)?;
        let session = crate::runtime::Session::new(&model).map_err(js_err)?;
        let input = session.input_names().into_iter().next().ok_or_else(|| JsError::new("the model has no inputs"))?;
        Ok(ModelSession { session, input })
    }

    /// Where the time of [`ModelSession::run`] goes (benchmark probe): `reps` runs on `input`
    /// of `shape`, as JSON `[{"node","op","ms"}]` with each step's mean milliseconds
    /// (performance.now() is coarse in a page: use enough reps).
    pub fn profile(&self, input: Vec<f32>, shape: Vec<u32>, reps: u32) -> Result<String, JsError> {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let mut total: Vec<(String, String, f64)> = Vec::new();
        for _ in 0..reps.max(1) {
            let feeds = vec![(self.input.clone(), crate::runtime::Tensor::f32(shape.clone(), input.clone()))];
            let (_, steps) = self.session.profile(feeds, &mut now_ms).map_err(js_err)?;
            if total.is_empty() {
                total = steps;
            } else {
                total.iter_mut().zip(steps).for_each(|(t, s)| t.2 += s.2);
            }
        }
        let ops: Vec<_> = total
            .into_iter()
            .map(|(node, op, ms)| serde_json::json!({ "node": node, "op": op, "ms": ms / reps.max(1) as f64 }))
            .collect();
        Ok(serde_json::Value::Array(ops).to_string())
    }

    /// Run on `input` of `shape` (fed to the model's first input); returns the first float32
    /// output, flattened.
    pub fn run(&self, input: Vec<f32>, shape: Vec<u32>) -> Result<Vec<f32>, JsError> {
        let outs = self.session.run(one_feed(&self.input, input, shape)?).map_err(js_err)?;
        first_f32(outs)
    }
}

/// The feeds of a one-input model session: `input` of `shape` as `name`, or why they do not fit.
fn one_feed(name: &str, input: Vec<f32>, shape: Vec<u32>) -> Result<Vec<(String, crate::runtime::Tensor)>, JsError> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    if crate::runtime::tensor::numel(&shape) != input.len() {
        return Err(JsError::new(&format!(
            "input has {} values but shape {shape:?} needs {}",
            input.len(),
            crate::runtime::tensor::numel(&shape)
        )));
    }
    Ok(vec![(name.to_string(), crate::runtime::Tensor::f32(shape, input))])
}

/// A session's first float32 output, flattened.
fn first_f32(outs: Vec<(String, crate::runtime::Tensor)>) -> Result<Vec<f32>, JsError> {
    outs.into_iter()
        .find_map(|(_, t)| match t.data {
            crate::runtime::Data::F32(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| JsError::new("the model has no float32 output"))
}

/// A model compiled for WebGPU, kept across calls (the benchmark's WebGPU side, the
/// counterpart of [`ModelSession`]): float32 input in, the first float32 output out. Nodes
/// without a GPU kernel run on the CPU inside the session, as with `runModelOn`'s "gpu".
#[cfg(feature = "gpu")]
#[wasm_bindgen]
pub struct GpuModelSession {
    session: std::rc::Rc<crate::runtime::gpu::GpuSession>,
    input: String,
}

/// Compile an ONNX model for this browser's WebGPU adapter (whatever kind it is: the caller
/// asked for the GPU). Rejects when there is no WebGPU or no adapter. `max_binding_bytes`
/// (tests only) lowers the storage-binding size the kernels split tensors at, so the split
/// paths run on any adapter. WebGPU never gives a device a limit below its default, so the
/// device itself may still accept more; every binding the session makes stays within this.
#[cfg(feature = "gpu")]
#[wasm_bindgen(js_name = gpuModelSession)]
pub async fn gpu_model_session(
    model_bytes: Vec<u8>,
    max_binding_bytes: Option<u32>,
) -> Result<GpuModelSession, JsError> {
    if !has_webgpu() {
        return Err(JsError::new("this browser has no WebGPU (navigator.gpu is missing)"));
    }
    let model = crate::model::Model::from_bytes("model.onnx", model_bytes).map_err(js_err)?;
    let gpu = crate::runtime::gpu::Gpu::with_max_binding(max_binding_bytes.map(u64::from)).await.map_err(js_err)?;
    let session = crate::runtime::gpu::GpuSession::compile(gpu, &model).map_err(js_err)?;
    let input = session.input_names().first().cloned().ok_or_else(|| JsError::new("the model has no inputs"))?;
    Ok(GpuModelSession { session: std::rc::Rc::new(session), input })
}

#[cfg(feature = "gpu")]
#[wasm_bindgen]
impl GpuModelSession {
    /// The adapter and its limits, as JSON (`AdapterSummary`).
    pub fn adapter(&self) -> Result<String, JsError> {
        serde_json::to_string(self.session.gpu().summary()).map_err(|e| JsError::new(&e.to_string()))
    }

    /// One line per node that runs on the CPU inside the session, and why.
    pub fn notes(&self) -> Vec<String> {
        self.session.notes()
    }

    /// Run on `input` of `shape` (fed to the model's first input); resolves to the first
    /// float32 output, flattened (a Float32Array).
    pub fn run(&self, input: Vec<f32>, shape: Vec<u32>) -> js_sys::Promise {
        let (session, name) = (self.session.clone(), self.input.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let feeds = one_feed(&name, input, shape)?;
            let outs = session.run_tensors(feeds).await.map_err(js_err)?;
            Ok(js_sys::Float32Array::from(&first_f32(outs)?[..]).into())
        })
    }
}

/// GFLOPS of the WebGPU GEMM kernel on `m x k` times `k x n` (benchmark probe; see
/// `runtime::gpu::gemm::gflops`); `tiles` forces a tile (`gemm::Tiles`: 1 64-wide, 2 128 x 128,
/// 3 16-wide; else by size).
#[cfg(feature = "gpu")]
#[wasm_bindgen(js_name = gpuGemmGflops)]
pub async fn gpu_gemm_gflops(m: usize, n: usize, k: usize, reps: usize, tiles: Option<u8>) -> Result<f64, JsError> {
    if !has_webgpu() {
        return Err(JsError::new("this browser has no WebGPU (navigator.gpu is missing)"));
    }
    let gpu = crate::runtime::gpu::Gpu::new().await.map_err(js_err)?;
    gpu.force_gemm_tiles(crate::runtime::gpu::gemm::Tiles::from_code(tiles.unwrap_or(0)));
    let mut clock = now_ms;
    crate::runtime::gpu::gemm::gflops(&gpu, m, n, k, reps, &mut clock).await.map_err(js_err)
}

/// GFLOPS of the CPU GEMM on `m x k` times `k x n` (benchmark probe).
#[wasm_bindgen(js_name = gemmGflops)]
pub fn gemm_gflops(m: usize, n: usize, k: usize, reps: usize) -> f64 {
    crate::runtime::cpu::probe::gemm_gflops(m, n, k, reps, &mut now_ms)
}

/// Measured peak GFLOPS of simd128 multiply+add chains (benchmark probe; NaN without simd128).
#[wasm_bindgen(js_name = simdPeakGflops)]
pub fn simd_peak_gflops(iters: usize) -> f64 {
    crate::runtime::cpu::probe::peak_gflops(iters, &mut now_ms).unwrap_or(f64::NAN)
}
