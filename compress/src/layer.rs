//! [`CompressedLayer`]: the one exact compressed layer that every backend, the EIE model and the
//! library baselines read.
//!
//! Built from a [`DenseLayer`] by pruning (optional), weight sharing and EIE encoding. Its canonical
//! content is the CSR matrix of codebook indices, the codebook, the bias indices and the input; the EIE
//! encoding (for a chosen PE count) and every view are derived from it.

use crate::dense::DenseLayer;
use crate::eie::{DEFAULT_INDEX_BITS, DEFAULT_PES, EieEncoding, check_index_bits, check_pes};
use crate::error::{CompressError, Result};
use crate::fixed::{
    FixedOutcome, FixedPointChoice, FixedPointSpec, QFormat, fixed_point_reference_checked,
};
use crate::prune::{PruneReport, magnitude_prune};
use crate::share::{Codebook, SharingReport, check_bits, share_weights, sharing_error};
use crate::sparse::SparseCodes;
use crate::spec::check_density;
use crate::storage::StorageStats;
use ndarray::Array2;

/// How to compress a dense layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompressOptions {
    /// Weight (codebook index) bits, 1..=8; the codebook has `2^bits` entries, entry 0 the zero weight.
    pub bits: u8,
    /// Prune to this weight density first (`None`: keep the matrix's non-zeros as they are).
    pub density: Option<f64>,
    /// PEs of the EIE encoding, 1..=1024.
    pub pes: usize,
    /// Relative-index (`z`) bits, 1..=8.
    pub index_bits: u8,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            bits: 4,
            density: None,
            pes: DEFAULT_PES,
            index_bits: DEFAULT_INDEX_BITS,
        }
    }
}

impl CompressOptions {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_bits(self.bits)?;
        check_pes(self.pes)?;
        check_index_bits(self.index_bits)?;
        if let Some(d) = self.density {
            check_density("weight density", d)?;
        }
        Ok(())
    }
}

/// The fixed-point reference's error against the f64 reference ([`CompressedLayer::fixed_error`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FixedError {
    /// The rounding of the products.
    pub rounding: crate::fixed::Rounding,
    /// Largest `|y_fixed - y_f64|` over the outputs.
    pub max_abs: f64,
    /// Mean of `y_fixed - y_f64` (signed: floor's products all round down).
    pub mean: f64,
    /// One LSB of the output format.
    pub lsb: f64,
}

/// Raw CSR arrays of the decoded weights (W only, no bias).
#[derive(Clone, Debug, PartialEq)]
pub struct CsrArrays {
    pub rows: usize,
    pub cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

/// A pruned, weight-shared, EIE-encoded FC layer with its input.
///
/// Invariants: `codes` is `outputs x inputs`; `bias`, when present, has `outputs` codes; `input` has
/// `inputs` finite values; `eie` encodes `codes` with the bias as one extra last column; every code is
/// an index of `codebook`.
#[derive(Clone, Debug)]
pub struct CompressedLayer {
    name: String,
    relu: bool,
    codebook: Codebook,
    codes: SparseCodes,
    bias: Option<Vec<u8>>,
    input: Vec<f32>,
    eie: EieEncoding,
    fixed: FixedPointChoice,
    sharing: SharingReport,
    prune: Option<PruneReport>,
    content_hash: String,
}

impl CompressedLayer {
    /// Prunes (if `opts.density` is set), weight-shares and encodes `dense`.
    ///
    /// A matrix whose non-zeros already take at most `2^bits - 1` distinct values keeps exactly those
    /// values as its codebook; otherwise 1-D k-means (linear initialisation) builds it.
    pub fn compress(mut dense: DenseLayer, opts: CompressOptions) -> Result<Self> {
        opts.validate()?;
        let prune = match opts.density {
            Some(d) => {
                let keep = ((d * dense.weights.len() as f64).round() as usize).max(1);
                Some(magnitude_prune(&mut dense.weights, keep)?)
            }
            None => None,
        };
        let nonzeros: Vec<f32> = dense
            .weights
            .iter()
            .copied()
            .filter(|&w| w != 0.0)
            .collect();
        let (codebook, sharing) = share_weights(&nonzeros, opts.bits)?;
        let codes = match code_matrix::<std::convert::Infallible>(&dense, |w| {
            Ok(codebook.nearest_nonzero(w))
        }) {
            Ok(codes) => codes,
            Err((_, _, never)) => match never {},
        };
        let bias = dense
            .bias
            .as_ref()
            .map(|b| b.iter().map(|&v| codebook.nearest(v)).collect());
        Self::assemble(dense, codebook, codes, bias, sharing, prune, opts)
    }

    /// Encodes `dense` with a given codebook: every weight and bias value must be one of its entries.
    pub fn with_codebook(
        dense: DenseLayer,
        codebook: Codebook,
        opts: CompressOptions,
    ) -> Result<Self> {
        opts.validate()?;
        let missing = |what: &str, idx: String, v: f32| {
            CompressError::Shape(format!(
                "layer '{}': {what} value {v} at {idx} is not an entry of the codebook {:?}",
                dense.name,
                codebook.values()
            ))
        };
        let codes = code_matrix(&dense, |w| codebook.exact(w).ok_or(w))
            .map_err(|(i, j, v)| missing("weight", format!("row {i}, column {j}"), v))?;
        let bias = match &dense.bias {
            Some(b) => Some(
                b.iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        codebook
                            .exact(v)
                            .ok_or_else(|| missing("bias", format!("row {i}"), v))
                    })
                    .collect::<Result<Vec<u8>>>()?,
            ),
            None => None,
        };
        let nonzeros: Vec<f32> = dense
            .weights
            .iter()
            .copied()
            .filter(|&w| w != 0.0)
            .collect();
        let sharing = sharing_error("given", 0, &nonzeros, &codebook);
        Self::assemble(dense, codebook, codes, bias, sharing, None, opts)
    }

    fn assemble(
        dense: DenseLayer,
        codebook: Codebook,
        codes: SparseCodes,
        bias: Option<Vec<u8>>,
        sharing: SharingReport,
        prune: Option<PruneReport>,
        opts: CompressOptions,
    ) -> Result<Self> {
        let augmented = match &bias {
            Some(b) => codes.with_extra_column(b),
            None => codes.clone(),
        };
        let eie = EieEncoding::encode(&augmented, opts.pes, codebook.bits(), opts.index_bits)?;
        let mut layer = Self {
            name: dense.name,
            relu: dense.relu,
            codebook,
            codes,
            bias,
            input: dense.input,
            eie,
            fixed: FixedPointSpec::choose(&[], &[], false, 0.0),
            sharing,
            prune,
            content_hash: String::new(),
        };
        let max_out = layer
            .reference_f64()
            .0
            .iter()
            .fold(0.0f64, |m, y| m.max(y.abs()));
        layer.fixed = FixedPointSpec::choose(
            layer.codebook.values(),
            &layer.input,
            layer.bias.is_some(),
            max_out,
        );
        layer.content_hash = layer.compute_hash();
        Ok(layer)
    }

    /// The same layer encoded for another PE count or relative-index width (content hash unchanged).
    pub fn reencode(&self, pes: usize, index_bits: u8) -> Result<Self> {
        let eie = EieEncoding::encode(
            &self.augmented_codes(),
            pes,
            self.codebook.bits(),
            index_bits,
        )?;
        Ok(Self {
            eie,
            ..self.clone()
        })
    }

    /// The same layer with its activation format fitted to `max_abs` (and to 1.0, the bias column's
    /// activation, when it has a bias) instead of to its own input and output. The layers of a network
    /// pass 16-bit activations to each other, so they share one format, calibrated on a data set.
    pub fn with_activation_range(mut self, max_abs: f64) -> Self {
        let bias_act = if self.bias.is_some() { 1.0 } else { 0.0 };
        self.fixed.act = QFormat::choose(max_abs.max(bias_act));
        self
    }

    /// The same layer with its fixed-point products rounded as `rounding` says (the formats are kept;
    /// the content hash too, as it describes the layer, not the arithmetic).
    pub fn with_rounding(mut self, rounding: crate::fixed::Rounding) -> Self {
        self.fixed.rounding = rounding;
        self
    }

    /// The same layer with another input (a network's real activations, say): its length must be
    /// [`CompressedLayer::inputs`] and every value finite. The fixed-point formats are kept (a network's
    /// layers share one activation format); the content hash is recomputed.
    pub fn with_input(&self, input: Vec<f32>) -> Result<Self> {
        if input.len() != self.inputs() {
            return Err(CompressError::Shape(format!(
                "layer '{}': an input of {} values for a layer of {} inputs",
                self.name,
                input.len(),
                self.inputs()
            )));
        }
        if let Some(j) = input.iter().position(|v| !v.is_finite()) {
            return Err(CompressError::Shape(format!(
                "layer '{}': input value {j} is {}, not a finite number",
                self.name, input[j]
            )));
        }
        let mut layer = Self {
            input,
            ..self.clone()
        };
        layer.content_hash = layer.compute_hash();
        Ok(layer)
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Renames the layer (content hash unchanged).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
    }
    /// Input length (columns of W).
    pub fn inputs(&self) -> usize {
        self.codes.cols()
    }
    /// Output length (rows of W).
    pub fn outputs(&self) -> usize {
        self.codes.rows()
    }
    /// Whether the output goes through ReLU.
    pub fn relu(&self) -> bool {
        self.relu
    }
    /// The shared weights.
    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }
    /// W as CSR codebook indices (no bias).
    pub fn codes(&self) -> &SparseCodes {
        &self.codes
    }
    /// Bias codebook indices, if the layer has a bias.
    pub fn bias_codes(&self) -> Option<&[u8]> {
        self.bias.as_deref()
    }
    /// The input activations (without the bias column's constant 1).
    pub fn input(&self) -> &[f32] {
        &self.input
    }
    /// The EIE encoding.
    pub fn eie(&self) -> &EieEncoding {
        &self.eie
    }
    /// The fixed-point formats.
    pub fn fixed(&self) -> FixedPointSpec {
        self.fixed.spec()
    }
    /// How the fixed-point formats were chosen, and whether clamping their fraction bits to
    /// `0..=30` changed them ([`FixedPointChoice::warnings`] words it for a user).
    pub fn fixed_choice(&self) -> &FixedPointChoice {
        &self.fixed
    }
    /// How the codebook was made and the error it leaves.
    pub fn sharing(&self) -> &SharingReport {
        &self.sharing
    }
    /// What pruning did, if this layer was pruned here.
    pub fn prune_report(&self) -> Option<&PruneReport> {
        self.prune.as_ref()
    }
    /// A 16-hex-digit digest (BLAKE3) of the layer's content: shape, ReLU, codebook, codes, bias and
    /// input. It does not depend on the PE count or the name.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// W's codes with the bias as one extra last column (what EIE encodes).
    pub fn augmented_codes(&self) -> SparseCodes {
        match &self.bias {
            Some(b) => self.codes.with_extra_column(b),
            None => self.codes.clone(),
        }
    }

    /// The activations of every encoded column: the input, then 1.0 for the bias column.
    pub fn augmented_input(&self) -> Vec<f32> {
        let mut a = self.input.clone();
        if self.bias.is_some() {
            a.push(1.0);
        }
        a
    }

    /// The decoded bias values.
    pub fn bias(&self) -> Option<Vec<f32>> {
        self.bias
            .as_ref()
            .map(|b| b.iter().map(|&c| self.codebook.value(c)).collect())
    }

    /// The decoded weights, dense (`outputs x inputs`).
    pub fn dense_weights(&self) -> Array2<f32> {
        let mut w = Array2::<f32>::zeros((self.outputs(), self.inputs()));
        for i in 0..self.outputs() {
            let (cols, cs) = self.codes.row(i);
            for (&j, &c) in cols.iter().zip(cs) {
                w[[i, j as usize]] = self.codebook.value(c);
            }
        }
        w
    }

    /// The decoded weights as raw CSR arrays.
    pub fn csr_arrays(&self) -> CsrArrays {
        CsrArrays {
            rows: self.outputs(),
            cols: self.inputs(),
            indptr: self.codes.row_ptr().to_vec(),
            indices: self.codes.col_idx().to_vec(),
            data: self
                .codes
                .codes()
                .iter()
                .map(|&c| self.codebook.value(c))
                .collect(),
        }
    }

    /// The decoded weights as an `sprs` CSR matrix.
    pub fn csr(&self) -> sprs::CsMat<f32> {
        let a = self.csr_arrays();
        let indices = a.indices.iter().map(|&j| j as usize).collect();
        sprs::CsMat::new((a.rows, a.cols), a.indptr, indices, a.data)
    }

    /// The f64 reference `f(W a + v)` and, per row, `sum_j |w_ij a_j| + |v_i|` (the scale of DESIGN.md's
    /// error bound).
    pub fn reference_f64(&self) -> (Vec<f64>, Vec<f64>) {
        let bias = self.bias();
        (0..self.outputs())
            .map(|i| {
                let (cols, cs) = self.codes.row(i);
                let (mut y, mut s) = (0.0f64, 0.0f64);
                for (&j, &c) in cols.iter().zip(cs) {
                    let t = self.codebook.value(c) as f64 * self.input[j as usize] as f64;
                    y += t;
                    s += t.abs();
                }
                if let Some(b) = &bias {
                    y += b[i] as f64;
                    s += (b[i] as f64).abs();
                }
                (if self.relu { y.max(0.0) } else { y }, s)
            })
            .unzip()
    }

    /// The codebook in the weight format, padded to `2^bits` entries.
    pub fn fixed_codebook(&self) -> Vec<i16> {
        self.codebook
            .padded()
            .iter()
            .map(|&w| self.fixed.weight.format.quantize(w))
            .collect()
    }

    /// The activations of every encoded column (bias column included) in the activation format.
    pub fn fixed_input(&self) -> Vec<i16> {
        self.augmented_input()
            .iter()
            .map(|&a| self.fixed.act.format.quantize(a))
            .collect()
    }

    /// The plain fixed-point output (see [`crate::fixed`]): what every fixed-point backend must equal.
    pub fn fixed_reference(&self) -> Vec<i16> {
        self.fixed_reference_checked().0
    }

    /// [`CompressedLayer::fixed_reference`], and how many outputs saturation or a wrapped accumulator
    /// changed.
    pub fn fixed_reference_checked(&self) -> (Vec<i16>, FixedOutcome) {
        fixed_point_reference_checked(
            self.fixed(),
            &self.augmented_codes(),
            &self.fixed_codebook(),
            &self.fixed_input(),
            self.relu,
        )
    }

    /// How far the fixed-point reference ([`CompressedLayer::fixed_reference`], in this layer's
    /// rounding) lies from the f64 reference, over every output.
    pub fn fixed_error(&self) -> FixedError {
        self.fixed_error_in(self.fixed.rounding)
    }

    /// [`CompressedLayer::fixed_error`] with the products rounded as `rounding` says instead.
    pub fn fixed_error_in(&self, rounding: crate::fixed::Rounding) -> FixedError {
        let (y64, _) = self.reference_f64();
        let act = self.fixed.act.format;
        let spec = FixedPointSpec {
            rounding,
            ..self.fixed()
        };
        let (y, _) = fixed_point_reference_checked(
            spec,
            &self.augmented_codes(),
            &self.fixed_codebook(),
            &self.fixed_input(),
            self.relu,
        );
        let (mut max_abs, mut sum) = (0.0f64, 0.0f64);
        for (&q, &r) in y.iter().zip(&y64) {
            let e = act.acc_to_f64(i32::from(q)) - r;
            max_abs = max_abs.max(e.abs());
            sum += e;
        }
        FixedError {
            rounding,
            max_abs,
            mean: sum / y64.len().max(1) as f64,
            lsb: act.lsb(),
        }
    }

    /// Non-zero weights of W (bias excluded).
    pub fn nnz(&self) -> usize {
        self.codes.nnz()
    }
    /// Non-zero bias entries.
    pub fn bias_nnz(&self) -> usize {
        self.bias
            .as_ref()
            .map_or(0, |b| b.iter().filter(|&&c| c != 0).count())
    }
    /// Non-zero input activations.
    pub fn act_nnz(&self) -> usize {
        self.input.iter().filter(|&&a| a != 0.0).count()
    }
    /// Measured weight density of W.
    pub fn weight_density(&self) -> f64 {
        self.nnz() as f64 / (self.outputs() as f64 * self.inputs() as f64)
    }
    /// Measured input activation density.
    pub fn act_density(&self) -> f64 {
        self.act_nnz() as f64 / self.inputs() as f64
    }
    /// Useful multiply-accumulates: non-zero weights whose activation is non-zero; the bias column's
    /// non-zeros (activation 1) are counted when `include_bias`.
    pub fn useful_macs(&self, include_bias: bool) -> usize {
        let counts = self.codes.col_counts();
        let w: usize = counts
            .iter()
            .zip(&self.input)
            .filter(|(_, a)| **a != 0.0)
            .map(|(c, _)| c)
            .sum();
        w + if include_bias { self.bias_nnz() } else { 0 }
    }
    /// Useful MACs of W over the dense MAC count (Table III's FLOP %), bias excluded.
    pub fn flop_density(&self) -> f64 {
        self.useful_macs(false) as f64 / (self.outputs() as f64 * self.inputs() as f64)
    }
    /// (row CV, column CV) of W's non-zero counts.
    pub fn nnz_cvs(&self) -> (f64, f64) {
        (
            crate::stats::cv(&self.codes.row_counts()),
            crate::stats::cv(&self.codes.col_counts()),
        )
    }
    /// Storage accounting of the EIE encoding.
    pub fn storage(&self) -> StorageStats {
        StorageStats::of(self)
    }

    fn compute_hash(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"eie-bench compressed layer v1");
        for n in [
            self.outputs() as u64,
            self.inputs() as u64,
            self.relu as u64,
            self.codebook.bits() as u64,
        ] {
            h.update(&n.to_le_bytes());
        }
        h.update(&(self.codebook.len() as u64).to_le_bytes());
        for v in self.codebook.values() {
            h.update(&v.to_bits().to_le_bytes());
        }
        for p in self.codes.row_ptr() {
            h.update(&(*p as u64).to_le_bytes());
        }
        for j in self.codes.col_idx() {
            h.update(&j.to_le_bytes());
        }
        h.update(self.codes.codes());
        match &self.bias {
            Some(b) => {
                h.update(&[1]);
                h.update(b);
            }
            None => {
                h.update(&[0]);
            }
        }
        for a in &self.input {
            h.update(&a.to_bits().to_le_bytes());
        }
        h.finalize().to_hex()[..16].to_string()
    }
}

/// Codes of every non-zero weight of `dense`, row by row; `code` fails with the offending value.
fn code_matrix<E>(
    dense: &DenseLayer,
    code: impl Fn(f32) -> Result<u8, E>,
) -> Result<SparseCodes, (usize, usize, E)> {
    let mut row_ptr = Vec::with_capacity(dense.outputs + 1);
    let (mut col_idx, mut codes) = (Vec::new(), Vec::new());
    row_ptr.push(0);
    for (i, row) in dense.weights.chunks(dense.inputs).enumerate() {
        for (j, &w) in row.iter().enumerate() {
            if w != 0.0 {
                codes.push(code(w).map_err(|e| (i, j, e))?);
                col_idx.push(j as u32);
            }
        }
        row_ptr.push(col_idx.len());
    }
    Ok(
        SparseCodes::new(dense.outputs, dense.inputs, row_ptr, col_idx, codes)
            .expect("codes built row by row are valid CSR"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_input_checks_the_input_and_keeps_the_formats() {
        let dense = DenseLayer::new(
            "l",
            2,
            3,
            vec![0.5, 0.0, -0.25, 0.0, 1.0, 0.5],
            Some(vec![0.5, 0.0]),
            vec![1.0, 2.0, 3.0],
            true,
        )
        .unwrap();
        let layer = CompressedLayer::compress(dense, CompressOptions::default())
            .unwrap()
            .with_activation_range(8.0);
        let other = layer.with_input(vec![0.0, 4.0, 0.5]).unwrap();
        assert_eq!(other.input(), [0.0, 4.0, 0.5]);
        assert_eq!(other.fixed(), layer.fixed());
        assert_ne!(other.content_hash(), layer.content_hash());
        assert_eq!(
            other
                .with_input(vec![1.0, 2.0, 3.0])
                .unwrap()
                .content_hash(),
            layer.content_hash()
        );
        assert!(layer.with_input(vec![1.0; 2]).is_err());
        assert!(layer.with_input(vec![1.0, f32::NAN, 0.0]).is_err());
    }
}
