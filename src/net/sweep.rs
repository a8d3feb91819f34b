//! `eie sweep precision --net`: the paper's Fig. 10 with its accuracy axis, on a whole network.
//!
//! Three axes, every point a network's top-1 accuracy on its test samples beside the EIE model's cycles
//! and energy per inference in the same arithmetic (each layer simulated on every sample's real input in
//! that arithmetic, so a narrower format's extra zeros are skipped as EIE would skip them):
//!
//! - **format** (Fig. 10 proper): 32-bit float, 32-, 16- and 8-bit fixed point, each fixed-point width
//!   with both roundings (`floor`, `nearest`), on the network as compressed by default (the built-in
//!   one: Deep Compression's densities, 4-bit weights);
//! - **weight-bits**: codebooks of 2 to 8 bits at the default densities;
//! - **density**: the default per-layer densities scaled by 1/2, 1, 2 and 4 (at most 100 %), 4-bit
//!   weights.
//!
//! The built-in network is re-compressed for each weight width and density with Deep Compression's
//! retraining (pruning with masked retraining once per density, then k-means sharing and centroid
//! fine-tuning); a user's chain (`--net FILE:CHAIN`) is compressed as trained, without retraining (we
//! have no training data for it), which the output says.

use super::model::model_on;
use super::network::{load_user, widths};
use crate::chart::{DualAxisChart, Legend, Series};
use crate::table::Table;
use anyhow::{Context, Result, bail};
use eie_accel_model::EieConfig;
use eie_bench::backend_id::BackendId;
use eie_bench::record::{LayerRef, NetAccuracy, Record};
use eie_compress::{CompressOptions, Rounding};
use eie_net::{
    Arith, Dataset, DeepCompressionOptions, Digits, FixedNetwork, Mlp, prune_and_retrain,
    run_keeping, share_and_encode,
};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Scales of the default per-layer densities on the density axis.
const DENSITY_SCALES: [f64; 4] = [0.5, 1.0, 2.0, 4.0];
/// Weight bits on the weight-bits axis.
const WEIGHT_BITS: std::ops::RangeInclusive<u8> = 2..=8;
/// The default point: density scale and weight bits.
const DEFAULT: (f64, u8) = (1.0, 4);

/// What `eie sweep precision --net` needs from the command line.
pub struct NetSweep<'a> {
    /// `builtin` or `FILE.safetensors:CHAIN`.
    pub net: &'a str,
    pub inputs: Option<&'a Path>,
    pub labels: Option<&'a Path>,
    /// The model's configuration (precision and widths are set per point).
    pub base: EieConfig,
    pub out: &'a Path,
    pub save: Option<&'a Path>,
}

/// One compressed variant of the network.
struct Variant {
    scale: f64,
    bits: u8,
    network: FixedNetwork,
}

/// One evaluated point.
#[derive(Clone, Debug)]
struct Point {
    scale: f64,
    bits: u8,
    density: f64,
    hash: String,
    arith: Arith,
    rounding: Option<Rounding>,
    correct: usize,
    samples: usize,
    saturated: usize,
    wrapped: usize,
    cycles: f64,
    us: f64,
    energy_nj: f64,
}

impl Point {
    fn accuracy_pct(&self) -> f64 {
        100.0 * self.correct as f64 / self.samples.max(1) as f64
    }
    fn label(&self) -> String {
        match self.rounding {
            Some(r) => format!("{} {r}", self.arith.name()),
            None => self.arith.name(),
        }
    }
}

/// The formats of the weight-bits and density axes: float32, then 16 and 8 bits in both roundings.
fn axis_formats() -> Vec<(Arith, Option<Rounding>)> {
    let mut v = vec![(Arith::Float32, None)];
    for n in [16, 8] {
        for r in Rounding::ALL {
            v.push((Arith::Fixed(n), Some(r)));
        }
    }
    v
}

/// Fig. 10's formats: float32, then 32, 16 and 8 bits in both roundings.
fn fig10_formats() -> Vec<(Arith, Option<Rounding>)> {
    let mut v = vec![(Arith::Float32, None)];
    for a in &Arith::FIG10[1..] {
        for r in Rounding::ALL {
            v.push((*a, Some(r)));
        }
    }
    v
}

/// Non-zero weights over all weights of the network (biases excluded).
fn overall_density(net: &FixedNetwork) -> f64 {
    let (nnz, all) = net.layers().iter().fold((0usize, 0usize), |(n, a), l| {
        (n + l.nnz(), a + l.inputs() * l.outputs())
    });
    nnz as f64 / all.max(1) as f64
}

/// A digest of the layers' content hashes: which network a point ran on.
fn network_hash(net: &FixedNetwork) -> String {
    let mut h = blake3::Hasher::new();
    for l in net.layers() {
        h.update(l.content_hash().as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

/// The built-in network, re-compressed with retraining for every variant the axes need.
fn builtin_variants() -> Result<(String, Dataset, Vec<Variant>)> {
    let digits = Digits::load().context("loading the built-in optdigits data")?;
    let dense = eie_net::builtin_dense(&digits).context("training the built-in network")?;
    let opts = DeepCompressionOptions::lenet_300_100();
    eprintln!(
        "pruning with retraining at {} density scales, then sharing with fine-tuning at {} widths...",
        DENSITY_SCALES.len(),
        WEIGHT_BITS.count()
    );
    let pruned: Vec<(f64, Mlp)> = DENSITY_SCALES
        .par_iter()
        .map(|&scale| {
            let o = DeepCompressionOptions {
                densities: opts
                    .densities
                    .iter()
                    .map(|d| (d * scale).min(1.0))
                    .collect(),
                ..opts.clone()
            };
            let net = prune_and_retrain(&dense, digits.train(), &o)
                .with_context(|| format!("pruning at {scale} x the default densities"))?;
            Ok((scale, net))
        })
        .collect::<Result<_>>()?;
    let wanted = wanted_variants();
    let variants = wanted
        .par_iter()
        .map(|&(scale, bits)| {
            let (_, p) = pruned
                .iter()
                .find(|(s, _)| *s == scale)
                .expect("every scale was pruned");
            let o = DeepCompressionOptions {
                bits,
                ..opts.clone()
            };
            let s = share_and_encode(p, digits.train(), digits.test(), &o).with_context(|| {
                format!("sharing to {bits} bits at {scale} x the default densities")
            })?;
            Ok(Variant {
                scale,
                bits,
                network: s.network,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        "LeNet-300-100 on optdigits (built-in), Deep Compression with retraining".into(),
        digits.test().clone(),
        variants,
    ))
}

/// (density scale, bits) of every variant: the default, the other widths, the other densities.
fn wanted_variants() -> Vec<(f64, u8)> {
    let mut v = vec![DEFAULT];
    v.extend(
        WEIGHT_BITS
            .filter(|&b| b != DEFAULT.1)
            .map(|b| (DEFAULT.0, b)),
    );
    v.extend(
        DENSITY_SCALES
            .iter()
            .filter(|&&s| s != DEFAULT.0)
            .map(|&s| (s, DEFAULT.1)),
    );
    v
}

/// A user's chain, compressed as trained (no retraining): the density axis prunes every layer to
/// `scale x 10 %` of its weights by magnitude (scale 1: 10 %).
fn user_variants(spec: &str, x: &Path, y: &Path) -> Result<(String, Dataset, Vec<Variant>)> {
    let (file, net, test) = load_user(spec, x, y)?;
    let variants = wanted_variants()
        .par_iter()
        .map(|&(scale, bits)| {
            let opts = CompressOptions {
                bits,
                density: Some((0.1 * scale).min(1.0)),
                ..CompressOptions::default()
            };
            let network = eie_net::encode_trained(&net, opts, &test)
                .with_context(|| format!("compressing {} to {bits}-bit weights", file.display()))?;
            Ok(Variant {
                scale,
                bits,
                network,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        format!(
            "{} ({}), pruned by magnitude and shared without retraining",
            file.display(),
            widths(&net)
        ),
        test,
        variants,
    ))
}

/// The accel-model's name of a format.
fn precision_name(a: Arith) -> Result<&'static str> {
    Ok(match a {
        Arith::Float32 => "float32",
        Arith::Fixed(32) => "fixed32",
        Arith::Fixed(16) => "fixed16",
        Arith::Fixed(8) => "fixed8",
        Arith::Fixed(n) => bail!("the EIE model has no {n}-bit precision"),
    })
}

/// Evaluates one point: accuracy, then the model on the activations this arithmetic gives.
fn evaluate(
    v: &Variant,
    test: &Dataset,
    arith: Arith,
    rounding: Option<Rounding>,
    base: &EieConfig,
) -> Result<Point> {
    let net = v
        .network
        .clone()
        .with_rounding(rounding.unwrap_or_default());
    let run = run_keeping(&net, test, arith, rounding.unwrap_or_default(), true)?;
    let cfg = base.with_override(&format!("precision={}", precision_name(arith)?))?;
    let (_, m) = model_on(net.layers(), test.len(), &cfg, |s, l| {
        run.layer_inputs[s][l].clone()
    })?;
    let correct = run
        .predictions
        .iter()
        .zip(test.labels())
        .filter(|(p, y)| p == y)
        .count();
    Ok(Point {
        scale: v.scale,
        bits: v.bits,
        density: overall_density(&net),
        hash: network_hash(&net),
        arith,
        rounding,
        correct,
        samples: test.len(),
        saturated: run.outcome.saturated,
        wrapped: run.outcome.wrapped,
        cycles: m.mean_cycles,
        us: m.mean_us,
        energy_nj: m.mean_energy_nj,
    })
}

/// Runs the sweep: tables on stdout, CSV and SVG charts into `out`, records appended to `save`.
pub fn run(args: NetSweep<'_>) -> Result<()> {
    let (name, test, variants) = match (args.net, args.inputs, args.labels) {
        ("builtin", None, None) => builtin_variants()?,
        ("builtin", _, _) => {
            bail!(
                "--net builtin has its own test data; --net-inputs and --net-labels are for a user's chain"
            )
        }
        (spec, Some(x), Some(y)) => user_variants(spec, x, y)?,
        (spec, _, _) => bail!(
            "--net {spec}: a user's chain needs its test data: --net-inputs X.npy --net-labels y.npy"
        ),
    };
    let retrained = args.net == "builtin";
    let mut jobs: Vec<(usize, Arith, Option<Rounding>)> = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let formats = if (v.scale, v.bits) == DEFAULT {
            fig10_formats()
        } else {
            axis_formats()
        };
        jobs.extend(formats.into_iter().map(|(a, r)| (i, a, r)));
    }
    eprintln!(
        "{} points (accuracy on {} samples, the EIE model on each)...",
        jobs.len(),
        test.len()
    );
    let points: Vec<Point> = jobs
        .par_iter()
        .map(|&(i, a, r)| {
            evaluate(&variants[i], &test, a, r, &args.base).with_context(|| {
                format!(
                    "{} at {}-bit weights, {} x the default densities",
                    a.name(),
                    variants[i].bits,
                    variants[i].scale
                )
            })
        })
        .collect::<Result<_>>()?;
    std::fs::create_dir_all(args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    println!("# Accuracy vs arithmetic precision (Fig. 10): {name}\n");
    println!(
        "Top-1 accuracy on {} test samples; the EIE model per inference (64 PEs, 800 MHz unless configured), each \
         layer on the real input this arithmetic gives it.\n",
        test.len()
    );
    let is_default = |p: &Point| (p.scale, p.bits) == DEFAULT;
    let fig10: Vec<&Point> = points.iter().filter(|p| is_default(p)).collect();
    println!("## Format (Fig. 10)\n");
    print!("{}", format_table(&fig10).markdown());
    println!(
        "\nThe paper (AlexNet on ImageNet, probably top-5): 32-bit float 80.3 %, 16-bit fixed 79.8 %, 8-bit fixed 53 %.\n"
    );
    let by_bits: Vec<&Point> = points.iter().filter(|p| p.scale == DEFAULT.0).collect();
    println!("## Weight bits (density as by default)\n");
    print!(
        "{}",
        axis_table(&by_bits, "Weight bits", |p| p.bits.to_string()).markdown()
    );
    let by_density: Vec<&Point> = points.iter().filter(|p| p.bits == DEFAULT.1).collect();
    println!("\n## Weight density ({}-bit weights)\n", DEFAULT.1);
    print!(
        "{}",
        axis_table(&by_density, "Weight density", |p| format!(
            "{:.1} %",
            p.density * 100.0
        ))
        .markdown()
    );
    println!();
    let mut written = vec![args.out.join("sweep-precision-net.csv")];
    crate::output::write_atomic(&written[0], to_csv(&points).as_bytes())?;
    written.push(fig10_chart(&fig10, args.out)?);
    written.push(axis_chart(
        &by_bits,
        "Accuracy vs weight bits",
        "weight (codebook index) bits",
        |p| p.bits.to_string(),
        &args.out.join("sweep-precision-net-bits.svg"),
    )?);
    written.push(axis_chart(
        &by_density,
        "Accuracy vs weight density",
        "weight density",
        |p| format!("{:.1} %", p.density * 100.0),
        &args.out.join("sweep-precision-net-density.svg"),
    )?);
    for w in &written {
        println!("wrote {}", w.display());
    }
    if let Some(path) = args.save {
        let short = if retrained {
            "lenet-300-100-optdigits".to_string()
        } else {
            let file = args.net.rsplit_once(':').map_or(args.net, |(f, _)| f);
            Path::new(file)
                .file_stem()
                .map_or("network".into(), |s| s.to_string_lossy().into_owned())
        };
        let records: Vec<Record> = points
            .iter()
            .map(|p| record(p, &short, &name, &variants[0].network, retrained))
            .collect();
        eie_bench::record::append(path, &records)
            .with_context(|| format!("appending the records to {}", path.display()))?;
        println!("appended {} records to {}", records.len(), path.display());
    }
    Ok(())
}

fn format_table(points: &[&Point]) -> Table {
    let mut t = Table::new(&[
        "Format",
        "Rounding",
        "Top-1",
        "Saturated",
        "Wrapped",
        "Cycles",
        "Time (µs)",
        "Energy (nJ)",
    ]);
    for p in points {
        t.push(vec![
            p.arith.name(),
            p.rounding.map_or("-".into(), |r| r.to_string()),
            format!("{:.2} %", p.accuracy_pct()),
            p.saturated.to_string(),
            p.wrapped.to_string(),
            format!("{:.1}", p.cycles),
            format!("{:.3}", p.us),
            format!("{:.2}", p.energy_nj),
        ]);
    }
    t
}

/// Rows: the axis' values; columns: the formats' accuracies, then the model's 16-bit (floor) energy.
fn axis_table(points: &[&Point], what: &str, key: impl Fn(&Point) -> String) -> Table {
    let formats = axis_formats();
    let labels: Vec<String> = formats
        .iter()
        .map(|&(a, r)| match r {
            Some(r) => format!("{} {r}", a.name()),
            None => a.name(),
        })
        .collect();
    let mut headers = vec![what.to_string()];
    headers.extend(labels.iter().cloned());
    headers.push("Energy, fixed16 floor (nJ)".into());
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&h);
    let mut keys: Vec<(f64, u8, String)> = Vec::new();
    for p in points {
        if !keys.iter().any(|k| k.0 == p.scale && k.1 == p.bits) {
            keys.push((p.scale, p.bits, key(p)));
        }
    }
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (scale, bits, label) in keys {
        let at = |a: Arith, r: Option<Rounding>| {
            points
                .iter()
                .find(|p| p.scale == scale && p.bits == bits && p.arith == a && p.rounding == r)
        };
        let mut row = vec![label];
        for &(a, r) in &formats {
            row.push(at(a, r).map_or("-".into(), |p| format!("{:.2} %", p.accuracy_pct())));
        }
        row.push(
            at(Arith::Fixed(16), Some(Rounding::Floor))
                .map_or("-".into(), |p| format!("{:.2}", p.energy_nj)),
        );
        t.push(row);
    }
    t
}

fn fig10_chart(points: &[&Point], out: &Path) -> Result<PathBuf> {
    let ticks: Vec<String> = Arith::FIG10.iter().map(|a| a.name()).collect();
    let x = |a: Arith| Arith::FIG10.iter().position(|&f| f == a).unwrap_or(0) as f64;
    let float = points.iter().find(|p| p.arith == Arith::Float32);
    let mut left = Vec::new();
    let mut right = Vec::new();
    for r in Rounding::ALL {
        // Float32 has no rounding: both lines start from it.
        let pts: Vec<&&Point> = float
            .into_iter()
            .chain(points.iter().filter(|p| p.rounding == Some(r)))
            .collect();
        left.push(Series {
            name: format!("accuracy, {r}"),
            points: pts.iter().map(|p| (x(p.arith), p.accuracy_pct())).collect(),
        });
        right.push(Series {
            name: format!("model energy (nJ), {r}"),
            points: pts.iter().map(|p| (x(p.arith), p.energy_nj)).collect(),
        });
    }
    let path = out.join("fig10-accuracy.svg");
    DualAxisChart {
        title: "Accuracy and energy vs arithmetic precision (Fig. 10)",
        x_label: "arithmetic",
        x_ticks: ticks,
        left_label: "top-1 accuracy (%)",
        left,
        right_label: "EIE model energy per inference (nJ)",
        right,
        legend: Legend::LowerLeft,
    }
    .write_svg(&path)?;
    Ok(path)
}

fn axis_chart(
    points: &[&Point],
    title: &str,
    x_label: &str,
    key: impl Fn(&Point) -> String,
    path: &Path,
) -> Result<PathBuf> {
    let mut keys: Vec<(f64, u8, String)> = Vec::new();
    for p in points {
        if !keys.iter().any(|k| k.0 == p.scale && k.1 == p.bits) {
            keys.push((p.scale, p.bits, key(p)));
        }
    }
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let at = |p: &Point| {
        keys.iter()
            .position(|k| k.0 == p.scale && k.1 == p.bits)
            .unwrap_or(0) as f64
    };
    let left = axis_formats()
        .into_iter()
        .map(|(a, r)| Series {
            name: match r {
                Some(r) => format!("{} {r}", a.name()),
                None => a.name(),
            },
            points: points
                .iter()
                .filter(|p| p.arith == a && p.rounding == r)
                .map(|p| (at(p), p.accuracy_pct()))
                .collect(),
        })
        .collect();
    let right = vec![Series {
        name: "model energy, fixed16 floor (nJ)".into(),
        points: points
            .iter()
            .filter(|p| p.arith == Arith::Fixed(16) && p.rounding == Some(Rounding::Floor))
            .map(|p| (at(p), p.energy_nj))
            .collect(),
    }];
    DualAxisChart {
        title,
        x_label,
        x_ticks: keys.into_iter().map(|k| k.2).collect(),
        left_label: "top-1 accuracy (%)",
        left,
        right_label: "EIE model energy per inference (nJ)",
        right,
        legend: Legend::LowerLeft,
    }
    .write_svg(path)?;
    Ok(path.to_path_buf())
}

fn to_csv(points: &[Point]) -> String {
    let mut t = Table::new(&[
        "density_scale",
        "weight_density",
        "weight_bits",
        "format",
        "rounding",
        "top1",
        "correct",
        "samples",
        "saturated",
        "wrapped",
        "model_cycles",
        "model_us",
        "model_energy_nj",
        "network_hash",
    ]);
    for p in points {
        t.push(vec![
            format!("{}", p.scale),
            format!("{:.5}", p.density),
            p.bits.to_string(),
            p.arith.name(),
            p.rounding.map_or(String::new(), |r| r.to_string()),
            format!("{:.5}", p.correct as f64 / p.samples.max(1) as f64),
            p.correct.to_string(),
            p.samples.to_string(),
            p.saturated.to_string(),
            p.wrapped.to_string(),
            format!("{:.2}", p.cycles),
            format!("{:.4}", p.us),
            format!("{:.3}", p.energy_nj),
            p.hash.clone(),
        ]);
    }
    t.csv()
}

/// A point as a record: the network is the "layer", the EIE model the backend.
fn record(p: &Point, short: &str, name: &str, net: &FixedNetwork, retrained: bool) -> Record {
    let layers = net.layers();
    let layer = LayerRef {
        name: short.into(),
        hash: p.hash.clone(),
        paper: None,
        inputs: layers[0].inputs(),
        outputs: layers[layers.len() - 1].outputs(),
    };
    let mut r = Record::new(layer, BackendId::EieModel, 1, 1);
    r.detail = format!(
        "{}, {}-bit weights, weight density {:.2} %",
        p.label(),
        p.bits,
        p.density * 100.0
    );
    let axis = if (p.scale, p.bits) == DEFAULT {
        "format"
    } else if p.scale == DEFAULT.0 {
        "weight-bits"
    } else {
        "density"
    };
    r.accuracy = Some(NetAccuracy {
        network: name.to_string(),
        axis: axis.into(),
        format: p.arith.name(),
        rounding: p.rounding.map(|r| r.to_string()),
        weight_bits: p.bits,
        weight_density: p.density,
        retrained,
        samples: p.samples,
        correct: p.correct,
        saturated: p.saturated,
        wrapped: p.wrapped,
        model_cycles: Some(p.cycles),
        model_us: Some(p.us),
        model_energy_nj: Some(p.energy_nj),
    });
    r
}
