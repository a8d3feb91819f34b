//! Loading real layers: W from a 2-D f32 `.npy` file or a named tensor of a `.safetensors` file, with
//! optional bias and input files.
//!
//! A tensor inside a `.safetensors` file is named as `FILE.safetensors:TENSOR`; the name may be left out
//! when the file holds exactly one tensor. W is `(outputs, inputs)` (PyTorch's `(out_features,
//! in_features)`), the bias `(outputs,)`, the input `(inputs,)`.
//!
//! Every file is read only if it is a regular file ([`open_regular`], also used for the model's TOML
//! configuration): a FIFO, a pipe such as `/dev/stdin`, a device or a directory is refused before it is
//! opened, with an error naming the path.

use crate::dense::DenseLayer;
use crate::error::{CompressError, Result};
use crate::spec::{LayerSpec, check_density};
use std::path::PathBuf;

pub use crate::source::{OpenError, open_regular};

/// A file, and for `.safetensors` files the tensor inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSource {
    pub path: PathBuf,
    pub tensor: Option<String>,
}

impl TensorSource {
    /// Parses `FILE.npy`, `FILE.safetensors` or `FILE.safetensors:TENSOR`.
    pub fn parse(s: &str) -> Self {
        if let Some(pos) = s.rfind(".safetensors:") {
            let split = pos + ".safetensors".len();
            return Self {
                path: PathBuf::from(&s[..split]),
                tensor: Some(s[split + 1..].to_string()),
            };
        }
        Self {
            path: PathBuf::from(s),
            tensor: None,
        }
    }

    fn is_safetensors(&self) -> bool {
        self.tensor.is_some() || self.path.extension().is_some_and(|e| e == "safetensors")
    }

    /// How errors name this source.
    pub fn label(&self) -> String {
        match &self.tensor {
            Some(t) => format!("{}:{t}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    /// Reads the array as (shape, f32 data in C order).
    pub fn read(&self) -> Result<(Vec<usize>, Vec<f32>)> {
        if self.is_safetensors() {
            crate::safetensors_file::read_f32(&self.path, self.tensor.as_deref())
        } else {
            let a = crate::npy::read_f32(&self.path)?;
            Ok((a.shape, a.data))
        }
    }
}

/// What to load.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadRequest {
    /// Layer name (defaults to the weight file's stem).
    pub name: Option<String>,
    pub weights: TensorSource,
    pub bias: Option<TensorSource>,
    pub input: Option<TensorSource>,
    /// Whether the output goes through ReLU.
    pub relu: bool,
    /// Density of the generated input when no input file is given (non-negative values for ReLU layers).
    pub act_density: f64,
}

fn expect_rank(src: &TensorSource, shape: &[usize], rank: usize, what: &str) -> Result<()> {
    if shape.len() != rank {
        return Err(CompressError::bad_file(
            &src.path,
            format!(
                "{} must be {rank}-D ({what}) but has shape {shape:?}",
                src.label()
            ),
        ));
    }
    if shape.contains(&0) {
        return Err(CompressError::bad_file(
            &src.path,
            format!("{} has an empty dimension: shape {shape:?}", src.label()),
        ));
    }
    Ok(())
}

/// Loads W, bias and input into a validated [`DenseLayer`].
pub fn load_dense(req: &LoadRequest) -> Result<DenseLayer> {
    check_density("activation density", req.act_density)?;
    let (wshape, weights) = req.weights.read()?;
    expect_rank(&req.weights, &wshape, 2, "outputs x inputs")?;
    let (outputs, inputs) = (wshape[0], wshape[1]);
    let name = req.name.clone().unwrap_or_else(|| {
        req.weights
            .path
            .file_stem()
            .map_or("layer".into(), |s| s.to_string_lossy().into_owned())
    });
    crate::error::check_finite(&req.weights.label(), &weights)?;
    let bias = match &req.bias {
        Some(src) => {
            let (shape, b) = src.read()?;
            expect_rank(src, &shape, 1, "one value per output")?;
            if shape[0] != outputs {
                return Err(CompressError::Shape(format!(
                    "bias {} has {} entries but weights {} have {outputs} rows (outputs)",
                    src.label(),
                    shape[0],
                    req.weights.label()
                )));
            }
            crate::error::check_finite(&src.label(), &b)?;
            Some(b)
        }
        None => None,
    };
    let input = match &req.input {
        Some(src) => {
            let (shape, a) = src.read()?;
            expect_rank(src, &shape, 1, "one value per input")?;
            if shape[0] != inputs {
                return Err(CompressError::Shape(format!(
                    "input {} has {} entries but weights {} have {inputs} columns (inputs)",
                    src.label(),
                    shape[0],
                    req.weights.label()
                )));
            }
            crate::error::check_finite(&src.label(), &a)?;
            a
        }
        None => {
            let spec = LayerSpec::new(&name, inputs, outputs, 1.0, req.act_density, req.relu)?;
            crate::generate::activations(&spec)
        }
    };
    DenseLayer::new(&name, outputs, inputs, weights, bias, input, req.relu)
}
