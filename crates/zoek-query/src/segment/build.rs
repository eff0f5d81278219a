//! A new segment from documents: prepare (clean, chunk), embed, serialize.

use std::time::{Duration, Instant};

use super::options::{BuildOptions, Stage};
use super::serializer::{NewDocument, SegmentSerializer};
use crate::engine::{Engine, LatePassage};
use crate::error::Result;
use crate::format::{CollectionSettings, StoredDocument, StoredPassage};
use crate::text::prepare::{Prepared, prepare};
use crate::text::{Corpus, RawDocument, SentenceVectors};

/// Documents prepared and embedded, in a serializer ready to write.
#[derive(Debug)]
pub(crate) struct Embedded {
    pub serializer: SegmentSerializer,
    /// Lines and blocks the cleaner dropped.
    pub dropped: usize,
    /// Time spent embedding.
    pub embed_time: Duration,
}

/// Cleans, chunks and embeds `documents` (every sentence, and every passage when the
/// collection keeps passage vectors) into a serializer.
pub(crate) fn embed_documents(
    engine: &Engine,
    documents: Vec<RawDocument>,
    corpus: &Corpus,
    settings: &CollectionSettings,
    opts: &BuildOptions,
) -> Result<Embedded> {
    let prepared = prepare(
        engine.embedder(),
        documents,
        &settings.chunking,
        |done, total| opts.report(Stage::Reading, done, total),
    )?;
    let started = Instant::now();
    let (sentences, passages) = embed(engine, &prepared, settings, opts)?;
    let embed_time = started.elapsed();
    let dim = engine.dim();
    let mut serializer = SegmentSerializer::new(dim, passages.is_some());
    serializer.record_inputs(corpus.files.clone(), corpus.skipped.clone());
    let (mut s_at, mut p_at) = (0, 0);
    for doc in prepared.documents {
        let n_sentences: usize = doc.passages.iter().map(|p| p.sentences.len()).sum();
        let n_passages = doc.passages.len();
        let passage_records = doc
            .passages
            .iter()
            .map(|chunk| StoredPassage {
                doc: 0,
                doc_id: String::new(),
                heading: chunk.heading.clone(),
                text: doc.text_of(&chunk.range).to_string(),
                range: chunk.range.clone(),
                sentences: chunk.sentences.clone(),
                first_sentence: 0,
            })
            .collect();
        serializer.add_document(NewDocument {
            document: StoredDocument {
                id: doc.id,
                source: doc.source,
                metadata: doc.metadata,
                text: doc.text,
            },
            path: doc.path,
            sha256: doc.sha256,
            passages: passage_records,
            sentence_vectors: &sentences[s_at * dim..(s_at + n_sentences) * dim],
            passage_vectors: passages
                .as_deref()
                .map(|v| &v[p_at * dim..(p_at + n_passages) * dim]),
        })?;
        s_at += n_sentences;
        p_at += n_passages;
    }
    Ok(Embedded {
        serializer,
        dropped: prepared.dropped,
        embed_time,
    })
}

/// Embeds every sentence (and passage, with `passage_vectors`) of `prepared`, as the
/// collection's settings say: sentences on their own or pooled out of their passage
/// (late chunking), passages with or without their title and heading in front.
fn embed(
    engine: &Engine,
    prepared: &Prepared,
    settings: &CollectionSettings,
    opts: &BuildOptions,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let contexts = prepared.passage_contexts(settings.context_headers);
    match settings.sentence_vectors {
        SentenceVectors::Late => {
            let sentences = prepared.passage_sentences();
            let passages: Vec<LatePassage<'_>> = contexts
                .iter()
                .zip(&sentences)
                .map(|(context, sentences)| LatePassage { context, sentences })
                .collect();
            let (sentences, whole) =
                engine.embed_late_batched(&passages, opts.batch_size, |done| {
                    opts.report(Stage::EmbeddingPassages, done, passages.len())
                })?;
            Ok((sentences, settings.passage_vectors.then_some(whole)))
        }
        SentenceVectors::Separate => {
            let texts = prepared.sentence_texts();
            let sentences = engine.embed_passages_batched(&texts, opts.batch_size, |done| {
                opts.report(Stage::EmbeddingSentences, done, texts.len())
            })?;
            if !settings.passage_vectors {
                return Ok((sentences, None));
            }
            let texts: Vec<String> = prepared
                .passage_texts()
                .into_iter()
                .zip(&contexts)
                .map(|(text, context)| {
                    if context.is_empty() {
                        text.to_string()
                    } else {
                        format!("{context}\n{text}")
                    }
                })
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let passages = engine.embed_passages_batched(&texts, opts.batch_size, |done| {
                opts.report(Stage::EmbeddingPassages, done, texts.len())
            })?;
            Ok((sentences, Some(passages)))
        }
    }
}
