//! Changing a collection: [`CollectionWriter`] adds documents as new segments, records
//! deletions as tombstones, merges segments, and publishes each change by swapping the
//! collection manifest atomically. One writer at a time, enforced by an exclusive lock on
//! `writer.lock` (an OS file lock, released when the process dies).
//!
//! Crash safety: a new segment and new tombstone files are written and fsynced before the
//! manifest that names them is renamed into place, and nothing the current manifest names
//! is ever modified or removed; files no manifest names any more (segments replaced by a
//! merge, older tombstone files, leftovers of a crashed writer) are removed only after the
//! swap, and by the next writer to open the collection.
//!
//! ```
//! use zoek_query::{BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, TokenCounting};
//!
//! # fn main() -> zoek_query::Result<()> {
//! let docs = tempfile::tempdir().unwrap();
//! let index = tempfile::tempdir().unwrap();
//! std::fs::write(docs.path().join("a.txt"), "De vos leeft in het bos.").unwrap();
//! std::fs::write(docs.path().join("b.txt"), "De otter leeft in de rivier.").unwrap();
//! let engine = Engine::new(HashEmbedder::default());
//! let opts = BuildOptions { token_counting: TokenCounting::CharEstimate, ..BuildOptions::default() };
//!
//! let mut writer = CollectionWriter::open(index.path(), &engine, &opts)?;
//! writer.add(&[docs.path()])?;
//! writer.commit()?;
//! let mut reader = Collection::open(index.path())?;
//! assert_eq!(reader.ask(&engine, "waar leeft de otter?", 1)?.hits[0].doc, "b.txt");
//!
//! writer.delete(&["b.txt"])?;
//! writer.commit()?;
//! // The snapshot still has the otter until it refreshes.
//! assert_eq!(reader.live_documents()?.len(), 2);
//! reader.refresh()?;
//! assert!(reader.ask(&engine, "waar leeft de otter?", 5)?.hits.iter().all(|h| h.doc != "b.txt"));
//! assert!(matches!(
//!     CollectionWriter::open(index.path(), &engine, &opts),
//!     Err(zoek_query::QueryError::WriterLocked { .. })
//! ));
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::build::{
    BuildOptions, Prepared, SegmentData, Shape, TokenCounting, embed_prepared, prepare, unix_now,
    write_segment,
};
use crate::collection::Engine;
use crate::error::{QueryError, Result, io_err};
use crate::index_segment::Segment;
use crate::ingest::{RawDocument, SkippedFile, read_corpus};
use crate::manifest::{
    CollectionManifest, FORMAT_NAME, FORMAT_VERSION, SEGMENT_FILE, SegmentEntry, SegmentManifest,
};
use crate::store::{DocEntry, MAGIC_VECTORS, MappedArray, sync_tree};
use crate::tombstones;
use crate::vectors::write_hnsw;

/// Name of the lock file in a collection directory.
pub const LOCK_FILE: &str = "writer.lock";
/// Prefix of segment directory names.
const SEGMENT_PREFIX: &str = "seg-";
/// A segment smaller than this many sentences gets an HNSW graph only when the collection
/// as a whole is above the threshold; tiny segments are always scanned exactly.
const MIN_GRAPH_SENTENCES: usize = 1024;

/// What [`CollectionWriter::add`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AddStats {
    /// New documents.
    pub added: usize,
    /// Documents whose content changed: the old version is deleted, the new one added.
    pub updated: usize,
    /// Documents whose content hash was unchanged: nothing done.
    pub unchanged: usize,
    /// Documents of a re-read file that the file no longer holds: deleted.
    pub removed: usize,
    /// Documents written into the new segment.
    pub documents: usize,
    /// Passages written into the new segment.
    pub passages: usize,
    /// Sentences embedded.
    pub sentences: usize,
    /// Lines and blocks dropped as boilerplate.
    pub dropped_blocks: usize,
    /// Files or records skipped, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// The new segment, if any passage was added.
    pub segment: Option<String>,
    /// Whether the new segment got an HNSW graph.
    pub hnsw: bool,
    /// Time spent embedding.
    #[serde(skip)]
    pub embed_time: Duration,
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

/// When [`CollectionWriter::merge`] merges: the segments with fewer passages than
/// `small_segment_passages`, once there are `min_small_segments` of them, and every segment
/// with more than `max_deleted_ratio` of its passages deleted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergePolicy {
    /// Segments below this many passages are small (default 10,000).
    pub small_segment_passages: usize,
    /// Small segments are merged together once there are this many (default 8), so a
    /// question never visits more than that many small segments.
    pub min_small_segments: usize,
    /// Segments with a larger share of deleted passages are rewritten (default 0.2).
    pub max_deleted_ratio: f32,
}

impl Default for MergePolicy {
    fn default() -> Self {
        Self {
            small_segment_passages: 10_000,
            min_small_segments: 8,
            max_deleted_ratio: 0.2,
        }
    }
}

#[derive(Debug)]
struct WriterSegment {
    entry: SegmentEntry,
    docs: Vec<DocEntry>,
    deleted: BTreeSet<u32>,
    /// Deletions not yet written to a tombstone file.
    changed: bool,
}

impl WriterSegment {
    fn is_live(&self, doc: &DocEntry) -> bool {
        !doc.passages.is_empty() && !self.deleted.contains(&doc.passages.start)
    }
}

/// The one writer of a collection. Changes are invisible until [`CollectionWriter::commit`];
/// readers ([`Collection`](crate::Collection)) keep answering from their snapshot
/// throughout and see a commit after [`Collection::refresh`](crate::Collection::refresh).
///
/// Documents are identified by id (the path relative to the input directory, or the
/// `id` field of a JSON-lines record); ids are unique in a collection.
pub struct CollectionWriter {
    dir: PathBuf,
    _lock: File,
    engine: Engine,
    opts: BuildOptions,
    shape: Shape,
    generation: u64,
    next_segment: u64,
    segments: Vec<WriterSegment>,
    dirty: bool,
}

impl std::fmt::Debug for CollectionWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionWriter")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("segments", &self.segments.len())
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(QueryError::WriterLocked {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

fn token_counting(name: &str) -> TokenCounting {
    if name == "model" {
        TokenCounting::Model
    } else {
        TokenCounting::CharEstimate
    }
}

impl CollectionWriter {
    /// Opens the collection in `dir` for writing, creating the directory if needed (the
    /// collection itself appears at the first commit). For an existing collection the
    /// settings it records (chunking, language, cleaning, passage vectors, HNSW threshold)
    /// are the collection's, not `opts`'s; `opts` supplies the rest (HNSW construction
    /// parameters, batch size, progress).
    ///
    /// Errors: [`QueryError::WriterLocked`] while another writer, in this process or
    /// another, has the collection open; [`QueryError::ModelMismatch`];
    /// [`QueryError::UnsupportedVersion`] for a version 1 collection.
    pub fn open(dir: impl AsRef<Path>, engine: &Engine, opts: &BuildOptions) -> Result<Self> {
        let mut writer = Self::locked(dir.as_ref(), engine, opts)?;
        match CollectionManifest::read(&writer.dir) {
            Ok(m) => writer.load(m)?,
            Err(QueryError::MissingCollection { .. }) => {
                writer.next_segment = writer.highest_segment_on_disk() + 1;
            }
            Err(e) => return Err(e),
        }
        writer.collect_garbage();
        Ok(writer)
    }

    /// An empty writer holding the lock on `dir` (created if missing), before any
    /// manifest is read.
    fn locked(dir: &Path, engine: &Engine, opts: &BuildOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = lock(dir)?;
        Ok(Self {
            shape: Shape::from_options(opts),
            dir: dir.to_path_buf(),
            _lock: lock,
            engine: engine.clone(),
            opts: opts.clone(),
            generation: 0,
            next_segment: 1,
            segments: Vec::new(),
            dirty: false,
        })
    }

    /// Opens an existing collection for deleting and merging only, without loading a model
    /// (merges copy vectors; they never embed). [`CollectionWriter::add`] then fails with
    /// [`QueryError::InvalidOption`]. Errors as [`CollectionWriter::open`], and
    /// [`QueryError::MissingCollection`] when there is no collection in `dir`.
    pub fn open_without_model(dir: impl AsRef<Path>, opts: &BuildOptions) -> Result<Self> {
        let manifest = CollectionManifest::read(dir.as_ref())?;
        let engine = Engine::new(NoModel {
            model_id: manifest.model_id,
            dim: manifest.dim,
        });
        Self::open(dir, &engine, opts)
    }

    /// Opens `dir` for a full rebuild: whatever collection is there (of any version) is
    /// replaced by what is added before the next commit.
    pub(crate) fn create_replacing(
        dir: &Path,
        engine: &Engine,
        opts: &BuildOptions,
    ) -> Result<Self> {
        let mut writer = Self::locked(dir, engine, opts)?;
        writer.dirty = true;
        if let Ok(m) = CollectionManifest::read(dir) {
            writer.generation = m.generation;
        }
        writer.next_segment = writer.highest_segment_on_disk() + 1;
        Ok(writer)
    }

    fn load(&mut self, m: CollectionManifest) -> Result<()> {
        if m.model_id != self.engine.model_id() {
            return Err(QueryError::ModelMismatch {
                collection: m.model_id,
                engine: self.engine.model_id().to_string(),
            });
        }
        self.shape = Shape {
            max_tokens: m.chunking.max_tokens,
            language: m.language,
            clean: m.chunking.clean,
            token_counting: token_counting(&m.chunking.token_counter),
            passage_vectors: m.passage_vectors,
        };
        self.opts.hnsw_threshold = m.hnsw_threshold;
        self.generation = m.generation;
        self.next_segment = m.next_segment.max(self.highest_segment_on_disk() + 1);
        for entry in m.segments {
            let seg_dir = self.dir.join(&entry.name);
            let seg = SegmentManifest::read(&seg_dir)?;
            let table = seg_dir.join(&seg.data.doc_table);
            let text = std::fs::read(&table).map_err(io_err(&table))?;
            let docs = text
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    serde_json::from_slice(l).map_err(|source| QueryError::Json {
                        path: table.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<DocEntry>>>()?;
            let deleted = match &entry.tombstones {
                Some(f) => tombstones::read(&self.dir.join(f), entry.passages)?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            };
            self.segments.push(WriterSegment {
                entry,
                docs,
                deleted,
                changed: false,
            });
        }
        Ok(())
    }

    fn highest_segment_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix(SEGMENT_PREFIX)?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    }

    /// The collection directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last committed generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether there are changes not yet committed.
    pub fn has_pending_changes(&self) -> bool {
        self.dirty
    }

    /// Live documents (committed or pending) by id: segment and document index.
    fn live_index(&self) -> HashMap<String, (usize, usize)> {
        let mut out = HashMap::new();
        for (s, seg) in self.segments.iter().enumerate() {
            for (d, doc) in seg.docs.iter().enumerate() {
                if seg.is_live(doc) {
                    out.insert(doc.id.clone(), (s, d));
                }
            }
        }
        out
    }

    fn tombstone(&mut self, (s, d): (usize, usize)) {
        let seg = &mut self.segments[s];
        let range = seg.docs[d].passages.clone();
        seg.deleted.extend(range);
        seg.changed = true;
        self.dirty = true;
    }

    fn new_segment_name(&mut self) -> String {
        let name = format!("{SEGMENT_PREFIX}{:06}", self.next_segment);
        self.next_segment += 1;
        name
    }

    fn wants_graph(&self, segment_sentences: usize) -> bool {
        let total: usize = self
            .segments
            .iter()
            .map(|s| s.entry.sentences)
            .sum::<usize>()
            + segment_sentences;
        segment_sentences >= self.opts.hnsw_threshold
            || (total >= self.opts.hnsw_threshold && segment_sentences >= MIN_GRAPH_SENTENCES)
    }

    /// Reads files and directories and stages their documents: new ones and changed ones
    /// (by content hash; the old version is deleted) go into one new segment, unchanged
    /// ones are skipped, and documents of a re-read file that it no longer holds are
    /// deleted. Nothing is visible to readers before [`CollectionWriter::commit`].
    pub fn add<P: AsRef<Path>>(&mut self, inputs: &[P]) -> Result<AddStats> {
        let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let corpus = read_corpus(&inputs)?;
        let mut stats = AddStats {
            skipped: corpus.skipped.clone(),
            ..AddStats::default()
        };
        // The last of several documents with one id wins.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, d) in corpus.documents.iter().enumerate() {
            last.insert(d.id.as_str(), i);
        }
        let keep: HashSet<usize> = last.into_values().collect();
        let files_read: HashSet<String> = corpus.documents.iter().map(|d| d.path.clone()).collect();
        let ids_read: HashSet<String> = corpus.documents.iter().map(|d| d.id.clone()).collect();
        let live = self.live_index();
        let mut to_add: Vec<RawDocument> = Vec::new();
        let mut to_delete = Vec::new();
        for (i, raw) in corpus.documents.into_iter().enumerate() {
            if !keep.contains(&i) {
                continue;
            }
            match live.get(&raw.id) {
                Some(&(s, d)) if self.segments[s].docs[d].sha256 == raw.content_hash() => {
                    stats.unchanged += 1;
                }
                Some(&loc) => {
                    stats.updated += 1;
                    to_delete.push(loc);
                    to_add.push(raw);
                }
                None => {
                    stats.added += 1;
                    to_add.push(raw);
                }
            }
        }
        for (id, &(s, d)) in &live {
            if files_read.contains(&self.segments[s].docs[d].path) && !ids_read.contains(id) {
                stats.removed += 1;
                to_delete.push((s, d));
            }
        }
        if !to_add.is_empty() {
            let embedder = self.engine.embedder();
            let prepared = prepare(embedder, to_add, &self.shape, &self.opts)?;
            stats.dropped_blocks = prepared.dropped;
            if !prepared.passages.is_empty() {
                let started = Instant::now();
                let (sentences, passages) =
                    embed_prepared(embedder, &prepared, self.shape.passage_vectors, &self.opts)?;
                stats.embed_time = started.elapsed();
                let data = SegmentData {
                    prepared: &prepared,
                    sentence_vectors: &sentences,
                    passage_vectors: passages.as_deref(),
                    inputs: corpus.files,
                    skipped: corpus.skipped,
                };
                let entry = self.write_new_segment(&prepared, &data)?;
                stats.documents = entry.documents;
                stats.passages = entry.passages;
                stats.sentences = entry.sentences;
                stats.hnsw = entry.hnsw;
                stats.segment = Some(entry.name.clone());
                self.segments.push(WriterSegment {
                    entry,
                    docs: prepared.entries,
                    deleted: BTreeSet::new(),
                    changed: false,
                });
                self.dirty = true;
            }
        }
        // Deletions last, so that a failed build leaves the staged state unchanged.
        for loc in to_delete {
            self.tombstone(loc);
        }
        Ok(stats)
    }

    fn write_new_segment(
        &mut self,
        prepared: &Prepared,
        data: &SegmentData<'_>,
    ) -> Result<SegmentEntry> {
        let name = self.new_segment_name();
        let hnsw = self.wants_graph(prepared.sentence_passage.len());
        let engine = &self.engine;
        write_segment(
            &self.dir.join(&name),
            data,
            engine.model_id(),
            engine.embedder().dim(),
            &self.shape,
            hnsw,
            &self.opts,
        )?;
        Ok(SegmentEntry {
            name,
            documents: prepared.documents.len(),
            passages: prepared.passages.len(),
            sentences: prepared.sentence_passage.len(),
            deleted: 0,
            tombstones: None,
            hnsw,
            graph: None,
        })
    }

    /// Stages the deletion of documents by id, or of every document of a file by its path
    /// (as a document id of that file: relative to the input directory). All ids are
    /// checked first: an unknown one is [`QueryError::UnknownDocument`] and nothing is
    /// staged. Returns the number of documents deleted.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<usize> {
        let live = self.live_index();
        let mut locs = Vec::new();
        for id in ids {
            let id = id.as_ref();
            let before = locs.len();
            match live.get(id) {
                Some(&loc) => locs.push(loc),
                None => locs.extend(
                    live.values()
                        .copied()
                        .filter(|&(s, d)| self.segments[s].docs[d].path == id),
                ),
            }
            if locs.len() == before {
                return Err(QueryError::UnknownDocument { id: id.to_string() });
            }
        }
        locs.sort_unstable();
        locs.dedup();
        for &loc in &locs {
            self.tombstone(loc);
        }
        Ok(locs.len())
    }

    /// Publishes the staged changes: writes the tombstone files, then swaps in a new
    /// manifest (temporary file, fsync, rename, directory fsync) and removes what no
    /// manifest names any more. Returns the new generation (the old one when nothing was
    /// staged). Segments whose passages are all deleted are dropped.
    pub fn commit(&mut self) -> Result<u64> {
        if !self.dirty {
            return Ok(self.generation);
        }
        let generation = self.generation + 1;
        self.attach_graphs(generation)?;
        let mut entries = Vec::with_capacity(self.segments.len());
        for seg in &mut self.segments {
            if seg.deleted.len() >= seg.entry.passages {
                continue;
            }
            if seg.changed {
                let name = format!("{}/{}", seg.entry.name, tombstones::file_name(generation));
                let ids: Vec<u32> = seg.deleted.iter().copied().collect();
                tombstones::write(&self.dir.join(&name), &ids)?;
                seg.entry.tombstones = Some(name);
                seg.entry.deleted = ids.len();
            }
            entries.push(seg.entry.clone());
        }
        self.publish(generation, entries)?;
        self.segments.retain(|s| s.deleted.len() < s.entry.passages);
        for s in &mut self.segments {
            s.changed = false;
        }
        Ok(generation)
    }

    /// Once the collection has outgrown exact search, segments written while it was small
    /// get an HNSW graph of their own (a new file in the segment directory, named by the
    /// manifest like tombstones are), so no question scans them exactly any more.
    fn attach_graphs(&mut self, generation: u64) -> Result<()> {
        let live = |s: &WriterSegment| s.deleted.len() < s.entry.passages;
        let total: usize = self
            .segments
            .iter()
            .filter(|s| live(s))
            .map(|s| s.entry.sentences)
            .sum();
        if total < self.opts.hnsw_threshold {
            return Ok(());
        }
        let dim = self.engine.embedder().dim();
        for seg in &mut self.segments {
            if seg.entry.hnsw || seg.entry.sentences < MIN_GRAPH_SENTENCES || !live(seg) {
                continue;
            }
            let seg_dir = self.dir.join(&seg.entry.name);
            let manifest = SegmentManifest::read(&seg_dir)?;
            let path = seg_dir.join(&manifest.data.sentence_vectors);
            let vectors = MappedArray::open(&path, MAGIC_VECTORS, 4)?;
            let name = format!("{}/graph-{generation:06}.hnsw", seg.entry.name);
            write_hnsw(
                &self.dir.join(&name),
                dim,
                vectors.f32s()?,
                &self.opts.hnsw_params,
            )?;
            sync_tree(&self.dir.join(&name))?;
            seg.entry.graph = Some(name);
            seg.entry.hnsw = true;
        }
        Ok(())
    }

    fn publish(&mut self, generation: u64, segments: Vec<SegmentEntry>) -> Result<()> {
        let manifest = CollectionManifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            generation,
            next_segment: self.next_segment,
            model_id: self.engine.model_id().to_string(),
            dim: self.engine.embedder().dim(),
            language: self.shape.language,
            chunking: self.shape.chunking(),
            passage_vectors: self.shape.passage_vectors,
            hnsw_threshold: self.opts.hnsw_threshold,
            segments,
            committed_unix: unix_now(),
        };
        manifest.write(&self.dir)?;
        self.generation = generation;
        self.dirty = false;
        self.collect_garbage();
        Ok(())
    }

    /// Removes what the current state does not name: segment directories (replaced by a
    /// merge, or left by a crashed writer), older tombstone files, temporary files. Only
    /// called with the lock held, after the manifest swap; failures are logged.
    fn collect_garbage(&self) {
        let referenced: HashMap<&str, &WriterSegment> = self
            .segments
            .iter()
            .map(|s| (s.entry.name.as_str(), s))
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".zoek-tmp-") {
                remove(&path);
            } else if name.starts_with(SEGMENT_PREFIX) {
                match referenced.get(name.as_str()) {
                    None => remove(&path),
                    Some(seg) => {
                        let base = |f: &Option<String>| {
                            f.as_deref()
                                .and_then(|t| t.rsplit('/').next())
                                .map(str::to_string)
                        };
                        let tombstones = base(&seg.entry.tombstones);
                        let graph = base(&seg.entry.graph);
                        for f in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                            let file = f.file_name().to_string_lossy().into_owned();
                            let stale = (file.starts_with("del-")
                                && Some(&file) != tombstones.as_ref())
                                || (file.starts_with("graph-") && Some(&file) != graph.as_ref());
                            if stale || file.starts_with(".zoek-tmp-") {
                                remove(&f.path());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Merges the segments `policy` selects (see [`MergePolicy`]) into one, after
    /// committing anything staged. Returns `None` when nothing needed merging.
    pub fn merge(&mut self, policy: &MergePolicy) -> Result<Option<MergeStats>> {
        self.commit()?;
        let small: Vec<usize> = (0..self.segments.len())
            .filter(|&i| self.segments[i].entry.passages < policy.small_segment_passages)
            .collect();
        let which: Vec<usize> = (0..self.segments.len())
            .filter(|&i| {
                let s = &self.segments[i].entry;
                (small.len() >= policy.min_small_segments.max(2) && small.contains(&i))
                    || s.deleted as f32 > policy.max_deleted_ratio * s.passages as f32
            })
            .collect();
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

    /// Copies the live passages of the segments `which` — stored text, sentence vectors,
    /// passage vectors, no re-embedding — into a new segment with a new BM25 index and
    /// graph, and swaps the manifest: the new segment takes the place of the first merged
    /// one, so passage order (and with it tie-breaking) is kept.
    fn merge_segments(&mut self, which: &[usize]) -> Result<Option<MergeStats>> {
        if which.is_empty() {
            return Ok(None);
        }
        let dim = self.engine.embedder().dim();
        let mut prepared = Prepared::default();
        let mut sentence_vectors: Vec<f32> = Vec::new();
        let mut passage_vectors: Option<Vec<f32>> = self.shape.passage_vectors.then(Vec::new);
        let mut stats = MergeStats::default();
        for &i in which {
            let ws = &self.segments[i];
            stats.merged.push(ws.entry.name.clone());
            stats.reclaimed_passages += ws.deleted.len();
            let seg = Segment::open(&self.dir.join(&ws.entry.name))?;
            let stored = seg.stored_documents()?;
            let docs = seg.docs()?;
            if stored.len() != docs.len() {
                return Err(QueryError::Corrupt {
                    path: seg.dir().join(SEGMENT_FILE),
                    reason: "document store and document table differ in length".into(),
                });
            }
            let sv = seg.sentence_vectors()?;
            let pv = seg.passage_vectors()?;
            for (entry, doc) in docs.iter().zip(stored) {
                if !ws.is_live(entry) {
                    continue;
                }
                let new_doc = u32::try_from(prepared.documents.len()).map_err(|_| overflow())?;
                let first = u32::try_from(prepared.passages.len()).map_err(|_| overflow())?;
                for p in entry.passages.clone() {
                    let mut passage = seg.passage(p)?;
                    let n = passage.sentences.len();
                    let from = passage.first_sentence as usize;
                    let new_id = u32::try_from(prepared.passages.len()).map_err(|_| overflow())?;
                    passage.doc = new_doc;
                    passage.first_sentence =
                        u32::try_from(prepared.sentence_passage.len()).map_err(|_| overflow())?;
                    prepared
                        .sentence_passage
                        .extend(std::iter::repeat_n(new_id, n));
                    let rows = sv.get(from * dim..(from + n) * dim).ok_or_else(|| {
                        QueryError::Corrupt {
                            path: seg.dir().to_path_buf(),
                            reason: format!("passage {p} has sentences out of range"),
                        }
                    })?;
                    sentence_vectors.extend_from_slice(rows);
                    if let (Some(out), Some(pv)) = (passage_vectors.as_mut(), pv) {
                        let p = p as usize;
                        out.extend_from_slice(pv.get(p * dim..(p + 1) * dim).ok_or_else(|| {
                            QueryError::Corrupt {
                                path: seg.dir().to_path_buf(),
                                reason: format!("passage {p} has no vector"),
                            }
                        })?);
                    }
                    prepared.passages.push(passage);
                }
                let end = u32::try_from(prepared.passages.len()).map_err(|_| overflow())?;
                prepared.entries.push(DocEntry {
                    passages: first..end,
                    ..entry.clone()
                });
                prepared.documents.push(doc);
            }
        }
        if passage_vectors
            .as_ref()
            .is_some_and(|v| v.len() != prepared.passages.len() * dim)
        {
            // A segment without passage vectors: keep none rather than misalign them.
            passage_vectors = None;
        }
        stats.passages = prepared.passages.len();
        let merged_entry = if prepared.passages.is_empty() {
            None
        } else {
            // The segments being merged are replaced, so they do not count for the graph
            // decision twice.
            let data = SegmentData {
                prepared: &prepared,
                sentence_vectors: &sentence_vectors,
                passage_vectors: passage_vectors.as_deref(),
                inputs: Vec::new(),
                skipped: Vec::new(),
            };
            let replaced: usize = which
                .iter()
                .map(|&i| self.segments[i].entry.sentences)
                .sum();
            let name = self.new_segment_name();
            let total: usize = self
                .segments
                .iter()
                .map(|s| s.entry.sentences)
                .sum::<usize>()
                - replaced;
            let n = prepared.sentence_passage.len();
            let hnsw = n >= self.opts.hnsw_threshold
                || (total + n >= self.opts.hnsw_threshold && n >= MIN_GRAPH_SENTENCES);
            let engine = &self.engine;
            write_segment(
                &self.dir.join(&name),
                &data,
                engine.model_id(),
                dim,
                &self.shape,
                hnsw,
                &self.opts,
            )?;
            Some(WriterSegment {
                entry: SegmentEntry {
                    name,
                    documents: prepared.documents.len(),
                    passages: prepared.passages.len(),
                    sentences: n,
                    deleted: 0,
                    tombstones: None,
                    hnsw,
                    graph: None,
                },
                docs: prepared.entries,
                deleted: BTreeSet::new(),
                changed: false,
            })
        };
        stats.into = merged_entry.as_ref().map(|s| s.entry.name.clone());
        let first = which[0];
        let old = std::mem::take(&mut self.segments);
        let mut merged_entry = merged_entry;
        for (i, s) in old.into_iter().enumerate() {
            if i == first
                && let Some(m) = merged_entry.take()
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

/// Stands in for the model of a writer that only deletes and merges.
struct NoModel {
    model_id: String,
    dim: usize,
}

impl NoModel {
    fn refuse<T>(&self) -> Result<T> {
        Err(QueryError::InvalidOption(
            "this writer was opened without a model; adding documents needs one".into(),
        ))
    }
}

impl crate::TextEmbedder for NoModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed_query(&self, _text: &str) -> Result<Vec<f32>> {
        self.refuse()
    }

    fn embed_passages(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.refuse()
    }

    fn count_tokens(&self, _text: &str) -> Result<usize> {
        self.refuse()
    }
}

fn overflow() -> QueryError {
    QueryError::InvalidOption(format!("more than {} passages in a segment", u32::MAX))
}

fn remove(path: &Path) {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = result
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove unreferenced collection file");
    }
}
