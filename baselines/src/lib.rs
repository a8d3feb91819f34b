//! eie-baselines: what we compare against. For now, the EIE paper's published numbers as data
//! ([`paper`]); the library baselines (ndarray, sprs) join them with the CPU-kernel work.

pub mod paper;
