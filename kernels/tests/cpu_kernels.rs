//! Every CPU kernel, at every ISA level this CPU has, sequential and on 2 threads, at batch 1, 7 and
//! 64, against the f64 reference within DESIGN.md's bound (f32) or bit for bit (fixed point).

use eie_compress::backend::{
    batch_input, compare_f32, quantize_input, reference_f64, reference_fixed,
};
use eie_compress::real::{load_real_fc8, real_fc8_dir};
use eie_compress::{
    Arithmetic, Backend, CompressOptions, CompressedLayer, Data, DataMut, DenseLayer, build_layer,
};
use eie_kernels::cpu::{CpuKernel, IsaLevel, Par};

/// Runs `backend` on `layer` at `batch` and checks the result; returns a description on failure.
fn check(backend: &mut dyn Backend, layer: &CompressedLayer, batch: usize) -> Result<(), String> {
    backend.prepare(layer, batch).map_err(|e| e.to_string())?;
    let x = batch_input(layer, batch);
    let what = format!(
        "{} ({}) on {} at batch {batch}",
        backend.name(),
        backend.detail(),
        layer.name()
    );
    match backend.arithmetic() {
        Arithmetic::F32 => {
            let mut y = vec![f32::NAN; layer.outputs() * batch];
            backend
                .run(Data::F32(&x), DataMut::F32(&mut y))
                .map_err(|e| e.to_string())?;
            let (r, bound) = reference_f64(layer, &x, batch);
            let (err, ok) = compare_f32(&y, &r, &bound);
            if !ok {
                return Err(format!("{what}: max error {err:e} exceeds the bound"));
            }
            // A second run on the same buffers gives the same answer (scratch state is reset).
            let mut y2 = vec![0.0f32; y.len()];
            backend
                .run(Data::F32(&x), DataMut::F32(&mut y2))
                .map_err(|e| e.to_string())?;
            if y2 != y {
                return Err(format!("{what}: a second run differs"));
            }
        }
        Arithmetic::Fixed16 => {
            let xq = quantize_input(layer, &x);
            let mut y = vec![i16::MIN; layer.outputs() * batch];
            backend
                .run(Data::Fixed(&xq), DataMut::Fixed(&mut y))
                .map_err(|e| e.to_string())?;
            let r = reference_fixed(layer, &xq, batch);
            if let Some(i) = (0..y.len()).find(|&i| y[i] != r[i]) {
                return Err(format!(
                    "{what}: output {i} is {} but the reference is {}",
                    y[i], r[i]
                ));
            }
        }
    }
    Ok(())
}

fn run_all(layers: &[CompressedLayer], batches: &[usize]) {
    let mut failures = Vec::new();
    for level in IsaLevel::available() {
        for par in [Par::Seq, Par::Threads(2)] {
            for kernel in CpuKernel::ALL {
                let mut b = kernel.backend(level, par);
                for l in layers {
                    for &batch in batches {
                        if let Err(e) = check(b.as_mut(), l, batch) {
                            failures.push(e);
                        }
                    }
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

fn dense(
    name: &str,
    rows: usize,
    cols: usize,
    w: impl Fn(usize, usize) -> f32,
    a: impl Fn(usize) -> f32,
    bias: bool,
    relu: bool,
) -> CompressedLayer {
    let weights = (0..rows * cols).map(|k| w(k / cols, k % cols)).collect();
    let input = (0..cols).map(a).collect();
    let b = bias.then(|| {
        (0..rows)
            .map(|i| {
                if i % 4 == 0 {
                    0.0
                } else {
                    0.5 - (i % 3) as f32 * 0.25
                }
            })
            .collect()
    });
    let d = DenseLayer::new(name, rows, cols, weights, b, input, relu).unwrap();
    CompressedLayer::compress(d, CompressOptions::default()).unwrap()
}

/// SIMD tails (1, 7, 9, 1023 rows and columns), empty columns, an all-zero layer, signed outputs.
fn small_layers() -> Vec<CompressedLayer> {
    let mut v = Vec::new();
    for &(r, c) in &[
        (1usize, 1usize),
        (7, 9),
        (9, 7),
        (1023, 33),
        (33, 1023),
        (64, 64),
    ] {
        let w = |i: usize, j: usize| {
            let h = (i * 7919 + j * 104_729) % 97;
            if h < 30 && j % 5 != 3 {
                (h as f32 - 15.0) / 8.0
            } else {
                0.0
            }
        };
        let a = |j: usize| {
            if j.is_multiple_of(3) {
                0.0
            } else {
                (j % 11) as f32 * 0.75 - 3.0
            }
        };
        v.push(dense(
            &format!("tails-{r}x{c}"),
            r,
            c,
            w,
            a,
            true,
            r % 2 == 1,
        ));
    }
    v.push(dense(
        "all-zero",
        17,
        23,
        |_, _| 0.0,
        |j| j as f32,
        true,
        true,
    ));
    v.push(dense(
        "zero-input",
        17,
        23,
        |i, j| ((i + j) % 4) as f32,
        |_| 0.0,
        false,
        false,
    ));
    v
}

#[test]
fn small_layers_every_kernel_every_level() {
    run_all(&small_layers(), &[1, 7, 64]);
}

/// Zero runs longer than the 12-bit relative index (4095): padding entries in both layouts.
#[test]
fn runs_longer_than_4095_need_padding() {
    let l = dense(
        "tall",
        9000,
        5000,
        |i, j| {
            if (i == 8999 && j % 2 == 0) || (i == 3 && j == 4999) || (i == 4100 && j == 1) {
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

#[test]
fn benchmark_layers_and_the_real_fc8() {
    let mut layers: Vec<CompressedLayer> = ["Alex-8", "NT-We", "NT-LSTM"]
        .iter()
        .map(|n| build_layer(n, CompressOptions::default()).unwrap())
        .collect();
    match real_fc8_dir() {
        Some(dir) => layers.push(load_real_fc8(&dir, CompressOptions::default()).unwrap()),
        None => eprintln!("SKIP alexnet-fc8-real: data folder not found (set EIE_DATA_DIR)"),
    }
    run_all(&layers, &[1, 64]);
}

#[test]
fn wrong_lengths_are_errors_not_panics() {
    let l = &small_layers()[1];
    for kernel in CpuKernel::ALL {
        let mut b = kernel.backend(IsaLevel::Portable, Par::Seq);
        let x = vec![0.0f32; l.inputs() + 1];
        let mut y = vec![0.0f32; l.outputs()];
        let e = b
            .run(Data::F32(&x), DataMut::F32(&mut y))
            .unwrap_err()
            .to_string();
        assert!(e.contains("before prepare"), "{e}");
        b.prepare(l, 1).unwrap();
        let (xq, mut yq) = (vec![0i16; l.inputs() + 1], vec![0i16; l.outputs()]);
        let e = match b.arithmetic() {
            Arithmetic::F32 => b.run(Data::F32(&x), DataMut::F32(&mut y)),
            Arithmetic::Fixed16 => b.run(Data::Fixed(&xq), DataMut::Fixed(&mut yq)),
        }
        .unwrap_err()
        .to_string();
        assert!(e.contains("input has 10 values"), "{}: {e}", kernel.name());
        assert!(b.prepare(l, 0).is_err());
    }
}
