//! Tiny files that claim huge arrays: the error comes back at once, names the claim and the real size,
//! and the reader allocates almost nothing (a counting allocator measures it; this file holds one test,
//! so nothing else allocates meanwhile).

use eie_compress::{npy, safetensors_file};
mod counting;
use counting::peak_of;

fn npy_file(shape: &str) -> Vec<u8> {
    let mut h =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    h.resize(117, b' ');
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(&h);
    b
}

#[test]
fn huge_claims_fail_fast_without_allocating() {
    const BUDGET: usize = 256 * 1024;
    let dir = tempfile::tempdir().unwrap();
    for (shape, claim) in [
        (
            "(4294967296, 4294967296)",
            "73786976294838206464 data bytes",
        ),
        (
            "(2147483648, 2147483648)",
            "18446744073709551616 data bytes",
        ),
        (
            "(4611686018427387904, 4)",
            "73786976294838206464 data bytes",
        ),
        ("(1000000000, 4)", "16000000000 data bytes"),
    ] {
        let p = dir.path().join("huge.npy");
        let bytes = npy_file(shape);
        assert_eq!(bytes.len(), 128);
        std::fs::write(&p, &bytes).unwrap();
        let t = std::time::Instant::now();
        let (r, peak) = peak_of(|| npy::read_f32(&p));
        let e = r.unwrap_err().to_string();
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert!(
            e.contains("huge.npy")
                && e.contains(shape)
                && e.contains(claim)
                && e.contains("the file has 0 after its 128-byte header"),
            "{e}"
        );
        assert!(peak < BUDGET, "{shape}: {peak} bytes allocated");
    }

    let header = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,73786976294838206464]}}"#;
    let fits = r#"{"w":{"dtype":"F32","shape":[1000000000,4],"data_offsets":[0,16000000000]}}"#;
    for (h, needle) in [
        (header, "header JSON"),
        (fits, "take 16000000000 data bytes but the file has 0"),
    ] {
        let p = dir.path().join("huge.safetensors");
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(h.as_bytes());
        std::fs::write(&p, &b).unwrap();
        let (r, peak) = peak_of(|| safetensors_file::read_f32(&p, None));
        let e = r.unwrap_err().to_string();
        assert!(e.contains("huge.safetensors") && e.contains(needle), "{e}");
        assert!(peak < BUDGET, "{h}: {peak} bytes allocated");
    }
}
