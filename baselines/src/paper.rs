//! The EIE paper's published numbers, as data: shown beside our measurements, never mixed into them.
//!
//! Sources: S1 = Han et al., EIE, ISCA 2016 (arXiv 1602.01528 v2); S2 = Han, Mao, Dally, Deep
//! Compression, ICLR 2016 (arXiv 1510.00149 v5). Transcribed from `reference/eie-paper.md`.

use serde::Serialize;

/// The nine benchmark layers, in Table IV's column order.
pub const LAYERS: [&str; 9] = [
    "Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM",
];

/// One row of Table IV: a platform, a batch size and a matrix kind, with a time per layer in µs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimeRow {
    pub platform: &'static str,
    /// Batch size (`None` for EIE, reported only without batching).
    pub batch: Option<u32>,
    /// "dense", "sparse", "theoretical" or "actual".
    pub matrix: &'static str,
    /// µs per layer, in [`LAYERS`] order.
    pub us: [f64; 9],
    pub source: &'static str,
}

const T4: &str = "S1 Table IV";

/// Table IV: wall-clock time per layer, µs (S1; the CPU/GPU/mGPU cells of the AlexNet and VGG layers are
/// repeated in S2 Table 8).
pub const TABLE_IV: [TimeRow; 14] = [
    TimeRow {
        platform: "CPU (Core i7-5930k)",
        batch: Some(1),
        matrix: "dense",
        us: [
            7516.2, 6187.1, 1134.9, 35022.8, 5372.8, 774.2, 605.0, 1361.4, 470.5,
        ],
        source: T4,
    },
    TimeRow {
        platform: "CPU (Core i7-5930k)",
        batch: Some(1),
        matrix: "sparse",
        us: [
            3066.5, 1282.1, 890.5, 3774.3, 545.1, 777.3, 261.2, 437.4, 260.0,
        ],
        source: T4,
    },
    TimeRow {
        platform: "CPU (Core i7-5930k)",
        batch: Some(64),
        matrix: "dense",
        us: [318.4, 188.9, 45.8, 1056.0, 188.3, 45.7, 28.7, 69.0, 28.8],
        source: T4,
    },
    TimeRow {
        platform: "CPU (Core i7-5930k)",
        batch: Some(64),
        matrix: "sparse",
        us: [
            1417.6, 682.1, 407.7, 1780.3, 274.9, 363.1, 117.7, 176.4, 107.4,
        ],
        source: T4,
    },
    TimeRow {
        platform: "GPU (Titan X)",
        batch: Some(1),
        matrix: "dense",
        us: [541.5, 243.0, 80.5, 1467.8, 243.0, 80.5, 65.0, 90.1, 51.9],
        source: T4,
    },
    TimeRow {
        platform: "GPU (Titan X)",
        batch: Some(1),
        matrix: "sparse",
        us: [134.8, 65.8, 54.6, 167.0, 39.8, 48.0, 17.7, 41.1, 18.5],
        source: T4,
    },
    TimeRow {
        platform: "GPU (Titan X)",
        batch: Some(64),
        matrix: "dense",
        us: [19.8, 8.9, 5.9, 53.6, 8.9, 5.9, 3.2, 2.3, 2.5],
        source: T4,
    },
    TimeRow {
        platform: "GPU (Titan X)",
        batch: Some(64),
        matrix: "sparse",
        us: [94.6, 51.5, 23.2, 121.5, 24.4, 22.0, 10.9, 11.0, 9.0],
        source: T4,
    },
    TimeRow {
        platform: "mGPU (Tegra K1)",
        batch: Some(1),
        matrix: "dense",
        us: [
            12437.2, 5765.0, 2252.1, 35427.0, 5544.3, 2243.1, 1316.0, 2565.5, 956.9,
        ],
        source: T4,
    },
    TimeRow {
        platform: "mGPU (Tegra K1)",
        batch: Some(1),
        matrix: "sparse",
        us: [
            2879.3, 1256.5, 837.0, 4377.2, 626.3, 745.1, 240.6, 570.6, 315.0,
        ],
        source: T4,
    },
    TimeRow {
        platform: "mGPU (Tegra K1)",
        batch: Some(64),
        matrix: "dense",
        us: [
            1663.6, 2056.8, 298.0, 2001.4, 2050.7, 483.9, 87.8, 956.3, 95.2,
        ],
        source: T4,
    },
    TimeRow {
        platform: "mGPU (Tegra K1)",
        batch: Some(64),
        matrix: "sparse",
        us: [
            4003.9, 1372.8, 576.7, 8024.8, 660.2, 544.1, 236.3, 187.7, 186.5,
        ],
        source: T4,
    },
    TimeRow {
        platform: "EIE (64 PE)",
        batch: None,
        matrix: "theoretical",
        us: [28.1, 11.7, 8.9, 28.1, 7.9, 7.3, 5.2, 13.0, 6.5],
        source: T4,
    },
    TimeRow {
        platform: "EIE (64 PE)",
        batch: None,
        matrix: "actual",
        us: [30.3, 12.2, 9.9, 34.4, 8.7, 8.4, 8.0, 13.9, 7.5],
        source: T4,
    },
];

/// Index of `layer` in [`LAYERS`] (case-insensitive); `alexnet-fc8-real` maps to Alex-8.
pub fn layer_index(layer: &str) -> Option<usize> {
    let name = if layer.eq_ignore_ascii_case("alexnet-fc8-real") {
        "Alex-8"
    } else {
        layer
    };
    LAYERS.iter().position(|l| l.eq_ignore_ascii_case(name))
}

/// Table IV's EIE (theoretical, actual) times in µs for `layer`.
pub fn eie_times_us(layer: &str) -> Option<(f64, f64)> {
    let i = layer_index(layer)?;
    Some((TABLE_IV[12].us[i], TABLE_IV[13].us[i]))
}

/// Table II / Table V: the 64-PE EIE's power, W (S1).
pub const EIE_POWER_W: f64 = 0.59;
/// The EIE power that Fig. 7's energy ratios imply on every layer, W (derived in `reference/eie-paper.md`).
pub const EIE_POWER_FIG7_W: f64 = 0.600;

/// Table V's EIE (64 PE, 45 nm) column on AlexNet FC7: (frames/s, frames/J) (S1).
pub const TABLE_V_EIE_64PE: (f64, f64) = (81_967.0, 138_927.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(eie_times_us("alex-8"), Some((8.9, 9.9)));
        assert_eq!(eie_times_us("alexnet-fc8-real"), Some((8.9, 9.9)));
        assert_eq!(eie_times_us("NT-LSTM"), Some((6.5, 7.5)));
        assert_eq!(eie_times_us("conv1"), None);
        // Table V's 81,967 frames/s is 1 / 12.2 µs, the Alex-7 actual time.
        assert!((1e6 / TABLE_IV[13].us[1] - TABLE_V_EIE_64PE.0).abs() < 1.0);
    }
}
