//! The network `eie net` runs: the built-in one (optdigits + LeNet-300-100, Deep-Compressed by eie-net)
//! or a user's chain of layers from `.safetensors` with inputs and labels from `.npy` files.

use anyhow::{Context, Result, anyhow, bail};
use eie_compress::CompressOptions;
use eie_net::{Dataset, Digits, FixedNetwork, Mlp, PipelineSummary};
use std::path::Path;

/// A compressed network and the labelled samples it is tested on.
pub struct Network {
    /// What it is, in words.
    pub name: String,
    /// Its name in records (`lenet-300-100-optdigits`, or the weight file's stem).
    pub short: String,
    /// The Deep Compression stages (built-in network only).
    pub stages: Option<PipelineSummary>,
    /// The compressed layers on EIE's 16-bit datapath.
    pub fixed: FixedNetwork,
    /// The same compressed network decoded to f32 weights (its f64 forward pass is the reference).
    pub decoded: Mlp,
    /// The test samples.
    pub test: Dataset,
}

impl Network {
    /// The built-in network (trained and compressed here, about 10 s in release).
    pub fn builtin() -> Result<Self> {
        let digits = Digits::load().context("loading the built-in optdigits data")?;
        let (_, pipeline) =
            eie_net::builtin_pipeline(&digits).context("training the built-in network")?;
        let fixed = pipeline.network.clone();
        let decoded = fixed.decoded()?;
        Ok(Self {
            name: "built-in: LeNet-300-100 (64-300-100-10) on optdigits, Deep-Compressed".into(),
            short: super::short_name(None),
            stages: Some(pipeline.summary()),
            fixed,
            decoded,
            test: digits.test().clone(),
        })
    }

    /// A user's chain (`FILE:CHAIN`, eie-net's chain syntax) with inputs `x` and labels `y`, compressed
    /// without retraining at `bits` (and pruned to `density` if set), calibrated on `x`.
    pub fn user(spec: &str, x: &Path, y: &Path, bits: u8, density: Option<f64>) -> Result<Self> {
        let (file, net, test) = load_user(spec, x, y)?;
        let opts = CompressOptions {
            bits,
            density,
            ..CompressOptions::default()
        };
        let fixed = eie_net::encode_trained(&net, opts, &test)?;
        let decoded = fixed.decoded()?;
        Ok(Self {
            name: format!(
                "{}: {} layers ({}), {bits}-bit weights{}",
                file.display(),
                net.layers().len(),
                widths(&net),
                density.map_or(String::new(), |d| format!(", pruned to {:.1} %", d * 100.0))
            ),
            short: super::short_name(Some(spec)),
            stages: None,
            fixed,
            decoded,
            test,
        })
    }
}

/// A user's chain (`FILE:CHAIN`) as trained, with its test inputs `x` and labels `y`: the file, the
/// network and the samples, every shape checked.
pub fn load_user(spec: &str, x: &Path, y: &Path) -> Result<(std::path::PathBuf, Mlp, Dataset)> {
    {
        let (file, chain) = spec.rsplit_once(':').ok_or_else(|| {
            anyhow!(
                "--weights {spec}: expected FILE.safetensors:WEIGHT[+BIAS],WEIGHT[+BIAS],... \
                 (e.g. model.safetensors:fc1.weight,fc2.weight,fc3.weight)"
            )
        })?;
        let file = Path::new(file);
        let chain = eie_net::parse_chain(chain).with_context(|| format!("--weights {spec}"))?;
        let net = eie_net::load_chain(file, &chain)?;
        let inputs = eie_compress::npy::read_f32(x)?;
        let [samples, features] = inputs.shape[..] else {
            bail!(
                "{}: inputs of shape {:?}; expected 2-D float32 [samples, features]",
                x.display(),
                inputs.shape
            );
        };
        if features != net.inputs() {
            bail!(
                "{}: inputs of shape [{samples}, {features}], but the network's first layer ('{}') takes {} \
                 inputs",
                x.display(),
                net.layers()[0].name(),
                net.inputs()
            );
        }
        let labels = read_labels(y)?;
        if labels.len() != samples {
            bail!(
                "{}: {} labels for the {samples} samples of {}",
                y.display(),
                labels.len(),
                x.display()
            );
        }
        let test = Dataset::new(
            &y.display().to_string(),
            inputs.data,
            labels,
            features,
            net.outputs(),
        )?;
        if test.is_empty() {
            bail!("{}: no samples", x.display());
        }
        Ok((file.to_path_buf(), net, test))
    }
}

/// The layer widths, `64-300-100-10`.
pub fn widths(net: &Mlp) -> String {
    std::iter::once(net.inputs())
        .chain(net.layers().iter().map(|l| l.outputs()))
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads a 1-D `.npy` of class labels: any integer dtype, or float32/float64 holding whole numbers.
/// Every failure names the file.
pub fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    parse_labels(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn parse_labels(bytes: &[u8]) -> std::result::Result<Vec<usize>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!(".npy format version {v} is not one we read")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("the header runs past the end of the file")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "the header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or(format!("the header has no '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let rest = rest
            .trim_start()
            .strip_prefix(':')
            .unwrap_or(rest)
            .trim_start();
        Ok(rest)
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("cannot read the header's 'descr'")?;
    // 'fortran_order' does not matter: a 1-D array (or [n, 1]) is the same in either order.
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("cannot read the header's 'shape'")?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("shape ({shape})")))
        .collect::<std::result::Result<_, _>>()?;
    let n = match dims[..] {
        [n] | [n, 1] => n,
        _ => {
            return Err(format!("labels of shape ({shape}); expected 1-D [samples]"));
        }
    };
    let (big, code) = match descr.as_bytes().first() {
        Some(b'>') => (true, &descr[1..]),
        Some(b'<' | b'|' | b'=') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let size: usize = match code {
        "i1" | "u1" | "b1" => 1,
        "i2" | "u2" => 2,
        "i4" | "u4" | "f4" => 4,
        "i8" | "u8" | "f8" => 8,
        _ => {
            return Err(format!(
                "labels of dtype '{descr}'; expected integers or float32/float64 class numbers"
            ));
        }
    };
    let data = &bytes[end..];
    let need = n.checked_mul(size).ok_or("the shape is too large")?;
    if data.len() < need {
        return Err(format!(
            "the header says {n} labels of {size} bytes but the file holds {} bytes of data",
            data.len()
        ));
    }
    data[..need]
        .chunks_exact(size)
        .enumerate()
        .map(|(i, c)| {
            let mut b = [0u8; 8];
            if big {
                b[8 - size..].copy_from_slice(c);
                b.reverse();
            } else {
                b[..size].copy_from_slice(c);
            }
            let v = match code {
                "f4" => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                "f8" => f64::from_le_bytes(b),
                c if c.starts_with('i') => {
                    // Sign-extend from `size` bytes.
                    let shift = 64 - 8 * size as u32;
                    ((i64::from_le_bytes(b) << shift) >> shift) as f64
                }
                _ => u64::from_le_bytes(b) as f64,
            };
            if v >= 0.0 && v.fract() == 0.0 && v < 1e9 {
                Ok(v as usize)
            } else {
                Err(format!(
                    "label {i} is {v}; labels must be whole numbers from 0 (class indices)"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn labels_of_every_dtype() {
        let i64s: Vec<u8> = [3i64, 0, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse_labels(&npy("<i8", "(3,)", &i64s)).unwrap(), [3, 0, 9]);
        assert_eq!(parse_labels(&npy("|u1", "(2,)", &[7, 1])).unwrap(), [7, 1]);
        let f32s: Vec<u8> = [2.0f32, 5.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse_labels(&npy("<f4", "(2,)", &f32s)).unwrap(), [2, 5]);
        let be: Vec<u8> = [4i32, 1].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(parse_labels(&npy(">i4", "(2,)", &be)).unwrap(), [4, 1]);
        let neg: Vec<u8> = [-1i16].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(
            parse_labels(&npy("<i2", "(1,)", &neg))
                .unwrap_err()
                .contains("label 0 is -1")
        );
        let half: Vec<u8> = [0.5f32].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(parse_labels(&npy("<f4", "(1,)", &half)).is_err());
        assert!(
            parse_labels(&npy("<i8", "(3,)", &i64s[..8]))
                .unwrap_err()
                .contains("3 labels")
        );
        assert!(
            parse_labels(&npy("<i8", "(1, 3)", &i64s))
                .unwrap_err()
                .contains("1-D")
        );
        assert!(parse_labels(b"garbage").is_err());
        assert!(
            parse_labels(&npy("<U3", "(1,)", &[0; 12]))
                .unwrap_err()
                .contains("dtype")
        );
    }
}
