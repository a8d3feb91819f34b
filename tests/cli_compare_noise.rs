//! `eie compare` on two real runs of the same thing flags nothing. Each run is three rounds, interleaved
//! with the other's, so that the drift of this shared machine between runs (up to 1.5x on consecutive runs
//! here) shows in both sides' pooled ranges. A test binary of its own: tests of one binary run in parallel,
//! and another test measuring beside one of the runs would slow it for real (and be rightly flagged).

use std::path::Path;
use std::process::Command;

fn measure(file: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_eie"))
        .args([
            "measure",
            "--layer",
            "NT-LSTM",
            "--backend",
            "cpu-dense-f32",
            "--backend",
            "cpu-eie-f32",
            "--budget-ms",
            "80",
            "--save",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn two_real_runs_of_the_same_thing_flag_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a.jsonl"), d.path().join("b.jsonl"));
    for _ in 0..3 {
        measure(&a);
        measure(&b);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(["compare", a.to_str().unwrap(), b.to_str().unwrap()])
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{md}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(md.contains("0 slower"), "{md}");
}
