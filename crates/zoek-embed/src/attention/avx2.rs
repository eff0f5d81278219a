//! Attention tiles on 8-lane registers: up to 6 query rows × 16 keys of scores (12
//! accumulators), and up to 6 rows × 16 value columns (12 accumulators), within the 16
//! registers AVX2 has (with the two key or value vectors and a broadcast, 15 in use).

#[cfg(target_arch = "x86_64")]
use super::{Tiles, drive};
use crate::ops::AttnShape;

#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

/// [`super::attention_rows_with`] on this path.
///
/// # Safety
/// The CPU must support AVX2 and FMA, the head size must be a multiple of 8, and the slices
/// must hold the shapes `attention_rows_with` asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn rows(
    out: &mut [f32],
    first: usize,
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    bounds: &[(usize, usize)],
    shape: AttnShape,
    probs: &mut Vec<f32>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<Avx2>(out, first, q, kt, v, bounds, shape, probs) }
}

/// Never called: the path is unavailable off x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn rows(
    _: &mut [f32],
    _: usize,
    _: &[f32],
    _: &[f32],
    _: &[f32],
    _: &[(usize, usize)],
    _: AttnShape,
    _: &mut Vec<f32>,
) {
    unreachable!("AVX2 attention selected on a non-x86-64 CPU")
}

#[cfg(target_arch = "x86_64")]
tiles_by_rows!(Avx2, nr = 16, rows = [1, 2, 3, 4, 5; 6]);

/// The 8 lanes of `v` folded into one by `op`, `_mm_max_ps` or `_mm_add_ps`.
#[cfg(target_arch = "x86_64")]
macro_rules! reduce {
    ($v:expr, $op:ident) => {{
        let v = $v;
        let x = $op(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let x = $op(x, _mm_movehl_ps(x, x));
        let x = $op(x, _mm_shuffle_ps(x, x, 0b01));
        _mm_cvtss_f32(x)
    }};
}

/// `p[..len]` softmaxed in place, 8 lanes at a time: the max, then `exp` with its
/// multiply-adds fused and its sum, then the scaling; the last vector masked for the max and
/// the sum (it lies inside the row the caller rounds up to 16).
///
/// Plain loops over [`crate::ops::exp`] compiled to unfused multiplies and adds with a scalar
/// remainder; this is the AVX-512 path's `softmax`, on 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn softmax(p: *mut f32, len: usize) {
    use std::arch::x86_64::*;
    let (full, rest) = (len / 8, len % 8);
    // Lanes below `rest` all ones.
    let tail = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(rest as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    let tail = _mm256_castsi256_ps(tail);
    // SAFETY: chunks 0..full are inside the `len` entries, the partial one inside the
    // rounded-up row the caller guarantees.
    unsafe {
        let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in 0..full {
            m = _mm256_max_ps(m, _mm256_loadu_ps(p.add(i * 8)));
        }
        if rest > 0 {
            let x = _mm256_loadu_ps(p.add(full * 8));
            m = _mm256_max_ps(m, _mm256_blendv_ps(m, x, tail));
        }
        let mx = _mm256_set1_ps(reduce!(m, _mm_max_ps));
        let mut s = _mm256_setzero_ps();
        for i in 0..full {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i * 8)), mx));
            _mm256_storeu_ps(p.add(i * 8), e);
            s = _mm256_add_ps(s, e);
        }
        if rest > 0 {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p.add(full * 8)), mx));
            _mm256_storeu_ps(p.add(full * 8), e);
            s = _mm256_add_ps(s, _mm256_and_ps(e, tail));
        }
        let inv = _mm256_set1_ps(1.0 / reduce!(s, _mm_add_ps));
        for i in 0..len.div_ceil(8) {
            let q = p.add(i * 8);
            _mm256_storeu_ps(q, _mm256_mul_ps(_mm256_loadu_ps(q), inv));
        }
    }
}

/// [`crate::ops::exp`] of 8 lanes, its multiply-adds fused (the AVX-512 path's `exp16`;
/// `2^k` from the integer in `f`'s low mantissa bits, exact as `vscalefps` is).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    const SHIFTER: f32 = 12_582_912.0;
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
        _mm256_set1_ps(88.0),
    );
    let f = _mm256_fmadd_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
        _mm256_set1_ps(SHIFTER),
    );
    let k = _mm256_sub_ps(f, _mm256_set1_ps(SHIFTER));
    let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693_145_75), x);
    let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428_606_8e-6), r);
    let mut y = _mm256_set1_ps(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
    }
    let ki = _mm256_sub_epi32(
        _mm256_castps_si256(f),
        _mm256_set1_epi32(SHIFTER.to_bits() as i32),
    );
    let two_k = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(ki, _mm256_set1_epi32(127)),
        23,
    ));
    _mm256_mul_ps(y, two_k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
// The loops index a register tile by row; unrolled, they are the tile.
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
unsafe fn scores<const M: usize>(
    q: *const f32,
    h: usize,
    kt: *const f32,
    stride: usize,
    hd: usize,
    padded: usize,
    scale: f32,
    s: *mut f32,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller keeps rows < M of `q`, `hd` rows of `kt` from `padded` keys on,
    // and M rows of `padded` scores in bounds.
    unsafe {
        for c in (0..padded).step_by(16) {
            let mut acc = [[_mm256_setzero_ps(); 2]; M];
            for e in 0..hd {
                let kp = kt.add(e * stride + c);
                let k0 = _mm256_loadu_ps(kp);
                let k1 = _mm256_loadu_ps(kp.add(8));
                for r in 0..M {
                    let a = _mm256_broadcast_ss(&*q.add(r * h + e));
                    acc[r][0] = _mm256_fmadd_ps(a, k0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(a, k1, acc[r][1]);
                }
            }
            let sc = _mm256_set1_ps(scale);
            for r in 0..M {
                _mm256_storeu_ps(s.add(r * padded + c), _mm256_mul_ps(acc[r][0], sc));
                _mm256_storeu_ps(s.add(r * padded + c + 8), _mm256_mul_ps(acc[r][1], sc));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::needless_range_loop)]
unsafe fn values<const M: usize>(
    p: *const f32,
    padded: usize,
    len: usize,
    v: *const f32,
    h: usize,
    hd: usize,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller keeps `len` value rows and `hd` columns of `v`, M rows of `p` and
    // of `out` in bounds; `hd` is a multiple of 8.
    unsafe {
        let mut c = 0;
        while c + 16 <= hd {
            let mut acc = [[_mm256_setzero_ps(); 2]; M];
            for j in 0..len {
                let vp = v.add(j * h + c);
                let v0 = _mm256_loadu_ps(vp);
                let v1 = _mm256_loadu_ps(vp.add(8));
                for r in 0..M {
                    let a = _mm256_broadcast_ss(&*p.add(r * padded + j));
                    acc[r][0] = _mm256_fmadd_ps(a, v0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(a, v1, acc[r][1]);
                }
            }
            for r in 0..M {
                _mm256_storeu_ps(out.add(r * h + c), acc[r][0]);
                _mm256_storeu_ps(out.add(r * h + c + 8), acc[r][1]);
            }
            c += 16;
        }
        if c < hd {
            let mut acc = [_mm256_setzero_ps(); M];
            for j in 0..len {
                let v0 = _mm256_loadu_ps(v.add(j * h + c));
                for r in 0..M {
                    let a = _mm256_broadcast_ss(&*p.add(r * padded + j));
                    acc[r] = _mm256_fmadd_ps(a, v0, acc[r]);
                }
            }
            for r in 0..M {
                _mm256_storeu_ps(out.add(r * h + c), acc[r]);
            }
        }
    }
}
