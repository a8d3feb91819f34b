//! eie-kernels: our own FC-layer kernels over the compressed layers, every one a
//! [`eie_compress::Backend`]: [`cpu`] (SIMD with runtime dispatch, multi-threaded) and [`gpu`] (wgpu compute shaders).

pub mod cpu;
pub mod gpu;
