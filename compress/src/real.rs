//! The real AlexNet FC8 layer (pruned, 4-bit weight-shared, with one real input), when its data exists.
//!
//! It lives in `$EIE_DATA_DIR/alexnet-fc8/` (`EIE_DATA_DIR` defaults to `../shared/data` beside the
//! workspace root) as `weights.npy` (1000 x 4096), `bias.npy`, `input.npy` and `codebook.npy`; it is
//! never copied into the repository. FC8 feeds the softmax, so the layer has no ReLU.

use crate::dense::DenseLayer;
use crate::error::{CompressError, Result};
use crate::layer::{CompressOptions, CompressedLayer};
use crate::npy::read_f32;
use crate::share::Codebook;
use std::path::{Path, PathBuf};

/// The real layer's name.
pub const REAL_FC8_NAME: &str = "alexnet-fc8-real";

/// `$EIE_DATA_DIR`, or `../shared/data` beside the workspace root.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("EIE_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

/// The real FC8's folder, when its `weights.npy` exists (as anything: a directory or a broken file in its
/// place is reported when the layer is loaded, not taken for absent data).
pub fn real_fc8_dir() -> Option<PathBuf> {
    let d = data_dir().join("alexnet-fc8");
    std::fs::symlink_metadata(d.join("weights.npy"))
        .is_ok()
        .then_some(d)
}

/// Loads the real FC8 from `dir`, keeping its published codebook exactly (entry order included).
pub fn load_real_fc8(dir: &Path, opts: CompressOptions) -> Result<CompressedLayer> {
    let read = |f: &str, rank: usize| -> Result<(Vec<usize>, Vec<f32>)> {
        let path = dir.join(f);
        let a = read_f32(&path)?;
        if a.shape.len() != rank {
            return Err(CompressError::bad_file(
                path,
                format!("expected a {rank}-D array, found shape {:?}", a.shape),
            ));
        }
        Ok((a.shape, a.data))
    };
    let (ws, w) = read("weights.npy", 2)?;
    let (outputs, inputs) = (ws[0], ws[1]);
    let (bs, b) = read("bias.npy", 1)?;
    let (is, a) = read("input.npy", 1)?;
    let (_, cb) = read("codebook.npy", 1)?;
    for (f, shape, want, what) in [
        ("bias.npy", bs, outputs, "one value per output"),
        ("input.npy", is, inputs, "one value per input"),
    ] {
        if shape[0] != want {
            return Err(CompressError::bad_file(
                dir.join(f),
                format!(
                    "has {} values but weights.npy of shape ({outputs}, {inputs}) needs {want} \
                     ({what})",
                    shape[0]
                ),
            ));
        }
    }
    let max_entries = 1usize << crate::share::MAX_WEIGHT_BITS;
    if cb.is_empty() || cb.len() > max_entries {
        return Err(CompressError::bad_file(
            dir.join("codebook.npy"),
            format!(
                "has {} entries; a codebook has 1..={max_entries} (entry 0 the zero weight)",
                cb.len()
            ),
        ));
    }
    // The fewest index bits that hold every entry (at least 1).
    let bits = cb.len().max(2).next_power_of_two().trailing_zeros() as u8;
    let codebook = Codebook::new(bits, cb)
        .map_err(|e| CompressError::bad_file(dir.join("codebook.npy"), e.to_string()))?;
    let dense = DenseLayer::new(REAL_FC8_NAME, outputs, inputs, w, Some(b), a, false)?;
    CompressedLayer::with_codebook(dense, codebook, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::write;

    /// A 2 x 3 FC8 stand-in whose values are all codebook entries.
    fn folder(codebook: &[f32]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let f = |n: &str| dir.path().join(n);
        write(
            &f("weights.npy"),
            &[2, 3],
            &[0.5f32, 0.0, -0.5, 0.0, 0.5, 0.0],
        )
        .unwrap();
        write(&f("bias.npy"), &[2], &[0.0f32, 0.5]).unwrap();
        write(&f("input.npy"), &[3], &[1.0f32, 2.0, 3.0]).unwrap();
        write(&f("codebook.npy"), &[codebook.len()], codebook).unwrap();
        dir
    }

    fn err(dir: &Path) -> String {
        load_real_fc8(dir, CompressOptions::default())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_valid_folder_loads() {
        let dir = folder(&[0.0, -0.5, 0.5]);
        let l = load_real_fc8(dir.path(), CompressOptions::default()).unwrap();
        assert_eq!((l.codebook().bits(), l.nnz()), (2, 3));
    }

    /// The one-entry codebook panicked; every broken file of the folder is named.
    #[test]
    fn broken_folders_name_the_file() {
        let dir = folder(&[0.0]);
        let e = err(dir.path());
        assert!(
            e.contains("value 0.5") && e.contains("not an entry of the codebook [0.0]"),
            "{e}"
        );

        let big: Vec<f32> = std::iter::once(0.0)
            .chain((1..300).map(|i| i as f32))
            .collect();
        let dir = folder(&big);
        let e = err(dir.path());
        assert!(
            e.contains("codebook.npy: has 300 entries; a codebook has 1..=256"),
            "{e}"
        );

        let dir = folder(&[0.0, -0.5, 0.5]);
        write(&dir.path().join("bias.npy"), &[3], &[0.0f32; 3]).unwrap();
        let e = err(dir.path());
        assert!(
            e.contains("bias.npy: has 3 values") && e.contains("needs 2"),
            "{e}"
        );

        let dir = folder(&[0.0, -0.5, 0.5]);
        write(&dir.path().join("input.npy"), &[2], &[0.0f32; 2]).unwrap();
        let e = err(dir.path());
        assert!(
            e.contains("input.npy: has 2 values") && e.contains("needs 3"),
            "{e}"
        );

        let dir = folder(&[0.0, -0.5, 0.5]);
        let w = dir.path().join("weights.npy");
        std::fs::remove_file(&w).unwrap();
        std::fs::create_dir(&w).unwrap();
        let e = err(dir.path());
        assert!(
            e.contains("weights.npy: is a directory, not a .npy file"),
            "{e}"
        );
    }

    /// The issue's `$EIE_DATA_DIR/alexnet-fc8/weights.npy` as a FIFO blocked forever; it is found (as
    /// present data) and then refused by type, at once.
    #[cfg(unix)]
    #[test]
    fn a_fifo_in_the_folder_is_refused_at_once() {
        let dir = folder(&[0.0, -0.5, 0.5]);
        let w = dir.path().join("weights.npy");
        std::fs::remove_file(&w).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&w).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIP: mkfifo is not available");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(err(&d));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a FIFO weights.npy must be refused at once, not block");
        assert!(
            e.contains("weights.npy: not a regular file (a FIFO (named pipe)); give a .npy file"),
            "{e}"
        );
    }
}
