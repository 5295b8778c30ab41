//! JSON Lines and JSON arrays of objects, one object per example.
//!
//! Objects become records keyed by the first object's keys, in its order. An array value
//! (`"prob": [0.1, 0.9]`) spreads over one column per element (`prob_0`, `prob_1`), the
//! same names a 2-D NumPy array gets. A top-level array is split into objects by a small
//! scanner so that only one object is in memory at a time.

use super::Rows;
use crate::error::{Error, Location, Result};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::io::BufRead;

/// An object with its keys in file order (serde_json's map sorts them).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with one key per column")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The columns a key contributes: one, or one per array element.
struct Key {
    name: String,
    width: Option<usize>,
}

/// Header and per-record layout, fixed by the first object.
struct Layout {
    file: String,
    header: Vec<String>,
    keys: Vec<Key>,
}

impl Layout {
    fn new(file: &str, first: &Ordered, line: u64) -> Result<Layout> {
        let mut header = Vec::new();
        let mut keys = Vec::new();
        for (k, v) in &first.0 {
            let width = match v {
                Value::Array(a) => {
                    header.extend(super::expand(k, a.len()));
                    Some(a.len())
                }
                Value::Object(_) => {
                    return Err(Error::Malformed {
                        loc: Location::at(file, line, Some(k.clone())),
                        message: "nested objects are not supported; expected a number, string or array of numbers"
                            .into(),
                    })
                }
                _ => {
                    header.push(k.clone());
                    None
                }
            };
            keys.push(Key { name: k.clone(), width });
        }
        if header.is_empty() {
            return Err(Error::EmptyFile(Location::at(file, line, None)));
        }
        Ok(Layout { file: file.to_string(), header, keys })
    }

    fn fill(&self, rec: Ordered, line: u64, out: &mut Vec<String>) -> Result<()> {
        out.clear();
        let mut rec = rec.0;
        for (i, key) in self.keys.iter().enumerate() {
            // Keys usually come in the same order: look at the same position first.
            let pos = if rec.get(i).is_some_and(|(k, _)| *k == key.name) {
                Some(i)
            } else {
                rec.iter().position(|(k, _)| *k == key.name)
            };
            let loc = || Location::at(&self.file, line, Some(key.name.clone()));
            let Some(pos) = pos else {
                return Err(Error::Malformed {
                    loc: loc(),
                    message: format!("key '{}' is missing; every object needs the keys of the first one", key.name),
                });
            };
            let value = std::mem::replace(&mut rec[pos].1, Value::Null);
            match (key.width, value) {
                (Some(w), Value::Array(a)) if a.len() == w => {
                    for v in a {
                        out.push(scalar(v).ok_or_else(|| Error::Malformed {
                            loc: loc(),
                            message: "array elements must be numbers".into(),
                        })?);
                    }
                }
                (Some(w), v) => {
                    return Err(Error::Malformed {
                        loc: loc(),
                        message: format!(
                            "expected an array of {w} numbers (as in the first object), found {}",
                            short(&v)
                        ),
                    })
                }
                (None, v) => out.push(scalar(v.clone()).ok_or_else(|| Error::Malformed {
                    loc: loc(),
                    message: format!("expected a number or string, found {}", short(&v)),
                })?),
            }
        }
        Ok(())
    }
}

/// A cell as text: numbers as JSON writes them, booleans as 1/0, null as missing.
fn scalar(v: Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(if b { "1" } else { "0" }.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn parse(file: &str, bytes: &[u8], line: u64) -> Result<Ordered> {
    serde_json::from_slice::<Ordered>(bytes).map_err(|e| Error::Malformed {
        loc: Location::at(file, line + e.line().saturating_sub(1) as u64, None),
        message: format!("invalid JSON at character {}: {e}; expected one object per example", e.column()),
    })
}

/// Where a JSON reader's objects come from: each call loads the next object's text.
pub trait Scan {
    fn file(&self) -> &str;
    /// Load the next object into [`Scan::text`]; its first line, or `None` at the end.
    fn next_object(&mut self) -> Result<Option<u64>>;
    fn text(&self) -> &[u8];
}

/// The objects of a scanner as rows, laid out by the first object.
pub struct Objects<S> {
    scan: S,
    layout: Layout,
    first: Option<(u64, Ordered)>,
}

impl<S: Scan> Objects<S> {
    /// Read the first object to learn the columns; `none` is the error for a file without one.
    fn start(mut scan: S, none: fn(Location) -> Error) -> Result<Self> {
        let Some(line) = scan.next_object()? else { return Err(none(Location::file(scan.file()))) };
        let rec = parse(scan.file(), scan.text(), line)?;
        let layout = Layout::new(scan.file(), &rec, line)?;
        Ok(Objects { scan, layout, first: Some((line, rec)) })
    }
}

impl<S: Scan> Rows for Objects<S> {
    fn header(&self) -> &[String] {
        &self.layout.header
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let (line, rec) = match self.first.take() {
            Some(first) => first,
            None => {
                let Some(line) = self.scan.next_object()? else { return Ok(None) };
                (line, parse(self.scan.file(), self.scan.text(), line)?)
            }
        };
        self.layout.fill(rec, line, out)?;
        Ok(Some(line))
    }
}

/// JSON Lines: one object per line; blank lines are skipped.
pub type JsonLines<R> = Objects<Lines<R>>;

pub struct Lines<R> {
    file: String,
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(file: &str, reader: R) -> Result<Self> {
        Objects::start(Lines { file: file.to_string(), reader, line: 0, buf: Vec::new() }, Error::EmptyFile)
    }
}

impl<R: BufRead> Scan for Lines<R> {
    fn file(&self) -> &str {
        &self.file
    }

    fn text(&self) -> &[u8] {
        &self.buf
    }

    /// The next non-blank line.
    fn next_object(&mut self) -> Result<Option<u64>> {
        loop {
            self.buf.clear();
            let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| super::io_error(&self.file, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(Some(self.line));
            }
        }
    }
}

/// A top-level JSON array of objects, split object by object.
pub type JsonArray<R> = Objects<Items<R>>;

pub struct Items<R> {
    file: String,
    reader: R,
    /// Current line (1-based) of the scanner.
    line: u64,
    buf: Vec<u8>,
    started: bool,
    done: bool,
}

impl<R: BufRead> JsonArray<R> {
    pub fn new(file: &str, reader: R) -> Result<Self> {
        let mut items = Items { file: file.to_string(), reader, line: 1, buf: Vec::new(), started: false, done: false };
        match items.skip_blank()? {
            Some(b'[') => items.reader.consume(1),
            other => return Err(items.unexpected(other, "'[' to open the array of objects")),
        }
        Objects::start(items, Error::NoRows)
    }
}

impl<R: BufRead> Scan for Items<R> {
    fn file(&self) -> &str {
        &self.file
    }

    fn text(&self) -> &[u8] {
        &self.buf
    }

    fn next_object(&mut self) -> Result<Option<u64>> {
        let first = !std::mem::replace(&mut self.started, true);
        self.scan_object(first)
    }
}

impl<R: BufRead> Items<R> {
    /// Skip whitespace (and a byte-order mark); peek the next byte.
    fn skip_blank(&mut self) -> Result<Option<u8>> {
        loop {
            let chunk = self.reader.fill_buf().map_err(|e| super::io_error(&self.file, e))?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut used = 0;
            for &b in chunk {
                if b == b'\n' {
                    self.line += 1;
                } else if !(b.is_ascii_whitespace() || matches!(b, 0xef | 0xbb | 0xbf)) {
                    self.reader.consume(used);
                    return Ok(Some(b));
                }
                used += 1;
            }
            self.reader.consume(used);
        }
    }

    fn unexpected(&self, found: Option<u8>, expected: &str) -> Error {
        let found = match found {
            None => "the end of the file".to_string(),
            Some(b) => format!("'{}'", b as char),
        };
        Error::Malformed {
            loc: Location::at(&self.file, self.line, None),
            message: format!("found {found}; expected {expected}"),
        }
    }

    /// Scan the next `{...}` into `buf`; returns its first line, or `None` after `]`.
    fn scan_object(&mut self, first: bool) -> Result<Option<u64>> {
        if self.done {
            return Ok(None);
        }
        let mut b = self.skip_blank()?;
        if !first {
            match b {
                Some(b',') => {
                    self.reader.consume(1);
                    b = self.skip_blank()?;
                }
                Some(b']') => {
                    self.done = true;
                    return Ok(None);
                }
                other => return Err(self.unexpected(other, "',' or ']' after an object")),
            }
        }
        match b {
            Some(b'{') => {}
            Some(b']') if first => {
                self.done = true;
                return Ok(None);
            }
            other => return Err(self.unexpected(other, "'{' to start an object (one per example)")),
        }
        let start = self.line;
        self.buf.clear();
        let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
        loop {
            let chunk = self.reader.fill_buf().map_err(|e| super::io_error(&self.file, e))?;
            if chunk.is_empty() {
                return Err(Error::Malformed {
                    loc: Location::at(&self.file, start, None),
                    message: "the object starting here is not closed before the end of the file".into(),
                });
            }
            let mut end = None;
            for (i, &c) in chunk.iter().enumerate() {
                if c == b'\n' {
                    self.line += 1;
                }
                if in_str {
                    if escaped {
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else if c == b'"' {
                        in_str = false;
                    }
                    continue;
                }
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let used = end.unwrap_or(chunk.len());
            self.buf.extend_from_slice(&chunk[..used]);
            self.reader.consume(used);
            if end.is_some() {
                return Ok(Some(start));
            }
        }
    }
}
