//! Reading f32 arrays from, and writing arrays to, NumPy `.npy` files (format versions 1.0-3.0).
//!
//! Our own small reader so that every failure names the file and says what is wrong in numpy's terms
//! (dtype, rank, shape), and a writer for `eie export`.

use crate::error::{CompressError, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// An f32 array read from a file, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct F32Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

fn dtype_name(descr: &str) -> &'static str {
    match &descr[descr.len().saturating_sub(2)..] {
        "f4" => "float32",
        "f8" => "float64",
        "f2" => "float16",
        "i1" | "i2" | "i4" | "i8" => "a signed integer type",
        "u1" | "u2" | "u4" | "u8" => "an unsigned integer type",
        "b1" => "bool",
        _ => "an unsupported type",
    }
}

fn parse_header(path: &Path, text: &str) -> Result<Header> {
    let bad = |r: String| CompressError::bad_file(path, format!("not a valid .npy file: {r}"));
    let value_after = |key: &str| -> Result<&str> {
        let k = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| bad(format!("header has no '{key}'")))?;
        let rest = &text[k + key.len() + 2..];
        let colon = rest
            .find(':')
            .ok_or_else(|| bad(format!("no ':' after '{key}'")))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let d = value_after("descr")?;
    let quote = d
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| bad("descr is not a string".into()))?;
    let end = d[1..]
        .find(quote)
        .ok_or_else(|| bad("unterminated descr".into()))?;
    let descr = d[1..1 + end].to_string();
    let f = value_after("fortran_order")?;
    let fortran_order = if f.starts_with("True") {
        true
    } else if f.starts_with("False") {
        false
    } else {
        return Err(bad("fortran_order is neither True nor False".into()));
    };
    let s = value_after("shape")?;
    let close = s
        .find(')')
        .filter(|_| s.starts_with('('))
        .ok_or_else(|| bad("shape is not a tuple".into()))?;
    let shape = s[1..close]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry '{t}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

/// Reads a float32 `.npy` file (either byte order, C or Fortran order; returned in C order).
pub fn read_f32(path: &Path) -> Result<F32Array> {
    let bytes = std::fs::read(path).map_err(|e| CompressError::io(path, "reading", e))?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(CompressError::bad_file(
            path,
            "not a .npy file (no \\x93NUMPY magic)",
        ));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => {
            return Err(CompressError::bad_file(
                path,
                format!("unsupported .npy format version {v}"),
            ));
        }
    };
    let header_bytes = bytes
        .get(start..start + header_len)
        .ok_or_else(|| CompressError::bad_file(path, "truncated .npy header"))?;
    let text = String::from_utf8_lossy(header_bytes);
    let h = parse_header(path, &text)?;
    let big_endian = match h.descr.as_str() {
        "<f4" | "=f4" => false,
        ">f4" => true,
        other => {
            return Err(CompressError::bad_file(
                path,
                format!(
                    "dtype is '{other}' ({}); expected float32 ('<f4'): convert with arr.astype(np.float32)",
                    dtype_name(other)
                ),
            ));
        }
    };
    let count: usize = h.shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != count * 4 {
        return Err(CompressError::bad_file(
            path,
            format!(
                "shape {:?} needs {} data bytes but the file has {}",
                h.shape,
                count * 4,
                body.len()
            ),
        ));
    }
    let mut data: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            if big_endian {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            }
        })
        .collect();
    if h.fortran_order && h.shape.len() >= 2 {
        data = fortran_to_c(&data, &h.shape);
    }
    Ok(F32Array {
        shape: h.shape,
        data,
    })
}

fn fortran_to_c(data: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = data.len();
    let mut out = vec![0.0f32; n];
    let mut idx = vec![0usize; shape.len()];
    for slot in out.iter_mut() {
        // Fortran position of the multi-index `idx` (first index fastest).
        let mut f_pos = 0;
        for d in (0..shape.len()).rev() {
            f_pos = f_pos * shape[d] + idx[d];
        }
        *slot = data[f_pos];
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// An element type `eie export` writes.
pub trait NpyElement: Copy {
    /// numpy's dtype descriptor.
    const DESCR: &'static str;
    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($($t:ty => $d:literal),*) => {$(
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
npy_element!(u8 => "|u1", i16 => "<i2", u16 => "<u2", i32 => "<i4", u32 => "<u4", i64 => "<i8", f32 => "<f4", f64 => "<f8");

/// Writes `data` (C order) with `shape` as a version-1.0 `.npy` file.
pub fn write<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy shape and data length"
    );
    let shape_text = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        T::DESCR
    );
    // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + std::mem::size_of_val(data));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &x in data {
        x.put(&mut out);
    }
    std::fs::write(path, out).map_err(|e| CompressError::io(path, "writing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write(&p, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, -6.5]).unwrap();
        let a = read_f32(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 6 * 4) % 64, 0);
    }

    #[test]
    fn fortran_order_is_transposed_to_c() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.npy");
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        // Column-major [[1,2,3],[4,5,6]] is 1,4,2,5,3,6.
        for v in [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(
            read_f32(&p).unwrap().data,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.npy");
        write(&p, &[2], &[1.0f64, 2.0]).unwrap();
        let e = read_f32(&p).unwrap_err().to_string();
        assert!(
            e.contains("w.npy") && e.contains("float64") && e.contains("<f8"),
            "{e}"
        );
        std::fs::write(&p, b"hello").unwrap();
        assert!(
            read_f32(&p)
                .unwrap_err()
                .to_string()
                .contains("not a .npy file")
        );
        let missing = dir.path().join("missing.npy");
        assert!(
            read_f32(&missing)
                .unwrap_err()
                .to_string()
                .contains("missing.npy")
        );
        write(&p, &[4], &[1.0f32; 4]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.truncate(bytes.len() - 4);
        std::fs::write(&p, bytes).unwrap();
        assert!(
            read_f32(&p)
                .unwrap_err()
                .to_string()
                .contains("needs 16 data bytes")
        );
    }
}
