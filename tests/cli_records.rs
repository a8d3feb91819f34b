//! Records end to end: measure and validate save them, `eie report FILES` renders several machines from
//! them without measuring, `eie compare` flags a 2x slowdown and nothing in two runs of the same thing.

use std::path::Path;
use std::process::{Command, Output};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One quick run of two CPU backends on NT-LSTM, appended to `file`.
fn measure(file: &Path, extra: &[&str]) {
    let mut args = vec![
        "measure",
        "--layer",
        "NT-LSTM",
        "--backend",
        "cpu-dense-f32",
        "--backend",
        "cpu-eie-f32",
        "--budget-ms",
        "150",
        "--save",
        file.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(&eie(&args));
}

#[test]
fn measure_saves_records_and_report_renders_two_machines_without_measuring() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.jsonl");
    measure(&a, &[]);
    measure(&a, &["--batch", "64"]);
    let recs = lines(&a);
    assert_eq!(recs.len(), 4, "appended, not replaced");
    for r in &recs {
        assert_eq!(r["schema"], 1);
        assert_eq!(r["layer"]["name"], "NT-LSTM");
        assert_eq!(r["layer"]["paper"], "NT-LSTM");
        assert!(r["layer"]["hash"].as_str().unwrap().len() >= 16);
        assert_eq!(r["timing"]["source"], "harness");
        let w = &r["timing"]["wall"];
        let (lo, med, hi) = (
            w["min_us"].as_f64().unwrap(),
            w["median_us"].as_f64().unwrap(),
            w["max_us"].as_f64().unwrap(),
        );
        assert!(0.0 < lo && lo <= med && med <= hi, "{w}");
        assert_eq!(r["check"]["ok"], true);
        assert!(r["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
        assert!(r["tool"]["version"].is_string() && r["time"].is_string());
        // Derived figures are never stored.
        for derived in [
            "gbps",
            "per_sample_us",
            "bandwidth_fraction",
            "energy_per_sample_uj",
        ] {
            assert!(
                !r.to_string().contains(&format!("\"{derived}\"")),
                "{derived} stored"
            );
        }
    }
    // A second machine: the same records with another CPU name and twice the time.
    let b = d.path().join("b.jsonl");
    let other: Vec<String> = recs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["machine"]["cpu"] = "Laptop CPU 9000".into();
            for k in ["median_us", "min_us", "max_us", "q1_us", "q3_us"] {
                let v = r["timing"]["wall"][k].as_f64().unwrap();
                r["timing"]["wall"][k] = (2.0 * v).into();
            }
            r.to_string()
        })
        .collect();
    std::fs::write(&b, other.join("\n") + "\n").unwrap();
    let out = d.path().join("r");
    let o = eie(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let md = ok(&o);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("probing"),
        "measured"
    );
    assert!(md.contains("Laptop CPU 9000"), "{md}");
    let t4 = std::fs::read_to_string(out.join("table-iv.csv")).unwrap();
    // A row per (machine, backend, batch): 2 machines x 2 backends x 2 batches, then the paper's rows.
    let ours: Vec<&str> = t4
        .lines()
        .filter(|l| l.trim_start_matches('"').starts_with("ours: cpu"))
        .collect();
    assert_eq!(ours.len(), 8, "{t4}");
    assert!(t4.contains("paper: EIE (64 PE),1,actual,7.50"), "{t4}");
    // Fig. 6 per machine: each machine's CPU dense is 1x over itself.
    let f6 = std::fs::read_to_string(out.join("fig6-speedup.csv")).unwrap();
    assert_eq!(f6.matches(", batch 1\",1.00x,1.00x").count(), 2, "{f6}");
    let svg = std::fs::read_to_string(out.join("fig6-speedup.svg")).unwrap();
    assert!(svg.contains("Laptop CPU 9000"));
    // Records with a flag that measures are refused, not ignored.
    let o = eie(&["report", a.to_str().unwrap(), "--threads", "2"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threads"));
    // compare: the doubled run is flagged slower (exit 1), the same run against itself is not.
    let o = eie(&["compare", a.to_str().unwrap(), a.to_str().unwrap()]);
    let md = ok(&o);
    assert!(md.contains("0 slower, 0 faster"), "{md}");
    let mut c = other.clone();
    for l in c.iter_mut() {
        *l = l.replace(
            "Laptop CPU 9000",
            recs[0]["machine"]["cpu"].as_str().unwrap(),
        );
    }
    let slow = d.path().join("slow.jsonl");
    std::fs::write(&slow, c.join("\n") + "\n").unwrap();
    // Doubled, a run is flagged where its interquartile range clears the base's: 2 q1 > q3 (a run whose
    // own noise spans 2x hides a 2x change; on a quiet machine none does).
    let want = recs
        .iter()
        .filter(|r| {
            let w = &r["timing"]["wall"];
            2.0 * w["q1_us"].as_f64().unwrap() > w["q3_us"].as_f64().unwrap()
        })
        .count();
    assert!(want >= 1, "every run's noise spans 2x");
    let o = eie(&["compare", a.to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let md = String::from_utf8_lossy(&o.stdout);
    assert_eq!(md.matches("SLOWER").count(), want, "{md}");
    assert_eq!(md.matches(" 2.00x |").count(), 4, "{md}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("slower beyond the noise"));
    // Faster is reported, and does not fail a script.
    let o = eie(&["compare", slow.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(ok(&o).contains(&format!("{want} faster")));
}

#[test]
fn validate_and_simulate_save_records_too() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("v.jsonl");
    ok(&eie(&[
        "validate",
        "--layer",
        "NT-We",
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "eie-model",
        "--batch",
        "1",
        "--save",
        f.to_str().unwrap(),
    ]));
    ok(&eie(&[
        "simulate",
        "--layer",
        "NT-We",
        "--save",
        f.to_str().unwrap(),
    ]));
    let recs = lines(&f);
    assert_eq!(recs.len(), 3);
    assert!(
        recs[..2]
            .iter()
            .all(|r| r["check"]["exact"] == true && r["check"]["ok"] == true)
    );
    let m = &recs[2];
    assert_eq!(m["backend"], "eie-model");
    assert_eq!(m["timing"]["source"], "model");
    assert_eq!(m["power"]["source"], "model");
    assert!(m["model"]["cycles"].as_u64().unwrap() > 0);
    // The model alone renders Table IV's model rows.
    let out = d.path().join("r");
    ok(&eie(&[
        "report",
        f.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let t4 = std::fs::read_to_string(out.join("table-iv.csv")).unwrap();
    assert!(t4.contains("ours: EIE model (64 PE),1,actual,"), "{t4}");
}

#[test]
fn bad_records_files_get_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("bad.jsonl");
    std::fs::write(&f, "{\"schema\": 1, \"layer\": 3}\n").unwrap();
    let o = eie(&[
        "report",
        f.to_str().unwrap(),
        "--out",
        d.path().join("r").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.jsonl:1") && !e.contains("panicked"), "{e}");
    let o = eie(&["compare", f.to_str().unwrap(), "missing.jsonl"]);
    assert!(!o.status.success());
    let o = eie(&["compare", "a", "b", "--threshold", "0.5"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threshold"));
}
