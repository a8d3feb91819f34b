//! Training is bit-reproducible: the same options give the same weights, here and on any machine.

use eie_net::{Digits, Mlp, TrainOptions, train};

fn fnv(net: &Mlp) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    for l in net.layers() {
        for v in l.weights().iter().chain(l.bias().into_iter().flatten()) {
            for b in v.to_bits().to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
            }
        }
    }
    h
}

fn small_run(seed: u64) -> Mlp {
    let d = Digits::load().unwrap();
    let mut net = Mlp::lenet_300_100(64, 10, seed).unwrap();
    let opts = TrainOptions {
        epochs: 2,
        seed,
        ..TrainOptions::default()
    };
    train(&mut net, &d.train().head(400), &opts).unwrap();
    net
}

#[test]
fn two_runs_give_bit_identical_weights() {
    let (a, b) = (small_run(1), small_run(1));
    assert_eq!(fnv(&a), fnv(&b));
    assert!(a == b);
    assert_ne!(fnv(&small_run(2)), fnv(&a), "the seed matters");
}

/// The weights' digest on the machine that wrote this test: a different value means the arithmetic
/// is not the same everywhere (a changed summation order, an FMA, a platform `exp`), or the RNG,
/// the data or the defaults changed (then update it, and say so).
#[test]
fn the_weights_are_the_same_on_every_machine() {
    assert_eq!(fnv(&small_run(1)), 3_016_683_250_612_559_990);
}
