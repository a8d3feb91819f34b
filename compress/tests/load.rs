//! Loading real layers from .npy and .safetensors files, and every bad input getting a clear error.

use eie_compress::load::load_dense;
use eie_compress::npy::write;
use eie_compress::{CompressOptions, CompressedLayer, LoadRequest, TensorSource};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use std::path::Path;

fn request(w: &Path) -> LoadRequest {
    LoadRequest {
        name: None,
        weights: TensorSource::parse(w.to_str().unwrap()),
        bias: None,
        input: None,
        relu: true,
        act_density: 1.0,
    }
}

fn err_of(req: &LoadRequest) -> String {
    load_dense(req).map(|_| ()).unwrap_err().to_string()
}

/// A 3 x 4 matrix with 3 distinct non-zero values.
const W: [f32; 12] = [
    0.5, 0.0, -0.25, 0.0, 0.0, 0.0, 0.5, 0.125, 0.0, -0.25, 0.0, 0.0,
];

#[test]
fn npy_layer_keeps_its_few_values_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, b, a) = (
        dir.path().join("fc.npy"),
        dir.path().join("b.npy"),
        dir.path().join("a.npy"),
    );
    write(&w, &[3, 4], &W).unwrap();
    write(&b, &[3], &[0.125f32, 0.0, -0.25]).unwrap();
    write(&a, &[4], &[1.0f32, 0.0, 2.0, 3.0]).unwrap();
    let mut req = request(&w);
    req.bias = Some(TensorSource::parse(b.to_str().unwrap()));
    req.input = Some(TensorSource::parse(a.to_str().unwrap()));
    let dense = load_dense(&req).unwrap();
    assert_eq!(dense.name(), "fc");
    let l = CompressedLayer::compress(
        dense,
        CompressOptions {
            bits: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(l.codebook().values(), &[0.0, -0.25, 0.125, 0.5]);
    assert_eq!(l.dense_weights().as_slice().unwrap(), &W);
    assert_eq!(l.bias().unwrap(), vec![0.125, 0.0, -0.25]);
    // y = W a + b, ReLU: row 0 = 0.5 - 0.5 + 0.125, row 1 = 1.0 + 0.375, row 2 = 0 - 0.25 -> 0.
    assert_eq!(l.reference_f64().0, vec![0.125, 1.375, 0.0]);
}

#[test]
fn too_many_values_are_shared_and_density_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.npy");
    let vals: Vec<f32> = (0..400)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 10.0)
        .collect();
    write(&w, &[20, 20], &vals).unwrap();
    let dense = load_dense(&request(&w)).unwrap();
    let opts = CompressOptions {
        bits: 3,
        density: Some(0.25),
        ..Default::default()
    };
    let l = CompressedLayer::compress(dense, opts).unwrap();
    assert_eq!(l.nnz(), 100);
    assert_eq!(l.codebook().len(), 8);
    assert_eq!(l.sharing().method, "kmeans-linear");
    assert!(l.sharing().relative_rmse > 0.0 && l.sharing().relative_rmse < 0.2);
}

#[test]
fn safetensors_tensors_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let wb: Vec<u8> = W.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bb: Vec<u8> = [0.5f32, 0.5, 0.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let db: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![
        (
            "fc.weight",
            TensorView::new(Dtype::F32, vec![3, 4], &wb).unwrap(),
        ),
        (
            "fc.bias",
            TensorView::new(Dtype::F32, vec![3], &bb).unwrap(),
        ),
        ("other", TensorView::new(Dtype::F64, vec![2], &db).unwrap()),
    ];
    std::fs::write(&p, serialize(tensors, None).unwrap()).unwrap();
    let s = p.to_str().unwrap();
    let mut req = request(&p);
    req.weights = TensorSource::parse(&format!("{s}:fc.weight"));
    req.bias = Some(TensorSource::parse(&format!("{s}:fc.bias")));
    let dense = load_dense(&req).unwrap();
    assert_eq!(dense.weights(), &W);
    assert_eq!(dense.bias().unwrap(), &[0.5, 0.5, 0.5]);
    assert_eq!(dense.input().len(), 4);

    req.weights = TensorSource::parse(s);
    let e = err_of(&req);
    assert!(
        e.contains("holds 3 tensors") && e.contains("fc.weight"),
        "{e}"
    );
    req.weights = TensorSource::parse(&format!("{s}:fc.wieght"));
    assert!(err_of(&req).contains("no tensor 'fc.wieght'"));
    req.weights = TensorSource::parse(&format!("{s}:other"));
    assert!(err_of(&req).contains("dtype F64"));
    req.weights = TensorSource::parse(&format!("{s}:fc.bias"));
    assert!(err_of(&req).contains("must be 2-D"));
}

#[test]
fn every_bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    write(&p("w.npy"), &[3, 4], &W).unwrap();

    // Missing file, not an npy, wrong dtype, wrong rank, empty dimension.
    let e = err_of(&request(&p("nope.npy")));
    assert!(
        e.contains("nope.npy") && e.contains("reading failed"),
        "{e}"
    );
    std::fs::write(p("text.npy"), "1,2,3\n").unwrap();
    assert!(err_of(&request(&p("text.npy"))).contains("text.npy: not a .npy file"));
    write(&p("f64.npy"), &[2, 2], &[1.0f64; 4]).unwrap();
    assert!(err_of(&request(&p("f64.npy"))).contains("float64"));
    write(&p("i32.npy"), &[2, 2], &[1i32; 4]).unwrap();
    assert!(err_of(&request(&p("i32.npy"))).contains("'<i4'"));
    write(&p("v.npy"), &[4], &[1.0f32; 4]).unwrap();
    let e = err_of(&request(&p("v.npy")));
    assert!(
        e.contains("v.npy") && e.contains("must be 2-D") && e.contains("[4]"),
        "{e}"
    );
    write::<f32>(&p("empty.npy"), &[0, 4], &[]).unwrap();
    assert!(err_of(&request(&p("empty.npy"))).contains("empty dimension"));

    // NaN / Inf.
    let mut bad = W;
    bad[5] = f32::NAN;
    write(&p("nan.npy"), &[3, 4], &bad).unwrap();
    let e = err_of(&request(&p("nan.npy")));
    assert!(
        e.contains("nan.npy") && e.contains("element 5") && e.contains("NaN"),
        "{e}"
    );
    write(&p("inf_in.npy"), &[4], &[1.0f32, f32::INFINITY, 0.0, 0.0]).unwrap();
    let mut req = request(&p("w.npy"));
    req.input = Some(TensorSource::parse(p("inf_in.npy").to_str().unwrap()));
    assert!(err_of(&req).contains("inf"));

    // Shapes that disagree.
    write(&p("b4.npy"), &[4], &[0.0f32; 4]).unwrap();
    let mut req = request(&p("w.npy"));
    req.bias = Some(TensorSource::parse(p("b4.npy").to_str().unwrap()));
    let e = err_of(&req);
    assert!(
        e.contains("b4.npy") && e.contains("4 entries") && e.contains("3 rows"),
        "{e}"
    );
    write(&p("a3.npy"), &[3], &[0.0f32; 3]).unwrap();
    let mut req = request(&p("w.npy"));
    req.input = Some(TensorSource::parse(p("a3.npy").to_str().unwrap()));
    let e = err_of(&req);
    assert!(
        e.contains("a3.npy") && e.contains("3 entries") && e.contains("4 columns"),
        "{e}"
    );

    // Parameters out of range.
    let mut req = request(&p("w.npy"));
    req.act_density = 0.0;
    assert!(err_of(&req).contains("activation density"));
    let dense = || load_dense(&request(&p("w.npy"))).unwrap();
    for (opts, needle) in [
        (
            CompressOptions {
                density: Some(1.5),
                ..Default::default()
            },
            "weight density",
        ),
        (
            CompressOptions {
                density: Some(0.0),
                ..Default::default()
            },
            "weight density",
        ),
        (
            CompressOptions {
                density: Some(f64::NAN),
                ..Default::default()
            },
            "weight density",
        ),
        (
            CompressOptions {
                bits: 0,
                ..Default::default()
            },
            "weight bits",
        ),
        (
            CompressOptions {
                bits: 9,
                ..Default::default()
            },
            "weight bits",
        ),
        (
            CompressOptions {
                pes: 0,
                ..Default::default()
            },
            "PE count",
        ),
        (
            CompressOptions {
                pes: 1025,
                ..Default::default()
            },
            "PE count",
        ),
        (
            CompressOptions {
                index_bits: 9,
                ..Default::default()
            },
            "relative index bits",
        ),
    ] {
        let e = CompressedLayer::compress(dense(), opts)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{opts:?}: {e}");
    }
    // Asking for more non-zeros than the matrix has.
    let e = CompressedLayer::compress(
        dense(),
        CompressOptions {
            density: Some(0.9),
            ..Default::default()
        },
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("only 5 non-zero"), "{e}");
}

#[test]
fn unknown_layer_names_list_the_known_ones() {
    let e = eie_compress::build_layer("vgg-9", CompressOptions::default())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("vgg-9") && e.contains("VGG-8") && e.contains("alexnet-fc8-real"),
        "{e}"
    );
}

/// The issue's `--bits 1` on `[[1, -1]]`: one shared value, their mean 0.0, would erase both weights.
#[test]
fn one_bit_sharing_of_a_zero_mean_layer_is_an_error() {
    let dense =
        eie_compress::DenseLayer::new("z", 1, 2, vec![1.0, -1.0], None, vec![1.0, 1.0], true)
            .unwrap();
    let e = CompressedLayer::compress(
        dense,
        CompressOptions {
            bits: 1,
            ..Default::default()
        },
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("weight bits = 1") && e.contains("erase every kept weight"),
        "{e}"
    );
}
