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

/// One labelled series of Fig. 6 (speedup) or Fig. 7 (energy efficiency), normalized to CPU dense: the
/// nine layers in [`LAYERS`] order, then the geometric mean (as printed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FigureRow {
    pub series: &'static str,
    pub values: [f64; 10],
    pub source: &'static str,
}

const F6: &str = "S1 Fig. 6 data labels";
const F7: &str = "S1 Fig. 7 data labels";

/// Fig. 6: speedup over CPU dense at batch 1 (data labels as printed; the NT-We / NT-LSTM EIE labels 63x / 60x
/// disagree with Table IV, which gives 75.6x / 62.7x; the 189x geometric mean follows the labels).
pub const FIG_6: [FigureRow; 7] = [
    FigureRow {
        series: "CPU dense",
        values: [1.0; 10],
        source: F6,
    },
    FigureRow {
        series: "CPU compressed",
        values: [2.0, 5.0, 1.0, 9.0, 10.0, 1.0, 2.0, 3.0, 2.0, 3.0],
        source: F6,
    },
    FigureRow {
        series: "GPU dense",
        values: [14.0, 25.0, 14.0, 24.0, 22.0, 10.0, 9.0, 15.0, 9.0, 15.0],
        source: F6,
    },
    FigureRow {
        series: "GPU compressed",
        values: [56.0, 94.0, 21.0, 210.0, 135.0, 16.0, 34.0, 33.0, 25.0, 48.0],
        source: F6,
    },
    FigureRow {
        series: "mGPU dense",
        values: [0.6, 1.1, 0.5, 1.0, 1.0, 0.3, 0.5, 0.5, 0.5, 0.6],
        source: F6,
    },
    FigureRow {
        series: "mGPU compressed",
        values: [3.0, 5.0, 1.0, 8.0, 9.0, 1.0, 3.0, 2.0, 1.0, 3.0],
        source: F6,
    },
    FigureRow {
        series: "EIE",
        values: [
            248.0, 507.0, 115.0, 1018.0, 618.0, 92.0, 63.0, 98.0, 60.0, 189.0,
        ],
        source: F6,
    },
];

/// Fig. 7: energy efficiency over CPU dense at batch 1 (data labels as printed).
pub const FIG_7: [FigureRow; 6] = [
    FigureRow {
        series: "CPU compressed",
        values: [5.0, 9.0, 3.0, 17.0, 20.0, 2.0, 6.0, 6.0, 4.0, 6.0],
        source: F7,
    },
    FigureRow {
        series: "GPU dense",
        values: [7.0, 12.0, 7.0, 10.0, 10.0, 5.0, 6.0, 6.0, 5.0, 7.0],
        source: F7,
    },
    FigureRow {
        series: "GPU compressed",
        values: [26.0, 37.0, 10.0, 78.0, 61.0, 8.0, 25.0, 14.0, 15.0, 23.0],
        source: F7,
    },
    FigureRow {
        series: "mGPU dense",
        values: [10.0, 15.0, 7.0, 13.0, 14.0, 5.0, 8.0, 7.0, 7.0, 9.0],
        source: F7,
    },
    FigureRow {
        series: "mGPU compressed",
        values: [37.0, 59.0, 18.0, 101.0, 102.0, 14.0, 39.0, 25.0, 20.0, 36.0],
        source: F7,
    },
    FigureRow {
        series: "EIE",
        values: [
            34522.0, 61533.0, 14826.0, 119797.0, 76784.0, 11828.0, 9485.0, 10904.0, 8053.0, 24207.0,
        ],
        source: F7,
    },
];

/// Measured power per layer in W (S2 Table 9; AlexNet and VGG layers only, in [`LAYERS`] order).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PowerRow {
    pub device: &'static str,
    pub batch: u32,
    pub matrix: &'static str,
    /// Alex-6, Alex-7, Alex-8, VGG-6, VGG-7, VGG-8.
    pub watts: [f64; 6],
    pub source: &'static str,
}

const T9: &str = "S2 Table 9";

/// Deep Compression's Table 9: the powers behind Fig. 7.
pub const TABLE_9: [PowerRow; 12] = [
    PowerRow {
        device: "Titan X",
        batch: 1,
        matrix: "dense",
        watts: [157.0, 159.0, 159.0, 166.0, 163.0, 159.0],
        source: T9,
    },
    PowerRow {
        device: "Titan X",
        batch: 1,
        matrix: "sparse",
        watts: [181.0, 183.0, 162.0, 189.0, 166.0, 162.0],
        source: T9,
    },
    PowerRow {
        device: "Titan X",
        batch: 64,
        matrix: "dense",
        watts: [168.0, 173.0, 166.0, 173.0, 173.0, 167.0],
        source: T9,
    },
    PowerRow {
        device: "Titan X",
        batch: 64,
        matrix: "sparse",
        watts: [156.0, 158.0, 163.0, 160.0, 158.0, 161.0],
        source: T9,
    },
    PowerRow {
        device: "i7-5930k",
        batch: 1,
        matrix: "dense",
        watts: [83.5, 72.8, 77.6, 70.6, 74.6, 77.0],
        source: T9,
    },
    PowerRow {
        device: "i7-5930k",
        batch: 1,
        matrix: "sparse",
        watts: [42.3, 37.4, 36.5, 38.0, 37.4, 36.0],
        source: T9,
    },
    PowerRow {
        device: "i7-5930k",
        batch: 64,
        matrix: "dense",
        watts: [85.4, 84.7, 101.6, 83.1, 97.1, 87.5],
        source: T9,
    },
    PowerRow {
        device: "i7-5930k",
        batch: 64,
        matrix: "sparse",
        watts: [37.2, 37.1, 38.0, 39.5, 36.6, 38.2],
        source: T9,
    },
    PowerRow {
        device: "Tegra K1",
        batch: 1,
        matrix: "dense",
        watts: [5.1, 5.1, 5.4, 5.3, 5.3, 5.4],
        source: T9,
    },
    PowerRow {
        device: "Tegra K1",
        batch: 1,
        matrix: "sparse",
        watts: [5.9, 6.1, 5.8, 5.6, 6.3, 5.8],
        source: T9,
    },
    PowerRow {
        device: "Tegra K1",
        batch: 64,
        matrix: "dense",
        watts: [5.6, 5.6, 6.3, 5.4, 5.6, 6.3],
        source: T9,
    },
    PowerRow {
        device: "Tegra K1",
        batch: 64,
        matrix: "sparse",
        watts: [5.0, 4.6, 5.1, 4.8, 4.7, 5.0],
        source: T9,
    },
];

/// Table V's platform summary power, W (S1): i7-5930k, Titan X, Tegra K1, EIE 64 PE.
pub const TABLE_V_POWER_W: [(&str, f64); 4] = [
    ("Core i7-5930k", 73.0),
    ("GeForce Titan X", 159.0),
    ("Tegra K1", 5.1),
    ("EIE (64 PE)", 0.59),
];

/// One platform column of Table V (AlexNet FC7, M x V): power, throughput and energy efficiency as printed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PlatformRow {
    pub platform: &'static str,
    pub power_w: f64,
    pub frames_per_s: f64,
    pub frames_per_j: f64,
    pub source: &'static str,
}

const T5: &str = "S1 Table V";

/// Table V's CPU, GPU, mGPU and EIE columns (S1).
pub const TABLE_V: [PlatformRow; 5] = [
    PlatformRow {
        platform: "Core i7-5930k",
        power_w: 73.0,
        frames_per_s: 162.0,
        frames_per_j: 2.22,
        source: T5,
    },
    PlatformRow {
        platform: "GeForce Titan X",
        power_w: 159.0,
        frames_per_s: 4115.0,
        frames_per_j: 25.9,
        source: T5,
    },
    PlatformRow {
        platform: "Tegra K1",
        power_w: 5.1,
        frames_per_s: 173.0,
        frames_per_j: 33.9,
        source: T5,
    },
    PlatformRow {
        platform: "EIE (64 PE, 45 nm)",
        power_w: 0.59,
        frames_per_s: 81_967.0,
        frames_per_j: 138_927.0,
        source: T5,
    },
    PlatformRow {
        platform: "EIE (256 PE, 28 nm)",
        power_w: 2.36,
        frames_per_s: 426_230.0,
        frames_per_j: 180_606.0,
        source: T5,
    },
];

/// Geometric mean.
pub fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len().max(1) as f64).exp()
}

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

    /// The transcription holds together: Fig. 6's EIE labels follow Table IV's CPU dense / EIE actual on
    /// seven layers (the paper's own NT-We / NT-LSTM inconsistency aside), and its geometric means match.
    #[test]
    fn transcription_is_consistent() {
        let eie = &FIG_6[6].values;
        for i in [0usize, 1, 2, 3, 4, 5, 7] {
            let derived = TABLE_IV[0].us[i] / TABLE_IV[13].us[i];
            assert!(
                (derived / eie[i] - 1.0).abs() < 0.02,
                "{} {derived} vs {}",
                LAYERS[i],
                eie[i]
            );
        }
        assert!((geomean(&eie[..9]) - 189.0).abs() < 1.0);
        assert!((geomean(&FIG_7[5].values[..9]) - 24207.0).abs() / 24207.0 < 0.01);
        // Fig. 7's EIE values imply 0.600 W of EIE power on the AlexNet and VGG layers.
        for (i, layer) in LAYERS.iter().enumerate().take(6) {
            let speedup = TABLE_IV[0].us[i] / TABLE_IV[13].us[i];
            let implied_w = TABLE_9[4].watts[i] * speedup / FIG_7[5].values[i];
            assert!(
                (implied_w - EIE_POWER_FIG7_W).abs() < 0.02,
                "{layer}: {implied_w} W"
            );
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(eie_times_us("alex-8"), Some((8.9, 9.9)));
        assert_eq!(eie_times_us("alexnet-fc8-real"), Some((8.9, 9.9)));
        assert_eq!(eie_times_us("NT-LSTM"), Some((6.5, 7.5)));
        assert_eq!(eie_times_us("conv1"), None);
        // Table V's 81,967 frames/s is 1 / 12.2 µs, the Alex-7 actual time.
        assert!((1e6 / TABLE_IV[13].us[1] - TABLE_V_EIE_64PE.0).abs() < 1.0);
        // Table V's CPU and GPU columns are Table IV's batch-1 dense Alex-7 times; frames/J = frames/s / W.
        assert!((1e6 / TABLE_IV[0].us[1] - TABLE_V[0].frames_per_s).abs() < 1.0);
        assert!((1e6 / TABLE_IV[4].us[1] - TABLE_V[1].frames_per_s).abs() < 1.0);
        for r in &TABLE_V[..3] {
            assert!(
                (r.frames_per_s / r.power_w / r.frames_per_j - 1.0).abs() < 0.02,
                "{}",
                r.platform
            );
        }
        assert_eq!(TABLE_V[3].frames_per_s, TABLE_V_EIE_64PE.0);
    }
}
