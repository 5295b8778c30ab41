//! Report assembly: runs a predictions source through the metric accumulators and dresses
//! the result as the JSON contract of DESIGN.md, a text table and SVG plots.

mod arrays;
pub mod paired;
#[cfg(not(target_arch = "wasm32"))]
mod parallel;
pub mod plots;
pub mod rows;
pub mod split;
pub mod text;

pub use arrays::{evaluate_arrays, ArrayReport};
#[cfg(not(target_arch = "wasm32"))]
pub use parallel::evaluate_path;

use crate::data::{self, ByteCounter, Chunk, ColumnSpec, Format, NonFinite, Plan, Record, Rows};
use crate::error::{Error, Location, Result};
use crate::metrics::ci::CiOptions;
use crate::metrics::classification::ClassStats;
use crate::metrics::ranking::{Calibration, NamedCurve};
use crate::metrics::threshold::{ThresholdExplorer, ThresholdMetrics};
use crate::metrics::{labels, Evaluation, Finished, MetricMap, Task};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// Rows read before the task and classes are decided.
const SAMPLE_ROWS: usize = 1000;
/// Most points kept per curve in the JSON and plots (evenly thinned; metrics use all).
const CURVE_POINTS: usize = 400;
/// Most points of the threshold table shipped for the page's slider.
const THRESHOLD_POINTS: usize = 1000;

/// How to evaluate, beyond which columns to read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Confidence intervals: every scalar metric becomes `{"value","ci_low","ci_high","ci_method"}`.
    pub ci: Option<CiOptions>,
    /// Most scores stored for exact ROC-AUC / AP (default 2^26); past it, binned sketches.
    pub score_budget: Option<usize>,
    /// Most bytes of those sketches together (default 128 MiB); past it their grid coarsens.
    pub sketch_bytes: Option<usize>,
    /// Rows the sketches bin per sorted batch (default 16,384, fewer for wide rows); the
    /// report is the same for any number (1: row at a time).
    pub sketch_batch: Option<usize>,
    /// Natively: read rows (and parse their numbers) on one thread and feed them on another,
    /// with the same report. Off by default: on the 2-core benchmark machine under load ~8 it
    /// read a 200 MB CSV at 69 MB/s against 80 MB/s on one thread. Wasm is always one thread.
    pub pipelined: bool,
    /// Threads reading one uncompressed delimited file natively (0 or 1: this thread
    /// alone; see [`evaluate_path`]), and natively the report's per-class ranking walks
    /// (multiclass files of any format). The report is the same for any number.
    pub threads: usize,
    /// The canonical chunk size (default [`data::CHUNK_BYTES`]); tests make it small.
    pub chunk_bytes: Option<u64>,
    /// The source's size in bytes, when known (the page's `File.size`, the CLI's file
    /// length; ignored for gzip): once the first chunk is read, what keeps a value per row
    /// reserves room for the rows the rest of the file should hold, instead of growing by
    /// doubling (a copy each time), and a file that should pass the score budget well is
    /// binned from there on. The report does not depend on it; a file whose rows then stay
    /// under the budget ends in [`Error::Misprojected`]: read it again without the hint
    /// ([`retry_without_hint`]; [`evaluate_path`] does).
    pub size_hint: Option<u64>,
}

impl Options {
    fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes.unwrap_or(data::CHUNK_BYTES).max(1)
    }
}

/// The evaluation report: the JSON object of the CLI contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub task: Task,
    pub n: u64,
    pub classes: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_class: Option<String>,
    pub columns: Columns,
    pub metrics: MetricMap,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<PerClass>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<NamedCurve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// Which rows: the worst ones, the first rows of each confusion-matrix cell, and a
    /// sample for the regression plots (all bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<rows::Examples>,
    /// The interval settings, present when intervals were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiOptions>,
    /// Present when the file had more scores than the budget: ROC-AUC, AP and the curves come
    /// from binned scores; `error_bound` holds each such metric's largest possible error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sketch: Option<crate::metrics::ranking::SketchInfo>,
    pub notes: Vec<String>,
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct Columns {
    pub label: String,
    pub pred: Option<String>,
    pub score: Option<String>,
    pub probs: Vec<String>,
    pub weight: Option<String>,
    /// Multilabel: the truth and predicted indicator columns, in label order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preds: Vec<String>,
}

/// One row of the classification report (undefined rates are `null`).
#[derive(Debug, Clone, Serialize)]
pub struct PerClass {
    pub class: String,
    #[serde(flatten)]
    pub stats: ClassStats,
}

/// Threshold explorer results for a binary score: the notable cut-offs and a table the
/// page's slider reads (exact counts at up to THRESHOLD_POINTS thresholds).
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    pub best_f1: Option<ThresholdMetrics>,
    pub youden: Option<ThresholdMetrics>,
    /// At the cut-off the file's own predictions imply when it has none (0.5 for
    /// probabilities, 0 for decision values), for reference.
    pub default: ThresholdMetrics,
    pub table: ThresholdExplorer,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub file: String,
    pub format: String,
    pub bytes: u64,
}

/// Called with (bytes read, rows read); return false to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Evaluate a predictions file in any supported format (CSV/TSV/semicolon, JSON Lines, JSON
/// array, `.npy`, `.npz`, each optionally gzip-compressed), streamed from `reader`. The
/// format comes from the magic bytes and `file`'s extension.
pub fn evaluate<R: Read>(file: &str, reader: R, spec: &ColumnSpec, progress: Progress) -> Result<Report> {
    evaluate_with(file, reader, spec, &Options::default(), progress)
}

/// [`evaluate`] with evaluation options (confidence intervals).
pub fn evaluate_with<R: Read>(
    file: &str,
    reader: R,
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Report> {
    evaluate_opened(file, data::open(file, reader, None)?, spec, options, progress)
}

/// [`evaluate_with`] of a source already opened (e.g. by [`data::open_file`], which also
/// reads Parquet).
pub fn evaluate_opened(
    file: &str,
    opened: data::Opened<'_>,
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Report> {
    Ok(Sequential::open(file, opened, spec, options)?.read_all(progress)?.0)
}

/// `evaluate` with `options`, and once more without the size hint when the hint misjudged the
/// source ([`Error::Misprojected`]): the exact report, at the cost of a second read.
pub fn retry_without_hint<T>(options: &Options, mut evaluate: impl FnMut(&Options) -> Result<T>) -> Result<T> {
    match evaluate(options) {
        Err(Error::Misprojected { .. }) => evaluate(&Options { size_hint: None, ..options.clone() }),
        done => done,
    }
}

/// [`evaluate`] with the format fixed to delimited text (gzip still unwrapped).
pub fn evaluate_csv<R: Read>(file: &str, reader: R, spec: &ColumnSpec, progress: Progress) -> Result<Report> {
    let opened = data::open(file, reader, Some(Format::Delimited))?;
    let format = opened.format_name();
    run(file, opened.rows, format, &opened.bytes, spec, &Options::default(), progress)
}

/// Predictions and true labels in two files (e.g. `probs.npy` + `labels.csv`), matched by
/// row, or on the `spec.id` column when given. Columns keep their names; a name in both
/// files gets `_labels` appended in the second.
pub fn evaluate_with_labels<P: Read, L: Read>(
    pred: (&str, P),
    labels: (&str, L),
    spec: &ColumnSpec,
    progress: Progress,
) -> Result<Report> {
    evaluate_with_labels_with(pred, labels, spec, &Options::default(), progress)
}

/// [`evaluate_with_labels`] with evaluation options (confidence intervals).
pub fn evaluate_with_labels_with<P: Read, L: Read>(
    (pred_file, pred): (&str, P),
    (labels_file, labels): (&str, L),
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Report> {
    let p = data::open(pred_file, pred, None)?;
    let l = data::open(labels_file, labels, None)?;
    evaluate_with_labels_opened((pred_file, p), (labels_file, l), spec, options, progress)
}

/// [`evaluate_with_labels_with`] of sources already opened.
pub fn evaluate_with_labels_opened(
    (pred_file, p): (&str, data::Opened<'_>),
    (labels_file, l): (&str, data::Opened<'_>),
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Report> {
    let format = format!("{}, labels: {}", p.format_name(), l.format_name());
    let files = [pred_file.to_string(), labels_file.to_string()];
    let (rows, how): (Box<dyn Rows + '_>, String) = match &spec.id {
        None => (Box::new(data::Zipped::new(p.rows, l.rows, files)), "matched by row".into()),
        Some(id) => (Box::new(data::Joined::new(p.rows, l.rows, id, files)?), format!("joined on '{id}'")),
    };
    let mut report = run(pred_file, rows, format, &p.bytes, spec, options, progress)?;
    report.source.bytes += l.bytes.get();
    report.notes.push(format!("true labels from {labels_file}, {how}"));
    Ok(report)
}

fn run(
    file: &str,
    rows: Box<dyn Rows + '_>,
    format: String,
    bytes: &ByteCounter,
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Report> {
    Ok(run_logged(file, rows, format, bytes, spec, options, progress, false)?.0)
}

/// [`run`], also keeping what [`paired::test`] needs when `paired` is set.
#[allow(clippy::too_many_arguments)]
fn run_logged(
    file: &str,
    rows: Box<dyn Rows + '_>,
    format: String,
    bytes: &ByteCounter,
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
    paired: bool,
) -> Result<(Report, Option<paired::PairedLog>)> {
    Sequential::start(file, rows, format, bytes, spec, options, paired)?.read_all(progress)
}

/// One source read row by row in file order, its accumulators kept between calls: the page's
/// worker feeds it as the browser hands over the file's bytes (`web::StreamEvaluation`), so
/// the reading overlaps the work; [`run_logged`] reads it to the end in one call.
pub struct Sequential<'a> {
    file: String,
    rows: Box<dyn Rows + 'a>,
    format: String,
    bytes: ByteCounter,
    setup: Setup,
    chunks: Chunks,
    /// Rows read so far.
    n: u64,
}

impl<'a> Sequential<'a> {
    /// Read the header and the first rows of `opened` and make the plan.
    pub fn open(file: &str, opened: data::Opened<'a>, spec: &ColumnSpec, options: &Options) -> Result<Self> {
        let format = opened.format_name();
        // a compressed size says nothing about the rows' bytes
        let unhinted;
        let options = if opened.gzip && options.size_hint.is_some() {
            unhinted = Options { size_hint: None, ..options.clone() };
            &unhinted
        } else {
            options
        };
        Self::start(file, opened.rows, format, &opened.bytes, spec, options, false)
    }

    fn start(
        file: &str,
        mut rows: Box<dyn Rows + 'a>,
        format: String,
        bytes: &ByteCounter,
        spec: &ColumnSpec,
        options: &Options,
        paired: bool,
    ) -> Result<Self> {
        rows.set_chunking(options.chunk_bytes());
        let (plan, sample) = sample_plan(file, rows.as_mut(), spec)?;
        let setup = Setup::new(plan, spec, options, paired)?;
        let mut chunks = Chunks::new(&setup);
        for (line, chunk, record) in &sample {
            chunks.feed(&setup, record, *line, *chunk)?;
        }
        let n = sample.len() as u64;
        Ok(Sequential { file: file.to_string(), rows, format, bytes: bytes.clone(), setup, chunks, n })
    }

    /// Read and feed rows until `pause()` (asked before each row) or the end; true at the end.
    pub fn feed(&mut self, pause: &dyn Fn() -> bool, progress: Progress) -> Result<bool> {
        let (n, end) = stream(self.rows.as_mut(), &self.setup, &mut self.chunks, self.n, &self.bytes, progress, pause)?;
        self.n = n;
        Ok(end)
    }

    /// Every row left, then the report.
    fn read_all(mut self, progress: Progress) -> Result<(Report, Option<paired::PairedLog>)> {
        #[cfg(not(target_arch = "wasm32"))]
        if self.setup.options.pipelined {
            self.n =
                stream_pipelined(self.rows.as_mut(), &self.setup, &mut self.chunks, self.n, &self.bytes, progress)?;
            return self.finish(progress);
        }
        self.feed(&|| false, progress)?;
        self.finish(progress)
    }

    /// The report, once [`Sequential::feed`] has reached the end.
    pub fn finish(self, progress: Progress) -> Result<(Report, Option<paired::PairedLog>)> {
        progress(self.bytes.get(), self.n);
        let fed = self.chunks.finish();
        let source = Source { file: self.file.clone(), format: self.format, bytes: self.bytes.get() };
        finish(&self.file, &self.setup.plan, fed, source)
    }
}

/// A record with its line and chunk.
type Located = (u64, Chunk, Record);

/// Read the header's roles and the first rows, and decide the plan (task, classes, scores)
/// from them; the rows come back, each with its line and chunk, to be fed.
fn sample_plan(file: &str, rows: &mut dyn Rows, spec: &ColumnSpec) -> Result<(Plan, Vec<Located>)> {
    let names = rows.header().to_vec();
    let roles = data::columns::resolve(&names, spec, file)?;
    // Natively a Parquet source decodes only these (the page's worker selects in its module).
    #[cfg(not(target_arch = "wasm32"))]
    rows.select(&roles.columns())?;
    let mut sample: Vec<Located> = Vec::new();
    let mut buf = Record::default();
    while sample.len() < SAMPLE_ROWS {
        match rows.next_bytes(&mut buf)? {
            Some(line) => sample.push((line, rows.chunk(), std::mem::take(&mut buf))),
            None => break,
        }
    }
    if sample.is_empty() {
        return Err(Error::NoRows(Location::file(file)));
    }
    let sample_rows: Vec<Vec<String>> = sample.iter().map(|(_, _, r)| r.to_strings()).collect();
    let plan = Plan::new(file, names, roles, &sample_rows, spec)?;
    Ok((plan, sample))
}

/// The report from all chunks' accumulators, merged.
fn finish(file: &str, plan: &Plan, fed: Option<Feeder>, source: Source) -> Result<(Report, Option<paired::PairedLog>)> {
    let Some(Feeder { mut eval, tracker, log, skipped, .. }) = fed else {
        return Err(Error::NoRows(Location::file(file)));
    };
    if eval.rows() == 0 {
        return Err(Error::NoRows(Location::file(file)));
    }
    eval.flush();
    if eval.misprojected() {
        return Err(Error::Misprojected { file: file.to_string() });
    }
    let finished = eval.finish();
    let mut report = Report::new(plan, finished, source);
    report.notes.extend(skipped.note());
    report.examples = Some(tracker.finish());
    Ok((report, log))
}

/// What every chunk's accumulators start from.
struct Setup {
    plan: Plan,
    non_finite: NonFinite,
    paired: bool,
    /// The evaluation options, checked (the CI level).
    options: Options,
    /// Where merges hand their sketching to other threads (natively, a split file).
    work: Option<std::sync::Arc<crate::metrics::SketchWork>>,
}

impl Setup {
    fn new(plan: Plan, spec: &ColumnSpec, options: &Options, paired: bool) -> Result<Self> {
        if let Some(ci) = options.ci {
            if !(ci.level > 0.0 && ci.level < 1.0) || ci.replicates == 0 {
                return Err(Error::InvalidArgument(format!(
                    "confidence level must be between 0 and 1 (e.g. 0.95) with at least one replicate; got {} and {}",
                    ci.level, ci.replicates
                )));
            }
        }
        Ok(Setup { plan, non_finite: spec.non_finite, paired, options: options.clone(), work: None })
    }

    /// Empty accumulators for chunk `index`. Its rows' bootstrap keys start at
    /// `index << 32` (a chunk holds fewer rows than that), so each row's draws depend on
    /// where it is in the file, not on who read it.
    fn feeder(&self, index: u64) -> Feeder {
        let plan = &self.plan;
        let mut eval = plan.evaluation();
        let options = &self.options;
        if let Some(ci) = options.ci {
            eval = eval.with_ci(ci);
        }
        let eval = eval
            .with_score_budget(options.score_budget.unwrap_or(0))
            .with_sketch_bytes(options.sketch_bytes.unwrap_or(0))
            .with_sketch_batch(options.sketch_batch.unwrap_or(0))
            .with_first_row(index << 32)
            .with_threads(options.threads);
        let eval = match &self.work {
            Some(work) => eval.with_sketch_work(work.clone()),
            None => eval,
        };
        let width = plan.score_cols.len();
        Feeder {
            tracker: rows::RowTracker::new(plan.task, &plan.classes, width, plan.threshold).for_chunk(index),
            log: self.paired.then(|| paired::PairedLog::new(plan.task, &plan.classes, width, plan.threshold)),
            eval,
            state: data::columns::FeedState::default(),
            skipped: Skipped::default(),
            row: 0,
        }
    }
}

/// Rows in file order, each into its chunk's own accumulators; a finished chunk is merged
/// into the ones before it. One thread or many, the same chunks are merged in the same
/// order, so the report does not depend on how the file was read.
struct Chunks {
    current: Option<(Chunk, Feeder)>,
    merged: Option<Feeder>,
    /// [`Options::size_hint`], until [`Chunks::reserve`] has used it.
    size_hint: Option<u64>,
    /// Rows each new chunk's accumulators reserve room for (0: none), once known.
    chunk_rows: usize,
}

impl Chunks {
    fn new(setup: &Setup) -> Self {
        Chunks { current: None, merged: None, size_hint: setup.options.size_hint, chunk_rows: 0 }
    }

    /// One row at (file) line `line` of chunk `chunk`.
    fn feed(&mut self, setup: &Setup, record: &Record, line: u64, chunk: Chunk) -> Result<()> {
        if self.current.as_ref().map(|c| c.0.index) != Some(chunk.index) {
            self.close();
            let mut feeder = setup.feeder(chunk.index);
            if self.bins() {
                feeder.eval.bins_only();
            }
            feeder.eval.reserve(self.chunk_rows);
            self.current = Some((chunk, feeder));
        }
        match &mut self.current {
            Some((c, f)) => f.feed(setup, record, line - c.line_base).map_err(|e| e.shift_lines(c.line_base)),
            None => Ok(()),
        }
    }

    /// Whether the merged accumulators bin their scores: a chunk's rows then need only what
    /// a bin needs ([`Evaluation::bins_only`]).
    fn bins(&self) -> bool {
        self.merged.as_ref().is_some_and(|m| m.eval.bins())
    }

    fn close(&mut self) {
        if let Some((c, f)) = self.current.take() {
            self.add(f, c.line_base);
        }
    }

    /// With a size hint, once a chunk is merged: `rows` rows were read in the source's first
    /// `at` bytes, so the merged accumulators reserve room for the file's rows at that rate
    /// (2% over), and each later chunk for as many rows as the first one had. A file that
    /// should hold [`EARLY_SWITCH`] times the score budget is binned from here on instead.
    fn reserve(&mut self, rows: u64, at: u64) {
        let (Some(size), Some(merged)) = (self.size_hint, &mut self.merged) else { return };
        self.size_hint = None;
        if at == 0 || size <= at {
            return;
        }
        let projected = rows as f64 * size as f64 / at as f64;
        if merged.eval.projects_past_budget(projected as u64, EARLY_SWITCH) {
            merged.eval.switch_early();
        }
        let total = (projected * 1.02) as usize;
        merged.eval.reserve(total);
        self.chunk_rows = (merged.row as f64 * 1.02) as usize;
        if let Some((_, current)) = &mut self.current {
            current.eval.reserve(self.chunk_rows);
        }
    }

    /// Merge the next chunk's accumulators (lines counted from its start; `line_base` lines
    /// before it).
    fn add(&mut self, mut part: Feeder, line_base: u64) {
        // a finished chunk's sketches bin their waiting rows now: the merge would bin a copy
        part.eval.flush();
        if self.chunk_rows == 0 && self.size_hint.is_none() {
            // no size hint (or one used up without an estimate): each later chunk still
            // reserves room for as many rows as this one had, so its stores never grow by
            // doubling (each doubling a copy)
            self.chunk_rows = (part.row as f64 * 1.02) as usize;
        }
        match &mut self.merged {
            Some(merged) => merged.absorb(part, line_base),
            None => {
                part.shift_lines(line_base);
                self.merged = Some(part);
            }
        }
    }

    fn finish(mut self) -> Option<Feeder> {
        self.close();
        if let Some(merged) = &mut self.merged {
            // the sketching other threads did, taken in
            merged.eval.flush();
        }
        self.merged
    }
}

/// Everything one chunk's rows go into, in file order: the accumulators, the row trackers
/// (and the paired-test log), and what is kept between rows. Rows and lines count from the
/// chunk's start.
struct Feeder {
    eval: Evaluation,
    tracker: rows::RowTracker,
    log: Option<paired::PairedLog>,
    state: data::columns::FeedState,
    skipped: Skipped,
    row: u64,
}

impl Feeder {
    fn feed(&mut self, setup: &Setup, record: &Record, line: u64) -> Result<()> {
        self.tracker.at(self.row, line);
        self.row += 1;
        let mut tee = rows::Tee { eval: &mut self.eval, rows: &mut self.tracker, paired: self.log.as_mut() };
        match setup.plan.feed(record, line, &mut tee, &mut self.state) {
            // (its own arm: `other => other` moved the whole 160-byte `Result` with a
            // `memcpy` call every row)
            Ok(()) => Ok(()),
            Err(Error::NonFinite { loc, .. }) if setup.non_finite == NonFinite::Skip => {
                self.skipped.add(loc);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Append the next chunk's rows, `line_base` lines after this chunk's first line.
    fn absorb(&mut self, other: Feeder, line_base: u64) {
        let row_base = self.row;
        self.eval.merge_owned(other.eval);
        let eval = &mut self.eval;
        self.tracker.merge(other.tracker, row_base, line_base, &mut |name| eval.intern(name));
        if let (Some(log), Some(theirs)) = (&mut self.log, other.log) {
            log.merge(theirs, &mut |name| eval.intern(name));
        }
        self.skipped.merge(other.skipped, line_base);
        self.row += other.row;
    }

    fn shift_lines(&mut self, line_base: u64) {
        self.tracker.shift_lines(line_base);
        if let Some(loc) = &mut self.skipped.first {
            loc.line = loc.line.map(|l| l + line_base);
        }
    }
}

/// How far past the score budget a file's size must say its scores go for them to be binned
/// from its first chunk on ([`Chunks::reserve`]), not stored up to the budget and then
/// switched: the same report, without ~8 bytes a score of memory written and copied (537 MB
/// for the budget's 2^26 scores). The margin keeps a file whose later rows are longer than
/// its first chunk's from being misjudged, which costs a second read
/// ([`Error::Misprojected`]).
const EARLY_SWITCH: f64 = 1.25;

/// Rows between progress calls (each may cancel).
const PROGRESS_ROWS: u64 = 8192;

/// Read and feed the rows after the first `n`, one at a time, until `pause()` (asked before
/// each row) or the end; returns the rows read and whether the end came.
fn stream(
    rows: &mut dyn Rows,
    setup: &Setup,
    chunks: &mut Chunks,
    mut n: u64,
    bytes: &ByteCounter,
    progress: Progress,
    pause: &dyn Fn() -> bool,
) -> Result<(u64, bool)> {
    let mut buf = Record::default();
    loop {
        if pause() {
            return Ok((n, false));
        }
        let Some(line) = rows.next_bytes(&mut buf)? else { return Ok((n, true)) };
        chunks.feed(setup, &buf, line, rows.chunk())?;
        n += 1;
        if chunks.size_hint.is_some() && chunks.merged.is_some() {
            chunks.reserve(n, rows.position().0);
        }
        if n.is_multiple_of(PROGRESS_ROWS) && !progress(bytes.get(), n) {
            return Err(Error::Cancelled);
        }
    }
}

/// [`stream`] on two threads: this one reads records and parses their numbers, in batches;
/// a second feeds them, in file order, to the accumulators. The feeding is the same
/// sequence of calls as in [`stream`], so the report is identical; errors come out in file
/// order too (a reader error travels behind the rows before it).
#[cfg(not(target_arch = "wasm32"))]
fn stream_pipelined(
    rows: &mut dyn Rows,
    setup: &Setup,
    chunks: &mut Chunks,
    mut n: u64,
    bytes: &ByteCounter,
    progress: Progress,
) -> Result<u64> {
    use std::sync::mpsc;
    const BATCH: usize = 2048;
    type Batch = Vec<Located>;
    let numeric = setup.plan.numeric_columns();
    let (to_feed, batches) = mpsc::sync_channel::<Result<Batch>>(4);
    let (give_back, returned) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> Result<()> {
            for batch in batches {
                let batch = batch?;
                for (line, chunk, record) in &batch {
                    chunks.feed(setup, record, *line, *chunk)?;
                }
                // the reader may have finished: then the batch is simply dropped
                let _ = give_back.send(batch);
            }
            Ok(())
        });
        let read = (|| -> Result<u64> {
            let mut last_progress = n;
            loop {
                let mut batch = returned.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let mut filled = 0;
                let mut failed = None;
                let mut done = false;
                while filled < BATCH {
                    if filled == batch.len() {
                        batch.push((0, Chunk::default(), Record::default()));
                    }
                    let (line, chunk, record) = &mut batch[filled];
                    match rows.next_bytes(record) {
                        Ok(Some(l)) => {
                            *line = l;
                            *chunk = rows.chunk();
                            record.parse_numbers(&numeric);
                            filled += 1;
                        }
                        Ok(None) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                batch.truncate(filled);
                n += filled as u64;
                // a closed channel means the feeder stopped on an error, which it returns
                if to_feed.send(Ok(batch)).is_err() {
                    return Ok(n);
                }
                if let Some(e) = failed {
                    let _ = to_feed.send(Err(e));
                    return Ok(n);
                }
                if done {
                    return Ok(n);
                }
                if n - last_progress >= PROGRESS_ROWS {
                    last_progress = n;
                    if !progress(bytes.get(), n) {
                        return Err(Error::Cancelled);
                    }
                }
            }
        })();
        drop(to_feed);
        let fed = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        fed.and(read)
    })
}

/// Two predictions files evaluated one after the other, with a paired test when they
/// score the same rows.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Report,
    pub b: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired: Option<paired::Paired>,
    /// Why there is no paired test, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_note: Option<String>,
}

/// Evaluate two predictions files and test their difference on shared rows (paired
/// bootstrap for the headline metrics, DeLong for the binary ROC-AUC). `progress` sees
/// the first file's bytes, then the second's.
pub fn compare<A: Read, B: Read>(
    (a_file, a): (&str, A),
    (b_file, b): (&str, B),
    spec: &ColumnSpec,
    options: &Options,
    progress: Progress,
) -> Result<Comparison> {
    let one = |file: &str, reader: &mut dyn Read, progress: Progress| -> Result<(Report, Option<paired::PairedLog>)> {
        let opened = data::open(file, reader, None)?;
        let format = opened.format_name();
        run_logged(file, opened.rows, format, &opened.bytes, spec, options, progress, true)
    };
    let mut a = a;
    let mut b = b;
    let (ra, la) = one(a_file, &mut a, progress)?;
    let (rb, lb) = one(b_file, &mut b, progress)?;
    let (paired, paired_note) = match (la, lb) {
        (Some(la), Some(lb)) => match paired::test(&la, &lb, ra.positive_class.as_deref()) {
            Ok(p) => (Some(p), None),
            Err(Error::InvalidArgument(why)) => (None, Some(format!("no paired test: {why}"))),
            Err(e) => return Err(e),
        },
        _ => (None, Some("no paired test: the rows were not kept".into())),
    };
    Ok(Comparison { a: ra, b: rb, paired, paired_note })
}

/// Rows left out under [`NonFinite::Skip`], for the report's notes.
#[derive(Default, Serialize, Deserialize)]
struct Skipped {
    count: u64,
    first: Option<Location>,
}

impl Skipped {
    fn add(&mut self, loc: Location) {
        self.count += 1;
        self.first.get_or_insert(loc);
    }

    /// Add the next chunk's, whose lines start `line_base` lines after this one's.
    fn merge(&mut self, other: Skipped, line_base: u64) {
        self.count += other.count;
        if self.first.is_none() {
            self.first = other.first.map(|mut loc| {
                loc.line = loc.line.map(|l| l + line_base);
                loc
            });
        }
    }

    fn note(&self) -> Option<String> {
        let first = self.first.as_ref()?;
        Some(format!(
            "skipped {} row{} with a missing, NaN or infinite value (first: {first})",
            self.count,
            if self.count == 1 { "" } else { "s" }
        ))
    }
}

impl Report {
    fn new(plan: &Plan, f: Finished, source: Source) -> Report {
        let name = |i: usize| plan.names[i].clone();
        let columns = Columns {
            label: name(plan.roles.label),
            pred: plan.roles.pred.map(name),
            score: plan.roles.score.map(name),
            probs: plan.roles.probs.iter().map(|(_, i)| name(*i)).collect(),
            weight: plan.roles.weight.map(name),
            labels: plan.ml_truth.iter().map(|&i| name(i)).collect(),
            preds: plan.ml_pred.iter().map(|&i| name(i)).collect(),
        };
        let per_class =
            f.classes.iter().zip(&f.per_class).map(|(c, v)| PerClass { class: c.clone(), stats: *v }).collect();
        let thresholds = f.explorer.as_ref().map(|e| Thresholds::new(e, plan.threshold));
        let metrics = metrics_with_intervals(&f);
        let mut notes = plan.notes.clone();
        if let Some(s) = &f.sketch {
            notes.push(format!(
                "{} scores, more than the budget of {}: ROC-AUC, average precision and the curves come from {} score bins; \
                 each value is within sketch.error_bound of the exact one",
                s.rows, s.budget, s.bins
            ));
        }
        if f.task == Task::Multiclass && f.classes.len() < 3 {
            notes.push("only two classes occur; binary metrics would apply".into());
        }
        Report {
            task: f.task,
            n: f.n,
            classes: labels::to_json(&f.classes),
            positive_class: f.positive_class,
            columns,
            metrics,
            per_class,
            curves: f.curves.into_iter().map(thin_curve).collect(),
            calibration: f.calibration,
            thresholds,
            examples: None,
            ci: f.ci,
            sketch: f.sketch,
            notes,
            source,
        }
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Class names as strings, in report order.
    pub fn class_names(&self) -> Vec<String> {
        class_names(&self.classes)
    }
}

impl Thresholds {
    fn new(e: &ThresholdExplorer, default_threshold: f64) -> Thresholds {
        Thresholds {
            best_f1: e.best_f1(),
            youden: e.youden(),
            default: e.at_above(default_threshold),
            table: e.thinned(THRESHOLD_POINTS),
        }
    }
}

/// The metrics, each scalar as `{"value","ci_low","ci_high","ci_method"}` when intervals
/// were computed.
fn metrics_with_intervals(f: &Finished) -> MetricMap {
    let mut metrics = f.metrics.clone();
    if f.ci.is_some() {
        for (key, value) in metrics.iter_mut() {
            if value.is_number() {
                let i = f.intervals.get(key);
                *value = serde_json::json!({
                    "value": value,
                    "ci_low": i.map(|i| i.low),
                    "ci_high": i.map(|i| i.high),
                    "ci_method": i.map(|i| i.method),
                });
            }
        }
    }
    metrics
}

/// Keep at most CURVE_POINTS points, always the first and last.
fn thin_curve(mut c: NamedCurve) -> NamedCurve {
    let (roc_n, pr_n) = (c.fpr.len(), c.precision.len());
    let pick = |n: usize| -> Vec<usize> {
        if n <= CURVE_POINTS {
            (0..n).collect()
        } else {
            (0..CURVE_POINTS).map(|i| i * (n - 1) / (CURVE_POINTS - 1)).collect()
        }
    };
    let roc = pick(roc_n);
    let take = |v: &Vec<f64>, idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    c.fpr = take(&c.fpr, &roc);
    c.tpr = take(&c.tpr, &roc);
    c.thresholds = take(&c.thresholds, &roc);
    let pr = pick(pr_n);
    c.precision = take(&c.precision, &pr);
    c.recall = take(&c.recall, &pr);
    c
}

/// Class names as strings from the report's `classes` JSON (numbers or strings).
pub fn class_names(classes: &serde_json::Value) -> Vec<String> {
    match classes {
        serde_json::Value::Array(a) => {
            a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}
