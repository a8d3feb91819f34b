//! `eie layers`: the compressed layers as a Table III-style table, with storage accounting.

use crate::layer_args::LayerArgs;
use crate::table::{Format, Table};
use anyhow::Result;
use eie_bench::harness::Tagged;
use eie_compress::benchmark_layer;
use serde::Serialize;

/// Flags of `eie layers`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Processing elements of the EIE encoding, 1..=1024.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub pes: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// Table III's printed percentages.
#[derive(Serialize)]
struct PaperRow {
    weight_pct: f64,
    act_pct: f64,
    flop_pct: f64,
}

/// One layer, as `--format json` prints it. Densities are fractions; W excludes the bias.
#[derive(Serialize)]
struct LayerRow {
    name: String,
    inputs: usize,
    outputs: usize,
    relu: bool,
    has_bias: bool,
    weight_density: f64,
    act_density: f64,
    flop_density: f64,
    nnz: usize,
    bias_nnz: usize,
    act_nnz: usize,
    useful_macs: usize,
    padding_entries: usize,
    entries: usize,
    entries_per_pe_min: usize,
    entries_per_pe_mean: f64,
    entries_per_pe_max: usize,
    pes: usize,
    weight_bits: u8,
    index_bits: u8,
    eie_bytes: usize,
    dense_f32_bytes: usize,
    compression_ratio: f64,
    huffman_bytes: usize,
    huffman_ratio: f64,
    row_nnz_cv: f64,
    col_nnz_cv: f64,
    codebook: Vec<f32>,
    sharing: eie_compress::SharingReport,
    fixed_point: eie_compress::FixedPointSpec,
    /// How the formats were fitted: the largest magnitude and the fraction bits it wanted before clamping.
    fixed_choice: eie_compress::FixedPointChoice,
    storage: eie_compress::StorageStats,
    content_hash: String,
    paper: Option<PaperRow>,
}

impl LayerRow {
    fn of(t: &Tagged) -> Self {
        let l = &t.layer;
        let s = l.storage();
        let (row_cv, col_cv) = l.nnz_cvs();
        // The paper's row by the layer's identity, never by a name a user chose.
        let paper =
            t.id.paper
                .as_deref()
                .and_then(|p| benchmark_layer(p).ok())
                .and_then(|spec| spec.paper_row())
                .map(|p| PaperRow {
                    weight_pct: p.weight_pct,
                    act_pct: p.act_pct,
                    flop_pct: p.flop_pct,
                });
        Self {
            name: l.name().to_string(),
            inputs: l.inputs(),
            outputs: l.outputs(),
            relu: l.relu(),
            has_bias: l.bias_codes().is_some(),
            weight_density: l.weight_density(),
            act_density: l.act_density(),
            flop_density: l.flop_density(),
            nnz: l.nnz(),
            bias_nnz: l.bias_nnz(),
            act_nnz: l.act_nnz(),
            useful_macs: l.useful_macs(true),
            padding_entries: s.padding_entries,
            entries: s.entries,
            entries_per_pe_min: s.entries_per_pe_min,
            entries_per_pe_mean: s.entries_per_pe_mean,
            entries_per_pe_max: s.entries_per_pe_max,
            pes: s.pes,
            weight_bits: l.eie().weight_bits(),
            index_bits: l.eie().index_bits(),
            eie_bytes: s.eie_bytes,
            dense_f32_bytes: s.dense_f32_bytes,
            compression_ratio: s.compression_ratio,
            huffman_bytes: s.huffman_bytes,
            huffman_ratio: s.huffman_ratio,
            row_nnz_cv: row_cv,
            col_nnz_cv: col_cv,
            codebook: l.codebook().values().to_vec(),
            sharing: l.sharing().clone(),
            fixed_point: l.fixed(),
            fixed_choice: *l.fixed_choice(),
            storage: s,
            content_hash: l.content_hash().to_string(),
            paper,
        }
    }
}

fn pct(measured: f64, paper: Option<f64>) -> String {
    match paper {
        Some(p) => format!("{:.1} ({p:.1})", measured * 100.0),
        None => format!("{:.1}", measured * 100.0),
    }
}

fn table(rows: &[LayerRow]) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Size (in, out)",
        "Weight % (paper)",
        "Act % (paper)",
        "FLOP % (paper)",
        "nnz",
        "Padding",
        "Entries/PE min / mean / max",
        "EIE bytes",
        "Compression",
        "Huffman",
        "Row / col CV",
        "Fraction bits (w / act)",
        "Hash",
    ]);
    for r in rows {
        let p = r.paper.as_ref();
        t.push(vec![
            r.name.clone(),
            format!("{}, {}", r.inputs, r.outputs),
            pct(r.weight_density, p.map(|p| p.weight_pct)),
            pct(r.act_density, p.map(|p| p.act_pct)),
            pct(r.flop_density, p.map(|p| p.flop_pct)),
            r.nnz.to_string(),
            r.padding_entries.to_string(),
            format!(
                "{} / {:.0} / {}",
                r.entries_per_pe_min, r.entries_per_pe_mean, r.entries_per_pe_max
            ),
            r.eie_bytes.to_string(),
            format!("{:.1}x", r.compression_ratio),
            format!("{:.1}x", r.huffman_ratio),
            format!("{:.3} / {:.3}", r.row_nnz_cv, r.col_nnz_cv),
            format!(
                "{} / {}{}",
                r.fixed_choice.weight.format.frac,
                r.fixed_choice.act.format.frac,
                if r.fixed_choice.clamped() {
                    " (clamped)"
                } else {
                    ""
                }
            ),
            r.content_hash.clone(),
        ]);
    }
    t
}

const NOTES: &str = "\
Size is (inputs, outputs); W has `outputs` rows. Percentages are measured on our layers, Table III's value in \
parentheses. FLOP % = non-zero weights whose input is non-zero / dense MACs (bias excluded). Entries include the \
bias column and padding. EIE bytes = 4-bit index + 4-bit relative row per entry, 16-bit column pointers per PE \
(32-bit when a PE holds 2^16 entries or more) and a 16-entry 16-bit codebook. Compression and Huffman are dense f32 \
bytes (W and bias) over EIE bytes, without and with the entry stream Huffman-coded. Row / col CV: coefficient of \
variation of non-zeros per row / column (the real AlexNet FC8: 0.133 / 0.098). Fraction bits: the 16-bit \
fixed-point formats of the weights (codebook and bias) and of the activations, chosen as the most fraction bits \
that hold the largest magnitude without saturating, within 0..=30; \"clamped\": the values wanted fewer (they \
saturate at +-32767) or more (small values lose precision), and a warning says which.";

/// Runs `eie layers`.
pub fn run(args: Args) -> Result<()> {
    let layers = args.layers.build_tagged(args.pes)?;
    print(&layers, args.format)
}

/// Prints `layers` as the layers table.
pub fn print(layers: &[Tagged], format: Format) -> Result<()> {
    let rows: Vec<LayerRow> = layers.iter().map(LayerRow::of).collect();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => print!("{}", table(&rows).csv()),
        Format::Md => {
            let pes = layers.first().map_or(64, |l| l.layer.eie().pes());
            println!("Compressed layers, {pes} PEs\n");
            print!("{}", table(&rows).markdown());
            println!("\n{NOTES}");
        }
    }
    Ok(())
}
