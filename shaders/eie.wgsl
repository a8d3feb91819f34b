// EIE-format SpMV / SpMM over the compressed layer's own 4-bit codebook indices, in f32 (`main_f32`) and
// in EIE's 16-bit fixed point (`main_fixed`, bit-exact with the CPU reference). One invocation per
// (row, sample); the codebook lives in workgroup memory.
//
// Entries are u16, two per u32 (low half first): the 4-bit codebook index in the high nibble and the
// advance `z + 1` (zero columns skipped, plus one) in the low 12 bits; a gap of 4095 or more columns is
// bridged by padding entries (index 0, advance 4095). Rows are stored one after another (row-major).
//
// Bindings (group 0):
//   0  params   : uniform Params   rows, cols, batch, relu, groups_x, wfrac (fixed point: weight fraction bits)
//   1  row_ptr  : storage, read    array<u32>, rows + 1, in entries
//   2  entries  : storage, read    array<u32>, two entries each
//   3  codebook : storage, read    array<f32, 16> (f32) / the 16 fixed-point weights as i32 (fixed)
//   4  x        : storage, read    array<f32> (f32) / array<i32> of 16-bit activations (fixed); cols x batch
//   5  bias     : storage, read    array<f32>: bias values (f32) / array<i32>: bias products in the activation format (fixed)
//   6  y        : storage, rw      array<f32> (f32) / array<i32> holding saturated 16-bit outputs (fixed); rows x batch
// Overrides: WG (workgroup size, at least 16).

struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    wfrac: u32,
    _pad0: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> entries: array<u32>;

fn entry(e: u32) -> u32 {
    return (entries[e >> 1u] >> ((e & 1u) * 16u)) & 0xFFFFu;
}

// ---- f32 ----

@group(0) @binding(3) var<storage, read> codebook_f32: array<f32>;
@group(0) @binding(4) var<storage, read> x_f32: array<f32>;
@group(0) @binding(5) var<storage, read> bias_f32: array<f32>;
@group(0) @binding(6) var<storage, read_write> y_f32: array<f32>;

var<workgroup> cb_f32: array<f32, 16>;

@compute @workgroup_size(WG)
fn main_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li < 16u) {
        cb_f32[li] = codebook_f32[li];
    }
    workgroupBarrier();
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    if (idx >= params.rows * params.batch) {
        return;
    }
    let r = idx / params.batch;
    let b = idx % params.batch;
    var acc = 0.0;
    var c = 0u;
    for (var e = row_ptr[r]; e < row_ptr[r + 1u]; e++) {
        let v = entry(e);
        c = c + (v & 0xFFFu);
        let k = v >> 12u;
        if (k != 0u) {
            acc = acc + cb_f32[k] * x_f32[(c - 1u) * params.batch + b];
        }
    }
    var out = acc + bias_f32[r];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    y_f32[r * params.batch + b] = out;
}

// ---- 16-bit fixed point ----

@group(0) @binding(3) var<storage, read> codebook_q: array<i32>;
@group(0) @binding(4) var<storage, read> x_q: array<i32>;
@group(0) @binding(5) var<storage, read> bias_q: array<i32>;
@group(0) @binding(6) var<storage, read_write> y_q: array<i32>;

var<workgroup> cb_q: array<i32, 16>;

@compute @workgroup_size(WG)
fn main_fixed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li < 16u) {
        cb_q[li] = codebook_q[li];
    }
    workgroupBarrier();
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    if (idx >= params.rows * params.batch) {
        return;
    }
    let r = idx / params.batch;
    let b = idx % params.batch;
    // WGSL integer addition and multiplication wrap (two's complement): EIE's wrapping 32-bit accumulator.
    var acc = bias_q[r];
    var c = 0u;
    for (var e = row_ptr[r]; e < row_ptr[r + 1u]; e++) {
        let v = entry(e);
        c = c + (v & 0xFFFu);
        let k = v >> 12u;
        // i16 x i16 is exact in i32; `>>` on i32 is an arithmetic shift (floor), as in the reference.
        acc = acc + ((cb_q[k] * x_q[(c - 1u) * params.batch + b]) >> params.wfrac);
    }
    if (params.relu != 0u) {
        acc = max(acc, 0);
    }
    y_q[r * params.batch + b] = clamp(acc, -32768, 32767);
}
