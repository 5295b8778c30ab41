//! Readers that turn the files a user drops into rows for the metric accumulators.
//!
//! Every format (delimited text, JSON Lines, JSON arrays, NumPy `.npy`/`.npz`, any of them
//! gzip-compressed) is reduced to the same thing: a header and a stream of records, the
//! [`Rows`] trait. The evaluation's hot path reads records as bytes into one reused
//! [`Record`] ([`Rows::next_bytes`]), so a big CSV costs no allocation per cell. That keeps column understanding ([`columns`]) and the metric feed in
//! one place, so the same predictions give the same report whatever the container. Records
//! are pulled one at a time from any `std::io::Read`, so memory does not grow with the file
//! (NumPy archives are the exception: they are column-oriented and read whole).

pub mod columns;
pub mod csv;
mod decimal;
pub mod images;
pub mod json;
pub mod mapping;
pub mod npy;
#[cfg(any(not(target_arch = "wasm32"), feature = "parquet-module"))]
pub mod parquet;

pub use columns::{ColumnSpec, NonFinite, Plan, Roles};

use crate::error::{Error, Location, Result};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A header and a stream of records with the header's width.
pub trait Rows {
    fn header(&self) -> &[String];
    /// Fill `out` with the next record; returns its 1-based line (or row) number for
    /// messages, or `None` at the end.
    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>>;

    /// The next record as byte fields in `out`'s reused buffer (the evaluation's hot path);
    /// returns its line number like [`Rows::next_record`]. Delimited text overrides this to
    /// skip building a `String` per cell; other formats go through their strings.
    fn next_bytes(&mut self, out: &mut Record) -> Result<Option<u64>> {
        let mut strings = std::mem::take(&mut out.strings);
        let line = self.next_record(&mut strings);
        out.clear();
        for s in &strings {
            out.push_field(s.as_bytes());
        }
        out.strings = strings;
        line
    }

    /// The canonical chunk of the record last returned. Delimited text is cut into chunks
    /// at fixed byte offsets ([`Rows::set_chunking`]), each one accumulated on its own and
    /// merged in order, so a file read by one thread or split across several gives the same
    /// report. Other formats are one chunk.
    fn chunk(&self) -> Chunk {
        Chunk::default()
    }
    /// Cut into chunks of about `bytes` (call before the first record).
    fn set_chunking(&mut self, _bytes: u64) {}
    /// Delimited text: what a reader starting at another chunk needs.
    fn dialect(&self) -> Option<csv::Dialect> {
        None
    }
    /// Return no records past chunk `last` (another reader takes the rest).
    fn stop_after(&mut self, _last: u64) {}
    /// The byte offset where reading stopped and the physical lines before it (delimited
    /// text; (0, 0) elsewhere).
    fn position(&self) -> (u64, u64) {
        (0, 0)
    }

    /// The columns the evaluation reads, told once before the first record: a columnar
    /// source (Parquet) decodes only those and refuses one it cannot read; others ignore it.
    /// (Not in the page's main module: there the worker selects in the Parquet module.)
    #[cfg(any(not(target_arch = "wasm32"), feature = "parquet-module"))]
    fn select(&mut self, _columns: &[usize]) -> Result<()> {
        Ok(())
    }
}

/// Where a record lies in its file's canonical chunks: chunk `index` covers the records
/// that start from the first `\n`-preceded record start at or after `index × chunk bytes`
/// up to the next chunk's start (so a quoted newline never splits a record);
/// `line_base` is the number of physical lines before the chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub line_base: u64,
}

/// The default chunk size: big enough that merging costs nothing next to reading, small
/// enough that a 1 GB file gives dozens of chunks to share among threads or workers.
pub const CHUNK_BYTES: u64 = 16 << 20;

/// Bytes of room kept before and after a delimited line in its [`Record`].
const PAD: usize = 16;

/// One record's fields as bytes, with its buffers kept between records: the fields' bytes
/// and each field's `(start, end)` in them (a delimited line is copied whole, delimiters
/// included, and its spans skip them).
#[derive(Debug, Clone, Default)]
pub struct Record {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Field numbers parsed ahead of the feed ([`Record::parse_numbers`]): one per field,
    /// NaN where not parsed or not a finite number (the feed then looks at the bytes).
    numbers: Vec<f64>,
    /// Scratch for readers that produce strings (see [`Rows::next_bytes`]).
    strings: Vec<String>,
    /// Every span lies [`PAD`] bytes or more inside `bytes` (a delimited line's record), so
    /// the SIMD number parse may read 16 bytes before any field's end unchecked.
    padded: bool,
}

impl Record {
    /// Field `i` (empty when out of range; readers check widths against the header).
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        self.spans.get(i).map_or(&[], |&(a, b)| &self.bytes[a..b])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.numbers.clear();
        self.padded = false;
    }

    /// Parse the numbers of `columns` now (on a reading thread), so the feed finds them.
    pub fn parse_numbers(&mut self, columns: &[usize]) {
        self.numbers.clear();
        self.numbers.resize(self.len(), f64::NAN);
        for &c in columns {
            if let Some(slot) = self.numbers.get_mut(c) {
                *slot = decimal::field(&self.bytes, self.spans[c]).unwrap_or(f64::NAN);
            }
        }
    }

    /// Field `i`'s number when [`Record::parse_numbers`] found a finite one.
    #[inline]
    pub fn parsed(&self, i: usize) -> Option<f64> {
        self.numbers.get(i).copied().filter(|v| v.is_finite())
    }

    /// A delimited line's fields, with [`PAD`] bytes of room before and after the line so
    /// that [`Record::number`] may read 16 bytes around any field.
    #[cfg(test)]
    fn set_line(&mut self, line: &[u8], delimiter: u8) {
        self.spans.clear();
        csv::split_fields(line, delimiter, PAD, &mut self.spans);
        self.spans.pop();
        csv::room(&mut self.bytes, PAD + line.len())[PAD..PAD + line.len()].copy_from_slice(line);
        self.set_scanned(line.len());
    }

    /// A delimited line of `len` bytes already copied to `bytes[PAD..]`, whose fields but the
    /// last are in `spans` (offsets past [`PAD`], from the scan that found the line's end and
    /// copied it): the room after it, and the last field. The bytes around the line are
    /// whatever the buffer held (zeros, or older lines): only the fields are read as such.
    #[inline]
    fn set_scanned(&mut self, len: usize) {
        csv::room(&mut self.bytes, PAD + len + PAD);
        self.numbers.clear();
        let from = self.spans.last().map_or(PAD, |&(_, end)| end + 1);
        self.spans.push((from, PAD + len));
        // the scan's spans start at `PAD` and end by the line's end
        debug_assert!(self.spans.iter().all(|&(a, b)| PAD <= a && a <= b && b <= PAD + len));
        self.padded = true;
    }

    /// Field `i` as a number (trimmed; `None` when it is none; SIMD for the usual shape).
    #[inline]
    pub fn number(&self, i: usize) -> Option<f64> {
        decimal::field(&self.bytes, self.spans.get(i).copied().unwrap_or((0, 0)))
    }

    /// The finite numbers of fields `cols` pushed onto `out` (SIMD for the usual shape);
    /// false when one is not a finite number (or the numbers were parsed ahead: then the
    /// caller reads them one by one, as for an error).
    #[inline]
    pub fn numbers_into(&self, cols: &[usize], out: &mut Vec<f64>) -> bool {
        self.numbers.is_empty() && decimal::fields(&self.bytes, &self.spans, self.padded, cols, out)
    }

    fn push_field(&mut self, field: &[u8]) {
        self.padded = false;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(field);
        self.spans.push((start, self.bytes.len()));
    }

    /// The fields as text (invalid UTF-8 replaced), for the few rows that are sampled.
    pub fn to_strings(&self) -> Vec<String> {
        (0..self.len()).map(|i| String::from_utf8_lossy(self.get(i)).into_owned()).collect()
    }

    /// Build from text fields (tests, other sources).
    pub fn from_strings<S: AsRef<str>>(fields: &[S]) -> Record {
        let mut r = Record::default();
        for f in fields {
            r.push_field(f.as_ref().as_bytes());
        }
        r
    }
}

/// The container of a predictions file, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Delimited,
    JsonLines,
    JsonArray,
    Npy,
    Npz,
    /// Natively; in the page the worker hands Parquet files to the Parquet module.
    #[cfg(not(target_arch = "wasm32"))]
    Parquet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Delimited => "csv",
            Format::JsonLines => "jsonl",
            Format::JsonArray => "json",
            Format::Npy => "npy",
            Format::Npz => "npz",
            #[cfg(not(target_arch = "wasm32"))]
            Format::Parquet => "parquet",
        }
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
#[cfg(not(target_arch = "wasm32"))]
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Decide the format from the magic bytes first (they cannot lie), then the extension,
/// then the first non-blank character.
pub fn detect(file: &str, head: &[u8]) -> Format {
    let lower = file.to_ascii_lowercase();
    if head.starts_with(npy::MAGIC) {
        return Format::Npy;
    }
    if head.starts_with(ZIP_MAGIC) {
        return Format::Npz;
    }
    #[cfg(not(target_arch = "wasm32"))]
    if head.starts_with(PARQUET_MAGIC) {
        return Format::Parquet;
    }
    if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        return Format::JsonLines;
    }
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace() && *b != 0xef && *b != 0xbb && *b != 0xbf);
    let looks_json =
        lower.ends_with(".json") || !(lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".txt"));
    match first {
        Some(b'[') if looks_json => Format::JsonArray,
        Some(b'{') if looks_json => Format::JsonLines,
        _ => Format::Delimited,
    }
}

/// Bytes pulled from the underlying (possibly compressed) source, for progress reports.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    count: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Says what a gzip decoding error means for the user.
struct GzMessages<R>(R);

impl<R: Read> Read for GzMessages<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("the gzip data is damaged or cut short ({e}); expected a complete .gz file (download or compress it again)"),
            )
        })
    }
}

/// A predictions source ready to stream.
pub struct Opened<'a> {
    pub rows: Box<dyn Rows + 'a>,
    pub format: Format,
    pub gzip: bool,
    /// Bytes read from the source so far (compressed bytes for gzip).
    pub bytes: ByteCounter,
}

impl Opened<'_> {
    /// "csv", "jsonl+gzip", ...
    pub fn format_name(&self) -> String {
        let mut s = self.format.name().to_string();
        if self.gzip {
            s.push_str("+gzip");
        }
        s
    }
}

fn io_error(file: &str, e: std::io::Error) -> Error {
    Error::Io { file: file.to_string(), message: e.to_string() }
}

/// Detect the format of `reader` (gzip-wrapped or not) and open it as [`Rows`].
/// `force` skips detection (still unwrapping gzip).
pub fn open<'a, R: Read + 'a>(file: &str, reader: R, force: Option<Format>) -> Result<Opened<'a>> {
    let bytes = ByteCounter::default();
    let counted = Counting { inner: reader, count: bytes.clone() };
    let mut buffered = BufReader::with_capacity(1 << 16, counted);
    let head = buffered.fill_buf().map_err(|e| io_error(file, e))?;
    if head.starts_with(GZIP_MAGIC) {
        let inner_name = strip_suffix_ci(file, ".gz").unwrap_or(file).to_string();
        let decoder = GzMessages(flate2::bufread::MultiGzDecoder::new(buffered));
        let mut opened = open_plain(file, &inner_name, Box::new(decoder), force)?;
        opened.gzip = true;
        opened.bytes = bytes;
        return Ok(opened);
    }
    let mut opened = open_plain(file, file, Box::new(buffered), force)?;
    opened.bytes = bytes;
    Ok(opened)
}

/// Open a file on disk: Parquet (which needs random access) by its footer, anything else
/// as [`open`] streams it. `file` is the name messages use.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_file(file: &str, mut f: std::fs::File) -> Result<Opened<'static>> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| io_error(file, e))?;
    f.seek(SeekFrom::Start(0)).map_err(|e| io_error(file, e))?;
    if magic[..n] == *PARQUET_MAGIC {
        let rows = parquet::ParquetRows::new(file, f)?;
        let bytes = rows.byte_counter();
        return Ok(Opened { rows: Box::new(rows), format: Format::Parquet, gzip: false, bytes });
    }
    open(file, f, None)
}

/// [`open_file`] by path (messages name the path).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_path(path: &str) -> Result<Opened<'static>> {
    let f = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    open_file(path, f)
}

fn strip_suffix_ci<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let n = s.len().checked_sub(suffix.len())?;
    (s.is_char_boundary(n) && s[n..].eq_ignore_ascii_case(suffix)).then(|| &s[..n])
}

/// `file` is what messages say; `name` (without `.gz`) is what detection looks at.
///
/// The reader is boxed so every parser is compiled once, not once per source type (plain or
/// gzip, times file, bytes or browser stream): generic, this function was ten copies and 170 KB
/// of the wasm. Only the 64 KiB refills go through the vtable.
fn open_plain<'a>(file: &str, name: &str, reader: Box<dyn Read + 'a>, force: Option<Format>) -> Result<Opened<'a>> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(|e| io_error(file, e))?.to_vec();
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyFile(Location::file(file)));
    }
    let format = force.unwrap_or_else(|| detect(name, &head));
    let rows: Box<dyn Rows + 'a> = match format {
        Format::Delimited => Box::new(csv::Records::new(file, reader, &head)?),
        Format::JsonLines => Box::new(json::JsonLines::new(file, reader)?),
        Format::JsonArray => Box::new(json::JsonArray::new(file, reader)?),
        Format::Npy => Box::new(npy::NpyRows::new(file, stem(name), reader)?),
        Format::Npz => Box::new(npy::ArchiveRows::new(file, reader)?),
        #[cfg(not(target_arch = "wasm32"))]
        Format::Parquet => {
            return Err(Error::Malformed {
                loc: Location::file(file),
                message: "is a Parquet file, whose index is at its end, so it is read from a file (CLI: the path; page: its Parquet module), not from a stream, stdin or a .gz".into(),
            })
        }
    };
    Ok(Opened { rows, format, gzip: false, bytes: ByteCounter::default() })
}

/// Names that mark a 2-D value as per-class scores: its columns become `prob_<i>`.
const SCORE_MATRIX_NAMES: &[&str] =
    &["probs", "probas", "probabilities", "y_prob", "y_proba", "scores", "y_scores", "logits", "predict_proba"];

/// Column names for a value with `k` entries per row (a 2-D array, a JSON array): per-class
/// scores become `prob_0..prob_{k-1}` (class `i` is column `i`, as in `predict_proba`),
/// anything else `<name>_<i>`; a single column keeps its name.
pub fn expand(name: &str, k: usize) -> Vec<String> {
    if k == 1 {
        return vec![name.to_string()];
    }
    let lower = name.to_ascii_lowercase();
    let scores = columns::SCORE_NAMES.contains(&lower.as_str()) || SCORE_MATRIX_NAMES.contains(&lower.as_str());
    let prefix = if scores { "prob" } else { name };
    (0..k).map(|i| format!("{prefix}_{i}")).collect()
}

/// The file name without folders and extensions (`runs/y_pred.npy.gz` -> `y_pred`).
pub fn stem(file: &str) -> &str {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.split('.').next().filter(|s| !s.is_empty()).unwrap_or(base)
}

/// Two sources side by side, matched by row: predictions and a separate labels file.
/// A name that occurs in both is kept from the first and suffixed `_labels` in the second.
pub struct Zipped<'a> {
    left: Box<dyn Rows + 'a>,
    right: Box<dyn Rows + 'a>,
    header: Vec<String>,
    files: [String; 2],
    buf: Vec<String>,
    row: u64,
}

impl<'a> Zipped<'a> {
    pub fn new(left: Box<dyn Rows + 'a>, right: Box<dyn Rows + 'a>, files: [String; 2]) -> Self {
        let mut header = left.header().to_vec();
        for h in right.header() {
            let name = if header.contains(h) { format!("{h}_labels") } else { h.clone() };
            header.push(name);
        }
        Zipped { left, right, header, files, buf: Vec::new(), row: 0 }
    }
}

impl Rows for Zipped<'_> {
    fn header(&self) -> &[String] {
        &self.header
    }

    #[cfg(any(not(target_arch = "wasm32"), feature = "parquet-module"))]
    fn select(&mut self, columns: &[usize]) -> Result<()> {
        let width = self.left.header().len();
        let (left, right): (Vec<usize>, Vec<usize>) = columns.iter().partition(|&&c| c < width);
        self.left.select(&left)?;
        self.right.select(&right.iter().map(|c| c - width).collect::<Vec<_>>())
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let a = self.left.next_record(out)?;
        let b = self.right.next_record(&mut self.buf)?;
        self.row += 1;
        match (a, b) {
            (Some(line), Some(_)) => {
                out.append(&mut self.buf);
                Ok(Some(line))
            }
            (None, None) => Ok(None),
            (a, _) => {
                let (longer, shorter) = if a.is_some() { (0, 1) } else { (1, 0) };
                Err(Error::Malformed {
                    loc: Location::file(self.files[longer].clone()),
                    message: format!(
                        "has more rows than {} ({} rows); the labels file must have one row per prediction, in the same order",
                        self.files[shorter],
                        self.row - 1
                    ),
                })
            }
        }
    }
}

/// Predictions joined to a labels file on an id column present in both. The labels file
/// is held in memory (it is usually an id and a label per row); predictions stream.
pub struct Joined<'a> {
    left: Box<dyn Rows + 'a>,
    left_id: usize,
    header: Vec<String>,
    by_id: std::collections::HashMap<String, (u64, Vec<String>)>,
    files: [String; 2],
    id: String,
}

impl<'a> Joined<'a> {
    pub fn new(left: Box<dyn Rows + 'a>, mut right: Box<dyn Rows + 'a>, id: &str, files: [String; 2]) -> Result<Self> {
        let find = |rows: &dyn Rows, file: &str| {
            rows.header().iter().position(|h| h == id).ok_or_else(|| Error::UnknownColumn {
                loc: Location::at(file, 1, None),
                name: id.to_string(),
                found: rows.header().join(", "),
            })
        };
        let left_id = find(left.as_ref(), &files[0])?;
        let right_id = find(right.as_ref(), &files[1])?;
        let mut header = left.header().to_vec();
        for (i, h) in right.header().iter().enumerate() {
            if i != right_id {
                header.push(if header.contains(h) { format!("{h}_labels") } else { h.clone() });
            }
        }
        let mut by_id = std::collections::HashMap::new();
        let mut rec = Vec::new();
        while let Some(line) = right.next_record(&mut rec)? {
            let key = rec[right_id].trim().to_string();
            let mut rest = std::mem::take(&mut rec);
            rest.remove(right_id);
            if let Some((first, _)) = by_id.insert(key.clone(), (line, rest)) {
                return Err(Error::Malformed {
                    loc: Location::at(&files[1], line, Some(id.to_string())),
                    message: format!("id '{key}' also occurs on line {first}; each id needs exactly one label"),
                });
            }
        }
        Ok(Joined { left, left_id, header, by_id, files, id: id.to_string() })
    }
}

impl Rows for Joined<'_> {
    fn header(&self) -> &[String] {
        &self.header
    }

    /// The labels file is already in memory; the predictions read their columns and the id.
    #[cfg(any(not(target_arch = "wasm32"), feature = "parquet-module"))]
    fn select(&mut self, columns: &[usize]) -> Result<()> {
        let width = self.left.header().len();
        let mut left: Vec<usize> = columns.iter().copied().filter(|&c| c < width).collect();
        left.push(self.left_id);
        self.left.select(&left)
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let Some(line) = self.left.next_record(out)? else { return Ok(None) };
        let key = out[self.left_id].trim();
        match self.by_id.remove(key) {
            Some((_, mut rest)) => {
                out.append(&mut rest);
                Ok(Some(line))
            }
            None => Err(Error::Malformed {
                loc: Location::at(&self.files[0], line, Some(self.id.clone())),
                message: format!(
                    "id '{key}' has no row in {} (or is repeated in the predictions); every prediction needs one label",
                    self.files[1]
                ),
            }),
        }
    }
}

/// The bytes of one stream waiting for their reader, in file order: pushed ahead by their
/// producer (the page's `File.stream()`, which the browser reads while the core works), or
/// pulled at once by [`ChunkReader`] when it runs dry before the end.
#[derive(Default)]
pub struct Inbox {
    parts: VecDeque<Vec<u8>>,
    /// Where the first part's unread bytes start.
    pos: usize,
    /// Unread bytes held.
    held: usize,
    /// The file offset just past the last byte received, pushed or pulled.
    known: u64,
    /// Bytes pushed so far (the producer's offset).
    pushed: u64,
    /// No bytes come after those held.
    ended: bool,
}

impl Inbox {
    /// The producer's next bytes; the part a pull already brought is dropped.
    pub fn push(&mut self, mut bytes: Vec<u8>) {
        let start = self.pushed;
        self.pushed += bytes.len() as u64;
        if self.pushed <= self.known {
            return;
        }
        bytes.drain(..(self.known.saturating_sub(start)) as usize);
        self.known = self.pushed;
        self.add(bytes);
    }

    /// The producer has pushed its last bytes.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Fewer than `bytes` unread bytes held and more to come: reading on would soon pull.
    pub fn short_of(&self, bytes: usize) -> bool {
        !self.ended && self.held < bytes
    }

    fn add(&mut self, bytes: Vec<u8>) {
        self.held += bytes.len();
        self.parts.push_back(bytes);
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        let Some(part) = self.parts.front() else { return 0 };
        let n = buf.len().min(part.len() - self.pos);
        buf[..n].copy_from_slice(&part[self.pos..self.pos + n]);
        self.pos += n;
        self.held -= n;
        if self.pos == part.len() {
            self.parts.pop_front();
            self.pos = 0;
        }
        n
    }
}

/// A `Read` over an [`Inbox`] that, when it runs dry, pulls the bytes from the offset it has
/// reached from a callback (`None` or an empty chunk ends the stream): how the page's worker
/// hands over a `File` without holding it whole, pushed from `File.stream()` or read in
/// slices.
pub struct ChunkReader<F> {
    next: F,
    inbox: Rc<RefCell<Inbox>>,
}

impl<F: FnMut(u64) -> std::io::Result<Option<Vec<u8>>>> ChunkReader<F> {
    /// `inbox`: where a producer pushes the bytes ahead of this reader (or nobody does).
    pub fn new(next: F, inbox: Rc<RefCell<Inbox>>) -> Self {
        ChunkReader { next, inbox }
    }
}

impl<F: FnMut(u64) -> std::io::Result<Option<Vec<u8>>>> Read for ChunkReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let at = {
                let mut inbox = self.inbox.borrow_mut();
                if inbox.held > 0 || inbox.ended || buf.is_empty() {
                    return Ok(inbox.take(buf));
                }
                inbox.known
            };
            let got = (self.next)(at)?;
            let mut inbox = self.inbox.borrow_mut();
            match got {
                Some(c) if !c.is_empty() => {
                    inbox.known += c.len() as u64;
                    inbox.add(c);
                }
                _ => inbox.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_extension_and_content() {
        assert_eq!(detect("a.csv", b"label,score\n"), Format::Delimited);
        assert_eq!(detect("a.json", b"  [{\"a\":1}]"), Format::JsonArray);
        assert_eq!(detect("a.json", b"{\"a\":1}\n"), Format::JsonLines);
        assert_eq!(detect("a", b"{\"a\":1}\n"), Format::JsonLines);
        assert_eq!(detect("a.dat", b"\x93NUMPY\x01\x00"), Format::Npy);
        assert_eq!(detect("a.bin", b"PK\x03\x04"), Format::Npz);
        assert_eq!(detect("a.csv", b"[weird,header\n"), Format::Delimited);
        assert_eq!(stem("dir/y_pred.npy.gz"), "y_pred");
    }

    #[test]
    fn chunk_reader_concatenates() {
        let mut chunks = vec![b"ab".to_vec(), Vec::new()].into_iter();
        let mut parts = vec![b"ab".to_vec(), b"c".to_vec()].into_iter();
        let mut r = ChunkReader::new(move |_| Ok(parts.next()), Rc::default());
        let mut s = String::new();
        r.read_to_string(&mut s).expect("reads");
        assert_eq!(s, "abc");
        let mut r = ChunkReader::new(move |_| Ok(chunks.next()), Rc::default());
        let mut s = String::new();
        r.read_to_string(&mut s).expect("reads");
        assert_eq!(s, "ab");
    }

    /// Pushes of every size, reads of every size and pulls (when the reader runs dry) in any
    /// mix give the stream's bytes once each, in order.
    #[test]
    fn chunk_reader_mixes_pushes_and_pulls() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        // (push size, read size, bytes a pull brings, pushes before the producer stops, reads
        // per push): a pull runs ahead of the pushes, whose bytes it brought are then dropped
        let cases = [
            (1, 1, 1, 0, 1),
            (7, 3, 5, 100, 1),
            (100, 64, 13, 20, 1),
            (64, 100, 4096, 3, 1),
            (4096, 1, 1, 1, 1),
            (333, 4096, 7, 1000, 1),
            (10, 8, 5, 1000, 3),
            (10, 8, 50, 1000, 3),
            (10, 8, 4096, 1000, 3),
        ];
        for (push, read, pull, pushes, every) in cases {
            let inbox = Rc::new(RefCell::new(Inbox::default()));
            let src = data.clone();
            let pulls = Rc::new(RefCell::new(0));
            let counted = pulls.clone();
            let mut r = ChunkReader::new(
                move |at: u64| {
                    *counted.borrow_mut() += 1;
                    let at = at as usize;
                    Ok((at < src.len()).then(|| src[at..(at + pull).min(src.len())].to_vec()))
                },
                inbox.clone(),
            );
            let (mut out, mut sent, mut buf) = (Vec::new(), 0, vec![0; read]);
            for k in 0.. {
                // the producer stays ahead by a push or two, then stops
                if k % every == 0 && k / every < pushes && sent < data.len() {
                    let end = (sent + push).min(data.len());
                    inbox.borrow_mut().push(data[sent..end].to_vec());
                    sent = end;
                    if sent == data.len() {
                        inbox.borrow_mut().end();
                    }
                }
                let n = r.read(&mut buf).expect("reads");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, data, "push {push}, read {read}, pull {pull}, pushes {pushes}");
            let kept_up = pushes * push >= data.len() && every == 1;
            assert_eq!(*pulls.borrow() == 0, kept_up, "pulls only where pushes fell short ({push}, {pushes}, {every})");
        }
    }
}
