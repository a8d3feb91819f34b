//! The EIE-format family's dispatches (`shaders/eie.wgsl`), f32 and fixed point. Batch 1 runs EIE's own
//! dataflow: PEs owning interleaved rows walk the non-zero columns of the paper's 4 + 4-bit interleaved
//! CSC, zero activations skipped through a non-zero list built on the GPU or in the walk itself, the
//! columns cut into parts on GPUs. Batches walk W's rows of 16-bit entries, a row x 4 samples per invocation.

use super::error::GpuError;
use super::knobs::{EieZeros, GpuKnobs};
use super::params::EieParams;
use super::plan::{Frame, Plan, WG, limit};
use super::shaders::Shader;
use eie_compress::{Arithmetic, CompressedLayer, Work};

/// Rows one GPU "PE" owns in the batch-1 EIE kernel (its accumulators in workgroup memory).
const PE_ROWS: usize = 64;

/// Most rows of one GPU PE (the shader's `MAX_PE_ROWS`).
const MAX_PE_ROWS: usize = 256;

/// Entries (all PEs) and real entries of each column, and the PE count, of the batch-1 EIE kernel.
pub(super) struct ColumnWork {
    pub(super) per_col: Vec<(u64, u64)>,
    pub(super) pes: usize,
}

/// The arithmetic, the codebook and bias as the kernel reads them, and the weights' fraction bits.
struct Tables {
    /// EIE's 16-bit fixed point (else f32).
    fixed: bool,
    codebook: Vec<u8>,
    bias: Vec<u8>,
    wfrac: u32,
    /// Added to each product before the shift ([`eie_compress::FixedPointSpec::round_bias`]).
    wround: u32,
}

impl Tables {
    /// f32: the codebook padded to 16 and the bias; fixed point: the 16 fixed-point weights widened to
    /// i32 and the bias products in the activation format.
    fn new(f: &Frame, arithmetic: Arithmetic) -> Self {
        let fixed = arithmetic == Arithmetic::Fixed16;
        let layer = f.layer;
        let spec = layer.fixed();
        let (codebook, bias) = if fixed {
            let q: Vec<i32> = layer
                .fixed_codebook()
                .iter()
                .map(|&w| w as i32)
                .chain(std::iter::repeat(0))
                .take(16)
                .collect();
            let one = spec.act.quantize(1.0);
            let bq: Vec<i32> = match layer.bias_codes() {
                Some(bc) => bc
                    .iter()
                    .map(|&c| spec.product(q[c as usize] as i16, one))
                    .collect(),
                None => vec![0; f.outputs()],
            };
            (
                bytemuck::cast_slice(&q).to_vec(),
                bytemuck::cast_slice(&bq).to_vec(),
            )
        } else {
            let cb = layer.codebook().padded();
            let mut c16 = [0.0f32; 16];
            c16[..cb.len()].copy_from_slice(&cb);
            (
                bytemuck::cast_slice(&c16).to_vec(),
                bytemuck::cast_slice(&f.bias).to_vec(),
            )
        };
        Self {
            fixed,
            codebook,
            bias,
            wfrac: spec.weight.frac as u32,
            wround: spec.round_bias() as u32,
        }
    }
}

/// The EIE kernel's dispatches for the frame's layer and batch, in `arithmetic`.
pub(super) fn build(f: &Frame, knobs: &GpuKnobs, arithmetic: Arithmetic) -> Result<Plan, GpuError> {
    let bits = f.layer.codebook().bits();
    if bits > 4 {
        return Err(limit("codebook index bits", bits as u64, 4));
    }
    let tables = Tables::new(f, arithmetic);
    if f.batch == 1 {
        build_cols(f, knobs, &tables)
    } else {
        build_rows(f, &tables)
    }
}

/// eie.wgsl's parameters: `pes` GPU PEs (0 in the row kernels), `chunks` parts of the columns (1 in the
/// row kernels), zeros skipped as `zeros` says.
fn params(
    f: &Frame,
    t: &Tables,
    groups_x: u32,
    pes: usize,
    chunks: usize,
    zeros: EieZeros,
) -> EieParams {
    EieParams {
        rows: f.outputs() as u32,
        cols: f.inputs() as u32,
        batch: f.batch as u32,
        relu: f.relu(),
        groups_x,
        wfrac: t.wfrac,
        xstride: f.groups4 as u32,
        pes: pes as u32,
        is_f32: u32::from(!t.fixed),
        chunks: chunks as u32,
        direct: u32::from(zeros == EieZeros::Walk),
        wround: t.wround,
    }
}

/// The batch-1 EIE kernel's defaults: (parts, how zeros are skipped). On GPUs the walk over the columns
/// cut into one part per 128 inputs, at most 32; on CPU adapters the non-zero list in one part.
fn eie_walk_defaults(inputs: usize, cpu_adapter: bool) -> (usize, EieZeros) {
    if cpu_adapter {
        (1, EieZeros::List)
    } else {
        ((inputs / 128).clamp(1, 32), EieZeros::Walk)
    }
}

/// The layer re-encoded for `pes` GPU PEs in the paper's 4 + 4-bit interleaved CSC.
struct ColumnEncoding {
    /// Column pointers, PE-major, `pes x (inputs + 1)`, in entries.
    ptr: Vec<u32>,
    /// The entries, a byte each, padded to whole u32s.
    bytes: Vec<u8>,
    /// Each column's entries and real (non-zero) entries, all PEs.
    per_col: Vec<(u64, u64)>,
    /// Entries, padding included.
    entries: u64,
}

impl ColumnEncoding {
    fn new(layer: &CompressedLayer, pes: usize) -> Result<Self, GpuError> {
        let enc = eie_compress::EieEncoding::encode(layer.codes(), pes, 4, 4)
            .map_err(|e| GpuError::Unsupported(format!("re-encoding for {pes} GPU PEs: {e}")))?;
        let inputs = layer.inputs();
        let mut ptr: Vec<u32> = Vec::with_capacity(pes * (inputs + 1));
        let mut bytes: Vec<u8> = Vec::new();
        let mut per_col = vec![(0u64, 0u64); inputs];
        for k in 0..pes {
            let base = bytes.len() as u32;
            let sl = enc.slice(k);
            ptr.extend(sl.col_ptr.iter().map(|&p| base + p));
            bytes.extend(enc.packed_entries(k).expect("4 + 4 bits fit a byte"));
            for (j, c) in per_col.iter_mut().enumerate() {
                let (a, b) = (sl.col_ptr[j] as usize, sl.col_ptr[j + 1] as usize);
                c.0 += (b - a) as u64;
                c.1 += sl.v[a..b].iter().filter(|&&v| v != 0).count() as u64;
            }
        }
        bytes.resize(bytes.len().div_ceil(4) * 4, 0);
        Ok(Self {
            ptr,
            bytes,
            per_col,
            entries: enc.total_entries() as u64,
        })
    }
}

/// Batch 1 in EIE's dataflow: PEs own interleaved rows.
fn build_cols(f: &Frame, knobs: &GpuKnobs, t: &Tables) -> Result<Plan, GpuError> {
    let fixed = t.fixed;
    let (inputs, outputs) = (f.inputs(), f.outputs());
    let pes = outputs
        .div_ceil(PE_ROWS)
        .clamp(1, eie_compress::eie::MAX_PES);
    if outputs.div_ceil(pes) > MAX_PE_ROWS {
        return Err(GpuError::Unsupported(format!(
            "{outputs} rows need {} rows per GPU PE in the batch-1 EIE kernel; at most {MAX_PE_ROWS}",
            outputs.div_ceil(pes)
        )));
    }
    let ColumnEncoding {
        ptr,
        bytes,
        per_col,
        entries,
    } = ColumnEncoding::new(f.layer, pes)?;
    // Zero activations are skipped through the non-zero list (`compact`, EIE's LNZD), or, walking, by each
    // invocation as it meets them in its share of the columns (one dispatch fewer; a zero column leaves its
    // lane idle). Enough workgroups to fill the adapter: on GPUs the columns are cut into parts, one per
    // 128 input features, at most 32; CPU adapters run the list in one part, whose workgroups already
    // outnumber their cores. On an H200 (results/nvidia-h200) the list's single-workgroup scan cost up to
    // ~100 µs on VGG-6, and the walk in 32 parts was the fastest of 16 to 256 parts, list or walk, on
    // VGG-6, VGG-7, Alex-8 and NT-We (fixed point; f32 but for VGG-7's 16).
    let (parts0, zeros0) = eie_walk_defaults(inputs, f.cpu_adapter());
    let parts = knobs.eie_parts.unwrap_or(parts0);
    let zeros = knobs.eie_zeros.unwrap_or(zeros0);
    let compact = f.ctx.pipeline(Shader::Eie, "compact", 256)?;
    let nz = f.scratch("non-zero columns", (4 * (inputs + 1)) as u64);
    let bufs = [
        f.storage("eie column pointers", bytemuck::cast_slice(&ptr))?,
        f.storage("eie entries", &bytes)?,
        f.storage("codebook", &t.codebook)?,
        f.storage("bias", &t.bias)?,
    ];
    let g = f.grid(pes * parts * WG as usize);
    let p = f.uniform(&params(f, t, g.0, pes, parts, zeros));
    let mut plan = Plan::new();
    if zeros == EieZeros::List {
        plan.push(
            &compact,
            f.bind(&compact, &[(0, &p), (4, &f.x), (7, &nz)]),
            (1, 1),
        );
    }
    if parts == 1 {
        let main = f.ctx.pipeline(
            Shader::Eie,
            if fixed { "cols_fixed" } else { "cols_f32" },
            WG,
        )?;
        plan.push(&main, f.bind_sparse(&main, &p, &bufs, Some(&nz)), g);
    } else {
        let (walk, fin) = if fixed {
            ("cols_part_fixed", "finish_fixed_rows")
        } else {
            ("cols_part_f32", "finish_f32_rows")
        };
        let walk = f.ctx.pipeline(Shader::Eie, walk, WG)?;
        let fin = f.ctx.pipeline(Shader::Eie, fin, WG)?;
        // Fixed point: one accumulator per row, zero at creation, cleared by `finish` after reading.
        // f32: each part's sums, stored whole by every pass.
        let part_bytes = 4 * outputs as u64 * if fixed { 1 } else { parts as u64 };
        f.fits("eie partial sums", part_bytes)?;
        let part = f.scratch("eie row accumulators", part_bytes);
        let walk_bind = [
            (0, &p),
            (1, &bufs[0]),
            (2, &bufs[1]),
            (3, &bufs[2]),
            (4, &f.x),
            (7, &nz),
            (8, &part),
        ];
        plan.push(&walk, f.bind(&walk, &walk_bind), g);
        let gf = f.grid(outputs);
        let pf = f.uniform(&params(f, t, gf.0, pes, parts, zeros));
        let fin_bind = [(0, &pf), (5, &bufs[3]), (6, &f.y), (8, &part)];
        plan.push(&fin, f.bind(&fin, &fin_bind), gf);
        plan.keep.extend([part, pf]);
    }
    plan.work = Work {
        macs: f.layer.nnz() as u64,
        entries,
        bytes_read: bytes.len() as u64 + ptr.len() as u64 * 4 + 4 * inputs as u64,
    };
    plan.col_work = Some(ColumnWork { per_col, pes });
    plan.detail = match zeros {
        EieZeros::Walk => format!(
            "EIE column dataflow, {pes} PEs x {parts} part(s) of the columns, zero activations skipped in the walk"
        ),
        EieZeros::List => format!(
            "EIE column dataflow, {pes} PEs x {parts} part(s) of the non-zero list built on the GPU"
        ),
    };
    plan.keep.extend(bufs);
    plan.keep.extend([nz, p]);
    Ok(plan)
}

/// Batches: W's rows of 16-bit entries, a row x 4 samples per invocation.
fn build_rows(f: &Frame, t: &Tables) -> Result<Plan, GpuError> {
    let (inputs, outputs, batch) = (f.inputs(), f.outputs(), f.batch);
    let pipeline = f.ctx.pipeline(
        Shader::Eie,
        if t.fixed { "rows_fixed" } else { "rows_f32" },
        WG,
    )?;
    let (row_ptr, entries, n) = eie_rows(f.layer);
    let bufs = [
        f.storage("eie row_ptr", bytemuck::cast_slice(&row_ptr))?,
        f.storage("eie entries", bytemuck::cast_slice(&entries))?,
        f.storage("codebook", &t.codebook)?,
        f.storage("bias", &t.bias)?,
    ];
    let g = f.grid(outputs * f.groups4);
    let p = f.uniform(&params(f, t, g.0, 0, 1, EieZeros::List));
    let mut plan = Plan::new();
    plan.push(&pipeline, f.bind_sparse(&pipeline, &p, &bufs, None), g);
    plan.work = Work {
        macs: f.layer.nnz() as u64 * batch as u64,
        entries: n,
        bytes_read: n * 2 + row_ptr.len() as u64 * 4 + 4 * (inputs * batch) as u64,
    };
    plan.detail = "rows, 16-bit entries, a row x 4 samples per invocation".to_string();
    plan.keep.extend(bufs);
    plan.keep.push(p);
    Ok(plan)
}

/// EIE's advance-coded u16 entries of W's rows (the CPU kernels' batch layout, untiled), two per u32.
fn eie_rows(layer: &CompressedLayer) -> (Vec<u32>, Vec<u32>, u64) {
    let codes = layer.codes();
    let mut row_ptr = vec![0u32];
    let mut e16: Vec<u16> = Vec::new();
    for i in 0..codes.rows() {
        let (cols, cs) = codes.row(i);
        let mut next = 0u32;
        for (&j, &c) in cols.iter().zip(cs) {
            let mut gap = j - next;
            while gap + 1 > 0xFFF {
                e16.push(0xFFF);
                gap -= 0xFFF;
            }
            e16.push(((c as u16) << 12) | (gap + 1) as u16);
            next = j + 1;
        }
        row_ptr.push(e16.len() as u32);
    }
    let n = e16.len() as u64;
    let packed = e16
        .chunks(2)
        .map(|p| p[0] as u32 | (p.get(1).copied().unwrap_or(0) as u32) << 16)
        .collect();
    (row_ptr, packed, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eie_defaults_per_adapter() {
        assert_eq!(eie_walk_defaults(25088, false), (32, EieZeros::Walk));
        assert_eq!(eie_walk_defaults(4096, false), (32, EieZeros::Walk));
        assert_eq!(eie_walk_defaults(1201, false), (9, EieZeros::Walk));
        assert_eq!(eie_walk_defaults(100, false), (1, EieZeros::Walk));
        assert_eq!(eie_walk_defaults(25088, true), (1, EieZeros::List));
    }
}
