//! Every backend on every layer, batch 1 and 64: one criterion group per layer, one id per backend and
//! batch (`cpu-eie-f32/b1`), throughput in multiply-accumulates. Every output is verified against the
//! reference before anything is timed; GPU backends without an adapter are skipped with a message.
//!
//! One layer: `cargo bench --bench backends -- 'Alex-7/'`; one backend: `cargo bench --bench backends -- gpu-eie-f32`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eie_bench::harness::{Plan, measure};
use eie_bench::registry::{BACKENDS, Options, make};
use eie_compress::backend::{batch_input, quantize_input};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, default_layer_names,
};
use std::time::Duration;

/// A prepared, verified backend with its buffers.
struct Ready {
    backend: Box<dyn Backend>,
    x: Vec<f32>,
    xq: Vec<i16>,
    y: Vec<f32>,
    yq: Vec<i16>,
}

/// Prepares `name` on `layer` and verifies its output (a wrong answer panics); `None` if unavailable.
fn ready(layer: &CompressedLayer, name: &str, batch: usize) -> Option<Ready> {
    let opts = Options::default();
    let quick = Plan {
        batch,
        budget: Duration::from_millis(1),
        min_runs: 1,
        max_runs: 1,
        ..Plan::default()
    };
    match measure(layer, &|| make(name, opts), quick, 0) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.downcast_ref::<BackendError>(),
                Some(BackendError::Unavailable { .. })
            ) =>
        {
            eprintln!("skipping {name} on {}: {e}", layer.name());
            return None;
        }
        Err(e) => panic!("{name} on {} batch {batch}: {e}", layer.name()),
    }
    let mut backend = make(name, opts).expect("known backend");
    backend
        .prepare(layer, batch)
        .expect("prepared once already");
    let x = batch_input(layer, batch);
    let xq = quantize_input(layer, &x);
    let n = layer.outputs() * batch;
    Some(Ready {
        backend,
        x,
        xq,
        y: vec![0.0; n],
        yq: vec![0; n],
    })
}

fn backends(c: &mut Criterion) {
    for name in default_layer_names() {
        let layer = eie_compress::build_layer(&name, eie_compress::CompressOptions::default())
            .expect("layer builds");
        let mut group = c.benchmark_group(layer.name());
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for backend in BACKENDS {
            for batch in [1usize, 64] {
                // MACs of the layer at this batch (useful ones; dense backends do more).
                group.throughput(Throughput::Elements(
                    (layer.useful_macs(true) * batch).max(1) as u64,
                ));
                let mut state: Option<Option<Ready>> = None;
                group.bench_function(BenchmarkId::new(backend, format!("b{batch}")), |bn| {
                    // Prepared and verified on the first call only (criterion calls this once per sample).
                    let Some(r) = state.get_or_insert_with(|| ready(&layer, backend, batch)) else {
                        bn.iter(|| ());
                        return;
                    };
                    match r.backend.arithmetic() {
                        Arithmetic::F32 => bn.iter(|| {
                            r.backend
                                .run(Data::F32(&r.x), DataMut::F32(&mut r.y))
                                .expect("runs")
                        }),
                        Arithmetic::Fixed16 => bn.iter(|| {
                            r.backend
                                .run(Data::Fixed(&r.xq), DataMut::Fixed(&mut r.yq))
                                .expect("runs")
                        }),
                    }
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
