//! Dense f32 GEMV / GEMM over the decoded weights (zeros included): the CPU's "dense" row of Table IV.
//!
//! Batch 1: one dot product per row, six rows at a time with AVX2 (as many memory streams in flight as
//! the accumulators fit the registers), two vector accumulators per row; with AVX-512 (measured faster
//! on the Zen 5 core that has it) one row at a time with four. Every row starts on a 64-byte boundary
//! (rows padded with zeros to whole cache lines in `prepare`) and x is copied to one before the product,
//! so that no vector load straddles two cache lines (x came at any 4-byte offset, and rows of 1201 or
//! 600 inputs start anywhere): on AVX-512 (Zen 5) 1.02-1.26x faster than unaligned on one thread (all
//! 10 layers, 6 interleaved rounds; NT-LSTM 1.26x, VGG-8 1.23x, NT-Wd 1.22x, VGG-6 from DRAM 1.12x); on
//! two threads 1.03-1.22x on five layers that fit the L3 and 0.93x (0.81-1.07) on VGG-6, from DRAM (4
//! rounds). The padding reads at most 15 zeros per row more (1.3 % of NT-Wd, the most).
//!
//! Batch B > 1: a blocked GEMM in the GotoBLAS / BLIS manner, shaped for this product (W large and read once,
//! B small, x feature-major):
//!
//! - x is packed once per run (both threads share it) into panels of `NR = 2 x LANES` samples: per block of
//!   KC inputs and per panel, `NR` values per input, contiguous and 64-byte aligned, zeros past the last
//!   sample. The whole block (KC x B) stays in L2 across the MC rows of a row block ([`BLOCKING`]).
//! - W is not packed: its rows are read where they lie. A tile's [`MR`] row slices (MR x KC) come from
//!   memory once and are reused from L1/L2 by each of the B / NR sample panels. Packing W, as a general
//!   GEMM does, would copy every weight once per run (W is read once per run at any batch), which is
//!   estimated, not measured, at several per cent of the product at batch 64. Instead, each tile's first
//!   panel prefetches the next tile's W lines into L2 ([`Simd::prefetch`]): six short strided streams are
//!   more than the hardware prefetcher follows: without it a 4096 x 4096 layer ran at about two thirds of
//!   the speed of a shape whose W fits in L2 (`tune_blocking`; with it, within a few per cent).
//! - The register tile is MR = 6 rows x NR samples: 12 vector accumulators (AVX2: 12 of the 16 ymm registers),
//!   per input two loads of x and six broadcasts of W feeding twelve FMAs. Each tile adds its sum over one
//!   block into y (the first block stores), so y is read and written K / KC times, in L1/L2. The inner loop
//!   goes one cache line of W (16 inputs) at a time, four inputs per iteration.
//! - Edges: a last row tile of 1..5 rows uses the same tile code with fewer rows; the last sample panel is
//!   zero-padded in x and only its `B mod NR` real samples are written to y; the last input block is shorter.
//! - Threads split the rows (multiples of MR) as the other kernels do; each thread walks its own rows.

use super::hugebuf::HugeBuf;
use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use super::{Prepared, aligned_in, finish_f32};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};

/// Dense f32 matrix-vector (batch 1) and matrix-matrix (batch B) products.
pub struct DenseF32 {
    level: IsaLevel,
    threads: Threads,
    /// W, row-major, on huge pages where large (see [`HugeBuf`]); `ld` apart (batch 1: rows padded with
    /// zeros to whole cache lines).
    w: HugeBuf<f32>,
    ld: usize,
    /// Batch > 1: packed x; batch 1: x padded like a row of W. With room to start it on a 64-byte
    /// boundary; sized in `prepare`.
    xp: Vec<f32>,
    p: Option<Prepared>,
}

impl DenseF32 {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            w: HugeBuf::new(),
            ld: 0,
            xp: Vec::new(),
            p: None,
        }
    }
}

/// Batch 1: `y = W x` for the rows of `w`.
struct Gemv<'a> {
    w: &'a [f32],
    x: &'a [f32],
    y: &'a mut [f32],
    inputs: usize,
}

impl Kernel for Gemv<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        if S::LANES >= 16 {
            // One row at a time, in memory order (one stream through the matrix), with AVX-512 (see
            // `rows`).
            for (row, y) in self.w.chunks_exact(self.inputs).zip(self.y.iter_mut()) {
                *y = dot(s, row, self.x);
            }
        } else {
            self.rows::<S, 6>(s);
        }
    }
}

impl Gemv<'_> {
    /// `R` rows at a time: `R` memory streams in flight instead of one, `2 R` accumulators and two
    /// input vectors in registers. With AVX2's 16 registers 6 rows fit and 8 did not (the compiler
    /// spilled accumulators to the stack): 6 rows ran 1.08-1.21x faster than 8 on one thread (Alex-8,
    /// VGG-8, NT-We, NT-LSTM, NT-Wd, VGG-7, FC8; 4 interleaved rounds, Zen 3), 5 and 7 within noise of 6.
    /// With AVX-512 (this VM's other variant: AMD family 26, Zen 5) one row at a time with four
    /// accumulators beat 8 rows on every layer: 1.24-1.87x on one thread (8 layers, 5 interleaved
    /// rounds), 1.27-1.65x on two (6 layers, 3 rounds). All those runs predate the unchecked loads of
    /// [`dot_rows`]: until then the compiler wrote every accumulator back to the stack after each FMA
    /// (seen in the AVX2 build's assembly; the AVX-512 one was not looked at), which cost the AVX2
    /// kernel 1.13-1.51x on one thread (9 layers, 5 interleaved rounds, Zen 5 at `--isa avx2`).
    /// Without the stores, 6 rows and one row run alike on Zen 5 at both levels (0.95-1.10x at AVX2,
    /// 1.00-1.12x at AVX-512; 5 rounds, 7-8 layers). Rows of fewer than 1024 inputs went one at a time
    /// at AVX2 too until 2026-12-03 (on NT-Wd, 600 inputs, one row with 4 accumulators had run 1.50x
    /// faster than 6 rows, with the stores); without the stores 6 rows ran 1.06x and 1.12x faster than
    /// one on NT-Wd (10 and 8 interleaved rounds, one thread, pinned, Zen 3), 4 rows 0.82x of 6, and
    /// against numpy's OpenBLAS GEMV 1.08x where one row had 0.94x (9 rounds of `cpu-libs.py`).
    #[inline(always)]
    fn rows<S: Simd, const R: usize>(self, s: S) {
        let n = self.inputs;
        let mut blocks = self.w.chunks_exact(R * n);
        let mut ys = self.y.chunks_exact_mut(R);
        for (rows, y) in (&mut blocks).zip(&mut ys) {
            y.copy_from_slice(&dot_rows::<S, R>(s, rows, n, self.x));
        }
        for (row, y) in blocks.remainder().chunks_exact(n).zip(ys.into_remainder()) {
            *y = dot(s, row, self.x);
        }
    }
}

/// Rows of W in a register tile.
const MR: usize = 6;
/// Cache blocking of the GEMM.
#[derive(Clone, Copy, Debug)]
struct Blocking {
    /// Inputs per block: one packed x panel of a block (kc x NR) fits L1 beside a tile's W slices.
    kc: usize,
    /// Rows per row block: a block of packed x (kc x B) is reused from L2 across this many rows.
    mc: usize,
}

/// The blocking the backend uses. On Zen 3 (32 KiB L1d, 512 KiB L2 per core) `tune_blocking` found
/// kc 256..512 and mc 48..120 within a few per cent of each other (on a shared, noisy machine); kc = 512,
/// mc = 48 was ahead in most rounds: an x panel (32 KiB at AVX2) then streams from L2 rather than staying
/// in L1, which costs nothing visible, and the tile's y rows are added to half as often.
const BLOCKING: Blocking = Blocking { kc: 512, mc: 48 };
/// f32 per cache line.
const LINE: usize = 16;
/// Packed x starts on a 64-byte boundary (16 f32): each panel row of 16 samples is one cache line.
const ALIGN: usize = 16;
/// The widest sample panel of any level (AVX-512: 2 x 16 lanes).
const NR_MAX: usize = 32;

/// Vector lanes of a level.
struct Lanes;

impl Kernel for Lanes {
    type Output = usize;
    #[inline(always)]
    fn run<S: Simd>(self, _: S) -> usize {
        S::LANES
    }
}

/// Samples per panel at `level`.
fn panel_width(level: IsaLevel) -> usize {
    2 * dispatch(level, Lanes)
}

/// Whether a tile's sums replace y or are added to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accum {
    Replace,
    Add,
}

/// Packs inputs `k0..k0 + kc` of x (feature-major, `batch` samples) into `out` (`kc x panels x NR` values):
/// per panel of NR samples, NR values per input, zeros past the last sample.
struct PackX<'a> {
    x: &'a [f32],
    batch: usize,
    k0: usize,
    out: &'a mut [f32],
}

impl Kernel for PackX<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (l, b) = (S::LANES, self.batch);
        let nr = 2 * l;
        let panels = b.div_ceil(nr);
        let kc = self.out.len() / (panels * nr);
        for (jr, panel) in self.out.chunks_exact_mut(kc * nr).enumerate() {
            let s0 = jr * nr;
            let width = (b - s0).min(nr);
            for (k, dst) in panel.chunks_exact_mut(nr).enumerate() {
                let src = &self.x[(self.k0 + k) * b + s0..][..width];
                if width == nr {
                    s.store(dst, s.load(src));
                    s.store(&mut dst[l..], s.load(&src[l..]));
                } else {
                    dst[..width].copy_from_slice(src);
                    dst[width..].fill(0.0);
                }
            }
        }
    }
}

/// Batch B > 1: `y = W x` for the rows of `w` (row-major, `inputs` wide), from x packed by [`PackX`].
struct Gemm<'a> {
    w: &'a [f32],
    xp: &'a [f32],
    y: &'a mut [f32],
    inputs: usize,
    batch: usize,
    blocking: Blocking,
}

impl Kernel for Gemm<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (n, b) = (self.inputs, self.batch);
        if n == 0 {
            self.y.fill(0.0);
            return;
        }
        let nr = 2 * S::LANES;
        let panels = b.div_ceil(nr);
        let rows = self.y.len() / b;
        let Blocking { kc: kcb, mc } = self.blocking;
        for m0 in (0..rows).step_by(mc) {
            let m1 = (m0 + mc).min(rows);
            for k0 in (0..n).step_by(kcb) {
                let kc = (n - k0).min(kcb);
                let block = &self.xp[k0 * panels * nr..][..kc * panels * nr];
                let accum = if k0 == 0 { Accum::Replace } else { Accum::Add };
                for r0 in (m0..m1).step_by(MR) {
                    let w = &self.w[r0 * n + k0..];
                    // The tile after this row tile's sample panels.
                    let (next_r, next_k, next_end) = if r0 + MR < m1 {
                        (r0 + MR, k0, m1)
                    } else if k0 + kc < n {
                        (m0, k0 + kc, m1)
                    } else {
                        (m1, 0, (m1 + mc).min(rows))
                    };
                    let next_rows = next_end.saturating_sub(next_r).min(MR);
                    let next_w = self.w.get(next_r * n + next_k..).unwrap_or_default();
                    let y = &mut self.y[r0 * b..(r0 + MR).min(m1) * b];
                    for (jr, xp) in block.chunks_exact(kc * nr).enumerate() {
                        let t = Tile {
                            w,
                            next: next_w,
                            next_rows: if jr == 0 { next_rows } else { 0 },
                            inputs: n,
                            xp,
                            s0: jr * nr,
                            accum,
                        };
                        match (m1 - r0).min(MR) {
                            6 => t.run::<S, 6>(s, y, b),
                            5 => t.run::<S, 5>(s, y, b),
                            4 => t.run::<S, 4>(s, y, b),
                            3 => t.run::<S, 3>(s, y, b),
                            2 => t.run::<S, 2>(s, y, b),
                            _ => t.run::<S, 1>(s, y, b),
                        }
                    }
                }
            }
        }
    }
}

/// `y = W x` at batch `b > 1` (W `y.len() / b` rows of `n`), x packed into `xp` (from
/// [`DenseF32::prepare`]: `n x ceil(b / NR) x NR` values and [`ALIGN`] spare), rows split over `threads`.
#[allow(clippy::too_many_arguments)]
fn gemm(
    level: IsaLevel,
    threads: &Threads,
    blocking: Blocking,
    w: &[f32],
    x: &[f32],
    xp: &mut [f32],
    y: &mut [f32],
    n: usize,
    b: usize,
) {
    let nr = panel_width(level);
    let panels = b.div_ceil(nr);
    let xp = aligned_in(xp, n * panels * nr);
    let mut blocks: Vec<&mut [f32]> = xp.chunks_mut(blocking.kc * panels * nr).collect();
    threads.for_each(&mut blocks, |i, out| {
        dispatch(
            level,
            PackX {
                x,
                batch: b,
                k0: i * blocking.kc,
                out,
            },
        )
    });
    let xp = &*xp;
    let rows = y.len() / b;
    let per = rows_per_task(rows, threads.count()).div_ceil(MR) * MR;
    threads.for_rows(y, b, per, |t, ys| {
        let rows = t * per..t * per + ys.len() / b;
        dispatch(
            level,
            Gemm {
                w: &w[rows.start * n..rows.end * n],
                xp,
                y: ys,
                inputs: n,
                batch: b,
                blocking,
            },
        );
    });
}

/// One register tile: `R` rows of W (`w[r * inputs..][..kc]`) times one packed x panel (`kc x NR`), into
/// samples `s0..s0 + NR` of those rows of y (fewer at the batch's end).
struct Tile<'a> {
    w: &'a [f32],
    /// W from the first row and input of the tile that runs after this one's last sample panel, and its row
    /// count (0: prefetch nothing).
    next: &'a [f32],
    next_rows: usize,
    inputs: usize,
    xp: &'a [f32],
    s0: usize,
    accum: Accum,
}

impl Tile<'_> {
    #[inline(always)]
    fn run<S: Simd, const R: usize>(self, s: S, y: &mut [f32], b: usize) {
        let l = S::LANES;
        let nr = 2 * l;
        let kc = self.xp.len() / nr;
        let w: [&[f32]; R] = std::array::from_fn(|r| &self.w[r * self.inputs..][..kc]);
        let mut acc = [[s.zero(); 2]; R];
        // One cache line of each W row per LINE inputs; meanwhile the same line of the next tile's rows
        // is fetched into L2, a tile ahead of its use (W streams from memory, and short strided streams are
        // more than the hardware prefetcher follows).
        let mut lines = self.xp.chunks_exact(LINE * nr);
        let mut k = 0;
        for xs in &mut lines {
            for r in 0..self.next_rows {
                s.prefetch(self.next.as_ptr().wrapping_add(r * self.inputs + k));
            }
            let wl: [&[f32; LINE]; R] =
                std::array::from_fn(|r| w[r][k..k + LINE].try_into().expect("a line"));
            // Four inputs per iteration: their W loads share one address computation.
            for k4 in (0..LINE).step_by(4) {
                for kk in k4..k4 + 4 {
                    step(
                        s,
                        &mut acc,
                        std::array::from_fn(|r| wl[r][kk]),
                        &xs[kk * nr..],
                    );
                }
            }
            k += LINE;
        }
        for x in lines.remainder().chunks_exact(nr) {
            step(s, &mut acc, std::array::from_fn(|r| w[r][k]), x);
            k += 1;
        }
        let width = (b - self.s0).min(nr);
        for (r, a) in acc.iter().enumerate() {
            let out = &mut y[r * b + self.s0..][..width];
            if width == nr {
                let (v0, v1) = match self.accum {
                    Accum::Replace => (a[0], a[1]),
                    Accum::Add => (s.add(s.load(out), a[0]), s.add(s.load(&out[l..]), a[1])),
                };
                s.store(out, v0);
                s.store(&mut out[l..], v1);
            } else {
                let mut t = [0.0f32; NR_MAX];
                s.store(&mut t, a[0]);
                s.store(&mut t[l..], a[1]);
                for (o, v) in out.iter_mut().zip(t) {
                    *o = match self.accum {
                        Accum::Replace => v,
                        Accum::Add => *o + v,
                    };
                }
            }
        }
    }
}

/// One input of a tile: `acc[r] += w[r] * x` for the tile's rows (`w`: their weights of this input, `x`: the
/// input's NR samples). A
/// function rather than a closure: closures do not inherit the caller's target features, so the SIMD
/// operations in one would not inline.
#[inline(always)]
fn step<S: Simd, const R: usize>(s: S, acc: &mut [[S::F; 2]; R], w: [f32; R], x: &[f32]) {
    let x0 = s.load(x);
    let x1 = s.load(&x[S::LANES..]);
    for (a, &wk) in acc.iter_mut().zip(&w) {
        let wv = s.splat(wk);
        a[0] = s.mul_add(wv, x0, a[0]);
        a[1] = s.mul_add(wv, x1, a[1]);
    }
}

/// `R` dot products (rows `rows[k * n..(k + 1) * n]`) against the same `x`: `R` memory streams in flight,
/// two vector accumulators per row. The loads of the main loop are unchecked (the bounds are checked once,
/// below): with a bounds check on each, the compiler kept the 12 accumulators of 6 rows on the stack at AVX2,
/// a store after every FMA.
#[inline(always)]
fn dot_rows<S: Simd, const R: usize>(s: S, rows: &[f32], n: usize, x: &[f32]) -> [f32; R] {
    let l = S::LANES;
    // The invariant the unchecked loads rely on: every row and x hold `n` values.
    assert!(
        rows.len() >= R * n && x.len() >= n,
        "dot_rows: {R} rows of {n}"
    );
    let mut a0 = [s.zero(); R];
    let mut a1 = [s.zero(); R];
    let full = n / (2 * l) * (2 * l);
    let mut j = 0;
    while j < full {
        // SAFETY: j + 2 l <= full <= n <= x.len(), and r n + j + 2 l <= R n <= rows.len() (asserted above).
        let (x0, x1) = unsafe {
            (
                s.load(x.get_unchecked(j..j + l)),
                s.load(x.get_unchecked(j + l..j + 2 * l)),
            )
        };
        for r in 0..R {
            let at = r * n + j;
            // SAFETY: as above.
            let (w0, w1) = unsafe {
                (
                    s.load(rows.get_unchecked(at..at + l)),
                    s.load(rows.get_unchecked(at + l..at + 2 * l)),
                )
            };
            a0[r] = s.mul_add(w0, x0, a0[r]);
            a1[r] = s.mul_add(w1, x1, a1[r]);
        }
        j += 2 * l;
    }
    // One more vector where at least `LANES` inputs are left, then the scalar tail (the backend pads
    // rows to whole cache lines, so neither runs there; `gemv_rows_of_any_length` covers them).
    let full = if n - full >= l {
        let x0 = s.load(&x[full..]);
        for (r, a) in a1.iter_mut().enumerate() {
            *a = s.mul_add(s.load(&rows[r * n + full..]), x0, *a);
        }
        full + l
    } else {
        full
    };
    let mut out = [0.0; R];
    for (r, (o, (&p, &q))) in out.iter_mut().zip(a0.iter().zip(&a1)).enumerate() {
        let tail: f32 = rows[r * n + full..(r + 1) * n]
            .iter()
            .zip(&x[full..])
            .map(|(p, q)| p * q)
            .sum();
        *o = s.sum(s.add(p, q)) + tail;
    }
    out
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
        self.w = HugeBuf::new(); // the old matrix is freed before the new one is allocated
        let n = layer.inputs();
        let w = layer.dense_weights().into_raw_vec_and_offset().0;
        // Batch 1: every row on a 64-byte boundary, and x copied to one in `run`, so that no vector
        // load straddles two cache lines (see `Gemv`).
        self.ld = if batch == 1 {
            n.next_multiple_of(LINE)
        } else {
            n
        };
        if self.ld == n {
            self.w = HugeBuf::from_slice(&w);
        } else {
            let mut padded = vec![0.0; layer.outputs() * self.ld];
            for (dst, src) in padded.chunks_exact_mut(self.ld).zip(w.chunks_exact(n)) {
                dst[..n].copy_from_slice(src);
            }
            self.w = HugeBuf::from_slice(&padded);
        }
        self.xp = Vec::new();
        let len = if batch == 1 {
            self.ld
        } else {
            let nr = panel_width(self.level);
            n * batch.div_ceil(nr) * nr
        };
        self.xp = vec![0.0; len + ALIGN];
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
        let w = &self.w;
        if b == 1 {
            let ld = self.ld;
            let xa = aligned_in(&mut self.xp, ld);
            xa[..n].copy_from_slice(x);
            let x = &*xa;
            let per = rows_per_task(p.outputs, self.threads.count());
            self.threads.for_rows(y, 1, per, |t, ys| {
                let rows = t * per..t * per + ys.len();
                dispatch(
                    level,
                    Gemv {
                        w: &w[rows.start * ld..rows.end * ld],
                        x,
                        y: ys,
                        inputs: ld,
                    },
                );
            });
        } else {
            gemm(level, &self.threads, BLOCKING, w, x, &mut self.xp, y, n, b);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::backend::{batch_input, compare_f32, reference_f64};
    use eie_compress::{CompressOptions, DenseLayer};

    /// A layer of `rows x inputs` signed weights (a third of them zero), a bias, and ReLU on odd row counts.
    fn layer(rows: usize, inputs: usize) -> CompressedLayer {
        let w = (0..rows * inputs)
            .map(|k| {
                let h = (k * 7919 + k / inputs * 104_729) % 97;
                if h < 65 {
                    (h as f32 - 32.0) / 16.0
                } else {
                    0.0
                }
            })
            .collect();
        let a = (0..inputs).map(|j| (j % 13) as f32 * 0.5 - 2.0).collect();
        let bias = (0..rows).map(|i| (i % 5) as f32 * 0.25 - 0.5).collect();
        let d = DenseLayer::new("edges", rows, inputs, w, Some(bias), a, rows % 2 == 1).unwrap();
        CompressedLayer::compress(d, CompressOptions::default()).unwrap()
    }

    /// Every edge of the GEMM's blocking against the f64 reference within DESIGN.md's bound: row counts
    /// around the register tile (MR = 6) and the row block (MC), inputs around the input block (KC), batches
    /// around the sample panel (NR = 16 at AVX2, 32 at AVX-512), and batch 1 (the GEMV, on rows padded to
    /// whole cache lines), each level, 1 and 2 threads; y starts as NaN, and a second run on the same
    /// buffers must give the same bits.
    #[test]
    fn gemm_edges_match_the_f64_reference() {
        let shapes = [
            (1, 1),
            (5, 7),
            (7, BLOCKING.kc + 1),
            (13, BLOCKING.kc - 1),
            (BLOCKING.mc + 1, 2 * BLOCKING.kc + 3),
            (2 * BLOCKING.mc + 7, BLOCKING.kc),
        ];
        let batches = [1, 2, 7, 15, 16, 17, 31, 33, 63, 64, 65];
        let mut failures = Vec::new();
        for (rows, inputs) in shapes {
            let l = layer(rows, inputs);
            for level in IsaLevel::available() {
                for par in [Par::Seq, Par::Threads(2)] {
                    let mut k = DenseF32::new(level, par);
                    for batch in batches {
                        k.prepare(&l, batch).unwrap();
                        let x = batch_input(&l, batch);
                        let mut y = vec![f32::NAN; rows * batch];
                        k.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
                        let (r, bound) = reference_f64(&l, &x, batch);
                        let (err, ok) = compare_f32(&y, &r, &bound);
                        let mut again = vec![f32::NAN; rows * batch];
                        k.run(Data::F32(&x), DataMut::F32(&mut again)).unwrap();
                        if !ok || again != y {
                            failures.push(format!(
                                "{rows}x{inputs} batch {batch} {level:?} {par:?}: max error {err:e}, \
                                 second run equal: {}",
                                again == y
                            ));
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// `W x` in f64 and DESIGN.md's bound with c = 1: `n eps_f32 sum_j |w_ij x_j|` (plus the subnormal floor).
    fn reference(w: &[f32], x: &[f32], n: usize, b: usize) -> (Vec<f64>, Vec<f64>) {
        let rows = w.len() / n.max(1);
        let (mut y, mut bound) = (vec![0.0; rows * b], vec![0.0; rows * b]);
        for i in 0..rows {
            for s in 0..b {
                let terms = (0..n).map(|j| w[i * n + j] as f64 * x[j * b + s] as f64);
                let (sum, abs) = terms.fold((0.0, 0.0), |(a, m), t| (a + t, m + t.abs()));
                y[i * b + s] = sum;
                bound[i * b + s] = (n + 1) as f64 * (f32::EPSILON as f64 * abs + 1e-45);
            }
        }
        (y, bound)
    }

    /// Deterministic signed values in [-2, 2), every fifth zero.
    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|k| {
                let h = (k * 2_654_435_761 + seed * 40_503) % 1021;
                if k % 5 == 4 {
                    0.0
                } else {
                    h as f32 / 255.25 - 2.0
                }
            })
            .collect()
    }

    /// The GEMV kernel on rows of lengths the backend never gives it (it pads rows to whole cache lines),
    /// so that the multi-row walk's last vector and scalar tail run: 13 rows (two blocks of 6 and one
    /// row alone), lengths that leave the 8-lane levels' 16-input loop a last vector and a scalar tail (603),
    /// neither (608), only the vector (2072), only a tail (1025, 1047) or no full step at all (3), each
    /// level, against f64 within DESIGN.md's bound.
    #[test]
    fn gemv_rows_of_any_length() {
        for n in [3, 603, 608, 1025, 1047, 2072] {
            let rows = 13;
            let w = values(rows * n, 3);
            let x = values(n, 5);
            for level in IsaLevel::available() {
                let mut y = vec![f32::NAN; rows];
                dispatch(
                    level,
                    Gemv {
                        w: &w,
                        x: &x,
                        y: &mut y,
                        inputs: n,
                    },
                );
                for (i, &got) in y.iter().enumerate() {
                    let row = &w[i * n..(i + 1) * n];
                    let exact: f64 = row.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let abs: f64 = row
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| (a as f64 * b as f64).abs())
                        .sum();
                    let bound = (n + 1) as f64 * f32::EPSILON as f64 * abs;
                    assert!(
                        (got as f64 - exact).abs() <= bound,
                        "{level:?} n {n} row {i}: {got} against {exact} (bound {bound:e})"
                    );
                }
            }
        }
    }

    /// The GEMM kernel itself with tiny blockings, so that every edge is crossed many times on small
    /// sizes: row blocks (mc) that are not multiples of the tile's 6 rows, input blocks (kc) of 1 and 3, a
    /// batch that is 1 short of, equal to, or 1 past a sample panel, every level, 1 and 2 threads.
    #[test]
    fn gemm_kernel_edges_with_small_blocks() {
        let blockings = [
            Blocking { kc: 1, mc: 1 },
            Blocking { kc: 3, mc: 7 },
            Blocking { kc: 8, mc: 12 },
            Blocking { kc: 256, mc: 120 },
        ];
        let mut failures = Vec::new();
        for level in IsaLevel::available() {
            let nr = panel_width(level);
            for par in [Par::Seq, Par::Threads(2)] {
                let threads = Threads::new(par);
                for (rows, n) in [(1, 1), (5, 2), (6, 9), (7, 10), (13, 4), (25, 17)] {
                    for b in [2, nr - 1, nr, nr + 1, 2 * nr + 3] {
                        let w = values(rows * n, 1);
                        let x = values(n * b, 2);
                        let (r, bound) = reference(&w, &x, n, b);
                        for blocking in blockings {
                            let mut xp = vec![f32::NAN; n * b.div_ceil(nr) * nr + ALIGN];
                            let mut y = vec![f32::NAN; rows * b];
                            gemm(level, &threads, blocking, &w, &x, &mut xp, &mut y, n, b);
                            let (err, ok) = compare_f32(&y, &r, &bound);
                            if !ok {
                                failures.push(format!(
                                    "{rows}x{n} batch {b} {level:?} {par:?} {blocking:?}: max error {err:e}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Not a test: times the GEMM on VGG-7's shape (4096 x 4096, batch 64) for a few blockings, interleaved,
    /// best of several rounds. `cargo test -p eie-kernels --release -- --ignored --nocapture tune_blocking`
    #[test]
    #[ignore]
    fn tune_blocking() {
        for (rows, n, reps) in [(4096, 4096, 1), (96, 1024, 200)] {
            let b = 64;
            let level = IsaLevel::best();
            let nr = panel_width(level);
            let w = values(rows * n, 1);
            let x = values(n * b, 2);
            let mut xp = vec![0.0; n * b.div_ceil(nr) * nr + ALIGN];
            let mut y = vec![0.0; rows * b];
            let candidates: Vec<Blocking> =
                [(256, 60), (256, 120), (384, 96), (512, 96), (512, 48)]
                    .iter()
                    .map(|&(kc, mc)| Blocking { kc, mc })
                    .collect();
            let threads = Threads::new(Par::Seq);
            let mut best = vec![f64::INFINITY; candidates.len()];
            for _ in 0..15 {
                for (c, &blocking) in candidates.iter().enumerate() {
                    let t = std::time::Instant::now();
                    for _ in 0..reps {
                        gemm(level, &threads, blocking, &w, &x, &mut xp, &mut y, n, b);
                    }
                    best[c] = best[c].min(t.elapsed().as_secs_f64() / reps as f64);
                }
            }
            for (c, t) in candidates.iter().zip(best) {
                let gflops = 2.0 * (rows * n * b) as f64 / t / 1e9;
                println!("{rows}x{n} {c:?}: {:.3} ms, {gflops:.1} GFLOP/s", t * 1e3);
            }
        }
    }
}
