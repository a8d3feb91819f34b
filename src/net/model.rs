//! The EIE model on the network's real activations: every layer simulated on every test sample's own
//! 16-bit input (what the previous layer left in the register files), then the layers in sequence.
//!
//! # What a layer switch costs
//!
//! A layer's simulated cycle count (accel-model `timing`) runs from its first broadcast to the last PE's
//! last entry leaving the pipeline: the pipeline drain is in it, and so are the register-file loads of
//! input chunks after the first and the stores between output passes. It takes the first chunk of the
//! input to be where the previous layer left it, and it leaves the last output pass in the destination
//! register files. So in sequence:
//!
//! - a layer whose outputs fit one pass (`pes x act_regfile_entries`, 4,096 for the paper's 64 PEs)
//!   leaves them exactly where the next layer reads its first chunk: the source and destination
//!   register files swap roles (the paper, section III-D) and the switch costs **no cycles**;
//! - a layer of several passes leaves its last block in the register files, not the first: the switch
//!   stores that block to the activation SRAM and loads the next layer's first chunk, two register-file
//!   transfers (`2 x regfile_transfer_cycles`);
//! - the network's input has to be loaded into the register files before the first layer, and its
//!   output stored to the activation SRAM after the last: one transfer each.
//!
//! A transfer costs `regfile_transfer_cycles()` cycles (64 activations of 16 bits through a 64-bit
//! activation-SRAM port: 16 cycles), with every PE making that many activation-SRAM accesses, and the
//! clock and LNZD energy of those cycles. Layers do not overlap (the next layer's first broadcast
//! waits for the previous layer's drain), so the network's cycles are the sum.

use super::backends::References;
use super::network::Network;
use anyhow::{Context, Result};
use eie_accel_model::{EieConfig, EnergyModel, simulate};
use serde::Serialize;

/// One layer on the model, over every test sample.
#[derive(Clone, Debug, Serialize)]
pub struct ModelLayer {
    pub name: String,
    /// Samples simulated (every test sample).
    pub samples: usize,
    pub mean_cycles: f64,
    pub min_cycles: u64,
    pub max_cycles: u64,
    pub mean_us: f64,
    pub mean_energy_nj: f64,
    /// Mean over samples of the layer's load balance (busy PE-cycles over all PE-cycles).
    pub mean_load_balance: f64,
    /// Output passes (1: the layer's outputs fit the register files).
    pub passes: usize,
    /// The configuration note (SRAM width fitted to the layer's entries), if any.
    pub note: Option<String>,
}

/// The whole network per inference.
#[derive(Clone, Debug, Serialize)]
pub struct ModelNetwork {
    pub clock_mhz: f64,
    pub pes: usize,
    /// One register-file transfer, cycles.
    pub transfer_cycles: u64,
    /// Transfers per inference: the input load, the output store, and two per switch after a layer
    /// of several output passes.
    pub transfers: u64,
    /// Cycles the switches and the input/output transfers add to the layers' own.
    pub extra_cycles: u64,
    pub extra_energy_nj: f64,
    pub mean_cycles: f64,
    pub mean_us: f64,
    pub mean_energy_nj: f64,
    pub frames_per_s: f64,
    pub frames_per_j: f64,
    /// What a switch costs, in words.
    pub switch_note: String,
}

/// Simulates every layer on every test sample's real 16-bit input.
pub fn run_model(net: &Network, refs: &References) -> Result<(Vec<ModelLayer>, ModelNetwork)> {
    let fmt = net.fixed.act_format().format;
    model_on(
        net.fixed.layers(),
        net.test.len(),
        &EieConfig::default(),
        |s, l| {
            if l == 0 {
                net.fixed
                    .quantize(net.test.sample(s))
                    .iter()
                    .map(|&q| fmt.to_f32(q))
                    .collect()
            } else {
                refs.fixed_out[s][l - 1]
                    .iter()
                    .map(|&q| fmt.to_f32(q))
                    .collect()
            }
        },
    )
}

/// Simulates every layer of `layers` (a chain) on `n` samples, layer `l` of sample `s` on
/// `input(s, l)`, with `base` fitted to each layer's widths.
pub fn model_on(
    layers: &[eie_compress::CompressedLayer],
    n: usize,
    base: &EieConfig,
    input: impl Fn(usize, usize) -> Vec<f32>,
) -> Result<(Vec<ModelLayer>, ModelNetwork)> {
    let mut out = Vec::with_capacity(layers.len());
    let mut per_sample_cycles = vec![0u64; n];
    let mut per_sample_pj = vec![0.0f64; n];
    let mut cfg0 = None;
    let mut multi_pass_switches = 0u64;
    for (l, layer) in layers.iter().enumerate() {
        let (cfg, note) = base.fitted_to(layer).with_context(|| {
            format!("the EIE model's configuration for layer '{}'", layer.name())
        })?;
        let (mut sum_c, mut min_c, mut max_c) = (0u64, u64::MAX, 0u64);
        let (mut sum_us, mut sum_pj, mut sum_lb) = (0.0, 0.0, 0.0);
        let mut passes = 1;
        for s in 0..n {
            let sim = simulate(&layer.with_input(input(s, l))?, &cfg)
                .with_context(|| format!("the EIE model on layer '{}'", layer.name()))?;
            let c = sim.cycles.0;
            sum_c += c;
            min_c = min_c.min(c);
            max_c = max_c.max(c);
            sum_us += sim.actual_us;
            sum_pj += sim.energy_total.0;
            sum_lb += sim.load_balance;
            passes = sim.passes;
            per_sample_cycles[s] += c;
            per_sample_pj[s] += sim.energy_total.0;
        }
        if passes > 1 && l + 1 < layers.len() {
            multi_pass_switches += 1;
        }
        let nf = n.max(1) as f64;
        out.push(ModelLayer {
            name: layer.name().to_string(),
            samples: n,
            mean_cycles: sum_c as f64 / nf,
            min_cycles: if n == 0 { 0 } else { min_c },
            max_cycles: max_c,
            mean_us: sum_us / nf,
            mean_energy_nj: sum_pj / nf / 1000.0,
            mean_load_balance: sum_lb / nf,
            passes,
            note,
        });
        cfg0.get_or_insert(cfg);
    }
    let cfg = cfg0.unwrap_or_default();
    let xfer = cfg.regfile_transfer_cycles();
    let transfers = 2 + 2 * multi_pass_switches;
    let extra_cycles = transfers * xfer;
    let m = EnergyModel::new(&cfg);
    let pes = cfg.pes as f64;
    let extra = eie_accel_model::Cycles(extra_cycles);
    let extra_pj = (transfers * xfer) as f64 * pes * m.act_sram_access_pj.0
        + extra_cycles as f64 * pes * m.clock_pj_per_pe_cycle.0
        + m.lnzd.over(extra, cfg.clock_mhz).0
        + m.leakage_per_pe.over(extra, cfg.clock_mhz).0 * pes;
    let nf = n.max(1) as f64;
    let mean_cycles = per_sample_cycles.iter().sum::<u64>() as f64 / nf + extra_cycles as f64;
    let mean_pj = per_sample_pj.iter().sum::<f64>() / nf + extra_pj;
    let mean_us = mean_cycles / cfg.clock_mhz;
    let switch_note = format!(
        "layers in sequence, activations kept on chip: a layer whose outputs fit one output pass ({} = {} PEs x {} \
         register-file entries) leaves them in the destination register files, which become the next layer's \
         source register files: that switch costs 0 cycles (the pipeline drain is already in each layer's count). \
         After a layer of several passes, a switch costs 2 register-file transfers (store the last pass, load the \
         next layer's first chunk). Added per inference: loading the input and storing the output, 1 transfer \
         each; {transfers} transfers of {xfer} cycles ({} activations through a {}-bit activation-SRAM port) = \
         {extra_cycles} cycles, {:.3} nJ (SRAM accesses, clock, LNZD). Here {} of {} switches follow a \
         multi-pass layer.",
        cfg.pes * cfg.act_regfile_entries,
        cfg.pes,
        cfg.act_regfile_entries,
        cfg.act_regfile_entries,
        cfg.act_sram_width_bits,
        extra_pj / 1000.0,
        multi_pass_switches,
        layers.len().saturating_sub(1)
    );
    let network = ModelNetwork {
        clock_mhz: cfg.clock_mhz,
        pes: cfg.pes,
        transfer_cycles: xfer,
        transfers,
        extra_cycles,
        extra_energy_nj: extra_pj / 1000.0,
        mean_cycles,
        mean_us,
        mean_energy_nj: mean_pj / 1000.0,
        frames_per_s: if mean_us > 0.0 { 1e6 / mean_us } else { 0.0 },
        frames_per_j: if mean_pj > 0.0 { 1e12 / mean_pj } else { 0.0 },
        switch_note,
    };
    Ok((out, network))
}
