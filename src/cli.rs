//! The `webeval` command line: the same core as the page, for terminals and CI pipelines.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;
use webeval::data::{ColumnSpec, NonFinite};
use webeval::metrics::ci::CiOptions;
use webeval::metrics::Task;

#[derive(Parser)]
#[command(name = "webeval", version, about = "Evaluate model predictions, inspect and run small ONNX models.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum TaskArg {
    Binary,
    Multiclass,
    Multilabel,
    Regression,
}

#[derive(Clone, Copy, ValueEnum)]
enum NonFiniteArg {
    Reject,
    Skip,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Gpu,
}

impl From<DeviceArg> for webeval::runtime::DevicePref {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => Self::Auto,
            DeviceArg::Cpu => Self::Cpu,
            DeviceArg::Gpu => Self::Gpu,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a predictions file (CSV/TSV, JSON Lines/JSON, .npy/.npz, optionally .gz) and print the metrics.
    Eval {
        /// The predictions file; `-` reads standard input. Not needed with --model/--data.
        #[arg(required_unless_present = "model")]
        file: Option<String>,
        /// Run this ONNX model on --data and evaluate its predictions (instead of FILE).
        #[arg(long, value_name = "MODEL.onnx", requires = "data", conflicts_with = "file")]
        model: Option<String>,
        /// With --model: the dataset (features + the --label column), CSV/TSV/JSONL/NPY.
        #[arg(long, value_name = "DATA", requires = "model")]
        data: Option<String>,
        /// With --model: rows per inference batch.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Where the model runs: the GPU when there is one and it covers every op (auto), or
        /// forced (gpu: ops without a GPU kernel run on the CPU, noted in the report).
        #[arg(long, value_enum, default_value = "auto")]
        device: DeviceArg,
        /// A separate file with the true labels, matched to the predictions by row.
        #[arg(long = "labels", value_name = "FILE")]
        labels_file: Option<String>,
        /// With --labels: join the two files on this column instead of matching rows in order.
        #[arg(long, value_name = "COL", requires = "labels_file")]
        id: Option<String>,
        /// Rows with a missing, NaN or infinite value: stop with an error, or skip and count them.
        #[arg(long, value_enum, default_value = "reject")]
        non_finite: NonFiniteArg,
        /// True-label column (default: label/y_true/target).
        #[arg(long)]
        label: Option<String>,
        /// Positive-class score column for binary tasks (default: score/prob/y_score).
        #[arg(long)]
        score: Option<String>,
        /// Predicted label or value column (default: pred/y_pred/prediction).
        #[arg(long)]
        pred: Option<String>,
        /// Sample-weight column (default: weight).
        #[arg(long)]
        weight: Option<String>,
        /// Per-class score columns in class order, comma-separated (default: the prob_<class>
        /// columns); the class is the name less a prob_/p_/proba_ prefix.
        #[arg(long, value_name = "COL,COL,...", value_delimiter = ',')]
        probs: Vec<String>,
        /// Force the task instead of detecting it.
        #[arg(long, value_enum)]
        task: Option<TaskArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Confidence intervals at this level (e.g. 0.95): each metric becomes
        /// {"value","ci_low","ci_high","ci_method"} (bootstrap; Wilson / DeLong where they apply).
        #[arg(long, value_name = "LEVEL")]
        ci: Option<f64>,
        /// Bootstrap replicates for --ci.
        #[arg(long, default_value_t = 200)]
        ci_replicates: usize,
        /// Bootstrap seed for --ci (same seed, same intervals).
        #[arg(long, default_value_t = 0x5EED)]
        ci_seed: u64,
        /// Most scores kept for exact ROC-AUC / average precision of a binary score (default
        /// 2^26); past it they are binned and the report gives each value's error bound.
        #[arg(long, value_name = "SCORES")]
        score_budget: Option<usize>,
        /// Read the file on one thread and feed the metrics on another (same report; faster
        /// when a core is free, slower on a busy machine).
        #[arg(long)]
        pipelined: bool,
        /// Threads reading one uncompressed CSV/TSV file, and computing a multiclass file's
        /// per-class ROC/PR walks (0: one per CPU available). The file is cut into 16 MiB
        /// chunks merged in file order, so any number gives the same report.
        #[arg(long, value_name = "N", default_value_t = 0)]
        threads: u16,
    },
    /// Run an ONNX model on a dataset; write its predictions (CSV: y_true, y_pred, prob_<class>)
    /// and print latency per batch (p50/p95/p99) and throughput.
    Run {
        /// The .onnx model.
        model: String,
        /// The dataset: one row per example, every column except the label is a feature.
        data: String,
        /// Where to write the predictions CSV (default: standard output, speed to stderr).
        #[arg(long)]
        out: Option<String>,
        /// True-label column, copied to the output as y_true (default: label/y_true/target).
        #[arg(long)]
        label: Option<String>,
        /// Rows per inference batch.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Where the model runs: the GPU when there is one and it covers every op (auto), or
        /// forced (gpu: ops without a GPU kernel run on the CPU, noted in the report).
        #[arg(long, value_enum, default_value = "auto")]
        device: DeviceArg,
    },
    /// Inspect an ONNX model: parameters, MACs/FLOPs and activation memory, per layer and in total.
    Inspect {
        /// The .onnx file; external data files are read from its folder.
        model: String,
        /// Batch size for the counts (binds the leading free dimension of each input).
        #[arg(long, default_value_t = 1)]
        batch: u64,
        /// Value of a named free dimension, NAME=VALUE (repeatable), e.g. --dim sequence=128.
        #[arg(long = "dim", value_name = "NAME=VALUE")]
        dims: Vec<String>,
        /// Full shape of an input, NAME=1x3x224x224 (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=SHAPE")]
        input_shapes: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Text format: list this many layers with the most MACs (0: every layer, in graph order).
        #[arg(long, default_value_t = 25)]
        top: usize,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            // A reader that stops early (`| head`) closes the pipe: that is not an error, and
            // `println!` would panic on it.
            match writeln!(std::io::stdout().lock(), "{out}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: could not write the output: {e}");
                    ExitCode::from(2)
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> webeval::Result<String> {
    match cli.command {
        Command::Inspect { model, batch, dims, input_shapes, format, top } => {
            let mut opts = webeval::model::ShapeOptions { batch, ..Default::default() };
            for d in &dims {
                opts.add_dim(d)?;
            }
            for s in &input_shapes {
                opts.add_input_shape(s)?;
            }
            let card = webeval::model::inspect_path(std::path::Path::new(&model), &opts)?;
            match format {
                Format::Json => card.to_json(),
                Format::Text => Ok(webeval::model::text::render(&card, top)),
            }
        }
        Command::Run { model, data, out, label, batch_size, device } => {
            run_model(&model, &data, out, label, batch_size, device.into())
        }
        Command::Eval { model: Some(model), data: Some(data), label, batch_size, device, format, .. } => {
            eval_model(&model, &data, label, batch_size, device.into(), format)
        }
        Command::Eval {
            file,
            labels_file,
            id,
            non_finite,
            label,
            score,
            pred,
            weight,
            probs,
            task,
            format,
            ci,
            ci_replicates,
            ci_seed,
            score_budget,
            pipelined,
            threads,
            ..
        } => {
            let file = file.ok_or_else(|| {
                webeval::Error::InvalidArgument("give a predictions FILE, or --model and --data".into())
            })?;
            let spec = ColumnSpec {
                label,
                pred,
                score,
                weight,
                task: task.map(|t| match t {
                    TaskArg::Binary => Task::Binary,
                    TaskArg::Multiclass => Task::Multiclass,
                    TaskArg::Multilabel => Task::Multilabel,
                    TaskArg::Regression => Task::Regression,
                }),
                non_finite: match non_finite {
                    NonFiniteArg::Reject => NonFinite::Reject,
                    NonFiniteArg::Skip => NonFinite::Skip,
                },
                id,
                probs,
                ..ColumnSpec::default()
            };
            let options = webeval::report::Options {
                ci: ci.map(|level| CiOptions { level, replicates: ci_replicates, seed: ci_seed }),
                score_budget,
                sketch_bytes: None,
                pipelined,
                threads: match threads {
                    0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                    n => usize::from(n),
                },
                ..webeval::report::Options::default()
            };
            let total = (file != "-").then(|| std::fs::metadata(&file).ok()).flatten().map(|m| m.len());
            let options = webeval::report::Options { size_hint: total, ..options };
            let bar = progress_bar(total);
            let mut progress = |bytes: u64, rows: u64| {
                bar.set_position(bytes);
                bar.set_message(format!("{rows} rows"));
                true
            };
            // Files by path (Parquet needs random access); `-` streams stdin.
            let input = |name: &str| -> webeval::Result<(String, webeval::data::Opened<'static>)> {
                if name == "-" {
                    let stdin: Box<dyn std::io::Read> = Box::new(std::io::stdin().lock());
                    return Ok(("<stdin>".into(), webeval::data::open("<stdin>", stdin, None)?));
                }
                Ok((name.to_string(), webeval::data::open_path(name)?))
            };
            let evaluate = |options: &webeval::report::Options| match &labels_file {
                None if file != "-" && !pipelined => {
                    webeval::report::evaluate_path(&file, &spec, options, &mut progress)
                }
                None => {
                    let (name, opened) = input(&file)?;
                    webeval::report::evaluate_opened(&name, opened, &spec, options, &mut progress)
                }
                Some(l) => {
                    let (name, opened) = input(&file)?;
                    let (lname, lopened) = input(l)?;
                    webeval::report::evaluate_with_labels_opened(
                        (&name, opened),
                        (&lname, lopened),
                        &spec,
                        options,
                        &mut progress,
                    )
                }
            };
            // a file whose size misjudged its rows is read again without the hint
            let report = webeval::report::retry_without_hint(&options, evaluate)?;
            bar.finish_and_clear();
            match format {
                Format::Json => report.to_json(),
                Format::Text => Ok(webeval::report::text::render(&report)),
            }
        }
    }
}

/// Bytes read of `total` (when the size is known), on stderr; hidden when stderr is not a terminal.
fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}"
    } else {
        "{spinner} {bytes} {bytes_per_sec} {msg}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Load a model and a dataset for `run` / `eval --model`.
fn load_model_and_data(
    model: &str,
    data: &str,
    label: Option<&str>,
    device: webeval::runtime::DevicePref,
) -> webeval::Result<(webeval::model::Model, webeval::runtime::Engine, webeval::runtime::infer::Dataset)> {
    let m = webeval::model::Model::from_path(std::path::Path::new(model), webeval::model::LoadOptions::default())?;
    let session = webeval::runtime::Engine::new_blocking(&m, device)?;
    let f =
        std::fs::File::open(data).map_err(|e| webeval::Error::Io { file: data.to_string(), message: e.to_string() })?;
    let images = webeval::runtime::infer::ImageOptions::default();
    let ds = webeval::runtime::infer::read_dataset_for(&m, data, f, label, &images)?;
    Ok((m, session, ds))
}

fn clock() -> impl FnMut() -> f64 {
    let start = std::time::Instant::now();
    move || start.elapsed().as_secs_f64() * 1000.0
}

fn run_model(
    model: &str,
    data: &str,
    out: Option<String>,
    label: Option<String>,
    batch: usize,
    device: webeval::runtime::DevicePref,
) -> webeval::Result<String> {
    let (m, engine, ds) = load_model_and_data(model, data, label.as_deref(), device)?;
    let (preds, speed) =
        webeval::runtime::engine::block_on(webeval::runtime::infer::predict_on(&m, &engine, &ds, batch, &mut clock()))?;
    let table = webeval::runtime::infer::predictions_csv(&ds, &preds);
    let speed_json = serde_json::to_string_pretty(&speed)?;
    match out {
        Some(path) => {
            std::fs::write(&path, table)
                .map_err(|e| webeval::Error::Io { file: path.clone(), message: e.to_string() })?;
            Ok(speed_json)
        }
        None => {
            eprintln!("{speed_json}");
            Ok(table.trim_end().to_string())
        }
    }
}

fn eval_model(
    model: &str,
    data: &str,
    label: Option<String>,
    batch: usize,
    device: webeval::runtime::DevicePref,
    format: Format,
) -> webeval::Result<String> {
    let (m, engine, ds) = load_model_and_data(model, data, label.as_deref(), device)?;
    let (report, _, speed) = webeval::runtime::engine::block_on(webeval::runtime::infer::evaluate_on(
        &m,
        &engine,
        &ds,
        batch,
        &mut clock(),
    ))?;
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(&report)?;
            if let serde_json::Value::Object(o) = &mut v {
                o.insert("speed".into(), serde_json::to_value(&speed)?);
            }
            Ok(serde_json::to_string_pretty(&v)?)
        }
        Format::Text => {
            let mut s = webeval::report::text::render(&report);
            s.push_str(&format!(
                "\nspeed ({} kernel, batch {}): p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms per batch; {:.0} rows/s\n",
                speed.kernel,
                speed.batch_size,
                speed.latency_ms_p50,
                speed.latency_ms_p95,
                speed.latency_ms_p99,
                speed.throughput_rows_per_s
            ));
            s.push_str(&format!("ran on: {} ({})\n", speed.device.device, speed.device.reason));
            Ok(s)
        }
    }
}
