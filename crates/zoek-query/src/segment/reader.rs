//! One immutable segment of a collection, opened: its passage store, sentence map, vectors,
//! HNSW graph and BM25 searcher, all created at open so that a later merge that unlinks the
//! segment's files never breaks a reader holding it (the maps and open files stay valid).
//! Passage and sentence ids here are local to the segment.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;

use super::bm25::Bm25;
use super::dense::{DenseHit, exact_grouped, sentences_to_parents};
use super::graph::SentenceGraph;
use super::serializer::vector_sum;
use crate::engine::dot;
use crate::error::{QueryError, Result, io_err};
use crate::format::SEGMENT_FILE;
use crate::format::array::{MAGIC_SENTENCES, MAGIC_VECTORS, MappedArray};
use crate::format::bits::Bits;
use crate::format::jsonl::read_jsonl;
use crate::format::passages::PassageStore;
use crate::format::{DocEntry, SegmentManifest, StoredDocument, StoredPassage};

/// An opened segment, as [`Collection::segments`](crate::Collection::segments) lists them.
#[derive(Debug)]
pub struct Segment {
    dir: PathBuf,
    manifest: SegmentManifest,
    passages: PassageStore,
    sentence_passage: MappedArray,
    sentence_vectors: MappedArray,
    passage_vectors: Option<MappedArray>,
    hnsw: Option<SentenceGraph>,
    pub(crate) bm25: Bm25,
    doc_table: Mmap,
    docs: OnceLock<Vec<DocEntry>>,
}

impl Segment {
    /// Opens the segment in `dir`, checking its files against its manifest.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        Self::open_with_graph(dir, None)
    }

    /// Opens the segment in `dir` with `graph`, an HNSW graph over its sentence vectors
    /// written after the segment (when the collection outgrew exact search), if any.
    pub(crate) fn open_with_graph(dir: &Path, graph: Option<&Path>) -> Result<Self> {
        let dir = dir.to_path_buf();
        let manifest = SegmentManifest::read(&dir)?;
        let data = &manifest.data;
        let corrupt = |path: &str, reason: String| QueryError::corrupt(dir.join(path), reason);
        let passages =
            PassageStore::open(&dir.join(&data.passages), &dir.join(&data.passage_offsets))?;
        let sentence_passage =
            MappedArray::open_column(&dir.join(&data.sentence_passages), MAGIC_SENTENCES, 4)?;
        let sentence_vectors =
            MappedArray::open(&dir.join(&data.sentence_vectors), MAGIC_VECTORS, 4)?;
        sentence_vectors.f32s()?;
        let counts = manifest.counts;
        if passages.len() != counts.passages {
            return Err(corrupt(
                &data.passages,
                format!(
                    "{} passages, manifest says {}",
                    passages.len(),
                    counts.passages
                ),
            ));
        }
        if sentence_passage.rows() != counts.sentences {
            return Err(corrupt(
                &data.sentence_passages,
                "sentence count differs from the manifest".into(),
            ));
        }
        if sentence_vectors.rows() != counts.sentences || sentence_vectors.width() != manifest.dim {
            return Err(corrupt(
                &data.sentence_vectors,
                "vector count or dimension differs from the manifest".into(),
            ));
        }
        let passage_vectors = match &data.passage_vectors {
            Some(file) => {
                let a = MappedArray::open(&dir.join(file), MAGIC_VECTORS, 4)?;
                if a.rows() != counts.passages || a.width() != manifest.dim {
                    return Err(corrupt(
                        file,
                        "vector count or dimension differs from the manifest".into(),
                    ));
                }
                a.f32s()?;
                Some(a)
            }
            None => None,
        };
        let graph_path = graph
            .map(Path::to_path_buf)
            .or_else(|| data.hnsw.as_ref().map(|f| dir.join(f)));
        let hnsw = match &graph_path {
            Some(file) => {
                let file = file.to_string_lossy().into_owned();
                let graph = SentenceGraph::open(Path::new(&file))?;
                if graph.len() != counts.sentences {
                    return Err(corrupt(
                        &file,
                        "graph size differs from the sentence count".into(),
                    ));
                }
                Some(graph)
            }
            None => None,
        };
        let bm25 = Bm25::open(&dir.join(&data.bm25), manifest.language)?;
        let table_path = dir.join(&data.doc_table);
        let table = std::fs::File::open(&table_path).map_err(io_err(&table_path))?;
        // SAFETY: segment files are written once and never modified in place.
        let doc_table = unsafe { Mmap::map(&table) }.map_err(io_err(&table_path))?;
        Ok(Self {
            dir,
            manifest,
            passages,
            sentence_passage,
            sentence_vectors,
            passage_vectors,
            hnsw,
            bm25,
            doc_table,
            docs: OnceLock::new(),
        })
    }

    /// The segment directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment manifest.
    pub fn manifest(&self) -> &SegmentManifest {
        &self.manifest
    }

    /// Number of passages (deleted ones included).
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// True without passages (never the case for a written segment).
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// Number of sentences.
    pub fn sentences(&self) -> usize {
        self.sentence_passage.rows()
    }

    /// Whether it is searched through an HNSW graph.
    pub fn uses_hnsw(&self) -> bool {
        self.hnsw.is_some()
    }

    /// Reads passage `id` (local to the segment).
    pub fn passage(&self, id: u32) -> Result<StoredPassage> {
        self.passages.get(id)
    }

    /// The document table, parsed on first use (the map was taken at open).
    pub fn docs(&self) -> Result<&[DocEntry]> {
        if let Some(d) = self.docs.get() {
            return Ok(d);
        }
        let path = self.dir.join(&self.manifest.data.doc_table);
        let docs = DocEntry::parse_table(&self.doc_table, &path, self.len())?;
        let _ = self.docs.set(docs);
        Ok(self.docs.get().map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Reads every stored document (cleaned text included), in order: for merges.
    pub(crate) fn stored_documents(&self) -> Result<Vec<StoredDocument>> {
        read_jsonl(&self.dir.join(&self.manifest.data.documents))
    }

    /// The rows of the sentence vectors, row-major.
    pub(crate) fn sentence_vectors(&self) -> Result<&[f32]> {
        self.sentence_vectors.f32s()
    }

    /// The passage vectors, row-major, if built.
    pub(crate) fn passage_vectors(&self) -> Result<Option<&[f32]>> {
        self.passage_vectors.as_ref().map(|a| a.f32s()).transpose()
    }

    fn dim(&self) -> usize {
        self.manifest.dim
    }

    fn parent(&self, sentence: usize) -> Option<u32> {
        self.sentence_passage.u32_at(sentence)
    }

    /// The `limit` best passages by their best sentence, among `allowed` ones (all without
    /// a mask). Through the graph, `fetch` sentences are asked for with search breadth `ef`;
    /// the second value is then the score of the worst of them when all `fetch` came back
    /// (unfetched sentences score at most about that), `None` after an exact scan.
    pub(crate) fn dense_by_sentence(
        &self,
        q: &[f32],
        limit: usize,
        fetch: usize,
        ef: usize,
        allowed: Option<&Bits>,
    ) -> Result<(Vec<DenseHit>, Option<f32>)> {
        let dim = self.dim();
        let ok = |p: u32| allowed.is_none_or(|a| a.get(u64::from(p)));
        match &self.hnsw {
            Some(graph) => {
                // int8 distances are rescored exactly against the f32 vectors.
                let vectors = self.sentence_vectors.f32s()?;
                let candidates = match allowed {
                    None => graph.candidates(q, fetch, ef.max(fetch))?,
                    Some(_) => {
                        let filter = |s: u64| {
                            usize::try_from(s)
                                .ok()
                                .and_then(|s| self.parent(s))
                                .is_some_and(ok)
                        };
                        graph.candidates_filtered(q, fetch, ef.max(fetch), &filter)?
                    }
                };
                let full = candidates.len() >= fetch;
                let scored: Vec<(u32, f32)> = candidates
                    .into_iter()
                    .filter_map(|s| {
                        let v = vectors.get(s as usize * dim..(s as usize + 1) * dim)?;
                        Some((s, dot(v, q)))
                    })
                    .collect();
                let worst = scored
                    .iter()
                    .map(|&(_, score)| score)
                    .fold(f32::INFINITY, f32::min);
                let mut hits =
                    sentences_to_parents(scored, |s| self.parent(s as usize).filter(|&p| ok(p)));
                hits.truncate(limit);
                Ok((hits, full.then_some(worst)))
            }
            None => Ok((
                exact_grouped(
                    self.sentence_vectors.f32s()?,
                    dim,
                    q,
                    self.len(),
                    |row| self.parent(row).filter(|&p| ok(p)),
                    limit,
                ),
                None,
            )),
        }
    }

    /// The `limit` best allowed passages by their own vector (exact scan); empty without
    /// passage vectors.
    pub(crate) fn dense_by_passage(
        &self,
        q: &[f32],
        limit: usize,
        allowed: Option<&Bits>,
    ) -> Result<Vec<DenseHit>> {
        let Some(vectors) = self.passage_vectors()? else {
            return Ok(Vec::new());
        };
        let ok = |p: u32| allowed.is_none_or(|a| a.get(u64::from(p)));
        let mut hits = exact_grouped(
            vectors,
            self.dim(),
            q,
            self.len(),
            |r| Some(r as u32).filter(|&p| ok(p)),
            limit,
        );
        // The row is the passage itself, not a sentence.
        for h in &mut hits {
            h.sentence = None;
        }
        Ok(hits)
    }

    /// The sentences of passage `p`: the sentence map is sorted by passage, so its range is
    /// found by binary search.
    fn sentence_range(&self, p: u32) -> Range<usize> {
        let n = self.sentence_passage.rows();
        let lower = partition(n, |i| self.parent(i).is_some_and(|x| x < p));
        let upper = partition(n, |i| self.parent(i).is_some_and(|x| x <= p));
        lower..upper
    }

    /// Passage `p` scored by its best sentence.
    pub(crate) fn best_sentence(&self, p: u32, q: &[f32]) -> Result<DenseHit> {
        let dim = self.dim();
        let vectors = self.sentence_vectors.f32s()?;
        let mut best = DenseHit {
            passage: p,
            score: f32::NEG_INFINITY,
            sentence: None,
        };
        for s in self.sentence_range(p) {
            let Some(v) = vectors.get(s * dim..(s + 1) * dim) else {
                break;
            };
            let score = dot(v, q);
            if score > best.score {
                best.score = score;
                best.sentence = Some(s as u32);
            }
        }
        Ok(best)
    }

    /// Cosine of passage `p`'s own vector, when it has one and `w > 0`.
    pub(crate) fn passage_cosine(&self, p: u32, q: &[f32], w: f32) -> Result<Option<f32>> {
        let (Some(vectors), true) = (&self.passage_vectors, w > 0.0) else {
            return Ok(None);
        };
        let dim = self.dim();
        let v = vectors
            .f32s()?
            .get(p as usize * dim..(p as usize + 1) * dim);
        Ok(v.map(|v| dot(v, q)))
    }

    /// When sentence row `sentence` of passage `p` is a question and the passage has
    /// statements too: the best statement's row and cosine to `q` (see
    /// `AskOptions::demote_questions`); `None` otherwise.
    pub(crate) fn statement(&self, p: u32, sentence: u32, q: &[f32]) -> Result<Option<DenseHit>> {
        let stored = self.passage(p)?;
        let first = stored.first_sentence as usize;
        let Some(i) = (sentence as usize).checked_sub(first) else {
            return Ok(None);
        };
        if !stored.sentence_text(i).is_some_and(is_question) {
            return Ok(None);
        }
        let dim = self.dim();
        let vectors = self.sentence_vectors.f32s()?;
        let best = (0..stored.sentences.len())
            .filter(|&j| stored.sentence_text(j).is_some_and(|t| !is_question(t)))
            .filter_map(|j| {
                let row = first + j;
                Some((row, dot(vectors.get(row * dim..(row + 1) * dim)?, q)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        Ok(best.map(|(row, score)| DenseHit {
            passage: p,
            score,
            sentence: Some(row as u32),
        }))
    }

    /// Index (within passage `p`) of the sentence to highlight. A question in the text is
    /// often the closest sentence to a question, but it does not answer it, so when the
    /// best sentence is a question the closest statement of the passage is shown instead.
    /// The passage's score is not changed.
    pub(crate) fn highlight(&self, p: &StoredPassage, best: u32, q: &[f32]) -> Option<usize> {
        let first = p.first_sentence as usize;
        let i = (best as usize).checked_sub(first)?;
        if !is_question(p.sentence_text(i)?) {
            return Some(i);
        }
        let dim = self.dim();
        let vectors = self.sentence_vectors.f32s().ok()?;
        let statement = (0..p.sentences.len())
            .filter(|&j| p.sentence_text(j).is_some_and(|t| !is_question(t)))
            .filter_map(|j| {
                let row = first + j;
                Some((j, dot(vectors.get(row * dim..(row + 1) * dim)?, q)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        Some(statement.map_or(i, |(j, _)| j))
    }

    /// Checks the segment as a whole: every data file against its size and SHA-256 in
    /// `segment.json`, the HNSW graph's checksums and invariants (a late graph too), and
    /// the BM25 files' own checksums. The error names the first damaged file.
    pub(crate) fn verify(&self) -> Result<()> {
        self.manifest.verify_checksums(&self.dir)?;
        if let Some(recorded) = &self.manifest.sentence_sum {
            // Summed in the serializer's order, so equal but for a manifest edited by hand.
            let sum = vector_sum(self.sentence_vectors.f32s()?, self.dim());
            let scale = self.sentences().max(1) as f64;
            if sum
                .iter()
                .zip(recorded)
                .any(|(a, b)| (a - b).abs() > 1e-9 * scale)
            {
                return Err(QueryError::corrupt(
                    self.dir.join(SEGMENT_FILE),
                    "sentence_sum is not the sum of the sentence vectors",
                ));
            }
        }
        if let Some(graph) = &self.hnsw {
            graph.verify()?;
        }
        self.bm25.verify()
    }

    /// Bytes on disk of the segment's data files.
    pub fn bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.bytes).sum()
    }
}

/// True for a sentence that asks rather than states ("Wat helpt en wat belemmert?").
fn is_question(sentence: &str) -> bool {
    sentence
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '”' | '’' | ')'))
        .ends_with('?')
}

/// First index in `0..n` for which `pred` is false, assuming `pred` is true then false.
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
