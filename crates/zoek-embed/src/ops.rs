//! The encoder's non-matrix work on plain `f32` slices: layer norm, GELU, attention.
//!
//! Each public op is compiled twice, for the baseline target and with AVX2 + FMA, and picks
//! at run time; the loops are written so the compiler vectorises them (no horizontal sums in
//! inner loops, no libm calls). At e5-small's sizes these ops are half of a forward pass
//! besides the quantised matrix products.

/// Defines `fn $name` that runs `$body` compiled for AVX-512 or AVX2 + FMA when the CPU has
/// them.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has the features `avx512` was compiled for (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx2` was compiled for (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

multiversion! {
    /// `x = LayerNorm(x + y)` row by row over rows of `h` values (`y` absent: `LayerNorm(x)`).
    pub fn layer_norm(x: &mut [f32], y: Option<&[f32]>, weight: &[f32], bias: &[f32], h: usize, eps: f32) {
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            if let Some(y) = y {
                for (a, b) in row.iter_mut().zip(&y[i * h..(i + 1) * h]) {
                    *a += b;
                }
            }
            let mean = sum(row) / h as f32;
            let mut var = [0f32; 8];
            for c in row.chunks_exact(8) {
                for j in 0..8 {
                    let d = c[j] - mean;
                    var[j] += d * d;
                }
            }
            let mut v: f32 = var.iter().sum();
            for r in row.chunks_exact(8).remainder() {
                v += (r - mean) * (r - mean);
            }
            let inv = 1.0 / (v / h as f32 + eps).sqrt();
            for ((a, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *a = (*a - mean) * inv * w + b;
            }
        }
    }
}

multiversion! {
    /// Exact (erf) GELU in place: `0.5 · x · (1 + erf(x / √2))`.
    pub fn gelu(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// Sum with eight partial sums (vectorisable).
#[inline(always)]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            acc[j] += c[j];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// erf, |error| < 3e-7 (Abramowitz & Stegun 7.1.28): polynomial and powers only, so it
/// vectorises; well inside the noise of the Q8 activations.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let p = 1.0
        + a * (0.070_523_08
            + a * (0.042_282_01
                + a * (0.009_270_527
                    + a * (0.000_152_014_3 + a * (0.000_276_567_2 + a * 0.000_043_063_8)))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let p16 = p8 * p8;
    let y = 1.0 - 1.0 / p16;
    if x < 0.0 { -y } else { y }
}

/// e^x for x ≤ 88, relative error < 2e-7: range reduction to 2^k · e^r with |r| ≤ ln2/2 and
/// a degree-6 Taylor polynomial; branch-free so that loops over it vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5·2^23 trick (no SSE4.1 `roundps` needed).
    const SHIFTER: f32 = 12_582_912.0;
    let f = x * std::f32::consts::LOG2_E + SHIFTER;
    let k = f - SHIFTER;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k from the integer k that sits in the low mantissa bits of `f` (|k| <= 127 after
    // the clamp). Integer bit arithmetic, unlike `k as i32` (a saturating conversion that
    // compiles to one scalar instruction sequence per lane), keeps the loop vectorised.
    let ki = f.to_bits().wrapping_sub(SHIFTER.to_bits());
    p * f32::from_bits(ki.wrapping_add(127) << 23)
}

/// Lanes the attention loops are padded to, so that they run without scalar remainders.
pub const LANES: usize = 16;

/// Row stride of the transposed keys for `tokens` tokens: room for a padded read past the
/// last token.
pub fn kt_stride(tokens: usize) -> usize {
    tokens + 2 * LANES
}

/// `kt[c · kt_stride(tokens) + s] = k[s · h + c]`: keys transposed so that the scores of one
/// query against a sequence are contiguous multiply-adds. `kt` holds `h · kt_stride(tokens)`
/// values; the padding stays zero.
pub fn transpose(k: &[f32], tokens: usize, h: usize, kt: &mut [f32]) {
    assert!(
        k.len() >= tokens * h && kt.len() >= h * kt_stride(tokens),
        "transpose shapes disagree"
    );
    #[cfg(target_arch = "x86_64")]
    if h.is_multiple_of(8) && std::arch::is_x86_feature_detected!("avx2") {
        let whole = tokens / 8 * 8;
        // SAFETY: the CPU has AVX2; `whole` tokens of `h` columns (a multiple of 8) are
        // inside `k`, and their transposed runs inside `kt` (asserted above).
        unsafe { transpose_avx2(k, whole, h, kt_stride(tokens), kt) };
        transpose_from(k, whole, tokens, h, kt);
        return;
    }
    transpose_from(k, 0, tokens, h, kt);
}

/// [`transpose`] of the tokens `from..tokens`, one scalar at a time.
fn transpose_from(k: &[f32], from: usize, tokens: usize, h: usize, kt: &mut [f32]) {
    let stride = kt_stride(tokens);
    // Blocks of 16 tokens: each output run is one cache line, and the block's 16 input rows
    // stay in L1 while all `h` columns are read out of them (a token at a time wrote a
    // strided column per token, 4% of a build's time).
    for s0 in (from..tokens).step_by(16) {
        let s1 = (s0 + 16).min(tokens);
        let rows = &k[s0 * h..s1 * h];
        for c in 0..h {
            let dst = &mut kt[c * stride + s0..c * stride + s1];
            for (d, row) in dst.iter_mut().zip(rows.chunks_exact(h)) {
                *d = row[c];
            }
        }
    }
}

/// The first `tokens` (a multiple of 8) of [`transpose`] in 8 × 8 register transposes, two
/// per 16-token block so that each block writes whole cache lines: eight loads, 24
/// shuffles and eight stores for 64 values (the scalar loop, 2.3 % of a late build, moved
/// one value per load and store).
///
/// # Safety
/// The CPU must support AVX2; `k` must hold `tokens × h` values, `h` a multiple of 8, and
/// `kt` `h` rows of `stride >= tokens` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_avx2(k: &[f32], tokens: usize, h: usize, stride: usize, kt: &mut [f32]) {
    let (src, dst) = (k.as_ptr(), kt.as_mut_ptr());
    let mut s0 = 0;
    while s0 < tokens {
        // Both halves of a 16-token block per column group, or the last 8 tokens alone.
        let halves = if s0 + 16 <= tokens { 2 } else { 1 };
        for c0 in (0..h).step_by(8) {
            for half in 0..halves {
                // SAFETY: tokens s0 + 8 · half + 8 <= tokens and columns c0 + 8 <= h are
                // inside `k`; rows c0..c0 + 8 of `kt`, columns up to stride, inside `kt`.
                unsafe { transpose_8x8(src, s0 + 8 * half, c0, h, stride, dst) };
            }
        }
        s0 += 8 * halves;
    }
}

/// `dst[(c0 + j) · stride + s0 + i] = src[(s0 + i) · h + c0 + j]` for `i, j < 8`.
///
/// # Safety
/// The CPU must support AVX2 and both 8 × 8 blocks must be in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose_8x8(
    src: *const f32,
    s0: usize,
    c0: usize,
    h: usize,
    stride: usize,
    dst: *mut f32,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller keeps both blocks in bounds.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add((s0 + i) * h + c0)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let cols = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (j, col) in cols.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add((c0 + j) * stride + s0), col);
        }
    }
}

/// The geometry of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    /// Tokens in the batch.
    pub tokens: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Heads.
    pub heads: usize,
}

multiversion! {
    /// Scaled dot-product attention for the token rows `first..first + out.len() / hidden`:
    /// each attends over its own sequence `bounds[i] = (start, end)`. `kt` is the transposed
    /// keys ([`transpose`]), `probs` scratch of at least the longest sequence.
    ///
    /// One row at a time: the path for CPUs without AVX2 and head sizes the tiles of
    /// [`crate::attention`] do not divide.
    pub fn attention_rows_portable(
        out: &mut [f32],
        first: usize,
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        bounds: &[(usize, usize)],
        shape: AttnShape,
        probs: &mut Vec<f32>,
    ) {
        let AttnShape { tokens, hidden: h, heads } = shape;
        let hd = h / heads;
        let stride = kt_stride(tokens);
        let scale = 1.0 / (hd as f32).sqrt();
        for (i, row) in out.chunks_exact_mut(h).enumerate() {
            let t = first + i;
            let (s0, s1) = bounds[bounds.partition_point(|&(_, e)| e <= t)];
            let len = s1 - s0;
            // Scores are computed over pairs of whole lanes; the extra ones (next sequence's
            // keys or zero padding) are dropped before the softmax.
            let padded = len.div_ceil(2 * LANES) * 2 * LANES;
            probs.clear();
            probs.resize(padded, 0.0);
            for hh in 0..heads {
                let p = &mut probs[..padded];
                let (pch, _) = p.as_chunks_mut::<{ 2 * LANES }>();
                for (ci, pc) in pch.iter_mut().enumerate() {
                    // Register-held accumulators (`probs` may alias the keys as far as the
                    // compiler knows, which would keep a loop over it scalar), two of them so
                    // that the multiply-add chains overlap.
                    let mut a0 = [0f32; LANES];
                    let mut a1 = [0f32; LANES];
                    for e in 0..hd {
                        let c = hh * hd + e;
                        let qe = q[t * h + c] * scale;
                        let at = c * stride + s0 + ci * 2 * LANES;
                        if let Some(kc) = kt[at..].first_chunk::<{ 2 * LANES }>() {
                            for l in 0..LANES {
                                a0[l] += qe * kc[l];
                                a1[l] += qe * kc[LANES + l];
                            }
                        }
                    }
                    pc[..LANES].copy_from_slice(&a0);
                    pc[LANES..].copy_from_slice(&a1);
                }
                let p = &mut p[..len];
                let mx = max(p);
                for pj in p.iter_mut() {
                    *pj = exp(*pj - mx);
                }
                let inv = 1.0 / sum(p);
                let ch = &mut row[hh * hd..(hh + 1) * hd];
                let (cch, rest) = ch.as_chunks_mut::<LANES>();
                for (k, cc) in cch.iter_mut().enumerate() {
                    // Even and odd keys in separate accumulators, for overlapping chains.
                    let mut a0 = [0f32; LANES];
                    let mut a1 = [0f32; LANES];
                    let off = hh * hd + k * LANES;
                    let mut pairs = p.chunks_exact(2);
                    let mut j = s0;
                    for pr in &mut pairs {
                        let (w0, w1) = (pr[0] * inv, pr[1] * inv);
                        if let (Some(v0), Some(v1)) = (
                            v[j * h + off..].first_chunk::<LANES>(),
                            v[(j + 1) * h + off..].first_chunk::<LANES>(),
                        ) {
                            for l in 0..LANES {
                                a0[l] += w0 * v0[l];
                                a1[l] += w1 * v1[l];
                            }
                        }
                        j += 2;
                    }
                    if let Some(&pl) = pairs.remainder().first()
                        && let Some(vl) = v[j * h + off..].first_chunk::<LANES>()
                    {
                        let w = pl * inv;
                        for l in 0..LANES {
                            a0[l] += w * vl[l];
                        }
                    }
                    for l in 0..LANES {
                        cc[l] = a0[l] + a1[l];
                    }
                }
                // Head sizes that are not a multiple of the lane count.
                let done = cch.len() * LANES;
                for (e, cv) in rest.iter_mut().enumerate() {
                    let c = hh * hd + done + e;
                    *cv = p
                        .iter()
                        .enumerate()
                        .map(|(j, pj)| pj * inv * v[(s0 + j) * h + c])
                        .sum();
                }
            }
        }
    }
}

/// Maximum of a non-empty slice, with lane-wise partial maxima (vectorisable).
#[inline(always)]
pub(crate) fn max(xs: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let (chunks, rest) = xs.as_chunks::<LANES>();
    for c in chunks {
        for l in 0..LANES {
            m[l] = if c[l] > m[l] { c[l] } else { m[l] };
        }
    }
    let mut out = rest
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for v in m {
        out = if v > out { v } else { out };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_every_value_and_keeps_the_padding() {
        // Token counts below, at and between the 8- and 16-token blocks (and a 16-token block
        // followed by a lone 8-token one); head sizes of the
        // register path and one it does not divide.
        for (tokens, h) in [
            (1, 8),
            (7, 16),
            (8, 8),
            (16, 24),
            (23, 384),
            (24, 16),
            (45, 32),
            (40, 12),
            (5, 12),
        ] {
            let k: Vec<f32> = (0..tokens * h).map(|i| i as f32).collect();
            let stride = kt_stride(tokens);
            let mut kt = vec![0f32; h * stride];
            transpose(&k, tokens, h, &mut kt);
            for c in 0..h {
                for s in 0..stride {
                    let want = if s < tokens { k[s * h + c] } else { 0.0 };
                    assert_eq!(kt[c * stride + s], want, "{tokens}×{h}: c{c} s{s}");
                }
            }
        }
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.1, 0.112_462_92),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-1.5, -0.966_105_1),
            (3.0, 0.999_977_9),
            (9.0, 1.0),
        ] {
            assert!(
                (erf(x) - want).abs() < 1e-6,
                "erf({x}) = {} want {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 3e-7 * want,
                "exp({x}) = {got} want {want}"
            );
            x += 0.173;
        }
        assert!((0.0..1e-37).contains(&exp(-1000.0)));
    }

    #[test]
    fn layer_norm_normalises() {
        let mut x: Vec<f32> = (0..20).map(|i| i as f32 * 0.5 - 3.0).collect();
        let w = vec![2.0f32; 10];
        let b = vec![1.0f32; 10];
        layer_norm(&mut x, None, &w, &b, 10, 1e-12);
        for row in x.chunks(10) {
            let m: f32 = row.iter().map(|v| (v - 1.0) / 2.0).sum::<f32>() / 10.0;
            let var: f32 = row
                .iter()
                .map(|v| ((v - 1.0) / 2.0 - m).powi(2))
                .sum::<f32>()
                / 10.0;
            assert!(m.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{m} {var}");
        }
    }
}
