//! eie-bench's library side: the registry of every backend we compare and the measurement harness,
//! shared by the `eie` command and the criterion benches.

pub mod harness;
pub mod power;
pub mod registry;
