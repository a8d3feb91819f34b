//! `eie net`: a whole network end to end (issue #13, point 4). The built-in network (optdigits +
//! LeNet-300-100, trained and Deep-Compressed by eie-net) or a user's chain of layers runs layer by layer
//! on every backend at batch 1 and 64 and on the EIE model: accuracy per backend against the f64 and
//! 16-bit references, real activation densities, and the model's time and energy per layer and for the
//! whole network. Exit 1 on any failed check.

mod backends;
pub mod fig10;
mod model;
mod network;
mod print;
pub mod sweep;

use crate::table::Format;
use anyhow::{Context, Result, bail};
use backends::{BackendRun, References, run_backend};
use eie_bench::backend_id::{Arith, BackendId};
use eie_bench::record::{Check, LayerRef, NetAccuracy, Record};
use eie_bench::registry::{Options, checked_threads, parse_backends};
use model::{ModelLayer, ModelNetwork, run_model};
use network::Network;
use serde::Serialize;
use std::path::PathBuf;

/// Default of `--gpu-samples`.
const GPU_BATCH1_SAMPLES: usize = 64;

/// Flags of `eie net`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// A trained chain of layers instead of the built-in network:
    /// FILE.safetensors:WEIGHT[+BIAS],... (bias `NAME.bias` found by default, `+` for none).
    #[arg(long, value_name = "FILE:CHAIN", requires_all = ["inputs", "labels"])]
    pub weights: Option<String>,
    /// Test inputs for --weights: float32 .npy of shape [samples, features].
    #[arg(long, value_name = "X.npy", requires = "weights")]
    pub inputs: Option<PathBuf>,
    /// Test labels for --weights: .npy of shape [samples], integer (or whole float) class numbers.
    #[arg(long, value_name = "y.npy", requires = "weights")]
    pub labels: Option<PathBuf>,
    /// Weight bits when compressing --weights (no retraining).
    #[arg(long, default_value_t = 4)]
    pub bits: u8,
    /// Prune --weights to this weight density per layer (by magnitude, no retraining) first.
    #[arg(long, value_name = "D")]
    pub density: Option<f64>,
    /// A backend (repeatable). Default: every in-process backend and the EIE model.
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Batch sizes (repeatable). Default: 1 and 64. A last partial batch is padded with zero samples.
    #[arg(long = "batch", value_name = "B")]
    pub batches: Vec<usize>,
    /// GPU backends at batch 1 run the first N test samples only (one submit per layer and sample is
    /// slow on CPU adapters such as lavapipe); 0: all.
    #[arg(long, value_name = "N", default_value_t = GPU_BATCH1_SAMPLES)]
    pub gpu_samples: usize,
    /// Threads of our CPU kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// How 16-bit fixed-point products round: floor (EIE's datapath as modelled) or nearest. Every
    /// fixed-point backend, the EIE model and the 16-bit reference follow it.
    #[arg(long, value_name = "floor|nearest", default_value = "floor")]
    pub rounding: eie_compress::Rounding,
    /// Output format (json: one object with everything).
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Append one record per backend and batch (top-1, check; the model's figures per inference) to this
    /// JSON Lines file; `eie report` lists them.
    #[arg(long, value_name = "FILE.jsonl")]
    pub save: Option<PathBuf>,
}

/// Everything `eie net` found (the `--format json` object).
#[derive(Serialize)]
pub struct NetReport {
    pub network: String,
    pub test_samples: usize,
    /// Deep Compression's stages (built-in network only).
    pub stages: Option<eie_net::PipelineSummary>,
    /// The 16-bit activation format every layer shares.
    pub activation_format: eie_compress::FormatChoice,
    /// The rounding of the 16-bit products.
    pub rounding: eie_compress::Rounding,
    /// Accuracy of the decoded network in f64 and on eie-net's 16-bit datapath (all test samples).
    pub f64_accuracy: f64,
    pub fixed_accuracy: f64,
    /// Samples whose 16-bit prediction differs from f64 (eie-net's FixedNetwork).
    pub fixed_changed: Vec<usize>,
    /// 16-bit outputs that saturated or wrapped, over every layer and sample.
    pub fixed_outcome: eie_compress::FixedOutcome,
    pub backends: Vec<BackendRun>,
    pub layers: Vec<LayerRow>,
    /// Table III's activation densities, for context (other networks).
    pub table_iii: Vec<TableIiiRow>,
    pub model_layers: Vec<ModelLayer>,
    pub model_network: ModelNetwork,
    /// Failed checks, in words (empty: all passed).
    pub failures: Vec<String>,
}

/// One layer of the network.
#[derive(Serialize)]
pub struct LayerRow {
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    pub weight_density: f64,
    /// Mean fraction of non-zero input activations over the test samples, decoded network in f32.
    pub act_density_f32: f64,
    /// The same on the 16-bit datapath (what the EIE model broadcasts).
    pub act_density_fixed: f64,
    /// The Table III layer of the nearest activation density.
    pub nearest_table_iii: String,
}

/// One row of Table III (activation density).
#[derive(Serialize)]
pub struct TableIiiRow {
    pub name: String,
    pub act_density: f64,
}

/// Runs `eie net`.
pub fn run(args: Args) -> Result<()> {
    let mut all = BackendId::MEASURED.to_vec();
    all.push(BackendId::EieModel);
    let ids = parse_backends(&args.backends, &all)?;
    let batches = if args.batches.is_empty() {
        vec![1, 64]
    } else {
        args.batches.clone()
    };
    if batches.iter().any(|&b| b == 0 || b > 4096) {
        bail!("--batch must be 1 to 4096");
    }
    if let Some(d) = args.density
        && !(d > 0.0 && d <= 1.0)
    {
        bail!("--density {d}: expected a weight density in (0, 1]");
    }
    let opts = Options {
        threads: checked_threads(args.threads)?,
        ..Options::default()
    }
    .with_gpu_knobs_from_env(&ids)?;
    let mut net = match (&args.weights, &args.inputs, &args.labels) {
        (Some(w), Some(x), Some(y)) => Network::user(w, x, y, args.bits, args.density)?,
        (None, None, None) => {
            eprintln!("training and compressing the built-in network (about 10 s in release) ...");
            Network::builtin()?
        }
        _ => bail!("--weights, --inputs and --labels go together"),
    };
    net.fixed = net.fixed.clone().with_rounding(args.rounding);
    let report = evaluate(&net, &ids, &batches, args.gpu_samples, opts)?;
    print::print(&report, args.format)?;
    if let Some(path) = &args.save {
        let records = records(&net, &report, opts.threads);
        eie_bench::record::append(path, &records)
            .with_context(|| format!("appending the records to {}", path.display()))?;
        eprintln!("appended {} records to {}", records.len(), path.display());
    }
    if let Some(r) = report
        .backends
        .iter()
        .find(|r| eie_kernels::gpu::gpu_required() && r.backend.is_gpu() && r.unavailable.is_some())
    {
        bail!(
            "EIE_REQUIRE_GPU=1, but {} could not run: {}",
            r.backend,
            r.unavailable.as_deref().unwrap_or("")
        );
    }
    if !report.backends.iter().any(|r| r.unavailable.is_none()) {
        bail!("nothing was checked: every backend asked for was unavailable");
    }
    if !report.failures.is_empty() {
        bail!(
            "{} check(s) failed: {}",
            report.failures.len(),
            report.failures.join("; ")
        );
    }
    Ok(())
}

/// The short name records give a network: the built-in one's, or the weight file's stem.
pub fn short_name(weights: Option<&str>) -> String {
    match weights {
        None => "lenet-300-100-optdigits".into(),
        Some(spec) => {
            let file = spec.rsplit_once(':').map_or(spec, |(f, _)| f);
            std::path::Path::new(file)
                .file_stem()
                .map_or("network".into(), |s| s.to_string_lossy().into_owned())
        }
    }
}

/// One record per backend run: the network as the layer, top-1 as the accuracy (axis `backend`), the
/// check; the EIE model's run carries the model's figures per inference.
fn records(net: &Network, report: &NetReport, threads: usize) -> Vec<Record> {
    let layers = net.fixed.layers();
    let layer = LayerRef {
        name: net.short.clone(),
        hash: sweep::network_hash(&net.fixed),
        paper: None,
        inputs: layers[0].inputs(),
        outputs: layers[layers.len() - 1].outputs(),
    };
    report
        .backends
        .iter()
        .map(|b| {
            let mut r = Record::new(
                layer.clone(),
                b.backend,
                b.batch,
                if b.backend.follows_threads() {
                    threads
                } else {
                    1
                },
            );
            let fixed = b.arithmetic != Arith::F32;
            r.detail = format!(
                "eie net: {} of {} test samples",
                b.samples, report.test_samples
            );
            r.check = Some(Check {
                max_abs_err: if fixed {
                    b.not_bit_exact.unwrap_or(0) as f64
                } else {
                    b.max_abs_logit_err.unwrap_or(0.0)
                },
                bound: 0.0,
                exact: fixed,
                ok: b.ok,
                unavailable: b.unavailable.clone(),
                message: (!b.ok && b.unavailable.is_none()).then(|| {
                    format!(
                        "{} samples' predictions differ from f64, {} not bit-exact",
                        b.differ_from_f64.len(),
                        b.not_bit_exact.unwrap_or(0)
                    )
                }),
                warning: None,
            });
            let model = b.backend == BackendId::EieModel;
            let m = &report.model_network;
            r.accuracy = b.accuracy.map(|a| NetAccuracy {
                network: report.network.clone(),
                axis: "backend".into(),
                format: if fixed { "fixed16" } else { "float32" }.into(),
                rounding: fixed.then(|| report.rounding.to_string()),
                weight_bits: layers[0].codebook().bits(),
                weight_density: sweep::overall_density(&net.fixed),
                retrained: report.stages.is_some(),
                samples: b.samples,
                correct: (a * b.samples as f64).round() as usize,
                saturated: if fixed {
                    report.fixed_outcome.saturated
                } else {
                    0
                },
                wrapped: if fixed {
                    report.fixed_outcome.wrapped
                } else {
                    0
                },
                model_cycles: model.then_some(m.mean_cycles),
                model_us: model.then_some(m.mean_us),
                model_energy_nj: model.then_some(m.mean_energy_nj),
            });
            r
        })
        .collect()
}

/// Runs the network on every backend and batch and on the EIE model.
fn evaluate(
    net: &Network,
    ids: &[BackendId],
    batches: &[usize],
    gpu_samples: usize,
    opts: Options,
) -> Result<NetReport> {
    let refs = References::new(net)?;
    let n = net.test.len();
    let labels = net.test.labels();
    let f64_accuracy = eie_net::mlp::accuracy(&refs.f64_pred, labels);
    let fixed_accuracy = eie_net::mlp::accuracy(&refs.fixed_pred, labels);
    let fixed_changed: Vec<usize> = (0..n)
        .filter(|&s| refs.fixed_pred[s] != refs.f64_pred[s])
        .collect();
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for &id in ids {
        for &batch in batches {
            let samples = if id.is_gpu() && batch == 1 && gpu_samples > 0 {
                gpu_samples.min(n)
            } else {
                n
            };
            let t = std::time::Instant::now();
            let r = run_backend(net, &refs, id, batch, samples, opts)?;
            eprintln!(
                "{:<18} batch {:<4} {:>4} samples  {:<11} {:.2} s",
                id.name(),
                batch,
                samples,
                match (&r.unavailable, r.ok) {
                    (Some(_), _) => "unavailable",
                    (None, true) => "ok",
                    (None, false) => "FAILED",
                },
                t.elapsed().as_secs_f64()
            );
            if r.unavailable.is_none() && !r.ok {
                failures.push(match r.arithmetic {
                    Arith::F32 => format!(
                        "{id} batch {batch}: {} predictions differ from the f64 reference",
                        r.differ_from_f64.len()
                    ),
                    Arith::Fixed16 => format!(
                        "{id} batch {batch}: {} samples' 16-bit logits are not bit-exact with eie-net's FixedNetwork",
                        r.not_bit_exact.unwrap_or(0)
                    ),
                });
            }
            runs.push(r);
        }
    }
    let table_iii: Vec<TableIiiRow> = eie_compress::benchmark_layers()
        .into_iter()
        .map(|s| TableIiiRow {
            name: s.name,
            act_density: s.act_density,
        })
        .collect();
    let dens_f32 = net.decoded.input_densities(&net.test)?;
    let layers = net
        .fixed
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let nonzero: usize = (0..n)
                .map(|s| {
                    if l == 0 {
                        net.fixed
                            .quantize(net.test.sample(s))
                            .iter()
                            .filter(|&&q| q != 0)
                            .count()
                    } else {
                        refs.fixed_out[s][l - 1].iter().filter(|&&q| q != 0).count()
                    }
                })
                .sum();
            let act_density_fixed = nonzero as f64 / (layer.inputs() * n.max(1)) as f64;
            let nearest = table_iii
                .iter()
                .min_by(|a, b| {
                    let d = |r: &TableIiiRow| (r.act_density - dens_f32[l]).abs();
                    d(a).total_cmp(&d(b))
                })
                .map_or(String::new(), |r| {
                    format!("{} ({:.1} %)", r.name, r.act_density * 100.0)
                });
            LayerRow {
                name: layer.name().to_string(),
                inputs: layer.inputs(),
                outputs: layer.outputs(),
                weight_density: layer.weight_density(),
                act_density_f32: dens_f32[l],
                act_density_fixed,
                nearest_table_iii: nearest,
            }
        })
        .collect();
    let t = std::time::Instant::now();
    let (model_layers, model_network) = run_model(net, &refs)?;
    eprintln!(
        "EIE model: {} layers x {n} samples simulated in {:.2} s",
        model_layers.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(NetReport {
        network: net.name.clone(),
        test_samples: n,
        stages: net.stages.clone(),
        activation_format: net.fixed.act_format(),
        rounding: net.fixed.rounding(),
        f64_accuracy,
        fixed_accuracy,
        fixed_changed,
        fixed_outcome: refs.outcome,
        backends: runs,
        layers,
        table_iii,
        model_layers,
        model_network,
        failures,
    })
}
