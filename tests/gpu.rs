//! The GPU kernels against a CPU oracle, case by case, within ONNX tolerances.
//!
//! Every case builds seeded inputs, runs the op through wgpu (lavapipe on CI) and through a
//! plain f64 reference, and compares with |gpu - cpu| <= ATOL + RTOL * |cpu|. Without an
//! adapter each test prints "skipped: no adapter" and passes.
#![cfg(feature = "gpu")]

use std::sync::OnceLock;

use webeval::runtime::gpu::{self, Act, BinOp, Gpu, GpuTensor, PoolKind, Recorder, ReduceOp, Window};
use webeval::Error;

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-5;

fn device() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::new_blocking() {
        Ok(g) => {
            eprintln!("gpu: {:?}", g.summary());
            Some(g)
        }
        Err(e) => {
            eprintln!("skipped: no adapter ({e})");
            None
        }
    })
    .as_ref()
}

/// A host tensor for the reference side.
#[derive(Clone, Debug)]
struct T {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl T {
    fn new(shape: &[usize], data: Vec<f64>) -> T {
        assert_eq!(shape.iter().product::<usize>(), data.len());
        T { shape: shape.to_vec(), data }
    }
    fn len(&self) -> usize {
        self.data.len()
    }
    fn f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Seeded uniform values in [lo, hi), rounded to f32 so both sides see the same inputs.
fn rand(shape: &[usize], seed: u64, lo: f64, hi: f64) -> T {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            (lo + (hi - lo) * u) as f32 as f64
        })
        .collect();
    T::new(shape, data)
}

fn r(shape: &[usize], seed: u64) -> T {
    rand(shape, seed, -1.0, 1.0)
}

/// A second device on the same adapter whose storage-binding limit is lowered to `bytes`, so
/// the kernels' splitting of operands over the limit runs on any adapter (one per limit).
fn small_device(bytes: u64) -> Option<Gpu> {
    device()?;
    let g = Gpu::with_max_binding_blocking(bytes).expect("a device with lowered limits");
    assert_eq!(g.summary().max_binding_bytes, bytes);
    Some(g)
}

/// The one comparison helper: runs `op` on the GPU over `inputs` and compares with `expected`.
fn check(
    name: &str,
    inputs: &[T],
    expected: &T,
    op: impl FnOnce(&mut Recorder<'_>, &[GpuTensor]) -> webeval::Result<GpuTensor>,
) {
    check_on(device(), name, inputs, expected, op)
}

/// [`check`] on a given device (`None`: no adapter, skipped).
fn check_on(
    g: Option<&Gpu>,
    name: &str,
    inputs: &[T],
    expected: &T,
    op: impl FnOnce(&mut Recorder<'_>, &[GpuTensor]) -> webeval::Result<GpuTensor>,
) {
    let Some(g) = g else {
        println!("skipped: no adapter");
        return;
    };
    let tensors: Vec<GpuTensor> = inputs.iter().map(|t| g.upload(&t.f32(), &t.shape).unwrap()).collect();
    let mut rec = g.recorder();
    let out = op(&mut rec, &tensors).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(out.shape, expected.shape, "{name}: shape");
    let got = g.read_blocking(rec, &[&out]).unwrap_or_else(|e| panic!("{name}: {e}")).remove(0);
    for (i, (&gv, &cv)) in got.iter().zip(&expected.data).enumerate() {
        let gv = gv as f64;
        let ok = (gv - cv).abs() <= ATOL + RTOL * cv.abs() || (gv.is_nan() && cv.is_nan()) || gv == cv;
        assert!(ok, "{name}: element {i} is {gv}, expected {cv}");
    }
    assert_eq!(got.len(), expected.len(), "{name}: length");
}

// ---- the reference (naive, f64) ---------------------------------------------------------

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = i % shape[d];
        i /= shape[d];
    }
    c
}

/// Value of `t` at output coordinate `c` under numpy broadcasting.
fn at_bcast(t: &T, c: &[usize]) -> f64 {
    let lead = c.len() - t.shape.len();
    let s = strides(&t.shape);
    let idx: usize = (0..t.shape.len()).map(|d| if t.shape[d] == 1 { 0 } else { c[d + lead] * s[d] }).sum();
    t.data[idx]
}

fn bshape(a: &[usize], b: &[usize]) -> Vec<usize> {
    gpu::elementwise::broadcast_shape(a, b).unwrap()
}

fn ref_binary(a: &T, b: &T, f: impl Fn(f64, f64) -> f64) -> T {
    let shape = bshape(&a.shape, &b.shape);
    let n = shape.iter().product();
    let data = (0..n).map(|i| {
        let c = unravel(i, &shape);
        f(at_bcast(a, &c), at_bcast(b, &c))
    });
    T::new(&shape, data.collect())
}

fn ref_map(a: &T, f: impl Fn(f64) -> f64) -> T {
    T::new(&a.shape, a.data.iter().map(|&v| f(v)).collect())
}

fn erf(x: f64) -> f64 {
    // series / continued fraction are overkill here: A&S 7.1.26 in f64 agrees to ~1e-7.
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn ref_act(x: f64, act: Act) -> f64 {
    match act {
        Act::Identity => x,
        Act::Relu => x.max(0.0),
        Act::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                x * alpha as f64
            }
        }
        Act::Sigmoid => sigmoid(x),
        Act::Tanh => x.tanh(),
        Act::Clip { min, max } => x.max(min as f64).min(max as f64),
        Act::Gelu => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
        Act::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
        Act::Softplus => (1.0 + x.exp()).ln(),
        Act::Elu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                alpha as f64 * (x.exp() - 1.0)
            }
        }
        Act::Exp => x.exp(),
        Act::Log => x.ln(),
        Act::Sqrt => x.sqrt(),
        Act::Neg => -x,
        Act::Abs => x.abs(),
        Act::Reciprocal => 1.0 / x,
        Act::Floor => x.floor(),
        Act::Ceil => x.ceil(),
        Act::Sin => x.sin(),
        Act::Cos => x.cos(),
        Act::Erf => erf(x),
        Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Act::Silu => x * sigmoid(x),
        Act::Selu { alpha, gamma } => gamma as f64 * if x > 0.0 { x } else { alpha as f64 * (x.exp() - 1.0) },
        Act::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Act::Round => x.round_ties_even(),
        Act::Square => x * x,
    }
}

/// numpy matmul.
fn ref_matmul(a: &T, b: &T) -> T {
    let a2 = if a.shape.len() == 1 { T::new(&[1, a.shape[0]], a.data.clone()) } else { a.clone() };
    let b2 = if b.shape.len() == 1 { T::new(&[b.shape[0], 1], b.data.clone()) } else { b.clone() };
    let (ra, rb) = (a2.shape.len(), b2.shape.len());
    let (m, k, n) = (a2.shape[ra - 2], a2.shape[ra - 1], b2.shape[rb - 1]);
    let batch = bshape(&a2.shape[..ra - 2], &b2.shape[..rb - 2]);
    let nb: usize = batch.iter().product();
    let mut out = Vec::with_capacity(nb * m * n);
    let bidx = |shape: &[usize], c: &[usize]| -> usize {
        let lead = c.len() - shape.len();
        let s = strides(shape);
        (0..shape.len()).map(|d| if shape[d] == 1 { 0 } else { c[d + lead] * s[d] }).sum()
    };
    for bi in 0..nb {
        let c = unravel(bi, &batch);
        let ao = bidx(&a2.shape[..ra - 2], &c) * m * k;
        let bo = bidx(&b2.shape[..rb - 2], &c) * k * n;
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| a2.data[ao + i * k + p] * b2.data[bo + p * n + j]).sum());
            }
        }
    }
    let mut shape = batch;
    if a.shape.len() > 1 {
        shape.push(m);
    }
    if b.shape.len() > 1 {
        shape.push(n);
    }
    T::new(&shape, out)
}

fn ref_transpose(a: &T, perm: &[usize]) -> T {
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape[p]).collect();
    let s = strides(&a.shape);
    let data = (0..a.len()).map(|i| {
        let c = unravel(i, &shape);
        a.data[perm.iter().enumerate().map(|(d, &p)| c[d] * s[p]).sum::<usize>()]
    });
    T::new(&shape, data.collect())
}

fn ref_softmax(x: &T, axis: usize, log: bool) -> T {
    let n = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    let outer: usize = x.shape[..axis].iter().product();
    let mut out = x.data.clone();
    for o in 0..outer {
        for i in 0..inner {
            let idx = |j: usize| (o * n + j) * inner + i;
            let m = (0..n).map(|j| x.data[idx(j)]).fold(f64::MIN, f64::max);
            let s: f64 = (0..n).map(|j| (x.data[idx(j)] - m).exp()).sum();
            for j in 0..n {
                let v = x.data[idx(j)] - m;
                out[idx(j)] = if log { v - s.ln() } else { v.exp() / s };
            }
        }
    }
    T::new(&x.shape, out)
}

fn ref_reduce(x: &T, axes: &[usize], op: ReduceOp, keepdims: bool) -> T {
    let kept: Vec<usize> = x.shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let no: usize = kept.iter().product();
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); no];
    let ks = strides(&kept);
    for i in 0..x.len() {
        let c = unravel(i, &x.shape);
        let o: usize = c.iter().enumerate().map(|(d, &v)| if axes.contains(&d) { 0 } else { v * ks[d] }).sum();
        groups[o].push(x.data[i]);
    }
    let data = groups.iter().map(|g| match op {
        ReduceOp::Sum => g.iter().sum(),
        ReduceOp::Mean => g.iter().sum::<f64>() / g.len() as f64,
        ReduceOp::Max => g.iter().cloned().fold(f64::MIN, f64::max),
        ReduceOp::Min => g.iter().cloned().fold(f64::MAX, f64::min),
        ReduceOp::Prod => g.iter().product(),
        ReduceOp::SumSquare => g.iter().map(|v| v * v).sum(),
        ReduceOp::L1 => g.iter().map(|v| v.abs()).sum(),
        ReduceOp::L2 => g.iter().map(|v| v * v).sum::<f64>().sqrt(),
        ReduceOp::ArgMax => {
            g.iter().enumerate().fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as f64
        }
        ReduceOp::ArgMin => {
            g.iter().enumerate().fold((0, f64::MAX), |b, (i, &v)| if v < b.1 { (i, v) } else { b }).0 as f64
        }
    });
    let shape: Vec<usize> =
        if keepdims { kept } else { (0..x.shape.len()).filter(|i| !axes.contains(i)).map(|i| x.shape[i]).collect() };
    T::new(&shape, data.collect())
}

/// BatchNormalization over axis 1 from (gamma, beta, mean, var), and the folded (scale,
/// shift) the GPU kernel takes.
fn ref_batch_norm(x: &T, [gamma, beta, mean, var]: [&T; 4], eps: f32) -> (T, T, T) {
    let c = gamma.len();
    let inner: usize = x.shape[2..].iter().product();
    let data = (0..x.len()).map(|i| {
        let ch = (i / inner) % c;
        (x.data[i] - mean.data[ch]) / (var.data[ch] + eps as f64).sqrt() * gamma.data[ch] + beta.data[ch]
    });
    let (scale, shift) = gpu::fold_batch_norm(&gamma.f32(), &beta.f32(), &mean.f32(), &var.f32(), eps).unwrap();
    let host = |v: Vec<f32>| T::new(&[c], v.iter().map(|&v| v as f64).collect());
    (T::new(&x.shape, data.collect()), host(scale), host(shift))
}

/// LayerNormalization over rows of `n` values, eps 1e-5.
fn ref_layer_norm(x: &T, n: usize, s: &T, b: &T) -> T {
    let data = x.data.chunks(n).flat_map(|row| {
        let m = row.iter().sum::<f64>() / n as f64;
        let v = row.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        row.iter().map(move |x| (x - m) / (v + 1e-5).sqrt()).collect::<Vec<_>>()
    });
    T::new(&x.shape, data.enumerate().map(|(i, v)| v * s.data[i % n] + b.data[i % n]).collect())
}

/// Direct convolution (NCHW), the definition rather than im2col.
fn ref_conv(x: &T, w: &T, b: Option<&T>, win: &Window, group: usize, act: Act) -> T {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (co, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let oh = win.out_size(0, h, false).unwrap();
    let ow = win.out_size(1, wd, false).unwrap();
    let cog = co / group;
    let mut out = vec![0.0; n * co * oh * ow];
    for ni in 0..n {
        for o in 0..co {
            let g = o / cog;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = b.map(|b| b.data[o]).unwrap_or(0.0);
                    for ci in 0..cg {
                        let ch = g * cg + ci;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (y * win.strides[0] + ki * win.dilations[0]) as isize - win.pads[0] as isize;
                                let ix = (xx * win.strides[1] + kj * win.dilations[1]) as isize - win.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                s += x.data[((ni * c + ch) * h + iy as usize) * wd + ix as usize]
                                    * w.data[((o * cg + ci) * kh + ki) * kw + kj];
                            }
                        }
                    }
                    out[((ni * co + o) * oh + y) * ow + xx] = ref_act(s, act);
                }
            }
        }
    }
    T::new(&[n, co, oh, ow], out)
}

fn ref_pool(x: &T, kind: PoolKind, win: &Window, ceil: bool) -> T {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let oh = win.out_size(0, h, ceil).unwrap();
    let ow = win.out_size(1, w, ceil).unwrap();
    let mut out = Vec::new();
    for p in 0..n * c {
        for y in 0..oh {
            for xx in 0..ow {
                let (mut acc, mut cnt) = (if kind == PoolKind::Max { f64::MIN } else { 0.0 }, 0);
                for ki in 0..win.kernel[0] {
                    for kj in 0..win.kernel[1] {
                        let iy = (y * win.strides[0] + ki * win.dilations[0]) as isize - win.pads[0] as isize;
                        let ix = (xx * win.strides[1] + kj * win.dilations[1]) as isize - win.pads[1] as isize;
                        // Cells in the padding count for count_include_pad; beyond it (ceil_mode) never.
                        let in_pad = iy < (h + win.pads[2]) as isize && ix < (w + win.pads[3]) as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            if in_pad && kind == (PoolKind::Average { count_include_pad: true }) {
                                cnt += 1;
                            }
                            continue;
                        }
                        let v = x.data[(p * h + iy as usize) * w + ix as usize];
                        if kind == PoolKind::Max {
                            acc = acc.max(v)
                        } else {
                            acc += v
                        }
                        cnt += 1;
                    }
                }
                out.push(if kind == PoolKind::Max { acc } else { acc / cnt as f64 });
            }
        }
    }
    T::new(&[n, c, oh, ow], out)
}

// ---- cases ------------------------------------------------------------------------------

#[test]
fn matmul_shapes() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[1, 1], &[1, 1]),
        (&[3, 5], &[5, 7]),
        (&[64, 64], &[64, 64]),
        (&[65, 31], &[31, 33]),
        (&[128, 256], &[256, 96]),
        (&[7, 300], &[300, 9]),
        (&[2, 3, 17, 8], &[8, 12]),
        (&[2, 1, 5, 4], &[3, 4, 6]),
        (&[4, 6], &[2, 6, 8]),
        (&[12], &[12, 5]),
        (&[5, 12], &[12]),
        (&[200, 130], &[130, 70]),
        // M = 1: the matrix-vector kernel (scalar and vec4 columns, K over one staging tile).
        (&[1, 300], &[300, 7]),
        (&[1, 513], &[513, 1028]),
        (&[3, 1, 64], &[3, 64, 12]),
        (&[1, 1, 5], &[5, 4]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        let (a, b) = (r(sa, 2 * i as u64 + 1), r(sb, 2 * i as u64 + 2));
        let name = format!("matmul {sa:?} x {sb:?}");
        check(&name, &[a.clone(), b.clone()], &ref_matmul(&a, &b), |rec, t| {
            gpu::matmul(rec, &t[0], &t[1], None, Act::Identity)
        });
    }
}

/// Inputs [A, B, bias over N] seeded from `seed`, and act(A x B (+ bias)) by the reference.
fn matmul_case(seed: u64, sa: &[usize], sb: &[usize], has_bias: bool, act: Act) -> (Vec<T>, T) {
    let (a, b, bias) = (r(sa, seed), r(sb, seed + 1), r(&[sb[sb.len() - 1]], seed + 2));
    let mm = ref_matmul(&a, &b);
    let expected = if has_bias { ref_binary(&mm, &bias, |x, y| x + y) } else { mm };
    (vec![a, b, bias], ref_map(&expected, |v| ref_act(v, act)))
}

/// Every tiled kernel on the same products, each forced on its own device (the choice by
/// size would give the 128 x 128 tile only to big products): partial tiles in M, N and K,
/// batches, the fused bias and activation, and K split over a 64 KiB binding (accumulated).
#[test]
fn matmul_every_tile() {
    use webeval::runtime::gpu::gemm::Tiles;
    let cases: &[(&[usize], &[usize], bool, Act)] = &[
        (&[128, 128], &[128, 128], false, Act::Identity),
        (&[200, 132], &[132, 260], false, Act::Identity),
        (&[3, 130, 36], &[36, 132], true, Act::Relu),
        (&[2, 64, 20], &[2, 20, 300], true, Act::Gelu),
        (&[257, 4], &[4, 8], true, Act::Sigmoid),
        // Not vec4-aligned: the 128 x 128 tile falls back to the 64-wide one.
        (&[150, 33], &[33, 140], false, Act::Identity),
        // N <= 16 (what the 16-wide tile is for): a classifier's output layer, partial tiles
        // of rows and columns, a batch, and a vec4-aligned N.
        (&[256, 512], &[512, 10], true, Act::Identity),
        (&[3, 37, 21], &[3, 21, 13], true, Act::Relu),
        (&[70, 44], &[44, 16], false, Act::Sigmoid),
    ];
    let split: &[(&[usize], &[usize], bool, Act)] = &[
        (&[300, 200], &[200, 100], true, Act::Tanh),
        (&[2, 140, 96], &[2, 96, 200], false, Act::Identity),
        // N <= 16 with B split along K (accumulating into C).
        (&[300, 2000], &[2000, 10], true, Act::Relu),
    ];
    for tiles in [Tiles::Small, Tiles::Big, Tiles::Narrow] {
        let whole = device().map(|_| Gpu::new_blocking().expect("a second device"));
        for (g, cases) in [(whole, cases), (small_device(SMALL_BINDING), split)] {
            if let Some(g) = &g {
                g.force_gemm_tiles(tiles);
            }
            for (i, &(sa, sb, has_bias, act)) in cases.iter().enumerate() {
                let (inputs, expected) = matmul_case(1500 + 3 * i as u64, sa, sb, has_bias, act);
                let name = format!("{tiles:?} tiles: matmul {sa:?} x {sb:?}");
                check_on(g.as_ref(), &name, &inputs, &expected, |rec, t| {
                    gpu::matmul(rec, &t[0], &t[1], has_bias.then_some(&t[2]), act)
                });
            }
        }
    }
}

#[test]
fn matmul_fused_bias_activation() {
    for (i, act) in [Act::Relu, Act::Gelu, Act::Sigmoid, Act::Tanh].into_iter().enumerate() {
        let (a, b, bias) = (r(&[33, 40], 10 + i as u64), r(&[40, 24], 20 + i as u64), r(&[24], 30 + i as u64));
        let mm = ref_matmul(&a, &b);
        let expected = ref_map(&ref_binary(&mm, &bias, |x, y| x + y), |v| ref_act(v, act));
        check(&format!("matmul+bias+{act:?}"), &[a, b, bias], &expected, |rec, t| {
            gpu::matmul(rec, &t[0], &t[1], Some(&t[2]), act)
        });
    }
}

#[test]
fn gemm_onnx_attributes() {
    // (transA, transB, alpha, beta, C shape)
    let cases: &[(bool, bool, f32, f32, &[usize])] = &[
        (false, false, 1.0, 1.0, &[]),
        (false, true, 1.0, 1.0, &[9]),
        (true, false, 0.5, 2.0, &[6, 1]),
        (true, true, 1.5, 0.25, &[6, 9]),
        (false, true, 1.0, 1.0, &[1]),
    ];
    for (i, &(ta, tb, alpha, beta, cshape)) in cases.iter().enumerate() {
        let (m, k, n) = (6, 10, 9);
        let a = r(&if ta { [k, m] } else { [m, k] }, 40 + i as u64);
        let b = r(&if tb { [n, k] } else { [k, n] }, 50 + i as u64);
        let c = r(cshape, 60 + i as u64);
        let a2 = if ta { ref_transpose(&a, &[1, 0]) } else { a.clone() };
        let b2 = if tb { ref_transpose(&b, &[1, 0]) } else { b.clone() };
        let ab = ref_map(&ref_matmul(&a2, &b2), |v| v * alpha as f64);
        let expected = ref_binary(&ab, &c, |x, y| x + beta as f64 * y);
        check(&format!("gemm case {i}"), &[a, b, c], &expected, |rec, t| {
            gpu::gemm(rec, &t[0], &t[1], Some(&t[2]), ta, tb, alpha, beta, Act::Identity)
        });
    }
}

#[test]
fn activations() {
    let acts = [
        Act::Identity,
        Act::Relu,
        Act::LeakyRelu { alpha: 0.1 },
        Act::Sigmoid,
        Act::Tanh,
        Act::Clip { min: -0.5, max: 0.25 },
        Act::Gelu,
        Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
        Act::Softplus,
        Act::Elu { alpha: 1.0 },
        Act::Exp,
        Act::Neg,
        Act::Abs,
        Act::Floor,
        Act::Ceil,
        Act::Sin,
        Act::Cos,
        Act::Erf,
        Act::HardSwish,
        Act::Silu,
        Act::Selu { alpha: 1.67326, gamma: 1.0507 },
        Act::Sign,
        Act::Round,
        Act::Square,
    ];
    for (i, act) in acts.into_iter().enumerate() {
        let x = rand(&[3, 4, 5], 100 + i as u64, -4.0, 4.0);
        check(&format!("{act:?}"), std::slice::from_ref(&x), &ref_map(&x, |v| ref_act(v, act)), |rec, t| {
            gpu::unary(rec, &t[0], act)
        });
    }
    for (i, act) in [Act::Log, Act::Sqrt, Act::Reciprocal].into_iter().enumerate() {
        let x = rand(&[50], 200 + i as u64, 0.1, 10.0);
        check(&format!("{act:?}"), std::slice::from_ref(&x), &ref_map(&x, |v| ref_act(v, act)), |rec, t| {
            gpu::unary(rec, &t[0], act)
        });
    }
}

#[test]
fn binary_broadcasting() {
    type F = fn(f64, f64) -> f64;
    let cases: &[(BinOp, &[usize], &[usize], F)] = &[
        (BinOp::Add, &[2, 3, 4], &[4], |x, y| x + y),
        (BinOp::Mul, &[2, 1, 4], &[3, 1], |x, y| x * y),
        (BinOp::Sub, &[5], &[5], |x, y| x - y),
        (BinOp::Div, &[2, 3], &[2, 1], |x, y| x / y),
        (BinOp::Max, &[1, 3, 1, 2], &[2, 1, 4, 1], f64::max),
        (BinOp::Min, &[], &[3, 2], f64::min),
        (BinOp::PRelu, &[2, 3, 4, 4], &[1, 3, 1, 1], |x, s| if x >= 0.0 { x } else { x * s }),
    ];
    for (i, &(op, sa, sb, f)) in cases.iter().enumerate() {
        let a = r(sa, 300 + i as u64);
        let mut b = r(sb, 400 + i as u64);
        if op == BinOp::Div {
            b = ref_map(&b, |v| if v.abs() < 0.1 { 0.5 } else { v });
        }
        check(&format!("{op:?} {sa:?} {sb:?}"), &[a.clone(), b.clone()], &ref_binary(&a, &b, f), |rec, t| {
            gpu::binary(rec, &t[0], &t[1], op)
        });
    }
    let (a, b) = (rand(&[4, 3], 500, 0.5, 2.0), rand(&[3], 501, -2.0, 2.0));
    check("Pow", &[a.clone(), b.clone()], &ref_binary(&a, &b, f64::powf), |rec, t| {
        gpu::binary(rec, &t[0], &t[1], BinOp::Pow)
    });
}

#[test]
fn layout_ops() {
    let x = r(&[2, 3, 4], 600);
    check("transpose", std::slice::from_ref(&x), &ref_transpose(&x, &[2, 0, 1]), |rec, t| {
        gpu::transpose(rec, &t[0], &[2, 0, 1])
    });
    let y = r(&[3, 1], 601);
    let zeros = T::new(&[2, 3, 4], vec![0.0; 24]);
    check("expand", std::slice::from_ref(&y), &ref_binary(&zeros, &y, |_, v| v), |rec, t| {
        gpu::expand(rec, &t[0], &[2, 3, 4])
    });
}

#[test]
fn softmax_axes() {
    let x = rand(&[2, 3, 4], 700, -5.0, 5.0);
    for axis in 0..3 {
        for log in [false, true] {
            check(
                &format!("softmax axis {axis} log {log}"),
                std::slice::from_ref(&x),
                &ref_softmax(&x, axis, log),
                |rec, t| gpu::softmax(rec, &t[0], axis as i64, log, false),
            );
        }
    }
    // opset < 13: axes 1.. flattened into one row per batch item.
    let flat = ref_softmax(&T::new(&[2, 12], x.data.clone()), 1, false);
    check("softmax flattened", std::slice::from_ref(&x), &T::new(&[2, 3, 4], flat.data), |rec, t| {
        gpu::softmax(rec, &t[0], 1, false, true)
    });
    let long = rand(&[3, 1000], 701, -30.0, 30.0);
    check("softmax long rows", std::slice::from_ref(&long), &ref_softmax(&long, 1, false), |rec, t| {
        gpu::softmax(rec, &t[0], -1, false, false)
    });
    // More rows than one dispatch dimension allows: the recorder folds them into y.
    let many = r(&[70_000, 4], 702);
    check("softmax 70k rows", std::slice::from_ref(&many), &ref_softmax(&many, 1, false), |rec, t| {
        gpu::softmax(rec, &t[0], 1, false, false)
    });
}

#[test]
fn reductions() {
    let x = r(&[3, 4, 5], 800);
    let cases: &[(&[i64], ReduceOp, bool)] = &[
        (&[1], ReduceOp::Sum, true),
        (&[], ReduceOp::Mean, false),
        (&[0, 2], ReduceOp::Max, false),
        (&[-1], ReduceOp::Min, true),
        (&[1, 2], ReduceOp::Prod, true),
        (&[0], ReduceOp::SumSquare, false),
        (&[2], ReduceOp::L1, false),
        (&[1], ReduceOp::L2, true),
        (&[2], ReduceOp::ArgMax, false),
        (&[1], ReduceOp::ArgMin, true),
    ];
    for &(axes, op, keep) in cases {
        let ax: Vec<usize> = if axes.is_empty() {
            vec![0, 1, 2]
        } else {
            axes.iter().map(|&a| if a < 0 { (a + 3) as usize } else { a as usize }).collect()
        };
        check(&format!("{op:?} {axes:?}"), std::slice::from_ref(&x), &ref_reduce(&x, &ax, op, keep), |rec, t| {
            gpu::reduce(rec, &t[0], axes, op, keep)
        });
    }
    let img = r(&[2, 3, 5, 5], 801);
    check(
        "GlobalAveragePool",
        std::slice::from_ref(&img),
        &ref_reduce(&img, &[2, 3], ReduceOp::Mean, true),
        |rec, t| gpu::global_pool(rec, &t[0], false),
    );
    check("GlobalMaxPool", std::slice::from_ref(&img), &ref_reduce(&img, &[2, 3], ReduceOp::Max, true), |rec, t| {
        gpu::global_pool(rec, &t[0], true)
    });
}

#[test]
fn convolutions() {
    let win = |k: [usize; 2], s: [usize; 2], p: [usize; 4], d: [usize; 2]| Window {
        kernel: k,
        strides: s,
        pads: p,
        dilations: d,
    };
    // (input, cout, window, group, bias, act)
    type ConvCase<'a> = (&'a [usize], usize, Window, usize, bool, Act);
    let cases: &[ConvCase] = &[
        (&[1, 3, 8, 8], 4, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), 1, true, Act::Identity),
        (&[2, 4, 9, 7], 6, win([3, 3], [2, 2], [1, 1, 1, 1], [1, 1]), 1, true, Act::Relu),
        (&[1, 2, 10, 10], 3, win([3, 3], [1, 1], [0, 0, 0, 0], [2, 2]), 1, false, Act::Identity),
        (&[1, 4, 6, 6], 8, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), 2, true, Act::Identity),
        (&[2, 8, 5, 5], 8, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), 8, true, Act::Clip { min: 0.0, max: 6.0 }),
        // Fewer groups than images: one GEMM per group, batched over the images.
        (&[4, 4, 6, 6], 6, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), 2, true, Act::Relu),
        (&[2, 16, 7, 7], 24, win([1, 1], [1, 1], [0; 4], [1, 1]), 1, true, Act::Identity),
        (&[1, 3, 7, 9], 5, win([2, 3], [1, 2], [0, 1, 1, 0], [1, 1]), 1, true, Act::Sigmoid),
        // Conv1D as NC1L.
        (&[2, 3, 1, 20], 4, win([1, 5], [1, 2], [0, 2, 0, 2], [1, 1]), 1, true, Act::Identity),
        (&[1, 32, 14, 14], 64, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), 1, true, Act::Relu),
    ];
    for (i, (xs, co, w, g, has_b, act)) in cases.iter().enumerate() {
        let x = r(xs, 900 + i as u64);
        let wt = r(&[*co, xs[1] / g, w.kernel[0], w.kernel[1]], 950 + i as u64);
        let b = r(&[*co], 990 + i as u64);
        let expected = ref_conv(&x, &wt, has_b.then_some(&b), w, *g, *act);
        let (w, g, act, has_b) = (*w, *g, *act, *has_b);
        check(&format!("conv case {i}"), &[x, wt, b], &expected, |rec, t| {
            gpu::conv2d(rec, &t[0], &t[1], has_b.then_some(&t[2]), &w, g, act)
        });
    }
}

#[test]
fn pooling() {
    let win = |k: [usize; 2], s: [usize; 2], p: [usize; 4], d: [usize; 2]| Window {
        kernel: k,
        strides: s,
        pads: p,
        dilations: d,
    };
    let cases: &[(PoolKind, Window, bool)] = &[
        (PoolKind::Max, win([2, 2], [2, 2], [0; 4], [1, 1]), false),
        (PoolKind::Max, win([3, 3], [2, 2], [1, 1, 1, 1], [1, 1]), false),
        (PoolKind::Max, win([2, 2], [1, 1], [0; 4], [2, 2]), false),
        (PoolKind::Max, win([3, 3], [2, 2], [0; 4], [1, 1]), true),
        (PoolKind::Average { count_include_pad: false }, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), false),
        (PoolKind::Average { count_include_pad: true }, win([3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), false),
        (PoolKind::Average { count_include_pad: false }, win([2, 2], [2, 2], [0; 4], [1, 1]), true),
    ];
    for (i, &(kind, w, ceil)) in cases.iter().enumerate() {
        let x = r(&[2, 3, 8, 7], 1000 + i as u64);
        check(&format!("pool case {i} {kind:?}"), std::slice::from_ref(&x), &ref_pool(&x, kind, &w, ceil), |rec, t| {
            gpu::pool2d(rec, &t[0], kind, &w, ceil)
        });
    }
}

#[test]
fn normalisation() {
    let x = r(&[2, 3, 4, 5], 1100);
    let (gamma, beta, mean) = (r(&[3], 1101), r(&[3], 1102), r(&[3], 1103));
    let var = rand(&[3], 1104, 0.1, 2.0);
    let eps = 1e-5;
    let (expected, scale, shift) = ref_batch_norm(&x, [&gamma, &beta, &mean, &var], eps);
    check("BatchNormalization", &[x.clone(), scale, shift], &expected, |rec, t| {
        gpu::channel_affine(rec, &t[0], &t[1], &t[2])
    });

    for axis in [-1i64, 1] {
        let x = rand(&[4, 6, 10], 1200, -3.0, 3.0);
        let ax = if axis < 0 { 2 } else { 1 };
        let n: usize = x.shape[ax..].iter().product();
        let (s, b) = (r(&x.shape[ax..], 1201), r(&x.shape[ax..], 1202));
        let expected = ref_layer_norm(&x, n, &s, &b);
        check(&format!("LayerNormalization axis {axis}"), &[x, s, b], &expected, |rec, t| {
            gpu::layer_norm(rec, &t[0], axis, &t[1], &t[2], 1e-5)
        });
    }
}

#[test]
fn whole_chain_one_readback() {
    // conv -> relu -> maxpool -> flatten -> gemm -> softmax, recorded once, read once.
    let x = r(&[2, 3, 8, 8], 1300);
    let w = r(&[4, 3, 3, 3], 1301);
    let cb = r(&[4], 1302);
    let fc = r(&[10, 64], 1303);
    let fb = r(&[10], 1304);
    let win = Window { kernel: [3, 3], strides: [1, 1], pads: [1; 4], dilations: [1, 1] };
    let pw = Window { kernel: [2, 2], strides: [2, 2], pads: [0; 4], dilations: [1, 1] };
    let c = ref_conv(&x, &w, Some(&cb), &win, 1, Act::Relu);
    let p = ref_pool(&c, PoolKind::Max, &pw, false);
    let flat = T::new(&[2, 64], p.data);
    let logits = ref_binary(&ref_matmul(&flat, &ref_transpose(&fc, &[1, 0])), &fb, |a, b| a + b);
    let expected = ref_softmax(&logits, 1, false);
    check("small CNN", &[x, w, cb, fc, fb], &expected, |rec, t| {
        let c = gpu::conv2d(rec, &t[0], &t[1], Some(&t[2]), &win, 1, Act::Relu)?;
        let p = gpu::pool2d(rec, &c, PoolKind::Max, &pw, false)?;
        let f = p.reshaped(&[2, 64])?;
        let l = gpu::gemm(rec, &f, &t[3], Some(&t[4]), false, true, 1.0, 1.0, Act::Identity)?;
        assert!(rec.dispatches() >= 5);
        gpu::softmax(rec, &l, -1, false, false)
    });
}

#[test]
fn device_loss_is_a_clear_error() {
    if device().is_none() {
        println!("skipped: no adapter");
        return;
    }
    let g = Gpu::new_blocking().expect("a second device on the same adapter");
    let x = g.upload(&[1.0, -2.0, 3.0], &[3]).unwrap();
    g.destroy_for_test();
    let mut rec = g.recorder();
    let res = gpu::unary(&mut rec, &x, Act::Relu).and_then(|y| g.read_blocking(rec, &[&y]));
    match res {
        Err(e @ Error::GpuDeviceLost(_)) => assert!(e.to_string().contains("--device cpu"), "{e}"),
        other => panic!("expected GpuDeviceLost, got {other:?}"),
    }
}

#[test]
fn refuses_what_does_not_fit() {
    let Some(g) = device() else {
        println!("skipped: no adapter");
        return;
    };
    let limit = g.summary().max_buffer_bytes;
    let too_big = (limit / 4 + 1) as usize;
    match g.empty(&[too_big]) {
        Err(Error::GpuLimit { limit: l, .. }) => assert_eq!(l, limit),
        other => panic!("expected GpuLimit, got {other:?}"),
    }
    // What cannot be split is refused (its node then runs on the CPU) rather than failing the
    // device: here one softmax row over the binding limit.
    let small = small_device(64 * 1024).unwrap();
    let x = small.upload(&vec![0.5; 32 * 1024], &[32 * 1024]).unwrap();
    let mut rec = small.recorder();
    match gpu::softmax(&mut rec, &x, 0, false, false) {
        Err(Error::GpuLimit { limit: l, .. }) => assert_eq!(l, 64 * 1024),
        other => panic!("expected GpuLimit, got {other:?}"),
    }
    small.check().unwrap();
}

// ---- operands over the binding limit: split, not sent to the CPU --------------------------

/// 64 KiB bindings (16 K floats): every case below has an operand or result over it.
const SMALL_BINDING: u64 = 64 * 1024;

#[test]
fn matmul_split_over_the_binding_limit() {
    let g = small_device(SMALL_BINDING);
    // (A, B, bias, act): A and C split into row blocks, B along K (accumulated), batches one
    // at a time; M = 1 runs the matrix-vector kernel per K block.
    let cases: &[(&[usize], &[usize], bool, Act)] = &[
        (&[300, 200], &[200, 100], false, Act::Identity),
        (&[200, 130], &[130, 150], true, Act::Relu),
        (&[1, 5000], &[5000, 8], true, Act::Sigmoid),
        (&[1, 3001], &[3001, 7], false, Act::Identity),
        (&[3, 70, 300], &[300, 64], true, Act::Tanh),
        (&[2, 90, 33], &[2, 33, 600], false, Act::Identity),
    ];
    for (i, &(sa, sb, has_bias, act)) in cases.iter().enumerate() {
        let (inputs, expected) = matmul_case(1400 + 3 * i as u64, sa, sb, has_bias, act);
        check_on(g.as_ref(), &format!("split matmul {sa:?} x {sb:?}"), &inputs, &expected, |rec, t| {
            let out = gpu::matmul(rec, &t[0], &t[1], has_bias.then_some(&t[2]), act)?;
            assert!(rec.dispatches() > 1, "{sa:?} x {sb:?} was not split");
            Ok(out)
        });
    }
    // Gemm with a full [M, N] C (a bias with a row stride), alpha and beta.
    let (m, k, n) = (120, 150, 140);
    let (a, b, c) = (r(&[m, k], 1460), r(&[k, n], 1461), r(&[m, n], 1462));
    let ab = ref_map(&ref_matmul(&a, &b), |v| v * 1.5);
    let expected = ref_binary(&ab, &c, |x, y| x + 0.5 * y);
    check_on(g.as_ref(), "split gemm with a full C", &[a, b, c], &expected, |rec, t| {
        let out = gpu::gemm(rec, &t[0], &t[1], Some(&t[2]), false, false, 1.5, 0.5, Act::Identity)?;
        assert!(rec.dispatches() > 1);
        Ok(out)
    });
}

#[test]
fn conv_and_pool_split_over_the_binding_limit() {
    let g = small_device(SMALL_BINDING);
    let win = |k: [usize; 2], p: [usize; 4]| Window { kernel: k, strides: [1, 1], pads: p, dilations: [1, 1] };
    // (input, cout, window, group): the column buffer (C*9 x 1600 per image), the output and
    // the input are each over 16 K floats; im2col runs a channel at a time, the GEMM splits.
    let cases: &[(&[usize], usize, Window, usize)] = &[
        (&[2, 8, 40, 40], 16, win([3, 3], [1, 1, 1, 1]), 1),
        (&[1, 6, 41, 39], 8, win([3, 3], [0, 1, 2, 1]), 2),
        (&[2, 12, 40, 40], 20, win([1, 1], [0; 4]), 1),
    ];
    for (i, &(xs, co, w, grp)) in cases.iter().enumerate() {
        let x = r(xs, 1500 + i as u64);
        let wt = r(&[co, xs[1] / grp, w.kernel[0], w.kernel[1]], 1520 + i as u64);
        let b = r(&[co], 1540 + i as u64);
        let expected = ref_conv(&x, &wt, Some(&b), &w, grp, Act::Relu);
        check_on(g.as_ref(), &format!("split conv case {i}"), &[x, wt, b], &expected, |rec, t| {
            let out = gpu::conv2d(rec, &t[0], &t[1], Some(&t[2]), &w, grp, Act::Relu)?;
            assert!(rec.dispatches() > 2 * xs[0], "conv case {i} was not split");
            Ok(out)
        });
    }
    let pw = Window { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] };
    for kind in [PoolKind::Max, PoolKind::Average { count_include_pad: true }] {
        let x = r(&[2, 8, 40, 40], 1560);
        let expected = ref_pool(&x, kind, &pw, false);
        check_on(g.as_ref(), &format!("split pool {kind:?}"), std::slice::from_ref(&x), &expected, |rec, t| {
            let out = gpu::pool2d(rec, &t[0], kind, &pw, false)?;
            assert!(rec.dispatches() > 1);
            Ok(out)
        });
    }
}

#[test]
fn elementwise_norm_softmax_split_over_the_binding_limit() {
    // Every tensor here is over the 16 K floats one binding holds: the kernels walk it in
    // binding-sized parts (whole blocks of the later axes) instead of sending it to the CPU.
    let g = small_device(SMALL_BINDING);
    let g = g.as_ref();
    let split = |rec: &Recorder<'_>, what: &str| assert!(rec.dispatches() > 1, "{what} was not split");
    let x = r(&[32 * 1024 + 5], 1600);
    check_on(g, "split Relu", std::slice::from_ref(&x), &ref_map(&x, |v| v.max(0.0)), |rec, t| {
        let out = gpu::unary(rec, &t[0], Act::Relu)?;
        split(rec, "Relu");
        Ok(out)
    });
    // Broadcasting both ways, and a broadcast operand under the limit with one over it.
    let bin: &[(&[usize], &[usize])] =
        &[(&[4, 64, 100], &[100]), (&[1, 200, 100], &[3, 1, 100]), (&[70, 1], &[1, 300])];
    for (i, &(sa, sb)) in bin.iter().enumerate() {
        let (a, b) = (r(sa, 1610 + i as u64), r(sb, 1620 + i as u64));
        let expected = ref_binary(&a, &b, |x, y| x * y - y);
        check_on(g, &format!("split {sa:?} * {sb:?}"), &[a, b], &expected, |rec, t| {
            let m = gpu::binary(rec, &t[0], &t[1], BinOp::Mul)?;
            let out = gpu::binary(rec, &m, &t[1], BinOp::Sub)?;
            split(rec, "binary");
            Ok(out)
        });
    }
    // Transposes: one split along the batch, one that must split inside rows (a 2-D
    // transpose reads the whole input for every output row).
    for (i, (shape, perm)) in [(vec![4, 100, 60], vec![0, 2, 1]), (vec![150, 130], vec![1, 0])].into_iter().enumerate()
    {
        let x = r(&shape, 1630 + i as u64);
        check_on(
            g,
            &format!("split transpose {shape:?}"),
            std::slice::from_ref(&x),
            &ref_transpose(&x, &perm),
            |rec, t| {
                let out = gpu::transpose(rec, &t[0], &perm)?;
                split(rec, "transpose");
                Ok(out)
            },
        );
    }
    let y = r(&[1, 100], 1640);
    let zeros = T::new(&[300, 100], vec![0.0; 30_000]);
    check_on(g, "split expand", std::slice::from_ref(&y), &ref_binary(&zeros, &y, |_, v| v), |rec, t| {
        gpu::expand(rec, &t[0], &[300, 100])
    });
    // A strided view (Slice's form) starting deep in a buffer over the limit.
    let big = r(&[200, 200], 1645);
    let sliced = T::new(&[100, 100], (0..10_000).map(|i| big.data[(50 + i / 100) * 200 + (i % 100) * 2]).collect());
    check_on(g, "split strided view", std::slice::from_ref(&big), &sliced, |rec, t| {
        gpu::elementwise::strided(rec, &t[0], &[100, 100], &[200, 2], 50 * 200, Act::Identity)
    });
    // BatchNormalization (ranges start mid-channel), LayerNormalization (whole rows).
    let x = r(&[3, 8, 40, 40], 1650);
    let p = [r(&[8], 1651), r(&[8], 1652), r(&[8], 1653), rand(&[8], 1654, 0.1, 2.0)];
    let (expected, scale, shift) = ref_batch_norm(&x, [&p[0], &p[1], &p[2], &p[3]], 1e-5);
    check_on(g, "split BatchNormalization", &[x, scale, shift], &expected, |rec, t| {
        let out = gpu::channel_affine(rec, &t[0], &t[1], &t[2])?;
        split(rec, "BatchNormalization");
        Ok(out)
    });
    let x = rand(&[100, 300], 1660, -3.0, 3.0);
    let (s, b) = (r(&[300], 1661), r(&[300], 1662));
    let expected = ref_layer_norm(&x, 300, &s, &b);
    check_on(g, "split LayerNormalization", &[x, s, b], &expected, |rec, t| {
        let out = gpu::layer_norm(rec, &t[0], -1, &t[1], &t[2], 1e-5)?;
        split(rec, "LayerNormalization");
        Ok(out)
    });
    // Softmax along the last and a middle axis, and reductions, a range of blocks at a time.
    let x = rand(&[50, 400], 1670, -5.0, 5.0);
    check_on(g, "split softmax", std::slice::from_ref(&x), &ref_softmax(&x, 1, true), |rec, t| {
        let out = gpu::softmax(rec, &t[0], 1, true, false)?;
        split(rec, "softmax");
        Ok(out)
    });
    let x = rand(&[40, 50, 12], 1671, -5.0, 5.0);
    check_on(g, "split softmax middle axis", std::slice::from_ref(&x), &ref_softmax(&x, 1, false), |rec, t| {
        gpu::softmax(rec, &t[0], 1, false, false)
    });
    for (axes, op) in [(vec![1usize], ReduceOp::Sum), (vec![2], ReduceOp::ArgMax), (vec![0, 2], ReduceOp::Max)] {
        let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
        check_on(
            g,
            &format!("split {op:?} {axes:?}"),
            std::slice::from_ref(&x),
            &ref_reduce(&x, &axes, op, false),
            |rec, t| gpu::reduce(rec, &t[0], &ax, op, false),
        );
    }
}

// ---- whole models: the GPU session against onnxruntime goldens ---------------------------

#[derive(serde::Deserialize)]
struct ModelCase {
    model: String,
    input: String,
    shape: Vec<usize>,
    x: Vec<f32>,
    outputs: Vec<Golden>,
}

#[derive(serde::Deserialize)]
struct Golden {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// A GPU session's outputs against the case's onnxruntime goldens, within ONNX tolerances.
fn assert_matches_onnxruntime(case: &ModelCase, out: &[webeval::runtime::gpu::session::Output]) {
    assert_eq!(out.len(), case.outputs.len(), "{}", case.model);
    for ((name, shape, got), want) in out.iter().zip(&case.outputs) {
        assert_eq!(shape, &want.shape, "{} {name}", case.model);
        for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
            assert!(
                (g as f64 - w).abs() <= ATOL + RTOL * w.abs(),
                "{} {name}[{i}]: {g} vs onnxruntime {w}",
                case.model
            );
        }
    }
}

#[test]
fn whole_models_match_onnxruntime() {
    use webeval::runtime::gpu::session::{select_blocking, DevicePref};
    let cases: Vec<ModelCase> =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/gpu/models.json").unwrap()).unwrap();
    for case in cases {
        let bytes = std::fs::read(format!("tests/fixtures/model/{}", case.model)).unwrap();
        let model = webeval::model::Model::from_bytes(&case.model, bytes).unwrap();
        let auto = select_blocking(DevicePref::Auto, &model).unwrap();
        println!("{}: auto -> {} because {}", case.model, auto.device, auto.reason);
        if device().is_none() {
            assert_eq!(auto.device, "cpu");
            println!("skipped: no adapter");
            continue;
        }
        let sel = select_blocking(DevicePref::Gpu, &model).unwrap();
        assert_eq!(sel.device, "gpu", "{}: {}", case.model, sel.reason);
        let session = sel.session.unwrap();
        if case.model == "autoencoder.onnx" {
            // ConvTranspose has no GPU kernel: it runs on the CPU inside the GPU session, noted.
            assert!(session.notes().iter().any(|n| n.contains("ConvTranspose")), "{:?}", session.notes());
            assert!(sel.reason.contains("the rest run on the CPU"), "{}", sel.reason);
        } else {
            assert!(session.notes().is_empty(), "{}: {:?}", case.model, session.notes());
        }
        let out = session.run_blocking(&[(&case.input, &case.shape, &case.x)]).unwrap();
        assert_matches_onnxruntime(&case, &out);
        let forced = select_blocking(DevicePref::Cpu, &model).unwrap();
        assert_eq!((forced.device, forced.session.is_none()), ("cpu", true));
    }
}

#[test]
fn whole_models_over_the_binding_limit() {
    // On a device that binds 2 KiB at a time. The MLP: both weight matrices (1280 and 640
    // floats) are over it and are split along K, yet every node stays on the GPU. The CNN:
    // a 32x32 input plane and conv2's columns per plane are over it, so both convolutions run
    // on the CPU, and conv2's Relu, fused into its epilogue on the GPU, is applied on its own.
    // Both match onnxruntime's outputs.
    let Some(g) = small_device(2048) else { return };
    let cases: Vec<ModelCase> =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/gpu/models.json").unwrap()).unwrap();
    for case in cases.into_iter().filter(|c| c.model == "mlp.onnx" || c.model == "cnn.onnx") {
        let bytes = std::fs::read(format!("tests/fixtures/model/{}", case.model)).unwrap();
        let model = webeval::model::Model::from_bytes(&case.model, bytes).unwrap();
        let session = webeval::runtime::gpu::GpuSession::compile(g.clone(), &model).unwrap();
        let out = session.run_blocking(&[(&case.input, &case.shape, &case.x)]).unwrap();
        let notes = session.notes();
        if case.model == "mlp.onnx" {
            assert!(notes.is_empty(), "{notes:?}");
        } else {
            assert!(notes.iter().any(|n| n.contains("conv2")), "{notes:?}");
        }
        assert_matches_onnxruntime(&case, &out);
    }
}
