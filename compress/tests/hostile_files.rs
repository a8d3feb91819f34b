//! Hostile `.npy` and `.safetensors` files: arbitrary bytes, and valid small files with bytes flipped,
//! inserted, deleted or overwritten. The readers never panic; they return the array, whose length then
//! matches its shape, or an error that names the file.

use eie_compress::load::load_dense;
use eie_compress::{LoadRequest, TensorSource, npy, safetensors_file};
use proptest::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use std::path::Path;

/// A valid `.npy` image: any float32 spelling, either byte order, C or Fortran order, version 1-3.
fn npy_image(shape: &[usize], descr: &str, fortran: bool, version: u8, values: &[f32]) -> Vec<u8> {
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
    let fortran = if fortran { "True" } else { "False" };
    let header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}\n");
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    for v in values {
        if descr.starts_with('>') {
            b.extend_from_slice(&v.to_be_bytes());
        } else {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b
}

fn valid_npy() -> impl Strategy<Value = (Vec<usize>, Vec<u8>)> {
    (
        proptest::collection::vec(0usize..4, 0..4),
        prop::sample::select(vec!["<f4", ">f4", "<f8", "|u1", "<i4"]),
        any::<bool>(),
        1u8..=3,
    )
        .prop_map(|(shape, descr, fortran, version)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| i as f32 - 1.5).collect();
            let b = npy_image(&shape, descr, fortran, version, &values);
            (shape, b)
        })
}

fn valid_safetensors() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(0usize..4, 0..3),
            prop::sample::select(vec![Dtype::F32, Dtype::F64, Dtype::U8, Dtype::BF16]),
        ),
        0..4,
    )
    .prop_map(|tensors| {
        let data: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
            .into_iter()
            .enumerate()
            .map(|(i, (shape, dtype))| {
                let n: usize = shape.iter().product::<usize>() * dtype.bitsize() / 8;
                let bytes = (0..n).map(|k| (k * 37 + i) as u8).collect();
                (format!("t{i}"), shape, dtype, bytes)
            })
            .collect();
        let views: Vec<(String, TensorView)> = data
            .iter()
            .map(|(name, shape, dtype, bytes)| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        serialize(views, None).unwrap()
    })
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(
        prop_oneof![
            (any::<usize>(), 1u8..).prop_map(|(i, m)| Edit::Flip(i, m)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Truncate),
        ],
        1..5,
    )
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = b.len();
        match *e {
            Edit::Flip(i, m) if n > 0 => b[i % n] ^= m,
            Edit::Set(i, v) if n > 0 => b[i % n] = v,
            Edit::Insert(i, v) => b.insert(i % (n + 1), v),
            Edit::Delete(i) if n > 0 => {
                b.remove(i % n);
            }
            Edit::Truncate(i) => b.truncate(i % (n + 1)),
            _ => {}
        }
    }
    b
}

/// Elements of a shape (0 when any dimension is 0, whatever the others), `None` past `usize`.
fn elements(shape: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
}

fn check_npy(bytes: &[u8]) -> Result<(), TestCaseError> {
    match npy::read_f32_bytes(Path::new("fuzz.npy"), bytes) {
        Ok(a) => {
            prop_assert_eq!(elements(&a.shape), Some(a.data.len()));
        }
        Err(e) => prop_assert!(e.to_string().starts_with("fuzz.npy"), "{}", e),
    }
    Ok(())
}

fn check_safetensors(bytes: &[u8]) -> Result<(), TestCaseError> {
    for name in [None, Some("t0"), Some("t1"), Some("t2")] {
        match safetensors_file::read_f32_bytes(Path::new("fuzz.safetensors"), bytes, name) {
            Ok((shape, data)) => {
                prop_assert_eq!(elements(&shape), Some(data.len()));
            }
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.safetensors"), "{}", e),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn npy_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_npy(&bytes)?;
        // The same bytes behind a valid preamble reach the header parser.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        b.extend_from_slice(&bytes);
        check_npy(&b)?;
    }

    /// Header texts made of the grammar's own tokens, in any order.
    #[test]
    fn npy_token_soup(tokens in proptest::collection::vec(prop::sample::select(vec![
        "{", "}", "(", ")", ",", ":", " ", "\n", "'descr'", "'fortran_order'", "'shape'", "'<f4'",
        "\"<f4\"", "True", "False", "3", "0", "18446744073709551615", "4294967296", "-1", "1_0",
        "2L", "'", "\"", "[", "#", "\\", "€", "\u{0}",
    ]), 0..40)) {
        let header: String = tokens.concat();
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&[0; 48]);
        check_npy(&b)?;
    }

    #[test]
    fn npy_mutated_valid_files((shape, bytes) in valid_npy(), edits in edits()) {
        // Unmutated: float32 reads back with its shape; other dtypes are refused.
        match npy::read_f32_bytes(Path::new("ok.npy"), &bytes) {
            Ok(a) => prop_assert_eq!(a.shape, shape),
            Err(e) => prop_assert!(e.to_string().contains("dtype is"), "{}", e),
        }
        check_npy(&apply(bytes, &edits))?;
    }

    #[test]
    fn safetensors_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_safetensors(&bytes)?;
        let mut b = (bytes.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&bytes);
        check_safetensors(&b)?;
    }

    #[test]
    fn safetensors_mutated_valid_files(bytes in valid_safetensors(), edits in edits()) {
        check_safetensors(&bytes)?;
        check_safetensors(&apply(bytes, &edits))?;
    }
}

proptest! {
    // Through real files (the seek path), fewer cases: each writes a temporary file.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_on_disk(
        (_, npy_bytes) in valid_npy(),
        st_bytes in valid_safetensors(),
        edits in edits(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.npy");
        std::fs::write(&p, apply(npy_bytes, &edits)).unwrap();
        let req = |w: &Path| LoadRequest {
            name: None,
            weights: TensorSource::parse(w.to_str().unwrap()),
            bias: None,
            input: None,
            relu: true,
            act_density: 1.0,
        };
        if let Err(e) = load_dense(&req(&p)) {
            prop_assert!(e.to_string().contains("w.npy"), "{}", e);
        }
        let s = dir.path().join("m.safetensors");
        std::fs::write(&s, apply(st_bytes, &edits)).unwrap();
        for name in ["", ":t0", ":t1"] {
            let w = dir.path().join(format!("m.safetensors{name}"));
            if let Err(e) = load_dense(&req(&w)) {
                prop_assert!(e.to_string().contains("m.safetensors"), "{}", e);
            }
        }
    }
}

/// A loaded layer's weights path that is a directory is named as one.
#[test]
fn a_directory_is_not_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["w.npy", "m.safetensors"] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        let e = load_dense(&LoadRequest {
            name: None,
            weights: TensorSource::parse(d.to_str().unwrap()),
            bias: None,
            input: None,
            relu: true,
            act_density: 1.0,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(name) && e.contains("is a directory"), "{e}");
    }
}

/// Runs `f` on a detached thread and waits at most 5 s for it: a reader that regresses into opening a
/// FIFO blocks forever, and must fail the test rather than hang the suite.
#[cfg(unix)]
fn within_5s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what}: no answer within 5 s (blocked opening a FIFO?)"))
}

/// The FIFOs given as `--weights`, `--bias`, `--input` (`.npy` or `.safetensors`) blocked
/// forever in `open`; every reader now refuses them by type, before opening, naming the path.
#[cfg(unix)]
#[test]
fn fifos_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |name: &str| {
        let p = dir.path().join(name);
        let made = std::process::Command::new("mkfifo").arg(&p).status();
        made.is_ok_and(|s| s.success()).then_some(p)
    };
    let (Some(npy_fifo), Some(st_fifo)) = (mk("f.npy"), mk("f.safetensors")) else {
        eprintln!("SKIP: mkfifo is not available");
        return;
    };
    let w = dir.path().join("w.npy");
    npy::write(&w, &[2, 3], &[1.0f32, 0.0, 2.0, 0.0, 3.0, 0.0]).unwrap();
    let fifo_words = "not a regular file (a FIFO (named pipe)); give a";
    let (a, b) = (npy_fifo.clone(), st_fifo.clone());
    let errors = within_5s("the readers", move || {
        let dense = |weights: &Path, bias: Option<&Path>, input: Option<&Path>| {
            let src = |p: &Path| TensorSource::parse(p.to_str().unwrap());
            load_dense(&LoadRequest {
                name: None,
                weights: src(weights),
                bias: bias.map(src),
                input: input.map(src),
                relu: true,
                act_density: 1.0,
            })
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        vec![
            npy::read_f32(&a).unwrap_err().to_string(),
            safetensors_file::read_f32(&b, None)
                .unwrap_err()
                .to_string(),
            safetensors_file::tensors(&b).unwrap_err().to_string(),
            dense(&a, None, None),
            dense(&b, None, None),
            dense(&w, Some(&a), None),
            dense(&w, None, Some(&a)),
            dense(&w, None, Some(&b)),
        ]
    });
    for e in &errors {
        assert!(
            (e.contains("f.npy") || e.contains("f.safetensors")) && e.contains(fifo_words),
            "{e}"
        );
    }
    assert!(errors[0].contains("give a .npy file"), "{}", errors[0]);
    assert!(
        errors[1].contains("give a .safetensors file"),
        "{}",
        errors[1]
    );
}

/// Devices are refused too: `/dev/null` (an empty stream) and `/dev/zero` (an endless one).
#[cfg(unix)]
#[test]
fn devices_are_refused() {
    for dev in ["/dev/null", "/dev/zero"] {
        let p = Path::new(dev);
        if !p.exists() {
            continue;
        }
        for e in [
            npy::read_f32(p).unwrap_err().to_string(),
            safetensors_file::read_f32(p, None).unwrap_err().to_string(),
        ] {
            assert!(
                e.contains(dev) && e.contains("not a regular file (a character device)"),
                "{e}"
            );
        }
    }
}
