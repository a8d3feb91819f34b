//! Reading one f32 tensor of a `.safetensors` file, with the care of the `.npy` reader.
//!
//! The format: an 8-byte little-endian header length `N`, `N` bytes of JSON (`{"NAME": {"dtype": ...,
//! "shape": [...], "data_offsets": [BEGIN, END]}, ..., "__metadata__": {"KEY": "VALUE"}}`), then the data;
//! offsets count from the first data byte. We check what the reference implementation checks (a header
//! of at most 100 MB, tensors that tile the data exactly, in offset order, each spanning exactly its
//! shape's bytes) and more: a name given twice is an error instead of the last one silently winning,
//! every size uses checked arithmetic, and the file's length is compared with the header's claims
//! before any data is read. Only the requested tensor's bytes are read (the rest is seeked over). Only
//! regular files are read: a FIFO, `/dev/stdin`, a device or a directory is refused before it is opened.

use crate::error::{CompressError, Result};
use crate::source::{Source, read_f32s};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

/// Longest header we read, in bytes (the format's own limit).
pub const MAX_HEADER_LEN: u64 = 100_000_000;
/// Most dimensions a tensor may have.
const MAX_NDIM: usize = 64;
/// Names an error lists at most.
const LIST_NAMES: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// One tensor of the header, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Byte range within the data section.
    pub begin: u64,
    pub end: u64,
}

struct Entries(Vec<(String, RawEntry)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to their dtype, shape and offsets")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !seen.insert(name.clone()) {
                        return Err(A::Error::custom(format!("'{name}' appears twice")));
                    }
                    if name == "__metadata__" {
                        map.next_value::<BTreeMap<String, String>>().map_err(|e| {
                            A::Error::custom(format!(
                                "__metadata__ must map strings to strings: {e}"
                            ))
                        })?;
                        continue;
                    }
                    let entry = map
                        .next_value::<RawEntry>()
                        .map_err(|e| A::Error::custom(format!("tensor '{name}': {e}")))?;
                    out.push((name, entry));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Bits per element of a safetensors dtype name, `None` for a name the format does not define.
fn dtype_bits(dtype: &str) -> Option<u32> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

fn list(names: &[&str]) -> String {
    let shown = names
        .iter()
        .take(LIST_NAMES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LIST_NAMES {
        format!("{shown}, ... ({} in all)", names.len())
    } else {
        shown
    }
}

/// Checks the header's entries; returns them in offset order and the data section's length.
fn check_entries(
    raw: Vec<(String, RawEntry)>,
) -> std::result::Result<(Vec<TensorInfo>, u64), String> {
    let mut infos = Vec::with_capacity(raw.len());
    for (name, e) in raw {
        let bits = dtype_bits(&e.dtype)
            .ok_or_else(|| format!("tensor '{name}' has unknown dtype '{}'", e.dtype))?;
        if e.shape.len() > MAX_NDIM {
            return Err(format!(
                "tensor '{name}' has {} dimensions (at most {MAX_NDIM})",
                e.shape.len()
            ));
        }
        let (begin, end) = e.data_offsets;
        let nbits = e
            .shape
            .iter()
            .try_fold(u128::from(bits), |p, &d| p.checked_mul(u128::from(d)));
        let span = end.checked_sub(begin).ok_or_else(|| {
            format!(
                "tensor '{name}' has data_offsets [{begin}, {end}], which end before they begin"
            )
        })?;
        match nbits {
            Some(b) if b % 8 != 0 => {
                return Err(format!(
                    "tensor '{name}': shape {:?} of {} is not a whole number of bytes",
                    e.shape, e.dtype
                ));
            }
            Some(b) if b / 8 == u128::from(span) => {}
            _ => {
                let need = nbits.map_or("more than 2^125".into(), |b| (b / 8).to_string());
                return Err(format!(
                    "tensor '{name}' has shape {:?} of {} ({need} bytes) but data_offsets \
                     [{begin}, {end}] span {span} bytes",
                    e.shape, e.dtype
                ));
            }
        }
        infos.push(TensorInfo {
            name,
            dtype: e.dtype,
            shape: e.shape,
            begin,
            end,
        });
    }
    infos.sort_by_key(|t| (t.begin, t.end));
    let mut at = 0u64;
    let mut prev: Option<&TensorInfo> = None;
    for t in &infos {
        if t.begin != at {
            let what = if t.begin < at {
                "overlaps"
            } else {
                "leaves a gap after"
            };
            return Err(match prev {
                Some(p) => format!(
                    "tensor '{}' (bytes {}..{}) {what} tensor '{}' (bytes {}..{})",
                    t.name, t.begin, t.end, p.name, p.begin, p.end
                ),
                None => format!(
                    "the data section does not start with a tensor: the first, '{}', begins at byte {}",
                    t.name, t.begin
                ),
            });
        }
        at = t.end;
        prev = Some(t);
    }
    Ok((infos, at))
}

/// Reads the header of a `.safetensors` source: the tensors in offset order.
fn read_header(src: &mut Source<'_>) -> Result<Vec<TensorInfo>> {
    let path = src.path().to_path_buf();
    let bad =
        |r: String| CompressError::bad_file(&path, format!("not a valid .safetensors file: {r}"));
    let lb = src.read_upto(8)?;
    let Ok(lb) = <[u8; 8]>::try_from(lb.as_slice()) else {
        return Err(bad(format!(
            "the file has {} bytes, fewer than the 8 of the header length",
            lb.len()
        )));
    };
    let n = u64::from_le_bytes(lb);
    if n > MAX_HEADER_LEN {
        return Err(bad(format!(
            "the header claims {n} bytes, over the format's {MAX_HEADER_LEN}-byte limit"
        )));
    }
    let rem = src.remaining();
    if n > rem {
        return Err(bad(format!(
            "the header claims {n} bytes but only {rem} follow the length field"
        )));
    }
    let header = src.read_upto(n)?;
    if (header.len() as u64) < n {
        return Err(bad(format!(
            "the header claims {n} bytes but the file ends after {}",
            header.len()
        )));
    }
    let Entries(raw) =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header JSON: {e}")))?;
    let (infos, data_len) = check_entries(raw).map_err(bad)?;
    let rem = src.remaining();
    if rem != data_len {
        return Err(bad(format!(
            "the header's tensors take {data_len} data bytes but the file has {rem} after its {}-byte header",
            8 + n
        )));
    }
    Ok(infos)
}

/// The names and layout of every tensor of a `.safetensors` file, in offset order (reads the header
/// only).
pub fn tensors(path: &Path) -> Result<Vec<TensorInfo>> {
    read_header(&mut Source::open(path, "a .safetensors file")?)
}

/// Reads the f32 tensor `name` (or the only tensor, when `name` is `None`) as (shape, data in C order).
pub fn read_f32(path: &Path, name: Option<&str>) -> Result<(Vec<usize>, Vec<f32>)> {
    read_f32_from(&mut Source::open(path, "a .safetensors file")?, name)
}

/// [`read_f32`] of a file's bytes already in memory; `label` names the file in errors.
pub fn read_f32_bytes(
    label: &Path,
    bytes: &[u8],
    name: Option<&str>,
) -> Result<(Vec<usize>, Vec<f32>)> {
    read_f32_from(&mut Source::bytes(label, bytes), name)
}

fn read_f32_from(src: &mut Source<'_>, name: Option<&str>) -> Result<(Vec<usize>, Vec<f32>)> {
    let infos = read_header(src)?;
    let path = src.path().to_path_buf();
    let bad = |r: String| CompressError::bad_file(&path, r);
    let mut names: Vec<&str> = infos.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    let t = match name {
        Some(n) => infos
            .iter()
            .find(|t| t.name == n)
            .ok_or_else(|| bad(format!("has no tensor '{n}' (tensors: {})", list(&names))))?,
        None if infos.len() == 1 => &infos[0],
        None => {
            return Err(bad(format!(
                "holds {} tensors; name one as FILE.safetensors:NAME (tensors: {})",
                infos.len(),
                list(&names)
            )));
        }
    };
    if t.dtype != "F32" {
        return Err(bad(format!(
            "tensor '{}' has dtype {}; expected F32",
            t.name, t.dtype
        )));
    }
    let (Ok(count), Ok(shape)) = (
        usize::try_from((t.end - t.begin) / 4),
        t.shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>(),
    ) else {
        return Err(bad(format!(
            "tensor '{}' of shape {:?} is too large for this machine's memory",
            t.name, t.shape
        )));
    };
    let short = |got: u64| {
        bad(format!(
            "the file ends inside tensor '{}' (bytes {}..{} of the data; {got} of its bytes arrived)",
            t.name, t.begin, t.end
        ))
    };
    if !src.skip(t.begin)? {
        return Err(short(0));
    }
    match read_f32s(src, count, false)? {
        Ok(data) => Ok((shape, data)),
        Err(got) => Err(short(got)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file image from a header text and data bytes.
    pub(crate) fn image(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn err(bytes: &[u8], name: Option<&str>) -> String {
        read_f32_bytes(Path::new("m.safetensors"), bytes, name)
            .map(|(s, _)| format!("{s:?}"))
            .unwrap_err()
            .to_string()
    }

    const TWO: &str = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"__metadata__":{"format":"pt"}}"#;

    fn data() -> Vec<u8> {
        [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    #[test]
    fn reads_the_named_tensor_only() {
        let b = image(TWO, &data());
        let p = Path::new("m.safetensors");
        assert_eq!(
            read_f32_bytes(p, &b, Some("a")).unwrap(),
            (vec![2], vec![1.0, 2.0])
        );
        assert_eq!(
            read_f32_bytes(p, &b, Some("b")).unwrap(),
            (vec![1, 1], vec![3.0])
        );
        assert!(err(&b, None).contains("holds 2 tensors"));
        assert!(err(&b, Some("c")).contains("has no tensor 'c' (tensors: a, b)"));
        // Padding with spaces after the JSON is allowed by the format.
        let padded = image(&format!("{TWO}   "), &data());
        assert!(read_f32_bytes(p, &padded, Some("b")).is_ok());
    }

    #[test]
    fn headers_that_lie_are_refused() {
        let d = data();
        let cases: [(&str, &[u8], &str); 11] = [
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,12]}}"#,
                &d,
                "(73786976294838206464 bytes) but data_offsets [0, 12] span 12",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[12,0]}}"#,
                &d,
                "end before they begin",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#,
                &d,
                "'a' appears twice",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &d,
                "overlaps tensor 'a'",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                &d,
                "leaves a gap after tensor 'a'",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &d,
                "does not start with a tensor",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &d,
                "take 8 data bytes but the file has 12",
            ),
            (
                r#"{"a":{"dtype":"Q7","shape":[3],"data_offsets":[0,12]}}"#,
                &d,
                "unknown dtype 'Q7'",
            ),
            (
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
                &d[..2],
                "not a whole number of bytes",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}}"#,
                &d,
                "tensor 'a'",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12],"extra":1}}"#,
                &d,
                "unknown field",
            ),
        ];
        for (h, data, needle) in cases {
            let e = err(&image(h, data), Some("a"));
            assert!(
                e.contains("m.safetensors") && e.contains(needle),
                "{h}: {e}"
            );
        }
        let mut b = image(TWO, &d);
        b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&b, None).contains("over the format's 100000000-byte limit"));
        b[..8].copy_from_slice(&99_999_999u64.to_le_bytes());
        assert!(err(&b, None).contains("claims 99999999 bytes but only"));
        assert!(err(&b[..5], None).contains("fewer than the 8"));
        let e = err(
            &image(
                r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            None,
        );
        assert!(e.contains("tensor 'a' has dtype F64; expected F32"), "{e}");
        let e = err(&image(r#"{"__metadata__":{"k":1}}"#, &[]), None);
        assert!(e.contains("__metadata__"), "{e}");
        let e = err(
            &image(
                &format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
                &[],
            ),
            None,
        );
        assert!(e.contains("header JSON"), "{e}");
    }

    #[test]
    fn many_names_are_listed_briefly() {
        let mut h = String::from("{");
        for i in 0..100 {
            h.push_str(&format!(
                r#""t{i:03}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}},"#
            ));
        }
        h.pop();
        h.push('}');
        let e = err(&image(&h, &[]), None);
        assert!(
            e.contains("holds 100 tensors") && e.contains("t019, ... (100 in all)"),
            "{e}"
        );
        assert_eq!(
            read_f32_bytes(Path::new("m"), &image(&h, &[]), Some("t042")).unwrap(),
            (vec![0], vec![])
        );
    }
}
