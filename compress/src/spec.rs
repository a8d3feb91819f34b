//! Layer specifications: the nine benchmark layers of the EIE paper's Table III, and custom ones.
//!
//! Table III's "Size" column is read as (inputs, outputs): W has `outputs` rows and `inputs` columns.

use crate::error::{CompressError, Result};
use crate::rng::seed_from_name;
use serde::{Deserialize, Serialize};

/// What to build: the shape, the densities and the output function of one FC layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Display name, as the paper prints it (`Alex-6`); matched case-insensitively.
    pub name: String,
    /// Input length (columns of W).
    pub inputs: usize,
    /// Output length (rows of W).
    pub outputs: usize,
    /// Fraction of W's entries kept by pruning, in (0, 1].
    pub weight_density: f64,
    /// Fraction of non-zero input activations, in (0, 1].
    pub act_density: f64,
    /// Whether the output goes through ReLU. FC6/FC7 do; FC8 feeds a softmax and the NeuralTalk
    /// layers feed an LSTM / softmax, so they do not.
    pub relu: bool,
    /// Whether the input activations are signed. The AlexNet/VGG layers read ReLU outputs
    /// (non-negative); the NeuralTalk layers read signed vectors.
    pub signed_input: bool,
    /// Whether the layer has a bias (encoded as one extra column whose activation is 1).
    pub bias: bool,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// One-line description (Table III's last column).
    pub description: String,
}

/// Table III as printed: name, (inputs, outputs), weight %, activation %, FLOP %.
const TABLE_III: [(&str, usize, usize, f64, f64, f64, bool, &str); 9] = [
    (
        "Alex-6",
        9216,
        4096,
        9.0,
        35.1,
        3.0,
        true,
        "Compressed AlexNet, large-scale image classification",
    ),
    (
        "Alex-7",
        4096,
        4096,
        9.0,
        35.3,
        3.0,
        true,
        "Compressed AlexNet, large-scale image classification",
    ),
    (
        "Alex-8",
        4096,
        1000,
        25.0,
        37.5,
        10.0,
        false,
        "Compressed AlexNet, large-scale image classification",
    ),
    (
        "VGG-6",
        25088,
        4096,
        4.0,
        18.3,
        1.0,
        true,
        "Compressed VGG-16, image classification and object detection",
    ),
    (
        "VGG-7",
        4096,
        4096,
        4.0,
        37.5,
        2.0,
        true,
        "Compressed VGG-16, image classification and object detection",
    ),
    (
        "VGG-8",
        4096,
        1000,
        23.0,
        41.1,
        9.0,
        false,
        "Compressed VGG-16, image classification and object detection",
    ),
    (
        "NT-We",
        4096,
        600,
        10.0,
        100.0,
        10.0,
        false,
        "Compressed NeuralTalk (RNN + LSTM) for image captioning",
    ),
    (
        "NT-Wd",
        600,
        8791,
        11.0,
        100.0,
        11.0,
        false,
        "Compressed NeuralTalk (RNN + LSTM) for image captioning",
    ),
    (
        "NT-LSTM",
        1201,
        2400,
        10.0,
        100.0,
        11.0,
        false,
        "Compressed NeuralTalk (RNN + LSTM) for image captioning",
    ),
];

/// The paper's own Table III row for a benchmark layer (percentages as printed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PaperLayerRow {
    pub weight_pct: f64,
    pub act_pct: f64,
    pub flop_pct: f64,
}

impl LayerSpec {
    /// A custom spec; validates every field. Its input is non-negative when the layer has ReLU (a
    /// ReLU network's layers read ReLU outputs) and signed otherwise.
    pub fn new(
        name: &str,
        inputs: usize,
        outputs: usize,
        weight_density: f64,
        act_density: f64,
        relu: bool,
    ) -> Result<Self> {
        let spec = Self {
            name: name.to_string(),
            inputs,
            outputs,
            weight_density,
            act_density,
            relu,
            signed_input: !relu,
            bias: true,
            seed: seed_from_name(&name.to_ascii_lowercase()),
            description: String::new(),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks dimensions and densities.
    pub fn validate(&self) -> Result<()> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err(CompressError::param(
                "layer size",
                format!("{} inputs x {} outputs", self.inputs, self.outputs),
                "both dimensions must be at least 1",
            ));
        }
        check_density("weight density", self.weight_density)?;
        check_density("activation density", self.act_density)
    }

    /// The number of non-zero weights pruning keeps: `round(density x outputs x inputs)`, at least 1.
    pub fn target_nnz(&self) -> usize {
        let n = (self.outputs as f64) * (self.inputs as f64);
        ((self.weight_density * n).round() as usize).clamp(1, self.outputs * self.inputs)
    }

    /// The number of non-zero input activations: `round(density x inputs)`, at least 1.
    pub fn target_act_nnz(&self) -> usize {
        ((self.act_density * self.inputs as f64).round() as usize).clamp(1, self.inputs)
    }

    /// Table III's row for this layer, when it is one of the nine benchmark layers.
    pub fn paper_row(&self) -> Option<PaperLayerRow> {
        TABLE_III
            .iter()
            .find(|row| row.0.eq_ignore_ascii_case(&self.name))
            .map(|row| PaperLayerRow {
                weight_pct: row.3,
                act_pct: row.4,
                flop_pct: row.5,
            })
    }
}

/// Fails unless `d` is in (0, 1].
pub fn check_density(name: &'static str, d: f64) -> Result<()> {
    if d.is_finite() && d > 0.0 && d <= 1.0 {
        Ok(())
    } else {
        Err(CompressError::param(name, d, "must be in (0, 1]"))
    }
}

/// The nine benchmark layers of Table III, in the paper's order.
pub fn benchmark_layers() -> Vec<LayerSpec> {
    TABLE_III
        .iter()
        .map(
            |&(name, inputs, outputs, w, a, _flop, relu, description)| LayerSpec {
                name: name.to_string(),
                inputs,
                outputs,
                weight_density: w / 100.0,
                act_density: a / 100.0,
                relu,
                signed_input: name.starts_with("NT-"),
                bias: true,
                seed: seed_from_name(&name.to_ascii_lowercase()),
                description: description.to_string(),
            },
        )
        .collect()
}

/// The benchmark layer called `name` (case-insensitive).
pub fn benchmark_layer(name: &str) -> Result<LayerSpec> {
    benchmark_layers()
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| CompressError::UnknownLayer {
            name: name.to_string(),
            known: known_layer_names().join(", "),
        })
}

/// Every layer name the suite knows: the nine benchmark layers and the real AlexNet FC8.
pub fn known_layer_names() -> Vec<String> {
    let mut names: Vec<String> = TABLE_III.iter().map(|r| r.0.to_string()).collect();
    names.push(crate::real::REAL_FC8_NAME.to_string());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_layers_with_table_iii_shapes() {
        let layers = benchmark_layers();
        assert_eq!(layers.len(), 9);
        let vgg6 = benchmark_layer("vgg-6").unwrap();
        assert_eq!((vgg6.inputs, vgg6.outputs), (25088, 4096));
        assert_eq!(vgg6.weight_density, 0.04);
        let wd = benchmark_layer("NT-Wd").unwrap();
        assert_eq!((wd.inputs, wd.outputs, wd.relu), (600, 8791, false));
        assert!(benchmark_layer("Alex-7").unwrap().relu);
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = benchmark_layer("alex-9").unwrap_err().to_string();
        assert!(err.contains("alex-9") && err.contains("NT-LSTM"), "{err}");
    }

    #[test]
    fn bad_specs_are_rejected() {
        assert!(LayerSpec::new("x", 0, 4, 0.5, 0.5, true).is_err());
        assert!(LayerSpec::new("x", 4, 4, 0.0, 0.5, true).is_err());
        assert!(LayerSpec::new("x", 4, 4, 0.5, 1.5, true).is_err());
        assert!(LayerSpec::new("x", 4, 4, f64::NAN, 0.5, true).is_err());
        assert!(LayerSpec::new("x", 4, 4, 1.0, 1.0, true).is_ok());
    }
}
