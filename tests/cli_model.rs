//! `eie simulate` and `eie sweep` end to end.

use std::process::{Command, Output};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn simulate_json_has_the_documented_fields() {
    let o = eie(&[
        "simulate", "--layer", "NT-LSTM", "--layer", "Alex-8", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    for field in [
        "name",
        "cycles",
        "theoretical_cycles",
        "actual_us",
        "theoretical_us",
        "load_balance",
        "energy_nj",
        "power_mw",
        "ptr_reads",
        "spmat_reads",
        "paper_actual_us",
        "paper_theoretical_us",
    ] {
        assert!(
            v.as_array().unwrap().iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    assert_eq!(v[0]["paper_actual_us"], 7.5);
    assert_eq!(v[1]["paper_theoretical_us"], 8.9);
    assert_eq!(v[0]["functional_exact"], true);
}

#[test]
fn simulate_markdown_has_table_v_for_alex7() {
    let o = eie(&["simulate", "--layer", "Alex-7"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains("FIFO depth 8") && out.contains("Alex-7 (Table V)") && out.contains("81967"),
        "{out}"
    );
    // Another FIFO depth is other hardware: the paper's numbers are not put beside it.
    let o = eie(&["simulate", "--layer", "Alex-7", "--fifo", "16"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains("FIFO depth 16")
            && !out.contains("Alex-7 (Table V)")
            && !out.contains("(11.7)"),
        "{out}"
    );
}

#[test]
fn sweep_writes_csv_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = eie(&[
        "sweep", "fifo", "--layer", "NT-LSTM", "--layer", "NT-We", "--out", out,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("sweep-fifo.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 9, "{csv}");
    assert!(csv.starts_with("sweep,layer,value,cycles"));
    let svg = std::fs::read_to_string(dir.path().join("sweep-fifo.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("NT-We") && svg.contains("Fig. 8"));
    let o = eie(&["sweep", "pes", "--layer", "NT-LSTM", "--out", out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in [
        "sweep-pes.csv",
        "sweep-pes.svg",
        "sweep-pes-real-work.svg",
        "sweep-pes-load-balance.svg",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
}

#[test]
fn bad_model_configuration_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "fifo_dept = 4\n").unwrap();
    for (args, needle) in [
        (
            vec!["simulate", "--layer", "NT-We", "--fifo", "0"],
            "--fifo 0: expected 1 to 1048576",
        ),
        (
            vec!["simulate", "--layer", "NT-We", "--sram-width", "60"],
            "sram_width_bits = 60",
        ),
        (
            vec!["simulate", "--layer", "NT-We", "--set", "bogus=1"],
            "bogus",
        ),
        (
            vec![
                "simulate",
                "--layer",
                "NT-We",
                "--config",
                "/nonexistent/eie.toml",
            ],
            "/nonexistent/eie.toml",
        ),
        (
            vec![
                "simulate",
                "--layer",
                "NT-We",
                "--config",
                bad.to_str().unwrap(),
            ],
            "fifo_dept",
        ),
        (vec!["simulate", "--all", "--layer", "NT-We"], "--all"),
    ] {
        let o = eie(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
