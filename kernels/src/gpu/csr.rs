//! The CSR family's dispatch (`shaders/csr.wgsl`, and `spmv_sg` of `shaders/subgroup.wgsl`): the layer's
//! CSR arrays uploaded once, one dispatch per pass.

use super::error::GpuError;
use super::knobs::{GpuKnobs, Reduction};
use super::params::{CsrParams, SubgroupParams};
use super::plan::{Frame, Plan, WG};
use super::shaders::Shader;
use eie_compress::Work;

/// The CSR kernel's dispatch for the frame's layer and batch.
pub(super) fn build(f: &Frame, knobs: &GpuKnobs, reduction: Reduction) -> Result<Plan, GpuError> {
    let (inputs, outputs, batch) = (f.inputs(), f.outputs(), f.batch);
    let (shader, entry) = match (batch, reduction) {
        (1, Reduction::Subgroup) => (Shader::Subgroup, "spmv_sg"),
        (1, Reduction::Workgroup) => (Shader::Csr, "spmv"),
        (1, _) => (Shader::Csr, "spmv_rows"),
        _ => (Shader::Csr, "spmm"),
    };
    let wg = if entry == "spmv" || entry == "spmv_sg" {
        knobs.row_wg.unwrap_or(WG)
    } else {
        WG
    };
    let pipeline = f.ctx.pipeline(shader, entry, wg)?;
    let a = f.layer.csr_arrays();
    let ptr: Vec<u32> = a.indptr.iter().map(|&p| p as u32).collect();
    let bufs = [
        f.storage("csr row_ptr", bytemuck::cast_slice(&ptr))?,
        f.storage("csr col_idx", bytemuck::cast_slice(&a.indices))?,
        f.storage("csr values", bytemuck::cast_slice(&a.data))?,
        f.storage("bias", bytemuck::cast_slice(&f.bias))?,
    ];
    let g = match entry {
        "spmv" | "spmv_sg" => f.grid(outputs * WG as usize),
        "spmv_rows" => f.grid(outputs),
        _ => f.grid(outputs * f.groups4),
    };
    let p = if shader == Shader::Subgroup {
        f.uniform(&SubgroupParams {
            rows: outputs as u32,
            cols: inputs as u32,
            relu: f.relu(),
            row0: 0,
            groups_x: g.0,
            ..Default::default()
        })
    } else {
        f.uniform(&CsrParams {
            rows: outputs as u32,
            batch: batch as u32,
            relu: f.relu(),
            groups_x: g.0,
            xstride: f.groups4 as u32,
            ..Default::default()
        })
    };
    let mut plan = Plan::new();
    plan.push(&pipeline, f.bind_sparse(&pipeline, &p, &bufs, None), g);
    let nnz = a.data.len() as u64;
    plan.work = Work {
        macs: nnz * batch as u64,
        entries: nnz,
        bytes_read: nnz * 8 + ptr.len() as u64 * 4 + 4 * (inputs * batch) as u64,
    };
    plan.detail = match entry {
        "spmv" => format!("a workgroup of {wg} per row, workgroup-memory reduction"),
        "spmv_sg" => format!("a workgroup of {wg} per row, subgroup reduction"),
        "spmv_rows" => "a row per invocation".to_string(),
        _ => "a row x 4 samples per invocation, 4 entries a step".to_string(),
    };
    plan.keep.extend(bufs);
    plan.keep.push(p);
    Ok(plan)
}
