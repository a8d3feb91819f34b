//! The GPU kernels as [`Backend`]s: buffers uploaded once in `prepare`, one submit per `run`.
//!
//!
//! Batch 1: dense and CSR give each row a workgroup (a strided walk and a subgroup or workgroup-memory
//! reduction; a row per invocation on CPU adapters); the EIE-format kernels run EIE's own dataflow (PEs
//! owning interleaved rows walk the non-zero columns of the paper's 4 + 4-bit interleaved CSC, zero
//! activations skipped through a non-zero list built on the GPU or in the walk itself, the columns cut into
//! parts on GPUs). Batches: dense in 64 x 64 tiles staged in workgroup memory with the features split
//! (split-K) on GPUs, 4 rows x 4 samples per invocation on CPU adapters; CSR and EIE a row x 4 samples per
//! invocation, every weight or entry read once per 4 samples. Layers run several identical passes per
//! submit ([`passes_for`]) and report the time per pass. Environment knobs for tuning on a new GPU:
//! [`PARTS_ENV`], [`DIRECT_ENV`], [`SPLITS_ENV`], [`ROW_WG_ENV`].

use super::context::GpuContext;
use super::error::GpuError;
use super::shaders::Shader;
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Which GPU kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuKernel {
    Dense,
    Csr,
    EieF32,
    EieFixed,
}

impl GpuKernel {
    /// All four.
    pub const ALL: [GpuKernel; 4] = [
        GpuKernel::Dense,
        GpuKernel::Csr,
        GpuKernel::EieF32,
        GpuKernel::EieFixed,
    ];

    /// The backend name.
    pub fn name(self) -> &'static str {
        match self {
            GpuKernel::Dense => "gpu-dense-f32",
            GpuKernel::Csr => "gpu-csr-f32",
            GpuKernel::EieF32 => "gpu-eie-f32",
            GpuKernel::EieFixed => "gpu-eie-fixed",
        }
    }

    fn arithmetic(self) -> Arithmetic {
        if self == GpuKernel::EieFixed {
            Arithmetic::Fixed16
        } else {
            Arithmetic::F32
        }
    }
}

/// Workgroup size of every kernel.
const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    batch: u32,
    relu: u32,
    row0: u32,
    groups_x: u32,
    wfrac: u32,
    xstride: u32,
    pes: u32,
    is_f32: u32,
    chunks: u32,
    /// eie.wgsl: 1 when the batch-1 walk skips zero activations itself (no non-zero list).
    flags: u32,
}

/// One dispatch: a pipeline, a bind group and its workgroup grid.
struct Dispatch {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
}

struct State {
    inputs: usize,
    outputs: usize,
    batch: usize,
    /// Samples per feature in the x buffer (the batch padded to a multiple of 4; 1 at batch 1).
    xstride: usize,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// One forward pass.
    dispatches: Vec<Dispatch>,
    /// Forward passes per submit ([`passes_for`]).
    passes: u32,
    work: Work,
    /// The batch-1 EIE kernel's work per column, for work figures that depend on the input.
    col_work: Option<ColumnWork>,
    detail: String,
    timestamps: Option<Timestamps>,
    /// The input laid out for upload (padded batch, fixed point widened to i32), reused across runs.
    wide: std::sync::Mutex<Vec<u32>>,
    /// Buffers the bind groups use, kept alive with them.
    _keep: Vec<wgpu::Buffer>,
}

/// Entries (all PEs) and real entries of each column, and the PE count, of the batch-1 EIE kernel.
struct ColumnWork {
    per_col: Vec<(u64, u64)>,
    pes: usize,
}

/// A timestamp at the beginning and end of the compute pass, resolved and read back with the output.
struct Timestamps {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    period_ns: f32,
}

/// How the batch-1 dense and CSR kernels reduce a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Subgroups where the adapter has them, else workgroup memory; one row per invocation on CPU adapters.
    Auto,
    /// One row per invocation, no reduction (best on CPU adapters such as lavapipe).
    RowPerInvocation,
    /// A workgroup per row, reduced in workgroup memory.
    Workgroup,
    /// A workgroup per row, reduced with subgroup operations (needs the SUBGROUP feature).
    Subgroup,
}

/// A GPU kernel over a prepared layer.
pub struct GpuBackend {
    kernel: GpuKernel,
    reduction: Reduction,
    /// Parts of the non-zero list in the batch-1 EIE kernel (`None`: chosen for the adapter).
    eie_parts: Option<usize>,
    /// Feature splits of the tiled dense kernel (`None`: chosen for the layer).
    dense_splits: Option<usize>,
    /// The batch-1 EIE kernel skips zero activations in its walk, without the non-zero list (`None`:
    /// [`DIRECT_ENV`], else the adapter's default).
    eie_direct: Option<bool>,
    /// Workgroup size of the batch-1 row-per-workgroup kernels (`None`: [`ROW_WG_ENV`], else 64).
    row_wg: Option<u32>,
    /// Most rows of one dense weight block (`None`: as many as one storage binding holds).
    dense_block_rows: Option<usize>,
    ctx: Result<Arc<GpuContext>, GpuError>,
    state: Option<State>,
    last_device_us: Option<f64>,
}

impl GpuBackend {
    /// The kernel on the shared context (an unavailable GPU is reported by `prepare`).
    pub fn new(kernel: GpuKernel) -> Self {
        Self::with_reduction(kernel, Reduction::Auto)
    }

    /// The EIE-format kernel with its batch-1 non-zero list cut into `parts` (at least 1) whatever the
    /// adapter (tests run the split path on any adapter).
    pub fn with_eie_parts(kernel: GpuKernel, parts: usize) -> Self {
        Self {
            eie_parts: Some(parts.max(1)),
            ..Self::new(kernel)
        }
    }

    /// The batch-1 EIE kernel in `parts` parts (at least 1), skipping zero activations through the
    /// non-zero list (`direct` false) or in the walk (`direct` true), whatever the adapter.
    pub fn with_eie_walk(kernel: GpuKernel, parts: usize, direct: bool) -> Self {
        Self {
            eie_direct: Some(direct),
            ..Self::with_eie_parts(kernel, parts)
        }
    }

    /// The dense kernel at batch > 1 as on GPUs (tiles in workgroup memory) whatever the adapter, with its
    /// features cut into `splits` (at least 1) ranges whose partial sums a second pass adds (tests run
    /// the split path on any adapter).
    pub fn with_dense_splits(splits: usize) -> Self {
        Self {
            dense_splits: Some(splits.max(1)),
            ..Self::with_reduction(GpuKernel::Dense, Reduction::Workgroup)
        }
    }

    /// The kernel with a chosen batch-1 reduction and `wg` (32, 64, 128 or 256) invocations per row in the
    /// row-per-workgroup kernels.
    pub fn with_row_wg(kernel: GpuKernel, reduction: Reduction, wg: u32) -> Self {
        Self {
            row_wg: Some(wg),
            ..Self::with_reduction(kernel, reduction)
        }
    }

    /// The dense kernel with its weights cut into blocks of at most `rows` rows (a multiple of 4), as
    /// layers larger than one storage binding are (tests run the block path on small layers).
    pub fn with_dense_block_rows(reduction: Reduction, splits: Option<usize>, rows: usize) -> Self {
        Self {
            dense_block_rows: Some(rows.div_ceil(4).max(1) * 4),
            dense_splits: splits,
            ..Self::with_reduction(GpuKernel::Dense, reduction)
        }
    }

    /// The kernel with a chosen batch-1 reduction (tests run every one on any adapter that has it).
    pub fn with_reduction(kernel: GpuKernel, reduction: Reduction) -> Self {
        Self {
            kernel,
            reduction,
            eie_parts: None,
            dense_splits: None,
            eie_direct: None,
            row_wg: None,
            dense_block_rows: None,
            ctx: GpuContext::shared(),
            state: None,
            last_device_us: None,
        }
    }

    fn unavailable(&self, e: &GpuError) -> BackendError {
        BackendError::Unavailable {
            backend: self.kernel.name().into(),
            why: e.to_string(),
        }
    }
}

/// The workgroup grid for `invocations`: x up to the per-dimension limit, y for the rest.
fn grid(invocations: usize, max_dim: u32) -> (u32, u32) {
    let groups = invocations.div_ceil(WG as usize).max(1) as u64;
    let x = groups.min(max_dim as u64);
    (x as u32, groups.div_ceil(x) as u32)
}

fn storage(ctx: &GpuContext, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer, GpuError> {
    let allowed = ctx.limits.max_storage_buffer_binding_size;
    if bytes.len() as u64 > allowed {
        return Err(GpuError::Limit {
            what: label.to_string(),
            needed: bytes.len() as u64,
            allowed,
        });
    }
    // wgpu wants non-empty bindings.
    let data: &[u8] = if bytes.is_empty() { &[0u8; 4] } else { bytes };
    Ok(ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: data,
            usage: wgpu::BufferUsages::STORAGE,
        }))
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

/// A limit the layer exceeds.
fn limit(what: &str, needed: u64, allowed: u64) -> GpuError {
    GpuError::Limit {
        what: what.into(),
        needed,
        allowed,
    }
}

/// Rows one GPU "PE" owns in the batch-1 EIE kernel (its accumulators in workgroup memory; the shader's
/// `MAX_PE_ROWS` is 256).
const PE_ROWS: usize = 64;

/// The environment variable that overrides the batch-1 EIE kernel's part count (a tuning knob for
/// sweeps on a real GPU: `EIE_GPU_EIE_PARTS=16 eie measure ...`).
pub const PARTS_ENV: &str = "EIE_GPU_EIE_PARTS";

/// The environment variable that overrides the feature splits (split-K) of the tiled dense kernel
/// (batch > 1 on GPUs).
pub const SPLITS_ENV: &str = "EIE_GPU_DENSE_SPLITS";

/// The environment variable that chooses how the batch-1 EIE kernel skips zero activations: `list`
/// through the non-zero list built on the GPU (the default on CPU adapters), `walk` in the walk itself, no
/// list (the default on GPUs).
pub const DIRECT_ENV: &str = "EIE_GPU_EIE_ZEROS";

/// Whether [`DIRECT_ENV`] asks for the walk to skip zero activations itself (`None`: not set).
fn direct_from_env() -> Result<Option<bool>, GpuError> {
    match std::env::var(DIRECT_ENV).as_deref().map(str::trim) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok("list") => Ok(Some(false)),
        Ok("walk") => Ok(Some(true)),
        Ok(v) => Err(GpuError::Unsupported(format!(
            "{DIRECT_ENV}={v:?}: expected list or walk"
        ))),
        Err(e) => Err(GpuError::Unsupported(format!("{DIRECT_ENV}: {e}"))),
    }
}

/// The environment variable that sets the workgroup size (32, 64, 128 or 256; default 64) of the batch-1
/// kernels that give each row a workgroup (dense and CSR on GPUs).
pub const ROW_WG_ENV: &str = "EIE_GPU_ROW_WG";

/// The workgroup size of the row-per-workgroup kernels set in [`ROW_WG_ENV`], if any.
fn row_wg() -> Result<Option<u32>, GpuError> {
    match knob_from_env(ROW_WG_ENV, 256)? {
        None => Ok(None),
        Some(n) if [32, 64, 128, 256].contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(GpuError::Unsupported(format!(
            "{ROW_WG_ENV}={n}: expected 32, 64, 128 or 256"
        ))),
    }
}

/// The tuning knobs from the environment, all parsed (and a bad value refused) whichever kernel runs.
struct Knobs {
    parts: Option<usize>,
    direct: Option<bool>,
    splits: Option<usize>,
    row_wg: Option<u32>,
}

impl Knobs {
    fn from_env() -> Result<Self, GpuError> {
        Ok(Self {
            parts: knob_from_env(PARTS_ENV, 4096)?,
            direct: direct_from_env()?,
            splits: knob_from_env(SPLITS_ENV, 1024)?,
            row_wg: row_wg()?,
        })
    }
}

/// The batch-1 EIE kernel's defaults: (parts, skip zeros in the walk). On GPUs the walk over the columns
/// cut into one part per 128 inputs, at most 32; on CPU adapters the non-zero list in one part.
fn eie_walk_defaults(inputs: usize, cpu_adapter: bool) -> (usize, bool) {
    if cpu_adapter {
        (1, false)
    } else {
        ((inputs / 128).clamp(1, 32), true)
    }
}

/// The whole number from 1 to `max` set in the environment variable `var`, if any; any other value is an
/// error naming it.
fn knob_from_env(var: &str, max: usize) -> Result<Option<usize>, GpuError> {
    let Some(v) = std::env::var_os(var) else {
        return Ok(None);
    };
    let s = v.to_string_lossy();
    match s.trim().parse::<usize>() {
        Ok(p) if (1..=max).contains(&p) => Ok(Some(p)),
        _ => Err(GpuError::Unsupported(format!(
            "{var}={s:?}: expected a whole number from 1 to {max}"
        ))),
    }
}
const MAX_PE_ROWS: usize = 256;

/// Passes per submit: enough that small layers' per-submit cost (upload, submit, read-back) is shared by
/// several passes, as the README explains: passes that read 16 MiB in all on CPU adapters (lavapipe), 1 GiB
/// on GPUs, where a submit and its read-back cost about 120 µs (an H200 through Vulkan: results/nvidia-h200)
/// against a few µs of kernels; at most 32.
fn passes_for(bytes_read: u64, cpu_adapter: bool) -> u32 {
    let budget: u64 = if cpu_adapter { 16 << 20 } else { 1 << 30 };
    (budget / bytes_read.max(1)).clamp(1, 32) as u32
}

impl GpuBackend {
    fn build(
        &self,
        ctx: &GpuContext,
        layer: &CompressedLayer,
        batch: usize,
    ) -> Result<State, GpuError> {
        let knobs = Knobs::from_env()?;
        let (inputs, outputs) = (layer.inputs(), layer.outputs());
        if inputs == 0 || outputs == 0 {
            return Err(GpuError::Unsupported(format!(
                "layer {} has shape {outputs} x {inputs}: nothing to run",
                layer.name()
            )));
        }
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        // x: features padded to a multiple of 4 (zero rows), samples padded to a multiple of 4 above batch 1.
        let xstride = if batch == 1 { 1 } else { batch.div_ceil(4) * 4 };
        let xrows = inputs.div_ceil(4) * 4;
        let x_bytes = (4 * xrows * xstride) as u64;
        if x_bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(limit(
                "input batch",
                x_bytes,
                ctx.limits.max_storage_buffer_binding_size,
            ));
        }
        let x = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("x"),
            size: x_bytes.max(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let y_bytes = (4 * outputs * batch).max(4) as u64;
        if y_bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(limit(
                "output batch",
                y_bytes,
                ctx.limits.max_storage_buffer_binding_size,
            ));
        }
        let y = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("y"),
            size: y_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("y staging"),
            size: y_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let relu = u32::from(layer.relu());
        let groups4 = (xstride / 4).max(1);
        let params = |rows: usize,
                      row0: usize,
                      groups_x: u32,
                      wfrac: u32,
                      pes: u32,
                      chunks: u32,
                      flags: u32| {
            let p = Params {
                rows: rows as u32,
                cols: inputs as u32,
                batch: batch as u32,
                relu,
                row0: row0 as u32,
                groups_x,
                wfrac,
                xstride: groups4 as u32,
                pes,
                is_f32: u32::from(self.kernel != GpuKernel::EieFixed),
                chunks,
                flags,
            };
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: bytemuck::bytes_of(&p),
                    usage: wgpu::BufferUsages::UNIFORM,
                })
        };
        let bind = |pipeline: &wgpu::ComputePipeline, buffers: &[(u32, &wgpu::Buffer)]| {
            let layout = pipeline.get_bind_group_layout(0);
            let entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: *i,
                    resource: b.as_entire_binding(),
                })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.kernel.name()),
                layout: &layout,
                entries: &entries,
            })
        };
        // The sparse kernels' bindings: params, three arrays, x, bias, y (and the non-zero list).
        let bind_sparse = |pipeline: &wgpu::ComputePipeline,
                           p: &wgpu::Buffer,
                           b: &[wgpu::Buffer; 4],
                           nz: Option<&wgpu::Buffer>| {
            let mut e = vec![
                (0, p),
                (1, &b[0]),
                (2, &b[1]),
                (3, &b[2]),
                (4, &x),
                (5, &b[3]),
                (6, &y),
            ];
            e.extend(nz.map(|n| (7, n)));
            bind(pipeline, &e)
        };
        let bias: Vec<f32> = layer.bias().unwrap_or_else(|| vec![0.0; outputs]);
        // CPU adapters (lavapipe, SwiftShader) run a workgroup as SIMD lanes: there a row per invocation
        // beats a workgroup per row, whose reduction barriers are expensive. Elsewhere a workgroup per row,
        // reduced with subgroup operations where the adapter has them.
        let reduction = match self.reduction {
            Reduction::Auto if ctx.summary.device_type == "Cpu" => Reduction::RowPerInvocation,
            Reduction::Auto if ctx.has_subgroups() => Reduction::Subgroup,
            Reduction::Auto => Reduction::Workgroup,
            Reduction::Subgroup if !ctx.has_subgroups() => {
                return Err(GpuError::Unsupported(format!(
                    "{} has no subgroup operations (the SUBGROUP feature)",
                    ctx.summary.name
                )));
            }
            r => r,
        };
        let mut keep = Vec::new();
        let mut dispatches = Vec::new();
        let mut col_work = None;
        let work;
        let detail;
        match self.kernel {
            GpuKernel::Dense => {
                let (shader, entry) = match (batch, reduction) {
                    (1, Reduction::Subgroup) => (Shader::Subgroup, "gemv_sg"),
                    (1, Reduction::Workgroup) => (Shader::Dense, "gemv"),
                    (1, _) => (Shader::Dense, "gemv_rows"),
                    (_, Reduction::RowPerInvocation) => (Shader::Dense, "gemm"),
                    _ => (Shader::Dense, "gemm_tiled"),
                };
                let row_wg = self.row_wg.or(knobs.row_wg).unwrap_or(WG);
                let wg = if entry == "gemv" || entry == "gemv_sg" {
                    row_wg
                } else {
                    WG
                };
                let pipeline = ctx.pipeline(shader, entry, wg)?;
                // Rows padded to whole vec4s; split into row blocks (of 4 rows) that fit one storage binding.
                let row_vec4 = inputs.div_ceil(4);
                let row_bytes = (row_vec4 * 16) as u64;
                let max_bind = ctx
                    .limits
                    .max_storage_buffer_binding_size
                    .min(ctx.limits.max_buffer_size);
                if 4 * row_bytes > max_bind {
                    return Err(limit("four dense rows", 4 * row_bytes, max_bind));
                }
                let rows_per_block = ((max_bind / row_bytes) as usize / 4 * 4)
                    .min(outputs.div_ceil(4) * 4)
                    .min(self.dense_block_rows.unwrap_or(usize::MAX))
                    .max(4);
                let w = layer.dense_weights();
                let bias_buf = storage(ctx, "bias", bytemuck::cast_slice(&bias))?;
                // gemm_tiled: tiles of 64 rows x 64 samples; the features split (split-K) until there are
                // about 1024 workgroups, each split keeping 256 features or more.
                let tiles = outputs.div_ceil(64) * groups4.div_ceil(16);
                let splits = if entry == "gemm_tiled" {
                    match self.dense_splits.or(knobs.splits) {
                        Some(k) => k,
                        None => 1024usize.div_ceil(tiles).clamp(1, (inputs / 256).max(1)),
                    }
                } else {
                    1
                };
                // gemm_tiled binds the partial sums whatever the split count (16 bytes for one split).
                let part = (entry == "gemm_tiled")
                    .then(|| {
                        let bytes = if splits > 1 {
                            (16 * splits * outputs * groups4) as u64
                        } else {
                            16
                        };
                        if bytes > ctx.limits.max_storage_buffer_binding_size {
                            return Err(limit(
                                "split-K partial sums",
                                bytes,
                                ctx.limits.max_storage_buffer_binding_size,
                            ));
                        }
                        Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("split-K partial sums"),
                            size: bytes,
                            usage: wgpu::BufferUsages::STORAGE,
                            mapped_at_creation: false,
                        }))
                    })
                    .transpose()?;
                for row0 in (0..outputs).step_by(rows_per_block) {
                    let rows = rows_per_block.min(outputs - row0);
                    let mut block = vec![0.0f32; rows.div_ceil(4) * 4 * row_vec4 * 4];
                    for r in 0..rows {
                        let src = w.row(row0 + r);
                        block[r * row_vec4 * 4..r * row_vec4 * 4 + inputs]
                            .copy_from_slice(src.as_slice().expect("standard layout"));
                    }
                    let wbuf = storage(ctx, "dense weights", bytemuck::cast_slice(&block))?;
                    // gemv: a workgroup per row; gemm: an invocation per 4 rows x 4 samples.
                    let g = match entry {
                        "gemv" | "gemv_sg" => grid(rows * WG as usize, max_dim),
                        "gemv_rows" => grid(rows, max_dim),
                        "gemm" => grid(rows.div_ceil(4) * groups4, max_dim),
                        _ => grid(
                            rows.div_ceil(64) * groups4.div_ceil(16) * splits * WG as usize,
                            max_dim,
                        ),
                    };
                    let p = params(rows, row0, g.0, 0, splits as u32, outputs as u32, 0);
                    let mut b = vec![(0, &p), (1, &wbuf), (2, &x), (3, &bias_buf), (4, &y)];
                    b.extend(part.as_ref().map(|q| (5, q)));
                    dispatches.push(Dispatch {
                        pipeline: pipeline.clone(),
                        bind_group: bind(&pipeline, &b),
                        groups: g,
                    });
                    keep.extend([wbuf, p]);
                }
                if let Some(q) = part.as_ref().filter(|_| splits > 1) {
                    let sum = ctx.pipeline(Shader::Dense, "gemm_sum", WG)?;
                    let g = grid(outputs * groups4, max_dim);
                    let p = params(outputs, 0, g.0, 0, splits as u32, outputs as u32, 0);
                    dispatches.push(Dispatch {
                        pipeline: sum.clone(),
                        bind_group: bind(&sum, &[(0, &p), (3, &bias_buf), (4, &y), (5, q)]),
                        groups: g,
                    });
                    keep.push(p);
                }
                keep.extend(part);
                keep.push(bias_buf);
                let elems = (outputs * inputs) as u64;
                work = Work {
                    macs: elems * batch as u64,
                    entries: elems,
                    bytes_read: elems * 4 + 4 * (inputs * batch) as u64,
                };
                detail = match entry {
                    "gemv" => format!("a workgroup of {wg} per row, workgroup-memory reduction"),
                    "gemv_sg" => format!("a workgroup of {wg} per row, subgroup reduction"),
                    "gemv_rows" => "a row per invocation".to_string(),
                    "gemm" => "4 rows x 4 samples per invocation".to_string(),
                    _ => format!(
                        "64 rows x 64 samples per workgroup in workgroup memory, features in {splits} split(s)"
                    ),
                };
            }
            GpuKernel::Csr => {
                let (shader, entry) = match (batch, reduction) {
                    (1, Reduction::Subgroup) => (Shader::Subgroup, "spmv_sg"),
                    (1, Reduction::Workgroup) => (Shader::Csr, "spmv"),
                    (1, _) => (Shader::Csr, "spmv_rows"),
                    _ => (Shader::Csr, "spmm"),
                };
                let row_wg = self.row_wg.or(knobs.row_wg).unwrap_or(WG);
                let wg = if entry == "spmv" || entry == "spmv_sg" {
                    row_wg
                } else {
                    WG
                };
                let pipeline = ctx.pipeline(shader, entry, wg)?;
                let a = layer.csr_arrays();
                let ptr: Vec<u32> = a.indptr.iter().map(|&p| p as u32).collect();
                let bufs = [
                    storage(ctx, "csr row_ptr", bytemuck::cast_slice(&ptr))?,
                    storage(ctx, "csr col_idx", bytemuck::cast_slice(&a.indices))?,
                    storage(ctx, "csr values", bytemuck::cast_slice(&a.data))?,
                    storage(ctx, "bias", bytemuck::cast_slice(&bias))?,
                ];
                let g = match entry {
                    "spmv" | "spmv_sg" => grid(outputs * WG as usize, max_dim),
                    "spmv_rows" => grid(outputs, max_dim),
                    _ => grid(outputs * groups4, max_dim),
                };
                let p = params(outputs, 0, g.0, 0, 0, 1, 0);
                dispatches.push(Dispatch {
                    pipeline: pipeline.clone(),
                    bind_group: bind_sparse(&pipeline, &p, &bufs, None),
                    groups: g,
                });
                let nnz = a.data.len() as u64;
                work = Work {
                    macs: nnz * batch as u64,
                    entries: nnz,
                    bytes_read: nnz * 8 + ptr.len() as u64 * 4 + 4 * (inputs * batch) as u64,
                };
                detail = match entry {
                    "spmv" => format!("a workgroup of {wg} per row, workgroup-memory reduction"),
                    "spmv_sg" => format!("a workgroup of {wg} per row, subgroup reduction"),
                    "spmv_rows" => "a row per invocation".to_string(),
                    _ => "a row x 4 samples per invocation, 4 entries a step".to_string(),
                };
                keep.extend(bufs);
                keep.push(p);
            }
            GpuKernel::EieF32 | GpuKernel::EieFixed => {
                if layer.codebook().bits() > 4 {
                    return Err(limit(
                        "codebook index bits",
                        layer.codebook().bits() as u64,
                        4,
                    ));
                }
                let fixed = self.kernel == GpuKernel::EieFixed;
                let spec = layer.fixed();
                let (cb_bytes, bias_bytes): (Vec<u8>, Vec<u8>) = if fixed {
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
                        None => vec![0; outputs],
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
                        bytemuck::cast_slice(&bias).to_vec(),
                    )
                };
                let wfrac = spec.weight.frac as u32;
                if batch == 1 {
                    // EIE's dataflow: PEs own interleaved rows; the paper's 4 + 4-bit entries.
                    let pes = outputs
                        .div_ceil(PE_ROWS)
                        .clamp(1, eie_compress::eie::MAX_PES);
                    if outputs.div_ceil(pes) > MAX_PE_ROWS {
                        return Err(GpuError::Unsupported(format!(
                            "{outputs} rows need {} rows per GPU PE in the batch-1 EIE kernel; at most {MAX_PE_ROWS}",
                            outputs.div_ceil(pes)
                        )));
                    }
                    let enc = eie_compress::EieEncoding::encode(layer.codes(), pes, 4, 4).map_err(
                        |e| GpuError::Unsupported(format!("re-encoding for {pes} GPU PEs: {e}")),
                    )?;
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
                    // Zero activations are skipped through the non-zero list (`compact`, EIE's LNZD), or,
                    // `direct`, by each invocation as it meets them in its share of the columns (one
                    // dispatch fewer; a zero column leaves its lane idle). Enough workgroups to fill the
                    // adapter: on GPUs the columns are cut into parts, one per 128 input features, at most
                    // 32; CPU adapters run the list in one part, whose workgroups already outnumber their
                    // cores. On an H200 (results/nvidia-h200) the list's single-workgroup scan cost up to
                    // ~100 µs on VGG-6, and the walk in 32 parts was the fastest of 16 to 256 parts, list
                    // or walk, on VGG-6, VGG-7, Alex-8 and NT-We (fixed point; f32 but for VGG-7's 16).
                    let (parts0, direct0) =
                        eie_walk_defaults(inputs, ctx.summary.device_type == "Cpu");
                    let parts = self.eie_parts.or(knobs.parts).unwrap_or(parts0);
                    let direct = self.eie_direct.or(knobs.direct).unwrap_or(direct0);
                    let compact = ctx.pipeline(Shader::Eie, "compact", 256)?;
                    let nz = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("non-zero columns"),
                        size: (4 * (inputs + 1)) as u64,
                        usage: wgpu::BufferUsages::STORAGE,
                        mapped_at_creation: false,
                    });
                    let bufs = [
                        storage(ctx, "eie column pointers", bytemuck::cast_slice(&ptr))?,
                        storage(ctx, "eie entries", &bytes)?,
                        storage(ctx, "codebook", &cb_bytes)?,
                        storage(ctx, "bias", &bias_bytes)?,
                    ];
                    let g = grid(pes * parts * WG as usize, max_dim);
                    let p = params(
                        outputs,
                        0,
                        g.0,
                        wfrac,
                        pes as u32,
                        parts as u32,
                        direct as u32,
                    );
                    if !direct {
                        dispatches.push(Dispatch {
                            pipeline: compact.clone(),
                            bind_group: bind(&compact, &[(0, &p), (4, &x), (7, &nz)]),
                            groups: (1, 1),
                        });
                    }
                    if parts == 1 {
                        let main = ctx.pipeline(
                            Shader::Eie,
                            if fixed { "cols_fixed" } else { "cols_f32" },
                            WG,
                        )?;
                        dispatches.push(Dispatch {
                            pipeline: main.clone(),
                            bind_group: bind_sparse(&main, &p, &bufs, Some(&nz)),
                            groups: g,
                        });
                    } else {
                        let (walk, fin) = if fixed {
                            ("cols_part_fixed", "finish_fixed_rows")
                        } else {
                            ("cols_part_f32", "finish_f32_rows")
                        };
                        let walk = ctx.pipeline(Shader::Eie, walk, WG)?;
                        let fin = ctx.pipeline(Shader::Eie, fin, WG)?;
                        // Fixed point: one accumulator per row, zero at creation, cleared by `finish`
                        // after reading. f32: each part's sums, stored whole by every pass.
                        let part_bytes = 4 * outputs as u64 * if fixed { 1 } else { parts as u64 };
                        if part_bytes > ctx.limits.max_storage_buffer_binding_size {
                            return Err(limit(
                                "eie partial sums",
                                part_bytes,
                                ctx.limits.max_storage_buffer_binding_size,
                            ));
                        }
                        let part = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("eie row accumulators"),
                            size: part_bytes,
                            usage: wgpu::BufferUsages::STORAGE,
                            mapped_at_creation: false,
                        });
                        dispatches.push(Dispatch {
                            pipeline: walk.clone(),
                            bind_group: bind(
                                &walk,
                                &[
                                    (0, &p),
                                    (1, &bufs[0]),
                                    (2, &bufs[1]),
                                    (3, &bufs[2]),
                                    (4, &x),
                                    (7, &nz),
                                    (8, &part),
                                ],
                            ),
                            groups: g,
                        });
                        let gf = grid(outputs, max_dim);
                        let pf = params(
                            outputs,
                            0,
                            gf.0,
                            wfrac,
                            pes as u32,
                            parts as u32,
                            direct as u32,
                        );
                        dispatches.push(Dispatch {
                            pipeline: fin.clone(),
                            bind_group: bind(&fin, &[(0, &pf), (5, &bufs[3]), (6, &y), (8, &part)]),
                            groups: gf,
                        });
                        keep.extend([part, pf]);
                    }
                    let n = bytes.len() as u64;
                    work = Work {
                        macs: layer.nnz() as u64,
                        entries: enc.total_entries() as u64,
                        bytes_read: n + ptr.len() as u64 * 4 + 4 * inputs as u64,
                    };
                    col_work = Some(ColumnWork { per_col, pes });
                    detail = if direct {
                        format!(
                            "EIE column dataflow, {pes} PEs x {parts} part(s) of the columns, zero activations skipped in the walk"
                        )
                    } else {
                        format!(
                            "EIE column dataflow, {pes} PEs x {parts} part(s) of the non-zero list built on the GPU"
                        )
                    };
                    keep.extend(bufs);
                    keep.extend([nz, p]);
                } else {
                    let pipeline = ctx.pipeline(
                        Shader::Eie,
                        if fixed { "rows_fixed" } else { "rows_f32" },
                        WG,
                    )?;
                    let (row_ptr, entries, n) = eie_rows(layer);
                    let bufs = [
                        storage(ctx, "eie row_ptr", bytemuck::cast_slice(&row_ptr))?,
                        storage(ctx, "eie entries", bytemuck::cast_slice(&entries))?,
                        storage(ctx, "codebook", &cb_bytes)?,
                        storage(ctx, "bias", &bias_bytes)?,
                    ];
                    let g = grid(outputs * groups4, max_dim);
                    let p = params(outputs, 0, g.0, wfrac, 0, 1, 0);
                    dispatches.push(Dispatch {
                        pipeline: pipeline.clone(),
                        bind_group: bind_sparse(&pipeline, &p, &bufs, None),
                        groups: g,
                    });
                    work = Work {
                        macs: layer.nnz() as u64 * batch as u64,
                        entries: n,
                        bytes_read: n * 2 + row_ptr.len() as u64 * 4 + 4 * (inputs * batch) as u64,
                    };
                    detail = "rows, 16-bit entries, a row x 4 samples per invocation".to_string();
                    keep.extend(bufs);
                    keep.push(p);
                }
            }
        }
        let passes = passes_for(work.bytes_read, ctx.summary.device_type == "Cpu");
        let timestamps = ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Timestamps {
                query_set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("pass timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                resolve: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps staging"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                period_ns: ctx.queue.get_timestamp_period(),
            });
        Ok(State {
            inputs,
            outputs,
            batch,
            xstride,
            x,
            y,
            staging,
            dispatches,
            passes,
            work,
            col_work,
            detail,
            timestamps,
            wide: std::sync::Mutex::new(Vec::new()),
            _keep: keep,
        })
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        self.kernel.name().into()
    }
    fn arithmetic(&self) -> Arithmetic {
        self.kernel.arithmetic()
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        if batch == 0 {
            return Err(BackendError::Shape {
                backend: self.name(),
                message: "batch must be at least 1".into(),
            });
        }
        let ctx = self.ctx.clone().map_err(|e| self.unavailable(&e))?;
        self.state = Some(
            self.build(&ctx, layer, batch)
                .map_err(|e| BackendError::Failed {
                    backend: self.name(),
                    message: e.to_string(),
                })?,
        );
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let (Ok(ctx), Some(s)) = (&self.ctx, &self.state) else {
            return Err(BackendError::Unprepared(name));
        };
        check_io(
            &name,
            self.kernel.arithmetic(),
            (s.inputs, s.outputs),
            s.batch,
            &input,
            &output,
        )?;
        // Upload: as is where the layout allows, else laid out (batch padded to 4, fixed point widened).
        match input {
            Data::F32(x) if s.xstride == s.batch => {
                ctx.queue.write_buffer(&s.x, 0, bytemuck::cast_slice(x))
            }
            _ => {
                let mut wide = s.wide.lock().expect("input scratch");
                wide.clear();
                wide.resize(s.inputs * s.xstride, 0);
                let bits = |j: usize, b: usize| match input {
                    Data::F32(x) => x[j * s.batch + b].to_bits(),
                    Data::Fixed(x) => x[j * s.batch + b] as i32 as u32,
                };
                for j in 0..s.inputs {
                    for b in 0..s.batch {
                        wide[j * s.xstride + b] = bits(j, b);
                    }
                }
                ctx.queue.write_buffer(&s.x, 0, bytemuck::cast_slice(&wide));
            }
        }
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(&name) });
        {
            let timestamp_writes =
                s.timestamps
                    .as_ref()
                    .map(|t| wgpu::ComputePassTimestampWrites {
                        query_set: &t.query_set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&name),
                timestamp_writes,
            });
            // `passes` identical forward passes (same input, same output): the time per pass is the
            // total over `passes` (see `passes_per_run`).
            for _ in 0..s.passes {
                for d in &s.dispatches {
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
                }
            }
        }
        let bytes = (4 * s.outputs * s.batch) as u64;
        if bytes > 0 {
            enc.copy_buffer_to_buffer(&s.y, 0, &s.staging, 0, bytes);
        }
        if let Some(t) = &s.timestamps {
            enc.resolve_query_set(&t.query_set, 0..2, &t.resolve, 0);
            enc.copy_buffer_to_buffer(&t.resolve, 0, &t.staging, 0, 16);
        }
        ctx.queue.submit([enc.finish()]);
        let failed = |m: String| BackendError::Failed {
            backend: name.clone(),
            message: m,
        };
        let slice = s.staging.slice(..bytes.max(4));
        slice.map_async(wgpu::MapMode::Read, |_| {});
        let ts_slice = s.timestamps.as_ref().map(|t| t.staging.slice(..));
        if let Some(ts) = &ts_slice {
            ts.map_async(wgpu::MapMode::Read, |_| {});
        }
        // Read the output (and the timestamps), then unmap whatever happened: a buffer left mapped by an
        // error would make the next run's copy into it fail.
        let passes = s.passes as f64;
        let read = (|| -> Result<Option<f64>, BackendError> {
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| failed(e.to_string()))?;
            {
                let view = slice
                    .get_mapped_range()
                    .map_err(|e| failed(e.to_string()))?;
                match output {
                    DataMut::F32(y) => {
                        y.copy_from_slice(bytemuck::cast_slice(&view[..bytes as usize]))
                    }
                    DataMut::Fixed(y) => {
                        let wide: &[i32] = bytemuck::cast_slice(&view[..bytes as usize]);
                        for (o, &v) in y.iter_mut().zip(wide) {
                            *o = v as i16;
                        }
                    }
                }
            }
            let mut device_us = None;
            if let (Some(t), Some(ts)) = (&s.timestamps, &ts_slice) {
                let view = ts.get_mapped_range().map_err(|e| failed(e.to_string()))?;
                let stamps: &[u64] = bytemuck::cast_slice(&view[..16]);
                if stamps[1] > stamps[0] {
                    device_us =
                        Some((stamps[1] - stamps[0]) as f64 * t.period_ns as f64 / 1000.0 / passes);
                }
            }
            Ok(device_us)
        })();
        s.staging.unmap();
        if let Some(t) = &s.timestamps {
            t.staging.unmap();
        }
        self.last_device_us = read?;
        Ok(())
    }
    fn device_time_us(&self) -> Option<f64> {
        self.last_device_us
    }
    fn passes_per_run(&self) -> usize {
        self.state.as_ref().map_or(1, |s| s.passes as usize)
    }
    fn work(&self, input: Data<'_>) -> Work {
        let Some(s) = &self.state else {
            return Work::default();
        };
        let Some(c) = &s.col_work else {
            return s.work;
        };
        // Batch 1 in EIE's dataflow: the input scan, then each non-zero column's pointers and entries.
        let (mut entries, mut real, mut cols) = (0u64, 0u64, 0u64);
        for &(e, r) in c
            .per_col
            .iter()
            .enumerate()
            .filter(|(j, _)| input.is_nonzero(*j))
            .map(|(_, c)| c)
        {
            entries += e;
            real += r;
            cols += 1;
        }
        Work {
            macs: real,
            entries,
            bytes_read: entries + cols * c.pes as u64 * 8 + 4 * s.inputs as u64,
        }
    }
    fn detail(&self) -> String {
        match (&self.ctx, &self.state) {
            (Ok(c), Some(s)) => format!(
                "{} ({}), {}, {} pass(es) per submit",
                c.summary.name, c.summary.backend, s.detail, s.passes
            ),
            (Ok(c), None) => format!("{} ({})", c.summary.name, c.summary.backend),
            (Err(e), _) => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eie_defaults_per_adapter() {
        assert_eq!(eie_walk_defaults(25088, false), (32, true));
        assert_eq!(eie_walk_defaults(4096, false), (32, true));
        assert_eq!(eie_walk_defaults(1201, false), (9, true));
        assert_eq!(eie_walk_defaults(100, false), (1, true));
        assert_eq!(eie_walk_defaults(25088, true), (1, false));
    }

    #[test]
    fn passes_per_submit_from_the_bytes_read() {
        assert_eq!(passes_for(411 << 20, false), 2);
        assert_eq!(passes_for(411 << 20, true), 1);
        assert_eq!(passes_for(4 << 20, true), 4);
        assert_eq!(passes_for(1 << 20, false), 32);
        assert_eq!(passes_for(0, true), 32);
    }
}
