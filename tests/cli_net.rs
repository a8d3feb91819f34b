//! `eie net` end to end: the built-in network through CPU backends and the EIE model, a user's chain from
//! `.safetensors` with `.npy` inputs and labels, and bad input getting clear errors.

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, TensorView};
use std::path::{Path, PathBuf};
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

#[test]
fn builtin_network_on_cpu_backends_and_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("net.jsonl");
    let o = eie(&[
        "net",
        "--backend",
        "cpu-eie-f32",
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "eie-model",
        "--format",
        "json",
        "--save",
        p(&saved),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["test_samples"], 359);
    let stages = r["stages"]["accuracies"].as_array().unwrap();
    assert_eq!(stages.len(), 6);
    let runs = r["backends"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "3 backends x batch 1 and 64");
    for b in runs {
        assert!(b["unavailable"].is_null(), "{b}");
        assert_eq!(b["ok"], true, "{b}");
        let acc = b["accuracy"].as_f64().unwrap();
        assert!(acc > 0.9, "{b}");
        if b["arithmetic"] == "f32" {
            assert_eq!(b["differ_from_f64"].as_array().unwrap().len(), 0, "{b}");
            assert!((acc - r["f64_accuracy"].as_f64().unwrap()).abs() < 1e-12);
        } else {
            assert_eq!(b["not_bit_exact"], 0, "{b}");
            assert!((acc - r["fixed_accuracy"].as_f64().unwrap()).abs() < 1e-12);
        }
    }
    assert_eq!(r["layers"].as_array().unwrap().len(), 3);
    let m = &r["model_network"];
    assert!(m["mean_cycles"].as_f64().unwrap() > 0.0);
    assert!(m["frames_per_j"].as_f64().unwrap() > 0.0);
    let per_layer: f64 = r["model_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mean_cycles"].as_f64().unwrap())
        .sum();
    let extra = m["extra_cycles"].as_f64().unwrap();
    assert!((per_layer + extra - m["mean_cycles"].as_f64().unwrap()).abs() < 1e-6);
    assert!(r["failures"].as_array().unwrap().is_empty());
    precision_sweep_agrees_with_eie_net(&r, &saved);
}

/// `eie sweep precision --net builtin`: its 16-bit floor point is `eie net`'s 16-bit network (accuracy,
/// and the model's energy, through another code path: the n-bit datapath at n = 16); its records render
/// Fig. 10 in the report, both roundings.
fn precision_sweep_agrees_with_eie_net(net: &serde_json::Value, net_records: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let rec = dir.path().join("r.jsonl");
    let o = eie(&[
        "sweep",
        "precision",
        "--net",
        "builtin",
        "--out",
        p(&out),
        "--save",
        p(&rec),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.contains("## Format (Fig. 10)"), "{md}");
    let csv = std::fs::read_to_string(out.join("sweep-precision-net.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // Fig. 10: float32 + 3 widths x 2 roundings; 6 more weight widths and 3 more densities x 5 formats.
    assert_eq!(rows.len(), 7 + 6 * 5 + 3 * 5, "{csv}");
    let point = |axis: &str, format: &str, rounding: &str| {
        rows.iter()
            .find(|r| r[0] == axis && r[3] == format && r[4] == rounding)
            .unwrap_or_else(|| panic!("{axis} {format} {rounding} in {csv}"))
    };
    let f16 = point("format", "fixed16", "floor");
    let top1: f64 = f16[5].parse().unwrap();
    assert!(
        (top1 - net["fixed_accuracy"].as_f64().unwrap()).abs() < 1e-5,
        "{f16:?}"
    );
    let energy: f64 = f16[12].parse().unwrap();
    let want = net["model_network"]["mean_energy_nj"].as_f64().unwrap();
    assert!(
        (energy - want).abs() < 1e-3 * want,
        "{energy} vs eie net's {want}"
    );
    for r in &rows {
        let (correct, samples): (usize, usize) = (r[6].parse().unwrap(), r[7].parse().unwrap());
        assert!(correct <= samples && samples == 359, "{r:?}");
    }
    for f in [
        "fig10-accuracy.svg",
        "sweep-precision-net-bits.svg",
        "sweep-precision-net-density.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("top-1 accuracy"),
            "{f}"
        );
    }
    let report = dir.path().join("report");
    let o = eie(&["report", p(&rec), p(net_records), "--out", p(&report)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    // eie net's records: one row per backend and batch, each checked.
    assert!(md.contains("## Networks end to end"), "{md}");
    for b in ["cpu-eie-f32", "cpu-eie-fixed", "eie-model"] {
        for batch in [1, 64] {
            let row = format!("| lenet-300-100-optdigits | {b:<13} | {batch:>5} |");
            assert!(md.contains(&row), "{row} in {md}");
        }
    }
    assert!(
        md.contains("## Fig. 10: accuracy vs arithmetic precision"),
        "{md}"
    );
    for row in [
        "| fixed8  | floor",
        "| fixed8  | nearest",
        "| fixed16 | nearest",
    ] {
        assert!(md.contains(row), "{row} in {md}");
    }
    assert!(report.join("fig10-accuracy.svg").is_file());
    assert_eq!(
        std::fs::read_to_string(report.join("fig10-accuracy.csv")).unwrap(),
        csv,
        "the report's points are the sweep's"
    );
}

/// A 6-8-6-3 chain whose weights take few exact values (so 4-bit sharing keeps them), its inputs and
/// labels (every fifth one wrong on purpose); returns the folder, the files and the expected accuracy.
struct UserNet {
    _dir: tempfile::TempDir,
    model: PathBuf,
    x: PathBuf,
    y: PathBuf,
    y_short: PathBuf,
    accuracy: f64,
}

const SAMPLES: usize = 40;

fn weights(rows: usize, cols: usize, seed: usize) -> Vec<f32> {
    const V: [f32; 7] = [0.0, 0.5, -0.25, 1.0, 0.0, -0.5, 0.25];
    (0..rows * cols).map(|k| V[(k * 5 + seed) % 7]).collect()
}

/// A layer of the test chain: weights (row-major), bias, rows, columns.
type TestLayer = (Vec<f32>, Option<Vec<f32>>, usize, usize);

fn forward_f64(layers: &[TestLayer], x: &[f32]) -> Vec<f64> {
    let mut a: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for (l, (w, b, rows, cols)) in layers.iter().enumerate() {
        a = (0..*rows)
            .map(|i| {
                let s: f64 = (0..*cols)
                    .map(|j| f64::from(w[i * cols + j]) * a[j])
                    .sum::<f64>()
                    + b.as_ref().map_or(0.0, |b| f64::from(b[i]));
                if l + 1 < layers.len() { s.max(0.0) } else { s }
            })
            .collect();
    }
    a
}

fn user_net() -> UserNet {
    let dir = tempfile::tempdir().unwrap();
    let layers = vec![
        (weights(8, 6, 1), Some(vec![0.25; 8]), 8, 6),
        (weights(6, 8, 3), None, 6, 8),
        (weights(3, 6, 2), Some(vec![0.5, -0.25, 0.0]), 3, 6),
    ];
    let names = ["fc1", "fc2", "fc3"];
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut owned = Vec::new();
    for (n, (w, b, rows, cols)) in names.iter().zip(&layers) {
        owned.push((format!("{n}.weight"), vec![*rows, *cols], bytes(w)));
        if let Some(b) = b {
            owned.push((format!("{n}.bias"), vec![*rows], bytes(b)));
        }
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    let model = dir.path().join("model.safetensors");
    std::fs::write(&model, safetensors::serialize(views, None).unwrap()).unwrap();
    let x: Vec<f32> = (0..SAMPLES * 6)
        .map(|k| ((k * 37 + 11) % 9) as f32 / 8.0)
        .collect();
    let mut labels = Vec::new();
    let mut right = 0;
    for s in 0..SAMPLES {
        let y = forward_f64(&layers, &x[s * 6..(s + 1) * 6]);
        let mut best = 0;
        for (i, &v) in y.iter().enumerate() {
            if v > y[best] {
                best = i;
            }
        }
        let label = if s % 5 == 0 { (best + 1) % 3 } else { best };
        right += usize::from(label == best);
        labels.push(label as i64);
    }
    let xp = dir.path().join("x.npy");
    let yp = dir.path().join("y.npy");
    let y_short = dir.path().join("y_short.npy");
    ndarray_npy::write_npy(&xp, &Array2::from_shape_vec((SAMPLES, 6), x).unwrap()).unwrap();
    ndarray_npy::write_npy(&yp, &Array1::from_vec(labels.clone())).unwrap();
    ndarray_npy::write_npy(&y_short, &Array1::from_vec(labels[1..].to_vec())).unwrap();
    UserNet {
        accuracy: right as f64 / SAMPLES as f64,
        _dir: dir,
        model,
        x: xp,
        y: yp,
        y_short,
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_users_chain_runs_with_its_inputs_and_labels() {
    let u = user_net();
    let weights = format!("{}:fc1.weight,fc2.weight,fc3.weight", p(&u.model));
    let o = eie(&[
        "net",
        "--weights",
        &weights,
        "--inputs",
        p(&u.x),
        "--labels",
        p(&u.y),
        "--backend",
        "cpu-csr-f32",
        "--backend",
        "cpu-eie-fixed",
        "--backend",
        "eie-model",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["test_samples"], SAMPLES);
    assert!(r["stages"].is_null());
    assert!((r["f64_accuracy"].as_f64().unwrap() - u.accuracy).abs() < 1e-12);
    assert!((u.accuracy - 0.8).abs() < 1e-12);
    for b in r["backends"].as_array().unwrap() {
        assert_eq!(b["ok"], true, "{b}");
        if b["arithmetic"] == "f32" {
            assert!((b["accuracy"].as_f64().unwrap() - u.accuracy).abs() < 1e-12);
        }
    }
    // fc2 has no bias in the file; fc1's and fc3's are found by name.
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers[1]["inputs"], 8);
    // Markdown: the tables and the whole-network line.
    let o = eie(&[
        "net",
        "--weights",
        &weights,
        "--inputs",
        p(&u.x),
        "--labels",
        p(&u.y),
        "--backend",
        "cpu-eie-f32",
        "--batch",
        "7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.contains("| cpu-eie-f32"), "{md}");
    assert!(md.contains("80.00 %"), "{md}");
    assert!(md.contains("Whole network per inference"), "{md}");
    assert!(md.contains("Layer switch"), "{md}");
    // Fig. 10 on the user's chain: compressed as trained, which the title says.
    let out = tempfile::tempdir().unwrap();
    let o = eie(&[
        "sweep",
        "precision",
        "--net",
        &weights,
        "--net-inputs",
        p(&u.x),
        "--net-labels",
        p(&u.y),
        "--out",
        p(out.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.contains("without retraining"), "{md}");
    assert!(md.contains("| float32 | -        | 80.00 %"), "{md}");
}

#[test]
fn precision_sweep_flags_are_checked() {
    assert_clear_error(
        &["sweep", "fifo", "--net", "builtin"],
        &["eie sweep precision --net"],
    );
    assert_clear_error(
        &[
            "sweep",
            "precision",
            "--net",
            "builtin",
            "--layer",
            "Alex-7",
        ],
        &["--layer"],
    );
    assert_clear_error(
        &[
            "sweep",
            "precision",
            "--net",
            "builtin",
            "--rounding",
            "nearest",
        ],
        &["--rounding"],
    );
    assert_clear_error(
        &[
            "sweep",
            "precision",
            "--net",
            "model.safetensors:fc1.weight",
        ],
        &["--net-inputs"],
    );
}

/// Fails with a clear error: exit code 1, an `error:` line naming every needle, no panic.
fn assert_clear_error(args: &[&str], needles: &[&str]) {
    let o = eie(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains("error:"), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected '{n}' in {err}");
    }
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn bad_chains_inputs_and_labels_get_clear_errors() {
    let u = user_net();
    let (m, x, y) = (p(&u.model), p(&u.x), p(&u.y));
    let run = |chain: &str, x: &str, y: &str| {
        vec![
            "net".to_string(),
            "--weights".into(),
            format!("{m}:{chain}"),
            "--inputs".into(),
            x.into(),
            "--labels".into(),
            y.into(),
            "--backend".into(),
            "cpu-eie-f32".into(),
        ]
    };
    let check = |args: Vec<String>, needles: &[&str]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_clear_error(&a, needles);
    };
    // Shapes that do not connect: fc1 gives 8 outputs, fc3 takes 6 inputs.
    check(
        run("fc1.weight,fc3.weight", x, y),
        &["model.safetensors", "fc3.weight", "do not fit"],
    );
    // A tensor the file lacks.
    check(
        run("fc1.weight,fc9.weight,fc3.weight", x, y),
        &["model.safetensors", "fc9.weight"],
    );
    // Labels of the wrong length.
    check(
        run("fc1.weight,fc2.weight,fc3.weight", x, p(&u.y_short)),
        &["y_short.npy", "39 labels", "40 samples"],
    );
    // Inputs of the wrong width for the first layer: the labels file as inputs.
    check(run("fc1.weight,fc2.weight,fc3.weight", y, y), &["y.npy"]);
    // A missing file.
    check(
        run("fc1.weight,fc2.weight,fc3.weight", x, "/nonexistent/y.npy"),
        &["/nonexistent/y.npy"],
    );
    // No chain.
    assert_clear_error(
        &["net", "--weights", m, "--inputs", x, "--labels", y],
        &["FILE.safetensors:WEIGHT"],
    );
}
