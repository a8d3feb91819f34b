//! `eie validate`: every available backend on every layer against the f64 reference (f32 backends,
//! within DESIGN.md's bound) or the fixed-point reference (fixed-point backends and the EIE model, bit
//! for bit); exit code 1 on any failure, and on any unavailable GPU backend under `EIE_REQUIRE_GPU=1`.
//! Each check is a record (`--save FILE.jsonl` appends them).

use crate::layer_args::LayerArgs;
use crate::measure::{print_records, save};
use crate::table::{Format, Table};
use anyhow::{Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::harness::{Inputs, Session, Tagged};
use eie_bench::record::Record;
use eie_bench::registry::{Options, checked_threads, parse_backends};
use eie_compress::Rounding;
use eie_kernels::cpu::IsaLevel;
use std::path::PathBuf;

/// Flags of `eie validate`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// A backend (repeatable). Default: every backend and the EIE model.
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Batch sizes (repeatable). Default: 1 and 64.
    #[arg(long = "batch", value_name = "B")]
    pub batches: Vec<usize>,
    /// Threads of our CPU kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Append the records to this JSON Lines file (created if missing).
    #[arg(long, value_name = "FILE.jsonl")]
    pub save: Option<PathBuf>,
    /// Output format (json: the records).
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// Runs `eie validate`.
pub fn run(args: Args) -> Result<()> {
    let mut all = BackendId::MEASURED.to_vec();
    all.push(BackendId::EieModel);
    let ids = parse_backends(&args.backends, &all)?;
    let batches = if args.batches.is_empty() {
        vec![1, 64]
    } else {
        args.batches.clone()
    };
    if batches.contains(&0) || args.threads == 0 {
        bail!("--batch and --threads must be at least 1");
    }
    let opts = Options {
        isa: IsaLevel::best(),
        threads: checked_threads(args.threads)?,
        ..Options::default()
    }
    .with_gpu_knobs_from_env(&ids)?;
    let layers = args.layers.build_tagged(64)?;
    for &b in &batches {
        eie_bench::harness::check_batch(&layers, b)?;
    }
    let records = check(&layers, &ids, &batches, opts)?;
    save(args.save.as_ref(), &records)?;
    print_records(&records, args.format, table)?;
    if args.format == Format::Md {
        println!(
            "\nf32 backends: max |y - y_f64| against DESIGN.md's bound (c = 1, n = the row's non-zero terms + 1), at the \
             output where error / bound is largest. Fixed-point backends and the EIE model: outputs that differ from \
             the fixed-point reference (0 = bit for bit)."
        );
        println!(
            "\n16-bit fixed point against the f64 reference, in both roundings (output units; the mode in use is \
             marked; --rounding chooses it):\n"
        );
        print!("{}", rounding_table(&layers).markdown());
    }
    crate::report::fail_on_checks(&records)
}

/// Checks `ids` on `layers` at `batches`: one record each.
pub fn check(
    layers: &[Tagged],
    ids: &[BackendId],
    batches: &[usize],
    opts: Options,
) -> Result<Vec<Record>> {
    let session = Session::open(opts, ids);
    let mut records = Vec::new();
    for l in layers {
        for &batch in batches {
            let inputs = Inputs::new(&l.layer, batch)?;
            for &id in ids {
                let r = session.check(l, &inputs, id)?;
                let c = r.check.as_ref().expect("a check record");
                eprintln!(
                    "{:<16} {:<18} batch {:<3} {}",
                    l.id.name,
                    id.name(),
                    batch,
                    match (&c.unavailable, c.ok) {
                        (Some(_), _) => "unavailable",
                        (None, true) => "ok",
                        (None, false) => "FAILED",
                    }
                );
                records.push(r);
            }
        }
    }
    Ok(records)
}

/// Per layer: the fixed-point reference's largest and mean error against f64, floor and nearest.
fn rounding_table(layers: &[Tagged]) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "LSB",
        "floor: max |err|",
        "floor: mean err",
        "nearest: max |err|",
        "nearest: mean err",
    ]);
    for l in layers {
        let used = l.layer.fixed().rounding;
        let mut row = vec![
            l.id.name.clone(),
            format!("{:.3e}", l.layer.fixed().act.lsb()),
        ];
        for r in Rounding::ALL {
            let e = l.layer.fixed_error_in(r);
            let mark = if r == used { " (used)" } else { "" };
            row.push(format!("{:.3e}{mark}", e.max_abs));
            row.push(format!("{:+.3e}", e.mean));
        }
        t.push(row);
    }
    t
}

fn table(records: &[Record]) -> Table {
    let mut t = Table::new(&["Layer", "Backend", "Batch", "Max error", "Bound", "Result"]);
    for r in records {
        let Some(c) = &r.check else { continue };
        let mut row = vec![
            r.layer.name.clone(),
            r.backend.to_string(),
            r.batch.to_string(),
        ];
        row.extend(crate::report::tables::check_cells(c));
        t.push(row);
    }
    t
}
