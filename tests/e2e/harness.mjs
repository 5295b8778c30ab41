// Shared set-up for browser tests: serve dist/ with Vite's preview server and drive Debian's
// Chromium through playwright-core (never a downloaded browser), with the flags DESIGN.md lists.
import { preview, createServer } from 'vite';
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const screenshots = join(root, 'tests', 'e2e', 'screenshots');
const UNSAFE_PORTS = new Set([5060, 5061, 6000]);

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let cli;
/** The native CLI as `cargo test` built it (`npm test` runs `cargo test` first, so this compiles
 * nothing there). `cargo run` would build it again: without the dev-dependencies (proptest, csv)
 * some shared dependencies get other features, which recompiled them and webeval, ~100 s of a
 * clean CI run. */
export function cliExe() {
  if (cli) return cli;
  const r = spawnSync('cargo', ['test', '--no-run', '--message-format=json'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('cargo test --no-run failed');
  cli = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    // the binary itself, not the test harness of its unit tests (also a `bin` artifact named webeval)
    .find((m) => m.reason === 'compiler-artifact' && m.target?.kind?.includes('bin') && m.target.name === 'webeval' && !m.profile?.test && m.executable)?.executable;
  if (!cli) throw new Error('no webeval binary in the output of cargo test --no-run');
  return cli;
}

/** `dev`: Vite's dev server of the source tree instead of dist/, for tests that import the wasm
 * core's exports themselves (/www/pkg/webeval.js, built by `npm run build`). */
export async function start({ webgpu = false, dev = false } = {}) {
  let server;
  if (dev) {
    if (!existsSync(join(root, 'www', 'pkg', 'webeval.js'))) throw new Error('www/pkg/ missing: run `npm run build` first');
    server = await createServer({ root, server: { host: '127.0.0.1', port: 0, hmr: false }, logLevel: 'warn', clearScreen: false });
    await server.listen();
  } else {
    if (!existsSync(join(root, 'dist', 'index.html'))) throw new Error('dist/ missing: run `npm run build` first');
    // a random port (test files run side by side), not one Chromium refuses
    // (net::ERR_UNSAFE_PORT: SIP's 5060/5061, X11's 6000 lie in this range)
    let port;
    do port = 4173 + Math.floor(Math.random() * 2000); while (UNSAFE_PORTS.has(port));
    server = await preview({ root, preview: { host: '127.0.0.1', port, strictPort: false }, logLevel: 'warn' });
  }
  const url = server.resolvedUrls.local[0];
  const args = [
    '--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  else args.push('--disable-gpu');
  const userDataDir = mkdtempSync(join(tmpdir(), 'webeval-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args, viewport: { width: 1280, height: 900 },
  });
  const origin = new URL(url).origin;
  const offOrigin = [];
  context.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) offOrigin.push(u);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  mkdirSync(screenshots, { recursive: true });
  return {
    url, page, context, offOrigin, consoleErrors,
    async close() {
      await context.close();
      // the profile folder is ours alone; left behind, every test run adds ~13 MB to /tmp
      rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
      if (dev) await server.close();
      else await new Promise((resolve) => server.httpServer.close(resolve));
    },
  };
}

/** Every data-metric element on the page as {key: data-value parsed}. */
export async function readMetrics(page) {
  return page.$$eval('[data-metric]', (els) => Object.fromEntries(els.map((e) => [e.dataset.metric, e.dataset.value])));
}

export function close(got, want, key) {
  if (want === null) return got === 'null' || got === null;
  if (Array.isArray(want)) return JSON.stringify(JSON.parse(got)) === JSON.stringify(want);
  const g = Number(got);
  return Math.abs(g - want) <= 1e-9 * Math.max(Math.abs(want), 1e-3) || (console.error(key, got, want), false);
}

/** Wait until the page's work has ended, and fail with the page's error text if it showed one. */
export async function settled(page) {
  await page.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.state));
  const err = await page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  if (err) throw new Error(`the page showed an error: ${err}`);
}

/** The ~100 MB ResNet-50 (inline and external-data variants) and its expected counts, made by
 * tests/fixtures/model/make_big_model.py into target/model-big/ (git-ignored) when missing. */
export function bigModel() {
  const dir = join(root, 'target', 'model-big');
  const want = join(dir, 'expected.json');
  if (!existsSync(want)) {
    const r = spawnSync(process.env.PYTHON ?? 'python3', ['tests/fixtures/model/make_big_model.py', dir], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('tests/fixtures/model/make_big_model.py failed (needs python3 with onnx and numpy: scripts/requirements.txt)');
  }
  return { dir, expected: JSON.parse(readFileSync(want, 'utf8')) };
}

/** Watches the page's main thread: a requestAnimationFrame + setInterval heartbeat records the
 * longest gap between beats (ms) from now on; read it with `stallReport(page)`. */
export async function watchStalls(page) {
  await page.evaluate(() => {
    const w = (window.__stall = { last: performance.now(), max: 0, beats: 0 });
    const beat = () => {
      const t = performance.now();
      w.max = Math.max(w.max, t - w.last);
      w.last = t;
      w.beats++;
    };
    const frame = () => { beat(); w.raf = requestAnimationFrame(frame); };
    w.raf = requestAnimationFrame(frame);
    w.timer = setInterval(beat, 16);
  });
}

export async function stallReport(page) {
  return page.evaluate(() => {
    const w = window.__stall;
    cancelAnimationFrame(w.raf);
    clearInterval(w.timer);
    return { longest_gap_ms: Math.max(w.max, performance.now() - w.last), beats: w.beats };
  });
}

/** Drop `files` on the page's file input and time it until the model card (or an error) shows:
 * {ms, stall: {longest_gap_ms, beats}}. */
export async function dropModel(page, files) {
  await watchStalls(page);
  await page.evaluate(() => {
    window.__drop = { t0: null };
    document.getElementById('file-input').addEventListener('change', () => { window.__drop.t0 = performance.now(); }, { capture: true, once: true });
    new MutationObserver((_, obs) => {
      if (document.getElementById('model-card') || document.body.dataset.state === 'error') {
        window.__drop.t1 = performance.now();
        obs.disconnect();
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.state) && window.__drop.t1, null, { timeout: 120_000 });
  const stall = await stallReport(page);
  const ms = await page.evaluate(() => window.__drop.t1 - window.__drop.t0);
  return { ms, stall };
}
