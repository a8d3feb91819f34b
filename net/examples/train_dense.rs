//! Trains the dense network and prints its accuracy and the time it took.
use eie_net::{Digits, Mlp, TrainOptions, train};

fn main() -> eie_net::Result<()> {
    let d = Digits::load()?;
    let mut net = Mlp::lenet_300_100(64, 10, 1)?;
    let t = std::time::Instant::now();
    let r = train(&mut net, d.train(), &TrainOptions::default())?;
    println!(
        "{:?} in {:.2} s; train {:.4}, test {:.4}",
        r,
        t.elapsed().as_secs_f64(),
        net.accuracy(d.train())?,
        net.accuracy(d.test())?
    );
    Ok(())
}
