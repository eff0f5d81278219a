//! Text to token ids with a standard Hugging Face `tokenizer.json`.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::EmbedError;

/// A tokenizer plus the special ids that open and close every sequence.
pub struct TextTokenizer {
    inner: Tokenizer,
    open: Vec<u32>,
    close: Vec<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("open", &self.open)
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; its post-processor decides the specials (`<s> … </s>` for
    /// XLM-R, `[CLS] … [SEP]` for BERT).
    pub fn from_file(path: &Path) -> Result<Self, EmbedError> {
        if !path.is_file() {
            return Err(EmbedError::ModelNotFound {
                dir: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        let mut inner = Tokenizer::from_file(path)
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", path.display())))?;
        // Windows are cut by zoek; the file's own truncation/padding would cut silently.
        inner
            .with_truncation(None)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        // The specials of an empty input are exactly what the post-processor wraps around a
        // sequence; the marker token tells the opening ones from the closing ones.
        let marker = "a";
        let bare = encode(&inner, marker, false)?;
        let full = encode(&inner, marker, true)?;
        let at = full
            .windows(bare.len())
            .position(|w| w == bare.as_slice())
            .ok_or_else(|| {
                EmbedError::Tokenizer("the post-processor changes the content tokens".into())
            })?;
        Ok(Self {
            open: full[..at].to_vec(),
            close: full[at + bare.len()..].to_vec(),
            inner,
        })
    }

    /// Content token ids of `text` (no specials).
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        encode(&self.inner, text, false)
    }

    /// Specials before the content.
    pub fn open(&self) -> &[u32] {
        &self.open
    }

    /// Specials after the content.
    pub fn close(&self) -> &[u32] {
        &self.close
    }

    /// `open + content + close`.
    pub fn wrap(&self, content: &[u32]) -> Vec<u32> {
        let mut v = Vec::with_capacity(content.len() + self.open.len() + self.close.len());
        v.extend_from_slice(&self.open);
        v.extend_from_slice(content);
        v.extend_from_slice(&self.close);
        v
    }

    /// Number of specials around each sequence.
    pub fn specials(&self) -> usize {
        self.open.len() + self.close.len()
    }
}

fn encode(tok: &Tokenizer, text: &str, specials: bool) -> Result<Vec<u32>, EmbedError> {
    tok.encode_fast(text, specials)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))
}
