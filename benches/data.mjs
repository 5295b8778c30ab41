// The benchmark's generated predictions, bit-identical to benches/gen.py (see there).
function hash32(x) {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const uniform = (i, j) => hash32(i * 16 + j + 0x9e3779b9) / 4294967296;

/** {truth: Uint32Array, scores: Float32Array, width} for `rows` rows and `classes` classes. */
export function generate(rows, classes) {
  const truth = new Uint32Array(rows);
  if (classes === 2) {
    const scores = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const y = uniform(i, 0) < 0.4 ? 1 : 0;
      const u = uniform(i, 1);
      truth[i] = y;
      scores[i] = y ? 0.3 + 0.7 * u : 0.7 * u;
    }
    return { truth, scores, width: 1 };
  }
  const k = classes;
  const scores = new Float32Array(rows * k);
  const p = new Float64Array(k);
  for (let i = 0; i < rows; i++) {
    const y = Math.floor(uniform(i, 0) * k);
    truth[i] = y;
    let s = 0;
    for (let j = 0; j < k; j++) {
      p[j] = uniform(i, 1 + j) + (j === y ? 0.6 : 0);
      s += p[j];
    }
    for (let j = 0; j < k; j++) scores[i * k + j] = p[j] / s;
  }
  return { truth, scores, width: k };
}
