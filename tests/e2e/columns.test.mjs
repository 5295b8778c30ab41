// The column-mapping panel: a file whose names detection does not know is not an error but a
// question; mapped by hand it gives scikit-learn's numbers (the expectations of the same cases in
// tests/fixtures/data/cases.json, made by make_fixtures.py). An unsure detection (a score
// column left out for per-class ones) asks too; a clear one evaluates at once. Two files, one
// with predictions and no truth and one with truth and nothing predicted, are a predictions
// file and its labels file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, readMetrics, close, root, screenshots } from './harness.mjs';

const fixtures = join(root, 'tests/fixtures/data');
const cases = JSON.parse(readFileSync(join(fixtures, 'cases.json'), 'utf8'));
/** The expectation of the case for `file` with these options (as make_fixtures.py wrote it). */
const expected = (file, options = {}, labels = null) =>
  cases.find((c) => c.files[0] === file && c.labels === labels && JSON.stringify(c.options) === JSON.stringify(options)).expect;

let s;
before(async () => { s = await start(); });
after(async () => { await s?.close(); });

const state = () => s.page.evaluate(() => document.body.dataset.state);
const settledOrAsking = () =>
  s.page.waitForFunction(() => ['done', 'error', 'mapping', 'cancelled'].includes(document.body.dataset.state), null, { timeout: 60_000 });

async function drop(...files) {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', files.map((f) => join(fixtures, f)));
  await settledOrAsking();
}

/** Set each column's role select: {column: role value}. */
async function setRoles(roles) {
  for (const [column, role] of Object.entries(roles)) {
    await s.page.selectOption(`#mapping-table select[data-column="${column}"]`, role);
  }
}

async function roles() {
  return s.page.$$eval('#mapping-table select', (els) => Object.fromEntries(els.map((e) => [e.dataset.column, e.value])));
}

async function expectMetrics(want) {
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
  assert.equal(await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), '');
  const got = await readMetrics(s.page);
  assert.equal(Number(got.n), want.n);
  for (const [key, value] of Object.entries(want.metrics)) assert.ok(close(got[key], value, key), `${key}: page ${got[key]}, scikit-learn ${value}`);
}

test('unknown column names: the page asks, and the mapped file matches scikit-learn', async () => {
  await drop('multi_renamed.csv');
  assert.equal(await state(), 'mapping');
  const problems = await s.page.$$eval('.mapping-problems li', (els) => els.map((e) => e.textContent));
  assert.match(problems.join('\n'), /no true-label column found among \[animal, ant, bee, cow, importance\]/);
  assert.deepEqual(await roles(), { animal: '', ant: '', bee: '', cow: '', importance: '' });
  // Sample values let the user tell the columns apart.
  assert.match(await s.page.$eval('#mapping-table tbody tr td.sample', (e) => e.textContent), /^ant · bee · cow/);
  // Applying without a true label says what is missing and evaluates nothing.
  await s.page.click('#mapping-apply');
  assert.match(await s.page.$eval('#mapping-message', (e) => e.textContent), /true label/);
  assert.equal(await state(), 'mapping');
  await setRoles({ animal: 'label', ant: 'prob', bee: 'prob', cow: 'prob', importance: 'weight' });
  const shown = await s.page.$$eval('#mapping-table tbody td.muted', (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, ['', 'class ant', 'class bee', 'class cow', '']);
  await s.page.screenshot({ path: join(screenshots, 'mapping.png'), fullPage: true });
  await s.page.click('#mapping-apply');
  await expectMetrics(expected('multi_renamed.csv', { label: 'animal', probs: ['ant', 'bee', 'cow'], weight: 'importance' }));
  assert.equal(await s.page.$eval('#mapping', (e) => e.hidden), true);
  const classes = await s.page.$$eval('#confusion-table thead th.num', (els) => els.map((e) => e.textContent));
  assert.deepEqual(classes, ['ant', 'bee', 'cow']);
});

test('an unsure detection asks; the user can drop the weight, and reopen the mapping later', async () => {
  await drop('multi_extra.csv');
  assert.equal(await state(), 'mapping');
  assert.match(await s.page.$eval('.mapping-problems', (e) => e.textContent), /'score' is left out/);
  assert.deepEqual(await roles(), { y_true: 'label', score: '', prob_0: 'prob', prob_1: 'prob', prob_2: 'prob', weight: 'weight' });
  // As detected: the weighted multiclass report.
  await s.page.click('#mapping-apply');
  await expectMetrics(expected('multi_extra.csv'));
  // Columns… reopens the panel; without the weight the report is the unweighted one.
  await s.page.click('#columns-button');
  await s.page.waitForSelector('#mapping:not([hidden]) #mapping-table');
  await setRoles({ weight: '' });
  await s.page.click('#mapping-apply');
  await expectMetrics(expected('multi_extra.csv', { exact: true, label: 'y_true', probs: ['prob_0', 'prob_1', 'prob_2'] }));
});

test('a file detection is sure of is evaluated at once; cancel leaves nothing behind', async () => {
  await drop('multi.csv');
  assert.equal(await state(), 'done');
  await expectMetrics(expected('multi.csv'));
  assert.equal(await s.page.$eval('#columns-button', (e) => e.hidden), false);
  await drop('multi_renamed.csv');
  await s.page.click('#mapping-cancel');
  assert.equal(await state(), 'cancelled');
  assert.equal(await s.page.$eval('#mapping', (e) => e.hidden), true);
  assert.equal(await s.page.$eval('#report', (e) => e.hidden), true);
});

test('predictions and a separate labels file: matched by row, or joined on a shared id column', async () => {
  // In either order: the file with true labels and nothing predicted is the labels file.
  await drop('multi_labels.csv', 'multi_probs.npy');
  await expectMetrics(expected('multi_probs.npy', {}, 'multi_labels.csv'));
  assert.match(await s.page.textContent('#report'), /true labels from multi_labels\.csv, matched by row/);
  await drop('multi_ids.jsonl', 'multi_ids_labels.csv');
  await expectMetrics(expected('multi_ids.jsonl', { id: 'id' }, 'multi_ids_labels.csv'));
  assert.match(await s.page.textContent('#report'), /joined on 'id'/);
});

test('rows with NaN: an error naming the row, or skipped and counted when the user says so', async () => {
  await drop('nan.csv');
  assert.equal(await state(), 'error');
  assert.match(await s.page.$eval('#error', (e) => e.textContent), /nan\.csv, line 4, column 'y_score': 'NaN' is missing or not a finite number.*skip them/);
  await s.page.selectOption('#non-finite-select', 'skip');
  await s.page.evaluate(() => { document.body.dataset.state = 'picking'; }); // wait for the new run, not the old error
  // The same file picked again runs again.
  await s.page.setInputFiles('#file-input', join(fixtures, 'nan.csv'));
  const want = expected('nan.csv', { non_finite: 'skip' });
  await expectMetrics(want);
  assert.match(await s.page.textContent('#report'), /skipped 2 rows with a missing, NaN or infinite value/);
});

test('no request off the origin and no page errors', () => {
  assert.deepEqual(s.offOrigin, []);
  assert.deepEqual(s.consoleErrors, []);
});
