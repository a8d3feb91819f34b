//! The labelled data a network is trained and tested on: the built-in optdigits set and its fixed split.
//!
//! The built-in set is UCI's optdigits as scikit-learn bundles it (1,797 samples of 8x8 pixel counts
//! 0..16, labels 0..9; source, citation and licence in `data/optdigits/README.md`). It is embedded in the
//! binary, so it works offline and from any folder. Pixels are scaled to [0, 1] (value / 16).
//!
//! The split is **stratified 80/20 by a seeded shuffle**: for each class, its samples (in file order) are
//! shuffled with the project's RNG (`Rng::new(SPLIT_SEED, class)`), and the first `round(n_class / 5)`
//! go to the test set. Both sets are then kept in file order. The split depends on nothing but the data
//! and the seed, so it is the same on every machine and run (359 test samples, 1,438 training).

use crate::error::{NetError, Result};
use eie_compress::rng::Rng;

/// The embedded data file: 65 bytes per sample (64 pixels, row-major, then the label).
const OPTDIGITS: &[u8] = include_bytes!("../data/optdigits/digits.bin");
/// Pixels per optdigits sample.
pub const DIGITS_FEATURES: usize = 64;
/// Classes of optdigits.
pub const DIGITS_CLASSES: usize = 10;
/// Samples in the embedded file.
pub const DIGITS_SAMPLES: usize = 1797;
/// Largest optdigits pixel value (a count of 16 pixels).
const MAX_PIXEL: u8 = 16;
/// Seed of the stratified split.
pub const SPLIT_SEED: u64 = 0x6f70_7464_6967_6974; // "optdigit"
/// One sample in this many goes to the test set (per class, rounded).
const TEST_FRACTION_INV: usize = 5;

/// Labelled samples: `len()` samples of `features()` values each, sample-major.
///
/// Invariants: `x.len() == labels.len() * features`; every value is finite; every label is below
/// `classes`; `features >= 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Vec<f32>,
    labels: Vec<usize>,
    features: usize,
    classes: usize,
}

impl Dataset {
    /// Validates and wraps samples `x` (sample-major, `labels.len()` rows of `features` values) with
    /// labels in `0..classes`; `what` names the data in errors (a file name, say).
    pub fn new(
        what: &str,
        x: Vec<f32>,
        labels: Vec<usize>,
        features: usize,
        classes: usize,
    ) -> Result<Self> {
        let bad = |reason: String| NetError::Data {
            what: what.to_string(),
            reason,
        };
        if features == 0 || classes == 0 {
            return Err(bad(format!(
                "{features} features and {classes} classes; both must be at least 1"
            )));
        }
        if labels.len().checked_mul(features) != Some(x.len()) {
            return Err(bad(format!(
                "{} values for {} samples of {features} features (need {})",
                x.len(),
                labels.len(),
                labels.len().saturating_mul(features)
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "sample {}, feature {} is {}, not a finite number",
                i / features,
                i % features,
                x[i]
            )));
        }
        if let Some(i) = labels.iter().position(|&l| l >= classes) {
            return Err(bad(format!(
                "sample {i} has label {}; labels must be in 0..{classes}",
                labels[i]
            )));
        }
        Ok(Self {
            x,
            labels,
            features,
            classes,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Values per sample.
    pub fn features(&self) -> usize {
        self.features
    }
    /// Number of classes (labels are `0..classes`).
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// All samples, sample-major (`len() x features()`).
    pub fn inputs(&self) -> &[f32] {
        &self.x
    }
    /// Sample `i`'s values.
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.x[i * self.features..(i + 1) * self.features]
    }
    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.labels {
            c[l] += 1;
        }
        c
    }
    /// The samples at `indices`, in that order; an index past the end is an error.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(NetError::param(
                "sample index",
                i,
                format!("the data has {} samples", self.len()),
            ));
        }
        let mut x = Vec::with_capacity(indices.len() * self.features);
        for &i in indices {
            x.extend_from_slice(self.sample(i));
        }
        Ok(Self {
            x,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            features: self.features,
            classes: self.classes,
        })
    }
    /// The first `n` samples (all of them when `n >= len()`).
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            x: self.x[..n * self.features].to_vec(),
            labels: self.labels[..n].to_vec(),
            features: self.features,
            classes: self.classes,
        }
    }
}

/// The optdigits set with its fixed train/test split.
#[derive(Clone, Debug)]
pub struct Digits {
    all: Dataset,
    train_idx: Vec<usize>,
    test_idx: Vec<usize>,
    train: Dataset,
    test: Dataset,
}

impl Digits {
    /// Parses the embedded file and splits it (see the module docs).
    pub fn load() -> Result<Self> {
        let all = parse_optdigits("embedded optdigits (data/optdigits/digits.bin)", OPTDIGITS)?;
        let (train_idx, test_idx) = stratified_split(&all, SPLIT_SEED);
        Ok(Self {
            train: all.subset(&train_idx)?,
            test: all.subset(&test_idx)?,
            all,
            train_idx,
            test_idx,
        })
    }
    /// Every sample, in file order.
    pub fn all(&self) -> &Dataset {
        &self.all
    }
    /// The training split (80 %).
    pub fn train(&self) -> &Dataset {
        &self.train
    }
    /// The test split (20 %).
    pub fn test(&self) -> &Dataset {
        &self.test
    }
    /// File positions of the training samples, ascending.
    pub fn train_indices(&self) -> &[usize] {
        &self.train_idx
    }
    /// File positions of the test samples, ascending.
    pub fn test_indices(&self) -> &[usize] {
        &self.test_idx
    }
}

/// Parses optdigits bytes (65 per sample: 64 pixels 0..16, then the label 0..9), scaling pixels to
/// [0, 1]; `what` names the source in errors.
pub fn parse_optdigits(what: &str, bytes: &[u8]) -> Result<Dataset> {
    let row = DIGITS_FEATURES + 1;
    let bad = |reason: String| NetError::Data {
        what: what.to_string(),
        reason,
    };
    if bytes.is_empty() || !bytes.len().is_multiple_of(row) {
        return Err(bad(format!(
            "{} bytes is not a positive multiple of {row} (64 pixels and a label per sample)",
            bytes.len()
        )));
    }
    let n = bytes.len() / row;
    let mut x = Vec::with_capacity(n * DIGITS_FEATURES);
    let mut labels = Vec::with_capacity(n);
    for (s, r) in bytes.chunks_exact(row).enumerate() {
        let (pixels, label) = r.split_at(DIGITS_FEATURES);
        if let Some(p) = pixels.iter().position(|&v| v > MAX_PIXEL) {
            return Err(bad(format!(
                "sample {s}, pixel {p} is {}; pixels are counts 0..={MAX_PIXEL}",
                pixels[p]
            )));
        }
        if usize::from(label[0]) >= DIGITS_CLASSES {
            return Err(bad(format!(
                "sample {s} has label {}; labels are digits 0..=9",
                label[0]
            )));
        }
        x.extend(pixels.iter().map(|&v| f32::from(v) / f32::from(MAX_PIXEL)));
        labels.push(usize::from(label[0]));
    }
    Dataset::new(what, x, labels, DIGITS_FEATURES, DIGITS_CLASSES)
}

/// The stratified seeded split of the module docs: (train, test) file positions, each ascending.
pub fn stratified_split(data: &Dataset, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in 0..data.classes() {
        let mut idx: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels()[i] == class)
            .collect();
        let mut rng = Rng::new(seed, class as u64);
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let n_test = (idx.len() + TEST_FRACTION_INV / 2) / TEST_FRACTION_INV;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_has_every_sample_and_class() {
        let d = Digits::load().unwrap();
        assert_eq!(d.all().len(), DIGITS_SAMPLES);
        assert_eq!(
            d.all().class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        // Sample 0 is scikit-learn's first digit, a 0: its first row of pixels is 0,0,5,13,9,1,0,0.
        assert_eq!(d.all().labels()[0], 0);
        let first: Vec<f32> = [0., 0., 5., 13., 9., 1., 0., 0.].map(|v| v / 16.).to_vec();
        assert_eq!(&d.all().sample(0)[..8], &first[..]);
        assert!(d.all().inputs().iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn the_split_is_stratified_disjoint_and_fixed() {
        let d = Digits::load().unwrap();
        let (tr, te) = (d.train_indices(), d.test_indices());
        assert_eq!((tr.len(), te.len()), (1438, 359));
        let mut all: Vec<usize> = tr.iter().chain(te).copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..DIGITS_SAMPLES).collect::<Vec<_>>(),
            "disjoint and complete"
        );
        for (c, (&n_all, &n_test)) in d
            .all()
            .class_counts()
            .iter()
            .zip(&d.test().class_counts())
            .enumerate()
        {
            assert_eq!(n_test, (n_all + 2) / 5, "class {c}");
        }
        let again = Digits::load().unwrap();
        assert_eq!(again.test_indices(), te);
        let other = stratified_split(d.all(), SPLIT_SEED + 1).1;
        assert_ne!(other, te, "the seed matters");
        assert_eq!(d.test().sample(0), d.all().sample(te[0]));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let good = &OPTDIGITS[..65 * 2];
        assert_eq!(parse_optdigits("t", good).unwrap().len(), 2);
        let e = parse_optdigits("t", &good[..64]).unwrap_err().to_string();
        assert!(
            e.contains("t: 64 bytes is not a positive multiple of 65"),
            "{e}"
        );
        let mut b = good.to_vec();
        b[65 + 3] = 17;
        let e = parse_optdigits("t", &b).unwrap_err().to_string();
        assert!(e.contains("sample 1, pixel 3 is 17"), "{e}");
        let mut b = good.to_vec();
        b[64] = 10;
        let e = parse_optdigits("t", &b).unwrap_err().to_string();
        assert!(e.contains("sample 0 has label 10"), "{e}");
        assert!(parse_optdigits("t", &[]).is_err());
    }

    #[test]
    fn datasets_check_their_arrays() {
        assert!(Dataset::new("x", vec![0.0; 6], vec![0, 1], 3, 2).is_ok());
        let e = Dataset::new("x.npy", vec![0.0; 5], vec![0, 1], 3, 2).unwrap_err();
        assert!(
            e.to_string()
                .contains("x.npy: 5 values for 2 samples of 3 features")
        );
        let e = Dataset::new("y.npy", vec![0.0; 6], vec![0, 2], 3, 2).unwrap_err();
        assert!(e.to_string().contains("sample 1 has label 2"));
        let e = Dataset::new("x", vec![0.0, f32::NAN, 0.0], vec![0], 3, 2).unwrap_err();
        assert!(e.to_string().contains("sample 0, feature 1 is NaN"));
        let d = Dataset::new("x", vec![0.0, 1.0, 2.0], vec![0, 1, 0], 1, 2).unwrap();
        assert_eq!(d.subset(&[2, 0]).unwrap().inputs(), &[2.0, 0.0]);
        assert!(d.subset(&[3]).is_err());
        assert_eq!(d.head(2).labels(), &[0, 1]);
    }
}
