//! Ask questions over a document collection and get the passages that answer them.
//!
//! `zoek-query` turns files (`.txt`, `.md`, `.html`, `.jsonl`) into a collection directory —
//! cleaned text cut into sentence-aligned passages, one embedding per sentence, a BM25
//! index, kept in immutable segments so documents can be added, updated and deleted without
//! a rebuild — and ranks passages for a question: a passage scores the best cosine
//! of its sentences (that sentence is the highlight), blended with BM25 whose weight shrinks
//! with the share of question terms the corpus knows, so questions in another language
//! than the corpus fall back to dense ranking.
//!
//! # Data flow
//!
//! ```text
//! files ─ text::{ingest, clean, sentences, chunk} ─ prepared documents
//!       ─ Engine (embed sentences, passages) ─ segment serializer ─ seg-NNNNNN/
//!       ─ CollectionWriter::commit (tombstones, manifest swap, gc) ─ manifest.json
//! question ─ Engine ─ Collection::ask ─ every segment: graph or exact scan + BM25
//!          ─ one fusion over all candidates ─ Answer (hits with highlights)
//! ```
//!
//! # Modules
//!
//! Dependencies point one way, each module using only those above it:
//!
//! | module | owns |
//! |---|---|
//! | `error` | [`QueryError`], the one error type |
//! | `engine` | [`Engine`], the [`TextEmbedder`] trait, the model-free [`HashEmbedder`] |
//! | [`text`] | inputs → cleaned, sentence-aligned passages |
//! | [`format`](mod@format) | on-disk types and codecs; every file name; the format is documented there |
//! | `segment` | one serializer for new and merged segments; [`Segment`], the opened segment; [`BuildOptions`] |
//! | `writer` | [`CollectionWriter`] (add, delete, commit), [`Engine::build`], [`MergePolicy`], garbage collection |
//! | `reader` | [`Collection`] (open, refresh, stats, verify) and asking it ([`AskOptions`], [`Answer`]) |
//!
//! `writer` and `reader` never import each other: they meet only in the files.
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

#![warn(missing_docs)]
// Libraries log through `tracing`; only their unit tests may print.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

mod engine;
mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod reader;
mod segment;
pub mod text;
mod writer;

pub use engine::{Engine, HashEmbedder, LatePassage, LateVectors, TextEmbedder};
pub use error::{QueryError, Result};
pub use format::{CollectionManifest, DocEntry};
pub use reader::shard;
pub use reader::{
    Answer, AskOptions, Centroid, Collection, CollectionStats, DEFAULT_CENTERING,
    DEFAULT_DEMOTE_QUESTIONS, DEFAULT_DOC_PRIOR, DEFAULT_MAX_QUESTION_BYTES, DOC_PRIOR_PASSAGES,
    Hit, RankMode, SegmentStats, Timings,
};
pub use segment::{BuildOptions, Progress, ProgressFn, Segment, Stage};
pub use tantivy::tokenizer::Language;
pub use text::{SentenceVectors, TokenCounting};
pub use writer::{
    AddStats, AttachMode, AttachStats, BuildStats, CollectionWriter, DefaultMergePolicy,
    MergePolicy, MergeStats, NoMergePolicy, Origin, Receipt, SegmentSpec, build_segment,
    remove_abandoned_runs,
};
pub use zoek_index::HnswParams;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
