//! PolicyQA-nl retrieval: the hybrid default must be at least as good as dense paragraph
//! vectors. The CI-sized test uses 40 questions and 60 nl-laws distractors; the full
//! evaluation (400 questions, 1,500 distractors) is `#[ignore]`d here and printed as a table
//! by `examples/policyqa_eval.rs`.

mod common;

use std::sync::Arc;

use common::policyqa::{self, CachingEmbedder, Metrics};
use zoek_query::{Collection, Engine, TextEmbedder};

fn run(n_questions: usize, n_distractors: usize) -> Option<Vec<(&'static str, Metrics)>> {
    let model_dir = zoek_embed::default_model_dir();
    if !model_dir.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model_dir.display()
        );
        return None;
    }
    let set = match policyqa::load(n_questions, n_distractors) {
        Ok(set) => set,
        Err(reason) => {
            eprintln!("SKIPPED: PolicyQA data unavailable: {reason}");
            return None;
        }
    };
    let model: Arc<dyn TextEmbedder> =
        Arc::new(zoek_embed::Embedder::from_dir(&model_dir).unwrap());
    let cached = Arc::new(CachingEmbedder::open(model, &policyqa::cache_dir()).unwrap());
    let engine = Engine::from_shared(cached.clone());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("collection");
    policyqa::build(&engine, &set, work.path(), &out).unwrap();
    let collection = Collection::open(&out).unwrap();
    let results: Vec<(&'static str, Metrics)> = policyqa::variants()
        .into_iter()
        .map(|(_, name, opts)| {
            let m = policyqa::evaluate(&engine, &collection, &set, &opts).unwrap();
            eprintln!(
                "{name:>18}: R@1 {:.3} R@5 {:.3} R@10 {:.3} MRR@10 {:.3}",
                m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr_at_10
            );
            (name, m)
        })
        .collect();
    cached.flush();
    Some(results)
}

fn check(results: &[(&str, Metrics)], min_mrr: f64) {
    let get = |name: &str| results.iter().find(|(n, _)| n.starts_with(name)).unwrap().1;
    let dense = get("dense paragraphs");
    let hybrid = get("hybrid default");
    assert!(
        hybrid.mrr_at_10 >= dense.mrr_at_10,
        "hybrid MRR@10 {:.3} < dense paragraphs {:.3}",
        hybrid.mrr_at_10,
        dense.mrr_at_10
    );
    assert!(
        hybrid.recall_at_1 >= dense.recall_at_1,
        "hybrid recall@1 {:.3} < dense paragraphs {:.3}",
        hybrid.recall_at_1,
        dense.recall_at_1
    );
    assert!(
        hybrid.mrr_at_10 >= min_mrr,
        "hybrid MRR@10 {:.3} below {min_mrr}",
        hybrid.mrr_at_10
    );
}

#[test]
fn hybrid_is_at_least_as_good_as_dense_paragraphs_small() {
    if let Some(results) = run(40, 60) {
        check(&results, 0.8);
    }
}

#[test]
#[ignore = "embeds ~15k texts: minutes on 2 cores (cached under target/ afterwards)"]
fn hybrid_is_at_least_as_good_as_dense_paragraphs_full() {
    if let Some(results) = run(400, 1500) {
        check(&results, 0.5);
    }
}

#[test]
fn metrics_from_ranks() {
    let m = Metrics::from_ranks(&[Some(1), Some(3), None, Some(12)]);
    assert_eq!(m.recall_at_1, 0.25);
    assert_eq!(m.recall_at_5, 0.5);
    assert_eq!(m.recall_at_10, 0.5);
    assert!((m.mrr_at_10 - (1.0 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
}
