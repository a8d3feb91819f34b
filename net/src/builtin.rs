//! The built-in network: LeNet-300-100 trained on the optdigits training split with fixed options, and
//! its Deep Compression, so that every caller (the `eie net` command, tests) gets the same weights.

use crate::compress::{DeepCompressionOptions, Pipeline, deep_compress};
use crate::data::{DIGITS_CLASSES, DIGITS_FEATURES, Digits};
use crate::error::Result;
use crate::mlp::Mlp;
use crate::train::{TrainOptions, train};

/// Seed of the built-in network's initial weights (its sample order uses [`TrainOptions::default`]'s).
pub const BUILTIN_SEED: u64 = 1;

/// Trains the built-in dense network (deterministic: the same weights on every machine).
pub fn builtin_dense(digits: &Digits) -> Result<Mlp> {
    let mut net = Mlp::lenet_300_100(DIGITS_FEATURES, DIGITS_CLASSES, BUILTIN_SEED)?;
    train(&mut net, digits.train(), &TrainOptions::default())?;
    Ok(net)
}

/// The built-in dense network and its Deep Compression with
/// [`DeepCompressionOptions::lenet_300_100`], accuracies measured on the test split.
pub fn builtin_pipeline(digits: &Digits) -> Result<(Mlp, Pipeline)> {
    let dense = builtin_dense(digits)?;
    let pipeline = deep_compress(
        &dense,
        digits.train(),
        digits.test(),
        &DeepCompressionOptions::lenet_300_100(),
    )?;
    Ok((dense, pipeline))
}
