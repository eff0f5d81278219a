//! AVX2 backend: `vpmaddubsw` on 8 rows x 4 columns per register.
//!
//! The Q4_0 blocks, the hottest loops of a build and of a question on an AVX2-only CPU, are
//! written out in assembly ([`block2x2`], [`block3`]); everything else is intrinsics.
//!
//! A Q4_0 tile is two panels (32 rows, four 8-row quarters) by up to 2 tokens, or, for the
//! odd last panel of a job, one panel by up to 3 tokens. The 16-bit pair sums of a whole
//! block are accumulated before widening: each is at most 2 * 15 * 128 = 3840 in magnitude,
//! so 8 groups stay below 32767 and one `vpmaddwd` per block suffices.
//!
//! Why two panels by two tokens: on Zen 3 `vpmaddubsw`, `vpmaddwd` and the float multiply
//! and fused multiply-add of the block's scales share the same two pipes, so the tile is
//! bound by those and by the loads feeding them. Two panels by two tokens load 4 weight
//! vectors and broadcast 2 activation words for 8 products (one panel by three tokens: 2
//! and 3 for 6), and a throwaway loop from L1 ran it 7–12 % faster per product than the one
//! panel by three tokens of earlier sessions.
//!
//! Q8_0 codes (up to 255) would overflow `vpmaddubsw`'s 16-bit pair sums, so its tile uses
//! the sign trick instead: the signed weight `w` becomes `|w|` (unsigned) and its sign moves
//! onto the activation (`vpsignb`), which bounds a pair sum by 2 * 127 * 128 = 32512; each
//! group is widened with `vpmaddwd` at once, and no zero-point offset is needed.

use super::Job;

/// Tokens per tile at most (the one-panel tiles).
#[cfg(target_arch = "x86_64")]
const MAX_T: usize = 3;
/// Panels ahead whose weights the first token tile of a panel prefetches. Few tokens (a
/// question) stream the weights from L3 or memory once per product and wait on each miss;
/// the hardware prefetcher does not run far enough ahead on these short panel walks.
#[cfg(target_arch = "x86_64")]
const PREFETCH_PANELS: usize = 2;

/// Runs the job.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and the job's output cells must be valid for writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn run(job: &Job) {
    let q8 = job.w.zero == super::layout::Q8_ZERO;
    let tokens = job.tokens.clone();
    let mut p = job.panels.start;
    while p < job.panels.end {
        if !q8 && p + 1 < job.panels.end {
            let mut t = tokens.start;
            // SAFETY: forwarded from the caller; `p + 1 < panels` and `t + 2 <= tokens.end`.
            unsafe {
                while t + 2 <= tokens.end {
                    tile2p::<2>(job, p, t);
                    t += 2;
                }
                if t < tokens.end {
                    tile2p::<1>(job, p, t);
                }
            }
            p += 2;
            continue;
        }
        let n = tokens.len();
        let tiles = n.div_ceil(MAX_T);
        for k in 0..tiles {
            let t0 = tokens.start + k * n / tiles;
            let t1 = tokens.start + (k + 1) * n / tiles;
            // SAFETY: forwarded from the caller; `p < panels` and `t1 <= tokens`.
            unsafe {
                match (q8, t1 - t0) {
                    (false, 1) => tile::<1>(job, p, t0),
                    (false, 2) => tile::<2>(job, p, t0),
                    (false, 3) => tile::<3>(job, p, t0),
                    (true, 1) => tile_q8::<1>(job, p, t0),
                    (true, 2) => tile_q8::<2>(job, p, t0),
                    (true, 3) => tile_q8::<3>(job, p, t0),
                    _ => unreachable!("tile sizes are bounded by MAX_T"),
                }
            }
        }
        p += 1;
    }
}

/// A Q4_0 tile of panels `p` and `p + 1` by tokens `t0..t0 + T` (`T` is 1 or 2).
///
/// # Safety
/// As [`run`]; both panels and the tokens must lie inside the job.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
// The loops index a register tile by (row vector, token); unrolled, they are the tile.
#[allow(clippy::needless_range_loop)]
unsafe fn tile2p<const T: usize>(job: &Job, p: usize, t0: usize) {
    use super::PANEL;
    use super::layout::PANEL_BLOCK_BYTES;
    use std::arch::x86_64::*;

    let nb = job.w.blocks();
    let cols = job.acts.cols;
    let codes = job.w.codes.as_ptr();
    let scales = job.w.scales.as_ptr();
    let q = job.acts.q.as_ptr();
    // [quarter][token]: quarters 0 and 1 are panel p's rows 0–7 and 8–15, 2 and 3 panel p + 1's.
    let mut facc = [[_mm256_setzero_ps(); T]; 4];
    // SAFETY: panels p, p + 1 and tokens t0..t0+T are inside the packed weights and the
    // quantised activations (the caller's job bounds), so every offset below is in bounds.
    unsafe {
        for b in 0..nb {
            let base = codes.add((p * nb + b) * PANEL_BLOCK_BYTES);
            let base2 = base.add(nb * PANEL_BLOCK_BYTES);
            let sc = scales.add((p * nb + b) * PANEL);
            let sc2 = sc.add(nb * PANEL);
            if t0 == job.tokens.start {
                prefetch_ahead(base, sc, nb);
                prefetch_ahead(base2, sc2, nb);
            }
            let a = |t: usize| q.add((t0 + t.min(T - 1)) * cols + b * 32);
            // With one token the second column repeats the first and is dropped.
            let acc16 = block2x2(base, base2, a(0), a(1));
            for h in 0..4 {
                let s = if h < 2 { sc } else { sc2 };
                scale_q4(&acc16[h], s.add((h % 2) * 8), job, t0, b, &mut facc[h]);
            }
        }
        let [q0, q1, q2, q3] = facc;
        // SAFETY: forwarded from the caller.
        store_halves(job, p, t0, &[q0, q1]);
        // SAFETY: as above, panel p + 1.
        store_halves(job, p + 1, t0, &[q2, q3]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
// The loops index a register tile by (row vector, token); unrolled, they are the tile.
#[allow(clippy::needless_range_loop)]
unsafe fn tile_q8<const T: usize>(job: &Job, p: usize, t0: usize) {
    use super::PANEL;
    use super::layout::PANEL_BLOCK_BYTES;
    use std::arch::x86_64::*;

    let nb = job.w.blocks();
    let cols = job.acts.cols;
    let codes = job.w.codes.as_ptr();
    let scales = job.w.scales.as_ptr();
    let q = job.acts.q.as_ptr();
    let d = job.acts.d.as_ptr();
    let ones = _mm256_set1_epi16(1);
    // Stored codes are `w + 128`; flipping the top bit gives the signed `w` back.
    let flip = _mm256_set1_epi8(i8::MIN);
    let mut facc = [[_mm256_setzero_ps(); T]; 2];
    // SAFETY: panel p and tokens t0..t0+T are inside the packed weights and the quantised
    // activations (the caller's job bounds), so every offset below is in bounds.
    unsafe {
        for b in 0..nb {
            let base = codes.add((p * nb + b) * PANEL_BLOCK_BYTES);
            if t0 == job.tokens.start {
                prefetch_ahead(base, scales.add((p * nb + b) * PANEL), nb);
            }
            let mut acc = [[_mm256_setzero_si256(); T]; 2];
            for g in 0..8 {
                let mut wabs = [_mm256_setzero_si256(); 2];
                let mut wsig = [_mm256_setzero_si256(); 2];
                for h in 0..2 {
                    let c = _mm256_loadu_si256(base.add(g * 64 + h * 32) as *const __m256i);
                    wsig[h] = _mm256_xor_si256(c, flip);
                    wabs[h] = _mm256_abs_epi8(wsig[h]);
                }
                for t in 0..T {
                    let word =
                        (q.add((t0 + t) * cols + b * 32 + g * 4) as *const i32).read_unaligned();
                    let a = _mm256_set1_epi32(word);
                    for h in 0..2 {
                        let pairs = _mm256_maddubs_epi16(wabs[h], _mm256_sign_epi8(a, wsig[h]));
                        acc[h][t] = _mm256_add_epi32(acc[h][t], _mm256_madd_epi16(pairs, ones));
                    }
                }
            }
            for h in 0..2 {
                let dw = _mm256_loadu_ps(scales.add((p * nb + b) * PANEL + h * 8));
                for t in 0..T {
                    let da = _mm256_set1_ps(*d.add((t0 + t) * nb + b));
                    let part = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[h][t]), da);
                    facc[h][t] = _mm256_fmadd_ps(part, dw, facc[h][t]);
                }
            }
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_halves(job, p, t0, &facc) };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
// The loops index a register tile by (row vector, token); unrolled, they are the tile.
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
    let mut facc = [[_mm256_setzero_ps(); T]; 2];
    // SAFETY: panel p and tokens t0..t0+T are inside the packed weights and the quantised
    // activations (the caller's job bounds), so every offset below is in bounds.
    unsafe {
        for b in 0..nb {
            let base = codes.add((p * nb + b) * PANEL_BLOCK_BYTES);
            if t0 == job.tokens.start {
                prefetch_ahead(base, scales.add((p * nb + b) * PANEL), nb);
            }
            let mut acc16 = [[_mm256_setzero_si256(); T]; 2];
            if T == 3 {
                let a = |t: usize| q.add((t0 + t) * cols + b * 32);
                let [lo, hi] = block3(base, a(0), a(1), a(2));
                acc16[0].copy_from_slice(&lo);
                acc16[1].copy_from_slice(&hi);
            } else {
                for g in 0..8 {
                    let w0 = _mm256_loadu_si256(base.add(g * 64) as *const __m256i);
                    let w1 = _mm256_loadu_si256(base.add(g * 64 + 32) as *const __m256i);
                    for t in 0..T {
                        let word = (q.add((t0 + t) * cols + b * 32 + g * 4) as *const i32)
                            .read_unaligned();
                        let a = _mm256_set1_epi32(word);
                        acc16[0][t] = _mm256_add_epi16(acc16[0][t], _mm256_maddubs_epi16(w0, a));
                        acc16[1][t] = _mm256_add_epi16(acc16[1][t], _mm256_maddubs_epi16(w1, a));
                    }
                }
            }
            for h in 0..2 {
                let dw = scales.add((p * nb + b) * PANEL + h * 8);
                scale_q4(&acc16[h], dw, job, t0, b, &mut facc[h]);
            }
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_halves(job, p, t0, &facc) };
}

/// Adds one Q4_0 block's share to 8 output rows of tokens `t0..t0 + T`: each token's 16-bit
/// pair sums `acc16[t]` (any past `T` are ignored) widened, the zero point's offset added,
/// times the activation scale and the rows' weight scales (8 at `dw`).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `dw` must hold 8 scales, and block `b` of tokens
/// `t0..t0 + T` must lie inside the job's quantised activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn scale_q4<const T: usize>(
    acc16: &[std::arch::x86_64::__m256i],
    dw: *const f32,
    job: &Job,
    t0: usize,
    b: usize,
    facc: &mut [std::arch::x86_64::__m256; T],
) {
    use std::arch::x86_64::*;
    let nb = job.w.blocks();
    // SAFETY: the caller's bounds.
    unsafe {
        let dw = _mm256_loadu_ps(dw);
        for (t, (acc, f)) in acc16.iter().zip(facc.iter_mut()).enumerate() {
            let o = _mm256_set1_epi32(*job.acts.offset.as_ptr().add((t0 + t) * nb + b));
            let i = _mm256_add_epi32(_mm256_madd_epi16(*acc, _mm256_set1_epi16(1)), o);
            let da = _mm256_set1_ps(*job.acts.d.as_ptr().add((t0 + t) * nb + b));
            *f = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(i), da), dw, *f);
        }
    }
}

/// One group of [`block3`]: the group's two weight vectors against each token's word,
/// added to the accumulators.
#[cfg(target_arch = "x86_64")]
macro_rules! group3 {
    ($w:literal, $a:literal) => {
        concat!(
            "vmovdqu {w0}, ymmword ptr [{wp} + ",
            $w,
            "]\n",
            "vmovdqu {w1}, ymmword ptr [{wp} + ",
            $w,
            " + 32]\n",
            "vpbroadcastd {x}, dword ptr [{a0} + ",
            $a,
            "]\n",
            "vpmaddubsw {p}, {w0}, {x}\n",
            "vpaddw {c00}, {c00}, {p}\n",
            "vpmaddubsw {p}, {w1}, {x}\n",
            "vpaddw {c10}, {c10}, {p}\n",
            "vpbroadcastd {x}, dword ptr [{a1} + ",
            $a,
            "]\n",
            "vpmaddubsw {p}, {w0}, {x}\n",
            "vpaddw {c01}, {c01}, {p}\n",
            "vpmaddubsw {p}, {w1}, {x}\n",
            "vpaddw {c11}, {c11}, {p}\n",
            "vpbroadcastd {x}, dword ptr [{a2} + ",
            $a,
            "]\n",
            "vpmaddubsw {p}, {w0}, {x}\n",
            "vpaddw {c02}, {c02}, {p}\n",
            "vpmaddubsw {p}, {w1}, {x}\n",
            "vpaddw {c12}, {c12}, {p}\n",
        )
    };
}

/// The first group of [`block3`]: as [`group3`], but its products start the accumulators
/// (one `vpaddw` fewer per accumulator and block than zeroing them first).
#[cfg(target_arch = "x86_64")]
macro_rules! group3_first {
    () => {
        concat!(
            "vmovdqu {w0}, ymmword ptr [{wp}]\n",
            "vmovdqu {w1}, ymmword ptr [{wp} + 32]\n",
            "vpbroadcastd {x}, dword ptr [{a0}]\n",
            "vpmaddubsw {c00}, {w0}, {x}\n",
            "vpmaddubsw {c10}, {w1}, {x}\n",
            "vpbroadcastd {x}, dword ptr [{a1}]\n",
            "vpmaddubsw {c01}, {w0}, {x}\n",
            "vpmaddubsw {c11}, {w1}, {x}\n",
            "vpbroadcastd {x}, dword ptr [{a2}]\n",
            "vpmaddubsw {c02}, {w0}, {x}\n",
            "vpmaddubsw {c12}, {w1}, {x}\n",
        )
    };
}

/// One group of [`block2x2`]: the group's four weight vectors (two of each panel) against
/// both tokens' words; `first` starts the accumulators, the others add to them.
#[cfg(target_arch = "x86_64")]
macro_rules! group2x2 {
    (first) => {
        concat!(
            "vmovdqu {w0}, ymmword ptr [{wp}]\n",
            "vmovdqu {w1}, ymmword ptr [{wp} + 32]\n",
            "vmovdqu {w2}, ymmword ptr [{wq}]\n",
            "vmovdqu {w3}, ymmword ptr [{wq} + 32]\n",
            "vpbroadcastd {x}, dword ptr [{a0}]\n",
            "vpmaddubsw {c00}, {w0}, {x}\n",
            "vpmaddubsw {c10}, {w1}, {x}\n",
            "vpmaddubsw {c20}, {w2}, {x}\n",
            "vpmaddubsw {c30}, {w3}, {x}\n",
            "vpbroadcastd {x}, dword ptr [{a1}]\n",
            "vpmaddubsw {c01}, {w0}, {x}\n",
            "vpmaddubsw {c11}, {w1}, {x}\n",
            "vpmaddubsw {c21}, {w2}, {x}\n",
            "vpmaddubsw {c31}, {w3}, {x}\n",
        )
    };
    ($w:literal, $a:literal) => {
        concat!(
            "vmovdqu {w0}, ymmword ptr [{wp} + ",
            $w,
            "]\n",
            "vmovdqu {w1}, ymmword ptr [{wp} + ",
            $w,
            " + 32]\n",
            "vmovdqu {w2}, ymmword ptr [{wq} + ",
            $w,
            "]\n",
            "vmovdqu {w3}, ymmword ptr [{wq} + ",
            $w,
            " + 32]\n",
            "vpbroadcastd {x}, dword ptr [{a0} + ",
            $a,
            "]\n",
            "vpmaddubsw {p}, {w0}, {x}\n",
            "vpaddw {c00}, {c00}, {p}\n",
            "vpmaddubsw {p}, {w1}, {x}\n",
            "vpaddw {c10}, {c10}, {p}\n",
            "vpmaddubsw {p}, {w2}, {x}\n",
            "vpaddw {c20}, {c20}, {p}\n",
            "vpmaddubsw {p}, {w3}, {x}\n",
            "vpaddw {c30}, {c30}, {p}\n",
            "vpbroadcastd {x}, dword ptr [{a1} + ",
            $a,
            "]\n",
            "vpmaddubsw {p}, {w0}, {x}\n",
            "vpaddw {c01}, {c01}, {p}\n",
            "vpmaddubsw {p}, {w1}, {x}\n",
            "vpaddw {c11}, {c11}, {p}\n",
            "vpmaddubsw {p}, {w2}, {x}\n",
            "vpaddw {c21}, {c21}, {p}\n",
            "vpmaddubsw {p}, {w3}, {x}\n",
            "vpaddw {c31}, {c31}, {p}\n",
        )
    };
}

/// The 16-bit pair sums of one Q4_0 block of two panels (codes at `wp` and `wq`) against two
/// tokens' activations (`a0`, `a1`, each at the block's first code): `[quarter][token]`,
/// quarters 0–1 from `wp`, 2–3 from `wq`.
///
/// Assembly for the reason [`block3`] is: 8 accumulators, 4 weight vectors, a broadcast
/// word and a product fill 14 of the 16 registers, and compiled from intrinsics the loop
/// spilled.
///
/// # Safety
/// The CPU must support AVX2; `wp` and `wq` must each hold a panel block and each `a` 32
/// codes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block2x2(
    wp: *const u8,
    wq: *const u8,
    a0: *const i8,
    a1: *const i8,
) -> [[std::arch::x86_64::__m256i; 2]; 4] {
    use std::arch::x86_64::*;
    let (c00, c01, c10, c11, c20, c21, c30, c31): (
        __m256i,
        __m256i,
        __m256i,
        __m256i,
        __m256i,
        __m256i,
        __m256i,
        __m256i,
    );
    // SAFETY: the caller's bounds; the block reads 512 bytes at `wp` and at `wq` and 32 at
    // each `a`.
    unsafe {
        std::arch::asm!(
            group2x2!(first),
            group2x2!("64", "4"),
            group2x2!("128", "8"),
            group2x2!("192", "12"),
            group2x2!("256", "16"),
            group2x2!("320", "20"),
            group2x2!("384", "24"),
            group2x2!("448", "28"),
            wp = in(reg) wp,
            wq = in(reg) wq,
            a0 = in(reg) a0,
            a1 = in(reg) a1,
            c00 = out(ymm_reg) c00,
            c01 = out(ymm_reg) c01,
            c10 = out(ymm_reg) c10,
            c11 = out(ymm_reg) c11,
            c20 = out(ymm_reg) c20,
            c21 = out(ymm_reg) c21,
            c30 = out(ymm_reg) c30,
            c31 = out(ymm_reg) c31,
            w0 = out(ymm_reg) _,
            w1 = out(ymm_reg) _,
            w2 = out(ymm_reg) _,
            w3 = out(ymm_reg) _,
            x = out(ymm_reg) _,
            p = out(ymm_reg) _,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    [[c00, c01], [c10, c11], [c20, c21], [c30, c31]]
}

/// The 16-bit pair sums of one Q4_0 block of a panel against three tokens' activations
/// (`a0..a2`, each at the block's first code): `[half][token]`.
///
/// Written out in assembly because the compiler, given the same loop in intrinsics, spilled
/// the broadcast activation words of one half to the stack for the other and reloaded them
/// (24 stores and 24 reloads a block); without them a late-chunking build on an AVX2-only
/// EPYC takes 8 % less CPU.
///
/// # Safety
/// The CPU must support AVX2; `w` must hold a panel block and each `a` 32 codes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block3(
    w: *const u8,
    a0: *const i8,
    a1: *const i8,
    a2: *const i8,
) -> [[std::arch::x86_64::__m256i; 3]; 2] {
    use std::arch::x86_64::*;
    let (c00, c01, c02, c10, c11, c12): (__m256i, __m256i, __m256i, __m256i, __m256i, __m256i);
    // SAFETY: the caller's bounds; the block reads 512 bytes at `w` and 32 at each `a`.
    unsafe {
        std::arch::asm!(
            group3_first!(),
            group3!("64", "4"),
            group3!("128", "8"),
            group3!("192", "12"),
            group3!("256", "16"),
            group3!("320", "20"),
            group3!("384", "24"),
            group3!("448", "28"),
            wp = in(reg) w,
            a0 = in(reg) a0,
            a1 = in(reg) a1,
            a2 = in(reg) a2,
            c00 = out(ymm_reg) c00,
            c01 = out(ymm_reg) c01,
            c02 = out(ymm_reg) c02,
            c10 = out(ymm_reg) c10,
            c11 = out(ymm_reg) c11,
            c12 = out(ymm_reg) c12,
            w0 = out(ymm_reg) _,
            w1 = out(ymm_reg) _,
            x = out(ymm_reg) _,
            p = out(ymm_reg) _,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    [[c00, c01, c02], [c10, c11, c12]]
}

/// Stores a tile's finished sums: for each token, rows 0–7 and 8–15 of panel `p`, adding
/// the bias. A full panel inside one output part is stored straight from the registers, its
/// place found once for all the tokens (for a split product that takes a division).
///
/// # Safety
/// The CPU must support AVX; the job must own the cells of tokens `t0..t0 + T` in panel `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn store_halves<const T: usize>(
    job: &Job,
    p: usize,
    t0: usize,
    facc: &[[std::arch::x86_64::__m256; T]; 2],
) {
    use super::PANEL;
    use std::arch::x86_64::*;
    match job.contiguous(p, t0) {
        Some(dst) => {
            let (blo, bhi) = match job.bias {
                // SAFETY: the bias holds `rows` values and a contiguous panel is a full one,
                // so `p * 16 + 16 <= rows`.
                Some(b) => unsafe {
                    let b = b.as_ptr().add(p * PANEL);
                    (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8)))
                },
                None => (_mm256_setzero_ps(), _mm256_setzero_ps()),
            };
            let stride = job.token_stride();
            for (t, (&lo, &hi)) in facc[0].iter().zip(&facc[1]).enumerate() {
                // SAFETY: the job owns these 16 output cells of token t0 + t, `t * stride`
                // past token t0's in the same output part.
                unsafe {
                    let dst = dst.add(t * stride);
                    _mm256_storeu_ps(dst, _mm256_add_ps(lo, blo));
                    _mm256_storeu_ps(dst.add(8), _mm256_add_ps(hi, bhi));
                }
            }
        }
        None => {
            for (t, (&lo, &hi)) in facc[0].iter().zip(&facc[1]).enumerate() {
                let mut sums = [0f32; PANEL];
                // SAFETY: `sums` holds 16 floats.
                unsafe {
                    _mm256_storeu_ps(sums.as_mut_ptr(), lo);
                    _mm256_storeu_ps(sums.as_mut_ptr().add(8), hi);
                }
                job.store_cold(p, t0 + t, &sums);
            }
        }
    }
}

/// Prefetches into L1 the codes (at `base`) and scales (at `scales`) of the same block in
/// the panel [`PREFETCH_PANELS`] ahead. The scales are a separate stream, 64 bytes a block
/// that need not start a cache line, so both lines they may touch are fetched.
///
/// # Safety
/// The CPU must support SSE; the addresses may lie past the weights (a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn prefetch_ahead(base: *const u8, scales: *const f32, blocks: usize) {
    use super::PANEL;
    use super::layout::PANEL_BLOCK_BYTES;
    use std::arch::x86_64::*;
    let ahead = base.wrapping_add(PREFETCH_PANELS * blocks * PANEL_BLOCK_BYTES);
    for line in 0..PANEL_BLOCK_BYTES / 64 {
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line * 64) as *const i8);
    }
    let ahead = scales.wrapping_add(PREFETCH_PANELS * blocks * PANEL);
    _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(PANEL - 1) as *const i8);
}

/// Never called: [`super::Backend::Avx2`] is unavailable off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn run(_job: &Job) {
    unreachable!("AVX2 backend selected on a non-x86-64 CPU")
}
