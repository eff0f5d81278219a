//! Segments built elsewhere (`build_segment`, as Spark tasks run it) and attached in one
//! commit (`CollectionWriter::attach`): the same answers as a collection built in one
//! process, one receipt per partition under retries, re-attaching a no-op, upserts,
//! refused tampering and specs, staging removed. Model-free (the hashing embedder).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use zoek_query::text::ingest::RawDocument;
use zoek_query::{
    AskOptions, AttachMode, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder,
    Origin, QueryError, Receipt, SegmentSpec, TokenCounting, build_segment, remove_abandoned_runs,
};

const TOPICS: &[&str] = &[
    "De buurtbus rijdt op dinsdag naar het ziekenhuis in de stad.",
    "Vrijwilligers koken elke week een maaltijd in het dorpshuis.",
    "Wantrouwen vanuit het dorp belemmerde de samenwerking met de thuiszorg.",
    "De gemeente betaalt een subsidie voor dagbesteding van ouderen.",
    "Mantelzorgers krijgen hulp bij het aanvragen van een parkeervergunning.",
    "De coöperatie vraagt contributie van haar leden voor de huisarts.",
];

const PLACES: &[&str] = &[
    "Assen", "Breda", "Delft", "Ede", "Goes", "Hoorn", "Lisse", "Meppel", "Oss", "Putten",
    "Rhenen", "Sneek", "Tiel", "Urk", "Venlo", "Weert", "Zeist", "Almelo", "Boxtel", "Dongen",
    "Emmen", "Gouda", "Heerlen", "Kampen",
];

/// 24 documents, every sentence different (a place name each), so no two score alike.
fn docs(version: usize) -> Vec<RawDocument> {
    (0..24)
        .map(|i| {
            let place = PLACES[i];
            let first = TOPICS[i % TOPICS.len()].trim_end_matches('.');
            let second = TOPICS[(i * 5 + 1) % TOPICS.len()].trim_end_matches('.');
            let text = format!(
                "{first}, zo meldt {place}. Dit is versie {version} uit {place}.\n\n\
                 {second}, ook in {place}. Een tweede alinea over {place}."
            );
            RawDocument::from_text(format!("doc-{i:02}"), &text, BTreeMap::new())
        })
        .collect()
}

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        ..BuildOptions::default()
    }
}

/// A partition by a hash of the id, as a Spark `repartition(n, "id")` would (never by
/// position).
fn partition(id: &str, n: u32) -> u32 {
    id.bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % n
}

fn build_run(
    engine: &Engine,
    staging: &Path,
    spec: &SegmentSpec,
    run: &str,
    documents: Vec<RawDocument>,
    parts: u32,
) -> Vec<Receipt> {
    let mut split: Vec<Vec<RawDocument>> = vec![Vec::new(); parts as usize];
    for d in documents {
        split[partition(&d.id, parts) as usize].push(d);
    }
    split
        .into_iter()
        .enumerate()
        .map(|(p, docs)| {
            let origin = Origin {
                run: run.into(),
                partition: p as u32,
                attempt: 0,
            };
            build_segment(engine, docs, staging, spec, &origin, &opts()).unwrap()
        })
        .collect()
}

/// Hits best first; exact ties in doc order (tie order follows passage ids, which depend on
/// how documents were spread over segments).
fn answers(c: &Collection, engine: &Engine) -> Vec<Vec<(String, f32)>> {
    [
        "wat belemmerde de samenwerking?",
        "subsidie ouderen",
        "buurtbus ziekenhuis dinsdag",
    ]
    .iter()
    .map(|q| {
        c.ask_with(
            engine,
            q,
            &AskOptions {
                k: 10,
                ..AskOptions::default()
            },
        )
        .unwrap()
        .hits
        .into_iter()
        .map(|h| (h.doc, h.score))
        .collect::<Vec<_>>()
    })
    .map(|mut hits| {
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits
    })
    .collect()
}

#[test]
fn attached_partitions_answer_as_a_single_process_build() {
    let engine = Engine::new(HashEmbedder::default());
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let mut w = CollectionWriter::open(&single, &engine, &opts()).unwrap();
    w.add_documents(docs(1)).unwrap();
    w.commit().unwrap();
    drop(w);

    let index = tmp.path().join("index");
    let staging = index.join(zoek_query::format::STAGING_DIR);
    let mut w = CollectionWriter::open(&index, &engine, &opts()).unwrap();
    let spec = w.spec();
    let mut receipts = build_run(&engine, &staging, &spec, "run-1", docs(1), 4);
    // A retried twin of partition 2 (its first attempt "failed" after writing), and a
    // speculative copy of partition 0 that finished later.
    let twin_docs: Vec<RawDocument> = docs(1)
        .into_iter()
        .filter(|d| partition(&d.id, 4) == 2)
        .collect();
    let retry = build_segment(
        &engine,
        twin_docs,
        &staging,
        &spec,
        &Origin {
            run: "run-1".into(),
            partition: 2,
            attempt: 1,
        },
        &opts(),
    )
    .unwrap();
    assert_ne!(
        retry.path, receipts[2].path,
        "attempts never share a directory"
    );
    receipts.push(retry);
    let stats = w.attach("run-1", &receipts, AttachMode::Append).unwrap();
    assert_eq!(
        (stats.segments, stats.documents, stats.duplicates),
        (4, 24, 1)
    );
    assert!(
        !staging.join("run-1").exists(),
        "the run's staging is removed"
    );
    let c = Collection::open(&index).unwrap();
    let s = Collection::open(&single).unwrap();
    assert_eq!(c.live_documents().unwrap().len(), 24);
    let (a, b) = (answers(&c, &engine), answers(&s, &engine));
    for (x, y) in a.iter().zip(&b) {
        let docs = |v: &Vec<(String, f32)>| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(docs(x), docs(y), "{x:?} vs {y:?}");
        for (p, q) in x.iter().zip(y) {
            assert!((p.1 - q.1).abs() <= 1e-6, "{} vs {}", p.1, q.1);
        }
    }
    c.verify().unwrap();

    // Attaching the run again changes nothing.
    let generation = w.generation();
    let again = w.attach("run-1", &receipts, AttachMode::Append).unwrap();
    assert!(again.already_attached);
    assert_eq!(w.generation(), generation);
    drop(w);
    // The run is recorded in the collection, so a new writer knows it too.
    let mut w = CollectionWriter::open(&index, &engine, &opts()).unwrap();
    assert!(
        w.attach("run-1", &[], AttachMode::Append)
            .unwrap()
            .already_attached
    );

    // Upsert: a new version of every document replaces the old one.
    let receipts = build_run(&engine, &staging, &spec, "run-2", docs(2), 3);
    let stats = w.attach("run-2", &receipts, AttachMode::Upsert).unwrap();
    assert_eq!(stats.replaced, 24);
    let c = Collection::open(&index).unwrap();
    assert_eq!(c.live_documents().unwrap().len(), 24);
    let top = &c.ask(&engine, "versie 2 uit Ede", 1).unwrap().hits[0];
    assert!(top.text.contains("versie 2"), "{}", top.text);
    // Append refuses ids the collection has, and publishes nothing.
    let receipts = build_run(&engine, &staging, &spec, "run-3", docs(3), 2);
    let before = w.generation();
    let err = w
        .attach("run-3", &receipts, AttachMode::Append)
        .unwrap_err();
    assert!(matches!(err, QueryError::InvalidOption(_)), "{err}");
    assert_eq!(w.generation(), before);
    assert_eq!(Collection::open(&index).unwrap().generation(), before);
    assert!(
        staging.join("run-3").exists(),
        "a failed attach keeps the staging"
    );
    // The staging of a run never attached goes after the grace period.
    assert!(
        remove_abandoned_runs(&staging, Duration::from_secs(3600))
            .unwrap()
            .is_empty()
    );
    let removed = remove_abandoned_runs(&staging, Duration::ZERO).unwrap();
    assert_eq!(removed, [staging.join("run-3")]);
}

#[test]
fn tampered_segments_and_foreign_specs_are_refused() {
    let engine = Engine::new(HashEmbedder::default());
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let staging = tmp.path().join("staging");
    let mut w = CollectionWriter::open(&index, &engine, &opts()).unwrap();
    let spec = w.spec();
    // Another model cannot build to this spec.
    let other = Engine::new(HashEmbedder::new(64));
    let origin = Origin {
        run: "r".into(),
        partition: 0,
        attempt: 0,
    };
    let err = build_segment(&other, docs(1), &staging, &spec, &origin, &opts()).unwrap_err();
    assert!(matches!(err, QueryError::ModelMismatch { .. }), "{err}");
    let bad_run = Origin {
        run: "../x".into(),
        ..origin.clone()
    };
    assert!(build_segment(&engine, docs(1), &staging, &spec, &bad_run, &opts()).is_err());

    let receipts = build_run(&engine, &staging, &spec, "r", docs(1), 2);
    // Damage one data file of a staged segment.
    let seg = receipts[1].path.clone().unwrap();
    let victim = std::fs::read_dir(&seg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".passages.jsonl"))
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&victim, bytes).unwrap();
    let err = w.attach("r", &receipts, AttachMode::Append).unwrap_err();
    assert!(matches!(err, QueryError::Corrupt { .. }), "{err}");
    assert!(Collection::open(&index).is_err(), "nothing was published");
    // A receipt of another spec (other settings) is refused too.
    let mut foreign = receipts.clone();
    foreign[0].spec.settings.passage_vectors = !foreign[0].spec.settings.passage_vectors;
    foreign.truncate(1);
    let mut w2 = CollectionWriter::open(tmp.path().join("other"), &engine, &opts()).unwrap();
    w2.attach(
        "warm-up",
        &build_run(&engine, &staging, &spec, "warm-up", docs(1), 1),
        AttachMode::Append,
    )
    .unwrap();
    let err = w2.attach("r", &foreign, AttachMode::Append).unwrap_err();
    assert!(matches!(err, QueryError::InvalidOption(_)), "{err}");
    // A receipt of another run is refused.
    let err = w.attach("s", &receipts, AttachMode::Append).unwrap_err();
    assert!(matches!(err, QueryError::InvalidOption(_)), "{err}");
}
