//! `eie`: the eie-bench command. It parses, calls the library and prints; the work lives in the crates.
//!
//! Subcommands (one file each): `adapters` (GPU adapters), `layers` (Table III-style layer table), `compare` (two runs' records), `export` (a layer as .npy files),
//! `measure` (time backends), `probe` (read bandwidth by working-set size), `report` (the paper's tables with ours), `simulate` (the EIE model beside Table IV), `sweep` (design-space explorations), `validate` (every backend against the references).
//! With no subcommand it runs the main job (`main_job.rs`): layers, the EIE model, a quick verified
//! measurement of every backend, the report.

mod adapters;
mod chart;
mod compare;
mod export;
mod layer_args;
mod layers;
mod main_job;
mod measure;
mod model_args;
mod net;
mod output;
mod probe;
mod report;
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
    /// This machine's read bandwidth by working-set size (each cache level, then DRAM).
    Probe(probe::Args),
    /// Run the EIE model (cycles, energy) on layers, beside the paper's Table IV and Table V.
    Simulate(simulate::Args),
    /// The paper's tables with our numbers beside: Markdown, CSV, JSON and SVG in a folder (default report/).
    Report(report::Args),
    /// Check every backend (and the EIE model) against the references; exit 1 on any failure.
    Validate(validate::Args),
    /// NEW's times over BASE's (records files), flagging changes beyond both runs' noise; exit 1 on a slowdown.
    Compare(compare::Args),
    /// A whole network end to end (built-in LeNet-300-100 on optdigits, or --weights): accuracy per backend and the EIE model.
    Net(net::Args),
    /// Sweep one model parameter over every layer (the paper's Figs. 8-13): CSV and SVG charts.
    Sweep(sweep::Args),
}

fn main() -> ExitCode {
    quiet_wayland_probe();
    quiet_stdout_errors();
    file_size_limit_is_an_error();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Adapters(args)) => adapters::run(args),
        Some(Command::Layers(args)) => layers::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Measure(args)) => measure::run(args),
        Some(Command::Probe(args)) => probe::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Simulate(args)) => simulate::run(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Net(args)) => net::run(args),
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

/// `eie layers | head -1` closes stdout early and `eie layers > /dev/full` cannot write it (and
/// `2>/dev/full` stderr): `print!` and `eprint!` panic then. End the process quietly instead, with a non-zero status (a closed pipe is the reader's
/// choice and gets no message; any other write error gets one line).
fn quiet_stdout_errors() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        // stderr itself cannot be written (`2>/dev/full`): nothing can be said; fail quietly.
        if msg.starts_with("failed printing to stderr") {
            std::process::exit(1);
        }
        if let Some(why) = msg.strip_prefix("failed printing to stdout: ") {
            if !why.contains("Broken pipe") {
                eprintln!("error: writing to stdout: {why}");
            }
            std::process::exit(if why.contains("Broken pipe") { 141 } else { 1 });
        }
        default(info)
    }));
}

/// Under a file-size limit (`ulimit -f`) a write past it raises SIGXFSZ, which ends the process at once,
/// with whatever it was writing half-written. Ignored, the write fails with EFBIG instead, and the writers
/// (`output::write_atomic`, `record::append`) clean up and report the file.
fn file_size_limit_is_an_error() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code; first thing in `main`.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Mesa's Vulkan drivers probe for a Wayland display when wgpu enumerates adapters, and libwayland prints
/// "error: XDG_RUNTIME_DIR is invalid or not set" where it is unset (CI, containers). We never present to
/// a display, so point it at a private empty folder; the probe then finds no display, silently.
fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("eie-runtime");
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
