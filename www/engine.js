// The page's handle on the worker: promise-based requests, progress callbacks, and cancel
// (which terminates the worker so even a long computation stops at once).
export class Engine {
  constructor() {
    this.nextId = 1;
    this.pending = new Map();
    this.spawn();
  }

  spawn() {
    this.memoryBytes = 0; // peak wasm memory of this worker (its instance never shrinks)
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (event) => {
      const msg = event.data;
      if (msg.memory) this.memoryBytes = Math.max(this.memoryBytes ?? 0, msg.memory);
      const req = this.pending.get(msg.id);
      if (!req) return;
      if (msg.type === 'progress') {
        req.onProgress?.(msg);
        return;
      }
      this.pending.delete(msg.id);
      if (msg.type === 'result') req.resolve(msg.result);
      else req.reject(new Error(msg.message));
    };
    this.worker.onerror = (event) => {
      const err = new Error(`the evaluation engine failed: ${event.message ?? 'unknown error'}`);
      for (const req of this.pending.values()) req.reject(err);
      this.pending.clear();
    };
  }

  request(message, onProgress, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }

  evaluate(file, options, onProgress) {
    return this.request({ kind: 'evaluate', file, options }, onProgress);
  }

  /** Predictions and their true labels in a separate file (by row, or joined on options.id). */
  withLabels(predictions, labels, options, onProgress) {
    return this.request({ kind: 'labels', file: predictions, data: labels, options }, onProgress);
  }

  /** The columns of a predictions file as detected from its first bytes (detectColumns' JSON). */
  columns(file, options) {
    return this.request({ kind: 'columns', file, options });
  }

  /** Two predictions files: both reports and the paired test (compareStreams' JSON). */
  compare(a, b, options, onProgress) {
    return this.request({ kind: 'compare', file: a, data: b, options }, onProgress);
  }

  /** `external`: {file name: File} of the model's external-data files. */
  run(model, data, options, onProgress, { external } = {}) {
    return this.request({ kind: 'run', file: model, data, options, external }, onProgress);
  }

  /** The model card (inspectModel's JSON text). `external`: {file name: File | ArrayBuffer} of
   * external-data files; Files cross as handles (the worker reads them), ArrayBuffers are
   * transferred, so nothing is copied on this thread. `options`: {batch, dims, input_shapes}. */
  inspect(file, onProgress, { external = {}, options = {} } = {}) {
    const transfer = Object.values(external).filter((v) => v instanceof ArrayBuffer);
    return this.request({ kind: 'inspect', file, external, options }, onProgress, transfer);
  }

  version() {
    return this.request({ kind: 'version' });
  }

  /** Once the service worker controls the page: the worker fetches the scripts it loads only
   * later (the helpers that read a big file's chunks), so that they are cached for offline. */
  warm() {
    return this.request({ kind: 'warm' });
  }

  /** A fresh worker (nothing pending). */
  restart() {
    this.worker.terminate();
    this.spawn();
  }

  cancel() {
    this.worker.terminate();
    const err = new Error('cancelled');
    err.cancelled = true;
    for (const req of this.pending.values()) req.reject(err);
    this.pending.clear();
    this.spawn();
  }
}
