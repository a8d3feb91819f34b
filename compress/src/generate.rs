//! Deterministic synthetic layers whose pruned non-zeros are as unevenly spread as real ones.
//!
//! # The weight distribution
//!
//! `w_ij = S * r_i * c_j * g_ij` with `g_ij ~ N(0, 1)`, per-row factors `r_i = exp(sigma_r * N(0,1))`
//! and per-column factors `c_j = exp(sigma_c * N(0,1))`, and `S` = [`WEIGHT_SCALE`]. Magnitude pruning
//! then keeps more weights in "strong" rows and columns, as it does in trained networks: the real,
//! pruned AlexNet FC8 has a coefficient of variation (CV) of non-zeros per row of 0.133 and per column
//! of 0.098, while uniform random pruning gives 0.027 and 0.054 (binomial noise only).
//!
//! We model the real layer's *structural* imbalance, the part beyond binomial noise:
//! `sqrt(0.133^2 - 0.027^2) = 0.130` for rows and `sqrt(0.098^2 - 0.054^2) = 0.082` for columns
//! ([`ROW_STRUCT_CV`], [`COL_STRUCT_CV`]), and hold it fixed at every density. With a global threshold
//! `t`, a row's keep-probability is `P(|g| > x)` with `x = t / (S r c)`, whose elasticity with respect to
//! the scale is `e(x) = 2 x phi(x) / P(|g| > x)`; so `sigma_r = ROW_STRUCT_CV / e(x_d)` where `x_d` is
//! the normal quantile that keeps fraction `d`. Sparser layers are pruned deeper into the tail, where
//! counts react more strongly to scale, and so get smaller sigmas. The measured CVs are printed by
//! `eie layers` (columns `row CV`, `col CV`) and pinned by this module's tests.
//!
//! # Bias and activations
//!
//! Bias: `2 S N(0,1)`, later quantized to the nearest codebook entry (zero included), as the real FC8
//! bias is. Activations: exactly `round(density x inputs)` non-zeros at uniformly random positions;
//! ReLU-fed layers (the AlexNet/VGG layers) get exponential values with mean 1 (non-negative, like ReLU
//! outputs), the NeuralTalk layers get signed `N(0, 1)` values.
//!
//! Every row and every other part uses its own RNG stream of the layer's seed, so generation runs
//! rows in parallel and still gives bit-identical layers everywhere.

use crate::dense::DenseLayer;
use crate::error::Result;
use crate::prune::magnitude_prune;
use crate::rng::Rng;
use crate::spec::LayerSpec;
use rayon::prelude::*;

/// Scale of the generated weights (trained FC layers have weights of order 1e-2).
pub const WEIGHT_SCALE: f64 = 0.01;
/// Structural CV of non-zeros per row that the generator aims for (from the real AlexNet FC8).
pub const ROW_STRUCT_CV: f64 = 0.130;
/// Structural CV of non-zeros per column that the generator aims for (from the real AlexNet FC8).
pub const COL_STRUCT_CV: f64 = 0.082;

const STREAM_ROW_FACTORS: u64 = 1;
const STREAM_COL_FACTORS: u64 = 2;
const STREAM_BIAS: u64 = 3;
const STREAM_ACT: u64 = 4;
const STREAM_ROWS: u64 = 1 << 32;

/// The standard-normal tail quantile `x` with `P(|g| > x) = d`, by bisection on `erfc`.
fn tail_quantile(d: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erfc(mid / std::f64::consts::SQRT_2) > d {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The log-normal sigmas `(sigma_r, sigma_c)` used at weight density `d` (zero at `d = 1`: nothing is
/// pruned, so nothing can be uneven).
pub fn imbalance_sigmas(d: f64) -> (f64, f64) {
    if d >= 1.0 {
        return (0.0, 0.0);
    }
    let x = tail_quantile(d);
    let phi = libm::exp(-0.5 * x * x) / (2.0 * std::f64::consts::PI).sqrt();
    let elasticity = 2.0 * x * phi / d;
    if elasticity <= 1e-9 {
        return (0.0, 0.0);
    }
    (
        (ROW_STRUCT_CV / elasticity).min(1.0),
        (COL_STRUCT_CV / elasticity).min(1.0),
    )
}

fn lognormal_factors(seed: u64, stream: u64, n: usize, sigma: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed, stream);
    (0..n).map(|_| libm::exp(sigma * rng.normal())).collect()
}

/// Dense (unpruned) weights of `spec`, row-major.
pub fn dense_weights(spec: &LayerSpec) -> Vec<f32> {
    let (sr, sc) = imbalance_sigmas(spec.weight_density);
    let rows = lognormal_factors(spec.seed, STREAM_ROW_FACTORS, spec.outputs, sr);
    let cols = lognormal_factors(spec.seed, STREAM_COL_FACTORS, spec.inputs, sc);
    let mut w = vec![0.0f32; spec.outputs * spec.inputs];
    w.par_chunks_mut(spec.inputs)
        .enumerate()
        .for_each(|(i, row)| {
            let mut rng = Rng::new(spec.seed, STREAM_ROWS + i as u64);
            let scale = WEIGHT_SCALE * rows[i];
            for (wj, cj) in row.iter_mut().zip(&cols) {
                // A normal deviate that rounds to exactly 0.0f32 would be a weight pruning cannot see.
                loop {
                    let v = (scale * cj * rng.normal()) as f32;
                    if v != 0.0 {
                        *wj = v;
                        break;
                    }
                }
            }
        });
    w
}

/// The input activations of `spec`: exactly `spec.target_act_nnz()` non-zeros.
pub fn activations(spec: &LayerSpec) -> Vec<f32> {
    let mut rng = Rng::new(spec.seed, STREAM_ACT);
    let n = spec.inputs;
    let k = spec.target_act_nnz();
    let mut positions: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        positions.swap(i, j);
    }
    let mut a = vec![0.0f32; n];
    for &p in &positions[..k] {
        a[p] = loop {
            let v = if spec.signed_input {
                rng.normal()
            } else {
                rng.exponential()
            } as f32;
            if v != 0.0 {
                break v;
            }
        };
    }
    a
}

/// The bias of `spec` (before quantization).
pub fn bias(spec: &LayerSpec) -> Vec<f32> {
    let mut rng = Rng::new(spec.seed, STREAM_BIAS);
    (0..spec.outputs)
        .map(|_| (2.0 * WEIGHT_SCALE * rng.normal()) as f32)
        .collect()
}

/// The whole dense layer of `spec`, with W pruned to exactly `spec.target_nnz()` non-zeros.
pub fn generate(spec: &LayerSpec) -> Result<DenseLayer> {
    spec.validate()?;
    let mut w = dense_weights(spec);
    magnitude_prune(&mut w, spec.target_nnz())?;
    DenseLayer::new(
        &spec.name,
        spec.outputs,
        spec.inputs,
        w,
        spec.bias.then(|| bias(spec)),
        activations(spec),
        spec.relu,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::benchmark_layer;
    use crate::stats::nnz_cvs;

    #[test]
    fn tail_quantile_matches_known_values() {
        // P(|g| > 1.959964) = 0.05, P(|g| > 1.644854) = 0.10.
        assert!((tail_quantile(0.05) - 1.959964).abs() < 1e-5);
        assert!((tail_quantile(0.10) - 1.644854).abs() < 1e-5);
    }

    #[test]
    fn generation_is_deterministic() {
        let spec = LayerSpec::new("det", 300, 200, 0.1, 0.3, true).unwrap();
        let a = generate(&spec).unwrap();
        let b = generate(&spec).unwrap();
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.input, b.input);
        assert_eq!(a.bias, b.bias);
        let mut other = spec.clone();
        other.seed ^= 1;
        assert_ne!(generate(&other).unwrap().weights, a.weights);
    }

    #[test]
    fn exact_counts_and_signs() {
        let spec = LayerSpec::new("counts", 1201, 333, 0.07, 0.35, true).unwrap();
        let l = generate(&spec).unwrap();
        assert_eq!(l.nnz(), spec.target_nnz());
        assert_eq!(
            l.input.iter().filter(|&&a| a != 0.0).count(),
            (0.35f64 * 1201.0).round() as usize
        );
        assert!(l.input.iter().all(|&a| a >= 0.0));
        let nt = benchmark_layer("NT-LSTM").unwrap();
        let l = generate(&nt).unwrap();
        assert!(l.input.iter().all(|&a| a != 0.0));
        assert!(l.input.iter().any(|&a| a < 0.0));
    }

    /// The generator reproduces the real FC8's imbalance on Alex-8's shape and density:
    /// row CV 0.133 and column CV 0.098 there (binomial alone: 0.027 / 0.054).
    #[test]
    fn alex8_imbalance_is_realistic() {
        let spec = benchmark_layer("Alex-8").unwrap();
        let l = generate(&spec).unwrap();
        let (row_cv, col_cv) = nnz_cvs(&l.weights, l.outputs, l.inputs);
        assert!((0.10..=0.17).contains(&row_cv), "row CV {row_cv}");
        assert!((0.075..=0.125).contains(&col_cv), "col CV {col_cv}");
    }
}
