//! webeval: model evaluation that runs in a browser tab.
//!
//! The core is plain Rust so the same code serves the page (through [`web`], compiled to
//! WebAssembly) and the CLI (`src/main.rs`). Data flows one way:
//!
//! ```text
//! data (files -> typed chunks) -> metrics (mergeable accumulators) -> report (JSON, SVG plots)
//! model (ONNX -> graph IR -> shapes -> complexity)      runtime (IR -> tensors, CPU / GPU)
//! ```
//!
//! See ARCHITECTURE.md for the code map and the invariants.

pub mod data;
pub mod error;
pub mod metrics;
pub mod model;
pub mod report;
pub mod runtime;

#[cfg(all(target_arch = "wasm32", not(feature = "parquet-module"), not(feature = "images-module")))]
pub mod web;
/// The page's third module (feature `images-module`): the image decoders' boundary.
#[cfg(all(target_arch = "wasm32", feature = "images-module"))]
pub mod web_images;
/// The page's second module (feature `parquet-module`): the Parquet decoder's boundary.
#[cfg(all(target_arch = "wasm32", feature = "parquet-module"))]
pub mod web_parquet;

pub use error::{Error, Location, Result};
