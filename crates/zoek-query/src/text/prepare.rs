//! Raw documents → cleaned, chunked documents and the texts to embed. Nothing here knows
//! how a segment stores them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use rayon::prelude::*;

use super::chunk::{CharEstimate, Chunk, Chunking, TokenCounter, TokenCounting, chunk_document};
use super::clean::{CleanDocument, MAX_HEADING_CHARS, Section, clean_blocks};
use super::context::passage_context;
use super::ingest::{Block, BlockKind, RawDocument};
use crate::engine::TextEmbedder;
use crate::error::{QueryError, Result};

/// A document cleaned and cut into passages.
#[derive(Debug, Clone)]
pub(crate) struct PreparedDocument {
    pub id: String,
    pub path: String,
    pub source: PathBuf,
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The document's title: its `title` field, else its first block when that is a
    /// heading-like line.
    pub title: Option<String>,
    /// [`RawDocument::content_hash`] of the document as read.
    pub sha256: String,
    /// The cleaned text; passage and sentence ranges point into it.
    pub text: String,
    pub passages: Vec<Chunk>,
}

impl PreparedDocument {
    pub fn text_of(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or("")
    }
}

/// The documents of one build that have at least one passage.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub documents: Vec<PreparedDocument>,
    /// Lines and blocks the cleaner dropped.
    pub dropped: usize,
}

impl Prepared {
    /// Every sentence's text, document by document, passage by passage: the order of the
    /// sentence vectors.
    pub fn sentence_texts(&self) -> Vec<&str> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.passages
                    .iter()
                    .flat_map(move |p| p.sentences.iter().map(move |s| d.text_of(s)))
            })
            .collect()
    }

    /// Every passage's [context](super::context::passage_context) (title and heading), in
    /// order; empty strings when `context_headers` is off.
    pub fn passage_contexts(&self, context_headers: bool) -> Vec<String> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.passages.iter().map(move |p| {
                    if context_headers {
                        passage_context(d.title.as_deref(), p.heading.as_deref())
                    } else {
                        String::new()
                    }
                })
            })
            .collect()
    }

    /// Every passage's sentences, in order.
    pub fn passage_sentences(&self) -> Vec<Vec<&str>> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.passages
                    .iter()
                    .map(move |p| p.sentences.iter().map(|s| d.text_of(s)).collect())
            })
            .collect()
    }

    /// Every passage's text, in order.
    pub fn passage_texts(&self) -> Vec<&str> {
        self.documents
            .iter()
            .flat_map(|d| d.passages.iter().map(move |p| d.text_of(&p.range)))
            .collect()
    }
}

/// Counts tokens with the embedding model's tokenizer.
struct ModelTokens<'a>(&'a dyn TextEmbedder);

impl TokenCounter for ModelTokens<'_> {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.0.count_tokens(text)
    }
}

/// Cleans and chunks documents into passages; documents without a passage are dropped.
/// `progress(done, total)` is called per document.
pub(crate) fn prepare(
    embedder: &dyn TextEmbedder,
    docs: Vec<RawDocument>,
    chunking: &Chunking,
    mut progress: impl FnMut(usize, usize),
) -> Result<Prepared> {
    if chunking.max_tokens < 8 {
        return Err(QueryError::InvalidOption(
            "max_tokens must be at least 8".into(),
        ));
    }
    let model_tokens = ModelTokens(embedder);
    let counter: &(dyn TokenCounter + Sync) = match chunking.token_counting {
        TokenCounting::Model => &model_tokens,
        TokenCounting::CharEstimate => &CharEstimate,
    };
    let mut out = Prepared::default();
    let total = docs.len();
    let mut done = 0;
    let mut docs = docs.into_iter();
    // Documents are independent and the chunker's tokenizing is most of the work (a single
    // core took 7.5 s for the first 100k nl-laws paragraphs before embedding began): a
    // slice of documents at a time over the pool, in order, progress between slices.
    loop {
        let slice: Vec<RawDocument> = docs.by_ref().take(PREPARE_SLICE).collect();
        if slice.is_empty() {
            break;
        }
        progress(done, total);
        done += slice.len();
        let prepared: Vec<Result<(usize, Option<PreparedDocument>)>> = slice
            .into_par_iter()
            .map(|raw| prepare_one(raw, chunking, counter))
            .collect();
        for p in prepared {
            let (dropped, doc) = p?;
            out.dropped += dropped;
            out.documents.extend(doc);
        }
    }
    progress(total, total);
    Ok(out)
}

/// Documents prepared together between two progress reports.
const PREPARE_SLICE: usize = 256;

/// One document cleaned and chunked, with the number of lines and blocks the cleaner
/// dropped; `None` when nothing is left of it.
fn prepare_one(
    raw: RawDocument,
    chunking: &Chunking,
    counter: &dyn TokenCounter,
) -> Result<(usize, Option<PreparedDocument>)> {
    let sha256 = raw.content_hash();
    let title = title_of(&raw);
    let clean = if chunking.clean {
        clean_blocks(&raw.blocks)
    } else {
        unfiltered(&raw.blocks)
    };
    let passages = chunk_document(&clean, chunking.max_tokens, counter)?;
    if passages.is_empty() {
        return Ok((clean.dropped, None));
    }
    let doc = PreparedDocument {
        id: raw.id,
        path: raw.path,
        source: raw.source,
        metadata: raw.metadata,
        title,
        sha256,
        text: clean.text,
        passages,
    };
    Ok((clean.dropped, Some(doc)))
}

/// A document's title: a string `title` field, else the first block when it is a short
/// line without closing punctuation (a web page's title line, a Markdown `#` heading).
fn title_of(raw: &RawDocument) -> Option<String> {
    if let Some(t) = raw.metadata.get("title").and_then(|v| v.as_str()) {
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        return (!t.is_empty()).then_some(t);
    }
    let first = raw.blocks.first()?;
    let line = first.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let heading_like = first.kind == BlockKind::Heading
        || (line.chars().count() <= MAX_HEADING_CHARS
            && !line.ends_with(['.', '!', '?', ':', ';', ','])
            && line.chars().any(char::is_alphabetic));
    (heading_like && !line.is_empty() && !first.text.trim().contains('\n')).then_some(line)
}

/// Without cleaning, every block is body text in one heading-less section.
fn unfiltered(blocks: &[Block]) -> CleanDocument {
    let mut doc = CleanDocument::default();
    let mut section = Section {
        heading: None,
        paragraphs: Vec::new(),
    };
    for b in blocks {
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
