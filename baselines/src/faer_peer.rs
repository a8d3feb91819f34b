//! faer (0.24) as a peer: the Rust-native linear-algebra library a Rust user who wants speed would pick,
//! over the same decoded weights as the ndarray and sprs peers ([`crate::libs`]).
//!
//! - [`FaerDense`]: the decoded dense W as faer's own column-major `Mat<f32>`, multiplied with
//!   `faer::linalg::matmul::matmul`. faer dispatches a one-column product (batch 1) to its column-major
//!   matrix-vector kernel (`matvec_colmajor`, SIMD through pulp at the best level the CPU has), and a
//!   64-column one (batch 64) to its x86 GEMM (`private-gemm-x86`, AVX2 or AVX-512 picked at run time);
//!   both split the work over `Par::rayon(n)` threads when the product is large enough.
//! - [`FaerCsr`]: the decoded CSR matrix as faer's `SparseRowMat<u32, f32>`, multiplied with
//!   `faer::sparse::linalg::matmul::sparse_dense_matmul`. faer 0.24 runs this product on one thread
//!   whatever `Par` says (its code ignores the argument), row by row (a dot product per row and sample),
//!   so at batch B it walks the matrix B times; the record's detail says so.
//!
//! Threads: `Par::Seq` for one, `Par::rayon(n)` (rayon's global pool) for more. Outputs are caller-owned;
//! bias and ReLU are applied after the product, as for the other peers.

use crate::libs::Shape;
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};
use faer::sparse::{SparseRowMat, SymbolicSparseRowMat};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// faer's parallelism for `threads` threads.
fn par(threads: usize) -> Par {
    if threads <= 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    }
}

/// `x` (feature-major, `rows x batch`) as a faer matrix view.
fn view(x: &[f32], rows: usize, batch: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(x, rows, batch)
}

/// `y` (feature-major, `rows x batch`) as a mutable faer matrix view.
fn view_mut(y: &mut [f32], rows: usize, batch: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(y, rows, batch)
}

/// Checks the pass and returns the slices (the same checks as every backend).
fn io<'a>(
    name: &str,
    s: &Shape,
    input: Data<'a>,
    output: DataMut<'a>,
) -> Result<(&'a [f32], &'a mut [f32]), BackendError> {
    check_io(
        name,
        Arithmetic::F32,
        (s.inputs, s.outputs),
        s.batch,
        &input,
        &output,
    )?;
    match (input, output) {
        (Data::F32(x), DataMut::F32(y)) => Ok((x, y)),
        _ => unreachable!("checked by check_io"),
    }
}

/// faer's dense matrix product (GEMV at batch 1, GEMM at batch B).
pub struct FaerDense {
    threads: usize,
    w: Option<Mat<f32>>,
    s: Option<Shape>,
}

impl FaerDense {
    /// On `threads` threads (1: `Par::Seq`).
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            w: None,
            s: None,
        }
    }
}

impl Backend for FaerDense {
    fn name(&self) -> String {
        "faer-dense-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.s = Some(Shape::new(&self.name(), layer, batch)?);
        let (codes, cb) = (layer.codes(), layer.codebook());
        let mut w = Mat::<f32>::zeros(layer.outputs(), layer.inputs());
        for i in 0..layer.outputs() {
            let (cols, cs) = codes.row(i);
            for (&j, &c) in cols.iter().zip(cs) {
                w[(i, j as usize)] = cb.value(c);
            }
        }
        self.w = Some(w);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(w), Some(s)) = (&self.w, &self.s) else {
            return Err(BackendError::Unprepared(name));
        };
        let (x, y) = io(&name, s, input, output)?;
        faer::linalg::matmul::matmul(
            view_mut(y, s.outputs, s.batch),
            Accum::Replace,
            w.as_ref(),
            view(x, s.inputs, s.batch),
            1.0f32,
            par(self.threads),
        );
        s.finish(y);
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        self.s
            .as_ref()
            .map_or_else(Work::default, Shape::dense_work)
    }
    fn detail(&self) -> String {
        let kernel = match self.s.as_ref().map(|s| s.batch) {
            Some(1) => "matmul -> matvec (column-major)",
            Some(_) => "matmul -> gemm (private-gemm-x86)",
            None => "matmul",
        };
        format!("faer 0.24 {kernel}, {}", describe(par(self.threads)))
    }
}

/// faer's sparse (CSR) times dense product.
pub struct FaerCsr {
    threads: usize,
    m: Option<SparseRowMat<u32, f32>>,
    s: Option<Shape>,
}

impl FaerCsr {
    /// On `threads` threads (1: `Par::Seq`; faer 0.24 runs this product on one thread either way).
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            m: None,
            s: None,
        }
    }
}

impl Backend for FaerCsr {
    fn name(&self) -> String {
        "faer-csr-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        let name = self.name();
        let s = Shape::new(&name, layer, batch)?;
        let a = layer.csr_arrays();
        let too_large = || BackendError::Failed {
            backend: name.clone(),
            message: format!("{} stored entries do not fit 32-bit indices", a.data.len()),
        };
        if u32::try_from(a.cols).is_err() || u32::try_from(a.rows).is_err() {
            return Err(too_large());
        }
        let row_ptr = a
            .indptr
            .iter()
            .map(|&p| u32::try_from(p).map_err(|_| too_large()))
            .collect::<Result<Vec<u32>, _>>()?;
        let symbolic = SymbolicSparseRowMat::new_checked(a.rows, a.cols, row_ptr, None, a.indices);
        self.m = Some(SparseRowMat::new(symbolic, a.data));
        self.s = Some(s);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(m), Some(s)) = (&self.m, &self.s) else {
            return Err(BackendError::Unprepared(name));
        };
        let (x, y) = io(&name, s, input, output)?;
        faer::sparse::linalg::matmul::sparse_dense_matmul(
            view_mut(y, s.outputs, s.batch),
            Accum::Replace,
            m.as_ref(),
            view(x, s.inputs, s.batch),
            1.0f32,
            par(self.threads),
        );
        s.finish(y);
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        let (Some(m), Some(s)) = (&self.m, &self.s) else {
            return Work::default();
        };
        let nnz = m.as_ref().compute_nnz() as u64;
        Work {
            macs: nnz * s.batch as u64,
            entries: nnz,
            // Values and column indices, 4 bytes each; row pointers; the input. (At batch B faer walks
            // the matrix once per sample; from the second walk on it may come from cache.)
            bytes_read: nnz * 8 + (s.outputs as u64 + 1) * 4 + (s.inputs * s.batch * 4) as u64,
        }
    }
    fn detail(&self) -> String {
        format!(
            "faer 0.24 sparse_dense_matmul (CSR, row dot products), asked {}; runs on 1 thread",
            describe(par(self.threads))
        )
    }
}

fn describe(p: Par) -> String {
    match p {
        Par::Seq => "Par::Seq".into(),
        Par::Rayon(n) => format!("Par::rayon({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::backend::{batch_input, compare_f32, reference_f64};
    use eie_compress::{CompressOptions, DenseLayer, LayerSpec, build_from_spec, build_layer};

    fn check(l: &CompressedLayer, batch: usize, mut b: Box<dyn Backend>) {
        let x = batch_input(l, batch);
        let (r, bound) = reference_f64(l, &x, batch);
        b.prepare(l, batch).unwrap();
        let mut y = vec![f32::NAN; l.outputs() * batch];
        b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
        let (err, ok) = compare_f32(&y, &r, &bound);
        assert!(ok, "{} batch {batch}: {err}", b.name());
        // A second run into the same buffer gives the same answer (Accum::Replace, no leftovers).
        let first = y.clone();
        b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
        assert_eq!(first, y, "{} batch {batch}: second run", b.name());
    }

    fn both(threads: usize) -> [Box<dyn Backend>; 2] {
        [
            Box::new(FaerDense::new(threads)),
            Box::new(FaerCsr::new(threads)),
        ]
    }

    #[test]
    fn faer_matches_the_reference_on_one_and_two_threads() {
        let l = build_layer("NT-LSTM", CompressOptions::default()).unwrap();
        for threads in [1usize, 2] {
            for batch in [1usize, 64] {
                for b in both(threads) {
                    check(&l, batch, b);
                }
            }
        }
    }

    /// Odd shapes (SIMD tails), a batch that is not a multiple of any vector width, an all-zero layer.
    #[test]
    fn faer_on_odd_shapes_and_an_all_zero_layer() {
        let mut layers: Vec<CompressedLayer> =
            [(9usize, 7usize, 0.3), (1023, 17, 0.1), (33, 1, 0.5)]
                .into_iter()
                .map(|(inputs, outputs, density)| {
                    let spec = LayerSpec::new("odd", inputs, outputs, density, 0.6, true).unwrap();
                    build_from_spec(&spec, CompressOptions::default()).unwrap()
                })
                .collect();
        let (rows, cols) = (17usize, 23usize);
        let input = (0..cols).map(|j| j as f32 - 5.0).collect();
        let zero = DenseLayer::new(
            "all-zero",
            rows,
            cols,
            vec![0.0; rows * cols],
            None,
            input,
            false,
        )
        .unwrap();
        layers.push(CompressedLayer::compress(zero, CompressOptions::default()).unwrap());
        for l in &layers {
            for batch in [1usize, 3] {
                for b in both(2) {
                    check(l, batch, b);
                }
            }
        }
    }

    #[test]
    fn faer_refuses_bad_input() {
        let l = build_layer("NT-LSTM", CompressOptions::default()).unwrap();
        for mut b in both(1) {
            let mut y = vec![0.0f32; l.outputs()];
            let x = vec![0.0f32; l.inputs()];
            assert!(matches!(
                b.run(Data::F32(&x), DataMut::F32(&mut y)),
                Err(BackendError::Unprepared(_))
            ));
            assert!(b.prepare(&l, 0).is_err());
            b.prepare(&l, 1).unwrap();
            let mut short = vec![0.0f32; 3];
            assert!(b.run(Data::F32(&x), DataMut::F32(&mut short)).is_err());
            let xq = vec![0i16; l.inputs()];
            let mut yq = vec![0i16; l.outputs()];
            assert!(b.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)).is_err());
        }
    }
}
