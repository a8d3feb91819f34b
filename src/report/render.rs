//! The report as Markdown (stdout and report.md), CSV per table, report.json (the view's records and
//! tables) and the SVG charts of Figs. 6 and 7 (and Fig. 10 where network-accuracy records are given),
//! written atomically into one folder.

use super::tables::{
    bandwidth_table, checks_table, ratio_rows, ratio_table, table_iv, table_v, validation_summary,
};
use super::view::{View, geomean, in_geomean};
use crate::chart::BarChart;
use crate::net::fig10::{self, Axis};
use crate::output::OutDir;
use anyhow::Result;
use eie_bench::record::{Machine, NetAccuracy, Record, TimeSource};

/// What was measured on one machine: its CPU, adapters, bandwidth, power sources, dates, tool commits.
fn machine_line(v: &View, m: &Machine) -> String {
    let rs: Vec<&Record> = v.records.iter().filter(|r| r.machine == *m).collect();
    let mut adapters: Vec<String> = rs
        .iter()
        .filter_map(|r| {
            r.adapter.as_ref().map(|a| {
                format!(
                    "{} ({}, {}, {})",
                    a.name, a.backend, a.driver, a.device_type
                )
            })
        })
        .collect();
    adapters.sort();
    adapters.dedup();
    let mut isas: Vec<String> = rs
        .iter()
        .filter(|r| r.backend.is_cpu_kernel())
        .filter_map(|r| r.isa.clone())
        .collect();
    isas.sort();
    isas.dedup();
    let bw = rs.iter().filter_map(|r| r.bandwidth).collect::<Vec<_>>();
    // One entry per thread count: the value, or the range over the probes of several processes.
    let mut threads: Vec<usize> = bw.iter().map(|b| b.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    let range = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        match (v.first(), v.last()) {
            (Some(a), Some(b)) if (b - a).abs() >= 0.05 => format!("{a:.1}-{b:.1}"),
            (Some(a), _) => format!("{a:.1}"),
            _ => "-".into(),
        }
    };
    let bws: Vec<String> = threads
        .iter()
        .map(|&t| {
            let of: Vec<_> = bw.iter().filter(|b| b.threads == t).collect();
            let mut hot: Vec<f64> = of.iter().map(|b| b.hot_gbps).collect();
            let mut cold: Vec<f64> = of.iter().map(|b| b.cold_gbps).collect();
            format!(
                "{} GB/s in cache, {} GB/s from DRAM on {t} thread(s) (LLC {} MiB{})",
                range(&mut hot),
                range(&mut cold),
                of[0].llc_bytes >> 20,
                if of.len() > 1 {
                    format!(", {} probes", of.len())
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let mut dates: Vec<&str> = rs.iter().map(|r| &r.time[..r.time.len().min(10)]).collect();
    dates.sort_unstable();
    dates.dedup();
    let mut commits: Vec<String> = rs
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.tool.name,
                r.tool.commit.as_deref().unwrap_or(&r.tool.version)
            )
        })
        .collect();
    commits.sort();
    commits.dedup();
    format!(
        "- **{}** ({} logical CPUs, {}; our CPU kernels at ISA level {}); GPU adapters: {}; read bandwidth: {}; \
         measured {}; by {}. {} records.\n",
        m.cpu,
        m.logical_cpus,
        m.os,
        if isas.is_empty() {
            "-".into()
        } else {
            isas.join(", ")
        },
        if adapters.is_empty() {
            "none".into()
        } else {
            adapters.join("; ")
        },
        if bws.is_empty() {
            "not measured".into()
        } else {
            bws.join("; ")
        },
        dates.join(", "),
        commits.join(", "),
        rs.len()
    )
}

/// The time sources present, as a sentence.
fn sources_line(v: &View) -> String {
    let has = |s: TimeSource| {
        v.records
            .iter()
            .any(|r| r.timing.as_ref().is_some_and(|t| t.source == s))
    };
    let mut parts = Vec::new();
    if has(TimeSource::Harness) {
        parts.push(
            "our harness (median of repeated verified runs after warm-up; GPU rows: the timestamp-query time of \
             the compute passes where the adapter can time, else wall time including upload and read-back)",
        );
    }
    if has(TimeSource::Criterion) {
        parts.push("criterion's median estimates (imported; criterion records no power)");
    }
    if has(TimeSource::WallClock) {
        parts.push(
            "wall clock around back-to-back library calls on the CPU (PyTorch, numpy, scipy: scripts/cpu-libs.py; \
             the Python call overhead included, stated in each record)",
        );
    }
    if has(TimeSource::CudaEvents) {
        parts.push(
            "CUDA events around back-to-back library calls (PyTorch, scripts/gpu-libs.py; launches included)",
        );
    }
    format!(
        "Times: {}. Every output was verified against the reference before a time was kept.\n\n",
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    )
}

/// The whole report as Markdown.
pub fn markdown(v: &View) -> String {
    let mut s = String::from(
        "# eie-bench report\n\nRendered from records (`eie report FILE.jsonl...` renders any set of them again, on \
         any machine).\n\n",
    );
    s.push_str("Machines:\n\n");
    for m in &v.machines {
        s.push_str(&machine_line(v, m));
    }
    s.push('\n');
    if v.superseded > 0 {
        s.push_str(&format!(
            "{} records were superseded by later records of the same machine, layer, backend, threads, batch and ISA level.\n\n",
            v.superseded
        ));
    }
    s.push_str(&sources_line(v));
    s.push_str(
        "Power: measured (RAPL, NVML) where a record carries it, else declared (`--cpu-watts`, `--gpu-watts`), \
         else assumed (the paper's Table V power of the same kind of platform); the energy table says which for \
         each row. A GPU adapter that runs on the CPU (lavapipe) is charged the CPU's power.\n\n",
    );
    s.push_str(
        "## Table IV: time per sample, µs\n\nOurs beside the paper's (S1 Table IV). At batch 64 the time of one pass \
         divided by 64, as the paper reports it. Paper numbers attach to a layer by its identity (a built-in layer \
         compressed as the paper did; `alexnet-fc8-real` is the paper's Alex-8), never by its name.\n\n",
    );
    s.push_str(&table_iv(v).markdown());
    s.push_str(
        "\n## Bandwidth: GB/s (share of the machine's read bandwidth)\n\nBytes each backend must read per pass \
         (weights, indices, input) over its time; the share is of the DRAM bandwidth (or the probe interleaved \
         with a `--cold` run) when those bytes exceed the last-level cache, else of the in-cache bandwidth, both \
         measured in the same run. GPUs with their own memory show GB/s alone.\n\n",
    );
    s.push_str(&bandwidth_table(v).markdown());
    s.push_str(
        "\n## Fig. 6: speedup over CPU dense (batch 1)\n\nTime per sample of the same machine's `cpu-dense-f32` at \
         batch 1 over each series'; the paper's rows are over its own CPU dense (i7-5930k, MKL). Chart: \
         fig6-speedup.svg.\n\n",
    );
    s.push_str(&ratio_table(v, false).markdown());
    s.push_str(
        "\n## Fig. 7: energy efficiency over CPU dense (batch 1)\n\nEnergy per sample (power x time) of the same \
         machine's `cpu-dense-f32` at batch 1 over each series'. The EIE model's energy is its own (Table II \
         calibration, 45 nm). Chart: fig7-energy.svg.\n\n",
    );
    s.push_str(&ratio_table(v, true).markdown());
    if let Some(t) = table_v(v) {
        s.push_str("\n## Table V: Alex-7 (AlexNet FC7) frames/s and frames/J\n\n");
        s.push_str(&t.markdown());
    }
    for (i, (name, points)) in networks(v).iter().enumerate() {
        let f = fig10_files(i);
        s.push_str(&format!(
            "\n## Fig. 10: accuracy vs arithmetic precision, {name}\n\nTop-1 accuracy of a whole network on its \
             test samples in each arithmetic (`eie sweep precision --net`), beside the EIE model's cycles and energy \
             per inference with every layer on the activations that arithmetic gives it. Fixed point in both \
             roundings of the products: `floor` (EIE's datapath as modelled) and `nearest`. Chart: {}; every \
             point: {}.\n\n",
            f[0], f[1]
        ));
        s.push_str(&fig10::format_table(points).markdown());
        s.push_str(&format!("\n{}\n", crate::net::sweep::PAPER_FIG10));
        for (axis, what) in [
            (Axis::WeightBits, "weight bits (densities as by default)"),
            (Axis::Density, "weight density (4-bit weights)"),
        ] {
            let t = fig10::axis_table(points, axis);
            if t.rows.len() > 1 {
                s.push_str(&format!("\nTop-1 against {what}:\n\n"));
                s.push_str(&t.markdown());
            }
        }
    }
    if let Some(t) = networks_end_to_end(v) {
        s.push_str(
            "\n## Networks end to end (`eie net --save`)\n\nTop-1 accuracy of a whole network through each backend \
             (layer by layer, real activations), its check (f32: every prediction as f64's; fixed point: bit-exact \
             with the 16-bit reference), and the EIE model per inference.\n\n",
        );
        s.push_str(&t.markdown());
    }
    s.push_str("\n## Validation\n\n");
    s.push_str(&validation_summary(v));
    s.push_str("\nEvery check: validation.csv.\n");
    s
}

/// Writes report.md, the CSVs, report.json and the SVG charts into `out`.
pub fn write(v: &View, out: &mut OutDir) -> Result<()> {
    out.put("report.md", markdown(v).as_bytes())?;
    out.put("table-iv.csv", table_iv(v).csv().as_bytes())?;
    out.put("bandwidth.csv", bandwidth_table(v).csv().as_bytes())?;
    out.put("fig6-speedup.csv", ratio_table(v, false).csv().as_bytes())?;
    out.put("fig7-energy.csv", ratio_table(v, true).csv().as_bytes())?;
    if let Some(t) = table_v(v) {
        out.put("table-v.csv", t.csv().as_bytes())?;
    }
    out.put("validation.csv", checks_table(v).csv().as_bytes())?;
    let json = serde_json::json!({
        "columns": v.columns.iter().map(|c| serde_json::json!({
            "label": c.label, "name": c.name, "hash": c.hash, "paper": c.paper,
        })).collect::<Vec<_>>(),
        "tables": {
            "table_iv": table_json(&table_iv(v)),
            "bandwidth": table_json(&bandwidth_table(v)),
            "fig6_speedup": table_json(&ratio_table(v, false)),
            "fig7_energy": table_json(&ratio_table(v, true)),
            "table_v": table_v(v).map(|t| table_json(&t)),
        },
        "records": v.records,
        "network_accuracy": v.accuracy,
    });
    out.put(
        "report.json",
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    for (i, (_, points)) in networks(v).iter().enumerate() {
        let f = fig10_files(i);
        out.put(&f[1], fig10::csv(points).as_bytes())?;
        fig10::fig10_chart(points, crate::net::sweep::FIG10_TITLE, &out.target(&f[0])?)?;
        fig10::axis_chart(points, Axis::WeightBits, &out.target(&f[2])?)?;
        fig10::axis_chart(points, Axis::Density, &out.target(&f[3])?)?;
    }
    let mut cats: Vec<String> = v.columns.iter().map(|c| c.label.clone()).collect();
    cats.push("Geo. mean".into());
    let mask = in_geomean(&v.columns);
    for (energy, file, title, y) in [
        (
            false,
            "fig6-speedup.svg",
            "Speedup over CPU dense, batch 1 (cf. the paper's Fig. 6)",
            "speedup (log)",
        ),
        (
            true,
            "fig7-energy.svg",
            "Energy efficiency over CPU dense, batch 1 (cf. the paper's Fig. 7)",
            "energy efficiency (log)",
        ),
    ] {
        let series = ratio_rows(v, energy)
            .into_iter()
            .filter(|r| r.batch == 1)
            .map(|r| {
                let mut vals = r.values.clone();
                vals.push(geomean(&r.values, &mask));
                (
                    r.name
                        .trim_start_matches("ours: ")
                        .trim_start_matches("peer: ")
                        .replace(", batch 1", ""),
                    vals,
                )
            })
            .collect();
        let path = out.target(file)?;
        BarChart {
            title,
            y_label: y,
            categories: cats.clone(),
            series,
        }
        .write_svg(&path)?;
    }
    Ok(())
}

/// The network-accuracy points, per network (its name and description), in the order they came.
fn networks(v: &View) -> Vec<(String, Vec<&NetAccuracy>)> {
    let mut out: Vec<(String, Vec<&NetAccuracy>)> = Vec::new();
    for r in &v.accuracy {
        let Some(a) = r.accuracy.as_ref().filter(|a| a.axis != "backend") else {
            continue;
        };
        let name = format!("{} ({})", r.layer.name, a.network);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pts)) => pts.push(a),
            None => out.push((name, vec![a])),
        }
    }
    out
}

/// `eie net`'s records (axis `backend`) as a table, if there are any.
fn networks_end_to_end(v: &View) -> Option<crate::table::Table> {
    let mut t = crate::table::Table::new(&[
        "Network",
        "Backend",
        "Batch",
        "Samples",
        "Top-1",
        "Check",
        "Model µs",
        "Model nJ",
    ]);
    for r in &v.accuracy {
        let Some(a) = r.accuracy.as_ref().filter(|a| a.axis == "backend") else {
            continue;
        };
        let check = r
            .check
            .as_ref()
            .map_or("-", |c| match (&c.unavailable, c.ok) {
                (Some(_), _) => "unavailable",
                (None, true) => "ok",
                (None, false) => "FAILED",
            });
        t.push(vec![
            r.layer.name.clone(),
            r.backend.to_string(),
            r.batch.to_string(),
            a.samples.to_string(),
            format!(
                "{:.2} %",
                100.0 * a.correct as f64 / a.samples.max(1) as f64
            ),
            check.into(),
            a.model_us.map_or("-".into(), |v| format!("{v:.3}")),
            a.model_energy_nj.map_or("-".into(), |v| format!("{v:.2}")),
        ]);
    }
    (!t.rows.is_empty()).then_some(t)
}

/// The files of the `i`th network's Fig. 10: chart, CSV, weight-bits chart, density chart.
fn fig10_files(i: usize) -> [String; 4] {
    let sfx = if i == 0 {
        String::new()
    } else {
        format!("-{}", i + 1)
    };
    [
        format!("fig10-accuracy{sfx}.svg"),
        format!("fig10-accuracy{sfx}.csv"),
        format!("fig10-weight-bits{sfx}.svg"),
        format!("fig10-density{sfx}.svg"),
    ]
}

/// A table as {headers, rows} for report.json.
fn table_json(t: &crate::table::Table) -> serde_json::Value {
    serde_json::json!({ "headers": t.headers, "rows": t.rows })
}
