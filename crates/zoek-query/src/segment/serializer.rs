//! The one serializer of segments. A new segment (documents just embedded) and a merged one
//! (live documents copied from older segments, vectors and all) are both written by handing
//! documents to a [`SegmentSerializer`], which numbers documents, passages and sentences
//! and writes every file of the segment; so the two can never drift apart in layout.

use std::path::Path;

use super::bm25::write_bm25;
use super::graph::write_hnsw;
use super::options::{BuildOptions, Stage};
use crate::error::{QueryError, Result, io_err};
use crate::format::array::{MAGIC_OFFSETS, MAGIC_SENTENCES, MAGIC_VECTORS, write_array};
use crate::format::fs::{file_entries, remove_path, sync_dir, sync_tree, write_atomic};
use crate::format::jsonl::write_jsonl;
use crate::format::paths::{SEGMENT_FILE, new_build_id, unix_now};
use crate::format::{
    CollectionSettings, Counts, DataFiles, DocEntry, SEGMENT_FORMAT_NAME, SEGMENT_FORMAT_VERSION,
    SegmentManifest, StoredDocument, StoredPassage,
};
use crate::text::{InputFile, SkippedFile};

/// One document to add to a segment, with the vectors of its passages' sentences (rows in
/// passage order) and of its passages.
pub(crate) struct NewDocument<'a> {
    pub document: StoredDocument,
    /// The file id it came from (see [`DocEntry::path`]).
    pub path: String,
    /// Its content hash (see [`DocEntry::sha256`]).
    pub sha256: String,
    /// Its passages; `doc`, `doc_id` and `first_sentence` are assigned here.
    pub passages: Vec<StoredPassage>,
    pub sentence_vectors: &'a [f32],
    pub passage_vectors: Option<&'a [f32]>,
}

/// Collects a segment's documents in order, then writes the segment.
#[derive(Debug)]
pub(crate) struct SegmentSerializer {
    dim: usize,
    documents: Vec<StoredDocument>,
    entries: Vec<DocEntry>,
    passages: Vec<StoredPassage>,
    sentence_passage: Vec<u32>,
    sentence_vectors: Vec<f32>,
    /// `None` without passage vectors, or once a document came without them (a segment has
    /// a vector for every passage or for none).
    passage_vectors: Option<Vec<f32>>,
    inputs: Vec<InputFile>,
    skipped: Vec<SkippedFile>,
}

/// The sum of `dim`-wide rows, per dimension, in f64 (so the order of summation barely
/// matters: the collection and a root over shards sum these again).
pub(crate) fn vector_sum(rows: &[f32], dim: usize) -> Vec<f64> {
    let mut sum = vec![0f64; dim];
    for row in rows.chunks_exact(dim.max(1)) {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    sum
}

fn id(n: usize, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| QueryError::too_many(what))
}

impl SegmentSerializer {
    /// An empty segment of `dim`-dimensional vectors, with passage vectors if asked.
    pub fn new(dim: usize, passage_vectors: bool) -> Self {
        Self {
            dim,
            documents: Vec::new(),
            entries: Vec::new(),
            passages: Vec::new(),
            sentence_passage: Vec::new(),
            sentence_vectors: Vec::new(),
            passage_vectors: passage_vectors.then(Vec::new),
            inputs: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Records the input files the documents were read from, for `segment.json`.
    pub fn record_inputs(&mut self, inputs: Vec<InputFile>, skipped: Vec<SkippedFile>) {
        self.inputs = inputs;
        self.skipped = skipped;
    }

    /// Appends a document and its passages, numbered after those already added.
    pub fn add_document(&mut self, new: NewDocument<'_>) -> Result<()> {
        let doc = id(self.documents.len(), "documents in a segment")?;
        let first = id(self.passages.len(), "passages in a segment")?;
        let sentences: usize = new.passages.iter().map(|p| p.sentences.len()).sum();
        if new.sentence_vectors.len() != sentences * self.dim {
            return Err(QueryError::EmbeddingShape {
                expected: sentences * self.dim,
                got: new.sentence_vectors.len(),
            });
        }
        let count = new.passages.len();
        for mut passage in new.passages {
            let passage_id = id(self.passages.len(), "passages in a segment")?;
            passage.doc = doc;
            passage.doc_id.clone_from(&new.document.id);
            passage.first_sentence = id(self.sentence_passage.len(), "sentences in a segment")?;
            self.sentence_passage
                .extend(std::iter::repeat_n(passage_id, passage.sentences.len()));
            self.passages.push(passage);
        }
        id(self.sentence_passage.len(), "sentences in a segment")?;
        let end = id(self.passages.len(), "passages in a segment")?;
        self.sentence_vectors
            .extend_from_slice(new.sentence_vectors);
        match (&mut self.passage_vectors, new.passage_vectors) {
            (Some(out), Some(v)) if v.len() == count * self.dim => out.extend_from_slice(v),
            (Some(_), _) => self.passage_vectors = None,
            (None, _) => {}
        }
        self.entries.push(DocEntry {
            id: new.document.id.clone(),
            path: new.path,
            sha256: new.sha256,
            passages: first..end,
            metadata: new.document.metadata.clone(),
        });
        self.documents.push(new.document);
        Ok(())
    }

    /// Passages added so far.
    pub fn passages(&self) -> usize {
        self.passages.len()
    }

    /// Sentences added so far.
    pub fn sentences(&self) -> usize {
        self.sentence_passage.len()
    }

    /// Writes the segment into the new directory `dir` (replacing any leftover there):
    /// stores, vectors, BM25, the HNSW graph when `hnsw`, then `segment.json`. Everything is
    /// fsynced before this returns, so a manifest naming the segment never names a partial
    /// one. Returns its manifest and document table.
    pub fn write(
        self,
        dir: &Path,
        model_id: &str,
        settings: &CollectionSettings,
        hnsw: bool,
        opts: &BuildOptions,
    ) -> Result<(SegmentManifest, Vec<DocEntry>)> {
        remove_path(dir).map_err(io_err(dir))?;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let dim = self.dim;
        let build_id = new_build_id();
        let data = DataFiles::named(&build_id, self.passage_vectors.is_some(), hnsw);
        let steps = 7;
        opts.report(Stage::Writing, 0, steps);
        write_jsonl(&dir.join(&data.documents), &self.documents)?;
        write_jsonl(&dir.join(&data.doc_table), &self.entries)?;
        let offsets = write_jsonl(&dir.join(&data.passages), &self.passages)?;
        write_array(&dir.join(&data.passage_offsets), MAGIC_OFFSETS, 1, &offsets)?;
        write_array(
            &dir.join(&data.sentence_passages),
            MAGIC_SENTENCES,
            1,
            &self.sentence_passage,
        )?;
        write_array(
            &dir.join(&data.sentence_vectors),
            MAGIC_VECTORS,
            dim,
            &self.sentence_vectors,
        )?;
        opts.report(Stage::Writing, 3, steps);
        // The BM25 index is one tantivy thread (one segment, deterministic files): it runs
        // beside the passage vectors and the HNSW graph, which use the pool, rather than
        // before them with a core idle (15 s at ~1.3 cores after the embedding of 100k
        // nl-laws paragraphs).
        let bm25_dir = dir.join(&data.bm25);
        let passages = &self.passages;
        let language = settings.language;
        let (bm25, vectors) = std::thread::scope(|scope| {
            let bm25 = scope.spawn(|| {
                std::fs::create_dir_all(&bm25_dir).map_err(io_err(&bm25_dir))?;
                write_bm25(
                    &bm25_dir,
                    language,
                    passages.iter().enumerate().map(|(i, p)| {
                        (
                            i as u32,
                            p.heading.as_deref().unwrap_or(""),
                            p.text.as_str(),
                        )
                    }),
                )
            });
            let vectors = self.write_vectors_and_graph(dir, &data, opts, steps);
            // A panic there is a panic here, as when it ran on this thread.
            let bm25 = bm25
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
            (bm25, vectors)
        });
        vectors?;
        bm25?;
        opts.report(Stage::Writing, 6, steps);

        let mut files = Vec::new();
        for name in data.names() {
            files.extend(file_entries(dir, name)?);
        }
        let manifest = SegmentManifest {
            format: SEGMENT_FORMAT_NAME.into(),
            format_version: SEGMENT_FORMAT_VERSION,
            build_id,
            model_id: model_id.to_string(),
            dim,
            language: settings.language,
            chunking: settings.chunking,
            counts: Counts {
                documents: self.documents.len(),
                passages: self.passages.len(),
                sentences: self.sentence_passage.len(),
            },
            data,
            files,
            inputs: self.inputs,
            skipped: self.skipped,
            created_unix: unix_now(),
            sentence_sum: Some(vector_sum(&self.sentence_vectors, dim)),
        };
        let path = dir.join(SEGMENT_FILE);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|source| QueryError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, |w| w.write_all(&json))?;
        sync_tree(dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        opts.report(Stage::Writing, steps, steps);
        Ok((manifest, self.entries))
    }

    /// The passage vectors (when kept) and the HNSW graph (when `data` names one): the part
    /// of [`SegmentSerializer::write`] that runs beside the BM25 index.
    fn write_vectors_and_graph(
        &self,
        dir: &Path,
        data: &DataFiles,
        opts: &BuildOptions,
        steps: usize,
    ) -> Result<()> {
        if let (Some(file), Some(vectors)) = (&data.passage_vectors, &self.passage_vectors) {
            write_array(&dir.join(file), MAGIC_VECTORS, self.dim, vectors)?;
        }
        opts.report(Stage::Writing, 4, steps);
        if let Some(file) = &data.hnsw {
            write_hnsw(
                &dir.join(file),
                self.dim,
                &self.sentence_vectors,
                &opts.hnsw_params,
            )?;
        }
        Ok(())
    }
}
