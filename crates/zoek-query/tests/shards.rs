//! One question over several collections (`zoek_query::shard`): documents split over
//! shards answer exactly as one collection of all of them — passages, order and scores, in
//! every ranking mode, with filters — and a failing shard is an error or, when asked, a
//! partial answer naming it. Model-free (the hashing embedder).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use zoek_query::shard::{
    FetchRequest, FetchedPassage, Shard, ShardCandidates, ShardQuery, ShardedCollection, TermStats,
};
use zoek_query::text::ingest::RawDocument;
use zoek_query::{
    AskOptions, BuildOptions, Centroid, Collection, CollectionWriter, Engine, HashEmbedder,
    QueryError, RankMode, TokenCounting,
};

const WORDS: &[&str] = &[
    "zorg",
    "coöperatie",
    "vrijwilliger",
    "dorp",
    "gemeente",
    "wantrouwen",
    "samenwerking",
    "bestuur",
    "subsidie",
    "huisarts",
    "buurtbus",
    "maaltijd",
    "eenzaamheid",
    "ouderen",
    "mantelzorg",
    "vergadering",
    "statuten",
    "leden",
    "contributie",
    "wijkverpleging",
    "thuiszorg",
    "vervoer",
    "dagbesteding",
    "fiets",
    "ziekenhuis",
    "apotheek",
    "regels",
    "wet",
    "artikel",
    "besluit",
    "minister",
    "provincie",
    "water",
    "dijk",
    "belasting",
];

/// A deterministic pseudo-random text of `sentences` sentences.
fn text(seed: u64, sentences: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let mut out = String::new();
    for s in 0..sentences {
        if s > 0 && s % 3 == 0 {
            out.push_str("\n\n");
        }
        let n = 5 + next() % 7;
        let words: Vec<&str> = (0..n).map(|_| WORDS[next() % WORDS.len()]).collect();
        let mut sentence = words.join(" ");
        sentence[..1].make_ascii_uppercase();
        out.push_str(&sentence);
        out.push_str(if next() % 5 == 0 { "? " } else { ". " });
    }
    out
}

fn documents() -> Vec<RawDocument> {
    (0..72u64)
        .map(|i| {
            let metadata: BTreeMap<String, serde_json::Value> =
                [("group".to_string(), json!(format!("g{}", i % 3)))].into();
            RawDocument::from_text(
                format!("doc-{i:03}"),
                &text(i, 4 + (i as usize % 7)),
                metadata,
            )
        })
        .collect()
}

fn build(dir: &std::path::Path, engine: &Engine, docs: Vec<RawDocument>) -> Collection {
    let opts = BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        passage_vectors: true,
        max_tokens: 48,
        ..BuildOptions::default()
    };
    let mut w = CollectionWriter::open(dir, engine, &opts).unwrap();
    w.add_documents(docs).unwrap();
    w.commit().unwrap();
    Collection::open(dir).unwrap()
}

/// One collection of everything, and the same documents split into `n` shards in order.
fn collections(n: usize) -> (Engine, Vec<tempfile::TempDir>, Collection, Vec<Collection>) {
    let engine = Engine::new(HashEmbedder::default());
    let all_dir = tempfile::tempdir().unwrap();
    let all = build(all_dir.path(), &engine, documents());
    let mut dirs = vec![all_dir];
    let docs = documents();
    let per = docs.len().div_ceil(n);
    let mut shards = Vec::new();
    for chunk in docs.chunks(per) {
        let dir = tempfile::tempdir().unwrap();
        shards.push(build(dir.path(), &engine, chunk.to_vec()));
        dirs.push(dir);
    }
    (engine, dirs, all, shards)
}

const QUESTIONS: &[&str] = &[
    "wat belemmert de samenwerking in het dorp?",
    "wantrouwen bestuur",
    "hoe regelt de gemeente vervoer naar het ziekenhuis",
    "subsidie voor dagbesteding van ouderen",
    "what hinders cooperation?",
    "mantelzorg eenzaamheid huisarts",
    "de wet en het artikel over belasting",
];

fn same(one: &zoek_query::Answer, sharded: &zoek_query::Answer, what: &str) {
    let docs = |a: &zoek_query::Answer| {
        a.hits
            .iter()
            .map(|h| (h.doc.clone(), h.byte_range.clone(), h.highlight.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(docs(one), docs(sharded), "{what}");
    for (a, b) in one.hits.iter().zip(&sharded.hits) {
        assert!(
            (a.score - b.score).abs() <= 1e-6,
            "{what}: {} vs {}",
            a.score,
            b.score
        );
        assert_eq!(a.bm25_score, b.bm25_score, "{what}");
        assert_eq!(a.text, b.text);
        assert_eq!(a.metadata, b.metadata);
    }
    assert_eq!(one.bm25_coverage, sharded.bm25_coverage, "{what}");
}

#[test]
fn shards_answer_as_one_collection_in_every_mode() {
    for n in [2, 3] {
        let (engine, _dirs, all, shards) = collections(n);
        assert_eq!(
            shards.iter().map(Collection::len).sum::<usize>(),
            all.len(),
            "the split keeps every passage"
        );
        let names: Vec<String> = (0..shards.len()).map(|i| format!("s{i}")).collect();
        let sharded =
            ShardedCollection::new(names.iter().cloned().zip(shards.iter()).collect()).unwrap();
        for (mode, centering, doc_prior, demote_questions) in
            RankMode::ALL.into_iter().flat_map(|m| {
                [
                    (m, 0.0, 0.0, false),
                    (m, 0.6, 0.0, false),
                    (m, 0.0, 0.4, false),
                    (m, 0.0, 0.0, true),
                ]
            })
        {
            for filters in [vec![], vec![("group".to_string(), "g1".to_string())]] {
                let opts = AskOptions {
                    k: 10,
                    mode,
                    centering,
                    doc_prior,
                    demote_questions,
                    filters: filters.clone(),
                    ..AskOptions::default()
                };
                for q in QUESTIONS {
                    let one = all.ask_with(&engine, q, &opts).unwrap();
                    let got = sharded.ask_with(&engine, q, &opts, false).unwrap();
                    assert!(!got.is_partial());
                    assert_eq!(got.shards.len(), got.answer.hits.len());
                    same(
                        &one,
                        &got.answer,
                        &format!(
                            "{n} shards, {mode}, centering {centering}, doc prior {doc_prior}, demote {demote_questions}, {filters:?}, {q}"
                        ),
                    );
                    assert!(!one.hits.is_empty());
                }
            }
        }
    }
}

#[test]
fn summed_term_statistics_are_the_collections() {
    let (_engine, _dirs, all, shards) = collections(3);
    let q = "wantrouwen in het bestuur van de coöperatie";
    let parts: Vec<TermStats> = shards
        .iter()
        .map(|s| s.term_stats(q).unwrap().unwrap())
        .collect();
    assert_eq!(TermStats::sum(&parts).unwrap(), all.term_stats(q).unwrap());
    let mut english = parts[0].clone();
    english.language = zoek_query::Language::English;
    assert!(matches!(
        TermStats::sum(&[parts[0].clone(), english]),
        Err(QueryError::InvalidOption(_))
    ));
    assert_eq!(TermStats::sum(&[]).unwrap(), None);
}

#[test]
fn summed_centroids_are_the_collections() {
    let (_engine, _dirs, all, shards) = collections(3);
    let parts: Vec<Centroid> = shards
        .iter()
        .map(|s| s.centroid().unwrap().clone())
        .collect();
    let sum = Centroid::sum(&parts).unwrap().unwrap();
    let whole = all.centroid().unwrap();
    assert_eq!(sum.sentences, whole.sentences);
    assert_eq!(
        sum.sentences as usize,
        all.segments().map(|s| s.sentences()).sum::<usize>()
    );
    for (a, b) in sum.sum.iter().zip(&whole.sum) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

/// A shard that fails on demand.
struct Flaky<'a> {
    inner: &'a Collection,
    down: AtomicBool,
}

impl Shard for Flaky<'_> {
    fn term_stats(&self, question: &str) -> zoek_query::Result<Option<TermStats>> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueryError::Shard {
                shard: "flaky".into(),
                reason: "connection refused".into(),
            });
        }
        self.inner.term_stats(question)
    }
    fn centroid(&self) -> zoek_query::Result<Option<Centroid>> {
        Ok(self.inner.centroid().cloned())
    }
    fn candidates(&self, query: &ShardQuery) -> zoek_query::Result<ShardCandidates> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueryError::Shard {
                shard: "flaky".into(),
                reason: "connection refused".into(),
            });
        }
        self.inner.candidates(query)
    }
    fn fetch(&self, request: &FetchRequest) -> zoek_query::Result<Vec<FetchedPassage>> {
        self.inner.fetch(request)
    }
}

#[test]
fn a_failing_shard_is_an_error_or_a_partial_answer_naming_it() {
    let (engine, _dirs, _all, shards) = collections(2);
    let flaky: Vec<Flaky> = shards
        .iter()
        .map(|inner| Flaky {
            inner,
            down: AtomicBool::new(false),
        })
        .collect();
    let sharded = ShardedCollection::new(vec![
        ("a".to_string(), &flaky[0]),
        ("b".to_string(), &flaky[1]),
    ])
    .unwrap();
    let opts = AskOptions {
        k: 10,
        ..AskOptions::default()
    };
    let q = QUESTIONS[0];
    let full = sharded.ask_with(&engine, q, &opts, false).unwrap();
    assert!(full.shards.iter().any(|s| s == "b"));
    flaky[1].down.store(true, Ordering::SeqCst);
    match sharded.ask_with(&engine, q, &opts, false) {
        Err(QueryError::Shard { shard, .. }) => assert_eq!(shard, "flaky"),
        other => panic!("expected a shard error, got {other:?}"),
    }
    let partial = sharded.ask_with(&engine, q, &opts, true).unwrap();
    assert_eq!(partial.missing, ["b"]);
    assert!(partial.is_partial());
    assert!(partial.shards.iter().all(|s| s == "a"));
    // What is left is what shard a alone answers.
    let alone = shards[0].ask_with(&engine, q, &opts).unwrap();
    let docs = |a: &zoek_query::Answer| a.hits.iter().map(|h| h.doc.clone()).collect::<Vec<_>>();
    assert_eq!(docs(&partial.answer), docs(&alone));
    assert_eq!(partial.to_json()["missing_shards"], json!(["b"]));
    assert_eq!(partial.to_json()["partial"], json!(true));
    flaky[0].down.store(true, Ordering::SeqCst);
    assert!(matches!(
        sharded.ask_with(&engine, q, &opts, true),
        Err(QueryError::Shard { .. })
    ));
}

#[test]
fn a_stale_fetch_and_a_foreign_model_are_refused() {
    let (engine, _dirs, _all, shards) = collections(2);
    let err = shards[0]
        .fetch(&FetchRequest {
            generation: shards[0].generation() + 1,
            vector: vec![0.0; engine.dim()],
            passages: vec![],
        })
        .unwrap_err();
    assert!(matches!(err, QueryError::SnapshotChanged { .. }), "{err}");
    let bad = shards[0].fetch(&FetchRequest {
        generation: shards[0].generation(),
        vector: vec![0.0; engine.dim()],
        passages: vec![zoek_query::shard::FetchItem {
            passage: 1 << 30,
            sentence: None,
        }],
    });
    assert!(matches!(bad, Err(QueryError::InvalidOption(_))));
    let other = Engine::new(HashEmbedder::new(64));
    let sharded = ShardedCollection::new(vec![
        ("a".to_string(), &shards[0]),
        ("b".to_string(), &shards[1]),
    ])
    .unwrap();
    let err = sharded
        .ask_with(&other, QUESTIONS[0], &AskOptions::default(), true)
        .unwrap_err();
    assert!(matches!(err, QueryError::ModelMismatch { .. }), "{err}");
    assert!(
        ShardedCollection::new(vec![
            ("a".to_string(), &shards[0]),
            ("a".to_string(), &shards[1])
        ])
        .is_err()
    );
}
