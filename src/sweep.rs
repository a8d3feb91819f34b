//! `eie sweep fifo|pes|sram-width|precision`: the paper's design-space explorations (Figs. 8-13) over
//! every layer, in parallel, written as CSV and SVG charts, with a summary table on stdout.

use crate::chart::{Legend, LineChart, Series};
use crate::layer_args::LayerArgs;
use crate::model_args::ModelArgs;
use crate::table::Table;
use anyhow::{Context, Result};
use eie_accel_model::sweep::{SweepKind, SweepRecord, run_point};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The swept parameter.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    /// Activation FIFO depth 1..256 (Fig. 8: load balance).
    Fifo,
    /// PEs 1..256 (Fig. 11 speedup, Fig. 12 real work, Fig. 13 load balance).
    Pes,
    /// SpMat SRAM width 32..512 bits (Fig. 9: reads and read energy).
    SramWidth,
    /// Arithmetic format (Fig. 10, energy side).
    Precision,
}

impl From<Kind> for SweepKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Fifo => SweepKind::Fifo,
            Kind::Pes => SweepKind::Pes,
            Kind::SramWidth => SweepKind::SramWidth,
            Kind::Precision => SweepKind::Precision,
        }
    }
}

/// Flags of `eie sweep`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// What to sweep.
    #[arg(value_enum)]
    pub kind: Kind,
    #[command(flatten)]
    pub layers: LayerArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder for `sweep-<kind>.csv` and the SVG charts.
    #[arg(long, value_name = "DIR", default_value = "report")]
    pub out: PathBuf,
    /// `precision` only: a whole network instead of layers, for Fig. 10's accuracy axis: `builtin`
    /// (LeNet-300-100 on optdigits, re-compressed with retraining per point) or FILE.safetensors:CHAIN (as
    /// in `eie net --weights`; compressed without retraining) with --net-inputs and --net-labels.
    #[arg(long, value_name = "builtin|FILE:CHAIN")]
    pub net: Option<String>,
    /// Test inputs of a --net chain: float32 .npy [samples, features].
    #[arg(long, value_name = "X.npy", requires = "net")]
    pub net_inputs: Option<PathBuf>,
    /// Test labels of a --net chain: .npy [samples] of class numbers.
    #[arg(long, value_name = "y.npy", requires = "net")]
    pub net_labels: Option<PathBuf>,
    /// With --net: append every point as a record to this JSON Lines file (`eie report` draws Fig. 10
    /// from them).
    #[arg(long, value_name = "FILE.jsonl", requires = "net")]
    pub save: Option<PathBuf>,
}

/// A metric of a record, for tables and charts.
struct Metric {
    file: &'static str,
    title: &'static str,
    y: &'static str,
    get: fn(&SweepRecord, &[SweepRecord]) -> f64,
    log2_y: bool,
    legend: Legend,
}

fn speedup(r: &SweepRecord, all: &[SweepRecord]) -> f64 {
    let one = all
        .iter()
        .find(|o| o.layer == r.layer && o.value == "1")
        .map_or(f64::NAN, |o| o.cycles as f64);
    one / r.cycles as f64
}

fn metrics(kind: SweepKind) -> Vec<Metric> {
    match kind {
        SweepKind::Fifo => vec![Metric {
            file: "sweep-fifo",
            title: "Load balance vs FIFO depth (Fig. 8)",
            y: "load balance (%)",
            get: |r, _| r.load_balance * 100.0,
            log2_y: false,
            legend: Legend::LowerLeft,
        }],
        SweepKind::Pes => vec![
            Metric {
                file: "sweep-pes",
                title: "Speedup over 1 PE (Fig. 11)",
                y: "speedup",
                get: speedup,
                log2_y: true,
                legend: Legend::UpperLeft,
            },
            Metric {
                file: "sweep-pes-real-work",
                title: "Real work / total work (Fig. 12)",
                y: "real work (%)",
                get: |r, _| r.real_work_ratio * 100.0,
                log2_y: false,
                legend: Legend::LowerLeft,
            },
            Metric {
                file: "sweep-pes-load-balance",
                title: "Load balance vs PEs, FIFO 8 (Fig. 13)",
                y: "load balance (%)",
                get: |r, _| r.load_balance * 100.0,
                log2_y: false,
                legend: Legend::LowerLeft,
            },
        ],
        SweepKind::SramWidth => vec![
            Metric {
                file: "sweep-sram-width",
                title: "SpMat read energy vs SRAM width (Fig. 9)",
                y: "SpMat read energy (nJ)",
                get: |r, _| r.spmat_energy_nj,
                log2_y: false,
                legend: Legend::UpperLeft,
            },
            Metric {
                file: "sweep-sram-width-reads",
                title: "SpMat reads vs SRAM width (Fig. 9)",
                y: "SpMat reads (thousands)",
                get: |r, _| r.spmat_reads as f64 / 1000.0,
                log2_y: false,
                legend: Legend::UpperRight,
            },
        ],
        SweepKind::Precision => vec![Metric {
            file: "sweep-precision",
            title: "Energy per layer vs arithmetic precision (Fig. 10)",
            y: "energy (nJ)",
            get: |r, _| r.energy_nj,
            log2_y: false,
            legend: Legend::UpperRight,
        }],
    }
}

/// Runs `eie sweep`.
pub fn run(args: Args) -> Result<()> {
    let kind: SweepKind = args.kind.into();
    // The swept parameter's own option would be overwritten at every point: refused, not ignored.
    let own = match args.kind {
        Kind::Fifo => args.model.fifo.is_some().then_some("--fifo"),
        Kind::Pes => args.model.pes.is_some().then_some("--pes"),
        Kind::SramWidth => args.model.sram_width.is_some().then_some("--sram-width"),
        Kind::Precision => None,
    };
    let field = kind.field();
    if let Some(net) = &args.net {
        return run_net(&args, net, own, field);
    }
    if let Some(flag) = own.or_else(|| {
        args.model
            .set
            .iter()
            .any(|s| s.split('=').next().is_some_and(|k| k.trim() == field))
            .then_some("--set")
    }) {
        anyhow::bail!(
            "{flag} sets {field}, which `eie sweep {}` varies over its own values; leave it out",
            kind.name()
        );
    }
    // The layers' codebook and index widths reach the model (as in `eie simulate`).
    let base = args
        .model
        .config_for_widths(args.layers.bits, args.layers.index_bits)?;
    let layers = args.layers.build(base.pes)?;
    // Rows are told apart by layer name: two layers of one name would give rows nobody can tell apart.
    for (i, l) in layers.iter().enumerate() {
        if layers[..i].iter().any(|o| o.name() == l.name()) {
            anyhow::bail!(
                "two layers are named '{}' in this sweep; give the loaded layer another --name",
                l.name()
            );
        }
    }
    let values = kind.values();
    let points: Vec<(usize, usize)> = (0..layers.len())
        .flat_map(|l| (0..values.len()).map(move |v| (l, v)))
        .collect();
    let bar = ProgressBar::new(points.len() as u64).with_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} points, {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("sweep {}", kind.name()));
    let records: Vec<SweepRecord> = points
        .par_iter()
        .map(|&(l, v)| {
            let r = run_point(&layers[l], &base, kind, &values[v]).with_context(|| {
                format!("{} at {} = {}", layers[l].name(), kind.field(), values[v])
            });
            bar.inc(1);
            r
        })
        .collect::<Result<_>>()?;
    bar.finish();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let csv = args.out.join(format!("sweep-{}.csv", kind.name()));
    crate::output::write_atomic(&csv, to_csv(&records).as_bytes())?;
    let mut written = vec![csv];
    for m in metrics(kind) {
        written.push(chart(
            &records,
            &layers
                .iter()
                .map(|l| l.name().to_string())
                .collect::<Vec<_>>(),
            &values,
            &m,
            kind,
            &args.out,
        )?);
        println!("{} ({})\n", m.title, m.y);
        print!("{}", summary(&records, &layers, &values, &m).markdown());
        println!();
    }
    for w in written {
        println!("wrote {}", w.display());
    }
    Ok(())
}

/// `eie sweep precision --net`.
fn run_net(args: &Args, net: &str, own: Option<&str>, field: &str) -> Result<()> {
    if !matches!(args.kind, Kind::Precision) {
        anyhow::bail!(
            "--net sweeps a network's accuracy against precision: use `eie sweep precision --net {net}`"
        );
    }
    let l = &args.layers;
    if !l.layers.is_empty() || l.weights.is_some() {
        anyhow::bail!(
            "--net runs a whole network; --layer and --weights choose single layers: give one or the other"
        );
    }
    if own.is_some()
        || args
            .model
            .set
            .iter()
            .any(|s| s.split('=').next().is_some_and(|k| k.trim() == field))
    {
        anyhow::bail!(
            "--set {field}=...: `eie sweep precision` varies {field} over its own values"
        );
    }
    if (l.bits, l.index_bits, l.rounding) != (4, 4, eie_compress::Rounding::Floor) {
        anyhow::bail!(
            "--net sweeps the weight bits and both roundings itself (4-bit relative indices): leave out --bits, \
             --index-bits and --rounding"
        );
    }
    let base = args.model.config()?;
    crate::net::sweep::run(crate::net::sweep::NetSweep {
        net,
        inputs: args.net_inputs.as_deref(),
        labels: args.net_labels.as_deref(),
        base,
        out: &args.out,
        save: args.save.as_deref(),
    })
}

fn summary(
    records: &[SweepRecord],
    layers: &[eie_compress::CompressedLayer],
    values: &[String],
    m: &Metric,
) -> Table {
    let mut headers: Vec<&str> = vec!["Layer"];
    headers.extend(values.iter().map(String::as_str));
    let mut t = Table::new(&headers);
    for l in layers {
        let mut row = vec![l.name().to_string()];
        for v in values {
            let r = records
                .iter()
                .find(|r| r.layer == l.name() && &r.value == v)
                .expect("every point ran");
            row.push(format!("{:.2}", (m.get)(r, records)));
        }
        t.push(row);
    }
    t
}

fn chart(
    records: &[SweepRecord],
    layers: &[String],
    values: &[String],
    m: &Metric,
    kind: SweepKind,
    out: &Path,
) -> Result<PathBuf> {
    let series = layers
        .iter()
        .map(|name| Series {
            name: name.clone(),
            points: values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    records
                        .iter()
                        .find(|r| &r.layer == name && &r.value == v)
                        .map(|r| (i as f64, (m.get)(r, records)))
                })
                .collect(),
        })
        .collect();
    let path = out.join(format!("{}.svg", m.file));
    LineChart {
        title: m.title,
        x_label: kind.field(),
        y_label: m.y,
        x_ticks: values.to_vec(),
        series,
        log2_y: m.log2_y,
        legend: m.legend,
    }
    .write_svg(&path)?;
    Ok(path)
}

fn to_csv(records: &[SweepRecord]) -> String {
    let mut t = Table::new(&[
        "sweep",
        "layer",
        "value",
        "cycles",
        "actual_us",
        "theoretical_us",
        "load_balance",
        "real_work_ratio",
        "spmat_reads",
        "spmat_read_pj",
        "spmat_energy_nj",
        "arith_energy_nj",
        "energy_nj",
        "power_mw",
        "speedup_over_1pe",
    ]);
    for r in records {
        t.push(vec![
            r.sweep.name().to_string(),
            r.layer.clone(),
            r.value.clone(),
            r.cycles.to_string(),
            format!("{:.4}", r.actual_us),
            format!("{:.4}", r.theoretical_us),
            format!("{:.5}", r.load_balance),
            format!("{:.5}", r.real_work_ratio),
            r.spmat_reads.to_string(),
            format!("{:.3}", r.spmat_read_pj),
            format!("{:.3}", r.spmat_energy_nj),
            format!("{:.3}", r.arith_energy_nj),
            format!("{:.3}", r.energy_nj),
            format!("{:.2}", r.power_mw),
            if r.sweep == SweepKind::Pes {
                format!("{:.3}", speedup(r, records))
            } else {
                String::new()
            },
        ]);
    }
    t.csv()
}
