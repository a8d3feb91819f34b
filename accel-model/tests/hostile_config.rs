//! Hostile configurations: random TOML text and `KEY=VALUE` strings never panic, and a configuration
//! built as a struct literal with fields past their ranges is refused by everything that runs it; a
//! config file that is a FIFO, a device or longer than the cap is refused at once.

use eie_accel_model::{ConfigError, EieConfig, EieModelBackend, functional, simulate};
use eie_compress::{Backend, CompressOptions, LayerSpec, build_from_spec};
use proptest::prelude::*;
use std::path::Path;

fn small_layer() -> eie_compress::CompressedLayer {
    let spec = LayerSpec::new("h", 50, 40, 0.2, 0.5, true).unwrap();
    build_from_spec(&spec, CompressOptions::default()).unwrap()
}

/// TOML-ish text from the configuration's own vocabulary.
fn toml_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![
            "pes",
            "fifo_depth",
            "clock_mhz",
            "sram_width_bits",
            "act_regfile_entries",
            "weight_bits",
            "index_bits",
            "precision",
            "spmat_row_reuse",
            "leakage_mw_per_pe",
            "ptr_bits",
            " = ",
            "=",
            "\n",
            " ",
            "0",
            "1",
            "64",
            "-1",
            "1e30",
            "nan",
            "inf",
            "288230376151711744",
            "18446744073709551616",
            "\"fixed8\"",
            "\"x\"",
            "true",
            "[",
            "]",
            "{",
            "}",
            "[a]",
            "#",
            "\"",
            "'",
            ".",
            ",",
            "0x40",
            "1_000",
        ]),
        0..30,
    )
    .prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_config_or_an_error(text in prop_oneof![toml_soup(), ".{0,80}"]) {
        if let Ok(cfg) = EieConfig::from_toml(&text, "fuzz.toml") {
            prop_assert!(cfg.validate().is_ok());
        }
    }

    #[test]
    fn any_assignment_is_applied_or_refused(
        a in prop_oneof![toml_soup(), ".{0,40}"],
        b in toml_soup(),
    ) {
        let base = EieConfig::default();
        for cfg in [base.with_override(&a), base.with_overrides([&a, &b])].into_iter().flatten() {
            prop_assert!(cfg.validate().is_ok());
        }
    }

    /// The result of a set of assignments does not depend on their order.
    #[test]
    fn overrides_commute(
        picks in proptest::collection::vec((0usize..6, 0usize..4), 0..6),
    ) {
        let choices: [(&str, [&str; 4]); 6] = [
            ("pes", ["1", "8", "64", "2000"]),
            ("fifo_depth", ["1", "16", "0", "1048576"]),
            ("sram_width_bits", ["8", "12", "64", "4097"]),
            ("weight_bits", ["1", "4", "8", "9"]),
            ("index_bits", ["1", "4", "8", "0"]),
            ("act_regfile_entries", ["1", "64", "65536", "65537"]),
        ];
        let mut seen = std::collections::BTreeMap::new();
        for (f, v) in picks {
            seen.entry(f).or_insert(v);
        }
        let assignments: Vec<String> =
            seen.iter().map(|(&f, &v)| format!("{}={}", choices[f].0, choices[f].1[v])).collect();
        let mut reversed = assignments.clone();
        reversed.reverse();
        let base = EieConfig::default();
        let a = base.with_overrides(&assignments).map_err(|e| e.to_string());
        let b = base.with_overrides(&reversed).map_err(|e| e.to_string());
        match (a, b) {
            (Ok(x), Ok(y)) => prop_assert_eq!(x, y),
            (Err(_), Err(_)) => {}
            (x, y) => prop_assert!(false, "{:?} vs {:?}", x, y),
        }
    }
}

/// The issue's `--fifo 2^58` and `--set act_regfile_entries=2^58` panicked inside the model (an index
/// out of bounds, a division by zero) when they reached it; built as struct literals they are refused
/// by everything that runs a configuration.
#[test]
fn invalid_struct_literals_are_refused_not_run() {
    let l = small_layer();
    for cfg in [
        EieConfig {
            fifo_depth: 1 << 58,
            ..Default::default()
        },
        EieConfig {
            act_regfile_entries: 1 << 58,
            ..Default::default()
        },
        EieConfig {
            pes: 0,
            ..Default::default()
        },
        EieConfig {
            sram_width_bits: 0,
            ..Default::default()
        },
        EieConfig {
            pipeline_depth: 0,
            ..Default::default()
        },
        EieConfig {
            clock_mhz: f64::NAN,
            ..Default::default()
        },
    ] {
        let e = simulate(&l, &cfg).map(|_| ()).unwrap_err().to_string();
        assert!(e.starts_with("invalid configuration"), "{e}");
        assert!(functional(&l, &cfg).is_err());
        let mut m = EieModelBackend::new(cfg);
        assert!(m.prepare(&l, 1).is_err());
    }
    assert!(matches!(
        EieConfig::default().with_override("fifo_depth=288230376151711744"),
        Err(ConfigError::OutOfRange {
            field: "fifo_depth",
            ..
        })
    ));
}

/// The largest configuration the ranges allow runs a small layer quickly.
#[test]
fn the_widest_configuration_runs() {
    let l = small_layer();
    let cfg = EieConfig::default()
        .with_overrides([
            "pes=1024",
            "fifo_depth=1048576",
            "act_regfile_entries=65536",
            "sram_width_bits=4096",
            "pipeline_depth=64",
        ])
        .unwrap();
    let t = std::time::Instant::now();
    let s = simulate(&l, &cfg).unwrap();
    assert!(s.cycles.0 > 0 && t.elapsed().as_secs_f64() < 10.0);
    let (_, exact, _) = functional(&l, &cfg).unwrap();
    assert!(exact);
}

/// A fresh scratch folder (this crate's tests have no tempfile).
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("eie-hostile-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The issue's `--config f.toml` on a FIFO blocked forever in `open` (no writer), and a config from a
/// pipe was read without bound: anything but a regular file is refused before it is opened. The read
/// runs on a detached thread, so a regression fails here instead of hanging the suite.
#[cfg(unix)]
#[test]
fn a_fifo_config_is_refused_at_once() {
    let dir = scratch("fifo");
    let fifo = dir.join("f.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: mkfifo is not available");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let text = eie_accel_model::config::read_text(&f).map_err(|e| e.to_string());
        let cfg = EieConfig::from_file(&f).map_err(|e| e.to_string());
        let _ = tx.send((text, cfg));
    });
    let (text, cfg) = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("a FIFO config must be refused at once, not block");
    for e in [text.unwrap_err(), cfg.unwrap_err()] {
        assert!(
            e.contains(
                "f.toml: cannot read: not a regular file (a FIFO (named pipe)); give a TOML file"
            ),
            "{e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A character device (`/dev/null` reads as an empty, valid config; `/dev/zero` never ends) is refused.
#[cfg(unix)]
#[test]
fn device_configs_are_refused() {
    for dev in ["/dev/null", "/dev/zero"] {
        if !Path::new(dev).exists() {
            continue;
        }
        let e = EieConfig::from_file(Path::new(dev))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(dev) && e.contains("not a regular file (a character device)"),
            "{e}"
        );
    }
}

/// Deeply nested TOML (within the size cap) is a parse error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    for open in ["[", "{a="] {
        let text = format!("pes = {}", open.repeat(100_000));
        assert!(EieConfig::from_toml(&text, "deep.toml").is_err());
    }
}

/// A file of exactly [`MAX_CONFIG_BYTES`] is read; one byte more is refused after reading at most
/// the cap and one byte, whatever the file's length.
#[test]
fn configs_are_capped_at_one_mib() {
    use eie_accel_model::config::MAX_CONFIG_BYTES;
    let dir = scratch("cap");
    let tail = "pes = 4\n";
    let mut text = "#".repeat(MAX_CONFIG_BYTES as usize - tail.len() - 1);
    text.push('\n');
    text.push_str(tail);
    assert_eq!(text.len() as u64, MAX_CONFIG_BYTES);
    let at = dir.join("at.toml");
    std::fs::write(&at, &text).unwrap();
    assert_eq!(EieConfig::from_file(&at).unwrap().pes, 4);
    for (name, extra) in [("over.toml", 1usize), ("far.toml", 8 << 20)] {
        let over = dir.join(name);
        std::fs::write(&over, format!("{}{text}", "#".repeat(extra))).unwrap();
        let e = EieConfig::from_file(&over).unwrap_err().to_string();
        assert!(
            e.contains(name) && e.contains("longer than 1048576 bytes"),
            "{e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
