//! Hugging Face model directories: `config.json`, `model.safetensors`, `tokenizer.json`.
//!
//! BERT (`model_type: "bert"`, e.g. all-MiniLM-L6-v2, multilingual-e5-small/-base/-large)
//! and XLM-RoBERTa (`"xlm-roberta"`, e.g. bge-m3) run one of two ways:
//!
//! * [`Quantize::None`]: candle-transformers' model files in f32; sequences are padded per
//!   batch and mean-pooled over the attention mask.
//! * [`Quantize::Q8`]: every linear layer quantised to Q8_0 at load and run through zoek's
//!   int8 kernels in [`BertEncoder`], the word table kept as Q8_0 rows; the same forward
//!   pass as the e5 image, so batches run side by side without padding.

use std::ops::Range;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use serde::Deserialize;

use crate::error::EmbedError;
use crate::kernel::BLOCK;
use crate::linear::{QLinear, Quantize};
use crate::models::bert::{BertEncoder, Config, Parallelism, Weights, WordTable};
use crate::pool;

enum Arch {
    Bert(bert::BertModel),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
    Native(BertEncoder),
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

    /// Loads `config.json` and `model.safetensors` from `dir`, in f32 or with Q8_0 linears.
    pub fn load(dir: &Path, quantize: Quantize) -> Result<Self, EmbedError> {
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
        let pad_id = common.pad_token_id.unwrap_or(0);
        let is_bert = kind == "bert" || kind.starts_with("bertmodel");
        let is_xlmr = kind == "xlm-roberta" || kind.starts_with("xlmroberta");
        if quantize == Quantize::Q8 && (is_bert || is_xlmr) {
            let cfg: NativeConfig = serde_json::from_str(&text).map_err(bad)?;
            let offset = if is_xlmr { pad_id as usize + 1 } else { 0 };
            let encoder = load_q8(&config_path, &weights, &cfg, offset)?;
            return Ok(Self {
                max_tokens: encoder.config().max_tokens(),
                arch: Arch::Native(encoder),
                hidden: common.hidden_size,
                pad_id,
                name: common.name_or_path,
            });
        }
        // SAFETY: the weights file is mapped read-only and not modified while loaded.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu)? };
        let (arch, max_tokens) = if is_bert {
            let cfg: bert::Config = serde_json::from_str(&text).map_err(bad)?;
            (
                Arch::Bert(bert::BertModel::load(vb, &cfg)?),
                common.max_position_embeddings,
            )
        } else if is_xlmr {
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

    /// Whether batches should run side by side (each single-threaded): true for the
    /// quantised encoder; candle's ops parallelise inside one batch instead.
    pub fn parallel_batches(&self) -> bool {
        matches!(self.arch, Arch::Native(_))
    }

    /// Mean-pooled (not normalised) vectors of token spans: for each sequence, one vector
    /// per span of `spans[i]` (token positions, specials included), from one batch (padded
    /// for candle's f32 path; `par` applies to the quantised one).
    pub fn pool(
        &self,
        sequences: &[&[u32]],
        spans: &[&[Range<usize>]],
        par: Parallelism,
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        if let Arch::Native(m) = &self.arch {
            return m.pool(sequences, spans, par);
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
            Arch::Native(_) => unreachable!("handled above"),
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

/// The parts of `config.json` the quantised encoder needs.
#[derive(Deserialize)]
struct NativeConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    vocab_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_positions")]
    position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_positions() -> String {
    "absolute".into()
}

fn load_q8(
    config_path: &Path,
    weights: &Path,
    cfg: &NativeConfig,
    position_offset: usize,
) -> Result<BertEncoder, EmbedError> {
    let unsupported = |what: String| {
        EmbedError::Unsupported(format!(
            "{}: {what} (the q8 encoder runs absolute positions, exact GELU, and hidden and \
             feed-forward sizes that are multiples of {BLOCK})",
            config_path.display()
        ))
    };
    if cfg.hidden_act != "gelu" {
        return Err(unsupported(format!("hidden_act {:?}", cfg.hidden_act)));
    }
    if cfg.position_embedding_type != "absolute" {
        return Err(unsupported(format!(
            "position_embedding_type {:?}",
            cfg.position_embedding_type
        )));
    }
    if !cfg.hidden_size.is_multiple_of(BLOCK) || !cfg.intermediate_size.is_multiple_of(BLOCK) {
        return Err(unsupported(format!(
            "hidden_size {}, intermediate_size {}",
            cfg.hidden_size, cfg.intermediate_size
        )));
    }
    let file = std::fs::File::open(weights).map_err(|source| EmbedError::Io {
        path: weights.to_path_buf(),
        source,
    })?;
    // SAFETY: the weights file is mapped read-only and not modified while loading; nothing
    // borrowed from the map outlives this function.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| EmbedError::Io {
        path: weights.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&map).map_err(|e| EmbedError::Config {
        path: weights.to_path_buf(),
        message: e.to_string(),
    })?;
    let prefix = ["", "bert.", "roberta."]
        .into_iter()
        .find(|p| {
            st.tensor(&format!("{p}embeddings.word_embeddings.weight"))
                .is_ok()
        })
        .ok_or_else(|| EmbedError::Config {
            path: weights.to_path_buf(),
            message: "no embeddings.word_embeddings.weight tensor".into(),
        })?;
    let config = Config {
        hidden_size: cfg.hidden_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        intermediate_size: cfg.intermediate_size,
        vocab_size: cfg.vocab_size,
        max_position_embeddings: cfg.max_position_embeddings,
        type_vocab_size: cfg.type_vocab_size,
        position_offset,
        layer_norm_eps: cfg.layer_norm_eps as f32,
    };
    let source = SafetensorsWeights {
        st,
        prefix,
        path: weights.to_path_buf(),
    };
    BertEncoder::load(config, &source)
}

/// A safetensors file read as a [`Weights`] source under Hugging Face's tensor names.
struct SafetensorsWeights<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
    path: PathBuf,
}

impl SafetensorsWeights<'_> {
    /// The Hugging Face name of the module the image calls `name` (`l3.q`, `emb.ln`, …).
    fn hf_name(&self, name: &str) -> String {
        let p = self.prefix;
        let (head, part) = name.split_once('.').unwrap_or((name, ""));
        if head == "emb" {
            let module = match part {
                "pos" => "position_embeddings",
                "type" => "token_type_embeddings",
                "word" => "word_embeddings",
                _ => "LayerNorm",
            };
            return format!("{p}embeddings.{module}");
        }
        let layer = head.trim_start_matches('l');
        let module = match part {
            "q" => "attention.self.query",
            "k" => "attention.self.key",
            "v" => "attention.self.value",
            "ao" => "attention.output.dense",
            "aln" => "attention.output.LayerNorm",
            "fi" => "intermediate.dense",
            "fo" => "output.dense",
            _ => "output.LayerNorm",
        };
        format!("{p}encoder.layer.{layer}.{module}")
    }

    /// Tensor `name` as f32, checked to hold `shape`.
    fn load(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        self.load_rows(name, shape, 0..shape[0])
    }

    /// Rows `rows` of tensor `name` (checked to hold `shape`) as f32.
    fn load_rows(
        &self,
        name: &str,
        shape: &[usize],
        rows: Range<usize>,
    ) -> Result<Vec<f32>, EmbedError> {
        let bad = |message: String| EmbedError::Config {
            path: self.path.clone(),
            message: format!("tensor {name}: {message}"),
        };
        let view = self.st.tensor(name).map_err(|e| bad(e.to_string()))?;
        if view.shape() != shape || rows.end > shape[0] {
            return Err(bad(format!("shape {:?}, expected {shape:?}", view.shape())));
        }
        let row: usize = shape[1..].iter().product();
        let width = match view.dtype() {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            other => return Err(bad(format!("dtype {other:?} (zoek reads F32, F16, BF16)"))),
        };
        let bytes = &view.data()[rows.start * row * width..rows.end * row * width];
        Ok(match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        })
    }
}

impl Weights for SafetensorsWeights<'_> {
    fn linear(&self, names: &[&str], rows: usize, cols: usize) -> Result<QLinear, EmbedError> {
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for name in names {
            let n = self.hf_name(name);
            w.extend(self.load(&format!("{n}.weight"), &[rows, cols])?);
            b.extend(self.load(&format!("{n}.bias"), &[rows])?);
        }
        QLinear::from_f32_q8(&w, names.len() * rows, cols, b)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, EmbedError> {
        let n = format!("{}.weight", self.hf_name(name));
        let shape = self
            .st
            .tensor(&n)
            .map(|v| v.shape().to_vec())
            .unwrap_or_default();
        if shape.iter().product::<usize>() != len {
            return Err(EmbedError::Config {
                path: self.path.clone(),
                message: format!("tensor {n}: shape {shape:?}, expected {len} values"),
            });
        }
        self.load(&n, &shape)
    }

    fn layer_norm(&self, name: &str, len: usize) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let n = self.hf_name(name);
        // Older checkpoints (TensorFlow conversions) call them gamma and beta.
        if self.st.tensor(&format!("{n}.gamma")).is_ok() {
            return Ok((
                self.load(&format!("{n}.gamma"), &[len])?,
                self.load(&format!("{n}.beta"), &[len])?,
            ));
        }
        Ok((
            self.load(&format!("{n}.weight"), &[len])?,
            self.load(&format!("{n}.bias"), &[len])?,
        ))
    }

    fn words(&self, vocab: usize, hidden: usize) -> Result<Box<dyn WordTable>, EmbedError> {
        let name = format!("{}.weight", self.hf_name("emb.word"));
        let shape = [vocab, hidden];
        let blocks = hidden / BLOCK;
        // The sizes come from config.json: check them against the tensor before reserving.
        self.load_rows(&name, &shape, 0..0)?;
        let mut codes = Vec::with_capacity(vocab * hidden);
        let mut scales = Vec::with_capacity(vocab * blocks);
        // A few thousand rows at a time: a 250k-word table never sits in memory as f32.
        const ROWS: usize = 4096;
        for start in (0..vocab).step_by(ROWS) {
            let chunk = self.load_rows(&name, &shape, start..(start + ROWS).min(vocab))?;
            for blk in chunk.chunks_exact(BLOCK) {
                let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
                scales.push(d);
                codes.extend(
                    blk.iter()
                        .map(|v| (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8),
                );
            }
        }
        Ok(Box::new(Q8Words {
            codes,
            scales,
            hidden,
        }))
    }
}

/// A word table as Q8_0 rows: a quarter of f32's memory, within half a step per value.
struct Q8Words {
    codes: Vec<i8>,
    scales: Vec<f32>,
    hidden: usize,
}

impl WordTable for Q8Words {
    fn row(&self, id: usize, out: &mut [f32]) -> Result<(), EmbedError> {
        let codes = &self.codes[id * self.hidden..(id + 1) * self.hidden];
        let scales = &self.scales[id * self.hidden / BLOCK..(id + 1) * self.hidden / BLOCK];
        for ((o, c), d) in out
            .chunks_exact_mut(BLOCK)
            .zip(codes.chunks_exact(BLOCK))
            .zip(scales)
        {
            for (o, &c) in o.iter_mut().zip(c) {
                *o = f32::from(c) * d;
            }
        }
        Ok(())
    }
}
