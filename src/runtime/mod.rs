//! Running ONNX models: an executor over the graph IR of [`crate::model`], with CPU kernels
//! as the reference backend (and the oracle any other backend is tested against).

pub mod cpu;
pub mod engine;
pub mod executor;
pub mod infer;
pub mod tensor;

pub use engine::{DeviceInfo, DevicePref, Engine};
pub use executor::{Backend, BufferPool, CompileCtx, Kernel, Session};
pub use tensor::{Data, Tensor};
/// The wgpu backend (feature `gpu`), tested against the CPU kernels.
#[cfg(feature = "gpu")]
pub mod gpu;
