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
//! Fraction bits are clamped to `0..=30`, and the clamping is reported, not silent: [`FormatChoice`] says
//! what a format was fitted to, the fraction bits the fit wanted and whether the clamp changed them
//! (wanting fewer than 0 means the largest values saturate; more than 30, that the smallest lose
//! precision, down to quantizing to 0). [`FixedPointSpec::choose`] returns both formats' choices, and
//! [`CompressedLayer::fixed_choice`](crate::CompressedLayer::fixed_choice) keeps them with the layer.
//!
//! # Arithmetic (the integer rules of DESIGN.md)
//!
//! For each stored weight `w` (i16, weight format) and its activation `a` (i16, activation format), the
//! product `w * a` (exact in i32) is shifted right arithmetically by the weight format's fraction bits
//! `f`, which puts it in the activation format, and added into a **wrapping** i32 accumulator. How the
//! shift rounds is the layer's [`Rounding`]: `floor` (the plain shift, round toward minus infinity,
//! EIE's datapath as we model it and the default) or `nearest` (`(w * a + 2^(f-1)) >> f`: to the nearest,
//! ties toward plus infinity; one more addition per product). Both are exact integer rules, so every
//! backend agrees bit for bit in either mode; `w * a + 2^(f-1)` never leaves i32 (at most 2^30 + 2^29). The
//! bias is the extra column, with activation `1.0` in the activation format. The output is ReLU'd (for
//! ReLU layers) and saturated to i16. Integer addition is order-independent, so every fixed-point backend
//! must agree with [`fixed_point_reference`] bit for bit.
//!
//! Saturating an output, or wrapping its accumulator, changes the answer: [`fixed_point_reference_checked`]
//! also counts the outputs where either happened ([`FixedOutcome`]), so a caller can warn.

use serde::Serialize;

/// Largest fraction-bit count a format may have.
pub const MAX_FRAC_BITS: u8 = 30;

/// A signed 16-bit fixed-point format with `frac` fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QFormat {
    pub frac: u8,
}

/// Fraction bits of the format of an all-zero (or non-finite) range.
pub const DEFAULT_FRAC_BITS: u8 = 15;

/// How a format was chosen for a range of values: what it was fitted to, what the fit wanted, and
/// whether clamping to `0..=MAX_FRAC_BITS` changed that.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FormatChoice {
    /// The chosen format.
    pub format: QFormat,
    /// The largest magnitude it was fitted to.
    pub max_abs: f64,
    /// The most fraction bits `f` with `round(max_abs * 2^f) <= 32767`, before clamping; `None` when
    /// `max_abs` is 0 or not finite (the format then has [`DEFAULT_FRAC_BITS`]).
    pub wanted_frac: Option<i32>,
}

impl FormatChoice {
    /// Whether clamping changed the fraction bits the fit wanted.
    pub fn clamped(&self) -> bool {
        self.wanted_frac
            .is_some_and(|w| w != i32::from(self.format.frac))
    }

    /// Whether `max_abs` lies beyond the format's range even with 0 fraction bits: values near it
    /// saturate to +-32767.
    pub fn saturates(&self) -> bool {
        self.wanted_frac.is_some_and(|w| w < 0)
    }

    /// Fraction bits the clamp at [`MAX_FRAC_BITS`] took away: the largest value is held with that
    /// many fewer significant bits than 16-bit fixed point allows (values below half an LSB become 0).
    pub fn precision_bits_lost(&self) -> u32 {
        self.wanted_frac
            .map_or(0, |w| (w - i32::from(MAX_FRAC_BITS)).max(0) as u32)
    }

    /// A one-line account, e.g. `"14 fraction bits (fits 1.5)"` or
    /// `"0 fraction bits (clamped: 40000 needs -1; values above 32767 saturate)"`.
    pub fn describe(&self) -> String {
        let f = self.format.frac;
        match self.wanted_frac {
            None => format!("{f} fraction bits (default: nothing to fit)"),
            Some(w) if w < 0 => format!(
                "{f} fraction bits (clamped: {} needs {w}; values above 32767 saturate)",
                self.max_abs
            ),
            Some(w) if w > i32::from(MAX_FRAC_BITS) => format!(
                "{f} fraction bits (clamped: {:e} wants {w}; {} bits of precision lost)",
                self.max_abs,
                self.precision_bits_lost()
            ),
            Some(_) => format!("{f} fraction bits (fits {})", self.max_abs),
        }
    }
}

impl QFormat {
    /// The format with the most fraction bits (up to [`MAX_FRAC_BITS`]) that represents `max_abs`
    /// without saturation; [`DEFAULT_FRAC_BITS`] when `max_abs` is 0. [`QFormat::choose`] says
    /// whether the clamp changed anything.
    pub fn fitting(max_abs: f64) -> Self {
        Self::choose(max_abs).format
    }

    /// [`QFormat::fitting`] with its account.
    pub fn choose(max_abs: f64) -> FormatChoice {
        if max_abs <= 0.0 || !max_abs.is_finite() {
            return FormatChoice {
                format: Self {
                    frac: DEFAULT_FRAC_BITS,
                },
                max_abs,
                wanted_frac: None,
            };
        }
        // Bounds far beyond any f64 (2^-1074 ..= 2^1024) keep the search finite.
        const LIMIT: i32 = 1100;
        let fits = |f: i32| (max_abs * 2f64.powi(f)).round() <= i16::MAX as f64;
        let mut f = ((i16::MAX as f64 / max_abs).log2().floor() as i32).clamp(-LIMIT, LIMIT);
        while f > -LIMIT && !fits(f) {
            f -= 1;
        }
        while f < LIMIT && fits(f + 1) {
            f += 1;
        }
        FormatChoice {
            format: Self {
                frac: f.clamp(0, i32::from(MAX_FRAC_BITS)) as u8,
            },
            max_abs,
            wanted_frac: Some(f),
        }
    }

    /// Whether `x` lies outside the format's range (so [`QFormat::quantize`] saturates it).
    pub fn saturates(self, x: f32) -> bool {
        let scaled = (x as f64 * (1u64 << self.frac) as f64).round();
        !(i16::MIN as f64..=i16::MAX as f64).contains(&scaled)
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

/// How a product is brought from `weight.frac + act.frac` fraction bits down to the activation format's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// Arithmetic shift: round toward minus infinity (EIE's datapath as we model it). Each product
    /// loses up to one LSB, always downwards, so a sum of `n` products drifts by up to `-n` LSB.
    #[default]
    Floor,
    /// Add half an LSB, then shift: to the nearest, ties toward plus infinity. Errors of at most half an
    /// LSB per product, of either sign.
    Nearest,
}

impl Rounding {
    /// Both modes, the default first.
    pub const ALL: [Rounding; 2] = [Rounding::Floor, Rounding::Nearest];

    /// `floor` or `nearest`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Nearest => "nearest",
        }
    }

    /// What is added to `w * a` before the shift by `frac` bits: 0 (floor) or `2^(frac-1)` (nearest;
    /// 0 when `frac` is 0, where the shift is exact).
    #[inline]
    pub fn bias(self, frac: u8) -> i32 {
        match self {
            Self::Nearest if frac > 0 => 1 << (frac - 1),
            _ => 0,
        }
    }
}

impl std::fmt::Display for Rounding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Rounding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "floor" => Ok(Self::Floor),
            "nearest" => Ok(Self::Nearest),
            other => Err(format!(
                "unknown rounding '{other}': expected floor or nearest"
            )),
        }
    }
}

/// The fixed-point formats of one layer and how its products round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FixedPointSpec {
    /// Format of the codebook entries.
    pub weight: QFormat,
    /// Format of input, bias activation and output.
    pub act: QFormat,
    /// How each product's shift rounds.
    pub rounding: Rounding,
}

/// How both formats of a layer were chosen, and the rounding of its products.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FixedPointChoice {
    pub weight: FormatChoice,
    pub act: FormatChoice,
    pub rounding: Rounding,
}

impl FixedPointChoice {
    /// The formats chosen.
    pub fn spec(&self) -> FixedPointSpec {
        FixedPointSpec {
            weight: self.weight.format,
            act: self.act.format,
            rounding: self.rounding,
        }
    }

    /// Whether clamping changed either format.
    pub fn clamped(&self) -> bool {
        self.weight.clamped() || self.act.clamped()
    }

    /// One line per clamped format, for a caller to print as warnings (empty when nothing was clamped).
    pub fn warnings(&self) -> Vec<String> {
        [("weight", &self.weight), ("activation", &self.act)]
            .into_iter()
            .filter(|(_, c)| c.clamped())
            .map(|(what, c)| format!("{what} format: {}", c.describe()))
            .collect()
    }
}

impl FixedPointSpec {
    /// Chooses both formats (see the module docs).
    pub fn calibrate(codebook: &[f32], input: &[f32], has_bias: bool, max_abs_output: f64) -> Self {
        Self::choose(codebook, input, has_bias, max_abs_output).spec()
    }

    /// [`FixedPointSpec::calibrate`] with the account of each choice.
    pub fn choose(
        codebook: &[f32],
        input: &[f32],
        has_bias: bool,
        max_abs_output: f64,
    ) -> FixedPointChoice {
        let max_w = codebook
            .iter()
            .fold(0.0f64, |m, &w| m.max((w as f64).abs()));
        let max_in = input.iter().fold(0.0f64, |m, &a| m.max((a as f64).abs()));
        let bias_act = if has_bias { 1.0 } else { 0.0 };
        FixedPointChoice {
            weight: QFormat::choose(max_w),
            act: QFormat::choose(max_in.max(bias_act).max(max_abs_output)),
            rounding: Rounding::default(),
        }
    }

    /// For a backend's detail: `""` for the default rounding, `", nearest rounding"` otherwise (so that
    /// records of the two modes are told apart).
    pub fn rounding_note(self) -> &'static str {
        match self.rounding {
            Rounding::Floor => "",
            Rounding::Nearest => ", nearest rounding",
        }
    }

    /// What each product adds before its shift ([`Rounding::bias`] at the weight format's fraction bits).
    #[inline]
    pub fn round_bias(self) -> i32 {
        self.rounding.bias(self.weight.frac)
    }

    /// One product in the activation format: `(w * a + round_bias) >> weight.frac` (arithmetic shift).
    #[inline]
    pub fn product(self, w: i16, a: i16) -> i32 {
        (w as i32 * a as i32 + self.round_bias()) >> self.weight.frac
    }

    /// The output of an accumulator: ReLU (if `relu`) then saturation to i16.
    #[inline]
    pub fn finish(self, acc: i32, relu: bool) -> i16 {
        let acc = if relu { acc.max(0) } else { acc };
        acc.clamp(i16::MIN as i32, i16::MAX as i32) as i16
    }

    /// [`FixedPointSpec::finish`], and whether saturation changed the output.
    #[inline]
    pub fn finish_checked(self, acc: i32, relu: bool) -> (i16, bool) {
        let y = self.finish(acc, relu);
        let unsaturated = if relu { acc.max(0) } else { acc };
        (y, i32::from(y) != unsaturated)
    }
}

/// What the 16-bit arithmetic did to a set of outputs beyond rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FixedOutcome {
    /// Outputs computed.
    pub outputs: usize,
    /// Outputs saturated to i16 (after ReLU).
    pub saturated: usize,
    /// Outputs whose 32-bit accumulator wrapped: its value differs from the exact integer sum.
    pub wrapped: usize,
}

impl FixedOutcome {
    /// Whether any output was saturated or wrapped.
    pub fn changed(&self) -> bool {
        self.saturated > 0 || self.wrapped > 0
    }

    /// Counts one output.
    #[inline]
    pub fn record(&mut self, saturated: bool, wrapped: bool) {
        self.outputs += 1;
        self.saturated += usize::from(saturated);
        self.wrapped += usize::from(wrapped);
    }
}

impl std::ops::AddAssign for FixedOutcome {
    fn add_assign(&mut self, o: Self) {
        self.outputs += o.outputs;
        self.saturated += o.saturated;
        self.wrapped += o.wrapped;
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
    fixed_point_reference_checked(spec, codes, weights_q, act_q, relu).0
}

/// [`fixed_point_reference`], and how many outputs saturation or a wrapped accumulator changed.
pub fn fixed_point_reference_checked(
    spec: FixedPointSpec,
    codes: &crate::sparse::SparseCodes,
    weights_q: &[i16],
    act_q: &[i16],
    relu: bool,
) -> (Vec<i16>, FixedOutcome) {
    assert_eq!(act_q.len(), codes.cols(), "one activation per column");
    let mut outcome = FixedOutcome::default();
    let y = (0..codes.rows())
        .map(|i| {
            let (cols, cs) = codes.row(i);
            let (acc, exact) = cols
                .iter()
                .zip(cs)
                .fold((0i32, 0i64), |(acc, exact), (&j, &c)| {
                    let p = spec.product(weights_q[c as usize], act_q[j as usize]);
                    (acc.wrapping_add(p), exact + i64::from(p))
                });
            let (y, saturated) = spec.finish_checked(acc, relu);
            outcome.record(saturated, i64::from(acc) != exact);
            y
        })
        .collect();
    (y, outcome)
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
            rounding: Rounding::Floor,
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
            rounding: Rounding::Floor,
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

    #[test]
    fn nearest_rounds_half_up_and_matches_the_real_product() {
        let spec = FixedPointSpec {
            weight: QFormat { frac: 2 },
            act: QFormat { frac: 0 },
            rounding: Rounding::Nearest,
        };
        assert_eq!(spec.product(-1, 1), 0); // -0.25 to 0
        assert_eq!(spec.product(5, 3), 4); // 3.75 to 4
        assert_eq!(spec.product(1, 2), 1); // 0.5: ties up
        assert_eq!(spec.product(-1, 2), 0); // -0.5: ties up
        assert_eq!(spec.product(-3, 1), -1); // -0.75 to -1
        assert_eq!(spec.product(0, 7), 0, "padding stays exactly zero");
        assert_eq!(Rounding::Nearest.bias(0), 0, "a shift by 0 is exact");
        // Every product, both modes, against the real quotient; the extremes do not overflow.
        for frac in [0u8, 1, 7, 15, 30] {
            for w in [i16::MIN, -32767, -12345, -1, 0, 1, 999, i16::MAX] {
                for a in [i16::MIN, -3, 0, 5, 20001, i16::MAX] {
                    let exact = f64::from(w) * f64::from(a) / 2f64.powi(i32::from(frac));
                    for rounding in Rounding::ALL {
                        let s = FixedPointSpec {
                            weight: QFormat { frac },
                            act: QFormat { frac: 0 },
                            rounding,
                        };
                        let want = match rounding {
                            Rounding::Floor => exact.floor(),
                            Rounding::Nearest => (exact + 0.5).floor(),
                        };
                        assert_eq!(
                            f64::from(s.product(w, a)),
                            want,
                            "{rounding} {w}*{a}>>{frac}"
                        );
                    }
                }
            }
        }
        assert_eq!("nearest".parse::<Rounding>(), Ok(Rounding::Nearest));
        assert!(
            "up".parse::<Rounding>()
                .unwrap_err()
                .contains("floor or nearest")
        );
    }

    #[test]
    fn clamping_is_reported() {
        let fits = QFormat::choose(1.5);
        assert_eq!(
            (fits.format.frac, fits.wanted_frac, fits.clamped()),
            (14, Some(14), false)
        );
        let big = QFormat::choose(40_000.0);
        assert_eq!((big.format.frac, big.wanted_frac), (0, Some(-1)));
        assert!(big.clamped() && big.saturates() && big.describe().contains("saturate"));
        let tiny = QFormat::choose(1e-12);
        assert_eq!(tiny.format.frac, MAX_FRAC_BITS);
        assert!(tiny.clamped() && !tiny.saturates());
        assert_eq!(tiny.wanted_frac, Some(54));
        assert_eq!(tiny.precision_bits_lost(), 24);
        assert_eq!(
            tiny.format.quantize(1e-12),
            0,
            "what the report warns about"
        );
        let none = QFormat::choose(0.0);
        assert_eq!(
            (none.format.frac, none.wanted_frac, none.clamped()),
            (15, None, false)
        );
        for x in [
            f64::MIN_POSITIVE,
            5e-324,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
        ] {
            let c = QFormat::choose(x);
            assert!(c.format.frac <= MAX_FRAC_BITS, "{x}");
        }
        // `fitting` is `choose`'s format, as before.
        for x in [1.0, 0.99, 0.0616, 14.534, 1e9, 3e-5, 32767.4, 32767.5] {
            assert_eq!(QFormat::fitting(x), QFormat::choose(x).format);
        }
        let choice = FixedPointSpec::choose(&[0.0, 1e-12], &[1.0], false, 50_000.0);
        assert!(choice.clamped());
        let w = choice.warnings();
        assert_eq!(w.len(), 2);
        assert!(w[0].starts_with("weight format") && w[1].starts_with("activation format"));
        assert!(
            FixedPointSpec::choose(&[0.5], &[1.0], true, 2.0)
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn saturation_and_wrapping_are_counted() {
        let spec = FixedPointSpec {
            weight: QFormat { frac: 0 },
            act: QFormat { frac: 0 },
            rounding: Rounding::Floor,
        };
        assert_eq!(spec.finish_checked(40_000, false), (i16::MAX, true));
        assert_eq!(spec.finish_checked(-40_000, true), (0, false));
        assert_eq!(spec.finish_checked(-40_000, false), (i16::MIN, true));
        assert_eq!(spec.finish_checked(5, false), (5, false));
        // Row 0: 2^30 + 2^30 wraps to -2^31 (and saturates); row 1 saturates; row 2 is exact.
        let m = SparseCodes::from_dense(3, 3, &[1, 0, 1, 2, 2, 0, 0, 3, 0]);
        let (y, outcome) = fixed_point_reference_checked(
            spec,
            &m,
            &[0, i16::MIN, 100, 2],
            &[i16::MIN, 200, i16::MIN],
            false,
        );
        assert_eq!(y, vec![i16::MIN, i16::MIN, 400]);
        assert_eq!(
            outcome,
            FixedOutcome {
                outputs: 3,
                saturated: 2,
                wrapped: 1
            }
        );
        assert!(outcome.changed());
        assert!(QFormat { frac: 4 }.saturates(2048.0) && !QFormat { frac: 4 }.saturates(2047.0));
    }
}
