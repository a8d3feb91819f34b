// Dense f32 GEMV / GEMM: y[r][b] = f(sum_j W[r][j] x[j][b] + bias[r]), one invocation per (row, sample).
//
// Bindings (group 0):
//   0  params : uniform Params   rows (of this block), cols, batch, relu, row0 (first row of the block)
//   1  w      : storage, read    array<vec4<f32>>, this block's rows, row-major, each row padded to a multiple of 4
//   2  x      : storage, read    array<f32>, cols x batch (feature-major)
//   3  bias   : storage, read    array<f32>, one per row of the whole layer (zeros without a bias)
//   4  y      : storage, rw      array<f32>, rows x batch of the whole layer
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
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    if (idx >= params.rows * params.batch) {
        return;
    }
    let r = idx / params.batch;
    let b = idx % params.batch;
    let row_vec4 = (params.cols + 3u) / 4u;
    var acc = 0.0;
    for (var k = 0u; k < row_vec4; k++) {
        let wv = w[r * row_vec4 + k];
        let j = 4u * k;
        let x0 = x[j * params.batch + b];
        let x1 = select(0.0, x[min(j + 1u, params.cols - 1u) * params.batch + b], j + 1u < params.cols);
        let x2 = select(0.0, x[min(j + 2u, params.cols - 1u) * params.batch + b], j + 2u < params.cols);
        let x3 = select(0.0, x[min(j + 3u, params.cols - 1u) * params.batch + b], j + 3u < params.cols);
        acc = acc + dot(wv, vec4<f32>(x0, x1, x2, x3));
    }
    let row = params.row0 + r;
    var out = acc + bias[row];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    y[row * params.batch + b] = out;
}
