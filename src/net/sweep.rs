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
//!   weights (a user's chain: as trained, then pruned to 50, 25 and 10 %).
//!
//! The built-in network is re-compressed for each weight width and density with Deep Compression's
//! retraining (pruning with masked retraining once per density, then k-means sharing and centroid
//! fine-tuning); a user's chain (`--net FILE:CHAIN`) is compressed as trained, without retraining (we
//! have no training data for it), which the output says.

use super::fig10::{self, Axis};
use super::model::model_on;
use super::network::{load_user, widths};
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
use std::path::Path;

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
pub fn overall_density(net: &FixedNetwork) -> f64 {
    let (nnz, all) = net.layers().iter().fold((0usize, 0usize), |(n, a), l| {
        (n + l.nnz(), a + l.inputs() * l.outputs())
    });
    nnz as f64 / all.max(1) as f64
}

/// A digest of the layers' content hashes: which network a point ran on.
pub fn network_hash(net: &FixedNetwork) -> String {
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

/// A user's chain on the density axis, by the density-scale key of [`DENSITY_SCALES`]: as trained (the
/// default point), then pruned by magnitude to 50 %, 25 % and 10 % of every layer's weights.
fn user_density(scale: f64) -> Option<f64> {
    match scale {
        s if s == DEFAULT.0 => None,
        s if s < DEFAULT.0 => Some(0.5),
        s if s <= 2.0 => Some(0.25),
        _ => Some(0.1),
    }
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
/// [`user_density`] of its weights by magnitude.
fn user_variants(spec: &str, x: &Path, y: &Path) -> Result<(String, Dataset, Vec<Variant>)> {
    let (file, net, test) = load_user(spec, x, y)?;
    let variants = wanted_variants()
        .par_iter()
        .map(|&(scale, bits)| {
            let opts = CompressOptions {
                bits,
                density: user_density(scale),
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
                    "{} at {}-bit weights, density step {}",
                    a.name(),
                    variants[i].bits,
                    variants[i].scale
                )
            })
        })
        .collect::<Result<_>>()?;
    let short = super::short_name(if retrained { None } else { Some(args.net) });
    let records: Vec<Record> = points
        .iter()
        .map(|p| record(p, &short, &name, &variants[0].network, retrained))
        .collect();
    let acc: Vec<&NetAccuracy> = records.iter().filter_map(|r| r.accuracy.as_ref()).collect();
    std::fs::create_dir_all(args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    println!("# Accuracy vs arithmetic precision (Fig. 10): {name}\n");
    println!(
        "Top-1 accuracy on {} test samples; the EIE model per inference ({} PEs, {} MHz), each layer on the real \
         input this arithmetic gives it.\n",
        test.len(),
        args.base.pes,
        args.base.clock_mhz
    );
    println!("## Format (Fig. 10)\n");
    print!("{}", fig10::format_table(&acc).markdown());
    println!("\n{PAPER_FIG10}\n");
    println!("## Weight bits (densities as by default)\n");
    print!("{}", fig10::axis_table(&acc, Axis::WeightBits).markdown());
    println!("\n## Weight density ({}-bit weights)\n", DEFAULT.1);
    print!("{}", fig10::axis_table(&acc, Axis::Density).markdown());
    println!();
    let out = |f: &str| args.out.join(f);
    crate::output::write_atomic(&out("sweep-precision-net.csv"), fig10::csv(&acc).as_bytes())?;
    fig10::fig10_chart(&acc, FIG10_TITLE, &out("fig10-accuracy.svg"))?;
    fig10::axis_chart(&acc, Axis::WeightBits, &out("sweep-precision-net-bits.svg"))?;
    fig10::axis_chart(&acc, Axis::Density, &out("sweep-precision-net-density.svg"))?;
    for f in [
        "sweep-precision-net.csv",
        "fig10-accuracy.svg",
        "sweep-precision-net-bits.svg",
        "sweep-precision-net-density.svg",
    ] {
        println!("wrote {}", out(f).display());
    }
    if let Some(path) = args.save {
        eie_bench::record::append(path, &records)
            .with_context(|| format!("appending the records to {}", path.display()))?;
        println!("appended {} records to {}", records.len(), path.display());
    }
    Ok(())
}

/// The chart's title (the sweep's and the report's).
pub const FIG10_TITLE: &str = "Accuracy and energy vs arithmetic precision (Fig. 10)";

/// What the paper's Fig. 10 says, for beside ours.
pub const PAPER_FIG10: &str = "The paper's Fig. 10 (AlexNet on ImageNet, probably top-5): 32-bit float 80.3 %, \
     16-bit fixed 79.8 %, 8-bit fixed 53 %; multiply energy 6.2x (float32) and 5x (fixed32) the 16-bit one.";

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
