//! EIE encodings whose per-PE column pointers would be huge (PEs x columns) are refused up front, at
//! once and with almost no memory (a counting allocator measures it; this file holds one test, so
//! nothing else allocates meanwhile).

use eie_compress::eie::{MAX_POINTER_BYTES, pointer_bytes};
use eie_compress::{EieEncoding, SparseCodes};
mod counting;
use counting::peak_of;

/// One row, `cols` columns, a single non-zero: a few bytes of matrix.
fn row(cols: usize) -> SparseCodes {
    SparseCodes::new(1, cols, vec![0, 1], vec![0], vec![1]).unwrap()
}

/// The cases: (1, 1,000,000) at 1024 PEs took 36 s and 4 GB, (1, 2,000,000) at 1024 PEs
/// aborted, (1, 12,000,000) at 64 PEs took 3.5 GB.
#[test]
fn pes_times_columns_is_refused_up_front() {
    const BUDGET: usize = 1 << 20;
    for (cols, pes, gib) in [
        (1_000_000, 1024, "3.8 GiB"),
        (2_000_000, 1024, "7.6 GiB"),
        (12_000_000, 64, "2.9 GiB"),
    ] {
        let m = row(cols);
        let t = std::time::Instant::now();
        let (r, peak) = peak_of(|| EieEncoding::encode(&m, pes, 4, 4));
        let e = r.unwrap_err().to_string();
        assert!(t.elapsed().as_secs_f64() < 1.0, "{pes} x {cols}");
        assert!(
            e.contains(&format!("{pes} PEs on {cols} columns need {gib}"))
                && e.contains("over the 1 GiB limit; use fewer --pes"),
            "{e}"
        );
        assert!(peak < BUDGET, "{pes} x {cols}: {peak} bytes allocated");
    }
    // The limit is exact: 1024 PEs on `at` columns need exactly 1 GiB (allowed, not encoded here to
    // keep the test light); one column more is refused.
    let at = (MAX_POINTER_BYTES / 4 / 1024 - 1) as usize;
    assert_eq!(pointer_bytes(1024, at), Some(MAX_POINTER_BYTES));
    let (r, peak) = peak_of(|| EieEncoding::encode(&row(at + 1), 1024, 4, 4));
    assert!(r.is_err() && peak < BUDGET);
    assert!(EieEncoding::encode(&row(1000), 1024, 4, 4).is_ok());
    assert_eq!(pointer_bytes(usize::MAX, usize::MAX), None);
    assert_eq!(pointer_bytes(2, usize::MAX), None);
}
