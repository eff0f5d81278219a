//! Segments: the immutable unit of a collection. One serializer writes every segment, new
//! or merged; the reader opens one with all its indexes.
//!
//! | module | holds |
//! |---|---|
//! | `options` | [`BuildOptions`], progress reports ([`Progress`], [`Stage`]) |
//! | `build` | documents → prepared, embedded documents in a serializer |
//! | `distinct` | each distinct text embedded once, its vector copied to every occurrence |
//! | `serializer` | the one writer of a segment's files, for builds and merges alike |
//! | `reader` | [`Segment`]: an opened segment and its searches (local passage ids) |
//! | `dense` | exact dense scoring, sentence → passage aggregation |
//! | `graph` | the HNSW graph over a segment's sentence vectors (`zoek-index`) |
//! | `bm25` | the tantivy BM25 index and collection-wide BM25 statistics |

pub(crate) mod bm25;
pub(crate) mod build;
pub(crate) mod dense;
mod distinct;
pub(crate) mod graph;
mod options;
mod reader;
pub(crate) mod serializer;

pub use options::{BuildOptions, Progress, ProgressFn, Stage};
pub use reader::Segment;
