// The report as a person reads, exports and controls it: intervals, per-class table, confusion
// toggle, threshold slider, reliability diagram, exports, model card, comparison, theme,
// cancel, phone layout, ?src=, offline. Values are checked against the report's own JSON and
// scikit-learn's goldens (tests/fixtures/e2e/goldens.json); screenshots go to tests/e2e/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { start, readMetrics, close, root, screenshots, settled, cliExe } from './harness.mjs';

const goldens = JSON.parse(readFileSync(join(root, 'tests/fixtures/e2e/goldens.json'), 'utf8'));
let s;

before(async () => { s = await start(); });
after(async () => { await s?.close(); });

const done = () => settled(s.page);

async function demo() {
  await s.page.goto(s.url);
  await s.page.click('#demo-button');
  await done();
}

async function downloadText(selector) {
  const [dl] = await Promise.all([s.page.waitForEvent('download'), s.page.click(selector)]);
  return { name: dl.suggestedFilename(), text: readFileSync(await dl.path(), 'utf8'), path: await dl.path() };
}

test('summary shows headline metrics with intervals, and the full per-class table', async () => {
  await demo();
  const tile = await s.page.$eval('#headline [data-metric="accuracy_score"]', (e) => ({ ...e.dataset, text: e.textContent }));
  const want = goldens['breast_cancer.csv'].metrics.accuracy_score;
  assert.ok(close(tile.value, want, 'accuracy_score'));
  const low = Number(tile.ciLow), high = Number(tile.ciHigh);
  assert.ok(low < want && want < high && high - low < 0.1, `interval ${low}..${high}`);
  assert.match(tile.text, /± 0\.0\d{3}/);
  const m = await readMetrics(s.page);
  for (const f of ['precision', 'recall', 'f1', 'specificity', 'npv', 'fpr', 'fnr', 'jaccard', 'support']) {
    assert.ok(`per_class.0.${f}` in m && `per_class.1.${f}` in m, `per-class ${f} shown`);
  }
  // Class 0's recall is its specificity seen from class 1 (same confusion matrix).
  assert.equal(m['per_class.0.recall'], m['per_class.1.specificity']);
  await s.page.screenshot({ path: join(screenshots, 'report-binary-ci.png'), fullPage: true });
});

test('a multilabel file shows its summary, per-label table and label matrices', async () => {
  // a case of the metric goldens (tests/fixtures/metrics/make_goldens.py): scikit-learn's values
  const metricGoldens = JSON.parse(readFileSync(join(root, 'tests/fixtures/metrics/goldens.json'), 'utf8'));
  const g = metricGoldens.multilabel_strings_shuffled;
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'tests/fixtures/metrics', g.file));
  await done();
  assert.equal(await s.page.$eval('#task', (e) => e.dataset.task), 'multilabel');
  const m = await readMetrics(s.page);
  for (const key of ['accuracy_score', 'f1_score@micro', 'f1_score@samples', 'hamming_loss', 'roc_auc_score@macro',
    'label_ranking_average_precision_score', 'jaccard_score@samples']) {
    assert.ok(close(m[key], g.metrics[key], key), `${key}: ${m[key]} vs ${g.metrics[key]}`);
  }
  assert.ok(await s.page.$('#headline [data-metric="hamming_loss"]'), 'hamming loss is a headline tile');
  g.per_class.forEach((row, i) => {
    for (const f of ['precision', 'recall', 'f1', 'support']) {
      assert.ok(close(m[`per_class.${row.class}.${f}`], row[f], `${row.class} ${f}`));
    }
    const [[tn, fp], [fn, tp]] = g.metrics.multilabel_confusion_matrix[i];
    assert.deepEqual([tp, fp, fn, tn].map(Number), ['tp', 'fp', 'fn', 'tn'].map((f) => Number(m[`per_class.${row.class}.${f}`])));
  });
  // Worst rows: label sets, the rows with the most wrong labels (or the highest summed log loss) first.
  const worst = await s.page.$$eval('#worst-rows tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
  assert.ok(worst.length > 0 && worst.every((t) => /^\{.*\}$/.test(t)), `label sets in the worst rows: ${worst.slice(0, 3)}`);
  await s.page.screenshot({ path: join(screenshots, 'report-multilabel.png'), fullPage: true });
});

test('confusion matrix toggles between counts and normalised rates', async () => {
  await demo();
  const cells = () => s.page.$$eval('#confusion-table tbody td', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(await cells(), ['99', '7', '2', '177']);
  await s.page.check('#cm-mode-true');
  assert.deepEqual(await cells(), ['0.934', '0.066', '0.011', '0.989']);
  await s.page.check('#cm-mode-counts');
  assert.deepEqual(await cells(), ['99', '7', '2', '177']);
});

test('the threshold slider updates every threshold metric live', async () => {
  await demo();
  const report = JSON.parse(execEval('breast_cancer.csv'));
  const th = report.thresholds;
  const read = () => s.page.$$eval('#threshold-table [data-metric]', (els) => Object.fromEntries(els.map((e) => [e.dataset.metric.slice(10), Number(e.dataset.value)])));
  let got = await read();
  assert.equal(got.tp, th.default.tp);
  assert.ok(close(String(got.f1), th.default.f1, 'f1 at default'));
  await s.page.click('[data-jump="Best F1"]');
  got = await read();
  assert.ok(close(String(got.f1), th.best_f1.f1, 'best f1'));
  assert.equal(got.fn, th.best_f1.fn);
  // Drag by keyboard: the highest threshold end leaves few positives.
  await s.page.focus('#threshold-slider');
  await s.page.keyboard.press('End');
  got = await read();
  assert.ok(got.tp + got.fp <= 2, `at the top threshold almost nothing is positive (${got.tp}+${got.fp})`);
  assert.equal(got.tp + got.fn, th.table.positives);
  await s.page.locator('#threshold-card').screenshot({ path: join(screenshots, 'threshold.png') });
  assert.ok(await s.page.$('#plot-calibration img'), 'reliability diagram drawn');
});

/** The CLI's JSON for a demo file (the same core, natively) — the export must equal it. */
function execEval(name, extra = []) {
  return execFileSync(cliExe(), ['eval', join(root, 'www/demo', name), '--format', 'json', ...extra], { cwd: root, encoding: 'utf8' });
}

test('exports: JSON is the CLI object, Markdown and HTML are complete, plots as SVG and PNG, table to clipboard', async () => {
  await demo();
  const json = await downloadText('[data-export="json"]');
  assert.equal(json.name, 'breast_cancer.csv.report.json');
  const exported = JSON.parse(json.text);
  const cli = JSON.parse(execEval('breast_cancer.csv', ['--ci', '0.95']));
  assert.deepEqual(Object.keys(exported.metrics).sort(), Object.keys(cli.metrics).sort());
  assert.deepEqual(exported.metrics.accuracy_score, cli.metrics.accuracy_score);
  assert.deepEqual(exported.metrics.roc_auc_score, cli.metrics.roc_auc_score);
  const md = await downloadText('[data-export="markdown"]');
  assert.match(md.text, /^# webeval report: breast_cancer\.csv/);
  assert.match(md.text, /\| Accuracy \| `accuracy_score` \| 0\.968421052631579 \|/);
  assert.match(md.text, /\| \*\*0\*\* \| 99 \| 7 \|/);
  const html = await downloadText('[data-export="html"]');
  assert.match(html.text, /^<!doctype html>/);
  assert.ok(!/<script|src="http|href="http/.test(html.text), 'self-contained, no scripts or remote links');
  assert.match(html.text, /data-metric="accuracy_score" data-value="0.968421052631579"/);
  assert.match(html.text, /data:image\/svg\+xml/);
  // Open the exported file on its own: it shows the report.
  await s.page.setContent(html.text);
  assert.equal(await s.page.$eval('[data-metric="roc_auc_score"]', (e) => e.dataset.value), String(cli.metrics.roc_auc_score.value));
  await demo();
  const svg = await downloadText('[data-export="svg-roc"]');
  assert.equal(svg.name, 'roc.svg');
  assert.match(svg.text, /<svg[\s\S]*<\/svg>/);
  const [dl] = await Promise.all([s.page.waitForEvent('download'), s.page.click('[data-export="png-roc"]')]);
  const png = readFileSync(await dl.path());
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.ok(png.length > 5000);
  await s.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(s.url).origin });
  await s.page.click('[data-export="copy"]');
  await s.page.waitForFunction(() => document.querySelector('[data-export="copy"]').textContent === 'Copied');
  const clip = await s.page.evaluate(() => navigator.clipboard.readText());
  assert.match(clip, /^metric\tkey\tvalue\tci_low\tci_high\n/);
  assert.match(clip, /\naccuracy_score|Accuracy\taccuracy_score\t0\.968421052631579\t0\.94/);
});

test('an ONNX model gets a model card with a sortable layer table and a compute chart', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'tests/fixtures/model/cnn.onnx'));
  await done();
  const want = JSON.parse(readFileSync(join(root, 'tests/fixtures/model/expected.json'), 'utf8'));
  const expected = want.find((v) => v.model === 'cnn.onnx' && v.batch === 1);
  const m = await readMetrics(s.page);
  assert.equal(Number(m.params), expected.params);
  assert.equal(Number(m.macs), expected.macs);
  assert.ok((await s.page.$$('#top-layers .bar-row')).length > 0);
  await s.page.click('[data-sort="macs"]');
  const macs = await s.page.$$eval('#layers-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => Number(t.textContent.replaceAll(',', ''))));
  assert.deepEqual(macs, [...macs].sort((a, b) => b - a), 'sorted by MACs, largest first');
  assert.equal(await s.page.$eval('[data-sort="macs"]', (b) => b.parentElement.getAttribute('aria-sort')), 'descending');
  await s.page.screenshot({ path: join(screenshots, 'model-card.png'), fullPage: true });
});

test('a model and a dataset run in the page and are evaluated, with speed', async () => {
  await s.page.goto(s.url);
  await s.page.click('#demo-model');
  await done();
  const m = await readMetrics(s.page);
  // tests/fixtures/runtime/make_models.py: scikit-learn scores 440 of these 450 digits right.
  assert.equal(Number(m.n), 450);
  assert.ok(Math.abs(Number(m.accuracy_score) - 440 / 450) < 1e-12, `accuracy ${m.accuracy_score}`);
  for (const k of ['latency_ms_p50', 'latency_ms_p95', 'latency_ms_p99', 'throughput_rows_per_s']) assert.ok(Number(m[k]) > 0, k);
  assert.ok(Number(m.latency_ms_p50) <= Number(m.latency_ms_p99));
  await s.page.screenshot({ path: join(screenshots, 'model-run.png'), fullPage: true });
});

test('two predictions files are compared side by side', async () => {
  await s.page.goto(s.url);
  const a = readFileSync(join(root, 'www/demo/breast_cancer.csv'), 'utf8');
  // B: the same rows with the first ten predictions flipped.
  const lines = a.trim().split('\n');
  const b = [lines[0], ...lines.slice(1).map((l, i) => {
    if (i >= 10) return l;
    const [t, p, sc] = l.split(',');
    return [t, p === '1' ? '0' : '1', sc].join(',');
  })].join('\n');
  await s.page.setInputFiles('#file-input', [
    { name: 'a.csv', mimeType: 'text/csv', buffer: Buffer.from(a) },
    { name: 'b.csv', mimeType: 'text/csv', buffer: Buffer.from(b) },
  ]);
  await done();
  const m = await readMetrics(s.page);
  const acc = goldens['breast_cancer.csv'].metrics.accuracy_score;
  assert.ok(close(m['a.accuracy_score'], acc, 'a'));
  assert.ok(Math.abs(Number(m['diff.accuracy_score']) - (Number(m['b.accuracy_score']) - acc)) < 1e-12);
  assert.ok(Number(m['diff.accuracy_score']) < 0);
  assert.equal(Number(m['diff.roc_auc_score']), 0, 'scores unchanged: AUC identical');
  // Same rows: a paired test; identical scores give an AUC difference of exactly 0, not significant.
  assert.match(await s.page.$eval('#compare-significance', (e) => e.textContent), /same \d+ rows/);
  assert.equal(await s.page.$eval('#paired-table tr[data-key="roc_auc_score"] [data-significant]', (e) => e.dataset.significant), 'false');
  await s.page.screenshot({ path: join(screenshots, 'compare.png'), fullPage: true });
});

test('two multilabel files get a paired test (labels matched by name)', async () => {
  const dir = join(root, 'tests/fixtures/report');
  const g = JSON.parse(readFileSync(join(dir, 'paired.json'), 'utf8')).multilabel;
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', [join(dir, 'ml_a.csv'), join(dir, 'ml_b.csv')]);
  await done();
  const m = await readMetrics(s.page);
  for (const key of ['accuracy_score', 'hamming_loss', 'f1_score@micro', 'f1_score@macro']) {
    assert.ok(close(m[`a.${key}`], g.a[key], key) && close(m[`b.${key}`], g.b[key], key), `${key}: scikit-learn's values`);
    assert.ok(await s.page.$(`#paired-table tr[data-key="${key}"] [data-significant]`), `${key} in the paired table`);
  }
});

test('keyboard, theme toggle and a phone-size layout', async () => {
  await s.page.goto(s.url);
  assert.equal(await s.page.$eval('#empty', (e) => e.hidden), false, 'empty state shown first');
  await s.page.focus('#theme-toggle');
  await s.page.keyboard.press('Enter');
  const theme = await s.page.evaluate(() => document.documentElement.dataset.theme);
  const bg = await s.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await s.page.keyboard.press('Enter');
  const bg2 = await s.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(bg, bg2, `theme ${theme} changes the colours`);
  // The demo buttons are reachable and usable by keyboard.
  await s.page.focus('#demo-button');
  await s.page.keyboard.press('Enter');
  await done();
  await s.page.setViewportSize({ width: 390, height: 844 });
  await s.page.evaluate(() => { document.documentElement.dataset.theme = 'dark'; });
  const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling on a phone (${overflow}px)`);
  await s.page.screenshot({ path: join(screenshots, 'phone-dark.png'), fullPage: true });
  await s.page.setViewportSize({ width: 1280, height: 900 });
  await s.page.evaluate(() => localStorage.clear());
});

test('a long evaluation shows progress and can be cancelled', async () => {
  await s.page.goto(s.url);
  const rows = ['y_true,score'];
  let x = 7;
  for (let i = 0; i < 1_200_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    rows.push(`${i & 1},${(x / 2147483648).toFixed(6)}`);
  }
  await s.page.setInputFiles('#file-input', { name: 'big.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });
  await s.page.waitForSelector('#progress:not([hidden])');
  await s.page.waitForFunction(() => /rows/.test(document.getElementById('progress-text').textContent));
  await s.page.screenshot({ path: join(screenshots, 'progress.png') });
  await s.page.click('#cancel-button');
  await s.page.waitForFunction(() => document.body.dataset.state === 'cancelled');
  assert.equal(await s.page.$eval('#progress', (e) => e.hidden), true);
  assert.equal(await s.page.$eval('#error', (e) => e.hidden), true);
  await s.page.click('#demo-button');
  await done();
});

test('?src= loads a same-origin file and refuses others', async () => {
  const asset = readdirSync(join(root, 'dist/assets')).find((f) => f.startsWith('breast_cancer'));
  await s.page.goto(`${s.url}?src=${encodeURIComponent(`/assets/${asset}`)}`);
  await done();
  assert.ok(close((await readMetrics(s.page)).accuracy_score, goldens['breast_cancer.csv'].metrics.accuracy_score, 'src'));
  await s.page.goto(`${s.url}?src=${encodeURIComponent('https://example.com/x.csv')}`);
  await s.page.waitForFunction(() => document.body.dataset.state === 'error');
  assert.match(await s.page.$eval('#error', (e) => e.textContent), /must name a file on this site/);
});

test('the docs example embeds a live report with <webeval-report>', async () => {
  await s.page.goto(new URL('/docs/embed.html', s.url).href);
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('example').dataset.state), null, { timeout: 30000 });
  assert.equal(await s.page.$eval('#example', (e) => e.dataset.state), 'done');
  const m = await readMetrics(s.page);
  for (const [key, value] of Object.entries(goldens['breast_cancer.csv'].metrics)) {
    assert.ok(close(m[key], value, key), `embedded ${key}: ${m[key]} vs ${value}`);
  }
  assert.ok(await s.page.$('#example [data-metric="accuracy_score"][data-ci-low]'), 'ci attribute honoured');
  assert.ok(await s.page.$('webeval-report #plot-roc img'));
  // The host page keeps its own font: the element's styles are scoped.
  assert.match(await s.page.evaluate(() => getComputedStyle(document.body).fontFamily), /Georgia/);
  // The module is importable by its stable name; changing src re-renders.
  await s.page.evaluate(() => document.getElementById('example').setAttribute('src', '/examples/missing.csv'));
  await s.page.waitForFunction(() => document.getElementById('example').dataset.state === 'error');
  assert.match(await s.page.$eval('#example [role="alert"]', (e) => e.textContent), /(HTTP 404|is a web page, not a data file)/);
  await s.page.evaluate(() => document.getElementById('example').setAttribute('src', '/examples/preds.csv'));
  await s.page.waitForFunction(() => document.getElementById('example').dataset.state === 'done');
  await s.page.screenshot({ path: join(screenshots, 'embed.png'), fullPage: true });
});

test('after the first visit the page works offline', async () => {
  await s.page.goto(s.url);
  await s.page.waitForFunction(() => document.body.dataset.offline === 'ready', null, { timeout: 20000 });
  await s.page.waitForTimeout(500);
  // the helper workers' script (a big file's chunks) is cached too, though no file was read yet
  const cached = await s.page.evaluate(async () => (await (await caches.open('webeval-v1')).keys()).map((r) => r.url));
  assert.ok(cached.some((u) => /\/assets\/reader-[\w-]+\.js$/.test(u)), `cached: ${cached.join(', ')}`);
  await s.context.setOffline(true);
  try {
    await s.page.reload();
    await s.page.click('#demo-button');
    await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state));
    assert.equal(await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), '');
    assert.ok(close((await readMetrics(s.page)).accuracy_score, goldens['breast_cancer.csv'].metrics.accuracy_score, 'offline'));
    await s.page.screenshot({ path: join(screenshots, 'offline.png') });
  } finally {
    await s.context.setOffline(false);
  }
});

test('no request left the page origin and no page errors', async () => {
  assert.deepEqual(s.offOrigin.filter((u) => !u.startsWith('file:')), []);
  assert.deepEqual(s.consoleErrors, []);
});
