//! `eie measure`: time backends on layers (verified outputs, median of repeated runs), with the
//! machine's read bandwidth measured in the same process. Every result is a record: `--save FILE.jsonl`
//! appends them, `--format json` prints them, and `eie report FILE.jsonl` renders them later, anywhere.

use crate::layer_args::LayerArgs;
use crate::report::view::derive;
use crate::table::{Format, Table};
use anyhow::{Context, Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::harness::{Inputs, Plan, Session};
use eie_bench::record::{self, Record};
use eie_bench::registry::{Options, checked_threads, parse_backends};
use eie_kernels::cpu::IsaLevel;
use std::path::PathBuf;

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
    /// Append the records to this JSON Lines file (created if missing).
    #[arg(long, value_name = "FILE.jsonl")]
    pub save: Option<PathBuf>,
    /// Output format (json: the records).
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// Parses `--isa`.
pub fn isa_level(s: Option<&str>) -> Result<IsaLevel> {
    match s {
        Some(s) => IsaLevel::parse(s).ok_or_else(|| {
            anyhow::anyhow!("--isa: unknown ISA level '{s}' (portable, avx2, avx512)")
        }),
        None => Ok(IsaLevel::best()),
    }
}

/// Prints records as the chosen format.
pub fn print_records(
    records: &[Record],
    format: Format,
    table: fn(&[Record]) -> Table,
) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(records)?),
        Format::Csv => print!("{}", table(records).csv()),
        Format::Md => print!("{}", table(records).markdown()),
    }
    Ok(())
}

/// Appends `records` to `--save`'s file, if given.
pub fn save(path: Option<&PathBuf>, records: &[Record]) -> Result<()> {
    if let Some(p) = path {
        record::append(p, records)
            .with_context(|| format!("appending records to {}", p.display()))?;
        eprintln!("appended {} records to {}", records.len(), p.display());
    }
    Ok(())
}

/// Runs `eie measure`.
pub fn run(args: Args) -> Result<()> {
    if args.batch == 0 || args.threads == 0 {
        bail!("--batch and --threads must be at least 1");
    }
    eie_bench::harness::check_budget_ms(args.budget_ms)?;
    let explicit = !args.backends.is_empty();
    let ids = parse_backends(&args.backends, BackendId::MEASURED)?;
    let opts = Options {
        isa: isa_level(args.isa.as_deref())?,
        threads: checked_threads(args.threads)?,
        ..Options::default()
    }
    .with_gpu_knobs_from_env(&ids)?;
    let layers = args.layers.build_tagged(64)?;
    eie_bench::harness::check_batch(&layers, args.batch)?;
    let mut session = Session::open(opts, &ids);
    eprintln!("probing read bandwidth on {} thread(s)...", opts.threads);
    session.probe_bandwidth();
    let plan = Plan {
        batch: args.batch,
        cold: args.cold,
        budget: std::time::Duration::from_millis(args.budget_ms),
        probe_threads: args.cold.then_some(opts.threads),
        ..Plan::default()
    };
    let mut records = Vec::new();
    for l in &layers {
        let inputs = Inputs::new(&l.layer, args.batch)?;
        for &id in &ids {
            let r = session.measure(l, &inputs, id, plan)?;
            match r.check.as_ref() {
                Some(c) if c.unavailable.is_some() => {
                    let why = c.unavailable.clone().unwrap_or_default();
                    // Asked for by name, or required: an unavailable backend is an error.
                    if explicit || (id.is_gpu() && eie_kernels::gpu::gpu_required()) {
                        bail!("{id} on {}: unavailable: {why}", l.id.name);
                    }
                    eprintln!("{:<16} {:<18} unavailable: {why}", l.id.name, id.name());
                    continue;
                }
                Some(c) if !c.ok => bail!(
                    "{id} on {}: {}; no time recorded",
                    l.id.name,
                    c.message.as_deref().unwrap_or("wrong output")
                ),
                _ => {}
            }
            if let Some(d) = derive(&r) {
                eprintln!("{:<16} {:<18} {:>10.1} us", l.id.name, id.name(), d.us);
            }
            records.push(r);
        }
    }
    save(args.save.as_ref(), &records)?;
    if args.format == Format::Md
        && let Some(b) = session.bandwidth
    {
        println!(
            "Read bandwidth on {} thread(s): {:.1} GB/s hot (in cache), {:.1} GB/s cold (DRAM); LLC {} MiB. Batch {}, {}.\n",
            opts.threads,
            b.hot_gbps,
            b.cold_gbps,
            b.llc_bytes >> 20,
            args.batch,
            if args.cold {
                "cold (rotating copies larger than the LLC; % of a DRAM probe pass run after each timed run, median)"
            } else {
                "hot (layer resident in cache where it fits)"
            }
        );
    }
    print_records(&records, args.format, table)
}

fn table(records: &[Record]) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Backend",
        "Detail",
        "Median µs (wall)",
        "Min-max µs",
        "Device µs",
        "µs / sample (device where timed)",
        "GB/s",
        "% of bandwidth",
        "G entries/s",
        "Max error",
    ]);
    for r in records {
        let Some(d) = derive(r) else { continue };
        let timing = r.timing.as_ref().expect("derived");
        let wall = timing.wall.map(|w| (w.median_us, w.range()));
        let probe = r.bandwidth.and_then(|b| b.interleaved_gbps);
        let check = r.check.as_ref();
        t.push(vec![
            r.layer.name.clone(),
            r.backend.to_string(),
            r.detail.clone(),
            wall.map_or("-".into(), |w| format!("{:.1}", w.0)),
            wall.map_or("-".into(), |(_, (lo, hi))| format!("{lo:.1}-{hi:.1}")),
            timing
                .device
                .map_or("-".into(), |d| format!("{:.1}", d.median_us)),
            format!("{:.2}", d.per_sample_us),
            d.gbps.map_or("-".into(), |g| format!("{g:.1}")),
            match (d.bandwidth_share, probe) {
                (Some(f), Some(p)) => format!("{:.0} % of {p:.1}", f * 100.0),
                (Some(f), None) => format!("{:.0} %", f * 100.0),
                _ => "-".into(),
            },
            d.entries_per_s
                .map_or("-".into(), |e| format!("{:.2}", e / 1e9)),
            match check {
                Some(c) if c.exact => "exact".into(),
                Some(c) => format!("{:.1e}", c.max_abs_err),
                None => "-".into(),
            },
        ]);
    }
    t
}
