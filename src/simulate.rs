//! `eie simulate`: the EIE model on each layer, beside the paper's Table IV and Table V.

use crate::layer_args::LayerArgs;
use crate::model_args::ModelArgs;
use crate::table::{Format, Table};
use anyhow::{Context, Result, bail};
use eie_accel_model::{Simulation, functional, simulate};
use eie_baselines::paper;
use eie_bench::harness::Tagged;
use serde::Serialize;

/// Flags of `eie simulate`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Every layer (the default when no --layer or --weights is given).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Append the model's results to this JSON Lines file as records (backend `eie-model`).
    #[arg(long, value_name = "FILE.jsonl")]
    pub save: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// One layer, as `--format json` prints it.
#[derive(Serialize)]
struct Row {
    name: String,
    cycles: u64,
    theoretical_cycles: f64,
    actual_us: f64,
    theoretical_us: f64,
    /// Entries incl. padding / PEs (the reading of "theoretical" that counts padding as work).
    theoretical_padded_us: f64,
    actual_over_theoretical: f64,
    load_balance: f64,
    real_work_ratio: f64,
    energy_nj: f64,
    power_mw: f64,
    frames_per_s: f64,
    frames_per_j: f64,
    ptr_reads: u64,
    spmat_reads: u64,
    codebook_lookups: u64,
    macs: u64,
    padding: u64,
    functional_exact: bool,
    /// The paper's layer this one is (Table III's name), if any.
    paper_layer: Option<String>,
    paper_actual_us: Option<f64>,
    paper_theoretical_us: Option<f64>,
    simulation: Simulation,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn geomean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x.ln(), n + 1));
    (s / n.max(1) as f64).exp()
}

/// Runs `eie simulate`.
pub fn run(args: Args) -> Result<()> {
    let cfg = args
        .model
        .config_for_widths(args.layers.bits, args.layers.index_bits)?;
    if args.all && (!args.layers.layers.is_empty() || args.layers.weights.is_some()) {
        bail!("--all selects every layer; leave out --layer and --weights, or --all");
    }
    let tagged = args.layers.build_tagged(cfg.pes)?;
    if args.save.is_some() {
        let session = eie_bench::harness::Session::open(Default::default(), &[]);
        let records = tagged
            .iter()
            .map(|l| crate::report::collect::model_record(&session, l, &cfg))
            .collect::<Result<Vec<_>>>()?;
        crate::measure::save(args.save.as_ref(), &records)?;
    }
    let widths = if args.model.sets_widths() {
        Widths::AsConfigured
    } else {
        Widths::FromLayer
    };
    report(&tagged, &cfg, widths, args.format)
}

/// Where the model's weight and index widths come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Widths {
    /// Each layer's own (the default).
    FromLayer,
    /// The configuration's, set by the user (`--set weight_bits=...`, a config file).
    AsConfigured,
}

/// Simulates `layers` on `cfg` and prints the table.
/// The model runs each layer with the layer's own codebook and index widths unless the configuration set
/// them (`widths` says which): a layer compressed with `--bits 2 --index-bits 3` is simulated as 2 + 3-bit
/// entries, or refused with why, never silently as 4 + 4.
pub fn report(
    layers: &[Tagged],
    cfg: &eie_accel_model::EieConfig,
    widths: Widths,
    format: Format,
) -> Result<()> {
    let mut rows = Vec::new();
    for t in layers {
        let l = &t.layer;
        let cfg = match widths {
            Widths::FromLayer => cfg.for_layer(l).with_context(|| {
                format!(
                    "{}: the model's configuration for its {}-bit weights and {}-bit indices (set \
                     --sram-width to a multiple of their sum)",
                    l.name(),
                    l.codebook().bits(),
                    l.eie().index_bits()
                )
            })?,
            Widths::AsConfigured => cfg.clone(),
        };
        let (_, exact, _) = functional(l, &cfg)?;
        if !exact {
            bail!(
                "{}: the functional model differs from the fixed-point reference (a bug)",
                l.name()
            );
        }
        let s = simulate(l, &cfg)?;
        // The paper's times by the layer's identity, never by a name a user chose, and only beside the
        // paper's configuration (64 PEs at 800 MHz, 16-bit, FIFO 8, ...): other settings are other hardware.
        let papers_config = cfg == eie_accel_model::EieConfig::default();
        let paper_t =
            t.id.paper
                .as_deref()
                .filter(|_| papers_config)
                .and_then(paper::eie_times_us);
        rows.push(Row {
            name: s.name.clone(),
            cycles: s.cycles.0,
            theoretical_cycles: s.theoretical_cycles,
            actual_us: s.actual_us,
            theoretical_us: s.theoretical_us,
            theoretical_padded_us: s.theoretical_padded_us,
            actual_over_theoretical: s.cycles.0 as f64 / s.theoretical_cycles,
            load_balance: s.load_balance,
            real_work_ratio: s.real_work_ratio,
            energy_nj: s.energy_total.nanojoules(),
            power_mw: s.power_mw,
            frames_per_s: s.frames_per_s,
            frames_per_j: s.frames_per_j,
            ptr_reads: s.events.ptr_reads,
            spmat_reads: s.events.spmat_reads,
            codebook_lookups: s.events.codebook_lookups,
            macs: s.events.macs,
            padding: s.events.padding,
            functional_exact: exact,
            paper_layer: t.id.paper.clone(),
            paper_actual_us: paper_t.map(|t| t.1),
            paper_theoretical_us: paper_t.map(|t| t.0),
            simulation: s,
        });
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => print!("{}", table(&rows).csv()),
        Format::Md => print_markdown(&rows, cfg),
    }
    Ok(())
}

fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Theoretical µs: useful / incl. padding (paper)",
        "Actual µs (paper)",
        "Actual / theor.: useful / incl. padding (paper)",
        "Load balance",
        "Real work",
        "Energy nJ",
        "Power mW",
        "Frames/s",
        "Frames/J",
        "Notes",
    ]);
    for r in rows {
        let paper_ratio = r
            .paper_actual_us
            .zip(r.paper_theoretical_us)
            .map(|(a, t)| a / t);
        t.push(vec![
            r.name.clone(),
            format!(
                "{:.2} / {:.2} ({})",
                r.theoretical_us,
                r.theoretical_padded_us,
                opt(r.paper_theoretical_us, 1)
            ),
            format!("{:.2} ({})", r.actual_us, opt(r.paper_actual_us, 1)),
            format!(
                "{:.3} / {:.3} ({})",
                r.actual_over_theoretical,
                r.actual_us / r.theoretical_padded_us,
                opt(paper_ratio, 3)
            ),
            format!("{:.1} %", r.load_balance * 100.0),
            format!("{:.1} %", r.real_work_ratio * 100.0),
            format!("{:.1}", r.energy_nj),
            format!("{:.1}", r.power_mw),
            format!("{:.0}", r.frames_per_s),
            format!("{:.0}", r.frames_per_j),
            r.simulation.capacity_notes.join("; "),
        ]);
    }
    t
}

fn print_markdown(rows: &[Row], cfg: &eie_accel_model::EieConfig) {
    println!(
        "EIE model: {} PEs at {} MHz, FIFO depth {}, {}-bit SpMat reads, {} register-file entries per PE, {:?}\n",
        cfg.pes,
        cfg.clock_mhz,
        cfg.fifo_depth,
        cfg.sram_width_bits,
        cfg.act_regfile_entries,
        cfg.precision
    );
    print!("{}", table(rows).markdown());
    let with_paper: Vec<&Row> = rows
        .iter()
        .filter(|r| r.paper_actual_us.is_some())
        .collect();
    // Geometric means over the layers that have paper values (every layer when none has): an empty layer
    // (no work, theoretical 0) is left out, its ratio being undefined.
    let over: Vec<&Row> = if with_paper.is_empty() {
        rows.iter()
            .filter(|r| r.theoretical_us > 0.0 && r.theoretical_padded_us > 0.0)
            .collect()
    } else {
        with_paper.clone()
    };
    let ours = geomean(over.iter().map(|r| r.actual_over_theoretical));
    let paper_gm = geomean(
        with_paper
            .iter()
            .map(|r| r.paper_actual_us.unwrap() / r.paper_theoretical_us.unwrap()),
    );
    let ours_padded = geomean(over.iter().map(|r| r.actual_us / r.theoretical_padded_us));
    // How far each reading of "theoretical" lies from Table IV's, over the paper's layers whose encoding
    // needs padding (elsewhere both readings are the same number).
    let padded: Vec<&&Row> = with_paper
        .iter()
        .filter(|r| r.theoretical_padded_us > r.theoretical_us * 1.001)
        .collect();
    let off = |f: &dyn Fn(&Row) -> f64| {
        geomean(
            padded
                .iter()
                .map(|r| (f(r) / r.paper_theoretical_us.unwrap()).ln().abs().exp()),
        )
    };
    if !padded.is_empty() {
        println!(
            "\nTable IV's theoretical time against ours on the {} paper layers whose encoding needs padding ({}): \
             counting useful MACs only, ours are {:.1} % off the paper's (geometric mean); counting padding entries \
             as work, {:.1} % off. The paper's numbers support the reading that counts padding.",
            padded.len(),
            padded
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            (off(&|r| r.theoretical_us) - 1.0) * 100.0,
            (off(&|r| r.theoretical_padded_us) - 1.0) * 100.0,
        );
    }
    let means = if with_paper.is_empty() {
        format!(
            "ours {ours:.3} (useful MACs) and {ours_padded:.3} (incl. padding) over these layers (none is the \
             paper's in the paper's configuration, so no paper values are shown)"
        )
    } else {
        format!(
            "ours {ours:.3} (useful MACs) and {ours_padded:.3} (incl. padding), paper {paper_gm:.3}, over the {} \
             layers that have paper values",
            with_paper.len()
        )
    };
    println!(
        "\nGeometric mean of actual / theoretical: {means}. Theoretical = work / PEs at one entry per \
         cycle per PE (work over peak): useful MACs only, or every entry the PEs process, padding included; actual = \
         simulated cycles. Load balance = cycles issuing entries / (PEs x cycles) (Fig. 8); real work = real entries / entries \
         incl. padding (Fig. 12). Every layer's functional output equals the fixed-point reference bit for bit."
    );
    if let Some(r) = rows
        .iter()
        .find(|r| r.paper_layer.as_deref() == Some("Alex-7") && r.paper_actual_us.is_some())
    {
        let (fps, fpj) = paper::TABLE_V_EIE_64PE;
        let mut t = Table::new(&["Alex-7 (Table V)", "Frames/s", "Frames/J", "Power W"]);
        t.push(vec![
            "EIE model (ours)".into(),
            format!("{:.0}", r.frames_per_s),
            format!("{:.0}", r.frames_per_j),
            format!("{:.3}", r.power_mw / 1000.0),
        ]);
        t.push(vec![
            "EIE, paper (64 PE, 45 nm)".into(),
            format!("{fps:.0}"),
            format!("{fpj:.0}"),
            format!("{:.2}", paper::EIE_POWER_W),
        ]);
        println!("\n{}", t.markdown());
    }
}
