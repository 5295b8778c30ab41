//! One error type for the whole core.
//!
//! Every message names the thing the user gave us (file, line, column, tensor) and says what
//! was expected, because the page shows it verbatim and nobody should need a debugger to fix
//! their input. Variants are grouped by area; add new ones to the group they belong to.

use std::fmt;

/// Where in a user file something went wrong. `line` and `column` are 1-based, as editors
/// show them; either may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location { file: file.into(), line: None, column: None }
    }
    pub fn at(file: impl Into<String>, line: u64, column: Option<String>) -> Self {
        Location { file: file.into(), line: Some(line), column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", if self.file.is_empty() { "<input>" } else { &self.file })?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(col) = &self.column {
            write!(f, ", column '{col}'")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- data: reading the files a user drops -------------------------------------------
    #[error("{0}: the file is empty; expected a header row followed by one row per example")]
    EmptyFile(Location),
    #[error("{0}: the file has a header but no data rows; expected one row per example")]
    NoRows(Location),
    #[error("{loc}: row has {found} fields but the header has {expected}; check for a missing or extra delimiter or an unquoted delimiter inside a value")]
    RaggedRow { loc: Location, expected: usize, found: usize },
    #[error("{loc}: '{value}' is not a number; expected {expected}")]
    NotNumeric { loc: Location, value: String, expected: String },
    #[error("{loc}: {message}")]
    Malformed { loc: Location, message: String },
    #[error("{loc}: '{value}' is missing or not a finite number (NaN/infinity); expected {expected}. Fix the row, or skip such rows and count them (CLI: --non-finite skip; page: \"skip them\" under rows with a missing number)")]
    NonFinite { loc: Location, value: String, expected: String },
    #[error("{loc}: no {role} column found among [{found}]; name it one of {expected} or pass it explicitly (CLI: --{flag} COL)")]
    MissingColumn { loc: Location, role: String, found: String, expected: String, flag: String },
    #[error("{loc}: column '{name}' was asked for but the header has [{found}]")]
    UnknownColumn { loc: Location, name: String, found: String },
    #[error("{loc}: {message}")]
    ClassMismatch { loc: Location, message: String },
    #[error("cannot read {file}: {message}")]
    Io { file: String, message: String },
    #[error("cancelled")]
    Cancelled,
    /// A size hint said the file's scores would pass the score budget (so they were binned
    /// from its first chunk on), but they did not: whoever passed the hint (the CLI, the
    /// page) reads the file again without it, for the exact report.
    #[error("{file}: its size said its scores would pass the score budget but they did not; read it again without a size hint")]
    Misprojected { file: String },

    // ---- metrics: what can be computed from what was given -------------------------------
    #[error("{0}")]
    InvalidTask(String),
    #[error("{0}")]
    InvalidArgument(String),

    // ---- model: reading ONNX files -------------------------------------------------------
    #[error("{file}: not an ONNX model ({reason}); {hint}")]
    NotOnnx { file: String, reason: String, hint: String },
    #[error("{}", prefixed(file, message))]
    ModelInvalid { file: String, message: String },
    #[error("{}", prefixed(file, &format!("tensor '{tensor}': {message}")))]
    BadTensor { file: String, tensor: String, message: String },
    #[error("{}", prefixed(file, &format!("tensor '{tensor}' keeps its data in the external file '{location}', which {message}; drop that file together with the model (page) or keep it next to the model (CLI)")))]
    ExternalData { file: String, tensor: String, location: String, message: String },
    #[error("{}", prefixed(file, &format!("imports opset {version} of domain '{domain}', but webeval knows that domain up to opset {max}; re-export the model with a supported opset (e.g. torch.onnx.export(..., opset_version={max}))")))]
    UnsupportedOpset { file: String, domain: String, version: i64, max: i64 },

    // ---- runtime: running a model --------------------------------------------------------
    #[error("node '{node}' ({op}): {message}")]
    Node { node: String, op: String, message: String },
    #[error("{0}")]
    Runtime(String),

    // ---- gpu: the wgpu runtime (each of these makes the runtime fall back to the CPU) ------
    #[error("no usable GPU adapter ({0}); running on the CPU instead. Install a Vulkan driver (e.g. Mesa's lavapipe: apt-get install mesa-vulkan-drivers) or use a browser with WebGPU to use the GPU")]
    GpuUnavailable(String),
    #[error("the GPU device was lost ({0}); this batch was discarded. Rerun with the CPU (CLI: --device cpu); the runtime retries on the CPU by itself when it can")]
    GpuDeviceLost(String),
    #[error("tensor '{tensor}' needs {bytes} bytes but this GPU binds at most {limit} bytes per buffer; it runs on the CPU instead (or use a smaller batch)")]
    GpuLimit { tensor: String, bytes: u64, limit: u64 },
    #[error("node '{node}' ({op}) has no GPU kernel: {why}; it runs on the CPU")]
    GpuUnsupported { node: String, op: String, why: String },
    #[error("the GPU rejected a kernel: {0}. This is a webeval bug; rerun with the CPU (CLI: --device cpu) and please report it")]
    Gpu(String),

    // ---- report -------------------------------------------------------------------------
    #[error("could not draw the {plot} plot: {message}")]
    Plot { plot: String, message: String },
    #[error("could not serialise the report: {0}")]
    Serialize(String),
}

/// `file: message`, or just `message` when the file is not known at that point.
fn prefixed(file: &str, message: &str) -> String {
    if file.is_empty() {
        message.to_string()
    } else {
        format!("{file}: {message}")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The same error with its line moved down by `lines`: a chunk of a file is read with
    /// lines counted from its start, and its errors are placed in the file when merged.
    pub fn shift_lines(mut self, lines: u64) -> Self {
        if let Some(loc) = self.location_mut() {
            if let Some(line) = &mut loc.line {
                *line += lines;
            }
        }
        self
    }

    fn location_mut(&mut self) -> Option<&mut Location> {
        match self {
            Error::EmptyFile(loc) | Error::NoRows(loc) => Some(loc),
            Error::RaggedRow { loc, .. }
            | Error::NotNumeric { loc, .. }
            | Error::Malformed { loc, .. }
            | Error::NonFinite { loc, .. }
            | Error::MissingColumn { loc, .. }
            | Error::UnknownColumn { loc, .. }
            | Error::ClassMismatch { loc, .. } => Some(loc),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serialize(e.to_string())
    }
}
