// The page: takes files (drop, picker, ?src=, examples), hands them to the worker, and renders
// the report the wasm core returns (rendering in report.js, shared with <webeval-report>).
import { Engine } from './engine.js';
import initCore, * as wasm from './pkg/webeval.js';
import { coreWasmUrl } from './core.js';
import { renderReport, renderModelCard, renderComparison, speedCard } from './report.js';
import { renderMapping } from './mapping.js';

const demoUrls = {
  'breast_cancer.csv': new URL('./demo/breast_cancer.csv', import.meta.url),
  'digits.csv': new URL('./demo/digits.csv', import.meta.url),
  'diabetes.csv': new URL('./demo/diabetes.csv', import.meta.url),
  'digits_mlp.onnx': new URL('./demo/digits_mlp.onnx', import.meta.url),
  'digits_data.csv': new URL('./demo/digits_data.csv', import.meta.url),
};

const $ = (id) => document.getElementById(id);
const engine = new Engine();

/** The core on this thread: plots (plotters needs the DOM) and the threshold slider. */
let coreReady;
async function core() {
  coreReady ??= initCore({ module_or_path: coreWasmUrl });
  await coreReady;
  return wasm;
}

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

function showProgress(msg) {
  const wrap = $('progress');
  wrap.hidden = msg === null;
  if (!msg) return;
  const bar = $('progress-bar');
  if (msg.total) bar.value = Math.min(1, msg.done / msg.total);
  else bar.removeAttribute('value');
  const rows = msg.rows ? ` · ${msg.rows.toLocaleString('en-US')} rows` : '';
  const workers = msg.workers > 1 ? ` · ${msg.workers} workers` : '';
  const pct = msg.total ? ` · ${Math.round((100 * msg.done) / msg.total)}%` : '';
  $('progress-text').textContent = `${msg.phase ?? 'working'}${pct}${rows}${workers}`;
}

const isModel = (f) => /\.onnx$/i.test(f.name);
/** Datasets and predictions files; anything else dropped beside a model is its external data. */
const isData = (f) => /\.(csv|tsv|txt|json|jsonl|npy|npz|parquet|gz|zip|png|jpe?g)$/i.test(f.name);

/** The model card, re-inspected at another batch size when the card's batch control changes. */
async function showModelCard(model, external, options = {}) {
  const card = JSON.parse(await engine.inspect(model, showProgress, { external, options }));
  const onBatch = (batch) => withBusy(() => showModelCard(model, external, { ...options, batch }));
  renderModelCard($('report'), card, model.name, { onBatch });
  const extNote = Object.keys(external).length ? ` with external data ${Object.keys(external).join(', ')}` : '';
  $('status').textContent = `Model card for ${model.name}${extNote}, batch ${card.batch}.`;
}

function options() {
  const nonFinite = $('non-finite-select').value;
  return { ...($('ci-toggle').checked ? { ci: 0.95 } : {}), ...(nonFinite === 'skip' ? { nonFinite } : {}) };
}

async function evaluate(file, mapping = {}) {
  const json = await engine.evaluate(file, { ...options(), ...mapping }, showProgress);
  return { json, report: JSON.parse(json), fileName: file.name };
}

/** Files whose columns come from a header (the mapping panel applies), not arrays or images. */
const hasHeader = (f) => /\.(csv|tsv|txt|json|jsonl|ndjson)(\.gz)?$|\.parquet$/i.test(f.name);

/** The last predictions file evaluated, and the mapping it was evaluated with. */
let current = null;

/** Ask for the columns of `file` in the mapping panel; resolves when the user evaluates. */
async function askColumns(file, mapping, detected) {
  detected ??= JSON.parse(await engine.columns(file, mapping));
  const panel = $('mapping');
  $('report').hidden = true;
  $('columns-button').hidden = true;
  $('status').textContent = `Check the columns of ${file.name}.`;
  document.body.dataset.state = 'mapping';
  renderMapping(panel, detected, {
    onApply: (chosen) => {
      panel.hidden = true;
      withBusy(() => evaluateFile(file, chosen, true));
    },
    onCancel: () => {
      panel.hidden = true;
      document.body.dataset.state = 'cancelled';
      $('status').textContent = 'Column mapping closed; nothing was evaluated.';
    },
  });
}

/**
 * Evaluate one predictions file. Unless a mapping was chosen, the columns are detected first
 * and, when detection is unsure, the mapping panel asks instead of guessing.
 * Returns false when the panel was shown (nothing evaluated yet).
 */
async function evaluateFile(file, mapping = {}, chosen = false) {
  if (!chosen && hasHeader(file)) {
    let detected = null;
    try {
      detected = JSON.parse(await engine.columns(file, { ...options(), ...mapping }));
    } catch {
      // Unreadable head: the evaluation below reports the specific error.
    }
    if (detected && (detected.error || detected.problems.length)) {
      await askColumns(file, mapping, detected);
      return false;
    }
  }
  await showReport(await evaluate(file, mapping));
  current = { file, mapping };
  $('columns-button').hidden = !hasHeader(file);
  return true;
}

/** Columns that join predictions to labels when both files have one (and it has no role). */
const ID_NAMES = ['id', 'row_id', 'sample_id', 'example_id', 'index', 'key', 'uid'];

/**
 * Two files where one has the predictions but no true label and the other the true labels but
 * nothing predicted: a predictions file and its labels file, not two runs to compare. Returns
 * {predictions, labels, id} (id: a shared id column to join on, else rows match in order) or null.
 */
async function labelsPair(files) {
  const described = await Promise.all(files.map((f) => engine.columns(f, {}).then(JSON.parse, () => null)));
  if (described.some((d) => !d)) return null;
  const hasRole = (d, roles) => d.columns.some((c) => roles.includes(c.role));
  const isLabels = (d) => !d.error && hasRole(d, ['label']) && !hasRole(d, ['pred', 'score', 'prob', 'truth_indicator']);
  const isPredictions = (d) => !!d.error && /no true-label column/.test(d.error);
  const at = [0, 1].find((i) => isLabels(described[i]) && isPredictions(described[1 - i]));
  if (at === undefined) return null;
  const [labels, predictions] = [described[at], described[1 - at]];
  const free = (d) => new Set(d.columns.filter((c) => !c.role).map((c) => c.name));
  const shared = [...free(labels)].filter((n) => free(predictions).has(n));
  const id = shared.find((n) => ID_NAMES.includes(n.toLowerCase())) ?? (shared.length === 1 ? shared[0] : undefined);
  return { predictions: files[1 - at], labels: files[at], id };
}

async function withBusy(work) {
  showError('');
  $('mapping').hidden = true;
  $('columns-button').hidden = true;
  showProgress({ phase: 'starting', done: 0, total: 0 });
  document.body.dataset.state = 'busy';
  $('empty').hidden = true;
  try {
    if ((await work()) === false) return; // waiting for the user (column mapping)
    document.body.dataset.wasmMemory = String(engine.memoryBytes ?? 0);
    document.body.dataset.state = 'done';
  } catch (err) {
    if (err.cancelled) {
      document.body.dataset.state = 'cancelled';
      showError('');
      $('status').textContent = 'Cancelled. Nothing was kept; choose a file to start again.';
    } else {
      document.body.dataset.state = 'error';
      $('report').hidden = true;
      showError(err.message);
    }
  } finally {
    showProgress(null);
  }
}

async function showReport(r) {
  const c = await core();
  let plots = [];
  try {
    plots = JSON.parse(c.renderPlots(r.json));
  } catch (err) {
    r.report.notes = [...(r.report.notes ?? []), `plots could not be drawn: ${err.message}`];
  }
  renderReport($('report'), { ...r, plots, core: c });
  $('status').textContent = `Report for ${r.fileName}: ${r.report.task}, ${r.report.n} rows.`;
}

async function handleFiles(files) {
  const list = [...files];
  if (!list.length) return;
  current = null;
  await withBusy(async () => {
    const models = list.filter(isModel);
    // Beside a model, files that are not data are its external-data files (keyed by name).
    const companions = models.length ? list.filter((f) => !isModel(f) && !isData(f)) : [];
    const external = Object.fromEntries(companions.map((f) => [f.name, f]));
    const preds = list.filter((f) => !isModel(f) && !companions.includes(f));
    if (models.length && !preds.length) {
      await showModelCard(models[0], external);
      return;
    }
    if (models.length) {
      const device = document.getElementById('device-select')?.value || 'auto';
      const preset = document.getElementById('image-preset')?.value || 'unit';
      const out = JSON.parse(await engine.run(models[0], preds[0], { device, image: { preset } }, showProgress, { external }));
      if (!out.report) {
        throw new Error(`${preds[0].name} has no true-label column (label/y_true/target), so ${models[0].name}'s predictions cannot be scored; add one to get a report.`);
      }
      const json = JSON.stringify(out.report);
      await showReport({ json, report: out.report, fileName: `${models[0].name} on ${preds[0].name}` });
      $('report').children[0].after(speedCard(out.speed));
      return;
    }
    const pair = preds.length === 2 ? await labelsPair(preds) : null;
    if (pair) {
      const json = await engine.withLabels(pair.predictions, pair.labels, { ...options(), id: pair.id }, showProgress);
      await showReport({ json, report: JSON.parse(json), fileName: `${pair.predictions.name} with labels from ${pair.labels.name}` });
      return;
    }
    if (preds.length >= 2) {
      const out = JSON.parse(await engine.compare(preds[0], preds[1], options(), showProgress));
      const a = { report: out.a, fileName: preds[0].name };
      const b = { report: out.b, fileName: preds[1].name };
      renderComparison($('report'), a, b, out.paired, out.paired_note);
      $('status').textContent = `Comparison of ${a.fileName} and ${b.fileName}.`;
      return;
    }
    return evaluateFile(preds[0]);
  });
}

async function loadUrl(url, name) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${name}: HTTP ${res.status}`);
      if ((res.headers.get('content-type') ?? '').startsWith('text/html')) throw new Error(`${name} is a web page, not a data file: is the path right?`);
  const blob = await res.blob();
  return new File([blob], name, { type: blob.type || 'text/csv' });
}

async function loadDemo(names) {
  document.body.dataset.state = 'busy';
  let files;
  try {
    files = await Promise.all(names.split(' ').map((name) => loadUrl(demoUrls[name], name)));
  } catch (err) {
    showError(`The example could not be loaded (${err.message}). If you are offline, open the page once online first.`);
    document.body.dataset.state = 'error';
    return;
  }
  await handleFiles(files);
}

/** `?src=` loads a same-origin file (the CSP forbids others anyway; say so clearly). */
async function loadSrc(src) {
  let url;
  try { url = new URL(src, location.href); } catch { url = null; }
  if (!url || url.origin !== location.origin) {
    showError(`?src= must name a file on this site (${location.origin}); '${src}' is elsewhere. Files from other sites are never fetched: download it and drop it here instead.`);
    document.body.dataset.state = 'error';
    return;
  }
  try {
    await handleFiles([await loadUrl(url, decodeURIComponent(url.pathname.split('/').pop() || 'file'))]);
  } catch (err) {
    showError(err.message);
    document.body.dataset.state = 'error';
  }
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const btn = $('theme-toggle');
  btn.setAttribute('aria-pressed', String(theme === 'dark'));
  btn.textContent = theme === 'dark' ? 'Light theme' : 'Dark theme';
  try { localStorage.setItem('webeval-theme', theme); } catch { /* private mode */ }
}

function wire() {
  const input = $('file-input');
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = ''; // picking the same file again (say, after changing an option) runs again
    handleFiles(files);
  });
  const zone = $('drop-zone');
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add('over'); });
  }
  for (const type of ['dragleave', 'drop']) {
    zone.addEventListener(type, () => zone.classList.remove('over'));
  }
  zone.addEventListener('drop', (e) => { e.preventDefault(); handleFiles(e.dataTransfer.files); });
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
  });
  for (const button of document.querySelectorAll('[data-demo]')) {
    button.addEventListener('click', () => loadDemo(button.dataset.demo));
  }
  $('cancel-button').addEventListener('click', () => engine.cancel());
  $('columns-button').addEventListener('click', () => {
    if (current) askColumns(current.file, { ...options(), ...current.mapping }).catch((err) => showError(err.message));
  });
  let stored = null;
  try { stored = localStorage.getItem('webeval-theme'); } catch { /* private mode */ }
  setTheme(stored ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  $('theme-toggle').addEventListener('click', () => setTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
  // Interactive = the engine (worker + wasm) answered; benches/startup.mjs reads this mark.
  engine.version().then((v) => {
    $('version').textContent = `v${v}`;
    document.body.dataset.interactiveMs = String(performance.now());
  }).catch(() => {});
  const params = new URLSearchParams(location.search);
  const demo = params.get('demo');
  const src = params.get('src');
  if (demo && demoUrls[demo]) loadDemo(demo);
  else if (src) loadSrc(src);
  if (import.meta.env.PROD && 'serviceWorker' in navigator) {
    // (a page the service worker controlled from the start has a worker whose loads passed
    // through it already)
    const controlledAtLoad = navigator.serviceWorker.controller !== null;
    navigator.serviceWorker.register('./sw.js').then(() => navigator.serviceWorker.ready).then(async (reg) => {
      await core();
      const loaded = performance.getEntriesByType('resource').map((e) => e.name);
      reg.active?.postMessage({ cache: [location.href.split('?')[0], ...Object.values(demoUrls).map(String), ...loaded] });
      // On a first visit the worker started before this service worker controlled the page;
      // once it does, restart an idle worker so its script and the wasm it loads pass through
      // (and are cached). Every visit: the worker fetches the scripts it loads only later (a
      // new build's names are cached too).
      if (!navigator.serviceWorker.controller) {
        await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
      }
      if (!controlledAtLoad && engine.pending.size === 0) engine.restart();
      await engine.warm();
      document.body.dataset.offline = 'ready';
    }).catch(() => {});
  }
  document.body.dataset.ready = 'true';
}

wire();
