//! The one interface every implementation we compare has: our CPU and GPU kernels, the library
//! baselines and the EIE model. It lives here, at the bottom of the crate graph, so that every crate that
//! implements it can reach it.
//!
//! A batch of `B` samples is stored **feature-major**: value `j` of sample `b` at `x[j * B + b]` (for
//! `B = 1`, simply the vector). Inputs exclude the bias column: every backend adds the bias itself.

use crate::fixed::FixedOutcome;
use crate::layer::CompressedLayer;
use crate::rng::{Rng, seed_from_name};
use serde::Serialize;

/// The arithmetic a backend computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arithmetic {
    /// f32 on the decoded weights; compared with the f64 reference within [`f32_error_bound`].
    F32,
    /// EIE's 16-bit fixed point; compared with [`CompressedLayer::fixed_reference`] bit for bit.
    Fixed16,
}

/// Activations in, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    F32(&'a [f32]),
    Fixed(&'a [i16]),
}

/// Activations out, caller-owned.
#[derive(Debug)]
pub enum DataMut<'a> {
    F32(&'a mut [f32]),
    Fixed(&'a mut [i16]),
}

impl Data<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(x) => x.len(),
            Data::Fixed(x) => x.len(),
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether value `j` is non-zero (-0.0 is zero); an index past the end (the bias column, whose
    /// activation is 1) counts as non-zero. Kernels that skip zero activations count their work with it.
    pub fn is_nonzero(&self, j: usize) -> bool {
        match self {
            Data::F32(x) => x.get(j).is_none_or(|&a| a != 0.0),
            Data::Fixed(x) => x.get(j).is_none_or(|&a| a != 0),
        }
    }
}

impl DataMut<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            DataMut::F32(x) => x.len(),
            DataMut::Fixed(x) => x.len(),
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The work of one forward pass, for throughput and bandwidth figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Work {
    /// Multiply-accumulates performed (useful or not: a dense kernel multiplies zeros too).
    pub macs: u64,
    /// Stored entries walked (sparse formats; padding included), or matrix elements (dense).
    pub entries: u64,
    /// Bytes the kernel must read from memory: its weight data, indices and input.
    pub bytes_read: u64,
}

/// Why a backend cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Input or output of the wrong length, or of the wrong arithmetic.
    #[error("{backend}: {message}")]
    Shape { backend: String, message: String },
    /// `run` before `prepare`.
    #[error("{0}: run before prepare")]
    Unprepared(String),
    /// The backend cannot run here (no GPU adapter, ISA level missing, not compiled in, ...).
    #[error("{backend}: unavailable: {why}")]
    Unavailable { backend: String, why: String },
    /// Anything else the backend reports (a device error, say).
    #[error("{backend}: {message}")]
    Failed { backend: String, message: String },
}

/// An implementation of `f(W a + v)` over a prepared compressed layer.
pub trait Backend: Send {
    /// Stable identifier, e.g. `cpu-eie-f32`.
    fn name(&self) -> String;
    /// The arithmetic it computes in.
    fn arithmetic(&self) -> Arithmetic;
    /// Untimed: builds what the backend needs (buffers, layouts, uploads) for `layer` at `batch` samples.
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError>;
    /// Timed: one forward pass of `batch` samples (feature-major) into the caller-owned `output`.
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError>;
    /// The work of one pass on `input` (depends on the input for backends that skip zero activations).
    fn work(&self, input: Data<'_>) -> Work;
    /// What ran: ISA level, threads, adapter.
    fn detail(&self) -> String {
        String::new()
    }
    /// Device time of one forward pass of the last `run` in µs, from GPU timestamp queries, where the
    /// backend has them.
    fn device_time_us(&self) -> Option<f64> {
        None
    }
    /// Identical forward passes one `run` performs (GPU backends repeat small layers within one submit
    /// to share its fixed cost); times per pass are a run's time divided by this.
    fn passes_per_run(&self) -> usize {
        1
    }
}

/// Checks the lengths and arithmetic of a forward pass; backends call it first thing in `run`.
pub fn check_io(
    backend: &str,
    arithmetic: Arithmetic,
    layer_shape: (usize, usize),
    batch: usize,
    input: &Data<'_>,
    output: &DataMut<'_>,
) -> Result<(), BackendError> {
    let (inputs, outputs) = layer_shape;
    let err = |message: String| {
        Err(BackendError::Shape {
            backend: backend.to_string(),
            message,
        })
    };
    let kinds_match = matches!(
        (arithmetic, input, output),
        (Arithmetic::F32, Data::F32(_), DataMut::F32(_))
            | (Arithmetic::Fixed16, Data::Fixed(_), DataMut::Fixed(_))
    );
    if !kinds_match {
        return err(format!(
            "computes in {arithmetic:?}; input and output must both be of that kind"
        ));
    }
    if input.len() != inputs * batch {
        return err(format!(
            "input has {} values; expected inputs x batch = {inputs} x {batch} = {}",
            input.len(),
            inputs * batch
        ));
    }
    if output.len() != outputs * batch {
        return err(format!(
            "output has {} values; expected outputs x batch = {outputs} x {batch} = {}",
            output.len(),
            outputs * batch
        ));
    }
    Ok(())
}

/// Adds the bias and applies ReLU (where the layer has them) to a feature-major output of `batch`
/// samples: what every f32 backend does after its product.
pub fn add_bias_relu(y: &mut [f32], batch: usize, bias: Option<&[f32]>, relu: bool) {
    for (i, row) in y.chunks_mut(batch).enumerate() {
        let b = bias.map_or(0.0, |b| b[i]);
        for v in row {
            *v += b;
            if relu && *v < 0.0 {
                *v = 0.0;
            }
        }
    }
}

/// `batch` input samples, feature-major. Sample 0 is the layer's own input; sample `b >= 1` is a
/// deterministic shuffle of it (same values, same density, non-zeros elsewhere), so every sample is as
/// sparse as the layer's input but zero patterns differ, as they would across images.
pub fn batch_input(layer: &CompressedLayer, batch: usize) -> Vec<f32> {
    let n = layer.inputs();
    let mut x = vec![0.0f32; n * batch];
    let mut sample = layer.input().to_vec();
    let seed = seed_from_name(layer.content_hash());
    for b in 0..batch {
        if b > 0 {
            sample.copy_from_slice(layer.input());
            let mut rng = Rng::new(seed, b as u64);
            for i in (1..n).rev() {
                sample.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        for (j, &v) in sample.iter().enumerate() {
            x[j * batch + b] = v;
        }
    }
    x
}

/// `x` (feature-major f32) in the layer's activation format.
pub fn quantize_input(layer: &CompressedLayer, x: &[f32]) -> Vec<i16> {
    x.iter().map(|&v| layer.fixed().act.quantize(v)).collect()
}

/// [`quantize_input`], and how many values of `x` lay outside the format's range and were saturated.
pub fn quantize_input_checked(layer: &CompressedLayer, x: &[f32]) -> (Vec<i16>, usize) {
    let act = layer.fixed().act;
    let saturated = x.iter().filter(|&&v| act.saturates(v)).count();
    (quantize_input(layer, x), saturated)
}

/// The smallest positive f32 (2^-149): twice the absolute rounding error of one f32 operation whose result
/// is subnormal.
pub const SUBNORMAL_ULP: f64 = 1.401_298_464_324_817e-45;

/// The f64 reference `f(W x_b + v)` of every sample (feature-major), and per output DESIGN.md's error
/// bound for f32 backends: `|y - y_ref| <= c n eps_f32 sum_j |w_ij x_j|` with `c = 1` and `n` the row's
/// non-zero terms (bias included) plus one. Any summation order of `n` terms, with or without fused
/// multiply-adds, stays within `n u sum |terms|` (u = eps_f32 / 2) to first order; `c = 1` leaves a
/// factor of two for the products' own rounding. Where results are subnormal, rounding is absolute, not
/// relative: the bound adds `n` times [`SUBNORMAL_ULP`] (DESIGN.md's bound plus an absolute floor).
pub fn reference_f64(layer: &CompressedLayer, x: &[f32], batch: usize) -> (Vec<f64>, Vec<f64>) {
    let codes = layer.codes();
    let cb = layer.codebook();
    let bias = layer.bias();
    let outputs = layer.outputs();
    let mut y = vec![0.0f64; outputs * batch];
    let mut bound = vec![0.0f64; outputs * batch];
    for i in 0..outputs {
        let (cols, cs) = codes.row(i);
        let terms = cols.len() + usize::from(bias.is_some()) + 1;
        for b in 0..batch {
            let (mut s, mut abs) = (0.0f64, 0.0f64);
            for (&j, &c) in cols.iter().zip(cs) {
                let t = cb.value(c) as f64 * x[j as usize * batch + b] as f64;
                s += t;
                abs += t.abs();
            }
            if let Some(bv) = &bias {
                s += bv[i] as f64;
                abs += (bv[i] as f64).abs();
            }
            y[i * batch + b] = if layer.relu() { s.max(0.0) } else { s };
            // Relative rounding (eps per operation, any order) plus, for results in f32's subnormal range,
            // the absolute rounding of each operation there: half the smallest subnormal, 2^-150, for each
            // of the n products and n additions.
            bound[i * batch + b] = terms as f64 * (f32::EPSILON as f64 * abs + SUBNORMAL_ULP);
        }
    }
    (y, bound)
}

/// The fixed-point reference of every sample of `xq` (feature-major, the layer's activation format).
pub fn reference_fixed(layer: &CompressedLayer, xq: &[i16], batch: usize) -> Vec<i16> {
    reference_fixed_checked(layer, xq, batch).0
}

/// [`reference_fixed`], and how many outputs (over all samples) saturation or a wrapped accumulator
/// changed.
pub fn reference_fixed_checked(
    layer: &CompressedLayer,
    xq: &[i16],
    batch: usize,
) -> (Vec<i16>, FixedOutcome) {
    let spec = layer.fixed();
    let wq = layer.fixed_codebook();
    let one = spec.act.quantize(1.0);
    let codes = layer.codes();
    let bias = layer.bias_codes();
    let mut y = vec![0i16; layer.outputs() * batch];
    let mut outcome = FixedOutcome::default();
    for i in 0..layer.outputs() {
        let (cols, cs) = codes.row(i);
        for b in 0..batch {
            let (mut acc, mut exact) =
                cols.iter()
                    .zip(cs)
                    .fold((0i32, 0i64), |(acc, e), (&j, &c)| {
                        let p = spec.product(wq[c as usize], xq[j as usize * batch + b]);
                        (acc.wrapping_add(p), e + i64::from(p))
                    });
            if let Some(bc) = bias {
                let p = spec.product(wq[bc[i] as usize], one);
                acc = acc.wrapping_add(p);
                exact += i64::from(p);
            }
            let (v, saturated) = spec.finish_checked(acc, layer.relu());
            outcome.record(saturated, i64::from(acc) != exact);
            y[i * batch + b] = v;
        }
    }
    (y, outcome)
}

/// The largest error of `y` against `reference` and whether every output is within `bound`.
pub fn compare_f32(y: &[f32], reference: &[f64], bound: &[f64]) -> (f64, bool) {
    y.iter()
        .zip(reference)
        .zip(bound)
        .fold((0.0f64, true), |(max, ok), ((&v, &r), &b)| {
            let e = (v as f64 - r).abs();
            (max.max(e), ok && e <= b && v.is_finite())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompressOptions, LayerSpec, build_from_spec};

    fn layer() -> CompressedLayer {
        let spec = LayerSpec::new("b", 40, 30, 0.2, 0.5, true).unwrap();
        build_from_spec(&spec, CompressOptions::default()).unwrap()
    }

    #[test]
    fn batch_samples_keep_values_and_density() {
        let l = layer();
        let x = batch_input(&l, 5);
        let sample = |b: usize| (0..l.inputs()).map(|j| x[j * 5 + b]).collect::<Vec<f32>>();
        assert_eq!(sample(0), l.input());
        for b in 1..5 {
            let mut s = sample(b);
            assert_ne!(s, l.input());
            let mut orig = l.input().to_vec();
            s.sort_by(f32::total_cmp);
            orig.sort_by(f32::total_cmp);
            assert_eq!(s, orig);
        }
    }

    #[test]
    fn references_agree_with_the_layer_on_sample_0() {
        let l = layer();
        let x = batch_input(&l, 3);
        let (y, bound) = reference_f64(&l, &x, 3);
        let (y0, _) = l.reference_f64();
        for i in 0..l.outputs() {
            assert_eq!(y[i * 3], y0[i]);
            assert!(bound[i * 3] > 0.0 || y0[i] == 0.0);
        }
        let xq = quantize_input(&l, &x);
        let yq = reference_fixed(&l, &xq, 3);
        let y0q = l.fixed_reference();
        for i in 0..l.outputs() {
            assert_eq!(yq[i * 3], y0q[i]);
        }
    }

    #[test]
    fn io_checks_name_the_lengths() {
        let (x, mut y) = (vec![0.0f32; 8], vec![0.0f32; 3]);
        let e = check_io(
            "k",
            Arithmetic::F32,
            (4, 3),
            2,
            &Data::F32(&x),
            &DataMut::F32(&mut y),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("output has 3 values") && e.contains("3 x 2"),
            "{e}"
        );
        let mut yq = vec![0i16; 6];
        let e = check_io(
            "k",
            Arithmetic::F32,
            (4, 3),
            2,
            &Data::F32(&x),
            &DataMut::Fixed(&mut yq),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("F32"), "{e}");
        let mut y6 = vec![0.0f32; 6];
        assert!(
            check_io(
                "k",
                Arithmetic::F32,
                (4, 3),
                2,
                &Data::F32(&x),
                &DataMut::F32(&mut y6)
            )
            .is_ok()
        );
    }
}
