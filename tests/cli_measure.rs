//! `eie measure` end to end: verified, timed records with the documented JSON fields.

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
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for field in [
        "schema",
        "layer",
        "backend",
        "batch",
        "threads",
        "machine",
        "timing",
        "work",
        "check",
        "bandwidth",
        "tool",
        "time",
    ] {
        assert!(
            rows.iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    assert!(rows[0]["bandwidth"]["cold_gbps"].as_f64().unwrap() > 0.0);
    // Our CPU kernels carry their ISA level; the library does not.
    assert!(rows[0]["isa"].is_string() && rows[2].get("isa").is_none());
    assert!(rows.iter().all(|r| r["batch"] == 3
        && r["timing"]["wall"]["median_us"].as_f64().unwrap() > 0.0
        && r["work"]["entries"].as_u64().unwrap() > 0));
    assert_eq!(rows[1]["check"]["exact"], true);
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
    for field in ["max_abs_err", "bound", "exact", "ok"] {
        assert!(
            rows.iter().all(|r| r["check"].get(field).is_some()),
            "missing {field}"
        );
    }
    // Every check passed or its backend was unavailable (no adapter).
    assert!(
        rows.iter()
            .all(|r| r["check"]["ok"] == true || r["check"]["unavailable"].is_string())
    );
    let model = rows
        .iter()
        .find(|r| r["backend"] == "eie-model")
        .expect("the EIE model is validated");
    assert_eq!(
        (
            model["check"]["exact"].as_bool(),
            model["check"]["max_abs_err"].as_f64()
        ),
        (Some(true), Some(0.0))
    );
    assert!(
        rows.iter()
            .any(|r| r["backend"] == "cpu-eie-fixed" && r["check"]["exact"] == true)
    );
    let o = eie(&["validate", "--layer", "NT-We", "--backend", "nope"]);
    assert_eq!(o.status.code(), Some(1));
}

/// The GPU tuning knobs (environment variables): a bad value is an error naming the variable, a good one
/// shows in the detail. Needs an adapter (lavapipe in CI); without one the GPU backends are unavailable.
#[test]
fn gpu_tuning_knobs() {
    let run = |var: &str, value: &str, backend: &str, batch: &str| {
        Command::new(env!("CARGO_BIN_EXE_eie"))
            .args([
                "measure",
                "--layer",
                "NT-LSTM",
                "--backend",
                backend,
                "--batch",
                batch,
            ])
            .args(["--budget-ms", "5", "--format", "json"])
            .env(var, value)
            .output()
            .expect("run eie")
    };
    let o = run("EIE_GPU_EIE_PARTS", "3", "gpu-eie-fixed", "1");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    if !o.status.success() && err.contains("unavailable") {
        assert!(
            std::env::var("EIE_REQUIRE_GPU").as_deref() != Ok("1"),
            "EIE_REQUIRE_GPU=1 but {err}"
        );
        eprintln!("SKIP: no GPU adapter: {err}");
        return;
    }
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let detail = v[0]["detail"].as_str().unwrap();
    assert!(detail.contains("x 3 part(s)"), "{detail}");
    for (var, value, backend, batch) in [
        ("EIE_GPU_EIE_PARTS", "0", "gpu-eie-f32", "1"),
        ("EIE_GPU_DENSE_SPLITS", "many", "gpu-dense-f32", "2"),
        ("EIE_GPU_ROW_WG", "48", "gpu-csr-f32", "1"),
        ("EIE_GPU_EIE_ZEROS", "skip", "gpu-eie-fixed", "1"),
        // Every knob is checked whichever kernel runs.
        ("EIE_GPU_EIE_ZEROS", "skip", "gpu-dense-f32", "2"),
        ("EIE_GPU_EIE_PARTS", "0", "gpu-csr-f32", "64"),
    ] {
        let o = run(var, value, backend, batch);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{var}={value} was accepted");
        assert!(
            err.contains(var) && err.contains(value),
            "{var}={value}: {err}"
        );
    }
}

/// `EIE_CPU_EIE_WALK` forces the batch-1 walk of both CPU EIE kernels at every level this CPU has:
/// each forced walk gives verified outputs, its record names it, and each walks its own layout (the
/// column walk only the non-zero inputs' entries, the row and window walks padded rows, the plane walk
/// every weight of the non-zero inputs' columns), on one thread
/// and two. A bad value is an error naming the variable and the value, at any batch; batch 64 ignores a
/// good one.
#[test]
fn cpu_eie_walk_knob() {
    let run = |value: &str, isa: &str, batch: &str, threads: &str| {
        Command::new(env!("CARGO_BIN_EXE_eie"))
            .args([
                "measure", "--layer", "Alex-8", "--batch", batch, "--isa", isa,
            ])
            .args(["--threads", threads])
            .args(["--backend", "cpu-eie-f32", "--backend", "cpu-eie-fixed"])
            .args(["--budget-ms", "5", "--format", "json"])
            .env("EIE_CPU_EIE_WALK", value)
            .output()
            .expect("run eie")
    };
    let json = |o: &Output| -> Vec<serde_json::Value> {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().unwrap().clone()
    };
    let levels = eie_kernels::cpu::IsaLevel::available();
    for (level, threads) in levels.into_iter().flat_map(|l| [(l, "1"), (l, "2")]) {
        let isa = level.name();
        let mut entries = Vec::new();
        for walk in ["column", "row", "window", "plane"] {
            let rows = json(&run(walk, isa, "1", threads));
            assert_eq!(rows.len(), 2);
            for r in &rows {
                let detail = r["detail"].as_str().unwrap();
                assert!(
                    detail.contains(&format!("{walk} walk (EIE_CPU_EIE_WALK)")),
                    "{isa} {threads} {walk}: {detail}"
                );
                assert_eq!(r["check"]["ok"], true, "{isa} {threads} {walk}: {r}");
                // Its records stand apart from the kernels' own pick (compare, report).
                assert_eq!(r["isa"], format!("{isa}, {walk} walk"), "{r}");
            }
            // Alex-8's input has zeros: the column walk reads fewer entries than it stores.
            entries.push(rows[0]["work"]["entries"].as_u64().unwrap());
        }
        assert!(
            entries[0] < entries[1].min(entries[2]).min(entries[3])
                && entries[1] != entries[2]
                && entries[3] != entries[1]
                && entries[3] != entries[2],
            "{isa} {threads}: entries per walk {entries:?}"
        );
        // Unset or empty: the cost model's pick, and the record does not name a walk.
        let rows = json(&run("", isa, "1", threads));
        assert!(rows.iter().all(|r| r["isa"] == isa), "{rows:?}");
        assert!(
            rows.iter()
                .all(|r| !r["detail"].as_str().unwrap().contains("EIE_CPU_EIE_WALK"))
        );
    }
    let rows = json(&run("window", "portable", "64", "1"));
    assert!(
        rows.iter().all(|r| r["check"]["ok"] == true
            && !r["detail"].as_str().unwrap().contains("EIE_CPU_EIE_WALK"))
    );
    for batch in ["1", "64"] {
        let o = run("diagonal", "portable", batch, "1");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "diagonal was accepted at batch {batch}"
        );
        assert!(
            err.contains("EIE_CPU_EIE_WALK") && err.contains("diagonal"),
            "{err}"
        );
    }
}

#[test]
fn probe_lists_each_level_then_dram() {
    let o = eie(&["probe", "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(
        rows.last().unwrap()["level"]
            .as_str()
            .unwrap()
            .starts_with("DRAM")
    );
    let sizes: Vec<u64> = rows
        .iter()
        .map(|r| r["buffer_bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(rows.iter().all(|r| r["gbps"].as_f64().unwrap() > 0.0));
    let o = eie(&["probe", "--threads", "0"]);
    assert!(!o.status.success());
}

/// `--cold`: each row's share of the bandwidth is over DRAM probe passes run between its timed runs.
#[test]
fn cold_rows_carry_their_interleaved_probe() {
    let o = eie(&[
        "measure",
        "--layer",
        "NT-We",
        "--backend",
        "cpu-csr-f32",
        "--cold",
        "--budget-ms",
        "20",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v[0];
    let probe = r["bandwidth"]["interleaved_gbps"]
        .as_f64()
        .expect("an interleaved probe");
    assert!(probe > 0.0);
    assert_eq!(r["timing"]["cold"], true);
    assert!(r["timing"]["copies"].as_u64().unwrap() > 1);
    // Hot rows have none.
    let o = eie(&[
        "measure",
        "--layer",
        "NT-We",
        "--backend",
        "cpu-csr-f32",
        "--budget-ms",
        "5",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v[0]["bandwidth"].get("interleaved_gbps").is_none());
}
