//! Hostile use of the command line: outputs onto inputs, stale files, closed or full stdout, names that
//! collide with the paper's layers, options that must be honoured or refused, absurd thread counts, values
//! outside f32's range. Each ends in a clear one-line error or a correct, documented result; never a panic.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_panic(o: &Output) {
    let e = err(o);
    assert!(
        !e.contains("panicked") && !e.contains("RUST_BACKTRACE"),
        "{e}"
    );
}

fn npy(p: &Path, shape: &[usize], data: &[f32]) {
    eie_compress::npy::write(p, shape, data).unwrap();
}

#[test]
fn export_never_overwrites_its_inputs_and_removes_only_its_own_stale_files() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let s = |n: &str| p(n).to_str().unwrap().to_string();
    npy(
        &p("w.npy"),
        &[4, 6],
        &[0.5, -1.0, 0.0, 2.0, 0.0, 1.5].repeat(4),
    );
    npy(&p("bias.npy"), &[4], &[0.25, 0.0, -0.5, 1.0]);
    npy(&p("input.npy"), &[6], &[1.0, 0.0, 2.0, 0.5, 0.0, 1.0]);
    let before = std::fs::read(p("bias.npy")).unwrap();
    let dir = s(".");
    let o = eie(&[
        "export",
        "--weights",
        &s("w.npy"),
        "--bias",
        &s("bias.npy"),
        "--input",
        &s("input.npy"),
        "--out",
        &dir,
    ]);
    assert!(!o.status.success());
    no_panic(&o);
    assert!(err(&o).contains("input of this run"), "{}", err(&o));
    assert_eq!(
        std::fs::read(p("bias.npy")).unwrap(),
        before,
        "an input was changed"
    );
    // Into a folder of its own: with a bias, then without; the second removes the first's bias files.
    let out = s("out");
    let ok = |args: &[&str]| {
        let o = eie(args);
        assert!(o.status.success(), "{}", err(&o));
    };
    ok(&[
        "export",
        "--weights",
        &s("w.npy"),
        "--bias",
        &s("bias.npy"),
        "--out",
        &out,
    ]);
    assert!(p("out/bias.npy").is_file() && p("out/bias_codes.npy").is_file());
    std::fs::write(p("out/notes.txt"), "mine").unwrap();
    ok(&["export", "--weights", &s("w.npy"), "--out", &out]);
    assert!(
        !p("out/bias.npy").exists() && !p("out/bias_codes.npy").exists(),
        "stale bias left"
    );
    assert!(p("out/meta.json").is_file() && p("out/notes.txt").is_file());
    let left: Vec<String> = std::fs::read_dir(p("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.starts_with(".eie-export"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn closed_or_full_stdout_ends_quietly_with_a_failure() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eie"))
        .args([
            "layers", "--layer", "NT-We", "--layer", "NT-LSTM", "--format", "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdout closed before anything is written (as `| head -c 0` does; building the layers takes longer).
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    no_panic(&o);
    assert!(!o.status.success());
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_eie"))
            .args(["layers", "--layer", "NT-We"])
            .stdout(full)
            .output()
            .unwrap();
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1));
        assert!(err(&o).contains("error: writing to stdout"), "{}", err(&o));
    }
}

#[test]
fn a_users_layer_named_like_the_papers_gets_no_paper_numbers() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path().join("w.npy");
    npy(&w, &[4, 6], &[0.5, -1.0, 0.0, 2.0, 0.0, 1.5].repeat(4));
    let o = eie(&[
        "layers",
        "--weights",
        w.to_str().unwrap(),
        "--name",
        "Alex-7",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["name"], "Alex-7");
    assert!(v[0]["paper"].is_null(), "{}", v[0]["paper"]);
    let o = eie(&[
        "simulate",
        "--weights",
        w.to_str().unwrap(),
        "--name",
        "Alex-7",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v[0]["paper_actual_us"].is_null());
    // The built-in layer keeps them.
    let o = eie(&["simulate", "--layer", "Alex-7", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["paper_actual_us"], 12.2);
}

#[test]
fn the_layers_widths_reach_the_model_or_are_refused() {
    let o = eie(&["simulate", "--layer", "NT-We", "--bits", "2"]);
    assert!(!o.status.success());
    no_panic(&o);
    assert!(
        err(&o).contains("sram-width") && err(&o).contains("2-bit"),
        "{}",
        err(&o)
    );
    let config = |extra: &[&str]| {
        let mut a = vec![
            "simulate",
            "--layer",
            "NT-We",
            "--sram-width",
            "60",
            "--format",
            "json",
        ];
        a.extend(extra);
        let o = eie(&a);
        assert!(o.status.success(), "{}", err(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0]["simulation"]["config"].clone()
    };
    // The model reads 2 + 4-bit entries for a layer compressed with 2-bit weights, 4 + 3 with 3-bit indices.
    let c = config(&["--bits", "2"]);
    assert_eq!(
        (c["weight_bits"].as_u64(), c["index_bits"].as_u64()),
        (Some(2), Some(4))
    );
    let c = config(&["--index-bits", "2"]);
    assert_eq!(
        (c["weight_bits"].as_u64(), c["index_bits"].as_u64()),
        (Some(4), Some(2))
    );
    // --set does not depend on the order of other options.
    let a = eie(&[
        "simulate",
        "--layer",
        "NT-We",
        "--set",
        "fifo_depth=4",
        "--pes",
        "32",
        "--format",
        "json",
    ]);
    let b = eie(&[
        "simulate",
        "--layer",
        "NT-We",
        "--pes",
        "32",
        "--set",
        "fifo_depth=4",
        "--format",
        "json",
    ]);
    assert!(a.status.success() && b.status.success(), "{}", err(&a));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn absurd_threads_are_capped_and_said() {
    let o = eie(&[
        "measure",
        "--layer",
        "NT-We",
        "--backend",
        "cpu-eie-f32",
        "--threads",
        "1000",
        "--budget-ms",
        "5",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("warning: --threads 1000"), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(v[0]["threads"].as_u64(), Some(cpus));
    let o = eie(&["measure", "--layer", "NT-We", "--threads", "100000"]);
    assert!(!o.status.success() && err(&o).contains("--threads 100000"));
}

#[test]
fn values_beyond_f32_are_refused_and_subnormal_ones_validate() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    npy(
        Path::new(&p("w.npy")),
        &[2, 3],
        &[1.0, 0.5, 0.0, -1.0, 0.25, 2.0],
    );
    npy(Path::new(&p("big.npy")), &[3], &[3e38, 3e38, 3e38]);
    npy(Path::new(&p("tiny.npy")), &[3], &[1e-40, 3e-41, 2e-45]);
    let o = eie(&[
        "validate",
        "--weights",
        &p("w.npy"),
        "--input",
        &p("big.npy"),
        "--backend",
        "cpu-dense-f32",
    ]);
    assert!(!o.status.success());
    no_panic(&o);
    assert!(err(&o).contains("beyond f32's range"), "{}", err(&o));
    let o = eie(&[
        "validate",
        "--weights",
        &p("w.npy"),
        "--input",
        &p("tiny.npy"),
        "--backend",
        "cpu-dense-f32",
        "--backend",
        "cpu-eie-f32",
        "--backend",
        "sprs-csr-f32",
    ]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        err(&o)
    );
}

#[test]
fn batches_that_need_absurd_memory_are_refused_up_front() {
    for args in [
        &[
            "measure",
            "--layer",
            "NT-We",
            "--backend",
            "cpu-eie-f32",
            "--batch",
            "1000000000",
        ][..],
        &[
            "validate",
            "--layer",
            "NT-We",
            "--backend",
            "cpu-eie-f32",
            "--batch",
            "100000000",
        ][..],
    ] {
        let o = eie(args);
        assert!(!o.status.success());
        no_panic(&o);
        assert!(
            err(&o).contains("GiB") && err(&o).contains("--batch"),
            "{}",
            err(&o)
        );
    }
}
