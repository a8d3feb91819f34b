// Dense f32 GEMV (`gemv`, batch 1) and GEMM (`gemm`, batch > 1): y[r][b] = f(sum_j W[r][j] x[j][b] + bias[r]).
//
// `gemv`: one workgroup per row; its WG invocations stride over the row in vec4 loads (neighbours read
// neighbouring 16-byte words) and reduce their partial sums in workgroup memory.
// `gemv_rows`: one invocation per row, no barriers: for CPU adapters (lavapipe), where a workgroup's
// invocations are SIMD lanes and barriers cost more than uncoalesced loads.
// `gemm`: one invocation per tile of 4 rows x 4 samples: each weight vec4 is loaded once and used for 4
// samples, each input vec4 (4 samples of one feature) once for 4 rows: 32 loads per 64 multiply-adds.
//
// Bindings (group 0):
//   0  params : uniform Params   rows (of this block), cols, batch, relu, row0 (first row of the block),
//                                groups_x, xstride (vec4s of x per feature: 1 at batch 1, batch / 4 above)
//   1  w      : storage, read    array<vec4<f32>>, this block's rows (rounded up to 4, zero rows), row-major,
//                                each row zero-padded to a multiple of 4 columns
//   2  x      : storage, read    array<vec4<f32>>: batch 1: the input, zero-padded to a multiple of 4;
//                                batch > 1: feature-major with the batch padded to a multiple of 4
//   3  bias   : storage, read    array<f32>, one per row of the whole layer (zeros without a bias)
//   4  y      : storage, rw      array<f32>, rows x batch of the whole layer
// Overrides: WG (workgroup size, a power of two up to 256).

struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    _wfrac: u32,
    xstride: u32,
    _pes: u32,
    _is_f32: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn finish(row: u32, acc: f32) -> f32 {
    var out = acc + bias[row];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    return out;
}

@compute @workgroup_size(WG)
fn gemv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = wg.y * params.groups_x + wg.x;
    // Uniform per workgroup: every invocation returns together, before any barrier.
    if (r >= params.rows) {
        return;
    }
    let row_vec4 = (params.cols + 3u) / 4u;
    var acc = 0.0;
    for (var k = li; k < row_vec4; k += WG) {
        acc += dot(w[r * row_vec4 + k], x[k]);
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
        let row = params.row0 + r;
        y[row] = finish(row, partial[0]);
    }
}

@compute @workgroup_size(WG)
fn gemv_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = (wg.y * params.groups_x + wg.x) * WG + li;
    if (r >= params.rows) {
        return;
    }
    let row_vec4 = (params.cols + 3u) / 4u;
    var acc = 0.0;
    for (var k = 0u; k < row_vec4; k++) {
        acc += dot(w[r * row_vec4 + k], x[k]);
    }
    let row = params.row0 + r;
    y[row] = finish(row, acc);
}

@compute @workgroup_size(WG)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    let groups = params.xstride;
    let rb = idx / groups;
    let sg = idx % groups;
    if (4u * rb >= params.rows) {
        return;
    }
    let row_vec4 = (params.cols + 3u) / 4u;
    let base = 4u * rb * row_vec4;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var k = 0u; k < row_vec4; k++) {
        let w0 = w[base + k];
        let w1 = w[base + row_vec4 + k];
        let w2 = w[base + 2u * row_vec4 + k];
        let w3 = w[base + 3u * row_vec4 + k];
        // Padding columns have zero weights; their x rows exist (the buffer is padded) and are zero.
        let j = 4u * k;
        let x0 = x[j * groups + sg];
        let x1 = x[(j + 1u) * groups + sg];
        let x2 = x[(j + 2u) * groups + sg];
        let x3 = x[(j + 3u) * groups + sg];
        a0 += w0.x * x0 + w0.y * x1 + w0.z * x2 + w0.w * x3;
        a1 += w1.x * x0 + w1.y * x1 + w1.z * x2 + w1.w * x3;
        a2 += w2.x * x0 + w2.y * x1 + w2.z * x2 + w2.w * x3;
        a3 += w3.x * x0 + w3.y * x1 + w3.z * x2 + w3.w * x3;
    }
    var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
    for (var i = 0u; i < 4u; i++) {
        let r = 4u * rb + i;
        if (r >= params.rows) {
            break;
        }
        let row = params.row0 + r;
        for (var c = 0u; c < 4u; c++) {
            let b = 4u * sg + c;
            if (b < params.batch) {
                y[row * params.batch + b] = finish(row, acc[i][c]);
            }
        }
    }
}
