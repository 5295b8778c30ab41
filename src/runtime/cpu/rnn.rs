//! LSTM and GRU. The input projection of every time step is one GEMM; the recurrence does a
//! small GEMM per step over the whole batch (or per sequence when `sequence_lens` differ).

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
        let (_, r) = input_f32(ins, 2)?;
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
        let opt = |i: usize| ins.get(i).copied().flatten().map(|t| t.to_f32_vec());
        let bias = opt(3);
        let lens: Option<Vec<usize>> = ins
            .get(4)
            .copied()
            .flatten()
            .map(|t| t.to_i64_vec().iter().map(|&v| v.clamp(0, seq as i64) as usize).collect());
        let h0 = opt(5);
        let (c0, peep) = if self.lstm { (opt(6), opt(7)) } else { (None, None) };
        let mut y = vec![0f32; if self.want_y { seq * self.dirs * batch * h } else { 0 }];
        let mut yh = vec![0f32; self.dirs * batch * h];
        let mut yc = vec![0f32; self.dirs * batch * h];
        let kern = super::best();
        for d in 0..self.dirs {
            let wd = &w[d * gh * isz..(d + 1) * gh * isz];
            let rd = &r[d * gh * h..(d + 1) * gh * h];
            // Input projection for all steps: [seq*batch, gh] = X · W^T + Wb.
            // An LSTM adds Rb here too and accumulates each step's recurrent product into that
            // step's rows of xp (GRU keeps them apart: its reset gate scales the recurrent part).
            let mut xp = vec![0f32; seq * batch * gh];
            if let Some(b) = &bias {
                let mut wb = b[d * 2 * gh..d * 2 * gh + gh].to_vec();
                if self.lstm {
                    for (w, r) in wb.iter_mut().zip(&b[d * 2 * gh + gh..(d + 1) * 2 * gh]) {
                        *w += r;
                    }
                }
                for row in xp.chunks_mut(gh) {
                    row.copy_from_slice(&wb);
                }
            }
            // Weights packed at load time, or now (R^T is read every time step: once per direction).
            let fresh;
            let (w_op, r_packed) = match self.packed.as_ref().and_then(|p| p.get(d)) {
                Some((pw, pr)) if pw.rows() == isz && pr.rows() == h && pr.cols() == gh => (Operand::Packed(pw), pr),
                _ => {
                    fresh = gemm::pack_right(kern, MatRef::transposed(rd, h), h, gh);
                    (Operand::Strided(MatRef::transposed(wd, isz)), &fresh)
                }
            };
            gemm::sgemm(
                kern,
                seq * batch,
                gh,
                isz,
                1.0,
                Operand::Strided(MatRef::row_major(xv, isz)),
                w_op,
                &mut xp,
                gh,
                true,
            );
            let rb: Vec<f32> = bias.as_ref().map_or(vec![0.0; gh], |b| b[d * 2 * gh + gh..(d + 1) * 2 * gh].to_vec());
            let reverse = self.reverse_only || d == 1;
            let per = if self.lstm { 3 } else { 2 };
            let acts = &self.acts[d * per..(d + 1) * per];
            let pd = peep.as_ref().map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
            let uniform = lens.as_ref().is_none_or(|l| l.iter().all(|&v| v == seq));
            let groups: Vec<(usize, usize, usize)> = if uniform {
                vec![(0, batch, seq)]
            } else {
                (0..batch).map(|b| (b, 1, lens.as_ref().map_or(seq, |l| l[b]))).collect()
            };
            for (b0, nb, len) in groups {
                let mut hs = vec![0f32; nb * h];
                let mut cs = vec![0f32; nb * h];
                if let Some(v) = &h0 {
                    hs.copy_from_slice(&v[(d * batch + b0) * h..(d * batch + b0 + nb) * h]);
                }
                if let Some(v) = &c0 {
                    cs.copy_from_slice(&v[(d * batch + b0) * h..(d * batch + b0 + nb) * h]);
                }
                let mut hr = vec![0f32; if self.lstm { 0 } else { nb * gh }];
                for step in 0..len {
                    let t = if reverse { len - 1 - step } else { step };
                    // The group's rows of step t: nb consecutive rows of xp.
                    let rows = (t * batch + b0) * gh..(t * batch + b0 + nb) * gh;
                    let hmat = Operand::Strided(MatRef::row_major(&hs, h));
                    if self.lstm {
                        gemm::sgemm(
                            kern,
                            nb,
                            gh,
                            h,
                            1.0,
                            hmat,
                            Operand::Packed(r_packed),
                            &mut xp[rows.clone()],
                            gh,
                            true,
                        );
                    } else {
                        for row in hr.chunks_mut(gh) {
                            row.copy_from_slice(&rb);
                        }
                        gemm::sgemm(kern, nb, gh, h, 1.0, hmat, Operand::Packed(r_packed), &mut hr, gh, true);
                    }
                    for bi in 0..nb {
                        let xrow = &mut xp[rows.start + bi * gh..][..gh];
                        // LSTM: xrow already holds the recurrent product and both biases.
                        let hrow: &[f32] = if self.lstm { &[] } else { &hr[bi * gh..][..gh] };
                        let cl = |v: f32| self.clip.map_or(v, |c| v.clamp(-c, c));
                        if self.lstm && self.plain {
                            // Default activations, no clip, peepholes or coupled gates.
                            // One simple pass per activation (gates i, o, f are contiguous, then
                            // c): loops the compiler vectorises, where a single loop computing
                            // all five per element ran ~8x slower natively.
                            use super::fastmath::{sigmoid, tanh};
                            let (iof, g) = xrow.split_at_mut(3 * h);
                            for v in iof.iter_mut() {
                                *v = sigmoid(*v);
                            }
                            for v in g.iter_mut() {
                                *v = tanh(*v);
                            }
                            let (xi, xo, xf) = (&iof[..h], &iof[h..2 * h], &iof[2 * h..]);
                            let (cs, hs) = (&mut cs[bi * h..(bi + 1) * h], &mut hs[bi * h..(bi + 1) * h]);
                            for j in 0..h {
                                let c = xf[j] * cs[j] + xi[j] * g[j];
                                cs[j] = c;
                                hs[j] = xo[j] * tanh(c);
                            }
                        } else if self.lstm {
                            for j in 0..h {
                                let cprev = cs[bi * h + j];
                                let pi = pd.map_or(0.0, |p| p[j] * cprev);
                                let pf = pd.map_or(0.0, |p| p[2 * h + j] * cprev);
                                let i = (acts[0])(cl(xrow[j] + pi));
                                let f = if self.input_forget { 1.0 - i } else { (acts[0])(cl(xrow[2 * h + j] + pf)) };
                                let g = (acts[1])(cl(xrow[3 * h + j]));
                                let c = f * cprev + i * g;
                                let po = pd.map_or(0.0, |p| p[h + j] * c);
                                let o = (acts[0])(cl(xrow[h + j] + po));
                                cs[bi * h + j] = c;
                                hs[bi * h + j] = o * (acts[2])(c);
                            }
                        } else {
                            let hprev = hs[bi * h..(bi + 1) * h].to_vec();
                            let z: Vec<f32> = (0..h).map(|j| (acts[0])(cl(xrow[j] + hrow[j]))).collect();
                            let rr: Vec<f32> = (0..h).map(|j| (acts[0])(cl(xrow[h + j] + hrow[h + j]))).collect();
                            let rh: Vec<f32> = rr.iter().zip(&hprev).map(|(a, b)| a * b).collect();
                            for j in 0..h {
                                let hh = if self.linear_before_reset {
                                    (acts[1])(cl(xrow[2 * h + j] + rr[j] * hrow[2 * h + j]))
                                } else {
                                    // (r ⊙ H_prev) · R_h^T + Rb_h
                                    let row = &rd[(2 * h + j) * h..(2 * h + j + 1) * h];
                                    let s: f32 = rh.iter().zip(row).map(|(a, b)| a * b).sum();
                                    (acts[1])(cl(xrow[2 * h + j] + s + rb[2 * h + j]))
                                };
                                hs[bi * h + j] = (1.0 - z[j]) * hh + z[j] * hprev[j];
                            }
                        }
                    }
                    for bi in (0..nb).filter(|_| self.want_y) {
                        let dst = ((t * self.dirs + d) * batch + b0 + bi) * h;
                        y[dst..dst + h].copy_from_slice(&hs[bi * h..(bi + 1) * h]);
                    }
                }
                for bi in 0..nb {
                    let dst = (d * batch + b0 + bi) * h;
                    yh[dst..dst + h].copy_from_slice(&hs[bi * h..(bi + 1) * h]);
                    yc[dst..dst + h].copy_from_slice(&cs[bi * h..(bi + 1) * h]);
                }
            }
        }
        // An unread Y is an empty placeholder (the executor drops outputs nobody reads).
        let y_shape = if self.want_y { vec![seq, self.dirs, batch, h] } else { vec![0] };
        let mut yt = Tensor::f32(y_shape, y);
        let mut yht = Tensor::f32(vec![self.dirs, batch, h], yh);
        let mut yct = Tensor::f32(vec![self.dirs, batch, h], yc);
        if self.layout == 1 {
            if self.want_y {
                yt = transpose(&yt, &[2, 0, 1, 3])?;
            }
            yht = transpose(&yht, &[1, 0, 2])?;
            yct = transpose(&yct, &[1, 0, 2])?;
        }
        Ok(if self.lstm { vec![yt, yht, yct] } else { vec![yt, yht] })
    }
}
