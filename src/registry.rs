//! Every backend this process can build, by [`BackendId`]: our CPU and GPU kernels, the library
//! baselines and the EIE model's functional datapath.

use crate::backend_id::BackendId;
use anyhow::{Result, bail};
use eie_accel_model::{EieConfig, EieModelBackend};
#[cfg(feature = "faer")]
use eie_baselines::faer_peer::{FaerCsr, FaerDense};
use eie_baselines::libs::{NdarrayDense, SprsCsr};
use eie_compress::Backend;
use eie_kernels::cpu::{CpuKernel, IsaLevel, Par};
use eie_kernels::gpu::{GpuBackend, GpuKernel, GpuKnobs};

/// How to build a backend.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// ISA level of our CPU kernels.
    pub isa: IsaLevel,
    /// Threads of our CPU kernels and of faer (ndarray and sprs run on one).
    pub threads: usize,
    /// Tuning knobs of our GPU kernels, filled once ([`Options::with_gpu_knobs_from_env`]).
    pub gpu: GpuKnobs,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            isa: IsaLevel::best(),
            threads: 1,
            gpu: GpuKnobs::default(),
        }
    }
}

impl Options {
    /// These options with the GPU knobs of the environment (`EIE_GPU_*`), every one checked, when any of
    /// `backends` is a GPU kernel; a bad value is an error naming the variable.
    pub fn with_gpu_knobs_from_env(self, backends: &[BackendId]) -> Result<Self> {
        if !backends.iter().any(|b| gpu_kernel(*b).is_some()) {
            return Ok(self);
        }
        Ok(Self {
            gpu: GpuKnobs::from_env()?,
            ..self
        })
    }
}

/// Our CPU kernel behind `id`, if it is one.
fn cpu_kernel(id: BackendId) -> Option<CpuKernel> {
    CpuKernel::ALL.into_iter().find(|k| k.name() == id.name())
}

/// Our GPU kernel behind `id`, if it is one.
fn gpu_kernel(id: BackendId) -> Option<GpuKernel> {
    GpuKernel::ALL.into_iter().find(|k| k.name() == id.name())
}

/// Builds the backend `id`.
pub fn make(id: BackendId, opts: Options) -> Result<Box<dyn Backend>> {
    if let Some(k) = cpu_kernel(id) {
        if !opts.isa.is_available() {
            bail!(
                "ISA level {} is not available on this CPU (available: {:?})",
                opts.isa.name(),
                IsaLevel::available()
            );
        }
        return Ok(k.backend(opts.isa, Par::with_threads(opts.threads)));
    }
    if let Some(k) = gpu_kernel(id) {
        return Ok(Box::new(GpuBackend::with_knobs(k, opts.gpu)));
    }
    match id {
        BackendId::EieModel => Ok(Box::new(EieModelBackend::new(EieConfig::default()))),
        BackendId::NdarrayDenseF32 => Ok(Box::new(NdarrayDense::default())),
        BackendId::SprsCsrF32 => Ok(Box::new(SprsCsr::default())),
        #[cfg(feature = "faer")]
        BackendId::FaerDenseF32 => Ok(Box::new(FaerDense::new(opts.threads))),
        #[cfg(feature = "faer")]
        BackendId::FaerCsrF32 => Ok(Box::new(FaerCsr::new(opts.threads))),
        #[cfg(not(feature = "faer"))]
        BackendId::FaerDenseF32 | BackendId::FaerCsrF32 => {
            Err(eie_compress::BackendError::Unavailable {
                backend: id.name().into(),
                why: "this eie was built without faer (cargo build --release --features faer)"
                    .into(),
            }
            .into())
        }
        other => bail!(
            "{other} is measured outside this process (scripts/gpu-libs.py writes its records); \
             `eie report` reads them"
        ),
    }
}

/// `--threads` checked: at least 1 and at most 4096, and capped, with a warning, at this machine's logical
/// CPUs (more threads than CPUs only take turns, and a measurement of that says nothing about the kernel).
pub fn checked_threads(n: usize) -> Result<usize> {
    if !(1..=4096).contains(&n) {
        bail!("--threads {n}: expected 1 to 4096");
    }
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    if n > cpus {
        eprintln!(
            "warning: --threads {n} is more than this machine's {cpus} logical CPUs; using {cpus}"
        );
        return Ok(cpus);
    }
    Ok(n)
}

/// Parses backend names from the command line (none: `default`), refusing unknown names and backends
/// this process cannot run.
pub fn parse_backends(names: &[String], default: &[BackendId]) -> Result<Vec<BackendId>> {
    if names.is_empty() {
        return Ok(default.to_vec());
    }
    let mut out = Vec::new();
    for n in names {
        let id: BackendId = n.parse()?;
        if !id.in_process() {
            bail!(
                "{id} is measured by scripts/gpu-libs.py, not by this command; `eie report` reads its records"
            );
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_has_an_id_and_every_in_process_id_builds() {
        for k in CpuKernel::ALL {
            assert!(k.name().parse::<BackendId>().is_ok(), "{}", k.name());
        }
        for k in GpuKernel::ALL {
            assert!(k.name().parse::<BackendId>().is_ok(), "{}", k.name());
        }
        for id in BackendId::ALL {
            let made = make(id, Options::default());
            // faer's backends build only with the `faer` feature; without it they say so.
            if !cfg!(feature = "faer") && id.name().starts_with("faer") {
                let e = made.err().expect("faer without the feature").to_string();
                assert!(e.contains("--features faer"), "{e}");
                continue;
            }
            assert_eq!(made.is_ok(), id.in_process(), "{id}");
        }
    }
}
