//! LSTM and GRU: the input projection of many steps is one GEMM, the recurrence a small GEMM
//! per step over the whole batch (or per sequence when `sequence_lens` differ), then a pass
//! over the gates.
//!
//! The LSTM projects its input in chunks of steps that fit in cache (all steps of one
//! sequence; one step at batch 256): projecting every step at once made a 16 MB buffer at
//! batch 256 that each step's product and gate pass then fetched from memory.

use super::gemm::{self, MatRef, Operand};
use super::ops::{activation, bad, input_f32, kernel, transpose};
use crate::error::Result;
use crate::model::Node;
use crate::runtime::executor::{CompileCtx, Kernel};
use crate::runtime::tensor::Tensor;

type Act = Box<dyn Fn(f32) -> f32 + Send + Sync>;

struct Cell {
    lstm: bool,
    hidden: usize,
    dirs: usize,
    reverse_only: bool,
    clip: Option<f32>,
    /// f, g, h activations per direction.
    acts: Vec<Act>,
    linear_before_reset: bool,
    input_forget: bool,
    layout: i64,
    /// An LSTM with the default activations and no clip, peepholes or coupled input-forget
    /// gate: the common case, run without calls through `acts`.
    plain: bool,
    /// W^T and R^T of each direction packed at load time when they are initializers.
    packed: Option<Vec<(gemm::Packed, gemm::Packed)>>,
    /// Whether output Y (every step's hidden state) is read; models that only use Y_h skip it.
    want_y: bool,
    /// [`CHUNK_FLOATS`] (smaller in tests).
    chunk_floats: usize,
}

pub fn compile(node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
    let lstm = match node.op_type.as_str() {
        "LSTM" => true,
        "GRU" => false,
        _ => return Ok(None),
    };
    let direction = node.attr_string("direction", "forward")?;
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let per = if lstm { 3 } else { 2 };
    let names: Vec<String> = match node.attr_strings("activations")? {
        Some(a) => a.to_vec(),
        None => {
            let d: &[&str] = if lstm { &["Sigmoid", "Tanh", "Tanh"] } else { &["Sigmoid", "Tanh"] };
            (0..dirs).flat_map(|_| d.iter().map(|s| s.to_string())).collect()
        }
    };
    let alphas = node.attr_floats("activation_alpha")?.map(<[f32]>::to_vec).unwrap_or_default();
    let betas = node.attr_floats("activation_beta")?.map(<[f32]>::to_vec).unwrap_or_default();
    if names.len() < per * dirs {
        return Err(bad(format!("expected {} activations, got {}", per * dirs, names.len())));
    }
    let acts = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            activation(n, alphas.get(i).copied(), betas.get(i).copied())
                .ok_or_else(|| bad(format!("unknown activation '{n}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    let clip = node.attr("clip").is_some().then(|| node.attr_float("clip", 0.0)).transpose()?;
    let cell = Cell {
        lstm,
        hidden: node.attr_int("hidden_size", 0)?.max(0) as usize,
        dirs,
        reverse_only: direction == "reverse",
        clip,
        acts,
        linear_before_reset: node.attr_int("linear_before_reset", 0)? != 0,
        input_forget: node.attr_int("input_forget", 0)? != 0,
        layout: node.attr_int("layout", 0)?,
        packed: None,
        plain: false,
        want_y: node.outputs.first().is_some_and(|o| !o.is_empty()),
        chunk_floats: CHUNK_FLOATS,
    };
    let packed = match (ctx.constant(node, 1), ctx.constant(node, 2)) {
        (Some(wt), Some(rt)) if wt.rank() == 3 && rt.rank() == 3 => {
            let (gh, isz, h) = (wt.shape[1], wt.shape[2], rt.shape[2]);
            let (w, r) = (wt.as_f32("W")?, rt.as_f32("R")?);
            let fits = wt.shape[0] == dirs && rt.shape[..2] == [dirs, gh] && w.len() == dirs * gh * isz;
            fits.then(|| {
                let kern = super::best();
                (0..dirs)
                    .map(|d| {
                        let (wd, rd) = (&w[d * gh * isz..][..gh * isz], &r[d * gh * h..][..gh * h]);
                        (
                            gemm::pack_right(kern, MatRef::transposed(wd, isz), isz, gh),
                            gemm::pack_right(kern, MatRef::transposed(rd, h), h, gh),
                        )
                    })
                    .collect()
            })
        }
        _ => None,
    };
    let default_acts = names.iter().enumerate().all(|(i, n)| n == ["Sigmoid", "Tanh", "Tanh"][i % 3])
        && alphas.is_empty()
        && betas.is_empty();
    let plain = lstm && default_acts && cell.clip.is_none() && !cell.input_forget && node.input(7).is_none();
    let cell = Cell { packed, plain, ..cell };
    Ok(kernel(move |ins, _| cell.run(ins)))
}

/// Floats of input projections computed ahead of the recurrence (256 KB: stays in L2).
const CHUNK_FLOATS: usize = 1 << 16;

/// A direction's sizes and the inputs shared by both cells.
struct Step<'a> {
    d: usize,
    seq: usize,
    batch: usize,
    isz: usize,
    h: usize,
    x: &'a [f32],
    /// `B` (both halves, every direction) when given.
    bias: Option<&'a [f32]>,
    /// Per batch row, when `sequence_lens` is given.
    lens: Option<&'a [usize]>,
    h0: Option<&'a [f32]>,
    c0: Option<&'a [f32]>,
    peep: Option<&'a [f32]>,
}

impl Step<'_> {
    /// Batch rows run together: the whole batch when every sequence has the full length,
    /// else one group per sequence: (first row, rows, length).
    fn groups(&self) -> Vec<(usize, usize, usize)> {
        match self.lens {
            Some(l) if l.iter().any(|&v| v != self.seq) => (0..self.batch).map(|b| (b, 1, l[b])).collect(),
            _ => vec![(0, self.batch, self.seq)],
        }
    }
    /// Rows `b0..b0+nb` of an initial state (`[dirs, batch, h]`) for this direction, or zeros.
    fn initial(&self, v: Option<&[f32]>, b0: usize, nb: usize) -> Vec<f32> {
        let (d, batch, h) = (self.d, self.batch, self.h);
        v.map_or_else(|| vec![0f32; nb * h], |v| v[(d * batch + b0) * h..(d * batch + b0 + nb) * h].to_vec())
    }
}

/// The outputs being filled: Y (`[seq, dirs, batch, h]`, empty when unread), Y_h and Y_c
/// (`[dirs, batch, h]`).
struct Outs {
    y: Vec<f32>,
    yh: Vec<f32>,
    yc: Vec<f32>,
    dirs: usize,
}

impl Outs {
    /// Hidden rows of group rows `b0..` at step `t` (row stride `stride`, starting at `off`) into Y.
    fn step(&mut self, s: &Step, t: usize, b0: usize, hs: &[f32], stride: usize, off: usize) {
        if self.y.is_empty() {
            return;
        }
        let h = s.h;
        for (bi, row) in hs.chunks(stride).enumerate() {
            let dst = ((t * self.dirs + s.d) * s.batch + b0 + bi) * h;
            self.y[dst..dst + h].copy_from_slice(&row[off..off + h]);
        }
    }
    /// The last hidden (and cell) rows of a group.
    fn last(&mut self, s: &Step, b0: usize, hs: &[f32], stride: usize, off: usize, cs: Option<&[f32]>) {
        let h = s.h;
        for (bi, row) in hs.chunks(stride).enumerate() {
            let dst = (s.d * s.batch + b0 + bi) * h;
            self.yh[dst..dst + h].copy_from_slice(&row[off..off + h]);
            if let Some(c) = cs {
                self.yc[dst..dst + h].copy_from_slice(&c[bi * h..(bi + 1) * h]);
            }
        }
    }
}

/// The default LSTM cell over `gates` (rows of i, o, f, c pre-activations, biases not yet
/// added): the cell state `cs` and hidden state `hs` in place. Simple loops the compiler vectorises: one pass per activation, where a single
/// loop computing all five per element ran ~8x slower natively.
#[inline(always)]
fn plain_cell_body(gates: &mut [f32], bias: &[f32], cs: &mut [f32], hs: &mut [f32], h: usize) {
    use super::fastmath::{sigmoid, tanh};
    let (biof, bg) = bias.split_at(3 * h);
    for ((g, c), hrow) in gates.chunks_exact_mut(4 * h).zip(cs.chunks_exact_mut(h)).zip(hs.chunks_exact_mut(h)) {
        let (iof, g) = g.split_at_mut(3 * h);
        for (v, b) in iof.iter_mut().zip(biof) {
            *v = sigmoid(*v + b);
        }
        for (v, b) in g.iter_mut().zip(bg) {
            *v = tanh(*v + b);
        }
        let (xi, xo, xf) = (&iof[..h], &iof[h..2 * h], &iof[2 * h..3 * h]);
        let (g, c, hrow) = (&g[..h], &mut c[..h], &mut hrow[..h]);
        for j in 0..h {
            let cc = xf[j] * c[j] + xi[j] * g[j];
            c[j] = cc;
            hrow[j] = xo[j] * tanh(cc);
        }
    }
}

/// [`plain_cell_body`] built for the widest vectors this CPU has: the crate is compiled for
/// baseline x86_64 (SSE2), where these loops ran ~3x slower than with AVX-512.
fn plain_cell(gates: &mut [f32], bias: &[f32], cs: &mut [f32], hs: &mut [f32], h: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(g: &mut [f32], b: &[f32], c: &mut [f32], hs: &mut [f32], h: usize) {
            plain_cell_body(g, b, c, hs, h)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(g: &mut [f32], b: &[f32], c: &mut [f32], hs: &mut [f32], h: usize) {
            plain_cell_body(g, b, c, hs, h)
        }
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(gates, bias, cs, hs, h) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { avx2(gates, bias, cs, hs, h) };
        }
    }
    plain_cell_body(gates, bias, cs, hs, h)
}

impl Cell {
    fn run(&self, ins: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (xt, _) = input_f32(ins, 0)?;
        let x = if self.layout == 1 {
            std::borrow::Cow::Owned(transpose(xt, &[1, 0, 2])?)
        } else {
            std::borrow::Cow::Borrowed(xt)
        };
        let xv = x.as_f32("X")?;
        let (wt, w) = input_f32(ins, 1)?;
        let (rt, r) = input_f32(ins, 2)?;
        if x.rank() != 3 || wt.rank() != 3 {
            return Err(bad("X must be [seq, batch, input] and W [dirs, gates*hidden, input]"));
        }
        let (seq, batch, isz) = (x.shape[0], x.shape[1], x.shape[2]);
        let gates = if self.lstm { 4 } else { 3 };
        let h = if self.hidden > 0 { self.hidden } else { wt.shape[1] / gates };
        let gh = gates * h;
        if wt.shape != [self.dirs, gh, isz] {
            return Err(bad(format!("W has shape {:?}, expected {:?}", wt.shape, [self.dirs, gh, isz])));
        }
        if rt.shape != [self.dirs, gh, h] {
            return Err(bad(format!("R has shape {:?}, expected {:?}", rt.shape, [self.dirs, gh, h])));
        }
        let opt = |i: usize, len: usize, name: &str| -> Result<Option<Vec<f32>>> {
            match ins.get(i).copied().flatten() {
                Some(t) if t.len() < len => Err(bad(format!("{name} has {} values, expected {len}", t.len()))),
                Some(t) => Ok(Some(t.to_f32_vec())),
                None => Ok(None),
            }
        };
        let dirs = self.dirs;
        let bias = opt(3, dirs * 2 * gh, "B")?;
        let lens: Option<Vec<usize>> = match ins.get(4).copied().flatten() {
            Some(t) if t.len() != batch => {
                return Err(bad(format!("sequence_lens has {} values, expected {batch}", t.len())))
            }
            Some(t) => Some(t.to_i64_vec().iter().map(|&v| v.clamp(0, seq as i64) as usize).collect()),
            None => None,
        };
        let h0 = opt(5, dirs * batch * h, "initial_h")?;
        let (c0, peep) =
            if self.lstm { (opt(6, dirs * batch * h, "initial_c")?, opt(7, dirs * 3 * h, "P")?) } else { (None, None) };
        let mut outs = Outs {
            y: vec![0f32; if self.want_y { seq * dirs * batch * h } else { 0 }],
            yh: vec![0f32; dirs * batch * h],
            yc: vec![0f32; if self.lstm { dirs * batch * h } else { 0 }],
            dirs,
        };
        let kern = super::best();
        for d in 0..dirs {
            let step = Step {
                d,
                seq,
                batch,
                isz,
                h,
                x: xv,
                bias: bias.as_deref(),
                lens: lens.as_deref(),
                h0: h0.as_deref(),
                c0: c0.as_deref(),
                peep: peep.as_deref(),
            };
            let (wd, rd) = (&w[d * gh * isz..(d + 1) * gh * isz], &r[d * gh * h..(d + 1) * gh * h]);
            // Weights packed at load time, or now (R^T is read every time step: once per direction).
            let fresh;
            let (w_op, r_packed) = match self.packed.as_ref().and_then(|p| p.get(d)) {
                Some((pw, pr)) if pw.rows() == isz && pr.rows() == h && pr.cols() == gh => (Operand::Packed(pw), pr),
                _ => {
                    fresh = gemm::pack_right(kern, MatRef::transposed(rd, h), h, gh);
                    (Operand::Strided(MatRef::transposed(wd, isz)), &fresh)
                }
            };
            if self.lstm {
                self.lstm_direction(&step, w_op, r_packed, &mut outs);
            } else {
                self.gru_direction(&step, w_op, r_packed, rd, &mut outs);
            }
        }
        let Outs { y, yh, yc, .. } = outs;
        // An unread Y is an empty placeholder (the executor drops outputs nobody reads).
        let y_shape = if self.want_y { vec![seq, dirs, batch, h] } else { vec![0] };
        let mut yt = Tensor::f32(y_shape, y);
        let mut yht = Tensor::f32(vec![dirs, batch, h], yh);
        if self.layout == 1 {
            if self.want_y {
                yt = transpose(&yt, &[2, 0, 1, 3])?;
            }
            yht = transpose(&yht, &[1, 0, 2])?;
        }
        if !self.lstm {
            return Ok(vec![yt, yht]);
        }
        let mut yct = Tensor::f32(vec![dirs, batch, h], yc);
        if self.layout == 1 {
            yct = transpose(&yct, &[1, 0, 2])?;
        }
        Ok(vec![yt, yht, yct])
    }

    /// One LSTM direction, in chunks of steps whose input projections (one GEMM per chunk)
    /// fit in cache; per step, the recurrent product accumulates into that step's rows, then
    /// the cell. A single-sequence chunk is every step (the weights of the input projection are
    /// read once, not once per step); at batch 256 a chunk is one step.
    fn lstm_direction(&self, s: &Step, w_op: Operand, r_packed: &gemm::Packed, outs: &mut Outs) {
        let (d, isz, h) = (s.d, s.isz, s.h);
        let gh = 4 * h;
        let kern = super::best();
        // Wb + Rb, added in the gate pass.
        let bias: Vec<f32> = s.bias.map_or(vec![0.0; gh], |b| {
            let b = &b[d * 2 * gh..(d + 1) * 2 * gh];
            b[..gh].iter().zip(&b[gh..]).map(|(w, r)| w + r).collect()
        });
        let reverse = self.reverse_only || d == 1;
        let acts = &self.acts[d * 3..(d + 1) * 3];
        let pd = s.peep.map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
        let cl = |v: f32| self.clip.map_or(v, |c| v.clamp(-c, c));
        for (b0, nb, len) in s.groups() {
            let mut hs = s.initial(s.h0, b0, nb);
            let mut cs = s.initial(s.c0, b0, nb);
            // Steps per chunk: about 256 KB of projections.
            let chunk = (self.chunk_floats / (nb * gh)).clamp(1, len.max(1));
            let mut xp = vec![0f32; chunk * nb * gh];
            // A group is the whole batch (its rows of a step are consecutive) or one sequence.
            let row_stride = if nb == s.batch { isz } else { s.batch * isz };
            for c0 in (0..len).step_by(chunk) {
                let steps = chunk.min(len - c0);
                // The chunk's steps in time order: t0..t0+steps.
                let t0 = if reverse { len - c0 - steps } else { c0 };
                let x = MatRef { data: &s.x[(t0 * s.batch + b0) * isz..], rs: row_stride, cs: 1 };
                let xp = &mut xp[..steps * nb * gh];
                gemm::sgemm(kern, steps * nb, gh, isz, 1.0, Operand::Strided(x), w_op, xp, gh, false);
                for i in 0..steps {
                    let t = if reverse { t0 + steps - 1 - i } else { t0 + i };
                    let g = &mut xp[(t - t0) * nb * gh..(t - t0 + 1) * nb * gh];
                    let a = Operand::Strided(MatRef::row_major(&hs, h));
                    gemm::sgemm(kern, nb, gh, h, 1.0, a, Operand::Packed(r_packed), g, gh, true);
                    if self.plain {
                        plain_cell(g, &bias, &mut cs, &mut hs, h);
                    } else {
                        for ((x, c), hrow) in g.chunks_exact(gh).zip(cs.chunks_exact_mut(h)).zip(hs.chunks_exact_mut(h))
                        {
                            let x: Vec<f32> = x.iter().zip(&bias).map(|(v, b)| v + b).collect();
                            for j in 0..h {
                                let cprev = c[j];
                                let pi = pd.map_or(0.0, |p| p[j] * cprev);
                                let pf = pd.map_or(0.0, |p| p[2 * h + j] * cprev);
                                let i = (acts[0])(cl(x[j] + pi));
                                let f = if self.input_forget { 1.0 - i } else { (acts[0])(cl(x[2 * h + j] + pf)) };
                                let gg = (acts[1])(cl(x[3 * h + j]));
                                let cc = f * cprev + i * gg;
                                let po = pd.map_or(0.0, |p| p[h + j] * cc);
                                let o = (acts[0])(cl(x[h + j] + po));
                                c[j] = cc;
                                hrow[j] = o * (acts[2])(cc);
                            }
                        }
                    }
                    outs.step(s, t, b0, &hs, h, 0);
                }
            }
            outs.last(s, b0, &hs, h, 0, Some(&cs));
        }
    }

    /// One GRU direction: the input projection of every step in one GEMM, then per step the
    /// recurrent GEMM and the gates (z, r, h).
    fn gru_direction(&self, s: &Step, w_op: Operand, r_packed: &gemm::Packed, rd: &[f32], outs: &mut Outs) {
        let (d, seq, batch, isz, h) = (s.d, s.seq, s.batch, s.isz, s.h);
        let gh = 3 * h;
        let kern = super::best();
        // [seq*batch, gh] = X · W^T + Wb.
        let mut xp = vec![0f32; seq * batch * gh];
        if let Some(b) = s.bias {
            for row in xp.chunks_mut(gh) {
                row.copy_from_slice(&b[d * 2 * gh..d * 2 * gh + gh]);
            }
        }
        let a = Operand::Strided(MatRef::row_major(s.x, isz));
        gemm::sgemm(kern, seq * batch, gh, isz, 1.0, a, w_op, &mut xp, gh, true);
        let rb: Vec<f32> = s.bias.map_or(vec![0.0; gh], |b| b[d * 2 * gh + gh..(d + 1) * 2 * gh].to_vec());
        let reverse = self.reverse_only || d == 1;
        let acts = &self.acts[d * 2..(d + 1) * 2];
        let cl = |v: f32| self.clip.map_or(v, |c| v.clamp(-c, c));
        // Without linear_before_reset the candidate's recurrent part is (r ⊙ H_prev) · R_h^T: one
        // GEMM over the step's rows once r is known (it was a scalar dot product per value).
        let rh_packed = (!self.linear_before_reset)
            .then(|| gemm::pack_right(kern, MatRef::transposed(&rd[2 * h * h..3 * h * h], h), h, h));
        for (b0, nb, len) in s.groups() {
            let mut hs = s.initial(s.h0, b0, nb);
            let mut hr = vec![0f32; nb * gh];
            // z; r (r ⊙ H_prev without linear_before_reset); (r ⊙ H_prev) · R_h^T.
            let (mut z, mut rr, mut cand) = (vec![0f32; nb * h], vec![0f32; nb * h], vec![0f32; nb * h]);
            for st in 0..len {
                let t = if reverse { len - 1 - st } else { st };
                let rows = (t * batch + b0) * gh..(t * batch + b0 + nb) * gh;
                for row in hr.chunks_mut(gh) {
                    row.copy_from_slice(&rb);
                }
                let hmat = Operand::Strided(MatRef::row_major(&hs, h));
                gemm::sgemm(kern, nb, gh, h, 1.0, hmat, Operand::Packed(r_packed), &mut hr, gh, true);
                for bi in 0..nb {
                    let (xrow, hrow) = (&xp[rows.start + bi * gh..][..gh], &hr[bi * gh..][..gh]);
                    for j in 0..h {
                        let i = bi * h + j;
                        z[i] = (acts[0])(cl(xrow[j] + hrow[j]));
                        let r = (acts[0])(cl(xrow[h + j] + hrow[h + j]));
                        rr[i] = if self.linear_before_reset { r } else { r * hs[i] };
                    }
                }
                if let Some(p) = &rh_packed {
                    let a = Operand::Strided(MatRef::row_major(&rr, h));
                    gemm::sgemm(kern, nb, h, h, 1.0, a, Operand::Packed(p), &mut cand, h, false);
                }
                for bi in 0..nb {
                    let (xrow, hrow) = (&xp[rows.start + bi * gh..][..gh], &hr[bi * gh..][..gh]);
                    for j in 0..h {
                        let i = bi * h + j;
                        // linear_before_reset: r ⊙ (H_prev · R_h^T + Rb_h); else the GEMM's + Rb_h.
                        let rec =
                            if self.linear_before_reset { rr[i] * hrow[2 * h + j] } else { cand[i] + rb[2 * h + j] };
                        let hh = (acts[1])(cl(xrow[2 * h + j] + rec));
                        hs[i] = (1.0 - z[i]) * hh + z[i] * hs[i];
                    }
                }
                outs.step(s, t, b0, &hs, h, 0);
            }
            outs.last(s, b0, &hs, h, 0, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX LSTM equations in f64 (default activations; gates i, o, f, c): Y `[seq, dirs,
    /// batch, h]` and Y_c, with each sequence run for its own length.
    #[allow(clippy::too_many_arguments)]
    fn reference(x: &[f32], w: &[f32], r: &[f32], b: &[f32], dims: [usize; 5], lens: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let [seq, batch, isz, h, dirs] = dims;
        let gh = 4 * h;
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut y = vec![0f64; seq * dirs * batch * h];
        let mut yc = vec![0f64; dirs * batch * h];
        for d in 0..dirs {
            for bi in 0..batch {
                let (mut hs, mut cs) = (vec![0f64; h], vec![0f64; h]);
                for st in 0..lens[bi] {
                    let t = if d == 1 { lens[bi] - 1 - st } else { st };
                    let xt = &x[(t * batch + bi) * isz..][..isz];
                    let pre: Vec<f64> = (0..gh)
                        .map(|j| {
                            let wj = &w[(d * gh + j) * isz..][..isz];
                            let rj = &r[(d * gh + j) * h..][..h];
                            let s: f64 = xt.iter().zip(wj).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>()
                                + hs.iter().zip(rj).map(|(a, b)| a * f64::from(*b)).sum::<f64>();
                            s + f64::from(b[d * 2 * gh + j]) + f64::from(b[d * 2 * gh + gh + j])
                        })
                        .collect();
                    for j in 0..h {
                        let (i, o, f, g) = (sig(pre[j]), sig(pre[h + j]), sig(pre[2 * h + j]), pre[3 * h + j].tanh());
                        cs[j] = f * cs[j] + i * g;
                        hs[j] = o * cs[j].tanh();
                    }
                    y[((t * dirs + d) * batch + bi) * h..][..h].copy_from_slice(&hs);
                }
                yc[(d * batch + bi) * h..][..h].copy_from_slice(&cs);
            }
        }
        (y, yc)
    }

    fn lstm(dirs: usize, h: usize, plain: bool, chunk_floats: usize) -> Cell {
        let names = ["Sigmoid", "Tanh", "Tanh"];
        Cell {
            lstm: true,
            hidden: h,
            dirs,
            reverse_only: false,
            clip: None,
            acts: (0..3 * dirs).map(|i| activation(names[i % 3], None, None).expect("activation")).collect(),
            linear_before_reset: false,
            input_forget: false,
            layout: 0,
            plain,
            packed: None,
            want_y: true,
            chunk_floats,
        }
    }

    /// Chunks of one step and of several (forward and reverse, whole batch and per-sequence
    /// groups), the vectorised cell and the general one all give the equations' values.
    #[test]
    fn lstm_chunks_match_the_equations() {
        let (seq, batch, isz, h, dirs) = (7, 5, 3, 4, 2);
        let val = |i: usize, s: f32| ((i as f32 * 0.618).fract() - 0.5) * s;
        let x: Vec<f32> = (0..seq * batch * isz).map(|i| val(i, 2.0)).collect();
        let w: Vec<f32> = (0..dirs * 4 * h * isz).map(|i| val(i + 7, 1.0)).collect();
        let r: Vec<f32> = (0..dirs * 4 * h * h).map(|i| val(i + 11, 1.0)).collect();
        let b: Vec<f32> = (0..dirs * 8 * h).map(|i| val(i + 13, 0.5)).collect();
        let t = |shape: Vec<usize>, v: &[f32]| Tensor::f32(shape, v.to_vec());
        let (xt, wt, rt, bt) = (
            t(vec![seq, batch, isz], &x),
            t(vec![dirs, 4 * h, isz], &w),
            t(vec![dirs, 4 * h, h], &r),
            t(vec![dirs, 8 * h], &b),
        );
        for lens in [vec![seq; batch], vec![7, 3, 0, 5, 6]] {
            let lt = Tensor::i64(vec![batch], lens.iter().map(|&v| v as i64).collect());
            let (y, yc) = reference(&x, &w, &r, &b, [seq, batch, isz, h, dirs], &lens);
            // 16 floats per row of gates: chunks of 1 step (whole batch) and 2 (one sequence).
            for (plain, chunk) in [(true, 40), (false, 40), (true, CHUNK_FLOATS)] {
                let ins = [Some(&xt), Some(&wt), Some(&rt), Some(&bt), Some(&lt)];
                let out = lstm(dirs, h, plain, chunk).run(&ins).expect("run");
                for (got, want) in [(&out[0], &y), (&out[2], &yc)] {
                    let got = got.as_f32("out").expect("f32");
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(want.iter()) {
                        assert!(
                            (f64::from(*g) - w).abs() < 1e-5,
                            "plain {plain} chunk {chunk} lens {lens:?}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
