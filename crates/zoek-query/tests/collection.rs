//! Building, opening and asking a collection, and the error cases, with the model-free
//! hashing embedder (the model-backed quality tests are in `quality.rs`).

use std::path::{Path, PathBuf};

use zoek_query::{
    AskOptions, BuildOptions, Collection, Engine, HashEmbedder, QueryError, RankMode, TokenCounting,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        passage_vectors: true,
        ..BuildOptions::default()
    }
}

fn built() -> (tempfile::TempDir, Engine, Collection) {
    let out = tempfile::tempdir().unwrap();
    let engine = Engine::new(HashEmbedder::default());
    let stats = engine.build(&[corpus_dir()], out.path(), &opts()).unwrap();
    assert_eq!(stats.documents, 2);
    assert!(stats.passages >= 8, "{stats:?}");
    assert!(stats.sentences > stats.passages);
    assert!(stats.skipped.is_empty());
    let collection = Collection::open(out.path()).unwrap();
    (out, engine, collection)
}

#[test]
fn build_open_ask_round_trip() {
    let (_dir, engine, collection) = built();
    collection.verify().unwrap();
    let answer = collection
        .ask(
            &engine,
            "Het initiatief voor samenwerking lag bij de zorgcoöperatie",
            3,
        )
        .unwrap();
    assert_eq!(answer.hits.len(), 3);
    let top = &answer.hits[0];
    assert_eq!(top.rank, 1);
    assert_eq!(top.doc, "status-quo-samenwerking.txt");
    assert_eq!(top.heading.as_deref(), Some("Fase en initiatief"));
    let highlight = top.highlight.as_deref().unwrap();
    assert!(highlight.starts_with("Het initiatief voor samenwerking in de onderzochte casussen"));
    assert!(top.text.contains(highlight));
    assert!(answer.bm25_coverage.unwrap() > 0.9);
    for w in answer.hits.windows(2) {
        assert!(w[0].score >= w[1].score);
    }
    let json = answer.to_json();
    assert_eq!(json["hits"][0]["rank"], 1);
    assert!(
        json["timings_ms"]["total"].as_f64().unwrap()
            >= json["timings_ms"]["embed"].as_f64().unwrap()
    );
}

#[test]
fn byte_ranges_point_into_the_cleaned_document() {
    let (dir, engine, collection) = built();
    assert_eq!(collection.manifest().segments.len(), 1);
    let segment = collection.segments().next().unwrap();
    assert!(segment.dir().starts_with(dir.path()));
    let docs_file = segment.dir().join(&segment.manifest().data.documents);
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(docs_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let answer = collection
        .ask(&engine, "twee vormen van partnerschap", 5)
        .unwrap();
    for hit in &answer.hits {
        let doc = docs.iter().find(|d| d["id"] == hit.doc.as_str()).unwrap();
        let text = doc["text"].as_str().unwrap();
        assert_eq!(&text[hit.byte_range.clone()], hit.text);
        let hr = hit.highlight_range.clone().unwrap();
        assert_eq!(&text[hr], hit.highlight.as_deref().unwrap());
    }
}

#[test]
fn every_mode_answers() {
    let (_dir, engine, collection) = built();
    for mode in [
        RankMode::Hybrid,
        RankMode::Rrf,
        RankMode::SentenceToParent,
        RankMode::DenseParagraph,
    ] {
        let answer = collection
            .ask_with(
                &engine,
                "vormen van partnerschap",
                &AskOptions {
                    k: 4,
                    mode,
                    ..AskOptions::default()
                },
            )
            .unwrap();
        assert_eq!(answer.hits.len(), 4, "{mode:?}");
        assert!(
            answer
                .hits
                .iter()
                .all(|h| h.highlight.is_some() || mode == RankMode::DenseParagraph)
        );
        let heading = answer.hits[0].heading.as_deref();
        assert_eq!(heading, Some("Vormen van samenwerking"), "{mode:?}");
    }
}

#[test]
fn bad_questions_are_typed_errors() {
    let (_dir, engine, collection) = built();
    assert!(matches!(
        collection.ask(&engine, "", 3),
        Err(QueryError::EmptyQuestion)
    ));
    assert!(matches!(
        collection.ask(&engine, " \n\t ", 3),
        Err(QueryError::EmptyQuestion)
    ));
    let long = "samenwerking ".repeat(100_000 / 13 + 1);
    assert!(matches!(
        collection.ask(&engine, &long, 3),
        Err(QueryError::QuestionTooLong { limit: 16384, .. })
    ));
    assert!(matches!(
        collection.ask(&engine, "samenwerking", 0),
        Err(QueryError::ZeroK)
    ));
}

#[test]
fn another_model_is_refused_with_both_fingerprints() {
    let (_dir, _engine, collection) = built();
    let other = Engine::new(HashEmbedder::new(128));
    let err = collection.ask(&other, "samenwerking", 3).unwrap_err();
    let QueryError::ModelMismatch {
        collection: built_with,
        engine,
    } = &err
    else {
        panic!("expected a model mismatch, got {err:?}");
    };
    assert_eq!(built_with, "zoek-hash-trigram-256");
    assert_eq!(engine, "zoek-hash-trigram-128");
    let msg = err.to_string();
    assert!(msg.contains("zoek-hash-trigram-256") && msg.contains("zoek-hash-trigram-128"));
}

#[test]
fn missing_and_corrupt_collections_are_typed_errors() {
    let err = Collection::open("/nonexistent/zoek/collection").unwrap_err();
    assert!(
        matches!(err, QueryError::MissingCollection { .. }),
        "{err:?}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Collection::open(empty.path()),
        Err(QueryError::MissingCollection { .. })
    ));

    let (dir, _engine, _collection) = built();
    let manifest = dir.path().join("manifest.json");
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, &original[..original.len() / 2]).unwrap();
    assert!(matches!(
        Collection::open(dir.path()),
        Err(QueryError::Corrupt { .. })
    ));
    std::fs::write(
        &manifest,
        original.replace("\"format_version\": 2", "\"format_version\": 99"),
    )
    .unwrap();
    assert!(matches!(
        Collection::open(dir.path()),
        Err(QueryError::UnsupportedVersion {
            found: 99,
            supported: 2
        })
    ));
    // A version 1 collection (one build in the directory) must be rebuilt.
    std::fs::write(
        &manifest,
        original.replace("\"format_version\": 2", "\"format_version\": 1"),
    )
    .unwrap();
    let err = Collection::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("rebuild it with `zoek index`"),
        "{err}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&original).unwrap();
    let segment = parsed["segments"][0]["name"].as_str().unwrap().to_string();
    std::fs::write(
        &manifest,
        original.replace(&format!("\"{segment}\""), "\"../../etc\""),
    )
    .unwrap();
    let err = Collection::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("leaves the collection directory"),
        "{err}"
    );
    std::fs::write(&manifest, &original).unwrap();
    let segment_manifest = dir.path().join(&segment).join("segment.json");
    let seg_original = std::fs::read_to_string(&segment_manifest).unwrap();
    let escaped = seg_original.replacen(
        &format!(
            "\"documents\": \"{}",
            seg_original
                .split("\"documents\": \"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        ),
        "\"documents\": \"../../etc/passwd",
        1,
    );
    assert_ne!(escaped, seg_original);
    std::fs::write(&segment_manifest, escaped).unwrap();
    let err = Collection::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("leaves the collection directory"),
        "{err}"
    );
    std::fs::write(&segment_manifest, &seg_original).unwrap();
    Collection::open(dir.path()).unwrap();
    let seg_parsed: serde_json::Value = serde_json::from_str(&seg_original).unwrap();
    let vectors = dir
        .path()
        .join(&segment)
        .join(seg_parsed["data"]["sentence_vectors"].as_str().unwrap());
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes.truncate(bytes.len() - 4);
    std::fs::write(&vectors, bytes).unwrap();
    assert!(matches!(
        Collection::open(dir.path()),
        Err(QueryError::Corrupt { .. })
    ));
}

#[test]
fn empty_corpus_and_missing_input_are_errors() {
    let engine = Engine::new(HashEmbedder::default());
    let input = tempfile::tempdir().unwrap();
    std::fs::write(
        input.path().join("leeg.txt"),
        "S M\n\n0\n\nMeer informatie\n",
    )
    .unwrap();
    std::fs::write(input.path().join("binair.txt"), [0xc3, 0x28, 0x00]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = engine
        .build(&[input.path()], out.path(), &opts())
        .unwrap_err();
    assert!(matches!(err, QueryError::EmptyCorpus { .. }), "{err:?}");
    let err = engine
        .build(&[input.path().join("nope")], out.path(), &opts())
        .unwrap_err();
    assert!(matches!(err, QueryError::InputNotFound(_)), "{err:?}");
}

#[test]
fn rebuilding_replaces_the_collection_and_removes_old_files() {
    let engine = Engine::new(HashEmbedder::default());
    let out = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("a.txt"), "Eerste versie van de tekst.").unwrap();
    engine.build(&[input.path()], out.path(), &opts()).unwrap();
    let first = Collection::open(out.path()).unwrap();
    let first_segment = first.manifest().segments[0].name.clone();
    std::fs::write(
        input.path().join("a.txt"),
        "Tweede versie. Met twee zinnen.",
    )
    .unwrap();
    engine.build(&[input.path()], out.path(), &opts()).unwrap();
    let collection = Collection::open(out.path()).unwrap();
    assert!(collection.generation() > first.generation());
    assert_eq!(collection.manifest().segments.len(), 1);
    assert_ne!(collection.manifest().segments[0].name, first_segment);
    assert_eq!(collection.manifest().segments[0].sentences, 2);
    assert!(!out.path().join(&first_segment).exists());
    // The old snapshot keeps answering from its (now unlinked) files.
    let old = first.ask(&engine, "eerste versie", 1).unwrap();
    assert_eq!(old.hits[0].text, "Eerste versie van de tekst.");
    let answer = collection.ask(&engine, "twee zinnen", 1).unwrap();
    assert_eq!(
        answer.hits[0].highlight.as_deref(),
        Some("Met twee zinnen.")
    );
}

#[test]
fn progress_is_reported_per_stage() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let opts = BuildOptions {
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..opts()
    };
    let out = tempfile::tempdir().unwrap();
    let stats = Engine::new(HashEmbedder::default())
        .build(&[corpus_dir()], out.path(), &opts)
        .unwrap();
    let seen = seen.lock().unwrap();
    let last_embed = seen
        .iter()
        .rfind(|p| p.stage == zoek_query::Stage::EmbeddingSentences)
        .unwrap();
    assert_eq!(
        (last_embed.done, last_embed.total),
        (stats.sentences, stats.sentences)
    );
    assert_eq!(seen.last().unwrap().stage, zoek_query::Stage::Writing);
}

#[test]
fn engine_and_collection_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<Collection>();
}

#[test]
fn large_collections_go_through_the_hnsw_graph_with_the_same_answers() {
    let engine = Engine::new(HashEmbedder::default());
    let exact_dir = tempfile::tempdir().unwrap();
    let graph_dir = tempfile::tempdir().unwrap();
    engine
        .build(&[corpus_dir()], exact_dir.path(), &opts())
        .unwrap();
    let graph_opts = BuildOptions {
        hnsw_threshold: 1,
        ..opts()
    };
    let stats = engine
        .build(&[corpus_dir()], graph_dir.path(), &graph_opts)
        .unwrap();
    assert!(stats.hnsw);
    let exact = Collection::open(exact_dir.path()).unwrap();
    let graph = Collection::open(graph_dir.path()).unwrap();
    assert!(!exact.uses_hnsw());
    assert!(graph.uses_hnsw());
    graph.verify().unwrap();
    for question in [
        "vormen van partnerschap",
        "initiatief zorgcoöperatie",
        "gedeelde visie",
    ] {
        for mode in [RankMode::SentenceToParent, RankMode::Hybrid] {
            let o = AskOptions {
                k: 3,
                mode,
                ..AskOptions::default()
            };
            let a = exact.ask_with(&engine, question, &o).unwrap();
            let b = graph.ask_with(&engine, question, &o).unwrap();
            let texts =
                |x: &zoek_query::Answer| x.hits.iter().map(|h| h.text.clone()).collect::<Vec<_>>();
            assert_eq!(texts(&a), texts(&b), "{question} {mode:?}");
        }
    }
}

#[test]
fn search_embedded_matches_ask() {
    let (_dir, engine, collection) = built();
    let question = "twee vormen van partnerschap";
    let asked = collection.ask(&engine, question, 4).unwrap();
    let vector = engine.embedder().embed_query(question).unwrap();
    let opts = AskOptions {
        k: 4,
        ..AskOptions::default()
    };
    let searched = collection
        .search_embedded(question, &vector, &opts)
        .unwrap();
    assert_eq!(asked.hits, searched.hits);
    let err = collection
        .search_embedded(question, &vector[..10], &opts)
        .unwrap_err();
    assert!(matches!(
        err,
        QueryError::EmbeddingShape {
            expected: 256,
            got: 10
        }
    ));
}

#[test]
fn demoted_questions_rank_a_passage_by_its_best_statement() {
    let engine = Engine::new(HashEmbedder::default());
    let input = tempfile::tempdir().unwrap();
    // a.txt repeats the question word for word but answers nothing; b.txt answers.
    std::fs::write(
        input.path().join("a.txt"),
        "Wat belemmert de samenwerking tussen buren? Het weer was mooi die dag.\n",
    )
    .unwrap();
    std::fs::write(
        input.path().join("b.txt"),
        "Wantrouwen belemmert de samenwerking tussen buren vaak.\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    engine.build(&[input.path()], out.path(), &opts()).unwrap();
    let collection = Collection::open(out.path()).unwrap();
    let q = "wat belemmert de samenwerking tussen buren?";
    for mode in [RankMode::Hybrid, RankMode::Rrf, RankMode::SentenceToParent] {
        let ask = |demote_questions| {
            let opts = AskOptions {
                k: 2,
                mode,
                demote_questions,
                ..AskOptions::default()
            };
            collection.ask_with(&engine, q, &opts).unwrap()
        };
        let plain = ask(false);
        assert_eq!(
            plain.hits[0].doc, "a.txt",
            "{mode}: the question wins undemoted"
        );
        let demoted = ask(true);
        assert_eq!(demoted.hits[0].doc, "b.txt", "{mode}");
        let a = demoted.hits.iter().find(|h| h.doc == "a.txt").unwrap();
        assert_eq!(
            a.highlight.as_deref(),
            Some("Het weer was mooi die dag."),
            "{mode}"
        );
    }
}

#[test]
fn the_highlight_prefers_a_statement_over_a_question_in_the_text() {
    let engine = Engine::new(HashEmbedder::default());
    let input = tempfile::tempdir().unwrap();
    std::fs::write(
        input.path().join("a.txt"),
        "Wat helpt de samenwerking tussen buren? Goede communicatie helpt buren.\n\n\
         Wat belemmert de samenwerking tussen buren?\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    engine.build(&[input.path()], out.path(), &opts()).unwrap();
    let collection = Collection::open(out.path()).unwrap();
    let answer = collection
        .ask(&engine, "wat helpt de samenwerking tussen buren", 2)
        .unwrap();
    let with_statement = answer
        .hits
        .iter()
        .find(|h| h.text.contains("Goede communicatie"))
        .unwrap();
    assert_eq!(
        with_statement.highlight.as_deref(),
        Some("Goede communicatie helpt buren.")
    );
    // A passage that only asks keeps its question as the highlight.
    let only_question = answer
        .hits
        .iter()
        .find(|h| h.text.starts_with("Wat belemmert"))
        .unwrap();
    assert_eq!(
        only_question.highlight.as_deref(),
        Some("Wat belemmert de samenwerking tussen buren?")
    );
}

#[test]
fn the_document_prior_reweights_dense_scores_and_refuses_bad_values() {
    let (_dir, engine, collection) = built();
    let q = "wat belemmert de samenwerking?";
    let ask = |doc_prior, mode| {
        let opts = AskOptions {
            k: 5,
            mode,
            doc_prior,
            ..AskOptions::default()
        };
        collection.ask_with(&engine, q, &opts)
    };
    for mode in [RankMode::Hybrid, RankMode::Rrf] {
        for bad in [-0.1, 1.5, f32::NAN] {
            assert!(
                matches!(ask(bad, mode), Err(QueryError::InvalidOption(_))),
                "{mode}: {bad}"
            );
        }
        let plain = ask(0.0, mode).unwrap();
        let prior = ask(0.5, mode).unwrap();
        assert_eq!(plain.hits.len(), prior.hits.len(), "{mode}");
        if mode == RankMode::Rrf {
            // Rank fusion only sees the new order, which two documents need not change.
            continue;
        }
        assert_ne!(
            plain.hits.iter().map(|h| h.score).collect::<Vec<_>>(),
            prior.hits.iter().map(|h| h.score).collect::<Vec<_>>(),
            "{mode}: the prior changes the scores"
        );
    }
}

#[test]
fn the_centroid_is_the_sum_of_the_sentence_vectors_and_verify_checks_it() {
    let (dir, engine, collection) = built();
    let c = collection
        .centroid()
        .expect("a new collection has a centroid");
    let sentences: usize = collection.segments().map(|s| s.sentences()).sum();
    assert_eq!(c.sentences as usize, sentences);
    assert_eq!(c.sum.len(), engine.dim());
    // Unit vectors: their sum is no longer than their count, and not zero.
    let norm = c.sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(norm > 0.0 && norm <= sentences as f64 + 1e-6, "{norm}");

    // Centring changes the scores, not the validity of the answer; 0 turns it off.
    let q = "wat belemmert de samenwerking?";
    let ask = |centering| {
        let opts = AskOptions {
            k: 5,
            centering,
            ..AskOptions::default()
        };
        collection.ask_with(&engine, q, &opts)
    };
    let plain = ask(0.0).unwrap();
    let centred = ask(0.6).unwrap();
    assert_eq!(plain.hits.len(), centred.hits.len());
    assert_ne!(
        plain.hits.iter().map(|h| h.dense_score).collect::<Vec<_>>(),
        centred
            .hits
            .iter()
            .map(|h| h.dense_score)
            .collect::<Vec<_>>()
    );
    for bad in [-0.1, 1.5, f32::NAN] {
        assert!(
            matches!(ask(bad), Err(QueryError::InvalidOption(_))),
            "{bad}"
        );
    }

    // A sentence_sum edited by hand opens (it has the right shape) but fails verify.
    let seg = dir.path().join(&collection.manifest().segments[0].name);
    let path = seg.join("segment.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let first = json["sentence_sum"][0].as_f64().unwrap();
    json["sentence_sum"][0] = serde_json::json!(first + 0.5);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let edited = Collection::open(dir.path()).unwrap();
    let err = edited.verify().unwrap_err();
    assert!(err.to_string().contains("sentence_sum"), "{err}");
    // One of the wrong length is refused at open.
    json["sentence_sum"] = serde_json::json!([1.0, 2.0]);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(matches!(
        Collection::open(dir.path()),
        Err(QueryError::Corrupt { .. })
    ));
}
