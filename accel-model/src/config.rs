//! [`EieConfig`]: every parameter of the modelled hardware, defaults = the paper's 64-PE, 45 nm design.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Arithmetic format of the datapath (the paper's Fig. 10 compares these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// 32-bit IEEE float.
    Float32,
    /// 32-bit fixed point (integer).
    Fixed32,
    /// 16-bit fixed point: the paper's choice.
    #[default]
    Fixed16,
    /// 8-bit fixed point.
    Fixed8,
}

impl Precision {
    /// Bits of one activation / weight value.
    pub fn bits(self) -> u32 {
        match self {
            Self::Float32 | Self::Fixed32 => 32,
            Self::Fixed16 => 16,
            Self::Fixed8 => 8,
        }
    }

    /// Multiply energy relative to 16-bit fixed point. 32-bit float 6.2x and 32-bit int 5x are stated in
    /// the paper's section VI-C (Fig. 10); 8-bit fixed point is not given there, so we assume the
    /// multiplier's quadratic scaling in operand width: (8/16)^2 = 0.25x.
    pub fn multiply_energy_factor(self) -> f64 {
        match self {
            Self::Float32 => 6.2,
            Self::Fixed32 => 5.0,
            Self::Fixed16 => 1.0,
            Self::Fixed8 => 0.25,
        }
    }

    /// The paper's reported AlexNet accuracy with this format (Fig. 10), where stated.
    pub fn paper_accuracy_pct(self) -> Option<f64> {
        match self {
            Self::Float32 => Some(80.3),
            Self::Fixed16 => Some(79.8),
            Self::Fixed8 => Some(53.0),
            Self::Fixed32 => None,
        }
    }

    /// All four, widest first.
    pub fn all() -> [Precision; 4] {
        [Self::Float32, Self::Fixed32, Self::Fixed16, Self::Fixed8]
    }

    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Fixed32 => "fixed32",
            Self::Fixed16 => "fixed16",
            Self::Fixed8 => "fixed8",
        }
    }
}

/// The modelled EIE. Every field has the paper's value as its default (section 1 of
/// `reference/eie-paper.md`); load overrides from TOML with [`EieConfig::from_toml`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EieConfig {
    /// Processing elements. Row `i` of W belongs to PE `i mod pes`. Paper: 64.
    pub pes: usize,
    /// Clock frequency in MHz. Paper: 800 (45 nm); 1200 for the 28 nm projection.
    pub clock_mhz: f64,
    /// Depth of each PE's activation queue (FIFO), in entries; the central unit stalls its broadcast
    /// while any queue is full. Paper: 8 (section VII-A).
    pub fifo_depth: usize,
    /// Width of one SpMat SRAM read, in bits; one read fetches `sram_width_bits / (weight_bits +
    /// index_bits)` entries. Paper: 64 (8 entries per read).
    pub sram_width_bits: u32,
    /// Whether the SpMat read unit keeps its last row across columns: when the next processed column's
    /// first entry lies in the row already read, no new read is needed. The paper's description ("a new
    /// row read only when the entry index crosses a row boundary") implies it; `false` re-reads the row at
    /// the start of every column, which is what makes 64 bits the optimum of Fig. 9 (see the README).
    pub spmat_row_reuse: bool,
    /// Width of a column pointer, in bits (both pointers of a column are read in one cycle from the
    /// even and odd banks). Paper: 16. Used for the capacity check.
    pub ptr_bits: u32,
    /// Activation register-file entries per PE (source and destination each). Input and output vectors
    /// longer than `pes x act_regfile_entries` run in chunks through the activation SRAM. Paper: 64.
    pub act_regfile_entries: usize,
    /// Width of one activation-SRAM access, in bits (chunk loads and stores). Paper: not stated; we
    /// assume the SpMat SRAM's 64 bits.
    pub act_sram_width_bits: u32,
    /// Codebook-index width, in bits. Paper: 4.
    pub weight_bits: u8,
    /// Relative row-index (z) width, in bits. Paper: 4.
    pub index_bits: u8,
    /// Arithmetic format. Paper: 16-bit fixed point.
    pub precision: Precision,
    /// Pipeline stages of an activation update: (1) codebook lookup and address accumulation,
    /// (2) accumulator read and multiply, (3) shift and add, (4) accumulator write. Paper: 4.
    pub pipeline_depth: u32,
    /// SpMat SRAM capacity per PE, in KB (capacity check only). Paper: 128.
    pub spmat_sram_kb: usize,
    /// Pointer SRAM capacity per PE, in KB (capacity check only). Paper: 32.
    pub ptr_sram_kb: usize,
    /// Static (leakage) power per PE, in mW. Table II does not separate leakage from dynamic power, so
    /// the calibration attributes all of Table II to dynamic and clock power and this defaults to 0.
    pub leakage_mw_per_pe: f64,
}

impl Default for EieConfig {
    fn default() -> Self {
        Self {
            pes: 64,
            clock_mhz: 800.0,
            fifo_depth: 8,
            sram_width_bits: 64,
            spmat_row_reuse: true,
            ptr_bits: 16,
            act_regfile_entries: 64,
            act_sram_width_bits: 64,
            weight_bits: 4,
            index_bits: 4,
            precision: Precision::Fixed16,
            pipeline_depth: 4,
            spmat_sram_kb: 128,
            ptr_sram_kb: 32,
            leakage_mw_per_pe: 0.0,
        }
    }
}

/// A configuration that cannot describe hardware, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl EieConfig {
    /// Parses TOML (any subset of the fields; the rest keep the paper's values), then validates.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// This configuration with `key = value` (TOML syntax for the value) applied, e.g. `fifo_depth=16`.
    pub fn with_override(&self, assignment: &str) -> Result<Self, ConfigError> {
        let Some((key, value)) = assignment.split_once('=') else {
            return Err(ConfigError::Invalid(format!(
                "'{assignment}' is not KEY=VALUE"
            )));
        };
        let mut table = toml::Table::try_from(self).expect("config serializes to a table");
        let parsed: toml::Table = toml::from_str(&format!("v = {}", value.trim()))
            .or_else(|_| toml::from_str(&format!("v = \"{}\"", value.trim())))
            .map_err(|e| ConfigError::Parse {
                origin: assignment.to_string(),
                message: e.to_string(),
            })?;
        table.insert(key.trim().to_string(), parsed["v"].clone());
        let cfg: Self = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: assignment.to_string(),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Entries per SpMat SRAM read.
    pub fn entries_per_sram_row(&self) -> usize {
        (self.sram_width_bits / (self.weight_bits as u32 + self.index_bits as u32)) as usize
    }

    /// Activations per activation-SRAM access.
    pub fn acts_per_sram_access(&self) -> usize {
        (self.act_sram_width_bits / self.precision.bits()).max(1) as usize
    }

    /// Cycles to move one register file (`act_regfile_entries` activations) to or from the activation SRAM.
    pub fn regfile_transfer_cycles(&self) -> u64 {
        self.act_regfile_entries
            .div_ceil(self.acts_per_sram_access()) as u64
    }

    /// LNZD units of the quadtree for `pes` PEs: one per group of 4 at each level (64 PEs: 16 + 4 + 1).
    pub fn lnzd_units(&self) -> usize {
        let mut n = self.pes;
        let mut units = 0;
        loop {
            n = n.div_ceil(4);
            units += n;
            if n <= 1 {
                return units;
            }
        }
    }

    /// Checks that the configuration describes buildable hardware.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !(1..=1024).contains(&self.pes) {
            return bad(format!("pes = {} (must be 1..=1024)", self.pes));
        }
        if !(self.clock_mhz.is_finite() && self.clock_mhz > 0.0) {
            return bad(format!("clock_mhz = {} (must be positive)", self.clock_mhz));
        }
        if self.fifo_depth == 0 {
            return bad("fifo_depth = 0 (must be at least 1)".into());
        }
        let entry_bits = self.weight_bits as u32 + self.index_bits as u32;
        if !(1..=8).contains(&self.weight_bits) || !(1..=8).contains(&self.index_bits) {
            return bad(format!(
                "weight_bits = {}, index_bits = {} (each must be 1..=8)",
                self.weight_bits, self.index_bits
            ));
        }
        if self.sram_width_bits < entry_bits || !self.sram_width_bits.is_multiple_of(entry_bits) {
            return bad(format!(
                "sram_width_bits = {} (must be a positive multiple of the {entry_bits}-bit entry)",
                self.sram_width_bits
            ));
        }
        if self.act_regfile_entries == 0 || self.act_sram_width_bits == 0 || self.ptr_bits == 0 {
            return bad(
                "act_regfile_entries, act_sram_width_bits and ptr_bits must be positive".into(),
            );
        }
        if self.pipeline_depth == 0 {
            return bad("pipeline_depth = 0 (must be at least 1)".into());
        }
        if !(self.leakage_mw_per_pe.is_finite() && self.leakage_mw_per_pe >= 0.0) {
            return bad(format!(
                "leakage_mw_per_pe = {} (must be >= 0)",
                self.leakage_mw_per_pe
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_paper() {
        let c = EieConfig::default();
        assert_eq!(
            (
                c.pes,
                c.fifo_depth,
                c.sram_width_bits,
                c.act_regfile_entries
            ),
            (64, 8, 64, 64)
        );
        assert_eq!(c.entries_per_sram_row(), 8);
        assert_eq!(c.lnzd_units(), 21);
        assert_eq!(c.regfile_transfer_cycles(), 16);
        c.validate().unwrap();
    }

    #[test]
    fn toml_and_overrides() {
        let c = EieConfig::from_toml(
            "pes = 256\nclock_mhz = 1200.0\nprecision = \"fixed8\"",
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            (c.pes, c.clock_mhz, c.fifo_depth, c.precision),
            (256, 1200.0, 8, Precision::Fixed8)
        );
        let d = c
            .with_override("fifo_depth=32")
            .unwrap()
            .with_override("precision=float32")
            .unwrap();
        assert_eq!((d.fifo_depth, d.precision), (32, Precision::Float32));
        let e = EieConfig::from_toml("fifo = 3", "y.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.toml") && e.contains("fifo"), "{e}");
        assert!(c.with_override("fifo_depth=0").is_err());
        assert!(c.with_override("sram_width_bits=60").is_err());
        assert!(c.with_override("nonsense").is_err());
        assert!(c.with_override("pes=2000").is_err());
    }
}
