// Browser side of the benchmark. Each function runs one case and returns plain numbers; the
// runner opens a fresh page per case so wasm memory sizes belong to that case alone.
import initWasm, { evaluateArrays, ModelSession, gemmGflops, simdPeakGflops } from '../www/pkg/webeval.js';
import { Engine } from '../www/engine.js';
import { coreWasmUrl, relaxedSimd } from '../www/core.js';
import { generate } from './data.mjs';

const now = () => performance.now();
// The same build of the core as the page's worker picks (see www/core.js).
const init = () => initWasm({ module_or_path: coreWasmUrl });

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
  let lastProgress = 0;
  const t = now();
  // The worker's last progress message comes when the last byte has been parsed and fed to
  // the accumulators: before it is reading, after it is the report (sorts, curves).
  const json = await engine.evaluate(file, {}, (msg) => { if (msg.done >= file.size) lastProgress = now(); });
  const seconds = (now() - t) / 1000;
  const memory = engine.memoryBytes;
  engine.worker.terminate();
  const report = JSON.parse(json);
  return { seconds, read_seconds: lastProgress ? (lastProgress - t) / 1000 : null, wasm_memory_bytes: memory, bytes: file.size, rows: report.n, accuracy: report.metrics.accuracy_score };
};

// ---- inference: webeval's wasm CPU runtime vs onnxruntime-web's wasm EP, same page, same input.
// onnxruntime-web is a bench-only devDependency served from node_modules; the product page never
// loads it.
const ORT_DIST = '/node_modules/onnxruntime-web/dist/';
let ortModule;
async function loadOrt() {
  if (!ortModule) {
    ortModule = await import(/* @vite-ignore */ `${ORT_DIST}ort.wasm.min.mjs`);
    ortModule.env.wasm.wasmPaths = ORT_DIST;
    ortModule.env.wasm.numThreads = 1;
    ortModule.env.wasm.simd = true;
    ortModule.env.wasm.proxy = false;
  }
  return ortModule;
}

/** Back-to-back runs of `fn` per sample: enough for one sample to last >= 10 ms, since
 *  performance.now() is coarsened to 0.1 ms in a page without cross-origin isolation. */
async function calibrate(fn) {
  for (let i = 0; i < 3; i++) await fn();
  let reps = 1;
  for (;;) {
    const t = now();
    for (let i = 0; i < reps; i++) await fn();
    if (now() - t >= 10 || reps >= 1 << 16) return reps;
    reps *= 2;
  }
}

const summary = (times, reps) => {
  times.sort((a, b) => a - b);
  return { median_ms: times[Math.floor(times.length / 2)], samples: times.length, runs_per_sample: reps };
};

/** Time each function of `fns` in alternating samples for about `seconds` each: the median
 *  per-run time of each. Alternating means a change in the machine's load (it is shared)
 *  hits both sides of a comparison alike instead of whichever happened to run then. */
async function timeInterleaved(fns, seconds) {
  const reps = [];
  for (const fn of fns) reps.push(await calibrate(fn));
  const times = fns.map(() => []);
  const start = now();
  while ((now() - start < fns.length * seconds * 1000 || times[0].length < 5) && times[0].length < 500) {
    for (const [i, fn] of fns.entries()) {
      const t = now();
      for (let r = 0; r < reps[i]; r++) await fn();
      times[i].push((now() - t) / reps[i]);
    }
  }
  return times.map((t, i) => summary(t, reps[i]));
}

/** One model at one batch size: both runtimes, their median times and how far apart their outputs are. */
window.benchInference = async (url, shape, batch, seconds = 1) => {
  await init();
  const ort = await loadOrt();
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const full = [batch, ...shape];
  const n = full.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (i % 17) / 17; // the same input as benches/native.rs and ort_infer.py
  const we = new ModelSession(bytes);
  const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', x, full) };
  let weOut, ortOut;
  const [webeval, onnxruntime] = await timeInterleaved([
    () => { weOut = we.run(x, full); },
    async () => { ortOut = await sess.run(feeds); },
  ], seconds);
  // Where webeval's time goes, per op (mean over enough runs for the page's coarse clock).
  const reps = Math.max(5, Math.min(2000, Math.round(300 / webeval.median_ms)));
  const webevalOps = JSON.parse(we.profile(x, full, reps)).map((o) => ({ node: o.node, ms: Number(o.ms.toPrecision(3)) }));
  we.free();
  const firstFloat = Object.values(ortOut).find((t) => t.type === 'float32');
  let maxAbsDiff = null;
  if (firstFloat && firstFloat.data.length === weOut.length) {
    maxAbsDiff = 0;
    for (let i = 0; i < weOut.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(weOut[i] - firstFloat.data[i]));
  }
  await sess.release();
  return { webeval: { ...webeval, build: relaxedSimd ? 'simd128+relaxed-simd' : 'simd128' }, onnxruntime_web: { ...onnxruntime, version: ort.env.versions?.web ?? null }, max_abs_diff: maxAbsDiff, webeval_ops: webevalOps };
};

/** The GEMM's GFLOPS at a few sizes against the measured simd128 multiply+add peak. */
window.benchGemm = async () => {
  await init();
  const peak = Math.max(simdPeakGflops(20_000_000), simdPeakGflops(20_000_000));
  const sizes = [[64, 64, 64], [256, 256, 256], [256, 512, 784], [512, 512, 512]];
  const gemm = sizes.map(([m, n, k]) => {
    const reps = Math.max(1, Math.round(2e9 / (2 * m * n * k)));
    const gflops = Math.max(gemmGflops(m, n, k, reps), gemmGflops(m, n, k, reps));
    return { m, n, k, gflops, percent_of_peak: (100 * gflops) / peak };
  });
  return { simd128_peak_gflops: peak, build: relaxedSimd ? 'simd128+relaxed-simd' : 'simd128', gemm };
};
