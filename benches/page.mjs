// Browser side of the benchmark. Each function runs one case and returns plain numbers; the
// runner opens a fresh page per case so wasm memory sizes belong to that case alone.
import init, { evaluateArrays } from '../www/pkg/webeval.js';
import { Engine } from '../www/engine.js';
import { generate } from './data.mjs';

const now = () => performance.now();

/** The full report (metrics + curves + CI) of generated predictions, in-memory arrays. */
window.benchMetrics = async (rows, classes, replicates) => {
  const wasm = await init();
  const { truth, scores, width } = generate(rows, classes);
  const memBefore = wasm.memory.buffer.byteLength;
  const options = replicates > 0 ? { ci: 0.95, ciReplicates: replicates } : {};
  const t = now();
  const json = evaluateArrays(truth, scores, width, options);
  const seconds = (now() - t) / 1000;
  const report = JSON.parse(json);
  return { seconds, wasm_memory_bytes: wasm.memory.buffer.byteLength, wasm_memory_before_bytes: memBefore, report_bytes: json.length, metrics: report.metrics };
};

/** The page's own path for a dropped file: the worker streams it through evaluateStream. */
window.benchIngest = async () => {
  const file = document.getElementById('file').files[0];
  const engine = new Engine();
  await engine.version(); // wasm ready: time the file, not the start-up
  const t = now();
  const json = await engine.evaluate(file, {});
  const seconds = (now() - t) / 1000;
  engine.worker.terminate();
  const report = JSON.parse(json);
  return { seconds, bytes: file.size, rows: report.n, accuracy: report.metrics.accuracy_score };
};
