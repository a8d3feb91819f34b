//! Threading: sequential, or a rayon pool of N threads built once per backend. Threads own disjoint
//! row ranges of the output; no atomics.

use rayon::prelude::*;

/// How a backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    /// On the calling thread.
    Seq,
    /// On a rayon pool of this many threads.
    Rayon(usize),
}

impl Par {
    /// Threads used.
    pub fn threads(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Rayon(n) => n.max(1),
        }
    }

    /// `Seq` for 1 thread, `Rayon(n)` otherwise.
    pub fn with_threads(n: usize) -> Self {
        if n <= 1 { Par::Seq } else { Par::Rayon(n) }
    }
}

/// A [`Par`] with its pool.
pub struct Threads {
    par: Par,
    pool: Option<rayon::ThreadPool>,
}

impl Threads {
    /// Builds the pool (untimed).
    pub fn new(par: Par) -> Self {
        let pool = match par {
            Par::Seq => None,
            Par::Rayon(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build()
                    .expect("rayon pool"),
            ),
        };
        Self { par, pool }
    }

    /// Thread count.
    pub fn count(&self) -> usize {
        self.par.threads()
    }

    /// Calls `f(task, rows)` for consecutive chunks of `rows_per_task` rows of `out` (each row `width`
    /// values wide), in parallel when this has a pool.
    pub fn for_rows<T: Send>(
        &self,
        out: &mut [T],
        width: usize,
        rows_per_task: usize,
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        let chunk = (rows_per_task * width).max(1);
        match &self.pool {
            None => out.chunks_mut(chunk).enumerate().for_each(|(t, c)| f(t, c)),
            Some(pool) => pool.install(|| {
                out.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(t, c)| f(t, c))
            }),
        }
    }
}

impl Threads {
    /// Calls `f(i, &mut items[i])` for every item, in parallel when this has a pool.
    pub fn for_each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        match &self.pool {
            None => items.iter_mut().enumerate().for_each(|(i, t)| f(i, t)),
            Some(pool) => {
                pool.install(|| items.par_iter_mut().enumerate().for_each(|(i, t)| f(i, t)))
            }
        }
    }
}

/// Rows per task so that `threads` tasks cover `rows` (at least 1).
pub fn rows_per_task(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads.max(1)).max(1)
}
