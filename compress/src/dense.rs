//! The dense stage of the pipeline: f32 weights, optional bias and the input vector, before compression.

use crate::error::{CompressError, Result, check_finite};

/// A dense FC layer `b = f(W a + v)`: W is `outputs x inputs`, row-major.
///
/// Invariants (checked by [`DenseLayer::new`]): `weights.len() == outputs * inputs`, the bias (if any)
/// has `outputs` entries, the input has `inputs` entries, both dimensions are non-zero, every value is
/// finite.
#[derive(Clone, Debug)]
pub struct DenseLayer {
    pub(crate) name: String,
    pub(crate) outputs: usize,
    pub(crate) inputs: usize,
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Option<Vec<f32>>,
    pub(crate) input: Vec<f32>,
    pub(crate) relu: bool,
}

impl DenseLayer {
    /// Validates shapes and values; `what` prefixes (file names, say) make errors point at their source.
    pub fn new(
        name: &str,
        outputs: usize,
        inputs: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
        input: Vec<f32>,
        relu: bool,
    ) -> Result<Self> {
        if outputs == 0 || inputs == 0 {
            return Err(CompressError::Shape(format!(
                "layer '{name}': weights are {outputs} x {inputs}; both dimensions must be at least 1"
            )));
        }
        if outputs.checked_mul(inputs) != Some(weights.len()) {
            return Err(CompressError::Shape(format!(
                "layer '{name}': {} weights for a {outputs} x {inputs} matrix",
                weights.len()
            )));
        }
        if let Some(b) = &bias {
            if b.len() != outputs {
                return Err(CompressError::Shape(format!(
                    "layer '{name}': bias has {} entries but the weights have {outputs} rows (outputs)",
                    b.len()
                )));
            }
            check_finite(&format!("layer '{name}' bias"), b)?;
        }
        if input.len() != inputs {
            return Err(CompressError::Shape(format!(
                "layer '{name}': input has {} entries but the weights have {inputs} columns (inputs)",
                input.len()
            )));
        }
        check_finite(&format!("layer '{name}' weights"), &weights)?;
        check_finite(&format!("layer '{name}' input"), &input)?;
        Ok(Self {
            name: name.to_string(),
            outputs,
            inputs,
            weights,
            bias,
            input,
            relu,
        })
    }

    /// Layer name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Rows of W.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
    /// Columns of W.
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// W, row-major.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// The bias, if the layer has one.
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
    /// The input activations.
    pub fn input(&self) -> &[f32] {
        &self.input
    }
    /// Whether the output goes through ReLU.
    pub fn relu(&self) -> bool {
        self.relu
    }
    /// Non-zero weights.
    pub fn nnz(&self) -> usize {
        self.weights.iter().filter(|&&w| w != 0.0).count()
    }
}
