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
    MiddleLeft,
}

impl Legend {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::MiddleLeft => SeriesLabelPosition::MiddleLeft,
        }
    }
}

/// The label of categorical x position `x`: `ticks[x]` at whole positions, nothing between them.
fn tick_label(ticks: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        ticks.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

const PALETTE: [RGBColor; 12] = [
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
    RGBColor(20, 20, 20),
    RGBColor(255, 187, 120),
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
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
            let err =
                |e: &dyn std::fmt::Display| anyhow!("{}: drawing the chart: {e}", path.display());
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
                .x_label_formatter(&move |x| tick_label(&ticks, *x))
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
                let points: Vec<(f64, f64)> =
                    s.points.iter().map(|&(x, y)| (x, map_y(y))).collect();
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
                .position(self.legend.position())
                .draw()
                .map_err(|e| err(&e))?;
            root.present().map_err(|e| err(&e))?;
        }
        crate::output::write_atomic(path, svg.as_bytes())
    }
}

/// Grouped bars on a log10 y axis: one group per category (layer), one bar per series (backend).
pub struct BarChart<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub categories: Vec<String>,
    /// Each series: a name and one value per category (`None`: no bar).
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

impl BarChart<'_> {
    /// Writes the chart as SVG to `path`.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        let vals = self
            .series
            .iter()
            .flat_map(|s| s.1.iter().flatten())
            .filter(|v| **v > 0.0 && v.is_finite())
            .map(|v| v.log10());
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        let (lo, hi) = if lo.is_finite() {
            // At least a decade below 1x, so that bars of 1x (and just below) stay visible.
            (
                (lo - 0.3).floor().min(-1.0),
                hi.ceil().max(lo.floor() + 1.0),
            )
        } else {
            (0.0, 1.0)
        };
        let n = self.categories.len().max(1);
        let k = self.series.len().max(1);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1400, 620)).into_drawing_area();
            let err =
                |e: &dyn std::fmt::Display| anyhow!("{}: drawing the chart: {e}", path.display());
            root.fill(&WHITE).map_err(|e| err(&e))?;
            // The legend gets its own column at the right, so that it never hides a bar.
            let (plot, legend) = root.split_horizontally(1180);
            let mut chart = ChartBuilder::on(&plot)
                .caption(self.title, ("sans-serif", 22))
                .margin(16)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..n as f64, lo..hi)
                .map_err(|e| err(&e))?;
            let cats = self.categories.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc(self.y_label)
                .x_labels(n * 2 + 1)
                .x_label_formatter(&move |x| {
                    // Labels at the middle of each group.
                    let f = x - x.floor();
                    if (f - 0.5).abs() < 1e-6 {
                        cats.get(x.floor() as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_labels(((hi - lo) as usize) + 1)
                .y_label_formatter(&|y| {
                    // Only the powers of ten.
                    if (y - y.round()).abs() > 1e-6 {
                        return String::new();
                    }
                    let v = 10f64.powi(y.round() as i32);
                    if v >= 1.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v}")
                    }
                })
                .draw()
                .map_err(|e| err(&e))?;
            let width = 0.8 / k as f64;
            for (i, (name, values)) in self.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let bars = values.iter().enumerate().filter_map(|(c, v)| {
                    let v = (*v)?;
                    (v > 0.0 && v.is_finite()).then(|| {
                        let x0 = c as f64 + 0.1 + i as f64 * width;
                        Rectangle::new([(x0, lo), (x0 + width * 0.92, v.log10())], color.filled())
                    })
                });
                chart.draw_series(bars).map_err(|e| err(&e))?;
                let y = 60 + 22 * i as i32;
                legend
                    .draw(&Rectangle::new([(8, y - 6), (22, y + 6)], color.filled()))
                    .map_err(|e| err(&e))?;
                legend
                    .draw(&Text::new(name.clone(), (28, y - 7), ("sans-serif", 13)))
                    .map_err(|e| err(&e))?;
            }
            // The 1x line.
            if lo < 0.0 {
                chart
                    .draw_series(LineSeries::new([(0.0, 0.0), (n as f64, 0.0)], BLACK))
                    .map_err(|e| err(&e))?;
            }
            root.present().map_err(|e| err(&e))?;
        }
        crate::output::write_atomic(path, svg.as_bytes())
    }
}

/// A line chart with two y axes over categorical x positions: `left` series (solid, circles) on the left
/// axis, `right` series (dashed, triangles) on the right one (Fig. 10: accuracy and energy).
pub struct DualAxisChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    /// Tick labels of the x positions 0, 1, 2, ...
    pub x_ticks: Vec<String>,
    pub left_label: &'a str,
    pub left: Vec<Series>,
    pub right_label: &'a str,
    pub right: Vec<Series>,
    pub legend: Legend,
}

/// A linear axis range around every y of `series` (from 0 when `from_zero`), with a little headroom.
fn y_range(series: &[Series], from_zero: bool) -> std::ops::Range<f64> {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let lo = if from_zero { lo.min(0.0) } else { lo };
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
    (if from_zero { lo } else { lo - pad })..(hi + pad)
}

impl DualAxisChart<'_> {
    /// Writes the chart as SVG to `path`.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        let n = self.x_ticks.len().max(1);
        let xr = -0.2f64..(n as f64 - 0.8);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
            let err =
                |e: &dyn std::fmt::Display| anyhow!("{}: drawing the chart: {e}", path.display());
            root.fill(&WHITE).map_err(|e| err(&e))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(self.title, ("sans-serif", 22))
                .margin(16)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .right_y_label_area_size(80)
                .build_cartesian_2d(xr.clone(), y_range(&self.left, false))
                .map_err(|e| err(&e))?
                .set_secondary_coord(xr, y_range(&self.right, true));
            let ticks = self.x_ticks.clone();
            chart
                .configure_mesh()
                .x_desc(self.x_label)
                .y_desc(self.left_label)
                .x_labels(n)
                .x_label_formatter(&move |x| tick_label(&ticks, *x))
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .configure_secondary_axes()
                .y_desc(self.right_label)
                .draw()
                .map_err(|e| err(&e))?;
            for (i, s) in self.left.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| err(&e))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| err(&e))?;
            }
            for (i, s) in self.right.iter().enumerate() {
                let color = PALETTE[(self.left.len() + i) % PALETTE.len()];
                chart
                    .draw_secondary_series(DashedLineSeries::new(
                        s.points.iter().copied(),
                        6,
                        4,
                        color.stroke_width(2),
                    ))
                    .map_err(|e| err(&e))?
                    .label(format!("{} (right axis)", s.name))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(1))
                    });
                chart
                    .draw_secondary_series(
                        s.points
                            .iter()
                            .map(|&p| TriangleMarker::new(p, 5, color.filled())),
                    )
                    .map_err(|e| err(&e))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(self.legend.position())
                .draw()
                .map_err(|e| err(&e))?;
            root.present().map_err(|e| err(&e))?;
        }
        crate::output::write_atomic(path, svg.as_bytes())
    }
}
