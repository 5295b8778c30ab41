// The model card on a ~100 MB model (tests/fixtures/model/make_big_model.py: ResNet-50 with
// seeded weights, made into target/model-big/ when missing): in the built page (dist/), time
// from dropping the file to the card, and the longest gap of a main-thread heartbeat meanwhile
// (the UI must not freeze: the worker does the work); natively, `webeval inspect`'s work
// (benches/native.rs `inspect`, the release bench binary). No asserts: the bench reports.
//
//   import { benchModelPage, benchModelNative } from './benches/model.mjs';
//   node benches/model.mjs [RUNS]      # the page half, as JSON
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { start, bigModel, dropModel } from '../tests/e2e/harness.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Drop → card in the built page, `runs` times on a fresh page each (wasm cold in its worker
 * only the first time: the page is reloaded, the browser cache kept), then once with the
 * weights in an external-data file. */
export async function benchModelPage({ runs = 5 } = {}) {
  const { dir, expected } = bigModel();
  const out = { file: expected.inline, file_bytes: expected.bytes[expected.inline], params: expected.params, load_average_1m_at_start: loadavg()[0] };
  const s = await start();
  try {
    const one = async (files) => {
      await s.page.goto(s.url);
      await s.page.waitForFunction(() => document.body.dataset.interactiveMs, null, { timeout: 60_000 });
      const r = await dropModel(s.page, files);
      const shown = Number(await s.page.$eval('[data-metric="params"]', (e) => e.dataset.value).catch(() => NaN));
      if (shown !== expected.params) throw new Error(`the card shows ${shown} parameters, expected ${expected.params}`);
      return r;
    };
    const all = [];
    for (let i = 0; i < runs; i++) all.push(await one(join(dir, expected.inline)));
    out.runs = all.map((r) => Math.round(r.ms));
    out.drop_to_card_ms_median = median(all.map((r) => r.ms));
    out.longest_main_thread_gap_ms = Math.max(...all.map((r) => r.stall.longest_gap_ms));
    out.main_thread_gap_ms_median = median(all.map((r) => r.stall.longest_gap_ms));
    const ext = await one(expected.external.map((f) => join(dir, f)));
    out.external_data = { files: expected.external, drop_to_card_ms: ext.ms, longest_main_thread_gap_ms: ext.stall.longest_gap_ms };
  } finally {
    await s.close();
  }
  out.load_average_1m_at_end = loadavg()[0];
  out.note = 'built page (dist/, Vite preview), headless Chromium; drop = setInputFiles change event → #model-card in the DOM; gap = longest interval between requestAnimationFrame/16 ms setInterval beats on the main thread';
  return out;
}

/** `webeval inspect`'s work natively (benches/native.rs `inspect`: read, decode, shapes,
 * counts, card JSON), median of `runs`, on both variants. */
export function benchModelNative(exe, { runs = 5 } = {}) {
  const { dir, expected } = bigModel();
  const one = (file) => {
    const r = spawnSync(exe, ['inspect', join(dir, file), String(runs)], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) return { error: `exit ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}` };
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  return { inline: one(expected.inline), external_data: one(expected.external[0]), load_average_1m: loadavg()[0] };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchModelPage({ runs: Number(process.argv[2] ?? 5) }), null, 2));
}
