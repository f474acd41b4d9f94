//! Reading and writing named f32 tensors in the safetensors format.

use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::{EngineError, numeric::canonicalize_all};

fn weights_error(tensor: &str, message: impl Into<String>) -> EngineError {
    EngineError::Weights { tensor: tensor.to_owned(), message: message.into() }
}

/// A parsed safetensors file.
pub struct TensorFile<'a> {
    inner: SafeTensors<'a>,
}

impl std::fmt::Debug for TensorFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorFile").field("tensors", &self.inner.len()).finish()
    }
}

impl<'a> TensorFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EngineError> {
        let inner = SafeTensors::deserialize(bytes).map_err(|e| weights_error("(header)", e.to_string()))?;
        Ok(Self { inner })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.inner.tensor(name).is_ok()
    }

    /// The f32 tensor `name`, which must have exactly `shape`; values are canonicalized (see
    /// `numeric`), so weights with denormals compute the same everywhere.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let view = self.inner.tensor(name).map_err(|_| weights_error(name, "missing from the file"))?;
        if view.dtype() != Dtype::F32 {
            return Err(weights_error(name, format!("dtype is {:?}, expected F32", view.dtype())));
        }
        if view.shape() != shape {
            return Err(weights_error(name, format!("shape is {:?}, expected {shape:?}", view.shape())));
        }
        let mut values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        canonicalize_all(&mut values);
        Ok(values)
    }
}

/// A checkpoint's tensors, in one file or sharded over several (Hugging Face's
/// `model.safetensors.index.json`): each name is looked up in every file.
#[derive(Debug)]
pub struct Tensors<'a> {
    files: Vec<TensorFile<'a>>,
}

impl<'a> Tensors<'a> {
    /// Parses each file; a name in two of them is refused.
    pub fn parse(files: &[&'a [u8]]) -> Result<Self, EngineError> {
        let files = files.iter().map(|b| TensorFile::parse(b)).collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::BTreeSet::new();
        for file in &files {
            for name in file.inner.names() {
                if !seen.insert(name) {
                    return Err(weights_error(name, "is in two of the checkpoint's files"));
                }
            }
        }
        Ok(Self { files })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.files.iter().any(|f| f.contains(name))
    }

    /// As [`TensorFile::floats`], from whichever file holds `name`.
    pub fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        match self.files.iter().find(|f| f.contains(name)) {
            Some(file) => file.floats(name, shape),
            None => Err(weights_error(name, "missing from the checkpoint")),
        }
    }
}

impl TensorFile<'_> {
    /// The tensor `name` stored as F32, F16 or BF16, which must have exactly `shape`, widened to
    /// f32 (exactly: every F16 and BF16 value is an f32) and canonicalized.
    pub fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let view = self.inner.tensor(name).map_err(|_| weights_error(name, "missing from the file"))?;
        if view.shape() != shape {
            return Err(weights_error(name, format!("shape is {:?}, expected {shape:?}", view.shape())));
        }
        let mut values: Vec<f32> = match view.dtype() {
            Dtype::F32 => return self.f32(name, shape),
            Dtype::F16 => {
                view.data().chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            Dtype::BF16 => {
                view.data().chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            other => return Err(weights_error(name, format!("dtype is {other:?}; F32, F16 or BF16 expected"))),
        };
        canonicalize_all(&mut values);
        Ok(values)
    }
}

/// Serializes named f32 tensors (name -> (shape, values)) to safetensors bytes. The layout is a
/// function of the names, shapes and values only, so equal tensors give equal bytes.
pub fn to_bytes(tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Result<Vec<u8>, EngineError> {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            (name.clone(), shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
        })
        .collect();
    let mut views = Vec::with_capacity(raw.len());
    for (name, shape, bytes) in &raw {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| weights_error(name, format!("cannot be written: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, None).map_err(|e| weights_error("(file)", format!("cannot be written: {e}")))
}
