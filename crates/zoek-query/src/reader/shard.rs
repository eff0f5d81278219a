//! One question over several collections — shards, typically each behind its own service
//! on its own machine — answered as one collection of all of them would answer it.
//!
//! A question runs in three phases, as Elasticsearch's `dfs_query_then_fetch` does:
//!
//! | phase | shard answers | root does |
//! |---|---|---|
//! | 1. statistics | [`Shard::term_stats`]: document and token counts, per-term document frequencies; [`Shard::centroid`]: the sum of its sentence vectors | sums them ([`TermStats::sum`], [`Centroid::sum`]), so BM25 scores compare across shards, and centres the question on the sum |
//! | 2. candidates | [`Shard::candidates`] for the question's vector and the summed statistics: raw cosines, best sentences, raw BM25 scores, passage keys ([`ShardCandidates`]) | cuts every list to the collection-wide top and fuses once (hybrid, RRF, dense), ties broken by (shard, passage) |
//! | 3. fetch | [`Shard::fetch`] of the top `k` by key: text, heading, highlight, metadata | assembles the [`Answer`] |
//!
//! The root's fusion is the code a single [`Collection`] runs on itself (it is one shard of
//! one), so with exact search the answer over shards equals — passages, order and scores —
//! the answer of one collection holding every shard's documents. The min-max
//! normalisation of the hybrid blend happens in that one place, over all shards'
//! candidates. With HNSW graphs each shard's candidates are approximate on their own, as a
//! larger collection's would be.
//!
//! [`ShardedCollection`] runs the phases over any [`Shard`]: a [`Collection`] in this
//! process, or a client of a remote service (the `zoek` binary's `serve --shards`, whose
//! leaves are ordinary `zoek serve` instances). Shards are asked in parallel; a shard that
//! fails makes the question fail, or, with `partial`, leaves it out of an answer that says
//! so. Every shard's model fingerprint must equal the root engine's.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ask::{Answer, AskOptions, Hit, RankMode, Timings, validate_question};
use super::fusion::{Ranked, fuse};
use super::{Centroid, Collection};
use crate::engine::Engine;
use crate::error::{QueryError, Result};

pub use crate::segment::bm25::TermStats;

/// Phase 2's request: the question's unit vector (embedded once, by the root) and what a
/// shard needs of the [`AskOptions`] to return every candidate the fusion may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardQuery {
    /// Fingerprint of the model that embedded `vector`; a shard built with another refuses
    /// the query ([`QueryError::ModelMismatch`]).
    pub model_id: String,
    /// The question's unit vector, from the model that built the shards (with its query
    /// prefix), centred by the root on the shards' summed [`Centroid`]. Used as given.
    pub vector: Vec<f32>,
    /// The question's term statistics summed over all shards; `None` when it has no term
    /// (or in the dense modes).
    #[serde(default)]
    pub stats: Option<TermStats>,
    /// Ranking mode.
    pub mode: RankMode,
    /// Hits the question wants.
    pub k: usize,
    /// Candidates per ranking list ([`AskOptions::candidates`]).
    pub candidates: usize,
    /// HNSW search breadth ([`AskOptions::ef`]).
    pub ef: usize,
    /// Weight of the passage vector ([`AskOptions::passage_weight`]).
    pub passage_weight: f32,
    /// Metadata filters ([`AskOptions::filters`]).
    #[serde(default)]
    pub filters: Vec<(String, String)>,
    /// Whether candidates whose sentence is a question carry their passage's best statement
    /// ([`AskOptions::demote_questions`]).
    #[serde(default)]
    pub demote_questions: bool,
    /// Whether candidates carry their document, for the root's document prior
    /// ([`AskOptions::doc_prior`] above 0); otherwise the leaf skips the lookup.
    #[serde(default)]
    pub with_docs: bool,
}

impl ShardQuery {
    /// The phase 2 request for `vector`, embedded by model `model_id`, with `opts`.
    pub fn new(
        model_id: &str,
        vector: Vec<f32>,
        stats: Option<TermStats>,
        opts: &AskOptions,
    ) -> Self {
        Self {
            model_id: model_id.to_string(),
            vector,
            stats,
            mode: opts.mode,
            k: opts.k,
            candidates: opts.candidates,
            ef: opts.ef,
            passage_weight: opts.passage_weight,
            filters: opts.filters.clone(),
            demote_questions: opts.demote_questions,
            with_docs: opts.doc_prior > 0.0,
        }
    }
}

/// A passage's best sentence for a question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestSentence {
    /// Its cosine to the question.
    pub score: f32,
    /// Its row in the shard (opaque to the root; handed back in [`FetchItem::sentence`]).
    pub sentence: u32,
}

/// One entry of a shard's candidate list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Passage id in the shard's snapshot.
    pub passage: u32,
    /// The list's own score: the best sentence's cosine ([`ShardCandidates::dense`]), the
    /// passage vector's ([`ShardCandidates::by_passage`]) or raw BM25
    /// ([`ShardCandidates::lexical`]).
    pub score: f32,
    /// The sentence that earned a dense score.
    #[serde(default)]
    pub sentence: Option<u32>,
    /// The passage's best sentence, for entries the fusion may need to score densely
    /// (`by_passage` and `lexical`); `None` elsewhere or when it has none.
    #[serde(default)]
    pub best: Option<BestSentence>,
    /// The passage vector's cosine, on shards with passage vectors when the question blends
    /// them.
    #[serde(default)]
    pub passage_cosine: Option<f32>,
    /// The passage's document within the shard's snapshot (the global id of the document's
    /// first passage), for the document prior ([`AskOptions::doc_prior`]); `None` when the
    /// query did not ask for it ([`ShardQuery::with_docs`]) and from leaves that predate
    /// it, whose passages are then not re-weighted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<u32>,
    /// When the entry's sentence (or best sentence) is a question and the passage also has
    /// statements: the best of those, which [`AskOptions::demote_questions`] scores the
    /// passage by instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<BestSentence>,
}

/// Phase 2's answer: a shard's best candidates, each list best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardCandidates {
    /// Generation of the snapshot that answered; phase 3 asks for the same.
    pub generation: u64,
    /// The shard's model fingerprint.
    pub model_id: String,
    /// Whether the shard was built with passage vectors.
    pub passage_vectors: bool,
    /// Passages by their best sentence (sentence→parent).
    pub dense: Vec<Candidate>,
    /// Passages by their own vector (dense-paragraph mode, and the passage-vector blend).
    pub by_passage: Vec<Candidate>,
    /// Passages by BM25 under the summed statistics.
    pub lexical: Vec<Candidate>,
}

/// One passage to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchItem {
    /// Passage id, as in [`Candidate::passage`].
    pub passage: u32,
    /// The sentence to highlight, as the candidate named it.
    #[serde(default)]
    pub sentence: Option<u32>,
}

/// Phase 3's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Generation the passages were found in ([`ShardCandidates::generation`]).
    pub generation: u64,
    /// The question's vector (the highlight prefers a statement to a question, by cosine).
    pub vector: Vec<f32>,
    /// The passages, in the order they are wanted.
    pub passages: Vec<FetchItem>,
}

/// A fetched passage: what a [`Hit`] shows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedPassage {
    /// Passage id.
    pub passage: u32,
    /// Document id.
    pub doc: String,
    /// Section heading.
    pub heading: Option<String>,
    /// Passage text.
    pub text: String,
    /// The sentence to highlight.
    pub highlight: Option<String>,
    /// Byte range of the highlight in the cleaned document text.
    pub highlight_range: Option<Range<usize>>,
    /// Byte range of the passage in the cleaned document text.
    pub byte_range: Range<usize>,
    /// The document's metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// A collection that can answer the three phases: a [`Collection`] in this process, or a
/// client of a remote one. Implementations bound their own time (a remote client's
/// timeout), so that a question never waits on a shard for longer.
pub trait Shard: Sync {
    /// Phase 1: the question's term statistics; `None` when it has no term.
    fn term_stats(&self, question: &str) -> Result<Option<TermStats>>;
    /// Phase 1, with [`AskOptions::centering`]: the sum of the shard's sentence vectors
    /// ([`Collection::centroid`]); `None` when it has none. The root centres the question
    /// on the sum over all shards.
    fn centroid(&self) -> Result<Option<Centroid>>;
    /// Phase 2: the candidates for `query`.
    fn candidates(&self, query: &ShardQuery) -> Result<ShardCandidates>;
    /// Phase 3: the passages, in the order asked. Errors with
    /// [`QueryError::SnapshotChanged`] when the shard no longer serves `generation`.
    fn fetch(&self, request: &FetchRequest) -> Result<Vec<FetchedPassage>>;
}

impl Shard for Collection {
    fn term_stats(&self, question: &str) -> Result<Option<TermStats>> {
        Collection::term_stats(self, question)
    }

    fn centroid(&self) -> Result<Option<Centroid>> {
        Ok(Collection::centroid(self).cloned())
    }

    fn candidates(&self, query: &ShardQuery) -> Result<ShardCandidates> {
        Collection::candidates(self, query)
    }

    fn fetch(&self, request: &FetchRequest) -> Result<Vec<FetchedPassage>> {
        Collection::fetch(self, request)
    }
}

impl<S: Shard + ?Sized> Shard for &S {
    fn term_stats(&self, question: &str) -> Result<Option<TermStats>> {
        (**self).term_stats(question)
    }

    fn centroid(&self) -> Result<Option<Centroid>> {
        (**self).centroid()
    }

    fn candidates(&self, query: &ShardQuery) -> Result<ShardCandidates> {
        (**self).candidates(query)
    }

    fn fetch(&self, request: &FetchRequest) -> Result<Vec<FetchedPassage>> {
        (**self).fetch(request)
    }
}

/// The answer of a [`ShardedCollection`].
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedAnswer {
    /// The answer; each hit's [`Hit::passage`] is an id in its shard.
    pub answer: Answer,
    /// The shard of each hit, by name.
    pub shards: Vec<String>,
    /// Shards left out (only with `partial`): their passages are missing from the answer.
    pub missing: Vec<String>,
}

impl ShardedAnswer {
    /// Whether a shard was left out.
    pub fn is_partial(&self) -> bool {
        !self.missing.is_empty()
    }

    /// [`Answer::to_json`] with each hit's `"shard"`, and `"partial"` and
    /// `"missing_shards"`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = self.answer.to_json();
        if let Some(hits) = json.get_mut("hits").and_then(|h| h.as_array_mut()) {
            for (hit, shard) in hits.iter_mut().zip(&self.shards) {
                hit["shard"] = serde_json::json!(shard);
            }
        }
        json["partial"] = serde_json::json!(self.is_partial());
        json["missing_shards"] = serde_json::json!(self.missing);
        json
    }
}

/// Shards asked as one collection. See the [module docs](self).
///
/// ```no_run
/// use zoek_query::shard::ShardedCollection;
/// use zoek_query::{AskOptions, Collection, Engine};
///
/// # fn main() -> zoek_query::Result<()> {
/// let engine = Engine::from_default_model()?;
/// let shards = ShardedCollection::new(vec![
///     ("a".to_string(), Collection::open("shard-a")?),
///     ("b".to_string(), Collection::open("shard-b")?),
/// ])?;
/// let answer = shards.ask_with(&engine, "wat belemmert samenwerking?", &AskOptions::default(), false)?;
/// for (hit, shard) in answer.answer.hits.iter().zip(&answer.shards) {
///     println!("{shard}: {} {}", hit.doc, hit.text);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ShardedCollection<S> {
    shards: Vec<(String, S)>,
}

/// How many times a question is asked again when a shard was refreshed between phases.
const SNAPSHOT_RETRIES: usize = 2;

impl<S: Shard> ShardedCollection<S> {
    /// Shards by name, in the order that breaks ties.
    ///
    /// Errors: [`QueryError::InvalidOption`] for no shard or a repeated name.
    pub fn new(shards: Vec<(String, S)>) -> Result<Self> {
        if shards.is_empty() {
            return Err(QueryError::InvalidOption(
                "a sharded collection needs a shard".into(),
            ));
        }
        for (i, (name, _)) in shards.iter().enumerate() {
            if shards[..i].iter().any(|(other, _)| other == name) {
                return Err(QueryError::InvalidOption(format!(
                    "shard {name:?} is listed twice"
                )));
            }
        }
        Ok(Self { shards })
    }

    /// The shards' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shards.iter().map(|(name, _)| name.as_str())
    }

    /// The shards with their names, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &S)> {
        self.shards.iter().map(|(name, s)| (name.as_str(), s))
    }

    /// Asks every shard; see the [module docs](self). With `partial`, a shard that fails
    /// is left out and named in [`ShardedAnswer::missing`]; without, its failure is the
    /// error ([`QueryError::Shard`]). A shard built with another model than `engine`'s is
    /// always an error ([`QueryError::ModelMismatch`]).
    pub fn ask_with(
        &self,
        engine: &Engine,
        question: &str,
        opts: &AskOptions,
        partial: bool,
    ) -> Result<ShardedAnswer> {
        let started = Instant::now();
        validate_question(question, opts)?;
        let q = engine.embed_question(question, engine.dim())?;
        let embedded = Instant::now();
        let mut attempt = 0;
        loop {
            match self.rank(engine.model_id(), question, &q, opts, partial) {
                Err(QueryError::SnapshotChanged { .. }) if attempt < SNAPSHOT_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(mut answer) => {
                    let finished = Instant::now();
                    answer.answer.timings = Timings {
                        embed: embedded - started,
                        search: finished - embedded,
                        total: finished - started,
                    };
                    return Ok(answer);
                }
            }
        }
    }

    /// Runs `f` on every shard not yet `missing`, in parallel when there are several.
    fn each<T: Send>(
        &self,
        missing: &[bool],
        f: impl Fn(usize, &S) -> Result<T> + Sync,
    ) -> Vec<Option<Result<T>>> {
        let run = |(i, (_, shard)): (usize, &(String, S))| (!missing[i]).then(|| f(i, shard));
        if self.shards.len() == 1 {
            return self.shards.iter().enumerate().map(run).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .shards
                .iter()
                .enumerate()
                .map(|entry| scope.spawn(move || run(entry)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Some(Err(QueryError::InvalidOption(
                            "a shard's worker panicked".into(),
                        )))
                    })
                })
                .collect()
        })
    }

    /// Sorts the results of one phase: values for the shards that answered; a failure is
    /// the question's error, or with `partial` marks the shard missing.
    fn settle<T>(
        &self,
        results: Vec<Option<Result<T>>>,
        missing: &mut [bool],
        partial: bool,
    ) -> Result<Vec<Option<T>>> {
        let mut out = Vec::with_capacity(results.len());
        for (i, result) in results.into_iter().enumerate() {
            match result {
                None => out.push(None),
                Some(Ok(v)) => out.push(Some(v)),
                Some(Err(
                    e @ (QueryError::SnapshotChanged { .. } | QueryError::ModelMismatch { .. }),
                )) => {
                    return Err(e);
                }
                Some(Err(e)) if partial => {
                    tracing::warn!(shard = %self.shards[i].0, error = %e, "shard left out");
                    missing[i] = true;
                    out.push(None);
                }
                Some(Err(e)) => return Err(self.shard_error(i, e)),
            }
        }
        Ok(out)
    }

    fn shard_error(&self, i: usize, e: QueryError) -> QueryError {
        match e {
            e @ QueryError::Shard { .. } => e,
            other => QueryError::Shard {
                shard: self.shards[i].0.clone(),
                reason: other.to_string(),
            },
        }
    }

    fn rank(
        &self,
        model_id: &str,
        question: &str,
        q: &[f32],
        opts: &AskOptions,
        partial: bool,
    ) -> Result<ShardedAnswer> {
        let mut missing = vec![false; self.shards.len()];
        let lexical = matches!(opts.mode, RankMode::Hybrid | RankMode::Rrf);
        let centring = opts.centering > 0.0;
        let mut stats = None;
        let mut q = q.to_vec();
        if lexical || centring {
            let found = self.each(&missing, |_, s| {
                let stats = if lexical {
                    s.term_stats(question)?
                } else {
                    None
                };
                let centroid = if centring { s.centroid()? } else { None };
                Ok((stats, centroid))
            });
            let found: Vec<_> = self
                .settle(found, &mut missing, partial)?
                .into_iter()
                .flatten()
                .collect();
            let terms: Vec<TermStats> = found.iter().filter_map(|f| f.0.clone()).collect();
            stats = TermStats::sum(&terms)?;
            // As in one collection: centred only when every shard has a centroid.
            if centring
                && found.iter().all(|f| f.1.is_some())
                && let Some(c) = Centroid::sum(found.iter().filter_map(|f| f.1.as_ref()))?
            {
                c.center(&mut q, opts.centering);
            }
        }
        let q = q.as_slice();
        let coverage = lexical.then(|| stats.as_ref().map_or(0.0, TermStats::coverage));
        let query = ShardQuery::new(model_id, q.to_vec(), stats, opts);
        let found = self.each(&missing, |_, s| s.candidates(&query));
        let found = self.settle(found, &mut missing, partial)?;
        if missing.iter().all(|&m| m) {
            return Err(QueryError::Shard {
                shard: self.names().collect::<Vec<_>>().join(", "),
                reason: "no shard answered".into(),
            });
        }
        let mut passage_vectors = None;
        for (i, c) in found.iter().enumerate() {
            let Some(c) = c else { continue };
            if c.model_id != model_id {
                return Err(QueryError::ModelMismatch {
                    collection: c.model_id.clone(),
                    engine: model_id.to_string(),
                });
            }
            match passage_vectors {
                None => passage_vectors = Some(c.passage_vectors),
                Some(pv) if pv != c.passage_vectors => {
                    return Err(self.shard_error(
                        i,
                        QueryError::InvalidOption(
                            "shards differ in passage vectors; build them with the same options"
                                .into(),
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let empty = ShardCandidates::default();
        let lists: Vec<&ShardCandidates> =
            found.iter().map(|c| c.as_ref().unwrap_or(&empty)).collect();
        let ranked: Vec<Ranked> = fuse(
            &lists,
            coverage.unwrap_or(0.0),
            passage_vectors.unwrap_or(false),
            opts,
        )
        .into_iter()
        .take(opts.k)
        .collect();
        // Phase 3: each shard fetches its own hits.
        let wanted: Vec<FetchRequest> = (0..self.shards.len())
            .map(|i| FetchRequest {
                generation: lists[i].generation,
                vector: q.to_vec(),
                passages: ranked
                    .iter()
                    .filter(|r| r.key.shard as usize == i)
                    .map(|r| FetchItem {
                        passage: r.key.passage,
                        sentence: r.sentence,
                    })
                    .collect(),
            })
            .collect();
        let idle: Vec<bool> = wanted
            .iter()
            .zip(&missing)
            .map(|(w, &m)| m || w.passages.is_empty())
            .collect();
        let fetched = self.each(&idle, |i, s| {
            let request = &wanted[i];
            let got = s.fetch(request)?;
            if got.len() != request.passages.len()
                || got
                    .iter()
                    .zip(&request.passages)
                    .any(|(g, w)| g.passage != w.passage)
            {
                return Err(QueryError::Shard {
                    shard: self.shards[i].0.clone(),
                    reason: "fetched other passages than asked".into(),
                });
            }
            Ok(got)
        });
        let mut fetch_missing = idle.clone();
        let fetched = self.settle(fetched, &mut fetch_missing, partial)?;
        for (i, m) in fetch_missing.iter().enumerate() {
            if *m && !idle[i] {
                missing[i] = true;
            }
        }
        let mut by_shard: Vec<std::vec::IntoIter<FetchedPassage>> = fetched
            .into_iter()
            .map(|f| f.unwrap_or_default().into_iter())
            .collect();
        let mut hits = Vec::with_capacity(ranked.len());
        let mut shards = Vec::with_capacity(ranked.len());
        for r in &ranked {
            let i = r.key.shard as usize;
            if missing[i] {
                continue;
            }
            let Some(passage) = by_shard[i].next() else {
                continue;
            };
            hits.push(Hit::assemble(hits.len() + 1, r, passage));
            shards.push(self.shards[i].0.clone());
        }
        Ok(ShardedAnswer {
            answer: Answer {
                question: question.to_string(),
                hits,
                timings: Timings::default(),
                mode: opts.mode,
                bm25_coverage: coverage,
            },
            shards,
            missing: self
                .shards
                .iter()
                .zip(&missing)
                .filter(|(_, m)| **m)
                .map(|((name, _), _)| name.clone())
                .collect(),
        })
    }
}
