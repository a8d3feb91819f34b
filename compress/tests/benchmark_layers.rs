//! The nine Table III layers: densities, exact encodings, views and the fixed-point reference.

use eie_compress::{CompressOptions, CompressedLayer, benchmark_layers, build_layer};
use std::sync::OnceLock;

fn layers() -> &'static [CompressedLayer] {
    static LAYERS: OnceLock<Vec<CompressedLayer>> = OnceLock::new();
    LAYERS.get_or_init(|| {
        benchmark_layers()
            .iter()
            .map(|s| build_layer(&s.name, CompressOptions::default()).unwrap())
            .collect()
    })
}

#[test]
fn densities_match_table_iii_within_half_a_point() {
    for (l, spec) in layers().iter().zip(benchmark_layers()) {
        let p = spec.paper_row().unwrap();
        assert_eq!(
            (l.inputs(), l.outputs()),
            (spec.inputs, spec.outputs),
            "{}",
            l.name()
        );
        assert_eq!(
            l.nnz(),
            spec.target_nnz(),
            "{}: pruning hits the count exactly",
            l.name()
        );
        assert_eq!(l.act_nnz(), spec.target_act_nnz(), "{}", l.name());
        assert!(
            (l.weight_density() * 100.0 - p.weight_pct).abs() <= 0.5,
            "{}",
            l.name()
        );
        assert!(
            (l.act_density() * 100.0 - p.act_pct).abs() <= 0.5,
            "{}",
            l.name()
        );
        if spec.signed_input {
            assert!(
                l.input().iter().any(|&a| a < 0.0),
                "{}: NT inputs are signed",
                l.name()
            );
        } else {
            assert!(
                l.input().iter().all(|&a| a >= 0.0),
                "{}: ReLU-fed inputs",
                l.name()
            );
        }
    }
}

/// Generated layers are as uneven as the real FC8 (row / column CV 0.133 / 0.098), far from uniform
/// pruning's binomial CVs.
#[test]
fn nonzeros_are_unevenly_spread() {
    for l in layers() {
        let (row_cv, col_cv) = l.nnz_cvs();
        let d = l.weight_density();
        let binom_row = ((1.0 - d) / (d * l.inputs() as f64)).sqrt();
        let binom_col = ((1.0 - d) / (d * l.outputs() as f64)).sqrt();
        assert!(
            row_cv > binom_row + 0.05 && (0.09..0.22).contains(&row_cv),
            "{} row CV {row_cv}",
            l.name()
        );
        assert!(
            col_cv > binom_col && (0.07..0.18).contains(&col_cv),
            "{} col CV {col_cv}",
            l.name()
        );
    }
}

#[test]
fn encoding_decodes_to_the_shared_matrix_exactly() {
    for l in layers() {
        let e = l.eie();
        assert_eq!(e.decode(), l.augmented_codes(), "{}", l.name());
        assert_eq!(
            e.cols(),
            l.inputs() + 1,
            "{}: bias is one extra column",
            l.name()
        );
        assert_eq!(
            e.total_entries() - e.padding_entries(),
            l.nnz() + l.bias_nnz(),
            "{}",
            l.name()
        );
        assert!(l.codebook().len() <= 16);
    }
}

#[test]
fn views_agree_with_the_codes() {
    let l = &layers()[2]; // Alex-8
    let dense = l.dense_weights();
    let csr = l.csr();
    let raw = l.csr_arrays();
    assert_eq!(csr.nnz(), l.nnz());
    for (i, row) in csr.outer_iterator().enumerate() {
        let (cols, codes) = l.codes().row(i);
        for ((j, &v), (&c, &code)) in row.iter().zip(cols.iter().zip(codes)) {
            assert_eq!(j, c as usize);
            assert_eq!(v, l.codebook().value(code));
            assert_eq!(dense[[i, j]], v);
        }
        assert_eq!(raw.indptr[i + 1] - raw.indptr[i], cols.len());
    }
    let nnz_dense = dense.iter().filter(|&&w| w != 0.0).count();
    assert_eq!(nnz_dense, l.nnz());
}

/// The fixed-point reference lands within its derived error bound of the f64 result.
///
/// Per term, quantizing the weight costs at most `|a| lsb_w / 2`, quantizing the activation
/// `|w| lsb_a / 2`, their product `lsb_w lsb_a / 4`, and the floor shift less than `lsb_a`. The layer's
/// activation format is calibrated so nothing saturates, and ReLU is 1-Lipschitz.
#[test]
fn fixed_point_reference_is_within_its_bound() {
    for l in layers() {
        let f = l.fixed();
        let (lw, la) = (f.weight.lsb(), f.act.lsb());
        let y = l.fixed_reference();
        let (y64, _) = l.reference_f64();
        let a = l.augmented_input();
        let codes = l.augmented_codes();
        for i in 0..l.outputs() {
            let (cols, cs) = codes.row(i);
            let bound: f64 = cols
                .iter()
                .zip(cs)
                .map(|(&j, &c)| {
                    let (w, x) = (l.codebook().value(c) as f64, a[j as usize] as f64);
                    x.abs() * lw / 2.0 + w.abs() * la / 2.0 + lw * la / 4.0 + la
                })
                .sum();
            let err = (f.act.to_f32(y[i]) as f64 - y64[i]).abs();
            assert!(
                err <= bound,
                "{} row {i}: error {err} > bound {bound}",
                l.name()
            );
        }
        assert!(
            y.iter().all(|&q| q != i16::MAX && q != i16::MIN),
            "{}: calibrated, nothing saturates",
            l.name()
        );
    }
}

#[test]
fn reencoding_keeps_content_and_changes_layout() {
    let l = &layers()[6]; // NT-We: 600 rows
    for pes in [1, 7, 64, 600, 1024] {
        let r = l.reencode(pes, 4).unwrap();
        assert_eq!(r.content_hash(), l.content_hash());
        assert_eq!(r.eie().pes(), pes);
        assert_eq!(r.eie().decode(), l.augmented_codes(), "{pes} PEs");
    }
    // Fewer PEs: taller slices, longer zero runs, more padding (the paper's Fig. 12).
    let pad = |pes| l.reencode(pes, 4).unwrap().eie().padding_entries();
    assert!(pad(1) > pad(64) && pad(64) >= pad(600));
}

#[test]
fn generation_is_deterministic_and_hashes_differ() {
    let again = build_layer("NT-LSTM", CompressOptions::default()).unwrap();
    let first = &layers()[8];
    assert_eq!(again.content_hash(), first.content_hash());
    assert_eq!(again.eie(), first.eie());
    assert_eq!(again.input(), first.input());
    let mut hashes: Vec<&str> = layers().iter().map(|l| l.content_hash()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 9);
}

#[test]
fn storage_accounting_adds_up() {
    for l in layers() {
        let s = l.storage();
        assert_eq!(s.entries, l.nnz() + l.bias_nnz() + s.padding_entries);
        assert_eq!(s.entry_bytes, s.entries); // 4 + 4 bits: one byte per entry
        assert_eq!(
            s.eie_bytes,
            s.entry_bytes + s.pointer_bytes + s.codebook_bytes
        );
        assert_eq!(
            s.dense_f32_bytes,
            (l.outputs() * l.inputs() + l.outputs()) * 4
        );
        assert!(
            s.huffman_entry_bytes <= s.entry_bytes + 256,
            "Huffman never beats 8 bits by less than its table"
        );
        assert!(
            s.entries_per_pe_min as f64 <= s.entries_per_pe_mean
                && s.entries_per_pe_mean <= s.entries_per_pe_max as f64
        );
    }
}
