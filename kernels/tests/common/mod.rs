//! Helpers shared by the CPU and GPU kernel tests: one check body for every backend.

#![allow(dead_code)]

use eie_compress::backend::{
    batch_input, compare_f32, quantize_input, reference_f64, reference_fixed,
};
use eie_compress::{
    Arithmetic, Backend, CompressOptions, CompressedLayer, Data, DataMut, DenseLayer,
};

/// Runs `backend` on `layer` at `batch` and checks the result; returns a description on failure.
pub fn check(
    backend: &mut dyn Backend,
    layer: &CompressedLayer,
    batch: usize,
) -> Result<(), String> {
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
            // A second run on the same buffers gives the same answer (scratch state is reset). The GPU
            // EIE f32 kernel adds with atomics in an order that may change from run to run, so its second
            // run must be right (within the bound) rather than identical.
            let mut y2 = vec![0.0f32; y.len()];
            backend
                .run(Data::F32(&x), DataMut::F32(&mut y2))
                .map_err(|e| e.to_string())?;
            let order_free = backend.name() == "gpu-eie-f32";
            if order_free {
                let (err2, ok2) = compare_f32(&y2, &r, &bound);
                if !ok2 {
                    return Err(format!(
                        "{what}: second run's max error {err2:e} exceeds the bound"
                    ));
                }
            } else if y2 != y {
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

pub fn dense(
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
pub fn small_layers() -> Vec<CompressedLayer> {
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

/// `layers` with round-to-nearest fixed-point products, after checking that the mode changes some
/// layer's fixed-point reference (else a kernel that ignored it would pass).
pub fn nearest(layers: Vec<CompressedLayer>) -> Vec<CompressedLayer> {
    let out: Vec<CompressedLayer> = layers
        .into_iter()
        .map(|l| l.with_rounding(eie_compress::Rounding::Nearest))
        .collect();
    assert!(
        out.iter().any(|l| {
            let floor = l.clone().with_rounding(eie_compress::Rounding::Floor);
            l.fixed_reference() != floor.fixed_reference()
        }),
        "round-to-nearest changes no output of these layers: the test could not fail"
    );
    out
}
