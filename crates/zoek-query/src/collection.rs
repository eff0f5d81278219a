//! [`Engine`] (the model) and [`Collection`] (one index directory), and asking questions.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bm25::Bm25;
use crate::build::{BuildOptions, BuildStats, build};
use crate::embedder::{TextEmbedder, check_dim, dot, normalise};
use crate::error::{QueryError, Result};
use crate::manifest::Manifest;
use crate::rank::{DenseHit, Ranked, dense_only, hybrid, reciprocal_rank_fusion, sort_dense};
use crate::store::{MAGIC_SENTENCES, MAGIC_VECTORS, MappedArray, PassageStore, StoredPassage};
use crate::vectors::exact_grouped;

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
        build(self.embedder.as_ref(), &inputs, out_dir.as_ref(), opts)
    }

    fn embed_question(&self, question: &str, dim: usize) -> Result<Vec<f32>> {
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
    /// Passage id in the collection.
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

/// A built collection, opened for asking: the vectors, sentence map and passage store are
/// memory-mapped, so opening reads only the manifest and headers.
#[derive(Debug)]
pub struct Collection {
    dir: PathBuf,
    manifest: Manifest,
    passages: PassageStore,
    sentence_passage: MappedArray,
    sentence_vectors: MappedArray,
    passage_vectors: Option<MappedArray>,
    hnsw: Option<crate::vectors::SentenceGraph>,
    bm25: Bm25,
}

impl Collection {
    /// Opens the collection in `dir`.
    ///
    /// Errors: [`QueryError::MissingCollection`] if `dir` or its manifest is missing,
    /// [`QueryError::Corrupt`] if the manifest or a data file is damaged,
    /// [`QueryError::UnsupportedVersion`] for another format version.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir)?;
        let data = &manifest.data;
        let corrupt = |path: &str, reason: String| QueryError::Corrupt {
            path: dir.join(path),
            reason,
        };
        let passages =
            PassageStore::open(&dir.join(&data.passages), &dir.join(&data.passage_offsets))?;
        let sentence_passage =
            MappedArray::open(&dir.join(&data.sentence_passages), MAGIC_SENTENCES, 4)?;
        let sentence_vectors =
            MappedArray::open(&dir.join(&data.sentence_vectors), MAGIC_VECTORS, 4)?;
        sentence_vectors.f32s()?;
        let counts = manifest.counts;
        if passages.len() != counts.passages {
            return Err(corrupt(
                &data.passages,
                format!(
                    "{} passages, manifest says {}",
                    passages.len(),
                    counts.passages
                ),
            ));
        }
        if sentence_passage.rows() != counts.sentences {
            return Err(corrupt(
                &data.sentence_passages,
                "sentence count differs from the manifest".into(),
            ));
        }
        if sentence_vectors.rows() != counts.sentences || sentence_vectors.width() != manifest.dim {
            return Err(corrupt(
                &data.sentence_vectors,
                "vector count or dimension differs from the manifest".into(),
            ));
        }
        let passage_vectors = match &data.passage_vectors {
            Some(file) => {
                let a = MappedArray::open(&dir.join(file), MAGIC_VECTORS, 4)?;
                if a.rows() != counts.passages || a.width() != manifest.dim {
                    return Err(corrupt(
                        file,
                        "vector count or dimension differs from the manifest".into(),
                    ));
                }
                a.f32s()?;
                Some(a)
            }
            None => None,
        };
        let hnsw = match &data.hnsw {
            Some(file) => {
                let graph = crate::vectors::SentenceGraph::open(&dir.join(file))?;
                if graph.len() != counts.sentences {
                    return Err(corrupt(
                        file,
                        "graph size differs from the sentence count".into(),
                    ));
                }
                Some(graph)
            }
            None => None,
        };
        let bm25 = Bm25::open(&dir.join(&data.bm25), manifest.language)?;
        Ok(Self {
            dir,
            manifest,
            passages,
            sentence_passage,
            sentence_vectors,
            passage_vectors,
            hnsw,
            bm25,
        })
    }

    /// The collection directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// True if the collection has no passage (never the case for a built one).
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// Whether questions are answered through the HNSW index rather than an exact scan.
    pub fn uses_hnsw(&self) -> bool {
        self.hnsw.is_some()
    }

    /// Reads passage `id`.
    pub fn passage(&self, id: u32) -> Result<StoredPassage> {
        self.passages.get(id)
    }

    /// Recomputes and checks the checksums of all data files.
    pub fn verify(&self) -> Result<()> {
        self.manifest.verify_checksums(&self.dir)
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
        if opts.mode == RankMode::DenseParagraph && self.passage_vectors.is_none() {
            return Err(QueryError::InvalidOption(
                "dense-paragraph ranking needs a collection built with passage vectors".into(),
            ));
        }
        Ok(())
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
        let mut coverage = None;
        let ranked: Vec<Ranked> = match opts.mode {
            RankMode::DenseParagraph => {
                let vectors = self
                    .passage_vectors
                    .as_ref()
                    .map(|a| a.f32s())
                    .transpose()?
                    .unwrap_or(&[]);
                dense_only(&exact_grouped(
                    vectors,
                    self.manifest.dim,
                    &q,
                    self.len(),
                    |r| Some(r as u32),
                    opts.k,
                ))
            }
            RankMode::SentenceToParent => dense_only(&self.dense_by_sentence(&q, opts.k, opts.ef)?),
            RankMode::Hybrid | RankMode::Rrf => {
                let w = if self.passage_vectors.is_some() {
                    opts.passage_weight.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let dense = self.dense_by_sentence(&q, candidates, opts.ef)?;
                let dense = self.blend_passage_vectors(dense, &q, candidates, w)?;
                let lexical = self.bm25.search(question, candidates)?;
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

    /// Index (within passage `p`) of the sentence to highlight. A question in the text is
    /// often the closest sentence to a question, but it does not answer it, so when the
    /// best sentence is a question the closest statement of the passage is shown instead.
    /// The passage's score is not changed.
    fn highlight(&self, p: &StoredPassage, best: u32, q: &[f32]) -> Option<usize> {
        let first = p.first_sentence as usize;
        let i = (best as usize).checked_sub(first)?;
        if !is_question(p.sentence_text(i)?) {
            return Some(i);
        }
        let dim = self.manifest.dim;
        let vectors = self.sentence_vectors.f32s().ok()?;
        let statement = (0..p.sentences.len())
            .filter(|&j| p.sentence_text(j).is_some_and(|t| !is_question(t)))
            .filter_map(|j| {
                let row = first + j;
                Some((j, dot(vectors.get(row * dim..(row + 1) * dim)?, q)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        Some(statement.map_or(i, |(j, _)| j))
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

    fn parent(&self, sentence: usize) -> Option<u32> {
        self.sentence_passage.u32_at(sentence)
    }

    /// Sentence→parent dense ranking: the `limit` best passages by their best sentence.
    fn dense_by_sentence(&self, q: &[f32], limit: usize, ef: usize) -> Result<Vec<DenseHit>> {
        let dim = self.manifest.dim;
        match &self.hnsw {
            Some(graph) => {
                // Several sentences of one passage can crowd the neighbour list, so more
                // sentences than passages are fetched; int8 distances are rescored exactly.
                let vectors = self.sentence_vectors.f32s()?;
                let fetch = (limit * 4).max(64);
                let scored = graph
                    .candidates(q, fetch, ef.max(fetch))?
                    .into_iter()
                    .filter_map(|s| {
                        let v = vectors.get(s as usize * dim..(s as usize + 1) * dim)?;
                        Some((s, dot(v, q)))
                    });
                let mut hits =
                    crate::rank::sentences_to_parents(scored, |s| self.parent(s as usize));
                hits.truncate(limit);
                Ok(hits)
            }
            None => Ok(exact_grouped(
                self.sentence_vectors.f32s()?,
                dim,
                q,
                self.len(),
                |row| self.parent(row),
                limit,
            )),
        }
    }

    /// The sentences of passage `p`: the sentence map is sorted by passage, so its range is
    /// found by binary search.
    fn sentence_range(&self, p: u32) -> Range<usize> {
        let n = self.sentence_passage.rows();
        let lower = partition(n, |i| self.parent(i).is_some_and(|x| x < p));
        let upper = partition(n, |i| self.parent(i).is_some_and(|x| x <= p));
        lower..upper
    }

    fn best_sentence(&self, p: u32, q: &[f32]) -> Result<DenseHit> {
        let dim = self.manifest.dim;
        let vectors = self.sentence_vectors.f32s()?;
        let mut best = DenseHit {
            passage: p,
            score: f32::NEG_INFINITY,
            sentence: None,
        };
        for s in self.sentence_range(p) {
            let Some(v) = vectors.get(s * dim..(s + 1) * dim) else {
                break;
            };
            let score = dot(v, q);
            if score > best.score {
                best.score = score;
                best.sentence = Some(s as u32);
            }
        }
        Ok(best)
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

    fn passage_cosine(&self, p: u32, q: &[f32], w: f32) -> Result<Option<f32>> {
        let (Some(vectors), true) = (&self.passage_vectors, w > 0.0) else {
            return Ok(None);
        };
        let dim = self.manifest.dim;
        let v = vectors
            .f32s()?
            .get(p as usize * dim..(p as usize + 1) * dim);
        Ok(v.map(|v| dot(v, q)))
    }

    /// Re-scores sentence→parent candidates with the passage vectors (see
    /// [`AskOptions::passage_weight`]); on exactly searched collections also adds the best
    /// passages by their own vector, so a passage whose sentences are individually weak but
    /// whole is strong is not missed.
    fn blend_passage_vectors(
        &self,
        dense: Vec<DenseHit>,
        q: &[f32],
        limit: usize,
        w: f32,
    ) -> Result<Vec<DenseHit>> {
        let Some(vectors) = self.passage_vectors.as_ref().filter(|_| w > 0.0) else {
            return Ok(dense);
        };
        // A full scan of the passage vectors is cheap next to the sentence scan of the exact
        // path; with the HNSW graph (large collections) it would dominate the latency, so
        // there only the sentence candidates are re-scored.
        let by_passage = if self.hnsw.is_some() {
            Vec::new()
        } else {
            exact_grouped(
                vectors.f32s()?,
                self.manifest.dim,
                q,
                self.len(),
                |r| Some(r as u32),
                limit,
            )
        };
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
        let p = self.passages.get(r.passage)?;
        let (highlight, highlight_range) = match r.sentence.and_then(|s| self.highlight(&p, s, q)) {
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

/// True for a sentence that asks rather than states ("Wat helpt en wat belemmert?").
fn is_question(sentence: &str) -> bool {
    sentence
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '”' | '’' | ')'))
        .ends_with('?')
}

/// First index in `0..n` for which `pred` is false, assuming `pred` is true then false.
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
