//! EIE-format SpMV / SpMM on the paper's own bytes: the layer's [`EieEncoding`] walked as it is, in f32
//! ([`EiePaperF32`]) and in EIE's 16-bit fixed point ([`EiePaperFixed`]), so that one CPU row of the
//! tables runs on exactly the bytes the EIE model simulates.
//!
//! # What is read
//!
//! Per PE `k` (row `i` belongs to PE `i mod N`, local row `i / N`), the bytes
//! [`EieEncoding::packed_entries`] gives (1 byte per entry: codebook index `v` in the high bits,
//! relative row index `z` in the low `index_bits`; for the paper's 4 + 4 bits, high nibble `v`, low
//! nibble `z`), padding entries `(v = 0, z = 2^index_bits - 1)` included, and the PE's own column
//! pointers (`cols + 1` u32, the bias column last). Nothing is re-encoded: the entry bytes are the
//! model's, byte for byte (a test checks it).
//!
//! # How
//!
//! Each PE walks its own slice, as EIE's PEs do, on the activations the LNZD scan broadcasts (the
//! non-zero ones, then the bias column with activation 1): per entry `r += z; acc[r] += codebook[v] * a;
//! r += 1`. A PE's accumulators (`ceil(rows / N)` of them, 64 for a 4096-row layer on 64 PEs) stay in
//! L1; the PEs are split over the threads in contiguous groups (each thread owns its PEs' rows, no
//! reduction), and the accumulators are interleaved back into `y` at the end (row `l * N + k`).
//!
//! - **Batch 1**: padding adds `codebook[0] * a = 0`, as EIE's datapath does. The walk is scalar (the
//!   prefix sum of `z` is serial); it is compiled at each ISA level through [`dispatch`] like the other
//!   CPU kernels, but gains little from wider vectors.
//! - **Batch B** (feature-major input): a column is walked when any sample's activation is non-zero, and
//!   each entry updates its row's `B` accumulators with vectors of samples (`acc[r][..] += w * x[j][..]`);
//!   padding entries are skipped. Accumulators of one PE (`ceil(rows / N) x B`) stay in L1/L2; the
//!   input's row `j` is read once per PE, which is the price of EIE's column-major, PE-interleaved
//!   layout on a CPU.
//!
//! The cost against our own layout ([`super::eie`], 2-byte entries, contiguous rows per thread, one
//! column pointer pair per column) is the per-PE column pointers (`N` pairs per non-zero column), the
//! 4-bit `z`'s padding entries, and at batch B the input read once per PE.

use super::Prepared;
use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use eie_compress::eie::rows_of_pe;
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, EieEncoding, FixedPointSpec,
    Work, check_io,
};

/// The layer's EIE encoding, as the kernel reads it.
struct PaperLayout {
    /// Rows of the matrix (the layer's outputs).
    rows: usize,
    /// PE count `N`.
    pes: usize,
    /// Accumulators per PE: `ceil(rows / N)` (PE 0 has that many rows; later PEs as many or one fewer).
    stride: usize,
    /// Width of `z` in an entry byte.
    index_bits: u32,
    /// Per PE: its entry bytes (`EieEncoding::packed_entries(k)`).
    entries: Vec<Vec<u8>>,
    /// Per PE: its column pointers (`cols + 1`, the bias column last).
    col_ptr: Vec<Vec<u32>>,
    /// Per encoded column, over all PEs: entries (padding included) and real (non-padding) entries.
    col_entries: Vec<u64>,
    col_real: Vec<u64>,
}

impl PaperLayout {
    fn new(name: &str, e: &EieEncoding) -> Result<Self, BackendError> {
        let unavailable = |why: String| BackendError::Unavailable {
            backend: name.to_string(),
            why,
        };
        let (pes, cols, rows) = (e.pes(), e.cols(), e.rows());
        let mut entries = Vec::with_capacity(pes);
        let mut col_ptr = Vec::with_capacity(pes);
        let (mut col_entries, mut col_real) = (vec![0u64; cols], vec![0u64; cols]);
        for k in 0..pes {
            let bytes = e.packed_entries(k).ok_or_else(|| {
                unavailable(format!(
                    "{}-bit weight indices and {}-bit relative indices do not fit one byte",
                    e.weight_bits(),
                    e.index_bits()
                ))
            })?;
            let s = e.slice(k);
            let local_rows = rows_of_pe(rows, pes, k);
            for j in 0..cols {
                let (a, b) = (s.col_ptr[j] as usize, s.col_ptr[j + 1] as usize);
                // The invariant the unchecked walks rely on (EieEncoding guarantees it; checked again
                // here so that a violation is an error, not memory corruption).
                let walked: usize = s.z[a..b].iter().map(|&z| z as usize + 1).sum();
                if walked > local_rows {
                    return Err(BackendError::Failed {
                        backend: name.to_string(),
                        message: format!(
                            "PE {k} column {j} walks to local row {walked} of {local_rows}"
                        ),
                    });
                }
                col_entries[j] += (b - a) as u64;
                col_real[j] += s.v[a..b].iter().filter(|&&v| v != 0).count() as u64;
            }
            entries.push(bytes);
            col_ptr.push(s.col_ptr.clone());
        }
        Ok(Self {
            rows,
            pes,
            stride: rows.div_ceil(pes),
            index_bits: e.index_bits() as u32,
            entries,
            col_ptr,
            col_entries,
            col_real,
        })
    }

    /// Scatters PE-major accumulators (`stride * batch` per PE) into feature-major rows of `y`.
    fn interleave<A: Copy, T>(&self, acc: &[A], batch: usize, y: &mut [T], f: impl Fn(A) -> T) {
        for k in 0..self.pes {
            let pe = &acc[k * self.stride * batch..];
            for l in 0..rows_of_pe(self.rows, self.pes, k) {
                let i = l * self.pes + k;
                for b in 0..batch {
                    y[i * batch + b] = f(pe[l * batch + b]);
                }
            }
        }
    }
}

/// How a walk accumulates: f32 addition, or EIE's wrapping 32-bit integer addition.
trait Accumulate: Copy + Default + Send + Sync {
    fn accumulate(self, x: Self) -> Self;
}

impl Accumulate for f32 {
    #[inline(always)]
    fn accumulate(self, x: f32) -> f32 {
        self + x
    }
}

impl Accumulate for i32 {
    #[inline(always)]
    fn accumulate(self, x: i32) -> i32 {
        self.wrapping_add(x)
    }
}

/// Batch 1: PEs `pe0..pe0 + acc.len() / stride` walk the broadcast activations `nz`.
struct PeWalk<'a, A, T, P> {
    layout: &'a PaperLayout,
    pe0: usize,
    nz: &'a [(u32, A)],
    acc: &'a mut [T],
    /// `codebook[v] * a` in the backend's arithmetic.
    product: &'a P,
}

impl<A: Copy, T: Accumulate, P: Fn(u8, A) -> T> Kernel for PeWalk<'_, A, T, P> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, _s: S) {
        let l = self.layout;
        let (ib, zmask) = (l.index_bits, ((1u16 << l.index_bits) - 1) as u8);
        self.acc.iter_mut().for_each(|v| *v = T::default());
        for (p, acc) in self.acc.chunks_mut(l.stride).enumerate() {
            let k = self.pe0 + p;
            let (entries, ptr) = (&l.entries[k][..], &l.col_ptr[k][..]);
            let len = acc.len();
            let acc = acc.as_mut_ptr();
            for &(j, a) in self.nz {
                let (s, e) = (ptr[j as usize] as usize, ptr[j as usize + 1] as usize);
                let mut r = 0usize;
                for &b in &entries[s..e] {
                    r += (b & zmask) as usize;
                    debug_assert!(r < len);
                    // SAFETY: `PaperLayout::new` checked that no column of this PE walks past its
                    // local rows, and `acc` holds `stride >= local rows` accumulators of this PE.
                    unsafe {
                        let q = acc.add(r);
                        *q = (*q).accumulate((self.product)(b >> ib, a));
                    }
                    r += 1;
                }
            }
        }
    }
}

/// Batch B, f32: PEs `pe0..` walk the columns `cols`, each entry updating its row's `batch` accumulators.
struct PeWalkBatchF32<'a> {
    layout: &'a PaperLayout,
    pe0: usize,
    cols: &'a [u32],
    codebook: &'a [f32; 256],
    /// Feature-major input.
    x: &'a [f32],
    /// The bias column's activations (1 for every sample), read for column `x.len() / batch`.
    ones: &'a [f32],
    acc: &'a mut [f32],
    batch: usize,
}

impl Kernel for PeWalkBatchF32<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let l = self.layout;
        let b = self.batch;
        let (ib, zmask) = (l.index_bits, ((1u16 << l.index_bits) - 1) as u8);
        let vec_end = b - b % S::LANES;
        self.acc.iter_mut().for_each(|v| *v = 0.0);
        for (p, acc) in self.acc.chunks_mut(l.stride * b).enumerate() {
            let k = self.pe0 + p;
            let (entries, ptr) = (&l.entries[k][..], &l.col_ptr[k][..]);
            for &j in self.cols {
                let j = j as usize;
                let (st, en) = (ptr[j] as usize, ptr[j + 1] as usize);
                let xr = self.x.get(j * b..(j + 1) * b).unwrap_or(self.ones);
                let mut r = 0usize;
                for &e in &entries[st..en] {
                    r += (e & zmask) as usize;
                    let v = e >> ib;
                    if v != 0 {
                        let w = self.codebook[v as usize];
                        let out = &mut acc[r * b..(r + 1) * b];
                        let wv = s.splat(w);
                        let mut c = 0;
                        while c < vec_end {
                            let y = s.mul_add(wv, s.load(&xr[c..]), s.load(&out[c..]));
                            s.store(&mut out[c..], y);
                            c += S::LANES;
                        }
                        for (o, &xv) in out[vec_end..].iter_mut().zip(&xr[vec_end..]) {
                            *o += w * xv;
                        }
                    }
                    r += 1;
                }
            }
        }
    }
}

/// Batch B, fixed point: as [`PeWalkBatchF32`] with EIE's products and wrapping i32 accumulators (the
/// sample loop is plain Rust, vectorised by the compiler at each level's target features).
struct PeWalkBatchFixed<'a> {
    layout: &'a PaperLayout,
    pe0: usize,
    cols: &'a [u32],
    wq: &'a [i16; 256],
    spec: FixedPointSpec,
    x: &'a [i16],
    /// The bias column's activations (1 in the activation format for every sample).
    ones: &'a [i16],
    acc: &'a mut [i32],
    batch: usize,
}

impl Kernel for PeWalkBatchFixed<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, _s: S) {
        let l = self.layout;
        let b = self.batch;
        let (ib, zmask) = (l.index_bits, ((1u16 << l.index_bits) - 1) as u8);
        let (shift, round) = (self.spec.weight.frac as u32, self.spec.round_bias());
        self.acc.iter_mut().for_each(|v| *v = 0);
        for (p, acc) in self.acc.chunks_mut(l.stride * b).enumerate() {
            let k = self.pe0 + p;
            let (entries, ptr) = (&l.entries[k][..], &l.col_ptr[k][..]);
            for &j in self.cols {
                let j = j as usize;
                let (st, en) = (ptr[j] as usize, ptr[j + 1] as usize);
                let xr = self.x.get(j * b..(j + 1) * b).unwrap_or(self.ones);
                let mut r = 0usize;
                for &e in &entries[st..en] {
                    r += (e & zmask) as usize;
                    let v = e >> ib;
                    if v != 0 {
                        let w = self.wq[v as usize] as i32;
                        let out = &mut acc[r * b..(r + 1) * b];
                        for (o, &xv) in out.iter_mut().zip(xr) {
                            *o = o.wrapping_add((w * xv as i32 + round) >> shift);
                        }
                    }
                    r += 1;
                }
            }
        }
    }
}

/// What both backends keep of the prepared layer.
struct PaperData {
    p: Prepared,
    layout: PaperLayout,
    /// Encoded columns: the inputs, plus the bias column when the layer has one.
    cols: usize,
    /// PE-major accumulators, `stride * batch` per PE.
    acc_f32: Vec<f32>,
    acc_i32: Vec<i32>,
    /// Columns (activations) of the current input the PEs walk (scratch, reused).
    nz_cols: Vec<u32>,
    /// The bias column's activations at batch B (1.0, and 1 in the activation format).
    ones_f32: Vec<f32>,
    ones_i16: Vec<i16>,
}

impl PaperData {
    fn new(
        name: &str,
        layer: &CompressedLayer,
        batch: usize,
        level: IsaLevel,
    ) -> Result<Self, BackendError> {
        let p = Prepared::new(name, layer, batch, level)?;
        let layout = PaperLayout::new(name, layer.eie())?;
        let n = layout.pes * layout.stride * batch;
        Ok(Self {
            cols: layer.eie().cols(),
            layout,
            acc_f32: Vec::with_capacity(n),
            acc_i32: Vec::with_capacity(n),
            nz_cols: Vec::with_capacity(layer.eie().cols()),
            ones_f32: vec![1.0; batch],
            ones_i16: vec![layer.fixed().act.quantize(1.0); batch],
            p,
        })
    }

    fn has_bias(&self) -> bool {
        self.cols > self.p.inputs
    }

    /// The columns any sample activates (EIE's LNZD over a batch), the bias column last.
    fn scan_batch<T: Copy + PartialEq + Default>(&mut self, x: &[T]) {
        let b = self.p.batch;
        let zero = T::default();
        self.nz_cols.clear();
        self.nz_cols.extend(
            x.chunks(b)
                .enumerate()
                .filter(|(_, row)| row.iter().any(|&v| v != zero))
                .map(|(j, _)| j as u32),
        );
        if self.has_bias() {
            self.nz_cols.push(self.p.inputs as u32);
        }
    }

    /// The work of one pass: entries of the columns walked, their pointers, the input.
    fn work(&self, input: Data<'_>) -> Work {
        let b = self.p.batch;
        let l = &self.layout;
        let (mut entries, mut real, mut walked) = (0u64, 0u64, 0u64);
        for j in 0..self.cols {
            let active = j >= self.p.inputs || (0..b).any(|s| input.is_nonzero(j * b + s));
            if active {
                entries += l.col_entries[j];
                real += l.col_real[j];
                walked += 1;
            }
        }
        let act_bytes = if matches!(input, Data::F32(_)) { 4 } else { 2 };
        Work {
            macs: real * b as u64,
            entries,
            // One byte per entry; two 4-byte column pointers per PE per walked column; the input.
            bytes_read: entries
                + walked * l.pes as u64 * 8
                + (self.p.inputs * b * act_bytes) as u64,
        }
    }
}

/// PEs per thread task.
fn pes_per_task(layout: &PaperLayout, threads: &Threads) -> usize {
    rows_per_task(layout.pes, threads.count())
}

/// EIE-format SpMV in f32 on the paper's bytes.
pub struct EiePaperF32 {
    level: IsaLevel,
    threads: Threads,
    d: Option<PaperData>,
    codebook: [f32; 256],
    nz: Vec<(u32, f32)>,
}

impl EiePaperF32 {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            d: None,
            codebook: [0.0; 256],
            nz: Vec::new(),
        }
    }
}

impl Backend for EiePaperF32 {
    fn name(&self) -> String {
        "cpu-eie-paper-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        let d = PaperData::new(&self.name(), layer, batch, self.level)?;
        self.codebook = [0.0; 256];
        let cb = layer.codebook().values();
        self.codebook[..cb.len()].copy_from_slice(cb);
        self.nz = Vec::with_capacity(d.cols);
        self.d = Some(d);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let d = self
            .d
            .as_mut()
            .ok_or_else(|| BackendError::Unprepared(name.clone()))?;
        check_io(
            &name,
            Arithmetic::F32,
            (d.p.inputs, d.p.outputs),
            d.p.batch,
            &input,
            &output,
        )?;
        let (Data::F32(x), DataMut::F32(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        let (level, b) = (self.level, d.p.batch);
        let per = pes_per_task(&d.layout, &self.threads);
        let cb = &self.codebook;
        let mut acc = std::mem::take(&mut d.acc_f32);
        // The walks zero their own accumulators; sized once.
        acc.resize(d.layout.pes * d.layout.stride * b, 0.0);
        if b == 1 {
            let nz = &mut self.nz;
            nz.clear();
            nz.extend(
                x.iter()
                    .enumerate()
                    .filter(|(_, a)| **a != 0.0)
                    .map(|(j, &a)| (j as u32, a)),
            );
            if d.has_bias() {
                nz.push((d.p.inputs as u32, 1.0));
            }
            let product = |v: u8, a: f32| cb[v as usize] * a;
            let (layout, nz) = (&d.layout, &self.nz[..]);
            self.threads
                .for_rows(&mut acc, layout.stride, per, |t, chunk| {
                    let walk = PeWalk {
                        layout,
                        pe0: t * per,
                        nz,
                        acc: chunk,
                        product: &product,
                    };
                    dispatch(level, walk);
                });
            d.layout.interleave(&acc, 1, y, |v| v);
            if d.p.relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        } else {
            d.scan_batch(x);
            let (layout, cols, ones) = (&d.layout, &d.nz_cols[..], &d.ones_f32[..]);
            self.threads
                .for_rows(&mut acc, layout.stride * b, per, |t, chunk| {
                    let walk = PeWalkBatchF32 {
                        layout,
                        pe0: t * per,
                        cols,
                        codebook: cb,
                        x,
                        ones,
                        acc: chunk,
                        batch: b,
                    };
                    dispatch(level, walk);
                });
            d.layout.interleave(&acc, b, y, |v| v);
            if d.p.relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        d.acc_f32 = acc;
        Ok(())
    }
    fn work(&self, input: Data<'_>) -> Work {
        self.d
            .as_ref()
            .map_or_else(Work::default, |d| d.work(input))
    }
    fn detail(&self) -> String {
        let pes = self.d.as_ref().map_or(0, |d| d.layout.pes);
        format!(
            "{}, {} thread(s), the paper's 8-bit entries on {pes} PEs",
            self.level.name(),
            self.threads.count()
        )
    }
}

/// EIE-format SpMV in EIE's 16-bit fixed point on the paper's bytes: bit-exact with `eie_compress`'s
/// reference (and so with the EIE model).
pub struct EiePaperFixed {
    level: IsaLevel,
    threads: Threads,
    d: Option<PaperData>,
    spec: Option<FixedPointSpec>,
    wq: [i16; 256],
    one: i16,
    nz: Vec<(u32, i16)>,
}

impl EiePaperFixed {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            d: None,
            spec: None,
            wq: [0; 256],
            one: 0,
            nz: Vec::new(),
        }
    }
}

impl Backend for EiePaperFixed {
    fn name(&self) -> String {
        "cpu-eie-paper-fixed".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::Fixed16
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        let d = PaperData::new(&self.name(), layer, batch, self.level)?;
        let spec = layer.fixed();
        let q = layer.fixed_codebook();
        self.wq = [0; 256];
        self.wq[..q.len()].copy_from_slice(&q);
        self.one = spec.act.quantize(1.0);
        self.nz = Vec::with_capacity(d.cols);
        self.spec = Some(spec);
        self.d = Some(d);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(d), Some(spec)) = (self.d.as_mut(), self.spec) else {
            return Err(BackendError::Unprepared(name));
        };
        check_io(
            &name,
            Arithmetic::Fixed16,
            (d.p.inputs, d.p.outputs),
            d.p.batch,
            &input,
            &output,
        )?;
        let (Data::Fixed(x), DataMut::Fixed(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        let (level, b, relu) = (self.level, d.p.batch, d.p.relu);
        let per = pes_per_task(&d.layout, &self.threads);
        let wq = &self.wq;
        let mut acc = std::mem::take(&mut d.acc_i32);
        // The walks zero their own accumulators; sized once.
        acc.resize(d.layout.pes * d.layout.stride * b, 0);
        if b == 1 {
            let nz = &mut self.nz;
            nz.clear();
            nz.extend(
                x.iter()
                    .enumerate()
                    .filter(|(_, a)| **a != 0)
                    .map(|(j, &a)| (j as u32, a)),
            );
            if d.has_bias() {
                nz.push((d.p.inputs as u32, self.one));
            }
            let product = |v: u8, a: i16| spec.product(wq[v as usize], a);
            let (layout, nz) = (&d.layout, &self.nz[..]);
            self.threads
                .for_rows(&mut acc, layout.stride, per, |t, chunk| {
                    let walk = PeWalk {
                        layout,
                        pe0: t * per,
                        nz,
                        acc: chunk,
                        product: &product,
                    };
                    dispatch(level, walk);
                });
        } else {
            d.scan_batch(x);
            let (layout, cols, ones) = (&d.layout, &d.nz_cols[..], &d.ones_i16[..]);
            self.threads
                .for_rows(&mut acc, layout.stride * b, per, |t, chunk| {
                    let walk = PeWalkBatchFixed {
                        layout,
                        pe0: t * per,
                        cols,
                        wq,
                        spec,
                        x,
                        ones,
                        acc: chunk,
                        batch: b,
                    };
                    dispatch(level, walk);
                });
        }
        d.layout.interleave(&acc, b, y, |a| spec.finish(a, relu));
        d.acc_i32 = acc;
        Ok(())
    }
    fn work(&self, input: Data<'_>) -> Work {
        self.d
            .as_ref()
            .map_or_else(Work::default, |d| d.work(input))
    }
    fn detail(&self) -> String {
        let pes = self.d.as_ref().map_or(0, |d| d.layout.pes);
        format!(
            "{}, {} thread(s), the paper's 8-bit entries on {pes} PEs{}",
            self.level.name(),
            self.threads.count(),
            self.spec.map_or("", |s| s.rounding_note())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::backend::{
        batch_input, compare_f32, quantize_input, reference_f64, reference_fixed,
    };
    use eie_compress::{CompressOptions, LayerSpec, build_from_spec};

    fn layer(inputs: usize, outputs: usize, density: f64) -> CompressedLayer {
        let spec = LayerSpec::new("paper", inputs, outputs, density, 0.5, true).unwrap();
        build_from_spec(&spec, CompressOptions::default()).unwrap()
    }

    /// The entry bytes walked are the model's (`packed_entries`), padding included, byte for byte.
    #[test]
    fn the_layout_holds_the_encodings_own_bytes() {
        let l = layer(200, 3000, 0.02);
        let e = l.eie();
        let p = PaperLayout::new("t", e).unwrap();
        assert!(e.padding_entries() > 0, "the test layer must need padding");
        for k in 0..e.pes() {
            assert_eq!(p.entries[k], e.packed_entries(k).unwrap(), "PE {k}");
            assert_eq!(p.col_ptr[k], e.slice(k).col_ptr, "PE {k}");
        }
        assert_eq!(
            p.entries.iter().map(Vec::len).sum::<usize>(),
            e.total_entries()
        );
        assert_eq!(
            p.col_real.iter().sum::<u64>(),
            (e.total_entries() - e.padding_entries()) as u64
        );
    }

    /// Other PE counts and relative-index widths (`reencode`): f32 within the bound, fixed point bit for
    /// bit, on 1 and 3 threads, at batch 1 and 5 (a SIMD tail).
    #[test]
    fn any_pe_count_and_index_width() {
        let base = layer(130, 77, 0.1);
        for (pes, bits) in [(1usize, 4u8), (3, 2), (64, 4), (200, 3), (7, 1)] {
            let l = base.reencode(pes, bits).unwrap();
            for par in [Par::Seq, Par::Threads(3)] {
                for batch in [1usize, 5] {
                    let x = batch_input(&l, batch);
                    let mut f = EiePaperF32::new(IsaLevel::best(), par);
                    f.prepare(&l, batch).unwrap();
                    let mut y = vec![f32::NAN; l.outputs() * batch];
                    f.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
                    let (r, bound) = reference_f64(&l, &x, batch);
                    let (err, ok) = compare_f32(&y, &r, &bound);
                    assert!(ok, "{pes} PEs, {bits} bits, batch {batch}: {err}");
                    let xq = quantize_input(&l, &x);
                    let mut q = EiePaperFixed::new(IsaLevel::best(), par);
                    q.prepare(&l, batch).unwrap();
                    let mut yq = vec![i16::MIN; l.outputs() * batch];
                    q.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)).unwrap();
                    assert_eq!(
                        yq,
                        reference_fixed(&l, &xq, batch),
                        "{pes} PEs, {bits} bits"
                    );
                }
            }
        }
    }

    /// Entries that do not fit one byte (5-bit weights with 4-bit relative indices) are refused.
    #[test]
    fn wider_entries_are_unavailable_not_a_panic() {
        let base = layer(40, 30, 0.2);
        let opts = CompressOptions {
            bits: 5,
            ..CompressOptions::default()
        };
        let spec = LayerSpec::new("wide", 40, 30, 0.2, 0.5, true).unwrap();
        let wide = build_from_spec(&spec, opts).unwrap();
        let mut b = EiePaperF32::new(IsaLevel::Portable, Par::Seq);
        assert!(b.prepare(&base, 1).is_ok());
        match b.prepare(&wide, 1) {
            Err(BackendError::Unavailable { why, .. }) => {
                assert!(why.contains("one byte"), "{why}")
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
}
