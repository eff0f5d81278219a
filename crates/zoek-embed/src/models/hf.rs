//! Hugging Face model directories: `config.json`, `model.safetensors`, `tokenizer.json`.
//!
//! BERT (`model_type: "bert"`, e.g. all-MiniLM-L6-v2, multilingual-e5-small/-base/-large)
//! and XLM-RoBERTa (`"xlm-roberta"`, e.g. bge-m3) run through candle-transformers' model
//! files in f32; sequences are padded per batch and mean-pooled over the attention mask.

use std::ops::Range;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use serde::Deserialize;

use crate::error::EmbedError;
use crate::pool;

enum Arch {
    Bert(bert::BertModel),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
}

/// A BERT or XLM-RoBERTa encoder loaded from safetensors.
pub struct HfModel {
    arch: Arch,
    hidden: usize,
    max_tokens: usize,
    pad_id: u32,
    name: Option<String>,
}

impl std::fmt::Debug for HfModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfModel")
            .field("hidden", &self.hidden)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Common {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    hidden_size: usize,
    max_position_embeddings: usize,
    pad_token_id: Option<u32>,
    #[serde(rename = "_name_or_path")]
    name_or_path: Option<String>,
}

impl HfModel {
    /// Whether `dir` looks like a Hugging Face model directory.
    pub fn is_hf_dir(dir: &Path) -> bool {
        dir.join("config.json").is_file() && dir.join("model.safetensors").is_file()
    }

    /// Loads `config.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|source| EmbedError::Io {
            path: config_path.clone(),
            source,
        })?;
        let bad = |e: serde_json::Error| EmbedError::Config {
            path: config_path.clone(),
            message: e.to_string(),
        };
        let common: Common = serde_json::from_str(&text).map_err(bad)?;
        let kind = common
            .model_type
            .clone()
            .or_else(|| common.architectures.first().cloned())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let weights = dir.join("model.safetensors");
        // SAFETY: the weights file is mapped read-only and not modified while loaded.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu)? };
        let pad_id = common.pad_token_id.unwrap_or(0);
        let (arch, max_tokens) = if kind == "bert" || kind.starts_with("bertmodel") {
            let cfg: bert::Config = serde_json::from_str(&text).map_err(bad)?;
            (
                Arch::Bert(bert::BertModel::load(vb, &cfg)?),
                common.max_position_embeddings,
            )
        } else if kind == "xlm-roberta" || kind.starts_with("xlmroberta") {
            let cfg: xlm_roberta::Config = serde_json::from_str(&text).map_err(bad)?;
            let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
                vb.pp("roberta")
            } else {
                vb
            };
            // RoBERTa positions start after the padding id.
            let max = common
                .max_position_embeddings
                .saturating_sub(pad_id as usize + 1);
            (
                Arch::XlmRoberta(xlm_roberta::XLMRobertaModel::new(&cfg, vb)?),
                max,
            )
        } else {
            return Err(EmbedError::Unsupported(format!(
                "{}: model_type {kind:?} (zoek runs bert and xlm-roberta)",
                config_path.display()
            )));
        };
        Ok(Self {
            arch,
            hidden: common.hidden_size,
            max_tokens,
            pad_id,
            name: common.name_or_path,
        })
    }

    /// Vector length.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Longest sequence, specials included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// `_name_or_path` from `config.json`, when present.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Mean-pooled (not normalised) vectors of token spans: for each sequence, one vector
    /// per span of `spans[i]` (token positions, specials included), from one padded batch.
    pub fn pool(
        &self,
        sequences: &[&[u32]],
        spans: &[&[Range<usize>]],
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        pool::check_batch(sequences, spans)?;
        let b = sequences.len();
        let l = sequences.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        if l > self.max_tokens {
            return Err(EmbedError::Inconsistent(format!(
                "sequence of {l} tokens (the model takes at most {})",
                self.max_tokens
            )));
        }
        let mut ids = vec![self.pad_id; b * l];
        let mut mask = vec![0u32; b * l];
        for (i, s) in sequences.iter().enumerate() {
            ids[i * l..i * l + s.len()].copy_from_slice(s);
            mask[i * l..i * l + s.len()].fill(1);
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(ids, (b, l), &dev)?;
        let mask_t = Tensor::from_vec(mask, (b, l), &dev)?;
        let types = ids.zeros_like()?;
        let hidden = match &self.arch {
            Arch::Bert(m) => m.forward(&ids, &types, Some(&mask_t))?,
            Arch::XlmRoberta(m) => m.forward(&ids, &mask_t, &types, None, None, None)?,
        };
        let hidden = hidden
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let h = self.hidden;
        Ok(spans
            .iter()
            .enumerate()
            .map(|(i, sp)| pool::span_means(&hidden[i * l * h..(i + 1) * l * h], h, sp))
            .collect())
    }
}
