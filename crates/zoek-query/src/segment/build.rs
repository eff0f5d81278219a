//! A new segment from documents: prepare (clean, chunk), embed, serialize.

use std::time::{Duration, Instant};

use super::distinct::Distinct;
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
/// (late chunking), passages with or without their title and heading in front. Each
/// distinct text (passage, with late chunking) is embedded once.
fn embed(
    engine: &Engine,
    prepared: &Prepared,
    settings: &CollectionSettings,
    opts: &BuildOptions,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let contexts = prepared.passage_contexts(settings.context_headers);
    let dim = engine.dim();
    match settings.sentence_vectors {
        SentenceVectors::Late => {
            let per_passage = prepared.passage_sentences();
            let n_p = per_passage.len();
            let distinct = Distinct::of(
                contexts
                    .iter()
                    .zip(&per_passage)
                    .map(|(context, sentences)| (context.as_str(), sentences.as_slice())),
            );
            let passages: Vec<LatePassage<'_>> = distinct
                .unique
                .iter()
                .map(|&(context, sentences)| LatePassage { context, sentences })
                .collect();
            tracing::debug!(
                passages = n_p,
                distinct = passages.len(),
                "late chunking: each distinct passage embedded once"
            );
            let covered = distinct.covered(0..n_p);
            let (sentence_rows, whole) =
                engine.embed_late_batched(&passages, opts.batch_size, |done| {
                    opts.report(Stage::EmbeddingPassages, covered[done], n_p)
                })?;
            let sentence_rows = distinct.spread(&sentence_rows, dim, |(_, s)| s.len());
            let whole = settings
                .passage_vectors
                .then(|| distinct.spread(&whole, dim, |_| 1));
            Ok((sentence_rows, whole))
        }
        SentenceVectors::Separate => {
            let sentences = prepared.sentence_texts();
            let passages: Vec<String> = if settings.passage_vectors {
                prepared
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
                    .collect()
            } else {
                Vec::new()
            };
            // Sentences first, so that a passage that is one of the sentences reuses it.
            let (n_s, n_p) = (sentences.len(), passages.len());
            let distinct = Distinct::of(
                sentences
                    .iter()
                    .copied()
                    .chain(passages.iter().map(String::as_str)),
            );
            let split = distinct.unique_in_first(n_s);
            tracing::debug!(
                sentences = n_s,
                passages = n_p,
                distinct_sentences = split,
                distinct_passages_not_sentences = distinct.unique.len() - split,
                "each distinct text embedded once"
            );
            let covered = distinct.covered(0..n_s);
            let mut vectors = engine.embed_passages_batched(
                &distinct.unique[..split],
                opts.batch_size,
                |done| opts.report(Stage::EmbeddingSentences, covered[done], n_s),
            )?;
            if settings.passage_vectors {
                let covered = distinct.covered(n_s..n_s + n_p);
                vectors.extend(engine.embed_passages_batched(
                    &distinct.unique[split..],
                    opts.batch_size,
                    |done| opts.report(Stage::EmbeddingPassages, covered[split + done], n_p),
                )?);
            }
            let mut sentence_rows = distinct.spread(&vectors, dim, |_| 1);
            let passage_rows = sentence_rows.split_off(n_s * dim);
            Ok((
                sentence_rows,
                settings.passage_vectors.then_some(passage_rows),
            ))
        }
    }
}
