//! Ask questions over a document collection and get the passages that answer them.
//!
//! `zoek-query` turns files (`.txt`, `.md`, `.html`, `.jsonl`) into a collection directory —
//! cleaned text cut into sentence-aligned passages, one embedding per sentence, a BM25
//! index, a manifest — and ranks passages for a question: a passage scores the best cosine
//! of its sentences (that sentence is the highlight), blended with BM25 whose weight shrinks
//! with the share of question terms the corpus knows, so questions in another language
//! than the corpus fall back to dense ranking.
//!
//! ```
//! use zoek_query::{BuildOptions, Collection, Engine, HashEmbedder, TokenCounting};
//!
//! # fn main() -> zoek_query::Result<()> {
//! let docs = tempfile::tempdir().unwrap();
//! std::fs::write(
//!     docs.path().join("samenwerking.txt"),
//!     "Vormen van samenwerking\n\nEr zijn twee vormen van partnerschap. \
//!      De zorgcoöperatie zoekt zorg voor haar leden.\n\nMeer informatie\n",
//! ).unwrap();
//! let out = tempfile::tempdir().unwrap();
//!
//! // `Engine::from_model_dir(zoek_embed::default_model_dir())` runs the real model;
//! // the hashing embedder keeps this example free of model files.
//! let engine = Engine::new(HashEmbedder::default());
//! let opts = BuildOptions { token_counting: TokenCounting::CharEstimate, ..BuildOptions::default() };
//! let stats = engine.build(&[docs.path()], out.path(), &opts)?;
//! assert_eq!(stats.passages, 1);
//!
//! let collection = Collection::open(out.path())?;
//! let answer = collection.ask(&engine, "welke vormen van partnerschap zijn er?", 3)?;
//! let best = &answer.hits[0];
//! assert_eq!(best.heading.as_deref(), Some("Vormen van samenwerking"));
//! assert_eq!(best.highlight.as_deref(), Some("Er zijn twee vormen van partnerschap."));
//! # Ok(())
//! # }
//! ```

pub mod bm25;
pub mod build;
pub mod chunk;
pub mod clean;
pub mod collection;
pub mod embedder;
pub mod error;
pub mod ingest;
pub mod manifest;
pub mod rank;
pub mod segment;
pub mod store;
pub mod vectors;

pub use build::{BuildOptions, BuildStats, Progress, ProgressFn, Stage, TokenCounting};
pub use collection::{
    Answer, AskOptions, Collection, DEFAULT_MAX_QUESTION_BYTES, Engine, Hit, RankMode, Timings,
};
pub use embedder::{HashEmbedder, TextEmbedder};
pub use error::{QueryError, Result};
pub use manifest::Manifest;
pub use tantivy::tokenizer::Language;
pub use zoek_index::HnswParams;
