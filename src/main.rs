//! `eie`: the eie-bench command. It parses, calls the library and prints; the work lives in the crates.
//!
//! Subcommands (one file each): `adapters` (GPU adapters), `layers` (Table III-style layer table), `export` (a layer as .npy files),
//! `measure` (time backends), `simulate` (the EIE model beside Table IV), `sweep` (design-space explorations), `validate` (every backend against the references).
//! With no subcommand it runs the main job (`main_job.rs`): layers, the EIE model, validation.

mod adapters;
mod chart;
mod export;
mod layer_args;
mod layers;
mod main_job;
mod measure;
mod model_args;
mod simulate;
mod sweep;
mod table;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "eie",
    version,
    about = "EIE (Han et al., ISCA 2016) beside today's CPUs and GPUs on identical compressed FC layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters wgpu finds (EIE_ADAPTER picks one by name or backend).
    Adapters(adapters::Args),
    /// Print the compressed layers (Table III of the paper, with storage accounting).
    Layers(layers::Args),
    /// Write one layer as .npy files (CSR, EIE arrays, codebook, input, references) for numpy/scipy.
    Export(export::Args),
    /// Time backends on layers (verified outputs, median of repeated runs) beside the machine's bandwidth.
    Measure(measure::Args),
    /// Run the EIE model (cycles, energy) on layers, beside the paper's Table IV and Table V.
    Simulate(simulate::Args),
    /// Check every backend (and the EIE model) against the references; exit 1 on any failure.
    Validate(validate::Args),
    /// Sweep one model parameter over every layer (the paper's Figs. 8-13): CSV and SVG charts.
    Sweep(sweep::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Adapters(args)) => adapters::run(args),
        Some(Command::Layers(args)) => layers::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Measure(args)) => measure::run(args),
        Some(Command::Simulate(args)) => simulate::run(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        None => main_job::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
