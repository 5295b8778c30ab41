//! Tensors as the executor sees them: a shape plus a flat, row-major buffer.
//!
//! Floats are the working type of every kernel; i64 carries shapes, indices and labels,
//! bools come out of comparisons and strings out of scikit-learn label encoders. Keeping
//! one enum (not a generic) lets the graph hold a single value map and the memory plan
//! recycle `Vec<f32>` buffers by capacity.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        debug_assert_eq!(numel(&shape), data.len());
        Tensor { shape, data: Data::F32(data) }
    }
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        debug_assert_eq!(numel(&shape), data.len());
        Tensor { shape, data: Data::I64(data) }
    }
    pub fn bool(shape: Vec<usize>, data: Vec<bool>) -> Tensor {
        Tensor { shape, data: Data::Bool(data) }
    }
    pub fn strings(shape: Vec<usize>, data: Vec<String>) -> Tensor {
        Tensor { shape, data: Data::Str(data) }
    }
    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor::f32(Vec::new(), vec![v])
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn dtype(&self) -> &'static str {
        match &self.data {
            Data::F32(_) => "float32",
            Data::I64(_) => "int64",
            Data::Bool(_) => "bool",
            Data::Str(_) => "string",
        }
    }

    /// The float data, or an error naming `what` (a tensor or node) for other types.
    pub fn as_f32(&self, what: &str) -> Result<&[f32]> {
        match &self.data {
            Data::F32(v) => Ok(v),
            _ => Err(type_error(what, "float32", self.dtype())),
        }
    }
    pub fn as_i64(&self, what: &str) -> Result<&[i64]> {
        match &self.data {
            Data::I64(v) => Ok(v),
            _ => Err(type_error(what, "int64", self.dtype())),
        }
    }

    /// Values as f32 whatever the type (for ops that accept any numeric input).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Bool(v) => v.iter().map(|&x| f32::from(u8::from(x))).collect(),
            Data::Str(v) => v.iter().map(|s| s.trim().parse().unwrap_or(f32::NAN)).collect(),
        }
    }
    /// Values as i64 (truncating floats), for shape and index inputs.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::Bool(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::Str(v) => v.iter().map(|s| s.trim().parse().unwrap_or(0)).collect(),
        }
    }

    /// Same data, new shape (element count must match).
    pub fn reshaped(mut self, shape: Vec<usize>) -> Result<Tensor> {
        if numel(&shape) != self.len() {
            return Err(Error::Runtime(format!(
                "cannot reshape a tensor of shape {:?} ({} values) to {:?}",
                self.shape,
                self.len(),
                shape
            )));
        }
        self.shape = shape;
        Ok(self)
    }

    /// Gather elements by flat index into a new tensor of the same type.
    pub fn gather_flat(&self, shape: Vec<usize>, idx: &[usize]) -> Tensor {
        let data = match &self.data {
            Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
            Data::I64(v) => Data::I64(idx.iter().map(|&i| v[i]).collect()),
            Data::Bool(v) => Data::Bool(idx.iter().map(|&i| v[i]).collect()),
            Data::Str(v) => Data::Str(idx.iter().map(|&i| v[i].clone()).collect()),
        };
        Tensor { shape, data }
    }

    /// Concatenate same-typed tensors' flat data in order (shapes are the caller's job).
    pub fn concat_flat(parts: &[&Tensor], shape: Vec<usize>) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| Error::Runtime("nothing to concatenate".into()))?;
        macro_rules! cat {
            ($variant:ident) => {{
                let mut out = Vec::with_capacity(numel(&shape));
                for p in parts {
                    match &p.data {
                        Data::$variant(v) => out.extend_from_slice(v),
                        _ => return Err(type_error("Concat input", first.dtype(), p.dtype())),
                    }
                }
                Data::$variant(out)
            }};
        }
        let data = match &first.data {
            Data::F32(_) => cat!(F32),
            Data::I64(_) => cat!(I64),
            Data::Bool(_) => cat!(Bool),
            Data::Str(_) => cat!(Str),
        };
        Ok(Tensor { shape, data })
    }
}

fn type_error(what: &str, expected: &str, found: &str) -> Error {
    Error::Runtime(format!("{what}: expected a {expected} tensor, got {found}"))
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Numpy-style broadcast of two shapes, or None when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides to read a tensor of `shape` as if broadcast to `out` (0 on broadcast axes).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len()).map(|i| if i < off || shape[i - off] == 1 { 0 } else { s[i - off] }).collect()
}

/// Resolve a possibly negative axis against a rank.
pub fn norm_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(Error::Runtime(format!("{what}: axis {axis} is out of range for a rank-{rank} tensor")));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3, 4], &[4]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
