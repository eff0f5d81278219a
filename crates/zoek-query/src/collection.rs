//! [`Engine`] (the model) and [`Collection`] (a snapshot of one collection directory, over
//! all its segments), and asking questions.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bm25::{self, Bm25, Bm25Part, Bm25Result, PreparedQuery};
use crate::build::{BuildOptions, BuildStats, build};
use crate::embedder::{TextEmbedder, check_dim, normalise};
use crate::error::{QueryError, Result};
use crate::index_segment::Segment;
use crate::manifest::CollectionManifest;
use crate::rank::{DenseHit, Ranked, dense_only, hybrid, reciprocal_rank_fusion, sort_dense};
use crate::store::{Bits, DocEntry, StoredPassage};

/// Questions longer than this many bytes are refused by default (see
/// [`AskOptions::max_question_bytes`]); the model reads at most 512 tokens anyway.
pub const DEFAULT_MAX_QUESTION_BYTES: usize = 16 * 1024;

/// The embedding model, shared by building and asking. Cheap to clone; `Send + Sync`, so
/// one engine can serve concurrent requests.
#[derive(Clone)]
pub struct Engine {
    embedder: Arc<dyn TextEmbedder>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model_id", &self.embedder.model_id())
            .field("dim", &self.embedder.dim())
            .finish()
    }
}

impl Engine {
    /// An engine around any embedder.
    pub fn new(embedder: impl TextEmbedder + 'static) -> Self {
        Self {
            embedder: Arc::new(embedder),
        }
    }

    /// Loads the embedding model in `dir` (see `zoek_embed::Embedder::from_dir`).
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let embedder =
            zoek_embed::Embedder::from_dir(dir).map_err(|e| QueryError::Embed(Box::new(e)))?;
        Ok(Self::new(embedder))
    }

    /// Loads the model from `zoek_embed::default_model_dir()`: `$ZOEK_MODEL_DIR`, else the
    /// workspace's `models/multilingual-e5-small-q4`.
    pub fn from_default_model() -> Result<Self> {
        Self::from_model_dir(zoek_embed::default_model_dir())
    }

    /// An engine around a shared embedder.
    pub fn from_shared(embedder: Arc<dyn TextEmbedder>) -> Self {
        Self { embedder }
    }

    /// The embedder.
    pub fn embedder(&self) -> &dyn TextEmbedder {
        self.embedder.as_ref()
    }

    /// The model fingerprint.
    pub fn model_id(&self) -> &str {
        self.embedder.model_id()
    }

    /// Builds a collection from files and directories into `out_dir` (created if needed).
    /// An existing collection there is replaced atomically: readers see the old or the new
    /// one, never a mix.
    pub fn build<P: AsRef<Path>>(
        &self,
        inputs: &[P],
        out_dir: impl AsRef<Path>,
        opts: &BuildOptions,
    ) -> Result<BuildStats> {
        let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
        build(self, &inputs, out_dir.as_ref(), opts)
    }

    pub(crate) fn embed_question(&self, question: &str, dim: usize) -> Result<Vec<f32>> {
        let mut q = self.embedder.embed_query(question)?;
        check_dim(&q, dim)?;
        normalise(&mut q);
        Ok(q)
    }
}

/// How passages are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RankMode {
    /// Sentence→parent dense scores blended with BM25, the BM25 weight scaled by the share
    /// of question terms the index knows (the default).
    #[default]
    Hybrid,
    /// Reciprocal rank fusion of the sentence→parent and BM25 rankings.
    Rrf,
    /// Dense only: a passage scores the best cosine of its sentences.
    SentenceToParent,
    /// Dense only, one vector per passage (needs `BuildOptions::passage_vectors`).
    DenseParagraph,
}

/// Options for [`Collection::ask_with`].
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Number of hits (default 5).
    pub k: usize,
    /// Ranking mode (default hybrid).
    pub mode: RankMode,
    /// Candidates taken from each of the dense and BM25 rankings before fusion (default 30;
    /// min-max normalisation over a short list keeps the blend focused on the plausible
    /// passages, and PolicyQA-nl ranked slightly better with 30 than with 100).
    pub candidates: usize,
    /// Weight of the normalised dense score in the hybrid blend (default 0.5).
    pub dense_weight: f32,
    /// Weight of the normalised BM25 score before scaling by term coverage (default 0.5).
    pub bm25_weight: f32,
    /// The `k` of reciprocal rank fusion (default 60).
    pub rrf_k: f32,
    /// Longest accepted question in bytes (default [`DEFAULT_MAX_QUESTION_BYTES`]).
    pub max_question_bytes: usize,
    /// HNSW search breadth, for collections with an HNSW index (default 128).
    pub ef: usize,
    /// In the hybrid and RRF modes, on collections built with passage vectors: the weight
    /// of the passage's own cosine in its dense score, `(1 − w)·best sentence + w·passage`
    /// (default 0.5). Sentences find the precise statement; the passage vector keeps the
    /// context a single sentence lacks. Ignored without passage vectors.
    pub passage_weight: f32,
    /// Metadata filters, all of which a passage's document must pass (default none):
    /// `("path", prefix)` matches the document's file path as a prefix, `("id", id)` its id,
    /// any other field a JSON-lines field of that value. Applied inside the vector search
    /// (with an exact scan when few passages pass) and the BM25 search.
    pub filters: Vec<(String, String)>,
}

impl Default for AskOptions {
    fn default() -> Self {
        Self {
            k: 5,
            mode: RankMode::Hybrid,
            candidates: 30,
            dense_weight: 0.5,
            bm25_weight: 0.5,
            rrf_k: 60.0,
            max_question_bytes: DEFAULT_MAX_QUESTION_BYTES,
            ef: 128,
            passage_weight: 0.5,
            filters: Vec::new(),
        }
    }
}

/// One ranked passage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Rank, from 1.
    pub rank: usize,
    /// Final score (hybrid: in [0, 1]; dense modes: cosine; RRF: fused reciprocal ranks).
    pub score: f32,
    /// Passage id in the collection snapshot (see [`Collection`]).
    pub passage: u32,
    /// Document id.
    pub doc: String,
    /// Section heading.
    pub heading: Option<String>,
    /// Passage text.
    pub text: String,
    /// The passage's sentence closest to the question.
    pub highlight: Option<String>,
    /// Byte range of the highlight in the cleaned document text.
    pub highlight_range: Option<Range<usize>>,
    /// Byte range of the passage in the cleaned document text.
    pub byte_range: Range<usize>,
    /// Raw dense score (cosine), if computed.
    pub dense_score: Option<f32>,
    /// Raw BM25 score, if the passage matched lexically.
    pub bm25_score: Option<f32>,
}

/// Where the time of one question went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// Embedding the question.
    pub embed: Duration,
    /// Searching, ranking and reading the hits.
    pub search: Duration,
    /// Everything, validation included.
    pub total: Duration,
}

/// The answer to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The question as asked.
    pub question: String,
    /// Hits, best first.
    pub hits: Vec<Hit>,
    /// Timings.
    pub timings: Timings,
    /// Ranking mode used.
    pub mode: RankMode,
    /// Share of the question's terms found in the BM25 index (hybrid and RRF modes).
    pub bm25_coverage: Option<f32>,
}

impl Answer {
    /// The answer as JSON: `{"question", "hits": [{"rank", "score", "doc", "heading", "text",
    /// "highlight", "byte_range"}], "timings_ms": {"embed", "search", "total"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        serde_json::json!({
            "question": self.question,
            "hits": self.hits.iter().map(|h| serde_json::json!({
                "rank": h.rank,
                "score": h.score,
                "doc": h.doc,
                "heading": h.heading,
                "text": h.text,
                "highlight": h.highlight,
                "byte_range": [h.byte_range.start, h.byte_range.end],
            })).collect::<Vec<_>>(),
            "timings_ms": {
                "embed": ms(self.timings.embed),
                "search": ms(self.timings.search),
                "total": ms(self.timings.total),
            },
        })
    }
}

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

/// Below this many sentences in all, segments are searched on the calling thread.
const PARALLEL_MIN_SENTENCES: usize = 4096;

/// A mask of the passages a question may return, per part.
type Masks = Vec<Option<Arc<Bits>>>;

/// Dense candidates and BM25 matches `(passage, score)` gathered over all segments.
type Gathered = (Vec<DenseHit>, Vec<(u32, f32)>);

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
            let corrupt = |reason: String| QueryError::Corrupt {
                path: dir.join(&entry.name),
                reason,
            };
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
                    let live = crate::tombstones::read_live(&dir.join(file), segment.len())?;
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
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            parts,
            total,
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
        self.locate(id).ok_or_else(|| QueryError::Corrupt {
            path: self.dir.clone(),
            reason: format!("passage {id} out of range"),
        })
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

    /// Recomputes and checks the checksums of all data files.
    pub fn verify(&self) -> Result<()> {
        for p in &self.parts {
            p.segment.manifest().verify_checksums(p.segment.dir())?;
        }
        Ok(())
    }

    /// The `k` best passages for `question` with the default (hybrid) ranking.
    pub fn ask(&self, engine: &Engine, question: &str, k: usize) -> Result<Answer> {
        self.ask_with(
            engine,
            question,
            &AskOptions {
                k,
                ..AskOptions::default()
            },
        )
    }

    /// Asks with explicit options.
    ///
    /// Errors: [`QueryError::EmptyQuestion`], [`QueryError::QuestionTooLong`],
    /// [`QueryError::ZeroK`], [`QueryError::ModelMismatch`] when `engine` runs another model
    /// than the one that built the collection, and embedding or index failures.
    pub fn ask_with(&self, engine: &Engine, question: &str, opts: &AskOptions) -> Result<Answer> {
        let started = Instant::now();
        self.validate(question, opts)?;
        self.check_model(engine)?;
        let q = engine.embed_question(question, self.manifest.dim)?;
        self.rank(question, q, opts, started)
    }

    /// Like [`Collection::ask_with`] with the question already embedded (by the model that
    /// built the collection, with its query prefix): for batch evaluation and for measuring
    /// search apart from embedding. `question` is still needed for BM25.
    pub fn search_embedded(
        &self,
        question: &str,
        query_vector: &[f32],
        opts: &AskOptions,
    ) -> Result<Answer> {
        let started = Instant::now();
        self.validate(question, opts)?;
        check_dim(query_vector, self.manifest.dim)?;
        let mut q = query_vector.to_vec();
        normalise(&mut q);
        self.rank(question, q, opts, started)
    }

    fn validate(&self, question: &str, opts: &AskOptions) -> Result<()> {
        if question.trim().is_empty() {
            return Err(QueryError::EmptyQuestion);
        }
        if question.len() > opts.max_question_bytes {
            return Err(QueryError::QuestionTooLong {
                len: question.len(),
                limit: opts.max_question_bytes,
            });
        }
        if opts.k == 0 {
            return Err(QueryError::ZeroK);
        }
        if opts.mode == RankMode::DenseParagraph && !self.manifest.passage_vectors {
            return Err(QueryError::InvalidOption(
                "dense-paragraph ranking needs a collection built with passage vectors".into(),
            ));
        }
        for (field, _) in &opts.filters {
            if field.is_empty() {
                return Err(QueryError::InvalidOption(
                    "a filter needs a field name (field=value)".into(),
                ));
            }
        }
        Ok(())
    }

    /// Per part, the passages a question may return: live ones passing every filter.
    fn masks(&self, filters: &[(String, String)]) -> Result<Masks> {
        let mut out = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            if filters.is_empty() {
                out.push(p.live.clone());
                continue;
            }
            let mut allowed = Bits::new(p.segment.len(), false);
            for d in p.segment.docs()? {
                if filters.iter().all(|(f, v)| d.matches(f, v)) {
                    for i in d.passages.clone() {
                        allowed.set(u64::from(i), true);
                    }
                }
            }
            if let Some(live) = &p.live {
                allowed.and(live);
            }
            out.push(Some(Arc::new(allowed)));
        }
        Ok(out)
    }

    fn globalise(part: &Part, hits: Vec<DenseHit>) -> impl Iterator<Item = DenseHit> + '_ {
        hits.into_iter().map(move |mut h| {
            h.passage += part.base;
            h
        })
    }

    fn rank(
        &self,
        question: &str,
        q: Vec<f32>,
        opts: &AskOptions,
        started: Instant,
    ) -> Result<Answer> {
        let embedded = Instant::now();
        let candidates = opts.candidates.max(opts.k);
        let masks = self.masks(&opts.filters)?;
        let mut coverage = None;
        let ranked: Vec<Ranked> = match opts.mode {
            RankMode::DenseParagraph => {
                let mut all = Vec::new();
                for (part, mask) in self.parts.iter().zip(&masks) {
                    let hits = part.segment.dense_by_passage(&q, opts.k, mask.as_deref())?;
                    all.extend(Self::globalise(part, hits));
                }
                let mut ranked = dense_only(&crate::vectors::top(all, opts.k));
                // Highlight each passage's best sentence; its score stays the passage's.
                for r in &mut ranked {
                    r.sentence = self.best_sentence(r.passage, &q)?.sentence;
                }
                ranked
            }
            RankMode::SentenceToParent => {
                dense_only(&self.dense_by_sentence(&q, opts.k, opts.ef, &masks, None)?.0)
            }
            RankMode::Hybrid | RankMode::Rrf => {
                let w = if self.manifest.passage_vectors {
                    opts.passage_weight.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let indexes: Vec<&Bm25> = self.parts.iter().map(|p| &p.segment.bm25).collect();
                let prepared = bm25::prepare(&indexes, question)?;
                let (dense, lexical) =
                    self.dense_by_sentence(&q, candidates, opts.ef, &masks, prepared.as_ref())?;
                let lexical = Bm25Result {
                    hits: lexical,
                    coverage: prepared.as_ref().map_or(0.0, |p| p.coverage()),
                };
                let dense = self.blend_passage_vectors(dense, &q, candidates, w, &masks)?;
                coverage = Some(lexical.coverage);
                if opts.mode == RankMode::Hybrid {
                    let dense = self.with_dense_scores(dense, &lexical.hits, &q, w)?;
                    hybrid(
                        &dense,
                        &lexical.hits,
                        lexical.coverage,
                        opts.dense_weight,
                        opts.bm25_weight,
                    )
                } else {
                    let mut fused =
                        reciprocal_rank_fusion(&dense, &lexical.hits, lexical.coverage, opts.rrf_k);
                    let shown = opts.k.min(fused.len());
                    self.fill_highlights(&mut fused[..shown], &q)?;
                    fused
                }
            }
        };
        let mut hits = Vec::with_capacity(opts.k);
        for (i, r) in ranked.into_iter().take(opts.k).enumerate() {
            hits.push(self.hit(i + 1, r, &q)?);
        }
        let finished = Instant::now();
        Ok(Answer {
            question: question.to_string(),
            hits,
            timings: Timings {
                embed: embedded - started,
                search: finished - embedded,
                total: finished - started,
            },
            mode: opts.mode,
            bm25_coverage: coverage,
        })
    }

    fn check_model(&self, engine: &Engine) -> Result<()> {
        if engine.model_id() != self.manifest.model_id {
            return Err(QueryError::ModelMismatch {
                collection: self.manifest.model_id.clone(),
                engine: engine.model_id().to_string(),
            });
        }
        if engine.embedder().dim() != self.manifest.dim {
            return Err(QueryError::EmbeddingShape {
                expected: self.manifest.dim,
                got: engine.embedder().dim(),
            });
        }
        Ok(())
    }

    /// Sentence→parent dense ranking: the `limit` best passages by their best sentence,
    /// gathered from every segment, then cut once, so the result does not depend on how
    /// passages are spread over segments (for exactly searched segments).
    ///
    /// Several sentences of one passage can crowd a neighbour list, so through a graph more
    /// sentences than passages are fetched. With several graphs, each is first asked for a
    /// share of them with a proportionally narrower beam; a graph whose worst fetched
    /// sentence still beats the collection-wide cut-off may hold more, and is asked again
    /// in full. Segments are searched in parallel on rayon's pool.
    ///
    /// With `lexical`, each segment's BM25 search runs in the same pass, and the `limit`
    /// best lexical matches come back too.
    fn dense_by_sentence(
        &self,
        q: &[f32],
        limit: usize,
        ef: usize,
        masks: &Masks,
        lexical: Option<&PreparedQuery>,
    ) -> Result<Gathered> {
        let fetch = (limit * 4).max(64);
        let graphs = self.parts.iter().filter(|p| p.segment.uses_hnsw()).count();
        let share = if graphs > 1 {
            (fetch * 2 / graphs).clamp(32, fetch)
        } else {
            fetch
        };
        let share_ef = (ef * share / fetch).max(share).max(48).min(ef.max(fetch));
        let first = self.per_part(masks, |part, mask| {
            let dense =
                part.segment
                    .dense_by_sentence(q, limit, share, share_ef, mask.as_deref())?;
            let lexical = match lexical {
                Some(prepared) => bm25::search_part(
                    prepared,
                    &Bm25Part {
                        index: &part.segment.bm25,
                        base: part.base,
                        allowed: mask.clone(),
                    },
                    limit,
                )?,
                None => Vec::new(),
            };
            Ok((dense, lexical))
        })?;
        let mut all: Vec<DenseHit> = Vec::new();
        let mut lexical_hits = Vec::new();
        let first: Vec<_> = first
            .into_iter()
            .map(|(dense, lexical)| {
                lexical_hits.extend(lexical);
                dense
            })
            .collect();
        for (part, (hits, _)) in self.parts.iter().zip(&first) {
            all.extend(Self::globalise(part, hits.clone()));
        }
        sort_dense(&mut all);
        if share < fetch {
            let cutoff = all
                .get(limit.saturating_sub(1))
                .map_or(f32::NEG_INFINITY, |h| h.score);
            let again: Vec<usize> = first
                .iter()
                .enumerate()
                .filter(|(_, (_, worst))| worst.is_some_and(|w| w >= cutoff))
                .map(|(i, _)| i)
                .collect();
            if !again.is_empty() {
                all.clear();
                for (i, (part, (hits, _))) in self.parts.iter().zip(first).enumerate() {
                    let hits = if again.contains(&i) {
                        let mask = masks.get(i).and_then(|m| m.as_deref());
                        part.segment.dense_by_sentence(q, limit, fetch, ef, mask)?.0
                    } else {
                        hits
                    };
                    all.extend(Self::globalise(part, hits));
                }
                sort_dense(&mut all);
            }
        }
        all.truncate(limit);
        Ok((all, bm25::finish(lexical_hits, limit)))
    }

    /// Runs `f` on every part, in order; on several threads when there are several parts
    /// and enough sentences to be worth a thread.
    fn per_part<T: Send>(
        &self,
        masks: &Masks,
        f: impl Fn(&Part, &Option<Arc<Bits>>) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let sentences: usize = self.parts.iter().map(|p| p.segment.sentences()).sum();
        let threads = if sentences < PARALLEL_MIN_SENTENCES {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
                .min(self.parts.len())
        };
        if threads <= 1 {
            return self.parts.iter().zip(masks).map(|(p, m)| f(p, m)).collect();
        }
        // rayon's pool: spawning threads for every question costs more than the work on
        // small segments.
        use rayon::prelude::*;
        self.parts
            .par_iter()
            .zip(masks.par_iter())
            .with_max_len(1)
            .map(|(p, m)| f(p, m))
            .collect()
    }

    fn best_sentence(&self, p: u32, q: &[f32]) -> Result<DenseHit> {
        let (part, local) = self.part_of(p)?;
        let mut hit = part.segment.best_sentence(local, q)?;
        hit.passage = p;
        Ok(hit)
    }

    fn passage_cosine(&self, p: u32, q: &[f32], w: f32) -> Result<Option<f32>> {
        let (part, local) = self.part_of(p)?;
        part.segment.passage_cosine(local, q, w)
    }

    /// The dense score of passage `p`: its best sentence, blended with its own vector
    /// when `w > 0` and the collection has passage vectors.
    fn dense_score(&self, p: u32, q: &[f32], w: f32) -> Result<DenseHit> {
        let mut hit = self.best_sentence(p, q)?;
        if let Some(cos) = self.passage_cosine(p, q, w)? {
            hit.score = (1.0 - w) * hit.score + w * cos;
        }
        Ok(hit)
    }

    /// Re-scores sentence→parent candidates with the passage vectors (see
    /// [`AskOptions::passage_weight`]); for exactly searched segments also adds the best
    /// passages by their own vector, so a passage whose sentences are individually weak but
    /// whole is strong is not missed.
    fn blend_passage_vectors(
        &self,
        dense: Vec<DenseHit>,
        q: &[f32],
        limit: usize,
        w: f32,
        masks: &Masks,
    ) -> Result<Vec<DenseHit>> {
        if !(self.manifest.passage_vectors && w > 0.0) {
            return Ok(dense);
        }
        // A full scan of the passage vectors is cheap next to the sentence scan of an
        // exactly searched segment; with an HNSW graph (large segments) it would dominate
        // the latency, so there only the sentence candidates are re-scored.
        let mut by_passage = Vec::new();
        for (part, mask) in self.parts.iter().zip(masks) {
            if !part.segment.uses_hnsw() {
                let hits = part.segment.dense_by_passage(q, limit, mask.as_deref())?;
                by_passage.extend(Self::globalise(part, hits));
            }
        }
        let by_passage = crate::vectors::top(by_passage, limit);
        let mut seen: std::collections::HashSet<u32> = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(dense.len() + by_passage.len());
        for mut hit in dense {
            if seen.insert(hit.passage) {
                if let Some(cos) = self.passage_cosine(hit.passage, q, w)? {
                    hit.score = (1.0 - w) * hit.score + w * cos;
                }
                out.push(hit);
            }
        }
        for hit in by_passage {
            if seen.insert(hit.passage) {
                out.push(self.dense_score(hit.passage, q, w)?);
            }
        }
        sort_dense(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    /// Adds dense scores for lexical candidates the dense ranking did not return, so every
    /// candidate of the blend has both scores.
    fn with_dense_scores(
        &self,
        mut dense: Vec<DenseHit>,
        lexical: &[(u32, f32)],
        q: &[f32],
        w: f32,
    ) -> Result<Vec<DenseHit>> {
        let known: std::collections::HashSet<u32> = dense.iter().map(|d| d.passage).collect();
        for &(p, _) in lexical {
            if !known.contains(&p) {
                let hit = self.dense_score(p, q, w)?;
                if hit.score.is_finite() {
                    dense.push(hit);
                }
            }
        }
        sort_dense(&mut dense);
        Ok(dense)
    }

    fn fill_highlights(&self, ranked: &mut [Ranked], q: &[f32]) -> Result<()> {
        for r in ranked.iter_mut().filter(|r| r.sentence.is_none()) {
            let best = self.best_sentence(r.passage, q)?;
            r.sentence = best.sentence;
            r.dense = Some(best.score);
        }
        Ok(())
    }

    fn hit(&self, rank: usize, r: Ranked, q: &[f32]) -> Result<Hit> {
        let (part, local) = self.part_of(r.passage)?;
        let p = part.segment.passage(local)?;
        let (highlight, highlight_range) =
            match r.sentence.and_then(|s| part.segment.highlight(&p, s, q)) {
                Some(i) => (
                    p.sentence_text(i).map(str::to_string),
                    p.sentences.get(i).cloned(),
                ),
                None => (None, None),
            };
        Ok(Hit {
            rank,
            score: r.score,
            passage: r.passage,
            doc: p.doc_id,
            heading: p.heading,
            text: p.text,
            highlight,
            highlight_range,
            byte_range: p.range,
            dense_score: r.dense,
            bm25_score: r.bm25,
        })
    }
}
