//! Q8_0 quantisation of the activations, shared by every output row of a product.
//!
//! Every backend produces bit-identical codes for finite inputs: the scale and its inverse
//! are the same IEEE divisions whether computed one block at a time or sixteen (eight on
//! AVX2) in a vector, and the SIMD conversions round half to even (the default MXCSR mode)
//! as the scalar `round_ties_even` and the reference's `lrintf` do. The SIMD paths
//! quantise groups of blocks together because one block's horizontal reductions and scalar
//! divisions left a block at ~30 cycles, 7% of a late-chunking build's CPU time.

use super::{BLOCK, Backend};
use rayon::prelude::*;

/// Tokens quantised per parallel task.
const TOKENS_PER_TASK: usize = 32;

/// A run of whole tokens: input values and codes, then scales and offsets.
type Chunk<'a> = ((&'a [f32], &'a mut [i8]), (&'a mut [f32], &'a mut [i32]));

/// Activations as int8 per 32-element block, as the reference engine quantises them.
///
/// Its buffers are kept between products ([`with_acts`]): allocated and zeroed afresh for
/// every product (six a layer) they cost page faults and a `memset` that the quantiser's
/// writes make useless.
#[derive(Default)]
pub(super) struct QuantActs {
    pub cols: usize,
    /// `tokens x cols` int8 values.
    pub q: Vec<i8>,
    /// `tokens x blocks` scales `d_a = amax / 127`.
    pub d: Vec<f32>,
    /// `tokens x blocks` integer offsets `-zero * sum(q)` that fold the weights' zero point in.
    pub offset: Vec<i32>,
}

/// Largest buffers, in bytes of codes, [`with_acts`] keeps for the next product of its
/// thread (a batch of 2,048 tokens of 1,536 columns); larger ones are freed after use.
const KEEP_BYTES: usize = 4 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<QuantActs> = std::cell::RefCell::default();
}

/// Quantises `tokens x cols` activations and passes them to `f`, in this thread's kept
/// buffers ([`crate::scratch::with_kept`]).
pub(super) fn with_acts<R>(
    x: &[f32],
    (tokens, cols): (usize, usize),
    zero: i32,
    backend: Backend,
    parallel: bool,
    f: impl FnOnce(&QuantActs) -> R,
) -> R {
    crate::scratch::with_kept(
        &SCRATCH,
        |acts| acts.q.capacity() <= KEEP_BYTES,
        |acts| {
            acts.fill(x, tokens, cols, zero, backend, parallel);
            f(acts)
        },
    )
}

impl QuantActs {
    /// `x` quantised into new buffers.
    #[cfg(test)]
    pub fn new(
        x: &[f32],
        tokens: usize,
        cols: usize,
        zero: i32,
        backend: Backend,
        parallel: bool,
    ) -> Self {
        let mut acts = Self::default();
        acts.fill(x, tokens, cols, zero, backend, parallel);
        acts
    }

    /// Quantises `x` into these buffers. Every code, scale and offset is written, so what
    /// the buffers held before never shows.
    fn fill(
        &mut self,
        x: &[f32],
        tokens: usize,
        cols: usize,
        zero: i32,
        backend: Backend,
        parallel: bool,
    ) {
        let nb = cols / BLOCK;
        self.cols = cols;
        self.q.resize(tokens * cols, 0);
        self.d.resize(tokens * nb, 0.0);
        self.offset.resize(tokens * nb, 0);
        let (q, d, offset) = (&mut self.q[..], &mut self.d[..], &mut self.offset[..]);
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
            task(((x, q), (d, offset)));
        }
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
            simd::in_groups(
                simd::GROUP,
                simd::quantize_avx512,
                simd::quantize_blocks_avx512,
                (zero, x, q, d, offset),
            )
        },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 | Backend::AvxVnni => unsafe {
            simd::in_groups(
                simd::GROUP2,
                simd::quantize_avx2,
                simd::quantize_blocks_avx2,
                (zero, x, q, d, offset),
            )
        },
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

    /// Blocks quantised together by [`quantize_avx512`]: one vector of scales.
    pub(super) const GROUP: usize = 16;

    /// A quantiser over whole blocks: zero point, input, codes, scales, offsets.
    type Quantizer = unsafe fn(i32, &[f32], &mut [i8], &mut [f32], &mut [i32]);

    /// Quantises the whole groups of `group` blocks with `grouped` and the blocks after the
    /// last of them with `single`.
    ///
    /// # Safety
    /// The CPU must run both quantisers; the slices must hold whole blocks as in `quantize`.
    pub(super) unsafe fn in_groups(
        group: usize,
        grouped: Quantizer,
        single: Quantizer,
        (zero, x, q, d, offset): (i32, &[f32], &mut [i8], &mut [f32], &mut [i32]),
    ) {
        let n = d.len() / group * group;
        let (x, rest_x) = x.split_at(n * BLOCK);
        let (q, rest_q) = q.split_at_mut(n * BLOCK);
        let (d, rest_d) = d.split_at_mut(n);
        let (offset, rest_offset) = offset.split_at_mut(n);
        // SAFETY: forwarded from the caller; the first part holds whole groups.
        unsafe {
            grouped(zero, x, q, d, offset);
            single(zero, rest_x, rest_q, rest_d, rest_offset);
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW; the slices must hold whole groups of
    /// [`GROUP`] blocks (see [`in_groups`]).
    ///
    /// Sixteen blocks at a time: their magnitudes and code sums are reduced together (a
    /// transpose-and-reduce, two shuffles per block instead of a horizontal reduction each),
    /// the scales and inverses are one vector division each, and the codes are packed with
    /// saturation (the clamp to -128..=127, which finite inputs never leave anyway). The
    /// per-block loop it replaces was bound by those shuffles and scalar divisions (about 30
    /// cycles a block); the results are the same bits.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_avx512(
        zero: i32,
        x: &[f32],
        q: &mut [i8],
        d: &mut [f32],
        offset: &mut [i32],
    ) {
        let groups = d.len() / GROUP;
        let sign = _mm512_set1_epi32(i32::MAX);
        // packs interleaves 128-bit lanes: dword 4·lane + k of the packed vector holds
        // elements 4·lane.. of input k; this puts them back in input order. The transposed
        // reduction leaves its lanes in the same order.
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let (c127, one) = (_mm512_set1_ps(127.0), _mm512_set1_ps(1.0));
        let neg_zero = _mm512_set1_epi32(-zero);
        for g in 0..groups {
            // SAFETY: group g covers blocks 16g..16g + 16, inside every slice.
            unsafe {
                let x = x.as_ptr().add(g * GROUP * BLOCK);
                let load = |b: usize, h: usize| _mm512_loadu_ps(x.add(b * BLOCK + 16 * h));
                let abs =
                    |v: __m512| _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), sign));
                let m: [__m512; GROUP] =
                    std::array::from_fn(|b| _mm512_max_ps(abs(load(b, 0)), abs(load(b, 1))));
                let amax = _mm512_permutexvar_ps(order, reduce16(m, |a, b| _mm512_max_ps(a, b)));
                // `scale_of`, lane by lane: IEEE division rounds the same as the scalar one.
                let scale = _mm512_div_ps(amax, c127);
                let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(scale, _mm512_setzero_ps());
                let inv = _mm512_maskz_div_ps(positive, one, scale);
                let mut invs = [0f32; GROUP];
                _mm512_storeu_ps(invs.as_mut_ptr(), inv);
                let mut sums = [_mm512_setzero_ps(); GROUP];
                for pair in 0..GROUP / 2 {
                    let codes: [__m512i; 4] = std::array::from_fn(|i| {
                        let b = 2 * pair + i / 2;
                        let r = _mm512_mul_ps(load(b, i % 2), _mm512_set1_ps(invs[b]));
                        _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                            r,
                        )
                    });
                    for b in 0..2 {
                        sums[2 * pair + b] =
                            _mm512_castsi512_ps(_mm512_add_epi32(codes[2 * b], codes[2 * b + 1]));
                    }
                    let packed = _mm512_packs_epi16(
                        _mm512_packs_epi32(codes[0], codes[1]),
                        _mm512_packs_epi32(codes[2], codes[3]),
                    );
                    _mm512_storeu_si512(
                        q.as_mut_ptr().add((g * GROUP + 2 * pair) * BLOCK) as *mut __m512i,
                        _mm512_permutexvar_epi32(order, packed),
                    );
                }
                let add = |a: __m512, b: __m512| {
                    _mm512_castsi512_ps(_mm512_add_epi32(
                        _mm512_castps_si512(a),
                        _mm512_castps_si512(b),
                    ))
                };
                let sum = _mm512_permutexvar_epi32(order, _mm512_castps_si512(reduce16(sums, add)));
                _mm512_storeu_ps(d.as_mut_ptr().add(g * GROUP), scale);
                _mm512_storeu_si512(
                    offset.as_mut_ptr().add(g * GROUP) as *mut __m512i,
                    _mm512_mullo_epi32(neg_zero, sum),
                );
            }
        }
    }

    /// Reduces each of 16 vectors to one value with `op` (associative and commutative):
    /// lane `4·k + j` of the result holds vector `4·j + k`'s (see `order` above).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce16(v: [__m512; GROUP], op: impl Fn(__m512, __m512) -> __m512) -> __m512 {
        // Each step halves the vectors and the lanes each one's partial results span:
        // 128-bit halves, then 128-bit quarters, then pairs and single floats in a lane.
        let halves: [__m512; 8] = std::array::from_fn(|i| {
            let (a, b) = (v[2 * i], v[2 * i + 1]);
            op(
                _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
                _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
            )
        });
        let quarters: [__m512; 4] = std::array::from_fn(|i| {
            let (a, b) = (halves[2 * i], halves[2 * i + 1]);
            op(
                _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b),
                _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b),
            )
        });
        let pairs: [__m512; 2] = std::array::from_fn(|i| {
            let (a, b) = (quarters[2 * i], quarters[2 * i + 1]);
            op(
                _mm512_shuffle_ps::<0b01_00_01_00>(a, b),
                _mm512_shuffle_ps::<0b11_10_11_10>(a, b),
            )
        });
        op(
            _mm512_shuffle_ps::<0b10_00_10_00>(pairs[0], pairs[1]),
            _mm512_shuffle_ps::<0b11_01_11_01>(pairs[0], pairs[1]),
        )
    }

    /// One block at a time, for the blocks after the last whole group.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; the slices must hold whole blocks as in `quantize`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_blocks_avx512(
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

    /// Blocks quantised together by [`quantize_avx2`].
    pub(super) const GROUP2: usize = 8;

    /// # Safety
    /// The CPU must support AVX2; the slices must hold whole groups of [`GROUP2`] blocks
    /// (see [`in_groups`]).
    ///
    /// Eight blocks at a time, as [`quantize_avx512`] does sixteen.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_avx2(
        zero: i32,
        x: &[f32],
        q: &mut [i8],
        d: &mut [f32],
        offset: &mut [i32],
    ) {
        let groups = d.len() / GROUP2;
        let sign = _mm256_set1_ps(-0.0);
        // As for AVX-512: the packed dwords' order, which is also the reduction's.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let (c127, one, zeros) = (
            _mm256_set1_ps(127.0),
            _mm256_set1_ps(1.0),
            _mm256_setzero_ps(),
        );
        let neg_zero = _mm256_set1_epi32(-zero);
        for g in 0..groups {
            // SAFETY: group g covers blocks 8g..8g + 8, inside every slice.
            unsafe {
                let x = x.as_ptr().add(g * GROUP2 * BLOCK);
                let load = |b: usize, i: usize| _mm256_loadu_ps(x.add(b * BLOCK + 8 * i));
                let m: [__m256; GROUP2] = std::array::from_fn(|b| {
                    (0..4).fold(zeros, |m, i| {
                        _mm256_max_ps(m, _mm256_andnot_ps(sign, load(b, i)))
                    })
                });
                let amax = _mm256_permutevar8x32_ps(reduce8(m, |a, b| _mm256_max_ps(a, b)), order);
                let scale = _mm256_div_ps(amax, c127);
                let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(scale, zeros);
                let inv = _mm256_and_ps(_mm256_div_ps(one, scale), positive);
                let mut invs = [0f32; GROUP2];
                _mm256_storeu_ps(invs.as_mut_ptr(), inv);
                let mut sums = [zeros; GROUP2];
                for (b, sum) in sums.iter_mut().enumerate() {
                    let inv = _mm256_set1_ps(invs[b]);
                    let r: [__m256i; 4] =
                        std::array::from_fn(|i| _mm256_cvtps_epi32(_mm256_mul_ps(load(b, i), inv)));
                    let s = _mm256_add_epi32(
                        _mm256_add_epi32(r[0], r[1]),
                        _mm256_add_epi32(r[2], r[3]),
                    );
                    *sum = _mm256_castsi256_ps(s);
                    let packed = _mm256_packs_epi16(
                        _mm256_packs_epi32(r[0], r[1]),
                        _mm256_packs_epi32(r[2], r[3]),
                    );
                    _mm256_storeu_si256(
                        q.as_mut_ptr().add((g * GROUP2 + b) * BLOCK) as *mut __m256i,
                        _mm256_permutevar8x32_epi32(packed, order),
                    );
                }
                let add = |a: __m256, b: __m256| {
                    _mm256_castsi256_ps(_mm256_add_epi32(
                        _mm256_castps_si256(a),
                        _mm256_castps_si256(b),
                    ))
                };
                let sum =
                    _mm256_permutevar8x32_epi32(_mm256_castps_si256(reduce8(sums, add)), order);
                _mm256_storeu_ps(d.as_mut_ptr().add(g * GROUP2), scale);
                _mm256_storeu_si256(
                    offset.as_mut_ptr().add(g * GROUP2) as *mut __m256i,
                    _mm256_mullo_epi32(neg_zero, sum),
                );
            }
        }
    }

    /// [`reduce16`] on eight 8-lane vectors: lane `4·k + j` holds vector `2·j + k`'s.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce8(v: [__m256; GROUP2], op: impl Fn(__m256, __m256) -> __m256) -> __m256 {
        let halves: [__m256; 4] = std::array::from_fn(|i| {
            let (a, b) = (v[2 * i], v[2 * i + 1]);
            op(
                _mm256_permute2f128_ps::<0x20>(a, b),
                _mm256_permute2f128_ps::<0x31>(a, b),
            )
        });
        let pairs: [__m256; 2] = std::array::from_fn(|i| {
            let (a, b) = (halves[2 * i], halves[2 * i + 1]);
            op(
                _mm256_shuffle_ps::<0b01_00_01_00>(a, b),
                _mm256_shuffle_ps::<0b11_10_11_10>(a, b),
            )
        });
        op(
            _mm256_shuffle_ps::<0b10_00_10_00>(pairs[0], pairs[1]),
            _mm256_shuffle_ps::<0b11_01_11_01>(pairs[0], pairs[1]),
        )
    }

    /// One block at a time, for the blocks after the last whole group.
    ///
    /// # Safety
    /// The CPU must support AVX2; the slices must hold whole blocks as in `quantize`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_blocks_avx2(
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
