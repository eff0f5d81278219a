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
//! # Pipeline
//!
//! 1. [`ingest`]: inputs in deterministic order; undecodable files are skipped and reported.
//! 2. [`clean`]: web boilerplate dropped (blocks without a two-letter word, link lines
//!    ending in `»` or starting with `>>`, image slugs and file names, short navigation
//!    lines with `|`); a short line without closing punctuation is a heading for the body
//!    after it, and dropped when no body follows.
//! 3. [`segment`] + [`chunk`]: sentences (UAX #29 with a Dutch/English abbreviation guard),
//!    packed into passages of at most 256 model tokens that never cross a paragraph.
//! 4. Every sentence is embedded with the passage prefix; [`rank`] turns sentence cosines
//!    into passage scores (sentence→parent) and blends them with [`bm25`].
//!
//! # On-disk layout
//!
//! A collection directory holds `manifest.json` ([`CollectionManifest`], format version 2)
//! and one directory per immutable segment (`seg-000007/`). The manifest lists the segments
//! in order, each with its current tombstone file, and is replaced atomically (temporary
//! file, fsync, rename, directory fsync) by every commit of a [`CollectionWriter`]; readers
//! ([`Collection`]) work on the manifest they opened until [`Collection::refresh`].
//! `writer.lock` is the writer's lock file. A segment holds what one build writes, each file
//! named `<generation>.<part>`:
//!
//! | file | content |
//! |---|---|
//! | `segment.json` | format and version, model fingerprint, dim, language, chunking settings, counts, data file names, every file's size and SHA-256, input files with checksums, skipped inputs |
//! | `<g>.docs.jsonl` | one JSON object a document: id, source, metadata, cleaned text |
//! | `<g>.docs.idx.jsonl` | the document table: id, file path, content hash, passage range, metadata |
//! | `<g>.passages.jsonl` | one JSON object a passage: doc, doc_id, heading, text, byte range, sentence byte ranges, first sentence id |
//! | `<g>.passages.idx` | byte offsets of the passage lines (`u64`), for random access |
//! | `<g>.sentences.u32` | sentence → passage id (`u32`), sorted by passage |
//! | `<g>.sentences.f32` | one L2-normalised vector a sentence (`f32`, row-major) |
//! | `<g>.passages.f32` | one vector a passage (only with `passage_vectors`) |
//! | `<g>.sentences.hnsw` | `zoek-index` HNSW graph over the sentence vectors (int8 codes; when the segment or the collection is above `hnsw_threshold`) |
//! | `<g>.bm25/` | tantivy index of heading + passage text |
//! | `del-<commit>.u32` | tombstones: the segment's deleted passage ids (`u32`, sorted), if any |
//!
//! Binary files start with a 32-byte little-endian header (magic, version, row width, row
//! count) and are memory-mapped by [`Collection::open`]. Every file is written to a temporary
//! name and fsynced, and a segment is complete before a manifest names it; files no manifest
//! names any more are removed after the swap.
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

pub mod bm25;
pub mod build;
pub mod chunk;
pub mod clean;
pub mod collection;
pub mod embedder;
pub mod error;
pub mod index_segment;
pub mod ingest;
pub mod manifest;
pub mod rank;
pub mod segment;
pub mod store;
pub mod tombstones;
pub mod vectors;
pub mod writer;

pub use build::{BuildOptions, BuildStats, Progress, ProgressFn, Stage, TokenCounting};
pub use collection::{
    Answer, AskOptions, Collection, CollectionStats, DEFAULT_MAX_QUESTION_BYTES, Engine, Hit,
    RankMode, SegmentStats, Timings,
};
pub use embedder::{HashEmbedder, TextEmbedder};
pub use error::{QueryError, Result};
pub use manifest::{CollectionManifest, SegmentEntry, SegmentManifest};
pub use store::DocEntry;
pub use tantivy::tokenizer::Language;
pub use writer::{AddStats, CollectionWriter, MergePolicy, MergeStats};
pub use zoek_index::HnswParams;
