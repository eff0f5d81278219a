//! Distance kernels with runtime CPU feature detection.
//!
//! [`Kernels::detect`] picks AVX-512, AVX2+FMA or portable code once; callers keep the
//! returned function pointers, so the per-call cost is one indirect call.

use crate::Metric;

/// A kernel over two equally long f32 slices.
pub(crate) type F32Fn = fn(&[f32], &[f32]) -> f32;
/// A kernel over a pre-scaled f32 query and u8 codes.
pub(crate) type U8Fn = fn(&[f32], &[u8]) -> f32;

/// The kernels selected for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub dot: F32Fn,
    pub l2sq: F32Fn,
    pub dot_u8: U8Fn,
    pub name: &'static str,
}

impl Kernels {
    /// The kernels for this CPU, detected once per process.
    pub fn get() -> Kernels {
        static KERNELS: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
        *KERNELS.get_or_init(Kernels::detect)
    }

    /// Selects the fastest kernels the running CPU supports.
    pub fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("ZOEK_INDEX_NO_SIMD").is_none() {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Kernels {
                        dot: x86::dot_avx512_entry,
                        l2sq: x86::l2sq_avx512_entry,
                        dot_u8: x86::dot_u8_avx512_entry,
                        name: "avx512",
                    };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    return Kernels {
                        dot: x86::dot_avx2_entry,
                        l2sq: x86::l2sq_avx2_entry,
                        dot_u8: x86::dot_u8_avx2_entry,
                        name: "avx2",
                    };
                }
            }
        }
        Kernels {
            dot: dot_portable,
            l2sq: l2sq_portable,
            dot_u8: dot_u8_portable,
            name: "portable",
        }
    }

    /// Distance between two f32 vectors; for `Cosine` both must already be normalised.
    #[inline]
    pub fn distance(&self, metric: Metric, a: &[f32], b: &[f32]) -> f32 {
        match metric {
            Metric::Cosine => 1.0 - (self.dot)(a, b),
            Metric::Dot => -(self.dot)(a, b),
            Metric::L2 => (self.l2sq)(a, b),
        }
    }
}

/// Portable dot product; eight independent lanes let LLVM vectorise it.
pub(crate) fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Portable squared L2 distance.
pub(crate) fn l2sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Portable f32 x u8 dot product.
pub(crate) fn dot_u8_portable(q: &[f32], c: &[u8]) -> f32 {
    let n = q.len().min(c.len());
    let (q, c) = (&q[..n], &c[..n]);
    let mut acc = [0f32; 8];
    let mut cq = q.chunks_exact(8);
    let mut cc = c.chunks_exact(8);
    for (x, y) in (&mut cq).zip(&mut cc) {
        for l in 0..8 {
            acc[l] += x[l] * f32::from(y[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in cq.remainder().iter().zip(cc.remainder()) {
        s += x * f32::from(*y);
    }
    s
}

/// Squared norm of a vector.
pub(crate) fn norm_sq(a: &[f32]) -> f32 {
    a.iter().map(|x| x * x).sum()
}

/// Scales `v` to unit length; leaves an all-zero vector as it is.
pub(crate) fn normalize(v: &mut [f32]) {
    let n = norm_sq(v).sqrt();
    if n > 0.0 && n.is_finite() {
        let inv = 1.0 / n;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Hints the CPU to fetch the cache line holding `p`.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: prefetch is a hint; it never faults, even on an invalid address, and
        // the pointer here comes from a live slice anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.as_ptr().cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The `*_entry` functions are only ever stored in [`super::Kernels`] after
    //! `detect` has confirmed the CPU features their callee needs; that is the safety
    //! argument for every `unsafe` call below.
    use std::arch::x86_64::*;

    pub(super) fn dot_avx512_entry(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only when avx512f is present (see module docs).
        unsafe { dot_avx512(a, b) }
    }
    pub(super) fn l2sq_avx512_entry(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as above.
        unsafe { l2sq_avx512(a, b) }
    }
    pub(super) fn dot_u8_avx512_entry(q: &[f32], c: &[u8]) -> f32 {
        // SAFETY: as above.
        unsafe { dot_u8_avx512(q, c) }
    }
    pub(super) fn dot_avx2_entry(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only when avx2 and fma are present.
        unsafe { dot_avx2(a, b) }
    }
    pub(super) fn l2sq_avx2_entry(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as above.
        unsafe { l2sq_avx2(a, b) }
    }
    pub(super) fn dot_u8_avx2_entry(q: &[f32], c: &[u8]) -> f32 {
        // SAFETY: as above.
        unsafe { dot_u8_avx2(q, c) }
    }

    #[target_feature(enable = "avx512f")]
    fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): every access is at an index below n, the length of both slices.
        while i + 32 <= n {
            unsafe {
                acc0 =
                    _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(pa.add(i + 16)),
                    _mm512_loadu_ps(pb.add(i + 16)),
                    acc1,
                );
            }
            i += 32;
        }
        if i + 16 <= n {
            unsafe {
                acc0 =
                    _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            }
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as u16;
            // SAFETY: masked-off lanes are not read, so no access goes past n.
            unsafe {
                acc1 = _mm512_fmadd_ps(
                    _mm512_maskz_loadu_ps(mask, pa.add(i)),
                    _mm512_maskz_loadu_ps(mask, pb.add(i)),
                    acc1,
                );
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    #[target_feature(enable = "avx512f")]
    fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): indices stay below n.
        while i + 32 <= n {
            unsafe {
                let d0 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
                let d1 = _mm512_sub_ps(
                    _mm512_loadu_ps(pa.add(i + 16)),
                    _mm512_loadu_ps(pb.add(i + 16)),
                );
                acc0 = _mm512_fmadd_ps(d0, d0, acc0);
                acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            }
            i += 32;
        }
        if i + 16 <= n {
            unsafe {
                let d0 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
                acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            }
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as u16;
            // SAFETY: masked-off lanes are not read.
            unsafe {
                let d = _mm512_sub_ps(
                    _mm512_maskz_loadu_ps(mask, pa.add(i)),
                    _mm512_maskz_loadu_ps(mask, pb.add(i)),
                );
                acc1 = _mm512_fmadd_ps(d, d, acc1);
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    #[target_feature(enable = "avx512f")]
    fn dot_u8_avx512(q: &[f32], c: &[u8]) -> f32 {
        let n = q.len().min(c.len());
        let (pq, pc) = (q.as_ptr(), c.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): 16 codes and 16 floats from index i, i + 16 <= n.
        while i + 32 <= n {
            unsafe {
                let c0 =
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(pc.add(i).cast())));
                let c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                    pc.add(i + 16).cast(),
                )));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i)), c0, acc0);
                acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i + 16)), c1, acc1);
            }
            i += 32;
        }
        if i + 16 <= n {
            unsafe {
                let c0 =
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(pc.add(i).cast())));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(i)), c0, acc0);
            }
            i += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        while i < n {
            s += q[i] * f32::from(c[i]);
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): indices stay below n.
        while i + 16 <= n {
            unsafe {
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                    acc1,
                );
            }
            i += 16;
        }
        if i + 8 <= n {
            unsafe {
                acc0 =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            }
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(acc0, acc1));
        while i < n {
            s += a[i] * b[i];
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): indices stay below n.
        while i + 16 <= n {
            unsafe {
                let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                let d1 = _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                );
                acc0 = _mm256_fmadd_ps(d0, d0, acc0);
                acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            }
            i += 16;
        }
        if i + 8 <= n {
            unsafe {
                let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            }
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(acc0, acc1));
        while i < n {
            let d = a[i] - b[i];
            s += d * d;
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_u8_avx2(q: &[f32], c: &[u8]) -> f32 {
        let n = q.len().min(c.len());
        let (pq, pc) = (q.as_ptr(), c.as_ptr());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): 8 codes (one 64-bit load) and 8 floats from i, i + 8 <= n.
        while i + 8 <= n {
            unsafe {
                let codes = _mm_loadl_epi64(pc.add(i).cast());
                let cf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes));
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), cf, acc);
            }
            i += 8;
        }
        let mut s = hsum256(acc);
        while i < n {
            s += q[i] * f32::from(c[i]);
            i += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 250.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn simd_kernels_match_portable_for_every_length() {
        let k = Kernels::detect();
        for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 128, 384, 385] {
            let a = data(n, 1);
            let b = data(n, 7);
            let codes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let tol = 1e-3 * (n as f32 + 1.0);
            assert!(
                ((k.dot)(&a, &b) - dot_portable(&a, &b)).abs() < tol,
                "dot n={n}"
            );
            assert!(
                ((k.l2sq)(&a, &b) - l2sq_portable(&a, &b)).abs() < tol,
                "l2 n={n}"
            );
            assert!(
                ((k.dot_u8)(&a, &codes) - dot_u8_portable(&a, &codes)).abs() < tol * 100.0,
                "dot_u8 n={n}"
            );
        }
        let naive: f32 = data(33, 1)
            .iter()
            .zip(data(33, 7))
            .map(|(x, y)| x * y)
            .sum();
        assert!((dot_portable(&data(33, 1), &data(33, 7)) - naive).abs() < 1e-3);
    }
}
