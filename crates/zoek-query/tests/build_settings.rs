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

/// A hashing embedder that writes down every text, and every late-chunked passage (its
/// sentences joined by " | "), that it is asked to embed.
#[derive(Default)]
struct Recording {
    inner: HashEmbedder,
    texts: std::sync::Mutex<Vec<String>>,
}

impl zoek_query::TextEmbedder for Recording {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed_query(&self, text: &str) -> zoek_query::Result<Vec<f32>> {
        self.inner.embed_query(text)
    }
    fn embed_passages(&self, texts: &[&str]) -> zoek_query::Result<Vec<Vec<f32>>> {
        let mut seen = self.texts.lock().unwrap();
        seen.extend(texts.iter().map(|t| t.to_string()));
        self.inner.embed_passages(texts)
    }
    fn count_tokens(&self, text: &str) -> zoek_query::Result<usize> {
        self.inner.count_tokens(text)
    }
    fn embed_late(
        &self,
        passages: &[zoek_query::LatePassage<'_>],
    ) -> zoek_query::Result<Vec<zoek_query::LateVectors>> {
        let mut seen = self.texts.lock().unwrap();
        seen.extend(passages.iter().map(|p| p.sentences.join(" | ")));
        self.inner.embed_late(passages)
    }
}

#[test]
fn each_distinct_text_is_embedded_once_and_every_occurrence_gets_its_vector() {
    use std::sync::Arc;
    use zoek_query::{Hit, TextEmbedder};
    let shared = "Deze wet treedt in werking met ingang van 1 januari.";
    let docs = [
        (
            "a",
            vec![shared, "Zij wordt aangehaald als de Wet zorgcoöperaties."],
        ),
        // One sentence: the passage is a sentence of "a" and its own sentence.
        ("b", vec![shared]),
        // The same document under another id.
        ("c", vec![shared]),
        ("d", vec!["Gemeenten bekostigen de zorgcoöperatie.", shared]),
        ("e", vec!["Vrijwilligers helpen ouderen thuis."]),
    ];
    let input = tempfile::tempdir().unwrap();
    let lines: String = docs
        .iter()
        .map(|(id, s)| serde_json::json!({ "id": id, "text": s.join(" ") }).to_string() + "\n")
        .collect();
    std::fs::write(input.path().join("wetten.jsonl"), lines).unwrap();
    let of = |h: &Hit, id: &str| h.doc == id || h.doc.ends_with(&format!("#{id}"));
    // Separate: the 4 distinct sentences, then the passages of "a" and "d" (the other
    // three are one of those sentences). Late: the 4 distinct passages.
    for (mode, embedded) in [(SentenceVectors::Separate, 6), (SentenceVectors::Late, 4)] {
        let recording = Arc::new(Recording::default());
        let engine = Engine::from_shared(recording.clone() as Arc<dyn TextEmbedder>);
        let out = tempfile::tempdir().unwrap();
        let stats = engine
            .build(&[input.path()], out.path(), &opts(mode, false))
            .unwrap();
        assert_eq!((stats.passages, stats.sentences), (5, 7), "{mode:?}");
        let texts = recording.texts.lock().unwrap().clone();
        let mut distinct = texts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            texts.len(),
            distinct.len(),
            "{mode:?} embedded twice: {texts:?}"
        );
        assert_eq!(texts.len(), embedded, "{mode:?}: {texts:?}");

        // Every occurrence has its own text's vector: each sentence, asked, is its
        // passage's highlight at cosine 1, and each passage, asked, comes back at cosine 1.
        let collection = Collection::open(out.path()).unwrap();
        let ask = |question: &str, rank: RankMode| {
            let opts = AskOptions {
                k: 5,
                mode: rank,
                centering: 0.0,
                demote_questions: false,
                ..AskOptions::default()
            };
            collection.ask_with(&engine, question, &opts).unwrap().hits
        };
        for (id, sentences) in &docs {
            for sentence in sentences {
                let hits = ask(sentence, RankMode::SentenceToParent);
                let hit = hits.iter().find(|h| of(h, id));
                let hit = hit.unwrap_or_else(|| panic!("{mode:?} {id} {sentence:?}: {hits:?}"));
                assert_eq!(hit.highlight.as_deref(), Some(*sentence), "{mode:?} {id}");
                let cosine = hit.dense_score.unwrap();
                assert!(
                    (cosine - 1.0).abs() < 1e-4,
                    "{mode:?} {id} {sentence:?}: {cosine}"
                );
            }
            let hits = ask(&sentences.join(" "), RankMode::DenseParagraph);
            let hit = hits.iter().find(|h| of(h, id));
            let hit = hit.unwrap_or_else(|| panic!("{mode:?} {id}: {hits:?}"));
            let cosine = hit.dense_score.unwrap();
            assert!((cosine - 1.0).abs() < 1e-4, "{mode:?} {id}: {cosine}");
        }
    }
}
