//! multilingual-e5-small (a 12-layer BERT encoder) read from an E5S1 image: the image as a
//! [`Weights`] source for [`BertEncoder`], its linear layers and word table kept 4-bit.

use std::sync::Arc;

use crate::error::EmbedError;
use crate::image::{ImageHeader, ModelImage, Q4_BLOCK_BYTES, QK};
use crate::linear::{LinearBackend, QLinear};
use crate::models::bert::{BertEncoder, Config, Weights, WordTable};

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
            type_vocab_size: h.type_vocab,
            position_offset: 0,
            layer_norm_eps: h.eps,
        }
    }
}

/// Builds the encoder from an opened image; the word table stays in the memory-mapped image.
pub fn load(image: ModelImage, backend: LinearBackend) -> Result<BertEncoder, EmbedError> {
    let config = Config::from_header(image.header());
    BertEncoder::load(
        config,
        &ImageWeights {
            image: Arc::new(image),
            backend,
        },
    )
}

struct ImageWeights {
    image: Arc<ModelImage>,
    backend: LinearBackend,
}

impl Weights for ImageWeights {
    fn linear(&self, names: &[&str], rows: usize, cols: usize) -> Result<QLinear, EmbedError> {
        let (mut blocks, mut bias) = (Vec::new(), Vec::new());
        for name in names {
            blocks.extend_from_slice(self.image.q4_tensor(&format!("{name}.w"), rows, cols)?);
            bias.extend(self.image.f32_tensor(&format!("{name}.b"), rows)?);
        }
        QLinear::new(&blocks, names.len() * rows, cols, bias, self.backend)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, EmbedError> {
        self.image.f32_tensor(name, len)
    }

    fn layer_norm(&self, name: &str, len: usize) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        Ok((
            self.image.f32_tensor(&format!("{name}.w"), len)?,
            self.image.f32_tensor(&format!("{name}.b"), len)?,
        ))
    }

    fn words(&self, vocab: usize, hidden: usize) -> Result<Box<dyn WordTable>, EmbedError> {
        // Validated here; rows are dequantised on lookup.
        self.image.q4_tensor("emb.word", vocab, hidden)?;
        Ok(Box::new(ImageWords {
            image: self.image.clone(),
            vocab,
            hidden,
        }))
    }
}

struct ImageWords {
    image: Arc<ModelImage>,
    vocab: usize,
    hidden: usize,
}

impl WordTable for ImageWords {
    fn row(&self, id: usize, out: &mut [f32]) -> Result<(), EmbedError> {
        let word = self.image.q4_tensor("emb.word", self.vocab, self.hidden)?;
        let row_bytes = self.hidden / QK * Q4_BLOCK_BYTES;
        dequantize_row(&word[id * row_bytes..(id + 1) * row_bytes], out);
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
