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

/// The real FC8 is its published 4-bit codebook: `--bits 2` on it is refused when it is named and left
/// out, with a warning, from the default set; never silently ignored.
#[test]
fn bits_on_the_real_layer_are_refused_not_ignored() {
    if eie_compress::real::real_fc8_dir().is_none() {
        eprintln!("skipped: no real FC8 data (EIE_DATA_DIR)");
        return;
    }
    let o = eie(&["layers", "--layer", "alexnet-fc8-real", "--bits", "2"]);
    assert!(!o.status.success());
    no_panic(&o);
    assert!(
        err(&o).contains("--bits 2 cannot re-share it"),
        "{}",
        err(&o)
    );
    let o = eie(&["layers", "--layer", "alexnet-fc8-real", "--bits", "4"]);
    assert!(o.status.success(), "{}", err(&o));
}

/// Fixed-point range choices are shown, and saturation that changes outputs is a warning beside the
/// (still bit-exact) pass, on stderr and in the check's record.
#[test]
fn fixed_point_clamping_and_saturation_are_said() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    npy(
        Path::new(&p("w.npy")),
        &[2, 3],
        &[1000.0, 2000.0, -1500.0, 500.0, 1000.0, 3000.0],
    );
    npy(Path::new(&p("x.npy")), &[3], &[30.0, 20.0, 10.0]);
    let o = eie(&[
        "validate",
        "--weights",
        &p("w.npy"),
        "--input",
        &p("x.npy"),
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "cpu-eie-f32",
        "--batch",
        "1",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("clamped: 65000 needs -1"), "{e}");
    assert!(e.contains("2 of 2 outputs saturate at +-32767"), "{e}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warning = |backend: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["backend"] == backend)
            .and_then(|r| r["check"]["warning"].as_str().map(String::from))
    };
    assert!(warning("cpu-eie-fixed").is_some_and(|w| w.contains("saturate")));
    // f32 has the range: no warning there.
    assert_eq!(warning("cpu-eie-f32"), None);

    // Values so small that 30 fraction bits hold them with bits to spare lost: the layers table says so.
    npy(
        Path::new(&p("tiny.npy")),
        &[2, 3],
        &[1e-12, 2e-12, -1.5e-12, 5e-13, 1e-12, 3e-12],
    );
    let o = eie(&["layers", "--weights", &p("tiny.npy")]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("weight format: 30 fraction bits (clamped"),
        "{}",
        err(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("30 / "));
}

/// `--cold` honours `--budget-ms`: the copies it rotates over are prepared within the budget, and a cold
/// measurement that could not prepare them all says it is partly warm.
#[test]
fn cold_runs_keep_to_the_budget_and_say_when_they_are_partly_warm() {
    let o = eie(&[
        "measure",
        "--layer",
        "NT-We",
        "--backend",
        "cpu-eie-f32",
        "--cold",
        "--budget-ms",
        "1",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let copies = v[0]["timing"]["copies"].as_u64().unwrap();
    // NT-We is ~0.3 MB: twice any last-level cache needs dozens of copies, far more than 0.5 ms prepares.
    assert!(copies < 16, "{copies} copies");
    assert!(err(&o).contains("partly warm"), "{}", err(&o));
}

/// A file-size limit (`ulimit -f`) makes writes fail: the command says which file, exits 1, and leaves
/// no truncated file under a final name, no temporary file, and no half record in a `--save` file.
#[cfg(unix)]
#[test]
fn a_file_size_limit_leaves_nothing_half_written() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let w: Vec<f32> = (0..600 * 500u64)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0)
        .collect();
    npy(Path::new(&p("w.npy")), &[600, 500], &w);
    let limited = |kib: u32, args: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -f {kib} && exec {} {args}",
                env!("CARGO_BIN_EXE_eie")
            ))
            .output()
            .expect("run bash")
    };
    // The complete export, for comparison.
    let o = eie(&["export", "--weights", &p("w.npy"), "--out", &p("full")]);
    assert!(o.status.success(), "{}", err(&o));
    // csr_data.npy is ~1.2 MB: past a 1000 KiB limit.
    let o = limited(
        1000,
        &format!("export --weights {} --out {}", p("w.npy"), p("cut")),
    );
    assert!(!o.status.success());
    no_panic(&o);
    assert!(err(&o).contains("File too large"), "{}", err(&o));
    assert_whole_or_absent(Path::new(&p("cut")), Path::new(&p("full")));

    let save = p("r.jsonl");
    let args = format!(
        "validate --weights {} --backend cpu-eie-f32 --batch 1 --save {save}",
        p("w.npy")
    );
    assert!(limited(1000, &args).status.success());
    let before = std::fs::read(&save).unwrap();
    let o = limited(0, &args);
    assert!(!o.status.success());
    assert!(err(&o).contains("appending records"), "{}", err(&o));
    assert_eq!(std::fs::read(&save).unwrap(), before, "half a record left");
}

/// Every file of `cut` has a final name only when it is the whole file (`full` holds the complete output),
/// and no temporary file or folder of a finished run is left.
fn assert_whole_or_absent(cut: &Path, full: &Path) {
    let Ok(entries) = std::fs::read_dir(cut) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".eie-manifest") {
            continue;
        }
        assert!(!name.starts_with('.'), "temporary {name} left in {cut:?}");
        assert_eq!(
            std::fs::read(e.path()).unwrap(),
            std::fs::read(full.join(&name)).unwrap(),
            "{name} is not the whole file"
        );
    }
}

/// Ctrl-C at any moment of an export leaves only whole files under final names; the temporary folder it
/// could not remove is removed by the next run into that folder.
#[cfg(unix)]
#[test]
fn ctrl_c_during_an_export_leaves_only_whole_files() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let w: Vec<f32> = (0..1500 * 1200u64)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0)
        .collect();
    npy(Path::new(&p("w.npy")), &[1500, 1200], &w);
    let args = |out: &str| {
        [
            "export".to_string(),
            "--weights".into(),
            p("w.npy"),
            "--density".into(),
            "0.5".into(),
            "--out".into(),
            p(out),
        ]
    };
    let o = Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args("full"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let mut interrupted = 0;
    for delay_ms in [20u64, 60, 120, 200, 300, 450, 700] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eie"))
            .args(args("cut"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        interrupted += usize::from(!status.success());
        let Ok(entries) = std::fs::read_dir(p("cut")) else {
            continue;
        };
        for e in entries {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // the temporary folder of the killed run (checked below)
            }
            assert_eq!(
                std::fs::read(Path::new(&p("cut")).join(&name)).unwrap(),
                std::fs::read(Path::new(&p("full")).join(&name)).unwrap(),
                "{name} is not the whole file after Ctrl-C at {delay_ms} ms"
            );
        }
    }
    assert!(
        interrupted > 0,
        "no run was interrupted: the test saw nothing"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args("cut"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_whole_or_absent(Path::new(&p("cut")), Path::new(&p("full")));
}

/// `EIE_REQUIRE_GPU=1` means it in every command that was asked for a GPU backend; and without it, a run
/// in which every backend asked for was unavailable checked nothing and does not pass.
#[test]
fn a_run_without_its_gpu_does_not_pass() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("r");
    let run = |args: &[&str], require: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eie"));
        c.args(args).env("EIE_ADAPTER", "no-such-adapter");
        if require {
            c.env("EIE_REQUIRE_GPU", "1");
        } else {
            c.env_remove("EIE_REQUIRE_GPU");
        }
        c.output().unwrap()
    };
    let gpu_and_cpu = [
        "validate",
        "--layer",
        "NT-We",
        "--backend",
        "gpu-eie-f32",
        "--backend",
        "cpu-eie-f32",
        "--batch",
        "1",
    ];
    let o = run(&gpu_and_cpu, true);
    assert!(!o.status.success());
    no_panic(&o);
    assert!(
        err(&o).contains("EIE_REQUIRE_GPU=1, but gpu-eie-f32"),
        "{}",
        err(&o)
    );
    // Without the requirement the CPU check passes and the GPU one is listed as unavailable.
    let o = run(&gpu_and_cpu, false);
    assert!(o.status.success(), "{}", err(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("unavailable: no GPU adapter"));
    let o = run(&gpu_and_cpu[..5], false);
    assert!(!o.status.success());
    assert!(err(&o).contains("nothing was checked"), "{}", err(&o));
    let o = run(
        &[
            "report",
            "--layer",
            "NT-We",
            "--backend",
            "gpu-eie-f32",
            "--budget-ms",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        true,
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("EIE_REQUIRE_GPU=1"), "{}", err(&o));
}

/// The second sweep of hostile cases: one member of each class found after the first.
#[cfg(unix)]
#[test]
fn second_sweep_classes_end_in_clear_errors_and_leave_files_alone() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let w: Vec<f32> = (0..32 * 48).map(|i| ((i % 5) as f32 - 2.0) * 0.1).collect();
    npy(Path::new(&p("w.npy")), &[32, 48], &w);
    let before = std::fs::read(p("w.npy")).unwrap();

    // --save onto an input (any file that is not records) is refused and the file is unchanged.
    let o = eie(&["simulate", "--weights", &p("w.npy"), "--save", &p("w.npy")]);
    assert!(!o.status.success());
    assert!(err(&o).contains("not a records file"), "{}", err(&o));
    assert_eq!(std::fs::read(p("w.npy")).unwrap(), before);

    // An export refused part-way (an input among its outputs) writes nothing at all.
    std::fs::create_dir(p("d1")).unwrap();
    std::fs::copy(p("w.npy"), p("d1/weights.npy")).unwrap();
    npy(Path::new(&p("d1/bias.npy")), &[32], &[0.1; 32]);
    let o = eie(&[
        "export",
        "--weights",
        &p("d1/weights.npy"),
        "--bias",
        &p("d1/bias.npy"),
        "--out",
        &p("d1"),
    ]);
    assert!(!o.status.success());
    no_panic(&o);
    let mut names: Vec<String> = std::fs::read_dir(p("d1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bias.npy", "weights.npy"],
        "the refused export wrote"
    );

    // A report and an export share a folder without removing each other's files.
    let o = eie(&["export", "--weights", &p("w.npy"), "--out", &p("s")]);
    assert!(o.status.success(), "{}", err(&o));
    let exported = std::fs::read_dir(p("s")).unwrap().count();
    let o = eie(&[
        "validate",
        "--weights",
        &p("w.npy"),
        "--backend",
        "cpu-csr-f32",
        "--batch",
        "1",
        "--save",
        &p("r.jsonl"),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let o = eie(&["report", &p("r.jsonl"), "--out", &p("s")]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::read_dir(p("s")).unwrap().count() > exported);
    let o = eie(&["export", "--weights", &p("w.npy"), "--out", &p("s")]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(Path::new(&p("s/report.md")).exists() && Path::new(&p("s/meta.json")).exists());

    // A FIFO is not a file: refused at once, never waited on.
    assert!(
        Command::new("mkfifo")
            .arg(p("f.npy"))
            .status()
            .unwrap()
            .success()
    );
    let o = eie(&["layers", "--weights", &p("f.npy")]);
    assert!(!o.status.success());
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));

    // Names: two layers of one name in a run, or an empty name, are refused.
    let o = eie(&[
        "simulate",
        "--layer",
        "NT-We",
        "--weights",
        &p("w.npy"),
        "--name",
        "NT-We",
    ]);
    assert!(!o.status.success() && err(&o).contains("two layers named 'NT-We'"));
    let o = eie(&["layers", "--weights", &p("w.npy"), "--name", ""]);
    assert!(!o.status.success() && err(&o).contains("--name"));

    // A sweep refuses the option it varies.
    let o = eie(&[
        "sweep",
        "fifo",
        "--fifo",
        "4",
        "--weights",
        &p("w.npy"),
        "--out",
        &p("sw"),
    ]);
    assert!(!o.status.success() && err(&o).contains("--fifo sets fifo_depth"));

    // Records whose times are impossible are refused with file:line.
    let text = std::fs::read_to_string(p("r.jsonl")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    v["timing"] =
        serde_json::json!({"source": "harness", "wall": {"median_us": -5.0}, "samples": 3});
    std::fs::write(p("bad.jsonl"), format!("{v}\n")).unwrap();
    let o = eie(&["report", &p("bad.jsonl"), "--out", &p("rb")]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("bad.jsonl:1") && err(&o).contains("positive"),
        "{}",
        err(&o)
    );

    // A bias far from the weights' codebook is coded with it, and said.
    npy(Path::new(&p("b5.npy")), &[32], &[5.0; 32]);
    let o = eie(&["layers", "--weights", &p("w.npy"), "--bias", &p("b5.npy")]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("the bias is coded with the weights'"),
        "{}",
        err(&o)
    );

    // stderr that cannot be written: a failure exit, not a panic's 101.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let o = Command::new(env!("CARGO_BIN_EXE_eie"))
            .args(["layers", "--weights", &p("nothing.npy")])
            .stderr(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
    }
}

/// Options past their documented ranges are refused up front, naming the option and the range, before any
/// measurement starts.
#[test]
fn options_past_their_ranges_are_refused_up_front() {
    let empty = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec!["measure", "--layer", "NT-We", "--budget-ms", "600000000"],
            "--budget-ms 600000000",
        ),
        (
            vec![
                "simulate",
                "--layer",
                "NT-We",
                "--fifo",
                "18446744073709551615",
            ],
            "--fifo 18446744073709551615: expected 1 to",
        ),
        (
            vec!["simulate", "--layer", "NT-We", "--clock-mhz", "nan"],
            "--clock-mhz NaN: expected",
        ),
        (
            vec![
                "report",
                "--layer",
                "NT-We",
                "--from-criterion",
                "--criterion-dir",
                empty.path().to_str().unwrap(),
            ],
            "no criterion results",
        ),
    ] {
        let o = eie(&args);
        assert!(!o.status.success(), "{args:?}");
        no_panic(&o);
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
    }
}
