//! Distribution statistics of a sparse matrix's non-zeros (how uneven pruning left them).

/// Coefficient of variation (std / mean, population) of `counts`; 0 for an empty or all-zero slice.
pub fn cv(counts: &[usize]) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<usize>() as f64 / n;
    if mean == 0.0 {
        return 0.0;
    }
    let var = counts
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt() / mean
}

/// (row CV, column CV) of the non-zero counts of a row-major `rows x cols` matrix.
pub fn nnz_cvs(weights: &[f32], rows: usize, cols: usize) -> (f64, f64) {
    let mut per_row = vec![0usize; rows];
    let mut per_col = vec![0usize; cols];
    for (i, row) in weights.chunks(cols).enumerate() {
        for (j, &w) in row.iter().enumerate() {
            if w != 0.0 {
                per_row[i] += 1;
                per_col[j] += 1;
            }
        }
    }
    (cv(&per_row), cv(&per_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cv_of_known_counts() {
        assert_eq!(cv(&[3, 3, 3]), 0.0);
        assert!((cv(&[1, 3]) - 0.5).abs() < 1e-12);
        assert_eq!(cv(&[]), 0.0);
        let (r, c) = nnz_cvs(&[1.0, 0.0, 1.0, 1.0], 2, 2);
        assert!((r - 1.0 / 3.0).abs() < 1e-12 && (c - 1.0 / 3.0).abs() < 1e-12);
    }
}
