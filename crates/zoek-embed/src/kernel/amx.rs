//! AMX backend: one `tdpbsud` multiplies 16 tokens by 16 rows over a 32-column block.
//!
//! A packed (panel, block) of the weights (8 groups of 16 rows × 4 codes, see `layout`) is
//! already the layout AMX wants for the unsigned operand, and a block of 16 tokens'
//! activation codes is read in place as the signed one (16 rows of 32 bytes, the row length
//! as stride). The int32 tile goes through a 1 KB buffer into AVX-512 registers, where the
//! zero-point offset and the two scales are applied in the AVX-512 backend's order, so the
//! results are bit-identical to it. The products of up to [`GROUP`] blocks are issued
//! first, rotating over four sum tiles, then their float work runs. Token runs shorter than
//! 16 (a question) run on the AVX-512 backend.
//!
//! | tile | holds | rows × bytes |
//! |---|---|---|
//! | `tmm0`, `tmm1` | activation codes of 16 tokens, one block | 16 × 32 |
//! | `tmm2`, `tmm3` | weight codes of one panel, one block | 8 × 64 |
//! | `tmm4` – `tmm7` | int32 sums, 16 tokens × 16 rows | 16 × 64 |
//!
//! Why it is not the default ([`super::Backend::detect`] picks it only when asked): on the
//! AMX CPU measured (a 2-core Xeon under KVM) a block's tile loads, product and store take
//! ~12 ns and its float work ~15 ns, and the two do not overlap (27 ns together, measured
//! in isolation on L1-resident data), against ~36 ns for the same 16 × 16 × 32 on AVX-512
//! (128 `vpdpbusd` at the measured 0.2 ns each, and its float work). Q4_0's scale per 32 columns forces that store and float
//! pass every block. Products came out 10–15 % faster at 1536 columns or rows, 7 % slower
//! at 384 × 384, and passage embedding level with AVX-512.
//!
//! Linux hands out the tile state only on request (`arch_prctl(ARCH_REQ_XCOMP_PERM)`),
//! made once by [`supported`].

use super::Job;

/// Tokens (tile rows) per AMX product.
#[cfg(target_arch = "x86_64")]
const TILE_T: usize = 16;

/// Whether the CPU has AMX-INT8 and the operating system lets this process use it; asks
/// for the permission on first use.
pub(super) fn supported() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let ok = cpu_has_amx_int8() && request_tile_data();
        tracing::debug!(ok, "AMX tile data");
        ok
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_amx_int8() -> bool {
    // CPUID.(EAX=7, ECX=0):EDX bit 24 is AMX-TILE, bit 25 AMX-INT8. (std's feature
    // detection for AMX is not stable yet.)
    // (`Backend::Amx` asks only after finding AVX-512, so leaf 7 exists.)
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    edx & (3 << 24) == 3 << 24
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_amx_int8() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with this request only changes the process's permitted xsave
    // features; it reads and writes no memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

// Other systems' rules for the tile state are not known here; they use AVX-512.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request_tile_data() -> bool {
    false
}

/// The tile configuration of the table in the module docs (palette 1).
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

#[cfg(target_arch = "x86_64")]
impl TileConfig {
    fn new() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for (tile, rows, bytes) in [
            (0, 16, 32u16),
            (1, 16, 32),
            (2, 8, 64),
            (3, 8, 64),
            (4, 16, 64),
            (5, 16, 64),
            (6, 16, 64),
            (7, 16, 64),
        ] {
            c[16 + 2 * tile..18 + 2 * tile].copy_from_slice(&bytes.to_le_bytes());
            c[48 + tile] = rows;
        }
        Self(c)
    }
}

/// Blocks whose tile products are issued before their float work (16 KB of sums).
#[cfg(target_arch = "x86_64")]
const GROUP: usize = 16;

/// One tile of int32 sums, row `t` holding token `t`'s 16 outputs.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Sums([i32; TILE_T * super::PANEL]);

/// Runs the job.
///
/// # Safety
/// [`supported`] must have returned true, the CPU must support AVX-512F, AVX-512BW and
/// AVX-512 VNNI, and the job's output cells must be valid for writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn run(job: &Job) {
    let full = job.tokens.len() / TILE_T * TILE_T;
    if full > 0 {
        let cfg = TileConfig::new();
        // SAFETY: the process may use the tile state (`supported`); the configuration is a
        // valid palette-1 layout, released below before the thread leaves this function.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack)) };
        for p in job.panels.clone() {
            for t0 in (job.tokens.start..job.tokens.start + full).step_by(TILE_T) {
                // SAFETY: forwarded from the caller; panel p and tokens t0..t0 + 16 are the
                // job's.
                unsafe { tile(job, p, t0) };
            }
        }
        // SAFETY: ends the tile use started above.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }
    if full < job.tokens.len() {
        let rest = Job {
            w: job.w,
            acts: job.acts,
            bias: job.bias,
            post: job.post,
            out: job.out,
            panels: job.panels.clone(),
            tokens: job.tokens.start + full..job.tokens.end,
        };
        // SAFETY: forwarded from the caller; `rest` is a part of the job.
        unsafe { super::avx512::run(&rest) };
    }
}

/// Loads one block's activation and weight tiles, multiplies them into a zeroed sums
/// tile and stores that to `$out`.
#[cfg(target_arch = "x86_64")]
macro_rules! product {
    ($a:literal, $w:literal, $c:literal, $acts:expr, $stride:expr, $codes:expr, $out:expr) => {
        std::arch::asm!(
            concat!("tileloadd ", $a, ", [{a} + {sa}*1]"),
            concat!("tileloadd ", $w, ", [{w} + {sw}*1]"),
            concat!("tilezero ", $c),
            concat!("tdpbsud ", $c, ", ", $a, ", ", $w),
            concat!("tilestored [{c} + {sc}*1], ", $c),
            a = in(reg) $acts,
            sa = in(reg) $stride,
            w = in(reg) $codes,
            sw = in(reg) 64usize,
            c = in(reg) $out,
            sc = in(reg) 64usize,
            options(nostack),
        )
    };
}

/// Panel `p` for tokens `t0..t0 + 16`.
///
/// # Safety
/// As [`run`], with the tile configuration loaded; the panel and tokens are the job's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile(job: &Job, p: usize, t0: usize) {
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
    // Every buffer is written by a tile store before it is read.
    let mut sums = std::mem::MaybeUninit::<[Sums; GROUP]>::uninit();
    let sums = sums.as_mut_ptr() as *mut Sums;
    let mut facc = [_mm512_setzero_ps(); TILE_T];
    // SAFETY: tokens t0..t0 + 16 and panel p are inside the quantised activations and the
    // packed weights (the job's bounds), so each tile load reads 16 rows of 32 activation
    // bytes at stride `cols` and 512 weight bytes, all in bounds; the stores write `sums`.
    unsafe {
        for g0 in (0..nb).step_by(GROUP) {
            let g1 = (g0 + GROUP).min(nb);
            for b in g0..g1 {
                let a = q.add(t0 * cols + b * 32);
                let w = codes.add((p * nb + b) * PANEL_BLOCK_BYTES);
                let c = sums.add(b - g0) as *mut i32;
                match b % 4 {
                    0 => product!("tmm0", "tmm2", "tmm4", a, cols, w, c),
                    1 => product!("tmm1", "tmm3", "tmm5", a, cols, w, c),
                    2 => product!("tmm0", "tmm2", "tmm6", a, cols, w, c),
                    _ => product!("tmm1", "tmm3", "tmm7", a, cols, w, c),
                }
            }
            for b in g0..g1 {
                let s = sums.add(b - g0) as *const i32;
                let dw = _mm512_loadu_ps(scales.add((p * nb + b) * PANEL));
                for (t, acc) in facc.iter_mut().enumerate() {
                    let i = _mm512_add_epi32(
                        _mm512_load_si512(s.add(t * PANEL) as *const _),
                        _mm512_set1_epi32(*offset.add((t0 + t) * nb + b)),
                    );
                    let da = _mm512_set1_ps(*d.add((t0 + t) * nb + b));
                    *acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i), da), dw, *acc);
                }
            }
        }
    }
    // SAFETY: the job owns panel p of tokens t0..t0 + T.
    unsafe { super::avx512::store(job, p, t0, &facc) };
}

/// Never called: [`super::Backend::Amx`] is unavailable off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn run(_job: &Job) {
    unreachable!("AMX backend selected on a non-x86-64 CPU")
}
