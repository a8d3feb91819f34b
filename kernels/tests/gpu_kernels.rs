//! The GPU kernels, against the same references as the CPU kernels (f32 within DESIGN.md's bound,
//! fixed point bit for bit), on small layers and the benchmark layers, at batch 1 and 64. Without an
//! adapter these tests skip, saying why, unless `EIE_REQUIRE_GPU=1` (CI), where they fail.

mod common;

use common::{check, dense, nearest, small_layers};
use eie_compress::real::{load_real_fc8, real_fc8_dir};
use eie_compress::{CompressOptions, CompressedLayer, build_layer};
use eie_kernels::gpu::shaders::Shader;
use eie_kernels::gpu::{
    EieZeros, GpuBackend, GpuContext, GpuKernel, GpuKnobs, Reduction, gpu_required,
};

/// Every shader parses and validates (naga), with no adapter needed.
#[test]
fn every_shader_validates() {
    for s in Shader::ALL {
        let module = naga::front::wgsl::parse_str(s.source())
            .unwrap_or_else(|e| panic!("{}: {}", s.file(), e.emit_to_string(s.source())));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {e:?}", s.file()));
        for entry in s.entry_points() {
            assert!(
                module.entry_points.iter().any(|e| e.name == *entry),
                "{}: no entry point {entry}",
                s.file()
            );
        }
        assert!(
            s.source().starts_with("//"),
            "{}: opens with its binding list",
            s.file()
        );
    }
}

/// True when an adapter exists; otherwise skips (or fails under `EIE_REQUIRE_GPU=1`).
fn have_gpu() -> bool {
    match GpuContext::shared() {
        Ok(ctx) => {
            eprintln!(
                "GPU tests on {} ({})",
                ctx.summary().name,
                ctx.summary().backend
            );
            true
        }
        Err(e) if gpu_required() => panic!("EIE_REQUIRE_GPU=1 but {e}"),
        Err(e) => {
            eprintln!("SKIP GPU tests: {e}");
            false
        }
    }
}

fn run_all(layers: &[CompressedLayer], batches: &[usize]) {
    let mut failures = Vec::new();
    for kernel in GpuKernel::ALL {
        let mut b = GpuBackend::new(kernel);
        for l in layers {
            for &batch in batches {
                if let Err(e) = check(&mut b, l, batch) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn small_layers_every_kernel() {
    if have_gpu() {
        run_all(&small_layers(), &[1, 7, 64]);
    }
}

/// Round-to-nearest fixed point in the shaders, bit for bit with the reference.
#[test]
fn nearest_rounding_every_kernel() {
    if have_gpu() {
        let mut layers = small_layers();
        layers.push(build_layer("Alex-8", CompressOptions::default()).unwrap());
        run_all(&nearest(layers), &[1, 7, 64]);
    }
}

#[test]
fn runs_longer_than_4095_need_padding() {
    if have_gpu() {
        let l = dense(
            "tall",
            300,
            9000,
            |i, j| {
                if (j == 8999 && i % 2 == 0) || (i == 3 && j == 4100) {
                    1.5
                } else {
                    0.0
                }
            },
            |j| (j % 5) as f32,
            true,
            true,
        );
        run_all(&[l], &[1, 64]);
    }
}

#[test]
fn benchmark_layers_and_the_real_fc8() {
    if !have_gpu() {
        return;
    }
    let mut layers: Vec<CompressedLayer> = ["Alex-8", "VGG-8", "NT-We", "NT-LSTM"]
        .iter()
        .map(|n| build_layer(n, CompressOptions::default()).unwrap())
        .collect();
    match real_fc8_dir() {
        Some(dir) => layers.push(load_real_fc8(&dir, CompressOptions::default()).unwrap()),
        None => eprintln!("SKIP alexnet-fc8-real: data folder not found (set EIE_DATA_DIR)"),
    }
    run_all(&layers, &[1, 64]);
}

/// Every batch-1 reduction of the dense and CSR kernels (row per invocation, workgroup memory, subgroups
/// where the adapter has them), whichever one `Auto` picks on this adapter.
#[test]
fn every_reduction_variant() {
    if !have_gpu() {
        return;
    }
    let mut layers = small_layers();
    layers.push(build_layer("NT-LSTM", CompressOptions::default()).unwrap());
    let mut variants = vec![Reduction::RowPerInvocation, Reduction::Workgroup];
    if GpuContext::shared().unwrap().has_subgroups() {
        variants.push(Reduction::Subgroup);
    } else {
        eprintln!("SKIP the subgroup reduction: the adapter has no SUBGROUP feature");
    }
    let mut failures = Vec::new();
    for kernel in [GpuKernel::Dense, GpuKernel::Csr] {
        for &r in &variants {
            let mut b = GpuBackend::with_knobs(
                kernel,
                GpuKnobs {
                    reduction: r,
                    ..GpuKnobs::default()
                },
            );
            for l in &layers {
                if let Err(e) = check(&mut b, l, 1) {
                    failures.push(format!("{r:?}: {e}"));
                }
            }
        }
        // Other workgroup sizes of the row-per-workgroup reductions.
        for &r in variants
            .iter()
            .filter(|&&r| r != Reduction::RowPerInvocation)
        {
            for wg in [32, 256] {
                let mut b = GpuBackend::with_knobs(
                    kernel,
                    GpuKnobs {
                        reduction: r,
                        row_wg: Some(wg),
                        ..GpuKnobs::default()
                    },
                );
                for l in &layers {
                    if let Err(e) = check(&mut b, l, 1) {
                        failures.push(format!("{r:?}, {wg} a row: {e}"));
                    }
                }
                let detail = eie_compress::Backend::detail(&b);
                assert!(
                    detail.contains(&format!("workgroup of {wg} per row")),
                    "{detail}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The tiled dense kernel of GPUs (64 x 64 tiles in workgroup memory, features split into ranges whose
/// partial sums a second pass adds), on any adapter: batches below, at and above one tile of samples,
/// rows and features that fill no whole tile, splits that leave ranges empty.
#[test]
fn dense_tiles_and_splits() {
    if !have_gpu() {
        return;
    }
    let mut layers = small_layers();
    layers.push(build_layer("NT-LSTM", CompressOptions::default()).unwrap());
    let mut failures = Vec::new();
    for splits in [1, 3, 40] {
        // The tiled kernel of GPUs whatever the adapter: a workgroup-memory reduction.
        let mut b = GpuBackend::with_knobs(
            GpuKernel::Dense,
            GpuKnobs {
                reduction: Reduction::Workgroup,
                dense_splits: Some(splits),
                ..GpuKnobs::default()
            },
        );
        for l in &layers {
            for batch in [2, 64, 65] {
                if let Err(e) = check(&mut b, l, batch) {
                    failures.push(format!("{splits} splits: {e}"));
                }
            }
        }
        let detail = eie_compress::Backend::detail(&b);
        assert!(
            detail.contains("workgroup memory") && detail.contains(&format!("{splits} split")),
            "{detail}"
        );
    }
    // Weights cut into blocks of 68 rows (as layers larger than one binding are): the blocks' first rows
    // and the partial sums' whole-layer layout, tiled and split, tiled whole, and at batch 1.
    let tall = &layers[layers.len() - 1];
    for (reduction, splits) in [
        (Reduction::Workgroup, Some(3)),
        (Reduction::Workgroup, Some(1)),
        (Reduction::RowPerInvocation, None),
    ] {
        let mut b = GpuBackend::with_knobs(
            GpuKernel::Dense,
            GpuKnobs {
                reduction,
                dense_splits: splits,
                dense_block_rows: Some(68),
                ..GpuKnobs::default()
            },
        );
        for l in [&layers[3], tall] {
            for batch in [1, 65] {
                if let Err(e) = check(&mut b, l, batch) {
                    failures.push(format!("blocks of 68 rows, {reduction:?}, {splits:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The batch-1 EIE kernels with the non-zero list (or, walking, the columns) cut into parts (the path that
/// fills large GPUs), on any adapter: partial sums through global atomics (fixed point) or stored per part
/// (f32), then a finishing pass; repeated passes per submit must find the accumulators cleared.
#[test]
fn eie_split_into_parts() {
    if !have_gpu() {
        return;
    }
    let mut layers = small_layers();
    layers.push(build_layer("NT-LSTM", CompressOptions::default()).unwrap());
    layers.push(build_layer("Alex-8", CompressOptions::default()).unwrap());
    let mut failures = Vec::new();
    for kernel in [GpuKernel::EieF32, GpuKernel::EieFixed] {
        for (parts, zeros) in [
            (2, EieZeros::List),
            (7, EieZeros::List),
            (1, EieZeros::Walk),
            (7, EieZeros::Walk),
        ] {
            let knobs = GpuKnobs {
                eie_parts: Some(parts),
                eie_zeros: Some(zeros),
                ..GpuKnobs::default()
            };
            let mut b = GpuBackend::with_knobs(kernel, knobs);
            for l in &layers {
                for _ in 0..2 {
                    if let Err(e) = check(&mut b, l, 1) {
                        failures.push(format!("{parts} parts, zeros {zeros}: {e}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where the adapter has timestamp queries, every run reports the compute pass's device time.
#[test]
fn device_time_from_timestamp_queries() {
    use eie_compress::backend::batch_input;
    use eie_compress::{Backend, Data, DataMut};
    if !have_gpu() {
        return;
    }
    let l = &small_layers()[3];
    let mut b = GpuBackend::new(GpuKernel::EieF32);
    assert_eq!(b.device_time_us(), None, "no run yet");
    b.prepare(l, 1).unwrap();
    let x = batch_input(l, 1);
    let mut y = vec![0.0f32; l.outputs()];
    let t = std::time::Instant::now();
    b.run(Data::F32(&x), DataMut::F32(&mut y)).unwrap();
    let wall_us = t.elapsed().as_secs_f64() * 1e6;
    if GpuContext::shared().unwrap().summary().timestamp_query {
        let d = b
            .device_time_us()
            .expect("a device time with timestamp queries");
        assert!(d > 0.0 && d <= wall_us, "device {d} µs, wall {wall_us} µs");
    } else {
        assert_eq!(b.device_time_us(), None);
    }
}
