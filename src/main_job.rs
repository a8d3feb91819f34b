//! The main job (`eie` with no subcommand, i.e. `cargo run --release`): build the nine layers (and the
//! real FC8 when its data exists) once, print them, run the EIE model on them beside Table IV, verify and
//! quickly measure every available backend on every layer at batch 1 and 64, print the paper's tables
//! with ours beside, and write them to `report/` (Markdown, CSV, JSON, SVG). Exit 1 if any check fails.

use crate::report::{Settings, collect, fail_on_checks, markdown, write};
use crate::table::Format;
use anyhow::Result;
use eie_bench::harness::Plan;
use eie_bench::registry::{BACKENDS, Options};
use std::path::Path;
use std::time::Duration;

/// Runs the main job.
pub fn run() -> Result<()> {
    let layers = crate::layer_args::LayerArgs::default().build(64)?;
    println!("# eie-bench\n\n## The compressed layers\n");
    crate::layers::print(&layers, Format::Md)?;
    println!("\n## The EIE model beside the paper's Table IV\n");
    crate::simulate::report(&layers, &eie_accel_model::EieConfig::default(), Format::Md)?;
    // A quick measurement: a short budget per backend, at least two timed runs. `eie report` (or
    // `cargo bench` then `eie report --from-criterion`) measures longer.
    let settings = Settings {
        names: BACKENDS.iter().map(|s| s.to_string()).collect(),
        opts: Options::default(),
        plan: Plan {
            budget: Duration::from_millis(60),
            min_runs: 2,
            max_runs: 500,
            ..Plan::default()
        },
        criterion_dir: None,
        cpu_watts: None,
        gpu_watts: None,
    };
    let c = collect(&layers, &settings)?;
    let dir = Path::new("report");
    write(&c, dir)?;
    println!();
    print!(
        "{}",
        markdown(&c).replacen("# eie-bench report", "## Our backends beside the paper", 1)
    );
    println!(
        "\nWritten to {}/ (report.md, CSVs, report.json, fig6-speedup.svg, fig7-energy.svg). Longer runs: \
         `eie report`, or `cargo bench` then `eie report --from-criterion` (see the README).",
        dir.display()
    );
    fail_on_checks(&c)
}
