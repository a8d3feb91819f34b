//! The compressed network on EIE's 16-bit datapath, layer by layer.
//!
//! Each layer runs as `eie_compress`'s plain fixed-point reference (the computation every fixed-point
//! backend and the EIE model must equal bit for bit): 16-bit weights from the codebook, 16-bit
//! activations, products shifted into the activation format and summed in a wrapping 32-bit accumulator,
//! ReLU, saturation to 16 bits. Layer `l`'s 16-bit output is layer `l + 1`'s input unchanged, as EIE keeps
//! it in its activation register files, so **every layer of a network shares one activation format**:
//! fitted ([`eie_compress::QFormat::choose`]) to the largest activation (input, hidden or logit) the
//! decoded f32 network produces on a calibration set (the training split), and to 1.0 (the bias
//! column's activation). Each layer keeps its own weight format (fitted to its codebook). Samples outside
//! the calibration range can saturate; [`FixedRun::outcome`] counts such outputs.

use crate::data::Dataset;
use crate::error::{NetError, Result};
use crate::mlp::{Layer, Mlp};
use eie_compress::fixed::fixed_point_reference_checked;
use eie_compress::{CompressedLayer, FixedOutcome, FormatChoice, QFormat, SparseCodes};
use serde::Serialize;

/// A chain of compressed layers sharing one 16-bit activation format.
///
/// Invariants: layer `l`'s outputs are layer `l + 1`'s inputs; every layer's activation format is
/// `act.format`.
#[derive(Clone, Debug)]
pub struct FixedNetwork {
    layers: Vec<CompressedLayer>,
    act: FormatChoice,
    /// Per layer: W's codes with the bias column, and the codebook in the weight format (built once).
    prepared: Vec<(SparseCodes, Vec<i16>)>,
}

/// Predictions of a batch on the 16-bit datapath.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FixedRun {
    /// Argmax of the last layer's 16-bit outputs (the first of equal ones), per sample.
    pub predictions: Vec<usize>,
    /// Outputs saturated or wrapped over every layer and sample.
    pub outcome: FixedOutcome,
}

impl FixedNetwork {
    /// Gives `layers` (a chain) the activation format fitted to `max_abs`.
    pub fn new(layers: Vec<CompressedLayer>, max_abs: f64) -> Result<Self> {
        if layers.is_empty() {
            return Err(NetError::Shape("a network needs at least one layer".into()));
        }
        for w in layers.windows(2) {
            if w[0].outputs() != w[1].inputs() {
                return Err(NetError::Shape(format!(
                    "layer '{}' gives {} outputs but layer '{}' takes {} inputs",
                    w[0].name(),
                    w[0].outputs(),
                    w[1].name(),
                    w[1].inputs()
                )));
            }
        }
        // Layers with a bias need 1.0 to fit; all layers take the same range, hence the same format.
        let any_bias = layers.iter().any(|l| l.bias_codes().is_some());
        let range = if any_bias { max_abs.max(1.0) } else { max_abs };
        let act = QFormat::choose(range);
        let layers: Vec<CompressedLayer> = layers
            .into_iter()
            .map(|l| l.with_activation_range(range))
            .collect();
        let prepared = layers
            .iter()
            .map(|l| (l.augmented_codes(), l.fixed_codebook()))
            .collect();
        Ok(Self {
            layers,
            act,
            prepared,
        })
    }

    /// [`FixedNetwork::new`] with the format fitted to the largest activation `decoded` (the same
    /// network in f32) produces on `calibration`, and to its largest input value.
    pub fn calibrated(
        layers: Vec<CompressedLayer>,
        decoded: &Mlp,
        calibration: &Dataset,
    ) -> Result<Self> {
        Self::new(layers, max_activation(decoded, calibration)?)
    }

    /// The same network with its fixed-point products rounded as `rounding` says.
    pub fn with_rounding(mut self, rounding: eie_compress::Rounding) -> Self {
        self.layers = self
            .layers
            .into_iter()
            .map(|l| l.with_rounding(rounding))
            .collect();
        self
    }

    /// The rounding of its fixed-point products.
    pub fn rounding(&self) -> eie_compress::Rounding {
        self.layers[0].fixed().rounding
    }

    /// The layers, each carrying the network's activation format.
    pub fn layers(&self) -> &[CompressedLayer] {
        &self.layers
    }
    /// The shared activation format and what it was fitted to.
    pub fn act_format(&self) -> FormatChoice {
        self.act
    }
    /// Values per sample.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    /// One sample in the activation format.
    pub fn quantize(&self, x: &[f32]) -> Vec<i16> {
        x.iter().map(|&v| self.act.format.quantize(v)).collect()
    }

    /// Every layer's 16-bit output for one quantized sample (`x_q` has [`FixedNetwork::inputs`] values);
    /// the last is the logits. Adds what saturation and wrapping did into `outcome`.
    pub fn forward(&self, x_q: &[i16], outcome: &mut FixedOutcome) -> Result<Vec<Vec<i16>>> {
        if x_q.len() != self.inputs() {
            return Err(NetError::Shape(format!(
                "a sample of {} values for a network of {} inputs",
                x_q.len(),
                self.inputs()
            )));
        }
        let one = self.act.format.quantize(1.0);
        let mut outs: Vec<Vec<i16>> = Vec::with_capacity(self.layers.len());
        for (layer, (codes, wq)) in self.layers.iter().zip(&self.prepared) {
            let mut a = outs.last().map_or_else(|| x_q.to_vec(), Clone::clone);
            if layer.bias_codes().is_some() {
                a.push(one);
            }
            let (y, o) = fixed_point_reference_checked(layer.fixed(), codes, wq, &a, layer.relu());
            *outcome += o;
            outs.push(y);
        }
        Ok(outs)
    }

    /// The prediction of every sample of `data` on the 16-bit datapath.
    pub fn predict(&self, data: &Dataset) -> Result<FixedRun> {
        if data.features() != self.inputs() {
            return Err(NetError::Shape(format!(
                "data of {} features for a network of {} inputs",
                data.features(),
                self.inputs()
            )));
        }
        let mut outcome = FixedOutcome::default();
        let predictions = (0..data.len())
            .map(|i| {
                let y = self.forward(&self.quantize(data.sample(i)), &mut outcome)?;
                Ok(argmax_i16(y.last().map_or(&[][..], |v| v)))
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(FixedRun {
            predictions,
            outcome,
        })
    }

    /// Fraction of `data` predicted correctly on the 16-bit datapath.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        Ok(crate::mlp::accuracy(
            &self.predict(data)?.predictions,
            data.labels(),
        ))
    }

    /// The network the layers decode to, in f32 (codebook values; ReLU as the layers have it).
    pub fn decoded(&self) -> Result<Mlp> {
        decode(&self.layers)
    }
}

/// The f32 network whose weights are `layers`' decoded (pruned, shared) weights.
pub fn decode(layers: &[CompressedLayer]) -> Result<Mlp> {
    let layers = layers
        .iter()
        .map(|l| {
            Layer::new(
                l.name(),
                l.outputs(),
                l.inputs(),
                l.dense_weights().into_raw_vec_and_offset().0,
                l.bias(),
                l.relu(),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Mlp::new(layers)
}

/// The largest `|value|` of any input, hidden activation or logit of `net` on `data`.
pub fn max_activation(net: &Mlp, data: &Dataset) -> Result<f64> {
    let mut m = 0.0f64;
    for i in 0..data.len() {
        let x = data.sample(i);
        m = x.iter().fold(m, |m, &v| m.max(f64::from(v).abs()));
        for a in net.activations(x)? {
            m = a.iter().fold(m, |m, &v| m.max(f64::from(v).abs()));
        }
    }
    Ok(m)
}

/// Index of the largest value (the first of equal ones); 0 for an empty slice.
pub fn argmax_i16(v: &[i16]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::{CompressOptions, DenseLayer};

    fn layer(name: &str, outputs: usize, inputs: usize, relu: bool) -> CompressedLayer {
        let w = (0..outputs * inputs)
            .map(|k| [0.5, -0.25, 0.0, 0.75][k % 4])
            .collect();
        let dense = DenseLayer::new(
            name,
            outputs,
            inputs,
            w,
            Some(vec![0.75; outputs]),
            vec![1.0; inputs],
            relu,
        )
        .unwrap();
        CompressedLayer::compress(dense, CompressOptions::default()).unwrap()
    }

    #[test]
    fn layers_share_one_activation_format_and_must_chain() {
        let net =
            FixedNetwork::new(vec![layer("a", 3, 2, true), layer("b", 2, 3, false)], 3.0).unwrap();
        assert_eq!(net.act_format().format, QFormat::fitting(3.0));
        assert!(
            net.layers()
                .iter()
                .all(|l| l.fixed().act == QFormat::fitting(3.0))
        );
        // A range below 1.0 still fits the bias column's activation.
        let small = FixedNetwork::new(vec![layer("a", 3, 2, true)], 0.1).unwrap();
        assert_eq!(small.act_format().format, QFormat::fitting(1.0));
        let e = FixedNetwork::new(vec![layer("a", 3, 2, true), layer("b", 2, 4, false)], 3.0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("layer 'a' gives 3 outputs but layer 'b' takes 4"),
            "{e}"
        );
        let mut o = FixedOutcome::default();
        assert!(net.forward(&[0; 3], &mut o).is_err());
        // x = (1, 1): layer a's rows are (0.5, -0.25), (0, 0.75), (0.5, -0.25), its bias 0.75.
        let y = net.forward(&net.quantize(&[1.0, 1.0]), &mut o).unwrap();
        let f = net.act_format().format;
        let a: Vec<f32> = y[0].iter().map(|&q| f.to_f32(q)).collect();
        assert_eq!(a, vec![1.0, 1.5, 1.0]);
        assert_eq!(o.outputs, 5);
    }
}
