// `npm run bench` (after the wasm is built into www/pkg): webeval against its anchors, side by
// side in one run on one machine, written to benches/results.json and benches/RESULTS.md.
//
//   node benches/run.mjs [--quick] [--only metrics,ingest,inference,inference-wasm,inference-gpu,startup,model] [--ci N] [--ingest-mb N]
//                        [--rows N,N] [--case-timeout SECONDS] [--native-exe PATH] [--gpu-models mlp,cnn|none]
//                        [--gpu-gemm 64x64x64,256x10x512]
//   (--rows with --only metrics reruns those sizes and keeps the other rows, each with its date)
//   node benches/run.mjs --markdown     (rewrite RESULTS.md from results.json; measures nothing)
//
// - metrics: the full report (all metrics + curves + bootstrap CI) of generated binary and
//   10-class predictions, in wasm in headless Chromium (in-memory arrays through
//   `evaluateArrays`), natively (benches/native.rs), and scikit-learn on numpy arrays
//   (benches/sklearn_metrics.py); the three see bit-identical numbers.
// - ingest: a generated CSV through the page's worker path and natively, vs pandas.read_csv.
// - startup: navigation to an interactive page (built dist/, Vite preview) and the wasm gzip size.
// - inference: native runtime vs onnxruntime (Python), and in Chromium webeval's wasm runtime vs
//   onnxruntime-web's wasm EP (one thread) plus the GEMM's share of the measured simd128 peak.
// - inference-gpu: in Chromium with WebGPU (SwiftShader here: ratios only, software timings),
//   webeval's GPU session vs onnxruntime-web's WebGPU EP on the same models and batches, and
//   GEMM GFLOPS across sizes (webeval's kernel alone, and one MatMul end to end in both).
// - model: the model card of a ~100 MB ONNX model (benches/model.mjs): drop → card in the built
//   page with the longest main-thread stall, and `webeval inspect`'s work natively. Needs dist/.
import { spawnSync } from 'node:child_process';
import { createServer, preview, build } from 'vite';
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, statSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchModelPage, benchModelNative } from './model.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, d) => {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return d;
  return argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
};
const quick = flag('quick');
/** --gpu-models mlp,cnn: the WebGPU section runs only these models (of benches/models/models.json; `none`
 *  for none), no GEMM table unless --gpu-gemm 64x64x64,256x10x512 names rows of it (M×N×K of
 *  benches/models/gemm.json) to rerun; the other rows keep their previous results. */
const GPU_MODELS = opt('gpu-models', null)?.split(',') ?? null;
const GPU_GEMM = opt('gpu-gemm', null)?.split(',') ?? null;
const gemmKey = (s) => `${s.m}x${s.n}x${s.k}`;
const only = new Set(opt('only', 'metrics,ingest,inference,inference-gpu,startup,model').split(','));
const SIZES = (opt('rows', quick ? '10000,100000' : '100000,1000000,10000000')).split(',').map(Number);
const CLASSES = [2, 10];
const CI = Number(opt('ci', quick ? 5 : 20));
const INGEST_MB = Number(opt('ingest-mb', quick ? 50 : 1024));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PYTHON = process.env.PYTHON ?? 'python3';
const scratch = join(root, 'target', 'bench-data');
mkdirSync(scratch, { recursive: true });

const log = (...a) => console.log('[bench]', ...a);

function runJson(cmd, args, timeoutMs = Number(opt('case-timeout', 900)) * 1000) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 28 });
  if (r.status !== 0) {
    return { error: `${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** The release bench binary (benches/native.rs): built once, then run directly per case. */
function nativeBinary() {
  if (opt('native-exe', '')) return opt('native-exe', ''); // a bench binary built already
  const r = spawnSync('cargo', ['bench', '--bench', 'native', '--no-run', '--no-default-features', '--message-format=json'], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error('cargo bench --bench native --no-run failed');
  const exe = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((m) => m.reason === 'compiler-artifact' && m.target?.name === 'native' && m.executable).pop()?.executable;
  if (!exe) throw new Error('no native bench executable in cargo output');
  return exe;
}

async function launch({ webgpu = false } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'webeval-bench-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', webgpu ? '--enable-unsafe-webgpu' : '--disable-gpu'],
  });
  return { context, userDataDir, close: async () => { await context.close(); rmSync(userDataDir, { recursive: true, force: true }); } };
}

/** CPU milliseconds (user + system) used so far by the Chromium started with `userDataDir`:
 *  its GPU process (`gpu`: where SwiftShader runs WebGPU's kernels) and its renderers (`page`:
 *  the page's JS and wasm). Linux /proc, clock ticks of 10 ms. */
function chromiumCpuMs(userDataDir) {
  const out = { gpu: 0, page: 0 };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmd;
    let stat;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes(userDataDir)) continue;
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const kind = cmd.includes('--type=gpu-process') ? 'gpu' : cmd.includes('--type=renderer') ? 'page' : null;
    if (!kind) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[kind] += (Number(f[11]) + Number(f[12])) * 10; // utime + stime, USER_HZ = 100
  }
  return out;
}

/** A fresh page on the bench page, so wasm memory sizes are per case. */
async function benchPage(context, base) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/benches/page.html`);
  await page.waitForFunction(() => typeof window.benchMetrics === 'function', null, { timeout: 120_000 });
  return { page, errors };
}

const CASE_TIMEOUT_MS = Number(opt('case-timeout', 900)) * 1000;
/** page.evaluate with a time limit: a case that runs past it is reported, not waited for. */
function evaluateWithin(page, fn, arg) {
  let timer;
  const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`gave up after ${CASE_TIMEOUT_MS / 1000} s`)), CASE_TIMEOUT_MS); });
  return Promise.race([page.evaluate(fn, arg), limit]).finally(() => clearTimeout(timer));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a, b) => (a > 0 && b > 0 ? b / a : null);

/** Largest relative difference between two metric maps over their shared scalar keys. */
function agreement(a, b) {
  let worst = 0;
  let key = null;
  let shared = 0;
  for (const [k, v] of Object.entries(a ?? {})) {
    const w = b?.[k];
    if (typeof v !== 'number' || typeof w !== 'number') continue;
    shared++;
    const d = Math.abs(v - w) / Math.max(Math.abs(w), 1e-12);
    if (d > worst) { worst = d; key = k; }
  }
  return { shared_keys: shared, max_rel_diff: worst, worst_key: key };
}

// Scalar values of a webeval report, CI-wrapped or not.
const scalars = (m) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, v && typeof v === 'object' && 'value' in v ? v.value : v]));

async function benchMetrics(context, base, exe, rows, save, sizes) {
  for (const n of sizes) {
    for (const classes of CLASSES) {
      log(`metrics: ${n} rows, ${classes} classes, CI ${CI} replicates`);
      const row = { rows: n, classes, ci_replicates: CI, started: new Date().toISOString(), cpu: cpus()[0]?.model, load_average_1m_at_start: loadavg()[0] };
      // The browser: a fresh page (own wasm memory) per case.
      const { page, errors } = await benchPage(context, base);
      try {
        // CPU time of the page's main thread (where evaluateArrays runs) around the call: the
        // machine is shared, so wall time includes waiting for a core.
        await evaluateWithin(page, ([r, c]) => window.prepareMetrics(r, c), [n, classes]);
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('Performance.enable');
        const threadTime = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime')?.value;
        const cpu0 = await threadTime();
        const b = await evaluateWithin(page, ([r, c, ci]) => window.benchMetrics(r, c, ci), [n, classes, CI]);
        const cpu1 = await threadTime();
        row.wasm = { seconds: b.seconds, cpu_seconds: cpu1 != null && cpu0 != null ? cpu1 - cpu0 : null, ns_per_row: (b.seconds / n) * 1e9, wasm_memory_bytes: b.wasm_memory_bytes };
        row._wasmMetrics = scalars(b.metrics);
      } catch (e) {
        row.wasm = { error: String(e.message ?? e).split('\n')[0], page_errors: errors.slice(0, 3) };
      }
      await page.close();
      log('  wasm', JSON.stringify(row.wasm));
      const nat = runJson(exe, ['metrics', String(n), String(classes), String(CI)]);
      row.native = nat.error ? nat : { seconds: nat.seconds, ns_per_row: (nat.seconds / n) * 1e9, peak_rss_bytes: nat.peak_rss_bytes };
      row._nativeMetrics = scalars(nat.metrics);
      log('  native', JSON.stringify(row.native));
      // scikit-learn: at 10^6 rows the bootstrap is timed on 3 replicates and scaled, at 10^7
      // on 1 (binary) or on none (10 classes: one replicate is estimated from its measured
      // parts, see benches/sklearn_metrics.py).
      const measured = n >= 5_000_000 ? (classes > 2 ? 0 : 1) : n >= 500_000 ? 3 : CI;
      const sk = runJson(PYTHON, ['benches/sklearn_metrics.py', String(n), String(classes), String(CI), String(measured)]);
      row.sklearn = sk.error ? sk : {
        seconds: sk.seconds, seconds_point: sk.seconds_point, seconds_ci: sk.seconds_ci, cpu_seconds: sk.cpu_seconds,
        ci_measured_replicates: sk.ci_measured_replicates, replicate_estimate: sk.replicate_estimate ?? undefined,
        ns_per_row: (sk.seconds / n) * 1e9, peak_rss_bytes: sk.peak_rss_bytes,
      };
      log('  sklearn', JSON.stringify(row.sklearn));
      row.speedup_vs_sklearn = { wasm: ratio(row.wasm.seconds, row.sklearn.seconds), native: ratio(row.native.seconds, row.sklearn.seconds) };
      row.agreement = {
        wasm_vs_native: agreement(row._wasmMetrics, row._nativeMetrics),
        native_vs_sklearn: agreement(row._nativeMetrics, sk.metrics),
      };
      delete row._wasmMetrics;
      delete row._nativeMetrics;
      row.load_average_1m_at_end = loadavg()[0];
      rows.push(row);
      rows.sort((a, b) => a.rows - b.rows || a.classes - b.classes);
      save();
    }
  }
  return rows;
}

async function benchIngest(context, base, exe) {
  const mb = INGEST_MB;
  const rowsWanted = Math.round((mb * 1e6) / 112); // ~112 bytes a row (label + 10 probabilities)
  const file = join(scratch, `ingest-${mb}mb.csv`);
  if (!existsSync(file)) {
    log(`ingest: writing ${file} (${rowsWanted} rows)`);
    const g = spawnSync(exe, ['gen-csv', file, String(rowsWanted)], { stdio: 'inherit' });
    if (g.status !== 0) return { error: 'could not write the ingest CSV' };
  }
  const bytes = statSync(file).size;
  const out = {
    started: new Date().toISOString(), file_bytes: bytes, rows: rowsWanted,
    note: 'webeval: full report (parse + metrics, curves, exact AUC) and read = until the last row is parsed and fed to the accumulators (the time of the last progress call); pandas: read_csv only',
    load_average_1m_at_start: loadavg()[0],
  };
  const mbps = (s) => (s ? bytes / 1e6 / s : null);
  // The browser was just launched: its start-up (about a CPU-second on 2 cores) landed on
  // the first native run (2.1-3.7 s reads where the same binary alone took 1.6-1.7), so it
  // settles first.
  await new Promise((r) => setTimeout(r, 5000));
  // Native first (also warms the page cache for the others).
  // The CLI's default (one thread per CPU, canonical chunks), then one thread.
  // `replicates`: bootstrap replicates of 95% intervals (the page's default is 200)
  const native = (threads, replicates = 0) => {
    const nat = runJson(exe, ['ingest', file, ...(threads || replicates ? [threads ? String(threads) : 'auto'] : []), ...(replicates ? [String(replicates)] : [])]);
    return nat.error ? nat : { threads: nat.threads, seconds: nat.seconds, mb_per_s: mbps(nat.seconds), read_seconds: nat.read_seconds, read_mb_per_s: mbps(nat.read_seconds), read_cpu_seconds: nat.read_cpu_seconds, read_cpu_mb_per_s: mbps(nat.read_cpu_seconds), peak_rss_bytes: nat.peak_rss_bytes, load_average_1m: loadavg()[0] };
  };
  out.native = native(0);
  log('  native', JSON.stringify(out.native));
  out.native_one_thread = native(1);
  log('  native, one thread', JSON.stringify(out.native_one_thread));
  // the page's default: 95% intervals, 200 bootstrap replicates (src/metrics/ci.rs)
  out.native_ci = native(0, 200);
  log('  native, 95% intervals', JSON.stringify(out.native_ci));
  const pd = runJson(PYTHON, ['benches/pandas_ingest.py', file]);
  out.pandas = pd.error ? pd : { seconds: pd.seconds, mb_per_s: mbps(pd.seconds), cpu_seconds: pd.cpu_seconds, cpu_mb_per_s: mbps(pd.cpu_seconds), peak_rss_bytes: pd.peak_rss_bytes, pandas: pd.pandas, load_average_1m: loadavg()[0] };
  log('  pandas', JSON.stringify(out.pandas));
  // the page's worker with `options` (a fresh page each)
  const worker = async (options) => {
    const { page, errors } = await benchPage(context, base);
    let result;
    try {
      await page.setInputFiles('#file', file);
      const b = await evaluateWithin(page, (o) => window.benchIngest(o), options);
      result = { seconds: b.seconds, mb_per_s: mbps(b.seconds), read_seconds: b.read_seconds, read_mb_per_s: mbps(b.read_seconds), rows: b.rows, workers: b.workers, wasm_memory_bytes: b.wasm_memory_bytes, load_average_1m: loadavg()[0] };
    } catch (e) {
      // the reading may have finished before the report failed or ran out of time
      const st = await page.evaluate(() => window.ingestState).catch(() => null);
      result = { error: String(e.message ?? e).split('\n')[0], page_errors: errors.slice(0, 3),
        read_seconds: st?.read_seconds ?? null, read_mb_per_s: mbps(st?.read_seconds), rows_read: st?.rows ?? null, load_average_1m: loadavg()[0] };
    }
    await page.close();
    return result;
  };
  out.wasm_worker = await worker({});
  log('  wasm worker', JSON.stringify(out.wasm_worker));
  // the page's default options: its "95% confidence intervals" box is checked
  out.wasm_worker_ci = await worker({ ci: 0.95 });
  log('  wasm worker, 95% intervals (the page default)', JSON.stringify(out.wasm_worker_ci));
  const pdS = out.pandas.seconds;
  out.ratio_vs_pandas = {
    wasm_worker: ratio(out.wasm_worker.seconds, pdS), native: ratio(out.native.seconds, pdS),
    wasm_worker_read: ratio(out.wasm_worker.read_seconds, pdS), native_read: ratio(out.native.read_seconds, pdS),
    native_read_cpu: ratio(out.native.read_cpu_seconds, out.pandas.cpu_seconds),
    native_one_thread: ratio(out.native_one_thread.seconds, pdS), native_one_thread_read: ratio(out.native_one_thread.read_seconds, pdS),
    native_one_thread_read_cpu: ratio(out.native_one_thread.read_cpu_seconds, out.pandas.cpu_seconds),
    wasm_worker_ci: ratio(out.wasm_worker_ci.seconds, pdS), wasm_worker_ci_read: ratio(out.wasm_worker_ci.read_seconds, pdS),
    native_ci: ratio(out.native_ci.seconds, pdS), native_ci_read: ratio(out.native_ci.read_seconds, pdS),
  };
  out.load_average_1m_at_end = loadavg()[0];
  return out;
}

/** Native webeval (runtime::Session) vs onnxruntime (Python), both one thread, same input. */
function benchInference(exe) {
  const dir = join(root, 'benches', 'models');
  if (!existsSync(join(dir, 'models.json'))) spawnSync(PYTHON, ['benches/make_models.py'], { cwd: root, stdio: 'inherit' });
  const models = JSON.parse(readFileSync(join(dir, 'models.json'), 'utf8'));
  const rows = [];
  for (const [key, m] of Object.entries(models)) {
    for (const batch of [1, 256]) {
      const args = [join(dir, m.file), m.input, String(batch), ...m.shape.map(String)];
      const nat = runJson(exe, ['infer', ...args]);
      const ort = runJson(PYTHON, ['benches/ort_infer.py', ...args]);
      const row = { model: key, file: m.file, batch, load_average_1m: loadavg()[0], native: nat, onnxruntime: ort,
        throughput_ratio_vs_onnxruntime: ratio(nat.median_s, ort.median_s),
        cpu_time_ratio_vs_onnxruntime: ratio(nat.cpu_s_per_run, ort.cpu_s_per_run) };
      log('inference', JSON.stringify(row));
      rows.push(row);
    }
  }
  return { native: rows };
}

/** In headless Chromium, one page: webeval's wasm CPU runtime (ModelSession) vs onnxruntime-web's
 *  wasm EP (one thread, simd) on the same models and input, their timed samples alternating (so
 *  the shared machine's load swings hit both alike), then the GEMM's share of the measured
 *  simd128 peak. */
async function benchInferenceWasm(context, base) {
  const dir = join(root, 'benches', 'models');
  if (!existsSync(join(dir, 'models.json'))) spawnSync(PYTHON, ['benches/make_models.py'], { cwd: root, stdio: 'inherit' });
  const models = JSON.parse(readFileSync(join(dir, 'models.json'), 'utf8'));
  const rows = [];
  const run = { started: new Date().toISOString(), load_average_1m_at_start: loadavg()[0] };
  const { page, errors } = await benchPage(context, base);
  try {
    for (const [key, m] of Object.entries(models)) {
      for (const batch of [1, 256]) {
        const row = { model: key, file: m.file, batch, load_average_1m: loadavg()[0] };
        try {
          Object.assign(row, await evaluateWithin(page, ([u, s, b]) => window.benchInference(u, s, b, 2), [`${base}/benches/models/${m.file}`, m.shape, batch]));
          row.throughput_ratio_vs_onnxruntime_web = ratio(row.webeval.median_ms, row.onnxruntime_web.median_ms);
          row.paired_throughput_ratio_vs_onnxruntime_web = row.onnxruntime_web.paired_ratio_to_first ?? null;
        } catch (e) {
          row.error = String(e.message ?? e).split('\n')[0];
          row.page_errors = errors.slice(0, 3);
        }
        log('inference wasm', JSON.stringify(row));
        rows.push(row);
      }
    }
    let gemm;
    try {
      gemm = await evaluateWithin(page, () => window.benchGemm());
    } catch (e) {
      gemm = { error: String(e.message ?? e).split('\n')[0] };
    }
    log('gemm wasm', JSON.stringify(gemm));
    Object.assign(run, { finished: new Date().toISOString(), load_average_1m_at_end: loadavg()[0] });
    return { rows, gemm, run };
  } finally {
    await page.close();
  }
}

/** In a Chromium with WebGPU (its own browser: the other sections run with --disable-gpu), one
 *  page: webeval's GPU session vs onnxruntime-web's WebGPU EP on the CPU section's models and
 *  batches, then GEMM GFLOPS across sizes. */
async function benchInferenceGpu(base) {
  const dir = join(root, 'benches', 'models');
  if (!existsSync(join(dir, 'gemm.json'))) spawnSync(PYTHON, ['benches/make_models.py'], { cwd: root, stdio: 'inherit' });
  const models = JSON.parse(readFileSync(join(dir, 'models.json'), 'utf8'));
  const sizes = JSON.parse(readFileSync(join(dir, 'gemm.json'), 'utf8'));
  const run = { started: new Date().toISOString(), load_average_1m_at_start: loadavg()[0], timing: 'the two runtimes in alternating samples, as in the CPU table' };
  const { context, userDataDir, close } = await launch({ webgpu: true });
  const rows = [];
  let gemm;
  try {
    await context.exposeFunction('benchCpuMs', () => chromiumCpuMs(userDataDir));
    const { page, errors } = await benchPage(context, base);
    run.adapter = await page.evaluate(() => window.benchGpuAdapter());
    log('gpu adapter', JSON.stringify(run.adapter));
    for (const [key, m] of Object.entries(models)) {
      if (GPU_MODELS && !GPU_MODELS.includes(key)) continue;
      for (const batch of [1, 256]) {
        const row = { model: key, file: m.file, batch, started: new Date().toISOString(), load_average_1m: loadavg()[0] };
        try {
          Object.assign(row, await evaluateWithin(page, ([u, s, b]) => window.benchInferenceGpu(u, s, b, 1), [`${base}/benches/models/${m.file}`, m.shape, batch]));
          row.throughput_ratio_vs_onnxruntime_web = ratio(row.webeval?.median_ms, row.onnxruntime_web?.median_ms);
          row.paired_throughput_ratio_vs_onnxruntime_web = row.onnxruntime_web?.paired_ratio_to_first ?? null;
          const cpu = (x) => (x?.gpu_process_cpu_ms ?? NaN) + (x?.page_cpu_ms ?? NaN);
          row.cpu_time_ratio_vs_onnxruntime_web = ratio(cpu(row.webeval), cpu(row.onnxruntime_web));
        } catch (e) {
          row.error = String(e.message ?? e).split('\n')[0];
          row.page_errors = errors.slice(0, 3);
        }
        log('inference gpu', JSON.stringify(row));
        rows.push(row);
      }
    }
    if (!GPU_MODELS || GPU_GEMM) try {
      const todo = GPU_GEMM ? sizes.filter((s) => GPU_GEMM.includes(gemmKey(s))) : sizes;
      gemm = await evaluateWithin(page, ([b, s]) => window.benchGemmGpu(b, s, 1), [base, todo]);
      for (const g of gemm) g.throughput_ratio_vs_onnxruntime_web = ratio(g.webeval?.median_ms, g.onnxruntime_web?.median_ms);
    } catch (e) {
      gemm = { error: String(e.message ?? e).split('\n')[0] };
    }
    log('gemm gpu', JSON.stringify(gemm));
    await page.close();
  } finally {
    await close();
  }
  Object.assign(run, { finished: new Date().toISOString(), load_average_1m_at_end: loadavg()[0] });
  return { rows, gemm, run };
}

function gzipSize(path) {
  return gzipSync(readFileSync(path), { level: 9 }).length;
}

async function benchStartup() {
  const out = {};
  const wasm = join(root, 'www', 'pkg', 'webeval_bg.wasm');
  out.wasm_bytes = statSync(wasm).size;
  out.wasm_gzip_bytes = gzipSize(wasm);
  // The relaxed-SIMD build (www/core.js): the one Chromium loads.
  const relaxed = join(root, 'www', 'pkg', 'webeval_relaxed_bg.wasm');
  if (existsSync(relaxed)) Object.assign(out, { relaxed_wasm_bytes: statSync(relaxed).size, relaxed_wasm_gzip_bytes: gzipSize(relaxed) });
  // The modules the worker fetches on demand (a Parquet file, a zip of images), each on its own.
  for (const [key, file] of [['parquet', 'webeval_parquet_bg.wasm'], ['images', 'webeval_images_bg.wasm']]) {
    const path = join(root, 'www', 'pkg', file);
    if (existsSync(path)) out[`${key}_wasm_gzip_bytes`] = gzipSize(path);
  }
  // The page engineer may provide benches/startup.mjs exporting measureStartup({root}).
  const custom = join(root, 'benches', 'startup.mjs');
  if (existsSync(custom)) {
    const mod = await import(pathToFileURL(custom).href);
    const fn = mod.measureStartup ?? mod.default;
    if (typeof fn === 'function') return { ...out, ...(await fn({ root })), source: 'benches/startup.mjs' };
  }
  log('startup: vite build');
  await build({ root, logLevel: 'warn' });
  const assets = join(root, 'dist', 'assets');
  // What a first visit downloads: one of the two core builds (the relaxed one, as Chromium picks
  // it), and not the modules fetched on demand.
  const loaded = (f) => !(existsSync(relaxed) && /^webeval_bg-.*\.wasm$/.test(f)) && !/^webeval_(parquet|images)/.test(f);
  out.dist_gzip_bytes = readdirSync(assets).filter(loaded).reduce((s, f) => s + gzipSize(join(assets, f)), gzipSize(join(root, 'dist', 'index.html')));
  const server = await preview({ root, preview: { host: '127.0.0.1', port: 0 }, logLevel: 'warn' });
  const url = server.resolvedUrls.local[0];
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const { context, close } = await launch(); // a new profile: cold cache every time
    const page = await context.newPage();
    await page.addInitScript(() => {
      const marks = (window.__startup = {});
      const check = () => {
        if (!marks.interactive && document.body?.dataset.ready === 'true') marks.interactive = performance.now();
        if (!marks.engine && document.getElementById('version')?.textContent) marks.engine = performance.now();
      };
      new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await page.goto(url);
    await page.waitForFunction(() => window.__startup?.interactive && window.__startup?.engine, null, { timeout: 60_000 });
    const m = await page.evaluate(() => ({ ...window.__startup, dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd }));
    runs.push(m);
    await close();
  }
  await new Promise((r) => server.httpServer.close(r));
  out.runs = runs.length;
  out.interactive_ms = median(runs.map((r) => r.interactive));
  out.engine_ready_ms = median(runs.map((r) => r.engine));
  out.dom_content_loaded_ms = median(runs.map((r) => r.dcl));
  out.note = 'cold cache (new profile per run), Vite preview of dist/ on localhost; interactive = body[data-ready]; engine ready = the worker\'s wasm answered (footer version)';
  return out;
}

function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model, cores: c.length, memory_gb: Math.round(totalmem() / 2 ** 30),
    load_average_1m_at_start: loadavg()[0],
    chromium: spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout?.trim(),
    node: process.version,
    python: spawnSync(PYTHON, ['-c', 'import sklearn,numpy,sys;print(sys.version.split()[0],"sklearn",sklearn.__version__,"numpy",numpy.__version__)'], { encoding: 'utf8' }).stdout?.trim(),
    rustc: spawnSync('rustc', ['--version'], { encoding: 'utf8' }).stdout?.trim(),
  };
}

async function main() {
  if (flag('markdown')) {
    // Only rewrite RESULTS.md from results.json (after a change to the generator).
    const r = JSON.parse(readFileSync(join(root, 'benches', 'results.json'), 'utf8'));
    writeFileSync(join(root, 'benches', 'RESULTS.md'), markdown(r));
    return;
  }
  const started = new Date().toISOString();
  const results = { started, quick, machine: machine(), ci_replicates: CI };
  const previous = existsSync(join(root, 'benches', 'results.json')) ? JSON.parse(readFileSync(join(root, 'benches', 'results.json'), 'utf8')) : {};
  // The metrics section's settings and run stamp stay with its results when it is not rerun.
  if (!only.has('metrics')) for (const k of ['ci_replicates', 'metrics_run']) if (previous[k] !== undefined) results[k] = previous[k];
  // Sections that record their own run time and load: run alone, they keep the previous header.
  // A metrics run of some sizes only (--rows) is partial too: its own run goes in metrics_run.
  const partialMetrics = !quick && opt('rows', null) != null && [...only].every((k) => k === 'metrics');
  const partialWasm = partialMetrics || (!quick && [...only].every((k) => ['inference-wasm', 'inference-gpu', 'model', 'startup'].includes(k)));
  const thisRun = { started, machine: results.machine };
  if (partialWasm) for (const k of ['started', 'machine', 'ci_replicates', 'quick']) if (previous[k] !== undefined) results[k] = previous[k];
  const exe = only.has('metrics') || only.has('ingest') || only.has('inference') || only.has('model') ? nativeBinary() : null;
  const server = await createServer({ root, server: { host: '127.0.0.1', port: 0, hmr: false }, logLevel: 'warn', clearScreen: false });
  await server.listen();
  const base = server.resolvedUrls.local[0].replace(/\/$/, '');
  const { context, close } = await launch();
  // Written after every case, so a run cut short still leaves what it measured.
  const save = (done = false) => {
    const out = { ...results, finished: previous.finished ?? new Date().toISOString(), complete: partialWasm ? previous.complete ?? done : done };
    if (!partialWasm) out.finished = new Date().toISOString();
    out.machine = partialWasm ? results.machine : { ...results.machine, load_average_1m_at_end: loadavg()[0] };
    // Sections not run this time keep their previous results.
    // (gpu_sort, gpu_gemm: written from `cargo bench --bench gpu_sort` / `gpu_gemm -- --json`,
    // which this runner does not run.)
    for (const k of ['metrics', 'ingest', 'inference', 'startup', 'model', 'gpu_sort', 'gpu_gemm']) if (!(k in out) && previous[k]) out[k] = previous[k];
    // A partial run keeps everything else the file holds (notes other tools added included).
    if (partialMetrics) out.metrics_run = { ...thisRun, finished: new Date().toISOString(), machine: { ...thisRun.machine, load_average_1m_at_end: loadavg()[0] } };
    // Any other key the file holds (notes other tools added, e.g. a one-off run of another
    // size) stays, except a partial metrics run's stamp once the whole section has rerun.
    const stale = only.has('metrics') && !partialMetrics ? ['metrics_run'] : [];
    for (const k of Object.keys(previous)) if (!(k in out) && !stale.includes(k)) out[k] = previous[k];
    // The file's key order is kept, new keys at the end, so a rerun's diff shows only what changed.
    const order = [...Object.keys(previous).filter((k) => k in out), ...Object.keys(out).filter((k) => !(k in previous))];
    const name = quick ? 'results.quick.json' : 'results.json';
    writeFileSync(join(root, 'benches', name), JSON.stringify(Object.fromEntries(order.map((k) => [k, out[k]])), null, 2) + '\n');
    if (!quick) writeFileSync(join(root, 'benches', 'RESULTS.md'), markdown(out));
    return out;
  };
  // The slowest cases (10^7 rows) go last, so a run cut short has everything else.
  const big = SIZES.filter((n) => n >= 5_000_000);
  try {
    // Sizes not measured this time (--rows) keep their previous rows when the replicate count
    // is the same; each row carries its own date and load.
    if (only.has('metrics')) {
      const mr = previous.metrics_run;
      results.metrics = (previous.metrics ?? []).filter((m) => !SIZES.includes(m.rows) && m.ci_replicates === CI)
        .map((m) => (m.started ? m : { ...m, started: mr?.started, cpu: mr?.machine?.cpu, load_average_1m_at_start: mr?.machine?.load_average_1m_at_start, load_average_1m_at_end: mr?.machine?.load_average_1m_at_end }));
    }
    if (only.has('metrics')) await benchMetrics(context, base, exe, results.metrics, save, SIZES.filter((n) => !big.includes(n)));
    if (only.has('ingest')) { results.ingest = await benchIngest(context, base, exe); save(); }
    if (only.has('inference')) {
      // The WebGPU half is its own section (--only inference-gpu): kept unless rerun below.
      const { gpu, gemm_gpu, gpu_run } = previous.inference ?? {};
      results.inference = { ...benchInference(exe), ...(gpu ? { gpu, gemm_gpu, gpu_run } : {}) };
      save();
      const w = await benchInferenceWasm(context, base);
      results.inference.wasm = w.rows;
      results.inference.gemm_wasm = w.gemm;
      results.inference.wasm_run = w.run;
      save();
    }
    if (only.has('inference-wasm') && !only.has('inference')) {
      // The browser half alone (the native half keeps its previous results).
      const w = await benchInferenceWasm(context, base);
      results.inference = { ...(previous.inference ?? {}), wasm: w.rows, gemm_wasm: w.gemm, wasm_run: w.run };
      // The other sections (and the run header describing them) keep their previous values.
      for (const k of ['started', 'machine', 'ci_replicates', 'quick']) if (previous[k] !== undefined) results[k] = previous[k];
      save();
    }
    if (only.has('inference-gpu')) {
      const g = await benchInferenceGpu(base);
      const measured = g.run.finished;
      const prev = results.inference ?? previous.inference ?? {};
      // --gpu-models: those models' rows replace their previous ones (each row has its date and
      // load); the other rows, the GEMM table and the section's run header are kept.
      if (GPU_MODELS) {
        const old = (prev.gpu ?? []).filter((r) => !GPU_MODELS.includes(r.model));
        g.rows = Object.keys(JSON.parse(readFileSync(join(root, 'benches', 'models', 'models.json'), 'utf8')))
          .flatMap((k) => (GPU_MODELS.includes(k) ? g.rows : old).filter((r) => r.model === k));
        if (!GPU_GEMM) g.gemm = prev.gemm_gpu;
        const { started, finished, load_average_1m_at_start, load_average_1m_at_end } = g.run;
        const rerun = { models: [...GPU_MODELS.filter((m) => m !== 'none'), ...(GPU_GEMM ?? []).map((k) => `MatMul ${k}`)], started, finished, load_average_1m_at_start, load_average_1m_at_end };
        g.run = { ...prev.gpu_run, rerun: [...(prev.gpu_run?.rerun ?? []), rerun] };
      }
      // --gpu-gemm: the rerun GEMM rows replace theirs, in gemm.json's order, each with its date.
      if (GPU_GEMM && Array.isArray(g.gemm)) {
        const fresh = new Map(g.gemm.map((x) => [gemmKey(x), { ...x, measured }]));
        const old = new Map((Array.isArray(prev.gemm_gpu) ? prev.gemm_gpu : []).map((x) => [gemmKey(x), x]));
        const order = JSON.parse(readFileSync(join(root, 'benches', 'models', 'gemm.json'), 'utf8')).map(gemmKey);
        // Rows of sizes a stale gemm.json lacks are kept, after the others.
        g.gemm = [...order, ...[...old.keys()].filter((k) => !order.includes(k))]
          .map((k) => fresh.get(k) ?? old.get(k)).filter(Boolean);
      }
      results.inference = { ...prev, gpu: g.rows, gemm_gpu: g.gemm, gpu_run: g.run };
      save();
    }
    if (only.has('startup')) {
      const at = { started: new Date().toISOString(), load_average_1m_at_start: loadavg()[0] };
      results.startup = { ...at, ...(await benchStartup()), load_average_1m_at_end: loadavg()[0] };
      save();
    }
    if (only.has('model')) {
      const runs = quick ? 2 : 5;
      log('model: the ~100 MB ResNet-50, native inspect');
      const native = benchModelNative(exe, { runs });
      log('  native', JSON.stringify(native));
      log('model: drop → card in the built page');
      const page = await benchModelPage({ runs }).catch((e) => ({ error: String(e.message ?? e).split('\n')[0] }));
      log('  page', JSON.stringify(page));
      results.model = { started: new Date().toISOString(), page, native, native_binary: 'benches/native.rs (cargo bench profile = release: LTO, codegen-units 1), --no-default-features' };
      save();
    }
    if (only.has('metrics')) await benchMetrics(context, base, exe, results.metrics, save, big);
  } finally {
    await close();
    await server.close();
  }
  console.log(markdown(save(true)));
}

const f = (x, d = 2) => (x == null || Number.isNaN(x) ? '—' : Number(x).toFixed(d));
const times = (x, d = 2) => (x == null || Number.isNaN(x) ? '—' : `${f(x, d)}×`);
const mib = (b) => (b == null ? '—' : `${(b / 2 ** 20).toFixed(0)} MiB`);

export function markdown(r) {
  const lines = ['<!-- generated by benches/run.mjs from benches/results.json; do not edit -->', '# Benchmark results', '',
    `Run ${r.started} → ${r.finished}${r.quick ? ' (quick)' : ''}${r.complete ? '' : ' (cut short: the sections below are what it measured)'}. Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memory_gb} GB; ` +
    `load average ${f(r.machine.load_average_1m_at_start, 1)} at start, ${f(r.machine.load_average_1m_at_end, 1)} at end (shared machine). ` +
    `${r.machine.chromium}; ${r.machine.python}; ${r.machine.rustc}.`, ''];
  if (r.metrics) {
    lines.push(`## Metrics: full report (all metrics + curves + ${r.ci_replicates}-replicate bootstrap CI)`, '',
      '| rows | classes | wasm (Chromium) s | native s | scikit-learn s | wasm ÷ sklearn speed-up | native speed-up | CPU s: wasm / sklearn | wasm ÷ sklearn CPU speed-up | wasm ns/row | native ns/row | wasm memory | native peak RSS | sklearn peak RSS | max rel. diff native vs sklearn | measured (load avg) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    const when = (m) => `${m.started?.slice(0, 16).replace('T', ' ') ?? '—'}, ${m.cpu ?? '—'} (${f(m.load_average_1m_at_start, 1)} → ${f(m.load_average_1m_at_end, 1)})`;
    for (const m of r.metrics) {
      const est = m.sklearn.ci_measured_replicates === 0 ? '*' : '';
      lines.push(`| ${m.rows.toExponential(0)} | ${m.classes} | ${m.wasm.error ? 'failed' : f(m.wasm.seconds, 3)} | ${f(m.native.seconds, 3)} | ${f(m.sklearn.seconds, 3)}${est} | ${times(m.speedup_vs_sklearn.wasm)} | ${times(m.speedup_vs_sklearn.native)} | ${f(m.wasm.cpu_seconds, 1)} / ${f(m.sklearn.cpu_seconds, 1)} | ${times(ratio(m.wasm.cpu_seconds, m.sklearn.cpu_seconds))} | ${f(m.wasm.ns_per_row, 0)} | ${f(m.native.ns_per_row, 0)} | ${mib(m.wasm.wasm_memory_bytes)} | ${mib(m.native.peak_rss_bytes)} | ${mib(m.sklearn.peak_rss_bytes)} | ${m.agreement.native_vs_sklearn.max_rel_diff.toExponential(1)} (${m.agreement.native_vs_sklearn.shared_keys} keys) | ${when(m)} |`);
    }
    const errs = r.metrics.filter((m) => m.wasm.error || m.native.error || m.sklearn.error);
    for (const m of errs) lines.push('', `- ${m.rows} rows × ${m.classes} classes: ${[m.wasm.error && `wasm: ${m.wasm.error}`, m.native.error && `native: ${m.native.error}`, m.sklearn.error && `sklearn: ${m.sklearn.error}`].filter(Boolean).join('; ')}`);
    lines.push('', 'scikit-learn\'s bootstrap is timed on fewer replicates at 10^6 (3) and 10^7 (binary: 1) rows and scaled linearly to the same replicate count. ' +
      '\\* 10^7 × 10: no replicate is run (one takes ~6 min of CPU here); one replicate = drawing and gathering one resample (timed) + one pass of the same scalar metrics over as many rows (the point estimate\'s own pass, timed); at 2·10^5 × 10 this estimate came to 0.86 × the point estimate\'s time where a measured replicate took 0.87 ×. ' +
      'CPU s = CPU time of the thread that did the work (wasm: the page\'s main thread, from the DevTools protocol\'s ThreadTime; scikit-learn: process_time, scaled like the wall time), which waiting for a shared core does not inflate; — = not recorded then. ' +
      'Memory: wasm = the wasm instance\'s linear memory after the run (includes the input arrays); peak RSS = the whole process. Measured = the row\'s start (UTC), the CPU, and the 1-minute load average at its start and end, on 2 shared cores.', '');
    const mr = r.metrics_run;
    if (mr) lines.push(`(Latest metrics run ${mr.started} → ${mr.finished} on ${mr.machine?.cpu}; the machine line above is the other sections' run.)`, '');
  }
  if (r.ingest) {
    const i = r.ingest;
    const row = (name, x, rt) => `| ${name} | ${f(x?.read_mb_per_s, 1)} | ${f(x?.read_cpu_mb_per_s, 1)} | ${f(x?.mb_per_s, 1)} | ${f(x?.seconds)} | ${rt?.read ? `${times(rt.read)}` : '—'} | ${rt?.full ? `${times(rt.full)}` : '—'} | ${mib(x?.peak_rss_bytes ?? x?.wasm_memory_bytes)} | ${f(x?.load_average_1m, 1)} |`;
    const rv = i.ratio_vs_pandas ?? {};
    lines.push(`## Ingest: ${mib(i.file_bytes)} CSV (label + 10 probabilities), MB/s`, '',
      ...(i.started ? [`Run ${i.started}; load average ${f(i.load_average_1m_at_start, 1)} → ${f(i.load_average_1m_at_end, 1)}.`, ''] : []),
      '| | read MB/s | read MB per CPU-second | full report MB/s | seconds | read ÷ pandas | full ÷ pandas | memory (peak RSS / wasm) | load avg |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      row(`webeval wasm (page worker${i.wasm_worker?.workers > 1 ? `s: ${i.wasm_worker.workers} Web Workers, the page's default` : ', File stream'})`, i.wasm_worker, { read: rv.wasm_worker_read, full: rv.wasm_worker }),
      ...(i.wasm_worker_ci ? [row('webeval wasm, 95% intervals (the page\'s default)', i.wasm_worker_ci, { read: rv.wasm_worker_ci_read, full: rv.wasm_worker_ci })] : []),
      row(`webeval native${i.native?.threads ? `, ${i.native.threads} threads` : ''}`, i.native, { read: rv.native_read, full: rv.native }),
      ...(i.native_one_thread ? [row('webeval native, 1 thread', i.native_one_thread, { read: rv.native_one_thread_read, full: rv.native_one_thread })] : []),
      ...(i.native_ci ? [row(`webeval native, 95% intervals${i.native_ci.threads ? `, ${i.native_ci.threads} threads` : ''}`, i.native_ci, { read: rv.native_ci_read, full: rv.native_ci })] : []),
      `| pandas.read_csv | ${f(i.pandas?.mb_per_s, 1)} | ${f(i.pandas?.cpu_mb_per_s, 1)} | — | ${f(i.pandas?.seconds)} | 1.00× | — | ${mib(i.pandas?.peak_rss_bytes)} | ${f(i.pandas?.load_average_1m, 1)} |`,
      '', `${i.note}.`, ...(rv.native_read_cpu ? ['', `Per CPU-second (user + system time, which the machine's other load inflates less than wall time), native reading is ${times(rv.native_read_cpu)} pandas.read_csv${rv.native_one_thread_read_cpu ? ` (${times(rv.native_one_thread_read_cpu)} on one thread)` : ''}.`] : []),
      ...(i.native_one_thread ? ['', 'Native reads the file in 16 MiB chunks merged in file order (the same JSON for any thread count); the first row uses the CLI\'s default, one thread per CPU.'] : []),
      ...(i.wasm_worker_ci || i.native_ci ? ['', 'With 95% intervals (the page\'s default, its "95% confidence intervals" box checked): 200 Poisson-bootstrap replicates, each row\'s replicate weights added to every streamed sum and sketch cell as it is read.'] : []), '');
    if (i.wasm_worker_ci?.error) lines.push(`- wasm worker, 95% intervals: ${i.wasm_worker_ci.error}`, '');
    if (i.wasm_worker?.error) lines.push(`- wasm worker: ${i.wasm_worker.error}`, '');
  }
  if (r.startup) {
    const s = r.startup;
    const when = s.started ? `Run ${s.started}; load average ${f(s.load_average_1m_at_start, 1)} → ${f(s.load_average_1m_at_end, 1)}.` : '';
    lines.push('## Startup', '', ...(when ? [when, ''] : []), `- wasm: ${(s.wasm_bytes / 1024).toFixed(0)} KiB, **${(s.wasm_gzip_bytes / 1024).toFixed(0)} KiB gzip** (-9)`,
      `- what a first visit downloads (dist/, gzip): ${s.dist_gzip_bytes ? (s.dist_gzip_bytes / 1024).toFixed(0) + ' KiB' : '—'}`,
      ...(s.parquet_wasm_gzip_bytes || s.images_wasm_gzip_bytes ? [`- fetched on demand (gzip): the Parquet module ${(s.parquet_wasm_gzip_bytes / 1024).toFixed(0)} KiB, the image module ${(s.images_wasm_gzip_bytes / 1024).toFixed(0)} KiB`] : []),
      `- navigation → interactive: **${f(s.interactive_ms, 0)} ms**; → engine (wasm in the worker) ready: ${f(s.engine_ready_ms, 0)} ms (median of ${s.runs}; ${s.note})`, '');
  }
  if (r.model) {
    const m = r.model;
    const p = m.page ?? {};
    const n = m.native ?? {};
    const s = (x) => (x?.median_s == null ? (x?.error ? `failed: ${x.error}` : '—') : `${f(x.median_s, 2)} s`);
    lines.push(`## Model card: ${p.file_bytes ? (p.file_bytes / 1e6).toFixed(0) : '~100'} MB ONNX model (ResNet-50, ${p.params ? (p.params / 1e6).toFixed(2) : '25.61'} M params, seeded weights)`, '',
      `Run ${m.started}; load average ${f(p.load_average_1m_at_start, 1)} → ${f(p.load_average_1m_at_end, 1)} (page), ${f(n.load_average_1m, 1)} (native).`, '',
      '| | weights inline | weights in an external-data file |', '|---|---:|---:|',
      p.error ? `| page: drop → card | failed: ${p.error} | |`
        : `| page: drop → card (median of ${p.runs?.length}) | **${f(p.drop_to_card_ms_median / 1e3, 2)} s** (runs: ${(p.runs ?? []).map((x) => f(x / 1e3, 2)).join(', ')} s) | ${f(p.external_data?.drop_to_card_ms / 1e3, 2)} s |`,
      p.error ? '' : `| page: longest main-thread stall | **${f(p.longest_main_thread_gap_ms, 0)} ms** (median run ${f(p.main_thread_gap_ms_median, 0)} ms) | ${f(p.external_data?.longest_main_thread_gap_ms, 0)} ms |`,
      `| native \`webeval inspect\` work (median) | ${s(n.inline)} | ${s(n.external_data)} |`, '',
      `${p.note ?? ''}. Native: ${m.native_binary}; in-process time of \`model::inspect_path\` + the card's JSON.`, '');
  }
  if (r.inference?.native) {
    const kernel = r.inference.native.find((i) => i.native?.kernel)?.native.kernel;
    lines.push('## Inference (native, one thread): webeval runtime vs onnxruntime (Python)', '',
      `GEMM microkernel picked at run time: ${kernel ?? 'not recorded'}; load average ${r.inference.native.map((i) => f(i.load_average_1m, 1)).join(', ')} (per row).`, '',
      'Wall time is the median run; CPU time the mean CPU seconds per run of each process (the two run one after the other, so on the shared machine the CPU-time ratio is the one the load moves least).', '',
      '| model | batch | webeval ms | onnxruntime ms | throughput ratio (≥ 1 = webeval faster) | webeval CPU ms | onnxruntime CPU ms | CPU-time ratio |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const i of r.inference.native) {
      const ms = (x) => (x?.median_s == null ? (x?.error ? 'failed' : '—') : (x.median_s * 1e3).toFixed(3));
      const cms = (x) => (x?.cpu_s_per_run == null ? '—' : (x.cpu_s_per_run * 1e3).toFixed(3));
      lines.push(`| ${i.model} (${i.file}) | ${i.batch} | ${ms(i.native)} | ${ms(i.onnxruntime)} | ${times(i.throughput_ratio_vs_onnxruntime)} | ${cms(i.native)} | ${cms(i.onnxruntime)} | ${times(i.cpu_time_ratio_vs_onnxruntime)} |`);
    }
    for (const i of r.inference.native.filter((x) => x.native.error)) lines.push('', `- ${i.model} batch ${i.batch}: ${i.native.error}`);
    lines.push('');
  }
  if (Array.isArray(r.inference?.wasm)) {
    lines.push('## Inference in the browser (headless Chromium, wasm, one thread): webeval vs onnxruntime-web', '',
      '| model | batch | webeval ms | onnxruntime-web ms | throughput ratio (≥ 1 = webeval faster) | paired ratio | max abs output diff | load avg |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const i of r.inference.wasm) {
      lines.push(i.error ? `| ${i.model} | ${i.batch} | failed: ${i.error} | | | | | |`
        : `| ${i.model} (${i.file}) | ${i.batch} | ${f(i.webeval.median_ms, 3)} | ${f(i.onnxruntime_web.median_ms, 3)} | ${times(i.throughput_ratio_vs_onnxruntime_web)} | ${times(i.paired_throughput_ratio_vs_onnxruntime_web)} | ${i.max_abs_diff == null ? '—' : i.max_abs_diff.toExponential(1)} | ${f(i.load_average_1m, 1)} |`);
    }
    const ver = r.inference.wasm.find((i) => i.onnxruntime_web?.version)?.onnxruntime_web.version;
    const wr = r.inference.wasm_run;
    if (wr) lines.push('', `Browser inference run ${wr.started} → ${wr.finished}, load average ${f(wr.load_average_1m_at_start, 1)} at start, ${f(wr.load_average_1m_at_end, 1)} at end.`);
    lines.push('', `onnxruntime-web ${ver ?? '(version unknown)'}: wasm EP, numThreads 1, simd, graphOptimizationLevel all; webeval: \`ModelSession.run\` (input copied in, first float output copied out). Median per-run time over ≥ 2 s of samples each (a sample is ≥ 10 ms of back-to-back runs: the page's timer has 0.1 ms resolution) after 3 warm-ups, same page, same input; the two runtimes' samples alternate, so load swings on the shared machine hit both alike; the paired ratio is the median over sample pairs of onnxruntime-web's sample time over webeval's sample just before it. webeval build loaded: ${r.inference.wasm.find((i) => i.webeval?.build)?.webeval.build ?? 'simd128'} (www/core.js).`, '');
    const g = r.inference.gemm_wasm;
    if (g && !g.error) {
      lines.push(`GEMM in wasm: measured simd128 peak (12 independent f32x4 multiply-add chains, fused in the relaxed-SIMD build${g.build ? `; build ${g.build}` : ''}) **${f(g.simd128_peak_gflops, 1)} GFLOPS**; ` +
        g.gemm.map((x) => `${x.m}×${x.n}×${x.k}: ${f(x.gflops, 1)} GFLOPS (**${f(x.percent_of_peak, 0)}%**)`).join(', ') + '.', '');
    }
  }
  if (Array.isArray(r.inference?.gpu)) {
    const wr = r.inference.gpu_run ?? {};
    const a = wr.adapter ?? {};
    const ms = (x) => (x?.error ? `failed: ${x.error}` : f(x?.median_ms, 3));
    lines.push('## WebGPU in the browser (headless Chromium, SwiftShader): webeval vs onnxruntime-web\'s WebGPU EP', '',
      `Run ${wr.started} → ${wr.finished}, load average ${f(wr.load_average_1m_at_start, 1)} at start, ${f(wr.load_average_1m_at_end, 1)} at end. ` +
      `Adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || a.error || '?'}${a.fallback ? ' (a fallback adapter: software)' : ''}. ` +
      'SwiftShader runs WebGPU on the CPU, so the milliseconds mean nothing for a real GPU: only the ratios (same page, same input, same adapter) do.' +
      (wr.rerun ?? []).map((x) => ` Rows of ${x.models.join(', ')} rerun ${x.started} → ${x.finished}, load ${f(x.load_average_1m_at_start, 1)} → ${f(x.load_average_1m_at_end, 1)} (\`--gpu-models\` / \`--gpu-gemm\`).`).join(''), '',
      '| model | batch | webeval ms | onnxruntime-web WebGPU ms | throughput ratio (≥ 1 = webeval faster) | paired ratio | webeval CPU ms (GPU process + page) | onnxruntime-web CPU ms | CPU-time ratio | max abs output diff | load avg |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const cms = (x) => (x?.gpu_process_cpu_ms == null ? '—' : `${f(x.gpu_process_cpu_ms + x.page_cpu_ms, 3)} (${f(x.gpu_process_cpu_ms, 3)} + ${f(x.page_cpu_ms, 3)})`);
    for (const i of r.inference.gpu) {
      lines.push(i.error ? `| ${i.model} | ${i.batch} | failed: ${i.error} | | | | | | | | |`
        : `| ${i.model} (${i.file}) | ${i.batch} | ${ms(i.webeval)} | ${ms(i.onnxruntime_web)} | ${times(i.throughput_ratio_vs_onnxruntime_web)} | ${times(i.paired_throughput_ratio_vs_onnxruntime_web)} | ${cms(i.webeval)} | ${cms(i.onnxruntime_web)} | ${times(i.cpu_time_ratio_vs_onnxruntime_web)} | ${i.max_abs_diff == null ? '—' : i.max_abs_diff.toExponential(1)} | ${f(i.load_average_1m, 1)} |`);
    }
    lines.push('', 'CPU ms: mean CPU time per run of Chromium\'s GPU process (SwiftShader runs the kernels there) plus its renderer (the page\'s JS and wasm), read from /proc around each sample (10 ms clock ticks): the work each runtime does, which the shared machine\'s load does not stretch as it stretches wall time; it does not show how well a runtime spreads over the cores.');
    const cpuNodes = [...new Set(r.inference.gpu.flatMap((i) => i.webeval?.cpu_nodes ?? []))];
    if (cpuNodes.length) lines.push('', `On the CPU inside webeval's GPU session: ${cpuNodes.join('; ')}.`);
    const ver = r.inference.gpu.find((i) => i.onnxruntime_web?.version)?.onnxruntime_web.version;
    lines.push('', `onnxruntime-web ${ver ?? '(version unknown)'} WebGPU EP (ort.webgpu.min.mjs, asyncify wasm, graphOptimizationLevel all; nodes its WebGPU EP lacks run on its CPU EP, which the page cannot see); webeval: \`GpuModelSession.run\` (upload, whole graph, one readback; the nodes it ran on the CPU are listed above). The tree ensemble has no GPU kernel in either runtime: webeval runs it on its CPU path inside the GPU session, and onnxruntime-web's WebGPU bundle has no ai.onnx.ml operators at all, so it refuses the model (the error in the table). Timing: ${wr.timing ?? 'as in the CPU table'}.`, '');
    const g = r.inference.gemm_gpu;
    if (Array.isArray(g)) {
      // Two significant digits below 0.1 GFLOPS (the small products).
      const g2 = (x) => (x == null || Number.isNaN(x) ? '—' : x >= 0.1 ? f(x, 2) : Number(x).toPrecision(2));
      const gf = (x) => (x?.error ? 'failed' : `${f(x?.median_ms, 1)} ms, ${g2(x?.gflops)}`);
      const dated = g.some((x) => x.measured);
      lines.push('GEMM on WebGPU (GFLOPS; "kernel" = webeval\'s products recorded into one submission, one value read back, on a device opened for the size: one timing of about 0.5 s, noisier than the medians; the tile forced applies to M > 1, M = 1 always runs the matrix-vector kernel; "MatMul model" = one MatMul node run end to end, upload and readback included, in both runtimes, median ms and GFLOPS; the ratio is of the MatMul models):', '',
        // Rows rerun with --gpu-gemm carry their own date.
        `| M × N × K | webeval kernel (by size) | kernel, tile forced: 64-wide / 128 × 128 / 16-wide | webeval MatMul model | onnxruntime-web MatMul model | ratio (≥ 1 = webeval faster) |${dated ? ' measured |' : ''}`, `|---|---:|---:|---:|---:|---:|${dated ? '---|' : ''}`);
      const tiles = (t) => (t ? ['64-wide', '128x128', '16-wide'].map((k) => g2(t[k])).join(' / ') : '—');
      for (const x of g) lines.push(`| ${x.m} × ${x.n} × ${x.k} | ${x.webeval_kernel_error ? 'failed' : g2(x.webeval_kernel_gflops)} | ${tiles(x.webeval_kernel_gflops_by_tile)} | ${gf(x.webeval)} | ${gf(x.onnxruntime_web)} | ${times(x.throughput_ratio_vs_onnxruntime_web)} |${dated ? ` ${x.measured ?? wr.finished ?? '—'} |` : ''}`);
      lines.push('');
    } else if (g?.error) lines.push(`GEMM on WebGPU: failed: ${g.error}`, '');
  }
  if (r.gpu_gemm?.rows) {
    const g = r.gpu_gemm;
    const t = (s) => new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' ');
    lines.push('## GEMM kernels natively (`cargo bench --bench gpu_gemm -- --json FILE`)', '',
      `Run ${t(g.started_unix_s)} → ${t(g.finished_unix_s)} UTC, load average ${f(g.load_average_1m_at_start, 1)} → ${f(g.load_average_1m_at_end, 1)}; ${g.adapter.name} (${g.adapter.backend}, ${g.adapter.device_type}, ${g.adapter.driver}). ${g.command ?? ''}`, '',
      'GFLOPS of the kernel alone (products recorded into one submission, one value read back); each tile forced, then the choice by size:', '',
      '| M × N × K | 64-wide tile | 128 × 128 tile | 16-wide tile | by size |', '|---|---:|---:|---:|---:|');
    for (const x of g.rows) lines.push(`| ${x.m} × ${x.n} × ${x.k} | ${f(x.gflops_64, 2)} | ${f(x.gflops_128, 2)} | ${f(x.gflops_16, 2)} | ${f(x.gflops_by_size, 2)} |`);
    lines.push('');
  }
  if (r.gpu_sort?.rows) {
    const g = r.gpu_sort;
    lines.push('## The metrics\' sort on the GPU vs the CPU (`cargo bench --bench gpu_sort`, native)', '',
      `Run ${g.started} → ${g.finished}, load average ${f(g.load_average_1m_at_start, 1)} → ${f(g.load_average_1m_at_end, 1)}; ${g.adapter}. ${g.command}.${g.cpu_sort_version ? ` CPU sort: ${g.cpu_sort_version}.` : ''}`, '',
      '| n | metrics sort ms | std sort ms (keys only) | GPU upload + sort + readback ms (keys only) | GPU ÷ metrics sort time |', '|---:|---:|---:|---:|---:|');
    for (const x of g.rows) lines.push(`| ${x.n.toExponential(0)} | ${f(x.metrics_sort_ms, 1)} | ${f(x.std_sort_ms, 1)} | ${f(x.gpu_total_ms, 1)} | ${times(x.gpu_over_metrics, 1)} |`);
    lines.push('', `${g.note}.`, '');
  }
  return lines.join('\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
