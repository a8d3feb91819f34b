//! Batch 1, **code planes**: the layer's 4-bit codebook indices stored densely, zeros included, in
//! blocks of 64 rows: per block and column 32 bytes, two rows' codes a byte (code 0: no weight). A walk
//! takes the non-zero inputs' columns (it skips zero activations as the column walk does) and, per
//! column, looks up the 64 rows' products `codebook[v] * a` in registers: the 16 products' 4 bytes are
//! 4 tables of 16 bytes, each read by one `vpshufb` for 32 rows at once, the bytes interleaved back into
//! the products by unpacks, one vector add per 8 rows into accumulators held in registers over all
//! columns. No scatter, no serial chain, no index per entry; but every weight of a walked column costs
//! its lane, zero or not, and the plane takes half a byte per weight (2 bytes per stored weight at 25 %
//! density, as the column layout's entries). So it pays on dense layers (the 1000-row layers of 23-26 %:
//! Alex-8, VGG-8, the real FC8) and the cost model ([`PlaneCost`]) picks it per input against the other
//! walks. Each row's sum takes the columns in the column walk's order (the bias column last), adding
//! an exact zero for each zero weight: in f32 the outputs are bit-identical to the one-thread column
//! walk's, on any number of threads (threads take whole blocks of rows); fixed point wraps its adds
//! like the other walks.

use super::{Accumulate, IsaLevel, Threads, rows_per_task};
use eie_compress::{Arithmetic, SparseCodes};

/// Rows per block: 8 vectors of 8 lanes.
pub(super) const BLOCK: usize = 64;
/// Bytes per block and column: 64 codes of 4 bits.
const BYTES: usize = 32;

/// The byte (of a block's 32 for one column) and the shift of local row `r`'s code. The lanes of the
/// 8 accumulators hold rows `8 i + l`; the unpacks of a `vpshufb` over 32 codes give accumulator `k`
/// (0..4) the codes at bytes `4k..4k + 4` in its low lanes and `16 + 4k..` in its high lanes, low
/// nibbles for accumulators 0-3 and high nibbles for 4-7.
const fn slot(r: usize) -> (usize, u32) {
    let (i, l) = (r / 8, r % 8);
    let (h, k) = (i / 4, i % 4);
    let p = if l < 4 { 4 * k + l } else { 16 + 4 * k + l - 4 };
    (p, 4 * h as u32)
}

/// The cost model of the code-plane walk, in nanoseconds: per non-zero column, its product tables,
/// and per block of 64 rows walked for it.
pub(super) struct PlaneCost {
    pub column: f64,
    pub block: f64,
}

/// Fitted (relative least squares, non-negative; `scripts/fit-walks.py --isa avx2 --rounds 3`,
/// 2026-12-03) on one thread of an AMD EPYC (Zen 3, AVX2, a busy host): within 1 % on the three layers
/// where it is the fastest walk (Alex-8, VGG-8, the real FC8: 136-153 µs, against 225-259 for the
/// column walk and 240-261 for the row walk), within 6 % on six more; VGG-6, whose 51 MB of planes
/// come from DRAM, takes 3x the model (never picked there: at 4 % density no planes are built).
pub(super) const PLANE_COST_F32_AVX2: PlaneCost = PlaneCost {
    column: 2.44,
    block: 5.33,
};

/// [`PLANE_COST_F32_AVX2`] for the fixed-point kernel (wrapping `vpaddd` in place of `vaddps`: 118-132
/// µs on the same three layers, 1.93-2.12x faster than its column walk; f32 1.55-1.69x).
pub(super) const PLANE_COST_FIXED_AVX2: PlaneCost = PlaneCost {
    column: 4.96,
    block: 4.41,
};

/// The plane walk's costs for `arithmetic` (fitted at AVX2, the only level that picks the walk).
pub(super) fn plane_cost(arithmetic: Arithmetic) -> &'static PlaneCost {
    match arithmetic {
        Arithmetic::F32 => &PLANE_COST_F32_AVX2,
        Arithmetic::Fixed16 => &PLANE_COST_FIXED_AVX2,
    }
}

/// The dense code planes of one encoded matrix (the bias column included).
pub(super) struct PlaneLayout {
    rows: usize,
    cols: usize,
    blocks: usize,
    /// Per block, per column: 32 bytes ([`slot`]).
    codes: Vec<u8>,
}

impl PlaneLayout {
    pub(super) fn new(m: &SparseCodes) -> Self {
        let (rows, cols) = (m.rows(), m.cols());
        let blocks = rows.div_ceil(BLOCK);
        let mut codes = vec![0u8; blocks * cols * BYTES];
        for i in 0..rows {
            let (p, shift) = slot(i % BLOCK);
            let base = (i / BLOCK) * cols * BYTES + p;
            let (js, vs) = m.row(i);
            for (&j, &v) in js.iter().zip(vs) {
                codes[base + j as usize * BYTES] |= (v & 15) << shift;
            }
        }
        Self {
            rows,
            cols,
            blocks,
            codes,
        }
    }

    /// Blocks of 64 rows.
    pub(super) fn blocks(&self) -> usize {
        self.blocks
    }

    /// The bytes the walk moves per non-zero column: its 4 byte tables written once (64 bytes), and
    /// in every block its codes (32) and the tables read again (64).
    pub(super) fn column_bytes(&self) -> u64 {
        (self.blocks * (BYTES + 64) + 64) as u64
    }

    /// The model's cost of walking `columns` non-zero columns.
    pub(super) fn cost(&self, columns: u64, k: &PlaneCost) -> f64 {
        columns as f64 * (k.column + self.blocks as f64 * k.block)
    }

    /// Walks the non-zero columns `nz` (each below the planes' column count, asserted; in the column
    /// walk's order for its sums) into `out` (one value per row), with the products of each column's
    /// activation from `table` (entry 0, no weight, is taken as exactly 0), at `level` (asserted
    /// available). Threads take whole blocks of rows; `tables` and `planes` are scratch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk<A, T, F>(
        &self,
        threads: &Threads,
        level: IsaLevel,
        nz: &[(u32, A)],
        out: &mut [T],
        tables: &mut Vec<[T; 16]>,
        planes: &mut Vec<[u8; 64]>,
        table: &F,
    ) where
        A: Copy + Sync,
        T: Accumulate + Send + Sync,
        F: Fn(A) -> [T; 16] + Sync,
    {
        const { assert!(std::mem::size_of::<T>() == 4, "4-byte products") };
        assert_eq!(out.len(), self.rows, "one output per row");
        assert!(
            nz.iter().all(|&(j, _)| (j as usize) < self.cols),
            "a column beyond the planes"
        );
        assert!(level.is_available(), "{level:?} is not available");
        tables.clear();
        tables.extend(nz.iter().map(|&(_, a)| {
            let mut t = table(a);
            t[0] = T::default();
            t
        }));
        let simd = cfg!(target_arch = "x86_64") && level != IsaLevel::Portable;
        if simd {
            planes.clear();
            planes.resize(nz.len(), [0; 64]);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: every level but the portable one has AVX2 (`IsaLevel::is_available`, asserted
            // above), and T is 4 bytes (asserted at compile time).
            unsafe {
                byte_tables_avx2(tables, planes)
            };
        }
        let per = rows_per_task(self.blocks, threads.count()) * BLOCK;
        let (tables, planes) = (&*tables, &*planes);
        threads.for_rows(out, 1, per, |t, ys| {
            let mut buf = [T::default(); BLOCK];
            for (n, chunk) in ys.chunks_mut(BLOCK).enumerate() {
                let b = t * per / BLOCK + n;
                let codes = &self.codes[b * self.cols * BYTES..(b + 1) * self.cols * BYTES];
                if simd {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX2 (above); `codes` holds every column of the block, and every column
                    // of `nz` is below the column count (asserted).
                    unsafe {
                        block_avx2(codes, nz, planes, &mut buf)
                    };
                } else {
                    block_scalar(codes, nz, tables, &mut buf);
                }
                chunk.copy_from_slice(&buf[..chunk.len()]);
            }
        });
    }
}

/// One block's 64 sums, one code at a time (the portable level).
fn block_scalar<A, T: Accumulate>(
    codes: &[u8],
    nz: &[(u32, A)],
    tables: &[[T; 16]],
    out: &mut [T; BLOCK],
) {
    *out = [T::default(); BLOCK];
    let slots: [(usize, u32); BLOCK] = std::array::from_fn(slot);
    for (&(j, _), t) in nz.iter().zip(tables) {
        let c = &codes[j as usize * BYTES..][..BYTES];
        for (o, &(p, shift)) in out.iter_mut().zip(&slots) {
            *o = o.accumulate(t[((c[p] >> shift) & 15) as usize]);
        }
    }
}

/// Each table's 16 products as 4 tables of their bytes (byte 0 of all 16, then byte 2, 1, 3: the
/// order the two stores give).
///
/// # Safety
/// AVX2 must be available and `T` 4 bytes with no padding (f32 or i32: the only `Accumulate` types).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn byte_tables_avx2<T>(tables: &[[T; 16]], planes: &mut [[u8; 64]]) {
    use std::arch::x86_64::*;
    // Per 128-bit lane of 4 products: byte 0 of each, then byte 1, 2, 3.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
        14, 3, 7, 11, 15,
    );
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (t, p) in tables.iter().zip(planes.iter_mut()) {
        // SAFETY: each table is 64 bytes (T is 4, the caller's contract), each plane 64; unaligned
        // loads and stores.
        unsafe {
            let lo = _mm256_loadu_si256(t.as_ptr().cast());
            let hi = _mm256_loadu_si256(t.as_ptr().cast::<__m256i>().add(1));
            // [byte 0 of products 0-3, of 4-7, byte 1 of 0-3, of 4-7 | bytes 2, 3]
            let lo = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(lo, bytes), order);
            let hi = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(hi, bytes), order);
            let out = p.as_mut_ptr().cast::<__m256i>();
            _mm256_storeu_si256(out, _mm256_unpacklo_epi64(lo, hi));
            _mm256_storeu_si256(out.add(1), _mm256_unpackhi_epi64(lo, hi));
        }
    }
}

/// One block's 64 sums: per column of `nz` its 32 code bytes, its 4 byte tables from `planes`
/// ([`byte_tables_avx2`]), 8 `vpshufb`, 16 unpacks and 8 adds (f32 or wrapping i32, by
/// [`Accumulate::FLOAT`]).
///
/// # Safety
/// AVX2 must be available, `T` 4 bytes, and every column of `nz` below `codes.len() / 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2<A, T: Accumulate>(
    codes: &[u8],
    nz: &[(u32, A)],
    planes: &[[u8; 64]],
    out: &mut [T; BLOCK],
) {
    use std::arch::x86_64::*;
    let low = _mm256_set1_epi8(15);
    let add = |a: __m256i, b: __m256i| {
        if T::FLOAT {
            _mm256_castps_si256(_mm256_add_ps(
                _mm256_castsi256_ps(a),
                _mm256_castsi256_ps(b),
            ))
        } else {
            _mm256_add_epi32(a, b)
        }
    };
    let mut acc = [_mm256_setzero_si256(); 8];
    for (&(j, _), p) in nz.iter().zip(planes) {
        // SAFETY: the column's 32 bytes are in `codes` (the caller's contract); each plane is 64
        // bytes; unaligned loads.
        let (c, t0, t2, t1, t3) = unsafe {
            let t = p.as_ptr().cast::<__m128i>();
            (
                _mm256_loadu_si256(codes.as_ptr().add(j as usize * BYTES).cast()),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(t)),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(t.add(1))),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(t.add(2))),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(t.add(3))),
            )
        };
        for h in 0..2 {
            let k = if h == 0 {
                _mm256_and_si256(c, low)
            } else {
                _mm256_and_si256(_mm256_srli_epi16::<4>(c), low)
            };
            let (p0, p1) = (_mm256_shuffle_epi8(t0, k), _mm256_shuffle_epi8(t1, k));
            let (p2, p3) = (_mm256_shuffle_epi8(t2, k), _mm256_shuffle_epi8(t3, k));
            let (al, ah) = (_mm256_unpacklo_epi8(p0, p1), _mm256_unpackhi_epi8(p0, p1));
            let (bl, bh) = (_mm256_unpacklo_epi8(p2, p3), _mm256_unpackhi_epi8(p2, p3));
            let a = &mut acc[4 * h..4 * h + 4];
            a[0] = add(a[0], _mm256_unpacklo_epi16(al, bl));
            a[1] = add(a[1], _mm256_unpackhi_epi16(al, bl));
            a[2] = add(a[2], _mm256_unpacklo_epi16(ah, bh));
            a[3] = add(a[3], _mm256_unpackhi_epi16(ah, bh));
        }
    }
    let o = out.as_mut_ptr().cast::<__m256i>();
    for (i, a) in acc.into_iter().enumerate() {
        // SAFETY: `out` is 64 values of 4 bytes: 8 vectors.
        unsafe { _mm256_storeu_si256(o.add(i), a) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte and nibble of a block holds exactly one row, and the unpack order puts row `r` at
    /// lane `r % 8` of accumulator `r / 8`.
    #[test]
    fn slots_cover_the_block_once() {
        let mut seen = [[false; 2]; BYTES];
        for r in 0..BLOCK {
            let (p, shift) = slot(r);
            assert!(!seen[p][shift as usize / 4], "row {r}");
            seen[p][shift as usize / 4] = true;
        }
        assert_eq!(slot(0), (0, 0));
        assert_eq!(slot(4), (16, 0));
        assert_eq!(slot(8), (4, 0));
        assert_eq!(slot(63), (31, 4));
    }
}
