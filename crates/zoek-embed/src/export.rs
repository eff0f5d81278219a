//! Export of the e5 image to a standard Hugging Face BERT directory (f32 safetensors).
//!
//! The result (`config.json`, `model.safetensors`, `tokenizer.json`) loads in zoek's Hugging
//! Face path and in `transformers` as a `BertModel`; weights are the image's Q4_0 values
//! dequantised exactly (`(q − 8) · d`). The word table alone takes 384 MB in f32.

use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::EmbedError;
use crate::image::{ModelImage, Q4_BLOCK_BYTES, QK};
use crate::models::e5_image::dequantize_row;

/// Which Hugging Face architecture the export is written as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HfFlavour {
    /// `BertModel` (what multilingual-e5-small is published as).
    #[default]
    Bert,
    /// `XLMRobertaModel`: the position table gains the two leading rows RoBERTa skips
    /// (positions start after the padding id), so the two flavours compute the same model.
    XlmRoberta,
}

/// Writes the e5 image in `image_dir` (an `models/fetch` directory) as a Hugging Face BERT
/// directory in `out_dir` (created if needed).
pub fn export_image_to_hf(image_dir: &Path, out_dir: &Path) -> Result<(), EmbedError> {
    export_image_to_hf_as(image_dir, out_dir, HfFlavour::Bert)
}

/// [`export_image_to_hf`] in a chosen architecture.
pub fn export_image_to_hf_as(
    image_dir: &Path,
    out_dir: &Path,
    flavour: HfFlavour,
) -> Result<(), EmbedError> {
    let manifest_path = image_dir.join("zoek-model.json");
    if !manifest_path.is_file() {
        return Err(EmbedError::ModelNotFound {
            dir: image_dir.to_path_buf(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbedError::Io { path, source }
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?)
            .map_err(|e| EmbedError::Config {
                path: manifest_path.clone(),
                message: e.to_string(),
            })?;
    let field = |k: &str| manifest[k].as_str().map(str::to_string);
    let image_name = field("image").unwrap_or_else(|| "e5-small-q4.bin".into());
    let tokenizer_name = field("tokenizer").unwrap_or_else(|| "tokenizer.json".into());
    let model_name = field("model").unwrap_or_else(|| "intfloat/multilingual-e5-small".into());
    let image = ModelImage::open(&image_dir.join(image_name))?;
    let h = image.header().clone();
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;

    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let f32_bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let q4 = |name: &str, rows: usize, cols: usize| -> Result<Vec<u8>, EmbedError> {
        let blocks = image.q4_tensor(name, rows, cols)?;
        let row_bytes = cols / QK * Q4_BLOCK_BYTES;
        let mut out = Vec::with_capacity(rows * cols * 4);
        let mut row = vec![0f32; cols];
        for r in blocks.chunks_exact(row_bytes) {
            dequantize_row(r, &mut row);
            for v in &row {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(out)
    };
    let (hd, ff) = (h.hidden, h.intermediate);
    tensors.push((
        "embeddings.word_embeddings.weight".into(),
        vec![h.vocab, hd],
        q4("emb.word", h.vocab, hd)?,
    ));
    // RoBERTa numbers positions from padding id + 1 = 2.
    let skipped = match flavour {
        HfFlavour::Bert => 0,
        HfFlavour::XlmRoberta => 2,
    };
    let mut positions = vec![0f32; skipped * hd];
    positions.extend(image.f32_tensor("emb.pos", h.max_positions * hd)?);
    tensors.push((
        "embeddings.position_embeddings.weight".into(),
        vec![h.max_positions + skipped, hd],
        f32_bytes(positions),
    ));
    tensors.push((
        "embeddings.token_type_embeddings.weight".into(),
        vec![h.type_vocab, hd],
        f32_bytes(image.f32_tensor("emb.type", h.type_vocab * hd)?),
    ));
    for (src, dst) in [("emb.ln.w", "weight"), ("emb.ln.b", "bias")] {
        tensors.push((
            format!("embeddings.LayerNorm.{dst}"),
            vec![hd],
            f32_bytes(image.f32_tensor(src, hd)?),
        ));
    }
    for l in 0..h.layers {
        let p = format!("encoder.layer.{l}");
        let linears = [
            ("q", "attention.self.query", hd, hd),
            ("k", "attention.self.key", hd, hd),
            ("v", "attention.self.value", hd, hd),
            ("ao", "attention.output.dense", hd, hd),
            ("fi", "intermediate.dense", ff, hd),
            ("fo", "output.dense", hd, ff),
        ];
        for (src, dst, rows, cols) in linears {
            tensors.push((
                format!("{p}.{dst}.weight"),
                vec![rows, cols],
                q4(&format!("l{l}.{src}.w"), rows, cols)?,
            ));
            tensors.push((
                format!("{p}.{dst}.bias"),
                vec![rows],
                f32_bytes(image.f32_tensor(&format!("l{l}.{src}.b"), rows)?),
            ));
        }
        for (src, dst) in [
            ("aln", "attention.output.LayerNorm"),
            ("oln", "output.LayerNorm"),
        ] {
            for (s, d) in [("w", "weight"), ("b", "bias")] {
                tensors.push((
                    format!("{p}.{dst}.{d}"),
                    vec![hd],
                    f32_bytes(image.f32_tensor(&format!("l{l}.{src}.{s}"), hd)?),
                ));
            }
        }
    }
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| EmbedError::Inconsistent(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weights = out_dir.join("model.safetensors");
    safetensors::serialize_to_file(views, None, &weights)
        .map_err(|e| EmbedError::Inconsistent(format!("writing {}: {e}", weights.display())))?;

    let (architecture, model_type) = match flavour {
        HfFlavour::Bert => ("BertModel", "bert"),
        HfFlavour::XlmRoberta => ("XLMRobertaModel", "xlm-roberta"),
    };
    let config = serde_json::json!({
        "_name_or_path": model_name,
        "architectures": [architecture],
        "model_type": model_type,
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hd,
        "initializer_range": 0.02,
        "intermediate_size": ff,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions + skipped,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
    });
    let config_path = out_dir.join("config.json");
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&config).unwrap_or_default(),
    )
    .map_err(io(&config_path))?;
    let tok_dst = out_dir.join("tokenizer.json");
    std::fs::copy(image_dir.join(tokenizer_name), &tok_dst).map_err(io(&tok_dst))?;
    Ok(())
}
