//! Reading f32 arrays from, and writing arrays to, NumPy `.npy` files (format versions 1.0-3.0).
//!
//! Our own small reader so that every failure names the file and says what is wrong in numpy's terms
//! (dtype, rank, shape), and a writer for `eie export`.

use crate::error::{CompressError, Result};
use crate::npy_header::{self, show};
use crate::source::{Source, read_f32s};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Longest header we read, in bytes. numpy writes headers of well under 200 bytes for plain arrays and,
/// by default, refuses to read headers over 10,000 bytes; versions 2.0 and 3.0 could claim 4 GiB.
pub const MAX_HEADER_LEN: u64 = 1 << 20;

/// An f32 array read from a file, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct F32Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The byte order of a float32 dtype string, or `None` for any other dtype.
///
/// numpy reads `'<f4'` as little-endian and `'>f4'` as big-endian (which we convert); `'=f4'`, `'|f4'`
/// and `'f4'` (and the same with `f` or `float32`) as the byte order of the machine reading them,
/// which is what we do too.
fn float32_big_endian(descr: &[u8]) -> Option<bool> {
    let native_big = cfg!(target_endian = "big");
    let (big, code) = match descr.split_first() {
        Some((b'<', rest)) => (false, rest),
        Some((b'>', rest)) => (true, rest),
        Some((b'=' | b'|', rest)) => (native_big, rest),
        _ => (native_big, descr),
    };
    matches!(code, b"f4" | b"f" | b"float32").then_some(big)
}

fn dtype_name(descr: &[u8]) -> &'static str {
    let code = match descr.split_first() {
        Some((b'<' | b'>' | b'=' | b'|', rest)) => rest,
        _ => descr,
    };
    match code {
        b"f8" | b"d" | b"float64" => "float64",
        b"f2" | b"e" | b"float16" => "float16",
        b"f16" | b"g" | b"f12" => "long double",
        b"c8" | b"c16" | b"c32" | b"F" | b"D" => "a complex type",
        b"i1" | b"i2" | b"i4" | b"i8" | b"b" | b"h" | b"i" | b"l" | b"q" => "a signed integer type",
        b"u1" | b"u2" | b"u4" | b"u8" | b"B" | b"H" | b"I" | b"L" | b"Q" => {
            "an unsigned integer type"
        }
        b"b1" | b"?" => "bool",
        b"O" => "Python objects",
        _ if code.first().is_some_and(|c| b"SUVaMm".contains(c)) => "a string, bytes or date type",
        _ => "not a dtype we know",
    }
}

/// A shape as numpy prints it: `()`, `(5,)`, `(2, 3)`.
fn shape_text(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads a float32 `.npy` file (either byte order, C or Fortran order; returned in C order).
///
/// Hostile files get an error, never a panic or a large allocation: every size is computed with checked
/// arithmetic, and the file's real length is compared with what the header claims before the data is
/// allocated. Only regular files are read: a FIFO, `/dev/stdin`, a device or a directory is refused
/// before it is opened (a stream has no length to check, and opening a FIFO can block forever).
pub fn read_f32(path: &Path) -> Result<F32Array> {
    read_f32_from(&mut Source::open(path, "a .npy file")?)
}

/// [`read_f32`] of a file's bytes already in memory; `name` labels the errors.
pub fn read_f32_bytes(name: &Path, bytes: &[u8]) -> Result<F32Array> {
    read_f32_from(&mut Source::bytes(name, bytes))
}

fn read_f32_from(src: &mut Source<'_>) -> Result<F32Array> {
    let path = src.path().to_path_buf();
    let bad = |r: String| CompressError::bad_file(&path, r);
    let pre = src.read_upto(8)?;
    if pre.len() < 8 || &pre[..6] != MAGIC {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let len_bytes = match (pre[6], pre[7]) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (major, minor) => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} (numpy writes 1.0, 2.0 and 3.0)"
            )));
        }
    };
    let lb = src.read_upto(len_bytes)?;
    if lb.len() < len_bytes as usize {
        return Err(bad(
            "truncated .npy header: the file ends inside the header-length field".into(),
        ));
    }
    let header_len = lb.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "the .npy header claims {header_len} bytes, over the {MAX_HEADER_LEN}-byte limit"
        )));
    }
    let rem = src.remaining();
    if header_len > rem {
        return Err(bad(format!(
            "truncated .npy header: it claims {header_len} bytes but only {rem} follow"
        )));
    }
    let header = src.read_upto(header_len)?;
    if (header.len() as u64) < header_len {
        return Err(bad(format!(
            "truncated .npy header: it claims {header_len} bytes but the file ends after {}",
            header.len()
        )));
    }
    if pre[6] == 3 && std::str::from_utf8(&header).is_err() {
        return Err(bad("the version-3.0 .npy header is not UTF-8".into()));
    }
    let h = npy_header::parse(&header)
        .map_err(|r| bad(format!("not a valid .npy file: header: {r}")))?;
    let Some(big_endian) = float32_big_endian(&h.descr) else {
        return Err(bad(format!(
            "dtype is '{}' ({}); expected float32 ('<f4'): convert with arr.astype(np.float32)",
            show(&h.descr),
            dtype_name(&h.descr)
        )));
    };
    let shape_s = shape_text(&h.shape);
    // The claim, exactly (u128 holds 64 dimensions' worth of u64 products only up to a point; beyond
    // it the claim is simply "more than 2^128").
    let claimed = h
        .shape
        .iter()
        .try_fold(1u128, |p, &d| p.checked_mul(u128::from(d)));
    let claimed_bytes = claimed.and_then(|c| c.checked_mul(4));
    let start = src.pos();
    let describe = |have: String| {
        let need = match (claimed, claimed_bytes) {
            (Some(c), Some(b)) => format!("{b} data bytes ({c} float32 values)"),
            _ => "more than 2^128 data bytes".to_string(),
        };
        bad(format!(
            "shape {shape_s} needs {need} but the file has {have} after its {start}-byte header"
        ))
    };
    let need = claimed_bytes.and_then(|b| u64::try_from(b).ok());
    let rem = src.remaining();
    if need != Some(rem) {
        return Err(describe(format!("{rem}")));
    }
    let (Some(count), Ok(shape)) = (
        claimed.and_then(|c| usize::try_from(c).ok()),
        h.shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>(),
    ) else {
        return Err(bad(format!(
            "shape {shape_s} is too large for this machine's memory"
        )));
    };
    let mut data = match read_f32s(src, count, big_endian)? {
        Ok(d) => d,
        Err(got) => return Err(describe(format!("only {got}"))),
    };
    if h.fortran_order && shape.len() >= 2 {
        data = fortran_to_c(&data, &shape);
    }
    Ok(F32Array { shape, data })
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

/// Writes `data` (C order) with `shape` as a version-1.0 `.npy` file (2.0 where the header outgrows
/// 1.0's 16-bit length).
pub fn write<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    assert_eq!(
        shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)),
        Some(data.len()),
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
    match u16::try_from(header.len()) {
        Ok(n) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&n.to_le_bytes());
        }
        // Only a shape of thousands of dimensions needs it; alignment is then not kept.
        Err(_) => {
            let n = u32::try_from(header.len()).expect("a header of one line per dimension");
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
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

    /// A file image: magic, version, length field, header, data.
    fn image(version: u8, header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[version, 0]);
        if version == 1 {
            b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(header);
        b.extend_from_slice(data);
        b
    }

    fn header(descr: &str, shape: &str) -> Vec<u8> {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n").into_bytes()
    }

    fn err(bytes: &[u8]) -> String {
        read_f32_bytes(Path::new("x.npy"), bytes)
            .map(|a| format!("{:?}", a.shape))
            .unwrap_err()
            .to_string()
    }

    /// The shapes: their byte counts wrap a 64-bit product. A 128-byte file must get a clear
    /// error naming the claim and the real size, before any allocation.
    #[test]
    fn shapes_whose_size_overflows_are_refused_before_allocating() {
        for (shape, needle) in [
            (
                "(4294967296, 4294967296)",
                "73786976294838206464 data bytes (18446744073709551616 float32 values)",
            ),
            (
                "(2147483648, 2147483648)",
                "18446744073709551616 data bytes (4611686018427387904 float32 values)",
            ),
            (
                "(4611686018427387904, 4)",
                "73786976294838206464 data bytes (18446744073709551616 float32 values)",
            ),
            (
                "(4294967296, 4294967296, 4294967296, 4294967296, 4294967296)",
                "more than 2^128 data bytes",
            ),
            ("(1099511627776,)", "4398046511104 data bytes"),
        ] {
            let mut h = header("<f4", shape);
            h.resize(117, b' ');
            h.push(b'\n');
            let bytes = image(1, &h, &[]);
            assert_eq!(bytes.len(), 128);
            let t = std::time::Instant::now();
            let e = err(&bytes);
            assert!(t.elapsed().as_secs_f64() < 1.0);
            assert!(
                e.contains("x.npy") && e.contains(shape) && e.contains(needle),
                "{e}"
            );
            assert!(e.contains("has 0 after its 128-byte header"), "{e}");
        }
    }

    #[test]
    fn float32_spellings_and_byte_orders() {
        let le: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let be: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let native = if cfg!(target_endian = "big") {
            &be
        } else {
            &le
        };
        for (descr, data) in [
            ("<f4", &le),
            (">f4", &be),
            ("=f4", native),
            ("|f4", native),
            ("f4", native),
            ("<f", &le),
            ("float32", native),
        ] {
            for version in [1, 2, 3] {
                let a = read_f32_bytes(
                    Path::new("x.npy"),
                    &image(version, &header(descr, "(2,)"), data),
                )
                .unwrap_or_else(|e| panic!("{descr}: {e}"));
                assert_eq!(a.data, vec![1.5, -2.0], "{descr}");
            }
        }
        for (descr, name) in [
            ("<f8", "float64"),
            ("<f2", "float16"),
            ("|u1", "unsigned"),
            ("<i8", "signed"),
            ("|b1", "bool"),
            ("<U3", "string"),
            ("|O", "objects"),
            ("€", "not a dtype we know"),
            ("", "not a dtype we know"),
        ] {
            let e = err(&image(1, &header(descr, "(2,)"), &le));
            assert!(
                e.contains(&format!("dtype is '{descr}'")) && e.contains(name),
                "{e}"
            );
        }
        // The same non-ASCII dtype in a latin-1 (version 1.0) header that is not UTF-8.
        let mut h = b"{'descr': '\x80\xff', 'fortran_order': False, 'shape': (2,)}".to_vec();
        h.push(b'\n');
        assert!(err(&image(1, &h, &le)).contains("not a dtype we know"));
        assert!(err(&image(3, &h, &le)).contains("not UTF-8"));
    }

    #[test]
    fn headers_that_lie_or_break_the_format() {
        let data = [0u8; 8];
        let ok = header("<f4", "(2,)");
        // Each truncation of a valid file is an error, never a panic.
        let full = image(1, &ok, &data);
        for cut in 0..full.len() {
            assert!(read_f32_bytes(Path::new("t.npy"), &full[..cut]).is_err());
        }
        // A trailing byte after the data.
        let mut long = full.clone();
        long.push(0);
        assert!(err(&long).contains("needs 8 data bytes (2 float32 values) but the file has 9"));
        // Header lengths beyond the file, beyond the cap, versions numpy never wrote.
        let mut b = image(1, &ok, &data);
        b[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(err(&b).contains("claims 65535 bytes but only"));
        let mut b = image(2, &ok, &data);
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&b).contains("over the 1048576-byte limit"));
        let mut b = image(1, &ok, &data);
        b[6] = 4;
        assert!(err(&b).contains("version 4.0"));
        b[6] = 1;
        b[7] = 1;
        assert!(err(&b).contains("version 1.1"));
        // The smuggled shape: an extra key is refused, not searched for a shape.
        let h = b"{'descr': '<f4', 'x': \"'shape': (1920, 1)\", 'fortran_order': False, 'shape': (2,)}\n";
        assert!(err(&image(1, h, &data)).contains("unexpected key 'x'"));
        let h =
            b"{'descr': \"<f4', 'shape': (1920, 1), '\", 'fortran_order': False, 'shape': (2,)}\n";
        assert!(err(&image(1, h, &data)).contains("dtype is"));
        // A 0-D array and an empty one are valid files.
        let a = read_f32_bytes(
            Path::new("s.npy"),
            &image(1, &header("<f4", "()"), &data[..4]),
        )
        .unwrap();
        assert_eq!((a.shape, a.data), (vec![], vec![0.0]));
        let a = read_f32_bytes(
            Path::new("e.npy"),
            &image(1, &header("<f4", "(0, 18446744073709551615)"), &[]),
        )
        .unwrap();
        assert_eq!(a.shape, vec![0, usize::MAX]);
    }

    #[test]
    fn directories_and_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("weights.npy");
        std::fs::create_dir(&d).unwrap();
        let e = read_f32(&d).unwrap_err().to_string();
        assert!(
            e.contains("weights.npy: is a directory, not a .npy file"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let zero = Path::new("/dev/zero");
            if zero.exists() {
                let e = read_f32(zero).unwrap_err().to_string();
                assert!(
                    e.contains(
                        "/dev/zero: not a regular file (a character device); give a .npy file"
                    ),
                    "{e}"
                );
            }
        }
    }

    /// The FIFO blocked in `open` (no writer), and a pipe claiming a huge shape was read without
    /// limit: a FIFO is refused by its type, before it is opened, even while a writer waits on it.
    #[cfg(unix)]
    #[test]
    fn fifos_are_refused_before_opening() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.npy");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIP: mkfifo is not available");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let f = fifo.clone();
        // Detached: should the refusal regress into a blocking open, the test fails instead of hanging.
        std::thread::spawn(move || {
            let _ = tx.send(read_f32(&f).map(|a| a.shape).map_err(|e| e.to_string()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO must be refused at once, not block");
        let e = got.unwrap_err();
        assert!(
            e.contains("p.npy: not a regular file (a FIFO (named pipe)); give a .npy file"),
            "{e}"
        );
    }
}
