//! Building a collection: read, clean, chunk, embed, index, write, swap the manifest in.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tantivy::tokenizer::Language;

use crate::bm25::write_bm25;
use crate::chunk::{CharEstimate, TokenCounter, chunk_document};
use crate::clean::{CleanDocument, clean_blocks};
use crate::embedder::{ModelTokens, TextEmbedder, check_dim, normalise};
use crate::error::{QueryError, Result, io_err};
use crate::ingest::{Block, BlockKind, SkippedFile, read_corpus};
use crate::manifest::{
    ChunkingSettings, Counts, DataFiles, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest,
    file_entries,
};
use crate::store::{
    MAGIC_OFFSETS, MAGIC_SENTENCES, StoredDocument, StoredPassage, sync_dir, write_atomic,
    write_jsonl, write_u32s, write_u64s, write_vectors,
};
use crate::vectors::write_hnsw;

/// The stage a build is in, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading, cleaning and chunking the inputs (`done`/`total` in documents).
    Reading,
    /// Embedding sentences (`done`/`total` in sentences).
    EmbeddingSentences,
    /// Embedding whole passages (`done`/`total` in passages), if requested.
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

/// How tokens are counted for chunking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenCounting {
    /// With the embedding model's tokenizer (exact).
    #[default]
    Model,
    /// As characters / 4 (fast, approximate).
    CharEstimate,
}

/// Options for [`Engine::build`](crate::Engine::build).
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
    /// Collections with at least this many sentences get an HNSW index and are searched
    /// approximately; smaller ones are scanned exactly (default 50,000).
    pub hnsw_threshold: usize,
    /// HNSW construction parameters, for collections above `hnsw_threshold`.
    pub hnsw_params: zoek_index::HnswParams,
    /// Texts per embedding call (default 64); progress is reported per call.
    pub batch_size: usize,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            language: Language::Dutch,
            clean: true,
            token_counting: TokenCounting::Model,
            passage_vectors: true,
            hnsw_threshold: 50_000,
            hnsw_params: zoek_index::HnswParams::default(),
            batch_size: 64,
            progress: None,
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("max_tokens", &self.max_tokens)
            .field("language", &self.language)
            .field("clean", &self.clean)
            .field("token_counting", &self.token_counting)
            .field("passage_vectors", &self.passage_vectors)
            .field("hnsw_threshold", &self.hnsw_threshold)
            .field("hnsw_params", &self.hnsw_params)
            .field("batch_size", &self.batch_size)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildStats {
    /// The collection directory.
    pub dir: PathBuf,
    /// Documents indexed.
    pub documents: usize,
    /// Passages.
    pub passages: usize,
    /// Sentences embedded.
    pub sentences: usize,
    /// Lines and blocks dropped as boilerplate.
    pub dropped_blocks: usize,
    /// Files or records skipped, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Whether an HNSW index was written.
    pub hnsw: bool,
    /// Time spent embedding.
    pub embed_time: Duration,
    /// Total build time.
    pub total_time: Duration,
}

pub(crate) fn build(
    embedder: &dyn TextEmbedder,
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: &BuildOptions,
) -> Result<BuildStats> {
    if opts.max_tokens < 8 {
        return Err(QueryError::InvalidOption(
            "max_tokens must be at least 8".into(),
        ));
    }
    let started = Instant::now();
    let report = |stage, done, total| {
        if let Some(p) = &opts.progress {
            p(Progress { stage, done, total });
        }
    };
    let corpus = read_corpus(inputs)?;
    let model_tokens = ModelTokens(embedder);
    let counter: &dyn TokenCounter = match opts.token_counting {
        TokenCounting::Model => &model_tokens,
        TokenCounting::CharEstimate => &CharEstimate,
    };

    let mut documents: Vec<StoredDocument> = Vec::new();
    let mut passages: Vec<StoredPassage> = Vec::new();
    let mut sentence_passage: Vec<u32> = Vec::new();
    let mut dropped = 0usize;
    let total_docs = corpus.documents.len();
    for (i, raw) in corpus.documents.into_iter().enumerate() {
        report(Stage::Reading, i, total_docs);
        let clean = if opts.clean {
            clean_blocks(&raw.blocks)
        } else {
            unfiltered(&raw.blocks)
        };
        dropped += clean.dropped;
        let chunks = chunk_document(&clean, opts.max_tokens, counter)?;
        if chunks.is_empty() {
            continue;
        }
        let doc_index = u32::try_from(documents.len()).map_err(|_| too_many("documents"))?;
        for chunk in chunks {
            let passage_id = u32::try_from(passages.len()).map_err(|_| too_many("passages"))?;
            let first_sentence =
                u32::try_from(sentence_passage.len()).map_err(|_| too_many("sentences"))?;
            sentence_passage.extend(std::iter::repeat_n(passage_id, chunk.sentences.len()));
            passages.push(StoredPassage {
                doc: doc_index,
                doc_id: raw.id.clone(),
                heading: chunk.heading,
                text: clean.text[chunk.range.clone()].to_string(),
                range: chunk.range,
                sentences: chunk.sentences,
                first_sentence,
            });
        }
        documents.push(StoredDocument {
            id: raw.id,
            source: raw.source,
            metadata: raw.metadata,
            text: clean.text,
        });
    }
    report(Stage::Reading, total_docs, total_docs);
    if passages.is_empty() {
        return Err(QueryError::EmptyCorpus {
            inputs: inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }

    let dim = embedder.dim();
    let embed_started = Instant::now();
    let sentence_texts: Vec<&str> = passages
        .iter()
        .flat_map(|p| (0..p.sentences.len()).map(move |i| p.sentence_text(i).unwrap_or("")))
        .collect();
    let sentence_vectors = embed_all(embedder, &sentence_texts, dim, opts.batch_size, |done| {
        report(Stage::EmbeddingSentences, done, sentence_texts.len())
    })?;
    let passage_vectors = if opts.passage_vectors {
        let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        Some(embed_all(embedder, &texts, dim, opts.batch_size, |done| {
            report(Stage::EmbeddingPassages, done, texts.len())
        })?)
    } else {
        None
    };
    let embed_time = embed_started.elapsed();

    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let generation = generation_name();
    let name = |suffix: &str| format!("{generation}.{suffix}");
    let use_hnsw = sentence_passage.len() >= opts.hnsw_threshold;
    let data = DataFiles {
        documents: name("docs.jsonl"),
        passages: name("passages.jsonl"),
        passage_offsets: name("passages.idx"),
        sentence_passages: name("sentences.u32"),
        sentence_vectors: name("sentences.f32"),
        passage_vectors: passage_vectors.as_ref().map(|_| name("passages.f32")),
        hnsw: use_hnsw.then(|| name("sentences.hnsw")),
        bm25: name("bm25"),
    };
    let steps = 7;
    report(Stage::Writing, 0, steps);
    write_jsonl(&out_dir.join(&data.documents), &documents)?;
    let offsets = write_jsonl(&out_dir.join(&data.passages), &passages)?;
    write_u64s(
        &out_dir.join(&data.passage_offsets),
        MAGIC_OFFSETS,
        &offsets,
    )?;
    write_u32s(
        &out_dir.join(&data.sentence_passages),
        MAGIC_SENTENCES,
        &sentence_passage,
    )?;
    write_vectors(
        &out_dir.join(&data.sentence_vectors),
        dim,
        &sentence_vectors,
    )?;
    report(Stage::Writing, 3, steps);
    if let (Some(file), Some(vectors)) = (&data.passage_vectors, &passage_vectors) {
        write_vectors(&out_dir.join(file), dim, vectors)?;
    }
    report(Stage::Writing, 4, steps);
    let bm25_tmp = out_dir.join(format!("{}.tmp", data.bm25));
    std::fs::create_dir_all(&bm25_tmp).map_err(io_err(&bm25_tmp))?;
    write_bm25(
        &bm25_tmp,
        opts.language,
        passages.iter().enumerate().map(|(i, p)| {
            (
                i as u32,
                p.heading.as_deref().unwrap_or(""),
                p.text.as_str(),
            )
        }),
    )?;
    let bm25_dir = out_dir.join(&data.bm25);
    std::fs::rename(&bm25_tmp, &bm25_dir).map_err(io_err(&bm25_dir))?;
    report(Stage::Writing, 5, steps);
    if let Some(file) = &data.hnsw {
        write_hnsw(
            &out_dir.join(file),
            dim,
            &sentence_vectors,
            &opts.hnsw_params,
        )?;
    }
    report(Stage::Writing, 6, steps);

    let mut files = Vec::new();
    for n in [
        Some(&data.documents),
        Some(&data.passages),
        Some(&data.passage_offsets),
        Some(&data.sentence_passages),
        Some(&data.sentence_vectors),
        data.passage_vectors.as_ref(),
        data.hnsw.as_ref(),
        Some(&data.bm25),
    ]
    .into_iter()
    .flatten()
    {
        files.extend(file_entries(out_dir, n)?);
    }
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        generation: generation.clone(),
        model_id: embedder.model_id().to_string(),
        dim,
        language: opts.language,
        chunking: ChunkingSettings {
            max_tokens: opts.max_tokens,
            token_counter: match opts.token_counting {
                TokenCounting::Model => "model".into(),
                TokenCounting::CharEstimate => "chars/4".into(),
            },
            clean: opts.clean,
        },
        counts: Counts {
            documents: documents.len(),
            passages: passages.len(),
            sentences: sentence_passage.len(),
        },
        data,
        files,
        inputs: corpus.files,
        skipped: corpus.skipped.clone(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let manifest_json =
        serde_json::to_vec_pretty(&manifest).map_err(|source| QueryError::Json {
            path: out_dir.join(MANIFEST_FILE),
            source,
        })?;
    write_atomic(&out_dir.join(MANIFEST_FILE), |w| {
        w.write_all(&manifest_json)
    })?;
    sync_dir(out_dir)?;
    remove_stale_generations(out_dir, &generation);
    report(Stage::Writing, steps, steps);

    Ok(BuildStats {
        dir: out_dir.to_path_buf(),
        documents: documents.len(),
        passages: passages.len(),
        sentences: sentence_passage.len(),
        dropped_blocks: dropped,
        skipped: corpus.skipped,
        hnsw: manifest.data.hnsw.is_some(),
        embed_time,
        total_time: started.elapsed(),
    })
}

fn too_many(what: &str) -> QueryError {
    QueryError::InvalidOption(format!("more than {} {what}", u32::MAX))
}

/// Without cleaning, every block is body text in one heading-less section.
fn unfiltered(blocks: &[Block]) -> CleanDocument {
    let as_text: Vec<Block> = blocks
        .iter()
        .map(|b| Block {
            text: b.text.clone(),
            kind: BlockKind::Text,
        })
        .collect();
    let mut doc = CleanDocument::default();
    let mut section = crate::clean::Section {
        heading: None,
        paragraphs: Vec::new(),
    };
    for b in as_text {
        let text = b.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            continue;
        }
        if !doc.text.is_empty() {
            doc.text.push_str("\n\n");
        }
        let start = doc.text.len();
        doc.text.push_str(&text);
        section.paragraphs.push(start..doc.text.len());
    }
    if !section.paragraphs.is_empty() {
        doc.sections.push(section);
    }
    doc
}

fn embed_all(
    embedder: &dyn TextEmbedder,
    texts: &[&str],
    dim: usize,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(texts.len() * dim);
    progress(0);
    for batch in texts.chunks(batch_size.max(1)) {
        let vectors = embedder.embed_passages(batch)?;
        if vectors.len() != batch.len() {
            return Err(QueryError::EmbeddingShape {
                expected: batch.len() * dim,
                got: vectors.iter().map(Vec::len).sum(),
            });
        }
        for mut v in vectors {
            check_dim(&v, dim)?;
            normalise(&mut v);
            out.extend_from_slice(&v);
        }
        progress(out.len() / dim.max(1));
    }
    Ok(out)
}

/// A name unique to this build: time in nanoseconds and process id.
fn generation_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "g{:016x}{:06x}",
        nanos as u64,
        std::process::id() & 0xff_ffff
    )
}

/// Removes data files of earlier builds once the new manifest is in place. Only names that
/// look like generation files are touched; failures are logged, not fatal.
fn remove_stale_generations(dir: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((generation, _)) = name.split_once('.') else {
            continue;
        };
        let is_generation = generation.len() == 23
            && generation.starts_with('g')
            && generation[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !is_generation || generation == current {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not remove stale collection file");
        }
    }
}
