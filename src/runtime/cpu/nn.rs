//! Arithmetic-heavy ops: dense layers, convolutions, pooling, normalisation, softmax and
//! reductions. Constant weights are packed for the GEMM kernel when the node is compiled.

use super::conv::{self, lift, ConvWeights, Geometry};
use super::gemm::{self, MatRef, Operand, Packed};
use super::ops::{bad, input, input_f32, kernel};
use super::pool::{self, PoolKind};
use crate::error::Result;
use crate::model::Node;
use crate::runtime::executor::{BufferPool, CompileCtx, Kernel};
use crate::runtime::tensor::{norm_axis, numel, Data, Tensor};
use std::sync::Arc;

pub fn compile(node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
    Ok(match node.op_type.as_str() {
        "Gemm" => gemm_op(node, ctx)?,
        "MatMul" => matmul_op(node, ctx)?,
        "Conv" => conv_op(node, ctx)?,
        "ConvTranspose" => conv_transpose_op(node)?,
        "MaxPool" | "AveragePool" | "LpPool" => pool_op(node)?,
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let max = node.op_type == "GlobalMaxPool";
            kernel(move |ins, pool| {
                let (t, x) = input_f32(ins, 0)?;
                if t.rank() < 3 {
                    return Err(bad("global pooling expects N x C x spatial..."));
                }
                let planes = t.shape[0] * t.shape[1];
                let sz = numel(&t.shape[2..]).max(1);
                let mut out = pool.take(planes);
                for p in x.chunks(sz) {
                    out.push(if max {
                        p.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                    } else {
                        p.iter().sum::<f32>() / sz as f32
                    });
                }
                let mut shape = t.shape[..2].to_vec();
                shape.extend(std::iter::repeat_n(1, t.rank() - 2));
                Ok(vec![Tensor::f32(shape, out)])
            })
        }
        "BatchNormalization" => {
            if node.attr_int("training_mode", 0)? != 0 || node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                return Err(bad(
                    "BatchNormalization in training mode is not supported (export the model in eval mode)",
                ));
            }
            let eps = node.attr_float("epsilon", 1e-5)?;
            kernel(move |ins, pool| {
                let (t, x) = input_f32(ins, 0)?;
                let (scale, bias, mean, var) =
                    (input_f32(ins, 1)?.1, input_f32(ins, 2)?.1, input_f32(ins, 3)?.1, input_f32(ins, 4)?.1);
                let c = if t.rank() > 1 { t.shape[1] } else { 1 };
                if [scale.len(), bias.len(), mean.len(), var.len()].iter().any(|&l| l != c) {
                    return Err(bad(format!("BatchNormalization: parameters must have {c} values (one per channel)")));
                }
                let a: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
                let b: Vec<f32> = (0..c).map(|i| bias[i] - mean[i] * a[i]).collect();
                Ok(vec![Tensor::f32(t.shape.clone(), channel_affine(x, &t.shape, &a, &b, pool))])
            })
        }
        "InstanceNormalization" => {
            let eps = node.attr_float("epsilon", 1e-5)?;
            kernel(move |ins, pool| {
                let (t, x) = input_f32(ins, 0)?;
                let (scale, bias) = (input_f32(ins, 1)?.1, input_f32(ins, 2)?.1);
                let c = t.shape.get(1).copied().unwrap_or(1);
                let sz = numel(&t.shape[2.min(t.rank())..]).max(1);
                let mut out = pool.take(x.len());
                for (p, plane) in x.chunks(sz).enumerate() {
                    let ch = p % c;
                    let (m, v) = mean_var(plane);
                    let inv = 1.0 / (v + eps).sqrt();
                    out.extend(plane.iter().map(|&y| (y - m) * inv * scale[ch] + bias[ch]));
                }
                Ok(vec![Tensor::f32(t.shape.clone(), out)])
            })
        }
        "LayerNormalization" => {
            let (axis, eps) = (node.attr_int("axis", -1)?, node.attr_float("epsilon", 1e-5)?);
            kernel(move |ins, pool| {
                let (t, x) = input_f32(ins, 0)?;
                let a = norm_axis(axis, t.rank(), "LayerNormalization")?;
                let inner = numel(&t.shape[a..]).max(1);
                let scale = input_f32(ins, 1)?.1;
                let bias = ins.get(2).copied().flatten().map(|b| b.to_f32_vec());
                let outer = x.len() / inner;
                let (mut means, mut invs) = (Vec::with_capacity(outer), Vec::with_capacity(outer));
                let mut out = pool.take(x.len());
                for row in x.chunks(inner) {
                    let (m, v) = mean_var(row);
                    let inv = 1.0 / (v + eps).sqrt();
                    means.push(m);
                    invs.push(inv);
                    for (i, &y) in row.iter().enumerate() {
                        let s = scale[i % scale.len().max(1)];
                        let b = bias.as_ref().map_or(0.0, |b| b[i % b.len().max(1)]);
                        out.push((y - m) * inv * s + b);
                    }
                }
                let mut stat_shape = t.shape[..a].to_vec();
                stat_shape.extend(std::iter::repeat_n(1, t.rank() - a));
                Ok(vec![
                    Tensor::f32(t.shape.clone(), out),
                    Tensor::f32(stat_shape.clone(), means),
                    Tensor::f32(stat_shape, invs),
                ])
            })
        }
        "Softmax" | "LogSoftmax" | "Hardmax" => {
            let legacy = ctx.opset < 13;
            let axis = node.attr_int("axis", if legacy { 1 } else { -1 })?;
            let log = node.op_type == "LogSoftmax";
            let hard = node.op_type == "Hardmax";
            kernel(move |ins, pool| {
                let (t, x) = input_f32(ins, 0)?;
                let a = norm_axis(axis, t.rank(), "Softmax")?;
                let mut out = pool.take(x.len());
                out.extend_from_slice(x);
                if legacy {
                    let inner = numel(&t.shape[a..]).max(1);
                    for row in out.chunks_mut(inner) {
                        if hard {
                            hardmax_strided(row, inner, 1);
                        } else {
                            softmax_strided(row, inner, 1, log);
                        }
                    }
                } else {
                    let (n, inner) = (t.shape[a], numel(&t.shape[a + 1..]));
                    let outer = numel(&t.shape[..a]);
                    for o in 0..outer {
                        for i in 0..inner {
                            if hard {
                                hardmax_strided(&mut out[o * n * inner + i..], n, inner);
                            } else {
                                softmax_strided(&mut out[o * n * inner + i..], n, inner, log);
                            }
                        }
                    }
                }
                Ok(vec![Tensor::f32(t.shape.clone(), out)])
            })
        }
        op if op.starts_with("Reduce") => reduce_op(node, ctx.opset)?,
        "ArgMax" | "ArgMin" => {
            let (axis, keep, last) = (
                node.attr_int("axis", 0)?,
                node.attr_int("keepdims", 1)? != 0,
                node.attr_int("select_last_index", 0)? != 0,
            );
            let max = node.op_type == "ArgMax";
            kernel(move |ins, _| {
                let t = input(ins, 0)?;
                let x = t.to_f32_vec();
                let a = norm_axis(axis, t.rank(), "ArgMax")?;
                let (outer, n, inner) = (numel(&t.shape[..a]), t.shape[a], numel(&t.shape[a + 1..]));
                let mut out = Vec::with_capacity(outer * inner);
                for o in 0..outer {
                    for i in 0..inner {
                        let mut best = 0usize;
                        for k in 1..n {
                            let (v, b) = (x[(o * n + k) * inner + i], x[(o * n + best) * inner + i]);
                            let better = if max { v > b || (last && v == b) } else { v < b || (last && v == b) };
                            if better {
                                best = k;
                            }
                        }
                        out.push(best as i64);
                    }
                }
                let mut shape = t.shape.clone();
                if keep {
                    shape[a] = 1;
                } else {
                    shape.remove(a);
                }
                Ok(vec![Tensor::i64(shape, out)])
            })
        }
        _ => None,
    })
}

/// y = a[c] * x + b[c] over axis 1 of an N x C x ... tensor.
/// An `n x cout x osz` output buffer starting at the per-channel bias (Conv / ConvTranspose
/// input B), or at zero without one; the kernels accumulate into it.
fn bias_filled(pool: &mut BufferPool, bias: Option<&Tensor>, n: usize, cout: usize, osz: usize) -> Result<Vec<f32>> {
    let mut y = pool.take(n * cout * osz);
    match bias {
        Some(b) => {
            let b = b.as_f32("B")?;
            for _ in 0..n {
                for &bv in b.iter().take(cout) {
                    y.extend(std::iter::repeat_n(bv, osz));
                }
            }
        }
        None => y.resize(n * cout * osz, 0.0),
    }
    Ok(y)
}

fn channel_affine(x: &[f32], shape: &[usize], a: &[f32], b: &[f32], pool: &mut BufferPool) -> Vec<f32> {
    let c = a.len();
    let inner = numel(&shape[2.min(shape.len())..]).max(1);
    let mut out = pool.take(x.len());
    for (p, plane) in x.chunks(inner).enumerate() {
        let ch = p % c;
        out.extend(plane.iter().map(|&v| a[ch] * v + b[ch]));
    }
    out
}

fn mean_var(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
    (m as f32, var as f32)
}

/// In-place softmax of `n` values spaced `stride` apart.
fn hardmax_strided(v: &mut [f32], n: usize, stride: usize) {
    let mut best = 0;
    for k in 1..n {
        if v[k * stride] > v[best * stride] {
            best = k;
        }
    }
    for k in 0..n {
        v[k * stride] = if k == best { 1.0 } else { 0.0 };
    }
}

pub fn softmax_strided(v: &mut [f32], n: usize, stride: usize, log: bool) {
    let mut max = f32::NEG_INFINITY;
    for k in 0..n {
        max = max.max(v[k * stride]);
    }
    let mut sum = 0f32;
    for k in 0..n {
        let e = (v[k * stride] - max).exp();
        sum += e;
        if !log {
            v[k * stride] = e;
        }
    }
    let ls = sum.ln();
    for k in 0..n {
        let x = &mut v[k * stride];
        *x = if log { *x - max - ls } else { *x / sum };
    }
}

fn pack_if_const(ctx: &CompileCtx, node: &Node, i: usize, trans: bool) -> Option<Arc<Packed>> {
    let t = ctx.constant(node, i)?;
    let x = t.as_f32("weights").ok()?;
    if t.rank() != 2 {
        return None;
    }
    let (r, c) = (t.shape[0], t.shape[1]);
    let k = super::best();
    Some(Arc::new(if trans {
        gemm::pack_right(k, MatRef::transposed(x, c), c, r)
    } else {
        gemm::pack_right(k, MatRef::row_major(x, c), r, c)
    }))
}

fn gemm_op(node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
    let (alpha, beta) = (node.attr_float("alpha", 1.0)?, node.attr_float("beta", 1.0)?);
    let (ta, tb) = (node.attr_int("transA", 0)? != 0, node.attr_int("transB", 0)? != 0);
    let packed = pack_if_const(ctx, node, 1, tb);
    let relu = ctx.epilogue.iter().any(|e| e.op_type == "Relu");
    Ok(kernel(move |ins, pool| {
        let (at, a) = input_f32(ins, 0)?;
        let (bt, b) = input_f32(ins, 1)?;
        if at.rank() != 2 || bt.rank() != 2 {
            return Err(bad(format!("Gemm expects 2-D A and B, got {:?} and {:?}", at.shape, bt.shape)));
        }
        let (m, k) = if ta { (at.shape[1], at.shape[0]) } else { (at.shape[0], at.shape[1]) };
        let (kb, n) = if tb { (bt.shape[1], bt.shape[0]) } else { (bt.shape[0], bt.shape[1]) };
        if k != kb {
            return Err(bad(format!("Gemm: A is {m}x{k} but B is {kb}x{n} (after transA={ta}, transB={tb})")));
        }
        let mut y = pool.zeros(m * n);
        let mut accumulate = false;
        if let Some(c) = ins.get(2).copied().flatten() {
            if beta != 0.0 {
                let cv = c.to_f32_vec();
                let (cs, full) = super::ops::broadcast_apply(&cv, &c.shape, &[0.0f32], &[], |x, _| x * beta)?;
                if numel(&cs) == m * n && cs.len() == 2 {
                    y.copy_from_slice(&full);
                } else {
                    let bc = super::ops::broadcast_to(&Tensor::f32(cs, full), &[m, n]);
                    y.copy_from_slice(bc.as_f32("C")?);
                }
                accumulate = true;
            }
        }
        let av = if ta { MatRef::transposed(a, at.shape[1]) } else { MatRef::row_major(a, k) };
        let bop = match &packed {
            Some(p) => Operand::Packed(p),
            None => Operand::Strided(if tb { MatRef::transposed(b, bt.shape[1]) } else { MatRef::row_major(b, n) }),
        };
        gemm::sgemm(super::best(), m, n, k, alpha, Operand::Strided(av), bop, &mut y, n, accumulate);
        if relu {
            relu_in_place(&mut y);
        }
        Ok(vec![Tensor::f32(vec![m, n], y)])
    }))
}

fn matmul_op(node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
    let packed = pack_if_const(ctx, node, 1, false);
    Ok(kernel(move |ins, pool| {
        let (at, a) = input_f32(ins, 0)?;
        let (bt, b) = input_f32(ins, 1)?;
        let mut ash = at.shape.clone();
        let mut bsh = bt.shape.clone();
        let (a1, b1) = (ash.len() == 1, bsh.len() == 1);
        if a1 {
            ash.insert(0, 1);
        }
        if b1 {
            bsh.push(1);
        }
        if ash.is_empty() || bsh.is_empty() {
            return Err(bad("MatMul: scalar operands"));
        }
        let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
        let (kb, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
        if k != kb {
            return Err(bad(format!("MatMul: shapes {:?} and {:?} do not align ({k} vs {kb})", at.shape, bt.shape)));
        }
        let kern = super::best();
        let (abatch, bbatch) = (&ash[..ash.len() - 2], &bsh[..bsh.len() - 2]);
        let batch = crate::runtime::tensor::broadcast_shapes(abatch, bbatch)
            .ok_or_else(|| bad(format!("MatMul: batch shapes {abatch:?} and {bbatch:?} do not broadcast")))?;
        let nb = numel(&batch);
        let mut out_shape = batch.clone();
        if !a1 {
            out_shape.push(m);
        }
        if !b1 {
            out_shape.push(n);
        }
        let mut y = pool.zeros(nb * m * n);
        if bbatch.iter().product::<usize>() == 1 && numel(abatch) == nb {
            // B is shared: fold A's batch into rows, one GEMM.
            let bop = match &packed {
                Some(p) => Operand::Packed(p),
                None => Operand::Strided(MatRef::row_major(b, n)),
            };
            gemm::sgemm(kern, nb * m, n, k, 1.0, Operand::Strided(MatRef::row_major(a, k)), bop, &mut y, n, false);
        } else {
            let (sa, sb) = (
                crate::runtime::tensor::broadcast_strides(abatch, &batch),
                crate::runtime::tensor::broadcast_strides(bbatch, &batch),
            );
            let bst = crate::runtime::tensor::strides(&batch);
            for i in 0..nb {
                let (mut oa, mut ob) = (0, 0);
                for d in 0..batch.len() {
                    let c = (i / bst[d]) % batch[d];
                    oa += c * sa[d];
                    ob += c * sb[d];
                }
                gemm::sgemm(
                    kern,
                    m,
                    n,
                    k,
                    1.0,
                    Operand::Strided(MatRef::row_major(&a[oa * m * k..], k)),
                    Operand::Strided(MatRef::row_major(&b[ob * k * n..], n)),
                    &mut y[i * m * n..],
                    n,
                    false,
                );
            }
        }
        Ok(vec![Tensor::f32(out_shape, y)])
    }))
}

/// `max(0, x)` as a compare and select (`f32x4.pmax` once vectorised in wasm, where
/// `f32::max`'s NaN rules cost several instructions); NaN stays NaN. A fused Relu epilogue.
pub fn relu_in_place(v: &mut [f32]) {
    for x in v {
        *x = if *x < 0.0 { 0.0 } else { *x };
    }
}

/// Spatial attributes shared by Conv, ConvTranspose and pooling.
struct Spatial {
    auto_pad: String,
    kernel: Option<Vec<usize>>,
    strides: Option<Vec<usize>>,
    dilations: Option<Vec<usize>>,
    pads: Option<Vec<usize>>,
}

fn ints_usize(node: &Node, name: &str) -> Result<Option<Vec<usize>>> {
    Ok(node.attr_ints(name)?.map(|v| v.iter().map(|&x| x.max(0) as usize).collect()))
}

impl Spatial {
    fn parse(node: &Node) -> Result<Spatial> {
        Ok(Spatial {
            auto_pad: node.attr_string("auto_pad", "NOTSET")?,
            kernel: ints_usize(node, "kernel_shape")?,
            strides: ints_usize(node, "strides")?,
            dilations: ints_usize(node, "dilations")?,
            pads: ints_usize(node, "pads")?,
        })
    }

    /// Geometry for an input grid `input` and kernel `k`; returns it plus after-padding.
    fn geometry(&self, input: &[usize], k: &[usize], ceil: bool) -> Result<(Geometry, [usize; 3])> {
        let r = input.len();
        if r == 0 || r > 3 || k.len() != r {
            return Err(bad(format!("spatial rank {r} with kernel {k:?} is not supported (1-3 spatial axes)")));
        }
        let s = self.strides.clone().unwrap_or_else(|| vec![1; r]);
        let d = self.dilations.clone().unwrap_or_else(|| vec![1; r]);
        let mut pb = vec![0; r];
        let mut pe = vec![0; r];
        let mut out = vec![0; r];
        for i in 0..r {
            let ek = d[i] * (k[i] - 1) + 1;
            match self.auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    out[i] = input[i].div_ceil(s[i]);
                    let total = ((out[i] - 1) * s[i] + ek).saturating_sub(input[i]);
                    let small = total / 2;
                    if self.auto_pad == "SAME_UPPER" {
                        pb[i] = small;
                        pe[i] = total - small;
                    } else {
                        pe[i] = small;
                        pb[i] = total - small;
                    }
                }
                _ => {
                    if self.auto_pad != "VALID" {
                        if let Some(p) = &self.pads {
                            pb[i] = *p.get(i).unwrap_or(&0);
                            pe[i] = *p.get(i + r).unwrap_or(&0);
                        }
                    }
                    let span = (input[i] + pb[i] + pe[i]).checked_sub(ek).ok_or_else(|| {
                        bad(format!("kernel extent {ek} is larger than the padded input {}", input[i] + pb[i] + pe[i]))
                    })?;
                    out[i] = if ceil { span.div_ceil(s[i]) + 1 } else { span / s[i] + 1 };
                    if ceil && (out[i] - 1) * s[i] >= input[i] + pb[i] {
                        out[i] -= 1;
                    }
                }
            }
        }
        let g = Geometry {
            input: lift(input, 1),
            kernel: lift(k, 1),
            stride: lift(&s, 1),
            dilation: lift(&d, 1),
            pad: lift(&pb, 0),
            output: lift(&out, 1),
        };
        Ok((g, lift(&pe, 0)))
    }
}

fn conv_op(node: &Node, ctx: &CompileCtx) -> Result<Option<Box<dyn Kernel>>> {
    let sp = Spatial::parse(node)?;
    // Fused Relu / MaxPool (see `executor::conv_epilogues`); the two commute, so the Relu
    // is applied first, to the convolution's output.
    let relu = ctx.epilogue.iter().any(|e| e.op_type == "Relu");
    let max_pool = match ctx.epilogue.iter().find(|e| e.op_type == "MaxPool") {
        Some(p) => {
            let psp = Spatial::parse(p)?;
            let k = psp.kernel.clone().ok_or_else(|| bad("pooling needs a kernel_shape attribute"))?;
            Some((psp, k, p.attr_int("ceil_mode", 0)? != 0))
        }
        None => None,
    };
    let groups = node.attr_int("group", 1)?.max(1) as usize;
    let pre = ctx.constant(node, 1).and_then(|w| {
        let x = w.as_f32("W").ok()?;
        let cout = w.shape[0];
        let k = numel(&w.shape[1..]);
        (cout % groups == 0).then(|| Arc::new(ConvWeights::pack(super::best(), x, cout, groups, k)))
    });
    Ok(kernel(move |ins, pool| {
        let (xt, x) = input_f32(ins, 0)?;
        let (wt, w) = input_f32(ins, 1)?;
        if xt.rank() < 3 || wt.rank() != xt.rank() {
            return Err(bad(format!("Conv: input {:?} and weights {:?} must be N x C x spatial", xt.shape, wt.shape)));
        }
        let (n, cin, cout) = (xt.shape[0], xt.shape[1], wt.shape[0]);
        if cin != wt.shape[1] * groups || cout % groups != 0 {
            return Err(bad(format!(
                "Conv: {cin} input channels and weights {:?} do not match group={groups}",
                wt.shape
            )));
        }
        let ksh = sp.kernel.clone().unwrap_or_else(|| wt.shape[2..].to_vec());
        let (g, _) = sp.geometry(&xt.shape[2..], &ksh, false)?;
        let osz = g.output_size();
        let bias = ins.get(2).copied().flatten().map(|b| b.as_f32("B")).transpose()?;
        if bias.is_some_and(|b| b.len() < cout) {
            return Err(bad(format!(
                "Conv: bias has {} values for {cout} output channels",
                bias.map_or(0, <[f32]>::len)
            )));
        }
        let owned;
        let weights = match &pre {
            Some(p) => p.as_ref(),
            None => {
                owned = ConvWeights::pack(super::best(), w, cout, groups, numel(&wt.shape[1..]));
                &owned
            }
        };
        let spatial = &g.output[3 - (xt.rank() - 2)..];
        let pooled = match &max_pool {
            Some((psp, k, ceil)) => Some(psp.geometry(spatial, k, *ceil)?),
            None => None,
        };
        let per_image = cout * pooled.as_ref().map_or(osz, |(pg, _)| pg.output_size());
        let isz = g.input_size();
        let mut y = pool.zeros(n * per_image);
        let mut col = pool.take(0);
        let mut image = pool.zeros(if pooled.is_some() { cout * osz } else { 0 });
        for (b, yb) in y.chunks_exact_mut(per_image.max(1)).enumerate().take(n) {
            let xb = &x[b * cin * isz..][..cin * isz];
            match &pooled {
                None => conv::conv_image(super::best(), xb, cin, cout, &g, weights, bias, relu, yb, &mut col),
                Some((pg, pe)) => {
                    conv::conv_image(super::best(), xb, cin, cout, &g, weights, bias, relu, &mut image, &mut col);
                    pool::pool(&image, cout, pg, *pe, PoolKind::Max, yb);
                }
            }
        }
        pool.give(Tensor::f32(vec![col.len()], col));
        pool.give(Tensor::f32(vec![image.len()], image));
        let mut shape = vec![n, cout];
        match &pooled {
            Some((pg, _)) => shape.extend_from_slice(&pg.output[3 - spatial.len()..]),
            None => shape.extend_from_slice(spatial),
        }
        Ok(vec![Tensor::f32(shape, y)])
    }))
}

fn conv_transpose_op(node: &Node) -> Result<Option<Box<dyn Kernel>>> {
    let sp = Spatial::parse(node)?;
    let groups = node.attr_int("group", 1)?.max(1) as usize;
    let out_pad = ints_usize(node, "output_padding")?;
    let out_shape = ints_usize(node, "output_shape")?;
    Ok(kernel(move |ins, pool| {
        let (xt, x) = input_f32(ins, 0)?;
        let (wt, w) = input_f32(ins, 1)?;
        if xt.rank() < 3 || wt.rank() != xt.rank() || wt.shape[0] != xt.shape[1] {
            return Err(bad(format!("ConvTranspose: input {:?} and weights {:?} do not match", xt.shape, wt.shape)));
        }
        let r = xt.rank() - 2;
        let (n, cin, cout) = (xt.shape[0], xt.shape[1], wt.shape[1] * groups);
        let k = sp.kernel.clone().unwrap_or_else(|| wt.shape[2..].to_vec());
        let s = sp.strides.clone().unwrap_or_else(|| vec![1; r]);
        let d = sp.dilations.clone().unwrap_or_else(|| vec![1; r]);
        let op = out_pad.clone().unwrap_or_else(|| vec![0; r]);
        let input = &xt.shape[2..];
        let mut pb = vec![0usize; r];
        let mut out = vec![0usize; r];
        for i in 0..r {
            let full = s[i] * (input[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1;
            if let Some(os) = &out_shape {
                out[i] = os[os.len() - r + i];
                let total = full.saturating_sub(out[i]);
                pb[i] = if sp.auto_pad == "SAME_UPPER" { total / 2 } else { total - total / 2 };
            } else if sp.auto_pad.starts_with("SAME") {
                out[i] = input[i] * s[i];
                let total = full.saturating_sub(out[i]);
                pb[i] = if sp.auto_pad == "SAME_UPPER" { total / 2 } else { total - total / 2 };
            } else {
                let (b, e) = sp.pads.as_ref().map_or((0, 0), |p| (p[i], p[i + r]));
                pb[i] = b;
                out[i] = full.checked_sub(b + e).ok_or_else(|| bad("ConvTranspose: pads exceed the output"))?;
            }
        }
        let g = Geometry {
            input: lift(input, 1),
            kernel: lift(&k, 1),
            stride: lift(&s, 1),
            dilation: lift(&d, 1),
            pad: lift(&pb, 0),
            output: lift(&out, 1),
        };
        let osz = g.output_size();
        let mut y = bias_filled(pool, ins.get(2).copied().flatten(), n, cout, osz)?;
        let mut col = Vec::new();
        conv::conv_transpose(super::best(), x, n, cin, cout, groups, &g, w, &mut y, &mut col);
        let mut shape = vec![n, cout];
        shape.extend_from_slice(&out);
        Ok(vec![Tensor::f32(shape, y)])
    }))
}

fn pool_op(node: &Node) -> Result<Option<Box<dyn Kernel>>> {
    let sp = Spatial::parse(node)?;
    let ceil = node.attr_int("ceil_mode", 0)? != 0;
    let kind = match node.op_type.as_str() {
        "MaxPool" => PoolKind::Max,
        "AveragePool" => PoolKind::Avg(node.attr_int("count_include_pad", 0)? != 0),
        _ => PoolKind::Lp(node.attr_int("p", 2)? as f32),
    };
    if node.outputs.len() > 1 && node.outputs[1..].iter().any(|o| !o.is_empty()) {
        return Err(bad("MaxPool's Indices output is not supported"));
    }
    let ksh = sp.kernel.clone().ok_or_else(|| bad("pooling needs a kernel_shape attribute"))?;
    Ok(kernel(move |ins, pool_buf| {
        let t = input(ins, 0)?;
        let ints = matches!(t.data, Data::I64(_));
        let conv_in;
        let x: &[f32] = if ints {
            conv_in = t.to_f32_vec();
            &conv_in
        } else {
            t.as_f32("X")?
        };
        if t.rank() < 3 {
            return Err(bad("pooling expects N x C x spatial..."));
        }
        let (g, pe) = sp.geometry(&t.shape[2..], &ksh, ceil)?;
        let planes = t.shape[0] * t.shape[1];
        let mut y = pool_buf.zeros(planes * g.output_size());
        pool::pool(x, planes, &g, pe, kind, &mut y);
        let mut shape = t.shape[..2].to_vec();
        shape.extend_from_slice(&g.output[3 - (t.rank() - 2)..]);
        if ints {
            return Ok(vec![Tensor::i64(shape, y.iter().map(|&v| v as i64).collect())]);
        }
        Ok(vec![Tensor::f32(shape, y)])
    }))
}

fn reduce_op(node: &Node, opset: i64) -> Result<Option<Box<dyn Kernel>>> {
    let op = node.op_type.clone();
    if !matches!(
        op.as_str(),
        "ReduceMean"
            | "ReduceSum"
            | "ReduceMax"
            | "ReduceMin"
            | "ReduceProd"
            | "ReduceL1"
            | "ReduceL2"
            | "ReduceSumSquare"
            | "ReduceLogSumExp"
    ) {
        return Ok(None);
    }
    let keep = node.attr_int("keepdims", 1)? != 0;
    let noop = node.attr_int("noop_with_empty_axes", 0)? != 0;
    let attr_axes = node.attr_ints("axes")?.map(<[i64]>::to_vec);
    let axes_from_input = opset >= 18 || (op == "ReduceSum" && opset >= 13);
    Ok(kernel(move |ins, _| {
        let t = input(ins, 0)?;
        let axes =
            if axes_from_input { ins.get(1).copied().flatten().map(|a| a.to_i64_vec()) } else { attr_axes.clone() };
        let r = t.rank();
        let axes: Vec<usize> = match axes {
            Some(a) if !a.is_empty() => a.iter().map(|&x| norm_axis(x, r, &op)).collect::<Result<_>>()?,
            _ if noop => return Ok(vec![t.clone()]),
            _ => (0..r).collect(),
        };
        let x = t.to_f32_vec();
        let out_shape_keep: Vec<usize> = (0..r).map(|d| if axes.contains(&d) { 1 } else { t.shape[d] }).collect();
        let n_out = numel(&out_shape_keep);
        let init = match op.as_str() {
            "ReduceMax" => f32::NEG_INFINITY,
            "ReduceMin" => f32::INFINITY,
            "ReduceProd" => 1.0,
            _ => 0.0,
        };
        let mut acc = vec![init; n_out];
        let mut mx = vec![f32::NEG_INFINITY; n_out];
        let ost = crate::runtime::tensor::strides(&out_shape_keep);
        let oidx = super::ops::map_indices(&t.shape, |i, d, _| if axes.contains(&d) { 0 } else { i * ost[d] });
        if op == "ReduceLogSumExp" {
            for (&o, &v) in oidx.iter().zip(&x) {
                mx[o] = mx[o].max(v);
            }
        }
        for (&o, &v) in oidx.iter().zip(&x) {
            let a = &mut acc[o];
            match op.as_str() {
                "ReduceMax" => *a = a.max(v),
                "ReduceMin" => *a = a.min(v),
                "ReduceProd" => *a *= v,
                "ReduceL1" => *a += v.abs(),
                "ReduceL2" | "ReduceSumSquare" => *a += v * v,
                "ReduceLogSumExp" => *a += (v - mx[o]).exp(),
                _ => *a += v,
            }
        }
        let count = (numel(&t.shape) / n_out.max(1)) as f32;
        for (o, a) in acc.iter_mut().enumerate() {
            match op.as_str() {
                "ReduceMean" => *a /= count,
                "ReduceL2" => *a = a.sqrt(),
                "ReduceLogSumExp" => *a = a.ln() + mx[o],
                _ => {}
            }
        }
        let shape =
            if keep { out_shape_keep } else { (0..r).filter(|d| !axes.contains(d)).map(|d| t.shape[d]).collect() };
        Ok(vec![match t.data {
            Data::I64(_) => Tensor::i64(shape, acc.iter().map(|&v| v as i64).collect()),
            _ => Tensor::f32(shape, acc),
        }])
    }))
}
