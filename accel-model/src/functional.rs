//! The functional model: the PEs' arithmetic, walking the EIE encoding entry by entry.
//!
//! Fixed point follows `eie_compress::fixed` (16-bit operands, products shifted to the activation format,
//! wrapping 32-bit accumulators, ReLU and saturation): it must equal the compress crate's reference bit for
//! bit. The f32 mode accumulates in f32 in the broadcast order (ascending column, bias last).

use crate::plan::Plan;
use eie_compress::CompressedLayer;

/// Walks every real entry of `plan` as (global row, encoded column, codebook index), in broadcast
/// order (per pass, per item, per PE).
fn for_each_entry(plan: &Plan, mut f: impl FnMut(usize, usize, u8)) {
    for (p, pass) in plan.passes.iter().enumerate() {
        let n = pass.enc.pes();
        for item in plan.items(p) {
            let j = item.col as usize;
            for (k, s) in pass.enc.slices().iter().enumerate() {
                let mut r = 0usize;
                for e in s.col_ptr[j] as usize..s.col_ptr[j + 1] as usize {
                    r += s.z[e] as usize;
                    if s.v[e] != 0 {
                        f(pass.row_start + r * n + k, j, s.v[e]);
                    }
                    r += 1;
                }
            }
        }
    }
}

/// The layer's output in EIE's 16-bit fixed point.
pub fn run_fixed(layer: &CompressedLayer, plan: &Plan) -> Vec<i16> {
    let spec = layer.fixed();
    let w = layer.fixed_codebook();
    let a = layer.fixed_input();
    let mut acc = vec![0i32; layer.outputs()];
    for_each_entry(plan, |i, j, v| {
        acc[i] = acc[i].wrapping_add(spec.product(w[v as usize], a[j]))
    });
    acc.iter().map(|&x| spec.finish(x, layer.relu())).collect()
}

/// The layer's output in f32 arithmetic.
pub fn run_f32(layer: &CompressedLayer, plan: &Plan) -> Vec<f32> {
    let cb = layer.codebook().values();
    let mut acc = vec![0f32; layer.outputs()];
    for_each_entry(plan, |i, j, v| acc[i] += cb[v as usize] * plan.act[j]);
    if layer.relu() {
        acc.iter_mut().for_each(|y| *y = y.max(0.0));
    }
    acc
}
