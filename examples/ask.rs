//! Ask a question over the example corpus shipped with zoek (built on first use, cached).
//!
//! ```sh
//! models/fetch && cargo run --release --example ask -- "what hinders cooperation?"
//! ```

use zoek::{AskOptions, Engine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let question = if question.trim().is_empty() {
        "what hinders cooperation?".to_string()
    } else {
        question
    };
    let engine = Engine::from_default_model()?;
    let collection = zoek::example::open_example(&engine, None)?;
    let answer = collection.ask_with(
        &engine,
        &question,
        &AskOptions {
            k: 3,
            ..AskOptions::default()
        },
    )?;
    println!("Q: {question}");
    for hit in &answer.hits {
        println!(
            "\n{}. [{:.3}] {} — {}",
            hit.rank,
            hit.score,
            hit.doc,
            hit.heading.as_deref().unwrap_or("")
        );
        if let Some(h) = &hit.highlight {
            println!("   » {h}");
        }
    }
    println!(
        "\n(embed {:.1} ms, search {:.1} ms, total {:.1} ms)",
        answer.timings.embed.as_secs_f64() * 1e3,
        answer.timings.search.as_secs_f64() * 1e3,
        answer.timings.total.as_secs_f64() * 1e3
    );
    Ok(())
}
