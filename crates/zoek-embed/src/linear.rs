//! Linear layers over quantised weights (the e5 image's Q4_0, or Q8_0 made at load from f32),
//! behind one type so the implementation can be chosen at load.

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Tensor};

use crate::error::EmbedError;
use crate::image::{Q4_BLOCK_BYTES, QK};
use crate::kernel::QMatrix;
use crate::ops;

/// Which implementation runs the quantised linear layers of the e5 image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinearBackend {
    /// zoek's own Q4_0 × Q8_0 kernel ([`crate::kernel::QMatrix`]): weights repacked once,
    /// activations quantised once per product and reused across output rows, AVX-512 VNNI /
    /// AVX2 / portable code chosen at run time.
    #[default]
    Kernel,
    /// candle's `QMatMul` over `QTensor`s that hold the image's Q4_0 blocks unchanged
    /// (activations quantised to Q8_0 by candle); kept for comparison.
    Candle,
}

impl std::str::FromStr for LinearBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kernel" => Ok(Self::Kernel),
            "candle" => Ok(Self::Candle),
            other => Err(format!("unknown linear backend {other:?} (kernel, candle)")),
        }
    }
}

/// How the linear layers of a Hugging Face model directory run (the e5 image is 4-bit
/// already and ignores this).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Quantize {
    /// f32 weights through candle-transformers' BERT / XLM-RoBERTa model files.
    #[default]
    None,
    /// Weights quantised to Q8_0 at load and run through zoek's int8 kernels: about a
    /// quarter of the memory and several times faster on a CPU, within cosine 0.999 of the
    /// f32 path.
    Q8,
}

impl std::str::FromStr for Quantize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "f32" => Ok(Self::None),
            "q8" => Ok(Self::Q8),
            other => Err(format!("unknown quantisation {other:?} (none, q8)")),
        }
    }
}

/// `y = x Wᵀ + b` with `W` a `rows × cols` Q4_0 or Q8_0 matrix.
pub struct QLinear {
    rows: usize,
    cols: usize,
    bias: Vec<f32>,
    imp: LinearImpl,
}

enum LinearImpl {
    Kernel(QMatrix),
    Candle(QMatMul),
}

impl std::fmt::Debug for QLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QLinear")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl QLinear {
    /// Builds a layer from `rows × cols / 32` Q4_0 blocks (18 bytes each) and a bias of `rows`.
    pub fn new(
        blocks: &[u8],
        rows: usize,
        cols: usize,
        bias: Vec<f32>,
        backend: LinearBackend,
    ) -> Result<Self, EmbedError> {
        if !cols.is_multiple_of(QK)
            || blocks.len() != rows * cols / QK * Q4_BLOCK_BYTES
            || bias.len() != rows
        {
            return Err(EmbedError::Inconsistent(format!(
                "linear layer {rows}×{cols}: {} weight bytes, {} biases",
                blocks.len(),
                bias.len()
            )));
        }
        let imp = match backend {
            LinearBackend::Kernel => {
                LinearImpl::Kernel(QMatrix::from_q4_0_bytes(blocks, rows, cols)?)
            }
            LinearBackend::Candle => {
                // candle reinterprets the bytes as `BlockQ4_0` (align 2); the map is 32-aligned
                // but a copy into a u16 buffer makes that a guarantee rather than a property of
                // the file.
                let mut aligned = vec![0u16; blocks.len() / 2];
                for (dst, src) in aligned.iter_mut().zip(blocks.chunks_exact(2)) {
                    *dst = u16::from_ne_bytes([src[0], src[1]]);
                }
                let bytes: Vec<u8> = aligned.iter().flat_map(|v| v.to_ne_bytes()).collect();
                let storage = QStorage::from_data(
                    std::borrow::Cow::Owned(bytes),
                    &Device::Cpu,
                    GgmlDType::Q4_0,
                )?;
                let qt = QTensor::new(storage, (rows, cols))?;
                LinearImpl::Candle(QMatMul::from_qtensor(qt)?)
            }
        };
        Ok(Self {
            rows,
            cols,
            bias,
            imp,
        })
    }

    /// Builds a layer from f32 weights (`rows × cols`, row-major), quantised to Q8_0 for
    /// zoek's kernel, and a bias of `rows`.
    pub fn from_f32_q8(
        weights: &[f32],
        rows: usize,
        cols: usize,
        bias: Vec<f32>,
    ) -> Result<Self, EmbedError> {
        if bias.len() != rows {
            return Err(EmbedError::Inconsistent(format!(
                "linear layer {rows}×{cols}: {} biases",
                bias.len()
            )));
        }
        Ok(Self {
            rows,
            cols,
            bias,
            imp: LinearImpl::Kernel(QMatrix::from_f32_q8_0(weights, rows, cols)?),
        })
    }

    /// `y[t·rows + r] = bias[r] + Σ_c x[t·cols + c] · W[r, c]` for `tokens` rows of `x`.
    pub fn forward(&self, x: &[f32], tokens: usize, y: &mut [f32]) -> Result<(), EmbedError> {
        self.forward_split(x, tokens, &mut [y])
    }

    /// [`QLinear::forward`] with exact GELU applied to the outputs as each of the kernel's
    /// tasks finishes, while they are in cache.
    pub fn forward_gelu(&self, x: &[f32], tokens: usize, y: &mut [f32]) -> Result<(), EmbedError> {
        match &self.imp {
            LinearImpl::Kernel(m) => m.matmul_then(x, tokens, Some(&self.bias), y, ops::gelu)?,
            LinearImpl::Candle(_) => {
                self.forward(x, tokens, y)?;
                ops::gelu(y);
            }
        }
        Ok(())
    }

    /// [`QLinear::forward`] with the output rows split evenly over `ys` (a stack of layers
    /// that read the same input): row `r` goes to `ys[r / s]` at `t·s + r % s`, `s = rows /
    /// ys.len()`.
    pub fn forward_split(
        &self,
        x: &[f32],
        tokens: usize,
        ys: &mut [&mut [f32]],
    ) -> Result<(), EmbedError> {
        match &self.imp {
            LinearImpl::Kernel(m) => m.matmul_split(x, tokens, Some(&self.bias), ys)?,
            LinearImpl::Candle(mm) => {
                if ys.is_empty() || !self.rows.is_multiple_of(ys.len()) {
                    return Err(EmbedError::Inconsistent(format!(
                        "{} output rows split {} ways",
                        self.rows,
                        ys.len()
                    )));
                }
                let seg = self.rows / ys.len();
                if ys.iter().any(|y| y.len() != tokens * seg) || x.len() != tokens * self.cols {
                    return Err(EmbedError::Inconsistent(format!(
                        "linear layer {}×{} on {tokens} tokens: wrong slice lengths",
                        self.rows, self.cols
                    )));
                }
                let xt = Tensor::from_slice(x, (tokens, self.cols), &Device::Cpu)?;
                let out = mm.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?;
                for (t, row) in out.chunks_exact(self.rows).enumerate() {
                    for (part, (o, b)) in ys
                        .iter_mut()
                        .zip(row.chunks_exact(seg).zip(self.bias.chunks_exact(seg)))
                    {
                        for ((d, v), b) in part[t * seg..(t + 1) * seg].iter_mut().zip(o).zip(b) {
                            *d = v + b;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
