// Batch-1 dense GEMV (`gemv_sg`) and CSR SpMV (`spmv_sg`) with subgroup reductions: used where the adapter has
// the SUBGROUP feature (the same kernels with workgroup-memory reductions, in dense.wgsl and csr.wgsl, are the
// fallback). One workgroup per row; its invocations stride over the row, each subgroup sums its lanes with
// `subgroupAdd`, one lane per subgroup writes its sum to workgroup memory, and `workgroup_sum` adds those up:
// one barrier instead of log2(WG).
//
// Bindings (group 0), as dense.wgsl's `gemv` (gemv_sg) and csr.wgsl's `spmv` (spmv_sg):
//   gemv_sg: 0 params (uniform), 1 w (array<vec4<f32>>, rows padded to vec4s), 2 x (array<vec4<f32>>),
//            3 bias (array<f32>), 4 y (array<f32>, rw)
//   spmv_sg: 0 params (uniform), 1 row_ptr (array<u32>), 2 col_idx (array<u32>), 3 vals (array<f32>),
//            4 x (array<f32>), 5 bias (array<f32>), 6 y (array<f32>, rw)
// Params: rows, cols, relu, row0, groups_x (as in dense.wgsl's and csr.wgsl's; spmv_sg ignores cols and row0),
// padded to 32 bytes; mirrored by `SubgroupParams` in kernels/src/gpu/params.rs.
// Overrides: WG (workgroup size, up to 256).
// naga 30 takes the subgroup builtins without WGSL's `enable subgroups;` (it rejects the directive); the device
// must have wgpu's SUBGROUP feature, which the host checks before building these pipelines.

struct Params {
    rows: u32,
    cols: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;

@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dense_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dense_y: array<f32>;

@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> col_idx: array<u32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> x1: array<f32>;
@group(0) @binding(5) var<storage, read> csr_bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> csr_y: array<f32>;

// One slot per subgroup (a subgroup has at least one lane).
var<workgroup> partial: array<f32, 256>;

/// The workgroup's sum of `acc`: each subgroup adds its lanes, one lane per subgroup writes to workgroup
/// memory, then every invocation adds those (one barrier). Call it from uniform control flow.
fn workgroup_sum(acc: f32, sg: u32, nsg: u32, lane: u32) -> f32 {
    let s = subgroupAdd(acc);
    if (lane == 0u) {
        partial[sg] = s;
    }
    workgroupBarrier();
    var t = 0.0;
    for (var i = 0u; i < nsg; i++) {
        t += partial[i];
    }
    return t;
}

fn relu(v: f32) -> f32 {
    return select(v, max(v, 0.0), params.relu != 0u);
}

@compute @workgroup_size(WG)
fn gemv_sg(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) nsg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let r = wg.y * params.groups_x + wg.x;
    // Uniform per workgroup: the whole workgroup returns, before any subgroup operation or barrier.
    if (r >= params.rows) {
        return;
    }
    let row_vec4 = (params.cols + 3u) / 4u;
    var acc = 0.0;
    for (var k = li; k < row_vec4; k += WG) {
        acc += dot(w[r * row_vec4 + k], x4[k]);
    }
    let t = workgroup_sum(acc, sg, nsg, lane);
    if (li == 0u) {
        let row = params.row0 + r;
        dense_y[row] = relu(t + dense_bias[row]);
    }
}

@compute @workgroup_size(WG)
fn spmv_sg(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) nsg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let r = wg.y * params.groups_x + wg.x;
    if (r >= params.rows) {
        return;
    }
    var acc = 0.0;
    for (var p = row_ptr[r] + li; p < row_ptr[r + 1u]; p += WG) {
        acc += vals[p] * x1[col_idx[p]];
    }
    let t = workgroup_sum(acc, sg, nsg, lane);
    if (li == 0u) {
        csr_y[r] = relu(t + csr_bias[r]);
    }
}
