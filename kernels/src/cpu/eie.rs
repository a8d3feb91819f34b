//! EIE-format SpMV / SpMM: the compressed layer's own 4-bit codebook indices and relative row indices,
//! walked as EIE walks them, in f32 ([`EieF32`]) and in EIE's 16-bit fixed point ([`EieFixed`]).
//!
//! # Layouts (a CPU re-layout of the same 4-bit data)
//!
//! An entry is a `u16` (2 bytes, against EIE's 1) with the 4-bit codebook index `v` in the high
//! nibble. In the batch-1 column layout the low 12 bits are a **relative** index, stored as the advance
//! `z + 1` so that a walk needs one add per entry. With 12 bits, runs of up to 4094 zeros need no
//! padding (EIE's 4-bit `z` needs a padding entry after 15); longer runs still get EIE's padding entry
//! `(v = 0)`, which advances 4095 positions. Entries with `v = 0` add `codebook[0] * a = 0`. The row
//! layouts keep a column within a tile instead (below).
//!
//! - **Batch 1, column-major** (EIE's own dataflow): stored column by column with `z` counting zero
//!   rows; with several threads the non-zero columns are split into parts of equal work, each thread
//!   accumulating into its own output buffer, summed at the end (EIE interleaves rows over PEs; on a
//!   CPU that would make every thread pay every column's fixed cost). A run scans the input for
//!   non-zeros (EIE's LNZD), then for each non-zero `a_j` builds the 16-entry table `codebook[k] * a_j`
//!   and walks column `j`: `end += z + 1; y[end - 1] += table[v]`. The bias is the last column, with `a = 1`,
//!   as in EIE. Zero activations cost nothing but the scan. At AVX2, in f32, the table stays in two
//!   registers and 8 entries' products come from two `vpermps` and a blend, so an entry costs its
//!   output's read-modify-write and no load of its product ([`pair_in_registers_avx2`]).
//! - **Batch 1, row-major** (the same 4-bit indices, with the column *within a 512-column tile* in 9
//!   bits instead of a relative index: no serial chain of adds): per input and tile, the 16 x 512
//!   products `codebook[v] * x[c]` (f32, or EIE's rounded fixed-point products) in a table (32 KB, in
//!   L1) that the entry `v << 9 | c` indexes, then rows in groups of 8 of nearly equal length (sorted
//!   per thread block; SELL-C-sigma), one table read and add per entry and accumulator, no branch per
//!   row, no stores. It skips no activations, so a cost model fitted to measurements of both walks
//!   (one per arithmetic and ISA level, [`walk_cost`]) picks it per input only when it costs less: on
//!   dense inputs (NT-We, NT-Wd, NT-LSTM; fitted on a Zen 3, where the f32 column walk with its
//!   products in registers is 1.02-1.15x faster on the layers with 37-43 % of their activations
//!   non-zero, Alex-8, VGG-8 and the real FC8). Below AVX-512 only, and at AVX2 only where it costs
//!   less than the window walk (below).
//! - **Batch 1, windows** (AVX-512 in place of the row-major walk above; AVX2 where it costs less
//!   than the row walk on the layer): rows in groups of 16 lanes (8 with AVX2), walked together one
//!   entry per lane and step, each entry `v << 5 | c` with `c` its column in the step's sliding window
//!   of 31 inputs (15 and `v << 4 | c` with AVX2); the inputs and the codebook values are looked up in
//!   registers (two `vpermt2ps`; with AVX2 two `vpermps` and a blend each), one FMA per step
//!   ([`WindowLayout`]). It skips no activation either; its own cost model prices it against the
//!   other walks ([`EieData::pick`]).
//! - **Batch 1, code planes** (AVX2, where it costs less than the column walk on the layer's average
//!   column; [`plane`]): the 4-bit codes stored densely, zeros included (half a byte per weight: 2
//!   bytes per stored weight at 25 % density), in blocks of 64 rows; the non-zero inputs' columns,
//!   each column's 16 products split into 4 byte tables that `vpshufb` reads in registers for 32 rows
//!   at once, accumulators in registers over all columns. It skips zero activations, and every zero
//!   weight of a walked column costs its lane: it pays on the 1000-row layers of 23-26 % density
//!   (Alex-8, VGG-8, the real FC8). In f32 its sums are bit for bit the one-thread column walk's, on
//!   any number of threads (each row's columns in the same order).
//! - **Batch B, row-major**: with 64 samples almost no column is zero in every sample, so activation
//!   skipping is gone. Rows in tiles of 128, 256 or 512 columns (a cost model picks per layer,
//!   [`BATCH_TILES`]), each entry `v << 12 | c` with `c` the column within the tile (no serial chain
//!   of adds, no padding); per tile and block of samples each thread first packs the tile's inputs
//!   into an aligned buffer of its own (256 columns x 64 samples: 64 KB), then keeps each row's
//!   accumulators for 64 samples in registers (8 AVX2 or 4 AVX-512 vectors) and decodes each weight
//!   once for all of them: per entry one splat and 8 (AVX-512: 4) FMAs whose operands come from the
//!   packed tile.
//!   Fixed point packs each input as the i16 pair `(a, 1)` so that one `pmaddwd` with `(w, round)`
//!   gives EIE's `w * a + round` before the shift.
//!
//! [`WALK_ENV`] (or `with_walk`) forces one batch-1 walk, for tests and for fitting the cost models on
//! a new core (`scripts/fit-walks.py`).

mod plane;

use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use super::{Prepared, aligned, finish_f32};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, FixedPointSpec, SparseCodes,
    Work, check_io,
};

const Z_BITS: u32 = 12;
const Z_MASK: u16 = (1 << Z_BITS) - 1;

#[inline(always)]
fn entry(v: u8, z: u32) -> u16 {
    ((v as u16) << Z_BITS) | z as u16
}

/// Appends the entries for one stored value with `gap` zeros since the previous one. The low field
/// stores the *advance* `d = z + 1` (1..=4095), so a walk needs one add per entry: `end += d`, the entry's
/// position is `end - 1`. A gap of 4095 zeros or more first gets padding entries `(v = 0, d = 4095)`.
fn push(out: &mut Vec<u16>, mut gap: u32, v: u8) {
    while gap + 1 > Z_MASK as u32 {
        out.push(entry(0, Z_MASK as u32));
        gap -= Z_MASK as u32;
    }
    out.push(entry(v, gap + 1));
}

/// Batch-1 layout: column pointers and entries over every encoded column (bias last), `z` counting
/// zero rows.
struct ColumnLayout {
    rows: usize,
    col_ptr: Vec<u32>,
    entries: Vec<u16>,
    /// Per encoded column: entries (padding included) and real entries.
    col_entries: Vec<u32>,
    col_real: Vec<u32>,
}

impl ColumnLayout {
    fn new(m: &SparseCodes) -> Self {
        let (cp, ri, codes) = m.to_csc();
        let mut col_ptr = Vec::with_capacity(m.cols() + 1);
        let mut entries = Vec::new();
        let (mut col_entries, mut col_real) =
            (Vec::with_capacity(m.cols()), Vec::with_capacity(m.cols()));
        for j in 0..m.cols() {
            col_ptr.push(entries.len() as u32);
            let before = entries.len();
            let mut next = 0u32;
            for p in cp[j]..cp[j + 1] {
                push(&mut entries, ri[p] - next, codes[p]);
                next = ri[p] + 1;
            }
            col_entries.push((entries.len() - before) as u32);
            col_real.push((cp[j + 1] - cp[j]) as u32);
        }
        col_ptr.push(entries.len() as u32);
        // The invariant the unchecked column walk relies on: no column walks past the last row.
        for w in col_ptr.windows(2) {
            let walked: usize = entries[w[0] as usize..w[1] as usize]
                .iter()
                .map(|&e| (e & Z_MASK) as usize)
                .sum();
            assert!(walked <= m.rows(), "column layout walks past the last row");
        }
        Self {
            rows: m.rows(),
            col_ptr,
            entries,
            col_entries,
            col_real,
        }
    }
}

/// Walks the non-zero columns `nz` into `out`. With several threads the columns are split into
/// contiguous parts of equal work (entries), each thread accumulating its part into its own buffer
/// (`out`, then `scratch`), and the buffers are summed: every thread walks only its own columns, with
/// no atomics. (Splitting the rows instead would make every thread pay every column's fixed cost.)
fn walk_columns<A, T, F>(
    threads: &Threads,
    level: IsaLevel,
    c: &ColumnLayout,
    nz: &[(u32, A)],
    out: &mut [T],
    scratch: &mut [Vec<T>],
    table: &F,
) where
    A: Copy + Sync,
    T: Accumulate + Send + Sync,
    F: Fn(A) -> [T; 16] + Sync,
{
    let walk = |part: &[(u32, A)], y: &mut [T]| {
        dispatch(
            level,
            ColumnWalk {
                layout: c,
                nz: part,
                y,
                table,
            },
        );
    };
    let parts = 1 + scratch.len();
    if parts == 1 || nz.len() < 2 * parts {
        walk(nz, out);
        return;
    }
    let total: u64 = nz
        .iter()
        .map(|&(j, _)| c.col_entries[j as usize] as u64)
        .sum();
    let mut bounds = vec![0usize];
    let mut acc = 0u64;
    for (i, &(j, _)) in nz.iter().enumerate() {
        acc += c.col_entries[j as usize] as u64;
        if bounds.len() < parts && acc * parts as u64 >= total * bounds.len() as u64 {
            bounds.push(i + 1);
        }
    }
    while bounds.len() < parts + 1 {
        bounds.push(nz.len());
    }
    *bounds.last_mut().expect("non-empty") = nz.len();
    let mut bufs: Vec<&mut [T]> = std::iter::once(out)
        .chain(scratch.iter_mut().map(Vec::as_mut_slice))
        .collect();
    threads.for_each(&mut bufs, |t, y| walk(&nz[bounds[t]..bounds[t + 1]], y));
    let (first, rest) = bufs.split_first_mut().expect("one buffer per part");
    for r in rest {
        for (a, &b) in first.iter_mut().zip(r.iter()) {
            *a = a.accumulate(b);
        }
    }
}

/// The batch-1 cost model that picks the column walk or the row walk, in nanoseconds, one per
/// arithmetic. Column walk: per column walked (its 16-product table and pointers) and per column entry
/// (a read-modify-write of an output). Row walk: per group of 8 rows in a tile (its loop and 8 output
/// stores), per entry (padding included: a read of the product table, an add) and per product of the
/// tables (`16 x inputs`, built per input and thread). Used at AVX2 and at the portable level.
/// Fitted (relative least squares, non-negative; `scripts/fit-walks.py --isa avx2`) to the fastest of
/// 5 interleaved rounds of each walk forced ([`WALK_ENV`]) on one thread of the AVX2-only variant of
/// our VM (AMD EPYC family 25, model 1: Zen 3), the nine benchmark layers and the real FC8. f32: refitted
/// after the column walk took its products from registers ([`pair_in_registers_avx2`]: 0.5545 ns per
/// entry where the fit before had 0.622, and 5.52 per column against 4.31); the column walk within
/// 10 % on 8 of 10 layers (Alex-6 and VGG-6 15-17 % under, where it wins by 1.09x and 2.5x), the row
/// walk within 4 %. With them the model picks the fastest walk on all 10 layers on one thread: the
/// column walk now also on Alex-8 (1.15x faster than the row walk), VGG-8 (1.06x) and the FC8 (1.02x),
/// the row walk on the NeuralTalk layers (interleaved A/Bs of the automatic picks: Alex-8 1.09x, but
/// VGG-8 0.73-0.99x and the FC8 0.96x, on a busy host; the picks there are at the crossover). The
/// constants before (the fit before the register walk, whose window fields [`WINDOW_COST_F32_AVX2`]
/// keeps: this run's window fit had step 2.069, group 17.8, beyond 0.024) took the row walk on those
/// three. Fixed point: fitted in the run before (its walk unchanged since; that model predicted
/// 0.91-1.07x this run's times): the column walk within 6 % but VGG-6
/// (13 % under, where it wins by 2.6x), the row walk within 7 %; the row walk on the NeuralTalk layers
/// only. The portable level takes them too, not measured there since. Only the choice depends on them,
/// never the result. An interleaved A/B (8 rounds) had caught the first, f32-only model picking the row
/// walk where it was 7-14 % slower (fixed point on VGG-8 and Alex-8: its column walk is cheaper than
/// f32's, its tables dearer).
const WALK_COST_F32: WalkCost = WalkCost {
    column: 5.52,
    column_entry: 0.5545,
    group: 9.36,
    row_entry: 0.230,
    product: 0.217,
};

/// [`WALK_COST_F32`] for the fixed-point kernel.
const WALK_COST_FIXED: WalkCost = WalkCost {
    column: 9.49,
    column_entry: 0.582,
    group: 7.61,
    row_entry: 0.300,
    product: 0.163,
};

/// The walk costs where the kernels run AVX-512, fitted with [`WINDOW_COST_F32`] in the same rounds
/// (relative least squares, non-negative; `scripts/fit-walks.py --isa avx512`, 2026-12-03, after the
/// f32 column walk's four-entry loads). f32: the column walk within 6 % on 9 of 10 layers (VGG-6 10 %
/// under), the row walk within 6 % on all; fixed point: the column walk within 5 % on 9 (VGG-6 10 %
/// under), the row walk within 9 %. Only the column fields are used (against [`window_cost`]): the
/// scalar row walk runs at this level only when forced ([`WALK_ENV`]), and its fields record its fit.
/// Picked by the ISA level the kernel runs at (the only trace of the core the dispatch has; this VM
/// comes as Zen 3 with AVX2 or Zen 4/5 with AVX-512). An earlier fit on the same core (3 rounds,
/// before the four-entry loads, on a slower day: f32 column 3.6 ns + 0.565 per entry, fixed point
/// 8.6 + 0.416) made the same picks; before that, the Zen 3 constants had taken the row walk on VGG-8
/// and the real FC8 in f32 where the column walk was 1.34x and 1.08x faster.
const WALK_COST_F32_AVX512: WalkCost = WalkCost {
    column: 2.86,
    column_entry: 0.413,
    group: 6.76,
    row_entry: 0.260,
    product: 0.106,
};

/// [`WALK_COST_F32_AVX512`] for the fixed-point kernel.
const WALK_COST_FIXED_AVX512: WalkCost = WalkCost {
    column: 6.39,
    column_entry: 0.339,
    group: 13.2,
    row_entry: 0.229,
    product: 0.0935,
};

/// The environment variable that forces the batch-1 walk of the CPU EIE kernels (`cpu-eie-f32`,
/// `cpu-eie-fixed`): `column`, `row`, `window` or `plane`, at any ISA level; unset or empty, the cost
/// models pick per input. For fitting those models and for sweeps on a new core
/// (`EIE_CPU_EIE_WALK=window eie measure --backend cpu-eie-f32 ...`); the record's detail names the
/// forced walk. Read at prepare, at any batch (a bad value is an error naming the variable); applied at
/// batch 1 only. [`EieF32::with_walk`] and [`EieFixed::with_walk`] override it.
pub const WALK_ENV: &str = "EIE_CPU_EIE_WALK";

/// A batch-1 walk of the EIE kernels, to force one ([`WALK_ENV`], [`EieF32::with_walk`],
/// [`EieFixed::with_walk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// The non-zero inputs' columns (skips zero inputs).
    Column,
    /// Rows in groups of 8 through per-tile product tables.
    Row,
    /// Rows in groups of one vector's lanes through sliding windows of the input.
    Window,
    /// The non-zero inputs' columns of dense 4-bit code planes, 64 rows at a time.
    Plane,
}

impl Walk {
    fn name(self) -> &'static str {
        match self {
            Walk::Column => "column",
            Walk::Row => "row",
            Walk::Window => "window",
            Walk::Plane => "plane",
        }
    }
}

/// The walk forced for backend `name`: `walk` (`with_walk`), else [`WALK_ENV`]'s, if set (checked at
/// every batch, applied at batch 1).
fn forced_walk(name: &str, walk: Option<Walk>) -> Result<Option<Walk>, BackendError> {
    if walk.is_some() {
        return Ok(walk);
    }
    let Some(v) = std::env::var_os(WALK_ENV) else {
        return Ok(None);
    };
    let walks = [Walk::Column, Walk::Row, Walk::Window, Walk::Plane];
    match v.to_str() {
        Some("") => Some(None),
        Some(s) => walks.into_iter().find(|w| w.name() == s).map(Some),
        None => None,
    }
    .ok_or_else(|| BackendError::Failed {
        backend: name.to_string(),
        message: format!("{WALK_ENV}={v:?}: expected column, row, window or plane"),
    })
}

/// The batch-1 walk costs for the kernel's arithmetic at ISA level `level`.
fn walk_cost(level: IsaLevel, arithmetic: Arithmetic) -> &'static WalkCost {
    match (level, arithmetic) {
        (IsaLevel::Avx512, Arithmetic::F32) => &WALK_COST_F32_AVX512,
        (IsaLevel::Avx512, Arithmetic::Fixed16) => &WALK_COST_FIXED_AVX512,
        (_, Arithmetic::F32) => &WALK_COST_F32,
        (_, Arithmetic::Fixed16) => &WALK_COST_FIXED,
    }
}

struct WalkCost {
    column: f64,
    column_entry: f64,
    group: f64,
    row_entry: f64,
    product: f64,
}

/// The batch-B tile widths (columns) and their cost per entry in nanoseconds, and the cost of each
/// row of each tile (its 64 accumulators loaded and stored, its loop), fitted (least squares, 30 points,
/// each within 8 % but the 1000-row layers at 512 columns, 17 % under) to the f32 kernel's medians on
/// the nine benchmark layers and the real FC8 at batch 64, one thread of an AMD EPYC (Zen 3 class,
/// AVX2). Each thread packs a tile's inputs for one block of samples (width x 64 samples x 4 bytes:
/// 32, 64 or 128 KB at batch 64) into a buffer of its own before its rows walk it: the narrower the
/// tile, the more of it stays in L1 (per entry 2.03, 2.36, 2.89 ns), but the more tiles each row is
/// cut into. Measured: 128 columns win by 9-15 % on the 1000-row layers (25 % dense: 32 entries per
/// row and tile), 512 by 2-9 % on VGG-6 and VGG-7 (4 %: 10 entries per row at 256), 256 elsewhere.
/// Only the speed depends on the choice.
const BATCH_TILES: [(usize, f64); 3] = [(128, 2.03), (256, 2.36), (512, 2.89)];
const BATCH_ROW_TILE: f64 = 10.9;
/// Bits of an entry's column field (tiles of up to 4096 columns); the codebook index above it.
const TILE_BITS: u32 = 12;

/// One column tile of the batch-B layout: per row, the entries of the columns `col0..col0 + width`,
/// each `v << 12 | c` with `c` the column within the tile (no relative index, so no serial chain of
/// adds and no padding entries).
struct Tile {
    col0: usize,
    width: usize,
    row_ptr: Vec<u32>,
    entries: Vec<u16>,
}

/// Batch-B layout: row-major entries in column tiles of `cols` columns (the bias is added
/// separately).
struct RowLayout {
    cols: usize,
    tiles: Vec<Tile>,
    entries: u64,
    real: u64,
}

/// The batch-B tile width ([`BATCH_TILES`]) that costs `m` least.
fn batch_tile_cols(m: &SparseCodes) -> usize {
    let cost = |&(w, per_entry): &(usize, f64)| {
        m.nnz() as f64 * per_entry + (m.rows() * m.cols().div_ceil(w)) as f64 * BATCH_ROW_TILE
    };
    BATCH_TILES
        .iter()
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .map_or(256, |t| t.0)
}

impl RowLayout {
    /// In tiles of `cols` columns (at most `1 << TILE_BITS`).
    fn new(m: &SparseCodes, cols: usize) -> Self {
        assert!(cols.is_power_of_two() && cols <= 1 << TILE_BITS);
        let mut tiles: Vec<Tile> = (0..m.cols().div_ceil(cols))
            .map(|t| Tile {
                col0: t * cols,
                width: cols.min(m.cols() - t * cols),
                row_ptr: vec![0],
                entries: Vec::new(),
            })
            .collect();
        for i in 0..m.rows() {
            let (js, codes) = m.row(i);
            for (&j, &c) in js.iter().zip(codes) {
                let t = j as usize / cols;
                let local = j as usize - t * cols;
                assert!(
                    c < 16 && local < tiles[t].width,
                    "batch-B entry out of its tile"
                );
                tiles[t]
                    .entries
                    .push(((c as u16) << TILE_BITS) | local as u16);
            }
            for tile in tiles.iter_mut() {
                tile.row_ptr.push(tile.entries.len() as u32);
            }
        }
        let entries = tiles.iter().map(|t| t.entries.len() as u64).sum();
        Self {
            cols,
            tiles,
            entries,
            real: m.nnz() as u64,
        }
    }
}

/// Packs a tile's inputs for samples `b0..b0 + block`, each through `f`: `pack[c * block + k] =
/// f(x[(col0 + c) * b + b0 + k])` for the tile's `width` columns (the rest of `pack`, `cols *
/// block` values, is left as it is: no entry reads it).
#[inline(always)]
fn pack_tile<T: Copy, U>(
    x: &[T],
    b: usize,
    tile: &Tile,
    (b0, block): (usize, usize),
    pack: &mut [U],
    f: impl Fn(T) -> U,
) {
    let src = x[tile.col0 * b..].chunks(b).take(tile.width);
    for (dst, col) in pack.chunks_exact_mut(block).zip(src) {
        for (d, &a) in dst.iter_mut().zip(&col[b0..b0 + block]) {
            *d = f(a);
        }
    }
}

/// Column bits of a batch-1 row entry: the column within a 512-column tile, so that a tile's product
/// table (16 x 512 f32, 32 KB) stays in L1. 2048-column tiles (128 KB tables, in L2) were 1.4-1.9x
/// slower on NT-We, NT-Wd, NT-LSTM, VGG-7 and Alex-7, 256-column ones 1.1-1.2x slower (more groups).
const ROW1_BITS: u32 = 9;
/// Columns per tile of the batch-1 row layout.
const ROW1_TILE: usize = 1 << ROW1_BITS;
/// Rows a batch-1 row walk takes together, one entry of each per step.
const ROW1_GROUP: usize = 8;
/// A batch-1 row layout's padding entry: the slot of the product table after the 16 x 512 products,
/// which holds 0 whatever the input (so a non-finite input cannot reach a padded lane).
const ROW1_PAD: u16 = 1 << (ROW1_BITS + 4);

/// One column tile of [`RowLayoutOne`]: its rows in groups of [`ROW1_GROUP`].
struct GroupTile {
    col0: usize,
    /// Columns in the tile.
    width: usize,
    /// Per group (in walk order): its first entry and its steps (the longest of its rows in this
    /// tile); a group's entries are stored step by step, one per lane.
    groups: Vec<(usize, usize)>,
    /// Per group and lane: the output row, relative to the thread's block (`u32::MAX`: no row).
    rows: Vec<u32>,
    entries: Vec<u16>,
}

/// Batch-1 row layout: the same 4-bit codebook indices, with the **column within a 512-column
/// tile** (9 bits) beside each, so that an entry `v << 9 | c` is also the index of the product
/// `codebook[v] * x[col0 + c]` in a 16 x 512 table built once per input and tile (EIE builds the same
/// products per column: `codebook[k] * a_j`). Each thread's block of rows is sorted, per tile, by the
/// number of entries in that tile, and taken in groups of 8 rows of nearly equal length, stored step by
/// step (SELL-C-sigma, with C = 8 and sigma the block): a walk adds one table value to each of 8
/// accumulators per step, with no branch per row, and shorter rows are padded with [`ROW1_PAD`]. Same
/// 2 bytes per entry; no chain of adds through the advances, as in the column layout.
struct RowLayoutOne {
    /// Rows per block (the blocks `threads.for_rows` hands to the threads), and rows.
    per: usize,
    rows: usize,
    /// Per block, its tiles.
    blocks: Vec<Vec<GroupTile>>,
    /// Entries over all tiles, padding included.
    entries: u64,
    /// Entries without the padding.
    real: u64,
    groups: u64,
}

impl RowLayoutOne {
    /// Its cost for `inputs` inputs by `k` ([`walk_cost`]): per group, per entry, per product of
    /// each thread block's tables.
    fn cost(&self, inputs: usize, k: &WalkCost) -> f64 {
        self.groups as f64 * k.group
            + self.entries as f64 * k.row_entry
            + (16 * inputs * self.blocks.len()) as f64 * k.product
    }

    fn new(m: &SparseCodes, per: usize) -> Self {
        let n_tiles = m.cols().div_ceil(ROW1_TILE).max(1);
        // Per tile and row, the row's entries in the tile.
        let mut tile_rows: Vec<Vec<Vec<u16>>> = vec![vec![Vec::new(); m.rows()]; n_tiles];
        (0..m.rows()).for_each(|i| {
            let (cols, codes) = m.row(i);
            for (&j, &c) in cols.iter().zip(codes) {
                let t = j as usize / ROW1_TILE;
                let local = j as usize - t * ROW1_TILE;
                tile_rows[t][i].push(((c as u16) << ROW1_BITS) | local as u16);
            }
        });
        let per = per.max(1);
        let mut blocks = Vec::new();
        let (mut entries, mut groups) = (0u64, 0u64);
        for r0 in (0..m.rows()).step_by(per) {
            let r1 = (r0 + per).min(m.rows());
            let mut tiles = Vec::with_capacity(n_tiles);
            for (t, rows) in tile_rows.iter().enumerate() {
                let mut order: Vec<usize> = (r0..r1).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(rows[i].len()));
                let mut tile = GroupTile {
                    col0: t * ROW1_TILE,
                    width: ROW1_TILE.min(m.cols() - t * ROW1_TILE),
                    groups: Vec::new(),
                    rows: Vec::new(),
                    entries: Vec::new(),
                };
                for lanes in order.chunks(ROW1_GROUP) {
                    let steps = rows[lanes[0]].len();
                    tile.groups.push((tile.entries.len(), steps));
                    for s in 0..steps {
                        for l in 0..ROW1_GROUP {
                            let e = lanes.get(l).and_then(|&i| rows[i].get(s).copied());
                            tile.entries.push(e.unwrap_or(ROW1_PAD));
                        }
                    }
                    tile.rows.extend(
                        (0..ROW1_GROUP)
                            .map(|l| lanes.get(l).map_or(u32::MAX, |&i| (i - r0) as u32)),
                    );
                }
                // The invariant the unchecked walk relies on: every entry indexes the product table
                // within its tile's columns (or is padding).
                assert!(
                    tile.entries.iter().all(|&e| e == ROW1_PAD
                        || (e < ROW1_PAD && ((e as usize) & (ROW1_TILE - 1)) < tile.width)),
                    "row layout column outside its tile"
                );
                entries += tile.entries.len() as u64;
                groups += tile.groups.len() as u64;
                tiles.push(tile);
            }
            blocks.push(tiles);
        }
        Self {
            per,
            rows: m.rows(),
            blocks,
            entries,
            real: m.nnz() as u64,
            groups,
        }
    }
}

/// Batch 1, the **window walk** (AVX-512; AVX2 where it costs less than the row walk): rows in groups
/// of `L` lanes (16 with AVX-512, 8 below), one row per
/// lane, all `L` walked together in steps; each step holds one entry per lane, `v << b | c` with `c`
/// the column's offset in the step's **window** of `2L - 1` columns (`b` = log2 2L bits; 31 columns
/// and 5 bits with AVX-512), and the window's start, a multiple of `L`. A step is two aligned loads of
/// the window's inputs, one in-register lookup of each lane's input (`vpermt2ps`), one of its codebook
/// value (`vpermt2ps` again, the codebook in both tables), one FMA into the group's accumulator: per step `L` entries, no gather, no
/// scatter, no product table. The window slides: each step starts at the lowest next column of the
/// group's lanes (rounded down to a multiple of `L`), and every lane whose next entry lies in the window
/// takes it; the others take a padding entry, `c = 2L - 1`, the window's last slot, which holds 0 (so
/// a non-finite input never reaches a padded lane). Padding on our layers: 1.3x the real entries at
/// 23-25 % density, 1.6-1.7x at 9-11 %, 2.3x at 4 % (fixed tiles of 31 columns, in a C model of the
/// walk on random layers: 1.6x, 2.1x, 2.8x). Like the row walk it skips no activation; its cost model
/// ([`window_cost`]) picks it where it costs less than the column walk.
struct WindowLayout {
    /// Lanes per group (`S::LANES` of the level that walks it).
    lanes: usize,
    /// Rows per block (the blocks `threads.for_each` hands to the threads, one each).
    per: usize,
    blocks: Vec<WindowBlock>,
    /// Steps over all blocks, groups, entries without the padding.
    steps: u64,
    groups: u64,
    real: u64,
    /// Windows of the input (`inputs / L + 1`).
    windows: usize,
}

/// One block of rows of a [`WindowLayout`]: group `g` holds rows `g L .. g L + L` of the block and its
/// steps are `ends[g - 1] .. ends[g]`.
struct WindowBlock {
    ends: Vec<u32>,
    /// The largest window of any step (0 without steps).
    last: u32,
    /// Per step, its window (the window starts at input `window * L`).
    window: Vec<u32>,
    /// Per step, `L` entries.
    entries: Vec<u16>,
}

/// The window walk's cost in nanoseconds (AVX-512): per step (16 lanes), per group of 16 rows (its
/// loop and its 16 outputs) and, per step, per 4096 inputs beyond the first 4096 (a larger input's
/// window buffer, 2 values per input, outgrows the 48 KB L1: each step's two loads of its window then
/// come from L2). Fitted (relative least squares, non-negative; `scripts/fit-walks.py --isa avx512`,
/// 2026-12-03) to the fastest of 5 interleaved rounds of each walk forced ([`WALK_ENV`]) on one thread
/// of the AVX-512 variant of our VM (AMD family 26, Zen 5), the nine benchmark layers and the real FC8:
/// f32 0.621 ns per step, 15.4 per group and 0.151 per step and 4096 inputs beyond the first, each
/// layer within 9 % but Alex-6 (11 % over); fixed point 0.679, 36.7 and 0.147, within 7 % but Alex-6
/// (14 % over). Beyond 4096 inputs the cost is not linear (Alex-6 has 9216 inputs, VGG-6 25088): the
/// one term lies between the two. An earlier fit, on a day this host ran these walks 1.1-1.3x slower
/// (f32 0.69 / 15 / 0.2, fixed point 0.78 / 34 / 0.2), made the same picks. With these and
/// [`WALK_COST_F32_AVX512`]'s column walk, fitted in the same rounds, the model picks the faster walk on
/// all 10 layers in both arithmetics: the window walk everywhere but VGG-6 (the column walk 2.4-2.9x
/// faster there, 82 % of its inputs being zero), by 1.24-6.7x over the column walk elsewhere (VGG-7 the
/// closest).
const WINDOW_COST_F32: WindowCost = WindowCost {
    step: 0.621,
    group: 15.4,
    beyond: 0.151,
};

/// [`WINDOW_COST_F32`] for the fixed-point kernel.
const WINDOW_COST_FIXED: WindowCost = WindowCost {
    step: 0.679,
    group: 36.7,
    beyond: 0.147,
};

/// The 8-lane window walk's cost (AVX2: `vpermps` lookups in two ymm registers and a blend), fitted
/// with [`WALK_COST_F32`] in the same rounds on the Zen 3 (above): f32 2.07 ns per step, 16.9 per group
/// of 8 rows, 0.019 per step and 4096 inputs beyond the first, each layer within 1 %. On the Zen 3 the
/// window walk is slower than the fastest walk on every layer in both arithmetics: f32 0.52-0.66x the
/// row walk on Alex-8, VGG-8, the FC8 and the NeuralTalk layers, 0.20-0.44x the column walk on
/// Alex-6/7 and VGG-6/7; fixed point 0.60-0.71x the fastest walk (the column walk on Alex-8, VGG-8
/// and the FC8, the row walk on the NeuralTalk layers) and 0.18-0.39x the column walk on Alex-6/7 and
/// VGG-6/7. So the model picks it on none of our layers at AVX2. The walk stays for AVX2 cores whose
/// permutes are cheaper: on the Zen 5 at `--isa avx2` it ran 0.905 ns per step, 2.3x faster than on
/// the Zen 3 (the scalar walks 1.4x and 1.7x faster, the medians in f32 and fixed point), and was the
/// fastest walk on Alex-8, VGG-8, the FC8 and NT-We in f32 (1.02-1.14x). The constants before these were that Zen 5 fit scaled by the scalar walks' Zen 3-to-Zen 5 factor
/// (1.545 in f32, 1.706 in fixed point); on the Zen 3 they predicted 0.68-1.04x the window walk's time
/// in f32 (0.68x on the layers it picked) and 0.89-1.18x in fixed point, and picked it on Alex-8,
/// VGG-8 and the FC8 in f32, where the row walk is 1.52-1.54x faster.
const WINDOW_COST_F32_AVX2: WindowCost = WindowCost {
    step: 2.07,
    group: 16.9,
    beyond: 0.019,
};

/// [`WINDOW_COST_F32_AVX2`] for the fixed-point kernel: 2.22 ns per step, 29.7 per group, 0.016
/// beyond, each layer within 1 %.
const WINDOW_COST_FIXED_AVX2: WindowCost = WindowCost {
    step: 2.22,
    group: 29.7,
    beyond: 0.016,
};

/// The window walk's costs for the kernel's arithmetic at ISA level `level` (the portable level,
/// where the window walk runs only when [`WALK_ENV`] forces it, takes AVX2's).
fn window_cost(level: IsaLevel, arithmetic: Arithmetic) -> &'static WindowCost {
    match (level, arithmetic) {
        (IsaLevel::Avx512, Arithmetic::F32) => &WINDOW_COST_F32,
        (IsaLevel::Avx512, Arithmetic::Fixed16) => &WINDOW_COST_FIXED,
        (_, Arithmetic::F32) => &WINDOW_COST_F32_AVX2,
        (_, Arithmetic::Fixed16) => &WINDOW_COST_FIXED_AVX2,
    }
}

struct WindowCost {
    step: f64,
    group: f64,
    beyond: f64,
}

impl WindowLayout {
    fn new(m: &SparseCodes, per: usize, lanes: usize) -> Self {
        assert!(lanes.is_power_of_two() && lanes <= 16);
        let width = 2 * lanes - 1;
        let bits = (2 * lanes).trailing_zeros();
        let per = per.max(1);
        let mut blocks = Vec::new();
        let (mut steps, mut groups) = (0u64, 0u64);
        // Per lane, its row's (column, code) pairs in column order, and how many it has taken.
        let mut lane: Vec<Vec<(u32, u8)>> = vec![Vec::new(); lanes];
        let mut next = vec![0usize; lanes];
        for r0 in (0..m.rows()).step_by(per) {
            let r1 = (r0 + per).min(m.rows());
            let mut b = WindowBlock {
                ends: Vec::new(),
                last: 0,
                window: Vec::new(),
                entries: Vec::new(),
            };
            for g0 in (r0..r1).step_by(lanes) {
                for (l, e) in lane.iter_mut().enumerate() {
                    e.clear();
                    if g0 + l < r1 {
                        let (cols, codes) = m.row(g0 + l);
                        e.extend(cols.iter().copied().zip(codes.iter().copied()));
                        e.sort_unstable_by_key(|p| p.0);
                    }
                }
                next.iter_mut().for_each(|n| *n = 0);
                while let Some(low) = (0..lanes)
                    .filter_map(|l| lane[l].get(next[l]).map(|p| p.0 as usize))
                    .min()
                {
                    let w = low / lanes;
                    let start = w * lanes;
                    b.window.push(w as u32);
                    b.last = b.last.max(w as u32);
                    for l in 0..lanes {
                        match lane[l].get(next[l]) {
                            Some(&(c, v)) if (c as usize) < start + width => {
                                b.entries
                                    .push(((v as u16) << bits) | (c as usize - start) as u16);
                                next[l] += 1;
                            }
                            _ => b.entries.push(width as u16),
                        }
                    }
                }
                b.ends.push(b.window.len() as u32);
                groups += 1;
            }
            steps += b.window.len() as u64;
            blocks.push(b);
        }
        Self {
            lanes,
            per,
            blocks,
            steps,
            groups,
            real: m.nnz() as u64,
            windows: m.cols() / lanes + 1,
        }
    }

    /// The window buffer of input `x` at `level`: window `w` holds `x[w L .. w L + 2L - 1]` as
    /// [`WindowValue`]s (0 past the input) and a 0 in its last slot, `2L` values, in `buf` from a 64-byte
    /// boundary. Vector copies where the level's lanes are `L` (the walk's own level): filled value by
    /// value it took 1.4 µs of NT-We's 19 µs per run on one thread of a Zen 5 core, 0.44 µs so.
    fn fill<'b, T: WindowValue>(
        &self,
        level: IsaLevel,
        x: &[T::A],
        buf: &'b mut Vec<T>,
    ) -> &'b [T] {
        let win = aligned(buf, self.windows * 2 * self.lanes);
        dispatch(
            level,
            Fill {
                x,
                win: &mut *win,
                lanes: self.lanes,
            },
        );
        win
    }

    /// Runs `walk(block, window buffer, the block's rows of out)` for each block of rows, each on a thread
    /// of its own, which first fills its own window buffer of `x` (`bufs`: one per block, kept between
    /// runs, so that it stays in that core's caches; one buffer filled before the threads started took
    /// 2.4 µs of NT-We's run on two threads, its lines last read by the other core).
    fn for_blocks<T: WindowValue + Send, V: Send>(
        &self,
        threads: &Threads,
        level: IsaLevel,
        x: &[T::A],
        out: &mut [V],
        bufs: &mut Vec<Vec<T>>,
        walk: impl Fn(&WindowBlock, &[T], &mut [V]) + Sync,
    ) where
        T::A: Sync,
    {
        bufs.resize_with(self.blocks.len(), Vec::new);
        let mut parts: Vec<_> = out.chunks_mut(self.per).zip(bufs.iter_mut()).collect();
        threads.for_each(&mut parts, |b, (out, buf)| {
            walk(&self.blocks[b], self.fill(level, x, buf), out)
        });
    }

    /// Its cost for `inputs` inputs by `k` ([`window_cost`]).
    fn cost(&self, inputs: usize, k: &WindowCost) -> f64 {
        let beyond = inputs.saturating_sub(4096) as f64 / 4096.0;
        self.steps as f64 * (k.step + k.beyond * beyond) + self.groups as f64 * k.group
    }
}

/// The non-zero inputs of `x` and the column entries they walk ([`EieData::column_work`]), in u32
/// lanes, which vectorize at the level it runs at (`EieData::new` checked that every count fits).
struct ColumnWork<'a, T> {
    x: &'a [T],
    entries: &'a [u32],
}

impl<T: Copy + PartialEq + Default> Kernel for ColumnWork<'_, T> {
    type Output = (u32, u32);
    #[inline(always)]
    fn run<S: Simd>(self, _: S) -> (u32, u32) {
        let zero = T::default();
        let (mut cols, mut walked) = (0u32, 0u32);
        for (a, &n) in self.x.iter().zip(self.entries) {
            let nz = (*a != zero) as u32;
            cols += nz;
            walked += nz * n;
        }
        (cols, walked)
    }
}

/// What a window buffer holds per input: f32 activations as they are; 16-bit fixed-point activations
/// `a` as the i16 pairs `(a, 1)` that the fixed-point step multiplies with `(w, round)` (`pmaddwd`).
trait WindowValue: Copy + Default {
    /// The activation it is made from.
    type A: Copy;
    fn from(a: Self::A) -> Self;
    /// `S::LANES` values made from the front of `x`, stored to the front of `dst`.
    fn copy<S: Simd>(s: S, x: &[Self::A], dst: &mut [Self]);
}

impl WindowValue for f32 {
    type A = f32;
    #[inline(always)]
    fn from(a: f32) -> f32 {
        a
    }
    #[inline(always)]
    fn copy<S: Simd>(s: S, x: &[f32], dst: &mut [f32]) {
        s.store(dst, s.load(x));
    }
}

impl WindowValue for i32 {
    type A = i16;
    #[inline(always)]
    fn from(a: i16) -> i32 {
        pair(a, 1)
    }
    #[inline(always)]
    fn copy<S: Simd>(s: S, x: &[i16], dst: &mut [i32]) {
        // SAFETY: u16 and i16 have the same size and alignment; the bits are read as they are.
        let u = unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u16>(), x.len()) };
        // The low half zero-extended, 1 in the high half: `pair(a, 1)`.
        s.istore(dst, s.iadd(s.load_u16(u), s.isplat(1 << 16)));
    }
}

/// Fills a window buffer ([`WindowLayout::fill`]).
struct Fill<'a, T: WindowValue> {
    x: &'a [T::A],
    win: &'a mut [T],
    lanes: usize,
}

impl<T: WindowValue> Kernel for Fill<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let l = self.lanes;
        for (w, dst) in self.win.chunks_exact_mut(2 * l).enumerate() {
            let src = self.x.get(w * l..).unwrap_or(&[]);
            if S::LANES == l && src.len() >= 2 * l {
                T::copy(s, src, dst);
                T::copy(s, &src[l..], &mut dst[l..]);
            } else {
                let n = src.len().min(2 * l - 1);
                for (d, &a) in dst.iter_mut().zip(&src[..n]) {
                    *d = T::from(a);
                }
                dst[n..].fill(T::default());
            }
            dst[2 * l - 1] = T::default();
        }
    }
}

/// One step of a window walk in one arithmetic: `acc` plus the products of a step's `L` entries and
/// the inputs `w` of its window. Implemented by small structs holding the level's vectors; a method,
/// not a closure: a closure is compiled without the level's target features, and its intrinsics
/// become calls (50x slower).
trait WindowStep: Copy {
    /// An accumulator vector.
    type V: Copy;
    /// An input of the window buffer and an output.
    type T: Copy;
    fn zero(self) -> Self::V;
    fn step(self, acc: Self::V, w: &[Self::T], e: &[u16]) -> Self::V;
    /// `a + b` into the front of `out`.
    fn store(self, a: Self::V, b: Self::V, out: &mut [Self::T; 16]);
}

/// [`WindowStep`] in f32: the codebook (`lo`, `hi`) looked up by the entries' codes (above `bits`).
#[derive(Clone, Copy)]
struct StepF32<S: Simd> {
    s: S,
    lo: S::F,
    hi: S::F,
    bits: u32,
}

impl<S: Simd> WindowStep for StepF32<S> {
    type V = S::F;
    type T = f32;
    #[inline(always)]
    fn zero(self) -> S::F {
        self.s.zero()
    }
    #[inline(always)]
    fn step(self, acc: S::F, w: &[f32], e: &[u16]) -> S::F {
        let (s, l) = (self.s, S::LANES);
        let e = s.load_u16(e);
        let xv = s.lookup(s.load(w), s.load(&w[l..]), e);
        s.mul_add(xv, s.lookup(self.lo, self.hi, s.isrl(e, self.bits)), acc)
    }
    #[inline(always)]
    fn store(self, a: S::F, b: S::F, out: &mut [f32; 16]) {
        self.s.store(out, self.s.add(a, b));
    }
}

/// [`WindowStep`] in EIE's fixed point: the window buffer holds the i16 pairs `(a, 1)` (0 in the
/// padding slot), the codebook the pairs `(w, round)`, so that `pmaddwd` gives `w a + round` and an
/// arithmetic shift EIE's product (`apart`: a rounding bias that does not fit an i16, added after).
#[derive(Clone, Copy)]
struct StepFixed<S: Simd> {
    s: S,
    lo: S::I,
    hi: S::I,
    bits: u32,
    apart: S::I,
    shift: u32,
}

impl<S: Simd> WindowStep for StepFixed<S> {
    type V = S::I;
    type T = i32;
    #[inline(always)]
    fn zero(self) -> S::I {
        self.s.izero()
    }
    #[inline(always)]
    fn step(self, acc: S::I, w: &[i32], e: &[u16]) -> S::I {
        let (s, l) = (self.s, S::LANES);
        let e = s.load_u16(e);
        let xv = s.ilookup(s.iload(w), s.iload(&w[l..]), e);
        let wv = s.ilookup(self.lo, self.hi, s.isrl(e, self.bits));
        let p = s.iadd(s.madd_i16(xv, wv), self.apart);
        s.iadd(acc, s.isra(p, self.shift))
    }
    #[inline(always)]
    fn store(self, a: S::I, b: S::I, out: &mut [i32; 16]) {
        self.s.istore(out, self.s.iadd(a, b));
    }
}

/// Batch 1, the window walk of one block of a [`WindowLayout`] with `L = lanes` lanes: each group's
/// steps into two accumulators, then the group's rows of `y` (the block's outputs, overwritten).
#[inline(always)]
fn walk_window<W: WindowStep>(w: W, b: &WindowBlock, lanes: usize, win: &[W::T], y: &mut [W::T])
where
    W::T: Default,
{
    let l = lanes;
    // The invariants the unchecked slices below rely on (`WindowLayout::new` builds them): every
    // step's window in `win`, `L` entries per step, the groups' ends rising to the last step.
    assert!(b.window.is_empty() || (b.last as usize) < win.len() / (2 * l));
    assert_eq!(b.entries.len(), b.window.len() * l);
    assert!(b.ends.last().is_none_or(|&e| e as usize == b.window.len()));
    assert!(b.ends.windows(2).all(|p| p[0] <= p[1]));
    #[inline(always)]
    fn step<W: WindowStep>(
        w: W,
        b: &WindowBlock,
        l: usize,
        win: &[W::T],
        k: usize,
        acc: W::V,
    ) -> W::V {
        // SAFETY: checked above: step `k < window.len()` has its window in `win` and its entries in
        // `entries`.
        let (x, e) = unsafe {
            let at = *b.window.get_unchecked(k) as usize * 2 * l;
            (
                win.get_unchecked(at..at + 2 * l),
                b.entries.get_unchecked(k * l..k * l + l),
            )
        };
        w.step(acc, x, e)
    }
    let mut out = [W::T::default(); 16];
    let mut k = 0usize;
    for (g, &end) in b.ends.iter().enumerate() {
        let end = end as usize;
        let (mut a0, mut a1) = (w.zero(), w.zero());
        while k + 2 <= end {
            a0 = step(w, b, l, win, k, a0);
            a1 = step(w, b, l, win, k + 1, a1);
            k += 2;
        }
        if k < end {
            a0 = step(w, b, l, win, k, a0);
            k += 1;
        }
        w.store(a0, a1, &mut out);
        let ys = &mut y[g * l..];
        let n = ys.len().min(l);
        ys[..n].copy_from_slice(&out[..n]);
    }
}

/// Batch 1, the window walk of one block in f32 ([`walk_window`]).
struct WindowWalkF32<'a> {
    block: &'a WindowBlock,
    lanes: usize,
    codebook: &'a [f32; 16],
    win: &'a [f32],
    y: &'a mut [f32],
}

impl Kernel for WindowWalkF32<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let l = S::LANES;
        assert_eq!(self.lanes, l, "the layout was built for this level's lanes");
        // Codes 0..15 index `lo` then `hi`: with 16 lanes both are the codebook.
        let step = StepF32 {
            s,
            lo: s.load(self.codebook),
            hi: s.load(&self.codebook[16 - l..]),
            bits: (2 * l).trailing_zeros(),
        };
        walk_window(step, self.block, l, self.win, self.y);
    }
}

/// Batch 1, the window walk of one block in EIE's fixed point ([`StepFixed`]).
struct WindowWalkFixed<'a> {
    block: &'a WindowBlock,
    lanes: usize,
    weights: &'a [i32; 16],
    apart: i32,
    shift: u32,
    win: &'a [i32],
    acc: &'a mut [i32],
}

impl Kernel for WindowWalkFixed<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let l = S::LANES;
        assert_eq!(self.lanes, l, "the layout was built for this level's lanes");
        let step = StepFixed {
            s,
            lo: s.iload(self.weights),
            hi: s.iload(&self.weights[16 - l..]),
            bits: (2 * l).trailing_zeros(),
            apart: s.isplat(self.apart),
            shift: self.shift,
        };
        walk_window(step, self.block, l, self.win, self.acc);
    }
}

/// The batch-1 walks an [`EieData`] may prepare.
struct Walks {
    /// Whether the window walk may run: its padding lanes add the product of a zero weight and a zero
    /// input, which must be 0.
    window_ok: bool,
    /// The walk forced, if any (applied at batch 1): then only its layout is built beside the column
    /// layout, which is always built (the run's scan uses it).
    forced: Option<Walk>,
}

/// The prepared data both EIE backends share.
struct EieData {
    p: Prepared,
    cols: Option<ColumnLayout>,
    rows: Option<RowLayout>,
    /// Batch 1: the row walk's layout (portable level; AVX2 where it costs less than the window walk;
    /// any level when forced).
    rows1: Option<RowLayoutOne>,
    /// Batch 1: the window walk's layout (AVX-512, and AVX2 where it costs less than the row walk).
    window: Option<WindowLayout>,
    /// Batch 1: the code planes (AVX2, where the plane walk costs less than the column walk on the
    /// layer's average column; any level when forced).
    plane: Option<plane::PlaneLayout>,
    /// Batch 1: the walk forced ([`WALK_ENV`], `with_walk`); then only its layout is built beside the
    /// column layout (which the run's scan uses whichever walk runs).
    forced: Option<Walk>,
    /// Batch 1: the cost model of this arithmetic's walks.
    cost: &'static WalkCost,
    window_cost: &'static WindowCost,
    plane_cost: &'static plane::PlaneCost,
    codebook: [f32; 16],
    /// Non-zero activations of the current input (scratch, reused).
    nz: Vec<(u32, f32)>,
}

impl EieData {
    /// For `threads` threads (the row and window walks' blocks of rows), choosing walks by the costs of
    /// `arithmetic` at `level` among `walks`.
    fn new(
        name: &str,
        layer: &CompressedLayer,
        batch: usize,
        level: IsaLevel,
        threads: usize,
        arithmetic: Arithmetic,
        walks: Walks,
    ) -> Result<Self, BackendError> {
        let Walks { window_ok, forced } = walks;
        let cost = walk_cost(level, arithmetic);
        let p = Prepared::new(name, layer, batch, level)?;
        if layer.codebook().bits() > 4 {
            return Err(BackendError::Unavailable {
                backend: name.to_string(),
                why: format!(
                    "the layer has {}-bit weights; this kernel packs 4-bit indices",
                    layer.codebook().bits()
                ),
            });
        }
        if layer.nnz() + layer.inputs() + layer.outputs() >= u32::MAX as usize / 2 {
            return Err(BackendError::Failed {
                backend: name.to_string(),
                message: "layer too large for 32-bit pointers".into(),
            });
        }
        let mut codebook = [0.0f32; 16];
        codebook[..layer.codebook().len()].copy_from_slice(layer.codebook().values());
        let window_cost = window_cost(level, arithmetic);
        let forced = forced.filter(|_| batch == 1);
        // Batch 1: the column layout (it skips zero activations) and one walk of every entry, cheaper
        // when few activations are zero (`EieData::pick` decides per input): the window walk at
        // AVX-512; at AVX2 the window walk or the row walk, whichever costs less on this layer (neither
        // skips an activation, so the layer alone decides); the row walk at the portable level. At
        // AVX2 also the code planes, where they pay on the layer's average column (`plane_pays`).
        let plane_cost = plane::plane_cost(arithmetic);
        let (cols, rows, rows1, window, plane) = if batch == 1 {
            let per = rows_per_task(layer.outputs(), threads);
            let lanes = match level {
                IsaLevel::Avx512 => 16,
                _ => 8,
            };
            let auto = forced.is_none();
            if forced == Some(Walk::Window) && !window_ok {
                return Err(BackendError::Unavailable {
                    backend: name.to_string(),
                    why: format!(
                        "{WALK_ENV}=window: this rounding gives a zero weight times a zero input a \
                         non-zero product, which the window walk's padding lanes would add"
                    ),
                });
            }
            let window = (forced == Some(Walk::Window)
                || (auto && level != IsaLevel::Portable && window_ok))
                // Blocks of whole groups of rows.
                .then(|| WindowLayout::new(layer.codes(), per.next_multiple_of(lanes), lanes));
            let rows1 = (forced == Some(Walk::Row) || (auto && level != IsaLevel::Avx512))
                .then(|| RowLayoutOne::new(layer.codes(), per));
            let (rows1, window) = match (rows1, window) {
                (Some(r), Some(w)) => {
                    if w.cost(layer.inputs(), window_cost) < r.cost(layer.inputs(), cost) {
                        (None, Some(w))
                    } else {
                        (Some(r), None)
                    }
                }
                other => other,
            };
            let augmented = layer.augmented_codes();
            let cols = ColumnLayout::new(&augmented);
            // The code planes where, on the layer's average column, they cost less than its column
            // walk (the 1000-row layers of about 25 % density).
            let plane_pays = || {
                let n = cols.col_entries.len().max(1) as f64;
                let blocks = layer.outputs().div_ceil(plane::BLOCK) as f64;
                plane_cost.column + blocks * plane_cost.block
                    < cost.column + cost.column_entry * cols.entries.len() as f64 / n
            };
            let plane = (forced == Some(Walk::Plane)
                || (auto && level == IsaLevel::Avx2 && plane_pays()))
            .then(|| plane::PlaneLayout::new(&augmented));
            (Some(cols), None, rows1, window, plane)
        } else {
            (
                None,
                Some(RowLayout::new(
                    layer.codes(),
                    batch_tile_cols(layer.codes()),
                )),
                None,
                None,
                None,
            )
        };
        Ok(Self {
            p,
            cols,
            rows,
            rows1,
            window,
            plane,
            forced,
            cost,
            window_cost,
            plane_cost,
            codebook,
            nz: Vec::with_capacity(layer.inputs() + 1),
        })
    }

    /// EIE's LNZD: the non-zero activations, then the bias column with activation `one`.
    fn scan<T: Copy + PartialEq + Default>(
        &self,
        x: &[T],
        one: T,
        has_bias: bool,
        nz: &mut Vec<(u32, T)>,
    ) {
        nz.clear();
        let zero = T::default();
        nz.extend(
            x.iter()
                .enumerate()
                .filter(|(_, a)| **a != zero)
                .map(|(j, &a)| (j as u32, a)),
        );
        if has_bias {
            nz.push((self.p.inputs as u32, one));
        }
    }

    /// Batch 1: the cost of walking the `walked` entries of `columns` non-zero columns ([`walk_cost`]).
    fn column_cost(&self, columns: u64, walked: u64) -> f64 {
        columns as f64 * self.cost.column + walked as f64 * self.cost.column_entry
    }

    /// Batch 1: the walk that costs least, among those prepared, on an input whose non-zero
    /// activations (bias column included) are `columns` columns of `walked` entries: the column walk,
    /// the row or window walk (whichever was prepared: neither skips an activation) or the plane walk
    /// ([`walk_cost`], [`window_cost`], [`plane::PlaneCost`]); the forced one ([`WALK_ENV`]) if any.
    fn pick(&self, columns: u64, walked: u64) -> Walk {
        if let Some(w) = self.forced {
            return w;
        }
        let inputs = self.p.inputs;
        [
            (
                Walk::Window,
                self.window
                    .as_ref()
                    .map(|w| w.cost(inputs, self.window_cost)),
            ),
            (
                Walk::Row,
                self.rows1.as_ref().map(|r| r.cost(inputs, self.cost)),
            ),
            (
                Walk::Plane,
                self.plane
                    .as_ref()
                    .map(|p| p.cost(columns, self.plane_cost)),
            ),
        ]
        .into_iter()
        .filter_map(|(w, c)| c.map(|c| (w, c)))
        .fold(
            (Walk::Column, self.column_cost(columns, walked)),
            |best, (w, c)| if c < best.1 { (w, c) } else { best },
        )
        .0
    }

    /// Batch 1: whether the window walk (where prepared) takes input `x` ([`EieData::pick`] on the
    /// input's counts, which it takes without listing the non-zero activations; forced: always).
    fn window_walk_for<T: Copy + PartialEq + Default>(
        &self,
        level: IsaLevel,
        c: &ColumnLayout,
        x: &[T],
    ) -> bool {
        self.window.is_some()
            && self.forced.map_or_else(
                || {
                    let (cols, walked) = self.column_work(level, c, x);
                    self.pick(cols, walked) == Walk::Window
                },
                |w| w == Walk::Window,
            )
    }

    /// Batch 1: the walk for the non-zero activations `nz` (the bias column included) that the scan
    /// listed ([`EieData::pick`]; the forced one without counting).
    fn walk_of<T>(&self, c: &ColumnLayout, nz: &[(u32, T)]) -> Walk {
        self.forced.unwrap_or_else(|| {
            let walked = nz
                .iter()
                .map(|&(j, _)| c.col_entries[j as usize] as u64)
                .sum();
            self.pick(nz.len() as u64, walked)
        })
    }

    /// Batch 1: the columns and entries a column walk of `x` takes (the bias column included), counted
    /// without listing them (the window walk needs no list), at the kernel's level.
    fn column_work<T: Copy + PartialEq + Default>(
        &self,
        level: IsaLevel,
        c: &ColumnLayout,
        x: &[T],
    ) -> (u64, u64) {
        let (cols, walked) = dispatch(
            level,
            ColumnWork {
                x,
                entries: &c.col_entries,
            },
        );
        let (mut cols, mut walked) = (cols as u64, walked as u64);
        if self.p.bias.is_some() {
            cols += 1;
            walked += c.col_entries.get(self.p.inputs).map_or(0, |&n| n as u64);
        }
        (cols, walked)
    }

    fn work(&self, input: Data<'_>) -> Work {
        let b = self.p.batch as u64;
        if let Some(c) = &self.cols {
            let (mut entries, mut real, mut cols) = (0u64, 0u64, 0u64);
            for j in (0..c.col_entries.len()).filter(|&j| input.is_nonzero(j)) {
                entries += c.col_entries[j] as u64;
                real += c.col_real[j] as u64;
                cols += 1;
            }
            let act_bytes = if matches!(input, Data::F32(_)) { 4 } else { 2 };
            // The bias is added after a row or window walk, as the column walk's last column adds it.
            let bias = if self.p.bias.is_some() {
                c.col_real.get(self.p.inputs).map_or(0, |&n| n as u64)
            } else {
                0
            };
            let walk = self.pick(cols, entries);
            if let Some(p) = self.plane.as_ref().filter(|_| walk == Walk::Plane) {
                // Every lane of every block of the non-zero columns (zero weights included); per
                // column its code bytes and product tables; the input once.
                return Work {
                    macs: real,
                    entries: cols * (p.blocks() * plane::BLOCK) as u64,
                    bytes_read: cols * p.column_bytes() + (self.p.inputs * act_bytes) as u64,
                };
            }
            if let Some(w) = self.window.as_ref().filter(|_| walk == Walk::Window) {
                // Entries (padding included) and per step its window (4 bytes); per group its end (4);
                // the input once and its window buffer (2 values per input; fixed point
                // as 4-byte pairs) per thread block.
                let lanes = w.lanes as u64;
                let win_bytes = (w.windows as u64 * 2 * lanes) * 4 * w.blocks.len() as u64;
                return Work {
                    macs: w.real + bias,
                    entries: w.steps * lanes,
                    bytes_read: w.steps * (lanes * 2 + 4)
                        + w.groups * 4
                        + (self.p.inputs * act_bytes) as u64
                        + win_bytes,
                };
            }
            if let Some(r) = self.rows1.as_ref().filter(|_| walk == Walk::Row) {
                // Entries (padding included); per group its start and steps (16 bytes) and 8 output
                // rows (32); the input, once per thread block.
                let inputs = (self.p.inputs * act_bytes * r.blocks.len()) as u64;
                return Work {
                    macs: r.real + bias,
                    entries: r.entries,
                    bytes_read: r.entries * 2 + r.groups * 48 + inputs,
                };
            }
            return Work {
                macs: real,
                entries,
                bytes_read: entries * 2 + cols * 8 + (self.p.inputs * act_bytes) as u64 + 64,
            };
        }
        let r = self.rows.as_ref().expect("one layout is prepared");
        let act_bytes = if matches!(input, Data::F32(_)) { 4 } else { 2 };
        let ptrs: u64 = r.tiles.iter().map(|t| t.row_ptr.len() as u64).sum();
        Work {
            macs: r.real * b,
            entries: r.entries,
            bytes_read: r.entries * 2 + ptrs * 4 + self.p.inputs as u64 * b * act_bytes,
        }
    }
}

/// How a column walk accumulates: f32 addition, or EIE's wrapping 32-bit integer addition.
trait Accumulate: Copy + Default {
    /// f32 addition (else wrapping i32), for the code-plane walk's vector adds.
    const FLOAT: bool;
    /// Whether the column walk reads a column's entries four at a time with one 8-byte load (see
    /// [`ColumnWalk`]).
    const FOUR_AT_ONCE: bool;
    fn accumulate(self, x: Self) -> Self;
    /// Walks the first `n` entries (a multiple of 8) of two columns with their products held in
    /// registers ([`pair_in_registers_avx2`]), advancing `ea` and `eb`; `false` (nothing walked) where
    /// this arithmetic or target has no such walk.
    ///
    /// # Safety
    /// AVX2 and FMA must have been detected (what [`IsaLevel::Avx2`] checks), and `y` must be valid
    /// for reads and writes at every row the two columns' entries reach from rows `ea` and `eb` (one
    /// element per row, columns that never walk past the last row: [`ColumnLayout::new`]).
    #[allow(clippy::too_many_arguments)]
    unsafe fn pair_in_registers(
        _: &[u16],
        _: &[u16],
        _: usize,
        _: &[Self; 16],
        _: &[Self; 16],
        _: *mut Self,
        _: &mut usize,
        _: &mut usize,
    ) -> bool {
        false
    }
}

impl Accumulate for f32 {
    const FLOAT: bool = true;
    const FOUR_AT_ONCE: bool = true;
    #[inline(always)]
    fn accumulate(self, x: f32) -> f32 {
        self + x
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_in_registers(
        ca: &[u16],
        cb: &[u16],
        n: usize,
        ta: &[f32; 16],
        tb: &[f32; 16],
        y: *mut f32,
        ea: &mut usize,
        eb: &mut usize,
    ) -> bool {
        // SAFETY: the caller's contract is this function's.
        unsafe { pair_in_registers_avx2(ca, cb, n, ta, tb, y, ea, eb) };
        true
    }
}

/// Fixed point keeps its 2-byte loads at every level: the register walk
/// ([`pair_in_registers_avx2`], its lanes' bits added as i32) ran 0.87-0.92x that loop on Alex-6/7
/// and VGG-6/7 (interleaved, the Zen 3), with each lane moved to a general register for an `add` to
/// memory or added in a vector register alike.
impl Accumulate for i32 {
    const FLOAT: bool = false;
    const FOUR_AT_ONCE: bool = false;
    #[inline(always)]
    fn accumulate(self, x: i32) -> i32 {
        self.wrapping_add(x)
    }
}

/// Batch 1: walk the non-zero columns (activations `A`) of one row block, accumulating `T`.
struct ColumnWalk<'a, A, T, F> {
    layout: &'a ColumnLayout,
    nz: &'a [(u32, A)],
    y: &'a mut [T],
    /// The 16 products `codebook[k] * a` of one activation.
    table: &'a F,
}

impl<A: Copy, T: Accumulate, F: Fn(A) -> [T; 16]> Kernel for ColumnWalk<'_, A, T, F> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (ptr, entries) = (&self.layout.col_ptr, &self.layout.entries);
        let registers = s.level() == IsaLevel::Avx2;
        // The invariant below needs exactly one accumulator per row.
        assert_eq!(self.y.len(), self.layout.rows, "one output per row");
        self.y.iter_mut().for_each(|v| *v = T::default());
        let (y, len) = (self.y.as_mut_ptr(), self.y.len());
        let column = |j: u32| &entries[ptr[j as usize] as usize..ptr[j as usize + 1] as usize];
        // One entry: `end` = rows walked so far; the entry's row is `end - 1` after adding its advance.
        let step = |end: &mut usize, e: u16, tbl: &[T; 16]| {
            *end += (e & Z_MASK) as usize;
            debug_assert!(*end >= 1 && *end <= len);
            // SAFETY: `ColumnLayout::new` checked that no column walks past its last row, every advance
            // is at least 1, and `y` has one element per row (asserted above).
            unsafe {
                let p = y.add(*end - 1);
                *p = (*p).accumulate(tbl[(e >> Z_BITS) as usize]);
            }
        };
        // Two columns at a time: two independent walks give the core twice the work to overlap (four
        // measured no faster). Rows of the two may coincide; the updates stay in program order.
        let mut pairs = self.nz.chunks_exact(2);
        for pair in &mut pairs {
            let ((ja, aa), (jb, ab)) = (pair[0], pair[1]);
            let (ta, tb) = ((self.table)(aa), (self.table)(ab));
            let (ca, cb) = (column(ja), column(jb));
            let n = ca.len().min(cb.len());
            let (mut ea, mut eb) = (0usize, 0usize);
            // At AVX2 in f32, eight entries of each column per step with the products in registers
            // ([`pair_in_registers_avx2`]), the rest one by one. Against the four-entry loop below
            // (the Zen 3, AVX2 only, one thread, interleaved, median of per-round ratios of each
            // round's fastest run, 8 rounds): Alex-6 1.11x, Alex-7 1.13x, VGG-6 1.08x, VGG-7 1.12x;
            // on 4096 x 512 at 9 % with its columns in cache, 1.70 -> 1.93-1.96 G entries/s. (The
            // four-entry loop on the rest after it: 0.97-0.98x.) Not at AVX-512, where it was not
            // measured.
            let n8 = n / 8 * 8;
            // SAFETY: the level is AVX2, so the features were detected; `y` has one element per row
            // (asserted above) and no column walks past its last row (`ColumnLayout::new`).
            let n = if registers
                && unsafe { T::pair_in_registers(ca, cb, n8, &ta, &tb, y, &mut ea, &mut eb) }
            {
                n8
            } else if T::FOUR_AT_ONCE {
                // Four entries of each column per step, each four from one 8-byte load. Against one
                // 2-byte load per entry, interleaved (Zen 5, one thread, median of per-round ratios):
                // f32 1.08-1.16x on the five layers where the column walk runs at AVX2 (8 rounds),
                // 1.10x on VGG-6 at AVX-512 (10 rounds); fixed point (whose update is one add to
                // memory) 0.89-1.02x (6 rounds), so it keeps the 2-byte loads. (An earlier try on a
                // Zen 3: no change.)
                let n = n / 4 * 4;
                for (e, f) in ca[..n].chunks_exact(4).zip(cb[..n].chunks_exact(4)) {
                    let (e, f) = (four(e), four(f));
                    for k in 0..4 {
                        step(&mut ea, e[k], &ta);
                        step(&mut eb, f[k], &tb);
                    }
                }
                n
            } else {
                for (&e, &f) in ca[..n].iter().zip(&cb[..n]) {
                    step(&mut ea, e, &ta);
                    step(&mut eb, f, &tb);
                }
                n
            };
            ca[n..].iter().for_each(|&e| step(&mut ea, e, &ta));
            cb[n..].iter().for_each(|&f| step(&mut eb, f, &tb));
        }
        for &(j, a) in pairs.remainder() {
            let t = (self.table)(a);
            let mut end = 0usize;
            column(j).iter().for_each(|&e| step(&mut end, e, &t));
        }
    }
}

/// The f32 column walk's pair loop at AVX2 with each column's 16 products in two registers, so that an
/// entry costs a read-modify-write of its output and no load of its product: per 8 entries of a
/// column, one 16-byte load of their codes, two `vpermps` and a blend give their 8 products, and a
/// shuffle moves each to lane 0 for its scalar add. Entries of the two columns alternate as in the
/// four-entry loop ([`ColumnWalk`]); only where the two columns' last entries (past the last multiple
/// of 8, walked one column after the other) share a row may an output's f32 sum differ from that loop's
/// in its rounding. Against that loop on the AVX2-only Zen 3 (interleaved, one thread): see
/// [`ColumnWalk`]; what bounds it there: `scripts/bounds/colwalk.c`.
///
/// # Safety
/// As [`Accumulate::pair_in_registers`] (AVX2 and FMA detected; `y` valid at every row the columns
/// reach). `n`, a multiple of 8 and at most either column's length, is asserted.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn pair_in_registers_avx2(
    ca: &[u16],
    cb: &[u16],
    n: usize,
    ta: &[f32; 16],
    tb: &[f32; 16],
    y: *mut f32,
    ea: &mut usize,
    eb: &mut usize,
) {
    use std::arch::x86_64::*;
    assert!(n.is_multiple_of(8) && n <= ca.len() && n <= cb.len());
    let (ca, cb) = (&ca[..n], &cb[..n]);
    // SAFETY: AVX2 is enabled (the caller's contract); every load reads 16 (codes) or 8 (advances)
    // bytes inside an 8-entry chunk of `ca[..n]` or `cb[..n]`, unaligned loads need no alignment, and
    // every output row is in `y` (the caller's contract: no column walks past its last row).
    unsafe {
        let (alo, ahi) = (
            _mm256_loadu_ps(ta.as_ptr()),
            _mm256_loadu_ps(ta.as_ptr().add(8)),
        );
        let (blo, bhi) = (
            _mm256_loadu_ps(tb.as_ptr()),
            _mm256_loadu_ps(tb.as_ptr().add(8)),
        );
        // The 8 products of 8 entries: `vpermps` reads the code's low 3 bits (the code is bits
        // 12..16, so the shifted index's bit 3 is the code's); bit 3, moved to the sign bit, picks
        // `hi`.
        let products = |e: &[u16], lo: __m256, hi: __m256| {
            let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(e.as_ptr().cast()));
            let code = _mm256_srli_epi32::<Z_BITS_I>(w);
            let pick = _mm256_castsi256_ps(_mm256_slli_epi32::<{ 28 - Z_BITS_I }>(w));
            _mm256_blendv_ps(
                _mm256_permutevar8x32_ps(lo, code),
                _mm256_permutevar8x32_ps(hi, code),
                pick,
            )
        };
        // Lane `k` of a 4-lane vector in lane 0.
        let lane = |v: __m128, k: usize| match k {
            0 => v,
            1 => _mm_movehdup_ps(v),
            2 => _mm_movehl_ps(v, v),
            _ => _mm_shuffle_ps::<0xff>(v, v),
        };
        let step = |end: &mut usize, e: u16, p: __m128| {
            *end += (e & Z_MASK) as usize;
            *y.add(*end - 1) += _mm_cvtss_f32(p);
        };
        // Four entries' advances from one 8-byte load. By `asm!`: read with `read_unaligned`, LLVM
        // took them from the codes' vector instead, pairing the two columns' rows in one vector
        // register and moving each out with `vpextrq` for its address (0.81x the four-entry loop,
        // interleaved on the Zen 3). Passing the two columns as one struct brought the pairing back
        // (1.3-1.4 G against 1.9 from cache), and an empty `asm!` holding each row in a general
        // register against it cost 2.5 % (5 % on VGG-6): keep the arguments apart.
        let word = |e: &[u16]| {
            assert!(e.len() >= 4);
            let w: u64;
            std::arch::asm!(
                "mov {w}, qword ptr [{p}]",
                p = in(reg) e.as_ptr(),
                w = out(reg) w,
                options(pure, readonly, nostack, preserves_flags),
            );
            let at = |k: u32| (w >> (16 * k)) as u16;
            [at(0), at(1), at(2), at(3)]
        };
        let (mut a, mut b) = (*ea, *eb);
        for (e, f) in ca.chunks_exact(8).zip(cb.chunks_exact(8)) {
            let (pa, pb) = (products(e, alo, ahi), products(f, blo, bhi));
            let halves = [
                (_mm256_castps256_ps128(pa), _mm256_castps256_ps128(pb)),
                (
                    _mm256_extractf128_ps::<1>(pa),
                    _mm256_extractf128_ps::<1>(pb),
                ),
            ];
            for (h, (va, vb)) in halves.into_iter().enumerate() {
                let (we, wf) = (word(&e[4 * h..]), word(&f[4 * h..]));
                for k in 0..4 {
                    step(&mut a, we[k], lane(va, k));
                    step(&mut b, wf[k], lane(vb, k));
                }
            }
        }
        (*ea, *eb) = (a, b);
    }
}

/// [`Z_BITS`] as the shift count the intrinsics take.
#[cfg(target_arch = "x86_64")]
const Z_BITS_I: i32 = Z_BITS as i32;

/// Four entries of a column read with one 8-byte load (the walk over single entries compiles to one
/// 2-byte load per entry).
#[inline(always)]
fn four(e: &[u16]) -> [u16; 4] {
    assert!(e.len() >= 4);
    // SAFETY: `e` holds at least 4 u16 (asserted), 8 bytes; `read_unaligned` needs no alignment.
    let w = unsafe { e.as_ptr().cast::<u64>().read_unaligned() };
    // Entry `k` is the k-th u16 in memory: the low bits first on a little-endian target.
    let at = |k: u32| {
        if cfg!(target_endian = "little") {
            (w >> (16 * k)) as u16
        } else {
            (w >> (48 - 16 * k)) as u16
        }
    };
    [at(0), at(1), at(2), at(3)]
}

/// Values per product table: 16 x 512 products and the padding slot.
const ROW1_TABLE: usize = ROW1_PAD as usize + 1;

/// Batch 1, the row walk of one tile of one block of [`RowLayoutOne`], in f32 or fixed point (`T`,
/// from weights `W` and activations `A`): first the tile's product table, `table[v << 9 | c] =
/// product(weights[v], x[col0 + c])` and 0 at [`ROW1_PAD`], in the thread's own buffer (built by the
/// thread that reads it, it stays in that core's L1; one table built once for all threads cost NT-We on
/// 2 threads more than its walk, every line a miss to the other core); then per group, 8 accumulators,
/// one per row, each adding its row's table values step by step. The first tile overwrites `y`, the
/// others add to it. In fixed point every product is the one the column walk computes and the sums
/// wrap, so the result is the same bit for bit whatever the order.
struct RowWalkOne<'a, W, A, T, P> {
    tile: &'a GroupTile,
    weights: &'a [W; 16],
    /// By value: a copy of the closure (and what it captured) in the kernel's own frame lets the
    /// compiler keep it in registers and vectorize the table (through a reference the fixed-point
    /// table was built one scalar product at a time, reloading the spec each time).
    product: P,
    /// The tile's inputs (`x[col0..col0 + width]`).
    x: &'a [A],
    table: &'a mut [T; ROW1_TABLE],
    first: bool,
    /// The block's outputs.
    y: &'a mut [T],
}

impl<W, A, T, P> Kernel for RowWalkOne<'_, W, A, T, P>
where
    W: Copy,
    A: Copy,
    T: Accumulate,
    P: Fn(W, A) -> T + Copy,
{
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, _s: S) {
        let (tile, table, product) = (self.tile, self.table, self.product);
        for (v, &w) in self.weights.iter().enumerate() {
            let row = &mut table[v << ROW1_BITS..(v << ROW1_BITS) + tile.width];
            for (o, &a) in row.iter_mut().zip(self.x) {
                *o = product(w, a);
            }
        }
        table[ROW1_PAD as usize] = T::default();
        for (&(start, steps), rows) in tile.groups.iter().zip(tile.rows.chunks_exact(ROW1_GROUP)) {
            let e = &tile.entries[start..start + steps * ROW1_GROUP];
            let mut acc = [T::default(); ROW1_GROUP];
            for step in e.chunks_exact(ROW1_GROUP) {
                for h in 0..2 {
                    // SAFETY: `step` holds 8 entries; four of them, unaligned.
                    let q = u64::from_le(unsafe {
                        (step.as_ptr().add(4 * h) as *const u64).read_unaligned()
                    });
                    for l in 0..4 {
                        let k = ((q >> (16 * l)) & 0xffff) as usize;
                        debug_assert!(k < table.len());
                        // SAFETY: `RowLayoutOne::new` checked that every entry is at most
                        // `ROW1_PAD`, and the table holds `ROW1_PAD + 1` values.
                        let p = unsafe { *table.get_unchecked(k) };
                        acc[4 * h + l] = acc[4 * h + l].accumulate(p);
                    }
                }
            }
            for (&r, &a) in rows.iter().zip(&acc) {
                if let Some(o) = self.y.get_mut(r as usize) {
                    *o = if self.first { a } else { o.accumulate(a) };
                }
            }
        }
    }
}

/// The samples the batch-B walks take in blocks of 8 accumulator vectors (64 samples with 8 lanes; the
/// rest go to [`sample_blocks`]' smaller blocks). With 8-lane vectors such a block decodes each entry
/// once for 64 samples and its 8 independent FMA chains hide the FMA latency (4 vectors needed two
/// passes over each row); 16-lane vectors cover 64 samples with 4, so it is 0.
#[inline(always)]
fn wide_samples<S: Simd>(batch: usize) -> usize {
    if S::LANES >= 16 {
        0
    } else {
        batch / (8 * S::LANES) * (8 * S::LANES)
    }
}

/// The batch-B walks' split of `batch` samples: `(wide, narrow, single)`, with `0..wide` walked in
/// blocks of 8 accumulator vectors, `wide..narrow` in blocks of 4, `narrow..single` of 1 and
/// `single..batch` one sample at a time.
#[inline(always)]
fn sample_blocks<S: Simd>(batch: usize) -> (usize, usize, usize) {
    let wide = wide_samples::<S>(batch);
    let four = 4 * S::LANES;
    let narrow = wide + (batch - wide) / four * four;
    (
        wide,
        narrow,
        narrow + (batch - narrow) / S::LANES * S::LANES,
    )
}

/// The samples `lo..batch` of one batch-B column tile, one at a time (the blocks of vectors took the
/// others): per row `r`, the sum over its entries `v << 12 | c` of `product(weights[v], x)` with `x`
/// the input of column `col0 + c` and that sample, into `y` (the first tile) or added to it, in `T`'s
/// arithmetic.
#[allow(clippy::too_many_arguments)]
fn tail_samples<W: Copy, A: Copy, T: Accumulate>(
    tile: &Tile,
    row_ptr: &[u32],
    first: bool,
    weights: &[W; 16],
    x: &[A],
    y: &mut [T],
    batch: usize,
    lo: usize,
    product: impl Fn(W, A) -> T,
) {
    let b = batch;
    let x = &x[tile.col0 * b..];
    for (r, ptr) in row_ptr.windows(2).enumerate() {
        let row = &tile.entries[ptr[0] as usize..ptr[1] as usize];
        for (bb, o) in y[r * b..(r + 1) * b].iter_mut().enumerate().skip(lo) {
            let mut acc = if first { T::default() } else { *o };
            for &e in row {
                let c = (e as usize) & ((1 << TILE_BITS) - 1);
                acc = acc.accumulate(product(
                    weights[(e >> TILE_BITS) as usize & 15],
                    x[c * b + bb],
                ));
            }
            *o = acc;
        }
    }
}

/// Batch B, f32, one column tile: per block of samples, the tile's inputs packed (`pack`), then per
/// row `N` vectors of accumulators (loaded from `y`, or zero in the first tile), one splat and `N`
/// FMAs per entry, stored back.
struct RowWalkF32<'a> {
    tile: &'a Tile,
    /// Columns per tile (a power of two): the packed tile holds `cols * block` values.
    cols: usize,
    /// The thread's rows' pointers into the tile's entries.
    row_ptr: &'a [u32],
    first: bool,
    codebook: &'a [f32; 16],
    x: &'a [f32],
    y: &'a mut [f32],
    batch: usize,
    /// The thread's packing buffer.
    pack: &'a mut Vec<f32>,
}

impl RowWalkF32<'_> {
    #[inline(always)]
    fn walk<S: Simd, const N: usize>(&mut self, s: S, lo: usize, hi: usize) {
        let b = self.batch;
        let block = N * S::LANES;
        let entries = &self.tile.entries[..];
        assert!(self.cols.is_power_of_two() && self.cols <= 1 << TILE_BITS);
        let mask = (self.cols - 1) as u16;
        let mut b0 = lo;
        while b0 + block <= hi {
            let pack = aligned(self.pack, self.cols * block);
            pack_tile(self.x, b, self.tile, (b0, block), pack, |a| a);
            let pack = &*pack;
            for (r, ptr) in self.row_ptr.windows(2).enumerate() {
                let row = &entries[ptr[0] as usize..ptr[1] as usize];
                let out = &mut self.y[r * b + b0..r * b + b0 + block];
                let mut acc: [S::F; N] = if self.first {
                    [s.zero(); N]
                } else {
                    std::array::from_fn(|k| s.load(&out[k * S::LANES..]))
                };
                for &e in row {
                    let wv = s.splat(self.codebook[(e >> TILE_BITS) as usize & 15]);
                    let at = (e & mask) as usize * block;
                    debug_assert!(at + block <= pack.len());
                    // SAFETY: `at` is at most `(cols - 1) * block` (`mask` is `cols - 1`, `cols` a
                    // power of two) and `pack` holds `cols * block` values.
                    let xr = unsafe { pack.get_unchecked(at..at + block) };
                    for k in 0..N {
                        acc[k] = s.mul_add(wv, s.load(&xr[k * S::LANES..]), acc[k]);
                    }
                }
                for (k, v) in acc.iter().enumerate() {
                    s.store(&mut out[k * S::LANES..], *v);
                }
            }
            b0 += block;
        }
    }
}

impl Kernel for RowWalkF32<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (wide, narrow, single) = sample_blocks::<S>(self.batch);
        let mut w = self;
        w.walk::<S, 8>(s, 0, wide);
        w.walk::<S, 4>(s, wide, narrow);
        w.walk::<S, 1>(s, narrow, single);
        let product = |wt: f32, a: f32| wt * a;
        tail_samples(
            w.tile, w.row_ptr, w.first, w.codebook, w.x, w.y, w.batch, single, product,
        );
    }
}

/// Batch B, fixed point, one column tile: as [`RowWalkF32`], with EIE's rounded products
/// `(w * a + round) >> frac` in i32 lanes and wrapping adds into `acc` (which the first tile
/// overwrites). The input is packed as i16 pairs `(a, 1)` in i32 lanes and each weight splat as the
/// pair `(w, round)`, so that one `pmaddwd` gives `w * a + round` exactly (|w * a| <= 2^30, `round`
/// <= 2^14); a rounding bias beyond i16 (more than 15 fraction bits) is added apart.
struct RowWalkFixed<'a> {
    tile: &'a Tile,
    cols: usize,
    row_ptr: &'a [u32],
    first: bool,
    wq: &'a [i16; 16],
    spec: FixedPointSpec,
    x: &'a [i16],
    acc: &'a mut [i32],
    batch: usize,
    pack: &'a mut Vec<i32>,
}

/// Two i16 in one i32 lane, `lo` in the low half (`pmaddwd`'s order).
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

impl RowWalkFixed<'_> {
    #[inline(always)]
    fn walk<S: Simd, const N: usize, const APART: bool>(&mut self, s: S, lo: usize, hi: usize) {
        let b = self.batch;
        let block = N * S::LANES;
        let shift = self.spec.weight.frac as u32;
        // `run` picked `APART` by the same test.
        let round = self.spec.round_bias();
        let (round_pair, round_apart) = match i16::try_from(round) {
            Ok(r) => (r, 0),
            Err(_) => (0, round),
        };
        debug_assert_eq!(APART, round_apart != 0);
        let apart = s.isplat(round_apart);
        let weights: [i32; 16] = std::array::from_fn(|k| pair(self.wq[k], round_pair));
        let entries = &self.tile.entries[..];
        assert!(self.cols.is_power_of_two() && self.cols <= 1 << TILE_BITS);
        let mask = (self.cols - 1) as u16;
        // Room for `N * S::LANES` lanes (at most 8 x 16, a combination `run` never walks).
        let mut tmp = [0i32; 128];
        let mut b0 = lo;
        while b0 + block <= hi {
            let pack = aligned(self.pack, self.cols * block);
            pack_tile(self.x, b, self.tile, (b0, block), pack, |a| pair(a, 1));
            let pack = &*pack;
            for (r, ptr) in self.row_ptr.windows(2).enumerate() {
                let row = &entries[ptr[0] as usize..ptr[1] as usize];
                let mut acc = [s.izero(); N];
                for &e in row {
                    let w = s.isplat(weights[(e >> TILE_BITS) as usize & 15]);
                    let at = (e & mask) as usize * block;
                    debug_assert!(at + block <= pack.len());
                    // SAFETY: as in `RowWalkF32::walk`.
                    let xr = unsafe { pack.get_unchecked(at..at + block) };
                    for k in 0..N {
                        let p = s.madd_i16(w, s.iload(&xr[k * S::LANES..]));
                        let p = if APART { s.iadd(p, apart) } else { p };
                        acc[k] = s.iadd(acc[k], s.isra(p, shift));
                    }
                }
                for (k, v) in acc.iter().enumerate() {
                    s.istore(&mut tmp[k * S::LANES..], *v);
                }
                let out = &mut self.acc[r * b + b0..r * b + b0 + block];
                for (o, &t) in out.iter_mut().zip(&tmp) {
                    *o = if self.first { t } else { o.wrapping_add(t) };
                }
            }
            b0 += block;
        }
    }
}

impl Kernel for RowWalkFixed<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let (wide, narrow, single) = sample_blocks::<S>(self.batch);
        let mut w = self;
        if i16::try_from(w.spec.round_bias()).is_ok() {
            w.walk::<S, 8, false>(s, 0, wide);
            w.walk::<S, 4, false>(s, wide, narrow);
            w.walk::<S, 1, false>(s, narrow, single);
        } else {
            w.walk::<S, 8, true>(s, 0, wide);
            w.walk::<S, 4, true>(s, wide, narrow);
            w.walk::<S, 1, true>(s, narrow, single);
        }
        let spec = w.spec;
        let product = |wq: i16, a: i16| spec.product(wq, a);
        tail_samples(
            w.tile, w.row_ptr, w.first, w.wq, w.x, w.acc, w.batch, single, product,
        );
    }
}

/// Batch 1, the row walk: each thread's block of rows through every tile in turn.
fn walk_rows_one<W, A, T, P>(
    threads: &Threads,
    level: IsaLevel,
    r: &RowLayoutOne,
    weights: &[W; 16],
    product: P,
    x: &[A],
    y: &mut [T],
) where
    W: Copy + Sync,
    A: Copy + Sync,
    T: Accumulate + Send,
    P: Fn(W, A) -> T + Copy + Sync,
{
    // The blocks are the chunks `for_rows` hands out.
    assert_eq!(y.len(), r.rows, "one output per row");
    assert_eq!(
        r.blocks.len(),
        y.len().div_ceil(r.per),
        "one block per chunk of rows"
    );
    threads.for_rows(y, 1, r.per, |b, ys| {
        // Holes (columns past a narrow tile's width) are never read, so zeroing once suffices.
        let mut table = [T::default(); ROW1_TABLE];
        for tile in &r.blocks[b] {
            let walk = RowWalkOne {
                tile,
                weights,
                product,
                x: &x[tile.col0..tile.col0 + tile.width],
                table: &mut table,
                first: tile.col0 == 0,
                y: &mut *ys,
            };
            dispatch(level, walk);
        }
    });
}

/// The per-thread output buffers [`walk_columns`] needs beyond the caller's (batch 1 only).
fn scratch_buffers<T: Clone + Default>(
    threads: &Threads,
    batch: usize,
    outputs: usize,
) -> Vec<Vec<T>> {
    let extra = if batch == 1 { threads.count() - 1 } else { 0 };
    vec![vec![T::default(); outputs]; extra]
}

/// What a backend ran: its level, threads, the walk forced (if one was: [`forced_walk_in`] reads it
/// back), then `more`.
fn walk_detail(level: IsaLevel, threads: &Threads, d: Option<&EieData>, more: &str) -> String {
    let forced = d
        .and_then(|d| d.forced)
        .map(|w| format!(", {} walk ({WALK_ENV})", w.name()));
    format!(
        "{}, {} thread(s){}{more}",
        level.name(),
        threads.count(),
        forced.unwrap_or_default()
    )
}

/// The batch-1 walk (`column`, `row`, `window`, `plane`) a CPU EIE backend's detail
/// ([`walk_detail`]) says was forced, if any.
pub fn forced_walk_in(detail: &str) -> Option<&str> {
    let tag = format!(" walk ({WALK_ENV})");
    detail
        .split(", ")
        .find_map(|p| p.strip_suffix(tag.as_str()))
}

/// EIE-format SpMV in f32.
pub struct EieF32 {
    level: IsaLevel,
    threads: Threads,
    d: Option<EieData>,
    /// One output buffer per thread after the first (batch 1).
    scratch: Vec<Vec<f32>>,
    /// The window walk's window buffers (batch 1; [`WindowLayout::for_blocks`]).
    win: Vec<Vec<f32>>,
    /// The batch-1 walk forced by [`EieF32::with_walk`] (else [`WALK_ENV`]'s, if set).
    walk: Option<Walk>,
    /// The plane walk's product tables and their byte tables (batch 1, scratch).
    tables: Vec<[f32; 16]>,
    planes: Vec<[u8; 64]>,
}

impl EieF32 {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            d: None,
            scratch: Vec::new(),
            win: Vec::new(),
            walk: None,
            tables: Vec::new(),
            planes: Vec::new(),
        }
    }

    /// Forces `walk` at batch 1, over [`WALK_ENV`] (for tests and sweeps; the cost models pick
    /// otherwise).
    pub fn with_walk(mut self, walk: Walk) -> Self {
        self.walk = Some(walk);
        self
    }
}

impl Backend for EieF32 {
    fn name(&self) -> String {
        "cpu-eie-f32".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::F32
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        self.d = Some(EieData::new(
            &self.name(),
            layer,
            batch,
            self.level,
            self.threads.count(),
            Arithmetic::F32,
            Walks {
                window_ok: true,
                forced: forced_walk(&self.name(), self.walk)?,
            },
        )?);
        self.scratch = scratch_buffers(&self.threads, batch, layer.outputs());
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
        let level = self.level;
        if let Some(c) = &d.cols {
            if let Some(w) = d.window.as_ref().filter(|_| d.window_walk_for(level, c, x)) {
                let (cb, lanes) = (&d.codebook, w.lanes);
                w.for_blocks(
                    &self.threads,
                    level,
                    x,
                    y,
                    &mut self.win,
                    |block, win, ys| {
                        let walk = WindowWalkF32 {
                            block,
                            lanes,
                            codebook: cb,
                            win,
                            y: ys,
                        };
                        dispatch(level, walk);
                    },
                );
                finish_f32(&d.p, y);
                return Ok(());
            }
            let mut nz = std::mem::take(&mut d.nz);
            d.scan(x, 1.0f32, d.p.bias.is_some(), &mut nz);
            let walk = d.walk_of(c, &nz);
            if let Some(r) = d.rows1.as_ref().filter(|_| walk == Walk::Row) {
                d.nz = nz;
                let product = |w: f32, a: f32| w * a;
                walk_rows_one(&self.threads, level, r, &d.codebook, product, x, y);
                finish_f32(&d.p, y);
                return Ok(());
            }
            let cb = d.codebook;
            // Entry 0 (padding) is exactly 0, even for a non-finite activation.
            let table = move |a: f32| -> [f32; 16] {
                let mut t: [f32; 16] = std::array::from_fn(|k| cb[k] * a);
                t[0] = 0.0;
                t
            };
            if let Some(p) = d.plane.as_ref().filter(|_| walk == Walk::Plane) {
                let (tables, planes) = (&mut self.tables, &mut self.planes);
                p.walk(&self.threads, level, &nz, y, tables, planes, &table);
            } else {
                walk_columns(&self.threads, level, c, &nz, y, &mut self.scratch, &table);
            }
            d.nz = nz;
            if d.p.relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            return Ok(());
        }
        let r = d.rows.as_ref().expect("one layout is prepared");
        let b = d.p.batch;
        let per = rows_per_task(d.p.outputs, self.threads.count());
        let cb = &d.codebook;
        self.threads.for_rows(y, b, per, |t, ys| {
            let r0 = t * per;
            let rows = ys.len() / b;
            let mut pack = Vec::new();
            for (i, tile) in r.tiles.iter().enumerate() {
                let walk = RowWalkF32 {
                    tile,
                    cols: r.cols,
                    row_ptr: &tile.row_ptr[r0..=r0 + rows],
                    first: i == 0,
                    codebook: cb,
                    x,
                    y: &mut *ys,
                    batch: b,
                    pack: &mut pack,
                };
                dispatch(level, walk);
            }
        });
        finish_f32(&d.p, y);
        Ok(())
    }
    fn work(&self, input: Data<'_>) -> Work {
        self.d
            .as_ref()
            .map_or_else(Work::default, |d| d.work(input))
    }
    fn detail(&self) -> String {
        walk_detail(self.level, &self.threads, self.d.as_ref(), "")
    }
}

/// The outputs of the fixed-point walks that leave the bias out (the row walks): per row of `batch`
/// accumulators, the row's bias product added (wrapping), then ReLU and saturation.
fn finish_fixed(
    spec: FixedPointSpec,
    relu: bool,
    bias_q: Option<&[i32]>,
    acc: &[i32],
    y: &mut [i16],
    batch: usize,
) {
    for (i, (ys, accs)) in y.chunks_mut(batch).zip(acc.chunks(batch)).enumerate() {
        let bias = bias_q.map_or(0, |bq| bq[i]);
        for (o, &a) in ys.iter_mut().zip(accs) {
            *o = spec.finish(a.wrapping_add(bias), relu);
        }
    }
}

/// EIE-format SpMV in EIE's 16-bit fixed point: bit-exact with `eie_compress`'s reference.
pub struct EieFixed {
    level: IsaLevel,
    threads: Threads,
    d: Option<EieData>,
    spec: Option<FixedPointSpec>,
    wq: [i16; 16],
    one: i16,
    bias_q: Option<Vec<i32>>,
    acc: Vec<i32>,
    nzq: Vec<(u32, i16)>,
    /// One accumulator buffer per thread after the first (batch 1).
    scratch: Vec<Vec<i32>>,
    /// The window walk's window buffers (batch 1; [`WindowLayout::for_blocks`]).
    win: Vec<Vec<i32>>,
    /// The batch-1 walk forced by [`EieFixed::with_walk`] (else [`WALK_ENV`]'s, if set).
    walk: Option<Walk>,
    /// The plane walk's product tables and their byte tables (batch 1, scratch).
    tables: Vec<[i32; 16]>,
    planes: Vec<[u8; 64]>,
}

impl EieFixed {
    /// At `level` (must be available) with `par` threads.
    pub fn new(level: IsaLevel, par: Par) -> Self {
        Self {
            level,
            threads: Threads::new(par),
            d: None,
            spec: None,
            wq: [0; 16],
            one: 0,
            bias_q: None,
            acc: Vec::new(),
            nzq: Vec::new(),
            scratch: Vec::new(),
            win: Vec::new(),
            walk: None,
            tables: Vec::new(),
            planes: Vec::new(),
        }
    }

    /// Forces `walk` at batch 1, over [`WALK_ENV`] (for tests and sweeps; the cost models pick
    /// otherwise).
    pub fn with_walk(mut self, walk: Walk) -> Self {
        self.walk = Some(walk);
        self
    }
}

impl Backend for EieFixed {
    fn name(&self) -> String {
        "cpu-eie-fixed".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::Fixed16
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        let spec = layer.fixed();
        // A padding lane of the window walk adds `product(0, 0)` (0 for every rounding we have).
        let d = EieData::new(
            &self.name(),
            layer,
            batch,
            self.level,
            self.threads.count(),
            Arithmetic::Fixed16,
            Walks {
                window_ok: spec.product(0, 0) == 0,
                forced: forced_walk(&self.name(), self.walk)?,
            },
        )?;
        self.scratch = scratch_buffers(&self.threads, batch, layer.outputs());
        let q = layer.fixed_codebook();
        self.wq = [0; 16];
        self.wq[..q.len()].copy_from_slice(&q);
        self.one = spec.act.quantize(1.0);
        self.bias_q = layer.bias_codes().map(|bc| {
            bc.iter()
                .map(|&c| spec.product(self.wq[c as usize], self.one))
                .collect()
        });
        self.acc = vec![0; layer.outputs() * batch];
        self.nzq = Vec::with_capacity(layer.inputs() + 1);
        self.spec = Some(spec);
        self.d = Some(d);
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Some(d), Some(spec)) = (self.d.as_ref(), self.spec) else {
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
        let level = self.level;
        let relu = d.p.relu;
        if let Some(c) = &d.cols {
            if let Some(w) = d.window.as_ref().filter(|_| d.window_walk_for(level, c, x)) {
                let round = spec.round_bias();
                let (round_pair, apart) = match i16::try_from(round) {
                    Ok(r) => (r, 0),
                    Err(_) => (0, round),
                };
                let weights: [i32; 16] = std::array::from_fn(|k| pair(self.wq[k], round_pair));
                let shift = spec.weight.frac as u32;
                let (acc, lanes) = (&mut self.acc, w.lanes);
                w.for_blocks(
                    &self.threads,
                    level,
                    x,
                    acc,
                    &mut self.win,
                    |block, win, ys| {
                        let walk = WindowWalkFixed {
                            block,
                            lanes,
                            weights: &weights,
                            apart,
                            shift,
                            win,
                            acc: ys,
                        };
                        dispatch(level, walk);
                    },
                );
                finish_fixed(spec, relu, self.bias_q.as_deref(), acc, y, 1);
                return Ok(());
            }
            let mut nz = std::mem::take(&mut self.nzq);
            d.scan(x, self.one, d.p.bias.is_some(), &mut nz);
            let walk = d.walk_of(c, &nz);
            if let Some(r) = d.rows1.as_ref().filter(|_| walk == Walk::Row) {
                self.nzq = nz;
                let product = move |w: i16, a: i16| spec.product(w, a);
                let acc = &mut self.acc;
                walk_rows_one(&self.threads, level, r, &self.wq, product, x, acc);
                finish_fixed(spec, relu, self.bias_q.as_deref(), acc, y, 1);
                return Ok(());
            }
            let wq = self.wq;
            let table =
                move |a: i16| -> [i32; 16] { std::array::from_fn(|k| spec.product(wq[k], a)) };
            let acc = &mut self.acc;
            if let Some(p) = d.plane.as_ref().filter(|_| walk == Walk::Plane) {
                let (tables, planes) = (&mut self.tables, &mut self.planes);
                p.walk(&self.threads, level, &nz, acc, tables, planes, &table);
            } else {
                walk_columns(&self.threads, level, c, &nz, acc, &mut self.scratch, &table);
            }
            self.nzq = nz;
            for (o, &a) in y.iter_mut().zip(acc.iter()) {
                *o = spec.finish(a, relu);
            }
            return Ok(());
        }
        let r = d.rows.as_ref().expect("one layout is prepared");
        let b = d.p.batch;
        let per = rows_per_task(d.p.outputs, self.threads.count());
        let wq = &self.wq;
        let acc = &mut self.acc;
        self.threads.for_rows(acc, b, per, |t, accs| {
            let r0 = t * per;
            let rows = accs.len() / b;
            let mut pack = Vec::new();
            for (i, tile) in r.tiles.iter().enumerate() {
                let walk = RowWalkFixed {
                    tile,
                    cols: r.cols,
                    row_ptr: &tile.row_ptr[r0..=r0 + rows],
                    first: i == 0,
                    wq,
                    spec,
                    x,
                    acc: &mut *accs,
                    batch: b,
                    pack: &mut pack,
                };
                dispatch(level, walk);
            }
        });
        finish_fixed(spec, relu, self.bias_q.as_deref(), acc, y, b);
        Ok(())
    }
    fn work(&self, input: Data<'_>) -> Work {
        self.d
            .as_ref()
            .map_or_else(Work::default, |d| d.work(input))
    }
    fn detail(&self) -> String {
        let rounding = self.spec.map_or("", |s| s.rounding_note());
        walk_detail(self.level, &self.threads, self.d.as_ref(), rounding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::{CompressOptions, DenseLayer};

    /// The window walk at every level this CPU has (16 lanes with AVX-512, 8 below: AVX2 picks it
    /// where it costs less than the row walk, the portable level only when forced), in one block and
    /// in blocks of one and two groups, against the scalar sum: rows from empty to dense, runs of zeros longer than a
    /// window, a last group of 13 (or 5) rows, non-finite inputs in columns no entry uses (the padding
    /// slot must still add 0) and, in fixed point, EIE's products bit for bit.
    #[test]
    fn window_walk_every_level() {
        let (rows, cols) = (45usize, 300usize);
        let weight = |i: usize, j: usize| {
            let h = (i * 7919 + j * 104_729) % 97;
            if i == 3
                || j == 150
                || j == 151
                || (100..180).contains(&j) && i.is_multiple_of(2)
                || h >= 8 + i
            {
                0.0
            } else {
                (h as f32 - 10.0) / 8.0
            }
        };
        let w = (0..rows * cols)
            .map(|k| weight(k / cols, k % cols))
            .collect();
        let x: Vec<f32> = (0..cols)
            .map(|j| match j {
                150 => f32::INFINITY,
                151 => f32::NAN,
                _ => ((j * 37) % 11) as f32 * 0.25 - 1.0,
            })
            .collect();
        let finite: Vec<f32> = x
            .iter()
            .map(|&a| if a.is_finite() { a } else { 0.5 })
            .collect();
        let dense = DenseLayer::new("w", rows, cols, w, None, finite.clone(), false).unwrap();
        let layer = CompressedLayer::compress(dense, CompressOptions::default()).unwrap();
        let m = layer.codes();
        let mut cb = [0.0f32; 16];
        cb[..layer.codebook().len()].copy_from_slice(layer.codebook().values());
        let spec = layer.fixed();
        let mut wq = [0i16; 16];
        wq[..layer.codebook().len()].copy_from_slice(&layer.fixed_codebook());
        let xq: Vec<i16> = finite.iter().map(|&a| spec.act.quantize(a)).collect();
        let (mut want, mut want_q) = (vec![0.0f64; rows], vec![0i32; rows]);
        for (i, (w, q)) in want.iter_mut().zip(&mut want_q).enumerate() {
            let (cs, vs) = m.row(i);
            for (&c, &v) in cs.iter().zip(vs) {
                *w += cb[v as usize] as f64 * x[c as usize] as f64;
                *q = q.wrapping_add(spec.product(wq[v as usize], xq[c as usize]));
            }
        }
        let round = spec.round_bias();
        let (round_pair, apart) = match i16::try_from(round) {
            Ok(r) => (r, 0),
            Err(_) => (0, round),
        };
        let weights: [i32; 16] = std::array::from_fn(|k| pair(wq[k], round_pair));
        for level in IsaLevel::available() {
            let lanes = if level == IsaLevel::Avx512 { 16 } else { 8 };
            for per in [rows.next_multiple_of(lanes), lanes, 2 * lanes] {
                let l = WindowLayout::new(m, per, lanes);
                assert_eq!(l.blocks.len(), rows.div_ceil(per));
                assert!(l.steps * lanes as u64 >= l.real, "{level:?}: entries lost");
                let (mut buf, mut bufq) = (Vec::new(), Vec::new());
                let win: &[f32] = l.fill(level, &x, &mut buf);
                let winq: &[i32] = l.fill(level, &xq, &mut bufq);
                // Window `w`, slot `k`: input `w L + k` (0 past the input) and 0 in the last slot.
                for (i, (&v, &q)) in win.iter().zip(winq).enumerate() {
                    let (w, k) = (i / (2 * lanes), i % (2 * lanes));
                    let j = w * lanes + k;
                    let (a, aq) = match (k < 2 * lanes - 1, x.get(j), xq.get(j)) {
                        (true, Some(&a), Some(&aq)) => (a, pair(aq, 1)),
                        _ => (0.0, 0),
                    };
                    assert_eq!(
                        (v.to_bits(), q),
                        (a.to_bits(), aq),
                        "{level:?}: window {w} slot {k}"
                    );
                }
                let (mut y, mut acc) = (vec![f32::NAN; rows], vec![i32::MIN; rows]);
                for (b, (ys, accs)) in y.chunks_mut(per).zip(acc.chunks_mut(per)).enumerate() {
                    let block = &l.blocks[b];
                    dispatch(
                        level,
                        WindowWalkF32 {
                            block,
                            lanes,
                            codebook: &cb,
                            win,
                            y: ys,
                        },
                    );
                    let walk = WindowWalkFixed {
                        block,
                        lanes,
                        weights: &weights,
                        apart,
                        shift: spec.weight.frac as u32,
                        win: winq,
                        acc: accs,
                    };
                    dispatch(level, walk);
                }
                for i in 0..rows {
                    assert!(
                        (y[i] as f64 - want[i]).abs() <= 1e-5 * (1.0 + want[i].abs()),
                        "{level:?}, {per} rows per block, row {i}: {} vs {}",
                        y[i],
                        want[i]
                    );
                }
                assert_eq!(acc, want_q, "{level:?}, {per} rows per block");
            }
        }
    }
}
