// Parquet through the page: the worker loads the second wasm module only when a dropped file
// starts with PAR1, decodes it by row groups and hands the rows to the main module, so the same
// data as CSV and as Parquet (tests/fixtures/data/make_fixtures.py, pyarrow) give the very same
// report; the mapping panel works on Parquet columns; damaged files and a nested column chosen
// as the score are clear errors; progress counts the file's bytes and cancel stops the work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, readMetrics, close, root } from './harness.mjs';

const fixtures = join(root, 'tests/fixtures/data');
const cases = JSON.parse(readFileSync(join(fixtures, 'cases.json'), 'utf8'));
const expected = (file, options = {}) =>
  cases.find((c) => c.files[0] === file && !c.labels && JSON.stringify(c.options) === JSON.stringify(options)).expect;

let s;
const requests = [];
before(async () => {
  s = await start();
  s.context.on('request', (r) => requests.push(r.url()));
});
after(async () => { await s?.close(); });

const state = () => s.page.evaluate(() => document.body.dataset.state);
const errorText = () => s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));

async function drop(file) {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', file.startsWith('/') ? file : join(fixtures, file));
  await s.page.waitForFunction(() => ['done', 'error', 'mapping', 'cancelled'].includes(document.body.dataset.state), null, { timeout: 120_000 });
}

async function report(file) {
  await drop(file);
  assert.equal(await errorText(), '', `unexpected error for ${file}`);
  assert.equal(await state(), 'done', file);
  return readMetrics(s.page);
}

test('the Parquet module is fetched only for a Parquet file', async () => {
  await report('multi.csv');
  assert.deepEqual(requests.filter((u) => /webeval_parquet/.test(u)), []);
  await report('multi.parquet');
  assert.ok(requests.some((u) => /webeval_parquet.*\.wasm$/.test(u)), 'the Parquet module was loaded');
});

test('the same data as CSV and as Parquet gives the same report', async () => {
  for (const [csv, parquets] of [
    ['multi.csv', ['multi.parquet', 'multi_gzip_plain.parquet', 'multi_required.parquet', 'multi_zstd.parquet', 'multi_zstd_v2.parquet', 'multi_lz4.parquet']],
    ['binary.csv', ['binary.parquet', 'binary_plain.parquet']],
    ['regression.csv', ['regression.parquet']],
  ]) {
    const want = await report(csv);
    assert.ok(Object.keys(want).length > 10, `only ${Object.keys(want).length} metrics for ${csv}`);
    for (const p of parquets) assert.deepEqual(await report(p), want, `${p} vs ${csv}`);
  }
  // Boolean labels: class names 0/1 instead of cat/dog, scikit-learn's numbers all the same.
  const got = await report('binary_bool.parquet');
  for (const [key, value] of Object.entries(expected('binary_bool.parquet').metrics)) assert.ok(close(got[key], value, key), key);
});

test('the mapping panel works on Parquet columns', async () => {
  await drop('multi_renamed.parquet');
  assert.equal(await state(), 'mapping');
  const problems = await s.page.$$eval('.mapping-problems li', (els) => els.map((e) => e.textContent));
  assert.match(problems.join('\n'), /no true-label column found among \[animal, ant, bee, cow, importance\]/);
  assert.match(await s.page.$eval('#mapping-table tbody tr td.sample', (e) => e.textContent), /^ant · bee · cow/);
  for (const [column, role] of Object.entries({ animal: 'label', ant: 'prob', bee: 'prob', cow: 'prob', importance: 'weight' })) {
    await s.page.selectOption(`#mapping-table select[data-column="${column}"]`, role);
  }
  await s.page.click('#mapping-apply');
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
  assert.equal(await errorText(), '');
  const got = await readMetrics(s.page);
  const want = expected('multi_renamed.parquet', { label: 'animal', probs: ['ant', 'bee', 'cow'], weight: 'importance' });
  for (const [key, value] of Object.entries(want.metrics)) assert.ok(close(got[key], value, key), key);
});

test('Parquet predictions with a CSV labels file are matched by row', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', ['multi_probs.parquet', 'multi_labels.csv'].map((f) => join(fixtures, f)));
  await s.page.waitForFunction(() => ['done', 'error', 'mapping'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  assert.equal(await errorText(), '');
  const got = await readMetrics(s.page);
  const want = cases.find((c) => c.files[0] === 'multi_probs.parquet' && c.labels === 'multi_labels.csv').expect;
  assert.equal(Number(got.n), want.n);
  for (const [key, value] of Object.entries(want.metrics)) assert.ok(close(got[key], value, key), key);
});

test('damaged files and unreadable columns are clear errors', async () => {
  for (const [file, parts] of [
    ['err_nested.parquet', ["err_nested.parquet, column 'prob'", 'is a list (nested) column', 'expected a flat column of numbers']],
    ['err_truncated.parquet', ['err_truncated.parquet', 'cut short or damaged']],
    ['err_damaged.parquet', ["err_damaged.parquet, column 'y_true'", 'damaged or cut short']],
    ['err_brotli.parquet', ["err_brotli.parquet, column 'y_true'", 'BROTLI', 'zstd']],
    ['nan.parquet', ["nan.parquet, line 4, column 'y_score'", 'missing or not a finite number']],
  ]) {
    await drop(file);
    assert.equal(await state(), 'error', file);
    const text = await errorText();
    for (const p of parts) assert.ok(text.includes(p), `${file}: ${text} lacks ${p}`);
  }
});

test('a big Parquet file: progress in file bytes, and cancel stops it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'webeval-parquet-'));
  const file = join(dir, 'big.parquet');
  try {
    const py = `
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
n = 3_000_000
r = np.arange(n)
pq.write_table(pa.table({"y_true": r % 10, "y_pred": (r * 7 // 5) % 10, "id": r.astype(str)}), "${file}", row_group_size=100_000)
`;
    const made = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const total = statSync(file).size;
    await s.page.goto(s.url);
    await s.page.setInputFiles('#file-input', file);
    // progress: some bytes of the file done, not all
    const shown = await s.page.waitForFunction(() => {
      const m = /(\d+)%/.exec(document.getElementById('progress-text')?.textContent ?? '');
      return m && Number(m[1]) > 0 && Number(m[1]) < 100 ? Number(m[1]) : null;
    }, null, { timeout: 120_000 });
    t.diagnostic(`progress ${await shown.jsonValue()}% of ${total} bytes`);
    await s.page.click('#cancel-button');
    await s.page.waitForFunction(() => document.body.dataset.state === 'cancelled', null, { timeout: 30_000 });
    // and the engine still works afterwards
    const again = await report('multi.parquet');
    assert.equal(Number(again.n), 40);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no request leaves the page origin and no page errors', async () => {
  assert.deepEqual(s.offOrigin, []);
  assert.deepEqual(s.consoleErrors, []);
});
