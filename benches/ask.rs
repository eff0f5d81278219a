//! End-to-end `ask` latency on the example corpus, next to its peer in the same run: the
//! query embedding alone. The bar: ask p50 ≤ embed p50 + 1 ms.
//!
//! `cargo bench --bench ask` (needs `models/fetch`). Set `ZOEK_BENCH_INDEX=DIR` to also
//! measure a collection built with `zoek index`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use zoek::{AskOptions, Collection, Engine};

const QUESTIONS: &[&str] = &[
    "what hinders cooperation?",
    "wat belemmert de samenwerking?",
    "was behindert die Zusammenarbeit?",
    "who took the initiative?",
];

fn bench_collection(c: &mut Criterion, name: &str, engine: &Engine, collection: &Collection) {
    let mut g = c.benchmark_group(name);
    g.sample_size(30);
    let opts = AskOptions {
        k: 5,
        ..AskOptions::default()
    };
    for (i, q) in QUESTIONS.iter().enumerate() {
        g.bench_function(format!("embed_query/{i}"), |b| {
            b.iter(|| black_box(engine.embedder().embed_query(q).unwrap()))
        });
        g.bench_function(format!("ask_hybrid/{i}"), |b| {
            b.iter(|| black_box(collection.ask_with(engine, q, &opts).unwrap()))
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let model = zoek::embed::default_model_dir();
    if !model.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model.display()
        );
        return;
    }
    let engine = Engine::from_model_dir(&model).expect("model loads");
    let example = zoek::example::open_example(&engine, None).expect("example collection");
    bench_collection(c, "ask_example", &engine, &example);
    if let Some(dir) = std::env::var_os("ZOEK_BENCH_INDEX") {
        let big = Collection::open(&dir).expect("ZOEK_BENCH_INDEX opens");
        bench_collection(c, "ask_index", &engine, &big);
    }
}

criterion_group!(ask, benches);
criterion_main!(ask);
