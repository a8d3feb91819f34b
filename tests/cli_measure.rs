//! `eie measure` end to end: verified, timed rows with the documented JSON fields.

use std::process::{Command, Output};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

#[test]
fn measure_json_has_the_documented_fields() {
    let o = eie(&[
        "measure",
        "--layer",
        "NT-LSTM",
        "--backend",
        "cpu-eie-f32",
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "sprs-csr-f32",
        "--batch",
        "3",
        "--budget-ms",
        "20",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["bandwidth_cold_gbps"].as_f64().unwrap() > 0.0);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for field in [
        "layer",
        "backend",
        "batch",
        "threads",
        "isa",
        "median_us",
        "gbps",
        "entries_per_s",
    ] {
        assert!(
            rows.iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    assert!(
        rows.iter()
            .all(|r| r["batch"] == 3 && r["median_us"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(rows[1]["exact"], true);
}

#[test]
fn measure_rejects_unknown_backends_and_levels() {
    let o = eie(&["measure", "--layer", "NT-We", "--backend", "cpu-magic"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("unknown backend 'cpu-magic'") && err.contains("cpu-eie-f32"),
        "{err}"
    );
    let o = eie(&["measure", "--layer", "NT-We", "--isa", "sse9"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown ISA level 'sse9'"));
    let o = eie(&["measure", "--layer", "NT-We", "--batch", "0"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn validate_checks_every_backend_and_the_model() {
    let o = eie(&[
        "validate", "--layer", "NT-LSTM", "--batch", "3", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    for field in [
        "layer",
        "backend",
        "batch",
        "max_abs_err",
        "bound",
        "exact",
        "ok",
    ] {
        assert!(
            rows.iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    assert!(rows.iter().all(|r| r["ok"] == true));
    let model = rows
        .iter()
        .find(|r| r["backend"] == "eie-model-fixed")
        .expect("the EIE model is validated");
    assert_eq!(
        (model["exact"].as_bool(), model["max_abs_err"].as_f64()),
        (Some(true), Some(0.0))
    );
    assert!(
        rows.iter()
            .any(|r| r["backend"] == "cpu-eie-fixed" && r["exact"] == true)
    );
    let o = eie(&["validate", "--layer", "NT-We", "--backend", "nope"]);
    assert_eq!(o.status.code(), Some(1));
}
