//! Options for building segments, and progress reports.

use std::sync::Arc;

use tantivy::tokenizer::Language;

use crate::format::{CollectionSettings, DEFAULT_HNSW_THRESHOLD};
use crate::text::{Chunking, SentenceVectors, TokenCounting};

/// The stage a build is in, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading, cleaning and chunking the inputs (`done`/`total` in documents).
    Reading,
    /// Embedding sentences (`done`/`total` in sentences).
    EmbeddingSentences,
    /// Embedding whole passages (`done`/`total` in passages), if requested; with late
    /// chunking, passages together with their sentences.
    EmbeddingPassages,
    /// Writing the stores and the BM25 and vector indexes (`done`/`total` in steps).
    Writing,
}

/// A progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Current stage.
    pub stage: Stage,
    /// Units done in this stage.
    pub done: usize,
    /// Units in this stage.
    pub total: usize,
}

/// A progress callback; called from the building thread, so it should be cheap.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options for building a collection ([`Engine::build`](crate::Engine::build),
/// [`CollectionWriter`](crate::CollectionWriter)). The first eight become the collection's
/// [`CollectionSettings`] when it is created; an existing collection keeps its own.
#[derive(Clone)]
pub struct BuildOptions {
    /// Maximum passage length in tokens (default 256).
    pub max_tokens: usize,
    /// Corpus language for BM25 stemming and stop words (default Dutch).
    pub language: Language,
    /// Remove web boilerplate (default true).
    pub clean: bool,
    /// How to count tokens (default: the model's tokenizer).
    pub token_counting: TokenCounting,
    /// Also embed whole passages (default true): the default hybrid ranking blends them into
    /// the dense score (see `AskOptions::passage_weight`) and the dense-paragraph mode needs
    /// them. Turning this off roughly halves the embedding work of a build.
    pub passage_vectors: bool,
    /// Collections with at least this many sentences get HNSW graphs and are searched
    /// approximately; smaller ones are scanned exactly (default
    /// [`DEFAULT_HNSW_THRESHOLD`], 10,000).
    pub hnsw_threshold: usize,
    /// How sentence vectors are made (default [`SentenceVectors::Separate`]: each sentence
    /// on its own). [`SentenceVectors::Late`] pools them out of each passage's forward pass,
    /// which embeds every token once and builds about 1.7× faster, but answered fewer of
    /// the cross-lingual evaluation questions (README, "Relevance").
    pub sentence_vectors: SentenceVectors,
    /// Embed each passage with its document title and section heading in front (default
    /// false: it helped the tuning half of the evaluation questions but not the held-out
    /// half; see the README, "Relevance").
    pub context_headers: bool,
    /// HNSW construction parameters, for collections above `hnsw_threshold`.
    pub hnsw_params: zoek_index::HnswParams,
    /// Texts per embedding call (default 64); progress is reported per call.
    pub batch_size: usize,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        let chunking = Chunking::default();
        Self {
            max_tokens: chunking.max_tokens,
            language: Language::Dutch,
            clean: chunking.clean,
            token_counting: chunking.token_counting,
            passage_vectors: true,
            hnsw_threshold: DEFAULT_HNSW_THRESHOLD,
            sentence_vectors: SentenceVectors::Separate,
            context_headers: false,
            hnsw_params: zoek_index::HnswParams::default(),
            batch_size: 64,
            progress: None,
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("settings", &self.settings())
            .field("hnsw_params", &self.hnsw_params)
            .field("batch_size", &self.batch_size)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

impl BuildOptions {
    /// The settings a collection created with these options records.
    pub fn settings(&self) -> CollectionSettings {
        CollectionSettings {
            language: self.language,
            chunking: Chunking {
                max_tokens: self.max_tokens,
                token_counting: self.token_counting,
                clean: self.clean,
            },
            passage_vectors: self.passage_vectors,
            hnsw_threshold: self.hnsw_threshold,
            sentence_vectors: self.sentence_vectors,
            context_headers: self.context_headers,
        }
    }

    /// Reports progress to the callback, if any.
    pub(crate) fn report(&self, stage: Stage, done: usize, total: usize) {
        if let Some(p) = &self.progress {
            p(Progress { stage, done, total });
        }
    }
}
