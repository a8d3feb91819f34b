//! From records to the report's figures: which layers are columns, which (machine, backend, threads)
//! are series, and every derived figure (time per sample, GB/s, share of bandwidth, power, energy,
//! ratios), computed here and nowhere else. Reads records only; measures nothing.

use eie_baselines::paper;
use eie_bench::backend_id::BackendId;
use eie_bench::record::{Machine, PowerSource, Record};
use std::collections::BTreeMap;

/// The paper's Table V powers, used when nothing is measured or declared.
pub const ASSUMED_CPU_W: f64 = 73.0;
pub const ASSUMED_GPU_W: f64 = 159.0;

/// Powers declared when rendering, for records that carry none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Declared {
    pub cpu_watts: Option<f64>,
    pub gpu_watts: Option<f64>,
}

/// A column: one layer (by name; the content hash tells same-named layers apart).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub label: String,
    pub name: String,
    pub hash: String,
    /// The paper's layer it is, for the paper's numbers.
    pub paper: Option<String>,
}

/// A series: one backend on one machine (and adapter) at one thread count.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub machine: Machine,
    pub platform: String,
    pub backend: BackendId,
    pub threads: usize,
    /// The ISA level our CPU kernel ran at (or a library was capped at): a kernel at `--isa avx2` and at
    /// AVX-512 on one machine are two series.
    pub isa: Option<String>,
}

/// A power figure and where it came from.
#[derive(Clone, Debug)]
pub struct PowerUsed {
    pub watts: f64,
    pub source: PowerSource,
    pub detail: String,
}

/// Records arranged for the tables.
pub struct View {
    pub records: Vec<Record>,
    pub columns: Vec<Column>,
    pub series: Vec<SeriesKey>,
    pub machines: Vec<Machine>,
    pub declared: Declared,
    /// Records dropped because a later one had the same (machine, layer, backend, threads, batch, ISA level).
    pub superseded: usize,
    /// Network-accuracy records (Fig. 10), apart from the per-layer ones; per (machine, network, point)
    /// the latest.
    pub accuracy: Vec<Record>,
}

impl View {
    /// Arranges `records` (later records replace earlier ones of the same key).
    pub fn new(records: Vec<Record>, declared: Declared) -> Self {
        let (accuracy, records): (Vec<Record>, Vec<Record>) =
            records.into_iter().partition(|r| r.accuracy.is_some());
        let mut acc_latest: BTreeMap<String, usize> = BTreeMap::new();
        let mut superseded = 0;
        for (i, r) in accuracy.iter().enumerate() {
            let a = r.accuracy.as_ref().expect("partitioned");
            let key = format!(
                "{:?}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}",
                r.machine,
                r.backend,
                r.batch,
                r.threads,
                r.layer.name,
                r.layer.hash,
                a.axis,
                a.format,
                a.rounding,
                a.weight_bits,
                a.weight_density
            );
            if acc_latest.insert(key, i).is_some() {
                superseded += 1;
            }
        }
        let mut keep: Vec<usize> = acc_latest.into_values().collect();
        keep.sort_unstable();
        let accuracy: Vec<Record> = keep.into_iter().map(|i| accuracy[i].clone()).collect();
        type Identity = (
            String,
            String,
            String,
            BackendId,
            usize,
            usize,
            Option<String>,
        );
        let mut latest: BTreeMap<Identity, usize> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let key = (
                format!("{:?}", r.machine),
                r.platform(),
                r.layer.hash.clone() + &r.layer.name,
                r.backend,
                r.threads,
                r.batch,
                r.isa.clone(),
            );
            if latest.insert(key, i).is_some() {
                superseded += 1;
            }
        }
        let mut keep: Vec<usize> = latest.into_values().collect();
        keep.sort_unstable();
        let records: Vec<Record> = keep.into_iter().map(|i| records[i].clone()).collect();
        let mut columns: Vec<Column> = Vec::new();
        for r in &records {
            if !columns
                .iter()
                .any(|c| c.name == r.layer.name && c.hash == r.layer.hash)
            {
                columns.push(Column {
                    label: r.layer.name.clone(),
                    name: r.layer.name.clone(),
                    hash: r.layer.hash.clone(),
                    paper: checked_paper_tag(&r.layer),
                });
            }
        }
        // Same-named layers with different contents get their hash in the label.
        let labels: Vec<String> = columns
            .iter()
            .map(|c| {
                if columns.iter().filter(|o| o.name == c.name).count() > 1 {
                    format!("{} ({})", c.name, &c.hash[..c.hash.len().min(8)])
                } else {
                    c.name.clone()
                }
            })
            .collect();
        for (c, l) in columns.iter_mut().zip(labels) {
            c.label = l;
        }
        // Table order: the paper's layers in its order, then the rest (the real FC8 too) as they came.
        columns.sort_by_key(|c| {
            c.paper
                .as_deref()
                .filter(|p| *p == c.name)
                .and_then(paper::layer_index)
                .map_or(usize::MAX, |i| i)
        });
        let mut series: Vec<SeriesKey> = Vec::new();
        let mut machines: Vec<Machine> = Vec::new();
        for r in records.iter().filter(|r| r.timing.is_some()) {
            if r.backend == BackendId::EieModel {
                continue;
            }
            let k = SeriesKey {
                machine: r.machine.clone(),
                platform: r.platform(),
                backend: r.backend,
                threads: r.threads,
                isa: r.isa.clone(),
            };
            if !series.contains(&k) {
                series.push(k);
            }
        }
        for r in &records {
            if !machines.contains(&r.machine) {
                machines.push(r.machine.clone());
            }
        }
        // Machines in the order they came; on each, backends in BackendId order, then threads.
        series.sort_by(|a, b| {
            let ma = machines.iter().position(|m| *m == a.machine);
            let mb = machines.iter().position(|m| *m == b.machine);
            (ma, &a.platform, a.backend, a.threads, &a.isa).cmp(&(
                mb,
                &b.platform,
                b.backend,
                b.threads,
                &b.isa,
            ))
        });
        Self {
            records,
            columns,
            series,
            machines,
            declared,
            superseded,
            accuracy,
        }
    }

    /// Several machines (or adapters) in one report: series names say which.
    pub fn multi_machine(&self) -> bool {
        let mut p: Vec<&Machine> = self.series.iter().map(|s| &s.machine).collect();
        p.dedup();
        p.len() > 1
    }

    /// Whether some backend ran at several thread counts on one machine.
    fn several_threads(&self, s: &SeriesKey) -> bool {
        self.series
            .iter()
            .any(|o| o.machine == s.machine && o.backend == s.backend && o.threads != s.threads)
    }

    /// Whether some backend ran at several ISA levels on one machine.
    fn several_isas(&self, s: &SeriesKey) -> bool {
        self.series
            .iter()
            .any(|o| o.machine == s.machine && o.backend == s.backend && o.isa != s.isa)
    }

    /// A series' name in tables.
    pub fn series_name(&self, s: &SeriesKey) -> String {
        // A library someone else wrote is a peer, whether our harness or a script timed it.
        let who = if s.backend.is_library() {
            format!("peer: {}", s.backend.label())
        } else {
            format!("ours: {}", s.backend.label())
        };
        let mut name = who;
        if s.threads > 1 || self.several_threads(s) {
            name.push_str(&format!(" ({} thr)", s.threads));
        }
        if let Some(isa) = s.isa.as_deref().filter(|_| self.several_isas(s)) {
            name.push_str(&format!(" [{isa}]"));
        }
        if self.multi_machine() || s.backend.is_gpu() {
            name.push_str(&format!(" on {}", short_platform(s)));
        }
        name
    }

    /// The timed record of a series on a column at a batch size.
    pub fn find(&self, s: &SeriesKey, c: &Column, batch: usize) -> Option<&Record> {
        self.records.iter().find(|r| {
            r.timing.is_some()
                && r.machine == s.machine
                && r.backend == s.backend
                && r.threads == s.threads
                && r.batch == batch
                && r.platform() == s.platform
                && r.isa == s.isa
                && r.layer.name == c.name
                && r.layer.hash == c.hash
        })
    }

    /// The EIE model's record on a column.
    pub fn model(&self, c: &Column) -> Option<&Record> {
        self.records.iter().find(|r| {
            r.backend == BackendId::EieModel
                && r.model.is_some()
                && r.layer.name == c.name
                && r.layer.hash == c.hash
        })
    }

    /// The baseline of Figs. 6 and 7 for a series: the same machine's `cpu-dense-f32` at batch 1, at the
    /// series' thread count where measured, else at the fewest threads; at the series' ISA level `isa`
    /// where measured (a series at `--isa avx2` over the dense kernel at AVX2; one of a forced walk,
    /// `avx2, window walk`, over the same), else, and for `None` (the EIE model's row), the fastest of
    /// them.
    pub fn baseline(
        &self,
        machine: &Machine,
        threads: usize,
        isa: Option<&str>,
        c: &Column,
    ) -> Option<&Record> {
        let mut cands: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| {
                r.timing.is_some()
                    && r.backend == BackendId::CpuDenseF32
                    && r.batch == 1
                    && r.machine == *machine
                    && r.layer.name == c.name
                    && r.layer.hash == c.hash
            })
            .collect();
        let us = |r: &Record| derive(r).map_or(f64::INFINITY, |d| d.per_sample_us);
        let level = isa.map(|s| s.split(", ").next().unwrap_or(s));
        cands.sort_by(|a, b| {
            let key = |r: &Record| {
                (
                    r.threads != threads,
                    level.is_some() && r.isa.as_deref() != level,
                    r.threads,
                )
            };
            key(a).cmp(&key(b)).then(us(a).total_cmp(&us(b)))
        });
        cands.first().copied()
    }

    /// The power that applies to a record: measured or declared in the record, else declared when
    /// rendering, else the paper's power of the same kind of platform.
    pub fn power(&self, r: &Record) -> PowerUsed {
        if let Some(p) = &r.power {
            return PowerUsed {
                watts: p.watts,
                source: p.source,
                detail: p.detail.clone(),
            };
        }
        let gpu = r.backend.is_gpu() && r.adapter.as_ref().is_none_or(|a| !a.on_cpu());
        let (declared, assumed, what) = if gpu {
            (
                self.declared.gpu_watts,
                ASSUMED_GPU_W,
                "the paper's GPU power (Titan X, Table V); pass --gpu-watts",
            )
        } else {
            (
                self.declared.cpu_watts,
                ASSUMED_CPU_W,
                "the paper's CPU power (i7-5930k, Table V); pass --cpu-watts",
            )
        };
        match declared {
            Some(w) => PowerUsed {
                watts: w,
                source: PowerSource::Declared,
                detail: if gpu { "--gpu-watts" } else { "--cpu-watts" }.into(),
            },
            None => PowerUsed {
                watts: assumed,
                source: PowerSource::Assumed,
                detail: what.into(),
            },
        }
    }
}

/// The platform of a series, shortened for series names.
fn short_platform(s: &SeriesKey) -> String {
    if s.backend.is_gpu() {
        // "llvmpipe (LLVM 15.0.6, 256 bits) (vulkan) on AMD EPYC ..." -> "llvmpipe (vulkan)".
        let name = s.platform.split(" on ").next().unwrap_or(&s.platform);
        let base = name.split(" (").next().unwrap_or(name);
        match name.rsplit_once(" (") {
            Some((_, api)) => format!("{base} ({api}"),
            None => base.to_string(),
        }
    } else {
        s.machine.cpu.clone()
    }
}

/// Figures derived from one timed record.
pub struct Derived {
    pub us: f64,
    pub per_sample_us: f64,
    pub gbps: Option<f64>,
    /// Share of the machine's read bandwidth that applies (CPU-side backends with a probe only).
    pub bandwidth_share: Option<f64>,
    pub entries_per_s: Option<f64>,
}

/// Time per pass (device time where there is one), per sample, GB/s, share of bandwidth.
pub fn derive(r: &Record) -> Option<Derived> {
    let t = r.timing.as_ref()?.best()?;
    let us = t.median_us;
    if !(us.is_finite() && us > 0.0) {
        return None;
    }
    let secs = us * 1e-6;
    let gbps = r.work.map(|w| w.bytes_read as f64 / secs / 1e9);
    let cpu_side = !r.backend.is_gpu() || r.adapter.as_ref().is_some_and(|a| a.on_cpu());
    let share = match (cpu_side, r.bandwidth, r.work, gbps) {
        (true, Some(b), Some(w), Some(g)) => {
            let bw = b.interleaved_gbps.unwrap_or(if w.bytes_read > b.llc_bytes {
                b.cold_gbps
            } else {
                b.hot_gbps
            });
            (bw > 0.0).then(|| g / bw)
        }
        _ => None,
    };
    Some(Derived {
        us,
        per_sample_us: us / r.batch.max(1) as f64,
        gbps,
        bandwidth_share: share,
        entries_per_s: r.work.map(|w| w.entries as f64 / secs),
    })
}

/// Table III's layer sizes (inputs, outputs), in the paper's order.
const PAPER_SIZES: [(usize, usize); 9] = [
    (9216, 4096),
    (4096, 4096),
    (4096, 1000),
    (25088, 4096),
    (4096, 4096),
    (4096, 1000),
    (4096, 600),
    (600, 8791),
    (1201, 2400),
];

/// A record's claim to be one of the paper's layers, kept only when the layer has that layer's size (a
/// records file edited by hand, or written by another tool, cannot put the paper's numbers beside another
/// layer).
fn checked_paper_tag(l: &eie_bench::record::LayerRef) -> Option<String> {
    let p = l.paper.as_deref()?;
    let i = paper::layer_index(p)?;
    if PAPER_SIZES[i] == (l.inputs, l.outputs) {
        Some(p.to_string())
    } else {
        eprintln!(
            "warning: records of {} say it is the paper's {p}, but it is {} x {} (inputs x outputs), not {} x {}: \
             shown without the paper's numbers",
            l.name, l.inputs, l.outputs, PAPER_SIZES[i].0, PAPER_SIZES[i].1
        );
        None
    }
}

/// The paper's value for a column from a 9-wide row.
pub fn paper_cell(c: &Column, row: &[f64]) -> Option<f64> {
    c.paper
        .as_deref()
        .and_then(paper::layer_index)
        .map(|i| row[i])
}

/// Which columns the geometric means cover: the paper's nine where present (the real FC8 is Alex-8
/// again, so only the first column of each paper layer counts), else every column.
pub fn in_geomean(cols: &[Column]) -> Vec<bool> {
    let mut seen: Vec<&str> = Vec::new();
    let nine: Vec<bool> = cols
        .iter()
        .map(|c| match c.paper.as_deref() {
            Some(p) if c.name == p && !seen.contains(&p) => {
                seen.push(p);
                true
            }
            _ => false,
        })
        .collect();
    if nine.iter().any(|&b| b) {
        nine
    } else {
        vec![true; cols.len()]
    }
}

/// Geometric mean of the values `mask` selects; none when one of them is missing.
pub fn geomean(xs: &[Option<f64>], mask: &[bool]) -> Option<f64> {
    let sel: Vec<Option<f64>> = xs
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(x, _)| *x)
        .collect();
    let v: Vec<f64> = sel.iter().flatten().copied().collect();
    (v.len() == sel.len() && !v.is_empty()).then(|| paper::geomean(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(isa: &str, us: f64) -> Record {
        let mut r = crate::compare::tests::timed(1, us);
        r.isa = Some(isa.into());
        r
    }

    fn median(r: Option<&Record>) -> f64 {
        let t = r.expect("a record").timing.as_ref().expect("timed");
        t.wall.as_ref().expect("a spread").median_us
    }

    /// One kernel at two ISA levels on one machine: two series, each named by its level, neither record
    /// superseding the other; a later record at the same level still supersedes the earlier.
    #[test]
    fn isa_levels_are_two_series() {
        let v = View::new(
            vec![at("avx512", 100.0), at("avx2", 150.0), at("avx2", 140.0)],
            Declared::default(),
        );
        assert_eq!((v.series.len(), v.superseded), (2, 1));
        let names: Vec<String> = v.series.iter().map(|s| v.series_name(s)).collect();
        assert!(names.iter().any(|n| n.ends_with("[avx2]")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("[avx512]")), "{names:?}");
        let us = |s: &SeriesKey| median(v.find(s, &v.columns[0], 1));
        let mut got: Vec<f64> = v.series.iter().map(us).collect();
        got.sort_by(f64::total_cmp);
        assert_eq!(got, vec![100.0, 140.0]);
        // Figs. 6/7: each level over the dense kernel at its own level; the model's row over the fastest.
        let base = |isa: Option<&str>| median(v.baseline(&v.machines[0], 1, isa, &v.columns[0]));
        assert_eq!(
            (base(Some("avx2")), base(Some("avx512")), base(None)),
            (140.0, 100.0, 100.0)
        );
        // A forced walk's series (EIE_CPU_EIE_WALK) over the dense kernel at its level.
        assert_eq!(base(Some("avx2, window walk")), 140.0);
        // One level alone: no level in the name.
        let v = View::new(vec![at("avx512", 100.0)], Declared::default());
        assert!(!v.series_name(&v.series[0]).contains('['));
    }
}
