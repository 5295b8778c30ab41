//! Readers that turn the files a user drops into rows for the metric accumulators.
//!
//! A reader never holds more than one chunk of parsed rows: records are streamed from any
//! `std::io::Read` and fed straight into an [`crate::metrics::Evaluation`]. Column roles are
//! found by name (see [`columns`]) and every error points at file, line and column.

pub mod columns;
pub mod csv;

pub use columns::{ColumnSpec, Plan, Roles};
