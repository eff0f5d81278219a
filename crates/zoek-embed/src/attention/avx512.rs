//! Attention tiles on 16-lane registers: up to 8 query rows × 32 keys of scores (16
//! accumulators; the last 16 keys of a sequence padded to 16 take 8), and up to 8 rows × 32
//! value columns (16 accumulators), each key or value load shared by every row of the tile.

#[cfg(target_arch = "x86_64")]
use super::{Tiles, drive};
use crate::ops::AttnShape;

#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512;

/// [`super::attention_rows_with`] on this path.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL and FMA, the head size must be a multiple of 16,
/// and the slices must hold the shapes `attention_rows_with` asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
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
    unsafe { drive::<Avx512>(out, first, q, kt, v, bounds, shape, probs) }
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
    unreachable!("AVX-512 attention selected on a non-x86-64 CPU")
}

#[cfg(target_arch = "x86_64")]
tiles_by_rows!(Avx512, nr = 16, rows = [1, 2, 3, 4, 5, 6, 7; 8]);

/// The softmax of one row of scores on 16-lane registers: the maximum, then `exp` and its
/// sum in one pass, then the scaling by 1 / Σ. The last, partial vector is masked for the
/// maximum and the sum only (the entries past `len` up to the next 16 are read and
/// overwritten but never used). `exp` is [`crate::ops::exp`]'s polynomial with the
/// multiply-adds fused and `2^k` applied by `vscalefps`: written in plain Rust the
/// compiler kept 14 separate multiplies and adds in one dependent chain per vector, and the
/// scalar remainders, which made the softmax a quarter of attention's time on a Zen 5
/// EPYC.
///
/// # Safety
/// The CPU must support AVX-512F, and `p` must hold `len` rounded up to 16 entries.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
unsafe fn softmax(p: *mut f32, len: usize) {
    use std::arch::x86_64::*;
    let (full, rest) = (len / 16, len % 16);
    let tail: __mmask16 = (1u32 << rest).wrapping_sub(1) as __mmask16;
    // SAFETY: chunks 0..full are inside the `len` entries, the partial one inside the
    // rounded-up row the caller guarantees.
    unsafe {
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        for i in 0..full {
            m = _mm512_max_ps(m, _mm512_loadu_ps(p.add(i * 16)));
        }
        if rest > 0 {
            m = _mm512_mask_max_ps(m, tail, m, _mm512_loadu_ps(p.add(full * 16)));
        }
        let mx = _mm512_set1_ps(_mm512_reduce_max_ps(m));
        let mut s = _mm512_setzero_ps();
        for i in 0..full {
            let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p.add(i * 16)), mx));
            _mm512_storeu_ps(p.add(i * 16), e);
            s = _mm512_add_ps(s, e);
        }
        if rest > 0 {
            let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p.add(full * 16)), mx));
            _mm512_storeu_ps(p.add(full * 16), e);
            s = _mm512_mask_add_ps(s, tail, s, e);
        }
        let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(s));
        for i in 0..len.div_ceil(16) {
            let q = p.add(i * 16);
            _mm512_storeu_ps(q, _mm512_mul_ps(_mm512_loadu_ps(q), inv));
        }
    }
}

/// [`crate::ops::exp`] of 16 lanes, its multiply-adds fused.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
fn exp16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    const SHIFTER: f32 = 12_582_912.0;
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let f = _mm512_fmadd_ps(
        x,
        _mm512_set1_ps(std::f32::consts::LOG2_E),
        _mm512_set1_ps(SHIFTER),
    );
    let k = _mm512_sub_ps(f, _mm512_set1_ps(SHIFTER));
    let r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428_606_8e-6), r);
    let mut y = _mm512_set1_ps(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(c));
    }
    _mm512_scalef_ps(y, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
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
        let sc = _mm512_set1_ps(scale);
        let mut c = 0;
        while c + 32 <= padded {
            let mut acc = [[_mm512_setzero_ps(); 2]; M];
            for e in 0..hd {
                let kp = kt.add(e * stride + c);
                let k0 = _mm512_loadu_ps(kp);
                let k1 = _mm512_loadu_ps(kp.add(16));
                for r in 0..M {
                    let a = _mm512_set1_ps(*q.add(r * h + e));
                    acc[r][0] = _mm512_fmadd_ps(a, k0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(a, k1, acc[r][1]);
                }
            }
            for r in 0..M {
                _mm512_storeu_ps(s.add(r * padded + c), _mm512_mul_ps(acc[r][0], sc));
                _mm512_storeu_ps(s.add(r * padded + c + 16), _mm512_mul_ps(acc[r][1], sc));
            }
            c += 32;
        }
        // A last run of 16 keys: padding a sequence to 16 rather than 32 keys saves 8 of
        // every row's multiply-adds on average.
        if c < padded {
            let mut acc = [_mm512_setzero_ps(); M];
            for e in 0..hd {
                let k0 = _mm512_loadu_ps(kt.add(e * stride + c));
                for r in 0..M {
                    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*q.add(r * h + e)), k0, acc[r]);
                }
            }
            for r in 0..M {
                _mm512_storeu_ps(s.add(r * padded + c), _mm512_mul_ps(acc[r], sc));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
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
    // of `out` in bounds; `hd` is a multiple of 16.
    unsafe {
        let mut c = 0;
        while c + 32 <= hd {
            let mut acc = [[_mm512_setzero_ps(); 2]; M];
            for j in 0..len {
                let vp = v.add(j * h + c);
                let v0 = _mm512_loadu_ps(vp);
                let v1 = _mm512_loadu_ps(vp.add(16));
                for r in 0..M {
                    let a = _mm512_set1_ps(*p.add(r * padded + j));
                    acc[r][0] = _mm512_fmadd_ps(a, v0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(a, v1, acc[r][1]);
                }
            }
            for r in 0..M {
                _mm512_storeu_ps(out.add(r * h + c), acc[r][0]);
                _mm512_storeu_ps(out.add(r * h + c + 16), acc[r][1]);
            }
            c += 32;
        }
        if c < hd {
            let mut acc = [_mm512_setzero_ps(); M];
            for j in 0..len {
                let v0 = _mm512_loadu_ps(v.add(j * h + c));
                for r in 0..M {
                    let a = _mm512_set1_ps(*p.add(r * padded + j));
                    acc[r] = _mm512_fmadd_ps(a, v0, acc[r]);
                }
            }
            for r in 0..M {
                _mm512_storeu_ps(out.add(r * h + c), acc[r]);
            }
        }
    }
}
