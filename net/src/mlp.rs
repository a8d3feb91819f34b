//! A multi-layer perceptron of fully-connected layers: the network this crate trains, compresses and runs.
//!
//! Every layer is `b = f(W a + v)` with W `outputs x inputs`, row-major (PyTorch's `[out, in]` layout, the
//! layout EIE and `eie-compress` use); every layer but the last has a ReLU, the last feeds a softmax (its
//! outputs are logits, the prediction their argmax). Arithmetic is plain single-threaded f32 in a fixed
//! order ([`dot`]: eight running sums, then a fixed tree), with no fused multiply-add, so a forward pass
//! gives bit-identical results on every x86-64 machine.

use crate::data::Dataset;
use crate::error::{NetError, Result};
use eie_compress::rng::Rng;

/// One fully-connected layer.
///
/// Invariants (checked by [`Layer::new`]): `weights.len() == outputs * inputs`, both non-zero; a bias has
/// `outputs` entries; every value is finite.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    name: String,
    outputs: usize,
    inputs: usize,
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Option<Vec<f32>>,
    relu: bool,
}

impl Layer {
    /// Validates and wraps one layer; `name` appears in errors.
    pub fn new(
        name: &str,
        outputs: usize,
        inputs: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
        relu: bool,
    ) -> Result<Self> {
        if outputs == 0 || inputs == 0 {
            return Err(NetError::Shape(format!(
                "layer '{name}' is {outputs} x {inputs}; both dimensions must be at least 1"
            )));
        }
        if outputs.checked_mul(inputs) != Some(weights.len()) {
            return Err(NetError::Shape(format!(
                "layer '{name}': {} weights for {outputs} x {inputs}",
                weights.len()
            )));
        }
        if let Some(b) = &bias
            && b.len() != outputs
        {
            return Err(NetError::Shape(format!(
                "layer '{name}': bias of {} entries for {outputs} outputs",
                b.len()
            )));
        }
        let all = weights.iter().chain(bias.iter().flatten());
        if let Some(v) = all.copied().find(|v| !v.is_finite()) {
            return Err(NetError::param(
                "weight",
                v,
                format!("layer '{name}' holds a value that is not finite"),
            ));
        }
        Ok(Self {
            name: name.to_string(),
            outputs,
            inputs,
            weights,
            bias,
            relu,
        })
    }

    /// Name (`fc1`, ...).
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
    /// W, row-major `[outputs, inputs]`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// The bias, if the layer has one.
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
    /// Whether the output goes through ReLU.
    pub fn relu(&self) -> bool {
        self.relu
    }
    /// Row `i` of W.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.weights[i * self.inputs..(i + 1) * self.inputs]
    }
    /// Non-zero weights of W (bias excluded).
    pub fn nnz(&self) -> usize {
        self.weights.iter().filter(|&&w| w != 0.0).count()
    }
    /// Non-zero weights over all weights (bias excluded).
    pub fn density(&self) -> f64 {
        self.nnz() as f64 / self.weights.len() as f64
    }

    /// `f(W a + v)` in f32 into `out` (`a` has `inputs` values, `out` `outputs`).
    pub(crate) fn forward_into(&self, a: &[f32], out: &mut [f32]) {
        for (i, y) in out.iter_mut().enumerate() {
            let mut s = dot(self.row(i), a);
            if let Some(b) = &self.bias {
                s += b[i];
            }
            *y = if self.relu && s < 0.0 { 0.0 } else { s };
        }
    }
}

/// `sum_j a_j b_j` in a fixed order: eight running sums over blocks of eight (which the compiler may
/// keep in vector registers without changing any result), combined pairwise, then the tail in order.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in ta.iter().zip(tb) {
        s += x * y;
    }
    s
}

/// `y += alpha * x`, element by element (vectorizable without reordering any sum).
pub(crate) fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// Index of the largest value (the first of equal ones); 0 for an empty slice.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// A chain of fully-connected layers, each one's outputs the next one's inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<Layer>,
}

impl Mlp {
    /// Checks that the layers chain (`layers[i].outputs() == layers[i + 1].inputs()`) and wraps them.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(NetError::Shape("a network needs at least one layer".into()));
        }
        for w in layers.windows(2) {
            if w[0].outputs != w[1].inputs {
                return Err(NetError::Shape(format!(
                    "layer '{}' gives {} outputs but layer '{}' takes {} inputs",
                    w[0].name, w[0].outputs, w[1].name, w[1].inputs
                )));
            }
        }
        Ok(Self { layers })
    }

    /// A LeNet-300-100-style MLP (Deep Compression's MNIST network with inputs sized to the data):
    /// `inputs-300-100-classes`, ReLU between layers, biases zero, weights He-initialised (normal with
    /// standard deviation `sqrt(2 / fan_in)`) from the project's seeded RNG (one stream per layer).
    pub fn lenet_300_100(inputs: usize, classes: usize, seed: u64) -> Result<Self> {
        Self::seeded(&[inputs, 300, 100, classes], seed)
    }

    /// An MLP of the given widths (`widths[0]` inputs, then each layer's outputs), initialised as
    /// [`Mlp::lenet_300_100`]; layers are named `fc1`, `fc2`, ...
    pub fn seeded(widths: &[usize], seed: u64) -> Result<Self> {
        if widths.len() < 2 {
            return Err(NetError::param(
                "widths",
                format!("{widths:?}"),
                "need the input width and at least one layer's",
            ));
        }
        let last = widths.len() - 2;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let (inputs, outputs) = (w[0], w[1]);
                let std = libm::sqrt(2.0 / inputs.max(1) as f64);
                let mut rng = Rng::new(seed, l as u64);
                let weights = (0..inputs * outputs)
                    .map(|_| (rng.normal() * std) as f32)
                    .collect();
                let name = format!("fc{}", l + 1);
                Layer::new(
                    &name,
                    outputs,
                    inputs,
                    weights,
                    Some(vec![0.0; outputs]),
                    l != last,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(layers)
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    pub(crate) fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }
    /// Values one sample has.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }
    /// Outputs (classes) of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }
    /// Every layer's weight density (bias excluded).
    pub fn densities(&self) -> Vec<f64> {
        self.layers.iter().map(Layer::density).collect()
    }
    /// Non-zero weights over all weights, every layer together (bias excluded).
    pub fn overall_density(&self) -> f64 {
        let nnz: usize = self.layers.iter().map(Layer::nnz).sum();
        let all: usize = self.layers.iter().map(|l| l.weights.len()).sum();
        nnz as f64 / all as f64
    }

    fn check_sample(&self, x: &[f32]) -> Result<()> {
        if x.len() != self.inputs() {
            return Err(NetError::Shape(format!(
                "a sample of {} values for a network of {} inputs",
                x.len(),
                self.inputs()
            )));
        }
        Ok(())
    }

    fn check_data(&self, data: &Dataset) -> Result<()> {
        if data.features() != self.inputs() || data.classes() > self.outputs() {
            return Err(NetError::Shape(format!(
                "data of {} features and {} classes for a network of {} inputs and {} outputs",
                data.features(),
                data.classes(),
                self.inputs(),
                self.outputs()
            )));
        }
        Ok(())
    }

    /// Every layer's output for one sample, in f32: element `l` is layer `l`'s output (after its ReLU);
    /// the last is the logits. Layer `l + 1`'s input is element `l`.
    pub fn activations(&self, x: &[f32]) -> Result<Vec<Vec<f32>>> {
        self.check_sample(x)?;
        let mut acts: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let mut out = vec![0.0; l.outputs];
            l.forward_into(acts.last().map_or(x, |a| a), &mut out);
            acts.push(out);
        }
        Ok(acts)
    }

    /// Per layer, the mean fraction of its input activations that are non-zero over `data` (Table III's
    /// activation density, measured: layer 0's is the data's own, layer `l`'s the ReLU output of `l - 1`).
    pub fn input_densities(&self, data: &Dataset) -> Result<Vec<f64>> {
        self.check_data(data)?;
        let mut nonzero = vec![0usize; self.layers.len()];
        for i in 0..data.len() {
            let x = data.sample(i);
            let acts = self.activations(x)?;
            for (l, n) in nonzero.iter_mut().enumerate() {
                let input = if l == 0 { x } else { &acts[l - 1] };
                *n += input.iter().filter(|&&v| v != 0.0).count();
            }
        }
        Ok(nonzero
            .iter()
            .zip(&self.layers)
            .map(|(&n, l)| n as f64 / (l.inputs * data.len().max(1)) as f64)
            .collect())
    }

    /// The logits of one sample, in f32.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.activations(x)?.pop().unwrap_or_default())
    }

    /// The logits of one sample, in f64 (each f32 weight and input widened): the reference that f32
    /// results are compared with.
    pub fn forward_f64(&self, x: &[f32]) -> Result<Vec<f64>> {
        self.check_sample(x)?;
        let mut a: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for l in &self.layers {
            a = (0..l.outputs)
                .map(|i| {
                    let s: f64 = l
                        .row(i)
                        .iter()
                        .zip(&a)
                        .map(|(&w, &v)| f64::from(w) * v)
                        .sum();
                    let s = s + l.bias.as_ref().map_or(0.0, |b| f64::from(b[i]));
                    if l.relu { s.max(0.0) } else { s }
                })
                .collect();
        }
        Ok(a)
    }

    /// The predicted class (argmax of the f32 logits) of every sample of `data`.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<usize>> {
        self.check_data(data)?;
        (0..data.len())
            .map(|i| Ok(argmax(&self.forward(data.sample(i))?)))
            .collect()
    }

    /// Fraction of `data` predicted correctly (0 for an empty set).
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        Ok(accuracy(&self.predict(data)?, data.labels()))
    }
}

/// Fraction of `predictions` equal to `labels` (0 when empty).
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    right as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_f64_and_handles_tails() {
        for n in [0, 1, 7, 8, 9, 17, 64, 300] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((dot(&a, &b) as f64 - exact).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn layers_must_chain_and_be_well_formed() {
        let l =
            |name: &str, o: usize, i: usize| Layer::new(name, o, i, vec![0.5; o * i], None, true);
        assert!(Mlp::new(vec![l("a", 3, 2).unwrap(), l("b", 4, 3).unwrap()]).is_ok());
        let e = Mlp::new(vec![l("a", 3, 2).unwrap(), l("b", 4, 5).unwrap()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("layer 'a' gives 3 outputs but layer 'b' takes 5")
        );
        assert!(Mlp::new(vec![]).is_err());
        let e = Layer::new("c", 2, 2, vec![0.0; 3], None, true).unwrap_err();
        assert!(e.to_string().contains("layer 'c': 3 weights for 2 x 2"));
        let e = Layer::new("d", 2, 1, vec![0.0; 2], Some(vec![0.0]), true).unwrap_err();
        assert!(e.to_string().contains("bias of 1 entries for 2 outputs"));
        assert!(Layer::new("e", 1, 1, vec![f32::INFINITY], None, true).is_err());
    }

    #[test]
    fn forward_is_relu_then_logits_and_agrees_with_f64() {
        let net = Mlp::seeded(&[5, 7, 3], 1).unwrap();
        let x = [0.1, 0.9, 0.0, 0.5, 1.0];
        let acts = net.activations(&x).unwrap();
        assert!(acts[0].iter().all(|&v| v >= 0.0));
        let f64s = net.forward_f64(&x).unwrap();
        for (a, b) in acts[1].iter().zip(&f64s) {
            assert!((f64::from(*a) - b).abs() < 1e-5);
        }
        assert!(net.forward(&[0.0; 4]).is_err());
        let data = Dataset::new("t", [x, [0.0; 5]].concat(), vec![0, 1], 5, 3).unwrap();
        let d = net.input_densities(&data).unwrap();
        assert_eq!(d[0], 4.0 / 10.0);
        let on = acts[0].iter().filter(|&&v| v != 0.0).count() as f64;
        // The all-zero sample gives ReLU(bias) = 0 in the hidden layer (biases start at 0).
        assert_eq!(d[1], on / 14.0);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
    }
}
