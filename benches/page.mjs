// Browser side of the benchmark. Each function runs one case and returns plain numbers; the
// runner opens a fresh page per case so wasm memory sizes belong to that case alone.
import initWasm, { evaluateArrays, ModelSession, gemmGflops, simdPeakGflops, gpuModelSession, gpuGemmGflops } from '../www/pkg/webeval.js';
import { Engine } from '../www/engine.js';
import { coreWasmUrl, relaxedSimd } from '../www/core.js';
import { generate } from './data.mjs';

const now = () => performance.now();
// The same build of the core as the page's worker picks (see www/core.js).
const init = () => initWasm({ module_or_path: coreWasmUrl });

/** The full report (metrics + curves + CI) of generated predictions, in-memory arrays. */
let prepared = null;
/** Generate a case's predictions ahead of `benchMetrics` (so CPU time read around that call is
 *  the evaluation's alone). */
window.prepareMetrics = (rows, classes) => {
  prepared = { rows, classes, data: generate(rows, classes) };
  return true;
};
window.benchMetrics = async (rows, classes, replicates) => {
  const wasm = await init();
  const data = prepared?.rows === rows && prepared?.classes === classes ? prepared.data : generate(rows, classes);
  prepared = null;
  const { truth, scores, width } = data;
  const memBefore = wasm.memory.buffer.byteLength;
  const options = replicates > 0 ? { ci: 0.95, ciReplicates: replicates } : {};
  const t = now();
  const json = evaluateArrays(truth, scores, width, options);
  const seconds = (now() - t) / 1000;
  const report = JSON.parse(json);
  return { seconds, wasm_memory_bytes: wasm.memory.buffer.byteLength, wasm_memory_before_bytes: memBefore, report_bytes: json.length, metrics: report.metrics };
};

/** FNV-1a of the report's JSON text (its UTF-16 code units; the report is ASCII): two builds
 *  of the page gave the same report when equal. */
function fnv(text) {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** The page's own path for a dropped file: the worker pushes `File.stream()` into a StreamEvaluation. */
// `options`: the evaluation options (`{}`: no intervals; `{ ci: 0.95 }`: the page's default, its
// "95% confidence intervals" box being checked).
window.benchIngest = async (options = {}) => {
  const file = document.getElementById('file').files[0];
  const engine = new Engine();
  await engine.version(); // wasm ready: time the file, not the start-up
  const t = now();
  // The worker's last progress message comes when the last byte has been parsed and fed to
  // the accumulators: before it is reading, after it is the report (sorts, curves). Kept on
  // window so the runner can still read it when the report outlives the case's time limit.
  const state = (window.ingestState = { read_seconds: null, rows: 0, workers: 1 });
  const json = await engine.evaluate(file, options, (msg) => {
    state.rows = msg.rows ?? state.rows;
    state.workers = Math.max(state.workers, msg.workers ?? 1);
    if (msg.done >= file.size) state.read_seconds = (now() - t) / 1000;
  });
  const seconds = (now() - t) / 1000;
  const memory = engine.memoryBytes;
  engine.worker.terminate();
  const report = JSON.parse(json);
  return { seconds, read_seconds: state.read_seconds, workers: state.workers, wasm_memory_bytes: memory, bytes: file.size, rows: report.n, accuracy: report.metrics.accuracy_score, report_fnv: fnv(json) };
};

// ---- inference: webeval's wasm CPU runtime vs onnxruntime-web's wasm EP, same page, same input.
// onnxruntime-web is a bench-only devDependency served from node_modules; the product page never
// loads it.
const ORT_DIST = '/node_modules/onnxruntime-web/dist/';
// ort.wasm.min.mjs holds the wasm EP; ort.webgpu.min.mjs loads the asyncify build
// (ort-wasm-simd-threaded.asyncify.wasm), which holds the WebGPU EP. One thread, no proxy worker.
const ortModules = {};
async function loadOrtBundle(file) {
  if (!ortModules[file]) {
    const ort = await import(/* @vite-ignore */ `${ORT_DIST}${file}`);
    ort.env.wasm.wasmPaths = ORT_DIST;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.simd = true;
    ort.env.wasm.proxy = false;
    ortModules[file] = ort;
  }
  return ortModules[file];
}
const loadOrt = () => loadOrtBundle('ort.wasm.min.mjs');
const loadOrtWebGpu = () => loadOrtBundle('ort.webgpu.min.mjs');

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
 *  hits both sides of a comparison alike instead of whichever happened to run then. Where the
 *  runner exposes `benchCpuMs` (the WebGPU section: CPU milliseconds used so far by the
 *  browser's GPU process, where SwiftShader runs the kernels, and its pages), each side also
 *  gets its mean CPU time per run: the work done, which the load does not stretch as it does
 *  wall time (the clock ticks every 10 ms, so the mean over all samples, not a median). */
async function timeInterleaved(fns, seconds) {
  const reps = [];
  for (const fn of fns) reps.push(await calibrate(fn));
  const times = fns.map(() => []);
  const cpu = fns.map(() => ({ gpu: 0, page: 0, runs: 0 }));
  const cpuMs = window.benchCpuMs;
  const start = now();
  while ((now() - start < fns.length * seconds * 1000 || times[0].length < 5) && times[0].length < 500) {
    for (const [i, fn] of fns.entries()) {
      const c0 = cpuMs && (await cpuMs());
      const t = now();
      for (let r = 0; r < reps[i]; r++) await fn();
      times[i].push((now() - t) / reps[i]);
      if (cpuMs) {
        const c1 = await cpuMs();
        Object.assign(cpu[i], { gpu: cpu[i].gpu + c1.gpu - c0.gpu, page: cpu[i].page + c1.page - c0.page, runs: cpu[i].runs + reps[i] });
      }
    }
  }
  const out = times.map((t, i) => summary(t, reps[i]));
  if (cpuMs) cpu.forEach((c, i) => Object.assign(out[i], { gpu_process_cpu_ms: c.gpu / c.runs, page_cpu_ms: c.page / c.runs }));
  // Each sample's time over the first runtime's sample just before it: a pair shares the load of
  // its moment, so the median of these ratios moves less with load swings than a ratio of medians.
  for (let i = 1; i < fns.length; i++) {
    const r = times[i].map((t, j) => t / times[0][j]).sort((a, b) => a - b);
    out[i].paired_ratio_to_first = r[r.length >> 1];
  }
  return out;
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

// ---- WebGPU: webeval's GPU session vs onnxruntime-web's WebGPU EP, same page, same input
// (the page runs in a Chromium started with --enable-unsafe-webgpu).

/** The adapter this browser gives WebGPU (null fields when it hides them). */
window.benchGpuAdapter = async () => {
  if (!navigator.gpu) return { error: 'navigator.gpu is missing' };
  const a = await navigator.gpu.requestAdapter();
  if (!a) return { error: 'requestAdapter() returned null' };
  const i = a.info ?? {};
  return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, fallback: i.isFallbackAdapter ?? a.isFallbackAdapter ?? null };
};

const inputFor = (full) => {
  const n = full.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (i % 17) / 17; // the same input as the CPU bench
  return x;
};
const errorOf = (e) => String(e?.message ?? e).split('\n')[0];
const maxAbsDiff = (a, b) => {
  if (!a || !b || a.length !== b.length) return null;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

/** One model at one batch size on WebGPU: webeval (GpuModelSession) and onnxruntime-web's
 *  WebGPU EP, timed in alternating samples as `benchInference` times the CPU runtimes. A side
 *  that fails to load or to run is recorded with its error and the other is timed alone. */
window.benchInferenceGpu = async (url, shape, batch, seconds = 1) => {
  await init();
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const full = [batch, ...shape];
  const x = inputFor(full);
  const out = {};
  const sides = [];
  let weOut;
  let ortOut;
  let we;
  let sess;
  const side = async (name, setup) => {
    try {
      const [info, run] = await setup();
      await run(); // a run that fails leaves this side out of the timing
      out[name] = info;
      sides.push([name, run]);
    } catch (e) {
      out[name] = { error: errorOf(e) };
    }
  };
  await side('webeval', async () => {
    we = await gpuModelSession(bytes);
    return [{ cpu_nodes: we.notes(), adapter: JSON.parse(we.adapter()) }, async () => { weOut = await we.run(x, full); }];
  });
  await side('onnxruntime_web', async () => {
    const ort = await loadOrtWebGpu();
    sess = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' });
    const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', x, full) };
    const run = async () => { ortOut = Object.values(await sess.run(feeds)).find((t) => t.type === 'float32')?.data; };
    return [{ version: ort.env.versions?.web ?? null, ep: 'webgpu' }, run];
  });
  if (sides.length) {
    const times = await timeInterleaved(sides.map(([, run]) => run), seconds);
    sides.forEach(([name], i) => Object.assign(out[name], times[i]));
  }
  we?.free();
  await sess?.release();
  out.max_abs_diff = maxAbsDiff(weOut, ortOut);
  return out;
};

/** GEMM on WebGPU: webeval's kernel alone (products recorded into one submission, one value
 *  read back), and one MatMul model through both runtimes end to end (upload, run, readback). */
window.benchGemmGpu = async (base, sizes, seconds = 1) => {
  await init();
  const rows = [];
  for (const s of sizes) {
    const { m, n, k } = s;
    const flop = 2 * m * n * k;
    const row = { m, n, k };
    try {
      // About 0.5 s of products per figure: by size, then each tile forced (gemm::Tiles codes).
      const probe = async (tiles) => {
        const once = flop / ((await gpuGemmGflops(m, n, k, 1, tiles)) * 1e9);
        return gpuGemmGflops(m, n, k, Math.max(1, Math.min(50, Math.round(0.5 / once))), tiles);
      };
      row.webeval_kernel_gflops = await probe(0);
      // (M = 1 runs the matrix-vector kernel whatever the tile.)
      if (m > 1) row.webeval_kernel_gflops_by_tile = { '64-wide': await probe(1), '128x128': await probe(2), '16-wide': await probe(3) };
    } catch (e) {
      row.webeval_kernel_error = errorOf(e);
    }
    const r = await window.benchInferenceGpu(`${base}/benches/models/${s.file}`, s.shape, m, seconds);
    const gf = (x) => (x?.median_ms ? flop / (x.median_ms * 1e6) : null);
    row.webeval = r.webeval.error ? r.webeval : { median_ms: r.webeval.median_ms, gflops: gf(r.webeval) };
    row.onnxruntime_web = r.onnxruntime_web.error ? r.onnxruntime_web : { median_ms: r.onnxruntime_web.median_ms, gflops: gf(r.onnxruntime_web) };
    row.max_abs_diff = r.max_abs_diff;
    rows.push(row);
  }
  return rows;
};
