//! Raw documents → cleaned, chunked documents and the texts to embed. Nothing here knows
//! how a segment stores them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use super::chunk::{CharEstimate, Chunk, Chunking, TokenCounter, TokenCounting, chunk_document};
use super::clean::{CleanDocument, Section, clean_blocks};
use super::ingest::{Block, RawDocument};
use crate::engine::TextEmbedder;
use crate::error::{QueryError, Result};

/// A document cleaned and cut into passages.
#[derive(Debug, Clone)]
pub(crate) struct PreparedDocument {
    pub id: String,
    pub path: String,
    pub source: PathBuf,
    pub metadata: BTreeMap<String, serde_json::Value>,
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
    let counter: &dyn TokenCounter = match chunking.token_counting {
        TokenCounting::Model => &model_tokens,
        TokenCounting::CharEstimate => &CharEstimate,
    };
    let mut out = Prepared::default();
    let total = docs.len();
    for (i, raw) in docs.into_iter().enumerate() {
        progress(i, total);
        let sha256 = raw.content_hash();
        let clean = if chunking.clean {
            clean_blocks(&raw.blocks)
        } else {
            unfiltered(&raw.blocks)
        };
        out.dropped += clean.dropped;
        let passages = chunk_document(&clean, chunking.max_tokens, counter)?;
        if passages.is_empty() {
            continue;
        }
        out.documents.push(PreparedDocument {
            id: raw.id,
            path: raw.path,
            source: raw.source,
            metadata: raw.metadata,
            sha256,
            text: clean.text,
            passages,
        });
    }
    progress(total, total);
    Ok(out)
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
