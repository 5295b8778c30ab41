// Startup cost of the page: time from navigation to interactive (the wasm engine in its worker
// has answered) and the download size of what a first visit fetches (gzip -9, as a server
// would send it). Needs dist/ (`npm run build`). No asserts: the bench reports, people judge.
//
//   import { startup } from './benches/startup.mjs'; console.log(await startup({ runs: 5 }));
//   node benches/startup.mjs            # prints the same object as JSON
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { start, root } from '../tests/e2e/harness.mjs';

function sizes() {
  const dir = join(root, 'dist', 'assets');
  const out = { wasm_bytes: 0, wasm_gzip_bytes: 0, js_css_gzip_bytes: 0 };
  for (const f of readdirSync(dir)) {
    const data = readFileSync(join(dir, f));
    const gz = gzipSync(data, { level: 9 }).length;
    if (f.endsWith('.wasm')) { out.wasm_bytes += data.length; out.wasm_gzip_bytes += gz; }
    else if (/\.(js|css)$/.test(f)) out.js_css_gzip_bytes += gz;
  }
  return out;
}

/** Median and all runs of navigation → interactive (ms), each with a fresh (cold) cache. */
export async function startup({ runs = 5 } = {}) {
  const times = [];
  const firstPaint = [];
  for (let i = 0; i < runs; i++) {
    const s = await start();
    try {
      await s.page.goto(s.url);
      await s.page.waitForFunction(() => document.body.dataset.interactiveMs, null, { timeout: 30000 });
      times.push(Number(await s.page.evaluate(() => document.body.dataset.interactiveMs)));
      firstPaint.push(await s.page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null));
    } finally {
      await s.close();
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return {
    interactive_ms_median: median(times),
    interactive_ms_runs: times,
    first_contentful_paint_ms_median: median(firstPaint.filter((v) => v !== null)),
    ...sizes(),
    note: 'Chromium headless, local vite preview server, cold cache per run; interactive = wasm engine in its worker answered',
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await startup({ runs: Number(process.argv[2] ?? 5) }), null, 2));
}
