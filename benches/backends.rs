//! Every backend on every layer, batch 1 and 64: one criterion group per layer, one id per backend and
//! batch (`cpu-eie-f32/b1`), throughput in useful multiply-accumulates (the layer's non-zero weights x batch),
//! time per forward pass. Every output is verified against the
//! reference before anything is timed; GPU backends without an adapter are skipped with a message.
//!
//! One layer: `cargo bench --bench backends -- 'Alex-7/'`; one backend: `cargo bench --bench backends -- gpu-eie-f32`.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use eie_bench::backend_id::BackendId;
use eie_bench::harness::{Inputs, prepare_verified};
use eie_bench::registry::{Options, make};
use eie_compress::{Arithmetic, Backend, CompressedLayer, Data, DataMut, default_layer_names};
use std::time::{Duration, Instant};

/// A prepared, verified backend with its buffers.
struct Ready {
    backend: Box<dyn Backend>,
    x: Vec<f32>,
    xq: Vec<i16>,
    y: Vec<f32>,
    yq: Vec<i16>,
}

/// Prepares `name` on `layer` and verifies its output (a wrong answer panics).
fn ready(layer: &CompressedLayer, name: BackendId, batch: usize) -> Ready {
    let inputs = Inputs::new(layer, batch).expect("a layer within f32's range");
    let opts = Options::default()
        .with_gpu_knobs_from_env(&[name])
        .expect("valid EIE_GPU_* knobs");
    let backend = make(name, opts).expect("an in-process backend");
    let backend = prepare_verified(layer, &inputs, backend)
        .unwrap_or_else(|e| panic!("{name} on {} batch {batch}: {e:#}", layer.name()));
    let n = layer.outputs() * batch;
    Ready {
        backend,
        x: inputs.x,
        xq: inputs.xq,
        y: vec![0.0; n],
        yq: vec![0; n],
    }
}

fn backends(c: &mut Criterion) {
    // GPU backends without an adapter are left out (no entry in target/criterion), with a message.
    let gpu = eie_kernels::gpu::GpuContext::shared();
    if let Err(e) = &gpu {
        eprintln!("skipping the GPU backends: {e}");
    }
    for name in default_layer_names() {
        let layer = eie_compress::build_layer(&name, eie_compress::CompressOptions::default())
            .expect("layer builds");
        let mut group = c.benchmark_group(layer.name());
        group
            .sample_size(10)
            // Flat sampling: 10 samples of equal iteration counts, so that a backend taking a second per
            // call (GPU dense at batch 64 on lavapipe) costs 10 calls, not the 55 of linear sampling.
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for &backend in BackendId::MEASURED {
            if backend.is_gpu() && gpu.is_err() {
                continue;
            }
            for batch in [1usize, 64] {
                // MACs of the layer at this batch (useful ones; dense backends do more).
                group.throughput(Throughput::Elements(
                    (layer.useful_macs(true) * batch).max(1) as u64,
                ));
                let mut state: Option<Ready> = None;
                group.bench_function(
                    BenchmarkId::new(backend.name(), format!("b{batch}")),
                    |bn| {
                        // Prepared and verified on the first call only (criterion calls this once per sample).
                        let r = state.get_or_insert_with(|| ready(&layer, backend, batch));
                        // GPU backends may run several identical passes per call (small layers, to share the
                        // submit's fixed cost): criterion records the time per pass.
                        let passes = r.backend.passes_per_run().max(1) as u32;
                        let fixed = r.backend.arithmetic() == Arithmetic::Fixed16;
                        bn.iter_custom(|iters| {
                            let t = Instant::now();
                            for _ in 0..iters {
                                if fixed {
                                    r.backend
                                        .run(Data::Fixed(&r.xq), DataMut::Fixed(&mut r.yq))
                                        .expect("runs");
                                } else {
                                    r.backend
                                        .run(Data::F32(&r.x), DataMut::F32(&mut r.y))
                                        .expect("runs");
                                }
                            }
                            t.elapsed() / passes
                        });
                    },
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
