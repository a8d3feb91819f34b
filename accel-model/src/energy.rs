//! Energy: event counts times per-event energies, calibrated to the paper's Table II.
//!
//! # Calibration
//!
//! Table II gives one PE at 800 MHz (45 nm): 9.157 mW in all, of which 1.874 mW is the clock network,
//! split by module as ActQueue 0.112, PtrRead 1.807, SpmatRead 4.955, ArithmUnit 1.162 and ActRW
//! 1.122 mW (these sum to 9.158; each includes its share of the clock network).
//!
//! We take that measurement as a PE **busy every cycle** in the paper's steady state (its section III-C):
//! one `(v, z)` entry per cycle, and, with about 8 entries per column slice, one activation popped, one
//! pointer pair read and one 64-bit SpMat row read every 8 cycles. Then:
//!
//! - the clock network is a per-PE, per-cycle energy: `1.874 mW x 1.25 ns = 2.3425 pJ`, spent every
//!   cycle of the layer whether the PE works or not (no clock gating is described);
//! - each module's own power is its Table II share with the clock part removed in proportion,
//!   `P_m x (9.157 - 1.874) / 9.158`, divided by its steady-state event rate:
//!
//! | module | event | events per busy cycle | energy per event (pJ) |
//! |---|---|---|---|
//! | ActQueue | activation pushed and popped | 1/8 | 0.8906 |
//! | PtrRead | pointer pair read (even + odd bank) | 1/8 | 14.37 |
//! | SpmatRead | 64-bit SpMat row read | 1/8 | 39.41 |
//! | ArithmUnit | entry processed (lookup, multiply, shift-add) | 1 | 1.155 |
//! | ActRW | accumulator read-modify-write | 1 | 1.115 |
//!
//! so that a PE at that activity dissipates exactly 9.157 mW with Table II's module split (a test pins
//! it). Beyond Table II: the 21 LNZD units of 64 PEs draw 0.023 mW each (section III-D), every cycle;
//! activation-SRAM traffic for long vectors costs Table I's 5 pJ per 32 bits; leakage is
//! `leakage_mw_per_pe` (Table II does not separate it: default 0).
//!
//! # Scaling for the design-space sweeps
//!
//! - **SpMat SRAM width** (Fig. 9): energy per read is affine in the width `w`, `E(w) = E(64) (88 + w) /
//!   152`: a fixed part (decoder, word line, control) worth 88 bits plus a per-bit part. The 88 is what
//!   makes `E(512) / E(32) = 5`, the ratio of the ends of Fig. 9's per-read energy axis (45 to 225 pJ);
//!   the absolute value at 64 bits comes from Table II.
//! - **Precision** (Fig. 10): the arithmetic unit scales by the multiply-energy factor of the format
//!   (32-bit float 6.2x, 32-bit int 5x, as stated; 8-bit 0.25x, assumed quadratic), the activation
//!   queue, register files and activation SRAM by the activation width over 16 bits; the SpMat and
//!   pointer SRAMs do not change (4-bit indices stay 4-bit, as the paper says).

use crate::config::EieConfig;
use crate::units::{Cycles, Milliwatts, Picojoules};
use serde::Serialize;
use std::ops::AddAssign;

/// Table II: total power of one PE, mW.
pub const TABLE_II_TOTAL_MW: f64 = 9.157;
/// Table II: clock-network power of one PE, mW.
pub const TABLE_II_CLOCK_MW: f64 = 1.874;
/// Table II by module, mW: ActQueue, PtrRead, SpmatRead, ArithmUnit, ActRW.
pub const TABLE_II_MODULES_MW: [f64; 5] = [0.112, 1.807, 4.955, 1.162, 1.122];
/// Power of one LNZD unit, mW (section III-D).
pub const LNZD_UNIT_MW: f64 = 0.023;
/// Table I: a 32-bit read of a 32 KB SRAM, pJ.
pub const SRAM_32BIT_READ_PJ: f64 = 5.0;
/// Steady-state events per busy cycle: activations, pointer reads, SpMat reads (1/8 each), entries (1).
const REFERENCE_RATE: [f64; 5] = [0.125, 0.125, 0.125, 1.0, 1.0];
/// Fixed part of an SRAM read, in bit-equivalents (see the module docs).
const SRAM_FIXED_BITS: f64 = 88.0;
/// Table II's operating point.
const TABLE_II_CLOCK_MHZ: f64 = 800.0;

/// Energy per event of each unit, for one configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyModel {
    pub act_queue_pj: Picojoules,
    pub ptr_read_pj: Picojoules,
    pub spmat_read_pj: Picojoules,
    pub arith_pj: Picojoules,
    pub act_rw_pj: Picojoules,
    pub act_sram_access_pj: Picojoules,
    pub clock_pj_per_pe_cycle: Picojoules,
    pub lnzd: Milliwatts,
    pub leakage_per_pe: Milliwatts,
}

/// Energy of one run, by unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergyBreakdown {
    pub act_queue: Picojoules,
    pub ptr_read: Picojoules,
    pub spmat_read: Picojoules,
    pub arith_unit: Picojoules,
    pub act_rw: Picojoules,
    pub clock: Picojoules,
    pub lnzd: Picojoules,
    pub leakage: Picojoules,
}

impl EnergyBreakdown {
    /// Sum of every unit.
    pub fn total(&self) -> Picojoules {
        self.parts()
            .iter()
            .fold(Picojoules(0.0), |a, (_, e)| a + *e)
    }

    /// (name, energy) of every unit, in Table II's order then clock, LNZD, leakage.
    pub fn parts(&self) -> [(&'static str, Picojoules); 8] {
        [
            ("act_queue", self.act_queue),
            ("ptr_read", self.ptr_read),
            ("spmat_read", self.spmat_read),
            ("arith_unit", self.arith_unit),
            ("act_rw", self.act_rw),
            ("clock", self.clock),
            ("lnzd", self.lnzd),
            ("leakage", self.leakage),
        ]
    }
}

impl AddAssign for EnergyBreakdown {
    fn add_assign(&mut self, o: Self) {
        self.act_queue += o.act_queue;
        self.ptr_read += o.ptr_read;
        self.spmat_read += o.spmat_read;
        self.arith_unit += o.arith_unit;
        self.act_rw += o.act_rw;
        self.clock += o.clock;
        self.lnzd += o.lnzd;
        self.leakage += o.leakage;
    }
}

/// Dynamic power of each Table II module with its clock share removed, mW.
fn module_dynamic_mw() -> [f64; 5] {
    let sum: f64 = TABLE_II_MODULES_MW.iter().sum();
    TABLE_II_MODULES_MW.map(|p| p * (TABLE_II_TOTAL_MW - TABLE_II_CLOCK_MW) / sum)
}

impl EnergyModel {
    /// Per-event energies for `cfg` (see the module docs for the calibration and the scaling).
    pub fn new(cfg: &EieConfig) -> Self {
        let ns = 1000.0 / TABLE_II_CLOCK_MHZ;
        let base: Vec<f64> = module_dynamic_mw()
            .iter()
            .zip(REFERENCE_RATE)
            .map(|(p, r)| p * ns / r)
            .collect();
        let width = cfg.sram_width_bits as f64;
        let act_scale = cfg.precision.bits() as f64 / 16.0;
        Self {
            act_queue_pj: Picojoules(base[0] * act_scale),
            ptr_read_pj: Picojoules(base[1]),
            spmat_read_pj: Picojoules(
                base[2] * (SRAM_FIXED_BITS + width) / (SRAM_FIXED_BITS + 64.0),
            ),
            arith_pj: Picojoules(base[3] * cfg.precision.multiply_energy_factor()),
            act_rw_pj: Picojoules(base[4] * act_scale),
            act_sram_access_pj: Picojoules(
                SRAM_32BIT_READ_PJ * cfg.act_sram_width_bits as f64 / 32.0,
            ),
            clock_pj_per_pe_cycle: Milliwatts(TABLE_II_CLOCK_MW)
                .over(Cycles(1), TABLE_II_CLOCK_MHZ),
            lnzd: Milliwatts(LNZD_UNIT_MW * cfg.lnzd_units() as f64),
            leakage_per_pe: Milliwatts(cfg.leakage_mw_per_pe),
        }
    }

    /// Power of one PE at the calibration's steady-state activity, by Table II module then clock, mW.
    pub fn reference_power(&self, clock_mhz: f64) -> [f64; 6] {
        let per_cycle = [
            self.act_queue_pj.0 * REFERENCE_RATE[0],
            self.ptr_read_pj.0 * REFERENCE_RATE[1],
            self.spmat_read_pj.0 * REFERENCE_RATE[2],
            self.arith_pj.0 * REFERENCE_RATE[3],
            self.act_rw_pj.0 * REFERENCE_RATE[4],
            self.clock_pj_per_pe_cycle.0,
        ];
        per_cycle.map(|pj| Picojoules(pj).power(Cycles(1), clock_mhz).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Precision;

    /// A PE busy every cycle at 800 MHz dissipates Table II's 9.157 mW, split as Table II splits it.
    #[test]
    fn calibration_reproduces_table_ii() {
        let m = EnergyModel::new(&EieConfig::default());
        let p = m.reference_power(800.0);
        let total: f64 = p.iter().sum();
        assert!((total - TABLE_II_TOTAL_MW).abs() < 1e-9, "{total}");
        assert!((p[5] - TABLE_II_CLOCK_MW).abs() < 1e-12);
        let modules: f64 = p[..5].iter().sum();
        for (i, &table) in TABLE_II_MODULES_MW.iter().enumerate() {
            let share = p[i] / modules;
            assert!((share - table / 9.158).abs() < 1e-12, "module {i}");
        }
        assert!(
            (m.spmat_read_pj.0 - 39.405).abs() < 0.001,
            "{:?}",
            m.spmat_read_pj
        );
        assert!((m.ptr_read_pj.0 - 14.37).abs() < 0.01);
        assert!((m.clock_pj_per_pe_cycle.0 - 2.3425).abs() < 1e-12);
        assert!((m.lnzd.0 - 0.483).abs() < 1e-12);
    }

    #[test]
    fn sweeps_scale_as_documented() {
        let base = EnergyModel::new(&EieConfig::default());
        let wide = EnergyModel::new(&EieConfig {
            sram_width_bits: 512,
            ..Default::default()
        });
        let narrow = EnergyModel::new(&EieConfig {
            sram_width_bits: 32,
            ..Default::default()
        });
        assert!((wide.spmat_read_pj.0 / narrow.spmat_read_pj.0 - 5.0).abs() < 1e-12);
        let f32m = EnergyModel::new(&EieConfig {
            precision: Precision::Float32,
            ..Default::default()
        });
        assert!((f32m.arith_pj.0 / base.arith_pj.0 - 6.2).abs() < 1e-12);
        assert!((f32m.act_rw_pj.0 / base.act_rw_pj.0 - 2.0).abs() < 1e-12);
        assert_eq!(f32m.spmat_read_pj, base.spmat_read_pj);
    }
}
