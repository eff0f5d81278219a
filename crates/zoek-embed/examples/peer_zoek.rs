//! zoek's side of the peer harness (`benches/peers/run`): one round of passage throughput
//! and single-query latency on given texts and threads, as JSON.
//!
//! ```text
//! cargo run --release -p zoek-embed --example peer_zoek -- --passages P.txt --queries Q.txt \
//!     [--threads N] [--vectors OUT.f32]
//! ```
//!
//! One text a line. Passages are embedded in one `embed_passages` call (the embedder packs
//! them by length itself); every query is embedded alone, and its latency kept. `--vectors`
//! writes the passage vectors as little-endian f32, one row each, for the harness's fidelity
//! check against the peers. The model load is not timed.

use std::time::Instant;

use zoek_embed::{Embedder, EmbedderOptions, default_model_dir};

fn lines(path: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut passages, mut queries, mut threads, mut vectors_out) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--passages" => passages = Some(lines(&value()?)?),
            "--queries" => queries = Some(lines(&value()?)?),
            "--threads" => threads = Some(value()?.parse::<usize>()?),
            "--vectors" => vectors_out = Some(value()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let passages = passages.ok_or("--passages is required")?;
    let queries = queries.ok_or("--queries is required")?;
    let embedder = Embedder::from_dir_with(
        default_model_dir(),
        EmbedderOptions {
            threads,
            ..Default::default()
        },
    )?;
    // One warm-up query: the pool's threads and the first page faults are not the peer's
    // cost either.
    embedder.embed_query("warm up")?;

    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let started = Instant::now();
    let vectors = embedder.embed_passages(&refs)?;
    let passages_s = started.elapsed().as_secs_f64();

    let mut latencies = Vec::with_capacity(queries.len());
    for q in &queries {
        let started = Instant::now();
        embedder.embed_query(q)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies.get(latencies.len() / 2).copied();

    if let Some(path) = vectors_out {
        let bytes: Vec<u8> = vectors
            .iter()
            .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect();
        std::fs::write(path, bytes)?;
    }
    println!(
        "{}",
        serde_json::json!({
            "passages": passages.len(),
            "passages_s": passages_s,
            "queries": queries.len(),
            "query_p50_ms": p50,
            "dim": embedder.dim(),
        })
    );
    Ok(())
}
