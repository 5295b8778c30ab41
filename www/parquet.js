// Parquet in the worker: the second wasm module (pkg/webeval_parquet*), loaded on the first
// file that starts with PAR1, so pages that never see one never fetch it. It reads the File
// by ranges (the footer from the end, then each row group's column chunks: never the whole
// file) and turns rows into CSV text, which the main module's evaluateStream / detectColumns
// read like any CSV: the same column detection, mapping, missing-value policy and report.
import { detectColumns } from './pkg/webeval.js';

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1
/** CSV text handed to the main module per read() call. */
const CHUNK = 1 << 20;
/** CSV text decoded for the mapping panel's first rows. */
const HEAD = 1 << 16;

let loaded;
const load = () => {
  loaded ??= import('./pkg/webeval_parquet.js').then(async (m) => {
    await m.default({ module_or_path: new URL('./pkg/webeval_parquet_bg.wasm', import.meta.url) });
    return m;
  });
  return loaded;
};

/** True when `file` (a File/Blob) starts with the Parquet magic. */
export function isParquet(file) {
  if (!(file instanceof Blob) || file.size < 12) return false;
  const head = new Uint8Array(new FileReaderSync().readAsArrayBuffer(file.slice(0, 4)));
  return MAGIC.every((b, i) => head[i] === b);
}

/** Open `file` (its footer is read); free() the result when done. */
async function open(file) {
  const { ParquetFile } = await load();
  const reader = new FileReaderSync();
  const read = (start, length) => new Uint8Array(reader.readAsArrayBuffer(file.slice(start, start + length)));
  return new ParquetFile(file.name, file.size, read);
}

/** The report (or detected columns) says what the file was: the main module saw CSV text.
 * `labels`: the file is the separate labels file ("csv, labels: csv"). */
export function asParquet(json, file, labels = false) {
  const value = JSON.parse(json);
  for (const part of [value, value.a, value.b]) {
    const source = part?.source ?? (part?.columns ? part : null); // a report, or detected columns
    if (!source || (!labels && source.file !== file.name)) continue;
    if (labels) source.format = source.format.replace(/labels: csv$/, 'labels: parquet');
    else if (source.format === 'csv') Object.assign(source, { format: 'parquet' }, part.source ? { bytes: file.size } : {});
    else source.format = source.format.replace(/^csv/, 'parquet');
  }
  return JSON.stringify(value);
}

/** detectColumns for a Parquet file: its header and first rows. */
export async function parquetColumns(file, options) {
  const pq = await open(file);
  try {
    return asParquet(detectColumns(file.name, pq.text(HEAD), options), file);
  } finally {
    pq.free();
  }
}

/**
 * A stream of `file` for the main module: `{ read, position, done }`. With `options`, the
 * columns detection (or the page's mapping) gives roles to are the only ones decoded, and one
 * that cannot be read (a nested list, a timestamp) is refused here, by name and type.
 */
export async function parquetStream(file, options) {
  const pq = await open(file);
  try {
    if (options) {
      const detected = JSON.parse(detectColumns(file.name, pq.header(), options));
      // Detection's own error is the main module's to report, with the same words.
      if (!detected.error) pq.select(detected.columns.filter((c) => c.role).map((c) => c.name));
    }
  } catch (err) {
    pq.free();
    throw err;
  }
  return {
    read: () => {
      const text = pq.text(CHUNK);
      return text.length ? text : null;
    },
    position: () => pq.position(),
    done: () => pq.free(),
  };
}

/** `file`'s read() for the main module whatever its format: Parquet as in parquetStream, any
 * other file by `chunks(file)`; `wrap` marks a Parquet file's report, `done` frees it. */
export async function streamOf(file, options, chunks, labels = false) {
  if (!isParquet(file)) return { read: chunks(file), done() {}, wrap: (json) => json };
  const stream = await parquetStream(file, options);
  return { ...stream, wrap: (json) => asParquet(json, file, labels) };
}
