// Dense f32 GEMV (`gemv`, batch 1) and GEMM (`gemm`, batch > 1): y[r][b] = f(sum_j W[r][j] x[j][b] + bias[r]).
//
// `gemv`: one workgroup per row; its WG invocations stride over the row in vec4 loads (neighbours read
// neighbouring 16-byte words) and reduce their partial sums in workgroup memory.
// `gemv_rows`: one invocation per row, no barriers: for CPU adapters (lavapipe), where a workgroup's
// invocations are SIMD lanes and barriers cost more than uncoalesced loads.
// `gemm`: one invocation per tile of 4 rows x 4 samples: each weight vec4 is loaded once and used for 4
// samples, each input vec4 (4 samples of one feature) once for 4 rows: 32 loads per 64 multiply-adds. For
// CPU adapters (no barriers, no workgroup memory).
// `gemm_tiled` (GPUs): a workgroup of 256 invocations per tile of 64 rows x 64 samples, 16 features a step
// staged in workgroup memory (each weight read from memory once per 64 samples, each input once per 64
// rows), each invocation 4 rows x 4 samples; the features split into `splits` ranges (split-K) so that
// layers with few row tiles still fill the GPU. With splits > 1 each range writes its partial sums to
// `part` and `gemm_sum` adds them, the bias and the ReLU.
//
// Bindings (group 0):
//   0  params : uniform Params   rows (of this block), cols, batch, relu, row0 (first row of the block),
//                                groups_x, xstride (vec4s of x per feature: 1 at batch 1, batch / 4 above),
//                                splits, all_rows (see the struct); padded to 48 bytes; mirrored by
//                                `DenseParams` in kernels/src/gpu/params.rs
//   1  w      : storage, read    array<vec4<f32>>, this block's rows (rounded up to 4, zero rows), row-major,
//                                each row zero-padded to a multiple of 4 columns
//   2  x      : storage, read    array<vec4<f32>>: batch 1: the input, zero-padded to a multiple of 4;
//                                batch > 1: feature-major with the batch padded to a multiple of 4
//   3  bias   : storage, read    array<f32>, one per row of the whole layer (zeros without a bias)
//   4  y      : storage, rw      array<f32>, rows x batch of the whole layer
//   5  part   : storage, rw      array<vec4<f32>> (gemm_tiled / gemm_sum with splits > 1): splits x rows of
//                                the whole layer x xstride partial sums
// Overrides: WG (workgroup size, a power of two up to 256).

struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    xstride: u32,
    splits: u32,     // gemm_tiled / gemm_sum: feature ranges (split-K)
    all_rows: u32,   // gemm_tiled / gemm_sum: rows of the whole layer (the partial sums' layout)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> part: array<vec4<f32>>;

var<workgroup> partial: array<f32, 256>;

fn finish(row: u32, acc: f32) -> f32 {
    var out = acc + bias[row];
    if (params.relu != 0u) {
        out = max(out, 0.0);
    }
    return out;
}

/// Finishes and stores samples 4 sgc .. 4 sgc + 3 (those below the batch) of one row.
fn store4(row: u32, sgc: u32, acc: vec4<f32>) {
    for (var c = 0u; c < 4u; c++) {
        let b = 4u * sgc + c;
        if (b < params.batch) {
            y[row * params.batch + b] = finish(row, acc[c]);
        }
    }
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
        store4(params.row0 + r, sg, acc[i]);
    }
}

// Tiles of `gemm_tiled`: ws[kk * 16 + q] holds rows 4q..4q+3 of feature kk; xs[kk * 16 + c] samples 4c..4c+3.
var<workgroup> ws: array<vec4<f32>, 256>;
var<workgroup> xs: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn gemm_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let wid = wg.y * params.groups_x + wg.x;
    let groups = params.xstride;
    let tiles_n = (groups + 15u) / 16u;
    let tiles = ((params.rows + 63u) / 64u) * tiles_n;
    let split = wid / tiles;
    // Uniform per workgroup: every invocation returns together, before any barrier.
    if (split >= params.splits) {
        return;
    }
    let tm = (wid % tiles) / tiles_n;
    let tn = (wid % tiles) % tiles_n;
    let row_vec4 = (params.cols + 3u) / 4u;
    // This split's steps of 16 features (4 vec4 of a weight row).
    let steps = (row_vec4 + 3u) / 4u;
    let per = (steps + params.splits - 1u) / params.splits;
    let s0 = min(split * per, steps);
    let s1 = min(s0 + per, steps);
    // Loading: invocations 0..63 each fetch weight vec4 lk of rows 4q..4q+3 and store them transposed
    // (whole vec4s: no two invocations write parts of one vector); every invocation fetches input vec4
    // xc of feature xf.
    let q = li / 4u;
    let lk = li % 4u;
    let wrow = 64u * tm + 4u * q;
    let xf = li / 16u;
    let xc = 16u * tn + li % 16u;
    // Computing: rows 64 tm + 4 tr + (0..3), sample vec4 16 tn + tc.
    let tr = li / 16u;
    let tc = li % 16u;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var s = s0; s < s1; s++) {
        if (li < 64u) {
            let kv = 4u * s + lk;
            var m = array<vec4<f32>, 4>();
            for (var i = 0u; i < 4u; i++) {
                if (wrow + i < params.rows && kv < row_vec4) {
                    m[i] = w[(wrow + i) * row_vec4 + kv];
                }
            }
            ws[(4u * lk) * 16u + q] = vec4<f32>(m[0].x, m[1].x, m[2].x, m[3].x);
            ws[(4u * lk + 1u) * 16u + q] = vec4<f32>(m[0].y, m[1].y, m[2].y, m[3].y);
            ws[(4u * lk + 2u) * 16u + q] = vec4<f32>(m[0].z, m[1].z, m[2].z, m[3].z);
            ws[(4u * lk + 3u) * 16u + q] = vec4<f32>(m[0].w, m[1].w, m[2].w, m[3].w);
        }
        let f = 16u * s + xf;
        var xv = vec4<f32>(0.0);
        if (f < 4u * row_vec4 && xc < groups) {
            xv = x[f * groups + xc];
        }
        xs[li] = xv;
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            let a = ws[kk * 16u + tr];
            let b = xs[kk * 16u + tc];
            a0 += a.x * b;
            a1 += a.y * b;
            a2 += a.z * b;
            a3 += a.w * b;
        }
        workgroupBarrier();
    }
    let sgc = 16u * tn + tc;
    if (sgc >= groups) {
        return;
    }
    let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
    for (var i = 0u; i < 4u; i++) {
        let r = 64u * tm + 4u * tr + i;
        if (r >= params.rows) {
            break;
        }
        let row = params.row0 + r;
        if (params.splits == 1u) {
            store4(row, sgc, acc[i]);
        } else {
            part[(split * params.all_rows + row) * groups + sgc] = acc[i];
        }
    }
}

// The split sums of `gemm_tiled`: an invocation per row and 4 samples of the whole layer (row0 = 0).
@compute @workgroup_size(WG)
fn gemm_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = (wg.y * params.groups_x + wg.x) * WG + li;
    let groups = params.xstride;
    let row = idx / groups;
    let sgc = idx % groups;
    if (row >= params.all_rows) {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var s = 0u; s < params.splits; s++) {
        acc += part[(s * params.all_rows + row) * groups + sgc];
    }
    store4(row, sgc, acc);
}
