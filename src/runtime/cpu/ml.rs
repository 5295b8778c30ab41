//! scikit-learn models as skl2onnx converts them (the `ai.onnx.ml` domain): tree ensembles,
//! linear models, scalers and normalisers. Outputs follow onnxruntime: a label tensor and a
//! score matrix (use skl2onnx's `zipmap=False`; ZipMap itself is not supported).

use super::ops::{bad, input, kernel};
use crate::error::Result;
use crate::model::Node;
use crate::runtime::executor::Kernel;
use crate::runtime::tensor::{Data, Tensor};

pub fn compile(node: &Node) -> Result<Option<Box<dyn Kernel>>> {
    Ok(match node.op_type.as_str() {
        "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
            let model = Trees::parse(node)?;
            kernel(move |ins, _| model.run(input(ins, 0)?))
        }
        "LinearClassifier" | "LinearRegressor" => {
            let model = Linear::parse(node)?;
            kernel(move |ins, _| model.run(input(ins, 0)?))
        }
        "Normalizer" => {
            let norm = node.attr_string("norm", "MAX")?;
            kernel(move |ins, _| {
                let t = input(ins, 0)?;
                let (n, f) = rows(t);
                let mut x = t.to_f32_vec();
                for row in x.chunks_mut(f.max(1)).take(n) {
                    let d = match norm.as_str() {
                        "L1" => row.iter().map(|v| v.abs()).sum::<f32>(),
                        "L2" => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                        _ => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                    };
                    if d != 0.0 {
                        row.iter_mut().for_each(|v| *v /= d);
                    }
                }
                Ok(vec![Tensor::f32(t.shape.clone(), x)])
            })
        }
        "Scaler" => {
            let offset = node.attr_floats("offset")?.map(<[f32]>::to_vec).unwrap_or_default();
            let scale = node.attr_floats("scale")?.map(<[f32]>::to_vec).unwrap_or_default();
            kernel(move |ins, _| {
                let t = input(ins, 0)?;
                let (_, f) = rows(t);
                let x = t.to_f32_vec();
                let pick =
                    |v: &[f32], j: usize, d: f32| if v.len() == 1 { v[0] } else { v.get(j).copied().unwrap_or(d) };
                let y = x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (v - pick(&offset, i % f.max(1), 0.0)) * pick(&scale, i % f.max(1), 1.0))
                    .collect();
                Ok(vec![Tensor::f32(t.shape.clone(), y)])
            })
        }
        "Binarizer" => {
            let th = node.attr_float("threshold", 0.0)?;
            kernel(move |ins, _| {
                let t = input(ins, 0)?;
                Ok(vec![Tensor::f32(
                    t.shape.clone(),
                    t.to_f32_vec().iter().map(|&v| if v > th { 1.0 } else { 0.0 }).collect(),
                )])
            })
        }
        "ArrayFeatureExtractor" => kernel(|ins, _| {
            let (t, idx) = (input(ins, 0)?, input(ins, 1)?);
            let last =
                *t.shape.last().ok_or_else(|| bad("ArrayFeatureExtractor needs a tensor with at least one axis"))?;
            let ids = idx.to_i64_vec();
            if let Some(&bad_i) = ids.iter().find(|&&i| i < 0 || i as usize >= last) {
                return Err(bad(format!("index {bad_i} is out of range for {last} features")));
            }
            let outer = t.len() / last.max(1);
            let flat: Vec<usize> = (0..outer).flat_map(|o| ids.iter().map(move |&i| o * last + i as usize)).collect();
            let mut shape = t.shape.clone();
            *shape.last_mut().expect("non-empty") = ids.len();
            if t.rank() == 1 {
                shape = vec![1, ids.len()];
            }
            Ok(vec![t.gather_flat(shape, &flat)])
        }),
        _ => None,
    })
}

/// Class labels a classifier node declares, as strings (for reports).
pub fn class_labels(node: &Node) -> Option<Vec<String>> {
    if node.domain != "ai.onnx.ml" || !node.op_type.ends_with("Classifier") {
        return None;
    }
    for name in ["classlabels_int64s", "classlabels_ints"] {
        if let Ok(Some(v)) = node.attr_ints(name) {
            return Some(v.iter().map(|x| x.to_string()).collect());
        }
    }
    if let Ok(Some(v)) = node.attr_strings("classlabels_strings") {
        return Some(v.to_vec());
    }
    None
}

/// (rows, features) of a 1-D or 2-D feature tensor.
fn rows(t: &Tensor) -> (usize, usize) {
    match t.rank() {
        0 => (1, 1),
        1 => (1, t.shape[0]),
        _ => (t.shape[0], t.len() / t.shape[0].max(1)),
    }
}

#[derive(Clone)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    fn parse(node: &Node) -> Result<Option<Labels>> {
        // TreeEnsembleClassifier says int64s, LinearClassifier says ints.
        for name in ["classlabels_int64s", "classlabels_ints"] {
            if let Some(v) = node.attr_ints(name)? {
                return Ok(Some(Labels::Ints(v.to_vec())));
            }
        }
        if let Some(v) = node.attr_strings("classlabels_strings")? {
            return Ok(Some(Labels::Strings(v.to_vec())));
        }
        Ok(None)
    }
    fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }
    fn tensor(&self, picks: &[usize]) -> Tensor {
        match self {
            Labels::Ints(v) => Tensor::i64(vec![picks.len()], picks.iter().map(|&i| v[i]).collect()),
            Labels::Strings(v) => Tensor::strings(vec![picks.len()], picks.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Apply a post transform to one row of scores in place.
fn post_transform(kind: &str, row: &mut [f32]) -> Result<()> {
    match kind {
        "NONE" => {}
        "LOGISTIC" => row.iter_mut().for_each(|v| *v = sigmoid(*v)),
        "SOFTMAX" => super::nn::softmax_strided(row, row.len(), 1, false),
        "SOFTMAX_ZERO" => {
            let max = row.iter().copied().filter(|&v| v != 0.0).fold(f32::NEG_INFINITY, f32::max);
            let s: f32 = row.iter().map(|&v| if v == 0.0 { 0.0 } else { (v - max).exp() }).sum();
            row.iter_mut().for_each(|v| *v = if *v == 0.0 { 0.0 } else { (*v - max).exp() / s });
        }
        other => return Err(bad(format!("post_transform '{other}' is not supported"))),
    }
    Ok(())
}

/// Label and score outputs for classifiers, including the one-score binary case.
fn classify(
    labels: &Labels,
    scores: Vec<f32>,
    n: usize,
    width: usize,
    transform: &str,
    positive_weights: bool,
) -> Result<Vec<Tensor>> {
    let nc = labels.len();
    let mut picks = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(n * nc);
    for row in scores.chunks(width.max(1)).take(n) {
        let mut row = row.to_vec();
        if nc == 2 && width == 1 {
            let s = row[0];
            let (full, positive) = match transform {
                "LOGISTIC" => {
                    let p = sigmoid(s);
                    ([1.0 - p, p], p > 0.5)
                }
                _ if positive_weights => ([1.0 - s, s], s > 0.5),
                _ => ([-s, s], s > 0.0),
            };
            out.extend_from_slice(&full);
            picks.push(usize::from(positive));
            continue;
        }
        post_transform(transform, &mut row)?;
        let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
        picks.push(best.min(nc.saturating_sub(1)));
        out.extend_from_slice(&row);
    }
    let w = if nc == 2 && width == 1 { 2 } else { width };
    Ok(vec![labels.tensor(&picks), Tensor::f32(vec![n, w], out)])
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

/// One tree node, flattened to 20 bytes so a tree stays in L1 while a block of rows walks it.
/// A leaf's weights are `leaf_weights[yes..yes + no]`.
#[derive(Clone, Copy)]
struct TreeNode {
    value: f32,
    feature: u32,
    yes: u32,
    no: u32,
    mode: Mode,
    missing_yes: bool,
}

/// A split of [`Descent`]: a leaf points at itself (`yes == no`), so extra levels stay put.
#[derive(Clone, Copy)]
struct Split {
    value: f32,
    feature: u32,
    yes: u32,
    no: u32,
}

/// The common scikit-learn ensemble (only `BRANCH_LEQ` splits, NaN taking the false branch,
/// summed or averaged) laid out for a branch-free descent: each tree is walked a fixed number
/// of levels (its depth) by [`LANES`] rows at once, whose independent loads overlap instead of
/// each row waiting on its own chain of cache misses and mispredicted branches; leaves carry
/// dense weight rows added without a per-weight column lookup.
struct Descent {
    splits: Vec<Split>,
    /// (root, depth) per tree.
    trees: Vec<(u32, u32)>,
    /// Start of each leaf's dense weight row in `dense` (unused for splits).
    leaf_row: Vec<u32>,
    dense: Vec<f32>,
    /// Largest feature index a split reads: rows must be wider.
    max_feature: usize,
}

/// Rows descending a tree together in [`Descent`]: four independent chains of loads in
/// flight, with few enough live indices to stay in registers.
const LANES: usize = 4;

struct Trees {
    nodes: Vec<TreeNode>,
    descent: Option<Descent>,
    /// Leaf weights of every leaf, (output column, weight), contiguous per leaf.
    leaf_weights: Vec<(u32, f32)>,
    roots: Vec<usize>,
    width: usize,
    base: Vec<f32>,
    aggregate: String,
    transform: String,
    labels: Option<Labels>,
    positive_weights: bool,
}

impl Trees {
    fn parse(node: &Node) -> Result<Trees> {
        let ints = |n: &str| -> Result<Vec<i64>> { Ok(node.attr_ints(n)?.map(<[i64]>::to_vec).unwrap_or_default()) };
        let floats = |n: &str| -> Result<Vec<f32>> {
            if let Some(v) = node.attr_floats(n)? {
                return Ok(v.to_vec());
            }
            match node.attr_tensor(&format!("{n}_as_tensor"))? {
                Some(t) => t.to_f32_vec().ok_or_else(|| bad(format!("{n}_as_tensor is not numeric"))),
                None => Ok(Vec::new()),
            }
        };
        let classifier = node.op_type == "TreeEnsembleClassifier";
        let (tree_ids, node_ids, feats, values) =
            (ints("nodes_treeids")?, ints("nodes_nodeids")?, ints("nodes_featureids")?, floats("nodes_values")?);
        let (yes, no) = (ints("nodes_truenodeids")?, ints("nodes_falsenodeids")?);
        let missing = ints("nodes_missing_value_tracks_true")?;
        let modes = node.attr_strings("nodes_modes")?.map(<[String]>::to_vec).unwrap_or_default();
        let n = tree_ids.len();
        if [node_ids.len(), feats.len(), modes.len(), yes.len(), no.len()].iter().any(|&l| l != n) || values.len() != n
        {
            return Err(bad("tree attributes (nodes_*) have different lengths"));
        }
        let mut index = std::collections::HashMap::new();
        for i in 0..n {
            index.insert((tree_ids[i], node_ids[i]), i);
        }
        let find = |t: i64, id: i64| {
            index.get(&(t, id)).copied().ok_or_else(|| bad(format!("tree {t} refers to missing node {id}")))
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => Mode::Leq,
                "BRANCH_LT" => Mode::Lt,
                "BRANCH_GTE" => Mode::Gte,
                "BRANCH_GT" => Mode::Gt,
                "BRANCH_EQ" => Mode::Eq,
                "BRANCH_NEQ" => Mode::Neq,
                "LEAF" => Mode::Leaf,
                m => return Err(bad(format!("unknown tree node mode '{m}'"))),
            };
            let (y, f) =
                if mode == Mode::Leaf { (0, 0) } else { (find(tree_ids[i], yes[i])?, find(tree_ids[i], no[i])?) };
            nodes.push(TreeNode {
                feature: u32::try_from(feats[i].max(0)).map_err(|_| bad("feature index out of range"))?,
                value: values[i],
                mode,
                yes: y as u32,
                no: f as u32,
                missing_yes: missing.get(i).copied().unwrap_or(0) != 0,
            });
        }
        if n > u32::MAX as usize / 2 {
            return Err(bad("tree ensemble has too many nodes"));
        }
        let p = if classifier { "class" } else { "target" };
        let (lt, ln, lid, lw) = (
            ints(&format!("{p}_treeids"))?,
            ints(&format!("{p}_nodeids"))?,
            ints(&format!("{p}_ids"))?,
            floats(&format!("{p}_weights"))?,
        );
        if [ln.len(), lid.len(), lw.len()].iter().any(|&l| l != lt.len()) {
            return Err(bad(format!("{p}_* attributes have different lengths")));
        }
        let mut width = 0;
        let mut per_leaf: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        for i in 0..lt.len() {
            let k = find(lt[i], ln[i])?;
            let col = lid[i].max(0) as usize;
            width = width.max(col + 1);
            per_leaf[k].push((col.min(u32::MAX as usize) as u32, lw[i]));
        }
        let mut leaf_weights = Vec::with_capacity(lt.len());
        for (nd, ws) in nodes.iter_mut().zip(&per_leaf) {
            if nd.mode == Mode::Leaf {
                nd.yes = leaf_weights.len() as u32;
                nd.no = ws.len() as u32;
                leaf_weights.extend_from_slice(ws);
            }
        }
        let labels = if classifier { Labels::parse(node)? } else { None };
        if classifier {
            let nc = labels.as_ref().map_or(0, Labels::len);
            if nc == 0 {
                return Err(bad("TreeEnsembleClassifier has no class labels"));
            }
            width = if nc == 2 && width <= 1 { 1 } else { nc };
        } else {
            width = width.max(node.attr_int("n_targets", 1)?.max(1) as usize);
        }
        // A tree's root is its node that no other node points to.
        let mut pointed = vec![false; n];
        for nd in nodes.iter().filter(|nd| nd.mode != Mode::Leaf) {
            pointed[nd.yes as usize] = true;
            pointed[nd.no as usize] = true;
        }
        let mut seen = std::collections::HashSet::new();
        let roots: Vec<usize> = (0..n).filter(|&i| !pointed[i] && seen.insert(tree_ids[i])).collect();
        let mut trees = Trees {
            nodes,
            descent: None,
            leaf_weights,
            roots,
            width,
            base: floats("base_values")?,
            aggregate: node.attr_string("aggregate_function", "SUM")?,
            transform: node.attr_string("post_transform", "NONE")?,
            labels,
            positive_weights: lw.iter().all(|&w| w >= 0.0),
        };
        trees.descent = trees.descent();
        Ok(trees)
    }

    /// The [`Descent`] layout, when every split and the aggregate allow it.
    fn descent(&self) -> Option<Descent> {
        /// Deeper trees (rare: unbounded depth on skewed data) keep the early-exit walk.
        const MAX_DEPTH: u32 = 48;
        if !matches!(self.aggregate.as_str(), "SUM" | "AVERAGE") || self.width == 0 {
            return None;
        }
        let w = self.width;
        let (mut splits, mut leaf_row, mut dense) = (Vec::new(), vec![0u32; self.nodes.len()], Vec::new());
        let mut max_feature = 0;
        for (i, nd) in self.nodes.iter().enumerate() {
            match nd.mode {
                Mode::Leaf => {
                    leaf_row[i] = u32::try_from(dense.len()).ok()?;
                    let start = dense.len();
                    dense.resize(start + w, 0.0);
                    for &(c, wt) in &self.leaf_weights[nd.yes as usize..(nd.yes + nd.no) as usize] {
                        dense[start + (c as usize).min(w - 1)] += wt;
                    }
                    splits.push(Split { value: 0.0, feature: 0, yes: i as u32, no: i as u32 });
                }
                Mode::Leq if !nd.missing_yes => {
                    max_feature = max_feature.max(nd.feature as usize);
                    splits.push(Split { value: nd.value, feature: nd.feature, yes: nd.yes, no: nd.no });
                }
                _ => return None,
            }
        }
        if dense.len() > 1 << 26 {
            return None;
        }
        let mut trees = Vec::with_capacity(self.roots.len());
        let mut stack = Vec::new();
        for &root in &self.roots {
            let (mut depth, mut visited) = (0u32, 0usize);
            stack.push((root, 0u32));
            while let Some((i, d)) = stack.pop() {
                visited += 1;
                if d > MAX_DEPTH || visited > self.nodes.len() {
                    return None; // too deep, or a cycle (the walk reports it)
                }
                depth = depth.max(d);
                let nd = &self.nodes[i];
                if nd.mode != Mode::Leaf {
                    stack.push((nd.yes as usize, d + 1));
                    stack.push((nd.no as usize, d + 1));
                }
            }
            trees.push((root as u32, depth));
        }
        Some(Descent { splits, trees, leaf_row, dense, max_feature })
    }

    /// Sum the trees' leaf weights of the `n` rows of `x` (`f` features each) into `scores`.
    fn descend(d: &Descent, x: &[f32], n: usize, f: usize, w: usize, scores: &mut [f32]) {
        /// Rows per pass over the trees: their features and scores stay in L1.
        const BLOCK: usize = 64;
        for r0 in (0..n).step_by(BLOCK) {
            let nb = BLOCK.min(n - r0);
            for &(root, depth) in &d.trees {
                for c0 in (0..nb).step_by(LANES) {
                    let live = LANES.min(nb - c0);
                    if live < LANES {
                        // A short tail (batch 1): one row at a time, no idle lanes.
                        for r in r0 + c0..r0 + c0 + live {
                            let (row, mut at) = (&x[r * f..][..f], root);
                            for _ in 0..depth {
                                let s = d.splits[at as usize];
                                at = if row[s.feature as usize] <= s.value { s.yes } else { s.no };
                            }
                            let leaf = &d.dense[d.leaf_row[at as usize] as usize..][..w];
                            for (o, v) in scores[r * w..][..w].iter_mut().zip(leaf) {
                                *o += v;
                            }
                        }
                        continue;
                    }
                    let rows = &x[(r0 + c0) * f..][..LANES * f];
                    let mut at = [root; LANES];
                    for _ in 0..depth {
                        for (l, a) in at.iter_mut().enumerate() {
                            let s = d.splits[*a as usize];
                            *a = if rows[l * f + s.feature as usize] <= s.value { s.yes } else { s.no };
                        }
                    }
                    for (l, &leaf) in at.iter().enumerate() {
                        let row = &d.dense[d.leaf_row[leaf as usize] as usize..][..w];
                        let out = &mut scores[(r0 + c0 + l) * w..][..w];
                        for (o, v) in out.iter_mut().zip(row) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }

    /// Index of the leaf `x` reaches from node `i`.
    #[inline]
    fn leaf(&self, x: &[f32], mut i: usize) -> Result<usize> {
        for _ in 0..self.nodes.len() + 1 {
            let nd = &self.nodes[i];
            if nd.mode == Mode::Leaf {
                return Ok(i);
            }
            let v = *x
                .get(nd.feature as usize)
                .ok_or_else(|| bad(format!("tree uses feature {} but rows have {}", nd.feature, x.len())))?;
            let go = if v.is_nan() {
                nd.missing_yes
            } else {
                match nd.mode {
                    Mode::Leq => v <= nd.value,
                    Mode::Lt => v < nd.value,
                    Mode::Gte => v >= nd.value,
                    Mode::Gt => v > nd.value,
                    Mode::Eq => v == nd.value,
                    Mode::Neq => v != nd.value,
                    Mode::Leaf => true,
                }
            };
            i = if go { nd.yes } else { nd.no } as usize;
        }
        Err(bad("tree has a cycle"))
    }

    fn run(&self, t: &Tensor) -> Result<Vec<Tensor>> {
        /// Rows walked through one tree before the next: the tree stays in cache across them.
        const BLOCK: usize = 64;
        let (n, f) = rows(t);
        let x = t.to_f32_vec();
        let w = self.width;
        let mut scores = vec![0f32; n * w];
        if let Some(d) = self.descent.as_ref().filter(|d| d.max_feature < f && x.len() >= n * f) {
            Self::descend(d, &x, n, f, w, &mut scores);
            for out in scores.chunks_mut(w) {
                for (c, o) in out.iter_mut().enumerate() {
                    if self.aggregate == "AVERAGE" {
                        *o /= self.roots.len().max(1) as f32;
                    }
                    *o += self.base.get(c).copied().unwrap_or(0.0);
                }
            }
            return self.outputs(scores, n, w);
        }
        let minmax = matches!(self.aggregate.as_str(), "MIN" | "MAX");
        let (mut mins, mut maxs, mut touched) = if minmax {
            (vec![f32::INFINITY; BLOCK * w], vec![f32::NEG_INFINITY; BLOCK * w], vec![false; BLOCK * w])
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        for r0 in (0..n).step_by(BLOCK) {
            let nb = BLOCK.min(n - r0);
            let block = &mut scores[r0 * w..(r0 + nb) * w];
            if minmax {
                mins.fill(f32::INFINITY);
                maxs.fill(f32::NEG_INFINITY);
                touched.fill(false);
            }
            for &root in &self.roots {
                for (b, out) in block.chunks_mut(w).enumerate() {
                    let row = &x[(r0 + b) * f..(r0 + b + 1) * f];
                    let nd = &self.nodes[self.leaf(row, root)?];
                    for &(c, wt) in &self.leaf_weights[nd.yes as usize..(nd.yes + nd.no) as usize] {
                        let c = (c as usize).min(w - 1);
                        out[c] += wt;
                        if minmax {
                            mins[b * w + c] = mins[b * w + c].min(wt);
                            maxs[b * w + c] = maxs[b * w + c].max(wt);
                            touched[b * w + c] = true;
                        }
                    }
                }
            }
            for (b, out) in block.chunks_mut(w).enumerate() {
                for c in 0..w {
                    match self.aggregate.as_str() {
                        "AVERAGE" => out[c] /= self.roots.len().max(1) as f32,
                        "MIN" if touched[b * w + c] => out[c] = mins[b * w + c],
                        "MAX" if touched[b * w + c] => out[c] = maxs[b * w + c],
                        _ => {}
                    }
                    out[c] += self.base.get(c).copied().unwrap_or(0.0);
                }
            }
        }
        self.outputs(scores, n, w)
    }

    /// Labels and scores (classifier) or post-transformed values (regressor) from raw sums.
    fn outputs(&self, mut scores: Vec<f32>, n: usize, w: usize) -> Result<Vec<Tensor>> {
        match &self.labels {
            Some(labels) => classify(labels, scores, n, w, &self.transform, self.positive_weights),
            None => {
                for row in scores.chunks_mut(w) {
                    post_transform(&self.transform, row)?;
                }
                Ok(vec![Tensor::f32(vec![n, w], scores)])
            }
        }
    }
}

struct Linear {
    coef: Vec<f32>,
    intercepts: Vec<f32>,
    width: usize,
    transform: String,
    labels: Option<Labels>,
}

impl Linear {
    fn parse(node: &Node) -> Result<Linear> {
        let coef = node.attr_floats("coefficients")?.map(<[f32]>::to_vec).ok_or_else(|| bad("missing coefficients"))?;
        let intercepts = node.attr_floats("intercepts")?.map(<[f32]>::to_vec).unwrap_or_default();
        let labels = if node.op_type == "LinearClassifier" {
            Some(Labels::parse(node)?.ok_or_else(|| bad("LinearClassifier has no class labels"))?)
        } else {
            None
        };
        let width = match &labels {
            Some(_) if !intercepts.is_empty() => intercepts.len(),
            Some(l) => l.len(),
            None => node.attr_int("targets", 1)?.max(1) as usize,
        };
        if coef.len() % width != 0 {
            return Err(bad(format!("{} coefficients do not split into {width} rows", coef.len())));
        }
        Ok(Linear { coef, intercepts, width, transform: node.attr_string("post_transform", "NONE")?, labels })
    }

    fn run(&self, t: &Tensor) -> Result<Vec<Tensor>> {
        let (n, f) = rows(t);
        let x = t.to_f32_vec();
        let w = self.width;
        if f * w != self.coef.len() {
            return Err(bad(format!(
                "the model has {} coefficients per class but rows have {f} features",
                self.coef.len() / w
            )));
        }
        let mut scores = vec![0f32; n * w];
        let k = super::best();
        if n > 0 {
            use super::gemm::{sgemm, MatRef, Operand};
            sgemm(
                k,
                n,
                w,
                f,
                1.0,
                Operand::Strided(MatRef::row_major(&x, f)),
                Operand::Strided(MatRef::transposed(&self.coef, f)),
                &mut scores,
                w,
                false,
            );
        }
        for row in scores.chunks_mut(w) {
            for (c, v) in row.iter_mut().enumerate() {
                *v += self.intercepts.get(c).copied().unwrap_or(0.0);
            }
        }
        match &self.labels {
            Some(labels) => classify(labels, scores, n, w, &self.transform, false),
            None => {
                for row in scores.chunks_mut(w) {
                    post_transform(&self.transform, row)?;
                }
                Ok(vec![Tensor::f32(vec![n, w], scores)])
            }
        }
    }
}

#[allow(dead_code)]
fn is_f32(t: &Tensor) -> bool {
    matches!(t.data, Data::F32(_))
}
