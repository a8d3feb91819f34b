//! `eie report` end to end: the files, their contents, declared power, criterion's results.

use std::path::Path;
use std::process::{Command, Output};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

const SMALL: [&str; 12] = [
    "report",
    "--layer",
    "NT-LSTM",
    "--backend",
    "cpu-dense-f32",
    "--backend",
    "cpu-eie-f32",
    "--backend",
    "cpu-eie-fixed",
    "--backend",
    "sprs-csr-f32",
    "--budget-ms",
];

fn report(dir: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args: Vec<&str> = SMALL.to_vec();
    args.extend(["20", "--out", dir.to_str().unwrap()]);
    args.extend(extra);
    let o = eie(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    (o, serde_json::from_str(&json).unwrap())
}

fn entry<'a>(v: &'a serde_json::Value, backend: &str, batch: u64) -> &'a serde_json::Value {
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["backend"] == backend && e["batch"] == batch && e.get("timing").is_some())
        .unwrap_or_else(|| panic!("no record for {backend} batch {batch}"))
}

fn median(e: &serde_json::Value) -> f64 {
    e["timing"]["wall"]["median_us"].as_f64().unwrap()
}

#[test]
fn writes_every_table_chart_and_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let (o, v) = report(dir.path(), &["--cpu-watts", "10"]);
    for f in [
        "report.md",
        "table-iv.csv",
        "bandwidth.csv",
        "fig6-speedup.csv",
        "fig6-speedup.svg",
        "fig7-energy.csv",
        "fig7-energy.svg",
        "validation.csv",
        "records.jsonl",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    // The report is rendered from the records it saved: they are the same records.
    let saved = std::fs::read_to_string(dir.path().join("records.jsonl")).unwrap();
    assert_eq!(
        saved.lines().count(),
        v["records"].as_array().unwrap().len()
    );
    // No Alex-7 selected: no Table V.
    assert!(!dir.path().join("table-v.csv").exists());
    for svg in ["fig6-speedup.svg", "fig7-energy.svg"] {
        let s = std::fs::read_to_string(dir.path().join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("<rect") && s.contains("NT-LSTM"));
    }
    // 4 backends x batch 1 and 64, and the model; every check passed.
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 9);
    assert_eq!(
        recs.iter().filter(|r| r["backend"] == "eie-model").count(),
        1
    );
    assert!(recs.iter().all(|c| c["check"]["ok"] == true));
    // Table IV carries the paper's NT-LSTM EIE times beside ours.
    let t4 = std::fs::read_to_string(dir.path().join("table-iv.csv")).unwrap();
    assert!(t4.starts_with("Platform,Batch,Matrix,NT-LSTM\n"), "{t4}");
    assert!(t4.contains("paper: EIE (64 PE),1,actual,7.50\n"), "{t4}");
    assert!(
        t4.contains("paper: EIE (64 PE),1,theoretical,6.50\n"),
        "{t4}"
    );
    // Speedups are over our CPU dense at batch 1, which is 1x by construction; the time is per sample.
    let f6 = std::fs::read_to_string(dir.path().join("fig6-speedup.csv")).unwrap();
    assert!(
        f6.contains("\"ours: cpu-dense-f32, batch 1\",1.00x,1.00x\n"),
        "{f6}"
    );
    // Table IV's batch-64 cell is the pass time over 64 (derived when rendering, not stored).
    let b64 = entry(&v, "cpu-eie-f32", 64);
    let per = median(b64) / 64.0;
    let want = if per >= 100.0 {
        format!("{per:.0}")
    } else if per >= 10.0 {
        format!("{per:.1}")
    } else {
        format!("{per:.2}")
    };
    assert!(
        t4.contains(&format!("ours: cpu-eie-f32,64,sparse,{want}\n")),
        "{want} {t4}"
    );
    // Energy = power x time; the power is RAPL's where this machine has it, else the declared 10 W.
    let f7 = std::fs::read_to_string(dir.path().join("fig7-energy.csv")).unwrap();
    let row = f7
        .lines()
        .find(|l| l.starts_with("\"ours: cpu-eie-f32, batch 1\""))
        .unwrap();
    assert!(
        row.ends_with(",RAPL\"") || row.ends_with("\"10.0 W, declared\""),
        "{row}"
    );
    for e in recs.iter().filter(|r| r["backend"] != "eie-model") {
        assert!(
            e.get("power").is_none() || e["power"]["source"] == "rapl",
            "{e}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for section in [
        "## Table IV",
        "## Bandwidth",
        "## Fig. 6",
        "## Fig. 7",
        "## Validation",
    ] {
        assert!(md.contains(section), "{section} missing");
    }
    // The same Markdown goes to stdout.
    assert_eq!(String::from_utf8_lossy(&o.stdout), md);
}

#[test]
fn takes_criterion_medians_where_files_exist() {
    let crit = tempfile::tempdir().unwrap();
    let est = crit.path().join("NT-LSTM/cpu-eie-f32/b1/new");
    std::fs::create_dir_all(&est).unwrap();
    std::fs::write(
        est.join("estimates.json"),
        r#"{"mean":{"point_estimate":130000.0},"median":{"point_estimate":123456.0}}"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, v) = report(
        dir.path(),
        &[
            "--from-criterion",
            "--criterion-dir",
            crit.path().to_str().unwrap(),
        ],
    );
    let e = entry(&v, "cpu-eie-f32", 1);
    assert_eq!(median(e), 123.456);
    assert_eq!(e["timing"]["source"], "criterion");
    assert!(
        e["timing"]["file"]
            .as_str()
            .unwrap()
            .ends_with("estimates.json")
    );
    // Criterion records no power: the declared or assumed figure is used when rendering.
    assert!(e.get("power").is_none());
    // Without a file, our own measurement.
    let other = entry(&v, "cpu-eie-f32", 64);
    assert_eq!(other["timing"]["source"], "harness");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("criterion's median estimates"), "{md}");
}

#[test]
fn bad_flags_name_what_is_wrong() {
    let o = eie(&["report", "--layer", "NT-LSTM", "--cpu-watts=-3"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("-3") && err.contains("positive"), "{err}");
    let o = eie(&[
        "report",
        "--layer",
        "NT-LSTM",
        "--from-criterion",
        "--criterion-dir",
        "/nonexistent/criterion",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/criterion") && err.contains("cargo bench"),
        "{err}"
    );
    let o = eie(&["report", "--layer", "NT-LSTM", "--backend", "gpu-magic"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("gpu-magic"));
}
