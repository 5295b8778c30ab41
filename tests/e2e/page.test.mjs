// The page as a person uses it: the demo, a picked file, a bad file. Values read back from the
// data-metric attributes must equal scikit-learn's (tests/fixtures/e2e/goldens.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, readMetrics, close, root, screenshots } from './harness.mjs';

const goldens = JSON.parse(readFileSync(join(root, 'tests/fixtures/e2e/goldens.json'), 'utf8'));
let s;

before(async () => { s = await start(); });
after(async () => { await s?.close(); });

async function expectReport(name) {
  await s.page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error');
  const err = await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  assert.equal(err, '', `unexpected error for ${name}`);
  const got = await readMetrics(s.page);
  const want = goldens[name];
  assert.equal(await s.page.$eval('#task', (e) => e.dataset.task), want.task);
  assert.equal(Number(got.n), want.n);
  for (const [key, value] of Object.entries(want.metrics)) {
    assert.ok(key in got, `${name}: no element with data-metric="${key}"`);
    assert.ok(close(got[key], value, key), `${name} ${key}: page ${got[key]} vs sklearn ${value}`);
  }
}

test('the built-in demo renders a full report', async () => {
  await s.page.goto(s.url);
  await s.page.click('#demo-button');
  await expectReport('breast_cancer.csv');
  for (const id of ['plot-confusion', 'plot-roc', 'plot-pr']) {
    assert.ok(await s.page.$(`#${id} img`), `${id} drawn`);
  }
  await s.page.screenshot({ path: join(screenshots, 'demo-binary.png'), fullPage: true });
});

test('a picked multiclass file matches scikit-learn', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'www/demo/digits.csv'));
  await expectReport('digits.csv');
  await s.page.screenshot({ path: join(screenshots, 'multiclass.png'), fullPage: true });
});

test('a regression file matches scikit-learn', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'www/demo/diabetes.csv'));
  await expectReport('diabetes.csv');
});

test('a bad file shows a specific error, and the page keeps working', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', join(root, 'tests/fixtures/e2e/bad/ragged.csv'));
  await s.page.waitForFunction(() => document.body.dataset.state === 'error');
  const text = await s.page.$eval('#error', (e) => e.textContent);
  assert.match(text, /ragged\.csv, line 3: row has 3 fields but the header has 2/);
  await s.page.screenshot({ path: join(screenshots, 'error.png'), fullPage: true });
  await s.page.setInputFiles('#file-input', join(root, 'tests/fixtures/e2e/bad/not_numeric.csv'));
  await s.page.waitForFunction(() => document.getElementById('error').textContent.includes('abc'));
  assert.match(await s.page.$eval('#error', (e) => e.textContent), /line 3, column 'score': 'abc' is not a number/);
  await s.page.click('#demo-button');
  await expectReport('breast_cancer.csv');
});

test('evaluating makes no request off the page origin and raises no page errors', async () => {
  assert.deepEqual(s.offOrigin, []);
  assert.deepEqual(s.consoleErrors, []);
});
