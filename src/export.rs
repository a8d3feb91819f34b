//! `eie export`: one layer as `.npy` files (see `eie_compress::export` for the file list).

use crate::layer_args::LayerArgs;
use crate::output::OutDir;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// Flags of `eie export`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Processing elements of the EIE encoding, 1..=1024.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub pes: usize,
    /// Folder to write into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `eie export`.
pub fn run(args: Args) -> Result<()> {
    if args.layers.layers.len() + usize::from(args.layers.weights.is_some()) != 1 {
        bail!("eie export writes one layer: give exactly one --layer NAME or one --weights FILE");
    }
    let layer = args.layers.build(args.pes)?.remove(0);
    // The files this run reads: never overwritten by what it writes.
    let mut inputs: Vec<PathBuf> = [&args.layers.weights, &args.layers.bias, &args.layers.input]
        .into_iter()
        .flatten()
        .map(|s| match s.rsplit_once(':') {
            Some((file, _)) if !Path::new(s).exists() => PathBuf::from(file),
            _ => PathBuf::from(s),
        })
        .collect();
    // The real layer's data folder is an input too (`--out` onto it must not rewrite its files).
    if layer.name() == eie_compress::real::REAL_FC8_NAME
        && let Some(d) = eie_compress::real::real_fc8_dir()
    {
        for f in ["weights.npy", "bias.npy", "input.npy", "codebook.npy"] {
            inputs.push(d.join(f));
        }
    }
    let mut out = OutDir::create(&args.out, "export", &inputs)?;
    // Written into a private folder first, then each finished file renamed into place: an interrupted or
    // failed export leaves no truncated file under a final name.
    let tmp = args.out.join(format!(".eie-export-{}", std::process::id()));
    let written = eie_compress::export::export_layer(&layer, &tmp);
    let moved = written.map_err(anyhow::Error::from).and_then(|files| {
        for f in &files {
            out.move_in(&tmp.join(f), f)?;
        }
        Ok(files)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let files = moved?;
    // Files of an earlier export into this folder that this one did not write (a bias the layer no longer
    // has) are removed; nothing else is.
    out.finish()?;
    println!(
        "wrote {} files for {} ({}) to {}",
        files.len(),
        layer.name(),
        layer.content_hash(),
        args.out.display()
    );
    Ok(())
}
