//! The embedding model as the query engine sees it.
//!
//! [`TextEmbedder`] is what a collection needs from a model; `zoek_embed::Embedder`
//! implements it, and so does [`HashEmbedder`], a model-free embedder that lets the whole
//! pipeline run in tests and smoke checks where the model files are absent. [`Engine`] is
//! the shared handle that building and asking take. This module imports only the error
//! type; building (`Engine::build`) is added by the writer.

use std::path::Path;
use std::sync::Arc;

pub use zoek_embed::{LatePassage, LateVectors};

use crate::error::{QueryError, Result};

/// A sentence-embedding model: queries and passages are embedded differently (E5 prefixes).
pub trait TextEmbedder: Send + Sync {
    /// Fingerprint of the model; collections record it and refuse other models.
    fn model_id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Embeds a question.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>>;
    /// Embeds passages (or sentences of passages), one vector each, in order.
    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Number of model tokens of `text`.
    fn count_tokens(&self, text: &str) -> Result<usize>;
    /// Embeds passages together with their sentences ([late chunking](LatePassage)). A
    /// model that exposes token states pools each sentence out of its passage's pass; this
    /// default, for embedders that cannot, embeds each sentence on its own and the passage
    /// as its context and sentences joined by spaces.
    fn embed_late(&self, passages: &[LatePassage<'_>]) -> Result<Vec<LateVectors>> {
        let sentences: Vec<&str> = passages
            .iter()
            .flat_map(|p| p.sentences.iter().copied())
            .collect();
        let mut sentence_vectors = self.embed_passages(&sentences)?.into_iter();
        let joined: Vec<String> = passages
            .iter()
            .map(|p| {
                let mut text = p.context.to_string();
                for s in p.sentences {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(s);
                }
                text
            })
            .collect();
        let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
        let passage_vectors = self.embed_passages(&joined)?;
        Ok(passages
            .iter()
            .zip(passage_vectors)
            .map(|(p, passage)| LateVectors {
                passage,
                sentences: sentence_vectors.by_ref().take(p.sentences.len()).collect(),
            })
            .collect())
    }
}

/// Scales `v` to unit length in place (zero vectors stay zero), so that cosine is a dot product.
pub(crate) fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Dot product, written with eight accumulators so that it vectorises.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len().min(b.len()) / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

pub(crate) fn check_dim(v: &[f32], dim: usize) -> Result<()> {
    if v.len() == dim {
        Ok(())
    } else {
        Err(QueryError::EmbeddingShape {
            expected: dim,
            got: v.len(),
        })
    }
}

/// The embedding model, shared by building and asking. Cheap to clone; `Send + Sync`, so
/// one engine can serve concurrent requests.
#[derive(Clone)]
pub struct Engine {
    embedder: Arc<dyn TextEmbedder>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model_id", &self.embedder.model_id())
            .field("dim", &self.embedder.dim())
            .finish()
    }
}

impl Engine {
    /// An engine around any embedder.
    pub fn new(embedder: impl TextEmbedder + 'static) -> Self {
        Self {
            embedder: Arc::new(embedder),
        }
    }

    /// Loads the embedding model in `dir` (see `zoek_embed::Embedder::from_dir`).
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let embedder =
            zoek_embed::Embedder::from_dir(dir).map_err(|e| QueryError::Embed(Box::new(e)))?;
        Ok(Self::new(embedder))
    }

    /// Loads the model from `zoek_embed::default_model_dir()`: `$ZOEK_MODEL_DIR`, else the
    /// workspace's `models/multilingual-e5-small-q4`.
    pub fn from_default_model() -> Result<Self> {
        Self::from_model_dir(zoek_embed::default_model_dir())
    }

    /// An engine around a shared embedder.
    pub fn from_shared(embedder: Arc<dyn TextEmbedder>) -> Self {
        Self { embedder }
    }

    /// An engine that knows a collection's model fingerprint and dimension but cannot embed
    /// (every embedding call is [`QueryError::NoModel`]): for writers that only delete and
    /// merge, which copy vectors and never embed.
    pub(crate) fn without_model(model_id: String, dim: usize) -> Self {
        Self::new(NoModel { model_id, dim })
    }

    /// The embedder.
    pub fn embedder(&self) -> &dyn TextEmbedder {
        self.embedder.as_ref()
    }

    /// The model fingerprint.
    pub fn model_id(&self) -> &str {
        self.embedder.model_id()
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.embedder.dim()
    }

    /// The question's unit vector, checked against the collection's dimension.
    pub(crate) fn embed_question(&self, question: &str, dim: usize) -> Result<Vec<f32>> {
        let mut q = self.embedder.embed_query(question)?;
        check_dim(&q, dim)?;
        normalise(&mut q);
        Ok(q)
    }

    /// Embeds `texts` as passages in batches of `batch_size`, as one row-major array of
    /// unit vectors; `progress` gets the number of texts done after every batch.
    pub(crate) fn embed_passages_batched(
        &self,
        texts: &[&str],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let dim = self.dim();
        let mut out = Vec::with_capacity(texts.len() * dim);
        progress(0);
        for batch in texts.chunks(batch_size.max(1)) {
            let vectors = self.embedder.embed_passages(batch)?;
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
}

impl Engine {
    /// Embeds `passages` with their sentences in calls of `batch_size` passages; returns
    /// the sentence vectors and the passage vectors as row-major arrays of unit vectors.
    /// `progress` gets the number of passages done after every call.
    pub(crate) fn embed_late_batched(
        &self,
        passages: &[LatePassage<'_>],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let dim = self.dim();
        let n_sentences: usize = passages.iter().map(|p| p.sentences.len()).sum();
        let mut sentences = Vec::with_capacity(n_sentences * dim);
        let mut whole = Vec::with_capacity(passages.len() * dim);
        progress(0);
        for batch in passages.chunks(batch_size.max(1)) {
            let vectors = self.embedder.embed_late(batch)?;
            let shape_ok = vectors.len() == batch.len()
                && vectors
                    .iter()
                    .zip(batch)
                    .all(|(v, p)| v.sentences.len() == p.sentences.len());
            if !shape_ok {
                return Err(QueryError::EmbeddingShape {
                    expected: batch.iter().map(|p| p.sentences.len() + 1).sum::<usize>() * dim,
                    got: vectors
                        .iter()
                        .map(|v| v.passage.len() + v.sentences.iter().map(Vec::len).sum::<usize>())
                        .sum(),
                });
            }
            for v in vectors {
                for mut s in v.sentences {
                    check_dim(&s, dim)?;
                    normalise(&mut s);
                    sentences.extend_from_slice(&s);
                }
                let mut p = v.passage;
                check_dim(&p, dim)?;
                normalise(&mut p);
                whole.extend_from_slice(&p);
            }
            progress(whole.len() / dim.max(1));
        }
        Ok((sentences, whole))
    }
}

/// Stands in for the model of a writer that only deletes and merges.
struct NoModel {
    model_id: String,
    dim: usize,
}

impl TextEmbedder for NoModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed_query(&self, _text: &str) -> Result<Vec<f32>> {
        Err(QueryError::NoModel)
    }

    fn embed_passages(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Err(QueryError::NoModel)
    }

    fn count_tokens(&self, _text: &str) -> Result<usize> {
        Err(QueryError::NoModel)
    }
}

impl TextEmbedder for zoek_embed::Embedder {
    fn model_id(&self) -> &str {
        zoek_embed::Embedder::model_id(self)
    }
    fn dim(&self) -> usize {
        zoek_embed::Embedder::dim(self)
    }
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        zoek_embed::Embedder::embed_query(self, text).map_err(|e| QueryError::Embed(Box::new(e)))
    }
    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        zoek_embed::Embedder::embed_passages(self, texts)
            .map_err(|e| QueryError::Embed(Box::new(e)))
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        zoek_embed::Embedder::count_tokens(self, text).map_err(|e| QueryError::Embed(Box::new(e)))
    }
    fn embed_late(&self, passages: &[LatePassage<'_>]) -> Result<Vec<LateVectors>> {
        zoek_embed::Embedder::embed_late(self, passages).map_err(|e| QueryError::Embed(Box::new(e)))
    }
}

/// A model-free embedder: signed feature hashing of lower-cased words and their character
/// trigrams. It captures spelling overlap only — no meaning, no cross-lingual matching —
/// which is enough to exercise building, storage and ranking without model files.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    id: String,
}

impl HashEmbedder {
    /// A hashing embedder with `dim` dimensions (at least 8).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(8);
        Self {
            dim,
            id: format!("zoek-hash-trigram-{dim}"),
        }
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
        {
            self.add(&mut v, word.as_bytes(), 2.0);
            let padded: Vec<char> = format!("#{word}#").chars().collect();
            for gram in padded.windows(3) {
                let s: String = gram.iter().collect();
                self.add(&mut v, s.as_bytes(), 1.0);
            }
        }
        normalise(&mut v);
        v
    }

    fn add(&self, v: &mut [f32], bytes: &[u8], weight: f32) {
        // FNV-1a: stable across platforms and releases, unlike `DefaultHasher`.
        let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % self.dim as u64) as usize] += sign * weight;
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new(256)
    }
}

impl TextEmbedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed(text))
    }
    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed(t)).collect())
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count() + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn hash_embedder_is_unit_length_and_prefers_shared_words() {
        let e = HashEmbedder::default();
        let q = e.embed_query("samenwerking zorgcoöperatie").unwrap();
        let p = e
            .embed_passages(&[
                "De samenwerking met de zorgcoöperatie.",
                "Het weer is mooi.",
            ])
            .unwrap();
        assert!((dot(&q, &q) - 1.0).abs() < 1e-5);
        assert!(dot(&q, &p[0]) > dot(&q, &p[1]) + 0.2);
    }
}
