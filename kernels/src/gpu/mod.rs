//! GPU kernels on wgpu: every wgpu call lives in this module; the WGSL is in `shaders/`.
//!
//! - [`context`]: [`GpuContext`] (adapter choice by `EIE_ADAPTER`, device with the adapter's limits,
//!   pipeline cache), [`adapters`] to list what the machine offers;
//! - [`shaders`]: the shader registry;
//! - [`knobs`]: [`GpuKnobs`], the kernels' tuning knobs as one value (from the caller or the environment);
//! - [`backend`]: the kernels as `Backend`s ([`GpuBackend`]); each kernel family builds its dispatches in
//!   its own module (`dense`, `csr`, `eie`) over the shared frame and plan (`plan`), with its uniform
//!   parameters mirroring its shader's (`params`).
//!
//! Without the `gpu` feature the module still exists: [`GpuContext::shared`] reports "not compiled in".

pub mod error;
pub mod knobs;
pub mod shaders;

#[cfg(feature = "gpu")]
pub mod backend;
#[cfg(feature = "gpu")]
pub mod context;
#[cfg(feature = "gpu")]
mod csr;
#[cfg(feature = "gpu")]
mod dense;
#[cfg(feature = "gpu")]
mod eie;
#[cfg(feature = "gpu")]
mod params;
#[cfg(feature = "gpu")]
mod plan;

#[cfg(feature = "gpu")]
pub use backend::{GpuBackend, GpuKernel};
#[cfg(feature = "gpu")]
pub use context::{AdapterSummary, GpuContext, adapters};
pub use error::GpuError;
pub use knobs::{EieZeros, GpuKnobs, Reduction};

/// Whether a missing adapter must fail tests (`EIE_REQUIRE_GPU=1`, as CI sets it) rather than skip them.
/// Any value but an empty one, `0`, `false`, `no` or `off` (case and surrounding spaces ignored) requires
/// it: a typo must not turn the requirement off silently.
pub fn gpu_required() -> bool {
    std::env::var("EIE_REQUIRE_GPU").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "false" | "no" | "off")
    })
}
