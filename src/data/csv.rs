//! Delimited text (CSV, TSV, semicolon) through the `csv` crate, streamed record by record.
//! Records are read as bytes into a reused buffer: UTF-8 is checked only where text is
//! needed (labels), numbers are parsed straight from the bytes.

use super::{Record, Rows};
use crate::error::{Error, Location, Result};
use std::io::Read;

/// Pick the delimiter from the file name, else from the first line: the candidate that
/// occurs most often outside quotes.
pub fn sniff_delimiter(file: &str, head: &[u8]) -> u8 {
    let lower = file.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    if lower.ends_with(".tsv") || lower.ends_with(".tab") {
        return b'\t';
    }
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut counts = [0usize; 4];
    let candidates = [b',', b'\t', b';', b'|'];
    let mut quoted = false;
    for &b in first_line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = candidates.iter().position(|&c| c == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], usize::from(i == 0))).unwrap_or(0);
    candidates[best]
}

/// A streaming reader of string records with 1-based line numbers for messages.
pub struct Records<R: Read> {
    file: String,
    inner: csv::Reader<R>,
    header: Vec<String>,
    record: csv::ByteRecord,
    /// European files: `;`-separated with `0,5` decimals.
    decimal_comma: bool,
}

/// `-0,25` or `3,5e-2`: one comma between digits and nothing else unusual.
fn is_comma_decimal(s: &[u8]) -> bool {
    let t = s.trim_ascii();
    let t = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
    let Some(at) = t.iter().position(|&c| c == b',') else { return false };
    let (a, b) = (&t[..at], &t[at + 1..]);
    !a.is_empty()
        && a.iter().all(u8::is_ascii_digit)
        && b.first().is_some_and(u8::is_ascii_digit)
        && b.iter().all(|&c| c.is_ascii_digit() || matches!(c, b'e' | b'E' | b'-' | b'+'))
}

impl<R: Read> Records<R> {
    /// Read the header. `head` is the start of the file, used only to sniff the delimiter.
    pub fn new(file: &str, reader: R, head: &[u8]) -> Result<Self> {
        let delimiter = sniff_delimiter(file, head);
        let mut inner = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::None)
            .buffer_capacity(1 << 16)
            .from_reader(reader);
        let header: Vec<String> = inner
            .headers()
            .map_err(|e| csv_error(file, e))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(Error::EmptyFile(Location::file(file)));
        }
        let decimal_comma = delimiter == b';'
            && head
                .split(|&b| b == b'\n')
                .skip(1)
                .take(20)
                .flat_map(|line| line.split(|&b| b == b';'))
                .any(is_comma_decimal);
        Ok(Records { file: file.to_string(), inner, header, record: csv::ByteRecord::new(), decimal_comma })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Read the next record into `into`, checked to have the header's width. Blank lines
    /// are skipped by the csv crate.
    fn read(&mut self, into: &mut csv::ByteRecord) -> Result<Option<u64>> {
        let more = self.inner.read_byte_record(into).map_err(|e| csv_error(&self.file, e))?;
        if !more {
            return Ok(None);
        }
        let line = into.position().map_or(0, |p| p.line());
        if into.len() != self.header.len() {
            return Err(Error::RaggedRow {
                loc: Location::at(&self.file, line, None),
                expected: self.header.len(),
                found: into.len(),
            });
        }
        Ok(Some(line))
    }

    /// `0,5` -> `0.5` in the fields that are decimal-comma numbers.
    fn fix_decimals(from: &csv::ByteRecord, to: &mut csv::ByteRecord, scratch: &mut Vec<u8>) {
        to.clear();
        for f in from.iter() {
            if is_comma_decimal(f) {
                scratch.clear();
                scratch.extend(f.iter().map(|&c| if c == b',' { b'.' } else { c }));
                to.push_field(scratch);
            } else {
                to.push_field(f);
            }
        }
    }

    /// The next record as (line, fields), checked to have the header's width.
    pub fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let mut rec = std::mem::take(&mut self.record);
        let line = self.read(&mut rec);
        self.record = rec;
        let Some(line) = line? else { return Ok(None) };
        out.resize_with(self.record.len(), String::new);
        for (i, (dst, src)) in out.iter_mut().zip(self.record.iter()).enumerate() {
            let text = std::str::from_utf8(src).map_err(|_| not_utf8(&self.file, line, i))?;
            dst.clear();
            if self.decimal_comma && is_comma_decimal(src) {
                dst.extend(text.chars().map(|c| if c == ',' { '.' } else { c }));
            } else {
                dst.push_str(text);
            }
        }
        Ok(Some(line))
    }

    /// Bytes consumed so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.inner.position().byte()
    }
}

impl<R: Read> Rows for Records<R> {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        Records::next_record(self, out)
    }

    fn next_bytes(&mut self, out: &mut Record) -> Result<Option<u64>> {
        if !self.decimal_comma {
            return self.read(&mut out.fields);
        }
        let mut rec = std::mem::take(&mut self.record);
        let line = self.read(&mut rec);
        if let Ok(Some(_)) = line {
            let mut scratch = Vec::new();
            Self::fix_decimals(&rec, &mut out.fields, &mut scratch);
        }
        self.record = rec;
        line
    }
}

/// Text that is not UTF-8, at a known line and field.
pub fn not_utf8(file: &str, line: u64, field: usize) -> Error {
    Error::Malformed {
        loc: Location { file: file.to_string(), line: Some(line), column: None },
        message: format!("field {} is not valid UTF-8 text; save the file as UTF-8", field + 1),
    }
}

fn csv_error(file: &str, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => Error::Io { file: file.to_string(), message: io.to_string() },
        csv::ErrorKind::Utf8 { err, .. } => Error::Malformed {
            loc: Location { file: file.to_string(), line, column: None },
            message: format!("field {} is not valid UTF-8 text; save the file as UTF-8", err.field() + 1),
        },
        _ => Error::Malformed { loc: Location { file: file.to_string(), line, column: None }, message: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_records_fix_decimal_commas_and_match_strings() {
        let text = b"label;score\n1;0,25\n0;-1,5e-2\n";
        let mut r = Records::new("t.csv", &text[..], text).expect("header");
        let mut rec = Record::default();
        assert_eq!(r.next_bytes(&mut rec).expect("row"), Some(2));
        assert_eq!((rec.get(0), rec.get(1)), (&b"1"[..], &b"0.25"[..]));
        let mut strings = Vec::new();
        assert_eq!(r.next_record(&mut strings).expect("row"), Some(3));
        assert_eq!(strings, vec!["0", "-1.5e-2"]);
        assert_eq!(r.next_bytes(&mut rec).expect("end"), None);
    }
}
