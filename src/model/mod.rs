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
pub use load::{tensor_from_bytes, ExternalResolver, LoadOptions};
pub mod complexity;
pub mod shape;
pub mod text;

pub use complexity::{analyze, ModelCard};
pub use shape::ShapeOptions;

/// Load leniently (missing external files are tolerated: counts need shapes, not values) and
/// build the card.
pub fn inspect_bytes(
    file_name: &str,
    bytes: impl Into<bytes::Bytes>,
    external: &ExternalResolver<'_>,
    opts: &ShapeOptions,
) -> crate::Result<ModelCard> {
    let lenient = LoadOptions { allow_missing_external: true };
    let model = Model::from_bytes_with(file_name, bytes, external, lenient)?;
    Ok(complexity::analyze_inlined(&inline_functions(model), opts))
}

/// [`inspect_bytes`] for a file on disk, with external data read from its folder.
#[cfg(not(target_arch = "wasm32"))]
pub fn inspect_path(path: &std::path::Path, opts: &ShapeOptions) -> crate::Result<ModelCard> {
    let model = Model::from_path(path, LoadOptions { allow_missing_external: true })?;
    Ok(complexity::analyze_inlined(&inline_functions(model), opts))
}

fn inline_functions(mut model: Model) -> Model {
    if let Some(nodes) = model.inlined_nodes() {
        model.graph.nodes = nodes;
    }
    model
}
