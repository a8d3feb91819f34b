//! The built-in network end to end: trained once per test binary (in memory, nothing cached on disk)
//! and checked stage by stage against the targets.

use eie_compress::FixedOutcome;
use eie_net::compress::Stage;
use eie_net::{Digits, Mlp, Pipeline, builtin_pipeline};
use std::sync::OnceLock;

struct Built {
    digits: Digits,
    dense: Mlp,
    pipeline: Pipeline,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let digits = Digits::load().expect("the embedded data parses");
        let (dense, pipeline) = builtin_pipeline(&digits).expect("the built-in pipeline runs");
        Built {
            digits,
            dense,
            pipeline,
        }
    })
}

fn acc(stage: Stage) -> f64 {
    built()
        .pipeline
        .accuracy(stage)
        .expect("every stage is measured")
}

#[test]
fn dense_accuracy_is_at_least_97_percent() {
    let a = acc(Stage::Dense);
    assert!(a >= 0.97, "dense test accuracy {a}");
    assert_eq!(a, built().dense.accuracy(built().digits.test()).unwrap());
}

#[test]
fn every_stage_is_measured_in_order() {
    let stages: Vec<Stage> = built()
        .pipeline
        .accuracies
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(stages, Stage::ALL);
    // Retraining must recover what one-shot pruning loses (here about 7 points).
    assert!(acc(Stage::Retrained) > acc(Stage::Pruned) + 0.02);
}

#[test]
fn compressed_to_at_most_10_percent_and_4_bits_within_1_point() {
    let p = &built().pipeline;
    assert!(
        p.overall_density() <= 0.10,
        "density {}",
        p.overall_density()
    );
    for (l, want) in p.layers.iter().zip([0.08, 0.09, 0.26]) {
        assert!((l.density - want).abs() < 1e-3, "{}: {}", l.name, l.density);
        assert!(l.codebook.len() <= 16 && l.codebook[0] == 0.0, "{}", l.name);
    }
    assert_eq!(p.bits, 4);
    assert!(
        p.compressed_layers()
            .iter()
            .all(|l| l.codebook().bits() == 4)
    );
    let (dense, tuned) = (acc(Stage::Dense), acc(Stage::FineTuned));
    assert!(tuned >= dense - 0.01, "fine-tuned {tuned} vs dense {dense}");
    assert!(acc(Stage::Fixed16) >= dense - 0.01);
    assert!(p.compression_ratio() > 3.0);
    let one_pe: usize = p.storage_at(1).unwrap().iter().map(|s| s.eie_bytes).sum();
    assert!(p.dense_bytes() as f64 / one_pe as f64 > 20.0);
}

#[test]
fn sharing_keeps_the_pruned_pattern() {
    let p = &built().pipeline;
    for (a, b) in p.pruned.layers().iter().zip(p.shared.layers()) {
        let zeros =
            |l: &eie_net::Layer| -> Vec<bool> { l.weights().iter().map(|&w| w == 0.0).collect() };
        assert_eq!(zeros(a), zeros(b), "{}", a.name());
    }
    // The decoded network is the f32 network the fine-tuned stage measured.
    let decoded = p.network.decoded().unwrap();
    assert_eq!(decoded, p.shared);
    assert_eq!(
        decoded.accuracy(built().digits.test()).unwrap(),
        acc(Stage::FineTuned)
    );
}

#[test]
fn the_16_bit_datapath_agrees_with_f32_and_the_layer_reference() {
    let (p, test) = (&built().pipeline, built().digits.test());
    let run = p.network.predict(test).unwrap();
    let f32_pred = p.shared.predict(test).unwrap();
    let differ = run
        .predictions
        .iter()
        .zip(&f32_pred)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differ <= 2,
        "{differ} of {} predictions change in 16-bit fixed point",
        test.len()
    );
    assert_eq!(run.outcome.wrapped, 0);
    // One activation format for every layer, fitted to the calibration range.
    let act = p.network.act_format().format;
    assert!(p.network.layers().iter().all(|l| l.fixed().act == act));
    // Layer 1 of test sample 0 equals the compressed layer's own fixed-point reference bit for bit
    // (its stored input is that sample).
    let layer = &p.network.layers()[0];
    assert_eq!(layer.input(), test.sample(0));
    let mut o = FixedOutcome::default();
    let outs = p
        .network
        .forward(&p.network.quantize(test.sample(0)), &mut o)
        .unwrap();
    assert_eq!(outs[0], layer.fixed_reference());
    // The 16-bit logits stay within 2 % of the largest f32 logit: each product is floored to the
    // activation format (1/1024 here), so errors of up to one LSB per product accumulate, downward,
    // over three layers (about 0.16 on a logit of 15.5 for this sample).
    let logits = p.shared.forward(test.sample(0)).unwrap();
    let scale = logits.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    for (&q, &f) in outs[2].iter().zip(&logits) {
        assert!(
            (act.to_f32(q) - f).abs() <= 0.02 * scale,
            "{} vs {f}",
            act.to_f32(q)
        );
    }
}

#[test]
fn the_trained_network_round_trips_through_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.safetensors");
    built().dense.save_safetensors(&path).unwrap();
    let back = Mlp::load_safetensors(&path).unwrap();
    assert_eq!(back, built().dense);
    let shapes: Vec<(usize, usize)> = back
        .layers()
        .iter()
        .map(|l| (l.outputs(), l.inputs()))
        .collect();
    assert_eq!(shapes, vec![(300, 64), (100, 300), (10, 100)]);
}

#[test]
fn a_trained_network_compresses_without_retraining() {
    let (d, dense) = (&built().digits, &built().dense);
    let opts = eie_compress::CompressOptions {
        bits: 4,
        density: Some(0.5),
        ..Default::default()
    };
    let net = eie_net::encode_trained(dense, opts, &d.train().head(200)).unwrap();
    assert_eq!(net.layers().len(), 3);
    assert!(
        net.layers()
            .iter()
            .all(|l| (l.weight_density() - 0.5).abs() < 1e-3)
    );
    // Half the weights and 4 bits without retraining still classify most digits.
    let a = net.accuracy(d.test()).unwrap();
    assert!(a > 0.8, "{a}");
    let json = serde_json::to_string(&built().pipeline.summary()).unwrap();
    assert!(
        json.contains("\"fine-tuned\"") && json.contains("compression_ratio"),
        "{json}"
    );
}
