//! Fig. 10 (accuracy and energy against arithmetic precision) from network-accuracy records: the tables,
//! CSV and charts that `eie sweep precision --net` prints and `eie report` renders, one code path for
//! both.

use crate::chart::{DualAxisChart, Legend, Series};
use crate::table::Table;
use anyhow::Result;
use eie_bench::record::NetAccuracy;
use std::path::Path;

/// Fig. 10's formats in order.
pub const FORMATS: [&str; 4] = ["float32", "fixed32", "fixed16", "fixed8"];
/// The roundings of the fixed-point formats.
pub const ROUNDINGS: [&str; 2] = ["floor", "nearest"];

/// The formats of the weight-bits and density tables: float32, then 16 and 8 bits in both roundings.
fn axis_formats() -> Vec<(&'static str, Option<&'static str>)> {
    let mut v = vec![("float32", None)];
    for f in ["fixed16", "fixed8"] {
        v.extend(ROUNDINGS.iter().map(|&r| (f, Some(r))));
    }
    v
}

fn pct(a: &NetAccuracy) -> f64 {
    100.0 * a.correct as f64 / a.samples.max(1) as f64
}

fn is(a: &NetAccuracy, format: &str, rounding: Option<&str>) -> bool {
    a.format == format && a.rounding.as_deref() == rounding
}

fn label(format: &str, rounding: Option<&str>) -> String {
    match rounding {
        Some(r) => format!("{format} {r}"),
        None => format.to_string(),
    }
}

/// The points of Fig. 10 proper (axis `format`), in its order.
pub fn format_points<'a>(points: &[&'a NetAccuracy]) -> Vec<&'a NetAccuracy> {
    let mut v: Vec<&NetAccuracy> = points
        .iter()
        .copied()
        .filter(|a| a.axis == "format")
        .collect();
    let rank = |a: &NetAccuracy| {
        (
            FORMATS.iter().position(|&f| f == a.format).unwrap_or(9),
            a.rounding.clone(),
        )
    };
    v.sort_by_key(|a| rank(a));
    v
}

/// Format, rounding, top-1, what saturated or wrapped, and the model per inference.
pub fn format_table(points: &[&NetAccuracy]) -> Table {
    let mut t = Table::new(&[
        "Format",
        "Rounding",
        "Top-1",
        "Saturated",
        "Wrapped",
        "Cycles",
        "Time (µs)",
        "Energy (nJ)",
    ]);
    let num = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
    for a in format_points(points) {
        t.push(vec![
            a.format.clone(),
            a.rounding.clone().unwrap_or_else(|| "-".into()),
            format!("{:.2} %", pct(a)),
            a.saturated.to_string(),
            a.wrapped.to_string(),
            num(a.model_cycles, 1),
            num(a.model_us, 3),
            num(a.model_energy_nj, 2),
        ]);
    }
    t
}

/// Which axis a table or chart shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    WeightBits,
    Density,
}

impl Axis {
    fn name(self) -> &'static str {
        match self {
            Self::WeightBits => "weight-bits",
            Self::Density => "density",
        }
    }
    fn key(self, a: &NetAccuracy) -> String {
        match self {
            Self::WeightBits => a.weight_bits.to_string(),
            Self::Density => format!("{:.1} %", a.weight_density * 100.0),
        }
    }
    fn order(self, a: &NetAccuracy) -> f64 {
        match self {
            Self::WeightBits => f64::from(a.weight_bits),
            Self::Density => a.weight_density,
        }
    }
}

/// The points on `axis`: its own and Fig. 10's (the default point, which lies on every axis), as rows
/// keyed by (weight bits, density), in the axis' order.
fn rows<'a>(points: &[&'a NetAccuracy], axis: Axis) -> Vec<(String, Vec<&'a NetAccuracy>)> {
    let on: Vec<&NetAccuracy> = points
        .iter()
        .copied()
        .filter(|a| a.axis == axis.name() || a.axis == "format")
        .collect();
    let mut keys: Vec<(f64, u8, u64)> = Vec::new();
    for a in &on {
        let k = (axis.order(a), a.weight_bits, a.weight_density.to_bits());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by(|x, y| x.0.total_cmp(&y.0));
    keys.into_iter()
        .map(|(_, bits, d)| {
            let at: Vec<&NetAccuracy> = on
                .iter()
                .copied()
                .filter(|a| a.weight_bits == bits && a.weight_density.to_bits() == d)
                .collect();
            (axis.key(at[0]), at)
        })
        .collect()
}

/// Rows: the axis' values; columns: each format's top-1, then the model's 16-bit (floor) energy.
pub fn axis_table(points: &[&NetAccuracy], axis: Axis) -> Table {
    let formats = axis_formats();
    let mut headers = vec![match axis {
        Axis::WeightBits => "Weight bits".to_string(),
        Axis::Density => "Weight density".to_string(),
    }];
    headers.extend(formats.iter().map(|&(f, r)| label(f, r)));
    headers.push("Energy, fixed16 floor (nJ)".into());
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&h);
    for (key, at) in rows(points, axis) {
        let find = |f: &str, r: Option<&str>| at.iter().find(|a| is(a, f, r));
        let mut row = vec![key];
        for &(f, r) in &formats {
            row.push(find(f, r).map_or("-".into(), |a| format!("{:.2} %", pct(a))));
        }
        row.push(
            find("fixed16", Some("floor"))
                .and_then(|a| a.model_energy_nj)
                .map_or("-".into(), |e| format!("{e:.2}")),
        );
        t.push(row);
    }
    t
}

/// Every point as CSV.
pub fn csv(points: &[&NetAccuracy]) -> String {
    let mut t = Table::new(&[
        "axis",
        "weight_density",
        "weight_bits",
        "format",
        "rounding",
        "top1",
        "correct",
        "samples",
        "saturated",
        "wrapped",
        "model_cycles",
        "model_us",
        "model_energy_nj",
        "retrained",
    ]);
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for a in points {
        t.push(vec![
            a.axis.clone(),
            format!("{:.5}", a.weight_density),
            a.weight_bits.to_string(),
            a.format.clone(),
            a.rounding.clone().unwrap_or_default(),
            format!("{:.5}", pct(a) / 100.0),
            a.correct.to_string(),
            a.samples.to_string(),
            a.saturated.to_string(),
            a.wrapped.to_string(),
            num(a.model_cycles),
            num(a.model_us),
            num(a.model_energy_nj),
            a.retrained.to_string(),
        ]);
    }
    t.csv()
}

/// Fig. 10: top-1 (left axis) and the model's energy (right axis) per format, one line per rounding
/// (both start from float32, which has none).
pub fn fig10_chart(points: &[&NetAccuracy], title: &str, path: &Path) -> Result<()> {
    let pts = format_points(points);
    let x = |a: &NetAccuracy| FORMATS.iter().position(|&f| f == a.format).unwrap_or(0) as f64;
    let float = pts.iter().find(|a| a.format == "float32");
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for r in ROUNDINGS {
        let line: Vec<&&NetAccuracy> = float
            .into_iter()
            .chain(pts.iter().filter(|a| a.rounding.as_deref() == Some(r)))
            .collect();
        left.push(Series {
            name: format!("top-1, {r}"),
            points: line.iter().map(|a| (x(a), pct(a))).collect(),
        });
        right.push(Series {
            name: format!("model energy, {r}"),
            points: line
                .iter()
                .filter_map(|a| a.model_energy_nj.map(|e| (x(a), e)))
                .collect(),
        });
    }
    DualAxisChart {
        title,
        x_label: "arithmetic",
        x_ticks: FORMATS.iter().map(|f| f.to_string()).collect(),
        left_label: "top-1 accuracy (%)",
        left,
        right_label: "EIE model energy per inference (nJ)",
        right,
        legend: Legend::MiddleLeft,
    }
    .write_svg(path)
}

/// Top-1 per format (left) and the model's 16-bit floor energy (right) along `axis`.
pub fn axis_chart(points: &[&NetAccuracy], axis: Axis, path: &Path) -> Result<()> {
    let rows = rows(points, axis);
    let left = axis_formats()
        .into_iter()
        .map(|(f, r)| Series {
            name: label(f, r),
            points: rows
                .iter()
                .enumerate()
                .filter_map(|(i, (_, at))| {
                    at.iter().find(|a| is(a, f, r)).map(|a| (i as f64, pct(a)))
                })
                .collect(),
        })
        .collect();
    let right = vec![Series {
        name: "model energy, fixed16 floor".into(),
        points: rows
            .iter()
            .enumerate()
            .filter_map(|(i, (_, at))| {
                at.iter()
                    .find(|a| is(a, "fixed16", Some("floor")))
                    .and_then(|a| a.model_energy_nj)
                    .map(|e| (i as f64, e))
            })
            .collect(),
    }];
    let (title, x_label) = match axis {
        Axis::WeightBits => ("Accuracy vs weight bits", "weight (codebook index) bits"),
        Axis::Density => ("Accuracy vs weight density", "weight density"),
    };
    DualAxisChart {
        title,
        x_label,
        x_ticks: rows.into_iter().map(|(k, _)| k).collect(),
        left_label: "top-1 accuracy (%)",
        left,
        right_label: "EIE model energy per inference (nJ)",
        right,
        legend: Legend::MiddleLeft,
    }
    .write_svg(path)
}
