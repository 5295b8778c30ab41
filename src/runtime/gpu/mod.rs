//! GPU runtime: the CPU runtime's ops as WGSL compute kernels run through wgpu (Vulkan, Metal
//! or DX12 natively, WebGPU in the browser).
//!
//! Why this shape: a browser tab's GPU is reached only through WebGPU, and readbacks are the
//! expensive part, so tensors stay on the device for a whole graph ([`GpuTensor`]) and every
//! kernel records into one [`Recorder`] that is submitted with a single readback at the end.
//! Each kernel family is one `.wgsl` file next to its Rust wrapper. The CPU runtime is the
//! oracle: `tests/gpu.rs` runs the same cases on both and compares within ONNX tolerances.
//! Anything this module refuses (limits, unsupported attributes) is an [`crate::Error`] the
//! executor answers by running that op on the CPU.

pub mod conv;
pub mod device;
pub mod elementwise;
pub mod gemm;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod sort;

pub use conv::{conv2d, Window};
pub use device::{AdapterSummary, Gpu, GpuTensor, Recorder};
pub use elementwise::{binary, expand, transpose, unary, Act, BinOp};
pub use gemm::{gemm, matmul};
pub use norm::{channel_affine, fold_batch_norm, layer_norm};
pub use pool::{pool2d, PoolKind};
pub use reduce::{global_pool, reduce, ReduceOp};
pub use softmax::softmax;
pub mod session;
pub use session::{select, DevicePref, GpuSession, Selection};
