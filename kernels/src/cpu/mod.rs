//! CPU kernels, each a [`Backend`]: dense GEMV, CSR SpMV and EIE-format SpMV (f32 and 16-bit fixed
//! point), at batch 1 and batch B, at any available ISA level ([`isa`]), on 1..N threads ([`par`]).
//!
//! | backend | reads | skips zero activations | bytes per stored weight |
//! |---|---|---|---|
//! | `cpu-dense-f32` | decoded dense W | no | 4 (zeros included) |
//! | `cpu-csr-f32` | decoded CSR (f32 value + u32 column) | no | 8 |
//! | `cpu-eie-f32` | 4-bit codebook index + 12-bit relative index (batch 1, columns; rows or, with AVX-512, 31-column windows where few activations are zero; with AVX2 on layers of about 25 % density, dense 4-bit code planes) | yes (batch 1: column and plane walks) | 2 (planes: 0.5 per weight, zeros included) |
//! | `cpu-eie-fixed` | the same, 16-bit fixed-point arithmetic | yes (batch 1: column and plane walks) | 2 (planes: 0.5 per weight, zeros included) |
//! | `cpu-eie-paper-f32` | the layer's `EieEncoding` itself: 4-bit index + 4-bit relative row, padding, per-PE column pointers | yes (batch 1; all-zero columns at batch B) | 1 (+ padding) |
//! | `cpu-eie-paper-fixed` | the same, 16-bit fixed-point arithmetic | yes (batch 1; all-zero columns at batch B) | 1 (+ padding) |

pub mod bandwidth;
pub mod csr;
pub mod dense;
pub mod eie;
pub mod eie_paper;
pub mod hugebuf;
pub mod isa;
pub mod par;

pub use csr::CsrF32;
pub use dense::DenseF32;
pub use eie::{EieF32, EieFixed, Walk as EieWalk};
pub use eie_paper::{EiePaperF32, EiePaperFixed};
pub use isa::IsaLevel;
pub use par::Par;

use eie_compress::{Backend, BackendError, CompressedLayer};

/// What every CPU backend keeps of the prepared layer.
pub(crate) struct Prepared {
    pub inputs: usize,
    pub outputs: usize,
    pub batch: usize,
    pub relu: bool,
    pub bias: Option<Vec<f32>>,
}

impl Prepared {
    pub fn new(
        backend: &str,
        layer: &CompressedLayer,
        batch: usize,
        level: IsaLevel,
    ) -> Result<Self, BackendError> {
        if batch == 0 {
            return Err(BackendError::Shape {
                backend: backend.to_string(),
                message: "batch must be at least 1".into(),
            });
        }
        if !level.is_available() {
            return Err(BackendError::Unavailable {
                backend: backend.to_string(),
                why: format!("this CPU lacks {}", level.name()),
            });
        }
        Ok(Self {
            inputs: layer.inputs(),
            outputs: layer.outputs(),
            batch,
            relu: layer.relu(),
            bias: layer.bias(),
        })
    }
}

/// `len` values of `buf` (grown as needed; what it held before is left in it) starting on a 64-byte
/// boundary: a packed input whose vectors straddle cache lines cost Alex-6 at batch 64 a fifth of its
/// time (16-byte aligned buffers split every other 32-byte load).
pub(crate) fn aligned<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    let extra = 64 / std::mem::size_of::<T>();
    if buf.len() < len + extra {
        buf.resize(len + extra, T::default());
    }
    aligned_in(buf, len)
}

/// `len` values of `buf` starting on its first 64-byte boundary (`buf` must hold `len` values and up
/// to 64 bytes more).
pub(crate) fn aligned_in<T>(buf: &mut [T], len: usize) -> &mut [T] {
    let off = buf
        .as_ptr()
        .align_offset(64)
        .min(64 / std::mem::size_of::<T>());
    &mut buf[off..off + len]
}

/// Adds the bias and applies ReLU to feature-major `y`.
pub(crate) fn finish_f32(p: &Prepared, y: &mut [f32]) {
    eie_compress::backend::add_bias_relu(y, p.batch, p.bias.as_deref(), p.relu);
}

/// Which CPU kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuKernel {
    Dense,
    Csr,
    EieF32,
    EieFixed,
    EiePaperF32,
    EiePaperFixed,
}

impl CpuKernel {
    /// All of them.
    pub const ALL: [CpuKernel; 6] = [
        CpuKernel::Dense,
        CpuKernel::Csr,
        CpuKernel::EieF32,
        CpuKernel::EieFixed,
        CpuKernel::EiePaperF32,
        CpuKernel::EiePaperFixed,
    ];

    /// The backend name.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Dense => "cpu-dense-f32",
            CpuKernel::Csr => "cpu-csr-f32",
            CpuKernel::EieF32 => "cpu-eie-f32",
            CpuKernel::EieFixed => "cpu-eie-fixed",
            CpuKernel::EiePaperF32 => "cpu-eie-paper-f32",
            CpuKernel::EiePaperFixed => "cpu-eie-paper-fixed",
        }
    }

    /// A backend of this kernel.
    pub fn backend(self, level: IsaLevel, par: Par) -> Box<dyn Backend> {
        match self {
            CpuKernel::Dense => Box::new(DenseF32::new(level, par)),
            CpuKernel::Csr => Box::new(CsrF32::new(level, par)),
            CpuKernel::EieF32 => Box::new(EieF32::new(level, par)),
            CpuKernel::EieFixed => Box::new(EieFixed::new(level, par)),
            CpuKernel::EiePaperF32 => Box::new(EiePaperF32::new(level, par)),
            CpuKernel::EiePaperFixed => Box::new(EiePaperFixed::new(level, par)),
        }
    }
}
