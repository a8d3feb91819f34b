//! `eie measure`: time backends on layers (verified outputs, median of repeated runs), with the
//! machine's read bandwidth measured in the same process.

use crate::layer_args::LayerArgs;
use crate::table::{Format, Table};
use anyhow::{Result, bail};
use eie_bench::harness::{Measurement, Plan, measure};
use eie_bench::registry::{BACKENDS, Options, make};
use eie_kernels::cpu::IsaLevel;
use eie_kernels::cpu::bandwidth::{llc_bytes, probe};
use serde::Serialize;

/// Flags of `eie measure`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// A backend (repeatable). Default: all of them.
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Threads of our CPU kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Rotate over copies of the layer larger than the last-level cache (DRAM-cold data).
    #[arg(long)]
    pub cold: bool,
    /// ISA level of our CPU kernels: portable, avx2, avx512. Default: the best this CPU has.
    #[arg(long, value_name = "LEVEL")]
    pub isa: Option<String>,
    /// Time budget per measurement, in milliseconds.
    #[arg(long, default_value_t = 400)]
    pub budget_ms: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

#[derive(Serialize)]
struct Row {
    layer: String,
    backend: String,
    batch: usize,
    threads: usize,
    isa: String,
    /// Wall time: input upload, kernels, output read-back (GPU) or the call (CPU).
    median_us: f64,
    /// GPU timestamp-query time of the compute pass, where the adapter has timestamps.
    device_us: Option<f64>,
    per_sample_us: f64,
    gbps: f64,
    bandwidth_fraction: f64,
    /// `--cold`: the DRAM probe interleaved with this row's timed runs (median GB/s), the denominator of
    /// `bandwidth_fraction`.
    probe_gbps: Option<f64>,
    entries_per_s: f64,
    macs: u64,
    bytes_read: u64,
    max_abs_err: f64,
    exact: bool,
    cold: bool,
    copies: usize,
    runs: usize,
}

#[derive(Serialize)]
struct Output {
    cpu_threads: usize,
    bandwidth_hot_gbps: f64,
    bandwidth_cold_gbps: f64,
    llc_bytes: usize,
    rows: Vec<Row>,
}

/// Runs `eie measure`.
pub fn run(args: Args) -> Result<()> {
    if args.batch == 0 || args.threads == 0 {
        bail!("--batch and --threads must be at least 1");
    }
    let isa = match &args.isa {
        Some(s) => IsaLevel::parse(s)
            .ok_or_else(|| anyhow::anyhow!("unknown ISA level '{s}' (portable, avx2, avx512)"))?,
        None => IsaLevel::best(),
    };
    let names: Vec<String> = if args.backends.is_empty() {
        BACKENDS.iter().map(|s| s.to_string()).collect()
    } else {
        args.backends.clone()
    };
    let opts = Options {
        isa,
        threads: args.threads,
    };
    for n in &names {
        make(n, opts)?;
    }
    let explicit = !args.backends.is_empty();
    let layers = args.layers.build(64)?;
    let llc = llc_bytes();
    eprintln!("probing read bandwidth on {} thread(s)...", args.threads);
    let (hot, cold) = probe(args.threads);
    let plan = Plan {
        batch: args.batch,
        cold: args.cold,
        budget: std::time::Duration::from_millis(args.budget_ms),
        probe_threads: args.cold.then_some(args.threads),
        ..Plan::default()
    };
    let mut rows = Vec::new();
    for l in &layers {
        for n in &names {
            let m: Measurement = match measure(l, &|| make(n, opts), plan, llc) {
                Ok(m) => m,
                // A GPU backend without an adapter is reported and skipped unless asked for by name.
                Err(e)
                    if !explicit
                        && e.downcast_ref::<eie_compress::BackendError>()
                            .is_some_and(|b| {
                                matches!(b, eie_compress::BackendError::Unavailable { .. })
                            }) =>
                {
                    eprintln!("{:<16} {:<18} {e}", l.name(), n);
                    continue;
                }
                Err(e) => return Err(e),
            };
            eprintln!("{:<16} {:<18} {:>10.1} us", m.layer, m.backend, m.median_us);
            let threads = if n.starts_with("cpu-") {
                args.threads
            } else {
                1
            };
            rows.push(Row {
                layer: m.layer,
                backend: m.backend,
                batch: m.batch,
                threads,
                isa: m.detail,
                median_us: m.median_us,
                device_us: m.device_us,
                per_sample_us: m.per_sample_us,
                gbps: m.gbps,
                // Cold: against the DRAM probe passes interleaved with this row's runs.
                bandwidth_fraction: m.gbps
                    / m.probe_gbps.unwrap_or(if args.cold { cold } else { hot }),
                probe_gbps: m.probe_gbps,
                entries_per_s: m.entries_per_s,
                macs: m.work.macs,
                bytes_read: m.work.bytes_read,
                max_abs_err: m.max_abs_err,
                exact: m.exact,
                cold: m.cold,
                copies: m.copies,
                runs: m.runs,
            });
        }
    }
    let out = Output {
        cpu_threads: args.threads,
        bandwidth_hot_gbps: hot,
        bandwidth_cold_gbps: cold,
        llc_bytes: llc,
        rows,
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        Format::Csv => print!("{}", table(&out).csv()),
        Format::Md => {
            println!(
                "Read bandwidth on {} thread(s): {hot:.1} GB/s hot (in cache), {cold:.1} GB/s cold (DRAM); LLC {} MiB. Batch {}, {}.\n",
                out.cpu_threads,
                llc >> 20,
                args.batch,
                if args.cold {
                    "cold (rotating copies larger than the LLC; % of a DRAM probe pass run after each timed run, median)"
                } else {
                    "hot (layer resident in cache where it fits)"
                }
            );
            print!("{}", table(&out).markdown());
        }
    }
    Ok(())
}

fn table(out: &Output) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Backend",
        "Detail",
        "Median µs (wall)",
        "Device µs",
        "µs / sample",
        "GB/s",
        "% of bandwidth",
        "G entries/s",
        "Max error",
    ]);
    for r in &out.rows {
        t.push(vec![
            r.layer.clone(),
            r.backend.clone(),
            r.isa.clone(),
            format!("{:.1}", r.median_us),
            r.device_us.map_or("-".into(), |d| format!("{d:.1}")),
            format!("{:.2}", r.per_sample_us),
            format!("{:.1}", r.gbps),
            match r.probe_gbps {
                Some(p) => format!("{:.0} % of {p:.1}", r.bandwidth_fraction * 100.0),
                None => format!("{:.0} %", r.bandwidth_fraction * 100.0),
            },
            format!("{:.2}", r.entries_per_s / 1e9),
            if r.exact {
                "exact".into()
            } else {
                format!("{:.1e}", r.max_abs_err)
            },
        ]);
    }
    t
}
