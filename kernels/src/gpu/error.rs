//! Typed GPU errors.

/// What can go wrong on the GPU side.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    /// No adapter (or none matching `EIE_ADAPTER`).
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The adapter refused a device with the limits and features we asked for.
    #[error("the adapter refused a device: {0}")]
    Device(String),
    /// A buffer or binding would exceed the adapter's limits.
    #[error("{what} needs {needed} bytes, but this adapter allows {allowed}")]
    Limit {
        what: String,
        needed: u64,
        allowed: u64,
    },
    /// The layer or the kernel variant asks for something this kernel or adapter cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A shader was rejected.
    #[error("{shader}: {message}")]
    Shader { shader: String, message: String },
    /// The device was lost or a command failed.
    #[error("device error: {0}")]
    Lost(String),
    /// The crate was built without the `gpu` feature.
    #[error("not compiled in (build eie-kernels with the `gpu` feature)")]
    NotCompiled,
}
