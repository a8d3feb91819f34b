//! Weight sharing: a codebook of `2^bits` entries, entry 0 the zero weight, built by 1-D k-means.
//!
//! As in Deep Compression: one-dimensional k-means per layer over the non-zero (surviving) weights,
//! centroids initialised linearly over `[min, max]` (which keeps the few large weights), Lloyd
//! iterations to convergence. With the values sorted and prefix sums at hand, one Lloyd iteration costs
//! `O(k log n)`: each cluster is the contiguous range between the midpoints of neighbouring centroids.
//! A matrix whose non-zeros already take at most `2^bits - 1` distinct values keeps exactly those values.

use crate::error::{CompressError, Result};
use serde::Serialize;

/// Most weight bits supported (256-entry codebook).
pub const MAX_WEIGHT_BITS: u8 = 8;
const MAX_ITERATIONS: usize = 1000;

/// The shared weights of one layer.
///
/// Invariants: `1 <= bits <= 8`; `values[0] == 0.0`; `values.len() <= 2^bits`; entries `1..` are finite,
/// non-zero and strictly increasing.
#[derive(Clone, Debug, PartialEq)]
pub struct Codebook {
    bits: u8,
    values: Vec<f32>,
}

/// How a codebook was obtained, and the quantization error it leaves on the non-zero weights.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SharingReport {
    /// `"kmeans-linear"`, `"exact"` (the weights already had few enough values) or `"given"`.
    pub method: &'static str,
    /// Lloyd iterations run (0 unless k-means ran).
    pub iterations: usize,
    /// Empty clusters re-seeded by splitting the worst cluster (see `kmeans_1d`).
    pub reseeded: usize,
    /// Root-mean-square error over the non-zero weights.
    pub rmse: f64,
    /// `rmse` divided by the root-mean-square of the non-zero weights.
    pub relative_rmse: f64,
    /// Largest absolute error.
    pub max_abs_err: f64,
}

/// Checks a weight bit width.
pub fn check_bits(bits: u8) -> Result<()> {
    if (1..=MAX_WEIGHT_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(CompressError::param(
            "weight bits",
            bits,
            "must be in 1..=8",
        ))
    }
}

impl Codebook {
    /// Validates and wraps `values` (entry 0 must be 0.0; the rest strictly increasing, finite, non-zero).
    pub fn new(bits: u8, values: Vec<f32>) -> Result<Self> {
        check_bits(bits)?;
        let bad = |reason: String| {
            let shown = if values.len() <= 16 {
                format!("{values:?}")
            } else {
                format!("{:?}... ({} entries)", &values[..16], values.len())
            };
            Err(CompressError::param("codebook", shown, reason))
        };
        if values.first() != Some(&0.0) {
            return bad("entry 0 must be the zero weight 0.0".into());
        }
        if values.len() > 1usize << bits {
            return bad(format!(
                "{} entries do not fit {bits}-bit indices",
                values.len()
            ));
        }
        if values[1..].iter().any(|v| !v.is_finite() || *v == 0.0) {
            return bad("entries after the first must be finite and non-zero".into());
        }
        if values[1..].windows(2).any(|w| w[0] >= w[1]) {
            return bad("entries after the first must be strictly increasing".into());
        }
        Ok(Self { bits, values })
    }

    /// Index width in bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }
    /// The entries; `values()[0] == 0.0`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// Number of entries, the zero entry included.
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// Always false: entry 0 exists.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The weight of index `code`.
    pub fn value(&self, code: u8) -> f32 {
        self.values[code as usize]
    }
    /// The entries padded with zeros to `2^bits` (what a hardware lookup table holds).
    pub fn padded(&self) -> Vec<f32> {
        let mut v = self.values.clone();
        v.resize(1usize << self.bits, 0.0);
        v
    }

    /// The index of the non-zero entry nearest to the non-zero weight `w` (ties to the lower entry);
    /// 0 for a codebook that has no non-zero entry (which only an all-zero layer gets from
    /// [`share_weights`]).
    pub fn nearest_nonzero(&self, w: f32) -> u8 {
        let c = &self.values[1..];
        if c.is_empty() {
            return 0;
        }
        let i = c.partition_point(|&v| v < w);
        let idx = if i == 0 {
            0
        } else if i == c.len() || (w - c[i - 1]) <= (c[i] - w) {
            i - 1
        } else {
            i
        };
        (idx + 1) as u8
    }

    /// The index of the entry nearest to `w`, the zero entry included (used for the bias).
    pub fn nearest(&self, w: f32) -> u8 {
        if self.values.len() == 1 {
            return 0;
        }
        let k = self.nearest_nonzero(w);
        if w.abs() < (self.value(k) - w).abs() {
            0
        } else {
            k
        }
    }

    /// The index whose entry equals `w` exactly, if any.
    pub fn exact(&self, w: f32) -> Option<u8> {
        if w == 0.0 {
            return Some(0);
        }
        let k = self.nearest_nonzero(w);
        (self.value(k) == w).then_some(k)
    }
}

/// Builds a codebook for the non-zero weights `nonzeros` and reports the error it leaves.
///
/// Fails, naming the position, on a NaN or infinite weight; and when k-means leaves no non-zero entry
/// (1-bit sharing of weights that average to 0: the one shared value would be 0.0 and erase every kept
/// weight, and no other single value is optimal).
pub fn share_weights(nonzeros: &[f32], bits: u8) -> Result<(Codebook, SharingReport)> {
    check_bits(bits)?;
    crate::error::check_finite("weights to share", nonzeros)?;
    let k = (1usize << bits) - 1;
    let mut sorted: Vec<f32> = nonzeros.iter().copied().filter(|&w| w != 0.0).collect();
    sorted.sort_by(f32::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    if distinct.len() <= k {
        let mut values = vec![0.0];
        values.extend(distinct);
        let cb = Codebook::new(bits, values)?;
        let report = sharing_error("exact", 0, &sorted, &cb);
        return Ok((cb, report));
    }
    let km = kmeans_1d(&sorted, k);
    // Cluster means of ordered, disjoint ranges are ordered; rounding to f32 could still merge two or
    // land on 0.0 (which would make kept weights vanish), so such entries are dropped.
    let mut nz: Vec<f32> = km
        .centroids
        .iter()
        .map(|&c| c as f32)
        .filter(|&c| c != 0.0)
        .collect();
    nz.sort_by(f32::total_cmp);
    nz.dedup();
    if nz.is_empty() {
        let mean = sorted.iter().map(|&w| w as f64).sum::<f64>() / sorted.len() as f64;
        return Err(CompressError::param(
            "weight bits",
            bits,
            format!(
                "k-means with {k} non-zero entr{} rounds every entry to 0.0 (the {} non-zero weights \
                 average {mean:e}), which would erase every kept weight; use more bits",
                if k == 1 { "y" } else { "ies" },
                sorted.len()
            ),
        ));
    }
    let mut values = vec![0.0];
    values.extend(nz);
    let cb = Codebook::new(bits, values)?;
    let mut report = sharing_error("kmeans-linear", km.iterations, &sorted, &cb);
    report.reseeded = km.reseeded;
    Ok((cb, report))
}

/// Quantization error of `weights` (non-zero) mapped to their nearest non-zero codebook entries.
pub fn sharing_error(
    method: &'static str,
    iterations: usize,
    weights: &[f32],
    cb: &Codebook,
) -> SharingReport {
    let (mut se, mut ss, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for &w in weights.iter().filter(|&&w| w != 0.0) {
        let e = (w as f64 - cb.value(cb.nearest_nonzero(w)) as f64).abs();
        se += e * e;
        ss += (w as f64) * (w as f64);
        max = max.max(e);
    }
    let n = weights.iter().filter(|&&w| w != 0.0).count().max(1) as f64;
    SharingReport {
        method,
        iterations,
        reseeded: 0,
        rmse: (se / n).sqrt(),
        relative_rmse: if ss > 0.0 { (se / ss).sqrt() } else { 0.0 },
        max_abs_err: max,
    }
}

/// Result of [`kmeans_1d`].
struct KMeans {
    centroids: Vec<f64>,
    iterations: usize,
    reseeded: usize,
}

/// Lloyd's k-means on sorted values with linear initialisation.
///
/// Linear initialisation over `[min, max]` of *pruned* weights puts centroids inside the gap that
/// pruning left around zero; such a centroid ends with an empty cluster and would waste a codebook
/// entry. Standard k-means hygiene fixes that without changing the initialisation: an empty cluster is
/// re-seeded by splitting the cluster with the largest sum of squared errors at its mean, and Lloyd
/// iterations resume.
fn kmeans_1d(sorted: &[f32], k: usize) -> KMeans {
    let n = sorted.len();
    let (lo, hi) = (sorted[0] as f64, sorted[n - 1] as f64);
    let (mut s1, mut s2) = (Vec::with_capacity(n + 1), Vec::with_capacity(n + 1));
    s1.push(0.0f64);
    s2.push(0.0f64);
    for &v in sorted {
        let v = v as f64;
        s1.push(s1.last().unwrap() + v);
        s2.push(s2.last().unwrap() + v * v);
    }
    let mean = |a: usize, b: usize| (s1[b] - s1[a]) / (b - a) as f64;
    let sse = |a: usize, b: usize| (s2[b] - s2[a]) - (s1[b] - s1[a]).powi(2) / (b - a) as f64;
    let mut c: Vec<f64> = if k == 1 {
        vec![0.5 * (lo + hi)]
    } else {
        (0..k)
            .map(|i| lo + (hi - lo) * i as f64 / (k - 1) as f64)
            .collect()
    };
    let mut bounds = vec![0usize; k + 1];
    bounds[k] = n;
    let (mut iterations, mut reseeded) = (0, 0);
    loop {
        loop {
            iterations += 1;
            for i in 1..k {
                let mid = 0.5 * (c[i - 1] + c[i]);
                bounds[i] = sorted.partition_point(|&v| (v as f64) <= mid);
            }
            let mut changed = false;
            for i in 0..k {
                let (a, b) = (bounds[i], bounds[i + 1]);
                if b > a && mean(a, b) != c[i] {
                    changed = true;
                    c[i] = mean(a, b);
                }
            }
            if !changed || iterations >= MAX_ITERATIONS {
                break;
            }
        }
        let Some(empty) = (0..k).find(|&i| bounds[i] == bounds[i + 1]) else {
            break;
        };
        let worst = (0..k)
            // Clusters of two or more distinct values (the emptiness test first: an empty cluster at
            // the top has `bounds[i] == n`).
            .filter(|&i| {
                bounds[i + 1] > bounds[i] && sorted[bounds[i]] != sorted[bounds[i + 1] - 1]
            })
            .max_by(|&i, &j| {
                sse(bounds[i], bounds[i + 1]).total_cmp(&sse(bounds[j], bounds[j + 1]))
            });
        let Some(worst) = worst else { break };
        if iterations >= MAX_ITERATIONS || reseeded >= 4 * k {
            break;
        }
        let (a, b) = (bounds[worst], bounds[worst + 1]);
        let m = mean(a, b);
        let p = (a + sorted[a..b].partition_point(|&v| (v as f64) <= m)).clamp(a + 1, b - 1);
        c[worst] = mean(a, p);
        c[empty] = mean(p, b);
        c.sort_by(f64::total_cmp);
        reseeded += 1;
    }
    KMeans {
        centroids: c,
        iterations,
        reseeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_are_kept_exactly() {
        let w = [0.5f32, -0.25, 0.5, 0.0, 0.125];
        let (cb, rep) = share_weights(&w, 2).unwrap();
        assert_eq!(cb.values(), &[0.0, -0.25, 0.125, 0.5]);
        assert_eq!(rep.method, "exact");
        assert_eq!(rep.max_abs_err, 0.0);
        assert_eq!(cb.exact(0.125), Some(2));
        assert_eq!(cb.exact(0.3), None);
    }

    #[test]
    fn kmeans_finds_obvious_clusters() {
        let mut w = Vec::new();
        for c in [-1.0f32, 2.0, 5.0] {
            for d in [-0.01f32, 0.0, 0.01] {
                w.push(c + d);
            }
        }
        w.push(-1.02);
        let (cb, rep) = share_weights(&w, 2).unwrap();
        assert_eq!(cb.len(), 4);
        assert!((cb.value(1) + 1.005).abs() < 1e-6, "{:?}", cb.values());
        assert!((cb.value(2) - 2.0).abs() < 1e-6 && (cb.value(3) - 5.0).abs() < 1e-6);
        assert!(rep.max_abs_err < 0.016 && rep.iterations >= 1);
    }

    /// Pruned weights leave a gap around zero; linear initialisation puts centroids in it. Every
    /// codebook entry must still end up used.
    #[test]
    fn pruned_weights_use_every_entry() {
        let mut w: Vec<f32> = (0..4000)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 0.2)
            .collect();
        crate::prune::magnitude_prune(&mut w, 400).unwrap();
        let nz: Vec<f32> = w.into_iter().filter(|&x| x != 0.0).collect();
        let (cb, rep) = share_weights(&nz, 4).unwrap();
        assert_eq!(cb.len(), 16);
        let mut used = [false; 16];
        nz.iter()
            .for_each(|&x| used[cb.nearest_nonzero(x) as usize] = true);
        assert!(used[1..].iter().all(|&u| u), "{:?} {rep:?}", cb.values());
        assert!(rep.reseeded >= 1, "{rep:?}");
    }

    #[test]
    fn nearest_prefers_zero_for_small_values() {
        let cb = Codebook::new(2, vec![0.0, -1.0, 1.0, 3.0]).unwrap();
        assert_eq!(cb.nearest(0.4), 0);
        assert_eq!(cb.nearest(0.6), 2);
        assert_eq!(cb.nearest(-5.0), 1);
        assert_eq!(cb.nearest_nonzero(2.0), 2);
        assert_eq!(cb.nearest_nonzero(2.1), 3);
        assert_eq!(cb.padded().len(), 4);
    }

    #[test]
    fn bad_codebooks_and_bits_are_rejected() {
        assert!(Codebook::new(2, vec![1.0, 2.0]).is_err());
        assert!(Codebook::new(1, vec![0.0, 1.0, 2.0]).is_err());
        assert!(Codebook::new(2, vec![0.0, 2.0, 1.0]).is_err());
        assert!(Codebook::new(9, vec![0.0]).is_err());
        assert!(share_weights(&[1.0], 0).is_err());
    }

    #[test]
    fn more_bits_never_increase_error() {
        let w: Vec<f32> = (1..2000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .filter(|&x| x != 0.0)
            .collect();
        let errs: Vec<f64> = (1..=8)
            .map(|b| share_weights(&w, b).unwrap().1.rmse)
            .collect();
        assert!(errs.windows(2).all(|e| e[1] <= e[0] + 1e-12), "{errs:?}");
    }

    /// The issue's `--bits 1` on `[[1, -1]]`: one shared value, the mean 0.0, would erase both weights.
    #[test]
    fn one_bit_sharing_of_weights_averaging_zero_is_refused() {
        for w in [
            &[1.0f32, -1.0][..],
            &[0.5, -0.25, -0.25],
            &[1e-45, -1e-45, 2e-45, -2e-45],
        ] {
            let e = share_weights(w, 1).unwrap_err().to_string();
            assert!(
                e.contains("weight bits = 1") && e.contains("erase every kept weight"),
                "{e}"
            );
        }
        // Two bits keep both values exactly.
        assert_eq!(
            share_weights(&[1.0, -1.0], 2).unwrap().0.values(),
            &[0.0, -1.0, 1.0]
        );
        // A non-zero mean is a valid one-entry codebook.
        let (cb, _) = share_weights(&[1.0, -0.5, 2.0], 1).unwrap();
        assert_eq!(cb.values(), &[0.0, 2.5 / 3.0]);
    }

    #[test]
    fn non_finite_weights_are_refused_by_position() {
        for (w, needle) in [
            (vec![1.0f32, f32::NAN], "element 1 is NaN"),
            (vec![f32::INFINITY], "element 0 is inf"),
            (
                vec![0.5, 0.25, 0.125, f32::NEG_INFINITY],
                "element 3 is -inf",
            ),
        ] {
            let e = share_weights(&w, 1).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn one_entry_and_empty_codebooks_do_not_panic() {
        let (cb, rep) = share_weights(&[], 3).unwrap();
        assert_eq!((cb.values(), rep.rmse), (&[0.0f32][..], 0.0));
        assert_eq!(share_weights(&[0.0, -0.0], 1).unwrap().0.len(), 1);
        let zero = Codebook::new(1, vec![0.0]).unwrap();
        assert_eq!(zero.nearest_nonzero(0.5), 0);
        assert_eq!(
            (zero.nearest(0.5), zero.exact(0.5), zero.exact(0.0)),
            (0, None, Some(0))
        );
        let rep = sharing_error("given", 0, &[0.5, -0.5], &zero);
        assert_eq!(rep.max_abs_err, 0.5);
        let e = Codebook::new(8, (0..300).map(|i| i as f32).collect())
            .unwrap_err()
            .to_string();
        assert!(e.contains("(300 entries)") && e.len() < 400, "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Any finite weights, extremes and subnormals included, at any width: a valid codebook that
        /// keeps every weight non-zero, or the one refusal above; never a panic.
        #[test]
        fn sharing_never_panics(
            w in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::f32::NORMAL | proptest::num::f32::SUBNORMAL | proptest::num::f32::ZERO,
                    proptest::sample::select(vec![f32::MAX, -f32::MAX, f32::MIN_POSITIVE, 1.0, -1.0, 1e-45]),
                ],
                0..60,
            ),
            bits in 1u8..=8,
        ) {
            match share_weights(&w, bits) {
                Ok((cb, rep)) => {
                    proptest::prop_assert!(cb.len() <= 1 << bits);
                    proptest::prop_assert!(rep.rmse.is_finite() && rep.max_abs_err.is_finite());
                    for &x in w.iter().filter(|&&x| x != 0.0) {
                        proptest::prop_assert!(cb.value(cb.nearest_nonzero(x)) != 0.0);
                    }
                }
                Err(e) => proptest::prop_assert!(e.to_string().contains("erase every kept weight"), "{}", e),
            }
        }
    }
}
