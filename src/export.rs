//! `eie export`: one layer as `.npy` files (see `eie_compress::export` for the file list).

use crate::layer_args::LayerArgs;
use anyhow::{Result, bail};
use std::path::PathBuf;

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
    let files = eie_compress::export::export_layer(&layer, &args.out)?;
    println!(
        "wrote {} files for {} ({}) to {}",
        files.len(),
        layer.name(),
        layer.content_hash(),
        args.out.display()
    );
    Ok(())
}
