//! Building segments: read, clean, chunk, embed, index, write; and building a whole
//! collection as one segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tantivy::tokenizer::Language;

use crate::bm25::write_bm25;
use crate::chunk::{CharEstimate, TokenCounter, chunk_document};
use crate::clean::{CleanDocument, clean_blocks};
use crate::embedder::{ModelTokens, TextEmbedder, check_dim, normalise};
use crate::error::{QueryError, Result, io_err};
use crate::ingest::{Block, BlockKind, InputFile, RawDocument, SkippedFile};
use crate::manifest::{
    ChunkingSettings, Counts, DataFiles, SEGMENT_FILE, SEGMENT_FORMAT_NAME, SEGMENT_FORMAT_VERSION,
    SegmentManifest, file_entries,
};
use crate::store::{
    DocEntry, MAGIC_OFFSETS, MAGIC_SENTENCES, StoredDocument, StoredPassage, sync_dir, sync_tree,
    write_atomic, write_jsonl, write_u32s, write_u64s, write_vectors,
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
    /// approximately; smaller ones are scanned exactly (default 10,000). On PolicyQA
    /// (10,704 sentences) the graph gives the same answers as the exact scan at under a
    /// third of its search time (0.30 against 1.02 ms); below 10,000 sentences the scan
    /// costs under a millisecond and is exact.
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
            hnsw_threshold: 10_000,
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

/// Cleaned, chunked documents ready to embed and write as a segment.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub documents: Vec<StoredDocument>,
    pub entries: Vec<DocEntry>,
    pub passages: Vec<StoredPassage>,
    pub sentence_passage: Vec<u32>,
    pub dropped: usize,
}

/// The corpus-shaping settings every segment of a collection shares.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub max_tokens: usize,
    pub language: Language,
    pub clean: bool,
    pub token_counting: TokenCounting,
    pub passage_vectors: bool,
}

impl Shape {
    pub fn from_options(opts: &BuildOptions) -> Self {
        Self {
            max_tokens: opts.max_tokens,
            language: opts.language,
            clean: opts.clean,
            token_counting: opts.token_counting,
            passage_vectors: opts.passage_vectors,
        }
    }

    pub fn chunking(&self) -> ChunkingSettings {
        ChunkingSettings {
            max_tokens: self.max_tokens,
            token_counter: match self.token_counting {
                TokenCounting::Model => "model".into(),
                TokenCounting::CharEstimate => "chars/4".into(),
            },
            clean: self.clean,
        }
    }
}

pub(crate) fn report(opts: &BuildOptions, stage: Stage, done: usize, total: usize) {
    if let Some(p) = &opts.progress {
        p(Progress { stage, done, total });
    }
}

/// Cleans and chunks documents into passages; documents without a passage are dropped.
pub(crate) fn prepare(
    embedder: &dyn TextEmbedder,
    docs: Vec<RawDocument>,
    shape: &Shape,
    opts: &BuildOptions,
) -> Result<Prepared> {
    if shape.max_tokens < 8 {
        return Err(QueryError::InvalidOption(
            "max_tokens must be at least 8".into(),
        ));
    }
    let model_tokens = ModelTokens(embedder);
    let counter: &dyn TokenCounter = match shape.token_counting {
        TokenCounting::Model => &model_tokens,
        TokenCounting::CharEstimate => &CharEstimate,
    };
    let mut out = Prepared::default();
    let total_docs = docs.len();
    for (i, raw) in docs.into_iter().enumerate() {
        report(opts, Stage::Reading, i, total_docs);
        let sha256 = raw.content_hash();
        let clean = if shape.clean {
            clean_blocks(&raw.blocks)
        } else {
            unfiltered(&raw.blocks)
        };
        out.dropped += clean.dropped;
        let chunks = chunk_document(&clean, shape.max_tokens, counter)?;
        if chunks.is_empty() {
            continue;
        }
        let doc_index = u32::try_from(out.documents.len()).map_err(|_| too_many("documents"))?;
        let first_passage = u32::try_from(out.passages.len()).map_err(|_| too_many("passages"))?;
        for chunk in chunks {
            let passage_id = u32::try_from(out.passages.len()).map_err(|_| too_many("passages"))?;
            let first_sentence =
                u32::try_from(out.sentence_passage.len()).map_err(|_| too_many("sentences"))?;
            out.sentence_passage
                .extend(std::iter::repeat_n(passage_id, chunk.sentences.len()));
            out.passages.push(StoredPassage {
                doc: doc_index,
                doc_id: raw.id.clone(),
                heading: chunk.heading,
                text: clean.text[chunk.range.clone()].to_string(),
                range: chunk.range,
                sentences: chunk.sentences,
                first_sentence,
            });
        }
        let end = u32::try_from(out.passages.len()).map_err(|_| too_many("passages"))?;
        out.entries.push(DocEntry {
            id: raw.id.clone(),
            path: raw.path,
            sha256,
            passages: first_passage..end,
            metadata: raw.metadata.clone(),
        });
        out.documents.push(StoredDocument {
            id: raw.id,
            source: raw.source,
            metadata: raw.metadata,
            text: clean.text,
        });
    }
    report(opts, Stage::Reading, total_docs, total_docs);
    Ok(out)
}

/// Embeds every sentence (and passage, with `passage_vectors`) of `prepared`.
pub(crate) fn embed_prepared(
    embedder: &dyn TextEmbedder,
    prepared: &Prepared,
    passage_vectors: bool,
    opts: &BuildOptions,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let dim = embedder.dim();
    let sentence_texts: Vec<&str> = prepared
        .passages
        .iter()
        .flat_map(|p| (0..p.sentences.len()).map(move |i| p.sentence_text(i).unwrap_or("")))
        .collect();
    let sentences = embed_all(embedder, &sentence_texts, dim, opts.batch_size, |done| {
        report(opts, Stage::EmbeddingSentences, done, sentence_texts.len())
    })?;
    let passages = if passage_vectors {
        let texts: Vec<&str> = prepared.passages.iter().map(|p| p.text.as_str()).collect();
        Some(embed_all(embedder, &texts, dim, opts.batch_size, |done| {
            report(opts, Stage::EmbeddingPassages, done, texts.len())
        })?)
    } else {
        None
    };
    Ok((sentences, passages))
}

/// Everything a segment holds, ready to write.
pub(crate) struct SegmentData<'a> {
    pub prepared: &'a Prepared,
    pub sentence_vectors: &'a [f32],
    pub passage_vectors: Option<&'a [f32]>,
    pub inputs: Vec<InputFile>,
    pub skipped: Vec<SkippedFile>,
}

/// Writes a segment into the new directory `seg_dir`: stores, vectors, BM25, the HNSW graph
/// when `hnsw`, then `segment.json`; everything is fsynced before this returns, so a
/// manifest naming the segment never names a partial one.
pub(crate) fn write_segment(
    seg_dir: &Path,
    data: &SegmentData<'_>,
    model_id: &str,
    dim: usize,
    shape: &Shape,
    hnsw: bool,
    opts: &BuildOptions,
) -> Result<SegmentManifest> {
    let prepared = data.prepared;
    if seg_dir.exists() {
        std::fs::remove_dir_all(seg_dir).map_err(io_err(seg_dir))?;
    }
    std::fs::create_dir_all(seg_dir).map_err(io_err(seg_dir))?;
    let out_dir = seg_dir;
    let generation = generation_name();
    let name = |suffix: &str| format!("{generation}.{suffix}");
    let files_data = DataFiles {
        documents: name("docs.jsonl"),
        passages: name("passages.jsonl"),
        passage_offsets: name("passages.idx"),
        sentence_passages: name("sentences.u32"),
        sentence_vectors: name("sentences.f32"),
        passage_vectors: data.passage_vectors.map(|_| name("passages.f32")),
        hnsw: hnsw.then(|| name("sentences.hnsw")),
        bm25: name("bm25"),
        doc_table: name("docs.idx.jsonl"),
    };
    let steps = 7;
    report(opts, Stage::Writing, 0, steps);
    write_jsonl(&out_dir.join(&files_data.documents), &prepared.documents)?;
    write_jsonl(&out_dir.join(&files_data.doc_table), &prepared.entries)?;
    let offsets = write_jsonl(&out_dir.join(&files_data.passages), &prepared.passages)?;
    write_u64s(
        &out_dir.join(&files_data.passage_offsets),
        MAGIC_OFFSETS,
        &offsets,
    )?;
    write_u32s(
        &out_dir.join(&files_data.sentence_passages),
        MAGIC_SENTENCES,
        &prepared.sentence_passage,
    )?;
    write_vectors(
        &out_dir.join(&files_data.sentence_vectors),
        dim,
        data.sentence_vectors,
    )?;
    report(opts, Stage::Writing, 3, steps);
    if let (Some(file), Some(vectors)) = (&files_data.passage_vectors, data.passage_vectors) {
        write_vectors(&out_dir.join(file), dim, vectors)?;
    }
    report(opts, Stage::Writing, 4, steps);
    let bm25_dir = out_dir.join(&files_data.bm25);
    std::fs::create_dir_all(&bm25_dir).map_err(io_err(&bm25_dir))?;
    write_bm25(
        &bm25_dir,
        shape.language,
        prepared.passages.iter().enumerate().map(|(i, p)| {
            (
                i as u32,
                p.heading.as_deref().unwrap_or(""),
                p.text.as_str(),
            )
        }),
    )?;
    report(opts, Stage::Writing, 5, steps);
    if let Some(file) = &files_data.hnsw {
        write_hnsw(
            &out_dir.join(file),
            dim,
            data.sentence_vectors,
            &opts.hnsw_params,
        )?;
    }
    report(opts, Stage::Writing, 6, steps);

    let mut files = Vec::new();
    for n in [
        Some(&files_data.documents),
        Some(&files_data.passages),
        Some(&files_data.passage_offsets),
        Some(&files_data.sentence_passages),
        Some(&files_data.sentence_vectors),
        files_data.passage_vectors.as_ref(),
        files_data.hnsw.as_ref(),
        Some(&files_data.bm25),
        Some(&files_data.doc_table),
    ]
    .into_iter()
    .flatten()
    {
        files.extend(file_entries(out_dir, n)?);
    }
    let manifest = SegmentManifest {
        format: SEGMENT_FORMAT_NAME.into(),
        format_version: SEGMENT_FORMAT_VERSION,
        generation,
        model_id: model_id.to_string(),
        dim,
        language: shape.language,
        chunking: shape.chunking(),
        counts: Counts {
            documents: prepared.documents.len(),
            passages: prepared.passages.len(),
            sentences: prepared.sentence_passage.len(),
        },
        data: files_data,
        files,
        inputs: data.inputs.clone(),
        skipped: data.skipped.clone(),
        created_unix: unix_now(),
    };
    let manifest_json =
        serde_json::to_vec_pretty(&manifest).map_err(|source| QueryError::Json {
            path: out_dir.join(SEGMENT_FILE),
            source,
        })?;
    write_atomic(&out_dir.join(SEGMENT_FILE), |w| w.write_all(&manifest_json))?;
    sync_tree(out_dir)?;
    if let Some(parent) = out_dir.parent() {
        sync_dir(parent)?;
    }
    report(opts, Stage::Writing, steps, steps);
    Ok(manifest)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Builds `inputs` into a collection in `out_dir` with one segment, replacing whatever
/// collection was there in one atomic manifest swap.
pub(crate) fn build(
    engine: &crate::Engine,
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: &BuildOptions,
) -> Result<BuildStats> {
    let started = Instant::now();
    let mut writer = crate::writer::CollectionWriter::create_replacing(out_dir, engine, opts)?;
    let added = writer.add(inputs)?;
    if added.passages == 0 {
        return Err(QueryError::EmptyCorpus {
            inputs: inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    writer.commit()?;
    remove_stale_generations(out_dir);
    Ok(BuildStats {
        dir: out_dir.to_path_buf(),
        documents: added.documents,
        passages: added.passages,
        sentences: added.sentences,
        dropped_blocks: added.dropped_blocks,
        skipped: added.skipped,
        hnsw: added.hnsw,
        embed_time: added.embed_time,
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

/// Removes the data files of a version 1 collection (a single build in the collection
/// directory) once a new manifest is in place. Only names that look like generation files
/// are touched; failures are logged, not fatal.
fn remove_stale_generations(dir: &Path) {
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
        if !is_generation {
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
