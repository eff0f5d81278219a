//! Asking a collection: validate, embed, gather candidates from every segment (in
//! parallel), fuse once, read the hits.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::fusion::{Ranked, fuse};
use super::shard::{
    BestSentence, Candidate, FetchItem, FetchRequest, FetchedPassage, ShardCandidates, ShardQuery,
    TermStats,
};
use super::{Collection, Part};
use crate::engine::{Engine, check_dim, normalise};
use crate::error::{QueryError, Result};
use crate::format::bits::Bits;
use crate::segment::bm25::{self, Bm25, Bm25Part, PreparedQuery};
use crate::segment::dense::{DenseHit, cut_with_ties, sort_dense, top};

/// Questions longer than this many bytes are refused by default (see
/// [`AskOptions::max_question_bytes`]); the model reads at most 512 tokens anyway.
pub const DEFAULT_MAX_QUESTION_BYTES: usize = 16 * 1024;

/// The default [`AskOptions::centering`]: off (see there for what was measured).
pub const DEFAULT_CENTERING: f32 = 0.0;

/// The default [`AskOptions::doc_prior`]: off (see there for what was measured).
pub const DEFAULT_DOC_PRIOR: f32 = 0.0;

/// The default [`AskOptions::demote_questions`]: on (see there for what was measured).
pub const DEFAULT_DEMOTE_QUESTIONS: bool = true;

/// How many of a document's best dense candidates its evidence averages
/// ([`AskOptions::doc_prior`]).
pub const DOC_PRIOR_PASSAGES: usize = 3;

/// How passages are ranked. Written and parsed by one set of names ([`RankMode::name`],
/// [`FromStr`](std::str::FromStr), serde): `hybrid`, `rrf`, `sentence-to-parent` (also
/// `dense`), `dense-paragraph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

impl RankMode {
    /// Every mode, in the order of [`RankMode::NAMES`].
    pub const ALL: [RankMode; 4] = [
        RankMode::Hybrid,
        RankMode::Rrf,
        RankMode::SentenceToParent,
        RankMode::DenseParagraph,
    ];
    /// The names of the modes, as written; `dense` is also accepted for
    /// `sentence-to-parent`.
    pub const NAMES: [&'static str; 4] = ["hybrid", "rrf", "sentence-to-parent", "dense-paragraph"];

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            RankMode::Hybrid => "hybrid",
            RankMode::Rrf => "rrf",
            RankMode::SentenceToParent => "sentence-to-parent",
            RankMode::DenseParagraph => "dense-paragraph",
        }
    }
}

impl std::fmt::Display for RankMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RankMode {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self> {
        if s == "dense" {
            return Ok(RankMode::SentenceToParent);
        }
        RankMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                QueryError::InvalidOption(format!(
                    "unknown ranking mode {s:?} (one of {}, or dense)",
                    RankMode::NAMES.join(", ")
                ))
            })
    }
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
    /// How far a question is moved away from the collection's centroid before it is
    /// compared, `β` in `q − β·ĉ` (default [`DEFAULT_CENTERING`], off; at most 1), so that
    /// sentences close to everything in the collection stop winning questions they do not
    /// answer (see [`Centroid`](super::Centroid)). Off by default because it did not help on
    /// both of zoek's evaluation sets: 0.3 raised the held-out MRR@10 of zoek's own
    /// question set from 0.757 to 0.772 but lowered PolicyQA's from 0.948 to 0.943, and
    /// from 0.5 up it moves answers on a small one-topic collection such as the example
    /// corpus, whose centroid is its topic (README, "Relevance"). Collections whose segments
    /// predate the centroid are asked uncentred.
    pub centering: f32,
    /// In the hybrid and RRF modes: the weight `γ` of a document prior in each passage's
    /// dense score, `(1 − γ)·score + γ·evidence`, where a document's evidence is the mean of
    /// its best [`DOC_PRIOR_PASSAGES`] dense candidates, counting missing ones at the
    /// candidate list's lowest score (default [`DEFAULT_DOC_PRIOR`], off; at most 1). A
    /// generic sentence in a document nothing else matches then no longer wins alone against
    /// passages of a document that answers the question in several places.
    pub doc_prior: f32,
    /// Scores a passage whose best sentence is a question ("Wat helpt en wat belemmert?")
    /// by its best statement instead, when it has one (default
    /// [`DEFAULT_DEMOTE_QUESTIONS`], on). A question in the text is often the sentence
    /// closest to a question, but it answers nothing; the highlight already skips it, this
    /// moves the passage's rank too. Applied after each list is cut, so sharded answers
    /// stay those of one collection. On by default because it raised the MRR@10 of both
    /// halves of zoek's own question set (held-out 0.758 → 0.784, tuning 0.720 → 0.756)
    /// and left PolicyQA level (0.948 → 0.947: of 400 questions 5 moved up and 3 down; the
    /// pages of those 3 phrase conditions as questions; README, "Relevance").
    /// Turn it off for collections of questions, such as FAQ lists without answers.
    pub demote_questions: bool,
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
            centering: DEFAULT_CENTERING,
            doc_prior: DEFAULT_DOC_PRIOR,
            demote_questions: DEFAULT_DEMOTE_QUESTIONS,
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
    /// The document's metadata: the extra fields of a JSON-lines record or of
    /// [`RawDocument::from_text`](crate::text::ingest::RawDocument::from_text), the title of
    /// an office file; empty when it has none.
    pub metadata: BTreeMap<String, serde_json::Value>,
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
    /// "highlight", "byte_range", "page", "metadata"}], "timings_ms": {"embed", "search", "total"}}`.
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
                "page": h.metadata.get("page"),
                "metadata": h.metadata,
            })).collect::<Vec<_>>(),
            "timings_ms": {
                "embed": ms(self.timings.embed),
                "search": ms(self.timings.search),
                "total": ms(self.timings.total),
            },
        })
    }
}

/// Below this many sentences in all, segments are searched on the calling thread.
const PARALLEL_MIN_SENTENCES: usize = 4096;

/// A mask of the passages a question may return, per part.
type Masks = Vec<Option<Arc<Bits>>>;

/// Dense candidates and BM25 matches `(passage, score)` gathered over all segments.
type Gathered = (Vec<DenseHit>, Vec<(u32, f32)>);

impl Collection {
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
        validate_question(question, opts)?;
        self.check_mode(opts.mode)
    }

    fn check_mode(&self, mode: RankMode) -> Result<()> {
        if mode == RankMode::DenseParagraph && !self.manifest.settings.passage_vectors {
            return Err(QueryError::InvalidOption(
                "dense-paragraph ranking needs a collection built with passage vectors".into(),
            ));
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

    /// A collection answers as one shard of one: the same phases and the same fusion as
    /// a [`ShardedCollection`](crate::shard::ShardedCollection).
    fn rank(
        &self,
        question: &str,
        q: Vec<f32>,
        opts: &AskOptions,
        started: Instant,
    ) -> Result<Answer> {
        let embedded = Instant::now();
        let mut q = q;
        if let Some(c) = &self.centroid {
            c.center(&mut q, opts.centering);
        }
        let lexical = matches!(opts.mode, RankMode::Hybrid | RankMode::Rrf);
        let stats = if lexical {
            self.term_stats(question)?
        } else {
            None
        };
        let coverage = lexical.then(|| stats.as_ref().map_or(0.0, TermStats::coverage));
        let query = ShardQuery::new(&self.manifest.model_id, q, stats, opts);
        let found = self.candidates(&query)?;
        let ranked = fuse(
            &[&found],
            coverage.unwrap_or(0.0),
            found.passage_vectors,
            opts,
        );
        let mut hits = Vec::with_capacity(opts.k);
        for (i, r) in ranked.iter().take(opts.k).enumerate() {
            let passage = self.fetch_one(r.key.passage, r.sentence, &query.vector)?;
            hits.push(Hit::assemble(i + 1, r, passage));
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

    /// Phase 1 of a sharded question ([`crate::shard`]): the question's terms with this
    /// collection's BM25 statistics; `None` when the question has no term.
    pub fn term_stats(&self, question: &str) -> Result<Option<TermStats>> {
        let indexes: Vec<&Bm25> = self.parts.iter().map(|p| &p.segment.bm25).collect();
        bm25::term_stats(&indexes, question)
    }

    /// Phase 2 of a sharded question ([`crate::shard`]): this collection's best candidates
    /// for `query`, every list cut to what the fusion can use.
    ///
    /// Errors: [`QueryError::ModelMismatch`] for a vector of another model,
    /// [`QueryError::ZeroK`], [`QueryError::EmbeddingShape`] for a vector of
    /// another dimension, [`QueryError::InvalidOption`] for bad filters, statistics of
    /// another language, or dense-paragraph ranking without passage vectors.
    pub fn candidates(&self, query: &ShardQuery) -> Result<ShardCandidates> {
        if query.model_id != self.manifest.model_id {
            return Err(QueryError::ModelMismatch {
                collection: self.manifest.model_id.clone(),
                engine: query.model_id.clone(),
            });
        }
        if query.k == 0 {
            return Err(QueryError::ZeroK);
        }
        check_dim(&query.vector, self.manifest.dim)?;
        check_filters(&query.filters)?;
        self.check_mode(query.mode)?;
        let q = query.vector.as_slice();
        let masks = self.masks(&query.filters)?;
        let passage_vectors = self.manifest.settings.passage_vectors;
        let mut out = ShardCandidates {
            generation: self.generation(),
            model_id: self.manifest.model_id.clone(),
            passage_vectors,
            ..ShardCandidates::default()
        };
        // Only when the root will weigh documents: the lookup is per candidate.
        let doc_of = |p: u32| -> Result<Option<u32>> {
            if query.with_docs {
                self.doc_key(p).map(Some)
            } else {
                Ok(None)
            }
        };
        let dense_entry = |h: DenseHit| -> Result<Candidate> {
            Ok(Candidate {
                passage: h.passage,
                score: h.score,
                sentence: h.sentence,
                best: None,
                passage_cosine: None,
                doc: doc_of(h.passage)?,
                statement: match (query.demote_questions, h.sentence) {
                    (true, Some(sentence)) => self.statement(h.passage, sentence, q)?,
                    _ => None,
                },
            })
        };
        // For entries scored by their best sentence rather than as a list's own.
        let best_statement = |p: u32, best: Option<BestSentence>| -> Result<Option<BestSentence>> {
            match (query.demote_questions, best) {
                (true, Some(b)) => self.statement(p, b.sentence, q),
                _ => Ok(None),
            }
        };
        match query.mode {
            RankMode::DenseParagraph => {
                let mut all = Vec::new();
                for (part, mask) in self.parts.iter().zip(&masks) {
                    let hits = part.segment.dense_by_passage(q, query.k, mask.as_deref())?;
                    all.extend(Self::globalise(part, hits));
                }
                for hit in top(all, query.k) {
                    out.by_passage.push(Candidate {
                        best: self.best(hit.passage, q)?,
                        ..dense_entry(hit)?
                    });
                }
            }
            RankMode::SentenceToParent => {
                let (dense, _) = self.dense_by_sentence(q, query.k, query.ef, &masks, None)?;
                out.dense = dense.into_iter().map(dense_entry).collect::<Result<_>>()?;
            }
            RankMode::Hybrid | RankMode::Rrf => {
                let limit = query.candidates.max(query.k);
                let w = if passage_vectors {
                    query.passage_weight.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let prepared = match &query.stats {
                    Some(stats) => {
                        let indexes: Vec<&Bm25> =
                            self.parts.iter().map(|p| &p.segment.bm25).collect();
                        bm25::prepare(&indexes, stats)?
                    }
                    None => None,
                };
                let (dense, lexical) =
                    self.dense_by_sentence(q, limit, query.ef, &masks, prepared.as_ref())?;
                for hit in dense {
                    out.dense.push(Candidate {
                        passage_cosine: self.passage_cosine(hit.passage, q, w)?,
                        ..dense_entry(hit)?
                    });
                }
                if passage_vectors && w > 0.0 {
                    // A full scan of the passage vectors is cheap next to the sentence scan
                    // of an exactly searched segment; with an HNSW graph (large segments)
                    // it would dominate the latency, so there only the sentence candidates
                    // are re-scored.
                    let mut by_passage = Vec::new();
                    for (part, mask) in self.parts.iter().zip(&masks) {
                        if !part.segment.uses_hnsw() {
                            let hits = part.segment.dense_by_passage(q, limit, mask.as_deref())?;
                            by_passage.extend(Self::globalise(part, hits));
                        }
                    }
                    for hit in top(by_passage, limit) {
                        let best = self.best(hit.passage, q)?;
                        out.by_passage.push(Candidate {
                            best,
                            passage_cosine: self.passage_cosine(hit.passage, q, w)?,
                            statement: best_statement(hit.passage, best)?,
                            ..dense_entry(hit)?
                        });
                    }
                }
                for (passage, score) in lexical {
                    let best = self.best(passage, q)?;
                    out.lexical.push(Candidate {
                        passage,
                        score,
                        sentence: None,
                        best,
                        passage_cosine: self.passage_cosine(passage, q, w)?,
                        doc: doc_of(passage)?,
                        statement: best_statement(passage, best)?,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Phase 3 of a sharded question ([`crate::shard`]): the passages asked for, with
    /// their highlights.
    ///
    /// Errors: [`QueryError::SnapshotChanged`] when this snapshot is not the generation
    /// asked for, [`QueryError::InvalidOption`] for a passage it does not hold.
    pub fn fetch(&self, request: &FetchRequest) -> Result<Vec<FetchedPassage>> {
        if request.generation != self.generation() {
            return Err(QueryError::SnapshotChanged {
                expected: request.generation,
                current: self.generation(),
            });
        }
        check_dim(&request.vector, self.manifest.dim)?;
        request
            .passages
            .iter()
            .map(|&FetchItem { passage, sentence }| {
                if self.locate(passage).is_none() {
                    return Err(QueryError::InvalidOption(format!(
                        "passage {passage} is not in generation {}",
                        self.generation()
                    )));
                }
                self.fetch_one(passage, sentence, &request.vector)
            })
            .collect()
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
        all.truncate(cut_with_ties(all.len(), limit, |i| all[i].score));
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

    /// Passage `p`'s best statement when its sentence `sentence` is a question.
    fn statement(&self, p: u32, sentence: u32, q: &[f32]) -> Result<Option<BestSentence>> {
        let (part, local) = self.part_of(p)?;
        Ok(part.segment.statement(local, sentence, q)?.and_then(|h| {
            h.sentence.map(|sentence| BestSentence {
                score: h.score,
                sentence,
            })
        }))
    }

    /// Passage `p`'s document, as the global id of the document's first passage (unique in
    /// this snapshot, and cheap: the segment's document table is parsed once).
    fn doc_key(&self, p: u32) -> Result<u32> {
        let (part, local) = self.part_of(p)?;
        let docs = part.segment.docs()?;
        let i = docs.partition_point(|d| d.passages.end <= local);
        match docs.get(i) {
            Some(d) if d.passages.contains(&local) => Ok(p - local + d.passages.start),
            _ => Err(QueryError::corrupt(
                &self.dir,
                format!("passage {p} belongs to no document"),
            )),
        }
    }

    fn passage_cosine(&self, p: u32, q: &[f32], w: f32) -> Result<Option<f32>> {
        let (part, local) = self.part_of(p)?;
        part.segment.passage_cosine(local, q, w)
    }

    /// Passage `p`'s best sentence for `q`, if it has one.
    fn best(&self, p: u32, q: &[f32]) -> Result<Option<BestSentence>> {
        let hit = self.best_sentence(p, q)?;
        Ok(hit.sentence.map(|sentence| BestSentence {
            score: hit.score,
            sentence,
        }))
    }

    fn fetch_one(&self, passage: u32, sentence: Option<u32>, q: &[f32]) -> Result<FetchedPassage> {
        let (part, local) = self.part_of(passage)?;
        let p = part.segment.passage(local)?;
        let metadata = part
            .segment
            .docs()?
            .get(p.doc as usize)
            .map(|d| d.metadata.clone())
            .unwrap_or_default();
        let (highlight, highlight_range) =
            match sentence.and_then(|s| part.segment.highlight(&p, s, q)) {
                Some(i) => (
                    p.sentence_text(i).map(str::to_string),
                    p.sentences.get(i).cloned(),
                ),
                None => (None, None),
            };
        Ok(FetchedPassage {
            passage,
            doc: p.doc_id,
            heading: p.heading,
            text: p.text,
            highlight,
            highlight_range,
            byte_range: p.range,
            metadata,
        })
    }
}

impl Hit {
    /// The hit at `rank` for a fused result and its fetched passage.
    pub(crate) fn assemble(rank: usize, r: &Ranked, p: FetchedPassage) -> Hit {
        Hit {
            rank,
            score: r.score,
            passage: p.passage,
            doc: p.doc,
            heading: p.heading,
            text: p.text,
            highlight: p.highlight,
            highlight_range: p.highlight_range,
            byte_range: p.byte_range,
            dense_score: r.dense,
            bm25_score: r.bm25,
            metadata: p.metadata,
        }
    }
}

/// The checks of a question that need no collection.
pub(crate) fn validate_question(question: &str, opts: &AskOptions) -> Result<()> {
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
    if !(0.0..=1.0).contains(&opts.centering) {
        return Err(QueryError::InvalidOption(format!(
            "centering must be between 0 and 1, not {}",
            opts.centering
        )));
    }
    if !(0.0..=1.0).contains(&opts.doc_prior) {
        return Err(QueryError::InvalidOption(format!(
            "doc_prior must be between 0 and 1, not {}",
            opts.doc_prior
        )));
    }
    check_filters(&opts.filters)
}

fn check_filters(filters: &[(String, String)]) -> Result<()> {
    if filters.iter().any(|(field, _)| field.is_empty()) {
        return Err(QueryError::InvalidOption(
            "a filter needs a field name (field=value)".into(),
        ));
    }
    Ok(())
}
