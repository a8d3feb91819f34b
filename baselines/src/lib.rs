//! eie-baselines: what we compare against. [`libs`]: the Rust libraries a user would reach for
//! (ndarray's dense products, sprs's CSR products) and [`faer_peer`]: the fast Rust-native one (faer's
//! dense GEMV/GEMM and sparse CSR product, one thread or several), over the same decoded weights, behind
//! the same [`eie_compress::Backend`] trait as our kernels; [`paper`]: the EIE paper's published numbers.

#[cfg(feature = "blas")]
extern crate blas_src;

#[cfg(feature = "faer")]
pub mod faer_peer;
pub mod libs;
pub mod paper;
