//! Storage accounting of a compressed layer: what EIE's SRAMs hold, against the dense f32 layer.
//!
//! - **entries**: `weight_bits + index_bits` bits each (one byte at the paper's 4 + 4), padding included,
//!   each PE's stream rounded up to whole bytes;
//! - **pointers**: `cols + 1` per PE (the bias column included), 16 bits each as in the paper when every
//!   PE has fewer than 2^16 entries, else 32 bits;
//! - **codebook**: `2^bits` entries of 16 bits (EIE's 16-bit fixed-point lookup table);
//! - **dense f32**: `outputs x inputs` weights plus `outputs` bias values, 4 bytes each;
//! - **Huffman**: as Deep Compression, the entry stream Huffman-coded (one symbol per `(v, z)` pair, code
//!   over all PEs' entries), plus one byte per possible symbol for the code-length table; pointers and
//!   codebook as above.

use crate::layer::CompressedLayer;
use serde::Serialize;

/// Sizes and counts of one layer's EIE encoding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageStats {
    pub pes: usize,
    /// Non-zero weights of W.
    pub nnz: usize,
    /// Non-zero bias entries (stored in the bias column).
    pub bias_nnz: usize,
    /// All entries, padding included.
    pub entries: usize,
    pub padding_entries: usize,
    pub entries_per_pe_min: usize,
    pub entries_per_pe_mean: f64,
    pub entries_per_pe_max: usize,
    pub entry_bytes: usize,
    pub pointer_bits: u32,
    pub pointer_bytes: usize,
    pub codebook_bytes: usize,
    /// `entry_bytes + pointer_bytes + codebook_bytes`.
    pub eie_bytes: usize,
    pub dense_f32_bytes: usize,
    /// `dense_f32_bytes / eie_bytes`.
    pub compression_ratio: f64,
    /// Huffman-coded entry stream plus its code-length table.
    pub huffman_entry_bytes: usize,
    /// `huffman_entry_bytes + pointer_bytes + codebook_bytes`.
    pub huffman_bytes: usize,
    /// `dense_f32_bytes / huffman_bytes`.
    pub huffman_ratio: f64,
}

impl StorageStats {
    /// Accounts `layer`'s EIE encoding.
    pub fn of(layer: &CompressedLayer) -> Self {
        let e = layer.eie();
        let per_pe = e.entries_per_pe();
        let entry_bits = (e.weight_bits() + e.index_bits()) as usize;
        let entry_bytes: usize = per_pe.iter().map(|&n| (n * entry_bits).div_ceil(8)).sum();
        let pointer_bits: u32 = if per_pe.iter().all(|&n| n < 1 << 16) {
            16
        } else {
            32
        };
        let pointer_bytes = e.pes() * (e.cols() + 1) * pointer_bits as usize / 8;
        let codebook_bytes = (1usize << e.weight_bits()) * 2;
        let eie_bytes = entry_bytes + pointer_bytes + codebook_bytes;
        let bias_len = if layer.bias_codes().is_some() {
            layer.outputs()
        } else {
            0
        };
        let dense_f32_bytes = (layer.outputs() * layer.inputs() + bias_len) * 4;
        let mut freq = vec![0u64; 1 << entry_bits];
        for s in e.slices() {
            for (&v, &z) in s.v.iter().zip(&s.z) {
                freq[((v as usize) << e.index_bits()) | z as usize] += 1;
            }
        }
        let huffman_entry_bytes =
            (crate::huffman::coded_bits(&freq) as usize).div_ceil(8) + freq.len();
        let huffman_bytes = huffman_entry_bytes + pointer_bytes + codebook_bytes;
        let entries: usize = per_pe.iter().sum();
        Self {
            pes: e.pes(),
            nnz: layer.nnz(),
            bias_nnz: layer.bias_nnz(),
            entries,
            padding_entries: e.padding_entries(),
            entries_per_pe_min: per_pe.iter().copied().min().unwrap_or(0),
            entries_per_pe_mean: entries as f64 / e.pes() as f64,
            entries_per_pe_max: per_pe.iter().copied().max().unwrap_or(0),
            entry_bytes,
            pointer_bits,
            pointer_bytes,
            codebook_bytes,
            eie_bytes,
            dense_f32_bytes,
            compression_ratio: dense_f32_bytes as f64 / eie_bytes as f64,
            huffman_entry_bytes,
            huffman_bytes,
            huffman_ratio: dense_f32_bytes as f64 / huffman_bytes as f64,
        }
    }
}
