//! Merging segments: which ones (a [`MergePolicy`]), and how — the live documents of the
//! chosen segments, with their stored text and vectors, go through the same
//! [`SegmentSerializer`] as a new segment (no embedding), and the result takes the place of
//! the first merged segment in one manifest swap.

use serde::Serialize;

use super::{CollectionWriter, WriterSegment};
use crate::error::{QueryError, Result};
use crate::format::{SEGMENT_FILE, SegmentEntry};
use crate::segment::Segment;
use crate::segment::serializer::{NewDocument, SegmentSerializer};

/// Chooses the segments to merge, like tantivy's `MergePolicy`.
pub trait MergePolicy: std::fmt::Debug + Send + Sync {
    /// Indices (into `segments`, the collection's segments in order) of the segments to
    /// merge into one; empty to merge nothing.
    fn select(&self, segments: &[SegmentEntry]) -> Vec<usize>;
}

/// Merges the segments with fewer passages than `small_segment_passages`, once there are
/// `min_small_segments` of them, and every segment with more than `max_deleted_ratio` of
/// its passages deleted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefaultMergePolicy {
    /// Segments below this many passages are small (default 10,000).
    pub small_segment_passages: usize,
    /// Small segments are merged together once there are this many (default 8), so a
    /// question never visits more than that many small segments.
    pub min_small_segments: usize,
    /// Segments with a larger share of deleted passages are rewritten (default 0.2).
    pub max_deleted_ratio: f32,
}

impl Default for DefaultMergePolicy {
    fn default() -> Self {
        Self {
            small_segment_passages: 10_000,
            min_small_segments: 8,
            max_deleted_ratio: 0.2,
        }
    }
}

impl MergePolicy for DefaultMergePolicy {
    fn select(&self, segments: &[SegmentEntry]) -> Vec<usize> {
        let small: Vec<usize> = (0..segments.len())
            .filter(|&i| segments[i].passages < self.small_segment_passages)
            .collect();
        let merge_small = small.len() >= self.min_small_segments.max(2);
        (0..segments.len())
            .filter(|&i| {
                let s = &segments[i];
                (merge_small && small.contains(&i))
                    || s.deleted as f32 > self.max_deleted_ratio * s.passages as f32
            })
            .collect()
    }
}

/// Never merges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoMergePolicy;

impl MergePolicy for NoMergePolicy {
    fn select(&self, _segments: &[SegmentEntry]) -> Vec<usize> {
        Vec::new()
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeStats {
    /// Segments merged away.
    pub merged: Vec<String>,
    /// The segment they became (none when nothing of them was live).
    pub into: Option<String>,
    /// Live passages copied.
    pub passages: usize,
    /// Deleted passages dropped.
    pub reclaimed_passages: usize,
    /// Commit number of the merge.
    pub generation: u64,
}

impl CollectionWriter {
    /// Merges the segments `policy` selects into one, after committing anything staged.
    /// Returns `None` when nothing needed merging.
    pub fn merge(&mut self, policy: &dyn MergePolicy) -> Result<Option<MergeStats>> {
        self.commit()?;
        let entries: Vec<SegmentEntry> = self.segments.iter().map(|s| s.entry.clone()).collect();
        let mut which = policy.select(&entries);
        which.sort_unstable();
        which.dedup();
        which.retain(|&i| i < entries.len());
        self.merge_segments(&which)
    }

    /// Merges every segment into one, dropping deleted passages and reclaiming their
    /// space (`zoek compact`), after committing anything staged. Returns `None` when the
    /// collection already is one segment without deletions.
    pub fn compact(&mut self) -> Result<Option<MergeStats>> {
        self.commit()?;
        let all: Vec<usize> = (0..self.segments.len()).collect();
        if all.len() == 1 && self.segments[0].deleted.is_empty() {
            return Ok(None);
        }
        self.merge_segments(&all)
    }

    /// Copies the live documents of the segments `which` into a new segment and swaps the
    /// manifest: the new segment takes the place of the first merged one, so passage order
    /// (and with it tie-breaking) is kept.
    fn merge_segments(&mut self, which: &[usize]) -> Result<Option<MergeStats>> {
        let Some(&first) = which.first() else {
            return Ok(None);
        };
        let mut serializer =
            SegmentSerializer::new(self.engine.dim(), self.settings.passage_vectors);
        let mut stats = MergeStats::default();
        for &i in which {
            let ws = &self.segments[i];
            stats.merged.push(ws.entry.name.clone());
            stats.reclaimed_passages += ws.deleted.len();
            copy_live(ws, &self.dir.join(&ws.entry.name), &mut serializer)?;
        }
        stats.passages = serializer.passages();
        let merged = if serializer.passages() == 0 {
            None
        } else {
            Some(self.write_segment(serializer, which)?)
        };
        stats.into = merged.as_ref().map(|s| s.entry.name.clone());
        let old = std::mem::take(&mut self.segments);
        let mut merged = merged;
        for (i, s) in old.into_iter().enumerate() {
            if i == first
                && let Some(m) = merged.take()
            {
                self.segments.push(m);
            }
            if !which.contains(&i) {
                self.segments.push(s);
            }
        }
        let entries = self.segments.iter().map(|s| s.entry.clone()).collect();
        let generation = self.generation + 1;
        self.publish(generation, entries)?;
        stats.generation = generation;
        Ok(Some(stats))
    }
}

/// Hands the live documents of one segment, with their passages and vectors, to
/// `serializer`.
fn copy_live(
    ws: &WriterSegment,
    dir: &std::path::Path,
    serializer: &mut SegmentSerializer,
) -> Result<()> {
    let seg = Segment::open(dir)?;
    let stored = seg.stored_documents()?;
    let docs = seg.docs()?;
    if stored.len() != docs.len() {
        return Err(QueryError::corrupt(
            dir.join(SEGMENT_FILE),
            "document store and document table differ in length",
        ));
    }
    let dim = seg.manifest().dim;
    let sentence_vectors = seg.sentence_vectors()?;
    let passage_vectors = seg.passage_vectors()?;
    for (entry, document) in docs.iter().zip(stored) {
        if !ws.is_live(entry) {
            continue;
        }
        let passages = entry
            .passages
            .clone()
            .map(|p| seg.passage(p))
            .collect::<Result<Vec<_>>>()?;
        // A document's sentences and passages are contiguous rows.
        let (Some(first), Some(last)) = (passages.first(), passages.last()) else {
            continue;
        };
        let from = first.first_sentence as usize;
        let to = last.first_sentence as usize + last.sentences.len();
        let rows = sentence_vectors
            .get(from * dim..to * dim)
            .filter(|_| to - from == passages.iter().map(|p| p.sentences.len()).sum::<usize>())
            .ok_or_else(|| {
                QueryError::corrupt(
                    dir,
                    format!("document {:?} has sentences out of range", entry.id),
                )
            })?;
        let range = entry.passages.start as usize * dim..entry.passages.end as usize * dim;
        let own = match passage_vectors {
            Some(v) => Some(v.get(range).ok_or_else(|| {
                QueryError::corrupt(
                    dir,
                    format!("document {:?} has no passage vectors", entry.id),
                )
            })?),
            None => None,
        };
        serializer.add_document(NewDocument {
            document,
            path: entry.path.clone(),
            sha256: entry.sha256.clone(),
            passages,
            sentence_vectors: rows,
            passage_vectors: own,
        })?;
    }
    Ok(())
}
