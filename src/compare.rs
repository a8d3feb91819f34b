//! `eie compare BASE.jsonl NEW.jsonl`: NEW's time over BASE's for every (machine, layer, backend, batch,
//! threads) both runs measured (where a run holds a measurement at one thread count only, against the other
//! run's one thread count), with each side's spread, flagging only changes beyond the noise: a change is
//! flagged when the ratio passes `--threshold` *and* the two runs' [min, max] ranges do not overlap (every
//! sample of one run slower than every sample of the other). Network-accuracy records (`eie net`, `eie sweep
//! precision --net`) are compared too, per (network, backend, arithmetic, compression, test set): a drop of
//! `--accuracy-threshold` percentage points or more is flagged. Exit status 1 when a slowdown or an accuracy
//! drop is flagged, so scripts can gate on it.

use crate::report::read_all;
use crate::report::view::derive;
use crate::table::{Format, Table};
use anyhow::{Result, bail};
use eie_bench::backend_id::BackendId;
use eie_bench::record::{NetAccuracy, Record};
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
    /// Smallest change of a network's top-1 accuracy, in percentage points, that is flagged (a drop fails).
    /// The same network, compression and test set give the same count wherever the arithmetic is exact
    /// (fixed point, the EIE model); f32 sums in another order (another ISA level) can move a sample
    /// near a decision boundary, which the default (0.5 points) lets pass on a few hundred samples.
    #[arg(long, default_value_t = 0.5)]
    pub accuracy_threshold: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Pair records of different machines, GPU adapters or CPU ISA levels: one machine's run against
    /// another's (or `--isa avx2` against AVX-512), each side's platform shown. Records that would be
    /// pooled as rounds of one measurement must then come from one machine, platform and ISA level,
    /// else the file is refused, naming them. A slowdown still exits 1.
    #[arg(long)]
    pub across_machines: bool,
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

/// One compared (machine, layer, backend, batch, threads).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub layer: String,
    pub backend: BackendId,
    pub batch: usize,
    /// NEW's platform (the CPU, or the GPU adapter), and BASE's, which differs only with
    /// `--across-machines`.
    pub platform: String,
    pub base_platform: String,
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

/// What an accuracy comparison found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccuracyVerdict {
    Lower,
    Higher,
    /// Within the threshold.
    Same,
}

/// One compared network accuracy: the same network (layer name and content hash), backend, arithmetic,
/// compression and number of test samples in both runs.
#[derive(Clone, Debug, Serialize)]
pub struct AccuracyRow {
    pub network: String,
    pub backend: BackendId,
    /// The arithmetic and compression, as the record states them (`fixed16 floor, 4-bit weights, ...`).
    pub setting: String,
    pub samples: usize,
    pub base_correct: usize,
    pub new_correct: usize,
    /// New accuracy minus base accuracy, in percentage points.
    pub change_pp: f64,
    pub verdict: AccuracyVerdict,
}

/// What `eie compare` found: the timed rows and the accuracy rows (its JSON output).
#[derive(Serialize)]
struct Comparison<'a> {
    times: &'a [Row],
    accuracy: &'a [AccuracyRow],
}

/// The accuracy records of each (network, backend, axis, format, rounding, bits, density, retraining,
/// samples): the last of them where a file holds several (the computation is deterministic).
fn accuracy_by_key(records: &[Record]) -> BTreeMap<String, (&Record, &NetAccuracy)> {
    let mut m = BTreeMap::new();
    for r in records {
        let Some(a) = &r.accuracy else { continue };
        let k = format!(
            "{}#{}|{}|{}|{}|{}|{}|{:.6}|{}|{}",
            r.layer.name,
            r.layer.hash,
            r.backend,
            a.axis,
            a.format,
            a.rounding.as_deref().unwrap_or("-"),
            a.weight_bits,
            a.weight_density,
            a.retrained,
            a.samples
        );
        m.insert(k, (r, a));
    }
    m
}

/// Compares the accuracy records of two runs: `threshold` in percentage points.
pub fn compare_accuracy(base: &[Record], new: &[Record], threshold: f64) -> Vec<AccuracyRow> {
    let b = accuracy_by_key(base);
    accuracy_by_key(new)
        .into_iter()
        .filter_map(|(k, (nr, na))| {
            let (_, ba) = b.get(&k)?;
            let samples = na.samples.max(1) as f64;
            let change_pp = (na.correct as f64 - ba.correct as f64) / samples * 100.0;
            let verdict = if change_pp <= -threshold {
                AccuracyVerdict::Lower
            } else if change_pp >= threshold {
                AccuracyVerdict::Higher
            } else {
                AccuracyVerdict::Same
            };
            Some(AccuracyRow {
                network: nr.layer.name.clone(),
                backend: nr.backend,
                setting: nr.detail.clone(),
                samples: na.samples,
                base_correct: ba.correct,
                new_correct: na.correct,
                change_pp,
                verdict,
            })
        })
        .collect()
}

/// (machine, host, layer, backend, batch, configuration): the host is the platform and ISA level ([`host`]);
/// the configuration is hot or cold data, and for
/// the EIE model its settings (PEs, clock, FIFO, precision), which make it other hardware.
type Measurement = (String, String, String, BackendId, usize, String);

/// A [`Measurement`] at a thread count. A file may hold one measurement at several thread counts (a run
/// of `scripts/cpu-targets.sh` holds each kernel at 1 and 2), and those are not rounds of one time
/// (compare once pooled them as such).
type Key = (Measurement, usize);

/// The timed records of each key: several when a file holds several rounds of the same measurement.
/// The key holds the machine and the host ([`host`]: platform and ISA level), so that records of two
/// machines or two ISA levels are never pooled as rounds of one; `across` leaves both out
/// ([`one_host_per_key`] checks that each key's records still come from one).
fn by_key(records: Vec<Record>, across: bool) -> BTreeMap<Key, Vec<Record>> {
    let mut m: BTreeMap<Key, Vec<Record>> = BTreeMap::new();
    for r in records.into_iter().filter(|r| derive(r).is_some()) {
        let (machine, platform) = if across {
            (String::new(), String::new())
        } else {
            (format!("{:?}", r.machine), host(&r))
        };
        let k = (
            machine,
            platform,
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
        m.entry((k, r.threads)).or_default().push(r);
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

/// The thread counts each measurement has in `m`.
fn thread_counts(m: &BTreeMap<Key, Vec<Record>>) -> BTreeMap<&Measurement, Vec<usize>> {
    let mut t: BTreeMap<&Measurement, Vec<usize>> = BTreeMap::new();
    for (k, threads) in m.keys() {
        t.entry(k).or_default().push(*threads);
    }
    t
}

/// Compares two sets of records: each measurement at each thread count both hold; and where a
/// measurement has one thread count on each side and they differ, those two (`--threads 1` in one file
/// against `--threads 2` in the other). Also the number of keys only in BASE and only in NEW.
/// `across`: pair records whatever their machine, platform and ISA level (`--across-machines`; each key's
/// records on a side must come from one: [`one_host_per_key`]).
pub fn compare(
    base: Vec<Record>,
    new: Vec<Record>,
    threshold: f64,
    across: bool,
) -> (Vec<Row>, usize, usize) {
    let b = by_key(base, across);
    let n = by_key(new, across);
    let (b_threads, n_threads) = (thread_counts(&b), thread_counts(&n));
    let base_key = |(m, t): &Key| -> Option<Key> {
        if b.contains_key(&(m.clone(), *t)) {
            return Some((m.clone(), *t));
        }
        match (b_threads.get(m)?.as_slice(), n_threads.get(m)?.as_slice()) {
            ([one], [_]) => Some((m.clone(), *one)),
            _ => None,
        }
    };
    let mut rows = Vec::new();
    let mut paired = std::collections::BTreeSet::new();
    let mut new_paired = 0;
    for (k, nrs) in &n {
        let Some(bk) = base_key(k) else { continue };
        let brs = &b[&bk];
        paired.insert(bk);
        new_paired += 1;
        let (Some(bt), Some(nt)) = (pooled(brs), pooled(nrs)) else {
            continue;
        };
        let (br, nr) = (&brs[0], &nrs[0]);
        rows.push(Row {
            layer: nr.layer.name.clone(),
            backend: nr.backend,
            batch: nr.batch,
            platform: host(nr),
            base_platform: host(br),
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
    let only_base = b.keys().filter(|k| !paired.contains(*k)).count();
    let only_new = n.len() - new_paired;
    (rows, only_base, only_new)
}

/// Where a record ran, as the table shows it: its platform ([`Record::platform`]) and its ISA level where
/// it has one (our CPU kernels; libraries `cpu-libs.py --isa` capped).
fn host(r: &Record) -> String {
    match &r.isa {
        Some(isa) => format!("{}, {isa}", r.platform()),
        None => r.platform(),
    }
}

/// For `--across-machines`: an error unless the records that would be pooled as rounds of one
/// measurement (same layer, backend, batch and threads) come from one machine and host ([`host`]). A
/// file may hold several machines, each for other measurements.
fn one_host_per_key(records: &[Record], file: &std::path::Path) -> Result<()> {
    for ((m, threads), rs) in by_key(records.to_vec(), true) {
        let hosts: std::collections::BTreeSet<String> = rs
            .iter()
            .map(|r| {
                let (c, h) = (&r.machine, host(r));
                // A GPU's platform is its adapter alone: the CPU tells two machines with one GPU apart.
                let cpu = if h.contains(&c.cpu) {
                    String::new()
                } else {
                    format!("{}, ", c.cpu)
                };
                format!("{h} ({cpu}{} logical CPUs, {})", c.logical_cpus, c.os)
            })
            .collect();
        if hosts.len() > 1 {
            bail!(
                "--across-machines: {} holds {} on {} at batch {} ({}), {threads} thread(s), from {} machines \
                 or ISA levels ({}): their times would be pooled as rounds of one; give each side one",
                file.display(),
                m.3,
                m.2.split('#').next().unwrap_or_default(),
                m.4,
                m.5,
                hosts.len(),
                hosts.into_iter().collect::<Vec<_>>().join("; ")
            );
        }
    }
    Ok(())
}

/// Runs `eie compare`.
pub fn run(args: Args) -> Result<()> {
    if !(args.threshold.is_finite() && args.threshold > 1.0 && args.threshold <= 1000.0) {
        bail!(
            "--threshold {}: expected a ratio above 1 and at most 1000 (e.g. 1.2 for 20 %)",
            args.threshold
        );
    }
    if !(args.accuracy_threshold.is_finite()
        && args.accuracy_threshold > 0.0
        && args.accuracy_threshold <= 100.0)
    {
        bail!(
            "--accuracy-threshold {}: expected percentage points above 0 and at most 100 (e.g. 0.5)",
            args.accuracy_threshold
        );
    }
    let base = read_all(std::slice::from_ref(&args.base))?;
    let new = read_all(std::slice::from_ref(&args.new))?;
    if args.across_machines {
        one_host_per_key(&base, &args.base)?;
        one_host_per_key(&new, &args.new)?;
    }
    let accuracy = compare_accuracy(&base, &new, args.accuracy_threshold);
    let (rows, only_base, only_new) = compare(base, new, args.threshold, args.across_machines);
    if rows.is_empty() && accuracy.is_empty() {
        bail!(
            "{} and {} have no (machine, layer, backend, batch, threads) and no network accuracy in common: nothing \
             to compare{}",
            args.base.display(),
            args.new.display(),
            if args.across_machines {
                ""
            } else {
                " (timed records of two machines pair only with --across-machines)"
            }
        );
    }
    let slower = rows.iter().filter(|r| r.verdict == Verdict::Slower).count();
    let faster = rows.iter().filter(|r| r.verdict == Verdict::Faster).count();
    let lower = accuracy
        .iter()
        .filter(|r| r.verdict == AccuracyVerdict::Lower)
        .count();
    let higher = accuracy
        .iter()
        .filter(|r| r.verdict == AccuracyVerdict::Higher)
        .count();
    match args.format {
        Format::Json => {
            let c = Comparison {
                times: &rows,
                accuracy: &accuracy,
            };
            println!("{}", serde_json::to_string_pretty(&c)?)
        }
        Format::Csv => {
            if !rows.is_empty() {
                print!("{}", table(&rows).csv());
            }
            if !accuracy.is_empty() {
                if !rows.is_empty() {
                    println!();
                }
                print!("{}", accuracy_table(&accuracy).csv());
            }
        }
        Format::Md => {
            if !rows.is_empty() {
                print!("{}", table(&rows).markdown());
                println!(
                    "\n{} compared: {slower} slower, {faster} faster beyond the noise (ratio past {:.2}x and the two \
                     runs' interquartile ranges apart), {} within it; {only_base} only in {}, {only_new} only in {}.",
                    rows.len(),
                    args.threshold,
                    rows.len() - slower - faster,
                    args.base.display(),
                    args.new.display()
                );
            }
            if !accuracy.is_empty() {
                if !rows.is_empty() {
                    println!();
                }
                print!("{}", accuracy_table(&accuracy).markdown());
                println!(
                    "\n{} network accuracies compared: {lower} lower, {higher} higher by {} percentage points or \
                     more, {} within that.",
                    accuracy.len(),
                    args.accuracy_threshold,
                    accuracy.len() - lower - higher
                );
            }
        }
    }
    let mut failures = Vec::new();
    if slower > 0 {
        failures.push(format!(
            "{slower} of {} slower beyond the noise",
            rows.len()
        ));
    }
    if lower > 0 {
        failures.push(format!(
            "{lower} of {} network accuracies lower by {} points or more",
            accuracy.len(),
            args.accuracy_threshold
        ));
    }
    if !failures.is_empty() {
        bail!("{} in {}", failures.join(", "), args.new.display());
    }
    Ok(())
}

fn accuracy_table(rows: &[AccuracyRow]) -> Table {
    let mut t = Table::new(&[
        "Network",
        "Backend",
        "Setting",
        "Samples",
        "Base top-1",
        "New top-1",
        "Change (points)",
        "Verdict",
    ]);
    for r in rows {
        let pct = |c: usize| 100.0 * c as f64 / r.samples.max(1) as f64;
        t.push(vec![
            r.network.clone(),
            r.backend.to_string(),
            r.setting.clone(),
            r.samples.to_string(),
            format!("{:.2} % ({})", pct(r.base_correct), r.base_correct),
            format!("{:.2} % ({})", pct(r.new_correct), r.new_correct),
            format!("{:+.2}", r.change_pp),
            match r.verdict {
                AccuracyVerdict::Lower => "LOWER".into(),
                AccuracyVerdict::Higher => "higher".into(),
                AccuracyVerdict::Same => "~".into(),
            },
        ]);
    }
    t
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
            if r.base_platform == r.platform {
                r.platform.clone()
            } else {
                format!("{} -> {}", r.base_platform, r.platform)
            },
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
pub(crate) mod tests {
    use super::*;
    use eie_bench::record::{LayerRef, Spread, TimeSource, Timing};

    fn accuracy(format: &str, samples: usize, correct: usize) -> Record {
        let mut r = Record::new(
            LayerRef {
                name: "net".into(),
                hash: "h".into(),
                paper: None,
                inputs: 64,
                outputs: 10,
            },
            BackendId::EieModel,
            1,
            1,
        );
        r.detail = format!("{format}, 4-bit weights");
        r.accuracy = Some(NetAccuracy {
            network: "a net".into(),
            axis: "format".into(),
            format: format.into(),
            rounding: None,
            weight_bits: 4,
            weight_density: 0.1,
            retrained: true,
            samples,
            correct,
            saturated: 0,
            wrapped: 0,
            model_cycles: None,
            model_us: None,
            model_energy_nj: None,
        });
        r
    }

    #[test]
    fn flags_an_accuracy_drop_past_the_threshold_on_the_same_test_set() {
        let base = vec![accuracy("fixed16", 359, 348), accuracy("float32", 359, 348)];
        let verdicts = |new: Vec<Record>| -> Vec<(String, AccuracyVerdict)> {
            compare_accuracy(&base, &new, 0.5)
                .into_iter()
                .map(|r| (r.setting, r.verdict))
                .collect()
        };
        // Two samples of 359 fewer (0.56 points): lower; one fewer (0.28 points): within the threshold.
        let v = verdicts(vec![
            accuracy("fixed16", 359, 346),
            accuracy("float32", 359, 347),
        ]);
        assert_eq!(
            v,
            vec![
                ("fixed16, 4-bit weights".to_string(), AccuracyVerdict::Lower),
                ("float32, 4-bit weights".to_string(), AccuracyVerdict::Same),
            ]
        );
        // Three more (0.84 points): higher.
        let v = verdicts(vec![accuracy("fixed16", 359, 351)]);
        assert_eq!(v[0].1, AccuracyVerdict::Higher);
        // Another test set (sample count) or another arithmetic is not the same measurement.
        assert!(
            verdicts(vec![
                accuracy("fixed16", 360, 300),
                accuracy("fixed8", 359, 3)
            ])
            .is_empty()
        );
    }

    /// A record of our dense kernel on a VGG-8-shaped layer, timed at `us` (±1 %) on `threads` threads.
    pub(crate) fn timed(threads: usize, us: f64) -> Record {
        let mut r = Record::new(
            LayerRef {
                name: "VGG-8".into(),
                hash: "h".into(),
                paper: None,
                inputs: 4096,
                outputs: 1000,
            },
            BackendId::CpuDenseF32,
            1,
            threads,
        );
        r.timing = Some(Timing {
            source: TimeSource::Harness,
            wall: Spread::of(&mut [us * 0.99, us, us * 1.01]),
            device: None,
            samples: 3,
            cold: false,
            copies: 1,
            file: None,
        });
        r
    }

    #[test]
    fn compares_each_thread_count_on_its_own() {
        // One run with the same kernel at 1 and 2 threads, against itself: two rows, each 1.00x, not one
        // row pooling 1 and 2 threads as two rounds.
        let run = || vec![timed(1, 200.0), timed(2, 110.0)];
        let (rows, only_base, only_new) = compare(run(), run(), 1.2, false);
        assert_eq!((rows.len(), only_base, only_new), (2, 0, 0));
        for r in &rows {
            assert_eq!(r.base_threads, r.new_threads);
            assert_eq!((r.base_rounds, r.new_rounds), (1, 1));
            assert!((r.ratio - 1.0).abs() < 1e-9, "{}", r.ratio);
        }
        // Only the 2-thread time halves: only its row is flagged.
        let (rows, ..) = compare(run(), vec![timed(1, 200.0), timed(2, 55.0)], 1.2, false);
        let faster: Vec<usize> = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Faster)
            .map(|r| r.new_threads)
            .collect();
        assert_eq!(faster, vec![2]);
        // One thread count a side, different: paired (`--threads 1` against `--threads 2`).
        let (rows, only_base, only_new) =
            compare(vec![timed(1, 200.0)], vec![timed(2, 100.0)], 1.2, false);
        assert_eq!((rows.len(), only_base, only_new), (1, 0, 0));
        assert_eq!((rows[0].base_threads, rows[0].new_threads), (1, 2));
        assert_eq!(rows[0].verdict, Verdict::Faster);
        // One thread count in BASE, that one and another in NEW: the one pairs, the other is NEW's alone.
        let (rows, only_base, only_new) = compare(vec![timed(1, 200.0)], run(), 1.2, false);
        assert_eq!((rows.len(), only_base, only_new), (1, 0, 1));
        assert_eq!((rows[0].base_threads, rows[0].new_threads), (1, 1));
        // Two on one side, another on the other: nothing to pair them by.
        let (rows, only_base, only_new) = compare(run(), vec![timed(4, 60.0)], 1.2, false);
        assert_eq!((rows.len(), only_base, only_new), (0, 2, 1));
    }

    #[test]
    fn pairs_two_machines_only_when_asked() {
        let on = |cpu: &str, us: f64| {
            let mut r = timed(1, us);
            r.machine.cpu = cpu.into();
            r
        };
        let (base, new) = (vec![on("Zen 3", 200.0)], vec![on("Zen 5", 100.0)]);
        let (rows, only_base, only_new) = compare(base.clone(), new.clone(), 1.2, false);
        assert_eq!((rows.len(), only_base, only_new), (0, 1, 1));
        let (rows, ..) = compare(base.clone(), new.clone(), 1.2, true);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].base_platform.as_str(), rows[0].platform.as_str()),
            ("Zen 3", "Zen 5")
        );
        assert_eq!(rows[0].verdict, Verdict::Faster);
        assert!(table(&rows).markdown().contains("Zen 3 -> Zen 5"));
        // A side with two machines would pool their times as rounds: refused, naming both.
        let two = vec![on("Zen 3", 200.0), on("Zen 4", 150.0)];
        let e = one_host_per_key(&two, std::path::Path::new("base.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("base.jsonl") && e.contains("Zen 3") && e.contains("Zen 4"),
            "{e}"
        );
        assert!(one_host_per_key(&base, std::path::Path::new("base.jsonl")).is_ok());
        // Two machines in one file, each for another layer: nothing would be pooled, accepted.
        let mut other = on("Zen 4", 150.0);
        other.layer.name = "other".into();
        assert!(one_host_per_key(&[on("Zen 3", 200.0), other], std::path::Path::new("b")).is_ok());
    }

    #[test]
    fn isa_levels_are_kept_apart() {
        let at = |isa: &str, us: f64| {
            let mut r = timed(1, us);
            r.isa = Some(isa.into());
            r
        };
        // One file with a kernel at AVX2 and at AVX-512: two measurements, not two rounds of one.
        let (rows, only_base, only_new) = compare(
            vec![at("avx512", 100.0), at("avx2", 150.0)],
            vec![at("avx512", 100.0)],
            1.2,
            false,
        );
        assert_eq!((rows.len(), only_base, only_new), (1, 1, 0));
        assert_eq!((rows[0].base_rounds, rows[0].verdict), (1, Verdict::Same));
        assert!(
            rows[0].platform.ends_with(", avx512"),
            "{}",
            rows[0].platform
        );
        // Across: AVX-512 against AVX2, shown; a side holding both for one key is refused.
        let (rows, ..) = compare(
            vec![at("avx512", 100.0)],
            vec![at("avx2", 150.0)],
            1.2,
            true,
        );
        assert_eq!(rows.len(), 1);
        assert!(table(&rows).markdown().contains(", avx512 -> "));
        assert_eq!(rows[0].verdict, Verdict::Slower);
        let both = [at("avx512", 100.0), at("avx2", 150.0)];
        let e = one_host_per_key(&both, std::path::Path::new("base.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("avx2") && e.contains("avx512"), "{e}");
    }

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
