//! End-to-end `ask` latency on the example corpus next to the question embedding alone, so
//! the overhead of search and ranking (ask − embed) can be read off directly; plus the
//! search side alone with a pre-embedded question (`Collection::search_embedded`), per mode.
//!
//! `cargo bench -p zoek-query --bench ask` (needs the model; skips with a message otherwise).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use zoek_query::{AskOptions, BuildOptions, Collection, Engine, RankMode};

fn bench(c: &mut Criterion) {
    let model = zoek_embed::default_model_dir();
    if !model.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model.display()
        );
        return;
    }
    let engine = Engine::from_model_dir(&model).expect("model");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = BuildOptions {
        passage_vectors: true,
        ..BuildOptions::default()
    };
    engine.build(&[corpus], dir.path(), &opts).expect("build");
    let collection = Collection::open(dir.path()).expect("open");
    let question = "wat belemmert de samenwerking?";

    let mut group = c.benchmark_group("example-corpus");
    group.bench_function("embed_query", |b| {
        b.iter(|| engine.embedder().embed_query(black_box(question)).unwrap())
    });
    let top5 = |mode| AskOptions {
        k: 5,
        mode,
        ..AskOptions::default()
    };
    for (mode, name) in [
        (RankMode::Hybrid, "ask_hybrid"),
        (RankMode::SentenceToParent, "ask_sentence_to_parent"),
    ] {
        let o = top5(mode);
        group.bench_function(name, |b| {
            b.iter(|| {
                collection
                    .ask_with(&engine, black_box(question), &o)
                    .unwrap()
            })
        });
    }
    let vector = engine.embedder().embed_query(question).unwrap();
    for (mode, name) in [
        (RankMode::Hybrid, "search_only_hybrid"),
        (RankMode::Rrf, "search_only_rrf"),
        (RankMode::SentenceToParent, "search_only_sentence_to_parent"),
        (RankMode::DenseParagraph, "search_only_dense_paragraph"),
    ] {
        let o = top5(mode);
        group.bench_function(name, |b| {
            b.iter(|| {
                collection
                    .search_embedded(black_box(question), &vector, &o)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
