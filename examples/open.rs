//! What opening a collection costs: `Collection::open` (sizes, headers, and tantivy's
//! footer checksums), `stats` and `verify`, timed over several rounds on a collection
//! directory, warm page cache.
//!
//! ```sh
//! cargo run --release --example open -- DIR [--rounds 20] [--build N]
//! ```
//!
//! With `--build N`, DIR is first built from the first N nl-laws paragraphs
//! (`../shared/data/nl-laws/nl_laws_paragraphs.jsonl`) with the hashing embedder, so no
//! model is needed, and without an HNSW graph; the text and BM25 files are what a real build
//! writes.

use std::path::PathBuf;
use std::time::Instant;

use zoek::query::{BuildOptions, HashEmbedder, TokenCounting};
use zoek::{Collection, Engine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut rounds = 20usize;
    let mut build = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().ok_or("--rounds N")?.parse()?,
            "--build" => build = Some(args.next().ok_or("--build N")?.parse::<usize>()?),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.ok_or("usage: open DIR [--rounds 20] [--build N]")?;
    if let Some(n) = build {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/nl-laws/nl_laws_paragraphs.jsonl");
        let text = std::fs::read_to_string(&source)
            .map_err(|e| format!("{}: {e} (see ../shared/README.md)", source.display()))?;
        let work = tempfile::tempdir()?;
        let input = work.path().join("laws.jsonl");
        let lines: Vec<&str> = text.lines().take(n).collect();
        std::fs::write(&input, lines.join("\n") + "\n")?;
        let opts = BuildOptions {
            token_counting: TokenCounting::CharEstimate,
            // No graph: opening one maps it and reads its header, whatever its size, and
            // building it would dominate the run.
            hnsw_threshold: usize::MAX,
            ..BuildOptions::default()
        };
        let t = Instant::now();
        Engine::new(HashEmbedder::default()).build(&[&input], &dir, &opts)?;
        println!("built {n} records in {:.1} s", t.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut open, mut stats, mut verify) = (Vec::new(), Vec::new(), Vec::new());
    let mut passages = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let c = Collection::open(&dir)?;
        open.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        passages = c.stats()?.live_passages;
        stats.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        c.verify()?;
        verify.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{passages} passages, {rounds} rounds, medians: open {:.2} ms, stats {:.2} ms, verify {:.1} ms",
        median(open),
        median(stats),
        median(verify)
    );
    Ok(())
}
