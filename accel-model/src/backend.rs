//! The EIE model as a [`Backend`] (`eie-model-fixed`): its functional 16-bit fixed-point datapath on any
//! input, so `eie validate` can compare it bit for bit with every fixed-point kernel.
//!
//! For each sample, the central unit broadcasts the sample's non-zero activations (then the bias column
//! with activation 1) and every PE walks its slice of each broadcast column, exactly as
//! [`crate::functional`] does for the layer's own input.

use crate::config::EieConfig;
use crate::plan::{Plan, PlanError};
use eie_compress::{
    Arithmetic, Backend, BackendError, CompressedLayer, Data, DataMut, FixedPointSpec, Work,
    check_io,
};

struct Prepared {
    plan: Plan<'static>,
    spec: FixedPointSpec,
    wq: Vec<i16>,
    one: i16,
    has_bias: bool,
    relu: bool,
    inputs: usize,
    outputs: usize,
    batch: usize,
    acc: Vec<i32>,
}

/// The model's functional datapath behind the common interface.
#[derive(Default)]
pub struct EieModelBackend {
    config: EieConfig,
    p: Option<Prepared>,
}

impl EieModelBackend {
    /// The model with `config` (its PE count and register files decide the encoding it walks).
    pub fn new(config: EieConfig) -> Self {
        Self { config, p: None }
    }
}

impl Backend for EieModelBackend {
    fn name(&self) -> String {
        "eie-model-fixed".into()
    }
    fn arithmetic(&self) -> Arithmetic {
        Arithmetic::Fixed16
    }
    fn prepare(&mut self, layer: &CompressedLayer, batch: usize) -> Result<(), BackendError> {
        if batch == 0 {
            return Err(BackendError::Shape {
                backend: self.name(),
                message: "batch must be at least 1".into(),
            });
        }
        // The model walks the layer's own encoding: its codebook and relative-index widths, whatever the
        // configuration's defaults (the SRAM read width fitted to them; it changes timing, not outputs).
        let (config, _) = self
            .config
            .fitted_to(layer)
            .map_err(|e| BackendError::Failed {
                backend: self.name(),
                message: e.to_string(),
            })?;
        let plan = Plan::new(layer, &config)
            .map_err(|e: PlanError| BackendError::Failed {
                backend: self.name(),
                message: e.to_string(),
            })?
            .into_owned();
        let spec = layer.fixed();
        self.p = Some(Prepared {
            plan,
            spec,
            wq: layer.fixed_codebook(),
            one: spec.act.quantize(1.0),
            has_bias: layer.bias_codes().is_some(),
            relu: layer.relu(),
            inputs: layer.inputs(),
            outputs: layer.outputs(),
            batch,
            acc: vec![0; layer.outputs()],
        });
        Ok(())
    }
    fn run(&mut self, input: Data<'_>, output: DataMut<'_>) -> Result<(), BackendError> {
        let name = self.name();
        let p = self
            .p
            .as_mut()
            .ok_or_else(|| BackendError::Unprepared(name.clone()))?;
        check_io(
            &name,
            Arithmetic::Fixed16,
            (p.inputs, p.outputs),
            p.batch,
            &input,
            &output,
        )?;
        let (Data::Fixed(x), DataMut::Fixed(y)) = (input, output) else {
            unreachable!("checked by check_io")
        };
        let b = p.batch;
        for s in 0..b {
            p.acc.iter_mut().for_each(|a| *a = 0);
            // The LNZD's broadcast: this sample's non-zero activations, then the bias column.
            let broadcast = (0..p.inputs)
                .filter(|&j| x[j * b + s] != 0)
                .map(|j| (j, x[j * b + s]))
                .chain(p.has_bias.then_some((p.inputs, p.one)));
            let items: Vec<(usize, i16)> = broadcast.collect();
            for pass in &p.plan.passes {
                let n = pass.enc.pes();
                for &(j, a) in &items {
                    for (k, sl) in pass.enc.slices().iter().enumerate() {
                        let mut r = 0usize;
                        for e in sl.col_ptr[j] as usize..sl.col_ptr[j + 1] as usize {
                            r += sl.z[e] as usize;
                            if sl.v[e] != 0 {
                                let i = pass.row_start + r * n + k;
                                p.acc[i] = p.acc[i]
                                    .wrapping_add(p.spec.product(p.wq[sl.v[e] as usize], a));
                            }
                            r += 1;
                        }
                    }
                }
            }
            for (i, &a) in p.acc.iter().enumerate() {
                y[i * b + s] = p.spec.finish(a, p.relu);
            }
        }
        Ok(())
    }
    fn work(&self, _input: Data<'_>) -> Work {
        Work::default()
    }
    fn detail(&self) -> String {
        format!(
            "functional model, {} PEs{}",
            self.config.pes,
            self.p.as_ref().map_or("", |p| p.spec.rounding_note())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eie_compress::backend::{batch_input, quantize_input, reference_fixed};
    use eie_compress::{CompressOptions, LayerSpec, build_from_spec};

    #[test]
    fn equals_the_reference_on_batches() {
        let spec = LayerSpec::new("m", 300, 200, 0.1, 0.4, true).unwrap();
        let l = build_from_spec(&spec, CompressOptions::default()).unwrap();
        let mut m = EieModelBackend::new(EieConfig {
            pes: 8,
            act_regfile_entries: 4,
            ..Default::default()
        });
        for batch in [1usize, 5] {
            m.prepare(&l, batch).unwrap();
            let xq = quantize_input(&l, &batch_input(&l, batch));
            let mut y = vec![0i16; l.outputs() * batch];
            m.run(Data::Fixed(&xq), DataMut::Fixed(&mut y)).unwrap();
            assert_eq!(y, reference_fixed(&l, &xq, batch));
        }
    }
}
