//! SVG line charts (plotters): one line per layer over a swept parameter.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::Path;

/// One line: a name and its (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A chart with a log2 or categorical x axis.
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Tick labels of the x positions 0, 1, 2, ... (the series' x are indices into these).
    pub x_ticks: Vec<String>,
    pub series: Vec<Series>,
    /// Plot y on a log2 axis (for speedups over 1..256 PEs).
    pub log2_y: bool,
    /// Where the legend goes.
    pub legend: Legend,
}

/// Legend placement.
#[derive(Clone, Copy)]
pub enum Legend {
    UpperLeft,
    LowerLeft,
    UpperRight,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

impl LineChart<'_> {
    /// Writes the chart as SVG to `path`.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        let map_y = |y: f64| if self.log2_y { y.max(1e-9).log2() } else { y };
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| map_y(p.1)));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
        let (lo, hi) = match (lo.is_finite(), self.log2_y) {
            (false, _) => (0.0, 1.0),
            (true, true) => (lo.floor(), hi.ceil().max(lo.floor() + 1.0)),
            (true, false) => (lo.min(0.0), if hi > lo { hi * 1.05 } else { lo + 1.0 }),
        };
        let n = self.x_ticks.len().max(1);
        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| anyhow!("{}: drawing the chart: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .right_y_label_area_size(0)
            .build_cartesian_2d(-0.2f64..(n as f64 - 0.8), lo..hi)
            .map_err(|e| err(&e))?;
        let ticks = self.x_ticks.clone();
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .x_labels(n)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    ticks.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                if self.log2_y {
                    format!("{}", 2f64.powf(*y))
                } else {
                    format!("{y}")
                }
            })
            .draw()
            .map_err(|e| err(&e))?;
        for (i, s) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x, map_y(y))).collect();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(match self.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
            })
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}
