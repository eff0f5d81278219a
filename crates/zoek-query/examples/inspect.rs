//! Shows how each ranking mode answers questions over a corpus, with the raw dense and BM25
//! scores behind every hit: `cargo run --release -p zoek-query --example inspect -- [--corpus DIR]
//! QUESTION...` (default corpus: the repository's example corpus).

use std::path::PathBuf;

use zoek_query::{AskOptions, BuildOptions, Collection, Engine, RankMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    if let Some(i) = args.iter().position(|a| a == "--corpus") {
        corpus = PathBuf::from(args.get(i + 1).ok_or("--corpus needs a directory")?);
        args.drain(i..=i + 1);
    }
    if args.is_empty() {
        return Err("usage: inspect [--corpus DIR] QUESTION...".into());
    }
    let engine = Engine::from_default_model()?;
    let dir = tempfile::tempdir()?;
    let opts = BuildOptions {
        passage_vectors: true,
        ..BuildOptions::default()
    };
    let stats = engine.build(&[corpus], dir.path(), &opts)?;
    println!("{} passages, {} sentences", stats.passages, stats.sentences);
    let collection = Collection::open(dir.path())?;
    for question in &args {
        for mode in [
            RankMode::Hybrid,
            RankMode::Rrf,
            RankMode::SentenceToParent,
            RankMode::DenseParagraph,
        ] {
            let opts = AskOptions {
                k: 5,
                mode,
                ..AskOptions::default()
            };
            let answer = collection.ask_with(&engine, question, &opts)?;
            println!(
                "\n{question:?} {mode:?} coverage {:?}",
                answer.bm25_coverage
            );
            for h in &answer.hits {
                let text: String = h.text.chars().take(70).collect();
                println!(
                    "  {} {:.3} dense {:.3} bm25 {:>6.2} | {} | {}",
                    h.rank,
                    h.score,
                    h.dense_score.unwrap_or(f32::NAN),
                    h.bm25_score.unwrap_or(0.0),
                    text,
                    h.highlight
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(90)
                        .collect::<String>()
                );
            }
        }
    }
    Ok(())
}
