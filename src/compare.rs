//! `eie compare BASE.jsonl NEW.jsonl`: NEW's time over BASE's for every (machine, layer, backend, batch)
//! both runs measured, with each side's spread, flagging only changes beyond the noise: a change is
//! flagged when the ratio passes `--threshold` *and* the two runs' [min, max] ranges do not overlap (every
//! sample of one run slower than every sample of the other). Exit status 1 when a slowdown is flagged, so
//! scripts can gate on it.

use crate::report::read_all;
use crate::report::view::derive;
use crate::table::{Format, Table};
use anyhow::{Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::record::Record;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Flags of `eie compare`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The baseline run's records.
    #[arg(value_name = "BASE.jsonl")]
    pub base: PathBuf,
    /// The new run's records.
    #[arg(value_name = "NEW.jsonl")]
    pub new: PathBuf,
    /// Smallest ratio (either way) that can be flagged, > 1.
    #[arg(long, default_value_t = 1.2)]
    pub threshold: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// What a comparison found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Slower,
    Faster,
    /// Within the threshold or within both runs' noise.
    Same,
}

/// One compared (machine, layer, backend, batch).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub layer: String,
    pub backend: BackendId,
    pub batch: usize,
    pub platform: String,
    pub base_threads: usize,
    pub new_threads: usize,
    /// Records (rounds) pooled on each side.
    pub base_rounds: usize,
    pub new_rounds: usize,
    pub base_us: f64,
    pub base_range: (f64, f64),
    pub new_us: f64,
    pub new_range: (f64, f64),
    pub ratio: f64,
    pub verdict: Verdict,
}

/// (machine, platform, layer, backend, batch, configuration): the configuration is hot or cold data, and for
/// the EIE model its settings (PEs, clock, FIFO, precision), which make it other hardware.
type Key = (String, String, String, BackendId, usize, String);

/// The timed records of each key: several when a file holds several rounds of the same measurement.
fn by_key(records: Vec<Record>) -> BTreeMap<Key, Vec<Record>> {
    let mut m: BTreeMap<Key, Vec<Record>> = BTreeMap::new();
    for r in records.into_iter().filter(|r| derive(r).is_some()) {
        let k = (
            format!("{:?}", r.machine),
            r.platform(),
            format!("{}#{}", r.layer.name, r.layer.hash),
            r.backend,
            r.batch,
            format!(
                "{}{}",
                if r.timing.as_ref().is_some_and(|t| t.cold) {
                    "cold"
                } else {
                    "hot"
                },
                if r.backend == BackendId::EieModel {
                    format!(", {}", r.detail)
                } else {
                    String::new()
                }
            ),
        );
        m.entry(k).or_default().push(r);
    }
    m
}

/// One side of a comparison: (median, low, high) pooled over its rounds: the median of the rounds' medians,
/// and the lowest first quartile and highest third quartile of any round, so that the drift between rounds
/// (which one round cannot show) counts as noise.
fn pooled(rs: &[Record]) -> Option<(f64, f64, f64)> {
    let spreads: Vec<_> = rs
        .iter()
        .filter_map(|r| r.timing.as_ref().and_then(|t| t.best()))
        .collect();
    let mut medians: Vec<f64> = spreads.iter().map(|s| s.median_us).collect();
    medians.sort_by(f64::total_cmp);
    let median = *medians.get(medians.len() / 2)?;
    let lo = spreads
        .iter()
        .map(|s| s.noise().0)
        .fold(f64::INFINITY, f64::min);
    let hi = spreads.iter().map(|s| s.noise().1).fold(0.0, f64::max);
    Some((median, lo, hi))
}

/// The verdict on BASE -> NEW, each (median, low, high): beyond `threshold` and outside both noise ranges.
pub fn verdict(base: (f64, f64, f64), new: (f64, f64, f64), threshold: f64) -> Verdict {
    let (bm, blo, bhi) = base;
    let (nm, nlo, nhi) = new;
    let ratio = nm / bm;
    if ratio >= threshold && nlo > bhi {
        Verdict::Slower
    } else if ratio <= 1.0 / threshold && nhi < blo {
        Verdict::Faster
    } else {
        Verdict::Same
    }
}

/// Compares two sets of records.
pub fn compare(base: Vec<Record>, new: Vec<Record>, threshold: f64) -> (Vec<Row>, usize, usize) {
    let b = by_key(base);
    let n = by_key(new);
    let mut rows = Vec::new();
    for (k, nrs) in &n {
        let Some(brs) = b.get(k) else { continue };
        let (Some(bt), Some(nt)) = (pooled(brs), pooled(nrs)) else {
            continue;
        };
        let (br, nr) = (&brs[0], &nrs[0]);
        rows.push(Row {
            layer: nr.layer.name.clone(),
            backend: nr.backend,
            batch: nr.batch,
            platform: nr.platform(),
            base_threads: br.threads,
            new_threads: nr.threads,
            base_rounds: brs.len(),
            new_rounds: nrs.len(),
            base_us: bt.0,
            base_range: (bt.1, bt.2),
            new_us: nt.0,
            new_range: (nt.1, nt.2),
            ratio: nt.0 / bt.0,
            verdict: verdict(bt, nt, threshold),
        });
    }
    let only_base = b.keys().filter(|k| !n.contains_key(*k)).count();
    let only_new = n.keys().filter(|k| !b.contains_key(*k)).count();
    (rows, only_base, only_new)
}

/// Runs `eie compare`.
pub fn run(args: Args) -> Result<()> {
    if !(args.threshold.is_finite() && args.threshold > 1.0 && args.threshold <= 1000.0) {
        bail!(
            "--threshold {}: expected a ratio above 1 and at most 1000 (e.g. 1.2 for 20 %)",
            args.threshold
        );
    }
    let base = read_all(std::slice::from_ref(&args.base))?;
    let new = read_all(std::slice::from_ref(&args.new))?;
    let (rows, only_base, only_new) = compare(base, new, args.threshold);
    if rows.is_empty() {
        bail!(
            "{} and {} have no (machine, layer, backend, batch) in common: nothing to compare",
            args.base.display(),
            args.new.display()
        );
    }
    let slower = rows.iter().filter(|r| r.verdict == Verdict::Slower).count();
    let faster = rows.iter().filter(|r| r.verdict == Verdict::Faster).count();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => print!("{}", table(&rows).csv()),
        Format::Md => {
            print!("{}", table(&rows).markdown());
            println!(
                "\n{} compared: {slower} slower, {faster} faster beyond the noise (ratio past {:.2}x and the two runs' \
                 interquartile ranges apart), {} within it; {only_base} only in {}, {only_new} only in {}.",
                rows.len(),
                args.threshold,
                rows.len() - slower - faster,
                args.base.display(),
                args.new.display()
            );
        }
    }
    if slower > 0 {
        bail!(
            "{slower} of {} slower beyond the noise in {}",
            rows.len(),
            args.new.display()
        );
    }
    Ok(())
}

fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(&[
        "Layer",
        "Backend",
        "Batch",
        "Platform",
        "Threads",
        "Rounds",
        "Base µs (IQR)",
        "New µs (IQR)",
        "New / base",
        "Verdict",
    ]);
    for r in rows {
        t.push(vec![
            r.layer.clone(),
            r.backend.to_string(),
            r.batch.to_string(),
            r.platform.clone(),
            if r.base_threads == r.new_threads {
                r.new_threads.to_string()
            } else {
                format!("{} -> {}", r.base_threads, r.new_threads)
            },
            format!("{} / {}", r.base_rounds, r.new_rounds),
            format!(
                "{:.1} ({:.1}-{:.1})",
                r.base_us, r.base_range.0, r.base_range.1
            ),
            format!(
                "{:.1} ({:.1}-{:.1})",
                r.new_us, r.new_range.0, r.new_range.1
            ),
            format!("{:.2}x", r.ratio),
            match r.verdict {
                Verdict::Slower => "SLOWER".into(),
                Verdict::Faster => "faster".into(),
                Verdict::Same => "~".into(),
            },
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_changes_beyond_threshold_and_noise() {
        // 2x slower, ranges apart: flagged.
        assert_eq!(
            verdict((10.0, 9.0, 11.0), (20.0, 19.0, 22.0), 1.2),
            Verdict::Slower
        );
        // 2x slower but the base run was as noisy: not flagged.
        assert_eq!(
            verdict((10.0, 9.0, 25.0), (20.0, 19.0, 22.0), 1.2),
            Verdict::Same
        );
        // Apart but within the threshold: not flagged.
        assert_eq!(
            verdict((10.0, 9.9, 10.1), (11.0, 10.9, 11.1), 1.2),
            Verdict::Same
        );
        assert_eq!(
            verdict((20.0, 19.0, 22.0), (10.0, 9.0, 11.0), 1.2),
            Verdict::Faster
        );
    }
}
