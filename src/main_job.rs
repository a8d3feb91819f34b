//! The main job (`eie` with no subcommand, i.e. `cargo run --release`): build the nine layers (and the
//! real FC8 when its data exists) once, print them, run the EIE model on them beside Table IV, and
//! validate every backend on every layer. (The full report with measurements is the next step.)

use crate::table::Format;
use anyhow::Result;
use eie_bench::registry::{BACKENDS, MODEL_BACKENDS, Options};

/// Runs the main job.
pub fn run() -> Result<()> {
    let layers = crate::layer_args::LayerArgs::default().build(64)?;
    println!("# eie-bench\n\n## The compressed layers\n");
    crate::layers::print(&layers, Format::Md)?;
    println!("\n## The EIE model beside the paper's Table IV\n");
    crate::simulate::report(&layers, &eie_accel_model::EieConfig::default(), Format::Md)?;
    println!("\n## Every backend against the references (batch 1 and 64)\n");
    let names: Vec<String> = BACKENDS
        .iter()
        .chain(&MODEL_BACKENDS)
        .map(|s| s.to_string())
        .collect();
    crate::validate::check(&layers, &names, &[1, 64], Options::default(), Format::Md)?;
    println!(
        "\nNext: `eie measure` times these backends; `eie sweep` explores the design space (see the README)."
    );
    Ok(())
}
