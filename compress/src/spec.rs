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

/// One row of Table III as printed, with the output function we give the layer.
struct TableIiiRow {
    name: &'static str,
    inputs: usize,
    outputs: usize,
    weight_pct: f64,
    act_pct: f64,
    flop_pct: f64,
    relu: bool,
    description: &'static str,
}

const ALEX: &str = "Compressed AlexNet, large-scale image classification";
const VGG: &str = "Compressed VGG-16, image classification and object detection";
const NT: &str = "Compressed NeuralTalk (RNN + LSTM) for image captioning";

/// Table III as printed: name, (inputs, outputs), weight %, activation %, FLOP %.
const TABLE_III: [TableIiiRow; 9] = [
    TableIiiRow {
        name: "Alex-6",
        inputs: 9216,
        outputs: 4096,
        weight_pct: 9.0,
        act_pct: 35.1,
        flop_pct: 3.0,
        relu: true,
        description: ALEX,
    },
    TableIiiRow {
        name: "Alex-7",
        inputs: 4096,
        outputs: 4096,
        weight_pct: 9.0,
        act_pct: 35.3,
        flop_pct: 3.0,
        relu: true,
        description: ALEX,
    },
    TableIiiRow {
        name: "Alex-8",
        inputs: 4096,
        outputs: 1000,
        weight_pct: 25.0,
        act_pct: 37.5,
        flop_pct: 10.0,
        relu: false,
        description: ALEX,
    },
    TableIiiRow {
        name: "VGG-6",
        inputs: 25088,
        outputs: 4096,
        weight_pct: 4.0,
        act_pct: 18.3,
        flop_pct: 1.0,
        relu: true,
        description: VGG,
    },
    TableIiiRow {
        name: "VGG-7",
        inputs: 4096,
        outputs: 4096,
        weight_pct: 4.0,
        act_pct: 37.5,
        flop_pct: 2.0,
        relu: true,
        description: VGG,
    },
    TableIiiRow {
        name: "VGG-8",
        inputs: 4096,
        outputs: 1000,
        weight_pct: 23.0,
        act_pct: 41.1,
        flop_pct: 9.0,
        relu: false,
        description: VGG,
    },
    TableIiiRow {
        name: "NT-We",
        inputs: 4096,
        outputs: 600,
        weight_pct: 10.0,
        act_pct: 100.0,
        flop_pct: 10.0,
        relu: false,
        description: NT,
    },
    TableIiiRow {
        name: "NT-Wd",
        inputs: 600,
        outputs: 8791,
        weight_pct: 11.0,
        act_pct: 100.0,
        flop_pct: 11.0,
        relu: false,
        description: NT,
    },
    TableIiiRow {
        name: "NT-LSTM",
        inputs: 1201,
        outputs: 2400,
        weight_pct: 10.0,
        act_pct: 100.0,
        flop_pct: 11.0,
        relu: false,
        description: NT,
    },
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
            .find(|row| row.name.eq_ignore_ascii_case(&self.name))
            .map(|row| PaperLayerRow {
                weight_pct: row.weight_pct,
                act_pct: row.act_pct,
                flop_pct: row.flop_pct,
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
        .map(|row| LayerSpec {
            name: row.name.to_string(),
            inputs: row.inputs,
            outputs: row.outputs,
            weight_density: row.weight_pct / 100.0,
            act_density: row.act_pct / 100.0,
            relu: row.relu,
            signed_input: row.name.starts_with("NT-"),
            bias: true,
            seed: seed_from_name(&row.name.to_ascii_lowercase()),
            description: row.description.to_string(),
        })
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
    let mut names: Vec<String> = TABLE_III.iter().map(|r| r.name.to_string()).collect();
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
