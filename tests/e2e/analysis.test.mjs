// Error analysis and the extra plots as a person sees them: the most confident mistakes,
// the rows behind a confusion-matrix cell (mouse and keyboard), DET, residual and
// predicted-vs-actual plots, the paired test of two files on the same rows (checked against
// tests/fixtures/report/paired.json: DeLong from its definition, scikit-learn), and the
// latency histogram of a model run. Screenshots go to tests/e2e/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, readMetrics, root, screenshots, settled } from './harness.mjs';

const paired = JSON.parse(readFileSync(join(root, 'tests/fixtures/report/paired.json'), 'utf8'));
let s;

before(async () => { s = await start(); });
after(async () => { await s?.close(); });

const done = () => settled(s.page);

async function visible(selector) {
  const box = await s.page.locator(selector).boundingBox();
  assert.ok(box && box.width > 100 && box.height > 100, `${selector} is drawn (${JSON.stringify(box)})`);
}

test('binary: most confident mistakes, rows behind a confusion cell, DET plot', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'tests/fixtures/report/a.csv'));
  await done();
  const rows = await s.page.$$eval('#worst-rows tbody tr', (trs) => trs.map((t) => Number(t.dataset.row)));
  assert.deepEqual(rows, paired.worst_rows_a, 'worst rows in the order numpy ranks them');
  const losses = await s.page.$$eval('#worst-rows tbody tr td:last-child', (tds) => tds.map((t) => Number(t.dataset.value)));
  assert.ok(Math.abs(losses[0] - paired.worst_loss_a) < 1e-12);
  assert.match(await s.page.$eval('#worst-card', (e) => e.textContent), /Most confident mistakes.*log loss/s);
  // Click the false-negative cell (true 1, predicted 0).
  await s.page.click('#confusion-table td[data-cell="1,0"]');
  const panel = await s.page.$eval('#cell-rows', (e) => ({ hidden: e.hidden, text: e.textContent, rows: [...e.querySelectorAll('li')].length }));
  const count = Number(await s.page.$eval('#confusion-table td[data-cell="1,0"]', (e) => e.textContent));
  assert.equal(panel.hidden, false);
  assert.match(panel.text, new RegExp(`True 1, predicted 0 — showing ${Math.min(20, count)} of ${count} rows`));
  assert.equal(panel.rows, Math.min(20, count));
  // The same by keyboard, on the other mistake cell.
  await s.page.focus('#confusion-table td[data-cell="0,1"]');
  await s.page.keyboard.press('Enter');
  assert.match(await s.page.$eval('#cell-rows', (e) => e.textContent), /True 0, predicted 1/);
  await visible('#plot-det img');
  await s.page.locator('#confusion-card').screenshot({ path: join(screenshots, 'confusion-cell-rows.png') });
  await s.page.locator('#worst-card').screenshot({ path: join(screenshots, 'worst-rows.png') });
  await s.page.locator('#plot-det').screenshot({ path: join(screenshots, 'det.png') });
});

test('regression: residual and predicted-vs-actual plots, largest errors', async () => {
  await s.page.goto(s.url);
  await s.page.click('[data-demo="diabetes.csv"]');
  await done();
  await visible('#plot-residuals img');
  await visible('#plot-predicted-vs-actual img');
  const svg = await s.page.$eval('#plot-residuals img', (i) => decodeURIComponent(i.src.split(',')[1]));
  const n = Number((await readMetrics(s.page)).n);
  assert.equal((svg.match(/<circle/g) ?? []).length, Math.min(n, 2000), 'one point per sampled row');
  assert.match(svg, new RegExp(`all ${n} rows`));
  const worst = await s.page.$$eval('#worst-rows tbody tr td:last-child', (tds) => tds.map((t) => Number(t.dataset.value)));
  const maxError = Number((await readMetrics(s.page)).max_error);
  assert.ok(Math.abs(worst[0] - maxError) < 1e-9, `largest error ${worst[0]} is max_error ${maxError}`);
  assert.ok(worst.every((v, i) => i === 0 || v <= worst[i - 1]), 'sorted, worst first');
  await s.page.locator('.plots').screenshot({ path: join(screenshots, 'regression-plots.png') });
});

test('compare: paired bootstrap and DeLong on two files that share rows', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', [join(root, 'tests/fixtures/report/a.csv'), join(root, 'tests/fixtures/report/b.csv')]);
  await done();
  const m = await readMetrics(s.page);
  assert.ok(Math.abs(Number(m['paired.roc_auc_score.a']) - paired.auc_a) < 1e-12);
  assert.ok(Math.abs(Number(m['paired.roc_auc_score.b']) - paired.auc_b) < 1e-12);
  assert.ok(Math.abs(Number(m['paired.roc_auc_score.p_value']) / paired.delong_p - 1) < 1e-5, `DeLong p ${m['paired.roc_auc_score.p_value']}`);
  const auc = await s.page.$eval('#paired-table tr[data-key="roc_auc_score"]', (tr) => tr.textContent);
  assert.match(auc, /DeLong.*significant at 0\.05/);
  const acc = await s.page.$eval('#paired-table tr[data-key="accuracy_score"] [data-metric="paired.accuracy_score.diff"]', (e) => e.dataset);
  assert.ok(Number(acc.ciLow) < Number(acc.value) && Number(acc.value) < Number(acc.ciHigh));
  assert.ok(Math.abs(Number(acc.value) - (paired.accuracy_b - paired.accuracy_a)) < 1e-12);
  assert.match(await s.page.$eval('#compare-significance', (e) => e.textContent), /same 300 rows/);
  await s.page.locator('#compare').screenshot({ path: join(screenshots, 'compare-paired.png') });
});

test('model run: ROC/PR plots and a latency histogram', async () => {
  await s.page.goto(s.url);
  await s.page.click('#demo-model');
  await done();
  await visible('#plot-roc img');
  await visible('#plot-pr img');
  await visible('#latency-histogram img');
  const counts = JSON.parse(await s.page.$eval('#latency-histogram', (e) => e.dataset.counts));
  const batches = await s.page.$eval('#speed .meta', (e) => Number(e.textContent.match(/in (\d+) batches/)[1]));
  assert.equal(counts.reduce((a, b) => a + b, 0), batches, 'every batch is in the histogram');
  await s.page.locator('#speed').screenshot({ path: join(screenshots, 'speed-histogram.png') });
});

test('no page errors and no request off the origin', () => {
  assert.deepEqual(s.consoleErrors, []);
  assert.deepEqual(s.offOrigin, []);
});
