//! CSR f32 SpMV / SpMM over the decoded weights: weight sparsity only, like the paper's MKL CSRMV
//! baseline. Batch 1 with AVX-512: per row, 16 entries a step, their inputs gathered (`vgatherdps`);
//! at the lower levels a scalar row walk with four accumulators (AVX2 gathers were not measured on the
//! AVX2-only machines of this kind). Where the CSR arrays are larger than half the last-level cache
//! (they stream from DRAM), the batch-1 walks prefetch the index and value streams 4 KB ahead. Batch
//! B: per row, vectors of samples accumulate `w * x[col]`.

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
    /// Column indices and values, on huge pages where large (see [`HugeBuf`]), followed by [`PAD`]
    /// padding entries (column 0, value 0) so that a row's last vector may run past its end. Every index
    /// is below the layer's input count (checked in `prepare`): the gathers rely on it.
    indices: HugeBuf<u32>,
    data: HugeBuf<f32>,
    /// Whether the batch-1 walks prefetch (the arrays are larger than half the last-level cache).
    prefetch: bool,
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
            prefetch: false,
            p: None,
        }
    }
}

/// Padding entries after the last: one vector at the widest level.
const PAD: usize = 16;

/// How far ahead (entries) the batch-1 walks prefetch their index and value streams, where they stream
/// from DRAM: 4 KB of each. Without it the gather walk read VGG-6's 33 MB of CSR arrays at 9 GB/s, a
/// third of the DRAM probe (in C on Zen 5, best of 10: 1.11 G entries/s; 2.38-2.49 G with 2-8 KB
/// ahead, 1.51 G with 512 B). On arrays that stay in the L3 it cost 5-15 %.
const PREFETCH: usize = 1024;

struct Rows<'a> {
    indptr: &'a [u32],
    indices: &'a [u32],
    data: &'a [f32],
    x: &'a [f32],
    y: &'a mut [f32],
    batch: usize,
    prefetch: bool,
}

impl Kernel for Rows<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let b = self.batch;
        for (r, ptr) in self.indptr.windows(2).enumerate() {
            let (lo, hi) = (ptr[0] as usize, ptr[1] as usize);
            if b == 1 && S::LANES == 16 {
                let (i, d) = (self.indices, self.data);
                self.y[r] = gather_row(s, i, d, lo, hi, self.x, self.prefetch);
                continue;
            }
            let (cols, vals) = (&self.indices[lo..hi], &self.data[lo..hi]);
            if b == 1 {
                let mut acc = [0.0f32; 4];
                let mut cc = cols.chunks_exact(4);
                let mut vc = vals.chunks_exact(4);
                for (j, (c4, v4)) in (&mut cc).zip(&mut vc).enumerate() {
                    if self.prefetch && j % 4 == 0 {
                        let i = lo + 4 * j + PREFETCH;
                        s.prefetch(self.indices.as_ptr().wrapping_add(i).cast());
                        s.prefetch(self.data.as_ptr().wrapping_add(i));
                    }
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

/// One row's product at batch 1 (entries `lo..hi`) with gathers, two vectors a step. The last vector
/// runs past the row (into the next row or the padding): those lanes of the values and of the gathered
/// inputs are set to 0, so that an input the row does not use cannot make it NaN.
#[inline(always)]
fn gather_row<S: Simd>(
    s: S,
    indices: &[u32],
    data: &[f32],
    lo: usize,
    hi: usize,
    x: &[f32],
    prefetch: bool,
) -> f32 {
    let l = S::LANES;
    let (ip, dp) = (indices.as_ptr(), data.as_ptr());
    let (mut a0, mut a1) = (s.zero(), s.zero());
    let mut i = lo;
    while i + 2 * l <= hi {
        if prefetch {
            for k in [PREFETCH, PREFETCH + l] {
                s.prefetch(ip.wrapping_add(i + k).cast());
                s.prefetch(dp.wrapping_add(i + k));
            }
        }
        // SAFETY: every index is below x.len() (checked in prepare).
        let (g0, g1) = unsafe { (s.gather(x, &indices[i..]), s.gather(x, &indices[i + l..])) };
        a0 = s.mul_add(s.load(&data[i..]), g0, a0);
        a1 = s.mul_add(s.load(&data[i + l..]), g1, a1);
        i += 2 * l;
    }
    while i < hi {
        let n = (hi - i).min(l);
        // SAFETY: as above; the padding's indices are 0, and x is not empty.
        let g = s.keep(unsafe { s.gather(x, &indices[i..]) }, n);
        a0 = s.mul_add(s.keep(s.load(&data[i..]), n), g, a0);
        i += l;
    }
    s.sum(s.add(a0, a1))
}

impl Backend for CsrF32 {
    fn name(&self) -> String {
        "cpu-csr-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        // Unprepared until every array is in place: a failed prepare must not leave the new shape beside
        // the old arrays, whose indices the gathers would trust.
        self.p = None;
        let prepared = Prepared::new(&self.name(), layer, batch, self.level)?;
        let a = layer.csr_arrays();
        let name = self.name();
        let failed = |message: String| BackendError::Failed {
            backend: name.clone(),
            message,
        };
        self.indptr = a
            .indptr
            .iter()
            .map(|&p| u32::try_from(p).map_err(|_| failed("nnz exceeds 32-bit indices".into())))
            .collect::<Result<_, _>>()?;
        if let Some(&c) = a.indices.iter().find(|&&c| c as usize >= layer.inputs()) {
            return Err(failed(format!(
                "column index {c} is past the layer's {} inputs",
                layer.inputs()
            )));
        }
        (self.indices, self.data) = (HugeBuf::new(), HugeBuf::new());
        let mut indices = a.indices;
        let mut data = a.data;
        indices.resize(indices.len() + PAD, 0);
        data.resize(data.len() + PAD, 0.0);
        self.prefetch = 8 * data.len() > super::bandwidth::llc_bytes() / 2;
        self.indices = HugeBuf::from_slice(&indices);
        self.data = HugeBuf::from_slice(&data);
        self.p = Some(prepared);
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
        let prefetch = self.prefetch;
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
                    prefetch,
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
        let nnz = self.data.len().saturating_sub(PAD) as u64;
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
