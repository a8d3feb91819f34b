//! Every backend's identity, as one closed enum: what it is called in commands and records, whether it runs
//! on a GPU, which matrix layout it reads and in which arithmetic. The report, the registry, the bench and
//! the records ask this type instead of testing name prefixes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A backend: our kernels, the library baselines, the EIE model, and the libraries measured outside this
/// process (PyTorch on CUDA, by `scripts/gpu-libs.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendId {
    CpuDenseF32,
    CpuCsrF32,
    CpuEieF32,
    CpuEieFixed,
    /// Our CPU EIE-format kernel on the layer's own `EieEncoding` bytes (the paper's 8-bit entries,
    /// padding, per-PE column pointers), f32.
    CpuEiePaperF32,
    /// The same in EIE's 16-bit fixed point, bit-exact with the model.
    CpuEiePaperFixed,
    GpuDenseF32,
    GpuCsrF32,
    GpuEieF32,
    GpuEieFixed,
    NdarrayDenseF32,
    SprsCsrF32,
    /// faer's dense matrix product (`matmul`: GEMV at batch 1, GEMM at batch B), `--threads` threads.
    FaerDenseF32,
    /// faer's sparse CSR times dense product (`sparse_dense_matmul`; one thread whatever `Par` says).
    FaerCsrF32,
    /// The EIE model: its functional fixed-point datapath, cycles and energy.
    EieModel,
    /// cuBLAS through PyTorch (`torch.mv` / `torch.mm` on CUDA), measured by `scripts/gpu-libs.py`.
    TorchCudaDenseF32,
    /// cuSPARSE through PyTorch (CSR `torch.mv` / `torch.mm` on CUDA), measured by `scripts/gpu-libs.py`.
    TorchCudaCsrF32,
    /// PyTorch on the CPU, dense (`addmv` / `addmm`: MKL or oneDNN), measured by `scripts/cpu-libs.py`.
    TorchCpuDenseF32,
    /// PyTorch on the CPU, CSR (`mv` / `mm` on a CSR tensor: MKL's sparse BLAS), by `scripts/cpu-libs.py`.
    TorchCpuCsrF32,
    /// numpy's dense product through its BLAS (OpenBLAS in the wheels), by `scripts/cpu-libs.py`.
    NumpyDenseF32,
    /// scipy's CSR product (its own loops, one thread), by `scripts/cpu-libs.py`.
    ScipyCsrF32,
}

/// The matrix layout a backend reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Matrix {
    Dense,
    Csr,
    /// EIE's interleaved CSC (our 16-bit entry stream on the CPU, the paper's 8-bit entries on the GPU and
    /// in `cpu-eie-paper-*`).
    Eie,
}

/// The arithmetic a backend computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arith {
    F32,
    /// EIE's 16-bit fixed point, bit-exact with the model.
    Fixed16,
}

impl BackendId {
    /// Every backend, in the order tables list them.
    pub const ALL: [BackendId; 21] = [
        BackendId::CpuDenseF32,
        BackendId::CpuCsrF32,
        BackendId::CpuEieF32,
        BackendId::CpuEieFixed,
        BackendId::CpuEiePaperF32,
        BackendId::CpuEiePaperFixed,
        BackendId::GpuDenseF32,
        BackendId::GpuCsrF32,
        BackendId::GpuEieF32,
        BackendId::GpuEieFixed,
        BackendId::NdarrayDenseF32,
        BackendId::SprsCsrF32,
        BackendId::FaerDenseF32,
        BackendId::FaerCsrF32,
        BackendId::EieModel,
        BackendId::TorchCudaDenseF32,
        BackendId::TorchCudaCsrF32,
        BackendId::TorchCpuDenseF32,
        BackendId::TorchCpuCsrF32,
        BackendId::NumpyDenseF32,
        BackendId::ScipyCsrF32,
    ];

    /// The backends `eie measure` and the report time by default (every kernel this process can run): the
    /// first fourteen of [`BackendId::ALL`], or twelve in a build without the `faer` feature.
    pub const MEASURED: &'static [BackendId] = Self::ALL
        .split_at(if cfg!(feature = "faer") { 14 } else { 12 })
        .0;

    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            BackendId::CpuDenseF32 => "cpu-dense-f32",
            BackendId::CpuCsrF32 => "cpu-csr-f32",
            BackendId::CpuEieF32 => "cpu-eie-f32",
            BackendId::CpuEieFixed => "cpu-eie-fixed",
            BackendId::CpuEiePaperF32 => "cpu-eie-paper-f32",
            BackendId::CpuEiePaperFixed => "cpu-eie-paper-fixed",
            BackendId::GpuDenseF32 => "gpu-dense-f32",
            BackendId::GpuCsrF32 => "gpu-csr-f32",
            BackendId::GpuEieF32 => "gpu-eie-f32",
            BackendId::GpuEieFixed => "gpu-eie-fixed",
            BackendId::NdarrayDenseF32 => "ndarray-dense-f32",
            BackendId::SprsCsrF32 => "sprs-csr-f32",
            BackendId::FaerDenseF32 => "faer-dense-f32",
            BackendId::FaerCsrF32 => "faer-csr-f32",
            BackendId::EieModel => "eie-model",
            BackendId::TorchCudaDenseF32 => "torch-cuda-dense-f32",
            BackendId::TorchCudaCsrF32 => "torch-cuda-csr-f32",
            BackendId::TorchCpuDenseF32 => "torch-cpu-dense-f32",
            BackendId::TorchCpuCsrF32 => "torch-cpu-csr-f32",
            BackendId::NumpyDenseF32 => "numpy-dense-f32",
            BackendId::ScipyCsrF32 => "scipy-csr-f32",
        }
    }

    /// Whether it runs on a GPU (its power is the GPU's, unless the adapter runs on the CPU).
    pub fn is_gpu(self) -> bool {
        matches!(
            self,
            BackendId::GpuDenseF32
                | BackendId::GpuCsrF32
                | BackendId::GpuEieF32
                | BackendId::GpuEieFixed
                | BackendId::TorchCudaDenseF32
                | BackendId::TorchCudaCsrF32
        )
    }

    /// Whether it is one of our CPU kernels (the ones `--threads` and `--isa` apply to).
    pub fn is_cpu_kernel(self) -> bool {
        matches!(
            self,
            BackendId::CpuDenseF32
                | BackendId::CpuCsrF32
                | BackendId::CpuEieF32
                | BackendId::CpuEieFixed
                | BackendId::CpuEiePaperF32
                | BackendId::CpuEiePaperFixed
        )
    }

    /// Whether `--threads` applies to it: our CPU kernels, and the faer peers (`Par::rayon(n)`; faer's
    /// sparse product then still runs on one, which its record's detail says).
    pub fn follows_threads(self) -> bool {
        self.is_cpu_kernel() || matches!(self, BackendId::FaerDenseF32 | BackendId::FaerCsrF32)
    }

    /// Whether it is a library someone else wrote (a peer), not one of our kernels or the model.
    pub fn is_library(self) -> bool {
        matches!(
            self,
            BackendId::NdarrayDenseF32
                | BackendId::SprsCsrF32
                | BackendId::FaerDenseF32
                | BackendId::FaerCsrF32
                | BackendId::TorchCudaDenseF32
                | BackendId::TorchCudaCsrF32
                | BackendId::TorchCpuDenseF32
                | BackendId::TorchCpuCsrF32
                | BackendId::NumpyDenseF32
                | BackendId::ScipyCsrF32
        )
    }

    /// Whether this process can build and run it (the PyTorch, numpy and scipy rows come from Python
    /// scripts).
    pub fn in_process(self) -> bool {
        !matches!(
            self,
            BackendId::TorchCudaDenseF32
                | BackendId::TorchCudaCsrF32
                | BackendId::TorchCpuDenseF32
                | BackendId::TorchCpuCsrF32
                | BackendId::NumpyDenseF32
                | BackendId::ScipyCsrF32
        )
    }

    /// The matrix layout it reads.
    pub fn matrix(self) -> Matrix {
        match self {
            BackendId::CpuDenseF32
            | BackendId::GpuDenseF32
            | BackendId::NdarrayDenseF32
            | BackendId::FaerDenseF32
            | BackendId::TorchCudaDenseF32
            | BackendId::TorchCpuDenseF32
            | BackendId::NumpyDenseF32 => Matrix::Dense,
            BackendId::CpuCsrF32
            | BackendId::GpuCsrF32
            | BackendId::SprsCsrF32
            | BackendId::FaerCsrF32
            | BackendId::TorchCudaCsrF32
            | BackendId::TorchCpuCsrF32
            | BackendId::ScipyCsrF32 => Matrix::Csr,
            BackendId::CpuEieF32
            | BackendId::CpuEieFixed
            | BackendId::CpuEiePaperF32
            | BackendId::CpuEiePaperFixed
            | BackendId::GpuEieF32
            | BackendId::GpuEieFixed
            | BackendId::EieModel => Matrix::Eie,
        }
    }

    /// The arithmetic it computes in.
    pub fn arith(self) -> Arith {
        match self {
            BackendId::CpuEieFixed
            | BackendId::CpuEiePaperFixed
            | BackendId::GpuEieFixed
            | BackendId::EieModel => Arith::Fixed16,
            _ => Arith::F32,
        }
    }

    /// How tables name it where the plain name says little (the libraries measured elsewhere).
    pub fn label(self) -> &'static str {
        match self {
            BackendId::TorchCudaDenseF32 => "cuBLAS (PyTorch)",
            BackendId::TorchCudaCsrF32 => "cuSPARSE (PyTorch)",
            BackendId::EieModel => "EIE model (64 PE)",
            BackendId::CpuEiePaperF32 => "cpu-eie-paper-f32 (EIE's bytes)",
            BackendId::CpuEiePaperFixed => "cpu-eie-paper-fixed (EIE's bytes)",
            BackendId::FaerDenseF32 => "faer dense",
            BackendId::FaerCsrF32 => "faer CSR",
            BackendId::TorchCpuDenseF32 => "MKL dense (PyTorch)",
            BackendId::TorchCpuCsrF32 => "MKL CSR (PyTorch)",
            BackendId::NumpyDenseF32 => "numpy dense (OpenBLAS)",
            BackendId::ScipyCsrF32 => "scipy CSR",
            other => other.name(),
        }
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown backend name; the message lists the known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown backend '{0}'; known backends: {known}", known = known_names())]
pub struct UnknownBackend(pub String);

fn known_names() -> String {
    BackendId::ALL
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for BackendId {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // The EIE model's functional check was called `eie-model-fixed` before records (schema 1).
        if s == "eie-model-fixed" {
            return Ok(BackendId::EieModel);
        }
        BackendId::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBackend(s.to_string()))
    }
}

impl Serialize for BackendId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for BackendId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for b in BackendId::ALL {
            assert_eq!(b.name().parse::<BackendId>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(serde_json::from_str::<BackendId>(&json).unwrap(), b);
        }
        assert_eq!(
            "eie-model-fixed".parse::<BackendId>().unwrap(),
            BackendId::EieModel
        );
        let e = "gpu-magic".parse::<BackendId>().unwrap_err().to_string();
        assert!(e.contains("gpu-magic") && e.contains("cpu-eie-f32"), "{e}");
    }

    #[test]
    fn kinds() {
        assert!(BackendId::GpuCsrF32.is_gpu() && !BackendId::CpuCsrF32.is_gpu());
        assert!(
            BackendId::TorchCudaDenseF32.is_gpu() && !BackendId::TorchCudaDenseF32.in_process()
        );
        assert_eq!(BackendId::SprsCsrF32.matrix(), Matrix::Csr);
        assert_eq!(BackendId::GpuEieFixed.arith(), Arith::Fixed16);
        assert!(
            BackendId::MEASURED
                .iter()
                .all(|b| b.in_process() && *b != BackendId::EieModel)
        );
        // The peers and the kernel on EIE's own bytes are measured by default.
        for b in [
            BackendId::FaerDenseF32,
            BackendId::FaerCsrF32,
            BackendId::CpuEiePaperF32,
            BackendId::CpuEiePaperFixed,
        ] {
            let built = cfg!(feature = "faer") || !b.name().starts_with("faer");
            assert_eq!(BackendId::MEASURED.contains(&b), built, "{b}");
            assert!(b.follows_threads() && !b.is_gpu(), "{b}");
        }
        assert!(BackendId::FaerCsrF32.is_library() && !BackendId::FaerCsrF32.is_cpu_kernel());
        assert!(!BackendId::NdarrayDenseF32.follows_threads());
        assert_eq!(BackendId::FaerDenseF32.matrix(), Matrix::Dense);
        assert_eq!(BackendId::CpuEiePaperF32.matrix(), Matrix::Eie);
        assert_eq!(BackendId::CpuEiePaperFixed.arith(), Arith::Fixed16);
        assert!(
            BackendId::CpuEiePaperFixed.is_cpu_kernel() && !BackendId::CpuEiePaperF32.is_library()
        );
    }
}
