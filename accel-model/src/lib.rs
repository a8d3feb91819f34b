//! eie-accel-model: a model of the EIE accelerator (Han et al., ISCA 2016), built from the paper's
//! description of its micro-architecture (section 1 of `reference/eie-paper.md`).
//!
//! - [`config`]: [`EieConfig`], every hardware parameter, defaults = the paper's 64-PE design;
//! - [`plan`]: output passes, input chunks and the broadcast order of a layer on a configuration;
//! - [`timing`]: the cycle model (LNZD broadcast, activation FIFOs, pointer and SpMat reads, the 4-stage
//!   pipeline) and its event counts;
//! - [`functional`]: the PEs' arithmetic in 16-bit fixed point (bit-exact with `eie_compress`'s
//!   reference) and in f32;
//! - [`energy`]: per-event energies calibrated to Table II (the calibration is written there);
//! - [`sim`]: [`simulate`], which puts them together;
//! - [`sweep`]: the paper's design-space explorations (Figs. 8-13).
//!
//! Configuration, state and statistics are separate types; cycles, picojoules and milliwatts are
//! newtypes ([`units`]). This crate depends only on `eie-compress`.

pub mod backend;
pub mod config;
pub mod energy;
pub mod functional;
pub mod plan;
pub mod sim;
pub mod sweep;
pub mod timing;
pub mod units;

pub use backend::EieModelBackend;
pub use config::{ConfigError, EieConfig, Precision};
pub use energy::{EnergyBreakdown, EnergyModel};
pub use plan::PlanError;
pub use sim::{Simulation, functional, simulate};
pub use units::{Cycles, Milliwatts, Picojoules};
