//! EIE's 16-bit fixed-point arithmetic, defined once for every fixed-point consumer.
//!
//! # Formats
//!
//! A [`QFormat`] with `frac` fraction bits stores `x` as the `i16` nearest to `x * 2^frac` (ties away
//! from zero, saturated to `[-32768, 32767]`). A layer has two formats ([`FixedPointSpec`]):
//!
//! - **weights**: the codebook entries, with the most fraction bits such that the largest `|entry|` fits;
//! - **activations**: input, bias activation (1.0) and output share one format (EIE's activation
//!   register files hold both the source and the destination vector), with the most fraction bits such
//!   that the largest of `|input|`, 1.0 (when the layer has a bias) and the f64 reference output's
//!   `|y|` fits. The scale is thus calibrated per layer on its own input, as one calibrates a quantized
//!   network's per-layer formats; nothing saturates on the calibrated input.
//!
//! Fraction bits are clamped to `0..=30`.
//!
//! # Arithmetic (the integer rules of DESIGN.md)
//!
//! For each stored weight `w` (i16, weight format) and its activation `a` (i16, activation format), the
//! product `w * a` (exact in i32) is shifted right arithmetically by the weight format's fraction bits
//! (floor), which puts it in the activation format, and added into a **wrapping** i32 accumulator. The
//! bias is the extra column, with activation `1.0` in the activation format. The output is ReLU'd (for
//! ReLU layers) and saturated to i16. Integer addition is order-independent, so every fixed-point backend
//! must agree with [`fixed_point_reference`] bit for bit.

use serde::Serialize;

/// Largest fraction-bit count a format may have.
pub const MAX_FRAC_BITS: u8 = 30;

/// A signed 16-bit fixed-point format with `frac` fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QFormat {
    pub frac: u8,
}

impl QFormat {
    /// The format with the most fraction bits (up to [`MAX_FRAC_BITS`]) that represents `max_abs`
    /// without saturation; 15 fraction bits when `max_abs` is 0.
    pub fn fitting(max_abs: f64) -> Self {
        if max_abs <= 0.0 || !max_abs.is_finite() {
            return Self { frac: 15 };
        }
        let mut frac = MAX_FRAC_BITS;
        while frac > 0 && (max_abs * (1u64 << frac) as f64).round() > i16::MAX as f64 {
            frac -= 1;
        }
        Self { frac }
    }

    /// Value of one least-significant bit.
    pub fn lsb(self) -> f64 {
        1.0 / (1u64 << self.frac) as f64
    }

    /// `x` in this format: nearest, ties away from zero, saturated.
    pub fn quantize(self, x: f32) -> i16 {
        let scaled = (x as f64 * (1u64 << self.frac) as f64).round();
        scaled.clamp(i16::MIN as f64, i16::MAX as f64) as i16
    }

    /// The real value of `q`.
    pub fn to_f32(self, q: i16) -> f32 {
        (q as f64 * self.lsb()) as f32
    }

    /// The real value of an accumulator `acc` (which holds this format's scale in 32 bits).
    pub fn acc_to_f64(self, acc: i32) -> f64 {
        acc as f64 * self.lsb()
    }
}

/// The fixed-point formats of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FixedPointSpec {
    /// Format of the codebook entries.
    pub weight: QFormat,
    /// Format of input, bias activation and output.
    pub act: QFormat,
}

impl FixedPointSpec {
    /// Chooses both formats (see the module docs).
    pub fn calibrate(codebook: &[f32], input: &[f32], has_bias: bool, max_abs_output: f64) -> Self {
        let max_w = codebook
            .iter()
            .fold(0.0f64, |m, &w| m.max((w as f64).abs()));
        let max_in = input.iter().fold(0.0f64, |m, &a| m.max((a as f64).abs()));
        let bias_act = if has_bias { 1.0 } else { 0.0 };
        Self {
            weight: QFormat::fitting(max_w),
            act: QFormat::fitting(max_in.max(bias_act).max(max_abs_output)),
        }
    }

    /// One product in the activation format: `(w * a) >> weight.frac` (arithmetic shift).
    #[inline]
    pub fn product(self, w: i16, a: i16) -> i32 {
        (w as i32 * a as i32) >> self.weight.frac
    }

    /// The output of an accumulator: ReLU (if `relu`) then saturation to i16.
    #[inline]
    pub fn finish(self, acc: i32, relu: bool) -> i16 {
        let acc = if relu { acc.max(0) } else { acc };
        acc.clamp(i16::MIN as i32, i16::MAX as i32) as i16
    }
}

/// The plain fixed-point `f(W a + v)` of DESIGN.md, row by row over CSR codes.
///
/// `weights_q` is the codebook in the weight format; `act_q` holds the activations of every column,
/// the bias column included (its activation `1.0` quantized).
pub fn fixed_point_reference(
    spec: FixedPointSpec,
    codes: &crate::sparse::SparseCodes,
    weights_q: &[i16],
    act_q: &[i16],
    relu: bool,
) -> Vec<i16> {
    assert_eq!(act_q.len(), codes.cols(), "one activation per column");
    (0..codes.rows())
        .map(|i| {
            let (cols, cs) = codes.row(i);
            let acc = cols.iter().zip(cs).fold(0i32, |acc, (&j, &c)| {
                acc.wrapping_add(spec.product(weights_q[c as usize], act_q[j as usize]))
            });
            spec.finish(acc, relu)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::SparseCodes;

    #[test]
    fn fitting_formats() {
        assert_eq!(QFormat::fitting(1.0).frac, 14);
        assert_eq!(QFormat::fitting(0.99).frac, 15);
        assert_eq!(QFormat::fitting(0.0616).frac, 19);
        assert_eq!(QFormat::fitting(14.534).frac, 11);
        assert_eq!(QFormat::fitting(1e9).frac, 0);
        let q = QFormat { frac: 4 };
        assert_eq!(q.quantize(1.03125), 17); // 16.5 rounds away from zero
        assert_eq!(q.quantize(-1.03125), -17);
        assert_eq!(q.quantize(1e6), i16::MAX);
        assert_eq!(q.to_f32(24), 1.5);
    }

    #[test]
    fn products_floor_and_accumulators_wrap() {
        let spec = FixedPointSpec {
            weight: QFormat { frac: 2 },
            act: QFormat { frac: 0 },
        };
        assert_eq!(spec.product(-1, 1), -1); // -1/4 floors to -1
        assert_eq!(spec.product(5, 3), 3); // 15/4 = 3.75 floors to 3
        assert_eq!(spec.finish(-7, true), 0);
        assert_eq!(spec.finish(-7, false), -7);
        assert_eq!(spec.finish(40_000, false), i16::MAX);
        // Two products of 2^30 >> 0 wrap the accumulator past i32::MAX.
        let big = FixedPointSpec {
            weight: QFormat { frac: 0 },
            act: QFormat { frac: 0 },
        };
        let m = SparseCodes::from_dense(1, 3, &[1, 1, 1]);
        let y = fixed_point_reference(
            big,
            &m,
            &[0, i16::MIN],
            &[i16::MIN, i16::MIN, i16::MIN],
            false,
        );
        // 3 * 2^30 wraps to -2^30: saturates to i16::MIN.
        assert_eq!(y, vec![i16::MIN]);
    }
}
