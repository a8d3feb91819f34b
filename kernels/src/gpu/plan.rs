//! What the kernel families' builders share: the [`Frame`] they build on (context, layer, batch, the input
//! and output buffers), the [`Plan`] they return (one forward pass as dispatches, with its work and
//! detail), and the helpers for storage buffers, uniforms, bind groups and workgroup grids.

use super::context::GpuContext;
use super::eie::ColumnWork;
use super::error::GpuError;
use super::params::ShaderParams;
use eie_compress::{CompressedLayer, Work};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Workgroup size of every kernel but the row-per-workgroup ones ([`super::GpuKnobs::row_wg`]) and `compact`.
pub(super) const WG: u32 = 64;

/// One dispatch: a pipeline, a bind group and its workgroup grid.
pub(super) struct Dispatch {
    pub(super) pipeline: Arc<wgpu::ComputePipeline>,
    pub(super) bind_group: wgpu::BindGroup,
    pub(super) groups: (u32, u32),
}

/// One forward pass of a layer, as a family's builder leaves it.
pub(super) struct Plan {
    pub(super) dispatches: Vec<Dispatch>,
    /// Buffers the bind groups use, kept alive with them.
    pub(super) keep: Vec<wgpu::Buffer>,
    pub(super) work: Work,
    /// The batch-1 EIE kernel's work per column, for work figures that depend on the input.
    pub(super) col_work: Option<ColumnWork>,
    /// How the pass runs, for the backend's detail.
    pub(super) detail: String,
}

impl Plan {
    /// A plan with no dispatch yet, its work and detail to be filled in.
    pub(super) fn new() -> Self {
        Self {
            dispatches: Vec::new(),
            keep: Vec::new(),
            work: Work::default(),
            col_work: None,
            detail: String::new(),
        }
    }

    /// Appends a dispatch of `pipeline` over `groups` workgroups.
    pub(super) fn push(
        &mut self,
        pipeline: &Arc<wgpu::ComputePipeline>,
        bind_group: wgpu::BindGroup,
        groups: (u32, u32),
    ) {
        self.dispatches.push(Dispatch {
            pipeline: pipeline.clone(),
            bind_group,
            groups,
        });
    }
}

/// What every family builds on: the context, the layer and batch, and the buffers of x and y.
pub(super) struct Frame<'a> {
    pub(super) ctx: &'a GpuContext,
    pub(super) layer: &'a CompressedLayer,
    pub(super) batch: usize,
    /// vec4s of x per feature: the batch padded to a multiple of 4, over 4 (1 at batch 1).
    pub(super) groups4: usize,
    /// x: features padded to a multiple of 4 (zero rows), samples to `4 * groups4` above batch 1.
    pub(super) x: wgpu::Buffer,
    /// y: outputs x batch.
    pub(super) y: wgpu::Buffer,
    /// The layer's bias (zeros without one).
    pub(super) bias: Vec<f32>,
    /// The backend's name, the bind groups' label.
    pub(super) label: &'static str,
}

impl Frame<'_> {
    pub(super) fn inputs(&self) -> usize {
        self.layer.inputs()
    }

    pub(super) fn outputs(&self) -> usize {
        self.layer.outputs()
    }

    /// 1 when the layer ends in a ReLU.
    pub(super) fn relu(&self) -> u32 {
        u32::from(self.layer.relu())
    }

    /// Whether the adapter is a CPU (lavapipe, SwiftShader).
    pub(super) fn cpu_adapter(&self) -> bool {
        self.ctx.summary.device_type == "Cpu"
    }

    /// The workgroup grid for `invocations` of [`WG`]: x up to the per-dimension limit, y for the rest.
    pub(super) fn grid(&self, invocations: usize) -> (u32, u32) {
        let max_dim = self.ctx.limits.max_compute_workgroups_per_dimension;
        let groups = invocations.div_ceil(WG as usize).max(1) as u64;
        let x = groups.min(max_dim as u64);
        (x as u32, groups.div_ceil(x) as u32)
    }

    /// An error unless `bytes` fit one storage binding.
    pub(super) fn fits(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let allowed = self.ctx.limits.max_storage_buffer_binding_size;
        if bytes > allowed {
            return Err(limit(what, bytes, allowed));
        }
        Ok(())
    }

    /// A read-only storage buffer holding `bytes` (4 zero bytes when empty: wgpu wants non-empty bindings).
    pub(super) fn storage(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        self.fits(label, bytes.len() as u64)?;
        let data: &[u8] = if bytes.is_empty() { &[0u8; 4] } else { bytes };
        Ok(self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE,
            }))
    }

    /// A storage buffer of `bytes` zero bytes that the kernels write.
    pub(super) fn scratch(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    }

    /// The uniform buffer of a shader's parameters.
    pub(super) fn uniform<P: ShaderParams>(&self, params: &P) -> wgpu::Buffer {
        self.ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// A bind group of `pipeline`'s group 0: `(binding, buffer)` pairs.
    pub(super) fn bind(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: *i,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.label),
                layout: &layout,
                entries: &entries,
            })
    }

    /// The sparse kernels' bindings (csr.wgsl, eie.wgsl, `spmv_sg`): params, three arrays, x, bias, y, and
    /// the non-zero list where there is one.
    pub(super) fn bind_sparse(
        &self,
        pipeline: &wgpu::ComputePipeline,
        params: &wgpu::Buffer,
        arrays: &[wgpu::Buffer; 4],
        nz: Option<&wgpu::Buffer>,
    ) -> wgpu::BindGroup {
        let mut e = vec![
            (0, params),
            (1, &arrays[0]),
            (2, &arrays[1]),
            (3, &arrays[2]),
            (4, &self.x),
            (5, &arrays[3]),
            (6, &self.y),
        ];
        e.extend(nz.map(|n| (7, n)));
        self.bind(pipeline, &e)
    }
}

/// A limit the layer exceeds.
pub(super) fn limit(what: &str, needed: u64, allowed: u64) -> GpuError {
    GpuError::Limit {
        what: what.into(),
        needed,
        allowed,
    }
}
