//! The model on the nine Table III layers and the real AlexNet FC8.

use eie_accel_model::{EieConfig, functional, simulate};
use eie_compress::real::{data_dir, load_real_fc8, real_fc8_dir};
use eie_compress::{CompressOptions, benchmark_layers, build_layer};

/// The functional model equals the fixed-point reference on every layer (NT-Wd runs in 3 output
/// passes, Alex-6 and VGG-6 in 3 and 7 input chunks) before any cycle count is looked at; then the
/// energy parts add up and the cycle accounting closes.
#[test]
fn every_benchmark_layer() {
    let cfg = EieConfig::default();
    for spec in benchmark_layers() {
        let l = build_layer(&spec.name, CompressOptions::default()).unwrap();
        let (_, exact, _) = functional(&l, &cfg).unwrap();
        assert!(exact, "{}", spec.name);
        let s = simulate(&l, &cfg).unwrap();
        assert_eq!(s.events.macs, l.useful_macs(true) as u64, "{}", spec.name);
        assert!(s.cycles.0 as f64 >= s.theoretical_cycles, "{}", spec.name);
        assert!(
            s.per_pe.iter().all(|p| p.total() == s.cycles.0),
            "{}",
            spec.name
        );
        let parts: f64 = s.energy.parts().iter().map(|(_, e)| e.0).sum();
        assert!(
            (parts - s.energy_total.0).abs() < 1e-6 * parts,
            "{}",
            spec.name
        );
        assert!(
            s.load_balance > 0.5 && s.load_balance <= 1.0,
            "{}: {}",
            spec.name,
            s.load_balance
        );
        let expected_passes = spec.outputs.div_ceil(4096);
        assert_eq!(s.passes, expected_passes, "{}", spec.name);
        assert_eq!(s.chunks, spec.inputs.div_ceil(4096), "{}", spec.name);
    }
}

/// The real FC8: theoretical = 453,748 useful MACs / 64 = 7,089.8 cycles (8.86 µs), and the simulated
/// time lands near Table IV's 9.9 µs.
#[test]
fn real_fc8_against_table_iv() {
    let Some(dir) = real_fc8_dir() else {
        eprintln!(
            "SKIP: {} not found (set EIE_DATA_DIR)",
            data_dir().join("alexnet-fc8").display()
        );
        return;
    };
    let l = load_real_fc8(&dir, CompressOptions::default()).unwrap();
    let cfg = EieConfig::default();
    let (_, exact, _) = functional(&l, &cfg).unwrap();
    assert!(exact);
    let s = simulate(&l, &cfg).unwrap();
    assert_eq!(s.events.macs, 453_748);
    assert_eq!(s.theoretical_cycles, 453_748.0 / 64.0);
    assert!(
        (s.theoretical_us - 8.8623).abs() < 1e-3,
        "{}",
        s.theoretical_us
    );
    assert!(
        (s.actual_us - 9.9).abs() / 9.9 < 0.05,
        "actual {} µs vs Table IV 9.9 µs",
        s.actual_us
    );
    assert_eq!(s.events.padding, 0);
    assert!(s.capacity_notes.is_empty(), "{:?}", s.capacity_notes);
}
