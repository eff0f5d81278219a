//! zoek: multilingual semantic search on the CPU.
//!
//! zoek turns a folder of documents into an index on disk and answers natural-language
//! questions, in any language the model knows, with the passages that answer them.
//! This crate re-exports the three library crates and carries the `zoek` command-line tool:
//!
//! - [`embed`] (`zoek-embed`): the multilingual sentence model (multilingual-e5-small).
//! - [`index`] (`zoek-index`): an HNSW vector index on disk, opened through memory maps.
//! - [`query`] (`zoek-query`): ingestion, the passage store, hybrid ranking, the [`Engine`].
//!
//! ```no_run
//! use zoek::{Collection, Engine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::from_default_model()?;            // models/fetch puts the model there
//! let collection = zoek::example::open_example(&engine, None)?; // the shipped example corpus
//! let answer = collection.ask(&engine, "what hinders cooperation?", 3)?;
//! for hit in &answer.hits {
//!     println!("{:.3} {} — {}", hit.score, hit.doc, hit.highlight.as_deref().unwrap_or(""));
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod example;
pub mod service;
pub mod shards;

pub use zoek_embed as embed;
pub use zoek_index as index;
pub use zoek_query as query;

pub use zoek_embed::Embedder;
pub use zoek_query::{Answer, AskOptions, BuildOptions, Collection, Engine, Hit, QueryError};
