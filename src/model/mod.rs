//! ONNX models: loading, a graph IR, shape inference and complexity analysis.
//!
//! The pipeline is `bytes -> onnx (prost messages) -> ir::Model -> shapes -> complexity`.
//! The IR is what the runtime executes, so it is deliberately plain: nodes in file order,
//! initializers decoded to typed vectors, attributes fetched by name with typed getters.
//! Nothing here touches JS or the GPU.

pub mod ir;
pub mod load;
pub mod onnx;

pub use ir::{
    AttrValue, Attribute, DataType, Dim, Function, Graph, Model, Node, OpsetImport, Tensor, TensorData, ValueInfo,
    ValueType,
};
pub use load::{ExternalResolver, LoadOptions};
