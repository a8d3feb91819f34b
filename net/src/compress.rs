//! Deep Compression with retraining (Han et al., ICLR 2016, as the EIE paper applies it), then the EIE
//! encoding.
//!
//! 1. **Pruning**: per layer, the weights of smallest magnitude are zeroed, in `prune_steps` steps whose
//!    densities fall geometrically from 1 to the layer's target; after each step the network is
//!    retrained with the zeros held (masked SGD), so the surviving weights compensate. The "pruned"
//!    stage is the dense network pruned to the targets in one shot without retraining, for comparison.
//! 2. **Weight sharing**: per layer, 1-D k-means over the surviving weights and the non-zero biases
//!    (`2^bits - 1` centroids, linear initialisation between min and max: `eie_compress`'s
//!    [`share_weights`]); index 0 is the zero weight. The bias is shared with the weights because EIE
//!    stores it as one more column of the matrix, with the same codebook.
//! 3. **Centroid fine-tuning**: training continues with every weight tied to its centroid; a
//!    centroid's gradient is the sum of the gradients of the weights (and biases) in its cluster, and the
//!    assignment (hence the sparsity pattern) never changes.
//! 4. **EIE encoding**: each layer becomes an [`eie_compress::CompressedLayer`] built from its
//!    codebook and indices ([`CompressedLayer::with_codebook`]), and the chain becomes a
//!    [`FixedNetwork`] whose 16-bit activation format is calibrated on the training split.
//!
//! Accuracy is measured on the test split after every stage ([`Stage`]); the training split alone is
//! used for training and calibration.

use crate::data::Dataset;
use crate::error::{NetError, Result};
use crate::fixed::FixedNetwork;
use crate::mlp::Mlp;
use crate::train::{Gradients, Masks, TrainOptions, check_finite, run_sgd, train_masked};
use eie_compress::prune::magnitude_prune;
use eie_compress::share::{check_bits, share_weights};
use eie_compress::{
    Codebook, CompressOptions, CompressedLayer, DenseLayer, FormatChoice, StorageStats,
};
use serde::Serialize;

/// Options of [`deep_compress`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeepCompressionOptions {
    /// Target weight density per layer (bias excluded), in (0, 1].
    pub densities: Vec<f64>,
    /// Pruning steps (each followed by masked retraining), at least 1.
    pub prune_steps: usize,
    /// Training after each pruning step.
    pub retrain: TrainOptions,
    /// Weight (codebook index) bits, 1..=8.
    pub bits: u8,
    /// Centroid fine-tuning (`weight_decay` is not used: centroids are not decayed).
    pub finetune: TrainOptions,
    /// PEs of the EIE encoding.
    pub pes: usize,
}

impl DeepCompressionOptions {
    /// Deep Compression's LeNet-300-100 setting (8 %, 9 %, 26 % of the weights kept in fc1, fc2, fc3;
    /// 4-bit weights), with schedules sized for optdigits.
    pub fn lenet_300_100() -> Self {
        Self {
            densities: vec![0.08, 0.09, 0.26],
            prune_steps: 4,
            retrain: TrainOptions {
                epochs: 15,
                lr: 0.05,
                weight_decay: 1e-3,
                ..TrainOptions::default()
            },
            bits: 4,
            finetune: TrainOptions {
                epochs: 8,
                lr: 0.002,
                weight_decay: 0.0,
                ..TrainOptions::default()
            },
            pes: eie_compress::eie::DEFAULT_PES,
        }
    }

    /// Checks the options against a network of `layers` layers.
    pub fn validate(&self, layers: usize) -> Result<()> {
        if self.densities.len() != layers {
            return Err(NetError::param(
                "densities",
                format!("{:?}", self.densities),
                format!("one target density per layer: the network has {layers}"),
            ));
        }
        if let Some(d) = self.densities.iter().find(|d| !(**d > 0.0 && **d <= 1.0)) {
            return Err(NetError::param("density", d, "must be in (0, 1]"));
        }
        if self.prune_steps == 0 {
            return Err(NetError::param("prune steps", 0, "must be at least 1"));
        }
        check_bits(self.bits)?;
        self.retrain.validate()?;
        self.finetune.validate()?;
        CompressOptions {
            pes: self.pes,
            ..CompressOptions::default()
        }
        .validate()?;
        Ok(())
    }
}

/// A stage of the pipeline whose accuracy is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The trained dense network.
    Dense,
    /// Pruned to the target densities in one shot, no retraining.
    Pruned,
    /// Pruned iteratively with masked retraining.
    Retrained,
    /// Weight-shared (k-means), before fine-tuning.
    Shared,
    /// Weight-shared with fine-tuned centroids.
    FineTuned,
    /// The fine-tuned network on EIE's 16-bit fixed-point datapath.
    Fixed16,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Dense,
        Stage::Pruned,
        Stage::Retrained,
        Stage::Shared,
        Stage::FineTuned,
        Stage::Fixed16,
    ];
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Dense => "dense f32",
            Stage::Pruned => "pruned (no retraining)",
            Stage::Retrained => "pruned + retrained",
            Stage::Shared => "weight-shared",
            Stage::FineTuned => "shared + fine-tuned",
            Stage::Fixed16 => "16-bit fixed point (EIE datapath)",
        }
    }
}

/// One layer after compression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub outputs: usize,
    pub inputs: usize,
    /// Non-zero weights of W (bias excluded).
    pub nnz: usize,
    /// `nnz / (outputs * inputs)`.
    pub density: f64,
    /// The codebook, entry 0 the zero weight.
    pub codebook: Vec<f32>,
    /// Storage of the EIE encoding against the dense f32 layer.
    pub storage: StorageStats,
}

/// What [`deep_compress`] produced.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// Test accuracy after each stage, in [`Stage::ALL`] order.
    pub accuracies: Vec<(Stage, f64)>,
    /// Per layer, after compression.
    pub layers: Vec<LayerSummary>,
    /// The pruned and retrained network (f32, before sharing).
    pub pruned: Mlp,
    /// The weight-shared, fine-tuned network, decoded to f32.
    pub shared: Mlp,
    /// The compressed layers as one network on the 16-bit datapath.
    pub network: FixedNetwork,
    /// Weight bits.
    pub bits: u8,
}

/// The numbers of a [`Pipeline`], serialisable (for `--format json` and records).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PipelineSummary {
    pub accuracies: Vec<(Stage, f64)>,
    pub layers: Vec<LayerSummary>,
    pub bits: u8,
    pub overall_density: f64,
    pub dense_bytes: usize,
    pub eie_bytes: usize,
    pub compression_ratio: f64,
    /// The network's 16-bit activation format and what it was fitted to.
    pub activation_format: FormatChoice,
}

impl Pipeline {
    /// The numbers, without the networks.
    pub fn summary(&self) -> PipelineSummary {
        PipelineSummary {
            accuracies: self.accuracies.clone(),
            layers: self.layers.clone(),
            bits: self.bits,
            overall_density: self.overall_density(),
            dense_bytes: self.dense_bytes(),
            eie_bytes: self.eie_bytes(),
            compression_ratio: self.compression_ratio(),
            activation_format: self.network.act_format(),
        }
    }

    /// The compressed layers (the EIE encoding every backend reads).
    pub fn compressed_layers(&self) -> &[CompressedLayer] {
        self.network.layers()
    }
    /// The accuracy of `stage`.
    pub fn accuracy(&self, stage: Stage) -> Option<f64> {
        self.accuracies
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, a)| *a)
    }
    /// Non-zero weights over all weights, every layer together (bias excluded).
    pub fn overall_density(&self) -> f64 {
        self.shared.overall_density()
    }
    /// Dense f32 bytes (weights and biases) of every layer.
    pub fn dense_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.storage.dense_f32_bytes).sum()
    }
    /// Bytes of every layer's EIE encoding (entries, pointers, codebook).
    pub fn eie_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.storage.eie_bytes).sum()
    }
    /// `dense_bytes / eie_bytes`.
    pub fn compression_ratio(&self) -> f64 {
        self.dense_bytes() as f64 / self.eie_bytes() as f64
    }
    /// Every layer's storage when encoded for `pes` PEs (each PE stores `inputs + 2` pointers, so on
    /// layers this small the pointers of 64 PEs outweigh the entries; 1 PE is plain interleaved-free
    /// CSC with 4-bit relative indices, the format Deep Compression counts).
    pub fn storage_at(&self, pes: usize) -> Result<Vec<StorageStats>> {
        self.compressed_layers()
            .iter()
            .map(|l| Ok(l.reencode(pes, l.eie().index_bits())?.storage()))
            .collect()
    }
}

/// Weights kept when pruning `n` weights to density `d` (at least 1).
fn keep_count(d: f64, n: usize) -> usize {
    ((d * n as f64).round() as usize).clamp(1, n)
}

/// Prunes every layer of `net` to `densities` by magnitude; returns the masks of what survives.
fn prune_to(net: &mut Mlp, densities: &[f64]) -> Result<Masks> {
    for (layer, &d) in net.layers_mut().iter_mut().zip(densities) {
        let keep = keep_count(d, layer.weights.len());
        if keep < layer.nnz() {
            magnitude_prune(&mut layer.weights, keep)?;
        }
    }
    Ok(masks_of(net))
}

fn masks_of(net: &Mlp) -> Masks {
    net.layers()
        .iter()
        .map(|l| l.weights().iter().map(|&w| w != 0.0).collect())
        .collect()
}

/// Iterative pruning with masked retraining (step 1 of the module docs).
pub fn prune_and_retrain(
    dense: &Mlp,
    train: &Dataset,
    opts: &DeepCompressionOptions,
) -> Result<Mlp> {
    opts.validate(dense.layers().len())?;
    let mut net = dense.clone();
    for step in 1..=opts.prune_steps {
        let frac = step as f64 / opts.prune_steps as f64;
        let targets: Vec<f64> = opts.densities.iter().map(|&d| d.powf(frac)).collect();
        let masks = prune_to(&mut net, &targets)?;
        let retrain = TrainOptions {
            seed: opts.retrain.seed.wrapping_add(step as u64),
            ..opts.retrain
        };
        train_masked(&mut net, train, &retrain, &masks)?;
    }
    Ok(net)
}

/// A weight-shared layer: its codebook (entry 0 = 0.0) and the code of every weight and bias.
#[derive(Clone, Debug)]
struct SharedLayer {
    centroids: Vec<f32>,
    codes: Vec<u8>,
    bias_codes: Option<Vec<u8>>,
}

/// K-means weight sharing of every layer (step 2 of the module docs); writes the shared values into
/// `net`.
fn share(net: &mut Mlp, bits: u8) -> Result<Vec<SharedLayer>> {
    let mut shared = Vec::new();
    for layer in net.layers_mut() {
        let values: Vec<f32> = layer
            .weights
            .iter()
            .chain(layer.bias.iter().flatten())
            .copied()
            .filter(|&v| v != 0.0)
            .collect();
        let (codebook, _) = share_weights(&values, bits)?;
        let code = |v: f32| {
            if v == 0.0 {
                0
            } else {
                codebook.nearest_nonzero(v)
            }
        };
        let s = SharedLayer {
            centroids: codebook.values().to_vec(),
            codes: layer.weights.iter().map(|&w| code(w)).collect(),
            bias_codes: layer
                .bias
                .as_ref()
                .map(|b| b.iter().map(|&v| code(v)).collect()),
        };
        apply(layer, &s);
        shared.push(s);
    }
    Ok(shared)
}

/// Writes the centroid of each code into the layer's weights and bias.
fn apply(layer: &mut crate::mlp::Layer, s: &SharedLayer) {
    for (w, &c) in layer.weights.iter_mut().zip(&s.codes) {
        *w = s.centroids[usize::from(c)];
    }
    if let (Some(b), Some(bc)) = (&mut layer.bias, &s.bias_codes) {
        for (v, &c) in b.iter_mut().zip(bc) {
            *v = s.centroids[usize::from(c)];
        }
    }
}

/// Centroid fine-tuning (step 3 of the module docs): SGD with momentum on the centroids, each
/// centroid's gradient the sum of its members' gradients; entry 0 stays 0.
fn fine_tune(
    net: &mut Mlp,
    shared: &mut [SharedLayer],
    train: &Dataset,
    opts: &TrainOptions,
) -> Result<()> {
    let mut vel: Vec<Vec<f32>> = shared
        .iter()
        .map(|s| vec![0.0; s.centroids.len()])
        .collect();
    let mu = opts.momentum;
    let mut update = |net: &mut Mlp, g: &Gradients, lr: f32| {
        for (l, layer) in net.layers_mut().iter_mut().enumerate() {
            let s = &mut shared[l];
            let mut cg = vec![0.0f32; s.centroids.len()];
            for (&c, &gw) in s.codes.iter().zip(&g.w[l]) {
                cg[usize::from(c)] += gw;
            }
            if let Some(bc) = &s.bias_codes {
                for (&c, &gb) in bc.iter().zip(&g.b[l]) {
                    cg[usize::from(c)] += gb;
                }
            }
            for k in 1..s.centroids.len() {
                vel[l][k] = mu * vel[l][k] + cg[k];
                s.centroids[k] -= lr * vel[l][k];
            }
            apply(layer, s);
        }
    };
    run_sgd(net, train, opts, &mut update)?;
    check_finite(net)
}

/// A valid codebook from fine-tuned centroids: sorted, equal entries merged, an entry that reached 0.0
/// folded into the zero weight (its weights are then pruned); returns it and the code remapping.
fn canonical_codebook(bits: u8, centroids: &[f32]) -> Result<(Codebook, Vec<u8>)> {
    let mut order: Vec<usize> = (1..centroids.len()).collect();
    order.sort_by(|&a, &b| centroids[a].total_cmp(&centroids[b]));
    let mut values = vec![0.0f32];
    let mut remap = vec![0u8; centroids.len()];
    for k in order {
        let v = centroids[k];
        if v == 0.0 {
            continue;
        }
        if values.len() == 1 || values[values.len() - 1] != v {
            values.push(v);
        }
        remap[k] = (values.len() - 1) as u8;
    }
    Ok((Codebook::new(bits, values)?, remap))
}

/// Builds the EIE layers (step 4 of the module docs). Each layer's stored input is its real input for
/// `sample` (the first test sample), so its activation density is a real one.
fn encode(
    net: &Mlp,
    shared: &[SharedLayer],
    bits: u8,
    pes: usize,
    sample: &[f32],
) -> Result<Vec<CompressedLayer>> {
    let acts = net.activations(sample)?;
    let mut out = Vec::new();
    for (l, (layer, s)) in net.layers().iter().zip(shared).enumerate() {
        let (codebook, remap) = canonical_codebook(bits, &s.centroids)?;
        let decode = |codes: &[u8]| -> Vec<f32> {
            codes
                .iter()
                .map(|&c| codebook.value(remap[usize::from(c)]))
                .collect()
        };
        let input = if l == 0 {
            sample.to_vec()
        } else {
            acts[l - 1].clone()
        };
        let dense = DenseLayer::new(
            layer.name(),
            layer.outputs(),
            layer.inputs(),
            decode(&s.codes),
            s.bias_codes.as_deref().map(decode),
            input,
            layer.relu(),
        )?;
        let opts = CompressOptions {
            bits,
            density: None,
            pes,
            ..CompressOptions::default()
        };
        out.push(CompressedLayer::with_codebook(dense, codebook, opts)?);
    }
    Ok(out)
}

/// Compresses an already-trained network without retraining (a user's own weights, say): per layer,
/// magnitude pruning to `opts.density` (if set), k-means sharing to `opts.bits` (the bias coded with the
/// same codebook, to its nearest entry) and the EIE encoding, as `eie_compress` compresses one layer;
/// the chain's activation format is calibrated on `calibration`, whose first sample is each layer's
/// stored input.
pub fn encode_trained(
    net: &Mlp,
    opts: CompressOptions,
    calibration: &Dataset,
) -> Result<FixedNetwork> {
    opts.validate()?;
    if calibration.is_empty() || calibration.features() != net.inputs() {
        return Err(NetError::Shape(format!(
            "calibration data of {} samples of {} features for a network of {} inputs (need at \
             least one sample)",
            calibration.len(),
            calibration.features(),
            net.inputs()
        )));
    }
    let acts = net.activations(calibration.sample(0))?;
    let layers = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let input = if l == 0 {
                calibration.sample(0).to_vec()
            } else {
                acts[l - 1].clone()
            };
            let dense = DenseLayer::new(
                layer.name(),
                layer.outputs(),
                layer.inputs(),
                layer.weights().to_vec(),
                layer.bias().map(<[f32]>::to_vec),
                input,
                layer.relu(),
            )?;
            Ok(CompressedLayer::compress(dense, opts)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let decoded = crate::fixed::decode(&layers)?;
    FixedNetwork::calibrated(layers, &decoded, calibration)
}

/// A pruned network weight-shared, fine-tuned and encoded ([`share_and_encode`]).
#[derive(Clone, Debug)]
pub struct SharedNetwork {
    /// Accuracy on the test data right after k-means sharing.
    pub shared_accuracy: f64,
    /// Accuracy after centroid fine-tuning.
    pub fine_tuned_accuracy: f64,
    /// The fine-tuned network, EIE-encoded, its 16-bit activation format calibrated on `train`.
    pub network: FixedNetwork,
}

/// The second half of Deep Compression on an already pruned (and retrained) network: k-means sharing to
/// `opts.bits`, centroid fine-tuning on `train` (`opts.finetune`), the EIE encoding for `opts.pes` PEs
/// and the activation format calibrated on `train`; accuracies measured on `test` (whose first sample is
/// each layer's stored input). `opts.densities` and the pruning options are not used.
pub fn share_and_encode(
    pruned: &Mlp,
    train: &Dataset,
    test: &Dataset,
    opts: &DeepCompressionOptions,
) -> Result<SharedNetwork> {
    check_bits(opts.bits)?;
    opts.finetune.validate()?;
    if test.is_empty() {
        return Err(NetError::Data {
            what: "test data".into(),
            reason: "no samples to measure accuracy on".into(),
        });
    }
    let mut shared_net = pruned.clone();
    let mut shared = share(&mut shared_net, opts.bits)?;
    let shared_accuracy = shared_net.accuracy(test)?;
    fine_tune(&mut shared_net, &mut shared, train, &opts.finetune)?;
    let fine_tuned_accuracy = shared_net.accuracy(test)?;
    let layers = encode(&shared_net, &shared, opts.bits, opts.pes, test.sample(0))?;
    Ok(SharedNetwork {
        shared_accuracy,
        fine_tuned_accuracy,
        network: FixedNetwork::calibrated(layers, &shared_net, train)?,
    })
}

/// Deep Compression of `dense` (trained on `train`), every stage's accuracy measured on `test`.
pub fn deep_compress(
    dense: &Mlp,
    train: &Dataset,
    test: &Dataset,
    opts: &DeepCompressionOptions,
) -> Result<Pipeline> {
    opts.validate(dense.layers().len())?;
    if test.is_empty() {
        return Err(NetError::Data {
            what: "test data".into(),
            reason: "no samples to measure accuracy on".into(),
        });
    }
    let mut accuracies = vec![(Stage::Dense, dense.accuracy(test)?)];
    let mut one_shot = dense.clone();
    prune_to(&mut one_shot, &opts.densities)?;
    accuracies.push((Stage::Pruned, one_shot.accuracy(test)?));

    let pruned = prune_and_retrain(dense, train, opts)?;
    accuracies.push((Stage::Retrained, pruned.accuracy(test)?));

    let s = share_and_encode(&pruned, train, test, opts)?;
    accuracies.extend([
        (Stage::Shared, s.shared_accuracy),
        (Stage::FineTuned, s.fine_tuned_accuracy),
    ]);
    let network = s.network;
    accuracies.push((Stage::Fixed16, network.accuracy(test)?));
    let summaries = network
        .layers()
        .iter()
        .map(|l| LayerSummary {
            name: l.name().to_string(),
            outputs: l.outputs(),
            inputs: l.inputs(),
            nnz: l.nnz(),
            density: l.weight_density(),
            codebook: l.codebook().values().to_vec(),
            storage: l.storage(),
        })
        .collect();
    Ok(Pipeline {
        accuracies,
        layers: summaries,
        pruned,
        shared: network.decoded()?,
        network,
        bits: opts.bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_against_the_network() {
        let o = DeepCompressionOptions::lenet_300_100();
        assert!(o.validate(3).is_ok());
        let e = o.validate(2).unwrap_err().to_string();
        assert!(
            e.contains("one target density per layer: the network has 2"),
            "{e}"
        );
        for bad in [
            DeepCompressionOptions {
                densities: vec![0.1, 0.0, 0.2],
                ..o.clone()
            },
            DeepCompressionOptions {
                prune_steps: 0,
                ..o.clone()
            },
            DeepCompressionOptions {
                bits: 9,
                ..o.clone()
            },
            DeepCompressionOptions {
                pes: 0,
                ..o.clone()
            },
        ] {
            assert!(bad.validate(3).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fine_tuned_centroids_become_a_valid_codebook() {
        // Centroids 2 and 3 crossed, 4 reached exactly 0, 5 equals 1.
        let (cb, remap) = canonical_codebook(4, &[0.0, -0.5, 0.3, 0.2, 0.0, -0.5]).unwrap();
        assert_eq!(cb.values(), &[0.0, -0.5, 0.2, 0.3]);
        assert_eq!(remap, vec![0, 1, 3, 2, 0, 1]);
    }

    #[test]
    fn pruning_keeps_the_largest_and_sharing_the_zeros() {
        let mut net = Mlp::seeded(&[10, 8, 4], 5).unwrap();
        let masks = prune_to(&mut net, &[0.25, 0.5]).unwrap();
        assert_eq!(net.layers()[0].nnz(), 20);
        assert_eq!(net.layers()[1].nnz(), 16);
        assert_eq!(masks[0].iter().filter(|&&m| m).count(), 20);
        let shared = share(&mut net, 2).unwrap();
        assert!(shared.iter().all(|s| s.centroids.len() <= 4));
        assert_eq!(
            net.layers()[0].nnz(),
            20,
            "sharing keeps every surviving weight non-zero"
        );
    }
}
