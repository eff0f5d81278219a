//! AVX-VNNI backend: `vpdpbusd` on 256-bit registers, 8 rows x 4 columns each.
//!
//! For CPUs with VNNI but without AVX-512, such as Intel's Alder Lake and later client
//! parts. A tile is one panel (two 8-row halves) by up to 3 tokens: 6 integer and 6 float
//! accumulators plus 2 weight registers fit the 16 vector registers.

use super::Job;

/// Tokens per tile at most.
#[cfg(target_arch = "x86_64")]
const MAX_T: usize = 3;

/// Runs the job.
///
/// # Safety
/// The CPU must support AVX2, FMA and AVX-VNNI, and the job's output cells must be valid for
/// writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(super) unsafe fn run(job: &Job) {
    let n = job.tokens.len();
    let tiles = n.div_ceil(MAX_T);
    for p in job.panels.clone() {
        for k in 0..tiles {
            let t0 = job.tokens.start + k * n / tiles;
            let t1 = job.tokens.start + (k + 1) * n / tiles;
            // SAFETY: forwarded from the caller; `p < panels` and `t1 <= tokens`.
            unsafe {
                match t1 - t0 {
                    1 => tile::<1>(job, p, t0),
                    2 => tile::<2>(job, p, t0),
                    3 => tile::<3>(job, p, t0),
                    _ => unreachable!("tile sizes are bounded by MAX_T"),
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avxvnni")]
#[inline]
// The loops index a register tile by (row half, token); unrolled, they are the tile.
#[allow(clippy::needless_range_loop)]
unsafe fn tile<const T: usize>(job: &Job, p: usize, t0: usize) {
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
    let mut facc = [[_mm256_setzero_ps(); T]; 2];
    // SAFETY: panel p and tokens t0..t0+T are inside the packed weights and the quantised
    // activations (the caller's job bounds), so every offset below is in bounds.
    unsafe {
        for b in 0..nb {
            let base = codes.add((p * nb + b) * PANEL_BLOCK_BYTES);
            let mut iacc = [[_mm256_setzero_si256(); T]; 2];
            for t in 0..T {
                let o = _mm256_set1_epi32(*offset.add((t0 + t) * nb + b));
                iacc[0][t] = o;
                iacc[1][t] = o;
            }
            for g in 0..8 {
                let w0 = _mm256_loadu_si256(base.add(g * 64) as *const __m256i);
                let w1 = _mm256_loadu_si256(base.add(g * 64 + 32) as *const __m256i);
                for t in 0..T {
                    let word =
                        (q.add((t0 + t) * cols + b * 32 + g * 4) as *const i32).read_unaligned();
                    let a = _mm256_set1_epi32(word);
                    iacc[0][t] = _mm256_dpbusd_avx_epi32(iacc[0][t], w0, a);
                    iacc[1][t] = _mm256_dpbusd_avx_epi32(iacc[1][t], w1, a);
                }
            }
            for h in 0..2 {
                let dw = _mm256_loadu_ps(scales.add((p * nb + b) * PANEL + h * 8));
                for t in 0..T {
                    let da = _mm256_set1_ps(*d.add((t0 + t) * nb + b));
                    let part = _mm256_mul_ps(_mm256_cvtepi32_ps(iacc[h][t]), da);
                    facc[h][t] = _mm256_fmadd_ps(part, dw, facc[h][t]);
                }
            }
        }
    }
    // SAFETY: forwarded from the caller; AVX-VNNI CPUs have AVX2 and FMA.
    unsafe { super::avx2::store_halves(job, p, t0, &facc) };
}

/// Never called: [`super::Backend::AvxVnni`] is unavailable off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn run(_job: &Job) {
    unreachable!("AVX-VNNI backend selected on a non-x86-64 CPU")
}
