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
    pub base_us: f64,
    pub base_range: (f64, f64),
    pub new_us: f64,
    pub new_range: (f64, f64),
    pub ratio: f64,
    pub verdict: Verdict,
}

type Key = (String, String, String, BackendId, usize);

/// The latest timed record of each key, and how many were superseded.
fn by_key(records: Vec<Record>) -> (BTreeMap<Key, Record>, usize) {
    let mut m = BTreeMap::new();
    let mut dup = 0;
    for r in records.into_iter().filter(|r| derive(r).is_some()) {
        let k = (
            format!("{:?}", r.machine),
            r.platform(),
            format!("{}#{}", r.layer.name, r.layer.hash),
            r.backend,
            r.batch,
        );
        if m.insert(k, r).is_some() {
            dup += 1;
        }
    }
    (m, dup)
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
    let (b, _) = by_key(base);
    let (n, _) = by_key(new);
    let mut rows = Vec::new();
    for (k, nr) in &n {
        let Some(br) = b.get(k) else { continue };
        let (Some(bt), Some(nt)) = (
            br.timing.as_ref().and_then(|t| t.best()),
            nr.timing.as_ref().and_then(|t| t.best()),
        ) else {
            continue;
        };
        let (blo, bhi) = bt.noise();
        let (nlo, nhi) = nt.noise();
        rows.push(Row {
            layer: nr.layer.name.clone(),
            backend: nr.backend,
            batch: nr.batch,
            platform: nr.platform(),
            base_threads: br.threads,
            new_threads: nr.threads,
            base_us: bt.median_us,
            base_range: (blo, bhi),
            new_us: nt.median_us,
            new_range: (nlo, nhi),
            ratio: nt.median_us / bt.median_us,
            verdict: verdict(
                (bt.median_us, blo, bhi),
                (nt.median_us, nlo, nhi),
                threshold,
            ),
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
