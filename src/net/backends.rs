//! Every backend through the whole network, layer by layer, batch by batch, against the references.

use super::network::Network;
use anyhow::{Result, anyhow};
use eie_bench::backend_id::{Arith, BackendId};
use eie_bench::registry::{Options, make};
use eie_compress::{Backend, BackendError, Data, DataMut, FixedOutcome};
use serde::Serialize;

/// The references every backend is compared with, per test sample.
pub struct References {
    /// Argmax of the decoded network's f64 logits.
    pub f64_pred: Vec<usize>,
    /// Each layer's 16-bit output on eie-net's [`eie_net::FixedNetwork`] (the last is the logits).
    pub fixed_out: Vec<Vec<Vec<i16>>>,
    /// Argmax of the 16-bit logits.
    pub fixed_pred: Vec<usize>,
    /// The decoded f64 logits.
    pub f64_logits: Vec<Vec<f64>>,
    /// What saturated or wrapped on the 16-bit datapath.
    pub outcome: FixedOutcome,
}

impl References {
    pub fn new(net: &Network) -> Result<Self> {
        let mut outcome = FixedOutcome::default();
        let (mut f64_pred, mut fixed_out, mut fixed_pred, mut f64_logits) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..net.test.len() {
            let x = net.test.sample(i);
            let y = net.decoded.forward_f64(x)?;
            f64_pred.push(argmax(&y));
            f64_logits.push(y);
            let outs = net.fixed.forward(&net.fixed.quantize(x), &mut outcome)?;
            fixed_pred.push(eie_net::fixed::argmax_i16(
                outs.last().map_or(&[][..], |v| v),
            ));
            fixed_out.push(outs);
        }
        Ok(Self {
            f64_pred,
            fixed_out,
            fixed_pred,
            f64_logits,
            outcome,
        })
    }
}

/// Index of the largest value (the first of equal ones).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// One backend at one batch size over the test samples.
#[derive(Clone, Debug, Serialize)]
pub struct BackendRun {
    pub backend: BackendId,
    pub arithmetic: Arith,
    pub batch: usize,
    /// Samples run (the first `samples` of the test set).
    pub samples: usize,
    /// Why it could not run, if it could not.
    pub unavailable: Option<String>,
    /// Top-1 accuracy over the samples run.
    pub accuracy: Option<f64>,
    /// Samples whose prediction differs from the f64 reference of the same compressed network.
    pub differ_from_f64: Vec<usize>,
    /// Fixed point: samples whose 16-bit logits are not bit-exact with eie-net's FixedNetwork.
    pub not_bit_exact: Option<usize>,
    /// f32: the largest |logit - f64 logit| over every sample.
    pub max_abs_logit_err: Option<f64>,
    /// Whether every check passed (false when unavailable).
    pub ok: bool,
}

/// Runs `id` over the first `samples` test samples at `batch`.
pub fn run_backend(
    net: &Network,
    refs: &References,
    id: BackendId,
    batch: usize,
    samples: usize,
    opts: Options,
) -> Result<BackendRun> {
    let arithmetic = id.arith();
    let mut run = BackendRun {
        backend: id,
        arithmetic,
        batch,
        samples,
        unavailable: None,
        accuracy: None,
        differ_from_f64: Vec::new(),
        not_bit_exact: None,
        max_abs_logit_err: None,
        ok: false,
    };
    let layers = net.fixed.layers();
    let mut prepared: Vec<Box<dyn Backend>> = Vec::with_capacity(layers.len());
    for layer in layers {
        let mut b = make(id, opts)?;
        match b.prepare(layer, batch) {
            Ok(()) => prepared.push(b),
            Err(BackendError::Unavailable { why, .. }) => {
                run.unavailable = Some(why);
                return Ok(run);
            }
            Err(e) => return Err(anyhow!("{id} on layer '{}': {e}", layer.name())),
        }
    }
    let features = net.fixed.inputs();
    let outputs = layers.last().map_or(0, |l| l.outputs());
    let fmt = net.fixed.act_format().format;
    let sizes: Vec<usize> = layers.iter().map(|l| l.outputs()).collect();
    let mut preds = Vec::with_capacity(samples);
    let mut not_exact = 0usize;
    let mut max_err = 0.0f64;
    for start in (0..samples).step_by(batch) {
        let n = batch.min(samples - start);
        let logits = match arithmetic {
            Arith::F32 => {
                let mut x = vec![0.0f32; features * batch];
                for b in 0..n {
                    for (j, &v) in net.test.sample(start + b).iter().enumerate() {
                        x[j * batch + b] = v;
                    }
                }
                let y = forward(&mut prepared, &sizes, batch, x, |b, x, y| {
                    b.run(Data::F32(x), DataMut::F32(y))
                })?;
                Logits::F32(y)
            }
            Arith::Fixed16 => {
                let mut x = vec![0i16; features * batch];
                for b in 0..n {
                    for (j, &v) in net.test.sample(start + b).iter().enumerate() {
                        x[j * batch + b] = fmt.quantize(v);
                    }
                }
                let y = forward(&mut prepared, &sizes, batch, x, |b, x, y| {
                    b.run(Data::Fixed(x), DataMut::Fixed(y))
                })?;
                Logits::Fixed(y)
            }
        };
        for b in 0..n {
            let s = start + b;
            let pred = match &logits {
                Logits::F32(y) => {
                    let v: Vec<f32> = (0..outputs).map(|i| y[i * batch + b]).collect();
                    for (a, r) in v.iter().zip(&refs.f64_logits[s]) {
                        max_err = max_err.max((f64::from(*a) - r).abs());
                    }
                    argmax(&v)
                }
                Logits::Fixed(y) => {
                    let v: Vec<i16> = (0..outputs).map(|i| y[i * batch + b]).collect();
                    if refs.fixed_out[s].last() != Some(&v) {
                        not_exact += 1;
                    }
                    argmax(&v)
                }
            };
            preds.push(pred);
        }
    }
    run.accuracy = Some(eie_net::mlp::accuracy(
        &preds,
        &net.test.labels()[..samples],
    ));
    run.differ_from_f64 = (0..samples)
        .filter(|&s| preds[s] != refs.f64_pred[s])
        .collect();
    match arithmetic {
        Arith::F32 => {
            run.max_abs_logit_err = Some(max_err);
            run.ok = run.differ_from_f64.is_empty();
        }
        Arith::Fixed16 => {
            run.not_bit_exact = Some(not_exact);
            run.ok = not_exact == 0;
        }
    }
    Ok(run)
}

enum Logits {
    F32(Vec<f32>),
    Fixed(Vec<i16>),
}

/// Runs the prepared layers in sequence on one feature-major batch: layer `l`'s output (ReLU applied by
/// the layer) is layer `l + 1`'s input. `sizes[l]` is layer `l`'s output length per sample.
fn forward<T: Copy + Default>(
    layers: &mut [Box<dyn Backend>],
    sizes: &[usize],
    batch: usize,
    mut x: Vec<T>,
    mut run: impl FnMut(&mut dyn Backend, &[T], &mut [T]) -> Result<(), BackendError>,
) -> Result<Vec<T>> {
    for (b, &outputs) in layers.iter_mut().zip(sizes) {
        let mut y = vec![T::default(); outputs * batch];
        run(b.as_mut(), &x, &mut y)?;
        x = y;
    }
    Ok(x)
}
