//! Collections that change: adding, updating and deleting documents as segments and
//! tombstones, merging, snapshots under a concurrent writer, the writer lock, filters and
//! stats — with the model-free hashing embedder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, DefaultMergePolicy, Engine,
    HashEmbedder, QueryError, RankMode, TokenCounting,
};

const ANIMALS: &[&str] = &[
    "kwartel", "fazant", "eekhoorn", "vos", "das", "otter", "bever", "ree", "hert", "wolf", "lynx",
    "marter", "egel", "haas", "konijn", "mol",
];

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        ..BuildOptions::default()
    }
}

fn engine() -> Engine {
    Engine::new(HashEmbedder::default())
}

fn text(i: usize, version: usize) -> String {
    let a = ANIMALS[i % ANIMALS.len()];
    format!(
        "Over de {a}\n\nDe {a} leeft in het bos en eet wat de {a} vindt. \
         Onderzoekers telden de {a} in versie {version}.\n\n\
         Een tweede alinea over het gedrag van de {a} in de winter.\n"
    )
}

/// Writes `doc-<i>.txt` files for `range` into `dir` and returns their paths.
/// A fresh collection directory with its writer open, and a directory for input files.
struct Setup {
    engine: Engine,
    input: tempfile::TempDir,
    out: tempfile::TempDir,
    writer: CollectionWriter,
}

fn setup() -> Setup {
    let engine = engine();
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let writer = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    Setup {
        engine,
        input,
        out,
        writer,
    }
}

fn write_docs(dir: &Path, range: std::ops::Range<usize>, version: usize) -> Vec<PathBuf> {
    range
        .map(|i| {
            let p = dir.join(format!("doc-{i:02}.txt"));
            std::fs::write(&p, text(i, version)).unwrap();
            p
        })
        .collect()
}

fn docs_of(answer: &zoek_query::Answer) -> Vec<String> {
    answer.hits.iter().map(|h| h.doc.clone()).collect()
}

fn question(i: usize) -> String {
    format!("waar leeft de {}", ANIMALS[i % ANIMALS.len()])
}

#[test]
fn add_then_ask_finds_the_new_document_and_re_adding_is_a_no_op() {
    let engine = engine();
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let first = write_docs(input.path(), 0..4, 1);
    let mut writer = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    let stats = writer.add(&first).unwrap();
    assert_eq!((stats.added, stats.unchanged), (4, 0));
    writer.commit().unwrap();
    let mut reader = Collection::open(out.path()).unwrap();
    assert!(
        !reader
            .ask(&engine, &question(5), 3)
            .unwrap()
            .hits
            .iter()
            .any(|h| h.doc == "doc-05.txt")
    );

    let more = write_docs(input.path(), 4..6, 1);
    writer.add(&more).unwrap();
    // Not visible before the commit, not even to a fresh reader.
    assert!(
        !Collection::open(out.path())
            .unwrap()
            .live_documents()
            .unwrap()
            .iter()
            .any(|d| d.id == "doc-05.txt")
    );
    let generation = writer.commit().unwrap();
    assert!(
        !reader
            .ask(&engine, &question(5), 3)
            .unwrap()
            .hits
            .iter()
            .any(|h| h.doc == "doc-05.txt")
    );
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.generation(), generation);
    assert_eq!(reader.manifest().segments.len(), 2);
    let answer = reader.ask(&engine, &question(5), 3).unwrap();
    assert_eq!(answer.hits[0].doc, "doc-05.txt");

    // The same files again: nothing changes, no segment, no commit.
    let all: Vec<PathBuf> = first.into_iter().chain(more).collect();
    let stats = writer.add(&all).unwrap();
    assert_eq!((stats.added, stats.updated, stats.unchanged), (0, 0, 6));
    assert!(stats.segment.is_none());
    assert!(!writer.has_pending_changes());
    assert_eq!(writer.commit().unwrap(), generation);
    assert!(!reader.refresh().unwrap());
    assert_eq!(reader.manifest().segments.len(), 2);
}

#[test]
fn delete_then_ask_never_returns_it_and_unknown_ids_change_nothing() {
    let Setup {
        engine,
        input,
        out,
        mut writer,
    } = setup();
    writer.add(&write_docs(input.path(), 0..3, 1)).unwrap();
    writer.add(&write_docs(input.path(), 3..6, 1)).unwrap();
    writer.commit().unwrap();

    let err = writer.delete(&["doc-01.txt", "nope.txt"]).unwrap_err();
    assert!(
        matches!(&err, QueryError::UnknownDocument { id } if id == "nope.txt"),
        "{err:?}"
    );
    assert!(!writer.has_pending_changes());

    assert_eq!(writer.delete(&["doc-01.txt", "doc-04.txt"]).unwrap(), 2);
    writer.commit().unwrap();
    let collection = Collection::open(out.path()).unwrap();
    for mode in [
        RankMode::Hybrid,
        RankMode::Rrf,
        RankMode::SentenceToParent,
        RankMode::DenseParagraph,
    ] {
        for i in 0..6 {
            let o = AskOptions {
                k: 10,
                mode,
                ..AskOptions::default()
            };
            let a = collection.ask_with(&engine, &question(i), &o).unwrap();
            let docs = docs_of(&a);
            assert!(
                !docs.contains(&"doc-01.txt".into()) && !docs.contains(&"doc-04.txt".into()),
                "{mode:?} {docs:?}"
            );
            if i != 1 && i != 4 {
                assert_eq!(docs[0], format!("doc-{i:02}.txt"), "{mode:?}");
            }
        }
    }
    let stats = collection.stats().unwrap();
    assert_eq!(stats.live_documents, 4);
    assert_eq!(stats.tombstones, stats.passages - stats.live_passages);
    assert!(stats.tombstones > 0);
    // Deleting what is already deleted is an unknown id.
    assert!(matches!(
        writer.delete(&["doc-01.txt"]),
        Err(QueryError::UnknownDocument { .. })
    ));
}

#[test]
fn update_replaces_the_old_version() {
    let Setup {
        engine,
        input,
        out,
        mut writer,
    } = setup();
    let files = write_docs(input.path(), 0..4, 1);
    writer.add(&files).unwrap();
    writer.commit().unwrap();
    write_docs(input.path(), 2..3, 2);
    let stats = writer.add(&files).unwrap();
    assert_eq!((stats.added, stats.updated, stats.unchanged), (0, 1, 3));
    writer.commit().unwrap();
    let collection = Collection::open(out.path()).unwrap();
    let a = collection
        .ask(&engine, "onderzoekers telden de eekhoorn in versie", 10)
        .unwrap();
    let eekhoorn: Vec<_> = a.hits.iter().filter(|h| h.doc == "doc-02.txt").collect();
    assert!(!eekhoorn.is_empty());
    assert!(
        eekhoorn.iter().all(|h| !h.text.contains("versie 1")),
        "{eekhoorn:?}"
    );
    assert!(eekhoorn.iter().any(|h| h.text.contains("versie 2")));
    let live = collection.live_documents().unwrap();
    assert_eq!(live.iter().filter(|d| d.id == "doc-02.txt").count(), 1);
    assert_eq!(live.len(), 4);
}

/// (document, highlight, score bits) of each hit.
type Hits = Vec<(String, String, u32)>;

fn snapshot(c: &Collection, engine: &Engine) -> Vec<(String, Hits)> {
    let mut out = Vec::new();
    for mode in [
        RankMode::Hybrid,
        RankMode::Rrf,
        RankMode::SentenceToParent,
        RankMode::DenseParagraph,
    ] {
        for q in (0..8).map(question).chain([
            "gedrag in de winter".to_string(),
            "what do foxes eat".into(),
        ]) {
            let o = AskOptions {
                k: 6,
                mode,
                ..AskOptions::default()
            };
            let a = c.ask_with(engine, &q, &o).unwrap();
            out.push((
                format!("{mode:?} {q}"),
                a.hits
                    .iter()
                    .map(|h| {
                        (
                            h.doc.clone(),
                            h.highlight.clone().unwrap_or_default(),
                            h.score.to_bits(),
                        )
                    })
                    .collect(),
            ));
        }
    }
    out
}

#[test]
fn results_after_merge_equal_results_before() {
    let engine = engine();
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let one = tempfile::tempdir().unwrap();
    let mut writer = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    for chunk in [0..3, 3..5, 5..8] {
        writer.add(&write_docs(input.path(), chunk, 1)).unwrap();
        writer.commit().unwrap();
    }
    let segmented = Collection::open(out.path()).unwrap();
    assert_eq!(segmented.manifest().segments.len(), 3);
    let before = snapshot(&segmented, &engine);
    // The same documents built as one segment rank identically: scores included, since
    // BM25 statistics are collection-wide.
    engine.build(&[input.path()], one.path(), &opts()).unwrap();
    assert_eq!(
        snapshot(&Collection::open(one.path()).unwrap(), &engine),
        before
    );

    let merged = writer.compact().unwrap().unwrap();
    assert_eq!(merged.merged.len(), 3);
    assert_eq!(merged.reclaimed_passages, 0);
    let compacted = Collection::open(out.path()).unwrap();
    assert_eq!(compacted.manifest().segments.len(), 1);
    assert_eq!(snapshot(&compacted, &engine), before);
    // The merged-away segments are gone from disk; the old snapshot still answers.
    for name in &merged.merged {
        assert!(!out.path().join(name).exists(), "{name}");
    }
    assert_eq!(snapshot(&segmented, &engine), before);
    assert!(writer.compact().unwrap().is_none());

    // With deletions: a merge reclaims them; deleted documents never come back.
    writer.delete(&["doc-02.txt"]).unwrap();
    writer.add(&write_docs(input.path(), 8..10, 1)).unwrap();
    writer.commit().unwrap();
    let with_tombstones = Collection::open(out.path()).unwrap();
    let live_before = with_tombstones.live_documents().unwrap();
    let stats = writer.compact().unwrap().unwrap();
    assert!(stats.reclaimed_passages > 0);
    let compacted = Collection::open(out.path()).unwrap();
    let s = compacted.stats().unwrap();
    assert_eq!((s.segments.len(), s.tombstones), (1, 0));
    assert!(s.bytes < with_tombstones.stats().unwrap().bytes);
    let ids = |docs: Vec<zoek_query::DocEntry>| docs.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(compacted.live_documents().unwrap()), ids(live_before));
    for (_, hits) in snapshot(&compacted, &engine) {
        assert!(hits.iter().all(|h| h.0 != "doc-02.txt"));
    }
}

#[test]
fn merge_policy_merges_small_segments_and_those_with_many_deletions() {
    let Setup {
        engine: _,
        input,
        out,
        mut writer,
    } = setup();
    for i in 0..4 {
        writer
            .add(&write_docs(input.path(), i * 2..i * 2 + 2, 1))
            .unwrap();
        writer.commit().unwrap();
    }
    let none = DefaultMergePolicy {
        small_segment_passages: 1,
        ..DefaultMergePolicy::default()
    };
    assert!(writer.merge(&none).unwrap().is_none());
    writer.delete(&["doc-00.txt"]).unwrap();
    let stats = writer.merge(&none).unwrap().unwrap();
    assert_eq!(stats.merged, ["seg-000001"]);
    let c = Collection::open(out.path()).unwrap();
    assert_eq!(c.manifest().segments.len(), 4);
    assert_eq!(c.stats().unwrap().tombstones, 0);
    // Four small segments: below the default count, then merged with a lower one.
    assert!(
        writer
            .merge(&DefaultMergePolicy::default())
            .unwrap()
            .is_none()
    );
    let four = DefaultMergePolicy {
        min_small_segments: 4,
        ..DefaultMergePolicy::default()
    };
    let stats = writer.merge(&four).unwrap().unwrap();
    assert_eq!(stats.merged.len(), 4);
    let c = Collection::open(out.path()).unwrap();
    assert_eq!(c.manifest().segments.len(), 1);
    assert_eq!(c.live_documents().unwrap().len(), 7);
}

#[test]
fn a_reader_asking_in_a_loop_never_fails_nor_sees_a_deleted_document() {
    let Setup {
        engine,
        input,
        out,
        mut writer,
    } = setup();
    writer.add(&write_docs(input.path(), 0..4, 1)).unwrap();
    writer.commit().unwrap();
    // (document, generation from which it is deleted)
    let deleted: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (deleted, done, engine) = (deleted.clone(), done.clone(), engine.clone());
        let mut c = Collection::open(out.path()).unwrap();
        std::thread::spawn(move || {
            let (mut asked, mut refreshed) = (0usize, 0usize);
            while !done.load(Ordering::SeqCst) || asked < 20 {
                refreshed += usize::from(c.refresh().unwrap());
                let generation = c.generation();
                let gone: HashSet<String> = deleted
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, g)| *g <= generation)
                    .map(|(d, _)| d.clone())
                    .collect();
                for i in 0..ANIMALS.len() {
                    let a = c.ask(&engine, &question(i), 5).unwrap();
                    for h in &a.hits {
                        assert!(
                            !gone.contains(&h.doc),
                            "{} deleted at or before {generation}",
                            h.doc
                        );
                    }
                    asked += 1;
                }
            }
            (asked, refreshed)
        })
    };
    for round in 0..6 {
        writer
            .add(&write_docs(input.path(), 4 + round * 2..6 + round * 2, 1))
            .unwrap();
        let victim = format!("doc-{:02}.txt", round * 2 + 1);
        writer.delete(&[victim.as_str()]).unwrap();
        let generation = writer.commit().unwrap();
        deleted.lock().unwrap().push((victim, generation));
        if round % 2 == 1 {
            let stats = writer.compact().unwrap().unwrap();
            assert!(stats.reclaimed_passages > 0);
        }
    }
    done.store(true, Ordering::SeqCst);
    let (asked, refreshed) = reader.join().unwrap();
    assert!(
        asked >= 20 && refreshed >= 1,
        "asked {asked}, refreshed {refreshed}"
    );
}

#[test]
fn a_second_writer_is_refused_while_the_first_is_open() {
    let engine = engine();
    let out = tempfile::tempdir().unwrap();
    let first = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    let err = CollectionWriter::open(out.path(), &engine, &opts()).unwrap_err();
    assert!(matches!(err, QueryError::WriterLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("another writer"), "{err}");
    // So is a rebuild.
    let input = tempfile::tempdir().unwrap();
    write_docs(input.path(), 0..1, 1);
    let err = engine
        .build(&[input.path()], out.path(), &opts())
        .unwrap_err();
    assert!(matches!(err, QueryError::WriterLocked { .. }), "{err:?}");

    // And a writer in another process.
    let child = |dir: &Path| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ZOEK_LOCK_CHILD_DIR", dir)
            .output()
            .unwrap()
    };
    let o = child(out.path());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("child: WriterLocked"), "{stdout}");
    drop(first);
    let o = child(out.path());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("child: opened"), "{stdout}");
    CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
}

/// Child process of `a_second_writer_is_refused_while_the_first_is_open`.
#[test]
#[ignore = "entry point of a child process, run by another test"]
fn lock_child() {
    let dir = std::env::var_os("ZOEK_LOCK_CHILD_DIR").expect("run by the lock test");
    match CollectionWriter::open(&dir, &engine(), &opts()) {
        Ok(_) => println!("child: opened"),
        Err(QueryError::WriterLocked { .. }) => println!("child: WriterLocked"),
        Err(e) => println!("child: other error {e}"),
    }
}

#[test]
fn filters_restrict_answers_to_matching_documents() {
    let engine = engine();
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for (i, animal) in ANIMALS.iter().enumerate().take(12) {
        let kind = if i % 3 == 0 { "vogel" } else { "zoogdier" };
        lines.push_str(
            &serde_json::json!({
                "id": format!("r{i}"),
                "text": format!("De {animal} leeft in het bos. Een dier dat {animal} heet."),
                "soort": kind,
                "jaar": 2000 + i,
            })
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::create_dir_all(input.path().join("dieren")).unwrap();
    std::fs::write(input.path().join("dieren/records.jsonl"), lines).unwrap();
    std::fs::create_dir_all(input.path().join("overig")).unwrap();
    std::fs::write(
        input.path().join("overig/vos.txt"),
        "De vos leeft in het bos. Een vos is slim.",
    )
    .unwrap();
    for threshold in [50_000, 1] {
        let opts = BuildOptions {
            hnsw_threshold: threshold,
            ..opts()
        };
        let _ = std::fs::remove_dir_all(out.path());
        let mut writer = CollectionWriter::open(out.path(), &engine, &opts).unwrap();
        writer.add(&[input.path()]).unwrap();
        writer.delete(&["r6"]).unwrap();
        writer.commit().unwrap();
        let c = Collection::open(out.path()).unwrap();
        assert_eq!(c.uses_hnsw(), threshold == 1);
        for mode in [
            RankMode::Hybrid,
            RankMode::Rrf,
            RankMode::SentenceToParent,
            RankMode::DenseParagraph,
        ] {
            let ask = |filters: &[(&str, &str)], q: &str| {
                let o = AskOptions {
                    k: 20,
                    mode,
                    filters: filters
                        .iter()
                        .map(|(f, v)| (f.to_string(), v.to_string()))
                        .collect(),
                    ..AskOptions::default()
                };
                docs_of(&c.ask_with(&engine, q, &o).unwrap())
            };
            let mut birds = ask(&[("soort", "vogel")], "waar leeft de fazant");
            birds.sort();
            assert_eq!(birds, ["r0", "r3", "r9"], "{mode:?}");
            assert_eq!(
                ask(&[("soort", "zoogdier"), ("jaar", "2005")], "bos"),
                ["r5"],
                "{mode:?}"
            );
            assert!(ask(&[("soort", "vogel"), ("jaar", "2005")], "bos").is_empty());
            assert_eq!(
                ask(&[("path", "overig/")], "waar leeft de fazant"),
                ["overig/vos.txt"],
                "{mode:?}"
            );
            let all_records = ask(&[("path", "dieren")], "vos");
            assert_eq!(all_records.len(), 11, "{mode:?}");
            assert!(!all_records.contains(&"r6".to_string()));
            assert_eq!(ask(&[("id", "r4")], "vos"), ["r4"]);
        }
    }
    // Deleting by path deletes every record of the file.
    let mut writer = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    assert_eq!(writer.delete(&["dieren/records.jsonl"]).unwrap(), 11);
    writer.commit().unwrap();
    let c = Collection::open(out.path()).unwrap();
    assert_eq!(c.live_documents().unwrap().len(), 1);
}

#[test]
fn a_crashed_writers_leftovers_are_removed_and_stats_add_up() {
    let Setup {
        engine,
        input,
        out,
        mut writer,
    } = setup();
    writer.add(&write_docs(input.path(), 0..3, 1)).unwrap();
    writer.commit().unwrap();
    // A segment written but never committed, as a killed writer leaves it.
    writer.add(&write_docs(input.path(), 3..5, 1)).unwrap();
    drop(writer);
    let leftover = out.path().join("seg-000002");
    assert!(leftover.is_dir());
    let c = Collection::open(out.path()).unwrap();
    assert_eq!(c.live_documents().unwrap().len(), 3);
    let writer = CollectionWriter::open(out.path(), &engine, &opts()).unwrap();
    assert!(!leftover.exists());
    drop(writer);
    let stats = c.stats().unwrap();
    assert_eq!(stats.segments.len(), 1);
    assert_eq!(stats.live_documents, 3);
    assert_eq!(stats.passages, stats.segments[0].passages);
    assert!(stats.bytes > 0);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["segments"][0]["name"], "seg-000001");
}

#[test]
fn segments_written_while_small_get_a_graph_once_the_collection_outgrows_exact_search() {
    let engine = engine();
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let long = |name: &str, word: &str| {
        let text: String = (0..1100)
            .map(|i| format!("Zin {i} over de {word} nummer {i}. "))
            .collect();
        let p = input.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let opts = BuildOptions {
        hnsw_threshold: 2000,
        ..opts()
    };
    let mut writer = CollectionWriter::open(out.path(), &engine, &opts).unwrap();
    writer.add(&[long("a.txt", "kwartel")]).unwrap();
    writer.commit().unwrap();
    assert!(!Collection::open(out.path()).unwrap().uses_hnsw());
    writer.add(&[long("b.txt", "fazant")]).unwrap();
    writer.commit().unwrap();
    let c = Collection::open(out.path()).unwrap();
    assert!(c.segments().all(|s| s.uses_hnsw()));
    let first = &c.manifest().segments[0];
    let graph = first.graph.clone().unwrap();
    assert!(out.path().join(&graph).is_file());
    let a = c
        .ask(&engine, "zin 517 over de kwartel nummer 517", 3)
        .unwrap();
    assert_eq!(a.hits[0].doc, "a.txt");
    assert!(
        a.hits[0].highlight.as_deref().unwrap().contains("517"),
        "{:?}",
        a.hits[0]
    );
    // The threshold is the collection's: a writer opened with other options keeps it.
    drop(writer);
    let mut writer = CollectionWriter::open(out.path(), &engine, &BuildOptions::default()).unwrap();
    writer.compact().unwrap().unwrap();
    assert!(!out.path().join(&graph).exists());
    let c = Collection::open(out.path()).unwrap();
    assert!(c.uses_hnsw());
    assert_eq!(
        c.ask(&engine, "de fazant nummer 12", 1).unwrap().hits[0].doc,
        "b.txt"
    );
}
