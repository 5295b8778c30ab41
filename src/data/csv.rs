//! Delimited text (CSV, TSV, semicolon), streamed record by record into a reused [`Record`].
//!
//! Most lines of a predictions file hold no quotes: one pass 16 bytes a step (SSE2 natively,
//! simd128 in the page; elsewhere `memchr3` and a word-at-a-time split) finds the line's end,
//! proves it has no quote or lone `\r` and finds its delimiters, with no per-byte state
//! machine, no allocation and no UTF-8 pass (UTF-8 is checked only where text is needed:
//! labels). A line with a
//! quote (or a lone carriage return) goes through `csv-core`'s RFC 4180 parser, which handles
//! quoted delimiters, doubled quotes and newlines inside quotes; both paths give the same
//! fields. Blank lines are skipped; line numbers count physical lines (header = 1).

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

/// Bytes asked of the source per read at least. The sources are `BufReader`s of 64 KiB
/// (`data::open`, `report::split`), and a `BufReader` whose buffer is empty hands a read at
/// least its capacity straight to the file: asking this much keeps the bytes from being
/// copied twice (once into the `BufReader`, once here; natively ~2.4% of a 1 GB read).
const READ: usize = 1 << 16;
/// The buffer's first size: room for a read and the unparsed end of the line before it.
/// Lines longer than the room left grow it.
const BUFFER: usize = 2 * READ;

/// A streaming reader of delimited records with 1-based line numbers for messages.
pub struct Records<R: Read> {
    file: String,
    source: R,
    /// `buf[pos..end]` is read but not yet parsed.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// The physical line `buf[pos]` is on.
    line: u64,
    delimiter: u8,
    /// RFC 4180 parsing for the records that need it (quotes, lone `\r`).
    core: csv_core::Reader,
    /// `csv-core`'s field ends for the record being parsed.
    core_ends: Vec<usize>,
    header: Vec<String>,
    /// European files: `;`-separated with `0,5` decimals.
    decimal_comma: bool,
    /// The record before decimal fixing, for decimal-comma files.
    raw: Record,
    /// Byte offset in the source of `buf[0]`, and whether the byte before it is `\n`.
    origin: u64,
    after_newline: bool,
    /// Canonical chunking (see [`super::Chunk`]): the chunk size, the chunk of the record
    /// last returned, and the chunk after which reading stops (another reader has the rest).
    chunk_bytes: u64,
    chunk: super::Chunk,
    last_chunk: Option<u64>,
    /// Where the next chunk starts, kept rather than multiplied out per record (a saturating
    /// 64-bit multiply is a 128-bit library call in wasm32).
    chunk_end: u64,
}

/// What a reader starting in the middle of a delimited file needs from its header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dialect {
    pub delimiter: u8,
    pub decimal_comma: bool,
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
    pub fn new(file: &str, source: R, head: &[u8]) -> Result<Self> {
        let delimiter = sniff_delimiter(file, head);
        let decimal_comma = delimiter == b';'
            && head
                .split(|&b| b == b'\n')
                .skip(1)
                .take(20)
                .flat_map(|line| line.split(|&b| b == b';'))
                .any(is_comma_decimal);
        let mut records =
            Records::resume(file, source, Vec::new(), Dialect { delimiter, decimal_comma }, 0, u64::MAX, 0);
        (records.after_newline, records.last_chunk) = (false, None);
        records.fill()?;
        if records.buf[..records.end].starts_with(b"\xef\xbb\xbf") {
            records.pos = 3;
        }
        let mut first = Record::default();
        if records.record(&mut first)?.is_some() {
            for i in 0..first.len() {
                let text = std::str::from_utf8(first.get(i)).map_err(|_| not_utf8(file, 1, i))?;
                records.header.push(text.trim().trim_start_matches('\u{feff}').to_string());
            }
        }
        if records.header.is_empty() || records.header.iter().all(String::is_empty) {
            return Err(Error::EmptyFile(Location::file(file)));
        }
        Ok(records)
    }

    /// A reader of the records of chunk `chunk` alone (`chunk_bytes` each), from `start`, a
    /// record start right after a `\n` at or after the chunk's nominal start; `source` reads
    /// the file from `start` on. Lines count from 1 at `start`.
    pub fn resume(
        file: &str,
        source: R,
        header: Vec<String>,
        dialect: Dialect,
        start: u64,
        chunk_bytes: u64,
        chunk: u64,
    ) -> Self {
        Records {
            file: file.to_string(),
            source,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            line: 1,
            delimiter: dialect.delimiter,
            core: csv_core::ReaderBuilder::new().delimiter(dialect.delimiter).build(),
            core_ends: Vec::new(),
            header,
            decimal_comma: dialect.decimal_comma,
            raw: Record::default(),
            origin: start,
            after_newline: true,
            chunk_bytes: chunk_bytes.max(1),
            chunk: super::Chunk { index: chunk, line_base: 0 },
            last_chunk: Some(chunk),
            chunk_end: (chunk + 1).saturating_mul(chunk_bytes.max(1)),
        }
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn dialect(&self) -> Dialect {
        Dialect { delimiter: self.delimiter, decimal_comma: self.decimal_comma }
    }

    /// At a position between records: a `\n`-preceded position at or past the next chunk's
    /// nominal start begins that chunk; true when that chunk is past `last_chunk` (stop).
    #[inline]
    fn chunk_boundary(&mut self) -> bool {
        let after_newline = if self.pos > 0 { self.buf[self.pos - 1] == b'\n' } else { self.after_newline };
        if !after_newline {
            return false;
        }
        let at = self.origin + self.pos as u64;
        // still inside the current chunk (a comparison, not a division, per record)
        if at < self.chunk_end {
            return false;
        }
        let index = at / self.chunk_bytes;
        if index <= self.chunk.index {
            return false;
        }
        if self.last_chunk.is_some_and(|last| index > last) {
            return true;
        }
        self.chunk = super::Chunk { index, line_base: self.line - 1 };
        self.chunk_end = (index + 1).saturating_mul(self.chunk_bytes);
        false
    }

    /// The byte offset and the physical lines before it where reading stopped (or is).
    pub fn position(&self) -> (u64, u64) {
        (self.origin + self.pos as u64, self.line - 1)
    }

    /// Move the unparsed bytes to the front and read more after them (the buffer grows only
    /// when a single record leaves less than [`READ`] free). Returns false at the end of the
    /// source.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.buf.is_empty() {
            self.buf.resize(BUFFER, 0);
        }
        if self.pos > 0 {
            self.after_newline = self.buf[self.pos - 1] == b'\n';
        }
        self.origin += self.pos as u64;
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.buf.len() - self.end < READ {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io { file: self.file.clone(), message: e.to_string() }),
            }
        }
    }

    /// The next record (any width) into `into`, with the line it starts on. One search per
    /// line finds its end and, on the way, any quote or carriage return that needs the full
    /// parser (a `\r` right before the `\n` is a CRLF line end).
    fn record(&mut self, into: &mut Record) -> Result<Option<u64>> {
        loop {
            if self.chunk_boundary() {
                return Ok(None);
            }
            let line = self.line;
            let hay = &self.buf[self.pos..self.end];
            // the line's content and its terminator, in bytes from `self.pos`; the delimiters
            // before the first `\n`, quote or `\r` are found on the way, and the bytes copied
            // into the record (spans of the record started here, finished by
            // `Record::set_scanned` once the line is known plain)
            into.spans.clear();
            into.padded = false;
            let (content, next) = match scan(hay, self.delimiter, super::PAD, &mut into.spans, &mut into.bytes) {
                Some(at) if hay[at] == b'\n' => (at, at + 1),
                Some(at) if hay[at] == b'\r' && hay.get(at + 1) == Some(&b'\n') => (at, at + 2),
                // a CR that may be a CRLF's first half: read on to see
                Some(at) if hay[at] == b'\r' && at + 1 == hay.len() && !self.eof => {
                    self.fill()?;
                    continue;
                }
                Some(_) => return self.quoted(into).map(|()| Some(line)),
                None => {
                    if self.fill()? {
                        continue;
                    }
                    if self.pos == self.end {
                        return Ok(None);
                    }
                    // the last line, without a newline (`fill` may have moved it)
                    (self.end - self.pos, self.end - self.pos)
                }
            };
            self.pos += next;
            if next > content {
                self.line += 1;
            }
            if content == 0 {
                // a blank line
                continue;
            }
            into.set_scanned(content);
            return Ok(Some(line));
        }
    }

    /// One record through `csv-core` from `pos` (a record start), across lines and refills.
    fn quoted(&mut self, into: &mut Record) -> Result<()> {
        use csv_core::ReadRecordResult as R;
        self.core.reset();
        into.clear();
        if into.bytes.capacity() < 256 {
            into.bytes.reserve(256);
        }
        let (mut nout, mut nend) = (0, 0);
        loop {
            into.bytes.resize(into.bytes.capacity().max(256), 0);
            if self.core_ends.len() < nend + 16 {
                self.core_ends.resize(nend + 16, 0);
            }
            let input = &self.buf[self.pos..self.end];
            let (res, nin, o, e) = self.core.read_record(input, &mut into.bytes[nout..], &mut self.core_ends[nend..]);
            self.line += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                R::InputEmpty => {
                    if !self.fill()? && self.pos == self.end && nin == 0 && o == 0 && e == 0 {
                        // csv-core was handed the (empty) end of input and said nothing new
                        break;
                    }
                }
                R::OutputFull => into.bytes.reserve(into.bytes.len()),
                R::OutputEndsFull => {}
                R::Record | R::End => break,
            }
        }
        into.bytes.truncate(nout);
        let mut from = 0;
        for &to in &self.core_ends[..nend] {
            into.spans.push((from, to));
            from = to;
        }
        Ok(())
    }

    /// Read the next record into `into`, checked to have the header's width.
    fn read(&mut self, into: &mut Record) -> Result<Option<u64>> {
        let Some(line) = self.record(into)? else { return Ok(None) };
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
    fn fix_decimals(from: &Record, to: &mut Record) {
        to.clear();
        for i in 0..from.len() {
            let f = from.get(i);
            let start = to.bytes.len();
            to.bytes.extend_from_slice(f);
            if is_comma_decimal(f) {
                to.bytes[start..].iter_mut().filter(|c| **c == b',').for_each(|c| *c = b'.');
            }
            to.spans.push((start, to.bytes.len()));
        }
    }

    /// The next record as (line, fields), checked to have the header's width.
    pub fn next_record(&mut self, out: &mut Vec<String>) -> Result<Option<u64>> {
        let mut rec = std::mem::take(&mut self.raw);
        let line = self.next_bytes(&mut rec);
        self.raw = rec;
        let Some(line) = line? else { return Ok(None) };
        out.resize_with(self.raw.len(), String::new);
        for (i, dst) in out.iter_mut().enumerate() {
            let text = std::str::from_utf8(self.raw.get(i)).map_err(|_| not_utf8(&self.file, line, i))?;
            dst.clear();
            dst.push_str(text);
        }
        Ok(Some(line))
    }

    /// The next record as byte fields (decimal commas fixed).
    pub fn next_bytes(&mut self, out: &mut Record) -> Result<Option<u64>> {
        if !self.decimal_comma {
            return self.read(out);
        }
        let mut rec = std::mem::take(&mut self.raw);
        let line = self.read(&mut rec);
        if let Ok(Some(_)) = line {
            Self::fix_decimals(&rec, out);
        }
        self.raw = rec;
        line
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
        Records::next_bytes(self, out)
    }
    fn chunk(&self) -> super::Chunk {
        self.chunk
    }
    fn set_chunking(&mut self, bytes: u64) {
        self.chunk_bytes = bytes.max(1);
        self.chunk_end = (self.chunk.index + 1).saturating_mul(self.chunk_bytes);
    }
    fn dialect(&self) -> Option<Dialect> {
        Some(Records::dialect(self))
    }
    fn stop_after(&mut self, last: u64) {
        self.last_chunk = Some(last);
    }
    fn position(&self) -> (u64, u64) {
        Records::position(self)
    }
}

/// The offset of the first `\n`, `"` or `\r` in `hay` (`None`: none), with the `(start, end)`
/// of each `delimiter`-separated field before it pushed onto `spans` (offsets plus `base`),
/// all but the last field (which ends at the line's end, known only to the caller), and the
/// bytes before it copied to `out[base..]` on the way (in whole steps: bytes after it may
/// follow; `out` grows as needed). SSE2 (x86-64's baseline) and simd128 look at 16 bytes a
/// step for both at once; elsewhere `memchr3` finds the line's end and the word-at-a-time
/// split the delimiters.
#[inline]
fn scan(hay: &[u8], delimiter: u8, base: usize, spans: &mut Vec<(usize, usize)>, out: &mut Vec<u8>) -> Option<usize> {
    #[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut from = base;
        let mut i = 0;
        // 32 bytes a step (two blocks' masks joined) while they last, then 16, then bytes
        while i + 32 <= hay.len() {
            let block = &hay[i..i + 32];
            room(out, base + i + 32)[base + i..base + i + 32].copy_from_slice(block);
            let (s0, d0) = block_masks(&block[..16], delimiter);
            let (s1, d1) = block_masks(&block[16..], delimiter);
            if let Some(at) = step(s0 | s1 << 16, d0 | d1 << 16, base + i, &mut from, spans) {
                return Some(i + at);
            }
            i += 32;
        }
        if i + 16 <= hay.len() {
            let block = &hay[i..i + 16];
            room(out, base + i + 16)[base + i..base + i + 16].copy_from_slice(block);
            let (special, delimiters) = block_masks(block, delimiter);
            if let Some(at) = step(special, delimiters, base + i, &mut from, spans) {
                return Some(i + at);
            }
            i += 16;
        }
        let mut found = None;
        for (k, &c) in hay[i..].iter().enumerate() {
            if matches!(c, b'\n' | b'"' | b'\r') {
                found = Some(i + k);
                break;
            }
            if c == delimiter {
                spans.push((from, base + i + k));
                from = base + i + k + 1;
            }
        }
        let stop = found.unwrap_or(hay.len());
        room(out, base + stop)[base + i..base + stop].copy_from_slice(&hay[i..stop]);
        found
    }
    #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
    {
        let at = memchr::memchr3(b'\n', b'"', b'\r', hay);
        let stop = at.unwrap_or(hay.len());
        split_fields(&hay[..stop], delimiter, base, spans);
        spans.pop();
        room(out, base + stop)[base..base + stop].copy_from_slice(&hay[..stop]);
        at
    }
}

/// `out` made at least `len` bytes long (zeros added), for [`scan`]'s copy.
#[inline(always)]
pub(super) fn room(out: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if out.len() < len {
        grow(out, len);
    }
    out
}

#[cold]
#[inline(never)]
fn grow(out: &mut Vec<u8>, len: usize) {
    out.resize(len.max(2 * out.len()).max(256), 0);
}

/// One step of [`scan`] over up to 32 bytes at `at` (offset plus `base`): the fields that end
/// at a delimiter before the first special byte pushed (`from`: where the next one starts),
/// and that byte's place in the step, if any.
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn step(special: u32, delimiters: u32, at: usize, from: &mut usize, spans: &mut Vec<(usize, usize)>) -> Option<usize> {
    let first = special.trailing_zeros();
    // the delimiters before the first special byte (all when there is none)
    let mut d = if special != 0 { delimiters & ((1 << first) - 1) } else { delimiters };
    // room for all of them first, so each is a write, not a push
    spans.reserve(32);
    let len = spans.len();
    let room = &mut spans.spare_capacity_mut()[..32];
    let mut k = 0;
    while d != 0 {
        let end = at + d.trailing_zeros() as usize;
        room[k & 31].write((*from, end));
        *from = end + 1;
        k += 1;
        d &= d - 1;
    }
    // SAFETY: the `k` entries after `len` were written just above (at most 32: one a bit)
    unsafe { spans.set_len(len + k) };
    (special != 0).then_some(first as usize)
}

/// For 16 bytes: a bit per `\n`, `"` or `\r`, and a bit per `delimiter`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks(block: &[u8], delimiter: u8) -> (u32, u32) {
    use std::arch::x86_64::*;
    debug_assert_eq!(block.len(), 16);
    // SAFETY: SSE2 is part of x86-64; `block` holds 16 bytes (an unaligned load)
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let special = _mm_or_si128(_mm_or_si128(eq(b'\n'), eq(b'"')), eq(b'\r'));
        (_mm_movemask_epi8(special) as u32, _mm_movemask_epi8(eq(delimiter)) as u32)
    }
}

/// For 16 bytes: a bit per `\n`, `"` or `\r`, and a bit per `delimiter`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn block_masks(block: &[u8], delimiter: u8) -> (u32, u32) {
    use core::arch::wasm32::*;
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(block);
    // SAFETY: `[u8; 16]` and `v128` have the same size, and any bits are a `v128`
    let v = unsafe { core::mem::transmute::<[u8; 16], v128>(bytes) };
    let eq = |c: u8| u8x16_eq(v, u8x16_splat(c));
    let special = v128_or(v128_or(eq(b'\n'), eq(b'"')), eq(b'\r'));
    (u32::from(u8x16_bitmask(special)), u32::from(u8x16_bitmask(eq(delimiter))))
}

/// Each byte of `w` equal to `byte`, as that byte's high bit (exact: no carries between
/// bytes, unlike the usual has-zero-byte test).
#[cfg(any(test, not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))))]
#[inline]
fn byte_mask(w: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = w ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// The `(start, end)` of each `delimiter`-separated field of `line`, pushed onto `spans`:
/// 8 bytes a word, each word's delimiters found by one mask (fields in a predictions file
/// are shorter than a SIMD search's setup pays for).
#[cfg(any(test, not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))))]
#[inline]
pub(super) fn split_fields(line: &[u8], delimiter: u8, base: usize, spans: &mut Vec<(usize, usize)>) {
    let mut from = base;
    let mut words = line.chunks_exact(8);
    let mut base = base;
    for w in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(w);
        let mut hits = byte_mask(u64::from_le_bytes(bytes), delimiter);
        while hits != 0 {
            let at = base + (hits.trailing_zeros() / 8) as usize;
            spans.push((from, at));
            from = at + 1;
            hits &= hits - 1;
        }
        base += 8;
    }
    for (i, &c) in words.remainder().iter().enumerate() {
        if c == delimiter {
            spans.push((from, base + i));
            from = base + i + 1;
        }
    }
    spans.push((from, base + words.remainder().len()));
}

/// Text that is not UTF-8, at a known line and field.
pub fn not_utf8(file: &str, line: u64, field: usize) -> Error {
    Error::Malformed {
        loc: Location { file: file.to_string(), line: Some(line), column: None },
        message: format!("field {} is not valid UTF-8 text; save the file as UTF-8", field + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out a few bytes at a time, to cross refills everywhere.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn all(text: &[u8], buffer_reads: usize) -> Result<Vec<(u64, Vec<String>)>> {
        let mut r = Records::new("t.csv", Trickle(text, buffer_reads), text)?;
        let mut out = vec![(1, r.header().to_vec())];
        let mut rec = Vec::new();
        while let Some(line) = r.next_record(&mut rec)? {
            out.push((line, rec.clone()));
        }
        Ok(out)
    }

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

    #[test]
    fn quoted_fields_blank_lines_and_line_ends_read_as_rfc4180() {
        let text =
            b"\xef\xbb\xbf\"label\",score\r\n\r\n\"a,b\",1\r\n\"say \"\"hi\"\"\",2\n\n\"two\nlines\",3\nc,\"4\"\nd,5";
        let want: Vec<(u64, Vec<&str>)> = vec![
            (1, vec!["label", "score"]),
            (3, vec!["a,b", "1"]),
            (4, vec!["say \"hi\"", "2"]),
            (6, vec!["two\nlines", "3"]),
            (8, vec!["c", "4"]),
            (9, vec!["d", "5"]),
        ];
        for step in [1, 2, 3, 7, 1 << 20] {
            let got = all(text, step).expect("reads");
            let got: Vec<(u64, Vec<&str>)> =
                got.iter().map(|(l, r)| (*l, r.iter().map(String::as_str).collect())).collect();
            assert_eq!(got, want, "read {step} bytes at a time");
        }
    }

    #[test]
    fn ragged_rows_and_unfinished_quotes_are_reported_by_line() {
        let e = all(b"a,b\n1,2\n3\n", 1 << 20).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("t.csv") && e.contains('3'), "{e}");
        // an unclosed quote runs to the end of the file: one field holding the rest
        let got = all(b"a,b\n1,\"2\n3,4\n", 1 << 20).expect("reads");
        assert_eq!(got[1], (2, vec!["1".to_string(), "2\n3,4\n".to_string()]));
    }

    #[test]
    fn lines_longer_than_the_buffer_grow_it() {
        let long = "x".repeat(3 * BUFFER);
        let text = format!("a,b\n{long},1\n2,3\n");
        let got = all(text.as_bytes(), 1 << 20).expect("reads");
        assert_eq!(got[1].1[0].len(), long.len());
        assert_eq!(got[2], (3, vec!["2".to_string(), "3".to_string()]));
    }

    /// The word-at-a-time split against a plain byte split, on random lines of every length
    /// made of the delimiter, its neighbours and bytes that trip carry-based tests.
    #[test]
    fn word_split_matches_a_byte_split() {
        let mut rng = crate::metrics::ci::SplitMix64::new(5);
        let alphabet =
            [b',', b'+', b'-', b'\t', b';', 0x00, 0x01, 0x7f, 0x80, 0xac, 0xff, b'0', b'a', b'\n', b'"', b'\r'];
        let (mut spans, mut copied) = (Vec::new(), Vec::new());
        for case in 0..20_000 {
            // mostly without the special bytes, so lines run past a 16-byte block
            let alphabet = if case % 3 == 0 { &alphabet[..] } else { &alphabet[..13] };
            let len = (rng.next_u64() % 40) as usize;
            let line: Vec<u8> = (0..len).map(|_| alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]).collect();
            for delimiter in [b',', b'\t', b';'] {
                spans.clear();
                split_fields(&line, delimiter, 0, &mut spans);
                let got: Vec<&[u8]> = spans.iter().map(|&(a, b)| &line[a..b]).collect();
                let want: Vec<&[u8]> = line.split(|&c| c == delimiter).collect();
                assert_eq!(got, want, "case {case}: {line:?}");
                // the line scan: the same fields before the first special byte, and where it is
                let mut hay = line.clone();
                hay.extend_from_slice(&line);
                let special = hay.iter().position(|c| matches!(c, b'\n' | b'"' | b'\r'));
                spans.clear();
                copied.clear();
                assert_eq!(scan(&hay, delimiter, 3, &mut spans, &mut copied), special, "case {case}: {hay:?}");
                let upto = &hay[..special.unwrap_or(hay.len())];
                assert_eq!(&copied[3..3 + upto.len()], upto, "case {case}: {hay:?}");
                let got: Vec<&[u8]> = spans.iter().map(|&(a, b)| &hay[a - 3..b - 3]).collect();
                let mut want: Vec<&[u8]> = upto.split(|&c| c == delimiter).collect();
                want.pop();
                assert_eq!(got, want, "case {case}: {hay:?}");
            }
        }
    }

    /// Rows of numbers and empty fields (up to 40 a line, so a 32-byte step may hold more
    /// delimiters than fields usually give), read in steps that put the buffer's refills
    /// everywhere, over more than one buffer, the last line without its newline: each
    /// record's fields and numbers (two a step, padded) are the plain split's and parse's.
    #[test]
    fn number_rows_across_refills_match_a_plain_split() {
        let mut rng = crate::metrics::ci::SplitMix64::new(13);
        let mut text = b"a,b,c,d,e\n".to_vec();
        let mut rows: Vec<Vec<Vec<u8>>> = Vec::new();
        while text.len() < 3 * BUFFER {
            let width = if rng.next_u64().is_multiple_of(8) { 40 } else { 5 };
            let fields: Vec<Vec<u8>> = (0..width)
                .map(|_| {
                    let r = rng.next_u64();
                    match r % 6 {
                        0 => Vec::new(),
                        1 => format!("-{}.{}", r % 100, (r >> 8) % 1_000_000).into_bytes(),
                        2 => format!("{}", (r >> 8) % 1000).into_bytes(),
                        3 => format!("0.{:0w$}", (r >> 8) % 10_000_000, w = 1 + (r >> 40) as usize % 15).into_bytes(),
                        4 => format!("{:e}", (r >> 11) as f64 / 7.0).into_bytes(),
                        _ => format!("{}.{}", (r >> 8) % 10, (r >> 16) % 10).into_bytes(),
                    }
                })
                .collect();
            text.extend_from_slice(&fields.join(&b","[..]));
            text.push(b'\n');
            rows.push(fields);
        }
        text.pop();
        for step in [1, 5, 4093, BUFFER - 1, 1 << 20] {
            let mut r = Records::new("t.csv", Trickle(&text, step), &text).expect("header");
            let mut rec = Record::default();
            let mut numbers = Vec::new();
            for (i, want) in rows.iter().enumerate() {
                assert_eq!(r.record(&mut rec).expect("reads"), Some(i as u64 + 2), "step {step}");
                let got: Vec<&[u8]> = (0..rec.len()).map(|k| rec.get(k)).collect();
                assert_eq!(got, want.iter().map(Vec::as_slice).collect::<Vec<_>>(), "step {step}, row {i}");
                let plain: Option<Vec<u64>> =
                    want.iter().map(|f| super::super::columns::parse_f64(f).map(f64::to_bits)).collect();
                let cols: Vec<usize> = (0..want.len()).collect();
                numbers.clear();
                let all = rec.numbers_into(&cols, &mut numbers);
                assert_eq!(all, plain.is_some(), "step {step}, row {i}");
                if let Some(plain) = plain {
                    assert_eq!(numbers.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), plain, "row {i}");
                }
            }
            assert_eq!(r.record(&mut rec).expect("end"), None);
        }
    }

    /// Random text made of the characters that matter (delimiters, quotes, line ends), read
    /// by this reader and by the `csv` crate (flexible, no header handling): the same
    /// records and fields, and each record on the physical line it starts on.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn matches_the_csv_crate_on_random_text() {
        let mut rng = crate::metrics::ci::SplitMix64::new(7);
        let alphabet: &[&[u8]] = &[b"a", b"1", b"0.5", b",", b",", b",", b"\"", b"\"\"", b"\n", b"\r\n", b" ", b"\n\n"];
        for case in 0..400 {
            let mut text = b"h1,h2,h3\n".to_vec();
            for _ in 0..(rng.next_u64() % 40) {
                text.extend_from_slice(alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]);
            }
            let mut reference = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&text[..]);
            let mut want: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
            let mut rec = ::csv::ByteRecord::new();
            while reference.read_byte_record(&mut rec).expect("csv reads") {
                // the csv crate's position is where it began scanning, before the blank lines
                // (and the `\n` of a `\r\n`) it skips: the record starts after those
                let mut at = rec.position().map_or(0, |p| p.byte()) as usize;
                while matches!(text.get(at), Some(b'\n' | b'\r')) {
                    at += 1;
                }
                let line = 1 + memchr::memchr_iter(b'\n', &text[..at]).count() as u64;
                want.push((line, rec.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()));
            }
            for step in [1, 1 << 20] {
                let mut r = Records::new("t.csv", Trickle(&text, step), &text).expect("header");
                let mut got: Vec<(u64, Vec<Vec<u8>>)> =
                    vec![(1, (0..r.header().len()).map(|i| r.header()[i].as_bytes().to_vec()).collect())];
                let mut rec = Record::default();
                // `record`, not `read`: records of any width, for the comparison
                while let Some(line) = r.record(&mut rec).expect("reads") {
                    got.push((line, (0..rec.len()).map(|i| rec.get(i).to_vec()).collect()));
                }
                assert_eq!(got, want, "case {case}: {:?}", String::from_utf8_lossy(&text));
            }
        }
    }
}
