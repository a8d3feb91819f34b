//! [`GpuContext`]: instance, adapter, device and queue, built once per process and shared; a pipeline
//! cache keyed by shader, entry point and override constants.
//!
//! Adapter choice: `EIE_ADAPTER` picks the first adapter whose name contains it (case-insensitive) or
//! whose backend is named by it (`vulkan`, `metal`, `dx12`, `gl`); otherwise wgpu's high-performance
//! choice. Limits are requested up to what the adapter offers for storage bindings and buffer sizes.

use super::error::GpuError;
use super::shaders::Shader;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What an adapter is, for listings and result files.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub timestamp_query: bool,
    pub subgroup: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
}

/// A pipeline: shader, entry point, workgroup size (the override constant).
type PipelineKey = (Shader, &'static str, u32);

/// The device every GPU backend shares.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) summary: AdapterSummary,
    pub(crate) limits: wgpu::Limits,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn summarize(a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let limits = a.limits();
    let features = a.features();
    AdapterSummary {
        name: info.name,
        backend: format!("{:?}", info.backend).to_lowercase(),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        subgroup: features.contains(wgpu::Features::SUBGROUP),
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_buffer_size: limits.max_buffer_size,
    }
}

/// Every adapter this machine offers.
pub fn adapters() -> Vec<AdapterSummary> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(summarize)
        .collect()
}

impl GpuContext {
    /// The process-wide context (built on first use).
    pub fn shared() -> Result<Arc<GpuContext>, GpuError> {
        static CTX: OnceLock<Result<Arc<GpuContext>, GpuError>> = OnceLock::new();
        CTX.get_or_init(|| GpuContext::new().map(Arc::new)).clone()
    }

    /// A new context on the adapter `EIE_ADAPTER` selects.
    pub fn new() -> Result<Self, GpuError> {
        let inst = instance();
        let wanted = std::env::var("EIE_ADAPTER").ok().filter(|s| !s.is_empty());
        let adapter = match &wanted {
            Some(w) => {
                let all = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
                let w = w.to_lowercase();
                let names: Vec<String> = all
                    .iter()
                    .map(summarize)
                    .map(|s| format!("{} ({})", s.name, s.backend))
                    .collect();
                all.into_iter()
                    .find(|a| {
                        let s = summarize(a);
                        s.name.to_lowercase().contains(&w) || s.backend == w
                    })
                    .ok_or_else(|| {
                        GpuError::NoAdapter(format!(
                            "none matches EIE_ADAPTER={w}; adapters: [{}]",
                            names.join(", ")
                        ))
                    })?
            }
            None => pollster::block_on(inst.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            }))
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?,
        };
        // Everything the adapter offers: the kernels want the largest storage bindings and buffers.
        let limits = adapter.limits();
        let mut features = wgpu::Features::empty();
        for f in [wgpu::Features::TIMESTAMP_QUERY, wgpu::Features::SUBGROUP] {
            if adapter.features().contains(f) {
                features |= f;
            }
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("eie-bench"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        Ok(Self {
            device,
            queue,
            summary: summarize(&adapter),
            limits,
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    /// The adapter this context runs on.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Whether the device has subgroup operations (`shaders/subgroup.wgsl` needs them).
    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// The compute pipeline of `shader`'s `entry` at workgroup size `wg` (cached). Shader rejection is
    /// a typed error, not a panic.
    pub(crate) fn pipeline(
        &self,
        shader: Shader,
        entry: &'static str,
        wg: u32,
    ) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let key = (shader, entry, wg);
        if let Some(p) = self.pipelines.lock().expect("pipeline cache").get(&key) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader.file()),
                source: wgpu::ShaderSource::Wgsl(shader.source().into()),
            });
        let constants = [("WG", wg as f64)];
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader {
                shader: format!("{} ({entry})", shader.file()),
                message: e.to_string(),
            });
        }
        let p = Arc::new(pipeline);
        self.pipelines
            .lock()
            .expect("pipeline cache")
            .insert(key, p.clone());
        Ok(p)
    }
}
