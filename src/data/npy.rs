//! NumPy `.npy` arrays and `.npz` archives of them.
//!
//! The format is small and fixed (a magic string, a Python-dict header with `descr`,
//! `fortran_order` and `shape`, then raw elements), and the crates for it want the element
//! type at compile time, whereas a dropped file can hold any dtype; so the header is parsed
//! here and elements are turned into text cells on demand. A C-order `.npy` is streamed row
//! by row; Fortran-order arrays and `.npz` members (column-oriented by nature) are read whole.
//!
//! Columns: a 1-D array is one column named after the array (`y_true.npy`, or the `.npz`
//! member name); a 2-D `(n, k)` array spreads over `k` columns named by [`super::expand`].

use super::Rows;
use crate::error::{Error, Location, Result};
use std::fmt::Write as _;
use std::io::{Cursor, Read};

pub const MAGIC: &[u8] = b"\x93NUMPY";
/// Headers are a few hundred bytes; anything past this is not a NumPy file.
const MAX_HEADER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    Bytes,
    Unicode,
}

#[derive(Debug, Clone, Copy)]
struct DType {
    kind: Kind,
    /// Bytes per element.
    size: usize,
    big_endian: bool,
}

#[derive(Debug, Clone)]
struct Header {
    dtype: DType,
    fortran: bool,
    rows: usize,
    cols: usize,
}

fn malformed(file: &str, array: &str, message: String) -> Error {
    let column = (!array.is_empty()).then(|| array.to_string());
    Error::Malformed { loc: Location { file: file.to_string(), line: None, column }, message }
}

fn parse_dtype(file: &str, array: &str, descr: &str) -> Result<DType> {
    let bad = |why: &str| {
        malformed(
            file,
            array,
            format!("dtype '{descr}' {why}; expected numbers (bool, int, uint, float) or strings, e.g. arr.astype('float64')"),
        )
    };
    let mut chars = descr.chars();
    let (big_endian, rest) = match chars.next() {
        Some('>') => (true, chars.as_str()),
        Some('<' | '|' | '=') => (false, chars.as_str()),
        _ => (false, descr),
    };
    let mut rest = rest.chars();
    let code = rest.next().ok_or_else(|| bad("is empty"))?;
    if code == 'O' {
        return Err(bad("holds Python objects, which need pickle"));
    }
    let n: usize = rest.as_str().parse().map_err(|_| bad("has no size"))?;
    let (kind, size) = match (code, n) {
        ('b', 1) => (Kind::Bool, 1),
        ('i', 1 | 2 | 4 | 8) => (Kind::Int, n),
        ('u', 1 | 2 | 4 | 8) => (Kind::UInt, n),
        ('f', 2 | 4 | 8) => (Kind::Float, n),
        ('S' | 'a', n) if n > 0 => (Kind::Bytes, n),
        ('U', n) if n > 0 => (Kind::Unicode, n.checked_mul(4).ok_or_else(|| bad("is too wide"))?),
        ('c', _) => return Err(bad("is complex")),
        _ => return Err(bad("is not supported")),
    };
    Ok(DType { kind, size, big_endian })
}

/// The value after `'key':` in the header dict.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

fn parse_header(file: &str, array: &str, text: &str) -> Result<Header> {
    let bad = |what: &str| malformed(file, array, format!("the .npy header has no readable {what}: {}", text.trim()));
    let descr_raw = dict_value(text, "descr").ok_or_else(|| bad("'descr'"))?;
    if descr_raw.starts_with('[') {
        return Err(malformed(
            file,
            array,
            "structured (record) arrays are not supported; save one plain array per column, e.g. np.savez(f, y_true=..., y_score=...)".into(),
        ));
    }
    let quote = descr_raw.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(|| bad("'descr'"))?;
    let descr = descr_raw[1..].split(quote).next().ok_or_else(|| bad("'descr'"))?;
    let dtype = parse_dtype(file, array, descr)?;
    let fortran = dict_value(text, "fortran_order").ok_or_else(|| bad("'fortran_order'"))?.starts_with("True");
    let shape_raw = dict_value(text, "shape").ok_or_else(|| bad("'shape'"))?;
    let inner = shape_raw.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| bad("'shape'"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("'shape'"))?;
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, k] => (*n, *k),
        _ => {
            return Err(malformed(
                file,
                array,
                format!("has shape {shape:?}; expected one row per example: shape (n,) or (n, k)"),
            ))
        }
    };
    if cols == 0 {
        return Err(malformed(file, array, "has zero columns; expected shape (n,) or (n, k) with k >= 1".into()));
    }
    rows.checked_mul(cols)
        .and_then(|e| e.checked_mul(dtype.size))
        .ok_or_else(|| malformed(file, array, format!("shape ({rows}, {cols}) is too large")))?;
    Ok(Header { dtype, fortran, rows, cols })
}

/// Read magic, version and header from the start of a `.npy` stream.
fn read_header<R: Read>(file: &str, array: &str, r: &mut R) -> Result<Header> {
    let io = |e: std::io::Error| malformed(file, array, format!("is not a complete .npy file ({e})"));
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(io)?;
    if &pre[..6] != MAGIC {
        return Err(malformed(
            file,
            array,
            "does not start with the .npy magic string; expected a file written by np.save".into(),
        ));
    }
    let len = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(io)?;
            usize::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(io)?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(malformed(file, array, format!("has .npy format version {v}; expected 1, 2 or 3"))),
    };
    if len > MAX_HEADER {
        return Err(malformed(file, array, format!("has a {len}-byte header; expected a NumPy array")));
    }
    let mut text = vec![0u8; len];
    r.read_exact(&mut text).map_err(io)?;
    let text = String::from_utf8_lossy(&text);
    parse_header(file, array, &text)
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        0x1f if frac == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(i32::from(e) - 15),
    }
}

/// Append one element as text: integers exactly, floats in Rust's shortest round-trip form
/// (`NaN`, `inf` included, so the non-finite policy sees them), booleans as 1/0.
fn write_elem(dtype: DType, b: &[u8], out: &mut String) {
    macro_rules! int {
        ($t:ty) => {{
            let a = b.try_into().unwrap_or_default();
            let v = if dtype.big_endian { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) };
            let _ = write!(out, "{v}");
        }};
    }
    match (dtype.kind, dtype.size) {
        (Kind::Bool, _) => out.push(if b[0] != 0 { '1' } else { '0' }),
        (Kind::Int, 1) => int!(i8),
        (Kind::Int, 2) => int!(i16),
        (Kind::Int, 4) => int!(i32),
        (Kind::Int, _) => int!(i64),
        (Kind::UInt, 1) => int!(u8),
        (Kind::UInt, 2) => int!(u16),
        (Kind::UInt, 4) => int!(u32),
        (Kind::UInt, _) => int!(u64),
        (Kind::Float, 2) => {
            let a = b.try_into().unwrap_or_default();
            let h = if dtype.big_endian { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) };
            let _ = write!(out, "{}", half_to_f32(h));
        }
        (Kind::Float, 4) => int!(f32),
        (Kind::Float, _) => int!(f64),
        (Kind::Bytes, _) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            out.push_str(&String::from_utf8_lossy(&b[..end]));
        }
        (Kind::Unicode, _) => {
            for c in b.chunks_exact(4) {
                let a = c.try_into().unwrap_or_default();
                let u = if dtype.big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) };
                if u == 0 {
                    break;
                }
                out.push(char::from_u32(u).unwrap_or('\u{fffd}'));
            }
        }
    }
}

/// One array's elements in memory (or one row of them, when streaming).
struct Array {
    header: Header,
    data: Vec<u8>,
}

impl Array {
    fn cell(&self, row: usize, col: usize, out: &mut String) {
        let h = &self.header;
        let idx = if h.fortran { col * h.rows + row } else { row * h.cols + col };
        let at = idx * h.dtype.size;
        write_elem(h.dtype, &self.data[at..at + h.dtype.size], out);
    }
}

fn read_data<R: Read>(file: &str, array: &str, r: &mut R, header: &Header, rows: usize) -> Result<Vec<u8>> {
    let want = rows * header.cols * header.dtype.size;
    let mut data = Vec::new();
    r.take(want as u64).read_to_end(&mut data).map_err(|e| super::io_error(file, e))?;
    if data.len() < want {
        return Err(malformed(
            file,
            array,
            format!("ends after {} of {want} data bytes; the file is truncated", data.len()),
        ));
    }
    Ok(data)
}

/// A single `.npy` file: 1-D (a column named after the file) or 2-D (`prob_0..prob_{k-1}`).
/// Usually paired with a labels file by row.
pub struct NpyRows<R> {
    file: String,
    name: String,
    header_names: Vec<String>,
    reader: R,
    array: Array,
    /// C order: `array.data` holds the current row only.
    streaming: bool,
    row: usize,
}

impl<R: Read> NpyRows<R> {
    pub fn new(file: &str, name: &str, mut reader: R) -> Result<Self> {
        let header = read_header(file, "", &mut reader)?;
        // A lone 2-D array is a predict_proba output whatever the file is called.
        let header_names = super::expand(if header.cols > 1 { "prob" } else { name }, header.cols);
        let streaming = !header.fortran || header.cols == 1;
        let data = if streaming { Vec::new() } else { read_data(file, "", &mut reader, &header, header.rows)? };
        let header = Header { fortran: header.fortran && !streaming, ..header };
        Ok(NpyRows {
            file: file.to_string(),
            name: name.to_string(),
            header_names,
            reader,
            array: Array { header, data },
            streaming,
            row: 0,
        })
    }
}

impl<R: Read> Rows for NpyRows<R> {
    fn header(&self) -> &[String] {
        &self.header_names
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let h = self.array.header.clone();
        if self.row >= h.rows {
            return Ok(None);
        }
        let at_row = if self.streaming {
            self.array.data = read_data(&self.file, &self.name, &mut self.reader, &h, 1).map_err(|_| {
                malformed(&self.file, "", format!("ends at row {} of {}; the file is truncated", self.row + 1, h.rows))
            })?;
            0
        } else {
            self.row
        };
        out.resize_with(h.cols, String::new);
        for (c, cell) in out.iter_mut().enumerate() {
            cell.clear();
            self.array.cell(at_row, c, cell);
        }
        self.row += 1;
        Ok(Some(self.row as u64))
    }
}

/// An `.npz` archive (`np.savez` / `np.savez_compressed`): one column (or `k` columns) per
/// member array, all with the same number of rows.
pub struct ArchiveRows {
    header: Vec<String>,
    /// (array, column within it) per output column.
    sources: Vec<(usize, usize)>,
    arrays: Vec<Array>,
    rows: usize,
    row: usize,
}

impl ArchiveRows {
    pub fn new<R: Read>(file: &str, mut reader: R) -> Result<Self> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|e| super::io_error(file, e))?;
        let zip_err = |e: zip::result::ZipError| {
            malformed(
                file,
                "",
                format!("is not a readable .npz (zip) archive: {e}; expected a file written by np.savez"),
            )
        };
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
        let (mut header, mut sources, mut arrays) = (Vec::new(), Vec::new(), Vec::new());
        let mut rows: Option<(usize, String)> = None;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(zip_err)?;
            let Some(name) = entry.name().strip_suffix(".npy").map(str::to_string) else { continue };
            let h = read_header(file, &name, &mut entry)?;
            match &rows {
                Some((n, first)) if *n != h.rows => {
                    return Err(malformed(
                        file,
                        &name,
                        format!("has {} rows but '{first}' has {n}; every array needs one row per example", h.rows),
                    ))
                }
                Some(_) => {}
                None => rows = Some((h.rows, name.clone())),
            }
            let data = read_data(file, &name, &mut entry, &h, h.rows)?;
            for (c, col) in super::expand(&name, h.cols).into_iter().enumerate() {
                header.push(col);
                sources.push((arrays.len(), c));
            }
            arrays.push(Array { header: h, data });
        }
        let Some((rows, _)) = rows else {
            return Err(malformed(
                file,
                "",
                "holds no .npy arrays; expected np.savez(f, y_true=..., y_pred=...)".into(),
            ));
        };
        Ok(ArchiveRows { header, sources, arrays, rows, row: 0 })
    }
}

impl Rows for ArchiveRows {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        if self.row >= self.rows {
            return Ok(None);
        }
        out.resize_with(self.sources.len(), String::new);
        for (cell, &(a, c)) in out.iter_mut().zip(&self.sources) {
            cell.clear();
            self.arrays[a].cell(self.row, c, cell);
        }
        self.row += 1;
        Ok(Some(self.row as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut text = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text.as_bytes());
        out.extend(data);
        out
    }

    fn rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = NpyRows::new("t.npy", "x", bytes).expect("header");
        let mut out = Vec::new();
        let mut all = Vec::new();
        while r.next_record(&mut out).expect("row").is_some() {
            all.push(out.clone());
        }
        (r.header().to_vec(), all)
    }

    #[test]
    fn reads_dtypes_and_orders() {
        let d: Vec<u8> = [1i32, -2, 3].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(rows(&npy(">i4", false, "(3,)", &d)).1, vec![vec!["1"], vec!["-2"], vec!["3"]]);
        // (2, 3) Fortran: column-major storage of [[1,2,3],[4,5,6]].
        let d: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.5, f64::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (h, r) = rows(&npy("<f8", true, "(2, 3)", &d));
        assert_eq!(h, vec!["prob_0", "prob_1", "prob_2"]);
        assert_eq!(r, vec![vec!["1", "2", "3.5"], vec!["4", "5", "NaN"]]);
        let d: Vec<u8> = [0x3c00u16, 0xc000].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(rows(&npy("<f2", false, "(2,)", &d)).1, vec![vec!["1"], vec!["-2"]]);
        let d: Vec<u8> = "ab\0\0c\0\0\0".chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        assert_eq!(rows(&npy("<U4", false, "(2,)", &d)).1, vec![vec!["ab"], vec!["c"]]);
        assert_eq!(rows(&npy("|b1", false, "(2,)", &[1, 0])).1, vec![vec!["1"], vec!["0"]]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let err = |b: &[u8]| NpyRows::new("t.npy", "x", b).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(&npy("|O", false, "(2,)", &[])).contains("pickle"));
        assert!(err(&npy("<f8", false, "(2, 2, 2)", &[])).contains("shape (n,) or (n, k)"));
        let bytes = npy("<f8", false, "(2,)", &[0; 8]);
        let mut r = NpyRows::new("t.npy", "x", &bytes[..]).expect("header");
        let mut out = Vec::new();
        assert!(r.next_record(&mut out).is_ok());
        let e = r.next_record(&mut out).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("row 2 of 2") && e.contains("truncated"), "{e}");
    }
}
