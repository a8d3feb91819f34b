//! The report's tables from a [`View`]: Table IV, bandwidth, Figs. 6 and 7 (ratios over each machine's
//! CPU dense), Table V and the validation. Every figure comes from records through `view.rs`.

use super::view::{Column, Derived, SeriesKey, View, derive, geomean, in_geomean, paper_cell};
use crate::table::Table;
use eie_baselines::paper;
use eie_bench::backend_id::{BackendId, Matrix};
use eie_bench::record::{Machine, Record};

pub const BATCHES: [usize; 2] = [1, 64];

pub fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_x(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

fn headers<'a>(first: &[&'a str], v: &'a View) -> Vec<&'a str> {
    let mut h = first.to_vec();
    h.extend(v.columns.iter().map(|c| c.label.as_str()));
    h
}

fn matrix_name(b: BackendId) -> &'static str {
    match b.matrix() {
        Matrix::Dense => "dense",
        Matrix::Csr | Matrix::Eie => "sparse",
    }
}

/// The derived figures of a series on a column at a batch size.
fn cell(v: &View, s: &SeriesKey, c: &Column, batch: usize) -> Option<Derived> {
    v.find(s, c, batch).and_then(derive)
}

/// Table IV: µs per sample, every series at batch 1 and 64, the EIE model, the paper's rows.
pub fn table_iv(v: &View) -> Table {
    let mut t = Table::new(&headers(&["Platform", "Batch", "Matrix"], v));
    for s in &v.series {
        for batch in BATCHES {
            let vals: Vec<String> = v
                .columns
                .iter()
                .map(|c| opt(cell(v, s, c, batch).map(|d| d.per_sample_us), fmt_us))
                .collect();
            if vals.iter().all(|x| x == "-") {
                continue;
            }
            let mut row = vec![
                v.series_name(s),
                batch.to_string(),
                matrix_name(s.backend).into(),
            ];
            row.extend(vals);
            t.push(row);
        }
    }
    let has_model = v.columns.iter().any(|c| v.model(c).is_some());
    type Pick = fn(&eie_bench::record::ModelFigures) -> Option<f64>;
    let rows: [(&str, Pick); 3] = [
        ("theoretical (useful MACs)", |m| Some(m.theoretical_us)),
        ("theoretical (incl. padding)", |m| m.theoretical_padded_us),
        ("actual", |m| Some(m.actual_us)),
    ];
    for (what, pick) in rows {
        if !has_model {
            break;
        }
        let mut row = vec!["ours: EIE model (64 PE)".into(), "1".into(), what.into()];
        row.extend(v.columns.iter().map(|c| {
            opt(
                v.model(c).and_then(|r| r.model.as_ref()).and_then(pick),
                fmt_us,
            )
        }));
        t.push(row);
    }
    for r in &paper::TABLE_IV {
        let mut row = vec![
            format!("paper: {}", r.platform),
            r.batch.map_or("1".into(), |b| b.to_string()),
            r.matrix.into(),
        ];
        row.extend(v.columns.iter().map(|c| opt(paper_cell(c, &r.us), fmt_us)));
        t.push(row);
    }
    t
}

/// GB/s and the share of the machine's read bandwidth.
pub fn bandwidth_table(v: &View) -> Table {
    let mut t = Table::new(&headers(&["Backend", "Batch"], v));
    for s in &v.series {
        for batch in BATCHES {
            let vals: Vec<String> = v
                .columns
                .iter()
                .map(|c| match cell(v, s, c, batch) {
                    Some(Derived {
                        gbps: Some(g),
                        bandwidth_share: Some(f),
                        ..
                    }) => format!("{g:.1} ({:.0} %)", f * 100.0),
                    Some(Derived { gbps: Some(g), .. }) => format!("{g:.1}"),
                    _ => "-".into(),
                })
                .collect();
            if vals.iter().all(|x| x == "-") {
                continue;
            }
            let mut row = vec![v.series_name(s), batch.to_string()];
            row.extend(vals);
            t.push(row);
        }
    }
    t
}

/// Energy per sample, µJ, of a record (power x time).
fn energy_uj(v: &View, r: &Record) -> Option<f64> {
    Some(v.power(r).watts * derive(r)?.per_sample_us)
}

/// One row of Fig. 6 or 7: its name, the machine whose CPU dense is the base, and the values.
pub struct RatioRow {
    pub name: String,
    pub batch: usize,
    pub series: Option<SeriesKey>,
    pub values: Vec<Option<f64>>,
}

/// Ratios over the same machine's CPU dense at batch 1 (Fig. 6: time; Fig. 7: energy), per column.
pub fn ratio_rows(v: &View, energy: bool) -> Vec<RatioRow> {
    let figure = |r: &Record| {
        if energy {
            energy_uj(v, r)
        } else {
            derive(r).map(|d| d.per_sample_us)
        }
    };
    let mut rows = Vec::new();
    for batch in BATCHES {
        for s in &v.series {
            let values: Vec<Option<f64>> = v
                .columns
                .iter()
                .map(|c| {
                    let base = figure(v.baseline(&s.machine, s.threads, s.isa.as_deref(), c)?)?;
                    Some(base / figure(v.find(s, c, batch)?)?)
                })
                .collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            rows.push(RatioRow {
                name: format!("{}, batch {batch}", v.series_name(s)),
                batch,
                series: Some(s.clone()),
                values,
            });
        }
    }
    // The EIE model over each machine's CPU dense.
    let machines: Vec<&Machine> = v
        .machines
        .iter()
        .filter(|m| {
            v.columns
                .iter()
                .any(|c| v.baseline(m, 1, None, c).is_some() && v.model(c).is_some())
        })
        .collect();
    for m in &machines {
        let values = v
            .columns
            .iter()
            .map(|c| {
                let base = figure(v.baseline(m, 1, None, c)?)?;
                let model = v.model(c)?.model.as_ref()?;
                Some(
                    base / if energy {
                        model.energy_nj / 1000.0
                    } else {
                        model.actual_us
                    },
                )
            })
            .collect();
        let over = if machines.len() > 1 {
            format!(" (over {})", m.cpu)
        } else {
            String::new()
        };
        rows.push(RatioRow {
            name: format!("ours: EIE model (64 PE), batch 1{over}"),
            batch: 1,
            series: None,
            values,
        });
    }
    rows
}

pub fn ratio_table(v: &View, energy: bool) -> Table {
    let mut h = headers(&["Series"], v);
    h.push(if v.columns.iter().any(|c| c.paper.is_some()) {
        "Geo. mean (Table III layers)"
    } else {
        "Geo. mean (all layers)"
    });
    if energy {
        h.push("Power");
    }
    let mut t = Table::new(&h);
    let mask = in_geomean(&v.columns);
    for r in ratio_rows(v, energy) {
        let mut row = vec![r.name.clone()];
        row.extend(r.values.iter().map(|x| opt(*x, fmt_x)));
        row.push(opt(geomean(&r.values, &mask), fmt_x));
        if energy {
            row.push(match &r.series {
                Some(s) => power_label(v, s, r.batch),
                None => "the model's energy".into(),
            });
        }
        t.push(row);
    }
    let fig = if energy {
        &paper::FIG_7[..]
    } else {
        &paper::FIG_6[..]
    };
    for r in fig {
        let mut row = vec![format!("paper: {}", r.series)];
        row.extend(
            v.columns
                .iter()
                .map(|c| opt(paper_cell(c, &r.values[..9]), fmt_x)),
        );
        row.push(fmt_x(r.values[9]));
        if energy {
            row.push("S2 Table 9 (measured)".into());
        }
        t.push(row);
    }
    t
}

/// The power behind a series at a batch size: its range over the layers and where it came from.
fn power_label(v: &View, s: &SeriesKey, batch: usize) -> String {
    let ps: Vec<_> = v
        .columns
        .iter()
        .filter_map(|c| v.find(s, c, batch))
        .map(|r| v.power(r))
        .collect();
    if ps.is_empty() {
        return "-".into();
    }
    let (lo, hi) = ps.iter().fold((f64::INFINITY, 0.0f64), |(l, h), p| {
        (l.min(p.watts), h.max(p.watts))
    });
    let mut kinds: Vec<&str> = ps.iter().map(|p| p.source.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let kind = kinds.join(" / ");
    if (hi - lo) < 0.05 {
        format!("{lo:.1} W, {kind}")
    } else {
        format!("{lo:.1}-{hi:.1} W, {kind}")
    }
}

/// Table V: Alex-7 frames/s and frames/J (the paper's Alex-7, by identity).
pub fn table_v(v: &View) -> Option<Table> {
    let col = v
        .columns
        .iter()
        .find(|c| c.paper.as_deref() == Some("Alex-7"))?;
    let mut t = Table::new(&[
        "Platform",
        "Batch",
        "Power W",
        "Frames/s",
        "Frames/J",
        "Power from",
    ]);
    for batch in BATCHES {
        for s in &v.series {
            let Some(r) = v.find(s, col, batch) else {
                continue;
            };
            let Some(d) = derive(r) else { continue };
            let p = v.power(r);
            let fps = 1e6 / d.per_sample_us;
            t.push(vec![
                v.series_name(s),
                batch.to_string(),
                format!("{:.1}", p.watts),
                format!("{fps:.0}"),
                format!("{:.1}", fps / p.watts),
                format!("{}: {}", p.source.name(), p.detail),
            ]);
        }
    }
    if let Some(m) = v.model(col).and_then(|r| r.model.as_ref()) {
        t.push(vec![
            "ours: EIE model (64 PE, 45 nm)".into(),
            "1".into(),
            format!("{:.3}", m.power_mw / 1000.0),
            format!("{:.0}", 1e6 / m.actual_us),
            format!("{:.0}", 1e9 / m.energy_nj),
            "the model's energy (Table II calibration)".into(),
        ]);
    }
    for r in &paper::TABLE_V {
        t.push(vec![
            format!("paper: {}", r.platform),
            "1".into(),
            format!("{}", r.power_w),
            format!("{:.0}", r.frames_per_s),
            format!("{}", r.frames_per_j),
            r.source.into(),
        ]);
    }
    Some(t)
}

/// Every record with a check.
fn checks(v: &View) -> impl Iterator<Item = &Record> {
    v.records.iter().filter(|r| r.check.is_some())
}

/// Validation: a count, and one line per check that did not pass plainly.
pub fn validation_summary(v: &View) -> String {
    let all: Vec<&Record> = checks(v).collect();
    let ran: Vec<&&Record> = all
        .iter()
        .filter(|r| r.check.as_ref().is_some_and(|c| c.unavailable.is_none()))
        .collect();
    let passed = ran.iter().filter(|r| r.passed()).count();
    let exact = ran
        .iter()
        .filter(|r| r.passed() && r.check.as_ref().is_some_and(|c| c.exact))
        .count();
    let mut s = format!(
        "{passed} of {} checks passed ({exact} bit-exact fixed-point checks, the rest f32 within DESIGN.md's \
         bound); {} not run (unavailable).\n",
        ran.len(),
        all.len() - ran.len()
    );
    // Measurements a time budget did not reach: one line per backend and batch.
    let mut skipped: Vec<(String, usize, Vec<&str>)> = Vec::new();
    for r in all.iter().filter(|r| {
        r.check
            .as_ref()
            .and_then(|c| c.unavailable.as_deref())
            .is_some_and(|w| w.starts_with(super::collect::NOT_MEASURED))
    }) {
        let name = format!("{} on {}", r.backend, r.platform());
        match skipped
            .iter_mut()
            .find(|(n, b, _)| *n == name && *b == r.batch)
        {
            Some(e) => e.2.push(&r.layer.name),
            None => skipped.push((name, r.batch, vec![&r.layer.name])),
        }
    }
    for (name, batch, layers) in &skipped {
        s.push_str(&format!(
            "- not measured (the time budget ran out): {name}, batch {batch}: {}\n",
            layers.join(", ")
        ));
    }
    for r in all.iter().filter(|r| {
        !r.passed()
            && !r
                .check
                .as_ref()
                .and_then(|c| c.unavailable.as_deref())
                .is_some_and(|w| w.starts_with(super::collect::NOT_MEASURED))
    }) {
        let c = r.check.as_ref().expect("filtered");
        s.push_str(&format!(
            "- {} {} batch {} on {}: {}\n",
            r.layer.name,
            r.backend,
            r.batch,
            r.platform(),
            match &c.unavailable {
                Some(why) => format!("unavailable: {why}"),
                None => format!("FAILED: {}", c.message.as_deref().unwrap_or("")),
            }
        ));
    }
    s
}

pub fn checks_table(v: &View) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Backend",
        "Batch",
        "Platform",
        "Max error",
        "Bound",
        "Result",
    ]);
    for r in checks(v) {
        let c = r.check.as_ref().expect("filtered");
        let mut row = vec![
            r.layer.name.clone(),
            r.backend.to_string(),
            r.batch.to_string(),
            r.platform(),
        ];
        row.extend(check_cells(c));
        t.push(row);
    }
    t
}

/// A check as table cells: the error (outputs that differ, for bit-exact checks), the bound, the verdict.
pub fn check_cells(c: &eie_bench::record::Check) -> [String; 3] {
    [
        if c.unavailable.is_some() {
            "-".into()
        } else if c.exact {
            format!("{} differ", c.max_abs_err)
        } else {
            format!("{:.2e}", c.max_abs_err)
        },
        if c.exact || c.unavailable.is_some() {
            "-".into()
        } else {
            format!("{:.2e}", c.bound)
        },
        match (&c.unavailable, c.ok, c.exact) {
            (Some(why), _, _) => format!("unavailable: {why}"),
            (None, true, exact) => {
                let pass = if exact { "bit-exact" } else { "within bound" };
                match &c.warning {
                    Some(w) => format!("{pass} (warning: {w})"),
                    None => pass.into(),
                }
            }
            (None, false, _) => format!("FAILED: {}", c.message.as_deref().unwrap_or("")),
        },
    ]
}
