//! Collections written by an earlier build of zoek keep opening and answering identically.
//!
//! `tests/fixtures/compat/` holds two collections written by commit 7120377 (before the
//! zoek-query restructuring) with the hashing embedder, and `answers.json`, what that build
//! answered on them: `exact` (two segments, a tombstone, exact search) and `hnsw` (one
//! segment with an HNSW graph). The test opens copies of them with today's code and
//! requires the same hits, highlights and scores, in every ranking mode and with a filter.
//!
//! To regenerate (only when the on-disk format changes on purpose, with a new format
//! version): `ZOEK_WRITE_COMPAT_FIXTURE=1 cargo test -p zoek-query --test compat`.

use std::path::{Path, PathBuf};

use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, RankMode,
    TokenCounting,
};

#[path = "common/tree.rs"]
mod tree;
use tree::{copy_tree, two_segments_with_tombstone};

const QUESTIONS: &[&str] = &[
    "wat belemmert de samenwerking?",
    "Het initiatief voor samenwerking lag bij de zorgcoöperatie",
    "twee vormen van partnerschap",
    "wie betaalt de vrijwilligers?",
    "what hinders cooperation?",
];

const MODES: &[RankMode] = &[
    RankMode::Hybrid,
    RankMode::Rrf,
    RankMode::SentenceToParent,
    RankMode::DenseParagraph,
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn engine() -> Engine {
    Engine::new(HashEmbedder::default())
}

fn opts(hnsw_threshold: usize) -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        hnsw_threshold,
        ..BuildOptions::default()
    }
}

/// What the fixture records of one answer.
fn answers(collection: &Collection, engine: &Engine) -> serde_json::Value {
    let mut out = Vec::new();
    for question in QUESTIONS {
        for &mode in MODES {
            for filter in [None, Some(("path", "zonder"))] {
                let opts = AskOptions {
                    k: 5,
                    mode,
                    filters: filter
                        .map(|(f, v)| vec![(f.to_string(), v.to_string())])
                        .unwrap_or_default(),
                    // The ranking the old build had (it did not demote questions), so that
                    // what is compared is what the files hold.
                    demote_questions: false,
                    ..AskOptions::default()
                };
                let answer = collection.ask_with(engine, question, &opts).unwrap();
                let hits: Vec<serde_json::Value> = answer
                    .hits
                    .iter()
                    .map(|h| {
                        serde_json::json!({
                            "passage": h.passage,
                            "doc": h.doc,
                            "heading": h.heading,
                            "highlight": h.highlight,
                            "score": h.score,
                            "dense_score": h.dense_score,
                            "bm25_score": h.bm25_score,
                        })
                    })
                    .collect();
                out.push(serde_json::json!({
                    "question": question,
                    "mode": mode,
                    "filter": filter.is_some(),
                    "hits": hits,
                }));
            }
        }
    }
    serde_json::Value::Array(out)
}

fn stats(collection: &Collection) -> serde_json::Value {
    let s = collection.stats().unwrap();
    serde_json::json!({
        "generation": s.generation,
        "live_documents": s.live_documents,
        "passages": s.passages,
        "live_passages": s.live_passages,
        "tombstones": s.tombstones,
        "segments": s.segments.len(),
        "hnsw": collection.uses_hnsw(),
    })
}

/// Writes the two collections and their answers (run on the old build).
fn write_fixture(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let engine = engine();
    let scratch = tempfile::tempdir().unwrap();
    let exact = root.join("exact");
    two_segments_with_tombstone(&exact, &engine, &opts(10_000), scratch.path());

    let hnsw = root.join("hnsw");
    engine.build(&[corpus_dir()], &hnsw, &opts(1)).unwrap();

    let mut record = serde_json::Map::new();
    for (name, dir) in [("exact", &exact), ("hnsw", &hnsw)] {
        let _ = std::fs::remove_file(dir.join("writer.lock"));
        let c = Collection::open(dir).unwrap();
        record.insert(
            name.into(),
            serde_json::json!({ "stats": stats(&c), "answers": answers(&c, &engine) }),
        );
    }
    std::fs::write(
        root.join("answers.json"),
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .unwrap();
}

fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= 1e-6
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn collections_of_the_previous_build_answer_identically() {
    let root = fixture_dir();
    if std::env::var_os("ZOEK_WRITE_COMPAT_FIXTURE").is_some() {
        write_fixture(&root);
    }
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("answers.json")).unwrap()).unwrap();
    let engine = engine();
    let work = tempfile::tempdir().unwrap();
    for name in ["exact", "hnsw"] {
        let dir = work.path().join(name);
        copy_tree(&root.join(name), &dir);
        let collection = Collection::open(&dir).unwrap();
        collection.verify().unwrap();
        // Written before segments recorded their sentence sums: asked uncentred, as then.
        assert!(collection.centroid().is_none(), "{name}");
        let want = &expected[name];
        assert_eq!(stats(&collection), want["stats"], "{name}: stats");
        let got = answers(&collection, &engine);
        let want = want["answers"].as_array().unwrap();
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(close(g, w), "{name}: answer changed\n got: {g}\nwant: {w}");
        }

        // The old collection also takes new writes.
        let mut writer = CollectionWriter::open(&dir, &engine, &opts(10_000)).unwrap();
        let extra = tempfile::tempdir().unwrap();
        std::fs::write(
            extra.path().join("nieuw.txt"),
            "Nieuw\n\nEen nieuw document over de otter in de rivier.\n",
        )
        .unwrap();
        assert_eq!(writer.add(&[extra.path()]).unwrap().added, 1);
        writer.commit().unwrap();
        let reopened = Collection::open(&dir).unwrap();
        let hits = reopened
            .ask(&engine, "waar leeft de otter?", 1)
            .unwrap()
            .hits;
        assert_eq!(hits[0].doc, "nieuw.txt");
    }
}
