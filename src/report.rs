//! `eie report`: our measurements beside the paper's, as the paper lays them out: Table IV (time per
//! layer), Fig. 6 (speedup over CPU dense), Fig. 7 (energy efficiency over CPU dense) and Table V (Alex-7
//! frames/s and frames/J), plus GB/s and the share of this machine's read bandwidth, and the validation of
//! every backend. Written to a folder as Markdown, CSV, JSON and SVG; the main job prints the same tables.
//!
//! Times come from criterion's results (`--from-criterion`: `target/criterion/LAYER/BACKEND/bB/new/estimates.json`,
//! the median) where a file exists, otherwise from our own measurement (median after warm-up). Every
//! backend's output is verified against the reference first, in both cases.

use crate::chart::BarChart;
use crate::table::Table;
use anyhow::{Context, Result, bail};
use eie_accel_model::{EieConfig, functional, simulate};
use eie_baselines::paper;
use eie_bench::harness::{Inputs, Measurement, Plan, measure_with};
use eie_bench::power::Meter;
use eie_bench::registry::{BACKENDS, Options, make};
use eie_compress::{BackendError, CompressedLayer};
use eie_kernels::cpu::IsaLevel;
use eie_kernels::cpu::bandwidth::{llc_bytes, probe};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags of `eie report`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: crate::layer_args::LayerArgs,
    /// Folder the report is written to.
    #[arg(long, default_value = "report", value_name = "DIR")]
    pub out: PathBuf,
    /// Take times from criterion's results (run `cargo bench --bench backends` first).
    #[arg(long)]
    pub from_criterion: bool,
    /// Where criterion's results are.
    #[arg(long, default_value = "target/criterion", value_name = "DIR")]
    pub criterion_dir: PathBuf,
    /// CPU power in W for the energy figures where RAPL is not readable.
    #[arg(long, value_name = "W")]
    pub cpu_watts: Option<f64>,
    /// GPU power in W for the energy figures where NVML is not available.
    #[arg(long, value_name = "W")]
    pub gpu_watts: Option<f64>,
    /// A backend (repeatable). Default: all of them.
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Threads of our CPU kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Time budget per measurement, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub budget_ms: u64,
}

/// How the report gathers its numbers.
pub struct Settings {
    pub names: Vec<String>,
    pub opts: Options,
    pub plan: Plan,
    pub criterion_dir: Option<PathBuf>,
    pub cpu_watts: Option<f64>,
    pub gpu_watts: Option<f64>,
}

/// A power figure and where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct Power {
    pub watts: f64,
    /// "measured: ...", "declared: ..." or "assumed: ...".
    pub source: String,
}

/// One of our backends on one layer at one batch size.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub layer: String,
    pub backend: String,
    pub batch: usize,
    pub detail: String,
    /// Wall time of one forward pass of `batch` samples.
    pub median_us: f64,
    pub per_sample_us: f64,
    /// GPU timestamp time of the compute pass, where available (our own measurement only).
    pub device_us: Option<f64>,
    pub gbps: f64,
    /// GB/s over this machine's read bandwidth that applies (DRAM when the bytes read exceed the last-level
    /// cache); none for GPU backends on a GPU with its own memory.
    pub bandwidth_fraction: Option<f64>,
    pub entries_per_s: f64,
    pub macs: u64,
    pub bytes_read: u64,
    pub power: Power,
    pub energy_per_sample_uj: f64,
    /// Where the time comes from: "measured (N runs)" or the criterion file.
    pub time_source: String,
}

/// The EIE model on one layer.
#[derive(Clone, Debug, Serialize)]
pub struct ModelEntry {
    pub layer: String,
    pub theoretical_us: f64,
    pub actual_us: f64,
    pub energy_uj: f64,
    pub power_w: f64,
}

/// One validation check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub layer: String,
    pub backend: String,
    pub batch: usize,
    pub max_abs_err: f64,
    pub exact: bool,
    pub ok: bool,
    /// Why it failed, or why it could not run (unavailable is not a failure).
    pub message: Option<String>,
    pub unavailable: bool,
}

/// The machine the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub logical_cpus: usize,
    pub isa: String,
    pub cpu_threads: usize,
    pub gpu_adapter: Option<String>,
    pub gpu_adapter_type: Option<String>,
    pub llc_bytes: usize,
    pub bandwidth_hot_gbps: f64,
    pub bandwidth_cold_gbps: f64,
    pub cpu_power: String,
    pub gpu_power: String,
    pub date: String,
}

/// Everything the report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Collected {
    pub machine: Machine,
    pub layers: Vec<String>,
    pub entries: Vec<Entry>,
    pub model: Vec<ModelEntry>,
    pub checks: Vec<Check>,
    /// Criterion files read (as critcmp would list them).
    pub criterion_files: Vec<String>,
}

/// The paper's Table V powers, used when nothing is measured or declared.
const ASSUMED_CPU_W: f64 = 73.0;
const ASSUMED_GPU_W: f64 = 159.0;

/// Runs `eie report`.
pub fn run(args: Args) -> Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    for w in [args.cpu_watts, args.gpu_watts].into_iter().flatten() {
        if !(w.is_finite() && w > 0.0) {
            bail!("--cpu-watts / --gpu-watts must be a positive number of watts, got {w}");
        }
    }
    let names: Vec<String> = if args.backends.is_empty() {
        BACKENDS.iter().map(|s| s.to_string()).collect()
    } else {
        args.backends.clone()
    };
    let opts = Options {
        isa: IsaLevel::best(),
        threads: args.threads,
    };
    for n in &names {
        make(n, opts)?;
    }
    if args.from_criterion
        && (args.layers.weights.is_some() || args.layers.bits != 4 || args.layers.index_bits != 4)
    {
        bail!(
            "--from-criterion reads times the criterion bench took on the built-in layers with the default \
             compression; leave out --weights, --bits and --index-bits, or measure without --from-criterion"
        );
    }
    if args.from_criterion && !args.criterion_dir.is_dir() {
        bail!(
            "{}: no criterion results (run `cargo bench --bench backends` first, or leave out --from-criterion)",
            args.criterion_dir.display()
        );
    }
    let layers = args.layers.build(64)?;
    let settings = Settings {
        names,
        opts,
        plan: Plan {
            budget: Duration::from_millis(args.budget_ms),
            ..Plan::default()
        },
        criterion_dir: args.from_criterion.then_some(args.criterion_dir.clone()),
        cpu_watts: args.cpu_watts,
        gpu_watts: args.gpu_watts,
    };
    let c = collect(&layers, &settings)?;
    write(&c, &args.out)?;
    print!("{}", markdown(&c));
    eprintln!("wrote {}", args.out.display());
    fail_on_checks(&c)
}

/// An error when any check failed.
pub fn fail_on_checks(c: &Collected) -> Result<()> {
    let failed: Vec<&Check> = c.checks.iter().filter(|k| !k.ok).collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} checks failed: {}",
            failed.len(),
            c.checks.len(),
            failed
                .iter()
                .map(|k| format!("{} {} batch {}", k.layer, k.backend, k.batch))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn is_gpu(backend: &str) -> bool {
    backend.starts_with("gpu-")
}

/// The median of criterion's estimate for `layer/backend/bB`, in µs, and the file it came from.
fn criterion_median_us(
    dir: &Path,
    layer: &str,
    backend: &str,
    batch: usize,
) -> Result<Option<(f64, String)>> {
    let path = dir
        .join(layer)
        .join(backend)
        .join(format!("b{batch}"))
        .join("new")
        .join("estimates.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not criterion's estimates JSON", path.display()))?;
    let ns = v["median"]["point_estimate"].as_f64().with_context(|| {
        format!(
            "{}: no median.point_estimate (not criterion's estimates.json?)",
            path.display()
        )
    })?;
    if !(ns.is_finite() && ns > 0.0) {
        bail!("{}: median {ns} ns is not a positive time", path.display());
    }
    Ok(Some((ns / 1000.0, path.display().to_string())))
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    // Days to civil date (proleptic Gregorian), after H. Hinnant's published algorithm.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Measures (or reads from criterion) every backend on every layer at batch 1 and 64, and runs the model.
pub fn collect(layers: &[CompressedLayer], s: &Settings) -> Result<Collected> {
    let wants_gpu = s.names.iter().any(|n| is_gpu(n));
    let adapter = if wants_gpu {
        eie_kernels::gpu::GpuContext::shared()
            .ok()
            .map(|c| c.summary().clone())
    } else {
        None
    };
    // lavapipe and other software adapters run on this CPU: their power is the CPU's.
    let gpu_on_cpu = adapter.as_ref().is_some_and(|a| a.device_type == "Cpu");
    let meter = Meter::open(adapter.as_ref().map(|a| a.name.as_str()));
    let llc = llc_bytes();
    eprintln!("probing read bandwidth on {} thread(s)...", s.opts.threads);
    let (hot, cold) = probe(s.opts.threads);
    let declared_cpu = match s.cpu_watts {
        Some(w) => Power {
            watts: w,
            source: "declared (--cpu-watts)".into(),
        },
        None => Power {
            watts: ASSUMED_CPU_W,
            source: "assumed: the paper's CPU power (i7-5930k, Table V); pass --cpu-watts".into(),
        },
    };
    let declared_gpu = match s.gpu_watts {
        Some(w) => Power {
            watts: w,
            source: "declared (--gpu-watts)".into(),
        },
        None => Power {
            watts: ASSUMED_GPU_W,
            source: "assumed: the paper's GPU power (Titan X, Table V); pass --gpu-watts".into(),
        },
    };
    let cfg = EieConfig::default();
    let batches = [1usize, 64];
    let total = (layers.len() * batches.len() * s.names.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut entries = Vec::new();
    let mut model = Vec::new();
    let mut checks = Vec::new();
    let mut criterion_files = Vec::new();
    for l in layers {
        bar.set_message(format!("{}: EIE model", l.name()));
        let (_, exact, _) = functional(l, &cfg)?;
        checks.push(Check {
            layer: l.name().into(),
            backend: "eie-model-fixed".into(),
            batch: 1,
            max_abs_err: 0.0,
            exact: true,
            ok: exact,
            message: (!exact)
                .then(|| "functional output differs from the fixed-point reference".into()),
            unavailable: false,
        });
        let sim = simulate(l, &cfg)?;
        model.push(ModelEntry {
            layer: l.name().into(),
            theoretical_us: sim.theoretical_us,
            actual_us: sim.actual_us,
            energy_uj: sim.energy_total.nanojoules() / 1000.0,
            power_w: sim.power_mw / 1000.0,
        });
        for &batch in &batches {
            bar.set_message(format!("{} batch {batch}: references", l.name()));
            let inputs = Inputs::new(l, batch);
            for n in &s.names {
                bar.set_message(format!("{} batch {batch}: {n}", l.name()));
                let from_criterion = match &s.criterion_dir {
                    Some(dir) => criterion_median_us(dir, l.name(), n, batch)?,
                    None => None,
                };
                // With a criterion time, one verified run only (for the check and the work figures).
                let plan = if from_criterion.is_some() {
                    Plan {
                        batch,
                        budget: Duration::ZERO,
                        min_runs: 1,
                        max_runs: 1,
                        ..s.plan
                    }
                } else {
                    Plan { batch, ..s.plan }
                };
                let result = measure_with(l, &inputs, &|| make(n, s.opts), plan, llc, Some(&meter));
                bar.inc(1);
                let m: Measurement = match result {
                    Ok(m) => m,
                    Err(e) => {
                        let unavailable = matches!(
                            e.downcast_ref::<BackendError>(),
                            Some(BackendError::Unavailable { .. })
                        );
                        checks.push(Check {
                            layer: l.name().into(),
                            backend: n.clone(),
                            batch,
                            max_abs_err: f64::NAN,
                            exact: false,
                            ok: unavailable,
                            message: Some(format!("{e:#}")),
                            unavailable,
                        });
                        continue;
                    }
                };
                checks.push(Check {
                    layer: l.name().into(),
                    backend: n.clone(),
                    batch,
                    max_abs_err: m.max_abs_err,
                    exact: m.exact,
                    ok: true,
                    message: None,
                    unavailable: false,
                });
                let (median_us, time_source, device_us) = match from_criterion {
                    Some((us, file)) => {
                        criterion_files.push(file.clone());
                        (us, format!("criterion: {file}"), None)
                    }
                    None => (
                        m.median_us,
                        format!("measured ({} runs)", m.runs),
                        m.device_us,
                    ),
                };
                let cpu_side = !is_gpu(n) || gpu_on_cpu;
                let measured = if time_source.starts_with("criterion") {
                    None
                } else if cpu_side {
                    m.watts.cpu.map(|w| Power {
                        watts: w,
                        source: format!("measured: {}", meter.cpu_status().unwrap_or_default()),
                    })
                } else {
                    m.watts.gpu.map(|w| Power {
                        watts: w,
                        source: format!("measured: {}", meter.gpu_status().unwrap_or_default()),
                    })
                };
                let power = measured.unwrap_or_else(|| {
                    if cpu_side {
                        declared_cpu.clone()
                    } else {
                        declared_gpu.clone()
                    }
                });
                let secs = median_us * 1e-6;
                let per_sample_us = median_us / batch as f64;
                let bw = if m.work.bytes_read as usize > llc {
                    cold
                } else {
                    hot
                };
                let gbps = m.work.bytes_read as f64 / secs / 1e9;
                entries.push(Entry {
                    layer: m.layer,
                    backend: m.backend,
                    batch,
                    detail: m.detail,
                    median_us,
                    per_sample_us,
                    device_us,
                    gbps,
                    bandwidth_fraction: cpu_side.then_some(gbps / bw),
                    entries_per_s: m.work.entries as f64 / secs,
                    macs: m.work.macs,
                    bytes_read: m.work.bytes_read,
                    energy_per_sample_uj: power.watts * per_sample_us,
                    power,
                    time_source,
                });
            }
        }
    }
    bar.finish_and_clear();
    let machine = Machine {
        cpu: cpu_model(),
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        isa: s.opts.isa.name().to_string(),
        cpu_threads: s.opts.threads,
        gpu_adapter: adapter
            .as_ref()
            .map(|a| format!("{} ({}, {})", a.name, a.backend, a.driver)),
        gpu_adapter_type: adapter.as_ref().map(|a| a.device_type.clone()),
        llc_bytes: llc,
        bandwidth_hot_gbps: hot,
        bandwidth_cold_gbps: cold,
        cpu_power: match meter.cpu_status() {
            Ok(s) => format!("measured: {s}"),
            Err(why) => format!("{} ({why})", declared_cpu.source),
        },
        gpu_power: if gpu_on_cpu {
            "the adapter runs on the CPU: the CPU's power".into()
        } else {
            match meter.gpu_status() {
                Ok(s) => format!("measured: {s}"),
                Err(why) => format!("{} ({why})", declared_gpu.source),
            }
        },
        date: today(),
    };
    Ok(Collected {
        machine,
        layers: layers.iter().map(|l| l.name().to_string()).collect(),
        entries,
        model,
        checks,
        criterion_files,
    })
}

fn find<'a>(c: &'a Collected, layer: &str, backend: &str, batch: usize) -> Option<&'a Entry> {
    c.entries
        .iter()
        .find(|e| e.layer == layer && e.backend == backend && e.batch == batch)
}

fn model_of<'a>(c: &'a Collected, layer: &str) -> Option<&'a ModelEntry> {
    c.model.iter().find(|m| m.layer == layer)
}

/// Our backends in table order (those with at least one entry).
fn backends(c: &Collected) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &c.entries {
        if !out.contains(&e.backend) {
            out.push(e.backend.clone());
        }
    }
    out
}

fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_x(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

/// The paper's value for `layer` from a 9-wide row (`alexnet-fc8-real` maps to Alex-8).
fn paper_cell(layer: &str, row: &[f64]) -> Option<f64> {
    paper::layer_index(layer).map(|i| row[i])
}

/// Which layers the geometric means cover: the paper's nine where present (`alexnet-fc8-real` is Alex-8
/// again, so counting both would weigh that layer twice), else every layer.
fn in_geomean(layers: &[String]) -> Vec<bool> {
    let nine: Vec<bool> = layers
        .iter()
        .map(|l| paper::LAYERS.iter().any(|p| p.eq_ignore_ascii_case(l)))
        .collect();
    if nine.iter().any(|&b| b) {
        nine
    } else {
        vec![true; layers.len()]
    }
}

/// Geometric mean of the values `mask` selects; none when one of them is missing.
fn geomean(xs: &[Option<f64>], mask: &[bool]) -> Option<f64> {
    let sel: Vec<Option<f64>> = xs
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(x, _)| *x)
        .collect();
    let v: Vec<f64> = sel.iter().flatten().copied().collect();
    (v.len() == sel.len() && !v.is_empty()).then(|| paper::geomean(&v))
}

/// Table IV: µs per sample, ours (each backend, batch 1 and 64), the EIE model, the paper's rows.
pub fn table_iv(c: &Collected) -> Table {
    let mut headers = vec!["Platform", "Batch", "Matrix"];
    headers.extend(c.layers.iter().map(|s| s.as_str()));
    let mut t = Table::new(&headers);
    for b in backends(c) {
        for batch in [1usize, 64] {
            let mut row = vec![
                format!("ours: {b}"),
                batch.to_string(),
                if b.contains("dense") {
                    "dense"
                } else {
                    "sparse"
                }
                .into(),
            ];
            row.extend(
                c.layers
                    .iter()
                    .map(|l| opt(find(c, l, &b, batch).map(|e| e.per_sample_us), fmt_us)),
            );
            t.push(row);
        }
    }
    for (what, f) in [
        (
            "theoretical",
            (|m: &ModelEntry| m.theoretical_us) as fn(&ModelEntry) -> f64,
        ),
        ("actual", |m: &ModelEntry| m.actual_us),
    ] {
        let mut row = vec!["ours: EIE model (64 PE)".into(), "1".into(), what.into()];
        row.extend(c.layers.iter().map(|l| opt(model_of(c, l).map(f), fmt_us)));
        t.push(row);
    }
    for r in &paper::TABLE_IV {
        let mut row = vec![
            format!("paper: {}", r.platform),
            r.batch.map_or("1".into(), |b| b.to_string()),
            r.matrix.into(),
        ];
        row.extend(c.layers.iter().map(|l| opt(paper_cell(l, &r.us), fmt_us)));
        t.push(row);
    }
    t
}

/// GB/s and the share of this machine's read bandwidth.
pub fn bandwidth_table(c: &Collected) -> Table {
    let mut headers = vec!["Backend", "Batch"];
    headers.extend(c.layers.iter().map(|s| s.as_str()));
    let mut t = Table::new(&headers);
    for b in backends(c) {
        for batch in [1usize, 64] {
            let mut row = vec![b.clone(), batch.to_string()];
            row.extend(c.layers.iter().map(|l| {
                find(c, l, &b, batch).map_or("-".into(), |e| match e.bandwidth_fraction {
                    Some(f) => format!("{:.1} ({:.0} %)", e.gbps, f * 100.0),
                    None => format!("{:.1}", e.gbps),
                })
            }));
            t.push(row);
        }
    }
    t
}

/// Ratios over our CPU dense at batch 1 (Fig. 6: time; Fig. 7: energy), per layer and their geomean.
fn ratio_rows(c: &Collected, energy: bool) -> Vec<(String, Vec<Option<f64>>)> {
    let base = |l: &str| {
        find(c, l, "cpu-dense-f32", 1).map(|e| {
            if energy {
                e.energy_per_sample_uj
            } else {
                e.per_sample_us
            }
        })
    };
    let mut rows = Vec::new();
    for batch in [1usize, 64] {
        for b in backends(c) {
            let vals: Vec<Option<f64>> = c
                .layers
                .iter()
                .map(|l| {
                    let e = find(c, l, &b, batch)?;
                    let v = if energy {
                        e.energy_per_sample_uj
                    } else {
                        e.per_sample_us
                    };
                    Some(base(l)? / v)
                })
                .collect();
            rows.push((format!("ours: {b}, batch {batch}"), vals));
        }
    }
    let eie: Vec<Option<f64>> = c
        .layers
        .iter()
        .map(|l| {
            let m = model_of(c, l)?;
            Some(base(l)? / if energy { m.energy_uj } else { m.actual_us })
        })
        .collect();
    rows.push(("ours: EIE model (64 PE), batch 1".into(), eie));
    rows
}

fn ratio_table(c: &Collected, energy: bool) -> Table {
    let mut headers = vec!["Series"];
    headers.extend(c.layers.iter().map(|s| s.as_str()));
    headers.push("Geo. mean (Table III layers)");
    if energy {
        headers.push("Power");
    }
    let mut t = Table::new(&headers);
    for (name, vals) in ratio_rows(c, energy) {
        let mut row = vec![name.clone()];
        row.extend(vals.iter().map(|v| opt(*v, fmt_x)));
        row.push(opt(geomean(&vals, &in_geomean(&c.layers)), fmt_x));
        if energy {
            row.push(power_label(c, &name));
        }
        t.push(row);
    }
    let fig = if energy {
        &paper::FIG_7[..]
    } else {
        &paper::FIG_6[..]
    };
    for r in fig {
        let mut row = vec![format!("paper: {}", r.series)];
        row.extend(
            c.layers
                .iter()
                .map(|l| opt(paper_cell(l, &r.values[..9]), fmt_x)),
        );
        row.push(fmt_x(r.values[9]));
        if energy {
            row.push("S2 Table 9 (measured)".into());
        }
        t.push(row);
    }
    t
}

/// The power behind a series of the energy table: its range over the layers and where it came from.
fn power_label(c: &Collected, series: &str) -> String {
    if series.contains("EIE model") {
        return "the model's energy".into();
    }
    let es: Vec<&Entry> = c
        .entries
        .iter()
        .filter(|e| series == format!("ours: {}, batch {}", e.backend, e.batch))
        .collect();
    if es.is_empty() {
        return "-".into();
    }
    let (lo, hi) = es.iter().fold((f64::INFINITY, 0.0f64), |(l, h), e| {
        (l.min(e.power.watts), h.max(e.power.watts))
    });
    let mut kinds: Vec<&str> = es
        .iter()
        .map(|e| e.power.source.split([':', ' ']).next().unwrap_or(""))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let kind = kinds.join(" / ");
    if (hi - lo) < 0.05 {
        format!("{lo:.1} W, {kind}")
    } else {
        format!("{lo:.1}-{hi:.1} W, {kind}")
    }
}

/// Table V: Alex-7 frames/s and frames/J.
pub fn table_v(c: &Collected) -> Option<Table> {
    let layer = c.layers.iter().find(|l| l.eq_ignore_ascii_case("Alex-7"))?;
    let mut t = Table::new(&[
        "Platform",
        "Batch",
        "Power W",
        "Frames/s",
        "Frames/J",
        "Power from",
    ]);
    for batch in [1usize, 64] {
        for b in backends(c) {
            if let Some(e) = find(c, layer, &b, batch) {
                let fps = 1e6 / e.per_sample_us;
                t.push(vec![
                    format!("ours: {b}"),
                    batch.to_string(),
                    format!("{:.1}", e.power.watts),
                    format!("{fps:.0}"),
                    format!("{:.1}", fps / e.power.watts),
                    e.power.source.clone(),
                ]);
            }
        }
    }
    if let Some(m) = model_of(c, layer) {
        t.push(vec![
            "ours: EIE model (64 PE, 45 nm)".into(),
            "1".into(),
            format!("{:.3}", m.power_w),
            format!("{:.0}", 1e6 / m.actual_us),
            format!("{:.0}", 1e6 / m.energy_uj),
            "the model's energy (Table II calibration)".into(),
        ]);
    }
    for r in &paper::TABLE_V {
        t.push(vec![
            format!("paper: {}", r.platform),
            "1".into(),
            format!("{}", r.power_w),
            format!("{:.0}", r.frames_per_s),
            format!("{}", r.frames_per_j),
            r.source.into(),
        ]);
    }
    Some(t)
}

/// Validation: one row per check that did not pass plainly, and a count.
fn validation_summary(c: &Collected) -> String {
    let ran = c.checks.iter().filter(|k| !k.unavailable).count();
    let passed = c.checks.iter().filter(|k| k.ok && !k.unavailable).count();
    let exact = c
        .checks
        .iter()
        .filter(|k| k.ok && k.exact && !k.unavailable)
        .count();
    let mut s = format!(
        "{passed} of {ran} checks passed ({exact} bit-exact fixed-point checks, the rest f32 within DESIGN.md's bound); \
         {} unavailable.\n",
        c.checks.len() - ran
    );
    for k in c.checks.iter().filter(|k| !k.ok || k.unavailable) {
        s.push_str(&format!(
            "- {} {} batch {}: {} {}\n",
            k.layer,
            k.backend,
            k.batch,
            if k.ok { "unavailable:" } else { "FAILED:" },
            k.message.as_deref().unwrap_or("")
        ));
    }
    s
}

fn checks_table(c: &Collected) -> Table {
    let mut t = Table::new(&["Layer", "Backend", "Batch", "Max error", "Exact", "Result"]);
    for k in &c.checks {
        t.push(vec![
            k.layer.clone(),
            k.backend.clone(),
            k.batch.to_string(),
            if k.exact {
                "0".into()
            } else {
                format!("{:.2e}", k.max_abs_err)
            },
            k.exact.to_string(),
            match (&k.message, k.ok) {
                (None, _) => "ok".into(),
                (Some(m), true) => format!("unavailable: {m}"),
                (Some(m), false) => format!("FAILED: {m}"),
            },
        ]);
    }
    t
}

/// The whole report as Markdown.
pub fn markdown(c: &Collected) -> String {
    let m = &c.machine;
    let mut s = String::new();
    s.push_str(&format!(
        "# eie-bench report\n\nMachine: {} ({} logical CPUs, ISA level {}, our CPU kernels on {} thread(s)); GPU adapter: {}; \
         read bandwidth {:.1} GB/s in cache, {:.1} GB/s from DRAM (LLC {} MiB); {}.\n\n\
         Power: CPU {}; GPU {}.\n\n",
        m.cpu,
        m.logical_cpus,
        m.isa,
        m.cpu_threads,
        m.gpu_adapter.as_deref().unwrap_or("none"),
        m.bandwidth_hot_gbps,
        m.bandwidth_cold_gbps,
        m.llc_bytes >> 20,
        m.date,
        m.cpu_power,
        m.gpu_power,
    ));
    let sources: Vec<&str> = {
        let mut v: Vec<&str> = c
            .entries
            .iter()
            .map(|e| {
                if e.time_source.starts_with("criterion") {
                    "criterion"
                } else {
                    "measured"
                }
            })
            .collect();
        v.dedup();
        v
    };
    s.push_str(&format!(
        "Times: {}. Every output was verified against the reference before a time was kept.\n\n",
        if sources.contains(&"criterion") {
            format!(
                "criterion's medians from {} file(s) under the criterion folder (listed in report.json), our own \
                 measurement where a file was missing",
                c.criterion_files.len()
            )
        } else {
            "our own measurement (median of repeated runs after warm-up; wall time: for GPU backends input upload, \
             kernels and read-back)"
                .into()
        }
    ));
    if sources.contains(&"criterion") {
        s.push_str(
            "Criterion records no power: energy figures beside criterion's times use the declared or assumed \
             power, never a measured one.\n\n",
        );
    }
    s.push_str(
        "## Table IV: time per sample, µs\n\nOurs beside the paper's (S1 Table IV). At batch 64 the time of one pass \
         divided by 64, as the paper reports it. `alexnet-fc8-real` is shown beside the paper's Alex-8 column (the \
         same layer).\n\n",
    );
    s.push_str(&table_iv(c).markdown());
    s.push_str(
        "\n## Bandwidth: GB/s (share of this machine's read bandwidth)\n\nBytes each backend must read per pass \
         (weights, indices, input) over its time; the share is of the DRAM bandwidth when those bytes exceed the \
         last-level cache, else of the in-cache bandwidth. GPU backends get a share only on adapters that run on \
         this CPU (lavapipe); a GPU with its own memory shows GB/s alone.\n\n",
    );
    s.push_str(&bandwidth_table(c).markdown());
    s.push_str(
        "\n## Fig. 6: speedup over our CPU dense (batch 1)\n\nTime per sample of `cpu-dense-f32` at batch 1 over \
         each backend's; the paper's rows are over its own CPU dense (i7-5930k, MKL). Chart: fig6-speedup.svg.\n\n",
    );
    s.push_str(&ratio_table(c, false).markdown());
    s.push_str(
        "\n## Fig. 7: energy efficiency over our CPU dense (batch 1)\n\nEnergy per sample (power x time) of \
         `cpu-dense-f32` at batch 1 over each backend's. The EIE model's energy is its own (Table II calibration, \
         45 nm). Chart: fig7-energy.svg.\n\n",
    );
    s.push_str(&ratio_table(c, true).markdown());
    if let Some(t) = table_v(c) {
        s.push_str("\n## Table V: Alex-7 (AlexNet FC7) frames/s and frames/J\n\n");
        s.push_str(&t.markdown());
    }
    s.push_str("\n## Validation\n\n");
    s.push_str(&validation_summary(c));
    s.push_str("\nEvery check: validation.csv.\n");
    if !c.criterion_files.is_empty() {
        s.push_str("\n## Criterion files read\n\n");
        for f in &c.criterion_files {
            s.push_str(&format!("- {f}\n"));
        }
    }
    s
}

/// Writes report.md, the CSVs, report.json and the SVG charts to `dir`.
pub fn write(c: &Collected, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let put = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    put("report.md", &markdown(c))?;
    put("table-iv.csv", &table_iv(c).csv())?;
    put("bandwidth.csv", &bandwidth_table(c).csv())?;
    put("fig6-speedup.csv", &ratio_table(c, false).csv())?;
    put("fig7-energy.csv", &ratio_table(c, true).csv())?;
    if let Some(t) = table_v(c) {
        put("table-v.csv", &t.csv())?;
    }
    put("validation.csv", &checks_table(c).csv())?;
    put("report.json", &serde_json::to_string_pretty(c)?)?;
    let mut cats = c.layers.clone();
    cats.push("Geo. mean".into());
    // (over the Table III layers: see `in_geomean`)
    for (energy, file, title, y) in [
        (
            false,
            "fig6-speedup.svg",
            "Speedup over our CPU dense, batch 1 (cf. the paper's Fig. 6)",
            "speedup (log)",
        ),
        (
            true,
            "fig7-energy.svg",
            "Energy efficiency over our CPU dense, batch 1 (cf. the paper's Fig. 7)",
            "energy efficiency (log)",
        ),
    ] {
        let series = ratio_rows(c, energy)
            .into_iter()
            .filter(|(n, _)| n.ends_with("batch 1"))
            .map(|(n, mut v)| {
                v.push(geomean(&v, &in_geomean(&c.layers)));
                (
                    n.trim_start_matches("ours: ")
                        .trim_end_matches(", batch 1")
                        .to_string(),
                    v,
                )
            })
            .collect();
        BarChart {
            title,
            y_label: y,
            categories: cats.clone(),
            series,
        }
        .write_svg(&dir.join(file))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_is_plausible() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"), "{d}");
    }

    #[test]
    fn reads_criterion_medians_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Alex-7/cpu-eie-f32/b1/new");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("estimates.json"),
            r#"{"mean":{"point_estimate":2000.0},"median":{"point_estimate":1500.0}}"#,
        )
        .unwrap();
        let (us, file) = criterion_median_us(dir.path(), "Alex-7", "cpu-eie-f32", 1)
            .unwrap()
            .unwrap();
        assert_eq!(us, 1.5);
        assert!(file.ends_with("estimates.json"));
        assert!(
            criterion_median_us(dir.path(), "Alex-7", "cpu-eie-f32", 64)
                .unwrap()
                .is_none()
        );
        std::fs::write(p.join("estimates.json"), "{}").unwrap();
        let e = criterion_median_us(dir.path(), "Alex-7", "cpu-eie-f32", 1).unwrap_err();
        assert!(e.to_string().contains("estimates.json"), "{e}");
    }
}
