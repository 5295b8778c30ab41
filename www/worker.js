// All heavy work runs here, off the UI thread: parsing and metrics happen in the wasm core.
// (Plots are drawn on the main thread: plotters measures text with the DOM.) Messages in: {id, kind, file, data?, options},
// kind one of evaluate | labels (file + its labels file `data`) | compare | columns | run | inspect | version | warm (fetch the helpers' script, to be cached for offline)
// (inspect/run also take `external`: {file name: File}, a model's external-data files; a File
// crosses to the worker as a handle and is read here, so the page never holds the bytes). Messages out: {id, type:
// 'progress'|'result'|'error', ...}. Cancelling is done by the page terminating this worker (and
// with it the helper workers that read a big file's chunks: split.js).
import init, { StreamEvaluation, evaluateStream, evaluateWithLabels, compareStreams, detectColumns, inspectModel, runModel, runModelOn, version } from './pkg/webeval.js';
import { coreWasmUrl } from './core.js';
import { isParquet, parquetColumns, parquetStream, asParquet, streamOf } from './parquet.js';
import { isImageZip, imageDecoder } from './images.js';
import { chunks, evaluateSplit, readerCount, readerUrl } from './split.js';

/** Bytes read for column detection: the header and a few rows, even gzip-compressed. */
const HEAD = 1 << 18;

/** The core compiled once: this worker's instance, and those of the helpers that read a big
 * file's chunks (a WebAssembly.Module crosses to them, so they compile nothing). */
const compiled = fetch(coreWasmUrl).then((res) => {
  if (!res.ok) throw new Error(`failed to fetch the wasm core: HTTP ${res.status}`);
  return res.headers.get('content-type')?.startsWith('application/wasm')
    ? WebAssembly.compileStreaming(res)
    : res.arrayBuffer().then((b) => WebAssembly.compile(b));
});
const ready = compiled.then((module) => init({ module_or_path: module }));
let exports;
/** The wasm memory of the helpers reading the current file, together (their peak). */
let helperMemory = 0;
// The wasm instances' linear memory in bytes. It only grows, so the size sent with a result is
// the peak of the work so far: the page shows it, and tests check it stays bounded.
const memoryBytes = () => (exports?.memory?.buffer?.byteLength ?? 0) + helperMemory;
const send = (msg) => self.postMessage({ ...msg, memory: memoryBytes() });

/** Bytes of a File (read here, in the worker) or of an ArrayBuffer/typed array sent over. */
function bytesOf(f) {
  if (f instanceof Blob) return new Uint8Array(new FileReaderSync().readAsArrayBuffer(f));
  return f instanceof ArrayBuffer ? new Uint8Array(f) : new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** What the core's error says when a size hint misjudged the file (`Error::Misprojected`). */
const MISPROJECTED = 'read it again without a size hint';

/** `file` pushed into `evaluation` (a StreamEvaluation) as the browser reads it: the browser
 * reads ahead while the core works on what came. Returns the report's JSON text. */
async function pushed(file, evaluation) {
  try {
    const reader = file.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      evaluation.push(value);
    }
    return evaluation.finish();
  } finally {
    evaluation.free();
  }
}

/** External-data companions {name: File|ArrayBuffer} → {name: Uint8Array}, or undefined. */
function externalBytes(ext) {
  const names = Object.keys(ext ?? {});
  if (!names.length) return undefined;
  return Object.fromEntries(names.map((n) => [n, bytesOf(ext[n])]));
}

self.onmessage = async (event) => {
  const { id, kind, file, data, options } = event.data;
  helperMemory = 0; // (the page keeps the peak it was sent)
  try {
    exports = await ready;
    if (kind === 'version') {
      send({ id, type: 'result', result: version() });
      return;
    }
    if (kind === 'warm') {
      // scripts this worker loads only later, fetched now so the service worker caches them
      await (await fetch(readerUrl)).arrayBuffer();
      send({ id, type: 'result', result: true });
      return;
    }
    if (kind === 'columns' && isParquet(file)) {
      send({ id, type: 'result', result: await parquetColumns(file, options ?? {}) });
      return;
    }
    if (kind === 'columns') {
      const head = new Uint8Array(new FileReaderSync().readAsArrayBuffer(file.slice(0, HEAD)));
      send({ id, type: 'result', result: detectColumns(file.name, head, options ?? {}) });
      return;
    }
    if (kind === 'run') {
      send({ id, type: 'progress', phase: `running ${file.name} on ${data.name}`, done: 0, total: 0 });
      const reader = new FileReaderSync();
      const model = bytesOf(file);
      const rows = new Uint8Array(reader.readAsArrayBuffer(data));
      const ext = externalBytes(event.data.external);
      const opts = { ...options, dataName: data.name, modelName: file.name };
      const images = isImageZip(data.name) ? await imageDecoder(data.name, rows) : undefined;
      // A device choice goes through the async entry point (WebGPU readbacks are promises).
      const result = opts.device
        ? await runModelOn(model, rows, opts, ext, images)
        : runModel(model, rows, opts, ext, images);
      send({ id, type: 'result', result });
      return;
    }
    if (kind === 'inspect') {
      const ext = event.data.external ?? {};
      const total = file.size + Object.values(ext).reduce((n, f) => n + (f.size ?? f.byteLength ?? 0), 0);
      send({ id, type: 'progress', phase: 'reading the model', done: 0, total });
      const bytes = bytesOf(file);
      const external = externalBytes(ext);
      send({ id, type: 'progress', phase: 'inspecting the model', done: total, total });
      send({ id, type: 'result', result: inspectModel(bytes, { ...options, file_name: file.name }, external) });
      return;
    }
    if (kind === 'compare') {
      // Both files stream; progress runs through A's bytes, then B's.
      const total = file.size + data.size;
      // The core counts each file's bytes from 0: once the count drops, B has started.
      let second = false, last = 0;
      const progress = (done, rows) => {
        if (done < last) second = true;
        last = done;
        const at = second ? file.size + done : done;
        send({ id, type: 'progress', phase: second ? `reading ${data.name}` : `reading ${file.name}`, done: Math.min(total, at), rows, total });
        return true;
      };
      const [a, b] = [await streamOf(file, options ?? {}, chunks), await streamOf(data, options ?? {}, chunks)];
      try {
        send({ id, type: 'result', result: a.wrap(b.wrap(compareStreams(file.name, a.read, data.name, b.read, options ?? {}, progress))) });
      } finally {
        a.done();
        b.done();
      }
      return;
    }
    if (kind === 'labels') {
      // Predictions (`file`) and a separate labels file (`data`); progress runs through the predictions.
      const progress = (done, rows) => {
        send({ id, type: 'progress', phase: `evaluating with labels from ${data.name}`, done, rows, total: file.size });
        return true;
      };
      // Roles are resolved on both files' columns together: a Parquet file here decodes all of its own.
      const [p, l] = [await streamOf(file, null, chunks), await streamOf(data, null, chunks, true)];
      try {
        send({ id, type: 'result', result: p.wrap(l.wrap(evaluateWithLabels(file.name, p.read, data.name, l.read, options ?? {}, progress))) });
      } finally {
        p.done();
        l.done();
      }
      return;
    }
    if (kind !== 'evaluate') throw new Error(`unknown request '${kind}'`);
    const total = file.size;
    send({ id, type: 'progress', phase: 'reading', done: 0, total });
    if (isParquet(file)) {
      // Row groups decoded by the Parquet module, handed over as CSV text; progress in file bytes.
      const pq = await parquetStream(file, options ?? {});
      const progress = (_, rows) => {
        send({ id, type: 'progress', phase: 'evaluating', done: pq.position(), rows, total });
        return true;
      };
      try {
        send({ id, type: 'result', result: asParquet(evaluateStream(file.name, pq.read, options ?? {}, progress), file) });
      } finally {
        pq.done();
      }
      return;
    }
    // A big delimited file is read in parts by several workers (split.js); otherwise the file
    // streams through the core as the browser reads it. Either way memory does not grow with
    // its size; its size lets the stored scores reserve their room once.
    const progress = (done, rows, workers = 1) => {
      send({ id, type: 'progress', phase: 'evaluating', done, rows, total, workers });
      return true;
    };
    const { workers, ...rest } = options ?? {};
    const evaluate = async (opts) => {
      const split = await evaluateSplit(file, opts, readerCount(workers), {
        module: await compiled, progress, memory: (bytes) => { helperMemory = Math.max(helperMemory, bytes); },
      });
      return split ?? (await pushed(file, new StreamEvaluation(file.name, chunks(file), opts, progress)));
    };
    let result;
    try {
      result = await evaluate({ ...rest, sizeHint: total });
    } catch (err) {
      // a file whose size said its scores would pass the score budget, and whose rows then
      // did not (the core binned them from the first chunk on): read again without the hint
      if (!String(err?.message ?? err).includes(MISPROJECTED)) throw err;
      result = await evaluate(rest);
    }
    send({ id, type: 'result', result });
  } catch (err) {
    send({ id, type: 'error', message: String(err?.message ?? err) });
  }
};
