//! The GPU kernels as [`Backend`]s: buffers uploaded once in `prepare`, one submit per `run`.
//!
//! This first version computes one (row, sample) output per invocation in every kernel; the EIE-format
//! kernels walk the layer's 4-bit codebook indices row by row (no activation skipping yet).

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

    fn shader(self) -> (Shader, &'static str) {
        match self {
            GpuKernel::Dense => (Shader::Dense, "main"),
            GpuKernel::Csr => (Shader::Csr, "main"),
            GpuKernel::EieF32 => (Shader::Eie, "main_f32"),
            GpuKernel::EieFixed => (Shader::Eie, "main_fixed"),
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
    pad: u32,
}

/// One dispatch: a bind group and its workgroup grid.
struct Dispatch {
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
}

struct State {
    inputs: usize,
    outputs: usize,
    batch: usize,
    pipeline: Arc<wgpu::ComputePipeline>,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    staging: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    work: Work,
    timestamps: Option<Timestamps>,
    /// Fixed-point inputs widened to i32 for upload (reused across runs).
    wide: std::sync::Mutex<Vec<i32>>,
    /// Buffers the bind groups use, kept alive with them.
    _keep: Vec<wgpu::Buffer>,
}

/// A timestamp at the beginning and end of the compute pass, resolved and read back with the output.
struct Timestamps {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    period_ns: f32,
}

/// A GPU kernel over a prepared layer.
pub struct GpuBackend {
    kernel: GpuKernel,
    ctx: Result<Arc<GpuContext>, GpuError>,
    state: Option<State>,
    last_device_us: Option<f64>,
}

impl GpuBackend {
    /// The kernel on the shared context (an unavailable GPU is reported by `prepare`).
    pub fn new(kernel: GpuKernel) -> Self {
        Self {
            kernel,
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

impl GpuBackend {
    fn build(
        &self,
        ctx: &GpuContext,
        layer: &CompressedLayer,
        batch: usize,
    ) -> Result<State, GpuError> {
        let (shader, entry) = self.kernel.shader();
        let pipeline = ctx.pipeline(shader, entry, WG)?;
        let (inputs, outputs) = (layer.inputs(), layer.outputs());
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        let act_bytes = 4 * inputs * batch;
        let x = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("x"),
            size: act_bytes.max(4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let y_bytes = (4 * outputs * batch).max(4) as u64;
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
        let params = |rows: usize, row0: usize, groups_x: u32, wfrac: u32| {
            let p = Params {
                rows: rows as u32,
                cols: inputs as u32,
                batch: batch as u32,
                relu,
                row0: row0 as u32,
                groups_x,
                wfrac,
                pad: 0,
            };
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: bytemuck::bytes_of(&p),
                    usage: wgpu::BufferUsages::UNIFORM,
                })
        };
        let layout = pipeline.get_bind_group_layout(0);
        let bind = |buffers: &[&wgpu::Buffer]| {
            let entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.kernel.name()),
                layout: &layout,
                entries: &entries,
            })
        };
        let bias: Vec<f32> = layer.bias().unwrap_or_else(|| vec![0.0; outputs]);
        let mut keep = Vec::new();
        let mut dispatches = Vec::new();
        let work;
        match self.kernel {
            GpuKernel::Dense => {
                // Rows padded to whole vec4s; split into row blocks that fit one storage binding.
                let row_vec4 = inputs.div_ceil(4);
                let row_bytes = (row_vec4 * 16) as u64;
                let max_bind = ctx
                    .limits
                    .max_storage_buffer_binding_size
                    .min(ctx.limits.max_buffer_size);
                if row_bytes > max_bind {
                    return Err(GpuError::Limit {
                        what: "one dense row".into(),
                        needed: row_bytes,
                        allowed: max_bind,
                    });
                }
                let rows_per_block = ((max_bind / row_bytes) as usize).min(outputs).max(1);
                let w = layer.dense_weights();
                let bias_buf = storage(ctx, "bias", bytemuck::cast_slice(&bias))?;
                for row0 in (0..outputs).step_by(rows_per_block) {
                    let rows = rows_per_block.min(outputs - row0);
                    let mut block = vec![0.0f32; rows * row_vec4 * 4];
                    for r in 0..rows {
                        let src = w.row(row0 + r);
                        block[r * row_vec4 * 4..r * row_vec4 * 4 + inputs]
                            .copy_from_slice(src.as_slice().expect("standard layout"));
                    }
                    let wbuf = storage(ctx, "dense weights", bytemuck::cast_slice(&block))?;
                    let g = grid(rows * batch, max_dim);
                    let p = params(rows, row0, g.0, 0);
                    dispatches.push(Dispatch {
                        bind_group: bind(&[&p, &wbuf, &x, &bias_buf, &y]),
                        groups: g,
                    });
                    keep.extend([wbuf, p]);
                }
                keep.push(bias_buf);
                let elems = (outputs * inputs) as u64;
                work = Work {
                    macs: elems * batch as u64,
                    entries: elems,
                    bytes_read: elems * 4 + act_bytes as u64,
                };
            }
            GpuKernel::Csr => {
                let a = layer.csr_arrays();
                let ptr: Vec<u32> = a.indptr.iter().map(|&p| p as u32).collect();
                let bufs = [
                    storage(ctx, "csr row_ptr", bytemuck::cast_slice(&ptr))?,
                    storage(ctx, "csr col_idx", bytemuck::cast_slice(&a.indices))?,
                    storage(ctx, "csr values", bytemuck::cast_slice(&a.data))?,
                    storage(ctx, "bias", bytemuck::cast_slice(&bias))?,
                ];
                let g = grid(outputs * batch, max_dim);
                let p = params(outputs, 0, g.0, 0);
                dispatches.push(Dispatch {
                    bind_group: bind(&[&p, &bufs[0], &bufs[1], &bufs[2], &x, &bufs[3], &y]),
                    groups: g,
                });
                let nnz = a.data.len() as u64;
                work = Work {
                    macs: nnz * batch as u64,
                    entries: nnz,
                    bytes_read: nnz * 8 + ptr.len() as u64 * 4 + act_bytes as u64,
                };
                keep.extend(bufs);
                keep.push(p);
            }
            GpuKernel::EieF32 | GpuKernel::EieFixed => {
                if layer.codebook().bits() > 4 {
                    return Err(GpuError::Limit {
                        what: "codebook index bits".into(),
                        needed: layer.codebook().bits() as u64,
                        allowed: 4,
                    });
                }
                let (row_ptr, entries, n) = eie_rows(layer);
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
                let bufs = [
                    storage(ctx, "eie row_ptr", bytemuck::cast_slice(&row_ptr))?,
                    storage(ctx, "eie entries", bytemuck::cast_slice(&entries))?,
                    storage(ctx, "codebook", &cb_bytes)?,
                    storage(ctx, "bias", &bias_bytes)?,
                ];
                let g = grid(outputs * batch, max_dim);
                let p = params(outputs, 0, g.0, spec.weight.frac as u32);
                dispatches.push(Dispatch {
                    bind_group: bind(&[&p, &bufs[0], &bufs[1], &bufs[2], &x, &bufs[3], &y]),
                    groups: g,
                });
                work = Work {
                    macs: layer.nnz() as u64 * batch as u64,
                    entries: n,
                    bytes_read: n * 2 + row_ptr.len() as u64 * 4 + act_bytes as u64,
                };
                keep.extend(bufs);
                keep.push(p);
            }
        }
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
            pipeline,
            x,
            y,
            staging,
            dispatches,
            work,
            timestamps,
            wide: std::sync::Mutex::new(Vec::with_capacity(inputs * batch)),
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
        match input {
            Data::F32(x) => ctx.queue.write_buffer(&s.x, 0, bytemuck::cast_slice(x)),
            Data::Fixed(x) => {
                // The shader reads 16-bit activations as i32; widen into a buffer kept across runs.
                let mut wide = s.wide.lock().expect("input scratch");
                wide.clear();
                wide.extend(x.iter().map(|&v| v as i32));
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
            pass.set_pipeline(&s.pipeline);
            for d in &s.dispatches {
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
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
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| failed(e.to_string()))?;
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| failed(e.to_string()))?;
            match output {
                DataMut::F32(y) => y.copy_from_slice(bytemuck::cast_slice(&view[..bytes as usize])),
                DataMut::Fixed(y) => {
                    let wide: &[i32] = bytemuck::cast_slice(&view[..bytes as usize]);
                    for (o, &v) in y.iter_mut().zip(wide) {
                        *o = v as i16;
                    }
                }
            }
        }
        s.staging.unmap();
        self.last_device_us = None;
        if let (Some(t), Some(ts)) = (&s.timestamps, ts_slice) {
            {
                let view = ts.get_mapped_range().map_err(|e| failed(e.to_string()))?;
                let stamps: &[u64] = bytemuck::cast_slice(&view[..16]);
                if stamps[1] > stamps[0] {
                    self.last_device_us =
                        Some((stamps[1] - stamps[0]) as f64 * t.period_ns as f64 / 1000.0);
                }
            }
            t.staging.unmap();
        }
        Ok(())
    }
    fn device_time_us(&self) -> Option<f64> {
        self.last_device_us
    }
    fn work(&self, _input: Data<'_>) -> Work {
        self.state.as_ref().map_or_else(Work::default, |s| s.work)
    }
    fn detail(&self) -> String {
        match &self.ctx {
            Ok(c) => format!("{} ({})", c.summary.name, c.summary.backend),
            Err(e) => e.to_string(),
        }
    }
}
