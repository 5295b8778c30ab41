// The demo model on WebGPU in the page (headless Chromium's SwiftShader adapter, a software
// GPU: correctness, not speed), compared with the same page run on the CPU. Without a WebGPU
// adapter the test says "skipped: no adapter" and why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { start, readMetrics, screenshots } from './harness.mjs';

let s;
before(async () => { s = await start({ webgpu: true }); });
after(async () => { await s?.close(); });

async function runDemo(device) {
  await s.page.goto(s.url);
  await s.page.selectOption('#device-select', device);
  await s.page.click('#demo-model');
  await s.page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 120_000 });
  const err = await s.page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  assert.equal(err, '', `unexpected error on ${device}`);
  const ranOn = await s.page.$eval('#ran-on', (e) => ({ device: e.dataset.device, text: e.textContent }));
  ranOn.notes = await s.page.$$eval('#speed .note', (els) => els.map((e) => e.textContent));
  return { metrics: await readMetrics(s.page), ranOn };
}

test('the demo model runs on WebGPU in the page and matches the CPU', async (t) => {
  await s.page.goto(s.url);
  const adapter = await s.page.evaluate(async () => {
    if (!navigator.gpu) return { none: 'navigator.gpu is missing' };
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { none: 'requestAdapter() returned null' };
    return { vendor: a.info?.vendor, architecture: a.info?.architecture, fallback: a.info?.isFallbackAdapter ?? a.isFallbackAdapter };
  });
  if (adapter.none) {
    t.skip(`skipped: no adapter (${adapter.none})`);
    return;
  }
  const cpu = await runDemo('cpu');
  assert.equal(cpu.ranOn.device, 'cpu', cpu.ranOn.text);
  const gpu = await runDemo('gpu');
  assert.equal(gpu.ranOn.device, 'gpu', `forced WebGPU ran on: ${gpu.ranOn.text} ${gpu.ranOn.notes.join(' | ')}`);
  assert.match(gpu.ranOn.text, /BrowserWebGpu/);
  await s.page.screenshot({ path: join(screenshots, 'model-run-webgpu.png'), fullPage: true });
  // Same predictions: the labels (hence every count metric) are identical, the probability
  // metrics agree within float32 tolerances.
  assert.equal(Number(gpu.metrics.n), 450);
  assert.ok(Math.abs(Number(gpu.metrics.accuracy_score) - 440 / 450) < 1e-12, `accuracy ${gpu.metrics.accuracy_score}`);
  for (const [k, v] of Object.entries(cpu.metrics)) {
    if (k.startsWith('latency') || k.startsWith('throughput') || !(k in gpu.metrics)) continue;
    const [a, b] = [Number(v), Number(gpu.metrics[k])];
    if (Number.isFinite(a)) assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a)), `${k}: GPU ${b} vs CPU ${a}`);
    else assert.equal(gpu.metrics[k], v, k);
  }
  // auto skips software adapters (SwiftShader is WebGPU's fallback adapter) and says so.
  if (adapter.fallback) {
    const auto = await runDemo('auto');
    assert.equal(auto.ranOn.device, 'cpu');
    assert.match(auto.ranOn.text, /software renderer/);
  }
});
