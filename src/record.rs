//! The measurement record: the one thing every measuring command produces (`eie measure`, `validate`,
//! `simulate`, the main job, criterion's results imported, PyTorch's rows from `scripts/gpu-libs.py`), and
//! the one thing `eie report` and `eie compare` read. JSON Lines, one record a line, with a `schema`
//! version; files from different machines and days go side by side.
//!
//! A record states what ran (layer and its content hash, backend, batch, threads, ISA level, adapter,
//! machine), how it was timed (source, median/min/max over the samples, wall and device time), what it did
//! (entries, MACs, bytes), its verification, the power while it ran where one was measured or declared, and
//! the tool and time. Derived figures (GB/s, per-sample time, speedups, energy) are computed when rendering,
//! never stored.

use crate::backend_id::BackendId;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Seek, Write};
use std::path::Path;

/// The schema version this build writes and reads.
pub const SCHEMA: u32 = 1;

/// One result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub schema: u32,
    pub layer: LayerRef,
    pub backend: BackendId,
    pub batch: usize,
    /// Threads of our CPU kernels (1 for everything else).
    pub threads: usize,
    /// The ISA level our CPU kernels ran at (`avx512`, `avx2`, `portable`; with the batch-1 walk
    /// appended where `EIE_CPU_EIE_WALK` forced one, `avx2, window walk`), or the level a library was
    /// capped at (`scripts/cpu-libs.py --isa`); none for other backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// The backend's own description of how it ran (kernel variant, passes per submit, ...).
    #[serde(default)]
    pub detail: String,
    /// The GPU adapter, for GPU backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Adapter>,
    pub machine: Machine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkDone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<Power>,
    /// This machine's read bandwidth, measured in the same run (for the share of it a kernel reaches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// The EIE model's figures (backend `eie-model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelFigures>,
    /// A whole network's accuracy in one arithmetic (`eie sweep precision --net`): the report's Fig. 10.
    /// The layer is then the network (its name, a digest of its layers' hashes, its inputs and outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<NetAccuracy>,
    pub tool: Tool,
    /// When it was measured, UTC, RFC 3339.
    pub time: String,
}

/// The layer a record is about.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerRef {
    pub name: String,
    /// The compressed layer's content hash (codebook, codes, encoding, input): two records with the same
    /// hash ran on identical data.
    pub hash: String,
    /// The paper's layer this one is (Table III's name), when it is one: a built-in layer with the default
    /// compression, or the real AlexNet FC8 (the paper's Alex-8). Paper numbers attach by this, never by the
    /// name a user chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
    pub inputs: usize,
    pub outputs: usize,
}

/// A GPU adapter as wgpu reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Adapter {
    pub name: String,
    /// wgpu's backend: vulkan, gl, metal, dx12 (or "cuda" for the PyTorch rows).
    pub backend: String,
    pub driver: String,
    /// wgpu's device type: DiscreteGpu, IntegratedGpu, Cpu (lavapipe), ...
    pub device_type: String,
}

impl Adapter {
    /// Whether it runs on the host CPU (lavapipe, llvmpipe): its power is the CPU's.
    pub fn on_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }
}

/// The machine that measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Machine {
    /// CPU model from /proc/cpuinfo (or the architecture where there is none).
    pub cpu: String,
    pub logical_cpus: usize,
    /// `linux x86_64`, ...
    pub os: String,
}

/// Where a time comes from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSource {
    /// Our harness: median of repeated verified runs after warm-up (wall time, and GPU timestamps where
    /// the adapter has them).
    Harness,
    /// criterion's median estimate (`target/criterion/.../new/estimates.json`).
    Criterion,
    /// CUDA events around back-to-back library calls (PyTorch, `scripts/gpu-libs.py`).
    CudaEvents,
    /// The EIE model's simulated cycles.
    Model,
    /// A script's wall clock around back-to-back library calls on the CPU (`scripts/cpu-libs.py`: PyTorch,
    /// numpy, scipy; the Python call overhead included).
    WallClock,
}

/// A time over its samples, µs per forward pass of `batch` samples.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median_us: f64,
    /// Fastest and slowest sample, where the source kept them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_us: Option<f64>,
    /// First and third quartile of the samples, where the source kept them: the run's noise, robust to the
    /// odd slow sample that a shared machine gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q1_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q3_us: Option<f64>,
}

impl Spread {
    /// A time known only by one figure.
    pub fn point(us: f64) -> Self {
        Self {
            median_us: us,
            min_us: None,
            max_us: None,
            q1_us: None,
            q3_us: None,
        }
    }

    /// Median, min and max of `samples` (µs); none when empty.
    pub fn of(samples: &mut [f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        Some(Self {
            median_us: samples[n / 2],
            min_us: Some(samples[0]),
            max_us: Some(samples[n - 1]),
            q1_us: Some(samples[n / 4]),
            q3_us: Some(samples[(3 * n) / 4]),
        })
    }

    /// The run's noise: the interquartile range where the samples were kept, else (min, max), else the
    /// median alone.
    pub fn noise(&self) -> (f64, f64) {
        match (self.q1_us, self.q3_us) {
            (Some(a), Some(b)) => (a, b),
            _ => self.range(),
        }
    }

    /// (min, max), the median standing in for a missing end.
    pub fn range(&self) -> (f64, f64) {
        (
            self.min_us.unwrap_or(self.median_us),
            self.max_us.unwrap_or(self.median_us),
        )
    }
}

/// How a record was timed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Timing {
    pub source: TimeSource,
    /// Wall time per pass (for GPU backends: input upload, kernels and read-back, shared by the passes
    /// of a submit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<Spread>,
    /// Device time per pass (GPU timestamp queries around the compute pass, or CUDA events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Spread>,
    /// Timed samples.
    pub samples: usize,
    /// Rotated over copies larger than the last-level cache (DRAM-cold data).
    #[serde(default)]
    pub cold: bool,
    /// Copies of the layer rotated over.
    #[serde(default = "one")]
    pub copies: usize,
    /// Where the source was a file (criterion's estimates), the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

fn one() -> usize {
    1
}

impl Timing {
    /// The time tables use: the device time where there is one (the paper's GPU times exclude transfers
    /// too), else the wall time.
    pub fn best(&self) -> Option<Spread> {
        self.device.or(self.wall)
    }
}

/// What a forward pass did.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkDone {
    /// Matrix entries the backend reads (dense: every weight; sparse: stored entries, padding included).
    pub entries: u64,
    /// Useful multiply-accumulates (non-zero weight x non-zero activation).
    pub macs: u64,
    /// Bytes the backend must read (weights, indices, input).
    pub bytes_read: u64,
}

/// How an output compared with the reference.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// Largest |y - y_ref| (f32) or the number of differing outputs (fixed point).
    pub max_abs_err: f64,
    /// DESIGN.md's bound where error / bound is largest (f32); 0 for bit-for-bit comparisons.
    pub bound: f64,
    /// Bit for bit (fixed point).
    pub exact: bool,
    pub ok: bool,
    /// Why the backend could not run (no adapter, a limit); not a failure, and not a pass either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What a pass does not show: e.g. 16-bit fixed-point outputs saturated, so the bit-exact result
    /// differs from f64 beyond rounding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Where a power figure comes from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum PowerSource {
    /// Linux powercap package energy counters around the timed runs.
    Rapl,
    /// NVIDIA's NVML board energy counter around the timed runs.
    Nvml,
    /// A wattage the user declared (`--cpu-watts`, `--gpu-watts`).
    Declared,
    /// Nothing measured or declared: the paper's Table V power of the same kind of platform.
    Assumed,
    /// The EIE model's energy (Table II calibration, 45 nm).
    Model,
}

impl PowerSource {
    pub fn name(self) -> &'static str {
        match self {
            PowerSource::Rapl => "RAPL",
            PowerSource::Nvml => "NVML",
            PowerSource::Declared => "declared",
            PowerSource::Assumed => "assumed",
            PowerSource::Model => "model",
        }
    }
}

/// Average power while the timed runs ran.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Power {
    pub watts: f64,
    pub source: PowerSource,
    /// What was read (the RAPL zones, the NVML device) or declared.
    #[serde(default)]
    pub detail: String,
}

/// This machine's read bandwidth, measured in the same run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Bandwidth {
    /// Threads the probe read on.
    pub threads: usize,
    /// From data in cache, GB/s.
    pub hot_gbps: f64,
    /// From DRAM, GB/s.
    pub cold_gbps: f64,
    pub llc_bytes: u64,
    /// `--cold`: the DRAM probe passes interleaved with this record's timed runs (median GB/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved_gbps: Option<f64>,
}

/// The EIE model on one layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelFigures {
    pub pes: usize,
    pub clock_mhz: f64,
    pub fifo_depth: usize,
    pub cycles: u64,
    pub theoretical_cycles: f64,
    pub actual_us: f64,
    pub theoretical_us: f64,
    /// Entries incl. padding / PEs (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theoretical_padded_us: Option<f64>,
    pub energy_nj: f64,
    pub power_mw: f64,
    pub load_balance: f64,
    pub real_work_ratio: f64,
}

/// A network's top-1 accuracy on its test samples in one arithmetic format, with how it was compressed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetAccuracy {
    /// The network, in words.
    pub network: String,
    /// What the sweep varied at this point: `format` (Fig. 10 proper), `weight-bits` or `density`.
    pub axis: String,
    /// `float32`, `fixed32`, `fixed16`, `fixed8`.
    pub format: String,
    /// `floor` or `nearest` (fixed point only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<String>,
    /// Codebook index bits.
    pub weight_bits: u8,
    /// Non-zero weights over all weights of the network (biases excluded).
    pub weight_density: f64,
    /// Whether pruning and sharing were followed by retraining (Deep Compression) or not.
    pub retrained: bool,
    pub samples: usize,
    pub correct: usize,
    /// Outputs saturated, and accumulators wrapped, over every layer and sample (fixed point).
    pub saturated: usize,
    pub wrapped: usize,
    /// The EIE model on this network in this format, per inference (mean over the samples, each layer
    /// on its real input in this arithmetic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_cycles: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_energy_nj: Option<f64>,
}

/// The tool that wrote a record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// The git commit it was built from (`-dirty` when the tree had changes), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Tool {
    /// This build of `eie`.
    pub fn this() -> Self {
        Self {
            name: "eie".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: option_env!("EIE_GIT_COMMIT")
                .filter(|c| !c.is_empty())
                .map(String::from),
        }
    }
}

impl Machine {
    /// The machine this process runs on.
    pub fn this() -> Self {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok();
        let cpu = info
            .as_deref()
            .and_then(cpu_name)
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        // The machine's CPUs, not the ones this process may run on: a run pinned with `taskset` (or
        // `scripts/cpu-libs.py --pin`) is on the same machine as the unpinned runs beside it, and the
        // Python scripts' records count the same way (`os.cpu_count()`).
        let logical_cpus = info
            .as_deref()
            .map(cpus_listed)
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Self {
            cpu,
            logical_cpus,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// The logical CPUs `/proc/cpuinfo` text lists: every online CPU, whatever the reading process's
/// affinity. One `processor : N` line each (x86, arm64, ...; old 32-bit ARM's capitalised `Processor`
/// line names the model and is not counted), or `processor N: ...` (s390x).
pub fn cpus_listed(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .filter(|k| {
            *k == "processor"
                || k.strip_prefix("processor ")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

/// The CPU's name from `/proc/cpuinfo` text: its `model name`, and where that names no model (a
/// virtual machine's "AMD EPYC", which has come as Zen 3, Zen 4 and Zen 5 alike) its family and model
/// numbers after it, "AMD EPYC (family 26, model 2)", so that records of different CPUs stay apart in
/// reports. `scripts/records.py` (`machine`) follows the same rule for the Python scripts' records.
pub fn cpu_name(cpuinfo: &str) -> Option<String> {
    // The first processor's fields: everything up to the first blank line.
    let field = |key: &str| {
        cpuinfo
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
    };
    let name = field("model name")?;
    if name.chars().any(|c| c.is_ascii_digit()) {
        return Some(name);
    }
    Some(match (field("cpu family"), field("model")) {
        (Some(f), Some(m)) => format!("{name} (family {f}, model {m})"),
        _ => name,
    })
}

impl Record {
    /// A record of `backend` on `layer` with nothing measured yet, stamped with this machine, tool and time.
    pub fn new(layer: LayerRef, backend: BackendId, batch: usize, threads: usize) -> Self {
        Self {
            schema: SCHEMA,
            layer,
            backend,
            batch,
            threads,
            isa: None,
            detail: String::new(),
            adapter: None,
            machine: Machine::this(),
            timing: None,
            work: None,
            check: None,
            power: None,
            bandwidth: None,
            model: None,
            accuracy: None,
            tool: Tool::this(),
            time: now_rfc3339(),
        }
    }

    /// Whether the backend ran and its output passed (timed records always did).
    pub fn passed(&self) -> bool {
        self.check
            .as_ref()
            .is_none_or(|c| c.ok && c.unavailable.is_none())
    }

    /// The host's name in tables: the CPU model, or the adapter for GPU backends that do not run on it.
    pub fn platform(&self) -> String {
        match &self.adapter {
            Some(a) if !a.on_cpu() => format!("{} ({})", a.name, a.backend),
            Some(a) => format!("{} ({}) on {}", a.name, a.backend, self.machine.cpu),
            None => self.machine.cpu.clone(),
        }
    }
}

/// Now, UTC, as `YYYY-MM-DDThh:mm:ssZ`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    rfc3339(secs)
}

/// Seconds since 1970 as `YYYY-MM-DDThh:mm:ssZ` (proleptic Gregorian; days to civil date after H.
/// Hinnant's published algorithm).
pub fn rfc3339(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let sod = secs.rem_euclid(86_400);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A records file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: not a record of schema {SCHEMA}: {why}")]
    Parse {
        file: String,
        line: usize,
        why: String,
    },
    #[error(
        "{file}:{line}: record schema {found}, but this eie reads schema {SCHEMA} (a newer eie wrote it?)"
    )]
    Schema {
        file: String,
        line: usize,
        found: u64,
    },
    #[error("{file}: holds no records")]
    Empty { file: String },
}

/// Longest line a records file may have (a record is well under 4 KiB).
const MAX_LINE: usize = 1 << 20;

/// Every record in a JSON Lines file (blank lines skipped).
pub fn read(path: &Path) -> Result<Vec<Record>, ReadError> {
    let file = path.display().to_string();
    let io = |source| ReadError::Io {
        file: file.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let got = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_line(&mut line)
            .map_err(io)?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.len() > MAX_LINE {
            return Err(ReadError::Parse {
                file,
                line: n,
                why: format!("a line longer than {MAX_LINE} bytes"),
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| ReadError::Parse {
            file: file.clone(),
            line: n,
            why: e.to_string(),
        })?;
        match v.get("schema").and_then(|s| s.as_u64()) {
            Some(s) if s == u64::from(SCHEMA) => {}
            Some(found) => {
                return Err(ReadError::Schema {
                    file,
                    line: n,
                    found,
                });
            }
            None => {
                return Err(ReadError::Parse {
                    file,
                    line: n,
                    why: "no \"schema\" field".into(),
                });
            }
        }
        let r: Record = serde_json::from_value(v).map_err(|e| ReadError::Parse {
            file: file.clone(),
            line: n,
            why: e.to_string(),
        })?;
        if let Err(why) = r.check_values() {
            return Err(ReadError::Parse { file, line: n, why });
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(ReadError::Empty { file });
    }
    Ok(out)
}

impl Record {
    /// The values a reader relies on are consistent: positive, finite times with the median inside the
    /// range and the quartiles in order; positive, finite power; at least one sample and one thread.
    pub fn check_values(&self) -> Result<(), String> {
        if self.batch == 0 || self.threads == 0 {
            return Err(format!(
                "batch {} and threads {} must be at least 1",
                self.batch, self.threads
            ));
        }
        if let Some(t) = &self.timing {
            for (what, s) in [("wall", &t.wall), ("device", &t.device)] {
                let Some(s) = s else { continue };
                let pos = |v: f64| v.is_finite() && v > 0.0;
                let all = [Some(s.median_us), s.min_us, s.max_us, s.q1_us, s.q3_us];
                if !all.iter().flatten().all(|&v| pos(v)) {
                    return Err(format!("{what} times must be positive and finite: {s:?}"));
                }
                let m = s.median_us;
                let ordered = s.min_us.is_none_or(|lo| lo <= m)
                    && s.max_us.is_none_or(|hi| m <= hi)
                    && s.q1_us.zip(s.q3_us).is_none_or(|(a, b)| a <= b);
                if !ordered {
                    return Err(format!(
                        "{what} times out of order (min <= median <= max, q1 <= q3): {s:?}"
                    ));
                }
            }
        }
        if let Some(p) = &self.power
            && !(p.watts.is_finite() && p.watts > 0.0)
        {
            return Err(format!("power {} W must be positive and finite", p.watts));
        }
        if let Some(a) = &self.accuracy
            && (a.samples == 0
                || a.correct > a.samples
                || !(a.weight_density > 0.0 && a.weight_density <= 1.0))
        {
            return Err(format!(
                "accuracy: {} correct of {} samples at weight density {} (need 1 sample or more, at most \
                 all correct, density in (0, 1])",
                a.correct, a.samples, a.weight_density
            ));
        }
        Ok(())
    }
}

/// Appends `records` to `path` (created if missing), one JSON line each, in one write.
pub fn append(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Never append to anything but a records file: a `.npy` or a config given as `--save` by mistake (an input
    // of the same run, say) is refused, not appended to.
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        if m.len() > 0 {
            let mut first = [0u8; 1];
            std::fs::File::open(path)?.read_exact(&mut first)?;
            if first[0] != b'{' {
                return Err(std::io::Error::other(
                    "exists and is not a records file (it does not start with a JSON record); refusing to \
                     append to it",
                ));
            }
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    // A file whose last line has no newline gets one first, so the new records start on lines of their own.
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(std::io::SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            text.insert(0, '\n');
        }
    }
    // A failed write (disk full, a file-size limit) is cut back to the records that were there, so the
    // file never ends in half a record.
    let before = f.metadata()?.len();
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
    if let Err(e) = written {
        let _ = f.set_len(before);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generic_cpu_name_gets_its_family_and_model() {
        let vm = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n\
                  model name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\ncpu family\t: 25\n\
                  model\t\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(
            cpu_name(vm).as_deref(),
            Some("AMD EPYC (family 26, model 2)")
        );
        let named =
            "cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\n";
        assert_eq!(
            cpu_name(named).as_deref(),
            Some("AMD EPYC 7763 64-Core Processor")
        );
        assert_eq!(
            cpu_name("model name\t: Some CPU\n").as_deref(),
            Some("Some CPU")
        );
        assert_eq!(cpu_name("processor\t: 0\nBogoMIPS\t: 48.00\n"), None);
        assert_eq!(cpus_listed(vm), 2);
        assert_eq!(cpus_listed(named), 0);
        let arm = "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 38.40\n\n\
                   processor\t: 1\nBogoMIPS\t: 38.40\n";
        assert_eq!(cpus_listed(arm), 2);
        let s390 = "vendor_id       : IBM/S390\n# processors    : 2\nprocessor 0: version = FF\n\
                    processor 1: version = FF\n";
        assert_eq!(cpus_listed(s390), 2);
    }

    pub(crate) fn sample() -> Record {
        let mut r = Record::new(
            LayerRef {
                name: "NT-LSTM".into(),
                hash: "abc".into(),
                paper: Some("NT-LSTM".into()),
                inputs: 1201,
                outputs: 2400,
            },
            BackendId::CpuEieF32,
            1,
            2,
        );
        r.isa = Some("avx512".into());
        r.timing = Some(Timing {
            source: TimeSource::Harness,
            wall: Spread::of(&mut [3.0, 1.0, 2.0]),
            device: None,
            samples: 3,
            cold: false,
            copies: 1,
            file: None,
        });
        r.work = Some(WorkDone {
            entries: 10,
            macs: 8,
            bytes_read: 100,
        });
        r.power = Some(Power {
            watts: 10.0,
            source: PowerSource::Declared,
            detail: String::new(),
        });
        r
    }

    #[test]
    fn round_trips_through_a_file_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/r.jsonl");
        let r = sample();
        append(&p, std::slice::from_ref(&r)).unwrap();
        append(&p, &[r.clone(), r.clone()]).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], r);
        let t = back[0].timing.as_ref().unwrap().wall.unwrap();
        assert_eq!((t.median_us, t.range()), (2.0, (1.0, 3.0)));
        let q = Spread::of(&mut [5.0, 1.0, 2.0, 3.0, 4.0, 100.0, 6.0, 7.0]).unwrap();
        assert_eq!(
            (q.median_us, q.noise(), q.range()),
            (5.0, (3.0, 7.0), (1.0, 100.0))
        );
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let good = serde_json::to_string(&sample()).unwrap();
        for (text, want) in [
            (
                format!("{good}\n{{\"schema\":1}}\n"),
                "r.jsonl:2: not a record",
            ),
            (format!("{good}\nnot json\n"), "r.jsonl:2"),
            (
                good.replacen("\"schema\":1", "\"schema\":7", 1),
                "record schema 7",
            ),
            ("\n\n".to_string(), "holds no records"),
            (
                good.replacen("cpu-eie-f32", "tpu-magic", 1),
                "unknown backend 'tpu-magic'",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read(&p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("r.jsonl"), "{e}");
        }
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
        assert!(now_rfc3339().starts_with("20"));
    }
}
