//! Trains the dense network, runs Deep Compression and prints every stage's accuracy.
//!
//! `cargo run --release -p eie-net --example deep_compress`
use eie_net::{DeepCompressionOptions, Digits, Mlp, TrainOptions, deep_compress, train};
use std::time::Instant;

fn main() -> eie_net::Result<()> {
    let data = Digits::load()?;
    // SEED (default 1, the built-in network's) seeds the initial weights and every sample order.
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut net = Mlp::lenet_300_100(64, 10, seed)?;
    let t = Instant::now();
    let topts = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    train(&mut net, data.train(), &topts)?;
    let t_train = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut o = DeepCompressionOptions::lenet_300_100();
    let env = |k: &str| std::env::var(k).ok();
    if let Some(d) = env("DC_DENS") {
        o.densities = d.split(',').filter_map(|v| v.parse().ok()).collect();
    }
    let num = |k: &str| env(k).and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = num("DC_STEPS") {
        o.prune_steps = v as usize;
    }
    if let Some(v) = num("DC_EPOCHS") {
        o.retrain.epochs = v as usize;
    }
    if let Some(v) = num("DC_LR") {
        o.retrain.lr = v as f32;
    }
    if let Some(v) = num("DC_WD") {
        o.retrain.weight_decay = v as f32;
    }
    if let Some(v) = num("FT_EPOCHS") {
        o.finetune.epochs = v as usize;
    }
    if let Some(v) = num("FT_LR") {
        o.finetune.lr = v as f32;
    }
    o.retrain.seed = seed;
    o.finetune.seed = seed;
    let p = deep_compress(&net, data.train(), data.test(), &o)?;
    let t_dc = t.elapsed().as_secs_f64();
    for (s, a) in &p.accuracies {
        println!("{:<36} {:.2} %", s.label(), a * 100.0);
    }
    for l in &p.layers {
        println!(
            "{}: {} x {}, density {:.2} %, {} entries, EIE {} B vs dense {} B ({:.1}x)",
            l.name,
            l.outputs,
            l.inputs,
            l.density * 100.0,
            l.storage.entries,
            l.storage.eie_bytes,
            l.storage.dense_f32_bytes,
            l.storage.compression_ratio
        );
    }
    println!(
        "overall density {:.2} %, {} B vs {} B: {:.1}x; activation format {}",
        p.overall_density() * 100.0,
        p.eie_bytes(),
        p.dense_bytes(),
        p.compression_ratio(),
        p.network.act_format().describe()
    );
    for pes in [1, 64] {
        let st = p.storage_at(pes)?;
        let eie: usize = st.iter().map(|s| s.eie_bytes).sum();
        let huff: usize = st.iter().map(|s| s.huffman_bytes).sum();
        println!(
            "{pes} PEs: EIE {eie} B ({:.1}x), Huffman-coded {huff} B ({:.1}x)",
            p.dense_bytes() as f64 / eie as f64,
            p.dense_bytes() as f64 / huff as f64
        );
    }
    let dens = p.shared.input_densities(data.test())?;
    println!(
        "input activation density per layer (test split, compressed network): {:?}",
        dens.iter()
            .map(|d| format!("{:.1} %", d * 100.0))
            .collect::<Vec<_>>()
    );
    let f32_pred = p.shared.predict(data.test())?;
    let run = p.network.predict(data.test())?;
    let changed = f32_pred
        .iter()
        .zip(&run.predictions)
        .filter(|(a, b)| a != b)
        .count();
    println!(
        "16-bit predictions that differ from the decoded f32 network's: {changed} of {}; {:?}",
        f32_pred.len(),
        run.outcome
    );
    println!("train {t_train:.2} s, deep compression {t_dc:.2} s");
    Ok(())
}
