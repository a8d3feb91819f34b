//! CSR f32 SpMV / SpMM over the decoded weights: weight sparsity only, like the paper's MKL CSRMV
//! baseline. Batch 1: a scalar row walk with four accumulators (gathers are slow on the CPUs we target).
//! Batch B: per row, vectors of samples accumulate `w * x[col]`.

use super::hugebuf::HugeBuf;
use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use super::{Prepared, finish_f32};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};

/// CSR f32 products.
pub struct CsrF32 {
    level: IsaLevel,
    threads: Threads,
    indptr: Vec<u32>,
    /// Column indices and values, on huge pages where large (see [`HugeBuf`]).
    indices: HugeBuf<u32>,
    data: HugeBuf<f32>,
    p: Option<Prepared>,
}

impl CsrF32 {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            indptr: Vec::new(),
            indices: HugeBuf::new(),
            data: HugeBuf::new(),
            p: None,
        }
    }
}

struct Rows<'a> {
    indptr: &'a [u32],
    indices: &'a [u32],
    data: &'a [f32],
    x: &'a [f32],
    y: &'a mut [f32],
    batch: usize,
}

impl Kernel for Rows<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let b = self.batch;
        for (r, ptr) in self.indptr.windows(2).enumerate() {
            let (lo, hi) = (ptr[0] as usize, ptr[1] as usize);
            let (cols, vals) = (&self.indices[lo..hi], &self.data[lo..hi]);
            if b == 1 {
                let mut acc = [0.0f32; 4];
                let mut cc = cols.chunks_exact(4);
                let mut vc = vals.chunks_exact(4);
                for (c4, v4) in (&mut cc).zip(&mut vc) {
                    for k in 0..4 {
                        acc[k] += v4[k] * self.x[c4[k] as usize];
                    }
                }
                let tail: f32 = cc
                    .remainder()
                    .iter()
                    .zip(vc.remainder())
                    .map(|(&c, &v)| v * self.x[c as usize])
                    .sum();
                self.y[r] = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
                continue;
            }
            let block = 4 * S::LANES;
            let out = &mut self.y[r * b..(r + 1) * b];
            let mut b0 = 0;
            while b0 + block <= b {
                let mut acc = [s.zero(); 4];
                for (&c, &v) in cols.iter().zip(vals) {
                    let xr = &self.x[c as usize * b + b0..];
                    let wv = s.splat(v);
                    for k in 0..4 {
                        acc[k] = s.mul_add(wv, s.load(&xr[k * S::LANES..]), acc[k]);
                    }
                }
                for (k, v) in acc.iter().enumerate() {
                    s.store(&mut out[b0 + k * S::LANES..], *v);
                }
                b0 += block;
            }
            for (bb, o) in out.iter_mut().enumerate().skip(b0) {
                *o = cols
                    .iter()
                    .zip(vals)
                    .map(|(&c, &v)| v * self.x[c as usize * b + bb])
                    .sum();
            }
        }
    }
}

impl Backend for CsrF32 {
    fn name(&self) -> String {
        "cpu-csr-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.p = Some(Prepared::new(&self.name(), layer, batch, self.level)?);
        let a = layer.csr_arrays();
        let too_big = |what: &str| BackendError::Failed {
            backend: self.name(),
            message: format!("{what} exceeds 32-bit indices"),
        };
        self.indptr = a
            .indptr
            .iter()
            .map(|&p| u32::try_from(p).map_err(|_| too_big("nnz")))
            .collect::<Result<_, _>>()?;
        (self.indices, self.data) = (HugeBuf::new(), HugeBuf::new());
        self.indices = HugeBuf::from_slice(&a.indices);
        self.data = HugeBuf::from_slice(&a.data);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let p = self
            .p
            .as_ref()
            .ok_or_else(|| BackendError::Unprepared(self.name()))?;
        check_io(
            &self.name(),
            Arithmetic::F32,
            (p.inputs, p.outputs),
            p.batch,
            &input,
            &output,
        )?;
        let (Data::F32(x), DataMut::F32(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        let (b, level) = (p.batch, self.level);
        let per = rows_per_task(p.outputs, self.threads.count());
        let (indptr, indices, data) = (&self.indptr, &self.indices, &self.data);
        self.threads.for_rows(y, b, per, |t, ys| {
            let r0 = t * per;
            let rows = ys.len() / b;
            dispatch(
                level,
                Rows {
                    indptr: &indptr[r0..=r0 + rows],
                    indices,
                    data,
                    x,
                    y: ys,
                    batch: b,
                },
            );
        });
        finish_f32(p, y);
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        let Some(p) = &self.p else {
            return Work::default();
        };
        let nnz = self.data.len() as u64;
        Work {
            macs: nnz * p.batch as u64,
            entries: nnz,
            bytes_read: nnz * 8 + self.indptr.len() as u64 * 4 + (p.inputs * p.batch * 4) as u64,
        }
    }
    fn detail(&self) -> String {
        format!("{}, {} thread(s)", self.level.name(), self.threads.count())
    }
}
