// CSR f32 SpMV / SpMM: y[r][b] = f(sum_p vals[p] x[col[p]][b] + bias[r]), one invocation per (row, sample).
//
// Bindings (group 0):
//   0  params  : uniform Params   rows, cols, batch, relu, groups_x
//   1  row_ptr : storage, read    array<u32>, rows + 1
//   2  col_idx : storage, read    array<u32>, nnz
//   3  vals    : storage, read    array<f32>, nnz (decoded weights)
//   4  x       : storage, read    array<f32>, cols x batch (feature-major)
//   5  bias    : storage, read    array<f32>, rows
//   6  y       : storage, rw      array<f32>, rows x batch
// Overrides: WG (workgroup size).

struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> col_idx: array<u32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    if (idx >= params.rows * params.batch) {
        return;
    }
    let r = idx / params.batch;
    let b = idx % params.batch;
    var acc = 0.0;
    for (var p = row_ptr[r]; p < row_ptr[r + 1u]; p++) {
        acc = acc + vals[p] * x[col_idx[p] * params.batch + b];
    }
    var out = acc + bias[r];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    y[r * params.batch + b] = out;
}
