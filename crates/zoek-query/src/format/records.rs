//! The JSON records of a segment: documents (`docs.jsonl`), the document table
//! (`docs.idx.jsonl`) and passages (`passages.jsonl`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::jsonl::parse_jsonl;
use crate::error::{QueryError, Result};

/// A document as stored in `docs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Document id.
    pub id: String,
    /// Source file.
    pub source: PathBuf,
    /// Extra JSON-lines fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Cleaned text; passage byte ranges point into it.
    pub text: String,
}

/// One document of a segment as listed in its document table (`docs.idx.jsonl`): what
/// deleting, updating and filtering need, without the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocEntry {
    /// Document id (unique in a collection).
    pub id: String,
    /// Id of the file it came from (relative path; equal to `id` except for JSON lines).
    pub path: String,
    /// Content hash (see `RawDocument::content_hash`).
    pub sha256: String,
    /// Its passages, as segment-local ids.
    pub passages: Range<u32>,
    /// Extra JSON-lines fields, for filters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl DocEntry {
    /// Parses a segment's document table (`path` names it in errors) and checks every
    /// document's passage range against the segment's `passages`.
    pub(crate) fn parse_table(bytes: &[u8], path: &Path, passages: usize) -> Result<Vec<Self>> {
        let docs: Vec<DocEntry> = parse_jsonl(bytes, path)?;
        if let Some(d) = docs
            .iter()
            .find(|d| d.passages.end as usize > passages || d.passages.start > d.passages.end)
        {
            return Err(QueryError::corrupt(
                path,
                format!("document {:?} has passages out of range", d.id),
            ));
        }
        Ok(docs)
    }

    /// Whether the document passes a filter: `path` matches as a prefix of
    /// [`DocEntry::path`], `id` exactly, any other field an equal metadata value (strings as
    /// they are, numbers and booleans as written in JSON).
    pub fn matches(&self, field: &str, value: &str) -> bool {
        match field {
            "path" => self.path.starts_with(value),
            "id" => self.id == value,
            _ => match self.metadata.get(field) {
                Some(serde_json::Value::String(s)) => s == value,
                Some(serde_json::Value::Null) | None => false,
                Some(other) => {
                    // Numbers and booleans compare as written in JSON (`2005`, `true`).
                    let written = other.to_string();
                    written == value
                }
            },
        }
    }
}

/// A passage as stored in `passages.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPassage {
    /// Index of its document in the document store.
    pub doc: u32,
    /// The document's id, repeated so a hit needs one read.
    pub doc_id: String,
    /// Section heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// Passage text.
    pub text: String,
    /// Byte range in the cleaned document text.
    pub range: Range<usize>,
    /// Byte ranges of the sentences in the cleaned document text.
    pub sentences: Vec<Range<usize>>,
    /// Id of the first sentence in the sentence → passage map.
    pub first_sentence: u32,
}

impl StoredPassage {
    /// The text of sentence `i` of this passage (0-based within the passage).
    pub fn sentence_text(&self, i: usize) -> Option<&str> {
        let r = self.sentences.get(i)?;
        let start = r.start.checked_sub(self.range.start)?;
        let end = r.end.checked_sub(self.range.start)?;
        self.text.get(start..end)
    }
}
