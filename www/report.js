// Rendering of a report (the CLI's JSON object) into DOM, shared by the page and the
// <webeval-report> element. Every number is an element with data-metric/data-value (full
// precision) so tests and docs pages can read it (DESIGN.md contract); with intervals the
// element also carries data-ci-low/data-ci-high.

const LABELS = {
  accuracy_score: 'Accuracy',
  balanced_accuracy_score: 'Balanced accuracy',
  precision_score: 'Precision',
  recall_score: 'Recall',
  f1_score: 'F1',
  fbeta_score: 'F-beta',
  jaccard_score: 'Jaccard',
  roc_auc_score: 'ROC AUC',
  average_precision_score: 'Average precision',
  log_loss: 'Log loss',
  brier_score_loss: 'Brier score',
  matthews_corrcoef: 'Matthews corr. coef.',
  cohen_kappa_score: "Cohen's kappa",
  hamming_loss: 'Hamming loss',
  zero_one_loss: 'Zero-one loss',
  top_k_accuracy_score: 'Top-k accuracy',
  expected_calibration_error: 'Expected calibration error',
  maximum_calibration_error: 'Maximum calibration error',
  mean_squared_error: 'Mean squared error',
  root_mean_squared_error: 'Root mean squared error',
  mean_absolute_error: 'Mean absolute error',
  median_absolute_error: 'Median absolute error',
  mean_absolute_percentage_error: 'Mean abs. percentage error',
  r2_score: 'R²',
  explained_variance_score: 'Explained variance',
  max_error: 'Max error',
  coverage_error: 'Coverage error',
  label_ranking_average_precision_score: 'Label ranking avg. precision',
  label_ranking_loss: 'Label ranking loss',
};

/** Human label for a metric key like `f1_score@macro`. */
export function metricLabel(key) {
  const [name, mode] = key.split('@');
  const base = LABELS[name] ?? name.replaceAll('_', ' ');
  return mode ? `${base} (${mode.replaceAll('=', ' ').replaceAll(',', ', ')})` : base;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return v.toFixed(a >= 100 ? 2 : 4);
}

/** A metric's point value and interval, whether or not intervals were computed. */
export function split(value) {
  if (value && typeof value === 'object' && !Array.isArray(value) && 'value' in value) {
    return { value: value.value, low: value.ci_low, high: value.ci_high, method: value.ci_method };
  }
  return { value };
}

/** A number cell: shows a rounded value (± half the interval), carries the full-precision one. */
export function metricCell(key, raw, tag = 'td') {
  const { value, low, high, method } = split(raw);
  const hasCi = low !== undefined && low !== null && high !== null && high !== undefined;
  const node = el(tag, {
    class: 'num',
    'data-metric': key,
    'data-value': value === null || value === undefined ? 'null' : String(value),
    'data-ci-low': hasCi ? String(low) : null,
    'data-ci-high': hasCi ? String(high) : null,
    title: value === null ? 'undefined for this data' : hasCi ? `${value} (interval ${low} – ${high}, ${method})` : String(value),
    text: formatNumber(value),
  });
  if (hasCi) {
    node.append(el('span', { class: 'ci', text: ` ± ${formatNumber((high - low) / 2)}` }));
  }
  return node;
}

const HEADLINE = {
  binary: ['accuracy_score', 'f1_score', 'roc_auc_score', 'average_precision_score', 'log_loss'],
  multiclass: ['accuracy_score', 'f1_score@macro', 'roc_auc_score@macro', 'log_loss'],
  multilabel: ['accuracy_score', 'f1_score@micro', 'f1_score@macro', 'hamming_loss', 'roc_auc_score@macro',
    'label_ranking_average_precision_score'],
  regression: ['root_mean_squared_error', 'mean_absolute_error', 'r2_score', 'max_error'],
};

const PER_CLASS = [
  ['precision', 'Precision'], ['recall', 'Recall'], ['f1', 'F1'], ['specificity', 'Specificity'],
  ['npv', 'NPV'], ['fpr', 'FPR'], ['fnr', 'FNR'], ['jaccard', 'Jaccard'], ['support', 'Support'],
];

const THRESHOLD_FIELDS = [
  ['precision', 'Precision'], ['recall', 'Recall'], ['f1', 'F1'], ['specificity', 'Specificity'],
  ['fpr', 'False positive rate'], ['accuracy', 'Accuracy'], ['balanced_accuracy', 'Balanced accuracy'],
  ['youden_j', "Youden's J"], ['matthews_corrcoef', 'MCC'], ['tp', 'TP'], ['fp', 'FP'], ['fn', 'FN'], ['tn', 'TN'],
];

function svgDataUrl(svg) {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function download(name, type, data) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

async function svgToPng(svg) {
  const img = new Image();
  img.src = svgDataUrl(svg);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth * 2;
  canvas.height = img.naturalHeight * 2;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

/** Reliability diagram from the report's calibration bins (drawn here: small and static). */
export function reliabilitySvg(calibration) {
  const W = 460, H = 400, L = 52, B = 44, T = 14, R = 14;
  const x = (v) => L + v * (W - L - R);
  const y = (v) => H - B - v * (H - B - T);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - B - T}" fill="none" stroke="#999"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`];
  for (let t = 0; t <= 1.0001; t += 0.2) {
    parts.push(`<text x="${x(t)}" y="${H - B + 16}" font-size="12" text-anchor="middle" font-family="sans-serif">${t.toFixed(1)}</text>`);
    parts.push(`<text x="${L - 6}" y="${y(t) + 4}" font-size="12" text-anchor="end" font-family="sans-serif">${t.toFixed(1)}</text>`);
  }
  const total = calibration.bins.reduce((s, b) => s + b.weight, 0) || 1;
  const pts = [];
  for (const b of calibration.bins) {
    if (!b.weight) continue;
    const h = (b.weight / total) * 0.25;
    parts.push(`<rect x="${x(b.lower) + 1}" y="${y(h)}" width="${x(b.upper) - x(b.lower) - 2}" height="${y(0) - y(h)}" fill="#c7d7f5"/>`);
    if (b.mean_predicted !== null && b.fraction_positive !== null) pts.push([b.mean_predicted, b.fraction_positive]);
  }
  if (pts.length) {
    parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${pts.map(([a, b]) => `${x(a)},${y(b)}`).join(' ')}"/>`);
    for (const [a, b] of pts) parts.push(`<circle cx="${x(a)}" cy="${y(b)}" r="3.5" fill="#1f77b4"/>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="14" text-anchor="middle" font-family="sans-serif">mean predicted (${calibration.kind})</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" font-size="14" text-anchor="middle" font-family="sans-serif">observed fraction</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function plotFigure(p) {
  const img = el('img', { alt: p.title, src: svgDataUrl(p.svg) });
  const slug = p.id;
  return el('figure', { class: 'card plot', id: `plot-${p.id}` },
    el('figcaption', {}, el('span', { text: p.title }),
      el('span', { class: 'plot-actions' },
        el('button', { type: 'button', class: 'small', 'data-export': `svg-${slug}`, 'aria-label': `Download ${p.title} as SVG`, text: 'SVG',
          onclick: () => download(`${slug}.svg`, 'image/svg+xml', p.svg) }),
        el('button', { type: 'button', class: 'small', 'data-export': `png-${slug}`, 'aria-label': `Download ${p.title} as PNG`, text: 'PNG',
          onclick: async () => download(`${slug}.png`, 'image/png', await svgToPng(p.svg)) }))),
    img);
}

/** The metric table as tab-separated text (pastes into spreadsheets). */
export function metricsTsv(report) {
  const lines = ['metric\tkey\tvalue\tci_low\tci_high'];
  for (const [key, raw] of Object.entries(report.metrics)) {
    if (Array.isArray(raw)) continue;
    const { value, low, high } = split(raw);
    lines.push([metricLabel(key), key, value ?? '', low ?? '', high ?? ''].join('\t'));
  }
  return lines.join('\n');
}

/** The report as Markdown: summary, metric table, per-class table, confusion matrix. */
export function toMarkdown(report, fileName) {
  const out = [`# webeval report: ${fileName}`, '',
    `- task: ${report.task}`, `- rows: ${report.n}`];
  if (report.classes?.length) out.push(`- classes: ${report.classes.join(', ')}`);
  if (report.ci) out.push(`- intervals: ${report.ci.level * 100}% (bootstrap ${report.ci.replicates} replicates, seed ${report.ci.seed}; analytic where available)`);
  for (const n of report.notes ?? []) out.push(`- note: ${n}`);
  out.push('', '## Metrics', '', report.ci ? '| metric | key | value | interval |' : '| metric | key | value |',
    report.ci ? '| --- | --- | ---: | --- |' : '| --- | --- | ---: |');
  for (const [key, raw] of Object.entries(report.metrics)) {
    if (Array.isArray(raw)) continue;
    const { value, low, high } = split(raw);
    const row = [metricLabel(key), `\`${key}\``, value === null ? 'n/a' : String(value)];
    if (report.ci) row.push(low !== undefined && low !== null ? `${low} – ${high}` : '');
    out.push(`| ${row.join(' | ')} |`);
  }
  if (report.per_class?.length) {
    out.push('', '## Per class', '', `| class | ${PER_CLASS.map(([, h]) => h).join(' | ')} |`,
      `| --- | ${PER_CLASS.map(() => '---:').join(' | ')} |`);
    for (const r of report.per_class) out.push(`| ${r.class} | ${PER_CLASS.map(([f]) => r[f] ?? 'n/a').join(' | ')} |`);
  }
  const cm = report.metrics.confusion_matrix;
  if (Array.isArray(cm)) {
    const classes = report.classes.map(String);
    out.push('', '## Confusion matrix (rows: true, columns: predicted)', '', `| | ${classes.join(' | ')} |`,
      `| --- | ${classes.map(() => '---:').join(' | ')} |`);
    cm.forEach((row, i) => out.push(`| **${classes[i]}** | ${row.join(' | ')} |`));
  }
  out.push('');
  return out.join('\n');
}

/** A single self-contained HTML file: the rendered report with the page's styles inlined. */
export function toHtml(root, fileName) {
  const css = [...document.styleSheets].map((s) => {
    try { return [...s.cssRules].map((r) => r.cssText).join('\n'); } catch { return ''; }
  }).join('\n');
  const clone = root.cloneNode(true);
  for (const b of clone.querySelectorAll('button, input, .toolbar, .plot-actions')) b.remove();
  const title = `webeval report: ${fileName}`.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`
    + `<title>${title}</title><style>${css}</style></head><body><main><section class="report">${clone.innerHTML}</section></main></body></html>`;
}

function confusionCard(report, classes) {
  const modes = [
    ['counts', 'Counts', 'confusion_matrix'],
    ['true', 'Normalised by true class', 'confusion_matrix@normalize=true'],
    ['pred', 'Normalised by predicted', 'confusion_matrix@normalize=pred'],
    ['all', 'Normalised over all', 'confusion_matrix@normalize=all'],
  ].filter(([, , key]) => Array.isArray(report.metrics[key]));
  const cm = report.metrics.confusion_matrix;
  const t = el('table', { class: 'metrics confusion', id: 'confusion-table', 'data-metric': 'confusion_matrix', 'data-value': JSON.stringify(cm), 'data-mode': 'counts' });
  t.append(el('caption', { class: 'sr-only', text: 'Confusion matrix: rows are true classes, columns predicted classes' }));
  t.append(el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'true \\ predicted' }), ...classes.map((c) => el('th', { scope: 'col', class: 'num', text: c })))));
  const tb = el('tbody');
  t.append(tb);
  const cells = new Map((report.examples?.cells ?? []).map((c) => [`${c.truth}\u0000${c.pred}`, c]));
  const panel = el('div', { id: 'cell-rows', class: 'cell-rows', 'aria-live': 'polite', hidden: true });
  const show = (i, j) => {
    const c = cells.get(`${classes[i]}\u0000${classes[j]}`);
    const head = `True ${classes[i]}, predicted ${classes[j]}`;
    if (!c) {
      panel.replaceChildren(el('p', { text: `${head}: no rows.` }));
    } else {
      panel.replaceChildren(
        el('p', {}, el('strong', { text: head }), ` — showing ${c.rows.length} of ${c.count.toLocaleString('en-US')} row${c.count === 1 ? '' : 's'}`,
          c.rows.length < c.count ? ' (the first ones in the file)' : ''),
        el('ul', { class: 'row-list', 'aria-label': `${head}: rows` }, ...c.rows.map(([row, line]) => el('li', { 'data-row': String(row), text: `row ${row} (line ${line})` }))));
    }
    panel.dataset.cell = `${i},${j}`;
    panel.hidden = false;
  };
  const clickable = cells.size > 0;
  const fill = (key, mode) => {
    const m = report.metrics[key];
    const max = Math.max(...m.flat(), 1e-12);
    tb.replaceChildren(...m.map((row, i) => el('tr', {}, el('th', { scope: 'row', text: classes[i] }),
      ...row.map((v, j) => {
        const td = el('td', { class: i === j ? 'num diag' : 'num', text: mode === 'counts' ? formatNumber(v) : v.toFixed(3), 'data-cell': `${i},${j}` });
        if (clickable) {
          td.tabIndex = 0;
          td.setAttribute('role', 'button');
          td.setAttribute('aria-label', `List rows with true ${classes[i]} and predicted ${classes[j]}`);
          td.addEventListener('click', () => show(i, j));
          td.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); show(i, j); } });
        }
        td.style.setProperty('--shade', String(v / max));
        return td;
      }))));
    t.dataset.mode = mode;
  };
  fill('confusion_matrix', 'counts');
  const group = el('div', { class: 'toolbar', role: 'radiogroup', 'aria-label': 'Confusion matrix values' });
  for (const [mode, label, key] of modes) {
    const id = `cm-mode-${mode}`;
    const input = el('input', { type: 'radio', name: 'cm-mode', id, value: mode, checked: mode === 'counts',
      onchange: () => fill(key, mode) });
    group.append(el('label', { for: id, class: 'radio' }, input, ` ${label}`));
  }
  return el('div', { class: 'card', id: 'confusion-card' }, el('h3', { text: 'Confusion matrix' }), group, el('div', { class: 'scroll' }, t),
    clickable ? el('p', { class: 'meta', text: 'Click a cell (or focus it and press Enter) to list its rows.' }) : null, panel);
}

function thresholdCard(report, core) {
  const th = report.thresholds;
  const ts = th.table.thresholds.filter(Number.isFinite);
  if (!ts.length) return null;
  const lo = Math.min(...ts), hi = Math.max(...ts);
  const step = (hi - lo) / 1000 || 0.001;
  const tableJson = JSON.stringify(th.table);
  const slider = el('input', { type: 'range', id: 'threshold-slider', min: String(lo), max: String(hi), step: String(step),
    value: String(Math.min(hi, Math.max(lo, th.default.threshold))), 'aria-label': 'Decision threshold' });
  const shown = el('output', { id: 'threshold-value', for: 'threshold-slider' });
  const cells = new Map();
  const table = el('table', { class: 'metrics', id: 'threshold-table' }, el('tbody', {}, ...THRESHOLD_FIELDS.map(([f, label]) => {
    const td = el('td', { class: 'num', 'data-metric': `threshold.${f}` });
    cells.set(f, td);
    return el('tr', {}, el('td', { text: label }), td);
  })));
  const update = (t) => {
    const m = core ? JSON.parse(core.metricsAtThreshold(tableJson, t)) : null;
    if (!m) return;
    shown.textContent = `score ≥ ${formatNumber(t)}`;
    shown.dataset.value = String(t);
    for (const [f, td] of cells) {
      const v = m[f];
      td.dataset.value = v === null || v === undefined ? 'null' : String(v);
      td.textContent = formatNumber(v);
    }
  };
  slider.addEventListener('input', () => update(Number(slider.value)));
  const jump = (name, at) => at && el('button', { type: 'button', class: 'small', 'data-jump': name,
    text: `${name} (${formatNumber(at.threshold)})`, onclick: () => { slider.value = String(at.threshold); update(at.threshold); } });
  update(Number(slider.value));
  return el('div', { class: 'card', id: 'threshold-card' },
    el('h3', { text: 'Threshold explorer' }),
    el('p', { class: 'meta', text: 'Rows with a score at or above the threshold count as positive. Every metric below follows the slider.' }),
    el('div', { class: 'slider-row' }, slider, shown),
    el('div', { class: 'toolbar' }, jump('Default', th.default), jump('Best F1', th.best_f1), jump('Youden', th.youden)),
    table);
}

/** The worst rows: most confident mistakes (classification) or largest errors (regression). */
function worstCard(report) {
  const ex = report.examples;
  if (!ex?.worst?.length) return null;
  const regression = report.task === 'regression';
  const cols = [['row', 'Row'], ['line', 'Line'], ['truth', 'True'], ['pred', 'Predicted']];
  if (!regression && report.task !== 'multilabel') cols.push(['score', report.task === 'binary' ? 'Score' : 'P(true class)']);
  cols.push(['loss', regression ? 'Abs. error' : 'Loss']);
  const t = el('table', { class: 'metrics', id: 'worst-rows' },
    el('caption', { class: 'sr-only', text: regression ? 'Rows with the largest errors' : 'Most confident mistakes' }),
    el('thead', {}, el('tr', {}, ...cols.map(([k, h]) => el('th', { scope: 'col', class: ['truth', 'pred'].includes(k) ? null : 'num', text: h })))),
    el('tbody', {}, ...ex.worst.map((r) => el('tr', { 'data-row': String(r.row) }, ...cols.map(([k]) => {
      const v = r[k];
      if (typeof v === 'number' && !['row', 'line'].includes(k)) return el('td', { class: 'num', 'data-value': String(v), text: formatNumber(v) });
      // a multilabel row's truth and prediction are label sets
      const text = Array.isArray(v) ? `{${v.join(', ')}}` : String(v ?? '—');
      return el('td', { class: ['truth', 'pred'].includes(k) ? null : 'num', text });
    })))));
  return el('div', { class: 'card', id: 'worst-card' },
    el('h3', { text: regression ? 'Largest errors' : 'Most confident mistakes' }),
    el('p', { class: 'meta', text: `The ${ex.worst.length} worst rows by ${ex.worst_by}. Row counts data rows from 0; line is the line in the file.` }),
    el('div', { class: 'scroll' }, t));
}

/**
 * Render `report` into `root`. `plots` from the core's renderPlots; `core` (the wasm module,
 * initialised) powers the threshold slider. `json` is the report text as the worker returned it.
 */
export function renderReport(root, { report, json, plots, fileName, core }) {
  root.replaceChildren();
  const classes = (report.classes ?? []).map(String);
  const cols = report.columns;
  const multilabel = report.task === 'multilabel';
  const detected = [
    multilabel ? `truth: ${cols.labels?.length ?? 0} label columns (${cols.labels?.[0]}, …)` : `truth: ${cols.label}`,
    cols.preds?.length ? `predictions: ${cols.preds.length} label columns` : null,
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
      classes.length ? ` · ${classes.length} ${multilabel ? 'labels' : 'classes'}` : '',
      report.positive_class !== undefined ? ` · positive class “${report.positive_class}”` : '',
      report.ci ? ` · ± is half the ${Math.round(report.ci.level * 100)}% interval` : ''),
    el('p', { class: 'columns', id: 'columns', text: `Columns — ${detected.join(', ')}` }));
  const headline = el('div', { class: 'headline', id: 'headline' });
  for (const key of HEADLINE[report.task] ?? []) {
    if (!(key in report.metrics)) continue;
    headline.append(el('div', { class: 'tile' }, el('div', { class: 'tile-label', text: metricLabel(key) }),
      metricCell(key, report.metrics[key], 'div')));
  }
  summary.append(headline);
  for (const note of report.notes ?? []) summary.append(el('p', { class: 'note', text: `Note: ${note}` }));
  root.append(summary);

  const exports = el('div', { class: 'card toolbar exports', id: 'exports', role: 'group', 'aria-label': 'Export the report' },
    el('span', { text: 'Export:' }),
    el('button', { type: 'button', 'data-export': 'json', text: 'JSON', onclick: () => download(`${fileName}.report.json`, 'application/json', json) }),
    el('button', { type: 'button', 'data-export': 'markdown', text: 'Markdown', onclick: () => download(`${fileName}.report.md`, 'text/markdown', toMarkdown(report, fileName)) }),
    el('button', { type: 'button', 'data-export': 'html', text: 'HTML', onclick: () => download(`${fileName}.report.html`, 'text/html', toHtml(root, fileName)) }),
    el('button', { type: 'button', 'data-export': 'copy', text: 'Copy metric table',
      onclick: async (e) => {
        try { await navigator.clipboard.writeText(metricsTsv(report)); e.target.textContent = 'Copied'; } catch (err) { e.target.textContent = `Copy failed: ${err.message}`; }
        setTimeout(() => { e.target.textContent = 'Copy metric table'; }, 2000);
      } }));
  root.append(exports);

  const table = el('table', { class: 'metrics', id: 'metrics-table' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Metric' }), el('th', { scope: 'col', text: 'Key' }), el('th', { scope: 'col', class: 'num', text: report.ci ? 'Value ± half interval' : 'Value' }))));
  const body = el('tbody');
  for (const [key, value] of Object.entries(report.metrics)) {
    if (Array.isArray(value)) continue;
    body.append(el('tr', {}, el('td', { text: metricLabel(key) }), el('td', {}, el('code', { text: key })), metricCell(key, value)));
  }
  table.append(body);
  root.append(el('div', { class: 'card' }, el('h3', { text: 'Metrics' }), el('div', { class: 'scroll' }, table)));

  if (report.per_class?.length) {
    const fields = PER_CLASS.filter(([f]) => report.per_class.some((r) => f in r));
    // multilabel: each label's 2x2 matrix (multilabel_confusion_matrix) beside its rates
    const mcm = Array.isArray(report.metrics.multilabel_confusion_matrix) ? report.metrics.multilabel_confusion_matrix : null;
    const cells = mcm ? [['tp', 'TP', 1, 1], ['fp', 'FP', 0, 1], ['fn', 'FN', 1, 0], ['tn', 'TN', 0, 0]] : [];
    const t = el('table', { class: 'metrics', id: 'per-class' }, el('thead', {}, el('tr', {},
      el('th', { scope: 'col', text: multilabel ? 'Label' : 'Class' }), ...fields.map(([, h]) => el('th', { scope: 'col', class: 'num', text: h })),
      ...cells.map(([, h]) => el('th', { scope: 'col', class: 'num', text: h })))));
    const tb = el('tbody');
    report.per_class.forEach((row, i) => {
      tb.append(el('tr', {}, el('th', { scope: 'row', text: row.class }), ...fields.map(([f]) => metricCell(`per_class.${row.class}.${f}`, row[f])),
        ...cells.map(([f, , a, b]) => metricCell(`per_class.${row.class}.${f}`, mcm[i]?.[a]?.[b] ?? null))));
    });
    t.append(tb);
    root.append(el('div', { class: 'card' }, el('h3', { text: multilabel ? 'Per label' : 'Per class' }), el('div', { class: 'scroll' }, t)));
  }

  if (Array.isArray(report.metrics.confusion_matrix)) root.append(confusionCard(report, classes));
  if (report.thresholds?.table) {
    const card = thresholdCard(report, core);
    if (card) root.append(card);
  }
  const worst = worstCard(report);
  if (worst) root.append(worst);

  const allPlots = [...(plots ?? [])];
  if (report.calibration?.bins?.length) {
    allPlots.push({ id: 'calibration', title: 'Reliability diagram', svg: reliabilitySvg(report.calibration) });
  }
  if (allPlots.length) {
    const grid = el('div', { class: 'plots' });
    for (const p of allPlots) grid.append(plotFigure(p));
    root.append(grid);
  }
  root.hidden = false;
}

/** A count in a few digits: 25.61 M, 4.09 G (the exact integer goes in data-value/title). */
export function compactNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  for (const [scale, unit] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (a >= scale) return `${(v / scale).toFixed(2)} ${unit}`;
  }
  return formatNumber(v);
}

/** Bytes in binary units. */
export function formatBytes(b) {
  if (b === null || b === undefined) return '—';
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(2)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

/** Layers drawn at once; the rest on request (a 10,000-node graph stays responsive). */
const LAYER_ROWS = 500;

/** The model card of an ONNX file (inspectModel's JSON). `onBatch(n)` re-inspects at batch n. */
export function renderModelCard(root, card, fileName, { onBatch } = {}) {
  const hadFocus = document.activeElement?.id === 'model-batch';
  root.replaceChildren();
  // A number with its exact value in data-value and the tooltip, shown compactly.
  const num = (key, v, text) => el('span', { 'data-metric': key, 'data-value': String(v), title: typeof v === 'number' ? v.toLocaleString('en-US') : String(v), text: text ?? compactNumber(v) });
  const tile = (key, label, v, text, sub) => el('div', { class: 'tile' }, el('div', { class: 'tile-label', text: label }),
    el('div', { class: 'num' }, num(key, v, text)), sub ? el('div', { class: 'tile-sub', text: sub }) : null);
  const shape = (s) => (Array.isArray(s) ? `[${s.join(', ')}]` : '?');
  const shared = card.unique_params !== undefined && card.unique_params !== card.params;
  const compute = [
    tile('params', 'Parameters', card.params, undefined, shared ? null : 'no shared weights'),
    shared ? tile('unique_params', 'Unique parameters', card.unique_params, undefined, `${compactNumber(card.params - card.unique_params)} shared`) : null,
    tile('macs', 'MACs', card.macs, undefined, `at batch ${card.batch}`),
    tile('flops', 'FLOPs', card.flops),
    tile('layer_count', 'Layers', card.layer_count, formatNumber(card.layer_count)),
    tile('depth', 'Depth', card.depth, formatNumber(card.depth), 'longest input → output chain'),
  ];
  const memory = [
    tile('size_bytes', 'Model size on disk', card.size_bytes, formatBytes(card.size_bytes)),
    tile('param_bytes', 'Weights', card.param_bytes, formatBytes(card.param_bytes), 'stored parameters, in their dtypes'),
    tile('peak_activation_bytes', 'Peak activations', card.peak_activation_bytes, formatBytes(card.peak_activation_bytes), 'alive at once, in layer order'),
    tile('activation_bytes', 'All activations', card.activation_bytes, formatBytes(card.activation_bytes), 'sum of every layer output'),
  ];
  const opsets = (card.opset ?? []).map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const batchInput = el('input', { type: 'number', id: 'model-batch', min: '1', max: '65536', step: '1', value: String(card.batch), disabled: !onBatch });
  let requested = card.batch; // Enter and the change event that may follow ask once
  const applyBatch = () => {
    const n = Math.floor(Number(batchInput.value));
    if (!onBatch || !Number.isFinite(n) || n < 1 || n === requested) return;
    requested = n;
    onBatch(n);
  };
  batchInput.addEventListener('change', applyBatch);
  batchInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') applyBatch(); });
  root.append(el('div', { class: 'card summary', id: 'model-card', 'data-batch': String(card.batch) },
    el('h2', { text: fileName }),
    el('p', { class: 'meta' }, el('span', { class: 'badge', id: 'task', 'data-task': 'model', text: 'model' }),
      ` ${card.graph_name || '(unnamed graph)'} · producer `, el('span', { id: 'model-producer', text: card.producer || 'unknown' }),
      ' · opset ', el('span', { id: 'model-opset', text: opsets || 'unknown' }), ` · IR ${card.ir_version}`),
    el('p', { class: 'toolbar' }, el('label', { for: 'model-batch', text: 'Batch size ' }), batchInput,
      el('span', { class: 'note', text: `batch dimension: ${card.batch_symbol || 'fixed by the model'}` })),
    el('div', { class: 'headline' }, ...compute.filter(Boolean)),
    el('h3', { class: 'subhead', text: 'Weights and memory' }),
    el('div', { class: 'headline' }, ...memory),
    (card.unknown_ops ?? []).length ? el('p', { class: 'note', id: 'unknown-ops', text: `Ops without a counting rule (layers listed, marked unknown, counted as zero): ${card.unknown_ops.join(', ')}` }) : null,
    ...(card.warnings ?? []).map((w) => el('p', { class: 'note', text: `Note: ${w}` }))));
  if (hadFocus) batchInput.focus();

  const io = [...(card.inputs ?? []).map((v) => ['input', v]), ...(card.outputs ?? []).map((v) => ['output', v])];
  const ioTable = el('table', { class: 'metrics', id: 'io-table' },
    el('thead', {}, el('tr', {}, ...['', 'Name', 'Type', 'Shape', `Shape at batch ${card.batch}`].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...io.map(([kind, v]) => el('tr', { 'data-io': kind }, el('td', { text: kind }), el('td', { text: v.name }),
      el('td', { text: v.dtype ?? '?' }), el('td', { text: shape(v.shape) }), el('td', { text: v.shape_at_batch ? shape(v.shape_at_batch) : '?' })))));
  const byOp = el('table', { class: 'metrics', id: 'by-op-table' },
    el('thead', {}, el('tr', {}, ...[['Op', ''], ['Layers', 'num'], ['Params', 'num'], ['MACs', 'num'], ['FLOPs', 'num'], ['MAC share', 'num']].map(([h, c]) => el('th', { scope: 'col', class: c || null, text: h })))),
    el('tbody', {}, ...(card.by_op ?? []).map((o) => el('tr', { 'data-op': o.op }, el('td', { text: o.op }),
      ...[o.count, o.params, o.macs, o.flops].map((v) => el('td', { class: 'num', title: v.toLocaleString('en-US'), text: compactNumber(v) })),
      el('td', { class: 'num', text: `${(100 * o.macs_share).toFixed(1)}%` })))));
  const byDtype = el('table', { class: 'metrics', id: 'by-dtype-table' },
    el('thead', {}, el('tr', {}, ...[['Dtype', ''], ['Tensors', 'num'], ['Params', 'num'], ['Bytes', 'num']].map(([h, c]) => el('th', { scope: 'col', class: c || null, text: h })))),
    el('tbody', {}, ...(card.by_dtype ?? []).map((d) => el('tr', { 'data-dtype': d.dtype }, el('td', { text: d.dtype }),
      el('td', { class: 'num', text: formatNumber(d.tensors) }), el('td', { class: 'num', title: d.params.toLocaleString('en-US'), text: compactNumber(d.params) }),
      el('td', { class: 'num', title: `${d.bytes} bytes`, text: formatBytes(d.bytes) })))));
  root.append(el('div', { class: 'grid2' },
    el('div', { class: 'card' }, el('h3', { text: 'Inputs and outputs' }), el('div', { class: 'scroll' }, ioTable)),
    el('div', { class: 'card' }, el('h3', { text: 'By data type' }), el('div', { class: 'scroll' }, byDtype))));

  const top = [...card.layers].sort((a, b) => b.macs - a.macs).slice(0, 12).filter((l) => l.macs > 0);
  const grid = el('div', { class: 'grid2' }, el('div', { class: 'card' }, el('h3', { text: 'By op type' }), el('div', { class: 'scroll' }, byOp)));
  if (top.length) {
    const max = top[0].macs;
    grid.append(el('div', { class: 'card', id: 'top-layers' }, el('h3', { text: 'Where the compute goes (MACs, top layers)' }),
      el('div', { class: 'bars', role: 'list' }, ...top.map((l) => el('div', { class: 'bar-row', role: 'listitem' },
        el('span', { class: 'bar-label', title: l.name, text: `${l.name || '(unnamed)'} · ${l.op}` }),
        el('span', { class: 'bar' }, el('span', { class: 'bar-fill', style: `width:${(100 * l.macs) / max}%` })),
        el('span', { class: 'num', title: l.macs.toLocaleString('en-US'), text: `${compactNumber(l.macs)} (${(100 * l.macs_share).toFixed(1)}%)` }))))));
  }
  root.append(grid);

  const cols = [['name', 'Layer'], ['op', 'Op'], ['params', 'Params'], ['macs', 'MACs'], ['flops', 'FLOPs'], ['activation_bytes', 'Activation bytes'], ['output_shape', 'Output shape']];
  const table = el('table', { class: 'metrics sortable', id: 'layers-table' });
  const tb = el('tbody');
  let sortKey = null, dir = 1, limit = LAYER_ROWS;
  const more = el('button', { type: 'button', class: 'small', id: 'layers-more', onclick: () => { limit = Infinity; fill(); } });
  const fill = () => {
    const rows = [...card.layers];
    if (sortKey) rows.sort((a, b) => (typeof a[sortKey] === 'number' ? a[sortKey] - b[sortKey] : String(a[sortKey]).localeCompare(String(b[sortKey]))) * dir);
    tb.replaceChildren(...rows.slice(0, limit).map((l) => el('tr', { class: l.unknown ? 'unknown' : null, title: l.note ?? null }, ...cols.map(([k]) => {
      const v = l[k];
      if (k === 'op' && l.unknown) return el('td', {}, v, ' ', el('span', { class: 'badge muted', text: 'unknown' }));
      if (typeof v === 'number') return el('td', { class: 'num', text: formatNumber(v) });
      return el('td', { text: Array.isArray(v) ? `[${v.join(', ')}]` : (v ?? '') });
    }))));
    more.hidden = rows.length <= limit;
    more.textContent = `Show all ${rows.length.toLocaleString('en-US')} layers`;
  };
  const head = el('tr', {}, ...cols.map(([k, label]) => {
    const th = el('th', { scope: 'col', class: ['params', 'macs', 'flops', 'activation_bytes'].includes(k) ? 'num' : null, 'aria-sort': 'none' });
    th.append(el('button', { type: 'button', class: 'sort', 'data-sort': k, text: label, onclick: () => {
      dir = sortKey === k ? -dir : (typeof card.layers[0]?.[k] === 'number' ? -1 : 1);
      sortKey = k;
      for (const h of head.children) h.setAttribute('aria-sort', 'none');
      th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      fill();
    } }));
    return th;
  }));
  table.append(el('thead', {}, head), tb);
  fill();
  root.append(el('div', { class: 'card' }, el('h3', { text: `Layers (${card.layers.length.toLocaleString('en-US')}, depth ${card.depth})` }), el('div', { class: 'scroll' }, table), more));
  root.hidden = false;
}

/** Two reports side by side: every shared scalar metric with the difference B − A, and the
 * paired test (`paired`, from the core's compareStreams) when both files score the same rows. */
export function renderComparison(root, a, b, paired, pairedNote) {
  root.replaceChildren();
  const keys = Object.keys(a.report.metrics).filter((k) => k in b.report.metrics && !Array.isArray(a.report.metrics[k]));
  const t = el('table', { class: 'metrics', id: 'compare-table' }, el('thead', {}, el('tr', {},
    el('th', { scope: 'col', text: 'Metric' }), el('th', { scope: 'col', class: 'num', text: `A: ${a.fileName}` }),
    el('th', { scope: 'col', class: 'num', text: `B: ${b.fileName}` }), el('th', { scope: 'col', class: 'num', text: 'B − A' }))));
  const tb = el('tbody');
  for (const k of keys) {
    const va = split(a.report.metrics[k]).value, vb = split(b.report.metrics[k]).value;
    const d = va === null || vb === null ? null : vb - va;
    const dcell = metricCell(`diff.${k}`, d);
    if (d) dcell.classList.add(d > 0 ? 'up' : 'down');
    tb.append(el('tr', {}, el('td', { text: metricLabel(k) }), metricCell(`a.${k}`, a.report.metrics[k]), metricCell(`b.${k}`, b.report.metrics[k]), dcell));
  }
  t.append(tb);
  let test;
  if (paired?.metrics?.length) {
    const pt = el('table', { class: 'metrics', id: 'paired-table' },
      el('caption', { class: 'sr-only', text: 'Paired significance test of B − A' }),
      el('thead', {}, el('tr', {}, ...['Metric', 'A', 'B', 'B − A', `${Math.round(paired.level * 100)}% interval`, 'p-value', 'Test', 'Verdict']
        .map((h, i) => el('th', { scope: 'col', class: i >= 1 && i <= 5 ? 'num' : null, text: h })))),
      el('tbody', {}, ...paired.metrics.map((m) => {
        const diff = metricCell(`paired.${m.key}.diff`, m.diff);
        if (m.ci_low !== null) { diff.dataset.ciLow = String(m.ci_low); diff.dataset.ciHigh = String(m.ci_high); }
        return el('tr', { 'data-key': m.key },
          el('td', { text: metricLabel(m.key) }),
          metricCell(`paired.${m.key}.a`, m.a), metricCell(`paired.${m.key}.b`, m.b), diff,
          el('td', { class: 'num', text: m.ci_low === null ? '—' : `${formatNumber(m.ci_low)} to ${formatNumber(m.ci_high)}` }),
          metricCell(`paired.${m.key}.p_value`, m.p_value),
          el('td', { text: m.method }),
          el('td', { class: m.significant ? 'sig' : 'not-sig', 'data-significant': String(m.significant),
            text: m.p_value === null ? 'undetermined' : m.significant ? 'significant at 0.05' : 'not significant at 0.05' }));
      })));
    test = el('div', { id: 'paired' },
      el('h3', { text: 'Is the difference real? (paired test)' }),
      el('p', { class: 'meta', id: 'compare-significance', text: `Both files score the same ${paired.n.toLocaleString('en-US')} rows, so each metric's difference is tested on them: paired bootstrap (${paired.replicates} replicates, seed ${paired.seed}; the same resampled rows for A and B), and DeLong's test for ROC AUC. A p-value below 0.05 means a difference this large would be unlikely if the models were equally good.` }),
      ...paired.notes.map((n) => el('p', { class: 'note', text: `Note: ${n}` })),
      el('div', { class: 'scroll' }, pt));
  } else {
    test = el('p', { class: 'note', id: 'compare-significance', text: `${pairedNote ?? 'No paired test.'} Overlapping ± intervals are not a test.` });
  }
  root.append(el('div', { class: 'card summary', id: 'compare' },
    el('h2', { text: 'Comparison' }),
    el('p', { class: 'meta' }, el('span', { class: 'badge', id: 'task', 'data-task': 'compare', text: 'compare' }),
      ` A: ${a.fileName} (${a.report.n} rows, ${a.report.task}) · B: ${b.fileName} (${b.report.n} rows, ${b.report.task})`),
    test,
    el('h3', { text: 'All metrics' }),
    el('div', { class: 'scroll' }, t)));
  root.hidden = false;
}

/** Histogram of batch latencies (`speed.latency_ms_histogram`) as a small SVG. */
export function latencyHistogramSvg(h) {
  const W = 460, H = 220, L = 44, B = 40, T = 10, R = 12;
  const max = Math.max(...h.counts, 1);
  const lo = h.edges[0], hi = h.edges[h.edges.length - 1];
  const span = hi - lo || 1;
  const x = (v) => L + ((v - lo) / span) * (W - L - R);
  const y = (c) => H - B - (c / max) * (H - B - T);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/>`, `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`];
  h.counts.forEach((c, i) => {
    const x0 = h.edges.length > 2 || span !== 1 ? x(h.edges[i]) : L, x1 = h.edges.length > 2 || span !== 1 ? x(h.edges[i + 1]) : W - R;
    parts.push(`<rect class="bin" data-count="${c}" x="${x0 + 1}" y="${y(c)}" width="${Math.max(1, x1 - x0 - 2)}" height="${H - B - y(c)}" fill="#2563eb"><title>${+h.edges[i].toPrecision(3)}–${+h.edges[i + 1].toPrecision(3)} ms: ${c} batch${c === 1 ? '' : 'es'}</title></rect>`);
  });
  for (const v of [lo, (lo + hi) / 2, hi]) {
    parts.push(`<text x="${x(v)}" y="${H - B + 15}" font-size="12" text-anchor="middle" font-family="sans-serif">${+v.toPrecision(3)}</text>`);
  }
  parts.push(`<text x="${L - 6}" y="${T + 10}" font-size="12" text-anchor="end" font-family="sans-serif">${max}</text>`,
    `<text x="${L - 6}" y="${H - B}" font-size="12" text-anchor="end" font-family="sans-serif">0</text>`,
    `<text x="${(L + W - R) / 2}" y="${H - 6}" font-size="13" text-anchor="middle" font-family="sans-serif">batch latency (ms)</text>`,
    `<text transform="translate(13 ${(T + H - B) / 2}) rotate(-90)" font-size="13" text-anchor="middle" font-family="sans-serif">batches</text>`, '</svg>');
  return parts.join('');
}

/** Speed and stability of an in-browser model run (runModel's `speed`). */
export function speedCard(speed) {
  const rows = [['latency_ms_p50', 'p50'], ['latency_ms_p95', 'p95'], ['latency_ms_p99', 'p99'], ['latency_ms_max', 'max']];
  const max = Math.max(...rows.map(([k]) => speed[k] ?? 0), 1e-9);
  return el('div', { class: 'card', id: 'speed' },
    el('h3', { text: 'Speed and stability' }),
    el('p', { class: 'meta', text: `${speed.backend} (${speed.kernel}) · ${speed.rows} rows in ${speed.batches} batches of ${speed.batch_size}` }),
    speed.device ? el('p', { class: 'meta', id: 'ran-on', 'data-device': speed.device.device, text: `ran on: ${speed.device.device} — ${speed.device.reason}` }) : null,
    ...(speed.device?.notes ?? []).map((n) => el('p', { class: 'note', text: n })),
    el('div', { class: 'headline' },
      el('div', { class: 'tile' }, el('div', { class: 'tile-label', text: 'Throughput (rows/s)' }), metricCell('throughput_rows_per_s', speed.throughput_rows_per_s, 'div')),
      el('div', { class: 'tile' }, el('div', { class: 'tile-label', text: 'Batch latency p50 (ms)' }), metricCell('latency_ms_p50', speed.latency_ms_p50, 'div'))),
    el('div', { class: 'bars', role: 'list', 'aria-label': 'Batch latency percentiles (ms)' }, ...rows.map(([k, label]) => el('div', { class: 'bar-row', role: 'listitem' },
      el('span', { class: 'bar-label', text: `latency ${label}` }),
      el('span', { class: 'bar' }, el('span', { class: 'bar-fill', style: `width:${(100 * (speed[k] ?? 0)) / max}%` })),
      metricCell(k, speed[k], 'span')))),
    speed.latency_ms_histogram?.counts?.length ? el('figure', { class: 'latency-histogram', id: 'latency-histogram',
      'data-counts': JSON.stringify(speed.latency_ms_histogram.counts), 'data-edges': JSON.stringify(speed.latency_ms_histogram.edges) },
      el('figcaption', { text: `Batch latency distribution (${speed.batches} batches)` }),
      el('img', { src: svgDataUrl(latencyHistogramSvg(speed.latency_ms_histogram)),
        alt: `Histogram of ${speed.batches} batch latencies from ${formatNumber(speed.latency_ms_histogram.edges[0])} to ${formatNumber(speed.latency_ms_histogram.edges.at(-1))} ms` })) : null);
}
