//! The on-disk format of a collection: its types and their codecs, and nothing that
//! searches or decides. Everything a collection holds on disk is defined here.
//!
//! | module | holds |
//! |---|---|
//! | `paths` | every file and directory name of a collection (see the tree there) |
//! | `manifest` | [`CollectionManifest`] with its [`CollectionSettings`] and [`SegmentEntry`]s, [`SegmentManifest`] with [`DataFiles`] and checksums |
//! | `records` | the JSON records of a segment: [`StoredDocument`], [`DocEntry`], [`StoredPassage`] |
//! | `array` | versioned little-endian array files (header, generic writer, memory-mapped reader) |
//! | `passages` | the passage store: JSON lines plus an offset array for random access |
//! | `jsonl` | JSON-lines writing with offsets, and reading |
//! | `tombstones` | a segment's deleted passage ids |
//! | `bits` | the bit set of a segment's live or allowed passages |
//! | `fs` | atomic writes (temporary file, fsync, rename, directory fsync), tree fsync, removal, checksums |
//!
//! # A collection on disk
//!
//! A collection directory holds `manifest.json` ([`CollectionManifest`], format version
//! [`FORMAT_VERSION`]) and one directory per immutable segment (`seg-000007/`). The
//! manifest lists the segments in order, each with its current tombstone file and late
//! graph, and is replaced atomically by every commit: that rename is the commit.
//! `writer.lock` is the writer's lock file. A segment holds what one build writes, each
//! data file named `<build id>.<part>`:
//!
//! | file | content |
//! |---|---|
//! | `segment.json` | format and version, model fingerprint, dim, language, chunking, counts, data file names, every file's size and SHA-256, input files with checksums, skipped inputs |
//! | `<b>.docs.jsonl` | one [`StoredDocument`] a line: id, source, metadata, cleaned text |
//! | `<b>.docs.idx.jsonl` | the document table, one [`DocEntry`] a line: id, file path, content hash, passage range, metadata |
//! | `<b>.passages.jsonl` | one [`StoredPassage`] a line: doc, doc_id, heading, text, byte range, sentence byte ranges, first sentence id |
//! | `<b>.passages.idx` | byte offsets of the passage lines (`u64`), for random access |
//! | `<b>.sentences.u32` | sentence → passage id (`u32`), sorted by passage |
//! | `<b>.sentences.f32` | one L2-normalised vector a sentence (`f32`, row-major) |
//! | `<b>.passages.f32` | one vector a passage (only with passage vectors) |
//! | `<b>.sentences.hnsw` | `zoek-index` HNSW graph over the sentence vectors (int8 codes), when the segment or the collection is above the HNSW threshold |
//! | `<b>.bm25/` | tantivy index of heading + passage text |
//! | `del-<commit>.u32` | tombstones: the segment's deleted passage ids (`u32`, sorted), if any |
//! | `graph-<commit>.hnsw` | a graph added when the collection outgrew exact search after the segment was written |
//!
//! Binary files start with a 32-byte little-endian header (8 magic bytes, version `u32`,
//! row width `u32`, row count `u64`, 8 reserved bytes). Every file is written to a
//! temporary name and fsynced, and a segment is complete before a manifest names it.

pub(crate) mod array;
pub(crate) mod bits;
pub(crate) mod fs;
pub(crate) mod jsonl;
mod manifest;
pub(crate) mod passages;
pub(crate) mod paths;
mod records;
pub(crate) mod tombstones;

pub use manifest::{
    CollectionManifest, CollectionSettings, Counts, DEFAULT_HNSW_THRESHOLD, DataFiles, FORMAT_NAME,
    FORMAT_VERSION, FileEntry, SEGMENT_FORMAT_NAME, SEGMENT_FORMAT_VERSION, SegmentEntry,
    SegmentManifest,
};
pub use paths::{LOCK_FILE, MANIFEST_FILE, SEGMENT_FILE, STAGING_DIR};
pub use records::{DocEntry, StoredDocument, StoredPassage};
