//! Dense f32 GEMV / GEMM over the decoded weights (zeros included): the CPU's "dense" row of Table IV.
//!
//! Batch 1: one dot product per row, four independent vector accumulators. Batch B: tiles of 4 rows x
//! 4 vectors of samples (16 accumulators), W read once per tile and each x row read once per 4 rows.

use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use super::{Prepared, finish_f32};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};

/// Dense f32 matrix-vector (batch 1) and matrix-matrix (batch B) products.
pub struct DenseF32 {
    level: IsaLevel,
    threads: Threads,
    w: Vec<f32>,
    p: Option<Prepared>,
}

impl DenseF32 {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            w: Vec::new(),
            p: None,
        }
    }
}

struct Rows<'a> {
    w: &'a [f32],
    x: &'a [f32],
    y: &'a mut [f32],
    inputs: usize,
    batch: usize,
}

impl Kernel for Rows<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (n, b) = (self.inputs, self.batch);
        if b == 1 {
            // Eight rows at a time: eight memory streams in flight instead of one.
            let mut quads = self.w.chunks_exact(8 * n);
            let mut ys = self.y.chunks_exact_mut(8);
            for (rows, y) in (&mut quads).zip(&mut ys) {
                y.copy_from_slice(&dot_rows::<S, 8>(s, rows, n, self.x));
            }
            for (row, y) in quads.remainder().chunks_exact(n).zip(ys.into_remainder()) {
                *y = dot(s, row, self.x);
            }
            return;
        }
        let rows = self.y.len() / b;
        let block = 4 * S::LANES;
        let mut i = 0;
        while i < rows {
            let tile = (rows - i).min(4);
            let mut b0 = 0;
            while b0 + block <= b {
                let mut acc = [[s.zero(); 4]; 4];
                for j in 0..n {
                    let xr = &self.x[j * b + b0..j * b + b0 + block];
                    let xv = [
                        s.load(xr),
                        s.load(&xr[S::LANES..]),
                        s.load(&xr[2 * S::LANES..]),
                        s.load(&xr[3 * S::LANES..]),
                    ];
                    for (r, acc_r) in acc.iter_mut().enumerate().take(tile) {
                        let wv = s.splat(self.w[(i + r) * n + j]);
                        for k in 0..4 {
                            acc_r[k] = s.mul_add(wv, xv[k], acc_r[k]);
                        }
                    }
                }
                for (r, acc_r) in acc.iter().enumerate().take(tile) {
                    let out = &mut self.y[(i + r) * b + b0..];
                    for (k, v) in acc_r.iter().enumerate() {
                        s.store(&mut out[k * S::LANES..], *v);
                    }
                }
                b0 += block;
            }
            for r in 0..tile {
                let row = &self.w[(i + r) * n..(i + r + 1) * n];
                for bb in b0..b {
                    self.y[(i + r) * b + bb] = row
                        .iter()
                        .enumerate()
                        .map(|(j, &w)| w * self.x[j * b + bb])
                        .sum();
                }
            }
            i += tile;
        }
    }
}

/// `R` dot products (rows `rows[k * n..(k + 1) * n]`) against the same `x`: `R` memory streams in flight,
/// two vector accumulators per row.
#[inline(always)]
fn dot_rows<S: Simd, const R: usize>(s: S, rows: &[f32], n: usize, x: &[f32]) -> [f32; R] {
    let l = S::LANES;
    let mut acc = [[s.zero(); 2]; R];
    let full = n / (2 * l) * (2 * l);
    let mut j = 0;
    while j < full {
        let x0 = s.load(&x[j..]);
        let x1 = s.load(&x[j + l..]);
        for (r, a) in acc.iter_mut().enumerate() {
            let w = &rows[r * n + j..];
            a[0] = s.mul_add(s.load(w), x0, a[0]);
            a[1] = s.mul_add(s.load(&w[l..]), x1, a[1]);
        }
        j += 2 * l;
    }
    std::array::from_fn(|r| {
        let tail: f32 = rows[r * n + full..(r + 1) * n]
            .iter()
            .zip(&x[full..])
            .map(|(p, q)| p * q)
            .sum();
        s.sum(s.add(acc[r][0], acc[r][1])) + tail
    })
}

/// Dot product with four vector accumulators.
#[inline(always)]
fn dot<S: Simd>(s: S, a: &[f32], x: &[f32]) -> f32 {
    let l = S::LANES;
    let mut acc = [s.zero(); 4];
    let mut ac = a.chunks_exact(4 * l);
    let mut xc = x.chunks_exact(4 * l);
    for (av, xv) in (&mut ac).zip(&mut xc) {
        for k in 0..4 {
            acc[k] = s.mul_add(s.load(&av[k * l..]), s.load(&xv[k * l..]), acc[k]);
        }
    }
    let (ar, xr) = (ac.remainder(), xc.remainder());
    let mut a1 = ar.chunks_exact(l);
    let mut x1 = xr.chunks_exact(l);
    for (av, xv) in (&mut a1).zip(&mut x1) {
        acc[0] = s.mul_add(s.load(av), s.load(xv), acc[0]);
    }
    let tail: f32 = a1
        .remainder()
        .iter()
        .zip(x1.remainder())
        .map(|(a, b)| a * b)
        .sum();
    s.sum(s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]))) + tail
}

impl Backend for DenseF32 {
    fn name(&self) -> String {
        "cpu-dense-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.p = Some(Prepared::new(&self.name(), layer, batch, self.level)?);
        self.w = layer.dense_weights().into_raw_vec_and_offset().0;
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
        let (n, b, level) = (p.inputs, p.batch, self.level);
        let per = rows_per_task(p.outputs, self.threads.count());
        let w = &self.w;
        self.threads.for_rows(y, b, per, |t, ys| {
            let rows = t * per..t * per + ys.len() / b;
            dispatch(
                level,
                Rows {
                    w: &w[rows.start * n..rows.end * n],
                    x,
                    y: ys,
                    inputs: n,
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
        let elems = (p.outputs * p.inputs) as u64;
        Work {
            macs: elems * p.batch as u64,
            entries: elems,
            bytes_read: elems * 4 + (p.inputs * p.batch * 4) as u64,
        }
    }
    fn detail(&self) -> String {
        format!("{}, {} thread(s)", self.level.name(), self.threads.count())
    }
}
