//! Model + dataset -> predictions, and the speed of getting them.
//!
//! A dataset is any table `data::open` reads (CSV/TSV, JSON Lines, NPY, ...): every column
//! except the label is a feature, in file order. Rows are fed in batches shaped like the
//! model's first input; each batch is timed with a clock the caller supplies (the executor
//! cannot know whether it runs natively or in a browser), which gives p50/p95/p99 latency
//! per batch and throughput. Predictions then go through the same report as a predictions
//! file, so a model is evaluated exactly like a file of its outputs would be.

use super::engine::{DeviceInfo, Engine};
use super::executor::Session;
use super::tensor::{Data, Tensor};
use crate::data::{self, columns::LABEL_NAMES};
use crate::error::{Error, Location, Result};
use crate::model::{Dim, Model};
use serde::Serialize;
use std::io::Read;

/// Features (row-major, `rows x width()`) and optional true labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub file: String,
    /// Feature column names (a table), or one description of the image tensor (images).
    pub names: Vec<String>,
    pub features: Vec<f32>,
    pub rows: usize,
    /// (column name, one label per row).
    pub labels: Option<(String, Vec<String>)>,
    /// Class names by model output index, when the dataset fixes them (ImageFolder: the
    /// sorted folder names, as torchvision numbers them).
    pub classes: Option<Vec<String>>,
}

impl Dataset {
    /// Floats per row.
    pub fn width(&self) -> usize {
        self.features.len() / self.rows.max(1)
    }

    /// Name the model's output classes after the dataset's, when the model does not name
    /// them itself (outputs `0..k`).
    fn name_classes(&self, p: &mut Predictions) -> Result<()> {
        let Some(names) = &self.classes else { return Ok(()) };
        let numbered = p.classes.iter().enumerate().all(|(i, c)| *c == i.to_string());
        if p.classes.is_empty() || !numbered || names == &p.classes {
            return Ok(());
        }
        if names.len() == p.classes.len() {
            let rename = |l: &mut String| {
                if let Some(n) = l.parse::<usize>().ok().and_then(|i| names.get(i)) {
                    *l = n.clone();
                }
            };
            p.labels.iter_mut().for_each(rename);
            p.classes = names.clone();
            return Ok(());
        }
        // Fewer folders than outputs: fine when the folders are the output numbers.
        if names.iter().all(|n| n.parse::<usize>().is_ok_and(|i| i < p.classes.len() && *n == i.to_string())) {
            return Ok(());
        }
        Err(Error::Malformed {
            loc: Location::file(&self.file),
            message: format!(
                "has {} class folders ({}) but the model has {} outputs; name the folders 0..{} after the \
                 outputs, or give one folder per output class (sorted folder i = output i)",
                names.len(),
                names.join(", "),
                p.classes.len(),
                p.classes.len() - 1
            ),
        })
    }
}

/// Read a dataset; `label` names the truth column (default: label/y_true/target/...; a file
/// without one is fine for `run`).
pub fn read_dataset<R: Read>(file: &str, reader: R, label: Option<&str>) -> Result<Dataset> {
    let mut opened = data::open(file, reader, None)?;
    let header = opened.rows.header().to_vec();
    let label_col = match label {
        Some(l) => Some(header.iter().position(|h| h.trim() == l.trim()).ok_or_else(|| Error::UnknownColumn {
            loc: Location::at(file, 1, None),
            name: l.to_string(),
            found: header.join(", "),
        })?),
        None => LABEL_NAMES.iter().find_map(|w| header.iter().position(|h| h.trim().eq_ignore_ascii_case(w))),
    };
    let names: Vec<String> =
        header.iter().enumerate().filter(|(i, _)| Some(*i) != label_col).map(|(_, h)| h.clone()).collect();
    if names.is_empty() {
        return Err(Error::Malformed {
            loc: Location::file(file),
            message: "no feature columns: every column except the label is fed to the model".into(),
        });
    }
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut rec = Vec::new();
    let mut rows = 0;
    while let Some(line) = opened.rows.next_record(&mut rec)? {
        for (i, v) in rec.iter().enumerate() {
            if Some(i) == label_col {
                labels.push(crate::metrics::labels::canonical(v));
                continue;
            }
            let t = v.trim();
            let x = if data::columns::is_missing(t) {
                f32::NAN
            } else {
                t.parse::<f32>().map_err(|_| Error::NotNumeric {
                    loc: Location::at(file, line, Some(header[i].clone())),
                    value: t.to_string(),
                    expected: "a number (every column except the label is a model input)".into(),
                })?
            };
            features.push(x);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::NoRows(Location::file(file)));
    }
    Ok(Dataset {
        file: file.to_string(),
        names,
        features,
        rows,
        labels: label_col.map(|c| (header[c].clone(), labels)),
        classes: None,
    })
}

/// Image settings the user may give (the page's image options, CLI flags); what is left
/// out comes from the model's first input (size, channels, layout) or the preset.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageOptions {
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// 1 (grey) or 3 (RGB).
    pub channels: Option<usize>,
    /// "nchw" or "nhwc".
    pub layout: Option<String>,
    /// "stretch" to the size, or "crop": shorter side to 256/224 of the size, centre crop.
    pub resize: Option<String>,
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
    /// "unit" (default): pixels scaled to [0, 1] (mean 0, std 1), stretched to the size;
    /// "imagenet": ImageNet mean/std, resize + centre crop (torchvision's evaluation transform).
    pub preset: Option<String>,
}

/// The image preprocessing for `model`: its first input's shape decides the size, channels
/// and layout (`[N, C, H, W]` or `[N, H, W, C]` with C = 1 or 3; `[N, H, W]` is grey),
/// `opts` override.
pub fn image_spec(model: &Model, opts: &ImageOptions) -> Result<data::images::ImageSpec> {
    use data::images::{ImageSpec, Resize, TensorLayout};
    let input = model.graph.runtime_inputs().next().ok_or_else(|| Error::Runtime("the model has no inputs".into()))?;
    let dims: Vec<Option<u32>> = input
        .ty
        .tensor_shape()
        .unwrap_or(&[])
        .iter()
        .map(|d| if let Dim::Known(v) = d { u32::try_from(*v).ok() } else { None })
        .collect();
    let is_c = |d: Option<u32>| matches!(d, Some(1 | 3));
    let (layout, c, h, w) = match dims.as_slice() {
        [_, a, b, c] if is_c(*a) || !is_c(*c) => (TensorLayout::Nchw, *a, *b, *c),
        [_, a, b, c] => (TensorLayout::Nhwc, *c, *a, *b),
        [_, a, b] => (TensorLayout::Nchw, Some(1), *a, *b),
        _ => {
            return Err(Error::Runtime(format!(
                "the model's input '{}' has shape [{}], not an image batch ([N, C, H, W], [N, H, W, C] or [N, H, W]); \
                 an image dataset needs an image model",
                input.name,
                input.ty.tensor_shape().unwrap_or(&[]).iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let channels = opts.channels.or(c.map(|c| c as usize)).unwrap_or(3);
    let imagenet = match opts.preset.as_deref() {
        None | Some("") | Some("unit") => false,
        Some("imagenet") => true,
        Some(p) => {
            return Err(Error::InvalidArgument(format!("unknown image preset '{p}'; expected 'unit' or 'imagenet'")))
        }
    };
    let (width, height) = (opts.width.or(w).unwrap_or(224), opts.height.or(h).unwrap_or(224));
    let crop = Resize::ShorterThenCenterCrop { shorter: (f64::from(width.min(height)) * 256.0 / 224.0).round() as u32 };
    let (mean, std, resize) = if imagenet {
        let base = ImageSpec::default();
        let pick = |v: Vec<f32>| if channels == 3 { v } else { vec![v.iter().sum::<f32>() / 3.0] };
        (pick(base.mean), pick(base.std), crop)
    } else {
        (vec![0.0; channels], vec![1.0; channels], Resize::Stretch)
    };
    let layout = match opts.layout.as_deref() {
        None | Some("") => layout,
        Some(l) if l.eq_ignore_ascii_case("nchw") => TensorLayout::Nchw,
        Some(l) if l.eq_ignore_ascii_case("nhwc") => TensorLayout::Nhwc,
        Some(l) => {
            return Err(Error::InvalidArgument(format!("unknown image layout '{l}'; expected 'nchw' or 'nhwc'")))
        }
    };
    let resize = match opts.resize.as_deref() {
        None | Some("") => resize,
        Some("stretch") => Resize::Stretch,
        Some("crop") => crop,
        Some(r) => {
            return Err(Error::InvalidArgument(format!("unknown image resize '{r}'; expected 'stretch' or 'crop'")))
        }
    };
    Ok(ImageSpec {
        width,
        height,
        channels,
        layout,
        resize,
        mean: opts.mean.clone().unwrap_or(mean),
        std: opts.std.clone().unwrap_or(std),
    })
}

/// An ImageFolder zip (`class_name/image.png`) as a dataset for `model`: every image
/// decoded per [`image_spec`], labelled by its folder. The decoded tensors are held whole
/// (as a table's features are).
#[cfg(feature = "images")]
pub fn read_image_zip(file: &str, bytes: &[u8], model: &Model, opts: &ImageOptions) -> Result<Dataset> {
    let spec = image_spec(model, opts)?;
    let mut zip = data::images::ZipImages::new(file, std::io::Cursor::new(bytes))?;
    let folder = zip.folder()?;
    let batch = folder.batch(&mut zip, &spec, 0..folder.len())?;
    image_dataset(file, &spec, folder.classes().to_vec(), &batch.labels, batch.data)
}

/// Decoded images (`features`: `labels.len()` tensors laid out per `spec`) as a dataset, each
/// labelled with its folder's class: the page's image module decodes, the main module runs.
pub fn image_dataset(
    file: &str,
    spec: &data::images::ImageSpec,
    classes: Vec<String>,
    labels: &[usize],
    features: Vec<f32>,
) -> Result<Dataset> {
    let rows = labels.len();
    if features.len() != rows * spec.image_len() || labels.iter().any(|&i| i >= classes.len()) {
        return Err(Error::Malformed {
            loc: Location::file(file),
            message: format!(
                "the decoded images do not fit the model's input: {} floats for {rows} images of {}x{}x{}, labels in 0..{}",
                features.len(),
                spec.channels,
                spec.height,
                spec.width,
                classes.len()
            ),
        });
    }
    let layout = match spec.layout {
        data::images::TensorLayout::Nchw => "NCHW",
        data::images::TensorLayout::Nhwc => "NHWC",
    };
    Ok(Dataset {
        file: file.to_string(),
        names: vec![format!("{}x{}x{} image ({layout})", spec.channels, spec.height, spec.width)],
        features,
        rows,
        labels: Some(("folder".into(), labels.iter().map(|&i| classes[i].clone()).collect())),
        classes: Some(classes),
    })
}

/// Whether `file` is read as an ImageFolder zip of images rather than as a table: the one
/// test the page and [`read_dataset_for`] (the CLI's path) share.
pub fn is_image_zip(file: &str) -> bool {
    file.to_ascii_lowercase().ends_with(".zip")
}

/// A dataset for `model` from any file: an ImageFolder `.zip` (feature `images`), else a
/// table ([`read_dataset`]).
pub fn read_dataset_for<R: Read>(
    model: &Model,
    file: &str,
    reader: R,
    label: Option<&str>,
    images: &ImageOptions,
) -> Result<Dataset> {
    if is_image_zip(file) {
        #[cfg(feature = "images")]
        {
            let (mut reader, mut bytes) = (reader, Vec::new());
            reader.read_to_end(&mut bytes).map_err(|e| Error::Io { file: file.to_string(), message: e.to_string() })?;
            return read_image_zip(file, &bytes, model, images);
        }
        #[cfg(not(feature = "images"))]
        {
            let _ = (model, images);
            return Err(Error::InvalidArgument(format!(
                "{file}: image datasets need webeval built with the `images` feature"
            )));
        }
    }
    read_dataset(file, reader, label)
}

/// Latency per batch and throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Speed {
    pub backend: String,
    pub kernel: String,
    pub batch_size: usize,
    pub batches: usize,
    pub rows: usize,
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_mean: f64,
    pub latency_ms_max: f64,
    pub throughput_rows_per_s: f64,
    pub total_ms: f64,
    /// "gpu" or "cpu" (as `backend`), why, the adapter and what ran elsewhere.
    pub device: DeviceInfo,
    /// Batch latencies binned for the page's histogram (equal-width bins, at most 20).
    pub latency_ms_histogram: Histogram,
}

/// Counts of values in equal-width bins: bin `i` spans `edges[i]..edges[i + 1]` (the last
/// bin includes its upper edge).
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// At most `max_bins` bins (about √n for small n) over the finite values' range.
    pub fn of(values: &[f64], max_bins: usize) -> Histogram {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        if finite.is_empty() {
            return Histogram { edges: Vec::new(), counts: Vec::new() };
        }
        let bins = ((finite.len() as f64).sqrt().ceil() as usize).clamp(1, max_bins.max(1));
        let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
        let mut counts = vec![0u64; bins];
        for v in finite {
            let i = (((v - lo) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
        Histogram { edges: (0..=bins).map(|i| lo + width * i as f64).collect(), counts }
    }
}

/// What the model said about every row.
#[derive(Debug, Clone, Serialize)]
pub struct Predictions {
    /// Class names (score column order); empty for regression.
    pub classes: Vec<String>,
    /// Predicted label (classification) per row.
    pub labels: Vec<String>,
    /// Row-major `rows x classes.len()` probabilities.
    pub probs: Vec<f32>,
    /// Predicted values (regression) per row.
    pub values: Vec<f32>,
    pub notes: Vec<String>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Shape of one batch for the model's first input.
fn batch_shape(model: &Model, features: usize, batch: usize) -> Result<Vec<usize>> {
    let input = model.graph.runtime_inputs().next().ok_or_else(|| Error::Runtime("the model has no inputs".into()))?;
    let dims = input.ty.tensor_shape().unwrap_or(&[]);
    if dims.len() <= 2 {
        return Ok(vec![batch, features]);
    }
    let rest: Option<Vec<usize>> =
        dims[1..].iter().map(|d| if let Dim::Known(v) = d { Some(*v as usize) } else { None }).collect();
    match rest {
        Some(rest) if rest.iter().product::<usize>() == features => {
            let mut s = vec![batch];
            s.extend(rest);
            Ok(s)
        }
        _ => Err(Error::Runtime(format!(
            "the model's input '{}' has shape [{}] but the dataset has {features} feature columns; \
             give a table whose columns flatten to one input row",
            input.name,
            dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// What [`predict_with`] needs to know about a compiled model.
struct Io<'a> {
    inputs: &'a [String],
    outputs: &'a [String],
    class_labels: Option<&'a [String]>,
}

/// Run every row through the model in batches of `batch_size` on the CPU executor.
/// `clock` returns milliseconds.
pub fn predict(
    model: &Model,
    session: &Session,
    ds: &Dataset,
    batch_size: usize,
    clock: &mut dyn FnMut() -> f64,
) -> Result<(Predictions, Speed)> {
    let (inputs, outputs) = (session.input_names(), session.output_names());
    let io = Io { inputs: &inputs, outputs: &outputs, class_labels: session.class_labels.as_deref() };
    let info = DeviceInfo { device: "cpu".into(), reason: "CPU executor".into(), adapter: None, notes: Vec::new() };
    // The CPU executor never waits, so this completes at once on every target.
    super::engine::block_on(predict_with(
        model,
        &io,
        ds,
        batch_size,
        clock,
        async |feeds| session.run(feeds),
        || info.clone(),
    ))
}

/// [`predict`] on the device the engine chose (GPU batches are awaited, not blocked on).
pub async fn predict_on(
    model: &Model,
    engine: &Engine,
    ds: &Dataset,
    batch_size: usize,
    clock: &mut dyn FnMut() -> f64,
) -> Result<(Predictions, Speed)> {
    let io = Io { inputs: engine.input_names(), outputs: engine.output_names(), class_labels: engine.class_labels() };
    predict_with(model, &io, ds, batch_size, clock, async |feeds| engine.run(model, feeds).await, || engine.info())
        .await
}

async fn predict_with(
    model: &Model,
    io: &Io<'_>,
    ds: &Dataset,
    batch_size: usize,
    clock: &mut dyn FnMut() -> f64,
    mut run: impl AsyncFnMut(Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>>,
    device: impl FnOnce() -> DeviceInfo,
) -> Result<(Predictions, Speed)> {
    let batch_size = batch_size.max(1);
    let f = ds.width();
    let input = io.inputs.first().cloned().ok_or_else(|| Error::Runtime("the model has no inputs".into()))?;
    if io.inputs.len() > 1 {
        return Err(Error::Runtime(format!(
            "the model has {} inputs ({}); running a dataset needs a model with one input",
            io.inputs.len(),
            io.inputs.join(", ")
        )));
    }
    let mut times = Vec::new();
    let mut outputs: Vec<Vec<Tensor>> = Vec::new();
    let mut start = 0;
    while start < ds.rows {
        let n = batch_size.min(ds.rows - start);
        let x = Tensor::f32(batch_shape(model, f, n)?, ds.features[start * f..(start + n) * f].to_vec());
        let t0 = clock();
        let out = run(vec![(input.clone(), x)]).await?;
        times.push(clock() - t0);
        outputs.push(out.into_iter().map(|(_, t)| t).collect());
        start += n;
    }
    let total: f64 = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let device = device();
    let speed = Speed {
        backend: device.device.clone(),
        kernel: match &device.adapter {
            Some(a) if device.device == "gpu" => a.clone(),
            _ => super::cpu::best().name.into(),
        },
        batch_size,
        batches: times.len(),
        rows: ds.rows,
        latency_ms_p50: percentile(&sorted, 50.0),
        latency_ms_p95: percentile(&sorted, 95.0),
        latency_ms_p99: percentile(&sorted, 99.0),
        latency_ms_mean: total / times.len().max(1) as f64,
        latency_ms_max: sorted.last().copied().unwrap_or(f64::NAN),
        throughput_rows_per_s: if total > 0.0 { ds.rows as f64 / (total / 1000.0) } else { f64::INFINITY },
        total_ms: total,
        device,
        latency_ms_histogram: Histogram::of(&times, 20),
    };
    let mut preds = interpret(io, &outputs, ds.rows)?;
    ds.name_classes(&mut preds)?;
    Ok((preds, speed))
}

/// Turn raw outputs into labels / probabilities / values.
fn interpret(io: &Io<'_>, batches: &[Vec<Tensor>], rows: usize) -> Result<Predictions> {
    let first = batches.first().ok_or_else(|| Error::Runtime("no rows".into()))?;
    let per_row = |t: &Tensor| t.shape.first().copied().unwrap_or(1);
    // A label output: ints or strings, one per row.
    let label_idx = first.iter().position(|t| matches!(t.data, Data::I64(_) | Data::Str(_)) && t.len() == per_row(t));
    // A score output: floats, >= 1 per row.
    let score_idx = first.iter().position(|t| matches!(t.data, Data::F32(_)) && t.rank() >= 1);
    let mut notes = Vec::new();
    let mut labels = Vec::new();
    if let Some(li) = label_idx {
        for b in batches {
            match &b[li].data {
                Data::I64(v) => labels.extend(v.iter().map(|x| x.to_string())),
                Data::Str(v) => labels.extend(v.iter().cloned()),
                _ => {}
            }
        }
    }
    let Some(si) = score_idx else {
        if labels.len() == rows {
            return Ok(Predictions { classes: Vec::new(), labels, probs: Vec::new(), values: Vec::new(), notes });
        }
        return Err(Error::Runtime("the model has no float score output and no label output".into()));
    };
    let width = first[si].len() / per_row(&first[si]).max(1);
    let mut scores = Vec::with_capacity(rows * width);
    for b in batches {
        scores.extend_from_slice(b[si].as_f32("scores")?);
    }
    if width == 1 && label_idx.is_none() {
        return Ok(Predictions { classes: Vec::new(), labels, probs: Vec::new(), values: scores, notes });
    }
    let classes: Vec<String> = match io.class_labels {
        Some(c) if c.len() == width => c.to_vec(),
        _ => (0..width).map(|i| i.to_string()).collect(),
    };
    let is_prob = scores
        .chunks(width)
        .all(|r| r.iter().all(|&v| (0.0..=1.0).contains(&v)) && (r.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    if !is_prob && width > 1 {
        for r in scores.chunks_mut(width) {
            super::cpu::nn::softmax_strided(r, width, 1, false);
        }
        notes.push(format!(
            "output '{}' is not a probability distribution: softmax applied to get probabilities",
            io.outputs.get(si).map(String::as_str).unwrap_or("?")
        ));
    }
    if labels.len() != rows {
        labels = scores
            .chunks(width)
            .map(|r| classes[r.iter().enumerate().fold(0, |b, (i, &v)| if v > r[b] { i } else { b })].clone())
            .collect();
    }
    Ok(Predictions { classes, labels, probs: scores, values: Vec::new(), notes })
}

/// A predictions table (CSV text) in the predictions-file contract: `y_true` (when the
/// dataset has labels), `y_pred`, and `prob_<class>` per class.
pub fn predictions_csv(ds: &Dataset, p: &Predictions) -> String {
    let mut out = String::new();
    let truth = ds.labels.as_ref().map(|(_, l)| l);
    let mut header = Vec::new();
    if truth.is_some() {
        header.push("y_true".to_string());
    }
    header.push("y_pred".to_string());
    header.extend(p.classes.iter().map(|c| format!("prob_{c}")));
    out.push_str(&header.join(","));
    out.push('\n');
    let w = p.classes.len();
    for r in 0..ds.rows {
        let mut cells = Vec::with_capacity(header.len());
        if let Some(t) = truth {
            cells.push(csv_cell(&t[r]));
        }
        if p.values.len() == ds.rows {
            cells.push(format!("{}", p.values[r]));
        } else {
            cells.push(csv_cell(&p.labels[r]));
        }
        for c in 0..w {
            cells.push(format!("{}", p.probs[r * w + c]));
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Run the model on a labelled dataset (CPU executor) and evaluate its predictions.
pub fn evaluate(
    model: &Model,
    session: &Session,
    ds: &Dataset,
    batch_size: usize,
    clock: &mut dyn FnMut() -> f64,
) -> Result<(crate::report::Report, Predictions, Speed)> {
    need_labels(ds)?;
    let (preds, speed) = predict(model, session, ds, batch_size, clock)?;
    Ok((report_of(ds, &preds)?, preds, speed))
}

/// [`evaluate`] on the device the engine chose.
pub async fn evaluate_on(
    model: &Model,
    engine: &Engine,
    ds: &Dataset,
    batch_size: usize,
    clock: &mut dyn FnMut() -> f64,
) -> Result<(crate::report::Report, Predictions, Speed)> {
    need_labels(ds)?;
    let (preds, speed) = predict_on(model, engine, ds, batch_size, clock).await?;
    let mut report = report_of(ds, &preds)?;
    report.notes.extend(speed.device.notes.iter().cloned());
    Ok((report, preds, speed))
}

fn need_labels(ds: &Dataset) -> Result<()> {
    if ds.labels.is_none() {
        return Err(Error::MissingColumn {
            loc: Location::at(&ds.file, 1, None),
            role: "true-label".into(),
            found: ds.names.join(", "),
            expected: LABEL_NAMES.join("/"),
            flag: "label".into(),
        });
    }
    Ok(())
}

/// The evaluation report of a model's predictions, as of a predictions file.
fn report_of(ds: &Dataset, preds: &Predictions) -> Result<crate::report::Report> {
    let table = predictions_csv(ds, preds);
    let spec = crate::data::ColumnSpec {
        label: Some("y_true".into()),
        pred: Some("y_pred".into()),
        task: (!preds.values.is_empty()).then_some(crate::metrics::Task::Regression),
        ..Default::default()
    };
    let mut progress = |_: u64, _: u64| true;
    let mut report = crate::report::evaluate_csv(&ds.file, table.as_bytes(), &spec, &mut progress)?;
    report.notes.extend(preds.notes.iter().cloned());
    Ok(report)
}
