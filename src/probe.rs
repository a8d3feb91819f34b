//! `eie probe`: this machine's read bandwidth by working-set size, one buffer per cache level (from sysfs)
//! and one beyond the last: the ceilings to read a kernel's GB/s against. `measure` prints the two that
//! matter for whole layers (hot: the last-level cache; cold: DRAM); a kernel whose working set is a small
//! tile (the EIE-format batch kernel's 128 KB input tile) is bound by the level that tile lives in.

use crate::table::{Format, Table};
use anyhow::Result;
use eie_kernels::cpu::bandwidth::{buffer_gbps, data_caches, llc_bytes, probe};

/// Flags of `eie probe`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Threads reading (each its own part of the buffer).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
}

/// One row of the probe.
#[derive(serde::Serialize)]
struct Row {
    level: String,
    buffer_bytes: usize,
    gbps: f64,
}

/// Runs `eie probe`.
pub fn run(args: Args) -> Result<()> {
    let threads = args.threads as usize;
    let caches = data_caches();
    let mut rows = Vec::new();
    // Half of each level's size, a buffer that fits it with room to spare: per reading thread for the
    // per-core levels (L1, L2), in all for the shared ones (L3 and beyond).
    for &(level, bytes) in &caches {
        let buf = bytes / 2 * if level <= 2 { threads } else { 1 };
        rows.push(Row {
            level: format!("L{level} ({} KiB)", bytes >> 10),
            buffer_bytes: buf,
            gbps: buffer_gbps(buf, threads, 15),
        });
    }
    let (_, cold) = probe(threads);
    rows.push(Row {
        level: "DRAM (rotating buffers)".into(),
        buffer_bytes: 4 * llc_bytes(),
        gbps: cold,
    });
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "threads": threads, "rows": rows }))?
        ),
        f => {
            let mut t = Table::new(&["Level", "Buffer", "GB/s"]);
            for r in &rows {
                t.push(vec![
                    r.level.clone(),
                    format!("{} KiB", r.buffer_bytes >> 10),
                    format!("{:.1}", r.gbps),
                ]);
            }
            if matches!(f, Format::Csv) {
                print!("{}", t.csv());
            } else {
                println!(
                    "Read bandwidth on {threads} thread(s), 8 streams per thread (the probe `measure` uses):\n"
                );
                print!("{}", t.markdown());
                if caches.is_empty() {
                    println!("\n(no cache sizes in /sys/devices/system/cpu/cpu0/cache: DRAM only)");
                }
            }
        }
    }
    Ok(())
}
