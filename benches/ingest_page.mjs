// The ingest bench's page half alone, for speed work on the worker's read: the 1 GB CSV (or any
// file) dropped on the bench page, `runs` times, each in a fresh page, printing one JSON line a
// run (read and full seconds, Chromium's CPU seconds and minor page faults, wasm memory, the report's FNV-1a hash). `--root DIR` serves
// another checkout's page (e.g. a copy of main's www/ with its built pkg/), so two builds can
// be timed in alternating runs at the same load. `--workers N` sets how many Web Workers read the
// file (1: the one worker alone; default: the page's, one per core). `--threads`: each busy
// Chromium thread's CPU seconds too (the workers' are its "DedicatedWorker thread"s).
//   node benches/ingest_page.mjs FILE [--runs N] [--ci] [--workers N] [--root DIR] [--threads]
import { createServer } from 'vite';
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);

/** CPU seconds (user + system) and minor page faults so far of the Chromium started with
 *  `profile`, all its processes (the browser's, which reads the file, and the page's, which runs
 *  the worker). A minor fault is a fresh page of memory first touched: an ArrayBuffer's, the
 *  wasm memory's, each zeroed by the kernel. */
function chromiumUsage(profile) {
  let ticks = 0, faults = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(profile)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      faults += Number(f[7]);
    } catch {
      // gone meanwhile
    }
  }
  return { cpu: ticks / 100, faults }; // USER_HZ
}

/** CPU seconds so far of each thread of that Chromium's processes, by "pid/tid name" (`--threads`:
 *  the workers' threads are Chromium's "DedicatedWorker thread"s of the renderer). */
function chromiumThreadSeconds(profile) {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(profile)) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${pid}/${tid} ${name}`, (Number(f[11]) + Number(f[12])) / 100);
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The threads that used at least 0.1 CPU-s between two `chromiumThreadSeconds`, busiest first. */
function busiestThreads(before, after) {
  return [...after].map(([k, s]) => [k, Math.round((s - (before.get(k) ?? 0)) * 100) / 100])
    .filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k}: ${s}`);
}

const opt = (name, d) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : d);
const file = argv[0];
if (!file || file.startsWith('--')) {
  console.error('usage: node benches/ingest_page.mjs FILE [--runs N] [--ci] [--workers N] [--root DIR] [--threads]');
  process.exit(2);
}
const root = resolve(opt('root', join(dirname(fileURLToPath(import.meta.url)), '..')));
const options = { ...(argv.includes('--ci') ? { ci: 0.95 } : {}), ...(opt('workers') ? { workers: Number(opt('workers')) } : {}) };
const server = await createServer({ root, server: { host: '127.0.0.1', port: 0, hmr: false }, logLevel: 'warn', clearScreen: false });
await server.listen();
const base = server.resolvedUrls.local[0].replace(/\/$/, '');
const profile = mkdtempSync(join(tmpdir(), 'webeval-ingest-page-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-gpu'],
});
try {
  for (let i = 0; i < Number(opt('runs', 1)); i++) {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(String(e)));
    await page.goto(`${base}/benches/page.html`);
    await page.waitForFunction(() => typeof window.benchIngest === 'function', null, { timeout: 120_000 });
    await page.setInputFiles('#file', file);
    const load = loadavg()[0];
    const before = chromiumUsage(profile);
    // threads come and go (the helper workers): polled, each keeping the last figure seen
    const perThread = argv.includes('--threads') ? chromiumThreadSeconds(profile) : null;
    const seen = new Map();
    const poll = perThread && setInterval(() => chromiumThreadSeconds(profile).forEach((s, k) => seen.set(k, s)), 100);
    const r = await page.evaluate((o) => window.benchIngest(o), options);
    const after = chromiumUsage(profile);
    const chromium_cpu_seconds = after.cpu - before.cpu;
    const chromium_minor_faults = after.faults - before.faults;
    if (poll) clearInterval(poll);
    if (perThread) chromiumThreadSeconds(profile).forEach((s, k) => seen.set(k, s));
    const threads = perThread ? { thread_cpu_seconds: busiestThreads(perThread, seen) } : {};
    console.log(JSON.stringify({ root, ...r, chromium_cpu_seconds, chromium_minor_faults, ...threads, load_average_1m: [load, loadavg()[0]] }));
    await page.close();
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await server.close();
}
