//! Zstandard column chunks, inflated here rather than by the parquet crate.
//!
//! The parquet crate decodes zstd through the C library, which does not build for the page's
//! wasm without a C compiler for wasm. So a zstd chunk is handed to the crate as if it were
//! uncompressed (its bytes pass through untouched) and each page is inflated by `ruzstd`, pure
//! Rust, before the crate decodes it: the CLI and the page read the same files the same way.

use bytes::Bytes;
use parquet::basic::Compression;
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::RowGroupMetaData;
use std::borrow::Cow;
use std::io::Read as _;

/// The row group as the parquet crate should see it (zstd chunks marked uncompressed) and
/// which columns are zstd (by leaf index).
pub(super) fn as_uncompressed(rg: &RowGroupMetaData) -> Result<(Cow<'_, RowGroupMetaData>, Vec<bool>)> {
    let zstd: Vec<bool> = rg.columns().iter().map(|c| matches!(c.compression(), Compression::ZSTD(_))).collect();
    if !zstd.contains(&true) {
        return Ok((Cow::Borrowed(rg), zstd));
    }
    let columns = rg
        .columns()
        .iter()
        .zip(&zstd)
        .map(|(c, &z)| {
            if z {
                c.clone().into_builder().set_compression(Compression::UNCOMPRESSED).build()
            } else {
                Ok(c.clone())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Cow::Owned(rg.clone().into_builder().set_column_metadata(columns).build()?), zstd))
}

/// A zstd chunk's pages, each inflated as it is read.
pub(super) struct Pages {
    inner: Box<dyn PageReader>,
    /// No page inflates past the chunk's uncompressed size (from the footer): a damaged or
    /// hostile frame cannot take more memory than an honest chunk would.
    limit: u64,
}

impl Pages {
    pub(super) fn new(inner: Box<dyn PageReader>, uncompressed_size: i64) -> Self {
        Pages { inner, limit: u64::try_from(uncompressed_size).unwrap_or(0) }
    }

    /// `buf` with its bytes from `keep` on inflated (the levels before `keep` of a v2 page
    /// are stored uncompressed).
    fn inflate(&self, buf: &Bytes, keep: usize) -> Result<Bytes> {
        let head =
            buf.get(..keep).ok_or_else(|| ParquetError::General("a data page's levels run past the page".into()))?;
        let mut out = head.to_vec();
        let mut input = &buf[keep..];
        // a page may hold several frames back to back
        while !input.is_empty() {
            let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut input)
                .map_err(|e| ParquetError::General(format!("zstd: {e}")))?;
            let room = self.limit.saturating_sub(out.len() as u64) + 1;
            (&mut frame).take(room).read_to_end(&mut out).map_err(|e| ParquetError::General(format!("zstd: {e}")))?;
            if out.len() as u64 > self.limit {
                return Err(ParquetError::General(format!(
                    "a zstd page inflates past its column chunk's {} uncompressed bytes",
                    self.limit
                )));
            }
        }
        Ok(Bytes::from(out))
    }
}

impl PageReader for Pages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        let Some(mut page) = self.inner.get_next_page()? else { return Ok(None) };
        match &mut page {
            Page::DictionaryPage { buf, .. } | Page::DataPage { buf, .. } => *buf = self.inflate(buf, 0)?,
            Page::DataPageV2 { buf, def_levels_byte_len, rep_levels_byte_len, is_compressed, .. } => {
                if *is_compressed {
                    *buf = self.inflate(buf, *def_levels_byte_len as usize + *rep_levels_byte_len as usize)?;
                    *is_compressed = false;
                }
            }
        }
        Ok(Some(page))
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> Result<()> {
        self.inner.skip_next_page()
    }

    fn at_record_boundary(&mut self) -> Result<bool> {
        self.inner.at_record_boundary()
    }
}

impl Iterator for Pages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}
