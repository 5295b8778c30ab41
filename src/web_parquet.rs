//! The page's second wasm module: the Parquet decoder alone (the lib built with the feature
//! `parquet-module`, in which this replaces `web` as the JavaScript boundary).
//!
//! The main module has no room for a Parquet reader under the page's size budget, so the
//! worker loads this one only when a dropped file starts with `PAR1`. It reads the file
//! through `read(start, length)` (a `File.slice` in the worker: the footer from the end, then
//! each row group's column chunks), and hands rows on as CSV text
//! ([`ParquetRows::write_csv`]) to the main module's `evaluateStream`/`detectColumns`, whose
//! delimited-text reader then sees the very cells the CLI's Parquet reader gives.

use crate::data::parquet::{ParquetRows, Source};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The worker's `read(start, length) -> Uint8Array` over the dropped `File`.
struct JsFile {
    read: js_sys::Function,
    size: u64,
}

impl Source for JsFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let chunk = self
            .read
            .call2(&JsValue::NULL, &JsValue::from_f64(start as f64), &JsValue::from_f64(len as f64))
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let bytes = js_sys::Uint8Array::new(&chunk).to_vec();
        if bytes.len() != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read {} of {len} bytes at offset {start}", bytes.len()),
            ));
        }
        Ok(bytes)
    }
}

/// An open Parquet file: its footer is read; rows come as CSV text.
#[wasm_bindgen]
pub struct ParquetFile {
    rows: ParquetRows<JsFile>,
}

#[wasm_bindgen]
impl ParquetFile {
    /// Read the footer of `name` (`size` bytes) through `read(start, length)`.
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str, size: f64, read: js_sys::Function) -> Result<ParquetFile, JsError> {
        let rows = ParquetRows::new(name, JsFile { read, size: size as u64 }).map_err(js_err)?;
        Ok(ParquetFile { rows })
    }

    /// JSON `[{name, type, readable}]`: each column and its Parquet type.
    pub fn columns(&self) -> String {
        let cols: Vec<serde_json::Value> = self
            .rows
            .describe()
            .into_iter()
            .map(|(name, ty, readable)| serde_json::json!({ "name": name, "type": ty, "readable": readable }))
            .collect();
        serde_json::Value::Array(cols).to_string()
    }

    /// Decode only these columns (by name) from the next row group on; an error names a column
    /// that is absent or of a type that cannot be a label, prediction, score or weight.
    pub fn select(&mut self, names: Vec<String>) -> Result<(), JsError> {
        self.rows.select_names(&names).map_err(js_err)
    }

    /// The header as a CSV line, for column detection (reads no rows).
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.rows.write_header(&mut out);
        out
    }

    /// The next rows as CSV text (the header first), at least `min_bytes` unless the file
    /// ends; empty at the end.
    pub fn text(&mut self, min_bytes: usize) -> Result<Vec<u8>, JsError> {
        let mut out = Vec::with_capacity(min_bytes + (1 << 12));
        self.rows.write_csv(&mut out, min_bytes).map_err(js_err)?;
        Ok(out)
    }

    /// File bytes up to the end of the last row group read (for progress).
    pub fn position(&self) -> f64 {
        self.rows.byte_counter().get() as f64
    }

    /// Rows in the file, from its footer.
    pub fn rows(&self) -> f64 {
        self.rows.total_rows() as f64
    }
}
