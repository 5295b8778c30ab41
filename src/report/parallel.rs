//! Native: one uncompressed delimited file read by several threads, with the same report as
//! one thread. This thread reads the header, the sample and the rest of the sample's chunk;
//! the other threads (and this one, when it would wait) read the other chunks from their
//! guessed starts, and this thread merges them in file order ([`split`](super::split)).

use super::split::{self, ChunkRead, Merge, Splitter};
use super::{Options, Progress, Report};
use crate::data::{self, ColumnSpec};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Evaluate the file at `path` with `options.threads` threads when it is uncompressed
/// delimited text of at least two chunks; otherwise as [`super::evaluate_with`] does. The
/// report is the same whatever the number of threads.
pub fn evaluate_path(path: &str, spec: &ColumnSpec, options: &Options, progress: Progress) -> Result<Report> {
    let open = || File::open(path).map_err(|e| io_error(path, e));
    let size = open()?.metadata().map_err(|e| io_error(path, e))?.len();
    // (open_file: a Parquet file is read by row groups, on this thread)
    let opened = data::open_file(path, open()?)?;
    if options.threads <= 1 || !split::splittable(&opened, size, options) {
        return super::evaluate_opened(path, opened, spec, options, progress);
    }
    let format = opened.format_name();
    let mut rows = opened.rows;
    let (sp, sample) = Splitter::new(path, rows.as_mut(), spec, options, size)?;
    let src = FileSource { path, read: AtomicU64::new(0) };
    let (fed_rows, cancel) = (AtomicU64::new(0), AtomicBool::new(false));
    let next = AtomicU64::new(sp.first);
    let tick = |n: u64| {
        fed_rows.fetch_add(n, Ordering::Relaxed);
        !cancel.load(Ordering::Relaxed)
    };
    let merged = std::thread::scope(|scope| {
        let (to_merge, done) = mpsc::channel::<ChunkRead>();
        for _ in 1..options.threads {
            let (to_merge, sp, src, next, tick, cancel) = (to_merge.clone(), &sp, &src, &next, &tick, &cancel);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= sp.count || cancel.load(Ordering::Relaxed) {
                    break;
                }
                if to_merge.send(sp.read_chunk(src, k, None, &mut |n| tick(n))).is_err() {
                    break;
                }
            });
        }
        drop(to_merge);
        let merged = (|| -> Result<Merge> {
            let mut report = |bytes: u64, n: u64| {
                let read = (bytes + src.read.load(Ordering::Relaxed)).min(size);
                progress(read, n + fed_rows.load(Ordering::Relaxed))
            };
            let mut merge = Merge::start(&sp, rows.as_mut(), sample, &opened.bytes, &mut report)?;
            loop {
                if merge.advance(&sp, &src, &mut |n| tick(n))? {
                    return Ok(merge);
                }
                if !report(opened.bytes.get(), merge.rows()) {
                    return Err(Error::Cancelled);
                }
                // take what the others read so far, so that merging goes on between this
                // thread's own chunks (not all at the end, every chunk's state held till then)
                while let Ok(got) = done.try_recv() {
                    merge.offer(got);
                }
                if merge.has(merge.next()) {
                    continue;
                }
                // help with the chunks not taken yet, then wait for the others
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j < sp.count {
                    merge.offer(sp.read_chunk(&src, j, None, &mut |n| tick(n)));
                    continue;
                }
                match done.recv_timeout(Duration::from_millis(100)) {
                    Ok(got) => merge.offer(got),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        // a reader thread stopped without its chunk (it panicked): read it here
                        let k = merge.next();
                        merge.offer(sp.read_chunk(&src, k, None, &mut |n| tick(n)));
                    }
                }
            }
        })();
        cancel.store(true, Ordering::Relaxed);
        merged
    })?;
    merged.finish(&sp, format)
}

/// The file by offset, counting the bytes read for progress.
struct FileSource<'a> {
    path: &'a str,
    read: AtomicU64,
}

impl split::Source for FileSource<'_> {
    fn open_at(&self, at: u64) -> Result<Box<dyn Read + '_>> {
        let mut file = File::open(self.path).map_err(|e| io_error(self.path, e))?;
        file.seek(SeekFrom::Start(at)).map_err(|e| io_error(self.path, e))?;
        Ok(Box::new(Counted { file, read: &self.read }))
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
