//! The work plan of one layer on one configuration: output passes, broadcast order, chunk loads.
//!
//! - **Output passes.** The destination register files hold `pes x act_regfile_entries` outputs (4K
//!   for the paper). A layer with more outputs runs in passes over row blocks of that size; each block is
//!   encoded on its own (its relative row indices restart at the block's top), as EIE selects a layer
//!   part by its pointer-array start address. Between passes each PE drains its pipeline and stores its
//!   destination register file to the activation SRAM.
//! - **Input chunks.** The source register files hold `pes x act_regfile_entries` activations. A longer
//!   input is scanned in chunks of that many columns; before scanning a chunk after the first, the
//!   central unit waits while every PE loads its register file from the activation SRAM. Every chunk is
//!   loaded and scanned in every pass, even one without non-zeros (the LNZD has to look at it); the
//!   first chunk of the first pass is where the previous layer left it, so it costs nothing.
//! - **Broadcast order.** Within a pass, the non-zero activations in ascending column order (the LNZD
//!   finds the next non-zero each cycle, zeros cost nothing), then the bias column with activation 1. The
//!   bias activation is a constant of the central unit and needs no register-file space.

use crate::config::EieConfig;
use eie_compress::{CompressedLayer, EieEncoding};
use std::borrow::Cow;

/// One output pass: a row block and its encoding.
pub struct Pass<'a> {
    /// First global row of the block.
    pub row_start: usize,
    /// The block's rows, encoded for the configuration's PEs (bias column last).
    pub enc: Cow<'a, EieEncoding>,
    /// Per PE, `pad_prefix[k][e]` = padding entries among the PE's first `e` entries.
    pub pad_prefix: Vec<Vec<u32>>,
}

/// One broadcast of a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    /// Encoded column (the bias column is `inputs`).
    pub col: u32,
    /// Register-file loads the central unit waits for before this broadcast.
    pub loads_before: u32,
}

/// Everything the timing and functional models walk.
pub struct Plan<'a> {
    pub passes: Vec<Pass<'a>>,
    /// Broadcast order of every pass (the same list each pass, except the first pass's first chunk).
    pub items_first_pass: Vec<Item>,
    /// Broadcast order of passes after the first (which also reload chunk 0 when there are chunks).
    pub items_later_pass: Vec<Item>,
    /// Chunk loads after the last item of the first pass / of later passes (trailing chunks without
    /// non-zeros still get loaded and scanned; with a bias, these precede the bias item instead).
    pub trailing_first: u32,
    pub trailing_later: u32,
    /// Input chunks.
    pub chunks: usize,
    /// Activations of every encoded column (bias column = 1.0).
    pub act: Vec<f32>,
}

/// A configuration the layer cannot run on.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the layer's codebook needs {needed}-bit indices but the configuration has weight_bits = {have}"
    )]
    WeightBits { needed: u8, have: u8 },
    #[error(transparent)]
    Encoding(#[from] eie_compress::CompressError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl<'a> Plan<'a> {
    /// Plans `layer` on `cfg` (re-encoding only when the layer's own encoding does not fit).
    pub fn new(layer: &'a CompressedLayer, cfg: &EieConfig) -> Result<Self, PlanError> {
        cfg.validate()?;
        let bits = layer.codebook().bits();
        if bits > cfg.weight_bits {
            return Err(PlanError::WeightBits {
                needed: bits,
                have: cfg.weight_bits,
            });
        }
        let block_rows = cfg.pes * cfg.act_regfile_entries;
        let rows = layer.outputs();
        let own = layer.eie();
        let passes: Vec<Pass<'a>> = if rows <= block_rows
            && own.pes() == cfg.pes
            && own.index_bits() == cfg.index_bits
        {
            vec![Pass::new(0, Cow::Borrowed(own))]
        } else {
            let codes = layer.augmented_codes();
            (0..rows.div_ceil(block_rows))
                .map(|p| {
                    let (a, b) = (p * block_rows, ((p + 1) * block_rows).min(rows));
                    let enc =
                        EieEncoding::encode(&codes.row_block(a, b), cfg.pes, bits, cfg.index_bits)?;
                    Ok(Pass::new(a, Cow::Owned(enc)))
                })
                .collect::<Result<_, PlanError>>()?
        };
        let chunk_cols = cfg.pes * cfg.act_regfile_entries;
        let inputs = layer.inputs();
        let chunks = inputs.div_ceil(chunk_cols).max(1);
        let input = layer.input();
        let build = |first_pass: bool| {
            let mut items = Vec::new();
            let mut loaded = 0usize;
            let mut pending = if !first_pass && chunks > 1 { 1 } else { 0 };
            for (j, &a) in input.iter().enumerate() {
                if a == 0.0 {
                    continue;
                }
                let c = j / chunk_cols;
                pending += (c - loaded) as u32;
                loaded = c;
                items.push(Item {
                    col: j as u32,
                    loads_before: pending,
                });
                pending = 0;
            }
            let trailing = pending + (chunks - 1 - loaded) as u32;
            (items, trailing)
        };
        let (mut first, mut trailing_first) = build(true);
        let (mut later, mut trailing_later) = build(false);
        if layer.bias_codes().is_some() {
            first.push(Item {
                col: inputs as u32,
                loads_before: trailing_first,
            });
            later.push(Item {
                col: inputs as u32,
                loads_before: trailing_later,
            });
            (trailing_first, trailing_later) = (0, 0);
        }
        Ok(Self {
            passes,
            items_first_pass: first,
            items_later_pass: later,
            trailing_first,
            trailing_later,
            chunks,
            act: layer.augmented_input(),
        })
    }

    /// The same plan owning its encodings.
    pub fn into_owned(self) -> Plan<'static> {
        Plan {
            passes: self
                .passes
                .into_iter()
                .map(|p| Pass {
                    row_start: p.row_start,
                    enc: Cow::Owned(p.enc.into_owned()),
                    pad_prefix: p.pad_prefix,
                })
                .collect(),
            items_first_pass: self.items_first_pass,
            items_later_pass: self.items_later_pass,
            trailing_first: self.trailing_first,
            trailing_later: self.trailing_later,
            chunks: self.chunks,
            act: self.act,
        }
    }

    /// The broadcast order of pass `p`.
    pub fn items(&self, p: usize) -> &[Item] {
        if p == 0 {
            &self.items_first_pass
        } else {
            &self.items_later_pass
        }
    }

    /// Chunk loads after pass `p`'s last item.
    pub fn trailing(&self, p: usize) -> u32 {
        if p == 0 {
            self.trailing_first
        } else {
            self.trailing_later
        }
    }
}

impl<'a> Pass<'a> {
    fn new(row_start: usize, enc: Cow<'a, EieEncoding>) -> Self {
        let pad_prefix = enc
            .slices()
            .iter()
            .map(|s| {
                let mut prefix = Vec::with_capacity(s.v.len() + 1);
                prefix.push(0u32);
                for &v in &s.v {
                    prefix.push(prefix.last().unwrap() + u32::from(v == 0));
                }
                prefix
            })
            .collect();
        Self {
            row_start,
            enc,
            pad_prefix,
        }
    }
}
