// Files as people have them, through the page: a gzip CSV gives the very report of the plain
// CSV; a model plus a zip of images in class folders runs and is scored against the folders
// (expected values: onnxruntime + scikit-learn, tests/fixtures/data/make_images.py), the image
// decoders coming from the third wasm module, fetched for that run only; and a
// large CSV streams through the worker with wasm memory that does not follow the file size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, readMetrics, root } from './harness.mjs';

const fixtures = join(root, 'tests/fixtures/data');
let s;
const requests = [];

before(async () => {
  s = await start();
  s.context.on('request', (r) => requests.push(r.url()));
});
after(async () => { await s?.close(); });

/** Pick `files`, wait for the report, return its data-metric values. */
async function report(files) {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', files);
  await s.page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 120_000 });
  const err = await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  assert.equal(err, '', `unexpected error for ${files}`);
  return readMetrics(s.page);
}

test('a .csv.gz gives the same report as the plain CSV', async () => {
  const plain = await report(join(fixtures, 'multi.csv'));
  const gz = await report(join(fixtures, 'multi.csv.gz'));
  assert.ok(Object.keys(plain).length > 20, `only ${Object.keys(plain).length} metrics on the page`);
  assert.deepEqual(gz, plain);
});

test('a model and a zip of class folders: the page runs the model on the images', async () => {
  const want = JSON.parse(readFileSync(join(fixtures, 'digits_images.json'), 'utf8'));
  await report(join(fixtures, 'multi.csv'));
  assert.deepEqual(requests.filter((u) => /webeval_images/.test(u)), [], 'a CSV fetched the image module');
  const got = await report([join(fixtures, 'digits_image_model.onnx'), join(fixtures, 'digits_images.zip')]);
  assert.ok(requests.some((u) => /webeval_images.*\.wasm$/.test(u)), 'the image module was loaded');
  assert.equal(await s.page.$eval('#task', (e) => e.dataset.task), 'multiclass');
  assert.equal(Number(got.n), want.n);
  for (const [key, value] of Object.entries(want.metrics)) {
    assert.ok(key in got, `no element with data-metric="${key}"`);
    // Probabilities come from our runtime, not onnxruntime: float32 sums may differ in the last bits.
    const tol = 1e-6 * Math.max(Math.abs(value), 1e-3);
    assert.ok(Math.abs(Number(got[key]) - value) <= tol, `${key}: page ${got[key]} vs onnxruntime + sklearn ${value}`);
  }
  // Classes are the folder names (sorted folder i = model output i), not output numbers.
  const classes = await s.page.$$eval('#confusion-table thead th.num', (els) => els.map((e) => e.textContent));
  assert.deepEqual(classes, want.classes);
});

test('a zip with a file that is no image: the error names it', async () => {
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', [join(fixtures, 'digits_image_model.onnx'), join(fixtures, 'broken_images.zip')]);
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  const err = await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  assert.match(err, /broken_images\.zip\/digits\/zero\/1\.png/);
  assert.match(err, /cannot decode the image/);
  // the engine survived: the next drop works
  await report(join(fixtures, 'multi.csv'));
});

test('a 100 MB CSV streams with bounded wasm memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'webeval-big-'));
  const file = join(dir, 'big.csv');
  try {
    // label, prediction and an id column the report ignores: nothing per row is kept (no
    // scores, whose exact AUC would keep every one by design).
    const out = createWriteStream(file);
    out.write('row_id,label,pred\n');
    const rows = 4_000_000;
    for (let start = 0; start < rows; start += 100_000) {
      let chunk = '';
      for (let i = start; i < start + 100_000; i++) {
        const y = (i * 7919) % 10;
        chunk += `id-${String(i).padStart(20, '0')},${y},${i % 13 === 0 ? (y + 1) % 10 : y}\n`;
      }
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((r) => out.end(r));
    const bytes = statSync(file).size;
    assert.ok(bytes > 100e6, `${bytes} bytes`);
    const got = await report(file);
    assert.equal(Number(got.n), rows);
    const memory = Number(await s.page.evaluate(() => document.body.dataset.wasmMemory));
    assert.ok(memory > 0, 'the page reports the worker\'s wasm memory');
    t.diagnostic(`wasm memory ${(memory / 2 ** 20).toFixed(1)} MiB after streaming ${(bytes / 1e6).toFixed(0)} MB`);
    // The file is over 100 MB; the engine's memory must stay a small fixed budget.
    assert.ok(memory < 64 * 2 ** 20, `wasm memory ${memory} bytes for a ${bytes}-byte file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no request leaves the page origin and no page errors', async () => {
  assert.deepEqual(s.offOrigin, []);
  assert.deepEqual(s.consoleErrors, []);
});
