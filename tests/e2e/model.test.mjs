// The model card on a real-sized model: the ~100 MB ResNet-50 of
// tests/fixtures/model/make_big_model.py (seeded weights in the onnx wheel's light_resnet50;
// built into target/model-big/ when missing). Expected counts come from that script: the onnx
// package's initializer count and make_models.py's independent MAC formulas on onnx's shape
// inference. The main thread must keep beating while the worker inspects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { start, readMetrics, root, screenshots, bigModel, dropModel } from './harness.mjs';

let s;
let big;

before(async () => {
  big = bigModel();
  s = await start();
});
after(async () => { await s?.close(); });

async function noError() {
  const err = await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  assert.equal(err, '');
}

/** The headline numbers every variant of the model must show. */
async function checkCard(batch) {
  const m = await readMetrics(s.page);
  assert.equal(Number(m.params), big.expected.params, 'parameters = the onnx package count');
  assert.equal(Number(m.macs), big.expected.macs[String(batch)], `MACs at batch ${batch} = the fixture script's count`);
  assert.equal(await s.page.$eval('#model-card', (e) => e.dataset.batch), String(batch));
  return m;
}

test('a 100 MB model: card in seconds, exact counts, the main thread never stalls', async () => {
  await s.page.goto(s.url);
  const { ms, stall } = await dropModel(s.page, join(big.dir, big.expected.inline));
  await noError();
  console.log(`# 100 MB model: drop → card ${ms.toFixed(0)} ms, longest main-thread gap ${stall.longest_gap_ms.toFixed(0)} ms (${stall.beats} beats)`);
  const m = await checkCard(1);
  // Compact display, exact value in the attribute and the tooltip.
  const params = await s.page.$eval('[data-metric="params"]', (e) => ({ text: e.textContent, title: e.title }));
  assert.equal(params.text, `${(big.expected.params / 1e6).toFixed(2)} M`);
  assert.equal(params.title, big.expected.params.toLocaleString('en-US'));
  assert.equal(Number(m.size_bytes), big.expected.bytes[big.expected.inline], 'model size on disk = the file size');
  assert.equal(Number(m.param_bytes), 4 * big.expected.params - 4 * 2 + 8 * 2, 'float32 weights + one int64[2] reshape shape');
  // Tables: inputs/outputs with shapes, per op type, per dtype.
  const io = await s.page.$$eval('#io-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(io.map((r) => r.slice(0, 4)), [['input', 'gpu_0/data_0', 'float32', '[N, 3, 224, 224]'], ['output', 'gpu_0/softmax_1', 'float32', '[N, 1000]']]);
  const ops = await s.page.$$eval('#by-op-table tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.op, tr.children[1].textContent])));
  assert.equal(ops.Conv, '53');
  assert.equal(ops.Gemm, '1');
  const dtypes = await s.page.$$eval('#by-dtype-table tbody tr', (trs) => trs.map((tr) => tr.dataset.dtype));
  assert.ok(dtypes.includes('float32'), `dtypes: ${dtypes}`);
  assert.equal(await s.page.textContent('#model-producer'), 'webeval-fixtures (light_resnet50 + seeded weights)');
  assert.match(await s.page.textContent('#model-opset'), /ai\.onnx 9/);
  assert.ok(stall.longest_gap_ms < 1500, `main thread stalled for ${stall.longest_gap_ms.toFixed(0)} ms`);
  await s.page.screenshot({ path: join(screenshots, 'model-card-big.png'), fullPage: true });
});

test('the same model with its weights in an external-data file gives the same card', async () => {
  await s.page.goto(s.url);
  const [onnxFile, dataFile] = big.expected.external;
  const { ms, stall } = await dropModel(s.page, [join(big.dir, onnxFile), join(big.dir, dataFile)]);
  await noError();
  console.log(`# external data: drop → card ${ms.toFixed(0)} ms, longest main-thread gap ${stall.longest_gap_ms.toFixed(0)} ms`);
  const m = await checkCard(1);
  assert.equal(Number(m.size_bytes), big.expected.bytes[onnxFile] + big.expected.bytes[dataFile], 'size = model + its data file');
  assert.match(await s.page.textContent('#status'), /external data resnet50_ext\.data/);
  assert.ok(stall.longest_gap_ms < 1500, `main thread stalled for ${stall.longest_gap_ms.toFixed(0)} ms`);

  // Without its data file the card still comes (counts need shapes, not values), with a note.
  await s.page.goto(s.url);
  await dropModel(s.page, join(big.dir, onnxFile));
  await noError();
  const alone = await checkCard(1);
  assert.equal(Number(alone.size_bytes), big.expected.bytes[onnxFile]);
  assert.match(await s.page.textContent('#model-card'), /keep their data in external files that were not supplied/);
});

test('the batch control re-inspects the model at that batch', async () => {
  await s.page.goto(s.url);
  await dropModel(s.page, join(big.dir, big.expected.inline));
  await noError();
  await s.page.fill('#model-batch', '3');
  await s.page.press('#model-batch', 'Enter');
  await s.page.waitForSelector('#model-card[data-batch="3"]', { timeout: 120_000 });
  await noError();
  await checkCard(3);
  assert.equal(await s.page.inputValue('#model-batch'), '3');
  const io = await s.page.$$eval('#io-table tbody tr', (trs) => trs.map((tr) => tr.children[4].textContent));
  assert.deepEqual(io, ['[3, 3, 224, 224]', '[3, 1000]']);
});

test('a model with external data runs on a dataset; without its data file the error names it', async () => {
  const [onnxFile, dataFile] = big.expected.run_external;
  const csv = join(root, 'www/demo/digits_data.csv');
  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', [join(big.dir, onnxFile), join(big.dir, dataFile), csv]);
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state));
  await noError();
  const m = await readMetrics(s.page);
  // The same model as the page's digits demo (tests/fixtures/runtime/make_models.py: scikit-learn
  // scores 440 of these 450 digits right), its weights read from the external file.
  assert.equal(Number(m.n), 450);
  assert.ok(Math.abs(Number(m.accuracy_score) - 440 / 450) < 1e-12, `accuracy ${m.accuracy_score}`);

  await s.page.goto(s.url);
  await s.page.setInputFiles('#file-input', [join(big.dir, onnxFile), csv]);
  await s.page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state));
  const err = await s.page.textContent('#error');
  assert.match(err, new RegExp(`${onnxFile}.*external file '${dataFile}', which was not supplied; drop that file together with the model`));
});
