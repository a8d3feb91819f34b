//! The GPU kernels as [`Backend`]s: [`GpuBackend`] with its [`GpuKnobs`] fixed at construction, buffers
//! uploaded once in `prepare` (each kernel family's dispatches built by its own module: [`super::dense`],
//! [`super::csr`], [`super::eie`]), one submit per `run`, the output and the pass's timestamps read back.
//!
//! Batch 1: dense and CSR give each row a workgroup (a strided walk and a subgroup or workgroup-memory
//! reduction; a row per invocation on CPU adapters); the EIE-format kernels run EIE's own dataflow (PEs
//! owning interleaved rows walk the non-zero columns of the paper's 4 + 4-bit interleaved CSC, zero
//! activations skipped through a non-zero list built on the GPU or in the walk itself, the columns cut into
//! parts on GPUs). Batches: dense in 64 x 64 tiles staged in workgroup memory with the features split
//! (split-K) on GPUs, 4 rows x 4 samples per invocation on CPU adapters; CSR and EIE a row x 4 samples per
//! invocation, every weight or entry read once per 4 samples. Layers run several identical passes per
//! submit ([`passes_for`]) and report the time per pass.

use super::context::GpuContext;
use super::error::GpuError;
use super::knobs::{GpuKnobs, Reduction};
use super::plan::{Dispatch, Frame, Plan, limit};
use super::{csr, dense, eie};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, Work, check_io,
};
use std::sync::Arc;

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

/// A prepared layer: its buffers and one forward pass's dispatches.
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
    col_work: Option<eie::ColumnWork>,
    detail: String,
    timestamps: Option<Timestamps>,
    /// The input laid out for upload (padded batch, fixed point widened to i32), reused across runs.
    wide: std::sync::Mutex<Vec<u32>>,
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

impl Timestamps {
    /// The pass's timestamps, where the device has timestamp queries.
    fn new(ctx: &GpuContext) -> Option<Self> {
        ctx.device
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
            })
    }
}

/// A GPU kernel over a prepared layer.
pub struct GpuBackend {
    kernel: GpuKernel,
    /// The tuning knobs, fixed at construction (a bad environment value is kept and reported by `prepare`).
    knobs: Result<GpuKnobs, GpuError>,
    ctx: Result<Arc<GpuContext>, GpuError>,
    state: Option<State>,
    last_device_us: Option<f64>,
}

impl GpuBackend {
    /// The kernel on the shared context, with the knobs set in the environment ([`GpuKnobs::from_env`],
    /// read once, here). An unavailable GPU, or a bad knob, is reported by `prepare`.
    pub fn new(kernel: GpuKernel) -> Self {
        Self::with(kernel, GpuKnobs::from_env())
    }

    /// The kernel on the shared context with these knobs (the environment is not read; tests run every
    /// variant on any adapter this way). Parts and splits below 1 count as 1; block rows are rounded up
    /// to a multiple of 4 ([`GpuKnobs::normalized`]).
    pub fn with_knobs(kernel: GpuKernel, knobs: GpuKnobs) -> Self {
        Self::with(kernel, Ok(knobs))
    }

    fn with(kernel: GpuKernel, knobs: Result<GpuKnobs, GpuError>) -> Self {
        Self {
            kernel,
            knobs: knobs.map(GpuKnobs::normalized),
            ctx: GpuContext::shared(),
            state: None,
            last_device_us: None,
        }
    }

    /// The knobs this backend runs with, or the error reading them from the environment.
    pub fn knobs(&self) -> Result<&GpuKnobs, &GpuError> {
        self.knobs.as_ref()
    }

    fn unavailable(&self, e: &GpuError) -> BackendError {
        BackendError::Unavailable {
            backend: self.kernel.name().into(),
            why: e.to_string(),
        }
    }

    /// The layer's buffers and dispatches.
    fn build(
        &self,
        ctx: &GpuContext,
        knobs: &GpuKnobs,
        layer: &CompressedLayer,
        batch: usize,
    ) -> Result<State, GpuError> {
        let (inputs, outputs) = (layer.inputs(), layer.outputs());
        if inputs == 0 || outputs == 0 {
            return Err(GpuError::Unsupported(format!(
                "layer {} has shape {outputs} x {inputs}: nothing to run",
                layer.name()
            )));
        }
        let max_bind = ctx.limits.max_storage_buffer_binding_size;
        // x: features padded to a multiple of 4 (zero rows), samples padded to a multiple of 4 above batch 1.
        let xstride = if batch == 1 { 1 } else { batch.div_ceil(4) * 4 };
        let xrows = inputs.div_ceil(4) * 4;
        let x_bytes = (4 * xrows * xstride) as u64;
        if x_bytes > max_bind {
            return Err(limit("input batch", x_bytes, max_bind));
        }
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let x = buffer("x", x_bytes.max(16), U::STORAGE | U::COPY_DST);
        let y_bytes = (4 * outputs * batch).max(4) as u64;
        if y_bytes > max_bind {
            return Err(limit("output batch", y_bytes, max_bind));
        }
        let y = buffer("y", y_bytes, U::STORAGE | U::COPY_SRC);
        let staging = buffer("y staging", y_bytes, U::MAP_READ | U::COPY_DST);
        let frame = Frame {
            ctx,
            layer,
            batch,
            groups4: (xstride / 4).max(1),
            x,
            y,
            bias: layer.bias().unwrap_or_else(|| vec![0.0; outputs]),
            label: self.kernel.name(),
        };
        // CPU adapters (lavapipe, SwiftShader) run a workgroup as SIMD lanes: there a row per invocation
        // beats a workgroup per row, whose reduction barriers are expensive. Elsewhere a workgroup per row,
        // reduced with subgroup operations where the adapter has them.
        let reduction = match knobs.reduction {
            Reduction::Auto if frame.cpu_adapter() => Reduction::RowPerInvocation,
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
        let plan: Plan = match self.kernel {
            GpuKernel::Dense => dense::build(&frame, knobs, reduction)?,
            GpuKernel::Csr => csr::build(&frame, knobs, reduction)?,
            GpuKernel::EieF32 | GpuKernel::EieFixed => {
                eie::build(&frame, knobs, self.kernel.arithmetic())?
            }
        };
        let passes = passes_for(plan.work.bytes_read, frame.cpu_adapter());
        Ok(State {
            inputs,
            outputs,
            batch,
            xstride,
            x: frame.x,
            y: frame.y,
            staging,
            dispatches: plan.dispatches,
            passes,
            work: plan.work,
            col_work: plan.col_work,
            detail: if self.kernel.arithmetic() == Arithmetic::Fixed16 {
                format!("{}{}", plan.detail, frame.layer.fixed().rounding_note())
            } else {
                plan.detail
            },
            timestamps: Timestamps::new(ctx),
            wide: std::sync::Mutex::new(Vec::new()),
            _keep: plan.keep,
        })
    }
}

/// Passes per submit: enough that small layers' per-submit cost (upload, submit, read-back) is shared by
/// several passes, as the README explains: passes that read 16 MiB in all on CPU adapters (lavapipe), 1 GiB
/// on GPUs, where a submit and its read-back cost about 120 µs (an H200 through Vulkan: results/nvidia-h200)
/// against a few µs of kernels; at most 32.
fn passes_for(bytes_read: u64, cpu_adapter: bool) -> u32 {
    let budget: u64 = if cpu_adapter { 16 << 20 } else { 1 << 30 };
    (budget / bytes_read.max(1)).clamp(1, 32) as u32
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
        let failed = |e: &GpuError| BackendError::Failed {
            backend: self.name(),
            message: e.to_string(),
        };
        let knobs = self.knobs.as_ref().map_err(failed)?;
        // A layer this adapter's limits (or this kernel) cannot take makes the backend unavailable for it,
        // not a failure: the other backends and layers go on.
        self.state = Some(self.build(&ctx, knobs, layer, batch).map_err(|e| match e {
            GpuError::Limit { .. } | GpuError::Unsupported(_) => self.unavailable(&e),
            other => failed(&other),
        })?);
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
    fn passes_per_submit_from_the_bytes_read() {
        assert_eq!(passes_for(411 << 20, false), 2);
        assert_eq!(passes_for(411 << 20, true), 1);
        assert_eq!(passes_for(4 << 20, true), 4);
        assert_eq!(passes_for(1 << 20, false), 32);
        assert_eq!(passes_for(0, true), 32);
    }
}
