//! Runtime instruction-set dispatch: a kernel is written once, generic over [`Simd`], and run at the
//! best level the CPU has (or a level a test forces).
//!
//! The pattern (as in pulp): a kernel implements [`Kernel`], whose generic `run::<S>` is
//! `#[inline(always)]`; [`dispatch`] calls it from a function compiled with the level's target features,
//! so the kernel body and the [`Simd`] operations inline into code that uses those instructions. A
//! [`Simd`] token of a level can only be made after that level was detected, which is what makes its
//! intrinsics sound to call.
//!
//! Levels: AVX-512 (F, BW, VL; 16 f32 lanes), AVX2 + FMA (8 lanes), and the portable level (8-lane
//! arrays, plain Rust, which the compiler maps to whatever the baseline target has: SSE2 on x86-64,
//! NEON on aarch64). A hand-written NEON level is not implemented: this project has no aarch64 machine to
//! test it on, and aarch64's baseline already includes NEON, which the portable level's arrays use.

use serde::Serialize;

/// An instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsaLevel {
    /// Plain Rust over 8-lane arrays (the target's baseline vector unit).
    Portable,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F/BW/VL (x86-64-v4).
    Avx512,
}

impl IsaLevel {
    /// Whether this CPU has the level.
    pub fn is_available(self) -> bool {
        match self {
            IsaLevel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            IsaLevel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            IsaLevel::Avx512 => {
                IsaLevel::Avx2.is_available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every level this CPU has, best last.
    pub fn available() -> Vec<IsaLevel> {
        [IsaLevel::Portable, IsaLevel::Avx2, IsaLevel::Avx512]
            .into_iter()
            .filter(|l| l.is_available())
            .collect()
    }

    /// The best level this CPU has.
    pub fn best() -> IsaLevel {
        *Self::available()
            .last()
            .expect("portable is always available")
    }

    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            IsaLevel::Portable => "portable",
            IsaLevel::Avx2 => "avx2",
            IsaLevel::Avx512 => "avx512",
        }
    }

    /// Parses a name (`portable`, `scalar`, `avx2`, `avx512`).
    pub fn parse(s: &str) -> Option<IsaLevel> {
        match s.to_ascii_lowercase().as_str() {
            "portable" | "scalar" => Some(IsaLevel::Portable),
            "avx2" => Some(IsaLevel::Avx2),
            "avx512" | "avx-512" => Some(IsaLevel::Avx512),
            _ => None,
        }
    }
}

/// The operations our kernels need, on vectors of `LANES` f32 or i32.
pub trait Simd: Copy + Send + Sync {
    /// f32 / i32 lanes per vector.
    const LANES: usize;
    /// A vector of f32.
    type F: Copy;
    /// A vector of i32.
    type I: Copy;
    /// The level.
    fn level(self) -> IsaLevel;
    fn zero(self) -> Self::F;
    fn splat(self, x: f32) -> Self::F;
    /// Loads `LANES` values from the front of `s` (panics if shorter).
    fn load(self, s: &[f32]) -> Self::F;
    /// Stores `LANES` values to the front of `s` (panics if shorter).
    fn store(self, s: &mut [f32], v: Self::F);
    /// `a * b + c`.
    fn mul_add(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    /// Sum of the lanes.
    fn sum(self, v: Self::F) -> f32;
    /// Hints that the cache line holding `p` will be read soon: fetch it into L2 (no-op at the portable
    /// level). Any address will do: a prefetch reads nothing into the program and never faults.
    fn prefetch(self, p: *const f32);
    fn izero(self) -> Self::I;
    fn isplat(self, x: i32) -> Self::I;
    /// Loads `LANES` i16 values, sign-extended to i32.
    fn load_i16(self, s: &[i16]) -> Self::I;
    /// Stores `LANES` i32 values.
    fn istore(self, s: &mut [i32], v: Self::I);
    /// Lane-wise `a * b`, low 32 bits (exact for i16 operands).
    fn imul(self, a: Self::I, b: Self::I) -> Self::I;
    /// Lane-wise arithmetic shift right by `shift`.
    fn isra(self, a: Self::I, shift: u32) -> Self::I;
    /// Lane-wise wrapping add.
    fn iadd(self, a: Self::I, b: Self::I) -> Self::I;
    /// Loads `LANES` i32 values.
    fn iload(self, s: &[i32]) -> Self::I;
    /// Each i32 lane as two i16 halves (low, high): `a.lo * b.lo + a.hi * b.hi` (`pmaddwd`; exact but
    /// when all four halves are -32768, where it wraps).
    fn madd_i16(self, a: Self::I, b: Self::I) -> Self::I;
    /// Loads `LANES` u16 values, zero-extended to i32.
    fn load_u16(self, s: &[u16]) -> Self::I;
    /// Lane-wise logical shift right by `shift`.
    fn isrl(self, a: Self::I, shift: u32) -> Self::I;
    /// A table lookup in two vectors: lane `i` is lane `idx[i] mod 2 LANES` of `lo` followed by `hi`
    /// (`vpermt2ps` with AVX-512; two `vpermps` and a blend with AVX2). Bits of `idx` above those are
    /// ignored.
    fn lookup(self, lo: Self::F, hi: Self::F, idx: Self::I) -> Self::F;
    /// [`Simd::lookup`] in i32 vectors.
    fn ilookup(self, lo: Self::I, hi: Self::I, idx: Self::I) -> Self::I;
    /// `base[idx[k]]` for the first `LANES` indices of `idx` (`vgatherdps`; panics if `idx` is shorter).
    ///
    /// # Safety
    /// Each of those indices is below `base.len()`: the vector levels do not check them.
    unsafe fn gather(self, base: &[f32], idx: &[u32]) -> Self::F;
    /// `v` with its lanes from `n` on set to 0 (`n <= LANES`).
    fn keep(self, v: Self::F, n: usize) -> Self::F;
}

/// A kernel written once for every level.
pub trait Kernel {
    type Output;
    /// The kernel's body; implementations mark it `#[inline(always)]`.
    fn run<S: Simd>(self, simd: S) -> Self::Output;
}

/// Runs `kernel` at `level`.
///
/// # Panics
/// If the CPU lacks `level` (callers check [`IsaLevel::is_available`] first).
pub fn dispatch<K: Kernel>(level: IsaLevel, kernel: K) -> K::Output {
    assert!(
        level.is_available(),
        "ISA level {level:?} is not available on this CPU"
    );
    match level {
        IsaLevel::Portable => kernel.run(Portable),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level's features were detected above.
        IsaLevel::Avx2 => unsafe { x86::run_avx2(kernel) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level's features were detected above.
        IsaLevel::Avx512 => unsafe { x86::run_avx512(kernel) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable level exists off x86-64"),
    }
}

/// The portable level: 8-lane arrays in plain Rust.
#[derive(Clone, Copy, Debug)]
pub struct Portable;

impl Simd for Portable {
    const LANES: usize = 8;
    type F = [f32; 8];
    type I = [i32; 8];
    fn level(self) -> IsaLevel {
        IsaLevel::Portable
    }
    #[inline(always)]
    fn zero(self) -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    fn splat(self, x: f32) -> [f32; 8] {
        [x; 8]
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> [f32; 8] {
        s[..8].try_into().expect("8 lanes")
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: [f32; 8]) {
        s[..8].copy_from_slice(&v);
    }
    #[inline(always)]
    fn mul_add(self, a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sum(self, v: [f32; 8]) -> f32 {
        ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
    }
    #[inline(always)]
    fn prefetch(self, _: *const f32) {}
    #[inline(always)]
    fn izero(self) -> [i32; 8] {
        [0; 8]
    }
    #[inline(always)]
    fn isplat(self, x: i32) -> [i32; 8] {
        [x; 8]
    }
    #[inline(always)]
    fn load_i16(self, s: &[i16]) -> [i32; 8] {
        let s = &s[..8];
        std::array::from_fn(|i| s[i] as i32)
    }
    #[inline(always)]
    fn istore(self, s: &mut [i32], v: [i32; 8]) {
        s[..8].copy_from_slice(&v);
    }
    #[inline(always)]
    fn imul(self, a: [i32; 8], b: [i32; 8]) -> [i32; 8] {
        std::array::from_fn(|i| a[i].wrapping_mul(b[i]))
    }
    #[inline(always)]
    fn isra(self, a: [i32; 8], shift: u32) -> [i32; 8] {
        std::array::from_fn(|i| a[i] >> shift)
    }
    #[inline(always)]
    fn iadd(self, a: [i32; 8], b: [i32; 8]) -> [i32; 8] {
        std::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }
    #[inline(always)]
    fn iload(self, s: &[i32]) -> [i32; 8] {
        s[..8].try_into().expect("8 values")
    }
    #[inline(always)]
    fn madd_i16(self, a: [i32; 8], b: [i32; 8]) -> [i32; 8] {
        let half = |v: i32, h: u32| (v >> (16 * h)) as i16 as i32;
        std::array::from_fn(|i| {
            (half(a[i], 0) * half(b[i], 0)).wrapping_add(half(a[i], 1) * half(b[i], 1))
        })
    }
    #[inline(always)]
    fn load_u16(self, s: &[u16]) -> [i32; 8] {
        let s = &s[..8];
        std::array::from_fn(|i| s[i] as i32)
    }
    #[inline(always)]
    fn isrl(self, a: [i32; 8], shift: u32) -> [i32; 8] {
        std::array::from_fn(|i| ((a[i] as u32) >> shift) as i32)
    }
    #[inline(always)]
    fn lookup(self, lo: [f32; 8], hi: [f32; 8], idx: [i32; 8]) -> [f32; 8] {
        lookup16(lo, hi, idx)
    }
    #[inline(always)]
    fn ilookup(self, lo: [i32; 8], hi: [i32; 8], idx: [i32; 8]) -> [i32; 8] {
        lookup16(lo, hi, idx)
    }
    #[inline(always)]
    unsafe fn gather(self, base: &[f32], idx: &[u32]) -> [f32; 8] {
        let idx = &idx[..8];
        std::array::from_fn(|i| base[idx[i] as usize])
    }
    #[inline(always)]
    fn keep(self, v: [f32; 8], n: usize) -> [f32; 8] {
        std::array::from_fn(|i| if i < n { v[i] } else { 0.0 })
    }
}

/// The portable [`Simd::lookup`]: lane `i` is entry `idx[i] mod 16` of `lo` followed by `hi`.
#[inline(always)]
fn lookup16<T: Copy>(lo: [T; 8], hi: [T; 8], idx: [i32; 8]) -> [T; 8] {
    std::array::from_fn(|i| {
        let k = idx[i] as usize & 15;
        if k < 8 { lo[k] } else { hi[k - 8] }
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{IsaLevel, Kernel, Simd};
    use std::arch::x86_64::*;

    /// AVX2 + FMA token; exists only once those features were detected.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx2(());

    /// AVX-512 F/BW/VL token; exists only once those features were detected.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx512(());

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_avx2<K: Kernel>(k: K) -> K::Output {
        k.run(Avx2(()))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    pub(super) unsafe fn run_avx512<K: Kernel>(k: K) -> K::Output {
        k.run(Avx512(()))
    }

    // SAFETY (every `unsafe` block below): the token proves the features were detected, and slices are
    // length-checked before raw loads and stores.
    impl Simd for Avx2 {
        const LANES: usize = 8;
        type F = __m256;
        type I = __m256i;
        fn level(self) -> IsaLevel {
            IsaLevel::Avx2
        }
        #[inline(always)]
        fn zero(self) -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m256 {
            assert!(s.len() >= 8);
            unsafe { _mm256_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], v: __m256) {
            assert!(s.len() >= 8);
            unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sum(self, v: __m256) -> f32 {
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        fn prefetch(self, p: *const f32) {
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) }
        }
        #[inline(always)]
        fn izero(self) -> __m256i {
            unsafe { _mm256_setzero_si256() }
        }
        #[inline(always)]
        fn isplat(self, x: i32) -> __m256i {
            unsafe { _mm256_set1_epi32(x) }
        }
        #[inline(always)]
        fn load_i16(self, s: &[i16]) -> __m256i {
            assert!(s.len() >= 8);
            unsafe { _mm256_cvtepi16_epi32(_mm_loadu_si128(s.as_ptr().cast())) }
        }
        #[inline(always)]
        fn istore(self, s: &mut [i32], v: __m256i) {
            assert!(s.len() >= 8);
            unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), v) }
        }
        #[inline(always)]
        fn imul(self, a: __m256i, b: __m256i) -> __m256i {
            unsafe { _mm256_mullo_epi32(a, b) }
        }
        #[inline(always)]
        fn isra(self, a: __m256i, shift: u32) -> __m256i {
            unsafe { _mm256_sra_epi32(a, _mm_cvtsi32_si128(shift as i32)) }
        }
        #[inline(always)]
        fn iadd(self, a: __m256i, b: __m256i) -> __m256i {
            unsafe { _mm256_add_epi32(a, b) }
        }
        #[inline(always)]
        fn iload(self, s: &[i32]) -> __m256i {
            assert!(s.len() >= 8);
            unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
        }
        #[inline(always)]
        fn madd_i16(self, a: __m256i, b: __m256i) -> __m256i {
            unsafe { _mm256_madd_epi16(a, b) }
        }
        #[inline(always)]
        fn load_u16(self, s: &[u16]) -> __m256i {
            assert!(s.len() >= 8);
            unsafe { _mm256_cvtepu16_epi32(_mm_loadu_si128(s.as_ptr().cast())) }
        }
        #[inline(always)]
        fn isrl(self, a: __m256i, shift: u32) -> __m256i {
            unsafe { _mm256_srl_epi32(a, _mm_cvtsi32_si128(shift as i32)) }
        }
        #[inline(always)]
        fn lookup(self, lo: __m256, hi: __m256, idx: __m256i) -> __m256 {
            // `vpermps` reads the low 3 bits; bit 3, moved to the sign bit, picks `hi`.
            unsafe {
                let (a, b) = (
                    _mm256_permutevar8x32_ps(lo, idx),
                    _mm256_permutevar8x32_ps(hi, idx),
                );
                _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx)))
            }
        }
        #[inline(always)]
        fn ilookup(self, lo: __m256i, hi: __m256i, idx: __m256i) -> __m256i {
            // The same permutes and blend on the bits (casts cost nothing).
            unsafe {
                let (lo, hi) = (_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi));
                _mm256_castps_si256(self.lookup(lo, hi, idx))
            }
        }
        #[inline(always)]
        unsafe fn gather(self, base: &[f32], idx: &[u32]) -> __m256 {
            assert!(idx.len() >= 8);
            // SAFETY: the caller keeps every index below `base.len()`.
            unsafe {
                let i = _mm256_loadu_si256(idx.as_ptr().cast());
                _mm256_i32gather_ps::<4>(base.as_ptr(), i)
            }
        }
        #[inline(always)]
        fn keep(self, v: __m256, n: usize) -> __m256 {
            unsafe {
                let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), iota);
                _mm256_and_ps(v, _mm256_castsi256_ps(m))
            }
        }
    }

    impl Simd for Avx512 {
        const LANES: usize = 16;
        type F = __m512;
        type I = __m512i;
        fn level(self) -> IsaLevel {
            IsaLevel::Avx512
        }
        #[inline(always)]
        fn zero(self) -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m512 {
            assert!(s.len() >= 16);
            unsafe { _mm512_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], v: __m512) {
            assert!(s.len() >= 16);
            unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn sum(self, v: __m512) -> f32 {
            unsafe { _mm512_reduce_add_ps(v) }
        }
        #[inline(always)]
        fn prefetch(self, p: *const f32) {
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) }
        }
        #[inline(always)]
        fn izero(self) -> __m512i {
            unsafe { _mm512_setzero_si512() }
        }
        #[inline(always)]
        fn isplat(self, x: i32) -> __m512i {
            unsafe { _mm512_set1_epi32(x) }
        }
        #[inline(always)]
        fn load_i16(self, s: &[i16]) -> __m512i {
            assert!(s.len() >= 16);
            unsafe { _mm512_cvtepi16_epi32(_mm256_loadu_si256(s.as_ptr().cast())) }
        }
        #[inline(always)]
        fn istore(self, s: &mut [i32], v: __m512i) {
            assert!(s.len() >= 16);
            unsafe { _mm512_storeu_si512(s.as_mut_ptr().cast(), v) }
        }
        #[inline(always)]
        fn imul(self, a: __m512i, b: __m512i) -> __m512i {
            unsafe { _mm512_mullo_epi32(a, b) }
        }
        #[inline(always)]
        fn isra(self, a: __m512i, shift: u32) -> __m512i {
            unsafe { _mm512_sra_epi32(a, _mm_cvtsi32_si128(shift as i32)) }
        }
        #[inline(always)]
        fn iadd(self, a: __m512i, b: __m512i) -> __m512i {
            unsafe { _mm512_add_epi32(a, b) }
        }
        #[inline(always)]
        fn iload(self, s: &[i32]) -> __m512i {
            assert!(s.len() >= 16);
            unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
        }
        #[inline(always)]
        fn madd_i16(self, a: __m512i, b: __m512i) -> __m512i {
            unsafe { _mm512_madd_epi16(a, b) }
        }
        #[inline(always)]
        fn load_u16(self, s: &[u16]) -> __m512i {
            assert!(s.len() >= 16);
            unsafe { _mm512_cvtepu16_epi32(_mm256_loadu_si256(s.as_ptr().cast())) }
        }
        #[inline(always)]
        fn isrl(self, a: __m512i, shift: u32) -> __m512i {
            unsafe { _mm512_srl_epi32(a, _mm_cvtsi32_si128(shift as i32)) }
        }
        #[inline(always)]
        fn lookup(self, lo: __m512, hi: __m512, idx: __m512i) -> __m512 {
            unsafe { _mm512_permutex2var_ps(lo, idx, hi) }
        }
        #[inline(always)]
        fn ilookup(self, lo: __m512i, hi: __m512i, idx: __m512i) -> __m512i {
            unsafe { _mm512_permutex2var_epi32(lo, idx, hi) }
        }
        #[inline(always)]
        unsafe fn gather(self, base: &[f32], idx: &[u32]) -> __m512 {
            assert!(idx.len() >= 16);
            // SAFETY: the caller keeps every index below `base.len()`.
            unsafe {
                let i = _mm512_loadu_si512(idx.as_ptr().cast());
                _mm512_i32gather_ps::<4>(i, base.as_ptr())
            }
        }
        #[inline(always)]
        fn keep(self, v: __m512, n: usize) -> __m512 {
            unsafe { _mm512_maskz_mov_ps(((1u32 << n.min(16)) - 1) as u16, v) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe<'a>(&'a [f32], &'a [i16]);

    impl Kernel for Probe<'_> {
        type Output = (f32, Vec<i32>, IsaLevel);
        #[inline(always)]
        fn run<S: Simd>(self, s: S) -> Self::Output {
            let mut acc = s.zero();
            for c in self.0.chunks_exact(S::LANES) {
                acc = s.mul_add(s.load(c), s.splat(2.0), acc);
            }
            let mut out = vec![0i32; 2 * S::LANES];
            let v = s.iadd(
                s.isra(s.imul(s.load_i16(self.1), s.isplat(3)), 1),
                s.isplat(-1),
            );
            s.istore(&mut out, v);
            // Pairs (q, 1) times (-7, 5), and (q, q) times (-32768, -32768).
            let pairs: Vec<i32> = self.1[..S::LANES]
                .iter()
                .map(|&q| (q as u16 as u32 | 1 << 16) as i32)
                .collect();
            let w = s.isplat((-7i16 as u16 as u32 | 5 << 16) as i32);
            let m = s.madd_i16(s.iload(&pairs), w);
            let same: Vec<i32> = self.1[..S::LANES]
                .iter()
                .map(|&q| (q as u16 as u32 | (q as u16 as u32) << 16) as i32)
                .collect();
            let min = s.isplat(i32::MIN | 0x8000);
            let m = s.iadd(m, s.madd_i16(s.iload(&same), min));
            s.istore(&mut out[S::LANES..], m);
            // Lookups: lane i reads entry (3 i + 5 + 64 i) mod 2 LANES of 0, 1, ..., 2 LANES - 1 (the
            // 64 i above the index bits is ignored), through u16 loads and a logical shift.
            let table: Vec<f32> = (0..2 * S::LANES).map(|k| k as f32).collect();
            let idx: Vec<u16> = (0..S::LANES)
                .map(|i| ((3 * i + 5) | (64 * i)) as u16)
                .collect();
            let idx = s.load_u16(&idx);
            let (lo, hi) = (s.load(&table), s.load(&table[S::LANES..]));
            let looked = s.lookup(lo, hi, idx);
            let ints: Vec<i32> = (0..2 * S::LANES as i32).map(|k| -k).collect();
            let ilooked = s.ilookup(s.iload(&ints), s.iload(&ints[S::LANES..]), idx);
            let mut l = vec![0.0f32; S::LANES];
            s.store(&mut l, looked);
            let mut il = vec![0i32; 2 * S::LANES];
            s.istore(&mut il, ilooked);
            s.istore(&mut il[S::LANES..], s.isrl(s.isplat(-8), 2));
            for i in 0..S::LANES {
                let k = (3 * i + 5) % (2 * S::LANES);
                assert_eq!(l[i], k as f32, "{:?} lookup lane {i}", s.level());
                assert_eq!(il[i], -(k as i32), "{:?} ilookup lane {i}", s.level());
                assert_eq!(
                    il[S::LANES + i],
                    ((-8i32 as u32) >> 2) as i32,
                    "{:?} isrl",
                    s.level()
                );
            }
            // Gathers (indices in reverse, past the first vector) and keeping the first 3 lanes.
            let base: Vec<f32> = (0..4 * S::LANES).map(|k| 10.0 * k as f32).collect();
            let gi: Vec<u32> = (0..S::LANES)
                .map(|i| (4 * S::LANES - 1 - 2 * i) as u32)
                .collect();
            // SAFETY: every index is below 4 LANES.
            let g = unsafe { s.gather(&base, &gi) };
            let mut gl = vec![0.0f32; 2 * S::LANES];
            s.store(&mut gl, g);
            s.store(&mut gl[S::LANES..], s.keep(g, 3));
            for i in 0..S::LANES {
                let want = base[gi[i] as usize];
                assert_eq!(gl[i], want, "{:?} gather lane {i}", s.level());
                let kept = if i < 3 { want } else { 0.0 };
                assert_eq!(gl[S::LANES + i], kept, "{:?} keep lane {i}", s.level());
            }
            (s.sum(acc), out, s.level())
        }
    }

    /// Every level this CPU has computes the same thing.
    #[test]
    fn every_level_agrees() {
        let x: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let q: Vec<i16> = (0..16).map(|i| i * 1000 - 8000).collect();
        for level in IsaLevel::available() {
            let (sum, ints, ran) = dispatch(level, Probe(&x, &q));
            assert_eq!(ran, level);
            assert_eq!(sum, 2.0 * (0..64).sum::<i32>() as f32, "{level:?}");
            let lanes = ints.len() / 2;
            for (i, v) in ints[..lanes].iter().enumerate() {
                assert_eq!(*v, ((q[i] as i32 * 3) >> 1) - 1, "{level:?} lane {i}");
            }
            for (i, v) in ints[lanes..].iter().enumerate() {
                let (a, want) = (q[i] as i32, -7 * q[i] as i32 + 5);
                assert_eq!(*v, want.wrapping_add(-65536 * a), "{level:?} lane {i}");
            }
        }
        assert_eq!(IsaLevel::parse("AVX512"), Some(IsaLevel::Avx512));
        assert!(IsaLevel::available().contains(&IsaLevel::best()));
    }
}
