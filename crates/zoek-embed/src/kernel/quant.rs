//! Q8_0 quantisation of the activations, shared by every output row of a product.
//!
//! Every backend produces bit-identical codes for finite inputs: the scale and its inverse
//! are computed the same scalar way and the SIMD conversions round half to even (the default
//! MXCSR mode) as the scalar `round_ties_even` and the reference's `lrintf` do.

use super::{BLOCK, Backend};
use rayon::prelude::*;

/// Tokens quantised per parallel task.
const TOKENS_PER_TASK: usize = 32;

/// A run of whole tokens: input values and codes, then scales and offsets.
type Chunk<'a> = ((&'a [f32], &'a mut [i8]), (&'a mut [f32], &'a mut [i32]));

/// Activations as int8 per 32-element block, as the reference engine quantises them.
pub(super) struct QuantActs {
    pub cols: usize,
    /// `tokens x cols` int8 values.
    pub q: Vec<i8>,
    /// `tokens x blocks` scales `d_a = amax / 127`.
    pub d: Vec<f32>,
    /// `tokens x blocks` integer offsets `-zero * sum(q)` that fold the weights' zero point in.
    pub offset: Vec<i32>,
}

impl QuantActs {
    pub fn new(
        x: &[f32],
        tokens: usize,
        cols: usize,
        zero: i32,
        backend: Backend,
        parallel: bool,
    ) -> Self {
        let nb = cols / BLOCK;
        let mut q = vec![0i8; tokens * cols];
        let mut d = vec![0f32; tokens * nb];
        let mut offset = vec![0i32; tokens * nb];
        let task = |((x, q), (d, o)): Chunk| quantize(backend, zero, x, q, d, o);
        if parallel && tokens > TOKENS_PER_TASK {
            x.par_chunks(cols * TOKENS_PER_TASK)
                .zip(q.par_chunks_mut(cols * TOKENS_PER_TASK))
                .zip(
                    d.par_chunks_mut(nb * TOKENS_PER_TASK)
                        .zip(offset.par_chunks_mut(nb * TOKENS_PER_TASK)),
                )
                .for_each(task);
        } else {
            task(((x, &mut q), (&mut d, &mut offset)));
        }
        Self { cols, q, d, offset }
    }
}

/// Quantises whole blocks: `x` and `q` hold `n * 32` values, `d` and `offset` `n`.
fn quantize(
    backend: Backend,
    zero: i32,
    x: &[f32],
    q: &mut [i8],
    d: &mut [f32],
    offset: &mut [i32],
) {
    match backend {
        // SAFETY: the backend was checked available, so the CPU has these features.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Vnni | Backend::Amx => unsafe {
            simd::quantize_avx512(zero, x, q, d, offset)
        },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 | Backend::AvxVnni => unsafe { simd::quantize_avx2(zero, x, q, d, offset) },
        _ => quantize_scalar(zero, x, q, d, offset),
    }
}

/// The scale of a block with largest magnitude `amax`, and its inverse (0 for a zero block).
#[inline(always)]
fn scale_of(amax: f32) -> (f32, f32) {
    let scale = amax / 127.0;
    (scale, if scale > 0.0 { 1.0 / scale } else { 0.0 })
}

fn quantize_scalar(zero: i32, x: &[f32], q: &mut [i8], d: &mut [f32], offset: &mut [i32]) {
    for (((x, q), d), o) in x
        .chunks_exact(BLOCK)
        .zip(q.chunks_exact_mut(BLOCK))
        .zip(d.iter_mut())
        .zip(offset.iter_mut())
    {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (scale, inv) = scale_of(amax);
        let mut sum = 0i32;
        for (q, &v) in q.iter_mut().zip(x) {
            // The clamp also maps NaN to 0.
            let r = (v * inv).round_ties_even().clamp(-128.0, 127.0) as i32;
            *q = r as i8;
            sum += r;
        }
        *d = scale;
        *o = -zero * sum;
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{BLOCK, scale_of};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F; the slices must hold whole blocks as in `quantize`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_avx512(
        zero: i32,
        x: &[f32],
        q: &mut [i8],
        d: &mut [f32],
        offset: &mut [i32],
    ) {
        let (lo, hi) = (_mm512_set1_epi32(-128), _mm512_set1_epi32(127));
        for (((x, q), d), o) in x
            .chunks_exact(BLOCK)
            .zip(q.chunks_exact_mut(BLOCK))
            .zip(d.iter_mut())
            .zip(offset.iter_mut())
        {
            // SAFETY: each chunk holds 32 floats and 32 bytes.
            unsafe {
                let v0 = _mm512_loadu_ps(x.as_ptr());
                let v1 = _mm512_loadu_ps(x.as_ptr().add(16));
                let amax =
                    _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
                let (scale, inv) = scale_of(amax);
                let inv = _mm512_set1_ps(inv);
                let mut sum = _mm512_setzero_si512();
                for (h, v) in [v0, v1].into_iter().enumerate() {
                    let r = _mm512_cvt_roundps_epi32::<
                        { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                    >(_mm512_mul_ps(v, inv));
                    let r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
                    sum = _mm512_add_epi32(sum, r);
                    _mm_storeu_si128(
                        q.as_mut_ptr().add(16 * h) as *mut __m128i,
                        _mm512_cvtepi32_epi8(r),
                    );
                }
                *d = scale;
                *o = -zero * _mm512_reduce_add_epi32(sum);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2; the slices must hold whole blocks as in `quantize`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_avx2(
        zero: i32,
        x: &[f32],
        q: &mut [i8],
        d: &mut [f32],
        offset: &mut [i32],
    ) {
        let sign = _mm256_set1_ps(-0.0);
        let (lo, hi) = (_mm256_set1_epi32(-128), _mm256_set1_epi32(127));
        // packs interleaves 128-bit lanes; this puts the 32 bytes back in order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (((x, q), d), o) in x
            .chunks_exact(BLOCK)
            .zip(q.chunks_exact_mut(BLOCK))
            .zip(d.iter_mut())
            .zip(offset.iter_mut())
        {
            // SAFETY: each chunk holds 32 floats and 32 bytes.
            unsafe {
                let v: [__m256; 4] =
                    std::array::from_fn(|i| _mm256_loadu_ps(x.as_ptr().add(8 * i)));
                let m = v.iter().fold(_mm256_setzero_ps(), |m, &v| {
                    _mm256_max_ps(m, _mm256_andnot_ps(sign, v))
                });
                let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
                let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
                let m = _mm_max_ss(m, _mm_shuffle_ps::<1>(m, m));
                let (scale, inv) = scale_of(_mm_cvtss_f32(m));
                let inv = _mm256_set1_ps(inv);
                let r: [__m256i; 4] = std::array::from_fn(|i| {
                    let r = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
                    _mm256_min_epi32(_mm256_max_epi32(r, lo), hi)
                });
                let s =
                    _mm256_add_epi32(_mm256_add_epi32(r[0], r[1]), _mm256_add_epi32(r[2], r[3]));
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
                let packed = _mm256_packs_epi16(
                    _mm256_packs_epi32(r[0], r[1]),
                    _mm256_packs_epi32(r[2], r[3]),
                );
                _mm256_storeu_si256(
                    q.as_mut_ptr() as *mut __m256i,
                    _mm256_permutevar8x32_epi32(packed, order),
                );
                *d = scale;
                *o = -zero * _mm_cvtsi128_si32(s);
            }
        }
    }
}
