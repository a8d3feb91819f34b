//! ndarray and sprs as backends: the decoded dense matrix with ndarray's `general_mat_vec_mul` /
//! `general_mat_mul` (the `blas` feature routes them to OpenBLAS), and the decoded CSR matrix with
//! sprs's `mul_acc_mat_vec_csr` / `csr_mulacc_dense_rowmaj`. Outputs are caller-owned; bias and ReLU
//! are applied after the product.

use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};
use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use sprs::CsMat;

/// What every library backend keeps of the prepared layer.
pub(crate) struct Shape {
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    pub(crate) batch: usize,
    relu: bool,
    bias: Option<Vec<f32>>,
}

impl Shape {
    pub(crate) fn new(
        name: &str,
        layer: &CompressedLayer,
        batch: usize,
    ) -> Result<Self, BackendError> {
        if batch == 0 {
            return Err(BackendError::Shape {
                backend: name.to_string(),
                message: "batch must be at least 1".into(),
            });
        }
        Ok(Self {
            inputs: layer.inputs(),
            outputs: layer.outputs(),
            batch,
            relu: layer.relu(),
            bias: layer.bias(),
        })
    }

    /// The work of a dense product over this shape: every element of W multiplied for every sample, W read
    /// once (f32) and the input once.
    pub(crate) fn dense_work(&self) -> Work {
        let elems = (self.inputs * self.outputs) as u64;
        Work {
            macs: elems * self.batch as u64,
            entries: elems,
            bytes_read: elems * 4 + (self.inputs * self.batch * 4) as u64,
        }
    }

    pub(crate) fn finish(&self, y: &mut [f32]) {
        eie_compress::backend::add_bias_relu(y, self.batch, self.bias.as_deref(), self.relu);
    }
}

/// ndarray's dense matrix-vector / matrix-matrix product.
#[derive(Default)]
pub struct NdarrayDense {
    w: Option<Array2<f32>>,
    s: Option<Shape>,
}

impl Backend for NdarrayDense {
    fn name(&self) -> String {
        "ndarray-dense-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.s = Some(Shape::new(&self.name(), layer, batch)?);
        self.w = Some(layer.dense_weights());
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(w), Some(s)) = (&self.w, &self.s) else {
            return Err(BackendError::Unprepared(name));
        };
        check_io(
            &name,
            Arithmetic::F32,
            (s.inputs, s.outputs),
            s.batch,
            &input,
            &output,
        )?;
        let (Data::F32(x), DataMut::F32(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        if s.batch == 1 {
            general_mat_vec_mul(
                1.0,
                w,
                &ArrayView1::from(x),
                0.0,
                &mut ArrayViewMut1::from(&mut *y),
            );
        } else {
            let xv = ArrayView2::from_shape((s.inputs, s.batch), x).expect("checked length");
            let mut yv =
                ArrayViewMut2::from_shape((s.outputs, s.batch), &mut *y).expect("checked length");
            general_mat_mul(1.0, w, &xv, 0.0, &mut yv);
        }
        s.finish(y);
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        self.s
            .as_ref()
            .map_or_else(Work::default, Shape::dense_work)
    }
    fn detail(&self) -> String {
        if cfg!(feature = "blas") {
            "ndarray + OpenBLAS".into()
        } else {
            "ndarray (no BLAS)".into()
        }
    }
}

/// sprs's CSR matrix-vector / matrix-matrix product.
#[derive(Default)]
pub struct SprsCsr {
    m: Option<CsMat<f32>>,
    s: Option<Shape>,
}

impl Backend for SprsCsr {
    fn name(&self) -> String {
        "sprs-csr-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.s = Some(Shape::new(&self.name(), layer, batch)?);
        self.m = Some(layer.csr());
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(m), Some(s)) = (&self.m, &self.s) else {
            return Err(BackendError::Unprepared(name));
        };
        check_io(
            &name,
            Arithmetic::F32,
            (s.inputs, s.outputs),
            s.batch,
            &input,
            &output,
        )?;
        let (Data::F32(x), DataMut::F32(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        y.iter_mut().for_each(|v| *v = 0.0);
        if s.batch == 1 {
            sprs::prod::mul_acc_mat_vec_csr(m.view(), x, &mut *y);
        } else {
            let xv = ArrayView2::from_shape((s.inputs, s.batch), x).expect("checked length");
            let yv =
                ArrayViewMut2::from_shape((s.outputs, s.batch), &mut *y).expect("checked length");
            sprs::prod::csr_mulacc_dense_rowmaj(m.view(), xv, yv);
        }
        s.finish(y);
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        let (Some(m), Some(s)) = (&self.m, &self.s) else {
            return Work::default();
        };
        let nnz = m.nnz() as u64;
        Work {
            macs: nnz * s.batch as u64,
            entries: nnz,
            bytes_read: nnz * (4 + std::mem::size_of::<usize>() as u64)
                + (s.outputs as u64 + 1) * 8
                + (s.inputs * s.batch * 4) as u64,
        }
    }
    fn detail(&self) -> String {
        "sprs".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::backend::{batch_input, compare_f32, reference_f64};
    use eie_compress::{CompressOptions, build_layer};

    #[test]
    fn libraries_match_the_reference() {
        let l = build_layer("NT-LSTM", CompressOptions::default()).unwrap();
        for batch in [1usize, 64] {
            let x = batch_input(&l, batch);
            let (r, bound) = reference_f64(&l, &x, batch);
            let backends: [Box<dyn Backend>; 2] = [
                Box::new(NdarrayDense::default()),
                Box::new(SprsCsr::default()),
            ];
            for mut b in backends {
                b.prepare(&l, batch).unwrap();
                let mut y = vec![f32::NAN; l.outputs() * batch];
                b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
                let (err, ok) = compare_f32(&y, &r, &bound);
                assert!(ok, "{} batch {batch}: {err}", b.name());
                let mut short = vec![0.0f32; 3];
                assert!(b.run(Data::F32(&x), DataMut::F32(&mut short)).is_err());
            }
        }
    }
}
