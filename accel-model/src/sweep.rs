//! The paper's design-space explorations as data: one record per (layer, parameter value).
//!
//! | sweep | values | the paper's figure | main metric |
//! |---|---|---|---|
//! | `fifo` | queue depth 1, 2, 4, ..., 256 | Fig. 8 | load balance |
//! | `pes` | 1, 2, 4, ..., 256 PEs | Figs. 11, 12, 13 | speedup over 1 PE; real work; load balance |
//! | `sram-width` | 32, 64, 128, 256, 512 bits | Fig. 9 | SpMat reads and their energy |
//! | `precision` | float32, fixed32, fixed16, fixed8 | Fig. 10 (energy side) | energy |
//!
//! Everything else keeps the base configuration, with one exception: the PE sweep keeps the array's
//! total activation register capacity (`pes x act_regfile_entries`, 4K in the paper) and divides it over
//! the PEs. A PE's slice of an output block then has `4096 / pes` rows, which is what makes padding fall
//! as PEs are added (Fig. 12: "the distances between non-zeros within a PE's slice shrink"); holding 64
//! entries per PE instead would fix every slice at 64 rows and the padding with it.
//!
//! Running the points (in parallel) is the caller's job.

use crate::config::{EieConfig, Precision};
use crate::plan::PlanError;
use crate::sim::simulate;
use eie_compress::CompressedLayer;
use serde::Serialize;

/// Which parameter a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepKind {
    Fifo,
    Pes,
    SramWidth,
    Precision,
}

impl SweepKind {
    /// The values the paper swept.
    pub fn values(self) -> Vec<String> {
        match self {
            Self::Fifo | Self::Pes => (0..=8).map(|i| (1u32 << i).to_string()).collect(),
            Self::SramWidth => [32, 64, 128, 256, 512]
                .iter()
                .map(|w| w.to_string())
                .collect(),
            Self::Precision => Precision::all()
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
        }
    }

    /// The configuration field it sets.
    pub fn field(self) -> &'static str {
        match self {
            Self::Fifo => "fifo_depth",
            Self::Pes => "pes",
            Self::SramWidth => "sram_width_bits",
            Self::Precision => "precision",
        }
    }

    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::Pes => "pes",
            Self::SramWidth => "sram-width",
            Self::Precision => "precision",
        }
    }
}

/// One simulated point of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepRecord {
    pub sweep: SweepKind,
    pub layer: String,
    pub value: String,
    pub cycles: u64,
    pub actual_us: f64,
    pub theoretical_us: f64,
    pub load_balance: f64,
    pub real_work_ratio: f64,
    pub spmat_reads: u64,
    pub spmat_read_pj: f64,
    pub spmat_energy_nj: f64,
    pub arith_energy_nj: f64,
    pub energy_nj: f64,
    pub power_mw: f64,
}

/// A point's configuration: `base` with the sweep's field set to `value`.
pub fn point_config(
    base: &EieConfig,
    kind: SweepKind,
    value: &str,
) -> Result<EieConfig, crate::ConfigError> {
    base.validate()?;
    let set = format!("{}={value}", kind.field());
    if kind == SweepKind::Pes {
        // Both fields at once: the new PE count with the regfile entries that keep the total.
        let pes = base.with_override(&set)?.pes;
        let total = base.pes * base.act_regfile_entries;
        return base.with_overrides([set, format!("act_regfile_entries={}", total.div_ceil(pes))]);
    }
    base.with_override(&set)
}

/// Simulates one point.
pub fn run_point(
    layer: &CompressedLayer,
    base: &EieConfig,
    kind: SweepKind,
    value: &str,
) -> Result<SweepRecord, SweepError> {
    let cfg = point_config(base, kind, value)?;
    let s = simulate(layer, &cfg)?;
    let per_read = crate::energy::EnergyModel::new(&cfg).spmat_read_pj.0;
    Ok(SweepRecord {
        sweep: kind,
        layer: layer.name().to_string(),
        value: value.to_string(),
        cycles: s.cycles.0,
        actual_us: s.actual_us,
        theoretical_us: s.theoretical_us,
        load_balance: s.load_balance,
        real_work_ratio: s.real_work_ratio,
        spmat_reads: s.events.spmat_reads,
        spmat_read_pj: per_read,
        spmat_energy_nj: s.energy.spmat_read.nanojoules(),
        arith_energy_nj: s.energy.arith_unit.nanojoules(),
        energy_nj: s.energy_total.nanojoules(),
        power_mw: s.power_mw,
    })
}

/// A sweep point that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::{CompressOptions, LayerSpec, build_from_spec};

    #[test]
    fn values_and_points() {
        assert_eq!(
            SweepKind::Fifo.values().first().map(String::as_str),
            Some("1")
        );
        assert_eq!(
            SweepKind::Pes.values().last().map(String::as_str),
            Some("256")
        );
        assert_eq!(SweepKind::Precision.values().len(), 4);
        let cfg = point_config(&EieConfig::default(), SweepKind::Precision, "float32").unwrap();
        assert_eq!(cfg.precision, Precision::Float32);
        let cfg = point_config(&EieConfig::default(), SweepKind::Pes, "256").unwrap();
        assert_eq!((cfg.pes, cfg.act_regfile_entries), (256, 16));
        let spec = LayerSpec::new("s", 300, 256, 0.1, 0.4, true).unwrap();
        let l = build_from_spec(&spec, CompressOptions::default()).unwrap();
        let narrow = run_point(&l, &EieConfig::default(), SweepKind::SramWidth, "32").unwrap();
        let wide = run_point(&l, &EieConfig::default(), SweepKind::SramWidth, "512").unwrap();
        assert!(narrow.spmat_reads > wide.spmat_reads);
        assert_eq!(
            narrow.cycles, wide.cycles,
            "the read width does not change timing in the model"
        );
        let one = run_point(&l, &EieConfig::default(), SweepKind::Pes, "1").unwrap();
        let many = run_point(&l, &EieConfig::default(), SweepKind::Pes, "64").unwrap();
        assert!(
            one.cycles > 20 * many.cycles,
            "{} vs {}",
            one.cycles,
            many.cycles
        );
    }
}
