//! Magnitude pruning to an exact number of non-zeros.
//!
//! Keeps the `keep` weights of largest magnitude and zeroes the rest. The threshold is found by a
//! two-pass radix select over the bit patterns of `|w|` (for non-negative floats, bit order is value
//! order), so pruning is O(n) and needs no copy of the matrix. Ties at the threshold are broken by
//! position (lower row-major index kept first), so the result is exact and deterministic.

use crate::error::{CompressError, Result};
use rayon::prelude::*;

/// What pruning did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PruneReport {
    /// Non-zeros before pruning.
    pub nnz_before: usize,
    /// Non-zeros after pruning (equals the requested count).
    pub nnz_after: usize,
    /// Smallest magnitude kept.
    pub threshold: f32,
}

const CHUNK: usize = 1 << 16;

fn key(w: f32) -> u32 {
    w.to_bits() & 0x7FFF_FFFF
}

fn histogram(weights: &[f32], bin: impl Fn(u32) -> Option<usize> + Sync) -> Vec<usize> {
    weights
        .par_chunks(CHUNK)
        .fold(
            || vec![0usize; 1 << 16],
            |mut h, chunk| {
                for &w in chunk {
                    if let Some(b) = bin(key(w)) {
                        h[b] += 1;
                    }
                }
                h
            },
        )
        .reduce(
            || vec![0usize; 1 << 16],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// Finds the bin, walking from the top, in which the `need`-th largest element falls.
/// Returns (bin, count strictly above that bin).
fn find_bin(hist: &[usize], need: usize) -> (usize, usize) {
    let mut above = 0;
    for b in (0..hist.len()).rev() {
        if above + hist[b] >= need {
            return (b, above);
        }
        above += hist[b];
    }
    unreachable!("need {need} exceeds the histogram total {above}")
}

/// Keeps exactly `keep` non-zero weights of largest magnitude; zeroes all others.
///
/// Fails if `keep` is 0, the matrix has fewer than `keep` non-zeros (pruning can only remove), or a
/// weight is not finite.
pub fn magnitude_prune(weights: &mut [f32], keep: usize) -> Result<PruneReport> {
    crate::error::check_finite("weights to prune", weights)?;
    let nnz_before = weights.par_iter().filter(|&&w| w != 0.0).count();
    if keep == 0 {
        return Err(CompressError::param(
            "non-zero count",
            keep,
            "pruning must keep at least one weight",
        ));
    }
    if keep > nnz_before {
        return Err(CompressError::param(
            "density",
            format!("{keep} non-zeros"),
            format!(
                "the matrix has only {nnz_before} non-zero weights; pruning cannot add weights"
            ),
        ));
    }
    let high = histogram(weights, |k| Some((k >> 16) as usize));
    let (hi_bin, above_hi) = find_bin(&high, keep);
    let low = histogram(weights, |k| {
        ((k >> 16) as usize == hi_bin).then_some((k & 0xFFFF) as usize)
    });
    let (lo_bin, above_lo) = find_bin(&low, keep - above_hi);
    let threshold_key = ((hi_bin as u32) << 16) | lo_bin as u32;
    let mut ties_left = keep - above_hi - above_lo;
    for w in weights.iter_mut() {
        let k = key(*w);
        if k < threshold_key || k == 0 {
            *w = 0.0;
        } else if k == threshold_key {
            if ties_left > 0 {
                ties_left -= 1;
            } else {
                *w = 0.0;
            }
        }
    }
    Ok(PruneReport {
        nnz_before,
        nnz_after: keep,
        threshold: f32::from_bits(threshold_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_largest_magnitudes_with_ties_by_position() {
        let mut w = vec![0.5, -2.0, 1.0, -1.0, 1.0, 0.0, 3.0];
        let r = magnitude_prune(&mut w, 4).unwrap();
        assert_eq!(w, vec![0.0, -2.0, 1.0, -1.0, 0.0, 0.0, 3.0]);
        assert_eq!(r.threshold, 1.0);
        assert_eq!(r.nnz_before, 6);
    }

    #[test]
    fn cannot_keep_more_than_there_is() {
        let mut w = vec![0.0, 1.0, 0.0];
        let err = magnitude_prune(&mut w, 2).unwrap_err().to_string();
        assert!(err.contains("only 1 non-zero"), "{err}");
        assert!(magnitude_prune(&mut w, 0).is_err());
    }

    proptest! {
        #[test]
        fn exact_count_and_order(mut w in proptest::collection::vec(-4.0f32..4.0, 1..400), frac in 0.01f64..1.0) {
            let nnz = w.iter().filter(|&&x| x != 0.0).count();
            prop_assume!(nnz > 0);
            let keep = ((nnz as f64 * frac).ceil() as usize).clamp(1, nnz);
            let orig = w.clone();
            magnitude_prune(&mut w, keep).unwrap();
            prop_assert_eq!(w.iter().filter(|&&x| x != 0.0).count(), keep);
            let min_kept = w.iter().filter(|&&x| x != 0.0).map(|x| x.abs()).fold(f32::INFINITY, f32::min);
            for (a, b) in orig.iter().zip(&w) {
                prop_assert!(*b == 0.0 || a == b);
                if *b == 0.0 { prop_assert!(a.abs() <= min_kept); }
            }
        }
    }
}
