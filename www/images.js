// Image datasets in the worker: the third wasm module (pkg/webeval_images*), the PNG/JPEG
// decoders the main module has no room for, loaded on the first zip dropped as a model's
// dataset, so pages that never see one never fetch it. The main module's runModel works out
// the model's preprocessing and calls back with it for the tensors.

let loaded;
const load = () => {
  loaded ??= import('./pkg/webeval_images.js').then(async (m) => {
    await m.default({ module_or_path: new URL('./pkg/webeval_images_bg.wasm', import.meta.url) });
    return m;
  });
  return loaded;
};

/** True when the dataset `name` is one the image module decodes (an ImageFolder zip). */
export const isImageZip = (name) => /\.zip$/i.test(name ?? '');

/** runModel's `images` callback over `bytes`, the zip named `name`: spec JSON in, tensors out. */
export async function imageDecoder(name, bytes) {
  const images = await load();
  return (spec) => images.decodeImageZip(name, bytes, spec);
}
