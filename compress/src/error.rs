//! Typed errors for everything that comes from the outside world: files, shapes, parameters.
//!
//! Every message names the file, the shape or the value that is wrong. Panics are reserved for bugs.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = CompressError> = std::result::Result<T, E>;

/// What can go wrong while building, loading, encoding or exporting a compressed layer.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// The file could not be opened, read or written.
    #[error("{path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid `.npy` / `.safetensors` file, or holds the wrong dtype or rank.
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// A value that must be finite is NaN or infinite.
    #[error("{what}: element {index} is {value}, not a finite number")]
    NonFinite {
        what: String,
        index: usize,
        value: f32,
    },
    /// Arrays whose shapes must agree do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A parameter is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    Param {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// No layer of that name exists.
    #[error("unknown layer '{name}'; known layers: {known}")]
    UnknownLayer { name: String, known: String },
    /// Raw EIE arrays that break the format's invariants.
    #[error("invalid EIE encoding: {0}")]
    Encoding(String),
}

impl CompressError {
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

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// Fails with [`CompressError::NonFinite`] at the first NaN or infinity of `values`.
pub(crate) fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CompressError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}
