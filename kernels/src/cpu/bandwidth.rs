//! A STREAM-like read-bandwidth probe, run in the same process as the kernels so every kernel's GB/s
//! can be put beside what this machine can read: **hot** (a buffer that stays in the last-level cache)
//! and **cold** (rotating over buffers larger than it, so every pass comes from DRAM).

use super::hugebuf::HugeBuf;
use super::isa::{IsaLevel, Kernel, Simd, dispatch};
use super::par::{Par, Threads, rows_per_task};
use std::hint::black_box;
use std::time::Instant;

/// Last-level cache size in bytes (sysfs), or 32 MiB when it cannot be read.
pub fn llc_bytes() -> usize {
    (0..8)
        .filter_map(|i| {
            std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size"))
                .ok()
        })
        .filter_map(|s| parse_size(s.trim()))
        .max()
        .unwrap_or(32 << 20)
}

/// The data caches of cpu0 from sysfs: (level, bytes), smallest first; empty when sysfs has none.
pub fn data_caches() -> Vec<(u32, usize)> {
    let dir = "/sys/devices/system/cpu/cpu0/cache";
    let read = |i: usize, f: &str| std::fs::read_to_string(format!("{dir}/index{i}/{f}")).ok();
    let mut v: Vec<(u32, usize)> = (0..8)
        .filter_map(|i| {
            let kind = read(i, "type")?;
            if kind.trim() == "Instruction" {
                return None;
            }
            let level = read(i, "level")?.trim().parse().ok()?;
            Some((level, parse_size(read(i, "size")?.trim())?))
        })
        .collect();
    v.sort();
    v
}

/// "32K", "1024K", "32M" or a plain byte count.
fn parse_size(s: &str) -> Option<usize> {
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024),
        'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mul)
}

/// Read bandwidth (GB/s) of one buffer of `bytes` (at least 4 KiB per thread), read over and over on
/// `threads` threads: the ceiling for a kernel whose data stays in the cache level that size fits. Each
/// thread reads its own part; the median of `reps` passes.
pub fn buffer_gbps(bytes: usize, threads: usize, reps: usize) -> f64 {
    let len = (bytes / 4).max(1024 * threads.max(1));
    hot_gbps(&HugeBuf::from_slice(&vec![1.0f32; len]), threads, reps)
}

struct Sum<'a>(&'a [f32]);

impl Kernel for Sum<'_> {
    type Output = f32;
    /// Sums the slice as eight parts read side by side: eight memory streams in flight, as many as the
    /// dense kernel keeps, so the probe is a fair ceiling for it.
    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> f32 {
        let l = S::LANES;
        let q = self.0.len() / 8 / (2 * l) * (2 * l);
        let parts: [&[f32]; 8] = std::array::from_fn(|k| &self.0[k * q..(k + 1) * q]);
        let mut acc = [[s.zero(); 2]; 8];
        let mut j = 0;
        while j < q {
            for (a, p) in acc.iter_mut().zip(&parts) {
                a[0] = s.add(a[0], s.load(&p[j..]));
                a[1] = s.add(a[1], s.load(&p[j + l..]));
            }
            j += 2 * l;
        }
        let total = acc
            .iter()
            .fold(s.zero(), |t, a| s.add(t, s.add(a[0], a[1])));
        s.sum(total) + self.0[8 * q..].iter().sum::<f32>()
    }
}

/// Read bandwidth in GB/s (10^9 bytes per second) of `buf` kept in cache: the median of `reps` timed
/// passes, each reading it (split over `threads` threads) as many times as it takes to read at least
/// 64 MB, so that waking the pool's threads is a small part of every pass.
pub fn hot_gbps(buf: &HugeBuf<f32>, threads: usize, reps: usize) -> f64 {
    let inner = ((64 << 20) / (buf.len() * 4)).max(1);
    passes_gbps(std::slice::from_ref(buf), threads, reps, inner)
}

/// Read bandwidth in GB/s from DRAM: the median of `reps` timed passes, each reading the next of
/// `buffers` (split over `threads` threads) once. Give at least two, each at least as large as the
/// last-level cache ([`dram_buffers`]), so that a buffer is evicted before it is read again. Read more
/// than once in a pass, a buffer is not cold: each of two threads would read its half of an LLC-sized
/// buffer, which fits in the LLC, from there on its second read (the probe did that until 2026-12-02,
/// and read 46-91 GB/s "from DRAM" on two vCPUs that stream 35 GB/s).
pub fn cold_gbps(buffers: &[HugeBuf<f32>], threads: usize, reps: usize) -> f64 {
    passes_gbps(buffers, threads, reps, 1)
}

/// The median GB/s of `reps` timed passes (after one untimed), pass `r` reading `buffers[r % len]`
/// `inner` times. The buffers are on huge pages where large, like the kernels' matrices ([`HugeBuf`]), so
/// the probe stays their ceiling.
fn passes_gbps(buffers: &[HugeBuf<f32>], threads: usize, reps: usize, inner: usize) -> f64 {
    let pool = Threads::new(Par::with_threads(threads));
    let level = IsaLevel::best();
    let mut times = Vec::with_capacity(reps);
    let mut sink = vec![0.0f32; threads];
    let len = buffers[0].len();
    for r in 0..reps + 1 {
        let buf = &buffers[r % buffers.len()];
        let per = rows_per_task(buf.len(), threads);
        let t = Instant::now();
        pool.for_rows(&mut sink, 1, 1, |i, out| {
            let lo = (i * per).min(buf.len());
            let hi = ((i + 1) * per).min(buf.len());
            for _ in 0..inner {
                out[0] += dispatch(level, Sum(black_box(&buf[lo..hi])));
            }
        });
        let dt = t.elapsed().as_secs_f64();
        black_box(&sink);
        if r > 0 {
            times.push(dt);
        }
    }
    times.sort_by(f64::total_cmp);
    (len * 4 * inner) as f64 / times[times.len() / 2] / 1e9
}

/// (hot, cold) read bandwidth in GB/s on `threads` threads.
pub fn probe(threads: usize) -> (f64, f64) {
    let llc = llc_bytes();
    let hot = HugeBuf::from_slice(&vec![1.0f32; (llc / 4 / 4).max(1 << 16)]);
    (
        hot_gbps(&hot, threads, 15),
        cold_gbps(&dram_buffers(4), threads, 8),
    )
}

/// `n` buffers, each as large as the last-level cache: read in turn, every pass comes from DRAM. Non-zero
/// contents: a `vec![0.0; n]` is calloc'd, and untouched zero pages all map to one physical page that
/// would be read from cache.
pub fn dram_buffers(n: usize) -> Vec<HugeBuf<f32>> {
    let len = (llc_bytes() / 4).max(1 << 20);
    (0..n)
        .map(|i| HugeBuf::from_slice(&vec![i as f32 + 1.0; len]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn a_small_buffer_has_a_bandwidth() {
        let g = buffer_gbps(16 << 10, 1, 3);
        assert!(g.is_finite() && g > 0.0, "{g}");
    }

    #[test]
    fn rotating_buffers_have_a_bandwidth_on_two_threads() {
        let bufs: Vec<_> = (0..2)
            .map(|i| HugeBuf::from_slice(&vec![i as f32 + 1.0; 1 << 16]))
            .collect();
        let g = cold_gbps(&bufs, 2, 3);
        assert!(g.is_finite() && g > 0.0, "{g}");
    }
}
