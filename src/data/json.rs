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

/// JSON Lines: one object per line; blank lines are skipped.
pub struct JsonLines<R> {
    file: String,
    reader: R,
    line: u64,
    buf: Vec<u8>,
    layout: Layout,
    first: Option<(u64, Ordered)>,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(file: &str, mut reader: R) -> Result<Self> {
        let mut buf = Vec::new();
        let mut line = 0;
        let first = next_line(file, &mut reader, &mut buf, &mut line)?;
        let Some(first) = first else { return Err(Error::EmptyFile(Location::file(file))) };
        let rec = parse(file, &buf, first)?;
        let layout = Layout::new(file, &rec, first)?;
        Ok(JsonLines { file: file.to_string(), reader, line, buf, layout, first: Some((first, rec)) })
    }
}

/// Read the next non-blank line into `buf`; returns its number.
fn next_line<R: BufRead>(file: &str, reader: &mut R, buf: &mut Vec<u8>, line: &mut u64) -> Result<Option<u64>> {
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', buf).map_err(|e| super::io_error(file, e))?;
        if n == 0 {
            return Ok(None);
        }
        *line += 1;
        if !buf.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Some(*line));
        }
    }
}

impl<R: BufRead> Rows for JsonLines<R> {
    fn header(&self) -> &[String] {
        &self.layout.header
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        if let Some((line, rec)) = self.first.take() {
            self.layout.fill(rec, line, out)?;
            return Ok(Some(line));
        }
        let Some(line) = next_line(&self.file, &mut self.reader, &mut self.buf, &mut self.line)? else {
            return Ok(None);
        };
        let rec = parse(&self.file, &self.buf, line)?;
        self.layout.fill(rec, line, out)?;
        Ok(Some(line))
    }
}

/// A top-level JSON array of objects, split object by object.
pub struct JsonArray<R> {
    file: String,
    reader: R,
    /// Current line (1-based) of the scanner.
    line: u64,
    buf: Vec<u8>,
    layout: Layout,
    first: Option<(u64, Ordered)>,
    done: bool,
}

impl<R: BufRead> JsonArray<R> {
    pub fn new(file: &str, reader: R) -> Result<Self> {
        let mut me = JsonArray {
            file: file.to_string(),
            reader,
            line: 1,
            buf: Vec::new(),
            layout: Layout { file: file.to_string(), header: Vec::new(), keys: Vec::new() },
            first: None,
            done: false,
        };
        match me.skip_blank()? {
            Some(b'[') => me.reader.consume(1),
            other => return Err(me.unexpected(other, "'[' to open the array of objects")),
        }
        let Some(line) = me.next_object(true)? else { return Err(Error::NoRows(Location::file(file))) };
        let rec = parse(file, &me.buf, line)?;
        me.layout = Layout::new(file, &rec, line)?;
        me.first = Some((line, rec));
        Ok(me)
    }

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
    fn next_object(&mut self, first: bool) -> Result<Option<u64>> {
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

impl<R: BufRead> Rows for JsonArray<R> {
    fn header(&self) -> &[String] {
        &self.layout.header
    }

    fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        if let Some((line, rec)) = self.first.take() {
            self.layout.fill(rec, line, out)?;
            return Ok(Some(line));
        }
        let Some(line) = self.next_object(false)? else { return Ok(None) };
        let rec = parse(&self.file, &self.buf, line)?;
        self.layout.fill(rec, line, out)?;
        Ok(Some(line))
    }
}
