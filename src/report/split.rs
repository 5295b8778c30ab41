//! One delimited file's canonical chunks ([`data::Chunk`]) read by several readers and merged
//! in file order: threads natively (`parallel.rs`), Web Workers in the page (`web.rs`).
//!
//! One reader merges the same chunks in the same order, so splitting only changes who reads
//! a chunk. The reader of the file's start reads the header, the sample the plan is made
//! from and the rest of the sample's chunk; every other chunk is read from a guessed start,
//! the first line start at or after its nominal offset. That guess is right unless the
//! newline before it is inside a quoted field; the chunk before it, read from a start known
//! to be right, ends exactly where its successor must begin, so [`Merge`] checks each guess
//! and re-reads a chunk whose guess was wrong from the true start. A chunk counts its lines
//! from its own start; the merge adds the lines before it, so rows and errors keep their
//! file line.
//!
//! Each reader rebuilds the plan itself from the file's head ([`Splitter::new`]), so a
//! reader needs only the file and the options. A chunk read elsewhere (another worker)
//! crosses as bytes ([`ChunkRead::encode`]): its accumulators and row trackers in postcard,
//! a binary serde format in which a float is its 8 (or 4) bytes, so merging decoded chunks
//! gives the report merging them in place gives, bit for bit. A chunk that failed elsewhere
//! crosses without its error: the merge re-reads it in order and meets the error itself.
//!
//! Natively the merge past the score budget hands its sketching to every thread
//! (`metrics::SketchWork`, set in `Setup` by `parallel.rs`: lanes of columns, each binned in
//! file order). [`Part`] does not: a reader that shares no memory would keep each chunk
//! merged past the switch, bin the batches it is sent into its lane of the sketches and send
//! the lane at the end (see ARCHITECTURE.md).

use super::{sample_plan, stream, Chunks, Feeder, Located, Options, Progress, Report, Setup, Skipped, PROGRESS_ROWS};
use crate::data::csv::{Dialect, Records};
use crate::data::{self, ByteCounter, ColumnSpec, Format, Record, Rows};
use crate::error::{Error, Result};
use crate::metrics::Evaluation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Random access to the file being split: its bytes from an offset on.
pub trait Source {
    fn open_at(&self, at: u64) -> Result<Box<dyn Read + '_>>;
}

/// Whether `opened` (the file from its start, `size` bytes) is read in parts: plain
/// delimited text of at least two chunks.
pub fn splittable(opened: &data::Opened<'_>, size: u64, options: &Options) -> bool {
    opened.format == Format::Delimited && !opened.gzip && size >= 2 * options.chunk_bytes()
}

/// What every reader of one file's chunks knows.
pub struct Splitter {
    file: String,
    header: Vec<String>,
    dialect: Dialect,
    chunk_bytes: u64,
    size: u64,
    pub(super) setup: Setup,
    /// The merge bins its scores: chunks read from now on store theirs as f32
    /// ([`Evaluation::bins_only`]).
    bins_only: AtomicBool,
    /// Rows a chunk read here reserves room for: as many as the most a chunk read here had
    /// (2% over), so that its stores do not grow by doubling (each doubling a copy).
    chunk_rows: AtomicU64,
    /// The first chunk the sample's reader leaves to the others, and the number of chunks.
    pub first: u64,
    pub count: u64,
}

impl Splitter {
    /// Read the header and the sample from `rows` (a [`splittable`] file from its start) and
    /// make the plan; the sample comes back to be fed by the reader of the file's start,
    /// whose `rows` stop at the sample's chunk.
    pub fn new(
        file: &str,
        rows: &mut dyn Rows,
        spec: &ColumnSpec,
        options: &Options,
        size: u64,
    ) -> Result<(Splitter, Vec<Located>)> {
        let chunk_bytes = options.chunk_bytes();
        rows.set_chunking(chunk_bytes);
        let (plan, sample) = sample_plan(file, rows, spec)?;
        let setup = Setup::new(plan, spec, options, false)?;
        let Some(dialect) = rows.dialect() else {
            return Err(Error::Runtime(format!("{file}: delimited text without a dialect")));
        };
        let last_sampled = sample.last().map_or(0, |s| s.1.index);
        rows.stop_after(last_sampled);
        let splitter = Splitter {
            file: file.to_string(),
            header: rows.header().to_vec(),
            dialect,
            chunk_bytes,
            size,
            setup,
            bins_only: AtomicBool::new(false),
            chunk_rows: AtomicU64::new(0),
            first: last_sampled + 1,
            count: size.div_ceil(chunk_bytes),
        };
        Ok((splitter, sample))
    }

    /// The merge bins its scores (and always will): the chunks read from now on need only
    /// what a bin needs ([`Evaluation::bins_only`]). The merging reader's [`Merge`] says so
    /// itself; a reader that shares no memory with it is told ([`Part::bins_only`]).
    pub fn set_bins_only(&self) {
        self.bins_only.store(true, Ordering::Relaxed);
    }

    /// Read chunk `k` from `start`, or from the first line start at or after its nominal
    /// offset. `tick(rows)` is called every few thousand rows; false cancels.
    pub fn read_chunk(
        &self,
        src: &dyn Source,
        k: u64,
        start: Option<u64>,
        tick: &mut dyn FnMut(u64) -> bool,
    ) -> ChunkRead {
        let mut out = ChunkRead { index: k, start: 0, end: 0, lines: 0, fed: Err(Error::Cancelled), retry: false };
        out.fed = (|| -> Result<Feeder> {
            out.start = match start {
                Some(at) => at,
                None => self.line_start_after(src, k * self.chunk_bytes)?,
            };
            out.end = out.start;
            // buffered like `data::open`'s reader, so that this is the same `Records` type (one
            // copy of the parser in the wasm, not two: ~30 KB gzip)
            let source = BufReader::with_capacity(1 << 16, src.open_at(out.start)?);
            let mut records =
                Records::resume(&self.file, source, self.header.clone(), self.dialect, out.start, self.chunk_bytes, k);
            let mut feeder = self.setup.feeder(k);
            if self.bins_only.load(Ordering::Relaxed) {
                feeder.eval.bins_only();
            }
            feeder.eval.reserve(self.chunk_rows.load(Ordering::Relaxed) as usize);
            let mut record = Record::default();
            let result = (|| {
                while let Some(line) = records.next_bytes(&mut record)? {
                    feeder.feed(&self.setup, &record, line)?;
                    if feeder.row.is_multiple_of(PROGRESS_ROWS) && !tick(PROGRESS_ROWS) {
                        return Err(Error::Cancelled);
                    }
                }
                Ok(())
            })();
            (out.end, out.lines) = records.position();
            // binned by the thread that read the chunk, not the one merging
            feeder.eval.flush();
            self.chunk_rows.fetch_max((feeder.row as f64 * 1.02) as u64, Ordering::Relaxed);
            result.map(|()| feeder)
        })();
        out
    }

    /// The offset right after the first `\n` at or after `at - 1` (the end of the file when
    /// there is none): a chunk's guessed start.
    fn line_start_after(&self, src: &dyn Source, at: u64) -> Result<u64> {
        if at == 0 {
            return Ok(0);
        }
        let mut reader = BufReader::with_capacity(1 << 16, src.open_at(at - 1)?);
        let mut pos = at - 1;
        loop {
            let buf = reader.fill_buf().map_err(|e| Error::Io { file: self.file.clone(), message: e.to_string() })?;
            if buf.is_empty() {
                return Ok(self.size);
            }
            if let Some(i) = memchr::memchr(b'\n', buf) {
                return Ok(pos + i as u64 + 1);
            }
            let n = buf.len();
            pos += n as u64;
            reader.consume(n);
        }
    }
}

/// One chunk as read: where it started and ended, the physical lines in it, and its
/// accumulators (or the first error in it, lines counted from its start).
pub struct ChunkRead {
    pub index: u64,
    start: u64,
    end: u64,
    lines: u64,
    fed: Result<Feeder>,
    /// Decoded from a chunk that failed where it was read: the merge re-reads it.
    retry: bool,
}

/// A chunk as it crosses between readers.
#[derive(Serialize, Deserialize)]
struct Wire {
    index: u64,
    start: u64,
    end: u64,
    lines: u64,
    state: Option<State>,
}

/// A chunk's accumulators (the label cache and the paired log stay behind: the first is
/// rebuilt on demand, the second is never kept for a split file).
#[derive(Serialize, Deserialize)]
struct State {
    eval: Evaluation,
    tracker: super::rows::RowTracker,
    skipped: Skipped,
    row: u64,
}

impl ChunkRead {
    /// The bytes another reader [`ChunkRead::decode`]s. A cancelled chunk is an error: it
    /// has no state worth sending.
    pub fn encode(self) -> Result<Vec<u8>> {
        let state = match self.fed {
            Ok(f) => Some(State { eval: f.eval, tracker: f.tracker, skipped: f.skipped, row: f.row }),
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(_) => None,
        };
        // room for the stored scores at once (the output grew by doubling)
        let room = state.as_ref().map_or(0, |s| s.eval.stored_bytes()) + (64 << 10);
        let wire = Wire { index: self.index, start: self.start, end: self.end, lines: self.lines, state };
        postcard::to_extend(&wire, Vec::with_capacity(room))
            .map_err(|e| Error::Runtime(format!("encoding chunk {}: {e}", self.index)))
    }

    pub fn decode(bytes: &[u8]) -> Result<ChunkRead> {
        let wire: Wire =
            postcard::from_bytes(bytes).map_err(|e| Error::Runtime(format!("a chunk's state is damaged: {e}")))?;
        let retry = wire.state.is_none();
        let fed = match wire.state {
            Some(s) => Ok(Feeder {
                eval: s.eval,
                tracker: s.tracker,
                log: None,
                state: data::columns::FeedState::default(),
                skipped: s.skipped,
                row: s.row,
            }),
            None => Err(Error::Cancelled),
        };
        Ok(ChunkRead { index: wire.index, start: wire.start, end: wire.end, lines: wire.lines, fed, retry })
    }
}

/// The chunks merged so far, in file order, and those read ahead of their turn.
pub struct Merge {
    chunks: Chunks,
    next: u64,
    /// Where chunk `next` starts, and the physical lines before it.
    expected: u64,
    line_base: u64,
    rows: u64,
    pending: BTreeMap<u64, ChunkRead>,
}

impl Merge {
    /// Feed the sample and the rest of its chunk (from `rows`, which stop there); `progress`
    /// as for [`super::evaluate`].
    pub fn start(
        sp: &Splitter,
        rows: &mut dyn Rows,
        sample: Vec<Located>,
        bytes: &ByteCounter,
        progress: Progress,
    ) -> Result<Merge> {
        let mut chunks = Chunks::new(&sp.setup);
        for (line, chunk, record) in &sample {
            chunks.feed(&sp.setup, record, *line, *chunk)?;
        }
        let (n, _) = stream(rows, &sp.setup, &mut chunks, sample.len() as u64, bytes, progress, &|| false)?;
        chunks.close();
        let (expected, line_base) = rows.position();
        chunks.reserve(n, expected);
        if chunks.bins() {
            sp.set_bins_only();
        }
        Ok(Merge { chunks, next: sp.first, expected, line_base, rows: n, pending: BTreeMap::new() })
    }

    /// The chunk merged next.
    pub fn next(&self) -> u64 {
        self.next
    }

    pub fn has(&self, k: u64) -> bool {
        self.pending.contains_key(&k)
    }

    /// Rows merged so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn offer(&mut self, got: ChunkRead) {
        self.pending.insert(got.index, got);
    }

    /// Merge the chunks read so far that are next in file order, re-reading from `src` one
    /// whose guessed start was wrong (or that failed elsewhere); true once every chunk is in.
    pub fn advance(&mut self, sp: &Splitter, src: &dyn Source, tick: &mut dyn FnMut(u64) -> bool) -> Result<bool> {
        while let Some(got) = self.pending.remove(&self.next) {
            let got = if got.start == self.expected && !got.retry {
                got
            } else {
                sp.read_chunk(src, self.next, Some(self.expected), tick)
            };
            let fed = got.fed.map_err(|e| e.shift_lines(self.line_base))?;
            self.rows += fed.row;
            if fed.row > 0 {
                self.chunks.add(fed, self.line_base);
            }
            self.line_base += got.lines;
            self.expected = got.end;
            self.next += 1;
        }
        if self.chunks.bins() {
            sp.set_bins_only();
        }
        Ok(self.next >= sp.count)
    }

    /// The report, once [`Merge::advance`] said every chunk is in.
    pub fn finish(self, sp: &Splitter, format: String) -> Result<Report> {
        let source = super::Source { file: sp.file.clone(), format, bytes: sp.size };
        super::finish(&sp.file, &sp.setup.plan, self.chunks.finish(), source).map(|(report, _)| report)
    }
}

/// One reader's side of a file split across readers that share no memory (the page's Web
/// Workers): each opens the file from its start to rebuild the plan; the one that merges
/// also reads the sample's chunk ([`Part::read_start`]) and takes the others' chunks as
/// bytes.
pub struct Part {
    sp: Splitter,
    format: String,
    /// The reader of the file's start until its chunk is read, with its sample.
    head: Option<(Box<dyn Rows + 'static>, Vec<Located>, ByteCounter)>,
    merge: Option<Merge>,
    /// Chunks offered before the merge began.
    early: Vec<ChunkRead>,
}

impl Part {
    /// `reader` reads the file (`size` bytes) from its start; `None` when it is not
    /// [`splittable`] (read it in one piece).
    pub fn open(
        file: &str,
        reader: impl Read + 'static,
        size: u64,
        spec: &ColumnSpec,
        options: &Options,
    ) -> Result<Option<Part>> {
        let opened = data::open(file, reader, None)?;
        if !splittable(&opened, size, options) {
            return Ok(None);
        }
        let format = opened.format_name();
        let mut rows = opened.rows;
        let (sp, sample) = Splitter::new(file, rows.as_mut(), spec, options, size)?;
        Ok(Some(Part { sp, format, head: Some((rows, sample, opened.bytes)), merge: None, early: Vec::new() }))
    }

    pub fn splitter(&self) -> &Splitter {
        &self.sp
    }

    /// Read the sample's chunk (the merging reader, once).
    pub fn read_start(&mut self, progress: Progress) -> Result<()> {
        let Some((mut rows, sample, bytes)) = self.head.take() else {
            return Err(Error::Runtime(format!("{}: the start of the file was read already", self.sp.file)));
        };
        let mut merge = Merge::start(&self.sp, rows.as_mut(), sample, &bytes, progress)?;
        for got in self.early.drain(..) {
            merge.offer(got);
        }
        self.merge = Some(merge);
        Ok(())
    }

    /// A chunk read here or elsewhere, for the merge.
    pub fn offer(&mut self, got: ChunkRead) {
        match &mut self.merge {
            Some(m) => m.offer(got),
            None => self.early.push(got),
        }
    }

    /// Merge what is next in file order (see [`Merge::advance`]); true once all is in.
    pub fn advance(&mut self, src: &dyn Source, tick: &mut dyn FnMut(u64) -> bool) -> Result<bool> {
        match &mut self.merge {
            Some(m) => m.advance(&self.sp, src, tick),
            None => Ok(false),
        }
    }

    /// Rows merged so far.
    pub fn rows(&self) -> u64 {
        self.merge.as_ref().map_or(0, Merge::rows)
    }

    /// The merging reader: whether its merge bins the scores, so that the other readers may
    /// be told to [`Part::bins_only`].
    pub fn bins(&self) -> bool {
        self.merge.as_ref().is_some_and(|m| m.chunks.bins())
    }

    /// Another reader: the merge bins its scores ([`Part::bins`] said so), so the chunks
    /// read here from now on store theirs as f32 (the same report; half the bytes to send).
    pub fn bins_only(&self) {
        self.sp.set_bins_only();
    }

    /// The report, once [`Part::advance`] said every chunk is in.
    pub fn finish(self) -> Result<Report> {
        match self.merge {
            Some(m) if m.next() >= self.sp.count => m.finish(&self.sp, self.format),
            _ => Err(Error::Runtime(format!("{}: not every chunk was read", self.sp.file))),
        }
    }
}
