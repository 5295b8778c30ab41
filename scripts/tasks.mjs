// The project's task runner: `npm start|build|test|bench` all come here.
//
// It uses only Node built-ins so it can run before `npm install`, and it sets up what a fresh
// machine lacks (the wasm32 target, wasm-bindgen-cli at the exact version in Cargo.lock, npm
// packages) before doing the work, so the README's two commands are all a newcomer needs.
import { spawnSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

function lockedWasmBindgenVersion() {
  const lock = readFileSync(join(root, 'Cargo.lock'), 'utf8');
  const m = lock.match(/name = "wasm-bindgen"\nversion = "([^"]+)"/);
  if (!m) throw new Error('Cargo.lock has no wasm-bindgen entry; run `cargo generate-lockfile`');
  return m[1];
}

function ensureRust() {
  if (!output('rustup', ['target', 'list', '--installed']).includes('wasm32-unknown-unknown')) {
    run('rustup', ['target', 'add', 'wasm32-unknown-unknown']);
  }
  const want = lockedWasmBindgenVersion();
  const have = output('wasm-bindgen', ['--version']).trim().split(' ')[1];
  if (have !== want) {
    // Without --locked: with it, a pinned dependency is missing from the registry.
    run('cargo', ['install', 'wasm-bindgen-cli', '--version', want]);
  }
}

function ensureNpm() {
  if (existsSync(bin('vite')) && existsSync(join(root, 'node_modules', 'playwright-core'))) return;
  run('npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund']);
}

// Two builds of the core from one source (www/core.js picks one per browser): plain simd128,
// and relaxed-SIMD (fused multiply-add in the GEMM) in its own target directory, since other
// RUSTFLAGS in the same one would rebuild everything on every alternation. Both must come with
// the same JS glue, so one pkg/webeval.js loads either.
function buildWasm() {
  ensureRust();
  const bindgen = (wasm, outDir) =>
    run('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-dir', outDir, wasm]);
  const build = ['build', '--lib', '--release', '--target', 'wasm32-unknown-unknown'];
  // the main module: no image decoders (the image module below has them)
  const main = [...build, '--no-default-features', '--features', 'gpu'];
  run('cargo', main);
  mkdirSync(join(root, 'www', 'pkg'), { recursive: true });
  bindgen('target/wasm32-unknown-unknown/release/webeval.wasm', 'www/pkg');
  const dir = 'target/relaxed';
  run('cargo', main, {
    env: { ...process.env, CARGO_TARGET_DIR: dir, RUSTFLAGS: '-C target-feature=+simd128,+relaxed-simd' },
  });
  bindgen(`${dir}/wasm32-unknown-unknown/release/webeval.wasm`, `${dir}/pkg`);
  const glue = (d) => readFileSync(join(root, d, 'webeval.js'), 'utf8');
  if (glue(`${dir}/pkg`) !== glue('www/pkg')) {
    console.error('the relaxed-SIMD build has different JS glue from the simd128 one');
    process.exit(1);
  }
  copyFileSync(join(root, dir, 'pkg', 'webeval_bg.wasm'), join(root, 'www', 'pkg', 'webeval_relaxed_bg.wasm'));
  // The Parquet decoder, a second module from the same crate (feature `parquet-module`), which
  // www/parquet.js fetches only when a .parquet file is dropped; its own target directory, as
  // its features differ.
  const pq = 'target/parquet';
  run('cargo', [...build, '--no-default-features', '--features', 'parquet-module'], {
    env: { ...process.env, CARGO_TARGET_DIR: pq },
  });
  run('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-name', 'webeval_parquet', '--out-dir', 'www/pkg',
    `${pq}/wasm32-unknown-unknown/release/webeval.wasm`]);
  // The image decoders (feature `images-module`), which www/images.js fetches only when a zip of
  // images is dropped; in the Parquet module's target directory (the same dependencies but one).
  run('cargo', [...build, '--no-default-features', '--features', 'images-module'], {
    env: { ...process.env, CARGO_TARGET_DIR: pq },
  });
  run('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-name', 'webeval_images', '--out-dir', 'www/pkg',
    `${pq}/wasm32-unknown-unknown/release/webeval.wasm`]);
}

function serve(args) {
  const child = spawn(bin('vite'), args, { cwd: root, stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
}

const tasks = {
  wasm() {
    buildWasm();
  },
  start() {
    ensureNpm();
    buildWasm();
    serve(['--host', '127.0.0.1', '--port', process.env.PORT ?? '5173', '--strictPort']);
  },
  build() {
    ensureNpm();
    buildWasm();
    run(bin('vite'), ['build']);
  },
  test() {
    ensureNpm();
    ensureRust();
    run('cargo', ['test']);
    // The wasm boundary itself, in wasm (Node runner; see .cargo/config.toml).
    run('cargo', ['test', '--target', 'wasm32-unknown-unknown', '--test', 'web']);
    tasks.build();
    run(process.execPath, ['--test', '--test-concurrency=1', 'tests/e2e/']);
  },
  bench() {
    // The startup and model sections measure the built page (dist/): build it first.
    tasks.build();
    run(process.execPath, ['benches/run.mjs', ...process.argv.slice(3)]);
  },
};

const name = process.argv[2];
if (!tasks[name]) {
  console.error(`usage: node scripts/tasks.mjs ${Object.keys(tasks).join('|')}`);
  process.exit(2);
}
tasks[name]();
