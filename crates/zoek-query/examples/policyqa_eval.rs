//! PolicyQA-nl retrieval table: recall@1/@5/@10 and MRR@10 for dense paragraph vectors,
//! sentence→parent, the hybrid default and RRF.
//!
//! `cargo run --release -p zoek-query --example policyqa_eval -- [QUESTIONS] [DISTRACTORS]`
//! (defaults 400 and 1500). Needs `../shared/data` and the model; embeddings are cached
//! under `target/zoek-eval-cache`, so a second run only embeds the questions it has not seen.

#[path = "../tests/common/policyqa.rs"]
mod policyqa;

use std::sync::Arc;
use std::time::Instant;

use zoek_query::{Collection, Engine, TextEmbedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n_questions = args.first().copied().unwrap_or(400);
    let n_distractors = args.get(1).copied().unwrap_or(1500);
    let set = policyqa::load(n_questions, n_distractors)?;
    let model: Arc<dyn TextEmbedder> = Arc::new(zoek_embed::Embedder::from_dir(
        zoek_embed::default_model_dir(),
    )?);
    let cached = Arc::new(policyqa::CachingEmbedder::open(
        model,
        &policyqa::cache_dir(),
    )?);
    let engine = Engine::from_shared(cached.clone());
    let work = tempfile::tempdir()?;
    let out = work.path().join("collection");
    let started = Instant::now();
    let stats = policyqa::build(&engine, &set, work.path(), &out)?;
    eprintln!(
        "built {} documents, {} passages, {} sentences in {:.1}s (embedding {:.1}s; cache hits/misses {:?})",
        stats.documents,
        stats.passages,
        stats.sentences,
        started.elapsed().as_secs_f64(),
        stats.embed_time.as_secs_f64(),
        cached.hits.lock().unwrap()
    );
    let collection = Collection::open(&out)?;
    let contexts = set
        .documents
        .iter()
        .filter(|(id, _)| id.starts_with("policyqa-"))
        .count();
    println!(
        "PolicyQA-nl: {} questions, {} contexts + {} nl-laws distractors ({} passages, {} sentences)",
        set.questions.len(),
        contexts,
        set.documents.len() - contexts,
        stats.passages,
        stats.sentences
    );
    println!();
    println!("| ranking | recall@1 | recall@5 | recall@10 | MRR@10 |");
    println!("|---|---|---|---|---|");
    for (_, name, opts) in policyqa::variants() {
        let m = policyqa::evaluate(&engine, &collection, &set, &opts)?;
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} |",
            m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr_at_10
        );
    }

    // The same collection with the HNSW graph (zoek-index) instead of the exact scan.
    let hnsw_out = work.path().join("collection-hnsw");
    policyqa::build_with(&engine, &set, work.path(), &hnsw_out, 0)?;
    let hnsw = Collection::open(&hnsw_out)?;
    let default = zoek_query::AskOptions::default();
    let m = policyqa::evaluate(&engine, &hnsw, &set, &default)?;
    println!(
        "| hybrid default, HNSW | {:.4} | {:.4} | {:.4} | {:.4} |",
        m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr_at_10
    );
    println!();
    println!("search-side latency per question (embedded question in, 5 hits out), ms:");
    println!("| ranking | exact p50 | exact p95 | HNSW p50 | HNSW p95 |");
    println!("|---|---|---|---|---|");
    for (_, name, opts) in policyqa::variants() {
        let opts = zoek_query::AskOptions { k: 5, ..opts };
        let (e50, e95) = policyqa::search_latency(&engine, &collection, &set, &opts)?;
        let (h50, h95) = policyqa::search_latency(&engine, &hnsw, &set, &opts)?;
        println!("| {name} | {e50:.3} | {e95:.3} | {h50:.3} | {h95:.3} |");
    }
    cached.flush();
    Ok(())
}
