//! Documents that arrive as records in memory (`CollectionWriter::add_documents`): ids,
//! metadata on hits and in filters, updates by content, batches that never delete each
//! other, and the refusal of an empty id.

use std::collections::BTreeMap;

use serde_json::json;
use zoek_query::text::ingest::RawDocument;
use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, QueryError,
    TokenCounting,
};

fn record(id: &str, text: &str, meta: serde_json::Value) -> RawDocument {
    let metadata: BTreeMap<String, serde_json::Value> = match meta {
        serde_json::Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    RawDocument::from_text(id, text, metadata)
}

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        ..BuildOptions::default()
    }
}

#[test]
fn records_in_batches_with_metadata_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(HashEmbedder::default());
    let mut w = CollectionWriter::open(dir.path(), &engine, &opts()).unwrap();
    let first = w
        .add_documents(vec![
            record(
                "fiets",
                "De gemeente vergoedt een elektrische fiets.",
                json!({"year": 2024}),
            ),
            record(
                "bus",
                "De buurtbus rijdt op dinsdag naar het ziekenhuis.",
                json!({"year": 2023}),
            ),
        ])
        .unwrap();
    assert_eq!((first.added, first.documents), (2, 2));
    // A second batch adds; it does not remove the first batch's records.
    let second = w
        .add_documents(vec![record(
            "eten",
            "Vrijwilligers koken in het dorpshuis.",
            json!({}),
        )])
        .unwrap();
    assert_eq!((second.added, second.removed), (1, 0));
    w.commit().unwrap();

    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.live_documents().unwrap().len(), 3);
    let top = &c.ask(&engine, "elektrische fiets", 1).unwrap().hits[0];
    assert_eq!(top.doc, "fiets");
    assert_eq!(top.metadata.get("year"), Some(&json!(2024)));
    let filtered = c
        .ask_with(
            &engine,
            "ziekenhuis fiets",
            &AskOptions {
                k: 3,
                filters: vec![("year".into(), "2023".into())],
                ..AskOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        filtered
            .hits
            .iter()
            .map(|h| h.doc.as_str())
            .collect::<Vec<_>>(),
        ["bus"]
    );
    assert_eq!(
        filtered.to_json()["hits"][0]["metadata"],
        json!({"year": 2023})
    );

    // Same content: unchanged. New content for a known id: replaced.
    let again = w
        .add_documents(vec![
            record(
                "bus",
                "De buurtbus rijdt op dinsdag naar het ziekenhuis.",
                json!({"year": 2023}),
            ),
            record(
                "eten",
                "Vrijwilligers koken nu elke dag.",
                json!({"year": 2025}),
            ),
        ])
        .unwrap();
    assert_eq!((again.unchanged, again.updated, again.added), (1, 1, 0));
    assert_eq!(w.delete(&["fiets"]).unwrap(), 1);
    w.commit().unwrap();
    let c = Collection::open(dir.path()).unwrap();
    let mut ids: Vec<String> = c
        .live_documents()
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["bus", "eten"]);
    let eten = &c.ask(&engine, "koken elke dag", 1).unwrap().hits[0];
    assert_eq!(
        (eten.doc.as_str(), eten.metadata.get("year")),
        ("eten", Some(&json!(2025)))
    );
    c.verify().unwrap();
}

#[test]
fn an_empty_id_is_refused_and_nothing_is_staged() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(HashEmbedder::default());
    let mut w = CollectionWriter::open(dir.path(), &engine, &opts()).unwrap();
    let err = w
        .add_documents(vec![
            record("a", "Een zin.", json!({})),
            record("", "Geen id.", json!({})),
        ])
        .unwrap_err();
    assert!(
        matches!(err, QueryError::InvalidOption(ref m) if m.contains("non-empty id")),
        "{err}"
    );
    assert!(!w.has_pending_changes());
}
