//! eie-kernels: our own FC-layer kernels over the compressed layers, every one a
//! [`eie_compress::Backend`]: [`cpu`] (SIMD with runtime dispatch, multi-threaded); `gpu` (wgpu) to come.

pub mod cpu;
