//! The layer-selection flags shared by every subcommand that reads layers.

use anyhow::{Context, Result, bail};
use eie_baselines::paper;
use eie_bench::harness::Tagged;
use eie_compress::load::load_dense;
use eie_compress::real::REAL_FC8_NAME;
use eie_compress::{
    CompressOptions, CompressedLayer, LoadRequest, Rounding, TensorSource, build_layer,
    default_layer_names,
};
use std::time::Instant;

/// Content hash of the published AlexNet FC8 (`shared/data/alexnet-fc8`: weights, bias, codebook, input).
const REAL_FC8_HASH: &str = "dace4198f08cc411";

/// Which layers to build, and how to compress them.
#[derive(clap::Args, Clone, Debug)]
pub struct LayerArgs {
    /// A layer by name (repeatable): Alex-6, Alex-7, Alex-8, VGG-6, VGG-7, VGG-8, NT-We, NT-Wd, NT-LSTM,
    /// alexnet-fc8-real. Default: all of them (the real layer when its data exists).
    #[arg(long = "layer", value_name = "NAME")]
    pub layers: Vec<String>,
    /// Load W (outputs x inputs, f32) from FILE.npy, FILE.safetensors or FILE.safetensors:TENSOR.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<String>,
    /// Bias of the loaded layer (1-D, one value per output).
    #[arg(long, value_name = "FILE", requires = "weights")]
    pub bias: Option<String>,
    /// Input of the loaded layer (1-D, one value per input). Default: a generated input (--act-density).
    #[arg(long, value_name = "FILE", requires = "weights")]
    pub input: Option<String>,
    /// Name of the loaded layer. Default: the weight file's stem.
    #[arg(long, value_name = "NAME", requires = "weights")]
    pub name: Option<String>,
    /// Prune the loaded W by magnitude to this density, in (0, 1], before weight sharing.
    #[arg(long, value_name = "D", requires = "weights")]
    pub density: Option<f64>,
    /// Density of the generated input of a loaded layer that has no --input, in (0, 1].
    #[arg(long, value_name = "D", default_value_t = 1.0, requires = "weights")]
    pub act_density: f64,
    /// The loaded layer has no ReLU on its output.
    #[arg(long, requires = "weights")]
    pub no_relu: bool,
    /// Weight-sharing bits, 1..=8: a codebook of 2^bits entries, entry 0 the zero weight.
    #[arg(long, value_name = "B", default_value_t = 4)]
    pub bits: u8,
    /// Relative-index (z) bits of the EIE encoding, 1..=8.
    #[arg(long, value_name = "B", default_value_t = 4)]
    pub index_bits: u8,
    /// How 16-bit fixed-point products round when shifted into the activation format: floor (an
    /// arithmetic shift, EIE's datapath as modelled) or nearest (half an LSB added first). Every
    /// fixed-point backend, the EIE model and the reference follow it.
    #[arg(long, value_name = "floor|nearest", default_value = "floor")]
    pub rounding: Rounding,
}

impl Default for LayerArgs {
    fn default() -> Self {
        Self {
            layers: Vec::new(),
            weights: None,
            bias: None,
            input: None,
            name: None,
            density: None,
            act_density: 1.0,
            no_relu: false,
            bits: 4,
            index_bits: 4,
            rounding: Rounding::Floor,
        }
    }
}

impl LayerArgs {
    fn options(&self, pes: usize) -> CompressOptions {
        CompressOptions {
            bits: self.bits,
            density: self.density,
            pes,
            index_bits: self.index_bits,
        }
    }

    /// The named layers, then the loaded one (the default set when neither is given), encoded for
    /// `pes` PEs.
    pub fn build(&self, pes: usize) -> Result<Vec<CompressedLayer>> {
        Ok(self
            .build_tagged(pes)?
            .into_iter()
            .map(|t| t.layer)
            .collect())
    }

    /// [`LayerArgs::build`], each layer with the identity records carry: a built-in layer compressed as
    /// the paper did (4-bit weights, 4-bit indices) is the paper's layer of that name (the real AlexNet
    /// FC8 is its Alex-8); a loaded layer is never one of the paper's, whatever its name.
    pub fn build_tagged(&self, pes: usize) -> Result<Vec<Tagged>> {
        let opts = self.options(pes);
        opts.validate()?;
        let mut names = self.layers.clone();
        let named = !names.is_empty();
        if names.is_empty() && self.weights.is_none() {
            names = default_layer_names();
        }
        let mut out = Vec::new();
        for name in &names {
            let t = Instant::now();
            let layer = build_layer(
                name,
                CompressOptions {
                    density: None,
                    ..opts
                },
            )
            .with_context(|| format!("building layer '{name}'"))?;
            if name == REAL_FC8_NAME && layer.codebook().bits() != self.bits {
                // The real layer's weights are its published codebook's entries: re-sharing them to another
                // width would be a different layer under the same name.
                let why = format!(
                    "its published codebook has {} bits; --bits {} cannot re-share it",
                    layer.codebook().bits(),
                    self.bits
                );
                if named {
                    bail!("--layer {REAL_FC8_NAME} --bits {}: {why}", self.bits);
                }
                eprintln!("warning: {REAL_FC8_NAME} left out: {why}");
                continue;
            }
            eprintln!(
                "built {:<16} in {:>6.2} s",
                layer.name(),
                t.elapsed().as_secs_f64()
            );
            warn_fixed_choice(&layer);
            // The real FC8 is the paper's Alex-8 only when it is the published layer: other data placed in
            // $EIE_DATA_DIR under its name is not.
            let genuine = name != REAL_FC8_NAME || layer.content_hash() == REAL_FC8_HASH;
            let paper = (self.bits == 4 && self.index_bits == 4 && genuine)
                .then(|| paper::layer_index(layer.name()).map(|i| paper::LAYERS[i]))
                .flatten();
            if !genuine {
                eprintln!(
                    "warning: {REAL_FC8_NAME} in the data folder is not the published layer (content hash {}, \
                     expected {REAL_FC8_HASH}): the paper's Alex-8 numbers are not shown beside it",
                    layer.content_hash()
                );
            }
            out.push(Tagged::new(layer.with_rounding(self.rounding), paper));
        }
        if let Some(n) = &self.name
            && (n.trim().is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            bail!("--name {n:?}: expected 1 to 100 printable characters");
        }
        if let Some(w) = &self.weights {
            let req = LoadRequest {
                name: self.name.clone(),
                weights: TensorSource::parse(w),
                bias: self.bias.as_deref().map(TensorSource::parse),
                input: self.input.as_deref().map(TensorSource::parse),
                relu: !self.no_relu,
                act_density: self.act_density,
            };
            let dense = load_dense(&req).with_context(|| format!("loading {w}"))?;
            let bias_in = dense.bias().map(<[f32]>::to_vec);
            let layer = CompressedLayer::compress(dense, opts)
                .with_context(|| format!("compressing {w}"))?;
            warn_fixed_choice(&layer);
            warn_bias_coding(&layer, bias_in.as_deref());
            if out.iter().any(|t: &Tagged| t.layer.name() == layer.name()) {
                bail!(
                    "two layers named '{}' in one run (rows that cannot be told apart); give the loaded one \
                     another --name",
                    layer.name()
                );
            }
            out.push(Tagged::new(layer.with_rounding(self.rounding), None));
        }
        Ok(out)
    }
}

/// Says where the 16-bit fixed-point formats chosen for `layer` are not what its values asked for
/// (fraction bits clamped to 0..=30: values saturate, or small ones lose precision).
fn warn_fixed_choice(layer: &CompressedLayer) {
    for w in layer.fixed_choice().warnings() {
        eprintln!("warning: {}: 16-bit fixed point, {w}", layer.name());
    }
}

/// EIE stores the bias as one more column of W, coded with W's codebook: a bias whose values lie far from
/// every codebook entry is changed by that, and the layer computed (by every backend and the references
/// alike) is not the one loaded. Says so, with the largest change, when it exceeds the weights' own
/// sharing error.
fn warn_bias_coding(layer: &CompressedLayer, loaded: Option<&[f32]>) {
    let (Some(b_in), Some(b_coded)) = (loaded, layer.bias()) else {
        return;
    };
    let Some((row, worst)) = b_in
        .iter()
        .zip(&b_coded)
        .map(|(&a, &c)| (f64::from(a) - f64::from(c)).abs())
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(&y.1))
    else {
        return;
    };
    let weight_err = layer.sharing().max_abs_err;
    if worst > weight_err.max(0.0) * 1.0001 {
        eprintln!(
            "warning: {}: the bias is coded with the weights' {}-entry codebook (EIE stores it as a column of \
             W): bias {} at row {row} becomes {} (change {worst:.3e}, the weights' largest is {weight_err:.3e}); \
             every result is for the coded bias",
            layer.name(),
            layer.codebook().values().len(),
            b_in[row],
            b_coded[row]
        );
    }
}
