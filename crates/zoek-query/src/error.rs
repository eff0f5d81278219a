//! The one error type of the crate. Every other module reports through it; it imports
//! nothing of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while building or querying a collection.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The inputs held no document with indexable text.
    #[error("empty corpus: no readable document with text in {inputs}")]
    EmptyCorpus {
        /// The inputs as given, joined for display.
        inputs: String,
    },
    /// An input path does not exist.
    #[error("input path not found: {0}")]
    InputNotFound(PathBuf),
    /// The question is empty or only whitespace.
    #[error("the question is empty")]
    EmptyQuestion,
    /// The question is longer than the configured limit.
    #[error("the question is {len} bytes long; the limit is {limit} bytes")]
    QuestionTooLong {
        /// Length of the question in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// `k` was zero.
    #[error("k must be at least 1")]
    ZeroK,
    /// The collection directory does not exist or has no manifest.
    #[error("no collection at {dir}: {reason}")]
    MissingCollection {
        /// The directory that was opened.
        dir: PathBuf,
        /// Why it is not a collection.
        reason: String,
    },
    /// The manifest or a data file is unreadable, inconsistent or of an unknown format.
    #[error("corrupt collection at {path}: {reason}")]
    Corrupt {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The collection was written by an incompatible version of zoek.
    #[error(
        "collection format version {found} is not supported (this build reads version {supported}); rebuild it with `zoek index`"
    )]
    UnsupportedVersion {
        /// Version found in the manifest.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The engine's model differs from the one the collection was built with.
    #[error(
        "model mismatch: the collection was built with model `{collection}` but the engine runs `{engine}`; rebuild the collection or use the same model"
    )]
    ModelMismatch {
        /// Fingerprint recorded in the collection's manifest.
        collection: String,
        /// Fingerprint of the engine's model.
        engine: String,
    },
    /// The embedder returned vectors of an unexpected shape.
    #[error("embedder returned {got} values where {expected} were expected")]
    EmbeddingShape {
        /// Values expected.
        expected: usize,
        /// Values returned.
        got: usize,
    },
    /// The embedding model failed (to load, or on an input). The model's own error is the
    /// message, not a separate source, so that error chains do not print it twice.
    #[error("embedding model: {0}")]
    Embed(Box<dyn std::error::Error + Send + Sync>),
    /// The vector index failed.
    #[error("vector index: {0}")]
    Index(#[from] zoek_index::IndexError),
    /// The BM25 index failed.
    #[error("bm25 index: {0}")]
    Bm25(#[from] tantivy::TantivyError),
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be (de)serialised.
    #[error("{path}: {source}")]
    Json {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Another writer (in this process or another one) holds the collection's writer lock.
    #[error(
        "another writer is changing the collection at {dir} (lock {lock} is held); wait for it to finish"
    )]
    WriterLocked {
        /// The collection directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A document id or path to delete is not in the collection; nothing was changed.
    #[error("no document with id or path {id:?} in the collection")]
    UnknownDocument {
        /// The id as given.
        id: String,
    },
    /// A count exceeds what the format can address (passage and sentence ids are `u32`).
    #[error("more than {limit} {what}: split the input into several collections")]
    Capacity {
        /// What overflowed ("passages in a segment", "sentences in a segment", …).
        what: &'static str,
        /// The largest count the format holds.
        limit: u64,
    },
    /// The writer was opened without a model (for deleting and merging) and was asked to
    /// embed.
    #[error("this writer was opened without a model; adding documents needs one")]
    NoModel,
    /// Invalid options.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A shard of a [`ShardedCollection`](crate::shard::ShardedCollection) failed to answer
    /// (unreachable, too slow, an error of its own) or answered something unusable.
    #[error("shard {shard}: {reason}")]
    Shard {
        /// The shard's name (for a service, its URL).
        shard: String,
        /// What went wrong.
        reason: String,
    },
    /// Passages were asked of a snapshot the collection no longer serves: it was refreshed
    /// between a question's candidate and fetch phases. Asking again gives a consistent
    /// answer.
    #[error("the collection changed during the question (generation {expected}, now {current})")]
    SnapshotChanged {
        /// Generation the passages were taken from.
        expected: u64,
        /// Generation served now.
        current: u64,
    },
}

impl QueryError {
    /// A [`QueryError::Corrupt`] for the file at `path`.
    pub fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A [`QueryError::Capacity`] for ids held in a `u32`.
    pub(crate) fn too_many(what: &'static str) -> Self {
        Self::Capacity {
            what,
            limit: u64::from(u32::MAX),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> QueryError {
    let path = path.into();
    move |source| QueryError::Io { path, source }
}
