//! `eie net`'s output: Markdown (tables and notes), CSV (the tables, a blank line between them) or JSON
//! (the whole [`NetReport`]).

use super::NetReport;
use super::backends::BackendRun;
use crate::table::{Format, Table};
use anyhow::Result;
use eie_bench::backend_id::Arith;

/// Samples listed by number before the rest are only counted.
const LIST_MAX: usize = 10;

pub fn print(r: &NetReport, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(r)?),
        Format::Csv => {
            let tables = tables(r);
            let parts: Vec<String> = tables.iter().map(|(_, t)| t.csv()).collect();
            print!("{}", parts.join("\n"));
        }
        Format::Md => print!("{}", markdown(r)),
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// Sample numbers, the first [`LIST_MAX`] listed, then a count of the rest.
fn list(samples: &[usize]) -> String {
    if samples.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = samples
        .iter()
        .take(LIST_MAX)
        .map(|s| format!("#{s}"))
        .collect();
    let more = samples.len().saturating_sub(LIST_MAX);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn result(b: &BackendRun) -> String {
    match (&b.unavailable, b.ok) {
        (Some(why), _) => format!("unavailable: {why}"),
        (None, true) => "ok".into(),
        (None, false) => "FAILED".into(),
    }
}

fn tables(r: &NetReport) -> Vec<(&'static str, Table)> {
    let mut out = Vec::new();
    if let Some(s) = &r.stages {
        let mut t = Table::new(&["Stage", "Test accuracy"]);
        for (stage, acc) in &s.accuracies {
            t.push(vec![stage.label().into(), pct(*acc)]);
        }
        out.push(("Deep Compression, stage by stage (test split)", t));
    }
    let mut t = Table::new(&[
        "Backend",
        "Arithmetic",
        "Batch",
        "Samples",
        "Top-1",
        "Differ from f64",
        "Not bit-exact",
        "Max logit error vs f64",
        "Result",
    ]);
    for b in &r.backends {
        let ran = b.unavailable.is_none();
        t.push(vec![
            b.backend.name().into(),
            match b.arithmetic {
                Arith::F32 => "f32".into(),
                Arith::Fixed16 => "16-bit fixed".into(),
            },
            b.batch.to_string(),
            b.samples.to_string(),
            b.accuracy.filter(|_| ran).map_or("-".into(), pct),
            if ran {
                b.differ_from_f64.len().to_string()
            } else {
                "-".into()
            },
            b.not_bit_exact
                .filter(|_| ran)
                .map_or("-".into(), |n| n.to_string()),
            b.max_abs_logit_err
                .filter(|_| ran)
                .map_or("-".into(), |e| format!("{e:.2e}")),
            result(b),
        ]);
    }
    out.push(("Every backend through the whole network", t));
    let mut t = Table::new(&[
        "Layer",
        "Size (in x out)",
        "Weight density",
        "Act. density (f32)",
        "Act. density (16-bit)",
        "Nearest Table III layer",
    ]);
    for l in &r.layers {
        t.push(vec![
            l.name.clone(),
            format!("{} x {}", l.inputs, l.outputs),
            pct(l.weight_density),
            pct(l.act_density_f32),
            pct(l.act_density_fixed),
            l.nearest_table_iii.clone(),
        ]);
    }
    out.push(("Layers and their real input activation density", t));
    let mut t = Table::new(&[
        "Layer",
        "Cycles (mean)",
        "Cycles (min-max)",
        "Time (µs)",
        "Energy (nJ)",
        "Load balance",
        "Passes",
    ]);
    for l in &r.model_layers {
        t.push(vec![
            l.name.clone(),
            format!("{:.1}", l.mean_cycles),
            format!("{}-{}", l.min_cycles, l.max_cycles),
            format!("{:.3}", l.mean_us),
            format!("{:.2}", l.mean_energy_nj),
            pct(l.mean_load_balance),
            l.passes.to_string(),
        ]);
    }
    let m = &r.model_network;
    t.push(vec![
        "layer switches, input load, output store".into(),
        m.extra_cycles.to_string(),
        "-".into(),
        format!("{:.3}", m.extra_cycles as f64 / m.clock_mhz),
        format!("{:.2}", m.extra_energy_nj),
        "-".into(),
        "-".into(),
    ]);
    t.push(vec![
        "whole network".into(),
        format!("{:.1}", m.mean_cycles),
        "-".into(),
        format!("{:.3}", m.mean_us),
        format!("{:.2}", m.mean_energy_nj),
        "-".into(),
        "-".into(),
    ]);
    out.push((
        "The EIE model per inference (mean over every test sample)",
        t,
    ));
    out
}

fn markdown(r: &NetReport) -> String {
    let mut s = format!(
        "# eie net: {}\n\n{} test samples. Every backend runs the compressed network layer by layer (layer i's output, \
         ReLU applied by the layer, is layer i+1's input), feature-major batches, the last partial batch padded \
         with zero samples whose outputs are dropped.\n\n",
        r.network, r.test_samples
    );
    let tables = tables(r);
    for (title, t) in &tables {
        s.push_str(&format!("## {title}\n\n"));
        s.push_str(&t.markdown());
        s.push('\n');
        match *title {
            "Deep Compression, stage by stage (test split)" => {
                if let Some(st) = &r.stages {
                    let dens: Vec<String> = st
                        .layers
                        .iter()
                        .map(|l| format!("{} {}", l.name, pct(l.density)))
                        .collect();
                    s.push_str(&format!(
                        "Weight density per layer: {} (overall {}); {}-bit weights. Storage: dense f32 {} B, EIE \
                         encoding for 64 PEs {} B (entries, pointers, codebooks): compression ratio {:.1}x.\n\n",
                        dens.join(", "),
                        pct(st.overall_density),
                        st.bits,
                        st.dense_bytes,
                        st.eie_bytes,
                        st.compression_ratio
                    ));
                }
            }
            "Every backend through the whole network" => s.push_str(&backend_notes(r)),
            "Layers and their real input activation density" => {
                let relu: Vec<&super::TableIiiRow> =
                    r.table_iii.iter().filter(|t| t.act_density < 1.0).collect();
                let (lo, hi) = relu.iter().fold((f64::MAX, 0.0f64), |(lo, hi), t| {
                    (lo.min(t.act_density), hi.max(t.act_density))
                });
                s.push_str(&format!(
                    "Activation density: the mean fraction of non-zero input activations over the test samples (the \
                     first layer's is the data's own). For context only, Table III's layers are other networks \
                     (AlexNet and VGG-16 on ImageNet, NeuralTalk): their ReLU-fed layers have {:.1}-{:.1} % \
                     non-zero activations ({}), the NeuralTalk layers 100 %.\n\n",
                    lo * 100.0,
                    hi * 100.0,
                    relu.iter()
                        .map(|t| format!("{} {:.1} %", t.name, t.act_density * 100.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            _ => {
                let m = &r.model_network;
                s.push_str(&format!(
                    "{} PEs at {} MHz, the default configuration fitted to each layer's widths{}; each layer simulated \
                     on every test sample's own 16-bit input (the previous layer's real output), means over all {} \
                     samples. Load balance: PE-cycles issuing entries over all PE-cycles.\n\n\
                     **Whole network per inference: {:.1} cycles, {:.3} µs, {:.2} nJ: {:.0} frames/s, {:.3e} \
                     frames/J.**\n\nLayer switch: {}\n\n",
                    m.pes,
                    m.clock_mhz,
                    r.model_layers
                        .iter()
                        .find_map(|l| l.note.as_deref())
                        .map_or(String::new(), |n| format!(" ({n})")),
                    r.test_samples,
                    m.mean_cycles,
                    m.mean_us,
                    m.mean_energy_nj,
                    m.frames_per_s,
                    m.frames_per_j,
                    m.switch_note
                ));
            }
        }
    }
    if r.failures.is_empty() {
        s.push_str("All checks passed.\n");
    } else {
        s.push_str(&format!("**Failed checks:** {}\n", r.failures.join("; ")));
    }
    s
}

fn backend_notes(r: &NetReport) -> String {
    let mut s = format!(
        "References (all {} samples): the compressed network with its decoded weights in f64: top-1 {}; on eie-net's \
         16-bit FixedNetwork ({} fraction bits, fitted to {:.2}; products rounded: {}): top-1 {}, {} of {} outputs \
         saturated, {} wrapped.\n\n",
        r.test_samples,
        pct(r.f64_accuracy),
        r.activation_format.format.frac,
        r.activation_format.max_abs,
        r.rounding,
        pct(r.fixed_accuracy),
        r.fixed_outcome.saturated,
        r.fixed_outcome.outputs,
        r.fixed_outcome.wrapped
    );
    s.push_str(
        "- f32 backends: \"Differ from f64\" counts samples whose prediction differs from the f64 reference; none \
         are expected, and any is a failure.\n",
    );
    let f32_differ: Vec<String> = r
        .backends
        .iter()
        .filter(|b| b.unavailable.is_none() && b.arithmetic == Arith::F32)
        .filter(|b| !b.differ_from_f64.is_empty())
        .map(|b| {
            format!(
                "{} batch {}: {}",
                b.backend,
                b.batch,
                list(&b.differ_from_f64)
            )
        })
        .collect();
    if f32_differ.is_empty() {
        s.push_str("  None does: every f32 backend that ran agrees with f64 on every sample.\n");
    } else {
        s.push_str(&format!(
            "  **Predictions differing from f64:** {}\n",
            f32_differ.join("; ")
        ));
    }
    s.push_str(
        "- Fixed-point backends and the EIE model: \"Not bit-exact\" counts samples whose 16-bit logits differ from \
         eie-net's FixedNetwork in any bit (a failure). The samples whose prediction the 16-bit datapath changes \
         against f64: ",
    );
    s.push_str(&format!("{}.\n", list(&r.fixed_changed)));
    for b in r
        .backends
        .iter()
        .filter(|b| b.unavailable.is_none() && b.arithmetic == Arith::Fixed16)
        .filter(|b| {
            b.differ_from_f64
                != r.fixed_changed[..]
                    .iter()
                    .copied()
                    .filter(|&x| x < b.samples)
                    .collect::<Vec<_>>()
        })
    {
        s.push_str(&format!(
            "  {} batch {} changes other samples: {}.\n",
            b.backend,
            b.batch,
            list(&b.differ_from_f64)
        ));
    }
    if let Some(b) = r
        .backends
        .iter()
        .find(|b| b.unavailable.is_none() && b.samples < r.test_samples)
    {
        s.push_str(&format!(
            "- GPU backends at batch 1 ran the first {} samples only (`--gpu-samples`, one submit per layer and \
             sample); their accuracy is over those.\n",
            b.samples
        ));
    }
    s.push('\n');
    s
}
