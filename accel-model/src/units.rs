//! Newtypes that keep cycles, picojoules and milliwatts apart.

use serde::Serialize;
use std::ops::{Add, AddAssign, Mul};

/// A count of clock cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cycles(pub u64);

/// An energy in picojoules.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize)]
pub struct Picojoules(pub f64);

/// A power in milliwatts.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize)]
pub struct Milliwatts(pub f64);

impl Cycles {
    /// Duration at `clock_mhz`, in microseconds.
    pub fn micros(self, clock_mhz: f64) -> f64 {
        self.0 as f64 / clock_mhz
    }
}

impl Add for Cycles {
    type Output = Cycles;
    fn add(self, o: Cycles) -> Cycles {
        Cycles(self.0 + o.0)
    }
}

impl AddAssign for Cycles {
    fn add_assign(&mut self, o: Cycles) {
        self.0 += o.0;
    }
}

impl Add for Picojoules {
    type Output = Picojoules;
    fn add(self, o: Picojoules) -> Picojoules {
        Picojoules(self.0 + o.0)
    }
}

impl AddAssign for Picojoules {
    fn add_assign(&mut self, o: Picojoules) {
        self.0 += o.0;
    }
}

/// Events times energy per event.
impl Mul<Picojoules> for u64 {
    type Output = Picojoules;
    fn mul(self, e: Picojoules) -> Picojoules {
        Picojoules(self as f64 * e.0)
    }
}

impl Milliwatts {
    /// Energy dissipated over `cycles` at `clock_mhz` (1 mW for 1 ns is 1 pJ).
    pub fn over(self, cycles: Cycles, clock_mhz: f64) -> Picojoules {
        Picojoules(self.0 * cycles.0 as f64 * 1000.0 / clock_mhz)
    }
}

impl Picojoules {
    /// Nanojoules.
    pub fn nanojoules(self) -> f64 {
        self.0 / 1000.0
    }
    /// Average power when spent over `cycles` at `clock_mhz`.
    pub fn power(self, cycles: Cycles, clock_mhz: f64) -> Milliwatts {
        if cycles.0 == 0 {
            Milliwatts(0.0)
        } else {
            Milliwatts(self.0 * clock_mhz / (cycles.0 as f64 * 1000.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_conversions() {
        // 9.157 mW for one 1.25 ns cycle at 800 MHz is 11.446 pJ.
        let e = Milliwatts(9.157).over(Cycles(1), 800.0);
        assert!((e.0 - 11.44625).abs() < 1e-12);
        assert!((e.power(Cycles(1), 800.0).0 - 9.157).abs() < 1e-12);
        assert_eq!(Cycles(800).micros(800.0), 1.0);
        assert_eq!(3u64 * Picojoules(2.0), Picojoules(6.0));
    }
}
