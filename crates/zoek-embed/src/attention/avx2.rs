//! Attention tiles on 8-lane registers: up to 6 query rows × 16 keys of scores (12
//! accumulators), and up to 6 rows × 16 value columns (12 accumulators), within the 16
//! registers AVX2 has (with the two key or value vectors and a broadcast, 15 in use).

#[cfg(target_arch = "x86_64")]
use super::{Tiles, drive};
use crate::ops::AttnShape;

#[cfg(target_arch = "x86_64")]
struct Avx2;

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

#[cfg(target_arch = "x86_64")]
use super::softmax_rust as softmax;

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
