//! The cycle model, event-driven: the same cycle counts as a cycle-by-cycle simulation of the rules
//! below (a test runs both on random layers and compares every count).
//!
//! # The rules
//!
//! - The central unit broadcasts item `g` (one non-zero activation) at cycle `b_g`: at the earliest one
//!   cycle after the previous broadcast plus any register-file loads it waits for, and only when every
//!   PE's queue has room, i.e. every PE has finished item `g - fifo_depth`: the queue's depth counts the
//!   activation in service, whose slot is freed when the PE is done with it. (The other reading, a slot
//!   freed when the PE pops it, makes depth D behave like this model's D + 1; at depth 1 it leaves PEs
//!   idle 17-31 % of cycles on the paper's layers, where the paper says "about half" (Fig. 8), and this
//!   reading 47-59 %, NT-We aside.)
//! - PE `k` pops item `g` at cycle `s_kg = max(b_g + 1, e_k(g-1) + switch)`: the cycle after the
//!   broadcast at the earliest, and once it has finished the previous item. Popping reads both column
//!   pointers in one cycle (even and odd banks); the pointer read unit reads ahead, so this costs a cycle
//!   of its own only when the PE's slice of the column is empty. `switch` = pipeline drain + storing
//!   the destination register file, before the first item of an output pass after the first.
//! - The PE then issues one `(v, z)` entry per cycle into the 4-stage pipeline (the accumulator bypass
//!   removes read-after-write stalls): `e_kg = s_kg + max(1, entries)`. Padding entries take their cycle
//!   and do no useful work. A SpMat row (`sram_width_bits` wide) is read when an entry falls in a row
//!   other than the one last read (with `spmat_row_reuse = false`: also at the start of every column).
//! - The layer ends when the last PE's last entry has left the pipeline: `max_k e_k + depth - 1`.
//!
//! With an infinitely deep queue that is `max_k work_k + depth` cycles (work = entries, plus one per
//! empty column slice): the one extra cycle is the broadcast before the first pop.

use crate::config::EieConfig;
use crate::plan::Plan;
use crate::units::Cycles;
use serde::Serialize;
use std::ops::AddAssign;

/// Where one PE's cycles went. The fields add up to the layer's cycle count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeStats {
    /// Cycles issuing a real entry (a useful multiply-accumulate).
    pub busy_real: u64,
    /// Cycles issuing a padding entry.
    pub busy_padding: u64,
    /// Cycles spent on activations whose column slice is empty for this PE.
    pub empty_columns: u64,
    /// Cycles with nothing in the queue (the first cycle of the layer included).
    pub starved: u64,
    /// Cycles draining and storing the destination register file between output passes.
    pub pass_switch: u64,
    /// Cycles after the PE's last entry: waiting for the other PEs, then the pipeline drain.
    pub tail: u64,
    /// Activations popped (each one pointer read).
    pub activations: u64,
    /// SpMat SRAM row reads.
    pub spmat_reads: u64,
}

impl PeStats {
    /// Cycles issuing entries, padding included.
    pub fn busy(&self) -> u64 {
        self.busy_real + self.busy_padding
    }
    /// All cycles accounted for (equals the layer's cycle count).
    pub fn total(&self) -> u64 {
        self.busy() + self.empty_columns + self.starved + self.pass_switch + self.tail
    }
}

impl AddAssign for PeStats {
    fn add_assign(&mut self, o: Self) {
        self.busy_real += o.busy_real;
        self.busy_padding += o.busy_padding;
        self.empty_columns += o.empty_columns;
        self.starved += o.starved;
        self.pass_switch += o.pass_switch;
        self.tail += o.tail;
        self.activations += o.activations;
        self.spmat_reads += o.spmat_reads;
    }
}

/// Counts of the events that cost energy, over all PEs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Events {
    /// Activations broadcast by the central unit.
    pub broadcasts: u64,
    /// Cycles the broadcast waited because some queue was full.
    pub broadcast_stalls: u64,
    /// Register-file loads of input chunks (each one on every PE).
    pub chunk_loads: u64,
    /// Destination register-file stores between output passes (each one on every PE).
    pub pass_stores: u64,
    /// Activation-queue pushes (= pops), over all PEs.
    pub queue_ops: u64,
    /// Pointer-pair reads, over all PEs.
    pub ptr_reads: u64,
    /// SpMat row reads, over all PEs.
    pub spmat_reads: u64,
    /// Entries processed (codebook lookups), padding included.
    pub codebook_lookups: u64,
    /// Useful multiply-accumulates (real entries).
    pub macs: u64,
    /// Padding entries processed.
    pub padding: u64,
    /// Activation-SRAM accesses (chunk loads and pass stores), over all PEs.
    pub act_sram_accesses: u64,
}

/// The cycle model's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    pub cycles: Cycles,
    pub per_pe: Vec<PeStats>,
    pub events: Events,
}

/// Runs the cycle model on `plan`.
pub fn time(plan: &Plan, cfg: &EieConfig) -> Timing {
    let n = cfg.pes;
    let depth = cfg.fifo_depth;
    let xfer = cfg.regfile_transfer_cycles();
    let drain = cfg.pipeline_depth as u64 - 1;
    let row = cfg.entries_per_sram_row() as u64;
    let mut pe = vec![PeStats::default(); n];
    let mut end = vec![0u64; n];
    let mut last_row = vec![u64::MAX; n];
    let mut row_base = vec![0u64; n];
    // ends[(g % ring) * n + k] = cycle PE k finished item g (read back `depth` items later). A queue
    // deeper than the layer's broadcasts never fills, so the ring needs no more slots than those.
    let broadcasts: usize = (0..plan.passes.len()).map(|p| plan.items(p).len()).sum();
    let ring = depth.min(broadcasts).max(1);
    let mut ends = vec![0u64; n * ring];
    let mut ev = Events::default();
    let mut next_b = 0u64;
    let mut pending_loads = 0u64;
    let mut g = 0usize;
    for (p, pass) in plan.passes.iter().enumerate() {
        // A pass with no broadcast (all-zero input, no bias) has nothing to store or switch.
        if p > 0 && !plan.items(p).is_empty() {
            ev.pass_stores += 1;
        }
        for (idx, item) in plan.items(p).iter().enumerate() {
            let loads = item.loads_before as u64 + pending_loads;
            pending_loads = 0;
            ev.chunk_loads += loads;
            let earliest = next_b + loads * xfer;
            let mut b = earliest;
            let slot = (g % ring) * n;
            if g >= depth {
                b = ends[slot..slot + n].iter().fold(b, |m, &e| m.max(e));
            }
            ev.broadcast_stalls += b - earliest;
            let switch = if idx == 0 && p > 0 { drain + xfer } else { 0 };
            let j = item.col as usize;
            for k in 0..n {
                let s = pass.enc.slice(k);
                let (a, z) = (s.col_ptr[j] as u64, s.col_ptr[j + 1] as u64);
                let st = &mut pe[k];
                let ready = end[k] + switch;
                let start = (b + 1).max(ready);
                st.pass_switch += switch;
                st.starved += start - ready;
                st.activations += 1;
                let entries = z - a;
                if entries == 0 {
                    st.empty_columns += 1;
                    end[k] = start + 1;
                } else {
                    let prefix = &pass.pad_prefix[k];
                    let pad = (prefix[z as usize] - prefix[a as usize]) as u64;
                    st.busy_padding += pad;
                    st.busy_real += entries - pad;
                    end[k] = start + entries;
                    let (first, last) = ((row_base[k] + a) / row, (row_base[k] + z - 1) / row);
                    let reused = cfg.spmat_row_reuse && last_row[k] == first;
                    st.spmat_reads += last - first + 1 - u64::from(reused);
                    last_row[k] = last;
                }
            }
            // A queue slot is freed when the PE has finished the item in it, not when it starts it.
            ends[slot..slot + n].copy_from_slice(&end);
            next_b = b + 1;
            g += 1;
        }
        pending_loads += plan.trailing(p) as u64;
        for (base, s) in row_base.iter_mut().zip(pass.enc.slices()) {
            // Each pass's encoding starts on a fresh SRAM row.
            *base += (s.v.len() as u64).div_ceil(row) * row;
        }
    }
    let scan_end = next_b + pending_loads * xfer;
    ev.chunk_loads += pending_loads;
    let cycles = end
        .iter()
        .map(|&e| e + drain)
        .max()
        .unwrap_or(0)
        .max(scan_end);
    for k in 0..n {
        pe[k].tail = cycles - end[k];
        let st = pe[k];
        ev.queue_ops += st.activations;
        ev.ptr_reads += st.activations;
        ev.spmat_reads += st.spmat_reads;
        ev.codebook_lookups += st.busy();
        ev.macs += st.busy_real;
        ev.padding += st.busy_padding;
    }
    ev.broadcasts = g as u64;
    ev.act_sram_accesses = (ev.chunk_loads + ev.pass_stores) * n as u64 * xfer;
    Timing {
        cycles: Cycles(cycles),
        per_pe: pe,
        events: ev,
    }
}
