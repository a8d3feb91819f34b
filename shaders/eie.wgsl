// EIE-format SpMV over the layer's 4-bit codebook indices, in f32 and in EIE's 16-bit fixed point (bit-exact
// with the CPU reference). The codebook lives in workgroup memory in every entry point.
//
// Batch 1, EIE's own dataflow (`compact`, then `cols_f32` / `cols_fixed`; on GPUs, by default, `direct`
// without `compact`, in parts: `cols_part_*` and `finish_*_rows`):
//   `compact` (one workgroup) scans the input and writes the list of non-zero columns in order, with its
//   length first: EIE's leading-non-zero detection, done on the GPU.
//   `cols_*`: one workgroup per GPU "PE" g, which owns the rows i = g (mod pes), as in EIE's interleaving.
//   Its invocations share out the non-zero columns; for each, they walk PE g's slice of that column in
//   EIE's interleaved CSC (one byte per entry, four to a u32: the 4-bit codebook index in the high nibble,
//   the 4-bit count of zero rows before the entry in the low one, padding entries of index 0 after 15
//   zeros) and add codebook[v] * a_j into the PE's accumulators in workgroup memory (atomically: two
//   columns may touch one row at once). With the list, zero activations cost nothing but the scan.
//   With `direct` set there is no list: the walk takes the columns themselves and skips zero activations
//   as it meets them (one dispatch fewer; a zero column leaves its lane idle).
//   To fill a large GPU, the non-zero list can also be cut into `chunks` parts (`cols_part_*`): workgroup
//   (g, c) walks part c for PE g. Fixed point: it adds its partial sums into a global accumulator per row
//   with atomics (wrapping sums: the order changes nothing), and `finish_fixed_rows` (one invocation per
//   row) applies bias, ReLU and saturation and clears the accumulator for the next pass. f32: WGSL has no
//   float atomics, so it stores part c's sums (every row of the PE) and `finish_f32_rows` adds the parts
//   in order, then bias and ReLU. Within a workgroup, f32 sums go through compare-exchange loops whose
//   order may change from run to run: the last bits may differ, within DESIGN.md's bound.
//
// Batch > 1 (`rows_f32` / `rows_fixed`): an activation is zero in every sample of a batch only rarely, so
// the batch kernels walk W's rows instead: one invocation per (row, 4 samples), each entry decoded once and
// used for 4 samples. Entries are u16, two per u32 (low half first): the codebook index in the high 4 bits,
// the advance `z + 1` (columns skipped plus one) in the low 12; gaps of 4095 or more take padding entries.
//
// Bindings (group 0):
//   0  params   : uniform Params   rows, cols, batch, relu, groups_x, wfrac (fixed point: weight fraction bits),
//                                  xstride (vec4s of x per feature, batch > 1), pes, is_f32 (`compact`),
//                                  chunks (parts of the non-zero list, `cols_part_*`), direct (1: no
//                                  list, the walk skips zero activations); padded to 48 bytes; mirrored
//                                  by `EieParams` in kernels/src/gpu/params.rs
//   1  ptr      : storage, read    array<u32>: `rows_*`: rows + 1 row pointers, in entries;
//                                  `cols_*`: pes x (cols + 1) column pointers, PE-major, in entries
//   2  entries  : storage, read    array<u32>: packed entries (see above)
//   3  codebook : storage, read    array<f32, 16> (f32) / the 16 fixed-point weights as i32 (fixed)
//   4  x        : storage, read    f32 / i32 (16-bit activations widened): batch 1, `cols_*`: the input;
//                                  `rows_*`: vec4s, feature-major, the batch padded to a multiple of 4;
//                                  `compact`: the same input buffer read as raw u32 bits
//   5  bias     : storage, read    array<f32>: bias values (f32) / array<i32>: bias products in the activation format (fixed)
//   6  y        : storage, rw      array<f32> (f32) / array<i32> holding saturated 16-bit outputs (fixed); rows x batch
//   7  nz       : storage          array<u32>: count, then the non-zero columns (`compact` writes, `cols_*` read)
//   8  part     : storage, rw      f32: array<f32>, chunks x rows partial sums (`cols_part_f32` stores,
//                                  `finish_f32_rows` adds); fixed: array<atomic<i32>>, one accumulator per
//                                  row (`cols_part_fixed` adds, `finish_fixed_rows` reads and clears)
// Overrides: WG (workgroup size, a power of two from 16 to 256).

struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    groups_x: u32,
    wfrac: u32,
    xstride: u32,
    pes: u32,
    is_f32: u32,
    chunks: u32,
    direct: u32,
    wround: u32,
}

override WG: u32 = 64u;

/// Most rows one PE may own (the accumulators in workgroup memory).
const MAX_PE_ROWS: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ptr: array<u32>;
@group(0) @binding(2) var<storage, read> entries: array<u32>;

fn entry16(e: u32) -> u32 {
    return (entries[e >> 1u] >> ((e & 1u) * 16u)) & 0xFFFFu;
}

/// Four 16-bit row entries from entry e on, after column c (1-based: the column walked so far): their
/// codebook indices and their columns (1-based), decoded before any gather so the four gathers are
/// independent.
struct Four {
    k: vec4<u32>,
    col: vec4<u32>,
}

fn four(e: u32, c: u32) -> Four {
    let v = vec4<u32>(entry16(e), entry16(e + 1u), entry16(e + 2u), entry16(e + 3u));
    let d = v & vec4<u32>(0xFFFu);
    let c0 = c + d.x;
    let c1 = c0 + d.y;
    let c2 = c1 + d.z;
    return Four(v >> vec4<u32>(12u), vec4<u32>(c0, c1, c2, c2 + d.w));
}

fn entry8(e: u32) -> u32 {
    return (entries[e >> 2u] >> ((e & 3u) * 8u)) & 0xFFu;
}

/// Rows PE g owns: i = g, g + pes, ... below rows.
fn pe_rows(g: u32) -> u32 {
    return (params.rows + params.pes - 1u - g) / params.pes;
}

// ---- the non-zero list ----

@group(0) @binding(4) var<storage, read> x_bits: array<u32>;
@group(0) @binding(7) var<storage, read_write> nz_out: array<u32>;

var<workgroup> counts: array<u32, 256>;

fn nonzero(j: u32) -> bool {
    let b = x_bits[j];
    // f32: +0.0 and -0.0 are zero; fixed point: the integer 0.
    return select(b != 0u, (b & 0x7FFFFFFFu) != 0u, params.is_f32 != 0u);
}

@compute @workgroup_size(WG)
fn compact(@builtin(local_invocation_index) li: u32) {
    let chunk = (params.cols + WG - 1u) / WG;
    let start = min(li * chunk, params.cols);
    let end = min(start + chunk, params.cols);
    var c = 0u;
    for (var j = start; j < end; j++) {
        if (nonzero(j)) {
            c++;
        }
    }
    counts[li] = c;
    workgroupBarrier();
    // Inclusive prefix sum (Hillis-Steele).
    for (var s = 1u; s < WG; s <<= 1u) {
        var add = 0u;
        if (li >= s) {
            add = counts[li - s];
        }
        workgroupBarrier();
        counts[li] += add;
        workgroupBarrier();
    }
    var o = counts[li] - c;
    for (var j = start; j < end; j++) {
        if (nonzero(j)) {
            nz_out[1u + o] = j;
            o++;
        }
    }
    if (li == WG - 1u) {
        nz_out[0] = counts[li];
    }
}

@group(0) @binding(7) var<storage, read> nz: array<u32>;

// ---- f32 ----

@group(0) @binding(3) var<storage, read> codebook_f32: array<f32>;
@group(0) @binding(4) var<storage, read> x_f32: array<f32>;
@group(0) @binding(4) var<storage, read> x4_f32: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias_f32: array<f32>;
@group(0) @binding(6) var<storage, read_write> y_f32: array<f32>;

var<workgroup> cb_f32: array<f32, 16>;
var<workgroup> acc_f32: array<atomic<u32>, MAX_PE_ROWS>;

fn finish_f32(i: u32, acc: f32) -> f32 {
    var out = acc + bias_f32[i];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    return out;
}

/// acc[r] += v: WGSL has no float atomics, so a compare-exchange loop on the bits.
fn add_f32(r: u32, v: f32) {
    var old = atomicLoad(&acc_f32[r]);
    loop {
        let res = atomicCompareExchangeWeak(&acc_f32[r], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (res.exchanged) {
            break;
        }
        old = res.old_value;
    }
}

/// The workgroup's (PE, part) and the part's slice of the non-zero list; PE pes means "no work". With one
/// part (`cols_*`), workgroup g is PE g and walks the whole list.
fn pe_and_part(wg: vec3<u32>) -> vec4<u32> {
    let id = wg.y * params.groups_x + wg.x;
    let g = id % params.pes;
    let c = id / params.pes;
    var n = params.cols;
    if (params.direct == 0u) {
        n = nz[0];
    }
    let per = (n + params.chunks - 1u) / params.chunks;
    let t0 = min(c * per, n);
    let t1 = min(t0 + per, n);
    return vec4<u32>(select(g, params.pes, c >= params.chunks), c, t0, t1);
}

/// PE w.x's work on its slice w.z..w.w of the non-zero list: the codebook and zeroed accumulators in
/// workgroup memory, then the walk into `acc_f32`. Returns the PE's row count; every invocation of the
/// workgroup calls it (it holds the barriers).
fn pe_walk_f32(w: vec4<u32>, li: u32) -> u32 {
    let g = w.x;
    if (li < 16u) {
        cb_f32[li] = codebook_f32[li];
    }
    let own = pe_rows(g);
    for (var r = li; r < own; r += WG) {
        atomicStore(&acc_f32[r], 0u);
    }
    workgroupBarrier();
    let stride = params.cols + 1u;
    for (var t = w.z + li; t < w.w; t += WG) {
        var j = t;
        if (params.direct == 0u) {
            j = nz[1u + t];
        }
        let a = x_f32[j];
        if (a == 0.0) {
            continue;
        }
        let e1 = ptr[g * stride + j + 1u];
        var r = 0xFFFFFFFFu;
        for (var e = ptr[g * stride + j]; e < e1; e++) {
            let b = entry8(e);
            r += (b & 15u) + 1u;
            let v = b >> 4u;
            if (v != 0u) {
                add_f32(r, cb_f32[v] * a);
            }
        }
    }
    workgroupBarrier();
    return own;
}

@compute @workgroup_size(WG)
fn cols_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = pe_and_part(wg);
    if (w.x >= params.pes) {
        return;
    }
    let own = pe_walk_f32(w, li);
    for (var r = li; r < own; r += WG) {
        let i = r * params.pes + w.x;
        y_f32[i] = finish_f32(i, bitcast<f32>(atomicLoad(&acc_f32[r])));
    }
}

@group(0) @binding(8) var<storage, read_write> part_f32: array<f32>;

@compute @workgroup_size(WG)
fn cols_part_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = pe_and_part(wg);
    if (w.x >= params.pes) {
        return;
    }
    let own = pe_walk_f32(w, li);
    // Plain stores, every row of the PE (zeros too): part c's sums, which `finish_f32_rows` adds.
    for (var r = li; r < own; r += WG) {
        part_f32[w.y * params.rows + r * params.pes + w.x] = bitcast<f32>(atomicLoad(&acc_f32[r]));
    }
}

@compute @workgroup_size(WG)
fn finish_f32_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * params.groups_x + wg.x) * WG + li;
    if (i >= params.rows) {
        return;
    }
    var acc = 0.0;
    for (var c = 0u; c < params.chunks; c++) {
        acc += part_f32[c * params.rows + i];
    }
    y_f32[i] = finish_f32(i, acc);
}

@compute @workgroup_size(WG)
fn rows_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li < 16u) {
        cb_f32[li] = codebook_f32[li];
    }
    workgroupBarrier();
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    let groups = params.xstride;
    let r = idx / groups;
    let sg = idx % groups;
    if (r >= params.rows) {
        return;
    }
    // Four entries a step: their columns decoded first, then four independent gathers; padding
    // entries (index 0) add nothing. Then the tail.
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var c = 0u;
    var e = ptr[r];
    let end = ptr[r + 1u];
    for (; e + 4u <= end; e += 4u) {
        let f = four(e, c);
        c = f.col.w;
        let x0 = x4_f32[(f.col.x - 1u) * groups + sg];
        let x1 = x4_f32[(f.col.y - 1u) * groups + sg];
        let x2 = x4_f32[(f.col.z - 1u) * groups + sg];
        let x3 = x4_f32[(f.col.w - 1u) * groups + sg];
        let z = vec4<f32>(0.0);
        a0 += select(z, cb_f32[f.k.x] * x0, f.k.x != 0u);
        a0 += select(z, cb_f32[f.k.y] * x1, f.k.y != 0u);
        a1 += select(z, cb_f32[f.k.z] * x2, f.k.z != 0u);
        a1 += select(z, cb_f32[f.k.w] * x3, f.k.w != 0u);
    }
    for (; e < end; e++) {
        let v = entry16(e);
        c += v & 0xFFFu;
        let k = v >> 12u;
        if (k != 0u) {
            a0 += cb_f32[k] * x4_f32[(c - 1u) * groups + sg];
        }
    }
    let acc = a0 + a1;
    for (var s = 0u; s < 4u; s++) {
        let b = 4u * sg + s;
        if (b < params.batch) {
            y_f32[r * params.batch + b] = finish_f32(r, acc[s]);
        }
    }
}

// ---- 16-bit fixed point ----
// WGSL integer addition and multiplication wrap (two's complement): EIE's wrapping 32-bit accumulator,
// whose sum does not depend on the order of the additions. i16 x i16 is exact in i32; `>>` on i32 is an
// arithmetic shift (floor), as in the reference; `params.wround` (0, or half an LSB for round-to-nearest)
// is added to each product first, as in the reference (at most 2^30 + 2^29: no overflow).

@group(0) @binding(3) var<storage, read> codebook_q: array<i32>;
@group(0) @binding(4) var<storage, read> x_q: array<i32>;
@group(0) @binding(4) var<storage, read> x4_q: array<vec4<i32>>;
@group(0) @binding(5) var<storage, read> bias_q: array<i32>;
@group(0) @binding(6) var<storage, read_write> y_q: array<i32>;

var<workgroup> cb_q: array<i32, 16>;
var<workgroup> acc_q: array<atomic<i32>, MAX_PE_ROWS>;

fn finish_q(acc: i32) -> i32 {
    var out = acc;
    if (params.relu != 0u) {
        out = max(out, 0);
    }
    return clamp(out, -32768, 32767);
}

/// As `pe_walk_f32`, into `acc_q` (from zero: the bias is added by the caller, which wrapping sums allow).
fn pe_walk_fixed(w: vec4<u32>, li: u32) -> u32 {
    let g = w.x;
    if (li < 16u) {
        cb_q[li] = codebook_q[li];
    }
    let own = pe_rows(g);
    for (var r = li; r < own; r += WG) {
        atomicStore(&acc_q[r], 0);
    }
    workgroupBarrier();
    let stride = params.cols + 1u;
    for (var t = w.z + li; t < w.w; t += WG) {
        var j = t;
        if (params.direct == 0u) {
            j = nz[1u + t];
        }
        let a = x_q[j];
        if (a == 0) {
            continue;
        }
        let e1 = ptr[g * stride + j + 1u];
        var r = 0xFFFFFFFFu;
        for (var e = ptr[g * stride + j]; e < e1; e++) {
            let b = entry8(e);
            r += (b & 15u) + 1u;
            let v = b >> 4u;
            if (v != 0u) {
                atomicAdd(&acc_q[r], (cb_q[v] * a + i32(params.wround)) >> params.wfrac);
            }
        }
    }
    workgroupBarrier();
    return own;
}

@compute @workgroup_size(WG)
fn cols_fixed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = pe_and_part(wg);
    if (w.x >= params.pes) {
        return;
    }
    let own = pe_walk_fixed(w, li);
    for (var r = li; r < own; r += WG) {
        let i = r * params.pes + w.x;
        y_q[i] = finish_q(atomicLoad(&acc_q[r]) + bias_q[i]);
    }
}

@group(0) @binding(8) var<storage, read_write> part_q: array<atomic<i32>>;

@compute @workgroup_size(WG)
fn cols_part_fixed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = pe_and_part(wg);
    if (w.x >= params.pes) {
        return;
    }
    let own = pe_walk_fixed(w, li);
    for (var r = li; r < own; r += WG) {
        let v = atomicLoad(&acc_q[r]);
        if (v != 0) {
            atomicAdd(&part_q[r * params.pes + w.x], v);
        }
    }
}

@compute @workgroup_size(WG)
fn finish_fixed_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * params.groups_x + wg.x) * WG + li;
    if (i >= params.rows) {
        return;
    }
    // The bias last: wrapping additions give the same sum in any order.
    y_q[i] = finish_q(atomicExchange(&part_q[i], 0) + bias_q[i]);
}

@compute @workgroup_size(WG)
fn rows_fixed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li < 16u) {
        cb_q[li] = codebook_q[li];
    }
    workgroupBarrier();
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    let groups = params.xstride;
    let r = idx / groups;
    let sg = idx % groups;
    if (r >= params.rows) {
        return;
    }
    var acc = vec4<i32>(bias_q[r]);
    var c = 0u;
    let shift = vec4<u32>(params.wfrac);
    let round = vec4<i32>(i32(params.wround));
    // Four entries a step (columns decoded first, then four independent gathers), then the tail; the
    // wrapping sum does not depend on the order. Padding entries (index 0, weight 0) add 0.
    var e = ptr[r];
    let end = ptr[r + 1u];
    for (; e + 4u <= end; e += 4u) {
        let f = four(e, c);
        c = f.col.w;
        acc += (cb_q[f.k.x] * x4_q[(f.col.x - 1u) * groups + sg] + round) >> shift;
        acc += (cb_q[f.k.y] * x4_q[(f.col.y - 1u) * groups + sg] + round) >> shift;
        acc += (cb_q[f.k.z] * x4_q[(f.col.z - 1u) * groups + sg] + round) >> shift;
        acc += (cb_q[f.k.w] * x4_q[(f.col.w - 1u) * groups + sg] + round) >> shift;
    }
    for (; e < end; e++) {
        let v = entry16(e);
        c += v & 0xFFFu;
        let k = v >> 12u;
        acc += (cb_q[k] * x4_q[(c - 1u) * groups + sg] + round) >> shift;
    }
    for (var s = 0u; s < 4u; s++) {
        let b = 4u * sg + s;
        if (b < params.batch) {
            y_q[r * params.batch + b] = finish_q(acc[s]);
        }
    }
}
