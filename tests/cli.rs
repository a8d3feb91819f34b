//! The `eie` command end to end: tables, determinism, export, and bad input getting clear errors.

use std::path::Path;
use std::process::{Command, Output};

fn eie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eie"))
        .args(args)
        .output()
        .expect("run eie")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with a clear error: exit code 1, an `error:` line naming `needle`, no panic.
fn assert_clear_error(args: &[&str], needle: &str) {
    let o = eie(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.contains("error:") && err.contains(needle),
        "{args:?}: expected '{needle}' in {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn layers_json_has_the_documented_fields() {
    let o = eie(&[
        "layers", "--layer", "NT-We", "--layer", "nt-lstm", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for field in [
        "name",
        "inputs",
        "outputs",
        "weight_density",
        "act_density",
        "nnz",
        "padding_entries",
        "eie_bytes",
        "dense_f32_bytes",
        "content_hash",
    ] {
        assert!(
            rows.iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    assert_eq!(rows[0]["name"], "NT-We");
    assert_eq!(
        (rows[1]["inputs"].as_u64(), rows[1]["outputs"].as_u64()),
        (Some(1201), Some(2400))
    );
}

#[test]
fn two_runs_print_the_same_hashes() {
    let run = || {
        stdout(&eie(&[
            "layers", "--layer", "NT-LSTM", "--layer", "NT-Wd", "--format", "csv",
        ]))
    };
    let (a, b) = (run(), run());
    assert!(a.starts_with("Layer,\"Size (in, out)\""), "{a}");
    assert_eq!(a, b);
    // The hash does not depend on the PE count; the layout does.
    let pes32 = stdout(&eie(&[
        "layers", "--layer", "NT-LSTM", "--pes", "32", "--format", "json",
    ]));
    let pes64 = stdout(&eie(&["layers", "--layer", "NT-LSTM", "--format", "json"]));
    let v32: serde_json::Value = serde_json::from_str(&pes32).unwrap();
    let v64: serde_json::Value = serde_json::from_str(&pes64).unwrap();
    assert_eq!(v32[0]["content_hash"], v64[0]["content_hash"]);
    assert_ne!(v32[0]["padding_entries"], v64[0]["padding_entries"]);
}

#[test]
fn markdown_table_shows_paper_values() {
    let o = eie(&["layers", "--layer", "Alex-7"]);
    let out = stdout(&o);
    assert!(
        out.contains("| Alex-7") && out.contains("9.0 (9.0)") && out.contains("35.3 (35.3)"),
        "{out}"
    );
}

fn read_npy<T: ndarray_npy::ReadableElement>(dir: &Path, name: &str) -> ndarray::ArrayD<T> {
    ndarray_npy::read_npy(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What `eie export` writes, read back by an independent .npy reader, reproduces the layer's output.
#[test]
fn export_round_trips_through_an_independent_reader() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nt-lstm");
    let o = eie(&[
        "export",
        "--layer",
        "NT-LSTM",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let indptr = read_npy::<i64>(&out, "csr_indptr.npy");
    let indices = read_npy::<i32>(&out, "csr_indices.npy");
    let data = read_npy::<f32>(&out, "csr_data.npy");
    let input = read_npy::<f32>(&out, "input.npy");
    let bias = read_npy::<f32>(&out, "bias.npy");
    let y = read_npy::<f64>(&out, "output_f64.npy");
    assert_eq!(indptr.len(), 2401);
    for i in 0..2400 {
        let (a, b) = (indptr[[i]] as usize, indptr[[i + 1]] as usize);
        let s: f64 = (a..b)
            .map(|p| data[[p]] as f64 * input[[indices[[p]] as usize]] as f64)
            .sum::<f64>()
            + bias[[i]] as f64;
        assert!((s - y[[i]]).abs() <= 1e-12 * (1.0 + s.abs()), "row {i}");
    }
    // The per-PE EIE arrays decode to the same non-zeros.
    let v = read_npy::<u8>(&out, "eie_v.npy");
    let pe_ptr = read_npy::<i64>(&out, "eie_pe_ptr.npy");
    let col_ptr = read_npy::<u32>(&out, "eie_col_ptr.npy");
    assert_eq!(col_ptr.shape(), &[64, 1203]); // 1201 inputs + the bias column, plus one
    assert_eq!(pe_ptr[[64]] as usize, v.len());
    let real = v.iter().filter(|&&x| x != 0).count();
    let bias_nnz = bias.iter().filter(|&&b| b != 0.0).count();
    assert_eq!(real, data.len() + bias_nnz);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["pes"], 64);
    assert_eq!(meta["outputs"], 2400);
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("not.npy"), "hello").unwrap();
    eie_compress::npy::write(
        Path::new(&p("w.npy")),
        &[2, 3],
        &[1.0f32, 0.0, 2.0, 0.0, 3.0, 4.0],
    )
    .unwrap();
    eie_compress::npy::write(Path::new(&p("d.npy")), &[2, 3], &[1.0f64; 6]).unwrap();
    eie_compress::npy::write(Path::new(&p("r3.npy")), &[1, 2, 3], &[1.0f32; 6]).unwrap();
    eie_compress::npy::write(
        Path::new(&p("nan.npy")),
        &[2, 3],
        &[1.0f32, f32::NAN, 2.0, 0.0, 3.0, 4.0],
    )
    .unwrap();
    eie_compress::npy::write(Path::new(&p("b5.npy")), &[5], &[1.0f32; 5]).unwrap();
    eie_compress::npy::write::<f32>(Path::new(&p("zero.npy")), &[0, 3], &[]).unwrap();

    assert_clear_error(&["layers", "--weights", &p("missing.npy")], "missing.npy");
    assert_clear_error(&["layers", "--weights", &p("not.npy")], "not a .npy file");
    assert_clear_error(&["layers", "--weights", &p("d.npy")], "float64");
    assert_clear_error(&["layers", "--weights", &p("r3.npy")], "must be 2-D");
    assert_clear_error(&["layers", "--weights", &p("nan.npy")], "NaN");
    assert_clear_error(&["layers", "--weights", &p("zero.npy")], "empty dimension");
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--bias", &p("b5.npy")],
        "b5.npy has 5 entries",
    );
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--input", &p("b5.npy")],
        "but weights",
    );
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--density", "1.5"],
        "weight density",
    );
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--density", "0"],
        "weight density",
    );
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--bits", "9"],
        "weight bits",
    );
    assert_clear_error(
        &["layers", "--weights", &p("w.npy"), "--bits", "0"],
        "weight bits",
    );
    assert_clear_error(&["layers", "--layer", "Alex-9"], "unknown layer 'Alex-9'");
    assert_clear_error(&["layers", "--layer", "NT-We", "--pes", "0"], "PE count");
    assert_clear_error(
        &[
            "export",
            "--layer",
            "NT-We",
            "--layer",
            "NT-Wd",
            "--out",
            &p("x"),
        ],
        "exactly one",
    );
    // Unparseable flags are clap's usage errors (exit 2), also without a panic.
    let o = eie(&["layers", "--bits", "300"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bits"));
}

#[test]
fn loaded_layer_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("tiny.npy");
    eie_compress::npy::write(&w, &[2, 3], &[1.0f32, 0.0, 2.0, 0.0, 3.0, 4.0]).unwrap();
    let o = eie(&[
        "layers",
        "--weights",
        w.to_str().unwrap(),
        "--no-relu",
        "--format",
        "json",
        "--pes",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], "tiny");
    assert_eq!(v[0]["nnz"], 4);
    assert_eq!(v[0]["sharing"]["method"], "exact");
}

#[test]
fn adapters_lists_what_wgpu_finds() {
    let o = eie(&["adapters", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let adapters = v["adapters"].as_array().unwrap();
    // Either an adapter was chosen and is among those listed, or the error says why.
    match v["chosen"]["name"].as_str() {
        Some(name) => assert!(adapters.iter().any(|a| a["name"] == name)),
        None => assert!(v["error"].as_str().is_some_and(|e| !e.is_empty())),
    }
}

/// `--rounding nearest`: every fixed-point backend (CPU, the kernel on EIE's bytes, GPU where there is
/// one) and the model follow it bit for bit, say so in their records, and validate's last table gives
/// both roundings' error against f64, nearest marked as used and smaller than floor's.
#[test]
fn validate_in_round_to_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("r.jsonl");
    let o = eie(&[
        "validate",
        "--layer",
        "Alex-8",
        "--rounding",
        "nearest",
        "--batch",
        "1",
        "--batch",
        "7",
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "cpu-eie-paper-fixed",
        "--backend",
        "gpu-eie-fixed",
        "--backend",
        "eie-model",
        "--save",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    let row = md
        .lines()
        .find(|l| l.starts_with("| Alex-8") && l.contains("(used)"))
        .unwrap_or_else(|| panic!("no rounding row in {md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | Layer | LSB | floor max | floor mean | nearest max | nearest mean |
    assert!(cells[5].ends_with("(used)"), "{row}");
    let num = |c: &str| c.trim_end_matches(" (used)").parse::<f64>().unwrap();
    assert!(
        num(cells[5]) < num(cells[3]),
        "nearest errs less than floor: {row}"
    );
    assert!(num(cells[4]) < 0.0, "floor's mean error is negative: {row}");
    let text = std::fs::read_to_string(&rec).unwrap();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let ran = r["check"]["unavailable"].is_null();
        if ran {
            assert_eq!(r["check"]["ok"], true, "{line}");
            assert!(
                r["detail"].as_str().unwrap().contains("nearest rounding"),
                "{line}"
            );
        }
    }
}
