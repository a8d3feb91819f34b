//! The pruned, weight-shared matrix as codebook indices in CSR form.
//!
//! This is the canonical form of a compressed layer's weights, independent of any PE count: the EIE
//! encoding, the dense and CSR views and the content hash are all derived from it.

use crate::error::{CompressError, Result};

/// A `rows x cols` matrix of non-zero codebook indices, CSR.
///
/// Invariants (checked by [`SparseCodes::new`]): `row_ptr` has `rows + 1` non-decreasing entries from 0
/// to `nnz`; within a row, column indices are strictly increasing and `< cols`; every code is non-zero
/// (index 0 is the zero weight and is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseCodes {
    rows: usize,
    cols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<u32>,
    codes: Vec<u8>,
}

impl SparseCodes {
    /// Validates and wraps CSR arrays.
    pub fn new(
        rows: usize,
        cols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<u32>,
        codes: Vec<u8>,
    ) -> Result<Self> {
        let bad = |m: String| Err(CompressError::Encoding(m));
        if row_ptr.len() != rows + 1 || row_ptr[0] != 0 || row_ptr[rows] != col_idx.len() {
            return bad(format!(
                "row pointers do not describe {rows} rows of {} entries",
                col_idx.len()
            ));
        }
        if codes.len() != col_idx.len() {
            return bad(format!(
                "{} codes for {} column indices",
                codes.len(),
                col_idx.len()
            ));
        }
        if cols > u32::MAX as usize {
            return bad(format!("{cols} columns exceed 32-bit column indices"));
        }
        for i in 0..rows {
            let (a, b) = (row_ptr[i], row_ptr[i + 1]);
            if a > b {
                return bad(format!("row pointer decreases at row {i}"));
            }
            let row = &col_idx[a..b];
            if row.windows(2).any(|w| w[0] >= w[1])
                || row.last().is_some_and(|&c| c as usize >= cols)
            {
                return bad(format!(
                    "row {i}: column indices must be increasing and below {cols}"
                ));
            }
        }
        if codes.contains(&0) {
            return bad("a stored code is 0 (the zero weight is never stored)".into());
        }
        Ok(Self {
            rows,
            cols,
            row_ptr,
            col_idx,
            codes,
        })
    }

    /// Builds from a row-major dense code matrix (zeros dropped).
    pub fn from_dense(rows: usize, cols: usize, dense: &[u8]) -> Self {
        assert_eq!(dense.len(), rows * cols, "dense code matrix size");
        let mut row_ptr = Vec::with_capacity(rows + 1);
        let (mut col_idx, mut codes) = (Vec::new(), Vec::new());
        row_ptr.push(0);
        for row in dense.chunks(cols.max(1)).take(rows) {
            for (j, &c) in row.iter().enumerate() {
                if c != 0 {
                    col_idx.push(j as u32);
                    codes.push(c);
                }
            }
            row_ptr.push(col_idx.len());
        }
        while row_ptr.len() < rows + 1 {
            row_ptr.push(col_idx.len());
        }
        Self {
            rows,
            cols,
            row_ptr,
            col_idx,
            codes,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.codes.len()
    }
    /// CSR row pointers (`rows + 1`).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }
    /// CSR column indices.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }
    /// CSR codebook indices.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }
    /// Row `i` as (column indices, codes).
    pub fn row(&self, i: usize) -> (&[u32], &[u8]) {
        let (a, b) = (self.row_ptr[i], self.row_ptr[i + 1]);
        (&self.col_idx[a..b], &self.codes[a..b])
    }

    /// Non-zeros per column.
    pub fn col_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.cols];
        for &c in &self.col_idx {
            counts[c as usize] += 1;
        }
        counts
    }

    /// Non-zeros per row.
    pub fn row_counts(&self) -> Vec<usize> {
        self.row_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The same matrix in CSC form: (column pointers, row indices, codes), rows increasing per column.
    pub fn to_csc(&self) -> (Vec<usize>, Vec<u32>, Vec<u8>) {
        let mut col_ptr = vec![0usize; self.cols + 1];
        for &c in &self.col_idx {
            col_ptr[c as usize + 1] += 1;
        }
        for j in 0..self.cols {
            col_ptr[j + 1] += col_ptr[j];
        }
        let mut next = col_ptr.clone();
        let mut row_idx = vec![0u32; self.nnz()];
        let mut codes = vec![0u8; self.nnz()];
        for i in 0..self.rows {
            let (cols, cs) = self.row(i);
            for (&c, &code) in cols.iter().zip(cs) {
                let p = &mut next[c as usize];
                row_idx[*p] = i as u32;
                codes[*p] = code;
                *p += 1;
            }
        }
        (col_ptr, row_idx, codes)
    }

    /// This matrix with one more column appended: `column[i]` for each row (zeros dropped).
    pub fn with_extra_column(&self, column: &[u8]) -> Self {
        assert_eq!(column.len(), self.rows, "extra column length");
        let mut row_ptr = Vec::with_capacity(self.rows + 1);
        let mut col_idx = Vec::with_capacity(self.nnz() + self.rows);
        let mut codes = Vec::with_capacity(self.nnz() + self.rows);
        row_ptr.push(0);
        for (i, &extra) in column.iter().enumerate() {
            let (cols, cs) = self.row(i);
            col_idx.extend_from_slice(cols);
            codes.extend_from_slice(cs);
            if extra != 0 {
                col_idx.push(self.cols as u32);
                codes.push(extra);
            }
            row_ptr.push(col_idx.len());
        }
        Self {
            rows: self.rows,
            cols: self.cols + 1,
            row_ptr,
            col_idx,
            codes,
        }
    }

    /// Rows `start..end` as a matrix of their own (same columns).
    pub fn row_block(&self, start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= self.rows,
            "row block {start}..{end} of {} rows",
            self.rows
        );
        let (a, b) = (self.row_ptr[start], self.row_ptr[end]);
        Self {
            rows: end - start,
            cols: self.cols,
            row_ptr: self.row_ptr[start..=end].iter().map(|p| p - a).collect(),
            col_idx: self.col_idx[a..b].to_vec(),
            codes: self.codes[a..b].to_vec(),
        }
    }

    /// The matrix as row-major dense codes.
    pub fn to_dense(&self) -> Vec<u8> {
        let mut d = vec![0u8; self.rows * self.cols];
        for i in 0..self.rows {
            let (cols, cs) = self.row(i);
            for (&c, &code) in cols.iter().zip(cs) {
                d[i * self.cols + c as usize] = code;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_and_csc() {
        let dense = [0, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0];
        let s = SparseCodes::from_dense(3, 4, &dense);
        assert_eq!(s.nnz(), 3);
        assert_eq!(s.to_dense(), dense);
        let (cp, ri, cs) = s.to_csc();
        assert_eq!(cp, vec![0, 0, 2, 2, 3]);
        assert_eq!(ri, vec![0, 1, 0]);
        assert_eq!(cs, vec![1, 3, 2]);
        let block = s.row_block(1, 3);
        assert_eq!(block.to_dense(), dense[4..].to_vec());
        assert_eq!(s.row_block(0, 0).nnz(), 0);
        let e = s.with_extra_column(&[5, 0, 6]);
        assert_eq!(e.cols(), 5);
        assert_eq!(e.row(2), (&[4u32][..], &[6u8][..]));
    }

    #[test]
    fn invalid_arrays_are_rejected() {
        assert!(SparseCodes::new(1, 2, vec![0, 2], vec![1, 0], vec![1, 1]).is_err());
        assert!(SparseCodes::new(1, 2, vec![0, 1], vec![2], vec![1]).is_err());
        assert!(SparseCodes::new(1, 2, vec![0, 1], vec![1], vec![0]).is_err());
        assert!(SparseCodes::new(1, 2, vec![0, 1], vec![1], vec![3]).is_ok());
    }
}
