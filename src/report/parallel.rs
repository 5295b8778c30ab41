//! Native: one uncompressed delimited file read by several threads, with the same report as
//! one thread.
//!
//! The file's canonical chunks ([`data::Chunk`]) are what one thread merges anyway, so
//! threads only change who reads a chunk. This thread reads the header, the sample the plan
//! is made from and the rest of the sample's chunk; each other chunk is read by whichever
//! thread takes it, from a guessed start: the first line start at or after its nominal
//! offset. That guess is right unless the newline before it is inside a quoted field; the
//! chunk before it, read from a start known to be right, ends exactly where its successor
//! must begin, so the merge (in file order) checks each guess and re-reads a chunk whose
//! guess was wrong from the true start. A chunk counts its lines from its own start; the
//! merge adds the lines before it, so rows and errors keep their file line.

use super::{finish, sample_plan, Chunks, Feeder, Options, Progress, Report, Setup, Source, PROGRESS_ROWS};
use crate::data::csv::{Dialect, Records};
use crate::data::{self, ColumnSpec, Format, Record};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Evaluate the file at `path` with `options.threads` threads when it is uncompressed
/// delimited text of at least two chunks; otherwise as [`super::evaluate_with`] does. The
/// report is the same whatever the number of threads.
pub fn evaluate_path(path: &str, spec: &ColumnSpec, options: &Options, progress: Progress) -> Result<Report> {
    let open = || File::open(path).map_err(|e| io_error(path, e));
    let size = open()?.metadata().map_err(|e| io_error(path, e))?.len();
    let chunk_bytes = options.chunk_bytes();
    // (open_file: a Parquet file is read by row groups, on this thread)
    let opened = data::open_file(path, open()?)?;
    if options.threads <= 1 || size < 2 * chunk_bytes || opened.format != Format::Delimited || opened.gzip {
        return super::evaluate_opened(path, opened, spec, options, progress);
    }
    let format = opened.format_name();
    let mut rows = opened.rows;
    rows.set_chunking(chunk_bytes);
    let (plan, sample) = sample_plan(path, rows.as_mut(), spec)?;
    let setup = Setup::new(&plan, spec, options, false)?;
    let Some(dialect) = rows.dialect() else {
        return Err(Error::Runtime(format!("{path}: delimited text without a dialect")));
    };
    let last_sampled = sample.last().map_or(0, |s| s.1.index);
    rows.stop_after(last_sampled);
    let job = Job {
        path,
        header: rows.header().to_vec(),
        dialect,
        chunk_bytes,
        size,
        setup: &setup,
        read: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
    };
    let count = size.div_ceil(chunk_bytes);
    let next = AtomicU64::new(last_sampled + 1);
    let fed = std::thread::scope(|scope| {
        let (to_merge, done) = mpsc::channel::<ChunkRead>();
        for _ in 1..options.threads {
            let (to_merge, job, next) = (to_merge.clone(), &job, &next);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count || job.cancel.load(Ordering::Relaxed) {
                    break;
                }
                if to_merge.send(job.read_chunk(k, None)).is_err() {
                    break;
                }
            });
        }
        drop(to_merge);
        let merged = (|| -> Result<Option<Feeder>> {
            let mut chunks = Chunks::new(&setup);
            for (line, chunk, record) in &sample {
                chunks.feed(record, *line, *chunk)?;
            }
            let mut n = sample.len() as u64;
            let mut report = |bytes: u64, n: u64| {
                let read = (bytes + job.read.load(Ordering::Relaxed)).min(size);
                progress(read, n + job.rows.load(Ordering::Relaxed))
            };
            let mut buf = Record::default();
            while let Some(line) = rows.next_bytes(&mut buf)? {
                chunks.feed(&buf, line, rows.chunk())?;
                n += 1;
                if n.is_multiple_of(PROGRESS_ROWS) && !report(opened.bytes.get(), n) {
                    return Err(Error::Cancelled);
                }
            }
            chunks.close();
            // merge the other chunks in file order, each checked to start where the one
            // before it ended
            let (mut expected, mut line_base) = rows.position();
            let mut pending: BTreeMap<u64, ChunkRead> = BTreeMap::new();
            for k in last_sampled + 1..count {
                let got = loop {
                    if let Some(got) = pending.remove(&k) {
                        break got;
                    }
                    // help with the chunks not taken yet, then wait for the others
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    if j < count {
                        pending.insert(j, job.read_chunk(j, None));
                        continue;
                    }
                    match done.recv_timeout(Duration::from_millis(100)) {
                        Ok(got) => {
                            pending.insert(got.index, got);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if !report(opened.bytes.get(), n) {
                                return Err(Error::Cancelled);
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            // a reader thread stopped without its chunk (it panicked): read it here
                            break job.read_chunk(k, None);
                        }
                    }
                };
                let got = if got.start == expected { got } else { job.read_chunk(k, Some(expected)) };
                let fed = got.fed.map_err(|e| e.shift_lines(line_base))?;
                n += fed.row;
                if fed.row > 0 {
                    chunks.add(fed, line_base);
                }
                line_base += got.lines;
                expected = got.end;
                if !report(opened.bytes.get(), n) {
                    return Err(Error::Cancelled);
                }
            }
            Ok(chunks.finish())
        })();
        job.cancel.store(true, Ordering::Relaxed);
        merged
    })?;
    finish(path, &plan, fed, Source { file: path.to_string(), format, bytes: size }).map(|(report, _)| report)
}

/// What every reader thread shares.
struct Job<'a, 'p> {
    path: &'a str,
    header: Vec<String>,
    dialect: Dialect,
    chunk_bytes: u64,
    size: u64,
    setup: &'a Setup<'p>,
    /// Bytes read and rows fed by the chunk readers, for progress.
    read: AtomicU64,
    rows: AtomicU64,
    cancel: AtomicBool,
}

/// One chunk as read: where it started and ended, the physical lines in it, and its
/// accumulators (or the first error in it, lines counted from its start).
struct ChunkRead<'p> {
    index: u64,
    start: u64,
    end: u64,
    lines: u64,
    fed: Result<Feeder<'p>>,
}

impl<'p> Job<'_, 'p> {
    /// Read chunk `k` from `start`, or from the first line start at or after its nominal
    /// offset.
    fn read_chunk(&self, k: u64, start: Option<u64>) -> ChunkRead<'p> {
        let mut out = ChunkRead { index: k, start: 0, end: 0, lines: 0, fed: Err(Error::Cancelled) };
        let result = (|| -> Result<Feeder<'p>> {
            let mut file = File::open(self.path).map_err(|e| io_error(self.path, e))?;
            out.start = match start {
                Some(at) => at,
                None => self.line_start_after(&mut file, k * self.chunk_bytes)?,
            };
            out.end = out.start;
            file.seek(SeekFrom::Start(out.start)).map_err(|e| io_error(self.path, e))?;
            let source = Counted { file, read: &self.read };
            let mut records =
                Records::resume(self.path, source, self.header.clone(), self.dialect, out.start, self.chunk_bytes, k);
            let mut feeder = self.setup.feeder(k);
            let mut record = Record::default();
            let result = (|| {
                while let Some(line) = records.next_bytes(&mut record)? {
                    feeder.feed(&record, line)?;
                    if feeder.row.is_multiple_of(PROGRESS_ROWS) {
                        self.rows.fetch_add(PROGRESS_ROWS, Ordering::Relaxed);
                        if self.cancel.load(Ordering::Relaxed) {
                            return Err(Error::Cancelled);
                        }
                    }
                }
                Ok(())
            })();
            (out.end, out.lines) = records.position();
            result.map(|()| feeder)
        })();
        out.fed = result;
        out
    }

    /// The offset right after the first `\n` at or after `at - 1` (the end of the file when
    /// there is none): a chunk's guessed start.
    fn line_start_after(&self, file: &mut File, at: u64) -> Result<u64> {
        if at == 0 {
            return Ok(0);
        }
        file.seek(SeekFrom::Start(at - 1)).map_err(|e| io_error(self.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut pos = at - 1;
        loop {
            let buf = reader.fill_buf().map_err(|e| io_error(self.path, e))?;
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

/// A file that counts the bytes read from it, for progress.
struct Counted<'a> {
    file: File,
    read: &'a AtomicU64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn io_error(file: &str, e: std::io::Error) -> Error {
    Error::Io { file: file.to_string(), message: e.to_string() }
}
