// CSR f32 SpMV (`spmv`, batch 1) and SpMM (`spmm`, batch > 1): y[r][b] = f(sum_p vals[p] x[col[p]][b] + bias[r]).
//
// `spmv`: one workgroup per row (the vector-CSR scheme): its invocations stride over the row's non-zeros
// and reduce in workgroup memory. `spmv_rows`: one invocation per row, no barriers (for CPU adapters such as
// lavapipe, where barriers cost more than uncoalesced loads). `spmm`: one invocation per (row, 4 samples): each (column, value) pair is
// loaded once and used for 4 samples with one vec4 load of x.
//
// Bindings (group 0):
//   0  params  : uniform Params   rows, batch, relu, groups_x, xstride (vec4s per feature, batch > 1); padded
//                                 to 32 bytes; mirrored by `CsrParams` in kernels/src/gpu/params.rs
//   1  row_ptr : storage, read    array<u32>, rows + 1
//   2  col_idx : storage, read    array<u32>, nnz
//   3  vals    : storage, read    array<f32>, nnz (decoded weights)
//   4  x       : storage, read    array<f32> (`spmv`: the input) / array<vec4<f32>> (`spmm`: feature-major,
//                                 the batch padded to a multiple of 4)
//   5  bias    : storage, read    array<f32>, rows
//   6  y       : storage, rw      array<f32>, rows x batch
// Overrides: WG (workgroup size, a power of two up to 256).

struct Params {
    rows: u32,
    batch: u32,
    relu: u32,
    groups_x: u32,
    xstride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> col_idx: array<u32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> x1: array<f32>;
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn finish(r: u32, acc: f32) -> f32 {
    var out = acc + bias[r];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    return out;
}

@compute @workgroup_size(WG)
fn spmv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = wg.y * params.groups_x + wg.x;
    if (r >= params.rows) {
        return;
    }
    var acc = 0.0;
    for (var p = row_ptr[r] + li; p < row_ptr[r + 1u]; p += WG) {
        acc += vals[p] * x1[col_idx[p]];
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] += partial[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        y[r] = finish(r, partial[0]);
    }
}

@compute @workgroup_size(WG)
fn spmv_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = (wg.y * params.groups_x + wg.x) * WG + li;
    if (r >= params.rows) {
        return;
    }
    var acc = 0.0;
    for (var p = row_ptr[r]; p < row_ptr[r + 1u]; p++) {
        acc += vals[p] * x1[col_idx[p]];
    }
    y[r] = finish(r, acc);
}

@compute @workgroup_size(WG)
fn spmm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    let groups = params.xstride;
    let r = idx / groups;
    let sg = idx % groups;
    if (r >= params.rows) {
        return;
    }
    // Four entries a step, their gathers independent of each other (more loads in flight), then the tail.
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var p = row_ptr[r];
    let end = row_ptr[r + 1u];
    for (; p + 4u <= end; p += 4u) {
        let x0 = x4[col_idx[p] * groups + sg];
        let x1 = x4[col_idx[p + 1u] * groups + sg];
        let x2 = x4[col_idx[p + 2u] * groups + sg];
        let x3 = x4[col_idx[p + 3u] * groups + sg];
        a0 += vals[p] * x0 + vals[p + 1u] * x1;
        a1 += vals[p + 2u] * x2 + vals[p + 3u] * x3;
    }
    for (; p < end; p++) {
        a0 += vals[p] * x4[col_idx[p] * groups + sg];
    }
    let acc = a0 + a1;
    for (var c = 0u; c < 4u; c++) {
        let b = 4u * sg + c;
        if (b < params.batch) {
            y[r * params.batch + b] = finish(r, acc[c]);
        }
    }
}
