//! Size probe: what reading Parquet columns into f64/labels costs in a wasm module.
use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use wasm_bindgen::prelude::*;

/// Sum of every numeric cell and the number of rows, read row by row.
#[wasm_bindgen]
pub fn probe(data: Vec<u8>) -> Result<Vec<f64>, JsError> {
    let reader = SerializedFileReader::new(Bytes::from(data)).map_err(|e| JsError::new(&e.to_string()))?;
    let mut sum = 0.0;
    let mut rows = 0.0;
    for row in reader.get_row_iter(None).map_err(|e| JsError::new(&e.to_string()))? {
        let row = row.map_err(|e| JsError::new(&e.to_string()))?;
        rows += 1.0;
        for (_, f) in row.get_column_iter() {
            sum += match f {
                Field::Double(v) => *v,
                Field::Float(v) => f64::from(*v),
                Field::Long(v) => *v as f64,
                Field::Int(v) => f64::from(*v),
                Field::Str(s) => s.len() as f64,
                _ => 0.0,
            };
        }
    }
    Ok(vec![rows, sum])
}
