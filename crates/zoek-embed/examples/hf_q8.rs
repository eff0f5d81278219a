//! A Hugging Face directory through candle's f32 path and through zoek's Q8_0 kernels
//! (`Quantize::Q8`), interleaved in one run: passage throughput, single-query latency and
//! the agreement of the two paths' vectors.
//!
//! ```text
//! cargo run --release -p zoek-embed --example hf_q8 -- --dir models/all-MiniLM-L6-v2 \
//!     --passages P.txt [--queries Q.txt] [--threads N] [--rounds 3]
//! ```
//!
//! One text a line. Each round embeds all passages in one `embed_passages` call on each
//! path (alternating which goes first), then every query alone on each; medians over rounds
//! and the query p50 are printed with their ratio. Model loads are timed separately.

use std::time::Instant;

use zoek_embed::{Embedder, EmbedderOptions, Quantize};

fn lines(path: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut dir, mut passages, mut queries, mut threads, mut rounds) = (None, None, None, None, 3);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = Some(value()?),
            "--passages" => passages = Some(lines(&value()?)?),
            "--queries" => queries = Some(lines(&value()?)?),
            "--threads" => threads = Some(value()?.parse::<usize>()?),
            "--rounds" => rounds = value()?.parse::<usize>()?.max(1),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = dir.ok_or("--dir is required")?;
    let passages = passages.ok_or("--passages is required")?;
    let queries = queries.unwrap_or_else(|| {
        [
            "what hinders cooperation?",
            "Wat belemmert de samenwerking?",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    });
    let load = |quantize| -> Result<(Embedder, f64), Box<dyn std::error::Error>> {
        let t = Instant::now();
        let e = Embedder::from_dir_with(
            &dir,
            EmbedderOptions {
                threads,
                quantize,
                ..Default::default()
            },
        )?;
        Ok((e, t.elapsed().as_secs_f64()))
    };
    let (f32_path, f32_load) = load(Quantize::None)?;
    let (q8_path, q8_load) = load(Quantize::Q8)?;
    let paths = [("f32", &f32_path), ("q8", &q8_path)];
    for (_, e) in paths {
        e.embed_query("warm up")?;
    }
    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let mut secs = [Vec::new(), Vec::new()];
    let mut p50 = [Vec::new(), Vec::new()];
    let mut vectors: [Vec<Vec<f32>>; 2] = [Vec::new(), Vec::new()];
    for r in 0..rounds {
        for k in 0..2 {
            let i = (k + r) % 2;
            let t = Instant::now();
            vectors[i] = paths[i].1.embed_passages(&refs)?;
            secs[i].push(t.elapsed().as_secs_f64());
            let mut lat = Vec::new();
            for q in &queries {
                let t = Instant::now();
                paths[i].1.embed_query(q)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            p50[i].push(median(lat));
        }
    }
    let cos: Vec<f32> = vectors[0]
        .iter()
        .zip(&vectors[1])
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum())
        .collect();
    let min_cos = cos.iter().copied().fold(1f32, f32::min);
    let mean_cos = cos.iter().sum::<f32>() / cos.len().max(1) as f32;
    let rate = |i: usize| passages.len() as f64 / median(secs[i].clone());
    let lat = |i: usize| median(p50[i].clone());
    println!(
        "{}",
        serde_json::json!({
            "dir": dir,
            "passages": passages.len(),
            "threads": f32_path.threads(),
            "rounds": rounds,
            "load_s": {"f32": f32_load, "q8": q8_load},
            "passages_per_s": {"f32": rate(0), "q8": rate(1), "q8_over_f32": rate(1) / rate(0)},
            "query_p50_ms": {"f32": lat(0), "q8": lat(1), "q8_over_f32": lat(1) / lat(0)},
            "cosine_q8_vs_f32": {"min": min_cos, "mean": mean_cos},
        })
    );
    Ok(())
}
