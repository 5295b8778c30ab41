//! Apache Parquet files, read one row group at a time.
//!
//! Parquet keeps its index (the schema and where each column chunk lies) in a footer at the
//! end of the file, so it cannot stream from a pipe: a reader needs random access, a
//! [`Source`] (natively a `File`; in the page, `File.slice` in the worker). The footer is read
//! first; then, per row group, only the byte ranges of the columns the evaluation uses
//! ([`Rows::select`]) are fetched and decoded, so memory is bounded by one row group's
//! columns, not the file.
//!
//! Cells become the same bytes a CSV of the table would hold (integers and decimals exactly,
//! floats as their shortest round-trip text, booleans `1`/`0`, a null as an empty cell), so
//! the column detection, the missing-value policy and the feed are those of delimited text,
//! and the page's Parquet module can hand its rows to the main module as CSV text
//! ([`ParquetRows::write_csv`]) and get the very report the CLI gives. Record numbers in
//! messages are the lines of that CSV (row r, 1-based, is line r + 1, the header being line 1,
//! unless a cell above holds a line break).
//!
//! Read: boolean, int32/int64 (signed or unsigned), float, double, float16, decimals,
//! strings (plain or dictionary-encoded) and binary, required or nullable, in uncompressed,
//! snappy or gzip column chunks. Nested columns (lists, structs, maps), dates and timestamps
//! appear in the header but are refused, with their type, when chosen for a role.

mod zstd;

use super::{ByteCounter, Record, Rows};
use crate::error::{Error, Location, Result};
use bytes::Bytes;
use parquet::basic::{Compression, ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::column::reader::{get_column_reader, ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::errors::ParquetError;
use parquet::file::metadata::page_index::RowGroupPageIndex;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length, RowGroupReader as _};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::schema::types::Type as SchemaType;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The first and last four bytes of every Parquet file.
pub const MAGIC: &[u8] = b"PAR1";
/// The magic of a file with an encrypted footer.
const MAGIC_ENCRYPTED: &[u8] = b"PARE";
/// Values decoded per call into a column reader (then turned into text and dropped).
const BATCH: usize = 8192;
/// Footers past this size are refused before allocating (real ones are kilobytes to a few MB).
const MAX_FOOTER: u64 = 256 << 20;

/// Random access to a file's bytes.
pub trait Source {
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// `len` bytes from `start` (the caller keeps ranges within [`Source::size`]).
    fn read_at(&mut self, start: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

#[cfg(not(target_arch = "wasm32"))]
impl Source for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&mut self, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        self.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0; len];
        self.read_exact(&mut buf)?;
        Ok(buf)
    }
}

/// How a column's values become cell text.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    Float16,
    /// An integer (int32/int64 physical) or big-endian two's complement bytes, over 10^scale.
    Decimal(u32),
    /// Strings and other byte arrays, as they are.
    Text,
    /// What the column is, for the message when it is chosen ("a list (nested) column").
    Unsupported(String),
}

struct Column {
    name: String,
    /// The leaf (physical column) index, for top-level primitive columns.
    leaf: Option<usize>,
    kind: Kind,
    /// Definition level of a present value (0: required, 1: nullable).
    max_def: i16,
}

/// One column's cells of the current row group as text: cell i is
/// `text[ends[i - 1]..ends[i]]` (a null is empty).
#[derive(Default)]
struct Cells {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Cells {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

/// A Parquet file as [`Rows`].
pub struct ParquetRows<S: Source> {
    file: String,
    source: S,
    size: u64,
    meta: ParquetMetaData,
    header: Vec<String>,
    columns: Vec<Column>,
    /// Decoded cells of the current row group, for the selected columns.
    cells: Vec<Option<Cells>>,
    next_group: usize,
    group_rows: usize,
    pos: usize,
    row: u64,
    /// The CSV line the next row starts on (a cell with a line break spans several).
    line: u64,
    bytes: ByteCounter,
    scratch: Record,
    wrote_header: bool,
}

fn malformed(file: &str, column: Option<&str>, message: String) -> Error {
    Error::Malformed {
        loc: Location { file: file.to_string(), line: None, column: column.map(str::to_string) },
        message,
    }
}

fn damaged(file: &str, column: Option<&str>, what: &str, e: impl std::fmt::Display) -> Error {
    malformed(
        file,
        column,
        format!("{what}: {e}; the Parquet file is damaged or cut short (expected a complete file, as written by pyarrow, pandas or Spark)"),
    )
}

/// What an unsupported column is, or how to read a supported one.
fn kind_of(t: &SchemaType) -> Kind {
    let info = t.get_basic_info();
    if t.is_group() {
        let what = match (info.logical_type_ref(), info.converted_type()) {
            (Some(LogicalType::List), _) | (_, ConvertedType::LIST) => "a list (nested) column",
            (Some(LogicalType::Map), _) | (_, ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE) => {
                "a map (nested) column"
            }
            _ => "a struct (nested) column",
        };
        return Kind::Unsupported(what.into());
    }
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return Kind::Unsupported("a repeated (list) column".into());
    }
    let physical = t.get_physical_type();
    let unsupported = |what: &str| Kind::Unsupported(format!("{what} ({physical})"));
    let scale = || u32::try_from(t.get_scale()).unwrap_or(0);
    match (info.logical_type_ref(), info.converted_type()) {
        (Some(LogicalType::Decimal(d)), _) => return Kind::Decimal(u32::try_from(d.scale).unwrap_or(0)),
        (_, ConvertedType::DECIMAL) => return Kind::Decimal(scale()),
        (Some(LogicalType::Date), _) | (_, ConvertedType::DATE) => return unsupported("a date column"),
        (Some(LogicalType::Time(_)), _) | (_, ConvertedType::TIME_MILLIS | ConvertedType::TIME_MICROS) => {
            return unsupported("a time-of-day column")
        }
        (Some(LogicalType::Timestamp(_)), _)
        | (_, ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS) => {
            return unsupported("a timestamp column")
        }
        (Some(LogicalType::Integer(i)), _) if !i.is_signed => return Kind::UInt,
        (_, ConvertedType::UINT_8 | ConvertedType::UINT_16 | ConvertedType::UINT_32 | ConvertedType::UINT_64) => {
            return Kind::UInt
        }
        (Some(LogicalType::Float16), _) => return Kind::Float16,
        (Some(LogicalType::Uuid), _) => return unsupported("a UUID column"),
        (_, ConvertedType::INTERVAL) => return unsupported("an interval column"),
        _ => {}
    }
    match physical {
        Physical::BOOLEAN => Kind::Bool,
        Physical::INT32 | Physical::INT64 => Kind::Int,
        Physical::FLOAT | Physical::DOUBLE => Kind::Float,
        Physical::BYTE_ARRAY => Kind::Text,
        Physical::INT96 => unsupported("an INT96 timestamp column"),
        Physical::FIXED_LEN_BYTE_ARRAY => unsupported("a fixed-length binary column"),
    }
}

/// The file's bytes for one row group: the fetched column chunks, each at its file offset.
struct Fetched {
    size: u64,
    ranges: Vec<(u64, Bytes)>,
}

impl Fetched {
    fn find(&self, start: u64) -> parquet::errors::Result<Bytes> {
        // Chunks may touch: an offset where one ends and the next starts is the next one's.
        let within = |(at, bytes): &&(u64, Bytes)| start >= *at && start < *at + bytes.len() as u64;
        let at_end = |(at, bytes): &&(u64, Bytes)| start == *at + bytes.len() as u64;
        if let Some((at, bytes)) = self.ranges.iter().find(within).or_else(|| self.ranges.iter().find(at_end)) {
            return Ok(bytes.slice((start - at) as usize..));
        }
        Err(ParquetError::EOF(format!("no column chunk holds file offset {start}")))
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        Ok(self.find(start)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let b = self.find(start)?;
        if b.len() < length {
            return Err(ParquetError::EOF(format!("{length} bytes at offset {start} run past their column chunk")));
        }
        Ok(b.slice(..length))
    }
}

impl<S: Source> ParquetRows<S> {
    /// Read the footer (schema, row groups); no data yet. Every readable column is selected.
    pub fn new(file: &str, mut source: S) -> Result<Self> {
        let size = source.size();
        let io = |e: std::io::Error| Error::Io { file: file.to_string(), message: e.to_string() };
        if size < 12 {
            return Err(malformed(
                file,
                None,
                format!("is {size} bytes long; a Parquet file is at least 12 (PAR1, data, footer, PAR1)"),
            ));
        }
        let tail = source.read_at(size - 8, 8).map_err(io)?;
        let head = source.read_at(0, 4).map_err(io)?;
        if &tail[4..] == MAGIC_ENCRYPTED {
            return Err(malformed(
                file,
                None,
                "has an encrypted footer, which webeval does not read; expected a plain Parquet file".into(),
            ));
        }
        if head != MAGIC || &tail[4..] != MAGIC {
            return Err(malformed(
                file,
                None,
                "does not start and end with PAR1; the Parquet file is cut short or damaged (expected a complete file)"
                    .into(),
            ));
        }
        let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        if footer + 12 > size || footer > MAX_FOOTER {
            return Err(malformed(
                file,
                None,
                format!("its footer claims {footer} bytes but the file has {size}; the Parquet file is cut short or damaged"),
            ));
        }
        let footer_bytes = source.read_at(size - 8 - footer, footer as usize).map_err(io)?;
        let meta =
            ParquetMetaDataReader::decode_metadata(&footer_bytes).map_err(|e| damaged(file, None, "its footer", e))?;
        let schema = meta.file_metadata().schema_descr();
        let mut columns = Vec::new();
        let mut leaf = 0;
        for field in schema.root_schema().get_fields() {
            let kind = kind_of(field);
            let leaves = count_leaves(field);
            let primitive = field.is_primitive();
            let max_def = if primitive { schema.column(leaf).max_def_level() } else { 0 };
            columns.push(Column {
                name: field.name().trim().to_string(),
                leaf: primitive.then_some(leaf),
                kind,
                max_def,
            });
            leaf += leaves;
        }
        if columns.is_empty() {
            return Err(Error::EmptyFile(Location::file(file)));
        }
        let header = columns.iter().map(|c| c.name.clone()).collect();
        let cells = columns.iter().map(|c| (!matches!(c.kind, Kind::Unsupported(_))).then(Cells::default)).collect();
        Ok(ParquetRows {
            file: file.to_string(),
            source,
            size,
            meta,
            header,
            columns,
            cells,
            next_group: 0,
            group_rows: 0,
            pos: 0,
            row: 0,
            line: 0,
            bytes: ByteCounter::default(),
            scratch: Record::default(),
            wrote_header: false,
        })
    }

    /// Counts the file bytes read up to the end of the last row group fetched (progress).
    pub fn byte_counter(&self) -> ByteCounter {
        self.bytes.clone()
    }

    /// Rows in the file, from its footer.
    pub fn total_rows(&self) -> u64 {
        u64::try_from(self.meta.file_metadata().num_rows()).unwrap_or(0)
    }

    /// Each column's name and Parquet type as text ("double", "string", "list (nested)").
    pub fn describe(&self) -> Vec<(String, String, bool)> {
        let schema = self.meta.file_metadata().schema_descr();
        self.columns
            .iter()
            .map(|c| {
                let ty = match (&c.kind, c.leaf) {
                    (Kind::Unsupported(what), _) => what.clone(),
                    (_, Some(leaf)) => {
                        let d = schema.column(leaf);
                        match d.logical_type_ref() {
                            Some(l) => format!("{} ({l:?})", d.physical_type()),
                            None => d.physical_type().to_string(),
                        }
                    }
                    (_, None) => String::new(),
                };
                (c.name.clone(), ty, !matches!(c.kind, Kind::Unsupported(_)))
            })
            .collect()
    }

    /// Decode only these columns from the next row group on; refuse one that cannot be read.
    fn choose(&mut self, chosen: &[usize]) -> Result<()> {
        for &c in chosen {
            let Some(col) = self.columns.get(c) else { continue };
            if let Kind::Unsupported(what) = &col.kind {
                return Err(malformed(
                    &self.file,
                    Some(&col.name),
                    format!(
                        "is {what}, which cannot be a label, prediction, score or weight; expected a flat column of numbers (boolean, int32, int64, float, double, decimal) or strings"
                    ),
                ));
            }
        }
        for (i, cells) in self.cells.iter_mut().enumerate() {
            let keep = chosen.contains(&i);
            match (keep, cells.is_some()) {
                (true, false) => *cells = Some(Cells::default()),
                (false, true) => *cells = None,
                _ => {}
            }
        }
        Ok(())
    }

    /// Select by name (the page's Parquet module gets names from the mapping).
    pub fn select_names(&mut self, names: &[String]) -> Result<()> {
        let mut chosen = Vec::new();
        for n in names {
            match self.header.iter().position(|h| h == n.trim()) {
                Some(i) => chosen.push(i),
                None => {
                    return Err(Error::UnknownColumn {
                        loc: Location::file(&self.file),
                        name: n.clone(),
                        found: self.header.join(", "),
                    })
                }
            }
        }
        self.choose(&chosen)
    }

    /// Fetch and decode the next row group with rows; false at the end of the file.
    fn load_group(&mut self) -> Result<bool> {
        let groups = self.meta.num_row_groups();
        while self.next_group < groups {
            let g = self.next_group;
            self.next_group += 1;
            let rg = self.meta.row_group(g);
            let rows = usize::try_from(rg.num_rows())
                .map_err(|_| malformed(&self.file, None, format!("row group {g} has {} rows", rg.num_rows())))?;
            let mut fetched = Fetched { size: self.size, ranges: Vec::new() };
            let mut extent = 0;
            for (c, col) in self.columns.iter().enumerate() {
                let Some(leaf) = col.leaf else { continue };
                let (start, len) = rg.column(leaf).byte_range();
                let end = start.checked_add(len).filter(|&e| e <= self.size - 8).ok_or_else(|| {
                    malformed(
                        &self.file,
                        Some(&col.name),
                        format!(
                            "row group {g}'s data lies at bytes {start}..{} but the file has {}; the Parquet file is cut short or damaged",
                            start.saturating_add(len),
                            self.size
                        ),
                    )
                })?;
                extent = extent.max(end);
                if self.cells[c].is_some() {
                    let codec = rg.column(leaf).compression();
                    if !matches!(
                        codec,
                        Compression::UNCOMPRESSED
                            | Compression::SNAPPY
                            | Compression::GZIP(_)
                            | Compression::ZSTD(_)
                            | Compression::LZ4
                            | Compression::LZ4_RAW
                    ) {
                        return Err(malformed(
                            &self.file,
                            Some(&col.name),
                            format!("is compressed with {}, which webeval does not decode; expected zstd, snappy, gzip, lz4 or no compression (pyarrow: write_table(table, path, compression=\"zstd\"))", codec.to_string().split('(').next().unwrap_or_default()),
                        ));
                    }
                    let bytes = self
                        .source
                        .read_at(start, len as usize)
                        .map_err(|e| Error::Io { file: self.file.clone(), message: e.to_string() })?;
                    fetched.ranges.push((start, Bytes::from(bytes)));
                }
            }
            let props = Arc::new(ReaderProperties::builder().build());
            let (rg, zstd) =
                zstd::as_uncompressed(rg).map_err(|e| damaged(&self.file, None, &format!("row group {g}"), e))?;
            let reader = SerializedRowGroupReader::new(Arc::new(fetched), &rg, RowGroupPageIndex::new(g, None), props)
                .map_err(|e| damaged(&self.file, None, &format!("row group {g}"), e))?;
            for (c, col) in self.columns.iter().enumerate() {
                let (Some(cells), Some(leaf)) = (self.cells[c].as_mut(), col.leaf) else { continue };
                cells.clear();
                let what = format!("row group {g}");
                let mut pages =
                    reader.get_column_page_reader(leaf).map_err(|e| damaged(&self.file, Some(&col.name), &what, e))?;
                if zstd[leaf] {
                    pages = Box::new(zstd::Pages::new(pages, rg.column(leaf).uncompressed_size()));
                }
                let column = get_column_reader(rg.column(leaf).column_descr_ptr(), pages);
                decode(column, &col.kind, col.max_def, rows, cells)
                    .map_err(|e| damaged(&self.file, Some(&col.name), &what, e))?;
                if cells.ends.len() != rows {
                    return Err(damaged(
                        &self.file,
                        Some(&col.name),
                        &what,
                        format!("{} values for {rows} rows", cells.ends.len()),
                    ));
                }
            }
            self.bytes.0.fetch_max(extent, Ordering::Relaxed);
            self.group_rows = rows;
            self.pos = 0;
            if rows > 0 {
                return Ok(true);
            }
        }
        self.bytes.0.fetch_max(self.size, Ordering::Relaxed);
        Ok(false)
    }

    /// The header as a CSV line (what column detection needs), without consuming anything.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        for (i, name) in self.header.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Quoted when the delimiter sniffer or the format detector could misread it.
            let first = i == 0 && name.starts_with(['[', '{']);
            csv_field(out, name.as_bytes(), first || name.contains([';', '\t', '|']));
        }
        out.push(b'\n');
    }

    /// Append the next rows as CSV text (header first, comma-delimited, RFC 4180 quotes) until
    /// `out` holds at least `min_bytes` or the file ends: what the page's Parquet module hands
    /// to the main module's delimited-text reader, which then sees the cells [`Rows`] gives.
    pub fn write_csv(&mut self, out: &mut Vec<u8>, min_bytes: usize) -> Result<()> {
        if !std::mem::replace(&mut self.wrote_header, true) {
            self.write_header(out);
        }
        while out.len() < min_bytes {
            if self.pos >= self.group_rows && !self.load_group()? {
                break;
            }
            for i in self.pos..self.group_rows {
                for (c, cells) in self.cells.iter().enumerate() {
                    if c > 0 {
                        out.push(b',');
                    }
                    let cell = cells.as_ref().map_or(&[][..], |cells| cells.get(i));
                    // A one-column row with an empty cell would be a blank line, which is skipped.
                    csv_field(out, cell, cell.is_empty() && self.cells.len() == 1);
                }
                out.push(b'\n');
                self.row += 1;
                self.pos += 1;
                if out.len() >= min_bytes {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The physical lines a (quoted) cell adds to its CSV row.
fn line_breaks(cell: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', cell).count() as u64
}

fn count_leaves(t: &SchemaType) -> usize {
    if t.is_primitive() {
        1
    } else {
        t.get_fields().iter().map(|f| count_leaves(f)).sum()
    }
}

/// One CSV field, quoted when it holds a comma, quote or line break (or when `force`d).
fn csv_field(out: &mut Vec<u8>, cell: &[u8], force: bool) {
    if force || cell.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in cell {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell);
    }
}

/// A float as CSV would hold it: the shortest text that reads back as the same double
/// (exponent form outside 1e-5..1e16), `NaN` / `inf` / `-inf` for the non-finite.
pub fn push_f64(out: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    let _ = if v.is_nan() {
        write!(out, "NaN")
    } else if v.is_infinite() {
        write!(out, "{}", if v > 0.0 { "inf" } else { "-inf" })
    } else if a == 0.0 || (1e-5..1e16).contains(&a) {
        write!(out, "{v}")
    } else {
        write!(out, "{v:e}")
    };
}

/// `unscaled / 10^scale` as exact decimal text (`-12345`, 2 -> `-123.45`).
fn push_decimal(out: &mut Vec<u8>, unscaled: i128, scale: u32) {
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        out.push(b'-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.extend_from_slice(digits.as_bytes());
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        let _ = write!(out, "{int}.{frac}");
    } else {
        let _ = write!(out, "0.{}{digits}", "0".repeat(scale - digits.len()));
    }
}

/// Big-endian two's complement bytes (a decimal's unscaled value) as an i128.
fn be_i128(b: &[u8]) -> std::result::Result<i128, String> {
    if b.len() > 16 {
        return Err(format!("a decimal of {} bytes is wider than 128 bits", b.len()));
    }
    let fill = if b.first().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - b.len()..].copy_from_slice(b);
    Ok(i128::from_be_bytes(buf))
}

/// Read `rows` values of one column chunk into `cells`, `cell` writing each present value.
fn read_column<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    max_def: i16,
    rows: usize,
    cells: &mut Cells,
    mut cell: impl FnMut(&mut Vec<u8>, &T::T) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let mut defs = Vec::new();
    let mut values = Vec::new();
    let mut done = 0;
    while done < rows {
        defs.clear();
        values.clear();
        let want = BATCH.min(rows - done);
        let levels = (max_def > 0).then_some(&mut defs);
        let (records, _, _) = r.read_records(want, levels, None, &mut values).map_err(|e| e.to_string())?;
        if records == 0 {
            break;
        }
        let mut present = values.iter();
        for i in 0..records {
            if max_def == 0 || defs.get(i) == Some(&max_def) {
                let v = present.next().ok_or("fewer values than definition levels")?;
                cell(&mut cells.text, v)?;
            }
            cells.ends.push(cells.text.len());
        }
        done += records;
    }
    Ok(())
}

fn decode(
    column: ColumnReader,
    kind: &Kind,
    max_def: i16,
    rows: usize,
    cells: &mut Cells,
) -> std::result::Result<(), String> {
    let int = |out: &mut Vec<u8>, v: i64| {
        let _ = write!(out, "{v}");
    };
    let kind = kind.clone();
    match column {
        ColumnReader::BoolColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            out.push(if *v { b'1' } else { b'0' });
            Ok(())
        }),
        ColumnReader::Int32ColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            match kind {
                Kind::UInt => int(out, i64::from(*v as u32)),
                Kind::Decimal(s) => push_decimal(out, i128::from(*v), s),
                _ => int(out, i64::from(*v)),
            }
            Ok(())
        }),
        ColumnReader::Int64ColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            match kind {
                Kind::UInt => {
                    let _ = write!(out, "{}", *v as u64);
                }
                Kind::Decimal(s) => push_decimal(out, i128::from(*v), s),
                _ => int(out, *v),
            }
            Ok(())
        }),
        ColumnReader::FloatColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            push_f64(out, f64::from(*v));
            Ok(())
        }),
        ColumnReader::DoubleColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            push_f64(out, *v);
            Ok(())
        }),
        ColumnReader::ByteArrayColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            match kind {
                Kind::Decimal(s) => push_decimal(out, be_i128(v.data())?, s),
                _ => out.extend_from_slice(v.data()),
            }
            Ok(())
        }),
        ColumnReader::FixedLenByteArrayColumnReader(mut r) => read_column(&mut r, max_def, rows, cells, |out, v| {
            let b = v.data();
            match kind {
                Kind::Decimal(s) => push_decimal(out, be_i128(b)?, s),
                Kind::Float16 if b.len() == 2 => push_f64(out, f64::from(half::f16::from_le_bytes([b[0], b[1]]))),
                _ => return Err(format!("a fixed-length value of {} bytes", b.len())),
            }
            Ok(())
        }),
        ColumnReader::Int96ColumnReader(_) => Err("INT96 values are not read".into()),
    }
}

impl<S: Source> Rows for ParquetRows<S> {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn select(&mut self, columns: &[usize]) -> Result<()> {
        self.choose(columns)
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let mut record = std::mem::take(&mut self.scratch);
        let line = self.next_bytes(&mut record);
        out.clear();
        out.extend((0..record.len()).map(|i| String::from_utf8_lossy(record.get(i)).into_owned()));
        self.scratch = record;
        line
    }

    fn next_bytes(&mut self, out: &mut Record) -> Result<Option<u64>> {
        while self.pos >= self.group_rows {
            if !self.load_group()? {
                return Ok(None);
            }
        }
        if self.line == 0 {
            self.line = 2 + self.header.iter().map(|h| line_breaks(h.as_bytes())).sum::<u64>();
        }
        out.clear();
        let line = self.line;
        for cells in &self.cells {
            let cell = cells.as_ref().map_or(&[][..], |c| c.get(self.pos));
            self.line += line_breaks(cell);
            out.push_field(cell);
        }
        self.line += 1;
        self.pos += 1;
        self.row += 1;
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        push_f64(&mut out, v);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn floats_round_trip_through_their_text() {
        for v in [0.0, -0.0, 0.1, 1.0 / 3.0, 1e-300, 5e-324, 1.7976931348623157e308, 123456.789, 1e16, 9.99e15, -2.5e-6]
        {
            let text = f(v);
            let back = super::super::columns::parse_f64(text.as_bytes()).expect("parses");
            assert_eq!(back.to_bits(), v.to_bits(), "{v} -> {text}");
        }
        assert_eq!(f(1.0), "1");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::NEG_INFINITY), "-inf");
        assert_eq!(f(f64::from(0.1f32)), "0.10000000149011612");
    }

    #[test]
    fn decimals_are_exact_text() {
        let d = |v: i128, s: u32| {
            let mut out = Vec::new();
            push_decimal(&mut out, v, s);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(d(-12345, 2), "-123.45");
        assert_eq!(d(5, 3), "0.005");
        assert_eq!(d(42, 0), "42");
        assert_eq!(be_i128(&[0xff, 0x85]), Ok(-123));
        assert_eq!(be_i128(&[0x01, 0x00]), Ok(256));
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut out = Vec::new();
        csv_field(&mut out, b"a,b", false);
        csv_field(&mut out, b"say \"hi\"", false);
        csv_field(&mut out, b"plain", false);
        assert_eq!(out, b"\"a,b\"\"say \"\"hi\"\"\"plain");
    }
}
