//! The page's image module: PNG/JPEG decoding alone (the lib built with the feature
//! `images-module`, in which this replaces `web` as the JavaScript boundary).
//!
//! The `image` crate's decoders and resizing are ~140 KB of gzipped wasm, more than the main
//! module has room for under the page's size budget, and most visits never drop an image
//! dataset. So the worker loads this module on the first zip of images, the main module's
//! `runModel` works out the model's preprocessing (`runtime::infer::image_spec`) and calls
//! back for the tensors, and this module decodes them with the very code the CLI runs
//! (`data::images`): the page and `webeval run` see the same pixels.

use crate::data::images::{decode_into, ImageSpec, ZipImages};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn spec_of(json: &str) -> Result<ImageSpec, JsError> {
    serde_json::from_str(json).map_err(|e| JsError::new(&format!("bad image settings: {e}")))
}

/// An ImageFolder zip (`class_name/image.png`) decoded for a model: `spec` is the JSON of
/// `data::images::ImageSpec` (what `runModel` passes). Returns `{data: Float32Array` (every
/// image, in `spec`'s layout and normalisation), `labels: Uint32Array` (class index per
/// image), `classes: string[]` (the sorted folder names)`}`.
#[wasm_bindgen(js_name = decodeImageZip)]
pub fn decode_image_zip(file_name: &str, bytes: &[u8], spec: &str) -> Result<JsValue, JsError> {
    let spec = spec_of(spec)?;
    let mut zip = ZipImages::new(file_name, std::io::Cursor::new(bytes)).map_err(js_err)?;
    let folder = zip.folder().map_err(js_err)?;
    let batch = folder.batch(&mut zip, &spec, 0..folder.len()).map_err(js_err)?;
    let labels: Vec<u32> = batch.labels.iter().map(|&i| i as u32).collect();
    let out = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| {
        js_sys::Reflect::set(&out, &JsValue::from_str(key), value)
            .map_err(|_| JsError::new(&format!("{file_name}: cannot hand over the decoded images")))
    };
    set("data", &js_sys::Float32Array::from(&batch.data[..]))?;
    set("labels", &js_sys::Uint32Array::from(&labels[..]))?;
    set("classes", &serde_wasm_bindgen::to_value(folder.classes())?)?;
    Ok(out.into())
}

/// Decode one PNG/JPEG into a model input (`Float32Array`, CHW or HWC per `spec`).
/// `spec` is optional JSON: `{width, height, channels, layout: "nchw"|"nhwc",
/// resize: "stretch" | {shorter_then_center_crop: {shorter}}, mean: [..], std: [..]}`;
/// missing fields take ImageNet evaluation defaults (224x224, resize 256 + centre crop).
#[wasm_bindgen(js_name = decodeImage)]
pub fn decode_image(file_name: &str, bytes: &[u8], spec: Option<String>) -> Result<js_sys::Float32Array, JsError> {
    let spec = spec.as_deref().map(spec_of).transpose()?.unwrap_or_default();
    let mut out = Vec::with_capacity(spec.image_len());
    decode_into(file_name, bytes, &spec, &mut out).map_err(js_err)?;
    Ok(js_sys::Float32Array::from(&out[..]))
}
