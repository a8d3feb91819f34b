//! eie-net: a real network end to end, for the questions one layer at a time cannot answer.
//!
//! ```text
//! data::Digits (optdigits, embedded, fixed stratified split)
//!   --train::train--> mlp::Mlp (LeNet-300-100-style, 64-300-100-10, seeded, bit-reproducible)
//!   --compress::deep_compress--> prune + masked retraining -> k-means sharing + centroid fine-tuning
//!   -> Vec<eie_compress::CompressedLayer> (the EIE encoding every backend reads)
//!   --fixed::FixedNetwork--> the network on EIE's 16-bit datapath, layer by layer
//! ```
//!
//! Weights are saved and loaded as `.safetensors` ([`weights`]); a user's own chain of layers loads the
//! same way. Everything is deterministic: seeded, single-threaded, fixed summation order, `libm` math.

pub mod builtin;
pub mod compress;
pub mod data;
pub mod error;
pub mod fixed;
pub mod mlp;
pub mod precision;
pub mod train;
pub mod weights;

pub use builtin::{BUILTIN_SEED, builtin_dense, builtin_pipeline};
pub use compress::{
    DeepCompressionOptions, Pipeline, PipelineSummary, SharedNetwork, Stage, deep_compress,
    encode_trained, prune_and_retrain, share_and_encode,
};
pub use data::{Dataset, Digits};
pub use error::{NetError, Result};
pub use fixed::{FixedNetwork, FixedRun};
pub use mlp::{Layer, Mlp};
pub use precision::{Arith, PrecisionRun, run_at, run_keeping};
pub use train::{TrainOptions, TrainReport, train, train_masked};
pub use weights::{BiasSource, ChainLayer, load_chain, parse_chain};
