//! Reading a collection: [`Collection`] is a snapshot of one manifest over all its
//! segments, opened through memory maps; asking it questions is in `ask`.
//!
//! | module | holds |
//! |---|---|
//! | this one | [`Collection`]: open, refresh, passages, documents, stats, verify |
//! | `ask` | [`AskOptions`], [`RankMode`], [`Answer`], [`Hit`]; candidates from every segment, fused once |
//! | `centroid` | [`Centroid`]: the collection's mean direction, subtracted from questions against hub sentences |
//! | `fusion` | ranking math independent of storage: merging shards' candidate lists, the hybrid blend, reciprocal rank fusion |
//! | `shard` | one question over several collections: the three phases' types, [`Shard`](shard::Shard), [`ShardedCollection`](shard::ShardedCollection) |

mod ask;
mod centroid;
mod fusion;
pub mod shard;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use ask::{
    Answer, AskOptions, DEFAULT_CENTERING, DEFAULT_DEMOTE_QUESTIONS, DEFAULT_DOC_PRIOR,
    DEFAULT_MAX_QUESTION_BYTES, DOC_PRIOR_PASSAGES, Hit, RankMode, Timings,
};
pub use centroid::Centroid;

use crate::error::{QueryError, Result};
use crate::format::bits::Bits;
use crate::format::{CollectionManifest, DocEntry, StoredPassage, tombstones};
use crate::segment::Segment;

/// One segment of a snapshot: the shared, immutable segment plus this commit's view of it.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    /// The graph file written after the segment, if any.
    graph: Option<String>,
    segment: Arc<Segment>,
    /// Live passages; `None` when none is deleted.
    live: Option<Arc<Bits>>,
    deleted: usize,
    /// Global id of its first passage.
    base: u32,
}

/// A collection opened for asking: a snapshot of the manifest at open (or at the last
/// [`Collection::refresh`]). Every segment's files are mapped and its BM25 searcher created
/// at open, so a writer adding, deleting or merging meanwhile never disturbs the snapshot.
///
/// Passage ids ([`Hit::passage`], [`Collection::passage`]) are global to the snapshot: the
/// segments' passages in manifest order. They change when segments are merged.
#[derive(Debug, Clone)]
pub struct Collection {
    dir: PathBuf,
    manifest: CollectionManifest,
    parts: Vec<Part>,
    total: u32,
    /// The sum of every segment's sentence vectors; `None` when a segment predates it.
    centroid: Option<Centroid>,
}

/// Passages, tombstones and bytes of one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentStats {
    /// Directory name.
    pub name: String,
    /// Documents written into it.
    pub documents: usize,
    /// Passages written into it.
    pub passages: usize,
    /// Passages not deleted.
    pub live_passages: usize,
    /// Deleted passages (tombstones).
    pub tombstones: usize,
    /// Sentences (vectors).
    pub sentences: usize,
    /// Whether it is searched through an HNSW graph.
    pub hnsw: bool,
    /// Bytes of its files on disk.
    pub bytes: u64,
}

/// What a collection holds, per segment and in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionStats {
    /// Commit number of the snapshot.
    pub generation: u64,
    /// The segments, in order.
    pub segments: Vec<SegmentStats>,
    /// Live documents.
    pub live_documents: usize,
    /// Passages over all segments.
    pub passages: usize,
    /// Passages not deleted.
    pub live_passages: usize,
    /// Deleted passages not yet merged away.
    pub tombstones: usize,
    /// Bytes of all segment files.
    pub bytes: u64,
}

impl Collection {
    /// Opens the collection in `dir`.
    ///
    /// Errors: [`QueryError::MissingCollection`] if `dir` or its manifest is missing,
    /// [`QueryError::Corrupt`] if the manifest or a data file is damaged,
    /// [`QueryError::UnsupportedVersion`] for another format version (a version 1 collection
    /// must be rebuilt with `zoek index`).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_reusing(dir.as_ref(), &[])
    }

    /// Opens the newest manifest, reusing already opened segments. A merge may remove a
    /// segment between reading the manifest and opening it; then the manifest has changed
    /// and the open is retried.
    fn open_reusing(dir: &Path, known: &[Part]) -> Result<Self> {
        let mut attempts = 0;
        loop {
            let manifest = CollectionManifest::read(dir)?;
            let generation = manifest.generation;
            match Self::open_manifest(dir, manifest, known) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    attempts += 1;
                    let changed =
                        CollectionManifest::read(dir).is_ok_and(|m| m.generation != generation);
                    if attempts >= 20 || !changed {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "manifest changed while opening; retrying");
                }
            }
        }
    }

    fn open_manifest(dir: &Path, manifest: CollectionManifest, known: &[Part]) -> Result<Self> {
        let mut parts = Vec::with_capacity(manifest.segments.len());
        let mut total: u32 = 0;
        for entry in &manifest.segments {
            let known = known
                .iter()
                .find(|p| p.name == entry.name && p.graph == entry.graph);
            let segment = match known {
                Some(p) => p.segment.clone(),
                None => {
                    let graph = entry.graph.as_ref().map(|g| dir.join(g));
                    Arc::new(Segment::open_with_graph(
                        &dir.join(&entry.name),
                        graph.as_deref(),
                    )?)
                }
            };
            let corrupt = |reason: String| QueryError::corrupt(dir.join(&entry.name), reason);
            if segment.len() != entry.passages {
                return Err(corrupt(format!(
                    "{} passages, the collection manifest says {}",
                    segment.len(),
                    entry.passages
                )));
            }
            if segment.manifest().model_id != manifest.model_id
                || segment.manifest().dim != manifest.dim
            {
                return Err(corrupt(
                    "built with another model than the collection".into(),
                ));
            }
            let (live, deleted) = match &entry.tombstones {
                Some(file) => {
                    let live = tombstones::read_live(&dir.join(file), segment.len())?;
                    let deleted = segment.len() - live.count();
                    (Some(Arc::new(live)), deleted)
                }
                None => (None, 0),
            };
            parts.push(Part {
                name: entry.name.clone(),
                graph: entry.graph.clone(),
                segment,
                live,
                deleted,
                base: total,
            });
            total = u32::try_from(entry.passages)
                .ok()
                .and_then(|n| total.checked_add(n))
                .ok_or_else(|| corrupt("more than 2^32 passages in the collection".into()))?;
        }
        // Only when every segment recorded its sum: a partial centroid would be another one.
        let sums: Option<Vec<Centroid>> = parts
            .iter()
            .map(|p| {
                let sum = p.segment.manifest().sentence_sum.clone()?;
                Some(Centroid {
                    sum,
                    sentences: p.segment.sentences() as u64,
                })
            })
            .collect();
        let centroid = match sums {
            Some(sums) => Centroid::sum(&sums)?,
            None => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            parts,
            total,
            centroid,
        })
    }

    /// Picks up the newest committed state, if a writer committed since this snapshot was
    /// taken; segments both snapshots share are not reopened. Returns whether it changed.
    pub fn refresh(&mut self) -> Result<bool> {
        let manifest = CollectionManifest::read(&self.dir)?;
        if manifest.generation == self.manifest.generation {
            return Ok(false);
        }
        *self = Self::open_reusing(&self.dir, &self.parts)?;
        Ok(true)
    }

    /// The collection directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest of the snapshot.
    pub fn manifest(&self) -> &CollectionManifest {
        &self.manifest
    }

    /// Commit number of the snapshot.
    pub fn generation(&self) -> u64 {
        self.manifest.generation
    }

    /// The snapshot's segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.parts.iter().map(|p| p.segment.as_ref())
    }

    /// Number of live passages.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.segment.len() - p.deleted).sum()
    }

    /// True if the collection has no live passage.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum of the snapshot's sentence vectors, which questions are centred on (see
    /// [`AskOptions::centering`]); `None` for an empty collection or one with a segment
    /// written before zoek recorded it (merging, or building again, adds it).
    pub fn centroid(&self) -> Option<&Centroid> {
        self.centroid.as_ref()
    }

    /// Whether any segment is searched through an HNSW index rather than an exact scan.
    pub fn uses_hnsw(&self) -> bool {
        self.parts.iter().any(|p| p.segment.uses_hnsw())
    }

    fn locate(&self, id: u32) -> Option<(&Part, u32)> {
        let i = self
            .parts
            .partition_point(|p| p.base <= id)
            .checked_sub(1)?;
        let part = &self.parts[i];
        let local = id - part.base;
        ((local as usize) < part.segment.len()).then_some((part, local))
    }

    fn part_of(&self, id: u32) -> Result<(&Part, u32)> {
        self.locate(id)
            .ok_or_else(|| QueryError::corrupt(&self.dir, format!("passage {id} out of range")))
    }

    /// Reads passage `id` (a global id of this snapshot; deleted passages can still be read).
    pub fn passage(&self, id: u32) -> Result<StoredPassage> {
        let (part, local) = self.part_of(id)?;
        part.segment.passage(local)
    }

    /// Whether passage `id` is live (exists and is not deleted) in this snapshot.
    pub fn is_live(&self, id: u32) -> bool {
        self.locate(id)
            .is_some_and(|(p, local)| p.live.as_ref().is_none_or(|l| l.get(u64::from(local))))
    }

    /// Global ids of the live passages, in order.
    pub fn live_passages(&self) -> Vec<u32> {
        (0..self.total).filter(|&id| self.is_live(id)).collect()
    }

    /// The live documents with their content hashes, in segment order.
    pub fn live_documents(&self) -> Result<Vec<DocEntry>> {
        let mut out = Vec::new();
        for p in &self.parts {
            for d in p.segment.docs()? {
                let live = p
                    .live
                    .as_ref()
                    .is_none_or(|l| l.get(u64::from(d.passages.start)));
                if live && !d.passages.is_empty() {
                    out.push(d.clone());
                }
            }
        }
        Ok(out)
    }

    /// Segments, passages, tombstones and bytes.
    pub fn stats(&self) -> Result<CollectionStats> {
        let mut segments = Vec::new();
        for (p, e) in self.parts.iter().zip(&self.manifest.segments) {
            let tombstone_bytes = e
                .tombstones
                .as_ref()
                .and_then(|f| std::fs::metadata(self.dir.join(f)).ok())
                .map_or(0, |m| m.len());
            segments.push(SegmentStats {
                name: p.name.clone(),
                documents: p.segment.manifest().counts.documents,
                passages: p.segment.len(),
                live_passages: p.segment.len() - p.deleted,
                tombstones: p.deleted,
                sentences: p.segment.sentences(),
                hnsw: p.segment.uses_hnsw(),
                bytes: p.segment.bytes() + tombstone_bytes,
            });
        }
        Ok(CollectionStats {
            generation: self.generation(),
            live_documents: self.live_documents()?.len(),
            passages: segments.iter().map(|s| s.passages).sum(),
            live_passages: segments.iter().map(|s| s.live_passages).sum(),
            tombstones: segments.iter().map(|s| s.tombstones).sum(),
            bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
        })
    }

    /// Checks everything the snapshot reads: every segment's data files against their
    /// recorded sizes and SHA-256, HNSW graphs (late ones included) against their section
    /// checksums and invariants, BM25 files against their footers, and tombstone files
    /// against the manifest. Reads every byte, so it takes as long as reading the
    /// collection; opening checks only sizes and headers.
    ///
    /// Errors: [`QueryError::Corrupt`] naming the first damaged file.
    pub fn verify(&self) -> Result<()> {
        for (p, entry) in self.parts.iter().zip(&self.manifest.segments) {
            p.segment.verify()?;
            if let Some(file) = &entry.tombstones {
                let path = self.dir.join(file);
                let deleted = tombstones::read(&path, p.segment.len())?;
                let sorted = deleted.windows(2).all(|w| w[0] < w[1]);
                if !sorted || deleted.len() != entry.deleted {
                    return Err(QueryError::corrupt(
                        path,
                        format!(
                            "{} deleted passages (sorted: {sorted}), the manifest says {}",
                            deleted.len(),
                            entry.deleted
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
