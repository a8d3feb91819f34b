//! The event-driven cycle model against a literal cycle-by-cycle simulation of the same rules, and the
//! model's invariants, on random small layers and configurations.

use eie_accel_model::plan::Plan;
use eie_accel_model::timing::{PeStats, time};
use eie_accel_model::{EieConfig, functional, simulate};
use eie_compress::{CompressOptions, CompressedLayer, DenseLayer};
use proptest::prelude::*;
use std::collections::VecDeque;

/// Advances a literal clock one cycle at a time: PEs pop first (an item broadcast at cycle b can be
/// popped from b + 1 on, by a PE done with its previous item and, at an output pass after the first,
/// done draining and storing), then the central unit broadcasts if every queue has room and its
/// register-file loads are over. Each PE cycle is classified as it happens.
fn cycle_by_cycle(plan: &Plan, cfg: &EieConfig) -> (u64, Vec<PeStats>, u64) {
    struct It {
        col: usize,
        pass: usize,
        loads: u64,
        first_of_later_pass: bool,
    }
    let mut items = Vec::new();
    let mut carry = 0u64;
    for p in 0..plan.passes.len() {
        for (i, it) in plan.items(p).iter().enumerate() {
            items.push(It {
                col: it.col as usize,
                pass: p,
                loads: it.loads_before as u64 + carry,
                first_of_later_pass: i == 0 && p > 0,
            });
            carry = 0;
        }
        carry += plan.trailing(p) as u64;
    }
    let n = cfg.pes;
    let xfer = cfg.regfile_transfer_cycles();
    let drain = cfg.pipeline_depth as u64 - 1;
    let mut fifo: Vec<VecDeque<(usize, u64)>> = vec![VecDeque::new(); n];
    let mut stats = vec![PeStats::default(); n];
    // Per PE: (item, start, entries, padding prefix base) of the item in service, and its end.
    let mut cur: Vec<Option<(usize, u64, u64)>> = vec![None; n];
    let mut end = vec![0u64; n];
    let mut popped = vec![0usize; n];
    let (mut g, mut allowed, mut stalls, mut last_b) = (
        0usize,
        items.first().map_or(0, |i| i.loads * xfer),
        0u64,
        None,
    );
    let mut t = 0u64;
    loop {
        let all_done = g == items.len() && (0..n).all(|k| popped[k] == items.len() && end[k] <= t);
        if all_done {
            break;
        }
        for k in 0..n {
            if t >= end[k] {
                cur[k] = None;
                if let Some(&(gi, b)) = fifo[k].front() {
                    let switch = if items[gi].first_of_later_pass {
                        drain + xfer
                    } else {
                        0
                    };
                    if b < t && t >= end[k] + switch {
                        fifo[k].pop_front();
                        popped[k] += 1;
                        let s = plan.passes[items[gi].pass].enc.slice(k);
                        let c = items[gi].col;
                        let entries = (s.col_ptr[c + 1] - s.col_ptr[c]) as u64;
                        cur[k] = Some((gi, t, entries));
                        end[k] = t + entries.max(1);
                        stats[k].activations += 1;
                    }
                }
            }
            match cur[k] {
                Some((gi, s0, entries)) => {
                    if entries == 0 {
                        stats[k].empty_columns += 1;
                    } else {
                        let s = plan.passes[items[gi].pass].enc.slice(k);
                        let e = s.col_ptr[items[gi].col] as usize + (t - s0) as usize;
                        if s.v[e] == 0 {
                            stats[k].busy_padding += 1
                        } else {
                            stats[k].busy_real += 1
                        }
                    }
                }
                None if popped[k] == items.len() => {}
                None => {
                    let next = popped[k];
                    let in_switch = items[next].first_of_later_pass && t < end[k] + drain + xfer;
                    if in_switch {
                        stats[k].pass_switch += 1
                    } else {
                        stats[k].starved += 1
                    }
                }
            }
        }
        // A queue's depth counts the item in service: its slot is freed when the PE finishes it.
        let room = (0..n).all(|k| fifo[k].len() + usize::from(cur[k].is_some()) < cfg.fifo_depth);
        if g < items.len() && t >= allowed && room {
            for q in fifo.iter_mut() {
                q.push_back((g, t));
            }
            last_b = Some(t);
            g += 1;
            if g < items.len() {
                allowed = t + 1 + items[g].loads * xfer;
            }
        } else if g < items.len() && t >= allowed {
            stalls += 1;
        }
        t += 1;
    }
    let scan_end = last_b.map_or(0, |b| b + 1) + carry * xfer;
    let cycles = end
        .iter()
        .map(|e| e + drain)
        .max()
        .unwrap_or(0)
        .max(scan_end);
    for k in 0..n {
        stats[k].tail = cycles - end[k];
    }
    (cycles, stats, stalls)
}

fn random_layer(
    rows: usize,
    cols: usize,
    cells: &[u8],
    acts: &[u8],
    bias: bool,
    pes: usize,
) -> CompressedLayer {
    let w: Vec<f32> = cells
        .iter()
        .map(|&c| c as f32 * 0.25 - 0.5 * f32::from(c % 2 == 0))
        .collect();
    let a: Vec<f32> = acts.iter().map(|&x| x as f32 * 0.5).collect();
    let b = bias.then(|| {
        (0..rows)
            .map(|i| if i % 3 == 0 { 0.0 } else { 0.25 })
            .collect()
    });
    let dense = DenseLayer::new("random", rows, cols, w, b, a, true).unwrap();
    CompressedLayer::compress(
        dense,
        CompressOptions {
            pes,
            ..Default::default()
        },
    )
    .unwrap()
}

fn layer_and_config() -> impl Strategy<Value = (CompressedLayer, EieConfig)> {
    (
        1usize..40,
        1usize..30,
        1usize..9,
        1usize..6,
        1usize..5,
        1u32..6,
        any::<bool>(),
        // Multiples of the 6-bit entry (4-bit weights, 2-bit indices).
        prop_oneof![Just(30u32), Just(60), Just(126)],
    )
        .prop_flat_map(|(rows, cols, pes, fifo, regfile, depth, bias, width)| {
            let cell = prop_oneof![6 => Just(0u8), 1 => 1u8..7];
            let act = prop_oneof![1 => Just(0u8), 2 => 1u8..4];
            (
                proptest::collection::vec(cell, rows * cols),
                proptest::collection::vec(act, cols),
                Just((rows, cols, pes, fifo, regfile, depth, bias, width)),
            )
        })
        .prop_map(
            |(cells, acts, (rows, cols, pes, fifo, regfile, depth, bias, width))| {
                let cfg = EieConfig {
                    pes,
                    fifo_depth: fifo,
                    act_regfile_entries: regfile,
                    pipeline_depth: depth,
                    sram_width_bits: width,
                    index_bits: 2,
                    ..Default::default()
                };
                (random_layer(rows, cols, &cells, &acts, bias, pes), cfg)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn event_driven_equals_cycle_by_cycle((layer, cfg) in layer_and_config()) {
        let plan = Plan::new(&layer, &cfg).unwrap();
        let t = time(&plan, &cfg);
        let (cycles, stats, stalls) = cycle_by_cycle(&plan, &cfg);
        prop_assert_eq!(t.cycles.0, cycles);
        for (k, (a, b)) in t.per_pe.iter().zip(&stats).enumerate() {
            let mut a = *a;
            a.spmat_reads = 0;
            prop_assert_eq!(a, *b, "PE {}", k);
            prop_assert_eq!(a.total(), cycles);
        }
        prop_assert_eq!(t.events.broadcast_stalls, stalls);
    }

    #[test]
    fn functional_is_exact_and_fifo_monotone((layer, cfg) in layer_and_config()) {
        let (_, exact, _) = functional(&layer, &cfg).unwrap();
        prop_assert!(exact);
        let mut prev = u64::MAX;
        for depth in [1usize, 2, 3, 4, 8, 16, 1 << 20] {
            let c = simulate(&layer, &EieConfig { fifo_depth: depth, ..cfg.clone() }).unwrap().cycles.0;
            prop_assert!(c <= prev, "depth {} gives {} cycles after {}", depth, c, prev);
            prev = c;
        }
    }

    /// With an unbounded queue and one pass, one chunk: cycles = max PE work + pipeline depth, where work
    /// is entries plus one cycle per empty column slice.
    #[test]
    fn unbounded_fifo_is_max_work_plus_depth((layer, cfg) in layer_and_config()) {
        let cfg = EieConfig { fifo_depth: 1 << 20, act_regfile_entries: 4096, ..cfg };
        let s = simulate(&layer, &cfg).unwrap();
        prop_assume!(s.events.broadcasts > 0);
        let work = s.per_pe.iter().map(|p| p.busy() + p.empty_columns).max().unwrap();
        prop_assert_eq!(s.cycles.0, work + cfg.pipeline_depth as u64);
        let total: f64 = s.energy.parts().iter().map(|(_, e)| e.0).sum();
        prop_assert!((total - s.energy_total.0).abs() <= 1e-9 * total);
    }
}
