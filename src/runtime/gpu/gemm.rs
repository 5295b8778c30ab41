//! Matrix multiplication: ONNX MatMul and Gemm, and the GEMM behind conv.
//!
//! Register-tiled kernels in gemm.wgsl sharing one fused epilogue (alpha, bias, activation),
//! so a Linear or Conv layer plus its activation is one dispatch: a 128 x 128 tile with 8 x 8
//! values per invocation for most products, a 64-wide tile (16, 32 or 64 rows high) for small
//! M or operands that are not vec4-aligned, a 16-wide one for N <= 16, and a matrix-vector
//! kernel for M = 1 ([`Tiles`]).
//! vec4 loads are used whenever K, N and every offset are multiples of 4.
//! Operands over the adapter's binding limit are split into row and K blocks ([`record`]),
//! so a big weight or activation stays on the GPU.

use super::device::{GpuTensor, Recorder, View};
use super::elementwise::{self, Act};
use crate::error::{Error, Result};

const SOURCE: &str = super::device::wgsl!("gemm.wgsl");
pub(crate) const TILE: usize = 64;
const BIG: usize = 128;

/// Which tiled kernel runs a product (M > 1). By size: the 16-wide tile for N <= 16, the
/// 128 x 128 tile when the operands are vec4-aligned, M and N at least 64 and its padding
/// small ([`big_fits`]), else the 64-wide tile (16, 32 or 64 rows high by M). On lavapipe the
/// big tile was 2-3x faster from 96 rows up, even at 128 x 128 x 128, and about even at M or
/// N = 64 (half its rows or columns padding) and at 48 rows; on SwiftShader it lost 2.3x at
/// 64 x 64 x 64 (three quarters padding). It was not measured on a hardware GPU, where a small
/// C gives the 128 x 128 tile few workgroups; such a product is microseconds there either way.
/// Forcing the big tile on operands that are not vec4-aligned runs the small one.
/// `Narrow`, a 16-wide tile, is chosen for N <= 16 (a classifier's output layer, where the
/// 64-wide tile is mostly padding columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiles {
    BySize = 0,
    Small = 1,
    Big = 2,
    Narrow = 3,
}

impl Tiles {
    pub(crate) fn from_code(code: u8) -> Tiles {
        match code {
            1 => Tiles::Small,
            2 => Tiles::Big,
            3 => Tiles::Narrow,
            _ => Tiles::BySize,
        }
    }
}

/// Columns of C per workgroup of the narrow tile.
const NARROW: usize = 16;

/// Whether the 128 x 128 tile suits an m x n result: it must cover at most twice the area the
/// 64-wide tile covers (its padding), since it does about twice the work per value's cost
/// (measured 1.5-1.75x on SwiftShader at 64^3-128^3, ~3x on lavapipe), so 64 x 64 runs the
/// 64-wide tile (SwiftShader: 2.5 vs 5.7 ms) while 64 x 4096 or 96 x 1024 run the big one.
fn big_fits(m: usize, n: usize) -> bool {
    let area = |t: usize| m.div_ceil(t) * t * n.div_ceil(t) * t;
    m >= 64 && n >= 64 && area(BIG) <= 2 * area(TILE)
}

/// Where one batched GEMM reads and writes, in f32 elements. Batch `i` of A starts at
/// `a_off + i * a_bstride` (0 broadcasts), etc.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GemmCall {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub a_off: usize,
    pub a_bstride: usize,
    pub b_off: usize,
    pub b_bstride: usize,
    pub c_off: usize,
    pub c_bstride: usize,
}

/// How the bias is addressed: element (batch, row, col) is at
/// `off + batch * bstride + row * rs + col * cs`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BiasLayout {
    pub off: usize,
    pub bstride: usize,
    pub rs: usize,
    pub cs: usize,
}

pub(crate) struct Epilogue<'a> {
    pub bias: Option<(&'a wgpu::Buffer, BiasLayout)>,
    pub alpha: f32,
    pub beta: f32,
    pub act: Act,
}

/// Records one batched GEMM into `c`. When an operand is over the adapter's binding limit
/// (or the grid over its workgroup limit) the product is split: by batch, then into row
/// blocks of A and C, then along K into dispatches that accumulate into C (the epilogue on
/// the last), each binding only the ranges it reads and writes.
pub(crate) fn record(
    rec: &mut Recorder<'_>,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
    call: GemmCall,
    ep: &Epilogue<'_>,
) -> Result<()> {
    let gpu = rec.gpu();
    let max_groups = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let limit = gpu.summary().max_binding_bytes;
    let fits = |buf: &wgpu::Buffer| buf.size() <= limit;
    let whole = fits(a) && fits(b) && fits(c) && ep.bias.is_none_or(|(buf, _)| fits(buf));
    let grid_ok =
        call.n.div_ceil(TILE) <= max_groups && call.m.div_ceil(TILE) <= max_groups && call.batch <= max_groups;
    if whole && grid_ok {
        let bias = ep.bias.map(|(buf, l)| (View::whole(buf), l));
        return dispatch(rec, [View::whole(a), View::whole(b), View::whole(c)], bias, call, call.k, ep, false);
    }
    // Split. Per batch: rows of A and C in blocks of `mc`, K in blocks of `kc`.
    let (m, n, k) = (call.m, call.n, call.k);
    let room = gpu.view_elems();
    let over =
        |what: &str| Error::GpuLimit { tensor: format!("matmul {m}x{k}x{n}: {what}"), bytes: (n as u64) * 4, limit };
    if n > room {
        return Err(over("one row of B or C alone is over the binding limit"));
    }
    if n.div_ceil(TILE) > max_groups {
        return Err(over("N is over the workgroup limit"));
    }
    // K blocks a multiple of 16 (the tile depth) when there is room, so vec4 loads stay aligned.
    let rows_of_b = room / n;
    let kc = if k * n <= room {
        k
    } else if rows_of_b >= 16 {
        rows_of_b / 16 * 16
    } else {
        rows_of_b
    };
    let bias_rs = ep.bias.map_or(0, |(_, l)| l.rs);
    let row_span = |rows: usize, stride: usize, tail: usize| (rows - 1) * stride + tail;
    let mut mc = (room - kc) / k.max(1) + 1;
    mc = mc.min(room / n).min(max_groups * TILE).min(m.max(1));
    // A bias with a row stride (Gemm's full C) is read over the same rows.
    if let Some(more) = (room - n).checked_div(bias_rs) {
        mc = mc.min(more + 1);
    }
    let align = gpu.summary().binding_align_bytes;
    for bi in 0..call.batch {
        for m0 in (0..m).step_by(mc.max(1)) {
            let rows = mc.min(m - m0);
            let c_view = View::range(c, call.c_off + bi * call.c_bstride + m0 * n, rows * n);
            let bias = ep.bias.map(|(buf, l)| {
                let start = l.off + bi * l.bstride + m0 * l.rs;
                let len = row_span(rows, l.rs, (n - 1) * l.cs + 1);
                let v = View::range(buf, start, len);
                (v, BiasLayout { off: v.rel(align), bstride: 0, ..l })
            });
            for k0 in (0..k).step_by(kc.max(1)) {
                let kn = kc.min(k - k0);
                let a_view = View::range(a, call.a_off + bi * call.a_bstride + m0 * k + k0, row_span(rows, k, kn));
                let b_view = View::range(b, call.b_off + bi * call.b_bstride + k0 * n, kn * n);
                let part = GemmCall {
                    m: rows,
                    n,
                    k: kn,
                    batch: 1,
                    a_off: a_view.rel(align),
                    a_bstride: 0,
                    b_off: b_view.rel(align),
                    b_bstride: 0,
                    c_off: c_view.rel(align),
                    c_bstride: 0,
                };
                // The bias and the activation once, on the last block of K.
                let partial = Epilogue { bias: None, alpha: ep.alpha, beta: 0.0, act: Act::Identity };
                let (part_ep, part_bias) = if k0 + kn == k { (ep, bias) } else { (&partial, None) };
                dispatch(rec, [a_view, b_view, c_view], part_bias, part, k, part_ep, k0 > 0)?;
            }
        }
    }
    Ok(())
}

/// One GEMM dispatch over views (`ep` gives alpha, beta and the activation; the bias is
/// `bias`); `lda` is A's row stride, `accumulate` adds C's value.
fn dispatch(
    rec: &mut Recorder<'_>,
    [a, b, c]: [View<'_>; 3],
    bias: Option<(View<'_>, BiasLayout)>,
    call: GemmCall,
    lda: usize,
    ep: &Epilogue<'_>,
    accumulate: bool,
) -> Result<()> {
    let gpu = rec.gpu();
    let (act, p0, p1) = ep.act.code();
    let (bias_view, bl, has) = match bias {
        Some((v, l)) => (v, l, 1),
        None => (View::range(a.buf, a.start, 1), BiasLayout::default(), 0),
    };
    let u = |v: usize| v as u32;
    let words = [
        u(call.m),
        u(call.n),
        u(call.k),
        u(call.batch),
        u(call.a_off),
        u(call.a_bstride),
        u(call.b_off),
        u(call.b_bstride),
        u(call.c_off),
        u(call.c_bstride),
        u(bl.off),
        u(bl.bstride),
        u(bl.rs),
        u(bl.cs),
        has,
        act,
        ep.alpha.to_bits(),
        ep.beta.to_bits(),
        p0.to_bits(),
        p1.to_bits(),
        u(lda),
        u32::from(accumulate),
        0,
        0,
    ];
    let views = [a, b, c, bias_view];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    // One row: the matrix-vector kernel (a 64-row tile would be 63 rows of padding).
    if call.m == 1 {
        let vec4 = [call.n, call.b_off, call.b_bstride].iter().all(|v| v % 4 == 0);
        let per_group = if vec4 { 1024 } else { 256 };
        let gx = call.n.div_ceil(per_group);
        if gx <= max {
            let defines: &[&str] = if vec4 { &["GEMV", "VEC4"] } else { &["GEMV"] };
            let pipe = gpu.pipeline_with("gemm", &|| elementwise::with_activation(SOURCE), defines, "main")?;
            return rec.dispatch_views(&pipe, &words, &views, [gx as u32, 1, call.batch as u32]);
        }
    }
    let vec4 =
        [call.k, call.n, lda, call.a_off, call.a_bstride, call.b_off, call.b_bstride, call.c_off, call.c_bstride]
            .iter()
            .all(|v| v % 4 == 0);
    let tiles = match gpu.gemm_tiles() {
        Tiles::BySize if call.n <= NARROW => Tiles::Narrow,
        Tiles::BySize if big_fits(call.m, call.n) => Tiles::Big,
        Tiles::BySize => Tiles::Small,
        forced => forced,
    };
    if tiles == Tiles::Big && vec4 && call.m.div_ceil(BIG) <= max {
        let pipe = gpu.pipeline_with("gemm", &|| elementwise::with_activation(SOURCE), &["VEC4", "BIG"], "main")?;
        let groups = [call.n.div_ceil(BIG) as u32, call.m.div_ceil(BIG) as u32, call.batch as u32];
        return rec.dispatch_views(&pipe, &words, &views, groups);
    }
    // The tile's height: 64 rows, or 16 / 32 when M is no more (a conv's output channels).
    let (tm, tile_def) = match call.m {
        0..=16 => (16, Some("TM16")),
        17..=32 => (32, Some("TM32")),
        _ => (TILE, None),
    };
    // Its width: 64 columns, or 16 for the narrow tile (when N / 16 is within the grid).
    let (tn, narrow) =
        if tiles == Tiles::Narrow && call.n.div_ceil(NARROW) <= max { (NARROW, Some("NARROW")) } else { (TILE, None) };
    let defines: Vec<&str> = vec4.then_some("VEC4").into_iter().chain(tile_def).chain(narrow).collect();
    let pipe = gpu.pipeline_with("gemm", &|| elementwise::with_activation(SOURCE), &defines, "main")?;
    let groups = [call.n.div_ceil(tn) as u32, call.m.div_ceil(tm) as u32, call.batch as u32];
    rec.dispatch_views(&pipe, &words, &views, groups)
}

/// ONNX MatMul (numpy matmul semantics) with an optional fused bias over the last axis
/// (MatMul + Add of a [N] vector) and activation.
pub fn matmul(
    rec: &mut Recorder<'_>,
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    act: Act,
) -> Result<GpuTensor> {
    let mismatch = || Error::InvalidArgument(format!("MatMul: shapes {:?} and {:?} do not multiply", a.shape, b.shape));
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err(mismatch());
    }
    // 1-D operands are promoted as numpy does and the added axis removed afterwards.
    let (keep_m, keep_n) = (a.shape.len() > 1, b.shape.len() > 1);
    let a_shape = if a.shape.len() == 1 { vec![1, a.shape[0]] } else { a.shape.clone() };
    let b_shape = if b.shape.len() == 1 { vec![b.shape[0], 1] } else { b.shape.clone() };
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let (k2, n) = (b_shape[b_shape.len() - 2], b_shape[b_shape.len() - 1]);
    if k != k2 {
        return Err(mismatch());
    }
    let a_batch = &a_shape[..a_shape.len() - 2];
    let b_batch = &b_shape[..b_shape.len() - 2];
    let batch_shape = elementwise::broadcast_shape(a_batch, b_batch).map_err(|_| mismatch())?;
    let batch: usize = batch_shape.iter().product();
    let na: usize = a_batch.iter().product();
    let nb: usize = b_batch.iter().product();
    // One batched GEMM covers "same batch" and "one side unbatched"; other broadcasts expand first.
    let (a, a_bs) = if na == batch {
        (a.clone(), m * k)
    } else if na == 1 {
        (a.clone(), 0)
    } else {
        let mut s = batch_shape.clone();
        s.extend([m, k]);
        (elementwise::expand(rec, &a.reshaped(&a_shape)?, &s)?, m * k)
    };
    let (b, b_bs) = if nb == batch {
        (b.clone(), k * n)
    } else if nb == 1 {
        (b.clone(), 0)
    } else {
        let mut s = batch_shape.clone();
        s.extend([k, n]);
        (elementwise::expand(rec, &b.reshaped(&b_shape)?, &s)?, k * n)
    };
    // numpy drops the axis a 1-D operand was promoted with.
    let mut out_shape = batch_shape;
    if keep_m {
        out_shape.push(m);
    }
    if keep_n {
        out_shape.push(n);
    }
    let c = rec.gpu().empty(&out_shape)?;
    if let Some(bias) = bias {
        if bias.len() != n {
            return Err(Error::InvalidArgument(format!("MatMul bias has shape {:?}, expected [{n}]", bias.shape)));
        }
    }
    let ep = Epilogue {
        bias: bias.map(|t| (&t.buf, BiasLayout { off: 0, bstride: 0, rs: 0, cs: 1 })),
        alpha: 1.0,
        beta: 1.0,
        act,
    };
    let call = GemmCall { m, n, k, batch, a_bstride: a_bs, b_bstride: b_bs, c_bstride: m * n, ..Default::default() };
    record(rec, &a.buf, &b.buf, &c.buf, call, &ep)?;
    Ok(c)
}

/// ONNX Gemm: act(alpha * A' B' + beta * C) with A' = transA ? A^T : A (2-D operands).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    rec: &mut Recorder<'_>,
    a: &GpuTensor,
    b: &GpuTensor,
    c: Option<&GpuTensor>,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    act: Act,
) -> Result<GpuTensor> {
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return Err(Error::InvalidArgument(format!("Gemm expects 2-D A and B, got {:?} and {:?}", a.shape, b.shape)));
    }
    let a = if trans_a { elementwise::transpose(rec, a, &[1, 0])? } else { a.clone() };
    let b = if trans_b { elementwise::transpose(rec, b, &[1, 0])? } else { b.clone() };
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1]);
    if b.shape[0] != k {
        return Err(Error::InvalidArgument(format!("Gemm: A' is {m}x{k} but B' is {:?}", b.shape)));
    }
    let layout = match c {
        None => None,
        Some(c) => Some(bias_layout(&c.shape, m, n).ok_or_else(|| {
            Error::InvalidArgument(format!("Gemm: C of shape {:?} does not broadcast to [{m}, {n}]", c.shape))
        })?),
    };
    let gpu = rec.gpu();
    let out = gpu.empty(&[m, n])?;
    let ep = Epilogue { bias: c.zip(layout).map(|(t, l)| (&t.buf, l)), alpha, beta, act };
    let call = GemmCall { m, n, k, batch: 1, ..Default::default() };
    record(rec, &a.buf, &b.buf, &out.buf, call, &ep)?;
    Ok(out)
}

/// Strides that broadcast a bias of `shape` over an [m, n] result (unidirectional, as Gemm's C).
pub(crate) fn bias_layout(shape: &[usize], m: usize, n: usize) -> Option<BiasLayout> {
    let dims: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
    let (r, c) = match shape.len() {
        0 => (1, 1),
        1 => (1, shape[0]),
        2 => (shape[0], shape[1]),
        _ if dims.len() <= 2 => match dims.len() {
            0 => (1, 1),
            1 => (1, dims[0]),
            _ => (dims[0], dims[1]),
        },
        _ => return None,
    };
    let ok = |x: usize, full: usize| x == 1 || x == full;
    if !ok(r, m) || !ok(c, n) {
        return None;
    }
    Some(BiasLayout { off: 0, bstride: 0, rs: if r == 1 { 0 } else { c }, cs: usize::from(c != 1) })
}

/// GFLOPS of the kernel on `m x k` times `k x n` (benchmark probe, native and in the page):
/// `reps` products recorded into one submission into one output, then one value read back,
/// timed with `clock` (milliseconds) from the first recorded dispatch to the readback, so the
/// figure is kernel throughput, not upload or readback. The first run compiles and warms.
pub async fn gflops(
    gpu: &super::Gpu,
    m: usize,
    n: usize,
    k: usize,
    reps: usize,
    clock: &mut dyn FnMut() -> f64,
) -> Result<f64> {
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let (ta, tb, tc) = (gpu.upload(&a, &[m, k])?, gpu.upload(&b, &[k, n])?, gpu.empty(&[m, n])?);
    let probe = gpu.empty(&[1])?;
    let call = GemmCall { m, n, k, batch: 1, c_bstride: m * n, ..Default::default() };
    let ep = Epilogue { bias: None, alpha: 1.0, beta: 1.0, act: Act::Identity };
    let mut ms = 0.0;
    for reps in [1, reps.max(1)] {
        let t = clock();
        let mut rec = gpu.recorder();
        for _ in 0..reps {
            record(&mut rec, &ta.buf, &tb.buf, &tc.buf, call, &ep)?;
        }
        rec.copy(&tc.buf, 0, &probe.buf, 0, 1)?;
        gpu.read_many(rec, &[&probe]).await?;
        ms = (clock() - t).max(1e-6);
    }
    Ok(2.0 * (m * n * k) as f64 * reps.max(1) as f64 / (ms * 1e6))
}
