//! Image datasets for the inference runtime: PNG/JPEG files laid out as
//! `class_name/image.png` (torchvision's ImageFolder convention), from a zip or a dropped
//! folder, decoded into model-ready `f32` batches with labels.
//!
//! The index (paths and classes) is built from names alone; pixels are decoded a batch at a
//! time, so a dataset costs one batch of tensors plus whatever holds the files (the zip's
//! bytes, or nothing when a callback fetches each file). Classes are the sorted folder
//! names and class `i` is output `i`, as in torchvision.
//!
//! The settings and the index are always built; decoding (the `image` crate, feature
//! `images`) is not in the page's main wasm module, which has no room for it under the size
//! budget: the page's image module (`web_images`) decodes and hands the tensors over.

use crate::error::{Error, Location, Result};
#[cfg(feature = "images")]
use image::imageops::{self, FilterType};
#[cfg(feature = "images")]
use image::{ImageBuffer, Pixel};
use std::io::{Read, Seek};

/// Memory order of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorLayout {
    /// `[batch, channels, height, width]` (PyTorch, most ONNX vision models).
    #[default]
    Nchw,
    /// `[batch, height, width, channels]` (TensorFlow/Keras exports).
    Nhwc,
}

/// How an image is brought to the model's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Stretch to exactly `width x height`.
    Stretch,
    /// Scale the shorter side to `shorter` keeping the aspect ratio, then cut the centre
    /// `width x height` (torchvision's `Resize(256)` + `CenterCrop(224)`).
    ShorterThenCenterCrop { shorter: u32 },
}

/// What the model expects. Pixels become `(value / 255 - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImageSpec {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB) or 1 (grey).
    pub channels: usize,
    pub layout: TensorLayout,
    pub resize: Resize,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Default for ImageSpec {
    /// ImageNet evaluation preprocessing: 224x224 RGB, NCHW, shorter side 256 then centre
    /// crop, ImageNet mean/std.
    fn default() -> Self {
        ImageSpec {
            width: 224,
            height: 224,
            channels: 3,
            layout: TensorLayout::Nchw,
            resize: Resize::ShorterThenCenterCrop { shorter: 256 },
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }
}

impl ImageSpec {
    /// Floats per image.
    pub fn image_len(&self) -> usize {
        self.width as usize * self.height as usize * self.channels
    }

    #[cfg_attr(not(feature = "images"), allow(dead_code))]
    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("image settings: {m}")));
        if self.width == 0 || self.height == 0 || self.width > 8192 || self.height > 8192 {
            return bad(format!("size {}x{} must be between 1 and 8192 pixels", self.width, self.height));
        }
        if self.channels != 1 && self.channels != 3 {
            return bad(format!("{} channels; expected 1 (grey) or 3 (RGB)", self.channels));
        }
        if self.mean.len() != self.channels || self.std.len() != self.channels {
            return bad(format!("mean and std need {} values each (one per channel)", self.channels));
        }
        if self.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return bad("std values must be finite and non-zero".into());
        }
        if let Resize::ShorterThenCenterCrop { shorter } = self.resize {
            if shorter < self.width.min(self.height) || shorter > 16384 {
                return bad(format!("resize to {shorter} is smaller than the {}x{} crop", self.width, self.height));
            }
        }
        Ok(())
    }
}

fn image_error(file: &str, message: String) -> Error {
    Error::Malformed { loc: Location::file(file), message }
}

/// Decode one PNG or JPEG and append its tensor (`spec.image_len()` floats, CHW or HWC) to `out`.
#[cfg(feature = "images")]
pub fn decode_into(file: &str, bytes: &[u8], spec: &ImageSpec, out: &mut Vec<f32>) -> Result<()> {
    spec.check()?;
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(file, e.to_string()))?
        .decode()
        .map_err(|e| image_error(file, format!("cannot decode the image ({e}); expected a PNG or JPEG file")))?;
    // Brought to 8-bit RGB or grey first, so resizing is compiled for two pixel types rather
    // than for every layout a decoder can return (`DynamicImage::resize_exact` was a 37 KB
    // function in the wasm).
    if spec.channels == 3 {
        write_pixels(&fit(file, img.to_rgb8(), spec)?, spec, out);
    } else {
        write_pixels(&fit(file, img.to_luma8(), spec)?, spec, out);
    }
    Ok(())
}

#[cfg(feature = "images")]
type Buffer<P> = ImageBuffer<P, Vec<u8>>;

/// Resize (and crop) to the model's `width x height` as `spec.resize` says.
#[cfg(feature = "images")]
fn fit<P: Pixel<Subpixel = u8> + 'static>(file: &str, img: Buffer<P>, spec: &ImageSpec) -> Result<Buffer<P>> {
    let (w, h) = (spec.width, spec.height);
    Ok(match spec.resize {
        Resize::Stretch if img.dimensions() == (w, h) => img,
        Resize::Stretch => imageops::resize(&img, w, h, FilterType::Triangle),
        Resize::ShorterThenCenterCrop { shorter } => {
            let (iw, ih) = (img.width().max(1), img.height().max(1));
            let scale = f64::from(shorter) / f64::from(iw.min(ih));
            let nw = ((f64::from(iw) * scale).round() as u32).max(w);
            let nh = ((f64::from(ih) * scale).round() as u32).max(h);
            if u64::from(nw) * u64::from(nh) > 1 << 26 {
                return Err(image_error(
                    file,
                    format!(
                        "is {iw}x{ih}; scaling its shorter side to {shorter} would make {nw}x{nh} pixels (too many)"
                    ),
                ));
            }
            let resized = if (nw, nh) == (iw, ih) { img } else { imageops::resize(&img, nw, nh, FilterType::Triangle) };
            imageops::crop_imm(&resized, (nw - w) / 2, (nh - h) / 2, w, h).to_image()
        }
    })
}

/// Append the pixels, normalised by the spec's mean and std, in its layout.
#[cfg(feature = "images")]
fn write_pixels<P: Pixel<Subpixel = u8>>(img: &Buffer<P>, spec: &ImageSpec, out: &mut Vec<f32>) {
    let (w, h, c) = (img.width() as usize, img.height() as usize, spec.channels);
    let start = out.len();
    out.resize(start + w * h * c, 0.0);
    let dst = &mut out[start..];
    let scale: Vec<f32> = spec.std.iter().map(|s| 1.0 / (255.0 * s)).collect();
    let shift: Vec<f32> = spec.mean.iter().zip(&spec.std).map(|(m, s)| m / s).collect();
    for (x, y, p) in img.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        for (ch, &v) in p.channels().iter().enumerate().take(c) {
            let at = match spec.layout {
                TensorLayout::Nchw => (ch * h + y) * w + x,
                TensorLayout::Nhwc => (y * w + x) * c + ch,
            };
            dst[at] = f32::from(v) * scale[ch] - shift[ch];
        }
    }
}

/// One image, one example.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: String,
    pub class: usize,
}

/// Decoded images and their labels, ready for a model input.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `shape` in `layout` order, `f32`, normalised.
    pub data: Vec<f32>,
    pub shape: [usize; 4],
    /// Class index per image (into [`ImageFolder::classes`]).
    pub labels: Vec<usize>,
    pub paths: Vec<String>,
}

/// Where image bytes come from: a zip archive, or a callback (the page reads dropped files).
pub trait ImageSource {
    fn read(&mut self, path: &str) -> Result<Vec<u8>>;
}

impl<F: FnMut(&str) -> Result<Vec<u8>>> ImageSource for F {
    fn read(&mut self, path: &str) -> Result<Vec<u8>> {
        self(path)
    }
}

/// A zip of `class_name/image.png` files, read member by member.
pub struct ZipImages<R> {
    file: String,
    archive: zip::ZipArchive<R>,
}

impl<R: Read + Seek> ZipImages<R> {
    pub fn new(file: &str, reader: R) -> Result<Self> {
        let archive = zip::ZipArchive::new(reader).map_err(|e| {
            image_error(
                file,
                format!("is not a readable zip archive ({e}); expected a zip of class_name/image.png files"),
            )
        })?;
        Ok(ZipImages { file: file.to_string(), archive })
    }

    /// The dataset index from the archive's file names.
    pub fn folder(&self) -> Result<ImageFolder> {
        ImageFolder::from_paths(&self.file, self.archive.file_names().map(str::to_string))
    }
}

impl<R: Read + Seek> ImageSource for ZipImages<R> {
    fn read(&mut self, path: &str) -> Result<Vec<u8>> {
        let name = format!("{}/{path}", self.file);
        let mut entry = self.archive.by_name(path).map_err(|e| image_error(&name, format!("cannot open ({e})")))?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| image_error(&name, format!("cannot read ({e})")))?;
        Ok(bytes)
    }
}

/// The ImageFolder index: images grouped by their parent folder's name.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    #[cfg_attr(not(feature = "images"), allow(dead_code))]
    file: String,
    classes: Vec<String>,
    samples: Vec<Sample>,
    /// Paths left out: not PNG/JPEG, hidden, or not inside a class folder.
    pub ignored: Vec<String>,
}

const IMAGE_EXTENSIONS: &[&str] = &[".png", ".jpg", ".jpeg"];

impl ImageFolder {
    /// Index `paths` (relative, `/`-separated, as in a zip or `webkitRelativePath`).
    /// `file` names the dataset in messages.
    pub fn from_paths<I: IntoIterator<Item = String>>(file: &str, paths: I) -> Result<Self> {
        let mut found: Vec<(String, String)> = Vec::new();
        let mut ignored = Vec::new();
        for path in paths {
            let path = path.replace('\\', "/");
            if path.ends_with('/') {
                continue;
            }
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            let lower = path.to_ascii_lowercase();
            let hidden = parts.iter().any(|p| p.starts_with('.') || *p == "__MACOSX");
            let is_image = IMAGE_EXTENSIONS.iter().any(|e| lower.ends_with(e));
            match parts.len() {
                n if n >= 2 && is_image && !hidden => found.push((parts[n - 2].to_string(), path.clone())),
                _ => ignored.push(path),
            }
        }
        if found.is_empty() {
            return Err(image_error(
                file,
                format!(
                    "has no PNG/JPEG images inside class folders ({} other files); expected class_name/image.png",
                    ignored.len()
                ),
            ));
        }
        let mut classes: Vec<String> = found.iter().map(|(c, _)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        let samples =
            found.into_iter().map(|(c, path)| Sample { class: classes.binary_search(&c).unwrap_or(0), path }).collect();
        Ok(ImageFolder { file: file.to_string(), classes, samples, ignored })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Decode images `range` into one batch.
    #[cfg(feature = "images")]
    pub fn batch<S: ImageSource + ?Sized>(
        &self,
        source: &mut S,
        spec: &ImageSpec,
        range: std::ops::Range<usize>,
    ) -> Result<Batch> {
        let picked = self.samples.get(range.clone()).ok_or_else(|| {
            Error::InvalidArgument(format!("images {range:?} out of range; the dataset has {}", self.samples.len()))
        })?;
        let mut data = Vec::with_capacity(picked.len() * spec.image_len());
        for s in picked {
            let bytes = source.read(&s.path)?;
            decode_into(&format!("{}/{}", self.file, s.path), &bytes, spec, &mut data)?;
        }
        let (h, w, c) = (spec.height as usize, spec.width as usize, spec.channels);
        let shape = match spec.layout {
            TensorLayout::Nchw => [picked.len(), c, h, w],
            TensorLayout::Nhwc => [picked.len(), h, w, c],
        };
        Ok(Batch {
            data,
            shape,
            labels: picked.iter().map(|s| s.class).collect(),
            paths: picked.iter().map(|s| s.path.clone()).collect(),
        })
    }

    /// All images in batches of `batch_size` (the last may be smaller).
    #[cfg(feature = "images")]
    pub fn batches<'a, S: ImageSource + ?Sized>(
        &'a self,
        source: &'a mut S,
        spec: &'a ImageSpec,
        batch_size: usize,
    ) -> impl Iterator<Item = Result<Batch>> + 'a {
        let step = batch_size.max(1);
        (0..self.samples.len())
            .step_by(step)
            .map(move |i| self.batch(source, spec, i..(i + step).min(self.samples.len())))
    }
}
