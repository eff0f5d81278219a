//! The manifests. A collection directory holds `manifest.json` ([`CollectionManifest`]):
//! its model and [`CollectionSettings`], its segments in order and each segment's current
//! tombstone file. It is replaced atomically (temporary file, fsync, rename, directory
//! fsync), so a reader always sees one committed state. Each segment directory holds
//! `segment.json` ([`SegmentManifest`]): what was built into it, with which model and
//! settings, and every data file with its size and checksum. Segment files never change
//! once committed.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::Language;

use super::fs::{sha256_file, write_atomic};
use super::paths::{MANIFEST_FILE, SEGMENT_FILE};
use crate::error::{QueryError, Result, io_err};
use crate::text::{Chunking, InputFile, SentenceVectors, SkippedFile};

/// Value of [`CollectionManifest::format`].
pub const FORMAT_NAME: &str = "zoek-collection";
/// The collection format version this build writes and reads. Version 1 was a single build
/// in the collection directory; it is refused with a message to rebuild.
pub const FORMAT_VERSION: u32 = 2;
/// Value of [`SegmentManifest::format`].
pub const SEGMENT_FORMAT_NAME: &str = "zoek-segment";
/// The segment format version this build writes and reads.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Default of [`CollectionSettings::hnsw_threshold`]: on PolicyQA (10,704 sentences) the
/// graph gives the same answers as the exact scan at under a third of its search time
/// (0.30 against 1.02 ms); below 10,000 sentences the scan costs under a millisecond and is
/// exact.
pub const DEFAULT_HNSW_THRESHOLD: usize = 10_000;
/// A segment smaller than this many sentences gets an HNSW graph only when the collection
/// as a whole is above the threshold; tiny segments are always scanned exactly.
const MIN_GRAPH_SENTENCES: usize = 1024;

/// What every segment of a collection shares, fixed when the collection is created and
/// recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionSettings {
    /// Corpus language for BM25 stemming and stop words.
    pub language: Language,
    /// How documents are cut into passages.
    pub chunking: Chunking,
    /// Whether passages also get their own vector.
    pub passage_vectors: bool,
    /// Collections with at least this many sentences are searched through HNSW graphs.
    #[serde(default = "default_hnsw_threshold")]
    pub hnsw_threshold: usize,
    /// How sentence vectors are made; collections older than this setting embedded each
    /// sentence on its own.
    #[serde(default)]
    pub sentence_vectors: SentenceVectors,
    /// Whether the document title and section heading are embedded in front of each
    /// passage; older collections did not.
    #[serde(default)]
    pub context_headers: bool,
}

fn default_hnsw_threshold() -> usize {
    DEFAULT_HNSW_THRESHOLD
}

impl CollectionSettings {
    /// Whether a new segment of `sentences` gets an HNSW graph, next to `others` sentences
    /// in the rest of the collection.
    pub(crate) fn segment_gets_graph(&self, sentences: usize, others: usize) -> bool {
        sentences >= self.hnsw_threshold
            || (others + sentences >= self.hnsw_threshold && sentences >= MIN_GRAPH_SENTENCES)
    }

    /// Whether an existing segment of `sentences` without a graph should get one, in a
    /// collection of `total` sentences.
    pub(crate) fn segment_needs_late_graph(&self, sentences: usize, total: usize) -> bool {
        total >= self.hnsw_threshold && sentences >= MIN_GRAPH_SENTENCES
    }
}

/// Counts of the built collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Documents with at least one passage.
    pub documents: usize,
    /// Passages.
    pub passages: usize,
    /// Sentences (one vector each).
    pub sentences: usize,
}

/// A data file of the collection with its size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the collection directory.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// Names of the collection's data files (relative to its directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFiles {
    /// Cleaned documents, JSON lines.
    pub documents: String,
    /// Passages, JSON lines.
    pub passages: String,
    /// Byte offsets of the passage lines.
    pub passage_offsets: String,
    /// Sentence → passage map.
    pub sentence_passages: String,
    /// One vector per sentence.
    pub sentence_vectors: String,
    /// One vector per passage, if built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_vectors: Option<String>,
    /// HNSW graph over the sentence vectors, if the collection is large enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<String>,
    /// Tantivy BM25 index directory.
    pub bm25: String,
    /// Document table: one [`DocEntry`](super::DocEntry) a line.
    pub doc_table: String,
}

/// The manifest of one segment (`segment.json` in its directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentManifest {
    /// Always [`SEGMENT_FORMAT_NAME`].
    pub format: String,
    /// Segment format version.
    pub format_version: u32,
    /// Unique id of the build that wrote the segment; prefixes its data files. (Stored as
    /// `generation` for compatibility; a collection's generation is its commit number.)
    #[serde(rename = "generation")]
    pub build_id: String,
    /// Fingerprint of the embedding model.
    pub model_id: String,
    /// Vector dimension.
    pub dim: usize,
    /// Corpus language for BM25 stemming and stop words.
    pub language: Language,
    /// How documents were cut into passages.
    pub chunking: Chunking,
    /// Counts.
    pub counts: Counts,
    /// Data file names.
    pub data: DataFiles,
    /// Every data file with size and checksum (BM25 files individually).
    pub files: Vec<FileEntry>,
    /// Input files that were read, with checksums.
    pub inputs: Vec<InputFile>,
    /// Input files or records that were skipped.
    pub skipped: Vec<SkippedFile>,
    /// Build time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// The sum of the segment's sentence vectors, one value per dimension: what the
    /// collection's centroid is summed from (see `AskOptions::centering`). `None` in
    /// segments written before zoek recorded it; a merge writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence_sum: Option<Vec<f64>>,
}

/// Reads `dir/file` as JSON of format `format`, version `version`.
fn read_versioned(dir: &Path, file: &str, format: &str, version: u32) -> Result<serde_json::Value> {
    if !dir.is_dir() {
        return Err(QueryError::MissingCollection {
            dir: dir.to_path_buf(),
            reason: "directory does not exist".into(),
        });
    }
    let path = dir.join(file);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(QueryError::MissingCollection {
                dir: dir.to_path_buf(),
                reason: format!("no {file}"),
            });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| QueryError::corrupt(&path, format!("not valid JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(format) {
        return Err(QueryError::corrupt(
            path,
            format!("not a {format} manifest"),
        ));
    }
    let found = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if found != u64::from(version) {
        return Err(QueryError::UnsupportedVersion {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: version,
        });
    }
    Ok(value)
}

fn inside(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// One segment as listed in the collection manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Directory name of the segment (`seg-000007`).
    pub name: String,
    /// Documents written into it.
    pub documents: usize,
    /// Passages written into it (live and deleted).
    pub passages: usize,
    /// Sentences written into it.
    pub sentences: usize,
    /// Deleted passages.
    pub deleted: usize,
    /// The current tombstone file, relative to the collection directory, if any passage is
    /// deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tombstones: Option<String>,
    /// Whether it has an HNSW graph (otherwise it is scanned exactly).
    pub hnsw: bool,
    /// An HNSW graph written after the segment, relative to the collection directory: a
    /// segment written while the collection was small gets one when the collection outgrows
    /// exact search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<String>,
}

impl SegmentEntry {
    /// The entry of a newly written segment `name`: nothing deleted, no late graph.
    pub(crate) fn new(name: String, segment: &SegmentManifest) -> Self {
        Self {
            name,
            documents: segment.counts.documents,
            passages: segment.counts.passages,
            sentences: segment.counts.sentences,
            deleted: 0,
            tombstones: None,
            hnsw: segment.data.hnsw.is_some(),
            graph: None,
        }
    }
}

/// The manifest of a collection (`manifest.json`): settings shared by every segment and the
/// segments of the current commit, in order. Passage ids of a snapshot are assigned in this
/// order (the first segment's passages first), and merges keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionManifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Collection format version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Commit number; every commit increments it.
    pub generation: u64,
    /// Number for the next segment directory.
    pub next_segment: u64,
    /// Fingerprint of the embedding model.
    pub model_id: String,
    /// Vector dimension.
    pub dim: usize,
    /// What every segment shares.
    #[serde(flatten)]
    pub settings: CollectionSettings,
    /// The segments, in order.
    pub segments: Vec<SegmentEntry>,
    /// Commit time, seconds since the Unix epoch.
    pub committed_unix: u64,
    /// Runs of segments built elsewhere that were attached
    /// ([`CollectionWriter::attach`](crate::CollectionWriter::attach)); attaching one again
    /// is a no-op.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
}

impl CollectionManifest {
    /// Reads and validates the manifest of the collection in `dir`.
    ///
    /// Errors: [`QueryError::MissingCollection`], [`QueryError::Corrupt`],
    /// [`QueryError::UnsupportedVersion`] (a version 1 collection must be rebuilt).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let value = read_versioned(dir, MANIFEST_FILE, FORMAT_NAME, FORMAT_VERSION)?;
        let manifest: CollectionManifest =
            serde_json::from_value(value).map_err(|e| QueryError::corrupt(&path, e.to_string()))?;
        for s in &manifest.segments {
            let names = std::iter::once(&s.name)
                .chain(s.tombstones.as_ref())
                .chain(s.graph.as_ref());
            for name in names {
                if !inside(name) {
                    return Err(QueryError::corrupt(
                        &path,
                        format!("name {name:?} leaves the collection directory"),
                    ));
                }
            }
        }
        Ok(manifest)
    }

    /// Writes the manifest atomically into `dir`: temporary file, fsync, rename, directory
    /// fsync. This is the commit point of every change.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|source| QueryError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, |w| w.write_all(&json))
    }

    /// Live passages over all segments.
    pub fn live_passages(&self) -> usize {
        self.segments.iter().map(|s| s.passages - s.deleted).sum()
    }
}

impl SegmentManifest {
    /// Reads and validates the manifest of the segment in `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(SEGMENT_FILE);
        let value = read_versioned(
            dir,
            SEGMENT_FILE,
            SEGMENT_FORMAT_NAME,
            SEGMENT_FORMAT_VERSION,
        )?;
        let manifest: SegmentManifest =
            serde_json::from_value(value).map_err(|e| QueryError::corrupt(&path, e.to_string()))?;
        manifest.check_names(&path)?;
        manifest.check_sum(&path)?;
        manifest.check_files(dir)?;
        Ok(manifest)
    }

    /// A sentence sum has one finite value per dimension.
    fn check_sum(&self, manifest_path: &Path) -> Result<()> {
        match &self.sentence_sum {
            Some(sum) if sum.len() != self.dim || !sum.iter().all(|x| x.is_finite()) => {
                Err(QueryError::corrupt(
                    manifest_path,
                    format!(
                        "sentence_sum needs {} finite values, has {}",
                        self.dim,
                        sum.len()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Data files must lie inside the collection directory: a manifest naming `../x` or an
    /// absolute path is corrupt, not something to follow.
    fn check_names(&self, manifest_path: &Path) -> Result<()> {
        let names = self
            .data
            .names()
            .chain(self.files.iter().map(|f| f.name.as_str()));
        for name in names {
            if !inside(name) {
                return Err(QueryError::corrupt(
                    manifest_path,
                    format!("data file name {name:?} leaves the collection directory"),
                ));
            }
        }
        Ok(())
    }

    /// Checks that every listed file exists with its recorded size (cheap; see
    /// [`SegmentManifest::verify_checksums`] for the full check).
    fn check_files(&self, dir: &Path) -> Result<()> {
        for f in &self.files {
            let path = dir.join(&f.name);
            let len = std::fs::metadata(&path)
                .map(|m| m.len())
                .map_err(|_| QueryError::corrupt(&path, "listed in the manifest but missing"))?;
            if len != f.bytes {
                return Err(QueryError::corrupt(
                    path,
                    format!("{len} bytes, manifest says {}", f.bytes),
                ));
            }
        }
        Ok(())
    }

    /// Recomputes every data file's SHA-256 and compares it with the manifest.
    pub fn verify_checksums(&self, dir: &Path) -> Result<()> {
        for f in &self.files {
            let path = dir.join(&f.name);
            let sum = sha256_file(&path)?;
            if sum != f.sha256 {
                return Err(QueryError::corrupt(path, "checksum mismatch"));
            }
        }
        Ok(())
    }
}
