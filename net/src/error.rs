//! Typed errors of the network crate: every message names the file, tensor, shape or value at fault.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;

/// What can go wrong while loading data or weights, training or compressing a network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A data set's bytes or arrays are malformed (`what` names the data set).
    #[error("{what}: {reason}")]
    Data { what: String, reason: String },
    /// A weight file is unreadable, lacks a tensor or holds one of the wrong shape.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// Layers, inputs or options whose shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A parameter outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    Param {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// Training diverged (a loss or weight became NaN or infinite).
    #[error("training diverged: {0}")]
    Diverged(String),
    /// The compression crate refused a layer.
    #[error(transparent)]
    Compress(#[from] eie_compress::CompressError),
}

impl NetError {
    pub(crate) fn param(
        name: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Self::Param {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
