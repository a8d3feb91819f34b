//! Training: mini-batch SGD with momentum on softmax cross-entropy, deterministic to the bit.
//!
//! Everything that could differ between machines is pinned: the initial weights and the sample order
//! come from the project's seeded RNG (xoshiro256**, one stream per epoch), `exp`, `ln` and `cos` come
//! from `libm` (pure Rust, not the platform's math library), and every sum runs single-threaded in a
//! fixed order ([`crate::mlp::dot`] and element-wise updates). Two runs with the same options therefore
//! give bit-identical weights on every x86-64 machine.
//!
//! The loop (`run_sgd`) hands each mini-batch's gradients to an update rule, so the same loop trains a
//! dense network ([`train`]), retrains a pruned one with its masks fixed ([`train_masked`]) and
//! fine-tunes the shared centroids of a weight-shared one (`crate::compress`).

use crate::data::Dataset;
use crate::error::{NetError, Result};
use crate::mlp::{Mlp, axpy};
use eie_compress::rng::Rng;
use serde::Serialize;

/// Options of one training run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainOptions {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per mini-batch (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Initial learning rate; it follows a cosine from this value down to 0 over the run.
    pub lr: f32,
    /// Momentum of the velocity.
    pub momentum: f32,
    /// L2 weight decay on the weights (not the biases); it also pushes weights toward 0, which helps
    /// magnitude pruning, as Deep Compression notes.
    pub weight_decay: f32,
    /// Seed of the sample order.
    pub seed: u64,
}

impl Default for TrainOptions {
    /// What trains LeNet-300-100 on optdigits to 97.2 % (seed 1; 97.2-97.8 % over seeds 1-5) in seconds.
    fn default() -> Self {
        Self {
            epochs: 30,
            batch: 32,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            seed: 1,
        }
    }
}

impl TrainOptions {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(NetError::param("batch", self.batch, "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(NetError::param(
                "learning rate",
                self.lr,
                "must be finite and >= 0",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(NetError::param(
                "momentum",
                self.momentum,
                "must be in [0, 1)",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(NetError::param(
                "weight decay",
                self.weight_decay,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// What a training run did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainReport {
    pub epochs: usize,
    /// Mini-batch steps taken.
    pub steps: usize,
    /// Mean cross-entropy over the last epoch's samples (before each step's update).
    pub final_loss: f64,
}

/// Per-layer gradients of the mean loss of one mini-batch.
#[derive(Clone, Debug)]
pub(crate) struct Gradients {
    /// `w[l]` has layer `l`'s weight shape (`[outputs, inputs]`).
    pub w: Vec<Vec<f32>>,
    /// `b[l]` has layer `l`'s outputs (zeros for a layer without bias).
    pub b: Vec<Vec<f32>>,
}

impl Gradients {
    fn zeros(net: &Mlp) -> Self {
        Self {
            w: net
                .layers()
                .iter()
                .map(|l| vec![0.0; l.weights().len()])
                .collect(),
            b: net
                .layers()
                .iter()
                .map(|l| vec![0.0; l.outputs()])
                .collect(),
        }
    }
    fn clear(&mut self) {
        self.w
            .iter_mut()
            .chain(self.b.iter_mut())
            .for_each(|g| g.fill(0.0));
    }
}

/// Buffers of one mini-batch, reused between steps.
struct Scratch {
    /// `acts[0]` the batch's inputs, `acts[l + 1]` layer `l`'s outputs; `B x width`, sample-major.
    acts: Vec<Vec<f32>>,
    /// The loss's gradient with respect to the current layer's outputs (pre-activation).
    delta: Vec<f32>,
    prev: Vec<f32>,
}

/// Softmax cross-entropy of `logits` for `label`: writes `softmax - onehot` into `logits`, returns the loss.
fn softmax_xent(logits: &mut [f32], label: usize) -> f32 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
    let mut sum = 0.0f32;
    for z in logits.iter_mut() {
        *z = libm::expf(*z - max);
        sum += *z;
    }
    for z in logits.iter_mut() {
        *z /= sum;
    }
    let loss = -libm::logf(logits[label].max(f32::MIN_POSITIVE));
    logits[label] -= 1.0;
    loss
}

/// The gradients of the mean loss over samples `idx` of `data` into `g`; returns the summed loss.
fn batch_gradients(
    net: &Mlp,
    data: &Dataset,
    idx: &[usize],
    g: &mut Gradients,
    s: &mut Scratch,
) -> f32 {
    let nb = idx.len();
    let layers = net.layers();
    s.acts[0].clear();
    for &i in idx {
        s.acts[0].extend_from_slice(data.sample(i));
    }
    for (l, layer) in layers.iter().enumerate() {
        let (done, rest) = s.acts.split_at_mut(l + 1);
        let (a, out) = (&done[l], &mut rest[0]);
        out.resize(nb * layer.outputs(), 0.0);
        for b in 0..nb {
            layer.forward_into(
                &a[b * layer.inputs()..(b + 1) * layer.inputs()],
                &mut out[b * layer.outputs()..(b + 1) * layer.outputs()],
            );
        }
    }
    let classes = net.outputs();
    let mut loss = 0.0;
    s.delta.clear();
    s.delta.extend_from_slice(&s.acts[layers.len()]);
    let scale = 1.0 / nb as f32;
    for (b, &i) in idx.iter().enumerate() {
        let d = &mut s.delta[b * classes..(b + 1) * classes];
        loss += softmax_xent(d, data.labels()[i]);
        d.iter_mut().for_each(|v| *v *= scale);
    }
    g.clear();
    for (l, layer) in layers.iter().enumerate().rev() {
        let (n_in, n_out) = (layer.inputs(), layer.outputs());
        let a = &s.acts[l];
        for b in 0..nb {
            let x = &a[b * n_in..(b + 1) * n_in];
            for o in 0..n_out {
                let d = s.delta[b * n_out + o];
                if d != 0.0 {
                    axpy(&mut g.w[l][o * n_in..(o + 1) * n_in], d, x);
                    g.b[l][o] += d;
                }
            }
        }
        if l == 0 {
            break;
        }
        s.prev.clear();
        s.prev.resize(nb * n_in, 0.0);
        for b in 0..nb {
            let p = &mut s.prev[b * n_in..(b + 1) * n_in];
            for o in 0..n_out {
                let d = s.delta[b * n_out + o];
                if d != 0.0 {
                    axpy(p, d, layer.row(o));
                }
            }
            // ReLU': the previous layer's output was clamped where it is 0.
            for (p, &y) in p.iter_mut().zip(&a[b * n_in..(b + 1) * n_in]) {
                if y <= 0.0 {
                    *p = 0.0;
                }
            }
        }
        std::mem::swap(&mut s.delta, &mut s.prev);
    }
    loss
}

/// The cosine learning-rate schedule: `lr` at step 0, 0 at step `total`.
fn cosine_lr(lr: f32, step: usize, total: usize) -> f32 {
    let t = step as f64 / total.max(1) as f64;
    (f64::from(lr) * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * t))) as f32
}

/// The training loop: for each epoch a seeded shuffle of `data`, then per mini-batch the gradients and a
/// call of `update(net, gradients, lr)`. Fails if the loss stops being finite.
pub(crate) fn run_sgd(
    net: &mut Mlp,
    data: &Dataset,
    opts: &TrainOptions,
    update: &mut dyn FnMut(&mut Mlp, &Gradients, f32),
) -> Result<TrainReport> {
    opts.validate()?;
    if data.features() != net.inputs() || data.classes() > net.outputs() {
        return Err(NetError::Shape(format!(
            "training data of {} features and {} classes for a network of {} inputs and {} outputs",
            data.features(),
            data.classes(),
            net.inputs(),
            net.outputs()
        )));
    }
    if data.is_empty() {
        return Err(NetError::Data {
            what: "training data".into(),
            reason: "no samples".into(),
        });
    }
    let mut g = Gradients::zeros(net);
    let mut s = Scratch {
        acts: vec![Vec::new(); net.layers().len() + 1],
        delta: Vec::new(),
        prev: Vec::new(),
    };
    let per_epoch = data.len().div_ceil(opts.batch);
    let total = per_epoch * opts.epochs;
    let (mut step, mut final_loss) = (0, f64::NAN);
    let mut order: Vec<usize> = (0..data.len()).collect();
    for epoch in 0..opts.epochs {
        let mut rng = Rng::new(opts.seed, epoch as u64);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut epoch_loss = 0.0f64;
        for idx in order.chunks(opts.batch) {
            let loss = batch_gradients(net, data, idx, &mut g, &mut s);
            if !loss.is_finite() {
                return Err(NetError::Diverged(format!(
                    "the loss is {loss} at epoch {epoch}, step {step} (learning rate {})",
                    opts.lr
                )));
            }
            epoch_loss += f64::from(loss);
            update(net, &g, cosine_lr(opts.lr, step, total));
            step += 1;
        }
        final_loss = epoch_loss / data.len() as f64;
    }
    Ok(TrainReport {
        epochs: opts.epochs,
        steps: step,
        final_loss,
    })
}

/// Which weights may be non-zero: `masks[l][k]` for weight `k` of layer `l` (biases are never masked).
pub type Masks = Vec<Vec<bool>>;

/// SGD with momentum and weight decay; weights whose mask is false (when `masks` is given) stay 0.
fn sgd_update<'a>(
    masks: Option<&'a Masks>,
    opts: &TrainOptions,
    mut vel: Gradients,
) -> impl FnMut(&mut Mlp, &Gradients, f32) + 'a {
    let (mu, wd) = (opts.momentum, opts.weight_decay);
    move |net, g, lr| {
        for (l, layer) in net.layers_mut().iter_mut().enumerate() {
            let mask = masks.as_ref().map(|m| &m[l]);
            for (k, w) in layer.weights.iter_mut().enumerate() {
                if mask.is_some_and(|m| !m[k]) {
                    continue;
                }
                let v = &mut vel.w[l][k];
                *v = mu * *v + (g.w[l][k] + wd * *w);
                *w -= lr * *v;
            }
            if let Some(b) = &mut layer.bias {
                for (k, b) in b.iter_mut().enumerate() {
                    let v = &mut vel.b[l][k];
                    *v = mu * *v + g.b[l][k];
                    *b -= lr * *v;
                }
            }
        }
    }
}

/// Trains every weight of `net` on `data`.
pub fn train(net: &mut Mlp, data: &Dataset, opts: &TrainOptions) -> Result<TrainReport> {
    let mut update = sgd_update(None, opts, Gradients::zeros(net));
    let report = run_sgd(net, data, opts, &mut update)?;
    check_finite(net)?;
    Ok(report)
}

/// Retrains `net` with its sparsity pattern fixed: weights whose mask is false stay exactly 0.
pub fn train_masked(
    net: &mut Mlp,
    data: &Dataset,
    opts: &TrainOptions,
    masks: &Masks,
) -> Result<TrainReport> {
    let fits = masks.len() == net.layers().len()
        && masks
            .iter()
            .zip(net.layers())
            .all(|(m, l)| m.len() == l.weights().len());
    if !fits {
        return Err(NetError::Shape(
            "masks do not match the network's layers".into(),
        ));
    }
    let mut update = sgd_update(Some(masks), opts, Gradients::zeros(net));
    let report = run_sgd(net, data, opts, &mut update)?;
    check_finite(net)?;
    Ok(report)
}

/// Fails if a weight or bias stopped being finite.
pub(crate) fn check_finite(net: &Mlp) -> Result<()> {
    for l in net.layers() {
        if l.weights()
            .iter()
            .chain(l.bias().into_iter().flatten())
            .any(|v| !v.is_finite())
        {
            return Err(NetError::Diverged(format!(
                "layer '{}' holds a non-finite value",
                l.name()
            )));
        }
    }
    Ok(())
}

/// The mean cross-entropy of `net` on `data` (for reports).
pub fn mean_loss(net: &Mlp, data: &Dataset) -> Result<f64> {
    let mut total = 0.0f64;
    for i in 0..data.len() {
        let mut z = net.forward(data.sample(i))?;
        total += f64::from(softmax_xent(&mut z, data.labels()[i]));
    }
    Ok(total / data.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient of one weight matches a central difference of the loss.
    #[test]
    fn gradients_match_finite_differences() {
        let net = Mlp::seeded(&[4, 6, 3], 3).unwrap();
        let x = vec![0.2, 0.9, 0.4, 0.7, 1.0, 0.0, 0.3, 0.5];
        let data = Dataset::new("t", x, vec![2, 0], 4, 3).unwrap();
        let mut g = Gradients::zeros(&net);
        let mut s = Scratch {
            acts: vec![Vec::new(); 3],
            delta: Vec::new(),
            prev: Vec::new(),
        };
        batch_gradients(&net, &data, &[0, 1], &mut g, &mut s);
        for (l, k) in [(0, 5), (0, 13), (1, 4), (1, 17)] {
            let loss_at = |eps: f32| {
                let mut n = net.clone();
                n.layers_mut()[l].weights[k] += eps;
                mean_loss(&n, &data).unwrap()
            };
            let eps = 1e-2;
            let fd = (loss_at(eps) - loss_at(-eps)) / (2.0 * f64::from(eps));
            assert!(
                (fd - f64::from(g.w[l][k])).abs() < 2e-3,
                "layer {l} weight {k}: {fd} vs {}",
                g.w[l][k]
            );
        }
    }

    #[test]
    fn bad_options_are_errors() {
        let mut net = Mlp::seeded(&[2, 2], 0).unwrap();
        let data = Dataset::new("t", vec![0.0, 1.0], vec![1], 2, 2).unwrap();
        for o in [
            TrainOptions {
                batch: 0,
                ..Default::default()
            },
            TrainOptions {
                lr: f32::NAN,
                ..Default::default()
            },
            TrainOptions {
                momentum: 1.0,
                ..Default::default()
            },
        ] {
            assert!(train(&mut net, &data, &o).is_err());
        }
        let wrong = Dataset::new("t", vec![0.0; 3], vec![0], 3, 2).unwrap();
        assert!(train(&mut net, &wrong, &TrainOptions::default()).is_err());
        let e = train(
            &mut net,
            &data,
            &TrainOptions {
                lr: 1e30,
                epochs: 3,
                ..Default::default()
            },
        );
        assert!(matches!(e, Err(NetError::Diverged(_))), "{e:?}");
    }
}
