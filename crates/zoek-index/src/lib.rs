//! An HNSW vector index whose graph and vectors live on disk and open zero-copy
//! through a memory map.
//!
//! * [`write_index`] / [`IndexWriter`] build the graph in parallel (own builder, the
//!   heuristic neighbour selection of hnswlib, layer 0 with `2 * M` links) and write
//!   the file atomically.
//! * [`HnswIndex::open`] maps the file and reads the header and section table only:
//!   constant time whatever the size; pages are faulted in by the queries that touch
//!   them. The index owns its mapping and is `Send + Sync`.
//! * [`HnswIndex::search`], [`HnswIndex::search_filtered`] and
//!   [`HnswIndex::exact_search`] answer queries; [`exact_search`] is the brute-force
//!   ground truth over plain slices.
//!
//! Distances are "lower is better" for every [`Metric`]: cosine `1 - cos`, dot
//! `-(q·x)`, L2 the squared Euclidean distance.
//!
//! ```no_run
//! use std::path::Path;
//! use zoek_index::{HnswIndex, HnswParams, Metric, WriteOptions, write_index};
//!
//! let (dim, ids, vectors) = (4, vec![10u64, 20], vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
//! let path = Path::new("vectors.hnsw");
//! write_index(path, dim, Metric::Cosine, &HnswParams::default(), &ids, &vectors, &WriteOptions::default())?;
//! let index = HnswIndex::open(path)?;
//! let hits = index.search(&[0.9, 0.1, 0.0, 0.0], 1, 64)?;
//! assert_eq!(hits[0].id, 10);
//! # Ok::<(), zoek_index::IndexError>(())
//! ```
//!
//! # File format, version 2
//!
//! Version 2 adds duplicate groups to version 1: identical vectors share one graph node
//! (see [`write_index`]), the header records the node count, and an `id_groups` section
//! maps nodes to their ids. Version 1 files (one id per node) are still read.
//!
//! Little-endian throughout. The file is a 512-byte header followed by sections; every
//! section starts at a multiple of 64 bytes (zero padding between), so with the
//! page-aligned mapping every section can be viewed as `u32`/`u64`/`f32` slices
//! directly; the reader checks that alignment once at open.
//!
//! ## Header (bytes 0..512)
//!
//! | offset | type      | field                                                      |
//! |-------:|-----------|------------------------------------------------------------|
//! | 0      | `[u8; 8]` | magic `ZOEKHNSW`                                           |
//! | 8      | u32       | format version (2; 1 is still read)                        |
//! | 12     | u32       | header length (512)                                        |
//! | 16     | u32       | flags: bit 0 f32 vectors stored, bit 1 int8 codes stored   |
//! | 20     | u32       | metric: 0 cosine, 1 dot, 2 L2                              |
//! | 24     | u32       | dim                                                        |
//! | 28     | u32       | M (upper-layer degree)                                     |
//! | 32     | u32       | M0 (layer-0 degree, `2 * M`)                               |
//! | 36     | u32       | ef_construction (informational)                            |
//! | 40     | u32       | max level                                                  |
//! | 44     | u32       | entry point node number (`u32::MAX` when empty)           |
//! | 48     | u64       | count: number of ids (vectors as written)                  |
//! | 56     | u32       | number of sections (at most 9)                             |
//! | 60     | u32       | CRC-32 of bytes 0..512 with this field zeroed              |
//! | 64     | u64       | total file length (a shorter file is reported truncated)   |
//! | 72     | u64       | nodes: distinct vectors (v2; in v1 reserved, nodes = count) |
//! | 80     | —         | reserved, zero                                             |
//! | 128    | 9 × 32 B  | section table                                              |
//!
//! A section-table row is `kind: u32, reserved: u32, offset: u64, length: u64,
//! crc32: u32, reserved: u32`; length excludes padding, the CRC-32 (IEEE, `crc32fast`)
//! covers exactly `length` bytes.
//!
//! ## Sections
//!
//! Nodes are numbered `0..nodes` in order of their vector's first appearance in the
//! input; links hold node numbers (u32), and an unused slot holds `u32::MAX`. Per-node
//! sections (`level0`, `upper_offsets`, vectors, int8 norms and codes) have `nodes`
//! rows; `ids` has `count`.
//!
//! | kind | name            | contents                                                                        |
//! |-----:|-----------------|---------------------------------------------------------------------------------|
//! | 1    | `ids`           | `count` × u64 external ids, grouped by node (one per node without `id_groups`) |
//! | 2    | `level0`        | `nodes` rows of `1 + M0` u32: link count, then `M0` slots                      |
//! | 3    | `upper_offsets` | `nodes + 1` × u32 CSR offsets (in u32 units) into `upper_links`                |
//! | 4    | `upper_links`   | per node, one row of `1 + M` u32 (count, slots) for each level 1..=level      |
//! | 5    | `vectors_f32`   | `nodes × dim` f32, row-major (unit length under cosine)                        |
//! | 6    | `sq8_params`    | `dim` f32 minima, then `dim` f32 steps of the int8 quantiser                   |
//! | 7    | `sq8_norms`     | `nodes` × f32: squared norm of each decoded int8 vector (for L2)              |
//! | 8    | `sq8_codes`     | `nodes × dim` u8 codes, `x ≈ min[d] + step[d] * code`                          |
//! | 9    | `id_groups`     | `nodes + 1` × u32: node `i` owns `ids[g[i]..g[i + 1]]` (only if `nodes < count`) |
//!
//! A node's level is `(upper_offsets[i+1] - upper_offsets[i]) / (M + 1)`. Sections
//! 1–4 are always present; 5 when flag bit 0 is set; 6–8 when bit 1 is set; 9 when
//! some node holds more than one id. The writer
//! puts the f32 vectors last so that, with int8 search and f32 rescoring, the cold
//! f32 block sits at the end of the file.
//!
//! ## Integrity
//!
//! `open` checks magic, version, header CRC, file length, and each section's bounds,
//! alignment and expected length: O(1). Section CRCs and graph invariants are checked
//! by [`HnswIndex::verify`] (reads everything). Searches bounds-check every link and
//! vector access, so damage that only `verify` can see gives wrong results, never
//! undefined behaviour or a panic. Files are written to a temporary name with a zeroed
//! header, the header is written last, then fsync and rename: a crash leaves no file
//! at the target path that opens.

#![warn(missing_docs)]
// Libraries log through `tracing`; only their unit tests may print.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

mod builder;
mod distance;
mod error;
mod exact;
mod format;
mod graph_search;
mod metric;
mod quant;
mod reader;
mod serializer;
pub mod texmex;
mod visited;
mod writer;

pub use error::IndexError;
pub use exact::exact_search;
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use metric::{Metric, Neighbor};
pub use reader::{HnswIndex, IdFilter};
pub use writer::{HnswParams, IndexStats, IndexWriter, Quantization, WriteOptions, write_index};

/// Name of the SIMD kernel set selected for this CPU (`avx512`, `avx2` or
/// `portable`; set `ZOEK_INDEX_NO_SIMD` to force `portable`).
pub fn simd_kernels() -> &'static str {
    distance::Kernels::get().name
}

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
