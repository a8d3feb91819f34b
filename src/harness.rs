//! Measuring a backend: prepare (untimed), verify the output against the reference (a wrong answer
//! gets no time), warm up, then time repeated forward passes and take the median. `cold` rotates over
//! enough prepared copies of the layer that their data exceeds the last-level cache.

use crate::power::{Meter, Watts};
use anyhow::{Result, bail};
use eie_compress::backend::{
    batch_input, compare_f32, quantize_input, reference_f64, reference_fixed,
};
use eie_compress::{Arithmetic, Backend, CompressedLayer, Data, DataMut, Work};
use serde::Serialize;
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

/// The result of one measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub layer: String,
    pub backend: String,
    pub detail: String,
    pub batch: usize,
    pub cold: bool,
    pub copies: usize,
    pub runs: usize,
    pub median_us: f64,
    /// Median device time from GPU timestamp queries (the kernels' compute pass only), where available.
    pub device_us: Option<f64>,
    pub per_sample_us: f64,
    pub work: Work,
    pub gbps: f64,
    pub entries_per_s: f64,
    /// Largest error against the f64 reference (0 for exact fixed-point backends).
    pub max_abs_err: f64,
    pub exact: bool,
    /// Average power while the timed runs ran, where a counter is readable ([`crate::power`]).
    pub watts: Watts,
    /// Median of the DRAM probe passes interleaved with the timed runs (`Plan::probe_threads`), GB/s.
    pub probe_gbps: Option<f64>,
}

enum Buffers {
    F32(Vec<f32>, Vec<f32>),
    Fixed(Vec<i16>, Vec<i16>),
}

impl Buffers {
    fn run(&mut self, b: &mut dyn Backend) -> Result<()> {
        match self {
            Buffers::F32(x, y) => b.run(Data::F32(x), DataMut::F32(y))?,
            Buffers::Fixed(x, y) => b.run(Data::Fixed(x), DataMut::Fixed(y))?,
        }
        Ok(())
    }
    /// Compares the last output with the reference: (max error, exact); an error when it is wrong.
    fn verify(
        &self,
        b: &dyn Backend,
        layer: &CompressedLayer,
        inputs: &Inputs,
    ) -> Result<(f64, bool)> {
        match self {
            Buffers::F32(_, y) => {
                let (err, ok) = compare_f32(y, &inputs.r64, &inputs.bound);
                if !ok {
                    bail!(
                        "{} on {}: max error {err:e} exceeds DESIGN.md's bound; no time recorded",
                        b.name(),
                        layer.name()
                    );
                }
                Ok((err, false))
            }
            Buffers::Fixed(_, y) => {
                if *y != inputs.rq {
                    bail!(
                        "{} on {}: fixed-point output differs from the reference; no time recorded",
                        b.name(),
                        layer.name()
                    );
                }
                Ok((0.0, true))
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
}

impl Inputs {
    /// The layer's input batch and both references.
    pub fn new(layer: &CompressedLayer, batch: usize) -> Self {
        let x = batch_input(layer, batch);
        let (r64, bound) = reference_f64(layer, &x, batch);
        let xq = quantize_input(layer, &x);
        let rq = reference_fixed(layer, &xq, batch);
        Self {
            batch,
            x,
            xq,
            r64,
            bound,
            rq,
        }
    }
}

/// Builds, prepares and verifies one backend on `layer` at `inputs.batch` (for callers that time it
/// themselves, like the criterion bench).
pub fn prepare_verified(
    layer: &CompressedLayer,
    inputs: &Inputs,
    backend: Box<dyn Backend>,
) -> Result<Box<dyn Backend>> {
    Ok(prepare_and_verify(layer, inputs, backend)?.0)
}

/// A prepared backend whose output was checked: the backend, its buffers, (max error, exact).
type Verified = (Box<dyn Backend>, Buffers, (f64, bool));

/// Prepares `backend`, runs it once on the input of its arithmetic and checks the output.
fn prepare_and_verify(
    layer: &CompressedLayer,
    inputs: &Inputs,
    mut backend: Box<dyn Backend>,
) -> Result<Verified> {
    backend.prepare(layer, inputs.batch)?;
    let n = layer.outputs() * inputs.batch;
    let mut bufs = match backend.arithmetic() {
        Arithmetic::F32 => Buffers::F32(inputs.x.clone(), vec![0.0; n]),
        Arithmetic::Fixed16 => Buffers::Fixed(inputs.xq.clone(), vec![0; n]),
    };
    bufs.run(backend.as_mut())?;
    let check = bufs.verify(backend.as_ref(), layer, inputs)?;
    Ok((backend, bufs, check))
}

/// Measures the backends `make()` builds (one copy, or enough for `cold`) on `layer`.
pub fn measure(
    layer: &CompressedLayer,
    make: &dyn Fn() -> Result<Box<dyn Backend>>,
    plan: Plan,
    llc_bytes: usize,
) -> Result<Measurement> {
    measure_with(
        layer,
        &Inputs::new(layer, plan.batch),
        make,
        plan,
        llc_bytes,
        None,
    )
}

/// [`measure`] with precomputed inputs and references (`inputs.batch` must equal `plan.batch`) and,
/// where given, the power meter read around the timed runs.
pub fn measure_with(
    layer: &CompressedLayer,
    inputs: &Inputs,
    make: &dyn Fn() -> Result<Box<dyn Backend>>,
    plan: Plan,
    llc_bytes: usize,
    meter: Option<&Meter>,
) -> Result<Measurement> {
    let batch = plan.batch;
    if inputs.batch != batch {
        bail!(
            "inputs prepared for batch {} but the plan says batch {batch}",
            inputs.batch
        );
    }
    let (first, mut bufs, (max_abs_err, exact)) = prepare_and_verify(layer, inputs, make()?)?;
    let work = first.work(bufs.input());
    let copies = if plan.cold {
        (2 * llc_bytes)
            .div_ceil(work.bytes_read.max(1) as usize)
            .clamp(1, 256)
    } else {
        1
    };
    let mut all = vec![first];
    for _ in 1..copies {
        let mut b = make()?;
        b.prepare(layer, batch)?;
        all.push(b);
    }
    // Warm-up: every copy once, then on for a quarter of the budget (an idle GPU clocks down, an NVIDIA
    // H200 to a sixth of its speed, and takes a while to clock up: results/nvidia-h200), then estimate the
    // run count from the last round.
    let warm = Instant::now();
    let mut est;
    loop {
        let t = Instant::now();
        for b in all.iter_mut() {
            bufs.run(b.as_mut())?;
        }
        est = t.elapsed().as_secs_f64() / copies as f64;
        if warm.elapsed() >= plan.budget / 4 {
            break;
        }
    }
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
    let before = meter.map(|m| m.read());
    for r in 0..runs {
        let b = &mut all[r % copies];
        let t = Instant::now();
        bufs.run(b.as_mut())?;
        times.push(t.elapsed().as_secs_f64() / passes);
        device.extend(b.device_time_us());
        if let Some((threads, p)) = &probe {
            probed.push(eie_kernels::cpu::bandwidth::read_gbps(p, *threads, 1));
        }
    }
    // Power covers the probe passes too when they are interleaved: report none then.
    let watts = meter
        .zip(before)
        .filter(|_| probe.is_none())
        .map(|(m, a)| m.watts(&a, &m.read()))
        .unwrap_or_default();
    probed.sort_by(f64::total_cmp);
    let probe_gbps = (!probed.is_empty()).then(|| probed[probed.len() / 2]);
    device.sort_by(f64::total_cmp);
    let device_us = (!device.is_empty()).then(|| device[device.len() / 2]);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(Measurement {
        layer: layer.name().to_string(),
        backend: all[0].name(),
        detail: all[0].detail(),
        batch,
        cold: plan.cold,
        copies,
        runs,
        median_us: median * 1e6,
        device_us,
        per_sample_us: median * 1e6 / batch as f64,
        work,
        gbps: work.bytes_read as f64 / median / 1e9,
        entries_per_s: work.entries as f64 / median,
        max_abs_err,
        exact,
        watts,
        probe_gbps,
    })
}
