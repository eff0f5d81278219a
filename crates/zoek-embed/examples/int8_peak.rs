//! The machine's int8 multiply-add peak next to what the Q4_0 × Q8_0 GEMM reaches, same run.
//!
//! ```text
//! cargo run --release -p zoek-embed --example int8_peak [-- --threads 2 --tokens 512]
//! ```
//!
//! The peak is a loop of independent integer dot-product instructions on registers (no
//! memory), one per backend this CPU runs: `vpdpbusd` on 512 bits (AVX-512 VNNI) and on 256
//! (AVX-VNNI), and `vpmaddubsw` + `vpmaddwd` + `vpaddd` on 256 (AVX2, the sequence a
//! u8 × s8 dot product of 4 needs there). AVX2 gets a second row, `vpmaddubsw` + `vpaddw`
//! into 16-bit sums: the Q4_0 tile widens once per 8 such pairs, so its inner loop can run
//! above the first row's rate, and this one is its ceiling. It runs on every thread of a
//! rayon pool at once, so it is the peak of the cores the GEMM gets. One multiply-add counts as 2 operations,
//! as in the kernel bench's GFLOP/s. The GEMM is [`QMatrix::matmul_with`] on the model's
//! three shapes with `--tokens` rows of activations, best of 20 runs each.

use std::hint::black_box;
use std::time::Instant;

use zoek_embed::internals::{BLOCK, Backend, QMatrix};

const ITERS: u64 = 20_000_000;

fn main() {
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut tokens = 512;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), value) {
            ("--threads", Some(v)) => threads = v,
            ("--tokens", Some(v)) => tokens = v,
            _ => {
                eprintln!("usage: int8_peak [--threads N] [--tokens N]");
                std::process::exit(2);
            }
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    println!("cpu: {}", cpu_name());
    println!("threads: {threads}, GEMM tokens: {tokens}");
    println!("| backend | peak Gop/s | 384×384 | 1536×384 | 384×1536 |");
    println!("|---|---:|---:|---:|---:|");
    for backend in [Backend::Avx512Vnni, Backend::AvxVnni, Backend::Avx2] {
        if !backend.is_available() {
            continue;
        }
        let peak = pool.install(|| peak_gops(backend, threads, false));
        let gemm: Vec<f64> = [(384, 384), (1536, 384), (384, 1536)]
            .into_iter()
            .map(|(rows, cols)| pool.install(|| gemm_gops(backend, rows, cols, tokens)))
            .collect();
        let row = |name: &str, peak: f64| {
            let mut row = format!("| {name} | {peak:.0} |");
            for g in &gemm {
                row += &format!(" {g:.0} ({:.0}%) |", 100.0 * g / peak);
            }
            println!("{row}");
        };
        row(backend.name(), peak);
        if backend == Backend::Avx2 {
            // The Q4_0 tile sums 8 groups in 16 bits before one widening `vpmaddwd`, so
            // its inner loop is `vpmaddubsw` + `vpaddw`: that pair's rate is the ceiling.
            row(
                "avx2, 16-bit sums",
                pool.install(|| peak_gops(backend, threads, true)),
            );
        }
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Operations per second of `threads` copies of the backend's register loop, best of 3;
/// `narrow` takes AVX2's 16-bit-sum loop.
fn peak_gops(backend: Backend, threads: usize, narrow: bool) -> f64 {
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let macs: u64 = rayon::broadcast(|_| run_loop(backend, ITERS, narrow))
            .iter()
            .sum();
        let s = start.elapsed().as_secs_f64();
        best = best.max(2.0 * macs as f64 / s / 1e9);
    }
    let _ = threads;
    best
}

/// Multiply-adds done by `iters` rounds of the backend's loop on this thread (`narrow`: AVX2's
/// 16-bit-sum loop).
fn run_loop(backend: Backend, iters: u64, narrow: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only backends this CPU runs reach here (`is_available` above).
    unsafe {
        match backend {
            Backend::Avx512Vnni => return x86::vnni512(iters),
            Backend::AvxVnni => return x86::vnni256(iters),
            Backend::Avx2 if narrow => return x86::avx2_16(iters),
            Backend::Avx2 => return x86::avx2(iters),
            Backend::Scalar | Backend::Amx => {}
        }
    }
    let _ = (backend, iters, narrow);
    0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// 12 independent accumulators: more than latency × throughput on current cores.
    macro_rules! chains {
        ($acc:ident, $zero:expr, $op:expr, $iters:expr) => {{
            let mut $acc = [$zero; 12];
            for _ in 0..$iters {
                for a in $acc.iter_mut() {
                    *a = $op(*a);
                }
            }
            black_box($acc);
        }};
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn vnni512(iters: u64) -> u64 {
        let w = black_box(_mm512_set1_epi8(3));
        let x = black_box(_mm512_set1_epi8(5));
        chains!(
            acc,
            _mm512_setzero_si512(),
            |a| _mm512_dpbusd_epi32(a, w, x),
            iters
        );
        iters * 12 * 64
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn vnni256(iters: u64) -> u64 {
        let w = black_box(_mm256_set1_epi8(3));
        let x = black_box(_mm256_set1_epi8(5));
        chains!(
            acc,
            _mm256_setzero_si256(),
            |a| _mm256_dpbusd_avx_epi32(a, w, x),
            iters
        );
        iters * 12 * 32
    }

    /// In assembly: written with intrinsics, the compiler hoists the loop-invariant
    /// `vpmaddubsw`/`vpmaddwd` out of the loop and measures additions alone.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2(iters: u64) -> u64 {
        let w = black_box(_mm256_set1_epi8(3));
        let x = black_box(_mm256_set1_epi8(5));
        let ones = _mm256_set1_epi16(1);
        let mut a = [_mm256_setzero_si256(); 8];
        // SAFETY: register-only arithmetic on AVX2, which the caller checked.
        unsafe {
            std::arch::asm!(
                "2:",
                "vpmaddubsw {t0}, {w}, {x}", "vpmaddwd {t0}, {t0}, {o}", "vpaddd {a0}, {a0}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpmaddwd {t1}, {t1}, {o}", "vpaddd {a1}, {a1}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpmaddwd {t0}, {t0}, {o}", "vpaddd {a2}, {a2}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpmaddwd {t1}, {t1}, {o}", "vpaddd {a3}, {a3}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpmaddwd {t0}, {t0}, {o}", "vpaddd {a4}, {a4}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpmaddwd {t1}, {t1}, {o}", "vpaddd {a5}, {a5}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpmaddwd {t0}, {t0}, {o}", "vpaddd {a6}, {a6}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpmaddwd {t1}, {t1}, {o}", "vpaddd {a7}, {a7}, {t1}",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters => _,
                w = in(ymm_reg) w,
                x = in(ymm_reg) x,
                o = in(ymm_reg) ones,
                t0 = out(ymm_reg) _,
                t1 = out(ymm_reg) _,
                a0 = inout(ymm_reg) a[0],
                a1 = inout(ymm_reg) a[1],
                a2 = inout(ymm_reg) a[2],
                a3 = inout(ymm_reg) a[3],
                a4 = inout(ymm_reg) a[4],
                a5 = inout(ymm_reg) a[5],
                a6 = inout(ymm_reg) a[6],
                a7 = inout(ymm_reg) a[7],
                options(nomem, nostack),
            );
        }
        black_box(a);
        iters * 8 * 32
    }

    /// `vpmaddubsw` + `vpaddw` into 16-bit sums, the inner pair of zoek's Q4_0 tile (which
    /// widens once per 8 of them); in assembly for the reason [`avx2`] is.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2_16(iters: u64) -> u64 {
        let w = black_box(_mm256_set1_epi8(3));
        let x = black_box(_mm256_set1_epi8(5));
        let mut a = [_mm256_setzero_si256(); 8];
        // SAFETY: register-only arithmetic on AVX2, which the caller checked.
        unsafe {
            std::arch::asm!(
                "2:",
                "vpmaddubsw {t0}, {w}, {x}", "vpaddw {a0}, {a0}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpaddw {a1}, {a1}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpaddw {a2}, {a2}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpaddw {a3}, {a3}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpaddw {a4}, {a4}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpaddw {a5}, {a5}, {t1}",
                "vpmaddubsw {t0}, {w}, {x}", "vpaddw {a6}, {a6}, {t0}",
                "vpmaddubsw {t1}, {w}, {x}", "vpaddw {a7}, {a7}, {t1}",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters => _,
                w = in(ymm_reg) w,
                x = in(ymm_reg) x,
                t0 = out(ymm_reg) _,
                t1 = out(ymm_reg) _,
                a0 = inout(ymm_reg) a[0],
                a1 = inout(ymm_reg) a[1],
                a2 = inout(ymm_reg) a[2],
                a3 = inout(ymm_reg) a[3],
                a4 = inout(ymm_reg) a[4],
                a5 = inout(ymm_reg) a[5],
                a6 = inout(ymm_reg) a[6],
                a7 = inout(ymm_reg) a[7],
                options(nomem, nostack),
            );
        }
        black_box(a);
        iters * 8 * 32
    }
}

/// Best-of-20 operations per second of one `rows × cols` product over `tokens` rows.
fn gemm_gops(backend: Backend, rows: usize, cols: usize, tokens: usize) -> f64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let blocks = rows * cols / BLOCK;
    let mut bytes = Vec::with_capacity(blocks * 18);
    for _ in 0..blocks {
        bytes.extend_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        bytes.extend((0..16).map(|_| next() as u8));
    }
    let m = QMatrix::from_q4_0_bytes(&bytes, rows, cols).expect("matrix");
    let x: Vec<f32> = (0..tokens * cols)
        .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let mut y = vec![0f32; tokens * rows];
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let start = Instant::now();
        m.matmul_with(backend, black_box(&x), tokens, None, &mut y)
            .expect("matmul");
        best = best.min(start.elapsed().as_secs_f64());
    }
    black_box(&y);
    2.0 * (rows * cols * tokens) as f64 / best / 1e9
}
