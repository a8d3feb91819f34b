//! The EIE-model configuration flags shared by `eie simulate` and `eie sweep`.

use anyhow::{Context, Result};
use eie_accel_model::EieConfig;
use std::path::PathBuf;

/// Where the model's configuration comes from: the paper's defaults, a TOML file, then flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ModelArgs {
    /// TOML file with any `EieConfig` fields (the rest keep the paper's values).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Processing elements (also the encoding's PE count), 1..=1024. Paper: 64.
    #[arg(long, value_name = "N")]
    pub pes: Option<usize>,
    /// Activation FIFO depth per PE. Paper: 8.
    #[arg(long, value_name = "D")]
    pub fifo: Option<usize>,
    /// SpMat SRAM read width in bits. Paper: 64.
    #[arg(long, value_name = "BITS")]
    pub sram_width: Option<u32>,
    /// Clock in MHz. Paper: 800.
    #[arg(long, value_name = "MHZ")]
    pub clock_mhz: Option<f64>,
    /// Any other field, as KEY=VALUE (repeatable), e.g. --set act_regfile_entries=128.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ModelArgs {
    /// Whether the weight or index width was set (`--set`, or a config file that names it).
    pub fn sets_widths(&self) -> bool {
        // A key set on a line of its own (`weight_bits = 2`), not the word in a comment.
        let named = |t: &str| {
            t.lines().any(|l| {
                let k = l.split('=').next().unwrap_or("").trim();
                l.contains('=') && (k == "weight_bits" || k == "index_bits")
            })
        };
        self.set.iter().any(|s| named(s))
            || self
                .config
                .as_ref()
                // A regular file, read with a bound (a FIFO or an endless stream is refused when the
                // configuration itself is read).
                .and_then(|p| eie_accel_model::config::read_text(p).ok())
                .is_some_and(|t| named(&t))
    }

    /// The configuration these flags describe.
    pub fn config(&self) -> Result<EieConfig> {
        self.config_with(&[])
    }

    /// The configuration for layers compressed with `weight_bits`-bit codebooks and `index_bits`-bit
    /// relative indices: those widths join the other settings (checked together with them, so
    /// `--sram-width 60` suits 2 + 4-bit entries) unless the configuration sets them itself.
    pub fn config_for_widths(&self, weight_bits: u8, index_bits: u8) -> Result<EieConfig> {
        if self.sets_widths() {
            return self.config();
        }
        self.config_with(&[
            format!("weight_bits={weight_bits}"),
            format!("index_bits={index_bits}"),
        ])
        .with_context(|| {
            format!(
                "the model's configuration for {weight_bits}-bit weights and {index_bits}-bit indices (with \
                 --sram-width a multiple of {} bits)",
                weight_bits as u32 + index_bits as u32
            )
        })
    }

    /// The named flags against the model's documented ranges, before they become TOML (whose own errors
    /// would speak of TOML, not of the option).
    fn check_flags(&self) -> Result<()> {
        use eie_accel_model::config::limits;
        let range = |flag: &str, ok: bool, r: String| -> Result<()> {
            if ok {
                Ok(())
            } else {
                anyhow::bail!("{flag}: expected {r}")
            }
        };
        if let Some(v) = self.pes {
            let r = limits::PES;
            range(
                &format!("--pes {v}"),
                r.contains(&v),
                format!("{} to {}", r.start(), r.end()),
            )?;
        }
        if let Some(v) = self.fifo {
            let r = limits::FIFO_DEPTH;
            range(
                &format!("--fifo {v}"),
                r.contains(&v),
                format!("{} to {}", r.start(), r.end()),
            )?;
        }
        if let Some(v) = self.sram_width {
            let r = limits::SRAM_WIDTH_BITS;
            range(
                &format!("--sram-width {v}"),
                r.contains(&v),
                format!("{} to {} bits", r.start(), r.end()),
            )?;
        }
        if let Some(v) = self.clock_mhz {
            let r = limits::CLOCK_MHZ;
            range(
                &format!("--clock-mhz {v}"),
                r.contains(&v),
                format!("{} to {} MHz", r.start(), r.end()),
            )?;
        }
        Ok(())
    }

    fn config_with(&self, extra: &[String]) -> Result<EieConfig> {
        self.check_flags()?;
        let mut cfg = match &self.config {
            Some(path) => EieConfig::from_file(path)?,
            None => EieConfig::default(),
        };
        let named = [
            self.pes.map(|v| format!("pes={v}")),
            self.fifo.map(|v| format!("fifo_depth={v}")),
            self.sram_width.map(|v| format!("sram_width_bits={v}")),
            self.clock_mhz.map(|v| format!("clock_mhz={v:?}")),
        ];
        // All assignments at once, checked together: the result does not depend on their order.
        let all: Vec<String> = named
            .into_iter()
            .flatten()
            .chain(self.set.iter().cloned())
            .chain(extra.iter().cloned())
            .collect();
        if !all.is_empty() {
            cfg = cfg
                .with_overrides(&all)
                .with_context(|| format!("applying {}", all.join(", ")))?;
        }
        Ok(cfg)
    }
}
