//! The GPU kernels' tuning knobs, as one value: [`GpuKnobs`], filled once when a backend is built
//! (by the caller, or from the environment by [`GpuKnobs::from_env`]) and never read again from the
//! environment afterwards. `None` in a field means "chosen for the adapter and the layer".
//!
//! The environment variables, for sweeps on a new GPU (`EIE_GPU_EIE_PARTS=16 eie measure ...`):
//! [`PARTS_ENV`], [`ZEROS_ENV`], [`SPLITS_ENV`], [`ROW_WG_ENV`]. A bad value is an error naming the
//! variable, whichever kernel runs.
//!
//! Plain data, no wgpu: built with or without the `gpu` feature, so a record can name the knobs anywhere.

use super::error::GpuError;
use std::ffi::OsString;
use std::fmt;

/// The environment variable that overrides the batch-1 EIE kernel's part count.
pub const PARTS_ENV: &str = "EIE_GPU_EIE_PARTS";

/// The environment variable that chooses how the batch-1 EIE kernel skips zero activations: `list`
/// through the non-zero list built on the GPU (the default on CPU adapters), `walk` in the walk itself, no
/// list (the default on GPUs).
pub const ZEROS_ENV: &str = "EIE_GPU_EIE_ZEROS";

/// The environment variable that overrides the feature splits (split-K) of the tiled dense kernel
/// (batch > 1 on GPUs).
pub const SPLITS_ENV: &str = "EIE_GPU_DENSE_SPLITS";

/// The environment variable that sets the workgroup size (32, 64, 128 or 256; default 64) of the batch-1
/// kernels that give each row a workgroup (dense and CSR on GPUs).
pub const ROW_WG_ENV: &str = "EIE_GPU_ROW_WG";

/// How the batch-1 dense and CSR kernels reduce a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// Subgroups where the adapter has them, else workgroup memory; one row per invocation on CPU adapters.
    #[default]
    Auto,
    /// One row per invocation, no reduction (best on CPU adapters such as lavapipe).
    RowPerInvocation,
    /// A workgroup per row, reduced in workgroup memory.
    Workgroup,
    /// A workgroup per row, reduced with subgroup operations (needs the SUBGROUP feature).
    Subgroup,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reduction::Auto => "auto",
            Reduction::RowPerInvocation => "row-per-invocation",
            Reduction::Workgroup => "workgroup",
            Reduction::Subgroup => "subgroup",
        })
    }
}

/// How the batch-1 EIE kernel skips zero activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EieZeros {
    /// Through the list of non-zero columns built on the GPU first (`compact`, EIE's LNZD).
    List,
    /// In the walk itself, as each invocation meets them in its share of the columns (no list).
    Walk,
}

impl fmt::Display for EieZeros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EieZeros::List => "list",
            EieZeros::Walk => "walk",
        })
    }
}

/// Every tuning knob of the GPU kernels. The default chooses everything for the adapter and the layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuKnobs {
    /// How the batch-1 dense and CSR kernels reduce a row; at batch > 1, anything but
    /// [`Reduction::RowPerInvocation`] (once `Auto` is resolved) runs the dense kernel in tiles.
    pub reduction: Reduction,
    /// Parts of the columns in the batch-1 EIE kernel (at least 1; [`PARTS_ENV`]).
    pub eie_parts: Option<usize>,
    /// How the batch-1 EIE kernel skips zero activations ([`ZEROS_ENV`]).
    pub eie_zeros: Option<EieZeros>,
    /// Feature splits of the tiled dense kernel (at least 1; [`SPLITS_ENV`]).
    pub dense_splits: Option<usize>,
    /// Workgroup size of the batch-1 row-per-workgroup kernels (32, 64, 128 or 256; [`ROW_WG_ENV`]).
    pub row_wg: Option<u32>,
    /// Most rows of one dense weight block, rounded up to a multiple of 4 (`None`: as many as one storage
    /// binding holds; smaller blocks run the block path on small layers).
    pub dense_block_rows: Option<usize>,
}

impl GpuKnobs {
    /// The knobs set in the environment ([`PARTS_ENV`], [`ZEROS_ENV`], [`SPLITS_ENV`], [`ROW_WG_ENV`]), the
    /// rest at their defaults. Every variable is checked, whichever kernel will run.
    pub fn from_env() -> Result<GpuKnobs, GpuError> {
        Self::from_vars(|var| std::env::var_os(var))
    }

    /// The knobs from the variables `get` returns.
    fn from_vars(get: impl Fn(&str) -> Option<OsString>) -> Result<GpuKnobs, GpuError> {
        // Checked in this order; the first bad value is the error.
        let eie_parts = whole_number(PARTS_ENV, get(PARTS_ENV), 4096)?;
        let eie_zeros = zeros(get(ZEROS_ENV))?;
        let dense_splits = whole_number(SPLITS_ENV, get(SPLITS_ENV), 1024)?;
        let row_wg = match whole_number(ROW_WG_ENV, get(ROW_WG_ENV), 256)? {
            None => None,
            Some(n) if [32, 64, 128, 256].contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(GpuError::Unsupported(format!(
                    "{ROW_WG_ENV}={n}: expected 32, 64, 128 or 256"
                )));
            }
        };
        Ok(GpuKnobs {
            reduction: Reduction::Auto,
            eie_parts,
            eie_zeros,
            dense_splits,
            row_wg,
            dense_block_rows: None,
        })
    }

    /// The knobs as the kernels take them: parts and splits at least 1, block rows a multiple of 4 (at
    /// least 4).
    pub fn normalized(self) -> GpuKnobs {
        GpuKnobs {
            eie_parts: self.eie_parts.map(|p| p.max(1)),
            dense_splits: self.dense_splits.map(|s| s.max(1)),
            dense_block_rows: self.dense_block_rows.map(|r| r.div_ceil(4).max(1) * 4),
            ..self
        }
    }

    /// The knobs set (not `None`, not `Auto`), as `name=value` joined by commas; `default` when none is.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for GpuKnobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<String> = [
            (self.reduction != Reduction::Auto).then(|| format!("reduction={}", self.reduction)),
            self.eie_parts.map(|v| format!("eie_parts={v}")),
            self.eie_zeros.map(|v| format!("eie_zeros={v}")),
            self.dense_splits.map(|v| format!("dense_splits={v}")),
            self.row_wg.map(|v| format!("row_wg={v}")),
            self.dense_block_rows
                .map(|v| format!("dense_block_rows={v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if set.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&set.join(", "))
        }
    }
}

/// The whole number from 1 to `max` in `value` (the variable `var`), if set; any other value is an error
/// naming it.
fn whole_number(var: &str, value: Option<OsString>, max: usize) -> Result<Option<usize>, GpuError> {
    let Some(v) = value else {
        return Ok(None);
    };
    let s = v.to_string_lossy();
    match s.trim().parse::<usize>() {
        Ok(p) if (1..=max).contains(&p) => Ok(Some(p)),
        _ => Err(GpuError::Unsupported(format!(
            "{var}={s:?}: expected a whole number from 1 to {max}"
        ))),
    }
}

/// The zero skipping set in [`ZEROS_ENV`] (`value`), if any.
fn zeros(value: Option<OsString>) -> Result<Option<EieZeros>, GpuError> {
    let Some(v) = value else {
        return Ok(None);
    };
    match v.to_str().map(str::trim) {
        Some("list") => Ok(Some(EieZeros::List)),
        Some("walk") => Ok(Some(EieZeros::Walk)),
        Some(v) => Err(GpuError::Unsupported(format!(
            "{ZEROS_ENV}={v:?}: expected list or walk"
        ))),
        None => Err(GpuError::Unsupported(format!(
            "{ZEROS_ENV}: {}",
            std::env::VarError::NotUnicode(v)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(vars: &[(&str, &str)]) -> Result<GpuKnobs, GpuError> {
        GpuKnobs::from_vars(|var| {
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn knobs_from_the_environment() {
        assert_eq!(knobs(&[]).unwrap(), GpuKnobs::default());
        let k = knobs(&[
            (PARTS_ENV, " 16 "),
            (ZEROS_ENV, "walk"),
            (SPLITS_ENV, "1024"),
            (ROW_WG_ENV, "128"),
        ])
        .unwrap();
        assert_eq!(
            k,
            GpuKnobs {
                eie_parts: Some(16),
                eie_zeros: Some(EieZeros::Walk),
                dense_splits: Some(1024),
                row_wg: Some(128),
                ..GpuKnobs::default()
            }
        );
        assert_eq!(
            knobs(&[(ZEROS_ENV, "list")]).unwrap().eie_zeros,
            Some(EieZeros::List)
        );
    }

    #[test]
    fn bad_knobs_name_their_variable() {
        let err = |vars: &[(&str, &str)]| knobs(vars).unwrap_err().to_string();
        assert_eq!(
            err(&[(PARTS_ENV, "0")]),
            "EIE_GPU_EIE_PARTS=\"0\": expected a whole number from 1 to 4096"
        );
        assert_eq!(
            err(&[(SPLITS_ENV, "many")]),
            "EIE_GPU_DENSE_SPLITS=\"many\": expected a whole number from 1 to 1024"
        );
        assert_eq!(
            err(&[(ROW_WG_ENV, "48")]),
            "EIE_GPU_ROW_WG=48: expected 32, 64, 128 or 256"
        );
        assert_eq!(
            err(&[(ROW_WG_ENV, "512")]),
            "EIE_GPU_ROW_WG=\"512\": expected a whole number from 1 to 256"
        );
        assert_eq!(
            err(&[(ZEROS_ENV, " skip ")]),
            "EIE_GPU_EIE_ZEROS=\"skip\": expected list or walk"
        );
    }

    #[test]
    fn knobs_normalized_as_the_kernels_take_them() {
        let k = GpuKnobs {
            eie_parts: Some(0),
            dense_splits: Some(0),
            dense_block_rows: Some(0),
            ..GpuKnobs::default()
        }
        .normalized();
        assert_eq!(
            (k.eie_parts, k.dense_splits, k.dense_block_rows),
            (Some(1), Some(1), Some(4))
        );
        let k = GpuKnobs {
            eie_parts: Some(7),
            dense_splits: Some(3),
            dense_block_rows: Some(65),
            ..GpuKnobs::default()
        }
        .normalized();
        assert_eq!(
            (k.eie_parts, k.dense_splits, k.dense_block_rows),
            (Some(7), Some(3), Some(68))
        );
    }

    #[test]
    fn knobs_describe_what_is_set() {
        assert_eq!(GpuKnobs::default().describe(), "default");
        let k = GpuKnobs {
            reduction: Reduction::RowPerInvocation,
            eie_zeros: Some(EieZeros::List),
            dense_block_rows: Some(68),
            ..GpuKnobs::default()
        };
        assert_eq!(
            k.describe(),
            "reduction=row-per-invocation, eie_zeros=list, dense_block_rows=68"
        );
    }
}
