// A big delimited file read by several Web Workers (www/split.js): the report is the one-worker
// report byte for byte, with small chunks (the `chunkBytes` option, tests only) through the
// engine itself, and through the built page at the default chunk size; a bad row's error is the
// one-worker error; cancel stops the merging worker and its helpers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, settled } from './harness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'webeval-split-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `rows` rows of a 3-class file with probabilities; every 97th id quoted with a newline in it,
 * so that some chunks' guessed starts fall inside quotes and are read again. */
function csv(rows, from = 0) {
  let text = from ? '' : 'id,y_true,prob_a,prob_b,prob_c\n';
  for (let i = from; i < from + rows; i++) {
    const p = (i % 89) / 178;
    const id = i % 97 === 5 ? `"r${i}\nmore"` : `r${i}`;
    text += `${id},${'abc'[i % 3]},${p},${0.5 - p / 2},${0.5 - p / 2}\n`;
  }
  return text;
}

/** A CSV of about `mb` MB written to the scratch folder. */
async function bigFile(name, mb) {
  const file = join(dir, name);
  const out = createWriteStream(file);
  let bytes = 0;
  for (let at = 0; bytes < mb * 1e6; at += 50_000) {
    const part = csv(50_000, at);
    bytes += part.length;
    if (!out.write(part)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  return file;
}

/** Evaluate `text` (or the page's picked file) with the engine in the dev page: {json | error, workers}. */
function evaluate(page, text, options) {
  return page.evaluate(async ([text, options]) => {
    const { Engine } = await import('/www/engine.js');
    const engine = new Engine();
    const file = text === null ? document.getElementById('split-input').files[0] : new File([text], 'split.csv', { type: 'text/csv' });
    let workers = 0;
    try {
      const json = await engine.evaluate(file, options, (msg) => { workers = Math.max(workers, msg.workers ?? 0); });
      return { json, workers };
    } catch (err) {
      return { error: err.message, workers };
    } finally {
      engine.worker.terminate();
    }
  }, [text, options]);
}

/** Keeps every text the progress line shows in window.__progress. */
function watchProgress(page) {
  return page.evaluate(() => {
    window.__progress = [];
    const line = document.getElementById('progress-text');
    new MutationObserver(() => window.__progress.push(line.textContent)).observe(line, { childList: true, characterData: true, subtree: true });
  });
}

let big; // a file over two chunks and its one-worker report, from the dev page

test('read in parts by several workers: the one-worker report, byte for byte', async () => {
  const s = await start({ dev: true });
  try {
    await s.page.goto(s.url);
    const text = csv(60_000);
    // (past a small score budget too: the merge bins the helpers' chunks into its sketches)
    for (const base of [{ chunkBytes: 1 << 16 }, { chunkBytes: 100_000, ci: 0.9, ciReplicates: 20 }, { chunkBytes: 1 << 16, scoreBudget: 30_000 }]) {
      const one = await evaluate(s.page, text, { ...base, workers: 1 });
      assert.ok(one.json?.includes('roc_auc_score'), JSON.stringify(one).slice(0, 300));
      assert.equal(one.workers, 1);
      for (const workers of [2, 4]) {
        const got = await evaluate(s.page, text, { ...base, workers });
        assert.equal(got.workers, workers, 'helpers read the file');
        assert.equal(got.json, one.json, `${JSON.stringify(base)}, ${workers} workers`);
      }
    }
    // a file whose first chunk's rows are short and the rest long: its size says more scores
    // than the budget, so the core bins them from the first chunk on, finds at the end that
    // they stayed under it, and the worker reads the file again for the exact report
    const longer = csv(2_000) + csv(20_000, 2_000).replace(/^r/gm, 'r'.padEnd(40, 'x'));
    const exact = { chunkBytes: 1 << 16, scoreBudget: 70_000 };
    const first = await evaluate(s.page, longer, { ...exact, workers: 1 });
    assert.ok(first.json?.includes('roc_auc_score') && !first.json.includes('"sketch"'), JSON.stringify(first).slice(0, 300));
    assert.equal((await evaluate(s.page, longer, { ...exact, workers: 2 })).json, first.json);
    // a bad row far into the file: the same error, with its file line, however many workers
    const bad = `${text}x,a,0.1,abc,0.2\n${csv(20_000, 60_000)}`;
    const one = await evaluate(s.page, bad, { chunkBytes: 1 << 16, workers: 1 });
    assert.match(one.error ?? '', /line \d+.*not a number|not a number.*line \d+/s);
    const got = await evaluate(s.page, bad, { chunkBytes: 1 << 16, workers: 3 });
    assert.equal(got.error, one.error);
    // gzip and small files are read by one worker
    const small = await evaluate(s.page, csv(1_000), { workers: 4 });
    assert.equal(small.workers, 1);
    // the one-worker report of the file the built page reads below, at the default chunk size
    // and the page's default options (95% intervals)
    const file = await bigFile('big.csv', 40);
    await s.page.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { type: 'file', id: 'split-input' })));
    await s.page.setInputFiles('#split-input', file);
    big = { file, ...(await evaluate(s.page, null, { ci: 0.95, workers: 1 })) };
    assert.ok(big.json, big.error);
  } finally {
    await s.close();
  }
});

test('the built page reads a big file with several workers: the same report', async (t) => {
  assert.ok(big?.json, 'the first test made the file');
  const s = await start();
  try {
    await s.page.goto(s.url);
    const cores = await s.page.evaluate(() => navigator.hardwareConcurrency);
    await watchProgress(s.page);
    await s.page.setInputFiles('#file-input', big.file);
    await settled(s.page);
    const shown = await s.page.evaluate(() => window.__progress.find((x) => /workers/.test(x)) ?? window.__progress.at(-1));
    t.diagnostic(`${cores} cores; progress "${shown}"`);
    if (cores >= 2) assert.match(shown, /\d workers/);
    const [dl] = await Promise.all([s.page.waitForEvent('download'), s.page.click('[data-export="json"]')]);
    assert.equal(readFileSync(await dl.path(), 'utf8'), big.json);
    assert.deepEqual(s.offOrigin, []);
    assert.deepEqual(s.consoleErrors, []);
  } finally {
    await s.close();
  }
});

test('cancel stops the merging worker and its helpers', async () => {
  assert.ok(big?.file, 'the first test made the file');
  const s = await start();
  try {
    await s.page.goto(s.url);
    const cores = await s.page.evaluate(() => navigator.hardwareConcurrency);
    const readers = [];
    s.page.on('worker', (w) => {
      if (/reader/.test(w.url())) readers.push(new Promise((resolve) => w.once('close', resolve)));
    });
    await s.page.setInputFiles('#file-input', big.file);
    await s.page.waitForFunction(() => /rows/.test(document.getElementById('progress-text').textContent));
    // (the helpers start as the worker reads the file's start)
    for (let i = 0; cores >= 2 && !readers.length && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    if (cores >= 2) assert.ok(readers.length > 0, 'helpers were started');
    assert.equal(await s.page.evaluate(() => document.body.dataset.state), 'busy', 'cancelled mid-read');
    await s.page.click('#cancel-button');
    await s.page.waitForFunction(() => document.body.dataset.state === 'cancelled');
    // every helper is gone with the worker that started it
    await Promise.race([Promise.all(readers), new Promise((_, reject) => setTimeout(() => reject(new Error('a helper outlived cancel')), 10_000))]);
    assert.equal(s.page.workers().filter((w) => /reader/.test(w.url())).length, 0);
    // the engine works again
    await s.page.click('#demo-button');
    await settled(s.page);
  } finally {
    await s.close();
  }
});
