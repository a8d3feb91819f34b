//! Fig. 10's accuracy axis: the compressed network at other arithmetic widths than EIE's 16 bits.
//!
//! [`Arith::Fixed`]`(n)` is EIE's datapath ([`crate::fixed`]) with every width scaled to `n` bits:
//! weights and activations are `n`-bit signed integers, each format with the most fraction bits
//! (clamped to `0..=2n-2`) such that the largest value fits (weights per layer, fitted to the codebook;
//! activations shared by every layer, fitted to the range the 16-bit network was calibrated on), inputs
//! quantized to the nearest (ties away from zero) and saturated; each product shifted down by the weight
//! format's fraction bits with the network's [`Rounding`]; a wrapping accumulator of `2n` bits; ReLU;
//! saturation to `n` bits. At `n = 16` this is exactly [`FixedNetwork`]'s arithmetic, which the tests
//! check output for output, so the other widths are the same machine made wider or narrower, not a
//! second model. [`Arith::Float32`] is the decoded network (the codebook values) in f32.

use crate::data::Dataset;
use crate::error::{NetError, Result};
use crate::fixed::FixedNetwork;
use eie_compress::{FixedOutcome, Rounding};
use serde::Serialize;

/// An arithmetic format of the datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arith {
    /// IEEE single precision on the decoded weights.
    Float32,
    /// `n`-bit fixed point, `n` in 4..=32.
    Fixed(u8),
}

impl Arith {
    /// The paper's Fig. 10 formats, widest first.
    pub const FIG10: [Arith; 4] = [
        Arith::Float32,
        Arith::Fixed(32),
        Arith::Fixed(16),
        Arith::Fixed(8),
    ];

    /// `float32`, `fixed16`, ... (the accel-model's precision names).
    pub fn name(self) -> String {
        match self {
            Self::Float32 => "float32".into(),
            Self::Fixed(n) => format!("fixed{n}"),
        }
    }

    /// Whether products round (fixed point) or not (float).
    pub fn is_fixed(self) -> bool {
        matches!(self, Self::Fixed(_))
    }
}

/// The network's predictions in one format.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrecisionRun {
    pub arith: Arith,
    /// The rounding of the products (fixed point only).
    pub rounding: Option<Rounding>,
    /// Fraction of the samples predicted correctly.
    pub accuracy: f64,
    pub predictions: Vec<usize>,
    /// Outputs saturated to `n` bits or whose accumulator wrapped (fixed point).
    pub outcome: FixedOutcome,
    /// Fraction bits of the shared activation format and of each layer's weights (fixed point).
    pub act_frac: Option<u32>,
    pub weight_fracs: Vec<u32>,
    /// Per sample, every layer's input in this arithmetic, as real values (kept on request only: what
    /// the EIE model needs to see the activation sparsity this format gives).
    #[serde(skip)]
    pub layer_inputs: Vec<Vec<Vec<f32>>>,
}

/// Most fraction bits `f` in `0..=max_frac` with `round(max_abs * 2^f) <= limit` (`max_frac` when
/// `max_abs` is 0 or not finite).
fn frac_for(max_abs: f64, limit: i64, max_frac: u32) -> u32 {
    if max_abs <= 0.0 || !max_abs.is_finite() {
        return max_frac;
    }
    (0..=max_frac)
        .rev()
        .find(|&f| (max_abs * 2f64.powi(f as i32)).round() <= limit as f64)
        .unwrap_or(0)
}

/// `x` in `frac` fraction bits, nearest (ties away from zero), saturated to `[lo, hi]`.
fn quantize(x: f32, frac: u32, lo: i64, hi: i64) -> i64 {
    let s = (f64::from(x) * 2f64.powi(frac as i32)).round();
    s.clamp(lo as f64, hi as f64) as i64
}

/// `v` wrapped to a signed `bits`-bit integer (two's complement).
fn wrap(v: i128, bits: u32) -> i128 {
    let sh = 128 - bits;
    (v << sh) >> sh
}

/// One `n`-bit layer, prepared.
struct LayerN {
    codes: eie_compress::SparseCodes,
    wq: Vec<i64>,
    wfrac: u32,
    relu: bool,
    bias: bool,
    outputs: usize,
}

/// Predicts every sample of `data` with `net`'s layers in `arith`, products rounded as `rounding`
/// says (ignored for float).
pub fn run_at(
    net: &FixedNetwork,
    data: &Dataset,
    arith: Arith,
    rounding: Rounding,
) -> Result<PrecisionRun> {
    run_keeping(net, data, arith, rounding, false)
}

/// [`run_at`], keeping every layer's input of every sample when `keep` is set
/// ([`PrecisionRun::layer_inputs`]).
pub fn run_keeping(
    net: &FixedNetwork,
    data: &Dataset,
    arith: Arith,
    rounding: Rounding,
    keep: bool,
) -> Result<PrecisionRun> {
    if data.features() != net.inputs() {
        return Err(NetError::Shape(format!(
            "data of {} features for a network of {} inputs",
            data.features(),
            net.inputs()
        )));
    }
    let n = match arith {
        Arith::Float32 => {
            let decoded = net.decoded()?;
            let predictions = decoded.predict(data)?;
            let mut layer_inputs = Vec::new();
            if keep {
                for s in 0..data.len() {
                    let x = data.sample(s);
                    let acts = decoded.activations(x)?;
                    let mut ins = vec![x.to_vec()];
                    ins.extend(acts.into_iter().take(net.layers().len() - 1));
                    layer_inputs.push(ins);
                }
            }
            return Ok(PrecisionRun {
                arith,
                rounding: None,
                accuracy: crate::mlp::accuracy(&predictions, data.labels()),
                predictions,
                outcome: FixedOutcome::default(),
                act_frac: None,
                weight_fracs: Vec::new(),
                layer_inputs,
            });
        }
        Arith::Fixed(n) if (4..=32).contains(&n) => u32::from(n),
        Arith::Fixed(n) => {
            return Err(NetError::param(
                "fixed-point width",
                n,
                "must be 4 to 32 bits",
            ));
        }
    };
    let (lo, hi) = (-(1i64 << (n - 1)), (1i64 << (n - 1)) - 1);
    let max_frac = 2 * n - 2;
    let act_frac = frac_for(net.act_format().max_abs, hi, max_frac);
    let layers: Vec<LayerN> = net
        .layers()
        .iter()
        .map(|l| {
            let values = l.codebook().padded();
            let max_w = values
                .iter()
                .fold(0.0f64, |m, &w| m.max(f64::from(w).abs()));
            let wfrac = frac_for(max_w, hi, max_frac);
            LayerN {
                codes: l.augmented_codes(),
                wq: values.iter().map(|&w| quantize(w, wfrac, lo, hi)).collect(),
                wfrac,
                relu: l.relu(),
                bias: l.bias_codes().is_some(),
                outputs: l.outputs(),
            }
        })
        .collect();
    let one = quantize(1.0, act_frac, lo, hi);
    let mut outcome = FixedOutcome::default();
    let mut predictions = Vec::with_capacity(data.len());
    let mut layer_inputs = Vec::new();
    let lsb = 2f64.powi(-(act_frac as i32));
    for s in 0..data.len() {
        let mut a: Vec<i64> = data
            .sample(s)
            .iter()
            .map(|&x| quantize(x, act_frac, lo, hi))
            .collect();
        let mut ins = Vec::new();
        for layer in &layers {
            if keep {
                ins.push(a.iter().map(|&q| (q as f64 * lsb) as f32).collect());
            }
            if layer.bias {
                a.push(one);
            }
            let round: i128 = match rounding {
                Rounding::Nearest if layer.wfrac > 0 => 1 << (layer.wfrac - 1),
                _ => 0,
            };
            let y: Vec<i64> = (0..layer.outputs)
                .map(|i| {
                    let (cols, cs) = layer.codes.row(i);
                    let exact: i128 = cols
                        .iter()
                        .zip(cs)
                        .map(|(&j, &c)| {
                            (i128::from(layer.wq[c as usize]) * i128::from(a[j as usize]) + round)
                                >> layer.wfrac
                        })
                        .sum();
                    let acc = wrap(exact, 2 * n);
                    let r = if layer.relu { acc.max(0) } else { acc };
                    let y = r.clamp(i128::from(lo), i128::from(hi));
                    outcome.record(y != r, acc != exact);
                    y as i64
                })
                .collect();
            a = y;
        }
        // The first of equal largest logits, as the 16-bit network's argmax.
        let mut best = 0;
        for (i, &v) in a.iter().enumerate() {
            if v > a[best] {
                best = i;
            }
        }
        predictions.push(best);
        if keep {
            layer_inputs.push(ins);
        }
    }
    Ok(PrecisionRun {
        arith,
        rounding: Some(rounding),
        accuracy: crate::mlp::accuracy(&predictions, data.labels()),
        predictions,
        outcome,
        act_frac: Some(act_frac),
        weight_fracs: layers.iter().map(|l| l.wfrac).collect(),
        layer_inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::{CompressOptions, CompressedLayer, DenseLayer};

    fn layer(
        name: &str,
        outputs: usize,
        inputs: usize,
        relu: bool,
        seed: usize,
    ) -> CompressedLayer {
        let w = (0..outputs * inputs)
            .map(|k| {
                let h = (k * 7919 + seed * 104_729) % 101;
                if h < 40 {
                    (h as f32 - 20.0) / 17.0
                } else {
                    0.0
                }
            })
            .collect();
        let dense = DenseLayer::new(
            name,
            outputs,
            inputs,
            w,
            Some((0..outputs).map(|i| (i % 5) as f32 * 0.3 - 0.6).collect()),
            vec![1.0; inputs],
            relu,
        )
        .unwrap();
        CompressedLayer::compress(dense, CompressOptions::default()).unwrap()
    }

    fn data(samples: usize, features: usize) -> Dataset {
        let x = (0..samples * features)
            .map(|k| ((k * 37) % 29) as f32 / 7.0 - 1.0)
            .collect();
        let y = (0..samples).map(|s| s % 4).collect();
        Dataset::new("test data", x, y, features, 4).unwrap()
    }

    /// At 16 bits the generic datapath is FixedNetwork's, prediction for prediction and in what
    /// saturated, in both roundings; other widths differ from it.
    #[test]
    fn sixteen_bits_is_the_eie_datapath() {
        let layers = vec![layer("a", 20, 12, true, 1), layer("b", 4, 20, false, 2)];
        let d = data(50, 12);
        for rounding in Rounding::ALL {
            let net = FixedNetwork::new(layers.clone(), 6.0)
                .unwrap()
                .with_rounding(rounding);
            let eie = net.predict(&d).unwrap();
            let ours = run_keeping(&net, &d, Arith::Fixed(16), rounding, true).unwrap();
            // The kept inputs of layer 1 are layer 0's 16-bit outputs.
            let mut o = FixedOutcome::default();
            let f = net.act_format().format;
            for s in [0, 17, 49] {
                let y = net.forward(&net.quantize(d.sample(s)), &mut o).unwrap();
                let want: Vec<f32> = y[0].iter().map(|&q| f.to_f32(q)).collect();
                assert_eq!(ours.layer_inputs[s][1], want);
            }
            assert_eq!(ours.predictions, eie.predictions, "{rounding}");
            assert_eq!(ours.outcome, eie.outcome, "{rounding}");
            assert_eq!(ours.act_frac, Some(u32::from(net.act_format().format.frac)));
            assert_eq!(
                ours.weight_fracs,
                net.layers()
                    .iter()
                    .map(|l| u32::from(l.fixed().weight.frac))
                    .collect::<Vec<_>>()
            );
        }
        let net = FixedNetwork::new(layers, 6.0).unwrap();
        let f4 = run_at(&net, &d, Arith::Fixed(4), Rounding::Floor).unwrap();
        assert_eq!(
            f4.act_frac,
            Some(0),
            "6.0 fits 4 bits (at most 7) with no fraction bits"
        );
        let f16 = run_at(&net, &d, Arith::Fixed(16), Rounding::Floor).unwrap();
        assert_ne!(f4.predictions, f16.predictions, "4 bits change predictions");
        assert!(run_at(&net, &d, Arith::Fixed(3), Rounding::Floor).is_err());
        let f = run_at(&net, &d, Arith::Float32, Rounding::Floor).unwrap();
        assert_eq!(f.rounding, None);
    }

    #[test]
    fn wrapping_and_fractions() {
        assert_eq!(wrap(i128::from(i32::MAX) + 1, 32), i128::from(i32::MIN));
        assert_eq!(wrap(-5, 16), -5);
        assert_eq!(frac_for(1.0, 32767, 30), 14);
        assert_eq!(frac_for(1.0, 127, 14), 6);
        assert_eq!(frac_for(1e-12, 127, 14), 14);
        assert_eq!(frac_for(1e9, 127, 14), 0);
        assert_eq!(quantize(1e9, 0, -128, 127), 127);
    }
}
