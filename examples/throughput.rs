//! Embedding and question throughput of the Rust API, as the Python package's peer in
//! `python/bench/throughput.py` (which runs this binary between its own rounds).
//!
//! ```sh
//! cargo run --release --example throughput -- --passages P.txt --questions Q.txt [--index DIR] [--threads N]
//! ```
//! One text a line in both files. Prints JSON: seconds to embed every passage in one call
//! (`Engine::embedder().embed_passages`), to embed every question one at a time, and, with
//! `--index`, to ask every question (`Collection::ask`, k = 3). The model load is not timed.

use std::time::Instant;

use zoek::{Collection, Engine};

fn lines(path: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut passages, mut questions, mut index, mut threads) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--passages" => passages = Some(lines(&value()?)?),
            "--questions" => questions = Some(lines(&value()?)?),
            "--index" => index = Some(value()?),
            "--threads" => threads = Some(value()?.parse::<usize>()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let passages = passages.ok_or("--passages is required")?;
    let questions = questions.ok_or("--questions is required")?;
    let embedder = zoek::embed::Embedder::from_dir_with(
        zoek::embed::default_model_dir(),
        zoek::embed::EmbedderOptions {
            threads,
            ..Default::default()
        },
    )?;
    let engine = Engine::new(embedder);

    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let started = Instant::now();
    let vectors = engine.embedder().embed_passages(&refs)?;
    let passages_s = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), passages.len());

    let started = Instant::now();
    for q in &questions {
        engine.embedder().embed_query(q)?;
    }
    let questions_s = started.elapsed().as_secs_f64();

    let ask_s = match index {
        Some(dir) => {
            let collection = Collection::open(dir)?;
            let started = Instant::now();
            for q in &questions {
                collection.ask(&engine, q, 3)?;
            }
            Some(started.elapsed().as_secs_f64())
        }
        None => None,
    };
    println!(
        "{}",
        serde_json::json!({
            "passages": passages.len(),
            "questions": questions.len(),
            "embed_passages_s": passages_s,
            "embed_questions_s": questions_s,
            "ask_s": ask_s,
        })
    );
    Ok(())
}
