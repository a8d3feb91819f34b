//! Tiny layers whose cycles and event counts are worked out by hand.

use eie_accel_model::timing::PeStats;
use eie_accel_model::{EieConfig, functional, simulate};
use eie_compress::{CompressOptions, CompressedLayer, DenseLayer};

/// W (4 x 3, no bias), values -0.5 / 0.25 / 1.0 (codes 1 / 2 / 3), input [1, 2, 3], 2 PEs:
///
/// ```text
///        col0  col1  col2        PE0 owns rows 0, 2; PE1 owns rows 1, 3.
/// row0  -0.5    .    0.25        entries per (PE, column):  col0  col1  col2
/// row1   1.0  -0.5    .                                PE0:   2     0     1
/// row2   0.25   .     .                                PE1:   1     1     0
/// row3    .     .     .
/// ```
fn tiny() -> CompressedLayer {
    let w = vec![
        -0.5, 0.0, 0.25, 1.0, -0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    let dense = DenseLayer::new("tiny", 4, 3, w, None, vec![1.0, 2.0, 3.0], true).unwrap();
    CompressedLayer::compress(
        dense,
        CompressOptions {
            bits: 2,
            pes: 2,
            ..Default::default()
        },
    )
    .unwrap()
}

/// FIFO depth 1 (the queue's one slot holds the activation in service until the PE finishes it: PEs
/// work in lockstep), pipeline depth 4. Broadcast b, pop s, end e (cycles):
///
/// ```text
/// item  b   PE0: s  n  e      PE1: s  n  e
/// col0  0        1  2  3           1  1  2     both start the cycle after the broadcast
/// col1  3        4  0  5           4  1  5     b waits for both PEs to finish col0 (3): 2 stall cycles
/// col2  5        6  1  7           6  0  7     b waits for col1 to end (5): 1 stall cycle
/// ```
///
/// Cycles = max(e) + 3 (pipeline drain) = 10. PE0: 3 busy, 1 empty column, 3 starved (cycles 0, 3, 5),
/// 3 tail. PE1: 2 busy, 1 empty column, 4 starved (cycles 0, 2, 3, 5), 3 tail. Pointer reads and queue
/// operations: 3 per PE. SpMat reads: each PE's entries fit one 8-entry row, read once. MACs 5,
/// theoretical 2.5 cycles.
#[test]
fn tiny_layer_fifo_depth_1() {
    let l = tiny();
    let cfg = EieConfig {
        pes: 2,
        fifo_depth: 1,
        ..Default::default()
    };
    let (fixed, exact, f32_out) = functional(&l, &cfg).unwrap();
    assert!(
        exact,
        "functional output equals the reference before any cycle is checked"
    );
    // y = ReLU(W a): row0 = -0.5 + 0.75 = 0.25, row1 = 1.0 - 1.0 = 0, row2 = 0.25, row3 = 0.
    assert_eq!(f32_out, vec![0.25, 0.0, 0.25, 0.0]);
    assert_eq!(fixed, l.fixed_reference());

    let s = simulate(&l, &cfg).unwrap();
    assert_eq!(s.cycles.0, 10);
    assert_eq!(s.theoretical_cycles, 2.5);
    let pe0 = PeStats {
        busy_real: 3,
        empty_columns: 1,
        starved: 3,
        tail: 3,
        activations: 3,
        spmat_reads: 1,
        ..Default::default()
    };
    let pe1 = PeStats {
        busy_real: 2,
        empty_columns: 1,
        starved: 4,
        tail: 3,
        activations: 3,
        spmat_reads: 1,
        ..Default::default()
    };
    assert_eq!(s.per_pe, vec![pe0, pe1]);
    let e = s.events;
    assert_eq!(
        (e.broadcasts, e.broadcast_stalls, e.ptr_reads, e.queue_ops),
        (3, 3, 6, 6)
    );
    assert_eq!(
        (e.spmat_reads, e.codebook_lookups, e.macs, e.padding),
        (2, 5, 5, 0)
    );
    assert_eq!(
        (e.chunk_loads, e.pass_stores, e.act_sram_accesses),
        (0, 0, 0)
    );
    assert_eq!(s.load_balance, 5.0 / 20.0);
}

/// The same layer with an unbounded queue: no broadcast stall; cycles = max work (PE0: 2 + 1 + 1 = 4)
/// + pipeline depth (4) = 8.
#[test]
fn tiny_layer_deep_fifo() {
    let l = tiny();
    let cfg = EieConfig {
        pes: 2,
        fifo_depth: 64,
        ..Default::default()
    };
    let s = simulate(&l, &cfg).unwrap();
    assert_eq!(s.cycles.0, 8);
    assert_eq!(s.events.broadcast_stalls, 0);
    // PE1: starts at 1, 2; item 2 broadcast at 2, popped at 3 (its queue held it): no starvation after cycle 0.
    assert_eq!(s.per_pe[1].starved, 1);
}

/// Register-file chunking by hand: 1 PE with 2 register-file entries, 3 x 5 layer (so 2 output passes of
/// 2 rows and 1 row, and 3 input chunks of 2, 2 and 1 columns), every weight non-zero, input
/// [1, 0, 0, 0, 1] and a bias of 1.0 on each row. A register-file transfer (2 x 16 bits) is one 64-bit
/// activation-SRAM access: 1 cycle.
///
/// Pass 0 (rows 0-1): col0 (2 entries) broadcast at 0, popped 1, ends 3; chunk 1 has no non-zero but is
/// loaded and scanned (1 cycle), then chunk 2 (1 cycle): col4 broadcast at 0 + 1 + 2 = 3, popped 4,
/// ends 6; the bias (2 entries) at 4, popped 6, ends 8.
/// Pass 1 (row 2): reload chunk 0 (1 cycle): col0 broadcast at 5 + 1 = 6 (FIFO depth 8: no stall);
/// the PE drains (3) and stores its register file (1) first: pops at 8 + 4 = 12, ends 13; two loads
/// before col4: broadcast at 7 + 2 = 9, popped 13, ends 14; bias at 10, popped 14, ends 15.
/// Cycles = 15 + 3 = 18. Busy 6 + 3 = 9; pass switch 4; starved 1 (cycle 0) + 1 (cycle 3) = 2; tail 3.
#[test]
fn chunks_and_passes() {
    let w = vec![1.0f32; 15];
    let dense = DenseLayer::new(
        "chunked",
        3,
        5,
        w,
        Some(vec![1.0; 3]),
        vec![1.0, 0.0, 0.0, 0.0, 1.0],
        false,
    )
    .unwrap();
    let l = CompressedLayer::compress(
        dense,
        CompressOptions {
            pes: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = EieConfig {
        pes: 1,
        act_regfile_entries: 2,
        ..Default::default()
    };
    let (_, exact, f32_out) = functional(&l, &cfg).unwrap();
    assert!(exact);
    assert_eq!(f32_out, vec![3.0, 3.0, 3.0]);
    let s = simulate(&l, &cfg).unwrap();
    assert_eq!((s.passes, s.chunks), (2, 3));
    assert_eq!(s.cycles.0, 18);
    let pe = s.per_pe[0];
    assert_eq!(
        (
            pe.busy_real,
            pe.pass_switch,
            pe.starved,
            pe.tail,
            pe.empty_columns
        ),
        (9, 4, 2, 3, 0)
    );
    assert_eq!(
        (
            s.events.chunk_loads,
            s.events.pass_stores,
            s.events.act_sram_accesses
        ),
        (5, 1, 6)
    );
    assert_eq!(s.events.broadcasts, 6);
}

/// An all-zero input and no bias: nothing is broadcast, but the central unit still loads and scans every
/// input chunk of every pass. 1 PE, 1 register-file entry, 2 x 2 weights: 2 passes, 2 chunks. Pass 0 loads
/// chunk 1 (chunk 0 is where the previous layer left it); pass 1 reloads chunk 0 and loads chunk 1: 3 loads
/// of 1 cycle, and no pass store (nothing was computed). Found by the cycle-equivalence property test.
#[test]
fn all_zero_input_still_scans_every_chunk() {
    let dense = DenseLayer::new("zeros", 2, 2, vec![-0.5; 4], None, vec![0.0, 0.0], true).unwrap();
    let l = CompressedLayer::compress(
        dense,
        CompressOptions {
            pes: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = EieConfig {
        pes: 1,
        act_regfile_entries: 1,
        pipeline_depth: 1,
        ..Default::default()
    };
    let s = simulate(&l, &cfg).unwrap();
    assert_eq!((s.passes, s.chunks), (2, 2));
    assert_eq!(
        (
            s.events.broadcasts,
            s.events.chunk_loads,
            s.events.pass_stores
        ),
        (0, 3, 0)
    );
    assert_eq!(s.cycles.0, 3);
}
