//! The per-collection build settings: how sentence vectors are made (separate or late
//! chunking) and whether passages are embedded with their title and heading. Model-free
//! (hashing embedder); the model's own late pooling is tested in zoek-embed's `late.rs`.

use std::path::{Path, PathBuf};

use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionManifest, CollectionWriter, Engine,
    HashEmbedder, RankMode, SentenceVectors, TokenCounting,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn opts(sentence_vectors: SentenceVectors, context_headers: bool) -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        sentence_vectors,
        context_headers,
        ..BuildOptions::default()
    }
}

fn ranked(engine: &Engine, dir: &Path, question: &str) -> Vec<(String, Option<String>, u32)> {
    let collection = Collection::open(dir).unwrap();
    collection.verify().unwrap();
    collection
        .ask(engine, question, 8)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| (h.doc, h.highlight, (h.score * 1e4) as u32))
        .collect()
}

#[test]
fn settings_are_recorded_and_kept_by_later_writers() {
    let engine = Engine::new(HashEmbedder::default());
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("late");
    engine
        .build(&[corpus_dir()], &dir, &opts(SentenceVectors::Late, true))
        .unwrap();
    let manifest = CollectionManifest::read(&dir).unwrap();
    assert_eq!(manifest.settings.sentence_vectors, SentenceVectors::Late);
    assert!(manifest.settings.context_headers);
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(text.contains("\"sentence_vectors\": \"late\""), "{text}");

    // A writer opened with other options keeps the collection's own settings.
    let mut writer =
        CollectionWriter::open(&dir, &engine, &opts(SentenceVectors::Separate, false)).unwrap();
    let extra = out.path().join("extra.txt");
    std::fs::write(
        &extra,
        "Extra\n\nEen nieuwe zin over samenwerking in het dorp.\n",
    )
    .unwrap();
    writer.add(&[extra]).unwrap();
    writer.commit().unwrap();
    drop(writer);
    let manifest = CollectionManifest::read(&dir).unwrap();
    assert_eq!(manifest.settings.sentence_vectors, SentenceVectors::Late);
    assert!(manifest.settings.context_headers);
    assert_eq!(manifest.segments.len(), 2);
}

#[test]
fn manifests_without_the_settings_read_as_separate_without_headers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat/exact");
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(!text.contains("sentence_vectors"));
    let manifest = CollectionManifest::read(&dir).unwrap();
    assert_eq!(
        manifest.settings.sentence_vectors,
        SentenceVectors::Separate
    );
    assert!(!manifest.settings.context_headers);
}

#[test]
fn late_without_token_states_falls_back_to_separate_sentences() {
    // The hashing embedder has no token states, so its late vectors are its separate ones:
    // sentence rankings and highlights must then be identical; only the passage vectors
    // (sentences joined by spaces instead of the passage text) may differ slightly.
    let engine = Engine::new(HashEmbedder::default());
    let out = tempfile::tempdir().unwrap();
    let (sep, late) = (out.path().join("sep"), out.path().join("late"));
    engine
        .build(
            &[corpus_dir()],
            &sep,
            &opts(SentenceVectors::Separate, false),
        )
        .unwrap();
    engine
        .build(&[corpus_dir()], &late, &opts(SentenceVectors::Late, false))
        .unwrap();
    let q = "Wantrouwen vanuit het dorp belemmerde de samenwerking";
    let (a, b) = (ranked(&engine, &sep, q), ranked(&engine, &late, q));
    assert_eq!(a.len(), b.len());
    assert_eq!(a[0].0, b[0].0);
    assert_eq!(a[0].1, b[0].1);
    assert!(
        a[0].1
            .as_deref()
            .unwrap()
            .starts_with("Wantrouwen vanuit het dorp")
    );
}

#[test]
fn context_headers_change_only_the_passage_vectors() {
    let engine = Engine::new(HashEmbedder::default());
    let out = tempfile::tempdir().unwrap();
    let (plain, ctx) = (out.path().join("plain"), out.path().join("ctx"));
    let a = engine
        .build(
            &[corpus_dir()],
            &plain,
            &opts(SentenceVectors::Separate, false),
        )
        .unwrap();
    let b = engine
        .build(
            &[corpus_dir()],
            &ctx,
            &opts(SentenceVectors::Separate, true),
        )
        .unwrap();
    assert_eq!((a.passages, a.sentences), (b.passages, b.sentences));
    let ask = |dir: &Path, mode: RankMode| {
        let collection = Collection::open(dir).unwrap();
        // Uncentred: the raw cosines are what the build settings change.
        let opts = AskOptions {
            k: 1,
            mode,
            centering: 0.0,
            ..AskOptions::default()
        };
        collection
            .ask_with(&engine, "Vormen van samenwerking", &opts)
            .unwrap()
            .hits
            .remove(0)
    };
    // Sentence vectors are the same with or without headers ...
    let (s1, s2) = (
        ask(&plain, RankMode::SentenceToParent),
        ask(&ctx, RankMode::SentenceToParent),
    );
    assert_eq!((s1.passage, s1.highlight), (s2.passage, s2.highlight));
    assert_eq!(s1.dense_score, s2.dense_score);
    // ... while the heading's words reach the passage vectors: its passage scores higher
    // for a question made of the heading.
    let (p1, p2) = (
        ask(&plain, RankMode::DenseParagraph),
        ask(&ctx, RankMode::DenseParagraph),
    );
    assert_eq!(p2.heading.as_deref(), Some("Vormen van samenwerking"));
    assert!(p2.score > p1.score + 0.05, "{} vs {}", p2.score, p1.score);
}
