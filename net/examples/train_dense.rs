//! Trains the dense network and prints its accuracy and the time it took.
//!
//! `cargo run --release -p eie-net --example train_dense [EPOCHS LR WEIGHT_DECAY BATCH SEED]`
use eie_net::{Digits, Mlp, TrainOptions, train};

fn main() -> eie_net::Result<()> {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let d = TrainOptions::default();
    let arg = |i: usize, v: f64| args.get(i).copied().unwrap_or(v);
    let opts = TrainOptions {
        epochs: arg(0, d.epochs as f64) as usize,
        lr: arg(1, d.lr.into()) as f32,
        weight_decay: arg(2, d.weight_decay.into()) as f32,
        batch: arg(3, d.batch as f64) as usize,
        seed: arg(4, d.seed as f64) as u64,
        ..d
    };
    let data = Digits::load()?;
    let mut net = Mlp::lenet_300_100(64, 10, opts.seed)?;
    let t = std::time::Instant::now();
    let r = train(&mut net, data.train(), &opts)?;
    println!(
        "{opts:?}\n{r:?} in {:.2} s; train {:.4}, test {:.4}",
        t.elapsed().as_secs_f64(),
        net.accuracy(data.train())?,
        net.accuracy(data.test())?
    );
    Ok(())
}
