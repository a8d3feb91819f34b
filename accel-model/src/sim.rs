//! [`simulate`]: one layer on one configuration: cycles, theoretical cycles, load balance, events,
//! energy and power.

use crate::config::EieConfig;
use crate::energy::{EnergyBreakdown, EnergyModel};
use crate::functional::{run_f32, run_fixed};
use crate::plan::{Plan, PlanError};
use crate::timing::{Events, PeStats, Timing, time};
use crate::units::{Cycles, Picojoules};
use eie_compress::CompressedLayer;
use serde::Serialize;

/// The model's result for one layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Simulation {
    pub name: String,
    pub config: EieConfig,
    /// Simulated ("actual") cycles.
    pub cycles: Cycles,
    /// Useful multiply-accumulates / PEs: the paper's theoretical time, work over peak.
    pub theoretical_cycles: f64,
    pub actual_us: f64,
    pub theoretical_us: f64,
    /// Entries processed, padding included, / PEs: the other reading of "theoretical" (work as the
    /// hardware sees it, over peak), which Table IV's numbers support better (see the README).
    pub theoretical_padded_cycles: f64,
    pub theoretical_padded_us: f64,
    /// Cycles issuing entries (padding included) over PEs x cycles: the paper's Fig. 8 metric,
    /// 1 - bubble cycles / total.
    pub load_balance: f64,
    /// Real entries over all entries processed: the paper's Fig. 12 metric.
    pub real_work_ratio: f64,
    /// Output passes and input chunks.
    pub passes: usize,
    pub chunks: usize,
    pub events: Events,
    /// Sum over PEs.
    pub pe_totals: PeStats,
    /// The least and the most busy PE (cycles issuing entries).
    pub pe_busy_min: u64,
    pub pe_busy_max: u64,
    pub energy: EnergyBreakdown,
    pub energy_total: Picojoules,
    pub power_mw: f64,
    pub frames_per_s: f64,
    pub frames_per_j: f64,
    /// Where the layer exceeds the modelled SRAMs or pointer width (it still runs in the model).
    pub capacity_notes: Vec<String>,
    /// Every PE's cycle accounting.
    pub per_pe: Vec<PeStats>,
}

/// Simulates `layer` on `cfg`: cycles, events, energy.
pub fn simulate(layer: &CompressedLayer, cfg: &EieConfig) -> Result<Simulation, PlanError> {
    let plan = Plan::new(layer, cfg)?;
    let t = time(&plan, cfg);
    Ok(summarize(layer, cfg, &plan, t))
}

/// The functional model's fixed-point output and whether it equals the compress crate's reference
/// bit for bit; then its f32 output.
pub fn functional(
    layer: &CompressedLayer,
    cfg: &EieConfig,
) -> Result<(Vec<i16>, bool, Vec<f32>), PlanError> {
    let plan = Plan::new(layer, cfg)?;
    let fixed = run_fixed(layer, &plan);
    let exact = fixed == layer.fixed_reference();
    Ok((fixed, exact, run_f32(layer, &plan)))
}

fn summarize(layer: &CompressedLayer, cfg: &EieConfig, plan: &Plan, t: Timing) -> Simulation {
    let n = cfg.pes as u64;
    let mut totals = PeStats::default();
    t.per_pe.iter().for_each(|p| totals += *p);
    let ev = t.events;
    let useful = ev.macs as f64;
    let theoretical_cycles = useful / cfg.pes as f64;
    let m = EnergyModel::new(cfg);
    let energy = EnergyBreakdown {
        act_queue: ev.queue_ops * m.act_queue_pj,
        ptr_read: ev.ptr_reads * m.ptr_read_pj,
        spmat_read: ev.spmat_reads * m.spmat_read_pj,
        arith_unit: ev.codebook_lookups * m.arith_pj,
        act_rw: ev.codebook_lookups * m.act_rw_pj + ev.act_sram_accesses * m.act_sram_access_pj,
        clock: (t.cycles.0 * n) * m.clock_pj_per_pe_cycle,
        lnzd: m.lnzd.over(t.cycles, cfg.clock_mhz),
        leakage: Picojoules(m.leakage_per_pe.over(t.cycles, cfg.clock_mhz).0 * n as f64),
    };
    let energy_total = energy.total();
    let actual_us = t.cycles.micros(cfg.clock_mhz);
    let processed = (ev.macs + ev.padding) as f64;
    let theoretical_padded_cycles = processed / cfg.pes as f64;
    Simulation {
        name: layer.name().to_string(),
        config: cfg.clone(),
        cycles: t.cycles,
        theoretical_cycles,
        actual_us,
        theoretical_us: theoretical_cycles / cfg.clock_mhz,
        theoretical_padded_cycles,
        theoretical_padded_us: theoretical_padded_cycles / cfg.clock_mhz,
        load_balance: if t.cycles.0 == 0 {
            1.0
        } else {
            totals.busy() as f64 / (n * t.cycles.0) as f64
        },
        real_work_ratio: if processed == 0.0 {
            1.0
        } else {
            useful / processed
        },
        passes: plan.passes.len(),
        chunks: plan.chunks,
        events: ev,
        pe_totals: totals,
        pe_busy_min: t.per_pe.iter().map(PeStats::busy).min().unwrap_or(0),
        pe_busy_max: t.per_pe.iter().map(PeStats::busy).max().unwrap_or(0),
        energy,
        energy_total,
        power_mw: energy_total.power(t.cycles, cfg.clock_mhz).0,
        frames_per_s: if actual_us > 0.0 {
            1e6 / actual_us
        } else {
            f64::INFINITY
        },
        frames_per_j: if energy_total.0 > 0.0 {
            1e12 / energy_total.0
        } else {
            f64::INFINITY
        },
        capacity_notes: capacity_notes(plan, cfg),
        per_pe: t.per_pe,
    }
}

fn capacity_notes(plan: &Plan, cfg: &EieConfig) -> Vec<String> {
    let entry_bits = (cfg.weight_bits + cfg.index_bits) as usize;
    let mut notes = Vec::new();
    let per_pe_entries = (0..cfg.pes)
        .map(|k| {
            plan.passes
                .iter()
                .map(|p| p.enc.slice(k).v.len())
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    let spmat_bytes = (per_pe_entries * entry_bits).div_ceil(8);
    if spmat_bytes > cfg.spmat_sram_kb * 1024 {
        notes.push(format!(
            "SpMat SRAM: the busiest PE needs {:.1} KB of {} KB",
            spmat_bytes as f64 / 1024.0,
            cfg.spmat_sram_kb
        ));
    }
    let max_ptr = plan
        .passes
        .iter()
        .flat_map(|p| p.enc.slices().iter().map(|s| s.v.len()))
        .max()
        .unwrap_or(0);
    if cfg.ptr_bits < 64 && max_ptr as u64 >= 1u64 << cfg.ptr_bits {
        notes.push(format!(
            "{}-bit pointers cannot address a PE's {max_ptr} entries",
            cfg.ptr_bits
        ));
    }
    let ptr_bytes: usize = plan
        .passes
        .iter()
        .map(|p| (p.enc.cols() + 1) * cfg.ptr_bits as usize / 8)
        .sum();
    if ptr_bytes > cfg.ptr_sram_kb * 1024 {
        notes.push(format!(
            "Ptr SRAM: {:.1} KB of pointers per PE, {} KB available",
            ptr_bytes as f64 / 1024.0,
            cfg.ptr_sram_kb
        ));
    }
    notes
}
