//! Changing a collection: [`CollectionWriter`] adds documents as new segments, records
//! deletions as tombstones, merges segments by a [`MergePolicy`], and publishes each change
//! by swapping the collection manifest atomically. One writer at a time, enforced by an
//! exclusive lock on `writer.lock` (an OS file lock, released when the process dies).
//!
//! Crash safety: a new segment and new tombstone files are written and fsynced before the
//! manifest that names them is renamed into place, and nothing the current manifest names
//! is ever modified or removed; files no manifest names any more (segments replaced by a
//! merge, older tombstone files, leftovers of a crashed writer) are removed only after the
//! swap, and by the next writer to open the collection (`gc`).
//!
//! | module | holds |
//! |---|---|
//! | this one | [`CollectionWriter`]: lock, staged state, add, delete, commit |
//! | `build` | [`Engine::build`](crate::Engine::build): a full rebuild into one segment |
//! | `merge` | [`MergePolicy`] and its policies; merging segments through the segment serializer |
//! | `gc` | removing what no manifest names (logs failures, never fails a commit) |
//! | `staged` | segments built elsewhere (Spark tasks): [`SegmentSpec`], [`build_segment`], [`CollectionWriter::attach`] |
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

mod build;
mod gc;
mod merge;
mod staged;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use build::BuildStats;
pub use merge::{DefaultMergePolicy, MergePolicy, MergeStats, NoMergePolicy};
pub use staged::{
    AttachMode, AttachStats, Origin, Receipt, SegmentSpec, build_segment, remove_abandoned_runs,
};

use crate::engine::Engine;
use crate::error::{QueryError, Result, io_err};
use crate::format::array::{MAGIC_VECTORS, MappedArray};
use crate::format::fs::sync_tree;
use crate::format::jsonl::read_jsonl;
use crate::format::paths::{
    LOCK_FILE, graph_file, segment_dir, segment_number, tombstone_file, unix_now,
};
use crate::format::{
    CollectionManifest, CollectionSettings, DocEntry, FORMAT_NAME, FORMAT_VERSION, SegmentEntry,
    SegmentManifest, tombstones,
};
use crate::segment::BuildOptions;
use crate::segment::build::embed_documents;
use crate::segment::graph::write_hnsw;
use crate::segment::serializer::SegmentSerializer;
use crate::text::{Corpus, RawDocument, SkippedFile, read_corpus};

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

/// A segment as the writer tracks it: its manifest entry, document table and deletions.
#[derive(Debug)]
struct WriterSegment {
    entry: SegmentEntry,
    docs: Vec<DocEntry>,
    deleted: BTreeSet<u32>,
    /// Deletions not yet written to a tombstone file.
    changed: bool,
}

impl WriterSegment {
    fn new(entry: SegmentEntry, docs: Vec<DocEntry>) -> Self {
        Self {
            entry,
            docs,
            deleted: BTreeSet::new(),
            changed: false,
        }
    }

    fn is_live(&self, doc: &DocEntry) -> bool {
        !doc.passages.is_empty() && !self.deleted.contains(&doc.passages.start)
    }

    /// Whether any passage is not deleted.
    fn has_live(&self) -> bool {
        self.deleted.len() < self.entry.passages
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
    settings: CollectionSettings,
    generation: u64,
    next_segment: u64,
    segments: Vec<WriterSegment>,
    dirty: bool,
    /// Runs of staged segments attached so far (recorded in the manifest).
    runs: Vec<String>,
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
            settings: opts.settings(),
            dir: dir.to_path_buf(),
            _lock: lock,
            engine: engine.clone(),
            opts: opts.clone(),
            generation: 0,
            next_segment: 1,
            segments: Vec::new(),
            dirty: false,
            runs: Vec::new(),
        })
    }

    /// Opens an existing collection for deleting and merging only, without loading a model
    /// (merges copy vectors; they never embed). [`CollectionWriter::add`] then fails with
    /// [`QueryError::NoModel`]. Errors as [`CollectionWriter::open`], and
    /// [`QueryError::MissingCollection`] when there is no collection in `dir`.
    pub fn open_without_model(dir: impl AsRef<Path>, opts: &BuildOptions) -> Result<Self> {
        let manifest = CollectionManifest::read(dir.as_ref())?;
        let engine = Engine::without_model(manifest.model_id, manifest.dim);
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
        self.settings = m.settings;
        self.generation = m.generation;
        self.runs = m.runs;
        self.next_segment = m.next_segment.max(self.highest_segment_on_disk() + 1);
        for entry in m.segments {
            let seg_dir = self.dir.join(&entry.name);
            let seg = SegmentManifest::read(&seg_dir)?;
            let docs = read_jsonl(&seg_dir.join(&seg.data.doc_table))?;
            let deleted = match &entry.tombstones {
                Some(f) => tombstones::read(&self.dir.join(f), entry.passages)?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            };
            self.segments.push(WriterSegment {
                deleted,
                ..WriterSegment::new(entry, docs)
            });
        }
        Ok(())
    }

    /// Forgets everything staged and reads the committed state again.
    fn reload(&mut self) -> Result<()> {
        self.segments.clear();
        self.runs.clear();
        self.dirty = false;
        match CollectionManifest::read(&self.dir) {
            Ok(m) => self.load(m),
            Err(QueryError::MissingCollection { .. }) => {
                self.settings = self.opts.settings();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn highest_segment_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| segment_number(e.file_name().to_str()?))
            .max()
            .unwrap_or(0)
    }

    /// The collection directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last committed generation (commit number).
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
        let name = segment_dir(self.next_segment);
        self.next_segment += 1;
        name
    }

    /// Sentences of all segments but `except` (indices).
    fn sentences_except(&self, except: &[usize]) -> usize {
        (0..self.segments.len())
            .filter(|i| !except.contains(i))
            .map(|i| self.segments[i].entry.sentences)
            .sum()
    }

    /// Writes `serializer` as a new segment; whether it gets a graph depends on its size and
    /// on the collection's without the segments `replaced` (a merge's inputs).
    fn write_segment(
        &mut self,
        serializer: SegmentSerializer,
        replaced: &[usize],
    ) -> Result<WriterSegment> {
        let others = self.sentences_except(replaced);
        let hnsw = self
            .settings
            .segment_gets_graph(serializer.sentences(), others);
        let name = self.new_segment_name();
        let (manifest, docs) = serializer.write(
            &self.dir.join(&name),
            self.engine.model_id(),
            &self.settings,
            hnsw,
            &self.opts,
        )?;
        Ok(WriterSegment::new(SegmentEntry::new(name, &manifest), docs))
    }

    /// Reads files and directories and stages their documents: new ones and changed ones
    /// (by content hash; the old version is deleted) go into one new segment, unchanged
    /// ones are skipped, and documents of a re-read file that it no longer holds are
    /// deleted. Nothing is visible to readers before [`CollectionWriter::commit`].
    pub fn add<P: AsRef<Path>>(&mut self, inputs: &[P]) -> Result<AddStats> {
        let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let corpus = read_corpus(&inputs)?;
        self.add_corpus(corpus, true)
    }

    /// Stages documents that are already in memory (see [`RawDocument::from_text`]): new
    /// ids are added, an id whose content changed replaces its old version, unchanged ones
    /// are skipped. Unlike [`CollectionWriter::add`] no other document is removed, so
    /// records can arrive in any number of batches. Nothing is visible to readers before
    /// [`CollectionWriter::commit`].
    ///
    /// Errors: [`QueryError::InvalidOption`] for an empty id; embedding and I/O failures.
    pub fn add_documents(&mut self, documents: Vec<RawDocument>) -> Result<AddStats> {
        if let Some(d) = documents.iter().find(|d| d.id.is_empty()) {
            return Err(QueryError::InvalidOption(format!(
                "a document needs a non-empty id (text starting {:?})",
                d.blocks
                    .first()
                    .map(|b| b.text.chars().take(40).collect::<String>())
                    .unwrap_or_default()
            )));
        }
        let corpus = Corpus {
            documents,
            ..Corpus::default()
        };
        self.add_corpus(corpus, false)
    }

    /// `prune_files`: a document of a file that was read again but no longer holds it is
    /// deleted (files are read whole; in-memory batches are not).
    fn add_corpus(&mut self, mut corpus: Corpus, prune_files: bool) -> Result<AddStats> {
        let mut stats = AddStats {
            skipped: corpus.skipped.clone(),
            ..AddStats::default()
        };
        let documents = std::mem::take(&mut corpus.documents);
        let (to_add, to_delete) = self.plan_add(documents, prune_files, &mut stats);
        if !to_add.is_empty() {
            let embedded =
                embed_documents(&self.engine, to_add, &corpus, &self.settings, &self.opts)?;
            stats.dropped_blocks = embedded.dropped;
            stats.embed_time = embedded.embed_time;
            if embedded.serializer.passages() > 0 {
                let segment = self.write_segment(embedded.serializer, &[])?;
                stats.documents = segment.entry.documents;
                stats.passages = segment.entry.passages;
                stats.sentences = segment.entry.sentences;
                stats.hnsw = segment.entry.hnsw;
                stats.segment = Some(segment.entry.name.clone());
                self.segments.push(segment);
                self.dirty = true;
            }
        }
        // Deletions last, so that a failed build leaves the staged state unchanged.
        for loc in to_delete {
            self.tombstone(loc);
        }
        Ok(stats)
    }

    /// Splits what was read into documents to (re)write and old versions to delete.
    fn plan_add(
        &self,
        documents: Vec<RawDocument>,
        prune_files: bool,
        stats: &mut AddStats,
    ) -> (Vec<RawDocument>, Vec<(usize, usize)>) {
        // The last of several documents with one id wins.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, d) in documents.iter().enumerate() {
            last.insert(d.id.as_str(), i);
        }
        let keep: HashSet<usize> = last.into_values().collect();
        let files_read: HashSet<String> = documents.iter().map(|d| d.path.clone()).collect();
        let ids_read: HashSet<String> = documents.iter().map(|d| d.id.clone()).collect();
        let live = self.live_index();
        let mut to_add = Vec::new();
        let mut to_delete = Vec::new();
        for (i, raw) in documents.into_iter().enumerate() {
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
        for (id, &(s, d)) in live.iter().filter(|_| prune_files) {
            if files_read.contains(&self.segments[s].docs[d].path) && !ids_read.contains(id) {
                stats.removed += 1;
                to_delete.push((s, d));
            }
        }
        (to_add, to_delete)
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
        for seg in self.segments.iter_mut().filter(|s| s.has_live()) {
            if seg.changed {
                let name = tombstone_file(&seg.entry.name, generation);
                let ids: Vec<u32> = seg.deleted.iter().copied().collect();
                tombstones::write(&self.dir.join(&name), &ids)?;
                seg.entry.tombstones = Some(name);
                seg.entry.deleted = ids.len();
            }
        }
        let entries = self
            .segments
            .iter()
            .filter(|s| s.has_live())
            .map(|s| s.entry.clone())
            .collect();
        self.publish(generation, entries)?;
        self.segments.retain(WriterSegment::has_live);
        for s in &mut self.segments {
            s.changed = false;
        }
        Ok(generation)
    }

    /// Once the collection has outgrown exact search, segments written while it was small
    /// get an HNSW graph of their own (a new file in the segment directory, named by the
    /// manifest like tombstones are), so no question scans them exactly any more.
    fn attach_graphs(&mut self, generation: u64) -> Result<()> {
        let total: usize = self
            .segments
            .iter()
            .filter(|s| s.has_live())
            .map(|s| s.entry.sentences)
            .sum();
        let dim = self.engine.dim();
        for seg in &mut self.segments {
            if seg.entry.hnsw
                || !seg.has_live()
                || !self
                    .settings
                    .segment_needs_late_graph(seg.entry.sentences, total)
            {
                continue;
            }
            let seg_dir = self.dir.join(&seg.entry.name);
            let manifest = SegmentManifest::read(&seg_dir)?;
            let path = seg_dir.join(&manifest.data.sentence_vectors);
            let vectors = MappedArray::open(&path, MAGIC_VECTORS, 4)?;
            let name = graph_file(&seg.entry.name, generation);
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

    /// Swaps in the manifest of commit `generation` listing `segments`, then collects
    /// garbage.
    fn publish(&mut self, generation: u64, segments: Vec<SegmentEntry>) -> Result<()> {
        let manifest = CollectionManifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            generation,
            next_segment: self.next_segment,
            model_id: self.engine.model_id().to_string(),
            dim: self.engine.dim(),
            settings: self.settings.clone(),
            segments,
            committed_unix: unix_now(),
            runs: self.runs.clone(),
        };
        manifest.write(&self.dir)?;
        self.generation = generation;
        self.dirty = false;
        self.collect_garbage();
        Ok(())
    }
}
