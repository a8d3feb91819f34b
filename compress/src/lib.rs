//! eie-compress: the compressed layers that every other part of eie-bench reads.
//!
//! The pipeline (DESIGN.md "Data flow"):
//!
//! ```text
//! LayerSpec (Table III, or custom) --generate--> DenseLayer <--load-- .npy / .safetensors
//!   --prune (exact count)--> --share (1-D k-means, 2^bits entries)--> SparseCodes (CSR of indices)
//!   --encode--> EieEncoding (interleaved CSC, N PEs, bias as the last column)
//!   = CompressedLayer { codebook, codes, bias, input, eie, fixed-point formats, content hash }
//! ```
//!
//! One [`CompressedLayer`] feeds the EIE model, the CPU and GPU kernels and the library baselines, so
//! "identical compressed layers" holds by construction. This crate depends on no other workspace crate.

pub mod backend;
pub mod dense;
pub mod eie;
pub mod error;
pub mod export;
pub mod fixed;
pub mod generate;
pub mod huffman;
pub mod layer;
pub mod load;
pub mod npy;
mod npy_header;
pub mod prune;
pub mod real;
pub mod rng;
pub mod safetensors_file;
pub mod share;
mod source;
pub mod sparse;
pub mod spec;
pub mod stats;
pub mod storage;

pub use backend::{Arithmetic, Backend, BackendError, Data, DataMut, Work, check_io};
pub use dense::DenseLayer;
pub use eie::{EieEncoding, PeSlice};
pub use error::{CompressError, Result};
pub use fixed::{FixedOutcome, FixedPointChoice, FixedPointSpec, FormatChoice, QFormat, Rounding};
pub use layer::{CompressOptions, CompressedLayer, CsrArrays, FixedError};
pub use load::{LoadRequest, TensorSource};
pub use real::REAL_FC8_NAME;
pub use share::{Codebook, SharingReport};
pub use sparse::SparseCodes;
pub use spec::{LayerSpec, benchmark_layer, benchmark_layers};
pub use storage::StorageStats;

/// Builds the named layer: one of the nine benchmark layers (generated from its spec) or
/// [`REAL_FC8_NAME`] (loaded from the data folder). Names match case-insensitively.
pub fn build_layer(name: &str, opts: CompressOptions) -> Result<CompressedLayer> {
    if name.eq_ignore_ascii_case(REAL_FC8_NAME) {
        let dir = real::real_fc8_dir().ok_or_else(|| CompressError::Param {
            name: "layer",
            value: name.to_string(),
            reason: format!(
                "its data file {} does not exist (set EIE_DATA_DIR to the folder holding alexnet-fc8/)",
                real::data_dir().join("alexnet-fc8").join("weights.npy").display()
            ),
        })?;
        return real::load_real_fc8(&dir, opts);
    }
    build_from_spec(&benchmark_layer(name)?, opts)
}

/// Generates and compresses a layer from its spec (pruned by the generator to the spec's exact count).
pub fn build_from_spec(spec: &LayerSpec, opts: CompressOptions) -> Result<CompressedLayer> {
    let dense = generate::generate(spec)?;
    CompressedLayer::compress(
        dense,
        CompressOptions {
            density: None,
            ..opts
        },
    )
}

/// The layers a run covers by default: the nine benchmark layers, and the real FC8 when its data exists.
pub fn default_layer_names() -> Vec<String> {
    let mut names: Vec<String> = benchmark_layers().into_iter().map(|s| s.name).collect();
    if real::real_fc8_dir().is_some() {
        names.push(REAL_FC8_NAME.to_string());
    }
    names
}
