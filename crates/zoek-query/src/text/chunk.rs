//! Sentence-aligned passages of bounded length.
//!
//! A passage is a run of whole sentences from one paragraph, at most `max_tokens` long,
//! carrying its section heading. Passages never cross paragraphs: paragraph breaks in the
//! source are the best topic boundaries there are, and keeping them makes hits readable.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::clean::CleanDocument;
use super::sentences::sentences;
use crate::error::Result;

/// How tokens are counted for chunking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TokenCounting {
    /// With the embedding model's tokenizer (exact).
    #[default]
    #[serde(rename = "model")]
    Model,
    /// As characters / 4 (fast, approximate).
    #[serde(rename = "chars/4")]
    CharEstimate,
}

/// How documents are cut into passages; recorded in every manifest, so every segment of a
/// collection is cut alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunking {
    /// Maximum passage length in tokens.
    pub max_tokens: usize,
    /// What counts tokens.
    #[serde(rename = "token_counter")]
    pub token_counting: TokenCounting,
    /// Whether web boilerplate is removed.
    pub clean: bool,
}

impl Default for Chunking {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            token_counting: TokenCounting::Model,
            clean: true,
        }
    }
}

/// Counts the tokens of a text as the embedding model sees it.
pub trait TokenCounter {
    /// The number of tokens of `text`.
    fn count_tokens(&self, text: &str) -> Result<usize>;
}

/// Estimates tokens as characters / 4, rounded up: good enough for tests and for sizing
/// when no model is at hand, and slightly generous for Dutch with a multilingual vocabulary.
#[derive(Debug, Clone, Copy, Default)]
pub struct CharEstimate;

impl TokenCounter for CharEstimate {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.chars().count().div_ceil(4))
    }
}

/// A passage of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The section heading, if any.
    pub heading: Option<String>,
    /// Byte range of the passage in the cleaned document text.
    pub range: Range<usize>,
    /// Byte ranges of its sentences in the cleaned document text, in order.
    pub sentences: Vec<Range<usize>>,
}

/// Splits a cleaned document into passages of at most `max_tokens` tokens, counted sentence
/// by sentence (a single sentence longer than that is cut at word boundaries).
pub fn chunk_document(
    doc: &CleanDocument,
    max_tokens: usize,
    counter: &dyn TokenCounter,
) -> Result<Vec<Chunk>> {
    let max_tokens = max_tokens.max(8);
    let mut chunks = Vec::new();
    for section in &doc.sections {
        for paragraph in &section.paragraphs {
            let para = &doc.text[paragraph.clone()];
            let mut pieces: Vec<(Range<usize>, usize)> = Vec::new();
            for s in sentences(para) {
                let s = s.start + paragraph.start..s.end + paragraph.start;
                let tokens = counter.count_tokens(&doc.text[s.clone()])?;
                if tokens > max_tokens {
                    for piece in split_long(&doc.text, s, tokens, max_tokens) {
                        let t = counter.count_tokens(&doc.text[piece.clone()])?;
                        pieces.push((piece, t));
                    }
                } else {
                    pieces.push((s, tokens));
                }
            }
            let mut current: Vec<Range<usize>> = Vec::new();
            let mut used = 0usize;
            for (range, tokens) in pieces {
                if !current.is_empty() && used + tokens > max_tokens {
                    chunks.push(make_chunk(&section.heading, std::mem::take(&mut current)));
                    used = 0;
                }
                used += tokens;
                current.push(range);
            }
            if !current.is_empty() {
                chunks.push(make_chunk(&section.heading, current));
            }
        }
    }
    Ok(chunks)
}

fn make_chunk(heading: &Option<String>, sentences: Vec<Range<usize>>) -> Chunk {
    let range = sentences[0].start..sentences[sentences.len() - 1].end;
    Chunk {
        heading: heading.clone(),
        range,
        sentences,
    }
}

/// Cuts an over-long sentence at whitespace into pieces of about `max_tokens` tokens,
/// assuming tokens are spread evenly over its characters.
fn split_long(
    text: &str,
    range: Range<usize>,
    tokens: usize,
    max_tokens: usize,
) -> Vec<Range<usize>> {
    let s = &text[range.clone()];
    let chars = s.chars().count().max(1);
    let budget = (chars * max_tokens / tokens.max(1)).max(1);
    let mut out = Vec::new();
    let mut piece_start: Option<usize> = None;
    let mut piece_chars = 0usize;
    let mut last_end = 0usize;
    for (offset, word) in s
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - s.as_ptr() as usize, w))
    {
        let word_chars = word.chars().count();
        if let Some(start) = piece_start
            && piece_chars + 1 + word_chars > budget
        {
            out.push(range.start + start..range.start + last_end);
            piece_start = None;
        }
        if piece_start.is_none() {
            piece_start = Some(offset);
            piece_chars = word_chars;
        } else {
            piece_chars += 1 + word_chars;
        }
        last_end = offset + word.len();
    }
    if let Some(start) = piece_start {
        out.push(range.start + start..range.start + last_end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clean::clean_blocks;
    use crate::text::ingest::text_blocks;

    #[test]
    fn passages_are_sentence_aligned_bounded_and_carry_headings() {
        let body = "Dit is een zin van redelijke lengte. ".repeat(40);
        let text = format!("Kop een\n\n{body}\n\nKop twee\n\nKort.");
        let doc = clean_blocks(&text_blocks(&text));
        let chunks = chunk_document(&doc, 64, &CharEstimate).unwrap();
        assert!(chunks.len() >= 5, "{} chunks", chunks.len());
        for c in &chunks {
            let t = &doc.text[c.range.clone()];
            let tokens: usize = c
                .sentences
                .iter()
                .map(|s| CharEstimate.count_tokens(&doc.text[s.clone()]).unwrap())
                .sum();
            assert!(tokens <= 64, "{t}");
            assert!(t.ends_with('.'));
            assert_eq!(c.sentences.first().unwrap().start, c.range.start);
            assert_eq!(c.sentences.last().unwrap().end, c.range.end);
        }
        assert_eq!(chunks[0].heading.as_deref(), Some("Kop een"));
        let last = chunks.last().unwrap();
        assert_eq!(last.heading.as_deref(), Some("Kop twee"));
        assert_eq!(&doc.text[last.range.clone()], "Kort.");
        let sentences: usize = chunks.iter().map(|c| c.sentences.len()).sum();
        assert_eq!(sentences, 41);
    }

    #[test]
    fn an_overlong_sentence_is_cut_at_words() {
        let body = format!("{}.", "woord ".repeat(200).trim_end());
        let doc = clean_blocks(&text_blocks(&body));
        let chunks = chunk_document(&doc, 50, &CharEstimate).unwrap();
        assert!(chunks.len() >= 6);
        let mut rebuilt = Vec::new();
        for c in &chunks {
            let t = &doc.text[c.range.clone()];
            assert!(CharEstimate.count_tokens(t).unwrap() <= 50);
            rebuilt.extend(t.split_whitespace());
        }
        assert_eq!(rebuilt.join(" "), body);
    }
}
