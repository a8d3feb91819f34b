//! `eie report`: our measurements beside the paper's, as the paper lays them out: Table IV (time per
//! layer), Fig. 6 (speedup over CPU dense), Fig. 7 (energy efficiency over CPU dense), Table V (Alex-7
//! frames/s and frames/J), GB/s and the share of the machine's read bandwidth, and the validation of every
//! backend; Markdown, CSV, JSON and SVG in one folder.
//!
//! `eie report FILE.jsonl...` renders from records alone (any machines, any days) and measures nothing.
//! Without files it measures first (`collect.rs`) into `OUT/records.jsonl`, then renders from that file.
//! `--from-criterion` imports criterion's estimates as the times of those records.
//!
//! - `view.rs`: records arranged in columns (layers) and series (machine, backend, threads); derived figures;
//! - `tables.rs`: the tables; `render.rs`: Markdown, CSV, JSON, SVG; `collect.rs`: measuring.

pub mod collect;
pub mod render;
pub mod tables;
pub mod view;

use crate::output::OutDir;
use anyhow::{Context, Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::harness::{Plan, Session};
use eie_bench::record::{self, Record};
use eie_bench::registry::{Options, checked_threads, parse_backends};
use eie_kernels::cpu::IsaLevel;
use std::path::{Path, PathBuf};
use std::time::Duration;
use view::{Declared, View};

/// Flags of `eie report`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Records to render (JSON Lines from `--save`, `eie report`, the main job, scripts/gpu-libs.py).
    /// None: measure first, into OUT/records.jsonl.
    #[arg(value_name = "FILE.jsonl")]
    pub records: Vec<PathBuf>,
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
    /// CPU power in W for records that carry no measured power.
    #[arg(long, value_name = "W")]
    pub cpu_watts: Option<f64>,
    /// GPU power in W for records that carry no measured power.
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

impl Args {
    /// Whether any flag that only measuring uses was given.
    fn measuring_flags(&self) -> Vec<&'static str> {
        let d = crate::layer_args::LayerArgs::default();
        let l = &self.layers;
        let mut v = Vec::new();
        if !l.layers.is_empty()
            || l.weights.is_some()
            || l.bits != d.bits
            || l.index_bits != d.index_bits
        {
            v.push("--layer/--weights/--bits/--index-bits");
        }
        if !self.backends.is_empty() {
            v.push("--backend");
        }
        if self.threads != 1 {
            v.push("--threads");
        }
        if self.budget_ms != 300 {
            v.push("--budget-ms");
        }
        if self.from_criterion {
            v.push("--from-criterion");
        }
        v
    }
}

/// Checks declared wattages.
pub fn declared(cpu: Option<f64>, gpu: Option<f64>) -> Result<Declared> {
    for (flag, w) in [("--cpu-watts", cpu), ("--gpu-watts", gpu)] {
        if let Some(w) = w
            && !(w.is_finite() && w > 0.0 && w <= 100_000.0)
        {
            bail!("{flag} {w}: expected a positive power in watts, at most 100000");
        }
    }
    Ok(Declared {
        cpu_watts: cpu,
        gpu_watts: gpu,
    })
}

/// Reads every record of `files`.
pub fn read_all(files: &[PathBuf]) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    for f in files {
        all.extend(record::read(f)?);
    }
    Ok(all)
}

/// Runs `eie report`.
pub fn run(args: Args) -> Result<()> {
    let declared = declared(args.cpu_watts, args.gpu_watts)?;
    if !args.records.is_empty() {
        let flags = args.measuring_flags();
        if !flags.is_empty() {
            bail!(
                "{} measure, but records were given to render; leave out either the records or {}",
                flags.join(", "),
                flags.join(", ")
            );
        }
        let records = read_all(&args.records)?;
        print!("{}", render(records, declared, &args.out, &args.records)?);
        return Ok(());
    }
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    eie_bench::harness::check_budget_ms(args.budget_ms)?;
    let backends = parse_backends(&args.backends, BackendId::MEASURED)?;
    if args.from_criterion
        && (args.layers.weights.is_some() || args.layers.bits != 4 || args.layers.index_bits != 4)
    {
        bail!(
            "--from-criterion reads times the criterion bench took on the built-in layers with the default \
             compression; leave out --weights, --bits and --index-bits, or measure without --from-criterion"
        );
    }
    if args.from_criterion && !has_estimates(&args.criterion_dir, 5) {
        bail!(
            "{}: no criterion results (run `cargo bench --bench backends` first, or leave out --from-criterion)",
            args.criterion_dir.display()
        );
    }
    let layers = args.layers.build_tagged(64)?;
    let opts = Options {
        isa: IsaLevel::best(),
        threads: checked_threads(args.threads)?,
        ..Options::default()
    }
    .with_gpu_knobs_from_env(&backends)?;
    let mut session = Session::open(opts, &backends);
    eprintln!("probing read bandwidth on {} thread(s)...", opts.threads);
    session.probe_bandwidth();
    let settings = collect::Settings {
        backends,
        batches: vec![1, 64],
        plan: Plan {
            budget: Duration::from_millis(args.budget_ms),
            ..Plan::default()
        },
        deadline: None,
        criterion_dir: args.from_criterion.then(|| args.criterion_dir.clone()),
    };
    let records = collect::measure_all(&layers, &session, &settings)?;
    if args.from_criterion {
        // Asked for criterion's times: a run that found none must not pass off our harness's as them.
        let timed = |s: record::TimeSource| {
            records
                .iter()
                .filter(|r| r.timing.as_ref().is_some_and(|t| t.source == s))
                .count()
        };
        let (from_criterion, ours) = (
            timed(record::TimeSource::Criterion),
            timed(record::TimeSource::Harness),
        );
        if from_criterion == 0 {
            bail!(
                "--from-criterion: {} holds no criterion results for these layers and backends (run `cargo \
                 bench --bench backends` first)",
                args.criterion_dir.display()
            );
        }
        if ours > 0 {
            eprintln!(
                "warning: --from-criterion: {ours} of {} timings had no criterion result and were measured by \
                 our harness (their records say so)",
                ours + from_criterion
            );
        }
    }
    let file = save_fresh(&args.out, &records)?;
    print!(
        "{}",
        render(record::read(&file)?, declared, &args.out, &[])?
    );
    fail_on_checks(&records)
}

/// Whether `dir` holds a criterion `estimates.json` within `depth` folders (criterion's layout:
/// LAYER/BACKEND/bBATCH/new/estimates.json).
fn has_estimates(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            depth > 0 && has_estimates(&p, depth - 1)
        } else {
            e.file_name() == "estimates.json"
        }
    })
}

/// Writes `records` as OUT/records.jsonl (replacing an earlier run's, atomically); the file's path.
pub fn save_fresh(out: &Path, records: &[Record]) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let file = out.join("records.jsonl");
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    crate::output::write_atomic(&file, text.as_bytes())?;
    Ok(file)
}

/// Renders `records` into `out`; the Markdown.
pub fn render(
    records: Vec<Record>,
    declared: Declared,
    out: &Path,
    inputs: &[PathBuf],
) -> Result<String> {
    let view = View::new(records, declared);
    let mut dir = OutDir::create(out, "report", inputs)?;
    render::write(&view, &mut dir)?;
    // The records the report was measured into stay with it.
    if dir.path("records.jsonl").is_file() && inputs.is_empty() {
        dir.keep("records.jsonl");
    }
    dir.finish()?;
    eprintln!("wrote {}", out.display());
    Ok(render::markdown(&view))
}

/// An error when any check failed (an unavailable backend is not a failure), or when nothing could be
/// checked at all (every backend asked for was unavailable: a run that checked nothing is no pass).
pub fn fail_on_checks(records: &[Record]) -> Result<()> {
    let failed: Vec<&Record> = records
        .iter()
        .filter(|r| {
            r.check
                .as_ref()
                .is_some_and(|c| !c.ok && c.unavailable.is_none())
        })
        .collect();
    let checks = records.iter().filter(|r| r.check.is_some()).count();
    require_gpu(records)?;
    let unavailable: Vec<&Record> = records
        .iter()
        .filter(|r| r.check.as_ref().is_some_and(|c| c.unavailable.is_some()))
        .collect();
    if checks > 0 && unavailable.len() == checks {
        bail!(
            "nothing was checked: every backend asked for was unavailable ({})",
            unavailable
                .iter()
                .map(|r| r.backend.name())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {checks} checks failed: {}",
            failed.len(),
            failed
                .iter()
                .map(|r| format!("{} {} batch {}", r.layer.name, r.backend, r.batch))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// With `EIE_REQUIRE_GPU=1`, an error when a GPU backend was asked for and could not run.
pub fn require_gpu(records: &[Record]) -> Result<()> {
    if !eie_kernels::gpu::gpu_required() {
        return Ok(());
    }
    if let Some(r) = records
        .iter()
        .find(|r| r.backend.is_gpu() && r.check.as_ref().is_some_and(|c| c.unavailable.is_some()))
    {
        bail!(
            "EIE_REQUIRE_GPU=1, but {} could not run on {}: {}",
            r.backend,
            r.layer.name,
            r.check
                .as_ref()
                .and_then(|c| c.unavailable.as_deref())
                .unwrap_or("")
        );
    }
    Ok(())
}
