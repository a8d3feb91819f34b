//! Measuring a backend: prepare (untimed), verify the output against the reference (a wrong answer
//! gets no time), warm up, then time repeated forward passes and keep median, min and max. `cold` rotates
//! over enough prepared copies of the layer that their data exceeds the last-level cache. The result is a
//! [`Record`]; [`Session`] holds what every record of one run shares (options, adapter, power meter,
//! the machine's bandwidth).

use crate::backend_id::BackendId;
use crate::power::Meter;
use crate::record::{
    Adapter, Bandwidth, Check, LayerRef, Power, PowerSource, Record, Spread, TimeSource, Timing,
    WorkDone,
};
use crate::registry::{Options, make};
use anyhow::{Result, bail};
use eie_compress::backend::{
    batch_input, quantize_input_checked, reference_f64, reference_fixed_checked,
};
use eie_compress::{Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut};
use std::time::{Duration, Instant};

/// How to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub batch: usize,
    /// Rotate over copies larger than the last-level cache.
    pub cold: bool,
    /// Time budget per measurement (the run count adapts to it, within `min_runs..=max_runs`).
    pub budget: Duration,
    pub min_runs: usize,
    pub max_runs: usize,
    /// With `cold`: after every timed run, one untimed pass of the DRAM read probe on this many threads,
    /// so that the kernel's share of the bandwidth compares runs from the same moments (on a shared
    /// machine DRAM bandwidth drifts by 2x within minutes).
    pub probe_threads: Option<usize>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            batch: 1,
            cold: false,
            budget: Duration::from_millis(400),
            min_runs: 5,
            max_runs: 2000,
            probe_threads: None,
        }
    }
}

enum Buffers {
    F32(Vec<f32>, Vec<f32>),
    Fixed(Vec<i16>, Vec<i16>),
}

impl Buffers {
    fn new(arithmetic: Arithmetic, inputs: &Inputs, outputs: usize) -> Self {
        let n = outputs * inputs.batch;
        match arithmetic {
            Arithmetic::F32 => Buffers::F32(inputs.x.clone(), vec![f32::NAN; n]),
            Arithmetic::Fixed16 => Buffers::Fixed(inputs.xq.clone(), vec![0; n]),
        }
    }
    fn run(&mut self, b: &mut dyn Backend) -> Result<()> {
        match self {
            Buffers::F32(x, y) => b.run(Data::F32(x), DataMut::F32(y))?,
            Buffers::Fixed(x, y) => b.run(Data::Fixed(x), DataMut::Fixed(y))?,
        }
        Ok(())
    }
    /// Compares the last output with the reference.
    fn verify(&self, inputs: &Inputs) -> Check {
        match self {
            Buffers::F32(_, y) => check_f32(y, &inputs.r64, &inputs.bound),
            Buffers::Fixed(_, y) => {
                let differ = y.iter().zip(&inputs.rq).filter(|(a, b)| a != b).count();
                Check {
                    max_abs_err: differ as f64,
                    bound: 0.0,
                    exact: true,
                    ok: differ == 0,
                    unavailable: None,
                    message: (differ > 0)
                        .then(|| format!("{differ} outputs differ from the fixed-point reference")),
                    warning: (!inputs.fixed_warnings.is_empty())
                        .then(|| inputs.fixed_warnings.join("; ")),
                }
            }
        }
    }
    fn input(&self) -> Data<'_> {
        match self {
            Buffers::F32(x, _) => Data::F32(x),
            Buffers::Fixed(x, _) => Data::Fixed(x),
        }
    }
}

/// An f32 output against the f64 reference and DESIGN.md's per-output bound: the largest error, and the
/// bound at the output where error / bound is largest.
pub fn check_f32(y: &[f32], r64: &[f64], bound: &[f64]) -> Check {
    let mut worst = (0.0f64, 0.0f64, 0.0f64);
    let mut ok = true;
    for ((&v, &r), &bd) in y.iter().zip(r64).zip(bound) {
        let e = (v as f64 - r).abs();
        ok &= v.is_finite() && e <= bd;
        worst.0 = worst.0.max(e);
        let ratio = if bd > 0.0 {
            e / bd
        } else if e > 0.0 || !v.is_finite() {
            f64::INFINITY
        } else {
            0.0
        };
        if ratio >= worst.2 {
            worst = (worst.0, bd, ratio);
        }
    }
    let non_finite = y.iter().filter(|v| !v.is_finite()).count();
    Check {
        max_abs_err: worst.0,
        bound: worst.1,
        exact: false,
        ok,
        unavailable: None,
        message: (!ok).then(|| {
            if non_finite > 0 {
                format!("{non_finite} outputs are not finite")
            } else {
                format!(
                    "max error {:e} exceeds DESIGN.md's bound ({:e} where error / bound is largest)",
                    worst.0, worst.1
                )
            }
        }),
        warning: None,
    }
}

/// The most `--budget-ms` may ask for one measurement: ten minutes (a larger value is a typo, and would
/// run for hours over a report's hundreds of measurements).
pub const MAX_BUDGET_MS: u64 = 600_000;

/// `--budget-ms` checked: 0 (the fewest runs) to [`MAX_BUDGET_MS`].
pub fn check_budget_ms(ms: u64) -> Result<()> {
    if ms > MAX_BUDGET_MS {
        bail!("--budget-ms {ms}: expected 0 to {MAX_BUDGET_MS} (ten minutes per measurement)");
    }
    Ok(())
}

/// Refuses a batch size whose inputs, outputs and references alone would not fit: about
/// `batch x (6 inputs + 32 outputs)` bytes per layer, against half this machine's memory (or 8 GiB where
/// it cannot be read), with the amount it would need in the error.
pub fn check_batch(layers: &[Tagged], batch: usize) -> Result<()> {
    let limit = memory_bytes().map_or(8u128 << 30, |m| m / 2);
    for l in layers {
        // x (f32) and xq (i16) per input; r64, bound (f64), rq (i16), y (f32 or i16), GPU staging per output.
        let per_sample = l.layer.inputs() as u128 * 6 + l.layer.outputs() as u128 * 32;
        let need = per_sample * batch as u128;
        if need > limit {
            bail!(
                "--batch {batch} on {}: its inputs, outputs and references alone need about {:.1} GiB, more \
                 than half this machine's memory ({:.1} GiB); use a smaller batch",
                l.id.name,
                need as f64 / (1u64 << 30) as f64,
                (limit * 2) as f64 / (1u64 << 30) as f64
            );
        }
    }
    Ok(())
}

/// This machine's memory, from /proc/meminfo.
fn memory_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u128 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A layer's inputs and references at one batch size, computed once and shared by every backend measured.
pub struct Inputs {
    pub batch: usize,
    pub x: Vec<f32>,
    pub xq: Vec<i16>,
    /// f64 reference and DESIGN.md's per-output bound.
    pub r64: Vec<f64>,
    pub bound: Vec<f64>,
    /// Fixed-point reference.
    pub rq: Vec<i16>,
    /// Where 16-bit fixed point changed this batch beyond rounding: inputs or outputs saturated, or an
    /// accumulator wrapped (empty when it did not). Fixed-point backends are checked bit for bit against
    /// [`Inputs::rq`], which saturates the same way, so these are warnings beside a pass, not failures.
    pub fixed_warnings: Vec<String>,
}

impl Inputs {
    /// The layer's input batch and both references; an error for a layer whose products or sums leave
    /// f32's range (its f32 outputs would overflow, so no f32 backend could be right).
    pub fn new(layer: &CompressedLayer, batch: usize) -> Result<Self> {
        let x = batch_input(layer, batch);
        let (r64, bound) = reference_f64(layer, &x, batch);
        // bound / eps >= n sum |w x|: past f32's largest value, some order of summation overflows.
        let reach = bound
            .iter()
            .map(|b| b / f32::EPSILON as f64)
            .fold(0.0f64, f64::max);
        if reach.is_nan() || reach > f32::MAX as f64 {
            bail!(
                "{}: the products and sums of its f32 path reach {reach:e}, beyond f32's range ({:e}): f32 \
                 backends cannot compute this layer (scale the weights or the input down)",
                layer.name(),
                f32::MAX
            );
        }
        let (xq, inputs_saturated) = quantize_input_checked(layer, &x);
        let (rq, outcome) = reference_fixed_checked(layer, &xq, batch);
        let mut fixed_warnings = Vec::new();
        if inputs_saturated > 0 {
            fixed_warnings.push(format!(
                "{inputs_saturated} of {} input values saturate to +-32767 ({} fraction bits)",
                x.len(),
                layer.fixed().act.frac
            ));
        }
        if outcome.changed() {
            let wrapped = if outcome.wrapped > 0 {
                format!(", {} through a wrapped 32-bit accumulator", outcome.wrapped)
            } else {
                String::new()
            };
            fixed_warnings.push(format!(
                "{} of {} outputs saturate at +-32767{wrapped} in 16-bit fixed point: those outputs differ \
                 from f64 beyond rounding",
                outcome.saturated, outcome.outputs
            ));
        }
        if r64.iter().all(|&y| y == 0.0) && rq.iter().all(|&y| y == 0) {
            eprintln!(
                "warning: {} batch {batch}: every reference output is 0 (an all-zero input, or ReLU of only \
                 negative sums): the checks compare zeros and test little",
                layer.name()
            );
        }
        for w in &fixed_warnings {
            eprintln!("warning: {} batch {batch}: {w}", layer.name());
        }
        Ok(Self {
            batch,
            x,
            xq,
            r64,
            bound,
            rq,
            fixed_warnings,
        })
    }
}

/// Builds, prepares and verifies one backend on `layer` at `inputs.batch` (for callers that time it
/// themselves, like the criterion bench).
pub fn prepare_verified(
    layer: &CompressedLayer,
    inputs: &Inputs,
    backend: Box<dyn Backend>,
) -> Result<Box<dyn Backend>> {
    let (b, _, check) = prepare_and_run(layer, inputs, backend)?;
    if !check.ok {
        bail!(
            "{} on {}: {}",
            b.name(),
            layer.name(),
            check.message.unwrap_or_default()
        );
    }
    Ok(b)
}

/// Prepares `backend`, runs it once on the input of its arithmetic and compares the output.
fn prepare_and_run(
    layer: &CompressedLayer,
    inputs: &Inputs,
    mut backend: Box<dyn Backend>,
) -> Result<(Box<dyn Backend>, Buffers, Check)> {
    backend.prepare(layer, inputs.batch)?;
    let mut bufs = Buffers::new(backend.arithmetic(), inputs, layer.outputs());
    bufs.run(backend.as_mut())?;
    let check = bufs.verify(inputs);
    Ok((backend, bufs, check))
}

/// A layer with the identity records carry.
pub struct Tagged {
    pub layer: CompressedLayer,
    pub id: LayerRef,
}

impl Tagged {
    /// `layer`, which is the paper's layer `paper` (Table III's name) or none of them.
    pub fn new(layer: CompressedLayer, paper: Option<&str>) -> Self {
        let id = LayerRef {
            name: layer.name().to_string(),
            hash: layer.content_hash().to_string(),
            paper: paper.map(String::from),
            inputs: layer.inputs(),
            outputs: layer.outputs(),
        };
        Self { layer, id }
    }
}

/// What every record of one run shares: the backends' options, the GPU adapter, the power meter and
/// this machine's read bandwidth.
pub struct Session {
    pub opts: Options,
    pub adapter: Option<Adapter>,
    pub meter: Meter,
    /// Measured once per session by [`Session::probe_bandwidth`].
    pub bandwidth: Option<Bandwidth>,
}

impl Session {
    /// A session for `backends` (the GPU adapter is looked up only when one of them is a GPU backend).
    pub fn open(opts: Options, backends: &[BackendId]) -> Self {
        let adapter = if backends.iter().any(|b| b.is_gpu() && b.in_process()) {
            gpu_adapter()
        } else {
            None
        };
        let meter = Meter::open(adapter.as_ref().map(|a| a.name.as_str()));
        Self {
            opts,
            adapter,
            meter,
            bandwidth: None,
        }
    }

    /// Measures this machine's read bandwidth (in cache and from DRAM) on the session's threads.
    pub fn probe_bandwidth(&mut self) {
        let (hot, cold) = eie_kernels::cpu::bandwidth::probe(self.opts.threads);
        self.bandwidth = Some(Bandwidth {
            threads: self.opts.threads,
            hot_gbps: hot,
            cold_gbps: cold,
            llc_bytes: eie_kernels::cpu::bandwidth::llc_bytes() as u64,
            interleaved_gbps: None,
        });
    }

    /// A record of `id` on `layer` carrying this session's identity (threads, ISA, adapter).
    pub fn record(&self, layer: &Tagged, id: BackendId, batch: usize) -> Record {
        let cpu_kernel = id.is_cpu_kernel();
        let mut r = Record::new(
            layer.id.clone(),
            id,
            batch,
            if id.follows_threads() {
                self.opts.threads
            } else {
                1
            },
        );
        r.isa = cpu_kernel.then(|| self.opts.isa.name().to_string());
        if id.is_gpu() {
            r.adapter = self.adapter.clone();
        }
        r
    }

    /// Builds, prepares and checks `id` on `layer` once, without timing: a record with its check (an
    /// unavailable backend is a record that says so). Errors only for what is not the backend's answer.
    pub fn check(&self, layer: &Tagged, inputs: &Inputs, id: BackendId) -> Result<Record> {
        let mut r = self.record(layer, id, inputs.batch);
        match prepare_and_run(&layer.layer, inputs, make(id, self.opts)?) {
            Ok((b, _, check)) => {
                r.detail = b.detail();
                with_forced_walk(&mut r);
                r.check = Some(check);
            }
            Err(e) => r.check = Some(unavailable_or(e)?),
        }
        Ok(r)
    }

    /// Measures `id` on `layer` with `plan`: a record with its timing, work, check and power. A backend
    /// that is unavailable gives a record that says so; a wrong answer gives a record without timing.
    pub fn measure(
        &self,
        layer: &Tagged,
        inputs: &Inputs,
        id: BackendId,
        plan: Plan,
    ) -> Result<Record> {
        let mut r = self.record(layer, id, inputs.batch);
        if inputs.batch != plan.batch {
            bail!(
                "inputs prepared for batch {} but the plan says batch {}",
                inputs.batch,
                plan.batch
            );
        }
        let make = || make(id, self.opts);
        let (first, mut bufs, check) = match prepare_and_run(&layer.layer, inputs, make()?) {
            Ok(v) => v,
            Err(e) => {
                r.check = Some(unavailable_or(e)?);
                return Ok(r);
            }
        };
        r.detail = first.detail();
        with_forced_walk(&mut r);
        let ok = check.ok;
        r.check = Some(check);
        if !ok {
            return Ok(r);
        }
        let w = first.work(bufs.input());
        r.work = Some(WorkDone {
            entries: w.entries,
            macs: w.macs,
            bytes_read: w.bytes_read,
        });
        let llc = self
            .bandwidth
            .map_or_else(eie_kernels::cpu::bandwidth::llc_bytes, |b| {
                b.llc_bytes as usize
            });
        let t = time_runs(
            &layer.layer,
            first,
            &mut bufs,
            &make,
            plan,
            llc,
            w.bytes_read,
            &self.meter,
        )?;
        r.timing = Some(t.timing);
        r.bandwidth = self.bandwidth.map(|b| Bandwidth {
            interleaved_gbps: t.probe_gbps,
            ..b
        });
        // Power covers the probe passes too when they are interleaved: none then.
        if t.probe_gbps.is_none() {
            r.power = self.power(id, &t.watts);
        }
        Ok(r)
    }

    /// The measured power that applies to `id`: the GPU's board power for GPU backends on their own
    /// device, else the CPU package's.
    fn power(&self, id: BackendId, w: &crate::power::Watts) -> Option<Power> {
        let own_gpu = id.is_gpu() && self.adapter.as_ref().is_some_and(|a| !a.on_cpu());
        if own_gpu {
            w.gpu.map(|watts| Power {
                watts,
                source: PowerSource::Nvml,
                detail: self.meter.gpu_status().unwrap_or_default(),
            })
        } else {
            w.cpu.map(|watts| Power {
                watts,
                source: PowerSource::Rapl,
                detail: self.meter.cpu_status().unwrap_or_default(),
            })
        }
    }
}

/// The adapter the GPU backends use, if any.
pub fn gpu_adapter() -> Option<Adapter> {
    eie_kernels::gpu::GpuContext::shared().ok().map(|c| {
        let a = c.summary();
        Adapter {
            name: a.name.clone(),
            backend: a.backend.clone(),
            driver: a.driver.clone(),
            device_type: a.device_type.clone(),
        }
    })
}

/// Appends to the record's ISA the batch-1 walk that `EIE_CPU_EIE_WALK` forced, where its detail names
/// one (`avx2, window walk`): other code than the kernels' own pick, which `eie compare` and the report
/// then keep apart from it, as they keep ISA levels apart (pooled, a forced walk's times would pass for
/// rounds of the kernel's).
fn with_forced_walk(r: &mut Record) {
    let walk = eie_kernels::cpu::eie::forced_walk_in(&r.detail);
    if let (Some(isa), Some(walk)) = (r.isa.as_mut(), walk) {
        *isa = format!("{isa}, {walk} walk");
    }
}

/// The check an unavailable backend gets; any other error is returned.
fn unavailable_or(e: anyhow::Error) -> Result<Check> {
    match e.downcast_ref::<BackendError>() {
        Some(BackendError::Unavailable { why, .. }) => Ok(Check {
            max_abs_err: 0.0,
            bound: 0.0,
            exact: false,
            ok: false,
            unavailable: Some(why.clone()),
            message: None,
            warning: None,
        }),
        _ => Err(e),
    }
}

/// What [`time_runs`] found.
struct Timed {
    timing: Timing,
    watts: crate::power::Watts,
    probe_gbps: Option<f64>,
}

/// Warms up and times `first` (and, for `cold`, more prepared copies from `make`).
#[allow(clippy::too_many_arguments)]
fn time_runs(
    layer: &CompressedLayer,
    first: Box<dyn Backend>,
    bufs: &mut Buffers,
    make: &dyn Fn() -> Result<Box<dyn Backend>>,
    plan: Plan,
    llc_bytes: usize,
    bytes_read: u64,
    meter: &Meter,
) -> Result<Timed> {
    // Cold: enough copies that their data is twice the last-level cache, prepared within half the
    // budget (a copy of a GPU backend can take a tenth of a second to prepare); fewer is said.
    let wanted = if plan.cold {
        (2 * llc_bytes)
            .div_ceil(bytes_read.max(1) as usize)
            .clamp(1, 256)
    } else {
        1
    };
    let started = Instant::now();
    let mut all = vec![first];
    while all.len() < wanted && started.elapsed() < plan.budget / 2 {
        let mut b = make()?;
        b.prepare(layer, plan.batch)?;
        all.push(b);
    }
    let copies = all.len();
    if copies < wanted {
        eprintln!(
            "warning: {}: --cold prepared {copies} of the {wanted} copies whose data exceeds the last-level cache \
             within the time budget; the timing is partly warm (raise --budget-ms)",
            layer.name()
        );
    }
    // Warm-up: copies in turn for a quarter of the budget, at least one run (an idle GPU clocks down, an
    // NVIDIA H200 to a sixth of its speed, and takes a while to clock up: results/nvidia-h200), then
    // estimate the run count from the mean warm-up run.
    let warm = Instant::now();
    let mut warm_runs = 0;
    loop {
        bufs.run(all[warm_runs % copies].as_mut())?;
        warm_runs += 1;
        if warm.elapsed() >= plan.budget / 4 {
            break;
        }
    }
    let est = warm.elapsed().as_secs_f64() / warm_runs as f64;
    let runs =
        ((plan.budget.as_secs_f64() / est.max(1e-9)) as usize).clamp(plan.min_runs, plan.max_runs);
    // GPU backends may run several identical passes per `run`: times are per pass.
    let passes = all[0].passes_per_run().max(1) as f64;
    let mut times = Vec::with_capacity(runs);
    let mut device = Vec::new();
    // The interleaved probe reads its own buffers, each as large as the last-level cache.
    let probe = plan
        .probe_threads
        .filter(|_| plan.cold)
        .map(|t| (t, eie_kernels::cpu::bandwidth::dram_buffers(2)));
    let mut probed = Vec::new();
    let before = meter.read();
    for r in 0..runs {
        let b = &mut all[r % copies];
        let t = Instant::now();
        bufs.run(b.as_mut())?;
        times.push(t.elapsed().as_secs_f64() * 1e6 / passes);
        device.extend(b.device_time_us());
        if let Some((threads, p)) = &probe {
            probed.push(eie_kernels::cpu::bandwidth::cold_gbps(p, *threads, 1));
        }
    }
    let watts = meter.watts(&before, &meter.read());
    Ok(Timed {
        timing: Timing {
            source: TimeSource::Harness,
            wall: Spread::of(&mut times),
            device: Spread::of(&mut device),
            samples: runs,
            cold: plan.cold,
            copies,
            file: None,
        },
        watts,
        probe_gbps: Spread::of(&mut probed).map(|s| s.median_us),
    })
}
