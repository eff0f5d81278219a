//! Scaled dot-product attention of a packed batch, register-blocked over query rows.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | the entry point, the choice of path, the row-group driver |
//! | `avx512.rs` | score and value tiles and the softmax on 16-lane registers (AVX-512F) |
//! | `avx2.rs` | the same on 8-lane registers (AVX2 + FMA) |
//!
//! The portable path is [`crate::ops::attention_rows_portable`] (also used for head sizes the
//! SIMD tiles do not divide).
//!
//! Why tiles: with e5-small's head size of 32, attention is a few percent of a pass's
//! multiply-adds but was over half of a build's time (perf, 431 law passages, late
//! chunking), because one query row at a time re-loads every key and value for one
//! multiply-add each and waits on two accumulator chains. Here up to `MR` consecutive rows
//! of one sequence share each key and value load, with `MR × 2` independent FMA chains.

/// Implements [`Tiles`] for a path's marker type from the const-generic `scores::<M>` and
/// `values::<M>` of the module it is invoked in, dispatching a tile's row count: `rows`
/// lists every count below the largest, which is `MR` (and takes any larger `m`).
macro_rules! tiles_by_rows {
    ($ty:ty, nr = $nr:expr, rows = [$($m:literal),*; $mr:literal]) => {
        impl Tiles for $ty {
            const MR: usize = $mr;
            const NR: usize = $nr;

            #[inline(always)]
            unsafe fn scores(
                m: usize,
                q: *const f32,
                h: usize,
                kt: *const f32,
                stride: usize,
                hd: usize,
                padded: usize,
                scale: f32,
                s: *mut f32,
            ) {
                // SAFETY: forwarded from the caller; `m <= MR`.
                unsafe {
                    match m {
                        $($m => scores::<$m>(q, h, kt, stride, hd, padded, scale, s),)*
                        _ => scores::<$mr>(q, h, kt, stride, hd, padded, scale, s),
                    }
                }
            }

            #[inline(always)]
            unsafe fn softmax(p: *mut f32, len: usize) {
                // SAFETY: forwarded from the caller.
                unsafe { softmax(p, len) }
            }

            #[inline(always)]
            unsafe fn values(
                m: usize,
                p: *const f32,
                padded: usize,
                len: usize,
                v: *const f32,
                h: usize,
                hd: usize,
                out: *mut f32,
            ) {
                // SAFETY: forwarded from the caller; `m <= MR`.
                unsafe {
                    match m {
                        $($m => values::<$m>(p, padded, len, v, h, hd, out),)*
                        _ => values::<$mr>(p, padded, len, v, h, hd, out),
                    }
                }
            }
        }
    };
}

mod avx2;
mod avx512;

use crate::ops::{AttnShape, attention_rows_portable, kt_stride};

/// Which implementation [`attention_rows_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttnPath {
    /// 16-lane tiles.
    Avx512,
    /// 8-lane tiles.
    Avx2,
    /// One row at a time, compiled for the best of AVX-512 / AVX2 / baseline.
    Portable,
}

impl AttnPath {
    /// Every path, fastest first.
    pub const ALL: [AttnPath; 3] = [Self::Avx512, Self::Avx2, Self::Portable];

    /// The name the `ZOEK_ATTENTION` environment variable takes: `avx512`, `avx2`,
    /// `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }

    /// The path passes take for head size `hd`: the one named by `ZOEK_ATTENTION` where
    /// this CPU and head size take it (to compare paths, or to run an AVX2-only CPU's code
    /// on a newer one, with `ZOEK_KERNEL` for the products), else [`AttnPath::detect`]'s.
    /// The variable is read once; an unknown name or a path this CPU lacks is logged.
    pub fn chosen(hd: usize) -> Self {
        static NAMED: std::sync::OnceLock<Option<AttnPath>> = std::sync::OnceLock::new();
        let named = *NAMED.get_or_init(|| {
            let name = std::env::var("ZOEK_ATTENTION")
                .ok()
                .filter(|n| !n.is_empty())?;
            let path = Self::ALL.into_iter().find(|p| p.name() == name);
            match path {
                // 16 divides every head size the SIMD paths take: this asks for the CPU.
                Some(p) if !p.is_available(16) => {
                    tracing::warn!(?p, "ZOEK_ATTENTION names a path this CPU lacks");
                }
                Some(p) => tracing::debug!(?p, "attention path named by ZOEK_ATTENTION"),
                None => tracing::warn!(name, "ZOEK_ATTENTION names no attention path"),
            }
            path
        });
        match named {
            Some(p) if p.is_available(hd) => p,
            _ => Self::detect(hd),
        }
    }

    /// The fastest path this CPU runs for head size `hd`.
    pub fn detect(hd: usize) -> Self {
        [Self::Avx512, Self::Avx2]
            .into_iter()
            .find(|p| p.is_available(hd))
            .unwrap_or(Self::Portable)
    }

    /// Whether this CPU and head size `hd` can take the path.
    pub fn is_available(self, hd: usize) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => {
                hd.is_multiple_of(16)
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => {
                hd.is_multiple_of(8)
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512 | Self::Avx2 => false,
            Self::Portable => true,
        }
    }
}

/// Attention for the token rows `first..first + out.len() / hidden`: each attends over its
/// own sequence `bounds[i] = (start, end)` (sorted, covering `0..tokens`). `kt` is the
/// transposed keys ([`crate::ops::transpose`]), `probs` scratch reused between calls.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_rows(
    out: &mut [f32],
    first: usize,
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    bounds: &[(usize, usize)],
    shape: AttnShape,
    probs: &mut Vec<f32>,
) {
    let path = AttnPath::chosen(shape.hidden / shape.heads);
    attention_rows_with(path, out, first, q, kt, v, bounds, shape, probs);
}

/// Attention of the rows `first..first + out.len() / hidden` (see the crate's
/// `attention_rows`) on a chosen path; a path this CPU or head size cannot take runs the
/// portable one.
#[allow(clippy::too_many_arguments)]
pub fn attention_rows_with(
    path: AttnPath,
    out: &mut [f32],
    first: usize,
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    bounds: &[(usize, usize)],
    shape: AttnShape,
    probs: &mut Vec<f32>,
) {
    let AttnShape {
        tokens,
        hidden: h,
        heads,
    } = shape;
    let rows = out.len() / h;
    // The tiles read through raw pointers; these bounds make every read in range.
    assert!(
        heads > 0
            && h.is_multiple_of(heads)
            && out.len().is_multiple_of(h)
            && first + rows <= tokens
            && q.len() >= tokens * h
            && v.len() >= tokens * h
            && kt.len() >= kt_stride(tokens) * h
            && bounds.last().is_some_and(|&(_, e)| e == tokens),
        "attention shapes disagree"
    );
    let hd = h / heads;
    let path = if path.is_available(hd) {
        path
    } else {
        AttnPath::Portable
    };
    match path {
        // SAFETY: the CPU has the path's features and the head size fits its tiles
        // (`is_available`); the slices hold the shapes asserted above.
        AttnPath::Avx512 => unsafe { avx512::rows(out, first, q, kt, v, bounds, shape, probs) },
        // SAFETY: as above.
        AttnPath::Avx2 => unsafe { avx2::rows(out, first, q, kt, v, bounds, shape, probs) },
        AttnPath::Portable => attention_rows_portable(out, first, q, kt, v, bounds, shape, probs),
    }
}

/// One instruction set's tiles.
///
/// # Safety (for implementors and callers)
/// Pointers come from [`drive`], which keeps every read inside the asserted shapes.
pub(crate) trait Tiles {
    /// Query rows per tile (8 on AVX-512, 6 on AVX2, whose 16 registers hold no more).
    const MR: usize;
    /// Keys a sequence's scores are padded to a multiple of (a score tile's narrowest
    /// run); at most `2 * LANES + 1` so that the padded read past a sequence stays inside
    /// `kt`'s row.
    const NR: usize;

    /// `s[r * padded + j] = scale · Σ_e q[r * h + e] · kt[e * stride + j]` for `r < m`,
    /// `j < padded` (a multiple of `NR`), `e < hd`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn scores(
        m: usize,
        q: *const f32,
        h: usize,
        kt: *const f32,
        stride: usize,
        hd: usize,
        padded: usize,
        scale: f32,
        s: *mut f32,
    );

    /// `p[j] = exp(p[j] - max) / Σ exp(p[k] - max)` over `j, k < len`, in place; entries from
    /// `len` up to the next multiple of `NR` may be read and overwritten.
    unsafe fn softmax(p: *mut f32, len: usize);

    /// `out[r * h + c] = Σ_{j < len} p[r * padded + j] · v[j * h + c]` for `r < m`, `c < hd`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn values(
        m: usize,
        p: *const f32,
        padded: usize,
        len: usize,
        v: *const f32,
        h: usize,
        hd: usize,
        out: *mut f32,
    );
}

/// Takes the rows a sequence at a time and, per head, in groups of at most `T::MR`
/// consecutive rows: scores, softmax, values. Inlined into each instruction set's entry, whose
/// target features the tiles need.
///
/// # Safety
/// The CPU must run `T`'s instructions, and the slices must hold the shapes
/// [`attention_rows_with`] asserts.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn drive<T: Tiles>(
    out: &mut [f32],
    first: usize,
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    bounds: &[(usize, usize)],
    shape: AttnShape,
    probs: &mut Vec<f32>,
) {
    let AttnShape {
        tokens,
        hidden: h,
        heads,
    } = shape;
    let hd = h / heads;
    let stride = kt_stride(tokens);
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = out.len() / h;
    // A sequence at a time, and within it a head at a time, so that the head's keys and
    // values (hd × len floats each: 16 KB for a 64-token passage) stay in L1 across the
    // sequence's row groups; taking every head of one row group in turn streamed all of a
    // sequence's keys through the cache again for each group.
    let mut i = 0;
    while i < rows {
        let t = first + i;
        let (s0, s1) = bounds[bounds.partition_point(|&(_, e)| e <= t)];
        let run = (s1 - t).min(rows - i);
        let len = s1 - s0;
        let padded = len.next_multiple_of(T::NR);
        // Grown, never cleared: the score tile writes every entry the softmax and the values
        // read.
        if probs.len() < T::MR * padded {
            probs.resize(T::MR * padded, 0.0);
        }
        for hh in 0..heads {
            let c0 = hh * hd;
            let mut g = 0;
            while g < run {
                let m = T::MR.min(run - g);
                let (row, t) = (i + g, t + g);
                // SAFETY: rows t..t + m and columns c0..c0 + hd are inside `q`; keys
                // s0..s0 + padded of rows c0..c0 + hd are inside `kt` (its stride leaves
                // 2 * LANES >= NR - 1 columns past the last token); `probs` holds m * padded.
                unsafe {
                    T::scores(
                        m,
                        q.as_ptr().add(t * h + c0),
                        h,
                        kt.as_ptr().add(c0 * stride + s0),
                        stride,
                        hd,
                        padded,
                        scale,
                        probs.as_mut_ptr(),
                    );
                }
                // The reference engine's order (scaled scores, exp, probabilities times
                // 1 / Σ, then the values), so that the rounding of what follows matches it
                // closely.
                for r in 0..m {
                    // SAFETY: row r of `probs` holds `padded` entries.
                    unsafe { T::softmax(probs.as_mut_ptr().add(r * padded), len) };
                }
                // SAFETY: value rows s0..s1 and columns c0..c0 + hd are inside `v`; output
                // rows row..row + m and those columns are inside `out`.
                unsafe {
                    T::values(
                        m,
                        probs.as_ptr(),
                        padded,
                        len,
                        v.as_ptr().add(s0 * h + c0),
                        h,
                        hd,
                        out.as_mut_ptr().add(row * h + c0),
                    );
                }
                g += m;
            }
        }
        i += run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::transpose;

    fn check(path: AttnPath, tokens: usize, h: usize, heads: usize, bounds: &[(usize, usize)]) {
        let hd = h / heads;
        let f = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 40.0;
        let q: Vec<f32> = (0..tokens * h).map(f).collect();
        let k: Vec<f32> = (0..tokens * h).map(|i| f(i + 11)).collect();
        let v: Vec<f32> = (0..tokens * h).map(|i| f(i + 23)).collect();
        let mut kt = vec![0f32; kt_stride(tokens) * h];
        transpose(&k, tokens, h, &mut kt);
        let shape = AttnShape {
            tokens,
            hidden: h,
            heads,
        };
        // Split points that cut row groups and sequences, as the parallel path does.
        for split in [0, 1, tokens / 2, tokens.saturating_sub(3)] {
            let mut out = vec![f32::NAN; tokens * h];
            let (a, b) = out.split_at_mut(split * h);
            let mut probs = Vec::new();
            attention_rows_with(path, a, 0, &q, &kt, &v, bounds, shape, &mut probs);
            attention_rows_with(path, b, split, &q, &kt, &v, bounds, shape, &mut probs);
            for t in 0..tokens {
                let &(s0, s1) = bounds.iter().find(|&&(a, b)| a <= t && t < b).unwrap();
                for hh in 0..heads {
                    let scores: Vec<f64> = (s0..s1)
                        .map(|s| {
                            (0..hd)
                                .map(|e| (q[t * h + hh * hd + e] * k[s * h + hh * hd + e]) as f64)
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let mx = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = scores.iter().map(|s| (s - mx).exp()).sum();
                    for e in 0..hd {
                        let want: f64 = (s0..s1)
                            .zip(&scores)
                            .map(|(s, sc)| (sc - mx).exp() / z * v[s * h + hh * hd + e] as f64)
                            .sum();
                        let got = out[t * h + hh * hd + e] as f64;
                        assert!(
                            (got - want).abs() < 1e-5,
                            "{path:?} split {split} t{t} h{hh} e{e}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_matches_naive_attention() {
        for path in [AttnPath::Avx512, AttnPath::Avx2, AttnPath::Portable] {
            // Head sizes of one and two tiles and not a multiple of the lanes (the
            // portable fallback); sequences of 1, of fewer and more rows than a tile and
            // keys than a score tile.
            check(path, 7, 8, 2, &[(0, 3), (3, 7)]);
            check(path, 37, 64, 2, &[(0, 20), (20, 37)]);
            check(path, 75, 96, 2, &[(0, 1), (1, 40), (40, 75)]);
            check(path, 70, 384, 12, &[(0, 5), (5, 6), (6, 70)]);
            check(path, 40, 48, 1, &[(0, 40)]);
        }
    }

    /// Each path's softmax against f64 over every tail length and score ranges from
    /// attention's usual few units to far past `exp`'s clamp.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_softmax_matches_f64() {
        type Softmax = unsafe fn(*mut f32, usize);
        let paths: [(AttnPath, Softmax); 2] = [
            (AttnPath::Avx512, <avx512::Avx512 as Tiles>::softmax),
            (AttnPath::Avx2, <avx2::Avx2 as Tiles>::softmax),
        ];
        for (path, softmax) in paths {
            if !path.is_available(16) {
                continue;
            }
            for len in 1usize..=48 {
                for spread in [0.5f32, 8.0, 300.0] {
                    let padded = len.next_multiple_of(16);
                    let x: Vec<f32> = (0..padded)
                        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0 * spread)
                        .collect();
                    let mut p = x.clone();
                    // SAFETY: the path runs on this CPU; `p` holds the row rounded up to 16.
                    unsafe { softmax(p.as_mut_ptr(), len) };
                    let mx = x[..len].iter().fold(f64::MIN, |m, &v| m.max(v as f64));
                    let z: f64 = x[..len].iter().map(|&v| (v as f64 - mx).exp()).sum();
                    for j in 0..len {
                        let want = (x[j] as f64 - mx).exp() / z;
                        let got = p[j] as f64;
                        assert!(
                            (got - want).abs() <= 4e-6 * want.max(1e-3),
                            "{path:?} len {len} spread {spread} j {j}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn paths_agree_on_e5_shapes() {
        let (tokens, h, heads) = (131, 384, 12);
        let bounds = [(0, 64), (64, 65), (65, 131)];
        let f = |i: usize| ((i * 7919 % 1009) as f32 - 504.0) / 300.0;
        let q: Vec<f32> = (0..tokens * h).map(f).collect();
        let k: Vec<f32> = (0..tokens * h).map(|i| f(i + 5)).collect();
        let v: Vec<f32> = (0..tokens * h).map(|i| f(i + 17)).collect();
        let mut kt = vec![0f32; kt_stride(tokens) * h];
        transpose(&k, tokens, h, &mut kt);
        let shape = AttnShape {
            tokens,
            hidden: h,
            heads,
        };
        let run = |path| {
            let mut out = vec![0f32; tokens * h];
            attention_rows_with(
                path,
                &mut out,
                0,
                &q,
                &kt,
                &v,
                &bounds,
                shape,
                &mut Vec::new(),
            );
            out
        };
        let want = run(AttnPath::Portable);
        for path in [AttnPath::Avx512, AttnPath::Avx2] {
            let got = run(path);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 2e-6, "{path:?}: max difference {worst}");
        }
    }
}
