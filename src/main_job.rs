//! The main job (`eie` with no subcommand, i.e. `cargo run --release`): build the nine layers (and the
//! real FC8 when its data exists) once, print them, run the EIE model on them beside Table IV, verify and
//! quickly measure every available backend on every layer at batch 1 and 64 into `report/records.jsonl`,
//! then render the paper's tables with ours beside from those records into `report/` and print them.
//! The whole job keeps a time budget (`EIE_MAIN_BUDGET_S`, default 170 s): measurements share what the
//! layers and the model leave, CPU backends first, and what the budget does not reach (GPU backends on a
//! software adapter, typically) is recorded and reported as not measured. Exit 1 if any check fails.

use crate::report::{collect, fail_on_checks, render, save_fresh, view::Declared};
use crate::table::Format;
use anyhow::{Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::harness::{Plan, Session};
use eie_bench::record;
use eie_bench::registry::Options;
use std::path::Path;
use std::time::{Duration, Instant};

/// The main job's default time budget: three minutes with room for building and rendering.
const DEFAULT_BUDGET_S: u64 = 170;

fn budget() -> Result<Duration> {
    match std::env::var("EIE_MAIN_BUDGET_S") {
        Err(_) => Ok(Duration::from_secs(DEFAULT_BUDGET_S)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if (10..=86_400).contains(&s) => Ok(Duration::from_secs(s)),
            _ => bail!("EIE_MAIN_BUDGET_S={v:?}: expected whole seconds from 10 to 86400"),
        },
    }
}

/// Runs the main job.
pub fn run() -> Result<()> {
    let start = Instant::now();
    let total = budget()?;
    let layers = crate::layer_args::LayerArgs::default().build_tagged(64)?;
    println!("# eie-bench\n\n## The compressed layers\n");
    crate::layers::print(&layers, Format::Md)?;
    println!("\n## The EIE model beside the paper's Table IV\n");
    crate::simulate::report(
        &layers,
        &eie_accel_model::EieConfig::default(),
        crate::simulate::Widths::FromLayer,
        Format::Md,
    )?;
    let backends = BackendId::MEASURED.to_vec();
    let mut session = Session::open(
        Options::default().with_gpu_knobs_from_env(&backends)?,
        &backends,
    );
    session.probe_bandwidth();
    // A quick measurement: a short budget per backend, at least two timed runs, and the whole job within
    // its budget (rendering takes a second or two). `eie report` (or `cargo bench` then `eie report
    // --from-criterion`) measures longer.
    let reserve = Duration::from_secs(5);
    let deadline = start + total.saturating_sub(reserve);
    let settings = collect::Settings {
        backends,
        batches: vec![1, 64],
        plan: Plan {
            budget: Duration::from_millis(60),
            min_runs: 2,
            max_runs: 500,
            ..Plan::default()
        },
        deadline: Some((deadline, total)),
        criterion_dir: None,
    };
    let records = collect::measure_all(&layers, &session, &settings)?;
    let dir = Path::new("report");
    let file = save_fresh(dir, &records)?;
    println!("\n## Our backends beside the paper\n");
    let skipped = records
        .iter()
        .filter(|r| {
            r.check
                .as_ref()
                .and_then(|c| c.unavailable.as_deref())
                .is_some_and(|w| w.starts_with(collect::NOT_MEASURED))
        })
        .count();
    if skipped > 0 {
        println!(
            "The main job's time budget ({} s) left {skipped} measurements out (listed under Validation); \
             `eie report` measures every one.\n",
            total.as_secs()
        );
    }
    let md = render(record::read(&file)?, Declared::default(), dir, &[])?;
    print!("{}", md.replacen("# eie-bench report\n\n", "", 1));
    println!(
        "\nWritten to {}/ (records.jsonl, report.md, CSVs, report.json, fig6-speedup.svg, fig7-energy.svg) in {:.0} s. \
         Longer runs: `eie report`, or `cargo bench` then `eie report --from-criterion` (see the README).",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    fail_on_checks(&records)
}
