//! The EIE interleaved-CSC encoding (Han et al., ISCA 2016, section III; DESIGN.md "The EIE format").
//!
//! With `N` PEs, row `i` belongs to PE `i mod N` and is that PE's local row `i / N`. Each PE stores its
//! slice of W column by column. An entry is `(v, z)`: `v` the codebook index, `z` the number of zero rows
//! of the PE's slice since the previous entry of the same column (or since the slice's top). A gap of
//! more than `2^index_bits - 1` zeros emits padding entries `(v = 0, z = 2^index_bits - 1)`, each
//! covering `2^index_bits` rows. `col_ptr[j]..col_ptr[j + 1]` are column j's entries, padding included.
//! Example from the paper (4-bit z, one PE): column `[0,0,1,2, 18 zeros, 3]` gives `v = [1,2,0,3]`,
//! `z = [2,0,15,2]`.

use crate::error::{CompressError, Result};
use crate::sparse::SparseCodes;

/// The paper's PE count.
pub const DEFAULT_PES: usize = 64;
/// Most PEs an encoding may have.
pub const MAX_PES: usize = 1024;
/// The paper's relative-index width.
pub const DEFAULT_INDEX_BITS: u8 = 4;
/// Most bytes an encoding's per-PE column pointers may take: every PE keeps `cols + 1` 32-bit pointers,
/// so they grow with PEs x columns whatever the matrix holds (1024 PEs on a 1-row, 1,000,000-column
/// layer would need 3.8 GiB). The paper's largest case, 1024 PEs on VGG-16's 25,088-column FC6, needs
/// 98 MiB; [`EieEncoding::encode`] refuses more than 1 GiB up front.
pub const MAX_POINTER_BYTES: u64 = 1 << 30;

/// One PE's arrays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeSlice {
    /// Codebook index of each entry (0 = padding).
    pub v: Vec<u8>,
    /// Zero rows skipped before each entry.
    pub z: Vec<u8>,
    /// Column pointers, `cols + 1` of them.
    pub col_ptr: Vec<u32>,
}

/// A matrix in EIE's interleaved CSC format.
///
/// Invariants (checked by [`EieEncoding::from_parts`]): `1 <= pes <= 1024`; `1 <= index_bits <= 8`;
/// every slice has `cols + 1` non-decreasing column pointers from 0 to its entry count; every `v` fits
/// `weight_bits` and every `z` fits `index_bits`; padding entries have `z = 2^index_bits - 1`; walking a
/// column never leaves the PE's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EieEncoding {
    rows: usize,
    cols: usize,
    pes: usize,
    weight_bits: u8,
    index_bits: u8,
    slices: Vec<PeSlice>,
}

/// Checks a PE count.
pub fn check_pes(pes: usize) -> Result<()> {
    if (1..=MAX_PES).contains(&pes) {
        Ok(())
    } else {
        Err(CompressError::param("PE count", pes, "must be in 1..=1024"))
    }
}

/// Checks a relative-index width.
pub fn check_index_bits(bits: u8) -> Result<()> {
    if (1..=8).contains(&bits) {
        Ok(())
    } else {
        Err(CompressError::param(
            "relative index bits",
            bits,
            "must be in 1..=8",
        ))
    }
}

/// Bytes of the column pointers of `pes` PEs on `cols` columns, `pes x (cols + 1) x 4`; `None` when that
/// overflows 64 bits.
pub fn pointer_bytes(pes: usize, cols: usize) -> Option<u64> {
    let n = u64::try_from(cols).ok()?.checked_add(1)?;
    u64::try_from(pes).ok()?.checked_mul(n)?.checked_mul(4)
}

/// Checks that `pes` PEs' column pointers on `cols` columns stay within [`MAX_POINTER_BYTES`].
pub fn check_pointer_bytes(pes: usize, cols: usize) -> Result<()> {
    match pointer_bytes(pes, cols) {
        Some(b) if b <= MAX_POINTER_BYTES => Ok(()),
        need => Err(CompressError::param(
            "PE count",
            pes,
            format!(
                "{pes} PEs on {cols} columns need {} of column pointers ({pes} x ({cols} + 1) x 4 \
                 bytes), over the {} GiB limit; use fewer --pes",
                need.map_or("more than 16 EiB".into(), |b| format!(
                    "{:.1} GiB",
                    b as f64 / (1u64 << 30) as f64
                )),
                MAX_POINTER_BYTES >> 30
            ),
        )),
    }
}

/// Rows owned by PE `k` of `pes` in a matrix of `rows` rows.
pub fn rows_of_pe(rows: usize, pes: usize, k: usize) -> usize {
    if k < rows {
        (rows - k).div_ceil(pes)
    } else {
        0
    }
}

impl EieEncoding {
    /// Encodes `m` (all columns, the bias column included where the layer has one) for `pes` PEs.
    ///
    /// Memory: the entries grow with the matrix's non-zeros (and padding, at most one entry per
    /// `2^index_bits` rows of a column, so within the dense matrix's size); the column pointers grow
    /// with PEs x columns and are refused up front above [`MAX_POINTER_BYTES`] (`use fewer --pes`).
    /// Nothing else grows with PEs x columns or PEs x rows.
    pub fn encode(m: &SparseCodes, pes: usize, weight_bits: u8, index_bits: u8) -> Result<Self> {
        check_pes(pes)?;
        check_index_bits(index_bits)?;
        check_pointer_bytes(pes, m.cols())?;
        if m.codes().iter().any(|&c| (c as usize) >> weight_bits != 0) {
            return Err(CompressError::Encoding(format!(
                "a code does not fit {weight_bits} bits"
            )));
        }
        let max_z = (1u32 << index_bits) - 1;
        let (col_ptr, row_idx, codes) = m.to_csc();
        let mut slices: Vec<PeSlice> = (0..pes)
            .map(|_| PeSlice {
                v: Vec::new(),
                z: Vec::new(),
                col_ptr: Vec::with_capacity(m.cols() + 1),
            })
            .collect();
        // Next local row each PE expects in the current column.
        let mut next = vec![0u32; pes];
        for j in 0..m.cols() {
            for s in slices.iter_mut() {
                s.col_ptr.push(entry_count(s)?);
            }
            next.iter_mut().for_each(|n| *n = 0);
            for p in col_ptr[j]..col_ptr[j + 1] {
                let i = row_idx[p] as usize;
                let (k, r) = (i % pes, (i / pes) as u32);
                let s = &mut slices[k];
                let mut gap = r - next[k];
                while gap > max_z {
                    s.v.push(0);
                    s.z.push(max_z as u8);
                    gap -= max_z + 1;
                }
                s.v.push(codes[p]);
                s.z.push(gap as u8);
                next[k] = r + 1;
            }
        }
        for s in slices.iter_mut() {
            s.col_ptr.push(entry_count(s)?);
        }
        Ok(Self {
            rows: m.rows(),
            cols: m.cols(),
            pes,
            weight_bits,
            index_bits,
            slices,
        })
    }

    /// Validates raw per-PE arrays (from a file, say) and wraps them.
    pub fn from_parts(
        rows: usize,
        cols: usize,
        pes: usize,
        weight_bits: u8,
        index_bits: u8,
        slices: Vec<PeSlice>,
    ) -> Result<Self> {
        check_pes(pes)?;
        check_index_bits(index_bits)?;
        crate::share::check_bits(weight_bits)?;
        let bad = |m: String| Err(CompressError::Encoding(m));
        if slices.len() != pes {
            return bad(format!("{} PE slices for {pes} PEs", slices.len()));
        }
        // Rows and columns are 32-bit indices once decoded (and in the kernels).
        if u32::try_from(rows).is_err() || u32::try_from(cols).is_err() {
            return bad(format!(
                "{rows} x {cols} does not fit 32-bit row and column indices"
            ));
        }
        let ptrs = cols + 1;
        let max_z = (1u32 << index_bits) - 1;
        for (k, s) in slices.iter().enumerate() {
            if s.v.len() != s.z.len() {
                return bad(format!(
                    "PE {k}: {} v entries but {} z entries",
                    s.v.len(),
                    s.z.len()
                ));
            }
            if s.col_ptr.len() != ptrs || s.col_ptr[0] != 0 || s.col_ptr[cols] as usize != s.v.len()
            {
                return bad(format!(
                    "PE {k}: column pointers must be {ptrs} values from 0 to {}",
                    s.v.len()
                ));
            }
            if s.col_ptr.windows(2).any(|w| w[0] > w[1]) {
                return bad(format!("PE {k}: column pointers decrease"));
            }
            if let Some(e) = s.v.iter().position(|&v| (v as u32) >> weight_bits != 0) {
                return bad(format!(
                    "PE {k} entry {e}: v = {} does not fit {weight_bits} bits",
                    s.v[e]
                ));
            }
            if let Some(e) = (0..s.z.len())
                .find(|&e| s.z[e] as u32 > max_z || (s.v[e] == 0 && s.z[e] as u32 != max_z))
            {
                return bad(format!(
                    "PE {k} entry {e}: z = {} (v = {}) is not a valid {index_bits}-bit relative index",
                    s.z[e], s.v[e]
                ));
            }
            let slice_rows = rows_of_pe(rows, pes, k) as u64;
            for j in 0..cols {
                let (a, b) = (s.col_ptr[j] as usize, s.col_ptr[j + 1] as usize);
                if b > a && s.v[b - 1] == 0 {
                    return bad(format!(
                        "PE {k} column {j}: ends in a padding entry (padding only precedes a value)"
                    ));
                }
                let end: u64 = s.z[a..b].iter().map(|&z| z as u64 + 1).sum();
                if end > slice_rows {
                    return bad(format!(
                        "PE {k} column {j}: entries reach local row {} of {slice_rows}",
                        end - 1
                    ));
                }
            }
        }
        Ok(Self {
            rows,
            cols,
            pes,
            weight_bits,
            index_bits,
            slices,
        })
    }

    /// Decodes back to the canonical CSR codes (padding dropped).
    pub fn decode(&self) -> SparseCodes {
        let mut triplets: Vec<(u32, u32, u8)> = Vec::with_capacity(self.total_entries());
        for (k, s) in self.slices.iter().enumerate() {
            for j in 0..self.cols {
                let mut r = 0usize;
                for e in s.col_ptr[j] as usize..s.col_ptr[j + 1] as usize {
                    r += s.z[e] as usize;
                    if s.v[e] != 0 {
                        triplets.push(((r * self.pes + k) as u32, j as u32, s.v[e]));
                    }
                    r += 1;
                }
            }
        }
        triplets.sort_unstable();
        let mut row_ptr = vec![0usize; self.rows + 1];
        for &(i, _, _) in &triplets {
            row_ptr[i as usize + 1] += 1;
        }
        for i in 0..self.rows {
            row_ptr[i + 1] += row_ptr[i];
        }
        let col_idx = triplets.iter().map(|t| t.1).collect();
        let codes = triplets.iter().map(|t| t.2).collect();
        SparseCodes::new(self.rows, self.cols, row_ptr, col_idx, codes)
            .expect("a validated encoding decodes to valid CSR")
    }

    /// Rows of the encoded matrix.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the encoded matrix (the bias column included).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// PE count.
    pub fn pes(&self) -> usize {
        self.pes
    }
    /// Width of `v`.
    pub fn weight_bits(&self) -> u8 {
        self.weight_bits
    }
    /// Width of `z`.
    pub fn index_bits(&self) -> u8 {
        self.index_bits
    }
    /// All PE slices.
    pub fn slices(&self) -> &[PeSlice] {
        &self.slices
    }
    /// PE `k`'s slice.
    pub fn slice(&self, k: usize) -> &PeSlice {
        &self.slices[k]
    }
    /// Entries per PE, padding included.
    pub fn entries_per_pe(&self) -> Vec<usize> {
        self.slices.iter().map(|s| s.v.len()).collect()
    }
    /// All entries, padding included.
    pub fn total_entries(&self) -> usize {
        self.slices.iter().map(|s| s.v.len()).sum()
    }
    /// Padding entries (`v = 0`).
    pub fn padding_entries(&self) -> usize {
        self.slices
            .iter()
            .map(|s| s.v.iter().filter(|&&v| v == 0).count())
            .sum()
    }
    /// PE `k`'s entries as one byte each, `v` in the high bits and `z` in the low `index_bits` bits
    /// (for the paper's 4 + 4 bits: high nibble `v`, low nibble `z`); `None` when the two do not fit a byte.
    pub fn packed_entries(&self, k: usize) -> Option<Vec<u8>> {
        (self.weight_bits + self.index_bits <= 8).then(|| {
            let s = &self.slices[k];
            s.v.iter()
                .zip(&s.z)
                .map(|(&v, &z)| (v << self.index_bits) | z)
                .collect()
        })
    }
}

fn entry_count(s: &PeSlice) -> Result<u32> {
    u32::try_from(s.v.len())
        .map_err(|_| CompressError::Encoding("more than 2^32 entries in one PE".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn column(values: &[u8]) -> SparseCodes {
        SparseCodes::from_dense(values.len(), 1, values)
    }

    #[test]
    fn paper_worked_column() {
        let mut col = vec![0u8, 0, 1, 2];
        col.extend([0u8; 18]);
        col.push(3);
        let e = EieEncoding::encode(&column(&col), 1, 4, 4).unwrap();
        assert_eq!(e.slice(0).v, vec![1, 2, 0, 3]);
        assert_eq!(e.slice(0).z, vec![2, 0, 15, 2]);
        assert_eq!(e.slice(0).col_ptr, vec![0, 4]);
        assert_eq!(e.packed_entries(0).unwrap(), vec![0x12, 0x20, 0x0F, 0x32]);
        assert_eq!(e.decode(), column(&col));
    }

    /// Runs of exactly 15, 16, 17, 31 and 32 zeros before a non-zero, 4-bit z.
    #[test]
    fn padding_at_run_boundaries() {
        for (run, v, z) in [
            (15usize, vec![1u8], vec![15u8]),
            (16, vec![0, 1], vec![15, 0]),
            (17, vec![0, 1], vec![15, 1]),
            (31, vec![0, 1], vec![15, 15]),
            (32, vec![0, 0, 1], vec![15, 15, 0]),
        ] {
            let mut col = vec![0u8; run];
            col.push(1);
            let e = EieEncoding::encode(&column(&col), 1, 4, 4).unwrap();
            assert_eq!((&e.slice(0).v, &e.slice(0).z), (&v, &z), "run of {run}");
            assert_eq!(e.padding_entries(), v.len() - 1);
            assert_eq!(e.decode(), column(&col));
        }
    }

    /// The paper's Fig. 2/3 layout idea: 4 PEs, rows interleaved, z relative to each PE's slice.
    #[test]
    fn interleaving_assigns_rows_mod_n() {
        // 8 x 1 column with non-zeros at rows 1, 5 and 6: PE1 gets local rows 0 and 1, PE2 local row 1.
        let col = [0u8, 3, 0, 0, 0, 4, 5, 0];
        let e = EieEncoding::encode(&column(&col), 4, 4, 4).unwrap();
        assert!(e.slice(0).v.is_empty());
        assert_eq!((&e.slice(1).v, &e.slice(1).z), (&vec![3, 4], &vec![0, 0]));
        assert_eq!((&e.slice(2).v, &e.slice(2).z), (&vec![5], &vec![1]));
        assert_eq!(e.entries_per_pe(), vec![0, 2, 1, 0]);
    }

    #[test]
    fn from_parts_rejects_broken_arrays() {
        let ok = PeSlice {
            v: vec![1],
            z: vec![0],
            col_ptr: vec![0, 1],
        };
        assert!(EieEncoding::from_parts(1, 1, 1, 4, 4, vec![ok.clone()]).is_ok());
        let past_end = PeSlice {
            v: vec![1],
            z: vec![1],
            col_ptr: vec![0, 1],
        };
        assert!(EieEncoding::from_parts(1, 1, 1, 4, 4, vec![past_end]).is_err());
        let bad_pad = PeSlice {
            v: vec![0, 1],
            z: vec![3, 0],
            col_ptr: vec![0, 2],
        };
        assert!(EieEncoding::from_parts(40, 1, 1, 4, 4, vec![bad_pad]).is_err());
        let bad_ptr = PeSlice {
            v: vec![1],
            z: vec![0],
            col_ptr: vec![0, 2],
        };
        assert!(EieEncoding::from_parts(1, 1, 1, 4, 4, vec![bad_ptr]).is_err());
        assert!(EieEncoding::from_parts(1, 1, 2, 4, 4, vec![ok.clone()]).is_err());
        assert!(EieEncoding::from_parts(1, 1, 0, 4, 4, vec![]).is_err());
        assert!(EieEncoding::encode(&column(&[1]), 1025, 4, 4).is_err());
        assert!(EieEncoding::encode(&column(&[1]), 1, 4, 0).is_err());
        assert!(EieEncoding::encode(&column(&[17]), 1, 4, 4).is_err());
    }

    /// Sizes from outside use checked arithmetic: `cols + 1` pointers for `usize::MAX` columns wrapped
    /// (and then indexed out of bounds); rows and columns past 32-bit indices are refused.
    #[test]
    fn from_parts_rejects_sizes_past_32_bits() {
        let empty = || PeSlice {
            v: vec![],
            z: vec![],
            col_ptr: vec![],
        };
        for (rows, cols) in [(1, usize::MAX), (usize::MAX, 1), (usize::MAX, 0)] {
            let e = EieEncoding::from_parts(rows, cols, 1, 4, 4, vec![empty()])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("does not fit 32-bit row and column indices"),
                "{e}"
            );
        }
        let e = check_pointer_bytes(2, usize::MAX).unwrap_err().to_string();
        assert!(e.contains("more than 16 EiB"), "{e}");
    }

    #[test]
    fn from_parts_rejects_trailing_padding() {
        let trailing_pad = PeSlice {
            v: vec![1, 0],
            z: vec![0, 15],
            col_ptr: vec![0, 2],
        };
        let e = EieEncoding::from_parts(40, 1, 1, 4, 4, vec![trailing_pad])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ends in a padding entry"), "{e}");
    }

    fn matrix() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
        (1usize..80, 1usize..12).prop_flat_map(|(rows, cols)| {
            // Mostly zeros (long runs), some all-zero columns by chance, codes 1..=15.
            let cell = prop_oneof![8 => Just(0u8), 1 => 1u8..16];
            (
                Just(rows),
                Just(cols),
                proptest::collection::vec(cell, rows * cols),
            )
        })
    }

    proptest! {
        #[test]
        fn round_trip((rows, cols, dense) in matrix(), pes in 1usize..100, index_bits in 1u8..6) {
            let m = SparseCodes::from_dense(rows, cols, &dense);
            let e = EieEncoding::encode(&m, pes, 4, index_bits).unwrap();
            prop_assert_eq!(e.decode(), m.clone());
            prop_assert_eq!(e.total_entries() - e.padding_entries(), m.nnz());
            let again = EieEncoding::from_parts(rows, cols, pes, 4, index_bits, e.slices().to_vec()).unwrap();
            prop_assert_eq!(again, e);
        }

        #[test]
        fn all_zero_matrices_have_no_entries(rows in 1usize..50, cols in 1usize..10, pes in 1usize..70) {
            let m = SparseCodes::from_dense(rows, cols, &vec![0; rows * cols]);
            let e = EieEncoding::encode(&m, pes, 4, 4).unwrap();
            prop_assert_eq!(e.total_entries(), 0);
            prop_assert!(e.slices().iter().all(|s| s.col_ptr == vec![0; cols + 1]));
            prop_assert_eq!(e.decode(), m);
        }
    }
}
