//! Saving and loading a network's weights as `.safetensors`.
//!
//! A network is saved as PyTorch saves an `nn.Sequential` of `nn.Linear`s: per layer `NAME.weight`
//! (F32, `[outputs, inputs]`) and `NAME.bias` (F32, `[outputs]`). A user's own network is loaded as a
//! **chain**: the weight tensors in order, each with an optional bias ([`parse_chain`]); shapes must chain
//! (each layer's rows are the next layer's columns), and every layer but the last has a ReLU. Reading
//! goes through `eie-compress`'s checked `.safetensors` reader, so a malformed file is an error naming
//! the file and the tensor, never a panic.

use crate::error::{NetError, Result};
use crate::mlp::{Layer, Mlp};
use eie_compress::safetensors_file::{read_f32, tensors};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Where one layer's bias comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BiasSource {
    /// `PREFIX.bias` beside a weight named `PREFIX.weight`, when the file has it; else none.
    Auto,
    /// This tensor (an error if the file lacks it).
    Named(String),
    /// No bias.
    Without,
}

/// One layer of a chain to load: its weight tensor and its bias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLayer {
    pub weight: String,
    pub bias: BiasSource,
}

/// Parses a comma-separated chain: `fc1.weight,fc2.weight+fc2.bias,fc3.weight+`.
///
/// Each item is a weight tensor name, optionally followed by `+BIAS` (that tensor is the bias) or by a
/// bare `+` (no bias); without `+`, the bias is found by [`BiasSource::Auto`].
pub fn parse_chain(spec: &str) -> Result<Vec<ChainLayer>> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    items
        .iter()
        .map(|item| {
            let (weight, bias) = match item.split_once('+') {
                None => (*item, BiasSource::Auto),
                Some((w, "")) => (w, BiasSource::Without),
                Some((w, b)) => (w, BiasSource::Named(b.trim().to_string())),
            };
            if weight.trim().is_empty() {
                return Err(NetError::param(
                    "layer chain",
                    spec,
                    "every comma-separated item needs a weight tensor name (WEIGHT[+BIAS])",
                ));
            }
            Ok(ChainLayer {
                weight: weight.trim().to_string(),
                bias,
            })
        })
        .collect()
}

/// A layer's name from its weight tensor's: `fc1.weight` gives `fc1`.
fn layer_name(weight: &str) -> &str {
    weight.strip_suffix(".weight").unwrap_or(weight)
}

/// Loads the chain `chain` from `path` (see the module docs).
pub fn load_chain(path: &Path, chain: &[ChainLayer]) -> Result<Mlp> {
    if chain.is_empty() {
        return Err(NetError::file(path, "no layers named to load"));
    }
    let names: Vec<String> = tensors(path)?.into_iter().map(|t| t.name).collect();
    let last = chain.len() - 1;
    let mut layers = Vec::with_capacity(chain.len());
    for (l, item) in chain.iter().enumerate() {
        let (shape, w) = read_f32(path, Some(&item.weight))?;
        let [outputs, inputs] = shape[..] else {
            return Err(NetError::file(
                path,
                format!(
                    "tensor '{}' has shape {shape:?}; a layer's weight is 2-D [outputs, inputs]",
                    item.weight
                ),
            ));
        };
        if let Some(prev) = layers.last().map(|p: &Layer| p.outputs())
            && prev != inputs
        {
            return Err(NetError::file(
                path,
                format!(
                    "tensor '{}' has shape [{outputs}, {inputs}] but the layer before it ('{}') gives \
                     {prev} outputs: the chain's shapes do not fit",
                    item.weight,
                    chain[l - 1].weight
                ),
            ));
        }
        let name = layer_name(&item.weight);
        let bias_name = match &item.bias {
            BiasSource::Auto => {
                let b = format!("{name}.bias");
                (item.weight.ends_with(".weight") && names.contains(&b)).then_some(b)
            }
            BiasSource::Named(b) => Some(b.clone()),
            BiasSource::Without => None,
        };
        let bias = match bias_name {
            Some(b) => {
                let (bshape, v) = read_f32(path, Some(&b))?;
                if bshape != [outputs] {
                    return Err(NetError::file(
                        path,
                        format!(
                            "tensor '{b}' has shape {bshape:?}; the bias of '{}' must be [{outputs}]",
                            item.weight
                        ),
                    ));
                }
                Some(v)
            }
            None => None,
        };
        let layer = Layer::new(name, outputs, inputs, w, bias, l != last)
            .map_err(|e| NetError::file(path, e.to_string()))?;
        layers.push(layer);
    }
    Mlp::new(layers)
}

impl Mlp {
    /// The network as `.safetensors` bytes (`NAME.weight`, `NAME.bias` per layer, F32).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for l in self.layers() {
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            owned.push((
                format!("{}.weight", l.name()),
                vec![l.outputs(), l.inputs()],
                bytes(l.weights()),
            ));
            if let Some(b) = l.bias() {
                owned.push((format!("{}.bias", l.name()), vec![l.outputs()], bytes(b)));
            }
        }
        let views = owned
            .iter()
            .map(|(n, s, d)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), d)?)))
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| NetError::Shape(format!("safetensors refused a tensor: {e}")))?;
        let meta = HashMap::from([("producer".to_string(), "eie-net".to_string())]);
        safetensors::serialize(views, Some(meta))
            .map_err(|e| NetError::Shape(format!("safetensors serialisation failed: {e}")))
    }

    /// Writes [`Mlp::to_safetensors`] to `path` (through a temporary file beside it, then a rename).
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        let bytes = self.to_safetensors()?;
        let tmp = path.with_extension("safetensors.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| NetError::file(path, format!("writing failed: {e}")))
    }

    /// Loads a network saved by [`Mlp::save_safetensors`]: layers `fc1`, `fc2`, ... for as long as
    /// `fcN.weight` exists, each with `fcN.bias` when present.
    pub fn load_safetensors(path: &Path) -> Result<Self> {
        let names: Vec<String> = tensors(path)?.into_iter().map(|t| t.name).collect();
        let chain: Vec<ChainLayer> = (1..)
            .map(|i| format!("fc{i}.weight"))
            .take_while(|w| names.contains(w))
            .map(|weight| ChainLayer {
                weight,
                bias: BiasSource::Auto,
            })
            .collect();
        if chain.is_empty() {
            return Err(NetError::file(
                path,
                format!("has no tensor 'fc1.weight' (tensors: {})", names.join(", ")),
            ));
        }
        load_chain(path, &chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, tensors: &[(&str, Vec<usize>)]) -> std::path::PathBuf {
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(n, s)| {
                let len: usize = s.iter().product();
                let bytes = (0..len)
                    .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
                    .collect();
                (n.to_string(), s.clone(), bytes)
            })
            .collect();
        let views: Vec<(String, TensorView)> = data
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
                )
            })
            .collect();
        let p = dir.join(name);
        std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
        p
    }

    #[test]
    fn a_network_round_trips_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let net = Mlp::seeded(&[6, 5, 4, 3], 9).unwrap();
        let p = dir.path().join("net.safetensors");
        net.save_safetensors(&p).unwrap();
        let back = Mlp::load_safetensors(&p).unwrap();
        assert_eq!(back, net);
        let names: Vec<String> = tensors(&p).unwrap().into_iter().map(|t| t.name).collect();
        for n in ["fc1.weight", "fc1.bias", "fc3.weight", "fc3.bias"] {
            assert!(names.iter().any(|m| m == n), "{n}");
        }
    }

    #[test]
    fn chains_parse_with_optional_biases() {
        let c = parse_chain("a.weight, b.weight+b.bias ,c+").unwrap();
        assert_eq!(c[0].bias, BiasSource::Auto);
        assert_eq!(c[1].weight, "b.weight");
        assert_eq!(c[1].bias, BiasSource::Named("b.bias".into()));
        assert_eq!(
            (c[2].weight.as_str(), &c[2].bias),
            ("c", &BiasSource::Without)
        );
        assert!(parse_chain("a.weight,,b").is_err());
        assert!(parse_chain("+b").is_err());
    }

    #[test]
    fn a_user_chain_loads_and_hostile_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "m.safetensors",
            &[
                ("l1.weight", vec![4, 3]),
                ("l1.bias", vec![4]),
                ("l2.weight", vec![2, 4]),
                ("odd", vec![3]),
                ("flat", vec![8]),
            ],
        );
        let net = load_chain(&p, &parse_chain("l1.weight,l2.weight").unwrap()).unwrap();
        assert_eq!((net.inputs(), net.outputs()), (3, 2));
        assert!(net.layers()[0].bias().is_some() && net.layers()[0].relu());
        assert!(net.layers()[1].bias().is_none() && !net.layers()[1].relu());
        let err = |spec: &str| {
            load_chain(&p, &parse_chain(spec).unwrap())
                .unwrap_err()
                .to_string()
        };
        let e = err("l2.weight,l1.weight");
        assert!(
            e.contains("m.safetensors")
                && e.contains("tensor 'l1.weight' has shape [4, 3]")
                && e.contains("'l2.weight') gives 2 outputs"),
            "{e}"
        );
        let e = err("l1.weight,missing.weight");
        assert!(
            e.contains("m.safetensors") && e.contains("has no tensor 'missing.weight'"),
            "{e}"
        );
        let e = err("l1.weight+odd");
        assert!(
            e.contains("tensor 'odd' has shape [3]; the bias of 'l1.weight' must be [4]"),
            "{e}"
        );
        let e = err("flat");
        assert!(
            e.contains("tensor 'flat' has shape [8]; a layer's weight is 2-D"),
            "{e}"
        );
        let e = Mlp::load_safetensors(&p).unwrap_err().to_string();
        assert!(e.contains("has no tensor 'fc1.weight'"), "{e}");
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"not a safetensors file").unwrap();
        assert!(Mlp::load_safetensors(&junk).is_err());
        assert!(Mlp::load_safetensors(&dir.path().join("absent.safetensors")).is_err());
    }
}
