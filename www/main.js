// The page: takes files (drop, picker, ?src=, examples), hands them to the worker, and renders
// the report the wasm core returns. Every number is an element with data-metric/data-value so
// tests and docs pages can read it (DESIGN.md contract).
import { Engine } from './engine.js';
import initCore, { renderPlots } from './pkg/webeval.js';

const demoUrls = {
  'breast_cancer.csv': new URL('./demo/breast_cancer.csv', import.meta.url),
  'digits.csv': new URL('./demo/digits.csv', import.meta.url),
  'diabetes.csv': new URL('./demo/diabetes.csv', import.meta.url),
};

const $ = (id) => document.getElementById(id);
const engine = new Engine();

const LABELS = {
  accuracy_score: 'Accuracy',
  balanced_accuracy_score: 'Balanced accuracy',
  precision_score: 'Precision',
  recall_score: 'Recall',
  f1_score: 'F1',
  roc_auc_score: 'ROC AUC',
  average_precision_score: 'Average precision',
  log_loss: 'Log loss',
  brier_score_loss: 'Brier score',
  matthews_corrcoef: 'Matthews corr. coef.',
  cohen_kappa_score: "Cohen's kappa",
  mean_squared_error: 'Mean squared error',
  root_mean_squared_error: 'Root mean squared error',
  mean_absolute_error: 'Mean absolute error',
  median_absolute_error: 'Median absolute error',
  mean_absolute_percentage_error: 'Mean abs. percentage error',
  r2_score: 'R²',
  explained_variance_score: 'Explained variance',
  max_error: 'Max error',
};

/** Human label for a metric key like `f1_score@macro`. */
export function metricLabel(key) {
  const [name, mode] = key.split('@');
  const base = LABELS[name] ?? name.replaceAll('_', ' ');
  return mode ? `${base} (${mode.replace('=', ' ')})` : base;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function formatNumber(v) {
  if (v === null || v === undefined) return '—';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return v.toFixed(a >= 100 ? 2 : 4);
}

/** A number cell: shows a rounded value, carries the full-precision one. */
function metricCell(key, value, tag = 'td') {
  return el(tag, {
    class: 'num',
    'data-metric': key,
    'data-value': value === null ? 'null' : String(value),
    title: value === null ? 'undefined for this data' : String(value),
    text: formatNumber(value),
  });
}

const HEADLINE = {
  binary: ['accuracy_score', 'f1_score', 'roc_auc_score', 'log_loss'],
  multiclass: ['accuracy_score', 'f1_score@macro', 'roc_auc_score@macro', 'log_loss'],
  regression: ['root_mean_squared_error', 'mean_absolute_error', 'r2_score', 'max_error'],
};

/** Plots are drawn by the core on this thread (light work; plotters needs the DOM). */
let core;
async function drawPlots(reportJson) {
  core ??= initCore();
  await core;
  return JSON.parse(renderPlots(reportJson));
}

function renderReport(report, plots, fileName) {
  const root = $('report');
  root.replaceChildren();

  const classes = (report.classes ?? []).map(String);
  const cols = report.columns;
  const detected = [
    `truth: ${cols.label}`,
    cols.pred && `prediction: ${cols.pred}`,
    cols.score && `score: ${cols.score}`,
    cols.probs?.length ? `probabilities: ${cols.probs.length} columns` : null,
    cols.weight && `weight: ${cols.weight}`,
  ].filter(Boolean);

  const summary = el('div', { class: 'card summary' },
    el('h2', { text: fileName }),
    el('p', { class: 'meta' },
      el('span', { class: 'badge', id: 'task', 'data-task': report.task, text: report.task }),
      ' ',
      el('span', { 'data-metric': 'n', 'data-value': String(report.n), text: `${report.n.toLocaleString('en-US')} rows` }),
      classes.length ? ` · ${classes.length} classes` : '',
      report.positive_class !== undefined ? ` · positive class “${report.positive_class}”` : ''),
    el('p', { class: 'columns', id: 'columns', text: `Columns — ${detected.join(', ')}` }));
  const headline = el('div', { class: 'headline' });
  for (const key of HEADLINE[report.task] ?? []) {
    if (!(key in report.metrics)) continue;
    headline.append(el('div', { class: 'tile' }, el('div', { class: 'tile-label', text: metricLabel(key) }),
      metricCell(key, report.metrics[key], 'div')));
  }
  summary.append(headline);
  for (const note of report.notes ?? []) summary.append(el('p', { class: 'note', text: `Note: ${note}` }));
  root.append(summary);

  const table = el('table', { class: 'metrics', id: 'metrics-table' },
    el('thead', {}, el('tr', {}, el('th', { text: 'Metric' }), el('th', { text: 'Key' }), el('th', { class: 'num', text: 'Value' }))));
  const body = el('tbody');
  for (const [key, value] of Object.entries(report.metrics)) {
    if (Array.isArray(value)) continue;
    body.append(el('tr', {}, el('td', { text: metricLabel(key) }), el('td', {}, el('code', { text: key })), metricCell(key, value)));
  }
  table.append(body);
  root.append(el('div', { class: 'card' }, el('h3', { text: 'Metrics' }), table));

  const cm = report.metrics.confusion_matrix;
  if (Array.isArray(cm)) {
    const t = el('table', { class: 'metrics confusion', id: 'confusion-table', 'data-metric': 'confusion_matrix', 'data-value': JSON.stringify(cm) });
    t.append(el('thead', {}, el('tr', {}, el('th', { text: 'true \\ predicted' }), ...classes.map((c) => el('th', { class: 'num', text: c })))));
    const tb = el('tbody');
    cm.forEach((row, i) => tb.append(el('tr', {}, el('th', { text: classes[i] }),
      ...row.map((v, j) => el('td', { class: i === j ? 'num diag' : 'num', text: formatNumber(v) })))));
    t.append(tb);
    root.append(el('details', { class: 'card' }, el('summary', { text: 'Confusion matrix (counts)' }), t));
  }

  if (plots?.length) {
    const grid = el('div', { class: 'plots' });
    for (const p of plots) {
      const img = el('img', { alt: p.title, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.svg)}` });
      grid.append(el('figure', { class: 'card plot', id: `plot-${p.id}` }, el('figcaption', { text: p.title }), img));
    }
    root.append(grid);
  }

  if (report.per_class?.length) {
    const t = el('table', { class: 'metrics', id: 'per-class' }, el('thead', {}, el('tr', {},
      ...['Class', 'Precision', 'Recall', 'F1', 'Support'].map((h, i) => el('th', { class: i ? 'num' : null, text: h })))));
    const tb = el('tbody');
    for (const row of report.per_class) {
      tb.append(el('tr', {}, el('td', { text: row.class }),
        ...['precision', 'recall', 'f1', 'support'].map((f) => metricCell(`per_class.${row.class}.${f}`, row[f]))));
    }
    t.append(tb);
    root.append(el('div', { class: 'card' }, el('h3', { text: 'Per class' }), t));
  }
  root.hidden = false;
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
  $('progress-text').textContent = `${msg.phase ?? 'working'}${rows}`;
}

async function evaluateFile(file) {
  showError('');
  showProgress({ phase: 'starting', done: 0, total: file.size });
  document.body.dataset.state = 'busy';
  try {
    const json = await engine.evaluate(file, {}, showProgress);
    const report = JSON.parse(json);
    let plots = [];
    try {
      plots = await drawPlots(json);
    } catch (err) {
      report.notes = [...(report.notes ?? []), `plots could not be drawn: ${err.message}`];
    }
    renderReport(report, plots, file.name);
    document.body.dataset.state = 'done';
  } catch (err) {
    document.body.dataset.state = 'error';
    if (!err.cancelled) {
      $('report').hidden = true;
      showError(err.message);
    }
  } finally {
    showProgress(null);
  }
}

async function handleFiles(files) {
  const list = [...files];
  if (!list.length) return;
  // Several files: the predictions file is evaluated; models arrive with the runtime.
  await evaluateFile(list[0]);
}

async function loadDemo(name) {
  const url = demoUrls[name];
  const blob = await (await fetch(url)).blob();
  await evaluateFile(new File([blob], name, { type: 'text/csv' }));
}

function wire() {
  const input = $('file-input');
  input.addEventListener('change', () => handleFiles(input.files));
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
  engine.version().then((v) => { $('version').textContent = `v${v}`; }).catch(() => {});
  const src = new URLSearchParams(location.search).get('demo');
  if (src && demoUrls[src]) loadDemo(src);
  document.body.dataset.ready = 'true';
}

wire();
