//! Measuring for the report and the main job: the EIE model on every layer, then every backend on every
//! layer at batch 1 and 64, as records. With a deadline (the main job's time budget) the cheap and
//! important measurements come first (CPU backends, then GPU batch 1, then GPU batch 64), each gets a
//! share of the time left, and what the budget does not reach is recorded as not measured, with why.

use anyhow::{Context, Result};
use eie_accel_model::{EieConfig, functional, simulate};
use eie_bench::backend_id::{BackendId, Matrix};
use eie_bench::harness::{Inputs, Plan, Session, Tagged};
use eie_bench::record::{
    Check, ModelFigures, Power, PowerSource, Record, Spread, TimeSource, Timing,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::time::{Duration, Instant};

/// What to measure.
pub struct Settings {
    pub backends: Vec<BackendId>,
    pub batches: Vec<usize>,
    pub plan: Plan,
    /// Stop measuring at this moment; what is left is recorded as not measured.
    pub deadline: Option<(Instant, Duration)>,
    /// Take times from criterion's results in this folder (one verified run each for the check).
    pub criterion_dir: Option<std::path::PathBuf>,
}

/// The EIE model on `layer` as a record (backend `eie-model`, time source `model`).
pub fn model_record(s: &Session, layer: &Tagged, cfg: &EieConfig) -> Result<Record> {
    let mut r = s.record(layer, BackendId::EieModel, 1);
    // The model walks the layer's own widths (`--bits 8`: 8-bit codebook indices).
    let (cfg, note) = cfg.fitted_to(&layer.layer)?;
    let cfg = &cfg;
    let (_, exact, _) = functional(&layer.layer, cfg)?;
    let sim = simulate(&layer.layer, cfg)?;
    r.detail = format!(
        "{} PEs at {} MHz, FIFO depth {}, {:?}{}",
        cfg.pes,
        cfg.clock_mhz,
        cfg.fifo_depth,
        cfg.precision,
        note.map_or(String::new(), |n| format!("; {n}"))
    );
    r.check = Some(Check {
        max_abs_err: 0.0,
        bound: 0.0,
        exact: true,
        ok: exact,
        unavailable: None,
        message: (!exact)
            .then(|| "functional output differs from the fixed-point reference".into()),
        warning: None,
    });
    r.timing = Some(Timing {
        source: TimeSource::Model,
        wall: Some(Spread::point(sim.actual_us)),
        device: None,
        samples: 1,
        cold: false,
        copies: 1,
        file: None,
    });
    r.power = Some(Power {
        watts: sim.power_mw / 1000.0,
        source: PowerSource::Model,
        detail: "the model's energy (Table II calibration, 45 nm)".into(),
    });
    r.model = Some(ModelFigures {
        pes: cfg.pes,
        clock_mhz: cfg.clock_mhz,
        fifo_depth: cfg.fifo_depth,
        cycles: sim.cycles.0,
        theoretical_cycles: sim.theoretical_cycles,
        actual_us: sim.actual_us,
        theoretical_us: sim.theoretical_us,
        theoretical_padded_us: Some(sim.theoretical_padded_us),
        energy_nj: sim.energy_total.nanojoules(),
        power_mw: sim.power_mw,
        load_balance: sim.load_balance,
        real_work_ratio: sim.real_work_ratio,
    });
    Ok(r)
}

/// How a measurement the time budget did not reach is recorded (`unavailable`, with the budget).
pub const NOT_MEASURED: &str = "not measured: the time budget";

/// Priority of a measurement under a deadline: CPU-side first, then GPU batch 1, then GPU batches.
fn stage(id: BackendId, batch: usize) -> u8 {
    match (id.is_gpu(), batch) {
        (false, _) => 0,
        (true, 1) => 1,
        (true, _) => 2,
    }
}

/// A measurement's size, for predicting its time from a smaller layer's: the weights a dense backend
/// reads, the stored non-zeros for the others.
fn size(l: &Tagged, id: BackendId) -> usize {
    match id.matrix() {
        Matrix::Dense => l.layer.inputs() * l.layer.outputs(),
        _ => l.layer.nnz().max(1),
    }
}

/// Measures the model and every backend on every layer; records in the order measured.
pub fn measure_all(layers: &[Tagged], session: &Session, s: &Settings) -> Result<Vec<Record>> {
    let cfg = EieConfig::default();
    let mut out = Vec::new();
    for l in layers {
        out.push(model_record(session, l, &cfg)?);
    }
    let mut items: Vec<(usize, usize, BackendId)> = Vec::new();
    for (li, _) in layers.iter().enumerate() {
        for &batch in &s.batches {
            for &id in &s.backends {
                items.push((li, batch, id));
            }
        }
    }
    if s.deadline.is_some() {
        // Within a stage, small layers first: their times predict the large ones' (below).
        items.sort_by_key(|&(li, batch, id)| (stage(id, batch), batch, size(&layers[li], id)));
    }
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} ~{eta} left {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut inputs: HashMap<(usize, usize), Inputs> = HashMap::new();
    let n = items.len();
    // Under a deadline each stage may run until its share of the time left, in proportion to its
    // measurements (time a stage leaves over goes to the next): GPU backends on a slow software adapter
    // then get fewer layers instead of none.
    let t0 = Instant::now();
    let stage_end = |st: u8| -> Option<Instant> {
        let (deadline, _) = s.deadline?;
        let upto = items
            .iter()
            .filter(|&&(_, b, id)| stage(id, b) <= st)
            .count();
        let span = deadline.saturating_duration_since(t0);
        Some(t0 + span.mul_f64(upto as f64 / n.max(1) as f64))
    };
    // Seconds per unit of size each (backend, batch) took so far (the slowest seen), to predict the next.
    let mut rate: HashMap<(BackendId, usize), f64> = HashMap::new();
    for (k, &(li, batch, id)) in items.iter().enumerate() {
        let l = &layers[li];
        let mut plan = Plan { batch, ..s.plan };
        let started = Instant::now();
        if let (Some((_, total)), Some(end)) = (s.deadline, stage_end(stage(id, batch))) {
            let left = end.saturating_duration_since(Instant::now());
            let predicted = rate
                .get(&(id, batch))
                .map_or(0.0, |r| r * size(l, id) as f64);
            if left.is_zero() || predicted > left.as_secs_f64() {
                let mut r = session.record(l, id, batch);
                r.check = Some(Check {
                    max_abs_err: 0.0,
                    bound: 0.0,
                    exact: false,
                    ok: false,
                    unavailable: Some(format!("{NOT_MEASURED} ({} s) ran out", total.as_secs())),
                    message: None,
                    warning: None,
                });
                out.push(r);
                bar.inc(1);
                continue;
            }
            let in_stage = items[k..]
                .iter()
                .filter(|&&(_, b, i)| stage(i, b) == stage(id, batch))
                .count();
            plan.budget = plan.budget.min(left / in_stage.max(1) as u32);
            bar.set_message(format!(
                "{} batch {batch}: {id} (time budget: {} s left)",
                l.id.name,
                s.deadline.map_or(0, |(d, _)| d
                    .saturating_duration_since(Instant::now())
                    .as_secs())
            ));
        } else {
            bar.set_message(format!("{} batch {batch}: {id}", l.id.name));
        }
        let inp = match inputs.entry((li, batch)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Inputs::new(&l.layer, batch)?),
        };
        let criterion = match &s.criterion_dir {
            Some(dir) => criterion_timing(dir, &l.id.name, id, batch)?,
            None => None,
        };
        let r = match criterion {
            Some(t) => {
                let once = Plan {
                    budget: Duration::ZERO,
                    min_runs: 1,
                    max_runs: 1,
                    ..plan
                };
                let mut r = session.measure(l, inp, id, once)?;
                if r.timing.is_some() {
                    r.timing = Some(t);
                    // Criterion's samples ran at other moments: the power read around our one run is not theirs.
                    r.power = None;
                }
                r
            }
            None => session.measure(l, inp, id, plan)?,
        };
        let took = started.elapsed().as_secs_f64() / size(l, id).max(1) as f64;
        let seen = rate.entry((id, batch)).or_insert(took);
        *seen = seen.max(took);
        bar.inc(1);
        out.push(r);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// criterion's timing of `layer/backend/bB`: the median estimate, and min and max per pass from its
/// samples where `sample.json` is there; none when criterion has no result for it.
pub fn criterion_timing(
    dir: &Path,
    layer: &str,
    backend: BackendId,
    batch: usize,
) -> Result<Option<Timing>> {
    let base = dir
        .join(layer)
        .join(backend.name())
        .join(format!("b{batch}"))
        .join("new");
    let path = base.join("estimates.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not criterion's estimates JSON", path.display()))?;
    let ns = v["median"]["point_estimate"].as_f64().with_context(|| {
        format!(
            "{}: no median.point_estimate (not criterion's estimates.json?)",
            path.display()
        )
    })?;
    if !(ns.is_finite() && ns > 0.0) {
        anyhow::bail!("{}: median {ns} ns is not a positive time", path.display());
    }
    let mut spread = Spread::point(ns / 1000.0);
    let mut samples = 0;
    if let Ok(text) = std::fs::read_to_string(base.join("sample.json")) {
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not criterion's sample JSON",
                base.join("sample.json").display()
            )
        })?;
        if let (Some(iters), Some(times)) = (v["iters"].as_array(), v["times"].as_array()) {
            let mut per: Vec<f64> = iters
                .iter()
                .zip(times)
                .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()? / 1000.0))
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            samples = per.len();
            if let Some(s) = Spread::of(&mut per) {
                spread = Spread {
                    median_us: spread.median_us,
                    ..s
                };
            }
        }
    }
    Ok(Some(Timing {
        source: TimeSource::Criterion,
        wall: Some(spread),
        device: None,
        samples,
        cold: false,
        copies: 1,
        file: Some(path.display().to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_medians_and_spread_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Alex-7/cpu-eie-f32/b1/new");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("estimates.json"),
            r#"{"mean":{"point_estimate":2000.0},"median":{"point_estimate":1500.0}}"#,
        )
        .unwrap();
        std::fs::write(
            p.join("sample.json"),
            r#"{"sampling_mode":"Flat","iters":[10.0,10.0],"times":[12000.0,20000.0]}"#,
        )
        .unwrap();
        let t = criterion_timing(dir.path(), "Alex-7", BackendId::CpuEieF32, 1)
            .unwrap()
            .unwrap();
        let w = t.wall.unwrap();
        assert_eq!((w.median_us, w.range(), t.samples), (1.5, (1.2, 2.0), 2));
        assert_eq!(t.source, TimeSource::Criterion);
        assert!(t.file.unwrap().ends_with("estimates.json"));
        assert!(
            criterion_timing(dir.path(), "Alex-7", BackendId::CpuEieF32, 64)
                .unwrap()
                .is_none()
        );
        std::fs::write(p.join("estimates.json"), "{}").unwrap();
        let e = criterion_timing(dir.path(), "Alex-7", BackendId::CpuEieF32, 1).unwrap_err();
        assert!(e.to_string().contains("estimates.json"), "{e}");
    }
}
