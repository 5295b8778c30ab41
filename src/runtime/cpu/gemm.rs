//! Single-precision GEMM: packed, cache-blocked (Goto/BLIS loop order) around a small
//! register-tile microkernel chosen per instruction set.
//!
//! Every dense layer and every convolution (through im2col) ends up here, so this is where
//! the speed of the CPU runtime comes from. Operands are read through row/column strides,
//! which covers transposed inputs without copying; constant weights can be packed once at
//! load time ([`Packed`]) so a batch-1 inference does not repack them on every call.

use super::Microkernel;

/// Depth of a packed block (the shared dimension). 256 floats of A's row and B's column
/// strips keep the microkernel's working set in L1/L2.
const KC: usize = 256;
/// Rows of A per block (rounded to the kernel's MR).
const MC: usize = 96;
/// Columns of B per block (rounded to the kernel's NR).
const NC: usize = 2048;

/// A strided view of a matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        MatRef { data, rs: cols, cs: 1 }
    }
    /// The transpose of a row-major `rows x cols` matrix, seen as `cols x rows`.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        MatRef { data, rs: 1, cs: cols }
    }
}

/// A matrix packed once for a given kernel: blocks in the order the driver visits them.
#[derive(Debug, Clone)]
pub struct Packed {
    rows: usize,
    cols: usize,
    /// true: packed as the A operand (MR-row strips); false: as B (NR-column strips).
    left: bool,
    /// Start of each block, indexed [outer block][kc block].
    offsets: Vec<usize>,
    data: Vec<f32>,
}

impl Packed {
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// One GEMM operand: a strided matrix packed on the fly, or one packed at load time.
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    Strided(MatRef<'a>),
    Packed(&'a Packed),
}

/// Copy `N` floats with a constant length: plain vector loads and stores, where a slice copy
/// of a run-time length is a `memory.copy` call in wasm (costly for a few floats).
#[inline(always)]
pub fn copy_n<const N: usize>(dst: &mut [f32], src: &[f32]) {
    let v: [f32; N] = src[..N].try_into().expect("N floats");
    dst[..N].copy_from_slice(&v);
}

fn round_up(x: usize, m: usize) -> usize {
    x.div_ceil(m) * m
}

/// Pack rows [r0, r0+mc) x depth [p0, p0+kc) of A into MR-row strips, depth-major, scaled.
#[allow(clippy::too_many_arguments)]
fn pack_a(a: MatRef, r0: usize, mc: usize, p0: usize, kc: usize, mr: usize, alpha: f32, out: &mut Vec<f32>) {
    out.clear();
    out.resize(mc.div_ceil(mr) * mr * kc, 0.0);
    // Row by row (a row-major A is then read sequentially); padding rows stay zero.
    for (s, strip) in out.chunks_exact_mut(mr * kc).enumerate() {
        for r in 0..mr.min(mc - s * mr) {
            let row = &a.data[(r0 + s * mr + r) * a.rs..];
            for (p, d) in strip.iter_mut().skip(r).step_by(mr).enumerate() {
                *d = alpha * row[(p0 + p) * a.cs];
            }
        }
    }
}

/// Pack depth [p0, p0+kc) x columns [c0, c0+nc) of B into NR-column strips, depth-major.
fn pack_b(b: MatRef, p0: usize, kc: usize, c0: usize, nc: usize, nr: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(nc.div_ceil(nr) * nr * kc, 0.0);
    for (s, strip) in out.chunks_exact_mut(nr * kc).enumerate() {
        let (j, cols) = (c0 + s * nr, nr.min(nc - s * nr));
        for (p, dst) in strip.chunks_exact_mut(nr).enumerate() {
            let base = (p0 + p) * b.rs;
            if b.cs == 1 && cols == nr {
                let src = &b.data[base + j..base + j + nr];
                match nr {
                    8 => copy_n::<8>(dst, src),
                    16 => copy_n::<16>(dst, src),
                    32 => copy_n::<32>(dst, src),
                    _ => dst.copy_from_slice(src),
                }
            } else {
                for (c, d) in dst.iter_mut().enumerate().take(cols) {
                    *d = b.data[base + (j + c) * b.cs];
                }
            }
        }
    }
}

fn mc_for(k: &Microkernel) -> usize {
    round_up(MC, k.mr)
}
fn nc_for(k: &Microkernel) -> usize {
    round_up(NC, k.nr)
}

/// Pack a `rows x cols` matrix as the A (left) operand for `kernel`.
pub fn pack_left(kernel: &Microkernel, m: MatRef, rows: usize, cols: usize) -> Packed {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    let mut buf = Vec::new();
    let mc = mc_for(kernel);
    for ic in (0..rows).step_by(mc.max(1)) {
        for pc in (0..cols).step_by(KC) {
            pack_a(m, ic, mc.min(rows - ic), pc, KC.min(cols - pc), kernel.mr, 1.0, &mut buf);
            offsets.push(data.len());
            data.extend_from_slice(&buf);
        }
    }
    Packed { rows, cols, left: true, offsets, data }
}

/// Pack a `rows x cols` matrix as the B (right) operand for `kernel`.
pub fn pack_right(kernel: &Microkernel, m: MatRef, rows: usize, cols: usize) -> Packed {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    let mut buf = Vec::new();
    let nc = nc_for(kernel);
    for jc in (0..cols).step_by(nc.max(1)) {
        for pc in (0..rows).step_by(KC) {
            pack_b(m, pc, KC.min(rows - pc), jc, nc.min(cols - jc), kernel.nr, &mut buf);
            offsets.push(data.len());
            data.extend_from_slice(&buf);
        }
    }
    Packed { rows, cols, left: false, offsets, data }
}

std::thread_local! {
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// `C = alpha * A·B (+ C if accumulate)`, A `m x k`, B `k x n`, C row-major with row stride
/// `ldc`. A packed A must have been packed with alpha already applied (alpha is ignored).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    kernel: &Microkernel,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "sgemm: C is too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    if let Operand::Packed(p) = a {
        assert!(p.left && p.rows == m && p.cols == k, "sgemm: packed A does not match");
    }
    if let Operand::Packed(p) = b {
        assert!(!p.left && p.rows == k && p.cols == n, "sgemm: packed B does not match");
    }
    let (mr, nr) = (kernel.mr, kernel.nr);
    let (mc, nc) = (mc_for(kernel), nc_for(kernel));
    let k_blocks = k.div_ceil(KC);
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let (abuf, bbuf) = &mut *s;
        let mut tile = [0f32; super::MAX_TILE];
        for (jb, jc) in (0..n).step_by(nc).enumerate() {
            let ncur = nc.min(n - jc);
            for (pb, pc) in (0..k).step_by(KC).enumerate() {
                let kc = KC.min(k - pc);
                let bp: &[f32] = match b {
                    Operand::Strided(bm) => {
                        pack_b(bm, pc, kc, jc, ncur, nr, bbuf);
                        bbuf
                    }
                    Operand::Packed(p) => &p.data[p.offsets[jb * k_blocks + pb]..],
                };
                let acc = accumulate || pc > 0;
                for (ib, ic) in (0..m).step_by(mc).enumerate() {
                    let mcur = mc.min(m - ic);
                    // (A's values, the distance between its depth steps.)
                    let (ap, astride): (&[f32], usize) = match a {
                        // One unscaled row is read in place by the row kernel: no packing.
                        Operand::Strided(am) if m == 1 && alpha == 1.0 => {
                            let row = &am.data[pc * am.cs..];
                            assert!(row.len() > (kc - 1) * am.cs, "sgemm: A is too small");
                            (row, am.cs)
                        }
                        Operand::Strided(am) => {
                            pack_a(am, ic, mcur, pc, kc, mr, alpha, abuf);
                            (abuf, mr)
                        }
                        Operand::Packed(p) => (&p.data[p.offsets[ib * k_blocks + pb]..], mr),
                    };
                    if m == 1 {
                        // A single row (batch-1 layers, recurrent steps): the MR-row tile would
                        // spend MR-1 rows on padding. Whole strips go straight into C, a last
                        // partial one through the tile.
                        let full = ncur / nr;
                        // SAFETY: A's row holds kc steps of stride astride, the block holds
                        // ceil(ncur/nr) strips of nr*kc floats, and C row 0 has n >= jc + full*nr.
                        unsafe { (kernel.row)(kc, ap.as_ptr(), astride, bp.as_ptr(), full, c[jc..].as_mut_ptr(), acc) };
                        let cols = ncur - full * nr;
                        if cols > 0 {
                            let strip = &bp[full * nr * kc..][..nr * kc];
                            // SAFETY: one strip of nr*kc floats into the tile's first nr floats.
                            unsafe {
                                (kernel.row)(kc, ap.as_ptr(), astride, strip.as_ptr(), 1, tile.as_mut_ptr(), false)
                            };
                            let c0 = jc + full * nr;
                            for (o, s) in c[c0..c0 + cols].iter_mut().zip(tile.iter()) {
                                *o = if acc { *o + s } else { *s };
                            }
                        }
                        continue;
                    }
                    for jr in (0..ncur).step_by(nr) {
                        let cols = nr.min(ncur - jr);
                        let bstrip = &bp[(jr / nr) * nr * kc..][..nr * kc];
                        for ir in (0..mcur).step_by(mr) {
                            let rows = mr.min(mcur - ir);
                            let astrip = &ap[(ir / mr) * mr * kc..][..mr * kc];
                            let c0 = (ic + ir) * ldc + jc + jr;
                            if rows == mr && cols == nr {
                                // SAFETY: strips hold mr*kc / nr*kc floats; the tile's last
                                // element (c0 + (mr-1)*ldc + nr-1) is inside C (checked above).
                                unsafe {
                                    (kernel.func)(kc, astrip.as_ptr(), bstrip.as_ptr(), c[c0..].as_mut_ptr(), ldc, acc)
                                };
                            } else {
                                for r in 0..rows {
                                    for cc in 0..cols {
                                        tile[r * nr + cc] = c[c0 + r * ldc + cc];
                                    }
                                }
                                // SAFETY: the tile buffer holds MAX_TILE >= mr*nr floats.
                                unsafe {
                                    (kernel.func)(kc, astrip.as_ptr(), bstrip.as_ptr(), tile.as_mut_ptr(), nr, acc)
                                };
                                for r in 0..rows {
                                    for cc in 0..cols {
                                        c[c0 + r * ldc + cc] = tile[r * nr + cc];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

/// The portable [`super::RowFn`] (scalar and NEON builds): one strip at a time.
///
/// # Safety
/// `a[p * astride]` for p < kc, `strips` strips of `kc*NR` floats at `b`, `strips*NR` at `out`.
pub unsafe fn row_generic<const NR: usize>(
    kc: usize,
    a: *const f32,
    astride: usize,
    b: *const f32,
    strips: usize,
    out: *mut f32,
    accumulate: bool,
) {
    if strips == 0 {
        return;
    }
    let a = std::slice::from_raw_parts(a, (kc - 1) * astride + 1);
    let b = std::slice::from_raw_parts(b, strips * NR * kc);
    let out = std::slice::from_raw_parts_mut(out, strips * NR);
    let mut sums = [0f32; NR];
    for (strip, o) in b.chunks_exact(NR * kc).zip(out.chunks_exact_mut(NR)) {
        row_strip::<NR>(kc, a, astride, strip, &mut sums);
        for (o, s) in o.iter_mut().zip(sums) {
            *o = if accumulate { *o + s } else { s };
        }
    }
}

/// One strip of [`row_generic`], with two interleaved accumulators so consecutive
/// depth steps do not wait on each other's adds (the compiler vectorises the lanes).
fn row_strip<const NR: usize>(kc: usize, a: &[f32], astride: usize, strip: &[f32], out: &mut [f32]) {
    let mut s0 = [0f32; NR];
    let mut s1 = [0f32; NR];
    let mut pairs = strip[..kc * NR].chunks_exact(2 * NR);
    let mut p = 0;
    for pair in &mut pairs {
        let (a0, a1) = (a[p * astride], a[(p + 1) * astride]);
        let (b0, b1) = pair.split_at(NR);
        for i in 0..NR {
            s0[i] += a0 * b0[i];
            s1[i] += a1 * b1[i];
        }
        p += 2;
    }
    let rest = pairs.remainder();
    if !rest.is_empty() {
        let a0 = a[p * astride];
        for i in 0..NR {
            s0[i] += a0 * rest[i];
        }
    }
    for i in 0..NR {
        out[i] = s0[i] + s1[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn check(kernel: &Microkernel, m: usize, n: usize, k: usize) {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0).collect();
        let want = naive(m, n, k, &a, &b);
        let mut c = vec![1.0; m * n];
        sgemm(
            kernel,
            m,
            n,
            k,
            1.0,
            Operand::Strided(MatRef::row_major(&a, k)),
            Operand::Strided(MatRef::row_major(&b, n)),
            &mut c,
            n,
            false,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} {m}x{n}x{k}: {x} vs {y}", kernel.name);
        }
        // Pre-packed operands, transposed views and accumulation give the same result.
        let pa = pack_left(kernel, MatRef::row_major(&a, k), m, k);
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let pb = pack_right(kernel, MatRef::transposed(&bt, k), k, n);
        let mut c2 = vec![0.5; m * n];
        sgemm(kernel, m, n, k, 1.0, Operand::Packed(&pa), Operand::Packed(&pb), &mut c2, n, true);
        for (x, y) in c2.iter().zip(&want) {
            assert!((x - 0.5 - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} packed {m}x{n}x{k}", kernel.name);
        }
    }

    #[test]
    fn every_kernel_matches_the_naive_product() {
        for kernel in super::super::kernels() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (3, 5, 7),
                (6, 16, 8),
                (13, 37, 300),
                (100, 33, 17),
                (1, 2100, 9),
                (1, 77, 600),
                (97, 1, 513),
            ] {
                check(&kernel, m, n, k);
            }
        }
    }
}
