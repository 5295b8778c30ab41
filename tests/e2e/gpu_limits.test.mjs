// The WebGPU kernels' split paths in the browser (headless Chromium's SwiftShader adapter).
// Model fixtures run in a GPU session whose storage-binding limit is lowered to 2 KiB, using
// gpuModelSession's test-only argument, so weights and activations are bound in parts as on a
// small adapter. Their outputs are compared with the CPU runtime in the same page and with
// onnxruntime's goldens (tests/fixtures/gpu/models.json), within the ONNX tolerances of
// tests/gpu.rs (|gpu - ref| <= 1e-5 + 1e-3 |ref|). tests/gpu.rs runs the same cases natively.
// Without a WebGPU adapter the test says "skipped: no adapter" and why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, root } from './harness.mjs';

const LIMIT = 2048;
const ATOL = 1e-5;
const RTOL = 1e-3;

let s;
before(async () => { s = await start({ webgpu: true, dev: true }); });
after(async () => { await s?.close(); });

/** Every value of `got` within the tolerances of `want`, naming the first that is not. */
function assertClose(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= ATOL + RTOL * Math.abs(want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

test(`model fixtures on a ${LIMIT}-byte binding limit match the CPU runtime and onnxruntime`, async (t) => {
  const cases = JSON.parse(readFileSync(join(root, 'tests', 'fixtures', 'gpu', 'models.json'), 'utf8'))
    .filter((c) => c.model === 'mlp.onnx' || c.model === 'cnn.onnx');
  assert.equal(cases.length, 2);
  // A page of the dev server's origin that loads nothing else (the app would start its worker).
  await s.page.goto(new URL('www/core.js', s.url).href);
  const r = await s.page.evaluate(async ({ cases, limit }) => {
    if (!navigator.gpu) return { none: 'navigator.gpu is missing' };
    if (!(await navigator.gpu.requestAdapter())) return { none: 'requestAdapter() returned null' };
    const wasm = await import('/www/pkg/webeval.js');
    const { coreWasmUrl } = await import('/www/core.js');
    await wasm.default({ module_or_path: coreWasmUrl });
    const rows = [];
    for (const c of cases) {
      const bytes = new Uint8Array(await (await fetch(`/tests/fixtures/model/${c.model}`)).arrayBuffer());
      const x = new Float32Array(c.x);
      const cpu = new wasm.ModelSession(bytes);
      const row = { model: c.model, cpu: Array.from(cpu.run(x, c.shape)) };
      cpu.free();
      for (const [key, max] of [['small', limit], ['full', undefined]]) {
        const g = await wasm.gpuModelSession(bytes, max);
        row[key] = { out: Array.from(await g.run(x, c.shape)), notes: g.notes(), adapter: JSON.parse(g.adapter()) };
        g.free();
      }
      rows.push(row);
    }
    return { rows };
  }, { cases, limit: LIMIT });
  if (r.none) {
    t.skip(`skipped: no adapter (${r.none})`);
    return;
  }
  for (const [i, row] of r.rows.entries()) {
    const golden = cases[i].outputs[0].data;
    assert.equal(row.small.adapter.max_binding_bytes, LIMIT, `${row.model}: the session's binding limit`);
    assert.ok(row.full.adapter.max_binding_bytes > LIMIT, `${row.model}: the default session keeps the adapter's limit`);
    assert.deepEqual(row.full.notes, [], `${row.model}: every node on the GPU at the adapter's limit`);
    if (row.model === 'mlp.onnx') {
      // Both weight matrices (1280 and 640 floats) are over 2 KiB: split along K, still on the GPU.
      assert.deepEqual(row.small.notes, [], 'mlp: every node on the GPU at 2 KiB');
    } else {
      // A 32x32 input plane and conv2's columns per plane are over 2 KiB: that conv runs on the
      // CPU, and its Relu (fused into the GPU epilogue otherwise) is applied on its own.
      assert.ok(row.small.notes.some((n) => n.includes('conv2')), `cnn notes: ${row.small.notes.join(' | ')}`);
    }
    assertClose(row.cpu, golden, `${row.model} CPU vs onnxruntime`);
    for (const key of ['small', 'full']) {
      assertClose(row[key].out, row.cpu, `${row.model} GPU (${key} limit) vs CPU`);
      assertClose(row[key].out, golden, `${row.model} GPU (${key} limit) vs onnxruntime`);
    }
  }
});
