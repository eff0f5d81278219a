//! AVX-512 VNNI backend: one `vpdpbusd` multiplies 16 rows by 4 columns of a token.
//!
//! A tile is up to 2 panels (32 rows) by up to 6 tokens: 12 integer and 12 float
//! accumulators plus 2 weight registers fit the 32 vector registers, each 64-byte weight load
//! serves every token of the tile and each broadcast activation word both panels.

use super::Job;

/// Tokens per tile at most.
#[cfg(target_arch = "x86_64")]
const MAX_T: usize = 6;

/// Runs the job.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI, and the job's output cells must
/// be valid for writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn run(job: &Job) {
    let n = job.tokens.len();
    let tiles = n.div_ceil(MAX_T);
    let mut p = job.panels.start;
    while p < job.panels.end {
        let r = (job.panels.end - p).min(2);
        for k in 0..tiles {
            // Even tile sizes: 14 tokens run as 5 + 5 + 4 rather than 6 + 6 + 2.
            let t0 = job.tokens.start + k * n / tiles;
            let t1 = job.tokens.start + (k + 1) * n / tiles;
            // SAFETY: forwarded from the caller; `p + r <= panels` and `t1 <= tokens`.
            unsafe {
                macro_rules! go {
                    ($($r:literal, $t:literal);*) => {
                        match (r, t1 - t0) {
                            $(($r, $t) => tile::<$r, $t>(job, p, t0),)*
                            _ => unreachable!("tile sizes are bounded by MAX_T"),
                        }
                    };
                }
                go!(2,1; 2,2; 2,3; 2,4; 2,5; 2,6; 1,1; 1,2; 1,3; 1,4; 1,5; 1,6)
            }
        }
        p += r;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
// The loops index a register tile by (row vector, token); unrolled, they are the tile.
#[allow(clippy::needless_range_loop)]
unsafe fn tile<const R: usize, const T: usize>(job: &Job, p0: usize, t0: usize) {
    use super::PANEL;
    use super::layout::PANEL_BLOCK_BYTES;
    use std::arch::x86_64::*;

    let nb = job.w.blocks();
    let cols = job.acts.cols;
    let codes = job.w.codes.as_ptr();
    let scales = job.w.scales.as_ptr();
    let q = job.acts.q.as_ptr();
    let d = job.acts.d.as_ptr();
    let offset = job.acts.offset.as_ptr();
    let mut facc = [[_mm512_setzero_ps(); T]; R];
    // SAFETY: panels p0..p0+R and tokens t0..t0+T are inside the packed weights and the
    // quantised activations (the caller's job bounds), so every offset below is in bounds.
    unsafe {
        for b in 0..nb {
            let mut iacc = [[_mm512_setzero_si512(); T]; R];
            for t in 0..T {
                let o = _mm512_set1_epi32(*offset.add((t0 + t) * nb + b));
                for acc in iacc.iter_mut() {
                    acc[t] = o;
                }
            }
            for g in 0..8 {
                let mut w = [_mm512_setzero_si512(); R];
                for (r, w) in w.iter_mut().enumerate() {
                    *w = _mm512_loadu_si512(
                        codes.add(((p0 + r) * nb + b) * PANEL_BLOCK_BYTES + g * 64) as *const _,
                    );
                }
                for t in 0..T {
                    let word =
                        (q.add((t0 + t) * cols + b * 32 + g * 4) as *const i32).read_unaligned();
                    let a = _mm512_set1_epi32(word);
                    for r in 0..R {
                        iacc[r][t] = _mm512_dpbusd_epi32(iacc[r][t], w[r], a);
                    }
                }
            }
            for r in 0..R {
                let dw = _mm512_loadu_ps(scales.add(((p0 + r) * nb + b) * PANEL));
                for t in 0..T {
                    let da = _mm512_set1_ps(*d.add((t0 + t) * nb + b));
                    let part = _mm512_mul_ps(_mm512_cvtepi32_ps(iacc[r][t]), da);
                    facc[r][t] = _mm512_fmadd_ps(part, dw, facc[r][t]);
                }
            }
        }
    }
    for (r, facc) in facc.iter().enumerate() {
        // SAFETY: forwarded from the caller: the job owns panel p0 + r of tokens t0..t0 + T.
        unsafe { store(job, p0 + r, t0, facc) };
    }
}

/// Stores the 16 finished sums of `panel` for tokens `t0..t0 + T`, adding the bias.
///
/// The output place is found once per panel, not once per token: for a split product
/// (query, key and value in one) it takes a division, and out of line, once per token, this
/// store was a tenth of a build's time on a Zen 5 EPYC.
///
/// # Safety
/// The CPU must support AVX-512F, and the job must own these output cells.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn store<const T: usize>(
    job: &Job,
    panel: usize,
    t0: usize,
    v: &[std::arch::x86_64::__m512; T],
) {
    use super::PANEL;
    use std::arch::x86_64::*;

    match job.contiguous(panel, t0) {
        Some(dst) => {
            let bias = match job.bias {
                // SAFETY: the bias holds `rows` values and a contiguous panel is a full one,
                // so `panel * 16 + 16 <= rows`.
                Some(b) => unsafe { _mm512_loadu_ps(b.as_ptr().add(panel * PANEL)) },
                None => _mm512_setzero_ps(),
            };
            let stride = job.token_stride();
            for (t, &v) in v.iter().enumerate() {
                // SAFETY: the job owns these 16 output cells of token t0 + t, `t * stride`
                // past token t0's in the same output part.
                unsafe { _mm512_storeu_ps(dst.add(t * stride), _mm512_add_ps(v, bias)) }
            }
        }
        None => {
            for (t, &v) in v.iter().enumerate() {
                let mut sums = [0f32; PANEL];
                // SAFETY: `sums` holds 16 floats.
                unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), v) };
                job.store_cold(panel, t0 + t, &sums);
            }
        }
    }
}

/// Never called: [`super::Backend::Avx512Vnni`] is unavailable off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn run(_job: &Job) {
    unreachable!("AVX-512 backend selected on a non-x86-64 CPU")
}
