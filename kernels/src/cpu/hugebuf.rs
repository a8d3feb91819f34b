//! Large read-only kernel data on transparent huge pages (Linux).
//!
//! A batch-1 product streams its matrix from DRAM. On 4 KB pages every 4 KB of a stream costs a TLB
//! miss and the core's stream prefetchers stop at each page boundary; on 2 MB pages they do not.
//! numpy asks the kernel for huge pages (`madvise(MADV_HUGEPAGE)`) for arrays of 4 MB and more, so a
//! library called on numpy arrays (MKL through `torch.from_numpy`, OpenBLAS through numpy) streams
//! from huge pages; like for like, our kernels do the same. With the system setting
//! `/sys/kernel/mm/transparent_hugepage/enabled` at `never` the advice is ignored and nothing changes
//! but speed.

use std::alloc::{Layout, alloc, dealloc};
use std::ops::Deref;
use std::ptr::NonNull;

/// Buffers of at least this many bytes are aligned to, and advised onto, 2 MB pages (numpy's
/// threshold is 4 MB; a 2 MB buffer can already fill one huge page).
const HUGE_MIN: usize = 2 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// An immutable buffer of `T`, 64-byte aligned, on 2 MB pages where it is large enough.
pub struct HugeBuf<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    layout: Option<Layout>,
}

// SAFETY: the buffer owns its elements exclusively, like a `Box<[T]>`.
unsafe impl<T: Copy + Send> Send for HugeBuf<T> {}
// SAFETY: only shared access after construction.
unsafe impl<T: Copy + Sync> Sync for HugeBuf<T> {}

impl<T: Copy> HugeBuf<T> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            ptr: NonNull::dangling(),
            len: 0,
            layout: None,
        }
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[T]) -> Self {
        let bytes = std::mem::size_of_val(data);
        if bytes == 0 {
            return Self::new();
        }
        let huge = bytes >= HUGE_MIN;
        let (size, align) = if huge {
            (bytes.next_multiple_of(HUGE_PAGE), HUGE_PAGE)
        } else {
            (bytes, 64.max(std::mem::align_of::<T>()))
        };
        let layout = Layout::from_size_align(size, align).expect("a valid buffer layout");
        // SAFETY: `size` is non-zero.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        if huge {
            advise_huge(raw, size);
        }
        // SAFETY: the allocation holds at least `data.len()` elements of `T`, aligned, and does not
        // overlap `data`; `T: Copy`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), data.len()) };
        Self {
            ptr,
            len: data.len(),
            layout: Some(layout),
        }
    }
}

impl<T: Copy> Default for HugeBuf<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> Deref for HugeBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised elements (or is dangling with `len` 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in `from_slice` with this layout.
            unsafe { dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// Asks the kernel to back `len` bytes at `p` (2 MB aligned, not yet touched) with huge pages. Advice
/// only: a refusal changes nothing but speed.
#[cfg(target_os = "linux")]
fn advise_huge(p: *mut u8, len: usize) {
    // SAFETY: `p..p + len` is one live allocation of ours; MADV_HUGEPAGE does not change its contents.
    unsafe {
        libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: *mut u8, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_small_large_and_empty() {
        for n in [0usize, 1, 7, 1000, (HUGE_MIN / 4) + 3] {
            let v: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b = HugeBuf::from_slice(&v);
            assert_eq!(&*b, v.as_slice());
            assert!(n == 0 || (b.as_ptr() as usize).is_multiple_of(64));
            if n * 4 >= HUGE_MIN {
                assert!((b.as_ptr() as usize).is_multiple_of(HUGE_PAGE));
            }
        }
        let u: HugeBuf<u16> = HugeBuf::from_slice(&[1, 2, 3]);
        assert_eq!(&*u, &[1, 2, 3]);
    }
}
