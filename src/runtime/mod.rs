//! Running ONNX models: an executor over the graph IR of [`crate::model`] and CPU kernels.

pub mod cpu;
pub mod tensor;

pub use tensor::{Data, Tensor};
