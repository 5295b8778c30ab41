//! The `webeval` command line: the same core as the page, for terminals and CI pipelines.

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use webeval::data::ColumnSpec;
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
    Regression,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a predictions file (CSV/TSV) and print the metrics.
    Eval {
        /// The predictions file; `-` reads standard input.
        file: String,
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
        /// Force the task instead of detecting it.
        #[arg(long, value_enum)]
        task: Option<TaskArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> webeval::Result<String> {
    match cli.command {
        Command::Eval { file, label, score, pred, weight, task, format } => {
            let spec = ColumnSpec {
                label,
                pred,
                score,
                weight,
                task: task.map(|t| match t {
                    TaskArg::Binary => Task::Binary,
                    TaskArg::Multiclass => Task::Multiclass,
                    TaskArg::Regression => Task::Regression,
                }),
            };
            let mut progress = |_: u64, _: u64| true;
            let report = if file == "-" {
                webeval::report::evaluate_csv("<stdin>", std::io::stdin().lock(), &spec, &mut progress)?
            } else {
                let f = std::fs::File::open(&file)
                    .map_err(|e| webeval::Error::Io { file: file.clone(), message: e.to_string() })?;
                webeval::report::evaluate_csv(&file, f, &spec, &mut progress)?
            };
            match format {
                Format::Json => report.to_json(),
                Format::Text => Ok(webeval::report::text::render(&report)),
            }
        }
    }
}
