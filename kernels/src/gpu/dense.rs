//! The dense family's dispatches (`shaders/dense.wgsl`, and `gemv_sg` of `shaders/subgroup.wgsl`): the
//! weights in row blocks that each fit one storage binding, one dispatch per block, and at batch > 1 on
//! GPUs the tiled kernel with its features split (split-K) and a last pass that adds the splits.

use super::error::GpuError;
use super::knobs::{GpuKnobs, Reduction};
use super::params::{DenseParams, SubgroupParams};
use super::plan::{Frame, Plan, WG, limit};
use super::shaders::Shader;
use eie_compress::Work;

/// The shader and entry point for a batch and a (resolved) reduction.
fn entry(batch: usize, reduction: Reduction) -> (Shader, &'static str) {
    match (batch, reduction) {
        (1, Reduction::Subgroup) => (Shader::Subgroup, "gemv_sg"),
        (1, Reduction::Workgroup) => (Shader::Dense, "gemv"),
        (1, _) => (Shader::Dense, "gemv_rows"),
        (_, Reduction::RowPerInvocation) => (Shader::Dense, "gemm"),
        _ => (Shader::Dense, "gemm_tiled"),
    }
}

/// The dense kernel's dispatches for the frame's layer and batch.
pub(super) fn build(f: &Frame, knobs: &GpuKnobs, reduction: Reduction) -> Result<Plan, GpuError> {
    let (inputs, outputs, batch, groups4) = (f.inputs(), f.outputs(), f.batch, f.groups4);
    let (shader, entry) = entry(batch, reduction);
    let wg = if entry == "gemv" || entry == "gemv_sg" {
        knobs.row_wg.unwrap_or(WG)
    } else {
        WG
    };
    let pipeline = f.ctx.pipeline(shader, entry, wg)?;
    // Rows padded to whole vec4s; split into row blocks (of 4 rows) that fit one storage binding.
    let row_vec4 = inputs.div_ceil(4);
    let row_bytes = (row_vec4 * 16) as u64;
    let max_bind = f
        .ctx
        .limits
        .max_storage_buffer_binding_size
        .min(f.ctx.limits.max_buffer_size);
    if 4 * row_bytes > max_bind {
        return Err(limit("four dense rows", 4 * row_bytes, max_bind));
    }
    let rows_per_block = ((max_bind / row_bytes) as usize / 4 * 4)
        .min(outputs.div_ceil(4) * 4)
        .min(knobs.dense_block_rows.unwrap_or(usize::MAX))
        .max(4);
    let w = f.layer.dense_weights();
    let bias = f.storage("bias", bytemuck::cast_slice(&f.bias))?;
    // gemm_tiled: tiles of 64 rows x 64 samples; the features split (split-K) until there are about 1024
    // workgroups, each split keeping 256 features or more.
    let tiles = outputs.div_ceil(64) * groups4.div_ceil(16);
    let splits = if entry == "gemm_tiled" {
        match knobs.dense_splits {
            Some(k) => k,
            None => 1024usize.div_ceil(tiles).clamp(1, (inputs / 256).max(1)),
        }
    } else {
        1
    };
    // gemm_tiled binds the partial sums whatever the split count (16 bytes for one split).
    let part = if entry == "gemm_tiled" {
        let bytes = if splits > 1 {
            (16 * splits * outputs * groups4) as u64
        } else {
            16
        };
        f.fits("split-K partial sums", bytes)?;
        Some(f.scratch("split-K partial sums", bytes))
    } else {
        None
    };
    let mut plan = Plan::new();
    for row0 in (0..outputs).step_by(rows_per_block) {
        let rows = rows_per_block.min(outputs - row0);
        let mut block = vec![0.0f32; rows.div_ceil(4) * 4 * row_vec4 * 4];
        for r in 0..rows {
            let src = w.row(row0 + r);
            block[r * row_vec4 * 4..r * row_vec4 * 4 + inputs]
                .copy_from_slice(src.as_slice().expect("standard layout"));
        }
        let wbuf = f.storage("dense weights", bytemuck::cast_slice(&block))?;
        // gemv: a workgroup per row; gemm: an invocation per 4 rows x 4 samples.
        let g = match entry {
            "gemv" | "gemv_sg" => f.grid(rows * WG as usize),
            "gemv_rows" => f.grid(rows),
            "gemm" => f.grid(rows.div_ceil(4) * groups4),
            _ => f.grid(rows.div_ceil(64) * groups4.div_ceil(16) * splits * WG as usize),
        };
        let p = if shader == Shader::Subgroup {
            f.uniform(&SubgroupParams {
                rows: rows as u32,
                cols: inputs as u32,
                relu: f.relu(),
                row0: row0 as u32,
                groups_x: g.0,
                ..Default::default()
            })
        } else {
            f.uniform(&params(f, rows, row0, g.0, splits))
        };
        let mut b = vec![(0, &p), (1, &wbuf), (2, &f.x), (3, &bias), (4, &f.y)];
        b.extend(part.as_ref().map(|q| (5, q)));
        plan.push(&pipeline, f.bind(&pipeline, &b), g);
        plan.keep.extend([wbuf, p]);
    }
    if let Some(q) = part.as_ref().filter(|_| splits > 1) {
        let sum = f.ctx.pipeline(Shader::Dense, "gemm_sum", WG)?;
        let g = f.grid(outputs * groups4);
        let p = f.uniform(&params(f, outputs, 0, g.0, splits));
        plan.push(
            &sum,
            f.bind(&sum, &[(0, &p), (3, &bias), (4, &f.y), (5, q)]),
            g,
        );
        plan.keep.push(p);
    }
    plan.keep.extend(part);
    plan.keep.push(bias);
    let elems = (outputs * inputs) as u64;
    plan.work = Work {
        macs: elems * batch as u64,
        entries: elems,
        bytes_read: elems * 4 + 4 * (inputs * batch) as u64,
    };
    plan.detail = match entry {
        "gemv" => format!("a workgroup of {wg} per row, workgroup-memory reduction"),
        "gemv_sg" => format!("a workgroup of {wg} per row, subgroup reduction"),
        "gemv_rows" => "a row per invocation".to_string(),
        "gemm" => "4 rows x 4 samples per invocation".to_string(),
        _ => format!(
            "64 rows x 64 samples per workgroup in workgroup memory, features in {splits} split(s)"
        ),
    };
    Ok(plan)
}

/// dense.wgsl's parameters for a block of `rows` rows from `row0`.
fn params(f: &Frame, rows: usize, row0: usize, groups_x: u32, splits: usize) -> DenseParams {
    DenseParams {
        rows: rows as u32,
        cols: f.inputs() as u32,
        batch: f.batch as u32,
        relu: f.relu(),
        row0: row0 as u32,
        groups_x,
        xstride: f.groups4 as u32,
        splits: splits as u32,
        all_rows: f.outputs() as u32,
        ..Default::default()
    }
}
