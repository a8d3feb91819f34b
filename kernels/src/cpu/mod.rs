//! CPU kernels: dense GEMV, CSR SpMV and EIE-format SpMV (f32 and 16-bit fixed point), batch 1 and B.

pub mod isa;
