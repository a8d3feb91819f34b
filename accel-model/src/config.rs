//! [`EieConfig`]: every parameter of the modelled hardware, defaults = the paper's 64-PE, 45 nm design.

use eie_compress::load::{OpenError, open_regular};
use serde::{Deserialize, Serialize};
use std::io::Read;
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
/// `reference/eie-paper.md`); load overrides from TOML with [`EieConfig::from_toml`] or as `KEY=VALUE`
/// with [`EieConfig::with_overrides`].
///
/// Every numeric field has a documented range ([`limits`]), wide enough for any design-space sweep and
/// narrow enough that the model's memory stays small; [`EieConfig::validate`] checks them all, in one
/// place, and every constructor that takes outside input calls it, as does [`crate::plan::Plan::new`]
/// (so a configuration built as a struct literal is checked before it is simulated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EieConfig {
    /// Processing elements, 1..=1024 (the EIE encoding's limit). Row `i` of W belongs to PE
    /// `i mod pes`. Paper: 64.
    pub pes: usize,
    /// Clock frequency in MHz, 1..=10000. Paper: 800 (45 nm); 1200 for the 28 nm projection.
    pub clock_mhz: f64,
    /// Depth of each PE's activation queue (FIFO), in entries, 1..=1048576; the central unit stalls its
    /// broadcast while any queue is full. A queue deeper than a layer's broadcasts acts as unbounded
    /// (and costs no more memory to model). Paper: 8 (section VII-A).
    pub fifo_depth: usize,
    /// Width of one SpMat SRAM read, in bits: a multiple of one entry (`weight_bits + index_bits`), up
    /// to 4096; one read fetches `sram_width_bits / (weight_bits + index_bits)` entries. Paper: 64
    /// (8 entries per read).
    pub sram_width_bits: u32,
    /// Whether the SpMat read unit keeps its last row across columns: when the next processed column's
    /// first entry lies in the row already read, no new read is needed. The paper's description ("a new
    /// row read only when the entry index crosses a row boundary") implies it; `false` re-reads the row at
    /// the start of every column, which is what makes 64 bits the optimum of Fig. 9 (see the README).
    pub spmat_row_reuse: bool,
    /// Width of a column pointer, in bits, 1..=64 (both pointers of a column are read in one cycle
    /// from the even and odd banks). Paper: 16. Used for the capacity check.
    pub ptr_bits: u32,
    /// Activation register-file entries per PE (source and destination each), 1..=65536. Input and
    /// output vectors longer than `pes x act_regfile_entries` run in chunks through the activation
    /// SRAM. Paper: 64.
    pub act_regfile_entries: usize,
    /// Width of one activation-SRAM access, in bits, 1..=4096 (chunk loads and stores). Paper: not
    /// stated; we assume the SpMat SRAM's 64 bits.
    pub act_sram_width_bits: u32,
    /// Codebook-index width, in bits, 1..=8; at least the layer's codebook bits. Paper: 4.
    pub weight_bits: u8,
    /// Relative row-index (z) width, in bits, 1..=8. Paper: 4.
    pub index_bits: u8,
    /// Arithmetic format. Paper: 16-bit fixed point.
    pub precision: Precision,
    /// Pipeline stages of an activation update, 1..=64: (1) codebook lookup and address accumulation,
    /// (2) accumulator read and multiply, (3) shift and add, (4) accumulator write. Paper: 4.
    pub pipeline_depth: u32,
    /// SpMat SRAM capacity per PE, in KB, 1..=1048576 (capacity check only). Paper: 128.
    pub spmat_sram_kb: usize,
    /// Pointer SRAM capacity per PE, in KB, 1..=1048576 (capacity check only). Paper: 32.
    pub ptr_sram_kb: usize,
    /// Static (leakage) power per PE, in mW, 0..=10000. Table II does not separate leakage from dynamic
    /// power, so the calibration attributes all of Table II to dynamic and clock power and this
    /// defaults to 0.
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

/// The range of every numeric field of [`EieConfig`], inclusive; [`EieConfig::validate`] checks them.
pub mod limits {
    use std::ops::RangeInclusive;

    pub const PES: RangeInclusive<usize> = 1..=eie_compress::eie::MAX_PES;
    pub const CLOCK_MHZ: RangeInclusive<f64> = 1.0..=10_000.0;
    pub const FIFO_DEPTH: RangeInclusive<usize> = 1..=1 << 20;
    /// And a multiple of one entry, `weight_bits + index_bits` (so at least one entry).
    pub const SRAM_WIDTH_BITS: RangeInclusive<u32> = 2..=4096;
    pub const PTR_BITS: RangeInclusive<u32> = 1..=64;
    pub const ACT_REGFILE_ENTRIES: RangeInclusive<usize> = 1..=1 << 16;
    pub const ACT_SRAM_WIDTH_BITS: RangeInclusive<u32> = 1..=4096;
    pub const WEIGHT_BITS: RangeInclusive<u8> = 1..=eie_compress::share::MAX_WEIGHT_BITS;
    pub const INDEX_BITS: RangeInclusive<u8> = 1..=8;
    pub const PIPELINE_DEPTH: RangeInclusive<u32> = 1..=64;
    pub const SPMAT_SRAM_KB: RangeInclusive<usize> = 1..=1 << 20;
    pub const PTR_SRAM_KB: RangeInclusive<usize> = 1..=1 << 20;
    pub const LEAKAGE_MW_PER_PE: RangeInclusive<f64> = 0.0..=10_000.0;
}

/// Longest configuration file we read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The text of a configuration file, read once and bounded.
///
/// Only a regular file is read: its type is checked before it is opened (opening a FIFO with no writer
/// blocks forever), so a FIFO, a pipe (`/dev/stdin`, `<(...)`), a device or a directory is refused with
/// an error that names the path and says what it is (give a file). At most [`MAX_CONFIG_BYTES`] + 1
/// bytes are read (`take`), so a longer file (or one growing while it is read) is an error, not a long
/// read; the text must be UTF-8.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let origin = path.display().to_string();
    let io = |source: std::io::Error| ConfigError::Io {
        path: origin.clone(),
        source,
    };
    let (file, _) = open_regular(path).map_err(|e| match e {
        OpenError::Io(e) => io(e),
        e => io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            e.reason("a TOML file"),
        )),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let parse = |message: String| ConfigError::Parse {
        origin: origin.clone(),
        message,
    };
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(parse(format!(
            "longer than {MAX_CONFIG_BYTES} bytes; not an EIE configuration"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        parse(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
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
    /// A field outside its range ([`limits`]).
    #[error("invalid configuration: {field} = {value} (must be {allowed})")]
    OutOfRange {
        field: &'static str,
        value: String,
        allowed: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    note: &str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: value.to_string(),
            allowed: format!("{}..={}{note}", range.start(), range.end()),
        })
    }
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

    /// Reads a TOML file ([`read_text`]) and parses it, once.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The configuration's field names, in alphabetical order.
    pub fn field_names() -> Vec<String> {
        toml::Table::try_from(Self::default())
            .expect("config serializes to a table")
            .keys()
            .cloned()
            .collect()
    }

    /// Every field's allowed values, for help texts: `(field, "1..=1024")`.
    pub fn field_ranges() -> Vec<(&'static str, String)> {
        fn r<T: std::fmt::Display>(
            f: &'static str,
            r: std::ops::RangeInclusive<T>,
        ) -> (&'static str, String) {
            (f, format!("{}..={}", r.start(), r.end()))
        }
        vec![
            r("pes", limits::PES),
            r("clock_mhz", limits::CLOCK_MHZ),
            r("fifo_depth", limits::FIFO_DEPTH),
            (
                "sram_width_bits",
                format!(
                    "a multiple of (weight_bits + index_bits), up to {}",
                    limits::SRAM_WIDTH_BITS.end()
                ),
            ),
            ("spmat_row_reuse", "true or false".into()),
            r("ptr_bits", limits::PTR_BITS),
            r("act_regfile_entries", limits::ACT_REGFILE_ENTRIES),
            r("act_sram_width_bits", limits::ACT_SRAM_WIDTH_BITS),
            r("weight_bits", limits::WEIGHT_BITS),
            r("index_bits", limits::INDEX_BITS),
            (
                "precision",
                Precision::all().map(Precision::name).join(", "),
            ),
            r("pipeline_depth", limits::PIPELINE_DEPTH),
            r("spmat_sram_kb", limits::SPMAT_SRAM_KB),
            r("ptr_sram_kb", limits::PTR_SRAM_KB),
            r("leakage_mw_per_pe", limits::LEAKAGE_MW_PER_PE),
        ]
    }

    /// This configuration with `key = value` (TOML syntax for the value) applied, e.g. `fifo_depth=16`.
    /// Validates the result; to set fields that only make sense together (e.g. `weight_bits` and
    /// `sram_width_bits`), give them all to [`EieConfig::with_overrides`].
    pub fn with_override(&self, assignment: &str) -> Result<Self, ConfigError> {
        self.with_overrides([assignment])
    }

    /// This configuration with every `KEY=VALUE` applied at once, then validated once: the result does
    /// not depend on the order of the assignments, nor on whether an intermediate combination would be
    /// valid. A key given twice is an error (there is no "last one wins"), as is a key that is not a
    /// field; type errors name their assignment.
    pub fn with_overrides<I, S>(&self, assignments: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let base = toml::Table::try_from(self).expect("config serializes to a table");
        let mut table = base.clone();
        let mut given: std::collections::BTreeMap<String, String> = Default::default();
        for assignment in assignments {
            let assignment = assignment.as_ref();
            let parse = |message: String| ConfigError::Parse {
                origin: assignment.to_string(),
                message,
            };
            let Some((key, value)) = assignment.split_once('=') else {
                return Err(ConfigError::Invalid(format!(
                    "'{assignment}' is not KEY=VALUE"
                )));
            };
            let key = key.trim();
            if !base.contains_key(key) {
                return Err(parse(format!(
                    "unknown field '{key}'; fields: {}",
                    Self::field_names().join(", ")
                )));
            }
            if let Some(first) = given.insert(key.to_string(), assignment.to_string()) {
                return Err(ConfigError::Invalid(format!(
                    "{key} is given twice ('{first}' and '{assignment}')"
                )));
            }
            let value = value.trim();
            // A bare word (`precision=fixed8`) is taken as a string; anything else must be TOML.
            let bare_word = value.starts_with(|c: char| c.is_ascii_alphabetic())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let parsed: toml::Table = toml::from_str(&format!("v = {value}"))
                .or_else(|e| {
                    if bare_word {
                        toml::from_str(&format!("v = \"{value}\""))
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| parse(e.to_string()))?;
            let v = parsed
                .get("v")
                .cloned()
                .ok_or_else(|| parse("no value".into()))?;
            // Type-check this assignment on its own, so an error names it whatever the order.
            let mut alone = base.clone();
            alone.insert(key.to_string(), v.clone());
            alone
                .try_into::<Self>()
                .map_err(|e: toml::de::Error| parse(e.to_string()))?;
            table.insert(key.to_string(), v);
        }
        let cfg: Self = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: given.into_values().collect::<Vec<_>>().join(" "),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// This configuration with the widths `layer` was compressed with: `weight_bits` = its codebook's
    /// index bits, `index_bits` = its encoding's relative-index bits, so the model walks the layer's own
    /// encoding (padding included) and packs its own entry width into SRAM rows. Fails, naming the
    /// field, where the widths break a range: an SRAM read that is not a whole number of the new
    /// entries (2-bit weights with 4-bit indices in 64-bit reads); set `sram_width_bits` with the
    /// other overrides first (e.g. 60 or 48), or keep the configuration's own widths.
    pub fn for_layer(&self, layer: &eie_compress::CompressedLayer) -> Result<Self, ConfigError> {
        self.with_layer_widths(layer.codebook().bits(), layer.eie().index_bits())
    }

    /// [`EieConfig::for_layer`] for callers that have no model flags of their own (a backend's check, the
    /// report): where the SRAM read width holds no whole number of the layer's entries, it is rounded down
    /// to the largest width that does (64-bit reads of 8 + 4-bit entries: 60 bits), and the note says so.
    pub fn fitted_to(
        &self,
        layer: &eie_compress::CompressedLayer,
    ) -> Result<(Self, Option<String>), ConfigError> {
        let entry = u32::from(layer.codebook().bits()) + u32::from(layer.eie().index_bits());
        let mut cfg = self.clone();
        let mut note = None;
        if !cfg.sram_width_bits.is_multiple_of(entry) && cfg.sram_width_bits > entry {
            let fitted = cfg.sram_width_bits / entry * entry;
            note = Some(format!(
                "{}-bit SRAM reads hold no whole number of {entry}-bit entries: {fitted}-bit reads modelled",
                cfg.sram_width_bits
            ));
            cfg.sram_width_bits = fitted;
        }
        Ok((cfg.for_layer(layer)?, note))
    }

    /// This configuration with `weight_bits` and `index_bits` set together, validated once.
    pub fn with_layer_widths(&self, weight_bits: u8, index_bits: u8) -> Result<Self, ConfigError> {
        let cfg = Self {
            weight_bits,
            index_bits,
            ..self.clone()
        };
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

    /// Checks that every field lies in its range ([`limits`]); the error names the field, its value and
    /// the range. The one place where the configuration is validated.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("pes", self.pes, limits::PES, "")?;
        check_range("clock_mhz", self.clock_mhz, limits::CLOCK_MHZ, " MHz")?;
        check_range("fifo_depth", self.fifo_depth, limits::FIFO_DEPTH, "")?;
        check_range("weight_bits", self.weight_bits, limits::WEIGHT_BITS, "")?;
        check_range("index_bits", self.index_bits, limits::INDEX_BITS, "")?;
        let entry_bits = u32::from(self.weight_bits) + u32::from(self.index_bits);
        let max_width = *limits::SRAM_WIDTH_BITS.end();
        if !(entry_bits..=max_width).contains(&self.sram_width_bits)
            || !self.sram_width_bits.is_multiple_of(entry_bits)
        {
            return Err(ConfigError::OutOfRange {
                field: "sram_width_bits",
                value: self.sram_width_bits.to_string(),
                allowed: format!(
                    "a multiple of the {entry_bits}-bit entry (weight_bits {} + index_bits {}) in \
                     {entry_bits}..={max_width}",
                    self.weight_bits, self.index_bits
                ),
            });
        }
        check_range("ptr_bits", self.ptr_bits, limits::PTR_BITS, "")?;
        check_range(
            "act_regfile_entries",
            self.act_regfile_entries,
            limits::ACT_REGFILE_ENTRIES,
            "",
        )?;
        check_range(
            "act_sram_width_bits",
            self.act_sram_width_bits,
            limits::ACT_SRAM_WIDTH_BITS,
            "",
        )?;
        check_range(
            "pipeline_depth",
            self.pipeline_depth,
            limits::PIPELINE_DEPTH,
            "",
        )?;
        check_range(
            "spmat_sram_kb",
            self.spmat_sram_kb,
            limits::SPMAT_SRAM_KB,
            "",
        )?;
        check_range("ptr_sram_kb", self.ptr_sram_kb, limits::PTR_SRAM_KB, "")?;
        check_range(
            "leakage_mw_per_pe",
            self.leakage_mw_per_pe,
            limits::LEAKAGE_MW_PER_PE,
            " mW",
        )?;
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
        let e = c
            .with_override("sram_width_bits=60")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sram_width_bits = 60 (must be a multiple of the 8-bit entry"),
            "{e}"
        );
        assert!(c.with_override("sram_width_bits=7").is_err());
        assert!(c.with_override("nonsense").is_err());
        assert!(c.with_override("pes=2000").is_err());
    }

    /// The issue's `--fifo 2^58` and `--set act_regfile_entries=2^58` (an out-of-bounds index and a
    /// division by zero in the model), and every other field past its range: an error naming the
    /// field, the value and the range.
    #[test]
    fn every_field_is_range_checked() {
        let c = EieConfig::default();
        for (a, needle) in [
            (
                "fifo_depth=288230376151711744",
                "fifo_depth = 288230376151711744 (must be 1..=1048576)",
            ),
            ("fifo_depth=100000000", "fifo_depth = 100000000"),
            (
                "act_regfile_entries=288230376151711744",
                "act_regfile_entries = 288230376151711744 (must be 1..=65536)",
            ),
            ("pes=0", "pes = 0 (must be 1..=1024)"),
            ("clock_mhz=nan", "clock_mhz = NaN (must be 1..=10000 MHz)"),
            ("clock_mhz=inf", "clock_mhz = inf"),
            ("clock_mhz=0.5", "clock_mhz = 0.5"),
            ("sram_width_bits=4096000", "sram_width_bits = 4096000"),
            ("ptr_bits=65", "ptr_bits = 65"),
            ("act_sram_width_bits=0", "act_sram_width_bits = 0"),
            ("weight_bits=9", "weight_bits = 9 (must be 1..=8)"),
            ("index_bits=0", "index_bits = 0"),
            ("pipeline_depth=0", "pipeline_depth = 0"),
            (
                "spmat_sram_kb=9223372036854775807",
                "spmat_sram_kb = 9223372036854775807",
            ),
            ("ptr_sram_kb=0", "ptr_sram_kb = 0"),
            ("leakage_mw_per_pe=-1.0", "leakage_mw_per_pe = -1"),
        ] {
            let e = c.with_override(a).unwrap_err();
            assert!(matches!(e, ConfigError::OutOfRange { .. }), "{a}: {e:?}");
            assert!(e.to_string().contains(needle), "{a}: {e}");
        }
        for a in [
            "pes=-1",
            "fifo_depth=1e30",
            "pes=99999999999999999999999",
            "spmat_sram_kb=18446744073709551615",
            "pes=\"4\"",
            "weight_bits=300",
            "pes=4 5",
            "precision=fixed9",
            "spmat_row_reuse=yes",
        ] {
            let e = c.with_override(a).unwrap_err().to_string();
            assert!(e.starts_with(a), "{a}: {e}");
        }
        let e = c.with_override("fifo=3").unwrap_err().to_string();
        assert!(
            e.contains("unknown field 'fifo'") && e.contains("fifo_depth"),
            "{e}"
        );
        assert_eq!(
            EieConfig::field_ranges().len(),
            EieConfig::field_names().len()
        );
        for (f, _) in EieConfig::field_ranges() {
            assert!(EieConfig::field_names().iter().any(|n| n == f), "{f}");
        }
    }

    /// Fields that only make sense together are set together: no order, and no intermediate
    /// combination, matters.
    #[test]
    fn overrides_are_order_independent() {
        let c = EieConfig::default();
        // 8-bit weights make a 12-bit entry, which 64 bits do not hold evenly, and 60 bits do not hold
        // 8-bit entries evenly: applied one by one, either order fails at its first step; together, in
        // any order, they make 5 entries per read.
        let a = ["weight_bits=8", "sram_width_bits=60"];
        let b = ["sram_width_bits=60", "weight_bits=8"];
        assert!(c.with_override(a[0]).is_err() && c.with_override(b[0]).is_err());
        let d = c.with_overrides(a).unwrap();
        assert_eq!(d, c.with_overrides(b).unwrap());
        assert_eq!((d.weight_bits, d.entries_per_sram_row()), (8, 5));
        let d = c
            .with_overrides(["sram_width_bits=16", "weight_bits=8", "index_bits=8"])
            .unwrap();
        let e = c
            .with_overrides(["weight_bits=8", "index_bits=8", "sram_width_bits=16"])
            .unwrap();
        assert_eq!(d, e);
        assert_eq!(d.entries_per_sram_row(), 1);
        let e = c
            .with_overrides(["pes=8", "fifo_depth=2", "pes=16"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pes is given twice ('pes=8' and 'pes=16')"),
            "{e}"
        );
        let e = c
            .with_overrides(["pes=8", "fifo_depth=x"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("fifo_depth=x:"), "{e}");
        assert_eq!(c.with_overrides(Vec::<String>::new()).unwrap(), c);
    }

    #[test]
    fn layer_widths_are_carried() {
        let c = EieConfig::default();
        let w = c.with_layer_widths(2, 6).unwrap();
        assert_eq!(
            (w.weight_bits, w.index_bits, w.entries_per_sram_row()),
            (2, 6, 8)
        );
        // 2-bit weights with 4-bit indices are 6-bit entries: 64-bit reads do not hold them evenly.
        let e = c.with_layer_widths(2, 4).unwrap_err().to_string();
        assert!(
            e.contains("sram_width_bits = 64 (must be a multiple of the 6-bit entry"),
            "{e}"
        );
        let w = c
            .with_override("sram_width_bits=60")
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(w, ConfigError::OutOfRange { .. }));
        let w = c
            .with_overrides(["sram_width_bits=60", "weight_bits=2"])
            .unwrap();
        assert_eq!(w.entries_per_sram_row(), 10);
        let narrow = EieConfig {
            sram_width_bits: 8,
            ..c.clone()
        };
        let e = narrow.with_layer_widths(8, 8).unwrap_err().to_string();
        assert!(
            e.contains("sram_width_bits = 8")
                && e.contains("16-bit entry (weight_bits 8 + index_bits 8)"),
            "{e}"
        );
        assert!(c.with_layer_widths(9, 4).is_err() && c.with_layer_widths(4, 0).is_err());
        let spec = eie_compress::LayerSpec::new("w", 40, 30, 0.2, 0.5, true).unwrap();
        let l = eie_compress::build_from_spec(
            &spec,
            eie_compress::CompressOptions {
                bits: 2,
                index_bits: 6,
                ..Default::default()
            },
        )
        .unwrap();
        let f = c.for_layer(&l).unwrap();
        assert_eq!((f.weight_bits, f.index_bits), (2, 6));
    }

    #[test]
    fn config_files_are_read_with_bounds() {
        let dir = std::env::temp_dir().join(format!("eie-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = EieConfig::from_file(&dir).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let big = dir.join("big.toml");
        std::fs::write(&big, "# x\n".repeat(300_000)).unwrap();
        let e = EieConfig::from_file(&big).unwrap_err().to_string();
        assert!(
            e.contains("big.toml") && e.contains("longer than 1048576 bytes"),
            "{e}"
        );
        let bin = dir.join("bin.toml");
        std::fs::write(&bin, b"pes = 4\n\xff\xfe").unwrap();
        let e = EieConfig::from_file(&bin).unwrap_err().to_string();
        assert!(
            e.contains("not UTF-8 text (invalid byte at offset 8)"),
            "{e}"
        );
        let ok = dir.join("ok.toml");
        std::fs::write(&ok, "pes = 4\nfifo_depth = 2\n").unwrap();
        assert_eq!(EieConfig::from_file(&ok).unwrap().pes, 4);
        #[cfg(unix)]
        {
            let e = EieConfig::from_file(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/dev/zero: cannot read: not a regular file (a character device); give a TOML file"),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
