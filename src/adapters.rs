//! `eie adapters`: the GPU adapters wgpu finds, and the one the GPU backends will use.

use crate::table::{Format, Table};
use anyhow::Result;
use eie_kernels::gpu::{GpuContext, adapters};

/// Flags of `eie adapters`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// Runs `eie adapters`.
pub fn run(args: Args) -> Result<()> {
    let all = adapters();
    let chosen = GpuContext::shared();
    match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "adapters": all,
                "chosen": chosen.as_ref().ok().map(|c| c.summary().clone()),
                "error": chosen.as_ref().err().map(|e| e.to_string()),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Md | Format::Csv => {
            let mut t = Table::new(&[
                "Adapter",
                "Backend",
                "Type",
                "Driver",
                "Timestamps",
                "Subgroups",
                "Max binding MiB",
                "Max buffer MiB",
            ]);
            for a in &all {
                t.push(vec![
                    a.name.clone(),
                    a.backend.clone(),
                    a.device_type.clone(),
                    a.driver.clone(),
                    a.timestamp_query.to_string(),
                    a.subgroup.to_string(),
                    (a.max_storage_buffer_binding_size >> 20).to_string(),
                    (a.max_buffer_size >> 20).to_string(),
                ]);
            }
            if matches!(args.format, Format::Csv) {
                print!("{}", t.csv());
            } else {
                print!("{}", t.markdown());
                match &chosen {
                    Ok(c) => println!(
                        "\nThe GPU backends use: {} ({}). Set EIE_ADAPTER to pick another.",
                        c.summary().name,
                        c.summary().backend
                    ),
                    Err(e) => println!("\nThe GPU backends are unavailable: {e}"),
                }
            }
        }
    }
    Ok(())
}
