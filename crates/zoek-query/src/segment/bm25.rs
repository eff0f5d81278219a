//! The lexical side: a tantivy BM25 index over passages with stemming for the corpus language.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};
use tantivy::{Index, ReloadPolicy, Searcher, Term, doc};

use crate::error::{QueryError, Result};
use crate::format::bits::Bits;
use crate::segment::dense::cut_with_ties;

const TOKENIZER: &str = "zoek";
const FIELD_TEXT: &str = "text";
const FIELD_PASSAGE: &str = "passage";
const WRITER_MEMORY: usize = 64 << 20;

/// The analyzer shared by indexing and querying: lower-casing, the language's stop words,
/// diacritics folded (so "coöperatie" meets "cooperatie"), then the Snowball stemmer.
pub(crate) fn analyzer(language: Language) -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match StopWordFilter::new(language) {
        Some(stop) => builder
            .filter(stop)
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(language))
            .build(),
        None => builder
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(language))
            .build(),
    }
}

/// The analysed terms of a text, in order, duplicates removed.
#[cfg(test)]
fn terms(language: Language, text: &str) -> Vec<String> {
    analysed_terms(&mut analyzer(language), text)
}

fn analysed_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out: Vec<String> = Vec::new();
    while let Some(token) = stream.next() {
        if !out.contains(&token.text) {
            out.push(token.text.clone());
        }
    }
    out
}

fn schema() -> (Schema, Field, Field) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = builder.add_text_field(
        FIELD_TEXT,
        TextOptions::default().set_indexing_options(indexing),
    );
    let passage = builder.add_u64_field(FIELD_PASSAGE, FAST | STORED);
    (builder.build(), text, passage)
}

/// Writes a BM25 index of `(passage id, heading + text)` into the empty directory `dir`.
pub(crate) fn write_bm25<'a>(
    dir: &Path,
    language: Language,
    passages: impl Iterator<Item = (u32, &'a str, &'a str)>,
) -> Result<()> {
    let (schema, text, passage) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    index.tokenizers().register(TOKENIZER, analyzer(language));
    // One thread gives one segment and deterministic output; indexing is not the bottleneck
    // next to embedding.
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY)?;
    for (id, heading, body) in passages {
        let content = if heading.is_empty() {
            body.to_owned()
        } else {
            format!("{heading}\n{body}")
        };
        writer.add_document(doc!(text => content, passage => u64::from(id)))?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// An open BM25 index: the searcher is taken at open and never reloaded (segments are
/// immutable), so its files stay mapped even if a merge later removes them.
pub(crate) struct Bm25 {
    dir: PathBuf,
    index: Index,
    searcher: Searcher,
    text: Field,
    language: Language,
    /// Cloned per query (cheap: the stop-word set is shared) so building it stays off the
    /// query path.
    analyzer: TextAnalyzer,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// One segment's BM25 index in a search over several: its passage ids are offset by
/// `base`, and only passages set in `allowed` (all, without a mask) are returned.
#[derive(Debug, Clone)]
pub(crate) struct Bm25Part<'a> {
    /// The segment's index.
    pub index: &'a Bm25,
    /// Offset added to its passage ids.
    pub base: u32,
    /// Passages that may be returned (live and passing the filters).
    pub allowed: Option<Arc<Bits>>,
}

/// A question's terms and their BM25 statistics over a collection (or a shard of one): what
/// Elasticsearch's DFS phase gathers so that scores from different shards are comparable.
///
/// [`TermStats::sum`] of every shard's statistics scores a passage on any shard as it would
/// score in one collection of all shards. Deleted passages count until a merge drops them,
/// as in Lucene.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermStats {
    /// Language of the analyser that produced `terms` (stemming and stop words).
    pub language: Language,
    /// The question's analysed terms, each once, in order of first appearance.
    pub terms: Vec<String>,
    /// BM25 documents (passages) indexed.
    pub documents: u64,
    /// Tokens indexed in all of them.
    pub tokens: u64,
    /// Per term of `terms`, the documents that contain it.
    pub doc_freqs: Vec<u64>,
}

impl TermStats {
    /// Sums the statistics of several shards for the same question; `None` for none.
    ///
    /// Errors: [`QueryError::InvalidOption`] when the shards analyse the question
    /// differently (another language, so other terms): their scores cannot be compared.
    pub fn sum(parts: &[TermStats]) -> Result<Option<TermStats>> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(None);
        };
        let mut total = first.clone();
        if total.doc_freqs.len() != total.terms.len() {
            return Err(QueryError::InvalidOption(
                "term statistics with a document frequency per term are needed".into(),
            ));
        }
        for part in rest {
            if part.language != total.language || part.terms != total.terms {
                return Err(QueryError::InvalidOption(format!(
                    "shards analyse the question differently ({:?} {:?} vs {:?} {:?})",
                    total.language, total.terms, part.language, part.terms
                )));
            }
            if part.doc_freqs.len() != total.terms.len() {
                return Err(QueryError::InvalidOption(
                    "term statistics with a document frequency per term are needed".into(),
                ));
            }
            total.documents += part.documents;
            total.tokens += part.tokens;
            for (n, m) in total.doc_freqs.iter_mut().zip(&part.doc_freqs) {
                *n += m;
            }
        }
        Ok(Some(total))
    }

    /// Share of the question's terms that occur in the indexed passages: 0 for a question
    /// in another language than the corpus, so that ranking falls back to dense.
    pub fn coverage(&self) -> f32 {
        if self.terms.is_empty() {
            return 0.0;
        }
        let known = self.doc_freqs.iter().filter(|&&n| n > 0).count();
        known as f32 / self.terms.len() as f32
    }

    fn doc_freq(&self, term: &str) -> u64 {
        self.terms
            .iter()
            .position(|t| t == term)
            .and_then(|i| self.doc_freqs.get(i).copied())
            .unwrap_or(0)
    }
}

/// [`TermStats`] as tantivy's statistics provider, so that every segment's query weight
/// scores with the collection-wide (or cluster-wide) figures.
struct Totals {
    field: Field,
    stats: TermStats,
}

impl Bm25StatisticsProvider for Totals {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(if field == self.field {
            self.stats.tokens
        } else {
            0
        })
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.stats.documents)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        Ok(term
            .value()
            .as_str()
            .map_or(0, |text| self.stats.doc_freq(text)))
    }
}

/// Runs `f` on the index in `dir`, turning a panic inside tantivy into
/// [`QueryError::Corrupt`] naming the index. Tantivy trusts its files: a damaged postings or
/// term file can make it index out of bounds, and that must reach the user as a damaged
/// collection, not as a crash. (The panic message still goes to the panic hook.)
fn guarded<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| match e {
            QueryError::Bm25(e) => {
                QueryError::corrupt(dir, format!("the BM25 index is unreadable: {e}"))
            }
            other => other,
        }),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown failure".into());
            tracing::error!(dir = %dir.display(), %message, "tantivy panicked on a damaged index");
            Err(QueryError::corrupt(
                dir,
                format!("the BM25 index is damaged (tantivy failed: {message})"),
            ))
        }
    }
}

impl Bm25 {
    /// Opens the index in `dir`, checking every file against the checksum in its footer
    /// first: tantivy decodes its files' headers when a reader is built, and a damaged
    /// length there is an allocation of terabytes, an abort no `catch_unwind` contains.
    pub(crate) fn open(dir: &Path, language: Language) -> Result<Self> {
        guarded(dir, || {
            let index = Index::open_in_dir(dir)?;
            check_footers(dir, &index)?;
            index.tokenizers().register(TOKENIZER, analyzer(language));
            let text = index.schema().get_field(FIELD_TEXT)?;
            let reader = index
                .reader_builder()
                .reload_policy(ReloadPolicy::Manual)
                .try_into()?;
            Ok(Self {
                dir: dir.to_path_buf(),
                searcher: reader.searcher(),
                index,
                text,
                language,
                analyzer: analyzer(language),
            })
        })
    }

    /// Checks every file of the index against the checksum in its footer.
    pub(crate) fn verify(&self) -> Result<()> {
        guarded(&self.dir, || check_footers(&self.dir, &self.index))
    }
}

/// The first file of `index` (in `dir`) whose footer checksum does not match, as an error.
fn check_footers(dir: &Path, index: &Index) -> Result<()> {
    let damaged = index.validate_checksum()?;
    match damaged.iter().min() {
        None => Ok(()),
        Some(file) => Err(QueryError::corrupt(
            dir.join(file),
            "BM25 file checksum mismatch",
        )),
    }
}

/// A question analysed once for a search over several segments: the query of the terms the
/// collection knows, and the statistics that score it.
pub(crate) struct PreparedQuery {
    query: Option<BooleanQuery>,
    totals: Totals,
}

/// The terms of `question` and their statistics summed over `indexes`; `None` when there is
/// no index or the question has no term.
pub(crate) fn term_stats(indexes: &[&Bm25], question: &str) -> Result<Option<TermStats>> {
    let Some(first) = indexes.first() else {
        return Ok(None);
    };
    let terms = analysed_terms(&mut first.analyzer.clone(), question);
    if terms.is_empty() {
        return Ok(None);
    }
    let field = first.text;
    let all: Vec<Term> = terms
        .iter()
        .map(|t| Term::from_field_text(field, t))
        .collect();
    let mut stats = TermStats {
        language: first.language,
        terms,
        documents: 0,
        tokens: 0,
        doc_freqs: vec![0; all.len()],
    };
    for index in indexes {
        guarded(&index.dir, || {
            let s = &index.searcher;
            stats.tokens += Bm25StatisticsProvider::total_num_tokens(s, field)?;
            stats.documents += Bm25StatisticsProvider::total_num_docs(s)?;
            for (term, n) in all.iter().zip(&mut stats.doc_freqs) {
                *n += Bm25StatisticsProvider::doc_freq(s, term)?;
            }
            Ok(())
        })?;
    }
    Ok(Some(stats))
}

/// The query of `stats`' terms that occur somewhere (in this collection or, for a shard,
/// in any shard), scored with `stats`. `None` when there is no index.
///
/// Errors: [`QueryError::InvalidOption`] when `stats` come from another language.
pub(crate) fn prepare(indexes: &[&Bm25], stats: &TermStats) -> Result<Option<PreparedQuery>> {
    let Some(first) = indexes.first() else {
        return Ok(None);
    };
    if stats.language != first.language || stats.doc_freqs.len() != stats.terms.len() {
        return Err(QueryError::InvalidOption(format!(
            "term statistics for {:?} cannot score a {:?} index",
            stats.language, first.language
        )));
    }
    let field = first.text;
    let clauses: Vec<(Occur, Box<dyn Query>)> = stats
        .terms
        .iter()
        .zip(&stats.doc_freqs)
        .filter(|&(_, &n)| n > 0)
        .map(|(t, _)| {
            let query: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            ));
            (Occur::Should, query)
        })
        .collect();
    let query = (!clauses.is_empty()).then(|| BooleanQuery::new(clauses));
    Ok(Some(PreparedQuery {
        query,
        totals: Totals {
            field,
            stats: stats.clone(),
        },
    }))
}

/// The `limit` best passages of one segment for a prepared question, ids offset by the
/// part's base.
pub(crate) fn search_part(
    prepared: &PreparedQuery,
    part: &Bm25Part<'_>,
    limit: usize,
) -> Result<Vec<(u32, f32)>> {
    let Some(query) = &prepared.query else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let dir = &part.index.dir;
    guarded(dir, || {
        let searcher = &part.index.searcher;
        let totals = &prepared.totals;
        // Beyond `limit`, so that passages tied with the last one survive the collection-wide
        // cut whichever segment holds them (tantivy breaks ties by its own doc order).
        let top = TopDocs::with_limit(limit.saturating_mul(2).saturating_add(8)).order_by_score();
        let top = match &part.allowed {
            None => searcher.search_with_statistics_provider(query, &top, totals)?,
            Some(allowed) => {
                let allowed = allowed.clone();
                let filtered = FilterCollector::new(
                    FIELD_PASSAGE.to_string(),
                    move |p: u64| allowed.get(p),
                    top,
                );
                searcher.search_with_statistics_provider(query, &filtered, totals)?
            }
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64(FIELD_PASSAGE)?;
            let id = column
                .first(address.doc_id)
                .ok_or_else(|| QueryError::corrupt(dir, "BM25 document without passage id"))?;
            let id = u32::try_from(id)
                .ok()
                .and_then(|id| id.checked_add(part.base))
                .ok_or_else(|| QueryError::corrupt(dir, format!("passage id {id} out of range")))?;
            hits.push((id, score));
        }
        Ok(hits)
    })
}

/// Best first, ties by id, cut to `limit` and the ties of the last (see
/// [`cut_with_ties`]).
pub(crate) fn finish(mut hits: Vec<(u32, f32)>, limit: usize) -> Vec<(u32, f32)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(cut_with_ties(hits.len(), limit, |i| hits[i].1));
    hits
}

/// The `limit` best passages of one index for `question`, and the question's coverage.
#[cfg(test)]
fn search_one(index: &Bm25, question: &str, limit: usize) -> Result<(Vec<(u32, f32)>, f32)> {
    let Some(stats) = term_stats(&[index], question)? else {
        return Ok((Vec::new(), 0.0));
    };
    let prepared = prepare(&[index], &stats)?.expect("one index");
    let part = Bm25Part {
        index,
        base: 0,
        allowed: None,
    };
    let hits = search_part(&prepared, &part, limit)?;
    Ok((finish(hits, limit), stats.coverage()))
}

/// Stored field check used by tests: the `passage` field is also stored so an index can be
/// inspected with generic tantivy tools.
#[cfg(test)]
fn stored_passage(doc: &tantivy::TantivyDocument, field: Field) -> Option<u64> {
    use tantivy::schema::Value;
    doc.get_first(field).and_then(|v| v.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_stemming_and_folding() {
        let stems = terms(
            Language::Dutch,
            "De samenwerking, samenwerkingen en samenwerken; vorm en vormen",
        );
        assert_eq!(stems, ["samenwerk", "vorm"]);
        assert_eq!(
            terms(Language::Dutch, "zorgcoöperaties"),
            terms(Language::Dutch, "zorgcooperatie")
        );
    }

    #[test]
    fn search_ranks_and_reports_coverage() {
        let dir = tempfile::tempdir().unwrap();
        let passages = [
            (0u32, "Fase", "Het initiatief lag bij de zorgcoöperatie."),
            (1, "", "Wantrouwen belemmerde de samenwerking in het dorp."),
            (2, "Vormen", "Twee vormen van partnerschap en samenwerking."),
        ];
        write_bm25(dir.path(), Language::Dutch, passages.iter().copied()).unwrap();
        let bm25 = Bm25::open(dir.path(), Language::Dutch).unwrap();
        let (hits, coverage) = search_one(&bm25, "wat belemmerde de samenwerking?", 10).unwrap();
        assert_eq!(hits[0].0, 1);
        assert_eq!(hits.len(), 2);
        assert!((coverage - 1.0).abs() < 1e-6, "{coverage}");
        let (hits, coverage) = search_one(&bm25, "what hinders cooperation?", 10).unwrap();
        assert!(hits.is_empty());
        assert_eq!(coverage, 0.0);
        let (hits, coverage) = search_one(&bm25, "initiatief fiets", 10).unwrap();
        assert_eq!(hits[0].0, 0);
        assert!((coverage - 0.5).abs() < 1e-6);

        let searcher = &bm25.searcher;
        let (_, _, passage) = schema();
        let doc: tantivy::TantivyDocument = searcher.doc(tantivy::DocAddress::new(0, 2)).unwrap();
        assert_eq!(stored_passage(&doc, passage), Some(2));
    }
}
