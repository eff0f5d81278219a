//! End-to-end question latency: p50/p95 of embed, search and total over a question file.
//!
//! ```sh
//! cargo run --release --example latency -- --json --questions questions.txt [--index DIR] [--rounds 5]
//!     [--demote-questions true|false]
//! ```
//! One question a line. Without `--index` it runs on the example corpus. Each question is
//! asked `--rounds` times after one warm-up round; every ask counts as one sample.

use std::time::Duration;

use zoek::{AskOptions, Collection, Engine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut json = false;
    let mut questions_file = None;
    let mut index = None;
    let mut rounds = 5usize;
    let mut k = 5usize;
    let mut demote_questions = AskOptions::default().demote_questions;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--questions" => questions_file = args.next(),
            "--index" => index = args.next(),
            "--rounds" => rounds = args.next().ok_or("--rounds needs a value")?.parse()?,
            "-k" => k = args.next().ok_or("-k needs a value")?.parse()?,
            "--demote-questions" => {
                demote_questions = args
                    .next()
                    .ok_or("--demote-questions needs true or false")?
                    .parse()?
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let questions: Vec<String> = match questions_file {
        Some(f) => std::fs::read_to_string(&f)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        None => vec![
            "what hinders cooperation?".into(),
            "wat belemmert de samenwerking?".into(),
            "was behindert die Zusammenarbeit?".into(),
            "qu'est-ce qui freine la coopération ?".into(),
            "who took the initiative?".into(),
            "which forms of partnership exist?".into(),
        ],
    };
    if questions.is_empty() {
        return Err("no questions".into());
    }
    let engine = Engine::from_default_model()?;
    let collection = match &index {
        Some(dir) => Collection::open(dir)?,
        None => zoek::example::open_example(&engine, None)?,
    };
    let opts = AskOptions {
        k,
        demote_questions,
        ..AskOptions::default()
    };
    for q in &questions {
        collection.ask_with(&engine, q, &opts)?;
    }
    let (mut embed, mut search, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        for q in &questions {
            let a = collection.ask_with(&engine, q, &opts)?;
            embed.push(a.timings.embed);
            search.push(a.timings.search);
            total.push(a.timings.total);
        }
    }
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let pick = |p: f64| {
            let i = ((v.len() as f64 - 1.0) * p).round() as usize;
            v[i].as_secs_f64() * 1e3
        };
        serde_json::json!({ "p50": pick(0.5), "p95": pick(0.95) })
    };
    let out = serde_json::json!({
        "collection": collection.dir().display().to_string(),
        "passages": collection.len(),
        "hnsw": collection.uses_hnsw(),
        "questions": questions.len(),
        "samples": total.len(),
        "demote_questions": demote_questions,
        "embed_ms": stats(&mut embed),
        "search_ms": stats(&mut search),
        "total_ms": stats(&mut total),
    });
    if json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
