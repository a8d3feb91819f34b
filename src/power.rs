//! Power, measured where the machine lets us: Linux powercap (RAPL) package energy counters for the CPU,
//! and NVIDIA's NVML total-energy counter for an NVIDIA GPU (feature `nvml`, loaded at run time from the
//! driver's `libnvidia-ml.so.1`). A measurement reads the counters before and after the timed runs and
//! divides the energy by the elapsed time: the **whole package's or board's** average power while the
//! kernel ran (idle cores and uncore included), which is what a wall-socket comparison would charge.
//! Where nothing is readable, the report uses a declared wattage and says so.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// One package-level RAPL zone (`/sys/class/powercap/intel-rapl:N`, AMD's too).
struct RaplZone {
    energy_uj: PathBuf,
    max_uj: u64,
}

/// The CPU's package energy counters.
pub struct Rapl {
    zones: Vec<RaplZone>,
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Rapl {
    /// The package zones under `root` (normally `/sys/class/powercap`), or why there are none.
    pub fn open_at(root: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(root)
            .map_err(|e| format!("{}: {e} (no powercap/RAPL interface)", root.display()))?;
        let mut zones = Vec::new();
        let mut unreadable = None;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Package zones are `intel-rapl:N`; sub-zones (`intel-rapl:N:M`: core, uncore, dram) are inside them.
            let is_package = name
                .strip_prefix("intel-rapl:")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
            if !is_package {
                continue;
            }
            let dir = e.path();
            let energy_uj = dir.join("energy_uj");
            match (
                read_u64(&energy_uj),
                read_u64(&dir.join("max_energy_range_uj")),
            ) {
                (Some(_), Some(max_uj)) if max_uj > 0 => zones.push(RaplZone { energy_uj, max_uj }),
                _ => unreadable = Some(energy_uj),
            }
        }
        if zones.is_empty() {
            return Err(match unreadable {
                Some(p) => format!("{}: not readable (needs root on most kernels)", p.display()),
                None => format!("{}: no package zone (intel-rapl:N)", root.display()),
            });
        }
        zones.sort_by(|a, b| a.energy_uj.cmp(&b.energy_uj));
        Ok(Self { zones })
    }

    fn read(&self) -> Option<Vec<u64>> {
        self.zones.iter().map(|z| read_u64(&z.energy_uj)).collect()
    }

    /// Joules between two reads of every zone, counter wrap-around included.
    fn joules(&self, a: &[u64], b: &[u64]) -> f64 {
        self.zones
            .iter()
            .zip(a.iter().zip(b))
            .map(|(z, (&a, &b))| {
                let d = if b >= a { b - a } else { z.max_uj - a + b };
                d as f64 * 1e-6
            })
            .sum()
    }
}

#[cfg(feature = "nvml")]
mod nvml {
    //! NVML through `dlopen`: the driver ships the library, so a machine without it only loses the GPU
    //! power figures. Functions and semantics from NVIDIA's NVML API reference.
    use libloading::Library;
    use std::ffi::{c_char, c_int, c_uint, c_void};

    type Device = *mut c_void;

    pub struct Nvml {
        device: Device,
        energy: unsafe extern "C" fn(Device, *mut u64) -> c_int,
        power: unsafe extern "C" fn(Device, *mut c_uint) -> c_int,
        pub name: String,
        _lib: Library,
    }

    // The handle is an opaque pointer into the driver, valid for the process; NVML is thread-safe.
    unsafe impl Send for Nvml {}
    unsafe impl Sync for Nvml {}

    impl Nvml {
        /// Opens the NVIDIA GPU whose name contains `want` (the wgpu adapter's name), else GPU 0.
        pub fn open(want: Option<&str>) -> Result<Self, String> {
            // SAFETY: loading the vendor library runs its initialisers, which is what NVML expects.
            let lib = unsafe { Library::new("libnvidia-ml.so.1") }
                .map_err(|e| format!("libnvidia-ml.so.1: {e}"))?;
            // SAFETY: symbol names and signatures as the NVML API reference declares them.
            unsafe {
                let sym = |n: &[u8]| {
                    lib.get::<*mut c_void>(n).map(|s| *s).map_err(|e| {
                        format!(
                            "NVML symbol {}: {e}",
                            String::from_utf8_lossy(&n[..n.len() - 1])
                        )
                    })
                };
                let init: unsafe extern "C" fn() -> c_int =
                    std::mem::transmute(sym(b"nvmlInit_v2\0")?);
                let count: unsafe extern "C" fn(*mut c_uint) -> c_int =
                    std::mem::transmute(sym(b"nvmlDeviceGetCount_v2\0")?);
                let handle: unsafe extern "C" fn(c_uint, *mut Device) -> c_int =
                    std::mem::transmute(sym(b"nvmlDeviceGetHandleByIndex_v2\0")?);
                let name_fn: unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int =
                    std::mem::transmute(sym(b"nvmlDeviceGetName\0")?);
                let energy = std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(Device, *mut u64) -> c_int,
                >(sym(b"nvmlDeviceGetTotalEnergyConsumption\0")?);
                let power = std::mem::transmute::<
                    *mut c_void,
                    unsafe extern "C" fn(Device, *mut c_uint) -> c_int,
                >(sym(b"nvmlDeviceGetPowerUsage\0")?);
                let rc = init();
                if rc != 0 {
                    return Err(format!("nvmlInit_v2 returned {rc}"));
                }
                let mut n: c_uint = 0;
                if count(&mut n) != 0 || n == 0 {
                    return Err("NVML sees no GPU".into());
                }
                let mut chosen = None;
                for i in 0..n {
                    let mut d: Device = std::ptr::null_mut();
                    if handle(i, &mut d) != 0 {
                        continue;
                    }
                    let mut buf = [0 as c_char; 96];
                    let name = if name_fn(d, buf.as_mut_ptr(), buf.len() as c_uint) == 0 {
                        std::ffi::CStr::from_ptr(buf.as_ptr())
                            .to_string_lossy()
                            .into_owned()
                    } else {
                        format!("NVML GPU {i}")
                    };
                    let matches = want.is_some_and(|w| {
                        w.to_lowercase().contains(&name.to_lowercase())
                            || name.to_lowercase().contains(&w.to_lowercase())
                    });
                    if chosen.is_none() || matches {
                        chosen = Some((d, name));
                    }
                    if matches {
                        break;
                    }
                }
                let (device, name) = chosen.ok_or("NVML returned no device handle")?;
                Ok(Self {
                    device,
                    energy,
                    power,
                    name,
                    _lib: lib,
                })
            }
        }

        /// The board's energy since the driver loaded, mJ (Volta and newer).
        pub fn energy_mj(&self) -> Option<u64> {
            let mut v = 0u64;
            // SAFETY: a valid handle from `open` and a valid out-pointer.
            (unsafe { (self.energy)(self.device, &mut v) } == 0).then_some(v)
        }

        /// The board's power now, W.
        pub fn power_w(&self) -> Option<f64> {
            let mut v: c_uint = 0;
            // SAFETY: as above.
            (unsafe { (self.power)(self.device, &mut v) } == 0).then_some(v as f64 / 1000.0)
        }
    }
}

/// The counters this machine offers.
pub struct Meter {
    rapl: Result<Rapl, String>,
    #[cfg(feature = "nvml")]
    gpu: Result<nvml::Nvml, String>,
}

/// One read of every counter.
pub struct Reading {
    at: Instant,
    cpu_uj: Option<Vec<u64>>,
    gpu_mj: Option<u64>,
}

/// Average power between two readings, where measured.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Watts {
    pub cpu: Option<f64>,
    pub gpu: Option<f64>,
}

impl Meter {
    /// Opens RAPL and (feature `nvml`) the NVIDIA GPU named like `gpu_name`.
    pub fn open(gpu_name: Option<&str>) -> Self {
        let _ = gpu_name;
        Self {
            rapl: Rapl::open_at(Path::new("/sys/class/powercap")),
            #[cfg(feature = "nvml")]
            gpu: nvml::Nvml::open(gpu_name),
        }
    }

    /// Reads every counter now.
    pub fn read(&self) -> Reading {
        #[cfg(feature = "nvml")]
        let gpu_mj = self.gpu.as_ref().ok().and_then(|g| g.energy_mj());
        #[cfg(not(feature = "nvml"))]
        let gpu_mj = None;
        Reading {
            at: Instant::now(),
            cpu_uj: self.rapl.as_ref().ok().and_then(|r| r.read()),
            gpu_mj,
        }
    }

    /// Average power between `a` and `b` (NVML's energy counter ticks every 20-100 ms: below 1 s we take
    /// its instantaneous power reading instead).
    pub fn watts(&self, a: &Reading, b: &Reading) -> Watts {
        let dt = (b.at - a.at).as_secs_f64();
        if dt <= 0.0 {
            return Watts::default();
        }
        let cpu = match (&self.rapl, &a.cpu_uj, &b.cpu_uj) {
            (Ok(r), Some(x), Some(y)) => Some(r.joules(x, y) / dt),
            _ => None,
        };
        #[cfg(feature = "nvml")]
        let gpu = match (&self.gpu, a.gpu_mj, b.gpu_mj) {
            (Ok(_), Some(x), Some(y)) if dt >= 1.0 => Some(y.saturating_sub(x) as f64 * 1e-3 / dt),
            (Ok(g), _, _) => g.power_w(),
            _ => None,
        };
        #[cfg(not(feature = "nvml"))]
        let gpu = {
            let _ = (a.gpu_mj, b.gpu_mj);
            None
        };
        Watts { cpu, gpu }
    }

    /// Where CPU power comes from, or why it cannot be measured.
    pub fn cpu_status(&self) -> Result<String, String> {
        self.rapl
            .as_ref()
            .map(|r| format!("RAPL package energy ({} zone(s))", r.zones.len()))
            .map_err(|e| e.clone())
    }

    /// Where GPU power comes from, or why it cannot be measured.
    pub fn gpu_status(&self) -> Result<String, String> {
        #[cfg(feature = "nvml")]
        return self
            .gpu
            .as_ref()
            .map(|g| format!("NVML board energy ({})", g.name))
            .map_err(|e| e.clone());
        #[cfg(not(feature = "nvml"))]
        Err("built without the `nvml` feature (cargo build --release --features nvml)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_powercap_tree_with_wraparound() {
        let dir = tempfile::tempdir().unwrap();
        let z = dir.path().join("intel-rapl:0");
        std::fs::create_dir_all(z.join("intel-rapl:0:0")).unwrap();
        std::fs::write(z.join("energy_uj"), "999000000\n").unwrap();
        std::fs::write(z.join("max_energy_range_uj"), "1000000000\n").unwrap();
        std::fs::create_dir_all(dir.path().join("intel-rapl-mmio:0")).unwrap();
        let r = Rapl::open_at(dir.path()).unwrap();
        assert_eq!(r.zones.len(), 1);
        let a = r.read().unwrap();
        std::fs::write(z.join("energy_uj"), "1000000\n").unwrap();
        let b = r.read().unwrap();
        // 1 J to the wrap, 1 J after it.
        assert!((r.joules(&a, &b) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn explains_a_missing_or_unreadable_interface() {
        let dir = tempfile::tempdir().unwrap();
        let e = Rapl::open_at(&dir.path().join("nope")).err().unwrap();
        assert!(e.contains("nope"), "{e}");
        std::fs::create_dir_all(dir.path().join("intel-rapl:0")).unwrap();
        let e = Rapl::open_at(dir.path()).err().unwrap();
        assert!(e.contains("energy_uj") && e.contains("not readable"), "{e}");
    }
}
