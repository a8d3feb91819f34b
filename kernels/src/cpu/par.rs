//! Threading: sequential, or N threads that split a kernel's output (no atomics on the data).
//!
//! A kernel call here can take as little as 50 µs, so fork and join must cost microseconds, not the
//! tens to hundreds of microseconds an OS wake-up takes on a virtual machine. [`Threads`] keeps
//! `N - 1` persistent workers that spin on an epoch counter between calls (parking after a few
//! milliseconds without work), and the calling thread does the first share of the work itself.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    /// On the calling thread.
    Seq,
    /// On this many threads (the caller and `n - 1` workers).
    Threads(usize),
}

impl Par {
    /// Threads used.
    pub fn threads(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Threads(n) => n.max(1),
        }
    }

    /// `Seq` for 1 thread, `Threads(n)` otherwise.
    pub fn with_threads(n: usize) -> Self {
        if n <= 1 { Par::Seq } else { Par::Threads(n) }
    }
}

/// How long an idle worker spins before it parks.
const SPIN_BEFORE_PARK: Duration = Duration::from_millis(5);

/// A job, type- and lifetime-erased: `f(worker)` for workers `1..n`. Only ever dereferenced while the
/// caller of [`Threads::run`] is waiting for every worker to finish it.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and `Threads::run` keeps it alive until every worker is done with it.
unsafe impl Send for Job {}

struct Shared {
    epoch: AtomicU64,
    done: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    job: Mutex<Option<Job>>,
}

/// A [`Par`] with its workers.
pub struct Threads {
    par: Par,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Starts the workers (untimed).
    pub fn new(par: Par) -> Self {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            job: Mutex::new(None),
        });
        let workers = (1..par.threads())
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("eie-worker-{index}"))
                    .spawn(move || worker(&shared, index))
                    .expect("spawn a worker thread")
            })
            .collect();
        Self {
            par,
            shared,
            workers,
        }
    }

    /// Thread count.
    pub fn count(&self) -> usize {
        self.par.threads()
    }

    /// Runs `f(i)` for `i` in `0..count()`: `f(0)` on the calling thread, the others on the workers;
    /// returns when all are done. A panic in any of them is re-raised here.
    fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            f(0);
            return;
        }
        let s = &*self.shared;
        // SAFETY (lifetime erasure): the workers dereference the job only between the epoch increment
        // below and their `done` increment, and this function does not return (or unwind) before it has
        // seen every worker's `done`.
        let job: *const (dyn Fn(usize) + Sync) = f;
        let job = Job(unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(job)
        });
        *s.job.lock().expect("job slot") = Some(job);
        s.done.store(0, Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::Release);
        for w in &self.workers {
            w.thread().unpark();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        while s.done.load(Ordering::Acquire) < self.workers.len() {
            std::hint::spin_loop();
        }
        *s.job.lock().expect("job slot") = None;
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a worker thread panicked");
        }
    }

    /// Calls `f(i, &mut items[i])` for every item; items are spread over the threads (item `i` on
    /// thread `i mod count()`).
    pub fn for_each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        let n = self.count();
        if n == 1 || items.len() <= 1 {
            items.iter_mut().enumerate().for_each(|(i, t)| f(i, t));
            return;
        }
        // Hand each thread its own items through a slot it alone takes from.
        let slots: Vec<Mutex<Vec<(usize, &mut T)>>> =
            (0..n).map(|_| Mutex::new(Vec::new())).collect();
        for (i, item) in items.iter_mut().enumerate() {
            slots[i % n].lock().expect("slot").push((i, item));
        }
        self.run(&|t| {
            for (i, item) in slots[t].lock().expect("slot").iter_mut() {
                f(*i, item);
            }
        });
    }

    /// Calls `f(task, rows)` for consecutive chunks of `rows_per_task` rows of `out` (each row `width`
    /// values wide), spread over the threads.
    pub fn for_rows<T: Send>(
        &self,
        out: &mut [T],
        width: usize,
        rows_per_task: usize,
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        let mut chunks: Vec<&mut [T]> = out.chunks_mut((rows_per_task * width).max(1)).collect();
        self.for_each(&mut chunks, |t, c| f(t, c));
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

fn worker(s: &Shared, index: usize) {
    // The epoch the pool was created with: a job published before this thread first runs must still
    // count as new (reading the current epoch here would miss it, and the caller would wait forever).
    let mut seen = 0u64;
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && idle_since.elapsed() > SPIN_BEFORE_PARK {
                std::thread::park_timeout(Duration::from_millis(10));
            } else {
                std::hint::spin_loop();
            }
        }
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        let job = *s.job.lock().expect("job slot");
        if let Some(Job(f)) = job {
            // SAFETY: see `Threads::run`: the job outlives this call.
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*f)(index) }));
            if r.is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

/// Rows per task so that `threads` tasks cover `rows` (at least 1).
pub fn rows_per_task(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_and_panics_propagate() {
        for n in 1..4 {
            let t = Threads::new(Par::with_threads(n));
            for len in [0usize, 1, 2, 5, 17] {
                let mut v = vec![0usize; len];
                t.for_each(&mut v, |i, x| *x += i + 1);
                assert_eq!(v, (1..=len).collect::<Vec<_>>(), "{n} threads, {len} items");
            }
            let mut rows = vec![0u32; 10];
            t.for_rows(&mut rows, 2, 2, |task, c| {
                c.iter_mut().for_each(|x| *x = task as u32)
            });
            assert_eq!(rows, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
        }
        let t = Threads::new(Par::Threads(2));
        let r = catch_unwind(AssertUnwindSafe(|| {
            t.for_each(&mut [0, 1], |i, _| assert!(i != 1, "boom"))
        }));
        assert!(r.is_err());
        // The pool still works after a panic.
        let mut v = vec![0; 4];
        t.for_each(&mut v, |i, x| *x = i);
        assert_eq!(v, vec![0, 1, 2, 3]);
    }
}
