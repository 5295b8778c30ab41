// One big delimited file read by several Web Workers: this worker (worker.js) merges, helper
// workers (reader.js) read chunks. Workers share no memory, so each helper opens the file itself
// (a File crosses as a handle), rebuilds the plan from its head, and sends each chunk's state
// back as bytes, its buffer transferred; this worker merges the chunks in file order and reads
// one itself whenever the next in order is not in yet, as the native threads do
// (src/report/parallel.rs). The report is byte for byte the one-worker report.
import { SplitRead } from './pkg/webeval.js';
// The helpers' script, bundled as a module worker; exported so that worker.js can fetch it once
// through the service worker (offline, a big file is then still read by several workers).
import readerUrl from './reader.js?worker&url';

export { readerUrl };

// 4 MiB: a dropped file comes pushed from `File.stream()` (worker.js); FileReaderSync reads only
// what the core needs before it is pushed, the chunks of a file read in parts, and the files of
// the other requests. Each such read is a round trip to the browser's file reader: a 1 GB file
// took 4.5 s in 1 MiB slices, 3.0 s in 4 MiB ones (Chromium, 2026-11-30); the core copies each
// slice once.
const SLICE = 4 << 20;

/** A read(at) for the core: the file's 4 MiB slice from offset `at`, null at the end (the
 * file is never held whole). */
export function chunks(f) {
  const reader = new FileReaderSync();
  return (at) => {
    if (at >= f.size) return null;
    return new Uint8Array(reader.readAsArrayBuffer(f.slice(at, at + SLICE)));
  };
}

/** After a jump (a reader opened at a chunk's guessed start) the first answer is this small:
 * finding the line start needs little, and the chunk's reader then continues at full slices. */
const JUMP = 64 << 10;
/** Bytes read ahead past a chunk's nominal end: its last line ends there (a longer one is read
 * on by FileReaderSync). 1 MiB was 3% of the file read twice. */
const MARGIN = 64 << 10;

/**
 * The reads of a file read in parts: read(at) for the core, from chunks' bytes fetched ahead
 * (`fetch(k)`, Blob.arrayBuffer(): the browser reads them while the core works, where
 * FileReaderSync blocks the worker for each slice, ~35% of a helper's time), else by
 * FileReaderSync. Answers are views of the fetched bytes (the core copies them once). Set
 * `chunkBytes` before fetching.
 */
export function chunkReads(file) {
  const direct = new FileReaderSync();
  const ranges = new Map(); // chunk -> {lo, hi, bytes, ready}
  let next = -1; // where the last answer ended
  const read = (at) => {
    if (at >= file.size) return null;
    const end = at + (at === next ? SLICE : JUMP);
    for (const r of ranges.values()) {
      if (r.bytes && at >= r.lo && at < r.hi) {
        next = Math.min(end, r.hi);
        return r.bytes.subarray(at - r.lo, next - r.lo);
      }
    }
    const out = new Uint8Array(direct.readAsArrayBuffer(file.slice(at, end)));
    next = at + out.length;
    return out;
  };
  return {
    read,
    /** Set once the core has opened the file. */
    chunkBytes: 0,
    /** Start reading chunk k's bytes (from just before its nominal start, where its line
     * start is looked for, to a little past its nominal end). */
    fetch(k) {
      if (ranges.has(k)) return;
      const lo = Math.max(0, k * this.chunkBytes - 1);
      const hi = Math.min(file.size, (k + 1) * this.chunkBytes + MARGIN);
      const r = { lo, hi, bytes: null };
      r.ready = file.slice(lo, hi).arrayBuffer().then((b) => { r.bytes = new Uint8Array(b); }, () => {});
      ranges.set(k, r);
    },
    /** Resolves once chunk k's bytes are in (or failed: then FileReaderSync reads them). */
    ready: (k) => ranges.get(k)?.ready,
    drop: (k) => ranges.delete(k),
  };
}

/** Readers at most, this worker included: past a few, the one merging worker is the limit,
 * and each helper holds its own wasm memory. */
const MAX_READERS = 8;
/** Chunks handed to a helper ahead (one it reads, the next one's bytes coming, one more), so
 * that it does not idle while this worker reads a chunk and its result waits to be seen. */
const AHEAD = 3;

/** How many workers read one file: `forced` (the `workers` option: tests, benches), else one
 * per core, at most MAX_READERS. */
export function readerCount(forced) {
  if (forced !== undefined && forced !== null) {
    const n = Number(forced);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad option workers: ${forced} (a whole number, at least 1)`);
    return n;
  }
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_READERS));
}

/** A macrotask's pause: the helpers' messages that came meanwhile are taken in. */
export function pause() {
  const ch = new MessageChannel();
  return new Promise((resolve) => {
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

/**
 * Evaluate `file` with `readers` workers (this one and readers - 1 helpers). Resolves to the
 * report's JSON text, or null when the file is not read in parts (gzip, not delimited text,
 * under two chunks, or one reader): read it in one piece then. `module`: the compiled wasm
 * (WebAssembly.Module) the helpers instantiate; `progress(bytes, rows, readers)`; `memory(bytes)`:
 * the helpers' wasm memory together, as it grows.
 */
export async function evaluateSplit(file, options, readers, { module, progress, memory }) {
  if (readers < 2) return null;
  const reads = chunkReads(file);
  const merge = SplitRead.open(file.name, reads.read, options, file.size);
  if (!merge) return null;
  reads.chunkBytes = merge.chunkBytes;
  const helpers = [];
  let merging = merge;
  try {
    const { first, count } = merge;
    let next = first; // the next chunk no worker was given
    const inbox = [];
    let wake = null;
    const arrived = (msg) => {
      inbox.push(msg);
      wake?.();
      wake = null;
    };
    const give = (h) => {
      while (!h.failed && h.given.size < AHEAD && next < count) {
        h.given.add(next);
        h.worker.postMessage({ chunk: next++ });
      }
    };
    for (let i = 0; i < Math.min(readers - 1, count - first); i++) {
      const h = { worker: new Worker(readerUrl, { type: 'module' }), given: new Set(), memory: 0, failed: false };
      h.worker.onmessage = (e) => arrived({ h, ...e.data });
      h.worker.onerror = (e) => {
        e.preventDefault();
        arrived({ h, error: e.message || 'the reader worker failed' });
      };
      h.worker.postMessage({ open: { module, file, options } });
      helpers.push(h);
      give(h);
    }
    // the next chunk this worker reads itself, kept for it so that its bytes come meanwhile
    const take = () => {
      if (next >= count) return -1;
      reads.fetch(next);
      return next++;
    };
    let mine = take();
    const workers = 1 + helpers.length;
    merge.readStart((done, rows) => progress(done, rows, workers));
    // once the merge bins the scores, a helper's chunks need only f32 scores: half the bytes
    let binning = false;
    const bins = () => {
      if (binning || !merge.bins) return;
      binning = true;
      for (const h of helpers) h.worker.postMessage({ binsOnly: true });
    };
    bins();
    const own = []; // chunks of a failed helper, read here
    const have = new Set(); // chunks offered or read here
    let merged = first; // chunks before this one are merged
    for (;;) {
      await pause();
      while (inbox.length) {
        const { h, chunk, bytes, error, memory: m } = inbox.shift();
        if (h.failed) continue;
        if (m) {
          h.memory = Math.max(h.memory, m);
          memory(helpers.reduce((sum, x) => sum + x.memory, 0));
        }
        if (bytes) {
          merge.offer(bytes);
          // its buffer back, for the helper's next chunks (a fresh one faults in page by page)
          h.worker.postMessage({ spare: bytes.buffer }, [bytes.buffer]);
          h.given.delete(chunk);
          have.add(chunk);
          give(h);
        } else if (error) {
          // Its chunks are read here: a bad row's error then comes, in order, from the merge.
          h.failed = true;
          h.worker.terminate();
          own.push(...h.given);
          h.given.clear();
        }
      }
      if (merge.advance()) break;
      bins();
      while (have.has(merged)) merged++;
      progress(Math.floor((file.size * merged) / count), merge.rows, workers);
      own.sort((a, b) => a - b);
      const k = own.shift() ?? mine;
      if (k === mine) mine = take();
      if (k >= 0) {
        await reads.ready(k);
        merge.readChunk(k);
        reads.drop(k);
        have.add(k);
      } else if (!inbox.length) {
        await new Promise((resolve) => { wake = resolve; });
      }
    }
    progress(file.size, merge.rows, workers);
    merging = null;
    return merge.finish();
  } finally {
    for (const h of helpers) h.worker.terminate();
    merging?.free();
  }
}
