//! Speed of the EIE model: simulating all nine Table III layers at the paper's configuration
//! (the target: under 1 s, one core, release build). Layers are built outside the timed loop.

use criterion::{Criterion, criterion_group, criterion_main};
use eie_accel_model::{EieConfig, simulate};
use eie_compress::{CompressOptions, benchmark_layers, build_layer};
use std::hint::black_box;

fn model(c: &mut Criterion) {
    let cfg = EieConfig::default();
    let layers: Vec<_> = benchmark_layers()
        .iter()
        .map(|s| build_layer(&s.name, CompressOptions::default()).expect("benchmark layer builds"))
        .collect();
    let mut group = c.benchmark_group("eie-model");
    group.sample_size(10);
    group.bench_function("simulate nine layers", |b| {
        b.iter(|| {
            for l in &layers {
                black_box(simulate(black_box(l), &cfg).expect("simulates"));
            }
        })
    });
    for l in &layers {
        group.bench_function(format!("simulate {}", l.name()), |b| {
            b.iter(|| black_box(simulate(black_box(l), &cfg).expect("simulates")))
        });
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
