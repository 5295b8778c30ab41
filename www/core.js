// Which build of the wasm core to load. `npm run build` compiles the same source twice: plain
// simd128 (pkg/webeval_bg.wasm) and with relaxed-SIMD (pkg/webeval_relaxed_bg.wasm: the GEMM's
// multiply-adds become fused FMAs, about twice the arithmetic per cycle). The build checks that
// both share the same JS glue, so either binary goes to the same `init`. An engine that
// validates a relaxed-SIMD instruction gets the relaxed one; only the chosen file is fetched.

// (module (func v128.const 0 v128.const 0 v128.const 0 f32x4.relaxed_madd drop))
const zeros = new Array(16).fill(0);
const vconst = [0xfd, 0x0c, ...zeros];
const body = [0x00, ...vconst, ...vconst, ...vconst, 0xfd, 0x85, 0x02, 0x1a, 0x0b];
const PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, body.length + 2, 0x01, body.length, ...body, // code
]);

/** true where this engine runs relaxed-SIMD (Chromium 114+, Firefox 145+). */
export const relaxedSimd = (() => {
  try {
    return WebAssembly.validate(PROBE);
  } catch {
    return false;
  }
})();

/** The wasm file for `init({ module_or_path })` of pkg/webeval.js. */
export const coreWasmUrl = relaxedSimd
  ? new URL('./pkg/webeval_relaxed_bg.wasm', import.meta.url)
  : new URL('./pkg/webeval_bg.wasm', import.meta.url);
