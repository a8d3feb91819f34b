//! `eie validate`: every available backend on every layer against the f64 reference (f32 backends,
//! within DESIGN.md's bound) or the fixed-point reference (fixed-point backends and the EIE model, bit
//! for bit); exit code 1 on any failure.

use crate::layer_args::LayerArgs;
use crate::table::{Format, Table};
use anyhow::{Result, bail};
use eie_bench::registry::{BACKENDS, MODEL_BACKENDS, Options, make};
use eie_compress::backend::{batch_input, quantize_input, reference_f64, reference_fixed};
use eie_compress::{Arithmetic, BackendError, Data, DataMut};
use eie_kernels::cpu::IsaLevel;
use serde::Serialize;

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
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// One check, as `--format json` prints it.
#[derive(Serialize)]
struct Row {
    layer: String,
    backend: String,
    batch: usize,
    detail: String,
    /// Largest |y - y_ref| (f32 backends) or number of differing outputs (fixed point).
    max_abs_err: f64,
    /// DESIGN.md's bound at the output where error / bound is largest (f32); 0 for exact comparisons.
    bound: f64,
    /// Whether the comparison is bit for bit (fixed point).
    exact: bool,
    ok: bool,
    /// Why the backend did not run, when it could not (no GPU adapter, say); not a failure.
    unavailable: Option<String>,
}

/// Runs `eie validate`.
pub fn run(args: Args) -> Result<()> {
    let names: Vec<String> = if args.backends.is_empty() {
        BACKENDS
            .iter()
            .chain(&MODEL_BACKENDS)
            .map(|s| s.to_string())
            .collect()
    } else {
        args.backends.clone()
    };
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
        threads: args.threads,
    };
    for n in &names {
        make(n, opts)?;
    }
    let layers = args.layers.build(64)?;
    check(&layers, &names, &batches, opts, args.format)
}

/// Checks `names` on `layers` at `batches`, prints the table, fails if any check fails.
pub fn check(
    layers: &[eie_compress::CompressedLayer],
    names: &[String],
    batches: &[usize],
    opts: Options,
    format: Format,
) -> Result<()> {
    let mut rows = Vec::new();
    for l in layers {
        for &batch in batches {
            let x = batch_input(l, batch);
            let (r64, bound) = reference_f64(l, &x, batch);
            let xq = quantize_input(l, &x);
            let rq = reference_fixed(l, &xq, batch);
            for n in names {
                let mut b = make(n, opts)?;
                let mut row = Row {
                    layer: l.name().into(),
                    backend: n.clone(),
                    batch,
                    detail: String::new(),
                    max_abs_err: 0.0,
                    bound: 0.0,
                    exact: b.arithmetic() == Arithmetic::Fixed16,
                    ok: false,
                    unavailable: None,
                };
                match b.prepare(l, batch) {
                    Err(BackendError::Unavailable { why, .. }) => {
                        row.ok = true;
                        row.unavailable = Some(why);
                        rows.push(row);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                    Ok(()) => {}
                }
                row.detail = b.detail();
                match b.arithmetic() {
                    Arithmetic::F32 => {
                        let mut y = vec![f32::NAN; l.outputs() * batch];
                        b.run(Data::F32(&x), DataMut::F32(&mut y))?;
                        let mut worst = (0.0f64, 0.0f64, 0.0f64);
                        let mut ok = true;
                        for ((&v, &r), &bd) in y.iter().zip(&r64).zip(&bound) {
                            let e = (v as f64 - r).abs();
                            ok &= v.is_finite() && e <= bd;
                            worst.0 = worst.0.max(e);
                            let ratio = if bd > 0.0 {
                                e / bd
                            } else if e > 0.0 {
                                f64::INFINITY
                            } else {
                                0.0
                            };
                            if ratio >= worst.2 {
                                worst = (worst.0, bd, ratio);
                            }
                        }
                        (row.max_abs_err, row.bound, row.ok) = (worst.0, worst.1, ok);
                    }
                    Arithmetic::Fixed16 => {
                        let mut y = vec![0i16; l.outputs() * batch];
                        b.run(Data::Fixed(&xq), DataMut::Fixed(&mut y))?;
                        let differ = y.iter().zip(&rq).filter(|(a, b)| a != b).count();
                        (row.max_abs_err, row.ok) = (differ as f64, differ == 0);
                    }
                }
                eprintln!(
                    "{:<16} {:<18} batch {:<3} {}",
                    row.layer,
                    row.backend,
                    batch,
                    if row.ok { "ok" } else { "FAILED" }
                );
                rows.push(row);
            }
        }
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => print!("{}", table(&rows).csv()),
        Format::Md => {
            print!("{}", table(&rows).markdown());
            println!(
                "\nf32 backends: max |y - y_f64| against DESIGN.md's bound (c = 1, n = the row's non-zero terms + 1), at the \
                 output where error / bound is largest. Fixed-point backends and the EIE model: outputs that differ from \
                 the fixed-point reference (0 = bit for bit)."
            );
        }
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", rows.len());
    }
    Ok(())
}

fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(&["Layer", "Backend", "Batch", "Max error", "Bound", "Result"]);
    for r in rows {
        let result = match (&r.unavailable, r.ok, r.exact) {
            (Some(why), _, _) => format!("unavailable: {why}"),
            (None, true, true) => "bit-exact".into(),
            (None, true, false) => "within bound".into(),
            (None, false, _) => "FAILED".into(),
        };
        t.push(vec![
            r.layer.clone(),
            r.backend.clone(),
            r.batch.to_string(),
            if r.exact {
                format!("{} differ", r.max_abs_err)
            } else {
                format!("{:.2e}", r.max_abs_err)
            },
            if r.exact {
                "-".into()
            } else {
                format!("{:.2e}", r.bound)
            },
            result,
        ]);
    }
    t
}
