//! Every backend by name, in one place: our CPU and GPU kernels and the library baselines.

use anyhow::{Result, bail};
use eie_accel_model::{EieConfig, EieModelBackend};
use eie_baselines::libs::{NdarrayDense, SprsCsr};
use eie_compress::Backend;
use eie_kernels::cpu::{CpuKernel, IsaLevel, Par};
use eie_kernels::gpu::{GpuBackend, GpuKernel};

/// Names of every backend, in the order tables list them.
pub const BACKENDS: [&str; 10] = [
    "cpu-dense-f32",
    "cpu-csr-f32",
    "cpu-eie-f32",
    "cpu-eie-fixed",
    "gpu-dense-f32",
    "gpu-csr-f32",
    "gpu-eie-f32",
    "gpu-eie-fixed",
    "ndarray-dense-f32",
    "sprs-csr-f32",
];

/// Backends that only `eie validate` runs by default: the EIE model's functional datapath.
pub const MODEL_BACKENDS: [&str; 1] = ["eie-model-fixed"];

/// How to build a backend.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// ISA level of our CPU kernels.
    pub isa: IsaLevel,
    /// Threads of our CPU kernels (the libraries run on one).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            isa: IsaLevel::best(),
            threads: 1,
        }
    }
}

/// The backend called `name`.
pub fn make(name: &str, opts: Options) -> Result<Box<dyn Backend>> {
    if let Some(k) = CpuKernel::ALL.iter().find(|k| k.name() == name) {
        if !opts.isa.is_available() {
            bail!(
                "ISA level {} is not available on this CPU (available: {:?})",
                opts.isa.name(),
                IsaLevel::available()
            );
        }
        return Ok(k.backend(opts.isa, Par::with_threads(opts.threads)));
    }
    if let Some(k) = GpuKernel::ALL.iter().find(|k| k.name() == name) {
        return Ok(Box::new(GpuBackend::new(*k)));
    }
    match name {
        "eie-model-fixed" => Ok(Box::new(EieModelBackend::new(EieConfig::default()))),
        "ndarray-dense-f32" => Ok(Box::new(NdarrayDense::default())),
        "sprs-csr-f32" => Ok(Box::new(SprsCsr::default())),
        _ => bail!(
            "unknown backend '{name}'; known backends: {}",
            BACKENDS
                .iter()
                .chain(&MODEL_BACKENDS)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
