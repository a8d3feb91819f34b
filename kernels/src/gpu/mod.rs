//! GPU kernels on wgpu: every wgpu call lives in this module; the WGSL is in `shaders/`.
//!
//! - [`context`]: [`GpuContext`] (adapter choice by `EIE_ADAPTER`, device with the adapter's limits,
//!   pipeline cache), [`adapters`] to list what the machine offers;
//! - [`shaders`]: the shader registry;
//! - [`backend`]: the kernels as `Backend`s.
//!
//! Without the `gpu` feature the module still exists: [`GpuContext::shared`] reports "not compiled in".

pub mod error;
pub mod shaders;

#[cfg(feature = "gpu")]
pub mod backend;
#[cfg(feature = "gpu")]
pub mod context;

#[cfg(feature = "gpu")]
pub use backend::{GpuBackend, GpuKernel, Reduction};
#[cfg(feature = "gpu")]
pub use context::{AdapterSummary, GpuContext, adapters};
pub use error::GpuError;

/// Whether a missing adapter must fail tests (`EIE_REQUIRE_GPU=1`, as CI sets it) rather than skip them.
pub fn gpu_required() -> bool {
    std::env::var("EIE_REQUIRE_GPU").is_ok_and(|v| v == "1")
}
