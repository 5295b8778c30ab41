//! Native: one uncompressed delimited file read by several threads, with the same report as
//! one thread. This thread reads the header, the sample and the rest of the sample's chunk;
//! the other threads (and this one, when it would wait) read the other chunks from their
//! guessed starts, and this thread merges them in file order ([`split`](super::split)).

use super::split::{self, ChunkRead, Merge, Splitter};
use super::{Options, Progress, Report};
use crate::data::{self, ColumnSpec};
use crate::error::{Error, Result};
use crate::metrics::SketchWork;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Evaluate the file at `path` with `options.threads` threads when it is uncompressed
/// delimited text of at least two chunks; otherwise as [`super::evaluate_with`] does. The
/// report is the same whatever the number of threads. A size hint that misjudged the file
/// ([`Error::Misprojected`]) costs a second read without it.
pub fn evaluate_path(path: &str, spec: &ColumnSpec, options: &Options, progress: Progress) -> Result<Report> {
    super::retry_without_hint(options, |options| evaluate_path_once(path, spec, options, &mut *progress))
}

fn evaluate_path_once(path: &str, spec: &ColumnSpec, options: &Options, progress: Progress) -> Result<Report> {
    let open = || File::open(path).map_err(|e| io_error(path, e));
    let size = open()?.metadata().map_err(|e| io_error(path, e))?.len();
    // (open_file: a Parquet file is read by row groups, on this thread)
    let opened = data::open_file(path, open()?)?;
    if options.threads <= 1 || !split::splittable(&opened, size, options) {
        return super::evaluate_opened(path, opened, spec, options, progress);
    }
    let format = opened.format_name();
    let mut rows = opened.rows;
    let (mut sp, sample) = Splitter::new(path, rows.as_mut(), spec, options, size)?;
    // past the score budget, the merge's sketching goes here for every thread to share
    let work = Arc::new(SketchWork::new(options.threads));
    sp.setup.work = Some(work.clone());
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
            let (to_merge, sp, src, next, tick, cancel, work) =
                (to_merge.clone(), &sp, &src, &next, &tick, &cancel, &work);
            // sketching first (what it holds is freed), then the next chunk, then wait for
            // sketching until the merge is done
            scope.spawn(move || {
                while !cancel.load(Ordering::Relaxed) {
                    if work.run_one() {
                        continue;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k < sp.count {
                        if to_merge.send(sp.read_chunk(src, k, None, &mut |n| tick(n))).is_err() {
                            break;
                        }
                        continue;
                    }
                    if !work.wait(Duration::from_millis(100)) {
                        break;
                    }
                }
            });
        }
        drop(to_merge);
        // however the merge ends, the others stop waiting for sketching
        let _closing = Closing(&work);
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
                if merge.has(merge.next()) || work.run_one() {
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
        if merged.is_ok() {
            // the sketching left, shared with the others (every chunk is in: none reads on)
            work.close();
            while work.run_one() {}
        } else {
            cancel.store(true, Ordering::Relaxed);
        }
        merged
    })?;
    // every row read and binned (as one thread's last call, before the report's sorts and
    // curves): the CLI's bar and the bench's read time end here, not at the last merge's start
    progress(size, merged.rows());
    merged.finish(&sp, format)
}

/// Closes the sketching work when dropped (the merge ended or failed).
struct Closing<'a>(&'a SketchWork);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
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
